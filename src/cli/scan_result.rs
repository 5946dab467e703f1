//! The scan result file `otscout scan` writes: an [`inventory::scan::ScanResult`]
//! (docs/scan-result.md describes it).
//!
//! [`inventory::scan::ScanResult`]: crate::inventory::scan::ScanResult

use crate::inventory::scan::{
    self, HostOutcome, ProbeRecord, ScanMeta, ScanResult, ScanStatus, SkippedTarget,
};
use crate::probe::scan::{self as engine, HostState, ScanReport};

use super::scan_run::Meta;

/// The result document for `report`.
pub fn document(report: &ScanReport, meta: &Meta) -> ScanResult {
    let mut ledger = scan::Ledger::new();
    let mut observations = Vec::new();
    let mut hosts = std::collections::BTreeMap::new();
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
                state: match h.state {
                    HostState::Done => "done".into(),
                    HostState::Interrupted => "interrupted".into(),
                },
                started: h.started,
                ended: h.finished,
                probes: h
                    .probes
                    .iter()
                    .map(|p| ProbeRecord {
                        protocol: p.protocol,
                        transport: p.transport,
                        port: p.port,
                        outcome: p.outcome.to_string(),
                        detail: p.detail.clone(),
                        started: p.started,
                        ended: p.finished,
                        connections: p.connections,
                    })
                    .collect(),
            },
        );
    }
    let meta = ScanMeta {
        scan_id: report.scan_id.clone(),
        status: match report.status {
            engine::ScanStatus::Complete => ScanStatus::Complete,
            engine::ScanStatus::Interrupted => ScanStatus::Interrupted,
            engine::ScanStatus::WindowEnded => ScanStatus::WindowEnded,
        },
        started: report.started,
        ended: Some(report.finished),
        profile: report.profile.clone(),
        profile_sha256: report.profile_sha256.clone(),
        scope: meta.scope.clone(),
        exclusions: meta.exclusions.clone(),
        operator: meta.operator.clone(),
        host: meta.host.clone(),
        otscout_version: env!("CARGO_PKG_VERSION").to_owned(),
        ledger,
        extra: Default::default(),
        hosts,
        skipped: report
            .skipped
            .iter()
            .map(|(ip, reason)| SkippedTarget {
                ip: *ip,
                reason: reason.clone(),
            })
            .collect(),
    };
    ScanResult::new(meta, observations)
}
