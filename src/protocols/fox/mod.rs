//! Tridium Niagara Fox above its codec ([`crate::wire::fox`]): the one message otscout
//! may send ([`safe`]), the probe session ([`session`]), the station's hello as an
//! identity ([`identity`]) and the passive reading of captured hellos ([`passive`]).
//!
//! Not yet in the [registry](super::registry) (phase 2 of issue 17, with the registry
//! work of issue 13).

pub mod identity;
pub mod passive;
pub mod safe;
pub mod session;

/// Fox over plain TCP.
pub const PORT: u16 = 1911;
/// Fox over TLS: recorded as a service when it accepts a connection, never opened
/// further (otscout does not do TLS handshakes with field devices).
pub const TLS_PORT: u16 = 4911;

use super::analyzer::Analyzer as EngineAnalyzer;
use super::registry::WellKnownPort;
use crate::inventory::{Identity, Protocol, Transport};
use crate::wire::DecodeError;

/// Niagara Fox in the [registry](super::registry): passive side so far; the active side
/// keeps the defaults, "not probed", until its profile section lands.
#[derive(Debug, Clone, Copy)]
pub struct Fox;

impl super::ProtocolSpec for Fox {
    fn protocol(&self) -> Protocol {
        Protocol::Fox
    }

    fn name(&self) -> &'static str {
        "fox"
    }

    // ---- active side (scan) ----

    // ---- passive side (import) ----

    fn well_known_ports(&self) -> &'static [WellKnownPort] {
        &[
            WellKnownPort {
                transport: Transport::Tcp,
                port: PORT,
                protocol: Protocol::Fox,
                decoded: true,
            },
            // TLS: who talks to whom only.
            WellKnownPort {
                transport: Transport::Tcp,
                port: TLS_PORT,
                protocol: Protocol::Fox,
                decoded: false,
            },
        ]
    }

    fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
        crate::wire::fox::frame_len(buf)
    }

    /// No payload detection off port 1911 yet.
    fn detect(&self, _payload: &[u8]) -> Option<u64> {
        None
    }

    fn detect_reason(&self) -> &'static str {
        "a fox hello and the station's answer"
    }

    fn analyzer(&self) -> Box<dyn EngineAnalyzer> {
        Box::<passive::EngineAnalyzer>::default()
    }

    fn describe(&self, identity: &Identity) -> Option<String> {
        match identity {
            Identity::Fox(f) => Some(format!(
                "niagara station {} ({} {})",
                f.station_name.as_deref().unwrap_or("(unnamed)"),
                f.app_name.as_deref().unwrap_or("?"),
                f.app_version.as_deref().unwrap_or("?")
            )),
            _ => None,
        }
    }
}
