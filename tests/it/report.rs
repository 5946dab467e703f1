//! The report: canonical JSON and its schema, minisign signing (and the stock minisign
//! tool's view of it), tamper detection, the CycloneDX/CSV/Markdown views, diff, and the
//! merge/report/keygen/verify/diff commands end to end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use otscout::inventory::{Input, Inventory, merge};
use otscout::report::{csv, cyclonedx, diff, input, json, markdown, sign};
use serde_json::Value;

use super::inventory::{fixture, t};

const GEN: &str = "2026-11-21T00:00:00Z";

fn fixture_inventory() -> Inventory {
    let inputs: Vec<Input> = ["scan.json", "passive.json", "declared.json"]
        .iter()
        .map(|f| input::load(&fixture(f), None).expect("fixture"))
        .collect();
    merge(&inputs, t(GEN))
}

fn otscout(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otscout"))
        .args(args)
        .current_dir(dir)
        .env_remove("OTSCOUT_KEY_PASSWORD")
        .output()
        .expect("run otscout")
}

fn unencrypted_keys(dir: &Path) -> sign::KeyFiles {
    sign::keygen(dir, &sign::Protection::Unencrypted).expect("keygen")
}

fn write_signed(dir: &Path, inv: &Inventory) -> (PathBuf, sign::KeyFiles) {
    let keys = unencrypted_keys(dir);
    let report = dir.join("report.json");
    std::fs::write(&report, json::render(inv)).expect("write report");
    let sk = sign::load_secret_key(&keys.secret, &mut || None).expect("load key");
    sign::sign_file(&report, &sk, t("2026-11-21T00:05:00Z")).expect("sign");
    (report, keys)
}

/// The stock minisign binary, or `None` (skip) when it is missing, unless
/// OTSCOUT_REQUIRE_TOOLS=1 says it must be there.
fn stock_minisign(test: &str) -> Option<&'static str> {
    let found = Command::new("minisign").arg("-v").output().is_ok();
    if found {
        return Some("minisign");
    }
    assert!(
        std::env::var("OTSCOUT_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "{test}: minisign is not installed but OTSCOUT_REQUIRE_TOOLS=1"
    );
    eprintln!("skipped {test}: minisign is not installed");
    None
}

#[test]
fn the_json_report_is_canonical_and_round_trips() {
    let inv = fixture_inventory();
    let bytes = json::render(&inv);
    assert!(bytes.ends_with(b"}\n"));
    let back = json::parse(&bytes).expect("parse");
    assert_eq!(back, inv);
    assert_eq!(json::render(&back), bytes);
    // The same content, reformatted, is refused as not canonical.
    let value: Value = serde_json::from_slice(&bytes).expect("json");
    let compact = serde_json::to_vec_pretty(&value).expect("pretty");
    let e = json::parse(&compact)
        .expect_err("not canonical")
        .to_string();
    assert!(e.contains("canonical"), "{e}");
    // Another document is refused by its format.
    let e = json::parse(br#"{"format":"otscout-scan","version":1}"#).expect_err("format");
    assert!(e.to_string().contains("otscout-scan"), "{e}");
}

#[test]
fn the_report_carries_the_priority_attributes_and_scan_metadata() {
    let inv = fixture_inventory();
    let v: Value = serde_json::from_slice(&json::render(&inv)).expect("json");
    let plc = &v["assets"][1];
    assert_eq!(plc["ip"], "192.168.1.40");
    for field in [
        "mac",
        "hostname",
        "manufacturer",
        "model",
        "firmware",
        "serial",
        "device_type",
        "criticality",
        "location",
    ] {
        assert!(plc[field]["value"].is_string(), "{field} missing: {plc}");
        assert!(
            plc[field]["sources"]
                .as_array()
                .is_some_and(|s| !s.is_empty()),
            "{field}"
        );
    }
    assert_eq!(plc["protocols"], serde_json::json!(["s7"]));
    assert_eq!(plc["services"][0]["port"], 102);
    assert_eq!(
        v["scans"][0]["profile_sha256"].as_str().map(str::len),
        Some(64)
    );
    assert_eq!(
        v["scans"][0]["ledger"]["192.168.1.40"]["s7.szl_read"]["count"],
        3
    );
}

/// Validates a JSON value against a schema file with the jsonschema crate (no network:
/// every referenced schema is registered up front).
pub(super) fn validate(schema: &Value, extra: &[(&str, Value)], instance: &Value) -> Vec<String> {
    let mut reg = jsonschema::Registry::new();
    for (uri, doc) in extra {
        reg = reg.add(*uri, doc.clone()).expect("register schema");
    }
    let reg = reg.prepare().expect("prepare registry");
    let v = jsonschema::options()
        .with_registry(&reg)
        .build(schema)
        .expect("compile schema");
    v.iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

pub(super) fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn the_report_validates_against_its_published_json_schema() {
    let schema =
        read_json(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json"));
    let report: Value = serde_json::from_slice(&json::render(&fixture_inventory())).expect("json");
    let errors = validate(&schema, &[], &report);
    assert!(errors.is_empty(), "{errors:#?}");
    // The schema is not vacuous: a report without assets' ip fails.
    let mut broken = report.clone();
    broken["assets"][0]
        .as_object_mut()
        .expect("asset")
        .remove("ip");
    broken["version"] = Value::from(5);
    assert!(validate(&schema, &[], &broken).len() >= 2);
}

/// Validates a CycloneDX document against the CycloneDX 1.6 schema (and the two it uses).
pub(super) fn validate_cyclonedx(bom: &Value) -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cyclonedx");
    let bom_schema = read_json(&dir.join("bom-1.6.SNAPSHOT.schema.json"));
    let extra = [
        (
            "http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json",
            read_json(&dir.join("spdx.SNAPSHOT.schema.json")),
        ),
        (
            "http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json",
            read_json(&dir.join("jsf-0.82.SNAPSHOT.schema.json")),
        ),
    ];
    validate(&bom_schema, &extra, bom)
}

#[test]
fn the_cyclonedx_view_validates_against_the_cyclonedx_1_6_schema() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cyclonedx");
    let bom_schema = read_json(&dir.join("bom-1.6.SNAPSHOT.schema.json"));
    let extra = [
        (
            "http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json",
            read_json(&dir.join("spdx.SNAPSHOT.schema.json")),
        ),
        (
            "http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json",
            read_json(&dir.join("jsf-0.82.SNAPSHOT.schema.json")),
        ),
    ];
    let inv = fixture_inventory();
    let bom: Value = serde_json::from_slice(&cyclonedx::render(&inv)).expect("json");
    let errors = validate(&bom_schema, &extra, &bom);
    assert!(errors.is_empty(), "{errors:#?}");
    let c = &bom["components"][1];
    assert_eq!(c["type"], "device");
    assert_eq!(c["manufacturer"]["name"], "Siemens");
    assert_eq!(c["name"], "6ES7 151-8AB01-0AB0");
    assert_eq!(c["version"], "3.2.6");
    let props = c["properties"].as_array().expect("properties");
    assert!(
        props
            .iter()
            .any(|p| p["name"] == "otscout:serial" && p["value"] == "S C-C6TW74882012")
    );
    assert!(
        props
            .iter()
            .any(|p| p["name"] == "otscout:protocol" && p["value"] == "s7")
    );
    // The validator does catch a broken document.
    let mut broken = bom.clone();
    broken["components"][0]["type"] = Value::from("plc");
    assert!(!validate(&bom_schema, &extra, &broken).is_empty());
}

#[test]
fn csv_and_markdown_views_carry_the_assets() {
    let inv = fixture_inventory();
    let text = String::from_utf8(csv::render(&inv)).expect("utf-8");
    let mut r = ::csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().expect("headers").clone();
    assert_eq!(headers.len(), csv::COLUMNS.len());
    let rows: Vec<::csv::StringRecord> = r.records().map(|x| x.expect("row")).collect();
    assert_eq!(rows.len(), 2);
    let col = |name: &str| headers.iter().position(|h| h == name).expect("column");
    assert_eq!(&rows[1][col("ip")], "192.168.1.40");
    assert_eq!(&rows[1][col("firmware")], "3.2.6");
    assert_eq!(&rows[1][col("location")], "Hall 3, cabinet 12");
    assert!(rows[1][col("conflicts")].contains("firmware: 3.2.6 | 3.2.5"));
    let md = markdown::render(&inv);
    assert!(md.contains("## Needs attention"));
    assert!(
        md.contains("| 192.168.1.40 | Siemens | 6ES7 151-8AB01-0AB0 | 3.2.6 |"),
        "{md}"
    );
    assert!(md.contains("scan-20261120-1000"));
    let table = markdown::table(&inv);
    assert!(
        table.lines().count() == 3 && table.contains("1756-ENBT/A"),
        "{table}"
    );
}

#[test]
fn sign_and_verify_round_trip_with_the_scan_id_and_digest_in_the_trusted_comment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = fixture_inventory();
    let (report, keys) = write_signed(dir.path(), &inv);
    let pk = sign::load_public_key(&keys.public).expect("pub");
    let v = sign::verify_file(&report, &pk).expect("verify");
    let digest = sign::sha256_hex(&std::fs::read(&report).expect("read"));
    assert_eq!(v.sha256, digest);
    assert_eq!(
        v.trusted_comment,
        format!(
            "otscout-report sha256={digest} scan=scan-20261120-1000 time=2026-11-21T00:05:00Z file=report.json"
        )
    );
    assert_eq!(v.inventory, inv);
}

#[test]
fn one_changed_byte_fails_verification() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (report, keys) = write_signed(dir.path(), &fixture_inventory());
    let pk = sign::load_public_key(&keys.public).expect("pub");
    let good = std::fs::read(&report).expect("read");
    // Flip one byte inside a value (a firmware digit) and, separately, whitespace.
    let at = good
        .windows(5)
        .position(|w| w == b"3.2.6")
        .expect("firmware in report");
    for (i, b) in [(at + 4, b'7'), (good.len() - 1, b' ')] {
        let mut bad = good.clone();
        bad[i] = b;
        std::fs::write(&report, &bad).expect("tamper");
        let e = sign::verify_file(&report, &pk)
            .expect_err("tampered")
            .to_string();
        assert!(e.contains("signature check failed"), "{e}");
    }
    // Another key does not verify it either.
    std::fs::write(&report, &good).expect("restore");
    let other = tempfile::tempdir().expect("tempdir");
    let other_pk = sign::load_public_key(&unencrypted_keys(other.path()).public).expect("pub");
    assert!(sign::verify_file(&report, &other_pk).is_err());
    assert!(sign::verify_file(&report, &pk).is_ok());
}

#[test]
fn stock_minisign_verifies_the_report_and_rejects_a_tampered_copy() {
    let Some(tool) =
        stock_minisign("stock_minisign_verifies_the_report_and_rejects_a_tampered_copy")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (report, keys) = write_signed(dir.path(), &fixture_inventory());
    let run = |p: &Path| {
        Command::new(tool)
            .arg("-Vm")
            .arg(p)
            .arg("-p")
            .arg(&keys.public)
            .output()
            .expect("run minisign")
    };
    let ok = run(&report);
    assert!(
        ok.status.success(),
        "minisign: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out =
        String::from_utf8_lossy(&ok.stdout).to_string() + &String::from_utf8_lossy(&ok.stderr);
    assert!(
        out.contains("scan=scan-20261120-1000"),
        "trusted comment not shown: {out}"
    );
    let mut bytes = std::fs::read(&report).expect("read");
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    std::fs::write(&report, &bytes).expect("tamper");
    assert!(
        !run(&report).status.success(),
        "minisign accepted a tampered report"
    );
}

#[test]
fn keys_are_never_overwritten_and_the_secret_is_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = unencrypted_keys(dir.path());
    let before = std::fs::read(&keys.secret).expect("read");
    let e = sign::keygen(dir.path(), &sign::Protection::Unencrypted).expect_err("exists");
    assert!(e.to_string().contains("never overwrites"), "{e}");
    assert_eq!(std::fs::read(&keys.secret).expect("read"), before);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys.secret)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
}

#[test]
fn a_password_protected_key_needs_its_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = sign::keygen(
        dir.path(),
        &sign::Protection::Password("correct horse".into()),
    )
    .expect("keygen");
    let e = sign::load_secret_key(&keys.secret, &mut || None).expect_err("no password");
    assert!(e.to_string().contains("OTSCOUT_KEY_PASSWORD"), "{e}");
    assert!(sign::load_secret_key(&keys.secret, &mut || Some("wrong".into())).is_err());
    let sk =
        sign::load_secret_key(&keys.secret, &mut || Some("correct horse".into())).expect("key");
    let sig = sign::sign_bytes(
        b"x",
        &sk,
        "otscout-report sha256=2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
    )
    .expect("sign");
    let pk = sign::load_public_key(&keys.public).expect("pub");
    let v = sign::verify_bytes(Path::new("x"), b"x", &sig, &pk).expect_err("x is not a report");
    assert!(v.to_string().contains("not an otscout report"), "{v}");
}

fn with_firmware(inv: &Inventory, ip: &str, fw: &str) -> Inventory {
    let mut new = inv.clone();
    for a in &mut new.assets {
        if a.ip.to_string() == ip {
            a.firmware.as_mut().expect("firmware").value = fw.to_owned();
        }
    }
    new
}

#[test]
fn diff_reports_new_missing_and_changed() {
    let old = fixture_inventory();
    assert!(!diff::diff(&old, &old).is_drift());
    let mut new = with_firmware(&old, "192.168.1.40", "3.3.0");
    let gone = new.assets.remove(0);
    let mut added = new.assets[0].clone();
    added.ip = "192.168.1.41".parse().expect("ip");
    new.assets.push(added);
    let d = diff::diff(&old, &new);
    assert!(d.is_drift());
    assert_eq!(d.removed.len(), 1);
    assert_eq!(d.removed[0].ip, gone.ip);
    assert_eq!(d.added.len(), 1);
    assert_eq!(d.changed.len(), 1, "{:?}", d.changed);
    let c = &d.changed[0];
    assert_eq!(
        (c.field.as_str(), c.old.as_deref(), c.new.as_deref()),
        ("firmware", Some("3.2.6"), Some("3.3.0"))
    );
    let text = diff::render_text(&d);
    assert!(
        text.contains("~ 192.168.1.40 firmware: 3.2.6 -> 3.3.0"),
        "{text}"
    );
    assert!(d.moved.is_empty());
    // The missing asset's serial at a new address: moved.
    let mut moved = old.clone();
    moved.assets[0].ip = "10.9.9.9".parse().expect("ip");
    let d = diff::diff(&old, &moved);
    assert_eq!(d.moved.len(), 1, "{d:?}");
    assert_eq!(
        (d.moved[0].from, d.moved[0].to),
        (old.assets[0].ip, moved.assets[0].ip)
    );
    assert!(diff::render_text(&d).contains("moved from 10.1.1.164 to 10.9.9.9"));
    // Case and spacing are not drift.
    let same = with_firmware(&old, "192.168.1.40", " 3.2.6 ");
    assert!(!diff::diff(&old, &same).is_drift());
}

/// The whole job from the command line: keygen, merge three inputs into a signed report,
/// verify it, render the views, and diff it against a later report with another firmware.
#[test]
fn the_commands_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let out = otscout(&["keygen", "--unencrypted"], d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOT be password-protected"));
    // Without a password source, keygen refuses rather than writing an unprotected key.
    let sub = d.join("k2");
    std::fs::create_dir(&sub).expect("mkdir");
    let out = otscout(&["keygen", "--dir", "k2"], d);
    assert_eq!(out.status.code(), Some(2));
    assert!(!sub.join("otscout.key").exists());

    let f = |n: &str| fixture(n).display().to_string();
    let out = otscout(
        &[
            "merge",
            &f("scan.json"),
            &f("passive.json"),
            &f("declared.json"),
            "-o",
            "a.json",
            "--sign-key",
            "otscout.key",
        ],
        d,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(d.join("a.json.minisig").is_file());
    let out = otscout(&["verify", "a.json", "--pubkey", "otscout.pub"], d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("signature and schema OK"));

    for (format, needle) in [
        ("csv", "ip,mac,hostname"),
        ("cyclonedx", "\"bomFormat\": \"CycloneDX\""),
        ("markdown", "# OT asset inventory"),
        ("table", "ADDRESS"),
    ] {
        let out = otscout(
            &[
                "report",
                "a.json",
                "--format",
                format,
                "--pubkey",
                "otscout.pub",
            ],
            d,
        );
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(needle),
            "{format}"
        );
    }

    // A later audit: the PLC's firmware changed. Signed too; merged with the earlier
    // report (verified) as an input.
    let a = json::parse(&std::fs::read(d.join("a.json")).expect("read")).expect("parse");
    let b = with_firmware(&a, "192.168.1.40", "3.3.0");
    std::fs::write(d.join("b.json"), json::render(&b)).expect("write");
    let sk = sign::load_secret_key(&d.join("otscout.key"), &mut || None).expect("key");
    sign::sign_file(&d.join("b.json"), &sk, t("2026-12-01T00:00:00Z")).expect("sign");

    let out = otscout(&["diff", "a.json", "b.json", "--pubkey", "otscout.pub"], d);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("firmware: 3.2.6 -> 3.3.0"));
    let out = otscout(&["diff", "a.json", "a.json", "--json"], d);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).expect("diff json");
    assert_eq!(v["changed"], serde_json::json!([]));

    // Tampering: verify, diff and merge --pubkey all refuse, with exit 2.
    let mut bytes = std::fs::read(d.join("b.json")).expect("read");
    let i = bytes.len() / 3;
    bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
    std::fs::write(d.join("b.json"), &bytes).expect("tamper");
    let out = otscout(&["verify", "b.json", "--pubkey", "otscout.pub"], d);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("b.json"));
    assert_eq!(
        otscout(&["diff", "a.json", "b.json", "--pubkey", "otscout.pub"], d)
            .status
            .code(),
        Some(2)
    );
    let out = otscout(
        &[
            "merge",
            "b.json",
            &f("scan.json"),
            "-o",
            "c.json",
            "--pubkey",
            "otscout.pub",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("earlier report refused"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!d.join("c.json").exists());
    // The untampered earlier report merges (verified) with a new scan.
    let out = otscout(
        &[
            "merge",
            "a.json",
            &f("scan.json"),
            "-o",
            "c.json",
            "--pubkey",
            "otscout.pub",
        ],
        d,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("without checking"));
    let c = json::parse(&std::fs::read(d.join("c.json")).expect("read")).expect("parse");
    assert_eq!(c.assets, a.assets);
    // Without --pubkey an earlier report is merged, and the user is told it was not checked.
    let out = otscout(&["merge", "a.json", "-o", "e.json"], d);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("a.json: earlier report merged without checking its signature")
    );
}

#[test]
fn a_password_protected_key_signs_from_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let run = |args: &[&str], pw: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_otscout"));
        c.args(args)
            .current_dir(d)
            .env_remove("OTSCOUT_KEY_PASSWORD");
        if let Some(pw) = pw {
            c.env("OTSCOUT_KEY_PASSWORD", pw);
        }
        c.output().expect("run otscout")
    };
    let out = run(&["keygen"], Some("s3cret pass"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = std::fs::read_to_string(d.join("otscout.key")).expect("key");
    assert!(
        sign::load_secret_key(&d.join("otscout.key"), &mut || None).is_err(),
        "key is not encrypted: {key}"
    );
    let scan = fixture("scan.json").display().to_string();
    // No password: refused before anything is written.
    let out = run(
        &["merge", &scan, "-o", "r.json", "--sign-key", "otscout.key"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OTSCOUT_KEY_PASSWORD"));
    assert!(!d.join("r.json").exists());
    let out = run(
        &["merge", &scan, "-o", "r.json", "--sign-key", "otscout.key"],
        Some("s3cret pass"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["verify", "r.json", "--pubkey", "otscout.pub"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The issue's "done when": a scan result, a real capture and a CSV inventory merge into
/// one signed report whose every field names its sources; stock minisign verifies it and
/// rejects a tampered copy; the CycloneDX view validates; diff reports a firmware change
/// between two reports and exits 1.
#[test]
fn a_scan_a_capture_and_a_csv_merge_into_one_signed_report() {
    let Some(captures) =
        super::support::captures_dir("a_scan_a_capture_and_a_csv_merge_into_one_signed_report")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    assert!(otscout(&["keygen", "--unencrypted"], d).status.success());
    let pcap = captures
        .join("s7comm_reading_plc_status.pcap")
        .display()
        .to_string();
    let scan = fixture("scan.json").display().to_string();
    let csv = fixture("assets.csv").display().to_string();
    let out = otscout(
        &[
            "merge",
            &scan,
            &pcap,
            &csv,
            "-o",
            "r.json",
            "--sign-key",
            "otscout.key",
        ],
        d,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let inv =
        json::parse(&std::fs::read(d.join("r.json")).expect("read")).expect("canonical report");
    let plc = inv
        .assets
        .iter()
        .find(|a| a.ip.to_string() == "192.168.1.40")
        .expect("the IM151-8 from the capture and the scan");
    let mut kinds = std::collections::BTreeSet::new();
    for a in &inv.assets {
        for (name, f) in a.fields() {
            assert!(!f.sources.is_empty(), "{} {name} names no source", a.ip);
            kinds.extend(f.sources.iter().map(|s| s.kind));
            for c in &f.conflicts {
                kinds.extend(c.sources.iter().map(|s| s.kind));
            }
        }
    }
    use otscout::inventory::merge::SourceKind;
    // And the IEEE registries' owner of a MAC prefix, for the capture's hosts that name
    // no manufacturer themselves.
    assert_eq!(
        kinds,
        [
            SourceKind::Active,
            SourceKind::Passive,
            SourceKind::Declared,
            SourceKind::MacOui
        ]
        .into_iter()
        .collect(),
        "active, passive, declared and MAC OUI sources: {kinds:?}"
    );
    for a in &inv.assets {
        if let Some(m) = &a.manufacturer {
            let oui = m.sources.iter().any(|s| s.kind == SourceKind::MacOui);
            assert!(
                !oui || m.sources.len() == 1 && m.conflicts.is_empty(),
                "{}: a MAC OUI vendor beside another source: {m:?}",
                a.ip
            );
        }
    }
    // The firmware: the scan and the capture agree on V3.2.6; the CSV's V3.2.5 is kept as
    // a conflict and flagged.
    let fw = plc.firmware.as_ref().expect("firmware");
    assert_eq!(fw.value, "3.2.6");
    let fw_kinds: std::collections::BTreeSet<SourceKind> =
        fw.sources.iter().map(|s| s.kind).collect();
    assert!(
        fw_kinds.contains(&SourceKind::Active) && fw_kinds.contains(&SourceKind::Passive),
        "{fw:?}"
    );
    assert!(fw.sources.iter().any(|s| matches!(&s.provenance,
        otscout::inventory::Provenance::Pcap { file, .. } if file.contains("s7comm_reading_plc_status"))), "{fw:?}");
    assert_eq!(fw.conflicts[0].value, "3.2.5");
    assert_eq!(
        plc.serial.as_ref().expect("serial").value,
        "S C-C6TW74882012"
    );
    assert_eq!(plc.criticality.as_ref().expect("criticality").value, "high");
    assert_eq!(
        plc.location.as_ref().expect("location").value,
        "Hall 3, cabinet 12"
    );

    if let Some(tool) = stock_minisign("a_scan_a_capture_and_a_csv_merge_into_one_signed_report") {
        let run = |p: &str| {
            Command::new(tool)
                .args(["-Vm", p, "-p", "otscout.pub"])
                .current_dir(d)
                .output()
                .expect("minisign")
        };
        assert!(run("r.json").status.success());
        let mut bytes = std::fs::read(d.join("r.json")).expect("read");
        let i = bytes.len() - 10;
        bytes[i] ^= 0x20;
        std::fs::write(d.join("t.json"), &bytes).expect("write");
        std::fs::copy(d.join("r.json.minisig"), d.join("t.json.minisig")).expect("copy sig");
        assert!(
            !run("t.json").status.success(),
            "stock minisign accepted a tampered copy"
        );
        assert_eq!(
            otscout(&["verify", "t.json", "--pubkey", "otscout.pub"], d)
                .status
                .code(),
            Some(2)
        );
    }

    let dir_cdx = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cyclonedx");
    let extra = [
        (
            "http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json",
            read_json(&dir_cdx.join("spdx.SNAPSHOT.schema.json")),
        ),
        (
            "http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json",
            read_json(&dir_cdx.join("jsf-0.82.SNAPSHOT.schema.json")),
        ),
    ];
    let out = otscout(
        &[
            "report",
            "r.json",
            "--format",
            "cyclonedx",
            "--pubkey",
            "otscout.pub",
        ],
        d,
    );
    assert!(out.status.success());
    let bom: Value = serde_json::from_slice(&out.stdout).expect("bom json");
    let errors = validate(
        &read_json(&dir_cdx.join("bom-1.6.SNAPSHOT.schema.json")),
        &extra,
        &bom,
    );
    assert!(errors.is_empty(), "{errors:#?}");

    let later = with_firmware(&inv, "192.168.1.40", "3.3.1");
    std::fs::write(d.join("later.json"), json::render(&later)).expect("write");
    let sk = sign::load_secret_key(&d.join("otscout.key"), &mut || None).expect("key");
    sign::sign_file(&d.join("later.json"), &sk, t("2026-12-01T00:00:00Z")).expect("sign");
    let out = otscout(
        &["diff", "r.json", "later.json", "--pubkey", "otscout.pub"],
        d,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("192.168.1.40 firmware: 3.2.6 -> 3.3.1"));
}

/// The fixture with one device-supplied value replaced by something hostile.
fn with_hostile(inv: &Inventory, model: &str, manufacturer: &str) -> Inventory {
    let mut new = inv.clone();
    let a = new
        .assets
        .iter_mut()
        .find(|a| a.model.is_some())
        .expect("an asset with a model");
    a.model.as_mut().expect("model").value = model.to_owned();
    a.manufacturer.as_mut().expect("manufacturer").value = manufacturer.to_owned();
    new.summary
        .by_manufacturer
        .insert(manufacturer.to_owned(), 1);
    new
}

#[test]
fn csv_view_defuses_spreadsheet_formulas_from_devices() {
    let inv = with_hostile(
        &fixture_inventory(),
        "=cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
    );
    let text = String::from_utf8(csv::render(&inv)).expect("utf-8");
    let mut r = ::csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().expect("headers").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect("column");
    let rows: Vec<::csv::StringRecord> = r.records().map(|x| x.expect("row")).collect();
    let models: Vec<&str> = rows.iter().map(|r| &r[col("model")]).collect();
    assert!(models.contains(&"'=cmd|' /C calc'!A0"), "{models:?}");
    let makers: Vec<&str> = rows.iter().map(|r| &r[col("manufacturer")]).collect();
    assert!(
        makers.contains(&"'@SUM(1+1)*cmd|' /C calc'!A0"),
        "{makers:?}"
    );
    for row in &rows {
        for v in row {
            assert!(!v.starts_with(['=', '+', '-', '@', '\t', '\r']), "{v:?}");
        }
    }
}

#[test]
fn markdown_view_escapes_device_strings() {
    let inv = with_hostile(
        &fixture_inventory(),
        "PLC\u{1b}]0;pwned\u{7}<img src=x onerror=alert(1)>",
        "Evil\u{1b}[2J|Corp",
    );
    let md = markdown::render(&inv);
    assert!(!md.contains('\u{1b}') && !md.contains('\u{7}'), "{md:?}");
    assert!(!md.contains("<img"), "{md}");
    assert!(
        md.contains("PLC?\\]0;pwned?&lt;img src=x onerror=alert(1)&gt;"),
        "{md}"
    );
    assert!(md.contains("Evil?\\[2J\\|Corp"), "{md}");
}

#[test]
fn csv_view_passes_no_control_character_from_a_device_to_the_terminal() {
    // An ENIP product name that clears the screen, moves up a line and hides a formula.
    let inv = with_hostile(
        &fixture_inventory(),
        "\u{1b}[2J\u{1b}[1A=1+1",
        "Evil\u{7}\u{9b}31mCorp\r\n=cmd",
    );
    let text = String::from_utf8(csv::render(&inv)).expect("utf-8");
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(bad.is_empty(), "control characters in the CSV: {bad:?}");
    let mut r = ::csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().expect("headers").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect("column");
    let rows: Vec<::csv::StringRecord> = r.records().map(|x| x.expect("row")).collect();
    assert_eq!(
        rows.len(),
        inv.assets.len(),
        "one row per asset, no line broken"
    );
    let models: Vec<&str> = rows.iter().map(|r| &r[col("model")]).collect();
    assert!(models.contains(&"?[2J?[1A=1+1"), "{models:?}");
    let makers: Vec<&str> = rows.iter().map(|r| &r[col("manufacturer")]).collect();
    assert!(makers.contains(&"Evil??31mCorp  =cmd"), "{makers:?}");
    // Defusing still holds for a formula behind blanks.
    let inv = with_hostile(&fixture_inventory(), "\t=1+1", " @SUM(A1)");
    let text = String::from_utf8(csv::render(&inv)).expect("utf-8");
    assert!(text.contains("' =1+1"), "{text}");
    assert!(text.contains("' @SUM(A1)"), "{text}");
}

#[test]
fn markdown_view_turns_device_links_images_and_code_into_text() {
    let inv = with_hostile(
        &fixture_inventory(),
        "[click](http://evil.example/x) `rm -rf` **bold** a_b",
        "![i](http://evil.example/track.png)|<script>&amp;",
    );
    let md = markdown::render(&inv);
    assert!(
        md.contains("\\[click\\](http://evil.example/x) \\`rm -rf\\` \\*\\*bold\\*\\* a\\_b"),
        "{md}"
    );
    assert!(
        md.contains("!\\[i\\](http://evil.example/track.png)\\|&lt;script&gt;&amp;amp;"),
        "{md}"
    );
    // No `[...](` or `![` from a device survives unescaped.
    for bad in ["[click](", "![i](", "<script>", " `rm"] {
        assert!(!md.contains(bad), "{bad} in {md}");
    }
}

#[test]
fn cyclonedx_and_table_views_carry_no_raw_control_character() {
    let inv = with_hostile(
        &fixture_inventory(),
        "PLC\u{1b}[2J\u{7}",
        "Evil\u{1b}]0;x\u{7}",
    );
    let bom = cyclonedx::render(&inv);
    assert!(
        !bom.iter().any(|b| *b == 0x1b || *b == 0x07),
        "raw ESC/BEL in CycloneDX"
    );
    let bom: Value = serde_json::from_slice(&bom).expect("json");
    assert!(bom.to_string().contains("PLC\\u001b[2J\\u0007"), "{bom}");
    let table = markdown::table(&inv);
    assert!(
        !table.chars().any(|c| c.is_control() && c != '\n'),
        "{table:?}"
    );
}

#[test]
fn importer_warnings_quote_file_text_without_control_characters() {
    // A Zeek JSON log whose `_path` (quoted in the "skipped logs" note, a note since a
    // whole log of another protocol is not damage) is an escape sequence: `otscout merge`
    // and `scan --from-passive` print these notes and warnings.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("x.log");
    std::fs::write(
        &log,
        "{\"ts\":1.0,\"_path\":\"\\u001b]0;pwned\\u0007\",\"uid\":\"C1\"}\n",
    )
    .unwrap();
    let loaded = input::load_with_warnings(&log, None).expect("load");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let all = loaded.notes.join("\n");
    assert!(all.contains("?]0;pwned?"), "{all:?}");
    assert!(!all.chars().any(char::is_control), "{all:?}");
}
