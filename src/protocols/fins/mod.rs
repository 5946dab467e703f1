//! Omron FINS above its codec ([`crate::wire::fins`]): the requests otscout may send
//! ([`safe`]), the probe session ([`session`]), the identity a Controller Data Read
//! answer gives ([`identity`]) and what the passive side reads from captured traffic
//! ([`passive`]).
//!
//! Not yet in the [registry](super::registry): that needs the `inventory::Protocol` and
//! `Identity` variants and `SafeRequest`'s nested variant, which land with the registry
//! work (issue 13). Until then every piece here is plain functions and types with their
//! own tests.

pub mod identity;
pub mod passive;
pub mod safe;
pub mod session;

/// The FINS port, UDP and TCP (W342 and W421: 9600 by default).
pub const PORT: u16 = 9600;

use super::analyzer::Analyzer as EngineAnalyzer;
use super::registry::WellKnownPort;
use crate::inventory::{Identity, Protocol, Transport};
use crate::wire::DecodeError;

/// Omron FINS in the [registry](super::registry): passive side so far; the active side
/// (settings, session behind the session contract, plan) keeps the defaults, "not
/// probed", until its profile section lands.
#[derive(Debug, Clone, Copy)]
pub struct Fins;

impl super::ProtocolSpec for Fins {
    fn protocol(&self) -> Protocol {
        Protocol::Fins
    }

    fn name(&self) -> &'static str {
        "fins"
    }

    // ---- active side (scan) ----

    // ---- passive side (import) ----

    fn well_known_ports(&self) -> &'static [WellKnownPort] {
        &[
            WellKnownPort {
                transport: Transport::Tcp,
                port: PORT,
                protocol: Protocol::Fins,
                decoded: true,
            },
            WellKnownPort {
                transport: Transport::Udp,
                port: PORT,
                protocol: Protocol::Fins,
                decoded: true,
            },
        ]
    }

    fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
        crate::wire::fins::frame_len(buf)
    }

    /// No payload detection off port 9600 yet.
    fn detect(&self, _payload: &[u8]) -> Option<u64> {
        None
    }

    fn detect_reason(&self) -> &'static str {
        "a fins/tcp request and its answer"
    }

    fn analyzer(&self) -> Box<dyn EngineAnalyzer> {
        Box::<passive::EngineAnalyzer>::default()
    }

    fn describe(&self, identity: &Identity) -> Option<String> {
        match identity {
            Identity::Fins(f) => Some(format!(
                "omron {} version {}",
                f.model,
                f.version.as_deref().unwrap_or("?")
            )),
            _ => None,
        }
    }
}
