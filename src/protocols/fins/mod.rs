//! Omron FINS above its codec ([`crate::wire::fins`]): the requests otscout may send
//! ([`safe`]), the probe session ([`session`]), the identity a Controller Data Read
//! answer gives ([`identity`]) and what the passive side reads from captured traffic
//! ([`passive`]).
//! Its profile section is [`settings`] and its dry-run plan [`plan`].

pub mod conformance;
pub mod identity;
pub mod passive;
pub mod plan;
pub mod safe;
pub mod session;
pub mod settings;

/// The FINS port, UDP and TCP (W342 and W421: 9600 by default).
pub const PORT: u16 = 9600;

use super::analyzer::Analyzer as EngineAnalyzer;
use super::registry::WellKnownPort;
use crate::inventory::{Identity, Protocol, Transport};
use crate::profile::Profile;
use crate::protocols::plan::ProbePlan;
use crate::protocols::session::Session;
use crate::protocols::settings::Kind;
use crate::wire::DecodeError;

/// Omron FINS in the [registry](super::registry): active (one Controller Data Read over
/// UDP or FINS/TCP, off by default) and passive.
#[derive(Debug, Clone, Copy)]
pub struct Fins;

impl super::ProtocolSpec for Fins {
    fn protocol(&self) -> Protocol {
        Protocol::Fins
    }

    fn name(&self) -> &'static str {
        "fins"
    }

    fn conformance_specs(&self) -> &'static [crate::protocols::conformance::Spec] {
        conformance::SPECS
    }

    // ---- active side (scan) ----

    fn settings_schema(&self) -> &'static [(&'static str, Kind)] {
        settings::SCHEMA
    }

    fn enabled(&self, profile: &Profile) -> bool {
        profile.fins.enabled
    }

    fn endpoint(&self, profile: &Profile) -> Option<(u16, Transport)> {
        let t = match profile.fins.transport {
            settings::FinsTransport::Udp => Transport::Udp,
            settings::FinsTransport::Tcp => Transport::Tcp,
        };
        Some((profile.fins.port, t))
    }

    fn session(&self, profile: &Profile, port: u16) -> Option<Box<dyn Session>> {
        Some(Box::new(session::FinsSession::new(
            session::FinsSessionConfig::from_profile(profile, port),
        )))
    }

    /// One Controller Data Read (over TCP: and the node-address request before it).
    fn planned_requests(&self, profile: &Profile) -> u64 {
        match profile.fins.transport {
            settings::FinsTransport::Udp => 1,
            settings::FinsTransport::Tcp => 2,
        }
    }

    fn plan(&self, profile: &Profile) -> Option<ProbePlan> {
        Some(plan::probe_plan(profile))
    }

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

    /// A UDP answer pairs with its request (same SID and command) across datagrams.
    fn udp_pairs_state(&self) -> bool {
        true
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
