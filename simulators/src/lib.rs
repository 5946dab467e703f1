//! otscout-sim: a simulated industrial plant on loopback, with a request ledger and
//! fault injection.
//!
//! Each device binds its own loopback address (any 127.x.y.z) and serves Modbus/TCP,
//! EtherNet/IP (TCP and UDP) and/or S7comm. The device models are a server-side
//! implementation written from the specs, independent of otscout's `wire/` codecs, so a
//! codec bug has to be made twice, symmetrically, to hide.
//!
//! Every connection, request, reply and trip lands in the [`Ledger`], with monotonic
//! timestamps precise enough to check pacing ("never two connections at once to one
//! device", "never more than R requests in any one-second window").
//!
//! # Using it from tests
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use otscout_sim::{Plant, PortOverride, StartOptions};
//! let plant = Plant::from_toml_str(r#"
//!     [[device]]
//!     name = "plc1"
//!     address = "127.42.0.1"
//!     [device.modbus]
//!     port = 0                      # any free port
//!     identity = { vendor_name = "Acme", product_code = "X1", revision = "1.0" }
//! "#)?;
//! let running = otscout_sim::start(plant, StartOptions::default()).await?;
//! let addr = running.devices()[0].modbus.expect("modbus is served");
//! // ... talk to `addr` ...
//! let events = running.ledger();           // snapshot of every LedgerEvent so far
//! running.shutdown().await;                // every task and socket is gone after this
//! # let _ = (addr, events, PortOverride::Ephemeral); Ok(()) }
//! ```
//!
//! Checking pacing from a snapshot: [`ledger::max_concurrent_connections`] and
//! [`ledger::max_requests_in_window`]. Recording traffic: [`RunningPlant::write_pcapng`]
//! writes everything served so far; for a live capture feed [`StartOptions::ledger_sink`]
//! events into a [`pcapng::Writer`] (the binary's `--pcap` does this).
//!
//! [`StartOptions::ports`] maps the plant's ports: as configured (standard 502/44818/102
//! need root or `CAP_NET_BIND_SERVICE`), all ephemeral, or a base port for non-root use.
//!
//! # OT safety
//! The simulator only ever binds loopback addresses: [`Plant::validate`] rejects anything
//! else, so a plant file can never make it answer on a real network.

pub mod bacnet;
pub mod dcp;
pub mod enip;
pub mod fdlimit;
pub mod fins;
pub mod fox;
pub mod generate;
pub mod hmi;
pub mod ledger;
pub mod modbus;
pub mod opcua;
pub mod pcapng;
pub mod plant;
pub mod s7;
mod server;
#[cfg(test)]
mod tests;

pub use ledger::{EventKind, Ledger, LedgerEvent, Protocol};
pub use plant::{DeviceConfig, Plant, PlantError};
pub use server::{RunningDevice, RunningPlant, StartError, start};

/// How the plant's configured ports are mapped when binding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PortOverride {
    /// Bind the ports in the plant file (port 0 there means ephemeral).
    #[default]
    AsConfigured,
    /// Every listener gets an ephemeral port; read them back from
    /// [`RunningPlant::devices`].
    Ephemeral,
    /// Port = base + (configured port % 1000): 502 -> base+502, 44818 -> base+818,
    /// 102 -> base+102. For running the demo plant as a non-root user.
    Base(u16),
}

/// Options for [`start`].
#[derive(Debug, Default)]
pub struct StartOptions {
    pub ports: PortOverride,
    /// Every ledger event is also sent here as it happens (the binary writes JSON lines
    /// from it, so nothing is lost if the process is killed).
    pub ledger_sink: Option<std::sync::mpsc::Sender<LedgerEvent>>,
}

/// What a protocol model says about a request before answering it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Classified {
    /// Function name for the ledger.
    pub function: String,
    /// Inside the read-only identity set.
    pub identity: bool,
}

/// What a protocol model wants sent back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub replies: Vec<Vec<u8>>,
    /// Close the connection after sending.
    pub close: bool,
}

impl Answer {
    pub(crate) fn one(b: Vec<u8>) -> Answer {
        Answer {
            replies: vec![b],
            close: false,
        }
    }
    pub(crate) fn none() -> Answer {
        Answer {
            replies: Vec::new(),
            close: false,
        }
    }
    /// Send `b` (if not empty), then close.
    pub(crate) fn close(b: Vec<u8>) -> Answer {
        Answer {
            replies: if b.is_empty() { Vec::new() } else { vec![b] },
            close: true,
        }
    }
}
