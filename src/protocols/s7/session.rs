//! The S7comm probe session: COTP connect per TSAP, Setup Communication, Read SZL
//! 0x0011 and 0x001C (with follow-ups for fragmented answers), a clean disconnect.
//!
//! A sans-IO state machine over [`crate::wire::s7`]: it never touches a socket or a clock
//! (the driver passes `now`), and it only ever asks for the five S7 [`SafeRequest`]s.
//!
//! What it does, one request in flight at a time:
//! - sends a COTP CR with the first called TSAP of the config; a CPU that answers with a
//!   COTP DR, or closes the connection, refused that TSAP: a [`Fact::Negative`], then
//!   [`Step::Reconnect`] (the driver closes, cools down, reconnects) for the next TSAP;
//! - sends Setup Communication with the configured PDU length and keeps the smaller PDU
//!   the CPU grants (an error answer is a negative finding);
//! - reads each configured SZL id at index 0, once each; while an answer says "more
//!   follows" it sends the follow-up with the answer's sequence number, at most
//!   [`S7SessionConfig::max_szl_pieces`] pieces, and stitches the pieces together;
//!   an S7 error answer for an SZL id is a negative finding and the next id is read;
//! - disconnects with a COTP DR and waits briefly for the CPU to close;
//! - after a response timeout sends nothing more on that connection (no follow-up, no
//!   next SZL id, no DR): the request may still be pending in the CPU, and a late answer
//!   must not meet a new request. The driver closes TCP with FIN; no other TSAP is tried.
//!
//! Outcomes: one [`Fact::Identity`] when any SZL record answered (firmware from SZL 0x0011
//! record 0x0007); [`Fact::Negative`] for refusals (a refused TSAP, a refused setup, an SZL
//! error, S7comm-plus only); [`Fact::NoAnswer`] for silence, refusal, a reset or a reply
//! that is not TPKT at all; [`Fact::Suspicious`] for a TPKT reply that does not decode or
//! does not match its request (bytes kept).
//!
//! Every reply is matched to its request: the CC's destination reference must be the CR's
//! source reference, S7 answers must echo the request's PDU reference. A late answer to
//! a request that already timed out is recognised by its PDU reference and dropped.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::Safe;
use super::safe::{
    CotpConnect, CotpDisconnect, S7ReadSzl, S7ReadSzlFollowUp, S7SetupCommunication,
};
use crate::inventory::{Fact, Identity, NoAnswerKind, Protocol};
use crate::profile::Profile;
use crate::protocols::s7::identity::to_identity;
use crate::protocols::session::{ConnectionLoss, Finding, Session, Step};
use crate::safety::SafeRequest;
use crate::wire::s7::{Body, Cotp, Frame, Payload, Rosctr, SzlList, SzlReassembler, frame_len};

/// Default cap on SZL pieces per answer. A 240-byte PDU carries about 200 bytes of list
/// data, so 8 pieces cover 1.6 KiB, far more than the identity lists (348 bytes) need.
pub const DEFAULT_MAX_SZL_PIECES: usize = 8;
/// COTP TPDU size asked for: code 0x0a = 1024 bytes (what STEP 7 and Snap7 ask).
pub const TPDU_SIZE_1024: u8 = 0x0a;
/// The largest S7 PDU otscout sends (Read SZL and its follow-up: 10 + 8 + 8 and
/// 10 + 12 + 4 bytes): a CPU that grants less cannot be asked anything.
pub const LARGEST_REQUEST_PDU: u16 = 26;

/// Plain data the scan driver builds from a [`Profile`]. Ports and sockets are the
/// driver's business; `port` is only copied into facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S7SessionConfig {
    /// The port the driver connects to, reported in facts.
    pub port: u16,
    /// Called (remote) TSAPs to try, in order, one connection each.
    pub tsaps: Vec<u16>,
    /// Calling (local) TSAP.
    pub local_tsap: u16,
    /// SZL ids to read at index 0, in order, once each.
    pub szl_ids: Vec<u16>,
    /// PDU length to propose in Setup Communication.
    pub pdu_length: u16,
    /// How long to wait for each answer.
    pub response_timeout: Duration,
    /// How long to wait for the CPU to close after our COTP DR.
    pub disconnect_wait: Duration,
    /// Pieces of one SZL answer at most (the first answer counts as one).
    pub max_szl_pieces: usize,
    /// COTP source reference of our CR.
    pub cotp_src_ref: u16,
    /// PDU reference of the first S7 request; later requests count up (wrapping, never 0).
    pub first_pdu_ref: u16,
}

impl S7SessionConfig {
    /// The session's settings from a profile.
    pub fn from_profile(profile: &Profile) -> Self {
        let response_timeout = Duration::from_millis(profile.pacing.response_timeout_ms);
        S7SessionConfig {
            port: profile.s7.port,
            tsaps: profile.s7.tsaps.clone(),
            local_tsap: profile.s7.local_tsap,
            szl_ids: profile.s7.szl_ids.clone(),
            pdu_length: profile.s7.pdu_length,
            response_timeout,
            disconnect_wait: response_timeout.min(Duration::from_millis(500)),
            max_szl_pieces: DEFAULT_MAX_SZL_PIECES,
            cotp_src_ref: 0x0001,
            first_pdu_ref: 1,
        }
    }
}

#[derive(Debug)]
enum State {
    /// Waiting for the driver's `on_connected` for `tsaps[tsap_idx]`.
    Connecting,
    AwaitCc,
    AwaitSetup,
    AwaitSzl {
        /// The pieces of the answer so far.
        reassembler: SzlReassembler,
    },
    /// Our DR is sent; waiting for the CPU to close.
    Disconnecting,
    Done,
}

/// The S7comm identity probe of one device (see the module docs).
///
/// # OT safety
/// One request in flight; a CPU that stops answering is left alone (no further TSAP, no
/// further request, not even the COTP DR: the driver's FIN ends the connection);
/// follow-ups are capped per answer; every request is a [`SafeRequest`] that the driver
/// passes through the guard.
#[derive(Debug)]
pub struct S7Session {
    cfg: S7SessionConfig,
    state: State,
    tsap_idx: usize,
    szl_idx: usize,
    next_pdu_ref: u16,
    /// PDU reference and kind of the request in flight.
    in_flight: Option<(u16, &'static str)>,
    deadline: Option<Instant>,
    /// Every PDU reference sent on this connection, to recognise late answers.
    sent_refs: BTreeSet<u16>,
    /// The CPU's COTP source reference (from its CC).
    peer_ref: u16,
    /// The PDU length the CPU granted.
    pdu_length: Option<u16>,
    buf: Vec<u8>,
    module: Option<SzlList>,
    component: Option<SzlList>,
    /// The answer frames behind the identity, for audit.
    raw: Vec<u8>,
    findings: Vec<Finding>,
}

impl S7Session {
    pub fn new(cfg: S7SessionConfig) -> Self {
        let next_pdu_ref = cfg.first_pdu_ref.max(1);
        S7Session {
            cfg,
            state: State::Connecting,
            tsap_idx: 0,
            szl_idx: 0,
            next_pdu_ref,
            in_flight: None,
            deadline: None,
            sent_refs: BTreeSet::new(),
            peer_ref: 0,
            pdu_length: None,
            buf: Vec::new(),
            module: None,
            component: None,
            raw: Vec::new(),
            findings: Vec::new(),
        }
    }

    /// The PDU length negotiated on the current connection.
    pub fn negotiated_pdu_length(&self) -> Option<u16> {
        self.pdu_length
    }

    fn tsap(&self) -> u16 {
        self.cfg.tsaps.get(self.tsap_idx).copied().unwrap_or(0)
    }

    fn pdu_ref(&mut self) -> u16 {
        let r = self.next_pdu_ref;
        self.next_pdu_ref = self.next_pdu_ref.wrapping_add(1).max(1);
        self.sent_refs.insert(r);
        r
    }

    fn push(&mut self, fact: Fact, raw: Option<Vec<u8>>, request: &'static str) {
        self.findings.push(Finding { fact, raw, request });
    }

    fn negative(&mut self, answer: String, raw: &[u8], request: &'static str) {
        self.push(
            Fact::Negative {
                protocol: Protocol::S7,
                port: self.cfg.port,
                answer,
            },
            Some(raw.to_vec()),
            request,
        );
    }

    fn suspicious(&mut self, reason: String, raw: &[u8], request: &'static str) {
        self.push(
            Fact::Suspicious {
                protocol: Protocol::S7,
                port: self.cfg.port,
                reason,
            },
            Some(raw.to_vec()),
            request,
        );
    }

    fn no_answer(&mut self, outcome: NoAnswerKind, raw: Option<Vec<u8>>, request: &'static str) {
        self.push(
            Fact::NoAnswer {
                protocol: Protocol::S7,
                port: self.cfg.port,
                outcome,
            },
            raw,
            request,
        );
    }

    fn send(&mut self, now: Instant, req: SafeRequest, pdu_ref: u16, state: State) -> Step {
        self.in_flight = Some((pdu_ref, req.kind()));
        self.deadline = Some(now + self.cfg.response_timeout);
        self.state = state;
        Step::Send(req)
    }

    fn finish(&mut self) -> Step {
        self.emit_identity();
        self.state = State::Done;
        self.in_flight = None;
        self.deadline = None;
        Step::Done
    }

    /// Emits the identity read so far, once.
    fn emit_identity(&mut self) {
        let (m, c) = (self.module.take(), self.component.take());
        if let Some(mut id) = to_identity(m.as_ref(), c.as_ref()) {
            id.tsap = Some(self.tsap());
            let raw = std::mem::take(&mut self.raw);
            self.push(
                Fact::Identity {
                    identity: Identity::S7(Box::new(id)),
                },
                Some(raw),
                "s7.read_szl",
            );
        }
    }

    /// Sends our COTP DR and waits briefly for the CPU to close.
    fn disconnect(&mut self, now: Instant) -> Step {
        self.emit_identity();
        let req = SafeRequest::S7(Safe::Disconnect(CotpDisconnect {
            dst_ref: self.peer_ref,
            src_ref: self.cfg.cotp_src_ref,
        }));
        self.in_flight = None;
        self.deadline = Some(now + self.cfg.disconnect_wait);
        self.state = State::Disconnecting;
        Step::Send(req)
    }

    /// The current TSAP was refused: try the next one on a new connection, or stop.
    fn next_tsap(&mut self) -> Step {
        self.tsap_idx += 1;
        if self.tsap_idx < self.cfg.tsaps.len() {
            self.state = State::Connecting;
            self.in_flight = None;
            self.deadline = None;
            self.buf.clear();
            self.sent_refs.clear();
            Step::Reconnect
        } else {
            self.finish()
        }
    }

    fn send_setup(&mut self, now: Instant) -> Step {
        let pdu_ref = self.pdu_ref();
        self.send(
            now,
            SafeRequest::S7(Safe::Setup(S7SetupCommunication {
                pdu_ref,
                max_amq_calling: 1,
                max_amq_called: 1,
                pdu_length: self.cfg.pdu_length,
            })),
            pdu_ref,
            State::AwaitSetup,
        )
    }

    /// Reads the next configured SZL id, or disconnects when all are read.
    fn next_szl(&mut self, now: Instant) -> Step {
        let Some(&szl_id) = self.cfg.szl_ids.get(self.szl_idx) else {
            return self.disconnect(now);
        };
        let pdu_ref = self.pdu_ref();
        self.send(
            now,
            SafeRequest::S7(Safe::ReadSzl(S7ReadSzl {
                pdu_ref,
                szl_id,
                szl_index: 0,
            })),
            pdu_ref,
            State::AwaitSzl {
                reassembler: SzlReassembler::new(),
            },
        )
    }

    fn szl_done(&mut self, now: Instant) -> Step {
        self.szl_idx += 1;
        self.next_szl(now)
    }

    fn on_frame(&mut self, now: Instant, raw: &[u8]) -> Step {
        let kind = self.in_flight.map(|(_, k)| k).unwrap_or("cotp.connect");
        let frame = match Frame::decode_exact(raw) {
            Ok(f) => f,
            Err(e) => {
                self.suspicious(format!("undecodable s7 answer: {e}"), raw, kind);
                if matches!(self.state, State::AwaitCc | State::Disconnecting) {
                    return self.finish();
                }
                return self.disconnect(now);
            }
        };
        match std::mem::replace(&mut self.state, State::Done) {
            State::AwaitCc => self.on_cc(now, frame, raw),
            State::AwaitSetup => self.on_setup(now, frame, raw),
            State::AwaitSzl { reassembler } => self.on_szl(now, frame, raw, reassembler),
            // Whatever arrives after our DR (a DC, a DR) ends the connection.
            State::Disconnecting => self.finish(),
            State::Connecting | State::Done => {
                self.state = State::Done;
                Step::Done
            }
        }
    }

    fn on_cc(&mut self, now: Instant, frame: Frame, raw: &[u8]) -> Step {
        let tsap = self.tsap();
        match frame.cotp {
            Cotp::ConnectConfirm(cc) if cc.dst_ref == self.cfg.cotp_src_ref => {
                self.peer_ref = cc.src_ref;
                self.send_setup(now)
            }
            Cotp::ConnectConfirm(cc) => {
                self.suspicious(
                    format!(
                        "cotp cc for reference {:#06x}, but the cr used {:#06x}",
                        cc.dst_ref, self.cfg.cotp_src_ref
                    ),
                    raw,
                    "cotp.connect",
                );
                self.finish()
            }
            Cotp::DisconnectRequest(dr) => {
                self.negative(
                    format!(
                        "tsap {tsap:#06x} refused: cotp dr, reason {:#04x}",
                        dr.reason
                    ),
                    raw,
                    "cotp.connect",
                );
                self.next_tsap()
            }
            _ => {
                self.suspicious(
                    "answer to a cotp cr is neither cc nor dr".into(),
                    raw,
                    "cotp.connect",
                );
                self.finish()
            }
        }
    }

    /// Handles what every S7-stage answer may be instead of the expected one. Returns the
    /// step when the frame was dealt with here.
    fn unexpected(&mut self, now: Instant, frame: &Frame, raw: &[u8]) -> Option<Step> {
        let kind = self.in_flight.map(|(_, k)| k).unwrap_or("s7");
        match &frame.cotp {
            Cotp::DisconnectRequest(dr) => {
                self.negative(
                    format!(
                        "cpu closed the connection: cotp dr, reason {:#04x}",
                        dr.reason
                    ),
                    raw,
                    kind,
                );
                Some(self.finish())
            }
            Cotp::Data(d) => match &d.payload {
                Payload::S7Plus(_) => {
                    self.push(
                        Fact::Negative {
                            protocol: Protocol::S7Plus,
                            port: self.cfg.port,
                            answer: "s7comm-plus only: answered with protocol id 0x72".into(),
                        },
                        Some(raw.to_vec()),
                        kind,
                    );
                    Some(self.disconnect(now))
                }
                Payload::S7(_) => None,
                _ => {
                    self.suspicious("cotp dt without an s7comm pdu".into(), raw, kind);
                    Some(self.disconnect(now))
                }
            },
            _ => {
                self.suspicious("unexpected cotp tpdu".into(), raw, kind);
                Some(self.disconnect(now))
            }
        }
    }

    /// Checks the PDU reference. `Some(Wait)` drops a late answer to an earlier request.
    fn matches(&mut self, now: Instant, pdu_ref: u16, raw: &[u8]) -> Result<(), Step> {
        let (want, kind) = self.in_flight.unwrap_or((0, "s7"));
        if pdu_ref == want {
            return Ok(());
        }
        if self.sent_refs.contains(&pdu_ref) {
            // A late answer to a request that already timed out or was answered.
            return Err(Step::Wait);
        }
        self.suspicious(
            format!("answer with pdu reference {pdu_ref:#06x}, but {want:#06x} was asked"),
            raw,
            kind,
        );
        Err(self.disconnect(now))
    }

    fn on_setup(&mut self, now: Instant, frame: Frame, raw: &[u8]) -> Step {
        if let Some(step) = self.unexpected(now, &frame, raw) {
            return step;
        }
        let Some(p) = frame.s7() else {
            return self.finish();
        };
        if let Err(step) = self.matches(now, p.pdu_ref, raw) {
            if step == Step::Wait {
                self.state = State::AwaitSetup;
            }
            return step;
        }
        if let Some(e) = p.error.filter(|e| e.class != 0 || e.code != 0) {
            self.negative(
                format!(
                    "setup communication refused: error class {:#04x} code {:#04x}",
                    e.class, e.code
                ),
                raw,
                "s7.setup_communication",
            );
            return self.disconnect(now);
        }
        match (p.rosctr, &p.body) {
            (Rosctr::AckData, Body::Setup(s)) => {
                let granted = s.pdu_length.min(self.cfg.pdu_length);
                self.pdu_length = Some(granted);
                if granted < LARGEST_REQUEST_PDU {
                    self.negative(
                        format!("cpu granted a {granted}-byte pdu, too small to ask anything"),
                        raw,
                        "s7.setup_communication",
                    );
                    return self.disconnect(now);
                }
                self.next_szl(now)
            }
            _ => {
                self.suspicious(
                    "answer to setup communication is not its ack_data".into(),
                    raw,
                    "s7.setup_communication",
                );
                self.disconnect(now)
            }
        }
    }

    fn on_szl(
        &mut self,
        now: Instant,
        frame: Frame,
        raw: &[u8],
        mut reassembler: SzlReassembler,
    ) -> Step {
        if let Some(step) = self.unexpected(now, &frame, raw) {
            return step;
        }
        let Some(p) = frame.s7() else {
            return self.finish();
        };
        let kind = self.in_flight.map(|(_, k)| k).unwrap_or("s7.read_szl");
        if let Err(step) = self.matches(now, p.pdu_ref, raw) {
            if step == Step::Wait {
                self.state = State::AwaitSzl { reassembler };
            }
            return step;
        }
        let szl_id = self.cfg.szl_ids.get(self.szl_idx).copied().unwrap_or(0);
        if let Some(e) = p.error.filter(|e| e.class != 0 || e.code != 0) {
            self.negative(
                format!(
                    "read szl {szl_id:#06x} refused: error class {:#04x} code {:#04x}",
                    e.class, e.code
                ),
                raw,
                kind,
            );
            return self.szl_done(now);
        }
        let Some(r) = p.szl_response() else {
            self.suspicious(
                "answer to read szl is not a read szl response".into(),
                raw,
                kind,
            );
            return self.disconnect(now);
        };
        if r.error_code != 0 || r.return_code != 0xFF {
            self.negative(
                format!(
                    "read szl {szl_id:#06x} refused: error code {:#06x}, return code {:#04x}",
                    r.error_code, r.return_code
                ),
                raw,
                kind,
            );
            return self.szl_done(now);
        }
        if r.more_follows && reassembler.pieces() + 1 >= self.cfg.max_szl_pieces {
            self.suspicious(
                format!(
                    "szl {szl_id:#06x} answer needs more than {} pieces",
                    self.cfg.max_szl_pieces
                ),
                raw,
                kind,
            );
            return self.szl_done(now);
        }
        let (more, sequence) = (r.more_follows, r.sequence);
        if more && sequence == 0 {
            // A follow-up needs the CPU's sequence number (the guard refuses 0).
            self.suspicious(
                "szl answer says more follows but carries sequence number 0".into(),
                raw,
                kind,
            );
            return self.szl_done(now);
        }
        match reassembler.push(r.value, more) {
            Ok(None) => {
                self.raw.extend_from_slice(raw);
                let pdu_ref = self.pdu_ref();
                self.send(
                    now,
                    SafeRequest::S7(Safe::ReadSzlFollowUp(S7ReadSzlFollowUp {
                        pdu_ref,
                        sequence_number: sequence,
                    })),
                    pdu_ref,
                    State::AwaitSzl { reassembler },
                )
            }
            Ok(Some(list)) => {
                if list.szl_id & 0x00FF != szl_id & 0x00FF {
                    self.suspicious(
                        format!(
                            "asked for szl {szl_id:#06x}, answer is szl {:#06x}",
                            list.szl_id
                        ),
                        raw,
                        kind,
                    );
                    return self.szl_done(now);
                }
                self.raw.extend_from_slice(raw);
                if let Some(expected) = list.nonstandard_record_len() {
                    // Not silently dropped: say which records were not read as the layout.
                    let read = if list.nonstandard_order_numbers().is_empty() {
                        "records not read"
                    } else {
                        "only index and order number read"
                    };
                    self.suspicious(
                        format!(
                            "szl {:#06x} records are {} bytes, not the standard {expected}: {read}",
                            list.szl_id, list.record_len
                        ),
                        raw,
                        kind,
                    );
                }
                match list.szl_id & 0x00FF {
                    0x11 => self.module = Some(list),
                    0x1C => self.component = Some(list),
                    _ => {}
                }
                self.szl_done(now)
            }
            Err(e) => {
                self.suspicious(format!("szl {szl_id:#06x}: {e}"), raw, kind);
                self.szl_done(now)
            }
        }
    }
}

impl Session for S7Session {
    fn protocol(&self) -> Protocol {
        Protocol::S7
    }

    fn on_connected(&mut self, now: Instant) -> Step {
        if self.tsap_idx >= self.cfg.tsaps.len() {
            return self.finish();
        }
        self.buf.clear();
        self.pdu_length = None;
        let req = SafeRequest::S7(Safe::Connect(CotpConnect {
            src_ref: self.cfg.cotp_src_ref,
            calling_tsap: self.cfg.local_tsap,
            called_tsap: self.tsap(),
            tpdu_size_code: TPDU_SIZE_1024,
        }));
        self.send(now, req, 0, State::AwaitCc)
    }

    fn on_bytes(&mut self, now: Instant, bytes: &[u8]) -> Step {
        match self.state {
            State::Done => return Step::Done,
            // No connection of ours is open: nothing to read (a driver bug, not the device's).
            State::Connecting => return Step::Wait,
            _ => {}
        }
        self.buf.extend_from_slice(bytes);
        loop {
            let n = match frame_len(&self.buf) {
                Ok(Some(n)) => n,
                Ok(None) => return Step::Wait,
                Err(e) => {
                    let raw = std::mem::take(&mut self.buf);
                    let kind = self.in_flight.map(|(_, k)| k).unwrap_or("cotp.connect");
                    if matches!(self.state, State::AwaitCc) {
                        // Not ISO-on-TCP at all: something else listens on this port.
                        self.no_answer(NoAnswerKind::NotThisProtocol, Some(raw), kind);
                        return self.finish();
                    }
                    self.suspicious(format!("stream is not tpkt: {e}"), &raw, kind);
                    if matches!(self.state, State::Disconnecting) {
                        return self.finish();
                    }
                    return self.disconnect(now);
                }
            };
            let frame: Vec<u8> = self.buf.drain(..n).collect();
            // Empty DTs carry nothing: STEP 7 and some CPUs send them between PDUs.
            if frame.len() == 7 && frame[4..6] == [0x02, 0xF0] {
                continue;
            }
            let step = self.on_frame(now, &frame);
            if step != Step::Wait {
                return step;
            }
        }
    }

    fn on_timeout(&mut self, now: Instant) -> Step {
        match self.deadline {
            Some(d) if now >= d => {}
            _ => return Step::Wait,
        }
        match self.state {
            State::Disconnecting => self.finish(),
            State::Connecting | State::Done => self.finish(),
            _ => {
                let kind = self.in_flight.map(|(_, k)| k).unwrap_or("cotp.connect");
                self.no_answer(NoAnswerKind::Timeout, None, kind);
                // A CPU that stopped answering is left alone: no further TSAP or request,
                // and no COTP DR either: nothing goes out on a connection after an
                // unanswered request (SAFETY.md); the driver's FIN ends it.
                self.finish()
            }
        }
    }

    fn on_connection_lost(&mut self, _now: Instant, why: ConnectionLoss) -> Step {
        let kind = self.in_flight.map(|(_, k)| k).unwrap_or("cotp.connect");
        match self.state {
            State::Connecting => {
                let outcome = match why {
                    ConnectionLoss::Refused => NoAnswerKind::Refused,
                    ConnectionLoss::ConnectTimeout => NoAnswerKind::Timeout,
                    ConnectionLoss::Reset => NoAnswerKind::Reset,
                    ConnectionLoss::Closed => NoAnswerKind::Refused,
                };
                self.no_answer(outcome, None, kind);
                self.finish()
            }
            State::AwaitCc => {
                let how = match why {
                    ConnectionLoss::Reset => "reset",
                    _ => "closed",
                };
                self.push(
                    Fact::Negative {
                        protocol: Protocol::S7,
                        port: self.cfg.port,
                        answer: format!(
                            "tsap {:#06x} refused: connection {how} after cotp cr",
                            self.tsap()
                        ),
                    },
                    None,
                    "cotp.connect",
                );
                self.next_tsap()
            }
            State::Disconnecting | State::Done => self.finish(),
            State::AwaitSetup | State::AwaitSzl { .. } => {
                if why == ConnectionLoss::Closed {
                    // The CPU ended the exchange itself: it said no to this request.
                    self.push(
                        Fact::Negative {
                            protocol: Protocol::S7,
                            port: self.cfg.port,
                            answer: format!("cpu closed the connection after {kind}"),
                        },
                        None,
                        kind,
                    );
                } else {
                    let outcome = match why {
                        ConnectionLoss::ConnectTimeout => NoAnswerKind::Timeout,
                        ConnectionLoss::Refused => NoAnswerKind::Refused,
                        _ => NoAnswerKind::Reset,
                    };
                    self.no_answer(outcome, None, kind);
                }
                self.finish()
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Connecting | State::Done => None,
            _ => self.deadline,
        }
    }

    fn identity_so_far(&self) -> Option<Identity> {
        to_identity(self.module.as_ref(), self.component.as_ref())
            .map(|id| Identity::S7(Box::new(id)))
    }

    fn take_findings(&mut self) -> Vec<Finding> {
        // A driver that aborts mid-session still gets the identity read so far.
        self.emit_identity();
        std::mem::take(&mut self.findings)
    }
}

#[cfg(test)]
mod tests {
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
}
