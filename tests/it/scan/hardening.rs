//! Issue 12, the scan side: a resumed scan's ledger against the plant's own (SIGINT and
//! SIGKILL), the per-probe budget across runs, Modbus unit ids past the eighth (and the
//! plan that lists them), outputs checked before the first packet.
//!
//! Addresses 127.23.90-99.x are this file's own.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use otscout::inventory::scan::ScanResult;
use otscout::inventory::{Fact, Identity, Protocol};
use otscout::probe::scan::{self, ProbeOutcome, StopSignal, Targets};
use otscout_sim::{EventKind, LedgerEvent, Plant};

use super::plant::{config, profile, run_bin, start};

/// Requests each device received, by its address.
fn requests_by_ip(
    events: &[LedgerEvent],
    devices: &[otscout_sim::RunningDevice],
) -> BTreeMap<IpAddr, u64> {
    let mut out = BTreeMap::new();
    for d in devices {
        let n = events
            .iter()
            .filter(|e| e.device == d.name && matches!(e.kind, EventKind::Request { .. }))
            .count() as u64;
        out.insert(IpAddr::V4(d.address), n);
    }
    out
}

fn connections_of(events: &[LedgerEvent], device: &str) -> usize {
    events
        .iter()
        .filter(|e| e.device == device && matches!(e.kind, EventKind::Opened))
        .count()
}

/// The result's ledger, requests per address.
fn ledger_by_ip(r: &ScanResult) -> BTreeMap<IpAddr, u64> {
    r.scan
        .ledger
        .iter()
        .map(|(ip, kinds)| (*ip, kinds.values().map(|e| e.count).sum()))
        .collect()
}

fn read_result(path: &Path) -> ScanResult {
    serde_json::from_slice(&std::fs::read(path).expect("the result")).expect("a ScanResult")
}

/// Four devices in address order; the third hangs (accepts, reads, never answers).
fn hung_plant(net: u8) -> String {
    let mut toml = String::new();
    for i in 1..=4 {
        let hang = if i == 3 {
            "behaviour = { hang = true }\n"
        } else {
            ""
        };
        toml.push_str(&format!(
            "[[device]]\nname = \"d{i}\"\naddress = \"127.23.{net}.{i}\"\n{hang}[device.modbus]\nport = 502\nunit_ids = [255]\nidentity = {{ vendor_name = \"Acme\", product_code = \"P{i}\", revision = \"1.0\" }}\n"
        ));
    }
    toml
}

/// Interrupts a scan (SIGINT or SIGKILL) once the hung device has its first request,
/// resumes it, and compares the plant's ledger with the result's.
async fn interrupt_and_resume(net: u8, base: u16, signal: &'static str) {
    let plant =
        crate::support::start_on_a_base(&Plant::from_toml_str(&hung_plant(net)).unwrap(), base)
            .await;
    let port = plant.devices()[0].modbus.unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let journal = dir.path().join("r.json.journal.jsonl");
    let mut args: Vec<String> = [
        "scan",
        &format!("127.23.{net}.1-4"),
        "--profile",
        "lab",
        "--set",
        "enip.enabled=false",
        "--set",
        "s7.enabled=false",
        // One read code: the plan allows each host two requests (unit ids 255 and 0).
        "--set",
        "modbus.read_codes=[\"basic\"]",
        "--set",
        "modbus.unit_ids=[255, 0]",
        "--set",
        "pacing.hosts_in_flight=1",
        "--set",
        "pacing.response_timeout_ms=1500",
        "--quiet",
        "-o",
    ]
    .map(String::from)
    .to_vec();
    args.push(out.display().to_string());
    args.extend(["--set".to_string(), format!("modbus.port={port}")]);
    let bin = env!("CARGO_BIN_EXE_otscout");
    let hung = "d3".to_string();
    let first = {
        let args = args.clone();
        let ledger = plant.ledger_handle();
        let hung = hung.clone();
        tokio::task::spawn_blocking(move || {
            let mut child = std::process::Command::new(bin)
                .args(&args)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn otscout");
            let waited = Instant::now();
            while !ledger
                .snapshot()
                .iter()
                .any(|e| e.device == hung && matches!(e.kind, EventKind::Request { .. }))
                && waited.elapsed() < Duration::from_secs(20)
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            // The journal line follows the socket write by microseconds; the plant saw
            // the request after a loopback round trip. A little margin keeps a slow CI
            // machine from killing the process in between.
            std::thread::sleep(Duration::from_millis(100));
            let pid = child.id().to_string();
            std::process::Command::new("kill")
                .args([signal, &pid])
                .status()
                .expect("signal our own child");
            child.wait().expect("wait")
        })
        .await
        .unwrap()
    };
    if signal == "-INT" {
        assert_eq!(first.code(), Some(3), "SIGINT exits 3");
        // The interrupted result already counts what the plant got.
        let r = read_result(&out);
        let seen = requests_by_ip(&plant.ledger(), plant.devices());
        assert_eq!(
            ledger_by_ip(&r).values().sum::<u64>(),
            seen.values().sum::<u64>()
        );
    } else {
        assert_eq!(first.code(), None, "killed");
        assert!(!out.exists(), "a SIGKILLed run writes no result");
    }
    let before = requests_by_ip(&plant.ledger(), plant.devices());
    let hung_ip: IpAddr = format!("127.23.{net}.3").parse().unwrap();
    assert!(before[&hung_ip] >= 1, "{before:?}");

    args.extend(["--resume".to_string(), journal.display().to_string()]);
    let o = run_bin(bin, &args).await;
    let events = plant.ledger();
    let devices = plant.devices().to_vec();
    plant.shutdown().await;
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = read_result(&out);
    assert_eq!(
        r.scan.status,
        otscout::inventory::scan::ScanStatus::Complete
    );
    let seen = requests_by_ip(&events, &devices);
    let ledger = ledger_by_ip(&r);
    for (ip, n) in &seen {
        assert_eq!(
            ledger.get(ip).copied().unwrap_or(0),
            *n,
            "{ip}: the result's ledger against the plant's (plant {seen:?}, result {ledger:?})"
        );
    }
    // The hung device: two requests in all (the plan's budget), however the runs split.
    assert!(
        seen[&hung_ip] <= 2,
        "the hung device got {} requests over both runs",
        seen[&hung_ip]
    );
    // The answering devices were identified once each.
    let identified = r
        .observations
        .iter()
        .filter(|o| matches!(o.fact, Fact::Identity { .. }))
        .count();
    assert_eq!(identified, 3, "{:?}", r.observations);
}

/// SIGINT mid-probe, then `--resume`: the ledger counts the first run's requests to the
/// host probed again (it used to drop them), and that host is not sent more than its
/// plan allows over both runs (it used to get the whole probe again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_then_resume_ledger_matches_the_plant() {
    interrupt_and_resume(93, 31_200, "-INT").await;
}

/// SIGKILL mid-probe: no probe line was written for the cut probe; its request is in
/// the journal's `sent` line and counts (it used to be lost), and against the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_then_resume_ledger_matches_the_plant() {
    interrupt_and_resume(94, 31_300, "-KILL").await;
}

/// A gateway that answers only unit 12 and ignores the rest, with unit ids 1..=12: found
/// on the twelfth connection (the scan used to stop at 8, outcome timeout, while the plan
/// listed 12), and the plan's connection count is what the plant saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_unit_12_is_found_and_the_plan_agrees() {
    let plant = start(
        Plant::from_toml_str(
            r#"
            [[device]]
            name = "gw12"
            address = "127.23.90.1"
            [device.modbus]
            port = 0
            unit_ids = [12]
            identity = { vendor_name = "Acme", product_code = "U12", revision = "1.2" }
            "#,
        )
        .unwrap(),
    )
    .await;
    let ip: IpAddr = "127.23.90.1".parse().unwrap();
    let mut p = profile();
    p.enip.enabled = false;
    p.s7.enabled = false;
    p.modbus.unit_ids = (1..=12).collect();
    p.modbus.allow_other_unit_ids = true;
    p.modbus.read_codes = vec![otscout::safety::ReadDeviceIdCode::Basic];
    p.pacing.response_timeout_ms = 150;
    // Eleven silent unit ids in a row: the breaker must allow them (the plan says so
    // when it does not).
    p.pacing.breaker_failures = 20;
    p.validate().expect("a valid profile");
    let planned = otscout::plan::probe_plans(&p)
        .into_iter()
        .find(|pp| pp.protocol == Protocol::Modbus)
        .unwrap();
    assert_eq!(planned.max_connections(), 12);
    let ports = std::collections::HashMap::from([(
        (ip, Protocol::Modbus),
        plant.devices()[0].modbus.unwrap().port(),
    )]);
    let mut cfg = config(p, vec![ip], ports);
    cfg.targets = Targets::list(vec![ip]);
    let report = scan::run(cfg, scan::no_events(), StopSignal::new())
        .await
        .unwrap();
    let events = plant.ledger();
    plant.shutdown().await;
    let host = &report.hosts[0];
    assert_eq!(host.probes[0].outcome, ProbeOutcome::Identified, "{host:?}");
    assert!(
        host.identities()
            .any(|i| matches!(i, Identity::Modbus(m) if m.unit_id == 12))
    );
    assert_eq!(
        connections_of(&events, "gw12"),
        planned.max_connections(),
        "the plan's connections are the plant's"
    );
}

/// `--from-passive` with unit ids 1..=8 observed on a gateway that answers none of them:
/// the dry run lists, for that host, the ten unit ids and ten connections the scan then
/// uses (it used to show the profile's 255 and 0, while the scan sent 1..=8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_passive_plan_lists_what_the_scan_sends() {
    use otscout::inventory::{OBSERVATIONS_FORMAT, Observation, ObservationFile, Provenance};
    let plant = start(
        Plant::from_toml_str(
            r#"
            [[device]]
            name = "gw-silent"
            address = "127.23.91.1"
            [device.modbus]
            port = 0
            unit_ids = [200]
            identity = { vendor_name = "Acme", product_code = "G", revision = "1" }
            "#,
        )
        .unwrap(),
    )
    .await;
    let port = plant.devices()[0].modbus.unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let obs = dir.path().join("passive.json");
    let observations: Vec<Observation> = (1..=8u8)
        .map(|u| Observation {
            ip: "127.23.91.1".parse().unwrap(),
            fact: Fact::Declared {
                attribute: "observed.modbus_unit_id".into(),
                value: u.to_string(),
            },
            provenance: Provenance::Pcap {
                file: "plant.pcapng".into(),
                frame: u64::from(u),
            },
            seen: None,
            raw_hex: None,
            path: None,
        })
        .collect();
    let file = ObservationFile {
        format: OBSERVATIONS_FORMAT.into(),
        version: 1,
        sources: vec!["plant.pcapng".into()],
        observations,
    };
    std::fs::write(&obs, serde_json::to_vec(&file).unwrap()).unwrap();
    let mut args: Vec<String> = [
        "scan",
        "--from-passive",
        &obs.display().to_string(),
        "--profile",
        "lab",
        "--set",
        "enip.enabled=false",
        "--set",
        "s7.enabled=false",
        "--set",
        "modbus.unit_ids=[255, 0]",
        "--set",
        "modbus.read_codes=[\"basic\"]",
        "--set",
        "pacing.response_timeout_ms=150",
        "--set",
        "pacing.breaker_failures=20",
        "--set",
        &format!("modbus.port={port}"),
    ]
    .map(String::from)
    .to_vec();
    let mut dry = args.clone();
    dry.extend(["--dry-run".into(), "--json".into()]);
    let o = run_bin(env!("CARGO_BIN_EXE_otscout"), &dry).await;
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let variant = &plan["host_variants"][0];
    assert_eq!(variant["hosts"], 1, "{plan:#}");
    let modbus = variant["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["protocol"] == "modbus")
        .expect("the host's modbus probe");
    let units: Vec<String> = modbus["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["requests"][0]["detail"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(units.len(), 10, "{units:?}");
    assert!(
        units[0].starts_with("unit 1,") && units[9].starts_with("unit 0,"),
        "{units:?}"
    );
    assert_eq!(plan["estimate"]["connections_per_host_max"], 10);

    let out = dir.path().join("r.json");
    args.extend(["--quiet".into(), "-o".into(), out.display().to_string()]);
    let o = run_bin(env!("CARGO_BIN_EXE_otscout"), &args).await;
    let events = plant.ledger();
    plant.shutdown().await;
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(connections_of(&events, "gw-silent"), 10);
}

/// Every output is checked before the first packet: a result or report folder that
/// takes no file, or a report that exists, is refused with exit 2 and nothing sent (it
/// used to be found out after every request had gone out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritable_outputs_are_refused_before_the_first_packet() {
    let plant = start(
        Plant::from_toml_str(
            r#"
            [[device]]
            name = "out-plc"
            address = "127.23.95.1"
            [device.modbus]
            port = 0
            unit_ids = [255]
            identity = { vendor_name = "Acme", product_code = "O", revision = "1" }
            "#,
        )
        .unwrap(),
    )
    .await;
    let port = plant.devices()[0].modbus.unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    // A folder that takes no new file, even for root: its "folder" is a regular file.
    let not_a_dir = dir.path().join("plain-file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let existing = dir.path().join("old.report.json");
    std::fs::write(&existing, "{}").unwrap();
    let base: Vec<String> = [
        "scan",
        "127.23.95.1",
        "--profile",
        "lab",
        "--set",
        "enip.enabled=false",
        "--set",
        "s7.enabled=false",
        "--set",
        &format!("modbus.port={port}"),
        "--quiet",
    ]
    .map(String::from)
    .to_vec();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            // The journal elsewhere, so only the result's folder is bad.
            vec![
                "-o".into(),
                not_a_dir.join("r.json").display().to_string(),
                "--journal".into(),
                dir.path().join("j1.jsonl").display().to_string(),
            ],
            "cannot write the result",
        ),
        (
            vec![
                "-o".into(),
                dir.path().join("r2.json").display().to_string(),
                "--report".into(),
                not_a_dir.join("rep.json").display().to_string(),
            ],
            "cannot write the report",
        ),
        (
            vec![
                "-o".into(),
                dir.path().join("r3.json").display().to_string(),
                "--report".into(),
                existing.display().to_string(),
            ],
            "already exists",
        ),
    ];
    for (extra, says) in cases {
        let mut args = base.clone();
        args.extend(extra);
        let o = run_bin(env!("CARGO_BIN_EXE_otscout"), &args).await;
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(says) && err.contains("nothing was sent"),
            "{err}"
        );
        assert!(err.lines().count() == 1, "one line: {err}");
    }
    let events = plant.ledger();
    plant.shutdown().await;
    assert!(
        !events.iter().any(|e| matches!(e.kind, EventKind::Opened)),
        "a connection was opened: {events:?}"
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "{}");
}

/// A result that cannot be written after the scan (its path became a folder meanwhile):
/// exit 3, not 2 (requests went out), and the error gives the `--resume` command, which
/// then finishes the job without probing the device again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_write_failure_gives_the_resume_command() {
    let plant = start(
        Plant::from_toml_str(
            r#"
            [[device]]
            name = "late-plc"
            address = "127.23.96.1"
            behaviour = { latency_ms = 1500 }
            [device.modbus]
            port = 0
            unit_ids = [255]
            identity = { vendor_name = "Acme", product_code = "L", revision = "1" }
            "#,
        )
        .unwrap(),
    )
    .await;
    let port = plant.devices()[0].modbus.unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let journal = dir.path().join("r.json.journal.jsonl");
    let args: Vec<String> = [
        "scan",
        "127.23.96.1",
        "--profile",
        "lab",
        "--set",
        "enip.enabled=false",
        "--set",
        "s7.enabled=false",
        "--set",
        "modbus.read_codes=[\"basic\"]",
        "--set",
        "pacing.response_timeout_ms=3000",
        "--set",
        &format!("modbus.port={port}"),
        "--quiet",
        "-o",
        &out.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    let bin = env!("CARGO_BIN_EXE_otscout");
    let o = {
        let args = args.clone();
        let ledger = plant.ledger_handle();
        let out = out.clone();
        tokio::task::spawn_blocking(move || {
            let child = std::process::Command::new(bin)
                .args(&args)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn otscout");
            let waited = Instant::now();
            while !ledger
                .snapshot()
                .iter()
                .any(|e| matches!(e.kind, EventKind::Request { .. }))
                && waited.elapsed() < Duration::from_secs(20)
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            // The result's path becomes a folder holding a file: no rename over it.
            std::fs::create_dir(&out).unwrap();
            std::fs::write(out.join("keep"), "x").unwrap();
            child.wait_with_output().expect("wait")
        })
        .await
        .unwrap()
    };
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(3), "{err}");
    let resume = format!("--resume {}", journal.display());
    assert!(
        err.contains(&resume) && err.contains("holds everything"),
        "{err}"
    );
    let asked = requests_by_ip(&plant.ledger(), plant.devices());
    // The command the error gives, with another -o, finishes the job.
    let out2 = dir.path().join("r2.json");
    let mut again: Vec<String> = args.clone();
    let at = again.iter().position(|a| a == "-o").unwrap();
    again[at + 1] = out2.display().to_string();
    again.extend(["--resume".into(), journal.display().to_string()]);
    let o = run_bin(bin, &again).await;
    let asked_after = requests_by_ip(&plant.ledger(), plant.devices());
    plant.shutdown().await;
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(asked, asked_after, "the device was asked again");
    let r = read_result(&out2);
    assert_eq!(ledger_by_ip(&r), asked);
}
