//! The Modbus/TCP probe session: Read Device Identification over one connection.
//!
//! A sans-IO state machine over [`crate::wire::modbus`]: it never touches a socket or a
//! clock (the driver passes `now`), and it only ever asks for
//! [`SafeRequest::Modbus`] ([`Safe::ReadDeviceId`]).
//!
//! What it does, one request in flight at a time:
//! - tries the unit ids in the configured order and stops at the first unit that answers
//!   (an identity reply or an exception from the unit itself; a gateway's 0x0A/0x0B
//!   exception says the unit is *not* there, so the next unit id is tried on the same
//!   connection: the gateway answered, nothing is outstanding);
//! - after a **response timeout** it sends nothing more on that connection: a unit that
//!   answered nothing yet is reported silent and the next unit id is tried on a **new**
//!   connection ([`Step::Reconnect`]: the driver closes with FIN and waits for the host's
//!   cool-down first), one connection per unit id, at most [`MAX_UNIT_IDS`] unit ids per
//!   device ([`unit_plan`], which the dry run's plan calls too); a unit that had answered
//!   ends the probe ([`Step::Done`]). A gateway (serial behind TCP) may still hold the
//!   unanswered request, and its late reply must never be read as the answer to a later
//!   one; a slow device is also the one not to push;
//! - for that unit asks each configured read code in order (stream codes start at
//!   object 0, as MAP v1.1b3 6.21 allows and common clients do; the individual code asks
//!   each configured object not already known);
//! - follows "more follows" (0xFF) with the device's next object id, at most
//!   [`ModbusSessionConfig::max_pages`] times per read code, and stops a device that loops
//!   (a next object id already asked, or not above the previous one);
//! - emits one [`Fact::Identity`] per answering unit with every object from every read
//!   code and page; exceptions are [`Fact::Negative`]; silence, refusal, a reset or a
//!   non-Modbus answer is [`Fact::NoAnswer`]; a reply that does not decode, or that does
//!   not match its request, is [`Fact::Suspicious`] with the bytes kept.
//!
//! # Units behind a gateway (opt-in)
//! When the configuration lists `gateway_units` and the device answered a gateway
//! exception (0x0A path unavailable, 0x0B target failed to respond) to one of its own unit
//! ids, or its own identity is one `gateway_identities` names, the session goes on to read
//! each listed unit id in order, on the same connection, with the same read codes, one
//! request in flight: an answer is the sub-asset at `modbus:unit/N`
//! ([`Session::take_sub_findings`]) and never stops the enumeration; a gateway exception
//! or the unit's own exception is a [`Fact::Negative`] on the gateway; a unit that stays
//! silent past the response timeout ends its connection as above, and the next listed
//! unit goes out on a new one. No unit id outside the two lists is ever sent.
//!
//! Every reply is matched to its request by transaction id (MMTCP 3.1.3). Transaction ids
//! count up across connections, and a reply only ever answers the one request in flight on
//! its connection: bytes that arrive after a timeout, before the close, are ignored and
//! kept as an [`Anomaly`] ([`ModbusSession::anomalies`]); a transaction id sent on an
//! earlier connection is not expected on this one and is suspicious like any other
//! mismatch (some devices echo transaction ids wrongly).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::Safe;
use super::safe::{ModbusReadDeviceId, ReadDeviceIdCode};
use crate::inventory::{Fact, Identity, NoAnswerKind, Protocol};
use crate::profile::Profile;
use crate::protocols::modbus::identity::to_identity;
use crate::protocols::session::{ConnectionLoss, Finding, MAX_CONNECTS, Session, Step};
use crate::safety::SafeRequest;
use crate::wire::modbus::{
    ExceptionCode, FunctionCode, PROTOCOL_ID_MODBUS, ReadDeviceIdResponse, Response, ResponseAdu,
    frame_len,
};
use crate::wire::{Anomaly, Cursor};

/// The request kind every finding of this session comes from.
const KIND: &str = "modbus.read_device_id";

/// Default cap on "more follows" pages per read code. A 253-byte PDU holds at least two
/// 100-byte objects, so 16 pages cover every standard object and a good share of private
/// ones; a device needing more is paging byte by byte or looping.
pub const DEFAULT_MAX_PAGES: usize = 16;

/// No configuration can ask for more pages per read code than this (SAFETY.md): 128
/// extended objects at two per page.
pub const MAX_PAGES_LIMIT: usize = 64;

/// Anomalies kept per session: a device that repeats replies in a loop must not grow the
/// list without bound; the first few tell the story.
const MAX_ANOMALIES: usize = 16;

pub use super::settings::MAX_UNIT_IDS;

/// The unit ids a Modbus probe of one device tries, in order, and those the
/// [`MAX_UNIT_IDS`] cap left out. The session ([`ModbusSessionConfig::from_profile`], via
/// the host's profile) and the dry run's plan both come from here, so they agree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnitPlan {
    pub tried: Vec<u8>,
    pub left_out: Vec<u8>,
}

impl UnitPlan {
    /// The note for the plan and the result when the cap left unit ids out.
    pub fn note(&self) -> Option<String> {
        if self.left_out.is_empty() {
            return None;
        }
        let ids: Vec<String> = self.left_out.iter().map(u8::to_string).collect();
        Some(format!(
            "modbus: {} unit id(s) not tried ({}): at most {MAX_UNIT_IDS} unit ids per device",
            self.left_out.len(),
            ids.join(", ")
        ))
    }
}

/// `observed` unit ids first (seen in the device's own traffic), then the profile's,
/// without duplicates, at most [`MAX_UNIT_IDS`].
pub fn unit_plan(observed: &[u8], profile_units: &[u8]) -> UnitPlan {
    let mut plan = UnitPlan::default();
    for &u in observed.iter().chain(profile_units) {
        if plan.tried.contains(&u) || plan.left_out.contains(&u) {
            continue;
        }
        if plan.tried.len() < MAX_UNIT_IDS {
            plan.tried.push(u);
        } else {
            plan.left_out.push(u);
        }
    }
    plan
}

/// Plain data the scan driver builds from a [`Profile`]. Ports and sockets are the
/// driver's business; `port` is only copied into facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModbusSessionConfig {
    /// The port the driver connected to, reported in facts.
    pub port: u16,
    /// Unit ids to try, in order, on the one connection.
    pub unit_ids: Vec<u8>,
    /// Read codes to ask, in order (basic, regular, then extended only if configured).
    pub read_codes: Vec<ReadDeviceIdCode>,
    /// Objects the individual read code asks for (each only if not already known).
    pub individual_objects: Vec<u8>,
    /// How long to wait for each reply.
    pub response_timeout: Duration,
    /// "More follows" pages per read code at most (the first reply counts as one);
    /// clamped to 1..=[`MAX_PAGES_LIMIT`].
    pub max_pages: usize,
    /// Transaction id of the first request; later requests count up (wrapping).
    pub first_transaction_id: u16,
    /// Unit ids read behind a gateway, in order, after the device's own unit ids (empty:
    /// none); unit ids already in `unit_ids` are not asked twice.
    pub gateway_units: Vec<u8>,
    /// Names that make a device a gateway by its own identity
    /// ([`names_gateway`](super::settings::names_gateway)).
    pub gateway_identities: Vec<String>,
}

impl ModbusSessionConfig {
    /// The session's settings from a profile.
    pub fn from_profile(profile: &Profile) -> Self {
        ModbusSessionConfig {
            port: profile.modbus.port,
            unit_ids: unit_plan(&[], &profile.modbus.unit_ids).tried,
            read_codes: profile.modbus.read_codes.clone(),
            // The standard objects (MAP 6.21), for devices that only allow individual access.
            individual_objects: (0x00..=0x06).collect(),
            response_timeout: Duration::from_millis(profile.pacing.response_timeout_ms),
            max_pages: DEFAULT_MAX_PAGES,
            first_transaction_id: 1,
            gateway_units: profile
                .modbus
                .gateway_units
                .iter()
                .copied()
                .take(MAX_UNIT_IDS)
                .collect(),
            gateway_identities: profile.modbus.gateway_identities.clone(),
        }
    }

    /// The gateway units the session reads after the device's own unit ids (those not
    /// already among them), in order: what the dry run's plan shows.
    pub fn behind_gateway(&self) -> Vec<u8> {
        self.gateway_units
            .iter()
            .copied()
            .filter(|u| !self.unit_ids.contains(u))
            .collect()
    }
}

/// The request in flight.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    request: ModbusReadDeviceId,
    deadline: Instant,
}

/// The Modbus/TCP identity probe of one device.
#[derive(Debug)]
pub struct ModbusSession {
    cfg: ModbusSessionConfig,
    /// The unit ids of this probe: the configured ones, then (once the device proved a
    /// gateway) the units behind it.
    units: Vec<u8>,
    /// Where the units behind the gateway start in `units`, once the enumeration began.
    gateway_from: Option<usize>,
    /// The device answered a gateway exception (0x0A/0x0B) to one of its own unit ids.
    gateway_said: bool,
    /// The identity the device gave for its own unit id, if any.
    own_identity: Option<crate::inventory::ModbusIdentity>,
    /// Identities of units behind the gateway, with their path (`modbus:unit/N`).
    sub_findings: Vec<(String, Finding)>,
    unit_idx: usize,
    code_idx: usize,
    /// Object ids asked so far under the current read code (loop guard).
    asked: BTreeSet<u8>,
    /// Pages received under the current stream read code.
    pages: usize,
    /// Position in `individual_objects` for the individual read code.
    individual_idx: usize,
    next_tid: u16,
    in_flight: Option<InFlight>,
    /// Every transaction id sent on the current connection, to recognise a repeated reply.
    sent: BTreeSet<u16>,
    /// A request went unanswered: this connection is finished, the next step is a
    /// reconnect (set with [`Step::Reconnect`], cleared by `on_connected`).
    reconnecting: bool,
    /// Connections this session has been given (`on_connected` calls).
    connections: u32,
    /// Odd things ignored (bytes after a timeout, a repeated reply), for the log.
    anomalies: Vec<Anomaly>,
    buf: Vec<u8>,
    /// Identity replies of the current unit and their frames.
    replies: Vec<ReadDeviceIdResponse>,
    raw: Vec<u8>,
    /// The current unit answered (an identity reply or its own exception).
    answered: bool,
    /// Why the last unit that did not answer stayed silent.
    silence: Option<NoAnswerKind>,
    findings: Vec<Finding>,
    done: bool,
}

impl ModbusSession {
    pub fn new(cfg: ModbusSessionConfig) -> Self {
        let next_tid = cfg.first_transaction_id;
        ModbusSession {
            units: cfg.unit_ids.clone(),
            gateway_from: None,
            gateway_said: false,
            own_identity: None,
            sub_findings: Vec::new(),
            cfg,
            unit_idx: 0,
            code_idx: 0,
            asked: BTreeSet::new(),
            pages: 0,
            individual_idx: 0,
            next_tid,
            in_flight: None,
            sent: BTreeSet::new(),
            reconnecting: false,
            connections: 0,
            anomalies: Vec::new(),
            buf: Vec::new(),
            replies: Vec::new(),
            raw: Vec::new(),
            answered: false,
            silence: None,
            findings: Vec::new(),
            done: false,
        }
    }

    /// Odd things the session ignored: bytes that came after a response timeout (a late
    /// reply, before the driver's close), a second reply to an answered request.
    pub fn anomalies(&self) -> &[Anomaly] {
        &self.anomalies
    }

    fn unit(&self) -> u8 {
        self.units[self.unit_idx]
    }

    /// The session is reading units behind the gateway.
    fn behind(&self) -> bool {
        self.gateway_from.is_some()
    }

    /// Starts the enumeration behind the gateway if the configuration lists units and the
    /// device proved a gateway; returns whether there is a unit to read.
    fn start_gateway(&mut self) -> bool {
        if self.behind() || self.cfg.gateway_units.is_empty() {
            return false;
        }
        let named = self
            .own_identity
            .as_ref()
            .is_some_and(|id| super::settings::names_gateway(&self.cfg.gateway_identities, id));
        if !(self.gateway_said || named) {
            return false;
        }
        let behind = self.cfg.behind_gateway();
        if behind.is_empty() {
            return false;
        }
        // What the device's own unit ids left unsaid is said before the units behind it.
        self.report_silence();
        self.gateway_from = Some(self.units.len());
        self.unit_idx = self.units.len();
        self.units.extend(behind);
        self.code_idx = 0;
        self.replies.clear();
        self.raw.clear();
        self.answered = false;
        true
    }

    fn push(&mut self, fact: Fact, raw: Option<Vec<u8>>) {
        self.findings.push(Finding {
            fact,
            raw,
            request: KIND,
        });
    }

    fn send(&mut self, now: Instant, read_code: ReadDeviceIdCode, object_id: u8) -> Step {
        let request = ModbusReadDeviceId {
            transaction_id: self.next_tid,
            unit_id: self.unit(),
            read_code,
            object_id,
        };
        self.next_tid = self.next_tid.wrapping_add(1);
        self.sent.insert(request.transaction_id);
        self.asked.insert(object_id);
        self.in_flight = Some(InFlight {
            request,
            deadline: now + self.cfg.response_timeout,
        });
        Step::Send(SafeRequest::Modbus(Safe::ReadDeviceId(request)))
    }

    /// Sends the first request of the current read code, or moves on.
    fn start_code(&mut self, now: Instant) -> Step {
        self.asked.clear();
        self.pages = 0;
        self.individual_idx = 0;
        let Some(&code) = self.cfg.read_codes.get(self.code_idx) else {
            return self.finish_unit(now);
        };
        match code {
            ReadDeviceIdCode::Individual => self.next_individual(now),
            _ => self.send(now, code, 0x00),
        }
    }

    fn next_individual(&mut self, now: Instant) -> Step {
        while let Some(&object) = self.cfg.individual_objects.get(self.individual_idx) {
            self.individual_idx += 1;
            let known = self
                .replies
                .iter()
                .any(|r| r.objects.iter().any(|o| o.id == object));
            if !known {
                return self.send(now, ReadDeviceIdCode::Individual, object);
            }
        }
        self.next_code(now)
    }

    fn next_code(&mut self, now: Instant) -> Step {
        self.code_idx += 1;
        self.start_code(now)
    }

    /// The current unit is finished: report it, and stop if it answered; otherwise the
    /// next unit id, on this connection (nothing is outstanding on it).
    fn finish_unit(&mut self, now: Instant) -> Step {
        if self.end_unit() {
            self.start_code(now)
        } else {
            self.finish()
        }
    }

    /// Reports the current unit and moves to the next unit id. Returns whether there is
    /// one to try (false: the unit answered, or every unit id was tried).
    fn end_unit(&mut self) -> bool {
        if !self.replies.is_empty() {
            self.push_identity();
            self.answered = true;
        }
        if self.behind() {
            // Behind a gateway every listed unit gets its turn.
            self.answered = false;
        } else if self.answered {
            return self.start_gateway();
        }
        self.unit_idx += 1;
        self.code_idx = 0;
        self.replies.clear();
        self.raw.clear();
        if self.unit_idx >= self.units.len() {
            if self.start_gateway() {
                return true;
            }
            self.report_silence();
            return false;
        }
        true
    }

    /// The current unit's replies as its identity fact: the device's own, or (behind a
    /// gateway) the sub-asset's at `modbus:unit/N`.
    fn push_identity(&mut self) {
        let raw = std::mem::take(&mut self.raw);
        let fact = self.identity_fact();
        if self.behind() {
            let path = super::identity::unit_path(self.unit());
            self.sub_findings.push((
                path,
                Finding {
                    fact,
                    raw: Some(raw),
                    request: KIND,
                },
            ));
            return;
        }
        if let Fact::Identity {
            identity: Identity::Modbus(id),
        } = &fact
        {
            self.own_identity = Some(id.clone());
        }
        self.push(fact, Some(raw));
    }

    /// No unit answered: says why, once.
    fn report_silence(&mut self) {
        if let Some(outcome) = self.silence.take() {
            self.no_answer(outcome, None);
        }
    }

    fn no_answer(&mut self, outcome: NoAnswerKind, raw: Option<Vec<u8>>) {
        self.push(
            Fact::NoAnswer {
                protocol: Protocol::Modbus,
                port: self.cfg.port,
                outcome,
            },
            raw,
        );
    }

    fn suspicious(&mut self, reason: String, raw: Vec<u8>) -> Step {
        self.push(
            Fact::Suspicious {
                protocol: Protocol::Modbus,
                port: self.cfg.port,
                reason,
            },
            Some(raw),
        );
        // The stream cannot be trusted to be in step any more: report what the unit said
        // so far and stop.
        self.flush_identity();
        self.finish()
    }

    fn flush_identity(&mut self) {
        if !self.replies.is_empty() && self.unit_idx < self.units.len() {
            self.push_identity();
            self.replies.clear();
        }
    }

    /// The unit's replies as an identity; replies that named no object at all are "the
    /// unit answered, with no identity objects" ([`Fact::NoIdentity`], never an identity
    /// with empty fields).
    fn identity_fact(&self) -> Fact {
        let identity = to_identity(self.unit(), &self.replies);
        if identity.objects.is_empty() {
            let code = self.replies.last().map_or(0, |r| r.read_code.code());
            return Fact::NoIdentity {
                protocol: Protocol::Modbus,
                port: self.cfg.port,
                answer: crate::wire::modbus::no_identity_objects_answer(self.unit(), code),
            };
        }
        Fact::Identity {
            identity: Identity::Modbus(identity),
        }
    }

    fn finish(&mut self) -> Step {
        self.done = true;
        self.in_flight = None;
        self.reconnecting = false;
        Step::Done
    }

    /// Handles one whole frame.
    fn on_frame(&mut self, now: Instant, frame: Vec<u8>) -> Step {
        let adu = match ResponseAdu::decode(&mut Cursor::framed(&frame)) {
            Ok(adu) => adu,
            Err(e) => return self.suspicious(format!("undecodable modbus reply: {e}"), frame),
        };
        if adu.header.protocol_id != PROTOCOL_ID_MODBUS {
            self.flush_identity();
            self.no_answer(NoAnswerKind::NotThisProtocol, Some(frame));
            return self.finish();
        }
        let Some(flight) = self.in_flight else {
            if self.sent.contains(&adu.header.transaction_id) {
                self.repeated(adu.header.transaction_id, frame.len());
                return Step::Wait;
            }
            return self.suspicious(
                format!(
                    "unsolicited reply with transaction id {}",
                    adu.header.transaction_id
                ),
                frame,
            );
        };
        let req = flight.request;
        if adu.header.transaction_id != req.transaction_id {
            if self.sent.contains(&adu.header.transaction_id) {
                self.repeated(adu.header.transaction_id, frame.len());
                return Step::Wait;
            }
            return self.suspicious(
                format!(
                    "reply with transaction id {} to request {}",
                    adu.header.transaction_id, req.transaction_id
                ),
                frame,
            );
        }
        self.in_flight = None;
        match adu.pdu {
            Response::Exception {
                function: FunctionCode::EncapsulatedInterface,
                code,
                ..
            } => self.on_exception(now, req, code, frame),
            Response::ReadDeviceId(reply) => self.on_reply(now, req, reply, frame),
            other => self.suspicious(
                format!(
                    "reply with function {:#04x} to read device identification",
                    match other {
                        Response::Exception { function, .. } => function.code() | 0x80,
                        ref o => o.function().code(),
                    }
                ),
                frame,
            ),
        }
    }

    fn note(&mut self, anomaly: Anomaly) {
        if self.anomalies.len() < MAX_ANOMALIES {
            self.anomalies.push(anomaly);
        }
    }

    /// A second reply to a request already answered on this connection (a request that
    /// went unanswered ends its connection, so this is no late reply): ignored, noted.
    fn repeated(&mut self, transaction_id: u16, len: usize) {
        self.note(Anomaly {
            field: "modbus.mbap.transaction_id",
            what: format!(
                "{len}-byte reply repeats transaction id {transaction_id}, already answered: ignored"
            ),
        });
    }

    fn on_exception(
        &mut self,
        now: Instant,
        req: ModbusReadDeviceId,
        code: ExceptionCode,
        frame: Vec<u8>,
    ) -> Step {
        self.push(
            Fact::Negative {
                protocol: Protocol::Modbus,
                port: self.cfg.port,
                answer: format!(
                    "unit {} answered read device identification (read code {}, object {:#04x}) with exception {:#04x} ({})",
                    req.unit_id,
                    req.read_code.code(),
                    req.object_id,
                    code.code(),
                    code.describe()
                ),
            },
            Some(frame),
        );
        if code.is_gateway() {
            // The gateway spoke for a unit that is not there: try the next unit id.
            self.gateway_said |= !self.behind();
            return self.finish_unit(now);
        }
        self.answered = true;
        if code == ExceptionCode::IllegalFunction {
            // The unit does not implement function 0x2B/0x0E at all: other codes would
            // only get the same answer.
            return self.finish_unit(now);
        }
        self.next_code(now)
    }

    fn on_reply(
        &mut self,
        now: Instant,
        req: ModbusReadDeviceId,
        reply: ReadDeviceIdResponse,
        frame: Vec<u8>,
    ) -> Step {
        self.answered = true;
        self.raw.extend_from_slice(&frame);
        let more = reply.more_follows() && req.read_code != ReadDeviceIdCode::Individual;
        let next = reply.next_object_id;
        self.replies.push(reply);
        if req.read_code == ReadDeviceIdCode::Individual {
            return self.next_individual(now);
        }
        self.pages += 1;
        if !more {
            return self.next_code(now);
        }
        if self.pages >= self.cfg.max_pages.clamp(1, MAX_PAGES_LIMIT) {
            self.push(
                Fact::Suspicious {
                    protocol: Protocol::Modbus,
                    port: self.cfg.port,
                    reason: format!(
                        "read code {} still had more to follow after {} pages: stopped",
                        req.read_code.code(),
                        self.pages
                    ),
                },
                Some(frame),
            );
            return self.next_code(now);
        }
        // A device that loops would keep us asking forever: the next object must be new
        // and above the one just asked (the first reply may restart below a start object
        // it does not know, MAP 6.21, so the check is against what was asked).
        if self.asked.contains(&next) || (self.pages > 1 && next <= req.object_id) {
            self.push(
                Fact::Suspicious {
                    protocol: Protocol::Modbus,
                    port: self.cfg.port,
                    reason: format!(
                        "read code {} loops: next object {next:#04x} after asking {:#04x}: stopped",
                        req.read_code.code(),
                        req.object_id
                    ),
                },
                Some(frame),
            );
            return self.next_code(now);
        }
        self.send(now, req.read_code, next)
    }
}

impl Session for ModbusSession {
    fn protocol(&self) -> Protocol {
        Protocol::Modbus
    }

    fn on_connected(&mut self, now: Instant) -> Step {
        if self.done || self.cfg.unit_ids.is_empty() || self.cfg.read_codes.is_empty() {
            return self.finish();
        }
        self.connections += 1;
        // A new connection: nothing of the old one's stream carries over.
        self.reconnecting = false;
        self.buf.clear();
        self.sent.clear();
        if self.in_flight.is_some() {
            return Step::Wait;
        }
        self.start_code(now)
    }

    fn on_bytes(&mut self, now: Instant, bytes: &[u8]) -> Step {
        if self.done {
            return Step::Done;
        }
        if self.reconnecting {
            // Bytes on the connection whose request went unanswered, before its close: a
            // late reply, never the answer to anything the session asks next.
            self.note(Anomaly {
                field: "modbus.reply",
                what: format!(
                    "{} bytes after the response timeout, before the reconnect: ignored",
                    bytes.len()
                ),
            });
            return Step::Reconnect;
        }
        self.buf.extend_from_slice(bytes);
        loop {
            // Before the length field is in, a non-zero protocol id already says this is
            // not Modbus (an HTTP or TLS server on port 502).
            if let Some(p) = self.buf.get(2..4) {
                if u16::from_be_bytes([p[0], p[1]]) != PROTOCOL_ID_MODBUS {
                    let raw = std::mem::take(&mut self.buf);
                    self.flush_identity();
                    self.no_answer(NoAnswerKind::NotThisProtocol, Some(raw));
                    return self.finish();
                }
            }
            let n = match frame_len(&self.buf) {
                Ok(Some(n)) => n,
                Ok(None) => return Step::Wait,
                Err(e) => {
                    let raw = std::mem::take(&mut self.buf);
                    return self.suspicious(format!("not a modbus/tcp frame: {e}"), raw);
                }
            };
            let frame: Vec<u8> = self.buf.drain(..n).collect();
            match self.on_frame(now, frame) {
                Step::Wait => continue,
                step => {
                    // A reply always answers the one request in flight; bytes beyond it
                    // belong to no request (one request in flight at a time).
                    if !self.buf.is_empty() && !self.done {
                        let raw = std::mem::take(&mut self.buf);
                        return self.suspicious(
                            format!("{} bytes after the reply, before any request", raw.len()),
                            raw,
                        );
                    }
                    return step;
                }
            }
        }
    }

    fn on_timeout(&mut self, now: Instant) -> Step {
        if self.done {
            return Step::Done;
        }
        match self.in_flight {
            Some(f) if now >= f.deadline => {
                self.in_flight = None;
                // What came of the unanswered reply stays with this connection.
                self.buf.clear();
                if self.behind() {
                    if self.replies.is_empty() && !self.answered {
                        // The gateway answers for itself; a silent unit behind it is a
                        // finding on the gateway, not the gateway's silence.
                        let answer = format!(
                            "unit {} behind the gateway gave no answer to read device identification within {} ms",
                            self.unit(),
                            self.cfg.response_timeout.as_millis()
                        );
                        self.push(
                            Fact::Negative {
                                protocol: Protocol::Modbus,
                                port: self.cfg.port,
                                answer,
                            },
                            None,
                        );
                    }
                } else if self.replies.is_empty() && !self.answered {
                    self.silence = Some(NoAnswerKind::Timeout);
                }
                // Nothing more goes out on this connection (SAFETY.md, hard limits).
                if !self.end_unit() {
                    return self.finish();
                }
                if self.connections >= self.max_connections() {
                    // The driver would cut the probe off; a device silent to this many
                    // unit ids is reported silent instead.
                    self.report_silence();
                    return self.finish();
                }
                self.reconnecting = true;
                Step::Reconnect
            }
            Some(_) => Step::Wait,
            None => Step::Wait,
        }
    }

    fn on_connection_lost(&mut self, _now: Instant, why: ConnectionLoss) -> Step {
        if self.done {
            return Step::Done;
        }
        // An earlier unit id that stayed silent (on an earlier connection) comes first:
        // it is what the device did first.
        let earlier = self.silence.take();
        if let Some(outcome) = earlier {
            self.no_answer(outcome, None);
        }
        let had_identity = !self.replies.is_empty();
        self.flush_identity();
        if !had_identity && !self.answered && !self.behind() {
            let outcome = match why {
                ConnectionLoss::Refused => NoAnswerKind::Refused,
                ConnectionLoss::ConnectTimeout => NoAnswerKind::Timeout,
                // A Modbus server that closes instead of answering behaves like a reset for
                // the inventory: it is there, and it did not say who it is.
                ConnectionLoss::Closed | ConnectionLoss::Reset => NoAnswerKind::Reset,
            };
            if earlier != Some(outcome) {
                self.no_answer(outcome, None);
            }
        }
        self.finish()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.in_flight.map(|f| f.deadline)
    }

    fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    fn take_sub_findings(&mut self) -> Vec<(String, Finding)> {
        std::mem::take(&mut self.sub_findings)
    }

    /// One connection per unit id (a silent one is never asked again on its
    /// connection), own and behind a gateway, at least the driver's default, at most
    /// [`MAX_UNIT_IDS`] of each (the driver adds no more than its own ceiling).
    fn max_connections(&self) -> u32 {
        let units = self.cfg.unit_ids.len().min(MAX_UNIT_IDS)
            + self.cfg.behind_gateway().len().min(MAX_UNIT_IDS);
        (units as u32).max(MAX_CONNECTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::modbus::{DeviceIdObject, Header, ReadCode};

    fn cfg(units: &[u8], codes: &[ReadDeviceIdCode]) -> ModbusSessionConfig {
        ModbusSessionConfig {
            port: 502,
            unit_ids: units.to_vec(),
            read_codes: codes.to_vec(),
            individual_objects: vec![0x04],
            response_timeout: Duration::from_millis(500),
            max_pages: DEFAULT_MAX_PAGES,
            first_transaction_id: 1,
            gateway_units: Vec::new(),
            gateway_identities: Vec::new(),
        }
    }

    fn hexb(s: &str) -> Vec<u8> {
        let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        hex::decode(clean).unwrap()
    }

    /// A real reply with its transaction id replaced by the one this session used.
    fn with_tid(mut frame: Vec<u8>, tid: u16) -> Vec<u8> {
        frame[..2].copy_from_slice(&tid.to_be_bytes());
        frame
    }

    fn sent(step: &Step) -> ModbusReadDeviceId {
        match step {
            Step::Send(SafeRequest::Modbus(Safe::ReadDeviceId(r))) => *r,
            other => panic!("expected a read device id request, got {other:?}"),
        }
    }

    fn reply(tid: u16, unit: u8, code: u8, more: u8, next: u8, objects: &[(u8, &str)]) -> Vec<u8> {
        let adu = ResponseAdu {
            header: Header {
                transaction_id: tid,
                protocol_id: 0,
                unit_id: unit,
            },
            pdu: Response::ReadDeviceId(ReadDeviceIdResponse {
                read_code: ReadCode::from_u8(code),
                conformity_level: 0x81,
                more_follows: more,
                next_object_id: next,
                objects: objects
                    .iter()
                    .map(|(id, v)| DeviceIdObject {
                        id: *id,
                        value: v.as_bytes().to_vec(),
                    })
                    .collect(),
                trailing: vec![],
            }),
        };
        let mut out = Vec::new();
        adu.encode(&mut out);
        out
    }

    fn exception(tid: u16, unit: u8, code: u8) -> Vec<u8> {
        vec![(tid >> 8) as u8, tid as u8, 0, 0, 0, 3, unit, 0xAB, code]
    }

    fn identity(f: &Finding) -> &crate::inventory::ModbusIdentity {
        match &f.fact {
            Fact::Identity {
                identity: Identity::Modbus(m),
            } => m,
            other => panic!("expected a modbus identity, got {other:?}"),
        }
    }

    // pymodbus-client-vs-pymodbus-longid.pcap, server 127.0.0.8:502 (pymodbus 3.16.1):
    // frames 9, 11, 13, 15: read code 1 from object 0 ("more follows", next object 2),
    // read code 1 from object 2, read code 2 from object 0 (more follows, next 2), read
    // code 2 from object 2.
    const LONGID_9: &str = "0002 0000 00f7 01 2b0e 01 83 ff 02 02 007d506565724c6162204c6f6e672056656e646f72204e616d6520506565724c6162204c6f6e672056656e646f72204e616d6520506565724c6162204c6f6e672056656e646f72204e616d6520506565724c6162204c6f6e672056656e646f72204e616d6520506565724c6162204c6f6e672056656e646f72204e616d6520 016e504c422d4c4f4e472d50524f445543542d434f44452d504c422d4c4f4e472d50524f445543542d434f44452d504c422d4c4f4e472d50524f445543542d434f44452d504c422d4c4f4e472d50524f445543542d434f44452d504c422d4c4f4e472d50524f445543542d434f44452d";
    const LONGID_11: &str = "0003 0000 0015 01 2b0e 01 83 00 00 01 020b76392e392e392d6c6f6e67";
    const LONGID_15: &str = "0005 0000 0071 01 2b0e 02 83 00 00 05 020b76392e392e392d6c6f6e67 031d687474703a2f2f706565726c61622e696e76616c69642f6d6f64627573 041a506565724c6162204d6f64627573205465737420536572766572 050c504c422d4d422d5443502d31 0611706565722d6c61622070796d6f64627573";

    #[test]
    fn follows_more_follows_across_read_codes_on_real_replies() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(
            &[1],
            &[ReadDeviceIdCode::Basic, ReadDeviceIdCode::Regular],
        ));
        let r = sent(&s.on_connected(t0));
        assert_eq!(
            (r.unit_id, r.read_code, r.object_id),
            (1, ReadDeviceIdCode::Basic, 0)
        );
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(500)));
        let r = sent(&s.on_bytes(t0, &with_tid(hexb(LONGID_9), r.transaction_id)));
        assert_eq!((r.read_code, r.object_id), (ReadDeviceIdCode::Basic, 0x02));
        let r = sent(&s.on_bytes(t0, &with_tid(hexb(LONGID_11), r.transaction_id)));
        assert_eq!(
            (r.read_code, r.object_id),
            (ReadDeviceIdCode::Regular, 0x00)
        );
        // Frame 13 is byte for byte frame 9 with read code 2.
        let mut f13 = hexb(LONGID_9);
        f13[9] = 0x02;
        let r = sent(&s.on_bytes(t0, &with_tid(f13, r.transaction_id)));
        assert_eq!(
            (r.read_code, r.object_id),
            (ReadDeviceIdCode::Regular, 0x02)
        );
        assert_eq!(
            s.on_bytes(t0, &with_tid(hexb(LONGID_15), r.transaction_id)),
            Step::Done
        );
        let f = s.take_findings();
        assert_eq!(f.len(), 1, "{f:?}");
        let id = identity(&f[0]);
        assert_eq!(id.unit_id, 1);
        assert_eq!(id.conformity_level, Some(0x83));
        assert_eq!(id.objects[&0x00], "PeerLab Long Vendor Name ".repeat(5));
        assert_eq!(id.objects[&0x01], "PLB-LONG-PRODUCT-CODE-".repeat(5));
        assert_eq!(id.objects[&0x02], "v9.9.9-long");
        assert_eq!(id.objects[&0x06], "peer-lab pymodbus");
        assert_eq!(id.objects.len(), 7);
        // The raw bytes are the four replies as received.
        assert_eq!(
            f[0].raw.as_ref().unwrap().len(),
            0xf7 + 6 + 0x15 + 6 + 0xf7 + 6 + 0x71 + 6
        );
    }

    #[test]
    fn bytes_one_at_a_time_still_frame() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(&[1], &[ReadDeviceIdCode::Basic]));
        let r = sent(&s.on_connected(t0));
        let frame = reply(
            r.transaction_id,
            1,
            1,
            0,
            0,
            &[(0, "ACME"), (1, "X1"), (2, "1.0")],
        );
        let (last, head) = frame.split_last().unwrap();
        for b in head {
            assert_eq!(s.on_bytes(t0, &[*b]), Step::Wait);
        }
        assert_eq!(s.on_bytes(t0, &[*last]), Step::Done);
        assert_eq!(identity(&s.take_findings()[0]).objects[&0], "ACME");
    }

    #[test]
    fn silent_unit_times_out_and_the_next_unit_is_tried_on_a_new_connection() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(&[0xFF, 1], &[ReadDeviceIdCode::Basic]));
        let first = sent(&s.on_connected(t0));
        assert_eq!(first.unit_id, 0xFF);
        // Before the deadline nothing happens.
        assert_eq!(s.on_timeout(t0 + Duration::from_millis(499)), Step::Wait);
        let t1 = t0 + Duration::from_millis(500);
        // Unanswered: nothing more on this connection, the next unit id on a new one.
        assert_eq!(s.on_timeout(t1), Step::Reconnect);
        assert_eq!(s.poll_timeout(), None);
        // A late reply that slips in before the close is no answer to anything.
        let late = reply(first.transaction_id, 0xFF, 1, 0, 0, &[(0, "LATE")]);
        assert_eq!(s.on_bytes(t1, &late), Step::Reconnect);
        assert_eq!(s.anomalies().len(), 1, "{:?}", s.anomalies());
        assert!(s.anomalies()[0].what.contains("after the response timeout"));
        let t2 = t1 + Duration::from_millis(100);
        let second = sent(&s.on_connected(t2));
        assert_eq!(second.unit_id, 1);
        assert_ne!(second.transaction_id, first.transaction_id);
        assert_eq!(s.poll_timeout(), Some(t2 + Duration::from_millis(500)));
        let ok = reply(second.transaction_id, 1, 1, 0, 0, &[(0, "ACME")]);
        assert_eq!(s.on_bytes(t2, &ok), Step::Done);
        let f = s.take_findings();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(identity(&f[0]).unit_id, 1);
        assert_eq!(identity(&f[0]).objects[&0], "ACME");
    }

    #[test]
    fn a_late_reply_is_never_taken_as_the_next_answer() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(&[0xFF, 0], &[ReadDeviceIdCode::Basic]));
        let first = sent(&s.on_connected(t0));
        // Half a reply is in when the deadline passes; its rest would only come on the
        // old connection, which the driver closes.
        let late = reply(first.transaction_id, 0xFF, 1, 0, 0, &[(0, "SLOW")]);
        assert_eq!(s.on_bytes(t0, &late[..5]), Step::Wait);
        assert_eq!(s.on_timeout(t0 + Duration::from_secs(1)), Step::Reconnect);
        let second = sent(&s.on_connected(t0 + Duration::from_secs(2)));
        assert_eq!(second.unit_id, 0);
        // The new connection starts clean: the stale half frame does not swallow the
        // reply, and the reply to the second request is taken as its answer.
        let ok = reply(second.transaction_id, 0, 1, 0, 0, &[(0, "FAST")]);
        assert_eq!(s.on_bytes(t0, &ok), Step::Done);
        let f = s.take_findings();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(identity(&f[0]).unit_id, 0);
        assert_eq!(identity(&f[0]).objects[&0], "FAST");
    }

    #[test]
    fn an_old_transaction_id_on_the_new_connection_is_suspicious() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(&[0xFF, 0], &[ReadDeviceIdCode::Basic]));
        let first = sent(&s.on_connected(t0));
        assert_eq!(s.on_timeout(t0 + Duration::from_secs(1)), Step::Reconnect);
        let second = sent(&s.on_connected(t0 + Duration::from_secs(2)));
        // A device that answers the new request with the old request's transaction id
        // (it echoes them wrongly) is not believed.
        let wrong = reply(first.transaction_id, 0, 1, 0, 0, &[(0, "WHO")]);
        assert_eq!(s.on_bytes(t0, &wrong), Step::Done);
        let f = s.take_findings();
        assert_eq!(f.len(), 1, "{f:?}");
        let Fact::Suspicious { reason, .. } = &f[0].fact else {
            panic!("{f:?}")
        };
        assert_eq!(
            reason,
            &format!(
                "reply with transaction id {} to request {}",
                first.transaction_id, second.transaction_id
            )
        );
        assert_eq!(f[0].raw.as_deref(), Some(&wrong[..]));
    }

    #[test]
    fn a_repeated_reply_on_the_same_connection_is_noted_and_ignored() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(
            &[1],
            &[ReadDeviceIdCode::Basic, ReadDeviceIdCode::Regular],
        ));
        let r1 = sent(&s.on_connected(t0));
        let first = reply(r1.transaction_id, 1, 1, 0, 0, &[(0, "A")]);
        let r2 = sent(&s.on_bytes(t0, &first));
        assert_eq!(s.on_bytes(t0, &first), Step::Wait);
        assert_eq!(s.anomalies().len(), 1);
        let second = reply(r2.transaction_id, 1, 2, 0, 0, &[(3, "U")]);
        assert_eq!(s.on_bytes(t0, &second), Step::Done);
        let f = s.take_findings();
        assert_eq!(identity(&f[0]).objects.len(), 2, "{f:?}");
    }

    #[test]
    fn repeated_replies_keep_a_bounded_note() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(
            &[1],
            &[ReadDeviceIdCode::Basic, ReadDeviceIdCode::Regular],
        ));
        let r1 = sent(&s.on_connected(t0));
        let first = reply(r1.transaction_id, 1, 1, 0, 0, &[(0, "A")]);
        sent(&s.on_bytes(t0, &first));
        let flood: Vec<u8> = first
            .iter()
            .copied()
            .cycle()
            .take(first.len() * 1000)
            .collect();
        assert_eq!(s.on_bytes(t0, &flood), Step::Wait);
        assert_eq!(s.anomalies().len(), MAX_ANOMALIES);
    }

    #[test]
    fn a_timeout_after_the_unit_answered_ends_the_probe() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(
            &[1, 2],
            &[ReadDeviceIdCode::Basic, ReadDeviceIdCode::Regular],
        ));
        let r = sent(&s.on_connected(t0));
        let r = sent(&s.on_bytes(t0, &reply(r.transaction_id, 1, 1, 0, 0, &[(0, "A")])));
        assert_eq!(r.read_code, ReadDeviceIdCode::Regular);
        // The unit went quiet on the regular code: what it said stands, nothing more is
        // asked (no other unit id, no reconnect).
        assert_eq!(s.on_timeout(t0 + Duration::from_secs(1)), Step::Done);
        let f = s.take_findings();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(identity(&f[0]).objects[&0], "A");
    }

    #[test]
    fn every_unit_silent_is_one_timeout() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(&[1, 2], &[ReadDeviceIdCode::Basic]));
        sent(&s.on_connected(t0));
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(s.on_timeout(t1), Step::Reconnect);
        sent(&s.on_connected(t1));
        assert_eq!(s.on_timeout(t1 + Duration::from_secs(1)), Step::Done);
        let f = s.take_findings();
        assert_eq!(
            f.iter().map(|f| &f.fact).collect::<Vec<_>>(),
            [&Fact::NoAnswer {
                protocol: Protocol::Modbus,
                port: 502,
                outcome: NoAnswerKind::Timeout
            }]
        );
    }

    #[test]
    fn every_silent_unit_id_gets_its_connection_up_to_the_cap() {
        // Was capped at the driver's 8 connections: unit ids 9 and later were never
        // asked, while the plan listed them.
        let t0 = Instant::now();
        let units: Vec<u8> = (1..=40).collect();
        let mut s = ModbusSession::new(cfg(&units, &[ReadDeviceIdCode::Basic]));
        let mut t = t0;
        let mut asked = Vec::new();
        let mut step = s.on_connected(t);
        loop {
            asked.push(sent(&step).unit_id);
            t += Duration::from_secs(1);
            match s.on_timeout(t) {
                Step::Reconnect => step = s.on_connected(t),
                Step::Done => break,
                other => panic!("after a timeout: {other:?}"),
            }
        }
        assert_eq!(asked, (1..=MAX_UNIT_IDS as u8).collect::<Vec<_>>());
        let f = s.take_findings();
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(matches!(
            f[0].fact,
            Fact::NoAnswer {
                outcome: NoAnswerKind::Timeout,
                ..
            }
        ));
    }

    #[test]
    fn a_refused_reconnect_keeps_the_silence_first() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(&[0xFF, 0], &[ReadDeviceIdCode::Basic]));
        sent(&s.on_connected(t0));
        assert_eq!(s.on_timeout(t0 + Duration::from_secs(1)), Step::Reconnect);
        assert_eq!(
            s.on_connection_lost(t0 + Duration::from_secs(2), ConnectionLoss::Refused),
            Step::Done
        );
        let outcomes: Vec<NoAnswerKind> = s
            .take_findings()
            .iter()
            .map(|f| match f.fact {
                Fact::NoAnswer { outcome, .. } => outcome,
                ref other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(outcomes, [NoAnswerKind::Timeout, NoAnswerKind::Refused]);
    }

    #[test]
    fn no_request_follows_a_timeout_on_the_same_connection() {
        // Every shape of a probe (unit ids, read codes, an answer or an exception first),
        // timed out after each possible number of answered requests: the step after
        // `on_timeout` is never a request.
        let codes = [
            ReadDeviceIdCode::Basic,
            ReadDeviceIdCode::Regular,
            ReadDeviceIdCode::Individual,
        ];
        for units in [&[1u8][..], &[0xFF, 0], &[0xFF, 1, 2]] {
            for first in [None, Some(0x0Bu8), Some(0x02)] {
                for answered in 0..4 {
                    let t0 = Instant::now();
                    let mut s = ModbusSession::new(cfg(units, &codes));
                    let mut step = s.on_connected(t0);
                    for i in 0..answered {
                        let Step::Send(SafeRequest::Modbus(Safe::ReadDeviceId(r))) = step else {
                            break;
                        };
                        let frame = match (i, first) {
                            (0, Some(code)) => exception(r.transaction_id, r.unit_id, code),
                            _ => reply(
                                r.transaction_id,
                                r.unit_id,
                                r.read_code.code(),
                                0,
                                0,
                                &[(r.object_id, "x")],
                            ),
                        };
                        step = s.on_bytes(t0, &frame);
                    }
                    if !matches!(step, Step::Send(_)) {
                        continue;
                    }
                    let after = s.on_timeout(t0 + Duration::from_secs(1));
                    assert!(
                        matches!(after, Step::Reconnect | Step::Done),
                        "units {units:?}, first {first:?}, {answered} answered: {after:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn illegal_function_is_a_negative_answer_and_ends_the_probe() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(
            &[1, 2],
            &[ReadDeviceIdCode::Basic, ReadDeviceIdCode::Regular],
        ));
        let r = sent(&s.on_connected(t0));
        assert_eq!(
            s.on_bytes(t0, &exception(r.transaction_id, 1, 0x01)),
            Step::Done
        );
        let f = s.take_findings();
        assert_eq!(f.len(), 1);
        let Fact::Negative { answer, .. } = &f[0].fact else {
            panic!("{f:?}")
        };
        assert!(answer.contains("0x01 (illegal function)"), "{answer}");
        assert_eq!(
            f[0].raw.as_deref(),
            Some(&exception(r.transaction_id, 1, 1)[..])
        );
    }

    #[test]
    fn gateway_exception_moves_to_the_next_unit() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(&[1, 2], &[ReadDeviceIdCode::Basic]));
        let r = sent(&s.on_connected(t0));
        let r2 = sent(&s.on_bytes(t0, &exception(r.transaction_id, 1, 0x0B)));
        assert_eq!(r2.unit_id, 2);
        let ok = reply(r2.transaction_id, 2, 1, 0, 0, &[(0, "BEHIND GW")]);
        assert_eq!(s.on_bytes(t0, &ok), Step::Done);
        let f = s.take_findings();
        assert!(matches!(f[0].fact, Fact::Negative { .. }));
        assert_eq!(identity(&f[1]).unit_id, 2);
    }

    fn gateway_cfg(own: &[u8], behind: &[u8], names: &[&str]) -> ModbusSessionConfig {
        ModbusSessionConfig {
            gateway_units: behind.to_vec(),
            gateway_identities: names.iter().map(|n| n.to_string()).collect(),
            ..cfg(own, &[ReadDeviceIdCode::Basic])
        }
    }

    fn subs(s: &mut ModbusSession) -> Vec<(String, String)> {
        s.take_sub_findings()
            .iter()
            .map(|(path, f)| (path.clone(), identity(f).objects[&0].clone()))
            .collect()
    }

    #[test]
    fn a_gateway_exception_opens_the_listed_units_behind_it() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(gateway_cfg(&[0xFF, 0], &[1, 2, 3], &[]));
        let mut units = Vec::new();
        let r = sent(&s.on_connected(t0));
        units.push(r.unit_id);
        // Both own unit ids: "no path" from the gateway.
        let r = sent(&s.on_bytes(t0, &exception(r.transaction_id, 0xFF, 0x0A)));
        units.push(r.unit_id);
        let r = sent(&s.on_bytes(t0, &exception(r.transaction_id, 0, 0x0A)));
        units.push(r.unit_id);
        let ok1 = reply(r.transaction_id, 1, 1, 0, 0, &[(0, "Schneider Electric")]);
        // An answer behind the gateway does not end the probe: unit 2 on the same connection.
        let r = sent(&s.on_bytes(t0, &ok1));
        units.push(r.unit_id);
        let r = sent(&s.on_bytes(t0, &exception(r.transaction_id, 2, 0x0B)));
        units.push(r.unit_id);
        let ok3 = reply(r.transaction_id, 3, 1, 0, 0, &[(0, "Eaton")]);
        assert_eq!(s.on_bytes(t0, &ok3), Step::Done);
        assert_eq!(units, [0xFF, 0, 1, 2, 3]);
        assert_eq!(s.connections, 1);
        assert_eq!(
            subs(&mut s),
            [
                (
                    "modbus:unit/1".to_string(),
                    "Schneider Electric".to_string()
                ),
                ("modbus:unit/3".to_string(), "Eaton".to_string())
            ]
        );
        let f = s.take_findings();
        // Three gateway exceptions on the gateway, no identity of its own, no silence.
        assert_eq!(f.len(), 3, "{f:?}");
        assert!(f.iter().all(|f| matches!(f.fact, Fact::Negative { .. })));
    }

    #[test]
    fn without_a_gateway_sign_no_listed_unit_is_sent() {
        let t0 = Instant::now();
        // The device answers for itself and is no gateway the profile names.
        let mut s = ModbusSession::new(gateway_cfg(&[0xFF], &[1, 2], &["MGate"]));
        let r = sent(&s.on_connected(t0));
        let ok = reply(
            r.transaction_id,
            0xFF,
            1,
            0,
            0,
            &[(0, "Schneider Electric")],
        );
        assert_eq!(s.on_bytes(t0, &ok), Step::Done);
        assert!(s.take_sub_findings().is_empty());
        // Silent: no sign either.
        let mut s = ModbusSession::new(gateway_cfg(&[0xFF], &[1, 2], &[]));
        sent(&s.on_connected(t0));
        assert_eq!(s.on_timeout(t0 + Duration::from_millis(500)), Step::Done);
        let f = s.take_findings();
        assert!(matches!(f[0].fact, Fact::NoAnswer { .. }), "{f:?}");
    }

    #[test]
    fn a_named_gateway_identity_opens_the_units_and_a_silent_unit_gets_a_new_connection() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(gateway_cfg(&[0xFF], &[4, 5], &["mgate"]));
        let r = sent(&s.on_connected(t0));
        let own = reply(
            r.transaction_id,
            0xFF,
            1,
            0,
            0,
            &[(0, "Moxa"), (1, "MGate MB3170")],
        );
        let r4 = sent(&s.on_bytes(t0, &own));
        assert_eq!(r4.unit_id, 4);
        // Unit 4 stays silent: nothing more on this connection, unit 5 on a new one.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(s.on_timeout(t1), Step::Reconnect);
        let r5 = sent(&s.on_connected(t1));
        assert_eq!(r5.unit_id, 5);
        let ok = reply(r5.transaction_id, 5, 1, 0, 0, &[(0, "ABB")]);
        assert_eq!(s.on_bytes(t1, &ok), Step::Done);
        assert_eq!(
            subs(&mut s),
            [("modbus:unit/5".to_string(), "ABB".to_string())]
        );
        let f = s.take_findings();
        assert_eq!(identity(&f[0]).objects[&0], "Moxa");
        let Fact::Negative { answer, .. } = &f[1].fact else {
            panic!("{f:?}")
        };
        assert!(
            answer.starts_with("unit 4 behind the gateway gave no answer"),
            "{answer}"
        );
        assert_eq!(f.len(), 2);
        assert_eq!(s.max_connections(), MAX_CONNECTS);
    }

    #[test]
    fn illegal_data_address_on_regular_keeps_the_basic_identity() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(
            &[1],
            &[ReadDeviceIdCode::Basic, ReadDeviceIdCode::Regular],
        ));
        let r = sent(&s.on_connected(t0));
        let r = sent(&s.on_bytes(t0, &reply(r.transaction_id, 1, 1, 0, 0, &[(0, "A")])));
        assert_eq!(r.read_code, ReadDeviceIdCode::Regular);
        assert_eq!(
            s.on_bytes(t0, &exception(r.transaction_id, 1, 0x02)),
            Step::Done
        );
        let f = s.take_findings();
        assert!(matches!(f[0].fact, Fact::Negative { .. }));
        assert_eq!(identity(&f[1]).objects[&0], "A");
    }

    #[test]
    fn a_looping_device_is_stopped() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(&[1], &[ReadDeviceIdCode::Extended]));
        let r = sent(&s.on_connected(t0));
        let r = sent(&s.on_bytes(
            t0,
            &reply(r.transaction_id, 1, 3, 0xFF, 0x81, &[(0x80, "a")]),
        ));
        assert_eq!(r.object_id, 0x81);
        // Next object goes backwards: stop, keep what came.
        let step = s.on_bytes(
            t0,
            &reply(r.transaction_id, 1, 3, 0xFF, 0x80, &[(0x81, "b")]),
        );
        assert_eq!(step, Step::Done);
        let f = s.take_findings();
        assert!(matches!(&f[0].fact, Fact::Suspicious { reason, .. } if reason.contains("loops")));
        assert_eq!(identity(&f[1]).objects.len(), 2);
    }

    #[test]
    fn pages_are_capped() {
        let t0 = Instant::now();
        let mut c = cfg(&[1], &[ReadDeviceIdCode::Extended]);
        c.max_pages = 3;
        let mut s = ModbusSession::new(c);
        let mut r = sent(&s.on_connected(t0));
        let mut sends = 1;
        loop {
            let next = r.object_id.max(0x7F) + 1;
            let frame = reply(r.transaction_id, 1, 3, 0xFF, next, &[(next - 1, "x")]);
            match s.on_bytes(t0, &frame) {
                Step::Send(SafeRequest::Modbus(Safe::ReadDeviceId(n))) => {
                    r = n;
                    sends += 1;
                }
                Step::Done => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(sends, 3);
    }

    #[test]
    fn zero_objects_is_an_answer() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(&[1, 2], &[ReadDeviceIdCode::Basic]));
        let r = sent(&s.on_connected(t0));
        assert_eq!(
            s.on_bytes(t0, &reply(r.transaction_id, 1, 1, 0, 0, &[])),
            Step::Done
        );
        // The unit answered but named nothing: a finding saying so, with the reply kept,
        // never an identity with empty fields (issue 14), and the next unit id is not
        // tried (something answered).
        let f = s.take_findings();
        assert_eq!(f.len(), 1, "{f:?}");
        let Fact::NoIdentity {
            protocol, answer, ..
        } = &f[0].fact
        else {
            panic!(
                "expected an answered-no-identity finding, got {:?}",
                f[0].fact
            );
        };
        assert_eq!(*protocol, Protocol::Modbus);
        assert_eq!(
            answer,
            "unit 1 answered read device identification with no identity objects (read code 1)"
        );
        assert!(f[0].raw.as_ref().is_some_and(|r| !r.is_empty()));
    }

    #[test]
    fn individual_code_asks_only_for_objects_not_yet_known() {
        let t0 = Instant::now();
        let mut c = cfg(
            &[1],
            &[ReadDeviceIdCode::Basic, ReadDeviceIdCode::Individual],
        );
        c.individual_objects = vec![0x00, 0x04];
        let mut s = ModbusSession::new(c);
        let r = sent(&s.on_connected(t0));
        let r = sent(&s.on_bytes(t0, &reply(r.transaction_id, 1, 1, 0, 0, &[(0, "A")])));
        assert_eq!(
            (r.read_code, r.object_id),
            (ReadDeviceIdCode::Individual, 0x04)
        );
        let frame = reply(r.transaction_id, 1, 4, 0, 0, &[(4, "Name")]);
        assert_eq!(s.on_bytes(t0, &frame), Step::Done);
        assert_eq!(identity(&s.take_findings()[0]).objects[&4], "Name");
    }

    #[test]
    fn wrong_transaction_id_is_suspicious() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(&[1], &[ReadDeviceIdCode::Basic]));
        let r = sent(&s.on_connected(t0));
        let frame = reply(r.transaction_id.wrapping_add(7), 1, 1, 0, 0, &[]);
        assert_eq!(s.on_bytes(t0, &frame), Step::Done);
        let f = s.take_findings();
        assert!(matches!(&f[0].fact, Fact::Suspicious { .. }));
        assert_eq!(f[0].raw.as_deref(), Some(&frame[..]));
    }

    #[test]
    fn an_http_server_is_not_modbus() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(&[1], &[ReadDeviceIdCode::Basic]));
        sent(&s.on_connected(t0));
        assert_eq!(s.on_bytes(t0, b"HTTP/1.1 400 Bad Request\r\n"), Step::Done);
        let f = s.take_findings();
        assert!(matches!(
            f[0].fact,
            Fact::NoAnswer {
                outcome: NoAnswerKind::NotThisProtocol,
                ..
            }
        ));
    }

    #[test]
    fn undecodable_reply_is_suspicious_with_raw_bytes() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(&[1], &[ReadDeviceIdCode::Basic]));
        let r = sent(&s.on_connected(t0));
        // Claims 9 objects in a 2-byte remainder.
        let mut frame = vec![0, 0, 0, 0, 0, 10, 1, 0x2b, 0x0e, 1, 0x81, 0, 0, 9, 0, 0];
        frame[..2].copy_from_slice(&r.transaction_id.to_be_bytes());
        assert_eq!(s.on_bytes(t0, &frame), Step::Done);
        let f = s.take_findings();
        assert!(
            matches!(&f[0].fact, Fact::Suspicious { reason, .. } if reason.contains("undecodable"))
        );
        assert_eq!(f[0].raw.as_deref(), Some(&frame[..]));
    }

    #[test]
    fn connection_loss_is_recorded() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(&[1], &[ReadDeviceIdCode::Basic]));
        assert_eq!(
            s.on_connection_lost(t0, ConnectionLoss::Refused),
            Step::Done
        );
        assert!(matches!(
            s.take_findings()[0].fact,
            Fact::NoAnswer {
                outcome: NoAnswerKind::Refused,
                ..
            }
        ));
    }

    #[test]
    fn config_comes_from_the_profile() {
        let profile: Profile = toml::from_str(
            r#"
            name = "t"
            [pacing]
            max_rate = 10.0
            burst = 1
            hosts_in_flight = 1
            host_interval_ms = 100
            connect_timeout_ms = 1000
            response_timeout_ms = 750
            retries = 0
            retry_backoff_ms = 0
            cooldown_ms = 0
            breaker_failures = 3
            breaker_resets = 2
            [modbus]
            enabled = true
            port = 5020
            unit_ids = [255, 1, 0]
            read_codes = ["basic", "regular"]
            [enip]
            enabled = false
            port = 44818
            transport = "tcp"
            list_services = false
            [s7]
            enabled = false
            port = 102
            tsaps = [0x0102]
            local_tsap = 0x0100
            szl_ids = [0x0011]
            pdu_length = 480
            "#,
        )
        .unwrap();
        let c = ModbusSessionConfig::from_profile(&profile);
        assert_eq!(c.port, 5020);
        assert_eq!(c.unit_ids, [255, 1, 0]);
        assert_eq!(
            c.read_codes,
            [ReadDeviceIdCode::Basic, ReadDeviceIdCode::Regular]
        );
        assert_eq!(c.response_timeout, Duration::from_millis(750));
        assert_eq!(c.max_pages, DEFAULT_MAX_PAGES);
        // The first request goes to the first unit id with the first read code.
        let mut s = ModbusSession::new(c);
        let r = sent(&s.on_connected(Instant::now()));
        assert_eq!((r.unit_id, r.read_code), (255, ReadDeviceIdCode::Basic));
    }

    #[test]
    fn every_request_passes_the_guard() {
        let t0 = Instant::now();
        let mut s = ModbusSession::new(cfg(&[1], &[ReadDeviceIdCode::Basic]));
        let Step::Send(req) = s.on_connected(t0) else {
            panic!()
        };
        assert!(crate::safety::emit(&req).is_ok());
    }

    /// The dry-run plan lists, per unit id, what the session sends on that unit's
    /// connection to a device that answers every read code: driven here against
    /// in-memory replies, with the unit ids before it silent (a timeout, then a new
    /// connection).
    #[test]
    fn plan_is_what_the_session_sends() {
        use crate::protocols::plan::shown;
        let mut p = crate::profile::builtin("conservative").unwrap().profile;
        p.modbus.unit_ids = vec![255, 0, 7];
        p.modbus.read_codes = vec![ReadDeviceIdCode::Basic, ReadDeviceIdCode::Regular];
        let plan = super::super::plan::probe_plan(&p);
        assert_eq!(plan.connections.len(), 3);
        for (answering, conn) in plan.connections.iter().enumerate() {
            let mut t = Instant::now();
            let mut s = ModbusSession::new(ModbusSessionConfig::from_profile(&p));
            for _ in 0..answering {
                let _ = sent(&s.on_connected(t));
                t = s.poll_timeout().expect("waiting for the reply");
                assert_eq!(s.on_timeout(t), Step::Reconnect);
            }
            let mut on_conn = Vec::new();
            let mut step = s.on_connected(t);
            while let Step::Send(SafeRequest::Modbus(Safe::ReadDeviceId(r))) = step {
                on_conn.push(SafeRequest::Modbus(Safe::ReadDeviceId(r)));
                let objects: &[(u8, &str)] = match r.read_code {
                    ReadDeviceIdCode::Basic => &[(0, "Acme"), (1, "X-1"), (2, "1.0")],
                    _ => &[(3, "acme.example")],
                };
                let answer = reply(
                    r.transaction_id,
                    r.unit_id,
                    r.read_code.code(),
                    0,
                    0,
                    objects,
                );
                step = s.on_bytes(t, &answer);
            }
            assert_eq!(step, Step::Done);
            assert_eq!(shown(&on_conn), shown(&conn.requests), "{}", conn.purpose);
        }
    }
}
