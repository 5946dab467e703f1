//! The FINS probe session: Controller Data Read over UDP, or over TCP after the FINS/TCP
//! node-address handshake, as a sans-IO state machine.
//!
//! It never touches a socket or a clock: the driver passes `now` and the bytes that
//! arrived and carries out the [`Step`]s. One request is in flight at a time.
//!
//! The steps and findings are local types ([`Step`], [`Outcome`]); the
//! [`crate::protocols::session::Session`] impl at the end maps them to
//! `Step::Send(SafeRequest::Fins(..))` and `Fact`s.
//!
//! # Transports
//! - **UDP**: one Controller Data Read datagram with DA1 0 and the configured source node;
//!   each `on_bytes` call is one datagram. A datagram that does not answer it (not a
//!   response, another command or SID) is ignored and kept as an anomaly.
//! - **TCP**: the node-address request first; its answer gives the client node (SA1) and
//!   the server node (DA1) for the Controller Data Read. `on_bytes` takes any slice of
//!   the stream, framed with [`crate::wire::fins::frame_len`].
//!
//! # Outcomes
//! | what happened | outcome |
//! |---|---|
//! | end code 0 and a model | [`Outcome::Identified`] |
//! | end code 0, empty model | [`Outcome::NoIdentity`] |
//! | any other end code | [`Outcome::EndCode`] (the device spoke FINS and said no) |
//! | FINS/TCP error code or error notification in the handshake | [`Outcome::TcpError`] |
//! | nothing before the response timeout | [`Outcome::NoAnswer`] `Timeout` |
//! | refused / reset / closed first | [`Outcome::NoAnswer`] |
//! | bytes that are not FINS, or a TCP frame answering something else | [`Outcome::Suspicious`] |

use std::time::{Duration, Instant};

use super::identity::{FinsIdentity, to_identity};
use super::safe::{Safe, Transport};
use crate::inventory::NoAnswerKind;
use crate::probe::ConnectionLoss;
use crate::wire::Anomaly;
use crate::wire::fins::{self, CONTROLLER_DATA_READ, Frame, TcpBody, TcpFrame};

/// What the session wants done next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this request (through the guard).
    Send(Safe),
    /// Wait for bytes or the deadline from [`FinsSession::poll_timeout`].
    Wait,
    /// Finished: close and collect the findings.
    Done,
}

/// One thing the session learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Identified(FinsIdentity),
    NoIdentity,
    EndCode {
        /// MRES and SRES as sent.
        end_code: u16,
        description: &'static str,
    },
    TcpError {
        command: u32,
        error_code: u32,
    },
    NoAnswer(NoAnswerKind),
    Suspicious(String),
}

/// An outcome with the bytes behind it and the request that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub outcome: Outcome,
    pub raw: Option<Vec<u8>>,
    pub request: &'static str,
}

/// What one FINS probe of one device does. Plain data, built by the scan driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinsSessionConfig {
    pub transport: Transport,
    /// The port the driver talks to (for findings).
    pub port: u16,
    pub response_timeout: Duration,
    /// SA1 over UDP (1-254). Omron units in "automatic generation (static)" address
    /// conversion answer to the host part equal to SA1 on their own subnet: the driver
    /// sets it with [`source_node_for`] from its own address so such a unit answers otscout.
    pub source_node: u8,
    /// SID of the Controller Data Read.
    pub sid: u8,
}

/// SA1 for a FINS/UDP request from `local` (the driver's own source address): its last
/// octet, so a unit in "automatic generation (static)" address conversion, which answers
/// the host whose host part is SA1 on its own subnet, answers otscout and no one else.
/// Host parts 0 and 255 are not FINS nodes (0 is the unit itself, 255 broadcast): then
/// `fallback`, which must be 1-254 (the guard refuses anything else).
pub fn source_node_for(local: std::net::IpAddr, fallback: u8) -> u8 {
    match local {
        std::net::IpAddr::V4(v4) => match v4.octets()[3] {
            n @ 1..=254 => n,
            _ => fallback,
        },
        std::net::IpAddr::V6(_) => fallback,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    AwaitNode { deadline: Instant },
    AwaitData { request: Safe, deadline: Instant },
    Done,
}

/// The FINS session (see the module docs).
#[derive(Debug)]
pub struct FinsSession {
    cfg: FinsSessionConfig,
    state: State,
    buf: Vec<u8>,
    findings: Vec<Finding>,
    anomalies: Vec<Anomaly>,
    /// The configured source node, for [`source_node_for`]'s fallback.
    fallback_node: u8,
}

impl FinsSession {
    pub fn new(cfg: FinsSessionConfig) -> Self {
        FinsSession {
            fallback_node: cfg.source_node,
            cfg,
            state: State::Idle,
            buf: Vec::new(),
            findings: Vec::new(),
            anomalies: Vec::new(),
        }
    }

    /// Odd things seen (ignored datagrams, decoder anomalies), for the driver's log.
    pub fn anomalies(&self) -> &[Anomaly] {
        &self.anomalies
    }

    pub fn port(&self) -> u16 {
        self.cfg.port
    }

    fn current(&self) -> &'static str {
        match self.state {
            State::AwaitNode { .. } => Safe::NodeAddressRequest.kind(),
            _ => "fins.controller_data_read",
        }
    }

    fn push(&mut self, outcome: Outcome, raw: Option<&[u8]>) {
        let request = self.current();
        self.findings.push(Finding {
            outcome,
            raw: raw.map(<[u8]>::to_vec),
            request,
        });
    }

    fn finish(&mut self) -> Step {
        self.state = State::Done;
        self.buf.clear();
        Step::Done
    }

    fn suspicious(&mut self, reason: String, raw: &[u8]) -> Step {
        self.push(Outcome::Suspicious(reason), Some(raw));
        self.finish()
    }

    fn read(&mut self, now: Instant, dest_node: u8, source_node: u8) -> Step {
        let request = Safe::ControllerDataRead {
            transport: self.cfg.transport,
            dest_node,
            source_node,
            sid: self.cfg.sid,
        };
        self.state = State::AwaitData {
            request,
            deadline: now + self.cfg.response_timeout,
        };
        Step::Send(request)
    }

    pub fn on_connected(&mut self, now: Instant) -> Step {
        if self.state != State::Idle {
            return if self.state == State::Done {
                Step::Done
            } else {
                Step::Wait
            };
        }
        match self.cfg.transport {
            Transport::Udp => self.read(now, 0, self.cfg.source_node),
            Transport::Tcp => {
                self.state = State::AwaitNode {
                    deadline: now + self.cfg.response_timeout,
                };
                Step::Send(Safe::NodeAddressRequest)
            }
        }
    }

    pub fn on_bytes(&mut self, now: Instant, bytes: &[u8]) -> Step {
        if self.state == State::Done {
            return Step::Done;
        }
        match self.cfg.transport {
            Transport::Udp => self.on_datagram(bytes),
            Transport::Tcp => {
                self.buf.extend_from_slice(bytes);
                loop {
                    let n = match fins::frame_len(&self.buf) {
                        Ok(None) => return Step::Wait,
                        Ok(Some(n)) => n,
                        Err(e) => {
                            let raw = std::mem::take(&mut self.buf);
                            return self.suspicious(format!("not a fins/tcp frame: {e}"), &raw);
                        }
                    };
                    // `Some(n)` only when n bytes are held (the framing contract), and n is
                    // at most 8 + MAX_TCP_LEN.
                    let frame: Vec<u8> = self.buf.drain(..n).collect();
                    let step = self.on_tcp_frame(now, &frame);
                    if step != Step::Wait || self.buf.is_empty() {
                        return step;
                    }
                }
            }
        }
    }

    fn on_tcp_frame(&mut self, now: Instant, raw: &[u8]) -> Step {
        let f = match TcpFrame::decode_exact(raw) {
            Ok(f) => f,
            Err(e) => return self.suspicious(format!("undecodable fins/tcp frame: {e}"), raw),
        };
        match (self.state, f.body) {
            (State::AwaitNode { .. }, _) if f.error_code != 0 => {
                self.push(
                    Outcome::TcpError {
                        command: fins::TCP_NODE_ADDRESS_RESPONSE,
                        error_code: f.error_code,
                    },
                    Some(raw),
                );
                self.finish()
            }
            (
                State::AwaitNode { .. },
                TcpBody::NodeAddressResponse {
                    client_node,
                    server_node,
                },
            ) => {
                // Node numbers from the wire, untrusted: FINS nodes are 1-254, and the
                // guard refuses anything else as DA1 or SA1.
                let node = |n: u32| u8::try_from(n).ok().filter(|n| (1..=254).contains(n));
                match (node(client_node), node(server_node)) {
                    (Some(c), Some(s)) => self.read(now, s, c),
                    _ => self.suspicious(
                        format!(
                            "node-address answer with client node {client_node} and server node {server_node} (1-254 only)"
                        ),
                        raw,
                    ),
                }
            }
            (_, TcpBody::Other { command, .. }) if command == fins::TCP_ERROR => {
                self.push(
                    Outcome::TcpError {
                        command,
                        error_code: f.error_code,
                    },
                    Some(raw),
                );
                self.finish()
            }
            (State::AwaitData { request, .. }, TcpBody::Frame(frame)) => {
                match self.answer(&request, &frame, raw) {
                    Some(step) => step,
                    None => self.suspicious(
                        format!(
                            "fins frame (command {:#06x}, sid {:#04x}) does not answer the controller data read",
                            frame.command, frame.header.sid
                        ),
                        raw,
                    ),
                }
            }
            (_, body) => {
                let what = TcpFrame {
                    error_code: f.error_code,
                    body,
                }
                .command();
                self.suspicious(format!("unexpected fins/tcp command {what}"), raw)
            }
        }
    }

    fn on_datagram(&mut self, raw: &[u8]) -> Step {
        let State::AwaitData { request, .. } = self.state else {
            self.anomalies.push(Anomaly {
                field: "fins.reply",
                what: format!("{} unsolicited bytes ignored", raw.len()),
            });
            return Step::Wait;
        };
        let frame = match Frame::decode_exact(raw) {
            Ok(f) => f,
            Err(e) => {
                self.anomalies.push(Anomaly {
                    field: "fins.reply",
                    what: format!("datagram ignored: {e}"),
                });
                return Step::Wait;
            }
        };
        match self.answer(&request, &frame, raw) {
            Some(step) => step,
            None => {
                self.anomalies.push(Anomaly {
                    field: "fins.reply",
                    what: format!(
                        "datagram with command {:#06x}, sid {:#04x} does not answer the request",
                        frame.command, frame.header.sid
                    ),
                });
                Step::Wait
            }
        }
    }

    /// The step for a frame that answers `request`, or `None` when it answers something
    /// else.
    fn answer(&mut self, request: &Safe, frame: &Frame, raw: &[u8]) -> Option<Step> {
        let Safe::ControllerDataRead { sid, .. } = *request else {
            return None;
        };
        if !frame.header.is_response()
            || frame.command != CONTROLLER_DATA_READ
            || frame.header.sid != sid
        {
            return None;
        }
        let Some(end) = frame.end_code() else {
            return Some(self.suspicious(
                "controller data read answer without an end code".into(),
                raw,
            ));
        };
        if !end.is_normal() {
            self.push(
                Outcome::EndCode {
                    end_code: end.raw(),
                    description: end.description(),
                },
                Some(raw),
            );
            return Some(self.finish());
        }
        match frame.controller_data() {
            Some(Ok(d)) => {
                self.anomalies.extend(d.anomalies());
                match to_identity(&d, Some(frame.header.sa1)) {
                    Some(id) => self.push(Outcome::Identified(id), Some(raw)),
                    None => self.push(Outcome::NoIdentity, Some(raw)),
                }
                Some(self.finish())
            }
            Some(Err(e)) => Some(self.suspicious(format!("bad controller data: {e}"), raw)),
            None => Some(self.suspicious("controller data read answer without data".into(), raw)),
        }
    }

    pub fn on_timeout(&mut self, now: Instant) -> Step {
        match self.state {
            State::AwaitNode { deadline } | State::AwaitData { deadline, .. }
                if now >= deadline =>
            {
                self.push(Outcome::NoAnswer(NoAnswerKind::Timeout), None);
                self.finish()
            }
            State::Done => Step::Done,
            _ => Step::Wait,
        }
    }

    pub fn on_connection_lost(&mut self, _now: Instant, why: ConnectionLoss) -> Step {
        if self.state == State::Done {
            return Step::Done;
        }
        let kind = match why {
            ConnectionLoss::Refused => NoAnswerKind::Refused,
            ConnectionLoss::ConnectTimeout => NoAnswerKind::Timeout,
            ConnectionLoss::Reset => NoAnswerKind::Reset,
            ConnectionLoss::Closed => NoAnswerKind::NotThisProtocol,
        };
        self.push(Outcome::NoAnswer(kind), None);
        self.finish()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::AwaitNode { deadline } | State::AwaitData { deadline, .. } => Some(deadline),
            _ => None,
        }
    }

    pub fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    /// The identity found so far.
    pub fn identity_so_far(&self) -> Option<&FinsIdentity> {
        self.findings.iter().find_map(|f| match &f.outcome {
            Outcome::Identified(id) => Some(id),
            _ => None,
        })
    }
}

/// Builds the session from the profile's `[fins]` section and response timeout; the source
/// node is the fallback until the driver tells the local address
/// ([`crate::protocols::session::Session::on_local_addr`]).
impl FinsSessionConfig {
    pub fn from_profile(p: &crate::profile::Profile, port: u16) -> Self {
        FinsSessionConfig {
            transport: p.fins.transport.into(),
            port,
            response_timeout: Duration::from_millis(p.pacing.response_timeout_ms),
            source_node: p.fins.fallback_source_node,
            sid: 1,
        }
    }
}

fn step(s: Step) -> crate::protocols::session::Step {
    use crate::protocols::session::Step as S;
    match s {
        Step::Send(r) => S::Send(crate::safety::SafeRequest::Fins(r)),
        Step::Wait => S::Wait,
        Step::Done => S::Done,
    }
}

impl crate::protocols::session::Session for FinsSession {
    fn protocol(&self) -> crate::inventory::Protocol {
        crate::inventory::Protocol::Fins
    }

    fn on_local_addr(&mut self, local: std::net::IpAddr) {
        // Only before the first request: SA1 stays what the request carried.
        if self.state == State::Idle {
            self.cfg.source_node = source_node_for(local, self.fallback_node);
        }
    }

    fn on_connected(&mut self, now: Instant) -> crate::protocols::session::Step {
        step(FinsSession::on_connected(self, now))
    }

    /// UDP: one datagram per call; TCP: any slice of the stream.
    fn on_bytes(&mut self, now: Instant, bytes: &[u8]) -> crate::protocols::session::Step {
        step(FinsSession::on_bytes(self, now, bytes))
    }

    fn on_timeout(&mut self, now: Instant) -> crate::protocols::session::Step {
        step(FinsSession::on_timeout(self, now))
    }

    fn on_connection_lost(
        &mut self,
        now: Instant,
        why: ConnectionLoss,
    ) -> crate::protocols::session::Step {
        step(FinsSession::on_connection_lost(self, now, why))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        FinsSession::poll_timeout(self)
    }

    fn identity_so_far(&self) -> Option<crate::inventory::Identity> {
        FinsSession::identity_so_far(self).map(|id| crate::inventory::Identity::Fins(id.clone()))
    }

    fn take_findings(&mut self) -> Vec<crate::protocols::session::Finding> {
        use crate::inventory::{Fact, Identity, Protocol};
        let port = self.cfg.port;
        FinsSession::take_findings(self)
            .into_iter()
            .map(|f| {
                let fact = match f.outcome {
                    Outcome::Identified(id) => Fact::Identity {
                        identity: Identity::Fins(id),
                    },
                    Outcome::NoIdentity => Fact::NoIdentity {
                        protocol: Protocol::Fins,
                        port,
                        answer: "controller data read answered with an empty model".into(),
                    },
                    Outcome::EndCode {
                        end_code,
                        description,
                    } => Fact::Negative {
                        protocol: Protocol::Fins,
                        port,
                        answer: format!("end code {end_code:#06x}: {description}"),
                    },
                    Outcome::TcpError {
                        command,
                        error_code,
                    } => Fact::Negative {
                        protocol: Protocol::Fins,
                        port,
                        answer: format!("fins/tcp command {command:#x} error code {error_code:#x}"),
                    },
                    Outcome::NoAnswer(outcome) => Fact::NoAnswer {
                        protocol: Protocol::Fins,
                        port,
                        outcome,
                    },
                    Outcome::Suspicious(reason) => Fact::Suspicious {
                        protocol: Protocol::Fins,
                        port,
                        reason,
                    },
                };
                crate::protocols::session::Finding {
                    fact,
                    raw: f.raw,
                    request: f.request,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    //! Fake time and the bytes of `omron_test.pcap` (captures/INDEX.md).
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const DATA: &str = "4350314c2d454c32304452 2d44 000000 20202020 \
        30312e3030 0000000000 30312e3036 0000000000 \
        00000000000000000000000000000000 00000001000000000000000000000000 0000000000010003 \
        000a 17 2a10 08 00 0000 00 0000";

    fn cfg(transport: Transport) -> FinsSessionConfig {
        FinsSessionConfig {
            transport,
            port: 9600,
            response_timeout: Duration::from_secs(2),
            source_node: 0x63,
            sid: 0xef,
        }
    }

    #[test]
    fn udp_reads_the_cp1l() {
        let t0 = Instant::now();
        let mut s = FinsSession::new(cfg(Transport::Udp));
        let Step::Send(req) = s.on_connected(t0) else {
            panic!()
        };
        // Frame 17's bytes exactly.
        assert_eq!(req.to_bytes(), hex("80 00 02 00 00 00 00 63 00 ef 0501 00"));
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(2)));
        // A stray datagram (another SID) is ignored, then frame 18 answers.
        let stray = hex(&format!("c0 00 02 00 63 00 00 c8 00 01 0501 0000 {DATA}"));
        assert_eq!(s.on_bytes(t0, &stray), Step::Wait);
        assert_eq!(s.anomalies().len(), 1);
        let f18 = hex(&format!("c0 00 02 00 63 00 00 c8 00 ef 0501 0000 {DATA}"));
        assert_eq!(s.on_bytes(t0, &f18), Step::Done);
        let f = s.take_findings();
        let Outcome::Identified(id) = &f[0].outcome else {
            panic!("{f:?}")
        };
        assert_eq!(id.model, "CP1L-EL20DR-D");
        assert_eq!(id.version.as_deref(), Some("01.00"));
        assert_eq!(id.node, Some(0xc8));
        assert_eq!(f[0].raw.as_deref(), Some(&f18[..]));
    }

    #[test]
    fn tcp_does_the_handshake_then_reads_with_the_nodes_it_gave() {
        let t0 = Instant::now();
        let mut s = FinsSession::new(cfg(Transport::Tcp));
        assert_eq!(s.on_connected(t0), Step::Send(Safe::NodeAddressRequest));
        // Frame 7, cut in two.
        let f7 = hex("46494e53 00000010 00000001 00000000 000000fb 000000c8");
        assert_eq!(s.on_bytes(t0, &f7[..10]), Step::Wait);
        let Step::Send(req) = s.on_bytes(t0, &f7[10..]) else {
            panic!()
        };
        assert_eq!(
            req,
            Safe::ControllerDataRead {
                transport: Transport::Tcp,
                dest_node: 0xc8,
                source_node: 0xfb,
                sid: 0xef
            }
        );
        let f9 = hex(&format!(
            "46494e53 00000072 00000002 00000000 c0 00 02 00 fb c8 00 c8 00 ef 0501 0000 {DATA}"
        ));
        for b in &f9[..f9.len() - 1] {
            assert_eq!(s.on_bytes(t0, std::slice::from_ref(b)), Step::Wait);
        }
        assert_eq!(s.on_bytes(t0, &f9[f9.len() - 1..]), Step::Done);
        assert!(matches!(
            s.take_findings()[0].outcome,
            Outcome::Identified(_)
        ));
    }

    #[test]
    fn end_codes_and_handshake_errors_are_findings() {
        let t0 = Instant::now();
        let mut s = FinsSession::new(cfg(Transport::Udp));
        s.on_connected(t0);
        let ans = hex("c0 00 02 00 63 00 00 c8 00 ef 0501 2201");
        assert_eq!(s.on_bytes(t0, &ans), Step::Done);
        assert_eq!(
            s.take_findings()[0].outcome,
            Outcome::EndCode {
                end_code: 0x2201,
                description: "not executable in current mode"
            }
        );
        // FINS/TCP error 0x21: the client node is already in use.
        let mut s = FinsSession::new(cfg(Transport::Tcp));
        s.on_connected(t0);
        let err = hex("46494e53 00000010 00000001 00000021 000000fb 000000c8");
        assert_eq!(s.on_bytes(t0, &err), Step::Done);
        assert_eq!(
            s.take_findings()[0].outcome,
            Outcome::TcpError {
                command: 1,
                error_code: 0x21
            }
        );
        // Node 255 from the handshake is not used.
        let mut s = FinsSession::new(cfg(Transport::Tcp));
        s.on_connected(t0);
        let bad = hex("46494e53 00000010 00000001 00000000 000000ff 000000c8");
        assert_eq!(s.on_bytes(t0, &bad), Step::Done);
        assert!(matches!(
            s.take_findings()[0].outcome,
            Outcome::Suspicious(_)
        ));
    }

    #[test]
    fn the_udp_source_node_is_our_own_host_part() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(source_node_for(ip("10.1.1.173"), 0x63), 173);
        assert_eq!(source_node_for(ip("10.1.1.0"), 0x63), 0x63);
        assert_eq!(source_node_for(ip("10.1.1.255"), 0x63), 0x63);
        assert_eq!(source_node_for(ip("::1"), 0x63), 0x63);
        // Whatever it picks passes the guard.
        for last in 0..=255u8 {
            let node = source_node_for(ip(&format!("10.0.0.{last}")), 0x63);
            let r = Safe::ControllerDataRead {
                transport: Transport::Udp,
                dest_node: 0,
                source_node: node,
                sid: 1,
            };
            assert_eq!(super::super::safe::check(&r.to_bytes()), Ok(r));
        }
    }

    #[test]
    fn silence_times_out_and_foreign_bytes_are_suspicious() {
        let t0 = Instant::now();
        let mut s = FinsSession::new(cfg(Transport::Tcp));
        s.on_connected(t0);
        assert_eq!(s.on_timeout(t0 + Duration::from_secs(1)), Step::Wait);
        assert_eq!(s.on_timeout(t0 + Duration::from_secs(2)), Step::Done);
        assert_eq!(
            s.take_findings()[0].outcome,
            Outcome::NoAnswer(NoAnswerKind::Timeout)
        );
        let mut s = FinsSession::new(cfg(Transport::Tcp));
        s.on_connected(t0);
        assert_eq!(s.on_bytes(t0, b"HTTP/1.0 400"), Step::Done);
        assert!(matches!(
            s.take_findings()[0].outcome,
            Outcome::Suspicious(_)
        ));
        let mut s = FinsSession::new(cfg(Transport::Udp));
        s.on_connected(t0);
        assert_eq!(
            s.on_connection_lost(t0, ConnectionLoss::Refused),
            Step::Done
        );
        assert_eq!(
            s.take_findings()[0].outcome,
            Outcome::NoAnswer(NoAnswerKind::Refused)
        );
    }
}
