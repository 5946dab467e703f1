//! How fast the active scan runs against a generated simulated plant, and how well it
//! uses a rate limit. Prints its figures; not a timed test. Run with
//! `cargo bench --bench scan` (as root, so the plant can bind the standard ports; without
//! root it falls back to ephemeral ports and skips the nmap comparison).
//!
//! 1. 1,000 generated devices spread over 127.81.0.0/16, the `lab` profile (best of two
//!    runs): hosts/s and requests/s, and the least time the hard caps allow for this plant
//!    (the global rate ceiling over the requests sent, and the cool-downs between one
//!    device's connections).
//! 2. 200 devices at a limiting rate R (burst 1): efficiency = (requests / R) / wall time.
//! 3. When `nmap` is installed: `nmap -n -sT -Pn -p 102,502,44818 --script
//!    modbus-discover,enip-info,s7-info` on the same 1,000 devices (always `-n`: without
//!    it nmap sends a DNS lookup per address off the machine; only 127.x addresses), best of
//!    two runs, and the time ratio.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use otscout::inventory::Protocol;
use otscout::probe::scan::{self, BuiltinSessions, ScanConfig, ScanReport, StopSignal, Targets};
use otscout::profile::Profile;
use otscout_sim::{EventKind, PortOverride, RunningPlant, StartOptions};

const BIG: usize = 1000;
const SMALL: usize = 200;
const RATE: f64 = 200.0;
/// A burst of 50 ms at R: absorbs timer lateness (with burst 1 every late wake-up is a
/// token lost for good).
const BURST: u32 = 10;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}

async fn bench() {
    let plant = otscout_sim::generate::generate(BIG, "127.81.0.0/16", 7).expect("generate");
    let (running, standard) = match otscout_sim::start(
        plant.clone(),
        StartOptions {
            ports: PortOverride::AsConfigured,
            ledger_sink: None,
        },
    )
    .await
    {
        Ok(r) => (r, true),
        Err(e) => {
            println!("standard ports unavailable ({e}); ephemeral ports, no nmap comparison");
            let r = otscout_sim::start(
                plant,
                StartOptions {
                    ports: PortOverride::Ephemeral,
                    ledger_sink: None,
                },
            )
            .await
            .expect("start the plant");
            (r, false)
        }
    };
    let ports = if standard {
        HashMap::new()
    } else {
        ports_of(&running)
    };
    let all: Vec<IpAddr> = running
        .devices()
        .iter()
        .map(|d| IpAddr::V4(d.address))
        .collect();
    println!(
        "plant: {BIG} generated devices in 127.81.0.0/16, {} ports",
        if standard { "standard" } else { "ephemeral" }
    );

    // 1. lab, 1,000 devices (lab runs hosts_in_flight at the hard cap: one wave).
    let lab = otscout::profile::builtin("lab").expect("lab").profile;
    let mut best: Option<Duration> = None;
    for round in 1..=2 {
        let t = Instant::now();
        let report = run(lab.clone(), all.clone(), ports.clone()).await;
        let wall = t.elapsed();
        best = Some(best.map_or(wall, |b| b.min(wall)));
        let secs = wall.as_secs_f64();
        println!(
            "lab, {BIG} devices, run {round}: {:.2} s, {:.0} hosts/s, {:.0} requests/s ({} requests, {} identified, {} errored)",
            secs,
            BIG as f64 / secs,
            report.requests() as f64 / secs,
            report.requests(),
            report.identified_hosts(),
            report.errored_hosts()
        );
        println!(
            "  most connections at once to one device (plant ledger): {}",
            max_concurrent_per_device(&running)
        );
        if round == 1 {
            probe_times(&report);
            floors(&lab, &report);
        }
    }
    let lab_wall = best.unwrap_or_default();

    // 2. 200 devices at a limiting rate.
    let mut limited = lab.clone();
    limited.pacing.max_rate = RATE;
    for burst in [1u32, BURST] {
        limited.pacing.burst = burst;
        let t = Instant::now();
        let report = run(limited.clone(), all[..SMALL].to_vec(), ports.clone()).await;
        let wall = t.elapsed().as_secs_f64();
        let requests = report.requests() as f64;
        // The burst's head start is taken out, so the figure never flatters the scan.
        let paced = requests - f64::from(burst - 1);
        println!(
            "rate-limited, {SMALL} devices at R = {RATE}/s, burst {burst}: {requests} requests in {wall:.2} s, efficiency ((requests - (burst - 1)) / R) / wall = {:.3}",
            (paced / RATE) / wall
        );
    }

    // 3. nmap on the same plant.
    if standard {
        nmap(&all, lab_wall).await;
    }
    running.shutdown().await;
}

async fn run(
    profile: Profile,
    targets: Vec<IpAddr>,
    ports: HashMap<(IpAddr, Protocol), u16>,
) -> ScanReport {
    let config = ScanConfig {
        scan_id: "bench".into(),
        profile_sha256: profile.sha256(),
        profile,
        targets: Targets::list(targets),
        exclusions: Vec::new(),
        scope: None,
        ports,
        deadline: None,
        journal: None,
        resumed: BTreeMap::new(),
        sessions: Arc::new(BuiltinSessions),
        close_timeout: Duration::from_millis(500),
        passive: None,
    };
    scan::run(config, scan::no_events(), StopSignal::new())
        .await
        .expect("scan")
}

fn ports_of(plant: &RunningPlant) -> HashMap<(IpAddr, Protocol), u16> {
    let mut m = HashMap::new();
    for d in plant.devices() {
        let ip = IpAddr::V4(d.address);
        m.insert((ip, Protocol::Modbus), d.modbus.map_or(1, |a| a.port()));
        m.insert((ip, Protocol::Enip), d.enip_tcp.map_or(1, |a| a.port()));
        m.insert((ip, Protocol::S7), d.s7.map_or(1, |a| a.port()));
    }
    m
}

fn max_concurrent_per_device(plant: &RunningPlant) -> usize {
    let mut open: HashMap<String, usize> = HashMap::new();
    let mut max = 0;
    for e in plant.ledger() {
        match e.kind {
            EventKind::Opened => {
                let n = open.entry(e.device).or_default();
                *n += 1;
                max = max.max(*n);
            }
            EventKind::Closed { .. } => {
                if let Some(n) = open.get_mut(&e.device) {
                    *n = n.saturating_sub(1);
                }
            }
            _ => {}
        }
    }
    max
}

async fn nmap(targets: &[IpAddr], ours: Duration) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let list = dir.path().join("targets.txt");
    let text: String = targets.iter().map(|t| format!("{t}\n")).collect();
    if std::fs::write(&list, text).is_err() {
        return;
    }
    // Only 127.x addresses, and always -n.
    assert!(targets.iter().all(|t| t.is_loopback()));
    let args = [
        "-n",
        "-sT",
        "-Pn",
        "-p",
        "102,502,44818",
        "--script",
        "modbus-discover,enip-info,s7-info",
        "-oN",
        "/dev/null",
        "-iL",
    ];
    let list = list.display().to_string();
    // Best of two runs, as for otscout: the comparison is never flattered by one slow nmap.
    let mut best: Option<Duration> = None;
    for _ in 0..2 {
        let list = list.clone();
        let t = Instant::now();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("nmap")
                .args(args)
                .arg(list)
                .output()
        })
        .await;
        let wall = t.elapsed();
        match out {
            Ok(Ok(o)) if o.status.success() => best = Some(best.map_or(wall, |b| b.min(wall))),
            Ok(Ok(o)) => {
                println!(
                    "nmap failed ({}): {}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr)
                        .lines()
                        .next()
                        .unwrap_or("")
                );
                return;
            }
            _ => {
                println!("nmap is not installed: no comparison");
                return;
            }
        }
    }
    let Some(wall) = best else { return };
    println!(
        "nmap -n -sT -Pn -p 102,502,44818 --script modbus-discover,enip-info,s7-info on the same {} devices: {:.2} s (best of 2); otscout with lab: {:.2} s (best of 2), {:.1}x nmap's speed",
        targets.len(),
        wall.as_secs_f64(),
        ours.as_secs_f64(),
        wall.as_secs_f64() / ours.as_secs_f64(),
    );
    println!(
        "  10x nmap would need {:.3} s for the plant: below the hard-cap floor printed above whenever that floor is higher",
        wall.as_secs_f64() / 10.0
    );
}

/// The least time any scan of this plant can take within the hard caps, from what the
/// scan had to send: the global rate ceiling over the requests (after the burst), and the
/// cool-down a device must wait between a closed connection and its next protocol's
/// connect (one connection at a time per device).
fn floors(profile: &Profile, report: &ScanReport) {
    let p = &profile.pacing;
    let paced = report.requests().saturating_sub(u64::from(p.burst));
    let rate_floor = paced as f64 / p.max_rate;
    let cooldown = Duration::from_millis(p.cooldown_ms).as_secs_f64();
    let mut worst = 0u32;
    for h in &report.hosts {
        // Every connection but a host's very last is followed by a connect attempt on the
        // same host, after the cool-down.
        let attempted: Vec<&scan::ProbeReport> = h
            .probes
            .iter()
            .filter(|pr| {
                !matches!(
                    pr.outcome,
                    scan::ProbeOutcome::SkippedByRule | scan::ProbeOutcome::CircuitOpen
                )
            })
            .collect();
        let total: u32 = attempted.iter().map(|pr| pr.connections).sum();
        let last_opened = attempted.last().is_some_and(|pr| pr.connections > 0);
        let waits = total.saturating_sub(u32::from(last_opened));
        worst = worst.max(waits);
    }
    let cooldown_floor = f64::from(worst) * cooldown;
    println!(
        "  floors within the hard caps: global rate {:.3} s ({} requests - burst {} at {}/s), per-device cool-downs {:.3} s ({} x {} ms)",
        rate_floor,
        report.requests(),
        p.burst,
        p.max_rate,
        cooldown_floor,
        worst,
        p.cooldown_ms
    );
}

/// Mean and max probe time per protocol and outcome: where the wall time goes.
fn probe_times(report: &ScanReport) {
    let mut by: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for h in &report.hosts {
        for p in &h.probes {
            let ms = (p.finished - p.started).num_microseconds().unwrap_or(0) as f64 / 1000.0;
            by.entry(format!("{:?} {}", p.protocol, p.outcome))
                .or_default()
                .push(ms);
        }
    }
    for (k, v) in by {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let max = v.iter().copied().fold(0.0, f64::max);
        println!(
            "  {k:<28} {:>5} probes, mean {mean:>7.1} ms, max {max:>7.1} ms",
            v.len()
        );
    }
}
