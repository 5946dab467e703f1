//! The scan engine over real loopback sockets: the driver's connection discipline, the
//! orchestrator's per-host rules, the journal and resume, and stopping.
//!
//! These tests drive a small fake session (it sends one ENIP List Identity and takes any
//! reply as an identity) against tiny TCP servers that log every connection. The fake
//! session still goes through the real guard: while the guard refuses List Identity
//! (before the ENIP codec lands) the exchange tests check that nothing at all was sent,
//! and they check the full exchange once the guard accepts it.
//!
//! Addresses: 127.23.<test>.<host>, ports ephemeral, so tests never share a socket.

mod backplane;
mod gateway;
mod guided;
mod halfclose;
mod hardening;
mod plant;
mod sizes;
mod unanswered;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use otscout::inventory::{
    EnipIdentity, EnipIdentitySource, Fact, Identity, NoAnswerKind, Protocol,
};
use otscout::probe::journal::{self, JOURNAL_FORMAT, Journal, JournalHeader};
use otscout::probe::scan::{
    self, HostState, ProbeOutcome, ScanConfig, ScanEvent, ScanStatus, SessionFactory, StopReason,
    StopSignal, Targets,
};
use otscout::probe::{ConnectionLoss, Finding, Session, Step};
use otscout::profile::{EnipTransport, Profile, VendorRule};
use otscout::protocols::enip;
use otscout::safety::{self, EnipList, EnipListCommand, SafeRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

// ---------------------------------------------------------------------------------------
// A fake session and a logging server

fn list_identity() -> SafeRequest {
    SafeRequest::Enip(enip::Safe::List(EnipList {
        command: EnipListCommand::ListIdentity,
        sender_context: *b"otscout1",
    }))
}

/// Whether the guard lets List Identity out yet (it refuses everything until the ENIP
/// codec lands).
fn guard_open() -> bool {
    safety::emit(&list_identity()).is_ok()
}

#[derive(Debug, Default)]
struct FakeEnip {
    got: Vec<u8>,
    findings: Vec<Finding>,
    deadline: Option<std::time::Instant>,
    timeout: Duration,
}

impl Session for FakeEnip {
    fn protocol(&self) -> Protocol {
        Protocol::Enip
    }
    fn on_connected(&mut self, now: std::time::Instant) -> Step {
        self.deadline = Some(now + self.timeout);
        Step::Send(list_identity())
    }
    fn on_bytes(&mut self, _now: std::time::Instant, bytes: &[u8]) -> Step {
        self.got.extend_from_slice(bytes);
        if self.got.len() < 4 {
            return Step::Wait;
        }
        self.deadline = None;
        let name = String::from_utf8_lossy(&self.got).into_owned();
        let vendor_id = if name.starts_with("ROCK") { 1 } else { 99 };
        self.findings.push(Finding {
            fact: Fact::Identity {
                identity: Identity::Enip(EnipIdentity {
                    source: EnipIdentitySource::ListIdentity,
                    vendor_id,
                    device_type: 12,
                    product_code: 58,
                    revision_major: 4,
                    revision_minor: 3,
                    status: 0x30,
                    serial: 7,
                    product_name: name,
                    state: Some(3),
                    encapsulation_version: Some(1),
                    socket_addr: None,
                }),
            },
            raw: Some(self.got.clone()),
            request: "enip.list_identity",
        });
        Step::Done
    }
    fn on_timeout(&mut self, _now: std::time::Instant) -> Step {
        self.deadline = None;
        self.no_answer(NoAnswerKind::Timeout)
    }
    fn on_connection_lost(&mut self, _now: std::time::Instant, why: ConnectionLoss) -> Step {
        self.deadline = None;
        self.no_answer(match why {
            ConnectionLoss::Refused => NoAnswerKind::Refused,
            ConnectionLoss::ConnectTimeout => NoAnswerKind::Timeout,
            ConnectionLoss::Closed => NoAnswerKind::NotThisProtocol,
            ConnectionLoss::Reset => NoAnswerKind::Reset,
        })
    }
    fn poll_timeout(&self) -> Option<std::time::Instant> {
        self.deadline
    }
    fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }
}

impl FakeEnip {
    fn no_answer(&mut self, outcome: NoAnswerKind) -> Step {
        self.findings.push(Finding {
            fact: Fact::NoAnswer {
                protocol: Protocol::Enip,
                port: 44818,
                outcome,
            },
            raw: None,
            request: "enip.list_identity",
        });
        Step::Done
    }
}

/// Gives ENIP (and, to check vendor rules, S7) the fake session.
#[derive(Debug)]
struct Fakes {
    timeout: Duration,
}

impl SessionFactory for Fakes {
    fn session(
        &self,
        protocol: Protocol,
        _ip: IpAddr,
        _port: u16,
        _p: &Profile,
    ) -> Option<Box<dyn Session>> {
        matches!(protocol, Protocol::Enip | Protocol::S7).then(|| {
            Box::new(FakeEnip {
                timeout: self.timeout,
                ..FakeEnip::default()
            }) as Box<dyn Session>
        })
    }
}

/// How a logging server treats a connection.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Behaviour {
    /// Replies with the device name to every request.
    Answer(&'static str),
    /// Accepts, reads, never replies.
    Hang,
}

/// One connection as the server saw it.
#[derive(Debug, Clone)]
struct ConnLog {
    opened: Instant,
    closed: Instant,
    bytes: usize,
    /// Times a request's first bytes arrived.
    requests: Vec<Instant>,
    /// The client closed with FIN (read returned 0), not RST.
    clean_close: bool,
}

#[derive(Debug, Clone, Default)]
struct Ledger(Arc<Mutex<Vec<ConnLog>>>);

impl Ledger {
    fn conns(&self) -> Vec<ConnLog> {
        self.0.lock().unwrap().clone()
    }
    fn bytes(&self) -> usize {
        self.conns().iter().map(|c| c.bytes).sum()
    }
    /// Most connections open at the same time.
    fn max_concurrent(&self) -> usize {
        let conns = self.conns();
        conns
            .iter()
            .map(|a| {
                conns
                    .iter()
                    .filter(|b| b.opened <= a.opened && a.opened < b.closed)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }
}

/// A server on `ip`, ephemeral port, that logs connections.
async fn server(ip: Ipv4Addr, behaviour: Behaviour) -> (SocketAddr, Ledger) {
    let listener = TcpListener::bind((ip, 0))
        .await
        .expect("bind loopback alias");
    let addr = listener.local_addr().unwrap();
    let ledger = Ledger::default();
    let log = ledger.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let opened = Instant::now();
                let mut bytes = 0;
                let mut requests = Vec::new();
                let mut buf = [0u8; 1024];
                let clean_close = loop {
                    match s.read(&mut buf).await {
                        Ok(0) => break true,
                        Ok(n) => {
                            bytes += n;
                            requests.push(Instant::now());
                            if let Behaviour::Answer(name) = behaviour {
                                let _ = s.write_all(name.as_bytes()).await;
                            }
                        }
                        Err(_) => break false,
                    }
                };
                log.0.lock().unwrap().push(ConnLog {
                    opened,
                    closed: Instant::now(),
                    bytes,
                    requests,
                    clean_close,
                });
            });
        }
    });
    (addr, ledger)
}

fn ip(test: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 23, test, host)
}

/// The built-in `lab` profile with only ENIP on and test-sized timings.
fn profile() -> Profile {
    let mut p = otscout::profile::builtin("lab")
        .expect("built-in lab")
        .profile;
    p.name = "test".into();
    p.pacing.max_rate = 1000.0;
    p.pacing.burst = 10;
    p.pacing.hosts_in_flight = 8;
    p.pacing.host_interval_ms = 0;
    p.pacing.connect_timeout_ms = 500;
    p.pacing.response_timeout_ms = 300;
    p.pacing.retries = 0;
    p.pacing.cooldown_ms = 20;
    p.pacing.breaker_failures = 3;
    p.pacing.breaker_resets = 2;
    p.modbus.enabled = false;
    p.s7.enabled = false;
    p.enip.enabled = true;
    p.enip.transport = EnipTransport::Tcp;
    p.enip.list_services = false;
    p.vendor_rules.clear();
    p
}

fn config(
    profile: Profile,
    targets: Vec<IpAddr>,
    ports: HashMap<(IpAddr, Protocol), u16>,
) -> ScanConfig {
    ScanConfig {
        scan_id: "test-scan".into(),
        profile,
        profile_sha256: "00".repeat(32),
        targets: Targets::list(targets),
        exclusions: vec![],
        scope: None,
        ports,
        deadline: None,
        journal: None,
        resumed: BTreeMap::new(),
        sessions: Arc::new(Fakes {
            timeout: Duration::from_millis(200),
        }),
        close_timeout: Duration::from_millis(200),
        passive: None,
    }
}

fn events_into(log: &Arc<Mutex<Vec<ScanEvent>>>) -> scan::EventSink {
    let log = Arc::clone(log);
    Arc::new(move |e: &ScanEvent| log.lock().unwrap().push(e.clone()))
}

// ---------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn guard_decides_what_leaves_and_close_is_a_fin() {
    let host = ip(1, 1);
    let (addr, ledger) = server(host, Behaviour::Answer("ROCKWELL PLC")).await;
    let ports = HashMap::from([((IpAddr::V4(host), Protocol::Enip), addr.port())]);
    let report = scan::run(
        config(profile(), vec![IpAddr::V4(host)], ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(report.status, ScanStatus::Complete);
    let probe = &report.hosts[0].probes[0];
    let conns = ledger.conns();
    assert_eq!(conns.len(), 1, "one connection");
    assert!(conns[0].clean_close, "closed with FIN, not RST");
    if guard_open() {
        assert_eq!(probe.outcome, ProbeOutcome::Identified);
        assert_eq!(probe.requests.len(), 1);
        assert_eq!(probe.requests[0].kind, "enip.list_identity");
        assert_eq!(probe.requests[0].count, 1);
        let raw = probe.observations[0].raw_hex.as_deref().unwrap();
        assert_eq!(raw, hex::encode("ROCKWELL PLC"));
        assert_eq!(
            ledger.bytes(),
            safety::emit(&list_identity()).unwrap().len()
        );
    } else {
        assert_eq!(probe.outcome, ProbeOutcome::GuardRefused, "{probe:?}");
        assert!(probe.requests.is_empty());
        assert_eq!(
            ledger.bytes(),
            0,
            "a refused frame never reaches the socket"
        );
        assert!(report.hosts[0].errored());
    }
}

#[tokio::test]
async fn refused_and_excluded_hosts() {
    // Nothing listens on .1; .2 is excluded and has a server that must see nothing.
    let (refused, excluded) = (ip(2, 1), ip(2, 2));
    let (addr, ledger) = server(excluded, Behaviour::Answer("DEVX")).await;
    let ports = HashMap::from([
        ((IpAddr::V4(refused), Protocol::Enip), addr.port()),
        ((IpAddr::V4(excluded), Protocol::Enip), addr.port()),
    ]);
    let mut cfg = config(profile(), vec![refused.into(), excluded.into()], ports);
    cfg.exclusions = vec!["127.23.2.2/32".parse().unwrap()];
    let events = Arc::new(Mutex::new(Vec::new()));
    let report = scan::run(cfg, events_into(&events), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(report.status, ScanStatus::Complete);
    assert_eq!(report.hosts.len(), 1);
    assert_eq!(report.hosts[0].probes[0].outcome, ProbeOutcome::Refused);
    assert!(!report.hosts[0].errored(), "a closed port is not an error");
    assert_eq!(report.skipped.len(), 1);
    assert!(report.skipped[0].1.contains("127.23.2.2/32"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        ledger.conns().is_empty(),
        "excluded host received a connection"
    );
    let ev = events.lock().unwrap();
    assert!(matches!(
        ev.first(),
        Some(ScanEvent::Started {
            total_hosts: Some(2),
            ..
        })
    ));
    assert!(matches!(
        ev.last(),
        Some(ScanEvent::Finished {
            status: ScanStatus::Complete
        })
    ));
}

#[tokio::test]
async fn hanging_device_times_out_and_the_scan_finishes() {
    if !guard_open() {
        eprintln!("skipped hanging_device_times_out: the ENIP guard has not landed");
        return;
    }
    let (hang, ok) = (ip(3, 1), ip(3, 2));
    let (a1, l1) = server(hang, Behaviour::Hang).await;
    let (a2, _) = server(ok, Behaviour::Answer("OKAY")).await;
    let ports = HashMap::from([
        ((IpAddr::V4(hang), Protocol::Enip), a1.port()),
        ((IpAddr::V4(ok), Protocol::Enip), a2.port()),
    ]);
    let started = Instant::now();
    let report = scan::run(
        config(profile(), vec![hang.into(), ok.into()], ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    let by_ip: HashMap<IpAddr, ProbeOutcome> = report
        .hosts
        .iter()
        .map(|h| (h.ip, h.probes[0].outcome))
        .collect();
    assert_eq!(by_ip[&IpAddr::V4(hang)], ProbeOutcome::Timeout);
    assert_eq!(by_ip[&IpAddr::V4(ok)], ProbeOutcome::Identified);
    assert_eq!(report.errored_hosts(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        l1.conns()[0].clean_close,
        "even a hanging device gets a FIN"
    );
}

#[tokio::test]
async fn one_connection_per_host_and_vendor_rules() {
    if !guard_open() {
        eprintln!("skipped one_connection_per_host: the ENIP guard has not landed");
        return;
    }
    // ENIP and "S7" (the fake session again) on the same host and the same port: the
    // host must see them strictly one after the other, with the cool-down between.
    let rock = ip(4, 1);
    let other = ip(4, 2);
    let (a1, l1) = server(rock, Behaviour::Answer("ROCKWELL")).await;
    let (a2, l2) = server(other, Behaviour::Answer("OTHER")).await;
    let mut p = profile();
    p.s7.enabled = true;
    p.pacing.cooldown_ms = 150;
    p.vendor_rules = vec![VendorRule {
        matches: "rockwell".into(),
        skip_protocols: vec![Protocol::S7],
        host_interval_ms: None,
        cooldown_ms: None,
        note: "no S7 to Rockwell".into(),
    }];
    let ports = HashMap::from([
        ((IpAddr::V4(rock), Protocol::Enip), a1.port()),
        ((IpAddr::V4(rock), Protocol::S7), a1.port()),
        ((IpAddr::V4(other), Protocol::Enip), a2.port()),
        ((IpAddr::V4(other), Protocol::S7), a2.port()),
    ]);
    let report = scan::run(
        config(p, vec![rock.into(), other.into()], ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rock_host = report
        .hosts
        .iter()
        .find(|h| h.ip == IpAddr::V4(rock))
        .unwrap();
    assert_eq!(rock_host.probes[1].outcome, ProbeOutcome::SkippedByRule);
    assert!(
        rock_host.probes[1]
            .detail
            .as_deref()
            .unwrap()
            .contains("no S7 to Rockwell")
    );
    assert_eq!(l1.conns().len(), 1, "Rockwell host got no S7 connection");
    let conns = l2.conns();
    assert_eq!(conns.len(), 2, "other host: ENIP then S7");
    assert_eq!(l2.max_concurrent(), 1);
    let gap = conns[1].opened.duration_since(conns[0].closed);
    assert!(
        gap >= Duration::from_millis(140),
        "cool-down between connections: {gap:?}"
    );
}

#[tokio::test]
async fn global_rate_holds_over_sliding_windows() {
    if !guard_open() {
        eprintln!("skipped global_rate_holds: the ENIP guard has not landed");
        return;
    }
    let mut p = profile();
    p.pacing.max_rate = 20.0;
    p.pacing.burst = 2;
    let mut ports = HashMap::new();
    let mut targets = Vec::new();
    let mut ledgers = Vec::new();
    for h in 1..=12 {
        let a = ip(5, h);
        let (addr, l) = server(a, Behaviour::Answer("DEVX")).await;
        ports.insert((IpAddr::V4(a), Protocol::Enip), addr.port());
        targets.push(a.into());
        ledgers.push(l);
    }
    let report = scan::run(
        config(p, targets, ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.identified_hosts(), 12);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut times: Vec<Instant> = ledgers
        .iter()
        .flat_map(|l| l.conns())
        .flat_map(|c| c.requests)
        .collect();
    times.sort();
    assert_eq!(times.len(), 12);
    // In any window of w seconds: at most burst + w * rate (+1 for the window edge).
    let w = Duration::from_millis(250);
    for (i, t) in times.iter().enumerate() {
        let n = times[i..]
            .iter()
            .filter(|u| u.duration_since(*t) < w)
            .count();
        assert!(n <= 2 + 5 + 1, "{n} requests within {w:?}");
    }
}

#[tokio::test]
async fn breaker_opens_after_failures() {
    if !guard_open() {
        eprintln!("skipped breaker_opens: the ENIP guard has not landed");
        return;
    }
    let host = ip(6, 1);
    let (addr, ledger) = server(host, Behaviour::Hang).await;
    let mut p = profile();
    p.s7.enabled = true;
    p.pacing.breaker_failures = 1;
    let ports = HashMap::from([
        ((IpAddr::V4(host), Protocol::Enip), addr.port()),
        ((IpAddr::V4(host), Protocol::S7), addr.port()),
    ]);
    let report = scan::run(
        config(p, vec![host.into()], ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    let probes = &report.hosts[0].probes;
    assert_eq!(probes[0].outcome, ProbeOutcome::Timeout);
    assert_eq!(probes[1].outcome, ProbeOutcome::CircuitOpen);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ledger.conns().len(), 1, "nothing after the breaker opened");
}

#[tokio::test]
async fn interrupted_then_resumed_equals_uninterrupted() {
    if !guard_open() {
        eprintln!("skipped interrupted_then_resumed: the ENIP guard has not landed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut ports = HashMap::new();
    let mut targets: Vec<IpAddr> = Vec::new();
    let mut ledgers = Vec::new();
    for h in 1..=10 {
        let a = ip(7, h);
        let (addr, l) = server(a, Behaviour::Answer("DEV")).await;
        ledgers.push(l);
        ports.insert((IpAddr::V4(a), Protocol::Enip), addr.port());
        targets.push(a.into());
    }
    let mut p = profile();
    // Slow enough to interrupt midway: one host at a time, 10 requests/s.
    p.pacing.hosts_in_flight = 1;
    p.pacing.max_rate = 10.0;
    p.pacing.burst = 1;

    // Uninterrupted.
    let full = scan::run(
        config(p.clone(), targets.clone(), ports.clone()),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    assert_eq!(full.status, ScanStatus::Complete);

    // Interrupted after the fourth host finished.
    let path = dir.path().join("scan.jsonl");
    let header = JournalHeader {
        format: JOURNAL_FORMAT.into(),
        version: 1,
        scan_id: "test-scan".into(),
        profile: "test".into(),
        profile_sha256: "00".repeat(32),
        started: chrono::Utc::now(),
        scope: vec!["127.23.7.1-10".into()],
        exclusions: vec![],
    };
    let handle = Journal::create(&path, &header).unwrap();
    let stop = StopSignal::new();
    let done = Arc::new(Mutex::new(0usize));
    let sink: scan::EventSink = {
        let stop = stop.clone();
        let done = Arc::clone(&done);
        Arc::new(move |e: &ScanEvent| {
            if let ScanEvent::HostFinished { .. } = e {
                let mut d = done.lock().unwrap();
                *d += 1;
                if *d == 4 {
                    stop.stop(StopReason::Interrupted);
                }
            }
        })
    };
    let mut cfg = config(p.clone(), targets.clone(), ports.clone());
    cfg.journal = handle.journal().cloned();
    let first = scan::run(cfg, sink, stop).await.unwrap();
    handle.finish().unwrap();
    assert_eq!(first.status, ScanStatus::Interrupted);
    let first_done = first
        .hosts
        .iter()
        .filter(|h| h.state == HostState::Done)
        .count();
    assert!(
        (4..10).contains(&first_done),
        "{first_done} hosts done before the stop"
    );

    // Resumed: skips what the journal holds, probes the rest.
    let resumed = journal::read(&path).unwrap();
    assert_eq!(resumed.done.len(), first_done);
    let handle = Journal::append_to(&path, resumed.torn_tail).unwrap();
    let mut cfg = config(p, targets, ports);
    cfg.journal = handle.journal().cloned();
    cfg.resumed = resumed.done;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let requests_seen = |ls: &[Ledger]| {
        ls.iter()
            .flat_map(|l| l.conns())
            .map(|c| c.requests.len())
            .sum::<usize>()
    };
    let before = requests_seen(&ledgers);
    let second = scan::run(cfg, scan::no_events(), StopSignal::new())
        .await
        .unwrap();
    handle.finish().unwrap();
    assert_eq!(second.status, ScanStatus::Complete);
    assert_eq!(second.resumed_hosts as usize, first_done);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        requests_seen(&ledgers) - before,
        10 - first_done,
        "done hosts were not probed again"
    );

    // Same hosts, same outcomes, same facts and raw bytes.
    let summary = |r: &scan::ScanReport| {
        r.hosts
            .iter()
            .map(|h| {
                let facts: Vec<_> = h
                    .probes
                    .iter()
                    .flat_map(|p| &p.observations)
                    .map(|o| (o.fact.clone(), o.raw_hex.clone()))
                    .collect();
                (
                    h.ip,
                    h.state,
                    h.probes.iter().map(|p| p.outcome).collect::<Vec<_>>(),
                    facts,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(summary(&second), summary(&full));
    assert_eq!(journal::read(&path).unwrap().done.len(), 10);
}

#[tokio::test]
async fn stop_halts_new_requests_within_a_second() {
    if !guard_open() {
        eprintln!("skipped stop_halts_new_requests: the ENIP guard has not landed");
        return;
    }
    let mut ports = HashMap::new();
    let mut targets: Vec<IpAddr> = Vec::new();
    let mut ledgers = Vec::new();
    for h in 1..=20 {
        let a = ip(8, h);
        let (addr, l) = server(a, Behaviour::Answer("DEV")).await;
        ports.insert((IpAddr::V4(a), Protocol::Enip), addr.port());
        targets.push(a.into());
        ledgers.push(l);
    }
    let mut p = profile();
    p.pacing.max_rate = 5.0;
    p.pacing.burst = 1;
    let stop = StopSignal::new();
    let s2 = stop.clone();
    let stopped_at = Arc::new(Mutex::new(None));
    let at = Arc::clone(&stopped_at);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        *at.lock().unwrap() = Some(Instant::now());
        s2.stop(StopReason::Interrupted);
    });
    let t0 = Instant::now();
    let report = scan::run(config(p, targets, ports), scan::no_events(), stop)
        .await
        .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(2), "stopped promptly");
    assert_eq!(report.status, ScanStatus::Interrupted);
    let stopped_at = stopped_at.lock().unwrap().unwrap();
    let late = ledgers
        .iter()
        .flat_map(|l| l.conns())
        .flat_map(|c| c.requests)
        .filter(|t| *t > stopped_at + Duration::from_millis(50))
        .count();
    assert_eq!(late, 0, "requests after the stop");
    assert!(
        report
            .hosts
            .iter()
            .any(|h| h.state == HostState::Interrupted)
    );
}

#[test]
fn torn_journal_tail_is_ignored_and_garbage_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let header = JournalHeader {
        format: JOURNAL_FORMAT.into(),
        version: 1,
        scan_id: "s".into(),
        profile: "test".into(),
        profile_sha256: "ab".into(),
        started: chrono::Utc::now(),
        scope: vec![],
        exclusions: vec![],
    };
    let h = Journal::create(&path, &header).unwrap();
    h.finish().unwrap();
    assert!(matches!(
        Journal::create(&path, &header),
        Err(journal::JournalError::Exists { .. })
    ));
    std::fs::write(
        &path,
        format!(
            "{}{{\"type\":\"host\",\"ho",
            std::fs::read_to_string(&path).unwrap()
        ),
    )
    .unwrap();
    let r = journal::read(&path).unwrap();
    assert!(r.torn_tail);
    assert!(r.done.is_empty());

    // Resumed after the crash, then stopped again: the journal must still resume.
    let h = Journal::append_to(&path, r.torn_tail).unwrap();
    let now = chrono::Utc::now();
    h.journal().unwrap().append(&journal::JournalLine::Host {
        host: scan::HostReport {
            ip: "127.23.7.9".parse().unwrap(),
            state: HostState::Done,
            started: now,
            finished: now,
            probes: vec![],
            left_alone: None,
            notes: vec![],
        },
    });
    h.finish().unwrap();
    let r = journal::read(&path).expect("a resumed journal resumes again");
    assert!(!r.torn_tail);
    assert_eq!(r.done.len(), 1);
    std::fs::write(&path, "not json\n{}\n").unwrap();
    let e = journal::read(&path).unwrap_err().to_string();
    assert!(e.contains("line 1"), "{e}");
}

/// Identifies on the first reply, then asks once more (as a session with a second
/// request, e.g. S7's SZL 0x001C after 0x0011, would).
#[derive(Debug)]
struct IdentifyThenAsk {
    inner: FakeEnip,
    asked_again: bool,
}

impl Session for IdentifyThenAsk {
    fn protocol(&self) -> Protocol {
        Protocol::Enip
    }
    fn on_connected(&mut self, now: std::time::Instant) -> Step {
        self.inner.on_connected(now)
    }
    fn on_bytes(&mut self, now: std::time::Instant, bytes: &[u8]) -> Step {
        match self.inner.on_bytes(now, bytes) {
            Step::Done if !self.asked_again => {
                self.asked_again = true;
                self.inner.got.clear();
                self.inner.deadline = Some(now + self.inner.timeout);
                Step::Send(list_identity())
            }
            step => step,
        }
    }
    fn on_timeout(&mut self, now: std::time::Instant) -> Step {
        self.inner.on_timeout(now)
    }
    fn on_connection_lost(&mut self, now: std::time::Instant, why: ConnectionLoss) -> Step {
        self.inner.on_connection_lost(now, why)
    }
    fn poll_timeout(&self) -> Option<std::time::Instant> {
        self.inner.poll_timeout()
    }
    fn take_findings(&mut self) -> Vec<Finding> {
        self.inner.take_findings()
    }
    fn identity_so_far(&self) -> Option<Identity> {
        self.inner.findings.iter().find_map(|f| match &f.fact {
            Fact::Identity { identity } => Some(identity.clone()),
            _ => None,
        })
    }
}

#[derive(Debug)]
struct TwoStep;

impl SessionFactory for TwoStep {
    fn session(
        &self,
        protocol: Protocol,
        _ip: IpAddr,
        _port: u16,
        _p: &Profile,
    ) -> Option<Box<dyn Session>> {
        (protocol == Protocol::Enip).then(|| {
            Box::new(IdentifyThenAsk {
                inner: FakeEnip {
                    timeout: Duration::from_millis(300),
                    ..FakeEnip::default()
                },
                asked_again: false,
            }) as Box<dyn Session>
        })
    }
}

/// A host whose probe was cut short by a stop after it gave a first identity is not
/// done: it must not be journaled as done (so `--resume` asks it again in full).
#[tokio::test]
async fn stop_after_a_partial_identity_leaves_the_host_interrupted() {
    if !guard_open() {
        return;
    }
    let a = ip(82, 1);
    let (addr, _ledger) = server(a, Behaviour::Answer("DEV1")).await;
    let ports = HashMap::from([((IpAddr::V4(a), Protocol::Enip), addr.port())]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let header = JournalHeader {
        format: JOURNAL_FORMAT.into(),
        version: 1,
        scan_id: "test-scan".into(),
        profile: "test".into(),
        profile_sha256: "00".repeat(32),
        started: chrono::Utc::now(),
        scope: vec![],
        exclusions: vec![],
    };
    let handle = Journal::create(&path, &header).unwrap();
    let stop = StopSignal::new();
    let sink: scan::EventSink = {
        let stop = stop.clone();
        Arc::new(move |e: &ScanEvent| {
            if let ScanEvent::Request { .. } = e {
                stop.stop(StopReason::Interrupted);
            }
        })
    };
    let mut cfg = config(profile(), vec![a.into()], ports);
    cfg.sessions = Arc::new(TwoStep);
    cfg.journal = handle.journal().cloned();
    let report = scan::run(cfg, sink, stop).await.unwrap();
    handle.finish().unwrap();
    assert_eq!(report.status, ScanStatus::Interrupted);
    assert_eq!(report.hosts.len(), 1);
    let h = &report.hosts[0];
    assert_eq!(h.probes[0].outcome, ProbeOutcome::Identified, "{h:?}");
    assert_eq!(h.state, HostState::Interrupted, "{h:?}");
    assert!(journal::read(&path).unwrap().done.is_empty());
}

/// The run being resumed may have died with a connection open: the resumed run waits
/// the profile's cool-down before its first connection.
#[test]
fn resume_holds_the_cooldown_before_the_first_connect() {
    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("j.jsonl");
    let out = dir.path().join("r.json");
    let listener = std::net::TcpListener::bind("127.23.84.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sets = [
        "enip.enabled=false".to_string(),
        "s7.enabled=false".to_string(),
        format!("modbus.port={port}"),
        "pacing.cooldown_ms=1500".to_string(),
        "pacing.response_timeout_ms=200".to_string(),
    ];
    // The lab profile without its vendor rules (their cool-downs are longer).
    let mut lab: toml::Table =
        toml::from_str(&otscout::profile::builtin("lab").unwrap().canonical_toml).unwrap();
    lab.insert("vendor_rules".into(), toml::Value::Array(Vec::new()));
    let profile_path = dir.path().join("norules.toml");
    std::fs::write(&profile_path, toml::to_string(&lab).unwrap()).unwrap();
    let profile_arg = profile_path.display().to_string();
    let loaded = otscout::profile::load_with_overrides(&profile_arg, &sets).unwrap();
    let header = JournalHeader {
        format: JOURNAL_FORMAT.into(),
        version: 1,
        scan_id: "s".into(),
        profile: loaded.profile.name.clone(),
        profile_sha256: loaded.sha256.clone(),
        started: chrono::Utc::now(),
        scope: vec!["127.23.84.1".into()],
        exclusions: vec![],
    };
    Journal::create(&journal_path, &header)
        .unwrap()
        .finish()
        .unwrap();
    let mut args: Vec<String> = ["scan", "127.23.84.1", "--profile", &profile_arg, "--quiet"]
        .map(String::from)
        .to_vec();
    for s in &sets {
        args.extend(["--set".to_string(), s.clone()]);
    }
    args.extend([
        "-o".to_string(),
        out.display().to_string(),
        "--resume".to_string(),
        journal_path.display().to_string(),
    ]);
    let started = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
        .args(&args)
        .spawn()
        .unwrap();
    let (conn, _) = listener.accept().unwrap();
    let connected_after = started.elapsed();
    drop(conn);
    let _ = child.wait();
    assert!(
        connected_after >= Duration::from_millis(1400),
        "first connection {connected_after:?} after the resume started"
    );
}

/// A vendor rule applies as soon as the device names itself, mid-session: the second
/// request to a device whose first answer matched a slow rule waits the rule's interval.
#[tokio::test]
async fn vendor_rule_slows_the_rest_of_the_session() {
    if !guard_open() {
        return;
    }
    let a = ip(85, 1);
    let (addr, ledger) = server(a, Behaviour::Answer("SLOWDEV")).await;
    let ports = HashMap::from([((IpAddr::V4(a), Protocol::Enip), addr.port())]);
    let mut p = profile();
    p.pacing.response_timeout_ms = 2000;
    p.vendor_rules = vec![VendorRule {
        matches: "slowdev".into(),
        skip_protocols: vec![],
        host_interval_ms: Some(700),
        cooldown_ms: None,
        note: "slow device".into(),
    }];
    let mut cfg = config(p, vec![a.into()], ports);
    cfg.sessions = Arc::new(TwoStep);
    let report = scan::run(cfg, scan::no_events(), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(report.status, ScanStatus::Complete);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let conns = ledger.conns();
    assert_eq!(conns.len(), 1, "{conns:?}");
    let r = &conns[0].requests;
    assert_eq!(r.len(), 2, "{conns:?}");
    let gap = r[1].duration_since(r[0]);
    assert!(
        gap >= Duration::from_millis(650),
        "second request after {gap:?}"
    );
}

/// A resume that forgets an exclusion of the first run is refused before anything is
/// sent: the excluded host it has not reached yet must stay untouched.
#[test]
fn resume_refuses_to_drop_an_exclusion() {
    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("j.jsonl");
    let out = dir.path().join("r.json");
    // The excluded host listens, so any connect to it would show.
    let listener = std::net::TcpListener::bind("127.23.81.5:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let sets = [
        "enip.enabled=false".to_string(),
        "s7.enabled=false".to_string(),
        format!("modbus.port={port}"),
    ];
    let loaded = otscout::profile::load_with_overrides("lab", &sets).unwrap();
    let header = JournalHeader {
        format: JOURNAL_FORMAT.into(),
        version: 1,
        scan_id: "s".into(),
        profile: loaded.profile.name.clone(),
        profile_sha256: loaded.sha256.clone(),
        started: chrono::Utc::now(),
        scope: vec!["127.23.81.4-6".into()],
        exclusions: vec!["127.23.81.5".into()],
    };
    Journal::create(&journal_path, &header)
        .unwrap()
        .finish()
        .unwrap();
    let mut args: Vec<String> = ["scan", "127.23.81.4-6", "--profile", "lab", "--quiet"]
        .map(String::from)
        .to_vec();
    for s in &sets {
        args.extend(["--set".to_string(), s.clone()]);
    }
    args.extend([
        "-o".to_string(),
        out.display().to_string(),
        "--resume".to_string(),
        journal_path.display().to_string(),
    ]);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("127.23.81.5") && stderr.contains("--exclude"),
        "{stderr}"
    );
    assert_eq!(
        listener.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "the excluded host was contacted"
    );
}

#[tokio::test]
async fn window_end_stops_with_window_ended() {
    let mut ports = HashMap::new();
    let mut targets: Vec<IpAddr> = Vec::new();
    let mut ledgers = Vec::new();
    for h in 1..=10 {
        let a = ip(9, h);
        let (addr, l) = server(a, Behaviour::Answer("DEVX")).await;
        ports.insert((IpAddr::V4(a), Protocol::Enip), addr.port());
        targets.push(a.into());
        ledgers.push(l);
    }
    let mut p = profile();
    p.pacing.max_rate = 5.0;
    p.pacing.burst = 1;
    let mut cfg = config(p, targets, ports);
    let deadline = chrono::Utc::now() + chrono::Duration::milliseconds(500);
    cfg.deadline = Some(deadline);
    let report = scan::run(cfg, scan::no_events(), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(report.status, ScanStatus::WindowEnded);
    assert!(
        report
            .hosts
            .iter()
            .filter(|h| h.state == HostState::Done)
            .count()
            < 10
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Nothing was sent after the end of the window (the server logs arrival times).
    let end = Instant::now()
        - (chrono::Utc::now() - deadline)
            .to_std()
            .unwrap_or(Duration::ZERO);
    let late = ledgers
        .iter()
        .flat_map(|l| l.conns())
        .flat_map(|c| c.requests)
        .filter(|t| *t > end + Duration::from_millis(50))
        .count();
    assert_eq!(late, 0, "requests after the window ended");
}

/// Asks List Identity `left` times in a row on one connection, one after each reply.
#[derive(Debug)]
struct Repeat {
    left: u32,
    got: usize,
}

impl Session for Repeat {
    fn protocol(&self) -> Protocol {
        Protocol::Enip
    }
    fn on_connected(&mut self, _now: std::time::Instant) -> Step {
        self.left -= 1;
        Step::Send(list_identity())
    }
    fn on_bytes(&mut self, _now: std::time::Instant, bytes: &[u8]) -> Step {
        self.got += bytes.len();
        if self.got < 4 {
            return Step::Wait;
        }
        self.got = 0;
        if self.left == 0 {
            return Step::Done;
        }
        self.left -= 1;
        Step::Send(list_identity())
    }
    fn on_timeout(&mut self, _now: std::time::Instant) -> Step {
        Step::Done
    }
    fn on_connection_lost(&mut self, _now: std::time::Instant, _why: ConnectionLoss) -> Step {
        Step::Done
    }
    fn poll_timeout(&self) -> Option<std::time::Instant> {
        None
    }
    fn take_findings(&mut self) -> Vec<Finding> {
        Vec::new()
    }
}

/// governor's belt behind the pacer binds on its own: with a pacer that would let four
/// requests go at once, a belt of 20 requests/s (burst 1) still spaces them 50 ms apart
/// on the wire. The scan builds both from one profile (the belt with one token of slack),
/// so this is the belt's only chance to show it holds the rate by itself.
#[tokio::test]
async fn governor_belt_holds_the_rate_by_itself() {
    use otscout::pace::edge::GlobalGate;
    use otscout::pace::{Limits, Pacer};
    use otscout::probe::driver::{self, DriverConfig, Endpoint, Pacing};
    use otscout::probe::gate::HostClock;

    if !guard_open() {
        eprintln!("skipped governor_belt: the ENIP guard has not landed");
        return;
    }
    let host = ip(12, 1);
    let (addr, ledger) = server(host, Behaviour::Answer("DEVX")).await;
    let mut pacing = profile().pacing;
    let permissive = Pacer::new(Limits {
        emission_interval: Duration::from_nanos(1),
        burst: 1000,
        host_interval: Duration::ZERO,
        ..Limits::from_pacing(&pacing)
    });
    pacing.max_rate = 20.0;
    pacing.burst = 1;
    let belt = GlobalGate::new(&pacing);
    let pacer = Mutex::new(permissive);
    let mut clock = HostClock::new(Duration::ZERO, Duration::ZERO);
    let mut session = Repeat { left: 4, got: 0 };
    let report = driver::drive(
        &mut session,
        Endpoint {
            addr,
            transport: otscout::inventory::Transport::Tcp,
        },
        &DriverConfig {
            connect_timeout: Duration::from_millis(500),
            response_timeout: Duration::from_millis(500),
            close_timeout: Duration::from_millis(200),
        },
        Pacing {
            pacer: &pacer,
            gate: Some(&belt),
            host: IpAddr::V4(host),
            extra: &mut clock,
            rules: None,
        },
        &StopSignal::new(),
        &|_| {},
    )
    .await;
    assert_eq!(report.sent.len(), 4, "{report:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let conns = ledger.conns();
    assert_eq!(conns.len(), 1);
    let times = &conns[0].requests;
    assert_eq!(times.len(), 4);
    // 50 ms per token; the margins absorb the server's read times under load (without
    // the belt the four requests arrive about 1 ms apart).
    let span = times[3] - times[0];
    assert!(
        span >= Duration::from_millis(130),
        "four requests within {span:?} under a 20/s belt"
    );
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(25),
            "two requests {gap:?} apart under a 20/s belt"
        );
    }
}

/// A resume over other targets than the journal's is refused before anything is sent,
/// naming both scopes (it used to finish `complete` with scope [the new target], the
/// first run's hosts, and the rest of both scopes never scanned).
#[test]
fn resume_refuses_other_targets() {
    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("j.jsonl");
    let out = dir.path().join("r.json");
    // The new target listens, so any connect to it would show.
    let listener = std::net::TcpListener::bind("127.23.86.50:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let sets = [
        "enip.enabled=false".to_string(),
        "s7.enabled=false".to_string(),
        format!("modbus.port={port}"),
    ];
    let loaded = otscout::profile::load_with_overrides("lab", &sets).unwrap();
    let header = JournalHeader {
        format: JOURNAL_FORMAT.into(),
        version: 1,
        scan_id: "s".into(),
        profile: loaded.profile.name.clone(),
        profile_sha256: loaded.sha256.clone(),
        started: chrono::Utc::now(),
        scope: vec!["127.23.86.10-20".into()],
        exclusions: vec![],
    };
    Journal::create(&journal_path, &header)
        .unwrap()
        .finish()
        .unwrap();
    let mut args: Vec<String> = ["scan", "127.23.86.50", "--profile", "lab", "--quiet"]
        .map(String::from)
        .to_vec();
    for s in &sets {
        args.extend(["--set".to_string(), s.clone()]);
    }
    args.extend([
        "-o".to_string(),
        out.display().to_string(),
        "--resume".to_string(),
        journal_path.display().to_string(),
    ]);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("127.23.86.10-20") && stderr.contains("127.23.86.50"),
        "both scopes named: {stderr}"
    );
    assert!(!out.exists(), "a result was written");
    assert_eq!(
        listener.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "the new target was contacted"
    );
}
