//! S7comm (TPKT, COTP, SZL) above its codec ([`crate::wire::s7`]).

pub mod identity;
pub mod passive;
pub mod safe;
pub mod session;
pub mod settings;

use crate::inventory::Protocol;
use crate::profile::Profile;
use crate::protocols::settings::Kind;

pub use safe::Safe;

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

    fn settings_schema(&self) -> &'static [(&'static str, Kind)] {
        settings::SCHEMA
    }

    fn enabled(&self, profile: &Profile) -> bool {
        profile.s7.enabled
    }

    // ---- passive side (import) ----
}
