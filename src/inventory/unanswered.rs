//! Addresses that never answered, kept as ranges: what makes a scan result and a report
//! grow with what was found rather than with the scope.
//!
//! A sweep of a /16 where a few hundred devices live used to carry one host record and one
//! `no_answer` observation per address and protocol. [`compact`] replaces, for every
//! address whose every probe ended without any answer (refused, connect timeout, the
//! breaker open), its host record (`scan.hosts.<ip>`) and its `no_answer` observations
//! with a membership in an [`Unanswered`] group: the address ranges that had the same
//! outcome for one protocol, with their count and time span (`scan.unanswered`,
//! docs/scan-result.md). Every address that answered anything keeps its full record.
//!
//! Lossless about what the old form said of each address (address → protocol → probe
//! outcome, `no_answer` kind and request): [`outcomes`] expands the groups back. Only the
//! exact per-address times are given up, for each group's span. An address is summarised
//! only when its record holds nothing else (no notes, no `left_alone`, no other member,
//! no other observation of that scan, no reply bytes): anything more keeps the full record.
//!
//! Pure data transformation: no I/O, no clock. Addresses from a report are untrusted:
//! ranges are parsed and checked ([`parse_range`]), never expanded into memory.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::observation::{Fact, NoAnswerKind, Observation, Protocol, Provenance, Transport};
use super::scan::{HostOutcome, HostState, ScanMeta};

/// The member of `scan` (in [`ScanMeta::extra`]) that holds the groups.
pub const MEMBER: &str = "unanswered";

/// Probe outcomes that mean the address gave no answer at all: nothing listened, nothing
/// came back to the connect, or the breaker stopped after such failures.
pub const SUMMARISED: [&str; 3] = ["refused", "connect_timeout", "circuit_open"];

/// Addresses that had the same outcome for one protocol probe, as ranges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unanswered {
    pub protocol: Protocol,
    pub transport: Transport,
    pub port: u16,
    /// The probe outcome: one of [`SUMMARISED`].
    pub outcome: String,
    /// The `outcome` of the probe's `no_answer` observation (`refused`, `timeout`,
    /// `circuit_open`).
    pub answer: NoAnswerKind,
    /// The request kind the observation's provenance named (`enip.list_identity`, …).
    pub request: String,
    /// Connections each probe opened.
    pub connections: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Addresses in `ranges`.
    pub count: u64,
    /// The earliest start and latest end of these probes (and their observations); the
    /// host records' own start and end lie within their probes'.
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// Ascending, disjoint and not adjacent: `a.b.c.d` or `a.b.c.d-e.f.g.h` (inclusive).
    pub ranges: Vec<String>,
}

/// A group's addresses so far and its span.
type Span = (Vec<Interval>, DateTime<Utc>, DateTime<Utc>);
/// A host's share of the groups: each key with the span of its probe.
type HostParts = Vec<(GroupKey, DateTime<Utc>, DateTime<Utc>)>;
/// Address → (protocol, port) → what its probe said.
pub type PerAddress = BTreeMap<IpAddr, BTreeMap<(Protocol, u16), ProbeSaid>>;

/// What identifies a group: everything but the addresses and the span.
type GroupKey = (
    Protocol,
    Transport,
    u16,
    String,
    String,
    String,
    u32,
    Option<String>,
);

impl Unanswered {
    fn key(&self) -> GroupKey {
        (
            self.protocol,
            self.transport,
            self.port,
            self.outcome.clone(),
            answer_name(self.answer),
            self.request.clone(),
            self.connections,
            self.detail.clone(),
        )
    }

    /// The address intervals of `ranges`, checked (see [`parse_ranges`]).
    pub fn intervals(&self) -> Result<Vec<Interval>, String> {
        parse_ranges(&self.ranges)
    }
}

fn answer_name(k: NoAnswerKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// An inclusive run of addresses of one family, as numbers (IPv4 in the low 32 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Interval {
    pub v6: bool,
    pub lo: u128,
    pub hi: u128,
}

impl Interval {
    /// Addresses in it (never zero: `lo <= hi`). The whole IPv6 space holds 2^128, one
    /// more than a `u128`: a range read from a report may be that wide, so the count
    /// saturates rather than overflow.
    pub fn count(&self) -> u128 {
        (self.hi - self.lo).saturating_add(1)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v6, n) = number(ip);
        v6 == self.v6 && (self.lo..=self.hi).contains(&n)
    }
}

fn number(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

fn address(v6: bool, n: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(n))
    } else {
        // An IPv4 interval only ever holds numbers made from IPv4 addresses.
        IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)))
    }
}

fn format_interval(i: Interval) -> String {
    if i.lo == i.hi {
        address(i.v6, i.lo).to_string()
    } else {
        format!("{}-{}", address(i.v6, i.lo), address(i.v6, i.hi))
    }
}

/// Reads one range, `a` or `a-b`: both of one family, `a` not above `b`.
/// Addresses in all of `iv`, saturating (ranges come from reports, which are input).
pub fn total(iv: &[Interval]) -> u128 {
    iv.iter().fold(0u128, |n, i| n.saturating_add(i.count()))
}

pub fn parse_range(s: &str) -> Result<Interval, String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let parse = |t: &str| {
        t.parse::<IpAddr>()
            .map_err(|_| format!("range {s:?}: {t:?} is not an address"))
    };
    let (a, b) = (number(parse(a)?), number(parse(b)?));
    if a.0 != b.0 {
        return Err(format!("range {s:?} mixes IPv4 and IPv6"));
    }
    if a.1 > b.1 {
        return Err(format!("range {s:?} ends before it starts"));
    }
    Ok(Interval {
        v6: a.0,
        lo: a.1,
        hi: b.1,
    })
}

/// Reads a group's ranges and checks they are ascending, disjoint and not adjacent (the
/// form [`compact`] writes, so each address is in one place only).
pub fn parse_ranges(ranges: &[String]) -> Result<Vec<Interval>, String> {
    let mut out: Vec<Interval> = Vec::with_capacity(ranges.len());
    for r in ranges {
        let i = parse_range(r)?;
        if let Some(p) = out.last() {
            if (p.v6, p.hi.saturating_add(1)) >= (i.v6, i.lo) {
                return Err(format!(
                    "range {r:?} does not follow {:?} in ascending order with a gap",
                    format_interval(*p)
                ));
            }
        }
        out.push(i);
    }
    Ok(out)
}

/// Sorted, coalesced intervals of these (sorted or not) intervals.
fn coalesce(mut v: Vec<Interval>) -> Vec<Interval> {
    v.sort();
    let mut out: Vec<Interval> = Vec::with_capacity(v.len());
    for i in v {
        match out.last_mut() {
            Some(p) if p.v6 == i.v6 && p.hi.saturating_add(1) >= i.lo => p.hi = p.hi.max(i.hi),
            _ => out.push(i),
        }
    }
    out
}

/// The groups of a scan's `unanswered` member; none when it is absent. An error names
/// what does not read.
pub fn groups(meta: &ScanMeta) -> Result<Vec<Unanswered>, String> {
    match meta.extra.get(MEMBER) {
        None => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| format!("scan {}: `{MEMBER}` does not read: {e}", meta.scan_id)),
    }
}

/// The groups this host joins, when its record says nothing but "no answer".
fn summarise_host(host: &HostOutcome, obs: &[&Observation]) -> Option<HostParts> {
    // Only a record of state, times and probes (docs/scan-result.md): notes, `left_alone`
    // or a member this build does not know keep the full record.
    if host.left_alone.is_some() || !host.notes.is_empty() || !host.extra.is_empty() {
        return None;
    }
    if host.probes.is_empty() || host.probes.iter().any(|p| !p.extra.is_empty()) {
        return None;
    }
    if host.state != HostState::Done || obs.len() != host.probes.len() {
        return None;
    }
    let mut seen_probe = BTreeSet::new();
    let mut out = Vec::with_capacity(host.probes.len());
    for p in &host.probes {
        // An outcome a newer otscout wrote is never summarised: this build cannot say
        // whether it means "no answer".
        let outcome = p.outcome.known()?.to_string();
        if !SUMMARISED.contains(&outcome.as_str()) || !seen_probe.insert((p.protocol, p.port)) {
            return None;
        }
        // Exactly one observation of this scan for this probe: a `no_answer` with nothing
        // else to say (no reply bytes, no path).
        let mut mine = obs.iter().filter(|o| match &o.fact {
            Fact::NoAnswer { protocol, port, .. } => *protocol == p.protocol && *port == p.port,
            _ => false,
        });
        let o = mine.next()?;
        if mine.next().is_some() || o.raw_hex.is_some() || o.path.is_some() {
            return None;
        }
        let (
            Fact::NoAnswer {
                outcome: answer, ..
            },
            Provenance::Active { request, .. },
            Some(seen),
        ) = (&o.fact, &o.provenance, o.seen)
        else {
            return None;
        };
        let key = (
            p.protocol,
            p.transport,
            p.port,
            outcome,
            answer_name(*answer),
            request.clone(),
            p.connections,
            p.detail.clone(),
        );
        let first = p.started.min(seen);
        let last = p.ended.max(seen);
        out.push((key, first, last));
    }
    Some(out)
}

fn of_this_scan(meta: &ScanMeta, o: &Observation) -> bool {
    matches!(&o.provenance, Provenance::Active { scan_id, profile, profile_sha256, .. }
        if *scan_id == meta.scan_id && *profile == meta.profile && *profile_sha256 == meta.profile_sha256)
}

/// Summarises the unanswered addresses of each scan: their host records leave
/// `scan.hosts`, their `no_answer` observations leave `observations`, and they join (or
/// extend) the scan's `unanswered` groups. Idempotent; a scan without `hosts` (or whose
/// `unanswered` does not read) is left as it is.
pub fn compact(scans: &mut [ScanMeta], observations: &mut Vec<Observation>) {
    let mut drop: BTreeSet<usize> = BTreeSet::new();
    for meta in scans.iter_mut() {
        let Some(hosts) = &meta.hosts else {
            continue;
        };
        // Groups already there (a result compacted before) must read, or the scan is
        // left as it is: nothing is dropped that could not be recorded.
        let Ok(existing) = groups(meta).and_then(|gs| {
            gs.into_iter()
                .map(|g| g.intervals().map(|iv| (g, iv)))
                .collect::<Result<Vec<_>, _>>()
        }) else {
            continue;
        };
        let mut by_ip: BTreeMap<IpAddr, Vec<usize>> = BTreeMap::new();
        for (i, o) in observations.iter().enumerate() {
            if of_this_scan(meta, o) {
                by_ip.entry(o.ip).or_default().push(i);
            }
        }
        let mut joined: BTreeMap<GroupKey, Span> = BTreeMap::new();
        let mut gone: Vec<String> = Vec::new();
        for (ip_text, record) in hosts {
            let Ok(ip) = ip_text.parse::<IpAddr>() else {
                continue;
            };
            let idx = by_ip.get(&ip).map(Vec::as_slice).unwrap_or_default();
            let obs: Vec<&Observation> = idx.iter().map(|i| &observations[*i]).collect();
            let Some(parts) = summarise_host(record, &obs) else {
                continue;
            };
            let (v6, n) = number(ip);
            for (key, first, last) in parts {
                let e = joined.entry(key).or_insert((Vec::new(), first, last));
                e.0.push(Interval { v6, lo: n, hi: n });
                e.1 = e.1.min(first);
                e.2 = e.2.max(last);
            }
            drop.extend(idx.iter().copied());
            gone.push(ip_text.clone());
        }
        if gone.is_empty() {
            continue;
        }
        for (g, iv) in existing {
            let e = joined
                .entry(g.key())
                .or_insert((Vec::new(), g.first, g.last));
            e.0.extend(iv);
            e.1 = e.1.min(g.first);
            e.2 = e.2.max(g.last);
        }
        let mut out = Vec::with_capacity(joined.len());
        for (k, (iv, first, last)) in joined {
            let iv = coalesce(iv);
            let count = total(&iv);
            out.push(Unanswered {
                protocol: k.0,
                transport: k.1,
                port: k.2,
                outcome: k.3,
                answer: serde_json::from_value(serde_json::Value::String(k.4))
                    .unwrap_or(NoAnswerKind::Refused),
                request: k.5,
                connections: k.6,
                detail: k.7,
                count: u64::try_from(count).unwrap_or(u64::MAX),
                first,
                last,
                ranges: iv.into_iter().map(format_interval).collect(),
            });
        }
        if let Some(h) = meta.hosts.as_mut() {
            for ip in &gone {
                h.remove(ip);
            }
        }
        if let Ok(v) = serde_json::to_value(&out) {
            meta.extra.insert(MEMBER.to_owned(), v);
        }
    }
    if !drop.is_empty() {
        let mut i = 0;
        observations.retain(|_| {
            let keep = !drop.contains(&i);
            i += 1;
            keep
        });
    }
}

/// What one probe of one address said, in the terms the old per-address form used: the
/// probe outcome, and the `no_answer` kind and request of its observation (when it had one).
pub type ProbeSaid = (String, Option<String>, Option<String>);

/// Address → (protocol, port) → what its probe said, over a scan's remaining host records
/// and observations and its `unanswered` groups: the old per-address form, from either
/// form. For tests and for readers that want one record per address (the expansion is as
/// large as the scope: do not call it on an untrusted report).
pub fn outcomes(meta: &ScanMeta, observations: &[Observation]) -> Result<PerAddress, String> {
    let mut out = PerAddress::new();
    for (ip, record) in meta.hosts.iter().flatten() {
        let ip: IpAddr = ip.parse().map_err(|_| format!("host {ip:?}"))?;
        for p in &record.probes {
            let (protocol, port) = (p.protocol, p.port);
            let outcome = p.outcome.to_string();
            let na = observations
                .iter()
                .find_map(|o| match (&o.fact, &o.provenance) {
                    (
                        Fact::NoAnswer {
                            protocol: pr,
                            port: po,
                            outcome,
                        },
                        Provenance::Active { request, .. },
                    ) if o.ip == ip && *pr == protocol && *po == port && of_this_scan(meta, o) => {
                        Some((answer_name(*outcome), request.clone()))
                    }
                    _ => None,
                });
            let (kind, request) = na.map_or((None, None), |(k, r)| (Some(k), Some(r)));
            out.entry(ip)
                .or_default()
                .insert((protocol, port), (outcome, kind, request));
        }
    }
    for g in groups(meta)? {
        for i in g.intervals()? {
            let mut n = i.lo;
            loop {
                let said = (
                    g.outcome.clone(),
                    Some(answer_name(g.answer)),
                    Some(g.request.clone()),
                );
                if out
                    .entry(address(i.v6, n))
                    .or_default()
                    .insert((g.protocol, g.port), said)
                    .is_some()
                {
                    return Err(format!(
                        "{} {} is both in a group and elsewhere",
                        address(i.v6, n),
                        protocol_port(g.protocol, g.port)
                    ));
                }
                if n == i.hi {
                    break;
                }
                n += 1;
            }
        }
    }
    Ok(out)
}

fn protocol_port(p: Protocol, port: u16) -> String {
    let name = serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    format!("{name}/{port}")
}

/// Checks a report's scans against its evidence: each group reads (ranges in order,
/// `count` equal to the addresses in them, `first` not after `last`), an address is in at
/// most one group per protocol and port, and no summarised address has a host record or
/// an observation of the same scan (it answered nothing, so there can be none). An error
/// says which scan and address.
pub fn check(scans: &[ScanMeta], evidence: &[&[Observation]]) -> Result<(), String> {
    for meta in scans {
        let gs = groups(meta)?;
        if gs.is_empty() {
            continue;
        }
        let mut all: BTreeMap<(Protocol, u16), Vec<Interval>> = BTreeMap::new();
        for g in &gs {
            let iv = g
                .intervals()
                .map_err(|e| format!("scan {} `{MEMBER}`: {e}", meta.scan_id))?;
            let n: u128 = total(&iv);
            if u128::from(g.count) != n {
                return Err(format!(
                    "scan {} `{MEMBER}` {} {} says count {} but its ranges hold {n} addresses",
                    meta.scan_id,
                    protocol_port(g.protocol, g.port),
                    g.outcome,
                    g.count
                ));
            }
            if g.first > g.last {
                return Err(format!(
                    "scan {} `{MEMBER}` {} {} ends before it starts",
                    meta.scan_id,
                    protocol_port(g.protocol, g.port),
                    g.outcome
                ));
            }
            all.entry((g.protocol, g.port)).or_default().extend(iv);
        }
        let mut flat: Vec<Interval> = Vec::new();
        for ((p, port), mut iv) in all {
            iv.sort();
            for w in iv.windows(2) {
                if w[0].v6 == w[1].v6 && w[0].hi >= w[1].lo {
                    return Err(format!(
                        "scan {} `{MEMBER}`: {} is in two groups for {}",
                        meta.scan_id,
                        address(w[1].v6, w[1].lo),
                        protocol_port(p, port)
                    ));
                }
            }
            flat.extend(iv);
        }
        let flat = coalesce(flat);
        let inside = |ip: IpAddr| {
            let (v6, n) = number(ip);
            let at = flat.partition_point(|i| (i.v6, i.hi) < (v6, n));
            flat.get(at).is_some_and(|i| i.contains(ip))
        };
        if let Some((ip, _)) = meta.host_records().find(|(ip, _)| inside(*ip)) {
            return Err(format!(
                "scan {} lists {ip} as unanswered and has a host record for it",
                meta.scan_id
            ));
        }
        for obs in evidence {
            if let Some(o) = obs.iter().find(|o| of_this_scan(meta, o) && inside(o.ip)) {
                return Err(format!(
                    "scan {} lists {} as unanswered but the evidence holds an observation of it from that scan",
                    meta.scan_id, o.ip
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_whole_ipv6_space_counts_without_overflow() {
        // A hostile report may name the widest ranges there are: counting never panics.
        let all = parse_range("::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").unwrap();
        assert_eq!(all.count(), u128::MAX);
        let half = parse_range("::-7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").unwrap();
        assert_eq!(total(&[half, all, all]), u128::MAX);
        assert_eq!(total(&[parse_range("10.0.0.1-10.0.0.3").unwrap()]), 3);
    }

    use super::*;

    #[test]
    fn ranges_parse_and_refuse_what_compact_never_writes() {
        let r = |v: &[&str]| parse_ranges(&v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        let iv = r(&["10.0.0.1-10.0.0.9", "10.0.0.11", "::1-::3"]).unwrap();
        assert_eq!(iv.iter().map(Interval::count).sum::<u128>(), 13);
        assert!(
            r(&["10.0.0.9-10.0.0.1"])
                .unwrap_err()
                .contains("ends before")
        );
        assert!(r(&["10.0.0.1-::2"]).unwrap_err().contains("mixes"));
        assert!(
            r(&["10.0.0.1-10.0.0.4", "10.0.0.5"])
                .unwrap_err()
                .contains("gap")
        );
        assert!(
            r(&["10.0.0.5", "10.0.0.1"])
                .unwrap_err()
                .contains("ascending")
        );
        assert!(r(&["ten"]).unwrap_err().contains("not an address"));
    }

    #[test]
    fn coalesce_joins_adjacent_and_overlapping() {
        let i = |lo, hi| Interval { v6: false, lo, hi };
        let c = coalesce(vec![i(5, 5), i(1, 3), i(4, 4), i(7, 9), i(8, 8)]);
        assert_eq!(c, vec![i(1, 5), i(7, 9)]);
        assert_eq!(
            c.into_iter().map(format_interval).collect::<Vec<_>>(),
            ["0.0.0.1-0.0.0.5", "0.0.0.7-0.0.0.9"]
        );
    }

    /// A version-1 result in the first form `otscout scan` wrote (every address a host
    /// record, `"detail": null`, an empty `skipped`) still reads and is summarised; a
    /// record with a member or an outcome this build does not know keeps its full record
    /// (and reads back as it was).
    #[test]
    fn an_old_result_is_summarised_and_unknown_records_are_kept() {
        let probe = |outcome: &str, more: &str| {
            format!(
                r#"{{"protocol":"modbus","transport":"tcp","port":502,"outcome":"{outcome}","detail":null,"started":"2026-01-01T00:00:01Z","ended":"2026-01-01T00:00:02Z","connections":1{more}}}"#
            )
        };
        let host = |probe: String, more: &str| {
            format!(
                r#"{{"state":"done","started":"2026-01-01T00:00:01Z","ended":"2026-01-01T00:00:02Z","probes":[{probe}]{more}}}"#
            )
        };
        let refused = |ip: &str| {
            format!(
                r#"{{"ip":"{ip}","fact":{{"type":"no_answer","protocol":"modbus","port":502,"outcome":"refused"}},"provenance":{{"source":"active","scan_id":"s","profile":"p","profile_sha256":"00","request":"modbus.read_device_id"}},"seen":"2026-01-01T00:00:01Z"}}"#
            )
        };
        let text = format!(
            r#"{{"format":"otscout-scan","version":1,"scan":{{"scan_id":"s","status":"complete",
            "started":"2026-01-01T00:00:00Z","ended":"2026-01-01T00:00:03Z","profile":"p",
            "profile_sha256":"00","scope":["10.0.0.1-3"],"exclusions":[],"operator":null,
            "host":null,"otscout_version":"0.1.0","ledger":{{}},
            "hosts":{{"10.0.0.1":{},"10.0.0.2":{},"10.0.0.3":{}}},"skipped":[]}},
            "observations":[{},{},{}]}}"#,
            host(probe("refused", ""), ""),
            host(probe("refused", ""), r#","vlan":12"#),
            host(probe("refused_politely", ""), ""),
            refused("10.0.0.1"),
            refused("10.0.0.2"),
            refused("10.0.0.3"),
        );
        let r: super::super::scan::ScanResult = serde_json::from_str(&text).unwrap();
        let before = r.scan.hosts.clone().unwrap();
        let (mut scans, mut obs) = (vec![r.scan], r.observations);
        let said = outcomes(&scans[0], &obs).unwrap();
        compact(&mut scans, &mut obs);
        let kept = scans[0].hosts.as_ref().unwrap();
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["10.0.0.2", "10.0.0.3"]);
        for (ip, rec) in kept {
            assert_eq!(rec, &before[ip]);
        }
        assert_eq!(
            serde_json::to_value(&kept["10.0.0.3"]).unwrap()["probes"][0]["outcome"],
            "refused_politely"
        );
        let gs = groups(&scans[0]).unwrap();
        assert_eq!(gs.len(), 1, "{gs:?}");
        assert_eq!(
            (gs[0].count, gs[0].ranges.as_slice()),
            (1, &["10.0.0.1".to_owned()][..])
        );
        assert_eq!(obs.len(), 2);
        // Lossless: the summarised form says what the per-address form said.
        assert_eq!(outcomes(&scans[0], &obs).unwrap(), said);
    }
}
