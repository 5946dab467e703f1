//! Report schema 4 (issue 20 part 2): the tables that name each source once, the compact
//! canonical form, and reading versions 1-3 beside it.

use std::path::{Path, PathBuf};

use otscout::inventory::merge::{REPORT_VERSION, merge};
use otscout::inventory::{Input, Inventory};
use otscout::report::{csv, diff, input, json};

use super::inventory::{fixture, t};

const GEN: &str = "2026-11-21T00:00:00Z";

fn fixture_inventory() -> Inventory {
    let inputs: Vec<Input> = ["scan.json", "passive.json", "declared.json"]
        .iter()
        .map(|f| input::load(&fixture(f), None).expect("fixture"))
        .collect();
    merge(&inputs, t(GEN))
}

/// A version-3 report of the inventory fixtures, as the version-3 writer laid it out
/// (every source inline, two-space indentation): the merge of `tests/fixtures/inventory`'s
/// scan.json, passive.json and declared.json, its tables expanded by an independent
/// script (Python's json module, not otscout's writer).
fn stored_v3() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report/v3.json")
}

fn occurrences(hay: &[u8], needle: &str) -> usize {
    hay.windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

#[test]
fn a_version_4_report_is_unindented_names_each_source_once_and_reads_back_the_same() {
    let inv = fixture_inventory();
    assert_eq!(inv.version, REPORT_VERSION);
    assert_eq!(REPORT_VERSION, 4);
    let bytes = json::render(&inv);
    assert!(bytes.ends_with(b"}\n"));
    assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 1, "one line");
    // Each provenance (a probe of the scan, a capture's frame) is written once, in
    // tables.provenances, however many observations and fields it backs; inline, the
    // busiest is written over and over.
    let mut v3 = inv.clone();
    v3.version = 3;
    let inline = json::render(&v3);
    for o in &inv.observations {
        let p = serde_json::to_string(&o.provenance).expect("provenance");
        assert_eq!(occurrences(&bytes, &p), 1, "{p}");
    }
    let digest = &inv.scans[0].profile_sha256;
    let (compact, repeated) = (occurrences(&bytes, digest), occurrences(&inline, digest));
    assert!(repeated > 3 * compact, "{repeated} vs {compact}");
    assert!(
        bytes.len() * 3 < inline.len(),
        "{} vs {}",
        bytes.len(),
        inline.len()
    );
    // The tables come right after the summary.
    let text = String::from_utf8(bytes.clone()).expect("utf-8");
    let summary = text.find("\"summary\":").expect("summary");
    let tables = text.find("\"tables\":").expect("tables");
    let scans = text.find("\"scans\":").expect("scans");
    assert!(summary < tables && tables < scans);
    let back = json::parse(&bytes).expect("parse");
    assert_eq!(back, inv);
    assert_eq!(json::render(&back), bytes);
    // Reformatted (indented), the same content is not canonical.
    let value: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    let pretty = serde_json::to_vec_pretty(&value).expect("pretty");
    let e = json::parse(&pretty).expect_err("not canonical").to_string();
    assert!(e.contains("canonical"), "{e}");
}

#[test]
fn a_stored_version_3_report_reads_verifies_and_becomes_the_same_inventory_in_version_4() {
    let bytes = std::fs::read(stored_v3()).expect("stored v3");
    // Canonical: the version-3 writer still gives these very bytes.
    let v3 = json::parse(&bytes).expect("v3 parses");
    assert_eq!(v3.version, 3);
    assert!(!v3.assets.is_empty() && !v3.observations.is_empty());
    // Written as version 4 and read back: the same inventory.
    let mut as4 = v3.clone();
    as4.version = 4;
    let b4 = json::render(&as4);
    let back = json::parse(&b4).expect("v4 parses");
    assert_eq!(back, as4);
    // A merge of the v3 report writes version 4 with the same assets.
    let merged = merge(
        &[Input::from_report("v3.json", v3.clone())],
        v3.generated_at,
    );
    assert_eq!(merged.version, 4);
    assert_eq!(merged.assets, v3.assets);
    assert_eq!(merged.observations, v3.observations);
    let again = json::parse(&json::render(&merged)).expect("merged v4 parses");
    assert_eq!(again.assets, v3.assets);
    // Diff across versions sees no change; the CSV view is the same.
    assert!(!diff::diff(&v3, &again).is_drift());
    assert_eq!(csv::render(&v3), csv::render(&again));
}

#[test]
fn the_stored_version_3_report_is_what_the_fixtures_merge_to() {
    // The stored report is not stale: the fixtures merge to the same assets today.
    let v3 = json::parse(&std::fs::read(stored_v3()).expect("stored")).expect("v3");
    let now = fixture_inventory();
    assert_eq!(now.assets, v3.assets);
}

/// The v4 bytes of the fixture inventory with the first match of `from` (after `after`)
/// replaced by `to`.
fn edited(after: &str, from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(json::render(&fixture_inventory())).expect("utf-8");
    let start = text.find(after).expect("anchor");
    let at = start + text[start..].find(from).expect("text to replace");
    let mut out = text[..at].to_owned();
    out.push_str(to);
    out.push_str(&text[at + from.len()..]);
    out.into_bytes()
}

#[test]
fn a_reference_out_of_range_is_a_clear_error_naming_the_asset_and_field() {
    // The first asset (10.1.1.164) has its manufacturer backed by table entries; point
    // its first source at an entry that is not there.
    let inv = fixture_inventory();
    let a = &inv.assets[0];
    assert_eq!(a.ip.to_string(), "10.1.1.164");
    let bytes = edited(
        "\"manufacturer\":{",
        "\"sources\":[[",
        "\"sources\":[[4000000000",
    );
    let e = json::parse(&bytes).expect_err("out of range").to_string();
    assert!(e.contains("asset 10.1.1.164"), "{e}");
    assert!(e.contains("field manufacturer"), "{e}");
    assert!(e.contains("source 4000000000"), "{e}");
    assert!(e.contains("tables.sources has"), "{e}");
    // A detail index, far beyond any integer type's range, likewise.
    let bytes = edited(
        "\"model\":{",
        "\"sources\":[[0,",
        "\"sources\":[[0,99999999999999999999999,",
    );
    let e = json::parse(&bytes).expect_err("not an index").to_string();
    assert!(!e.is_empty());
    // An observation's fact.
    let bytes = edited("\"observations\":[{", "\"fact\":", "\"fact\":77777,\"x\":");
    let e = json::parse(&bytes).expect_err("fact").to_string();
    assert!(e.contains("fact 77777"), "{e}");
    assert!(e.contains("tables.facts has"), "{e}");
    // A table's own reference.
    let bytes = edited(
        "\"sources\":[{",
        "\"provenance\":",
        "\"provenance\":31337,\"x\":",
    );
    let e = json::parse(&bytes).expect_err("table").to_string();
    assert!(e.contains("provenance 31337"), "{e}");
}

#[test]
fn tables_are_refused_in_older_versions_and_required_in_version_4() {
    let bytes = json::render(&fixture_inventory());
    let text = String::from_utf8(bytes).expect("utf-8");
    let v3 = text.replacen("\"version\":4,", "\"version\":3,", 1);
    let e = json::parse(v3.as_bytes())
        .expect_err("v3 with tables")
        .to_string();
    assert!(e.contains("no `tables` member"), "{e}");
    let start = text.find(",\"tables\":").expect("tables");
    let end = text.find(",\"scans\":").expect("scans");
    let cut = format!("{}{}", &text[..start], &text[end..]);
    let e = json::parse(cut.as_bytes())
        .expect_err("v4 without")
        .to_string();
    assert!(e.contains("has none"), "{e}");
}

#[test]
fn verify_and_report_read_a_version_3_and_a_version_4_report_alike() {
    let dir = tempfile::tempdir().expect("tmp");
    let v3 = dir.path().join("v3.json");
    std::fs::copy(stored_v3(), &v3).expect("copy");
    let v4 = dir.path().join("v4.json");
    let inv = json::parse(&std::fs::read(&v3).expect("read")).expect("v3");
    let mut as4 = inv.clone();
    as4.version = 4;
    std::fs::write(&v4, json::render(&as4)).expect("write");
    let a = input::read_report(&v3, None).expect("read v3");
    let b = input::read_report(&v4, None).expect("read v4");
    assert_eq!(a.assets, b.assets);
    assert_eq!(a.observations, b.observations);
    // `otscout diff` and `otscout merge` of a version-3 and a version-4 report.
    assert!(!diff::diff(&a, &b).is_drift());
    let inputs = [
        input::load(&v3, None).expect("load v3"),
        input::load(&v4, None).expect("load v4"),
    ];
    let merged = merge(&inputs, inv.generated_at);
    assert_eq!(merged.version, 4);
    assert_eq!(merged.assets, inv.assets);
}
