//! What a scan produced: one [`ProbeReport`] per protocol probe, one [`HostReport`] per
//! host, the [`ScanReport`] of the run. The journal writes and reads these, the
//! orchestrator builds them; neither imports the other for them.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::inventory::{Fact, Identity, Observation, Protocol, Transport};

/// How a scan ended, a host's state, a probe's outcome and why a host was left alone:
/// the scan result's own vocabulary ([`crate::inventory::scan`]).
pub use crate::inventory::scan::{HostState, LeftAlone, ProbeOutcome, ScanStatus};

/// The requests of one kind sent to one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestTally {
    pub kind: String,
    pub count: u64,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

/// One protocol probe of one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    pub protocol: Protocol,
    pub transport: Transport,
    pub port: u16,
    pub outcome: ProbeOutcome,
    /// A short human explanation (the guard's refusal, the rule that skipped it, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    /// Connections opened.
    pub connections: u32,
    /// What was sent, per request kind.
    pub requests: Vec<RequestTally>,
    /// What was learned, with raw reply bytes.
    pub observations: Vec<Observation>,
    /// The scan stopped this probe before it finished, whatever it learned first (an S7
    /// identity from SZL 0x0011 without 0x001C); `--resume` runs it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut_short: bool,
}

/// One host's probes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostReport {
    pub ip: IpAddr,
    pub state: HostState,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub probes: Vec<ProbeReport>,
    /// Why the host was left alone for the rest of the scan, if it was; its remaining
    /// protocols are then reported [`ProbeOutcome::LeftAlone`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_alone: Option<LeftAlone>,
    /// What the operator should know about how this host was probed (a cap that left
    /// unit ids out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl HostReport {
    /// A reply did not decode as its protocol should (kept raw in the observations).
    pub fn suspicious(&self) -> bool {
        self.probes
            .iter()
            .any(|p| p.outcome == ProbeOutcome::Suspicious)
    }

    pub fn identified(&self) -> bool {
        self.probes
            .iter()
            .any(|p| p.outcome == ProbeOutcome::Identified)
    }

    /// A probe that could not ask properly, or a device that held a connection open.
    pub fn errored(&self) -> bool {
        self.left_alone.is_some() || self.probes.iter().any(|p| p.outcome.is_error())
    }

    /// The identities this host gave.
    pub fn identities(&self) -> impl Iterator<Item = &Identity> {
        self.probes
            .iter()
            .flat_map(|p| p.observations.iter())
            .filter_map(|o| match &o.fact {
                Fact::Identity { identity } => Some(identity),
                _ => None,
            })
    }
}

/// Everything a scan run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    pub scan_id: String,
    pub profile: String,
    pub profile_sha256: String,
    pub status: ScanStatus,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    /// Every host probed, this run or an earlier one resumed, in address order.
    pub hosts: Vec<HostReport>,
    /// Targets that were skipped before anything was sent, with the reason.
    pub skipped: Vec<(IpAddr, String)>,
    /// Hosts taken from the resumed journal.
    pub resumed_hosts: u64,
}

impl ScanReport {
    pub fn errored_hosts(&self) -> usize {
        self.hosts.iter().filter(|h| h.errored()).count()
    }

    pub fn identified_hosts(&self) -> usize {
        self.hosts.iter().filter(|h| h.identified()).count()
    }

    /// Requests sent, all hosts and kinds together.
    pub fn requests(&self) -> u64 {
        self.hosts
            .iter()
            .flat_map(|h| &h.probes)
            .flat_map(|p| &p.requests)
            .map(|r| r.count)
            .sum()
    }
}
