//! How long matching a 10,000-asset report against CISA's whole OT advisory set takes, and
//! the peak memory.
//!
//! Prints figures; asserts nothing about time. Needs the advisories: `OTSCOUT_ADVISORIES`
//! (the folder holding `cisa-csaf-ot.tar.gz`, unpacked to a temp folder first) or
//! `--csaf DIR` (an unpacked folder). Run:
//! `OTSCOUT_ADVISORIES=../shared/advisories cargo bench --bench advisories`.
//! Not run by CI.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Utc};
use otscout::advisories::{self, VersionSpec, version};
use otscout::inventory::merge;
use otscout::report::input;

/// The device kinds the synthetic plant is made of: the demo plant's makers and models,
/// with firmware varied per device.
const KINDS: &[(&str, &str, &[&str])] = &[
    (
        "Siemens",
        "6ES7 315-2EH14-0AB0",
        &["V3.2.6", "V3.2.17", "V3.2.19"],
    ),
    ("Siemens", "6ES7 151-8AB01-0AB0", &["V3.2.6", "V3.2.19"]),
    ("Siemens", "6ES7 214-1AG40-0XB0", &["V4.4.0", "V4.6.0"]),
    (
        "Siemens",
        "6ES7 516-3AN01-0AB0",
        &["V2.9.0", "V2.9.7", "V3.0.1"],
    ),
    ("Rockwell Automation", "1756-ENBT/A", &["4.3", "6.1"]),
    ("Rockwell Automation", "1756-L85E/B", &["33.11", "35.13"]),
    (
        "Rockwell Automation",
        "1769-L33ER/A LOGIX5333ER",
        &["32.11", "34.11"],
    ),
    (
        "Rockwell Automation",
        "PowerFlex 525 1P 240V 2.0HP",
        &["7.1"],
    ),
    ("Schneider Electric", "BMX P34 2020", &["3.20", "3.51"]),
    ("Schneider Electric", "BME P58 2040", &["4.10", "4.02"]),
    ("WAGO", "750-8202", &["03.10.08(22)", "04.02.13(24)"]),
    ("Phoenix Contact", "2700973", &["4.86"]),
    ("Moxa", "NPort 5150", &["4.0"]),
    ("Acme", "Unknown Box", &[""]),
];

fn vm_hwm_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut csaf: Option<PathBuf> = None;
    let mut assets: u32 = 10_000;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--csaf" => {
                csaf = args.get(i + 1).map(PathBuf::from);
                i += 1;
            }
            "--assets" => {
                assets = args
                    .get(i + 1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(assets);
                i += 1;
            }
            _ => {} // cargo bench passes --bench
        }
        i += 1;
    }
    let tmp = tempfile::tempdir().expect("temp folder");
    let csaf = match csaf {
        Some(d) => d,
        None => {
            let Some(src) = std::env::var_os("OTSCOUT_ADVISORIES") else {
                eprintln!("advisories bench: set OTSCOUT_ADVISORIES or give --csaf DIR");
                return;
            };
            let tarball = PathBuf::from(src).join("cisa-csaf-ot.tar.gz");
            let f = std::fs::File::open(&tarball).expect("open the tarball");
            tar::Archive::new(flate2::read::GzDecoder::new(f))
                .unpack(tmp.path())
                .expect("unpack");
            tmp.path().join("csaf")
        }
    };

    // A 10,000-asset plant, declared as CSV and merged: the report's assets.
    let mut text = String::from("ip,vendor,model,firmware\n");
    for h in 0..assets {
        let (vendor, model, fws) = KINDS[h as usize % KINDS.len()];
        let fw = fws[(h as usize / KINDS.len()) % fws.len()];
        let _ = writeln!(
            text,
            "10.{}.{}.{},{vendor},{model},{fw}",
            h >> 16,
            (h >> 8) & 0xff,
            h & 0xff
        );
    }
    let csv_path = tmp.path().join("plant.csv");
    std::fs::write(&csv_path, text).expect("write csv");
    let t0: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
        .map(|t| t.to_utc())
        .unwrap_or_default();
    let inv = merge(&[input::load(&csv_path, None).expect("csv")], t0);
    let hwm_before = vm_hwm_kb();

    let start = Instant::now();
    let lib = advisories::load(std::slice::from_ref(&csaf)).expect("load advisories");
    let loaded = start.elapsed();
    let products: usize = lib.advisories.iter().map(|a| a.products.len()).sum();
    let start = Instant::now();
    let m = advisories::match_inventory(&inv, &lib);
    let matched = start.elapsed();
    println!(
        "read {} CSAF documents ({} refused, {products} products) in {:.2} s; matched {} assets in {:.2} s: {} matches, {} vendor review lists",
        lib.advisories.len(),
        lib.warnings.len(),
        loaded.as_secs_f64(),
        inv.assets.len(),
        matched.as_secs_f64(),
        m.matches.len(),
        m.vendor_review.len(),
    );
    let by: Vec<String> = m
        .by_confidence()
        .iter()
        .map(|(c, n)| format!("{} {n}", c.words()))
        .collect();
    println!("by confidence: {}", by.join(", "));
    println!(
        "peak RSS (VmHWM): {} kB (before reading the advisories: {} kB)",
        vm_hwm_kb().map_or("?".into(), |v| v.to_string()),
        hwm_before.map_or("?".into(), |v| v.to_string())
    );

    // How many of the set's product versions otscout reads (the rest: "check version").
    let (mut read, mut total) = (0usize, 0usize);
    for p in lib.advisories.iter().flat_map(|a| &a.products) {
        let Some(v) = &p.version else { continue };
        total += 1;
        let ok = match v {
            VersionSpec::Exact(t) => version::parse_version(t).is_ok(),
            VersionSpec::Range(t) => version::parse_range(t).is_ok(),
        };
        read += usize::from(ok);
    }
    println!("product versions read: {read} of {total}");
}
