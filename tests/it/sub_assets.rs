//! Sub-assets (issue 15): modules behind a CIP adapter, units behind a Modbus gateway,
//! modules of an S7 station; merge keeps them apart from their parent, and every report
//! view shows them.

use chrono::{DateTime, Utc};
use otscout::inventory::merge::{Asset, AssetField};
use otscout::inventory::{Input, Inventory, Observation, merge};
use otscout::report::{csv, cyclonedx, diff, json, markdown};
use serde_json::{Value, json};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("test time").to_utc()
}

fn obs(v: Value) -> Observation {
    // Through text, as files are read (a u8 map key must be parsed from a string).
    serde_json::from_str(&v.to_string()).expect("test observation")
}

fn pcap(frame: u64) -> Value {
    json!({"source": "pcap", "file": "plant.pcap", "frame": frame})
}

/// A CIP identity at `ip`, read through `path` when given (as the ENIP analyzer records
/// one read through an Unconnected Send).
fn cip(ip: &str, path: Option<&str>, serial: u32, name: &str, frame: u64) -> Observation {
    let mut v = json!({
        "ip": ip,
        "fact": {"type": "identity", "identity": {
            "protocol": "enip", "source": "cip_get_attributes_all", "vendor_id": 1,
            "device_type": if path.is_some() { 14 } else { 12 }, "product_code": 54,
            "revision_major": 20, "revision_minor": 11, "status": 48, "serial": serial,
            "product_name": name}},
        "provenance": pcap(frame),
        "seen": "2026-11-20T10:00:00Z",
    });
    if let Some(p) = path {
        v["path"] = json!(p);
    }
    obs(v)
}

fn modbus(ip: &str, unit: u8, vendor: &str, model: &str, frame: u64) -> Observation {
    obs(json!({
        "ip": ip,
        "fact": {"type": "identity", "identity": {
            "protocol": "modbus", "unit_id": unit,
            "objects": {"0": vendor, "1": model, "2": "1.0"}}},
        "provenance": pcap(frame),
        "seen": "2026-11-20T10:00:00Z",
    }))
}

fn s7(ip: &str, tsap: u16, order: &str, serial: &str, frame: u64) -> Observation {
    obs(json!({
        "ip": ip,
        "fact": {"type": "identity", "identity": {
            "protocol": "s7", "order_number": order, "serial": serial, "tsap": tsap}},
        "provenance": pcap(frame),
        "seen": "2026-11-20T10:00:00Z",
    }))
}

fn inv(o: Vec<Observation>) -> Inventory {
    merge(
        &[Input::from_raw("plant.pcap", o)],
        t("2026-11-21T00:00:00Z"),
    )
}

fn asset<'a>(inv: &'a Inventory, ip: &str) -> &'a Asset {
    let ip: std::net::IpAddr = ip.parse().expect("ip");
    inv.assets.iter().find(|a| a.ip == ip).expect("asset")
}

fn paths(a: &Asset) -> Vec<&str> {
    a.sub_assets
        .iter()
        .map(|s| s.path.as_deref().expect("a sub-asset has a path"))
        .collect()
}

/// The adapter of the Logix case: its own identity, a controller in slot 0 and two
/// modules, all read through it.
fn chassis() -> Vec<Observation> {
    vec![
        cip("192.168.10.120", None, 0x0051_aec3, "1756-ENBT/A", 1),
        cip(
            "192.168.10.120",
            Some("cip:1/0"),
            0x00c0_ffee,
            "1756-L61/B LOGIX5561",
            2,
        ),
        cip(
            "192.168.10.120",
            Some("cip:1/2"),
            0x0000_0102,
            "MVI56-MCM",
            3,
        ),
        cip(
            "192.168.10.120",
            Some("cip:1/10"),
            0x0000_0110,
            "MVI56-PDPMV1",
            4,
        ),
    ]
}

/// Before sub-assets, the adapter carried one `behind.<path>` text attribute per module;
/// now it is one asset with its own identity and no conflicts, and each module is a
/// sub-asset at its path with its own fields, sorted by slot as a number.
#[test]
fn a_chassis_is_one_adapter_with_its_modules_as_sub_assets() {
    let inv = inv(chassis());
    assert_eq!(inv.assets.len(), 1);
    let a = asset(&inv, "192.168.10.120");
    assert_eq!(a.value(AssetField::Serial), Some("0x0051aec3"));
    assert_eq!(a.value(AssetField::Model), Some("1756-ENBT/A"));
    assert!(a.fields().all(|(_, f)| f.conflicts.is_empty()), "{a:#?}");
    assert!(a.attributes.keys().all(|k| !k.starts_with("behind.")));
    assert_eq!(paths(a), ["cip:1/0", "cip:1/2", "cip:1/10"]);
    let l61 = &a.sub_assets[0];
    assert_eq!(l61.ip, a.ip);
    assert_eq!(l61.value(AssetField::Model), Some("1756-L61/B LOGIX5561"));
    assert_eq!(l61.value(AssetField::Serial), Some("0x00c0ffee"));
    assert_eq!(l61.value(AssetField::Firmware), Some("20.11"));
    assert!(!l61.serial.as_ref().unwrap().sources.is_empty());
    assert_eq!(inv.summary.assets, 1);
    assert_eq!(inv.summary.sub_assets, 3);
    assert_eq!(inv.summary.conflicts, 0);
}

/// A sub-asset follows the conflict rules of an asset: two readings of slot 0 that
/// disagree are a conflict and a flag of the module, never of the adapter.
#[test]
fn a_modules_conflicts_are_its_own() {
    let mut o = chassis();
    o.push(cip(
        "192.168.10.120",
        Some("cip:1/0"),
        0x00c0_ffef,
        "1756-L61/B LOGIX5561",
        5,
    ));
    let inv = inv(o);
    let a = asset(&inv, "192.168.10.120");
    assert!(a.flags.is_empty(), "{:#?}", a.flags);
    let l61 = &a.sub_assets[0];
    assert_eq!(l61.serial.as_ref().unwrap().conflicts.len(), 1);
    assert!(!l61.flags.is_empty());
    assert_eq!(inv.summary.conflicts, 1);
}

/// A Modbus gateway that answers different identities for several unit ids: its units are
/// sub-assets (unit 255 is the gateway's own). A plain server that answers the same
/// identity for any unit id stays one asset without sub-assets.
#[test]
fn a_modbus_gateways_units_are_sub_assets_and_a_plain_server_is_not() {
    let inv = inv(vec![
        modbus("10.0.0.7", 255, "Moxa", "MGate MB3180", 1),
        modbus("10.0.0.7", 1, "Schneider Electric", "ATV320", 2),
        modbus("10.0.0.7", 12, "ABB", "ACS580", 3),
        modbus("10.0.0.8", 1, "Wago", "750-352", 4),
        modbus("10.0.0.8", 2, "Wago", "750-352", 5),
    ]);
    let gw = asset(&inv, "10.0.0.7");
    assert_eq!(gw.value(AssetField::Model), Some("MGate MB3180"));
    assert!(gw.fields().all(|(_, f)| f.conflicts.is_empty()), "{gw:#?}");
    assert_eq!(paths(gw), ["modbus:unit/1", "modbus:unit/12"]);
    assert_eq!(gw.sub_assets[1].value(AssetField::Model), Some("ACS580"));
    let plain = asset(&inv, "10.0.0.8");
    assert!(plain.sub_assets.is_empty());
    assert_eq!(plain.value(AssetField::Model), Some("750-352"));
}

/// Sessions to two rack/slot TSAPs of one S7 station that give different identities
/// become sub-assets at `s7:rack/slot` (TSAP 0x0102: rack 0 slot 2; 0x0104: slot 4).
#[test]
fn s7_modules_at_different_rack_slot_tsaps_are_sub_assets() {
    let inv = inv(vec![
        s7(
            "10.0.0.9",
            0x0102,
            "6ES7 315-2EH14-0AB0",
            "S C-C2UR28922012",
            1,
        ),
        s7("10.0.0.9", 0x0104, "6GK7 343-1EX30-0XE0", "VPE1234567", 2),
        // One CPU read twice through the same TSAP is not a station of modules.
        s7("10.0.0.10", 0x0102, "6ES7 315-2EH14-0AB0", "S C-X", 3),
    ]);
    let st = asset(&inv, "10.0.0.9");
    assert_eq!(paths(st), ["s7:0/2", "s7:0/4"]);
    assert!(st.serial.is_none());
    assert_eq!(
        st.sub_assets[1].value(AssetField::Model),
        Some("6GK7 343-1EX30-0XE0")
    );
    assert!(asset(&inv, "10.0.0.10").sub_assets.is_empty());
}

/// The canonical JSON carries sub-assets, reads back to the same inventory, stays
/// canonical, and a merge of the report gives the same assets again.
#[test]
fn sub_assets_round_trip_through_the_report() {
    let inv = inv(chassis());
    let bytes = json::render(&inv);
    let back = json::parse(&bytes).expect("a report with sub-assets reads back");
    assert_eq!(back.assets, inv.assets);
    let again = merge(
        &[Input::from_report("r.json", back)],
        t("2026-11-21T00:00:00Z"),
    );
    assert_eq!(again.assets, inv.assets);
    // A sub-asset that names another address is a contradiction.
    let mut bad = inv.clone();
    bad.assets[0].sub_assets[0].ip = "10.9.9.9".parse().unwrap();
    assert!(json::check_consistent(&bad).is_err());
}

#[test]
fn csv_has_parent_and_path_columns_and_a_row_per_sub_asset() {
    let text = String::from_utf8(csv::render(&inv(chassis()))).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].ends_with(",parent,path"), "{}", lines[0]);
    assert_eq!(lines.len(), 1 + 4, "{text}");
    assert!(lines[1].starts_with("192.168.10.120,") && lines[1].ends_with(",,"));
    assert!(lines[2].contains("1756-L61/B LOGIX5561"));
    assert!(
        lines[2].ends_with(",192.168.10.120,cip:1/0"),
        "{}",
        lines[2]
    );
    assert!(
        lines[4].ends_with(",192.168.10.120,cip:1/10"),
        "{}",
        lines[4]
    );
}

#[test]
fn markdown_and_the_table_indent_sub_assets_under_their_parent() {
    let inv = inv(chassis());
    let md = markdown::render(&inv);
    let at = md.find("| 192.168.10.120 |").expect("parent row");
    let sub = md
        .find("| &nbsp;&nbsp;↳ cip:1/0 | Rockwell")
        .expect("module row");
    assert!(sub > at, "{md}");
    assert!(md.contains("**3** sub-assets"), "{md}");
    let table = markdown::table(&inv);
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[1].starts_with("192.168.10.120"), "{table}");
    assert!(rows[2].starts_with("  └ cip:1/0"), "{table}");
}

#[test]
fn cyclonedx_nests_sub_assets_as_components_of_the_device_and_validates() {
    let bom = cyclonedx::bom(&inv(chassis()));
    let dev = &bom["components"][0];
    assert_eq!(dev["bom-ref"], "asset:192.168.10.120");
    let subs = dev["components"].as_array().expect("nested components");
    assert_eq!(subs.len(), 3);
    assert_eq!(subs[0]["bom-ref"], "asset:192.168.10.120/cip:1/0");
    assert_eq!(subs[0]["name"], "1756-L61/B LOGIX5561");
    assert!(
        subs[0]["properties"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "otscout:path", "value": "cip:1/0"}))
    );
    let errors = super::report::validate_cyclonedx(&bom);
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn the_report_schema_accepts_sub_assets() {
    let inv = inv(chassis());
    let report: Value = serde_json::from_slice(&json::render(&inv)).unwrap();
    let schema = super::report::read_json(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json"),
    );
    assert!(report["assets"][0]["sub_assets"].is_array());
    let errors = super::report::validate(&schema, &[], &report);
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn html_lists_sub_assets_in_the_devices_details() {
    let page = otscout::report::html::render(
        &inv(chassis()),
        &otscout::report::html::SignatureStatus::NotChecked,
    );
    assert!(
        page.contains("<tr class=\"sub-asset\"><td>cip:1/2</td>"),
        "{page}"
    );
}

/// A module added, removed or swapped in a slot is drift, named by its parent and path.
#[test]
fn diff_reports_modules_added_removed_and_swapped() {
    let old = inv(chassis());
    let mut o = chassis();
    o.retain(|x| x.path.as_deref() != Some("cip:1/10"));
    // Slot 2 now holds another module; slot 4 is new.
    o.retain(|x| x.path.as_deref() != Some("cip:1/2"));
    o.push(cip(
        "192.168.10.120",
        Some("cip:1/2"),
        0x0000_0202,
        "1756-IB16",
        6,
    ));
    o.push(cip(
        "192.168.10.120",
        Some("cip:1/4"),
        0x0000_0104,
        "1756-OB16E",
        7,
    ));
    let new = inv(o);
    let d = diff::diff(&old, &new);
    assert!(d.is_drift());
    let added: Vec<_> = d.added.iter().map(|b| b.path.as_deref()).collect();
    let removed: Vec<_> = d.removed.iter().map(|b| b.path.as_deref()).collect();
    assert_eq!(added, [Some("cip:1/4")]);
    assert_eq!(removed, [Some("cip:1/10")]);
    let swapped: Vec<(&str, &str)> = d
        .changed
        .iter()
        .map(|c| (c.path.as_deref().unwrap_or("-"), c.field.as_str()))
        .collect();
    assert_eq!(swapped, [("cip:1/2", "model"), ("cip:1/2", "serial")]);
    let text = diff::render_text(&d);
    assert!(
        text.contains("+ new module 192.168.10.120 cip:1/4"),
        "{text}"
    );
    assert!(
        text.contains("- missing module 192.168.10.120 cip:1/10"),
        "{text}"
    );
    assert!(
        text.contains("~ 192.168.10.120 cip:1/2 model: MVI56-MCM -> 1756-IB16"),
        "{text}"
    );
    // The same chassis again is no drift.
    assert!(!diff::diff(&old, &inv(chassis())).is_drift());
}

/// One Modbus server read at unit 1 (basic objects) and at unit 255 (regular objects, as
/// the demo plant's scan and capture do) does not contradict itself: it stays one asset.
#[test]
fn one_modbus_device_read_at_two_units_without_contradiction_is_not_a_gateway() {
    let mut full = modbus("10.0.0.11", 255, "PeerLab", "PLB-MB-0502", 1);
    if let otscout::inventory::Fact::Identity {
        identity: otscout::inventory::Identity::Modbus(m),
    } = &mut full.fact
    {
        m.objects.insert(5, "PLB-MB-TCP-1".to_owned());
    }
    let inv = inv(vec![
        modbus("10.0.0.11", 1, "PeerLab", "PLB-MB-0502", 2),
        full,
    ]);
    let a = asset(&inv, "10.0.0.11");
    assert!(a.sub_assets.is_empty(), "{a:#?}");
    assert_eq!(a.value(AssetField::Model), Some("PLB-MB-TCP-1"));
}

/// Advisories name the modules in a chassis (a 1756 controller), not the adapter that
/// relays for them: with the real CISA set, the controller behind the adapter is matched
/// as the sub-asset at its slot, and the match says so; the adapter's own matches and
/// its CSV row do not take the module's.
#[test]
fn advisories_match_a_module_behind_its_adapter_on_the_sub_asset() {
    let test = "advisories_match_a_module_behind_its_adapter_on_the_sub_asset";
    let Some(cisa) = crate::advisories::cisa_set(test) else {
        return;
    };
    let lib = otscout::advisories::load(&[cisa]).expect("the CISA set");
    let mut inv = inv(chassis());
    let m = otscout::advisories::match_inventory(&inv, &lib);
    let ip: std::net::IpAddr = "192.168.10.120".parse().unwrap();
    let on_l61: Vec<_> = m
        .matches
        .iter()
        .filter(|x| x.ip == ip && x.path.as_deref() == Some("cip:1/0"))
        .collect();
    assert!(
        !on_l61.is_empty(),
        "{:#?}",
        m.matches
            .iter()
            .map(|x| (x.address(), &x.advisory, &x.product))
            .collect::<Vec<_>>()
    );
    let adv = on_l61[0].advisory.clone();
    assert!(on_l61[0].address().ends_with(" cip:1/0"));
    let l61_ids = m.advisories_at(None, ip, Some("cip:1/0"));
    assert!(l61_ids.contains(&adv.as_str()));
    // The adapter's own row names only what matched the adapter itself.
    let own: Vec<&str> = m
        .matches
        .iter()
        .filter(|x| x.ip == ip && x.path.is_none())
        .filter(|x| {
            !matches!(
                x.verdict,
                otscout::inventory::advisory::Verdict::Fixed
                    | otscout::inventory::advisory::Verdict::NotAffected
            )
        })
        .map(|x| x.advisory.as_str())
        .collect();
    let mut own_sorted = own.clone();
    own_sorted.sort_unstable();
    own_sorted.dedup();
    assert_eq!(m.advisories_of(None, ip), own_sorted);
    // The CSV view: the controller's row carries its advisories.
    inv.advisories = Some(m.clone());
    let text = String::from_utf8(csv::render(&inv)).unwrap();
    let row = text
        .lines()
        .find(|l| l.contains("cip:1/0"))
        .expect("the controller's row");
    assert!(row.contains(&adv), "{row}");
    // Drift: the advisory newly applies to the controller, named by its path.
    let before = crate::sub_assets::inv(chassis());
    let d = diff::diff(&before, &inv);
    assert!(
        d.advisories
            .iter()
            .any(|c| c.new && c.advisory == adv && c.path.as_deref() == Some("cip:1/0")),
        "{:?}",
        d.advisories
    );
    assert!(
        diff::render_text(&d).contains(&format!("! new 192.168.10.120 cip:1/0 advisory {adv}"))
    );
}

/// A module taken out of one slot and put into another of the same chassis (its serial
/// now at another path) is one "moved" change, not a module missing and a new one.
#[test]
fn diff_reports_a_module_moved_between_slots_as_one_change() {
    let old = inv(chassis());
    let mut o = chassis();
    // The controller leaves slot 0 for slot 5.
    o.retain(|x| x.path.as_deref() != Some("cip:1/0"));
    o.push(cip(
        "192.168.10.120",
        Some("cip:1/5"),
        0x00c0_ffee,
        "1756-L61/B LOGIX5561",
        8,
    ));
    let d = diff::diff(&old, &inv(o));
    assert!(d.is_drift());
    assert!(d.added.is_empty(), "{:?}", d.added);
    assert!(d.removed.is_empty(), "{:?}", d.removed);
    assert!(d.changed.is_empty(), "{:?}", d.changed);
    assert_eq!(d.moved.len(), 1);
    let m = &d.moved[0];
    assert_eq!(
        (m.from_path.as_deref(), m.to_path.as_deref()),
        (Some("cip:1/0"), Some("cip:1/5"))
    );
    let text = diff::render_text(&d);
    assert!(
        text.contains(
            "> serial 0x00c0ffee moved from 192.168.10.120 cip:1/0 to 192.168.10.120 cip:1/5"
        ),
        "{text}"
    );
    // The JSON view carries the paths.
    let j = serde_json::to_value(&d).unwrap();
    assert_eq!(j["moved"][0]["from_path"], "cip:1/0");
    assert_eq!(j["moved"][0]["to_path"], "cip:1/5");
}
