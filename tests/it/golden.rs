//! Golden outputs: what otscout produces today, recorded under `tests/golden/` and
//! recomputed here, so a change of layout (issue 13) can prove it changed no behaviour.
//!
//! - `passive/<capture>.json`: `otscout passive <capture> -o ...` for every capture in
//!   `$OTSCOUT_CAPTURES` (skipped, with a note, when it is not set).
//! - `plant/`: the bundled demo plant run in process on addresses of its own
//!   (127.78.13.x instead of the plant file's 127.77.0.x) on the demo's port bases,
//!   scanned with the built-in `conservative` profile whose pacing alone is sped up (what
//!   is asked does not change, only how long the scan waits between asks): its scan
//!   result; the observations `otscout passive` draws from the plant's synthesised HMI
//!   capture (fixed start, 2020-01-01) and from the bundled CSV inventory; `otscout
//!   merge` of the three; `otscout report --format csv|cyclonedx|markdown` of the merged
//!   report.
//!
//! Normalised, because they must vary from run to run (everything else is compared as
//! parsed JSON values, or byte for byte for CSV and Markdown):
//! - run times: every timestamp on the date(s) the test runs (scan start and end, `seen`
//!   of active observations, ledger first/last, the report's generation time, first/last
//!   seen, CycloneDX `metadata.timestamp`), in JSON strings and in text, becomes `<time>`;
//!   durations (`duration_ms`, `elapsed_ms`) become 0; CycloneDX `serialNumber` becomes
//!   `<uuid>`, and its `otscout:report_sha256` property (the hash of report.json with
//!   its run times, which is compared on its own) `<sha256 of report.json>`. Input times
//!   (capture timestamps, the HMI capture's 2020 start) are kept;
//! - the otscout version (`<version>`), so a release does not touch the goldens;
//! - temp paths (`<tmp>`) and the captures folder (`<captures>`);
//! - the plant's port base, when the first one is taken: each bound port becomes the
//!   port the plant file gives that listener (502, 44818, 102), in JSON numbers under a
//!   `*port*` key and in text after `:`, `/`, `,` or `| `.
//!
//! Everything is small enough to store whole, pretty-printed so a change reads as a diff:
//! about 75 KB for all captures' observation files together, 480 KB for `plant/` (the
//! merged report.json, 325 KB, is the largest).
//!
//! `OTSCOUT_BLESS=1 cargo test --test it golden` rewrites the goldens and prints which
//! changed; without it a difference fails naming the file and the first differing JSON
//! path (or line).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use otscout::inventory::Protocol;
use otscout::probe::scan::{self, BuiltinSessions, ScanConfig, StopSignal, Targets};
use otscout_sim::{Plant, PortOverride, StartOptions};
use serde_json::Value;

use crate::support;

/// The demo plant's addresses are moved here so no other test's plant shares them.
const PLANT_NET: &str = "127.78.13.";
const DEMO_NET: &str = "127.77.0.";
/// The HMI capture's fixed start: 2020-01-01T00:00:00Z, a date no run falls on.
const HMI_START_MICROS: u64 = 1_577_836_800_000_000;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_otscout"))
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("run otscout");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({:?}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Compares outputs against the goldens, or rewrites them under `OTSCOUT_BLESS=1`.
struct Goldens {
    bless: bool,
    failures: Vec<String>,
}

impl Goldens {
    fn new() -> Self {
        Goldens {
            bless: std::env::var("OTSCOUT_BLESS").as_deref() == Ok("1"),
            failures: Vec::new(),
        }
    }

    fn check_json(&mut self, name: &str, actual: &Value) {
        let text = serde_json::to_string_pretty(actual).expect("serialise") + "\n";
        let path = golden_dir().join(name);
        let expected = std::fs::read_to_string(&path).ok();
        let differs = match &expected {
            Some(e) => match serde_json::from_str::<Value>(e) {
                Ok(v) => first_difference(&v, actual, "$").map(|p| format!("first at {p}")),
                Err(err) => Some(format!("the golden is not JSON: {err}")),
            },
            None => Some("no golden yet".into()),
        };
        self.settle(name, &path, &text, differs);
    }

    fn check_text(&mut self, name: &str, actual: &str) {
        let path = golden_dir().join(name);
        let differs = match std::fs::read_to_string(&path) {
            Ok(e) if e == actual => None,
            Ok(e) => Some(first_line_difference(&e, actual)),
            Err(_) => Some("no golden yet".into()),
        };
        self.settle(name, &path, actual, differs);
    }

    fn settle(&mut self, name: &str, path: &Path, text: &str, differs: Option<String>) {
        let Some(why) = differs else { return };
        if self.bless {
            std::fs::create_dir_all(path.parent().expect("golden folder")).expect("mkdir");
            std::fs::write(path, text).expect("write golden");
            // Straight to stderr: libtest does not capture it, so blessing shows what changed.
            let _ = writeln!(
                std::io::stderr(),
                "golden: rewrote tests/golden/{name} ({why})"
            );
        } else {
            self.failures
                .push(format!("tests/golden/{name} differs: {why}"));
        }
    }

    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{}\n(OTSCOUT_BLESS=1 cargo test --test it golden rewrites the goldens if the change is intended)",
            self.failures.join("\n")
        );
    }
}

/// The first JSON path where `a` and `b` differ, with both values there.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(u), Some(v)) => first_difference(u, v, &format!("{path}.{k}")),
                (u, v) => Some(format!("{path}.{k}: golden {u:?}, now {v:?}")),
            })
        }
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| first_difference(u, v, &format!("{path}[{i}]")))
            .or_else(|| {
                (x.len() != y.len())
                    .then(|| format!("{path}: golden has {} elements, now {}", x.len(), y.len()))
            }),
        _ if a == b => None,
        _ => Some(format!("{path}: golden {a}, now {b}")),
    }
}

fn first_line_difference(golden: &str, now: &str) -> String {
    let (g, n): (Vec<&str>, Vec<&str>) = (golden.lines().collect(), now.lines().collect());
    match g.iter().zip(&n).position(|(a, b)| a != b) {
        Some(i) => format!(
            "first at line {}:\n  golden: {}\n  now:    {}",
            i + 1,
            g[i],
            n[i]
        ),
        None => format!("golden has {} lines, now {}", g.len(), n.len()),
    }
}

/// What must vary, replaced by placeholders (see the module doc).
struct Normaliser {
    /// The UTC dates the run spans (`YYYY-MM-DD`): a timestamp on one of them is a run
    /// time. Input times (captures, the HMI capture's 2020 start) never fall on them.
    dates: Vec<String>,
    /// (from, to) replacements in every string.
    texts: Vec<(String, String)>,
    /// A port the plant bound -> the port the plant file gives that listener.
    ports: HashMap<u64, u64>,
}

const DURATION_KEYS: [&str; 2] = ["duration_ms", "elapsed_ms"];

impl Normaliser {
    fn new(dates: Vec<String>) -> Self {
        Normaliser {
            dates,
            texts: Vec::new(),
            ports: HashMap::new(),
        }
    }

    fn text(&self, s: &str) -> String {
        let mut s = s.replace(env!("CARGO_PKG_VERSION"), "<version>");
        for (from, to) in &self.texts {
            s = s.replace(from, to);
        }
        for (bound, configured) in &self.ports {
            s = replace_port(&s, *bound, *configured);
        }
        for d in &self.dates {
            s = replace_times(&s, d);
        }
        s
    }

    fn json(&self, v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    if DURATION_KEYS.contains(&k.as_str()) && v.is_number() {
                        *v = Value::from(0);
                    } else if k == "serialNumber" && v.is_string() {
                        *v = Value::String("<uuid>".into());
                    } else if k.contains("port") && v.is_u64() {
                        let p = v.as_u64().expect("u64");
                        *v = Value::from(*self.ports.get(&p).unwrap_or(&p));
                    } else {
                        self.json(v);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|v| self.json(v)),
            Value::String(s) => *s = self.text(s),
            _ => {}
        }
    }
}

/// `bound` replaced by `configured` where it stands as a port: after `:`, `/`, `,` or
/// `| `, and not followed by a digit.
fn replace_port(s: &str, bound: u64, configured: u64) -> String {
    let mut out = s.to_owned();
    for prefix in [":", "/", ",", "| "] {
        let from = format!("{prefix}{bound}");
        let mut rest = out.as_str();
        let mut acc = String::with_capacity(out.len());
        while let Some(i) = rest.find(&from) {
            let after = &rest[i + from.len()..];
            acc.push_str(&rest[..i]);
            if after.starts_with(|c: char| c.is_ascii_digit()) {
                acc.push_str(&from);
            } else {
                acc.push_str(&format!("{prefix}{configured}"));
            }
            rest = after;
        }
        acc.push_str(rest);
        out = acc;
    }
    out
}

/// Every timestamp on `date` (`2026-12-07`, `2026-12-07 12:48`, `2026-12-07T12:48:25.69+00:00`,
/// ...) replaced by `<time>`.
fn replace_times(s: &str, date: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(date) {
        out.push_str(&rest[..i]);
        out.push_str("<time>");
        let mut tail = &rest[i + date.len()..];
        let b = tail.as_bytes();
        if b.len() > 1 && (b[0] == b'T' || b[0] == b' ') && b[1].is_ascii_digit() {
            let n = 1 + tail[1..]
                .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
                .unwrap_or(tail.len() - 1);
            tail = &tail[n..];
            if tail.starts_with('Z') {
                tail = &tail[1..];
            } else if (tail.starts_with('+') || tail.starts_with('-'))
                && tail.get(1..6).is_some_and(|z| z.as_bytes()[2] == b':')
            {
                tail = &tail[6..];
            }
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// The UTC date of now, and of a minute later (a run that crosses midnight).
/// Replaces every time stamp of the test's run (a string starting with one of `dates`
/// and `T`) by one fixed instant.
fn pin_run_times(v: &mut Value, dates: &[String]) {
    match v {
        Value::String(s) if dates.iter().any(|d| s.starts_with(&format!("{d}T"))) => {
            *s = "2026-01-01T00:00:00Z".to_owned();
        }
        Value::Array(a) => a.iter_mut().for_each(|x| pin_run_times(x, dates)),
        Value::Object(o) => o.values_mut().for_each(|x| pin_run_times(x, dates)),
        _ => {}
    }
}

fn run_dates() -> Vec<String> {
    let now = chrono::Utc::now();
    let mut d = vec![now.format("%Y-%m-%d").to_string()];
    let later = (now + chrono::Duration::minutes(1))
        .format("%Y-%m-%d")
        .to_string();
    if later != d[0] {
        d.push(later);
    }
    d
}

#[test]
fn golden_passive_over_every_capture() {
    let Some(dir) = support::captures_dir("golden_passive_over_every_capture") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    // Capture times are inputs: no run dates to normalise.
    let mut norm = Normaliser::new(Vec::new());
    norm.texts = vec![
        (tmp.path().display().to_string(), "<tmp>".into()),
        (dir.display().to_string(), "<captures>".into()),
    ];
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("read the captures folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no captures in {}", dir.display());
    let mut g = Goldens::new();
    for name in &names {
        let out = tmp.path().join(format!("{name}.json"));
        run(bin()
            .args(["passive", "-q"])
            .arg(dir.join(name))
            .arg("-o")
            .arg(&out));
        let mut v: Value =
            serde_json::from_slice(&std::fs::read(&out).expect("read")).expect("json");
        norm.json(&mut v);
        g.check_json(&format!("passive/{name}.json"), &v);
    }
    // A golden whose capture is gone would otherwise go unchecked.
    if let Ok(entries) = std::fs::read_dir(golden_dir().join("passive")) {
        for e in entries {
            let file = e.expect("entry").file_name().to_string_lossy().into_owned();
            let capture = file.strip_suffix(".json").unwrap_or(&file);
            if !names.iter().any(|n| n == capture) {
                g.failures.push(format!(
                    "tests/golden/passive/{file}: no capture {capture} in {}; remove the golden if the capture left for good",
                    dir.display()
                ));
            }
        }
    }
    g.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_demo_plant_scan_merge_and_reports() {
    let plant_toml = otscout::demo::DEMO_PLANT.replace(DEMO_NET, PLANT_NET);
    let csv = otscout::demo::DEMO_CSV.replace(DEMO_NET, PLANT_NET);
    let plant = Plant::from_toml_str(&plant_toml).expect("the demo plant, moved");
    let dates = run_dates();
    // A port base as `otscout demo` uses (below the ephemeral range, so the plant's ports
    // keep the plant file's order: 102 < 502 < 44818); the next base if one is taken
    // (another worktree running this test at the same time).
    let mut started = None;
    for base in otscout::demo::BASE_PORTS {
        let opts = StartOptions {
            ports: PortOverride::Base(base),
            ledger_sink: None,
        };
        if let Ok(r) = otscout_sim::start(plant.clone(), opts).await {
            started = Some(r);
            break;
        }
    }
    let running = started.expect("start the plant on one of the demo's port bases");

    // Each listener's port, and the port the plant file gives it; a protocol a device
    // does not serve is pointed at port 1 (refused), as in tests/it/scan/plant.rs.
    let mut ports = HashMap::new();
    let mut back = HashMap::new();
    for (d, cfg) in running.devices().iter().zip(&plant.devices) {
        assert_eq!(d.name, cfg.name, "the plant keeps file order");
        let ip = IpAddr::V4(d.address);
        for (proto, addr, configured) in [
            (
                Protocol::Modbus,
                d.modbus,
                cfg.modbus.as_ref().map(|m| m.port),
            ),
            (
                Protocol::Enip,
                d.enip_tcp,
                cfg.enip.as_ref().map(|e| e.port),
            ),
            (Protocol::S7, d.s7, cfg.s7.as_ref().map(|s| s.port)),
        ] {
            ports.insert((ip, proto), addr.map_or(1, |a| a.port()));
            if let (Some(a), Some(p)) = (addr, configured) {
                back.insert(u64::from(a.port()), u64::from(p));
            }
        }
    }

    let mut profile = otscout::profile::builtin("conservative")
        .expect("built-in conservative")
        .profile;
    let p = &mut profile.pacing;
    p.max_rate = 500.0;
    p.host_interval_ms = 5;
    p.cooldown_ms = 20;
    p.retry_backoff_ms = 20;
    p.response_timeout_ms = 1000;
    p.connect_timeout_ms = 1000;
    let targets: Vec<IpAddr> = running
        .devices()
        .iter()
        .map(|d| IpAddr::V4(d.address))
        .collect();
    let config = ScanConfig {
        scan_id: "golden".into(),
        profile_sha256: profile.sha256(),
        profile,
        targets: Targets::list(targets.clone()),
        exclusions: vec![],
        scope: None,
        ports,
        deadline: None,
        journal: None,
        resumed: BTreeMap::new(),
        sessions: Arc::new(BuiltinSessions),
        close_timeout: Duration::from_millis(300),
        passive: None,
    };
    let report = scan::run(
        config,
        Arc::new(|_: &scan::ScanEvent| {}),
        StopSignal::new(),
    )
    .await
    .expect("the scan runs");
    let doc = otscout::cli::scan_result::document(
        &report,
        &otscout::cli::scan_run::Meta {
            scope: targets.iter().map(IpAddr::to_string).collect(),
            exclusions: Vec::new(),
            operator: Some("golden".into()),
            host: None,
            site: None,
        },
    );

    let tmp = tempfile::tempdir().expect("tempdir");
    let at = |f: &str| tmp.path().join(f);
    // Merge ranks observed values by when they were seen, to the second: two probes of
    // one device that straddle a second boundary would pick another winner from run to
    // run. Every run time in the scan result is pinned to one instant before the merge,
    // so the winner is decided by the source and the value alone, as it is for any two
    // observations of the same second.
    let mut doc = serde_json::to_value(&doc).expect("scan result");
    pin_run_times(&mut doc, &dates);
    std::fs::write(
        at("scan.json"),
        serde_json::to_vec_pretty(&doc).expect("scan result"),
    )
    .expect("write scan.json");
    let mut capture = Vec::new();
    otscout_sim::hmi::write_pcapng(
        &plant,
        &otscout_sim::hmi::HmiOptions {
            start_unix_micros: HMI_START_MICROS,
            rounds: 3,
            write_target: Some("m340-pump-station".into()),
        },
        &mut capture,
    )
    .expect("the HMI capture");
    std::fs::write(at("hmi.pcapng"), &capture).expect("write the capture");
    std::fs::write(at("declared.csv"), &csv).expect("write the CSV");
    running.shutdown().await;

    for (input, out) in [
        ("hmi.pcapng", "hmi.observations.json"),
        ("declared.csv", "csv.observations.json"),
    ] {
        run(bin()
            .args(["passive", "-q"])
            .arg(at(input))
            .arg("-o")
            .arg(at(out)));
    }
    run(bin()
        .args(["merge", "-q"])
        .arg(at("scan.json"))
        .arg(at("hmi.observations.json"))
        .arg(at("csv.observations.json"))
        .arg("-o")
        .arg(at("report.json")));
    let render = |format: &str| {
        String::from_utf8(run(bin()
            .args(["report", "--format", format])
            .arg(at("report.json"))))
        .expect("utf-8 report")
    };

    let mut norm = Normaliser::new(dates);
    norm.texts
        .push((tmp.path().display().to_string(), "<tmp>".into()));
    norm.ports = back;
    let mut g = Goldens::new();
    for (file, golden) in [
        ("scan.json", "plant/scan.json"),
        ("hmi.observations.json", "plant/hmi.observations.json"),
        ("csv.observations.json", "plant/csv.observations.json"),
        ("report.json", "plant/report.json"),
    ] {
        let mut v: Value =
            serde_json::from_slice(&std::fs::read(at(file)).expect("read")).expect("json");
        norm.json(&mut v);
        g.check_json(golden, &v);
    }
    let mut cdx: Value = serde_json::from_str(&render("cyclonedx")).expect("cyclonedx json");
    norm.json(&mut cdx);
    // The SHA-256 of report.json as written, run times included; report.json itself is
    // compared above.
    for p in cdx["metadata"]["properties"]
        .as_array_mut()
        .expect("cyclonedx metadata properties")
    {
        if p["name"] == "otscout:report_sha256" {
            p["value"] = Value::String("<sha256 of report.json>".into());
        }
    }
    g.check_json("plant/report.cdx.json", &cdx);
    for (format, golden) in [("csv", "plant/report.csv"), ("markdown", "plant/report.md")] {
        g.check_text(golden, &norm.text(&render(format)));
    }
    g.finish();
}
