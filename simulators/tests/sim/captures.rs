//! The real requests in $OTSCOUT_CAPTURES, replayed to the simulator: the replies must
//! decode (with the independent reader in `support`) to the identities INDEX.md lists,
//! and where the device is modelled verbatim they must equal the captured replies.

use std::net::Ipv4Addr;

use tokio::io::AsyncWriteExt;

use crate::support::*;

/// Replays every client payload sent to `port` and compares our replies with the
/// captured ones, byte for byte.
async fn replay_modbus(capture: &str, device: &str, second: u8) {
    let Some(dir) = captures_dir(capture) else {
        return;
    };
    let fr = frames(&dir.join(capture));
    let plant = start(demo_at(second)).await;
    let addr = plant.device(device).unwrap().modbus.unwrap();
    let mut s = connect(addr).await;
    let data: Vec<&Frame> = fr.iter().filter(|f| !f.payload.is_empty()).collect();
    let mut compared = 0;
    for (i, f) in data.iter().enumerate() {
        if f.dst.port() != 502 {
            continue;
        }
        let want = &data[i + 1];
        assert_eq!(
            want.src.port(),
            502,
            "frame {} is answered by the next one",
            f.number
        );
        let got = exchange(&mut s, Framing::Modbus, &f.payload)
            .await
            .expect("reply");
        assert_eq!(
            got, want.payload,
            "reply to frame {} (captured reply frame {})",
            f.number, want.number
        );
        compared += 1;
    }
    assert!(compared >= 6, "only {compared} requests compared");
    plant.shutdown().await;
}

#[tokio::test]
async fn pymodbus_capture_replies_match_byte_for_byte() {
    replay_modbus("pymodbus-client-vs-pymodbus.pcap", "peerlab-pymodbus", 101).await;
}

#[tokio::test]
async fn pymodbus_longid_capture_replies_match_byte_for_byte() {
    replay_modbus(
        "pymodbus-client-vs-pymodbus-longid.pcap",
        "peerlab-longid",
        102,
    )
    .await;
}

#[tokio::test]
async fn longid_decodes_across_more_follows() {
    let plant = start(demo_at(103)).await;
    let mut s = connect(plant.device("peerlab-longid").unwrap().modbus.unwrap()).await;
    let first = decode_devid(
        &exchange(&mut s, Framing::Modbus, &mb_devid(1, 1, 1, 0))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!((first.more, first.next, first.objects.len()), (0xff, 2, 2));
    assert_eq!(first.objects[0].1, "PeerLab Long Vendor Name ".repeat(5));
    assert_eq!(first.objects[1].1, "PLB-LONG-PRODUCT-CODE-".repeat(5));
    let second = decode_devid(
        &exchange(&mut s, Framing::Modbus, &mb_devid(2, 1, 1, 2))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (second.more, second.objects.clone()),
        (0, vec![(2, "v9.9.9-long".to_string())])
    );
    plant.shutdown().await;
}

#[tokio::test]
async fn zeek_modbus_request_gets_the_captured_reply() {
    let Some(dir) = captures_dir("zeek_modbus") else {
        return;
    };
    let fr = frames(&dir.join("modbus_example.pcap"));
    let (req, want) = (frame(&fr, 92), frame(&fr, 94));
    let plant = start(demo_at(104)).await;
    let mut s = connect(plant.device("zeek-modbus-test").unwrap().modbus.unwrap()).await;
    let got = exchange(&mut s, Framing::Modbus, &req.payload)
        .await
        .unwrap();
    assert_eq!(got, want.payload);
    let id = decode_devid(&got).unwrap();
    assert_eq!(id.conformity, 0x83);
    assert_eq!(
        id.objects,
        vec![
            (0, "Zeek Modbus Test".to_string()),
            (1, "Protocol Parsing is fun!".to_string()),
            (2, "1.2.3.6".to_string())
        ]
    );
    plant.shutdown().await;
}

/// Zeroes the socket-address port and address of an identity reply (they name the
/// device's own socket, which differs between the capture and the simulator).
fn mask_sockaddr(r: &mut [u8]) {
    r[30 + 4..30 + 10].fill(0);
}

#[tokio::test]
async fn enbt_list_identity_matches_capture() {
    let Some(dir) = captures_dir("enbt_list_identity") else {
        return;
    };
    let fr = frames(&dir.join("enip_test.pcap"));
    let (req, want) = (frame(&fr, 6), frame(&fr, 7));
    let plant = start(demo_at(105)).await;
    let dev = plant.device("controllogix-enbt").unwrap().clone();
    let mut s = connect(dev.enip_tcp.unwrap()).await;
    let mut got = exchange(&mut s, Framing::Enip, &req.payload).await.unwrap();
    let id = decode_list_identity(&got).unwrap();
    assert_eq!(
        (
            id.vendor,
            id.device_type,
            id.product_code,
            id.revision,
            id.status,
            id.serial,
            id.name.as_str(),
            id.state
        ),
        (1, 12, 58, (4, 3), 0x0030, 0x00524d8e, "1756-ENBT/A", 3)
    );
    assert_eq!(
        (id.sock_addr, id.sock_port),
        (dev.address, dev.enip_tcp.unwrap().port())
    );
    let mut want = want.payload.clone();
    mask_sockaddr(&mut got);
    mask_sockaddr(&mut want);
    assert_eq!(got, want);
    plant.shutdown().await;
}

#[tokio::test]
async fn list_services_and_interfaces_match_capture() {
    let Some(dir) = captures_dir("list_services") else {
        return;
    };
    let fr = frames(&dir.join("EIP-FirmwareChange_slice.pcap"));
    let plant = start(demo_at(106)).await;
    let mut s = connect(plant.device("controllogix-enbt").unwrap().enip_tcp.unwrap()).await;
    for (req, reply) in [(7, 11), (8, 13)] {
        let got = exchange(&mut s, Framing::Enip, &frame(&fr, req).payload)
            .await
            .unwrap();
        assert_eq!(got, frame(&fr, reply).payload, "reply to frame {req}");
    }
    // The legacy command 0x0001 (frame 6) is outside what we model: status 0x0001.
    let got = exchange(&mut s, Framing::Enip, &frame(&fr, 6).payload)
        .await
        .unwrap();
    assert_eq!(&got[8..12], &[1, 0, 0, 0]);
    plant.shutdown().await;
}

#[tokio::test]
async fn cpppo_udp_list_identity_matches_capture() {
    let Some(dir) = captures_dir("cpppo_udp") else {
        return;
    };
    let fr = frames(&dir.join("cpppo-client-list-identity-udp.pcap"));
    let req = fr.iter().find(|f| f.udp && f.dst.port() == 44818).unwrap();
    let want = fr.iter().find(|f| f.udp && f.src.port() == 44818).unwrap();
    let plant = start_toml(
        r#"
        [[device]]
        name = "cpppo"
        address = "127.107.0.3"
        [device.enip]
        port = 0
        identity = { vendor_id = 1337, device_type = 14, product_code = 4242, revision_major = 7, revision_minor = 42, status = 0x0030, serial = 0xC0FFEE01, product_name = "PeerLab ENIP 1756-L85E", state = 3 }
        "#,
    )
    .await;
    let udp_addr = plant.devices()[0].enip_udp.unwrap();
    let sock = tokio::net::UdpSocket::bind((Ipv4Addr::new(127, 107, 0, 100), 0))
        .await
        .unwrap();
    sock.send_to(&req.payload, udp_addr).await.unwrap();
    let mut buf = [0u8; 1500];
    let (n, from) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        from, udp_addr,
        "the reply comes from the device's own socket"
    );
    let mut got = buf[..n].to_vec();
    let id = decode_list_identity(&got).unwrap();
    assert_eq!(
        (id.vendor, id.serial, id.revision, id.name.as_str()),
        (1337, 0xC0FFEE01, (7, 42), "PeerLab ENIP 1756-L85E")
    );
    let mut want = want.payload.clone();
    mask_sockaddr(&mut got);
    mask_sockaddr(&mut want);
    assert_eq!(got, want);
    plant.shutdown().await;
}

/// Masks what legitimately differs in S7 userdata replies: sequence number and data
/// unit reference (params bytes 7 and 8).
fn mask_seq(r: &mut [u8]) {
    if r.len() > 26 && r[8] == 7 {
        r[17 + 7] = 0;
        r[17 + 8] = 0;
    }
}

#[tokio::test]
async fn im151_8_replay_matches_capture_including_fragmented_001c() {
    let Some(dir) = captures_dir("im151_8") else {
        return;
    };
    let fr = frames(&dir.join("s7comm_reading_plc_status.pcap"));
    let plant = start(demo_at(108)).await;
    let mut s = connect(plant.device("et200s-im151-8").unwrap().s7.unwrap()).await;
    // Connect confirm: all but our own source reference (bytes 8-9) as captured.
    let mut cc = exchange(&mut s, Framing::Tpkt, &frame(&fr, 8).payload)
        .await
        .unwrap();
    let mut want = frame(&fr, 9).payload.clone();
    cc[8..10].fill(0);
    want[8..10].fill(0);
    assert_eq!(cc, want, "connect confirm");
    let setup = exchange(&mut s, Framing::Tpkt, &frame(&fr, 10).payload)
        .await
        .unwrap();
    assert_eq!(
        setup,
        frame(&fr, 11).payload,
        "setup: 480 asked, 240 agreed"
    );
    // STEP 7's empty DT gets no answer; the next request still works.
    s.write_all(&frame(&fr, 12).payload).await.unwrap();
    let mut r = exchange(&mut s, Framing::Tpkt, &frame(&fr, 58).payload)
        .await
        .unwrap();
    let (_, more, err, szl11) = decode_userdata(&r).unwrap();
    assert!(!more && err == 0);
    let mut want = frame(&fr, 59).payload.clone();
    mask_seq(&mut r);
    mask_seq(&mut want);
    assert_eq!(r, want, "szl 0x0011");
    let (id, _, reclen, recs) = szl_records(&szl11);
    assert_eq!((id, reclen, recs.len()), (0x0011, 28, 4));
    assert_eq!(&recs[0][2..22], b"6ES7 151-8AB01-0AB0 ");
    assert_eq!(&recs[2][0..2], &[0, 7]);
    assert_eq!(
        &recs[2][24..28],
        &[0x56, 0x03, 0x02, 0x06],
        "firmware V3.2.6 in record 0x0007"
    );
    assert_eq!(&recs[3][2..13], b"Boot Loader");
    // 0x001C: first part says "more follows"; the follow-up carries our sequence number.
    let first = exchange(&mut s, Framing::Tpkt, &frame(&fr, 67).payload)
        .await
        .unwrap();
    let (seq, more, _, part1) = decode_userdata(&first).unwrap();
    assert!(more, "0x001c does not fit a 240-byte PDU");
    let (mut a, mut b) = (first.clone(), frame(&fr, 69).payload.clone());
    mask_seq(&mut a);
    mask_seq(&mut b);
    assert_eq!(a, b, "szl 0x001c first part");
    let mut follow = frame(&fr, 71).payload.clone();
    follow[17 + 7] = seq;
    let last = exchange(&mut s, Framing::Tpkt, &follow).await.unwrap();
    let (seq2, more, _, part2) = decode_userdata(&last).unwrap();
    assert!(!more && seq2 == seq);
    let (mut a, mut b) = (last.clone(), frame(&fr, 72).payload.clone());
    mask_seq(&mut a);
    mask_seq(&mut b);
    assert_eq!(a, b, "szl 0x001c last part");
    let all = [part1, part2].concat();
    let (id, _, reclen, recs) = szl_records(&all);
    assert_eq!((id, reclen, recs.len()), (0x001c, 34, 10));
    let text: Vec<String> = recs.iter().map(|r| cstr(&r[2..])).collect();
    assert_eq!(text[0], "IM151-8-CPU");
    assert_eq!(text[1], "IM151-8 PN/DP CPU");
    assert_eq!(text[2], "");
    assert_eq!(text[3], "Original Siemens Equipment");
    assert_eq!(text[4], "S C-C6TW74882012");
    assert_eq!(text[5], "IM151-8 PN/DP CPU");
    assert_eq!(text[6], "MMC 2900FC1A");
    assert_eq!(&recs[7][2..8], &[0x00, 0x2a, 0xf6, 0x00, 0x00, 0x01]);
    plant.shutdown().await;
}

#[tokio::test]
async fn snap7_replay_matches_capture() {
    let Some(dir) = captures_dir("snap7") else {
        return;
    };
    let fr = frames(&dir.join("s7ident.pcap"));
    let plant = start(demo_at(109)).await;
    let mut s = connect(plant.device("snap7-cpu315").unwrap().s7.unwrap()).await;
    let cr = fr
        .iter()
        .find(|f| f.dst.port() == 102 && f.payload.get(5) == Some(&0xe0))
        .unwrap();
    let cc = exchange(&mut s, Framing::Tpkt, &cr.payload).await.unwrap();
    assert_eq!(cc[5], 0xd0, "tsap 0x0101 accepted");
    for (req, reply) in [(8, 9), (10, 11), (12, 13)] {
        let got = exchange(&mut s, Framing::Tpkt, &frame(&fr, req).payload)
            .await
            .unwrap();
        assert_eq!(got, frame(&fr, reply).payload, "reply to frame {req}");
    }
    let all = read_szl_all(&mut s, 0x001c, 0).await;
    let (_, _, _, recs) = szl_records(&all);
    let text: Vec<String> = recs.iter().map(|r| cstr(&r[2..])).collect();
    assert_eq!(
        (
            text[0].as_str(),
            text[1].as_str(),
            text[4].as_str(),
            text[5].as_str(),
            text[6].as_str()
        ),
        (
            "SNAP7-SERVER",
            "CPU 315-2 PN/DP",
            "S C-C2UR28922012",
            "CPU 315-2 PN/DP",
            "MMC 267FF11F"
        )
    );
    plant.shutdown().await;
}
