//! How long a dry run takes: resolving a /16 with an exclusion file, building the plan and
//! rendering it (text and JSON). Prints its figures; run with
//! `cargo bench --bench plan`.

use std::time::{Duration, Instant};

use otscout::plan::{Plan, ScanConfig, ScanRequest};
use otscout::target::{ScopeRequest, SpecInput, TargetSet};

fn time<T>(label: &str, runs: u32, mut f: impl FnMut() -> T) -> Duration {
    // One warm-up run, then the median of `runs`.
    std::hint::black_box(f());
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "{label:<58} median {median:>12?}  (min {:?}, max {:?}, {runs} runs)",
        times[0],
        times[times.len() - 1]
    );
    median
}

fn main() {
    let dir = std::env::temp_dir().join(format!("otscout-bench-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let excl = dir.join("exclude.txt");
    let mut text = String::from("# a safety list of 1,000 entries\n");
    for i in 0..250u32 {
        text.push_str(&format!(
            "10.20.{i}.1\n10.20.{i}.10-20\n10.20.{i}.128/28\n10.20.{i}.250-254\n"
        ));
    }
    std::fs::write(&excl, text).expect("write exclusions");

    let req = ScanRequest {
        targets: vec!["10.20.0.0/16".into()],
        exclude_files: vec![excl.clone()],
        ..ScanRequest::default()
    };
    let total = time(
        "dry run: /16 + 1,000-line exclusion file (resolve+plan+render)",
        50,
        || {
            let cfg = ScanConfig::resolve(&req).expect("resolve");
            let plan = Plan::build(&cfg);
            (
                plan.render_text(),
                serde_json::to_string(&plan).expect("json"),
            )
        },
    );
    let cfg = ScanConfig::resolve(&req).expect("resolve");
    println!(
        "  scope: {} addresses in {} ranges",
        cfg.targets.count(),
        cfg.targets.range_count()
    );
    time("plan only (Plan::build)", 50, || Plan::build(&cfg));
    time("iterate every address of the /16 scope", 20, || {
        let mut n = 0u32;
        for a in cfg.targets.iter() {
            std::hint::black_box(a);
            n += 1;
        }
        n
    });
    let big = ScopeRequest {
        targets: vec![SpecInput::arg("10.0.0.0/8")],
        excludes: vec![SpecInput::arg("10.20.0.0/16")],
        allow_large_scope: true,
    };
    time(
        "build + count a /8 minus a /16 (never materialised)",
        50,
        || TargetSet::build(&big).expect("build").count(),
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        total < Duration::from_secs(1),
        "a /16 dry run must take well under a second"
    );
}
