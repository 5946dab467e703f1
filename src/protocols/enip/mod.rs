//! EtherNet/IP and CIP above their codec ([`crate::wire::enip`]).

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

    fn endpoint(&self, profile: &Profile) -> Option<(u16, Transport)> {
        let transport = match profile.enip.transport {
            settings::EnipTransport::Tcp => Transport::Tcp,
            settings::EnipTransport::Udp => Transport::Udp,
        };
        Some((profile.enip.port, transport))
    }

    fn session(&self, profile: &Profile, port: u16) -> Option<Box<dyn Session>> {
        let mut cfg = session::EnipSessionConfig::from_profile(profile);
        cfg.port = port;
        Some(Box::new(session::EnipSession::new(cfg)))
    }

    /// List Identity, and List Services when asked for.
    fn planned_requests(&self, profile: &Profile) -> u64 {
        1 + u64::from(profile.enip.list_services)
    }

    fn plan(&self, profile: &Profile) -> Option<ProbePlan> {
        Some(plan::probe_plan(profile))
    }

    // ---- passive side (import) ----
}
