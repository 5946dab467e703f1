//! The untrusted-input contract of the crate docs, held by the crate itself: every decoder
//! entry point of every codec, fed arbitrary bytes (and arbitrary bodies behind a valid
//! header), returns instead of panicking, and whatever decodes encodes back to the bytes
//! it used. otscout's integration tests (`tests/it/{modbus,enip,s7}.rs`) run the same
//! inputs through the guard, the identity mappings and the probe sessions as well.

use otscout_wire::Cursor;
use otscout_wire::{bacnet, dcp, enip, fins, fox, modbus, opcua, s7};
use proptest::prelude::*;

fn modbus_entry_points(bytes: &[u8]) {
    if let Ok(Some(n)) = modbus::frame_len(bytes) {
        assert!(
            n > 0 && n <= bytes.len(),
            "Some({n}) with {} held",
            bytes.len()
        );
    }
    let mut c = Cursor::framed(bytes);
    if let Ok(adu) = modbus::ResponseAdu::decode(&mut c) {
        if let modbus::Response::ReadDeviceId(r) = &adu.pdu {
            let _ = r.anomalies();
        }
        let _ = adu.pdu.report_server_id();
        let mut out = Vec::new();
        adu.encode(&mut out);
        assert_eq!(out, &bytes[..c.position()]);
        assert_eq!(out.len(), adu.encoded_len());
    }
    let mut c = Cursor::framed(bytes);
    if let Ok(adu) = modbus::RequestAdu::decode(&mut c) {
        let _ = modbus::classify(&adu.pdu);
        let _ = adu.pdu.address_range();
        let mut out = Vec::new();
        adu.encode(&mut out);
        assert_eq!(out, &bytes[..c.position()]);
    }
    let _ = modbus::RequestAdu::decode(&mut Cursor::new(bytes));
    let _ = modbus::ResponseAdu::decode(&mut Cursor::new(bytes));
}

fn enip_entry_points(bytes: &[u8]) {
    if let Ok(Some(n)) = enip::frame_len(bytes) {
        assert!(
            n > 0 && n <= bytes.len(),
            "Some({n}) with {} held",
            bytes.len()
        );
    }
    let _ = enip::Frame::decode(&mut Cursor::new(bytes));
    if let Ok(f) = enip::Frame::decode_exact(bytes) {
        let _ = enip::classify(&f);
        let _ = enip::identity_items(&f);
        let _ = enip::cip_request(&f);
        let _ = enip::cip_reply(&f);
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(out.len(), f.encoded_len());
    }
    if let Ok(item) = enip::IdentityItem::decode(&mut Cursor::framed(bytes), &mut Vec::new()) {
        // An item keeps every byte (the state and what follows it live in `identity.extra`).
        let mut out = Vec::new();
        item.encode(&mut out);
        assert_eq!(out.len(), item.encoded_len());
        assert_eq!(out, bytes);
    }
    let _ = enip::ServiceItem::decode(&mut Cursor::framed(bytes));
    let _ = enip::CipMessage::decode(&mut Cursor::framed(bytes));
    let _ = enip::CipIdentity::decode(&mut Cursor::framed(bytes), &mut Vec::new());
    let _ = enip::identity_from_attribute_list(bytes, &mut Vec::new());
    let _ = enip::IoPacket::decode(bytes);
    let _ = enip::PathTarget::parse(bytes);
    let _ = enip::multiple_service_parts(bytes);
    let _ = enip::unconnected_send_inner(bytes);
    let mut ops = Vec::new();
    enip::classify_cip(bytes, 0, &mut ops);
}

fn s7_entry_points(bytes: &[u8]) {
    if let Ok(Some(n)) = s7::frame_len(bytes) {
        assert!(
            n > 0 && n <= bytes.len(),
            "Some({n}) with {} held",
            bytes.len()
        );
    }
    let _ = s7::Frame::decode(&mut Cursor::new(bytes));
    if let Ok(f) = s7::Frame::decode_exact(bytes) {
        let _ = s7::classify(&f);
        let _ = f.anomalies();
        if let Some(p) = f.s7() {
            let _ = p.szl_response();
        }
    }
    let _ = s7::Frame::decode(&mut Cursor::framed(bytes));
    let _ = s7::S7Pdu::decode(&mut Cursor::framed(bytes));
    if let Ok(l) = s7::SzlList::decode(&mut Cursor::framed(bytes)) {
        let _ = l.module_records();
        let _ = l.nonstandard_order_numbers();
        let _ = l.component_records();
    }
    let mut ra = s7::SzlReassembler::new();
    let _ = ra.push(bytes, bytes.first().is_some_and(|b| b & 1 == 1));
}

fn bacnet_service_decoders(data: &[u8]) {
    let _ = bacnet::ReadPropertyRequest::decode(data);
    let _ = bacnet::ReadPropertyAck::decode(data);
    let _ = bacnet::RpmRequest::decode(data);
    let _ = bacnet::RpmAck::decode(data);
    let _ = bacnet::WhoIs::decode(data);
    let _ = bacnet::IAm::decode(data);
    let _ = bacnet::decode_error(data);
    if let Ok(v) = bacnet::Value::decode(&mut Cursor::framed(data))
        && let Some(s) = v.as_char_string()
    {
        let _ = s.to_text();
    }
}

fn bacnet_entry_points(bytes: &[u8]) {
    if let Ok(Some(n)) = bacnet::frame_len(bytes) {
        assert!(
            n > 0 && n <= bytes.len() && n <= bacnet::MAX_BVLC_LEN,
            "Some({n}) with {} held",
            bytes.len()
        );
    }
    let _ = bacnet::Bvll::decode(&mut Cursor::new(bytes));
    if let Ok(b) = bacnet::Bvll::decode_exact(bytes) {
        // A frame keeps every byte: it encodes back to exactly the datagram.
        let mut out = Vec::new();
        b.encode(&mut out);
        assert_eq!(out, bytes);
        assert_eq!(b.encoded_len(), out.len());
        let _ = b.result_code();
    }
    let _ = bacnet::Datagram::decode(bytes);
    let _ = bacnet::llc_npdu(bytes);
    if let Ok(n) = bacnet::Npdu::decode(bytes) {
        let mut out = Vec::new();
        n.encode(&mut out);
        assert_eq!(out, bytes);
    }
    if let Ok(a) = bacnet::Apdu::decode(bytes) {
        let _ = a.invoke_id();
        if let bacnet::Apdu::ConfirmedRequest(r) = &a {
            let _ = r.service.classify();
        }
    }
    // The service data after a minimal header, and the bytes themselves.
    for skip in [0, 1, 2, 3, 4] {
        if let Some(d) = bytes.get(skip..) {
            bacnet_service_decoders(d);
        }
    }
}

fn opcua_entry_points(bytes: &[u8]) {
    if let Ok(Some(n)) = opcua::frame_len(bytes) {
        assert!(
            n > 0 && n <= bytes.len(),
            "Some({n}) with {} held",
            bytes.len()
        );
    }
    if let Ok(f) = opcua::Frame::decode_exact(bytes) {
        let mut out = Vec::new();
        f.encode(&mut out);
        // Whatever decodes as a whole frame encodes back to the bytes it came from.
        assert_eq!(out, bytes);
        if let opcua::Frame::Chunk(c) = &f {
            if let Ok(p) = c.plain() {
                let _ = opcua::Service::decode(p.body);
                let _ = opcua::Reassembly::default().push(c.chunk, &p);
            }
        }
    }
    // The body alone, as a service.
    let _ = opcua::Service::peek_type_id(bytes);
    if let Ok(s) = opcua::Service::decode(bytes) {
        let _ = s.request_header();
        let _ = s.response_header();
        let mut out = Vec::new();
        s.encode(&mut out);
    }
    let _ = opcua::NodeId::decode_expanded(&mut Cursor::framed(bytes));
    let _ = opcua::EndpointDescription::decode(&mut Cursor::framed(bytes));
}

/// Arbitrary bytes; a service body (a known type id and arbitrary fields); a UA TCP chunk
/// of any type whose size covers arbitrary bytes.
fn opcua_inputs() -> impl Strategy<Value = Vec<u8>> {
    let ids: Vec<u32> = vec![
        397, 422, 425, 428, 431, 446, 449, 452, 461, 464, 467, 470, 473, 476, 631, 634, 673,
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        (
            prop::sample::select(ids),
            prop::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(id, tail)| {
                let mut v = vec![1, 0];
                v.extend_from_slice(&(id as u16).to_le_bytes());
                v.extend_from_slice(&tail);
                v
            }),
        (0usize..7, prop::collection::vec(any::<u8>(), 0..300)).prop_map(|(t, tail)| {
            let tags: [&[u8; 3]; 7] = [b"HEL", b"ACK", b"ERR", b"RHE", b"OPN", b"MSG", b"CLO"];
            let mut v = tags[t].to_vec();
            v.push(b'F');
            v.extend_from_slice(&((8 + tail.len()) as u32).to_le_bytes());
            v.extend_from_slice(&tail);
            v
        }),
    ]
}

/// Arbitrary bytes, or arbitrary bytes behind a header whose length covers them.
fn behind(header: &'static [u8], len_at: usize, le: bool) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(move |tail| {
            let mut v = header.to_vec();
            v.extend_from_slice(&tail);
            // The length field counts what follows it (MBAP, ENIP) or the whole frame (TPKT).
            let n = match len_at {
                4 => v.len() - 6,
                2 if le => v.len() - 24,
                _ => v.len(),
            } as u16;
            let b = if le { n.to_le_bytes() } else { n.to_be_bytes() };
            v[len_at..len_at + 2].copy_from_slice(&b);
            v
        }),
    ]
}

proptest! {
    #[test]
    fn modbus_decoders_never_panic(
        bytes in behind(&[0, 1, 0, 0, 0, 0, 1], 4, false),
    ) {
        modbus_entry_points(&bytes);
    }

    #[test]
    fn enip_decoders_never_panic(
        bytes in behind(&[0x63, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 2, true),
    ) {
        enip_entry_points(&bytes);
    }

    #[test]
    fn s7_decoders_never_panic(
        bytes in behind(&[0x03, 0x00, 0, 0, 0x02, 0xf0, 0x80, 0x32], 2, false),
    ) {
        s7_entry_points(&bytes);
    }

    #[test]
    fn bacnet_decoders_never_panic(
        bytes in behind(&[0x81, 0x0a, 0, 0, 0x01, 0x04, 0x00, 0x05, 0x01, 0x0e], 2, false),
    ) {
        bacnet_entry_points(&bytes);
    }

    #[test]
    fn bacnet_service_decoders_never_panic(
        data in prop::collection::vec(
            prop::sample::select(vec![0x0c, 0x1e, 0x1f, 0x3e, 0x3f, 0x4e, 0x4f, 0x5e, 0x5f, 0x09,
                0x19, 0x29, 0x75, 0x91, 0xc4, 0x21, 0x00, 0x04, 0xff, 0x0e, 0x0f, 0x2e, 0x2f, 0xf5]),
            0..80),
    ) {
        bacnet_service_decoders(&data);
    }

    #[test]
    fn opcua_decoders_never_panic(bytes in opcua_inputs()) {
        opcua_entry_points(&bytes);
    }
}

fn fins_entry_points(bytes: &[u8]) {
    if let Ok(Some(n)) = fins::frame_len(bytes) {
        assert!(n > 0 && n <= bytes.len());
    }
    if let Ok(f) = fins::TcpFrame::decode_exact(bytes) {
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(out, bytes);
        assert_eq!(out.len(), f.encoded_len());
    }
    let _ = fins::TcpFrame::decode(&mut Cursor::new(bytes));
    // The same bytes as a UDP datagram.
    if let Ok(f) = fins::Frame::decode_exact(bytes) {
        let _ = fins::command_name(f.command);
        if let Some(e) = f.end_code() {
            let _ = (e.description(), e.code());
        }
        if let Some(Ok(d)) = f.controller_data() {
            let _ = (d.model_str(), d.versions(), d.anomalies());
            let mut out = Vec::new();
            d.encode(&mut out);
            assert_eq!(out, f.response_data());
        }
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(out, bytes);
    }
}

fn fox_entry_points(bytes: &[u8]) {
    if let Ok(Some(n)) = fox::frame_len(bytes) {
        assert!(n > 0 && n <= bytes.len());
        // What frames, decodes (or is refused by name) and re-encodes to its bytes.
        if let Ok(m) = fox::Message::decode_exact(&bytes[..n]) {
            let mut out = Vec::new();
            m.encode(&mut out);
            assert_eq!(out, &bytes[..n]);
        }
    }
    let _ = fox::Message::decode(bytes);
}

fn dcp_entry_points(bytes: &[u8]) {
    if let Ok(p) = dcp::Pdu::decode(bytes) {
        let _ = (p.identity(), p.set_operations(), p.kind());
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(out.len(), p.encoded_len());
        assert_eq!(dcp::Pdu::decode(&out).as_ref(), Ok(&p));
    }
}

/// Fox-looking text: a header, a brace, then lines of field-ish bytes.
fn fox_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(
            prop_oneof![
                Just(b"k=s:v\n".to_vec()),
                Just(b"b=b:3[".to_vec()),
                Just(b"o=o:bog 2[".to_vec()),
                Just(b"]\n".to_vec()),
                Just(b"};;\n".to_vec()),
                Just(b"}".to_vec()),
                prop::collection::vec(any::<u8>(), 0..8),
            ],
            0..20,
        )
        .prop_map(|parts| {
            let mut v = b"fox a 0 -1 fox hello\n{\n".to_vec();
            v.extend(parts.concat());
            v
        }),
    ]
}

proptest! {
    #[test]
    fn fins_decoders_never_panic(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            (0u32..8, prop::collection::vec(any::<u8>(), 0..300)).prop_map(|(cmd, tail)| {
                let mut v = b"FINS".to_vec();
                v.extend(((8 + tail.len()) as u32).to_be_bytes());
                v.extend(cmd.to_be_bytes());
                v.extend([0; 4]);
                v.extend(tail);
                v
            }),
        ],
    ) {
        fins_entry_points(&bytes);
    }

    #[test]
    fn fox_decoders_never_panic(bytes in fox_like()) {
        fox_entry_points(&bytes);
    }

    #[test]
    fn dcp_decoders_never_panic(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            (0xfefcu16..=0xfeff, 3u8..7, 0u8..2, prop::collection::vec(any::<u8>(), 0..300), 0usize..4)
                .prop_map(|(id, service, kind, data, pad)| {
                    let mut v = id.to_be_bytes().to_vec();
                    v.extend([service, kind, 0, 0, 0, 1, 0, 0]);
                    v.extend((data.len() as u16).to_be_bytes());
                    v.extend(data);
                    v.extend(std::iter::repeat_n(0, pad));
                    v
                }),
        ],
    ) {
        dcp_entry_points(&bytes);
    }
}
