//! OPC UA binary: UA TCP (Hello, Acknowledge, Error), UA Secure Conversation chunks (OPN,
//! MSG, CLO) and the services otscout reads or watches: OpenSecureChannel, GetEndpoints,
//! FindServers, CloseSecureChannel, CreateSession, ActivateSession, Read, CloseSession and
//! ServiceFault, plus the type ids of every other service for the passive side.
//!
//! What it never does: I/O, clocks, printing, cryptography, or allocating more than a named
//! cap allows. A chunk under a security policy other than None is kept opaque: its policy
//! URI (OPN) or channel id (MSG) is readable, its body is not, and that is data, not an
//! error.
//!
//! Sources (facts only, no code): OPC 10000-6 (UA Part 6: Mappings) 5.2 (built-in type
//! binary encoding), 6.7 (UA Secure Conversation: message header, asymmetric and symmetric
//! security headers, sequence header) and 7.1 (UA TCP: Hello, Acknowledge, Error); OPC
//! 10000-4 (UA Part 4: Services) 5.4-5.7 and 7.28/7.29 (request and response headers); the
//! numeric ids of the binary encodings from the OPC Foundation's NodeIds.csv
//! (`GetEndpointsRequest_Encoding_DefaultBinary = 428`, ...). Cross-checked byte by byte
//! against the three OPC UA captures of `captures/INDEX.md`.
//!
//! Everything is little-endian (Part 6, 5.2.1). A `String` or `ByteString` is an `Int32`
//! length and that many bytes; length -1 is **null**, which is not the empty string (the
//! AnsiC stack sends a null ProductUri): both are kept apart here as `None` and `Some("")`.
//!
//! # The untrusted-input contract
//! See [the crate docs](crate): every length and count below is checked against the bytes
//! present and a named cap before it is used, and the reason it is trusted is written at the
//! read.

use super::{Cursor, DecodeError};

/// Message header: three type bytes, the chunk type, the UInt32 message size (Part 6, 7.1.2.2).
pub const HEADER_LEN: usize = 8;
/// The largest chunk otscout frames. A server may not send a chunk larger than the client's
/// ReceiveBufferSize (Part 6, 7.1.2.3), and otscout says 65535; 1 MiB leaves room for the
/// buffers other clients negotiate in passive captures.
pub const MAX_CHUNK_LEN: usize = 1 << 20;
/// Most chunks one message may be cut into before otscout gives up on it (otscout's Hello
/// asks for at most this many).
pub const MAX_CHUNKS: usize = 64;
/// Most bytes a reassembled message may hold (otscout's Hello says this MaxMessageSize).
pub const MAX_MESSAGE_LEN: usize = 4 << 20;
/// Longest String or ByteString otscout decodes (an EndpointUrl is at most 4096 bytes by
/// Part 6, 7.1.2.3; certificates are a few KiB).
pub const MAX_STRING_LEN: usize = 64 * 1024;
/// Most endpoints in one GetEndpoints or CreateSession answer (real servers list a handful:
/// 7 in the open62541 capture).
pub const MAX_ENDPOINTS: usize = 256;
/// Most applications in one FindServers answer.
pub const MAX_SERVERS: usize = 256;
/// Most elements of any other array otscout decodes or skips (user token policies, discovery
/// URLs, locale ids, string tables, read results).
pub const MAX_ARRAY: usize = 1024;
/// Deepest nesting of DiagnosticInfo / Variant / DataValue otscout follows.
pub const MAX_DEPTH: usize = 8;

/// The shortest chunk of each type: header plus its fixed fields (Part 6, 7.1.2 and 6.7.2).
const MIN_HEL: usize = HEADER_LEN + 20 + 4;
const MIN_ACK: usize = HEADER_LEN + 20;
const MIN_ERR: usize = HEADER_LEN + 4 + 4;
/// Header, channel id, three ByteString lengths of the asymmetric header, sequence header.
const MIN_OPN: usize = HEADER_LEN + 4 + 12 + 8;
/// Header, channel id, token id, sequence header.
const MIN_SYM: usize = HEADER_LEN + 4 + 4 + 8;

/// SecurityPolicy None (Part 7, "SecurityPolicy - None").
pub const POLICY_NONE: &str = "http://opcfoundation.org/UA/SecurityPolicy#None";
/// The prefix every standard security policy URI starts with.
pub const POLICY_PREFIX: &str = "http://opcfoundation.org/UA/SecurityPolicy#";

/// Numeric ids (namespace 0) of the binary encodings, from NodeIds.csv.
pub mod id {
    pub const SERVICE_FAULT: u32 = 397;
    pub const FIND_SERVERS_REQUEST: u32 = 422;
    pub const FIND_SERVERS_RESPONSE: u32 = 425;
    pub const GET_ENDPOINTS_REQUEST: u32 = 428;
    pub const GET_ENDPOINTS_RESPONSE: u32 = 431;
    pub const REGISTER_SERVER_REQUEST: u32 = 437;
    pub const OPEN_SECURE_CHANNEL_REQUEST: u32 = 446;
    pub const OPEN_SECURE_CHANNEL_RESPONSE: u32 = 449;
    pub const CLOSE_SECURE_CHANNEL_REQUEST: u32 = 452;
    pub const CLOSE_SECURE_CHANNEL_RESPONSE: u32 = 455;
    pub const CREATE_SESSION_REQUEST: u32 = 461;
    pub const CREATE_SESSION_RESPONSE: u32 = 464;
    pub const ANONYMOUS_IDENTITY_TOKEN: u32 = 321;
    pub const ACTIVATE_SESSION_REQUEST: u32 = 467;
    pub const ACTIVATE_SESSION_RESPONSE: u32 = 470;
    pub const CLOSE_SESSION_REQUEST: u32 = 473;
    pub const CLOSE_SESSION_RESPONSE: u32 = 476;
    pub const ADD_NODES_REQUEST: u32 = 488;
    pub const ADD_REFERENCES_REQUEST: u32 = 494;
    pub const DELETE_NODES_REQUEST: u32 = 500;
    pub const DELETE_REFERENCES_REQUEST: u32 = 506;
    pub const BROWSE_REQUEST: u32 = 527;
    pub const BROWSE_NEXT_REQUEST: u32 = 533;
    pub const TRANSLATE_BROWSE_PATHS_REQUEST: u32 = 554;
    pub const READ_REQUEST: u32 = 631;
    pub const READ_RESPONSE: u32 = 634;
    pub const HISTORY_READ_REQUEST: u32 = 664;
    pub const WRITE_REQUEST: u32 = 673;
    pub const HISTORY_UPDATE_REQUEST: u32 = 700;
    pub const CALL_REQUEST: u32 = 712;
    pub const CREATE_MONITORED_ITEMS_REQUEST: u32 = 751;
    pub const CREATE_SUBSCRIPTION_REQUEST: u32 = 787;
    pub const PUBLISH_REQUEST: u32 = 826;
    pub const FIND_SERVERS_ON_NETWORK_REQUEST: u32 = 12208;
    pub const REGISTER_SERVER2_REQUEST: u32 = 12211;
    /// Server_ServerStatus_BuildInfo (Part 5, 12.4) and its children.
    pub const BUILD_INFO: u32 = 2260;
    pub const BUILD_INFO_PRODUCT_NAME: u32 = 2261;
    pub const BUILD_INFO_PRODUCT_URI: u32 = 2262;
    pub const BUILD_INFO_MANUFACTURER_NAME: u32 = 2263;
    pub const BUILD_INFO_SOFTWARE_VERSION: u32 = 2264;
    pub const BUILD_INFO_BUILD_NUMBER: u32 = 2265;
    pub const BUILD_INFO_BUILD_DATE: u32 = 2266;
}

/// What a service does to the server, for the passive side's operation records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Secure channel and session management, discovery (GetEndpoints, FindServers, and
    /// RegisterServer: a server announcing itself to a discovery server).
    Connection,
    /// Reads, browses, subscriptions: nothing changes.
    Read,
    /// Write, HistoryUpdate: data changes.
    Write,
    /// Call: a method runs (it can do anything the server lets it).
    Control,
    /// AddNodes, DeleteNodes, AddReferences, DeleteReferences: the address space changes.
    Configuration,
    /// A type id otscout does not know.
    Unknown,
}

/// The service name (`get_endpoints`, `write`, ...) and access of a request's type id.
pub fn service_of(type_id: u32) -> (&'static str, Access) {
    use Access::*;
    match type_id {
        id::FIND_SERVERS_REQUEST => ("find_servers", Connection),
        id::FIND_SERVERS_ON_NETWORK_REQUEST => ("find_servers_on_network", Connection),
        id::GET_ENDPOINTS_REQUEST => ("get_endpoints", Connection),
        id::REGISTER_SERVER_REQUEST => ("register_server", Connection),
        id::REGISTER_SERVER2_REQUEST => ("register_server2", Connection),
        id::OPEN_SECURE_CHANNEL_REQUEST => ("open_secure_channel", Connection),
        id::CLOSE_SECURE_CHANNEL_REQUEST => ("close_secure_channel", Connection),
        id::CREATE_SESSION_REQUEST => ("create_session", Connection),
        id::ACTIVATE_SESSION_REQUEST => ("activate_session", Connection),
        id::CLOSE_SESSION_REQUEST => ("close_session", Connection),
        479 => ("cancel", Connection),
        id::ADD_NODES_REQUEST => ("add_nodes", Configuration),
        id::ADD_REFERENCES_REQUEST => ("add_references", Configuration),
        id::DELETE_NODES_REQUEST => ("delete_nodes", Configuration),
        id::DELETE_REFERENCES_REQUEST => ("delete_references", Configuration),
        id::BROWSE_REQUEST => ("browse", Read),
        id::BROWSE_NEXT_REQUEST => ("browse_next", Read),
        id::TRANSLATE_BROWSE_PATHS_REQUEST => ("translate_browse_paths", Read),
        560 => ("register_nodes", Read),
        566 => ("unregister_nodes", Read),
        615 => ("query_first", Read),
        621 => ("query_next", Read),
        id::READ_REQUEST => ("read", Read),
        id::HISTORY_READ_REQUEST => ("history_read", Read),
        id::WRITE_REQUEST => ("write", Write),
        id::HISTORY_UPDATE_REQUEST => ("history_update", Write),
        id::CALL_REQUEST => ("call", Control),
        id::CREATE_MONITORED_ITEMS_REQUEST => ("create_monitored_items", Read),
        763 => ("modify_monitored_items", Read),
        769 => ("set_monitoring_mode", Read),
        775 => ("set_triggering", Read),
        781 => ("delete_monitored_items", Read),
        id::CREATE_SUBSCRIPTION_REQUEST => ("create_subscription", Read),
        793 => ("modify_subscription", Read),
        799 => ("set_publishing_mode", Read),
        id::PUBLISH_REQUEST => ("publish", Read),
        832 => ("republish", Read),
        841 => ("transfer_subscriptions", Read),
        847 => ("delete_subscriptions", Read),
        _ => ("unknown", Unknown),
    }
}

// ---------------------------------------------------------------------------------------
// UA TCP framing
// ---------------------------------------------------------------------------------------

/// The message types of the header's first three bytes (Part 6, 7.1.2.2 and 6.7.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// `HEL`
    Hello,
    /// `ACK`
    Acknowledge,
    /// `ERR`
    Error,
    /// `RHE` (ReverseHello: the server connects to the client)
    ReverseHello,
    /// `OPN`
    Open,
    /// `MSG`
    Message,
    /// `CLO`
    Close,
}

impl MessageType {
    /// The three ASCII bytes on the wire.
    pub fn tag(self) -> [u8; 3] {
        *match self {
            MessageType::Hello => b"HEL",
            MessageType::Acknowledge => b"ACK",
            MessageType::Error => b"ERR",
            MessageType::ReverseHello => b"RHE",
            MessageType::Open => b"OPN",
            MessageType::Message => b"MSG",
            MessageType::Close => b"CLO",
        }
    }

    /// The type of three header bytes, if they are one.
    pub fn from_tag(b: [u8; 3]) -> Option<Self> {
        Some(match &b {
            b"HEL" => MessageType::Hello,
            b"ACK" => MessageType::Acknowledge,
            b"ERR" => MessageType::Error,
            b"RHE" => MessageType::ReverseHello,
            b"OPN" => MessageType::Open,
            b"MSG" => MessageType::Message,
            b"CLO" => MessageType::Close,
            _ => return None,
        })
    }

    fn min_len(self) -> usize {
        match self {
            MessageType::Hello => MIN_HEL,
            MessageType::Acknowledge => MIN_ACK,
            MessageType::Error => MIN_ERR,
            // ServerUri and EndpointUrl lengths.
            MessageType::ReverseHello => HEADER_LEN + 8,
            MessageType::Open => MIN_OPN,
            MessageType::Message | MessageType::Close => MIN_SYM,
        }
    }
}

/// The chunk type byte (Part 6, 6.7.2.2): `F` final, `C` intermediate, `A` abort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChunkType {
    Final,
    Intermediate,
    Abort,
}

impl ChunkType {
    pub fn byte(self) -> u8 {
        match self {
            ChunkType::Final => b'F',
            ChunkType::Intermediate => b'C',
            ChunkType::Abort => b'A',
        }
    }

    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            b'F' => Some(ChunkType::Final),
            b'C' => Some(ChunkType::Intermediate),
            b'A' => Some(ChunkType::Abort),
            _ => None,
        }
    }
}

/// The 8-byte message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub message_type: MessageType,
    pub chunk: ChunkType,
    /// The whole chunk's length, header included.
    pub size: u32,
}

impl Header {
    /// Reads and checks a header: a known type, a chunk byte the type allows, a size within
    /// the type's minimum and [`MAX_CHUNK_LEN`].
    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        let tag = c.array::<3>("opcua.header.message_type")?;
        let message_type = MessageType::from_tag(tag).ok_or(DecodeError::Invalid {
            field: "opcua.header.message_type",
            value: u64::from(u32::from_be_bytes([0, tag[0], tag[1], tag[2]])),
            reason: "not HEL, ACK, ERR, RHE, OPN, MSG or CLO",
        })?;
        let cb = c.u8("opcua.header.chunk_type")?;
        let chunk = ChunkType::from_byte(cb).ok_or(DecodeError::Invalid {
            field: "opcua.header.chunk_type",
            value: u64::from(cb),
            reason: "not F, C or A",
        })?;
        // UA TCP messages are never chunked (Part 6, 7.1.2.2: "F" only).
        if matches!(
            message_type,
            MessageType::Hello
                | MessageType::Acknowledge
                | MessageType::Error
                | MessageType::ReverseHello
        ) && chunk != ChunkType::Final
        {
            return Err(DecodeError::Invalid {
                field: "opcua.header.chunk_type",
                value: u64::from(cb),
                reason: "hello, acknowledge, error and reverse hello are always final",
            });
        }
        // Message size, untrusted: it covers the header, so it must hold at least the
        // type's fixed fields, and no chunk may exceed the cap.
        let size = c.u32_le("opcua.header.message_size")?;
        let s = size as usize;
        if s < message_type.min_len() {
            return Err(DecodeError::Invalid {
                field: "opcua.header.message_size",
                value: u64::from(size),
                reason: "shorter than the message type's fixed fields",
            });
        }
        if s > MAX_CHUNK_LEN {
            return Err(DecodeError::TooLarge {
                field: "opcua.header.message_size",
                value: s,
                max: MAX_CHUNK_LEN,
            });
        }
        Ok(Header {
            message_type,
            chunk,
            size,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.message_type.tag());
        out.push(self.chunk.byte());
        out.extend_from_slice(&self.size.to_le_bytes());
    }
}

/// Stream framing for UA TCP (the crate's framing contract): the chunk's message size once
/// the header is whole and the chunk is held.
///
/// A stream that does not start with a known type is refused as soon as its first bytes
/// tell, so a non-OPC UA stream on an odd port is rejected early.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let tags: [&[u8; 3]; 7] = [b"HEL", b"ACK", b"ERR", b"RHE", b"OPN", b"MSG", b"CLO"];
    let k = buf.len().min(3);
    if !tags.iter().any(|t| t[..k] == buf[..k]) {
        return Err(DecodeError::Invalid {
            field: "opcua.header.message_type",
            value: u64::from(buf[0]),
            reason: "not HEL, ACK, ERR, RHE, OPN, MSG or CLO",
        });
    }
    if buf.len() < HEADER_LEN {
        if buf.len() > 3 && ChunkType::from_byte(buf[3]).is_none() {
            return Err(DecodeError::Invalid {
                field: "opcua.header.chunk_type",
                value: u64::from(buf[3]),
                reason: "not F, C or A",
            });
        }
        return Ok(None);
    }
    let h = Header::decode(&mut Cursor::new(&buf[..HEADER_LEN]))?;
    let n = h.size as usize;
    Ok((buf.len() >= n).then_some(n))
}

// ---------------------------------------------------------------------------------------
// Built-in types (Part 6, 5.2.2)
// ---------------------------------------------------------------------------------------

fn i32_le(c: &mut Cursor, field: &'static str) -> Result<i32, DecodeError> {
    Ok(c.u32_le(field)? as i32)
}

fn i64_le(c: &mut Cursor, field: &'static str) -> Result<i64, DecodeError> {
    Ok(c.u64_le(field)? as i64)
}

fn f64_le(c: &mut Cursor, field: &'static str) -> Result<f64, DecodeError> {
    Ok(f64::from_bits(c.u64_le(field)?))
}

/// A ByteString: `None` for null (length -1).
pub fn read_bytes(c: &mut Cursor, field: &'static str) -> Result<Option<Vec<u8>>, DecodeError> {
    // Length, untrusted: -1 is null, other negatives are invalid, the rest must be held and
    // under the cap.
    let n = i32_le(c, field)?;
    if n == -1 {
        return Ok(None);
    }
    if n < 0 {
        return Err(DecodeError::Invalid {
            field,
            value: u64::from(n as u32),
            reason: "negative length other than -1 (null)",
        });
    }
    let n = n as usize;
    if n > MAX_STRING_LEN {
        return Err(DecodeError::TooLarge {
            field,
            value: n,
            max: MAX_STRING_LEN,
        });
    }
    Ok(Some(c.bytes(n, field)?.to_vec()))
}

/// A String: `None` for null (length -1), which is not `Some("")`. Invalid UTF-8 is kept
/// with replacement characters (vendors send Latin-1 names).
pub fn read_string(c: &mut Cursor, field: &'static str) -> Result<Option<String>, DecodeError> {
    Ok(read_bytes(c, field)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

pub fn write_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => out.extend_from_slice(&(-1i32).to_le_bytes()),
        Some(b) => {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        }
    }
}

pub fn write_string(out: &mut Vec<u8>, s: Option<&str>) {
    write_bytes(out, s.map(str::as_bytes));
}

/// An array length: `None` for a null array (-1), else a count checked against `max` and
/// against the bytes left (each element takes at least `min_elem` bytes).
fn read_count(
    c: &mut Cursor,
    field: &'static str,
    max: usize,
    min_elem: usize,
) -> Result<Option<usize>, DecodeError> {
    let n = i32_le(c, field)?;
    if n == -1 {
        return Ok(None);
    }
    if n < 0 {
        return Err(DecodeError::Invalid {
            field,
            value: u64::from(n as u32),
            reason: "negative array length other than -1 (null)",
        });
    }
    let n = n as usize;
    if n > max {
        return Err(DecodeError::TooLarge {
            field,
            value: n,
            max,
        });
    }
    // Each element needs at least `min_elem` bytes: a count the bytes cannot hold is a
    // truncated message, found before any allocation.
    let need = n.saturating_mul(min_elem.max(1));
    if need > c.remaining() {
        c.skip(need, field)?;
    }
    Ok(Some(n))
}

fn read_string_array(
    c: &mut Cursor,
    field: &'static str,
) -> Result<Option<Vec<Option<String>>>, DecodeError> {
    let Some(n) = read_count(c, field, MAX_ARRAY, 4)? else {
        return Ok(None);
    };
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(read_string(c, field)?);
    }
    Ok(Some(v))
}

fn write_string_array(out: &mut Vec<u8>, a: Option<&[Option<String>]>) {
    match a {
        None => out.extend_from_slice(&(-1i32).to_le_bytes()),
        Some(a) => {
            out.extend_from_slice(&(a.len() as u32).to_le_bytes());
            for s in a {
                write_string(out, s.as_deref());
            }
        }
    }
}

/// A NodeId (Part 6, 5.2.2.9). Encoded in the shortest form that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NodeId {
    Numeric { ns: u16, id: u32 },
    String { ns: u16, value: Option<Vec<u8>> },
    Guid { ns: u16, value: [u8; 16] },
    Opaque { ns: u16, value: Option<Vec<u8>> },
}

impl NodeId {
    /// ns=0;i=0, the null NodeId.
    pub const NULL: NodeId = NodeId::Numeric { ns: 0, id: 0 };

    /// A namespace-0 numeric id.
    pub const fn ns0(id: u32) -> NodeId {
        NodeId::Numeric { ns: 0, id }
    }

    /// The id when the node is numeric in namespace 0.
    pub fn as_ns0(&self) -> Option<u32> {
        match self {
            NodeId::Numeric { ns: 0, id } => Some(*id),
            _ => None,
        }
    }

    /// Reads a NodeId; `expanded` also allows the ExpandedNodeId flags (namespace URI,
    /// server index), whose values are skipped.
    fn decode_inner(c: &mut Cursor, expanded: bool) -> Result<Self, DecodeError> {
        let b = c.u8("opcua.node_id.encoding")?;
        let flags = b & 0xC0;
        if flags != 0 && !expanded {
            return Err(DecodeError::Invalid {
                field: "opcua.node_id.encoding",
                value: u64::from(b),
                reason: "expanded node id flags in a plain node id",
            });
        }
        let node = match b & 0x3F {
            0x00 => NodeId::Numeric {
                ns: 0,
                id: u32::from(c.u8("opcua.node_id.two_byte")?),
            },
            0x01 => {
                let ns = u16::from(c.u8("opcua.node_id.namespace")?);
                NodeId::Numeric {
                    ns,
                    id: u32::from(c.u16_le("opcua.node_id.four_byte")?),
                }
            }
            0x02 => {
                let ns = c.u16_le("opcua.node_id.namespace")?;
                NodeId::Numeric {
                    ns,
                    id: c.u32_le("opcua.node_id.numeric")?,
                }
            }
            0x03 => {
                let ns = c.u16_le("opcua.node_id.namespace")?;
                NodeId::String {
                    ns,
                    value: read_bytes(c, "opcua.node_id.string")?,
                }
            }
            0x04 => {
                let ns = c.u16_le("opcua.node_id.namespace")?;
                NodeId::Guid {
                    ns,
                    value: c.array("opcua.node_id.guid")?,
                }
            }
            0x05 => {
                let ns = c.u16_le("opcua.node_id.namespace")?;
                NodeId::Opaque {
                    ns,
                    value: read_bytes(c, "opcua.node_id.opaque")?,
                }
            }
            _ => {
                return Err(DecodeError::Invalid {
                    field: "opcua.node_id.encoding",
                    value: u64::from(b),
                    reason: "not a node id encoding (0 to 5)",
                });
            }
        };
        if flags & 0x80 != 0 {
            read_bytes(c, "opcua.expanded_node_id.namespace_uri")?;
        }
        if flags & 0x40 != 0 {
            c.u32_le("opcua.expanded_node_id.server_index")?;
        }
        Ok(node)
    }

    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        Self::decode_inner(c, false)
    }

    /// An ExpandedNodeId, keeping only its NodeId.
    pub fn decode_expanded(c: &mut Cursor) -> Result<Self, DecodeError> {
        Self::decode_inner(c, true)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            NodeId::Numeric { ns: 0, id } if *id <= 0xFF => out.extend_from_slice(&[0, *id as u8]),
            NodeId::Numeric { ns, id } if *ns <= 0xFF && *id <= 0xFFFF => {
                out.extend_from_slice(&[1, *ns as u8]);
                out.extend_from_slice(&(*id as u16).to_le_bytes());
            }
            NodeId::Numeric { ns, id } => {
                out.push(2);
                out.extend_from_slice(&ns.to_le_bytes());
                out.extend_from_slice(&id.to_le_bytes());
            }
            NodeId::String { ns, value } => {
                out.push(3);
                out.extend_from_slice(&ns.to_le_bytes());
                write_bytes(out, value.as_deref());
            }
            NodeId::Guid { ns, value } => {
                out.push(4);
                out.extend_from_slice(&ns.to_le_bytes());
                out.extend_from_slice(value);
            }
            NodeId::Opaque { ns, value } => {
                out.push(5);
                out.extend_from_slice(&ns.to_le_bytes());
                write_bytes(out, value.as_deref());
            }
        }
    }
}

/// An ExtensionObject (Part 6, 5.2.2.15): its type id and raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionObject {
    pub type_id: NodeId,
    /// 0 no body, 1 ByteString body, 2 XmlElement body.
    pub encoding: u8,
    pub body: Option<Vec<u8>>,
}

impl ExtensionObject {
    /// The empty object (null type, no body) that request headers carry.
    pub fn empty() -> Self {
        ExtensionObject {
            type_id: NodeId::NULL,
            encoding: 0,
            body: None,
        }
    }

    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        let type_id = NodeId::decode(c)?;
        let encoding = c.u8("opcua.extension_object.encoding")?;
        let body = match encoding {
            0 => None,
            1 | 2 => read_bytes(c, "opcua.extension_object.body")?,
            e => {
                return Err(DecodeError::Invalid {
                    field: "opcua.extension_object.encoding",
                    value: u64::from(e),
                    reason: "not 0 (none), 1 (binary) or 2 (xml)",
                });
            }
        };
        Ok(ExtensionObject {
            type_id,
            encoding,
            body,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        self.type_id.encode(out);
        out.push(self.encoding);
        if self.encoding != 0 {
            write_bytes(out, self.body.as_deref());
        }
    }
}

/// Skips a DiagnosticInfo (Part 6, 5.2.2.12), following inner ones up to [`MAX_DEPTH`].
fn skip_diagnostic_info(c: &mut Cursor, depth: usize) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooLarge {
            field: "opcua.diagnostic_info.depth",
            value: depth,
            max: MAX_DEPTH,
        });
    }
    let mask = c.u8("opcua.diagnostic_info.mask")?;
    for bit in [0x01, 0x02, 0x04, 0x08] {
        if mask & bit != 0 {
            c.skip(4, "opcua.diagnostic_info.index")?;
        }
    }
    if mask & 0x10 != 0 {
        read_bytes(c, "opcua.diagnostic_info.additional_info")?;
    }
    if mask & 0x20 != 0 {
        c.skip(4, "opcua.diagnostic_info.inner_status")?;
    }
    if mask & 0x40 != 0 {
        skip_diagnostic_info(c, depth + 1)?;
    }
    Ok(())
}

fn skip_diagnostic_infos(c: &mut Cursor) -> Result<(), DecodeError> {
    if let Some(n) = read_count(c, "opcua.diagnostic_infos", MAX_ARRAY, 1)? {
        for _ in 0..n {
            skip_diagnostic_info(c, 0)?;
        }
    }
    Ok(())
}

/// A LocalizedText (Part 6, 5.2.2.14).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalizedText {
    pub locale: Option<String>,
    pub text: Option<String>,
}

impl LocalizedText {
    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        let mask = c.u8("opcua.localized_text.mask")?;
        let locale = if mask & 0x01 != 0 {
            read_string(c, "opcua.localized_text.locale")?
        } else {
            None
        };
        let text = if mask & 0x02 != 0 {
            read_string(c, "opcua.localized_text.text")?
        } else {
            None
        };
        Ok(LocalizedText { locale, text })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let mask = u8::from(self.locale.is_some()) | (u8::from(self.text.is_some()) << 1);
        out.push(mask);
        if let Some(l) = &self.locale {
            write_string(out, Some(l));
        }
        if let Some(t) = &self.text {
            write_string(out, Some(t));
        }
    }
}

// ---------------------------------------------------------------------------------------
// UA TCP messages (Part 6, 7.1.2)
// ---------------------------------------------------------------------------------------

/// Hello (client to server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub protocol_version: u32,
    pub receive_buffer_size: u32,
    pub send_buffer_size: u32,
    pub max_message_size: u32,
    pub max_chunk_count: u32,
    pub endpoint_url: Option<String>,
}

/// Acknowledge (server to client): the limits the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acknowledge {
    pub protocol_version: u32,
    pub receive_buffer_size: u32,
    pub send_buffer_size: u32,
    pub max_message_size: u32,
    pub max_chunk_count: u32,
}

/// Error (server to client, before it closes): a StatusCode and a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMessage {
    pub error: u32,
    pub reason: Option<String>,
}

/// Security header of an OPN chunk (Part 6, 6.7.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsymmetricHeader {
    pub policy_uri: Option<String>,
    pub sender_certificate: Option<Vec<u8>>,
    pub receiver_thumbprint: Option<Vec<u8>>,
}

impl AsymmetricHeader {
    /// True when the policy is None (the body is readable).
    pub fn is_none_policy(&self) -> bool {
        self.policy_uri.as_deref() == Some(POLICY_NONE)
    }
}

/// One secure-conversation chunk: OPN carries an asymmetric header, MSG and CLO a token id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    Asymmetric(AsymmetricHeader),
    Symmetric { token_id: u32 },
}

/// An OPN, MSG or CLO chunk. `rest` is everything after the security header: under policy
/// None the sequence header and the body in the clear; otherwise opaque bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub message_type: MessageType,
    pub chunk: ChunkType,
    pub channel_id: u32,
    pub security: Security,
    pub rest: Vec<u8>,
}

/// The sequence header (Part 6, 6.7.2.4) and the body behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plain<'a> {
    pub sequence_number: u32,
    pub request_id: u32,
    pub body: &'a [u8],
}

impl Chunk {
    /// The sequence header and body, read as if the chunk were unencrypted (policy None).
    pub fn plain(&self) -> Result<Plain<'_>, DecodeError> {
        let mut c = Cursor::framed(&self.rest);
        let sequence_number = c.u32_le("opcua.sequence_number")?;
        let request_id = c.u32_le("opcua.request_id")?;
        Ok(Plain {
            sequence_number,
            request_id,
            body: c.rest(),
        })
    }
}

/// One framed UA TCP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Hello(Hello),
    Acknowledge(Acknowledge),
    Error(ErrorMessage),
    ReverseHello {
        server_uri: Option<String>,
        endpoint_url: Option<String>,
    },
    Chunk(Chunk),
}

impl Frame {
    /// Decodes exactly one whole frame (`buf` is what [`frame_len`] delimited).
    pub fn decode_exact(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::framed(buf);
        let h = Header::decode(&mut c)?;
        if h.size as usize != buf.len() {
            return Err(DecodeError::Invalid {
                field: "opcua.header.message_size",
                value: u64::from(h.size),
                reason: "differs from the frame's length",
            });
        }
        let f = match h.message_type {
            MessageType::Hello => Frame::Hello(Hello {
                protocol_version: c.u32_le("opcua.hello.protocol_version")?,
                receive_buffer_size: c.u32_le("opcua.hello.receive_buffer_size")?,
                send_buffer_size: c.u32_le("opcua.hello.send_buffer_size")?,
                max_message_size: c.u32_le("opcua.hello.max_message_size")?,
                max_chunk_count: c.u32_le("opcua.hello.max_chunk_count")?,
                endpoint_url: read_string(&mut c, "opcua.hello.endpoint_url")?,
            }),
            MessageType::Acknowledge => Frame::Acknowledge(Acknowledge {
                protocol_version: c.u32_le("opcua.ack.protocol_version")?,
                receive_buffer_size: c.u32_le("opcua.ack.receive_buffer_size")?,
                send_buffer_size: c.u32_le("opcua.ack.send_buffer_size")?,
                max_message_size: c.u32_le("opcua.ack.max_message_size")?,
                max_chunk_count: c.u32_le("opcua.ack.max_chunk_count")?,
            }),
            MessageType::Error => Frame::Error(ErrorMessage {
                error: c.u32_le("opcua.error.code")?,
                reason: read_string(&mut c, "opcua.error.reason")?,
            }),
            MessageType::ReverseHello => Frame::ReverseHello {
                server_uri: read_string(&mut c, "opcua.reverse_hello.server_uri")?,
                endpoint_url: read_string(&mut c, "opcua.reverse_hello.endpoint_url")?,
            },
            MessageType::Open | MessageType::Message | MessageType::Close => {
                let channel_id = c.u32_le("opcua.secure_channel_id")?;
                let security = if h.message_type == MessageType::Open {
                    Security::Asymmetric(AsymmetricHeader {
                        policy_uri: read_string(&mut c, "opcua.security_policy_uri")?,
                        sender_certificate: read_bytes(&mut c, "opcua.sender_certificate")?,
                        receiver_thumbprint: read_bytes(&mut c, "opcua.receiver_thumbprint")?,
                    })
                } else {
                    Security::Symmetric {
                        token_id: c.u32_le("opcua.token_id")?,
                    }
                };
                return Ok(Frame::Chunk(Chunk {
                    message_type: h.message_type,
                    chunk: h.chunk,
                    channel_id,
                    security,
                    rest: c.rest().to_vec(),
                }));
            }
        };
        if !c.is_empty() {
            return Err(DecodeError::Trailing {
                field: "opcua.message",
                extra: c.remaining(),
            });
        }
        Ok(f)
    }

    /// Appends the whole frame, header and size included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let (mt, chunk) = match self {
            Frame::Hello(_) => (MessageType::Hello, ChunkType::Final),
            Frame::Acknowledge(_) => (MessageType::Acknowledge, ChunkType::Final),
            Frame::Error(_) => (MessageType::Error, ChunkType::Final),
            Frame::ReverseHello { .. } => (MessageType::ReverseHello, ChunkType::Final),
            Frame::Chunk(c) => (c.message_type, c.chunk),
        };
        Header {
            message_type: mt,
            chunk,
            size: 0,
        }
        .encode(out);
        match self {
            Frame::Hello(h) => {
                for v in [
                    h.protocol_version,
                    h.receive_buffer_size,
                    h.send_buffer_size,
                    h.max_message_size,
                    h.max_chunk_count,
                ] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
                write_string(out, h.endpoint_url.as_deref());
            }
            Frame::Acknowledge(a) => {
                for v in [
                    a.protocol_version,
                    a.receive_buffer_size,
                    a.send_buffer_size,
                    a.max_message_size,
                    a.max_chunk_count,
                ] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            Frame::Error(e) => {
                out.extend_from_slice(&e.error.to_le_bytes());
                write_string(out, e.reason.as_deref());
            }
            Frame::ReverseHello {
                server_uri,
                endpoint_url,
            } => {
                write_string(out, server_uri.as_deref());
                write_string(out, endpoint_url.as_deref());
            }
            Frame::Chunk(c) => {
                out.extend_from_slice(&c.channel_id.to_le_bytes());
                match &c.security {
                    Security::Asymmetric(a) => {
                        write_string(out, a.policy_uri.as_deref());
                        write_bytes(out, a.sender_certificate.as_deref());
                        write_bytes(out, a.receiver_thumbprint.as_deref());
                    }
                    Security::Symmetric { token_id } => {
                        out.extend_from_slice(&token_id.to_le_bytes())
                    }
                }
                out.extend_from_slice(&c.rest);
            }
        }
        let size = (out.len() - start) as u32;
        out[start + 4..start + 8].copy_from_slice(&size.to_le_bytes());
    }

    pub fn encoded_len(&self) -> usize {
        let mut v = Vec::new();
        self.encode(&mut v);
        v.len()
    }
}

/// A whole unencrypted secure-conversation message as otscout sends it: one final chunk
/// with the sequence header and `body`. OPN carries the None policy's asymmetric header.
pub fn secure_frame(
    message_type: MessageType,
    channel_id: u32,
    token_id: u32,
    sequence_number: u32,
    request_id: u32,
    body: &[u8],
) -> Frame {
    let security = if message_type == MessageType::Open {
        Security::Asymmetric(AsymmetricHeader {
            policy_uri: Some(POLICY_NONE.to_string()),
            sender_certificate: None,
            receiver_thumbprint: None,
        })
    } else {
        Security::Symmetric { token_id }
    };
    let mut rest = Vec::with_capacity(8 + body.len());
    rest.extend_from_slice(&sequence_number.to_le_bytes());
    rest.extend_from_slice(&request_id.to_le_bytes());
    rest.extend_from_slice(body);
    Frame::Chunk(Chunk {
        message_type,
        chunk: ChunkType::Final,
        channel_id,
        security,
        rest,
    })
}

/// Joins the bodies of a message's chunks (policy None), in order: intermediate chunks
/// until a final one. Returns `Ok(None)` while the message is not finished.
#[derive(Debug, Default, Clone)]
pub struct Reassembly {
    request_id: Option<u32>,
    chunks: usize,
    body: Vec<u8>,
}

impl Reassembly {
    /// Adds one plain chunk; returns the whole body on its final chunk. An abort chunk
    /// drops what was gathered and is returned as an error.
    pub fn push(&mut self, chunk: ChunkType, p: &Plain) -> Result<Option<Vec<u8>>, DecodeError> {
        if self.request_id.is_some_and(|r| r != p.request_id) {
            let r = self.request_id;
            *self = Reassembly::default();
            return Err(DecodeError::Invalid {
                field: "opcua.request_id",
                value: u64::from(r.unwrap_or(0)),
                reason: "a chunk of another message arrived before the final chunk",
            });
        }
        if chunk == ChunkType::Abort {
            *self = Reassembly::default();
            return Err(DecodeError::Invalid {
                field: "opcua.header.chunk_type",
                value: u64::from(b'A'),
                reason: "the sender aborted the message",
            });
        }
        // Chunk count and total size, both bounded so a stream of intermediate chunks
        // cannot grow the buffer without end.
        self.chunks += 1;
        if self.chunks > MAX_CHUNKS {
            *self = Reassembly::default();
            return Err(DecodeError::TooLarge {
                field: "opcua.message.chunks",
                value: MAX_CHUNKS + 1,
                max: MAX_CHUNKS,
            });
        }
        if self.body.len() + p.body.len() > MAX_MESSAGE_LEN {
            let n = self.body.len() + p.body.len();
            *self = Reassembly::default();
            return Err(DecodeError::TooLarge {
                field: "opcua.message.size",
                value: n,
                max: MAX_MESSAGE_LEN,
            });
        }
        self.request_id = Some(p.request_id);
        self.body.extend_from_slice(p.body);
        if chunk == ChunkType::Final {
            let body = std::mem::take(&mut self.body);
            *self = Reassembly::default();
            return Ok(Some(body));
        }
        Ok(None)
    }
}

// ---------------------------------------------------------------------------------------
// Request and response headers (Part 4, 7.28 and 7.29)
// ---------------------------------------------------------------------------------------

/// RequestHeader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    pub authentication_token: NodeId,
    /// DateTime: 100 ns ticks since 1601-01-01 UTC; otscout sends 0 (its codecs read no clock).
    pub timestamp: i64,
    pub request_handle: u32,
    pub return_diagnostics: u32,
    pub audit_entry_id: Option<String>,
    pub timeout_hint: u32,
    pub additional_header: ExtensionObject,
}

impl RequestHeader {
    /// The header otscout sends: no diagnostics, no audit id, no additional header.
    pub fn new(authentication_token: NodeId, request_handle: u32, timeout_hint: u32) -> Self {
        RequestHeader {
            authentication_token,
            timestamp: 0,
            request_handle,
            return_diagnostics: 0,
            audit_entry_id: None,
            timeout_hint,
            additional_header: ExtensionObject::empty(),
        }
    }

    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        Ok(RequestHeader {
            authentication_token: NodeId::decode(c)?,
            timestamp: i64_le(c, "opcua.request_header.timestamp")?,
            request_handle: c.u32_le("opcua.request_header.request_handle")?,
            return_diagnostics: c.u32_le("opcua.request_header.return_diagnostics")?,
            audit_entry_id: read_string(c, "opcua.request_header.audit_entry_id")?,
            timeout_hint: c.u32_le("opcua.request_header.timeout_hint")?,
            additional_header: ExtensionObject::decode(c)?,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        self.authentication_token.encode(out);
        out.extend_from_slice(&self.timestamp.to_le_bytes());
        out.extend_from_slice(&self.request_handle.to_le_bytes());
        out.extend_from_slice(&self.return_diagnostics.to_le_bytes());
        write_string(out, self.audit_entry_id.as_deref());
        out.extend_from_slice(&self.timeout_hint.to_le_bytes());
        self.additional_header.encode(out);
    }
}

/// ResponseHeader (diagnostics and the additional header are skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHeader {
    pub timestamp: i64,
    pub request_handle: u32,
    /// The StatusCode; bit 31 set means bad (Part 4, 7.34).
    pub service_result: u32,
}

impl ResponseHeader {
    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        let timestamp = i64_le(c, "opcua.response_header.timestamp")?;
        let request_handle = c.u32_le("opcua.response_header.request_handle")?;
        let service_result = c.u32_le("opcua.response_header.service_result")?;
        skip_diagnostic_info(c, 0)?;
        read_string_array(c, "opcua.response_header.string_table")?;
        ExtensionObject::decode(c)?;
        Ok(ResponseHeader {
            timestamp,
            request_handle,
            service_result,
        })
    }

    /// True when the service result is Good or Uncertain.
    pub fn is_good(&self) -> bool {
        self.service_result & 0x8000_0000 == 0
    }
}

// ---------------------------------------------------------------------------------------
// Descriptions (Part 4, 7.1, 7.10, 7.41)
// ---------------------------------------------------------------------------------------

/// ApplicationDescription.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplicationDescription {
    pub application_uri: Option<String>,
    pub product_uri: Option<String>,
    pub application_name: LocalizedText,
    /// 0 Server, 1 Client, 2 ClientAndServer, 3 DiscoveryServer (kept raw).
    pub application_type: u32,
    pub gateway_server_uri: Option<String>,
    pub discovery_profile_uri: Option<String>,
    pub discovery_urls: Option<Vec<Option<String>>>,
}

impl ApplicationDescription {
    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        Ok(ApplicationDescription {
            application_uri: read_string(c, "opcua.application.uri")?,
            product_uri: read_string(c, "opcua.application.product_uri")?,
            application_name: LocalizedText::decode(c)?,
            application_type: c.u32_le("opcua.application.type")?,
            gateway_server_uri: read_string(c, "opcua.application.gateway_server_uri")?,
            discovery_profile_uri: read_string(c, "opcua.application.discovery_profile_uri")?,
            discovery_urls: read_string_array(c, "opcua.application.discovery_urls")?,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        write_string(out, self.application_uri.as_deref());
        write_string(out, self.product_uri.as_deref());
        self.application_name.encode(out);
        out.extend_from_slice(&self.application_type.to_le_bytes());
        write_string(out, self.gateway_server_uri.as_deref());
        write_string(out, self.discovery_profile_uri.as_deref());
        write_string_array(out, self.discovery_urls.as_deref());
    }
}

/// ApplicationType names (Part 4, 7.4).
pub fn application_type_name(t: u32) -> &'static str {
    match t {
        0 => "server",
        1 => "client",
        2 => "client_and_server",
        3 => "discovery_server",
        _ => "unknown",
    }
}

/// MessageSecurityMode names (Part 4, 7.20): 1 None, 2 Sign, 3 SignAndEncrypt.
pub fn security_mode_name(m: u32) -> &'static str {
    match m {
        1 => "none",
        2 => "sign",
        3 => "sign_and_encrypt",
        _ => "invalid",
    }
}

/// UserTokenType names (Part 4, 7.42): 0 Anonymous, 1 UserName, 2 Certificate, 3 IssuedToken.
pub fn user_token_type_name(t: u32) -> &'static str {
    match t {
        0 => "anonymous",
        1 => "user_name",
        2 => "certificate",
        3 => "issued_token",
        _ => "unknown",
    }
}

/// UserTokenPolicy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserTokenPolicy {
    pub policy_id: Option<String>,
    pub token_type: u32,
    pub issued_token_type: Option<String>,
    pub issuer_endpoint_url: Option<String>,
    pub security_policy_uri: Option<String>,
}

/// EndpointDescription.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointDescription {
    pub endpoint_url: Option<String>,
    pub server: ApplicationDescription,
    pub server_certificate: Option<Vec<u8>>,
    pub security_mode: u32,
    pub security_policy_uri: Option<String>,
    pub user_identity_tokens: Vec<UserTokenPolicy>,
    pub transport_profile_uri: Option<String>,
    pub security_level: u8,
}

impl EndpointDescription {
    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        let endpoint_url = read_string(c, "opcua.endpoint.url")?;
        let server = ApplicationDescription::decode(c)?;
        let server_certificate = read_bytes(c, "opcua.endpoint.server_certificate")?;
        let security_mode = c.u32_le("opcua.endpoint.security_mode")?;
        let security_policy_uri = read_string(c, "opcua.endpoint.security_policy_uri")?;
        // Token policy count, untrusted: capped, and each policy is at least 20 bytes.
        let n = read_count(c, "opcua.endpoint.user_identity_tokens", MAX_ARRAY, 20)?;
        let mut user_identity_tokens = Vec::with_capacity(n.unwrap_or(0));
        for _ in 0..n.unwrap_or(0) {
            user_identity_tokens.push(UserTokenPolicy {
                policy_id: read_string(c, "opcua.user_token.policy_id")?,
                token_type: c.u32_le("opcua.user_token.type")?,
                issued_token_type: read_string(c, "opcua.user_token.issued_token_type")?,
                issuer_endpoint_url: read_string(c, "opcua.user_token.issuer_endpoint_url")?,
                security_policy_uri: read_string(c, "opcua.user_token.security_policy_uri")?,
            });
        }
        Ok(EndpointDescription {
            endpoint_url,
            server,
            server_certificate,
            security_mode,
            security_policy_uri,
            user_identity_tokens,
            transport_profile_uri: read_string(c, "opcua.endpoint.transport_profile_uri")?,
            security_level: c.u8("opcua.endpoint.security_level")?,
        })
    }
}

fn read_endpoints(
    c: &mut Cursor,
    field: &'static str,
) -> Result<Vec<EndpointDescription>, DecodeError> {
    // Endpoint count, untrusted: capped, and each endpoint is at least 40 bytes.
    let n = read_count(c, field, MAX_ENDPOINTS, 40)?.unwrap_or(0);
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(EndpointDescription::decode(c)?);
    }
    Ok(v)
}

/// A QualifiedName (Part 6, 5.2.2.13).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QualifiedName {
    pub ns: u16,
    pub name: Option<String>,
}

/// ReadValueId (Part 4, 7.29).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadValueId {
    pub node_id: NodeId,
    /// 13 is Value (Part 6, A.1).
    pub attribute_id: u32,
    pub index_range: Option<String>,
    pub data_encoding: QualifiedName,
}

/// Attribute id of Value.
pub const ATTRIBUTE_VALUE: u32 = 13;
/// TimestampsToReturn Neither.
pub const TIMESTAMPS_NEITHER: u32 = 3;

/// SignatureData (Part 4, 7.36).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignatureData {
    pub algorithm: Option<String>,
    pub signature: Option<Vec<u8>>,
}

impl SignatureData {
    fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        Ok(SignatureData {
            algorithm: read_string(c, "opcua.signature.algorithm")?,
            signature: read_bytes(c, "opcua.signature.signature")?,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        write_string(out, self.algorithm.as_deref());
        write_bytes(out, self.signature.as_deref());
    }
}

/// A value read from a Variant (Part 6, 5.2.2.16): the types BuildInfo holds, the rest by
/// type id only.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(Option<String>),
    DateTime(i64),
    LocalizedText(LocalizedText),
    /// Any other built-in type (its id), or an array.
    Other(u8),
}

fn skip_variant_value(c: &mut Cursor, t: u8, depth: usize) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooLarge {
            field: "opcua.variant.depth",
            value: depth,
            max: MAX_DEPTH,
        });
    }
    let fixed = match t {
        1..=3 => 1,
        4 | 5 => 2,
        6 | 7 | 10 | 19 => 4,
        8 | 9 | 11 | 13 => 8,
        14 => 16,
        _ => 0,
    };
    if fixed > 0 {
        return c.skip(fixed, "opcua.variant.value");
    }
    match t {
        12 | 15 | 16 => {
            read_bytes(c, "opcua.variant.value")?;
        }
        17 => {
            NodeId::decode(c)?;
        }
        18 => {
            NodeId::decode_expanded(c)?;
        }
        20 => {
            c.skip(2, "opcua.variant.qualified_name.ns")?;
            read_bytes(c, "opcua.variant.qualified_name.name")?;
        }
        21 => {
            LocalizedText::decode(c)?;
        }
        22 => {
            ExtensionObject::decode(c)?;
        }
        23 => {
            skip_data_value(c, depth + 1)?;
        }
        24 => {
            skip_variant(c, depth + 1)?;
        }
        25 => skip_diagnostic_info(c, depth + 1)?,
        _ => {
            return Err(DecodeError::Invalid {
                field: "opcua.variant.type",
                value: u64::from(t),
                reason: "not a built-in type id (1 to 25)",
            });
        }
    }
    Ok(())
}

fn read_variant(c: &mut Cursor, depth: usize) -> Result<Value, DecodeError> {
    let mask = c.u8("opcua.variant.mask")?;
    let t = mask & 0x3F;
    if mask & 0x80 != 0 {
        // Array length, untrusted: capped; each element is at least one byte.
        let n = read_count(c, "opcua.variant.array_length", MAX_ARRAY, 1)?.unwrap_or(0);
        for _ in 0..n {
            skip_variant_value(c, t, depth)?;
        }
        if mask & 0x40 != 0 {
            let d = read_count(c, "opcua.variant.dimensions", MAX_ARRAY, 4)?.unwrap_or(0);
            c.skip(4 * d, "opcua.variant.dimensions")?;
        }
        return Ok(Value::Other(t));
    }
    Ok(match t {
        12 => Value::String(read_string(c, "opcua.variant.string")?),
        13 => Value::DateTime(i64_le(c, "opcua.variant.date_time")?),
        21 => Value::LocalizedText(LocalizedText::decode(c)?),
        0 => Value::Other(0),
        t => {
            skip_variant_value(c, t, depth)?;
            Value::Other(t)
        }
    })
}

fn skip_variant(c: &mut Cursor, depth: usize) -> Result<(), DecodeError> {
    read_variant(c, depth).map(|_| ())
}

/// A DataValue (Part 6, 5.2.2.17): its value and status.
#[derive(Debug, Clone, PartialEq)]
pub struct DataValue {
    pub value: Option<Value>,
    pub status: Option<u32>,
}

fn read_data_value(c: &mut Cursor, depth: usize) -> Result<DataValue, DecodeError> {
    let mask = c.u8("opcua.data_value.mask")?;
    let value = if mask & 0x01 != 0 {
        Some(read_variant(c, depth)?)
    } else {
        None
    };
    let status = if mask & 0x02 != 0 {
        Some(c.u32_le("opcua.data_value.status")?)
    } else {
        None
    };
    if mask & 0x04 != 0 {
        c.skip(8, "opcua.data_value.source_timestamp")?;
    }
    if mask & 0x10 != 0 {
        c.skip(2, "opcua.data_value.source_picoseconds")?;
    }
    if mask & 0x08 != 0 {
        c.skip(8, "opcua.data_value.server_timestamp")?;
    }
    if mask & 0x20 != 0 {
        c.skip(2, "opcua.data_value.server_picoseconds")?;
    }
    Ok(DataValue { value, status })
}

fn skip_data_value(c: &mut Cursor, depth: usize) -> Result<(), DecodeError> {
    read_data_value(c, depth).map(|_| ())
}

// ---------------------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------------------

/// A decoded service message: the requests otscout sends (and the guard re-parses), the
/// answers it reads, and any other service by its type id.
#[derive(Debug, Clone, PartialEq)]
pub enum Service {
    OpenSecureChannelRequest {
        header: RequestHeader,
        client_protocol_version: u32,
        /// 0 Issue, 1 Renew.
        request_type: u32,
        security_mode: u32,
        client_nonce: Option<Vec<u8>>,
        requested_lifetime: u32,
    },
    OpenSecureChannelResponse {
        header: ResponseHeader,
        server_protocol_version: u32,
        channel_id: u32,
        token_id: u32,
        created_at: i64,
        revised_lifetime: u32,
        server_nonce: Option<Vec<u8>>,
    },
    CloseSecureChannelRequest {
        header: RequestHeader,
    },
    GetEndpointsRequest {
        header: RequestHeader,
        endpoint_url: Option<String>,
        locale_ids: Option<Vec<Option<String>>>,
        profile_uris: Option<Vec<Option<String>>>,
    },
    GetEndpointsResponse {
        header: ResponseHeader,
        endpoints: Vec<EndpointDescription>,
    },
    FindServersRequest {
        header: RequestHeader,
        endpoint_url: Option<String>,
        locale_ids: Option<Vec<Option<String>>>,
        server_uris: Option<Vec<Option<String>>>,
    },
    FindServersResponse {
        header: ResponseHeader,
        servers: Vec<ApplicationDescription>,
    },
    CreateSessionRequest {
        header: RequestHeader,
        client_description: ApplicationDescription,
        server_uri: Option<String>,
        endpoint_url: Option<String>,
        session_name: Option<String>,
        client_nonce: Option<Vec<u8>>,
        client_certificate: Option<Vec<u8>>,
        requested_session_timeout: f64,
        max_response_message_size: u32,
    },
    /// The fields otscout uses; the rest of the answer (software certificates, signature,
    /// max request size) is not read.
    CreateSessionResponse {
        header: ResponseHeader,
        session_id: NodeId,
        authentication_token: NodeId,
        revised_session_timeout: f64,
        server_nonce: Option<Vec<u8>>,
        server_certificate: Option<Vec<u8>>,
        server_endpoints: Vec<EndpointDescription>,
    },
    ActivateSessionRequest {
        header: RequestHeader,
        client_signature: SignatureData,
        /// Only null (-1) or empty (0) software certificate arrays decode.
        client_software_certificates: Option<Vec<()>>,
        locale_ids: Option<Vec<Option<String>>>,
        user_identity_token: ExtensionObject,
        user_token_signature: SignatureData,
    },
    ActivateSessionResponse {
        header: ResponseHeader,
    },
    ReadRequest {
        header: RequestHeader,
        max_age: f64,
        timestamps_to_return: u32,
        nodes_to_read: Option<Vec<ReadValueId>>,
    },
    ReadResponse {
        header: ResponseHeader,
        results: Vec<DataValue>,
    },
    CloseSessionRequest {
        header: RequestHeader,
        delete_subscriptions: bool,
    },
    CloseSessionResponse {
        header: ResponseHeader,
    },
    ServiceFault {
        header: ResponseHeader,
    },
    /// Any other service: its type id (`u32::MAX` for a non-numeric one).
    Other {
        type_id: u32,
    },
}

impl Service {
    /// The numeric type id of the binary encoding.
    pub fn type_id(&self) -> u32 {
        match self {
            Service::OpenSecureChannelRequest { .. } => id::OPEN_SECURE_CHANNEL_REQUEST,
            Service::OpenSecureChannelResponse { .. } => id::OPEN_SECURE_CHANNEL_RESPONSE,
            Service::CloseSecureChannelRequest { .. } => id::CLOSE_SECURE_CHANNEL_REQUEST,
            Service::GetEndpointsRequest { .. } => id::GET_ENDPOINTS_REQUEST,
            Service::GetEndpointsResponse { .. } => id::GET_ENDPOINTS_RESPONSE,
            Service::FindServersRequest { .. } => id::FIND_SERVERS_REQUEST,
            Service::FindServersResponse { .. } => id::FIND_SERVERS_RESPONSE,
            Service::CreateSessionRequest { .. } => id::CREATE_SESSION_REQUEST,
            Service::CreateSessionResponse { .. } => id::CREATE_SESSION_RESPONSE,
            Service::ActivateSessionRequest { .. } => id::ACTIVATE_SESSION_REQUEST,
            Service::ActivateSessionResponse { .. } => id::ACTIVATE_SESSION_RESPONSE,
            Service::ReadRequest { .. } => id::READ_REQUEST,
            Service::ReadResponse { .. } => id::READ_RESPONSE,
            Service::CloseSessionRequest { .. } => id::CLOSE_SESSION_REQUEST,
            Service::CloseSessionResponse { .. } => id::CLOSE_SESSION_RESPONSE,
            Service::ServiceFault { .. } => id::SERVICE_FAULT,
            Service::Other { type_id } => *type_id,
        }
    }

    /// Reads the type id of a message body without decoding the rest.
    pub fn peek_type_id(body: &[u8]) -> Result<u32, DecodeError> {
        let node = NodeId::decode_expanded(&mut Cursor::framed(body))?;
        Ok(node.as_ns0().unwrap_or(u32::MAX))
    }

    /// Decodes a message body (a type id and the encoded service). Bytes after the fields
    /// otscout reads are left alone (answers carry fields it does not read); the guard
    /// re-encodes what it decoded and compares whole byte slices, so it sees them.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::framed(body);
        let type_id = NodeId::decode_expanded(&mut c)?
            .as_ns0()
            .unwrap_or(u32::MAX);
        let c = &mut c;
        let s = match type_id {
            id::OPEN_SECURE_CHANNEL_REQUEST => Service::OpenSecureChannelRequest {
                header: RequestHeader::decode(c)?,
                client_protocol_version: c.u32_le("opcua.opn.client_protocol_version")?,
                request_type: c.u32_le("opcua.opn.request_type")?,
                security_mode: c.u32_le("opcua.opn.security_mode")?,
                client_nonce: read_bytes(c, "opcua.opn.client_nonce")?,
                requested_lifetime: c.u32_le("opcua.opn.requested_lifetime")?,
            },
            id::OPEN_SECURE_CHANNEL_RESPONSE => Service::OpenSecureChannelResponse {
                header: ResponseHeader::decode(c)?,
                server_protocol_version: c.u32_le("opcua.opn.server_protocol_version")?,
                channel_id: c.u32_le("opcua.opn.token.channel_id")?,
                token_id: c.u32_le("opcua.opn.token.token_id")?,
                created_at: i64_le(c, "opcua.opn.token.created_at")?,
                revised_lifetime: c.u32_le("opcua.opn.token.revised_lifetime")?,
                server_nonce: read_bytes(c, "opcua.opn.server_nonce")?,
            },
            id::CLOSE_SECURE_CHANNEL_REQUEST => Service::CloseSecureChannelRequest {
                header: RequestHeader::decode(c)?,
            },
            id::GET_ENDPOINTS_REQUEST => Service::GetEndpointsRequest {
                header: RequestHeader::decode(c)?,
                endpoint_url: read_string(c, "opcua.get_endpoints.endpoint_url")?,
                locale_ids: read_string_array(c, "opcua.get_endpoints.locale_ids")?,
                profile_uris: read_string_array(c, "opcua.get_endpoints.profile_uris")?,
            },
            id::GET_ENDPOINTS_RESPONSE => Service::GetEndpointsResponse {
                header: ResponseHeader::decode(c)?,
                endpoints: read_endpoints(c, "opcua.get_endpoints.endpoints")?,
            },
            id::FIND_SERVERS_REQUEST => Service::FindServersRequest {
                header: RequestHeader::decode(c)?,
                endpoint_url: read_string(c, "opcua.find_servers.endpoint_url")?,
                locale_ids: read_string_array(c, "opcua.find_servers.locale_ids")?,
                server_uris: read_string_array(c, "opcua.find_servers.server_uris")?,
            },
            id::FIND_SERVERS_RESPONSE => {
                let header = ResponseHeader::decode(c)?;
                // Server count, untrusted: capped; each description is at least 30 bytes.
                let n = read_count(c, "opcua.find_servers.servers", MAX_SERVERS, 30)?;
                let mut servers = Vec::with_capacity(n.unwrap_or(0));
                for _ in 0..n.unwrap_or(0) {
                    servers.push(ApplicationDescription::decode(c)?);
                }
                Service::FindServersResponse { header, servers }
            }
            id::CREATE_SESSION_REQUEST => Service::CreateSessionRequest {
                header: RequestHeader::decode(c)?,
                client_description: ApplicationDescription::decode(c)?,
                server_uri: read_string(c, "opcua.create_session.server_uri")?,
                endpoint_url: read_string(c, "opcua.create_session.endpoint_url")?,
                session_name: read_string(c, "opcua.create_session.session_name")?,
                client_nonce: read_bytes(c, "opcua.create_session.client_nonce")?,
                client_certificate: read_bytes(c, "opcua.create_session.client_certificate")?,
                requested_session_timeout: f64_le(c, "opcua.create_session.timeout")?,
                max_response_message_size: c.u32_le("opcua.create_session.max_response")?,
            },
            id::CREATE_SESSION_RESPONSE => Service::CreateSessionResponse {
                header: ResponseHeader::decode(c)?,
                session_id: NodeId::decode(c)?,
                authentication_token: NodeId::decode(c)?,
                revised_session_timeout: f64_le(c, "opcua.create_session.revised_timeout")?,
                server_nonce: read_bytes(c, "opcua.create_session.server_nonce")?,
                server_certificate: read_bytes(c, "opcua.create_session.server_certificate")?,
                server_endpoints: read_endpoints(c, "opcua.create_session.server_endpoints")?,
            },
            id::ACTIVATE_SESSION_REQUEST => {
                let header = RequestHeader::decode(c)?;
                let client_signature = SignatureData::decode(c)?;
                let n = i32_le(c, "opcua.activate_session.software_certificates")?;
                let client_software_certificates = match n {
                    -1 => None,
                    0 => Some(Vec::new()),
                    n => {
                        return Err(DecodeError::Invalid {
                            field: "opcua.activate_session.software_certificates",
                            value: u64::from(n as u32),
                            reason: "only null or empty software certificate arrays are read",
                        });
                    }
                };
                Service::ActivateSessionRequest {
                    header,
                    client_signature,
                    client_software_certificates,
                    locale_ids: read_string_array(c, "opcua.activate_session.locale_ids")?,
                    user_identity_token: ExtensionObject::decode(c)?,
                    user_token_signature: SignatureData::decode(c)?,
                }
            }
            id::ACTIVATE_SESSION_RESPONSE => Service::ActivateSessionResponse {
                header: ResponseHeader::decode(c)?,
            },
            id::READ_REQUEST => {
                let header = RequestHeader::decode(c)?;
                let max_age = f64_le(c, "opcua.read.max_age")?;
                let timestamps_to_return = c.u32_le("opcua.read.timestamps_to_return")?;
                // Node count, untrusted: capped; each ReadValueId is at least 13 bytes.
                let n = read_count(c, "opcua.read.nodes_to_read", MAX_ARRAY, 13)?;
                let nodes_to_read = match n {
                    None => None,
                    Some(n) => {
                        let mut v = Vec::with_capacity(n);
                        for _ in 0..n {
                            v.push(ReadValueId {
                                node_id: NodeId::decode(c)?,
                                attribute_id: c.u32_le("opcua.read.attribute_id")?,
                                index_range: read_string(c, "opcua.read.index_range")?,
                                data_encoding: QualifiedName {
                                    ns: c.u16_le("opcua.read.data_encoding.ns")?,
                                    name: read_string(c, "opcua.read.data_encoding.name")?,
                                },
                            });
                        }
                        Some(v)
                    }
                };
                Service::ReadRequest {
                    header,
                    max_age,
                    timestamps_to_return,
                    nodes_to_read,
                }
            }
            id::READ_RESPONSE => {
                let header = ResponseHeader::decode(c)?;
                // Result count, untrusted: capped; each DataValue is at least one byte.
                let n = read_count(c, "opcua.read.results", MAX_ARRAY, 1)?.unwrap_or(0);
                let mut results = Vec::with_capacity(n);
                for _ in 0..n {
                    results.push(read_data_value(c, 0)?);
                }
                skip_diagnostic_infos(c)?;
                Service::ReadResponse { header, results }
            }
            id::CLOSE_SESSION_REQUEST => Service::CloseSessionRequest {
                header: RequestHeader::decode(c)?,
                delete_subscriptions: c.u8("opcua.close_session.delete_subscriptions")? != 0,
            },
            id::CLOSE_SESSION_RESPONSE => Service::CloseSessionResponse {
                header: ResponseHeader::decode(c)?,
            },
            id::SERVICE_FAULT => Service::ServiceFault {
                header: ResponseHeader::decode(c)?,
            },
            t => return Ok(Service::Other { type_id: t }),
        };
        Ok(s)
    }

    /// Appends the encoded body (type id and service) of a request otscout can send.
    /// Answers and [`Service::Other`] append only their type id (otscout never sends them).
    pub fn encode(&self, out: &mut Vec<u8>) {
        NodeId::ns0(self.type_id()).encode(out);
        match self {
            Service::OpenSecureChannelRequest {
                header,
                client_protocol_version,
                request_type,
                security_mode,
                client_nonce,
                requested_lifetime,
            } => {
                header.encode(out);
                out.extend_from_slice(&client_protocol_version.to_le_bytes());
                out.extend_from_slice(&request_type.to_le_bytes());
                out.extend_from_slice(&security_mode.to_le_bytes());
                write_bytes(out, client_nonce.as_deref());
                out.extend_from_slice(&requested_lifetime.to_le_bytes());
            }
            Service::CloseSecureChannelRequest { header } => header.encode(out),
            Service::GetEndpointsRequest {
                header,
                endpoint_url,
                locale_ids,
                profile_uris,
            } => {
                header.encode(out);
                write_string(out, endpoint_url.as_deref());
                write_string_array(out, locale_ids.as_deref());
                write_string_array(out, profile_uris.as_deref());
            }
            Service::FindServersRequest {
                header,
                endpoint_url,
                locale_ids,
                server_uris,
            } => {
                header.encode(out);
                write_string(out, endpoint_url.as_deref());
                write_string_array(out, locale_ids.as_deref());
                write_string_array(out, server_uris.as_deref());
            }
            Service::CreateSessionRequest {
                header,
                client_description,
                server_uri,
                endpoint_url,
                session_name,
                client_nonce,
                client_certificate,
                requested_session_timeout,
                max_response_message_size,
            } => {
                header.encode(out);
                client_description.encode(out);
                write_string(out, server_uri.as_deref());
                write_string(out, endpoint_url.as_deref());
                write_string(out, session_name.as_deref());
                write_bytes(out, client_nonce.as_deref());
                write_bytes(out, client_certificate.as_deref());
                out.extend_from_slice(&requested_session_timeout.to_bits().to_le_bytes());
                out.extend_from_slice(&max_response_message_size.to_le_bytes());
            }
            Service::ActivateSessionRequest {
                header,
                client_signature,
                client_software_certificates,
                locale_ids,
                user_identity_token,
                user_token_signature,
            } => {
                header.encode(out);
                client_signature.encode(out);
                let n: i32 = if client_software_certificates.is_some() {
                    0
                } else {
                    -1
                };
                out.extend_from_slice(&n.to_le_bytes());
                write_string_array(out, locale_ids.as_deref());
                user_identity_token.encode(out);
                user_token_signature.encode(out);
            }
            Service::ReadRequest {
                header,
                max_age,
                timestamps_to_return,
                nodes_to_read,
            } => {
                header.encode(out);
                out.extend_from_slice(&max_age.to_bits().to_le_bytes());
                out.extend_from_slice(&timestamps_to_return.to_le_bytes());
                match nodes_to_read {
                    None => out.extend_from_slice(&(-1i32).to_le_bytes()),
                    Some(v) => {
                        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                        for r in v {
                            r.node_id.encode(out);
                            out.extend_from_slice(&r.attribute_id.to_le_bytes());
                            write_string(out, r.index_range.as_deref());
                            out.extend_from_slice(&r.data_encoding.ns.to_le_bytes());
                            write_string(out, r.data_encoding.name.as_deref());
                        }
                    }
                }
            }
            Service::CloseSessionRequest {
                header,
                delete_subscriptions,
            } => {
                header.encode(out);
                out.push(u8::from(*delete_subscriptions));
            }
            _ => {}
        }
    }

    /// The request header, when the service is a request otscout decodes.
    pub fn request_header(&self) -> Option<&RequestHeader> {
        match self {
            Service::OpenSecureChannelRequest { header, .. }
            | Service::CloseSecureChannelRequest { header }
            | Service::GetEndpointsRequest { header, .. }
            | Service::FindServersRequest { header, .. }
            | Service::CreateSessionRequest { header, .. }
            | Service::ActivateSessionRequest { header, .. }
            | Service::ReadRequest { header, .. }
            | Service::CloseSessionRequest { header, .. } => Some(header),
            _ => None,
        }
    }

    /// The response header, when the service is an answer otscout decodes.
    pub fn response_header(&self) -> Option<&ResponseHeader> {
        match self {
            Service::OpenSecureChannelResponse { header, .. }
            | Service::GetEndpointsResponse { header, .. }
            | Service::FindServersResponse { header, .. }
            | Service::CreateSessionResponse { header, .. }
            | Service::ActivateSessionResponse { header }
            | Service::ReadResponse { header, .. }
            | Service::CloseSessionResponse { header }
            | Service::ServiceFault { header } => Some(header),
            _ => None,
        }
    }
}

/// The AnonymousIdentityToken ExtensionObject (Part 4, 7.36.3) with `policy_id`.
pub fn anonymous_token(policy_id: Option<&str>) -> ExtensionObject {
    let mut body = Vec::new();
    write_string(&mut body, policy_id);
    ExtensionObject {
        type_id: NodeId::ns0(id::ANONYMOUS_IDENTITY_TOKEN),
        encoding: 1,
        body: Some(body),
    }
}

#[cfg(test)]
mod tests;
