//! The ledger records everything, in order, with usable times; shutdown leaves nothing
//! behind; the pcapng writer produces a capture an independent reader accepts.

use std::time::Duration;

use otscout_sim::ledger::{max_concurrent_connections, max_requests_in_window};
use otscout_sim::{EventKind, Protocol};
use pcap_parser::{Block, PcapBlockOwned, PcapError};
use tokio::io::AsyncWriteExt;

use crate::support::*;

#[tokio::test]
async fn ledger_records_connections_requests_replies_in_order() {
    let plant = start(demo_at(141)).await;
    let dev = plant.device("zeek-modbus-test").unwrap().clone();
    let mut s = connect(dev.modbus.unwrap()).await;
    let client = s.local_addr().unwrap();
    let req = mb_devid(7, 1, 1, 0);
    let reply = exchange(&mut s, Framing::Modbus, &req).await.unwrap();
    drop(s);
    wait_ledger(&plant, "close", |l| {
        l.iter().any(|e| matches!(e.kind, EventKind::Closed { .. }))
    })
    .await;
    let l = plant.ledger();
    let kinds: Vec<&str> = l
        .iter()
        .map(|e| match &e.kind {
            EventKind::Opened => "opened",
            EventKind::Request { .. } => "request",
            EventKind::Reply { .. } => "reply",
            EventKind::ClientFin => "client_fin",
            EventKind::Closed { .. } => "closed",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["opened", "request", "reply", "client_fin", "closed"]
    );
    for (i, e) in l.iter().enumerate() {
        assert_eq!(e.seq, i as u64);
        assert_eq!(
            (e.device.as_str(), e.protocol, e.client, e.server),
            (
                "zeek-modbus-test",
                Protocol::Modbus,
                client,
                dev.modbus.unwrap()
            )
        );
        assert!(i == 0 || e.at >= l[i - 1].at, "monotonic times");
        assert!(e.unix_micros > 1_600_000_000_000_000);
    }
    assert_eq!(l[0].conn, l[4].conn);
    assert_eq!(
        l[1].kind,
        EventKind::Request {
            function: "read_device_identification".into(),
            identity: true,
            bytes: req.clone()
        }
    );
    assert_eq!(l[2].kind, EventKind::Reply { bytes: reply });
    assert_eq!(
        l[4].kind,
        EventKind::Closed {
            why: "client closed".into()
        }
    );
    let json: serde_json::Value = serde_json::from_str(&l[1].to_json_line()).unwrap();
    assert_eq!(json["event"], "request");
    assert_eq!(json["function"], "read_device_identification");
    assert_eq!(json["bytes"], "000700000005012b0e0100");
    assert_eq!(json["client"], client.to_string());
    plant.shutdown().await;
}

#[tokio::test]
async fn ledger_supports_pacing_checks() {
    let plant = start(demo_at(142)).await;
    let addr = plant.device("wago-pfc200").unwrap().modbus.unwrap();
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    for i in 0..3 {
        exchange(&mut a, Framing::Modbus, &mb_devid(i, 1, 1, 0))
            .await
            .unwrap();
    }
    exchange(&mut b, Framing::Modbus, &mb_devid(9, 1, 1, 0))
        .await
        .unwrap();
    drop((a, b));
    wait_ledger(&plant, "closes", |l| {
        l.iter()
            .filter(|e| matches!(e.kind, EventKind::Closed { .. }))
            .count()
            == 2
    })
    .await;
    let l = plant.ledger();
    assert_eq!(max_concurrent_connections(&l, "wago-pfc200"), 2);
    assert_eq!(
        max_requests_in_window(&l, "wago-pfc200", Duration::from_secs(1)),
        4
    );
    assert_eq!(max_requests_in_window(&l, "wago-pfc200", Duration::ZERO), 0);
    plant.shutdown().await;
}

#[tokio::test]
async fn ledger_sink_receives_every_event() {
    let (tx, rx) = std::sync::mpsc::channel();
    let plant = otscout_sim::start(
        demo_at(143),
        otscout_sim::StartOptions {
            ports: otscout_sim::PortOverride::Ephemeral,
            ledger_sink: Some(tx),
        },
    )
    .await
    .unwrap();
    let mut s = connect(plant.device("controllogix-enbt").unwrap().enip_tcp.unwrap()).await;
    exchange(&mut s, Framing::Enip, &enip_req(0x63))
        .await
        .unwrap();
    drop(s);
    wait_ledger(&plant, "close", |l| l.len() == 5).await;
    let snapshot = plant.ledger();
    plant.shutdown().await;
    let streamed: Vec<_> = rx.iter().collect(); // ends: shutdown drops the sender
    assert_eq!(streamed, snapshot);
}

#[tokio::test]
async fn shutdown_closes_listeners_and_connections() {
    let plant = start(demo_at(144)).await;
    let dev = plant.device("m580-main").unwrap().clone();
    let mut s = connect(dev.modbus.unwrap()).await;
    exchange(&mut s, Framing::Modbus, &mb_devid(1, 1, 1, 0))
        .await
        .unwrap();
    let ledger = plant.ledger_handle();
    plant.shutdown().await;
    assert_eq!(
        read_frame(&mut s, Framing::Modbus, Duration::from_secs(1)).await,
        None,
        "connection gone"
    );
    for a in [dev.modbus.unwrap(), dev.enip_tcp.unwrap()] {
        assert!(
            tokio::net::TcpStream::connect(a).await.is_err(),
            "{a} still listening"
        );
    }
    // The UDP port is free again.
    tokio::net::UdpSocket::bind(dev.enip_udp.unwrap())
        .await
        .expect("udp port released");
    assert!(ledger.snapshot().iter().any(|e| e.kind
        == EventKind::Closed {
            why: "plant shutdown".into()
        }));
}

#[tokio::test]
async fn pcapng_has_handshake_consistent_sequence_numbers_and_payloads() {
    let plant = start(demo_at(145)).await;
    let mut s = connect(plant.device("snap7-cpu315").unwrap().s7.unwrap()).await;
    exchange(&mut s, Framing::Tpkt, &cotp_cr(0x0102))
        .await
        .unwrap();
    exchange(&mut s, Framing::Tpkt, &s7_setup(480))
        .await
        .unwrap();
    read_szl_all(&mut s, 0x0011, 0).await;
    s.shutdown().await.unwrap();
    drop(s);
    let udp = tokio::net::UdpSocket::bind("127.145.0.200:0")
        .await
        .unwrap();
    udp.send_to(
        &enip_req(0x63),
        plant.device("controllogix-enbt").unwrap().enip_udp.unwrap(),
    )
    .await
    .unwrap();
    let mut buf = [0u8; 600];
    tokio::time::timeout(WAIT, udp.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    wait_ledger(&plant, "close", |l| {
        l.iter().any(|e| matches!(e.kind, EventKind::Closed { .. }))
    })
    .await;
    let mut out = Vec::new();
    plant.write_pcapng(&mut out).unwrap();
    let path = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(path.path(), &out).unwrap();
    plant.shutdown().await;

    // Independent check of the blocks with pcap-parser.
    let mut reader =
        pcap_parser::create_reader(1 << 16, std::fs::File::open(path.path()).unwrap()).unwrap();
    let mut linktype = None;
    let mut epbs = 0;
    loop {
        match reader.next() {
            Ok((off, b)) => {
                match b {
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        linktype = Some(idb.linktype.0)
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(_)) => epbs += 1,
                    _ => {}
                }
                reader.consume(off);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => reader.refill().unwrap(),
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(linktype, Some(1));
    let fr = frames(path.path());
    assert_eq!(fr.len(), epbs);
    let tcp: Vec<&Frame> = fr.iter().filter(|f| !f.udp).collect();
    let udp: Vec<&Frame> = fr.iter().filter(|f| f.udp).collect();
    assert_eq!(udp.len(), 2, "list identity request and reply");
    assert_eq!(udp[1].payload[0], 0x63);
    // Payload bytes, in order, per direction, equal what crossed the wire.
    let to_server: Vec<u8> = tcp
        .iter()
        .filter(|f| f.dst.port() != f.src.port() && f.dst.port() == tcp[0].dst.port())
        .flat_map(|f| f.payload.clone())
        .collect();
    assert_eq!(&to_server[..22], &cotp_cr(0x0102)[..]);
    // Sequence numbers: re-read raw TCP headers to check seq advances by payload length.
    let raw = raw_tcp(path.path());
    assert_eq!(raw[0].flags & 0x02, 0x02, "starts with SYN");
    assert_eq!(raw[1].flags & 0x12, 0x12, "then SYN-ACK");
    assert_eq!(raw[1].ack, raw[0].seq.wrapping_add(1));
    let mut next: std::collections::HashMap<u16, u32> = std::collections::HashMap::new();
    for t in &raw[2..] {
        if let Some(want) = next.get(&t.sport) {
            assert_eq!(t.seq, *want, "seq continuity from port {}", t.sport);
        }
        let adv = t.len as u32 + u32::from(t.flags & 0x01 != 0);
        next.insert(t.sport, t.seq.wrapping_add(adv));
    }
    assert!(raw.iter().any(|t| t.flags & 0x01 != 0), "FIN present");
}

struct RawTcp {
    sport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    len: usize,
}

fn raw_tcp(path: &std::path::Path) -> Vec<RawTcp> {
    let data = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 12 <= data.len() {
        let kind = u32::from_le_bytes(data[i..i + 4].try_into().unwrap());
        let len = u32::from_le_bytes(data[i + 4..i + 8].try_into().unwrap()) as usize;
        if kind == 6 {
            let cap = u32::from_le_bytes(data[i + 20..i + 24].try_into().unwrap()) as usize;
            let f = &data[i + 28..i + 28 + cap];
            if f[23] == 6 {
                let t = &f[34..];
                out.push(RawTcp {
                    sport: u16::from_be_bytes([t[0], t[1]]),
                    seq: u32::from_be_bytes(t[4..8].try_into().unwrap()),
                    ack: u32::from_be_bytes(t[8..12].try_into().unwrap()),
                    flags: t[13],
                    len: f.len() - 54,
                });
            }
        }
        i += len;
    }
    out
}
