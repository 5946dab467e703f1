//! The session factory and what the orchestrator asks of each protocol: which session
//! probes it, in which order, on which port and transport, and how many requests a fully
//! answering host receives.

use std::fmt;
use std::net::IpAddr;

use super::Ctx;
use crate::inventory::{Protocol, Transport};
use crate::probe::Session;
use crate::profile::Profile;
use crate::protocols::{ProtocolSpec, REGISTRY, spec_for};

/// Builds a protocol session for one host.
pub trait SessionFactory: Send + Sync + fmt::Debug {
    /// A session for `protocol` on `ip`, port `port`, under `profile`, or `None` when
    /// there is none (the protocol is not implemented, or the profile gives nothing to
    /// ask).
    fn session(
        &self,
        protocol: Protocol,
        ip: IpAddr,
        port: u16,
        profile: &Profile,
    ) -> Option<Box<dyn Session>>;
}

/// The built-in sessions: each registered protocol's own
/// ([`crate::protocols::ProtocolSpec::session`], `src/protocols/<name>/session.rs`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinSessions;

impl SessionFactory for BuiltinSessions {
    fn session(
        &self,
        protocol: Protocol,
        ip: IpAddr,
        port: u16,
        profile: &Profile,
    ) -> Option<Box<dyn Session>> {
        spec_for(protocol)?.session_for_host(profile, ip, port)
    }
}

/// Requests a fully answering host receives: each enabled protocol's first connection
/// ([`crate::protocols::ProtocolSpec::planned_requests`]).
pub(super) fn planned_requests_per_host(profile: &Profile) -> u64 {
    REGISTRY
        .iter()
        .filter(|spec| spec.enabled(profile))
        .map(|spec| spec.planned_requests(profile))
        .sum()
}

/// The protocols a host is probed with, in the registry's order (the probe order: ENIP
/// first, one cheap request that usually names the vendor, then Modbus, then S7 last, so
/// vendor rules learned from the others can spare the most fragile stacks).
pub(super) fn protocol_plan(profile: &Profile) -> Vec<&'static dyn ProtocolSpec> {
    REGISTRY
        .iter()
        .copied()
        .filter(|spec| spec.enabled(profile))
        .collect()
}

/// The port and transport of `spec`'s probe of `ip`: the profile's, unless the scan was
/// given the port this host answered on (`None`: the protocol is not probed).
pub(super) fn endpoint_for(
    ctx: &Ctx,
    ip: IpAddr,
    spec: &dyn ProtocolSpec,
) -> Option<(u16, Transport)> {
    let (port, transport) = spec.endpoint(&ctx.profile)?;
    let port = ctx
        .ports
        .get(&(ip, spec.protocol()))
        .copied()
        .unwrap_or(port);
    Some((port, transport))
}
