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
//!
//! Files by job: [`events`] (what the scan tells its watchers), [`sessions`] (the session
//! factory, protocol order and endpoints), [`passive_guide`] (`--from-passive`),
//! `host` (one host's probes, step by step), `outcome` (a probe's report from its
//! drive), `budget` (a resumed probe's request budget), [`names`] (names for vendor
//! rules); the report types are in [`crate::probe::report`], the stop signal in
//! [`crate::probe::stop`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::driver::DriverConfig;
use super::journal::{Journal, JournalError};
use crate::inventory::Protocol;
use crate::pace::Pacer;
use crate::pace::edge::GlobalGate;
use crate::profile::Profile;
use crate::target::TargetSet;

mod budget;
pub mod events;
mod host;
pub mod names;
mod outcome;
pub mod passive_guide;
pub mod sessions;

pub use super::report::{
    HostReport, HostState, LeftAlone, ProbeOutcome, ProbeReport, RequestTally, ScanReport,
    ScanStatus,
};
pub use super::stop::{StopReason, StopSignal};
pub use events::{EventSink, ScanEvent, no_events};
pub use names::identity_names;
pub use passive_guide::{HostProfile, MAX_UNIT_IDS, PassiveGuide};
pub use sessions::{BuiltinSessions, SessionFactory};

use host::probe_host;
use sessions::planned_requests_per_host;

// ---------------------------------------------------------------------------------------
// Configuration

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

pub(super) struct Ctx {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
