//! 1,000 devices start and all accept. No timing assertion here: the start-up time is
//! measured by `cargo bench -p otscout-sim --bench start`.

use std::sync::Arc;

use otscout_sim::EventKind;
use tokio::sync::Semaphore;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_devices_start_and_all_accept() {
    let plant = otscout_sim::generate::generate(1000, "127.150.0.0/16", 42).unwrap();
    let running = start(plant).await;
    assert_eq!(running.devices().len(), 1000);
    let addrs: Vec<_> = running
        .devices()
        .iter()
        .map(|d| {
            d.modbus
                .or(d.enip_tcp)
                .or(d.s7)
                .expect("each device serves a protocol")
        })
        .collect();
    let limit = Arc::new(Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    for a in addrs {
        let limit = limit.clone();
        tasks.spawn(async move {
            let _p = limit.acquire().await;
            tokio::time::timeout(WAIT, tokio::net::TcpStream::connect(a))
                .await
                .is_ok_and(|r| r.is_ok())
        });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        ok += usize::from(r.unwrap());
    }
    assert_eq!(ok, 1000);
    wait_ledger(&running, "1000 accepts", |l| {
        l.iter().filter(|e| e.kind == EventKind::Opened).count() == 1000
    })
    .await;
    let mut devices: Vec<_> = running
        .ledger()
        .into_iter()
        .filter(|e| e.kind == EventKind::Opened)
        .map(|e| e.device)
        .collect();
    devices.sort();
    devices.dedup();
    assert_eq!(devices.len(), 1000, "every device accepted once");
    running.shutdown().await;
}

const BIN: &str = env!("CARGO_BIN_EXE_otscout-sim");

/// The open-files hard limit these tests run under.
fn hard_limit() -> u64 {
    rlimit::Resource::NOFILE.get().map_or(0, |(_, hard)| hard)
}

/// `otscout-sim run` under a shell `ulimit` (set before exec, so the limit is the
/// process's own; none when `limit` is empty): the first lines it printed up to "press
/// Ctrl-C" (the child is then stopped with SIGTERM and must exit cleanly), or its error
/// output when it refused.
fn run_under(limit: &str, plant: &std::path::Path, extra: &[&str]) -> Result<String, String> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let script = if limit.is_empty() {
        "exec \"$0\" \"$@\"".to_string()
    } else {
        format!("ulimit {limit} && exec \"$0\" \"$@\"")
    };
    let mut child = Command::new("sh")
        .args(["-c", &script, BIN, "run"])
        .arg(plant)
        .arg("--ephemeral")
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh");
    let mut out = String::new();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut serving = false;
    for line in lines.by_ref() {
        let line = line.expect("utf-8");
        if line.contains("Ctrl-C") {
            serving = true;
            break;
        }
        if !line.starts_with("  dev") {
            out.push_str(&line);
            out.push('\n');
        }
    }
    if serving {
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        // Drain what is left so the child never blocks on a full pipe while stopping.
        for _ in lines {}
        let exit = child.wait().expect("wait");
        assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
        Ok(out)
    } else {
        let o = child.wait_with_output().expect("wait");
        assert!(!o.status.success());
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

fn write_plant(dir: &std::path::Path, n: usize, subnets: &[&str]) -> std::path::PathBuf {
    let path = dir.join(format!("plant-{n}.toml"));
    let mut args = vec![
        "generate".to_string(),
        "--devices".into(),
        n.to_string(),
        "--out".into(),
        path.display().to_string(),
        "--subnet".into(),
    ];
    args.extend(subnets.iter().map(|s| s.to_string()));
    let o = std::process::Command::new(BIN)
        .args(&args)
        .output()
        .expect("generate");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    path
}

/// What `generate` writes, `run` reads: 10,000 devices made a plant file (over 4 MiB before
/// the defaults were left out of it) that `run` refused as "not a plant file".
#[test]
fn run_serves_what_generate_writes_for_ten_thousand_devices() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_plant(dir.path(), 10_000, &["127.152.0.0/16"]);
    // About 13,400 sockets: the plant raises the soft limit to the hard one itself.
    if hard_limit() < 16_000 {
        eprintln!("skipped: the open-files hard limit is below 16000 (`ulimit -Hn`)");
        return;
    }
    let out = run_under("", &path, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("(10000 devices)"), "{out}");
}

/// 50,000 devices over four /16s: the file is within the cap and loads, and counts the
/// sockets the module docs of `otscout_sim::fdlimit` give.
#[test]
fn fifty_thousand_devices_over_four_16s_load_within_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let subnets = [
        "127.152.0.0/16",
        "127.153.0.0/16",
        "127.154.0.0/16",
        "127.155.0.0/16",
    ];
    let path = write_plant(dir.path(), 50_000, &subnets);
    let len = std::fs::metadata(&path).unwrap().len();
    // Over the 4 MiB `run` used to accept (so this failed with "not a plant file"), within
    // the cap it accepts now.
    assert!(len > 4 * 1024 * 1024, "{len} bytes");
    assert!(len <= otscout_sim::plant::MAX_PLANT_BYTES, "{len} bytes");
    let plant = otscout_sim::Plant::load(&path).expect("the plant loads");
    assert_eq!(plant.devices.len(), 50_000);
    for (i, s) in subnets.iter().enumerate() {
        let first = plant.devices[i * 12_500].address.to_string();
        assert_eq!(first, s.replace(".0/16", ".1"), "device {}", i * 12_500);
    }
    let s = otscout_sim::fdlimit::Sockets::of(&plant);
    assert_eq!((s.tcp_listeners, s.udp_sockets), (50_000, 16_714));
}

/// A plant bigger than the soft open-files limit raises it to the hard limit; bigger than
/// the hard limit, it is refused with the limit it needs and the shards that fit, and
/// each of those shards then runs under that same limit.
#[test]
fn the_open_files_limit_is_raised_or_named() {
    let dir = tempfile::tempdir().unwrap();
    // 2,000 generated devices: 2,000 TCP listeners and about 670 UDP sockets.
    let path = write_plant(dir.path(), 2_000, &["127.153.0.0/16"]);
    // The plant needs about 4,800; the shell may only lower the hard limit.
    if hard_limit() < 8_000 {
        eprintln!("skipped: the open-files hard limit is below 8000 (`ulimit -Hn`)");
        return;
    }
    let out = run_under("-Sn 1024", &path, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("raised from 1024"), "{out}");

    let err = run_under("-n 4000", &path, &[]).expect_err("over the hard limit");
    assert!(err.contains("the limit is 4000 (hard limit 4000)"), "{err}");
    assert!(err.contains("ulimit -Hn"), "{err}");
    assert!(err.contains("--shard 2/2"), "{err}");
    let one = std::thread::spawn({
        let path = path.clone();
        move || run_under("-n 4000", &path, &["--shard", "1/2"])
    });
    let two = run_under("-n 4000", &path, &["--shard", "2/2"]).unwrap_or_else(|e| panic!("{e}"));
    let one = one.join().unwrap().unwrap_or_else(|e| panic!("{e}"));
    assert!(one.contains("(1000 devices)"), "{one}");
    assert!(two.contains("(1000 devices)"), "{two}");
}
