//! Tridium Niagara Fox above its codec ([`crate::wire::fox`]): the one message otscout
//! may send ([`safe`]), the probe session ([`session`]), the station's hello as an
//! identity ([`identity`]) and the passive reading of captured hellos ([`passive`]).
//! Its profile section is [`settings`] and its dry-run plan [`plan`].

pub mod conformance;
pub mod identity;
pub mod passive;
pub mod plan;
pub mod safe;
pub mod session;
pub mod settings;

/// Fox over plain TCP.
pub const PORT: u16 = 1911;
/// Fox over TLS: recorded as a service when it accepts a connection, never opened
/// further (otscout does not do TLS handshakes with field devices).
pub const TLS_PORT: u16 = 4911;

use super::analyzer::Analyzer as EngineAnalyzer;
use super::registry::WellKnownPort;
use crate::inventory::{Identity, Protocol, Transport};
use crate::profile::Profile;
use crate::protocols::plan::ProbePlan;
use crate::protocols::session::Session;
use crate::protocols::settings::Kind;
use crate::wire::DecodeError;

/// Niagara Fox in the [registry](super::registry): active (the minimal hello on TCP 1911,
/// off by default; TLS Fox is never opened) and passive.
#[derive(Debug, Clone, Copy)]
pub struct Fox;

impl super::ProtocolSpec for Fox {
    fn protocol(&self) -> Protocol {
        Protocol::Fox
    }

    fn name(&self) -> &'static str {
        "fox"
    }

    fn conformance_specs(&self) -> &'static [crate::protocols::conformance::Spec] {
        conformance::SPECS
    }

    // ---- active side (scan) ----

    fn settings_schema(&self) -> &'static [(&'static str, Kind)] {
        settings::SCHEMA
    }

    fn enabled(&self, profile: &Profile) -> bool {
        profile.fox.enabled
    }

    /// Plain Fox only: the registry gives a protocol one endpoint, and TLS Fox (4911) is
    /// never opened (SAFETY.md, "Niagara Fox"); passive import notes 4911 as a service.
    fn endpoint(&self, profile: &Profile) -> Option<(u16, Transport)> {
        Some((profile.fox.port, Transport::Tcp))
    }

    fn session(&self, profile: &Profile, port: u16) -> Option<Box<dyn Session>> {
        Some(Box::new(session::FoxSession::new(
            session::FoxSessionConfig::from_profile(profile, port),
        )))
    }

    /// The minimal hello.
    fn planned_requests(&self, _profile: &Profile) -> u64 {
        1
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
                protocol: Protocol::Fox,
                decoded: true,
            },
            // TLS: who talks to whom only.
            WellKnownPort {
                transport: Transport::Tcp,
                port: TLS_PORT,
                protocol: Protocol::Fox,
                decoded: false,
            },
        ]
    }

    fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
        crate::wire::fox::frame_len(buf)
    }

    /// No payload detection off port 1911 yet.
    fn detect(&self, _payload: &[u8]) -> Option<u64> {
        None
    }

    fn detect_reason(&self) -> &'static str {
        "a fox hello and the station's answer"
    }

    fn analyzer(&self) -> Box<dyn EngineAnalyzer> {
        Box::<passive::EngineAnalyzer>::default()
    }

    fn describe(&self, identity: &Identity) -> Option<String> {
        match identity {
            Identity::Fox(f) => Some(format!(
                "niagara station {} ({} {})",
                f.station_name.as_deref().unwrap_or("(unnamed)"),
                f.app_name.as_deref().unwrap_or("?"),
                f.app_version.as_deref().unwrap_or("?")
            )),
            _ => None,
        }
    }
}
