//! EtherNet/IP and CIP above their codec ([`crate::wire::enip`]).

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

    fn conformance_specs(&self) -> &'static [crate::protocols::conformance::Spec] {
        conformance::SPECS
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

    /// List Identity, and List Services when asked for; with backplane enumeration (TCP),
    /// at most Register Session, one read per slot and Unregister Session more.
    fn planned_requests(&self, profile: &Profile) -> u64 {
        let slots = session::EnipSessionConfig::from_profile(profile)
            .backplane_slots
            .len() as u64;
        let backplane = if slots > 0 { slots + 2 } else { 0 };
        1 + u64::from(profile.enip.list_services) + backplane
    }

    fn plan(&self, profile: &Profile) -> Option<ProbePlan> {
        Some(plan::probe_plan(profile))
    }

    // ---- passive side (import) ----

    fn well_known_ports(&self) -> &'static [WellKnownPort] {
        // ODVA Vol. 2, 2-2: encapsulation on TCP and UDP 44818; class 0/1 implicit I/O
        // (CIP I/O) on UDP 2222, noted as who talks to whom, never decoded.
        &[
            WellKnownPort {
                transport: Transport::Tcp,
                port: 44818,
                protocol: Protocol::Enip,
                decoded: true,
            },
            WellKnownPort {
                transport: Transport::Udp,
                port: 44818,
                protocol: Protocol::Enip,
                decoded: true,
            },
            WellKnownPort {
                transport: Transport::Udp,
                port: 2222,
                protocol: Protocol::CipIo,
                decoded: false,
            },
        ]
    }

    fn related(&self) -> &'static [Protocol] {
        &[Protocol::Cip, Protocol::CipIo]
    }

    fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
        crate::wire::enip::frame_len(buf)
    }

    fn detect(&self, payload: &[u8]) -> Option<u64> {
        detect::frames(payload)
    }

    fn detect_reason(&self) -> &'static str {
        "a request and its reply parsed as EtherNet/IP encapsulation"
    }

    fn detect_datagram(&self, payload: &[u8]) -> Option<&'static str> {
        detect::identity_reply(payload).then_some("a list identity reply with an identity item")
    }

    fn analyzer(&self) -> Box<dyn Analyzer> {
        Box::<passive::EnipAnalyzer>::default()
    }

    fn describe(&self, identity: &Identity) -> Option<String> {
        match identity {
            Identity::Enip(e) => Some(identity::describe(e)),
            _ => None,
        }
    }

    fn zeek_logs(&self) -> &'static [&'static str] {
        &["cip_identity", "cip", "enip"]
    }

    fn zeek_services(&self) -> &'static [super::ZeekService] {
        use super::ZeekService;
        &[
            ZeekService {
                name: "cip_io",
                protocol: Protocol::CipIo,
                rank: 3,
            },
            ZeekService {
                name: "enip",
                protocol: Protocol::Enip,
                rank: 4,
            },
            ZeekService {
                name: "cip",
                protocol: Protocol::Enip,
                rank: 5,
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
