//! Results and reports that grow with what was found (issue 20 part 2): addresses that
//! answered nothing are summarised as ranges per protocol and outcome, losslessly, and
//! version-1 scan results and version-2 reports still read and merge to the same assets.
//!
//! Addresses: 127.23.97.x (a mixed scan) and 127.26.0.0/20 (a mostly empty scope), ports
//! ephemeral for the simulated devices and port 1 (nothing listens) for the rest.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use otscout::cli::scan_result::{document, document_per_address};
use otscout::cli::scan_run::Meta;
use otscout::inventory::merge::{Input, Inventory, merge};
use otscout::inventory::scan::ScanResult;
use otscout::inventory::unanswered::{self, ProbeSaid};
use otscout::inventory::{Fact, Protocol, Provenance};
use otscout::probe::scan::{self, ScanReport, StopSignal};
use otscout::report::json;
use otscout_sim::Plant;

use super::plant::{config, profile, start};

fn meta(scope: &str) -> Meta {
    Meta {
        scope: vec![scope.to_owned()],
        exclusions: vec![],
        operator: Some("test".into()),
        host: Some("test".into()),
        site: None,
    }
}

/// A scan of `targets` against a plant of `toml`: its devices on their ephemeral ports,
/// every other address and protocol on port 1, where nothing listens (refused).
async fn scan_plant(toml: &str, targets: Vec<IpAddr>) -> ScanReport {
    let plant = start(Plant::from_toml_str(toml).unwrap()).await;
    let mut ports = HashMap::new();
    for ip in &targets {
        for p in [Protocol::Modbus, Protocol::Enip, Protocol::S7] {
            ports.insert((*ip, p), 1);
        }
    }
    for d in plant.devices() {
        let ip = IpAddr::V4(d.address);
        if let Some(a) = d.modbus {
            ports.insert((ip, Protocol::Modbus), a.port());
        }
        if let Some(a) = d.enip_tcp {
            ports.insert((ip, Protocol::Enip), a.port());
        }
        if let Some(a) = d.s7 {
            ports.insert((ip, Protocol::S7), a.port());
        }
    }
    let mut p = profile();
    p.pacing.max_rate = 5000.0;
    p.pacing.burst = 50;
    p.pacing.hosts_in_flight = 64;
    p.pacing.host_interval_ms = 0;
    p.pacing.cooldown_ms = 10;
    p.pacing.response_timeout_ms = 300;
    p.modbus.unit_ids = vec![1];
    let report = scan::run(
        config(p, targets, ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    plant.shutdown().await;
    report
}

const MIXED: &str = r#"
[[device]]
name = "plc"
address = "127.23.97.10"
[device.modbus]
port = 502
unit_ids = [1]
identity = { vendor_name = "Acme", product_code = "P1", revision = "1.0" }

[[device]]
name = "hung"
address = "127.23.97.11"
[device.behaviour]
hang = true
[device.modbus]
port = 502
unit_ids = [1]
identity = { vendor_name = "Acme", product_code = "P2", revision = "1.0" }

[[device]]
name = "adapter"
address = "127.23.97.40"
[device.enip]
port = 44818
udp = false
identity = { vendor_id = 1, device_type = 12, product_code = 7, revision_major = 2, revision_minor = 3, status = 0x0030, serial = 0x1234, product_name = "Adapter", state = 3 }
"#;

/// Address → (protocol, port) → what its probe said, straight from the engine's report:
/// the per-address form the old result wrote.
fn said_by_engine(report: &ScanReport) -> BTreeMap<IpAddr, BTreeMap<(Protocol, u16), ProbeSaid>> {
    let mut out: BTreeMap<IpAddr, BTreeMap<(Protocol, u16), ProbeSaid>> = BTreeMap::new();
    for h in &report.hosts {
        for p in &h.probes {
            let na = p
                .observations
                .iter()
                .find_map(|o| match (&o.fact, &o.provenance) {
                    (Fact::NoAnswer { outcome, .. }, Provenance::Active { request, .. }) => Some((
                        serde_json::to_value(outcome)
                            .unwrap()
                            .as_str()
                            .unwrap()
                            .to_owned(),
                        request.clone(),
                    )),
                    _ => None,
                });
            let (k, r) = na.map_or((None, None), |(k, r)| (Some(k), Some(r)));
            out.entry(h.ip)
                .or_default()
                .insert((p.protocol, p.port), (p.outcome.to_string(), k, r));
        }
    }
    out
}

fn merged(inputs: &[Input]) -> Inventory {
    let at = chrono::DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
        .unwrap()
        .to_utc();
    merge(inputs, at)
}

/// The summary expands back to exactly what the per-address form said about every
/// address (refused ones summarised; an identified device, a hung one that timed out and
/// one that refused two protocols and answered the third keep their records), and the
/// version-1 result and the version-2 report of the same scan merge to the same assets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_addresses_become_ranges_losslessly() {
    let targets: Vec<IpAddr> = (1..=60).map(|h| IpAddr::from([127, 23, 97, h])).collect();
    let report = scan_plant(MIXED, targets).await;
    let m = meta("127.23.97.1-60");
    let old = document_per_address(&report, &m);
    let new = document(&report, &m);
    assert_eq!((old.version, new.version), (1, 2));

    // Lossless: address -> protocol -> outcome, no_answer kind and request.
    let engine = said_by_engine(&report);
    assert_eq!(engine.len(), 60);
    assert_eq!(
        unanswered::outcomes(&new.scan, &new.observations).unwrap(),
        engine
    );
    assert_eq!(
        unanswered::outcomes(&old.scan, &old.observations).unwrap(),
        engine
    );

    // Only the three devices keep host records; the 57 others are ranges of one group per
    // protocol (all refused), with their counts.
    let hosts = new.scan.hosts.as_ref().unwrap();
    let kept: Vec<&str> = hosts.keys().map(String::as_str).collect();
    assert_eq!(kept, ["127.23.97.10", "127.23.97.11", "127.23.97.40"]);
    let groups = unanswered::groups(&new.scan).unwrap();
    assert_eq!(groups.len(), 3, "{groups:#?}");
    for g in &groups {
        assert_eq!((g.outcome.as_str(), g.count), ("refused", 57), "{g:?}");
        assert_eq!(
            g.ranges,
            [
                "127.23.97.1-127.23.97.9",
                "127.23.97.12-127.23.97.39",
                "127.23.97.41-127.23.97.60"
            ]
        );
        assert!(g.first <= g.last);
    }
    assert!(
        new.observations
            .iter()
            .all(|o| hosts.contains_key(&o.ip.to_string()))
    );
    assert!(new.observations.len() < old.observations.len());
    let (old_len, new_len) = (
        serde_json::to_vec(&old).unwrap().len(),
        serde_json::to_vec(&new).unwrap().len(),
    );
    assert!(new_len * 5 < old_len, "{new_len} bytes against {old_len}");

    // Compacting again changes nothing.
    let (mut scans, mut obs) = (vec![new.scan.clone()], new.observations.clone());
    unanswered::compact(&mut scans, &mut obs);
    assert_eq!((&scans[0], &obs), (&new.scan, &new.observations));

    // Merge: the version-2 result, the version-1 result (summarised as it is read) and a
    // version-2 report of the old form all give the same version-3 report.
    let from_new = merged(&[Input::from_scan("s.json", new.clone())]);
    let from_old = merged(&[Input::from_scan("s.json", round_trip(&old))]);
    assert_eq!(from_new, from_old);
    assert_eq!(from_new.version, otscout::inventory::merge::REPORT_VERSION);
    let ips: Vec<String> = from_new.assets.iter().map(|a| a.ip.to_string()).collect();
    assert_eq!(ips, ["127.23.97.10", "127.23.97.11", "127.23.97.40"]);
    let bytes = json::render(&from_new);
    json::parse(&bytes).expect("a version-3 report verifies");
    let schema = crate::report::read_json(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json"),
    );
    let as_json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let errors = crate::report::validate(&schema, &[], &as_json);
    assert!(errors.is_empty(), "{errors:#?}");

    // A version-2 report as the old otscout wrote it: every address listed.
    let mut v2 = merged(&[Input {
        name: "s.json".into(),
        nested: vec![],
        scans: vec![old.scan.clone()],
        observations: old.observations.clone(),
        site: None,
        verified: vec![],
        sites: vec![],
    }]);
    v2.version = 2;
    let v2_bytes = json::render(&v2);
    let back = json::parse(&v2_bytes).expect("a version-2 report still reads");
    assert_eq!(back.version, 2, "it keeps its version");
    assert_eq!(json::render(&back), v2_bytes);
    let again = merged(&[Input::from_report("s.json", back)]);
    assert_eq!(again.scans, from_new.scans);
    assert_eq!(again.observations, from_new.observations);
    assert_eq!(again.assets, from_new.assets);

    // A version-2 report cannot carry the version-3 member.
    let mut bad = from_new.clone();
    bad.version = 2;
    let e = json::parse(&json::render(&bad)).unwrap_err().to_string();
    assert!(e.contains("no `unanswered` member"), "{e}");
}

fn round_trip(r: &ScanResult) -> ScanResult {
    serde_json::from_slice(&serde_json::to_vec(r).unwrap()).unwrap()
}

/// `verify`'s self-consistency covers the summary: an observation of the scan about an
/// address it calls unanswered, a host record for one, or a count its ranges do not hold
/// is a contradiction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_whose_summary_contradicts_its_evidence_is_refused() {
    let targets: Vec<IpAddr> = (1..=20).map(|h| IpAddr::from([127, 23, 98, h])).collect();
    let toml = MIXED
        .replace("127.23.97.", "127.23.98.")
        .replace("127.23.98.40", "127.23.98.15");
    let report = scan_plant(&toml, targets).await;
    let m = meta("127.23.98.1-20");
    let old = document_per_address(&report, &m);
    let inv = merged(&[Input::from_scan("s.json", document(&report, &m))]);
    json::parse(&json::render(&inv)).unwrap();
    let refused: IpAddr = "127.23.98.3".parse().unwrap();

    // Its no_answer observation back in the evidence.
    let mut a = inv.clone();
    let o = old
        .observations
        .iter()
        .find(|o| o.ip == refused)
        .unwrap()
        .clone();
    a.observations.push(o);
    a.observations
        .sort_by_key(|o| serde_json::to_string(o).unwrap());
    a.summary.observations += 1;
    let e = json::check_consistent(&a).unwrap_err().to_string();
    assert!(
        e.contains("lists 127.23.98.3 as unanswered but the evidence holds"),
        "{e}"
    );

    // Its host record back.
    let mut b = inv.clone();
    let rec = old.scan.hosts.as_ref().unwrap()["127.23.98.3"].clone();
    b.scans[0]
        .hosts
        .get_or_insert_default()
        .insert("127.23.98.3".into(), rec);
    let e = json::check_consistent(&b).unwrap_err().to_string();
    assert!(e.contains("has a host record for it"), "{e}");

    // Every view still renders it, and diff sees an address that moves between answered
    // and unanswered as drift, as before: a second scan of the same scope where the
    // adapter at .15 no longer answers.
    assert!(!otscout::report::csv::render(&inv).is_empty());
    assert!(!otscout::report::cyclonedx::render(&inv).is_empty());
    assert!(otscout::report::markdown::render(&inv).contains("127.23.98.15"));
    let page =
        otscout::report::html::render(&inv, &otscout::report::html::SignatureStatus::NotChecked);
    assert!(page.contains("127.23.98.15"));
    let gone: IpAddr = "127.23.98.15".parse().unwrap();
    let without = toml
        .split("[[device]]")
        .filter(|d| !d.contains("127.23.98.15"))
        .collect::<Vec<_>>()
        .join("[[device]]");
    let targets: Vec<IpAddr> = (1..=20).map(|h| IpAddr::from([127, 23, 98, h])).collect();
    let later = merged(&[Input::from_scan(
        "s2.json",
        document(&scan_plant(&without, targets).await, &m),
    )]);
    assert!(
        unanswered::groups(&later.scans[0])
            .unwrap()
            .iter()
            .any(|g| g.intervals().unwrap().iter().any(|i| i.contains(gone)))
    );
    let d = otscout::report::diff::diff(&inv, &later);
    assert!(d.is_drift());
    assert_eq!(d.removed.iter().map(|a| a.ip).collect::<Vec<_>>(), [gone]);
    let back = otscout::report::diff::diff(&later, &inv);
    assert_eq!(back.added.iter().map(|a| a.ip).collect::<Vec<_>>(), [gone]);
    // The old per-address form of the same scan is no drift against the new form.
    let old_form = merged(&[Input {
        name: "s.json".into(),
        nested: vec![],
        scans: vec![old.scan.clone()],
        observations: old.observations.clone(),
        site: None,
        verified: vec![],
        sites: vec![],
    }]);
    assert!(!otscout::report::diff::diff(&old_form, &inv).is_drift());

    // A count its ranges do not hold.
    let mut c = inv.clone();
    c.scans[0].extra.get_mut("unanswered").unwrap()[0]["count"] = serde_json::json!(1);
    let e = json::check_consistent(&c).unwrap_err().to_string();
    assert!(e.contains("says count 1 but its ranges hold"), "{e}");
}

/// A mostly empty scope of 4,096 addresses with two devices: the result and the report are
/// a few kilobytes plus the devices, not kilobytes per address (the per-address form of
/// the same scan is over a thousand times larger per empty address).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mostly_empty_scope_gives_a_report_the_size_of_what_answered() {
    let targets: Vec<IpAddr> = (0..4096u32)
        .map(|i| {
            IpAddr::V4(std::net::Ipv4Addr::from(
                u32::from_be_bytes([127, 26, 0, 0]) + i,
            ))
        })
        .filter(|ip| !matches!(ip, IpAddr::V4(a) if a.octets()[3] == 0 || a.octets()[3] == 255))
        .collect();
    let n = targets.len();
    let toml = MIXED
        .replace("127.23.97.10", "127.26.3.7")
        .replace("127.23.97.11", "127.26.9.9")
        .replace("127.23.97.40", "127.26.14.1");
    let report = scan_plant(&toml, targets).await;
    let m = meta("127.26.0.0/20");
    let old = document_per_address(&report, &m);
    let new = document(&report, &m);
    let inv = merged(&[Input::from_scan("s.json", new.clone())]);
    let bytes = json::render(&inv);
    let old_bytes = json::render(&merged(&[Input {
        name: "s.json".into(),
        nested: vec![],
        scans: vec![old.scan.clone()],
        observations: old.observations.clone(),
        site: None,
        verified: vec![],
        sites: vec![],
    }]));
    let result_len = serde_json::to_vec_pretty(&new).unwrap().len();
    eprintln!(
        "{n} addresses, 3 devices: result {result_len} bytes, report {} bytes (per-address form: {} bytes)",
        bytes.len(),
        old_bytes.len()
    );
    assert_eq!(inv.assets.len(), 3);
    // Three devices' records are a few kilobytes each; the rest is three groups whose
    // ranges are cut only by the devices' addresses.
    assert!(bytes.len() < 40_000, "report of {} bytes", bytes.len());
    assert!(result_len < 30_000, "result of {result_len} bytes");
    assert!(old_bytes.len() > 100 * bytes.len());
}

/// One host line as the code before the summary wrote it (journal version 2): the three
/// `lab` probes of `ip`, each with `outcome` and one `no_answer` observation of `kind`.
fn old_host_line(scan_id: &str, sha: &str, ip: &str, outcomes: [(&str, &str); 3]) -> String {
    let probes: Vec<String> = [("enip", 44818, "enip.list_identity"), ("modbus", 502, "modbus.read_device_id"), ("s7", 102, "cotp.connect")]
        .iter()
        .zip(outcomes)
        .map(|((p, port, req), (outcome, kind))| {
            format!(
                r#"{{"protocol":"{p}","transport":"tcp","port":{port},"outcome":"{outcome}","started":"2026-12-01T00:00:01Z","finished":"2026-12-01T00:00:02Z","connections":0,"requests":[],"observations":[{{"ip":"{ip}","fact":{{"type":"no_answer","protocol":"{p}","port":{port},"outcome":"{kind}"}},"provenance":{{"source":"active","scan_id":"{scan_id}","profile":"lab","profile_sha256":"{sha}","request":"{req}"}},"seen":"2026-12-01T00:00:01Z"}}]}}"#
            )
        })
        .collect();
    format!(
        r#"{{"type":"host","host":{{"ip":"{ip}","state":"done","started":"2026-12-01T00:00:01Z","finished":"2026-12-01T00:00:02Z","probes":[{}]}}}}"#,
        probes.join(",")
    ) + "\n"
}

/// `--resume` of a journal the code before the summary wrote: its finished hosts are not
/// probed again, and the result summarises them with the new run's unanswered addresses
/// (one group per protocol), keeping the full record of the host that answered something.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_of_an_old_journal_summarises_its_hosts_too() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("old.json.journal.jsonl");
    let out = dir.path().join("resumed.json");
    let scan_id = "20261201T000000Z-0a1b2c3d";
    let sha = otscout::profile::builtin("lab").unwrap().profile.sha256();
    let mut text = format!(
        r#"{{"type":"header","format":"otscout-scan-journal","version":2,"scan_id":"{scan_id}","profile":"lab","profile_sha256":"{sha}","started":"2026-12-01T00:00:00Z","scope":["127.23.99.1-10"],"exclusions":[]}}"#
    ) + "\n";
    let refused = [("refused", "refused"); 3];
    for h in 1..=5 {
        text += &old_host_line(scan_id, &sha, &format!("127.23.99.{h}"), refused);
    }
    let odd = [
        ("refused", "refused"),
        ("not_this_protocol", "not_this_protocol"),
        ("refused", "refused"),
    ];
    text += &old_host_line(scan_id, &sha, "127.23.99.6", odd);
    std::fs::write(&journal, text).unwrap();
    let args: Vec<String> = [
        "scan",
        "127.23.99.1-10",
        "--profile",
        "lab",
        "--quiet",
        "-o",
    ]
    .map(String::from)
    .into_iter()
    .chain([
        out.display().to_string(),
        "--resume".into(),
        journal.display().to_string(),
    ])
    .collect();
    let run = super::plant::run_bin(env!("CARGO_BIN_EXE_otscout"), &args).await;
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let r: ScanResult = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!((r.version, r.scan.scan_id.as_str()), (2, scan_id));
    let hosts: Vec<&String> = r.scan.hosts.as_ref().unwrap().keys().collect();
    assert_eq!(hosts, ["127.23.99.6"]);
    let groups = unanswered::groups(&r.scan).unwrap();
    assert_eq!(groups.len(), 3, "{groups:#?}");
    let first_run = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:01Z")
        .unwrap()
        .to_utc();
    for g in &groups {
        assert_eq!(g.count, 9, "{g:?}");
        assert_eq!(
            g.ranges,
            ["127.23.99.1-127.23.99.5", "127.23.99.7-127.23.99.10"]
        );
        assert_eq!(g.first, first_run, "the first run's probes are in the span");
    }
    // The resumed run did not probe the journal's hosts again.
    assert!(
        r.scan
            .ledger
            .keys()
            .all(|ip| !matches!(ip.to_string().as_str(), "127.23.99.1" | "127.23.99.6"))
    );
    let said = unanswered::outcomes(&r.scan, &r.observations).unwrap();
    assert_eq!(said.len(), 10);
    assert_eq!(
        said[&"127.23.99.6".parse::<IpAddr>().unwrap()][&(Protocol::Modbus, 502)].0,
        "not_this_protocol"
    );
}
