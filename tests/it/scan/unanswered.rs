//! No request after an unanswered one on the same connection, end to end: the real Modbus
//! session and driver against a logging Modbus/TCP server on 127.23.91.x that stays silent
//! for unit 255 (or answers it too late, with a wrong transaction id) and answers unit 0.
//!
//! The server is written here from the Modbus specs (MBAP, MAP v1.1b3 6.21), not with
//! otscout's codec, and logs every connection and every request it reads.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use otscout::inventory::{Fact, Identity, Protocol};
use otscout::probe::scan::{self, BuiltinSessions, ProbeOutcome, SessionFactory, StopSignal};
use otscout::probe::{ConnectionLoss, Finding, Session, Step};
use otscout::profile::Profile;
use otscout::protocols::modbus;
use otscout::safety::{ModbusReadDeviceId, ReadDeviceIdCode, SafeRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{config, ip};

/// One request as the server read it.
#[derive(Debug, Clone)]
struct Request {
    at: Instant,
    transaction_id: u16,
    unit_id: u8,
}

/// One connection as the server saw it.
#[derive(Debug, Clone)]
struct Conn {
    opened: Instant,
    closed: Instant,
    requests: Vec<Request>,
    /// The client closed with FIN (read returned 0), not RST.
    clean_close: bool,
}

#[derive(Debug, Clone, Default)]
struct Log(Arc<Mutex<Vec<Conn>>>);

impl Log {
    /// The connections in the order they opened.
    fn conns(&self) -> Vec<Conn> {
        let mut v = self.0.lock().unwrap().clone();
        v.sort_by_key(|c| c.opened);
        v
    }
}

/// How the server treats unit 255.
#[derive(Debug, Clone, Copy)]
enum Unit255 {
    /// Reads the request and never answers.
    Silent,
    /// Answers after this delay, with vendor "LATE" and the transaction id of the request
    /// plus one: a device that echoes transaction ids wrongly, whose late reply carries
    /// the id the client's next request would use.
    Late(Duration),
}

/// A Read Device Identification reply (MAP 6.21, basic code, no more follows) with the
/// three basic objects.
fn devid_reply(transaction_id: u16, unit_id: u8, vendor: &str) -> Vec<u8> {
    let mut pdu = vec![0x2B, 0x0E, 0x01, 0x81, 0x00, 0x00, 3];
    for (id, value) in [(0u8, vendor), (1, "X1"), (2, "1.0")] {
        pdu.push(id);
        pdu.push(value.len() as u8);
        pdu.extend_from_slice(value.as_bytes());
    }
    let mut out = transaction_id.to_be_bytes().to_vec();
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(pdu.len() as u16 + 1).to_be_bytes());
    out.push(unit_id);
    out.extend_from_slice(&pdu);
    out
}

/// A Modbus/TCP server on `ip`, ephemeral port, that logs connections and requests.
async fn server(ip: Ipv4Addr, unit255: Unit255) -> (SocketAddr, Log) {
    let listener = TcpListener::bind((ip, 0))
        .await
        .expect("bind loopback alias");
    let addr = listener.local_addr().unwrap();
    let log = Log::default();
    let ledger = log.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                let opened = Instant::now();
                let (mut rd, mut wr) = s.into_split();
                // Like a serial line behind a gateway, requests are answered in order: a
                // slow answer holds back the answers behind it.
                let (queue, mut replies) =
                    tokio::sync::mpsc::unbounded_channel::<(Duration, Vec<u8>)>();
                tokio::spawn(async move {
                    while let Some((delay, reply)) = replies.recv().await {
                        tokio::time::sleep(delay).await;
                        let _ = wr.write_all(&reply).await;
                    }
                });
                let mut requests = Vec::new();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 512];
                let clean_close = loop {
                    match rd.read(&mut chunk).await {
                        Ok(0) => break true,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        Err(_) => break false,
                    }
                    // MBAP: length at bytes 4-5 counts the unit id and the PDU.
                    while buf.len() >= 6 {
                        let len = 6 + usize::from(u16::from_be_bytes([buf[4], buf[5]]));
                        if buf.len() < len {
                            break;
                        }
                        let frame: Vec<u8> = buf.drain(..len).collect();
                        let transaction_id = u16::from_be_bytes([frame[0], frame[1]]);
                        let unit_id = frame[6];
                        requests.push(Request {
                            at: Instant::now(),
                            transaction_id,
                            unit_id,
                        });
                        let _ = match (unit_id, unit255) {
                            (255, Unit255::Silent) => Ok(()),
                            (255, Unit255::Late(delay)) => {
                                queue.send((delay, devid_reply(transaction_id + 1, 0, "LATE")))
                            }
                            _ => queue.send((
                                Duration::ZERO,
                                devid_reply(transaction_id, unit_id, "ACME"),
                            )),
                        };
                    }
                };
                ledger.0.lock().unwrap().push(Conn {
                    opened,
                    closed: Instant::now(),
                    requests,
                    clean_close,
                });
            });
        }
    });
    (addr, log)
}

const RESPONSE_TIMEOUT_MS: u64 = 300;
const COOLDOWN_MS: u64 = 250;

/// The tests' profile with only Modbus on: unit 255 first, then 0, the basic code only.
fn modbus_profile() -> Profile {
    let mut p = super::profile();
    p.enip.enabled = false;
    p.modbus.enabled = true;
    p.modbus.unit_ids = vec![255, 0];
    p.modbus.read_codes = vec![ReadDeviceIdCode::Basic];
    p.pacing.response_timeout_ms = RESPONSE_TIMEOUT_MS;
    p.pacing.cooldown_ms = COOLDOWN_MS;
    p
}

async fn scan_one(
    host: Ipv4Addr,
    addr: SocketAddr,
    sessions: Arc<dyn SessionFactory>,
) -> scan::ScanReport {
    let ports = HashMap::from([((IpAddr::V4(host), Protocol::Modbus), addr.port())]);
    let mut cfg = config(modbus_profile(), vec![host.into()], ports);
    cfg.sessions = sessions;
    cfg.close_timeout = Duration::from_millis(400);
    let report = scan::run(cfg, scan::no_events(), StopSignal::new())
        .await
        .unwrap();
    // Let the server log the last close.
    tokio::time::sleep(Duration::from_millis(100)).await;
    report
}

/// Two connections, never overlapping, the cool-down between them, one request each:
/// unit 255 on the first, unit 0 on the second.
fn assert_one_request_per_connection(conns: &[Conn]) {
    assert_eq!(conns.len(), 2, "{conns:#?}");
    let units: Vec<Vec<u8>> = conns
        .iter()
        .map(|c| c.requests.iter().map(|r| r.unit_id).collect())
        .collect();
    assert_eq!(units, [vec![255], vec![0]], "{conns:#?}");
    assert!(conns.iter().all(|c| c.clean_close), "closed with FIN");
    assert!(
        conns[1].opened >= conns[0].closed,
        "connections overlap: {conns:#?}"
    );
    let gap = conns[1].opened.duration_since(conns[0].closed);
    assert!(
        gap >= Duration::from_millis(COOLDOWN_MS),
        "cool-down between the connections: {gap:?}"
    );
    // The first connection stayed open for the response timeout, and was closed then:
    // no second request went out on it.
    let waited = conns[0].closed.duration_since(conns[0].requests[0].at);
    assert!(
        waited >= Duration::from_millis(RESPONSE_TIMEOUT_MS - 20),
        "closed before the response timeout: {waited:?}"
    );
    assert_ne!(
        conns[0].requests[0].transaction_id,
        conns[1].requests[0].transaction_id
    );
}

fn modbus_identities(report: &scan::ScanReport) -> Vec<(u8, String)> {
    report.hosts[0].probes[0]
        .observations
        .iter()
        .filter_map(|o| match &o.fact {
            Fact::Identity {
                identity: Identity::Modbus(m),
            } => Some((m.unit_id, m.objects.get(&0).cloned().unwrap_or_default())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn silent_unit_255_then_unit_0_on_a_new_connection_after_the_cooldown() {
    let host = ip(91, 1);
    let (addr, log) = server(host, Unit255::Silent).await;
    let report = scan_one(host, addr, Arc::new(BuiltinSessions)).await;
    let probe = &report.hosts[0].probes[0];
    assert_eq!(probe.protocol, Protocol::Modbus);
    assert_eq!(probe.outcome, ProbeOutcome::Identified, "{probe:#?}");
    assert_eq!(probe.connections, 2);
    assert_eq!(modbus_identities(&report), [(0, "ACME".to_string())]);
    assert_one_request_per_connection(&log.conns());
}

#[tokio::test]
async fn a_late_reply_with_the_next_transaction_id_is_not_the_next_answer() {
    // Unit 255 answers 100 ms after the response timeout, with the transaction id the
    // next request carries. Sent on the same connection, that request would have been
    // "answered" by the late reply; on a new connection it gets its own answer.
    let host = ip(91, 2);
    let (addr, log) = server(
        host,
        Unit255::Late(Duration::from_millis(RESPONSE_TIMEOUT_MS + 100)),
    )
    .await;
    let report = scan_one(host, addr, Arc::new(BuiltinSessions)).await;
    assert_eq!(modbus_identities(&report), [(0, "ACME".to_string())]);
    let probe = &report.hosts[0].probes[0];
    assert_eq!(probe.outcome, ProbeOutcome::Identified, "{probe:#?}");
    let conns = log.conns();
    assert_one_request_per_connection(&conns);
    assert_eq!(
        conns[1].requests[0].transaction_id,
        conns[0].requests[0].transaction_id + 1,
        "the late reply's id is the one the next request used"
    );
}

/// A session with the bug this rule forbids: after a timeout it asks the next unit id on
/// the same connection.
#[derive(Debug, Default)]
struct PushesOn {
    deadline: Option<std::time::Instant>,
    sent: u16,
}

impl PushesOn {
    fn ask(&mut self, now: std::time::Instant, unit_id: u8) -> Step {
        self.sent += 1;
        self.deadline = Some(now + Duration::from_millis(RESPONSE_TIMEOUT_MS));
        Step::Send(SafeRequest::Modbus(modbus::Safe::ReadDeviceId(
            ModbusReadDeviceId {
                transaction_id: self.sent,
                unit_id,
                read_code: ReadDeviceIdCode::Basic,
                object_id: 0,
            },
        )))
    }
}

impl Session for PushesOn {
    fn protocol(&self) -> Protocol {
        Protocol::Modbus
    }
    fn on_connected(&mut self, now: std::time::Instant) -> Step {
        self.ask(now, 255)
    }
    fn on_bytes(&mut self, _now: std::time::Instant, _bytes: &[u8]) -> Step {
        Step::Done
    }
    fn on_timeout(&mut self, now: std::time::Instant) -> Step {
        self.ask(now, 0)
    }
    fn on_connection_lost(&mut self, _now: std::time::Instant, _why: ConnectionLoss) -> Step {
        Step::Done
    }
    fn poll_timeout(&self) -> Option<std::time::Instant> {
        self.deadline
    }
    fn take_findings(&mut self) -> Vec<Finding> {
        Vec::new()
    }
}

#[derive(Debug)]
struct PushesOnFactory;

impl SessionFactory for PushesOnFactory {
    fn session(
        &self,
        protocol: Protocol,
        _ip: IpAddr,
        _port: u16,
        _p: &Profile,
    ) -> Option<Box<dyn Session>> {
        (protocol == Protocol::Modbus).then(|| Box::new(PushesOn::default()) as Box<dyn Session>)
    }
}

#[tokio::test]
async fn the_driver_cuts_off_a_session_that_asks_after_a_timeout() {
    let host = ip(91, 3);
    let (addr, log) = server(host, Unit255::Silent).await;
    let report = scan_one(host, addr, Arc::new(PushesOnFactory)).await;
    let probe = &report.hosts[0].probes[0];
    assert_eq!(probe.outcome, ProbeOutcome::LocalError, "{probe:#?}");
    let detail = probe.detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains(
            "modbus.read_device_id asked after an unanswered request on the same connection"
        ),
        "{detail}"
    );
    let conns = log.conns();
    assert_eq!(conns.len(), 1, "{conns:#?}");
    let units: Vec<u8> = conns[0].requests.iter().map(|r| r.unit_id).collect();
    assert_eq!(units, [255], "nothing after the unanswered request");
    assert!(conns[0].clean_close);
}

/// The same rule seen by the simulators' own ledger (an independent Modbus server): a
/// device that ignores unit 255 and serves unit 0.
#[tokio::test]
async fn simulator_ledger_shows_one_request_per_connection_after_a_silent_unit() {
    let plant = super::plant::start(
        otscout_sim::Plant::from_toml_str(
            r#"
            [[device]]
            name = "no-255"
            address = "127.23.91.10"
            [device.modbus]
            port = 0
            unit_ids = [0]
            unknown_unit = "ignore"
            identity = { vendor_name = "Acme", product_code = "Z0", revision = "2.0" }
            "#,
        )
        .unwrap(),
    )
    .await;
    let dev = plant.device("no-255").unwrap().clone();
    let addr = dev.modbus.unwrap();
    let report = scan_one(dev.address, addr, Arc::new(BuiltinSessions)).await;
    let events = plant.ledger();
    plant.shutdown().await;
    assert_eq!(modbus_identities(&report), [(0, "Acme".to_string())]);

    // Per connection: (opened, closed, unit ids asked), in the order they opened.
    let mut conns: Vec<(u64, Duration, Option<Duration>, Vec<u8>)> = Vec::new();
    for e in &events {
        match &e.kind {
            otscout_sim::EventKind::Opened => conns.push((e.conn, e.at, None, Vec::new())),
            otscout_sim::EventKind::Closed { .. } => {
                if let Some(c) = conns.iter_mut().find(|c| c.0 == e.conn) {
                    c.2 = Some(e.at);
                }
            }
            otscout_sim::EventKind::Request { bytes, .. } => {
                if let Some(c) = conns.iter_mut().find(|c| c.0 == e.conn) {
                    c.3.push(bytes[6]);
                }
            }
            _ => {}
        }
    }
    let units: Vec<&[u8]> = conns.iter().map(|c| c.3.as_slice()).collect();
    assert_eq!(units, [&[255][..], &[0]], "{events:#?}");
    let first_closed = conns[0].2.expect("the first connection was closed");
    let gap = conns[1].1.saturating_sub(first_closed);
    assert!(
        conns[1].1 >= first_closed && gap >= Duration::from_millis(COOLDOWN_MS),
        "the second connection opened {gap:?} after the first closed"
    );
}
