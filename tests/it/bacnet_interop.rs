//! BACnet/IP interop with bacpypes3 0.0.110 (pinned in .ci/run), on loopback:
//! - otscout's BACnet session, driven over a real UDP socket, identifies a bacpypes3
//!   device exactly. bacpypes3 answers the wildcard instance 4194303 with Error
//!   object/unknown-object (to ReadProperty and ReadPropertyMultiple alike), so this is the
//!   unicast Who-Is path: RPM(wildcard) -> Error, Who-Is (unicast) -> I-Am, RPM(599).
//! - a bacpypes3 client reads the simulator's model of that device and the device itself,
//!   and must read the same values (differential: the simulator looks like the real thing).
//!
//! The servers run when `python3` (or `OTSCOUT_PYTHON`) imports bacpypes3; otherwise each
//! test says it skipped, unless `OTSCOUT_REQUIRE_TOOLS=1` (CI). Addresses: 127.92.<test>.<n>.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use otscout::protocols::bacnet::identity::BacnetIdentity;
use otscout::protocols::bacnet::safe::{Safe, check, emit};
use otscout::protocols::bacnet::session::{BacnetSession, Finding, SessionConfig, Step};
use tokio::net::UdpSocket;

fn python() -> String {
    std::env::var("OTSCOUT_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// True when bacpypes3 imports; otherwise says the test skipped (or fails it in CI).
fn have_bacpypes3(test: &str) -> bool {
    let ok = Command::new(python())
        .args(["-c", "import bacpypes3"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("OTSCOUT_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{test}: OTSCOUT_REQUIRE_TOOLS=1 but {} cannot import bacpypes3",
            python()
        );
        eprintln!("skipped {test}: {} cannot import bacpypes3", python());
    }
    ok
}

fn free_udp_port(ip: Ipv4Addr) -> u16 {
    let s = std::net::UdpSocket::bind((ip, 0)).expect("bind port 0 on loopback");
    s.local_addr().unwrap().port()
}

/// A child process, killed when dropped (also when the test panics).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the bacpypes3 device at `ip:port` and waits for its `ready`.
fn bacpypes3_device(ip: Ipv4Addr, port: u16, instance: u32) -> Proc {
    let mut child = Command::new(python())
        .arg(scripts().join("bacpypes3_device.py"))
        .arg(format!("{ip}/8:{port}"))
        .arg(instance.to_string())
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start bacpypes3 device");
    let out = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    let mut r = BufReader::new(out);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 || line.trim() == "ready" {
            break;
        }
    }
    assert_eq!(line.trim(), "ready", "bacpypes3 device did not start");
    Proc(child)
}

/// What one probe sent and found.
struct Run {
    sent: Vec<Safe>,
    findings: Vec<Finding>,
}

/// Drives a [`BacnetSession`] over a UDP socket connected to `to`, 100 ms between sends.
async fn drive(to: SocketAddr) -> Run {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(to).await.unwrap();
    let mut s = BacnetSession::new(SessionConfig {
        response_timeout: Duration::from_secs(3),
        ..SessionConfig::default()
    });
    let mut sent = Vec::new();
    let mut step = s.on_connected(Instant::now());
    let mut buf = vec![0u8; 2048];
    loop {
        match step {
            Step::Send(r) => {
                let bytes = emit(&r).expect("guard");
                assert_eq!(check(&bytes), Ok(r));
                tokio::time::sleep(Duration::from_millis(100)).await;
                sock.send(&bytes).await.unwrap();
                sent.push(r);
                step = Step::Wait;
            }
            Step::Wait => {
                let deadline = s.poll_timeout().expect("a deadline while waiting");
                let left = deadline.saturating_duration_since(Instant::now());
                step = match tokio::time::timeout(left, sock.recv(&mut buf)).await {
                    Ok(Ok(n)) => s.on_datagram(Instant::now(), &buf[..n]),
                    _ => s.on_timeout(Instant::now().max(deadline)),
                };
            }
            Step::Done => break,
        }
        assert!(sent.len() <= 12, "runaway session: {sent:?}");
    }
    Run {
        sent,
        findings: s.take_findings(),
    }
}

fn bacpypes3_identity(instance: u32) -> BacnetIdentity {
    BacnetIdentity {
        instance: Some(instance),
        object_name: Some("bp3-ahu".into()),
        vendor_name: Some("BACpypes".into()),
        vendor_id: Some(999),
        model_name: Some("BP3-AHU".into()),
        firmware_revision: Some("0.0.110".into()),
        application_software_version: Some("interop 1".into()),
        description: Some("bacpypes3 interop device".into()),
        location: Some("loopback".into()),
        // From its I-Am: max APDU 1024, segmented-both (0).
        max_apdu: Some(1024),
        segmentation: Some(0),
        route: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bacpypes3_device_is_identified_exactly_through_the_unicast_who_is() {
    let test = "bacpypes3_device_is_identified_exactly_through_the_unicast_who_is";
    if !have_bacpypes3(test) {
        return;
    }
    let ip = Ipv4Addr::new(127, 92, 1, 1);
    let port = free_udp_port(ip);
    let _dev = bacpypes3_device(ip, port, 599);
    let run = drive(SocketAddr::from((ip, port))).await;
    assert_eq!(
        run.sent,
        vec![
            Safe::ReadIdentity {
                invoke_id: 1,
                instance: 4_194_303
            },
            Safe::WhoIs,
            Safe::ReadIdentity {
                invoke_id: 2,
                instance: 599
            },
        ]
    );
    let ids: Vec<_> = run
        .findings
        .iter()
        .filter_map(|f| match f {
            Finding::Identity(i) => Some(i.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec![bacpypes3_identity(599)]);
    assert!(run.findings.iter().any(|f| matches!(
        f,
        Finding::Negative { request: "bacnet.read_property_multiple", answer }
            if answer == "error object/unknown-object (1/31)"
    )));
}

/// The simulator's model of the bacpypes3 device (its identity and its wildcard quirk).
fn simulated_bacpypes3(ip: Ipv4Addr) -> otscout_sim::Plant {
    otscout_sim::Plant::from_toml_str(&format!(
        r#"
        [[device]]
        name = "bp3-model"
        address = "{ip}"
        [device.bacnet]
        port = 0
        wildcard_unknown = true
        identity = {{ instance = 599, object_name = "bp3-ahu", vendor_name = "BACpypes", vendor_id = 999, model_name = "BP3-AHU", firmware_revision = "0.0.110", application_software_version = "interop 1", description = "bacpypes3 interop device", location = "loopback", max_apdu = 1024 }}
        "#
    ))
    .expect("plant parses")
}

/// A bacpypes3 client reads the identity properties of `device` (instance 599).
fn bacpypes3_reads(local: Ipv4Addr, device: SocketAddr) -> serde_json::Value {
    let out = Command::new(python())
        .arg(scripts().join("bacpypes3_read.py"))
        .arg(format!("{local}/8:{}", free_udp_port(local)))
        .arg(device.to_string())
        .arg("599")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run bacpypes3 client");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("")).unwrap_or_else(|e| {
        panic!(
            "bacpypes3 client output is not json ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bacpypes3_client_reads_the_simulator_as_it_reads_bacpypes3() {
    let test = "bacpypes3_client_reads_the_simulator_as_it_reads_bacpypes3";
    if !have_bacpypes3(test) {
        return;
    }
    let ip = Ipv4Addr::new(127, 92, 2, 1);
    let port = free_udp_port(ip);
    let _dev = bacpypes3_device(ip, port, 599);
    let real = bacpypes3_reads(Ipv4Addr::new(127, 92, 2, 2), SocketAddr::from((ip, port)));

    let plant = otscout_sim::start(
        simulated_bacpypes3(Ipv4Addr::new(127, 92, 2, 3)),
        otscout_sim::StartOptions::default(),
    )
    .await
    .unwrap();
    let sim_addr = plant.devices()[0].bacnet.unwrap();
    let sim = tokio::task::spawn_blocking(move || {
        bacpypes3_reads(Ipv4Addr::new(127, 92, 2, 4), sim_addr)
    })
    .await
    .unwrap();
    plant.shutdown().await;
    assert_eq!(real["object-name"], "bp3-ahu", "{real}");
    assert_eq!(sim, real);

    // And otscout's session reads the model as it reads bacpypes3.
    let plant = otscout_sim::start(
        simulated_bacpypes3(Ipv4Addr::new(127, 92, 2, 5)),
        otscout_sim::StartOptions::default(),
    )
    .await
    .unwrap();
    let run = drive(plant.devices()[0].bacnet.unwrap()).await;
    plant.shutdown().await;
    let mut want = bacpypes3_identity(599);
    // The model's I-Am says no-segmentation (3): it does not segment.
    want.segmentation = Some(3);
    assert!(
        run.findings.contains(&Finding::Identity(want)),
        "{:?}",
        run.findings
    );
}

/// True when nmap and its bacnet-info script run; otherwise says the test skipped.
fn have_nmap(test: &str) -> bool {
    let ok = Command::new("nmap")
        .args(["--script-help", "bacnet-info"])
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("bacnet-info")
        });
    if !ok {
        assert!(
            std::env::var("OTSCOUT_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{test}: OTSCOUT_REQUIRE_TOOLS=1 but nmap's bacnet-info does not run"
        );
        eprintln!("skipped {test}: nmap's bacnet-info is not installed");
    }
    ok
}

/// The script output lines (`|` ...) of nmap's bacnet-info against `ip`, UDP 47808 (the
/// port its portrule names), without DNS.
fn bacnet_info(ip: Ipv4Addr) -> Vec<String> {
    let out = Command::new("nmap")
        .args(["-n", "-Pn", "-sU", "-p", "47808", "--script", "bacnet-info"])
        .arg(ip.to_string())
        .output()
        .expect("run nmap");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nmap_bacnet_info_reads_the_simulator_as_it_reads_bacpypes3() {
    let test = "nmap_bacnet_info_reads_the_simulator_as_it_reads_bacpypes3";
    if !have_bacpypes3(test) || !have_nmap(test) {
        return;
    }
    // bacnet-info only probes UDP 47808: each server on an address of its own.
    let real_ip = Ipv4Addr::new(127, 92, 3, 1);
    let _dev = bacpypes3_device(real_ip, 47808, 599);
    let real = tokio::task::spawn_blocking(move || bacnet_info(real_ip))
        .await
        .unwrap();

    let sim_ip = Ipv4Addr::new(127, 92, 3, 2);
    let mut plant = simulated_bacpypes3(sim_ip);
    // The building controller of plants/buildings.toml (the JCI NAE of bacnet_test.pcap),
    // which takes the wildcard as itself, beside it.
    let nae_ip = Ipv4Addr::new(127, 92, 3, 3);
    let demo = otscout_sim::Plant::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/simulators/plants/buildings.toml"
    ))
    .unwrap();
    let mut nae = demo
        .devices
        .into_iter()
        .find(|d| d.name == "building-nae")
        .expect("the buildings plant has building-nae");
    nae.address = nae_ip;
    plant.devices.push(nae);
    for d in &mut plant.devices {
        if let Some(b) = &mut d.bacnet {
            b.port = 47808;
        }
    }
    let running = otscout_sim::start(plant, otscout_sim::StartOptions::default())
        .await
        .unwrap();
    let (sim, nae_out) =
        tokio::task::spawn_blocking(move || (bacnet_info(sim_ip), bacnet_info(nae_ip)))
            .await
            .unwrap();
    running.shutdown().await;

    // bacpypes3 answers the wildcard with error object/unknown-object; the script prints the
    // whole reply in hex, so the model must send the same bytes.
    assert!(
        real.iter().any(|l| l.contains("Error (5)")),
        "bacnet-info against bacpypes3: {real:#?}"
    );
    assert_eq!(sim, real);
    for want in [
        "Vendor ID: Johnson Controls Inc. (5)",
        "Vendor Name: JCI",
        "Object-identifier: 500",
        "Firmware: 5.1.0.4400",
        "Object Name: KBRNAE",
        "Model Name: MS-NAE4510-2",
    ] {
        assert!(
            nae_out.iter().any(|l| l.contains(want)),
            "no `{want}` in {nae_out:#?}"
        );
    }
}

/// True when tshark runs; otherwise says the test skipped (or fails it in CI).
fn have_tshark(test: &str) -> bool {
    let ok = Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("OTSCOUT_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{test}: OTSCOUT_REQUIRE_TOOLS=1 but tshark does not run"
        );
        eprintln!("skipped {test}: tshark is not installed");
    }
    ok
}

/// The session against plants/buildings.toml's two controllers, audited with tshark over
/// the simulator's recording: only Original-Unicast-NPDU datagrams to the device itself,
/// only ReadPropertyMultiple, ReadProperty and Who-Is, one request outstanding at a time
/// (request, answer, request, ...), every invoke id fresh; and both identities exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tshark_audit_of_the_session_against_the_buildings_plant() {
    let test = "tshark_audit_of_the_session_against_the_buildings_plant";
    if !have_tshark(test) {
        return;
    }
    let mut plant = otscout_sim::Plant::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/simulators/plants/buildings.toml"
    ))
    .unwrap();
    for (i, d) in plant.devices.iter_mut().enumerate() {
        d.address = Ipv4Addr::new(127, 92, 4, 1 + i as u8);
    }
    let running = otscout_sim::start(
        plant,
        otscout_sim::StartOptions {
            ports: otscout_sim::PortOverride::Ephemeral,
            ledger_sink: None,
        },
    )
    .await
    .unwrap();
    let nae = running.device("building-nae").unwrap().bacnet.unwrap();
    let ahu = running.device("ahu-controller").unwrap().bacnet.unwrap();
    let nae_run = drive(nae).await;
    let ahu_run = drive(ahu).await;
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("served.pcapng");
    running
        .write_pcapng(std::fs::File::create(&pcap).unwrap())
        .unwrap();
    running.shutdown().await;

    let identity = |run: &Run| {
        run.findings
            .iter()
            .find_map(|f| match f {
                Finding::Identity(i) => Some(i.clone()),
                _ => None,
            })
            .expect("an identity")
    };
    assert_eq!(
        identity(&nae_run),
        BacnetIdentity {
            instance: Some(500),
            object_name: Some("KBRNAE".into()),
            vendor_name: Some("JCI".into()),
            vendor_id: Some(5),
            model_name: Some("MS-NAE4510-2".into()),
            firmware_revision: Some("5.1.0.4400".into()),
            application_software_version: Some(String::new()),
            description: Some(String::new()),
            location: Some(String::new()),
            ..Default::default()
        }
    );
    assert_eq!(nae_run.sent.len(), 1);
    let ahu_id = identity(&ahu_run);
    assert_eq!(
        (
            ahu_id.instance,
            ahu_id.object_name.as_deref(),
            ahu_id.description.as_deref()
        ),
        (Some(599), Some("AHU-1"), None)
    );
    // RPM -> Reject, ReadProperty(wildcard) -> unknown-object, Who-Is, nine ReadProperty
    // of device 599 (RPM is not asked again).
    assert_eq!(ahu_run.sent.len(), 12, "{:?}", ahu_run.sent);

    // The ports are ephemeral: tell tshark they are BACnet/IP.
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-d", &format!("udp.port=={},bvlc", nae.port())])
        .args(["-d", &format!("udp.port=={},bvlc", ahu.port())])
        .args(["-Y", "bvlc", "-T", "fields", "-e", "ip.src", "-e", "ip.dst"])
        .args([
            "-e",
            "bvlc.function",
            "-e",
            "bacapp.type",
            "-e",
            "bacapp.invoke_id",
        ])
        .args([
            "-e",
            "bacapp.confirmed_service",
            "-e",
            "bacapp.unconfirmed_service",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut by_device: std::collections::BTreeMap<String, Vec<Vec<String>>> = Default::default();
    for line in text.lines() {
        let c: Vec<String> = line.split('\t').map(str::to_string).collect();
        let device = [nae.ip().to_string(), ahu.ip().to_string()]
            .into_iter()
            .find(|d| *d == c[0] || *d == c[1])
            .unwrap_or_else(|| panic!("a datagram not to or from a device: {line}"));
        by_device.entry(device).or_default().push(c);
    }
    assert_eq!(by_device.len(), 2);
    // Every request answered, every datagram seen by tshark as BACnet/IP.
    assert_eq!(
        by_device[&nae.ip().to_string()].len(),
        2 * nae_run.sent.len()
    );
    assert_eq!(
        by_device[&ahu.ip().to_string()].len(),
        2 * ahu_run.sent.len()
    );
    for (device, rows) in &by_device {
        let mut seen_invoke = std::collections::BTreeSet::new();
        for (i, r) in rows.iter().enumerate() {
            let to_device = r[1] == *device;
            // Strictly alternating: request, answer, request, answer.
            assert_eq!(to_device, i % 2 == 0, "{device}: {rows:?}");
            if to_device {
                assert_eq!(r[2], "0x0a", "only original-unicast-npdu: {r:?}");
                assert!(!r[1].ends_with(".255"), "{r:?}");
                match (r[3].as_str(), r[5].as_str(), r[6].as_str()) {
                    ("0", "12" | "14", "") => assert!(seen_invoke.insert(r[4].clone()), "{r:?}"),
                    ("1", "", "8") => {}
                    _ => panic!("{device}: an undocumented request {r:?}"),
                }
            }
        }
    }
}

/// `otscout scan` with BACnet on (the other protocols off) against plants/buildings.toml:
/// the result holds each controller's identity with exact values.
fn scan(ip: &str, port: u16, out: &Path) -> serde_json::Value {
    let status = Command::new(env!("CARGO_BIN_EXE_otscout"))
        .args(["scan", ip, "--profile", "lab", "--quiet"])
        .args(["--set", "bacnet.enabled=true"])
        .args(["--set", &format!("bacnet.port={port}")])
        .args([
            "--set",
            "modbus.enabled=false",
            "--set",
            "enip.enabled=false",
        ])
        .args(["--set", "s7.enabled=false", "-o"])
        .arg(out)
        .status()
        .expect("run otscout scan");
    assert!(status.success(), "otscout scan {ip}:{port} failed");
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

fn bacnet_identity(result: &serde_json::Value) -> serde_json::Value {
    result["observations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["fact"]["identity"]["protocol"] == "bacnet")
        .map(|o| o["fact"]["identity"].clone())
        .unwrap_or_else(|| panic!("no bacnet identity in {result}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otscout_scan_identifies_the_buildings_plant_and_bacpypes3() {
    let mut plant = otscout_sim::Plant::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/simulators/plants/buildings.toml"
    ))
    .unwrap();
    for (i, d) in plant.devices.iter_mut().enumerate() {
        d.address = Ipv4Addr::new(127, 92, 6, 1 + i as u8);
    }
    let running = otscout_sim::start(
        plant,
        otscout_sim::StartOptions {
            ports: otscout_sim::PortOverride::Ephemeral,
            ledger_sink: None,
        },
    )
    .await
    .unwrap();
    let nae = running.device("building-nae").unwrap().bacnet.unwrap();
    let ahu = running.device("ahu-controller").unwrap().bacnet.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("nae.json"), dir.path().join("ahu.json"));
    let (r_nae, r_ahu) = tokio::task::spawn_blocking(move || {
        (
            scan(&nae.ip().to_string(), nae.port(), &a),
            scan(&ahu.ip().to_string(), ahu.port(), &b),
        )
    })
    .await
    .unwrap();
    let ledger = running.ledger();
    running.shutdown().await;
    assert_eq!(
        bacnet_identity(&r_nae),
        serde_json::json!({
            "protocol": "bacnet", "instance": 500, "object_name": "KBRNAE",
            "vendor_name": "JCI", "vendor_id": 5, "model_name": "MS-NAE4510-2",
            "firmware_revision": "5.1.0.4400", "application_software_version": "",
            "description": "", "location": ""
        })
    );
    // The AHU refuses RPM and the wildcard: read one property at a time after its I-Am.
    assert_eq!(
        bacnet_identity(&r_ahu),
        serde_json::json!({
            "protocol": "bacnet", "instance": 599, "object_name": "AHU-1",
            "vendor_name": "BACpypes", "vendor_id": 999, "model_name": "BP3-AHU",
            "firmware_revision": "0.0.110", "application_software_version": "1.0",
            "max_apdu": 1024, "segmentation": 3
        })
    );
    // Only identity requests reached the devices.
    assert!(ledger.iter().all(|e| match &e.kind {
        otscout_sim::EventKind::Request { identity, .. } => *identity,
        _ => true,
    }));

    let test = "otscout_scan_identifies_the_buildings_plant_and_bacpypes3";
    if !have_bacpypes3(test) {
        return;
    }
    let ip = Ipv4Addr::new(127, 92, 6, 10);
    let port = free_udp_port(ip);
    let _dev = bacpypes3_device(ip, port, 599);
    let out = dir.path().join("bp3.json");
    let r = tokio::task::spawn_blocking(move || scan(&ip.to_string(), port, &out))
        .await
        .unwrap();
    assert_eq!(
        bacnet_identity(&r),
        serde_json::json!({
            "protocol": "bacnet", "instance": 599, "object_name": "bp3-ahu",
            "vendor_name": "BACpypes", "vendor_id": 999, "model_name": "BP3-AHU",
            "firmware_revision": "0.0.110", "application_software_version": "interop 1",
            "description": "bacpypes3 interop device", "location": "loopback",
            "max_apdu": 1024, "segmentation": 0
        })
    );
}
