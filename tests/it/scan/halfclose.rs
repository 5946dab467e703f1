//! Slow and half-closing devices (issue 12, defect 1): a connection counts as open until
//! both sides have closed it, the cool-down runs from the device's FIN, a device that
//! never closes is never connected to again, and otscout never sends a RST.
//!
//! The witness is the simulator's ledger (an independent implementation: it counts a
//! connection open from `opened` until both FINs, and records `client_reset` when the
//! client resets and `overlap` when a second connection arrives while one is open), and,
//! in the capture test, the packets themselves, captured on `lo` with tcpdump.
//!
//! Addresses: 127.24.<test>.<device>, ports ephemeral.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use otscout::inventory::{Fact, NoAnswerKind, Protocol};
use otscout::probe::scan::{self, LeftAlone, ProbeOutcome, ScanReport, StopSignal};
use otscout::profile::{EnipTransport, Profile};
use otscout_sim::ledger::{client_resets, overlaps};
use otscout_sim::{EventKind, LedgerEvent, Plant, RunningPlant};

use super::plant::{config, profile, start};

/// `lab` slowed to what a field device wants, with a short response timeout so the
/// tests stay short. The close hold is the profile's ([`otscout::profile::Pacing::close_hold`],
/// 2 s here: four response timeouts, at least 2 s), as the CLI and the demo take it.
fn slow_profile() -> Profile {
    let mut p = profile();
    p.pacing.response_timeout_ms = 300;
    p.pacing.cooldown_ms = 200;
    p.pacing.host_interval_ms = 10;
    p.pacing.retries = 0;
    p.pacing.breaker_failures = 10;
    p.modbus.unit_ids = vec![255, 0];
    p.vendor_rules.clear();
    p
}

fn ports(plant: &RunningPlant) -> std::collections::HashMap<(IpAddr, Protocol), u16> {
    let mut m = std::collections::HashMap::new();
    for d in plant.devices() {
        let ip = IpAddr::V4(d.address);
        m.insert((ip, Protocol::Modbus), d.modbus.map_or(1, |a| a.port()));
        m.insert((ip, Protocol::Enip), d.enip_tcp.map_or(1, |a| a.port()));
        m.insert((ip, Protocol::S7), d.s7.map_or(1, |a| a.port()));
    }
    m
}

async fn scan_plant(plant: &RunningPlant, p: Profile) -> ScanReport {
    let targets = plant
        .devices()
        .iter()
        .map(|d| IpAddr::V4(d.address))
        .collect();
    let hold = p.pacing.close_hold();
    let mut cfg = config(p, targets, ports(plant));
    cfg.close_timeout = hold;
    scan::run(cfg, scan::no_events(), StopSignal::new())
        .await
        .expect("the scan runs")
}

/// One device's connections, as the ledger counts them: (opened, client FIN, closed by
/// both sides), in the order they opened. Panics on a connection never closed.
fn connections(
    events: &[LedgerEvent],
    device: &str,
) -> Vec<(Duration, Option<Duration>, Duration)> {
    let mut open: BTreeMap<u64, (Duration, Option<Duration>)> = BTreeMap::new();
    let mut out = Vec::new();
    for e in events.iter().filter(|e| e.device == device) {
        match &e.kind {
            EventKind::Opened => {
                open.insert(e.conn, (e.at, None));
            }
            EventKind::ClientFin => {
                if let Some(c) = open.get_mut(&e.conn) {
                    c.1 = Some(e.at);
                }
            }
            EventKind::Closed { .. } => {
                if let Some((at, fin)) = open.remove(&e.conn) {
                    out.push((at, fin, e.at));
                }
            }
            _ => {}
        }
    }
    assert!(
        open.is_empty(),
        "{device}: connections never closed: {open:?}"
    );
    out.sort();
    out
}

/// Nothing a prime directive forbids, as the plant saw it: no reset from us, no
/// second connection while one was open, and the cool-down from each close (both FINs)
/// to the next connect.
fn assert_discipline(events: &[LedgerEvent], device: &str, cooldown: Duration) {
    assert!(
        client_resets(events).is_empty(),
        "otscout reset a connection: {:?}",
        client_resets(events)
    );
    assert!(
        overlaps(events, device).is_empty(),
        "{device}: a second connection while one was open: {:?}",
        overlaps(events, device)
    );
    let conns = connections(events, device);
    for w in conns.windows(2) {
        // 5 ms: the ledger's clock and the scan's are read a few instructions apart.
        assert!(
            w[1].0 + Duration::from_millis(5) >= w[0].2 + cooldown,
            "{device}: connected {:?} after the previous connection closed (both FINs), cool-down {cooldown:?}: {w:?}",
            w[1].0.saturating_sub(w[0].2)
        );
    }
}

/// Issue 12's reproduction, scaled down (40 ms per byte instead of 5 s, a 300 ms response
/// timeout instead of 3 s): a Modbus device that drips its reply, allows one connection and
/// drops every connection when a second arrives. The reply outlasts the response timeout,
/// so otscout's FIN goes out while the device keeps sending; otscout must read on until the
/// device's FIN, then wait the cool-down before the next unit id's connection. Before the
/// fix, the close waited min(response timeout, 2 s) for the device's FIN (300 ms here,
/// what the CLI and the demo passed as `close_timeout`) and dropped the socket: the next
/// byte drew a RST from our kernel, and the second connection came while the device still
/// held the first (and dropped both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dripping_one_connection_device_gets_one_connection_at_a_time_and_no_reset() {
    let plant = start(
        Plant::from_toml_str(
            r#"
            [[device]]
            name = "drip"
            address = "127.24.1.1"
            behaviour = { drip_ms = 40, max_connections = 1, over_limit = "drop_all" }
            [device.modbus]
            port = 0
            unit_ids = [255, 0]
            identity = { vendor_name = "Acme", product_code = "Slow", revision = "1.0" }
            "#,
        )
        .unwrap(),
    )
    .await;
    let mut p = slow_profile();
    p.enip.enabled = false;
    p.s7.enabled = false;
    let cooldown = Duration::from_millis(p.pacing.cooldown_ms);
    let report = scan_plant(&plant, p).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events = plant.ledger();
    plant.shutdown().await;

    assert_discipline(&events, "drip", cooldown);
    let conns = connections(&events, "drip");
    assert!(conns.len() >= 2, "one connection per unit id: {conns:?}");
    for (opened, fin, closed) in &conns {
        let fin = fin.expect("otscout closed its side");
        // The device was still dripping when our FIN came: the connection stayed open
        // (and counted) until it finished and closed its side.
        assert!(
            closed.saturating_sub(*opened) > Duration::from_millis(600),
            "the drip outlasts the timeout: {opened:?}..{closed:?}"
        );
        assert!(fin <= *closed);
    }
    assert!(
        !events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Closed { why } if why.starts_with("dropped"))),
        "the device dropped its connections"
    );
    assert!(
        report.hosts[0].left_alone.is_none(),
        "{:?}",
        report.hosts[0]
    );
}

/// A device that keeps its side open for 600 ms after our FIN, then closes: within the
/// close hold (2 s), so the next connection (Modbus after ENIP) waits for its FIN and then
/// the cool-down. Before the fix the close gave up after min(response timeout, 2 s) =
/// 300 ms and the cool-down started from there: the second connection came while the
/// device still held the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_closing_device_is_not_connected_again_before_its_fin_and_the_cooldown() {
    let plant = start(
        Plant::from_toml_str(
            r#"
            [[device]]
            name = "late"
            address = "127.24.2.1"
            behaviour = { close_delay_ms = 600, max_connections = 1, over_limit = "drop_all" }
            [device.modbus]
            port = 0
            unit_ids = [255]
            identity = { vendor_name = "Acme", product_code = "Late", revision = "1.0" }
            [device.enip]
            port = 0
            udp = false
            identity = { vendor_id = 1, device_type = 12, product_code = 58, revision_major = 4, revision_minor = 3, serial = 0x00524d8e, product_name = "1756-ENBT/A" }
            "#,
        )
        .unwrap(),
    )
    .await;
    let mut p = slow_profile();
    p.s7.enabled = false;
    p.enip.transport = EnipTransport::Tcp;
    let cooldown = Duration::from_millis(p.pacing.cooldown_ms);
    let report = scan_plant(&plant, p).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events = plant.ledger();
    plant.shutdown().await;

    assert_discipline(&events, "late", cooldown);
    let conns = connections(&events, "late");
    assert_eq!(conns.len(), 2, "ENIP, then Modbus: {conns:?}");
    let (_, fin, closed) = conns[0];
    assert!(
        closed - fin.expect("our FIN") >= Duration::from_millis(600),
        "the device held its side 600 ms: {conns:?}"
    );
    let h = &report.hosts[0];
    assert!(h.left_alone.is_none());
    for probe in &h.probes {
        assert_eq!(probe.outcome, ProbeOutcome::Identified, "{probe:?}");
    }
}

/// A device that never closes its side after our FIN: after the close hold the host is
/// left alone. Its other protocols are not tried, the host says why (typed, in the
/// report and its journal form), and the connection is kept and drained, never reset.
/// Before the fix the close gave up after the hold and the next protocol connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_never_closes_is_left_alone_and_says_why() {
    let plant = start(
        Plant::from_toml_str(
            r#"
            [[device]]
            name = "stuck"
            address = "127.24.3.1"
            behaviour = { never_close = true }
            [device.modbus]
            port = 0
            unit_ids = [255]
            identity = { vendor_name = "Acme", product_code = "Stuck", revision = "1.0" }
            [device.enip]
            port = 0
            udp = false
            identity = { vendor_id = 1, device_type = 12, product_code = 58, revision_major = 4, revision_minor = 3, serial = 0x00524d8e, product_name = "1756-ENBT/A" }
            "#,
        )
        .unwrap(),
    )
    .await;
    let mut p = slow_profile();
    p.s7.enabled = false;
    p.enip.transport = EnipTransport::Tcp;
    p.pacing.close_hold_ms = Some(500);
    let hold = p.pacing.close_hold();
    let started = Instant::now();
    let report = scan_plant(&plant, p).await;
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events = plant.ledger();
    let opened = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Opened))
        .count();
    assert_eq!(opened, 1, "the host was connected to again: {events:?}");
    assert!(client_resets(&events).is_empty(), "{events:?}");
    // Still open: otscout keeps its socket, the device its side.
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Closed { .. })),
        "{events:?}"
    );
    // The scan waited one more hold for it at the end, no longer.
    assert!(took < hold * 2 + Duration::from_secs(3), "took {took:?}");
    plant.shutdown().await;

    let h = &report.hosts[0];
    let Some(LeftAlone::HeldOpen {
        protocol, hold_ms, ..
    }) = &h.left_alone
    else {
        panic!("no reason on the host: {h:?}");
    };
    assert_eq!((*protocol, *hold_ms), (Protocol::Enip, 500));
    assert!(h.errored(), "a host left alone counts as errored");
    let enip = &h.probes[0];
    assert_eq!(
        enip.outcome,
        ProbeOutcome::Identified,
        "what it said is kept"
    );
    assert!(enip.observations.iter().any(|o| matches!(
        o.fact,
        Fact::NoAnswer {
            outcome: NoAnswerKind::HeldOpen,
            ..
        }
    )));
    let modbus = &h.probes[1];
    assert_eq!(
        (modbus.protocol, modbus.outcome, modbus.connections),
        (Protocol::Modbus, ProbeOutcome::LeftAlone, 0)
    );
    assert!(
        modbus
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("after our FIN")),
        "{modbus:?}"
    );
    // As the journal and the result carry it.
    let json = serde_json::to_value(h).unwrap();
    assert_eq!(json["left_alone"]["reason"], "held_open");
    assert_eq!(json["left_alone"]["protocol"], "enip");
    let back: scan::HostReport = serde_json::from_value(json).unwrap();
    assert_eq!(&back, h);
}

/// The CLI with the built-in `lab` profile as it is (issue 12 saw the overlap with `lab`
/// too), against a Modbus device that drips its reply at 80 ms a byte (about 2.3 s, past
/// lab's 1 s response timeout), allows one connection and drops every connection when a
/// second arrives. The close hold comes from the profile as the CLI reads it (4 s for lab).
/// Before the fix the CLI closed with min(response timeout, 2 s) = 1 s: our socket was
/// dropped while the device was still sending, and its next byte drew a RST (the plant
/// records `client_reset`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_with_lab_waits_for_a_dripping_device_to_close() {
    let plant = start(
        Plant::from_toml_str(
            r#"
            [[device]]
            name = "drip"
            address = "127.24.5.1"
            behaviour = { drip_ms = 80, max_connections = 1, over_limit = "drop_all" }
            [device.modbus]
            port = 0
            unit_ids = [255, 0]
            identity = { vendor_name = "Acme", product_code = "Slow", revision = "1.0" }
            "#,
        )
        .unwrap(),
    )
    .await;
    let port = plant.devices()[0].modbus.expect("modbus").port();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("scan.json");
    let args: Vec<String> = vec![
        "scan".into(),
        "127.24.5.1".into(),
        "--profile".into(),
        "lab".into(),
        "--quiet".into(),
        "--set".into(),
        format!("modbus.port={port}"),
        "--set".into(),
        "enip.enabled=false".into(),
        "--set".into(),
        "s7.enabled=false".into(),
        "-o".into(),
        out.display().to_string(),
    ];
    let o = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events = plant.ledger();
    plant.shutdown().await;
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(out.exists(), "no result: {:?} {stderr}", o.status);

    assert_discipline(&events, "drip", Duration::from_millis(100));
    let conns = connections(&events, "drip");
    assert_eq!(conns.len(), 2, "unit 255, then unit 0: {conns:?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Closed { why } if why.starts_with("dropped"))),
        "the device dropped its connections: {events:?}"
    );
}

/// A plant with one Modbus device that drips its reply at `drip_ms` a byte, allows one
/// connection and drops them all when a second arrives.
async fn dripping_device(address: &str, drip_ms: u64) -> RunningPlant {
    start(
        Plant::from_toml_str(&format!(
            r#"
            [[device]]
            name = "drip"
            address = "{address}"
            behaviour = {{ drip_ms = {drip_ms}, max_connections = 1, over_limit = "drop_all" }}
            [device.modbus]
            port = 0
            unit_ids = [255, 0]
            identity = {{ vendor_name = "Acme", product_code = "Slow", revision = "1.0" }}
            "#
        ))
        .unwrap(),
    )
    .await
}

/// `otscout scan ADDRESS --profile lab` (Modbus only) against `plant`'s device; once the
/// device has received its first request, each of `signals` waits its delay and sends
/// SIGINT. Returns the exit code.
async fn scan_cli_interrupted(
    plant: &RunningPlant,
    address: &str,
    signals: &[Duration],
) -> Option<i32> {
    let port = plant.devices()[0].modbus.expect("modbus").port();
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = vec![
        "scan".into(),
        address.into(),
        "--profile".into(),
        "lab".into(),
        "--quiet".into(),
        "--set".into(),
        format!("modbus.port={port}"),
        "--set".into(),
        "enip.enabled=false".into(),
        "--set".into(),
        "s7.enabled=false".into(),
        "-o".into(),
        dir.path().join("scan.json").display().to_string(),
    ];
    let ledger = plant.ledger_handle();
    let signals = signals.to_vec();
    let code = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
            .args(&args)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn otscout");
        let waited = Instant::now();
        while !ledger
            .snapshot()
            .iter()
            .any(|e| matches!(e.kind, EventKind::Request { .. }))
        {
            assert!(waited.elapsed() < Duration::from_secs(20), "no request");
            std::thread::sleep(Duration::from_millis(5));
        }
        for delay in signals {
            std::thread::sleep(delay);
            std::process::Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .expect("send SIGINT to our own child");
        }
        child.wait().expect("wait").code()
    })
    .await
    .unwrap();
    // The device's last bytes and FIN, and our ACKs, reach the plant.
    tokio::time::sleep(Duration::from_millis(300)).await;
    code
}

/// Ctrl-C while otscout drains a dripping device after its FIN (lab: response timeout
/// 1 s, the reply takes about 2.3 s at 80 ms a byte): the stop sends no more requests but
/// does not cut the close short, so the device finishes, closes, and sees no reset and no
/// second connection. Before the fix the close gave up 1 s after our FIN, stop or not, and
/// the next byte drew a RST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_the_close_still_waits_for_the_device_fin() {
    let plant = dripping_device("127.24.6.1", 80).await;
    // Our FIN goes out about 1 s after the request; interrupt half a second later.
    let code = scan_cli_interrupted(&plant, "127.24.6.1", &[Duration::from_millis(1500)]).await;
    let events = plant.ledger();
    plant.shutdown().await;
    assert_eq!(code, Some(3), "interrupted: {events:?}");
    assert_discipline(&events, "drip", Duration::from_millis(100));
    let conns = connections(&events, "drip");
    assert_eq!(conns.len(), 1, "no connection after the stop: {conns:?}");
    let (opened, fin, closed) = conns[0];
    assert!(fin.is_some(), "our FIN: {events:?}");
    assert!(
        closed - opened > Duration::from_secs(2),
        "open until the drip ended: {conns:?}"
    );
}

/// A second Ctrl-C exits at once, but not before the open connection got our FIN and was
/// read until the device closed it (for up to 1 s): the exit closes no socket with unread
/// data, so the kernel sends no RST. Before the fix the process exited with the device
/// mid-reply: the unread bytes and the ones still coming drew a RST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_drains_the_open_connection_before_exit() {
    // 29 bytes at 25 ms: the device finishes within the 1 s the exit drains.
    let plant = dripping_device("127.24.7.1", 25).await;
    let code = scan_cli_interrupted(
        &plant,
        "127.24.7.1",
        &[Duration::from_millis(100), Duration::from_millis(100)],
    )
    .await;
    let events = plant.ledger();
    plant.shutdown().await;
    assert_ne!(code, Some(0), "exited at once: {events:?}");
    assert_discipline(&events, "drip", Duration::from_millis(100));
    let conns = connections(&events, "drip");
    assert_eq!(conns.len(), 1, "{conns:?}");
    assert!(conns[0].1.is_some(), "our FIN before the exit: {events:?}");
}

// ---------------------------------------------------------------- the capture test

/// One TCP segment of the capture.
#[derive(Debug, Clone, Copy)]
struct Segment {
    at: Duration,
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    flags: u8,
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// The TCP segments of a classic pcap (tcpdump -w), Ethernet (DLT 1, what tcpdump writes
/// for `lo`) or Linux cooked (DLT 113) framing, IPv4 only. Written here from the pcap
/// format (wiki.wireshark.org/Development/LibpcapFileFormat) and RFC 791/9293, so it
/// depends on nothing of otscout's.
fn tcp_segments(path: &Path) -> Vec<Segment> {
    let b = std::fs::read(path).expect("read the capture");
    assert!(b.len() >= 24, "capture too short: {} bytes", b.len());
    let magic = u32::from_le_bytes(b[0..4].try_into().unwrap());
    let nanos = match magic {
        0xa1b2_c3d4 => false,
        0xa1b2_3c4d => true,
        other => panic!("not a little-endian pcap: magic {other:#x}"),
    };
    let linktype = u32::from_le_bytes(b[20..24].try_into().unwrap());
    let l2 = match linktype {
        1 => 14,
        113 => 16,
        other => panic!("unexpected link type {other}"),
    };
    let mut out = Vec::new();
    let mut off = 24;
    let mut first: Option<Duration> = None;
    while off + 16 <= b.len() {
        let u = |i: usize| u32::from_le_bytes(b[off + i..off + i + 4].try_into().unwrap());
        let (sec, frac, caplen) = (u(0), u(4), u(8) as usize);
        let data = &b[off + 16..(off + 16 + caplen).min(b.len())];
        off += 16 + caplen;
        let at = Duration::from_secs(sec.into())
            + if nanos {
                Duration::from_nanos(frac.into())
            } else {
                Duration::from_micros(frac.into())
            };
        let first = *first.get_or_insert(at);
        if data.len() < l2 + 20 || data[l2 - 2..l2] != [0x08, 0x00] {
            continue;
        }
        let ip = &data[l2..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if ip[0] >> 4 != 4 || ip[9] != 6 || ip.len() < ihl + 14 {
            continue;
        }
        let addr = |i: usize| Ipv4Addr::new(ip[i], ip[i + 1], ip[i + 2], ip[i + 3]);
        let tcp = &ip[ihl..];
        let port = |i: usize| u16::from_be_bytes([tcp[i], tcp[i + 1]]);
        out.push(Segment {
            at: at.saturating_sub(first),
            src: (addr(12), port(0)),
            dst: (addr(16), port(2)),
            flags: tcp[13],
        });
    }
    out
}

/// tcpdump capturing `filter` on `lo` into `file`, or why it cannot.
struct Capture {
    child: std::process::Child,
}

impl Capture {
    fn start(file: &Path, filter: &str) -> Result<Capture, String> {
        use std::io::BufRead;
        let mut child = std::process::Command::new("tcpdump")
            // --immediate-mode: without it libpcap hands packets over in blocks (up to
            // a second late), and the last block is lost when tcpdump is stopped.
            .args([
                "-i",
                "lo",
                "-n",
                "--immediate-mode",
                "-U",
                "-s",
                "128",
                "-w",
            ])
            .arg(file)
            .arg(filter)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run tcpdump: {e}"))?;
        // tcpdump says "listening on lo" once the capture runs.
        let mut err = std::io::BufReader::new(child.stderr.take().expect("piped"));
        // A warning may come first; an error ends its stderr.
        let mut said = String::new();
        loop {
            let mut line = String::new();
            let n = err.read_line(&mut line).unwrap_or(0);
            said.push_str(line.trim());
            if line.contains("listening on") {
                break;
            }
            if n == 0 || said.len() > 4096 {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("tcpdump did not start capturing: {said}"));
            }
            said.push_str("; ");
        }
        // Keep reading its stderr so it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        Ok(Capture { child })
    }

    fn stop(mut self) {
        // SIGINT, so tcpdump flushes and closes the file (our own child, by its pid).
        let _ = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// A scan of a slow (dripping), a half-closing and a one-connection device, recorded
/// with tcpdump on `lo`: not one RST from otscout's side, every connection closed by
/// both FINs, and at most one connection per device at a time from its SYN to the last
/// of its two FINs. Skips when tcpdump is missing or may not capture, unless
/// `OTSCOUT_REQUIRE_TOOLS=1` (CI installs it and runs as root).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_shows_no_reset_from_otscout_and_one_connection_per_device() {
    let require = std::env::var("OTSCOUT_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("halfclose.pcap");
    let capture = match Capture::start(&file, "tcp and net 127.24.4.0/24") {
        Ok(c) => c,
        Err(why) if !require => {
            eprintln!("skipped the half-close capture test: {why}");
            return;
        }
        Err(why) => panic!("{why} (OTSCOUT_REQUIRE_TOOLS=1)"),
    };
    let enip = r#"[device.enip]
            port = 0
            udp = false
            identity = { vendor_id = 1, device_type = 12, product_code = 58, revision_major = 4, revision_minor = 3, serial = 0x00524d8e, product_name = "1756-ENBT/A" }"#;
    let modbus = r#"[device.modbus]
            port = 0
            unit_ids = [255, 0]
            identity = { vendor_name = "Acme", product_code = "X", revision = "1.0" }"#;
    let plant = start(
        Plant::from_toml_str(&format!(
            r#"
            [[device]]
            name = "slow"
            address = "127.24.4.1"
            behaviour = {{ drip_ms = 20, max_connections = 1, over_limit = "drop_all" }}
            {modbus}
            {enip}
            [[device]]
            name = "half-closing"
            address = "127.24.4.2"
            behaviour = {{ close_delay_ms = 400 }}
            {modbus}
            {enip}
            [[device]]
            name = "one-connection"
            address = "127.24.4.3"
            behaviour = {{ max_connections = 1, over_limit = "refuse" }}
            {modbus}
            {enip}
            "#
        ))
        .unwrap(),
    )
    .await;
    let servers: Vec<(Ipv4Addr, u16)> = plant
        .devices()
        .iter()
        .flat_map(|d| [d.modbus, d.enip_tcp])
        .flatten()
        .map(|a| match a {
            std::net::SocketAddr::V4(v4) => (*v4.ip(), v4.port()),
            std::net::SocketAddr::V6(_) => unreachable!("the plant binds IPv4"),
        })
        .collect();
    let mut p = slow_profile();
    p.s7.enabled = false;
    p.enip.transport = EnipTransport::Tcp;
    let report = scan_plant(&plant, p).await;
    // Let the last FIN/ACK reach the capture.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = plant.ledger();
    plant.shutdown().await;
    tokio::task::spawn_blocking(move || capture.stop())
        .await
        .unwrap();
    assert!(
        report.hosts.iter().all(|h| h.left_alone.is_none()),
        "every device closes within the hold: {:?}",
        report.hosts
    );

    let segments = tcp_segments(&file);
    let is_server = |a: &(Ipv4Addr, u16)| servers.contains(a);
    // Connections keyed by (client, server): SYN time, FINs seen from each side, end.
    #[derive(Debug, Default)]
    struct Conn {
        syn: Option<Duration>,
        client_fin: Option<Duration>,
        server_fin: Option<Duration>,
        end: Option<Duration>,
    }
    type Endpoint = (Ipv4Addr, u16);
    // (client, server)
    let mut conns: BTreeMap<(Endpoint, Endpoint), Conn> = BTreeMap::new();
    for s in &segments {
        let from_server = is_server(&s.src);
        let key = if from_server {
            (s.dst, s.src)
        } else {
            (s.src, s.dst)
        };
        if s.flags & RST != 0 && !from_server {
            panic!("otscout sent a RST: {s:?}");
        }
        let c = conns.entry(key).or_default();
        if s.flags & SYN != 0 && s.flags & ACK == 0 {
            c.syn.get_or_insert(s.at);
        }
        if s.flags & FIN != 0 {
            if from_server {
                c.server_fin.get_or_insert(s.at);
            } else {
                c.client_fin.get_or_insert(s.at);
            }
        }
        if s.flags & RST != 0 {
            c.end = Some(s.at);
        }
    }
    assert!(!conns.is_empty(), "nothing captured");
    let mut per_device: BTreeMap<Ipv4Addr, Vec<(Duration, Duration)>> = BTreeMap::new();
    for ((_, server), c) in &conns {
        let syn = c
            .syn
            .unwrap_or_else(|| panic!("a connection without SYN: {c:?}"));
        // A connection the device refused (the one-connection device's RST) ends there;
        // every other one ends with the later of the two FINs.
        let end = match (c.end, c.client_fin, c.server_fin) {
            (Some(rst), _, _) => rst,
            (None, Some(a), Some(b)) => a.max(b),
            _ => panic!(
                "{server:?}: a connection not closed by both FINs: {c:?}; its segments: {:?}",
                segments
                    .iter()
                    .filter(|s| s.src == *server || s.dst == *server)
                    .filter(|s| s.at + Duration::from_millis(50) >= syn)
                    .take(12)
                    .collect::<Vec<_>>()
            ),
        };
        per_device.entry(server.0).or_default().push((syn, end));
    }
    assert_eq!(per_device.len(), 3, "{per_device:?}");
    for (device, mut spans) in per_device {
        spans.sort();
        assert!(spans.len() >= 2, "{device}: {spans:?}");
        for w in spans.windows(2) {
            assert!(
                w[1].0 > w[0].1,
                "{device}: a SYN before the previous connection was closed by both FINs: {w:?}"
            );
        }
    }
    // The plant agrees.
    assert!(client_resets(&events).is_empty(), "{events:?}");
    for d in ["slow", "half-closing", "one-connection"] {
        assert!(overlaps(&events, d).is_empty(), "{d}: {events:?}");
    }
}
