//! The HTML view in a real browser (headless Chromium), MAC OUI vendors in every view,
//! and the fleet merge across sites.
//!
//! Chromium tests skip with a note when no `chromium` is installed, unless
//! OTSCOUT_REQUIRE_TOOLS=1 (CI) says it must be there. They drive the page's own
//! `#selftest` hook (sort, filter, then write what the page shows into `<pre id=selftest>`)
//! and read it back from `--dump-dom`, which prints the DOM after scripts ran.
//! No timing assertions.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use otscout::inventory::merge::{AssetField, Inventory, SourceKind};
use otscout::inventory::{Input, Observation, Provenance, merge};
use otscout::report::html::{self, SignatureStatus};
use otscout::report::{csv, cyclonedx, json, markdown};
use serde_json::{Value, json};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_otscout"))
}

/// The Chromium binary, or `None` (skip) when it is missing, unless
/// OTSCOUT_REQUIRE_TOOLS=1 says it must be there.
fn chromium(test: &str) -> Option<&'static str> {
    for name in ["chromium", "chromium-browser"] {
        if Command::new(name).arg("--version").output().is_ok() {
            return Some(name);
        }
    }
    assert!(
        std::env::var("OTSCOUT_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "{test}: chromium is not installed but OTSCOUT_REQUIRE_TOOLS=1"
    );
    eprintln!("skipped {test}: chromium is not installed (apt-get install chromium)");
    None
}

/// Headless Chromium on a local file, with a fresh profile, no network features, and
/// virtual time so that the page's timers run before the DOM is dumped.
fn headless(browser: &str, page: &Path, fragment: &str, mode: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().expect("profile dir");
    let url = format!("file://{}{fragment}", page.display());
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(mode)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The DOM after scripts ran.
fn dump_dom(browser: &str, page: &Path, fragment: &str) -> String {
    String::from_utf8(headless(browser, page, fragment, &["--dump-dom"]).stdout).expect("utf-8 DOM")
}

/// What the page's self-test wrote.
fn selftest(dom: &str) -> Value {
    let start = dom
        .find("<pre id=\"selftest\">")
        .unwrap_or_else(|| panic!("the self-test did not run: {}", &dom[..dom.len().min(2000)]));
    let rest = &dom[start + "<pre id=\"selftest\">".len()..];
    let end = rest.find("</pre>").expect("end of selftest");
    // The JSON is element text: unescape the few references the serializer writes.
    let text = rest[..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("selftest JSON {text}: {e}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_str().expect("string").to_owned())
        .collect()
}

/// The DOM loads nothing and links nowhere: no attribute that fetches or navigates.
fn assert_no_external_reference(dom: &str) {
    for attr in [
        " src=",
        " href=",
        " srcset=",
        " action=",
        " formaction=",
        " poster=",
        " data=",
    ] {
        assert!(!dom.contains(attr), "the DOM has a{attr} attribute");
    }
    assert!(!dom.contains("@import"), "the DOM has an @import");
    for (i, _) in dom.match_indices("url(") {
        assert!(
            dom[i..].starts_with("url(#"),
            "the DOM has a non-fragment url(): {}",
            &dom[i..dom.len().min(i + 60)]
        );
    }
    assert!(
        dom.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';"),
        "no CSP meta tag"
    );
}

/// Two demo runs, as two sites with two keys; run once for every test here.
struct Demos {
    _dir: tempfile::TempDir,
    a: PathBuf,
    b: PathBuf,
}

fn demos() -> &'static Demos {
    static DEMOS: OnceLock<Demos> = OnceLock::new();
    DEMOS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = |site: &str| {
            let out = dir.path().join(site);
            let o = bin()
                .args(["demo", "--quiet", "--site", site, "--out"])
                .arg(&out)
                .output()
                .expect("run demo");
            assert_eq!(
                o.status.code(),
                Some(0),
                "demo {site}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            out
        };
        let a = run("plant-a");
        let b = run("plant-b");
        Demos { _dir: dir, a, b }
    })
}

fn read_report(path: &Path) -> Inventory {
    json::parse(&std::fs::read(path).expect("read report")).expect("parse report")
}

#[test]
fn demo_writes_an_html_page_that_opens_offline_with_every_asset_the_map_and_the_flags() {
    let d = demos();
    let page = d.a.join("report.html");
    let inv = read_report(&d.a.join("report.json"));
    let html = std::fs::read_to_string(&page).expect("the demo wrote report.html");
    // What the page was made from: the verified report of site plant-a.
    assert!(html.contains("Signature verified when this page was made"));
    assert!(html.contains("site=plant-a"));
    // Without JavaScript (headless Chromium dumps no DOM with scripts off, so this reads
    // the file as served): every asset row and map node is in the markup, nothing but
    // the script's own controls and self-test output starts hidden.
    assert_eq!(html.matches("<tr class=\"asset").count(), inv.assets.len());
    // The map draws hosts at addresses; an asset known only by MAC (the ET 200SP the
    // engineering station names over DCP) is in the table only.
    let at_addresses = inv.assets.iter().filter(|a| !a.mac_only()).count();
    assert_eq!(inv.assets.len() - at_addresses, 1);
    assert_eq!(html.matches("<g class=\"node ").count(), at_addresses);
    let hidden: Vec<&str> = html
        .match_indices(" hidden")
        .map(|(i, _)| {
            let start = html[..i].rfind('<').unwrap_or(0);
            &html[start..i]
        })
        .collect();
    assert_eq!(
        hidden,
        [
            "<div class=\"controls\" id=\"controls\"",
            "<pre id=\"selftest\""
        ],
        "hidden without script"
    );
    let Some(browser) = chromium("demo html") else {
        return;
    };
    let dom = dump_dom(browser, &page, "#selftest");
    let st = selftest(&dom);
    assert_eq!(st["script"], "ran");
    let rows: BTreeSet<String> = strings(&st["order"]).into_iter().collect();
    let ips: BTreeSet<String> = inv.assets.iter().map(|a| a.ip.to_string()).collect();
    assert_eq!(rows, ips, "one row per asset");
    assert_eq!(st["map_nodes"].as_u64(), Some(at_addresses as u64));
    assert!(st["map_edges"].as_u64().unwrap() >= 5, "{st}");
    // The capture's register write is a warning edge named by its function.
    assert_eq!(st["warn_edges"], 1, "{st}");
    assert!(
        dom.contains("write_single_register"),
        "no function name on the map"
    );
    // Every flag is listed.
    let flags: usize = inv.assets.iter().map(|a| a.flags.len()).sum();
    assert_eq!(dom.matches("<li class=\"flag ").count(), flags);
    // Nothing was fetched and the policy blocked nothing.
    assert_eq!(st["resources"], 0, "{st}");
    assert_eq!(st["violations"], json!([]), "{st}");
    assert_eq!(st["linking"], 0, "{st}");
    assert_no_external_reference(&dom);
    // The controls the script shows.
    assert!(dom.contains("id=\"filter\""));
}

#[test]
fn the_page_sorts_and_filters_in_chromium() {
    let d = demos();
    let page = d.a.join("report.html");
    let inv = read_report(&d.a.join("report.json"));
    let Some(browser) = chromium("html sort/filter") else {
        return;
    };
    // Sorted by vendor: known vendors in order (case-insensitively), unknown last.
    let st = selftest(&dump_dom(browser, &page, "#selftest:sort=vendor"));
    let order = strings(&st["order"]);
    let vendor = |ip: &str| {
        let ip: IpAddr = ip.parse().unwrap();
        inv.assets
            .iter()
            .find(|a| a.ip == ip)
            .and_then(|a| a.value(AssetField::Manufacturer))
            .map(str::to_lowercase)
    };
    let keys: Vec<Option<String>> = order.iter().map(|ip| vendor(ip)).collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, None) => std::cmp::Ordering::Equal,
    });
    assert_eq!(keys, sorted, "rows not sorted by vendor: {order:?}");
    assert_ne!(
        order,
        {
            let mut by_ip = order.clone();
            by_ip.sort_by_key(|ip| ip.parse::<IpAddr>().unwrap());
            by_ip
        },
        "sorting by vendor changed nothing"
    );
    // Descending reverses the known vendors.
    let st = selftest(&dump_dom(browser, &page, "#selftest:sort=vendor:desc"));
    let desc: Vec<Option<String>> = strings(&st["order"]).iter().map(|ip| vendor(ip)).collect();
    let known: Vec<&String> = desc.iter().flatten().collect();
    assert!(known.windows(2).all(|w| w[0] >= w[1]), "{desc:?}");

    // A column filter shows exactly the assets whose vendor matches.
    let st = selftest(&dump_dom(browser, &page, "#selftest:filter=vendor:siemens"));
    let visible: BTreeSet<String> = strings(&st["visible"]).into_iter().collect();
    let want: BTreeSet<String> = inv
        .assets
        .iter()
        .filter(|a| {
            a.value(AssetField::Manufacturer)
                .is_some_and(|v| v.to_lowercase().contains("siemens"))
        })
        .map(|a| a.ip.to_string())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(visible, want);
    // "flagged only" shows the flagged assets.
    let st = selftest(&dump_dom(browser, &page, "#selftest:flagged"));
    let visible: BTreeSet<String> = strings(&st["visible"]).into_iter().collect();
    let want: BTreeSet<String> = inv
        .assets
        .iter()
        .filter(|a| !a.flags.is_empty())
        .map(|a| a.ip.to_string())
        .collect();
    assert_eq!(visible, want);
}

/// The text of one asset's row in a DOM (its details included), up to the next row.
fn row_of<'a>(dom: &'a str, ip: &str) -> &'a str {
    let start = dom
        .find(&format!("data-ip=\"{ip}\""))
        .unwrap_or_else(|| panic!("no row for {ip}"));
    let rest = &dom[start..];
    let end = rest[1..]
        .find("<tr class=\"asset")
        .map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

/// What issues 15, 16 and 17 added to the demo, as the browser shows it: the chassis'
/// modules in the adapter's row (path, vendor, model, firmware), and the OPC UA
/// gateway's security findings and endpoints in its details.
#[test]
fn the_demo_page_shows_the_chassis_modules_and_the_opc_ua_findings() {
    let d = demos();
    let page = d.a.join("report.html");
    let Some(browser) = chromium("demo html sub-assets") else {
        return;
    };
    let dom = dump_dom(browser, &page, "#selftest");
    let chassis = row_of(&dom, "127.77.0.26");
    assert!(chassis.contains("1756-EN2T/D"), "{chassis}");
    for module in [
        "<tr class=\"sub-asset\"><td>cip:1/0</td><td>Rockwell Automation/Allen-Bradley</td><td>1756-L61/B LOGIX5561</td><td>20.11</td>",
        "<tr class=\"sub-asset\"><td>cip:1/2</td><td>Rockwell Automation/Allen-Bradley</td><td>1756-IB16/A</td><td>3.1</td>",
        "<tr class=\"sub-asset\"><td>cip:1/3</td><td>Prosoft Technology</td><td>MVI56-MCM</td><td>3.4</td>",
    ] {
        assert!(chassis.contains(module), "no {module} in {chassis}");
    }
    assert_eq!(chassis.matches("<tr class=\"sub-asset\">").count(), 3);
    let gateway = row_of(&dom, "127.77.0.62");
    for finding in [
        "opcua.finding.security_mode_none",
        "opcua.finding.anonymous_on_unsecured",
        "opcua.finding.deprecated_policy",
        "opcua.finding.certificate_self_signed",
        "none/None [anonymous,user_name]",
    ] {
        assert!(gateway.contains(finding), "no {finding} in {gateway}");
    }
}

/// Sample variance of the RGB values of a PNG's pixels.
fn pixel_variance(png_path: &Path) -> f64 {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).expect("open screenshot"),
    ));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("png size")];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let bytes = &buf[..info.buffer_size()];
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let values: Vec<f64> = bytes
        .chunks(channels)
        .flat_map(|p| p[..3].iter().map(|v| f64::from(*v)))
        .collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64
}

#[test]
fn the_screenshot_of_the_demo_page_is_not_blank() {
    let d = demos();
    let Some(browser) = chromium("html screenshot") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("shot.png");
    headless(
        browser,
        &d.a.join("report.html"),
        "",
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1600",
        ],
    );
    let v = pixel_variance(&shot);
    // A blank (one-colour) page has variance 0; text, tables and the map give thousands.
    assert!(v > 500.0, "screenshot looks blank: variance {v}");
}

fn obs(v: Value) -> Observation {
    serde_json::from_str(&v.to_string()).expect("test observation")
}

/// Strings an attacker controls on the wire or in a CSV: markup, attribute breaks, the
/// ends of the page's own style and script elements, and JavaScript line terminators.
const HOSTILE: &[&str] = &[
    "<script>document.body.setAttribute('data-pwned','script')</script>",
    "\"><img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">",
    "' onmouseover='document.body.setAttribute(\"data-pwned\",\"attr\")' x='",
    "</style><style>body{display:none}</style>",
    "</script><script>document.body.setAttribute('data-pwned','end')</script>",
    "line\u{2028}sep\u{2029}para",
    "<svg><a href=\"javascript:alert(1)\"><text>x</text></a></svg>",
];

fn hostile_inventory() -> Inventory {
    let csv = |row: u64| json!({"source": "csv", "file": "<b>assets</b>.csv", "row": row});
    let mut o = Vec::new();
    for (i, h) in HOSTILE.iter().enumerate() {
        let ip = format!("10.9.0.{}", i + 1);
        for (n, attr) in ["vendor", "model", "hostname", "location", "firmware"]
            .iter()
            .enumerate()
        {
            o.push(obs(
                json!({"ip": ip, "fact": {"type": "declared", "attribute": attr, "value": h},
                "provenance": csv((i * 10 + n) as u64)}),
            ));
        }
        // A device that names itself hostilely, and writes seen on the wire.
        o.push(obs(json!({"ip": ip, "fact": {"type": "identity", "identity": {
            "protocol": "modbus", "unit_id": 1, "objects": {"0": h, "1": h, "2": "1.0", "5": h}}},
            "provenance": {"source": "pcap", "file": h, "frame": 1}, "seen": "2026-11-20T10:00:00Z"})));
        o.push(obs(json!({"ip": ip, "fact": {"type": "operation", "actor": "10.9.0.100",
            "protocol": "modbus", "kind": "write", "function": h, "count": 1},
            "provenance": {"source": "pcap", "file": "x.pcap", "frame": 2}, "seen": "2026-11-20T10:00:01Z"})));
        o.push(obs(json!({"ip": ip, "fact": {"type": "peer", "peer": "10.9.0.100",
            "protocol": "modbus", "role": "server", "count": 3},
            "provenance": {"source": "pcap", "file": "x.pcap", "frame": 2}, "seen": "2026-11-20T10:00:01Z"})));
    }
    merge(
        &[Input::from_raw("hostile", o)],
        chrono::DateTime::parse_from_rfc3339("2026-11-21T00:00:00Z")
            .unwrap()
            .to_utc(),
    )
}

#[test]
fn hostile_device_strings_render_as_text() {
    let inv = hostile_inventory();
    let page_text = html::render(
        &inv,
        &SignatureStatus::Verified {
            key_id: "<b>key</b>".into(),
            trusted_comment: "\"><script>x</script>".into(),
        },
    );
    // In the bytes: none of the strings survives unescaped.
    for h in HOSTILE {
        assert!(!page_text.contains(h), "unescaped: {h}");
    }
    assert_eq!(
        page_text.matches("<script>").count(),
        1,
        "only our own script"
    );
    assert_eq!(page_text.matches("</script>").count(), 1);
    assert_eq!(page_text.matches("</style>").count(), 1);
    assert!(!page_text.contains('\u{2028}') && !page_text.contains('\u{2029}'));
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("hostile.html");
    std::fs::write(&page, &page_text).unwrap();
    let Some(browser) = chromium("hostile html") else {
        return;
    };
    let dom = dump_dom(browser, &page, "#selftest:filter=onerror");
    let st = selftest(&dom);
    assert_eq!(st["script"], "ran");
    // The strings are in the DOM as text; no injected script set the body's attribute.
    assert!(dom.contains("<body>"), "injected script ran");
    assert!(!dom.contains("<img"), "an injected element was parsed");
    // Device text may spell `href=` as text; no element carries such an attribute.
    assert_eq!(st["linking"], 0, "{st}");
    assert_eq!(st["resources"], 0, "{st}");
    assert_eq!(st["violations"], json!([]), "{st}");
    // The strings are there as text: the filter finds the row whose vendor holds one.
    assert_eq!(strings(&st["visible"]), vec!["10.9.0.2".to_owned()], "{st}");
    assert!(dom.contains("&lt;script&gt;document.body.setAttribute"));
    // Every asset row and map node is there: nothing swallowed a table.
    assert_eq!(strings(&st["order"]).len(), HOSTILE.len());
    assert_eq!(st["map_nodes"].as_u64(), Some(HOSTILE.len() as u64 + 1));
    assert_eq!(st["warn_edges"].as_u64(), Some(HOSTILE.len() as u64));
}

fn mac_obs(ip: &str, mac: &str) -> Observation {
    obs(
        json!({"ip": ip, "fact": {"type": "mac", "mac": mac, "basis": "ethernet_local"},
        "provenance": {"source": "pcap", "file": "p.pcap", "frame": 1}, "seen": "2026-11-20T10:00:00Z"}),
    )
}

#[test]
fn a_mac_names_the_maker_only_when_nothing_else_does_and_every_view_shows_it() {
    // 00:1b:1b is Siemens AG (IEEE MA-L); 00:00:bc is Rockwell Automation (MA-L).
    let mut o = vec![
        mac_obs("10.1.0.1", "00:1b:1b:01:02:03"),
        mac_obs("10.1.0.2", "00:1b:1b:01:02:04"),
        mac_obs("10.1.0.3", "02:1b:1b:01:02:05"),
        mac_obs("10.1.0.4", "00:1b:1b:01:02:06"),
    ];
    // .2: a CSV says who it is; .4: the device itself says so.
    o.push(obs(json!({"ip": "10.1.0.2", "fact": {"type": "declared", "attribute": "vendor", "value": "ACME"},
        "provenance": {"source": "csv", "file": "a.csv", "row": 2}})));
    o.push(obs(json!({"ip": "10.1.0.4", "fact": {"type": "identity", "identity": {
        "protocol": "modbus", "unit_id": 1, "objects": {"0": "Schneider Electric", "1": "BMX"}}},
        "provenance": {"source": "pcap", "file": "p.pcap", "frame": 9}, "seen": "2026-11-20T10:00:00Z"})));
    let inv = merge(&[Input::from_raw("p", o)], chrono::DateTime::UNIX_EPOCH);
    let by = |ip: &str| {
        let ip: IpAddr = ip.parse().unwrap();
        inv.assets.iter().find(|a| a.ip == ip).unwrap()
    };
    let m = by("10.1.0.1").manufacturer.as_ref().expect("OUI vendor");
    assert_eq!(m.value, "Siemens");
    assert_eq!(m.sources.len(), 1);
    assert_eq!(m.sources[0].kind, SourceKind::MacOui);
    assert!(
        matches!(&m.sources[0].provenance, Provenance::MacOui { oui, registry }
        if oui == "001B1B" && registry == "MA-L")
    );
    assert!(
        !by("10.1.0.1").identified(),
        "a MAC prefix is not an identity"
    );
    // Lowest precedence: a declared or a device-given vendor stands alone.
    for (ip, want) in [("10.1.0.2", "ACME"), ("10.1.0.4", "Schneider Electric")] {
        let f = by(ip).manufacturer.as_ref().unwrap();
        assert_eq!(f.value, want);
        assert!(f.sources.iter().all(|s| s.kind != SourceKind::MacOui));
        assert!(f.conflicts.is_empty(), "{f:?}");
    }
    // A locally administered MAC names nobody.
    assert!(by("10.1.0.3").manufacturer.is_none());

    // Every view shows it.
    let csv_text = String::from_utf8(csv::render(&inv)).unwrap();
    assert!(
        csv_text
            .lines()
            .any(|l| l.starts_with("10.1.0.1,") && l.contains(",Siemens,"))
    );
    assert!(markdown::render(&inv).contains("| 10.1.0.1 | Siemens |"));
    assert!(
        markdown::table(&inv)
            .lines()
            .any(|l| l.starts_with("10.1.0.1") && l.contains("Siemens"))
    );
    let bom = cyclonedx::bom(&inv);
    let c = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["bom-ref"] == "asset:10.1.0.1")
        .unwrap();
    assert_eq!(c["manufacturer"]["name"], "Siemens");
    let page = html::render(&inv, &SignatureStatus::NotChecked);
    assert!(page.contains("Siemens <small>(MAC OUI)</small>"));
    let j = String::from_utf8(json::render(&inv)).unwrap();
    assert!(j.contains("\"source\":\"mac_oui\""));
    // And the report with it reads back canonically.
    assert_eq!(json::parse(json::render(&inv).as_slice()).unwrap(), inv);
}

#[test]
fn a_version_1_report_still_reads() {
    // A report as the previous schema wrote it: version 1, no sites, no mac_oui.
    let mut inv = merge(&[], chrono::DateTime::UNIX_EPOCH);
    inv.version = 3;
    let text = String::from_utf8(json::render(&inv)).unwrap();
    assert!(text.contains("\"version\": 3,"));
    let v1 = text.replacen("\"version\": 3,", "\"version\": 1,", 1);
    let back = json::parse(v1.as_bytes()).expect("version 1 reads");
    assert_eq!(back.version, 1);
    assert_eq!(json::render(&back), v1.as_bytes(), "and stays canonical");
    let v5 = text.replacen("\"version\": 3,", "\"version\": 5,", 1);
    let e = json::parse_lenient(v5.as_bytes()).unwrap_err().to_string();
    assert!(e.contains("version 5 is not supported"), "{e}");
}

fn keys_dir(dir: &Path, keys: &[&Path]) -> PathBuf {
    let d = dir.join(format!("trusted-{}", keys.len()));
    std::fs::create_dir_all(&d).unwrap();
    for (i, k) in keys.iter().enumerate() {
        std::fs::copy(k, d.join(format!("site{i}.pub"))).unwrap();
    }
    d
}

#[test]
fn two_sites_merge_into_a_fleet_only_when_both_signers_are_trusted() {
    let d = demos();
    let tmp = tempfile::tempdir().unwrap();
    let (ra, rb) = (d.a.join("report.json"), d.b.join("report.json"));
    let fleet = tmp.path().join("fleet.json");

    // Only plant-a's key trusted: plant-b's report is refused by name, nothing written.
    let only_a = keys_dir(tmp.path(), &[&d.a.join("otscout.pub")]);
    let o = bin()
        .args(["merge"])
        .args([&ra, &rb])
        .arg("--trusted-keys")
        .arg(&only_a)
        .arg("-o")
        .arg(&fleet)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&rb.display().to_string()), "{err}");
    assert!(err.contains("none of the 1 trusted key(s)"), "{err}");
    assert!(!fleet.exists());

    // Both trusted, but plant-b's report changed after signing: refused by name.
    let both = keys_dir(
        tmp.path(),
        &[&d.a.join("otscout.pub"), &d.b.join("otscout.pub")],
    );
    let tampered_dir = tmp.path().join("tampered");
    std::fs::create_dir_all(&tampered_dir).unwrap();
    let tampered = tampered_dir.join("report.json");
    let text = std::fs::read_to_string(&rb).unwrap();
    std::fs::write(&tampered, text.replacen("Siemens", "Siemenz", 1)).unwrap();
    std::fs::copy(
        d.b.join("report.json.minisig"),
        tampered_dir.join("report.json.minisig"),
    )
    .unwrap();
    let o = bin()
        .args(["merge"])
        .args([&ra, &tampered])
        .arg("--trusted-keys")
        .arg(&both)
        .arg("-o")
        .arg(&fleet)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&tampered.display().to_string()), "{err}");
    assert!(!fleet.exists());

    // Both trusted: a fleet report with both sites, every asset under its site.
    let o = bin()
        .args(["merge"])
        .args([&ra, &rb])
        .arg("--trusted-keys")
        .arg(&both)
        .arg("-o")
        .arg(&fleet)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let inv = read_report(&fleet);
    let (a, b) = (read_report(&ra), read_report(&rb));
    assert_eq!(a.site.as_deref(), Some("plant-a"));
    assert_eq!(inv.site, None);
    assert_eq!(inv.summary.by_site.len(), 2);
    assert_eq!(inv.summary.by_site["plant-a"], a.summary.assets);
    assert_eq!(inv.summary.by_site["plant-b"], b.summary.assets);
    assert_eq!(inv.assets.len() as u64, a.summary.assets + b.summary.assets);
    // The same loopback addresses at both plants stay two assets each.
    let ip = a.assets[0].ip;
    let sites: Vec<Option<&str>> = inv
        .assets
        .iter()
        .filter(|x| x.ip == ip)
        .map(|x| x.site.as_deref())
        .collect();
    assert_eq!(sites, vec![Some("plant-a"), Some("plant-b")]);
    let verified: Vec<(Option<&str>, &str)> = inv
        .verified
        .iter()
        .map(|v| (v.site.as_deref(), v.trusted_comment.as_str()))
        .collect();
    assert_eq!(verified.len(), 2);
    assert!(verified[0].1.ends_with("site=plant-a") || verified[1].1.ends_with("site=plant-a"));
    // The fleet report merges again to the same assets (each site's evidence kept apart).
    let again = tmp.path().join("again.json");
    let o = bin()
        .args(["merge"])
        .arg(&fleet)
        .arg("-o")
        .arg(&again)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(read_report(&again).assets, inv.assets);

    // Every view renders per site.
    let md = bin()
        .args(["report"])
        .arg(&fleet)
        .args(["--format", "csv"])
        .output()
        .unwrap();
    let csv_text = String::from_utf8(md.stdout).unwrap();
    assert!(csv_text.starts_with("site,ip,"), "{}", &csv_text[..80]);
    assert!(csv_text.contains("\nplant-b,127.77.0.11,"));
    let md = bin()
        .args(["report"])
        .arg(&fleet)
        .args(["--format", "markdown"])
        .output()
        .unwrap();
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(
        md.contains("## Site plant-a") && md.contains("## Site plant-b"),
        "{md}"
    );
    let html_page = tmp.path().join("fleet.html");
    let o = bin()
        .args(["report"])
        .arg(&fleet)
        .args(["--format", "html", "-o"])
        .arg(&html_page)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let Some(browser) = chromium("fleet html") else {
        return;
    };
    let dom = dump_dom(browser, &html_page, "#selftest:filter=site:plant-b");
    let st = selftest(&dom);
    assert_eq!(dom.matches("<tbody class=\"site\"").count(), 2);
    assert_eq!(strings(&st["visible"]).len() as u64, b.summary.assets);
    // One map node per asset at an address (each site's DCP-named ET 200SP is MAC-only).
    let mac_only = |r: &Inventory| r.assets.iter().filter(|x| x.mac_only()).count() as u64;
    assert_eq!(
        st["map_nodes"].as_u64(),
        Some(a.summary.assets + b.summary.assets - mac_only(&a) - mac_only(&b))
    );
    assert_eq!(st["resources"], 0);
}

#[test]
fn the_drift_page_lists_the_changes_and_loads_nothing() {
    let d = demos();
    let tmp = tempfile::tempdir().unwrap();
    let old = read_report(&d.a.join("report.json"));
    let mut new = old.clone();
    new.assets.remove(0);
    if let Some(f) = new.assets[0].firmware.as_mut() {
        f.value = "<b>9.9</b>".into();
    }
    let (po, pn) = (tmp.path().join("old.json"), tmp.path().join("new.json"));
    std::fs::write(&po, json::render(&old)).unwrap();
    std::fs::write(&pn, json::render(&new)).unwrap();
    let o = bin()
        .args(["diff"])
        .args([&po, &pn])
        .args(["--format", "html"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "drift");
    let page_text = String::from_utf8(o.stdout).unwrap();
    assert!(page_text.contains("&lt;b&gt;9.9&lt;/b&gt;"));
    assert!(!page_text.contains("<b>9.9"));
    let page = tmp.path().join("drift.html");
    std::fs::write(&page, &page_text).unwrap();
    let Some(browser) = chromium("drift html") else {
        return;
    };
    let dom = dump_dom(browser, &page, "#selftest");
    let st = selftest(&dom);
    assert_eq!(st["script"], "ran");
    assert!(dom.contains("Missing assets (1)"));
    assert!(dom.contains(&format!("data-ip=\"{}\"", old.assets[0].ip)));
    assert_eq!(st["resources"], 0);
    assert_no_external_reference(&dom);
}
