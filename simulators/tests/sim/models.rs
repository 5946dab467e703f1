//! Device-model behaviours beyond the captures: unit ids, gateways, exceptions,
//! unsupported ENIP commands, TSAP refusal, unknown SZL ids.

use std::time::Duration;

use crate::support::*;

fn exception_of(r: &[u8]) -> Option<(u8, u8)> {
    (r.len() == 9 && r[7] & 0x80 != 0).then(|| (r[7], r[8]))
}

#[tokio::test]
async fn modbus_units_gateway_and_exceptions() {
    let plant = start(demo_at(111)).await;
    // Unit 7 is not served by a plain device: no reply at all.
    let mut s = connect(plant.device("zeek-modbus-test").unwrap().modbus.unwrap()).await;
    s_write(&mut s, &mb_devid(1, 7, 1, 0)).await;
    assert_eq!(
        read_frame(&mut s, Framing::Modbus, Duration::from_millis(200)).await,
        None
    );
    // A write gets "illegal function".
    let w = [0, 2, 0, 0, 0, 6, 1, 0x06, 0, 1, 0, 42];
    assert_eq!(
        exception_of(&exchange(&mut s, Framing::Modbus, &w).await.unwrap()),
        Some((0x86, 0x01))
    );
    // Individual access to an object the device lacks: "illegal data address".
    let r = exchange(&mut s, Framing::Modbus, &mb_devid(3, 1, 4, 0x05))
        .await
        .unwrap();
    assert_eq!(exception_of(&r), Some((0xab, 0x02)));
    // A bad read code: "illegal data value".
    let r = exchange(&mut s, Framing::Modbus, &mb_devid(4, 1, 9, 0))
        .await
        .unwrap();
    assert_eq!(exception_of(&r), Some((0xab, 0x03)));
    // Plain reads: register n holds n.
    let rd = [0, 5, 0, 0, 0, 6, 1, 0x03, 0, 10, 0, 2];
    let r = exchange(&mut s, Framing::Modbus, &rd).await.unwrap();
    assert_eq!(&r[7..], &[0x03, 4, 0, 10, 0, 11]);

    let mut g = connect(plant.device("rtu-gateway").unwrap().modbus.unwrap()).await;
    let own = decode_devid(
        &exchange(&mut g, Framing::Modbus, &mb_devid(1, 247, 1, 0))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(own.objects[0].1, "ProSoft Technology");
    let u2 = decode_devid(
        &exchange(&mut g, Framing::Modbus, &mb_devid(2, 2, 1, 0))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(u2.objects[0].1, "Eaton");
    let dead = exchange(&mut g, Framing::Modbus, &mb_devid(3, 3, 1, 0))
        .await
        .unwrap();
    assert_eq!(
        exception_of(&dead),
        Some((0xab, 0x0b)),
        "configured but dead unit"
    );
    let none = exchange(&mut g, Framing::Modbus, &mb_devid(4, 9, 1, 0))
        .await
        .unwrap();
    assert_eq!(exception_of(&none), Some((0xab, 0x0a)), "no path to unit 9");
    plant.shutdown().await;
}

async fn s_write(s: &mut tokio::net::TcpStream, b: &[u8]) {
    use tokio::io::AsyncWriteExt;
    s.write_all(b).await.unwrap();
}

#[tokio::test]
async fn modbus_stream_access_restarts_unknown_object_and_pages() {
    let plant = start(demo_at(112)).await;
    let mut s = connect(plant.device("m580-main").unwrap().modbus.unwrap()).await;
    // Object 0x42 does not exist: the stream restarts at object 0 (MB app. protocol 6.21).
    let r = decode_devid(
        &exchange(&mut s, Framing::Modbus, &mb_devid(1, 1, 2, 0x42))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(r.objects.first().map(|o| o.0), Some(0));
    assert_eq!(r.objects.len(), 6);
    assert_eq!(r.conformity, 0x82);
    // pymodbus's quirk (0 objects) only where configured.
    let mut q = connect(plant.device("peerlab-pymodbus").unwrap().modbus.unwrap()).await;
    let r = decode_devid(
        &exchange(&mut q, Framing::Modbus, &mb_devid(1, 1, 1, 5))
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(r.objects.is_empty());
    plant.shutdown().await;
}

#[tokio::test]
async fn enip_unsupported_commands_and_chassis_mode() {
    let plant = start(demo_at(113)).await;
    let mut s = connect(plant.device("flex-io-chassis").unwrap().enip_tcp.unwrap()).await;
    let r = exchange(&mut s, Framing::Enip, &enip_req(0x63))
        .await
        .unwrap();
    assert_eq!(
        (&r[0..2], &r[8..12]),
        (&[0x63, 0][..], &[1, 0, 0, 0][..]),
        "list identity refused with 0x0001"
    );
    let r = exchange(&mut s, Framing::Enip, &enip_req(0x04))
        .await
        .unwrap();
    assert_eq!(&r[8..12], &[0, 0, 0, 0], "list services still works");
    let mut reg = enip_req(0x65);
    reg[2] = 4;
    reg.extend_from_slice(&[1, 0, 0, 0]);
    let r = exchange(&mut s, Framing::Enip, &reg).await.unwrap();
    assert_eq!(
        &r[8..12],
        &[1, 0, 0, 0],
        "register session is outside the model: 0x0001"
    );
    plant.shutdown().await;
}

#[tokio::test]
async fn s7_refuses_unknown_tsap_and_unknown_szl() {
    let plant = start(demo_at(114)).await;
    let addr = plant.device("et200s-im151-8").unwrap().s7.unwrap();
    let mut s = connect(addr).await;
    // 0x0101 is not in this CPU's allowlist: disconnect request, then close.
    let dr = exchange(&mut s, Framing::Tpkt, &cotp_cr(0x0101))
        .await
        .unwrap();
    assert_eq!(dr[5], 0x80);
    assert_eq!(
        read_frame(&mut s, Framing::Tpkt, Duration::from_millis(500)).await,
        None
    );
    let mut s = connect(addr).await;
    assert_eq!(
        exchange(&mut s, Framing::Tpkt, &cotp_cr(0x0102))
            .await
            .unwrap()[5],
        0xd0
    );
    let setup = exchange(&mut s, Framing::Tpkt, &s7_setup(960))
        .await
        .unwrap();
    assert_eq!(
        &setup[setup.len() - 2..],
        &240u16.to_be_bytes(),
        "pdu capped at 240"
    );
    let r = exchange(&mut s, Framing::Tpkt, &s7_read_szl(0x0c91, 0))
        .await
        .unwrap();
    let (_, more, err, data) = decode_userdata(&r).unwrap();
    assert_eq!((more, err, data.len()), (false, 0xd401, 0));
    // The 0x0000 list names 0x0011 and 0x001c.
    let list = read_szl_all(&mut s, 0, 0).await;
    let (_, _, _, recs) = szl_records(&list);
    assert!(recs.contains(&vec![0x00, 0x11]) && recs.contains(&vec![0x00, 0x1c]));
    // 0x0111 index 7: the firmware record alone.
    let one = read_szl_all(&mut s, 0x0111, 7).await;
    let (_, _, _, recs) = szl_records(&one);
    assert_eq!(recs.len(), 1);
    assert_eq!(&recs[0][24..28], &[0x56, 0x03, 0x02, 0x06]);
    plant.shutdown().await;
}

#[tokio::test]
async fn s7_small_pdu_fragments_into_several_parts() {
    let plant = start_toml(
        r#"
        [[device]]
        name = "tiny"
        address = "127.115.0.1"
        [device.s7]
        port = 0
        pdu_size = 96
        [device.s7.identity]
        order_number = "6ES7 214-1AG40-0XB0"
        firmware_version = [0x5604, 0x0400]
        as_name = "tiny-as"
        module_name = "tiny-module"
        serial_number = "S C-TINY"
        module_type_name = "CPU 1214C"
        "#,
    )
    .await;
    let mut s = connect(plant.devices()[0].s7.unwrap()).await;
    exchange(&mut s, Framing::Tpkt, &cotp_cr(0x0102))
        .await
        .unwrap();
    exchange(&mut s, Framing::Tpkt, &s7_setup(960))
        .await
        .unwrap();
    let all = read_szl_all(&mut s, 0x001c, 0).await;
    let (_, _, _, recs) = szl_records(&all);
    assert_eq!(cstr(&recs[0][2..]), "tiny-as");
    assert_eq!(cstr(&recs[4][2..]), "S C-TINY");
    let replies = plant
        .ledger()
        .iter()
        .filter(|e| matches!(e.kind, otscout_sim::EventKind::Reply { .. }))
        .count();
    assert!(
        replies >= 2 + 5,
        "348 bytes in 70-byte parts: {replies} replies"
    );
    plant.shutdown().await;
}

#[tokio::test]
async fn port_base_and_explicit_ports() {
    let toml = r#"
        [[device]]
        name = "p"
        address = "127.116.0.1"
        [device.modbus]
        identity = { vendor_name = "v", product_code = "p", revision = "r" }
        [device.enip]
        identity = { vendor_id = 1, device_type = 12, product_code = 1, revision_major = 1, revision_minor = 1, serial = 1, product_name = "n" }
        [device.s7]
        port = 10102
        [device.s7.identity]
        order_number = "6ES7 000-0AA00-0AA0"
        firmware_version = [0x5601, 0x0000]
        as_name = "a"
        module_name = "m"
        serial_number = "s"
        module_type_name = "t"
        "#;
    let plant = otscout_sim::Plant::from_toml_str(toml).unwrap();
    let running = otscout_sim::start(
        plant.clone(),
        otscout_sim::StartOptions {
            ports: otscout_sim::PortOverride::Base(41000),
            ledger_sink: None,
        },
    )
    .await
    .unwrap();
    let d = &running.devices()[0];
    assert_eq!(d.modbus.unwrap().port(), 41502);
    assert_eq!(
        (d.enip_tcp.unwrap().port(), d.enip_udp.unwrap().port()),
        (41818, 41818)
    );
    assert_eq!(d.s7.unwrap().port(), 41102);
    running.shutdown().await;
    // As configured: the explicit S7 port is used (the others need root, so drop them).
    let mut plant = plant;
    plant.devices[0].modbus = None;
    plant.devices[0].enip = None;
    let running = otscout_sim::start(plant, otscout_sim::StartOptions::default())
        .await
        .unwrap();
    assert_eq!(
        running.devices()[0].s7.unwrap().to_string(),
        "127.116.0.1:10102"
    );
    running.shutdown().await;
}
