//! The scan plan: the resolved configuration of a scan ([`ScanConfig`]) and what a dry run
//! shows of it ([`Plan`]): the scope, the exact requests per kind of host, the pacing, the
//! estimated duration, and the profile with its SHA-256.
//!
//! Everything here is pure: building a plan opens no socket and reads no clock. The scope
//! is counted, never materialised, so a plan over a /16 takes microseconds.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::Serialize;

use crate::inventory::Protocol;
use crate::probe::scan::PassiveGuide;
use crate::profile::{self, Loaded, Pacing, Profile, ProfileError};
use crate::protocols::{REGISTRY, spec_for};
use crate::safety::SafeRequest;

pub use crate::protocols::plan::{ConnectionPlan, ProbePlan};
pub use crate::protocols::s7::plan::describe_tsap;
use crate::target::{self, ScopeRequest, SpecInput, TargetError, TargetSet};

/// What the operator asked for, before anything is resolved (the CLI fills it from flags).
#[derive(Debug, Clone, Default)]
pub struct ScanRequest {
    /// Positional target specs.
    pub targets: Vec<String>,
    /// `-i/--targets-file`.
    pub targets_files: Vec<PathBuf>,
    /// `--exclude`.
    pub excludes: Vec<String>,
    /// `--exclude-file`.
    pub exclude_files: Vec<PathBuf>,
    /// `--allow-large-scope`.
    pub allow_large_scope: bool,
    /// `--profile NAME|PATH` (None: [`profile::DEFAULT_PROFILE`]).
    pub profile: Option<String>,
    /// `--set key=value`, in order.
    pub sets: Vec<String>,
}

/// Why a scan could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
}

/// A resolved scan: the scope after exclusions and the validated profile. The scan driver
/// and the dry run both start from this.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    pub targets: TargetSet,
    pub profile: Profile,
    /// `builtin:NAME` or the file path (plus ` + --set`).
    pub profile_origin: String,
    /// Hex SHA-256 of the resolved profile's canonical TOML.
    pub profile_sha256: String,
    /// When the targets came from passive data (`--from-passive`): how.
    pub passive: Option<PassiveScope>,
}

/// How `--from-passive` shaped the targets (shown by the dry run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PassiveScope {
    /// The passive files read.
    pub files: Vec<String>,
    /// Hosts the passive data mentions.
    pub hosts_seen: usize,
    /// Of those, addresses otscout never touches (multicast, broadcast, unspecified).
    pub not_unicast: usize,
    /// Of those, hosts outside the given targets or excluded.
    pub outside_scope: usize,
    /// Hosts from the passive data in the scan's targets.
    pub from_passive: usize,
    /// Of those, hosts not probed because the passive data already identifies them
    /// (`--skip-identified`).
    pub skip_identified: usize,
    /// Hosts with Modbus unit ids observed (tried first).
    pub with_unit_ids: usize,
    /// Hosts with S7 TSAPs observed (tried first).
    pub with_tsaps: usize,
}

impl ScanConfig {
    /// Resolves targets, exclusions and the profile. Reads the named files; nothing else.
    pub fn resolve(req: &ScanRequest) -> Result<ScanConfig, PlanError> {
        let name = req.profile.as_deref().unwrap_or(profile::DEFAULT_PROFILE);
        let loaded = profile::load_with_overrides(name, &req.sets)?;
        let mut scope = ScopeRequest {
            targets: req.targets.iter().map(SpecInput::arg).collect(),
            excludes: req.excludes.iter().map(SpecInput::arg).collect(),
            allow_large_scope: req.allow_large_scope,
        };
        for f in &req.targets_files {
            scope
                .targets
                .extend(target::read_spec_file(f, target::Role::Target)?);
        }
        for f in &req.exclude_files {
            scope
                .excludes
                .extend(target::read_spec_file(f, target::Role::Exclude)?);
        }
        let targets = TargetSet::build(&scope)?;
        Ok(ScanConfig::new(targets, loaded))
    }

    pub fn new(targets: TargetSet, loaded: Loaded) -> ScanConfig {
        ScanConfig {
            targets,
            profile: loaded.profile,
            profile_origin: loaded.origin,
            profile_sha256: loaded.sha256,
            passive: None,
        }
    }
}

/// The probes a profile sends to every host in scope, in the order they run. A probe is
/// skipped for a host once a vendor rule says so ([`Profile::rules_for`]).
///
/// Ids (transaction ids, sender contexts, PDU references, COTP source references) are the
/// first values a session would use; they do not change any length.
pub fn probe_plans(p: &Profile) -> Vec<ProbePlan> {
    // Listed in the order of the profile's sections (the dry run's order since it
    // began; the scan itself runs them in the registry's order).
    profile::section_names()
        .filter_map(|name| REGISTRY.iter().find(|spec| spec.name() == name))
        .filter(|spec| spec.enabled(p))
        .filter_map(|spec| spec.plan(p))
        .collect()
}

/// A dry run's view of a scan: everything a change-control board wants to see.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub profile: PlanProfile,
    pub targets: PlanTargets,
    /// Per kind of host (one entry per protocol probe), the requests in order.
    pub probes: Vec<PlanProbe>,
    pub pacing: Pacing,
    pub estimate: Estimate,
    /// Vendor rules the driver applies once a vendor or family is known.
    pub vendor_rules: Vec<profile::VendorRule>,
    /// How passive data shaped the targets (`--from-passive`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passive: Option<PassiveScope>,
    /// Hosts whose probes differ from `probes` (`--from-passive`: the unit ids and TSAPs
    /// seen in their traffic come first), grouped by what they get. Built by the same
    /// code that configures their sessions in the scan.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub host_variants: Vec<PlanVariant>,
}

/// Hosts that get other Modbus unit ids or S7 TSAPs than the profile's.
#[derive(Debug, Clone, Serialize)]
pub struct PlanVariant {
    /// How many hosts get this.
    pub hosts: usize,
    /// The first of them.
    pub sample: Vec<IpAddr>,
    /// Their Modbus and S7 probes (the others are as in [`Plan::probes`]).
    pub probes: Vec<PlanProbe>,
    /// Requests to one of these hosts when every connection of every probe is used.
    pub requests_per_host_max: u64,
    /// TCP connections to one of these hosts, at most.
    pub connections_per_host_max: u64,
    /// What a cap left out (unit ids beyond the limit).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanProfile {
    pub name: String,
    pub description: String,
    pub origin: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanTargets {
    /// Addresses in scope after exclusions.
    pub count: u128,
    /// Addresses the targets covered before exclusions.
    pub before_exclusions: u128,
    /// Addresses removed by exclusions.
    pub excluded: u128,
    /// The first addresses, in scan order.
    pub sample: Vec<IpAddr>,
    /// The first disjoint ranges of the scope.
    pub ranges: Vec<String>,
    /// How many disjoint ranges there are in all.
    pub range_count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanProbe {
    pub protocol: Protocol,
    pub port: u16,
    pub transport: &'static str,
    pub stop_rule: &'static str,
    pub connections: Vec<PlanConnection>,
    /// Where a limit can stop the probe before its last connection.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanConnection {
    pub purpose: String,
    pub requests: Vec<PlanRequest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanRequest {
    /// [`SafeRequest::kind`].
    pub kind: &'static str,
    /// [`SafeRequest::encoded_len`].
    pub bytes: usize,
    /// The fields that vary (`unit 255, basic`, `SZL 0x0011`, `TSAP 0x0102`).
    pub detail: String,
}

/// The fields of a request that a reviewer needs, beside its kind.
pub fn request_detail(r: &SafeRequest) -> String {
    r.detail()
}

/// Estimated duration, from the pacing alone (network round trips are not known).
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    /// Hosts in scope.
    pub hosts: u128,
    /// Requests to one host when every probe stops at its first connection.
    pub requests_per_host_min: u64,
    /// Requests to one host when every connection of every probe is used.
    pub requests_per_host_max: u64,
    /// TCP connections to one host, at most (one at a time).
    pub connections_per_host_max: u64,
    /// Seconds for one host that answers at once and on its first try.
    pub per_host_best_s: f64,
    /// Seconds for one host at worst (see `assumptions`).
    pub per_host_worst_s: f64,
    /// Seconds for the whole scope, best case.
    pub total_best_s: f64,
    /// Seconds for the whole scope, worst case.
    pub total_worst_s: f64,
    /// How the figures were made.
    pub assumptions: &'static str,
}

/// How many sample addresses and ranges a plan shows.
pub const SAMPLE: usize = 8;

impl Plan {
    /// Builds the plan of a resolved scan. Pure, and O(ranges), not O(addresses).
    pub fn build(cfg: &ScanConfig) -> Plan {
        Plan::build_guided(cfg, None)
    }

    /// [`Plan::build`] with what passive data says about each host (`--from-passive`):
    /// hosts with observed unit ids or TSAPs get them first, as the scan's sessions do
    /// ([`PassiveGuide::profile_for`]); O(guided hosts) more.
    pub fn build_guided(cfg: &ScanConfig, guide: Option<&PassiveGuide>) -> Plan {
        let p = &cfg.profile;
        let probes = probe_plans(p);
        let t = &cfg.targets;
        let hosts = t.count().saturating_sub(
            cfg.passive
                .as_ref()
                .map_or(0, |ps| ps.skip_identified as u128),
        );
        let mut estimate = estimate(&p.pacing, &probes, hosts);
        let mut host_variants = Vec::new();
        for (v, v_probes) in guide.map(|g| variants(cfg, g)).unwrap_or_default() {
            // The worst case is the worst host's.
            let e = self::estimate(&p.pacing, &v_probes, hosts);
            estimate.requests_per_host_max =
                estimate.requests_per_host_max.max(e.requests_per_host_max);
            estimate.connections_per_host_max = estimate
                .connections_per_host_max
                .max(e.connections_per_host_max);
            estimate.per_host_worst_s = estimate.per_host_worst_s.max(e.per_host_worst_s);
            estimate.total_worst_s = estimate.total_worst_s.max(e.total_worst_s);
            host_variants.push(v);
        }
        Plan {
            host_variants,
            profile: PlanProfile {
                name: p.name.clone(),
                description: p.description.clone(),
                origin: cfg.profile_origin.clone(),
                sha256: cfg.profile_sha256.clone(),
            },
            targets: PlanTargets {
                count: t.count(),
                before_exclusions: t.count_before_exclusions(),
                excluded: t.excluded(),
                sample: t.iter().take(SAMPLE).collect(),
                ranges: t.ranges().take(SAMPLE).collect(),
                range_count: t.range_count(),
            },
            probes: probes.iter().map(plan_probe).collect(),
            pacing: p.pacing.clone(),
            // Hosts skipped as already identified get nothing.
            estimate,
            vendor_rules: p.vendor_rules.clone(),
            passive: cfg.passive.clone(),
        }
    }

    /// The plan as human-readable text (the CLI prints it). Strings from outside (the
    /// profile's name, origin, description and vendor rules, file names) have their
    /// control characters shown as `?`: the loader refuses them, and this holds even
    /// for a plan built another way.
    pub fn render_text(&self) -> String {
        use crate::text::printable as clean;
        use std::fmt::Write as _;
        let mut s = String::new();
        let pr = &self.profile;
        let _ = writeln!(s, "otscout scan plan (dry run: no packet is sent)");
        let _ = writeln!(s);
        let _ = writeln!(s, "profile   {} ({})", clean(&pr.name), clean(&pr.origin));
        if !pr.description.is_empty() {
            let _ = writeln!(s, "          {}", clean(&pr.description));
        }
        let _ = writeln!(s, "sha256    {}", pr.sha256);
        let _ = writeln!(s);
        let t = &self.targets;
        let _ = writeln!(
            s,
            "targets   {} addresses ({} before exclusions, {} excluded) in {} range(s)",
            t.count, t.before_exclusions, t.excluded, t.range_count
        );
        for r in &t.ranges {
            let _ = writeln!(s, "          {r}");
        }
        if t.range_count > t.ranges.len() {
            let _ = writeln!(
                s,
                "          ... and {} more range(s)",
                t.range_count - t.ranges.len()
            );
        }
        let sample: Vec<String> = t.sample.iter().map(IpAddr::to_string).collect();
        let _ = writeln!(s, "first     {}", sample.join(", "));
        if let Some(p) = &self.passive {
            let _ = writeln!(
                s,
                "passive   {} hosts from passive data ({}): {} seen, {} outside the targets or excluded, {} not unicast",
                p.from_passive,
                clean(&p.files.join(", ")),
                p.hosts_seen,
                p.outside_scope,
                p.not_unicast
            );
            let _ = writeln!(
                s,
                "          {} skipped as already identified (--skip-identified), {} probed; observed unit ids first on {}, observed TSAPs first on {}",
                p.skip_identified,
                p.from_passive - p.skip_identified,
                p.with_unit_ids,
                p.with_tsaps
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "requests  every host gets each probe below, in this order, one connection at a time"
        );
        for probe in &self.probes {
            let _ = writeln!(
                s,
                "  {} on {}/{} ({})",
                protocol_name(probe.protocol),
                probe.transport,
                probe.port,
                probe.stop_rule
            );
            for (i, c) in probe.connections.iter().enumerate() {
                let label = if probe.transport == "udp" {
                    "datagrams"
                } else {
                    "connection"
                };
                let _ = writeln!(s, "    {label} {}: {}", i + 1, c.purpose);
                for r in &c.requests {
                    let _ = writeln!(s, "      {:<24} {:>3} bytes  {}", r.kind, r.bytes, r.detail);
                }
            }
            for n in &probe.notes {
                let _ = writeln!(s, "    note: {n}");
            }
        }
        if !self.host_variants.is_empty() {
            let _ = writeln!(
                s,
                "  hosts with unit ids or TSAPs seen in passive data get these instead (observed first):"
            );
        }
        for v in &self.host_variants {
            let sample: Vec<String> = v.sample.iter().map(IpAddr::to_string).collect();
            let more = if v.hosts > v.sample.len() {
                ", ..."
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "    {} host(s) ({}{more}): at most {} requests and {} connection(s) each",
                v.hosts,
                sample.join(", "),
                v.requests_per_host_max,
                v.connections_per_host_max
            );
            for probe in &v.probes {
                let purposes: Vec<&str> = probe
                    .connections
                    .iter()
                    .map(|c| c.purpose.split(',').next().unwrap_or_default())
                    .collect();
                let _ = writeln!(
                    s,
                    "      {} on {}/{}: {} connection(s): {}",
                    protocol_name(probe.protocol),
                    probe.transport,
                    probe.port,
                    probe.connections.len(),
                    purposes.join("; ")
                );
            }
            for n in v.notes.iter().chain(v.probes.iter().flat_map(|p| &p.notes)) {
                let _ = writeln!(s, "      note: {n}");
            }
        }
        let _ = writeln!(s);
        let p = &self.pacing;
        let _ = writeln!(
            s,
            "pacing    {} requests/s in all (burst {}), {} hosts at a time",
            p.max_rate, p.burst, p.hosts_in_flight
        );
        let _ = writeln!(
            s,
            "          per host: 1 connection, 1 request in flight, {} ms between requests, {} ms cool-down between connections",
            p.host_interval_ms, p.cooldown_ms
        );
        let _ = writeln!(
            s,
            "          timeouts: connect {} ms, response {} ms; {} retr{} (backoff {} ms, doubling)",
            p.connect_timeout_ms,
            p.response_timeout_ms,
            p.retries,
            if p.retries == 1 { "y" } else { "ies" },
            p.retry_backoff_ms
        );
        let _ = writeln!(
            s,
            "          close: our FIN, then up to {} ms for the device's (the cool-down counts from it); a device that holds its side open longer is left alone for the rest of the scan",
            p.close_hold().as_millis()
        );
        let _ = writeln!(
            s,
            "          breaker: leave a host alone after {} consecutive failures or {} resets",
            p.breaker_failures, p.breaker_resets
        );
        if !self.vendor_rules.is_empty() {
            let _ = writeln!(s, "vendor rules (applied once a vendor or family is known)");
            for r in &self.vendor_rules {
                let mut what = Vec::new();
                if !r.skip_protocols.is_empty() {
                    let names: Vec<String> =
                        r.skip_protocols.iter().map(|p| protocol_name(*p)).collect();
                    what.push(format!("skip {}", names.join(", ")));
                }
                if let Some(ms) = r.host_interval_ms {
                    what.push(format!("{ms} ms between requests"));
                }
                if let Some(ms) = r.cooldown_ms {
                    what.push(format!("{ms} ms cool-down"));
                }
                let _ = writeln!(s, "  {:<14} {}", clean(&r.matches), what.join(", "));
            }
        }
        let _ = writeln!(s);
        let e = &self.estimate;
        let _ = writeln!(
            s,
            "estimate  {} to {} requests and at most {} connection(s) per host",
            e.requests_per_host_min, e.requests_per_host_max, e.connections_per_host_max
        );
        let _ = writeln!(
            s,
            "          per host {} to {}; whole scope {} to {}",
            human(e.per_host_best_s),
            human(e.per_host_worst_s),
            human(e.total_best_s),
            human(e.total_worst_s)
        );
        let _ = writeln!(s, "          ({})", e.assumptions);
        s
    }
}

/// A probe plan as the dry run shows it.
fn plan_probe(pp: &ProbePlan) -> PlanProbe {
    PlanProbe {
        notes: pp.notes.clone(),
        protocol: pp.protocol,
        port: pp.port,
        transport: pp.transport,
        stop_rule: pp.stop_rule,
        connections: pp
            .connections
            .iter()
            .map(|c| PlanConnection {
                purpose: c.purpose.clone(),
                requests: c
                    .requests
                    .iter()
                    .map(|r| PlanRequest {
                        kind: r.kind(),
                        bytes: r.encoded_len(),
                        detail: request_detail(r),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The guided hosts grouped by the probes they get, with each group's probe plans.
fn variants(cfg: &ScanConfig, guide: &PassiveGuide) -> Vec<(PlanVariant, Vec<ProbePlan>)> {
    use std::collections::BTreeMap;
    let mut ips: Vec<IpAddr> = guide
        .modbus_units
        .keys()
        .chain(guide.s7_tsaps.keys())
        .copied()
        .filter(|ip| cfg.targets.contains(*ip) && !guide.skip.contains_key(ip))
        .collect();
    ips.sort();
    ips.dedup();
    type Key = (Vec<u8>, Vec<u16>, Vec<String>);
    let mut groups: BTreeMap<Key, (Vec<IpAddr>, Profile)> = BTreeMap::new();
    for ip in ips {
        let Some(host) = guide.profile_for(ip, &cfg.profile) else {
            continue;
        };
        if host.profile == cfg.profile {
            continue;
        }
        let key = (
            host.profile.modbus.unit_ids.clone(),
            host.profile.s7.tsaps.clone(),
            host.notes,
        );
        groups
            .entry(key)
            .or_insert_with(|| (Vec::new(), host.profile))
            .0
            .push(ip);
    }
    groups
        .into_iter()
        .map(|((_, _, notes), (hosts, profile))| {
            let plans = probe_plans(&profile);
            let variant = PlanVariant {
                hosts: hosts.len(),
                sample: hosts.iter().take(SAMPLE).copied().collect(),
                probes: plans
                    .iter()
                    .filter(|pp| spec_for(pp.protocol).is_some_and(|spec| spec.passive_guided()))
                    .map(plan_probe)
                    .collect(),
                requests_per_host_max: plans.iter().map(|pp| pp.max_requests() as u64).sum(),
                connections_per_host_max: plans.iter().map(|pp| pp.max_connections() as u64).sum(),
                notes,
            };
            (variant, plans)
        })
        .collect()
}

/// The protocol's name as in profiles and JSON (`modbus`, `enip`, `s7`): its serde name.
pub fn protocol_name(p: Protocol) -> String {
    // A unit variant serialises to its name; nothing here can fail.
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `2.5 s`, `3 min 20 s`, `4 h 10 min`.
pub fn human(secs: f64) -> String {
    if !secs.is_finite() {
        return "unbounded".into();
    }
    if secs < 60.0 {
        return format!("{secs:.1} s");
    }
    // An IPv6 prefix can hold more addresses than seconds fit in a u64; a day count that
    // large means nothing and would be a saturated number presented as a real one.
    const CENTURY: f64 = 100.0 * 365.25 * 86_400.0;
    if secs >= CENTURY {
        return "more than 100 years".into();
    }
    let s = secs.round() as u64;
    if s < 3600 {
        format!("{} min {} s", s / 60, s % 60)
    } else if s < 86_400 * 2 {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    } else {
        format!("{} days {} h", s / 86_400, (s % 86_400) / 3600)
    }
}

/// The duration estimate. Per host, connections run one after another:
/// - best: every probe's first connection answers at once: `(r - 1) * host_interval` within
///   a connection, `max(cooldown, host_interval)` between connections;
/// - worst: every connection is used and every request waits its full response timeout
///   and all retries; or the host is silent and each connect times out with retries, until
///   the breaker trips; whichever is longer.
///
/// For the scope: hosts run `hosts_in_flight` at a time, and all requests share the global
/// rate, so the total is the larger of `ceil(hosts / in_flight) * per_host` and
/// `hosts * requests / max_rate`.
pub fn estimate(p: &Pacing, probes: &[ProbePlan], hosts: u128) -> Estimate {
    let ms = |v: u64| v as f64 / 1000.0;
    let interval = ms(p.host_interval_ms);
    let gap = ms(p.cooldown_ms).max(interval);
    let retries = f64::from(p.retries);
    let backoff_total: f64 = (1..=p.retries)
        .map(|a| ms(p.retry_backoff_ms) * f64::from(1u32 << (a - 1).min(10)))
        .sum();

    let best_conns: Vec<usize> = probes
        .iter()
        .map(ProbePlan::min_requests)
        .filter(|r| *r > 0)
        .collect();
    let per_host_best = best_conns
        .iter()
        .map(|r| (*r as f64 - 1.0) * interval)
        .sum::<f64>()
        + best_conns.len().saturating_sub(1) as f64 * gap;

    let all_conns: Vec<usize> = probes
        .iter()
        .flat_map(|pp| pp.connections.iter().map(|c| c.requests.len()))
        .collect();
    let slow = all_conns
        .iter()
        .map(|r| {
            *r as f64 * ((retries + 1.0) * ms(p.response_timeout_ms).max(interval))
                + backoff_total * *r as f64
        })
        .sum::<f64>()
        + all_conns.len().saturating_sub(1) as f64 * gap;
    // A silent host: each connect times out (with retries) until the breaker trips.
    let connect_attempts =
        (all_conns.len() as f64 * (retries + 1.0)).min(f64::from(p.breaker_failures));
    let silent = connect_attempts * ms(p.connect_timeout_ms)
        + (connect_attempts - 1.0).max(0.0) * gap
        + backoff_total;
    let per_host_worst = slow.max(silent);

    let req_min: u64 = probes.iter().map(|pp| pp.min_requests() as u64).sum();
    let req_max: u64 = probes.iter().map(|pp| pp.max_requests() as u64).sum();
    let conns: u64 = probes.iter().map(|pp| pp.max_connections() as u64).sum();
    let waves = hosts.div_ceil(p.hosts_in_flight.max(1) as u128) as f64;
    let rate = if p.max_rate > 0.0 { p.max_rate } else { 1.0 };
    let total_best = (waves * per_host_best).max(hosts as f64 * req_min as f64 / rate);
    let total_worst =
        (waves * per_host_worst).max(hosts as f64 * req_max as f64 * (retries + 1.0) / rate);
    Estimate {
        hosts,
        requests_per_host_min: req_min,
        requests_per_host_max: req_max,
        connections_per_host_max: conns,
        per_host_best_s: per_host_best,
        per_host_worst_s: per_host_worst,
        total_best_s: total_best,
        total_worst_s: total_worst,
        assumptions: "from the pacing alone: best = instant answers on the first try; \
                      worst = every request and retry waits its full timeout, or every \
                      connect times out until the breaker trips",
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn human_durations_never_show_a_saturated_count() {
        assert_eq!(human(2.5), "2.5 s");
        assert_eq!(human(200.0), "3 min 20 s");
        assert_eq!(human(3.0 * 86_400.0 + 7200.0), "3 days 2 h");
        assert_eq!(human(1e30), "more than 100 years");
        assert_eq!(human(f64::INFINITY), "unbounded");
    }
}
