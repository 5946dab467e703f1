//! OPC UA binary (UA TCP, port 4840) above its codec ([`crate::wire::opcua`]): the requests
//! otscout may send and their guard rule ([`safe`]), the server's identity and findings
//! ([`identity`]), the probe session ([`session`]) and the passive analyzer ([`passive`]).
//!
//! In the [registry](super::registry) after S7 (probe order: the existing protocols keep
//! their places). Off in every built-in profile but `lab` (see profiles/conservative.toml).

pub mod conformance;
pub mod detect;
pub mod identity;
pub mod passive;
pub mod plan;
pub mod safe;
pub mod session;
pub mod settings;
pub mod zeek;

use std::net::IpAddr;
use std::time::Duration;

use super::analyzer::Analyzer;
use super::registry::WellKnownPort;
use crate::inventory::{Identity, Protocol, Transport};
use crate::profile::Profile;
use crate::protocols::plan::ProbePlan;
use crate::protocols::session::Session;
use crate::protocols::settings::Kind;
use crate::wire::DecodeError;

/// OPC UA binary in the [registry](super::registry).
#[derive(Debug, Clone, Copy)]
pub struct Opcua;

impl Opcua {
    fn probe(profile: &Profile, ip: IpAddr, port: u16) -> Option<Box<dyn Session>> {
        let timeout = Duration::from_millis(profile.pacing.response_timeout_ms);
        let cfg = profile
            .opcua
            .session_config(std::net::SocketAddr::new(ip, port), timeout)
            .ok()?;
        Some(Box::new(session::OpcuaProbe::new(cfg, port)))
    }
}

impl super::ProtocolSpec for Opcua {
    fn protocol(&self) -> Protocol {
        Protocol::Opcua
    }

    fn name(&self) -> &'static str {
        "opcua"
    }

    fn conformance_specs(&self) -> &'static [crate::protocols::conformance::Spec] {
        conformance::SPECS
    }

    // ---- active side (scan) ----

    fn settings_schema(&self) -> &'static [(&'static str, Kind)] {
        settings::SCHEMA
    }

    fn enabled(&self, profile: &Profile) -> bool {
        profile.opcua.enabled
    }

    fn endpoint(&self, profile: &Profile) -> Option<(u16, Transport)> {
        Some((profile.opcua.port, Transport::Tcp))
    }

    /// Without the host's address the URL names `localhost` (the registry's tests); the
    /// scan uses [`super::ProtocolSpec::session_for_host`].
    fn session(&self, profile: &Profile, port: u16) -> Option<Box<dyn Session>> {
        Self::probe(profile, IpAddr::from([127, 0, 0, 1]), port)
    }

    fn session_for_host(
        &self,
        profile: &Profile,
        ip: IpAddr,
        port: u16,
    ) -> Option<Box<dyn Session>> {
        Self::probe(profile, ip, port)
    }

    /// Hello, OpenSecureChannel, GetEndpoints (FindServers when asked), CloseSecureChannel.
    fn planned_requests(&self, profile: &Profile) -> u64 {
        4 + u64::from(profile.opcua.find_servers)
    }

    fn plan(&self, profile: &Profile) -> Option<ProbePlan> {
        Some(plan::probe_plan(profile))
    }

    // ---- passive side (import) ----

    fn well_known_ports(&self) -> &'static [WellKnownPort] {
        // IANA: opc.tcp on TCP 4840 (other ports are found by the detector).
        &[WellKnownPort {
            transport: Transport::Tcp,
            port: 4840,
            protocol: Protocol::Opcua,
            decoded: true,
        }]
    }

    fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
        crate::wire::opcua::frame_len(buf)
    }

    /// Servers listen on other ports than 4840 (12001 in a capture): the engine buffers
    /// such a flow's first bytes and asks this about each whole message
    /// ([`crate::passive::detect::Probe`]), so the answer does not depend on how TCP cut the
    /// stream.
    fn detect(&self, payload: &[u8]) -> Option<u64> {
        detect::frames(payload)
    }

    fn detect_reason(&self) -> &'static str {
        "a request and its answer parsed as UA TCP messages"
    }

    fn analyzer(&self) -> Box<dyn Analyzer> {
        Box::<passive::OpcuaAnalyzer>::default()
    }

    fn zeek_logs(&self) -> &'static [&'static str] {
        &[
            "opcua-binary",
            "opcua-binary-get-endpoints",
            "opcua-binary-get-endpoints-description",
        ]
    }

    fn zeek_services(&self) -> &'static [super::ZeekService] {
        // ICSNPP's analyzer tag ICSNPP_OPCUA_BINARY: Zeek writes it lowercased.
        &[super::ZeekService {
            name: "opcua_binary",
            protocol: Protocol::Opcua,
            rank: 7,
        }]
    }

    fn zeek_row(
        &self,
        row: &mut crate::facts::zeek::Row<'_>,
        sink: &mut dyn crate::facts::FactSink,
    ) {
        zeek::row(row, sink);
    }

    fn describe(&self, identity: &Identity) -> Option<String> {
        match identity {
            Identity::Opcua(u) => Some(format!(
                "opc ua {} ({})",
                u.application_name.as_deref().unwrap_or("?"),
                u.application_uri.as_deref().unwrap_or("?")
            )),
            _ => None,
        }
    }
}
