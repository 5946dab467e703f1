//! The EtherNet/IP probe session: List Identity (and List Services when asked) over TCP or
//! UDP unicast, as a sans-IO state machine.
//!
//! It never touches a socket or a clock: the driver passes `now` and the bytes that
//! arrived, and carries out the [`Step`]s. One request is in flight at a time; each
//! carries its own sender context, and a reply counts only when its command and sender
//! context match the request in flight (Vol. 2 2-3.1: the target echoes the context).
//!
//! # Transports
//! - **TCP**: `on_bytes` takes any slice of the stream; the session frames it with
//!   [`crate::wire::enip::frame_len`].
//! - **UDP unicast**: the driver sends each [`Step::Send`] as one datagram and calls
//!   `on_bytes` once per received datagram, with exactly that datagram's bytes. A datagram
//!   is one whole frame: a short or overlong datagram is a suspicious reply, never "wait
//!   for more". `on_connected` is called once the socket is bound and connected to the
//!   device; `on_connection_lost(Refused)` when an ICMP port-unreachable comes back.
//!
//! # Outcomes
//! | what happened | finding |
//! |---|---|
//! | identity item(s) in the reply | `Fact::Identity` per item, raw reply kept |
//! | encapsulation status 0x0001 (or any non-zero status) | `Fact::Negative` |
//! | no reply before the response timeout | `Fact::NoAnswer { Timeout }`, then done |
//! | refused / reset / closed before the reply | `Fact::NoAnswer` (closed: `NotThisProtocol`) |
//! | a reply that does not decode | `Fact::Suspicious`, raw kept, then done |
//! | TCP: a reply to something else (command or context mismatch) | `Fact::Suspicious`, then done |
//! | UDP: a datagram that answers something else | ignored, kept in [`EnipSession::anomalies`] |
//!
//! # Backplane enumeration (opt-in, TCP only)
//! When the configuration lists backplane slots and a List Identity item says device type
//! 12 (communications adapter, Vol. 1 5-42.2), the session goes on, on the same
//! connection: Register Session, one routed Get_Attributes_All per slot (each its own
//! [`Step::Send`], so the driver paces it), then Unregister Session, which gets no reply
//! (Vol. 2 2-4.5): the session waits one response timeout for the adapter to close, then
//! finishes. Every reply must echo the request's sender context; Register's reply must
//! give a non-zero session handle, and each slot's reply must carry that handle.
//! | slot reply | finding |
//! |---|---|
//! | general status 0, an identity | `Fact::Identity` at path `cip:1/N` ([`EnipSession::take_sub_findings`]) |
//! | any other general status (0x05 path destination unknown, 0x08 service not supported, 0x04 path segment error, 0x01 with a routing error) | `Fact::Negative` "empty or unreachable slot" on the adapter |
//! | encapsulation status non-zero, a wrong session handle, undecodable | `Fact::Negative` / `Fact::Suspicious`, enumeration ends |
//!
//! List Services capability flags are kept on the session ([`EnipSession::services`]),
//! not turned into facts: whether a port counts as an open service is the driver's call.

use std::time::{Duration, Instant};

use super::Safe;
use super::settings::EnipTransport;
use crate::inventory::{Fact, Identity, NoAnswerKind, Protocol};
use crate::profile::Profile;
use crate::protocols::enip::identity as enip_identity;
use crate::protocols::enip::safe::{BackplaneRead, EnipList, EnipListCommand};
use crate::protocols::session::{ConnectionLoss, Finding, Session, Step};
use crate::safety::SafeRequest;
use crate::wire::enip::{
    self, Body, CipIdentity, Command, EncapStatus, Frame, ItemType, ServiceItem,
};
use crate::wire::{Anomaly, Cursor};

/// What one EtherNet/IP probe of one device does. Plain data, built by the scan driver.
///
/// The port is here only to label findings; the driver owns the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnipSessionConfig {
    pub transport: EnipTransport,
    /// The port the driver talks to (for findings).
    pub port: u16,
    /// Also ask List Services after List Identity.
    pub list_services: bool,
    /// How long to wait for each reply.
    pub response_timeout: Duration,
    /// The first 6 bytes of every sender context; the last 2 are the request's sequence
    /// number (little-endian), so a stale reply to an earlier request never matches.
    pub context_prefix: [u8; 6],
    /// Backplane slots to read through an adapter, in order (empty: none; always empty
    /// over UDP, which has no sessions).
    pub backplane_slots: Vec<u8>,
}

impl EnipSessionConfig {
    /// The profile's EtherNet/IP settings and response timeout.
    pub fn from_profile(p: &Profile) -> Self {
        EnipSessionConfig {
            transport: p.enip.transport,
            port: p.enip.port,
            list_services: p.enip.list_services,
            response_timeout: Duration::from_millis(p.pacing.response_timeout_ms),
            context_prefix: *b"otscou",
            backplane_slots: match p.enip.transport {
                EnipTransport::Tcp => p.enip.slots().collect(),
                EnipTransport::Udp => Vec::new(),
            },
        }
    }
}

/// What the session sends next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    List(EnipListCommand),
    Register,
    Slot(u8),
    Unregister,
}

/// CIP device type 12: communications adapter (Vol. 1 table 5-42.3).
pub const COMMUNICATIONS_ADAPTER: u16 = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InFlight {
    request: Safe,
    deadline: Instant,
}

/// The EtherNet/IP session (see the module docs for the transports and outcomes).
#[derive(Debug)]
pub struct EnipSession {
    cfg: EnipSessionConfig,
    /// Requests still to send, in order.
    queue: Vec<Op>,
    in_flight: Option<InFlight>,
    sent: u16,
    /// TCP stream bytes not yet framed (bounded: at most one frame, see `on_tcp_bytes`).
    buf: Vec<u8>,
    findings: Vec<Finding>,
    anomalies: Vec<Anomaly>,
    services: Vec<ServiceItem>,
    /// The handle of the registered encapsulation session (backplane enumeration).
    session_handle: Option<u32>,
    /// The backplane enumeration was queued (once per session).
    backplane_queued: bool,
    /// Identities of modules behind the adapter, with their route path (`cip:1/N`).
    sub_findings: Vec<(String, Finding)>,
    done: bool,
}

impl EnipSession {
    pub fn new(cfg: EnipSessionConfig) -> Self {
        let mut queue = vec![Op::List(EnipListCommand::ListIdentity)];
        if cfg.list_services {
            queue.push(Op::List(EnipListCommand::ListServices));
        }
        queue.reverse();
        EnipSession {
            cfg,
            queue,
            in_flight: None,
            sent: 0,
            buf: Vec::new(),
            findings: Vec::new(),
            anomalies: Vec::new(),
            services: Vec::new(),
            session_handle: None,
            backplane_queued: false,
            sub_findings: Vec::new(),
            done: false,
        }
    }

    /// The module identities read through the backplane, each with its route path
    /// (`cip:1/N`); the driver records them as sub-asset observations.
    pub fn take_sub_findings(&mut self) -> Vec<(String, Finding)> {
        std::mem::take(&mut self.sub_findings)
    }

    /// Queues Register, the slots and Unregister after whatever List* is still queued.
    fn queue_backplane(&mut self) {
        if self.backplane_queued || self.cfg.backplane_slots.is_empty() {
            return;
        }
        self.backplane_queued = true;
        // `queue` is popped from the end: the bottom is sent last.
        let mut ops = vec![Op::Unregister];
        ops.extend(self.cfg.backplane_slots.iter().rev().map(|&n| Op::Slot(n)));
        ops.push(Op::Register);
        self.queue.splice(0..0, ops);
    }

    /// Drops the queued backplane requests (a refused Register, a broken session).
    fn abandon_backplane(&mut self) {
        self.queue.retain(|op| matches!(op, Op::List(_)));
    }

    /// Odd things seen (ignored datagrams, decoder anomalies), for the driver's log.
    pub fn anomalies(&self) -> &[Anomaly] {
        &self.anomalies
    }

    /// The List Services items the device sent (capability flags, names).
    pub fn services(&self) -> &[ServiceItem] {
        &self.services
    }

    fn next(&mut self, now: Instant) -> Step {
        let Some(op) = self.queue.pop() else {
            return self.finish();
        };
        let mut sender_context = [0u8; 8];
        sender_context[..6].copy_from_slice(&self.cfg.context_prefix);
        sender_context[6..].copy_from_slice(&self.sent.to_le_bytes());
        let request = match (op, self.session_handle) {
            (Op::List(command), _) => Safe::List(EnipList {
                command,
                sender_context,
            }),
            (Op::Register, _) => Safe::RegisterSession { sender_context },
            (Op::Slot(slot), Some(session_handle)) => Safe::Backplane(BackplaneRead {
                session_handle,
                sender_context,
                slot,
            }),
            (Op::Unregister, Some(session_handle)) => Safe::UnregisterSession {
                session_handle,
                sender_context,
            },
            // No session: nothing routed or unregistered can be sent.
            (Op::Slot(_) | Op::Unregister, None) => return self.next(now),
        };
        self.sent = self.sent.wrapping_add(1);
        self.in_flight = Some(InFlight {
            request,
            deadline: now + self.cfg.response_timeout,
        });
        Step::Send(SafeRequest::Enip(request))
    }

    fn finish(&mut self) -> Step {
        self.in_flight = None;
        self.queue.clear();
        self.done = true;
        Step::Done
    }

    fn push(&mut self, fact: Fact, raw: Option<Vec<u8>>, request: &'static str) {
        self.findings.push(Finding { fact, raw, request });
    }

    fn suspicious(&mut self, reason: String, raw: &[u8], request: &'static str) -> Step {
        let fact = Fact::Suspicious {
            protocol: Protocol::Enip,
            port: self.cfg.port,
            reason,
        };
        self.push(fact, Some(raw.to_vec()), request);
        self.finish()
    }

    fn on_tcp_bytes(&mut self, now: Instant, bytes: &[u8]) -> Step {
        self.buf.extend_from_slice(bytes);
        loop {
            let n = match enip::frame_len(&self.buf) {
                Ok(None) => return Step::Wait,
                Ok(Some(n)) => n,
                Err(e) => {
                    let raw = std::mem::take(&mut self.buf);
                    let req = self.current_kind();
                    return self.suspicious(format!("not an enip frame: {e}"), &raw, req);
                }
            };
            // `frame_len` says `Some(n)` only when `n` bytes are held (the framing contract
            // of `wire`), and `n` is at most 24 + 65511.
            let frame: Vec<u8> = self.buf.drain(..n).collect();
            let step = self.on_frame(now, &frame);
            if step != Step::Wait || self.buf.is_empty() {
                return step;
            }
        }
    }

    fn current_kind(&self) -> &'static str {
        self.in_flight
            .map(|f| f.request.kind())
            .unwrap_or("enip.list_identity")
    }

    /// The reply to a backplane request in flight (`raw` decoded as `frame`, its command
    /// and sender context already matched).
    fn on_backplane_reply(&mut self, now: Instant, frame: &Frame, raw: &[u8]) -> Step {
        let Some(flight) = self.in_flight.take() else {
            return Step::Wait;
        };
        let kind = flight.request.kind();
        if frame.header.status != EncapStatus::Success {
            let status = frame.header.status;
            let fact = Fact::Negative {
                protocol: Protocol::Enip,
                port: self.cfg.port,
                answer: format!(
                    "{kind} refused with status {:#06x} {}",
                    status.raw(),
                    status.label().unwrap_or("")
                )
                .trim_end()
                .to_string(),
            };
            self.push(fact, Some(raw.to_vec()), kind);
            self.abandon_backplane();
            return self.next(now);
        }
        match flight.request {
            Safe::RegisterSession { .. } => {
                let version_ok = matches!(
                    frame.body,
                    Body::RegisterSession {
                        protocol_version: 1,
                        ..
                    }
                );
                if frame.header.session_handle == 0 || !version_ok {
                    self.abandon_backplane();
                    return self.suspicious(
                        format!(
                            "register session reply with session handle {:#010x} and body {:?}",
                            frame.header.session_handle, frame.body
                        ),
                        raw,
                        kind,
                    );
                }
                self.session_handle = Some(frame.header.session_handle);
            }
            Safe::Backplane(b) => {
                if frame.header.session_handle != b.session_handle {
                    let what = format!(
                        "slot {} reply with session handle {:#010x}, the session is {:#010x}",
                        b.slot, frame.header.session_handle, b.session_handle
                    );
                    return self.suspicious(what, raw, kind);
                }
                let reply = match enip::cip_reply(frame) {
                    Ok(Some(r)) => r,
                    Ok(None) => {
                        let what = format!("slot {} reply without a cip reply", b.slot);
                        return self.suspicious(what, raw, kind);
                    }
                    Err(e) => {
                        let what = format!("slot {} reply does not decode: {e}", b.slot);
                        return self.suspicious(what, raw, kind);
                    }
                };
                // Success comes from the module (Get_Attributes_All reply, 0x81); a routing
                // failure from the adapter (Unconnected Send reply, 0xD2), Vol. 1 3-5.5.2.
                if reply.general_status != 0 || reply.service != 0x81 {
                    let fact = Fact::Negative {
                        protocol: Protocol::Enip,
                        port: self.cfg.port,
                        answer: format!(
                            "cip:{}/{}: empty or unreachable slot (service {:#04x}, cip general status {:#04x}{})",
                            super::safe::BACKPLANE_PORT,
                            b.slot,
                            reply.service,
                            reply.general_status,
                            cip_status_label(reply.general_status)
                        ),
                    };
                    self.push(fact, Some(raw.to_vec()), kind);
                    return self.next(now);
                }
                let mut anomalies = Vec::new();
                match CipIdentity::decode(&mut Cursor::framed(&reply.data), &mut anomalies) {
                    Ok(id) => {
                        self.anomalies.extend(anomalies);
                        let path = format!("cip:{}/{}", super::safe::BACKPLANE_PORT, b.slot);
                        let finding = Finding {
                            fact: Fact::Identity {
                                identity: Identity::Enip(enip_identity::cip_identity(&id)),
                            },
                            raw: Some(raw.to_vec()),
                            request: kind,
                        };
                        self.sub_findings.push((path, finding));
                    }
                    Err(e) => {
                        let what = format!("slot {} identity does not decode: {e}", b.slot);
                        return self.suspicious(what, raw, kind);
                    }
                }
            }
            _ => {}
        }
        self.next(now)
    }

    /// One whole frame (a TCP frame or a UDP datagram).
    fn on_frame(&mut self, now: Instant, raw: &[u8]) -> Step {
        let udp = self.cfg.transport == EnipTransport::Udp;
        let Some(flight) = self.in_flight else {
            self.anomalies.push(Anomaly {
                field: "enip.reply",
                what: format!("{} unsolicited bytes ignored", raw.len()),
            });
            return Step::Wait;
        };
        let kind = flight.request.kind();
        let frame = match Frame::decode_exact(raw) {
            Ok(f) => f,
            Err(e) => return self.suspicious(format!("undecodable {kind} reply: {e}"), raw, kind),
        };
        let (expected, context) = match flight.request {
            Safe::List(l) => (super::safe::command(l.command), l.sender_context),
            Safe::RegisterSession { sender_context } => (Command::RegisterSession, sender_context),
            Safe::Backplane(b) => (Command::SendRrData, b.sender_context),
            Safe::UnregisterSession { sender_context, .. } => {
                (Command::UnregisterSession, sender_context)
            }
        };
        if frame.header.command != expected || frame.header.sender_context != context {
            let what = format!(
                "reply with command {:#06x} and sender context {} does not answer {kind}",
                frame.header.command.raw(),
                hex::encode(frame.header.sender_context)
            );
            if udp {
                self.anomalies.push(Anomaly {
                    field: "enip.header.sender_context",
                    what,
                });
                return Step::Wait;
            }
            return self.suspicious(what, raw, kind);
        }
        self.anomalies.extend(frame.anomalies.iter().cloned());
        if !matches!(flight.request, Safe::List(_)) {
            return self.on_backplane_reply(now, &frame, raw);
        }
        self.in_flight = None;
        if frame.header.status != EncapStatus::Success {
            let status = frame.header.status;
            let answer = match status.label() {
                Some(l) => format!("status {:#06x} {l}", status.raw()),
                None => format!("status {:#06x}", status.raw()),
            };
            let fact = Fact::Negative {
                protocol: Protocol::Enip,
                port: self.cfg.port,
                answer,
            };
            self.push(fact, Some(raw.to_vec()), kind);
            return self.next(now);
        }
        match expected {
            Command::ListIdentity => match enip_identity::list_identity_reply(&frame) {
                Ok((ids, anomalies)) if !ids.is_empty() => {
                    self.anomalies.extend(anomalies);
                    if ids.iter().any(|i| i.device_type == COMMUNICATIONS_ADAPTER) {
                        self.queue_backplane();
                    }
                    for id in ids {
                        let fact = Fact::Identity {
                            identity: Identity::Enip(id),
                        };
                        self.push(fact, Some(raw.to_vec()), kind);
                    }
                }
                Ok(_) => {
                    return self.suspicious(
                        "list identity reply without an identity item".into(),
                        raw,
                        kind,
                    );
                }
                Err(e) => return self.suspicious(format!("bad identity item: {e}"), raw, kind),
            },
            Command::ListServices => {
                let items: Vec<_> = frame
                    .cpf_items()
                    .iter()
                    .filter(|i| i.type_id == ItemType::ListServices)
                    .map(|i| ServiceItem::decode(&mut Cursor::framed(&i.data)))
                    .collect();
                for item in items {
                    match item {
                        Ok(s) => self.services.push(s),
                        Err(e) => {
                            return self.suspicious(
                                format!("bad list services item: {e}"),
                                raw,
                                kind,
                            );
                        }
                    }
                }
            }
            _ => {}
        }
        self.next(now)
    }
}

impl Session for EnipSession {
    fn protocol(&self) -> Protocol {
        Protocol::Enip
    }

    fn on_connected(&mut self, now: Instant) -> Step {
        if self.done {
            return Step::Done;
        }
        self.buf.clear();
        self.next(now)
    }

    fn on_bytes(&mut self, now: Instant, bytes: &[u8]) -> Step {
        if self.done {
            return Step::Done;
        }
        match self.cfg.transport {
            EnipTransport::Tcp => self.on_tcp_bytes(now, bytes),
            EnipTransport::Udp => {
                // One datagram is one frame; `Frame::decode_exact` refuses short and long ones.
                self.on_frame(now, bytes)
            }
        }
    }

    fn on_timeout(&mut self, now: Instant) -> Step {
        if self.done {
            return Step::Done;
        }
        match self.in_flight {
            // Unregister Session gets no reply (Vol. 2 2-4.5): its wait is over.
            Some(InFlight {
                request: Safe::UnregisterSession { .. },
                deadline,
            }) if now >= deadline => self.finish(),
            Some(f) if now >= f.deadline => {
                let kind = f.request.kind();
                let fact = Fact::NoAnswer {
                    protocol: Protocol::Enip,
                    port: self.cfg.port,
                    outcome: NoAnswerKind::Timeout,
                };
                self.push(fact, None, kind);
                // A device that went quiet is not asked again in this session.
                self.finish()
            }
            _ => Step::Wait,
        }
    }

    fn on_connection_lost(&mut self, _now: Instant, why: ConnectionLoss) -> Step {
        if self.done {
            return Step::Done;
        }
        if matches!(
            self.in_flight,
            Some(InFlight {
                request: Safe::UnregisterSession { .. },
                ..
            })
        ) && why == ConnectionLoss::Closed
        {
            // The adapter closes after Unregister Session: the expected end.
            return self.finish();
        }
        let outcome = match why {
            ConnectionLoss::Refused => NoAnswerKind::Refused,
            ConnectionLoss::ConnectTimeout => NoAnswerKind::Timeout,
            ConnectionLoss::Reset => NoAnswerKind::Reset,
            // A peer that closes instead of answering List Identity does not speak EtherNet/IP.
            ConnectionLoss::Closed => NoAnswerKind::NotThisProtocol,
        };
        let kind = self.current_kind();
        let fact = Fact::NoAnswer {
            protocol: Protocol::Enip,
            port: self.cfg.port,
            outcome,
        };
        self.push(fact, None, kind);
        self.finish()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.in_flight.map(|f| f.deadline)
    }

    fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    fn take_sub_findings(&mut self) -> Vec<(String, Finding)> {
        EnipSession::take_sub_findings(self)
    }
}

/// A short name for the CIP general statuses a routed read meets (Vol. 1 appendix B).
fn cip_status_label(status: u8) -> &'static str {
    match status {
        0x01 => " connection failure",
        0x04 => " path segment error",
        0x05 => " path destination unknown",
        0x08 => " service not supported",
        0x16 => " object does not exist",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::EnipIdentitySource;

    fn h(s: &str) -> Vec<u8> {
        let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        hex::decode(clean).unwrap()
    }

    fn cfg(transport: EnipTransport, list_services: bool) -> EnipSessionConfig {
        EnipSessionConfig {
            transport,
            port: 44818,
            list_services,
            response_timeout: Duration::from_millis(1500),
            context_prefix: *b"otscou",
            backplane_slots: Vec::new(),
        }
    }

    /// The identity reply of enip_test.pcap frame 7 (1756-ENBT/A at 10.1.1.164), with its
    /// sender context replaced by `ctx`.
    fn enbt_reply(ctx: [u8; 8]) -> Vec<u8> {
        let mut b = h("6300 3300 00000000 00000000 00000000c1debed1 00000000
             0100 0c00 2d00 0100 0002 af12 0a0101a4 0000000000000000
             0100 0c00 3a00 04 03 3000 8e4d5200 0b 313735362d454e42542f41 03");
        b[12..20].copy_from_slice(&ctx);
        b
    }

    /// The List Services reply of EIP-FirmwareChange_slice.pcap frame 11.
    fn services_reply(ctx: [u8; 8]) -> Vec<u8> {
        let mut b = h("0400 1a00 00000000 00000000 0000000000000000 00000000
             0100 0001 1400 0100 2001 436f6d6d756e69636174696f6e730000");
        b[12..20].copy_from_slice(&ctx);
        b
    }

    fn sent(step: Step) -> EnipList {
        match step {
            Step::Send(SafeRequest::Enip(Safe::List(r))) => r,
            other => panic!("expected a send, got {other:?}"),
        }
    }

    #[test]
    fn tcp_identity_in_two_pieces() {
        let t0 = Instant::now();
        let mut s = EnipSession::new(cfg(EnipTransport::Tcp, false));
        let req = sent(s.on_connected(t0));
        assert_eq!(req.command, EnipListCommand::ListIdentity);
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(1500)));
        let reply = enbt_reply(req.sender_context);
        assert_eq!(s.on_bytes(t0, &reply[..30]), Step::Wait);
        assert_eq!(s.on_bytes(t0, &reply[30..]), Step::Done);
        let f = s.take_findings();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].request, "enip.list_identity");
        assert_eq!(f[0].raw.as_deref(), Some(&reply[..]));
        let Fact::Identity {
            identity: Identity::Enip(id),
        } = &f[0].fact
        else {
            panic!("not an identity: {:?}", f[0].fact);
        };
        assert_eq!(id.source, EnipIdentitySource::ListIdentity);
        assert_eq!((id.vendor_id, id.device_type, id.product_code), (1, 12, 58));
        assert_eq!((id.revision_major, id.revision_minor), (4, 3));
        assert_eq!(id.serial, 0x0052_4d8e);
        assert_eq!(id.product_name, "1756-ENBT/A");
        assert_eq!(id.socket_addr, Some("10.1.1.164:44818".parse().unwrap()));
    }

    #[test]
    fn list_services_follows_and_flags_are_kept() {
        let t0 = Instant::now();
        let mut s = EnipSession::new(cfg(EnipTransport::Tcp, true));
        let r1 = sent(s.on_connected(t0));
        let t1 = t0 + Duration::from_millis(40);
        let r2 = sent(s.on_bytes(t1, &enbt_reply(r1.sender_context)));
        assert_eq!(r2.command, EnipListCommand::ListServices);
        assert_ne!(r1.sender_context, r2.sender_context);
        assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_millis(1500)));
        assert_eq!(
            s.on_bytes(t1, &services_reply(r2.sender_context)),
            Step::Done
        );
        assert_eq!(s.services().len(), 1);
        assert_eq!(s.services()[0].capability_flags, 0x0120);
        assert_eq!(s.services()[0].name_str(), "Communications");
        assert_eq!(s.take_findings().len(), 1);
    }

    #[test]
    fn unsupported_command_is_a_negative_finding() {
        let t0 = Instant::now();
        let mut s = EnipSession::new(cfg(EnipTransport::Tcp, true));
        let r1 = sent(s.on_connected(t0));
        let _ = s.on_bytes(t0, &enbt_reply(r1.sender_context));
        let Some(InFlight {
            request: Safe::List(r2),
            ..
        }) = s.in_flight
        else {
            panic!("list services not sent");
        };
        let mut no = h("0400 0000 00000000 01000000 0000000000000000 00000000");
        no[12..20].copy_from_slice(&r2.sender_context);
        assert_eq!(s.on_bytes(t0, &no), Step::Done);
        let f = s.take_findings();
        assert_eq!(f.len(), 2);
        assert_eq!(
            f[1].fact,
            Fact::Negative {
                protocol: Protocol::Enip,
                port: 44818,
                answer: "status 0x0001 invalid_or_unsupported_command".into()
            }
        );
        assert_eq!(f[1].request, "enip.list_services");
    }

    #[test]
    fn timeout_only_after_the_deadline() {
        let t0 = Instant::now();
        let mut s = EnipSession::new(cfg(EnipTransport::Tcp, true));
        let _ = s.on_connected(t0);
        assert_eq!(s.on_timeout(t0 + Duration::from_millis(1499)), Step::Wait);
        assert_eq!(s.on_timeout(t0 + Duration::from_millis(1500)), Step::Done);
        assert_eq!(s.poll_timeout(), None);
        let f = s.take_findings();
        assert_eq!(f.len(), 1);
        assert!(matches!(
            f[0].fact,
            Fact::NoAnswer {
                outcome: NoAnswerKind::Timeout,
                ..
            }
        ));
    }

    #[test]
    fn tcp_context_mismatch_is_suspicious() {
        let t0 = Instant::now();
        let mut s = EnipSession::new(cfg(EnipTransport::Tcp, false));
        let _ = s.on_connected(t0);
        assert_eq!(s.on_bytes(t0, &enbt_reply(*b"someone!")), Step::Done);
        let f = s.take_findings();
        assert!(matches!(f[0].fact, Fact::Suspicious { .. }), "{f:?}");
        assert!(f[0].raw.is_some());
    }

    #[test]
    fn udp_stale_datagram_is_ignored_then_the_real_one_counts() {
        let t0 = Instant::now();
        let mut s = EnipSession::new(cfg(EnipTransport::Udp, false));
        let r = sent(s.on_connected(t0));
        assert_eq!(s.on_bytes(t0, &enbt_reply(*b"stale!!!")), Step::Wait);
        assert_eq!(s.anomalies().len(), 1);
        assert_eq!(s.on_bytes(t0, &enbt_reply(r.sender_context)), Step::Done);
        assert!(matches!(s.take_findings()[0].fact, Fact::Identity { .. }));
    }

    #[test]
    fn udp_short_datagram_is_suspicious_not_wait() {
        let t0 = Instant::now();
        let mut s = EnipSession::new(cfg(EnipTransport::Udp, false));
        let r = sent(s.on_connected(t0));
        let reply = enbt_reply(r.sender_context);
        assert_eq!(s.on_bytes(t0, &reply[..40]), Step::Done);
        assert!(matches!(s.take_findings()[0].fact, Fact::Suspicious { .. }));
    }

    #[test]
    fn garbage_is_suspicious_and_kept() {
        let t0 = Instant::now();
        let mut s = EnipSession::new(cfg(EnipTransport::Tcp, false));
        let r = sent(s.on_connected(t0));
        // A List Identity reply whose CPF claims 1000 items.
        let mut b = h("6300 0200 00000000 00000000 0000000000000000 00000000 e803");
        b[12..20].copy_from_slice(&r.sender_context);
        assert_eq!(s.on_bytes(t0, &b), Step::Done);
        let f = s.take_findings();
        assert!(
            matches!(&f[0].fact, Fact::Suspicious { reason, .. } if reason.contains("item_count"))
        );
        assert_eq!(f[0].raw.as_deref(), Some(&b[..]));
    }

    #[test]
    fn closed_or_refused_is_no_answer() {
        let t0 = Instant::now();
        let mut s = EnipSession::new(cfg(EnipTransport::Tcp, false));
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
        let mut s = EnipSession::new(cfg(EnipTransport::Tcp, false));
        let _ = s.on_connected(t0);
        assert_eq!(s.on_connection_lost(t0, ConnectionLoss::Closed), Step::Done);
        assert!(matches!(
            s.take_findings()[0].fact,
            Fact::NoAnswer {
                outcome: NoAnswerKind::NotThisProtocol,
                ..
            }
        ));
    }

    #[test]
    fn every_step_passes_the_guard() {
        let t0 = Instant::now();
        let mut s = EnipSession::new(cfg(EnipTransport::Tcp, true));
        let Step::Send(r) = s.on_connected(t0) else {
            panic!()
        };
        assert_eq!(crate::safety::emit(&r).unwrap().len(), 24);
    }

    /// The dry-run plan lists what the session sends to a device that answers: List
    /// Identity, then List Services when the profile asks for it (in-memory replies).
    #[test]
    fn plan_is_what_the_session_sends() {
        use crate::protocols::plan::shown;
        for list_services in [false, true] {
            let mut p = crate::profile::builtin("conservative").unwrap().profile;
            p.enip.list_services = list_services;
            p.enip.transport = EnipTransport::Tcp;
            let plan = super::super::plan::probe_plan(&p);
            assert_eq!(plan.connections.len(), 1);
            let t = Instant::now();
            let mut s = EnipSession::new(EnipSessionConfig::from_profile(&p));
            let mut on_conn = Vec::new();
            let mut step = s.on_connected(t);
            while let Step::Send(SafeRequest::Enip(Safe::List(r))) = step {
                on_conn.push(SafeRequest::Enip(Safe::List(r)));
                let answer = match r.command {
                    EnipListCommand::ListIdentity => enbt_reply(r.sender_context),
                    _ => services_reply(r.sender_context),
                };
                step = s.on_bytes(t, &answer);
            }
            assert_eq!(step, Step::Done);
            assert_eq!(shown(&on_conn), shown(&plan.connections[0].requests));
        }
    }

    fn any_send(step: Step) -> Safe {
        match step {
            Step::Send(SafeRequest::Enip(r)) => r,
            other => panic!("expected a send, got {other:?}"),
        }
    }

    fn frame_bytes(f: Frame) -> Vec<u8> {
        let mut b = Vec::new();
        f.encode(&mut b);
        b
    }

    fn reply_header(command: Command, handle: u32, ctx: [u8; 8]) -> enip::Header {
        enip::Header {
            command,
            length: 0,
            session_handle: handle,
            status: EncapStatus::Success,
            sender_context: ctx,
            options: 0,
        }
    }

    /// A SendRRData reply carrying `cip` in an unconnected data item.
    fn rr_reply(handle: u32, ctx: [u8; 8], cip: Vec<u8>) -> Vec<u8> {
        frame_bytes(Frame::new(
            reply_header(Command::SendRrData, handle, ctx),
            Body::SendData(enip::SendData {
                interface_handle: 0,
                timeout: 0,
                cpf: enip::Cpf {
                    items: vec![
                        enip::CpfItem {
                            type_id: ItemType::NullAddress,
                            data: vec![],
                        },
                        enip::CpfItem {
                            type_id: ItemType::UnconnectedData,
                            data: cip,
                        },
                    ],
                },
            }),
        ))
    }

    fn module_identity(name: &str) -> Vec<u8> {
        let mut cip = vec![0x81, 0, 0, 0];
        CipIdentity {
            vendor_id: 1,
            device_type: 14,
            product_code: 54,
            revision: [20, 11],
            status: 0x3160,
            serial: 0x00c0_ffee,
            product_name: name.as_bytes().to_vec(),
            extra: vec![],
        }
        .encode(&mut cip);
        cip
    }

    fn backplane_cfg(slots: Vec<u8>) -> EnipSessionConfig {
        EnipSessionConfig {
            backplane_slots: slots,
            ..cfg(EnipTransport::Tcp, false)
        }
    }

    #[test]
    fn an_adapter_gets_register_one_read_per_slot_and_unregister() {
        let t0 = Instant::now();
        let mut s = EnipSession::new(backplane_cfg(vec![0, 1, 2]));
        let r = sent(s.on_connected(t0));
        // enip_test.pcap's 1756-ENBT/A: device type 12.
        let Safe::RegisterSession { sender_context } =
            any_send(s.on_bytes(t0, &enbt_reply(r.sender_context)))
        else {
            panic!("no register session");
        };
        let reg = frame_bytes(Frame::new(
            reply_header(Command::RegisterSession, 0x0102_0304, sender_context),
            Body::RegisterSession {
                protocol_version: 1,
                options: 0,
            },
        ));
        let Safe::Backplane(b0) = any_send(s.on_bytes(t0, &reg)) else {
            panic!("no slot 0 read");
        };
        assert_eq!((b0.slot, b0.session_handle), (0, 0x0102_0304));
        let step = s.on_bytes(
            t0,
            &rr_reply(
                0x0102_0304,
                b0.sender_context,
                module_identity("1756-L61/B"),
            ),
        );
        let Safe::Backplane(b1) = any_send(step) else {
            panic!("no slot 1 read");
        };
        assert_eq!(b1.slot, 1);
        // Slot 1 is empty: Unconnected Send reply, general status 0x05.
        let empty = rr_reply(0x0102_0304, b1.sender_context, vec![0xd2, 0, 0x05, 0]);
        let Safe::Backplane(b2) = any_send(s.on_bytes(t0, &empty)) else {
            panic!("no slot 2 read");
        };
        assert_eq!(b2.slot, 2);
        let svc = rr_reply(0x0102_0304, b2.sender_context, vec![0x81, 0, 0x08, 0]);
        let Safe::UnregisterSession { session_handle, .. } = any_send(s.on_bytes(t0, &svc)) else {
            panic!("no unregister");
        };
        assert_eq!(session_handle, 0x0102_0304);
        // No reply to Unregister: the wait ends quietly at the timeout.
        let end = s.poll_timeout().unwrap();
        assert_eq!(s.on_timeout(end), Step::Done);
        let subs = s.take_sub_findings();
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0].0, "cip:1/0");
        assert_eq!(subs[0].1.request, "enip.backplane_identity");
        let Fact::Identity {
            identity: Identity::Enip(id),
        } = &subs[0].1.fact
        else {
            panic!("not an identity");
        };
        assert_eq!(id.product_name, "1756-L61/B");
        let f = s.take_findings();
        // The adapter's identity and two empty-slot findings; no error, no no-answer.
        assert_eq!(f.len(), 3, "{f:?}");
        let answers: Vec<String> = f
            .iter()
            .filter_map(|x| match &x.fact {
                Fact::Negative { answer, .. } => Some(answer.clone()),
                _ => None,
            })
            .collect();
        assert!(
            answers[0].starts_with("cip:1/1: empty or unreachable slot"),
            "{answers:?}"
        );
        assert!(answers[0].contains("path destination unknown"));
        assert!(answers[1].contains("service not supported"));
    }

    #[test]
    fn a_device_that_is_not_an_adapter_gets_no_session() {
        let t0 = Instant::now();
        let mut s = EnipSession::new(backplane_cfg(vec![0, 1]));
        let r = sent(s.on_connected(t0));
        let mut reply = enbt_reply(r.sender_context);
        // Device type 14 (programmable logic controller) at item offset 6+16+2.
        reply[24 + 6 + 2 + 16 + 2] = 14;
        assert_eq!(s.on_bytes(t0, &reply), Step::Done);
        assert!(s.take_sub_findings().is_empty());
    }

    #[test]
    fn a_slot_reply_on_another_session_or_context_ends_the_enumeration() {
        let t0 = Instant::now();
        let mut s = EnipSession::new(backplane_cfg(vec![3]));
        let r = sent(s.on_connected(t0));
        let Safe::RegisterSession { sender_context } =
            any_send(s.on_bytes(t0, &enbt_reply(r.sender_context)))
        else {
            panic!("no register session");
        };
        let reg = frame_bytes(Frame::new(
            reply_header(Command::RegisterSession, 7, sender_context),
            Body::RegisterSession {
                protocol_version: 1,
                options: 0,
            },
        ));
        let Safe::Backplane(b) = any_send(s.on_bytes(t0, &reg)) else {
            panic!("no slot read");
        };
        let wrong = rr_reply(8, b.sender_context, module_identity("x"));
        assert_eq!(s.on_bytes(t0, &wrong), Step::Done);
        assert!(s.take_sub_findings().is_empty());
        let f = s.take_findings();
        assert!(
            matches!(&f.last().unwrap().fact, Fact::Suspicious { reason, .. } if reason.contains("session handle"))
        );

        // A register reply with handle 0 is refused before any slot is read.
        let mut s = EnipSession::new(backplane_cfg(vec![3]));
        let r = sent(s.on_connected(t0));
        let Safe::RegisterSession { sender_context } =
            any_send(s.on_bytes(t0, &enbt_reply(r.sender_context)))
        else {
            panic!("no register session");
        };
        let reg0 = frame_bytes(Frame::new(
            reply_header(Command::RegisterSession, 0, sender_context),
            Body::RegisterSession {
                protocol_version: 1,
                options: 0,
            },
        ));
        assert_eq!(s.on_bytes(t0, &reg0), Step::Done);
    }
}
