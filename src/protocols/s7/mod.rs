//! S7comm (TPKT, COTP, SZL) above its codec ([`crate::wire::s7`]).

pub mod identity;
pub mod passive;
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

    fn endpoint(&self, profile: &Profile) -> Option<(u16, Transport)> {
        Some((profile.s7.port, Transport::Tcp))
    }

    fn session(&self, profile: &Profile, port: u16) -> Option<Box<dyn Session>> {
        let mut cfg = session::S7SessionConfig::from_profile(profile);
        cfg.port = port;
        Some(Box::new(session::S7Session::new(cfg)))
    }

    /// COTP connect, Setup Communication, the SZL reads and the COTP disconnect, on the
    /// first TSAP.
    fn planned_requests(&self, profile: &Profile) -> u64 {
        3 + profile.s7.szl_ids.len() as u64
    }

    fn plan(&self, profile: &Profile) -> Option<ProbePlan> {
        Some(plan::probe_plan(profile))
    }

    fn passive_guided(&self) -> bool {
        true
    }

    // ---- passive side (import) ----
}
