//! EtherNet/IP codec, guard and capture tests.
//!
//! Goldens are written out below with their source (capture file, frame, device) and
//! checked against the capture's own bytes when `OTSCOUT_CAPTURES` is set.

use otscout::inventory::EnipIdentitySource;
use otscout::inventory::Protocol;
use otscout::protocols::enip::Safe as EnipSafe;
use otscout::protocols::enip::identity as enip_identity;
use otscout::safety::{self, EnipList, EnipListCommand, GuardError, SafeRequest};
use otscout::wire::enip::{
    self, Access, Body, CipIdentity, CipMessage, CipReply, CipRequest, Command, Cpf, CpfItem,
    EncapStatus, Frame, Header, IdentityItem, IoPacket, ItemType, PathTarget, ServiceItem,
};
use otscout::wire::{Cursor, DecodeError};
use proptest::prelude::*;

use crate::support::{captures_dir, frames, hex, payload};

// enip_test.pcap frame 6: 10.1.1.167 asks the 1756-ENBT/A at 10.1.1.164 (TCP).
pub(crate) const ENBT_REQ: &str = "6300 0000 00000000 00000000 00000000c1debed1 00000000";
// enip_test.pcap frame 7: the 1756-ENBT/A's List Identity reply.
pub(crate) const ENBT_REPLY: &str = "6300 3300 00000000 00000000 00000000c1debed1 00000000
    0100 0c00 2d00
    0100 0002 af12 0a0101a4 0000000000000000
    0100 0c00 3a00 04 03 3000 8e4d5200 0b 313735362d454e42542f41 03";
// cpppo-client-list-identity-udp.pcap frame 1: cpppo 5.2.5 client, 127.0.0.1 to 127.0.0.3 (UDP).
const CPPPO_REQ: &str = "6300 0000 00000000 00000000 0000000000000000 00000000";
// cpppo-client-list-identity-udp.pcap frame 2: cpppo 5.2.5 server at 127.0.0.3.
pub(crate) const CPPPO_REPLY: &str = "6300 3e00 00000000 00000000 0000000000000000 00000000
    0100 0c00 3800
    0100 0002 af12 7f000003 0000000000000000
    3905 0e00 9210 07 2a 3000 01eeffc0 16 506565724c616220454e495020313735362d4c383545 03";
// EIP-FirmwareChange_slice.pcap frames 6-8: RSLinx at 192.168.10.105 to the
// 1756-ENBT/A at 192.168.10.120: legacy 0x0001, List Services, List Interfaces.
const FW_LEGACY_REQ: &str = "0100 0000 00000000 00000000 0000000000000000 00000000";
const FW_SERVICES_REQ: &str = "0400 0000 00000000 00000000 0000000000000000 00000000";
const FW_INTERFACES_REQ: &str = "6400 0000 00000000 00000000 0000000000000000 00000000";
// Frame 10: the legacy 0x0001 reply (undocumented body, kept raw).
const FW_LEGACY_REPLY: &str = "0100 2a00 00000000 00000000 0000000000000000 00000000
    0100 0100 2400 010000000002af12c0a80a7800000000000000003139322e3136382e31302e3132300000";
// Frame 11: List Services reply, one item: version 1, flags 0x0120, `Communications`.
const FW_SERVICES_REPLY: &str = "0400 1a00 00000000 00000000 0000000000000000 00000000
    0100 0001 1400 0100 2001 436f6d6d756e69636174696f6e730000";
// Frame 13: List Interfaces reply with 0 items.
pub(crate) const FW_INTERFACES_REPLY: &str =
    "6400 0200 00000000 00000000 0000000000000000 00000000 0000";
// Frames 14 and 15: Register Session request and reply (session 0x12020100).
pub(crate) const FW_REGISTER_REQ: &str =
    "6500 0400 00000000 00000000 0000000000000000 00000000 0100 0000";
pub(crate) const FW_REGISTER_REPLY: &str =
    "6500 0400 00010212 00000000 0000000000000000 00000000 0100 0000";
// Frame 16: SendRRData, Get_Attributes_All to the Identity object (class 1, instance 1).
pub(crate) const FW_GAA_REQ: &str = "6f00 1600 00010212 00000000 8d3f0000489ae000 00000000
    00000000 1400 0200 0000 0000 b200 0600 01 02 2001 2401";
// Frame 17: its reply: vendor 1, type 12, product 58, rev 4.3, serial 0x0051aec3.
pub(crate) const FW_GAA_REPLY: &str = "6f00 2e00 00010212 00000000 8d3f0000489ae000 00000000
    00000000 1400 0200 0000 0000 b200 1e00 81 00 00 00
    0100 0c00 3a00 04 03 3000 c3ae5100 0b 313735362d454e42542f41";
// nDPI_cip_io.pcap frame 1: class-1 I/O, 192.168.5.62 to 192.168.5.50 (UDP 2222).
const IO_DATAGRAM: &str = "0200 0280 0800 787b3a00 e8cb5e04 b100 0c00 0300fdffffffffffffff0000";

fn decode(bytes: &[u8]) -> Frame {
    let f = Frame::decode_exact(bytes).expect("golden decodes");
    assert_eq!(f.encoded_len(), bytes.len(), "encoded_len");
    let mut out = Vec::new();
    f.encode(&mut out);
    assert_eq!(out, bytes, "round trip");
    f
}

fn header(command: Command, session_handle: u32, ctx: [u8; 8]) -> Header {
    Header {
        command,
        length: 0,
        session_handle,
        status: EncapStatus::Success,
        sender_context: ctx,
        options: 0,
    }
}

fn enbt_item() -> IdentityItem {
    IdentityItem {
        encapsulation_version: 1,
        sin_family: 2,
        sin_port: 44818,
        sin_addr: "10.1.1.164".parse().unwrap(),
        sin_zero: [0; 8],
        identity: CipIdentity {
            vendor_id: 1,
            device_type: 12,
            product_code: 58,
            revision: [4, 3],
            status: 0x0030,
            serial: 0x0052_4d8e,
            product_name: b"1756-ENBT/A".to_vec(),
            // The state byte (3, operational), then nothing.
            extra: vec![3],
        },
    }
}

fn item_bytes(encode: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = Vec::new();
    encode(&mut v);
    v
}

fn list_request(command: EnipListCommand, ctx: [u8; 8]) -> SafeRequest {
    SafeRequest::Enip(EnipSafe::List(EnipList {
        command,
        sender_context: ctx,
    }))
}

// ---- per message: decode, encode, round trip, encoded_len ----

#[test]
fn list_identity_request_golden() {
    let bytes = hex(ENBT_REQ);
    let f = decode(&bytes);
    assert_eq!(f.header.command, Command::ListIdentity);
    assert_eq!(f.header.sender_context, hex("00000000c1debed1")[..]);
    assert_eq!(f.body, Body::Empty);
    assert!(f.anomalies.is_empty());
    let built = Frame::new(
        header(
            Command::ListIdentity,
            0,
            hex("00000000c1debed1").try_into().unwrap(),
        ),
        Body::Empty,
    );
    assert_eq!(built, f);
    // otscout's own request, with the capture's sender context, is the same 24 bytes.
    let ctx = hex("00000000c1debed1").try_into().unwrap();
    assert_eq!(
        safety::emit(&list_request(EnipListCommand::ListIdentity, ctx)).unwrap(),
        bytes
    );
    assert_eq!(
        safety::emit(&list_request(EnipListCommand::ListIdentity, [0; 8])).unwrap(),
        hex(CPPPO_REQ)
    );
}

#[test]
fn list_identity_reply_golden() {
    let bytes = hex(ENBT_REPLY);
    let f = decode(&bytes);
    assert_eq!(f.header.length, 0x33);
    let items = f.cpf_items();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].type_id, ItemType::ListIdentity);
    let mut anomalies = Vec::new();
    let item = IdentityItem::decode(&mut Cursor::framed(&items[0].data), &mut anomalies).unwrap();
    assert!(anomalies.is_empty(), "{anomalies:?}");
    assert_eq!(item, enbt_item());
    assert_eq!(item.encoded_len(), items[0].data.len());
    // Encode the golden from typed values.
    let built = Frame::new(
        header(
            Command::ListIdentity,
            0,
            hex("00000000c1debed1").try_into().unwrap(),
        ),
        Body::Cpf(Cpf {
            items: vec![CpfItem {
                type_id: ItemType::ListIdentity,
                data: item_bytes(|v| enbt_item().encode(v)),
            }],
        }),
    );
    let mut out = Vec::new();
    built.encode(&mut out);
    assert_eq!(out, bytes);
}

#[test]
fn udp_list_identity_reply_golden() {
    let f = decode(&hex(CPPPO_REPLY));
    let (ids, anomalies) = enip_identity::list_identity_reply(&f).unwrap();
    assert!(anomalies.is_empty());
    let id = &ids[0];
    assert_eq!(id.vendor_id, 1337);
    assert_eq!(id.device_type, 14);
    assert_eq!(id.product_code, 4242);
    assert_eq!((id.revision_major, id.revision_minor), (7, 42));
    assert_eq!(id.status, 0x0030);
    assert_eq!(id.serial, 0xC0FF_EE01);
    assert_eq!(id.product_name, "PeerLab ENIP 1756-L85E");
    assert_eq!(id.state, Some(3));
    assert_eq!(id.socket_addr, Some("127.0.0.3:44818".parse().unwrap()));
}

#[test]
fn list_services_and_interfaces_goldens() {
    for (req, cmd) in [
        (FW_SERVICES_REQ, Command::ListServices),
        (FW_INTERFACES_REQ, Command::ListInterfaces),
        (FW_LEGACY_REQ, Command::Unknown(0x0001)),
    ] {
        let f = decode(&hex(req));
        assert_eq!(f.header.command, cmd);
        assert_eq!(f.body, Body::Empty);
    }
    assert_eq!(
        safety::emit(&list_request(EnipListCommand::ListServices, [0; 8])).unwrap(),
        hex(FW_SERVICES_REQ)
    );
    assert_eq!(
        safety::emit(&list_request(EnipListCommand::ListInterfaces, [0; 8])).unwrap(),
        hex(FW_INTERFACES_REQ)
    );

    let f = decode(&hex(FW_SERVICES_REPLY));
    let item = &f.cpf_items()[0];
    assert_eq!(item.type_id, ItemType::ListServices);
    let s = ServiceItem::decode(&mut Cursor::framed(&item.data)).unwrap();
    assert_eq!(s.version, 1);
    assert_eq!(s.capability_flags, 0x0120);
    assert_eq!(s.capability_flags & ServiceItem::CIP_OVER_TCP, 0x20);
    assert_eq!(s.capability_flags & ServiceItem::CLASS01_OVER_UDP, 0x100);
    assert_eq!(s.name_str(), "Communications");
    assert_eq!(s.encoded_len(), item.data.len());
    let mut name = [0u8; 16];
    name[..14].copy_from_slice(b"Communications");
    let built = Frame::new(
        header(Command::ListServices, 0, [0; 8]),
        Body::Cpf(Cpf {
            items: vec![CpfItem {
                type_id: ItemType::ListServices,
                data: item_bytes(|v| {
                    ServiceItem {
                        version: 1,
                        capability_flags: 0x0120,
                        name: name.to_vec(),
                        extra: vec![],
                    }
                    .encode(v)
                }),
            }],
        }),
    );
    let mut out = Vec::new();
    built.encode(&mut out);
    assert_eq!(out, hex(FW_SERVICES_REPLY));

    let f = decode(&hex(FW_INTERFACES_REPLY));
    assert_eq!(f.body, Body::Cpf(Cpf { items: vec![] }));

    // The legacy command's reply is opaque: kept raw, and it round-trips.
    let f = decode(&hex(FW_LEGACY_REPLY));
    assert!(matches!(f.body, Body::Raw(ref b) if b.len() == 42));
    assert_eq!(enip::classify(&f)[0].name, "enip.command_0x0001");
}

#[test]
fn register_session_goldens() {
    let f = decode(&hex(FW_REGISTER_REQ));
    assert_eq!(
        f.body,
        Body::RegisterSession {
            protocol_version: 1,
            options: 0
        }
    );
    let f = decode(&hex(FW_REGISTER_REPLY));
    assert_eq!(f.header.session_handle, 0x1202_0100);
    let built = Frame::new(
        header(Command::RegisterSession, 0x1202_0100, [0; 8]),
        Body::RegisterSession {
            protocol_version: 1,
            options: 0,
        },
    );
    assert_eq!(built, f);
    assert_eq!(enip::classify(&f)[0].access, Access::Session);
}

#[test]
fn cip_identity_get_attributes_all_goldens() {
    let f = decode(&hex(FW_GAA_REQ));
    let req = enip::cip_request(&f).unwrap().unwrap();
    assert_eq!(
        req,
        CipRequest {
            service: 0x01,
            path: hex("2001 2401"),
            data: vec![]
        }
    );
    assert!(enip::is_identity_get_attributes_all(&req));
    let ops = enip::classify(&f);
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].name, "cip.get_attributes_all");
    assert_eq!(ops[0].access, Access::Read);
    assert_eq!(ops[0].class, Some(1));

    let f = decode(&hex(FW_GAA_REPLY));
    let reply = enip::cip_reply(&f).unwrap().unwrap();
    assert_eq!(reply.service, 0x81);
    assert_eq!(reply.general_status, 0);
    let mut anomalies = Vec::new();
    let id = CipIdentity::decode(&mut Cursor::framed(&reply.data), &mut anomalies).unwrap();
    assert!(anomalies.is_empty());
    assert_eq!(id.encoded_len(), reply.data.len());
    let id = enip_identity::cip_identity(&id);
    assert_eq!(id.source, EnipIdentitySource::CipGetAttributesAll);
    assert_eq!((id.vendor_id, id.device_type, id.product_code), (1, 12, 58));
    assert_eq!((id.revision_major, id.revision_minor), (4, 3));
    assert_eq!(id.status, 0x0030);
    assert_eq!(id.serial, 0x0051_aec3);
    assert_eq!(id.product_name, "1756-ENBT/A");
    assert_eq!(id.socket_addr, None);

    // Encode the reply from typed values.
    let cip = CipMessage::Reply(CipReply {
        service: 0x81,
        reserved: 0,
        general_status: 0,
        additional_status: vec![],
        data: item_bytes(|v| {
            CipIdentity {
                vendor_id: 1,
                device_type: 12,
                product_code: 58,
                revision: [4, 3],
                status: 0x30,
                serial: 0x0051_aec3,
                product_name: b"1756-ENBT/A".to_vec(),
                extra: vec![],
            }
            .encode(v)
        }),
    });
    let mut h = header(
        Command::SendRrData,
        0x1202_0100,
        hex("8d3f0000489ae000").try_into().unwrap(),
    );
    h.length = 0;
    let built = Frame::new(
        h,
        Body::SendData(enip::SendData {
            interface_handle: 0,
            timeout: 0x14,
            cpf: Cpf {
                items: vec![
                    CpfItem {
                        type_id: ItemType::NullAddress,
                        data: vec![],
                    },
                    CpfItem {
                        type_id: ItemType::UnconnectedData,
                        data: item_bytes(|v| cip.encode(v)),
                    },
                ],
            },
        }),
    );
    let mut out = Vec::new();
    built.encode(&mut out);
    assert_eq!(out, hex(FW_GAA_REPLY));
}

#[test]
fn cip_io_datagram_golden() {
    let io = IoPacket::decode(&hex(IO_DATAGRAM)).unwrap();
    assert_eq!(io.connection_id, 0x003A_7B78);
    assert_eq!(io.sequence, 73_321_448);
    assert_eq!(io.data.len(), 12);
    // An encapsulation frame is not I/O, and the other way round.
    assert!(IoPacket::decode(&hex(ENBT_REPLY)).is_err());
    assert!(Frame::decode_exact(&hex(IO_DATAGRAM)).is_err());
}

#[test]
fn path_target_parses_logical_and_symbolic_segments() {
    let t = PathTarget::parse(&hex("2001 2401 3007"));
    assert_eq!(
        (t.class, t.instance, t.attribute),
        (Some(1), Some(1), Some(7))
    );
    let t = PathTarget::parse(&hex("21 00 ac00 25 00 0100"));
    assert_eq!((t.class, t.instance), (Some(0xAC), Some(1)));
    let t = PathTarget::parse(&hex("91 03 414243 00 2801"));
    assert_eq!(t.symbol.as_deref(), Some(&b"ABC"[..]));
    assert!(!t.unparsed);
    assert!(PathTarget::parse(&hex("91 09 4142")).unparsed);
}

#[test]
fn classify_names_writes_and_control_inside_containers() {
    let wrap = |cip: Vec<u8>| {
        let f = Frame::new(
            header(Command::SendRrData, 1, [0; 8]),
            Body::SendData(enip::SendData {
                interface_handle: 0,
                timeout: 10,
                cpf: Cpf {
                    items: vec![
                        CpfItem {
                            type_id: ItemType::NullAddress,
                            data: vec![],
                        },
                        CpfItem {
                            type_id: ItemType::UnconnectedData,
                            data: cip,
                        },
                    ],
                },
            }),
        );
        enip::classify(&f)
    };
    // Set_Attribute_Single to the TCP/IP object: a write.
    let ops = wrap(hex("10 03 20f5 2401 3005 00"));
    assert_eq!(
        (ops[0].name.as_str(), ops[0].access),
        ("cip.set_attribute_single", Access::Write)
    );
    // Reset to the Identity object: control.
    assert_eq!(wrap(hex("05 02 2001 2401"))[0].access, Access::Control);
    // Write Tag `ABC` inside an Unconnected Send: still a write.
    let inner = hex("4d 03 91 03 414243 00 c400 0100 01000000");
    let mut us = hex("52 02 2006 2401 07e9");
    us.extend_from_slice(&(inner.len() as u16).to_le_bytes());
    us.extend_from_slice(&inner);
    us.extend_from_slice(&hex("01 00 0100"));
    let ops = wrap(us);
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].name, "cip.write_tag");
    assert_eq!(ops[0].access, Access::Write);
    assert_eq!(ops[0].symbol.as_deref(), Some("ABC"));
    // A Multiple Service Packet with a read and a write names both.
    let read = hex("4c 03 91 03 414243 00 0100");
    let mut msp = hex("0a 02 2002 2401 0200");
    let first = 2 + 2 * 2;
    msp.extend_from_slice(&(first as u16).to_le_bytes());
    msp.extend_from_slice(&((first + read.len()) as u16).to_le_bytes());
    msp.extend_from_slice(&read);
    msp.extend_from_slice(&inner);
    let ops = wrap(msp);
    let access: Vec<_> = ops.iter().map(|o| o.access).collect();
    assert_eq!(access, vec![Access::Read, Access::Write]);
    // Forward_Open is plumbing.
    assert_eq!(wrap(hex("54 02 2006 2401 00"))[0].access, Access::Session);
}

#[test]
fn frame_len_frames_a_stream() {
    let mut stream = hex(ENBT_REQ);
    stream.extend_from_slice(&hex(ENBT_REPLY));
    assert_eq!(enip::frame_len(&stream[..23]), Ok(None));
    assert_eq!(enip::frame_len(&stream), Ok(Some(24)));
    assert_eq!(enip::frame_len(&stream[24..]), Ok(Some(24 + 0x33)));
    // The reply's header alone, or the header and part of its body, is not a frame yet
    // (it was `Some(24 + 0x33)` as soon as the header was in: issue 14).
    assert_eq!(enip::frame_len(&stream[24..48]), Ok(None));
    assert_eq!(enip::frame_len(&stream[24..24 + 30]), Ok(None));
    let mut huge = hex(ENBT_REQ);
    huge[2..4].copy_from_slice(&0xFFFFu16.to_le_bytes());
    assert!(matches!(
        enip::frame_len(&huge),
        Err(DecodeError::TooLarge {
            field: "enip.header.length",
            ..
        })
    ));
}

#[test]
fn lenient_identity_item_keeps_oddities_as_anomalies() {
    // The ENBT item without its state byte, and with sin_family little-endian (a known
    // vendor slip): decoded, both flagged.
    let mut data = item_bytes(|v| enbt_item().encode(v));
    data.pop();
    data[2..4].copy_from_slice(&[2, 0]);
    let mut anomalies = Vec::new();
    let item = IdentityItem::decode(&mut Cursor::framed(&data), &mut anomalies).unwrap();
    assert_eq!(item.state(), None);
    let fields: Vec<_> = anomalies.iter().map(|a| a.field).collect();
    assert_eq!(
        fields,
        vec!["enip.identity.state", "enip.identity.sin_family"]
    );
    // A name running past the item is a truncated item, not a panic.
    let mut data = item_bytes(|v| enbt_item().encode(v));
    data.truncate(35);
    assert!(matches!(
        IdentityItem::decode(&mut Cursor::framed(&data), &mut Vec::new()),
        Err(DecodeError::Truncated {
            field: "enip.identity.product_name",
            ..
        })
    ));
}

#[test]
fn malformed_bodies_are_errors_that_say_where() {
    // CPF count above the cap.
    let b = hex("6300 0200 00000000 00000000 0000000000000000 00000000 1100");
    assert!(matches!(
        Frame::decode_exact(&b),
        Err(DecodeError::TooLarge {
            field: "enip.cpf.item_count",
            value: 17,
            ..
        })
    ));
    // An item longer than the body.
    let b = hex("6300 0600 00000000 00000000 0000000000000000 00000000 0100 0c00 0900");
    assert!(matches!(
        Frame::decode_exact(&b),
        Err(DecodeError::Truncated {
            field: "enip.cpf.item.data",
            ..
        })
    ));
    // A body longer than the stream so far: incomplete.
    let b = hex("6300 0600 00000000 00000000 0000000000000000 00000000 0100");
    assert!(Frame::decode_exact(&b).unwrap_err().is_incomplete());
    // Trailing bytes after one frame.
    let mut b = hex(ENBT_REQ);
    b.push(0);
    assert!(matches!(
        Frame::decode_exact(&b),
        Err(DecodeError::Trailing { .. })
    ));
}

// ---- the guard ----

#[test]
fn guard_accepts_every_enip_safe_request() {
    for (cmd, kind) in [
        (EnipListCommand::ListIdentity, "enip.list_identity"),
        (EnipListCommand::ListServices, "enip.list_services"),
        (EnipListCommand::ListInterfaces, "enip.list_interfaces"),
    ] {
        for ctx in [[0; 8], [0xFF; 8], *b"otscout!"] {
            let r = list_request(cmd, ctx);
            assert_eq!(r.kind(), kind);
            let bytes = safety::emit(&r).unwrap();
            assert_eq!(bytes.len(), r.encoded_len());
            assert_eq!(safety::check(Protocol::Enip, &bytes), Ok(kind));
        }
    }
}

#[test]
fn guard_refuses_every_other_command() {
    let base = hex(CPPPO_REQ);
    for cmd in 0..=0xFFFFu16 {
        let mut b = base.clone();
        b[..2].copy_from_slice(&cmd.to_le_bytes());
        let r = safety::check(Protocol::Enip, &b);
        match cmd {
            0x0063 | 0x0004 | 0x0064 => assert!(r.is_ok(), "{cmd:#06x}"),
            _ => assert!(
                matches!(r, Err(GuardError::NotAllowed { .. })),
                "command {cmd:#06x} not refused: {r:?}"
            ),
        }
    }
}

#[test]
fn guard_refuses_bodies_handles_status_options_and_bad_lengths() {
    let ok = hex(CPPPO_REQ);
    let set = |at: usize, v: &[u8]| {
        let mut b = ok.clone();
        b[at..at + v.len()].copy_from_slice(v);
        b
    };
    let refused = |b: &[u8]| {
        let r = safety::check(Protocol::Enip, b);
        assert!(r.is_err(), "accepted {}", ::hex::encode(b));
    };
    refused(&set(4, &[1, 0, 0, 0])); // session handle
    refused(&set(7, &[0x80])); // session handle, high byte
    refused(&set(8, &[1, 0, 0, 0])); // status
    refused(&set(8, &[0, 0, 0, 1]));
    refused(&set(20, &[1, 0, 0, 0])); // options
    refused(&set(23, &[0x80]));
    // A body, with a matching length and without.
    let mut body = set(2, &[2, 0]);
    body.extend_from_slice(&[0, 0]);
    refused(&body);
    refused(&set(2, &[2, 0]));
    // Every cut of a valid frame, and trailing bytes.
    for n in 0..ok.len() {
        assert!(matches!(
            safety::check(Protocol::Enip, &ok[..n]),
            Err(GuardError::Malformed { .. })
        ));
    }
    let mut long = ok.clone();
    long.push(0);
    refused(&long);
    let mut two = ok.clone();
    two.extend_from_slice(&ok);
    refused(&two);
    // RSLinx's Register Session is byte for byte the one the backplane read opens with
    // (protocol version 1, options 0, handle 0), so it passes (issue 15).
    assert_eq!(
        safety::check(Protocol::Enip, &hex(FW_REGISTER_REQ)),
        Ok("enip.register_session")
    );
    // Real client traffic that otscout never sends (FW_GAA_REQ: an unrouted
    // Get_Attributes_All in SendRRData, not the one-hop Unconnected Send).
    for g in [FW_GAA_REQ, FW_LEGACY_REQ, ENBT_REPLY, CPPPO_REPLY] {
        refused(&hex(g));
    }
    // Other protocols' frames.
    refused(&hex("0000 0000 0005 01 2b 0e 01 00"));
    refused(&hex("0300 0016 11e0 0000 0001 00 c0010a c1020100 c2020102"));
}

// ---- real captures ----

#[test]
fn capture_enip_test_list_identity() {
    let Some(dir) = captures_dir("capture_enip_test_list_identity") else {
        return;
    };
    let req = payload(&dir, "enip_test.pcap", 6);
    assert_eq!(req, hex(ENBT_REQ));
    let ctx: [u8; 8] = req[12..20].try_into().unwrap();
    assert_eq!(
        safety::emit(&list_request(EnipListCommand::ListIdentity, ctx)).unwrap(),
        req
    );
    let frames = frames(&dir, "enip_test.pcap");
    let reply = frames.iter().find(|f| f.number == 7).unwrap();
    assert_eq!(reply.payload, hex(ENBT_REPLY));
    assert_eq!(reply.src.to_string(), "10.1.1.164");
    let f = decode(&reply.payload);
    let (ids, _) = enip_identity::list_identity_reply(&f).unwrap();
    assert_eq!(ids.len(), 1);
    let id = &ids[0];
    assert_eq!(id.encapsulation_version, Some(1));
    assert_eq!(id.vendor_id, 1);
    assert_eq!(id.device_type, 12);
    assert_eq!(id.product_code, 58);
    assert_eq!((id.revision_major, id.revision_minor), (4, 3));
    assert_eq!(id.status, 0x0030);
    assert_eq!(id.serial, 0x0052_4d8e);
    assert_eq!(id.product_name, "1756-ENBT/A");
    assert_eq!(id.state, Some(3));
    assert_eq!(id.socket_addr, Some("10.1.1.164:44818".parse().unwrap()));
    assert_eq!(
        otscout::data::odva::vendor_name(id.vendor_id).map(|n| n.contains("Rockwell")),
        Some(true)
    );
    assert_eq!(
        otscout::data::odva::device_type_name(id.device_type),
        Some("Communications Adapter")
    );
}

/// Every TCP payload on port 44818 of a capture, framed per direction with `frame_len`.
fn enip_stream_frames(dir: &std::path::Path, file: &str) -> Vec<(usize, bool, Vec<u8>)> {
    let mut out = Vec::new();
    let mut bufs: std::collections::BTreeMap<(String, u16, String, u16), Vec<u8>> =
        Default::default();
    for f in frames(dir, file) {
        if f.udp || (f.sport != 44818 && f.dport != 44818) || f.payload.is_empty() {
            continue;
        }
        let key = (f.src.to_string(), f.sport, f.dst.to_string(), f.dport);
        let buf = bufs.entry(key).or_default();
        buf.extend_from_slice(&f.payload);
        while let Some(n) = enip::frame_len(buf).expect("frame_len") {
            if buf.len() < n {
                break;
            }
            out.push((f.number, f.sport == 44818, buf.drain(..n).collect()));
        }
    }
    out
}

#[test]
fn capture_firmware_change_slice() {
    let Some(dir) = captures_dir("capture_firmware_change_slice") else {
        return;
    };
    let file = "EIP-FirmwareChange_slice.pcap";
    for (n, golden) in [
        (6, FW_LEGACY_REQ),
        (7, FW_SERVICES_REQ),
        (8, FW_INTERFACES_REQ),
        (10, FW_LEGACY_REPLY),
        (11, FW_SERVICES_REPLY),
        (13, FW_INTERFACES_REPLY),
        (14, FW_REGISTER_REQ),
        (15, FW_REGISTER_REPLY),
        (16, FW_GAA_REQ),
        (17, FW_GAA_REPLY),
    ] {
        assert_eq!(payload(&dir, file, n), hex(golden), "frame {n}");
    }
    // otscout's List Services and List Interfaces are byte-for-byte RSLinx's.
    assert_eq!(
        safety::emit(&list_request(EnipListCommand::ListServices, [0; 8])).unwrap(),
        payload(&dir, file, 7)
    );
    assert_eq!(
        safety::emit(&list_request(EnipListCommand::ListInterfaces, [0; 8])).unwrap(),
        payload(&dir, file, 8)
    );
    // Every frame in the slice decodes and round-trips; replies to identity requests
    // carry the expected identity.
    let frames = enip_stream_frames(&dir, file);
    assert!(frames.len() >= 20, "{} frames", frames.len());
    let mut identities = 0;
    let mut pending_gaa = false;
    for (n, from_device, bytes) in &frames {
        let f = Frame::decode_exact(bytes).unwrap_or_else(|e| panic!("frame {n}: {e}"));
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(&out, bytes, "frame {n} round trip");
        if !from_device {
            pending_gaa = enip::cip_request(&f)
                .unwrap()
                .is_some_and(|r| enip::is_identity_get_attributes_all(&r));
            assert!(enip::classify(&f).iter().all(|o| o.access != Access::Write));
            continue;
        }
        if let Some(r) = enip::cip_reply(&f).unwrap() {
            if pending_gaa && r.general_status == 0 {
                let id = CipIdentity::decode(&mut Cursor::framed(&r.data), &mut Vec::new())
                    .map(|id| enip_identity::cip_identity(&id))
                    .unwrap();
                assert_eq!((id.vendor_id, id.device_type, id.product_code), (1, 12, 58));
                assert_eq!((id.revision_major, id.revision_minor), (4, 3));
                assert_eq!(id.status, 0x0030);
                assert_eq!(id.serial, 0x0051_aec3);
                assert_eq!(id.product_name, "1756-ENBT/A");
                identities += 1;
            }
        }
    }
    assert_eq!(identities, 3, "frames 17, 21, 23");
}

#[test]
fn capture_cpppo_udp_list_identity() {
    let Some(dir) = captures_dir("capture_cpppo_udp_list_identity") else {
        return;
    };
    let frames = frames(&dir, "cpppo-client-list-identity-udp.pcap");
    assert!(frames.iter().all(|f| f.udp));
    assert_eq!(frames[0].payload, hex(CPPPO_REQ));
    assert_eq!(
        safety::emit(&list_request(EnipListCommand::ListIdentity, [0; 8])).unwrap(),
        frames[0].payload
    );
    assert_eq!(frames[1].payload, hex(CPPPO_REPLY));
    assert_eq!(frames[1].src.to_string(), "127.0.0.3");
    let f = decode(&frames[1].payload);
    let (ids, _) = enip_identity::list_identity_reply(&f).unwrap();
    assert_eq!(ids[0].serial, 0xC0FF_EE01);
    assert_eq!(ids[0].product_name, "PeerLab ENIP 1756-L85E");
}

#[test]
fn capture_ndpi_read_tags_are_reads() {
    let Some(dir) = captures_dir("capture_ndpi_read_tags_are_reads") else {
        return;
    };
    let frames = enip_stream_frames(&dir, "nDPI_ethernetIP.pcap");
    let mut by_name: std::collections::BTreeMap<String, (Access, usize)> = Default::default();
    let mut requests = 0;
    for (n, from_device, bytes) in &frames {
        let f = Frame::decode_exact(bytes).unwrap_or_else(|e| panic!("frame {n}: {e}"));
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(&out, bytes);
        let ops = enip::classify(&f);
        if *from_device {
            assert!(
                ops.iter().all(|o| o.access == Access::Reply),
                "frame {n}: {ops:?}"
            );
            continue;
        }
        requests += 1;
        for o in ops {
            by_name.entry(o.name).or_insert((o.access, 0)).1 += 1;
        }
    }
    assert!(requests > 10);
    // tshark counts 568 service 0x4c codes in requests and replies together.
    let read_tags = by_name["cip.read_tag"];
    assert_eq!(read_tags.0, Access::Read);
    assert!(read_tags.1 > 100, "{by_name:?}");
    assert_eq!(by_name["cip.get_attributes_all"].0, Access::Read);
    assert!(!by_name.contains_key("cip.write_tag"), "{by_name:?}");
    // The HMI also sets bits with Read-Modify-Write Tag (0x4E with OR/AND masks, e.g.
    // `LMS_DISABLE_2DSCANNER1` in frame 37): that is a write, and is reported as one.
    assert_eq!(by_name["cip.read_modify_write_tag"].0, Access::Write);
    assert_eq!(
        otscout::protocols::enip::passive::operation_kind(Access::Write),
        Some(otscout::inventory::OperationKind::Write)
    );
    assert_eq!(
        otscout::protocols::enip::passive::operation_kind(Access::Read),
        None
    );
}

#[test]
fn capture_ndpi_cip_io_is_recognised() {
    let Some(dir) = captures_dir("capture_ndpi_cip_io_is_recognised") else {
        return;
    };
    let frames = frames(&dir, "nDPI_cip_io.pcap");
    assert!(!frames.is_empty());
    for f in &frames {
        assert!(f.udp && (f.sport == 2222 || f.dport == 2222));
        let io = IoPacket::decode(&f.payload).unwrap_or_else(|e| panic!("frame {}: {e}", f.number));
        assert!(io.connection_id == 0x003A_7B78 || io.connection_id == 0x7691_B4EB);
        // Not encapsulation, and nothing panics.
        let _ = Frame::decode_exact(&f.payload);
        let _ = enip::frame_len(&f.payload);
    }
}

// ---- properties ----

fn arb_cpf() -> impl Strategy<Value = Cpf> {
    prop::collection::vec(
        (any::<u16>(), prop::collection::vec(any::<u8>(), 0..48)),
        0..=enip::MAX_CPF_ITEMS,
    )
    .prop_map(|items| Cpf {
        items: items
            .into_iter()
            .map(|(t, data)| CpfItem {
                type_id: ItemType::from_raw(t),
                data,
            })
            .collect(),
    })
}

fn arb_frame() -> impl Strategy<Value = Frame> {
    let list = (
        prop::sample::select(vec![
            Command::ListIdentity,
            Command::ListServices,
            Command::ListInterfaces,
        ]),
        prop_oneof![Just(Body::Empty), arb_cpf().prop_map(Body::Cpf)],
    );
    let register = (
        Just(Command::RegisterSession),
        prop_oneof![
            Just(Body::Empty),
            (any::<u16>(), any::<u16>()).prop_map(|(protocol_version, options)| {
                Body::RegisterSession {
                    protocol_version,
                    options,
                }
            })
        ],
    );
    let send = (
        prop::sample::select(vec![Command::SendRrData, Command::SendUnitData]),
        prop_oneof![
            Just(Body::Empty),
            (any::<u32>(), any::<u16>(), arb_cpf()).prop_map(|(interface_handle, timeout, cpf)| {
                Body::SendData(enip::SendData {
                    interface_handle,
                    timeout,
                    cpf,
                })
            })
        ],
    );
    let other = (
        any::<u16>().prop_map(Command::from_raw).prop_filter(
            "not a command with a typed body",
            |c| {
                !matches!(
                    c,
                    Command::ListIdentity
                        | Command::ListServices
                        | Command::ListInterfaces
                        | Command::RegisterSession
                        | Command::SendRrData
                        | Command::SendUnitData
                )
            },
        ),
        prop_oneof![
            Just(Body::Empty),
            prop::collection::vec(any::<u8>(), 1..64).prop_map(Body::Raw)
        ],
    );
    (
        prop_oneof![list, register, send, other],
        any::<u32>(),
        any::<u32>(),
        any::<[u8; 8]>(),
    )
        .prop_map(|((command, body), session_handle, status, ctx)| {
            Frame::new(
                Header {
                    command,
                    length: 0,
                    session_handle,
                    status: EncapStatus::from_raw(status),
                    sender_context: ctx,
                    options: 0,
                },
                body,
            )
        })
}

fn arb_identity() -> impl Strategy<Value = IdentityItem> {
    (
        (
            any::<u16>(),
            any::<u16>(),
            any::<[u8; 4]>(),
            any::<[u8; 8]>(),
        ),
        (any::<u16>(), any::<u16>(), any::<u16>(), any::<[u8; 2]>()),
        (
            any::<u16>(),
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 0..=32),
        ),
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..4)),
    )
        .prop_map(
            |(
                (ver, port, addr, zero),
                (vendor, dtype, code, rev),
                (status, serial, name),
                (state, extra),
            )| {
                IdentityItem {
                    encapsulation_version: ver,
                    sin_family: 2,
                    sin_port: port,
                    sin_addr: addr.into(),
                    sin_zero: zero,
                    identity: CipIdentity {
                        vendor_id: vendor,
                        device_type: dtype,
                        product_code: code,
                        revision: rev,
                        status,
                        serial,
                        product_name: name,
                        extra: [vec![state], extra].concat(),
                    },
                }
            },
        )
}

/// Every decoder entry point on arbitrary bytes (shared with the long #[ignore]d run).
fn no_panic_anywhere(bytes: &[u8]) {
    let _ = enip::frame_len(bytes);
    let _ = Frame::decode(&mut Cursor::new(bytes));
    if let Ok(f) = Frame::decode_exact(bytes) {
        let _ = enip::classify(&f);
        let _ = enip_identity::list_identity_reply(&f);
        let _ = enip::cip_request(&f);
        let _ = enip::cip_reply(&f);
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(out.len(), f.encoded_len());
    }
    let _ = IdentityItem::decode(&mut Cursor::framed(bytes), &mut Vec::new());
    // Any item of 4 bytes or more decodes (the name may be short) and encodes back whole.
    if let Ok(s) = ServiceItem::decode(&mut Cursor::framed(bytes)) {
        let mut out = Vec::new();
        s.encode(&mut out);
        assert_eq!(out, bytes);
        assert_eq!(s.encoded_len(), bytes.len());
    }
    let _ = CipMessage::decode(&mut Cursor::framed(bytes));
    let _ = CipIdentity::decode(&mut Cursor::framed(bytes), &mut Vec::new());
    let _ = IoPacket::decode(bytes);
    let _ = PathTarget::parse(bytes);
    let _ = enip::multiple_service_parts(bytes);
    let _ = enip::unconnected_send_inner(bytes);
    let mut ops = Vec::new();
    enip::classify_cip(bytes, 0, &mut ops);
    let _ = safety::check(Protocol::Enip, bytes);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        no_panic_anywhere(&bytes);
    }

    #[test]
    fn arbitrary_body_behind_a_valid_header_never_panics(
        cmd in prop::sample::select(vec![0x0004u16, 0x0063, 0x0064, 0x0065, 0x006F, 0x0070, 0x0001]),
        body in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut b = Vec::new();
        b.extend_from_slice(&cmd.to_le_bytes());
        b.extend_from_slice(&(body.len() as u16).to_le_bytes());
        b.extend_from_slice(&[0; 20]);
        b.extend_from_slice(&body);
        no_panic_anywhere(&b);
    }

    #[test]
    fn frames_round_trip(f in arb_frame()) {
        let mut out = Vec::new();
        f.encode(&mut out);
        prop_assert_eq!(out.len(), f.encoded_len());
        let back = Frame::decode_exact(&out).unwrap();
        prop_assert_eq!(back, f);
    }

    #[test]
    fn identity_items_round_trip(item in arb_identity()) {
        let mut out = Vec::new();
        item.encode(&mut out);
        prop_assert_eq!(out.len(), item.encoded_len());
        let mut anomalies = Vec::new();
        let back = IdentityItem::decode(&mut Cursor::framed(&out), &mut anomalies).unwrap();
        prop_assert_eq!(back, item);
    }

    #[test]
    fn a_cut_frame_is_incomplete_then_whole(f in arb_frame()) {
        let mut out = Vec::new();
        f.encode(&mut out);
        for n in 0..out.len() {
            // The framing contract (`otscout::wire`): `None` until the whole frame is in,
            // header and body alike (before issue 14 it answered once the header was in).
            prop_assert_eq!(enip::frame_len(&out[..n]).unwrap(), None, "cut at {}", n);
            let e = Frame::decode(&mut Cursor::new(&out[..n])).unwrap_err();
            prop_assert!(e.is_incomplete(), "cut at {}: {:?}", n, e);
        }
        prop_assert_eq!(enip::frame_len(&out).unwrap(), Some(out.len()));
        prop_assert_eq!(Frame::decode(&mut Cursor::new(&out)).unwrap(), f);
    }

    #[test]
    fn cip_messages_round_trip(
        reply in any::<bool>(),
        service in 0u8..0x80,
        words in prop::collection::vec(any::<u16>(), 0..8),
        data in prop::collection::vec(any::<u8>(), 0..40),
        status in any::<u8>(),
    ) {
        let m = if reply {
            CipMessage::Reply(CipReply { service: service | 0x80, reserved: 0, general_status: status, additional_status: words, data })
        } else {
            CipMessage::Request(CipRequest {
                service,
                path: words.iter().flat_map(|w| w.to_le_bytes()).collect(),
                data,
            })
        };
        let mut out = Vec::new();
        m.encode(&mut out);
        prop_assert_eq!(out.len(), m.encoded_len());
        prop_assert_eq!(CipMessage::decode(&mut Cursor::framed(&out)).unwrap(), m);
    }
}

/// The fuzz targets' entry points under proptest for longer (cargo-fuzz needs nightly).
/// Run with `cargo test --test it enip::long_ -- --ignored`.
#[test]
#[ignore = "long: 200k cases"]
fn long_fuzz_like_run() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(100_000));
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..300), |b| {
            no_panic_anywhere(&b);
            Ok(())
        })
        .unwrap();
    // Valid headers with random bodies reach deeper.
    runner
        .run(
            &(
                prop::sample::select(vec![0x0004u16, 0x0063, 0x0064, 0x006F, 0x0070]),
                prop::collection::vec(any::<u8>(), 0..300),
            ),
            |(cmd, body)| {
                let mut b = Vec::new();
                b.extend_from_slice(&cmd.to_le_bytes());
                b.extend_from_slice(&(body.len() as u16).to_le_bytes());
                b.extend_from_slice(&[0; 20]);
                b.extend_from_slice(&body);
                no_panic_anywhere(&b);
                Ok(())
            },
        )
        .unwrap();
}

/// Get_Attribute_List of the Identity object (Vol. 1, attribute layouts of 5A-2.2),
/// hand-built with the values of EIP-FirmwareChange_slice.pcap's 1756-ENBT/A (vendor 1,
/// type 12, product 58, revision 4.3, status 0x0030, serial 0x0051aec3): the request's
/// ids, and the reply read as an identity only when every identity attribute came back.
#[test]
fn identity_from_a_get_attribute_list_reply() {
    // Request data: count 7, ids 1-7.
    let req = hex("0700 0100 0200 0300 0400 0500 0600 0700");
    assert_eq!(
        enip::attribute_list_request(&req).unwrap(),
        vec![1, 2, 3, 4, 5, 6, 7]
    );
    // A count the data cannot hold.
    assert_eq!(
        enip::attribute_list_request(&hex("0900 0100")),
        Err(DecodeError::Truncated {
            field: "cip.attribute_list.ids",
            needed: 16
        })
    );
    // Reply data: count, then id, status, value.
    let reply = hex(
        "0700 0100 0000 0100  0200 0000 0c00  0300 0000 3a00  0400 0000 0403
         0500 0000 3000  0600 0000 c3ae5100  0700 0000 0b 313735362d454e42542f41",
    );
    let mut anomalies = Vec::new();
    let id = enip::identity_from_attribute_list(&reply, &mut anomalies)
        .unwrap()
        .expect("an identity");
    assert!(anomalies.is_empty());
    let id = enip_identity::cip_identity(&id);
    assert_eq!((id.vendor_id, id.device_type, id.product_code), (1, 12, 58));
    assert_eq!((id.revision_major, id.revision_minor), (4, 3));
    assert_eq!(id.status, 0x0030);
    assert_eq!(id.serial, 0x0051_aec3);
    assert_eq!(id.product_name, "1756-ENBT/A");
    // The product name refused (status 0x0014, attribute not supported): no identity.
    let refused = hex(
        "0700 0100 0000 0100  0200 0000 0c00  0300 0000 3a00  0400 0000 0403
         0500 0000 3000  0600 0000 c3ae5100  0700 1400",
    );
    assert_eq!(
        enip::identity_from_attribute_list(&refused, &mut anomalies),
        Ok(None)
    );
    // An attribute of unknown size before the name: the rest cannot be placed.
    let unknown = hex("0300 0100 0000 0100  6400 0000 0102  0700 0000 0b 313735362d454e42542f41");
    assert_eq!(
        enip::identity_from_attribute_list(&unknown, &mut anomalies),
        Ok(None)
    );
    // A value cut short is an error naming the field.
    assert_eq!(
        enip::identity_from_attribute_list(&hex("0100 0600 0000 c3ae"), &mut anomalies),
        Err(DecodeError::Truncated {
            field: "cip.identity.serial",
            needed: 2
        })
    );
}
