//! Checks otscout's passive decoders against Wireshark's dissectors (tshark) on every
//! capture in the folders or files given, and on those in `OTSCOUT_EXTRA_CAPTURES`
//! (colon-separated).
//!
//! ```text
//! cargo run --example conformance -- /path/to/captures [more folders or files]
//!     [--explanations FILE] [--tshark PATH]
//! ```
//!
//! Prints one table per capture (agree / only otscout / only tshark / differ, with frame
//! numbers and the differing fields) and exits 0 when every difference is explained in
//! the explanations file (default: `tests/conformance/explanations.toml` of this
//! checkout), 1 when one is not or an entry no longer matches anything, 2 when a capture
//! could not be checked at all.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use otscout::conformance::{self, Explanations};

fn usage() -> ExitCode {
    eprintln!(
        "usage: cargo run --example conformance -- DIR_OR_FILE... [--explanations FILE] [--tshark PATH]\n\
         (folders in OTSCOUT_EXTRA_CAPTURES, colon-separated, are checked too)"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut inputs: Vec<PathBuf> = Vec::new();
    let mut explanations =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/explanations.toml");
    let mut tshark = PathBuf::from("tshark");
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("--explanations") => match args.next() {
                Some(v) => explanations = v.into(),
                None => return usage(),
            },
            Some("--tshark") => match args.next() {
                Some(v) => tshark = v.into(),
                None => return usage(),
            },
            Some("-h" | "--help") => return usage(),
            _ => inputs.push(a.into()),
        }
    }
    if let Some(extra) = std::env::var_os("OTSCOUT_EXTRA_CAPTURES") {
        inputs.extend(std::env::split_paths(&extra).filter(|p| !p.as_os_str().is_empty()));
    }
    if inputs.is_empty() {
        return usage();
    }
    let ex = match Explanations::load(&explanations) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("conformance: error: {e}");
            return ExitCode::from(2);
        }
    };
    match conformance::tshark::version(&tshark) {
        Ok(v) => println!("oracle: {v}"),
        Err(e) => {
            eprintln!("conformance: error: {e}");
            return ExitCode::from(2);
        }
    }
    let started = Instant::now();
    let mut results = Vec::new();
    let mut failed = 0;
    let mut files = Vec::new();
    for input in &inputs {
        match conformance::captures_in(input) {
            Ok(f) if f.is_empty() => eprintln!(
                "conformance: {} holds no pcap or pcapng capture",
                input.display()
            ),
            Ok(f) => files.extend(f),
            Err(e) => {
                eprintln!("conformance: error: {e}");
                failed += 1;
            }
        }
    }
    for (f, r) in files
        .iter()
        .zip(conformance::check_captures(&files, &tshark, &ex, 4))
    {
        match r {
            Ok(r) => {
                print!("{}", conformance::render(&r));
                results.push(r);
            }
            Err(e) => {
                eprintln!("conformance: error: {}: {e}", f.display());
                failed += 1;
            }
        }
    }
    let t = conformance::totals(&results);
    let stale = ex.stale(&results);
    for e in &stale {
        println!(
            "stale explanation ({}): it matches no difference any more: remove it",
            e.describe()
        );
    }
    println!(
        "checked {} captures in {:.1} s: {} agree, {} only otscout, {} only tshark, {} differ; \
         {} explained, {} not explained, {} stale explanations, {} captures not checked",
        t.captures,
        started.elapsed().as_secs_f64(),
        t.agree,
        t.only_otscout,
        t.only_tshark,
        t.differ,
        t.explained,
        t.unexplained,
        stale.len(),
        failed
    );
    if failed > 0 {
        ExitCode::from(2)
    } else if t.unexplained > 0 || !stale.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
