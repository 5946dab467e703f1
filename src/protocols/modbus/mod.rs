//! Modbus/TCP above its codec ([`crate::wire::modbus`]).

pub mod conformance;
pub mod detect;
pub mod identity;
pub mod plan;
pub mod safe;
pub mod session;
pub mod settings;

use crate::profile::Profile;
use crate::protocols::plan::ProbePlan;
use crate::protocols::session::Session;
use crate::protocols::settings::Kind;

pub use safe::Safe;
pub mod ops;
pub mod passive;
pub mod zeek;

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

    fn conformance_specs(&self) -> &'static [crate::protocols::conformance::Spec] {
        conformance::SPECS
    }

    // ---- active side (scan) ----

    fn settings_schema(&self) -> &'static [(&'static str, Kind)] {
        settings::SCHEMA
    }

    fn enabled(&self, profile: &Profile) -> bool {
        profile.modbus.enabled
    }

    fn endpoint(&self, profile: &Profile) -> Option<(u16, Transport)> {
        Some((profile.modbus.port, Transport::Tcp))
    }

    fn session(&self, profile: &Profile, port: u16) -> Option<Box<dyn Session>> {
        let mut cfg = session::ModbusSessionConfig::from_profile(profile);
        cfg.port = port;
        Some(Box::new(session::ModbusSession::new(cfg)))
    }

    /// One read code per unit id tried, at most.
    fn planned_requests(&self, profile: &Profile) -> u64 {
        profile.modbus.read_codes.len() as u64
    }

    fn plan(&self, profile: &Profile) -> Option<ProbePlan> {
        Some(plan::probe_plan(profile))
    }

    fn passive_guided(&self) -> bool {
        true
    }

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

    fn zeek_services(&self) -> &'static [super::ZeekService] {
        use super::ZeekService;
        &[ZeekService {
            name: "modbus",
            protocol: Protocol::Modbus,
            rank: 0,
        }]
    }

    fn zeek_row(
        &self,
        row: &mut crate::facts::zeek::Row<'_>,
        sink: &mut dyn crate::facts::FactSink,
    ) {
        zeek::row(row, sink);
    }
}
