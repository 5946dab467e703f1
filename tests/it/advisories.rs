//! CSAF 2.0 advisory matching: hand-built documents for every confidence level, product
//! status and verdict; bad documents as warnings (errors under --strict); the matches
//! embedded in a signed report, verified, and shown in CSV, Markdown, CycloneDX and diff;
//! and the real CISA OT set against the demo plant.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use otscout::advisories::{self, Confidence, Matches, ProductStatus, Verdict};
use otscout::inventory::merge::AssetField;
use otscout::inventory::{Input, Inventory, merge};
use otscout::report::{csv, cyclonedx, diff, input, json, markdown, sign};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::inventory::t;

const GEN: &str = "2026-11-21T00:00:00Z";

fn otscout(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otscout"))
        .args(args)
        .current_dir(dir)
        .env_remove("OTSCOUT_KEY_PASSWORD")
        .output()
        .expect("run otscout")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The plant of the hand-built tests, as a declared CSV inventory.
const PLANT_CSV: &str = "ip,vendor,model,firmware
10.0.0.1,Siemens AG,6es7 155-6au01-0cn0,V4.1.0
10.0.0.2,Siemens,6ES7 155-6AU01-0CN0,V4.2.0
10.0.0.3,Siemens,6ES7 155-6AU01-0CN0,
10.0.0.4,Acme Controls,Widget 9,2.0.0
10.0.0.5,Rockwell Automation,1756-ENBT/A,6.1
10.0.0.6,Allen-Bradley,1769-L33ER/A LOGIX5333ER,33.11
10.0.0.7,WAGO Kontakttechnik GmbH,750-8202,03.10.08(22)
10.0.0.8,Phoenix Contact GmbH & Co. KG,AXC F 2152,2024.0
10.0.0.9,Siemens,6ES7 155-6AU01-0CN0,4.3.0
";

fn plant(dir: &Path) -> Inventory {
    let p = dir.join("plant.csv");
    std::fs::write(&p, PLANT_CSV).expect("write csv");
    let i: Input = input::load(&p, None).expect("load csv");
    merge(&[i], t(GEN))
}

fn product(id: &str, name: &str, helper: Option<Value>) -> Value {
    let mut p = json!({"product_id": id, "name": name});
    if let Some(h) = helper {
        p["product_identification_helper"] = h;
    }
    p
}

fn version(category: &str, v: &str, p: Value) -> Value {
    json!({"category": category, "name": v, "product": p})
}

fn doc(id: &str, branches: Value, vulns: Value) -> Value {
    json!({
        "document": {
            "category": "csaf_security_advisory",
            "csaf_version": "2.0",
            "title": format!("{id} test advisory"),
            "publisher": {"category": "other", "name": "test", "namespace": "https://example.invalid"},
            "tracking": {"id": id, "version": "3", "status": "final",
                         "initial_release_date": "2024-01-01T00:00:00Z",
                         "current_release_date": "2024-02-01T00:00:00Z",
                         "revision_history": [], "generator": {"engine": {"name": "hand"}}}
        },
        "product_tree": {"branches": branches},
        "vulnerabilities": vulns
    })
}

/// The hand-built advisories: one per confidence level and status, plus a vendor-only one.
fn write_docs(dir: &Path, cpe: &str) -> PathBuf {
    let d = dir.join("csaf");
    std::fs::create_dir_all(&d).expect("mkdir");
    let model = json!({"model_numbers": ["6ES7155-6AU?1-0CN0"]});
    // TEST-MODEL: model numbers with a wildcard, an affected range, a fixed version,
    // and a range in a form otscout does not read.
    let siemens = doc(
        "TEST-MODEL",
        json!([{"category": "vendor", "name": "Siemens", "branches": [
        {"category": "product_name", "name": "SIMATIC ET 200SP IM 155-6 PN HF", "branches": [
            version("product_version_range", "vers:intdot/<4.2.0",
                product("P1", "SIMATIC ET 200SP IM 155-6 PN HF: < V4.2.0", Some(model.clone()))),
            version("product_version", "V4.2.0",
                product("P2", "SIMATIC ET 200SP IM 155-6 PN HF: V4.2.0", Some(model.clone()))),
            version("product_version_range", ">= 4.3.0 (only with option Z)",
                product("P3", "SIMATIC ET 200SP IM 155-6 PN HF: option Z", Some(model))),
        ]}]}]),
        json!([{"cve": "CVE-2024-0001",
                "product_status": {"known_affected": ["P1", "P3"], "fixed": ["P2"]},
                "scores": [{"products": ["P1", "P3"], "cvss_v3": {"version": "3.1", "baseScore": 7.5,
                            "baseSeverity": "HIGH",
                            "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}}],
                "remediations": [{"category": "vendor_fix", "details": "Update to V4.2.0 or later",
                                  "url": "https://example.invalid/fix", "product_ids": ["P1"]}]}]),
    );
    // TEST-CPE: only a CPE names the product; semver range with two constraints.
    let cpe_doc = doc(
        "TEST-CPE",
        json!([{"category": "vendor", "name": "Some Integrator", "branches": [
            {"category": "product_name", "name": "Widget", "branches": [
                version("product_version_range", "vers:semver/>=1.0.0|<2.0.1",
                    product("C1", "Widget: >=1.0.0 <2.0.1", Some(json!({"cpe": cpe}))))]}]}]),
        json!([{"cve": "CVE-2024-0002", "product_status": {"known_affected": ["C1"]}}]),
    );
    // TEST-NAME: a product name holding the model (`1756-ENBT`), generic range.
    // TEST-FAMILY: a family name, CISA text range; and one under investigation.
    let rockwell = doc(
        "TEST-NAME",
        json!([{"category": "vendor", "name": "Rockwell Automation", "branches": [
            {"category": "product_name", "name": "1756 ControlLogix EtherNet/IP Communications Modules 1756-ENBT", "branches": [
                version("product_version_range", "vers:generic/<=6.001",
                    product("R1", "1756-ENBT: <=6.001", None))]}]}]),
        json!([{"cve": "CVE-2024-0003", "product_status": {"known_affected": ["R1"]}}]),
    );
    let family = doc(
        "TEST-FAMILY",
        json!([{"category": "vendor", "name": "Rockwell Automation", "branches": [
            {"category": "product_name", "name": "CompactLogix 5370 controllers", "branches": [
                version("product_version_range", "Versions 33 and prior",
                    product("F1", "CompactLogix 5370 controllers: Versions 33 and prior", None))]},
            {"category": "product_name", "name": "CompactLogix 5370 L3 controllers", "branches": [
                version("product_version", "vers:all/*",
                    product("F2", "CompactLogix 5370 L3 controllers: all", None))]},
            // Another product of the family: never the device.
            {"category": "product_name", "name": "CompactLogix 5370 Safety Software", "branches": [
                version("product_version", "vers:all/*",
                    product("F3", "CompactLogix 5370 Safety Software", None))]}]}]),
        json!([{"cve": "CVE-2024-0004", "product_status": {"known_affected": ["F1", "F3"], "under_investigation": ["F2"]}}]),
    );
    // TEST-NOT: the WAGO controller, listed as not affected (FW numbers).
    let wago = doc(
        "TEST-NOT",
        json!([{"category": "vendor", "name": "WAGO", "branches": [
            {"category": "product_name", "name": "PFC200", "branches": [
                version("product_version_range", ">FW16_up_to_and_including_FW26",
                    product("W1", "PFC200: FW16 to FW26", Some(json!({"model_numbers": ["750-82*"]}))))]}]}]),
        json!([{"cve": "CVE-2024-0005", "product_status": {"known_not_affected": ["W1"]}}]),
    );
    // TEST-VENDOR: names Phoenix Contact, but a product the plant does not have.
    let phoenix = doc(
        "TEST-VENDOR",
        json!([{"category": "vendor", "name": "Phoenix Contact", "branches": [
            {"category": "product_name", "name": "CHARX SEC-3100", "branches": [
                version("product_version_range", "vers:intdot/<1.5.0",
                    product("X1", "CHARX SEC-3100: <1.5.0", None))]}]}]),
        json!([{"cve": "CVE-2024-0006", "product_status": {"known_affected": ["X1"]}}]),
    );
    for (name, d_) in [
        ("test-model.json", &siemens),
        ("test-cpe.json", &cpe_doc),
        ("test-name.json", &rockwell),
        ("test-not.json", &wago),
        ("test-vendor.json", &phoenix),
    ] {
        std::fs::write(d.join(name), serde_json::to_vec_pretty(d_).expect("json"))
            .expect("write doc");
    }
    // One document gzipped, in a sub-folder.
    std::fs::create_dir_all(d.join("2024")).expect("mkdir");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&serde_json::to_vec(&family).expect("json"))
        .expect("gzip");
    std::fs::write(
        d.join("2024/test-family.json.gz"),
        gz.finish().expect("gzip"),
    )
    .expect("write gz");
    d
}

fn find<'a>(m: &'a Matches, ip: &str, adv: &str, pid: &str) -> Option<&'a advisories::Match> {
    m.matches
        .iter()
        .find(|x| x.ip.to_string() == ip && x.advisory == adv && x.product_id == pid)
}

#[test]
fn hand_built_advisories_match_at_every_confidence_level_with_the_right_verdict() {
    let dir = tempfile::tempdir().expect("tmp");
    let inv = plant(dir.path());
    let cpe = inv
        .assets
        .iter()
        .find(|a| a.ip.to_string() == "10.0.0.4")
        .and_then(|a| a.value(AssetField::CpeHardware))
        .expect("asset cpe")
        .to_owned();
    let docs = write_docs(dir.path(), &cpe);
    let lib = advisories::load(&[docs]).expect("load");
    assert!(lib.warnings.is_empty(), "{:?}", lib.warnings);
    assert_eq!(lib.advisories.len(), 6);
    let m = advisories::match_inventory(&inv, &lib);

    // Model number, wildcard `?`, spaces and case normalised: affected, with the CVE,
    // CVSS, fixed version and remediation.
    let x = find(&m, "10.0.0.1", "TEST-MODEL", "P1").expect("P1 on .1");
    assert_eq!(x.confidence, Confidence::ModelNumber);
    assert_eq!(x.verdict, Verdict::Affected);
    assert_eq!(x.product_status, ProductStatus::KnownAffected);
    assert!(x.reason.contains("6ES7155-6AU?1-0CN0"), "{}", x.reason);
    assert_eq!(x.cves[0].cve, "CVE-2024-0001");
    assert_eq!(x.cves[0].cvss_base_score, Some(7.5));
    assert_eq!(x.fixed_versions, ["V4.2.0"]);
    assert_eq!(x.remediations[0].category, "vendor_fix");
    assert_eq!(
        x.remediations[0].url.as_deref(),
        Some("https://example.invalid/fix")
    );
    // The fixed firmware: listed as fixed, not affected.
    assert!(find(&m, "10.0.0.2", "TEST-MODEL", "P1").is_none());
    assert_eq!(
        find(&m, "10.0.0.2", "TEST-MODEL", "P2").map(|x| x.verdict),
        Some(Verdict::Fixed)
    );
    // Firmware unknown: "version unknown", never "affected".
    assert_eq!(
        find(&m, "10.0.0.3", "TEST-MODEL", "P1").map(|x| x.verdict),
        Some(Verdict::VersionUnknown)
    );
    // A range otscout does not read: "check version", with the text.
    let x = find(&m, "10.0.0.9", "TEST-MODEL", "P3").expect("P3 on .9");
    assert_eq!(x.verdict, Verdict::CheckVersion);
    assert_eq!(x.versions.as_deref(), Some(">= 4.3.0 (only with option Z)"));
    assert!(find(&m, "10.0.0.9", "TEST-MODEL", "P1").is_none());

    // CPE only, under another vendor's name; semver range.
    let x = find(&m, "10.0.0.4", "TEST-CPE", "C1").expect("cpe");
    assert_eq!(
        (x.confidence, x.verdict),
        (Confidence::Cpe, Verdict::Affected)
    );

    // Product name, vendor canonicalised ("Rockwell Automation" vs the asset's).
    let x = find(&m, "10.0.0.5", "TEST-NAME", "R1").expect("name");
    assert_eq!(
        (x.confidence, x.verdict),
        (Confidence::ProductName, Verdict::Affected)
    );
    // Family ("Allen-Bradley" canonicalised), `Versions 33 and prior` holds 33.11; the
    // L3 product is under investigation; the family's software product is not the device.
    let x = find(&m, "10.0.0.6", "TEST-FAMILY", "F1").expect("family");
    assert_eq!(
        (x.confidence, x.verdict),
        (Confidence::Family, Verdict::Affected)
    );
    assert_eq!(
        find(&m, "10.0.0.6", "TEST-FAMILY", "F2").map(|x| x.verdict),
        Some(Verdict::UnderInvestigation)
    );
    assert!(find(&m, "10.0.0.6", "TEST-FAMILY", "F3").is_none());
    // Known not affected, in WAGO's FW numbering.
    let x = find(&m, "10.0.0.7", "TEST-NOT", "W1").expect("wago");
    assert_eq!(x.verdict, Verdict::NotAffected);
    assert_eq!(x.product_status, ProductStatus::KnownNotAffected);
    // Vendor only: listed apart, never a match.
    assert!(m.matches.iter().all(|x| x.advisory != "TEST-VENDOR"));
    let review = m
        .vendor_review
        .iter()
        .find(|v| v.vendor == "Phoenix Contact")
        .expect("review");
    assert_eq!(review.advisories, ["TEST-VENDOR"]);
    // Every confidence level is represented.
    let by = m.by_confidence();
    for c in [
        Confidence::ModelNumber,
        Confidence::Cpe,
        Confidence::ProductName,
        Confidence::Family,
    ] {
        assert!(by.get(&c).copied().unwrap_or(0) > 0, "{c:?}: {by:?}");
    }
    // The documents used carry their version and the file's SHA-256.
    let d = m
        .documents
        .iter()
        .find(|d| d.id == "TEST-FAMILY")
        .expect("doc");
    assert_eq!(d.version, "3");
    let bytes = std::fs::read(&d.file).expect("read gz");
    assert_eq!(d.sha256, hex::encode(Sha256::digest(&bytes)));
}

#[test]
fn a_bad_document_is_one_warning_naming_file_and_place_and_an_error_under_strict() {
    let dir = tempfile::tempdir().expect("tmp");
    let inv = plant(dir.path());
    let docs = write_docs(dir.path(), "cpe:2.3:h:x:y:-:*:*:*:*:*:*:*");
    std::fs::write(
        docs.join("broken.json"),
        br#"{"document":{"csaf_version":"2.0","title":"t","tracking":{"id":"B","version":"1"}},
            "product_tree":{"branches":[{"category":"vendor","name":"V","branches":[{"category":"product_name","name":["x"]}]}]}}"#,
    )
    .expect("write");
    std::fs::write(docs.join("cut.json"), b"{\"document\": {").expect("write");
    let report = dir.path().join("report.json");
    std::fs::write(&report, json::render(&inv)).expect("write report");
    let r = report.to_str().expect("utf-8");
    let d = docs.to_str().expect("utf-8");

    let o = otscout(
        &["advisories", r, "--csaf", d, "--format", "csv"],
        dir.path(),
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 2, "{err}");
    assert!(
        err.contains(
            "broken.json: not a CSAF 2.0 document: at product_tree.branches[0].branches[0].name"
        ),
        "{err}"
    );
    assert!(
        err.contains("cut.json: not a CSAF 2.0 document: at line 1"),
        "{err}"
    );
    // The good documents were still matched.
    let mut rd = ::csv::Reader::from_reader(out.as_bytes());
    let rows: Vec<::csv::StringRecord> = rd.records().map(|r| r.expect("row")).collect();
    assert!(rows.iter().any(|r| &r[1] == "TEST-MODEL"), "{out}");

    let o = otscout(&["advisories", r, "--csaf", d, "--strict"], dir.path());
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("refused (--strict)") && err.contains(".json"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");

    // A folder that is not there is an error naming it.
    let o = otscout(&["advisories", r, "--csaf", "no-such-folder"], dir.path());
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no-such-folder"), "{err}");
}

#[test]
fn merge_embeds_the_matches_in_the_signed_report_and_every_view_shows_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let inv = plant(dir.path());
    let cpe = inv
        .assets
        .iter()
        .find(|a| a.ip.to_string() == "10.0.0.4")
        .and_then(|a| a.value(AssetField::CpeHardware))
        .expect("asset cpe")
        .to_owned();
    let docs = write_docs(dir.path(), &cpe);
    let keys = sign::keygen(dir.path(), &sign::Protection::Unencrypted).expect("keygen");
    let csv_in = dir.path().join("plant.csv");
    let report = dir.path().join("report.json");
    let (sk, pk) = (
        keys.secret.to_str().expect("utf-8"),
        keys.public.to_str().expect("utf-8"),
    );
    let o = otscout(
        &[
            "merge",
            csv_in.to_str().expect("utf-8"),
            "-o",
            report.to_str().expect("utf-8"),
            "--csaf",
            docs.to_str().expect("utf-8"),
            "--sign-key",
            sk,
        ],
        dir.path(),
    );
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("advisories: "), "{err}");
    // The signature and schema hold, and the matches are what the library makes.
    let o = otscout(
        &["verify", report.to_str().expect("utf-8"), "--pubkey", pk],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o).1);
    let signed = sign::verify_file(&report, &sign::load_public_key(&keys.public).expect("pk"))
        .expect("verify")
        .inventory;
    assert_eq!(signed.version, otscout::inventory::merge::REPORT_VERSION);
    let m = signed.advisories.clone().expect("embedded matches");
    assert!(find(&m, "10.0.0.1", "TEST-MODEL", "P1").is_some());
    assert!(m.documents.iter().all(|d| d.sha256.len() == 64));

    // Tampering with an embedded match breaks the signature.
    let bytes = std::fs::read_to_string(&report).expect("read");
    let tampered = bytes.replacen("\"verdict\":\"affected\"", "\"verdict\":\"fixed\"", 1);
    assert_ne!(tampered, bytes);
    std::fs::write(&report, &tampered).expect("write");
    let o = otscout(
        &["verify", report.to_str().expect("utf-8"), "--pubkey", pk],
        dir.path(),
    );
    assert!(!o.status.success());
    std::fs::write(&report, &bytes).expect("restore");

    // `advisories` without --csaf shows the embedded matches, after verifying.
    let o = otscout(
        &[
            "advisories",
            report.to_str().expect("utf-8"),
            "--pubkey",
            pk,
            "--format",
            "json",
        ],
        dir.path(),
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let shown: Matches = serde_json::from_str(&out).expect("json view");
    assert_eq!(shown, m);

    // The report's schema (version 2) accepts it; CSV, Markdown, CycloneDX show it.
    let schema = super::report::read_json(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json"),
    );
    let v: Value = serde_json::from_str(&bytes).expect("json");
    let errors = super::report::validate(&schema, &[], &v);
    assert!(errors.is_empty(), "{errors:#?}");
    let mut v1 = v.clone();
    v1["version"] = Value::from(1);
    assert!(!super::report::validate(&schema, &[], &v1).is_empty());

    let text_csv = String::from_utf8(csv::render(&signed)).expect("utf-8");
    let mut rd = ::csv::Reader::from_reader(text_csv.as_bytes());
    let headers = rd.headers().expect("headers").clone();
    assert_eq!(headers.iter().next_back(), Some(csv::ADVISORIES_COLUMN));
    let rows: BTreeMap<String, String> = rd
        .records()
        .map(|r| r.expect("row"))
        .map(|r| (r[0].to_owned(), r[headers.len() - 1].to_owned()))
        .collect();
    assert_eq!(rows["10.0.0.1"], "TEST-MODEL");
    assert_eq!(rows["10.0.0.6"], "TEST-FAMILY");
    // Not affected is not listed as applying (.2 is fixed for P1/P2 but P3's range is
    // one to check by hand: listed).
    assert_eq!(rows["10.0.0.7"], "");
    assert_eq!(rows["10.0.0.2"], "TEST-MODEL");
    let md = markdown::render(&signed);
    assert!(md.contains("## Published advisories"), "{md}");
    assert!(md.contains("TEST-MODEL v3"), "{md}");
    assert!(md.contains("### Vendor advisories to review"), "{md}");
    // The HTML page shows the matches (issue 19: "the flags and, where present, advisory
    // matches"), every string escaped and no URL from a document turned into a link.
    let page =
        otscout::report::html::render(&signed, &otscout::report::html::SignatureStatus::NotChecked);
    let section = page
        .split("<section id=\"advisories\">")
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
        .expect("an advisories section in the HTML page");
    assert!(section.contains("TEST-MODEL"), "{section}");
    assert!(section.contains("CVE-2024-0001"), "{section}");
    assert!(section.contains("Vendor advisories to review"), "{section}");
    assert!(!section.contains("<a "), "{section}");
    let plain = otscout::report::html::render(
        &otscout::inventory::Inventory {
            advisories: None,
            ..signed.clone()
        },
        &otscout::report::html::SignatureStatus::NotChecked,
    );
    assert!(!plain.contains("id=\"advisories\""));

    let bom: Value = serde_json::from_slice(&cyclonedx::render(&signed)).expect("json");
    let errors = super::report::validate_cyclonedx(&bom);
    assert!(errors.is_empty(), "{errors:#?}");
    let vulns = bom["vulnerabilities"].as_array().expect("vulnerabilities");
    let v = vulns
        .iter()
        .find(|v| v["id"] == "CVE-2024-0001")
        .expect("CVE-2024-0001");
    assert_eq!(v["references"][0]["id"], "TEST-MODEL");
    assert_eq!(v["ratings"][0]["method"], "CVSSv31");
    let affects: Vec<(&str, &str)> = v["affects"]
        .as_array()
        .expect("affects")
        .iter()
        .map(|a| {
            (
                a["ref"].as_str().unwrap_or(""),
                a["versions"][0]["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        affects.contains(&("asset:10.0.0.1", "affected")),
        "{affects:?}"
    );
    assert!(
        affects.contains(&("asset:10.0.0.3", "unknown")),
        "{affects:?}"
    );
    assert!(
        affects.contains(&("asset:10.0.0.2", "unaffected")),
        "{affects:?}"
    );
    let refs: Vec<&str> = bom["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter_map(|c| c["bom-ref"].as_str())
        .collect();
    for a in vulns
        .iter()
        .flat_map(|v| v["affects"].as_array().into_iter().flatten())
    {
        assert!(refs.contains(&a["ref"].as_str().unwrap_or("")), "{a}");
    }

    // diff: the same devices, one advisory more, is drift.
    let mut older = signed.clone();
    older.advisories = None;
    let d = diff::diff(&older, &signed);
    assert!(d.added.is_empty() && d.removed.is_empty() && d.changed.is_empty());
    assert!(d.is_drift());
    assert!(
        d.advisories
            .iter()
            .any(|a| a.new && a.advisory == "TEST-MODEL" && a.ip.to_string() == "10.0.0.1")
    );
    assert!(diff::render_text(&d).contains("! new 10.0.0.1 advisory TEST-MODEL"));
    assert!(!diff::diff(&signed, &signed).is_drift());
    // A version-1 report (no advisories) still reads, and keeps its version.
    let mut v1 = older.clone();
    v1.version = 1;
    let back = json::parse(&json::render(&v1)).expect("v1 parses");
    assert_eq!(back.version, 1);
    assert_eq!(json::render(&back), json::render(&v1));
}

/// The real CISA set, unpacked once per test run under the target folder.
pub(crate) fn cisa_set(test: &str) -> Option<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let Some(src) = std::env::var_os("OTSCOUT_ADVISORIES") else {
            assert!(
                std::env::var("OTSCOUT_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "OTSCOUT_ADVISORIES is not set but OTSCOUT_REQUIRE_TOOLS=1 (CI)"
            );
            return None;
        };
        let tarball = PathBuf::from(src).join("cisa-csaf-ot.tar.gz");
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cisa-csaf-ot");
        let done = out.join(".unpacked");
        if !done.is_file() {
            let _ = std::fs::remove_dir_all(&out);
            let f = std::fs::File::open(&tarball)
                .unwrap_or_else(|e| panic!("{}: {e}", tarball.display()));
            tar::Archive::new(flate2::read::GzDecoder::new(f))
                .unpack(&out)
                .unwrap_or_else(|e| panic!("unpack {}: {e}", tarball.display()));
            std::fs::write(&done, b"").expect("marker");
        }
        Some(out.join("csaf"))
    })
    .clone()
    .or_else(|| {
        eprintln!("skipped {test}: OTSCOUT_ADVISORIES is not set");
        None
    })
}

#[test]
fn the_demo_plant_matches_real_cisa_advisories() {
    let test = "the_demo_plant_matches_real_cisa_advisories";
    let Some(cisa) = cisa_set(test) else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("demo");
    let o = otscout(
        &["demo", "--out", out.to_str().expect("utf-8"), "-q"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o).1);
    let report = out.join("report.json");
    let o = otscout(
        &[
            "advisories",
            report.to_str().expect("utf-8"),
            "--csaf",
            cisa.to_str().expect("utf-8"),
            "--strict",
            "--pubkey",
            out.join("otscout.pub").to_str().expect("utf-8"),
            "--format",
            "json",
        ],
        dir.path(),
    );
    let (stdout, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let m: Matches = serde_json::from_str(&stdout).expect("json");
    assert_eq!(m.documents_read, 2379, "every advisory read");
    assert_eq!(m.documents_refused, 0);
    let has = |ip: &str, adv: &str, c: Confidence, v: Verdict| {
        m.matches.iter().any(|x| {
            x.ip.to_string() == ip && x.advisory == adv && x.confidence == c && x.verdict == v
        })
    };
    // Siemens: order numbers against model_numbers, and the S7-300 family.
    assert!(has(
        "127.77.0.12",
        "ICSA-19-283-01",
        Confidence::ModelNumber,
        Verdict::Affected
    ));
    assert!(has(
        "127.77.0.11",
        "ICSA-22-104-06",
        Confidence::ModelNumber,
        Verdict::Affected
    ));
    assert!(has(
        "127.77.0.12",
        "ICSA-20-252-02",
        Confidence::Family,
        Verdict::Affected
    ));
    assert!(has(
        "127.77.0.13",
        "ICSA-21-152-01",
        Confidence::Family,
        Verdict::Affected
    ));
    // `< V3.X.17`: per release line, 3.2.6 is affected.
    assert!(has(
        "127.77.0.12",
        "ICSA-20-042-05",
        Confidence::ModelNumber,
        Verdict::Affected
    ));
    // Rockwell: the ENBT by product name, the 5580 and 5370 by family.
    assert!(has(
        "127.77.0.21",
        "ICSA-18-310-02",
        Confidence::ProductName,
        Verdict::Affected
    ));
    assert!(has(
        "127.77.0.22",
        "ICSA-22-090-05",
        Confidence::Family,
        Verdict::Affected
    ));
    assert!(has(
        "127.77.0.23",
        "ICSA-22-144-01",
        Confidence::Family,
        Verdict::Affected
    ));
    // Schneider: part numbers in the product name (`BMXP34*`, `BMEP*`).
    assert!(has(
        "127.77.0.34",
        "ICSA-23-201-01",
        Confidence::ModelNumber,
        Verdict::Affected
    ));
    assert!(has(
        "127.77.0.35",
        "ICSA-21-194-02",
        Confidence::ModelNumber,
        Verdict::Affected
    ));
    // WAGO: the article number pattern `750-82xx/xxx-xxx`.
    assert!(has(
        "127.77.0.36",
        "ICSA-20-065-01",
        Confidence::ModelNumber,
        Verdict::Affected
    ));
    // Phoenix Contact: the ILC 1x1 family (ILC 151 ETH).
    assert!(has(
        "127.77.0.37",
        "ICSA-22-172-03",
        Confidence::Family,
        Verdict::Affected
    ));
    // The S7-1500 Software Controller is not the S7-1500 CPU.
    assert!(
        !m.matches
            .iter()
            .any(|x| x.ip.to_string() == "127.77.0.14" && x.product.contains("Software Controller")),
        "a software product matched a CPU"
    );
    // No asset without a vendor or model matched anything.
    for ip in ["127.77.0.25", "127.77.0.38", "127.77.0.39", "127.77.0.100"] {
        assert!(m.matches.iter().all(|x| x.ip.to_string() != ip), "{ip}");
    }
    for vendor in [
        "Siemens",
        "Rockwell Automation/Allen-Bradley",
        "Schneider Electric",
        "WAGO",
        "Phoenix Contact",
    ] {
        assert!(
            m.vendor_review.iter().any(|v| v.vendor == vendor),
            "{vendor} review"
        );
    }
    // The one-command merge: matches embedded, signed, verified, CycloneDX valid.
    let merged = dir.path().join("merged.json");
    let o = otscout(
        &[
            "merge",
            report.to_str().expect("utf-8"),
            "-o",
            merged.to_str().expect("utf-8"),
            "--pubkey",
            out.join("otscout.pub").to_str().expect("utf-8"),
            "--sign-key",
            out.join("otscout.key").to_str().expect("utf-8"),
            "--csaf",
            cisa.to_str().expect("utf-8"),
            "-q",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o).1);
    let inv = sign::verify_file(
        &merged,
        &sign::load_public_key(&out.join("otscout.pub")).expect("pk"),
    )
    .expect("verify")
    .inventory;
    let embedded = inv.advisories.clone().expect("embedded");
    assert_eq!(embedded.matches, m.matches);
    let doc = embedded
        .documents
        .iter()
        .find(|d| d.id == "ICSA-20-065-01")
        .expect("doc");
    let bytes = std::fs::read(cisa.join("icsa-20-065-01.json")).expect("read");
    assert_eq!(doc.sha256, hex::encode(Sha256::digest(&bytes)));
    let bom: Value = serde_json::from_slice(&cyclonedx::render(&inv)).expect("json");
    let errors = super::report::validate_cyclonedx(&bom);
    assert!(errors.is_empty(), "{errors:#?}");
}

/// `scan --csaf` reads the advisories before anything is sent: a missing folder stops the
/// scan before it starts, and nothing is written.
#[test]
fn scan_reads_the_advisories_before_it_starts() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("scan.json");
    let o = otscout(
        &[
            "scan",
            "127.0.0.1",
            "--profile",
            "lab",
            "--csaf",
            "no-such-folder",
            "-o",
            out.to_str().expect("utf-8"),
        ],
        dir.path(),
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("advisory folder no-such-folder"), "{err}");
    assert!(!out.exists() && !dir.path().join("scan.json.journal.jsonl").exists());
}
