//! EtherNet/IP and CIP above their codec ([`crate::wire::enip`]).

pub mod identity;
pub mod passive;
pub mod safe;
pub mod session;
pub mod settings;

use crate::inventory::Protocol;
use crate::profile::Profile;
use crate::protocols::settings::Kind;

pub use safe::Safe;

/// EtherNet/IP and CIP in the [registry](super::registry).
#[derive(Debug, Clone, Copy)]
pub struct Enip;

impl super::ProtocolSpec for Enip {
    fn protocol(&self) -> Protocol {
        Protocol::Enip
    }

    fn name(&self) -> &'static str {
        "enip"
    }

    // ---- active side (scan) ----

    fn settings_schema(&self) -> &'static [(&'static str, Kind)] {
        settings::SCHEMA
    }

    fn enabled(&self, profile: &Profile) -> bool {
        profile.enip.enabled
    }

    // ---- passive side (import) ----
}
