//! The OPC UA model against a real client's requests: the open62541 client's Hello,
//! OpenSecureChannel, GetEndpoints and CloseSecureChannel (open62541_client-server_encrypted
//! .pcap frames 5, 9, 13 and 17, copied as hex), a Write and a non-None policy it must
//! refuse, and the faults.

use std::time::Duration;

use otscout_sim::EventKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Frame 5: Hello for opc.tcp://localhost:4840.
const HEL: &str = "48454c463800000000000000ffff0000ffff00000000000000000000180000006f70632e7463703a2f2f6c6f63616c686f73743a34383430";
/// Frame 9: OpenSecureChannel, policy None, mode None.
const OPN: &str = "4f504e4684000000000000002f000000687474703a2f2f6f7063666f756e646174696f6e2e6f72672f55412f5365637572697479506f6c696379234e6f6e65ffffffffffffffff01000000010000000100be0100001c170e64d1cfd5010000000000000000ffffffff00000000000000000000000000000001000000ffffffffc0270900";
/// Frame 13: GetEndpoints (channel 1, token 1, request 2).
const GEP: &str = "4d5347465d000000010000000100000002000000020000000100ac010000ec230e64d1cfd5010100000000000000ffffffff10270000000000180000006f70632e7463703a2f2f6c6f63616c686f73743a34383430ffffffffffffffff";
/// Frame 17: CloseSecureChannel.
const CLO: &str = "434c4f4639000000010000000100000003000000030000000100c40100004c320e64d1cfd5010100000000000000ffffffff10270000000000";

const GATEWAY: &str = r#"
[[device]]
name = "gw"
address = "127.88.0.1"
[device.opcua]
port = 0
application_uri = "urn:test:gw"
application_name = "Test GW"
build_info = { manufacturer_name = "M", product_name = "P", software_version = "1", build_number = "2" }
"#;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Service type id of a MSG/OPN answer: after the header, channel id, the security header
/// and the sequence header; open62541-style four-byte NodeId.
fn type_id(r: &[u8]) -> u16 {
    let mut at = 12;
    if r.starts_with(b"OPN") {
        for _ in 0..3 {
            let n = u32_at(r, at) as i32;
            at += 4 + n.max(0) as usize;
        }
    } else {
        at += 4;
    }
    at += 8;
    assert_eq!(&r[at..at + 2], &[1, 0], "four-byte node id");
    u16::from_le_bytes([r[at + 2], r[at + 3]])
}

#[tokio::test]
async fn open62541_client_requests_get_the_answers_a_server_gives() {
    let plant = start_toml(GATEWAY).await;
    let addr = plant.device("gw").unwrap().opcua.unwrap();
    let mut s = connect(addr).await;
    let ack = exchange(&mut s, Framing::Opcua, &hex(HEL)).await.unwrap();
    assert_eq!(&ack[..4], b"ACKF");
    assert_eq!(ack.len(), 28);
    assert_eq!((u32_at(&ack, 12), u32_at(&ack, 16)), (65535, 65535));

    let opn = exchange(&mut s, Framing::Opcua, &hex(OPN)).await.unwrap();
    assert_eq!(type_id(&opn), 449);
    assert!(contains(&opn, b"SecurityPolicy#None"));

    // The capture's channel and token ids (1/1) need not match ours: the model does not
    // check them, as open62541 does not for policy None.
    let gep = exchange(&mut s, Framing::Opcua, &hex(GEP)).await.unwrap();
    assert_eq!(type_id(&gep), 431);
    assert_eq!(u32_at(&gep, 20), 2, "request id echoed");
    assert!(contains(&gep, b"urn:test:gw"));
    assert!(contains(&gep, b"Test GW"));
    assert!(contains(&gep, b"SecurityPolicy#Basic256Sha256"));
    let own = format!("opc.tcp://{addr}");
    assert!(
        contains(&gep, own.as_bytes()),
        "EndpointUrl is the bound address"
    );
    // No product_uri in the plant: a null string (-1), right after the application URI.
    let at = gep.windows(11).position(|w| w == b"urn:test:gw").unwrap();
    assert_eq!(&gep[at + 11..at + 15], &[0xff; 4]);

    s.write_all(&hex(CLO)).await.unwrap();
    let mut rest = Vec::new();
    let n = tokio::time::timeout(WAIT, s.read_to_end(&mut rest)).await;
    assert!(matches!(n, Ok(Ok(0))), "the server closes after CLO");

    let kinds: Vec<(String, bool)> = plant
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
        kinds,
        [
            ("hello".to_string(), true),
            ("open_secure_channel".into(), true),
            ("get_endpoints".into(), true),
            ("close_secure_channel".into(), true)
        ]
    );
    plant.shutdown().await;
}

#[tokio::test]
async fn a_write_is_refused_and_another_policy_gets_err() {
    let plant = start_toml(GATEWAY).await;
    let addr = plant.device("gw").unwrap().opcua.unwrap();
    let mut s = connect(addr).await;
    exchange(&mut s, Framing::Opcua, &hex(HEL)).await.unwrap();
    exchange(&mut s, Framing::Opcua, &hex(OPN)).await.unwrap();
    // The GetEndpoints frame with its type id changed to WriteRequest (673 = 0x02a1).
    let mut write = hex(GEP);
    let at = write
        .windows(4)
        .position(|w| w == [1, 0, 0xac, 0x01])
        .unwrap();
    write[at + 2..at + 4].copy_from_slice(&673u16.to_le_bytes());
    let r = exchange(&mut s, Framing::Opcua, &write).await.unwrap();
    assert_eq!(type_id(&r), 397, "ServiceFault");
    // ResponseHeader: timestamp (8), handle (4), then the service result.
    assert_eq!(
        u32_at(&r, 24 + 4 + 12),
        0x800B_0000,
        "BadServiceUnsupported"
    );
    drop(s);

    // An OPN under Basic256Sha256: ERR BadSecurityPolicyRejected, then the server closes.
    let mut s = connect(addr).await;
    exchange(&mut s, Framing::Opcua, &hex(HEL)).await.unwrap();
    let opn = String::from_utf8_lossy(&hex(OPN)).into_owned();
    assert!(opn.contains("#None"));
    let mut bad = hex(OPN);
    let at = bad.windows(5).position(|w| w == b"#None").unwrap();
    bad[at + 1..at + 5].copy_from_slice(b"Nonf");
    let e = exchange(&mut s, Framing::Opcua, &bad).await.unwrap();
    assert_eq!(&e[..4], b"ERRF");
    assert_eq!(u32_at(&e, 8), 0x8055_0000);
    let ledger = plant.ledger();
    assert!(ledger.iter().any(|e| matches!(
        &e.kind,
        EventKind::Request { function, identity: false, .. } if function == "write"
    )));
    plant.shutdown().await;
}

#[tokio::test]
async fn faults_apply_to_opcua_too() {
    for (behaviour, expect_reply) in [("hang = true", false), ("truncated_reply = true", true)] {
        let toml = GATEWAY.replace(
            "[device.opcua]",
            &format!("[device.behaviour]\n{behaviour}\n[device.opcua]"),
        );
        let plant = start_toml(&toml).await;
        let mut s = connect(plant.device("gw").unwrap().opcua.unwrap()).await;
        s.write_all(&hex(HEL)).await.unwrap();
        let mut buf = Vec::new();
        let got = tokio::time::timeout(Duration::from_millis(400), s.read_to_end(&mut buf)).await;
        if expect_reply {
            // Half of the 28-byte ACK, then the device closes.
            assert_eq!(buf.len(), 14, "{behaviour}");
            assert!(matches!(got, Ok(Ok(14))));
        } else {
            assert!(got.is_err() && buf.is_empty(), "{behaviour}: {buf:?}");
        }
        plant.shutdown().await;
    }
}

#[tokio::test]
async fn the_bundled_opcua_gateway_serves_its_endpoints() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/plants/opcua.toml");
    let mut p = otscout_sim::Plant::load(path).expect("opcua.toml loads");
    p.devices[0].address = "127.112.0.40".parse().unwrap();
    let plant = start(p).await;
    let gw = plant
        .device("opcua-gateway")
        .expect("opcua-gateway in opcua.toml");
    let mut s = connect(gw.opcua.unwrap()).await;
    exchange(&mut s, Framing::Opcua, &hex(HEL)).await.unwrap();
    exchange(&mut s, Framing::Opcua, &hex(OPN)).await.unwrap();
    let gep = exchange(&mut s, Framing::Opcua, &hex(GEP)).await.unwrap();
    assert!(contains(&gep, b"PeerLab OPC UA Gateway"));
    assert!(contains(&gep, b"SecurityPolicy#Basic256"));
    // The certificate (517 bytes of DER) is in every endpoint.
    assert_eq!(
        gep.windows(4)
            .filter(|w| *w == 517u32.to_le_bytes())
            .count(),
        3
    );
    plant.shutdown().await;
}
