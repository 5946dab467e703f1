//! Modbus/TCP above its codec ([`crate::wire::modbus`]).

pub mod identity;
pub mod safe;
pub mod session;
pub mod settings;

use crate::inventory::Protocol;
use crate::profile::Profile;
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

    // ---- passive side (import) ----
}
