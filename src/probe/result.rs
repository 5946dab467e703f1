//! The scan result document built from a [`ScanReport`]: an
//! [`inventory::scan::ScanResult`] (docs/scan-result.md describes it). `otscout scan`
//! and `otscout demo` both write it; it is library code so that neither reaches into
//! the other (nor the library into `cli`).
//!
//! [`inventory::scan::ScanResult`]: crate::inventory::scan::ScanResult

use std::collections::BTreeMap;

use crate::inventory::scan::{self, ScanMeta, ScanResult};
pub use crate::inventory::scan::{HostOutcome, ProbeRecord, SkippedTarget};
use crate::probe::report::ScanReport;

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
    let mut hosts: BTreeMap<String, HostOutcome> = BTreeMap::new();
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
            h.ip.to_string(),
            HostOutcome {
                state: h.state.into(),
                started: Some(h.started),
                ended: Some(h.finished),
                probes: h
                    .probes
                    .iter()
                    .map(|p| ProbeRecord {
                        protocol: p.protocol,
                        transport: p.transport,
                        port: p.port,
                        outcome: p.outcome.into(),
                        detail: p.detail.clone(),
                        started: p.started,
                        ended: p.finished,
                        connections: p.connections,
                        extra: BTreeMap::new(),
                    })
                    .collect(),
                left_alone: h.left_alone.clone(),
                notes: h.notes.clone(),
                extra: BTreeMap::new(),
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
        hosts: Some(hosts),
        skipped: report
            .skipped
            .iter()
            .map(|(ip, reason)| SkippedTarget {
                ip: *ip,
                reason: reason.clone(),
            })
            .collect(),
        extra: BTreeMap::new(),
    };
    let mut r = ScanResult::new(meta, observations);
    r.version = 1;
    r
}
