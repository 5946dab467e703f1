//! S7comm (TPKT, COTP, SZL) above its codec ([`crate::wire::s7`]).

pub mod conformance;
pub mod detect;
pub mod identity;
pub mod ops;
pub mod passive;
pub mod plan;
pub mod safe;
pub mod session;
pub mod settings;
pub mod zeek;

use crate::profile::Profile;
use crate::protocols::plan::ProbePlan;
use crate::protocols::session::Session;
use crate::protocols::settings::Kind;

use super::analyzer::Analyzer;
use super::registry::WellKnownPort;
use crate::inventory::{Identity, Protocol, Transport};
use crate::wire::DecodeError;
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

    fn conformance_specs(&self) -> &'static [crate::protocols::conformance::Spec] {
        conformance::SPECS
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

    fn well_known_ports(&self) -> &'static [WellKnownPort] {
        // ISO-on-TCP (RFC 1006): TCP 102, shared by S7comm and S7comm-plus (told apart
        // by the protocol id after COTP, 0x32 or 0x72).
        &[WellKnownPort {
            transport: Transport::Tcp,
            port: 102,
            protocol: Protocol::S7,
            decoded: true,
        }]
    }

    fn related(&self) -> &'static [Protocol] {
        &[Protocol::S7Plus]
    }

    fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
        crate::wire::s7::frame_len(buf)
    }

    fn detect(&self, payload: &[u8]) -> Option<u64> {
        detect::frames(payload)
    }

    fn detect_reason(&self) -> &'static str {
        "a request and its reply parsed as TPKT/COTP with S7comm"
    }

    fn analyzer(&self) -> Box<dyn Analyzer> {
        Box::<passive::S7Analyzer>::default()
    }

    fn scan_hint(&self, identity: &Identity) -> Option<(&'static str, String)> {
        match identity {
            Identity::S7(s) => s.tsap.map(|t| (passive::ATTR_S7_TSAP, format!("{t:#06x}"))),
            _ => None,
        }
    }

    fn describe(&self, identity: &Identity) -> Option<String> {
        match identity {
            Identity::S7(s) => Some(identity::describe(s)),
            _ => None,
        }
    }

    fn zeek_logs(&self) -> &'static [&'static str] {
        &["s7comm_known_devices", "s7comm", "cotp", "s7comm_plus"]
    }

    fn zeek_services(&self) -> &'static [super::ZeekService] {
        use super::ZeekService;
        &[
            ZeekService {
                name: "s7comm_plus",
                protocol: Protocol::S7Plus,
                rank: 1,
            },
            ZeekService {
                name: "s7comm",
                protocol: Protocol::S7,
                rank: 2,
            },
        ]
    }

    fn zeek_row(
        &self,
        row: &mut crate::facts::zeek::Row<'_>,
        sink: &mut dyn crate::facts::FactSink,
    ) {
        zeek::row(row, sink);
    }
}
