//! OPC UA as the passive side reads it from one TCP connection: UA TCP framing by message
//! size (a message may span many segments; servers listen on any port, so the `HEL`/`ACK`
//! header is what says OPC UA), chunk reassembly, request/answer pairing by request id,
//! identities from paired GetEndpoints and CreateSession answers, and writes, calls and
//! node management as operations named `opcua.<service>`.
//!
//! An encrypted channel (an OPN under any policy but None) is an OPC UA service with its
//! policy, not an error: its MSG bodies are opaque and skipped.
//!
//! Sans-IO: bytes in, [`Event`]s out; the engine gives each direction's bytes in order.

use std::collections::BTreeMap;

use super::identity::{self, OpcuaIdentity};
use crate::inventory::OperationKind;
use crate::wire::opcua::{self as w, Access, Frame, Reassembly, Security, Service};

/// Most requests awaiting an answer on one connection (a client may pipeline; a capture
/// that never shows the answers must not grow the table without end).
pub const MAX_PENDING: usize = 256;

/// Which side sent the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    ToServer,
    ToClient,
}

/// What one connection showed.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A Hello: the client asked for this endpoint URL.
    Hello { endpoint_url: Option<String> },
    /// A secure channel opened (by the client's OPN) under this policy; `encrypted` when
    /// the policy is not None and the channel's bodies are opaque.
    Channel { policy: String, encrypted: bool },
    /// The server's identity from an answer paired with its request.
    Identity {
        identity: Box<OpcuaIdentity>,
        /// `get_endpoints` or `create_session`.
        via: &'static str,
        certificate_error: Option<String>,
    },
    /// Applications a discovery server listed (FindServers): they describe other servers,
    /// never the one answering.
    Discovered { servers: Vec<OpcuaIdentity> },
    /// A security-relevant request: a write, a method call, node management.
    Operation {
        /// `opcua.write`, `opcua.call`, `opcua.add_nodes`, ...
        function: String,
        kind: OperationKind,
    },
    /// A service request of any kind (for the per-service counts).
    Request { service: &'static str },
    /// The server answered ERR.
    Error { status: u32, reason: Option<String> },
    /// The direction's bytes stopped being OPC UA; nothing more is read from it.
    Malformed { dir: Dir, reason: String },
}

/// The operation kind of a request's access, when it is security-relevant.
pub fn operation_kind(access: Access) -> Option<OperationKind> {
    match access {
        Access::Write | Access::Configuration => Some(OperationKind::Write),
        Access::Control => Some(OperationKind::Control),
        _ => None,
    }
}

#[derive(Debug, Default)]
struct Side {
    buf: Vec<u8>,
    chunks: Reassembly,
    stopped: bool,
}

/// One TCP connection's analyzer.
#[derive(Debug, Default)]
pub struct Connection {
    to_server: Side,
    to_client: Side,
    encrypted: bool,
    pending: BTreeMap<u32, u32>,
}

impl Connection {
    pub fn new() -> Self {
        Self::default()
    }

    /// True once an OPN under a policy other than None was seen.
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// Feeds bytes of one direction, in order; returns what they showed.
    pub fn on_bytes(&mut self, dir: Dir, bytes: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        let side = match dir {
            Dir::ToServer => &mut self.to_server,
            Dir::ToClient => &mut self.to_client,
        };
        if side.stopped {
            return out;
        }
        side.buf.extend_from_slice(bytes);
        loop {
            let side = match dir {
                Dir::ToServer => &mut self.to_server,
                Dir::ToClient => &mut self.to_client,
            };
            let n = match w::frame_len(&side.buf) {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(e) => {
                    side.stopped = true;
                    side.buf = Vec::new();
                    out.push(Event::Malformed {
                        dir,
                        reason: e.to_string(),
                    });
                    break;
                }
            };
            let frame: Vec<u8> = side.buf.drain(..n).collect();
            self.on_frame(dir, &frame, &mut out);
        }
        out
    }

    fn on_frame(&mut self, dir: Dir, frame: &[u8], out: &mut Vec<Event>) {
        let f = match Frame::decode_exact(frame) {
            Ok(f) => f,
            Err(e) => {
                out.push(Event::Malformed {
                    dir,
                    reason: e.to_string(),
                });
                return;
            }
        };
        let c = match f {
            Frame::Hello(h) => {
                out.push(Event::Hello {
                    endpoint_url: h.endpoint_url,
                });
                return;
            }
            Frame::Error(e) => {
                out.push(Event::Error {
                    status: e.error,
                    reason: e.reason,
                });
                return;
            }
            Frame::Chunk(c) => c,
            Frame::Acknowledge(_) | Frame::ReverseHello { .. } => return,
        };
        if let Security::Asymmetric(a) = &c.security {
            let policy = identity::policy_name(a.policy_uri.as_deref());
            let none = a.is_none_policy();
            if dir == Dir::ToServer {
                // A renewed channel keeps its policy: one event per OPN request is fine,
                // the fold counts services, not messages.
                out.push(Event::Channel {
                    policy,
                    encrypted: !none,
                });
            }
            self.encrypted = !none;
        }
        if self.encrypted {
            return;
        }
        let p = match c.plain() {
            Ok(p) => p,
            Err(e) => {
                out.push(Event::Malformed {
                    dir,
                    reason: e.to_string(),
                });
                return;
            }
        };
        let side = match dir {
            Dir::ToServer => &mut self.to_server,
            Dir::ToClient => &mut self.to_client,
        };
        let body = match side.chunks.push(c.chunk, &p) {
            Ok(Some(b)) => b,
            Ok(None) => return,
            Err(e) => {
                out.push(Event::Malformed {
                    dir,
                    reason: e.to_string(),
                });
                return;
            }
        };
        let request_id = p.request_id;
        match dir {
            Dir::ToServer => {
                let Ok(type_id) = Service::peek_type_id(&body) else {
                    out.push(Event::Malformed {
                        dir,
                        reason: "message body without a type id".into(),
                    });
                    return;
                };
                let (name, access) = w::service_of(type_id);
                out.push(Event::Request { service: name });
                if let Some(kind) = operation_kind(access) {
                    out.push(Event::Operation {
                        function: format!("opcua.{name}"),
                        kind,
                    });
                }
                if self.pending.len() >= MAX_PENDING {
                    self.pending.pop_first();
                }
                self.pending.insert(request_id, type_id);
            }
            Dir::ToClient => {
                let Some(asked) = self.pending.remove(&request_id) else {
                    // An answer whose request was not seen (a capture that starts
                    // mid-connection): never an identity.
                    return;
                };
                let Ok(s) = Service::decode(&body) else {
                    return;
                };
                match (asked, s) {
                    (
                        w::id::GET_ENDPOINTS_REQUEST,
                        Service::GetEndpointsResponse { endpoints, .. },
                    ) if !endpoints.is_empty() => {
                        let (id, err) = identity::from_endpoints(&endpoints, None);
                        out.push(Event::Identity {
                            identity: Box::new(id),
                            via: "get_endpoints",
                            certificate_error: err.map(|e| e.to_string()),
                        });
                    }
                    (
                        w::id::CREATE_SESSION_REQUEST,
                        Service::CreateSessionResponse {
                            server_endpoints, ..
                        },
                    ) if !server_endpoints.is_empty() => {
                        let (id, err) = identity::from_endpoints(&server_endpoints, None);
                        out.push(Event::Identity {
                            identity: Box::new(id),
                            via: "create_session",
                            certificate_error: err.map(|e| e.to_string()),
                        });
                    }
                    (w::id::FIND_SERVERS_REQUEST, Service::FindServersResponse { servers, .. }) => {
                        out.push(Event::Discovered {
                            servers: servers
                                .iter()
                                .map(|a| identity::from_endpoints(&[], Some(a)).0)
                                .collect(),
                        });
                    }
                    _ => {}
                }
            }
        }
    }
}

/// True when `buf` starts like a UA TCP Hello or Acknowledge: the detector's rule for
/// OPC UA on any port.
pub fn looks_like_opcua(buf: &[u8]) -> bool {
    buf.len() >= w::HEADER_LEN
        && (buf.starts_with(b"HELF") || buf.starts_with(b"ACKF"))
        && w::frame_len(buf).is_ok()
}

/// The [registry](super::super::registry)'s per-flow analyzer for OPC UA: a [`Connection`]
/// whose events become collector facts.
#[derive(Debug, Default)]
pub struct OpcuaAnalyzer {
    conn: Connection,
}

impl crate::protocols::analyzer::Analyzer for OpcuaAnalyzer {
    fn on_frame(&mut self, frame: &[u8], ctx: &mut crate::protocols::analyzer::Ctx<'_>) {
        use crate::inventory::{Identity, Protocol, Transport};
        use crate::protocols::analyzer::Dir as ADir;
        let dir = match ctx.dir {
            ADir::ToServer => Dir::ToServer,
            ADir::ToClient => Dir::ToClient,
            // Who sent it, from what it is: a client sends HEL, OPN and CLO.
            ADir::Unknown => match frame.get(..3) {
                Some(b"HEL" | b"OPN" | b"CLO") => Dir::ToServer,
                Some(b"ACK" | b"ERR") => Dir::ToClient,
                _ => return,
            },
        };
        let (client, server, port, at) = (ctx.client, ctx.server, ctx.server_port, ctx.at);
        for e in self.conn.on_bytes(dir, frame) {
            match e {
                Event::Hello { .. } => {
                    ctx.col
                        .service(server, Transport::Tcp, port, Protocol::Opcua, at);
                }
                Event::Channel { policy, .. } => {
                    ctx.col
                        .service(server, Transport::Tcp, port, Protocol::Opcua, at);
                    ctx.col.observed(server, ATTR_OPCUA_POLICY, policy, at);
                }
                Event::Request { .. } => ctx.col.peer(client, server, Protocol::Opcua, at),
                Event::Operation { function, kind } => {
                    ctx.col
                        .operation(server, client, Protocol::Opcua, kind, &function, at);
                }
                Event::Identity { identity, .. } => {
                    let key = identity
                        .application_uri
                        .clone()
                        .unwrap_or_else(|| "opcua".into());
                    ctx.col
                        .identity(server, key, Identity::Opcua(identity), frame, at);
                }
                Event::Discovered { servers } => {
                    let uris: Vec<String> = servers
                        .iter()
                        .filter_map(|s| s.application_uri.clone())
                        .collect();
                    if !uris.is_empty() {
                        ctx.col
                            .observed(server, ATTR_OPCUA_DISCOVERED, uris.join(" "), at);
                    }
                }
                Event::Error { .. } => {}
                Event::Malformed { reason, .. } => {
                    ctx.undecoded(Protocol::Opcua, "opc ua message", frame, &reason);
                }
            }
        }
    }
}

/// The attribute under which passive import records a channel's security policy.
pub const ATTR_OPCUA_POLICY: &str = "observed.opcua_security_policy";
/// The attribute under which passive import records the applications a discovery server
/// listed (FindServers): other servers, never this one's identity.
pub const ATTR_OPCUA_DISCOVERED: &str = "observed.opcua_discovered";
