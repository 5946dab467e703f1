//! The protocol registry: one trait a protocol folder implements, and the ordered list
//! of them.
//!
//! Code outside `src/protocols/` asks the registry instead of matching protocol names:
//! which ports a protocol listens on, how its frames are cut, which session probes it,
//! what its dry-run plan is, how its passive analyzer reads a capture. Adding a protocol
//! is its folder, one line in [`REGISTRY`], one [`crate::safety::SafeRequest`] variant,
//! one serialized [`crate::inventory::Identity`] variant and one SAFETY.md section (see
//! docs/architecture.md, "How to add a protocol").

use crate::inventory::{Identity, Protocol, Transport};
use crate::profile::Profile;
use crate::protocols::plan::ProbePlan;
use crate::protocols::session::Session;
use crate::protocols::settings::Kind;
use crate::wire::DecodeError;

use super::analyzer::Analyzer;
use super::analyzer::{LinkAnalyzer, LinkType};
use crate::facts::FactSink;
use crate::facts::zeek::Row;

use super::{bacnet, dcp, enip, fins, fox, modbus, opcua, s7};

/// Everything otscout knows how to do with one protocol.
///
/// The methods come in two groups: the active side (profile settings, endpoint, session,
/// dry-run plan) and the passive side (ports, framing, detector, analyzer). A protocol
/// that is passive only answers the active methods with "not probed".
pub trait ProtocolSpec: Sync + std::fmt::Debug {
    /// The serialized protocol this folder speaks for (the value in observations and
    /// reports; a folder may also own related values, e.g. ENIP's CIP and CIP I/O).
    fn protocol(&self) -> Protocol;

    /// The protocol's name in the CLI, profiles and docs (`modbus`, `enip`, `s7`).
    fn name(&self) -> &'static str;

    // ---- active side (scan) ----

    /// The keys of its profile section and their types (the section is named
    /// [`ProtocolSpec::name`]).
    fn settings_schema(&self) -> &'static [(&'static str, Kind)] {
        &[]
    }

    /// Whether the profile probes this protocol at all (a passive-only protocol: never).
    fn enabled(&self, _profile: &Profile) -> bool {
        false
    }

    /// The port and transport the profile probes it on (`None`: not probed).
    fn endpoint(&self, _profile: &Profile) -> Option<(u16, Transport)> {
        None
    }

    /// A session probing one host on `port` under the host's profile (`None`: not
    /// probed, or the profile gives it nothing to ask).
    fn session(&self, _profile: &Profile, _port: u16) -> Option<Box<dyn Session>> {
        None
    }

    /// A session probing the host at `ip` (a protocol whose requests name the host, like
    /// OPC UA's endpoint URL, overrides it); by default [`ProtocolSpec::session`].
    fn session_for_host(
        &self,
        profile: &Profile,
        ip: std::net::IpAddr,
        port: u16,
    ) -> Option<Box<dyn Session>> {
        let _ = ip;
        self.session(profile, port)
    }

    /// Requests a fully answering host receives from its probe (its first connection's,
    /// the scan's duration estimate).
    fn planned_requests(&self, _profile: &Profile) -> u64 {
        0
    }

    /// The dry-run plan of its probe under `profile`: the connections and the requests
    /// the session sends on each (`None`: not probed).
    fn plan(&self, _profile: &Profile) -> Option<ProbePlan> {
        None
    }

    /// Whether passive data reshapes its probe per host (Modbus unit ids, S7 TSAPs seen
    /// in traffic): the dry run shows such hosts' probes apart.
    fn passive_guided(&self) -> bool {
        false
    }

    // ---- passive side (import) ----

    /// The ports this protocol is known by in captures and Zeek logs, and what each
    /// carries (a folder may list ports of its related values, e.g. ENIP's UDP 2222 CIP
    /// I/O). The passive engine calls the side on such a port the server.
    fn well_known_ports(&self) -> &'static [WellKnownPort];

    /// Serialized protocol values this folder speaks for besides [`Self::protocol`] (ENIP:
    /// CIP and CIP I/O; S7: S7comm-plus), found by [`owner_of`].
    fn related(&self) -> &'static [Protocol] {
        &[]
    }

    /// The stream framer, under the framing contract of `otscout_wire` (`Ok(Some(n))` only
    /// when n whole bytes are present, `Ok(None)` when more are needed).
    fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, DecodeError>;

    /// The payload detector for a TCP flow on a port that names no protocol: `Some(key)`
    /// when `payload` is exactly a whole number of well-formed frames of this protocol
    /// (the engine's probe asks about one whole frame at a time, cut by
    /// [`Self::frame_len`]), the key being what a frame of the other direction must carry
    /// to confirm it (see [`crate::passive::detect`]).
    fn detect(&self, payload: &[u8]) -> Option<u64>;

    /// Why a confirmed detection is believed, for the observation that records it.
    fn detect_reason(&self) -> &'static str;

    /// The detector for a lone UDP datagram between ports that name no protocol: the
    /// reason it is believed, when it is one. A datagram has no answer to confirm it, so
    /// the bar is higher than [`Self::detect`]'s; most protocols take none.
    fn detect_datagram(&self, payload: &[u8]) -> Option<&'static str> {
        let _ = payload;
        None
    }

    /// A fresh per-flow analyzer (one per TCP flow, one per UDP datagram; one per UDP host
    /// pair and port when [`Self::udp_pairs_state`]).
    fn analyzer(&self) -> Box<dyn Analyzer>;

    /// Whether the engine keeps one analyzer per UDP host pair and port (BACnet pairs a
    /// reply with its request by invoke id across datagrams) instead of one per datagram.
    fn udp_pairs_state(&self) -> bool {
        false
    }

    /// What an identity of this protocol tells an active scan, as the attribute and value
    /// its analyzer records when it sees the same in traffic (`otscout scan
    /// --from-passive`, see [`crate::passive::hints`]); `None` for other identities.
    fn scan_hint(&self, identity: &Identity) -> Option<(&'static str, String)> {
        let _ = identity;
        None
    }

    /// One line naming an identity of this protocol for the import summary (`otscout
    /// passive`), `None` for other identities.
    fn describe(&self, identity: &Identity) -> Option<String> {
        let _ = identity;
        None
    }

    /// The Zeek/ICSNPP logs (by `#path`) that carry this protocol's facts; the Zeek
    /// importer hands their rows to [`Self::zeek_row`].
    fn zeek_logs(&self) -> &'static [&'static str] {
        &[]
    }

    /// The names a `conn.log` `service` field gives this protocol's analyzers (with their
    /// precedence among every protocol's, see [`ZeekService`]).
    fn zeek_services(&self) -> &'static [ZeekService] {
        &[]
    }

    /// Reads one row of one of [`Self::zeek_logs`] into the same facts its capture
    /// analyzer records (the same identity keys, peers and operation names), so a log
    /// and a capture of one exchange fold alike.
    fn zeek_row(&self, row: &mut Row<'_>, sink: &mut dyn FactSink) {
        let _ = (row, sink);
    }

    // ---- layer 2 (frames without IP) ----

    /// The layer-2 frames this protocol reads without IP: EtherTypes (PROFINET DCP's
    /// 0x8892) or 802.2 LLC SAPs (BACnet/Ethernet's 0x82). The capture engine hands such
    /// frames to [`Self::link_analyzer`]'s analyzer.
    fn link_types(&self) -> &'static [LinkType] {
        &[]
    }

    /// The analyzer of this protocol's layer-2 frames, one per capture (`None`: the
    /// protocol has none).
    fn link_analyzer(&self) -> Option<Box<dyn LinkAnalyzer>> {
        None
    }

    /// How the conformance harness ([`crate::conformance`]) compares this protocol's
    /// identities with tshark's dissector (`src/protocols/<name>/conformance.rs`); none by
    /// default.
    fn conformance_specs(&self) -> &'static [super::conformance::Spec] {
        &[]
    }
}

/// A name Zeek writes in `conn.log`'s `service` field for a protocol's analyzer.
///
/// The field can list several analyzers (`modbus,s7comm`) and the names nest (`s7comm` in
/// `s7comm_plus`, `cip` in `cip_io`), so each name has a rank: of the names occurring
/// anywhere in the field, the lowest rank wins ([`zeek_service`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeekService {
    pub name: &'static str,
    pub protocol: Protocol,
    pub rank: u8,
}

/// The protocol a `conn.log` `service` field names: the lowest-ranked
/// [`ProtocolSpec::zeek_services`] name occurring in it (`None`: none does, and the
/// responder's port decides).
pub fn zeek_service(service: &str) -> Option<Protocol> {
    REGISTRY
        .iter()
        .flat_map(|s| s.zeek_services())
        .filter(|z| service.contains(z.name))
        .min_by_key(|z| z.rank)
        .map(|z| z.protocol)
}

/// The registered protocol that reads a Zeek log (by `#path`), if any.
pub fn zeek_reader(log: &str) -> Option<&'static dyn ProtocolSpec> {
    REGISTRY
        .iter()
        .copied()
        .find(|s| s.zeek_logs().contains(&log))
}

/// The registered protocol that reads layer-2 frames of this kind, if any.
pub fn link_protocol(kind: LinkType) -> Option<&'static dyn ProtocolSpec> {
    REGISTRY
        .iter()
        .copied()
        .find(|s| s.link_types().contains(&kind))
}

/// A port a protocol is known by, for the passive side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WellKnownPort {
    pub transport: Transport,
    pub port: u16,
    /// The serialized protocol the port carries.
    pub protocol: Protocol,
    /// Whether the protocol's analyzer reads it; `false`: only who talks to whom is noted,
    /// and a datagram sent from the port (both ends use it, as CIP I/O producers and
    /// consumers do on UDP 2222) shows its sender offers the service.
    pub decoded: bool,
}

/// The registered protocol and the entry for a well-known port, if the port is one.
pub fn well_known_port(
    transport: Transport,
    port: u16,
) -> Option<(&'static dyn ProtocolSpec, &'static WellKnownPort)> {
    REGISTRY.iter().find_map(|s| {
        s.well_known_ports()
            .iter()
            .find(|w| w.port == port && w.transport == transport)
            .map(|w| (*s, w))
    })
}

/// The registered protocol whose folder speaks for a serialized value: its own
/// [`ProtocolSpec::protocol`] or one of its [`ProtocolSpec::related`] values.
pub fn owner_of(p: Protocol) -> Option<&'static dyn ProtocolSpec> {
    REGISTRY
        .iter()
        .copied()
        .find(|s| s.protocol() == p || s.related().contains(&p))
}

/// Every protocol otscout speaks, in probe order: ENIP first (one cheap request that
/// usually names the vendor), Modbus, then S7, so vendor rules learned from the others can
/// spare the most fragile stacks; then the protocols off in every built-in profile
/// (BACnet/IP, OPC UA, FINS, Fox) after them, leaving the PLC protocols' order as it was;
/// last PROFINET DCP, read from captures only (layer 2, never sent).
pub static REGISTRY: &[&dyn ProtocolSpec] = &[
    &enip::Enip,
    &modbus::Modbus,
    &s7::S7,
    &bacnet::Bacnet,
    &opcua::Opcua,
    &fins::Fins,
    &fox::Fox,
    &dcp::Dcp,
];

/// The registered protocol that owns a serialized protocol value, if any.
pub fn spec_for(p: Protocol) -> Option<&'static dyn ProtocolSpec> {
    REGISTRY.iter().copied().find(|s| s.protocol() == p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The precedence the old `match` on `service` had, pinned: several analyzers in one
    /// field, and names that contain one another.
    #[test]
    fn conn_service_precedence_is_explicit() {
        use crate::inventory::Protocol::*;
        for (service, want) in [
            ("modbus", Some(Modbus)),
            ("s7comm,modbus", Some(Modbus)),
            ("enip,modbus", Some(Modbus)),
            ("s7comm_plus", Some(S7Plus)),
            ("s7comm,s7comm_plus", Some(S7Plus)),
            ("s7comm", Some(S7)),
            ("cotp,s7comm", Some(S7)),
            ("enip,s7comm", Some(S7)),
            ("cip_io", Some(CipIo)),
            ("enip,cip_io", Some(CipIo)),
            ("enip", Some(Enip)),
            ("cip", Some(Enip)),
            ("enip,cip", Some(Enip)),
            ("bacnet", Some(Bacnet)),
            ("icsnpp_opcua_binary", Some(Opcua)),
            ("http", None),
            ("", None),
        ] {
            assert_eq!(zeek_service(service), want, "{service:?}");
        }
    }

    /// Each Zeek log is read by one protocol only.
    #[test]
    fn zeek_logs_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for s in REGISTRY {
            for log in s.zeek_logs() {
                assert!(seen.insert(*log), "{log} read twice");
                assert_eq!(zeek_reader(log).map(|r| r.name()), Some(s.name()));
            }
        }
    }

    #[test]
    fn names_and_protocols_are_unique() {
        for (i, a) in REGISTRY.iter().enumerate() {
            for b in &REGISTRY[i + 1..] {
                assert_ne!(a.name(), b.name());
                assert_ne!(a.protocol(), b.protocol());
            }
        }
    }

    #[test]
    fn every_registered_protocol_is_found_by_its_value() {
        for s in REGISTRY {
            assert_eq!(spec_for(s.protocol()).map(|f| f.name()), Some(s.name()));
        }
    }

    /// A protocol that is only imported passively (no active methods of its own).
    #[derive(Debug)]
    struct PassiveOnly;

    impl ProtocolSpec for PassiveOnly {
        fn protocol(&self) -> Protocol {
            Protocol::CipIo
        }

        fn name(&self) -> &'static str {
            "passive_only"
        }

        // The passive side is required; this test only looks at the active defaults.
        fn well_known_ports(&self) -> &'static [WellKnownPort] {
            &[]
        }

        fn frame_len(&self, _buf: &[u8]) -> Result<Option<usize>, DecodeError> {
            Ok(None)
        }

        fn detect(&self, _payload: &[u8]) -> Option<u64> {
            None
        }

        fn detect_reason(&self) -> &'static str {
            "never detected"
        }

        fn analyzer(&self) -> Box<dyn Analyzer> {
            unreachable!("the active-defaults test never imports a capture")
        }
    }

    fn profile_with_own_ports() -> Profile {
        let mut p = crate::profile::builtin("conservative").unwrap().profile;
        p.modbus.port = 1502;
        p.enip.port = 14818;
        p.s7.port = 1102;
        p.bacnet.port = 47809;
        p.bacnet.enabled = true;
        p.opcua.port = 14840;
        p.fins.port = 19600;
        p.fins.enabled = true;
        p.fox.port = 11911;
        p.fox.enabled = true;
        p
    }

    /// Each protocol is probed on its own section's port, and one without an active side
    /// is not probed at all (the scan's old `endpoint_for` handed every protocol other
    /// than Modbus and ENIP the S7 port).
    #[test]
    fn each_protocol_is_probed_on_its_own_port_and_a_passive_one_not_at_all() {
        let p = profile_with_own_ports();
        let ports: Vec<(&str, Option<u16>)> = REGISTRY
            .iter()
            .map(|s| (s.name(), s.endpoint(&p).map(|(port, _)| port)))
            .collect();
        assert_eq!(
            ports,
            [
                ("enip", Some(14818)),
                ("modbus", Some(1502)),
                ("s7", Some(1102)),
                ("bacnet", Some(47809)),
                ("opcua", Some(14840)),
                ("fins", Some(19600)),
                ("fox", Some(11911)),
                ("profinet_dcp", None)
            ]
        );
        assert_eq!(PassiveOnly.endpoint(&p), None);
        assert!(PassiveOnly.session(&p, 1).is_none());
        assert!(PassiveOnly.plan(&p).is_none());
        assert!(!PassiveOnly.enabled(&p));
    }

    /// What the registry gives the scan for every enabled protocol agrees with itself: a
    /// session speaking that protocol, a plan for it on its port, and the profile's
    /// `name` is the protocol's serialized name (the dry run prints that).
    #[test]
    fn every_enabled_protocol_has_a_session_and_a_plan_of_its_own() {
        let p = profile_with_own_ports();
        for spec in REGISTRY.iter().filter(|s| s.enabled(&p)) {
            let (port, _) = spec.endpoint(&p).unwrap();
            let session = spec.session(&p, port).unwrap();
            assert_eq!(session.protocol(), spec.protocol());
            let plan = spec.plan(&p).unwrap();
            assert_eq!((plan.protocol, plan.port), (spec.protocol(), port));
            assert_eq!(crate::plan::protocol_name(spec.protocol()), spec.name());
            assert!(!spec.settings_schema().is_empty());
        }
    }
}
