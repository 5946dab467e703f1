//! The scan against the bundled simulators, in process, on 127.x addresses: the demo
//! plant identified field by field, and the plant's own ledger as the witness of what we
//! sent (only identity requests, one connection per device at a time, the cool-down,
//! the per-host interval and the global rate over sliding windows, no trips).
//!
//! The simulators are an independent server-side implementation; these tests do not
//! count as protocol validation on their own (the capture tests in tests/it/{enip,modbus,
//! s7}.rs do that), they check the scan's discipline end to end.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use otscout::inventory::{Fact, Identity, Protocol};
use otscout::probe::scan::{
    self, BuiltinSessions, ProbeOutcome, ScanConfig, ScanReport, ScanStatus, StopSignal, Targets,
};
use otscout::profile::{EnipTransport, Profile};
use otscout_sim::{EventKind, LedgerEvent, Plant, PortOverride, RunningPlant, StartOptions};

fn demo_plant() -> Plant {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/simulators/plants/demo.toml");
    Plant::load(path).expect("load the demo plant")
}

pub(super) async fn start(plant: Plant) -> RunningPlant {
    otscout_sim::start(
        plant,
        StartOptions {
            ports: PortOverride::Ephemeral,
            ledger_sink: None,
        },
    )
    .await
    .expect("start the plant")
}

/// Each device's ephemeral ports; a protocol a device does not serve is pointed at port 1
/// (nothing listens there), so the scan never touches a standard port of another test's
/// plant on the same address.
fn ports_of(plant: &RunningPlant) -> HashMap<(IpAddr, Protocol), u16> {
    let mut m = HashMap::new();
    for d in plant.devices() {
        let ip = IpAddr::V4(d.address);
        m.insert((ip, Protocol::Modbus), d.modbus.map_or(1, |a| a.port()));
        m.insert((ip, Protocol::Enip), d.enip_tcp.map_or(1, |a| a.port()));
        m.insert((ip, Protocol::S7), d.s7.map_or(1, |a| a.port()));
        m.insert((ip, Protocol::Bacnet), d.bacnet.map_or(1, |a| a.port()));
        m.insert((ip, Protocol::Opcua), d.opcua.map_or(1, |a| a.port()));
        m.insert((ip, Protocol::Fins), d.fins_udp.map_or(1, |a| a.port()));
        m.insert((ip, Protocol::Fox), d.fox.map_or(1, |a| a.port()));
    }
    m
}

/// `lab` with every protocol on, slowed to a rate worth checking.
pub(super) fn profile() -> Profile {
    let mut p = otscout::profile::builtin("lab")
        .expect("built-in lab")
        .profile;
    p.pacing.max_rate = 200.0;
    p.pacing.burst = 5;
    p.pacing.hosts_in_flight = 32;
    p.pacing.host_interval_ms = 10;
    p.pacing.cooldown_ms = 100;
    p.pacing.response_timeout_ms = 400;
    p.pacing.connect_timeout_ms = 500;
    p.modbus.enabled = true;
    p.modbus.unit_ids = vec![1, 255];
    p.modbus.allow_other_unit_ids = true;
    p.enip.enabled = true;
    p.enip.transport = EnipTransport::Tcp;
    p.s7.enabled = true;
    p
}

pub(super) fn config(
    p: Profile,
    targets: Vec<IpAddr>,
    ports: HashMap<(IpAddr, Protocol), u16>,
) -> ScanConfig {
    ScanConfig {
        scan_id: "plant-test".into(),
        profile_sha256: p.sha256(),
        profile: p,
        targets: Targets::list(targets),
        exclusions: vec![],
        scope: None,
        ports,
        deadline: None,
        journal: None,
        resumed: BTreeMap::new(),
        sessions: Arc::new(BuiltinSessions),
        close_timeout: Duration::from_millis(300),
        passive: None,
    }
}

fn identities(report: &ScanReport, ip: &str) -> Vec<Identity> {
    let ip: IpAddr = ip.parse().unwrap();
    report
        .hosts
        .iter()
        .find(|h| h.ip == ip)
        .unwrap_or_else(|| panic!("{ip} not in the report"))
        .identities()
        .cloned()
        .collect()
}

fn outcome(report: &ScanReport, ip: &str, protocol: Protocol) -> ProbeOutcome {
    let ip: IpAddr = ip.parse().unwrap();
    let h = report.hosts.iter().find(|h| h.ip == ip).unwrap();
    h.probes
        .iter()
        .find(|p| p.protocol == protocol)
        .unwrap_or_else(|| panic!("{ip}: no {protocol:?} probe"))
        .outcome
}

/// One device's connections as (opened, closed) and its request times.
type Activity = (Vec<(Duration, Duration)>, Vec<Duration>);

/// Per device: the connections as (opened, closed) and the request times.
fn per_device(events: &[LedgerEvent]) -> BTreeMap<String, Activity> {
    let mut opened: HashMap<u64, (String, Duration)> = HashMap::new();
    let mut out: BTreeMap<String, Activity> = BTreeMap::new();
    for e in events {
        let entry = out.entry(e.device.clone()).or_default();
        match &e.kind {
            EventKind::Opened => {
                opened.insert(e.conn, (e.device.clone(), e.at));
            }
            EventKind::Closed { .. } => {
                if let Some((_, at)) = opened.remove(&e.conn) {
                    entry.0.push((at, e.at));
                }
            }
            EventKind::Request { .. } => entry.1.push(e.at),
            _ => {}
        }
    }
    assert!(opened.is_empty(), "connections never closed: {opened:?}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_plant_identified_within_the_rules() {
    let plant = start(demo_plant()).await;
    let excluded_plant = start(
        Plant::from_toml_str(
            r#"
            [[device]]
            name = "excluded"
            address = "127.23.60.1"
            [device.modbus]
            port = 0
            identity = { vendor_name = "Never", product_code = "Touched", revision = "0" }
            "#,
        )
        .unwrap(),
    )
    .await;
    let mut ports = ports_of(&plant);
    ports.extend(ports_of(&excluded_plant));
    let mut targets: Vec<IpAddr> = plant
        .devices()
        .iter()
        .map(|d| IpAddr::V4(d.address))
        .collect();
    targets.push("127.23.60.1".parse().unwrap());
    let mut p = profile();
    // The demo plant's BACnet, OPC UA, FINS (UDP) and Fox devices.
    p.bacnet.enabled = true;
    p.opcua.enabled = true;
    p.fins.enabled = true;
    p.fox.enabled = true;
    let mut cfg = config(p.clone(), targets, ports);
    cfg.exclusions = vec!["127.23.60.1/32".parse().unwrap()];

    let report = scan::run(cfg, scan::no_events(), StopSignal::new())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = plant.ledger();
    let excluded_events = excluded_plant.ledger();
    plant.shutdown().await;
    excluded_plant.shutdown().await;

    assert_eq!(report.status, ScanStatus::Complete);
    assert_eq!(report.skipped.len(), 1, "the excluded address was skipped");
    assert!(
        excluded_events.is_empty(),
        "the excluded address received {excluded_events:?}"
    );

    // --- Identities, field by field (values from shared/captures/INDEX.md where the
    // device is a capture's).
    let et200 = identities(&report, "127.77.0.11");
    let Some(Identity::S7(s)) = et200.first() else {
        panic!("et200s: {et200:?}")
    };
    assert_eq!(
        s.order_number.as_deref().map(str::trim),
        Some("6ES7 151-8AB01-0AB0")
    );
    assert_eq!(s.firmware.as_deref(), Some("V3.2.6"));
    assert_eq!(s.as_name.as_deref(), Some("IM151-8-CPU"));
    assert_eq!(s.module_name.as_deref(), Some("IM151-8 PN/DP CPU"));
    assert_eq!(s.copyright.as_deref(), Some("Original Siemens Equipment"));
    assert_eq!(s.serial.as_deref(), Some("S C-C6TW74882012"));
    assert_eq!(s.module_type.as_deref(), Some("IM151-8 PN/DP CPU"));
    assert_eq!(s.memory_card_serial.as_deref(), Some("MMC 2900FC1A"));
    assert_eq!(s.tsap, Some(0x0102));

    let snap7 = identities(&report, "127.77.0.12");
    let Some(Identity::S7(s)) = snap7.first() else {
        panic!("snap7: {snap7:?}")
    };
    assert_eq!(
        s.order_number.as_deref().map(str::trim),
        Some("6ES7 315-2EH14-0AB0")
    );
    assert_eq!(s.as_name.as_deref(), Some("SNAP7-SERVER"));
    assert_eq!(s.module_name.as_deref(), Some("CPU 315-2 PN/DP"));
    assert_eq!(s.serial.as_deref(), Some("S C-C2UR28922012"));

    let enbt = identities(&report, "127.77.0.21");
    let Some(Identity::Enip(e)) = enbt.first() else {
        panic!("enbt: {enbt:?}")
    };
    assert_eq!(
        (
            e.vendor_id,
            e.device_type,
            e.product_code,
            e.revision_major,
            e.revision_minor
        ),
        (1, 12, 58, 4, 3)
    );
    assert_eq!(
        (e.status, e.serial, e.state),
        (0x0030, 0x0052_4d8e, Some(3))
    );
    assert_eq!(e.product_name, "1756-ENBT/A");
    // Vendor rule: an ENIP-identified Rockwell device is not sent S7.
    assert_eq!(
        outcome(&report, "127.77.0.21", Protocol::S7),
        ProbeOutcome::SkippedByRule
    );

    let zeek = identities(&report, "127.77.0.31");
    let Some(Identity::Modbus(m)) = zeek.first() else {
        panic!("zeek: {zeek:?}")
    };
    assert_eq!(m.unit_id, 1);
    assert_eq!(m.conformity_level, Some(0x83));
    assert_eq!(
        m.objects.get(&0).map(String::as_str),
        Some("Zeek Modbus Test")
    );
    assert_eq!(
        m.objects.get(&1).map(String::as_str),
        Some("Protocol Parsing is fun!")
    );
    assert_eq!(m.objects.get(&2).map(String::as_str), Some("1.2.3.6"));

    // Read code 1 paged with "more follows".
    let long = identities(&report, "127.77.0.33");
    let Some(Identity::Modbus(m)) = long.first() else {
        panic!("longid: {long:?}")
    };
    assert!(
        m.objects
            .get(&0)
            .is_some_and(|v| v.starts_with("PeerLab Long Vendor Name"))
    );
    assert!(
        m.objects.contains_key(&2),
        "object 2 came in the second page: {m:?}"
    );

    // Both protocols of a dual-stack device.
    let m580 = identities(&report, "127.77.0.35");
    assert!(m580.iter().any(
        |i| matches!(i, Identity::Enip(e) if e.vendor_id == 243 && e.product_name == "BMEP582040")
    ));
    assert!(m580.iter().any(|i| matches!(i, Identity::Modbus(m) if m.objects.get(&4).map(String::as_str) == Some("Modicon M580"))));

    // ENIP status 0x0001 is a negative answer, not an error.
    assert_eq!(
        outcome(&report, "127.77.0.25", Protocol::Enip),
        ProbeOutcome::Negative
    );

    // The gateway: unit 1 behind it answers.
    let gw = identities(&report, "127.77.0.38");
    assert!(gw.iter().any(|i| matches!(i, Identity::Modbus(m) if m.unit_id == 1 && m.objects.get(&1).map(String::as_str) == Some("ATV320"))), "{gw:?}");

    // The hanging device times out; the scan still finished.
    assert_eq!(
        outcome(&report, "127.77.0.39", Protocol::Modbus),
        ProbeOutcome::Timeout
    );
    assert_eq!(report.errored_hosts(), 1, "only the hanging device errored");

    // Every device that speaks a protocol otscout asks was identified or answered.
    for d in &report.hosts {
        let ok = d.identified()
            || d.probes.iter().any(|p| p.outcome == ProbeOutcome::Negative)
            || d.ip == "127.77.0.39".parse::<IpAddr>().unwrap();
        assert!(
            ok,
            "{} neither identified nor answered: {:?}",
            d.ip, d.probes
        );
    }

    // --- What the plant saw.
    for e in &events {
        if let EventKind::Request {
            function, identity, ..
        } = &e.kind
        {
            assert!(identity, "{}: non-identity request {function}", e.device);
        }
        assert!(
            !matches!(e.kind, EventKind::Tripped { .. }),
            "{} tripped: {e:?}",
            e.device
        );
    }
    let cooldown = Duration::from_millis(p.pacing.cooldown_ms);
    let interval = Duration::from_millis(p.pacing.host_interval_ms);
    let slack = Duration::from_millis(5);
    for (device, (mut conns, mut requests)) in per_device(&events) {
        conns.sort();
        for w in conns.windows(2) {
            assert!(w[1].0 >= w[0].1, "{device}: two connections at once: {w:?}");
            assert!(
                w[1].0 + slack >= w[0].1 + cooldown,
                "{device}: cool-down not kept: {w:?}"
            );
        }
        requests.sort();
        for w in requests.windows(2) {
            assert!(
                w[1] + slack >= w[0] + interval,
                "{device}: requests closer than the host interval: {w:?}"
            );
        }
    }
    let mut all: Vec<Duration> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Request { .. }))
        .map(|e| e.at)
        .collect();
    all.sort();
    // A datagram to port 1 (a BACnet or FINS probe of a device that does not serve it)
    // is sent and counted, and answered by an ICMP port unreachable: no device sees it.
    let to_devices: u64 = report
        .hosts
        .iter()
        .flat_map(|h| &h.probes)
        .filter(|p| p.port != 1)
        .flat_map(|p| &p.requests)
        .map(|r| r.count)
        .sum();
    assert_eq!(
        all.len() as u64,
        to_devices,
        "the plant saw exactly what we counted"
    );
    for window in [
        Duration::from_millis(100),
        Duration::from_millis(500),
        Duration::from_secs(1),
    ] {
        let allowed = p.pacing.burst as f64 + p.pacing.max_rate * window.as_secs_f64() + 1.0;
        for (i, t) in all.iter().enumerate() {
            let n = all[i..].iter().take_while(|u| **u < *t + window).count();
            assert!(
                n as f64 <= allowed,
                "{n} requests within {window:?} (allowed {allowed})"
            );
        }
    }
}

/// The dry run is what is sent: every request kind a probe sent is in its protocol's plan
/// (as a request or a capped follow-up), no more often than the plan allows, and each
/// host's probes ran in the plan's order. (The plan once listed Modbus before ENIP and
/// left out the COTP DR every S7 connection ends with and the follow-ups of fragmented
/// SZL answers, which the demo plant's ET 200S sends.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_sent_is_in_the_plan_in_its_order() {
    let plant = start(demo_plant()).await;
    let ports = ports_of(&plant);
    let targets: Vec<IpAddr> = plant
        .devices()
        .iter()
        .map(|d| IpAddr::V4(d.address))
        .collect();
    let p = profile();
    let report = scan::run(
        config(p.clone(), targets, ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    plant.shutdown().await;
    assert_eq!(report.status, ScanStatus::Complete);

    let plans = otscout::plan::probe_plans(&p);
    let order: Vec<Protocol> = plans.iter().map(|pp| pp.protocol).collect();
    let mut sent_any = 0;
    for host in &report.hosts {
        let ran: Vec<Protocol> = host.probes.iter().map(|pr| pr.protocol).collect();
        assert_eq!(ran, order, "{}: probes out of the plan's order", host.ip);
        for probe in &host.probes {
            let plan = plans
                .iter()
                .find(|pp| pp.protocol == probe.protocol)
                .unwrap();
            for tally in &probe.requests {
                let planned: usize = plan
                    .connections
                    .iter()
                    .map(|c| {
                        c.requests.iter().filter(|r| r.kind() == tally.kind).count()
                            + c.follow_ups
                                .iter()
                                .filter(|f| f.request.kind() == tally.kind)
                                .map(|f| f.at_most)
                                .sum::<usize>()
                    })
                    .sum();
                let planned = planned as u64;
                assert!(
                    tally.count <= planned,
                    "{} {:?}: sent {} x {}, the plan lists {planned}",
                    host.ip,
                    probe.protocol,
                    tally.count,
                    tally.kind
                );
                sent_any += tally.count;
            }
        }
    }
    assert!(sent_any > 0, "the scan sent nothing");
    let kinds: std::collections::BTreeSet<&str> = report
        .hosts
        .iter()
        .flat_map(|h| &h.probes)
        .flat_map(|pr| &pr.requests)
        .map(|t| t.kind.as_str())
        .collect();
    assert!(kinds.contains("cotp.disconnect"), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_units_behind_it() {
    let plant = start(demo_plant()).await;
    let gw = plant.device("rtu-gateway").unwrap().clone();
    let ip = IpAddr::V4(gw.address);
    let mut p = profile();
    p.enip.enabled = false;
    p.s7.enabled = false;
    // Unit 3 is configured but dead (exception 0x0B): the next unit id is tried.
    p.modbus.unit_ids = vec![3, 2];
    let ports = HashMap::from([((ip, Protocol::Modbus), gw.modbus.unwrap().port())]);
    let report = scan::run(
        config(p, vec![ip], ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    plant.shutdown().await;
    let ids = identities(&report, &ip.to_string());
    assert!(ids.iter().any(|i| matches!(i, Identity::Modbus(m) if m.unit_id == 2 && m.objects.get(&0).map(String::as_str) == Some("Eaton"))), "{ids:?}");
    let facts: Vec<&Fact> = report.hosts[0].probes[0]
        .observations
        .iter()
        .map(|o| &o.fact)
        .collect();
    assert!(
        facts.iter().any(|f| matches!(f, Fact::Negative { .. })),
        "unit 3's 0x0B recorded: {facts:?}"
    );
}

/// A device that speaks only the protocol tried last refuses the first two connects.
/// Refusals are answers, not failures: with the `fragile` profile's breaker (two
/// consecutive failures) the third protocol is still tried and the device identified, and
/// the refused connects hold only the per-host interval, not the cool-down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_ports_neither_trip_the_breaker_nor_hold_the_cooldown() {
    let plant = start(demo_plant()).await;
    let cpu = plant.device("s7-1200-press").unwrap().clone();
    let ip = IpAddr::V4(cpu.address);
    let fragile = otscout::profile::builtin("fragile")
        .expect("built-in fragile")
        .profile;
    let mut p = profile();
    p.pacing.breaker_failures = fragile.pacing.breaker_failures;
    assert_eq!(
        p.pacing.breaker_failures, 2,
        "the fragile breaker this test is about"
    );
    p.pacing.cooldown_ms = 5_000;
    p.vendor_rules.clear();
    let ports = HashMap::from([
        ((ip, Protocol::Modbus), 1),
        ((ip, Protocol::Enip), 1),
        ((ip, Protocol::S7), cpu.s7.unwrap().port()),
    ]);
    let started = Instant::now();
    let report = scan::run(
        config(p, vec![ip], ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    let took = started.elapsed();
    plant.shutdown().await;
    let host = ip.to_string();
    assert_eq!(
        outcome(&report, &host, Protocol::Enip),
        ProbeOutcome::Refused
    );
    assert_eq!(
        outcome(&report, &host, Protocol::Modbus),
        ProbeOutcome::Refused
    );
    assert_eq!(
        outcome(&report, &host, Protocol::S7),
        ProbeOutcome::Identified
    );
    assert!(report.hosts[0].identified());
    // Two refusals under a 5 s cool-down: held, they would take 10 s. This is a bound
    // on a policy, not a speed target.
    assert!(
        took < Duration::from_secs(5),
        "refused connects held the cool-down: {took:?}"
    );
}

/// `otscout scan` end to end: the binary scans one simulated device, writes the result
/// and the journal, and exits 0; outside its window it refuses to start (exit 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_scan_writes_result_and_journal() {
    let plant = start(
        Plant::from_toml_str(
            r#"
            [[device]]
            name = "cli-plc"
            address = "127.23.70.1"
            [device.modbus]
            port = 0
            unit_ids = [255]
            identity = { vendor_name = "Acme", product_code = "X1", revision = "1.0" }
            "#,
        )
        .unwrap(),
    )
    .await;
    let port = plant.devices()[0].modbus.unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("scan.json");
    let bin = env!("CARGO_BIN_EXE_otscout");
    let args = [
        "scan".to_string(),
        "127.23.70.1".into(),
        "--profile".into(),
        "lab".into(),
        "--set".into(),
        format!("modbus.port={port}"),
        "--set".into(),
        "enip.enabled=false".into(),
        "--set".into(),
        "s7.enabled=false".into(),
        "-o".into(),
        out.display().to_string(),
        "--quiet".into(),
    ];
    let run = run_bin(bin, &args).await;
    let events = plant.ledger();
    plant.shutdown().await;
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let result: otscout::inventory::scan::ScanResult =
        serde_json::from_slice(&std::fs::read(&out).unwrap()).expect("a ScanResult");
    assert_eq!(
        result.scan.status,
        otscout::inventory::scan::ScanStatus::Complete
    );
    assert_eq!(result.scan.profile, "lab");
    let ip: IpAddr = "127.23.70.1".parse().unwrap();
    let sent = &result.scan.ledger[&ip]["modbus.read_device_id"];
    let seen = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Request { .. }))
        .count();
    assert_eq!(
        sent.count as usize, seen,
        "the ledger counts what the device saw"
    );
    assert!(result.observations.iter().any(|o| matches!(&o.fact,
        Fact::Identity { identity: Identity::Modbus(m) } if m.objects.get(&0).map(String::as_str) == Some("Acme"))));
    assert!(
        result
            .observations
            .iter()
            .all(|o| o.raw_hex.is_some() || !matches!(o.fact, Fact::Identity { .. }))
    );
    let hosts: BTreeMap<IpAddr, &otscout::cli::scan_result::HostOutcome> =
        result.scan.host_records().collect();
    assert_eq!(hosts[&ip].state, otscout::probe::scan::HostState::Done);
    assert_eq!(
        hosts[&ip].probes[0].outcome,
        otscout::probe::scan::ProbeOutcome::Identified
    );
    let journal = std::fs::read_to_string(dir.path().join("scan.json.journal.jsonl")).unwrap();
    assert!(
        journal
            .lines()
            .next()
            .unwrap()
            .contains("otscout-scan-journal")
    );
    assert!(journal.lines().any(|l| l.contains("\"type\":\"host\"")));

    // Outside the window: refused before anything is sent.
    let now = chrono::Local::now();
    let window = format!(
        "{}-{}",
        (now + chrono::Duration::hours(2)).format("%H:%M"),
        (now + chrono::Duration::hours(3)).format("%H:%M")
    );
    let mut late = args.to_vec();
    late[11] = dir.path().join("late.json").display().to_string();
    late.extend(["--window".into(), window]);
    let run = run_bin(bin, &late).await;
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("outside the maintenance window"));
    assert!(!dir.path().join("late.json").exists());
}

pub(super) async fn run_bin(bin: &'static str, args: &[String]) -> std::process::Output {
    let args = args.to_vec();
    tokio::task::spawn_blocking(move || std::process::Command::new(bin).args(&args).output())
        .await
        .unwrap()
        .expect("run otscout")
}

/// Ctrl-C on `otscout scan`: exit 3 with an `interrupted` result and an intact journal;
/// `--resume` finishes the job without asking finished hosts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_interrupt_then_resume() {
    let mut toml = String::new();
    for i in 1..=6 {
        toml.push_str(&format!(
            "[[device]]\nname = \"plc{i}\"\naddress = \"127.23.80.{i}\"\n[device.modbus]\nport = 502\nunit_ids = [255]\nidentity = {{ vendor_name = \"Acme\", product_code = \"P{i}\", revision = \"1.0\" }}\n"
        ));
    }
    // Port = base + 502 on these addresses of this test's own.
    let plant = crate::support::start_on_a_base(&Plant::from_toml_str(&toml).unwrap(), 31000).await;
    let port = plant.devices()[0].modbus.unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let journal = dir.path().join("r.json.journal.jsonl");
    let mut args: Vec<String> = [
        "scan",
        "127.23.80.1-6",
        "--profile",
        "lab",
        "--set",
        "enip.enabled=false",
        "--set",
        "s7.enabled=false",
        "--set",
        "pacing.max_rate=3",
        "--set",
        "pacing.burst=1",
        "--set",
        "pacing.hosts_in_flight=1",
        "--quiet",
        "-o",
    ]
    .map(String::from)
    .to_vec();
    args.push(out.display().to_string());
    args.extend(["--set".to_string(), format!("modbus.port={port}")]);

    let bin = env!("CARGO_BIN_EXE_otscout");
    let first = {
        let args = args.clone();
        let ledger = plant.ledger_handle();
        tokio::task::spawn_blocking(move || {
            let child = std::process::Command::new(bin)
                .args(&args)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn otscout");
            // Interrupt once the first host is done (its two requests and one more).
            let waited = Instant::now();
            while ledger
                .snapshot()
                .iter()
                .filter(|e| matches!(e.kind, EventKind::Request { .. }))
                .count()
                < 3
                && waited.elapsed() < Duration::from_secs(20)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            let pid = child.id().to_string();
            let sent = Instant::now();
            std::process::Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .expect("send SIGINT to our own child");
            let o = child.wait_with_output().expect("wait");
            (o, sent.elapsed())
        })
        .await
        .unwrap()
    };
    let (o, took) = first;
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        took < Duration::from_secs(2),
        "stopped {took:?} after SIGINT"
    );
    let r: otscout::inventory::scan::ScanResult =
        serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        r.scan.status,
        otscout::inventory::scan::ScanStatus::Interrupted
    );
    let done_first = otscout::probe::journal::read(&journal).unwrap().done.len();
    assert!(
        (1..6).contains(&done_first),
        "{done_first} hosts done before SIGINT"
    );

    args.extend(["--resume".to_string(), journal.display().to_string()]);
    let o = run_bin(bin, &args).await;
    let events = plant.ledger();
    plant.shutdown().await;
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r: otscout::inventory::scan::ScanResult =
        serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        r.scan.status,
        otscout::inventory::scan::ScanStatus::Complete
    );
    let identified: Vec<IpAddr> = r
        .observations
        .iter()
        .filter(|o| matches!(o.fact, Fact::Identity { .. }))
        .map(|o| o.ip)
        .collect();
    assert_eq!(
        identified.len(),
        6,
        "every device identified once: {identified:?}"
    );
    // Finished hosts were not asked again; at most the one cut off mid-way was.
    let mut per_device: BTreeMap<String, usize> = BTreeMap::new();
    for e in &events {
        if matches!(e.kind, EventKind::Request { .. }) {
            *per_device.entry(e.device.clone()).or_default() += 1;
        }
    }
    let asked_twice = per_device.values().filter(|n| **n > 2).count();
    assert!(asked_twice <= 1, "{per_device:?}");
}

/// A plant stopped right after a scan starts again at once on the same addresses and
/// ports, although the devices closed the scan's connections first (every device here
/// closes after each reply), so those connections sit in TIME-WAIT on the plant's own
/// ports: the listeners set SO_REUSEADDR, as servers do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plant_restarted_right_after_a_scan_binds_again() {
    let mut plant = otscout_sim::generate::generate(12, "127.166.0.0/24", 9).expect("generate");
    for d in &mut plant.devices {
        d.behaviour.close_after = Some(1);
    }
    let first = start(plant.clone()).await;
    let ports = ports_of(&first);
    let targets: Vec<IpAddr> = first
        .devices()
        .iter()
        .map(|d| IpAddr::V4(d.address))
        .collect();
    // The same plant, pinned to the ports the first run was given.
    for (d, bound) in plant.devices.iter_mut().zip(first.devices()) {
        if let (Some(m), Some(a)) = (d.modbus.as_mut(), bound.modbus) {
            m.port = a.port();
        }
        if let (Some(e), Some(a)) = (d.enip.as_mut(), bound.enip_tcp) {
            e.port = a.port();
            // The UDP socket took the same port as TCP where it was free; keep it off
            // here, a UDP port has no TIME-WAIT to test.
            e.udp = false;
        }
        if let (Some(s), Some(a)) = (d.s7.as_mut(), bound.s7) {
            s.port = a.port();
        }
    }
    let report = scan::run(
        config(profile(), targets.clone(), ports.clone()),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .expect("scan");
    let identified = report.identified_hosts();
    assert!(identified > 0, "the scan identified devices");
    first.shutdown().await;
    let waiting = time_wait_on(&plant);
    assert!(
        waiting > 0,
        "the devices closed first, so their side of the connections waits in TIME-WAIT"
    );
    let again = otscout_sim::start(
        plant,
        StartOptions {
            ports: PortOverride::AsConfigured,
            ledger_sink: None,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("restart with {waiting} connections in TIME-WAIT: {e}"));
    let report = scan::run(
        config(profile(), targets, ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .expect("scan");
    assert_eq!(
        report.identified_hosts(),
        identified,
        "the restarted plant answers as before"
    );
    again.shutdown().await;
}

/// TCP sockets in TIME-WAIT whose local end is one of the plant's listening addresses
/// (Linux `/proc/net/tcp`: state 06, addresses as hex of the in-memory IPv4 word).
fn time_wait_on(plant: &Plant) -> usize {
    let mut ends = std::collections::HashSet::new();
    for d in &plant.devices {
        for port in [
            d.modbus.as_ref().map(|m| m.port),
            d.enip.as_ref().map(|e| e.port),
            d.s7.as_ref().map(|s| s.port),
        ]
        .into_iter()
        .flatten()
        {
            let ip = u32::from_le_bytes(d.address.octets());
            ends.insert(format!("{ip:08X}:{port:04X}"));
        }
    }
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[3] == "06" && ends.contains(f[1])
        })
        .count()
}

/// Counts the driver's waits on the global rate (trace events of target
/// `otscout::pace::global`, one each time a host goes to sleep until the bucket's next
/// token).
struct GlobalWaits(Arc<std::sync::atomic::AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for GlobalWaits {
    fn on_event(&self, e: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if e.metadata().target() == "otscout::pace::global" {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// When the global rate is the limit, hosts wait for it in line: each token wakes the
/// host at the head of the line, so the scan sleeps on the bucket about once per request.
/// Before the line every waiting host slept until the same instant, woke, asked the
/// Pacer, and all but one slept again (measured: 1,261 waits for 108 requests, against
/// 101 with the line).
/// One thread (the scan, its tasks and the plant), so the counting subscriber sees every
/// host's task.
#[tokio::test(flavor = "current_thread")]
async fn hosts_held_back_by_the_global_rate_wait_in_line_not_in_a_herd() {
    use tracing_subscriber::layer::SubscriberExt;
    let plant = otscout_sim::generate::generate(32, "127.168.0.0/24", 4).expect("generate");
    let running = start(plant).await;
    let ports = ports_of(&running);
    let targets: Vec<IpAddr> = running
        .devices()
        .iter()
        .map(|d| IpAddr::V4(d.address))
        .collect();
    let waits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(GlobalWaits(waits.clone()));
    let guard = tracing::subscriber::set_default(subscriber);
    // 32 hosts in flight at 200 requests/s, burst 5: the global rate is the limit.
    let report = scan::run(
        config(profile(), targets, ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .expect("scan");
    drop(guard);
    running.shutdown().await;
    let requests = report.requests() as usize;
    let waits = waits.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(report.identified_hosts(), 32);
    assert!(requests > 60, "{requests} requests");
    assert!(
        waits <= 2 * requests,
        "{waits} waits on the global rate for {requests} requests"
    );
}
