//! S7comm (TPKT, COTP, SZL) above its codec ([`crate::wire::s7`]).

pub mod detect;
pub mod identity;
pub mod ops;
pub mod passive;

use super::analyzer::Analyzer;
use super::registry::WellKnownPort;
use crate::inventory::{Identity, Protocol, Transport};
use crate::wire::DecodeError;

/// S7comm in the [registry](super::registry).
#[derive(Debug, Clone, Copy)]
pub struct S7;

impl super::ProtocolSpec for S7 {
    fn protocol(&self) -> Protocol {
        Protocol::S7
    }

    fn name(&self) -> &'static str {
        "s7"
    }

    // ---- active side (scan) ----

    // ---- passive side (import) ----

    fn well_known_ports(&self) -> &'static [WellKnownPort] {
        // ISO-on-TCP (RFC 1006): TCP 102, shared by S7comm and S7comm-plus (told apart
        // by the protocol id after COTP, 0x32 or 0x72).
        &[WellKnownPort {
            transport: Transport::Tcp,
            port: 102,
            protocol: Protocol::S7,
            decoded: true,
        }]
    }

    fn related(&self) -> &'static [Protocol] {
        &[Protocol::S7Plus]
    }

    fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
        crate::wire::s7::frame_len(buf)
    }

    fn detect(&self, payload: &[u8]) -> Option<u64> {
        detect::frames(payload)
    }

    fn detect_reason(&self) -> &'static str {
        "a request and its reply parsed as TPKT/COTP with S7comm"
    }

    fn analyzer(&self) -> Box<dyn Analyzer> {
        Box::<passive::S7Analyzer>::default()
    }

    fn scan_hint(&self, identity: &Identity) -> Option<(&'static str, String)> {
        match identity {
            Identity::S7(s) => s.tsap.map(|t| (passive::ATTR_S7_TSAP, format!("{t:#06x}"))),
            _ => None,
        }
    }

    fn describe(&self, identity: &Identity) -> Option<String> {
        match identity {
            Identity::S7(s) => Some(identity::describe(s)),
            _ => None,
        }
    }

    fn zeek_logs(&self) -> &'static [&'static str] {
        &["s7comm_known_devices", "s7comm", "cotp", "s7comm_plus"]
    }
}
