//! One host's probes: its protocols one after the other (one task, so the device never
//! sees two connections from us at once), under the vendor rules, the breaker, the
//! budget a resumed scan left each probe and the close hold.
//!
//! [`probe_host`] reads as its steps: [`HostRun::new`] (what passive data and earlier
//! runs know), then per protocol [`HostRun::reuse_finished`], [`HostRun::not_tried`] or
//! [`HostRun::drive`], and [`HostRun::record`]; then [`HostRun::finish`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Ctx;
use super::budget::Budgeted;
use super::events::ScanEvent;
use super::names::identity_names;
use super::outcome::{absorb_requests, observation, probe_report};
use super::passive_guide::HostProfile;
use super::sessions::{endpoint_for, protocol_plan};
use crate::inventory::{Fact, Identity, NoAnswerKind, Protocol, Transport};
use crate::probe::Session;
use crate::probe::driver::{self, DriveEnd, Endpoint, Pacing};
use crate::probe::gate::HostClock;
use crate::probe::journal::{self, JournalLine};
use crate::probe::report::{HostReport, HostState, LeftAlone, ProbeOutcome, ProbeReport};
use crate::profile::{EffectiveRules, Profile};

pub(super) async fn probe_host(ctx: &Ctx, ip: IpAddr) -> HostReport {
    let mut host = HostRun::new(ctx, ip);
    for spec in protocol_plan(&ctx.profile) {
        let protocol = spec.protocol();
        if ctx.stop.is_stopped() {
            host.state = HostState::Interrupted;
            break;
        }
        if host.reuse_finished(protocol) {
            continue;
        }
        let before = host.earlier.remove(&protocol);
        let sent_before: u64 = before
            .iter()
            .flat_map(|p| &p.requests)
            .map(|r| r.count)
            .sum();
        let budget = budget_for(host.profile(), protocol, sent_before);
        let Some((port, transport)) = endpoint_for(ctx, ip, spec) else {
            continue;
        };
        let attempt = Attempt {
            protocol,
            port,
            transport,
            now: Utc::now(),
        };
        let names = identity_names(&host.identities);
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let rules = ctx.profile.rules_for(&name_refs);
        // A drive cut short by a stop leaves the host unfinished whatever it learned
        // first (an identity from SZL 0x0011 without 0x001C is partial).
        let mut cut_short = false;
        let report = if let Some(r) =
            host.not_tried(&attempt, &rules, budget, sent_before, before.as_ref())
        {
            r
        } else if let Some(inner) = ctx.sessions.session(protocol, ip, port, host.profile()) {
            let (r, cut) = host
                .drive(&attempt, &rules, budget, sent_before, inner)
                .await;
            cut_short = cut;
            r
        } else {
            continue;
        };
        host.record(report, before.as_ref(), cut_short);
        if host.state == HostState::Interrupted {
            break;
        }
    }
    host.finish()
}

/// The probe's budget is its plan (the same plan the dry run shows): requests an earlier
/// run sent it count against it, so a resumed host never gets more than the profile
/// allows in total. `(allowed, left)`, or `None` when nothing was sent before.
fn budget_for(host_profile: &Profile, protocol: Protocol, sent_before: u64) -> Option<(u64, u64)> {
    if sent_before > 0 {
        let allowed = crate::plan::probe_plans(host_profile)
            .iter()
            .find(|pp| pp.protocol == protocol)
            .map_or(0, |pp| pp.max_requests() as u64);
        Some((allowed, allowed.saturating_sub(sent_before)))
    } else {
        None
    }
}

/// One protocol's probe of the host: where and when it starts.
#[derive(Debug, Clone, Copy)]
struct Attempt {
    protocol: Protocol,
    port: u16,
    transport: Transport,
    now: DateTime<Utc>,
}

impl Attempt {
    /// The report of a probe that sent nothing.
    fn skipped(&self, outcome: ProbeOutcome, detail: String) -> ProbeReport {
        ProbeReport {
            protocol: self.protocol,
            transport: self.transport,
            port: self.port,
            outcome,
            detail: Some(detail),
            started: self.now,
            finished: self.now,
            connections: 0,
            requests: Vec::new(),
            observations: Vec::new(),
            cut_short: false,
        }
    }
}

/// What a host's probes carry from one protocol to the next.
struct HostRun<'a> {
    ctx: &'a Ctx,
    ip: IpAddr,
    started: DateTime<Utc>,
    clock: HostClock,
    probes: Vec<ProbeReport>,
    state: HostState,
    /// What passive data already knows, then what the probes learn: vendor rules apply
    /// from the first probe.
    identities: Vec<Identity>,
    guided: Option<HostProfile>,
    notes: Vec<String>,
    /// (transport, port) already recorded as an open service on this host.
    services: BTreeSet<(Transport, u16)>,
    left_alone: Option<LeftAlone>,
    /// What earlier runs of this scan did to this host (`--resume`).
    carried: Option<&'a HostReport>,
    earlier: BTreeMap<Protocol, ProbeReport>,
    finished_before: BTreeMap<Protocol, ProbeReport>,
}

impl<'a> HostRun<'a> {
    fn new(ctx: &'a Ctx, ip: IpAddr) -> HostRun<'a> {
        let started = Utc::now();
        (ctx.events)(&ScanEvent::HostStarted { ip });
        let pacing = &ctx.profile.pacing;
        let clock = HostClock::new(
            Duration::from_millis(pacing.host_interval_ms),
            Duration::from_millis(pacing.cooldown_ms),
        );
        let identities: Vec<Identity> =
            ctx.passive.identities.get(&ip).cloned().unwrap_or_default();
        let guided = ctx.passive.profile_for(ip, &ctx.profile);
        let notes: Vec<String> = guided.as_ref().map(|g| g.notes.clone()).unwrap_or_default();
        let carried = ctx.carried.get(&ip);
        let mut earlier: BTreeMap<Protocol, ProbeReport> = BTreeMap::new();
        let mut finished_before: BTreeMap<Protocol, ProbeReport> = BTreeMap::new();
        for p in carried.into_iter().flat_map(|h| &h.probes) {
            if journal::finished(p) {
                finished_before.insert(p.protocol, p.clone());
            } else {
                earlier.insert(p.protocol, p.clone());
            }
        }
        HostRun {
            ctx,
            ip,
            started,
            clock,
            probes: Vec::new(),
            state: HostState::Done,
            identities,
            guided,
            notes,
            services: BTreeSet::new(),
            left_alone: None,
            carried,
            earlier,
            finished_before,
        }
    }

    /// The profile for this host (passive guidance applied).
    fn profile(&self) -> &Profile {
        self.guided
            .as_ref()
            .map_or(&self.ctx.profile, |g| &g.profile)
    }

    /// A probe an earlier run finished: its findings stand and nothing is sent again.
    fn reuse_finished(&mut self, protocol: Protocol) -> bool {
        let Some(done) = self.finished_before.remove(&protocol) else {
            return false;
        };
        self.identities
            .extend(done.observations.iter().filter_map(|o| match &o.fact {
                Fact::Identity { identity } => Some(identity.clone()),
                _ => None,
            }));
        for o in &done.observations {
            if let Fact::Service {
                transport, port, ..
            } = o.fact
            {
                self.services.insert((transport, port));
            }
        }
        self.probes.push(done);
        true
    }

    /// The report of a probe not sent at all, and why: the host is left alone, the
    /// budget is spent, the breaker is open, or a vendor rule skips the protocol.
    fn not_tried(
        &self,
        attempt: &Attempt,
        rules: &EffectiveRules,
        budget: Option<(u64, u64)>,
        sent_before: u64,
        before: Option<&ProbeReport>,
    ) -> Option<ProbeReport> {
        let (ctx, ip, protocol) = (self.ctx, self.ip, attempt.protocol);
        let trip = ctx
            .pacer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .trip(ip)
            .map(|t| t.reason.clone());
        let report = if let Some(why) = &self.left_alone {
            let LeftAlone::HeldOpen {
                protocol: p,
                port: held_port,
                hold_ms,
                ..
            } = why;
            attempt.skipped(
                ProbeOutcome::LeftAlone,
                format!(
                    "not tried: the device kept its side of the {p:?} connection to port {held_port} open after our FIN for more than {:.1} s; otscout does not connect to it again in this scan",
                    *hold_ms as f64 / 1000.0
                ),
            )
        } else if let Some((allowed, 0)) = budget {
            let mut r = attempt.skipped(
                ProbeOutcome::BudgetSpent,
                format!(
                    "not sent again: earlier runs of this scan sent this probe {sent_before} requests, its plan allows {allowed}"
                ),
            );
            // What the earlier run learned before it stopped still stands.
            if let Some(b) = before {
                r.observations = b.observations.clone();
            }
            r
        } else if let Some(reason) = trip {
            let mut r =
                attempt.skipped(ProbeOutcome::CircuitOpen, format!("breaker open: {reason}"));
            r.observations.push(observation(
                ctx,
                ip,
                Fact::NoAnswer {
                    protocol,
                    port: attempt.port,
                    outcome: NoAnswerKind::CircuitOpen,
                },
                "none",
                attempt.now,
                None,
            ));
            r
        } else if rules.skip_protocols.contains(&protocol) {
            let why = if rules.notes.is_empty() {
                String::new()
            } else {
                format!(": {}", rules.notes.join("; "))
            };
            attempt.skipped(
                ProbeOutcome::SkippedByRule,
                format!(
                    "vendor rule {} skips {protocol:?}{why}",
                    rules.matched.join(", ")
                ),
            )
        } else {
            return None;
        };
        Some(report)
    }

    /// Drives the protocol's session against the host; the report, and whether a stop
    /// cut the drive short.
    async fn drive(
        &mut self,
        attempt: &Attempt,
        rules: &EffectiveRules,
        budget: Option<(u64, u64)>,
        sent_before: u64,
        inner: Box<dyn Session>,
    ) -> (ProbeReport, bool) {
        let (ctx, ip) = (self.ctx, self.ip);
        let Attempt {
            protocol,
            port,
            transport,
            now,
        } = *attempt;
        let mut session = Budgeted {
            inner,
            left: budget.map(|(_, left)| left),
            spent: false,
        };
        // Vendor rules may ask for a longer interval and cool-down once the device
        // is known; the pacer holds the profile's own.
        self.clock.interval = Duration::from_millis(rules.host_interval_ms);
        self.clock.cooldown = Duration::from_millis(rules.cooldown_ms);
        let endpoint = Endpoint {
            addr: SocketAddr::new(ip, port),
            transport,
        };
        let known = &self.identities;
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
                extra: &mut self.clock,
                rules: Some(&mid_session_rules),
            },
            &ctx.stop,
            &on_sent,
        )
        .await;
        let cut_short = drive.end == DriveEnd::Stopped;
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
            self.left_alone = Some(why);
        }
        // Once per host, port and transport, even when two protocols share a port.
        let services = &mut self.services;
        r.observations.retain(|o| match o.fact {
            Fact::Service {
                transport, port, ..
            } => services.insert((transport, port)),
            _ => true,
        });
        (r, cut_short)
    }

    /// Adds a probe's report to the host: the requests earlier runs sent it, what it
    /// learned for the next protocol's vendor rules, the journal line and the event.
    fn record(&mut self, report: ProbeReport, before: Option<&ProbeReport>, cut_short: bool) {
        let (ctx, ip) = (self.ctx, self.ip);
        let mut report = report;
        if let Some(b) = before {
            absorb_requests(&mut report.requests, &b.requests);
            report.connections += b.connections;
        }

        // A host left alone is done with, stopped or not: `--resume` must not connect to
        // it again either.
        if (report.outcome == ProbeOutcome::Interrupted || cut_short) && self.left_alone.is_none() {
            self.state = HostState::Interrupted;
        }
        self.identities
            .extend(report.observations.iter().filter_map(|o| match &o.fact {
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
            protocol: report.protocol,
            outcome: report.outcome,
        });
        self.probes.push(report);
    }

    /// The host's report, journaled once the host is done.
    fn finish(self) -> HostReport {
        let (ctx, ip) = (self.ctx, self.ip);
        let mut probes = self.probes;
        // Probes an earlier run started that this run did not reach again (it stopped
        // first): what they sent still counts.
        probes.extend(self.earlier.into_values());
        probes.extend(self.finished_before.into_values());
        ctx.pacer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finish_host(ip, std::time::Instant::now());
        let host = HostReport {
            ip,
            state: self.state,
            started: self
                .carried
                .map_or(self.started, |c| c.started.min(self.started)),
            finished: Utc::now(),
            probes,
            left_alone: self.left_alone,
            notes: self.notes,
        };
        if host.state == HostState::Done {
            if let Some(j) = &ctx.journal {
                j.append(&JournalLine::Host { host: host.clone() });
            }
        }
        (ctx.events)(&ScanEvent::HostFinished {
            ip,
            state: host.state,
            identified: host.identified(),
            errored: host.errored(),
        });
        host
    }
}
