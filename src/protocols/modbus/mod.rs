//! Modbus/TCP above its codec ([`crate::wire::modbus`]).

pub mod detect;
pub mod identity;
pub mod ops;
pub mod passive;

use super::analyzer::Analyzer;
use super::registry::WellKnownPort;
use crate::inventory::{Identity, Protocol, Transport};
use crate::wire::DecodeError;

/// Modbus/TCP in the [registry](super::registry).
#[derive(Debug, Clone, Copy)]
pub struct Modbus;

impl super::ProtocolSpec for Modbus {
    fn protocol(&self) -> Protocol {
        Protocol::Modbus
    }

    fn name(&self) -> &'static str {
        "modbus"
    }

    // ---- active side (scan) ----

    // ---- passive side (import) ----

    fn well_known_ports(&self) -> &'static [WellKnownPort] {
        // Modbus Application Protocol over TCP/IP v1.0b, 4.1: port 502.
        &[WellKnownPort {
            transport: Transport::Tcp,
            port: 502,
            protocol: Protocol::Modbus,
            decoded: true,
        }]
    }

    fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
        crate::wire::modbus::frame_len(buf)
    }

    fn detect(&self, payload: &[u8]) -> Option<u64> {
        detect::frames(payload)
    }

    fn detect_reason(&self) -> &'static str {
        "a request and its reply parsed as Modbus/TCP MBAP frames"
    }

    fn analyzer(&self) -> Box<dyn Analyzer> {
        Box::<passive::ModbusAnalyzer>::default()
    }

    fn scan_hint(&self, identity: &Identity) -> Option<(&'static str, String)> {
        match identity {
            Identity::Modbus(m) => Some((passive::ATTR_MODBUS_UNIT, m.unit_id.to_string())),
            _ => None,
        }
    }

    fn describe(&self, identity: &Identity) -> Option<String> {
        match identity {
            Identity::Modbus(m) => Some(identity::describe(m)),
            _ => None,
        }
    }

    fn zeek_logs(&self) -> &'static [&'static str] {
        &["modbus_read_device_identification", "modbus_detailed"]
    }
}
