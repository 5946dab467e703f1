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

mod connect;
mod setup;
mod szl;

pub(crate) use connect::connect_request;
pub(crate) use setup::setup_request;
pub(crate) use szl::read_szl_request;

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
        let req = SafeRequest::S7(Safe::Connect(connect_request(&self.cfg, self.tsap())));
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
mod tests;
