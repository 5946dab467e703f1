//! Passive precision (issue 14): identities right whatever the TCP segmentation, S7 SZL
//! continuations, CIP identities only from paired Identity requests (route paths kept
//! apart), Modbus answers with no objects, exit codes, UDP on other ports.
//!
//! Every case is built from the real captures of ../shared/captures (re-segmented,
//! re-sequenced or with frames rebuilt from their bytes, see [`crate::resegment`]) or from
//! hand-built frames whose layout is cited.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

use otscout::inventory::{EnipIdentity, Fact, Identity, Observation, Protocol};
use otscout::passive::{self, ImportOptions, ImportReport};

use crate::resegment::{self, Cap, Rec};
use crate::support::captures_dir;

fn import_bytes(name: &str, bytes: &[u8]) -> ImportReport {
    passive::import_bytes(name, bytes, &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn read_cap(dir: &Path, file: &str) -> Cap {
    resegment::read(&std::fs::read(dir.join(file)).unwrap())
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn identities(r: &ImportReport) -> Vec<(&Observation, &Identity)> {
    r.observations
        .iter()
        .filter_map(|o| match &o.fact {
            Fact::Identity { identity } => Some((o, identity)),
            _ => None,
        })
        .collect()
}

fn enip_ids(r: &ImportReport) -> Vec<(IpAddr, Option<String>, EnipIdentity)> {
    identities(r)
        .into_iter()
        .filter_map(|(o, id)| match id {
            Identity::Enip(e) => Some((o.ip, o.path.clone(), e.clone())),
            _ => None,
        })
        .collect()
}

/// A clean import: nothing undecodable, no warning (so `otscout passive` exits 0).
fn assert_clean(r: &ImportReport) {
    assert!(
        r.warnings.is_empty(),
        "{}: warnings {:?}",
        r.file,
        r.warnings
    );
    assert_eq!(r.stats.undecoded, 0, "{}: {:?}", r.file, r.stats);
}

/// Frames of one TCP connection carrying `msgs` in order (`true`: client to server),
/// built on the headers of a client and a server frame of the capture, with sequence
/// numbers following on from those two frames' own.
fn conversation(cap: &Cap, c2s: usize, s2c: usize, msgs: &[(bool, Vec<u8>)]) -> Vec<Rec> {
    let tpl_c = &cap.recs[c2s];
    let tpl_s = &cap.recs[s2c];
    let tc = resegment::tcp(cap.linktype, &tpl_c.data).expect("client segment");
    let ts = resegment::tcp(cap.linktype, &tpl_s.data).expect("server segment");
    let (mut seq_c, mut seq_s) = (tc.seq, ts.seq);
    msgs.iter()
        .map(|(to_server, m)| {
            let (tpl, t, seq) = if *to_server {
                (tpl_c, &tc, &mut seq_c)
            } else {
                (tpl_s, &ts, &mut seq_s)
            };
            let data = t.rebuild(&tpl.data, *seq, m);
            *seq = seq.wrapping_add(m.len() as u32);
            Rec {
                data,
                ..tpl.clone()
            }
        })
        .collect()
}

fn payload_of(cap: &Cap, index: usize) -> Vec<u8> {
    let r = &cap.recs[index];
    resegment::tcp(cap.linktype, &r.data)
        .expect("tcp")
        .payload(&r.data)
        .to_vec()
}

// ---------------------------------------------------------------------------------------
// 1. An EtherNet/IP reply split across TCP segments.

#[test]
fn enip_list_identity_reply_split_30_45_still_identifies() {
    let Some(dir) = captures_dir("enip_list_identity_reply_split_30_45_still_identifies") else {
        return;
    };
    let mut cap = read_cap(&dir, "enip_test.pcap");
    // Frame 7 (index 6): the List Identity reply, 75 bytes of payload (24-byte header and
    // a 51-byte CPF), becomes 30 + 45 bytes with consistent sequence numbers.
    assert_eq!(payload_of(&cap, 6).len(), 75);
    resegment::split_frame(&mut cap, 6, &[30]);
    assert_eq!(payload_of(&cap, 6).len(), 30);
    assert_eq!(payload_of(&cap, 7).len(), 45);
    let r = import_bytes("enip_split.pcap", &resegment::write(&cap));
    assert_clean(&r);
    let ids = enip_ids(&r);
    assert_eq!(ids.len(), 1, "{ids:?}");
    let (who, path, id) = &ids[0];
    assert_eq!(*who, ip("10.1.1.164"));
    assert_eq!(*path, None);
    assert_eq!(id.product_name, "1756-ENBT/A");
    assert_eq!((id.vendor_id, id.device_type, id.product_code), (1, 12, 58));
    assert_eq!(id.serial, 0x0052_4d8e);
    assert_eq!(r.stats.desyncs, 0);
}

/// The header alone (24 bytes), then the body a byte at a time: the same identity.
#[test]
fn enip_list_identity_reply_cut_everywhere_still_identifies() {
    let Some(dir) = captures_dir("enip_list_identity_reply_cut_everywhere_still_identifies") else {
        return;
    };
    let mut cap = read_cap(&dir, "enip_test.pcap");
    let cuts: Vec<usize> = std::iter::once(24).chain(25..75).collect();
    resegment::split_frame(&mut cap, 6, &cuts);
    let r = import_bytes("enip_cut.pcap", &resegment::write(&cap));
    assert_clean(&r);
    assert_eq!(enip_ids(&r).len(), 1);
}

// ---------------------------------------------------------------------------------------
// 2. An S7 SZL answer continued after a follow-up request.

/// A TPKT/COTP DT frame with an S7 userdata PDU (S7 header 10 bytes: 0x32, ROSCTR 7,
/// reserved, PDU reference, parameter length, data length; Wireshark s7comm).
fn s7_userdata(pdu_ref: u16, params: &[u8], data: &[u8]) -> Vec<u8> {
    let mut s7 = vec![0x32, 0x07, 0, 0];
    s7.extend(pdu_ref.to_be_bytes());
    s7.extend((params.len() as u16).to_be_bytes());
    s7.extend((data.len() as u16).to_be_bytes());
    s7.extend(params);
    s7.extend(data);
    let mut f = vec![3, 0];
    f.extend(((7 + s7.len()) as u16).to_be_bytes());
    f.extend([0x02, 0xf0, 0x80]);
    f.extend(s7);
    f
}

/// A copy of an S7 frame with another PDU reference (bytes 11-12: after TPKT, COTP DT and
/// the first four bytes of the S7 header).
fn with_pdu_ref(frame: &[u8], pdu_ref: u16) -> Vec<u8> {
    let mut f = frame.to_vec();
    f[11..13].copy_from_slice(&pdu_ref.to_be_bytes());
    f
}

/// s7ident.pcap's one-piece SZL 0x001C answer (frame 13) re-cut into two data units with
/// a follow-up request between them, the way an S7-300 with a 240-byte PDU answers (as
/// s7comm_reading_plc_status.pcap frames 69, 71 and 72 show: data unit reference 6,
/// "last data unit: no", a follow-up with the response's sequence number and no SZL id,
/// the rest with no SZL header). With `interleave`, the client asks SZL 0x0011 again
/// between the follow-up and the rest, as an engineering tool going online does.
fn s7_continued(dir: &Path, interleave: bool) -> ImportReport {
    let cap = read_cap(dir, "s7ident.pcap");
    let req_1c = payload_of(&cap, 11); // frame 12: Read SZL 0x001C, PDU ref 0x0200
    let whole = payload_of(&cap, 12); // frame 13: its answer, one piece
    let req_11 = payload_of(&cap, 9); // frame 10: Read SZL 0x0011
    let ans_11 = payload_of(&cap, 10); // frame 11: its answer
    // Frame 13: S7 header at 7, 12-byte parameters at 17, data at 29: return code 0xff,
    // transport size 0x09, length, then the SZL value (8-byte header and 10 records).
    assert_eq!(&whole[17..20], &[0x00, 0x01, 0x12]);
    let value = &whole[33..];
    assert_eq!(value.len(), 8 + 10 * 34);
    let cut = 8 + 5 * 34;
    let item = |v: &[u8]| {
        let mut d = vec![0xff, 0x09];
        d.extend((v.len() as u16).to_be_bytes());
        d.extend(v);
        d
    };
    // Response head: method 0x12, type 8 | group 4, Read SZL, sequence 5, data unit
    // reference 7, last data unit (1: no, 0: yes), error code 0.
    let part1 = s7_userdata(
        0x0200,
        &[
            0x00, 0x01, 0x12, 0x08, 0x12, 0x84, 0x01, 0x05, 0x07, 0x01, 0, 0,
        ],
        &item(&value[..cut]),
    );
    let part2 = s7_userdata(
        0x0300,
        &[
            0x00, 0x01, 0x12, 0x08, 0x12, 0x84, 0x01, 0x05, 0x07, 0x00, 0, 0,
        ],
        &item(&value[cut..]),
    );
    // The follow-up: a request (type 4) with the response's sequence number, data unit
    // reference 0, and the empty data item `0a 00 0000`.
    let follow_up = s7_userdata(
        0x0300,
        &[
            0x00, 0x01, 0x12, 0x08, 0x12, 0x44, 0x01, 0x05, 0x00, 0x00, 0, 0,
        ],
        &[0x0a, 0x00, 0x00, 0x00],
    );
    let mut msgs = vec![(true, req_1c), (false, part1), (true, follow_up)];
    if interleave {
        msgs.push((true, with_pdu_ref(&req_11, 0x0400)));
    }
    msgs.push((false, part2));
    if interleave {
        msgs.push((false, with_pdu_ref(&ans_11, 0x0400)));
    }
    let mut out = Cap {
        linktype: cap.linktype,
        recs: cap.recs[..11].to_vec(),
    };
    out.recs.extend(conversation(&cap, 11, 12, &msgs));
    import_bytes("s7_continued.pcap", &resegment::write(&out))
}

fn assert_snap7_identity(r: &ImportReport) {
    let ids = identities(r);
    assert_eq!(ids.len(), 1, "{ids:#?}");
    let Identity::S7(s7) = ids[0].1 else {
        panic!("not s7: {ids:?}");
    };
    assert_eq!(ids[0].0.ip, ip("172.17.0.2"));
    assert_eq!(s7.order_number.as_deref(), Some("6ES7 315-2EH14-0AB0"));
    assert_eq!(s7.firmware.as_deref(), Some("V3.2.6"));
    assert_eq!(s7.as_name.as_deref(), Some("SNAP7-SERVER"));
    assert_eq!(s7.module_name.as_deref(), Some("CPU 315-2 PN/DP"));
    assert_eq!(s7.serial.as_deref(), Some("S C-C2UR28922012"));
    assert_eq!(s7.memory_card_serial.as_deref(), Some("MMC 267FF11F"));
}

#[test]
fn s7_szl_continuation_is_appended_to_its_first_part() {
    let Some(dir) = captures_dir("s7_szl_continuation_is_appended_to_its_first_part") else {
        return;
    };
    let r = s7_continued(&dir, false);
    assert_clean(&r);
    assert_snap7_identity(&r);
}

/// Fails on the code before issue 14: the second SZL request reset the stitching, and the
/// rest of 0x001C (no SZL header) was read as a new list ("szl.record_count is ...").
#[test]
fn s7_szl_continuation_after_another_request_is_keyed_by_data_unit() {
    let Some(dir) = captures_dir("s7_szl_continuation_after_another_request_is_keyed_by_data_unit")
    else {
        return;
    };
    let r = s7_continued(&dir, true);
    assert_clean(&r);
    assert_snap7_identity(&r);
}

// ---------------------------------------------------------------------------------------
// 3. CIP replies are identities only when paired with an Identity request.

/// A SendRRData frame (ODVA Vol. 2 2-4.7): header with this session and sender context,
/// interface handle 0, timeout, a CPF of a null address item and an unconnected data item
/// holding `cip`.
fn send_rr(session: u32, context: u64, cip: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0, 0, 0, 0x0a, 0x00, 0x02, 0x00, 0, 0, 0, 0, 0xb2, 0x00];
    body.extend((cip.len() as u16).to_le_bytes());
    body.extend(cip);
    let mut f = vec![0x6f, 0x00];
    f.extend((body.len() as u16).to_le_bytes());
    f.extend(session.to_le_bytes());
    f.extend([0, 0, 0, 0]);
    f.extend(context.to_le_bytes());
    f.extend([0, 0, 0, 0]);
    f.extend(body);
    f
}

/// Get_Attributes_All (0x01) to class 0x01 instance 1: `01 02 20 01 24 01`.
const GAA_IDENTITY: [u8; 6] = [0x01, 0x02, 0x20, 0x01, 0x24, 0x01];

/// Unconnected Send (0x52) to the Connection Manager (class 6, instance 1) wrapping
/// `inner`, with a route path (Vol. 1 3-5.5.2: priority/tick, timeout ticks, size, the
/// message, a pad to even, route path size in words, reserved, route path).
fn unconnected_send(inner: &[u8], route: &[u8]) -> Vec<u8> {
    let mut m = vec![0x52, 0x02, 0x20, 0x06, 0x24, 0x01, 0x0a, 0xf0];
    m.extend((inner.len() as u16).to_le_bytes());
    m.extend(inner);
    if inner.len() % 2 == 1 {
        m.push(0);
    }
    m.push((route.len() / 2) as u8);
    m.push(0);
    m.extend(route);
    m
}

/// Identity object attributes 1-7 and the state (Vol. 1 5A-2.2), as a Get_Attributes_All
/// reply: `81 00 00 00` then the data.
fn identity_reply(
    vendor: u16,
    dtype: u16,
    code: u16,
    rev: [u8; 2],
    serial: u32,
    name: &str,
) -> Vec<u8> {
    let mut r = vec![0x81, 0x00, 0x00, 0x00];
    r.extend(vendor.to_le_bytes());
    r.extend(dtype.to_le_bytes());
    r.extend(code.to_le_bytes());
    r.extend(rev);
    r.extend(0x0030u16.to_le_bytes());
    r.extend(serial.to_le_bytes());
    r.push(name.len() as u8);
    r.extend(name.as_bytes());
    r.push(0x03);
    r
}

/// EIP-FirmwareChange_slice.pcap up to its Register Session (frames 1-15: RSLinx and a
/// real 1756-ENBT/A at 192.168.10.120), then a Logix-style session in its connection.
fn firmware_slice_then(dir: &Path, build: impl Fn(u32) -> Vec<(bool, Vec<u8>)>) -> ImportReport {
    let cap = read_cap(dir, "EIP-FirmwareChange_slice.pcap");
    // Frame 16 (index 15): the GAA request, session handle at bytes 4-7 of its header.
    let req = payload_of(&cap, 15);
    let session = u32::from_le_bytes(req[4..8].try_into().unwrap());
    let mut out = Cap {
        linktype: cap.linktype,
        recs: cap.recs[..15].to_vec(),
    };
    out.recs.extend(conversation(&cap, 15, 16, &build(session)));
    import_bytes("logix.pcap", &resegment::write(&out))
}

/// The issue's reproduction: a Logix engineering session reads the controller's identity
/// through the ENBT (Unconnected Send, route port 1 slot 0), asks an empty slot (the route
/// fails), reads a module's catalog string with Get_Attributes_All from another class (a
/// length-prefixed `0b 00 "1756-ENBT/A"`), and finally the ENBT's own identity. Before
/// issue 14 the controller's identity became the ENBT's address's, and the catalog
/// string was decoded as "vendor 11, device type 14129, product code 13877, revision
/// 45.69".
#[test]
fn cip_identity_only_from_paired_identity_requests_and_routed_ones_kept_apart() {
    let Some(dir) =
        captures_dir("cip_identity_only_from_paired_identity_requests_and_routed_ones_kept_apart")
    else {
        return;
    };
    let r = firmware_slice_then(&dir, |s| {
        let l61 = identity_reply(1, 14, 54, [20, 11], 0x00c0_ffee, "1756-L61/B LOGIX5561");
        // Routing failed (0xD2: the Unconnected Send's reply code), general status 1,
        // extended status 0x0204 (connection request timed out).
        let routing_failed = vec![0xd2, 0x00, 0x01, 0x01, 0x04, 0x02];
        // A catalog string as a CIP STRING (u16 length) with more attributes after it.
        let mut catalog = vec![0x81, 0x00, 0x00, 0x00, 0x0b, 0x00];
        catalog.extend(b"1756-ENBT/A");
        catalog.extend([0x01, 0x00, 0x02, 0x00, 0x33, 0x33, 0x33, 0x33]);
        let enbt = identity_reply(1, 12, 58, [4, 3], 0x0051_aec3, "1756-ENBT/A");
        vec![
            (
                true,
                send_rr(s, 1, &unconnected_send(&GAA_IDENTITY, &[0x01, 0x00])),
            ),
            (false, send_rr(s, 1, &l61)),
            (
                true,
                send_rr(s, 2, &unconnected_send(&GAA_IDENTITY, &[0x01, 0x03])),
            ),
            (false, send_rr(s, 2, &routing_failed)),
            // Get_Attributes_All to class 0x68 instance 1, through slot 0.
            (
                true,
                send_rr(
                    s,
                    3,
                    &unconnected_send(&[0x01, 0x02, 0x20, 0x68, 0x24, 0x01], &[0x01, 0x00]),
                ),
            ),
            (false, send_rr(s, 3, &catalog)),
            (true, send_rr(s, 4, &GAA_IDENTITY)),
            (false, send_rr(s, 4, &enbt)),
        ]
    });
    assert_clean(&r);
    let ids = enip_ids(&r);
    let ours: Vec<_> = ids.iter().filter(|(_, p, _)| p.is_none()).collect();
    assert_eq!(ours.len(), 1, "{ids:#?}");
    assert_eq!(ours[0].0, ip("192.168.10.120"));
    assert_eq!(ours[0].2.product_name, "1756-ENBT/A");
    assert_eq!(ours[0].2.serial, 0x0051_aec3);
    assert!(ids.iter().all(|(_, _, id)| id.vendor_id == 1), "{ids:#?}");
    let routed: Vec<_> = ids.iter().filter(|(_, p, _)| p.is_some()).collect();
    assert_eq!(routed.len(), 1, "{ids:#?}");
    assert_eq!(routed[0].0, ip("192.168.10.120"));
    assert_eq!(routed[0].1.as_deref(), Some("cip:1/0"));
    assert_eq!(routed[0].2.product_name, "1756-L61/B LOGIX5561");
    assert_eq!(routed[0].2.serial, 0x00c0_ffee);

    // Merge keeps the controller apart from the ENBT's own identity.
    let inv = otscout::inventory::merge::merge(
        &[otscout::inventory::merge::Input::from_raw(
            "logix.pcap",
            r.observations.clone(),
        )],
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
    );
    let asset = inv
        .assets
        .iter()
        .find(|a| a.ip == ip("192.168.10.120"))
        .expect("the enbt");
    let json = serde_json::to_value(asset).unwrap();
    // Neither the value nor a conflict of the ENBT's own fields is the controller's.
    for field in [
        "serial",
        "model",
        "product_name",
        "product_code",
        "device_type",
    ] {
        let f = json.get(field).map(|v| v.to_string()).unwrap_or_default();
        assert!(
            !f.contains("c0ffee") && !f.contains("L61") && !f.contains("12648430"),
            "{field}: {f}"
        );
    }
    assert!(
        json.get("serial")
            .map(|v| v.to_string())
            .unwrap_or_default()
            .contains("51aec3")
            || json
                .get("serial")
                .map(|v| v.to_string())
                .unwrap_or_default()
                .contains("5353155"),
        "{json}"
    );
    // The controller is the adapter's sub-asset at the route path, with its own fields.
    assert_eq!(asset.sub_assets.len(), 1, "{json}");
    let l61 = &asset.sub_assets[0];
    assert_eq!(l61.path.as_deref(), Some("cip:1/0"));
    assert_eq!(
        l61.serial.as_ref().map(|f| f.value.as_str()),
        Some("0x00c0ffee")
    );
}

/// A Multiple Service Packet (0x0A to the Message Router, Vol. 1 A-4.10): a count, the
/// offsets of each message from the count, then the messages. `reply` builds the reply
/// (`8a 00 00 00` then the same layout).
fn multiple_service(parts: &[&[u8]], reply: bool) -> Vec<u8> {
    let mut m = if reply {
        vec![0x8a, 0x00, 0x00, 0x00]
    } else {
        vec![0x0a, 0x02, 0x20, 0x02, 0x24, 0x01]
    };
    let mut offset = 2 + 2 * parts.len();
    m.extend((parts.len() as u16).to_le_bytes());
    for p in parts {
        m.extend((offset as u16).to_le_bytes());
        offset += p.len();
    }
    for p in parts {
        m.extend(*p);
    }
    m
}

/// An identity read inside a Multiple Service Packet sent through a route path, and one
/// through two nested Unconnected Sends, belong to the modules at those paths, never to
/// the answering ENBT (before, the path was dropped when the routed request was a
/// Multiple Service Packet, and the controller's identity became the ENBT's own).
#[test]
fn cip_identity_in_a_routed_multiple_service_packet_keeps_its_path() {
    let Some(dir) = captures_dir("cip_identity_in_a_routed_multiple_service_packet_keeps_its_path")
    else {
        return;
    };
    let r = firmware_slice_then(&dir, |s| {
        let l61 = identity_reply(1, 14, 54, [20, 11], 0x00c0_ffee, "1756-L61/B LOGIX5561");
        let remote = identity_reply(1, 14, 55, [21, 11], 0x00ba_d0c0, "1756-L62/B LOGIX5562");
        let inner_route = unconnected_send(&GAA_IDENTITY, &[0x01, 0x02]);
        vec![
            (
                true,
                send_rr(
                    s,
                    7,
                    &unconnected_send(
                        &multiple_service(
                            &[
                                &[0x0e, 0x02, 0x20, 0x01, 0x24, 0x01, 0x30, 0x07],
                                &GAA_IDENTITY,
                            ],
                            false,
                        ),
                        &[0x01, 0x00],
                    ),
                ),
            ),
            (
                true,
                send_rr(s, 8, &unconnected_send(&inner_route, &[0x01, 0x00])),
            ),
            (
                false,
                send_rr(
                    s,
                    7,
                    &multiple_service(&[&[0x8e, 0x00, 0x00, 0x00, 0x03], &l61], true),
                ),
            ),
            (false, send_rr(s, 8, &remote)),
        ]
    });
    assert_clean(&r);
    let ids = enip_ids(&r);
    assert!(
        ids.iter().all(|(_, p, _)| p.is_some()),
        "no identity of the enbt's own here: {ids:#?}"
    );
    let mut got: Vec<(String, String)> = ids
        .iter()
        .map(|(_, p, id)| (p.clone().unwrap(), id.product_name.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("cip:1/0".to_string(), "1756-L61/B LOGIX5561".to_string()),
            (
                "cip:1/0,1/2".to_string(),
                "1756-L62/B LOGIX5562".to_string()
            ),
        ]
    );
}

/// Get_Attribute_List (0x03) of the identity attributes of class 0x01 instance 1 is an
/// identity read too; the same list asked of another class is not (both hand-built, in
/// the real ENBT's session of EIP-FirmwareChange_slice.pcap).
#[test]
fn cip_identity_from_a_paired_get_attribute_list() {
    let Some(dir) = captures_dir("cip_identity_from_a_paired_get_attribute_list") else {
        return;
    };
    let list = |class: u8| {
        let mut r = vec![0x03, 0x02, 0x20, class, 0x24, 0x01, 0x07, 0x00];
        for a in 1u16..=7 {
            r.extend(a.to_le_bytes());
        }
        r
    };
    let mut reply = vec![0x83, 0x00, 0x00, 0x00, 0x07, 0x00];
    for (a, v) in [
        (1u16, vec![0x01, 0x00]),
        (2, vec![0x0c, 0x00]),
        (3, vec![0x3a, 0x00]),
        (4, vec![0x04, 0x03]),
        (5, vec![0x30, 0x00]),
        (6, 0x0051_aec3u32.to_le_bytes().to_vec()),
    ] {
        reply.extend(a.to_le_bytes());
        reply.extend([0, 0]);
        reply.extend(v);
    }
    reply.extend([0x07, 0x00, 0x00, 0x00, 0x0b]);
    reply.extend(b"1756-ENBT/A");
    let r = firmware_slice_then(&dir, |s| {
        vec![
            (true, send_rr(s, 5, &list(0x01))),
            (false, send_rr(s, 5, &reply)),
        ]
    });
    assert_clean(&r);
    let ids = enip_ids(&r);
    assert_eq!(ids.len(), 1, "{ids:#?}");
    assert_eq!(ids[0].0, ip("192.168.10.120"));
    assert_eq!(ids[0].1, None);
    assert_eq!(ids[0].2.product_name, "1756-ENBT/A");
    assert_eq!(ids[0].2.serial, 0x0051_aec3);
    let r = firmware_slice_then(&dir, |s| {
        vec![
            (true, send_rr(s, 5, &list(0x64))),
            (false, send_rr(s, 5, &reply)),
        ]
    });
    assert_clean(&r);
    assert_eq!(enip_ids(&r), vec![]);
}

/// A reply whose request the capture does not hold is not an identity (the same bytes
/// could answer any class), and neither is the reply to Get_Attributes_All of another
/// object: frames 17, 21, 23 of the real slice re-paired with rebuilt requests.
#[test]
fn cip_identity_replies_need_their_request() {
    let Some(dir) = captures_dir("cip_identity_replies_need_their_request") else {
        return;
    };
    let cap = read_cap(&dir, "EIP-FirmwareChange_slice.pcap");
    // As captured: paired, one identity.
    let r = import_bytes("fw.pcap", &resegment::write(&cap));
    assert_clean(&r);
    assert_eq!(enip_ids(&r).len(), 1);
    // Requests 16, 19 and 22 (indices 15, 18, 21) now ask class 0x64 instead of 0x01:
    // path `20 64 24 01` (the last CPF bytes of each request).
    let mut other = cap.clone();
    for i in [15, 18, 21] {
        let d = &mut other.recs[i].data;
        let n = d.len();
        assert_eq!(&d[n - 4..], &[0x20, 0x01, 0x24, 0x01], "frame {}", i + 1);
        d[n - 3] = 0x64;
    }
    let r = import_bytes("fw_other_class.pcap", &resegment::write(&other));
    assert_clean(&r);
    assert_eq!(enip_ids(&r), vec![]);
    // The requests dropped: the replies are unpaired.
    let mut unpaired = cap.clone();
    for i in [21, 18, 15] {
        unpaired.recs.remove(i);
    }
    let r = import_bytes("fw_unpaired.pcap", &resegment::write(&unpaired));
    assert_eq!(enip_ids(&r), vec![]);
}

/// Polling with Read Tag (nDPI_ethernetIP.pcap) never yields an identity.
#[test]
fn logix_read_tag_polling_is_no_identity() {
    let Some(dir) = captures_dir("logix_read_tag_polling_is_no_identity") else {
        return;
    };
    let r =
        passive::import_path(&dir.join("nDPI_ethernetIP.pcap"), &ImportOptions::default()).unwrap();
    assert_eq!(identities(&r).len(), 0);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

// ---------------------------------------------------------------------------------------
// Modbus: answered with zero objects.

fn eth_ipv4_tcp(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![
        0x02, 0, 0, 0, 0, dst[3], 0x02, 0, 0, 0, 0, src[3], 0x08, 0x00,
    ];
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0];
    ip.extend(src);
    ip.extend(dst);
    ip.extend(sport.to_be_bytes());
    ip.extend(dport.to_be_bytes());
    ip.extend(seq.to_be_bytes());
    ip.extend([0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    ip.extend(payload);
    let total = ip.len() as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    f.extend(ip);
    f
}

fn pcap_of(frames: &[Vec<u8>]) -> Vec<u8> {
    resegment::write(&Cap {
        linktype: 1,
        recs: frames
            .iter()
            .enumerate()
            .map(|(i, d)| Rec {
                ts_sec: 1_700_000_000 + i as u32,
                ts_usec: 0,
                data: d.clone(),
            })
            .collect(),
    })
}

/// A Modbus server answering Read Device Identification (FC 0x2B, MEI 0x0E, read code 1)
/// with zero objects (MB Application Protocol 1.1b3 6.21: read code, conformity level,
/// more follows, next object id, number of objects = 0).
fn modbus_zero_objects() -> Vec<u8> {
    let (c, s) = ([10, 7, 0, 1], [10, 7, 0, 2]);
    let req = [0x00, 0x07, 0, 0, 0, 5, 1, 0x2b, 0x0e, 0x01, 0x00];
    let rsp = [
        0x00, 0x07, 0, 0, 0, 8, 1, 0x2b, 0x0e, 0x01, 0x83, 0x00, 0x00, 0x00,
    ];
    pcap_of(&[
        eth_ipv4_tcp(c, s, 40000, 502, 1, &req),
        eth_ipv4_tcp(s, c, 502, 40000, 1, &rsp),
    ])
}

#[test]
fn modbus_identification_with_zero_objects_is_answered_not_identified() {
    let r = import_bytes("zero.pcap", &modbus_zero_objects());
    assert_clean(&r);
    assert_eq!(identities(&r).len(), 0);
    let answers: Vec<&String> = r
        .observations
        .iter()
        .filter_map(|o| match &o.fact {
            Fact::NoIdentity {
                protocol: Protocol::Modbus,
                answer,
                ..
            } if o.ip == ip("10.7.0.2") => Some(answer),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        [
            &"unit 1 answered read device identification with no identity objects (read code 1)"
                .to_string()
        ]
    );
}

// ---------------------------------------------------------------------------------------
// 4. Exit codes: an undecodable device message is not damage.

/// A Modbus identification reply whose object list overruns its frame (object 0 claims
/// 40 bytes, 3 follow): the device's fault, not the capture's.
fn modbus_undecodable() -> Vec<u8> {
    let (c, s) = ([10, 7, 0, 1], [10, 7, 0, 2]);
    let req = [0x00, 0x09, 0, 0, 0, 5, 1, 0x2b, 0x0e, 0x01, 0x00];
    let rsp = [
        0x00, 0x09, 0, 0, 0, 13, 1, 0x2b, 0x0e, 0x01, 0x83, 0x00, 0x00, 0x01, 0x00, 40, b'A', b'B',
        b'C',
    ];
    pcap_of(&[
        eth_ipv4_tcp(c, s, 40001, 502, 1, &req),
        eth_ipv4_tcp(s, c, 502, 40001, 1, &rsp),
    ])
}

#[test]
fn undecodable_device_messages_are_kept_counted_and_exit_0() {
    let r = import_bytes("bad_reply.pcap", &modbus_undecodable());
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.stats.undecoded, 1);
    assert_eq!(r.stats.undecoded_frames, vec![2]);
    let sus: Vec<&Observation> = r
        .observations
        .iter()
        .filter(|o| matches!(o.fact, Fact::Suspicious { .. }))
        .collect();
    assert_eq!(sus.len(), 1, "{:#?}", r.observations);
    assert_eq!(sus[0].ip, ip("10.7.0.2"));
    assert_eq!(
        sus[0].raw_hex.as_deref(),
        Some("00090000000d012b0e01830000010028414243")
    );

    let tmp = tempfile::tempdir().unwrap();
    let cap = tmp.path().join("bad_reply.pcap");
    std::fs::write(&cap, modbus_undecodable()).unwrap();
    let out = tmp.path().join("obs.json");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
        .arg("passive")
        .arg(&cap)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{text}");
    assert!(
        text.contains("1 protocol messages did not decode (frames 2)"),
        "{text}"
    );
    assert!(!text.contains("warning"), "{text}");
    let file: otscout::inventory::ObservationFile =
        serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert!(file.observations.iter().any(|o| matches!(
        &o.fact,
        Fact::Suspicious { reason, .. } if reason.contains("frame 2") && reason.contains("19 bytes")
    )));
}

/// Only the first 256 bytes of an undecodable message are kept; the reason says how long
/// it was.
#[test]
fn undecodable_messages_keep_256_bytes_and_their_length() {
    let (c, s) = ([10, 7, 0, 1], [10, 7, 0, 2]);
    // An encapsulation frame of an unknown command with a 600-byte body: framed, decoded
    // as raw, so it is made undecodable as a SendRRData whose CPF count is absurd.
    let mut f = vec![0x6f, 0x00];
    f.extend(600u16.to_le_bytes());
    f.extend([0; 20]);
    let mut body = vec![0, 0, 0, 0, 0, 0, 0xff, 0xff];
    body.resize(600, 0xee);
    f.extend(body);
    let r = import_bytes(
        "long.pcap",
        &pcap_of(&[eth_ipv4_tcp(s, c, 44818, 40002, 1, &f)]),
    );
    let sus: Vec<&Observation> = r
        .observations
        .iter()
        .filter(|o| matches!(o.fact, Fact::Suspicious { .. }))
        .collect();
    assert_eq!(sus.len(), 1, "{:#?}", r.observations);
    assert_eq!(sus[0].raw_hex.as_ref().map(String::len), Some(512));
    let Fact::Suspicious { reason, .. } = &sus[0].fact else {
        unreachable!()
    };
    assert!(reason.contains("624 bytes, the first 256 kept"), "{reason}");
}

// ---------------------------------------------------------------------------------------
// 5. UDP on ports that name no protocol.

fn eth_ipv4_udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![
        0x02, 0, 0, 0, 0, dst[3], 0x02, 0, 0, 0, 0, src[3], 0x08, 0x00,
    ];
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0];
    ip.extend(src);
    ip.extend(dst);
    ip.extend(sport.to_be_bytes());
    ip.extend(dport.to_be_bytes());
    ip.extend(((8 + payload.len()) as u16).to_be_bytes());
    ip.extend([0, 0]);
    ip.extend(payload);
    let total = ip.len() as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    f.extend(ip);
    f
}

/// enip_test.pcap's List Identity request and reply (frames 6 and 7), carried over UDP
/// between ports that name nothing (a device answering discovery from 44900).
#[test]
fn enip_list_identity_over_udp_on_another_port() {
    let Some(dir) = captures_dir("enip_list_identity_over_udp_on_another_port") else {
        return;
    };
    let cap = read_cap(&dir, "enip_test.pcap");
    let (req, rsp) = (payload_of(&cap, 5), payload_of(&cap, 6));
    let (c, s) = ([10, 8, 0, 1], [10, 8, 0, 2]);
    let r = import_bytes(
        "udp_other_port.pcap",
        &pcap_of(&[
            eth_ipv4_udp(c, s, 51000, 44900, &req),
            eth_ipv4_udp(s, c, 44900, 51000, &rsp),
        ]),
    );
    assert_clean(&r);
    let ids = enip_ids(&r);
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(ids[0].0, ip("10.8.0.2"));
    assert_eq!(ids[0].2.product_name, "1756-ENBT/A");
    assert!(r.observations.iter().any(|o| o.ip == ip("10.8.0.2")
        && matches!(
            o.fact,
            Fact::Service {
                port: 44900,
                protocol: Protocol::Enip,
                ..
            }
        )));
    assert!(r.observations.iter().any(|o| matches!(&o.fact,
        Fact::Declared { value, .. } if value.starts_with("enip on udp/44900"))));
    // Random datagrams between unknown ports stay unread.
    let r = import_bytes(
        "udp_noise.pcap",
        &pcap_of(&[eth_ipv4_udp(c, s, 51000, 44900, &req[..20])]),
    );
    assert_eq!(enip_ids(&r).len(), 0);
}

// ---------------------------------------------------------------------------------------
// Segmentation invariance over every shared capture.

/// The facts that must not depend on how TCP cut the streams: identities (with their
/// path), services, operations (without times) and roles (peers, with counts).
fn fact_set(r: &ImportReport) -> BTreeSet<String> {
    r.observations
        .iter()
        .filter_map(|o| {
            let fact = match &o.fact {
                Fact::Identity { .. } | Fact::Service { .. } | Fact::Peer { .. } => o.fact.clone(),
                Fact::Operation {
                    actor,
                    protocol,
                    kind,
                    function,
                    count,
                    ..
                } => Fact::Operation {
                    actor: *actor,
                    protocol: *protocol,
                    kind: *kind,
                    function: function.clone(),
                    count: *count,
                    first: None,
                    last: None,
                },
                _ => return None,
            };
            Some(format!(
                "{} {:?} {}",
                o.ip,
                o.path,
                serde_json::to_string(&fact).unwrap()
            ))
        })
        .collect()
}

fn every_capture(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            (name.ends_with(".pcap") || name.ends_with(".pcapng")).then_some(name)
        })
        .collect();
    files.sort();
    files
}

fn segmentation_invariance(seeds: std::ops::Range<u64>) {
    let Some(dir) = captures_dir("segmentation_invariance") else {
        return;
    };
    let files = every_capture(&dir);
    assert!(files.len() >= 20, "{files:?}");
    let mut rewritten = 0;
    for file in &files {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let cap = resegment::read(&bytes);
        let base = import_bytes(file, &resegment::write(&cap));
        let want = fact_set(&base);
        for seed in seeds.clone() {
            let shuffled = resegment::reshuffle(&cap, seed);
            rewritten += usize::from(shuffled.recs.len() != cap.recs.len());
            let r = import_bytes(file, &resegment::write(&shuffled));
            let got = fact_set(&r);
            assert!(
                got == want,
                "{file} seed {seed}: only in the original {:#?}\nonly re-segmented {:#?}",
                want.difference(&got).collect::<Vec<_>>(),
                got.difference(&want).collect::<Vec<_>>()
            );
            assert_eq!(r.warnings, base.warnings, "{file} seed {seed}");
        }
    }
    // The rewriting did something.
    assert!(rewritten > files.len(), "{rewritten}");
}

/// FINS over UDP (`omron_test.pcap` frames 17/18: Controller Data Read with SID 0xef and
/// the CP1L's answer): the answer is the controller's identity only when the request it
/// answers (same SID and command, sent by the host the answer goes to) was seen. The
/// engine used to give every FINS datagram an analyzer of its own, where a 05 01 answer
/// was taken alone: an unsolicited (or spoofed) answer became an identity.
#[test]
fn fins_udp_answer_is_an_identity_only_when_paired_with_its_request() {
    let test = "fins_udp_answer_is_an_identity_only_when_paired_with_its_request";
    let Some(dir) = captures_dir(test) else {
        return;
    };
    let cap = read_cap(&dir, "omron_test.pcap");
    // Records 15-18 (indices 14-17): two empty datagrams, the request, the answer.
    let udp_only = |keep: &dyn Fn(usize) -> bool, sid: Option<u8>| {
        let mut c = cap.clone();
        c.recs = cap.recs[14..18]
            .iter()
            .enumerate()
            .filter(|(i, _)| keep(*i + 14))
            .map(|(i, r)| {
                let mut r = r.clone();
                if let (Some(sid), 16) = (sid, i + 14) {
                    // Ethernet 14, IPv4 header, UDP 8, then FINS: SID at offset 9.
                    let ihl = usize::from(r.data[14] & 0x0f) * 4;
                    let at = 14 + ihl + 8 + 9;
                    assert_eq!(r.data[at], 0xef, "frame 17's SID");
                    r.data[at] = sid;
                }
                r
            })
            .collect();
        let r = import_bytes("omron_udp.pcap", &resegment::write(&c));
        identities(&r)
            .into_iter()
            .filter_map(|(o, id)| match id {
                Identity::Fins(f) => Some((o.ip, f.model.clone())),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let plc = ip("10.1.1.164");
    assert_eq!(
        udp_only(&|_| true, None),
        [(plc, "CP1L-EL20DR-D".to_string())]
    );
    // The answer alone: unsolicited.
    assert_eq!(udp_only(&|i| i != 16, None), []);
    // A request with another SID does not make the answer paired.
    assert_eq!(udp_only(&|_| true, Some(0x01)), []);
    // The answer before its request: not an answer to it.
    let mut c = cap.clone();
    c.recs = vec![cap.recs[17].clone(), cap.recs[16].clone()];
    let r = import_bytes("omron_udp_reversed.pcap", &resegment::write(&c));
    assert!(
        !identities(&r)
            .iter()
            .any(|(_, id)| matches!(id, Identity::Fins(_))),
        "{:#?}",
        r.observations
    );
}

/// The OPC UA server on TCP 12001 (`opc-ua-ap-method-wireshark-freeze.pcap`, a port that
/// names no protocol): identified from the payload, and the same facts whatever the TCP
/// segmentation of the first exchange. The client's Hello (frame 4) and the server's
/// Acknowledge (frame 6) are each cut at every offset, and then both a byte at a time.
/// The engine used to look at one segment per direction and start decoding at the next
/// segment: with the Hello cut, no segment was a whole UA message and the flow stayed
/// opaque (and with whole ones the first exchange was not replayed).
#[test]
fn opcua_on_another_port_gives_the_same_facts_whatever_the_first_segments() {
    let test = "opcua_on_another_port_gives_the_same_facts_whatever_the_first_segments";
    let Some(dir) = captures_dir(test) else {
        return;
    };
    let file = "opc-ua-ap-method-wireshark-freeze.pcap";
    let cap = read_cap(&dir, file);
    let base = import_bytes(file, &resegment::write(&cap));
    let server = ip("192.168.41.212");
    let opcua: Vec<_> = identities(&base)
        .into_iter()
        .filter(|(o, id)| o.ip == server && matches!(id, Identity::Opcua(_)))
        .collect();
    assert_eq!(opcua.len(), 1, "{:#?}", base.observations);
    assert!(
        base.observations.iter().any(|o| o.ip == server
            && matches!(
                o.fact,
                Fact::Service {
                    port: 12001,
                    protocol: Protocol::Opcua,
                    ..
                }
            )),
        "{:#?}",
        base.observations
    );
    let want = fact_set(&base);
    // Frame 4 (index 3) is the Hello, frame 6 (index 5) the Acknowledge.
    let hel = payload_of(&cap, 3);
    let ack = payload_of(&cap, 5);
    assert_eq!(&hel[..3], b"HEL");
    assert_eq!(&ack[..3], b"ACK");
    let mut cases: Vec<(usize, Vec<usize>)> = Vec::new();
    for cut in 1..hel.len() {
        cases.push((3, vec![cut]));
    }
    for cut in 1..ack.len() {
        cases.push((5, vec![cut]));
    }
    cases.push((3, (1..hel.len()).collect()));
    cases.push((5, (1..ack.len()).collect()));
    for (index, cuts) in &cases {
        let mut c = cap.clone();
        resegment::split_frame(&mut c, *index, cuts);
        let r = import_bytes(file, &resegment::write(&c));
        let got = fact_set(&r);
        assert!(
            got == want,
            "frame {} cut at {cuts:?}: only in the original {:#?}\nonly re-segmented {:#?}",
            index + 1,
            want.difference(&got).collect::<Vec<_>>(),
            got.difference(&want).collect::<Vec<_>>()
        );
        assert_eq!(r.warnings, base.warnings);
    }
    // Both at once, a byte at a time (the Acknowledge first: splitting it keeps the
    // Hello's index).
    let mut c = cap.clone();
    resegment::split_frame(&mut c, 5, &(1..ack.len()).collect::<Vec<_>>());
    resegment::split_frame(&mut c, 3, &(1..hel.len()).collect::<Vec<_>>());
    let r = import_bytes(file, &resegment::write(&c));
    assert_eq!(fact_set(&r), want);
    assert_eq!(r.stats.probe_capped, 0);
}

#[test]
fn segmentation_invariance_over_every_shared_capture() {
    segmentation_invariance(0..32);
}

/// The same with many more seeds (`cargo test -- --ignored segmentation`).
#[test]
#[ignore = "long: 200 re-segmentations of every capture"]
fn segmentation_invariance_over_every_shared_capture_long() {
    segmentation_invariance(0..200);
}

// ---------------------------------------------------------------------------------------
// Zeek logs counted but not read before: enip.log, cotp.log, s7comm_plus.log.

fn zeek(name: &str, text: &str) -> ImportReport {
    passive::import_bytes(name, text.as_bytes(), &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn peers(r: &ImportReport) -> BTreeSet<(IpAddr, IpAddr, Protocol, String)> {
    r.observations
        .iter()
        .filter_map(|o| match &o.fact {
            Fact::Peer {
                peer,
                protocol,
                role,
                ..
            } => Some((o.ip, *peer, *protocol, format!("{role:?}"))),
            _ => None,
        })
        .collect()
}

/// Field lists of cisagov/icsnpp-s7comm `scripts/icsnpp/s7comm/main.zeek` (COTP and
/// S7COMM_PLUS records: `is_orig`, `source_h`, ..., `pdu_code`; `version`, `opcode`,
/// `function_code`) and icsnpp-enip `scripts/icsnpp/enip/main.zeek` (ENIP_Header:
/// `enip_command_code`, `length`, `session_handle`, `enip_status`, `sender_context`,
/// `options`; no `is_orig` in that release).
#[test]
fn zeek_enip_cotp_and_s7comm_plus_logs_give_roles() {
    // cotp.log of a release without is_orig: the CC (0xd0) shows the server answered.
    let cotp = "#separator \\x09\n#path\tcotp\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tpdu_code\tpdu_name\n\
1700000000.0\tC1\t10.5.0.1\t40000\t10.5.0.2\t102\t0xe0\tConnection Request\n\
1700000000.1\tC1\t10.5.0.1\t40000\t10.5.0.2\t102\t0xd0\tConnection Confirm\n\
1700000000.2\tC1\t10.5.0.1\t40000\t10.5.0.2\t102\t0xf0\tData\n";
    let r = zeek("cotp.log", cotp);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.stats.skipped_lines, 0);
    assert_eq!(
        peers(&r),
        BTreeSet::from([
            (
                ip("10.5.0.1"),
                ip("10.5.0.2"),
                Protocol::S7,
                "Client".into()
            ),
            (
                ip("10.5.0.2"),
                ip("10.5.0.1"),
                Protocol::S7,
                "Server".into()
            ),
        ])
    );
    // s7comm_plus.log as JSON lines with is_orig: the answer is the server's row.
    let plus = concat!(
        r#"{"ts":1700000000.0,"uid":"C2","id.orig_h":"10.5.0.3","id.orig_p":40001,"id.resp_h":"10.5.0.4","id.resp_p":102,"is_orig":true,"source_h":"10.5.0.3","source_p":40001,"destination_h":"10.5.0.4","destination_p":102,"version":3,"opcode":"0x31","opcode_name":"Request","function_code":"0x054c","function_name":"GetMultiVariables","_path":"s7comm_plus"}"#,
        "\n",
        r#"{"ts":1700000000.1,"uid":"C2","id.orig_h":"10.5.0.3","id.orig_p":40001,"id.resp_h":"10.5.0.4","id.resp_p":102,"is_orig":false,"source_h":"10.5.0.4","source_p":102,"destination_h":"10.5.0.3","destination_p":40001,"version":3,"opcode":"0x32","opcode_name":"Response","function_code":"0x054c","function_name":"GetMultiVariables","_path":"s7comm_plus"}"#,
        "\n"
    );
    let r = zeek("s7comm_plus.log", plus);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(
        peers(&r),
        BTreeSet::from([
            (
                ip("10.5.0.3"),
                ip("10.5.0.4"),
                Protocol::S7Plus,
                "Client".into()
            ),
            (
                ip("10.5.0.4"),
                ip("10.5.0.3"),
                Protocol::S7Plus,
                "Server".into()
            ),
        ])
    );
    // enip.log without is_orig: traffic from the client; the server is not shown to have
    // answered by this log alone (conn.log would), so only the client's role is kept.
    let enip = "#separator \\x09\n#path\tenip\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tenip_command_code\tenip_command\tlength\tsession_handle\tenip_status\tsender_context\toptions\n\
1700000000.0\tC3\t10.5.0.5\t40002\t10.5.0.6\t44818\t0x63\tList Identity\t0\t0x00000000\tSuccess\t0x0000000000000000\t0x00000000\n";
    let r = zeek("enip.log", enip);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.stats.skipped_lines, 0);
    assert_eq!(
        peers(&r),
        BTreeSet::from([(
            ip("10.5.0.5"),
            ip("10.5.0.6"),
            Protocol::Enip,
            "Client".into()
        )])
    );
}

/// modbus_test_data_part1.pcap frames 76 and 78 carry 451 bytes each to port 502 that are
/// not Modbus (`0001 0000 8804 ...`: an MBAP length of 34820). Cut frame 76 after 351
/// bytes: before issue 14 the engine resynchronised on the second piece, which starts
/// `1000 0100 0088 04 05 ...` (an MBAP length of 136, unit 4, function 5) and framed the
/// garbage into a write_single_coil by 10.0.0.57 that the capture as recorded does not
/// show. The stream is now not read past bytes that cannot start a frame where one had
/// to start, however it was cut, and those bytes are kept as an undecodable message.
#[test]
fn garbage_on_a_protocol_port_frames_the_same_however_it_is_cut() {
    let Some(dir) = captures_dir("garbage_on_a_protocol_port_frames_the_same_however_it_is_cut")
    else {
        return;
    };
    let cap = read_cap(&dir, "modbus_test_data_part1.pcap");
    let base = import_bytes("garbage.pcap", &resegment::write(&cap));
    let mut cut = cap.clone();
    resegment::split_frame(&mut cut, 75, &[351]);
    assert_eq!(cut.recs.len(), cap.recs.len() + 1);
    let r = import_bytes("garbage_cut.pcap", &resegment::write(&cut));
    let writes = |r: &ImportReport| {
        r.observations
            .iter()
            .filter(|o| {
                o.ip == ip("10.0.0.8")
                    && matches!(o.fact, Fact::Operation { actor, .. } if actor == ip("10.0.0.57"))
            })
            .count()
    };
    assert_eq!(writes(&base), 0);
    assert_eq!(writes(&r), 0, "{:#?}", r.observations);
    assert_eq!(fact_set(&r), fact_set(&base));
    // The garbage is kept, not a warning: the capture is whole.
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert!(r.observations.iter().any(|o| o.ip == ip("10.0.0.57")
        && matches!(&o.fact, Fact::Suspicious { reason, .. } if reason.contains("frame 76"))));
}

/// A Modbus FC 43/14 read-device-identification request (read code 1, object 0) to
/// `unit`, and a reply with VendorName, ProductCode and MajorMinorRevision (Modbus
/// Application Protocol V1.1b3, 6.21: MEI 0x0E, read code, conformity, more follows, next
/// object, object count, then id/length/value per object); MBAP length = unit + PDU.
fn modbus_devid(tid: u16, unit: u8, objects: Option<[&str; 3]>) -> Vec<u8> {
    let mut pdu = vec![0x2b, 0x0e, 0x01];
    match objects {
        None => pdu.push(0x00),
        Some(objs) => {
            pdu.extend([0x81, 0x00, 0x00, 0x03]);
            for (id, v) in objs.iter().enumerate() {
                pdu.push(id as u8);
                pdu.push(v.len() as u8);
                pdu.extend(v.as_bytes());
            }
        }
    }
    let mut m = tid.to_be_bytes().to_vec();
    m.extend([0x00, 0x00]);
    m.extend(((pdu.len() + 1) as u16).to_be_bytes());
    m.push(unit);
    m.extend(pdu);
    m
}

/// A Modbus TCP gateway answering identities for two serial units behind it, on one
/// connection of modbus_example.pcap (frames up to 91 as captured, then the exchange on
/// the headers of frames 92 and 94): each unit becomes a sub-asset of the gateway's
/// address, the address itself carries neither identity (before issue 15 both folded into
/// 127.0.0.1's own fields as conflicting values).
#[test]
fn modbus_units_behind_a_gateway_become_its_sub_assets() {
    let Some(dir) = captures_dir("modbus_units_behind_a_gateway_become_its_sub_assets") else {
        return;
    };
    let cap = read_cap(&dir, "modbus_example.pcap");
    let mut out = Cap {
        linktype: cap.linktype,
        recs: cap.recs[..91].to_vec(),
    };
    out.recs.extend(conversation(
        &cap,
        91,
        93,
        &[
            (true, modbus_devid(0x100, 1, None)),
            (
                false,
                modbus_devid(0x100, 1, Some(["Schneider Electric", "ATV320", "v2.7"])),
            ),
            (true, modbus_devid(0x101, 2, None)),
            (
                false,
                modbus_devid(0x101, 2, Some(["Eaton", "PXM 2260", "1.0.3"])),
            ),
        ],
    ));
    let r = import_bytes("gateway.pcap", &resegment::write(&out));
    assert_clean(&r);
    let units: BTreeSet<u8> = identities(&r)
        .into_iter()
        .filter_map(|(_, id)| match id {
            Identity::Modbus(m) => Some(m.unit_id),
            _ => None,
        })
        .collect();
    assert_eq!(units, BTreeSet::from([1, 2]), "{:#?}", r.observations);
    let inv = otscout::inventory::merge::merge(
        &[otscout::inventory::merge::Input::from_raw(
            "gateway.pcap",
            r.observations.clone(),
        )],
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
    );
    let gw = inv
        .assets
        .iter()
        .find(|a| a.ip == ip("127.0.0.1"))
        .expect("the gateway");
    assert!(gw.manufacturer.is_none(), "{:#?}", gw.manufacturer);
    let subs: Vec<(&str, &str)> = gw
        .sub_assets
        .iter()
        .map(|s| {
            (
                s.path.as_deref().unwrap_or_default(),
                s.manufacturer.as_ref().map_or("", |f| f.value.as_str()),
            )
        })
        .collect();
    assert_eq!(
        subs,
        [
            ("modbus:unit/1", "Schneider Electric"),
            ("modbus:unit/2", "Eaton")
        ]
    );
}

/// Replaces every occurrence of `from` in `data` with `to` (same length).
fn replace_bytes(data: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut i = 0;
    while i + from.len() <= data.len() {
        if &data[i..i + from.len()] == from {
            data[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
}

/// An S7 station with two modules: s7ident.pcap's session (COTP CR called TSAP 0x0101,
/// rack 0 slot 1: the CPU 315-2 PN/DP of a snap7 server), then the same session again on another client
/// port with the called TSAP 0x0104 (slot 4) and another order number in its SZL 0x0011
/// answer (a CP 343-1, same length). Each becomes a sub-asset at its rack and slot
/// (before issue 15 the passive S7 analyzer folded both sessions' answers into one
/// identity of 172.17.0.2, keyed by port only).
#[test]
fn s7_sessions_to_two_rack_slot_tsaps_become_sub_assets() {
    let Some(dir) = captures_dir("s7_sessions_to_two_rack_slot_tsaps_become_sub_assets") else {
        return;
    };
    let cap = read_cap(&dir, "s7ident.pcap");
    let mut out = cap.clone();
    for r in &cap.recs {
        let Some(t) = resegment::tcp(cap.linktype, &r.data) else {
            continue;
        };
        let (_, sp, _, dp) = t.dir.clone();
        let (sp, dp) = if dp == 102 {
            (sp.wrapping_add(1), dp)
        } else {
            (sp, dp.wrapping_add(1))
        };
        let mut data = t.with_ports(&r.data, sp, dp);
        // COTP CR parameter 0xC2 (called TSAP), length 2 (ISO 8073 13.3.4; RFC 1006).
        replace_bytes(
            &mut data,
            &[0xc2, 0x02, 0x01, 0x01],
            &[0xc2, 0x02, 0x01, 0x04],
        );
        replace_bytes(&mut data, b"6ES7 315-2EH14-0AB0", b"6GK7 343-1EX30-0XE0");
        // A minute later, as a later session would be.
        out.recs.push(resegment::Rec {
            data,
            ts_sec: r.ts_sec + 60,
            ..r.clone()
        });
    }
    let r = import_bytes("station.pcap", &resegment::write(&out));
    assert_clean(&r);
    let tsaps: BTreeSet<Option<u16>> = identities(&r)
        .into_iter()
        .filter_map(|(_, id)| match id {
            Identity::S7(s) => Some(s.tsap),
            _ => None,
        })
        .collect();
    assert_eq!(tsaps, BTreeSet::from([Some(0x0101), Some(0x0104)]));
    let inv = otscout::inventory::merge::merge(
        &[otscout::inventory::merge::Input::from_raw(
            "station.pcap",
            r.observations.clone(),
        )],
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
    );
    let st = inv
        .assets
        .iter()
        .find(|a| a.ip == ip("172.17.0.2"))
        .expect("the station");
    assert!(st.model.is_none(), "{:#?}", st.model);
    let subs: Vec<(&str, &str)> = st
        .sub_assets
        .iter()
        .map(|s| {
            (
                s.path.as_deref().unwrap_or_default(),
                s.model.as_ref().map_or("", |f| f.value.as_str()),
            )
        })
        .collect();
    assert_eq!(
        subs,
        [
            ("s7:0/1", "6ES7 315-2EH14-0AB0"),
            ("s7:0/4", "6GK7 343-1EX30-0XE0")
        ]
    );
}
