//! The FINS and Fox models over loopback: their answers against the real devices' bytes
//! (`omron_test.pcap`, `fox_info.pcap`, captures/INDEX.md), and the faults.

use std::time::Duration;

use otscout_sim::{EventKind, RunningPlant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::support::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The CP1L's Controller Data Read data (frames 9 and 18 of omron_test.pcap).
const CP1L_DATA: &str = "4350314c2d454c32304452 2d44 000000 20202020 \
    30312e3030 0000000000 30312e3036 0000000000 \
    00000000000000000000000000000000 00000001000000000000000000000000 0000000000010003 \
    000a 17 2a10 08 00 0000 00 0000";

const CP1L: &str = r#"
    [device.fins]
    port = 0
    [device.fins.identity]
    model = "CP1L-EL20DR-D"
    model_trailing_spaces = 4
    versions = ["01.00", "01.06"]
    system_use = [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,0,3]
"#;

/// The JACE of fox_info.pcap.
const JACE: &str = r#"
    [device.fox]
    port = 0
    [device.fox.identity]
    host_name = "192.168.2.15"
    host_address = "192.168.2.15"
    app_name = "Station"
    app_version = "3.5.41.1"
    vm_name = "J9"
    vm_version = "2.3"
    os_name = "QNX"
    os_version = "6.3.2"
    station_name = "Legion_HQ_V4"
    lang = "en"
    time_zone = "Australia/Perth;28800000;0;null;null"
    host_id = "Qnx-NPM6-0000-1490-C30C"
    vm_uuid = "11e4d864-cd0e-664a-0000-00000000b83b"
    brand_id = "vykon"
"#;

async fn plant(second: u8, behaviour: &str, body: &str) -> RunningPlant {
    start_toml(&format!(
        "[[device]]\nname = \"d\"\naddress = \"127.217.{second}.1\"\n[device.behaviour]\n{behaviour}\n{body}"
    ))
    .await
}

async fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    tokio::time::timeout(WAIT, s.read_exact(&mut b))
        .await
        .expect("reply in time")
        .expect("reply");
    b
}

#[tokio::test]
async fn fins_tcp_answers_like_the_cp1l() {
    let p = plant(1, "", CP1L).await;
    let mut s = TcpStream::connect(p.devices()[0].fins_tcp.unwrap())
        .await
        .unwrap();
    // Frame 6, then frame 7's bytes back.
    s.write_all(&hex("46494e53 0000000c 00000000 00000000 00000000"))
        .await
        .unwrap();
    assert_eq!(
        read_n(&mut s, 24).await,
        hex("46494e53 00000010 00000001 00000000 000000fb 000000c8")
    );
    // Frame 8, then frame 9's bytes back, byte for byte.
    s.write_all(&hex(
        "46494e53 00000015 00000002 00000000 80 00 02 00 c8 00 00 00 ef 05 0501 00",
    ))
    .await
    .unwrap();
    let f9 = hex(&format!(
        "46494e53 00000072 00000002 00000000 c0 00 02 00 00 ef 00 c8 00 05 0501 0000 {CP1L_DATA}"
    ));
    assert_eq!(read_n(&mut s, f9.len()).await, f9);
    drop(s);
    p.shutdown().await;
}

#[tokio::test]
async fn fins_udp_answers_like_the_cp1l_and_refuses_writes() {
    let p = plant(2, "", CP1L).await;
    let dev = p.devices()[0].fins_udp.unwrap();
    let c = UdpSocket::bind("127.217.2.100:0").await.unwrap();
    // Frame 17 in, frame 18 out.
    c.send_to(&hex("80 00 02 00 00 00 00 63 00 ef 0501 00"), dev)
        .await
        .unwrap();
    let mut b = vec![0u8; 2048];
    let n = tokio::time::timeout(WAIT, c.recv(&mut b))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        b[..n],
        hex(&format!(
            "c0 00 02 00 63 00 00 c8 00 ef 0501 0000 {CP1L_DATA}"
        ))
    );
    // A memory area write: end code 04 01 (unsupported), recorded as not identity.
    c.send_to(
        &hex("80 00 02 00 00 00 00 63 00 f0 0102 82 0064 00 0001 1234"),
        dev,
    )
    .await
    .unwrap();
    let n = tokio::time::timeout(WAIT, c.recv(&mut b))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b[..n], hex("c0 00 02 00 63 00 00 c8 00 f0 0102 0401"));
    let reqs: Vec<(String, bool)> = p
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
        reqs,
        [
            ("controller_data_read".to_string(), true),
            ("memory_area_write".to_string(), false)
        ]
    );
    p.shutdown().await;
}

#[tokio::test]
async fn fins_tcp_refuses_a_frame_before_the_handshake() {
    let p = plant(3, "", CP1L).await;
    let mut s = TcpStream::connect(p.devices()[0].fins_tcp.unwrap())
        .await
        .unwrap();
    s.write_all(&hex(
        "46494e53 00000015 00000002 00000000 80 00 02 00 c8 00 00 fb 00 05 0501 00",
    ))
    .await
    .unwrap();
    // Error notification (command 3, error 3), then the device closes.
    assert_eq!(
        read_n(&mut s, 16).await,
        hex("46494e53 00000008 00000003 00000003")
    );
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(rest.is_empty());
    p.shutdown().await;
}

/// `fox_info.pcap` frame 6: the station's hello, 469 bytes.
fn frame6() -> Vec<u8> {
    let mut m = b"fox a 0 -1 fox hello\n{\nfox.version=s:1.0\nid=i:2\nhostName=s:192.168.2.15\n\
hostAddress=s:192.168.2.15\napp.name=s:Station\napp.version=s:3.5.41.1\nvm.name=s:J9\n\
vm.version=s:2.3\nos.name=s:QNX\nos.version=s:6.3.2\nstation.name=s:Legion_HQ_V4\nlang=s:en\n\
timeZone=s:Australia/Perth;28800000;0;null;null\nhostId=s:Qnx-NPM6-0000-1490-C30C\n\
vmUuid=s:11e4d864-cd0e-664a-0000-00000000b83b\nbrandId=s:vykon\n"
        .to_vec();
    m.extend_from_slice(b"sysInfo=o:bog 61[<bog version=\"1.0\">\n<p m=\"b=baja\" t=\"b:Facets\" v=\"\"/>\n</bog>\n]\n};;\n");
    m
}

const MINIMAL_HELLO: &[u8] = b"fox a 1 -1 fox hello\n{\nfox.version=s:1.0\nid=i:1\n};;\n";

#[tokio::test]
async fn fox_answers_the_minimal_hello_like_the_jace_then_challenges() {
    let p = plant(4, "", JACE).await;
    let mut s = TcpStream::connect(p.devices()[0].fox.unwrap())
        .await
        .unwrap();
    s.write_all(MINIMAL_HELLO).await.unwrap();
    let hello = frame6();
    assert_eq!(hello.len(), 469);
    assert_eq!(read_n(&mut s, hello.len()).await, hello);
    let challenge = read_n(&mut s, 24).await;
    assert_eq!(challenge, b"fox a 1 -1 fox challenge");
    // Anything but a hello: the station closes.
    let mut rest = vec![0u8; 4096];
    let n = s.read(&mut rest).await.unwrap();
    assert!(n > 0);
    s.write_all(b"fox a 2 -1 fox login\n{\n};;\n")
        .await
        .unwrap();
    let mut tail = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut tail))
        .await
        .unwrap();
    drop(s);
    p.shutdown().await;
}

#[tokio::test]
async fn fox_and_fins_faults() {
    // Hang: the hello is recorded, nothing comes back.
    let p = plant(5, "hang = true", JACE).await;
    let mut s = TcpStream::connect(p.devices()[0].fox.unwrap())
        .await
        .unwrap();
    s.write_all(MINIMAL_HELLO).await.unwrap();
    let mut b = [0u8; 16];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), s.read(&mut b))
            .await
            .is_err()
    );
    assert!(
        p.ledger()
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Request { identity: true, .. }))
    );
    drop(s);
    p.shutdown().await;
    // Truncated: half the station hello, then the device closes.
    let p = plant(6, "truncated_reply = true", JACE).await;
    let mut s = TcpStream::connect(p.devices()[0].fox.unwrap())
        .await
        .unwrap();
    s.write_all(MINIMAL_HELLO).await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut got))
        .await
        .unwrap();
    // Each reply cut in half: the hello's first half, the challenge's, then the close.
    assert_eq!(got[..469 / 2], frame6()[..469 / 2]);
    assert!(got.len() < 469, "{}", got.len());
    drop(s);
    p.shutdown().await;
    // Garbage over FINS/UDP: the reply's length, not its bytes.
    let p = plant(7, "garbage_reply = true", CP1L).await;
    let c = UdpSocket::bind("127.217.7.100:0").await.unwrap();
    c.send_to(
        &hex("80 00 02 00 00 00 00 63 00 ef 0501 00"),
        p.devices()[0].fins_udp.unwrap(),
    )
    .await
    .unwrap();
    let mut b = vec![0u8; 2048];
    let n = tokio::time::timeout(WAIT, c.recv(&mut b))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 14 + 92);
    assert_ne!(b[..14], hex("c0 00 02 00 63 00 00 c8 00 ef 0501 0000")[..]);
    p.shutdown().await;
    // Reset on request over FINS/TCP.
    let p = plant(8, "reset_on_request = true", CP1L).await;
    let mut s = TcpStream::connect(p.devices()[0].fins_tcp.unwrap())
        .await
        .unwrap();
    s.write_all(&hex("46494e53 0000000c 00000000 00000000 00000000"))
        .await
        .unwrap();
    let mut got = Vec::new();
    let r = tokio::time::timeout(WAIT, s.read_to_end(&mut got))
        .await
        .unwrap();
    assert!(r.is_err(), "expected a reset, got {r:?}");
    p.shutdown().await;
}
