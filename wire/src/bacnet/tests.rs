//! Golden vectors from the shared captures (see `$OTSCOUT_CAPTURES/INDEX.md`), each decoded
//! to the values tshark 4.0.17 shows and encoded back to the exact bytes, plus hand-made
//! malformed cases.
//!
//! `bacnet_test.pcap`: a JCI NAE (10.1.1.165) read by a scanner (10.1.1.167) with the
//! wildcard instance. `bacnet_services.pcap`: an Automated Logic router (192.168.0.24)
//! relaying network 3, a workstation (192.168.0.50) writing and walking its devices.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn text(v: &Value) -> String {
    v.as_char_string().unwrap().to_text().0
}

/// A confirmed ReadProperty request as otscout builds it.
fn read_property(invoke_id: u8, instance: u32, property: u32) -> Vec<u8> {
    let mut data = Vec::new();
    ReadPropertyRequest {
        object: ObjectId::device(instance),
        property,
        array_index: None,
    }
    .encode(&mut data);
    let apdu = Apdu::ConfirmedRequest(ConfirmedRequest {
        segmented: false,
        more_follows: false,
        segmented_response_accepted: false,
        max_segments: 0,
        max_apdu: 5,
        invoke_id,
        segment: None,
        service: ConfirmedService::READ_PROPERTY,
        data,
    });
    let mut out = Vec::new();
    unicast_datagram(&apdu, &mut out);
    out
}

fn ack(datagram: &[u8]) -> (Npdu, ReadPropertyAck) {
    let d = Datagram::decode(datagram).unwrap();
    let Some(Apdu::ComplexAck { data, service, .. }) = d.apdu else {
        panic!("not a complex ack: {:?}", d.apdu)
    };
    assert_eq!(service, ConfirmedService::READ_PROPERTY);
    let a = ReadPropertyAck::decode(&data).unwrap();
    // Encoding the decoded ack gives back the captured service data.
    let mut again = Vec::new();
    a.encode(&mut again);
    assert_eq!(again, data);
    (d.npdu.unwrap(), a)
}

#[test]
fn bacnet_test_frame3_read_property_request_encodes_exactly() {
    // bacnet_test.pcap frame 3: ReadProperty device,4194303 object-identifier, invoke 1,
    // max APDU code 5 (1476), no segmentation accepted, NPDU 0x04 (expecting reply).
    let captured = hex("810a0011 0104 0005010c 0c023fffff 194b");
    assert_eq!(
        read_property(1, WILDCARD_INSTANCE, property::OBJECT_IDENTIFIER),
        captured
    );
    let d = Datagram::decode(&captured).unwrap();
    assert_eq!(d.bvll.function, BvlcFunction::OriginalUnicast);
    let npdu = d.npdu.unwrap();
    assert!(npdu.expecting_reply() && npdu.destination.is_none() && npdu.source.is_none());
    let Some(Apdu::ConfirmedRequest(r)) = d.apdu else {
        panic!()
    };
    assert_eq!((r.invoke_id, r.max_apdu, r.service.0), (1, 5, 12));
    assert!(!r.segmented_response_accepted);
    let rp = ReadPropertyRequest::decode(&r.data).unwrap();
    assert_eq!(rp.object, ObjectId::device(WILDCARD_INSTANCE));
    assert_eq!(rp.property, 75);
}

#[test]
fn bacnet_test_wildcard_acks_echo_4194303_and_hold_the_identity() {
    // Frame 4: object-identifier answers device,500 inside an ack for device,4194303.
    let (npdu, a) = ack(&hex(
        "810a0017 0100 30010c 0c023fffff 194b 3e c4020001f4 3f",
    ));
    assert_eq!(npdu.control, 0x00);
    assert_eq!(a.object, ObjectId::device(WILDCARD_INSTANCE));
    assert_eq!(a.values, vec![Value::ObjectId(ObjectId::device(500))]);
    // Frame 6: vendor-identifier 5 (Johnson Controls).
    let (_, a) = ack(&hex("810a0014 0100 30010c 0c023fffff 1978 3e 2105 3f"));
    assert_eq!(
        (a.property, a.values.clone()),
        (120, vec![Value::Unsigned(5)])
    );
    // Frame 8: vendor-name `JCI` in character set 4 (UCS-2 big-endian).
    let (_, a) = ack(&hex(
        "810a001b 0100 30010c 0c023fffff 1979 3e 7507 04 004a00430049 3f",
    ));
    assert_eq!(a.values[0].as_char_string().unwrap().charset, 4);
    assert_eq!(text(&a.values[0]), "JCI");
    // Frame 10: firmware-revision `5.1.0.4400`.
    let (_, a) = ack(&hex(
        "810a0029 0100 30010c 0c023fffff 192c 3e 7515 04 0035002e0031002e0030002e0034003400300030 3f",
    ));
    assert_eq!(text(&a.values[0]), "5.1.0.4400");
    // Frame 12: application-software-version empty: tag 0x71, only the set byte.
    let (_, a) = ack(&hex("810a0014 0100 30010c 0c023fffff 190c 3e 7104 3f"));
    assert_eq!(
        a.values,
        vec![Value::CharacterString(CharString {
            charset: 4,
            raw: vec![]
        })]
    );
    // Frames 14 and 16: object-name `KBRNAE`, model-name `MS-NAE4510-2`.
    let (_, a) = ack(&hex(
        "810a0021 0100 30010c 0c023fffff 194d 3e 750d 04004b00420052004e00410045 3f",
    ));
    assert_eq!((a.property, text(&a.values[0])), (77, "KBRNAE".into()));
    let (_, a) = ack(&hex(
        "810a002d 0100 30010c 0c023fffff 1946 3e 7519 04004d0053002d004e004100450034003500310030002d0032 3f",
    ));
    assert_eq!(
        (a.property, text(&a.values[0])),
        (70, "MS-NAE4510-2".into())
    );
}

#[test]
fn bacnet_test_bvlc_distribution_functions_and_naks() {
    // Frame 21: Read-Broadcast-Distribution-Table; 22: BVLC-Result 0x0020 (NAK).
    let b = Bvll::decode_exact(&hex("81020004")).unwrap();
    assert_eq!((b.function, b.npdu()), (BvlcFunction::ReadBdt, None));
    let r = Bvll::decode_exact(&hex("810000060020")).unwrap();
    assert_eq!(r.result_code(), Some(0x0020));
    // Frame 25: Register-Foreign-Device, TTL 16 s; 26: NAK 0x0030.
    let f = Bvll::decode_exact(&hex("810500060010")).unwrap();
    assert_eq!(
        (f.function, f.payload.clone()),
        (BvlcFunction::RegisterForeignDevice, vec![0, 0x10])
    );
    assert_eq!(
        Bvll::decode_exact(&hex("810000060030"))
            .unwrap()
            .result_code(),
        Some(0x30)
    );
    for raw in ["81020004", "810500060010", "810000060030"] {
        let b = Bvll::decode_exact(&hex(raw)).unwrap();
        let mut out = Vec::new();
        b.encode(&mut out);
        assert_eq!(out, hex(raw));
        assert_eq!(b.encoded_len(), out.len());
    }
}

#[test]
fn bacnet_services_who_is_and_i_am() {
    // Frame 283: Who-Is 108-108 broadcast to DNET 65535 (DLEN 0, hop count 255).
    let raw = hex("810b0010 0120ffff00ff 1008 096c 196c");
    let d = Datagram::decode(&raw).unwrap();
    assert_eq!(d.bvll.function, BvlcFunction::OriginalBroadcast);
    let n = d.npdu.clone().unwrap();
    assert_eq!(
        n.destination,
        Some(NetAddr {
            network: 0xFFFF,
            mac: vec![]
        })
    );
    assert_eq!(n.hop_count, Some(255));
    let Some(Apdu::Unconfirmed { service, data }) = d.apdu else {
        panic!()
    };
    assert_eq!(service, UnconfirmedService::WHO_IS);
    assert_eq!(WhoIs::decode(&data).unwrap().range, Some((108, 108)));
    let mut out = Vec::new();
    d.bvll.encode(&mut out);
    assert_eq!(out, raw);
    let mut again = Vec::new();
    n.encode(&mut again);
    assert_eq!(again, d.bvll.payload);

    // Frame 299: the router's own I-Am: device 4194303 (a client, not a device instance),
    // max APDU 480, no segmentation (3), vendor 24.
    let d = Datagram::decode(&hex("810b0014 0100 1000 c4023fffff 2201e0 9103 2118")).unwrap();
    let Some(Apdu::Unconfirmed { data, .. }) = d.apdu else {
        panic!()
    };
    let i = IAm::decode(&data).unwrap();
    assert_eq!(
        i,
        IAm {
            device: ObjectId::device(WILDCARD_INSTANCE),
            max_apdu: 480,
            segmentation: 3,
            vendor_id: 24
        }
    );
    let mut out = Vec::new();
    i.encode(&mut out);
    assert_eq!(out, data);

    // Frame 288: an I-Am relayed from network 3 (SNET 3, SADR 0x6c = device 108), as
    // echoed from 192.168.0.255: DNET 65535, hop count 0xfe.
    let d = Datagram::decode(&hex(
        "810b001c 0128ffff0000 03016c fe 1000 c40200006c 2201e0 9100 212a",
    ))
    .unwrap();
    let n = d.npdu.unwrap();
    assert_eq!(
        n.source,
        Some(NetAddr {
            network: 3,
            mac: vec![0x6c]
        })
    );
    let Some(Apdu::Unconfirmed { data, .. }) = d.apdu else {
        panic!()
    };
    let i = IAm::decode(&data).unwrap();
    assert_eq!(
        (i.device.instance, i.vendor_id, i.segmentation),
        (108, 42, 0)
    );

    // Frame 290: device 111 at 192.168.0.16, max APDU 50, vendor 42.
    let d = Datagram::decode(&hex("810b0017 0120ffff00ff 1000 c40200006f 2132 9103 212a")).unwrap();
    let Some(Apdu::Unconfirmed { data, .. }) = d.apdu else {
        panic!()
    };
    let i = IAm::decode(&data).unwrap();
    assert_eq!((i.device.instance, i.max_apdu, i.vendor_id), (111, 50, 42));
}

#[test]
fn bacnet_services_routed_read_property_keeps_network_and_address() {
    // Frame 623: request to DNET 3 DADR 29 (hop 255), invoke 0x8f; 624: the answer from
    // SNET 3 SADR 29 with device,29.
    let d = Datagram::decode(&hex("810a0016 0124 0003011d ff 02038f0c 0c0200001d 194b")).unwrap();
    let n = d.npdu.unwrap();
    assert_eq!(
        n.destination,
        Some(NetAddr {
            network: 3,
            mac: vec![29]
        })
    );
    assert!(n.expecting_reply());
    let Some(Apdu::ConfirmedRequest(r)) = d.apdu else {
        panic!()
    };
    assert_eq!((r.invoke_id, r.max_segments, r.max_apdu), (0x8f, 0, 3));
    let (n, a) = ack(&hex(
        "810a001b 0108 0003011d 308f0c 0c0200001d 194b 3e c40200001d 3f",
    ));
    assert_eq!(
        n.source,
        Some(NetAddr {
            network: 3,
            mac: vec![29]
        })
    );
    assert_eq!(a.values, vec![Value::ObjectId(ObjectId::device(29))]);
    // Frame 632: vendor-name `Lithonia Lighting, Inc.`, character set 0.
    let (_, a) = ack(&hex(
        "810a0030 0108 0003011d 30930c 0c0200001d 1979 3e 7518 00 4c6974686f6e6961204c69676874696e672c20496e632e 3f",
    ));
    assert_eq!(text(&a.values[0]), "Lithonia Lighting, Inc.");
    // Frames 636, 638, 640: model, firmware, application software version.
    let (_, a) = ack(&hex(
        "810a0021 0108 0003011d 30950c 0c0200001d 1946 3e 7509 0053595343204d4c58 3f",
    ));
    assert_eq!(text(&a.values[0]), "SYSC MLX");
    let (_, a) = ack(&hex(
        "810a001d 0108 0003011d 30960c 0c0200001d 192c 3e 7505 00322e3632 3f",
    ));
    assert_eq!(text(&a.values[0]), "2.62");
    let (_, a) = ack(&hex(
        "810a0024 0108 0003011d 30970c 0c0200001d 190c 3e 750c 0031362d4465632d32303034 3f",
    ));
    assert_eq!(text(&a.values[0]), "16-Dec-2004");
    // Frame 650: max-apdu-length-accepted 480; 652: segmentation-supported 0 (both).
    let (_, a) = ack(&hex(
        "810a0019 0108 0003011d 309c0c 0c0200001d 193e 3e 2201e0 3f",
    ));
    assert_eq!(a.values, vec![Value::Unsigned(480)]);
    let (_, a) = ack(&hex(
        "810a0018 0108 0003011d 309d0c 0c0200001d 196b 3e 9100 3f",
    ));
    assert_eq!(a.values, vec![Value::Enumerated(0)]);
}

#[test]
fn bacnet_services_writes_and_control_are_classified() {
    // Frame 3: WriteProperty (15) to DNET 3 DADR 0x6c.
    let d = Datagram::decode(&hex(
        "810a001f 0124 0003016c ff 0203020f 0c00400065 1955 3e 4442480000 3f 490a",
    ))
    .unwrap();
    let Some(Apdu::ConfirmedRequest(r)) = d.apdu else {
        panic!()
    };
    assert_eq!(r.service.classify(), ("write_property", Access::Write));
    // Frame 4: its SimpleAck.
    let d = Datagram::decode(&hex("810a000d 0108 0003016c 20020f")).unwrap();
    assert_eq!(
        d.apdu,
        Some(Apdu::SimpleAck {
            invoke_id: 2,
            service: ConfirmedService::WRITE_PROPERTY
        })
    );
    // Frame 265: DeviceCommunicationControl (17); 266: Error services (5) / password-failure (26).
    let d = Datagram::decode(&hex("810a0013 0124 0003016c ff 02038411 19012900")).unwrap();
    let Some(Apdu::ConfirmedRequest(r)) = d.apdu else {
        panic!()
    };
    assert_eq!(
        r.service.classify(),
        ("device_communication_control", Access::Control)
    );
    let d = Datagram::decode(&hex("810a0011 0108 0003016c 508411 9105 911a")).unwrap();
    let Some(Apdu::Error {
        invoke_id,
        service,
        data,
    }) = d.apdu
    else {
        panic!()
    };
    assert_eq!((invoke_id, service.0), (0x84, 17));
    assert_eq!(decode_error(&data).unwrap(), (5, 26));
    // Frame 398: ReinitializeDevice (20).
    let d = Datagram::decode(&hex(
        "810a001c 0124 0003016c ff 02038914 0900 1d0900657468657265616c",
    ))
    .unwrap();
    let Some(Apdu::ConfirmedRequest(r)) = d.apdu else {
        panic!()
    };
    assert_eq!(
        r.service.classify(),
        ("reinitialize_device", Access::Control)
    );
    // Frame 7150: Error object (1) / unknown-object (31) to a ReadProperty.
    let d = Datagram::decode(&hex("810a0011 0108 0003016c 504e0c 9101 911f")).unwrap();
    let Some(Apdu::Error { data, .. }) = d.apdu else {
        panic!()
    };
    assert_eq!(
        decode_error(&data).unwrap(),
        (ERROR_CLASS_OBJECT, ERROR_UNKNOWN_OBJECT)
    );
    for s in [7u8, 10, 11, 16] {
        assert_eq!(
            ConfirmedService(s).classify().1,
            Access::Write,
            "service {s}"
        );
    }
}

#[test]
fn bacnet_services_segmented_rpm_ack_with_errors() {
    // Frame 281: the last segment (seq 1) of an RPM ack: analog-input 2132 present-value
    // answered with error object (1) / unknown-object (31).
    let d = Datagram::decode(&hex(
        "810a001e 0108 0003016c 3888 01 10 0e 0c00000854 1e 2955 5e 9101 911f 5f 1f",
    ))
    .unwrap();
    let Some(Apdu::ComplexAck {
        invoke_id,
        segment,
        service,
        data,
    }) = d.apdu
    else {
        panic!()
    };
    assert_eq!(
        (invoke_id, segment, service.0),
        (0x88, Some((1, 0x10, false)), 14)
    );
    let a = RpmAck::decode(&data).unwrap();
    assert_eq!(a.objects.len(), 1);
    assert_eq!(
        (a.objects[0].0.object_type, a.objects[0].0.instance),
        (0, 2132)
    );
    assert_eq!(a.objects[0].1[0].property, 85);
    assert_eq!(a.objects[0].1[0].value, Err((1, 31)));
    let mut again = Vec::new();
    a.encode(&mut again);
    assert_eq!(again, data);
}

#[test]
fn bacnet_services_llc_frame_carries_the_same_npdu() {
    // Frame 286: BACnet/Ethernet (802.3 length 0x1b, LLC 82 82 03), I-Am of device 108
    // from SNET 3 SADR 0x6c; padding after the 27 bytes is the caller's to cut.
    let llc = hex("828203 0128ffff0000 03016c fe 1000 c40200006c 2201e0 9100 212a");
    let n = Npdu::decode(llc_npdu(&llc).unwrap()).unwrap();
    assert_eq!(
        n.source.as_ref().map(|s| (s.network, s.mac.clone())),
        Some((3, vec![0x6c]))
    );
    assert!(llc_npdu(&hex("aaaa03000000")).is_none());
}

#[test]
fn rpm_request_round_trips_with_the_identity_properties() {
    let req = RpmRequest {
        specs: vec![(
            ObjectId::device(WILDCARD_INSTANCE),
            property::IDENTITY.iter().map(|p| (*p, None)).collect(),
        )],
    };
    let mut out = Vec::new();
    req.encode(&mut out);
    assert_eq!(
        out,
        hex("0c023fffff 1e 094b 094d 0979 0978 0946 092c 090c 091c 093a 1f")
    );
    assert_eq!(RpmRequest::decode(&out).unwrap(), req);
}

#[test]
fn frame_len_follows_the_framing_contract() {
    assert_eq!(frame_len(&[]), Ok(None));
    assert_eq!(frame_len(&[0x81, 0x0a, 0x00]), Ok(None));
    assert_eq!(frame_len(&hex("810a0011 01")), Ok(None));
    assert_eq!(frame_len(&hex("81020004 ff")), Ok(Some(4)));
    assert!(frame_len(&hex("820a0011")).is_err());
    assert!(frame_len(&hex("810a0003")).is_err());
    assert!(matches!(
        frame_len(&hex("810affff")),
        Err(DecodeError::TooLarge { .. })
    ));
}

#[test]
fn malformed_inputs_are_refused_with_the_field() {
    // A BVLC length longer than the datagram.
    assert!(matches!(
        Bvll::decode_exact(&hex("810a0020 0104")),
        Err(DecodeError::Truncated {
            field: "bacnet.bvlc.body",
            ..
        })
    ));
    // Trailing bytes after the frame.
    assert!(matches!(
        Bvll::decode_exact(&hex("81020004 00")),
        Err(DecodeError::Trailing { .. })
    ));
    // NPDU version 2, SLEN 0, a DADR longer than the frame.
    assert!(Npdu::decode(&hex("0200")).is_err());
    assert!(Npdu::decode(&hex("0108 0003 00")).is_err());
    assert!(matches!(
        Npdu::decode(&hex("0120 0003 09 01")),
        Err(DecodeError::Truncated {
            field: "bacnet.npdu.dadr",
            ..
        })
    ));
    // A tag length (32-bit extended) far beyond the frame.
    assert!(matches!(
        ReadPropertyAck::decode(&hex("0c023fffff 194b 3e 75ff ffffffff 3f")),
        Err(DecodeError::Truncated { .. })
    ));
    // Unbalanced or mismatched closing tags, and nesting past MAX_DEPTH.
    assert!(ReadPropertyAck::decode(&hex("0c023fffff 194b 3e 2105")).is_err());
    assert!(ReadPropertyAck::decode(&hex("0c023fffff 194b 3e 2105 4f")).is_err());
    let mut deep = hex("0c023fffff 194b 3e");
    deep.extend(std::iter::repeat_n(0x0e, MAX_DEPTH + 2));
    deep.extend(std::iter::repeat_n(0x0f, MAX_DEPTH + 2));
    deep.push(0x3f);
    assert!(matches!(
        ReadPropertyAck::decode(&deep),
        Err(DecodeError::TooLarge {
            field: "bacnet.value.depth",
            ..
        })
    ));
    // An empty character string has no set byte; an unsigned of 9 bytes.
    assert!(Value::decode(&mut Cursor::framed(&hex("70"))).is_err());
    assert!(Value::decode(&mut Cursor::framed(&hex("2509 010203040506070809"))).is_err());
    // Reserved PDU type.
    assert!(Apdu::decode(&[0x80, 0, 0]).is_err());
}

#[test]
fn character_sets_decode_or_say_why_not() {
    let cs = |charset, raw: &[u8]| CharString {
        charset,
        raw: raw.to_vec(),
    };
    assert_eq!(cs(5, &[0x4d, 0xfc]).to_text(), ("Mü".to_string(), None));
    assert_eq!(cs(3, &[0, 0, 0, 0x41]).to_text().0, "A");
    let (s, odd) = cs(4, &[0x00, 0x41, 0x00]).to_text();
    assert_eq!(s, "A");
    assert!(odd.is_some());
    let (_, odd) = cs(0, &[0xff]).to_text();
    assert!(odd.is_some());
    let (s, odd) = cs(2, b"ab").to_text();
    assert_eq!(s, "ab");
    assert!(odd.unwrap().what.contains("character set 2"));
}

#[test]
fn values_round_trip() {
    let values = [
        Value::Null,
        Value::Boolean(true),
        Value::Unsigned(0),
        Value::Unsigned(4194303),
        Value::Unsigned(u64::MAX),
        Value::Signed(-1),
        Value::Signed(-129),
        Value::Signed(127),
        Value::Signed(i64::MIN),
        Value::Real(72.0),
        Value::Double(-0.5),
        Value::OctetString(vec![1; 300]),
        Value::CharacterString(CharString {
            charset: 0,
            raw: b"x".repeat(70000),
        }),
        Value::Enumerated(3),
        Value::Date([126, 12, 7, 1]),
        Value::Time([14, 0, 0, 0]),
        Value::ObjectId(ObjectId::device(500)),
    ];
    for v in values {
        let mut out = Vec::new();
        v.encode(&mut out);
        let mut c = Cursor::framed(&out);
        assert_eq!(Value::decode(&mut c).unwrap(), v);
        assert!(c.is_empty(), "{v:?}");
    }
}

#[test]
fn error_reject_abort_round_trip() {
    for a in [
        Apdu::Reject {
            invoke_id: 3,
            reason: 9,
        },
        Apdu::Abort {
            invoke_id: 4,
            server: true,
            reason: 4,
        },
        Apdu::SegmentAck {
            invoke_id: 0x88,
            negative: false,
            server: false,
            sequence: 1,
            window: 0x10,
        },
    ] {
        let mut out = Vec::new();
        a.encode(&mut out);
        assert_eq!(Apdu::decode(&out).unwrap(), a);
    }
    // bacnet_services.pcap frame 282: the client's SegmentACK.
    assert_eq!(
        Apdu::decode(&hex("40880110")).unwrap(),
        Apdu::SegmentAck {
            invoke_id: 0x88,
            negative: false,
            server: false,
            sequence: 1,
            window: 0x10
        }
    );
    let mut e = Vec::new();
    encode_error(1, 31, &mut e);
    assert_eq!(e, hex("9101 911f"));
}
