//! OPC UA server model (UA TCP binary, SecurityPolicy None only), written from OPC 10000-6
//! (Part 6: UA TCP 7.1, UA Secure Conversation 6.7, built-in type encoding 5.2) and
//! OPC 10000-4 (Part 4: the Discovery, SecureChannel, Session and Attribute services).
//! The numeric encoding ids come from the OPC Foundation's NodeIds.csv.
//!
//! Sans-IO. One `Session` per TCP connection: Hello/Acknowledge, OpenSecureChannel (None
//! only; any other policy gets ERR BadSecurityPolicyRejected), GetEndpoints, FindServers,
//! CreateSession/ActivateSession (anonymous only), Read of the BuildInfo variables (node
//! 2260's children), CloseSession, CloseSecureChannel (the server closes). Every other
//! service (Write, Call, Browse, ...) gets a ServiceFault BadServiceUnsupported and counts
//! as a non-identity request. Everything is little-endian; a null string is length -1.

use crate::plant::{OpcuaConfig, OpcuaEndpoint};
use crate::{Answer, Classified};

/// Message header: type (3), chunk type (1), size (u32).
pub(crate) const HEADER_LEN: usize = 8;
/// Largest message we accept from a client: our Acknowledge says 65535.
const MAX_MESSAGE: usize = 65_535;

const HEL_MIN: usize = 32;

// Binary encoding ids (NodeIds.csv).
const SERVICE_FAULT: u16 = 397;
const FIND_SERVERS_REQ: u16 = 422;
const FIND_SERVERS_RESP: u16 = 425;
const GET_ENDPOINTS_REQ: u16 = 428;
const GET_ENDPOINTS_RESP: u16 = 431;
const OPEN_REQ: u16 = 446;
const OPEN_RESP: u16 = 449;
const CLOSE_CHANNEL_REQ: u16 = 452;
const CREATE_SESSION_REQ: u16 = 461;
const CREATE_SESSION_RESP: u16 = 464;
const ANONYMOUS_TOKEN: u16 = 321;
const ACTIVATE_SESSION_REQ: u16 = 467;
const ACTIVATE_SESSION_RESP: u16 = 470;
const CLOSE_SESSION_REQ: u16 = 473;
const CLOSE_SESSION_RESP: u16 = 476;
const READ_REQ: u16 = 631;
const READ_RESP: u16 = 634;

// StatusCodes (Part 4, 7.34; Opc.Ua.StatusCodes.csv).
const BAD_SERVICE_UNSUPPORTED: u32 = 0x800B_0000;
const BAD_DECODING_ERROR: u32 = 0x8007_0000;
const BAD_SESSION_ID_INVALID: u32 = 0x8025_0000;
const BAD_SESSION_NOT_ACTIVATED: u32 = 0x8027_0000;
const BAD_IDENTITY_TOKEN_INVALID: u32 = 0x8020_0000;
const BAD_NODE_ID_UNKNOWN: u32 = 0x8034_0000;
const BAD_ATTRIBUTE_ID_INVALID: u32 = 0x8035_0000;
const BAD_SECURITY_POLICY_REJECTED: u32 = 0x8055_0000;
const BAD_TCP_MESSAGE_TYPE_INVALID: u32 = 0x807E_0000;

const POLICY_PREFIX: &str = "http://opcfoundation.org/UA/SecurityPolicy#";
const TRANSPORT_UATCP: &str = "http://opcfoundation.org/UA-Profile/Transport/uatcp-uasc-uabinary";
/// 2026-01-01T00:00:00Z as an OPC UA DateTime (100 ns ticks since 1601-01-01).
const SERVER_TIME: i64 = (11_644_473_600 + 1_767_225_600) * 10_000_000;

/// Total frame length from the header.
pub(crate) fn frame_len(header: &[u8]) -> Result<usize, String> {
    let t = &header[..3];
    if !matches!(t, b"HEL" | b"OPN" | b"MSG" | b"CLO") {
        return Err(format!(
            "opc ua message type {:?} is not one a client sends",
            String::from_utf8_lossy(t)
        ));
    }
    let n = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if !(HEADER_LEN + 8..=MAX_MESSAGE).contains(&n) {
        return Err(format!(
            "opc ua message size {n} outside 16..={MAX_MESSAGE}"
        ));
    }
    Ok(n)
}

/// A bounds-checked little-endian reader: every read says what it read, so a short
/// request is a decoding error, never a panic.
struct Rd<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Rd<'a> {
    fn new(b: &'a [u8]) -> Self {
        Rd { b, at: 0 }
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A String or ByteString; `Some(None)` for null.
    fn bytes(&mut self) -> Option<Option<&'a [u8]>> {
        let n = self.u32()? as i32;
        if n == -1 {
            return Some(None);
        }
        // The length is the client's: it must fit what the frame holds.
        let n = usize::try_from(n).ok()?;
        self.take(n).map(Some)
    }
    /// A NodeId as (namespace, identifier bytes) — numeric ids as their u32 LE bytes.
    fn node_id(&mut self) -> Option<(u16, Vec<u8>)> {
        match self.u8()? & 0x3f {
            0 => Some((0, u32::from(self.u8()?).to_le_bytes().to_vec())),
            1 => {
                let ns = u16::from(self.u8()?);
                Some((ns, u32::from(self.u16()?).to_le_bytes().to_vec()))
            }
            2 => {
                let ns = self.u16()?;
                Some((ns, self.u32()?.to_le_bytes().to_vec()))
            }
            3 | 5 => {
                let ns = self.u16()?;
                Some((ns, self.bytes()?.unwrap_or_default().to_vec()))
            }
            4 => {
                let ns = self.u16()?;
                Some((ns, self.take(16)?.to_vec()))
            }
            _ => None,
        }
    }
    fn numeric(&mut self) -> Option<u32> {
        let (ns, id) = self.node_id()?;
        (ns == 0 && id.len() == 4).then(|| u32::from_le_bytes([id[0], id[1], id[2], id[3]]))
    }
    fn extension_object(&mut self) -> Option<u32> {
        let t = self.numeric().unwrap_or(u32::MAX);
        match self.u8()? {
            0 => {}
            1 | 2 => {
                self.bytes()?;
            }
            _ => return None,
        }
        Some(t)
    }
}

/// The parts of a RequestHeader the model uses.
struct ReqHeader {
    token: (u16, Vec<u8>),
    handle: u32,
}

fn request_header(r: &mut Rd) -> Option<ReqHeader> {
    let token = r.node_id()?;
    r.take(8)?; // timestamp
    let handle = r.u32()?;
    r.u32()?; // return diagnostics
    r.bytes()?; // audit entry id
    r.u32()?; // timeout hint
    r.extension_object()?;
    Some(ReqHeader { token, handle })
}

// --- encoding -------------------------------------------------------------------------

fn put_u32(o: &mut Vec<u8>, v: u32) {
    o.extend_from_slice(&v.to_le_bytes());
}
fn put_str(o: &mut Vec<u8>, s: Option<&str>) {
    put_bytes(o, s.map(str::as_bytes));
}
fn put_bytes(o: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_u32(o, u32::MAX),
        Some(b) => {
            put_u32(o, b.len() as u32);
            o.extend_from_slice(b);
        }
    }
}
/// A namespace-0 numeric id in the four-byte form (as open62541 and the AnsiC stack send
/// type ids: captures' frames 11 and 15).
fn put_type(o: &mut Vec<u8>, id: u16) {
    o.extend_from_slice(&[0x01, 0x00]);
    o.extend_from_slice(&id.to_le_bytes());
}
fn put_response_header(o: &mut Vec<u8>, handle: u32, status: u32) {
    o.extend_from_slice(&SERVER_TIME.to_le_bytes());
    put_u32(o, handle);
    put_u32(o, status);
    o.push(0); // DiagnosticInfo: nothing
    put_u32(o, u32::MAX); // StringTable: null
    o.extend_from_slice(&[0, 0, 0]); // AdditionalHeader: none
}

fn message(
    kind: &[u8; 3],
    channel: u32,
    token: Option<u32>,
    seq: u32,
    req: u32,
    body: &[u8],
) -> Vec<u8> {
    let mut o = Vec::with_capacity(64 + body.len());
    o.extend_from_slice(kind);
    o.push(b'F');
    put_u32(&mut o, 0);
    put_u32(&mut o, channel);
    match token {
        Some(t) => put_u32(&mut o, t),
        None => {
            put_str(&mut o, Some(&format!("{POLICY_PREFIX}None")));
            put_bytes(&mut o, None);
            put_bytes(&mut o, None);
        }
    }
    put_u32(&mut o, seq);
    put_u32(&mut o, req);
    o.extend_from_slice(body);
    let n = o.len() as u32;
    o[4..8].copy_from_slice(&n.to_le_bytes());
    o
}

fn err(status: u32, reason: &str) -> Vec<u8> {
    let mut o = b"ERRF".to_vec();
    put_u32(&mut o, 0);
    put_u32(&mut o, status);
    put_str(&mut o, Some(reason));
    let n = o.len() as u32;
    o[4..8].copy_from_slice(&n.to_le_bytes());
    o
}

fn app_description(o: &mut Vec<u8>, cfg: &OpcuaConfig, url: &str) {
    put_str(o, Some(&cfg.application_uri));
    put_str(o, cfg.product_uri.as_deref());
    // LocalizedText with a locale and a text.
    o.push(0x03);
    put_str(o, Some("en"));
    put_str(o, Some(&cfg.application_name));
    put_u32(o, cfg.application_type);
    put_str(o, None); // gateway server uri
    put_str(o, None); // discovery profile uri
    put_u32(o, 1);
    put_str(o, Some(url));
}

fn endpoint(o: &mut Vec<u8>, cfg: &OpcuaConfig, url: &str, e: &OpcuaEndpoint) {
    put_str(o, Some(url));
    app_description(o, cfg, url);
    put_bytes(o, cfg.certificate().as_deref());
    put_u32(o, e.mode_code());
    put_str(o, Some(&format!("{POLICY_PREFIX}{}", e.policy)));
    put_u32(o, e.tokens.len() as u32);
    for t in &e.tokens {
        let (id, ty) = match t.as_str() {
            "anonymous" => ("anonymous", 0),
            "user_name" => ("username", 1),
            "certificate" => ("certificate", 2),
            _ => ("issued", 3),
        };
        put_str(o, Some(id));
        put_u32(o, ty);
        put_str(o, None);
        put_str(o, None);
        put_str(o, None);
    }
    put_str(o, Some(TRANSPORT_UATCP));
    o.push(e.security_level);
}

// --- classification -------------------------------------------------------------------

fn service_id(frame: &[u8]) -> Option<u32> {
    let mut r = Rd::new(frame.get(HEADER_LEN..)?);
    r.u32()?; // channel id
    if frame.starts_with(b"OPN") {
        r.bytes()?;
        r.bytes()?;
        r.bytes()?;
    } else {
        r.u32()?; // token id
    }
    r.take(8)?; // sequence header
    r.numeric()
}

/// Names the request; the identity set is Hello, OPN, CLO, GetEndpoints, FindServers and
/// the anonymous BuildInfo session (CreateSession, ActivateSession, Read, CloseSession).
pub(crate) fn classify(frame: &[u8]) -> Classified {
    let kind = &frame[..3];
    let (function, identity) = match kind {
        b"HEL" => ("hello".to_string(), true),
        b"CLO" => ("close_secure_channel".into(), true),
        b"OPN" => ("open_secure_channel".into(), true),
        _ => match service_id(frame).map(|id| id as u16) {
            Some(GET_ENDPOINTS_REQ) => ("get_endpoints".into(), true),
            Some(FIND_SERVERS_REQ) => ("find_servers".into(), true),
            Some(CREATE_SESSION_REQ) => ("create_session".into(), true),
            Some(ACTIVATE_SESSION_REQ) => ("activate_session".into(), true),
            Some(READ_REQ) => ("read".into(), true),
            Some(CLOSE_SESSION_REQ) => ("close_session".into(), true),
            Some(673) => ("write".into(), false),
            Some(712) => ("call".into(), false),
            Some(527) => ("browse".into(), false),
            Some(id) => (format!("service {id}"), false),
            None => ("undecodable".into(), false),
        },
    };
    Classified { function, identity }
}

// --- the connection -------------------------------------------------------------------

/// Per-connection state.
#[derive(Debug, Default)]
pub(crate) struct Session {
    hello: bool,
    channel: Option<u32>,
    seq: u32,
    /// Authentication token of the session, and whether it was activated.
    session: Option<(Vec<u8>, bool)>,
}

static NEXT_CHANNEL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

impl Session {
    fn next_seq(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    /// Answers one complete frame. `own` is the URL the device serves.
    pub(crate) fn handle(&mut self, cfg: &OpcuaConfig, own: &str, frame: &[u8]) -> Answer {
        match &frame[..4] {
            b"HELF" => {
                if frame.len() < HEL_MIN || self.hello {
                    return Answer::close(err(BAD_TCP_MESSAGE_TYPE_INVALID, "bad hello"));
                }
                self.hello = true;
                let mut o = b"ACKF".to_vec();
                put_u32(&mut o, 28);
                for v in [0, 65_535, 65_535, 0, 0] {
                    put_u32(&mut o, v);
                }
                Answer::one(o)
            }
            _ if !self.hello => Answer::close(err(
                BAD_TCP_MESSAGE_TYPE_INVALID,
                "a secure channel message before hello",
            )),
            b"OPNF" => self.open(frame),
            b"CLOF" => {
                self.channel = None;
                Answer::close(Vec::new())
            }
            b"MSGF" if self.channel.is_some() => self.msg(cfg, own, frame),
            _ => Answer::close(err(BAD_TCP_MESSAGE_TYPE_INVALID, "unexpected message")),
        }
    }

    fn open(&mut self, frame: &[u8]) -> Answer {
        let mut r = Rd::new(&frame[HEADER_LEN..]);
        let parsed = (|| {
            r.u32()?;
            let policy = r.bytes()?.map(|p| p.to_vec());
            r.bytes()?;
            r.bytes()?;
            r.u32()?;
            let req = r.u32()?;
            let t = r.numeric()?;
            let h = request_header(&mut r)?;
            Some((policy, req, t, h.handle))
        })();
        let Some((policy, req, t, handle)) = parsed else {
            return Answer::close(err(BAD_DECODING_ERROR, "bad open secure channel"));
        };
        if policy.as_deref() != Some(format!("{POLICY_PREFIX}None").as_bytes()) {
            return Answer::close(err(
                BAD_SECURITY_POLICY_REJECTED,
                "this server offers SecurityPolicy None only",
            ));
        }
        if t != u32::from(OPEN_REQ) {
            return Answer::close(err(
                BAD_DECODING_ERROR,
                "not an open secure channel request",
            ));
        }
        let id = *self
            .channel
            .get_or_insert_with(|| NEXT_CHANNEL.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let mut b = Vec::new();
        put_type(&mut b, OPEN_RESP);
        put_response_header(&mut b, handle, 0);
        put_u32(&mut b, 0); // server protocol version
        put_u32(&mut b, id);
        put_u32(&mut b, 1); // token id
        b.extend_from_slice(&SERVER_TIME.to_le_bytes());
        put_u32(&mut b, 600_000);
        put_bytes(&mut b, None);
        let seq = self.next_seq();
        Answer::one(message(b"OPN", id, None, seq, req, &b))
    }

    fn msg(&mut self, cfg: &OpcuaConfig, own: &str, frame: &[u8]) -> Answer {
        let channel = self.channel.unwrap_or(0);
        let mut r = Rd::new(&frame[HEADER_LEN..]);
        let head = (|| {
            r.u32()?;
            r.u32()?;
            r.u32()?;
            let req = r.u32()?;
            let t = r.numeric()?;
            let h = request_header(&mut r)?;
            Some((req, t, h))
        })();
        let Some((req, t, h)) = head else {
            return Answer::close(err(BAD_DECODING_ERROR, "undecodable message"));
        };
        let url = cfg.endpoint_url.clone().unwrap_or_else(|| own.to_string());
        let mut b = Vec::new();
        let fault = |status: u32| {
            let mut b = Vec::new();
            put_type(&mut b, SERVICE_FAULT);
            put_response_header(&mut b, h.handle, status);
            b
        };
        let body = match t as u16 {
            GET_ENDPOINTS_REQ => {
                put_type(&mut b, GET_ENDPOINTS_RESP);
                put_response_header(&mut b, h.handle, 0);
                put_u32(&mut b, cfg.endpoints.len() as u32);
                for e in &cfg.endpoints {
                    endpoint(&mut b, cfg, &url, e);
                }
                b
            }
            FIND_SERVERS_REQ => {
                put_type(&mut b, FIND_SERVERS_RESP);
                put_response_header(&mut b, h.handle, 0);
                put_u32(&mut b, 1);
                app_description(&mut b, cfg, &url);
                b
            }
            CREATE_SESSION_REQ => {
                let n = NEXT_CHANNEL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut token = b"otscout-sim-session-".to_vec();
                token.extend_from_slice(&n.to_le_bytes());
                token.resize(32, 0x5a);
                self.session = Some((token.clone(), false));
                put_type(&mut b, CREATE_SESSION_RESP);
                put_response_header(&mut b, h.handle, 0);
                // SessionId ns=1;i=n, AuthenticationToken an opaque ns=1 ByteString.
                b.push(0x02);
                b.extend_from_slice(&1u16.to_le_bytes());
                put_u32(&mut b, n);
                b.push(0x05);
                b.extend_from_slice(&1u16.to_le_bytes());
                put_bytes(&mut b, Some(&token));
                b.extend_from_slice(&30_000f64.to_bits().to_le_bytes());
                put_bytes(&mut b, Some(&[0x11; 32])); // server nonce
                put_bytes(&mut b, cfg.certificate().as_deref());
                put_u32(&mut b, cfg.endpoints.len() as u32);
                for e in &cfg.endpoints {
                    endpoint(&mut b, cfg, &url, e);
                }
                put_u32(&mut b, u32::MAX); // software certificates: null
                put_str(&mut b, None); // signature algorithm
                put_bytes(&mut b, None); // signature
                put_u32(&mut b, MAX_MESSAGE as u32);
                b
            }
            ACTIVATE_SESSION_REQ => match &self.session {
                Some((tok, _)) if h.token == (1, tok.clone()) => {
                    let anonymous = (|| {
                        r.bytes()?;
                        r.bytes()?;
                        let n = r.u32()? as i32;
                        for _ in 0..n.clamp(0, 16) {
                            r.bytes()?;
                            r.bytes()?;
                        }
                        let n = r.u32()? as i32;
                        for _ in 0..n.clamp(0, 64) {
                            r.bytes()?;
                        }
                        r.extension_object()
                    })();
                    if anonymous == Some(u32::from(ANONYMOUS_TOKEN))
                        && cfg.endpoints.iter().any(|e| {
                            e.policy == "None" && e.tokens.iter().any(|t| t == "anonymous")
                        })
                    {
                        self.session = Some((tok.clone(), true));
                        put_type(&mut b, ACTIVATE_SESSION_RESP);
                        put_response_header(&mut b, h.handle, 0);
                        put_bytes(&mut b, Some(&[0x22; 32]));
                        put_u32(&mut b, 0);
                        put_u32(&mut b, 0);
                        b
                    } else {
                        fault(BAD_IDENTITY_TOKEN_INVALID)
                    }
                }
                _ => fault(BAD_SESSION_ID_INVALID),
            },
            READ_REQ => match &self.session {
                Some((tok, true)) if h.token == (1, tok.clone()) => {
                    let nodes = (|| {
                        r.take(8)?;
                        r.u32()?;
                        let n = r.u32()? as i32;
                        let mut v = Vec::new();
                        for _ in 0..n.clamp(0, 64) {
                            let id = r.numeric();
                            let attr = r.u32()?;
                            r.bytes()?;
                            r.u16()?;
                            r.bytes()?;
                            v.push((id, attr));
                        }
                        Some(v)
                    })();
                    match nodes {
                        Some(nodes) => {
                            put_type(&mut b, READ_RESP);
                            put_response_header(&mut b, h.handle, 0);
                            put_u32(&mut b, nodes.len() as u32);
                            for (id, attr) in nodes {
                                build_info_value(&mut b, cfg, id, attr);
                            }
                            put_u32(&mut b, u32::MAX);
                            b
                        }
                        None => fault(BAD_DECODING_ERROR),
                    }
                }
                Some((tok, false)) if h.token == (1, tok.clone()) => {
                    fault(BAD_SESSION_NOT_ACTIVATED)
                }
                _ => fault(BAD_SESSION_ID_INVALID),
            },
            CLOSE_SESSION_REQ => match &self.session {
                Some((tok, _)) if h.token == (1, tok.clone()) => {
                    self.session = None;
                    put_type(&mut b, CLOSE_SESSION_RESP);
                    put_response_header(&mut b, h.handle, 0);
                    b
                }
                _ => fault(BAD_SESSION_ID_INVALID),
            },
            _ if t == u32::from(CLOSE_CHANNEL_REQ) => return Answer::close(Vec::new()),
            _ => fault(BAD_SERVICE_UNSUPPORTED),
        };
        let seq = self.next_seq();
        Answer::one(message(b"MSG", channel, Some(1), seq, req, &body))
    }
}

/// One DataValue of the Read answer: BuildInfo's children (Part 5, 12.4: ProductName 2261,
/// ProductUri 2262, ManufacturerName 2263, SoftwareVersion 2264, BuildNumber 2265,
/// BuildDate 2266), else a bad status.
fn build_info_value(o: &mut Vec<u8>, cfg: &OpcuaConfig, id: Option<u32>, attr: u32) {
    let bi = &cfg.build_info;
    let s = |v: &str, o: &mut Vec<u8>| {
        o.push(0x01); // value only
        o.push(12); // String
        put_str(o, Some(v));
    };
    if attr != 13 {
        o.push(0x02);
        put_u32(o, BAD_ATTRIBUTE_ID_INVALID);
        return;
    }
    match id {
        Some(2261) => s(&bi.product_name, o),
        Some(2262) => s(cfg.product_uri.as_deref().unwrap_or(""), o),
        Some(2263) => s(&bi.manufacturer_name, o),
        Some(2264) => s(&bi.software_version, o),
        Some(2265) => s(&bi.build_number, o),
        Some(2266) => {
            o.push(0x01);
            o.push(13); // DateTime
            o.extend_from_slice(&SERVER_TIME.to_le_bytes());
        }
        _ => {
            o.push(0x02);
            put_u32(o, BAD_NODE_ID_UNKNOWN);
        }
    }
}
