//! Units behind a Modbus/TCP gateway (issue 15, active part) against the simulator's
//! gateway model on loopback: a profile that lists `gateway_units` reads each listed unit
//! of a device that answered a gateway exception, and the plant's ledger shows no other
//! unit id, one connection at a time (a new one only after a silent unit), the per-host
//! interval between requests, and nothing but Read Device Identification.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use otscout::inventory::merge::AssetField;
use otscout::inventory::{Input, Protocol, merge};
use otscout::probe::scan::{self, ScanStatus, StopSignal};
use otscout_sim::{EventKind, Plant};

use super::plant::{config, profile, start};

// Units 1 and 2 answer with their own identities, unit 3 is configured but dead (0x0B),
// unit 4 hangs the bus (the gateway passes nothing back), unit 9 answers but is not in
// the profile's list, and any other unit has no path (0x0A), 255 and 0 included.
const PLANT: &str = r#"
[[device]]
name = "gw"
address = "127.23.151.1"
[device.modbus]
port = 0
unit_ids = [247]
identity = { vendor_name = "ProSoft Technology", product_code = "PLX31-MBTCP-MBS", revision = "1.4.2", conformity_level = 0x81 }
[[device.modbus.gateway]]
unit_id = 1
identity = { vendor_name = "Schneider Electric", product_code = "ATV320", revision = "v2.7", conformity_level = 0x81 }
[[device.modbus.gateway]]
unit_id = 2
identity = { vendor_name = "Eaton", product_code = "PXM 2260", revision = "1.0.3", conformity_level = 0x81 }
[[device.modbus.gateway]]
unit_id = 3
online = false
identity = { vendor_name = "ABB", product_code = "ACS355", revision = "5.0", conformity_level = 0x81 }
[[device.modbus.gateway]]
unit_id = 4
silent = true
identity = { vendor_name = "Danfoss", product_code = "FC 302", revision = "8.1", conformity_level = 0x81 }
[[device.modbus.gateway]]
unit_id = 9
identity = { vendor_name = "Not Listed", product_code = "X", revision = "1", conformity_level = 0x81 }

[[device]]
name = "plain"
address = "127.23.151.2"
[device.modbus]
port = 0
unit_ids = [255]
identity = { vendor_name = "Schneider Electric", product_code = "BMX P34 2020", revision = "v3.1", conformity_level = 0x81 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_units_are_read_as_sub_assets_and_only_the_listed_ones() {
    let plant = start(Plant::from_toml_str(PLANT).unwrap()).await;
    let mut ports = HashMap::new();
    for d in plant.devices() {
        let ip = IpAddr::V4(d.address);
        ports.insert((ip, Protocol::Modbus), d.modbus.unwrap().port());
        ports.insert((ip, Protocol::Enip), 1);
        ports.insert((ip, Protocol::S7), 1);
    }
    let mut p = profile();
    p.enip.enabled = false;
    p.s7.enabled = false;
    p.modbus.unit_ids = vec![255, 0];
    p.modbus.allow_other_unit_ids = false;
    p.modbus.read_codes = vec![otscout::protocols::modbus::safe::ReadDeviceIdCode::Basic];
    p.modbus.gateway_units = vec![1, 2, 3, 4];
    p.pacing.host_interval_ms = 200;
    p.pacing.response_timeout_ms = 500;
    p.validate().expect("a valid profile");
    let targets: Vec<IpAddr> = vec![
        "127.23.151.1".parse().unwrap(),
        "127.23.151.2".parse().unwrap(),
    ];
    let report = scan::run(
        config(p, targets, ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = plant.ledger();
    plant.shutdown().await;
    assert_eq!(report.status, ScanStatus::Complete);

    // --- The ledger: the unit ids sent, per connection, and nothing else.
    let mut units: BTreeMap<&str, Vec<(u64, u8)>> = BTreeMap::new();
    let mut times: Vec<Duration> = Vec::new();
    let mut conns: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for e in &events {
        match &e.kind {
            EventKind::Request {
                function,
                identity,
                bytes,
            } => {
                assert!(*identity, "only identity requests: {function}");
                assert_eq!(function, "read_device_identification");
                units.entry(&e.device).or_default().push((e.conn, bytes[6]));
                if e.device == "gw" {
                    times.push(e.at);
                }
            }
            EventKind::Opened => conns.entry(&e.device).or_default().push(e.conn),
            EventKind::Overlap { open } => panic!("{}: {open} connections at once", e.device),
            EventKind::ClientReset { during } => panic!("{}: reset during {during}", e.device),
            _ => {}
        }
    }
    let gw = &units["gw"];
    let sent: Vec<u8> = gw.iter().map(|u| u.1).collect();
    // Its own unit ids first (0x0A for both), then exactly the listed units, in order:
    // never 9, which would answer.
    assert_eq!(sent, [255, 0, 1, 2, 3, 4]);
    // One connection for all of it: a gateway exception and an answer keep it; only the
    // silent unit 4, the last, would move the next unit to a new one.
    assert_eq!(conns["gw"].len(), 1, "{:?}", conns["gw"]);
    assert!(gw.iter().all(|u| u.0 == conns["gw"][0]));
    // Paced: 200 ms between requests to the host (50 ms for loopback jitter).
    for w in times.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(150),
            "requests {:?} apart",
            w[1] - w[0]
        );
    }
    // A device that answers for itself gives no sign of a gateway: no listed unit.
    let plain: Vec<u8> = units["plain"].iter().map(|u| u.1).collect();
    assert_eq!(plain, [255]);

    // --- The inventory: the gateway with its two answering units as sub-assets.
    let ip: IpAddr = "127.23.151.1".parse().unwrap();
    let host = report.hosts.iter().find(|h| h.ip == ip).unwrap();
    let observations: Vec<_> = host
        .probes
        .iter()
        .flat_map(|p| p.observations.iter().cloned())
        .collect();
    let inv = merge(&[Input::from_raw("scan", observations)], chrono::Utc::now());
    let a = inv
        .assets
        .iter()
        .find(|a| a.ip == ip)
        .expect("gateway asset");
    let subs: Vec<(String, String)> = a
        .sub_assets
        .iter()
        .map(|s| {
            (
                s.path.clone().unwrap_or_default(),
                s.value(AssetField::Manufacturer)
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        subs,
        [
            (
                "modbus:unit/1".to_string(),
                "Schneider Electric".to_string()
            ),
            ("modbus:unit/2".to_string(), "Eaton".to_string())
        ]
    );
    // The gateway itself has no identity of its own from these (none of 255/0 answered).
    assert_eq!(a.value(AssetField::Manufacturer), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_unit_behind_a_gateway_moves_the_next_to_a_new_connection_never_two_at_once() {
    silent_unit_moves_the_next_to_a_new_connection(PLANT, false).await;
}

/// The same gateway holding its side of a closed connection for 600 ms, longer than the
/// scan's close hold, and refusing a second connection: the connection counts as open
/// until the gateway's FIN, so the unit after the silent one is never sent in this scan
/// (the pacer does not connect a host again that held a connection), with no overlap and
/// no reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_closes_late_gets_the_next_unit_only_after_its_fin() {
    let late = PLANT.replacen(
        "address = \"127.23.151.1\"\n",
        "address = \"127.23.151.1\"\nbehaviour = { close_delay_ms = 600, max_connections = 1, over_limit = \"drop_all\" }\n",
        1,
    );
    assert_ne!(late, PLANT);
    silent_unit_moves_the_next_to_a_new_connection(&late, true).await;
}

async fn silent_unit_moves_the_next_to_a_new_connection(plant_toml: &str, holds: bool) {
    let plant = start(Plant::from_toml_str(plant_toml).unwrap()).await;
    let mut ports = HashMap::new();
    for d in plant.devices() {
        let ip = IpAddr::V4(d.address);
        ports.insert((ip, Protocol::Modbus), d.modbus.unwrap().port());
        ports.insert((ip, Protocol::Enip), 1);
        ports.insert((ip, Protocol::S7), 1);
    }
    let mut p = profile();
    p.enip.enabled = false;
    p.s7.enabled = false;
    p.modbus.unit_ids = vec![255];
    p.modbus.allow_other_unit_ids = false;
    p.modbus.read_codes = vec![otscout::protocols::modbus::safe::ReadDeviceIdCode::Basic];
    p.modbus.gateway_units = vec![4, 2];
    p.pacing.response_timeout_ms = 300;
    let targets: Vec<IpAddr> = vec!["127.23.151.1".parse().unwrap()];
    let report = scan::run(
        config(p, targets, ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = plant.ledger();
    plant.shutdown().await;
    assert_eq!(report.status, ScanStatus::Complete);
    let mut sent: Vec<(u64, u8)> = Vec::new();
    let mut closed_before_next = true;
    let mut open = 0i32;
    for e in &events {
        match &e.kind {
            EventKind::Opened => {
                closed_before_next &= open == 0;
                open += 1;
            }
            EventKind::Closed { .. } => open -= 1,
            EventKind::Request { bytes, .. } => sent.push((e.conn, bytes[6])),
            EventKind::Overlap { open } => panic!("{open} connections at once"),
            EventKind::ClientReset { during } => panic!("reset during {during}"),
            _ => {}
        }
    }
    assert!(
        closed_before_next,
        "a connection opened before the last closed"
    );
    let units: Vec<u8> = sent.iter().map(|s| s.1).collect();
    if holds {
        assert_eq!(
            units,
            [255, 4],
            "nothing after a connection the gateway held"
        );
        return;
    }
    assert_eq!(units, [255, 4, 2]);
    // 255 (0x0A) and the silent 4 share the first connection; 2 goes out on a new one.
    assert_eq!(sent[0].0, sent[1].0);
    assert_ne!(sent[1].0, sent[2].0);
    let ip: IpAddr = "127.23.151.1".parse().unwrap();
    let host = report.hosts.iter().find(|h| h.ip == ip).unwrap();
    let observations: Vec<_> = host
        .probes
        .iter()
        .flat_map(|p| p.observations.iter().cloned())
        .collect();
    let silent = observations.iter().any(|o| {
        matches!(&o.fact, otscout::inventory::Fact::Negative { answer, .. }
            if answer.starts_with("unit 4 behind the gateway gave no answer"))
    });
    assert!(silent, "{observations:?}");
    let paths: Vec<_> = observations.iter().filter_map(|o| o.path.clone()).collect();
    assert_eq!(paths, ["modbus:unit/2"]);
}
