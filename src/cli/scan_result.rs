//! The scan result file `otscout scan` writes (docs/scan-result.md describes it).
//!
//! (Interim: built as JSON in the shape of `inventory::scan::ScanResult` until that type
//! lands; then this becomes a typed conversion.)

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::probe::scan::ScanReport;

use super::scan_run::Meta;

/// The result document for `report`.
pub fn document(report: &ScanReport, meta: &Meta) -> Value {
    let mut ledger: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    let mut observations = Vec::new();
    let mut hosts = BTreeMap::new();
    for h in &report.hosts {
        let per_host = ledger.entry(h.ip.to_string()).or_default();
        for p in &h.probes {
            for r in &p.requests {
                per_host.insert(
                    r.kind.clone(),
                    json!({"count": r.count, "first": r.first, "last": r.last}),
                );
            }
            observations.extend(p.observations.iter().cloned());
        }
        hosts.insert(
            h.ip.to_string(),
            json!({
                "state": h.state,
                "started": h.started,
                "ended": h.finished,
                "probes": h.probes.iter().map(|p| json!({
                    "protocol": p.protocol,
                    "transport": p.transport,
                    "port": p.port,
                    "outcome": p.outcome,
                    "detail": p.detail,
                    "started": p.started,
                    "ended": p.finished,
                    "connections": p.connections,
                })).collect::<Vec<_>>(),
            }),
        );
    }
    ledger.retain(|_, v| !v.is_empty());
    json!({
        "format": "otscout-scan",
        "version": 1,
        "scan": {
            "scan_id": report.scan_id,
            "status": report.status,
            "started": report.started,
            "ended": report.finished,
            "profile": report.profile,
            "profile_sha256": report.profile_sha256,
            "scope": meta.scope,
            "exclusions": meta.exclusions,
            "operator": meta.operator,
            "host": meta.host,
            "otscout_version": env!("CARGO_PKG_VERSION"),
            "ledger": ledger,
            "hosts": hosts,
            "skipped": report.skipped.iter().map(|(ip, why)| json!({"ip": ip, "reason": why})).collect::<Vec<_>>(),
        },
        "observations": observations,
    })
}
