//! The session factory and what the orchestrator asks of each protocol: which session
//! probes it, in which order, on which port and transport, and how many requests a fully
//! answering host receives.

use std::fmt;
use std::net::IpAddr;

use super::Ctx;
use crate::inventory::{Protocol, Transport};
use crate::probe::Session;
use crate::probe::enip::{EnipSession, EnipSessionConfig};
use crate::probe::modbus::{ModbusSession, ModbusSessionConfig};
use crate::probe::s7::{S7Session, S7SessionConfig};
use crate::profile::{EnipTransport, Profile};

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

/// The built-in sessions (src/probe/modbus.rs, enip.rs, s7.rs).
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinSessions;

impl SessionFactory for BuiltinSessions {
    fn session(
        &self,
        protocol: Protocol,
        _ip: IpAddr,
        port: u16,
        profile: &Profile,
    ) -> Option<Box<dyn Session>> {
        match protocol {
            Protocol::Modbus => {
                let mut cfg = ModbusSessionConfig::from_profile(profile);
                cfg.port = port;
                Some(Box::new(ModbusSession::new(cfg)))
            }
            Protocol::Enip => {
                let mut cfg = EnipSessionConfig::from_profile(profile);
                cfg.port = port;
                Some(Box::new(EnipSession::new(cfg)))
            }
            Protocol::S7 => {
                let mut cfg = S7SessionConfig::from_profile(profile);
                cfg.port = port;
                Some(Box::new(S7Session::new(cfg)))
            }
            _ => None,
        }
    }
}

/// Requests a fully answering host receives: List Identity (+ List Services); one read
/// code per unit id tried at most; COTP + setup + SZLs + disconnect per TSAP tried.
pub(super) fn planned_requests_per_host(profile: &Profile) -> u64 {
    let mut n = 0u64;
    if profile.enip.enabled {
        n += 1 + u64::from(profile.enip.list_services);
    }
    if profile.modbus.enabled {
        n += profile.modbus.read_codes.len() as u64;
    }
    if profile.s7.enabled {
        n += 3 + profile.s7.szl_ids.len() as u64;
    }
    n
}

/// The order a host's protocols are tried: ENIP first (one cheap request that usually
/// names the vendor), Modbus, then S7 last, so vendor rules learned from the others can
/// spare the most fragile stacks.
pub(super) fn protocol_plan(profile: &Profile) -> Vec<Protocol> {
    let mut v = Vec::new();
    if profile.enip.enabled {
        v.push(Protocol::Enip);
    }
    if profile.modbus.enabled {
        v.push(Protocol::Modbus);
    }
    if profile.s7.enabled {
        v.push(Protocol::S7);
    }
    v
}

pub(super) fn endpoint_for(ctx: &Ctx, ip: IpAddr, protocol: Protocol) -> (u16, Transport) {
    let (port, transport) = match protocol {
        Protocol::Modbus => (ctx.profile.modbus.port, Transport::Tcp),
        Protocol::Enip => (
            ctx.profile.enip.port,
            match ctx.profile.enip.transport {
                EnipTransport::Tcp => Transport::Tcp,
                EnipTransport::Udp => Transport::Udp,
            },
        ),
        _ => (ctx.profile.s7.port, Transport::Tcp),
    };
    (
        ctx.ports.get(&(ip, protocol)).copied().unwrap_or(port),
        transport,
    )
}
