//! The scan orchestrator: targets × protocols under the per-host discipline.
//!
//! [`run`] walks the targets lazily, probes up to `hosts_in_flight` hosts at a time and,
//! on each host, its protocols one after the other (ENIP, then Modbus, then S7), so a
//! device never sees two connections from us at once. It applies vendor rules as soon as
//! an identity is known (an ENIP-identified Rockwell device is not sent S7), opens the
//! per-host breaker after repeated failures, journals every outcome as it arrives, and
//! emits [`ScanEvent`]s for whoever watches (the CLI's progress bar). It never prints.
//!
//! Stopping: [`StopSignal::stop`] (SIGINT/SIGTERM, the maintenance window's end) stops
//! new requests at once; exchanges already on the wire finish or time out; hosts cut
//! short are reported `interrupted` and not journaled as done, so `--resume` probes them
//! again.
//!
//! # OT safety
//! - One host, one task: the protocols of a host are driven sequentially by its task.
//! - Every target is re-checked against the exclusions and against multicast, broadcast
//!   and unspecified addresses right before it is probed, whatever the planner did.
//! - Every frame goes through the guard and every request through the pacing gate (see
//!   [`super::driver`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::driver::{self, DriveEnd, DriveReport, DriverConfig, Endpoint, Pacing};
use super::enip::{EnipSession, EnipSessionConfig};
use super::gate::HostClock;
use super::journal::{Journal, JournalError, JournalLine};
use super::modbus::{ModbusSession, ModbusSessionConfig};
use super::s7::{S7Session, S7SessionConfig};
use super::{ConnectionLoss, Finding, Session, Step};
use crate::inventory::normalize;
use crate::inventory::{
    Fact, Identity, NoAnswerKind, Observation, Protocol, Provenance, Transport,
};
use crate::pace::Pacer;
use crate::pace::edge::GlobalGate;
use crate::profile::{EnipTransport, Profile};
use crate::target::TargetSet;

// ---------------------------------------------------------------------------------------
// Stop signal

/// Why a scan stopped before it was complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// SIGINT/SIGTERM, or the caller asked.
    Interrupted,
    /// The maintenance window (or `--until`) ended.
    WindowEnded,
    /// The journal could not be written: going on would risk losing results.
    JournalFailed,
}

/// A cheap, cloneable stop flag that async code can wait on.
#[derive(Debug, Clone)]
pub struct StopSignal {
    tx: Arc<watch::Sender<Option<StopReason>>>,
    rx: watch::Receiver<Option<StopReason>>,
}

impl Default for StopSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl StopSignal {
    pub fn new() -> StopSignal {
        let (tx, rx) = watch::channel(None);
        StopSignal {
            tx: Arc::new(tx),
            rx,
        }
    }

    /// Asks the scan to stop; the first reason given wins.
    pub fn stop(&self, reason: StopReason) {
        self.tx.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason);
                true
            } else {
                false
            }
        });
    }

    pub fn reason(&self) -> Option<StopReason> {
        *self.rx.borrow()
    }

    pub fn is_stopped(&self) -> bool {
        self.reason().is_some()
    }

    /// Resolves once a stop is asked.
    pub async fn stopped(&self) {
        let mut rx = self.rx.clone();
        // The sender lives in `self`, so `wait_for` cannot fail while we hold it.
        let _ = rx.wait_for(|r| r.is_some()).await;
    }

    /// Sleeps until `at`; returns `false` (at once) if the scan stops first.
    pub async fn sleep_until(&self, at: tokio::time::Instant) -> bool {
        if self.is_stopped() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep_until(at) => !self.is_stopped(),
            () = self.stopped() => false,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Events

/// What the scan tells its watchers. The CLI turns these into a progress bar or log lines.
#[derive(Debug, Clone, PartialEq)]
pub enum ScanEvent {
    Started {
        scan_id: String,
        /// Hosts to probe in this run (after resume), when the target list knows it.
        total_hosts: Option<u64>,
        /// Hosts already done in the journal being resumed.
        resumed_hosts: u64,
        /// The shortest time the pacing allows for the whole run, if known.
        planned: Option<Duration>,
    },
    HostStarted {
        ip: IpAddr,
    },
    /// One request left the process.
    Request {
        ip: IpAddr,
        kind: &'static str,
    },
    ProbeFinished {
        ip: IpAddr,
        protocol: Protocol,
        outcome: ProbeOutcome,
    },
    HostFinished {
        ip: IpAddr,
        state: HostState,
        identified: bool,
        errored: bool,
    },
    /// A target was skipped before anything was sent (excluded, or not a unicast address).
    Skipped {
        ip: IpAddr,
        reason: String,
    },
    Stopping {
        reason: StopReason,
    },
    /// The hosts are done, but devices still hold connections open after our FIN (see
    /// [`LeftAlone::HeldOpen`]): the scan keeps draining them for at most `up_to` before it
    /// returns.
    Draining {
        connections: usize,
        up_to: Duration,
    },
    Finished {
        status: ScanStatus,
    },
}

/// Receives events; called from the scan's tasks, so keep it quick.
pub type EventSink = Arc<dyn Fn(&ScanEvent) + Send + Sync>;

/// An event sink that drops everything.
pub fn no_events() -> EventSink {
    Arc::new(|_| {})
}

// ---------------------------------------------------------------------------------------
// Results

/// How a scan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanStatus {
    Complete,
    Interrupted,
    WindowEnded,
}

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

// ---------------------------------------------------------------------------------------
// Configuration

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

/// The targets to probe, produced lazily.
pub struct Targets {
    pub iter: Box<dyn Iterator<Item = IpAddr> + Send>,
    /// How many the iterator yields, when known.
    pub total: Option<u64>,
}

impl fmt::Debug for Targets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Targets")
            .field("total", &self.total)
            .finish()
    }
}

impl Targets {
    pub fn list(ips: Vec<IpAddr>) -> Targets {
        Targets {
            total: Some(ips.len() as u64),
            iter: Box::new(ips.into_iter()),
        }
    }
}

/// Everything [`run`] needs.
#[derive(Debug)]
pub struct ScanConfig {
    pub scan_id: String,
    pub profile: Profile,
    pub profile_sha256: String,
    pub targets: Targets,
    /// Never probed, whatever the targets say (re-checked per host).
    pub exclusions: Vec<IpNet>,
    /// When set, a target outside it is never probed (re-checked per host: the resolved
    /// scope already has the exclusions subtracted).
    pub scope: Option<TargetSet>,
    /// Non-standard ports per host (simulators, labs); otherwise the profile's ports.
    pub ports: HashMap<(IpAddr, Protocol), u16>,
    /// No request is issued after this time; the scan ends `window_ended`.
    pub deadline: Option<DateTime<Utc>>,
    /// Where outcomes are journaled as they arrive.
    pub journal: Option<Journal>,
    /// Hosts from `--resume`: those [`HostState::Done`] are not probed again and are
    /// included in the report; those [`HostState::Interrupted`] (an earlier run started
    /// them, see [`super::journal::Resumed::carried`]) are probed again without repeating
    /// their finished probes, and the requests earlier runs sent them count in their
    /// probes' tallies and against each probe's budget.
    pub resumed: BTreeMap<IpAddr, HostReport>,
    pub sessions: Arc<dyn SessionFactory>,
    /// The close hold: how long to wait for a device's FIN after ours before leaving the
    /// connection open (drained in the background) and the host alone for the rest of the
    /// scan. The CLI takes it from the profile ([`crate::profile::Pacing::close_hold`]).
    pub close_timeout: Duration,
    /// What passive data said about the hosts (`--from-passive`), if anything.
    pub passive: Option<PassiveGuide>,
}

/// What passive data tells the scan about each host (`otscout scan --from-passive`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassiveGuide {
    /// Identities already known: vendor rules apply from the first probe (a passively
    /// identified Rockwell device is not sent S7).
    pub identities: HashMap<IpAddr, Vec<Identity>>,
    /// Modbus unit ids seen in traffic: tried first, and allowed even when the profile's
    /// `allow_other_unit_ids` is false (the device is known to answer to them).
    pub modbus_units: HashMap<IpAddr, Vec<u8>>,
    /// S7 TSAPs seen in traffic: tried first, when the profile's TSAP rules allow them.
    pub s7_tsaps: HashMap<IpAddr, Vec<u16>>,
    /// Hosts not to probe at all, with the reason (`--skip-identified`).
    pub skip: HashMap<IpAddr, String>,
}

/// The most unit ids one host is tried with ([`super::modbus::MAX_UNIT_IDS`]).
pub use super::modbus::MAX_UNIT_IDS;
/// The most TSAPs one host is tried with (the profile's own limit).
const MAX_TSAPS: usize = 8;

/// One host's profile under passive guidance, and what the caps left out.
#[derive(Debug, Clone, PartialEq)]
pub struct HostProfile {
    pub profile: Profile,
    /// Shown in the plan and kept on the host in the result (a cap that left unit ids
    /// out).
    pub notes: Vec<String>,
}

impl PassiveGuide {
    /// The profile for one host: its observed unit ids and TSAPs first, then the
    /// profile's own, within the caps ([`super::modbus::unit_plan`] for unit ids, which
    /// the dry run's plan uses too). A TSAP the profile's rules would refuse (a
    /// connection type other than PG/OP/S7-basic, or 0x0101 unless allowed) is not used
    /// even when observed.
    pub fn profile_for(&self, ip: IpAddr, profile: &Profile) -> Option<HostProfile> {
        let units = self.modbus_units.get(&ip).filter(|u| !u.is_empty());
        let tsaps: Vec<u16> = self
            .s7_tsaps
            .get(&ip)
            .into_iter()
            .flatten()
            .copied()
            .filter(|t| (1..=3).contains(&(t >> 8)))
            .filter(|t| *t != 0x0101 || profile.s7.allow_tsap_0101)
            .collect();
        if units.is_none() && tsaps.is_empty() {
            return None;
        }
        let mut p = profile.clone();
        let mut notes = Vec::new();
        if let Some(units) = units {
            let plan = super::modbus::unit_plan(units, &profile.modbus.unit_ids);
            notes.extend(plan.note());
            p.modbus.unit_ids = plan.tried;
        }
        if !tsaps.is_empty() {
            p.s7.tsaps = first_then(&tsaps, &profile.s7.tsaps, MAX_TSAPS);
        }
        Some(HostProfile { profile: p, notes })
    }
}

/// `first` then `then`, without duplicates, at most `max` long.
fn first_then<T: Copy + PartialEq>(first: &[T], then: &[T], max: usize) -> Vec<T> {
    let mut v: Vec<T> = Vec::new();
    for x in first.iter().chain(then) {
        if v.len() < max && !v.contains(x) {
            v.push(*x);
        }
    }
    v
}

/// Why a scan could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    #[error("profile {profile}: {reason}")]
    Profile { profile: String, reason: String },
    #[error(transparent)]
    Journal(#[from] JournalError),
}

// ---------------------------------------------------------------------------------------
// The run

struct Ctx {
    scan_id: String,
    profile: Profile,
    profile_sha256: String,
    exclusions: Vec<IpNet>,
    ports: HashMap<(IpAddr, Protocol), u16>,
    journal: Option<Journal>,
    sessions: Arc<dyn SessionFactory>,
    pacer: std::sync::Mutex<Pacer>,
    /// governor's independent belt on the global rate, behind the Pacer.
    gate: GlobalGate,
    driver: DriverConfig,
    events: EventSink,
    stop: StopSignal,
    passive: PassiveGuide,
    /// Connections devices held open past the close hold, each drained until the device
    /// closes it.
    held: std::sync::Mutex<JoinSet<()>>,
    /// Hosts an earlier run started and did not finish (from `--resume`).
    carried: BTreeMap<IpAddr, HostReport>,
}

/// Runs a scan to its end, a stop, or the deadline, and returns what it found.
///
/// The caller owns `stop` (wire SIGINT to it); `events` receives progress. Journal lines
/// are queued as outcomes arrive; the caller finishes the journal handle afterwards.
pub async fn run(
    config: ScanConfig,
    events: EventSink,
    stop: StopSignal,
) -> Result<ScanReport, ScanError> {
    let started = Utc::now();
    let p = &config.profile.pacing;
    if !(p.max_rate.is_finite() && p.max_rate > 0.0) || p.hosts_in_flight == 0 {
        return Err(ScanError::Profile {
            profile: config.profile.name.clone(),
            reason: format!(
                "pacing needs max_rate > 0 and hosts_in_flight >= 1, got max_rate {} and hosts_in_flight {}",
                p.max_rate, p.hosts_in_flight
            ),
        });
    }
    let ctx = Arc::new(Ctx {
        scan_id: config.scan_id.clone(),
        pacer: std::sync::Mutex::new(Pacer::from_pacing(p)),
        gate: GlobalGate::belt(p),
        driver: DriverConfig {
            connect_timeout: Duration::from_millis(p.connect_timeout_ms),
            response_timeout: Duration::from_millis(p.response_timeout_ms),
            close_timeout: config.close_timeout,
        },
        profile: config.profile.clone(),
        profile_sha256: config.profile_sha256.clone(),
        exclusions: config.exclusions.clone(),
        ports: config.ports.clone(),
        journal: config.journal.clone(),
        sessions: Arc::clone(&config.sessions),
        events: Arc::clone(&events),
        stop: stop.clone(),
        passive: config.passive.clone().unwrap_or_default(),
        held: std::sync::Mutex::new(JoinSet::new()),
        carried: config
            .resumed
            .iter()
            .filter(|(_, h)| h.state != HostState::Done)
            .map(|(ip, h)| (*ip, h.clone()))
            .collect(),
    });

    let mut resumed = config.resumed;
    // Unfinished hosts are probed again; they come back below only if this run does not
    // reach them, so what earlier runs sent them still counts.
    let mut carried_back: BTreeMap<IpAddr, HostReport> = BTreeMap::new();
    resumed.retain(|ip, h| {
        if h.state == HostState::Done {
            true
        } else {
            carried_back.insert(*ip, h.clone());
            false
        }
    });
    let total = config
        .targets
        .total
        .map(|t| t.saturating_sub(resumed.len() as u64));
    events(&ScanEvent::Started {
        scan_id: config.scan_id.clone(),
        total_hosts: total,
        resumed_hosts: resumed.len() as u64,
        planned: total.map(|n| planned_duration(&ctx.profile, n)),
    });

    // The deadline becomes a stop.
    let deadline_task = config.deadline.map(|d| {
        let stop = stop.clone();
        tokio::spawn(async move {
            let left = (d - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::time::sleep(left).await;
            stop.stop(StopReason::WindowEnded);
        })
    });
    let stop_note = {
        let stop = stop.clone();
        let events = Arc::clone(&events);
        tokio::spawn(async move {
            stop.stopped().await;
            if let Some(reason) = stop.reason() {
                events(&ScanEvent::Stopping { reason });
            }
        })
    };

    let slots = Arc::new(Semaphore::new(ctx.profile.pacing.hosts_in_flight));
    let mut tasks: JoinSet<HostReport> = JoinSet::new();
    let mut hosts: BTreeMap<IpAddr, HostReport> = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut seen = BTreeSet::new();
    let mut targets = config.targets.iter;
    loop {
        if stop.is_stopped() {
            break;
        }
        // Collect finished hosts as we go, so memory stays bounded by hosts in flight.
        while let Some(done) = tasks.try_join_next() {
            collect(&mut hosts, done, &ctx);
        }
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = stop.stopped() => break,
        };
        let Some(ip) = targets.next() else {
            break;
        };
        if resumed.contains_key(&ip) || !seen.insert(ip) {
            continue;
        }
        let outside = config
            .scope
            .as_ref()
            .filter(|s| !s.contains(ip))
            .map(|_| format!("{ip} is outside the resolved scope"));
        let refused = outside
            .or_else(|| refuse_target(ip, &ctx.exclusions))
            .or_else(|| ctx.passive.skip.get(&ip).cloned());
        if let Some(reason) = refused {
            events(&ScanEvent::Skipped {
                ip,
                reason: reason.clone(),
            });
            skipped.push((ip, reason));
            continue;
        }
        let ctx = Arc::clone(&ctx);
        tasks.spawn(async move {
            let report = probe_host(&ctx, ip).await;
            drop(permit);
            report
        });
    }
    while let Some(done) = tasks.join_next().await {
        collect(&mut hosts, done, &ctx);
    }
    drain_held(&ctx).await;
    if let Some(t) = deadline_task {
        t.abort();
    }
    stop_note.abort();

    let resumed_hosts = resumed.len() as u64;
    for (ip, h) in resumed.into_iter().chain(carried_back) {
        hosts.entry(ip).or_insert(h);
    }
    let status = match stop.reason() {
        None => ScanStatus::Complete,
        Some(StopReason::WindowEnded) => ScanStatus::WindowEnded,
        Some(StopReason::Interrupted | StopReason::JournalFailed) => ScanStatus::Interrupted,
    };
    events(&ScanEvent::Finished { status });
    Ok(ScanReport {
        scan_id: config.scan_id,
        profile: config.profile.name,
        profile_sha256: config.profile_sha256,
        status,
        started,
        finished: Utc::now(),
        hosts: hosts.into_values().collect(),
        skipped,
        resumed_hosts,
    })
}

/// Gives the connections devices still hold open one more close hold to end before the
/// scan returns (not cut short by a stop: the drain is what keeps the kernel from
/// answering the device's late bytes with a RST). Those still open afterwards keep being
/// drained until the runtime shuts down, when each reads what is pending before it closes.
async fn drain_held(ctx: &Ctx) {
    let mut held = std::mem::take(&mut *ctx.held.lock().unwrap_or_else(|e| e.into_inner()));
    while held.try_join_next().is_some() {}
    if held.is_empty() {
        return;
    }
    let up_to = ctx.driver.close_timeout;
    (ctx.events)(&ScanEvent::Draining {
        connections: held.len(),
        up_to,
    });
    let deadline = tokio::time::Instant::now() + up_to;
    while let Ok(Some(_)) = tokio::time::timeout_at(deadline, held.join_next()).await {}
    held.detach_all();
}

fn collect(
    hosts: &mut BTreeMap<IpAddr, HostReport>,
    done: Result<HostReport, tokio::task::JoinError>,
    ctx: &Ctx,
) {
    match done {
        Ok(h) => {
            hosts.insert(h.ip, h);
        }
        // A host task cannot panic by design; if one did, stop rather than report a
        // silently partial result.
        Err(_) => ctx.stop.stop(StopReason::Interrupted),
    }
    if let Some(j) = &ctx.journal {
        if j.failure().is_some() {
            ctx.stop.stop(StopReason::JournalFailed);
        }
    }
}

/// Why a target must not be touched, if so.
///
/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.5`) reaches the IPv4 host through a
/// dual-stack socket, so it is judged as that IPv4 address too: an IPv4 exclusion, or an
/// IPv4 multicast or broadcast address, refuses it.
pub fn refuse_target(ip: IpAddr, exclusions: &[IpNet]) -> Option<String> {
    let canonical = ip.to_canonical();
    if let Some(net) = exclusions
        .iter()
        .find(|n| n.contains(&ip) || n.contains(&canonical))
    {
        return Some(format!("excluded by {net}"));
    }
    let bad = match canonical {
        IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast() || v4.is_unspecified(),
        IpAddr::V6(v6) => v6.is_multicast() || v6.is_unspecified(),
    };
    bad.then(|| format!("{ip} is not a unicast host address"))
}

/// The shortest time the pacing allows: the global rate over all requests, or the
/// per-host chain of intervals spread over the hosts in flight, whichever is longer.
fn planned_duration(profile: &Profile, hosts: u64) -> Duration {
    let per_host = planned_requests_per_host(profile) as f64;
    let p = &profile.pacing;
    let by_rate = hosts as f64 * per_host / p.max_rate.max(f64::MIN_POSITIVE);
    let chain = per_host * p.host_interval_ms as f64 / 1000.0;
    let by_hosts = chain * (hosts as f64 / p.hosts_in_flight.max(1) as f64).ceil();
    Duration::from_secs_f64(by_rate.max(by_hosts).min(1e9))
}

/// Requests a fully answering host receives: List Identity (+ List Services); one read
/// code per unit id tried at most; COTP + setup + SZLs + disconnect per TSAP tried.
fn planned_requests_per_host(profile: &Profile) -> u64 {
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
fn protocol_plan(profile: &Profile) -> Vec<Protocol> {
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

fn endpoint_for(ctx: &Ctx, ip: IpAddr, protocol: Protocol) -> (u16, Transport) {
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

async fn probe_host(ctx: &Ctx, ip: IpAddr) -> HostReport {
    let started = Utc::now();
    (ctx.events)(&ScanEvent::HostStarted { ip });
    let pacing = &ctx.profile.pacing;
    let mut clock = HostClock::new(
        Duration::from_millis(pacing.host_interval_ms),
        Duration::from_millis(pacing.cooldown_ms),
    );
    let plan = protocol_plan(&ctx.profile);
    let mut probes = Vec::new();
    let mut state = HostState::Done;
    // What passive data already knows: vendor rules apply from the first probe.
    let mut identities: Vec<Identity> =
        ctx.passive.identities.get(&ip).cloned().unwrap_or_default();
    let guided = ctx.passive.profile_for(ip, &ctx.profile);
    let notes: Vec<String> = guided.as_ref().map(|g| g.notes.clone()).unwrap_or_default();
    let host_profile = guided.as_ref().map_or(&ctx.profile, |g| &g.profile);
    // (transport, port) already recorded as an open service on this host.
    let mut services: BTreeSet<(Transport, u16)> = BTreeSet::new();
    let mut left_alone: Option<LeftAlone> = None;
    // What earlier runs of this scan did to this host (`--resume`).
    let carried = ctx.carried.get(&ip);
    let mut earlier: BTreeMap<Protocol, ProbeReport> = BTreeMap::new();
    let mut finished_before: BTreeMap<Protocol, ProbeReport> = BTreeMap::new();
    for p in carried.into_iter().flat_map(|h| &h.probes) {
        if super::journal::finished(p) {
            finished_before.insert(p.protocol, p.clone());
        } else {
            earlier.insert(p.protocol, p.clone());
        }
    }

    for &protocol in &plan {
        if ctx.stop.is_stopped() {
            state = HostState::Interrupted;
            break;
        }
        if let Some(done) = finished_before.remove(&protocol) {
            // Finished by an earlier run: its findings stand and nothing is sent again.
            identities.extend(done.observations.iter().filter_map(|o| match &o.fact {
                Fact::Identity { identity } => Some(identity.clone()),
                _ => None,
            }));
            for o in &done.observations {
                if let Fact::Service {
                    transport, port, ..
                } = o.fact
                {
                    services.insert((transport, port));
                }
            }
            probes.push(done);
            continue;
        }
        let before = earlier.remove(&protocol);
        let sent_before: u64 = before
            .iter()
            .flat_map(|p| &p.requests)
            .map(|r| r.count)
            .sum();
        // The probe's budget is its plan (the same plan the dry run shows): requests an
        // earlier run sent it count against it, so a resumed host never gets more than
        // the profile allows in total.
        let budget = if sent_before > 0 {
            let allowed = crate::plan::probe_plans(host_profile)
                .iter()
                .find(|pp| pp.protocol == protocol)
                .map_or(0, |pp| pp.max_requests() as u64);
            Some((allowed, allowed.saturating_sub(sent_before)))
        } else {
            None
        };
        let (port, transport) = endpoint_for(ctx, ip, protocol);
        let now = Utc::now();
        let skip = |outcome: ProbeOutcome, detail: String| ProbeReport {
            protocol,
            transport,
            port,
            outcome,
            detail: Some(detail),
            started: now,
            finished: now,
            connections: 0,
            requests: Vec::new(),
            observations: Vec::new(),
            cut_short: false,
        };
        let names = identity_names(&identities);
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let rules = ctx.profile.rules_for(&name_refs);
        let trip = ctx
            .pacer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .trip(ip)
            .map(|t| t.reason.clone());
        // A drive cut short by a stop leaves the host unfinished whatever it learned
        // first (an identity from SZL 0x0011 without 0x001C is partial).
        let mut cut_short = false;
        let report = if let Some(why) = &left_alone {
            let LeftAlone::HeldOpen {
                protocol: p,
                port: held_port,
                hold_ms,
                ..
            } = why;
            skip(
                ProbeOutcome::LeftAlone,
                format!(
                    "not tried: the device kept its side of the {p:?} connection to port {held_port} open after our FIN for more than {:.1} s; otscout does not connect to it again in this scan",
                    *hold_ms as f64 / 1000.0
                ),
            )
        } else if let Some((allowed, 0)) = budget {
            let mut r = skip(
                ProbeOutcome::BudgetSpent,
                format!(
                    "not sent again: earlier runs of this scan sent this probe {sent_before} requests, its plan allows {allowed}"
                ),
            );
            // What the earlier run learned before it stopped still stands.
            if let Some(b) = &before {
                r.observations = b.observations.clone();
            }
            r
        } else if let Some(reason) = trip {
            let mut r = skip(ProbeOutcome::CircuitOpen, format!("breaker open: {reason}"));
            r.observations.push(observation(
                ctx,
                ip,
                Fact::NoAnswer {
                    protocol,
                    port,
                    outcome: NoAnswerKind::CircuitOpen,
                },
                "none",
                now,
                None,
            ));
            r
        } else if rules.skip_protocols.contains(&protocol) {
            let why = if rules.notes.is_empty() {
                String::new()
            } else {
                format!(": {}", rules.notes.join("; "))
            };
            skip(
                ProbeOutcome::SkippedByRule,
                format!(
                    "vendor rule {} skips {protocol:?}{why}",
                    rules.matched.join(", ")
                ),
            )
        } else if let Some(inner) = ctx.sessions.session(protocol, ip, port, host_profile) {
            let mut session = Budgeted {
                inner,
                left: budget.map(|(_, left)| left),
                spent: false,
            };
            // Vendor rules may ask for a longer interval and cool-down once the device
            // is known; the pacer holds the profile's own.
            clock.interval = Duration::from_millis(rules.host_interval_ms);
            clock.cooldown = Duration::from_millis(rules.cooldown_ms);
            let endpoint = Endpoint {
                addr: SocketAddr::new(ip, port),
                transport,
            };
            let known = &identities;
            let mid_session_rules = move |id: &Identity| {
                let mut all = known.clone();
                all.push(id.clone());
                let names = identity_names(&all);
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let r = ctx.profile.rules_for(&refs);
                (
                    Duration::from_millis(r.host_interval_ms),
                    Duration::from_millis(r.cooldown_ms),
                )
            };
            let on_sent = |kind: &'static str| {
                // Journaled as it leaves: the ledger of a resumed scan counts it even if
                // this run is killed before the probe ends.
                if let Some(j) = &ctx.journal {
                    j.append(&JournalLine::Sent {
                        ip,
                        protocol,
                        kind: kind.to_owned(),
                        at: Utc::now(),
                    });
                }
                (ctx.events)(&ScanEvent::Request { ip, kind });
            };
            let drive = driver::drive(
                &mut session,
                endpoint,
                &ctx.driver,
                Pacing {
                    pacer: &ctx.pacer,
                    gate: Some(&ctx.gate),
                    host: ip,
                    extra: &mut clock,
                    rules: Some(&mid_session_rules),
                },
                &ctx.stop,
                &on_sent,
            )
            .await;
            cut_short = drive.end == DriveEnd::Stopped;
            let mut drive = drive;
            let held = drive.left_open.take().map(|open| {
                let why = LeftAlone::HeldOpen {
                    protocol,
                    port,
                    fin_at: open.fin_at,
                    hold_ms: u64::try_from(open.hold.as_millis()).unwrap_or(u64::MAX),
                };
                // Kept until the device closes it (or the process ends): dropped now, a
                // byte the device still sends would be answered with a RST.
                ctx.held
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .spawn(async move {
                        let bytes = open.drain_until_closed().await;
                        tracing::debug!(%ip, bytes, "a held connection closed at last");
                    });
                why
            });
            let mut r = probe_report(ctx, ip, protocol, port, transport, now, drive);
            r.cut_short = cut_short;
            if session.spent {
                let (allowed, _) = budget.unwrap_or_default();
                r.detail = Some(format!(
                    "stopped at its budget: earlier runs of this scan sent this probe {sent_before} requests, its plan allows {allowed}"
                ));
            }
            if let Some(why) = held {
                r.observations.push(observation(
                    ctx,
                    ip,
                    Fact::NoAnswer {
                        protocol,
                        port,
                        outcome: NoAnswerKind::HeldOpen,
                    },
                    "none",
                    now,
                    None,
                ));
                let LeftAlone::HeldOpen { hold_ms, .. } = &why;
                let note = format!(
                    "the device kept its side open after our FIN for more than {:.1} s: left alone for the rest of the scan",
                    *hold_ms as f64 / 1000.0
                );
                r.detail = Some(match r.detail.take() {
                    Some(d) => format!("{d}; {note}"),
                    None => note,
                });
                left_alone = Some(why);
            }
            // Once per host, port and transport, even when two protocols share a port.
            r.observations.retain(|o| match o.fact {
                Fact::Service {
                    transport, port, ..
                } => services.insert((transport, port)),
                _ => true,
            });
            r
        } else {
            continue;
        };
        let mut report = report;
        if let Some(b) = &before {
            absorb_requests(&mut report.requests, &b.requests);
            report.connections += b.connections;
        }

        // A host left alone is done with, stopped or not: `--resume` must not connect to
        // it again either.
        if (report.outcome == ProbeOutcome::Interrupted || cut_short) && left_alone.is_none() {
            state = HostState::Interrupted;
        }
        identities.extend(report.observations.iter().filter_map(|o| match &o.fact {
            Fact::Identity { identity } => Some(identity.clone()),
            _ => None,
        }));
        if let Some(j) = &ctx.journal {
            j.append(&JournalLine::Probe {
                ip,
                probe: report.clone(),
            });
        }
        (ctx.events)(&ScanEvent::ProbeFinished {
            ip,
            protocol,
            outcome: report.outcome,
        });
        probes.push(report);
        if state == HostState::Interrupted {
            break;
        }
    }
    // Probes an earlier run started that this run did not reach again (it stopped
    // first): what they sent still counts.
    probes.extend(earlier.into_values());
    probes.extend(finished_before.into_values());
    ctx.pacer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .finish_host(ip, std::time::Instant::now());
    let host = HostReport {
        ip,
        state,
        started: carried.map_or(started, |c| c.started.min(started)),
        finished: Utc::now(),
        probes,
        left_alone,
        notes,
    };
    if state == HostState::Done {
        if let Some(j) = &ctx.journal {
            j.append(&JournalLine::Host { host: host.clone() });
        }
    }
    (ctx.events)(&ScanEvent::HostFinished {
        ip,
        state,
        identified: host.identified(),
        errored: host.errored(),
    });
    host
}

fn probe_report(
    ctx: &Ctx,
    ip: IpAddr,
    protocol: Protocol,
    port: u16,
    transport: Transport,
    started: DateTime<Utc>,
    drive: DriveReport,
) -> ProbeReport {
    let mut tallies: BTreeMap<&'static str, RequestTally> = BTreeMap::new();
    for s in &drive.sent {
        tallies
            .entry(s.kind)
            .and_modify(|t| {
                t.count += 1;
                t.last = s.at;
            })
            .or_insert_with(|| RequestTally {
                kind: s.kind.to_owned(),
                count: 1,
                first: s.at,
                last: s.at,
            });
    }
    let seen = drive.sent.last().map_or(started, |s| s.at);
    let observations: Vec<Observation> = drive
        .findings
        .iter()
        .map(|f| {
            observation(
                ctx,
                ip,
                f.fact.clone(),
                f.request,
                seen,
                f.raw.as_deref().map(hex::encode),
            )
        })
        .collect();
    let mut observations = observations;
    if let Some((request, at)) = service_evidence(transport, &drive) {
        // An open service is worth recording on its own: a device that accepts a
        // connection but never answers (a hung RTU) is still an asset.
        observations.push(observation(
            ctx,
            ip,
            Fact::Service {
                transport,
                port,
                protocol,
            },
            request,
            at.unwrap_or(started),
            None,
        ));
    }
    let (outcome, mut detail) = classify(&drive, &observations);
    if let DriveEnd::Tripped(reason) = &drive.end {
        detail = Some(format!("breaker opened: {reason}"));
    }
    ProbeReport {
        protocol,
        transport,
        port,
        outcome,
        detail,
        started,
        finished: Utc::now(),
        connections: drive.connections,
        requests: tallies.into_values().collect(),
        observations,
        cut_short: false,
    }
}

/// Adds `more` to `into`, kind by kind.
fn absorb_requests(into: &mut Vec<RequestTally>, more: &[RequestTally]) {
    for m in more {
        match into.iter_mut().find(|t| t.kind == m.kind) {
            Some(t) => {
                t.count += m.count;
                t.first = t.first.min(m.first);
                t.last = t.last.max(m.last);
            }
            None => into.push(m.clone()),
        }
    }
    into.sort_by(|a, b| a.kind.cmp(&b.kind));
}

/// A session held to a budget of requests (`--resume`: what earlier runs sent a probe
/// counts against its plan). When the budget is spent, the next request is not asked
/// for: the session is finished instead (the driver closes with FIN).
#[derive(Debug)]
struct Budgeted {
    inner: Box<dyn Session>,
    /// Requests still allowed; `None`: no budget beyond the driver's own caps.
    left: Option<u64>,
    /// A request was held back.
    spent: bool,
}

impl Budgeted {
    fn check(&mut self, step: Step) -> Step {
        match (step, self.left.as_mut()) {
            (Step::Send(_), Some(0)) => {
                self.spent = true;
                Step::Done
            }
            // A new connection for nothing to send on it: finish instead.
            (Step::Reconnect, Some(0)) => {
                self.spent = true;
                Step::Done
            }
            (Step::Send(r), Some(left)) => {
                *left -= 1;
                Step::Send(r)
            }
            (step, _) => step,
        }
    }
}

impl Session for Budgeted {
    fn protocol(&self) -> Protocol {
        self.inner.protocol()
    }
    fn on_connected(&mut self, now: std::time::Instant) -> Step {
        let s = self.inner.on_connected(now);
        self.check(s)
    }
    fn on_bytes(&mut self, now: std::time::Instant, bytes: &[u8]) -> Step {
        let s = self.inner.on_bytes(now, bytes);
        self.check(s)
    }
    fn on_timeout(&mut self, now: std::time::Instant) -> Step {
        let s = self.inner.on_timeout(now);
        self.check(s)
    }
    fn on_connection_lost(&mut self, now: std::time::Instant, why: ConnectionLoss) -> Step {
        let s = self.inner.on_connection_lost(now, why);
        self.check(s)
    }
    fn poll_timeout(&self) -> Option<std::time::Instant> {
        self.inner.poll_timeout()
    }
    fn take_findings(&mut self) -> Vec<Finding> {
        self.inner.take_findings()
    }
    fn identity_so_far(&self) -> Option<Identity> {
        self.inner.identity_so_far()
    }
    fn max_connections(&self) -> u32 {
        self.inner.max_connections()
    }
}

/// Whether the drive shows a service listening, and the request that showed it: a TCP
/// connect that succeeded (`tcp_connect`), or a UDP reply (the first request sent).
fn service_evidence(
    transport: Transport,
    drive: &DriveReport,
) -> Option<(&'static str, Option<DateTime<Utc>>)> {
    match transport {
        Transport::Tcp if drive.connections > 0 => {
            Some(("tcp_connect", drive.sent.first().map(|s| s.at)))
        }
        Transport::Udp if drive.replies > 0 => drive.sent.first().map(|s| (s.kind, Some(s.at))),
        _ => None,
    }
}

/// The outcome of a probe, from what the device said first and from how the drive ended
/// when it said nothing.
fn classify(drive: &DriveReport, obs: &[Observation]) -> (ProbeOutcome, Option<String>) {
    match &drive.end {
        DriveEnd::Guard(e) => return (ProbeOutcome::GuardRefused, Some(e.to_string())),
        DriveEnd::Local(e) => return (ProbeOutcome::LocalError, Some(e.clone())),
        DriveEnd::Runaway(what) => {
            return (ProbeOutcome::LocalError, Some(format!("cut off: {what}")));
        }
        DriveEnd::Stopped | DriveEnd::Done | DriveEnd::Tripped(_) | DriveEnd::LeftOpen => {}
    }
    let has = |pred: &dyn Fn(&Fact) -> bool| obs.iter().any(|o| pred(&o.fact));
    if has(&|f| matches!(f, Fact::Identity { .. })) {
        return (ProbeOutcome::Identified, None);
    }
    if has(&|f| matches!(f, Fact::Suspicious { .. })) {
        return (ProbeOutcome::Suspicious, None);
    }
    if has(&|f| matches!(f, Fact::Negative { .. })) {
        return (ProbeOutcome::Negative, None);
    }
    if has(&|f| matches!(f, Fact::NoIdentity { .. })) {
        return (ProbeOutcome::AnsweredNoIdentity, None);
    }
    if drive.end == DriveEnd::Stopped {
        return (ProbeOutcome::Interrupted, Some("the scan stopped".into()));
    }
    let no_answer = obs.iter().find_map(|o| match o.fact {
        Fact::NoAnswer { outcome, .. } => Some(outcome),
        _ => None,
    });
    let from_session = no_answer.map(|k| match k {
        NoAnswerKind::Refused => ProbeOutcome::Refused,
        NoAnswerKind::Timeout => {
            if drive.connections == 0 {
                ProbeOutcome::ConnectTimeout
            } else {
                ProbeOutcome::Timeout
            }
        }
        NoAnswerKind::Reset => ProbeOutcome::Reset,
        NoAnswerKind::NotThisProtocol => ProbeOutcome::NotThisProtocol,
        NoAnswerKind::CircuitOpen => ProbeOutcome::CircuitOpen,
        // Added by the orchestrator after this; a session never says it.
        NoAnswerKind::HeldOpen => ProbeOutcome::NotThisProtocol,
    });
    if let Some(o) = from_session {
        return (o, None);
    }
    // The session said nothing: judge by the transport's history.
    let last = drive.losses.last().copied();
    let outcome = match last {
        Some(ConnectionLoss::Reset) => ProbeOutcome::Reset,
        Some(ConnectionLoss::Refused) => ProbeOutcome::Refused,
        Some(ConnectionLoss::ConnectTimeout) if drive.connections == 0 => {
            ProbeOutcome::ConnectTimeout
        }
        _ if drive.timeouts > 0 => ProbeOutcome::Timeout,
        Some(ConnectionLoss::Closed) => ProbeOutcome::NotThisProtocol,
        _ => ProbeOutcome::NotThisProtocol,
    };
    (outcome, None)
}

fn observation(
    ctx: &Ctx,
    ip: IpAddr,
    fact: Fact,
    request: &str,
    seen: DateTime<Utc>,
    raw_hex: Option<String>,
) -> Observation {
    Observation {
        ip,
        fact,
        provenance: Provenance::Active {
            scan_id: ctx.scan_id.clone(),
            profile: ctx.profile.name.clone(),
            profile_sha256: ctx.profile_sha256.clone(),
            request: request.to_owned(),
        },
        seen: Some(seen),
        raw_hex,
        path: None,
    }
}

/// The names devices answer to for vendor rules: canonical vendor names, families and
/// product names (the profile's rules match when a name contains the rule's `match`).
pub fn identity_names(identities: &[Identity]) -> Vec<String> {
    let mut names = Vec::new();
    for identity in identities {
        match identity {
            Identity::Enip(e) => {
                if let Some(v) = normalize::odva_vendor(e.vendor_id) {
                    names.push(v.to_owned());
                }
                names.push(e.product_name.clone());
            }
            Identity::Modbus(m) => {
                for id in [0u8, 4, 5] {
                    if let Some(v) = m.objects.get(&id) {
                        names.push(if id == 0 {
                            normalize::vendor_name(v)
                        } else {
                            v.clone()
                        });
                    }
                }
            }
            Identity::S7(s) => {
                let vendor = s
                    .manufacturer_id
                    .and_then(normalize::s7_manufacturer)
                    .unwrap_or("Siemens");
                names.push(vendor.to_owned());
                if let Some(f) = s
                    .order_number
                    .as_deref()
                    .and_then(normalize::siemens_family)
                {
                    names.push(f.to_owned());
                }
                names.extend(s.module_type.clone());
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{EnipIdentity, EnipIdentitySource, S7Identity};

    fn observation_of(fact: Fact) -> Observation {
        Observation {
            ip: "10.0.0.1".parse().unwrap(),
            fact,
            provenance: Provenance::Pcap {
                file: "t".into(),
                frame: 1,
            },
            seen: None,
            raw_hex: None,
            path: None,
        }
    }

    #[test]
    fn zero_identity_objects_is_its_own_outcome_and_not_identified() {
        let drive = DriveReport {
            end: DriveEnd::Done,
            findings: vec![],
            sent: vec![],
            connections: 1,
            losses: vec![],
            timeouts: 0,
            replies: 1,
            left_open: None,
        };
        let empty = observation_of(Fact::NoIdentity {
            protocol: Protocol::Modbus,
            port: 502,
            answer: crate::wire::modbus::no_identity_objects_answer(1, 1),
        });
        assert_eq!(
            classify(&drive, std::slice::from_ref(&empty)).0,
            ProbeOutcome::AnsweredNoIdentity
        );
        assert_eq!(
            ProbeOutcome::AnsweredNoIdentity.to_string(),
            "answered_no_identity"
        );
        assert!(!ProbeOutcome::AnsweredNoIdentity.is_error());
        // An exception besides it is the device saying no.
        let exc = observation_of(Fact::Negative {
            protocol: Protocol::Modbus,
            port: 502,
            answer: "unit 2 answered with exception 0x02".into(),
        });
        assert_eq!(classify(&drive, &[empty, exc]).0, ProbeOutcome::Negative);
    }

    #[test]
    fn names_for_vendor_rules() {
        let rockwell = Identity::Enip(EnipIdentity {
            source: EnipIdentitySource::ListIdentity,
            vendor_id: 1,
            device_type: 12,
            product_code: 58,
            revision_major: 4,
            revision_minor: 3,
            status: 0x30,
            serial: 0x0052_4d8e,
            product_name: "1756-ENBT/A".into(),
            state: Some(3),
            encapsulation_version: Some(1),
            socket_addr: None,
        });
        let names = identity_names(std::slice::from_ref(&rockwell));
        assert!(
            names.iter().any(|n| n.to_lowercase().contains("rockwell")),
            "{names:?}"
        );
        let s7 = Identity::S7(Box::new(S7Identity {
            order_number: Some("6ES7 315-2EH14-0AB0 ".into()),
            ..S7Identity::default()
        }));
        let names = identity_names(std::slice::from_ref(&s7));
        assert!(names.contains(&"Siemens".to_owned()), "{names:?}");
        assert!(names.contains(&"S7-300".to_owned()), "{names:?}");
    }

    #[test]
    fn passive_guide_puts_observed_first_within_the_rules() {
        let mut profile = crate::profile::builtin("conservative")
            .expect("built-in")
            .profile;
        profile.modbus.unit_ids = vec![255, 0];
        profile.s7.tsaps = vec![0x0102, 0x0200];
        profile.s7.allow_tsap_0101 = false;
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let other: IpAddr = "10.0.0.10".parse().unwrap();
        let guide = PassiveGuide {
            modbus_units: HashMap::from([(ip, vec![7, 0])]),
            // 0x0101 is not allowed by this profile; 0x0701 is no connection type.
            s7_tsaps: HashMap::from([(ip, vec![0x0101, 0x0701, 0x0300, 0x0200])]),
            ..PassiveGuide::default()
        };
        let p = guide
            .profile_for(ip, &profile)
            .expect("a host profile")
            .profile;
        assert_eq!(p.modbus.unit_ids, [7, 0, 255]);
        assert_eq!(p.s7.tsaps, [0x0300, 0x0200, 0x0102]);
        assert!(guide.profile_for(other, &profile).is_none());
        let many = PassiveGuide {
            modbus_units: HashMap::from([(ip, (1..=40).collect())]),
            ..PassiveGuide::default()
        };
        let host = many.profile_for(ip, &profile).unwrap();
        assert_eq!(host.profile.modbus.unit_ids.len(), MAX_UNIT_IDS);
        // 1..=40 observed, 255 and 0 from the profile: 10 left out, and said so.
        assert_eq!(host.notes.len(), 1, "{:?}", host.notes);
        assert!(
            host.notes[0].contains("10 unit id(s) not tried"),
            "{:?}",
            host.notes
        );
    }

    #[test]
    fn refuses_excluded_and_non_unicast() {
        let ex: Vec<IpNet> = vec!["10.0.0.0/24".parse().unwrap()];
        assert!(
            refuse_target("10.0.0.7".parse().unwrap(), &ex)
                .unwrap()
                .contains("10.0.0.0/24")
        );
        assert!(refuse_target("224.0.0.1".parse().unwrap(), &ex).is_some());
        assert!(refuse_target("255.255.255.255".parse().unwrap(), &ex).is_some());
        assert!(refuse_target("10.0.1.7".parse().unwrap(), &ex).is_none());
    }

    #[test]
    fn ipv4_mapped_ipv6_is_judged_as_its_ipv4_address() {
        let ex: Vec<IpNet> = vec!["10.0.0.0/24".parse().unwrap()];
        assert!(
            refuse_target("::ffff:10.0.0.7".parse().unwrap(), &ex)
                .unwrap()
                .contains("10.0.0.0/24")
        );
        assert!(refuse_target("::ffff:224.0.0.1".parse().unwrap(), &[]).is_some());
        assert!(refuse_target("::ffff:255.255.255.255".parse().unwrap(), &[]).is_some());
        assert!(refuse_target("::ffff:0.0.0.0".parse().unwrap(), &[]).is_some());
        assert!(refuse_target("::ffff:10.0.1.7".parse().unwrap(), &ex).is_none());
    }

    #[tokio::test]
    async fn stop_signal_wakes_sleepers_and_keeps_first_reason() {
        let s = StopSignal::new();
        let s2 = s.clone();
        let far = tokio::time::Instant::now() + Duration::from_secs(3600);
        let sleeper = tokio::spawn(async move { s2.sleep_until(far).await });
        s.stop(StopReason::WindowEnded);
        s.stop(StopReason::Interrupted);
        assert!(!sleeper.await.unwrap());
        assert_eq!(s.reason(), Some(StopReason::WindowEnded));
    }
}
