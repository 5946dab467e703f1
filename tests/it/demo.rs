//! `otscout demo` end to end through the binary: the report verifies (with `otscout
//! verify` and with stock minisign), every device of the demo plant is in it with the
//! identity the plant file gives it, the CSV's declared attributes and the capture's
//! register write are there with their provenance, the deliberate firmware conflict is
//! flagged, and nothing is left listening afterwards. No timing assertions.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;

use otscout::inventory::merge::{Asset, AssetField, FlagKind, Inventory, SourceKind};
use otscout::inventory::{OperationKind, Provenance};
use otscout_sim::Plant;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_otscout"))
}

fn demo_plant() -> Plant {
    Plant::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/simulators/plants/demo.toml"
    ))
    .expect("the demo plant")
}

/// The stock minisign binary, or `None` (skip) when it is missing, unless
/// OTSCOUT_REQUIRE_TOOLS=1 says it must be there.
fn stock_minisign(test: &str) -> Option<&'static str> {
    if Command::new("minisign").arg("-v").output().is_ok() {
        return Some("minisign");
    }
    assert!(
        std::env::var("OTSCOUT_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "{test}: minisign is not installed but OTSCOUT_REQUIRE_TOOLS=1"
    );
    eprintln!("skipped the stock minisign check of {test}: minisign is not installed");
    None
}

fn value(a: &Asset, field: AssetField) -> Option<&str> {
    a.value(field)
}

/// `v` is the field's value or one of the values that lost to it (a device that speaks
/// two protocols names itself twice).
fn has_value(a: &Asset, field: AssetField, v: &str) -> bool {
    a.fields()
        .find(|(n, _)| *n == field)
        .is_some_and(|(_, f)| f.value == v || f.conflicts.iter().any(|c| c.value == v))
}

fn assets(inv: &Inventory) -> BTreeMap<IpAddr, &Asset> {
    inv.assets.iter().map(|a| (a.ip, a)).collect()
}

#[test]
fn demo_runs_end_to_end_and_its_report_verifies() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("run");
    let run = bin()
        .args(["demo", "--out"])
        .arg(&out)
        .output()
        .expect("run otscout demo");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "demo failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        run.status
    );
    let report = out.join("report.json");
    let public = out.join("otscout.pub");
    for f in [
        "hmi-polling.pcapng",
        "declared-inventory.csv",
        "scan.json",
        "scan.json.journal.jsonl",
        "report.json",
        "report.json.minisig",
        "report.html",
        "otscout.key",
        "otscout.pub",
    ] {
        assert!(out.join(f).is_file(), "{f} missing in {}", out.display());
        assert!(
            stdout.contains(f),
            "the summary does not name {f}:\n{stdout}"
        );
    }
    // The plant's own ledger is the witness of what the scan sent.
    assert!(
        stdout.contains("requests from the scan, 0 of them outside the read-only identity set"),
        "{stdout}"
    );
    // The exact stock command is printed.
    let stock = format!("minisign -Vm {} -p {}", report.display(), public.display());
    assert!(stdout.contains(&stock), "no `{stock}` in:\n{stdout}");

    // otscout verify.
    let v = bin()
        .arg("verify")
        .arg(&report)
        .arg("--pubkey")
        .arg(&public)
        .output()
        .expect("run otscout verify");
    assert!(
        v.status.success(),
        "otscout verify: {}",
        String::from_utf8_lossy(&v.stderr)
    );
    // Stock minisign, exactly as printed.
    if let Some(m) = stock_minisign("demo_runs_end_to_end_and_its_report_verifies") {
        let v = Command::new(m)
            .arg("-Vm")
            .arg(&report)
            .arg("-p")
            .arg(&public)
            .output()
            .expect("run minisign");
        assert!(
            v.status.success(),
            "minisign -V: {}{}",
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&v.stderr)
        );
    }

    let pk = otscout::report::sign::load_public_key(&public).expect("public key");
    let inv = otscout::report::sign::verify_file(&report, &pk)
        .expect("verified")
        .inventory;
    check_identities(&inv);
    check_gateway_units(&inv);
    check_declared_and_operations(&inv, &out);
    check_nothing_left_listening(&inv, &stderr);
}

/// The demo's serial gateway (issue 15): the demo profile lists units 1-3, the gateway
/// answers 0x0A for its own 255 and 0, so the scan reads them: units 1 and 2 are its
/// sub-assets with the identities the plant gives them, the dead unit 3 (0x0B) is none.
fn check_gateway_units(inv: &Inventory) {
    let ip: IpAddr = "127.77.0.38".parse().unwrap();
    let gw = assets(inv)[&ip];
    let subs: Vec<(&str, Option<&str>, Option<&str>)> = gw
        .sub_assets
        .iter()
        .map(|s| {
            (
                s.path.as_deref().unwrap_or_default(),
                value(s, AssetField::Manufacturer),
                value(s, AssetField::Model),
            )
        })
        .collect();
    assert_eq!(
        subs,
        [
            ("modbus:unit/1", Some("Schneider Electric"), Some("ATV320")),
            ("modbus:unit/2", Some("Eaton"), Some("PXM 2260"))
        ],
        "{:#?}",
        gw.sub_assets
    );
}

/// Every device of the plant is an asset; those the conservative profile can identify
/// carry the identity the plant file gives them, field by field.
fn check_identities(inv: &Inventory) {
    let by_ip = assets(inv);
    let plant = demo_plant();
    for d in &plant.devices {
        let ip = IpAddr::V4(d.address);
        let a = by_ip
            .get(&ip)
            .unwrap_or_else(|| panic!("{} ({ip}) is not in the report", d.name));
        match d.name.as_str() {
            // Answers List Identity with status 0x0001 (unsupported): no identity.
            "flex-io-chassis" => assert_eq!(value(a, AssetField::Manufacturer), None),
            // Answers only unit 247 and behind it 1..3; the conservative profile tries
            // 255 and 0 only (other unit ids need allow_other_unit_ids): the units behind
            // it are its sub-assets (`check_gateway_units`).
            "rtu-gateway" => assert_eq!(value(a, AssetField::Manufacturer), None),
            // Never answers.
            "hung-rtu" => assert_eq!(value(a, AssetField::Manufacturer), None),
            _ => {
                if let Some(s7) = &d.s7 {
                    let id = &s7.identity;
                    assert_eq!(
                        value(a, AssetField::Manufacturer),
                        Some("Siemens"),
                        "{}",
                        d.name
                    );
                    assert_eq!(
                        value(a, AssetField::Model),
                        Some(id.order_number.trim()),
                        "{}",
                        d.name
                    );
                    assert_eq!(
                        value(a, AssetField::Serial),
                        Some(id.serial_number.as_str()),
                        "{}",
                        d.name
                    );
                    assert_eq!(
                        value(a, AssetField::ProductName),
                        Some(id.module_type_name.as_str()),
                        "{}",
                        d.name
                    );
                    assert!(value(a, AssetField::Firmware).is_some(), "{}", d.name);
                } else if let Some(e) = &d.enip {
                    let id = &e.identity;
                    let fw = format!("{}.{}", id.revision_major, id.revision_minor);
                    let serial = format!("0x{:08x}", id.serial);
                    for (field, v) in [
                        (AssetField::ProductName, id.product_name.as_str()),
                        (AssetField::Firmware, fw.as_str()),
                        (AssetField::Serial, serial.as_str()),
                    ] {
                        assert!(has_value(a, field, v), "{}: {field} {v}: {a:?}", d.name);
                    }
                    assert!(value(a, AssetField::Manufacturer).is_some(), "{}", d.name);
                } else if let Some(m) = &d.modbus {
                    let id = &m.identity;
                    assert_eq!(
                        value(a, AssetField::Manufacturer),
                        Some(id.vendor_name.trim()),
                        "{}",
                        d.name
                    );
                    assert_eq!(
                        value(a, AssetField::ProductCode),
                        Some(id.product_code.trim()),
                        "{}",
                        d.name
                    );
                    let fw = value(a, AssetField::Firmware).unwrap_or_default();
                    assert!(
                        id.revision.trim_start_matches(['v', 'V']).starts_with(fw),
                        "{}: firmware {fw} from revision {}",
                        d.name,
                        id.revision
                    );
                }
            }
        }
    }
    // The M580 speaks both Modbus and EtherNet/IP: both identities were merged.
    let m580 = by_ip[&"127.77.0.35".parse::<IpAddr>().unwrap()];
    assert_eq!(m580.protocols.len(), 2, "{:?}", m580.protocols);
}

/// The CSV's attributes arrive with their file and row; the capture's write is an
/// operation by the engineering station; the declared firmware conflict is flagged.
fn check_declared_and_operations(inv: &Inventory, out: &Path) {
    let by_ip = assets(inv);
    let csv = out.join("declared-inventory.csv");
    let pump = by_ip[&"127.77.0.34".parse::<IpAddr>().unwrap()];
    let crit = pump.criticality.as_ref().expect("declared criticality");
    assert_eq!(crit.value, "critical");
    let src = &crit.sources[0];
    assert_eq!(src.kind, SourceKind::Declared);
    match &src.provenance {
        Provenance::Csv { file, row } => {
            assert_eq!(Path::new(file), csv.as_path());
            assert_eq!(*row, 14, "127.77.0.34 is on line 14 of the CSV");
        }
        p => panic!("criticality from {p:?}"),
    }
    for field in [
        AssetField::Role,
        AssetField::Location,
        AssetField::Owner,
        AssetField::Zone,
    ] {
        assert!(
            value(pump, field).is_some(),
            "declared {field} missing: {pump:?}"
        );
    }
    // Every plant device got its declared attributes.
    for d in &demo_plant().devices {
        let a = by_ip[&IpAddr::V4(d.address)];
        assert!(
            value(a, AssetField::Zone).is_some(),
            "{} has no declared zone",
            d.name
        );
    }

    // The engineering station's FC 6 on the pump station PLC.
    let op = pump
        .operations
        .iter()
        .find(|o| o.kind == OperationKind::Write)
        .unwrap_or_else(|| panic!("no write operation on 127.77.0.34: {:?}", pump.operations));
    assert_eq!(op.actor, "127.77.0.101".parse::<IpAddr>().unwrap());
    assert_eq!(op.function, "modbus.write_single_register");
    assert_eq!(op.count, 1);
    assert!(
        op.sources.iter().any(|s| s.kind == SourceKind::Passive
            && matches!(&s.provenance, Provenance::Pcap { file, .. } if file.ends_with("hmi-polling.pcapng"))),
        "write without its capture provenance: {:?}",
        op.sources
    );
    assert!(pump.flags.iter().any(|f| f.kind == FlagKind::Operations));

    // The deliberate conflict: the CSV says 4.02, the device says 4.10.
    let m580 = by_ip[&"127.77.0.35".parse::<IpAddr>().unwrap()];
    let fw = m580.firmware.as_ref().expect("firmware");
    assert_eq!(fw.value, "4.10");
    assert!(
        fw.conflicts
            .iter()
            .any(|c| c.value == "4.02" && c.sources.iter().all(|s| s.kind == SourceKind::Declared)),
        "{fw:?}"
    );
    assert!(
        m580.flags
            .iter()
            .any(|f| f.kind == FlagKind::DeclaredConflict && f.field.as_deref() == Some("firmware")),
        "{:?}",
        m580.flags
    );

    // The passive identity: zeek-modbus-test answers unit 1 only, which the
    // conservative profile does not try, but the HMI's identity read shows it.
    let zeek = by_ip[&"127.77.0.31".parse::<IpAddr>().unwrap()];
    let vendor = zeek.manufacturer.as_ref().expect("passive identity");
    assert!(vendor.sources.iter().all(|s| s.kind == SourceKind::Passive));
}

/// The plant is gone when the binary exits: its ports bind again.
fn check_nothing_left_listening(inv: &Inventory, stderr: &str) {
    let modbus_port: u16 = stderr
        .split("ports ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port base in:\n{stderr}"));
    let pump: SocketAddr = format!("127.77.0.34:{modbus_port}").parse().unwrap();
    TcpListener::bind(pump).unwrap_or_else(|e| panic!("{pump} still taken after the demo: {e}"));
    assert!(!inv.scans.is_empty());
}

#[test]
fn quiet_demo_prints_nothing_and_a_used_folder_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = bin()
        .args(["demo", "--quiet", "--out"])
        .arg(tmp.path())
        .output()
        .expect("run otscout demo");
    assert!(run.status.success(), "{:?}", run);
    assert!(
        run.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    assert!(
        run.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(tmp.path().join("report.json.minisig").is_file());

    // Again into the same folder: refused before anything starts, naming the file.
    let again = bin()
        .args(["demo", "--quiet", "--out"])
        .arg(tmp.path())
        .output()
        .expect("run otscout demo");
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("already exists") && err.contains("--out"),
        "{err}"
    );
}
