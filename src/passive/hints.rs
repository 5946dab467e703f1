//! What passive data tells an active scan: which hosts exist, which Modbus unit ids and S7
//! TSAPs they were seen using, and which already have an identity.
//!
//! `otscout scan --from-passive FILE` limits its targets to [`PassiveHints::hosts`] and
//! tries the observed unit ids and TSAPs first; `--skip-identified` leaves
//! [`PassiveHints::identified`] alone.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::inventory::{Fact, Observation, ObservationFile, Provenance, Role};
use crate::protocols::REGISTRY;

pub use crate::protocols::modbus::passive::ATTR_MODBUS_UNIT;
pub use crate::protocols::s7::passive::ATTR_S7_TSAP;

/// Hints for the active scanner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassiveHints {
    /// Every address the data shows to be a host (see [`hints`] for the rule).
    pub hosts: BTreeSet<IpAddr>,
    /// Modbus unit ids seen per host (in identity replies or in any Modbus traffic).
    pub modbus_units: BTreeMap<IpAddr, BTreeSet<u8>>,
    /// Remote S7 TSAPs seen per host (COTP connects to it, or the identity's TSAP).
    pub s7_tsaps: BTreeMap<IpAddr, BTreeSet<u16>>,
    /// Hosts whose identity the data already holds.
    pub identified: BTreeSet<IpAddr>,
}

fn parse_u16(v: &str) -> Option<u16> {
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(h) => u16::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

/// True when this observation shows that its address is a host: it answered or sent
/// something (an identity, a service, a MAC, traffic as a client), something was declared
/// about it (a CSV inventory row; a unit id or TSAP, which the importers record only for
/// hosts seen sending), or an active scan reached it.
///
/// # OT safety
/// Not evidence on their own: being the server side of a [`Fact::Peer`] (requests were
/// sent to it), the target of a [`Fact::Operation`], or being named as the peer of another
/// host. A List Identity broadcast to 192.168.1.255 gives 192.168.1.255 only such facts
/// (observation files written before this rule hold them), so it never becomes a
/// `scan --from-passive` target. The importers apply the rule at the source (see
/// `passive::collect::Collector::finish`).
pub fn shows_a_host(o: &Observation) -> bool {
    // A station known only by MAC (0.0.0.0 with a `mac:` path) has no address to scan.
    if o.ip.is_unspecified() {
        return false;
    }
    match &o.fact {
        Fact::Identity { .. } | Fact::Service { .. } | Fact::Mac { .. } => true,
        Fact::Peer { role, .. } => *role == Role::Client,
        Fact::Operation { .. } | Fact::LinkOperation { .. } => false,
        Fact::Declared { .. } => true,
        Fact::Negative { .. }
        | Fact::NoIdentity { .. }
        | Fact::NoAnswer { .. }
        | Fact::Suspicious { .. } => {
            matches!(o.provenance, Provenance::Active { .. })
        }
    }
}

/// Derives the hints from an observation file (as written by `otscout passive`).
///
/// [`PassiveHints::hosts`] holds only addresses some observation shows to be a host
/// ([`shows_a_host`]); the unit ids, TSAPs and identities of other addresses are kept but
/// never make them targets.
pub fn hints(file: &ObservationFile) -> PassiveHints {
    let mut h = PassiveHints::default();
    for o in &file.observations {
        if shows_a_host(o) {
            h.hosts.insert(o.ip);
        }
        let declared = match &o.fact {
            Fact::Identity { identity } => {
                h.identified.insert(o.ip);
                // What an identity tells the scan, as the attribute its protocol's
                // analyzer records from traffic (a unit id, a TSAP).
                REGISTRY.iter().find_map(|s| s.scan_hint(identity))
            }
            Fact::Declared { attribute, value } => Some((attribute.as_str(), value.clone())),
            _ => None,
        };
        match declared {
            Some((attribute, value)) if attribute == ATTR_MODBUS_UNIT => {
                if let Some(u) = parse_u16(&value).and_then(|u| u8::try_from(u).ok()) {
                    h.modbus_units.entry(o.ip).or_default().insert(u);
                }
            }
            Some((attribute, value)) if attribute == ATTR_S7_TSAP => {
                if let Some(t) = parse_u16(&value) {
                    h.s7_tsaps.entry(o.ip).or_default().insert(t);
                }
            }
            _ => {}
        }
    }
    h
}
