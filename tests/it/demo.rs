//! `otscout demo` end to end through the binary: the report verifies (with `otscout
//! verify` and with stock minisign), every device of the demo plant is in it with the
//! identity the plant file gives it (the chassis' modules as sub-assets at their slots,
//! the BACnet, OPC UA, FINS and Fox devices with their exact identities and the OPC UA
//! security findings), the CSV's declared attributes and the capture's register write are
//! there with their provenance, the deliberate firmware conflict is flagged, the plant's
//! ledger shows only identity requests, and nothing is left listening afterwards. No
//! timing assertions.

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
        "plant-ledger.jsonl",
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
    check_new_protocols(&inv);
    check_summary(&stdout);
    check_ledger(&out.join("plant-ledger.jsonl"));
    check_gateway_units(&inv);
    check_declared_and_operations(&inv, &out);
    check_dcp(&inv);
    check_nothing_left_listening(&inv, &stderr);
}

/// The engineering station's PROFINET DCP session in the capture (issue 17): the ET 200SP
/// it identified has no IP yet, so it is an asset keyed by its MAC, and the station's Set
/// of its NameOfStation is a flagged write by the station's address.
fn check_dcp(inv: &Inventory) {
    let et = inv
        .assets
        .iter()
        .find(|a| a.mac_key() == Some("00:1b:1b:6e:20:01"))
        .unwrap_or_else(|| panic!("no DCP asset: {:?}", inv.assets.last()));
    assert!(et.mac_only());
    assert_eq!(value(et, AssetField::Manufacturer), Some("Siemens"));
    assert_eq!(value(et, AssetField::Hostname), Some("et200sp-im155-6"));
    assert_eq!(value(et, AssetField::ProductCode), Some("0x002a/0x0313"));
    let op = et
        .operations
        .iter()
        .find(|o| o.function == "profinet_dcp.set_name_of_station")
        .unwrap_or_else(|| panic!("no DCP Set: {:?}", et.operations));
    assert_eq!(op.kind, OperationKind::Write);
    // The station's MAC is the Ethernet source of its IP packets in the same capture.
    assert_eq!(op.actor, "127.77.0.101".parse::<IpAddr>().unwrap());
    assert!(et.flags.iter().any(|f| f.kind == FlagKind::Operations));
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

fn attr<'a>(a: &'a Asset, key: &str) -> Option<&'a str> {
    a.attributes.get(key).map(|f| f.value.as_str())
}

fn device<'a>(plant: &'a Plant, name: &str) -> &'a otscout_sim::plant::DeviceConfig {
    plant
        .devices
        .iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no {name} in the demo plant"))
}

/// The devices of issues 15, 16 and 17, field by field against the plant file: the
/// chassis' modules as sub-assets at `cip:1/<slot>` (and nothing at its empty slots),
/// the BACnet building controller, the OPC UA gateway with its security findings, the
/// FINS controller and the Fox station.
fn check_new_protocols(inv: &Inventory) {
    let by_ip = assets(inv);
    let plant = demo_plant();

    // The chassis: the adapter keeps its own identity, without conflicts; each module is
    // a sub-asset at its slot with the identity the plant gives it.
    let en2t = device(&plant, "controllogix-en2t-chassis");
    let e = en2t.enip.as_ref().expect("enip");
    let a = by_ip[&IpAddr::V4(en2t.address)];
    assert_eq!(
        value(a, AssetField::Model),
        Some(e.identity.product_name.as_str())
    );
    assert_eq!(value(a, AssetField::Serial), Some("0x60a7c0de"));
    assert_eq!(value(a, AssetField::Firmware), Some("11.2"));
    assert_eq!(
        value(a, AssetField::DeviceType),
        Some("Communications Adapter")
    );
    assert!(
        a.fields().all(|(_, f)| f.conflicts.is_empty()),
        "the adapter has conflicting values: {a:#?}"
    );
    let chassis = e.chassis.as_ref().expect("a chassis");
    let paths: Vec<&str> = a
        .sub_assets
        .iter()
        .filter_map(|s| s.path.as_deref())
        .collect();
    let expected: Vec<String> = chassis
        .modules
        .iter()
        .map(|m| format!("cip:1/{}", m.slot))
        .collect();
    assert_eq!(
        paths, expected,
        "one sub-asset per module, none for empty slots"
    );
    assert_eq!(paths, ["cip:1/0", "cip:1/2", "cip:1/3"]);
    for (m, sub) in chassis.modules.iter().zip(&a.sub_assets) {
        let id = &m.identity;
        assert_eq!(sub.ip, a.ip);
        assert_eq!(
            value(sub, AssetField::Model),
            Some(id.product_name.as_str())
        );
        assert_eq!(
            value(sub, AssetField::Serial),
            Some(format!("0x{:08x}", id.serial).as_str())
        );
        assert_eq!(
            value(sub, AssetField::Firmware),
            Some(format!("{}.{}", id.revision_major, id.revision_minor).as_str())
        );
        assert_eq!(
            value(sub, AssetField::ProductCode),
            Some(id.product_code.to_string().as_str())
        );
    }
    assert_eq!(
        value(&a.sub_assets[0], AssetField::Manufacturer),
        Some("Rockwell Automation/Allen-Bradley")
    );
    assert_eq!(
        value(&a.sub_assets[2], AssetField::Manufacturer),
        Some("Prosoft Technology")
    );
    // Empty slots (1, 4, 5, 6) are findings on the adapter, not errors.
    let empty = a
        .findings
        .iter()
        .filter(|f| f.detail.contains("empty or unreachable slot"))
        .count();
    assert_eq!(empty, 4, "{:#?}", a.findings);

    // BACnet/IP: the JCI NAE of bacnet_test.pcap, read with its UCS-2 strings.
    let nae = device(&plant, "building-nae");
    let id = &nae.bacnet.as_ref().expect("bacnet").identity;
    let a = by_ip[&IpAddr::V4(nae.address)];
    assert_eq!(value(a, AssetField::Model), Some(id.model_name.as_str()));
    assert_eq!(
        value(a, AssetField::Firmware),
        Some(id.firmware_revision.as_str())
    );
    assert_eq!(
        attr(a, "bacnet.device_instance"),
        Some(id.instance.to_string().as_str())
    );
    assert_eq!(attr(a, "bacnet.device_instance"), Some("500"));
    assert_eq!(attr(a, "bacnet.object_name"), Some(id.object_name.as_str()));
    assert_eq!(
        attr(a, "bacnet.vendor_id"),
        Some(id.vendor_id.to_string().as_str())
    );
    assert!(value(a, AssetField::Manufacturer).is_some(), "{a:#?}");

    // OPC UA: the gateway's application, endpoints and certificate, and the findings
    // its endpoints and certificate give.
    let gw = device(&plant, "opcua-gateway");
    let ua = gw.opcua.as_ref().expect("opcua");
    let a = by_ip[&IpAddr::V4(gw.address)];
    assert_eq!(
        value(a, AssetField::ProductName),
        Some(ua.application_name.as_str())
    );
    assert_eq!(
        attr(a, "opcua.application_uri"),
        Some(ua.application_uri.as_str())
    );
    assert_eq!(attr(a, "opcua.product_uri"), ua.product_uri.as_deref());
    let der = hex::decode(ua.certificate_hex.as_deref().expect("certificate")).expect("hex");
    let fingerprint = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&der));
    assert_eq!(
        fingerprint,
        "17f596955a18e42ddcc0c33b1525c0c74879d6a24847379e09835e5238718f8e"
    );
    assert_eq!(
        attr(a, "opcua.certificate.sha256"),
        Some(fingerprint.as_str())
    );
    let eps = attr(a, "opcua.endpoints").expect("endpoints");
    assert_eq!(eps.split("; ").count(), ua.endpoints.len(), "{eps}");
    let findings: Vec<&str> = a
        .attributes
        .keys()
        .filter_map(|k| k.strip_prefix("opcua.finding."))
        .collect();
    assert_eq!(
        findings,
        [
            "anonymous_on_unsecured",
            "certificate_self_signed",
            "deprecated_policy",
            "security_mode_none",
        ],
        "{:#?}",
        a.attributes
    );
    assert!(
        attr(a, "opcua.finding.deprecated_policy").is_some_and(|v| v.contains("Basic256")),
        "{:?}",
        attr(a, "opcua.finding.deprecated_policy")
    );

    // Omron FINS over UDP: the CP1L of omron_test.pcap.
    let cp1l = device(&plant, "omron-cp1l");
    let id = &cp1l.fins.as_ref().expect("fins").identity;
    let a = by_ip[&IpAddr::V4(cp1l.address)];
    assert_eq!(value(a, AssetField::Manufacturer), Some("Omron"));
    assert_eq!(value(a, AssetField::Model), Some(id.model.as_str()));
    assert_eq!(value(a, AssetField::Model), Some("CP1L-EL20DR-D"));
    assert_eq!(
        value(a, AssetField::Firmware),
        Some(id.versions[0].as_str())
    );
    assert_eq!(attr(a, "fins.versions"), Some("01.00 01.06"));
    assert_eq!(attr(a, "fins.dm_words"), Some("10768"));

    // Niagara Fox: the JACE of fox_info.pcap.
    let jace = device(&plant, "niagara-jace");
    let id = &jace.fox.as_ref().expect("fox").identity;
    let a = by_ip[&IpAddr::V4(jace.address)];
    assert_eq!(value(a, AssetField::Manufacturer), Some("Tridium"));
    assert_eq!(value(a, AssetField::Firmware), id.app_version.as_deref());
    assert_eq!(value(a, AssetField::Os), Some("QNX 6.3.2"));
    assert_eq!(value(a, AssetField::Family), Some("Niagara AX"));
    assert_eq!(attr(a, "fox.station_name"), id.station_name.as_deref());
    assert_eq!(attr(a, "fox.station_name"), Some("Legion_HQ_V4"));
    assert_eq!(attr(a, "fox.host_id"), id.host_id.as_deref());
}

/// The printed summary: the modules indented under their adapter, the new protocols'
/// identities and the OPC UA findings readable as text.
fn check_summary(stdout: &str) {
    let lines: Vec<&str> = stdout.lines().collect();
    let adapter = lines
        .iter()
        .position(|l| l.starts_with("127.77.0.26 "))
        .unwrap_or_else(|| panic!("no chassis adapter row in:\n{stdout}"));
    assert!(lines[adapter].contains("1756-EN2T/D"), "{}", lines[adapter]);
    // The columns line up whatever the label: an address, a gateway's unit, a MAC-only
    // station.
    let vendor_at = |start: &str, vendor: &str| {
        let l = lines
            .iter()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no row {start:?} in:\n{stdout}"));
        l.find(vendor)
            .unwrap_or_else(|| panic!("no {vendor} in {l:?}"))
    };
    let col = vendor_at("127.77.0.26 ", "Rockwell");
    assert_eq!(vendor_at("  modbus:unit/1 ", "Schneider"), col, "{stdout}");
    assert_eq!(
        vendor_at("mac 00:1b:1b:6e:20:01 ", "Siemens"),
        col,
        "{stdout}"
    );
    for (i, (path, model)) in [
        ("cip:1/0", "1756-L61/B LOGIX5561"),
        ("cip:1/2", "1756-IB16/A"),
        ("cip:1/3", "MVI56-MCM"),
    ]
    .iter()
    .enumerate()
    {
        let l = lines[adapter + 1 + i];
        assert!(
            l.starts_with(&format!("  {path} ")) && l.contains(model),
            "line {} is not the module {path} {model}: {l:?}\n{stdout}",
            adapter + 1 + i
        );
    }
    for needle in [
        "127.77.0.61   bacnet device 500, object name KBRNAE, vendor id 5",
        "127.77.0.53   fox station Legion_HQ_V4",
        "127.77.0.51   fins controller CP1L-EL20DR-D",
        "127.77.0.62   opc ua server PeerLab OPC UA Gateway (urn:peerlab:opcua:gateway)",
        "127.77.0.62   finding: opc ua security mode none: ",
        "127.77.0.62   finding: opc ua anonymous on unsecured: ",
        "127.77.0.62   finding: opc ua deprecated policy: Basic256",
        "127.77.0.62   finding: opc ua certificate self signed: ",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in:\n{stdout}");
    }
}

/// The plant's ledger, written by the demo: every request the plant received is in the
/// read-only identity set; backplane reads went to the chassis' adapter only, one per
/// slot of 0..=6, inside one session on one connection; the BACnet, OPC UA, FINS and
/// Fox devices received their protocol's identity exchange and nothing else.
fn check_ledger(path: &Path) {
    let text = std::fs::read_to_string(path).expect("the plant's ledger");
    let mut requests: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    let mut opened: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines() {
        let e: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let dev = e["device"].as_str().expect("device").to_owned();
        match e["event"].as_str() {
            Some("request") => {
                let f = e["function"].as_str().expect("function").to_owned();
                assert_eq!(e["identity"], true, "{dev}: {f} is not an identity request");
                requests
                    .entry(dev)
                    .or_default()
                    .push((e["conn"].as_u64().expect("conn"), f));
            }
            Some("opened") if e["protocol"] == "enip_tcp" => {
                *opened.entry(dev).or_default() += 1;
            }
            _ => {}
        }
    }
    assert!(!requests.is_empty());
    let functions = |dev: &str| -> Vec<&str> {
        requests
            .get(dev)
            .map(|r| r.iter().map(|(_, f)| f.as_str()).collect())
            .unwrap_or_default()
    };
    let chassis = functions("controllogix-en2t-chassis");
    let mut expected = vec!["list_identity".to_string(), "register_session".to_string()];
    expected.extend((0..=6).map(|n| format!("send_rr_data get_attributes_all identity via 1/{n}")));
    expected.push("unregister_session".into());
    assert_eq!(chassis, expected);
    assert_eq!(opened["controllogix-en2t-chassis"], 1, "one connection");
    // No other device was asked through a backplane.
    for (dev, r) in &requests {
        if dev != "controllogix-en2t-chassis" {
            assert!(
                r.iter().all(|(_, f)| !f.starts_with("send_rr_data")),
                "{dev}: {r:?}"
            );
        }
    }
    for (dev, want) in [
        ("building-nae", &["read_property_multiple"][..]),
        (
            "opcua-gateway",
            &[
                "hello",
                "open_secure_channel",
                "get_endpoints",
                "close_secure_channel",
            ][..],
        ),
        ("omron-cp1l", &["controller_data_read"][..]),
        ("niagara-jace", &["fox fox hello"][..]),
    ] {
        assert_eq!(functions(dev), want, "{dev}");
    }
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
