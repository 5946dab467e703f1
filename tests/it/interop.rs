//! Interop with independent, third-party protocol servers: `otscout scan` must identify
//! them with the right fields, send only allowlisted requests, hold one connection per
//! device at a time and close each with a FIN.
//!
//! Servers (versions pinned in .ci/run):
//! - pymodbus 3.16.1: a Modbus/TCP server with basic, regular and private objects, and a
//!   gateway-like setup with units 1-3 behind it (unknown units get pymodbus's own 0x0B
//!   exception, or silence);
//! - python-snap7 3.3.0 (its own pure-Python S7 server, which deviates from real CPUs) and
//!   2.1.0 (which wraps the native Snap7 server, the emulator behind `s7ident.pcap`);
//! - s7commplus 0.3.0: an S7-1200/1500 emulator that speaks only S7comm-plus;
//! - cpppo 5.2.5: `python3 -m cpppo.server.enip`, over TCP and UDP, and as an adapter
//!   routing one backplane slot (`--route-path`) for the backplane enumeration;
//! - libmodbus (Debian's libmodbus-dev, 3.1.6 on bookworm): a C server built here with `cc`,
//!   whose `modbus_reply()` has no device identification, like many devices built on it.
//!
//! The helper scripts in tests/interop/ only configure those servers and log what arrives.
//! Every TCP scan goes through a [`Tap`]: a loopback proxy here that records each connection
//! (overlap, the bytes otscout sent, how otscout closed it). Each frame otscout sent is
//! checked by otscout's guard and by independent byte checks written here.
//!
//! The servers run when `python3` (or `OTSCOUT_PYTHON`) can import them (libmodbus: when
//! `pkg-config` finds it and `cc` builds the server); otherwise each
//! test says it skipped, unless `OTSCOUT_REQUIRE_TOOLS=1` (CI), where a missing server
//! fails. The native Snap7 server is python-snap7 2.x installed with `pip --target` into the
//! directory named by `OTSCOUT_SNAP7_NATIVE` (default: `snap7-native` in python3's venv, as
//! .ci/run lays it out), beside 3.x. To run them by hand:
//!
//! ```text
//! python3 -m venv /tmp/v && /tmp/v/bin/pip install pymodbus==3.16.1 python-snap7==3.3.0 cpppo==5.2.5
//! /tmp/v/bin/pip install --target /tmp/v/snap7-native python-snap7==2.1.0
//! PATH=/tmp/v/bin:$PATH cargo test --test it interop::
//! ```
//!
//! Two differential tests run nmap's s7-info and enip-info (independent clients) against a
//! third-party server and against the simulator's model of it: the outputs must match, so
//! the simulators look like the real thing (s7-info needs port 102, hence root).
//!
//! The `golden_*` tests always run: they hold the exact bytes these servers sent that made
//! otscout fail before its fixes (found with this harness, recorded with tshark on lo).
//!
//! Addresses: 127.91.<test>.<n>, ports found by binding port 0 and releasing it.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use otscout::inventory::{Fact, Identity, Protocol};
use otscout::probe::{ConnectionLoss, Session, Step};
use otscout::protocols::modbus::session::{ModbusSession, ModbusSessionConfig};
use otscout::protocols::s7::identity::to_identity;
use otscout::protocols::s7::session::{S7Session, S7SessionConfig};
use otscout::protocols::{modbus, s7};
use otscout::safety::{self, ReadDeviceIdCode, SafeRequest};
use otscout::wire::enip::{Frame as EnipFrame, ItemType, SERVICE_NAME_LEN, ServiceItem};
use otscout::wire::modbus::{Response, ResponseAdu};
use otscout::wire::s7::{Frame as S7Frame, SzlList};
use otscout::wire::{Cursor, DecodeError};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::hex;

// ---------------------------------------------------------------------------------------
// Golden vectors: the exact bytes third-party servers sent

// cpppo 5.2.5 `python3 -m cpppo.server.enip` on 127.41.0.7, List Services reply over TCP
// (tshark on lo): one item of 19 bytes, the name `Communications` and one NUL: 15 bytes
// where the spec has 16. Wireshark 4.0 calls it malformed; otscout 0.1.0 reported "bad list
// services item".
const CPPPO_SERVICES_REPLY: &str = "0400 1900 00000000 00000000 6f7473636f750100 00000000
    0100 0001 1300 0100 2000 436f6d6d756e69636174696f6e7300";

// python-snap7 3.3.0's pure-Python server (`snap7.server.Server().start_to(...)`) on
// 127.41.0.5, answering otscout's COTP CR (TSAP 0x0102), Setup Communication (PDU 480) and
// Read SZL 0x0011 / 0x001C (tshark on lo).
const SNAP7PY_CC: &str = "0300 0016 11 d0 0001 0001 00 c0010a c1020100 c2020102";
const SNAP7PY_SETUP_ACK: &str =
    "0300 001b 02f080 32 03 0000 0001 0008 0000 0000 f0 00 0001 0001 01e0";
// SZL 0x0011: one record of 26 bytes (LENTHDR 0x001a) where the layout has 28: index
// 0x0001, the order number `6ES7 315-2EH14-0AB0`, then 4 bytes (00 03 03 00) of no
// published layout. Wireshark 4.0 calls it malformed; otscout 0.1.0 dropped the order
// number without a word.
const SNAP7PY_SZL_0011: &str = "0300 0043 02f080 32 07 0000 0002 000c 0026
    000112 08 12 84 01 00 00 00 0000
    ff 09 0022 0011 0000 001a 0001
    0001 36455337203331352d32454831342d3041423000 00030300";
// SZL 0x001C: LENTHDR 0 and N_DR 0, then 206 bytes holding the strings at fixed offsets:
// not an SZL list; otscout reports it as suspicious.
const SNAP7PY_SZL_001C: &str = "0300 00f7 02f080 32 07 0000 0003 000c 00da
    000112 08 12 84 01 00 00 00 0000
    ff 09 00d6 001c 0000 0000 0000
    0000534e4150372d5345525645520000000000000000000000000000000000000000000043505520
    3331352d3220504e2f44500000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000004f726967696e616c205369656d656e73
    2045717569706d656e7400000000000000005320432d433255523238393232303132000000000000
    000000000000000000000000435055203331352d3220504e2f445000000000000000000000000000
    000000000000";
const SNAP7PY_DC: &str = "0300 000a 05 c0 0001 0001";

// pymodbus 3.16.1 (tests/interop/pymodbus_server.py --units 1,2,3) on 127.41.0.3: units
// 255 and 0 are not behind the gateway, so pymodbus answers its gateway exception 0x0B,
// without the MEI type byte; unit 2 answers read codes 1 and 2.
const PYMODBUS_GW_EXC_255: &str = "0001 0000 0003 ff ab 0b";
const PYMODBUS_GW_EXC_0: &str = "0002 0000 0003 00 ab 0b";
const PYMODBUS_UNIT2_BASIC: &str = "0003 0000 003f 02 2b 0e 01 83 00 00 03
    00 17 506565724c6162204175746f6d6174696f6e20476d6248
    01 0b 504c422d4d422d30353032
    02 0f 76332e31362e312d696e7465726f70";
const PYMODBUS_UNIT2_REGULAR: &str = "0004 0000 009c 02 2b 0e 02 83 00 00 07
    00 17 506565724c6162204175746f6d6174696f6e20476d6248
    01 0b 504c422d4d422d30353032
    02 0f 76332e31362e312d696e7465726f70
    03 1d 687474703a2f2f706565726c61622e696e76616c69642f6d6f64627573
    04 1d 506565724c6162204d6f6462757320496e7465726f7020536572766572
    05 0c 504c422d4d422d5443502d31
    06 0f 6f7473636f757420696e7465726f70";

#[test]
fn golden_cpppo_list_services_with_a_short_name_is_read() {
    let bytes = hex(CPPPO_SERVICES_REPLY);
    let frame = EnipFrame::decode_exact(&bytes).expect("cpppo's list services reply decodes");
    let items = frame.cpf_items();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].type_id, ItemType::ListServices);
    assert_eq!(items[0].data.len(), 19);
    let s = ServiceItem::decode(&mut Cursor::framed(&items[0].data)).expect("lenient name");
    assert_eq!((s.version, s.capability_flags), (1, 0x0020));
    assert_eq!(s.name_str(), "Communications");
    assert_eq!(s.name.len(), 15);
    assert!(s.short_name());
    assert!(s.extra.is_empty());
    // Encoded back, the item and the whole frame are the bytes cpppo sent.
    let mut out = Vec::new();
    s.encode(&mut out);
    assert_eq!(out, items[0].data);
    assert_eq!(s.encoded_len(), out.len());
    let mut whole = Vec::new();
    frame.encode(&mut whole);
    assert_eq!(whole, bytes);
    // A spec-sized name is not flagged; an item cut inside the fixed fields still fails.
    let mut full = items[0].data.clone();
    full.push(0);
    let s = ServiceItem::decode(&mut Cursor::framed(&full)).unwrap();
    assert_eq!((s.name.len(), s.short_name()), (SERVICE_NAME_LEN, false));
    assert!(ServiceItem::decode(&mut Cursor::framed(&items[0].data[..3])).is_err());
}

#[test]
fn golden_frames_round_trip() {
    for (name, h) in [
        ("snap7 cc", SNAP7PY_CC),
        ("snap7 setup ack", SNAP7PY_SETUP_ACK),
        ("snap7 szl 0x0011", SNAP7PY_SZL_0011),
        ("snap7 szl 0x001c", SNAP7PY_SZL_001C),
        ("snap7 dc", SNAP7PY_DC),
    ] {
        let bytes = hex(h);
        let f = S7Frame::decode_exact(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(out, bytes, "{name}");
        assert_eq!(f.encoded_len(), bytes.len(), "{name}");
    }
    for (name, h) in [
        ("exception 255", PYMODBUS_GW_EXC_255),
        ("exception 0", PYMODBUS_GW_EXC_0),
        ("unit 2 basic", PYMODBUS_UNIT2_BASIC),
        ("unit 2 regular", PYMODBUS_UNIT2_REGULAR),
    ] {
        let bytes = hex(h);
        let adu = ResponseAdu::decode(&mut Cursor::framed(&bytes))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut out = Vec::new();
        adu.encode(&mut out);
        assert_eq!(out, bytes, "{name}");
        assert_eq!(adu.encoded_len(), bytes.len(), "{name}");
    }
    // pymodbus's gateway exception: function 0x2B with the exception bit, code 0x0B, and
    // nothing after it.
    let adu = ResponseAdu::decode(&mut Cursor::framed(&hex(PYMODBUS_GW_EXC_255))).unwrap();
    let Response::Exception {
        function,
        code,
        trailing,
    } = adu.pdu
    else {
        panic!("an exception: {adu:?}")
    };
    assert_eq!((function.code(), code.code()), (0x2B, 0x0B));
    assert!(trailing.is_empty());
}

fn szl_list(frame_hex: &str) -> Result<SzlList, DecodeError> {
    let bytes = hex(frame_hex);
    let frame = S7Frame::decode_exact(&bytes).expect("snap7 frame decodes");
    let r = frame
        .s7()
        .and_then(|p| p.szl_response())
        .expect("an szl response");
    SzlList::decode(&mut Cursor::framed(r.value))
}

#[test]
fn golden_snap7_py3_short_szl_0011_records_still_give_the_order_number() {
    let module = szl_list(SNAP7PY_SZL_0011).expect("the 0x0011 list decodes");
    assert_eq!(
        (module.szl_id, module.record_len, module.record_count),
        (0x0011, 26, 1)
    );
    assert!(module.module_records().is_empty(), "not the 28-byte layout");
    assert_eq!(module.nonstandard_record_len(), Some(28));
    assert_eq!(
        module.nonstandard_order_numbers(),
        [(0x0001, "6ES7 315-2EH14-0AB0".to_string())]
    );
    let id = to_identity(Some(&module), None).expect("an identity");
    assert_eq!(id.order_number.as_deref(), Some("6ES7 315-2EH14-0AB0"));
    // The four bytes after the order number follow no published layout: no version.
    assert_eq!((id.firmware, id.boot_loader), (None, None));
    let mut out = Vec::new();
    module.encode(&mut out);
    assert_eq!(module.encoded_len(), out.len());
    assert_eq!(SzlList::decode(&mut Cursor::framed(&out)).unwrap(), module);

    // Its 0x001C answer is no SZL list: records of 0 bytes, then 206 more.
    let err = szl_list(SNAP7PY_SZL_001C).unwrap_err();
    assert!(err.to_string().contains("206"), "{err}");
}

#[test]
fn szl_identity_lists_with_other_record_lengths() {
    let list = |szl_id: u16, record_len: u16, record: &[u8]| SzlList {
        szl_id,
        index: 0,
        record_len,
        record_count: 1,
        records: record.to_vec(),
    };
    let mut rec = vec![0x00, 0x01];
    rec.extend_from_slice(b"6ES7 214-1AG40-0XB0 ");
    // 22 bytes and more: index and order number are read, nothing after them.
    for extra in [0usize, 4, 8] {
        let mut r = rec.clone();
        r.resize(22 + extra, 0x56);
        let len = u16::try_from(r.len()).unwrap();
        let l = list(0x0011, len, &r);
        assert_eq!(
            l.nonstandard_record_len(),
            (len != 28).then_some(28),
            "{len}"
        );
        let id = to_identity(Some(&l), None).expect("an order number");
        assert_eq!(
            id.order_number.as_deref(),
            Some("6ES7 214-1AG40-0XB0"),
            "{len}"
        );
        if len != 28 {
            assert_eq!(id.firmware, None, "{len}");
        }
    }
    // 21 bytes cannot hold the order number: nothing read, and the length is flagged.
    let l = list(0x0011, 21, &rec[..21]);
    assert_eq!(l.nonstandard_record_len(), Some(28));
    assert!(l.nonstandard_order_numbers().is_empty());
    assert_eq!(to_identity(Some(&l), None), None);
    // 0x001C records of another length are flagged and not read; other lists never are.
    let mut rec = vec![0x00, 0x01, b'A', b'S'];
    rec.resize(36, 0);
    let l = list(0x001C, 36, &rec);
    assert_eq!(l.nonstandard_record_len(), Some(34));
    assert_eq!(to_identity(None, Some(&l)), None);
    assert_eq!(list(0x0131, 4, &[0; 4]).nonstandard_record_len(), None);
}

fn sent(step: Step) -> SafeRequest {
    match step {
        Step::Send(r) => {
            safety::emit(&r).expect("every request passes the guard");
            r
        }
        other => panic!("expected a request, got {other:?}"),
    }
}

#[test]
fn golden_snap7_py3_session_reports_the_order_number_and_both_deviations() {
    let cfg = S7SessionConfig {
        port: 102,
        tsaps: vec![0x0102, 0x0200],
        local_tsap: 0x0100,
        szl_ids: vec![0x0011, 0x001C],
        pdu_length: 480,
        response_timeout: Duration::from_millis(500),
        disconnect_wait: Duration::from_millis(500),
        max_szl_pieces: 8,
        cotp_src_ref: 1,
        first_pdu_ref: 1,
    };
    let t = Instant::now();
    let mut s = S7Session::new(cfg);
    assert!(matches!(
        sent(s.on_connected(t)),
        SafeRequest::S7(s7::Safe::Connect(_))
    ));
    assert!(matches!(
        sent(s.on_bytes(t, &hex(SNAP7PY_CC))),
        SafeRequest::S7(s7::Safe::Setup(_))
    ));
    let SafeRequest::S7(s7::Safe::ReadSzl(r)) = sent(s.on_bytes(t, &hex(SNAP7PY_SETUP_ACK))) else {
        panic!("read szl 0x0011 next")
    };
    assert_eq!(r.szl_id, 0x0011);
    let SafeRequest::S7(s7::Safe::ReadSzl(r)) = sent(s.on_bytes(t, &hex(SNAP7PY_SZL_0011))) else {
        panic!("read szl 0x001c next")
    };
    assert_eq!(r.szl_id, 0x001C);
    assert!(matches!(
        sent(s.on_bytes(t, &hex(SNAP7PY_SZL_001C))),
        SafeRequest::S7(s7::Safe::Disconnect(_))
    ));
    let step = s.on_bytes(t, &hex(SNAP7PY_DC));
    if step != Step::Done {
        assert_eq!(step, Step::Wait);
        assert_eq!(s.on_connection_lost(t, ConnectionLoss::Closed), Step::Done);
    }
    let findings = s.take_findings();
    let reasons: Vec<&str> = findings
        .iter()
        .filter_map(|f| match &f.fact {
            Fact::Suspicious { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{findings:?}");
    assert!(
        reasons[0].contains("szl 0x0011 records are 26 bytes, not the standard 28"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("szl 0x001c"), "{reasons:?}");
    let ids: Vec<_> = findings
        .iter()
        .filter_map(|f| match &f.fact {
            Fact::Identity {
                identity: Identity::S7(id),
            } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 1, "{findings:?}");
    assert_eq!(ids[0].order_number.as_deref(), Some("6ES7 315-2EH14-0AB0"));
    assert_eq!(ids[0].tsap, Some(0x0102));
}

/// The same real pymodbus gateway replies, read as a profile with `gateway_units = [2]`
/// reads them: 0x0B for the device's own 255 and 0 proves a gateway, and unit 2's
/// identity becomes the sub-asset at `modbus:unit/2`, not the gateway's own.
#[test]
fn golden_pymodbus_gateway_units_become_sub_assets() {
    let cfg = ModbusSessionConfig {
        port: 502,
        unit_ids: vec![0xFF, 0],
        read_codes: vec![ReadDeviceIdCode::Basic, ReadDeviceIdCode::Regular],
        individual_objects: vec![],
        response_timeout: Duration::from_millis(500),
        max_pages: 16,
        first_transaction_id: 1,
        gateway_units: vec![2],
        gateway_identities: vec![],
    };
    let t = Instant::now();
    let mut s = ModbusSession::new(cfg);
    let mut units = Vec::new();
    let mut step = s.on_connected(t);
    for reply in [
        PYMODBUS_GW_EXC_255,
        PYMODBUS_GW_EXC_0,
        PYMODBUS_UNIT2_BASIC,
        PYMODBUS_UNIT2_REGULAR,
    ] {
        let SafeRequest::Modbus(modbus::Safe::ReadDeviceId(r)) = sent(step) else {
            panic!("modbus request expected")
        };
        units.push((r.transaction_id, r.unit_id, r.read_code.code()));
        step = s.on_bytes(t, &hex(reply));
    }
    assert_eq!(step, Step::Done);
    assert_eq!(units, [(1, 0xFF, 1), (2, 0, 1), (3, 2, 1), (4, 2, 2)]);
    let findings = s.take_findings();
    assert!(
        findings
            .iter()
            .all(|f| matches!(&f.fact, Fact::Negative { answer, .. } if answer.contains("exception 0x0b"))),
        "{findings:?}"
    );
    assert_eq!(findings.len(), 2);
    let subs = s.take_sub_findings();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0].0, "modbus:unit/2");
    let Fact::Identity {
        identity: Identity::Modbus(id),
    } = &subs[0].1.fact
    else {
        panic!("{subs:?}")
    };
    assert_eq!(id.unit_id, 2);
    assert_eq!(id.objects[&0], "PeerLab Automation GmbH");
    assert_eq!(id.objects[&4], "PeerLab Modbus Interop Server");
}

#[test]
fn golden_pymodbus_gateway_exceptions_lead_to_the_unit_behind_it() {
    let cfg = ModbusSessionConfig {
        port: 502,
        unit_ids: vec![0xFF, 0, 2],
        read_codes: vec![ReadDeviceIdCode::Basic, ReadDeviceIdCode::Regular],
        individual_objects: vec![],
        response_timeout: Duration::from_millis(500),
        max_pages: 16,
        first_transaction_id: 1,
        gateway_units: vec![],
        gateway_identities: vec![],
    };
    let t = Instant::now();
    let mut s = ModbusSession::new(cfg);
    let mut units = Vec::new();
    let mut step = s.on_connected(t);
    for reply in [
        PYMODBUS_GW_EXC_255,
        PYMODBUS_GW_EXC_0,
        PYMODBUS_UNIT2_BASIC,
        PYMODBUS_UNIT2_REGULAR,
    ] {
        let SafeRequest::Modbus(modbus::Safe::ReadDeviceId(r)) = sent(step) else {
            panic!("modbus request expected")
        };
        units.push((r.transaction_id, r.unit_id, r.read_code.code()));
        step = s.on_bytes(t, &hex(reply));
    }
    assert_eq!(step, Step::Done);
    assert_eq!(units, [(1, 0xFF, 1), (2, 0, 1), (3, 2, 1), (4, 2, 2)]);
    let findings = s.take_findings();
    let negatives: Vec<&str> = findings
        .iter()
        .filter_map(|f| match &f.fact {
            Fact::Negative { answer, .. } => Some(answer.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(negatives.len(), 2, "{findings:?}");
    assert!(
        negatives.iter().all(|a| a.contains("exception 0x0b")),
        "{negatives:?}"
    );
    let Some(Fact::Identity {
        identity: Identity::Modbus(id),
    }) = findings
        .iter()
        .map(|f| &f.fact)
        .find(|f| matches!(f, Fact::Identity { .. }))
    else {
        panic!("no identity in {findings:?}")
    };
    assert_eq!((id.unit_id, id.conformity_level), (2, Some(0x83)));
    assert_eq!(id.objects[&0], "PeerLab Automation GmbH");
    assert_eq!(id.objects[&2], "v3.16.1-interop");
    assert_eq!(id.objects[&6], "otscout interop");
    assert_eq!(id.objects.len(), 7);
}

// ---------------------------------------------------------------------------------------
// Finding and running the servers

fn required() -> bool {
    std::env::var("OTSCOUT_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// Says why a test is skipped, or fails it when tools are required.
fn skip_or_fail(test: &str, why: &str) {
    assert!(!required(), "{test}: OTSCOUT_REQUIRE_TOOLS=1 but {why}");
    eprintln!("skipped {test}: {why}");
}

fn python() -> String {
    std::env::var("OTSCOUT_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Whether `python3` imports `module` (with `path` first on PYTHONPATH).
fn importable(module: &str, path: Option<&Path>) -> bool {
    let mut c = Command::new(python());
    c.args(["-c", &format!("import {module}")]);
    if let Some(p) = path {
        c.env("PYTHONPATH", p);
    }
    c.output().is_ok_and(|o| o.status.success())
}

/// Where python-snap7 2.x (native Snap7) is installed with `pip --target`, if anywhere:
/// `OTSCOUT_SNAP7_NATIVE`, else `snap7-native` in python3's venv (the layout .ci/run makes).
fn snap7_native_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("OTSCOUT_SNAP7_NATIVE") {
        Some(d) => PathBuf::from(d),
        None => {
            let out = Command::new(python())
                .args(["-c", "import sys; print(sys.prefix)"])
                .output()
                .ok()?;
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("snap7-native")
        }
    };
    dir.join("snap7").is_dir().then_some(dir)
}

/// A port free on `ip` for TCP (and for UDP too when `udp`), found by binding port 0.
fn free_port(ip: Ipv4Addr, udp: bool) -> u16 {
    for _ in 0..50 {
        let l = std::net::TcpListener::bind((ip, 0)).expect("bind port 0 on loopback");
        let port = l.local_addr().unwrap().port();
        if !udp || std::net::UdpSocket::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both TCP and UDP on {ip}");
}

/// A server child process, killed when dropped (also when the test panics).
struct Server {
    what: String,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Spawns `cmd` (stdout read line by line, stderr to a file in `dir`) and waits until
    /// `ready` holds for the lines so far.
    async fn start(
        what: &str,
        dir: &Path,
        mut cmd: Command,
        ready: impl Fn(&[String]) -> bool,
    ) -> Server {
        let stderr = dir.join(format!("{}.stderr", what.replace([' ', '/'], "_")));
        cmd.env("PYTHONUNBUFFERED", "1")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("piped stdout");
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut server = Server {
            what: what.to_string(),
            child,
            lines,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if ready(&server.lines()) {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "{what} exited ({status}) before it was ready:\n{}",
                    server.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{what} not ready after 30 s:\n{}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn log(&self) -> String {
        format!(
            "{} stdout:\n{}\nstderr:\n{}",
            self.what,
            self.lines().join("\n"),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }
}

// ---------------------------------------------------------------------------------------
// The tap: a proxy that records how otscout behaves on each connection

/// How otscout's side of a connection ended, as the tap saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Close {
    Fin,
    Reset,
    Error(String),
}

#[derive(Debug)]
struct Conn {
    /// What the tapped port speaks.
    protocol: Protocol,
    /// Bytes otscout sent.
    sent: Vec<u8>,
    close: Option<Close>,
}

#[derive(Debug, Default)]
struct TapLog {
    conns: Vec<Conn>,
    open: usize,
    max_open: usize,
}

/// A loopback proxy in front of a server.
struct Tap {
    log: Arc<Mutex<TapLog>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Tap {
    async fn start(front: SocketAddr, back: SocketAddr, protocol: Protocol) -> Tap {
        Tap::sharing(front, back, protocol, Arc::default()).await
    }

    /// A tap writing to `log`, which other taps (other ports of the same device) share.
    async fn sharing(
        front: SocketAddr,
        back: SocketAddr,
        protocol: Protocol,
        log: Arc<Mutex<TapLog>>,
    ) -> Tap {
        let listener = TcpListener::bind(front).await.expect("tap binds");
        let shared = Arc::clone(&log);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let idx = {
                    let mut l = shared.lock().unwrap();
                    l.open += 1;
                    l.max_open = l.max_open.max(l.open);
                    l.conns.push(Conn {
                        protocol,
                        sent: Vec::new(),
                        close: None,
                    });
                    l.conns.len() - 1
                };
                tokio::spawn(relay(client, back, Arc::clone(&shared), idx));
            }
        });
        Tap { log, task }
    }

    /// Waits (briefly) until every connection's close was seen, then returns the log.
    async fn settled(&self) -> std::sync::MutexGuard<'_, TapLog> {
        for _ in 0..100 {
            if self.log.lock().unwrap().open == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.log.lock().unwrap()
    }
}

async fn relay(client: TcpStream, back: SocketAddr, log: Arc<Mutex<TapLog>>, idx: usize) {
    let finish = |close: Close| {
        let mut l = log.lock().unwrap();
        l.conns[idx].close = Some(close);
        l.open -= 1;
    };
    let server = match TcpStream::connect(back).await {
        Ok(s) => s,
        Err(e) => return finish(Close::Error(format!("tap cannot reach the server: {e}"))),
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    // Server to otscout: forwarded as it comes; the server's FIN is passed on.
    let down = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = sr.read(&mut buf).await {
            if n == 0 || cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = cw.shutdown().await;
    });
    // otscout to server: recorded, then forwarded.
    let mut buf = vec![0u8; 4096];
    let close = loop {
        match cr.read(&mut buf).await {
            Ok(0) => break Close::Fin,
            Ok(n) => {
                log.lock().unwrap().conns[idx]
                    .sent
                    .extend_from_slice(&buf[..n]);
                if sw.write_all(&buf[..n]).await.is_err() {
                    // The server went away; keep reading to see how otscout closes.
                    continue;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break Close::Reset,
            Err(e) => break Close::Error(e.to_string()),
        }
    };
    finish(close);
    let _ = sw.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), down).await;
}

/// Independent checks of one frame otscout sent (written from the specs, not from
/// otscout's encoder), then otscout's own guard.
fn check_frame(protocol: Protocol, f: &[u8]) -> Result<(), String> {
    let ok = match protocol {
        // MBAP: protocol 0, length 5, then function 0x2B, MEI 0x0E, read code 1-4 (MAP 6.21).
        Protocol::Modbus => {
            f.len() == 11
                && f[2..6] == [0, 0, 0, 5]
                && f[7..9] == [0x2B, 0x0E]
                && (1..=4).contains(&f[9])
        }
        // Encapsulation header only: List Identity 0x63, List Services 0x04, List
        // Interfaces 0x64, length 0 (ODVA Vol. 2, 2-4).
        Protocol::Enip => {
            f.len() == 24 && [0x63, 0x04, 0x64].contains(&f[0]) && f[1..4] == [0, 0, 0]
        }
        // TPKT 3; COTP CR (0xE0) or DR (0x80); or a DT carrying S7 (0x32) Setup
        // Communication (job 1, function 0xF0) or userdata (7) Read SZL (type/group 0x44,
        // subfunction 0x01).
        Protocol::S7 => {
            f.len() >= 7
                && f[0] == 3
                && match f[5] {
                    0xE0 | 0x80 => true,
                    0xF0 => match (f.get(7), f.get(8)) {
                        (Some(0x32), Some(0x01)) => f.get(17) == Some(&0xF0),
                        (Some(0x32), Some(0x07)) => f.get(22..24) == Some(&[0x44, 0x01][..]),
                        _ => false,
                    },
                    _ => false,
                }
        }
        other => return Err(format!("no check for {other:?}")),
    };
    if !ok {
        return Err(format!("not an allowlisted frame: {}", ::hex::encode(f)));
    }
    safety::check(protocol, f)
        .map(|_| ())
        .map_err(|e| format!("guard refuses {}: {e}", ::hex::encode(f)))
}

/// Splits the bytes of one connection into frames and checks each.
fn check_stream(protocol: Protocol, mut bytes: &[u8]) -> Result<usize, String> {
    let mut n = 0;
    while !bytes.is_empty() {
        let len = match protocol {
            Protocol::Modbus => otscout::wire::modbus::frame_len(bytes),
            Protocol::Enip => otscout::wire::enip::frame_len(bytes),
            _ => otscout::wire::s7::frame_len(bytes),
        }
        .map_err(|e| format!("unframed bytes {}: {e}", ::hex::encode(bytes)))?
        .ok_or_else(|| format!("a partial frame at the end: {}", ::hex::encode(bytes)))?;
        check_frame(protocol, &bytes[..len])?;
        bytes = &bytes[len..];
        n += 1;
    }
    Ok(n)
}

/// Asserts the tap saw otscout behave: one connection at a time, each closed with a FIN,
/// only allowlisted frames. Returns the number of connections and of frames.
async fn assert_discipline(what: &str, tap: &Tap) -> (usize, usize) {
    let log = tap.settled().await;
    assert!(!log.conns.is_empty(), "{what}: otscout never connected");
    assert_eq!(
        log.max_open, 1,
        "{what}: more than one connection at a time"
    );
    let mut frames = 0;
    for (i, c) in log.conns.iter().enumerate() {
        assert_eq!(
            c.close,
            Some(Close::Fin),
            "{what}: connection {i} did not end with a FIN"
        );
        frames += check_stream(c.protocol, &c.sent).unwrap_or_else(|e| panic!("{what}: {e}"));
    }
    (log.conns.len(), frames)
}

// ---------------------------------------------------------------------------------------
// Running otscout

/// A profile for these tests: lab pacing (1 s reply deadline, so a busy CI machine does
/// not turn a slow Python reply into a timeout), no vendor rules (the S7-300 rule would
/// add 2 s between requests).
fn profile(dir: &Path) -> PathBuf {
    let path = dir.join("interop.toml");
    std::fs::write(
        &path,
        "extends = \"lab\"\nname = \"interop\"\nvendor_rules = []\n",
    )
    .unwrap();
    path
}

/// Runs `otscout scan`, asserts it completed without an error (exit 0, nothing on stderr)
/// and returns its result file.
async fn scan(dir: &Path, name: &str, targets: &[IpAddr], sets: &[&str]) -> Value {
    scan_as(dir, name, targets, profile(dir), sets).await
}

/// [`scan`] with another profile (a file or a built-in name).
async fn scan_as(
    dir: &Path,
    name: &str,
    targets: &[IpAddr],
    profile: impl AsRef<std::ffi::OsStr>,
    sets: &[&str],
) -> Value {
    let out = dir.join(format!("{name}.json"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_otscout"));
    cmd.arg("scan")
        .args(targets.iter().map(ToString::to_string))
        .arg("--profile")
        .arg(profile)
        .arg("-o")
        .arg(&out)
        .args(["-q", "--operator", "interop-test"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let output = tokio::task::spawn_blocking(move || cmd.output().expect("otscout runs"))
        .await
        .unwrap();
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "otscout scan {name}: {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let json = std::fs::read(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    serde_json::from_slice(&json).unwrap()
}

/// The facts observed for `ip`.
fn facts<'a>(result: &'a Value, ip: &IpAddr) -> Vec<&'a Value> {
    let ip = ip.to_string();
    result["observations"]
        .as_array()
        .expect("observations")
        .iter()
        .filter(|o| o["ip"] == ip.as_str())
        .map(|o| &o["fact"])
        .collect()
}

fn of_type<'a>(facts: &[&'a Value], ty: &str) -> Vec<&'a Value> {
    facts.iter().copied().filter(|f| f["type"] == ty).collect()
}

fn one_identity<'a>(facts: &[&'a Value], what: &str) -> &'a Value {
    let ids = of_type(facts, "identity");
    assert_eq!(ids.len(), 1, "{what}: one identity expected in {facts:#?}");
    &ids[0]["identity"]
}

fn ip(test: u8, n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 91, test, n)
}

// ---------------------------------------------------------------------------------------
// The servers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymodbus_server_and_gateways_are_identified() {
    const TEST: &str = "pymodbus interop";
    if !importable("pymodbus", None) {
        return skip_or_fail(TEST, &format!("{} cannot import pymodbus", python()));
    }
    let dir = tempfile::tempdir().unwrap();
    // n = 1: a plain server (every unit id answers); 2: a gateway that answers 0x0B for
    // units not behind it; 3: one that stays silent for them.
    let modes: [(&str, &[&str]); 3] = [
        ("plain", &["--private", "3"]),
        ("gateway", &["--units", "1,2,3"]),
        ("silent gateway", &["--units", "1,2,3", "--silent-missing"]),
    ];
    let port = free_port(ip(1, 0), false);
    let mut servers = Vec::new();
    let mut taps = Vec::new();
    for (i, (mode, args)) in modes.iter().enumerate() {
        let n = u8::try_from(i).unwrap() + 1;
        let back = ip(1, 100 + n);
        let back = SocketAddr::new(back.into(), free_port(back, false));
        servers.push(pymodbus(&format!("pymodbus {mode}"), dir.path(), back, args).await);
        let front = SocketAddr::new(ip(1, n).into(), port);
        taps.push(Tap::start(front, back, Protocol::Modbus).await);
    }
    let version = servers[0].lines()[0].clone();
    assert!(version.contains("3."), "pymodbus version line: {version}");
    let hosts: Vec<IpAddr> = (1..=3).map(|n| ip(1, n).into()).collect();
    let port_set = format!("modbus.port={port}");
    let base = [
        port_set.as_str(),
        "enip.enabled=false",
        "s7.enabled=false",
        "modbus.allow_extended=true",
        "modbus.allow_other_unit_ids=true",
        "modbus.read_codes=[\"basic\",\"regular\",\"extended\"]",
    ];
    let mut sets = base.to_vec();
    sets.push("modbus.unit_ids=[255,0,2]");
    let result = scan(dir.path(), "modbus", &hosts, &sets).await;

    // The plain server: unit 255 answers every read code; the private objects take pages.
    let f = facts(&result, &hosts[0]);
    let id = one_identity(&f, "pymodbus plain");
    assert_eq!(id["protocol"], "modbus");
    assert_eq!(id["unit_id"], 255);
    assert_eq!(id["conformity_level"], 0x83);
    let o = &id["objects"];
    assert_eq!(o["0"], "PeerLab Automation GmbH");
    assert_eq!(o["1"], "PLB-MB-0502");
    assert!(o["2"].as_str().unwrap().starts_with("v3."), "{o}");
    assert_eq!(o["3"], "http://peerlab.invalid/modbus");
    assert_eq!(o["4"], "PeerLab Modbus Interop Server");
    assert_eq!(o["5"], "PLB-MB-TCP-1");
    assert_eq!(o["6"], "otscout interop");
    for obj in ["128", "129", "130"] {
        let v = o[obj].as_str().unwrap_or_default();
        assert!(
            v.len() == 100 && v.starts_with("private object"),
            "{obj}: {v:?}"
        );
    }
    assert!(of_type(&f, "suspicious").is_empty(), "{f:#?}");
    // The gateways: 255 and 0 are not behind them, unit 2 is.
    for (h, mode) in [(1, "gateway"), (2, "silent gateway")] {
        let f = facts(&result, &hosts[h]);
        let id = one_identity(&f, mode);
        assert_eq!(id["unit_id"], 2, "{mode}");
        assert_eq!(id["objects"]["0"], "PeerLab Automation GmbH", "{mode}");
        assert!(of_type(&f, "suspicious").is_empty(), "{mode}: {f:#?}");
    }
    let f = facts(&result, &hosts[1]);
    let neg = of_type(&f, "negative");
    assert_eq!(neg.len(), 2, "gateway: {f:#?}");
    for n in neg {
        assert!(n["answer"].as_str().unwrap().contains("0x0b"), "{n}");
    }
    // With the default unit ids the gateway has nothing to say: negative, not identified.
    let mut sets = base.to_vec();
    sets.push("modbus.unit_ids=[255,0]");
    let result = scan(dir.path(), "modbus-default-units", &hosts[1..2], &sets).await;
    let f = facts(&result, &hosts[1]);
    assert!(of_type(&f, "identity").is_empty(), "{f:#?}");
    assert_eq!(of_type(&f, "negative").len(), 2, "{f:#?}");
    assert_eq!(
        result["scan"]["hosts"][hosts[1].to_string()]["probes"][0]["outcome"],
        "negative"
    );

    for ((mode, _), (tap, server)) in modes.iter().zip(taps.iter().zip(&servers)) {
        let (conns, frames) = assert_discipline(mode, tap).await;
        // The silent gateway: no request follows an unanswered one on its connection, so
        // units 255 and 0 each cost a connection (SAFETY.md); the others need one per
        // scan (the gateway is scanned twice).
        let expected = match *mode {
            "silent gateway" => 3,
            "gateway" => 2,
            _ => 1,
        };
        assert_eq!(conns, expected, "{mode}: {}", server.log());
        // The server's own log: it received exactly those frames, each a 0x2B/0x0E
        // request, and never one after a request it left unanswered on that connection.
        let events: Vec<Value> = server
            .lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect();
        let mut rx = 0;
        let mut unanswered = false;
        for ev in &events {
            match ev["ev"].as_str() {
                Some("connect") => unanswered = false,
                Some("tx") => unanswered = false,
                Some("rx") => {
                    assert!(
                        !unanswered,
                        "{mode}: a request after silence: {}",
                        server.log()
                    );
                    unanswered = true;
                    rx += 1;
                    let f = ::hex::decode(ev["hex"].as_str().unwrap()).unwrap();
                    check_frame(Protocol::Modbus, &f).unwrap_or_else(|e| panic!("{mode}: {e}"));
                }
                _ => {}
            }
        }
        assert_eq!(rx, frames, "{mode}: {}", server.log());
    }
}

/// Starts cpppo's EtherNet/IP server (TCP and UDP) at `at`, with tests/interop/cpppo.cfg.
async fn cpppo(dir: &Path, at: SocketAddr) -> Server {
    let mut cmd = Command::new(python());
    cmd.args(["-m", "cpppo.server.enip", "-v", "--address"])
        .arg(at.to_string())
        .args(["-A", "-c"])
        .arg(scripts().join("cpppo.cfg"))
        .arg("SCADA=INT[10]");
    Server::start("cpppo", dir, cmd, |l| {
        l.iter().any(|l| l.contains("TCP Server address"))
            && l.iter().any(|l| l.contains("UDP Server address"))
    })
    .await
}

/// Starts tests/interop/pymodbus_server.py at `at` with `args`.
async fn pymodbus(what: &str, dir: &Path, at: SocketAddr, args: &[&str]) -> Server {
    let mut cmd = Command::new(python());
    cmd.arg(scripts().join("pymodbus_server.py"))
        .args([at.ip().to_string(), at.port().to_string()])
        .args(args);
    Server::start(what, dir, cmd, |l| l.iter().any(|l| l.starts_with("READY"))).await
}

/// Starts `snap7_server.py` with python-snap7 from `path` (or the default one).
async fn snap7(what: &str, dir: &Path, at: SocketAddr, path: Option<&Path>) -> Server {
    let mut cmd = Command::new(python());
    cmd.arg(scripts().join("snap7_server.py")).args([
        at.ip().to_string(),
        at.port().to_string(),
        "60".into(),
    ]);
    if let Some(p) = path {
        cmd.env("PYTHONPATH", p);
    }
    Server::start(what, dir, cmd, |l| l.iter().any(|l| l.starts_with("READY"))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snap7_servers_are_identified() {
    const TEST: &str = "python-snap7 interop";
    let native = snap7_native_dir().filter(|d| importable("snap7.server", Some(d)));
    let pure = importable("snap7.server", None);
    if native.is_none() {
        skip_or_fail(
            TEST,
            "no native Snap7 server: set OTSCOUT_SNAP7_NATIVE to a `pip install --target` \
             directory of python-snap7 2.x",
        );
    }
    if !pure {
        skip_or_fail(TEST, &format!("{} cannot import snap7", python()));
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(ip(2, 0), false);
    let mut cases = Vec::new();
    if let Some(d) = &native {
        cases.push((1u8, "snap7 native", Some(d.as_path())));
    }
    if pure {
        cases.push((2u8, "snap7 pure-python", None));
    }
    if cases.is_empty() {
        return;
    }
    let mut running = Vec::new();
    for (n, what, path) in &cases {
        let back = ip(2, 100 + n);
        let back = SocketAddr::new(back.into(), free_port(back, false));
        let server = snap7(what, dir.path(), back, *path).await;
        let tap = Tap::start(SocketAddr::new(ip(2, *n).into(), port), back, Protocol::S7).await;
        running.push((*n, *what, server, tap));
    }
    let hosts: Vec<IpAddr> = cases.iter().map(|(n, ..)| ip(2, *n).into()).collect();
    let port_set = format!("s7.port={port}");
    let sets = [
        port_set.as_str(),
        "modbus.enabled=false",
        "enip.enabled=false",
    ];
    let result = scan(dir.path(), "s7", &hosts, &sets).await;

    for (n, what, server, tap) in &running {
        let host = IpAddr::from(ip(2, *n));
        let f = facts(&result, &host);
        let id = one_identity(&f, what);
        let version = server.lines()[0].clone();
        assert_eq!(id["protocol"], "s7");
        assert_eq!(
            id["order_number"], "6ES7 315-2EH14-0AB0",
            "{what} {version}"
        );
        assert_eq!(id["tsap"], 0x0102, "{what}");
        if *n == 1 {
            // The native Snap7 server answers like s7ident.pcap (captures/INDEX.md).
            assert_eq!(id["firmware"], "V3.2.6", "{what}");
            assert_eq!(id["as_name"], "SNAP7-SERVER");
            assert_eq!(id["module_name"], "CPU 315-2 PN/DP");
            assert_eq!(id["serial"], "S C-C2UR28922012");
            assert_eq!(id["module_type"], "CPU 315-2 PN/DP");
            assert_eq!(id["memory_card_serial"], "MMC 267FF11F");
            assert_eq!(id["copyright"], "Original Siemens Equipment");
            assert_eq!(id["manufacturer_id"], 0x002a);
            assert!(of_type(&f, "suspicious").is_empty(), "{what}: {f:#?}");
        } else {
            // python-snap7 3.x: 26-byte SZL 0x0011 records and a 0x001C answer that is no
            // SZL list: the order number and two deviations, nothing invented.
            assert!(id.get("firmware").is_none(), "{what}: {id}");
            assert!(id.get("as_name").is_none(), "{what}: {id}");
            let s = of_type(&f, "suspicious");
            assert_eq!(s.len(), 2, "{what}: {f:#?}");
        }
        let (conns, frames) = assert_discipline(what, tap).await;
        // CR, setup, two SZL reads, DR: on the first TSAP, one connection.
        assert_eq!((conns, frames), (1, 5), "{what}: {}", server.log());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpppo_enip_server_is_identified_over_tcp_and_udp() {
    const TEST: &str = "cpppo interop";
    if !importable("cpppo.server.enip", None) {
        return skip_or_fail(TEST, &format!("{} cannot import cpppo", python()));
    }
    let dir = tempfile::tempdir().unwrap();
    let back = ip(3, 101);
    let back_port = free_port(back, true);
    let server = cpppo(dir.path(), SocketAddr::new(back.into(), back_port)).await;
    let front = ip(3, 1);
    let port = free_port(front, false);
    let tap = Tap::start(
        SocketAddr::new(front.into(), port),
        SocketAddr::new(back.into(), back_port),
        Protocol::Enip,
    )
    .await;

    let expect = |id: &Value, what: &str| {
        assert_eq!(id["protocol"], "enip", "{what}");
        assert_eq!(id["source"], "list_identity", "{what}");
        assert_eq!(id["vendor_id"], 1337, "{what}");
        assert_eq!(id["device_type"], 14, "{what}");
        assert_eq!(id["product_code"], 4242, "{what}");
        assert_eq!(
            (&id["revision_major"], &id["revision_minor"]),
            (&7.into(), &42.into())
        );
        assert_eq!(id["status"], 0x0030, "{what}");
        assert_eq!(id["serial"], 0xC0FF_EE01_u32, "{what}");
        assert_eq!(id["product_name"], "PeerLab ENIP 1756-L85E", "{what}");
        assert_eq!(id["state"], 3, "{what}");
    };
    let tcp_port = format!("enip.port={port}");
    let sets = [
        tcp_port.as_str(),
        "modbus.enabled=false",
        "s7.enabled=false",
        "enip.list_services=true",
    ];
    let result = scan(dir.path(), "enip-tcp", &[front.into()], &sets).await;
    let f = facts(&result, &front.into());
    expect(one_identity(&f, "cpppo tcp"), "cpppo tcp");
    // cpppo's List Services item is a byte short (see the golden above): read, not flagged
    // as a broken reply.
    assert!(of_type(&f, "suspicious").is_empty(), "{f:#?}");
    let (conns, frames) = assert_discipline("cpppo tcp", &tap).await;
    assert_eq!((conns, frames), (1, 2), "{}", server.log());

    // UDP goes straight to the server (the tap is TCP only).
    let udp_port = format!("enip.port={back_port}");
    let sets = [
        udp_port.as_str(),
        "modbus.enabled=false",
        "s7.enabled=false",
        "enip.transport=udp",
        "enip.list_services=true",
    ];
    let result = scan(dir.path(), "enip-udp", &[back.into()], &sets).await;
    let f = facts(&result, &back.into());
    expect(one_identity(&f, "cpppo udp"), "cpppo udp");
    assert!(of_type(&f, "suspicious").is_empty(), "{f:#?}");
    assert!(
        server.log().contains("processed   2 requests"),
        "cpppo saw otscout's two TCP requests: {}",
        server.log()
    );
}

/// Starts cpppo's EtherNet/IP server at `at` as a communications adapter
/// (tests/interop/cpppo_adapter.cfg) that takes Unconnected Send through the one route
/// path `1/<slot>` only (`--route-path`), logging each request it parsed (`-vv`).
async fn cpppo_adapter(dir: &Path, at: SocketAddr, slot: u8) -> Server {
    let mut cmd = Command::new(python());
    cmd.args(["-m", "cpppo.server.enip", "-vv", "--address"])
        .arg(at.to_string())
        .args(["-A", "-c"])
        .arg(scripts().join("cpppo_adapter.cfg"))
        .args(["--route-path", &format!("1/{slot}")])
        .arg("SCADA=INT[10]");
    Server::start("cpppo adapter", dir, cmd, |l| {
        l.iter().any(|l| l.contains("TCP Server address"))
    })
    .await
}

/// SAFETY.md's routed identity read (SendRRData carrying Unconnected Send to the
/// Connection Manager, wrapping Get_Attributes_All to Identity instance 1, route path port
/// 1 link `slot`), with the session handle and sender context given.
fn safety_md_routed_read(handle: [u8; 4], context: [u8; 8], slot: u8) -> Vec<u8> {
    let mut f = hex("6f 00 24 00");
    f.extend(handle);
    f.extend(hex("00 00 00 00"));
    f.extend(context);
    f.extend(hex(
        "00 00 00 00  00 00 00 00 00 00  02 00 00 00 00 00  b2 00 14 00
         52 02 20 06 24 01  0a 05  06 00  01 02 20 01 24 01  01 00 01",
    ));
    f.push(slot);
    f
}

/// The SendRRData bodies (after the 24-byte header) cpppo logged at `-vv`: each parsed
/// request's `enip.input` hexload under `enip.command` 111, in order. A hexload line is
/// `00000010:  52 02 20 06 ...   |R. .$...|`: the bytes lie between the offset and `|`.
fn cpppo_logged_send_rr_data(log: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut command = None;
    let mut lines = log.lines();
    while let Some(l) = lines.next() {
        if let Some(v) = l.trim().strip_prefix("'enip.command':") {
            command = v.trim().trim_end_matches(',').parse::<u32>().ok();
        } else if l.contains("'enip.input':") && l.contains("array( 'B'") && command == Some(111) {
            let mut body = Vec::new();
            for l in lines.by_ref() {
                let l = l.trim();
                if l.starts_with("'''") {
                    break;
                }
                let bytes = l.split_once(':').map_or("", |(_, r)| r);
                body.extend(hex(bytes.split('|').next().unwrap_or("")));
            }
            out.push(body);
        }
    }
    out
}

/// True when tshark and text2pcap run; otherwise says the check skipped (or fails it in CI).
fn have_tshark(test: &str) -> bool {
    let runs = |tool: &str| {
        Command::new(tool)
            .arg("-v")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let ok = runs("tshark") && runs("text2pcap");
    if !ok {
        skip_or_fail(test, "tshark or text2pcap does not run");
    }
    ok
}

/// Issue 15's third-party check of backplane enumeration, against cpppo 5.2.5.
///
/// What cpppo does, read in its source (cpppo/server/enip/ucmm.py, `UCMM.request`): an
/// Unconnected Send whose route path equals the configured `--route-path` (one port/link
/// pair) is handed to the addressed object, and the Identity object answers
/// Get_Attributes_All (device.py, `Object.request`: attributes 1-7, no State). Any other
/// route path fails the assertion "Unconnected Send route path ... differs from
/// configured"; `UCMM.request` turns the exception into encapsulation status 0x0008
/// ("Service not supported", CIP's general status 0x08 put in the encapsulation header)
/// with no CIP reply at all, and cpppo's server loop then ends the
/// session and closes the connection (main.py, `enip_srv_tcp`: "Session ended (server
/// EtherNet/IP status: 0x08 == 8)"). It never sends a CIP routing error.
///
/// So with `--route-path 1/3` and the `rockwell` profile narrowed to slots 3-4: slot 3 is
/// the adapter's sub-asset `cip:1/3` with cpppo's identity; slot 4 is a negative finding
/// on the adapter ("refused with status 0x0008"), not an error and not the "empty or
/// unreachable slot" a real chassis's CIP error gives; the enumeration stops there, with
/// no Unregister Session (cpppo has ended the session). The frames otscout sent are
/// SAFETY.md's bytes, cpppo logged the same, and Wireshark decodes them as CIP Unconnected
/// Send through port 1 to Get Attributes All of Identity 1, without expert info.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpppo_answers_the_routed_identity_read_on_its_one_slot() {
    const TEST: &str = "cpppo backplane interop";
    if !importable("cpppo.server.enip", None) {
        return skip_or_fail(TEST, &format!("{} cannot import cpppo", python()));
    }
    // The builder below is SAFETY.md's table: its example frame, byte for byte.
    assert_eq!(
        safety_md_routed_read([0x44, 0x33, 0x22, 0x11], *b"otscou\x05\x00", 3),
        hex(
            "6f 00 24 00 44 33 22 11 00 00 00 00 6f 74 73 63 6f 75 05 00 00 00 00 00 00 00
             00 00 00 00 02 00 00 00 00 00 b2 00 14 00 52 02 20 06 24 01 0a 05 06 00 01 02
             20 01 24 01 01 00 01 03"
        )
    );
    let dir = tempfile::tempdir().unwrap();
    let back = ip(9, 101);
    let back_port = free_port(back, true);
    let server = cpppo_adapter(dir.path(), SocketAddr::new(back.into(), back_port), 3).await;
    let front = ip(9, 1);
    let port = free_port(front, false);
    let tap = Tap::start(
        SocketAddr::new(front.into(), port),
        SocketAddr::new(back.into(), back_port),
        Protocol::Enip,
    )
    .await;

    let enip_port = format!("enip.port={port}");
    let sets = [
        enip_port.as_str(),
        "enip.backplane_slot_first=3",
        "enip.backplane_slot_last=4",
        "pacing.host_interval_ms=100",
    ];
    let result = scan_as(dir.path(), "backplane", &[front.into()], "rockwell", &sets).await;
    let front_ip = front.to_string();
    let at = |path: Option<&str>| -> Vec<&Value> {
        result["observations"]
            .as_array()
            .expect("observations")
            .iter()
            .filter(|o| o["ip"] == front_ip.as_str() && o["path"].as_str() == path)
            .map(|o| &o["fact"])
            .collect()
    };
    let own = at(None);
    let adapter = one_identity(&own, "cpppo adapter");
    assert_eq!(
        (&adapter["source"], &adapter["device_type"]),
        (&"list_identity".into(), &12.into()),
        "{own:#?}"
    );
    let slot3 = at(Some("cip:1/3"));
    let module = one_identity(&slot3, "cpppo slot 3");
    assert_eq!(module, &MODULE.parse::<Value>().unwrap(), "{slot3:#?}");
    assert!(at(Some("cip:1/4")).is_empty(), "{:#?}", at(Some("cip:1/4")));
    let negatives: Vec<&Value> = of_type(&own, "negative")
        .iter()
        .map(|f| &f["answer"])
        .collect();
    assert_eq!(negatives, [SLOT4], "{own:#?}");
    assert!(of_type(&own, "suspicious").is_empty(), "{own:#?}");

    // One connection, closed with a FIN: List Identity, Register Session, slot 3, slot 4.
    let sent = {
        let log = tap.settled().await;
        assert_eq!((log.conns.len(), log.max_open), (1, 1), "{:?}", log.conns);
        assert_eq!(log.conns[0].close, Some(Close::Fin));
        log.conns[0].sent.clone()
    };
    let mut frames = Vec::new();
    let mut rest = &sent[..];
    while let Some(n) = otscout::wire::enip::frame_len(rest).unwrap() {
        frames.push(rest[..n].to_vec());
        rest = &rest[n..];
    }
    assert!(rest.is_empty(), "a partial frame: {}", ::hex::encode(rest));
    assert_eq!(frames.len(), 4, "{}", server.log());
    for f in &frames {
        safety::check(Protocol::Enip, f)
            .unwrap_or_else(|e| panic!("guard refuses {}: {e}", ::hex::encode(f)));
    }
    assert_eq!(frames[0][..4], [0x63, 0, 0, 0]);
    // Register Session (SAFETY.md): handle 0, status 0, context, options 0, version 1.
    let context = |f: &[u8]| -> [u8; 8] { f[12..20].try_into().unwrap() };
    let mut register = hex("65 00 04 00 00 00 00 00 00 00 00 00");
    register.extend(context(&frames[1]));
    register.extend(hex("00 00 00 00 01 00 00 00"));
    assert_eq!(frames[1], register);
    let handle: [u8; 4] = frames[2][4..8].try_into().unwrap();
    assert_ne!(handle, [0; 4]);
    let expected: Vec<Vec<u8>> = [(&frames[2], 3), (&frames[3], 4)]
        .into_iter()
        .map(|(f, slot)| {
            assert_eq!(&f[12..18], b"otscou");
            safety_md_routed_read(handle, context(f), slot)
        })
        .collect();
    assert_eq!(frames[2..], expected[..]);
    // cpppo parsed and logged exactly those bodies.
    let bodies: Vec<Vec<u8>> = expected.iter().map(|f| f[24..].to_vec()).collect();
    assert_eq!(
        cpppo_logged_send_rr_data(&server.log()),
        bodies,
        "{}",
        server.log()
    );

    if !have_tshark(TEST) {
        return;
    }
    // The frames otscout sent, one packet each to port 44818 (text2pcap numbers the TCP
    // sequence), decoded by Wireshark.
    let text: String = frames
        .iter()
        .map(|f| {
            let bytes: Vec<String> = f.iter().map(|b| format!("{b:02x}")).collect();
            format!("000000 {}\n", bytes.join(" "))
        })
        .collect();
    let txt = dir.path().join("sent.txt");
    let pcap = dir.path().join("sent.pcap");
    std::fs::write(&txt, text).unwrap();
    let made = Command::new("text2pcap")
        .args(["-q", "-T", "50000,44818", "-4", "127.91.9.2,127.91.9.1"])
        .arg(&txt)
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-T", "fields", "-E", "separator=|"])
        .args(["-e", "enip.command", "-e", "enip.session", "-e", "cip.sc"])
        .args(["-e", "cip.class", "-e", "cip.instance", "-e", "cip.port"])
        .args(["-e", "cip.linkaddress.byte", "-e", "_ws.expert.message"])
        .args(["-e", "_ws.malformed"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let session = format!("0x{:08x}", u32::from_le_bytes(handle));
    let rows: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        rows,
        [
            "0x0063|0x00000000|||||||".to_string(),
            "0x0065|0x00000000|||||||".into(),
            format!("0x006f|{session}|0x52,0x01|0x06,0x01|0x01,0x01|1|3||"),
            format!("0x006f|{session}|0x52,0x01|0x06,0x01|0x01,0x01|1|4||"),
        ]
    );
}

/// The identity cpppo's Identity object gives Get_Attributes_All through slot 3:
/// tests/interop/cpppo_adapter.cfg's values, without State (attribute 8 is not in cpppo's
/// Get_Attributes_All reply).
const MODULE: &str = r#"{
    "protocol": "enip",
    "source": "cip_get_attributes_all",
    "vendor_id": 1337,
    "device_type": 12,
    "product_code": 4242,
    "revision_major": 7,
    "revision_minor": 42,
    "status": 48,
    "serial": 3237998081,
    "product_name": "PeerLab ENIP 1756-L85E"
}"#;

/// otscout's finding for cpppo's answer to slot 4: encapsulation status 0x0008, no CIP
/// reply. 0x0008 is no encapsulation status ODVA defines (Vol. 2 2-3.3: 0x0001-0x0003,
/// 0x0064, 0x0065, 0x0069), hence no label.
const SLOT4: &str = "enip.backplane_identity refused with status 0x0008";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libmodbus_server_says_illegal_function() {
    const TEST: &str = "libmodbus interop";
    let dir = tempfile::tempdir().unwrap();
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "libmodbus"])
        .output();
    let Some(flags) = flags.ok().filter(|o| o.status.success()) else {
        return skip_or_fail(TEST, "pkg-config does not find libmodbus (libmodbus-dev)");
    };
    let bin = dir.path().join("libmodbus_server");
    let built = Command::new("cc")
        .arg("-o")
        .arg(&bin)
        .arg(scripts().join("libmodbus_server.c"))
        .args(String::from_utf8_lossy(&flags.stdout).split_whitespace())
        .output();
    match built {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "{TEST}: cc fails on libmodbus_server.c: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => return skip_or_fail(TEST, &format!("no C compiler (cc): {e}")),
    }
    let back = ip(4, 101);
    let back = SocketAddr::new(back.into(), free_port(back, false));
    let mut cmd = Command::new(&bin);
    cmd.args([back.ip().to_string(), back.port().to_string()]);
    let server = Server::start("libmodbus", dir.path(), cmd, |l| {
        l.iter().any(|l| l.starts_with("READY"))
    })
    .await;
    let front = ip(4, 1);
    let port = free_port(front, false);
    let tap = Tap::start(SocketAddr::new(front.into(), port), back, Protocol::Modbus).await;
    let port_set = format!("modbus.port={port}");
    let sets = [port_set.as_str(), "enip.enabled=false", "s7.enabled=false"];
    let result = scan(dir.path(), "libmodbus", &[front.into()], &sets).await;
    let f = facts(&result, &front.into());
    assert!(of_type(&f, "identity").is_empty(), "{f:#?}");
    assert!(of_type(&f, "suspicious").is_empty(), "{f:#?}");
    // The device spoke Modbus and said no: one negative answer, and unit 0 is not asked.
    let neg = of_type(&f, "negative");
    assert_eq!(neg.len(), 1, "{f:#?}");
    let answer = neg[0]["answer"].as_str().unwrap();
    assert!(
        answer.contains("unit 255") && answer.contains("0x01 (illegal function)"),
        "{answer}"
    );
    assert_eq!(
        result["scan"]["hosts"][front.to_string()]["probes"][0]["outcome"],
        "negative"
    );
    let (conns, frames) = assert_discipline(TEST, &tap).await;
    assert_eq!((conns, frames), (1, 1), "{}", server.log());
    // libmodbus 3.1.6 reads a request of a function it does not know only up to the
    // function code (8 bytes): the rest of the frame stays unread. One request per
    // connection then does no harm.
    let rx: Vec<String> = server
        .lines()
        .iter()
        .filter_map(|l| l.strip_prefix("rx ").map(str::to_string))
        .collect();
    assert_eq!(rx.len(), 1, "{}", server.log());
    assert!(rx[0].starts_with("000100000005ff2b"), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_speaking_all_three_gets_one_connection_at_a_time() {
    const TEST: &str = "multi-protocol interop";
    let native = snap7_native_dir().filter(|d| importable("snap7.server", Some(d)));
    let s7 = native.is_some() || importable("snap7.server", None);
    if !(importable("pymodbus", None) && s7 && importable("cpppo.server.enip", None)) {
        return skip_or_fail(TEST, "needs pymodbus, python-snap7 and cpppo");
    }
    let dir = tempfile::tempdir().unwrap();
    // Three servers behind one device address: a Modbus, an S7 and an EtherNet/IP port,
    // all recorded in one log, so an overlap between protocols shows.
    let back = |n: u8| {
        let a = ip(5, 100 + n);
        SocketAddr::new(a.into(), free_port(a, n == 3))
    };
    let (mb, s7, en) = (back(1), back(2), back(3));
    let servers = [
        pymodbus("pymodbus", dir.path(), mb, &[]).await,
        snap7("snap7", dir.path(), s7, native.as_deref()).await,
        cpppo(dir.path(), en).await,
    ];
    let device = ip(5, 1);
    let log = Arc::new(Mutex::new(TapLog::default()));
    let mut taps = Vec::new();
    let mut sets = vec![
        "enip.list_services=true".to_string(),
        "modbus.unit_ids=[1]".to_string(),
        "modbus.allow_other_unit_ids=true".to_string(),
    ];
    for (protocol, key, back) in [
        (Protocol::Modbus, "modbus", mb),
        (Protocol::S7, "s7", s7),
        (Protocol::Enip, "enip", en),
    ] {
        let port = free_port(device, false);
        let front = SocketAddr::new(device.into(), port);
        taps.push(Tap::sharing(front, back, protocol, Arc::clone(&log)).await);
        sets.push(format!("{key}.port={port}"));
    }
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let result = scan(dir.path(), "all-three", &[device.into()], &sets).await;
    let f = facts(&result, &device.into());
    let ids = of_type(&f, "identity");
    let protocols: std::collections::BTreeSet<&str> = ids
        .iter()
        .filter_map(|i| i["identity"]["protocol"].as_str())
        .collect();
    assert_eq!(
        protocols,
        ["enip", "modbus", "s7"].into(),
        "{f:#?}\n{}",
        servers
            .iter()
            .map(Server::log)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let (conns, _) = assert_discipline(TEST, &taps[0]).await;
    assert_eq!(conns, 3, "one connection per protocol");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s7commplus_emulator_refuses_s7comm_and_is_left_alone() {
    const TEST: &str = "s7commplus interop";
    if !importable("s7commplus.server", None) {
        return skip_or_fail(TEST, &format!("{} cannot import s7commplus", python()));
    }
    let dir = tempfile::tempdir().unwrap();
    let back = ip(6, 101);
    let back = SocketAddr::new(back.into(), free_port(back, false));
    let mut cmd = Command::new(python());
    cmd.arg(scripts().join("s7commplus_server.py")).args([
        back.ip().to_string(),
        back.port().to_string(),
        "60".into(),
    ]);
    let server = Server::start("s7commplus", dir.path(), cmd, |l| {
        l.iter().any(|l| l.starts_with("READY"))
    })
    .await;
    let front = ip(6, 1);
    let port = free_port(front, false);
    let tap = Tap::start(SocketAddr::new(front.into(), port), back, Protocol::S7).await;
    let port_set = format!("s7.port={port}");
    let sets = [
        port_set.as_str(),
        "modbus.enabled=false",
        "enip.enabled=false",
    ];
    let result = scan(dir.path(), "s7commplus", &[front.into()], &sets).await;
    let f = facts(&result, &front.into());
    assert!(of_type(&f, "identity").is_empty(), "{f:#?}");
    assert!(of_type(&f, "suspicious").is_empty(), "{f:#?}");
    // It accepted the TSAP and closed on Setup Communication: a "no", and the CPU is not
    // tried again on the next TSAP.
    let neg = of_type(&f, "negative");
    assert_eq!(neg.len(), 1, "{f:#?}");
    assert!(
        neg[0]["answer"]
            .as_str()
            .unwrap()
            .contains("setup_communication"),
        "{}",
        neg[0]
    );
    let (conns, frames) = assert_discipline(TEST, &tap).await;
    assert_eq!((conns, frames), (1, 2), "{}", server.log());
}

/// nmap's script output lines (`|...`) for each host in its output.
fn script_blocks(out: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut blocks = std::collections::BTreeMap::new();
    for part in out.split("Nmap scan report for ").skip(1) {
        let mut lines = part.lines();
        let host = lines.next().unwrap_or_default().trim().to_string();
        let script: Vec<String> = lines
            .filter(|l| l.starts_with('|'))
            .map(|l| l.trim_end().to_string())
            .collect();
        blocks.insert(host, script);
    }
    blocks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nmap_sees_the_simulated_snap7_cpu_as_the_native_snap7_server() {
    const TEST: &str = "nmap s7-info differential";
    let native = snap7_native_dir().filter(|d| importable("snap7.server", Some(d)));
    let Some(native) = native else {
        return skip_or_fail(TEST, "no native Snap7 server (python-snap7 2.x)");
    };
    if Command::new("nmap").arg("--version").output().is_err() {
        return skip_or_fail(TEST, "nmap is not installed");
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root {
        return skip_or_fail(
            TEST,
            "s7-info only probes port 102, which needs root to bind",
        );
    }
    let dir = tempfile::tempdir().unwrap();
    // The real thing: the native Snap7 server, the emulator behind s7ident.pcap.
    let real = ip(7, 101);
    let _server = snap7(
        "snap7 native",
        dir.path(),
        SocketAddr::new(real.into(), 102),
        Some(&native),
    )
    .await;
    // The simulator's model of it (simulators/plants/demo.toml, snap7-cpu315).
    let sim = ip(7, 1);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/simulators/plants/demo.toml");
    let mut plant = otscout_sim::Plant::load(path).expect("demo.toml loads");
    plant.devices.retain(|d| d.name == "snap7-cpu315");
    plant.devices[0].address = sim;
    let running = otscout_sim::start(
        plant,
        otscout_sim::StartOptions {
            ports: otscout_sim::PortOverride::AsConfigured,
            ledger_sink: None,
        },
    )
    .await
    .expect("the simulated plant starts");
    let args: Vec<String> = [
        "-n",
        "-Pn",
        "-sT",
        "-p",
        "102",
        "--script",
        "s7-info",
        "--script-timeout",
        "20s",
    ]
    .iter()
    .map(ToString::to_string)
    .chain([sim.to_string(), real.to_string()])
    .collect();
    let out = tokio::task::spawn_blocking(move || Command::new("nmap").args(&args).output())
        .await
        .unwrap()
        .expect("nmap runs");
    running.shutdown().await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "nmap: {text}");
    let blocks = script_blocks(&text);
    let (s, r) = (&blocks[&sim.to_string()], &blocks[&real.to_string()]);
    assert!(
        r.iter().any(|l| l.contains("System Name: SNAP7-SERVER")),
        "nmap identifies the native server: {text}"
    );
    assert_eq!(
        s, r,
        "nmap tells the simulator from the real thing:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nmap_sees_a_simulated_enip_device_as_cpppo() {
    const TEST: &str = "nmap enip-info differential";
    if !importable("cpppo.server.enip", None) {
        return skip_or_fail(TEST, &format!("{} cannot import cpppo", python()));
    }
    if Command::new("nmap").arg("--version").output().is_err() {
        return skip_or_fail(TEST, "nmap is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    // enip-info probes 44818 only: the real thing and the simulator each on an address of
    // their own.
    let real = ip(8, 101);
    let _server = cpppo(dir.path(), SocketAddr::new(real.into(), 44818)).await;
    // The simulator, given cpppo's identity (tests/interop/cpppo.cfg).
    let sim = ip(8, 1);
    let plant: otscout_sim::Plant = toml::from_str(&format!(
        r#"
        [[device]]
        name = "cpppo-alike"
        address = "{sim}"
        [device.enip]
        port = 44818
        identity = {{ vendor_id = 1337, device_type = 14, product_code = 4242, revision_major = 7, revision_minor = 42, status = 0x0030, serial = 0xC0FFEE01, product_name = "PeerLab ENIP 1756-L85E", state = 3 }}
        "#
    ))
    .expect("the plant parses");
    let running = otscout_sim::start(
        plant,
        otscout_sim::StartOptions {
            ports: otscout_sim::PortOverride::AsConfigured,
            ledger_sink: None,
        },
    )
    .await
    .expect("the simulated device starts");
    let args: Vec<String> = ["-n", "-Pn", "-sT", "-p", "44818", "--script", "enip-info"]
        .iter()
        .map(ToString::to_string)
        .chain([sim.to_string(), real.to_string()])
        .collect();
    let out = tokio::task::spawn_blocking(move || Command::new("nmap").args(&args).output())
        .await
        .unwrap()
        .expect("nmap runs");
    running.shutdown().await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "nmap: {text}");
    // The device's own address in its reply differs by design: cpppo reports the address
    // it was told to bind (0.0.0.0 when none), the simulator its loopback address.
    let strip = |lines: &Vec<String>| -> Vec<String> {
        lines
            .iter()
            .filter(|l| !l.contains("deviceIp"))
            .cloned()
            .collect()
    };
    let blocks = script_blocks(&text);
    let (s, r) = (
        strip(&blocks[&sim.to_string()]),
        strip(&blocks[&real.to_string()]),
    );
    assert!(
        r.iter()
            .any(|l| l.contains("productName: PeerLab ENIP 1756-L85E")),
        "nmap identifies cpppo: {text}"
    );
    assert_eq!(s, r, "nmap tells the simulator from cpppo:\n{text}");
}
