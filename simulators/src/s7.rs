//! S7comm device model (server side) over ISO-on-TCP, written from RFC 1006 (TPKT),
//! ISO 8073 (COTP CR/CC/DT/DR) and the S7comm layout documented by the Wireshark
//! dissector (packet-s7comm.c, packet-s7comm_szl_ids.c) and Snap7.
//!
//! Sans-IO. One `Session` per TCP connection: COTP connect with a TSAP allowlist,
//! Setup Communication with a negotiated PDU size, userdata Read SZL with fragmentation
//! ("more follows" + follow-up requests) when the answer exceeds the PDU.

use crate::plant::{S7Config, S7Identity};
use crate::{Answer, Classified};

/// TPKT header length.
pub(crate) const HEADER_LEN: usize = 4;
/// Largest TPKT we accept from a client (the largest negotiable PDU is 960).
const MAX_TPKT: usize = 2048;

/// Total frame length from the TPKT header.
pub(crate) fn frame_len(header: &[u8]) -> Result<usize, String> {
    if header[0] != 3 {
        return Err(format!("tpkt version {} is not 3", header[0]));
    }
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if !(7..=MAX_TPKT).contains(&len) {
        return Err(format!("tpkt length {len} outside 7..={MAX_TPKT}"));
    }
    Ok(len)
}

/// The fields of an S7 PDU inside a COTP DT, if the frame holds one.
struct S7View<'a> {
    rosctr: u8,
    pdu_ref: [u8; 2],
    params: &'a [u8],
    data: &'a [u8],
}

fn s7_view(frame: &[u8]) -> Option<S7View<'_>> {
    // TPKT(4) + COTP DT (li=2, 0xF0, EOT) = 7, then the S7 header.
    if frame.len() < 17 || frame[5] != 0xf0 || frame[7] != 0x32 {
        return None;
    }
    let rosctr = frame[8];
    let header_len = if rosctr == 2 || rosctr == 3 { 12 } else { 10 };
    let plen = usize::from(u16::from_be_bytes([frame[13], frame[14]]));
    let dlen = usize::from(u16::from_be_bytes([frame[15], frame[16]]));
    let p0 = 7 + header_len;
    // Both lengths are untrusted: they must fit the bytes we have.
    if p0 + plen + dlen > frame.len() {
        return None;
    }
    Some(S7View {
        rosctr,
        pdu_ref: [frame[11], frame[12]],
        params: &frame[p0..p0 + plen],
        data: &frame[p0 + plen..p0 + plen + dlen],
    })
}

/// Names the request; the identity set is COTP CR/DR, Setup Communication, Read SZL
/// (and its follow-up).
pub(crate) fn classify(frame: &[u8]) -> Classified {
    let pdu_type = frame.get(5).copied().unwrap_or(0) & 0xf0;
    let (function, identity) = match pdu_type {
        0xe0 => ("cotp_connect_request".to_string(), true),
        0x80 => ("cotp_disconnect_request".into(), true),
        // An empty DT (STEP 7 sends one after each reply) carries nothing.
        0xf0 if frame.len() == 7 => ("cotp_data_empty".into(), true),
        0xf0 => match s7_view(frame) {
            Some(v) if v.rosctr == 1 => match v.params.first() {
                Some(0xf0) => ("setup_communication".into(), true),
                Some(0x04) => ("read_var".into(), false),
                Some(0x05) => ("write_var".into(), false),
                Some(0x28) => ("pi_service".into(), false),
                Some(0x29) => ("plc_stop".into(), false),
                Some(f) => (format!("job function 0x{f:02x}"), false),
                None => ("job".into(), false),
            },
            Some(v) if v.rosctr == 7 && v.params.len() >= 8 => {
                let group = v.params[5] & 0x0f;
                let sub = v.params[6];
                if group == 4 && sub == 1 {
                    if v.params[4] == 0x12 {
                        ("read_szl_followup".into(), true)
                    } else {
                        let id = v
                            .data
                            .get(4..6)
                            .map(|b| u16::from_be_bytes([b[0], b[1]]))
                            .unwrap_or(0);
                        (format!("read_szl 0x{id:04x}"), true)
                    }
                } else {
                    (format!("userdata group {group} subfunction {sub}"), false)
                }
            }
            Some(v) => (format!("s7 rosctr {}", v.rosctr), false),
            None => ("cotp_data".into(), false),
        },
        t => (format!("cotp type 0x{t:02x}"), false),
    };
    Classified { function, identity }
}

/// Per-connection S7 state.
#[derive(Debug, Default)]
pub(crate) struct Session {
    connected: bool,
    pdu: Option<u16>,
    next_seq: u8,
    pending: Option<Pending>,
}

#[derive(Debug)]
struct Pending {
    rest: Vec<u8>,
    seq: u8,
    dur: u8,
}

fn tpkt_dt(s7: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(7 + s7.len());
    out.extend_from_slice(&[3, 0]);
    out.extend_from_slice(&((7 + s7.len()) as u16).to_be_bytes());
    out.extend_from_slice(&[2, 0xf0, 0x80]);
    out.extend_from_slice(s7);
    out
}

fn userdata_reply(
    pdu_ref: [u8; 2],
    seq: u8,
    dur: u8,
    more: bool,
    err: u16,
    data: &[u8],
) -> Vec<u8> {
    let mut s7 = vec![0x32, 7, 0, 0, pdu_ref[0], pdu_ref[1], 0, 12];
    s7.extend_from_slice(&(data.len() as u16).to_be_bytes());
    s7.extend_from_slice(&[
        0x00,
        0x01,
        0x12,
        0x08,
        0x12,
        0x84,
        0x01,
        seq,
        dur,
        u8::from(more),
    ]);
    s7.extend_from_slice(&err.to_be_bytes());
    s7.extend_from_slice(data);
    tpkt_dt(&s7)
}

fn szl_data(chunk: &[u8]) -> Vec<u8> {
    let mut d = vec![0xff, 0x09];
    d.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
    d.extend_from_slice(chunk);
    d
}

/// Userdata error reply: "no data" return code 0x0a.
fn userdata_error(pdu_ref: [u8; 2], seq: u8, err: u16) -> Vec<u8> {
    userdata_reply(pdu_ref, seq, 0, false, err, &[0x0a, 0x00, 0x00, 0x00])
}

impl Session {
    /// Answers one complete TPKT frame.
    pub(crate) fn handle(&mut self, cfg: &S7Config, frame: &[u8]) -> Answer {
        let pdu_type = frame.get(5).copied().unwrap_or(0) & 0xf0;
        match pdu_type {
            0xe0 => self.connect(cfg, frame),
            0x80 => Answer::close(Vec::new()),
            0xf0 if self.connected && frame.len() == 7 => Answer::none(),
            0xf0 if self.connected => match s7_view(frame) {
                Some(v) => self.s7(cfg, &v),
                None => Answer::close(Vec::new()),
            },
            // Anything else (or data before connect) ends the connection, as a CPU does.
            _ => Answer::close(Vec::new()),
        }
    }

    fn connect(&mut self, cfg: &S7Config, frame: &[u8]) -> Answer {
        // CR: li(4) type(5) dst-ref(6,7) src-ref(8,9) class(10) params(11..5+li).
        let li = usize::from(frame[4]);
        if frame.len() < 11 || 5 + li > frame.len() || li < 6 {
            return Answer::close(Vec::new());
        }
        let src_ref = [frame[8], frame[9]];
        let mut i = 11;
        let end = 5 + li;
        let (mut src_tsap, mut dst_tsap, mut tpdu_size) = (None, None, 0x0a);
        while i + 2 <= end {
            let (code, len) = (frame[i], usize::from(frame[i + 1]));
            if i + 2 + len > end {
                break;
            }
            let v = &frame[i + 2..i + 2 + len];
            match (code, len) {
                (0xc0, 1) => tpdu_size = v[0],
                (0xc1, 2) => src_tsap = Some([v[0], v[1]]),
                (0xc2, 2) => dst_tsap = Some(u16::from_be_bytes([v[0], v[1]])),
                _ => {}
            }
            i += 2 + len;
        }
        let allowed = dst_tsap.is_some_and(|t| cfg.tsaps.contains(&t));
        if !allowed {
            // Disconnect request, reason 0x00 "not specified"; then the CPU closes.
            let dr = [
                3, 0, 0, 11, 6, 0x80, src_ref[0], src_ref[1], 0x00, 0x01, 0x00,
            ];
            return Answer::close(dr.to_vec());
        }
        self.connected = true;
        let src = src_tsap.unwrap_or([1, 0]);
        let dst = dst_tsap.unwrap_or(0x0102).to_be_bytes();
        let cc = [
            3, 0, 0, 22, 17, 0xd0, src_ref[0], src_ref[1], 0x00, 0x01, 0x00, 0xc0, 1, tpdu_size,
            0xc1, 2, src[0], src[1], 0xc2, 2, dst[0], dst[1],
        ];
        Answer::one(cc.to_vec())
    }

    fn s7(&mut self, cfg: &S7Config, v: &S7View<'_>) -> Answer {
        match v.rosctr {
            1 if v.params.first() == Some(&0xf0) && v.params.len() >= 8 => {
                let asked = u16::from_be_bytes([v.params[6], v.params[7]]);
                let pdu = asked.clamp(64, cfg.pdu_size.max(64));
                self.pdu = Some(pdu);
                let mut s7 = vec![0x32, 3, 0, 0, v.pdu_ref[0], v.pdu_ref[1], 0, 8, 0, 0, 0, 0];
                s7.extend_from_slice(&v.params[..6]);
                s7.extend_from_slice(&pdu.to_be_bytes());
                Answer::one(tpkt_dt(&s7))
            }
            _ if self.pdu.is_none() => Answer::close(Vec::new()),
            1 => {
                // Any other job: ack-data with error class 0x81 code 0x04
                // ("context not supported"), no parameters.
                let s7 = [
                    0x32,
                    3,
                    0,
                    0,
                    v.pdu_ref[0],
                    v.pdu_ref[1],
                    0,
                    0,
                    0,
                    0,
                    0x81,
                    0x04,
                ];
                Answer::one(tpkt_dt(&s7))
            }
            7 if v.params.len() >= 8 => self.userdata(cfg, v),
            _ => Answer::close(Vec::new()),
        }
    }

    fn userdata(&mut self, cfg: &S7Config, v: &S7View<'_>) -> Answer {
        let (method, group, sub, seq_in) =
            (v.params[4], v.params[5] & 0x0f, v.params[6], v.params[7]);
        if group != 4 || sub != 1 {
            return Answer::one(userdata_error(v.pdu_ref, 0, 0x8104));
        }
        let pdu = usize::from(self.pdu.unwrap_or(240));
        // header 10 + params 12 + data header 4
        let chunk = pdu.saturating_sub(26).max(16);
        if method == 0x12 {
            // Follow-up: the same sequence number as the fragment that said "more follows".
            let Some(p) = self.pending.take() else {
                return Answer::one(userdata_error(v.pdu_ref, seq_in, 0xd401));
            };
            if p.seq != seq_in {
                return Answer::one(userdata_error(v.pdu_ref, seq_in, 0xd401));
            }
            return Answer::one(self.fragment(v.pdu_ref, p, chunk));
        }
        let seq = if cfg.sequence_numbers {
            self.next_seq = self.next_seq.wrapping_add(1).max(1);
            self.next_seq
        } else {
            0
        };
        if v.data.len() < 8 || v.data[0] != 0xff {
            return Answer::one(userdata_error(v.pdu_ref, seq, 0xd401));
        }
        let id = u16::from_be_bytes([v.data[4], v.data[5]]);
        let index = u16::from_be_bytes([v.data[6], v.data[7]]);
        let Some(payload) = szl(&cfg.identity, id, index) else {
            // 0xd401: "invalid SZL ID" (Wireshark s7comm userdata error codes).
            return Answer::one(userdata_error(v.pdu_ref, seq, 0xd401));
        };
        let dur = if payload.len() > chunk {
            seq.wrapping_add(4)
        } else {
            0
        };
        let p = Pending {
            rest: payload,
            seq,
            dur,
        };
        Answer::one(self.fragment(v.pdu_ref, p, chunk))
    }

    fn fragment(&mut self, pdu_ref: [u8; 2], mut p: Pending, chunk: usize) -> Vec<u8> {
        if p.rest.len() > chunk {
            let rest = p.rest.split_off(chunk);
            let out = userdata_reply(pdu_ref, p.seq, p.dur, true, 0, &szl_data(&p.rest));
            self.pending = Some(Pending {
                rest,
                seq: p.seq,
                dur: p.dur,
            });
            out
        } else {
            userdata_reply(pdu_ref, p.seq, p.dur, false, 0, &szl_data(&p.rest))
        }
    }
}

fn padded(s: &str, len: usize, pad: u8) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    b.truncate(len);
    b.resize(len, pad);
    b
}

fn szl_0011_records(id: &S7Identity) -> Vec<(u16, Vec<u8>)> {
    let rec = |index: u16, mlfb: &str, bgtyp: u16, v: [u16; 2]| {
        let mut r = Vec::with_capacity(28);
        r.extend_from_slice(&index.to_be_bytes());
        r.extend_from_slice(&padded(mlfb, 20, b' '));
        r.extend_from_slice(&bgtyp.to_be_bytes());
        r.extend_from_slice(&v[0].to_be_bytes());
        r.extend_from_slice(&v[1].to_be_bytes());
        (index, r)
    };
    let mut v = vec![
        rec(1, &id.order_number, id.module_type_id, id.hardware_version),
        rec(6, &id.order_number, id.module_type_id, id.hardware_version),
        rec(7, "", id.module_type_id, id.firmware_version),
    ];
    if let Some(bl) = id.boot_loader_version {
        v.push(rec(0x81, "Boot Loader", 0, bl));
    }
    v
}

fn szl_001c_records(id: &S7Identity) -> Vec<(u16, Vec<u8>)> {
    let text = |index: u16, s: &str| {
        let mut r = index.to_be_bytes().to_vec();
        r.extend_from_slice(&padded(s, 32, 0));
        (index, r)
    };
    let mut nine = 9u16.to_be_bytes().to_vec();
    nine.extend_from_slice(&id.manufacturer_id.to_be_bytes());
    nine.extend_from_slice(&id.profile_id.to_be_bytes());
    nine.extend_from_slice(&id.profile_type.to_be_bytes());
    nine.resize(34, 0);
    vec![
        text(1, &id.as_name),
        text(2, &id.module_name),
        text(3, &id.plant_tag),
        text(4, &id.copyright),
        text(5, &id.serial_number),
        text(7, &id.module_type_name),
        text(8, &id.memory_card_serial),
        (9, nine),
        text(10, &id.oem_id),
        text(11, &id.location),
    ]
}

/// The SZL bytes (8-byte list header + records) for `id`/`index`, or `None` if unknown.
pub(crate) fn szl(ident: &S7Identity, id: u16, index: u16) -> Option<Vec<u8>> {
    let (reclen, records): (u16, Vec<Vec<u8>>) = match id {
        0x0000 => {
            let ids = [0x0000u16, 0x0011, 0x0111, 0x0f11, 0x001c, 0x011c, 0x0f1c];
            (2, ids.iter().map(|i| i.to_be_bytes().to_vec()).collect())
        }
        // The index is ignored for "all records" lists (nmap asks 0x0011 with index 1).
        0x0011 => (
            28,
            szl_0011_records(ident).into_iter().map(|r| r.1).collect(),
        ),
        0x001c => (
            34,
            szl_001c_records(ident).into_iter().map(|r| r.1).collect(),
        ),
        0x0111 => (
            28,
            szl_0011_records(ident)
                .into_iter()
                .filter(|r| r.0 == index)
                .map(|r| r.1)
                .collect(),
        ),
        0x011c => (
            34,
            szl_001c_records(ident)
                .into_iter()
                .filter(|r| r.0 == index)
                .map(|r| r.1)
                .collect(),
        ),
        0x0f11 => {
            let n = szl_0011_records(ident).len() as u16;
            return Some(header(id, index, 28, n));
        }
        0x0f1c => return Some(header(id, index, 34, 10)),
        _ => return None,
    };
    let mut out = header(id, index, reclen, records.len() as u16);
    for r in records {
        out.extend_from_slice(&r);
    }
    Some(out)
}

fn header(id: u16, index: u16, reclen: u16, count: u16) -> Vec<u8> {
    let mut h = Vec::with_capacity(8);
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&index.to_be_bytes());
    h.extend_from_slice(&reclen.to_be_bytes());
    h.extend_from_slice(&count.to_be_bytes());
    h
}
