//! Modbus/TCP codec, guard and probe session tests.
//!
//! Golden vectors are real frames from the captures in `$OTSCOUT_CAPTURES` (INDEX.md says
//! where each capture comes from); each names its file, frame number and device. Goldens
//! written inline run without the captures; the capture tests skip when the folder is not
//! set.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use otscout::inventory::Protocol;
use otscout::inventory::{Fact, Identity, ModbusIdentity};
use otscout::probe::{Session, Step};
use otscout::protocols::modbus;
use otscout::protocols::modbus::identity::to_identity;
use otscout::protocols::modbus::session::{ModbusSession, ModbusSessionConfig};
use otscout::safety::{
    self, GuardError, ModbusReadDeviceId, ReadDeviceIdCode, SafeRequest, check, emit,
};
use otscout::wire::modbus::{
    Access, DeviceIdObject, ExceptionCode, FunctionCode, Header, MAX_ADU_LEN, ReadCode,
    ReadDeviceIdRequest, ReadDeviceIdResponse, Request, RequestAdu, Response, ResponseAdu,
    classify, classify_function, frame_len,
};
use otscout::wire::{Cursor, DecodeError};
use proptest::prelude::*;

use crate::support::{self, Frame, hex};

// ---------------------------------------------------------------------------------------
// Goldens, one per message kind: decode, check fields, encode, compare whole slices.

/// modbus_example.pcap frame 92: client to the pymodbus-style server 127.0.0.1:502,
/// Read Device Identification, transaction 23, unit 1, read code 1 (basic), object 0.
pub(crate) const DEVID_REQUEST: &str = "0017 0000 0005 01 2b 0e 01 00";

/// modbus_example.pcap frame 94: the server's reply to frame 92.
pub(crate) const DEVID_RESPONSE: &str = "0017 0000 003d 01 2b 0e 01 83 00 00 03 \
     00 10 5a65656b204d6f646275732054657374 \
     01 18 50726f746f636f6c2050617273696e672069732066756e21 \
     02 07 312e322e332e36";

/// pymodbus-client-vs-pymodbus.pcap frame 13: server 127.0.0.2:502 answers read code 3
/// from object 0 with eight objects, "more follows" and next object 0x81.
pub(crate) const DEVID_PAGED: &str = "0004 0000 00fd 01 2b 0e 03 83 ff 81 08 \
     00 17 506565724c6162204175746f6d6174696f6e20476d6248 \
     01 0b 504c422d4d422d30353032 \
     02 0b 76332e31362e312d6c6162 \
     03 1d 687474703a2f2f706565726c61622e696e76616c69642f6d6f64627573 \
     04 1a 506565724c6162204d6f64627573205465737420536572766572 \
     05 0c 504c422d4d422d5443502d31 \
     06 11 706565722d6c61622070796d6f64627573 \
     80 64 707269766174652d6f626a6563742d3078383020 78787878787878787878787878787878787878787878787878787878787878787878787878787878 78787878787878787878787878787878787878787878787878787878787878787878787878787878";

/// modbus_test_data_part1.pcap frame 9: 10.0.0.3:502 answers a diagnostics request for
/// unit 10 with exception 0x0B (gateway target device failed to respond).
pub(crate) const EXCEPTION: &str = "0000 0000 0003 0a 88 0b";

/// modbus_test_data_part1.pcap frame 91: 10.0.0.8:502 sends an exception 0x06 to function
/// 1 with one byte more than the spec allows (MBAP length 4).
const EXCEPTION_TRAILING: &str = "0001 0000 0004 0a 81 06 00";

/// modbus_test_data_part1.pcap frame 32: 10.0.0.57 asks 10.0.0.8:502 for read code 3 from
/// object 1, with a stray byte after the object id (MBAP length 6); it got no answer.
pub(crate) const DEVID_REQUEST_TRAILING: &str = "0001 0000 0006 0a 2b 0e 03 01 00";

/// modbus_test_data_part1.pcap frame 41: 10.0.0.3:502 answers Report Server ID (17).
const SERVER_ID: &str = "0000 0000 0015 0a 11 12 00 ff 57696e6770617468204c696d69746564";

/// nDPI_modbus.pcap frames 1 and 2: 192.168.110.131 polls 192.168.110.138:502 with Read
/// Holding Registers (3) at address 1, one register; the reply holds 0x0000.
const FC3_REQUEST: &str = "00d1 0000 0006 01 03 0001 0001";
const FC3_RESPONSE: &str = "00d1 0000 0005 01 03 02 0000";

/// modbus_example.pcap frame 56: Write Multiple Registers (16) to unit 7, address 1, four
/// registers, 8 bytes.
const FC16_REQUEST: &str = "000e 0000 000f 07 10 0001 0004 08 00aa00bb00cc00dd";

fn decode_request(bytes: &[u8]) -> RequestAdu {
    let mut c = Cursor::new(bytes);
    let adu = RequestAdu::decode(&mut c).expect("request decodes");
    assert!(c.is_empty(), "bytes left after the request");
    adu
}

fn decode_response(bytes: &[u8]) -> ResponseAdu {
    let mut c = Cursor::new(bytes);
    let adu = ResponseAdu::decode(&mut c).expect("response decodes");
    assert!(c.is_empty(), "bytes left after the response");
    adu
}

fn encode_request(adu: &RequestAdu) -> Vec<u8> {
    let mut out = Vec::new();
    adu.encode(&mut out);
    assert_eq!(out.len(), adu.encoded_len());
    out
}

fn encode_response(adu: &ResponseAdu) -> Vec<u8> {
    let mut out = Vec::new();
    adu.encode(&mut out);
    assert_eq!(out.len(), adu.encoded_len());
    out
}

fn obj(id: u8, v: &str) -> DeviceIdObject {
    DeviceIdObject {
        id,
        value: v.as_bytes().to_vec(),
    }
}

#[test]
fn golden_devid_request() {
    let bytes = hex(DEVID_REQUEST);
    let expected = RequestAdu {
        header: Header {
            transaction_id: 23,
            protocol_id: 0,
            unit_id: 1,
        },
        pdu: Request::ReadDeviceId(ReadDeviceIdRequest {
            read_code: ReadCode::Basic,
            object_id: 0,
            trailing: vec![],
        }),
    };
    assert_eq!(decode_request(&bytes), expected);
    assert_eq!(encode_request(&expected), bytes);
    assert_eq!(frame_len(&bytes), Ok(Some(bytes.len())));
    assert_eq!(classify(&expected.pdu).name, "read_device_identification");
    assert_eq!(classify(&expected.pdu).access, Access::Read);
    // otscout's own request for the same thing is byte for byte the capture's.
    let ours = SafeRequest::Modbus(modbus::Safe::ReadDeviceId(ModbusReadDeviceId {
        transaction_id: 23,
        unit_id: 1,
        read_code: ReadDeviceIdCode::Basic,
        object_id: 0,
    }));
    assert_eq!(emit(&ours).unwrap(), bytes);
    assert_eq!(ours.encoded_len(), bytes.len());
}

#[test]
fn golden_devid_response() {
    let bytes = hex(DEVID_RESPONSE);
    let expected = ResponseAdu {
        header: Header {
            transaction_id: 23,
            protocol_id: 0,
            unit_id: 1,
        },
        pdu: Response::ReadDeviceId(ReadDeviceIdResponse {
            read_code: ReadCode::Basic,
            conformity_level: 0x83,
            more_follows: 0,
            next_object_id: 0,
            objects: vec![
                obj(0, "Zeek Modbus Test"),
                obj(1, "Protocol Parsing is fun!"),
                obj(2, "1.2.3.6"),
            ],
            trailing: vec![],
        }),
    };
    let adu = decode_response(&bytes);
    assert_eq!(adu, expected);
    assert_eq!(encode_response(&expected), bytes);
    let Response::ReadDeviceId(r) = &adu.pdu else {
        unreachable!()
    };
    assert!(!r.more_follows());
    assert!(r.anomalies().is_empty());
    assert!(adu.header.anomalies().is_empty());
    let id = to_identity(1, [r]);
    assert_eq!(
        id,
        ModbusIdentity {
            unit_id: 1,
            conformity_level: Some(0x83),
            objects: BTreeMap::from([
                (0, "Zeek Modbus Test".to_string()),
                (1, "Protocol Parsing is fun!".to_string()),
                (2, "1.2.3.6".to_string()),
            ]),
        }
    );
}

#[test]
fn golden_devid_paged_response() {
    let bytes = hex(DEVID_PAGED);
    let adu = decode_response(&bytes);
    assert_eq!(adu.header.transaction_id, 4);
    let Response::ReadDeviceId(r) = &adu.pdu else {
        panic!("{adu:?}")
    };
    assert_eq!(r.read_code, ReadCode::Extended);
    assert_eq!(r.conformity_level, 0x83);
    assert!(r.more_follows());
    assert_eq!(r.more_follows, 0xff);
    assert_eq!(r.next_object_id, 0x81);
    let ids: Vec<u8> = r.objects.iter().map(|o| o.id).collect();
    assert_eq!(ids, [0, 1, 2, 3, 4, 5, 6, 0x80]);
    assert_eq!(r.objects[0].as_str(), "PeerLab Automation GmbH");
    assert_eq!(r.objects[7].value.len(), 100);
    assert!(r.objects[7].as_str().starts_with("private-object-0x80 x"));
    assert_eq!(encode_response(&adu), bytes);
}

#[test]
fn golden_exception() {
    let bytes = hex(EXCEPTION);
    let expected = ResponseAdu {
        header: Header {
            transaction_id: 0,
            protocol_id: 0,
            unit_id: 10,
        },
        pdu: Response::Exception {
            function: FunctionCode::Diagnostics,
            code: ExceptionCode::GatewayTargetFailedToRespond,
            trailing: vec![],
        },
    };
    assert_eq!(decode_response(&bytes), expected);
    assert_eq!(encode_response(&expected), bytes);
    assert!(ExceptionCode::GatewayTargetFailedToRespond.is_gateway());
}

#[test]
fn golden_exception_with_a_stray_byte_survives_and_round_trips() {
    let bytes = hex(EXCEPTION_TRAILING);
    let adu = decode_response(&bytes);
    assert_eq!(
        adu.pdu,
        Response::Exception {
            function: FunctionCode::ReadCoils,
            code: ExceptionCode::ServerDeviceBusy,
            trailing: vec![0],
        }
    );
    assert_eq!(encode_response(&adu), bytes);
}

#[test]
fn golden_devid_request_with_a_stray_byte() {
    let bytes = hex(DEVID_REQUEST_TRAILING);
    let adu = decode_request(&bytes);
    let Request::ReadDeviceId(r) = &adu.pdu else {
        panic!("{adu:?}")
    };
    assert_eq!((r.read_code, r.object_id), (ReadCode::Extended, 1));
    assert_eq!(r.trailing, [0]);
    assert_eq!(r.anomalies().len(), 1);
    assert_eq!(adu.header.unit_id, 10);
    assert_eq!(encode_request(&adu), bytes);
    // It is read device identification, but not a frame otscout would ever send.
    assert!(matches!(
        check(Protocol::Modbus, &bytes),
        Err(GuardError::NotAllowed { .. })
    ));
}

#[test]
fn golden_report_server_id() {
    let bytes = hex(SERVER_ID);
    let adu = decode_response(&bytes);
    assert_eq!(adu.pdu.function(), FunctionCode::ReportServerId);
    let data = adu.pdu.report_server_id().expect("server id data");
    assert_eq!(data.len(), 0x12);
    assert_eq!(&data[..2], [0x00, 0xff]);
    assert_eq!(&data[2..], b"Wingpath Limited");
    assert_eq!(encode_response(&adu), bytes);
    assert_eq!(FunctionCode::ReportServerId.access(), Access::Read);
}

#[test]
fn golden_read_holding_registers() {
    let req = hex(FC3_REQUEST);
    let expected = RequestAdu {
        header: Header {
            transaction_id: 0xd1,
            protocol_id: 0,
            unit_id: 1,
        },
        pdu: Request::Other {
            function: FunctionCode::ReadHoldingRegisters,
            data: hex("0001 0001"),
        },
    };
    assert_eq!(decode_request(&req), expected);
    assert_eq!(encode_request(&expected), req);
    assert_eq!(expected.pdu.address_range(), Some((1, 1)));
    let c = classify(&expected.pdu);
    assert_eq!((c.name, c.access), ("read_holding_registers", Access::Read));
    let resp = hex(FC3_RESPONSE);
    let r = decode_response(&resp);
    assert_eq!(
        r.pdu,
        Response::Other {
            function: FunctionCode::ReadHoldingRegisters,
            data: hex("02 0000"),
        }
    );
    assert_eq!(encode_response(&r), resp);
}

#[test]
fn golden_write_multiple_registers() {
    let bytes = hex(FC16_REQUEST);
    let adu = decode_request(&bytes);
    assert_eq!(adu.header.unit_id, 7);
    assert_eq!(adu.pdu.function(), FunctionCode::WriteMultipleRegisters);
    assert_eq!(adu.pdu.address_range(), Some((1, 4)));
    let c = classify(&adu.pdu);
    assert_eq!(
        (c.name, c.access),
        ("write_multiple_registers", Access::Write)
    );
    assert_eq!(encode_request(&adu), bytes);
    assert!(matches!(
        check(Protocol::Modbus, &bytes),
        Err(GuardError::NotAllowed { .. })
    ));
}

#[test]
fn classifier_names_every_listed_function() {
    let table: &[(u8, &str, Access)] = &[
        (1, "read_coils", Access::Read),
        (2, "read_discrete_inputs", Access::Read),
        (3, "read_holding_registers", Access::Read),
        (4, "read_input_registers", Access::Read),
        (5, "write_single_coil", Access::Write),
        (6, "write_single_register", Access::Write),
        (8, "diagnostics", Access::Control),
        (15, "write_multiple_coils", Access::Write),
        (16, "write_multiple_registers", Access::Write),
        (17, "report_server_id", Access::Read),
        (22, "mask_write_register", Access::Write),
        (23, "read_write_multiple_registers", Access::Write),
        (90, "schneider_umas", Access::Unknown),
        (100, "unknown", Access::Unknown),
    ];
    for &(code, name, access) in table {
        let f = FunctionCode::from_u8(code);
        assert_eq!(f.code(), code);
        let c = classify_function(f, &[]);
        assert_eq!((c.name, c.access), (name, access), "function {code}");
    }
    let devid = classify_function(FunctionCode::EncapsulatedInterface, &[0x0e, 1, 0]);
    assert_eq!(
        (devid.name, devid.access),
        ("read_device_identification", Access::Read)
    );
    let canopen = classify_function(FunctionCode::EncapsulatedInterface, &[0x0d]);
    assert_eq!(canopen.access, Access::Unknown);
}

#[test]
fn odd_device_id_replies_are_survived_and_flagged() {
    // more follows 0x01 (neither 0x00 nor 0xff), next object 5, zero objects.
    let bytes = hex("0001 0000 0008 01 2b 0e 01 01 01 05 00");
    let adu = decode_response(&bytes);
    let Response::ReadDeviceId(r) = &adu.pdu else {
        panic!()
    };
    assert!(!r.more_follows());
    assert!(r.objects.is_empty());
    let fields: Vec<&str> = r.anomalies().iter().map(|a| a.field).collect();
    assert!(fields.contains(&"modbus.devid.more_follows"), "{fields:?}");
    assert!(
        fields.contains(&"modbus.devid.next_object_id"),
        "{fields:?}"
    );
    assert_eq!(encode_response(&adu), bytes);

    // An object whose length runs past the frame is an error naming the field.
    let bytes = hex("0001 0000 000b 01 2b 0e 01 83 00 00 01 00 09 41");
    assert!(matches!(
        ResponseAdu::decode(&mut Cursor::new(&bytes)),
        Err(DecodeError::Truncated {
            field: "modbus.devid.object_value",
            needed: 8
        })
    ));
    // A non-zero protocol id decodes and is flagged.
    let bytes = hex("0001 0010 0006 0a 01 0001 0003"); // modbus_test_data_part1.pcap frame 80
    let adu = decode_request(&bytes);
    assert_eq!(adu.header.protocol_id, 0x10);
    assert_eq!(adu.header.anomalies().len(), 1);
    assert_eq!(encode_request(&adu), bytes);
}

// ---------------------------------------------------------------------------------------
// Real captures.

/// One Modbus frame of a capture, with the frame number it started in.
#[derive(Debug)]
struct Msg {
    frame: usize,
    to_server: bool,
    bytes: Vec<u8>,
}

/// Splits every TCP payload to or from port 502 into MBAP frames (captures here carry
/// whole frames per segment; a payload that does not frame is returned as `Err`).
fn modbus_messages(frames: &[Frame]) -> (Vec<Msg>, Vec<(usize, DecodeError)>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for f in frames {
        if f.udp || f.payload.is_empty() || (f.dport != 502 && f.sport != 502) {
            continue;
        }
        let mut rest = &f.payload[..];
        while !rest.is_empty() {
            match frame_len(rest) {
                Ok(Some(n)) => {
                    out.push(Msg {
                        frame: f.number,
                        to_server: f.dport == 502,
                        bytes: rest[..n].to_vec(),
                    });
                    rest = &rest[n..];
                }
                Ok(None) => {
                    bad.push((
                        f.number,
                        DecodeError::Incomplete {
                            field: "capture segment",
                            needed: 0,
                        },
                    ));
                    break;
                }
                Err(e) => {
                    bad.push((f.number, e));
                    break;
                }
            }
        }
    }
    (out, bad)
}

#[test]
fn capture_modbus_example() {
    let Some(dir) = support::captures_dir("capture_modbus_example") else {
        return;
    };
    let frames = support::frames(&dir, "modbus_example.pcap");
    assert_eq!(
        support::payload(&dir, "modbus_example.pcap", 92),
        hex(DEVID_REQUEST)
    );
    assert_eq!(
        support::payload(&dir, "modbus_example.pcap", 94),
        hex(DEVID_RESPONSE)
    );
    let (msgs, bad) = modbus_messages(&frames);
    assert!(bad.is_empty(), "{bad:?}");
    let mut writes = BTreeMap::new();
    let mut exceptions = Vec::new();
    for m in &msgs {
        if m.to_server {
            let adu = decode_request(&m.bytes);
            assert_eq!(encode_request(&adu), m.bytes, "frame {}", m.frame);
            let c = classify(&adu.pdu);
            if c.access == Access::Write {
                *writes.entry(c.function.code()).or_insert(0) += 1;
            }
        } else {
            let adu = decode_response(&m.bytes);
            assert_eq!(encode_response(&adu), m.bytes, "frame {}", m.frame);
            if let Response::Exception { function, code, .. } = adu.pdu {
                exceptions.push((m.frame, function, code));
            }
        }
    }
    // Writes FC 5, 6, 15, 16, 22 (twice), 23 (twice), and 21 (Write File Record, frame
    // 68: INDEX.md's list leaves it out, but it writes).
    assert_eq!(
        writes,
        BTreeMap::from([(5, 1), (6, 1), (15, 1), (16, 1), (21, 1), (22, 2), (23, 2)])
    );
    assert_eq!(
        exceptions,
        [(
            100,
            FunctionCode::ReadHoldingRegisters,
            ExceptionCode::IllegalDataAddress
        )]
    );
}

#[test]
fn capture_pymodbus_all_read_codes() {
    let Some(dir) = support::captures_dir("capture_pymodbus_all_read_codes") else {
        return;
    };
    let file = "pymodbus-client-vs-pymodbus.pcap";
    let frames = support::frames(&dir, file);
    let (msgs, bad) = modbus_messages(&frames);
    assert!(bad.is_empty(), "{bad:?}");
    let mut replies = Vec::new();
    for m in &msgs {
        if m.to_server {
            let adu = decode_request(&m.bytes);
            assert_eq!(encode_request(&adu), m.bytes);
            if let Request::ReadDeviceId(r) = &adu.pdu {
                // Where otscout would ask the same, its bytes are the capture's.
                let code = match r.read_code {
                    ReadCode::Basic => ReadDeviceIdCode::Basic,
                    ReadCode::Regular => ReadDeviceIdCode::Regular,
                    ReadCode::Extended => ReadDeviceIdCode::Extended,
                    ReadCode::Individual => ReadDeviceIdCode::Individual,
                    ReadCode::Unknown(c) => panic!("read code {c}"),
                };
                let ours = SafeRequest::Modbus(modbus::Safe::ReadDeviceId(ModbusReadDeviceId {
                    transaction_id: adu.header.transaction_id,
                    unit_id: adu.header.unit_id,
                    read_code: code,
                    object_id: r.object_id,
                }));
                assert_eq!(emit(&ours).unwrap(), m.bytes, "frame {}", m.frame);
            }
        } else {
            let adu = decode_response(&m.bytes);
            assert_eq!(encode_response(&adu), m.bytes);
            match adu.pdu {
                Response::ReadDeviceId(r) => {
                    assert_eq!(r.conformity_level, 0x83);
                    assert!(r.anomalies().is_empty(), "{:?}", r.anomalies());
                    replies.push((m.frame, r));
                }
                Response::Other {
                    function: FunctionCode::ReportServerId,
                    ..
                } => {}
                other => panic!("frame {}: {other:?}", m.frame),
            }
        }
    }
    assert_eq!(
        replies.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
        [9, 11, 13, 15, 17]
    );
    // Frame 13: read code 3 pages with next object 0x81; frame 15 carries 0x81 and 0x82.
    let (_, p13) = &replies[2];
    assert_eq!((p13.more_follows, p13.next_object_id), (0xff, 0x81));
    let (_, p15) = &replies[3];
    assert_eq!(
        p15.objects.iter().map(|o| o.id).collect::<Vec<_>>(),
        [0x81, 0x82]
    );
    // Frame 17: read code 4 (individual) asked object 4 and got exactly that.
    let (f17, p17) = &replies[4];
    assert_eq!(*f17, 17);
    assert_eq!(p17.read_code, ReadCode::Individual);
    assert_eq!(p17.objects, [obj(4, "PeerLab Modbus Test Server")]);

    let id = to_identity(1, replies.iter().map(|(_, r)| r));
    assert_pymodbus_identity(&id);
}

fn assert_pymodbus_identity(id: &ModbusIdentity) {
    let o = &id.objects;
    assert_eq!(id.conformity_level, Some(0x83));
    assert_eq!(o[&0x00], "PeerLab Automation GmbH");
    assert_eq!(o[&0x01], "PLB-MB-0502");
    assert_eq!(o[&0x02], "v3.16.1-lab");
    assert_eq!(o[&0x03], "http://peerlab.invalid/modbus");
    assert_eq!(o[&0x04], "PeerLab Modbus Test Server");
    assert_eq!(o[&0x05], "PLB-MB-TCP-1");
    assert_eq!(o[&0x06], "peer-lab pymodbus");
    for p in 0x80..=0x82u8 {
        assert_eq!(o[&p].len(), 100, "object {p:#x}");
        assert!(o[&p].starts_with(&format!("private-object-{p:#x} ")));
    }
    assert_eq!(o.len(), 10);
}

/// A device that answers from a capture: for each request the session sends, the reply
/// the capture holds for the same request (same unit, read code and object), with the
/// session's transaction id. Returns the findings and the requests sent.
fn replay(
    msgs: &[Msg],
    cfg: ModbusSessionConfig,
) -> (Vec<otscout::probe::Finding>, Vec<ModbusReadDeviceId>) {
    let mut table: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for pair in msgs.windows(2) {
        if pair[0].to_server && !pair[1].to_server {
            table.push((pair[0].bytes[6..].to_vec(), pair[1].bytes.clone()));
        }
    }
    let t0 = Instant::now();
    let mut s = ModbusSession::new(cfg);
    let mut step = s.on_connected(t0);
    let mut sent = Vec::new();
    while let Step::Send(req) = step {
        let SafeRequest::Modbus(modbus::Safe::ReadDeviceId(r)) = req else {
            panic!("{req:?}")
        };
        sent.push(r);
        assert!(sent.len() < 64, "runaway session");
        let frame = emit(&req).expect("guard accepts every session request");
        let (_, reply) = table
            .iter()
            .find(|(q, _)| *q == frame[6..])
            .unwrap_or_else(|| panic!("the capture never asked {frame:02x?}"));
        let mut reply = reply.clone();
        reply[..2].copy_from_slice(&r.transaction_id.to_be_bytes());
        step = s.on_bytes(t0, &reply);
    }
    assert_eq!(step, Step::Done);
    (s.take_findings(), sent)
}

fn cfg(codes: &[ReadDeviceIdCode]) -> ModbusSessionConfig {
    ModbusSessionConfig {
        port: 502,
        unit_ids: vec![1],
        read_codes: codes.to_vec(),
        individual_objects: vec![0x04],
        response_timeout: Duration::from_secs(1),
        max_pages: 16,
        first_transaction_id: 1,
        gateway_units: vec![],
        gateway_identities: vec![],
    }
}

fn only_identity(findings: &[otscout::probe::Finding]) -> &ModbusIdentity {
    assert_eq!(findings.len(), 1, "{findings:?}");
    match &findings[0].fact {
        Fact::Identity {
            identity: Identity::Modbus(m),
        } => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn session_gets_major_minor_revision_from_the_more_follows_reply() {
    let Some(dir) = support::captures_dir("session_longid") else {
        return;
    };
    let frames = support::frames(&dir, "pymodbus-client-vs-pymodbus-longid.pcap");
    let (msgs, bad) = modbus_messages(&frames);
    assert!(bad.is_empty(), "{bad:?}");
    let (findings, sent) = replay(&msgs, cfg(&[ReadDeviceIdCode::Basic]));
    assert_eq!(
        sent.iter().map(|r| r.object_id).collect::<Vec<_>>(),
        [0x00, 0x02]
    );
    let id = only_identity(&findings);
    assert_eq!(id.objects[&0], "PeerLab Long Vendor Name ".repeat(5));
    assert_eq!(id.objects[&1], "PLB-LONG-PRODUCT-CODE-".repeat(5));
    assert_eq!(id.objects[&2], "v9.9.9-long");
    assert_eq!(id.objects.len(), 3);
    assert_eq!(findings[0].request, "modbus.read_device_id");
    // The raw bytes are the two replies, exactly as the device sent them (bar the ids).
    assert_eq!(findings[0].raw.as_ref().unwrap().len(), 0xf7 + 6 + 0x15 + 6);
}

#[test]
fn session_gathers_every_read_code_and_page() {
    let Some(dir) = support::captures_dir("session_pymodbus") else {
        return;
    };
    let frames = support::frames(&dir, "pymodbus-client-vs-pymodbus.pcap");
    let (msgs, _) = modbus_messages(&frames);
    let (findings, sent) = replay(
        &msgs,
        cfg(&[
            ReadDeviceIdCode::Basic,
            ReadDeviceIdCode::Regular,
            ReadDeviceIdCode::Extended,
            ReadDeviceIdCode::Individual,
        ]),
    );
    // Basic, regular, extended from 0 then 0x81; object 4 is already known, so the
    // individual code asks nothing.
    let asked: Vec<(u8, u8)> = sent
        .iter()
        .map(|r| (r.read_code.code(), r.object_id))
        .collect();
    assert_eq!(asked, [(1, 0), (2, 0), (3, 0), (3, 0x81)]);
    assert_pymodbus_identity(only_identity(&findings));
}

#[test]
fn capture_iti_part1() {
    let Some(dir) = support::captures_dir("capture_iti_part1") else {
        return;
    };
    let frames = support::frames(&dir, "modbus_test_data_part1.pcap");
    let (msgs, bad) = modbus_messages(&frames);
    // Frames 76 and 78 carry MBAP length 0x8804: not Modbus, refused with the field named.
    // Frames 111 and 113 hold one whole frame (function 0x2a, unknown) and then three
    // bytes that never complete a header.
    assert_eq!(
        bad.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
        [76, 78, 111, 113],
        "{bad:?}"
    );
    for (_, e) in &bad[..2] {
        assert!(matches!(
            e,
            DecodeError::TooLarge {
                field: "modbus.mbap.length",
                value: 0x8804,
                ..
            }
        ));
    }
    let mut exceptions = 0;
    let mut write_requests = Vec::new();
    let mut devid_requests = Vec::new();
    let mut server_id = None;
    for m in &msgs {
        if m.to_server {
            let adu = decode_request(&m.bytes);
            assert_eq!(encode_request(&adu), m.bytes);
            if classify(&adu.pdu).access == Access::Write {
                write_requests.push((m.frame, adu.pdu.function().code()));
            }
            if let Request::ReadDeviceId(r) = &adu.pdu {
                devid_requests.push((m.frame, r.read_code, r.object_id));
            }
        } else {
            let adu = decode_response(&m.bytes);
            assert_eq!(encode_response(&adu), m.bytes);
            match &adu.pdu {
                Response::Exception { .. } => exceptions += 1,
                Response::ReadDeviceId(_) => panic!("frame {}: no devid reply expected", m.frame),
                other => {
                    if let Some(d) = other.report_server_id() {
                        server_id = Some(d.to_vec());
                    }
                }
            }
        }
    }
    // 4 from 10.0.0.3 (0x88 0x0b, frames 9-16), and 10 from 10.0.0.8 on the connection it
    // opened itself *from* port 502 (frame 88, role reversal): by their shape (function
    // byte with 0x80 set) they are exception responses, as the port rule reads them.
    assert_eq!(exceptions, 14);
    assert_eq!(write_requests, [(60, 5), (63, 5), (66, 6)]);
    assert_eq!(
        devid_requests,
        [(32, ReadCode::Extended, 1), (34, ReadCode::Extended, 1)]
    );
    let sid = server_id.expect("report server id answer");
    assert!(sid.ends_with(b"Wingpath Limited"));
}

#[test]
fn capture_ndpi_polling_is_reads() {
    let Some(dir) = support::captures_dir("capture_ndpi_polling_is_reads") else {
        return;
    };
    let frames = support::frames(&dir, "nDPI_modbus.pcap");
    assert_eq!(
        support::payload(&dir, "nDPI_modbus.pcap", 1),
        hex(FC3_REQUEST)
    );
    assert_eq!(
        support::payload(&dir, "nDPI_modbus.pcap", 2),
        hex(FC3_RESPONSE)
    );
    let (msgs, bad) = modbus_messages(&frames);
    assert!(bad.is_empty(), "{bad:?}");
    let requests: Vec<_> = msgs.iter().filter(|m| m.to_server).collect();
    assert_eq!(requests.len(), 51);
    assert_eq!(msgs.len(), 102);
    for m in &msgs {
        if m.to_server {
            let adu = decode_request(&m.bytes);
            let c = classify(&adu.pdu);
            assert_eq!((c.name, c.access), ("read_holding_registers", Access::Read));
        } else {
            let adu = decode_response(&m.bytes);
            assert_eq!(adu.pdu.function(), FunctionCode::ReadHoldingRegisters);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The guard.

fn devid(tid: u16, unit: u8, code: u8, object: u8) -> Vec<u8> {
    let mut v = tid.to_be_bytes().to_vec();
    v.extend_from_slice(&[0, 0, 0, 5, unit, 0x2b, 0x0e, code, object]);
    v
}

#[test]
fn guard_accepts_every_read_device_id_variant() {
    for code in [
        ReadDeviceIdCode::Basic,
        ReadDeviceIdCode::Regular,
        ReadDeviceIdCode::Extended,
        ReadDeviceIdCode::Individual,
    ] {
        for (tid, unit, object) in [
            (0, 0, 0),
            (1, 1, 0x80),
            (0xffff, 0xff, 0xff),
            (0x1234, 247, 3),
        ] {
            let r = SafeRequest::Modbus(modbus::Safe::ReadDeviceId(ModbusReadDeviceId {
                transaction_id: tid,
                unit_id: unit,
                read_code: code,
                object_id: object,
            }));
            let frame = emit(&r).unwrap();
            assert_eq!(frame, devid(tid, unit, code.code(), object));
            assert_eq!(safety::check(Protocol::Modbus, &frame), Ok(r.kind()));
        }
    }
}

#[test]
fn guard_refuses_every_other_function() {
    for fc in 0..=255u8 {
        if fc == 0x2b {
            continue;
        }
        // A plausible 4-byte body, and bodies of other lengths.
        for body in [&[][..], &[0x0e, 1, 0][..], &[0, 1, 0, 1][..], &[0; 10][..]] {
            let mut frame = vec![0, 1, 0, 0, 0, (2 + body.len()) as u8, 1, fc];
            frame.extend_from_slice(body);
            let r = check(Protocol::Modbus, &frame);
            assert!(r.is_err(), "function {fc} body {body:?} accepted");
        }
    }
    // Function 43 with any MEI type but 0x0E (13 is CANopen General Reference).
    for mei in 0..=255u8 {
        if mei == 0x0e {
            continue;
        }
        let frame = [0, 1, 0, 0, 0, 5, 1, 0x2b, mei, 1, 0];
        assert!(
            matches!(
                check(Protocol::Modbus, &frame),
                Err(GuardError::NotAllowed { .. })
            ),
            "mei {mei}"
        );
    }
}

#[test]
fn guard_refuses_read_codes_outside_1_to_4() {
    for code in (0..=255u8).filter(|c| !(1..=4).contains(c)) {
        assert!(
            matches!(
                check(Protocol::Modbus, &devid(1, 1, code, 0)),
                Err(GuardError::NotAllowed { .. })
            ),
            "read code {code}"
        );
    }
}

#[test]
fn guard_refuses_bad_headers_lengths_and_trailing_bytes() {
    let good = devid(1, 1, 1, 0);
    assert!(check(Protocol::Modbus, &good).is_ok());
    // Protocol id other than 0.
    for pid in [1u16, 0x0010, 0xffff] {
        let mut f = good.clone();
        f[2..4].copy_from_slice(&pid.to_be_bytes());
        assert!(check(Protocol::Modbus, &f).is_err(), "protocol id {pid}");
    }
    // Length fields other than 5, with the bytes as they are.
    for len in [0u16, 1, 2, 3, 4, 6, 7, 254, 255, 0xffff] {
        let mut f = good.clone();
        f[4..6].copy_from_slice(&len.to_be_bytes());
        assert!(check(Protocol::Modbus, &f).is_err(), "length {len}");
    }
    // Length 6 with a sixth byte (the capture's stray byte), and trailing bytes.
    let mut f = good.clone();
    f[5] = 6;
    f.push(0);
    assert!(check(Protocol::Modbus, &f).is_err());
    let mut f = good.clone();
    f.push(0);
    assert!(matches!(
        check(Protocol::Modbus, &f),
        Err(GuardError::Malformed { .. })
    ));
    // Two frames at once.
    let mut f = good.clone();
    f.extend_from_slice(&good);
    assert!(check(Protocol::Modbus, &f).is_err());
    // Every partial frame.
    for cut in 0..good.len() {
        assert!(
            matches!(
                check(Protocol::Modbus, &good[..cut]),
                Err(GuardError::Malformed { .. })
            ),
            "cut at {cut}"
        );
    }
    // A response is not a request.
    assert!(check(Protocol::Modbus, &hex(DEVID_RESPONSE)).is_err());
    // A Modbus frame is not accepted as another protocol.
    assert!(check(Protocol::Enip, &good).is_err());
}

// ---------------------------------------------------------------------------------------
// Properties.

fn arb_header() -> impl Strategy<Value = Header> {
    (any::<u16>(), any::<u16>(), any::<u8>()).prop_map(|(t, p, u)| Header {
        transaction_id: t,
        protocol_id: p,
        unit_id: u,
    })
}

fn arb_read_code() -> impl Strategy<Value = ReadCode> {
    any::<u8>().prop_map(ReadCode::from_u8)
}

/// Function codes that decode as `Other`: below 0x80, not 43 (whose MEI 0x0E is typed).
fn arb_other_function() -> impl Strategy<Value = FunctionCode> {
    (0u8..0x80)
        .prop_filter("43 is typed", |c| *c != 43)
        .prop_map(FunctionCode::from_u8)
}

fn arb_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (
            arb_read_code(),
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..4)
        )
            .prop_map(|(read_code, object_id, trailing)| Request::ReadDeviceId(
                ReadDeviceIdRequest {
                    read_code,
                    object_id,
                    trailing,
                }
            )),
        (
            arb_other_function(),
            prop::collection::vec(any::<u8>(), 0..=252)
        )
            .prop_map(|(function, data)| Request::Other { function, data }),
        // Function 43 with another MEI type stays raw.
        (
            any::<u8>().prop_filter("0x0e is typed", |m| *m != 0x0e),
            prop::collection::vec(any::<u8>(), 0..20)
        )
            .prop_map(|(mei, mut rest)| {
                rest.insert(0, mei);
                Request::Other {
                    function: FunctionCode::EncapsulatedInterface,
                    data: rest,
                }
            }),
    ]
}

fn arb_devid_response() -> impl Strategy<Value = ReadDeviceIdResponse> {
    (
        arb_read_code(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        prop::collection::vec(
            (any::<u8>(), prop::collection::vec(any::<u8>(), 0..40))
                .prop_map(|(id, value)| DeviceIdObject { id, value }),
            0..5,
        ),
        prop::collection::vec(any::<u8>(), 0..2),
    )
        .prop_map(
            |(read_code, conformity_level, more_follows, next_object_id, objects, trailing)| {
                ReadDeviceIdResponse {
                    read_code,
                    conformity_level,
                    more_follows,
                    next_object_id,
                    objects,
                    trailing,
                }
            },
        )
}

fn arb_response() -> impl Strategy<Value = Response> {
    prop_oneof![
        arb_devid_response().prop_map(Response::ReadDeviceId),
        (
            (0u8..0x80).prop_map(FunctionCode::from_u8),
            any::<u8>().prop_map(ExceptionCode::from_u8),
            prop::collection::vec(any::<u8>(), 0..3)
        )
            .prop_map(|(function, code, trailing)| Response::Exception {
                function,
                code,
                trailing
            }),
        (
            arb_other_function(),
            prop::collection::vec(any::<u8>(), 0..=252)
        )
            .prop_map(|(function, data)| Response::Other { function, data }),
    ]
}

fn arb_request_adu() -> impl Strategy<Value = RequestAdu> {
    (arb_header(), arb_request()).prop_map(|(header, pdu)| RequestAdu { header, pdu })
}

fn arb_response_adu() -> impl Strategy<Value = ResponseAdu> {
    (arb_header(), arb_response()).prop_map(|(header, pdu)| ResponseAdu { header, pdu })
}

/// Every decoder entry point over arbitrary bytes (what the `fuzz/fuzz_targets/modbus_*`
/// targets run): never panics; whatever decodes re-encodes to exactly the bytes it used;
/// the guard accepts nothing but an 11-byte read device identification request.
fn exercise(bytes: &[u8]) {
    if let Ok(Some(n)) = frame_len(bytes) {
        assert!(n <= bytes.len() && n <= MAX_ADU_LEN);
    }
    let _ = RequestAdu::decode(&mut Cursor::new(bytes));
    let _ = ResponseAdu::decode(&mut Cursor::new(bytes));
    let mut c = Cursor::framed(bytes);
    if let Ok(adu) = ResponseAdu::decode(&mut c) {
        if let Response::ReadDeviceId(r) = &adu.pdu {
            let _ = r.anomalies();
            let _ = to_identity(adu.header.unit_id, [r]);
        }
        let _ = adu.pdu.report_server_id();
        assert_eq!(encode_response(&adu), &bytes[..c.position()]);
    }
    let mut c = Cursor::framed(bytes);
    if let Ok(adu) = RequestAdu::decode(&mut c) {
        let _ = classify(&adu.pdu);
        let _ = adu.pdu.address_range();
        assert_eq!(encode_request(&adu), &bytes[..c.position()]);
    }
    if let Ok(kind) = check(Protocol::Modbus, bytes) {
        assert_eq!(kind, "modbus.read_device_id");
        assert_eq!(bytes.len(), 11);
        assert_eq!(&bytes[2..8], &[0, 0, 0, 5, bytes[6], 0x2b][..]);
        assert_eq!(bytes[8], 0x0e);
        assert!((1..=4).contains(&bytes[9]));
    }
}

/// Like [`exercise`], and feeds the bytes to a probe session as a device's reply.
fn exercise_session(bytes: &[u8]) {
    let t0 = Instant::now();
    let mut s = ModbusSession::new(cfg(&[ReadDeviceIdCode::Basic, ReadDeviceIdCode::Regular]));
    let _ = s.on_connected(t0);
    let _ = s.on_bytes(t0, bytes);
    let _ = s.on_timeout(t0 + Duration::from_secs(5));
    let _ = s.take_findings();
}

/// Bytes that look like MBAP: a random body behind a header whose length often fits.
fn arb_mbapish() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u16>(),
        prop::collection::vec(any::<u8>(), 0..300),
        any::<bool>(),
    )
        .prop_map(|(tid, body, fit)| {
            let mut v = tid.to_be_bytes().to_vec();
            v.extend_from_slice(&[0, 0]);
            let len = if fit {
                body.len() as u16
            } else {
                (body.len() as u16) ^ 3
            };
            v.extend_from_slice(&len.to_be_bytes());
            v.extend_from_slice(&body);
            v
        })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        exercise(&bytes);
        exercise_session(&bytes);
    }

    #[test]
    fn mbap_shaped_bytes_never_panic(bytes in arb_mbapish()) {
        exercise(&bytes);
        exercise_session(&bytes);
    }

    #[test]
    fn request_round_trips(adu in arb_request_adu()) {
        let bytes = encode_request(&adu);
        prop_assert!(bytes.len() <= MAX_ADU_LEN);
        prop_assert_eq!(frame_len(&bytes), Ok(Some(bytes.len())));
        prop_assert_eq!(decode_request(&bytes), adu);
    }

    #[test]
    fn response_round_trips(adu in arb_response_adu()) {
        let bytes = encode_response(&adu);
        prop_assert!(bytes.len() <= MAX_ADU_LEN);
        prop_assert_eq!(frame_len(&bytes), Ok(Some(bytes.len())));
        prop_assert_eq!(decode_response(&bytes), adu);
    }

    #[test]
    fn a_cut_frame_needs_more_then_decodes(adu in arb_response_adu(), req in arb_request_adu()) {
        let bytes = encode_response(&adu);
        for cut in 0..bytes.len() {
            let part = &bytes[..cut];
            prop_assert_eq!(frame_len(part), Ok(None));
            let e = ResponseAdu::decode(&mut Cursor::new(part)).unwrap_err();
            prop_assert!(e.is_incomplete(), "cut {}: {:?}", cut, e);
        }
        prop_assert_eq!(decode_response(&bytes), adu);
        let bytes = encode_request(&req);
        for cut in 0..bytes.len() {
            prop_assert_eq!(frame_len(&bytes[..cut]), Ok(None));
            let e = RequestAdu::decode(&mut Cursor::new(&bytes[..cut])).unwrap_err();
            prop_assert!(e.is_incomplete(), "cut {}: {:?}", cut, e);
        }
        prop_assert_eq!(decode_request(&bytes), req);
    }

    #[test]
    fn session_frames_a_reply_cut_anywhere(cut in 0usize..80) {
        let reply = hex(DEVID_RESPONSE);
        let cut = cut.min(reply.len());
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(&[ReadDeviceIdCode::Basic]));
        let Step::Send(SafeRequest::Modbus(modbus::Safe::ReadDeviceId(r))) = s.on_connected(t0) else {
            panic!()
        };
        let mut reply = reply;
        reply[..2].copy_from_slice(&r.transaction_id.to_be_bytes());
        let first = s.on_bytes(t0, &reply[..cut]);
        if cut < reply.len() {
            prop_assert_eq!(first, Step::Wait);
            prop_assert_eq!(s.on_bytes(t0, &reply[cut..]), Step::Done);
        } else {
            prop_assert_eq!(first, Step::Done);
        }
        let f = s.take_findings();
        prop_assert_eq!(f.len(), 1);
    }
}

/// The fuzz targets' entry points under proptest for much longer (cargo-fuzz needs a
/// nightly toolchain this machine does not have). Run with
/// `cargo test --test it modbus::long_ -- --ignored`.
#[test]
#[ignore]
fn long_arbitrary_bytes_never_panic() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 100_000,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &prop_oneof![prop::collection::vec(any::<u8>(), 0..300), arb_mbapish()],
            |bytes| {
                exercise(&bytes);
                exercise_session(&bytes);
                Ok(())
            },
        )
        .unwrap();
    runner
        .run(&(arb_request_adu(), arb_response_adu()), |(q, r)| {
            prop_assert_eq!(decode_request(&encode_request(&q)), q);
            prop_assert_eq!(decode_response(&encode_response(&r)), r);
            Ok(())
        })
        .unwrap();
}
