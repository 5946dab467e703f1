//! The session driven in memory with fake time and real reply bytes from
//! captures/s7comm_reading_plc_status.pcap (ET 200S IM151-8 PN/DP CPU, 192.168.1.40)
//! and captures/s7ident.pcap (Snap7 server, 172.17.0.2); PDU and COTP references are
//! patched to the ones this session uses, nothing else.

use super::*;
use crate::inventory::S7Identity;
use crate::safety;

fn h(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(clean).unwrap()
}

/// An answer with its S7 PDU reference (bytes 11-12) set to `pdu_ref`.
fn with_ref(s: &str, pdu_ref: u16) -> Vec<u8> {
    let mut b = h(s);
    b[11..13].copy_from_slice(&pdu_ref.to_be_bytes());
    b
}

/// plc_status frame 9: CC (dst ref patched from 0x000f to our 0x0001).
const CC_IM151: &str = "0300 0016 11 d0 0001 0003 00 c0 01 0a c1 02 0100 c2 02 0102";
/// plc_status frame 11: setup ack_data, 240 granted.
const SETUP_ACK_240: &str =
    "0300 001b 02 f0 80 32 03 0000 0200 0008 0000 00 00 f0 00 0001 0001 00f0";
/// plc_status frame 59: SZL 0x0011, four records.
const SZL11_IM151: &str = "0300009902f080320700001100000c007c000112081284010200000000ff09007800110000001c0004000136455337203135312d38414230312d304142302000c000030001000636455337203135312d38414230312d304142302000c0000300010007202020202020202020202020202020202020202000c0560302060081426f6f74204c6f61646572202020202020202020000041200909";
/// plc_status frame 69: SZL 0x001C first piece, "more follows", sequence 2.
const SZL1C_PART1: &str = "030000f702f080320700001400000c00da000112081284010206010000ff0900d6001c00000022000a0001494d3135312d382d4350550000000000000000000000000000000000000000000002494d3135312d3820504e2f4450204350550000000000000000000000000000000003000000000000000000000000000000000000000000000000000000000000000000044f726967696e616c205369656d656e732045717569706d656e7400000000000000055320432d433654573734383832303132000000000000000000000000000000000007494d3135312d3820504e2f4450204350550000000000000000000000000000000008";
/// plc_status frame 72: SZL 0x001C last piece.
const SZL1C_PART2: &str = "030000a702f080320700001500000c008a000112081284010206000000ff0900864d4d4320323930304643314100000000000000000000000000000000000000000009002af60000010000000000000000000000000000000000000000000000000000000a0000000000000000000000000000000000000000000000000000000000000000000b0000000000000000000000000000000000000000000000000000000000000000";
/// plc_status frame 42: SZL error answer (0xD402, return code 0x0A).
const SZL_ERROR: &str = "0300002102f080320700000c00000c000400011208128401010000d4020a000000";
/// s7ident frame 6: Snap7 CC (dst ref 0x0001), TSAP 0x0101.
const CC_SNAP7: &str = "0300001611d00001000100c0010ac1020100c2020101";
/// s7ident frame 9: setup ack_data, 480.
const SETUP_ACK_480: &str = "0300001b02f080320300000000000800000000f0000001000101e0";
/// s7ident frame 11: SZL 0x0011.
const SZL11_SNAP7: &str = "0300009902f080320700000100000c007c000112081284010000000000ff09007800110000001c0004000136455337203331352d32454831342d304142302000c000040001000636455337203331352d32454831342d304142302000c0000400010007202020202020202020202020202020202020202000c0560302060081426f6f74204c6f61646572202020202020202020000041200909";
/// s7ident frame 13: SZL 0x001C, unfragmented.
const SZL1C_SNAP7: &str = "0300017d02f080320700000200000c0160000112081284010000000000ff09015c001c00000022000a0001534e4150372d53455256455200000000000000000000000000000000000000000002435055203331352d3220504e2f445000000000000000000000000000000000000003000000000000000000000000000000000000000000000000000000000000000000044f726967696e616c205369656d656e732045717569706d656e7400000000000000055320432d433255523238393232303132000000000000000000000000000000000007435055203331352d3220504e2f4450000000000000000000000000000000000000084d4d4320323637464631314600000000000000000000000000000000000000000009002af60000010000000000000000000000000000000000000000000000000000000a0000000000000000000000000000000000000000000000000000000000000000000b0000000000000000000000000000000000000000000000000000000000000000";
/// A COTP DR refusing a TSAP (shape per ISO 8073 13.5; reason 0x00 "not specified").
const DR_REFUSE: &str = "0300 000b 06 80 0001 0003 00";

fn cfg(tsaps: &[u16]) -> S7SessionConfig {
    S7SessionConfig {
        port: 102,
        tsaps: tsaps.to_vec(),
        local_tsap: 0x0100,
        szl_ids: vec![0x0011, 0x001C],
        pdu_length: 480,
        response_timeout: Duration::from_secs(2),
        disconnect_wait: Duration::from_millis(500),
        max_szl_pieces: DEFAULT_MAX_SZL_PIECES,
        cotp_src_ref: 1,
        first_pdu_ref: 1,
    }
}

/// Unwraps a Send step, checking the guard accepts the request.
fn sent(step: Step) -> SafeRequest {
    match step {
        Step::Send(r) => {
            safety::emit(&r).unwrap_or_else(|e| panic!("{r:?}: {e}"));
            r
        }
        other => panic!("expected Send, got {other:?}"),
    }
}

fn pdu_ref(r: &SafeRequest) -> u16 {
    match r {
        SafeRequest::S7(Safe::Setup(s)) => s.pdu_ref,
        SafeRequest::S7(Safe::ReadSzl(s)) => s.pdu_ref,
        SafeRequest::S7(Safe::ReadSzlFollowUp(s)) => s.pdu_ref,
        other => panic!("no pdu ref in {other:?}"),
    }
}

fn identity(f: &[Finding]) -> S7Identity {
    let ids: Vec<&S7Identity> = f
        .iter()
        .filter_map(|f| match &f.fact {
            Fact::Identity {
                identity: Identity::S7(id),
            } => Some(id.as_ref()),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 1, "one identity in {f:?}");
    ids[0].clone()
}

/// Connect, CC, setup: returns the session waiting for the first SZL answer.
fn up_to_szl(s: &mut S7Session, t: Instant, cc: &str, ack: &str) -> SafeRequest {
    let cr = sent(s.on_connected(t));
    assert!(matches!(cr, SafeRequest::S7(Safe::Connect(c)) if c.called_tsap == s.tsap()));
    let setup = sent(s.on_bytes(t, &h(cc)));
    let SafeRequest::S7(Safe::Setup(su)) = setup else {
        panic!("not setup: {setup:?}")
    };
    assert_eq!(su.pdu_length, 480);
    sent(s.on_bytes(t, &with_ref(ack, su.pdu_ref)))
}

#[test]
fn fragmented_identity_from_real_im151_answers() {
    let t = Instant::now();
    let mut s = S7Session::new(cfg(&[0x0102]));
    let r11 = up_to_szl(&mut s, t, CC_IM151, SETUP_ACK_240);
    assert_eq!(s.negotiated_pdu_length(), Some(240));
    assert!(
        matches!(r11, SafeRequest::S7(Safe::ReadSzl(r)) if r.szl_id == 0x0011 && r.szl_index == 0)
    );
    // Deliver the answer one byte at a time: framing must wait for the whole TPKT.
    let ans = with_ref(SZL11_IM151, pdu_ref(&r11));
    for b in &ans[..ans.len() - 1] {
        assert_eq!(s.on_bytes(t, std::slice::from_ref(b)), Step::Wait);
    }
    let r1c = sent(s.on_bytes(t, &ans[ans.len() - 1..]));
    assert!(matches!(r1c, SafeRequest::S7(Safe::ReadSzl(r)) if r.szl_id == 0x001C));
    let fu = sent(s.on_bytes(t, &with_ref(SZL1C_PART1, pdu_ref(&r1c))));
    let SafeRequest::S7(Safe::ReadSzlFollowUp(fu)) = fu else {
        panic!("not a follow-up: {fu:?}")
    };
    assert_eq!(
        fu.sequence_number, 2,
        "follow-up echoes the answer's sequence"
    );
    let dr = sent(s.on_bytes(t, &with_ref(SZL1C_PART2, fu.pdu_ref)));
    assert_eq!(
        dr,
        SafeRequest::S7(Safe::Disconnect(CotpDisconnect {
            dst_ref: 0x0003,
            src_ref: 0x0001
        }))
    );
    assert_eq!(s.poll_timeout(), Some(t + Duration::from_millis(500)));
    assert_eq!(s.on_connection_lost(t, ConnectionLoss::Closed), Step::Done);
    let f = s.take_findings();
    let id = identity(&f);
    assert_eq!(id.order_number.as_deref(), Some("6ES7 151-8AB01-0AB0"));
    assert_eq!(id.firmware.as_deref(), Some("V3.2.6"));
    assert_eq!(id.as_name.as_deref(), Some("IM151-8-CPU"));
    assert_eq!(id.memory_card_serial.as_deref(), Some("MMC 2900FC1A"));
    assert_eq!(id.serial.as_deref(), Some("S C-C6TW74882012"));
    assert_eq!(id.tsap, Some(0x0102));
    assert_eq!(f.len(), 1, "nothing but the identity: {f:?}");
    let raw = f[0].raw.as_ref().unwrap();
    assert_eq!(
        raw.len(),
        ans.len() + h(SZL1C_PART1).len() + h(SZL1C_PART2).len()
    );
}

#[test]
fn refused_tsap_then_next_tsap_on_a_new_connection() {
    let t = Instant::now();
    let mut s = S7Session::new(cfg(&[0x0102, 0x0101]));
    sent(s.on_connected(t));
    assert_eq!(s.on_bytes(t, &h(DR_REFUSE)), Step::Reconnect);
    assert_eq!(s.poll_timeout(), None);
    let r11 = up_to_szl(&mut s, t, CC_SNAP7, SETUP_ACK_480);
    assert_eq!(s.negotiated_pdu_length(), Some(480));
    assert_eq!(s.identity_so_far(), None);
    let r1c = sent(s.on_bytes(t, &with_ref(SZL11_SNAP7, pdu_ref(&r11))));
    // Known from SZL 0x0011 before SZL 0x001C goes out (vendor rules apply now).
    match s.identity_so_far() {
        Some(Identity::S7(id)) => {
            assert_eq!(id.order_number.as_deref(), Some("6ES7 315-2EH14-0AB0"));
        }
        other => panic!("no identity so far: {other:?}"),
    }
    let dr = sent(s.on_bytes(t, &with_ref(SZL1C_SNAP7, pdu_ref(&r1c))));
    assert!(matches!(dr, SafeRequest::S7(Safe::Disconnect(_))));
    // The CPU does not close: the session gives up waiting at the deadline.
    assert_eq!(s.on_timeout(t + Duration::from_millis(499)), Step::Wait);
    assert_eq!(s.on_timeout(t + Duration::from_millis(500)), Step::Done);
    let f = s.take_findings();
    assert!(matches!(&f[0].fact, Fact::Negative { answer, .. } if answer.contains("0x0102")));
    let id = identity(&f);
    assert_eq!(id.order_number.as_deref(), Some("6ES7 315-2EH14-0AB0"));
    assert_eq!(id.as_name.as_deref(), Some("SNAP7-SERVER"));
    assert_eq!(id.tsap, Some(0x0101));
}

#[test]
fn tsap_refused_by_close_is_negative_and_last_tsap_ends() {
    let t = Instant::now();
    let mut s = S7Session::new(cfg(&[0x0102]));
    sent(s.on_connected(t));
    assert_eq!(s.on_connection_lost(t, ConnectionLoss::Closed), Step::Done);
    let f = s.take_findings();
    assert_eq!(f.len(), 1);
    assert!(matches!(
        &f[0].fact,
        Fact::Negative {
            protocol: Protocol::S7,
            ..
        }
    ));
}

#[test]
fn szl_error_is_negative_and_the_next_id_is_read() {
    let t = Instant::now();
    let mut s = S7Session::new(cfg(&[0x0102]));
    let r11 = up_to_szl(&mut s, t, CC_IM151, SETUP_ACK_240);
    let r1c = sent(s.on_bytes(t, &with_ref(SZL_ERROR, pdu_ref(&r11))));
    assert!(matches!(r1c, SafeRequest::S7(Safe::ReadSzl(r)) if r.szl_id == 0x001C));
    let dr = sent(s.on_bytes(t, &with_ref(SZL1C_SNAP7, pdu_ref(&r1c))));
    assert!(matches!(dr, SafeRequest::S7(Safe::Disconnect(_))));
    assert_eq!(s.on_connection_lost(t, ConnectionLoss::Closed), Step::Done);
    let f = s.take_findings();
    assert!(
        matches!(&f[0].fact, Fact::Negative { answer, .. } if answer.contains("0x0011") && answer.contains("0xd402"))
    );
    let id = identity(&f);
    assert_eq!(id.firmware, None, "0x0011 said no");
    assert_eq!(id.module_name.as_deref(), Some("CPU 315-2 PN/DP"));
}

#[test]
fn silence_is_a_timeout_and_nothing_more_is_sent() {
    let t = Instant::now();
    let mut s = S7Session::new(cfg(&[0x0102, 0x0101]));
    let r11 = up_to_szl(&mut s, t, CC_IM151, SETUP_ACK_240);
    let _ = r11;
    let deadline = t + Duration::from_secs(2);
    assert_eq!(s.poll_timeout(), Some(deadline));
    assert_eq!(
        s.on_timeout(deadline - Duration::from_millis(1)),
        Step::Wait
    );
    // No COTP DR, no next SZL id, no other TSAP: the driver closes with FIN.
    assert_eq!(s.on_timeout(deadline), Step::Done);
    assert_eq!(s.poll_timeout(), None);
    // A late answer before the close changes nothing.
    assert_eq!(
        s.on_bytes(deadline, &with_ref(SZL11_IM151, pdu_ref(&r11))),
        Step::Done
    );
    let f = s.take_findings();
    assert!(matches!(
        f[0].fact,
        Fact::NoAnswer {
            outcome: NoAnswerKind::Timeout,
            ..
        }
    ));
    assert_eq!(f[0].request, "s7.read_szl");
    assert_eq!(f.len(), 1);
}

#[test]
fn silent_cpu_on_connect_is_not_tried_on_other_tsaps() {
    let t = Instant::now();
    let mut s = S7Session::new(cfg(&[0x0102, 0x0101]));
    sent(s.on_connected(t));
    assert_eq!(s.on_timeout(t + Duration::from_secs(2)), Step::Done);
    let f = s.take_findings();
    assert!(matches!(
        f[0].fact,
        Fact::NoAnswer {
            outcome: NoAnswerKind::Timeout,
            ..
        }
    ));
}

#[test]
fn connect_refused_is_no_answer() {
    let t = Instant::now();
    let mut s = S7Session::new(cfg(&[0x0102]));
    assert_eq!(s.on_connection_lost(t, ConnectionLoss::Refused), Step::Done);
    assert!(matches!(
        s.take_findings()[0].fact,
        Fact::NoAnswer {
            outcome: NoAnswerKind::Refused,
            ..
        }
    ));
}

#[test]
fn s7comm_plus_answer_is_reported_and_disconnected() {
    let t = Instant::now();
    let mut s = S7Session::new(cfg(&[0x0102]));
    sent(s.on_connected(t));
    sent(s.on_bytes(t, &h(CC_IM151)));
    let plus = h("0300 0014 02 f0 80 72 01 0004 32 0000 0000 7200 0000");
    let dr = sent(s.on_bytes(t, &plus));
    assert!(matches!(dr, SafeRequest::S7(Safe::Disconnect(_))));
    let f = s.take_findings();
    assert!(matches!(
        &f[0].fact,
        Fact::Negative { protocol: Protocol::S7Plus, answer, .. } if answer.contains("s7comm-plus")
    ));
    assert_eq!(f[0].raw.as_deref(), Some(plus.as_slice()));
}

#[test]
fn not_tpkt_is_not_this_protocol() {
    let t = Instant::now();
    let mut s = S7Session::new(cfg(&[0x0102]));
    sent(s.on_connected(t));
    assert_eq!(s.on_bytes(t, b"HTTP/1.1 400 Bad Request\r\n"), Step::Done);
    assert!(matches!(
        s.take_findings()[0].fact,
        Fact::NoAnswer {
            outcome: NoAnswerKind::NotThisProtocol,
            ..
        }
    ));
}

#[test]
fn answers_are_matched_by_pdu_reference() {
    let t = Instant::now();
    let mut s = S7Session::new(cfg(&[0x0102]));
    let r11 = up_to_szl(&mut s, t, CC_IM151, SETUP_ACK_240);
    // A late answer to the setup (an earlier reference) is dropped.
    assert_eq!(s.on_bytes(t, &with_ref(SETUP_ACK_240, 1)), Step::Wait);
    // An answer to a reference never sent is suspicious and ends the exchange.
    let dr = sent(s.on_bytes(t, &with_ref(SZL11_IM151, pdu_ref(&r11) + 100)));
    assert!(matches!(dr, SafeRequest::S7(Safe::Disconnect(_))));
    let f = s.take_findings();
    assert!(
        matches!(&f[0].fact, Fact::Suspicious { reason, .. } if reason.contains("pdu reference"))
    );
}

#[test]
fn cc_for_another_reference_is_suspicious() {
    let t = Instant::now();
    let mut s = S7Session::new(cfg(&[0x0102]));
    sent(s.on_connected(t));
    let mut cc = h(CC_IM151);
    cc[6] = 0x7f;
    assert_eq!(s.on_bytes(t, &cc), Step::Done);
    assert!(matches!(s.take_findings()[0].fact, Fact::Suspicious { .. }));
}

#[test]
fn endless_more_follows_is_capped() {
    let t = Instant::now();
    let mut c = cfg(&[0x0102]);
    c.szl_ids = vec![0x001C];
    c.max_szl_pieces = 3;
    let mut s = S7Session::new(c);
    let mut req = up_to_szl(&mut s, t, CC_IM151, SETUP_ACK_240);
    let mut follow_ups = 0;
    loop {
        match sent(s.on_bytes(t, &with_ref(SZL1C_PART1, pdu_ref(&req)))) {
            r @ SafeRequest::S7(Safe::ReadSzlFollowUp(_)) => {
                follow_ups += 1;
                req = r;
            }
            SafeRequest::S7(Safe::Disconnect(_)) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(follow_ups, 2, "three pieces at most");
    let f = s.take_findings();
    assert!(matches!(&f[0].fact, Fact::Suspicious { reason, .. } if reason.contains("pieces")));
}

#[test]
fn undecodable_answer_is_suspicious_with_raw_bytes() {
    let t = Instant::now();
    let mut s = S7Session::new(cfg(&[0x0102]));
    let r11 = up_to_szl(&mut s, t, CC_IM151, SETUP_ACK_240);
    // The S7 parameter length points past the end of the frame.
    let mut bad = with_ref(SZL11_IM151, pdu_ref(&r11));
    bad[14] = 0xff;
    let dr = sent(s.on_bytes(t, &bad));
    assert!(matches!(dr, SafeRequest::S7(Safe::Disconnect(_))));
    let f = s.take_findings();
    assert!(matches!(f[0].fact, Fact::Suspicious { .. }));
    assert_eq!(f[0].raw.as_deref(), Some(bad.as_slice()));
}

#[test]
fn setup_error_is_negative() {
    let t = Instant::now();
    let mut s = S7Session::new(cfg(&[0x0102]));
    sent(s.on_connected(t));
    let su = sent(s.on_bytes(t, &h(CC_IM151)));
    let mut ack = with_ref(SETUP_ACK_240, pdu_ref(&su));
    ack[17] = 0x81;
    ack[18] = 0x04;
    let dr = sent(s.on_bytes(t, &ack));
    assert!(matches!(dr, SafeRequest::S7(Safe::Disconnect(_))));
    let f = s.take_findings();
    assert!(matches!(&f[0].fact, Fact::Negative { answer, .. } if answer.contains("setup")));
}

#[test]
fn aborted_session_still_reports_what_it_read() {
    let t = Instant::now();
    let mut s = S7Session::new(cfg(&[0x0102]));
    let r11 = up_to_szl(&mut s, t, CC_IM151, SETUP_ACK_240);
    sent(s.on_bytes(t, &with_ref(SZL11_IM151, pdu_ref(&r11))));
    // The driver stops here (window ended): the 0x0011 identity is not lost.
    let f = s.take_findings();
    let id = identity(&f);
    assert_eq!(id.firmware.as_deref(), Some("V3.2.6"));
    assert_eq!(id.as_name, None);
    assert!(s.take_findings().is_empty(), "reported once");
}

#[test]
fn bytes_while_not_connected_are_ignored() {
    let t = Instant::now();
    let mut s = S7Session::new(cfg(&[0x0102, 0x0101]));
    sent(s.on_connected(t));
    assert_eq!(s.on_bytes(t, &h(DR_REFUSE)), Step::Reconnect);
    assert_eq!(s.on_bytes(t, &h(CC_IM151)), Step::Wait);
    let cr = sent(s.on_connected(t));
    assert!(matches!(cr, SafeRequest::S7(Safe::Connect(c)) if c.called_tsap == 0x0101));
}

/// The dry-run plan lists, per TSAP, what the session sends on that TSAP's connection
/// to a CPU that answers everything: driven here against in-memory answers, the
/// first TSAP answering, then the first refusing (COTP DR) and the second answering.
/// The session ends an answered connection with a COTP DR, which the plan does not
/// list (the scan's request estimate counts it).
#[test]
fn plan_is_what_the_session_sends() {
    use crate::protocols::plan::shown;
    let mut p = crate::profile::builtin("conservative").unwrap().profile;
    p.s7.tsaps = vec![0x0102, 0x0200];
    p.s7.szl_ids = vec![0x0011, 0x001C];
    let plan = super::super::plan::probe_plan(&p);
    assert_eq!(plan.connections.len(), 2);
    for (answering, conn) in plan.connections.iter().enumerate() {
        let t = Instant::now();
        let mut s = S7Session::new(S7SessionConfig::from_profile(&p));
        for _ in 0..answering {
            sent(s.on_connected(t));
            assert_eq!(s.on_bytes(t, &h(DR_REFUSE)), Step::Reconnect);
        }
        let mut on_conn = vec![sent(s.on_connected(t))];
        on_conn.push(sent(s.on_bytes(t, &h(CC_IM151))));
        on_conn.push(sent(
            s.on_bytes(t, &with_ref(SETUP_ACK_480, pdu_ref(&on_conn[1]))),
        ));
        on_conn.push(sent(
            s.on_bytes(t, &with_ref(SZL11_SNAP7, pdu_ref(&on_conn[2]))),
        ));
        let dr = sent(s.on_bytes(t, &with_ref(SZL1C_SNAP7, pdu_ref(&on_conn[3]))));
        assert!(matches!(dr, SafeRequest::S7(Safe::Disconnect(_))), "{dr:?}");
        assert_eq!(shown(&on_conn), shown(&conn.requests), "{}", conn.purpose);
    }
}
