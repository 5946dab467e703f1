//! Goldens from the real captures of `captures/INDEX.md` (each names its file and frame),
//! tested both ways, and the framing and chunk rules.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// open62541_client-server_encrypted.pcap frame 5: the open62541 client's Hello.
const HEL_OPEN62541: &str = "48454c46 38000000 00000000 ffff0000 ffff0000 00000000 00000000
    18000000 6f70632e7463703a2f2f6c6f63616c686f73743a34383430";
/// Same capture, frame 7: the server's Acknowledge.
const ACK_OPEN62541: &str = "41434b46 1c000000 00000000 ffff0000 ffff0000 00000000 00000000";
/// Same capture, frame 9: OpenSecureChannel request, policy None, mode None, lifetime 600000.
const OPN_REQ_OPEN62541: &str = "4f504e46 84000000 00000000
    2f000000 687474703a2f2f6f7063666f756e646174696f6e2e6f72672f55412f5365637572697479506f6c696379234e6f6e65
    ffffffff ffffffff 01000000 01000000
    0100be01 0000 1c170e64d1cfd501 00000000 00000000 ffffffff 00000000 000000
    00000000 00000000 01000000 ffffffff c0270900";
/// Same capture, frame 11: OpenSecureChannel response (channel 1, token 1).
const OPN_RESP_OPEN62541: &str = "4f504e46 87000000 01000000
    2f000000 687474703a2f2f6f7063666f756e646174696f6e2e6f72672f55412f5365637572697479506f6c696379234e6f6e65
    ffffffff ffffffff 01000000 01000000
    0100c101 a21d0e64d1cfd501 00000000 00000000 00 ffffffff 000000
    00000000 01000000 01000000 981d0e64d1cfd501 c0270900 ffffffff";
/// Same capture, frame 13: GetEndpoints request for opc.tcp://localhost:4840.
const GEP_REQ_OPEN62541: &str = "4d534746 5d000000 01000000 01000000 02000000 02000000
    0100ac01 0000 ec230e64d1cfd501 01000000 00000000 ffffffff 10270000 000000
    18000000 6f70632e7463703a2f2f6c6f63616c686f73743a34383430 ffffffff ffffffff";
/// Same capture, frame 17: CloseSecureChannel.
const CLO_OPEN62541: &str = "434c4f46 39000000 01000000 01000000 03000000 03000000
    0100c401 0000 4c320e64d1cfd501 01000000 00000000 ffffffff 10270000 000000";
/// open62541_discover_getendpoints_discover_urls.pcap frame 57: FindServers, no filter.
const FIND_REQ_LDS: &str = "4d534746 45000000 03000000 03000000 02000000 02000000
    0100a601 0000 ecefc63f3aaad701 01000000 00000000 ffffffff 00000000 000000
    ffffffff ffffffff ffffffff";
/// Same capture, frame 85: GetEndpoints answer on 192.168.224.105 (one endpoint, no
/// certificate, three DiscoveryUrls).
const GEP_RESP_LDS: &str = "4d534746 11020000 04000000 04000000 02000000 02000000
    0100af01 86b4c73f3aaad701 01000000 00000000 00 ffffffff 000000
    01000000 1a000000 6f70632e7463703a2f2f4d6175692d31363731343a343834302f
    20000000 75726e3a6f70656e36323534312e7365727665722e6170706c69636174696f6e
    14000000 687474703a2f2f6f70656e36323534312e6f7267
    03 02000000 656e 22000000 6f70656e36323534312d6261736564204f5043205541204170706c69636174696f6e
    00000000 09000000 6d7947415445574159 06000000 6d7944495343
    03000000 07000000 6d795f6f70656e 08000000 6d795f3632353431 09000000 6d795f6f7063207561
    ffffffff 01000000
    2f000000 687474703a2f2f6f7063666f756e646174696f6e2e6f72672f55412f5365637572697479506f6c696379234e6f6e65
    02000000
    1a000000 6f70656e36323534312d616e6f6e796d6f75732d706f6c696379 00000000 ffffffff ffffffff ffffffff
    19000000 6f70656e36323534312d757365726e616d652d706f6c696379 01000000 ffffffff ffffffff
    2f000000 687474703a2f2f6f7063666f756e646174696f6e2e6f72672f55412f5365637572697479506f6c696379234e6f6e65
    41000000 687474703a2f2f6f7063666f756e646174696f6e2e6f72672f55412d50726f66696c652f5472616e73706f72742f75617463702d756173632d756162696e617279
    01";
/// opc-ua-ap-method-wireshark-freeze.pcap frame 4: the AnsiC client's Hello on port 12001
/// (max message 4000).
const HEL_ANSIC: &str = "48454c46 4f000000 00000000 ffff0000 ffff0000 a00f0000 00000000
    2f000000 6f70632e7463703a2f2f766d2d78702d73746576656e3a31323030312f55412f537461636b54657374536572766572";
/// Same capture, frame 9: the AnsiC server's OpenSecureChannel answer (channel 6495, a
/// one-byte server nonce).
const OPN_RESP_ANSIC: &str = "4f504e46 88000000 5f190000
    2f000000 687474703a2f2f6f7063666f756e646174696f6e2e6f72672f55412f5365637572697479506f6c696379234e6f6e65
    ffffffff ffffffff 33000000 01000000
    0100c101 edd560575c2bca01 01000000 00000000 00 ffffffff 000000
    00000000 5f190000 01000000 edd560575c2bca01 80ee3600 01000000 01";
/// Same capture, frame 11: GetEndpoints with a null EndpointUrl and empty (not null) arrays.
const GEP_REQ_ANSIC: &str = "4d534746 45000000 5f190000 01000000 02000000 02000000
    0100ac01 0000 003c7d0c5c2bca01 01000000 ff030000 ffffffff 00000000 000000
    ffffffff 00000000 00000000";
/// Same capture, frame 43: the ERR that ends the first connection (0x80020000, no reason).
const ERR_ANSIC: &str = "45525246 10000000 00000280 ffffffff";

fn chunk(s: &str) -> Chunk {
    match Frame::decode_exact(&hex(s)).expect("decodes") {
        Frame::Chunk(c) => c,
        f => panic!("not a chunk: {f:?}"),
    }
}

fn service(s: &str) -> Service {
    let c = chunk(s);
    Service::decode(c.plain().expect("plain").body).expect("service decodes")
}

fn roundtrip(s: &str) {
    let bytes = hex(s);
    let f = Frame::decode_exact(&bytes).expect("decodes");
    let mut out = Vec::new();
    f.encode(&mut out);
    assert_eq!(out, bytes);
    assert_eq!(f.encoded_len(), bytes.len());
}

#[test]
fn hello_golden_both_ways() {
    let bytes = hex(HEL_OPEN62541);
    let Frame::Hello(h) = Frame::decode_exact(&bytes).unwrap() else {
        panic!("not a hello")
    };
    assert_eq!(
        h,
        Hello {
            protocol_version: 0,
            receive_buffer_size: 65535,
            send_buffer_size: 65535,
            max_message_size: 0,
            max_chunk_count: 0,
            endpoint_url: Some("opc.tcp://localhost:4840".into()),
        }
    );
    roundtrip(HEL_OPEN62541);
    let Frame::Hello(h) = Frame::decode_exact(&hex(HEL_ANSIC)).unwrap() else {
        panic!("not a hello")
    };
    assert_eq!(h.max_message_size, 4000);
    assert_eq!(
        h.endpoint_url.as_deref(),
        Some("opc.tcp://vm-xp-steven:12001/UA/StackTestServer")
    );
    roundtrip(HEL_ANSIC);
}

#[test]
fn acknowledge_and_error_goldens() {
    let Frame::Acknowledge(a) = Frame::decode_exact(&hex(ACK_OPEN62541)).unwrap() else {
        panic!("not an ack")
    };
    assert_eq!((a.receive_buffer_size, a.send_buffer_size), (65535, 65535));
    assert_eq!((a.max_message_size, a.max_chunk_count), (0, 0));
    roundtrip(ACK_OPEN62541);
    let Frame::Error(e) = Frame::decode_exact(&hex(ERR_ANSIC)).unwrap() else {
        panic!("not an error")
    };
    assert_eq!(e.error, 0x8002_0000);
    assert_eq!(e.reason, None, "a null reason is not the empty string");
    roundtrip(ERR_ANSIC);
}

#[test]
fn open_secure_channel_request_golden_both_ways() {
    let c = chunk(OPN_REQ_OPEN62541);
    let Security::Asymmetric(a) = &c.security else {
        panic!("opn without asymmetric header")
    };
    assert!(a.is_none_policy());
    assert_eq!(
        (
            a.sender_certificate.as_ref(),
            a.receiver_thumbprint.as_ref()
        ),
        (None, None)
    );
    assert_eq!(c.channel_id, 0);
    let p = c.plain().unwrap();
    assert_eq!((p.sequence_number, p.request_id), (1, 1));
    let s = Service::decode(p.body).unwrap();
    let want = Service::OpenSecureChannelRequest {
        header: RequestHeader {
            timestamp: 0x01d5_cfd1_640e_171c,
            ..RequestHeader::new(NodeId::NULL, 0, 0)
        },
        client_protocol_version: 0,
        request_type: 0,
        security_mode: 1,
        client_nonce: None,
        requested_lifetime: 600_000,
    };
    assert_eq!(s, want);
    // Encode the decoded value the way otscout builds its own: the same bytes.
    let mut body = Vec::new();
    want.encode(&mut body);
    let mut out = Vec::new();
    secure_frame(MessageType::Open, 0, 0, 1, 1, &body).encode(&mut out);
    assert_eq!(out, hex(OPN_REQ_OPEN62541));
}

#[test]
fn open_secure_channel_responses() {
    let Service::OpenSecureChannelResponse {
        header,
        channel_id,
        token_id,
        revised_lifetime,
        server_nonce,
        ..
    } = service(OPN_RESP_OPEN62541)
    else {
        panic!("not an opn response")
    };
    assert!(header.is_good());
    assert_eq!((channel_id, token_id, revised_lifetime), (1, 1, 600_000));
    assert_eq!(server_nonce, None);
    roundtrip(OPN_RESP_OPEN62541);
    let Service::OpenSecureChannelResponse {
        channel_id,
        token_id,
        server_nonce,
        ..
    } = service(OPN_RESP_ANSIC)
    else {
        panic!("not an opn response")
    };
    assert_eq!((channel_id, token_id), (6495, 1));
    assert_eq!(server_nonce, Some(vec![1]));
}

#[test]
fn get_endpoints_request_goldens_both_ways() {
    let c = chunk(GEP_REQ_OPEN62541);
    assert_eq!(c.security, Security::Symmetric { token_id: 1 });
    let s = service(GEP_REQ_OPEN62541);
    let want = Service::GetEndpointsRequest {
        header: RequestHeader {
            timestamp: 0x01d5_cfd1_640e_23ec,
            ..RequestHeader::new(NodeId::NULL, 1, 10_000)
        },
        endpoint_url: Some("opc.tcp://localhost:4840".into()),
        locale_ids: None,
        profile_uris: None,
    };
    assert_eq!(s, want);
    let mut body = Vec::new();
    want.encode(&mut body);
    let mut out = Vec::new();
    secure_frame(MessageType::Message, 1, 1, 2, 2, &body).encode(&mut out);
    assert_eq!(out, hex(GEP_REQ_OPEN62541));

    // The AnsiC client: a null URL and empty arrays, which stay apart from null ones.
    let Service::GetEndpointsRequest {
        endpoint_url,
        locale_ids,
        profile_uris,
        header,
    } = service(GEP_REQ_ANSIC)
    else {
        panic!("not get endpoints")
    };
    assert_eq!(endpoint_url, None);
    assert_eq!(locale_ids, Some(Vec::new()));
    assert_eq!(profile_uris, Some(Vec::new()));
    assert_eq!(header.return_diagnostics, 0x3ff);
    roundtrip(GEP_REQ_ANSIC);
}

#[test]
fn close_and_find_servers_goldens() {
    let want = Service::CloseSecureChannelRequest {
        header: RequestHeader {
            timestamp: 0x01d5_cfd1_640e_324c,
            ..RequestHeader::new(NodeId::NULL, 1, 10_000)
        },
    };
    assert_eq!(service(CLO_OPEN62541), want);
    let mut body = Vec::new();
    want.encode(&mut body);
    let mut out = Vec::new();
    secure_frame(MessageType::Close, 1, 1, 3, 3, &body).encode(&mut out);
    assert_eq!(out, hex(CLO_OPEN62541));

    let Service::FindServersRequest {
        endpoint_url,
        locale_ids,
        server_uris,
        ..
    } = service(FIND_REQ_LDS)
    else {
        panic!("not find servers")
    };
    assert_eq!((endpoint_url, locale_ids, server_uris), (None, None, None));
    roundtrip(FIND_REQ_LDS);
}

#[test]
fn get_endpoints_response_golden() {
    let Service::GetEndpointsResponse { header, endpoints } = service(GEP_RESP_LDS) else {
        panic!("not a get endpoints response")
    };
    assert!(header.is_good());
    assert_eq!(endpoints.len(), 1);
    let e = &endpoints[0];
    assert_eq!(
        e.endpoint_url.as_deref(),
        Some("opc.tcp://Maui-16714:4840/")
    );
    assert_eq!(
        e.server.application_uri.as_deref(),
        Some("urn:open62541.server.application")
    );
    assert_eq!(
        e.server.product_uri.as_deref(),
        Some("http://open62541.org")
    );
    assert_eq!(
        e.server.application_name,
        LocalizedText {
            locale: Some("en".into()),
            text: Some("open62541-based OPC UA Application".into())
        }
    );
    assert_eq!(e.server.application_type, 0);
    assert_eq!(
        e.server.discovery_urls,
        Some(vec![
            Some("my_open".into()),
            Some("my_62541".into()),
            Some("my_opc ua".into())
        ])
    );
    assert_eq!(e.server_certificate, None);
    assert_eq!(security_mode_name(e.security_mode), "none");
    assert_eq!(e.security_policy_uri.as_deref(), Some(POLICY_NONE));
    let tokens: Vec<_> = e
        .user_identity_tokens
        .iter()
        .map(|t| (t.policy_id.clone().unwrap(), t.token_type))
        .collect();
    assert_eq!(
        tokens,
        [
            ("open62541-anonymous-policy".to_string(), 0),
            ("open62541-username-policy".to_string(), 1)
        ]
    );
    assert_eq!(e.security_level, 1);
    roundtrip(GEP_RESP_LDS);
}

#[test]
fn frame_len_contract_on_goldens() {
    for g in [
        HEL_OPEN62541,
        ACK_OPEN62541,
        OPN_REQ_OPEN62541,
        GEP_RESP_LDS,
        ERR_ANSIC,
    ] {
        let b = hex(g);
        for cut in 0..b.len() {
            assert_eq!(frame_len(&b[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(frame_len(&b), Ok(Some(b.len())));
        let mut two = b.clone();
        two.extend_from_slice(&b);
        assert_eq!(frame_len(&two), Ok(Some(b.len())));
    }
}

#[test]
fn frame_len_refuses_foreign_and_bad_headers() {
    // A Modbus frame, an HTTP request: not OPC UA from the first byte.
    assert!(frame_len(&[0x00, 0x01, 0x00, 0x00]).is_err());
    assert!(frame_len(b"GET / HTTP/1.1").is_err());
    assert!(frame_len(b"HEX").is_err());
    // A hello may not be chunked; sizes below the type's fixed fields or above the cap.
    assert!(frame_len(&hex("48454c43 38000000")).is_err());
    assert!(frame_len(b"MSGX").is_err());
    assert!(frame_len(&hex("4d534746 07000000")).is_err());
    assert!(frame_len(&hex("4d534746 17000000")).is_err());
    assert!(matches!(
        frame_len(&hex("4d534746 01001000")),
        Err(DecodeError::TooLarge { .. })
    ));
}

#[test]
fn null_string_is_not_empty_string() {
    let mut c = Cursor::framed(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    assert_eq!(read_string(&mut c, "a"), Ok(None));
    assert_eq!(read_string(&mut c, "b"), Ok(Some(String::new())));
    let mut out = Vec::new();
    write_string(&mut out, None);
    write_string(&mut out, Some(""));
    assert_eq!(out, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    // Other negative lengths are invalid, and lengths past the cap are refused before any
    // allocation.
    assert!(read_string(&mut Cursor::framed(&[0xfe, 0xff, 0xff, 0xff]), "c").is_err());
    assert!(matches!(
        read_string(&mut Cursor::framed(&[0, 0, 0, 0x10]), "d"),
        Err(DecodeError::TooLarge { .. })
    ));
}

#[test]
fn array_counts_are_checked_before_allocating() {
    // GetEndpoints answer claiming 200 endpoints with no bytes behind the count.
    let mut body = Vec::new();
    NodeId::ns0(id::GET_ENDPOINTS_RESPONSE).encode(&mut body);
    body.extend_from_slice(&hex(
        "0000000000000000 00000000 00000000 00 ffffffff 000000",
    ));
    body.extend_from_slice(&200u32.to_le_bytes());
    assert!(matches!(
        Service::decode(&body),
        Err(DecodeError::Truncated { .. })
    ));
    let mut body2 = body[..body.len() - 4].to_vec();
    body2.extend_from_slice(&100_000u32.to_le_bytes());
    assert!(matches!(
        Service::decode(&body2),
        Err(DecodeError::TooLarge { .. })
    ));
}

#[test]
fn node_ids_take_the_shortest_form_and_round_trip() {
    for (n, bytes) in [
        (NodeId::ns0(13), hex("00 0d")),
        (NodeId::ns0(2260), hex("01 00 d408")),
        (
            NodeId::Numeric { ns: 1, id: 70_000 },
            hex("02 0100 70110100"),
        ),
        (
            NodeId::Opaque {
                ns: 1,
                value: Some(vec![0xaa, 0xbb]),
            },
            hex("05 0100 02000000 aabb"),
        ),
    ] {
        let mut out = Vec::new();
        n.encode(&mut out);
        assert_eq!(out, bytes);
        assert_eq!(NodeId::decode(&mut Cursor::framed(&bytes)), Ok(n));
    }
    assert!(NodeId::decode(&mut Cursor::framed(&hex("06 00"))).is_err());
    // Expanded flags only where an ExpandedNodeId stands.
    assert!(NodeId::decode(&mut Cursor::framed(&hex("40 0d 00000000"))).is_err());
    assert_eq!(
        NodeId::decode_expanded(&mut Cursor::framed(&hex("40 0d 00000000"))),
        Ok(NodeId::ns0(13))
    );
}

#[test]
fn chunks_reassemble_by_request_id_and_abort_drops() {
    let mut r = Reassembly::default();
    let p = |id, body: &'static [u8]| Plain {
        sequence_number: 0,
        request_id: id,
        body,
    };
    assert_eq!(r.push(ChunkType::Intermediate, &p(7, b"ab")), Ok(None));
    assert_eq!(
        r.push(ChunkType::Final, &p(7, b"cd")),
        Ok(Some(b"abcd".to_vec()))
    );
    assert_eq!(r.push(ChunkType::Intermediate, &p(8, b"ab")), Ok(None));
    assert!(r.push(ChunkType::Abort, &p(8, b"")).is_err());
    assert_eq!(
        r.push(ChunkType::Final, &p(9, b"x")),
        Ok(Some(b"x".to_vec()))
    );
    assert_eq!(r.push(ChunkType::Intermediate, &p(1, b"a")), Ok(None));
    assert!(
        r.push(ChunkType::Final, &p(2, b"b")).is_err(),
        "another request's chunk"
    );
    for _ in 0..MAX_CHUNKS {
        assert_eq!(r.push(ChunkType::Intermediate, &p(3, b"a")), Ok(None));
    }
    assert!(matches!(
        r.push(ChunkType::Intermediate, &p(3, b"a")),
        Err(DecodeError::TooLarge { .. })
    ));
}

#[test]
fn read_response_values() {
    // ReadResponse with a String, a null String, a DateTime, a LocalizedText, a bad
    // status without value, and an Int32 array: all decode in order.
    let mut b = Vec::new();
    NodeId::ns0(id::READ_RESPONSE).encode(&mut b);
    b.extend_from_slice(&hex(
        "0000000000000000 01000000 00000000 00 ffffffff 000000",
    ));
    b.extend_from_slice(&6u32.to_le_bytes());
    b.extend_from_slice(&hex("01 0c 03000000 414243"));
    b.extend_from_slice(&hex("01 0c ffffffff"));
    b.extend_from_slice(&hex("01 0d 0102030405060708"));
    b.extend_from_slice(&hex("01 15 02 02000000 6869"));
    b.extend_from_slice(&hex("02 00003480"));
    b.extend_from_slice(&hex("09 86 02000000 01000000 02000000 0102030405060708"));
    b.extend_from_slice(&hex("ffffffff"));
    let Service::ReadResponse { results, .. } = Service::decode(&b).unwrap() else {
        panic!("not a read response")
    };
    assert_eq!(results.len(), 6);
    assert_eq!(results[0].value, Some(Value::String(Some("ABC".into()))));
    assert_eq!(results[1].value, Some(Value::String(None)));
    assert_eq!(
        results[2].value,
        Some(Value::DateTime(0x0807_0605_0403_0201))
    );
    assert!(matches!(results[3].value, Some(Value::LocalizedText(_))));
    assert_eq!(
        results[4],
        DataValue {
            value: None,
            status: Some(0x8034_0000)
        }
    );
    assert_eq!(results[5].value, Some(Value::Other(6)));
}

#[test]
fn service_table_names_writes_and_calls() {
    assert_eq!(service_of(673), ("write", Access::Write));
    assert_eq!(service_of(712), ("call", Access::Control));
    assert_eq!(service_of(488), ("add_nodes", Access::Configuration));
    assert_eq!(service_of(500), ("delete_nodes", Access::Configuration));
    assert_eq!(service_of(700), ("history_update", Access::Write));
    assert_eq!(service_of(631), ("read", Access::Read));
    assert_eq!(service_of(428), ("get_endpoints", Access::Connection));
    assert_eq!(service_of(9), ("unknown", Access::Unknown));
}
