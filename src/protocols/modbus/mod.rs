//! Modbus/TCP above its codec ([`crate::wire::modbus`]).

pub mod identity;
pub mod plan;
pub mod safe;
pub mod session;
pub mod settings;

use crate::inventory::{Protocol, Transport};
use crate::profile::Profile;
use crate::protocols::plan::ProbePlan;
use crate::protocols::session::Session;
use crate::protocols::settings::Kind;

pub use safe::Safe;

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
}
