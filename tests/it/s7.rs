//! S7comm codec, guard and capture tests.
//!
//! Goldens are copied (as hex) from the real captures listed in captures/INDEX.md; each
//! names its file, frame and device. The capture tests re-read the same frames from
//! `OTSCOUT_CAPTURES` and check every field INDEX.md lists.

use otscout::inventory::Protocol;
use otscout::protocols::s7::Safe as S7Safe;
use otscout::protocols::s7::identity as s7_identity;
use otscout::protocols::s7::passive as s7_passive;
use otscout::safety::{
    self, CotpConnect, CotpDisconnect, GuardError, S7ReadSzl, S7ReadSzlFollowUp,
    S7SetupCommunication, SafeRequest,
};
use otscout::wire::s7::{
    self, Access, Body, Cotp, Frame, Function, FunctionGroup, Payload, Rosctr, SzlList,
    SzlReassembler, UserdataData,
};
use otscout::wire::{Cursor, DecodeError};
use proptest::prelude::*;

use crate::support::{self, hex};

const PLC_STATUS: &str = "s7comm_reading_plc_status.pcap";
const S7IDENT: &str = "s7ident.pcap";
const VARSERVICE: &str = "s7comm_varservice_libnodavedemo.pcap";

// --- goldens -------------------------------------------------------------------------

/// s7comm_reading_plc_status.pcap frame 8: STEP 7 to the IM151-8 PN/DP CPU, COTP CR.
pub(crate) const CR_STEP7: &str = "0300 0016  11 e0 0000 000f 00  c1 02 0100  c2 02 0102  c0 01 0a";
/// Frame 9: the CPU's CC.
pub(crate) const CC_IM151: &str = "0300 0016  11 d0 000f 0003 00  c0 01 0a  c1 02 0100  c2 02 0102";
/// Frame 10: Setup Communication job, PDU 480 asked.
pub(crate) const SETUP_JOB: &str =
    "0300 0019  02 f0 80  32 01 0000 0200 0008 0000  f0 00 0001 0001 01e0";
/// Frame 11: Setup Communication ack_data, PDU 240 granted.
pub(crate) const SETUP_ACK: &str =
    "0300 001b  02 f0 80  32 03 0000 0200 0008 0000 00 00  f0 00 0001 0001 00f0";
/// Frame 67: Read SZL 0x001C index 0 request.
pub(crate) const SZL_1C_REQ: &str = "0300 0021  02 f0 80  32 07 0000 1400 0008 0008  \
     0001 12 04 11 44 01 00  ff 09 0004 001c 0000";
/// Frame 71: Read SZL follow-up request (sequence 2, no SZL id).
const SZL_FOLLOW_UP: &str = "0300 0021  02 f0 80  32 07 0000 1500 000c 0004  \
     0001 12 08 12 44 01 02 00 00 0000  0a 00 0000";
/// Frame 42: an SZL error answer (SZL 0x0C91 not available: error 0xD402, return 0x0A).
const SZL_ERROR: &str = "0300 0021  02 f0 80  32 07 0000 0c00 000c 0004  \
     0001 12 08 12 84 01 01 00 00 d402  0a 00 0000";
/// Frame 12: an empty DT STEP 7 sends between requests.
const EMPTY_DT: &str = "0300 0007  02 f0 00";
/// s7comm_varservice_libnodavedemo.pcap frame 15: a write-var job to the IM151-8.
const WRITE_VAR: &str = "0300 0027  02 f0 80  32 01 0000 0002 000e 0008  \
     05 01 12 0a 10 02 0004 0000 83 000000  00 04 0020 a9100001";
/// s7ident.pcap frame 4: Snap7 client CR (parameters in the order c0 c1 c2).
const CR_SNAP7: &str = "0300 0016  11 e0 0000 0001 00  c0 01 0a  c1 02 0100  c2 02 0101";

fn encode(f: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    f.encode(&mut out);
    assert_eq!(out.len(), f.encoded_len(), "encoded_len matches");
    out
}

fn round_trip(hexstr: &str) -> Frame {
    let bytes = hex(hexstr);
    let f = Frame::decode_exact(&bytes).expect("golden decodes");
    assert_eq!(encode(&f), bytes, "re-encoding gives the golden bytes");
    assert_eq!(s7::frame_len(&bytes), Ok(Some(bytes.len())));
    f
}

#[test]
fn cotp_cr_golden_decodes_and_safe_request_encodes_it() {
    let f = round_trip(CR_STEP7);
    let Cotp::ConnectRequest(c) = &f.cotp else {
        panic!("not a CR: {f:?}")
    };
    assert_eq!((c.dst_ref, c.src_ref, c.class_option), (0, 0x000f, 0));
    assert_eq!(c.calling_tsap(), Some(0x0100));
    assert_eq!(c.called_tsap(), Some(0x0102));
    assert_eq!(c.tpdu_size_code(), Some(0x0a));
    let req = SafeRequest::S7(S7Safe::Connect(CotpConnect {
        src_ref: 0x000f,
        calling_tsap: 0x0100,
        called_tsap: 0x0102,
        tpdu_size_code: 0x0a,
    }));
    assert_eq!(safety::emit(&req).unwrap(), hex(CR_STEP7));
    assert_eq!(req.encoded_len(), hex(CR_STEP7).len());
}

#[test]
fn cotp_cc_golden() {
    let f = round_trip(CC_IM151);
    let Cotp::ConnectConfirm(c) = &f.cotp else {
        panic!("not a CC")
    };
    assert_eq!((c.dst_ref, c.src_ref), (0x000f, 0x0003));
    assert_eq!(c.calling_tsap(), Some(0x0100));
    assert_eq!(c.called_tsap(), Some(0x0102));
    assert_eq!(c.tpdu_size_code(), Some(0x0a));
    assert_eq!(s7::classify(&f).name, "cotp.connect_confirm");
}

#[test]
fn snap7_cr_decodes_with_other_parameter_order() {
    // otscout sends STEP 7's order (c1 c2 c0); Snap7's order is accepted by the decoder
    // and by the guard, but otscout's own encoding differs in parameter order only.
    let f = round_trip(CR_SNAP7);
    let Cotp::ConnectRequest(c) = &f.cotp else {
        panic!("not a CR")
    };
    assert_eq!(c.calling_tsap(), Some(0x0100));
    assert_eq!(c.called_tsap(), Some(0x0101));
    assert_eq!(
        safety::check(Protocol::S7, &hex(CR_SNAP7)),
        Ok("cotp.connect")
    );
}

#[test]
fn setup_job_golden_and_safe_request() {
    let f = round_trip(SETUP_JOB);
    let p = f.s7().expect("s7 pdu");
    assert_eq!(p.rosctr, Rosctr::Job);
    assert_eq!(p.pdu_ref, 0x0200);
    let Body::Setup(s) = p.body else {
        panic!("not setup")
    };
    assert_eq!(
        (s.max_amq_calling, s.max_amq_called, s.pdu_length),
        (1, 1, 480)
    );
    let req = SafeRequest::S7(S7Safe::Setup(S7SetupCommunication {
        pdu_ref: 0x0200,
        max_amq_calling: 1,
        max_amq_called: 1,
        pdu_length: 480,
    }));
    assert_eq!(safety::emit(&req).unwrap(), hex(SETUP_JOB));
}

#[test]
fn setup_ack_golden() {
    let f = round_trip(SETUP_ACK);
    let p = f.s7().unwrap();
    assert_eq!(p.rosctr, Rosctr::AckData);
    assert_eq!(p.error.map(|e| (e.class, e.code)), Some((0, 0)));
    let Body::Setup(s) = p.body else {
        panic!("not setup")
    };
    assert_eq!(s.pdu_length, 240);
}

#[test]
fn read_szl_request_golden_and_safe_request() {
    let f = round_trip(SZL_1C_REQ);
    let p = f.s7().unwrap();
    let Body::Userdata(u) = &p.body else {
        panic!("not userdata")
    };
    assert_eq!(u.group, FunctionGroup::Cpu);
    assert_eq!(u.szl_request(), Some((0x001c, 0)));
    let req = SafeRequest::S7(S7Safe::ReadSzl(S7ReadSzl {
        pdu_ref: 0x1400,
        szl_id: 0x001c,
        szl_index: 0,
    }));
    assert_eq!(safety::emit(&req).unwrap(), hex(SZL_1C_REQ));
    assert_eq!(s7::classify(&f).name, "s7.read_szl");
    assert_eq!(s7::classify(&f).access, Access::Read);
}

#[test]
fn read_szl_follow_up_golden_and_safe_request() {
    let f = round_trip(SZL_FOLLOW_UP);
    let req = SafeRequest::S7(S7Safe::ReadSzlFollowUp(S7ReadSzlFollowUp {
        pdu_ref: 0x1500,
        sequence_number: 2,
    }));
    assert_eq!(safety::emit(&req).unwrap(), hex(SZL_FOLLOW_UP));
    assert_eq!(s7::classify(&f).name, "s7.read_szl_follow_up");
}

#[test]
fn szl_error_answer_golden() {
    let f = round_trip(SZL_ERROR);
    let r = f.s7().unwrap().szl_response().expect("szl response");
    assert_eq!(r.error_code, 0xd402);
    assert_eq!(r.return_code, 0x0a);
    assert!(!r.more_follows);
    assert!(r.value.is_empty());
}

#[test]
fn empty_dt_golden() {
    let f = round_trip(EMPTY_DT);
    let Cotp::Data(d) = &f.cotp else {
        panic!("not DT")
    };
    assert_eq!((d.tpdu_nr, d.eot), (0, false));
    assert_eq!(d.payload, Payload::Empty);
}

#[test]
fn write_var_golden_is_classified_as_write() {
    let f = round_trip(WRITE_VAR);
    let p = f.s7().unwrap();
    assert_eq!(p.function(), Some(Function::WriteVar));
    let c = s7::classify(&f);
    assert_eq!(
        (c.name, c.access, c.request),
        ("s7.write_var", Access::Write, true)
    );
    assert!(s7_passive::operation_kind(c.access).is_some());
}

#[test]
fn disconnect_encodes_as_documented() {
    let req = SafeRequest::S7(S7Safe::Disconnect(CotpDisconnect {
        dst_ref: 0x0003,
        src_ref: 0x000f,
    }));
    let bytes = safety::emit(&req).unwrap();
    assert_eq!(bytes, hex("0300 000b  06 80 0003 000f 80"));
    let f = round_trip("0300 000b  06 80 0003 000f 80");
    assert_eq!(s7::classify(&f).name, "cotp.disconnect");
}

#[test]
fn s7comm_plus_is_recognised_not_decoded() {
    // An S7comm-plus connection start as an S7-1500 answers on port 102 (shape only:
    // protocol id 0x72, version 1, length, opcode 0x32).
    let bytes = hex("0300 0014  02 f0 80  72 01 0004 32 0000 0000 7200 0000");
    let n = s7::frame_len(&bytes).unwrap().unwrap();
    let f = Frame::decode_exact(&bytes[..n]).unwrap();
    let Cotp::Data(d) = &f.cotp else {
        panic!("not DT")
    };
    assert!(matches!(d.payload, Payload::S7Plus(_)));
    assert_eq!(s7::classify(&f).name, "s7plus");
    assert!(safety::check(Protocol::S7, &bytes).is_err());
}

#[test]
fn frame_len_framing() {
    let b = hex(SETUP_JOB);
    for cut in 0..b.len() {
        assert_eq!(s7::frame_len(&b[..cut]), Ok(None), "cut at {cut}");
    }
    let mut two = b.clone();
    two.extend_from_slice(&b);
    assert_eq!(s7::frame_len(&two), Ok(Some(b.len())));
    assert!(matches!(
        s7::frame_len(&hex("0400 0019")),
        Err(DecodeError::Invalid {
            field: "tpkt.version",
            ..
        })
    ));
    assert!(matches!(
        s7::frame_len(&hex("0300 0003")),
        Err(DecodeError::Invalid {
            field: "tpkt.length",
            ..
        })
    ));
}

#[test]
fn szl_list_and_reassembly_limits() {
    let mut r = SzlReassembler::new();
    for _ in 0..s7::MAX_SZL_PIECES {
        assert_eq!(r.push(&[0u8; 4], true), Ok(None));
    }
    assert!(r.push(&[0u8; 4], false).is_err());
    // A record count that promises more than is there.
    let mut c = Cursor::framed(&[0, 0x11, 0, 0, 0, 28, 0, 4, 1, 2]);
    assert!(SzlList::decode(&mut c).is_err());
    // A record count above the cap.
    let mut c = Cursor::framed(&[0, 0x11, 0, 0, 0, 1, 0xff, 0xff]);
    assert!(matches!(
        SzlList::decode(&mut c),
        Err(DecodeError::TooLarge { .. })
    ));
}

// --- real captures -------------------------------------------------------------------

fn pdu_of(payload: &[u8]) -> Frame {
    let n = s7::frame_len(payload)
        .expect("valid tpkt")
        .expect("whole frame");
    assert_eq!(n, payload.len(), "one tpkt per segment in these captures");
    Frame::decode_exact(payload).expect("frame decodes")
}

#[test]
fn capture_plc_status_identity_fragmented() {
    let Some(dir) = support::captures_dir("capture_plc_status_identity_fragmented") else {
        return;
    };
    // COTP CR/CC and setup, frames 8-11, match the goldens above.
    assert_eq!(support::payload(&dir, PLC_STATUS, 8), hex(CR_STEP7));
    assert_eq!(support::payload(&dir, PLC_STATUS, 9), hex(CC_IM151));
    assert_eq!(support::payload(&dir, PLC_STATUS, 10), hex(SETUP_JOB));
    assert_eq!(support::payload(&dir, PLC_STATUS, 11), hex(SETUP_ACK));
    assert_eq!(support::payload(&dir, PLC_STATUS, 67), hex(SZL_1C_REQ));
    assert_eq!(support::payload(&dir, PLC_STATUS, 71), hex(SZL_FOLLOW_UP));

    // SZL 0x0011: request 58, answer 59, four records.
    let req = pdu_of(&support::payload(&dir, PLC_STATUS, 58));
    let Body::Userdata(u) = &req.s7().unwrap().body else {
        panic!("frame 58 not userdata")
    };
    assert_eq!(u.szl_request(), Some((0x0011, 0)));
    let mine = safety::emit(&SafeRequest::S7(S7Safe::ReadSzl(S7ReadSzl {
        pdu_ref: req.s7().unwrap().pdu_ref,
        szl_id: 0x0011,
        szl_index: 0,
    })))
    .unwrap();
    assert_eq!(mine, support::payload(&dir, PLC_STATUS, 58));

    let ans = pdu_of(&support::payload(&dir, PLC_STATUS, 59));
    let r = ans.s7().unwrap().szl_response().unwrap();
    assert!(!r.more_follows);
    let module = SzlReassembler::new().push(r.value, false).unwrap().unwrap();
    assert_eq!((module.szl_id, module.index), (0x0011, 0));
    let recs = module.module_records();
    assert_eq!(recs.len(), 4);
    let idx: Vec<u16> = recs.iter().map(|r| r.index).collect();
    assert_eq!(idx, [0x0001, 0x0006, 0x0007, 0x0081]);
    assert_eq!(&recs[0].order_number, b"6ES7 151-8AB01-0AB0 ");
    assert_eq!((recs[0].ausbg, recs[0].ausbe), (3, 1));
    assert_eq!(&recs[1].order_number, b"6ES7 151-8AB01-0AB0 ");
    assert_eq!((recs[1].ausbg, recs[1].ausbe), (3, 1));
    assert_eq!(&recs[2].order_number, &[b' '; 20]);
    assert_eq!((recs[2].ausbg, recs[2].ausbe), (0x5603, 0x0206));
    assert_eq!(&recs[3].order_number[..11], b"Boot Loader");
    assert_eq!((recs[3].ausbg, recs[3].ausbe), (0x4120, 0x0909));

    // SZL 0x001C: 69 (more follows), 71 follow-up, 72 (last).
    let first = pdu_of(&support::payload(&dir, PLC_STATUS, 69));
    let first = first.s7().unwrap().szl_response().unwrap();
    assert!(first.more_follows);
    assert_eq!(first.sequence, 2);
    let follow = pdu_of(&support::payload(&dir, PLC_STATUS, 71));
    let Body::Userdata(fu) = &follow.s7().unwrap().body else {
        panic!("71 not userdata")
    };
    assert_eq!(fu.sequence, first.sequence, "follow-up echoes the sequence");
    assert_eq!(
        fu.data,
        UserdataData::Item(s7::DataItem {
            return_code: 0x0a,
            transport_size: 0,
            value: vec![],
        })
    );
    let last = pdu_of(&support::payload(&dir, PLC_STATUS, 72));
    let last = last.s7().unwrap().szl_response().unwrap();
    assert!(!last.more_follows);

    let mut ra = SzlReassembler::new();
    assert_eq!(ra.push(first.value, true), Ok(None));
    let comp = ra.push(last.value, false).unwrap().unwrap();
    assert_eq!(
        (comp.szl_id, comp.record_len, comp.record_count),
        (0x001c, 34, 10)
    );
    assert_eq!(comp.component_records().len(), 10);

    let id = s7_identity::to_identity(Some(&module), Some(&comp)).expect("identity");
    assert_eq!(id.order_number.as_deref(), Some("6ES7 151-8AB01-0AB0"));
    assert_eq!(
        id.hardware_order_number.as_deref(),
        Some("6ES7 151-8AB01-0AB0")
    );
    assert_eq!(id.firmware.as_deref(), Some("V3.2.6"));
    assert_eq!(id.as_name.as_deref(), Some("IM151-8-CPU"));
    assert_eq!(id.module_name.as_deref(), Some("IM151-8 PN/DP CPU"));
    assert_eq!(id.plant_tag, None);
    assert_eq!(id.copyright.as_deref(), Some("Original Siemens Equipment"));
    assert_eq!(id.serial.as_deref(), Some("S C-C6TW74882012"));
    assert_eq!(id.module_type.as_deref(), Some("IM151-8 PN/DP CPU"));
    assert_eq!(id.memory_card_serial.as_deref(), Some("MMC 2900FC1A"));
    assert_eq!(id.manufacturer_id, Some(0x002a));
    assert_eq!(id.profile_id, Some(0xf600));
    assert_eq!(id.profile_type, Some(0x0001));
    assert_eq!(id.oem_id, None);
    assert_eq!(id.location, None);
    assert_ne!(
        id.boot_loader, id.firmware,
        "firmware is not the boot loader"
    );
}

#[test]
fn capture_s7ident_snap7_unfragmented() {
    let Some(dir) = support::captures_dir("capture_s7ident_snap7_unfragmented") else {
        return;
    };
    let cr = pdu_of(&support::payload(&dir, S7IDENT, 4));
    let Cotp::ConnectRequest(c) = &cr.cotp else {
        panic!("frame 4 not CR")
    };
    assert_eq!(
        (c.calling_tsap(), c.called_tsap()),
        (Some(0x0100), Some(0x0101))
    );
    let cc = pdu_of(&support::payload(&dir, S7IDENT, 6));
    assert!(matches!(cc.cotp, Cotp::ConnectConfirm(_)));
    let setup = pdu_of(&support::payload(&dir, S7IDENT, 8));
    let Body::Setup(s) = setup.s7().unwrap().body else {
        panic!("frame 8 not setup")
    };
    assert_eq!(s.pdu_length, 480);
    let mine = safety::emit(&SafeRequest::S7(S7Safe::Setup(S7SetupCommunication {
        pdu_ref: 0,
        max_amq_calling: 1,
        max_amq_called: 1,
        pdu_length: 480,
    })))
    .unwrap();
    assert_eq!(mine, support::payload(&dir, S7IDENT, 8));

    let module = pdu_of(&support::payload(&dir, S7IDENT, 11));
    let module = module.s7().unwrap().szl_response().unwrap();
    let module = SzlReassembler::new()
        .push(module.value, false)
        .unwrap()
        .unwrap();
    let comp = pdu_of(&support::payload(&dir, S7IDENT, 13));
    let comp = comp.s7().unwrap().szl_response().unwrap();
    assert!(!comp.more_follows, "unfragmented at PDU 480");
    let value = comp.value.to_vec();
    let comp = SzlReassembler::new().push(&value, false).unwrap().unwrap();
    // The SZL list encodes back to the answer's data value, byte for byte.
    assert_eq!(
        (comp.szl_id, comp.record_len, comp.record_count),
        (0x001c, 34, 10)
    );
    let mut again = Vec::new();
    comp.encode(&mut again);
    assert_eq!(again, value);
    assert_eq!(comp.encoded_len(), value.len());
    let id = s7_identity::to_identity(Some(&module), Some(&comp)).unwrap();
    assert_eq!(id.order_number.as_deref(), Some("6ES7 315-2EH14-0AB0"));
    assert_eq!(id.firmware.as_deref(), Some("V3.2.6"));
    assert_eq!(id.as_name.as_deref(), Some("SNAP7-SERVER"));
    assert_eq!(id.module_name.as_deref(), Some("CPU 315-2 PN/DP"));
    assert_eq!(id.serial.as_deref(), Some("S C-C2UR28922012"));
    assert_eq!(id.module_type.as_deref(), Some("CPU 315-2 PN/DP"));
    assert_eq!(id.memory_card_serial.as_deref(), Some("MMC 267FF11F"));

    // Every TPKT in the file decodes (including Snap7's upload and read-var jobs).
    for f in support::frames(&dir, S7IDENT) {
        if f.payload.is_empty() {
            continue;
        }
        Frame::decode_exact(&f.payload).unwrap_or_else(|e| panic!("frame {}: {e}", f.number));
    }
}

#[test]
fn capture_varservice_yields_no_identity_and_names_writes() {
    let Some(dir) = support::captures_dir("capture_varservice_yields_no_identity") else {
        return;
    };
    // INDEX.md's "8 write-var and 6 read-var" counts PDUs both ways (tshark 4.0: 4 write
    // jobs + 4 ack_data, 3 read jobs + 3 ack_data).
    let (mut writes, mut reads, mut write_pdus, mut read_pdus) = (0, 0, 0, 0);
    for f in support::frames(&dir, VARSERVICE) {
        if f.payload.is_empty() {
            continue;
        }
        let frame =
            Frame::decode_exact(&f.payload).unwrap_or_else(|e| panic!("frame {}: {e}", f.number));
        let c = s7::classify(&frame);
        write_pdus += usize::from(c.name == "s7.write_var");
        read_pdus += usize::from(c.name == "s7.read_var");
        if c.request && c.name == "s7.write_var" {
            assert_eq!(c.access, Access::Write);
            writes += 1;
        }
        if c.request && c.name == "s7.read_var" {
            assert_eq!(c.access, Access::Read);
            reads += 1;
        }
        if let Some(p) = frame.s7() {
            assert!(
                p.szl_response().is_none(),
                "frame {} is no SZL answer",
                f.number
            );
        }
        // Nothing in this file is a request otscout would send, except COTP/setup.
        let guard = safety::check(Protocol::S7, &f.payload);
        if c.name == "s7.write_var" || c.name == "s7.read_var" {
            assert!(guard.is_err(), "frame {} passed the guard", f.number);
        }
    }
    assert_eq!((writes, reads), (4, 3));
    assert_eq!((write_pdus, read_pdus), (8, 6));
}

// --- guard ---------------------------------------------------------------------------

fn refused(bytes: &[u8]) -> GuardError {
    safety::check(Protocol::S7, bytes).expect_err("guard must refuse")
}

/// A job with the given function code and a short parameter block.
fn job(function: u8) -> Vec<u8> {
    let mut f = hex("0300 0019  02 f0 80  32 01 0000 0100 0008 0000  f0 00 0001 0001 01e0");
    f[17] = function;
    f
}

#[test]
fn guard_refuses_every_job_but_setup() {
    for func in 0u8..=0xFF {
        if func == 0xF0 {
            continue;
        }
        refused(&job(func));
    }
    for func in [0x04, 0x05, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x28, 0x29] {
        assert!(matches!(refused(&job(func)), GuardError::NotAllowed { .. }));
    }
    // Real jobs from captures: write var, upload start, PLC stop and PI shapes.
    refused(&hex(WRITE_VAR));
    refused(&hex(
        "0300 0021  02 f0 80  32 01 0000 0001 0010 0000  29 0000000000 09 505f50524f4752414d",
    ));
}

fn userdata(kind_group: u8, sub: u8) -> Vec<u8> {
    let mut f = hex(SZL_1C_REQ);
    f[22] = kind_group;
    f[23] = sub;
    f
}

#[test]
fn guard_refuses_every_userdata_but_read_szl() {
    for tg in 0u8..=0xFF {
        for sub in 0u8..=0xFF {
            let f = userdata(tg, sub);
            let ok = tg == 0x44 && sub == 0x01;
            assert_eq!(
                safety::check(Protocol::S7, &f).is_ok(),
                ok,
                "{tg:#x} {sub:#x}"
            );
        }
    }
    // Security group (password) 0x45, time functions 0x47, block functions 0x43.
    for tg in [0x45, 0x47, 0x43, 0x41, 0x40, 0x84] {
        refused(&userdata(tg, 0x01));
    }
}

#[test]
fn guard_refuses_acks_plus_cotp_types_and_malformed() {
    refused(&hex(SETUP_ACK));
    refused(&hex(SZL_ERROR));
    refused(&hex(CC_IM151));
    refused(&hex(EMPTY_DT));
    refused(&hex(
        "0300 0014  02 f0 80  72 01 0004 32 0000 0000 7200 0000",
    ));
    // COTP types other than CR/DT/DR: DC, ED, AK, ER, EA, RJ.
    for code in [0xC0u8, 0x10, 0x60, 0x70, 0x20, 0x50] {
        refused(&[0x03, 0x00, 0x00, 0x0b, 0x06, code, 0, 1, 0, 2, 0]);
    }
    // TPKT version != 3, reserved != 0.
    let mut b = hex(SETUP_JOB);
    b[0] = 2;
    assert!(matches!(refused(&b), GuardError::Malformed { .. }));
    let mut b = hex(SETUP_JOB);
    b[1] = 1;
    refused(&b);
    // Length mismatches, trailing bytes and partial frames.
    let good = hex(SZL_1C_REQ);
    for cut in 0..good.len() {
        refused(&good[..cut]);
    }
    let mut b = good.clone();
    b.push(0);
    refused(&b);
    let mut b = good.clone();
    b[3] += 1;
    refused(&b);
    let mut b = good.clone();
    b[14] += 1; // s7 param length
    refused(&b);
    let mut b = good.clone();
    b[16] += 1; // s7 data length
    refused(&b);
    let mut b = good.clone();
    b[28] = 0x05; // data item length
    refused(&b);
    // CR with an extra parameter or without the TPDU size.
    refused(&hex(
        "0300 0019  14 e0 0000 000f 00  c1 02 0100  c2 02 0102  c0 01 0a  c3 01 00",
    ));
    refused(&hex(
        "0300 0013  0e e0 0000 000f 00  c1 02 0100  c2 02 0102",
    ));
    // CR with user data after the header.
    refused(&hex(
        "0300 0017  11 e0 0000 000f 00  c1 02 0100  c2 02 0102  c0 01 0a  00",
    ));
    // Follow-up with sequence 0 and a first request with a sequence number.
    let mut b = hex(SZL_FOLLOW_UP);
    b[24] = 0;
    refused(&b);
    let mut b = hex(SZL_1C_REQ);
    b[24] = 3;
    refused(&b);
    // A second frame glued to the first.
    let mut two = hex(SETUP_JOB);
    two.extend_from_slice(&hex(SETUP_JOB));
    refused(&two);
}

#[test]
fn guard_accepts_every_s7_safe_request() {
    let reqs = [
        SafeRequest::S7(S7Safe::Connect(CotpConnect {
            src_ref: 1,
            calling_tsap: 0x0100,
            called_tsap: 0x0301,
            tpdu_size_code: 0x0a,
        })),
        SafeRequest::S7(S7Safe::Setup(S7SetupCommunication {
            pdu_ref: 7,
            max_amq_calling: 1,
            max_amq_called: 1,
            pdu_length: 960,
        })),
        SafeRequest::S7(S7Safe::ReadSzl(S7ReadSzl {
            pdu_ref: 8,
            szl_id: 0x0011,
            szl_index: 0,
        })),
        SafeRequest::S7(S7Safe::ReadSzlFollowUp(S7ReadSzlFollowUp {
            pdu_ref: 9,
            sequence_number: 4,
        })),
        SafeRequest::S7(S7Safe::Disconnect(CotpDisconnect {
            dst_ref: 3,
            src_ref: 1,
        })),
    ];
    for r in reqs {
        let bytes = safety::emit(&r).unwrap_or_else(|e| panic!("{r:?}: {e}"));
        assert_eq!(safety::check(Protocol::S7, &bytes), Ok(r.kind()));
        assert_eq!(bytes.len(), r.encoded_len());
    }
}

// --- properties ----------------------------------------------------------------------

fn arb_cotp_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        Just(Payload::Empty),
        arb_pdu().prop_map(|p| Payload::S7(Box::new(p))),
        proptest::collection::vec(any::<u8>(), 1..40).prop_map(|mut v| {
            v[0] = s7::S7PLUS_PROTOCOL_ID;
            Payload::S7Plus(v)
        }),
    ]
}

fn arb_pdu() -> impl Strategy<Value = s7::S7Pdu> {
    let setup = (
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
        any::<bool>(),
    )
        .prop_map(|(pdu_ref, a, b, len, job)| s7::S7Pdu {
            rosctr: if job { Rosctr::Job } else { Rosctr::AckData },
            reserved: 0,
            pdu_ref,
            error: (!job).then_some(s7::HeaderError { class: 0, code: 0 }),
            body: Body::Setup(s7::SetupCommunication {
                reserved: 0,
                max_amq_calling: a,
                max_amq_called: b,
                pdu_length: len,
            }),
        });
    let ud = (
        any::<u16>(),
        prop_oneof![Just(0x11u8), Just(0x12u8)],
        prop_oneof![Just(0u8), Just(4u8), Just(8u8)],
        0u8..16,
        any::<u8>(),
        any::<u8>(),
        proptest::option::of((any::<u8>(), any::<u8>(), any::<u16>())),
        proptest::option::of((
            any::<u8>(),
            6u8..=0xFF,
            proptest::collection::vec(any::<u8>(), 0..64),
        )),
    )
        .prop_map(
            |(pdu_ref, method, kind, group, sub, seq, cont, item)| s7::S7Pdu {
                rosctr: Rosctr::Userdata,
                reserved: 0,
                pdu_ref,
                error: None,
                body: Body::Userdata(s7::Userdata {
                    method,
                    kind,
                    group: FunctionGroup::from_nibble(group),
                    subfunction: sub,
                    sequence: seq,
                    continuation: cont.map(|(d, l, e)| s7::Continuation {
                        data_unit_ref: d,
                        last_data_unit: l,
                        error_code: e,
                    }),
                    data: match item {
                        None => UserdataData::None,
                        Some((rc, ts, value)) => UserdataData::Item(s7::DataItem {
                            return_code: rc,
                            transport_size: ts,
                            value,
                        }),
                    },
                }),
            },
        );
    let raw_job = (
        any::<u16>(),
        0u8..0xF0,
        proptest::collection::vec(any::<u8>(), 0..20),
    )
        .prop_map(|(pdu_ref, func, data)| s7::S7Pdu {
            rosctr: Rosctr::Job,
            reserved: 0,
            pdu_ref,
            error: None,
            body: Body::Raw {
                params: vec![func, 0, 1],
                data,
            },
        });
    prop_oneof![setup, ud, raw_job]
}

fn arb_frame() -> impl Strategy<Value = Frame> {
    let conn = (
        any::<bool>(),
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
        0x07u8..=0x0d,
    )
        .prop_map(|(cr, dst, src, calling, called, size)| {
            let c = s7::CotpConnection {
                credit: 0,
                dst_ref: dst,
                src_ref: src,
                class_option: 0,
                params: vec![
                    s7::CotpParam::tsap(s7::PARAM_CALLING_TSAP, calling),
                    s7::CotpParam::tsap(s7::PARAM_CALLED_TSAP, called),
                    s7::CotpParam {
                        code: s7::PARAM_TPDU_SIZE,
                        value: vec![size],
                    },
                ],
                user_data: vec![],
            };
            Frame::new(if cr {
                Cotp::ConnectRequest(c)
            } else {
                Cotp::ConnectConfirm(c)
            })
        });
    let dr = (any::<u16>(), any::<u16>(), any::<u8>()).prop_map(|(d, s, reason)| {
        Frame::new(Cotp::DisconnectRequest(s7::CotpDisconnect {
            dst_ref: d,
            src_ref: s,
            reason,
            params: vec![],
            user_data: vec![],
        }))
    });
    let data = (0u8..0x80, arb_cotp_payload()).prop_map(|(nr, payload)| {
        Frame::new(Cotp::Data(s7::CotpData {
            tpdu_nr: nr,
            eot: payload != Payload::Empty,
            payload,
        }))
    });
    prop_oneof![conn, dr, data]
}

fn arb_safe_request() -> impl Strategy<Value = SafeRequest> {
    prop_oneof![
        (any::<u16>(), any::<u16>(), any::<u16>(), 0x07u8..=0x0d).prop_map(|(s, a, b, t)| {
            SafeRequest::S7(S7Safe::Connect(CotpConnect {
                src_ref: s,
                calling_tsap: a,
                called_tsap: b,
                tpdu_size_code: t,
            }))
        }),
        (any::<u16>(), 1u16.., 1u16.., 1u16..).prop_map(|(r, a, b, l)| {
            SafeRequest::S7(S7Safe::Setup(S7SetupCommunication {
                pdu_ref: r,
                max_amq_calling: a,
                max_amq_called: b,
                pdu_length: l,
            }))
        }),
        (any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(r, id, ix)| {
            SafeRequest::S7(S7Safe::ReadSzl(S7ReadSzl {
                pdu_ref: r,
                szl_id: id,
                szl_index: ix,
            }))
        }),
        (any::<u16>(), 1u8..).prop_map(|(r, s)| SafeRequest::S7(S7Safe::ReadSzlFollowUp(
            S7ReadSzlFollowUp {
                pdu_ref: r,
                sequence_number: s,
            }
        ))),
        (any::<u16>(), any::<u16>()).prop_map(|(d, s)| SafeRequest::S7(S7Safe::Disconnect(
            CotpDisconnect {
                dst_ref: d,
                src_ref: s,
            }
        ))),
    ]
}

/// Every decoder entry point on arbitrary bytes (shared with the long #[ignore] run).
fn poke_all(bytes: &[u8]) {
    let _ = s7::frame_len(bytes);
    let _ = Frame::decode(&mut Cursor::new(bytes));
    if let Ok(f) = Frame::decode_exact(bytes) {
        let _ = s7::classify(&f);
        let _ = f.anomalies();
        if let Some(p) = f.s7() {
            let _ = p.szl_response();
        }
    }
    let _ = Frame::decode(&mut Cursor::framed(bytes));
    let _ = s7::S7Pdu::decode(&mut Cursor::framed(bytes));
    if let Ok(l) = SzlList::decode(&mut Cursor::framed(bytes)) {
        let _ = s7_identity::to_identity(Some(&l), Some(&l));
    }
    let mut ra = SzlReassembler::new();
    let _ = ra.push(bytes, bytes.first().is_some_and(|b| b & 1 == 1));
    let _ = safety::check(Protocol::S7, bytes);
}

/// The probe session fed arbitrary answers in input-sized chunks: never panics, and every
/// request it asks for passes the guard (the `s7_session` fuzz target's body).
fn drive_session(data: &[u8]) {
    use otscout::probe::{Session, Step};
    use otscout::protocols::s7::session::{S7Session, S7SessionConfig};
    use std::time::{Duration, Instant};

    let cfg = S7SessionConfig {
        port: 102,
        tsaps: vec![0x0102, 0x0101],
        local_tsap: 0x0100,
        szl_ids: vec![0x0011, 0x001c],
        pdu_length: 480,
        response_timeout: Duration::from_secs(1),
        disconnect_wait: Duration::from_millis(100),
        max_szl_pieces: 8,
        cotp_src_ref: 1,
        first_pdu_ref: 1,
    };
    let mut s = S7Session::new(cfg);
    let now = Instant::now();
    let mut step = s.on_connected(now);
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        if let Step::Send(r) = &step {
            safety::emit(r).expect("the session only asks for allowlisted requests");
        }
        if step == Step::Done {
            break;
        }
        if step == Step::Reconnect {
            step = s.on_connected(now);
            continue;
        }
        let n = usize::from(n).min(tail.len());
        step = s.on_bytes(now, &tail[..n]);
        rest = &tail[n..];
    }
    let _ = s.on_timeout(now + Duration::from_secs(5));
    let _ = s.take_findings();
}

/// Arbitrary bytes, and arbitrary bytes behind a valid-looking TPKT+COTP DT+S7 head.
fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|tail| {
            let mut v = vec![0x03, 0x00, 0, 0, 0x02, 0xf0, 0x80, 0x32];
            v.extend_from_slice(&tail);
            let n = v.len() as u16;
            v[2..4].copy_from_slice(&n.to_be_bytes());
            v
        }),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in arb_bytes()) {
        poke_all(&bytes);
    }

    #[test]
    fn session_survives_arbitrary_answers(bytes in arb_bytes()) {
        drive_session(&bytes);
    }

    #[test]
    fn frames_round_trip(f in arb_frame()) {
        let bytes = encode(&f);
        prop_assert_eq!(Frame::decode_exact(&bytes), Ok(f.clone()));
        prop_assert_eq!(s7::frame_len(&bytes), Ok(Some(bytes.len())));
    }

    #[test]
    fn cut_frames_need_more_then_decode(f in arb_frame()) {
        let bytes = encode(&f);
        for cut in 0..bytes.len() {
            prop_assert_eq!(s7::frame_len(&bytes[..cut]), Ok(None));
            let e = Frame::decode(&mut Cursor::new(&bytes[..cut])).unwrap_err();
            prop_assert!(e.is_incomplete(), "cut {} gave {:?}", cut, e);
        }
        prop_assert_eq!(Frame::decode(&mut Cursor::new(&bytes)), Ok(f));
    }

    #[test]
    fn every_safe_request_passes_the_guard(r in arb_safe_request()) {
        let bytes = safety::emit(&r).unwrap();
        prop_assert_eq!(safety::check(Protocol::S7, &bytes), Ok(r.kind()));
        let f = Frame::decode_exact(&bytes).unwrap();
        prop_assert_eq!(encode(&f), bytes);
    }

    #[test]
    fn szl_lists_round_trip(id in any::<u16>(), ix in any::<u16>(), len in 1u16..40, n in 0u16..20, fill in any::<u8>()) {
        let l = SzlList {
            szl_id: id, index: ix, record_len: len, record_count: n,
            records: vec![fill; usize::from(len) * usize::from(n)],
        };
        let mut b = Vec::new();
        l.encode(&mut b);
        prop_assert_eq!(b.len(), l.encoded_len());
        // Split into pieces anywhere: reassembly gives the same list.
        let mid = b.len() / 2;
        let mut ra = SzlReassembler::new();
        prop_assert_eq!(ra.push(&b[..mid], true), Ok(None));
        prop_assert_eq!(ra.push(&b[mid..], false), Ok(Some(l)));
    }
}

/// The fuzz targets' entry points under proptest for much longer (no nightly toolchain
/// for cargo-fuzz here). Run: `cargo test --test it s7::long_ -- --ignored`.
#[test]
#[ignore]
fn long_arbitrary_bytes_never_panic() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 1_000_000,
        ..ProptestConfig::default()
    });
    runner
        .run(&arb_bytes(), |b| {
            poke_all(&b);
            drive_session(&b);
            Ok(())
        })
        .unwrap();
}
