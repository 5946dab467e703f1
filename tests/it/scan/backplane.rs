//! Backplane enumeration (issue 15 part 3) against the simulator's chassis on loopback:
//! the `rockwell` profile reads every module of an adapter's chassis through one
//! encapsulation session on one connection, and the plant's ledger shows exactly the
//! documented requests: List Identity, Register Session, one routed identity read per
//! slot of the profile's range, Unregister Session.

use std::collections::BTreeMap;
use std::net::IpAddr;

use otscout::inventory::{Identity, Input, Protocol, merge};
use otscout::probe::scan::{self, ScanStatus, StopSignal};
use otscout::profile::EnipTransport;
use otscout_sim::{EventKind, Plant};

use super::plant::{config, start};

const PLANT: &str = r#"
[[device]]
name = "chassis-enbt"
address = "127.23.150.1"
[device.enip]
port = 0
udp = false
identity = { vendor_id = 1, device_type = 12, product_code = 58, revision_major = 4, revision_minor = 3, serial = 0x00524d8e, product_name = "1756-ENBT/A" }
[device.enip.chassis]
slots = 4
[[device.enip.chassis.modules]]
slot = 0
identity = { vendor_id = 1, device_type = 14, product_code = 54, revision_major = 20, revision_minor = 11, serial = 0x00c0ffee, product_name = "1756-L61/B LOGIX5561" }
[[device.enip.chassis.modules]]
slot = 2
identity = { vendor_id = 1, device_type = 7, product_code = 10, revision_major = 3, revision_minor = 1, serial = 0x00a1b2c3, product_name = "1756-IB16/A" }

[[device]]
name = "plc-no-chassis"
address = "127.23.150.2"
[device.enip]
port = 0
udp = false
identity = { vendor_id = 1, device_type = 14, product_code = 168, revision_major = 33, revision_minor = 11, serial = 0x60c1d2e3, product_name = "1756-L85E/B" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rockwell_reads_the_chassis_modules_as_sub_assets_within_the_slot_range() {
    let plant = start(Plant::from_toml_str(PLANT).unwrap()).await;
    let mut ports = std::collections::HashMap::new();
    for d in plant.devices() {
        let ip = IpAddr::V4(d.address);
        ports.insert((ip, Protocol::Enip), d.enip_tcp.unwrap().port());
        ports.insert((ip, Protocol::Modbus), 1);
        ports.insert((ip, Protocol::S7), 1);
    }
    let mut p = otscout::profile::builtin("rockwell")
        .expect("built-in rockwell")
        .profile;
    assert!(p.enip.backplane, "rockwell enables backplane enumeration");
    assert_eq!(
        (p.enip.backplane_slot_first, p.enip.backplane_slot_last),
        (0, 16)
    );
    assert_eq!(p.enip.transport, EnipTransport::Tcp);
    // Slots 0-5 of a 4-slot chassis: 4 and 5 are beyond it and answer an error.
    p.enip.backplane_slot_last = 5;
    p.pacing.response_timeout_ms = 1000;
    let targets: Vec<IpAddr> = vec![
        "127.23.150.1".parse().unwrap(),
        "127.23.150.2".parse().unwrap(),
    ];
    let report = scan::run(
        config(p, targets, ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let events = plant.ledger();
    plant.shutdown().await;
    assert_eq!(report.status, ScanStatus::Complete);

    // --- The ledger: exactly the documented requests, in order, on one connection.
    let mut times: Vec<std::time::Duration> = Vec::new();
    let mut per_device: BTreeMap<&str, Vec<(u64, String, bool)>> = BTreeMap::new();
    let mut opened: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for e in &events {
        match &e.kind {
            EventKind::Opened => opened.entry(&e.device).or_default().push(e.conn),
            EventKind::Request {
                function, identity, ..
            } => {
                if e.device == "chassis-enbt" {
                    times.push(e.at);
                }
                per_device
                    .entry(&e.device)
                    .or_default()
                    .push((e.conn, function.clone(), *identity))
            }
            _ => {}
        }
    }
    let adapter = &per_device["chassis-enbt"];
    let functions: Vec<&str> = adapter.iter().map(|r| r.1.as_str()).collect();
    let mut expected = vec!["list_identity".to_string(), "register_session".to_string()];
    expected.extend((0..=5).map(|n| format!("send_rr_data get_attributes_all identity via 1/{n}")));
    expected.push("unregister_session".into());
    assert_eq!(functions, expected);
    assert!(
        adapter.iter().all(|r| r.2),
        "only identity requests: {adapter:?}"
    );
    assert_eq!(opened["chassis-enbt"].len(), 1, "one connection");
    assert!(adapter.iter().all(|r| r.0 == opened["chassis-enbt"][0]));
    // Paced like every other request: rockwell's 500 ms between requests to a host (the
    // ledger's arrival times, with 50 ms for loopback jitter).
    assert_eq!(times.len(), 9);
    for w in times.windows(2) {
        assert!(
            w[1] - w[0] >= std::time::Duration::from_millis(450),
            "requests {:?} apart",
            w[1] - w[0]
        );
    }
    // A controller (device type 14) gets List Identity and nothing else.
    let plc: Vec<&str> = per_device["plc-no-chassis"]
        .iter()
        .map(|r| r.1.as_str())
        .collect();
    assert_eq!(plc, ["list_identity"]);

    // --- The inventory: one adapter, its modules as sub-assets at their slots.
    let ip: IpAddr = "127.23.150.1".parse().unwrap();
    let host = report.hosts.iter().find(|h| h.ip == ip).unwrap();
    let observations: Vec<_> = host
        .probes
        .iter()
        .flat_map(|p| p.observations.iter().cloned())
        .collect();
    let inv = merge(
        &[Input::from_raw("scan", observations.clone())],
        chrono::Utc::now(),
    );
    let a = inv
        .assets
        .iter()
        .find(|a| a.ip == ip)
        .expect("adapter asset");
    let subs: Vec<(String, String)> = a
        .sub_assets
        .iter()
        .map(|s| {
            (
                s.path.clone().unwrap_or_default(),
                s.value(otscout::inventory::merge::AssetField::Model)
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(subs.len(), 2, "{subs:?}");
    assert_eq!(subs[0].0, "cip:1/0");
    assert!(subs[0].1.contains("1756-L61"), "{subs:?}");
    assert_eq!(subs[1].0, "cip:1/2");
    assert!(subs[1].1.contains("1756-IB16"), "{subs:?}");
    // The adapter keeps its own identity, without conflicts from its modules.
    let own: Vec<_> = observations
        .iter()
        .filter(|o| o.path.is_none())
        .filter_map(|o| match &o.fact {
            otscout::inventory::Fact::Identity {
                identity: Identity::Enip(e),
            } => Some(e.product_name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(own, ["1756-ENBT/A"]);
    // Empty slots and slots beyond the chassis are findings, not errors.
    let empty = observations
        .iter()
        .filter(|o| {
            matches!(&o.fact, otscout::inventory::Fact::Negative { answer, .. }
                if answer.contains("empty or unreachable slot"))
        })
        .count();
    assert_eq!(empty, 4, "slots 1, 3, 4, 5");
}

/// Through the built binary, as an operator runs it: `otscout scan --profile rockwell`
/// against the simulator's chassis writes the modules as the adapter's sub-assets, in the
/// scan result (observations with their `cip:1/N` path) and in the report beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_scan_with_rockwell_writes_the_modules_as_sub_assets() {
    let plant = start(Plant::from_toml_str(PLANT).unwrap()).await;
    let d = plant
        .devices()
        .iter()
        .find(|d| d.address.to_string() == "127.23.150.1")
        .cloned()
        .expect("the adapter");
    let port = d.enip_tcp.unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let result = dir.path().join("scan.json");
    let report = dir.path().join("report.json");
    let enip_port = format!("enip.port={port}");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"));
    cmd.args(["scan", "127.23.150.1", "--profile", "rockwell"])
        .args(["--set", &enip_port])
        .args(["--set", "enip.backplane_slot_last=3"])
        .args(["--set", "pacing.host_interval_ms=100"])
        .args(["--set", "pacing.response_timeout_ms=1000"])
        .arg("-o")
        .arg(&result)
        .arg("--report")
        .arg(&report)
        .args(["-q", "--operator", "backplane-test"])
        .current_dir(dir.path());
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("otscout runs"))
        .await
        .unwrap();
    let events = plant.ledger();
    plant.shutdown().await;
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // Slots 0-3 and nothing beyond, all identity requests.
    let routed: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Request {
                function, identity, ..
            } if e.device == "chassis-enbt" => {
                assert!(*identity, "{function}");
                function
                    .strip_prefix("send_rr_data get_attributes_all identity via ")
                    .map(str::to_owned)
            }
            _ => None,
        })
        .collect();
    assert_eq!(routed, ["1/0", "1/1", "1/2", "1/3"]);

    let scan: serde_json::Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
    let mut paths: Vec<&str> = scan["observations"]
        .as_array()
        .expect("observations")
        .iter()
        .filter(|o| o["fact"]["type"] == "identity")
        .filter_map(|o| o["path"].as_str())
        .collect();
    paths.sort_unstable();
    assert_eq!(paths, ["cip:1/0", "cip:1/2"]);

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let adapter = report["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["ip"] == "127.23.150.1")
        .expect("the adapter's asset");
    assert_eq!(adapter["model"]["value"], "1756-ENBT/A");
    let subs: Vec<(&str, &str)> = adapter["sub_assets"]
        .as_array()
        .expect("sub-assets")
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap(),
                s["model"]["value"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        subs,
        [
            ("cip:1/0", "1756-L61/B LOGIX5561"),
            ("cip:1/2", "1756-IB16/A")
        ]
    );
}
