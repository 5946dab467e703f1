//! The scan result document built from a [`ScanReport`]: an
//! [`inventory::scan::ScanResult`] (docs/scan-result.md describes it). `otscout scan`
//! and `otscout demo` both write it; it is library code so that neither reaches into
//! the other (nor the library into `cli`).
//!
//! [`inventory::scan::ScanResult`]: crate::inventory::scan::ScanResult

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::inventory::scan::{self, ScanMeta, ScanResult};
use crate::inventory::{Protocol, Transport};
use crate::probe::report::{HostState, LeftAlone, ProbeOutcome, ScanReport};

/// What the result file says about the run beyond the engine's report.
#[derive(Debug, Clone)]
pub struct Meta {
    pub scope: Vec<String>,
    pub exclusions: Vec<String>,
    pub operator: Option<String>,
    pub host: Option<String>,
    pub site: Option<String>,
}

/// The result document for `report`: [`document_per_address`], with the addresses that
/// answered nothing summarised as ranges ([`crate::inventory::unanswered`]).
pub fn document(report: &ScanReport, meta: &Meta) -> ScanResult {
    let ScanResult {
        scan,
        mut observations,
        ..
    } = document_per_address(report, meta);
    let mut scan = scan;
    // Addresses that answered nothing become ranges (docs/scan-result.md, `unanswered`):
    // the result grows with what was found, not with the scope.
    crate::inventory::unanswered::compact(std::slice::from_mut(&mut scan), &mut observations);
    ScanResult::new(scan, observations)
}

/// The result document in the per-address form of version 1: one host record and every
/// observation for every probed address (what [`document`] summarises; tests compare the
/// two).
pub fn document_per_address(report: &ScanReport, meta: &Meta) -> ScanResult {
    let mut ledger = scan::Ledger::new();
    let mut observations = Vec::new();
    let mut hosts: BTreeMap<IpAddr, HostOutcome> = BTreeMap::new();
    for h in &report.hosts {
        for p in &h.probes {
            for r in &p.requests {
                let entry = scan::LedgerEntry {
                    count: r.count,
                    first: r.first,
                    last: r.last,
                };
                ledger
                    .entry(h.ip)
                    .or_default()
                    .entry(r.kind.clone())
                    .and_modify(|e| e.absorb(&entry))
                    .or_insert(entry);
            }
            observations.extend(p.observations.iter().cloned());
        }
        hosts.insert(
            h.ip,
            HostOutcome {
                state: h.state,
                started: h.started,
                ended: h.finished,
                probes: h
                    .probes
                    .iter()
                    .map(|p| ProbeRecord {
                        protocol: p.protocol,
                        transport: p.transport,
                        port: p.port,
                        outcome: p.outcome,
                        detail: p.detail.clone(),
                        started: p.started,
                        ended: p.finished,
                        connections: p.connections,
                    })
                    .collect(),
                left_alone: h.left_alone.clone(),
                notes: h.notes.clone(),
            },
        );
    }
    let meta = ScanMeta {
        scan_id: report.scan_id.clone(),
        status: report.status,
        started: report.started,
        ended: Some(report.finished),
        profile: report.profile.clone(),
        profile_sha256: report.profile_sha256.clone(),
        scope: meta.scope.clone(),
        exclusions: meta.exclusions.clone(),
        operator: meta.operator.clone(),
        host: meta.host.clone(),
        site: meta.site.clone(),
        otscout_version: env!("CARGO_PKG_VERSION").to_owned(),
        ledger,
        extra: BTreeMap::new(),
    };
    let skipped: Vec<SkippedTarget> = report
        .skipped
        .iter()
        .map(|(ip, reason)| SkippedTarget {
            ip: *ip,
            reason: reason.clone(),
        })
        .collect();
    let mut meta = meta;
    // Serialising plain data of our own cannot fail; if it ever did, the member is left
    // out rather than the whole result lost.
    if let Ok(v) = serde_json::to_value(&hosts) {
        meta.extra.insert("hosts".into(), v);
    }
    if !skipped.is_empty() {
        if let Ok(v) = serde_json::to_value(&skipped) {
            meta.extra.insert("skipped".into(), v);
        }
    }
    let mut r = ScanResult::new(meta, observations);
    r.version = 1;
    r
}

/// `scan.hosts.<ip>`: one probed host, whether it was finished, and each protocol
/// probe's outcome (docs/scan-result.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostOutcome {
    /// `done`, or `interrupted` (the scan stopped while probing it).
    pub state: HostState,
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
    pub probes: Vec<ProbeRecord>,
    /// Why otscout left the host alone for the rest of the scan, if it did:
    /// `{"reason": "held_open", "protocol", "port", "fin_at", "hold_ms"}` (the device kept
    /// its side of a connection open after our FIN for longer than the close hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_alone: Option<LeftAlone>,
    /// What the operator should know about how the host was probed (a cap that left
    /// Modbus unit ids out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One protocol probe of one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub protocol: Protocol,
    pub transport: Transport,
    pub port: u16,
    /// `identified`, `negative`, `answered_no_identity`, `not_this_protocol`, `refused`, `connect_timeout`,
    /// `timeout`, `reset`, `suspicious`, `skipped_by_rule`, `circuit_open`,
    /// `guard_refused`, `local_error`, `interrupted`, `left_alone` or `budget_spent` (after `--resume`:
    /// earlier runs already sent the requests the probe's plan allows).
    pub outcome: ProbeOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
    /// Connections opened.
    pub connections: u32,
}

/// `scan.skipped[]`: a target never touched, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedTarget {
    pub ip: IpAddr,
    pub reason: String,
}
