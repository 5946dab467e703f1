//! BACnet/IP above its codec ([`crate::wire::bacnet`]): the requests otscout may send and
//! the guard's rule ([`safe`]), the identity a device gives ([`identity`]), the probe as a
//! sans-IO state machine ([`session`]), its profile section ([`settings`]) and dry-run plan
//! ([`plan`]), and the passive analyzer ([`passive`]).

pub mod conformance;
pub mod identity;
pub mod link;
pub mod passive;
pub mod plan;
pub mod safe;
pub mod session;
pub mod settings;
pub mod zeek;

use crate::inventory::{Identity, Protocol, Transport};
use crate::profile::Profile;
use crate::protocols::plan::ProbePlan;
use crate::protocols::session::Session;
use crate::protocols::settings::Kind;
use crate::wire::DecodeError;

use super::analyzer::Analyzer;
use super::registry::WellKnownPort;
pub use safe::Safe;

/// BACnet/IP in the [registry](super::registry).
#[derive(Debug, Clone, Copy)]
pub struct Bacnet;

impl super::ProtocolSpec for Bacnet {
    fn protocol(&self) -> Protocol {
        Protocol::Bacnet
    }

    fn name(&self) -> &'static str {
        "bacnet"
    }

    fn conformance_specs(&self) -> &'static [crate::protocols::conformance::Spec] {
        conformance::SPECS
    }

    // ---- active side (scan) ----

    fn settings_schema(&self) -> &'static [(&'static str, Kind)] {
        settings::SCHEMA
    }

    fn enabled(&self, profile: &Profile) -> bool {
        profile.bacnet.enabled
    }

    fn endpoint(&self, profile: &Profile) -> Option<(u16, Transport)> {
        Some((profile.bacnet.port, Transport::Udp))
    }

    fn session(&self, profile: &Profile, port: u16) -> Option<Box<dyn Session>> {
        Some(Box::new(session::BacnetSession::new(
            session::SessionConfig::from_profile(profile, port),
        )))
    }

    /// One ReadPropertyMultiple when the device answers it.
    fn planned_requests(&self, _profile: &Profile) -> u64 {
        1
    }

    fn plan(&self, profile: &Profile) -> Option<ProbePlan> {
        Some(plan::probe_plan(profile))
    }

    // ---- passive side (import) ----

    fn well_known_ports(&self) -> &'static [WellKnownPort] {
        // ASHRAE 135 Annex J.1: B/IP on UDP 47808 (X'BAC0').
        &[WellKnownPort {
            transport: Transport::Udp,
            port: crate::wire::bacnet::PORT,
            protocol: Protocol::Bacnet,
            decoded: true,
        }]
    }

    fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
        crate::wire::bacnet::frame_len(buf)
    }

    /// BACnet/IP is UDP only: no TCP payload is taken for it.
    fn detect(&self, _payload: &[u8]) -> Option<u64> {
        None
    }

    fn detect_reason(&self) -> &'static str {
        "a bacnet/ip datagram"
    }

    fn analyzer(&self) -> Box<dyn Analyzer> {
        Box::<passive::BacnetFlow>::default()
    }

    /// Acks pair with their requests by invoke id across datagrams.
    fn udp_pairs_state(&self) -> bool {
        true
    }

    fn describe(&self, identity: &Identity) -> Option<String> {
        match identity {
            Identity::Bacnet(b) => Some(
                b.fields()
                    .into_iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            _ => None,
        }
    }

    fn zeek_logs(&self) -> &'static [&'static str] {
        &["bacnet", "bacnet_discovery", "bacnet_property"]
    }

    fn zeek_services(&self) -> &'static [super::ZeekService] {
        use super::ZeekService;
        &[ZeekService {
            name: "bacnet",
            protocol: Protocol::Bacnet,
            rank: 6,
        }]
    }

    fn zeek_row(
        &self,
        row: &mut crate::facts::zeek::Row<'_>,
        sink: &mut dyn crate::facts::FactSink,
    ) {
        zeek::row(row, sink);
    }

    /// BACnet/Ethernet: 802.2 LLC with DSAP and SSAP 0x82 (ASHRAE 135 clause 7.1).
    fn link_types(&self) -> &'static [crate::protocols::analyzer::LinkType] {
        &[crate::protocols::analyzer::LinkType::Llc {
            dsap: link::BACNET_SAP,
            ssap: link::BACNET_SAP,
        }]
    }

    fn link_analyzer(&self) -> Option<Box<dyn crate::protocols::analyzer::LinkAnalyzer>> {
        Some(Box::<link::BacnetLink>::default())
    }
}
