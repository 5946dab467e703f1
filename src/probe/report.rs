//! What a scan produced: one [`ProbeReport`] per protocol probe, one [`HostReport`] per
//! host, the [`ScanReport`] of the run. The journal writes and reads these, the
//! orchestrator builds them; neither imports the other for them.

use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::inventory::{Fact, Identity, Observation, Protocol, Transport};

/// How a scan ended: the scan result's own status ([`crate::inventory::scan::ScanStatus`]).
pub use crate::inventory::scan::ScanStatus;

/// Whether a host was probed to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    Done,
    Interrupted,
}

/// How one protocol probe of one host ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// The device said who it is.
    Identified,
    /// The device spoke the protocol and said no (exception, unsupported command,
    /// refused TSAP).
    Negative,
    /// The device answered the identity request, but named nothing (a Modbus Read Device
    /// Identification reply with zero objects).
    AnsweredNoIdentity,
    /// Something answered, but not in this protocol.
    NotThisProtocol,
    /// Connection refused (nothing listening).
    Refused,
    /// Connect timed out (nothing there, or filtered).
    ConnectTimeout,
    /// Connected, but the device did not answer in time.
    Timeout,
    /// The device reset or closed the connection mid-exchange.
    Reset,
    /// A reply that did not decode as the protocol should (kept raw).
    Suspicious,
    /// A vendor rule said not to send this protocol to this device.
    SkippedByRule,
    /// The per-host breaker had opened: not tried.
    CircuitOpen,
    /// The guard refused a frame the session built: nothing was sent. A bug in otscout.
    GuardRefused,
    /// A local error (socket creation and the like).
    LocalError,
    /// The scan stopped before this probe finished.
    Interrupted,
    /// Not sent again after `--resume`: earlier runs of this scan already sent this probe
    /// the requests its plan allows a host (the profile's budget).
    BudgetSpent,
    /// Not tried: the host was left alone for the rest of the scan (the host's
    /// [`HostReport::left_alone`] says why).
    LeftAlone,
}

/// Why otscout left a host alone for the rest of the scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum LeftAlone {
    /// The device kept its side of a connection open after our FIN for longer than the
    /// close hold. otscout kept the connection, reading and discarding what the device
    /// still sent, until the device closed it or the scan ended, and never connected to
    /// the host again: a device that has not closed still holds one of its connections.
    HeldOpen {
        protocol: Protocol,
        port: u16,
        /// When our FIN went out.
        fin_at: DateTime<Utc>,
        /// The close hold that passed without the device's FIN.
        hold_ms: u64,
    },
}

impl ProbeOutcome {
    /// An outcome that means "we could not ask properly" (counts toward exit code 1): a
    /// device that connected but did not answer or reset, or a fault on our side. A
    /// refused or timed-out connect is an empty address, not an error; an open breaker is
    /// not one on its own (the failures that opened it are).
    pub fn is_error(self) -> bool {
        matches!(
            self,
            ProbeOutcome::Timeout
                | ProbeOutcome::Reset
                | ProbeOutcome::GuardRefused
                | ProbeOutcome::LocalError
        )
    }
}

impl fmt::Display for ProbeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        f.write_str(&s)
    }
}

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
