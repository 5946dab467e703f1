//! Each fault does what it says.

use std::time::{Duration, Instant};

use otscout_sim::{EventKind, RunningPlant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// One Modbus device at 127.<second>.0.1 with the given behaviour table body.
async fn device(second: u8, behaviour: &str) -> RunningPlant {
    start_toml(&format!(
        r#"
        [[device]]
        name = "d"
        address = "127.{second}.0.1"
        [device.behaviour]
        {behaviour}
        [device.modbus]
        port = 0
        plain_reads = true
        identity = {{ vendor_name = "Acme", product_code = "X1", revision = "1.0" }}
        "#
    ))
    .await
}

fn addr(p: &RunningPlant) -> std::net::SocketAddr {
    p.devices()[0].modbus.unwrap()
}

fn normal_reply_len() -> usize {
    // 7 MBAP + 7 header + (2+4) + (2+2) + (2+3)
    7 + 7 + 6 + 4 + 5
}

const SHORT: Duration = Duration::from_millis(250);

fn trips(p: &RunningPlant) -> Vec<String> {
    p.ledger()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Tripped { reason } => Some(reason),
            _ => None,
        })
        .collect()
}

/// Reads until EOF or error; returns the bytes and whether it ended with an error (RST).
async fn read_to_end(s: &mut tokio::net::TcpStream) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(WAIT, s.read(&mut buf)).await {
            Ok(Ok(0)) => return (out, false),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(_)) => return (out, true),
            Err(_) => panic!("connection neither closed nor reset"),
        }
    }
}

#[tokio::test]
async fn hang_accepts_reads_and_never_answers() {
    let p = device(121, "hang = true").await;
    let mut s = connect(addr(&p)).await;
    s.write_all(&mb_devid(1, 1, 1, 0)).await.unwrap();
    assert_eq!(read_frame(&mut s, Framing::Modbus, SHORT).await, None);
    wait_ledger(&p, "the request", |l| {
        l.iter()
            .any(|e| matches!(e.kind, EventKind::Request { .. }))
    })
    .await;
    assert!(
        !p.ledger()
            .iter()
            .any(|e| matches!(e.kind, EventKind::Reply { .. }))
    );
    p.shutdown().await;
}

#[tokio::test]
async fn reset_on_request_resets() {
    let p = device(122, "reset_on_request = true").await;
    let mut s = connect(addr(&p)).await;
    s.write_all(&mb_devid(1, 1, 1, 0)).await.unwrap();
    let (bytes, reset) = read_to_end(&mut s).await;
    assert!(
        bytes.is_empty() && reset,
        "expected an RST, got {bytes:02x?} reset={reset}"
    );
    p.shutdown().await;
}

#[tokio::test]
async fn garbage_reply_has_the_right_length_and_is_not_the_reply() {
    let p = device(123, "garbage_reply = true").await;
    let mut s = connect(addr(&p)).await;
    s.write_all(&mb_devid(1, 1, 1, 0)).await.unwrap();
    let mut buf = vec![0u8; normal_reply_len()];
    tokio::time::timeout(WAIT, s.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(
        &buf[7..10],
        &[0x2b, 0x0e, 0x01],
        "random bytes, not a reply"
    );
    let logged = p.ledger().into_iter().find_map(|e| match e.kind {
        EventKind::Reply { bytes } => Some(bytes),
        _ => None,
    });
    assert_eq!(logged, Some(buf), "the ledger holds what was sent");
    p.shutdown().await;
}

#[tokio::test]
async fn truncated_reply_sends_half_then_closes() {
    let p = device(124, "truncated_reply = true").await;
    let mut s = connect(addr(&p)).await;
    s.write_all(&mb_devid(1, 1, 1, 0)).await.unwrap();
    let (bytes, _) = read_to_end(&mut s).await;
    assert_eq!(bytes.len(), normal_reply_len() / 2);
    assert_eq!(&bytes[..2], &[0, 1], "a real reply's first half");
    p.shutdown().await;
}

#[tokio::test]
async fn oversized_length_field_claims_0xffff() {
    let p = device(125, "oversized_length = true").await;
    let mut s = connect(addr(&p)).await;
    s.write_all(&mb_devid(1, 1, 1, 0)).await.unwrap();
    let mut buf = vec![0u8; normal_reply_len()];
    tokio::time::timeout(WAIT, s.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[4..6], &[0xff, 0xff]);
    assert_eq!(&buf[7..9], &[0x2b, 0x0e], "the body is the real one");
    p.shutdown().await;
}

#[tokio::test]
async fn slow_drip_sends_one_byte_per_interval() {
    let p = device(126, "drip_ms = 4").await;
    let mut s = connect(addr(&p)).await;
    let t = Instant::now();
    let r = exchange(&mut s, Framing::Modbus, &mb_devid(1, 1, 1, 0))
        .await
        .unwrap();
    let took = t.elapsed();
    assert_eq!(r.len(), normal_reply_len());
    // Lower bound only: at least (n - 1) intervals passed between first and last byte.
    assert!(
        took >= Duration::from_millis(4 * (r.len() as u64 - 1)),
        "took {took:?}"
    );
    p.shutdown().await;
}

#[tokio::test]
async fn latency_delays_every_reply() {
    let p = device(127, "latency_ms = 60\njitter_ms = 20").await;
    let mut s = connect(addr(&p)).await;
    for i in 0..2 {
        let t = Instant::now();
        exchange(&mut s, Framing::Modbus, &mb_devid(i, 1, 1, 0))
            .await
            .unwrap();
        assert!(t.elapsed() >= Duration::from_millis(60));
    }
    p.shutdown().await;
}

#[tokio::test]
async fn close_after_n_requests() {
    let p = device(128, "close_after = 2").await;
    let mut s = connect(addr(&p)).await;
    assert!(
        exchange(&mut s, Framing::Modbus, &mb_devid(1, 1, 1, 0))
            .await
            .is_some()
    );
    assert!(
        exchange(&mut s, Framing::Modbus, &mb_devid(2, 1, 1, 0))
            .await
            .is_some()
    );
    let (rest, _) = read_to_end(&mut s).await;
    assert!(rest.is_empty());
    // The device closed first: the connection counts as open until the client's FIN.
    tokio::time::sleep(SHORT).await;
    assert!(
        !p.ledger()
            .iter()
            .any(|e| matches!(e.kind, EventKind::Closed { .. })),
        "closed before the client's FIN"
    );
    drop(s);
    wait_ledger(&p, "close_after", |l| {
        l.iter()
            .any(|e| matches!(&e.kind, EventKind::Closed { why } if why.starts_with("close_after")))
    })
    .await;
    p.shutdown().await;
}

#[tokio::test]
async fn max_connections_refuse() {
    let p = device(129, "max_connections = 1\nover_limit = \"refuse\"").await;
    let mut a = connect(addr(&p)).await;
    assert!(
        exchange(&mut a, Framing::Modbus, &mb_devid(1, 1, 1, 0))
            .await
            .is_some()
    );
    let mut b = connect(addr(&p)).await;
    let (bytes, _) = read_to_end(&mut b).await;
    assert!(bytes.is_empty());
    assert!(
        exchange(&mut a, Framing::Modbus, &mb_devid(2, 1, 1, 0))
            .await
            .is_some(),
        "the first still works"
    );
    drop(a);
    drop(b);
    // Once the first closes, a new connection is served again.
    wait_ledger(&p, "both closed", |l| {
        l.iter()
            .filter(|e| matches!(e.kind, EventKind::Closed { .. }))
            .count()
            == 2
    })
    .await;
    let mut c = connect(addr(&p)).await;
    assert!(
        exchange(&mut c, Framing::Modbus, &mb_devid(3, 1, 1, 0))
            .await
            .is_some()
    );
    p.shutdown().await;
}

#[tokio::test]
async fn max_connections_silent() {
    let p = device(130, "max_connections = 1\nover_limit = \"silent\"").await;
    let mut a = connect(addr(&p)).await;
    let mut b = connect(addr(&p)).await;
    wait_ledger(&p, "two opens", |l| {
        l.iter().filter(|e| e.kind == EventKind::Opened).count() == 2
    })
    .await;
    b.write_all(&mb_devid(1, 1, 1, 0)).await.unwrap();
    assert_eq!(read_frame(&mut b, Framing::Modbus, SHORT).await, None);
    assert!(
        exchange(&mut a, Framing::Modbus, &mb_devid(2, 1, 1, 0))
            .await
            .is_some()
    );
    // The unanswered request is still framed and named in the ledger.
    let named = p
        .ledger()
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Request { function, identity: true, .. } if function == "read_device_identification"))
        .count();
    assert_eq!(named, 2);
    p.shutdown().await;
}

#[tokio::test]
async fn max_connections_drop_all_goes_silent_until_restart() {
    let p = device(131, "max_connections = 1\nover_limit = \"drop_all\"").await;
    let mut a = connect(addr(&p)).await;
    assert!(
        exchange(&mut a, Framing::Modbus, &mb_devid(1, 1, 1, 0))
            .await
            .is_some()
    );
    let _b = connect(addr(&p)).await;
    let (_, _) = read_to_end(&mut a).await; // the first connection is dropped
    let mut c = connect(addr(&p)).await;
    c.write_all(&mb_devid(2, 1, 1, 0)).await.unwrap();
    assert_eq!(
        read_frame(&mut c, Framing::Modbus, SHORT).await,
        None,
        "silent after the drop"
    );
    p.shutdown().await;
}

/// A fragile device: 5 requests/s, 1 connection, trips for `secs`.
async fn fragile(second: u8, secs: f64, while_tripped: &str) -> RunningPlant {
    device(
        second,
        &format!("fragility = {{ max_rate = 5, max_connections = 1, trip_seconds = {secs}, while_tripped = \"{while_tripped}\" }}"),
    )
    .await
}

#[tokio::test]
async fn fragile_trips_on_non_identity_then_recovers() {
    let p = fragile(132, 1.0, "silent").await;
    let mut s = connect(addr(&p)).await;
    let fc3 = [0, 9, 0, 0, 0, 6, 1, 0x03, 0, 0, 0, 1];
    s.write_all(&fc3).await.unwrap();
    assert_eq!(
        read_frame(&mut s, Framing::Modbus, SHORT).await,
        None,
        "plain read trips it"
    );
    assert_eq!(
        trips(&p),
        vec!["non-identity request: read_holding_registers".to_string()]
    );
    s.write_all(&mb_devid(1, 1, 1, 0)).await.unwrap();
    assert_eq!(
        read_frame(&mut s, Framing::Modbus, Duration::from_millis(50)).await,
        None,
        "silent while tripped"
    );
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert!(
        exchange(&mut s, Framing::Modbus, &mb_devid(2, 1, 1, 0))
            .await
            .is_some(),
        "recovered"
    );
    assert!(p.ledger().iter().any(|e| e.kind == EventKind::Recovered));
    p.shutdown().await;
}

#[tokio::test]
async fn fragile_trips_on_rate() {
    let p = fragile(133, 30.0, "silent").await;
    let mut s = connect(addr(&p)).await;
    for i in 0..5 {
        assert!(
            exchange(&mut s, Framing::Modbus, &mb_devid(i, 1, 1, 0))
                .await
                .is_some(),
            "request {i}"
        );
    }
    s.write_all(&mb_devid(6, 1, 1, 0)).await.unwrap();
    assert_eq!(read_frame(&mut s, Framing::Modbus, SHORT).await, None);
    let t = trips(&p);
    assert_eq!(t.len(), 1);
    assert!(
        t[0].starts_with("rate: 6 requests within one second, limit 5"),
        "{t:?}"
    );
    p.shutdown().await;
}

#[tokio::test]
async fn fragile_trips_on_connections_and_refuses_while_tripped() {
    let p = fragile(134, 30.0, "refuse").await;
    let mut a = connect(addr(&p)).await;
    let _b = connect(addr(&p)).await;
    wait_ledger(&p, "trip", |l| {
        l.iter()
            .any(|e| matches!(e.kind, EventKind::Tripped { .. }))
    })
    .await;
    assert!(trips(&p)[0].starts_with("2 simultaneous connections, limit 1"));
    a.write_all(&mb_devid(1, 1, 1, 0)).await.unwrap();
    assert_eq!(read_frame(&mut a, Framing::Modbus, SHORT).await, None);
    let mut c = connect(addr(&p)).await;
    let (bytes, _) = read_to_end(&mut c).await;
    assert!(bytes.is_empty(), "refused while tripped");
    p.shutdown().await;
}

/// Sends one request, reads its reply, then half-closes (FIN) and returns the stream.
async fn ask_then_fin(p: &RunningPlant) -> tokio::net::TcpStream {
    let mut s = connect(addr(p)).await;
    assert!(
        exchange(&mut s, Framing::Modbus, &mb_devid(1, 1, 1, 0))
            .await
            .is_some()
    );
    s.shutdown().await.unwrap();
    s
}

fn kinds(p: &RunningPlant) -> Vec<String> {
    p.ledger()
        .iter()
        .map(|e| {
            serde_json::to_value(&e.kind).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn close_delay_holds_the_device_side_after_the_client_fin() {
    let p = device(135, "close_delay_ms = 300").await;
    let mut s = ask_then_fin(&p).await;
    let fin = Instant::now();
    let (rest, reset) = read_to_end(&mut s).await;
    assert!(rest.is_empty() && !reset);
    assert!(
        fin.elapsed() >= Duration::from_millis(300),
        "the device closed {:?} after the client's FIN",
        fin.elapsed()
    );
    drop(s);
    wait_ledger(&p, "closed", |l| {
        l.iter().any(|e| matches!(e.kind, EventKind::Closed { .. }))
    })
    .await;
    let l = p.ledger();
    assert_eq!(
        kinds(&p),
        ["opened", "request", "reply", "client_fin", "closed"]
    );
    assert!(l[4].at - l[3].at >= Duration::from_millis(300));
    assert!(otscout_sim::ledger::client_resets(&l).is_empty());
    p.shutdown().await;
}

#[tokio::test]
async fn never_close_keeps_the_connection_counted_until_the_plant_stops() {
    let p = device(
        136,
        "never_close = true\nmax_connections = 1\nover_limit = \"refuse\"",
    )
    .await;
    let mut s = ask_then_fin(&p).await;
    let mut buf = [0u8; 16];
    assert!(
        tokio::time::timeout(SHORT, s.read(&mut buf)).await.is_err(),
        "the device never closes its side"
    );
    // Still counted: a second connection overlaps, and is refused by the limit.
    let mut b = connect(addr(&p)).await;
    let (bytes, _) = read_to_end(&mut b).await;
    assert!(bytes.is_empty());
    let l = p.ledger();
    assert_eq!(otscout_sim::ledger::overlaps(&l, "d").len(), 1, "{l:?}");
    assert_eq!(
        l.iter()
            .filter(|e| matches!(e.kind, EventKind::Closed { .. }))
            .count(),
        1,
        "only the refused one closed"
    );
    // A client that closes its socket with nothing unread sends no RST.
    drop(s);
    tokio::time::sleep(SHORT).await;
    assert!(otscout_sim::ledger::client_resets(&p.ledger()).is_empty());
    let ledger = p.ledger_handle();
    p.shutdown().await;
    assert!(ledger.snapshot().iter().any(|e| e.kind
        == EventKind::Closed {
            why: "plant shutdown".into()
        }));
}

/// A client that drops its socket while the device is still sending (the defect in issue
/// 12: otscout's close gave up before the device's FIN) is reset by its kernel when the
/// next byte arrives, and the ledger says so.
#[tokio::test]
async fn a_client_reset_during_a_drip_is_recorded() {
    let p = device(137, "drip_ms = 40").await;
    let mut s = connect(addr(&p)).await;
    s.write_all(&mb_devid(1, 1, 1, 0)).await.unwrap();
    let mut one = [0u8; 1];
    s.read_exact(&mut one).await.unwrap();
    s.shutdown().await.unwrap();
    drop(s);
    wait_ledger(&p, "the client's reset", |l| {
        !otscout_sim::ledger::client_resets(l).is_empty()
    })
    .await;
    let l = p.ledger();
    let r = otscout_sim::ledger::client_resets(&l);
    assert_eq!(
        r[0].kind,
        EventKind::ClientReset {
            during: "write".into()
        }
    );
    p.shutdown().await;
}
