//! The only OPC UA messages otscout may send, their encoder, and the guard's re-parse rule.
//!
//! Sessionless by default: Hello, OpenSecureChannel (SecurityPolicy None, mode None),
//! GetEndpoints, FindServers when a profile asks, CloseSecureChannel. When a profile opts in,
//! and only on an endpoint with SecurityMode None that offers an Anonymous token, the
//! BuildInfo read: CreateSession, ActivateSession with an AnonymousIdentityToken, one Read of
//! the six children of Server_ServerStatus_BuildInfo (node 2260), CloseSession with
//! deleteSubscriptions. No other service type id can be built, and [`check`] accepts no
//! other: no Write (673), no Call (712), no Browse, no subscription, never a credential.
//!
//! Every field that is not a free identifier (channel and token ids, sequence numbers,
//! request ids and handles, the endpoint URL, the server-given session token and anonymous
//! policy id) has one fixed value, listed in SAFETY.md. [`check`] decodes the bytes from
//! scratch, rebuilds the [`Safe`] value they claim to be, encodes it again and accepts the
//! bytes only if both are identical: a changed byte anywhere is refused or re-parses to
//! exactly the same request.

use crate::wire::opcua::{
    self as w, ApplicationDescription, ChunkType, ExtensionObject, Frame, Hello, LocalizedText,
    MessageType, NodeId, QualifiedName, ReadValueId, RequestHeader, Security, Service,
    SignatureData,
};

/// The Hello's limits: 64 KiB buffers as open62541 and the AnsiC stack send them
/// (captures frames 5 and 4), at most [`w::MAX_MESSAGE_LEN`] in at most [`w::MAX_CHUNKS`].
pub const RECEIVE_BUFFER: u32 = 65_535;
pub const SEND_BUFFER: u32 = 65_535;
pub const MAX_MESSAGE_SIZE: u32 = w::MAX_MESSAGE_LEN as u32;
pub const MAX_CHUNK_COUNT: u32 = w::MAX_CHUNKS as u32;
/// RequestedLifetime of the secure channel (ms): otscout closes it within seconds.
pub const CHANNEL_LIFETIME_MS: u32 = 60_000;
/// TimeoutHint of every request (ms).
pub const TIMEOUT_HINT_MS: u32 = 10_000;
/// RequestedSessionTimeout (ms) of the opt-in session.
pub const SESSION_TIMEOUT_MS: f64 = 30_000.0;
/// The client's ApplicationUri, ProductUri, ApplicationName and SessionName.
pub const CLIENT_URI: &str = "urn:otscout";
pub const CLIENT_NAME: &str = "otscout";
/// ClientNonce of CreateSession: 32 zero bytes. Under SecurityPolicy None it proves
/// nothing, but strict servers want a 32-byte nonce whatever the policy (Part 4, 5.6.2).
pub const CLIENT_NONCE: [u8; 32] = [0; 32];
/// The BuildInfo children read, in order (Part 5, 12.4; NodeIds.csv): ProductUri,
/// ManufacturerName, ProductName, SoftwareVersion, BuildNumber, BuildDate.
pub const BUILD_INFO_NODES: [u32; 6] = [
    w::id::BUILD_INFO_PRODUCT_URI,
    w::id::BUILD_INFO_MANUFACTURER_NAME,
    w::id::BUILD_INFO_PRODUCT_NAME,
    w::id::BUILD_INFO_SOFTWARE_VERSION,
    w::id::BUILD_INFO_BUILD_NUMBER,
    w::id::BUILD_INFO_BUILD_DATE,
];
/// Longest endpoint URL otscout sends (Part 6 allows 4096; otscout builds it from an
/// address and a port: `opc.tcp://[` + 39 + `]:65535` is 57 bytes). Kept small so `Safe`,
/// and with it every session step, stays small.
pub const MAX_URL: usize = 64;
/// Longest server-given session token otscout echoes (a 32-byte ByteString, a GUID or a
/// number in the stacks seen); a longer one skips the BuildInfo read.
pub const MAX_TOKEN: usize = 32;
/// Longest anonymous PolicyId otscout echoes (`open62541-anonymous-policy` is 26 bytes).
pub const MAX_POLICY_ID: usize = 40;

/// Why bytes or a value are not an allowed OPC UA request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SafeError {
    #[error("opc ua request malformed: {0}")]
    Malformed(String),
    #[error("opc ua request not allowed: {0}")]
    NotAllowed(String),
    #[error("opc ua {what} is not usable in a request: {why}")]
    BadValue { what: &'static str, why: String },
}

fn not_allowed(s: impl Into<String>) -> SafeError {
    SafeError::NotAllowed(s.into())
}

/// A short printable-ASCII string kept inline (so [`Safe`] stays `Copy` like every
/// `SafeRequest`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Inline<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> Inline<N> {
    fn new(what: &'static str, s: &[u8]) -> Result<Self, SafeError> {
        if s.len() > N || s.len() > usize::from(u8::MAX) {
            return Err(SafeError::BadValue {
                what,
                why: format!("{} bytes, at most {N}", s.len()),
            });
        }
        if let Some(b) = s.iter().find(|b| !(0x20..0x7f).contains(*b)) {
            return Err(SafeError::BadValue {
                what,
                why: format!("byte {b:#04x} is not printable ascii"),
            });
        }
        let mut bytes = [0; N];
        bytes[..s.len()].copy_from_slice(s);
        Ok(Inline {
            len: s.len() as u8,
            bytes,
        })
    }

    pub fn as_str(&self) -> &str {
        // Only printable ASCII gets in (checked in `new`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl<const N: usize> std::fmt::Debug for Inline<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// An `opc.tcp://` endpoint URL of at most [`MAX_URL`] printable ASCII bytes.
pub type Url = Inline<MAX_URL>;

/// Makes a URL otscout may send.
pub fn url(s: &str) -> Result<Url, SafeError> {
    if !s.starts_with("opc.tcp://") {
        return Err(SafeError::BadValue {
            what: "endpoint url",
            why: format!("{s:?} does not start with opc.tcp://"),
        });
    }
    Inline::new("endpoint url", s.as_bytes())
}

/// The anonymous token's PolicyId, as the server named it in its endpoint (printable
/// ASCII, at most [`MAX_POLICY_ID`] bytes).
pub type PolicyId = Inline<MAX_POLICY_ID>;

pub fn policy_id(s: &str) -> Result<PolicyId, SafeError> {
    Inline::new("anonymous policy id", s.as_bytes())
}

/// The AuthenticationToken the server gave in CreateSession, echoed in later request
/// headers. Kept inline (at most [`MAX_TOKEN`] bytes) so [`Safe`] stays `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthToken {
    Numeric {
        ns: u16,
        id: u32,
    },
    Guid {
        ns: u16,
        value: [u8; 16],
    },
    /// String (`string = true`) or ByteString NodeId.
    Bytes {
        ns: u16,
        string: bool,
        len: u8,
        value: [u8; MAX_TOKEN],
    },
}

impl AuthToken {
    /// The token of a server's NodeId, or why otscout cannot echo it (null string forms
    /// and tokens longer than [`MAX_TOKEN`]).
    pub fn from_node_id(n: &NodeId) -> Result<Self, SafeError> {
        let bytes = |ns: u16, string: bool, v: &Option<Vec<u8>>| {
            let v = v.as_deref().ok_or(SafeError::BadValue {
                what: "session authentication token",
                why: "a null string or opaque id".into(),
            })?;
            if v.len() > MAX_TOKEN {
                return Err(SafeError::BadValue {
                    what: "session authentication token",
                    why: format!("{} bytes, at most {MAX_TOKEN}", v.len()),
                });
            }
            let mut value = [0; MAX_TOKEN];
            value[..v.len()].copy_from_slice(v);
            Ok(AuthToken::Bytes {
                ns,
                string,
                len: v.len() as u8,
                value,
            })
        };
        match n {
            NodeId::Numeric { ns, id } => Ok(AuthToken::Numeric { ns: *ns, id: *id }),
            NodeId::Guid { ns, value } => Ok(AuthToken::Guid {
                ns: *ns,
                value: *value,
            }),
            NodeId::String { ns, value } => bytes(*ns, true, value),
            NodeId::Opaque { ns, value } => bytes(*ns, false, value),
        }
    }

    pub fn to_node_id(&self) -> NodeId {
        match self {
            AuthToken::Numeric { ns, id } => NodeId::Numeric { ns: *ns, id: *id },
            AuthToken::Guid { ns, value } => NodeId::Guid {
                ns: *ns,
                value: *value,
            },
            AuthToken::Bytes {
                ns,
                string,
                len,
                value,
            } => {
                let v = Some(value[..usize::from(*len)].to_vec());
                if *string {
                    NodeId::String { ns: *ns, value: v }
                } else {
                    NodeId::Opaque { ns: *ns, value: v }
                }
            }
        }
    }
}

/// The free identifiers of a message on an open channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Channel {
    /// SecureChannelId the server gave.
    pub channel_id: u32,
    /// TokenId the server gave.
    pub token_id: u32,
    pub sequence_number: u32,
    pub request_id: u32,
    pub request_handle: u32,
}

/// Every OPC UA message otscout is able to send. There is no write, call, browse or
/// subscription variant, and none carries a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safe {
    /// `HEL`: fixed limits, the endpoint URL.
    Hello { endpoint_url: Url },
    /// `OPN`: issue a channel with SecurityPolicy None, mode None, no nonce.
    OpenSecureChannel {
        sequence_number: u32,
        request_id: u32,
        request_handle: u32,
    },
    /// GetEndpoints for the endpoint URL, no locale or profile filter.
    GetEndpoints { ch: Channel, endpoint_url: Url },
    /// FindServers for the endpoint URL, no filter (only when the profile asks).
    FindServers { ch: Channel, endpoint_url: Url },
    /// CreateSession, no client certificate (opt-in BuildInfo read).
    CreateSession { ch: Channel, endpoint_url: Url },
    /// ActivateSession with an AnonymousIdentityToken: never a credential.
    ActivateSession {
        ch: Channel,
        token: AuthToken,
        policy_id: PolicyId,
    },
    /// One Read of the Value of BuildInfo's six children ([`BUILD_INFO_NODES`]).
    ReadBuildInfo { ch: Channel, token: AuthToken },
    /// CloseSession with deleteSubscriptions = true.
    CloseSession { ch: Channel, token: AuthToken },
    /// `CLO`: CloseSecureChannel.
    CloseSecureChannel { ch: Channel },
}

impl Safe {
    /// A stable name for the request kind (ledgers, dry runs, provenance).
    pub fn kind(&self) -> &'static str {
        match self {
            Safe::Hello { .. } => "opcua.hello",
            Safe::OpenSecureChannel { .. } => "opcua.open_secure_channel",
            Safe::GetEndpoints { .. } => "opcua.get_endpoints",
            Safe::FindServers { .. } => "opcua.find_servers",
            Safe::CreateSession { .. } => "opcua.create_session",
            Safe::ActivateSession { .. } => "opcua.activate_session",
            Safe::ReadBuildInfo { .. } => "opcua.read_build_info",
            Safe::CloseSession { .. } => "opcua.close_session",
            Safe::CloseSecureChannel { .. } => "opcua.close_secure_channel",
        }
    }

    /// Appends the whole message.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.frame().encode(out);
    }

    pub fn encoded_len(&self) -> usize {
        self.frame().encoded_len()
    }

    /// The frame otscout sends for this request.
    pub fn frame(&self) -> Frame {
        let header = |token: Option<&AuthToken>, handle: u32| {
            RequestHeader::new(
                token.map_or(NodeId::NULL, AuthToken::to_node_id),
                handle,
                TIMEOUT_HINT_MS,
            )
        };
        let msg = |mt: MessageType, ch: &Channel, s: Service| {
            let mut body = Vec::new();
            s.encode(&mut body);
            w::secure_frame(
                mt,
                ch.channel_id,
                ch.token_id,
                ch.sequence_number,
                ch.request_id,
                &body,
            )
        };
        match self {
            Safe::Hello { endpoint_url } => Frame::Hello(Hello {
                protocol_version: 0,
                receive_buffer_size: RECEIVE_BUFFER,
                send_buffer_size: SEND_BUFFER,
                max_message_size: MAX_MESSAGE_SIZE,
                max_chunk_count: MAX_CHUNK_COUNT,
                endpoint_url: Some(endpoint_url.as_str().to_string()),
            }),
            Safe::OpenSecureChannel {
                sequence_number,
                request_id,
                request_handle,
            } => {
                let s = Service::OpenSecureChannelRequest {
                    header: header(None, *request_handle),
                    client_protocol_version: 0,
                    request_type: 0,
                    security_mode: 1,
                    client_nonce: None,
                    requested_lifetime: CHANNEL_LIFETIME_MS,
                };
                let mut body = Vec::new();
                s.encode(&mut body);
                w::secure_frame(
                    MessageType::Open,
                    0,
                    0,
                    *sequence_number,
                    *request_id,
                    &body,
                )
            }
            Safe::GetEndpoints { ch, endpoint_url } => msg(
                MessageType::Message,
                ch,
                Service::GetEndpointsRequest {
                    header: header(None, ch.request_handle),
                    endpoint_url: Some(endpoint_url.as_str().to_string()),
                    locale_ids: None,
                    profile_uris: None,
                },
            ),
            Safe::FindServers { ch, endpoint_url } => msg(
                MessageType::Message,
                ch,
                Service::FindServersRequest {
                    header: header(None, ch.request_handle),
                    endpoint_url: Some(endpoint_url.as_str().to_string()),
                    locale_ids: None,
                    server_uris: None,
                },
            ),
            Safe::CreateSession { ch, endpoint_url } => msg(
                MessageType::Message,
                ch,
                Service::CreateSessionRequest {
                    header: header(None, ch.request_handle),
                    client_description: client_description(),
                    server_uri: None,
                    endpoint_url: Some(endpoint_url.as_str().to_string()),
                    session_name: Some(CLIENT_NAME.to_string()),
                    client_nonce: Some(CLIENT_NONCE.to_vec()),
                    client_certificate: None,
                    requested_session_timeout: SESSION_TIMEOUT_MS,
                    max_response_message_size: MAX_MESSAGE_SIZE,
                },
            ),
            Safe::ActivateSession {
                ch,
                token,
                policy_id,
            } => msg(
                MessageType::Message,
                ch,
                Service::ActivateSessionRequest {
                    header: header(Some(token), ch.request_handle),
                    client_signature: SignatureData::default(),
                    client_software_certificates: None,
                    locale_ids: None,
                    user_identity_token: w::anonymous_token(Some(policy_id.as_str())),
                    user_token_signature: SignatureData::default(),
                },
            ),
            Safe::ReadBuildInfo { ch, token } => msg(
                MessageType::Message,
                ch,
                Service::ReadRequest {
                    header: header(Some(token), ch.request_handle),
                    max_age: 0.0,
                    timestamps_to_return: w::TIMESTAMPS_NEITHER,
                    nodes_to_read: Some(
                        BUILD_INFO_NODES
                            .iter()
                            .map(|n| ReadValueId {
                                node_id: NodeId::ns0(*n),
                                attribute_id: w::ATTRIBUTE_VALUE,
                                index_range: None,
                                data_encoding: QualifiedName::default(),
                            })
                            .collect(),
                    ),
                },
            ),
            Safe::CloseSession { ch, token } => msg(
                MessageType::Message,
                ch,
                Service::CloseSessionRequest {
                    header: header(Some(token), ch.request_handle),
                    delete_subscriptions: true,
                },
            ),
            Safe::CloseSecureChannel { ch } => msg(
                MessageType::Close,
                ch,
                Service::CloseSecureChannelRequest {
                    header: header(None, ch.request_handle),
                },
            ),
        }
    }
}

impl Safe {
    /// The fields a reviewer needs beside the kind (dry runs, ledgers).
    pub fn detail(&self) -> String {
        match self {
            Safe::Hello { endpoint_url } => format!("endpoint {}", endpoint_url.as_str()),
            Safe::OpenSecureChannel { .. } => "security policy None, mode None".into(),
            Safe::GetEndpoints { endpoint_url, .. } | Safe::FindServers { endpoint_url, .. } => {
                format!("endpoint {}", endpoint_url.as_str())
            }
            Safe::CreateSession { .. } => "no client certificate".into(),
            Safe::ActivateSession { policy_id, .. } => {
                format!("anonymous token, policy id {:?}", policy_id.as_str())
            }
            Safe::ReadBuildInfo { .. } => "BuildInfo (node 2260) children 2261-2266, Value".into(),
            Safe::CloseSession { .. } => "delete subscriptions".into(),
            Safe::CloseSecureChannel { .. } => String::new(),
        }
    }
}

/// The guard's rule in the registry's form: the request kind, or why it is refused.
pub fn guard(frame: &[u8]) -> Result<&'static str, crate::protocols::Refusal> {
    use crate::protocols::Refusal;
    check(frame).map(|s| s.kind()).map_err(|e| match e {
        SafeError::Malformed(m) => Refusal::Malformed(m),
        other => Refusal::NotAllowed(other.to_string()),
    })
}

fn client_description() -> ApplicationDescription {
    ApplicationDescription {
        application_uri: Some(CLIENT_URI.to_string()),
        product_uri: Some(CLIENT_URI.to_string()),
        application_name: LocalizedText {
            locale: None,
            text: Some(CLIENT_NAME.to_string()),
        },
        application_type: 1,
        gateway_server_uri: None,
        discovery_profile_uri: None,
        discovery_urls: None,
    }
}

fn inline_url(s: &Option<String>) -> Result<Url, SafeError> {
    url(s.as_deref().unwrap_or("")).map_err(|e| not_allowed(e.to_string()))
}

fn token_of(h: &RequestHeader) -> Result<AuthToken, SafeError> {
    AuthToken::from_node_id(&h.authentication_token).map_err(|e| not_allowed(e.to_string()))
}

/// Accepts `frame` only if it is exactly one complete message [`Safe`] can build, and
/// returns that request.
///
/// # OT safety
/// The bytes are decoded from scratch, the request they claim to be is rebuilt from the
/// free identifiers alone, encoded again and compared with the bytes: any other service,
/// any other field value, a chunked or trailing message is refused.
pub fn check(frame: &[u8]) -> Result<Safe, SafeError> {
    match w::frame_len(frame) {
        Ok(Some(n)) if n == frame.len() => {}
        Ok(Some(n)) => {
            return Err(SafeError::Malformed(format!(
                "{} bytes after a {n}-byte message",
                frame.len() - n
            )));
        }
        Ok(None) => return Err(SafeError::Malformed("partial message".into())),
        Err(e) => return Err(SafeError::Malformed(e.to_string())),
    }
    let f = Frame::decode_exact(frame).map_err(|e| SafeError::Malformed(e.to_string()))?;
    let safe = match &f {
        Frame::Hello(h) => Safe::Hello {
            endpoint_url: inline_url(&h.endpoint_url)?,
        },
        Frame::Chunk(c) => {
            if c.chunk != ChunkType::Final {
                return Err(not_allowed("a chunked or aborted message"));
            }
            let p = c.plain().map_err(|e| SafeError::Malformed(e.to_string()))?;
            let token_id = match &c.security {
                Security::Symmetric { token_id } => *token_id,
                Security::Asymmetric(a) if a.is_none_policy() => 0,
                Security::Asymmetric(a) => {
                    return Err(not_allowed(format!(
                        "security policy {:?}",
                        a.policy_uri.as_deref().unwrap_or("(null)")
                    )));
                }
            };
            let type_id =
                Service::peek_type_id(p.body).map_err(|e| SafeError::Malformed(e.to_string()))?;
            let allowed = match c.message_type {
                MessageType::Open => [w::id::OPEN_SECURE_CHANNEL_REQUEST].as_slice(),
                MessageType::Close => [w::id::CLOSE_SECURE_CHANNEL_REQUEST].as_slice(),
                _ => [
                    w::id::GET_ENDPOINTS_REQUEST,
                    w::id::FIND_SERVERS_REQUEST,
                    w::id::CREATE_SESSION_REQUEST,
                    w::id::ACTIVATE_SESSION_REQUEST,
                    w::id::READ_REQUEST,
                    w::id::CLOSE_SESSION_REQUEST,
                ]
                .as_slice(),
            };
            if !allowed.contains(&type_id) {
                let (name, _) = w::service_of(type_id);
                return Err(not_allowed(format!(
                    "service {name} (type id {type_id}) in a {:?} message",
                    c.message_type
                )));
            }
            let s = Service::decode(p.body).map_err(|e| SafeError::Malformed(e.to_string()))?;
            let handle = s.request_header().map_or(0, |h| h.request_handle);
            let ch = Channel {
                channel_id: c.channel_id,
                token_id,
                sequence_number: p.sequence_number,
                request_id: p.request_id,
                request_handle: handle,
            };
            match &s {
                Service::OpenSecureChannelRequest { .. } => Safe::OpenSecureChannel {
                    sequence_number: p.sequence_number,
                    request_id: p.request_id,
                    request_handle: handle,
                },
                Service::GetEndpointsRequest { endpoint_url, .. } => Safe::GetEndpoints {
                    ch,
                    endpoint_url: inline_url(endpoint_url)?,
                },
                Service::FindServersRequest { endpoint_url, .. } => Safe::FindServers {
                    ch,
                    endpoint_url: inline_url(endpoint_url)?,
                },
                Service::CreateSessionRequest { endpoint_url, .. } => Safe::CreateSession {
                    ch,
                    endpoint_url: inline_url(endpoint_url)?,
                },
                Service::ActivateSessionRequest {
                    header,
                    user_identity_token,
                    ..
                } => Safe::ActivateSession {
                    ch,
                    token: token_of(header)?,
                    policy_id: anonymous_policy(user_identity_token)?,
                },
                Service::ReadRequest { header, .. } => Safe::ReadBuildInfo {
                    ch,
                    token: token_of(header)?,
                },
                Service::CloseSessionRequest { header, .. } => Safe::CloseSession {
                    ch,
                    token: token_of(header)?,
                },
                Service::CloseSecureChannelRequest { .. } => Safe::CloseSecureChannel { ch },
                _ => return Err(not_allowed(format!("service type id {type_id}"))),
            }
        }
        _ => return Err(not_allowed("a message a client does not send")),
    };
    let mut again = Vec::with_capacity(frame.len());
    safe.encode(&mut again);
    if again != frame {
        let at = again
            .iter()
            .zip(frame)
            .position(|(a, b)| a != b)
            .unwrap_or(again.len().min(frame.len()));
        return Err(not_allowed(format!(
            "{} differs from the allowed shape at byte {at}",
            safe.kind()
        )));
    }
    Ok(safe)
}

/// The PolicyId of an AnonymousIdentityToken, refusing every other identity token (a
/// user name, a certificate, an issued token: credentials otscout never sends).
fn anonymous_policy(t: &ExtensionObject) -> Result<PolicyId, SafeError> {
    if t.type_id.as_ns0() != Some(w::id::ANONYMOUS_IDENTITY_TOKEN) || t.encoding != 1 {
        return Err(not_allowed("an identity token that is not anonymous"));
    }
    let body = t.body.as_deref().unwrap_or(&[]);
    let id = w::read_string(
        &mut crate::wire::Cursor::framed(body),
        "anonymous.policy_id",
    )
    .map_err(|e| SafeError::Malformed(e.to_string()))?;
    policy_id(id.as_deref().unwrap_or("")).map_err(|e| not_allowed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(n: u32) -> Channel {
        Channel {
            channel_id: 7,
            token_id: 3,
            sequence_number: n,
            request_id: n,
            request_handle: n,
        }
    }

    fn every() -> Vec<Safe> {
        let u = url("opc.tcp://127.0.0.1:4840").unwrap();
        let token = AuthToken::from_node_id(&NodeId::Opaque {
            ns: 1,
            value: Some(vec![0xab; 32]),
        })
        .unwrap();
        vec![
            Safe::Hello { endpoint_url: u },
            Safe::OpenSecureChannel {
                sequence_number: 1,
                request_id: 1,
                request_handle: 1,
            },
            Safe::GetEndpoints {
                ch: ch(2),
                endpoint_url: u,
            },
            Safe::FindServers {
                ch: ch(3),
                endpoint_url: u,
            },
            Safe::CreateSession {
                ch: ch(4),
                endpoint_url: u,
            },
            Safe::ActivateSession {
                ch: ch(5),
                token,
                policy_id: policy_id("anonymous").unwrap(),
            },
            Safe::ReadBuildInfo { ch: ch(6), token },
            Safe::CloseSession { ch: ch(7), token },
            Safe::CloseSecureChannel { ch: ch(8) },
        ]
    }

    /// The lengths SAFETY.md lists (URL `opc.tcp://127.0.0.1:4840`, a 32-byte token).
    #[test]
    fn lengths_are_the_ones_safety_md_lists() {
        let lens: Vec<(&str, usize)> = every()
            .iter()
            .map(|s| (s.kind(), s.encoded_len()))
            .collect();
        assert_eq!(
            lens,
            [
                ("opcua.hello", 56),
                ("opcua.open_secure_channel", 132),
                ("opcua.get_endpoints", 93),
                ("opcua.find_servers", 93),
                ("opcua.create_session", 210),
                ("opcua.activate_session", 140),
                ("opcua.read_build_info", 218),
                ("opcua.close_session", 95),
                ("opcua.close_secure_channel", 57),
            ]
        );
    }

    #[test]
    fn every_request_passes_its_own_guard() {
        for s in every() {
            let mut b = Vec::new();
            s.encode(&mut b);
            assert_eq!(b.len(), s.encoded_len());
            assert_eq!(check(&b), Ok(s), "{}", s.kind());
        }
    }

    /// The OT-safety property: one changed byte anywhere in any allowed message is refused,
    /// or re-parses to exactly the request those bytes now encode (a free identifier).
    #[test]
    fn a_mutated_byte_anywhere_is_refused_or_reparses_exactly() {
        for s in every() {
            let mut b = Vec::new();
            s.encode(&mut b);
            for i in 0..b.len() {
                for x in [0x00, 0x01, 0x7f, 0x80, 0xff, b[i] ^ 0x20] {
                    if x == b[i] {
                        continue;
                    }
                    let mut m = b.clone();
                    m[i] = x;
                    if let Ok(again) = check(&m) {
                        let mut e = Vec::new();
                        again.encode(&mut e);
                        assert_eq!(e, m, "{} byte {i} = {x:#x}", s.kind());
                        assert_eq!(again.kind(), s.kind(), "byte {i} changed the service");
                    }
                }
            }
        }
    }

    #[test]
    fn trailing_partial_and_chunked_messages_are_refused() {
        let mut b = Vec::new();
        every()[2].encode(&mut b);
        let mut t = b.clone();
        t.push(0);
        assert!(matches!(check(&t), Err(SafeError::Malformed(_))));
        assert!(matches!(
            check(&b[..b.len() - 1]),
            Err(SafeError::Malformed(_))
        ));
        let mut c = b.clone();
        c[3] = b'C';
        assert!(matches!(check(&c), Err(SafeError::NotAllowed(_))));
    }

    fn with_service(s: Service) -> Vec<u8> {
        let mut body = Vec::new();
        s.encode(&mut body);
        // Write and Call bodies: the type id and a request header, then anything.
        body.extend_from_slice(&[0; 16]);
        let mut out = Vec::new();
        w::secure_frame(MessageType::Message, 7, 3, 9, 9, &body).encode(&mut out);
        out
    }

    #[test]
    fn write_call_browse_and_other_services_are_refused_by_name() {
        for (id, name) in [
            (w::id::WRITE_REQUEST, "write"),
            (w::id::CALL_REQUEST, "call"),
            (w::id::BROWSE_REQUEST, "browse"),
            (w::id::ADD_NODES_REQUEST, "add_nodes"),
            (w::id::HISTORY_UPDATE_REQUEST, "history_update"),
            (w::id::CREATE_SUBSCRIPTION_REQUEST, "create_subscription"),
        ] {
            let e = check(&with_service(Service::Other { type_id: id })).unwrap_err();
            assert!(e.to_string().contains(name), "{e}");
        }
        // An OpenSecureChannel request inside a MSG, a GetEndpoints inside an OPN.
        let mut opn = Vec::new();
        every()[1].encode(&mut opn);
        let mut gep = Vec::new();
        every()[2].encode(&mut gep);
        assert!(check(&with_service(Service::Other { type_id: 446 })).is_err());
        assert!(opn[..3] == *b"OPN" && gep[..3] == *b"MSG");
    }

    #[test]
    fn a_user_name_token_or_another_policy_is_refused() {
        let mut b = Vec::new();
        every()[5].encode(&mut b);
        // 321 (AnonymousIdentityToken) -> 324 (UserNameIdentityToken): the encoding id's
        // low byte sits right before the encoding byte 0x01 and the body length.
        let at = b
            .windows(4)
            .position(|w| w == [0x01, 0x00, 0x41, 0x01])
            .expect("anonymous token type id");
        b[at + 2] = 0x44;
        let e = check(&b).unwrap_err();
        assert!(e.to_string().contains("not anonymous"), "{e}");

        // An OPN under Basic256Sha256 instead of None.
        let mut opn = Vec::new();
        every()[1].encode(&mut opn);
        let s = String::from_utf8_lossy(&opn).replace("#None", "#Nonf");
        assert!(check(s.as_bytes()).is_err());
    }

    #[test]
    fn values_otscout_cannot_send_are_refused_at_construction() {
        assert!(url("http://x").is_err());
        assert!(url(&format!("opc.tcp://{}", "a".repeat(MAX_URL))).is_err());
        assert!(url("opc.tcp://a\u{7f}").is_err());
        assert!(policy_id("anon\nymous").is_err());
        assert!(
            AuthToken::from_node_id(&NodeId::Opaque {
                ns: 0,
                value: Some(vec![0; MAX_TOKEN + 1])
            })
            .is_err()
        );
        assert!(AuthToken::from_node_id(&NodeId::String { ns: 0, value: None }).is_err());
    }
}
