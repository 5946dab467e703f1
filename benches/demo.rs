//! How long `otscout demo` takes end to end (plant start, synthesised capture, the
//! conservative scan of 18 devices, merge, keygen, sign, verify, shutdown), and how much of
//! it is the scan's pacing. The target is under 30 s. Prints its figures; run with
//! `cargo bench --bench demo`.

use std::sync::Arc;
use std::time::Instant;

use otscout::demo::{self, DemoEvent, DemoOptions};

fn main() {
    let runs = 3;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for i in 0..runs {
        let dir = tempfile::tempdir().expect("tempdir");
        let scan = Arc::new(std::sync::Mutex::new(None));
        let seen = scan.clone();
        let sink: demo::DemoSink = Arc::new(move |e: &DemoEvent| {
            if let DemoEvent::ScanFinished { elapsed } = e {
                if let Ok(mut s) = seen.lock() {
                    *s = Some(*elapsed);
                }
            }
        });
        let t = Instant::now();
        let outcome = rt
            .block_on(demo::run(&DemoOptions::new(dir.path().join("run")), sink))
            .expect("demo");
        let total = t.elapsed();
        let scan = scan.lock().ok().and_then(|s| *s).unwrap_or_default();
        println!(
            "demo run {}: total {:>6.2} s, scan {:>6.2} s ({} devices, {} requests), everything else {:>5.2} s",
            i + 1,
            total.as_secs_f64(),
            scan.as_secs_f64(),
            outcome.scanned.len(),
            outcome.scan.requests(),
            (total - scan).as_secs_f64()
        );
    }
}
