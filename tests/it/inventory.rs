//! Merge: observations from scans, captures and CSV inventories into assets with
//! per-field provenance, conflicts, links and flags; determinism.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use otscout::inventory::merge::{FlagKind, LinkKind, SourceKind};
use otscout::inventory::{Input, Inventory, Observation, merge};
use otscout::report::{input, json};
use serde_json::{Value, json};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inventory")
        .join(name)
}

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("test time").to_utc()
}

fn obs(v: Value) -> Observation {
    // Through text, as files are read (serde_json::from_value does not parse "0" as a u8 map key).
    serde_json::from_str(&v.to_string()).expect("test observation")
}

fn active(scan: &str, request: &str) -> Value {
    json!({"source": "active", "scan_id": scan, "profile": "conservative",
           "profile_sha256": "00", "request": request})
}

fn pcap(frame: u64) -> Value {
    json!({"source": "pcap", "file": "plant.pcap", "frame": frame})
}

fn csv(row: u64) -> Value {
    json!({"source": "csv", "file": "assets.csv", "row": row})
}

fn enip(ip: &str, serial: u32, minor: u8, prov: Value, seen: &str) -> Observation {
    obs(json!({
        "ip": ip,
        "fact": {"type": "identity", "identity": {
            "protocol": "enip", "source": "list_identity", "vendor_id": 1, "device_type": 12,
            "product_code": 58, "revision_major": 4, "revision_minor": minor, "status": 48,
            "serial": serial, "product_name": "1756-ENBT/A"}},
        "provenance": prov,
        "seen": seen,
    }))
}

fn declared(ip: &str, attribute: &str, value: &str, row: u64) -> Observation {
    obs(json!({
        "ip": ip,
        "fact": {"type": "declared", "attribute": attribute, "value": value},
        "provenance": csv(row),
    }))
}

fn mac(ip: &str, mac: &str, basis: &str, prov: Value, seen: &str) -> Observation {
    obs(json!({
        "ip": ip, "fact": {"type": "mac", "mac": mac, "basis": basis},
        "provenance": prov, "seen": seen,
    }))
}

fn raw(name: &str, o: Vec<Observation>) -> Input {
    Input::from_raw(name, o)
}

fn one(inv: &Inventory, ip: &str) -> otscout::inventory::merge::Asset {
    let ip: std::net::IpAddr = ip.parse().expect("ip");
    inv.assets
        .iter()
        .find(|a| a.ip == ip)
        .unwrap_or_else(|| panic!("no asset {ip}"))
        .clone()
}

const GEN: &str = "2026-11-21T00:00:00Z";

#[test]
fn active_and_passive_agree_one_value_two_sources() {
    let inv = merge(
        &[
            raw(
                "scan",
                vec![enip(
                    "10.0.0.5",
                    0x0052_4d8e,
                    3,
                    active("s1", "enip.list_identity"),
                    "2026-11-20T10:00:00Z",
                )],
            ),
            raw(
                "cap",
                vec![enip(
                    "10.0.0.5",
                    0x0052_4d8e,
                    3,
                    pcap(7),
                    "2026-11-19T10:00:00Z",
                )],
            ),
        ],
        t(GEN),
    );
    let a = one(&inv, "10.0.0.5");
    let fw = a.firmware.expect("firmware");
    assert_eq!(fw.value, "4.3");
    assert!(fw.conflicts.is_empty());
    let kinds: Vec<SourceKind> = fw.sources.iter().map(|s| s.kind).collect();
    assert!(
        kinds.contains(&SourceKind::Active) && kinds.contains(&SourceKind::Passive),
        "{kinds:?}"
    );
    assert_eq!(a.serial.expect("serial").value, "0x00524d8e");
    assert_eq!(
        a.manufacturer.expect("vendor").value,
        "Rockwell Automation/Allen-Bradley"
    );
    assert_eq!(a.device_type.expect("type").value, "Communications Adapter");
    assert!(a.flags.is_empty(), "{:?}", a.flags);
    assert_eq!(inv.summary.identified, 1);
}

#[test]
fn active_beats_passive_of_the_same_age_and_keeps_the_other_value() {
    let same = "2026-11-20T10:00:00.250Z";
    let inv = merge(
        &[
            raw(
                "cap",
                vec![enip("10.0.0.5", 1, 2, pcap(7), "2026-11-20T10:00:00.900Z")],
            ),
            raw(
                "scan",
                vec![enip(
                    "10.0.0.5",
                    1,
                    3,
                    active("s1", "enip.list_identity"),
                    same,
                )],
            ),
        ],
        t(GEN),
    );
    let fw = one(&inv, "10.0.0.5").firmware.expect("firmware");
    assert_eq!(fw.value, "4.3", "active wins at the same second");
    assert_eq!(fw.conflicts.len(), 1);
    assert_eq!(fw.conflicts[0].value, "4.2");
    assert_eq!(fw.conflicts[0].sources[0].kind, SourceKind::Passive);
    let flags = one(&inv, "10.0.0.5").flags;
    assert!(flags.iter().any(|f| f.kind == FlagKind::ObservedConflict && f.field.as_deref() == Some("firmware")));
}

#[test]
fn newer_passive_beats_older_active() {
    let inv = merge(
        &[
            raw(
                "scan",
                vec![enip(
                    "10.0.0.5",
                    1,
                    2,
                    active("s1", "enip.list_identity"),
                    "2026-10-01T00:00:00Z",
                )],
            ),
            raw(
                "cap",
                vec![enip("10.0.0.5", 1, 3, pcap(9), "2026-11-01T00:00:00Z")],
            ),
        ],
        t(GEN),
    );
    let fw = one(&inv, "10.0.0.5").firmware.expect("firmware");
    assert_eq!(fw.value, "4.3");
    assert_eq!(fw.conflicts[0].value, "4.2");
}

#[test]
fn csv_fills_what_the_network_cannot_know_and_conflicts_are_flagged() {
    let inv = merge(
        &[
            raw(
                "scan",
                vec![enip(
                    "10.0.0.5",
                    0x1234,
                    3,
                    active("s1", "enip.list_identity"),
                    "2026-11-20T10:00:00Z",
                )],
            ),
            raw(
                "assets.csv",
                vec![
                    declared("10.0.0.5", "criticality", "high", 2),
                    declared("10.0.0.5", "Location", "Hall 3", 2),
                    declared("10.0.0.5", "owner", "maintenance", 2),
                    declared("10.0.0.5", "serial", "0xDEADBEEF", 2),
                    declared("10.0.0.5", "firmware", "V4.3", 2),
                    declared("10.0.0.5", "rack", "R7", 2),
                    declared("10.0.0.9", "hostname", "spare-plc", 5),
                ],
            ),
        ],
        t(GEN),
    );
    let a = one(&inv, "10.0.0.5");
    assert_eq!(a.criticality.as_ref().expect("criticality").value, "high");
    assert_eq!(a.location.as_ref().expect("location").value, "Hall 3");
    assert_eq!(a.owner.as_ref().expect("owner").value, "maintenance");
    assert_eq!(a.attributes["rack"].value, "R7");
    // The declared serial disagrees: the observed one stays, the declared one is kept
    // as a conflict, and the asset is flagged.
    let serial = a.serial.as_ref().expect("serial");
    assert_eq!(serial.value, "0x00001234");
    assert_eq!(serial.conflicts[0].value, "0xDEADBEEF");
    assert_eq!(serial.conflicts[0].sources[0].kind, SourceKind::Declared);
    assert!(
        a.flags
            .iter()
            .any(|f| f.kind == FlagKind::DeclaredConflict && f.field.as_deref() == Some("serial"))
    );
    // "V4.3" declared and 4.3 observed are the same firmware.
    let fw = a.firmware.as_ref().expect("firmware");
    assert!(fw.conflicts.is_empty(), "{fw:?}");
    assert_eq!(fw.sources.len(), 2);
    // A host only the CSV knows is an asset with declared values, not "identified".
    let spare = one(&inv, "10.0.0.9");
    assert_eq!(spare.hostname.expect("hostname").value, "spare-plc");
    assert_eq!(inv.summary.identified, 1);
}

#[test]
fn a_declared_location_beats_the_device_but_the_difference_is_flagged() {
    let s7 = obs(json!({
        "ip": "10.0.0.7",
        "fact": {"type": "identity", "identity": {"protocol": "s7", "order_number": "6ES7 315-2EH14-0AB0", "location": "Halle 3"}},
        "provenance": active("s1", "s7.szl_read"), "seen": "2026-11-20T10:00:00Z"}));
    let inv = merge(
        &[raw(
            "x",
            vec![s7, declared("10.0.0.7", "location", "Hall 4", 3)],
        )],
        t(GEN),
    );
    let a = one(&inv, "10.0.0.7");
    let loc = a.location.as_ref().expect("location");
    assert_eq!(loc.value, "Hall 4");
    assert_eq!(loc.conflicts[0].value, "Halle 3");
    assert!(a.flags.iter().any(|f| f.kind == FlagKind::DeclaredConflict));
    assert_eq!(a.family.expect("family").value, "S7-300");
}

#[test]
fn the_same_serial_at_two_addresses_is_linked_and_flagged() {
    let inv = merge(
        &[raw(
            "scan",
            vec![
                enip(
                    "10.0.0.5",
                    0xC0FF_EE01,
                    3,
                    active("s1", "enip.list_identity"),
                    "2026-11-20T10:00:00Z",
                ),
                enip(
                    "10.0.1.5",
                    0xC0FF_EE01,
                    3,
                    active("s1", "enip.list_identity"),
                    "2026-11-20T10:00:01Z",
                ),
                enip(
                    "10.0.2.5",
                    0x0000_0001,
                    3,
                    active("s1", "enip.list_identity"),
                    "2026-11-20T10:00:02Z",
                ),
            ],
        )],
        t(GEN),
    );
    assert_eq!(inv.links.len(), 1, "{:?}", inv.links);
    let l = &inv.links[0];
    assert_eq!(l.kind, LinkKind::SameSerial);
    assert_eq!(l.value, "0xc0ffee01");
    assert_eq!(
        l.ips,
        vec![
            "10.0.0.5".parse::<std::net::IpAddr>().expect("ip"),
            "10.0.1.5".parse().expect("ip")
        ]
    );
    for ip in ["10.0.0.5", "10.0.1.5"] {
        assert!(
            one(&inv, ip)
                .flags
                .iter()
                .any(|f| f.kind == FlagKind::SameSerialElsewhere),
            "{ip}"
        );
    }
    assert!(one(&inv, "10.0.2.5").flags.is_empty());
}

#[test]
fn an_address_reused_by_another_device_is_flagged() {
    let inv = merge(
        &[
            raw(
                "old capture",
                vec![
                    enip("10.0.0.8", 0x0000_0AAA, 3, pcap(3), "2026-06-01T00:00:00Z"),
                    mac(
                        "10.0.0.8",
                        "00:00:BC:11:22:33",
                        "ethernet_local",
                        pcap(3),
                        "2026-06-01T00:00:00Z",
                    ),
                ],
            ),
            raw(
                "scan",
                vec![
                    enip(
                        "10.0.0.8",
                        0x0000_0BBB,
                        3,
                        active("s2", "enip.list_identity"),
                        "2026-11-20T10:00:00Z",
                    ),
                    mac(
                        "10.0.0.8",
                        "00-00-bc-44-55-66",
                        "arp",
                        pcap(99),
                        "2026-11-20T10:00:00Z",
                    ),
                ],
            ),
        ],
        t(GEN),
    );
    let a = one(&inv, "10.0.0.8");
    let serial = a.serial.as_ref().expect("serial");
    assert_eq!(serial.value, "0x00000bbb");
    assert_eq!(serial.conflicts[0].value, "0x00000aaa");
    let m = a.mac.as_ref().expect("mac");
    assert_eq!(m.value, "00:00:bc:44:55:66");
    assert_eq!(m.conflicts[0].value, "00:00:bc:11:22:33");
    let reused: Vec<_> = a
        .flags
        .iter()
        .filter(|f| f.kind == FlagKind::AddressReused)
        .collect();
    assert_eq!(reused.len(), 2, "{:?}", a.flags);
}

#[test]
fn a_routed_mac_is_never_the_assets_mac() {
    let inv = merge(
        &[raw(
            "cap",
            vec![mac(
                "10.1.1.164",
                "00:1d:9c:00:00:01",
                "ethernet_routed",
                pcap(7),
                "2026-11-20T10:00:00Z",
            )],
        )],
        t(GEN),
    );
    let a = one(&inv, "10.1.1.164");
    assert!(a.mac.is_none());
    assert_eq!(a.attributes["router_mac"].value, "00:1d:9c:00:00:01");
    assert!(inv.links.is_empty());
}

#[test]
fn vendor_names_family_firmware_and_cpe_are_normalised() {
    let modbus = obs(json!({
        "ip": "10.0.0.20",
        "fact": {"type": "identity", "identity": {"protocol": "modbus", "unit_id": 1,
            "objects": {"0": "SCHNEIDER ELECTRIC", "1": "BMX P34 2020", "2": "v2.70"}}},
        "provenance": active("s1", "modbus.read_device_id"), "seen": "2026-11-20T10:00:00Z"}));
    let mut inputs = input::load(&fixture("scan.json"), None).expect("scan fixture");
    inputs.observations.push(modbus);
    let inv = merge(&[inputs], t(GEN));
    let plc = one(&inv, "192.168.1.40");
    assert_eq!(plc.manufacturer.as_ref().expect("m").value, "Siemens");
    assert_eq!(plc.family.as_ref().expect("f").value, "ET 200S CPU");
    assert_eq!(plc.firmware.as_ref().expect("fw").value, "3.2.6");
    assert_eq!(plc.hostname.as_ref().expect("h").value, "IM151-8-CPU");
    assert_eq!(
        plc.cpe_hardware.as_ref().expect("cpe").value,
        "cpe:2.3:h:siemens:6es7_151-8ab01-0ab0:-:*:*:*:*:*:*:*"
    );
    assert_eq!(
        plc.cpe_firmware.as_ref().expect("cpe").value,
        "cpe:2.3:o:siemens:6es7_151-8ab01-0ab0_firmware:3.2.6:*:*:*:*:*:*:*"
    );
    // The Modbus object map survives the report's JSON round trip.
    let back = json::parse(&json::render(&inv)).expect("canonical");
    assert_eq!(back, inv);
    let m = one(&inv, "10.0.0.20");
    assert_eq!(m.manufacturer.expect("m").value, "Schneider Electric");
    assert_eq!(m.model.expect("model").value, "BMX P34 2020");
    assert_eq!(m.firmware.expect("fw").value, "2.70");
}

#[test]
fn every_field_names_its_sources() {
    let inputs: Vec<Input> = ["scan.json", "passive.json", "declared.json"]
        .iter()
        .map(|f| input::load(&fixture(f), None).expect("fixture"))
        .collect();
    let inv = merge(&inputs, t(GEN));
    assert_eq!(inv.assets.len(), 2);
    for a in &inv.assets {
        assert!(a.fields().count() > 3, "{}", a.ip);
        for (name, f) in a.fields() {
            assert!(!f.sources.is_empty(), "{} {name} has no source", a.ip);
            for c in &f.conflicts {
                assert!(
                    !c.sources.is_empty(),
                    "{} {name} conflict has no source",
                    a.ip
                );
            }
        }
        for s in &a.services {
            assert!(!s.sources.is_empty());
        }
    }
    let plc = one(&inv, "192.168.1.40");
    assert_eq!(plc.mac.as_ref().expect("mac").value, "00:1b:1b:23:eb:3b");
    assert_eq!(plc.criticality.as_ref().expect("crit").value, "high");
    // The CSV says V3.2.5; both the scan and the capture say V3.2.6.
    let fw = plc.firmware.as_ref().expect("fw");
    assert_eq!(fw.value, "3.2.6");
    assert_eq!(fw.conflicts[0].value, "3.2.5");
    assert_eq!(inv.scans.len(), 1);
    assert_eq!(inv.scans[0].scan_id, "scan-20261120-1000");
}

/// Heap's algorithm: every order of `items`.
fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut a = items.to_vec();
    let n = a.len();
    let mut c = vec![0usize; n];
    out.push(a.clone());
    let mut i = 0;
    while i < n {
        if c[i] < i {
            if i % 2 == 0 {
                a.swap(0, i);
            } else {
                a.swap(c[i], i);
            }
            out.push(a.clone());
            c[i] += 1;
            i = 0;
        } else {
            c[i] = 0;
            i += 1;
        }
    }
    out
}

#[test]
fn the_same_inputs_in_any_order_give_byte_identical_reports() {
    let mut inputs: Vec<Input> = ["scan.json", "passive.json", "declared.json"]
        .iter()
        .map(|f| input::load(&fixture(f), None).expect("fixture"))
        .collect();
    inputs.push(raw(
        "extra",
        vec![
            enip("10.0.0.5", 0xC0FF_EE01, 2, pcap(3), "2026-06-01T00:00:00Z"),
            enip(
                "10.0.1.5",
                0xC0FF_EE01,
                3,
                active("s1", "enip.list_identity"),
                "2026-11-20T10:00:01Z",
            ),
            declared("10.0.0.5", "criticality", "low", 9),
        ],
    ));
    let reference = json::render(&merge(&inputs, t(GEN)));
    let perms = permutations(&inputs);
    assert_eq!(perms.len(), 24);
    for (n, p) in perms.iter().enumerate() {
        // Also reverse the observations inside every input.
        let p: Vec<Input> = p
            .iter()
            .cloned()
            .map(|mut i| {
                if n % 2 == 1 {
                    i.observations.reverse();
                }
                i
            })
            .collect();
        assert!(
            json::render(&merge(&p, t(GEN))) == reference,
            "order {n} differs"
        );
    }
    // A duplicate input changes nothing but is not a different report either.
    let mut twice = inputs.clone();
    twice.push(inputs[0].clone());
    assert!(json::render(&merge(&twice, t(GEN))) == reference);
}

#[test]
fn a_report_merged_again_gives_the_same_assets() {
    let inputs: Vec<Input> = ["scan.json", "passive.json", "declared.json"]
        .iter()
        .map(|f| input::load(&fixture(f), None).expect("fixture"))
        .collect();
    let first = merge(&inputs, t(GEN));
    let bytes = json::render(&first);
    let again = merge(
        &[Input::from_report(
            "first.json",
            json::parse(&bytes).expect("canonical"),
        )],
        t(GEN),
    );
    assert_eq!(again.assets, first.assets);
    assert_eq!(again.scans, first.scans);
    assert_eq!(again.observations, first.observations);
}

#[test]
fn operations_on_an_asset_are_flagged() {
    let op = obs(json!({
        "ip": "10.0.0.30",
        "fact": {"type": "operation", "actor": "10.0.0.99", "protocol": "modbus", "kind": "write",
                 "function": "write_multiple_registers", "count": 3,
                 "first": "2026-11-20T10:00:00Z", "last": "2026-11-20T10:05:00Z"},
        "provenance": pcap(40), "seen": "2026-11-20T10:00:00Z"}));
    let inv = merge(&[raw("cap", vec![op])], t(GEN));
    let a = one(&inv, "10.0.0.30");
    assert_eq!(a.operations.len(), 1);
    assert_eq!(a.operations[0].count, 3);
    assert!(
        a.flags
            .iter()
            .any(|f| f.kind == FlagKind::Operations && f.detail.contains("10.0.0.99"))
    );
    assert!(a.manufacturer.is_none(), "a write is not an identity");
}

/// Operation names follow `<protocol>.<operation>`; Modbus names were written without the
/// prefix before the rule. An old observation file's `write_multiple_registers` and a new
/// one's `modbus.write_multiple_registers` are one operation after merge (two before it).
#[test]
fn old_modbus_operation_names_merge_with_the_prefixed_ones() {
    let op = |function: &str, frame: u64| {
        obs(json!({
            "ip": "10.0.0.30",
            "fact": {"type": "operation", "actor": "10.0.0.99", "protocol": "modbus",
                     "kind": "write", "function": function, "count": 2,
                     "first": "2026-11-20T10:00:00Z", "last": "2026-11-20T10:05:00Z"},
            "provenance": pcap(frame), "seen": "2026-11-20T10:00:00Z"}))
    };
    let inv = merge(
        &[
            raw("old", vec![op("write_multiple_registers", 40)]),
            raw("new", vec![op("modbus.write_multiple_registers", 41)]),
        ],
        t(GEN),
    );
    let a = one(&inv, "10.0.0.30");
    assert_eq!(a.operations.len(), 1, "{:?}", a.operations);
    assert_eq!(a.operations[0].function, "modbus.write_multiple_registers");
    assert_eq!(a.operations[0].count, 4);
    // Names that carry their protocol already are kept as they are.
    assert_eq!(
        otscout::inventory::operation_name(otscout::inventory::Protocol::S7, "s7.write_var"),
        "s7.write_var"
    );
    assert_eq!(
        otscout::inventory::operation_name(otscout::inventory::Protocol::Cip, "cip.reset"),
        "cip.reset"
    );
}

#[test]
fn bad_inputs_are_named_in_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("weird.json");
    std::fs::write(&p, br#"{"format": "something-else", "version": 1}"#).expect("write");
    let e = input::load(&p, None)
        .expect_err("unknown format")
        .to_string();
    assert!(
        e.contains("weird.json") && e.contains("something-else"),
        "{e}"
    );
    std::fs::write(&p, br#"{"format": "otscout-scan", "version": 9}"#).expect("write");
    let e = input::load(&p, None).expect_err("version").to_string();
    assert!(e.contains("version 9"), "{e}");
    std::fs::write(
        &p,
        br#"{"format": "otscout-scan", "version": 1, "scan": {}}"#,
    )
    .expect("write");
    let e = input::load(&p, None)
        .expect_err("missing fields")
        .to_string();
    assert!(e.contains("weird.json") && e.contains("scan result"), "{e}");
}

fn modbus(ip: &str, objects: Value, prov: Value, seen: &str) -> Observation {
    obs(json!({
        "ip": ip,
        "fact": {"type": "identity", "identity": {
            "protocol": "modbus", "unit_id": 255, "objects": objects}},
        "provenance": prov,
        "seen": seen,
    }))
}

#[test]
fn one_device_spoken_of_two_ways_is_not_a_conflict() {
    // An M580: a capture saw only the basic objects (no ModelName), the scan read the
    // regular ones too, and its EtherNet/IP side names the vendor by its ODVA entry
    // ("Schneider Automation, Inc.", id 243). None of that is a disagreement.
    let inv = merge(
        &[
            raw(
                "cap",
                vec![modbus(
                    "10.0.0.9",
                    json!({"0": "Schneider Electric", "1": "BMEP582040", "2": "v4.10"}),
                    pcap(3),
                    "2026-11-19T10:00:00Z",
                )],
            ),
            raw(
                "scan",
                vec![
                    modbus(
                        "10.0.0.9",
                        json!({"0": "Schneider Electric", "1": "BMEP582040", "2": "v4.10",
                               "5": "BME P58 2040"}),
                        active("s1", "modbus.read_device_id"),
                        "2026-11-20T10:00:00Z",
                    ),
                    obs(json!({
                        "ip": "10.0.0.9",
                        "fact": {"type": "identity", "identity": {
                            "protocol": "enip", "source": "list_identity", "vendor_id": 243,
                            "device_type": 12, "product_code": 2050, "revision_major": 4,
                            "revision_minor": 10, "status": 48, "serial": 1,
                            "product_name": "BMEP582040"}},
                        "provenance": active("s1", "enip.list_identity"),
                        "seen": "2026-11-20T10:00:01Z",
                    })),
                ],
            ),
        ],
        t(GEN),
    );
    let a = one(&inv, "10.0.0.9");
    let vendor = a.manufacturer.expect("vendor");
    assert_eq!(vendor.value, "Schneider Electric");
    assert!(vendor.conflicts.is_empty(), "{:?}", vendor.conflicts);
    let model = a.model.expect("model");
    assert!(model.conflicts.is_empty(), "{:?}", model.conflicts);
    assert_eq!(model.value.replace(' ', ""), "BMEP582040");
}

#[test]
fn a_modbus_product_code_is_the_model_only_when_nothing_names_one() {
    let inv = merge(
        &[raw(
            "cap",
            vec![modbus(
                "10.0.0.10",
                json!({"0": "Zeek Modbus Test", "1": "Protocol Parsing is fun!", "2": "1.2.3.6"}),
                pcap(94),
                "2026-11-19T10:00:00Z",
            )],
        )],
        t(GEN),
    );
    let a = one(&inv, "10.0.0.10");
    assert_eq!(a.model.expect("model").value, "Protocol Parsing is fun!");
}
