//! The scan's open-service facts, `--from-passive` / `--skip-identified`, and the whole
//! job in one command (`--passive ... --sign-key`).
//!
//! Addresses: 127.23.71.x (services), 127.23.72.x (from-passive), 127.23.73.x (one
//! command); ports ephemeral.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;

use otscout::inventory::{
    self, EnipIdentity, EnipIdentitySource, Fact, Identity, Input, ModbusIdentity,
    OBSERVATIONS_FORMAT, Observation, ObservationFile, Protocol, Provenance, Transport,
};
use otscout::probe::scan::{self, PassiveGuide, ProbeOutcome, StopSignal};
use otscout::profile::VendorRule;
use otscout::report::sign;
use otscout_sim::Plant;

use super::plant::{config, profile, run_bin, start};

/// A device that accepts the connection and never answers (a hung RTU) still ends up in
/// the merged inventory as an asset with an open Modbus service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_rtu_is_an_asset_with_its_open_service() {
    let plant = start(
        Plant::from_toml_str(
            r#"
            [[device]]
            name = "hung"
            address = "127.23.71.1"
            behaviour = { hang = true }
            [device.modbus]
            port = 0
            unit_ids = [1]
            identity = { vendor_name = "Unknown", product_code = "RTU", revision = "0" }
            "#,
        )
        .unwrap(),
    )
    .await;
    let ip: IpAddr = "127.23.71.1".parse().unwrap();
    let port = plant.devices()[0].modbus.unwrap().port();
    let mut p = profile();
    p.enip.enabled = false;
    p.s7.enabled = false;
    p.modbus.unit_ids = vec![1];
    p.pacing.response_timeout_ms = 200;
    let ports = HashMap::from([((ip, Protocol::Modbus), port)]);
    let report = scan::run(
        config(p, vec![ip], ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    plant.shutdown().await;
    let probe = &report.hosts[0].probes[0];
    assert_eq!(probe.outcome, ProbeOutcome::Timeout, "{probe:?}");
    let services: Vec<&Fact> = probe
        .observations
        .iter()
        .map(|o| &o.fact)
        .filter(|f| matches!(f, Fact::Service { .. }))
        .collect();
    assert_eq!(
        services,
        vec![&Fact::Service {
            transport: Transport::Tcp,
            port,
            protocol: Protocol::Modbus
        }],
        "exactly one service fact, even if the session reconnected"
    );
    let obs: Vec<_> = report
        .hosts
        .iter()
        .flat_map(|h| &h.probes)
        .flat_map(|p| p.observations.clone())
        .collect();
    let inv = inventory::merge(&[Input::from_raw("scan", obs)], chrono::Utc::now());
    let asset = inv
        .assets
        .iter()
        .find(|a| a.ip == ip)
        .expect("the hung RTU is an asset");
    assert!(
        asset.services.iter().any(|s| s.port == port
            && s.protocol == Protocol::Modbus
            && s.transport == Transport::Tcp),
        "{:?}",
        asset.services
    );
}

/// An ENIP reply over UDP records a UDP service; a UDP port with nothing behind it
/// records none (sending a datagram proves nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_enip_reply_records_a_udp_service() {
    let plant = start(
        Plant::from_toml_str(
            r#"
            [[device]]
            name = "udp-adapter"
            address = "127.23.71.3"
            [device.enip]
            port = 0
            identity = { vendor_id = 1, device_type = 12, product_code = 58, revision_major = 4, revision_minor = 3, status = 0x0030, serial = 0x00524d8e, product_name = "1756-ENBT/A", state = 3 }
            "#,
        )
        .unwrap(),
    )
    .await;
    let ip: IpAddr = "127.23.71.3".parse().unwrap();
    let silent: IpAddr = "127.23.71.4".parse().unwrap();
    let port = plant.devices()[0]
        .enip_udp
        .expect("an ENIP UDP socket")
        .port();
    let mut p = profile();
    p.modbus.enabled = false;
    p.s7.enabled = false;
    p.enip.transport = otscout::profile::EnipTransport::Udp;
    p.enip.list_services = false;
    p.pacing.response_timeout_ms = 200;
    let ports = HashMap::from([((ip, Protocol::Enip), port), ((silent, Protocol::Enip), 1)]);
    let report = scan::run(
        config(p, vec![ip, silent], ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    plant.shutdown().await;
    let services = |host: IpAddr| -> Vec<Fact> {
        report
            .hosts
            .iter()
            .filter(|h| h.ip == host)
            .flat_map(|h| &h.probes)
            .flat_map(|p| &p.observations)
            .filter(|o| matches!(o.fact, Fact::Service { .. }))
            .map(|o| o.fact.clone())
            .collect()
    };
    assert_eq!(
        services(ip),
        vec![Fact::Service {
            transport: Transport::Udp,
            port,
            protocol: Protocol::Enip
        }]
    );
    assert!(services(silent).is_empty(), "{:?}", services(silent));
}

/// Nothing listening: no service fact, and the address stays out of the inventory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_port_records_no_service() {
    let ip: IpAddr = "127.23.71.2".parse().unwrap();
    let mut p = profile();
    p.enip.enabled = false;
    p.s7.enabled = false;
    // Port 1 on an address of our own: nothing listens there.
    let ports = HashMap::from([((ip, Protocol::Modbus), 1)]);
    let report = scan::run(
        config(p, vec![ip], ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    let probe = &report.hosts[0].probes[0];
    assert_eq!(probe.outcome, ProbeOutcome::Refused);
    assert!(
        !probe
            .observations
            .iter()
            .any(|o| matches!(o.fact, Fact::Service { .. }))
    );
    let inv = inventory::merge(
        &[Input::from_raw("scan", probe.observations.clone())],
        chrono::Utc::now(),
    );
    assert!(inv.assets.iter().all(|a| a.ip != ip));
}

// ---------------------------------------------------------------------------------------
// --from-passive / --skip-identified

fn rockwell() -> Identity {
    Identity::Enip(EnipIdentity {
        source: EnipIdentitySource::ListIdentity,
        vendor_id: 1,
        device_type: 14,
        product_code: 54,
        revision_major: 20,
        revision_minor: 11,
        status: 0x30,
        serial: 0x00c0_ffee,
        product_name: "1756-L61/B LOGIX5561".into(),
        state: Some(3),
        encapsulation_version: Some(1),
        socket_addr: None,
    })
}

fn modbus_identity(unit: u8, vendor: &str) -> Identity {
    Identity::Modbus(ModbusIdentity {
        unit_id: unit,
        conformity_level: None,
        objects: BTreeMap::from([(0, vendor.to_owned()), (1, "P1".into()), (2, "1.0".into())]),
    })
}

fn pcap_obs(ip: &str, fact: Fact, frame: u64) -> Observation {
    Observation {
        ip: ip.parse().unwrap(),
        fact,
        provenance: Provenance::Pcap {
            file: "plant.pcapng".into(),
            frame,
        },
        seen: None,
        raw_hex: None,
        path: None,
    }
}

fn write_observations(path: &Path, observations: Vec<Observation>) {
    let file = ObservationFile {
        format: OBSERVATIONS_FORMAT.into(),
        version: 1,
        sources: vec!["plant.pcapng".into()],
        observations,
    };
    std::fs::write(path, serde_json::to_vec_pretty(&file).unwrap()).unwrap();
}

/// A unit id seen in traffic is tried first (and allowed although the profile only allows
/// 255 and 0); a passively identified Rockwell device is not sent S7 from the start; a
/// host in `skip` is recorded as skipped and never touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_guide_unit_first_vendor_rule_and_skip() {
    let plant = start(
        Plant::from_toml_str(
            r#"
            [[device]]
            name = "unit7"
            address = "127.23.72.1"
            [device.modbus]
            port = 0
            unit_ids = [7]
            identity = { vendor_name = "Acme", product_code = "U7", revision = "2.0" }

            [[device]]
            name = "known"
            address = "127.23.72.2"
            [device.modbus]
            port = 0
            unit_ids = [255]
            identity = { vendor_name = "Acme", product_code = "K", revision = "1.0" }
            "#,
        )
        .unwrap(),
    )
    .await;
    let a: IpAddr = "127.23.72.1".parse().unwrap();
    let b: IpAddr = "127.23.72.2".parse().unwrap();
    let mut p = profile();
    p.enip.enabled = false;
    p.modbus.unit_ids = vec![255, 0];
    p.modbus.allow_other_unit_ids = false;
    p.vendor_rules = vec![VendorRule {
        matches: "rockwell".into(),
        skip_protocols: vec![Protocol::S7],
        host_interval_ms: None,
        cooldown_ms: None,
        note: "no S7 to Rockwell".into(),
    }];
    let read_codes = p.modbus.read_codes.len();
    let mut ports = HashMap::new();
    for d in plant.devices() {
        let ip = IpAddr::V4(d.address);
        ports.insert((ip, Protocol::Modbus), d.modbus.unwrap().port());
        ports.insert((ip, Protocol::S7), 1);
    }
    let mut cfg = config(p, vec![a, b], ports);
    cfg.passive = Some(PassiveGuide {
        identities: HashMap::from([(a, vec![rockwell()])]),
        modbus_units: HashMap::from([(a, vec![7])]),
        s7_tsaps: HashMap::new(),
        skip: HashMap::from([(b, "already identified by passive data".to_owned())]),
    });
    let report = scan::run(cfg, scan::no_events(), StopSignal::new())
        .await
        .unwrap();
    let ledger = plant.ledger();
    plant.shutdown().await;

    let host = report.hosts.iter().find(|h| h.ip == a).expect("a probed");
    let modbus = host
        .probes
        .iter()
        .find(|p| p.protocol == Protocol::Modbus)
        .unwrap();
    assert_eq!(modbus.outcome, ProbeOutcome::Identified, "{modbus:?}");
    assert!(
        host.identities()
            .any(|i| matches!(i, Identity::Modbus(m) if m.unit_id == 7))
    );
    let sent: u64 = modbus.requests.iter().map(|r| r.count).sum();
    assert_eq!(
        sent as usize, read_codes,
        "unit 7 answered first: no request went to 255 or 0"
    );
    let s7 = host
        .probes
        .iter()
        .find(|p| p.protocol == Protocol::S7)
        .unwrap();
    assert_eq!(s7.outcome, ProbeOutcome::SkippedByRule, "{s7:?}");
    assert_eq!(s7.connections, 0);

    assert!(report.hosts.iter().all(|h| h.ip != b), "b not probed");
    assert!(
        report
            .skipped
            .iter()
            .any(|(ip, why)| *ip == b && why.contains("already identified")),
        "{:?}",
        report.skipped
    );
    assert!(
        ledger.iter().all(|e| e.device != "known"),
        "the skipped device saw nothing"
    );
}

fn dry_run_json(args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
        .arg("scan")
        .args(args)
        .args(["--dry-run", "--json"])
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code(),
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The dry run: with no targets the passive hosts are the targets (multicast left out);
/// with targets, the intersection; exclusions win; --skip-identified is counted.
#[test]
fn from_passive_dry_run_targets() {
    let dir = tempfile::tempdir().unwrap();
    let obs = dir.path().join("passive.json");
    write_observations(
        &obs,
        vec![
            pcap_obs(
                "10.9.0.5",
                Fact::Identity {
                    identity: modbus_identity(3, "Acme"),
                },
                1,
            ),
            pcap_obs(
                "10.9.0.6",
                Fact::Declared {
                    attribute: "observed.modbus_unit_id".into(),
                    value: "9".into(),
                },
                2,
            ),
            pcap_obs(
                "10.9.1.7",
                Fact::Declared {
                    attribute: "observed.s7_tsap".into(),
                    value: "0x0102".into(),
                },
                3,
            ),
            pcap_obs(
                "10.9.1.7",
                Fact::Peer {
                    peer: "239.1.1.1".parse().unwrap(),
                    protocol: Protocol::Enip,
                    role: otscout::inventory::Role::Client,
                    count: 1,
                },
                4,
            ),
        ],
    );
    let f = obs.display().to_string();

    let (code, plan, err) = dry_run_json(&["--from-passive", &f, "--skip-identified"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(plan["targets"]["count"], 3, "{plan}");
    let p = &plan["passive"];
    // 239.1.1.1 is only named as a peer: never a host (passive::hints::shows_a_host).
    assert_eq!(p["hosts_seen"], 3);
    assert_eq!(p["not_unicast"], 0);
    assert_eq!(p["from_passive"], 3);
    assert_eq!(p["skip_identified"], 1);
    assert_eq!(p["with_unit_ids"], 2);
    assert_eq!(p["with_tsaps"], 1);

    // Targets narrow it, an exclusion wins.
    let (code, plan, err) =
        dry_run_json(&["10.9.0.0/24", "--exclude", "10.9.0.6", "--from-passive", &f]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(plan["targets"]["count"], 1, "{plan}");
    assert_eq!(plan["targets"]["sample"][0], "10.9.0.5");
    assert_eq!(plan["passive"]["outside_scope"], 2);

    // Nothing left: a clear error naming the file, exit 2.
    let (code, _, err) = dry_run_json(&["10.8.0.0/24", "--from-passive", &f]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("passive.json") && err.contains("within the targets"),
        "{err}"
    );

    // Text plan says how many hosts came from passive data.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
        .args(["scan", "--from-passive", &f, "--dry-run"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3 hosts from passive data"), "{text}");

    // A file that is not passive data: named in the error.
    let bad = dir.path().join("bad.bin");
    std::fs::write(&bad, b"\x00\x01garbage").unwrap();
    let (code, _, err) = dry_run_json(&["--from-passive", &bad.display().to_string()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("bad.bin"), "{err}");
}

/// `otscout scan` with no targets but --from-passive and --skip-identified, for real:
/// the unidentified host is probed with its observed unit id, the identified one is
/// recorded as skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_from_passive_skip_identified() {
    let plant = start(
        Plant::from_toml_str(
            r#"
            [[device]]
            name = "cli-unit9"
            address = "127.23.72.11"
            [device.modbus]
            port = 0
            unit_ids = [9]
            identity = { vendor_name = "Acme", product_code = "U9", revision = "1.0" }
            "#,
        )
        .unwrap(),
    )
    .await;
    let port = plant.devices()[0].modbus.unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let obs = dir.path().join("passive.json");
    write_observations(
        &obs,
        vec![
            pcap_obs(
                "127.23.72.11",
                Fact::Declared {
                    attribute: "observed.modbus_unit_id".into(),
                    value: "9".into(),
                },
                1,
            ),
            pcap_obs(
                "127.23.72.12",
                Fact::Identity {
                    identity: modbus_identity(1, "Known"),
                },
                2,
            ),
        ],
    );
    let out = dir.path().join("scan.json");
    let args: Vec<String> = [
        "scan",
        "--from-passive",
        &obs.display().to_string(),
        "--skip-identified",
        "--profile",
        "lab",
        "--set",
        &format!("modbus.port={port}"),
        "--set",
        "enip.enabled=false",
        "--set",
        "s7.enabled=false",
        "-o",
        &out.display().to_string(),
        "--report",
        &dir.path().join("r.json").display().to_string(),
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let run = run_bin(env!("CARGO_BIN_EXE_otscout"), &args).await;
    let ledger = plant.ledger();
    plant.shutdown().await;
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let result: otscout::inventory::scan::ScanResult =
        serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert!(result.observations.iter().any(|o| matches!(&o.fact,
        Fact::Identity { identity: Identity::Modbus(m) } if m.unit_id == 9)));
    let text = serde_json::to_string(&result.scan).unwrap();
    assert!(
        text.contains("127.23.72.12") && text.contains("already identified"),
        "the skipped host and its reason are in the result: {text}"
    );
    assert!(
        result
            .observations
            .iter()
            .all(|o| o.ip != "127.23.72.12".parse::<IpAddr>().unwrap()),
        "nothing was learned actively from the skipped host"
    );
    assert!(!ledger.is_empty());
    // The report merges the --from-passive data: the skipped host is there, identified.
    let inv =
        otscout::report::json::parse_lenient(&std::fs::read(dir.path().join("r.json")).unwrap())
            .unwrap();
    let known = inv
        .assets
        .iter()
        .find(|a| a.ip == "127.23.72.12".parse::<IpAddr>().unwrap())
        .expect("the skipped host is in the report");
    assert!(known.identified());
    assert!(
        !dir.path().join("r.json.minisig").exists(),
        "no key: unsigned"
    );
}

// ---------------------------------------------------------------------------------------
// The whole job in one command

/// `otscout scan ... --passive FILE --sign-key KEY`: the result and journal, then a
/// signed report next to them merging the scan with the passive data; the signature
/// verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_scan_passive_signed_report() {
    let plant = start(
        Plant::from_toml_str(
            r#"
            [[device]]
            name = "one-cmd"
            address = "127.23.73.1"
            [device.modbus]
            port = 0
            unit_ids = [255]
            identity = { vendor_name = "Acme", product_code = "OC", revision = "3.1" }
            "#,
        )
        .unwrap(),
    )
    .await;
    let port = plant.devices()[0].modbus.unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let keys = sign::keygen(dir.path(), &sign::Protection::Unencrypted).unwrap();
    let obs = dir.path().join("passive.json");
    write_observations(
        &obs,
        vec![pcap_obs(
            "127.23.73.2",
            Fact::Identity {
                identity: rockwell(),
            },
            5,
        )],
    );
    let out = dir.path().join("plant.json");
    let args: Vec<String> = [
        "scan",
        "127.23.73.1",
        "--profile",
        "lab",
        "--set",
        &format!("modbus.port={port}"),
        "--set",
        "enip.enabled=false",
        "--set",
        "s7.enabled=false",
        "-o",
        &out.display().to_string(),
        "--passive",
        &obs.display().to_string(),
        "--sign-key",
        &keys.secret.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let run = run_bin(env!("CARGO_BIN_EXE_otscout"), &args).await;
    plant.shutdown().await;
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report = dir.path().join("plant.report.json");
    assert!(
        stdout.contains(&format!("report: {}", report.display())),
        "{stdout}"
    );
    assert!(out.exists(), "the scan result is written too");
    assert!(dir.path().join("plant.json.journal.jsonl").exists());
    let pk = sign::load_public_key(&keys.public).unwrap();
    let verified = sign::verify_file(&report, &pk).expect("the signature verifies");
    let inv = verified.inventory;
    let a = inv
        .assets
        .iter()
        .find(|x| x.ip == "127.23.73.1".parse::<IpAddr>().unwrap())
        .expect("the scanned device");
    assert_eq!(
        a.manufacturer.as_ref().map(|f| f.value.as_str()),
        Some("Acme")
    );
    assert!(
        a.services
            .iter()
            .any(|s| s.port == port && s.protocol == Protocol::Modbus)
    );
    let b = inv
        .assets
        .iter()
        .find(|x| x.ip == "127.23.73.2".parse::<IpAddr>().unwrap())
        .expect("the passively seen device");
    assert!(b.identified());
    assert_eq!(inv.scans.len(), 1);

    // --report names the path; no key: unsigned. A bad --passive input fails before any
    // probing, naming the file.
    let mut again = args.clone();
    let n = again.len();
    again.truncate(n - 2);
    let out2 = dir.path().join("plant2.json");
    let i = again.iter().position(|a| a == "-o").unwrap();
    again[i + 1] = out2.display().to_string();
    let missing = dir.path().join("missing.pcap");
    again.extend(["--passive".into(), missing.display().to_string()]);
    let run = run_bin(env!("CARGO_BIN_EXE_otscout"), &again).await;
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("missing.pcap"));
    assert!(!out2.exists(), "nothing scanned");
}
