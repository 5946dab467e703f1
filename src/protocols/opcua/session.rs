//! The OPC UA probe as a sans-IO state machine over one TCP connection.
//!
//! Hello, Acknowledge; OpenSecureChannel (policy None); GetEndpoints; FindServers when the
//! settings ask; the opt-in BuildInfo read (CreateSession, ActivateSession anonymous, one
//! Read, CloseSession) only when the settings ask and the server offers an endpoint with
//! SecurityMode None and an Anonymous token; CloseSecureChannel; done. One request in
//! flight; every answer is matched to it by request id; time is a parameter.
//!
//! # OT safety
//! A request that went unanswered ends the session: nothing more goes out on the
//! connection (no CloseSecureChannel either; the driver closes with FIN). A server that
//! answers with ERR has closed the channel; one that answers a service with a fault is
//! left as it was found (an open session is closed, the channel is closed).

use std::time::{Duration, Instant};

use super::identity::{self, OpcuaIdentity};
use super::safe::{self, AuthToken, Channel, PolicyId, Safe, Url};
use crate::wire::opcua::{self as w, ChunkType, Frame, MessageType, Reassembly, Security, Service};

/// What the session should ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The URL asked for (`opc.tcp://<address>:<port>`).
    pub endpoint_url: Url,
    /// Also send FindServers (an aggregating or discovery server lists others).
    pub find_servers: bool,
    /// Opt-in: read BuildInfo through an anonymous session on an unsecured endpoint.
    pub build_info: bool,
    /// How long to wait for each answer.
    pub reply_timeout: Duration,
    /// After CloseSecureChannel (which has no answer): how long to wait for the server to
    /// close the connection before the driver closes it.
    pub close_wait: Duration,
}

/// What the session wants done next (the driver's `Step` once the registry carries
/// [`Safe`] in `SafeRequest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Send(Safe),
    Wait,
    Done,
}

/// Something the session learned besides the identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The server answered ERR (it closes the connection): a finding, not an error.
    Error {
        waiting_for: &'static str,
        status: u32,
        reason: Option<String>,
    },
    /// A service answered with a bad status (ServiceFault or a bad ResponseHeader).
    Fault {
        waiting_for: &'static str,
        status: u32,
    },
    /// The bytes were not OPC UA, or not the answer asked for.
    Malformed {
        waiting_for: &'static str,
        reason: String,
    },
    /// No answer before the deadline.
    Timeout { waiting_for: &'static str },
    /// The server closed or reset the connection.
    Closed { waiting_for: &'static str },
    /// The server certificate did not parse.
    Certificate(String),
    /// The BuildInfo read was asked for but not done, and why.
    SessionSkipped(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Ack,
    Open,
    Endpoints,
    Servers,
    Create,
    Activate,
    Read,
    CloseSession,
    /// CloseSecureChannel sent; waiting for the server to close.
    Closing,
    Done,
}

impl State {
    fn waiting_for(self) -> &'static str {
        match self {
            State::Start => "connect",
            State::Ack => "opcua.acknowledge",
            State::Open => "opcua.open_secure_channel",
            State::Endpoints => "opcua.get_endpoints",
            State::Servers => "opcua.find_servers",
            State::Create => "opcua.create_session",
            State::Activate => "opcua.activate_session",
            State::Read => "opcua.read_build_info",
            State::CloseSession => "opcua.close_session",
            State::Closing | State::Done => "nothing",
        }
    }
}

/// One probe of one endpoint.
#[derive(Debug)]
pub struct OpcuaSession {
    cfg: Config,
    state: State,
    buf: Vec<u8>,
    chunks: Reassembly,
    deadline: Option<Instant>,
    channel_id: u32,
    token_id: u32,
    next: u32,
    /// Request id of the message in flight.
    pending: u32,
    token: Option<AuthToken>,
    policy: Option<PolicyId>,
    identity: Option<OpcuaIdentity>,
    servers: Vec<OpcuaIdentity>,
    notes: Vec<Note>,
    raw_endpoints: Option<Vec<u8>>,
}

impl OpcuaSession {
    pub fn new(cfg: Config) -> Self {
        OpcuaSession {
            cfg,
            state: State::Start,
            buf: Vec::new(),
            chunks: Reassembly::default(),
            deadline: None,
            channel_id: 0,
            token_id: 0,
            next: 1,
            pending: 0,
            token: None,
            policy: None,
            identity: None,
            servers: Vec::new(),
            notes: Vec::new(),
            raw_endpoints: None,
        }
    }

    /// The identity from GetEndpoints (with BuildInfo when it was read).
    pub fn identity(&self) -> Option<&OpcuaIdentity> {
        self.identity.as_ref()
    }

    /// The applications FindServers listed.
    pub fn servers(&self) -> &[OpcuaIdentity] {
        &self.servers
    }

    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    /// The GetEndpoints answer's body, for audit.
    pub fn raw_endpoints(&self) -> Option<&[u8]> {
        self.raw_endpoints.as_deref()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn channel(&mut self) -> Channel {
        let n = self.next;
        self.next = self.next.wrapping_add(1);
        self.pending = n;
        Channel {
            channel_id: self.channel_id,
            token_id: self.token_id,
            sequence_number: n,
            request_id: n,
            request_handle: n,
        }
    }

    fn send(&mut self, now: Instant, state: State, s: Safe) -> Step {
        self.state = state;
        self.deadline = Some(now + self.cfg.reply_timeout);
        Step::Send(s)
    }

    fn done(&mut self) -> Step {
        self.state = State::Done;
        self.deadline = None;
        Step::Done
    }

    /// Closes the secure channel (no answer is expected) and waits briefly for the server
    /// to close the connection.
    fn close_channel(&mut self, now: Instant) -> Step {
        let ch = self.channel();
        self.state = State::Closing;
        self.deadline = Some(now + self.cfg.close_wait);
        Step::Send(Safe::CloseSecureChannel { ch })
    }

    /// The transport is up: Hello.
    pub fn on_connected(&mut self, now: Instant) -> Step {
        self.buf.clear();
        let endpoint_url = self.cfg.endpoint_url;
        self.send(now, State::Ack, Safe::Hello { endpoint_url })
    }

    pub fn on_timeout(&mut self, now: Instant) -> Step {
        match self.deadline {
            Some(d) if now >= d && self.state == State::Closing => self.done(),
            Some(d) if now >= d => {
                self.notes.push(Note::Timeout {
                    waiting_for: self.state.waiting_for(),
                });
                self.done()
            }
            _ if self.state == State::Done => Step::Done,
            _ => Step::Wait,
        }
    }

    /// The connection ended (FIN or reset) or could not be made.
    pub fn on_connection_lost(&mut self) -> Step {
        if !matches!(self.state, State::Done | State::Closing) {
            self.notes.push(Note::Closed {
                waiting_for: self.state.waiting_for(),
            });
        }
        self.done()
    }

    fn malformed(&mut self, reason: String) -> Step {
        self.notes.push(Note::Malformed {
            waiting_for: self.state.waiting_for(),
            reason,
        });
        self.done()
    }

    /// Bytes arrived.
    pub fn on_bytes(&mut self, now: Instant, bytes: &[u8]) -> Step {
        match self.state {
            State::Done => return Step::Done,
            // Nothing is awaited after CloseSecureChannel: whatever comes is ignored.
            State::Closing => return Step::Wait,
            _ => {}
        }
        self.buf.extend_from_slice(bytes);
        loop {
            let n = match w::frame_len(&self.buf) {
                Ok(Some(n)) => n,
                Ok(None) => return Step::Wait,
                Err(e) => return self.malformed(e.to_string()),
            };
            let frame: Vec<u8> = self.buf.drain(..n).collect();
            let step = self.on_frame(now, &frame);
            if step != Step::Wait {
                return step;
            }
        }
    }

    fn on_frame(&mut self, now: Instant, frame: &[u8]) -> Step {
        let f = match Frame::decode_exact(frame) {
            Ok(f) => f,
            Err(e) => return self.malformed(e.to_string()),
        };
        match (self.state, f) {
            (_, Frame::Error(e)) => {
                self.notes.push(Note::Error {
                    waiting_for: self.state.waiting_for(),
                    status: e.error,
                    reason: e.reason,
                });
                self.done()
            }
            (State::Ack, Frame::Acknowledge(_)) => {
                let (sequence_number, request_id) = (self.next, self.next);
                self.next += 1;
                self.pending = request_id;
                self.send(
                    now,
                    State::Open,
                    Safe::OpenSecureChannel {
                        sequence_number,
                        request_id,
                        request_handle: request_id,
                    },
                )
            }
            (_, Frame::Chunk(c)) if self.state != State::Ack => {
                let expected = if self.state == State::Open {
                    MessageType::Open
                } else {
                    MessageType::Message
                };
                if c.message_type != expected {
                    return self.malformed(format!("a {:?} chunk", c.message_type));
                }
                if let Security::Asymmetric(a) = &c.security {
                    if !a.is_none_policy() {
                        return self.malformed(format!(
                            "an answer under security policy {:?}",
                            a.policy_uri
                        ));
                    }
                }
                let p = match c.plain() {
                    Ok(p) => p,
                    Err(e) => return self.malformed(e.to_string()),
                };
                if p.request_id != self.pending {
                    return self.malformed(format!(
                        "an answer to request {} while {} is in flight",
                        p.request_id, self.pending
                    ));
                }
                match self.chunks.push(c.chunk, &p) {
                    Ok(None) => Step::Wait,
                    Ok(Some(body)) => self.on_service(now, &body),
                    Err(e) => self.malformed(e.to_string()),
                }
            }
            (_, f) => self.malformed(format!("unexpected {}", frame_name(&f))),
        }
    }

    fn on_service(&mut self, now: Instant, body: &[u8]) -> Step {
        let s = match Service::decode(body) {
            Ok(s) => s,
            Err(e) => return self.malformed(e.to_string()),
        };
        if let Some(h) = s.response_header().filter(|h| !h.is_good()) {
            self.notes.push(Note::Fault {
                waiting_for: self.state.waiting_for(),
                status: h.service_result,
            });
            return match self.state {
                State::Open => self.done(),
                // The session may exist: close it before the channel.
                State::Activate | State::Read => self.close_session(now),
                _ => self.close_channel(now),
            };
        }
        match (self.state, s) {
            (
                State::Open,
                Service::OpenSecureChannelResponse {
                    channel_id,
                    token_id,
                    ..
                },
            ) => {
                self.channel_id = channel_id;
                self.token_id = token_id;
                let ch = self.channel();
                let endpoint_url = self.cfg.endpoint_url;
                self.send(
                    now,
                    State::Endpoints,
                    Safe::GetEndpoints { ch, endpoint_url },
                )
            }
            (State::Endpoints, Service::GetEndpointsResponse { endpoints, .. }) => {
                self.raw_endpoints = Some(body.to_vec());
                let (id, err) = identity::from_endpoints(&endpoints, None);
                if let Some(e) = err {
                    self.notes.push(Note::Certificate(e.to_string()));
                }
                if self.cfg.build_info {
                    self.policy = match identity::anonymous_unsecured(&id)
                        .and_then(|e| e.anonymous_policy_id.as_deref())
                        .map(safe::policy_id)
                    {
                        Some(Ok(p)) => Some(p),
                        Some(Err(e)) => {
                            self.notes.push(Note::SessionSkipped(e.to_string()));
                            None
                        }
                        None => {
                            self.notes.push(Note::SessionSkipped(
                                "no endpoint with security mode none offers an anonymous token"
                                    .into(),
                            ));
                            None
                        }
                    };
                }
                self.identity = Some(id);
                self.after_endpoints(now)
            }
            (State::Servers, Service::FindServersResponse { servers, .. }) => {
                self.servers = servers
                    .iter()
                    .map(|a| identity::from_endpoints(&[], Some(a)).0)
                    .collect();
                self.after_servers(now)
            }
            (
                State::Create,
                Service::CreateSessionResponse {
                    authentication_token,
                    ..
                },
            ) => match AuthToken::from_node_id(&authentication_token) {
                Ok(t) => {
                    self.token = Some(t);
                    let ch = self.channel();
                    let policy_id = self.policy.expect("set before create");
                    self.send(
                        now,
                        State::Activate,
                        Safe::ActivateSession {
                            ch,
                            token: t,
                            policy_id,
                        },
                    )
                }
                Err(e) => {
                    // The session exists but otscout cannot name it: the server drops it
                    // when the channel closes.
                    self.notes.push(Note::SessionSkipped(e.to_string()));
                    self.close_channel(now)
                }
            },
            (State::Activate, Service::ActivateSessionResponse { .. }) => {
                let ch = self.channel();
                let token = self.token.expect("set on create");
                self.send(now, State::Read, Safe::ReadBuildInfo { ch, token })
            }
            (State::Read, Service::ReadResponse { results, .. }) => {
                if let Some(id) = &mut self.identity {
                    id.build_info = identity::build_info(&results);
                }
                self.close_session(now)
            }
            (State::CloseSession, Service::CloseSessionResponse { .. }) => self.close_channel(now),
            (_, s) => {
                let t = s.type_id();
                self.malformed(format!("service type id {t}"))
            }
        }
    }

    fn after_endpoints(&mut self, now: Instant) -> Step {
        if self.cfg.find_servers {
            let ch = self.channel();
            let endpoint_url = self.cfg.endpoint_url;
            return self.send(now, State::Servers, Safe::FindServers { ch, endpoint_url });
        }
        self.after_servers(now)
    }

    fn after_servers(&mut self, now: Instant) -> Step {
        if self.cfg.build_info && self.policy.is_some() {
            let ch = self.channel();
            let endpoint_url = self.cfg.endpoint_url;
            return self.send(now, State::Create, Safe::CreateSession { ch, endpoint_url });
        }
        self.close_channel(now)
    }

    fn close_session(&mut self, now: Instant) -> Step {
        match self.token {
            Some(token) => {
                let ch = self.channel();
                self.send(now, State::CloseSession, Safe::CloseSession { ch, token })
            }
            None => self.close_channel(now),
        }
    }
}

fn frame_name(f: &Frame) -> &'static str {
    match f {
        Frame::Hello(_) => "hello",
        Frame::Acknowledge(_) => "acknowledge",
        Frame::Error(_) => "error",
        Frame::ReverseHello { .. } => "reverse hello",
        Frame::Chunk(c) if c.chunk == ChunkType::Abort => "aborted chunk",
        Frame::Chunk(_) => "chunk",
    }
}

/// [`OpcuaSession`] behind the driver's session contract: its steps as
/// [`crate::safety::SafeRequest`]s, its identity and notes as findings.
#[derive(Debug)]
pub struct OpcuaProbe {
    inner: OpcuaSession,
    port: u16,
    connected: bool,
    lost: Option<crate::protocols::session::ConnectionLoss>,
    taken: bool,
}

impl OpcuaProbe {
    pub fn new(cfg: Config, port: u16) -> Self {
        OpcuaProbe {
            inner: OpcuaSession::new(cfg),
            port,
            connected: false,
            lost: None,
            taken: false,
        }
    }
}

fn driver_step(s: Step) -> crate::protocols::session::Step {
    use crate::protocols::session::Step as D;
    match s {
        Step::Send(r) => D::Send(crate::safety::SafeRequest::Opcua(r)),
        Step::Wait => D::Wait,
        Step::Done => D::Done,
    }
}

impl crate::protocols::session::Session for OpcuaProbe {
    fn protocol(&self) -> crate::inventory::Protocol {
        crate::inventory::Protocol::Opcua
    }

    fn on_connected(&mut self, now: Instant) -> crate::protocols::session::Step {
        self.connected = true;
        driver_step(self.inner.on_connected(now))
    }

    fn on_bytes(&mut self, now: Instant, bytes: &[u8]) -> crate::protocols::session::Step {
        driver_step(self.inner.on_bytes(now, bytes))
    }

    fn on_timeout(&mut self, now: Instant) -> crate::protocols::session::Step {
        driver_step(self.inner.on_timeout(now))
    }

    fn on_connection_lost(
        &mut self,
        _now: Instant,
        why: crate::protocols::session::ConnectionLoss,
    ) -> crate::protocols::session::Step {
        self.lost.get_or_insert(why);
        driver_step(self.inner.on_connection_lost())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn take_findings(&mut self) -> Vec<crate::protocols::session::Finding> {
        use crate::inventory::{Fact, Identity, NoAnswerKind, Protocol, Transport};
        use crate::protocols::session::{ConnectionLoss, Finding};
        if self.taken {
            return Vec::new();
        }
        self.taken = true;
        let port = self.port;
        let mut out = Vec::new();
        let identity = self.inner.identity().cloned();
        if let Some(id) = identity.clone() {
            out.push(Finding {
                fact: Fact::Service {
                    transport: Transport::Tcp,
                    port,
                    protocol: Protocol::Opcua,
                },
                raw: None,
                request: "opcua.get_endpoints",
            });
            out.push(Finding {
                fact: Fact::Identity {
                    identity: Identity::Opcua(Box::new(id)),
                },
                raw: self.inner.raw_endpoints().map(<[u8]>::to_vec),
                request: "opcua.get_endpoints",
            });
        }
        for n in self.inner.notes() {
            let (fact, request) = match n {
                Note::Error {
                    waiting_for,
                    status,
                    reason,
                } => (
                    Fact::Negative {
                        protocol: Protocol::Opcua,
                        port,
                        answer: format!(
                            "error 0x{status:08x}{}",
                            reason
                                .as_deref()
                                .map(|r| format!(": {r}"))
                                .unwrap_or_default()
                        ),
                    },
                    *waiting_for,
                ),
                Note::Fault {
                    waiting_for,
                    status,
                } => (
                    Fact::Negative {
                        protocol: Protocol::Opcua,
                        port,
                        answer: format!("service fault 0x{status:08x} to {waiting_for}"),
                    },
                    *waiting_for,
                ),
                Note::Malformed {
                    waiting_for,
                    reason,
                } => (
                    Fact::Suspicious {
                        protocol: Protocol::Opcua,
                        port,
                        reason: format!("answer to {waiting_for}: {reason}"),
                    },
                    *waiting_for,
                ),
                Note::Certificate(reason) => (
                    Fact::Suspicious {
                        protocol: Protocol::Opcua,
                        port,
                        reason: reason.clone(),
                    },
                    "opcua.get_endpoints",
                ),
                Note::Timeout { waiting_for } if identity.is_none() => (
                    Fact::NoAnswer {
                        protocol: Protocol::Opcua,
                        port,
                        outcome: NoAnswerKind::Timeout,
                    },
                    *waiting_for,
                ),
                Note::Closed { waiting_for } if identity.is_none() => {
                    let outcome = match self.lost {
                        Some(ConnectionLoss::Refused) => NoAnswerKind::Refused,
                        Some(ConnectionLoss::ConnectTimeout) => NoAnswerKind::Timeout,
                        _ => NoAnswerKind::Reset,
                    };
                    (
                        Fact::NoAnswer {
                            protocol: Protocol::Opcua,
                            port,
                            outcome,
                        },
                        *waiting_for,
                    )
                }
                _ => continue,
            };
            out.push(Finding {
                fact,
                raw: None,
                request,
            });
        }
        out
    }

    fn identity_so_far(&self) -> Option<crate::inventory::Identity> {
        self.inner
            .identity()
            .map(|i| crate::inventory::Identity::Opcua(Box::new(i.clone())))
    }
}

#[cfg(test)]
mod tests;
