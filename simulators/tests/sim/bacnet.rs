//! The BACnet/IP device model over loopback UDP: identity by ReadProperty and
//! ReadPropertyMultiple, the bacpypes3 quirk (unknown-object for the wildcard) with the
//! unicast Who-Is/I-Am, the ledger, and the faults (hang, garbage, truncated, slow,
//! fragility). Requests and expected replies are written out as bytes here (ASHRAE 135:
//! J.2, 6.2, 20.1, 15.5, 15.7, 16.10), independent of the model's encoder.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use otscout_sim::{EventKind, Protocol, RunningPlant};
use tokio::net::UdpSocket;

use crate::support::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// One BACnet device at 127.211.<third>.1 with extra `[device.bacnet]` keys and behaviour.
async fn device(third: u8, bacnet: &str, behaviour: &str) -> RunningPlant {
    start_toml(&format!(
        r#"
        [[device]]
        name = "ahu"
        address = "127.211.{third}.1"
        [device.behaviour]
        {behaviour}
        [device.bacnet]
        port = 0
        {bacnet}
        identity = {{ instance = 1201, object_name = "AHU-1", vendor_name = "Acme Controls", vendor_id = 260, model_name = "AC-100", firmware_revision = "1.2.3", application_software_version = "app 4", location = "roof" }}
        "#
    ))
    .await
}

fn addr(p: &RunningPlant) -> SocketAddr {
    p.devices()[0].bacnet.expect("bacnet is served")
}

async fn ask(to: SocketAddr, req: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.connect(to).await.unwrap();
    s.send(req).await.unwrap();
    let mut buf = vec![0u8; 2048];
    match tokio::time::timeout(wait, s.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

const WAIT: Duration = Duration::from_secs(2);
const SHORT: Duration = Duration::from_millis(300);

/// ReadProperty of `prop` on device `instance` (the wildcard is 0x3fffff), invoke id 1.
fn rp(instance: u32, prop: u8) -> Vec<u8> {
    let oid = (8u32 << 22) | instance;
    let mut v = hex("810a0011 0104 0005010c 0c");
    v.extend_from_slice(&oid.to_be_bytes());
    v.extend_from_slice(&[0x19, prop]);
    v
}

/// The ack of a ReadProperty: (echoed object id, property, value bytes).
fn rp_ack(r: &[u8]) -> (u32, u8, Vec<u8>) {
    assert_eq!(&r[..2], &[0x81, 0x0a]);
    assert_eq!(usize::from(u16::from_be_bytes([r[2], r[3]])), r.len());
    assert_eq!(&r[4..6], &[0x01, 0x00], "npdu");
    assert_eq!((r[6], r[8]), (0x30, 12), "complex ack of readproperty");
    assert_eq!(r[9], 0x0c);
    let oid = u32::from_be_bytes([r[10], r[11], r[12], r[13]]);
    assert_eq!(r[14], 0x19);
    assert_eq!((r[16], r[r.len() - 1]), (0x3e, 0x3f));
    (oid, r[15], r[17..r.len() - 1].to_vec())
}

fn utf8(s: &str) -> Vec<u8> {
    let mut v = vec![0x75, s.len() as u8 + 1, 0];
    v.extend_from_slice(s.as_bytes());
    v
}

#[tokio::test]
async fn identity_by_read_property_with_the_wildcard() {
    let p = device(1, "", "").await;
    let a = addr(&p);
    // object-identifier: the ack echoes 4194303, the value is device,1201.
    let (oid, prop, v) = rp_ack(&ask(a, &rp(0x3f_ffff, 75), WAIT).await.unwrap());
    assert_eq!((oid, prop), ((8 << 22) | 0x3f_ffff, 75));
    assert_eq!(v, hex("c4 020004b1"));
    for (prop, want) in [
        (77, utf8("AHU-1")),
        (121, utf8("Acme Controls")),
        (70, utf8("AC-100")),
        (44, utf8("1.2.3")),
        (12, utf8("app 4")),
        (58, utf8("roof")),
        (120, hex("22 0104")),
    ] {
        let (_, _, v) = rp_ack(&ask(a, &rp(1201, prop), WAIT).await.unwrap());
        assert_eq!(v, want, "property {prop}");
    }
    // description is not configured: error property (2) / unknown-property (32).
    assert_eq!(
        ask(a, &rp(1201, 28), WAIT).await.unwrap(),
        hex("810a000d 0100 50010c 9102 9120")
    );
    // Every request is in the ledger as a bacnet identity request.
    let reqs: Vec<_> = p
        .ledger()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Request {
                function, identity, ..
            } if e.protocol == Protocol::Bacnet => Some((function, identity)),
            _ => None,
        })
        .collect();
    assert_eq!(reqs.len(), 9);
    assert!(reqs.iter().all(|(f, i)| f == "read_property" && *i));
    p.shutdown().await;
}

#[tokio::test]
async fn read_property_multiple_answers_all_nine_in_one_ack() {
    let p = device(2, "", "").await;
    let req =
        hex("810a0023 0104 0005070e 0c023fffff 1e 094b 094d 0979 0978 0946 092c 090c 091c 093a 1f");
    let r = ask(addr(&p), &req, WAIT).await.unwrap();
    assert_eq!(&r[4..9], &hex("0100 30070e"));
    let body = &r[9..];
    // object, then the nine results in order; description (28) is an error.
    let mut want = hex("0c023fffff 1e");
    want.extend(hex("294b 4e c4020004b1 4f"));
    for (p, v) in [
        (0x4d, utf8("AHU-1")),
        (0x79, utf8("Acme Controls")),
        (0x78, hex("220104")),
        (0x46, utf8("AC-100")),
        (0x2c, utf8("1.2.3")),
        (0x0c, utf8("app 4")),
    ] {
        want.extend([0x29, p, 0x4e]);
        want.extend(v);
        want.push(0x4f);
    }
    want.extend(hex("291c 5e 9102 9120 5f"));
    want.extend([0x29, 0x3a, 0x4e]);
    want.extend(utf8("roof"));
    want.extend(hex("4f 1f"));
    assert_eq!(body, &want[..]);
    p.shutdown().await;
}

#[tokio::test]
async fn bacpypes3_quirk_unknown_object_then_unicast_who_is_and_i_am() {
    let p = device(
        3,
        "wildcard_unknown = true\nread_property_multiple = false",
        "",
    )
    .await;
    let a = addr(&p);
    assert_eq!(
        ask(a, &rp(0x3f_ffff, 75), WAIT).await.unwrap(),
        hex("810a000d 0100 50010c 9101 911f")
    );
    let rpm = hex("810a0013 0104 0005020e 0c023fffff 1e094b1f");
    assert_eq!(
        ask(a, &rpm, WAIT).await.unwrap(),
        hex("810a0009 0100 600209")
    );
    // Who-Is without limits, unicast: I-Am device 1201, max APDU 1476, no segmentation,
    // vendor 260, sent back to the asker.
    assert_eq!(
        ask(a, &hex("810a0008 0100 1008"), WAIT).await.unwrap(),
        hex("810a0015 0100 1000 c4020004b1 2205c4 9103 220104")
    );
    p.shutdown().await;

    let p = device(4, "wildcard_unknown = true\ni_am_unicast = false", "").await;
    assert!(
        ask(addr(&p), &hex("810a0008 0100 1008"), SHORT)
            .await
            .is_none()
    );
    p.shutdown().await;
}

#[tokio::test]
async fn distribution_functions_are_nakked_and_not_identity() {
    let p = device(5, "", "").await;
    let a = addr(&p);
    // As the JCI NAE in bacnet_test.pcap frames 22 and 26.
    assert_eq!(
        ask(a, &hex("81020004"), WAIT).await.unwrap(),
        hex("810000060020")
    );
    assert_eq!(
        ask(a, &hex("810500060010"), WAIT).await.unwrap(),
        hex("810000060030")
    );
    let funcs: Vec<_> = p
        .ledger()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Request {
                function, identity, ..
            } => Some((function, identity)),
            _ => None,
        })
        .collect();
    assert_eq!(
        funcs,
        vec![
            ("read_broadcast_distribution_table".to_string(), false),
            ("register_foreign_device".to_string(), false)
        ]
    );
    p.shutdown().await;
}

#[tokio::test]
async fn hang_garbage_truncated_and_slow() {
    let req = rp(0x3f_ffff, 77);
    let p = device(6, "", "hang = true").await;
    assert!(ask(addr(&p), &req, SHORT).await.is_none());
    p.shutdown().await;

    let normal = {
        let p = device(7, "", "").await;
        let r = ask(addr(&p), &req, WAIT).await.unwrap();
        p.shutdown().await;
        r
    };
    let p = device(8, "", "garbage_reply = true").await;
    let g = ask(addr(&p), &req, WAIT).await.unwrap();
    assert_eq!(g.len(), normal.len());
    assert_ne!(g, normal);
    p.shutdown().await;

    let p = device(9, "", "truncated_reply = true").await;
    let t = ask(addr(&p), &req, WAIT).await.unwrap();
    assert_eq!(t, normal[..normal.len() / 2]);
    p.shutdown().await;

    let p = device(10, "", "oversized_length = true").await;
    let o = ask(addr(&p), &req, WAIT).await.unwrap();
    assert_eq!(&o[2..4], &[0xff, 0xff]);
    p.shutdown().await;

    let p = device(11, "", "latency_ms = 150").await;
    let t0 = Instant::now();
    assert_eq!(ask(addr(&p), &req, WAIT).await.unwrap(), normal);
    assert!(t0.elapsed() >= Duration::from_millis(150));
    p.shutdown().await;
}

#[tokio::test]
async fn a_fragile_device_trips_on_a_write() {
    let p = device(
        12,
        "",
        "fragility = { max_rate = 50, max_connections = 4, trip_seconds = 30.0, while_tripped = \"silent\" }",
    )
    .await;
    let a = addr(&p);
    // WriteProperty present-value of analog-value 101.
    let wp = hex("810a0018 0104 0005020f 0c00800065 1955 3e 4442480000 3f");
    assert!(ask(a, &wp, SHORT).await.is_none());
    assert!(
        p.ledger()
            .iter()
            .any(|e| matches!(e.kind, EventKind::Tripped { .. }))
    );
    assert!(ask(a, &rp(0x3f_ffff, 77), SHORT).await.is_none());
    p.shutdown().await;
}

#[tokio::test]
async fn the_served_pcapng_holds_the_bacnet_datagrams() {
    let p = device(13, "", "").await;
    ask(addr(&p), &rp(0x3f_ffff, 75), WAIT).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("served.pcapng");
    p.write_pcapng(std::fs::File::create(&path).unwrap())
        .unwrap();
    let f = frames(&path);
    let bac: Vec<_> = f
        .iter()
        .filter(|f| f.udp && (f.src.port() == addr(&p).port() || f.dst.port() == addr(&p).port()))
        .collect();
    assert_eq!(bac.len(), 2);
    assert_eq!(bac[0].payload, rp(0x3f_ffff, 75));
    p.shutdown().await;
}

#[tokio::test]
async fn the_buildings_plant_serves_both_controllers() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/plants/buildings.toml");
    let mut plant = otscout_sim::Plant::load(path).expect("buildings.toml loads");
    for (i, d) in plant.devices.iter_mut().enumerate() {
        d.address = std::net::Ipv4Addr::new(127, 211, 100, 1 + i as u8);
    }
    let p = otscout_sim::start(
        plant,
        otscout_sim::StartOptions {
            ports: otscout_sim::PortOverride::Ephemeral,
            ledger_sink: None,
        },
    )
    .await
    .unwrap();
    let nae = p.device("building-nae").unwrap().bacnet.unwrap();
    let (_, _, v) = rp_ack(&ask(nae, &rp(0x3f_ffff, 70), WAIT).await.unwrap());
    // model-name in UCS-2: `MS-NAE4510-2`.
    assert_eq!(&v[..3], &[0x75, 0x19, 0x04]);
    let ahu = p.device("ahu-controller").unwrap().bacnet.unwrap();
    assert_eq!(
        ask(ahu, &rp(0x3f_ffff, 75), WAIT).await.unwrap(),
        hex("810a000d 0100 50010c 9101 911f")
    );
    p.shutdown().await;
}
