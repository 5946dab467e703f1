//! EtherNet/IP encapsulation, the common packet format (CPF), the List Identity / List
//! Services / List Interfaces bodies, and just enough CIP to name what a client asked for.
//!
//! What it does: decode and encode the 24-byte little-endian encapsulation header, its
//! body for the commands otscout meets (List*, Register Session, SendRRData /
//! SendUnitData), CPF items, the identity item (0x0C), the List Services item (0x0100),
//! the CIP message router request/reply header, Unconnected Send and Multiple Service
//! Packet containers, and the CIP Identity object's Get_Attributes_All reply. It also
//! names every command and CIP service and says whether it reads, writes or controls
//! ([`classify`]), and recognises class-1 implicit I/O datagrams ([`IoPacket`]).
//!
//! What it never does: I/O, clocks, printing, or an allocation whose size a wire value
//! controls without a cap (see the untrusted-input contract in [the crate docs](crate)).
//!
//! Spec: ODVA, The CIP Networks Library, Vol. 2 (EtherNet/IP Adaptation of CIP), chapter 2
//! (encapsulation: 2-3 header, 2-4 commands, 2-6 CPF) and Vol. 1 (CIP: 2-4 message router,
//! appendix A services, 5A-2 Identity object, C-1 EPATH segments); Rockwell 1756-PM020 for
//! the Logix tag services (0x4C-0x55). All integers are little-endian except the socket
//! address inside the identity item, which is big-endian (network order, Vol. 2 2-6.3.3).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use super::{Anomaly, Cursor, DecodeError};

/// Length of the encapsulation header (Vol. 2 2-3.1).
pub const HEADER_LEN: usize = 24;
/// The largest body the spec allows (Vol. 2 2-3.1: "65511 bytes"), the rest of a u16.
pub const MAX_BODY_LEN: usize = 65_511;
/// Cap on CPF items in one body: List* replies carry one item per identity/service and
/// SendRRData carries two (Vol. 2 2-6); 16 leaves room for vendors, not for abuse.
pub const MAX_CPF_ITEMS: usize = 16;
/// Cap on services in a Multiple Service Packet: each needs at least 2 bytes of request,
/// so a body of at most 65511 bytes holds fewer; 512 keeps classification bounded.
pub const MAX_MSP_SERVICES: usize = 512;
/// How deep containers (Unconnected Send, Multiple Service Packet) may nest when
/// classifying: real clients nest one or two levels.
pub const MAX_NESTING: usize = 4;
/// The spec's product name limit (Vol. 1 5A-2.2, attribute 7: SHORT_STRING of at most
/// 32 characters); longer names are kept with an anomaly.
pub const PRODUCT_NAME_SPEC_MAX: usize = 32;
/// The registered EtherNet/IP TCP/UDP port (explicit messaging and List*).
pub const PORT: u16 = 44818;
/// The registered UDP port of class 0/1 implicit I/O.
pub const IO_PORT: u16 = 2222;

macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident : $raw:ty { $( $(#[$vmeta:meta])* $variant:ident = $value:expr, $label:expr; )* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value otscout has no name for, kept as sent.
            Unknown($raw),
        }

        impl $name {
            /// The value on the wire.
            pub fn raw(self) -> $raw {
                match self {
                    $( $name::$variant => $value, )*
                    $name::Unknown(v) => v,
                }
            }

            /// The value for a wire value; every value has one (unknown ones round-trip).
            pub fn from_raw(v: $raw) -> Self {
                match v {
                    $( x if x == $value => $name::$variant, )*
                    other => $name::Unknown(other),
                }
            }

            /// A stable snake_case name, or `None` for an unknown value.
            pub fn label(self) -> Option<&'static str> {
                match self {
                    $( $name::$variant => Some($label), )*
                    $name::Unknown(_) => None,
                }
            }
        }
    };
}

open_enum! {
    /// Encapsulation commands (Vol. 2 2-3.2, table 2-3.2).
    Command: u16 {
        /// 0x0000, TCP only.
        Nop = 0x0000, "nop";
        /// 0x0004.
        ListServices = 0x0004, "list_services";
        /// 0x0063.
        ListIdentity = 0x0063, "list_identity";
        /// 0x0064.
        ListInterfaces = 0x0064, "list_interfaces";
        /// 0x0065.
        RegisterSession = 0x0065, "register_session";
        /// 0x0066.
        UnregisterSession = 0x0066, "unregister_session";
        /// 0x006F: unconnected explicit messaging.
        SendRrData = 0x006F, "send_rr_data";
        /// 0x0070: connected explicit messaging.
        SendUnitData = 0x0070, "send_unit_data";
        /// 0x0072.
        IndicateStatus = 0x0072, "indicate_status";
        /// 0x0073.
        Cancel = 0x0073, "cancel";
    }
}

open_enum! {
    /// Encapsulation status codes (Vol. 2 2-3.3).
    EncapStatus: u32 {
        Success = 0x0000, "success";
        /// 0x0001: the device does not support the command. A normal answer.
        InvalidCommand = 0x0001, "invalid_or_unsupported_command";
        InsufficientMemory = 0x0002, "insufficient_memory";
        IncorrectData = 0x0003, "incorrect_data";
        InvalidSessionHandle = 0x0064, "invalid_session_handle";
        InvalidLength = 0x0065, "invalid_length";
        UnsupportedProtocolRevision = 0x0069, "unsupported_protocol_revision";
    }
}

open_enum! {
    /// CPF item type ids (Vol. 2 2-6.1, table 2-6.3).
    ItemType: u16 {
        NullAddress = 0x0000, "null_address";
        ListIdentity = 0x000C, "list_identity";
        ConnectedAddress = 0x00A1, "connected_address";
        ConnectedData = 0x00B1, "connected_data";
        UnconnectedData = 0x00B2, "unconnected_data";
        ListServices = 0x0100, "list_services";
        SockaddrOt = 0x8000, "sockaddr_o_to_t";
        SockaddrTo = 0x8001, "sockaddr_t_to_o";
        SequencedAddress = 0x8002, "sequenced_address";
    }
}

/// The 24-byte encapsulation header (Vol. 2 2-3.1). Every field is kept as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub command: Command,
    /// Bytes of body that follow the header.
    pub length: u16,
    pub session_handle: u32,
    pub status: EncapStatus,
    /// Echoed unchanged by the responder: how a client matches replies to requests.
    pub sender_context: [u8; 8],
    /// Must be 0 (Vol. 2 2-3.1); a receiver discards a frame with other options.
    pub options: u32,
}

impl Header {
    /// Appends the 24 header bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.command.raw().to_le_bytes());
        out.extend_from_slice(&self.length.to_le_bytes());
        out.extend_from_slice(&self.session_handle.to_le_bytes());
        out.extend_from_slice(&self.status.raw().to_le_bytes());
        out.extend_from_slice(&self.sender_context);
        out.extend_from_slice(&self.options.to_le_bytes());
    }

    /// Always [`HEADER_LEN`].
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
    }

    /// Reads 24 header bytes.
    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        Ok(Header {
            command: Command::from_raw(c.u16_le("enip.header.command")?),
            length: c.u16_le("enip.header.length")?,
            session_handle: c.u32_le("enip.header.session_handle")?,
            status: EncapStatus::from_raw(c.u32_le("enip.header.status")?),
            sender_context: c.array("enip.header.sender_context")?,
            options: c.u32_le("enip.header.options")?,
        })
    }
}

/// Stream framing, under the contract of [the crate docs](crate): `Ok(None)` until the whole
/// frame (the 24-byte header and the `length` bytes it announces) is in `buf`, then
/// `Ok(Some(24 + length))`.
///
/// Errors when the header's length is above [`MAX_BODY_LEN`] (the stream cannot be
/// resynchronised: the caller drops the connection).
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let Some(len) = buf.get(2..4) else {
        return Ok(None);
    };
    // Untrusted length: a u16, further capped by the spec's 65511 (Vol. 2 2-3.1), so a
    // bad one is refused as soon as it is readable rather than waited for.
    let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
    if len > MAX_BODY_LEN {
        return Err(DecodeError::TooLarge {
            field: "enip.header.length",
            value: len,
            max: MAX_BODY_LEN,
        });
    }
    let total = HEADER_LEN + len;
    Ok((buf.len() >= total).then_some(total))
}

/// One CPF item, its data kept raw; typed views decode `data` on demand
/// ([`IdentityItem::decode`], [`ServiceItem::decode`], [`CipMessage::decode`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpfItem {
    pub type_id: ItemType,
    pub data: Vec<u8>,
}

impl CpfItem {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.type_id.raw().to_le_bytes());
        out.extend_from_slice(&len_u16(self.data.len()).to_le_bytes());
        out.extend_from_slice(&self.data);
    }

    pub fn encoded_len(&self) -> usize {
        4 + self.data.len()
    }

    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        let type_id = ItemType::from_raw(c.u16_le("enip.cpf.item.type_id")?);
        // Untrusted length: a u16, and `bytes` checks it against what the body holds.
        let len = usize::from(c.u16_le("enip.cpf.item.length")?);
        let data = c.bytes(len, "enip.cpf.item.data")?.to_vec();
        Ok(CpfItem { type_id, data })
    }
}

/// The common packet format: an item count and the items (Vol. 2 2-6).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cpf {
    pub items: Vec<CpfItem>,
}

impl Cpf {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&len_u16(self.items.len()).to_le_bytes());
        for item in &self.items {
            item.encode(out);
        }
    }

    pub fn encoded_len(&self) -> usize {
        2 + self.items.iter().map(CpfItem::encoded_len).sum::<usize>()
    }

    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        let count = usize::from(c.u16_le("enip.cpf.item_count")?);
        // Untrusted count (Vol. 2 2-6): replies carry a handful of items.
        if count > MAX_CPF_ITEMS {
            return Err(DecodeError::TooLarge {
                field: "enip.cpf.item_count",
                value: count,
                max: MAX_CPF_ITEMS,
            });
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(CpfItem::decode(c)?);
        }
        Ok(Cpf { items })
    }

    /// The first item of this type.
    pub fn find(&self, type_id: ItemType) -> Option<&CpfItem> {
        self.items.iter().find(|i| i.type_id == type_id)
    }
}

/// The command-specific data of SendRRData / SendUnitData (Vol. 2 2-4.7, 2-4.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendData {
    /// 0 for CIP.
    pub interface_handle: u32,
    /// Seconds (SendRRData); 0 for SendUnitData.
    pub timeout: u16,
    pub cpf: Cpf,
}

impl SendData {
    /// The CIP message this carries: the unconnected data item's bytes (0xB2), or the
    /// connected data item's bytes after its 2-byte sequence count (0xB1).
    pub fn cip_bytes(&self) -> Option<&[u8]> {
        if let Some(item) = self.cpf.find(ItemType::UnconnectedData) {
            return Some(&item.data);
        }
        self.cpf
            .find(ItemType::ConnectedData)
            .and_then(|i| i.data.get(2..))
    }
}

/// The body after the header, decoded by command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// No body (`length` 0): every List* request, a Nop, most error replies.
    Empty,
    /// A List Identity / List Services / List Interfaces reply (or the legacy 0x0001 reply
    /// when decoded with [`Cpf::decode`] by the caller: here it stays [`Body::Raw`]).
    Cpf(Cpf),
    /// Register Session request or reply (Vol. 2 2-4.4).
    RegisterSession { protocol_version: u16, options: u16 },
    /// SendRRData / SendUnitData.
    SendData(SendData),
    /// Any other body, kept as sent.
    Raw(Vec<u8>),
}

impl Body {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Body::Empty => {}
            Body::Cpf(cpf) => cpf.encode(out),
            Body::RegisterSession {
                protocol_version,
                options,
            } => {
                out.extend_from_slice(&protocol_version.to_le_bytes());
                out.extend_from_slice(&options.to_le_bytes());
            }
            Body::SendData(s) => {
                out.extend_from_slice(&s.interface_handle.to_le_bytes());
                out.extend_from_slice(&s.timeout.to_le_bytes());
                s.cpf.encode(out);
            }
            Body::Raw(b) => out.extend_from_slice(b),
        }
    }

    pub fn encoded_len(&self) -> usize {
        match self {
            Body::Empty => 0,
            Body::Cpf(cpf) => cpf.encoded_len(),
            Body::RegisterSession { .. } => 4,
            Body::SendData(s) => 6 + s.cpf.encoded_len(),
            Body::Raw(b) => b.len(),
        }
    }

    /// Decodes a body of `command` from a framed cursor over exactly the body's bytes.
    fn decode(
        command: Command,
        c: &mut Cursor,
        anomalies: &mut Vec<Anomaly>,
    ) -> Result<Self, DecodeError> {
        if c.is_empty() {
            return Ok(Body::Empty);
        }
        let body = match command {
            Command::ListIdentity | Command::ListServices | Command::ListInterfaces => {
                Body::Cpf(Cpf::decode(c)?)
            }
            Command::RegisterSession => Body::RegisterSession {
                protocol_version: c.u16_le("enip.register_session.protocol_version")?,
                options: c.u16_le("enip.register_session.options")?,
            },
            Command::SendRrData | Command::SendUnitData => Body::SendData(SendData {
                interface_handle: c.u32_le("enip.send_data.interface_handle")?,
                timeout: c.u16_le("enip.send_data.timeout")?,
                cpf: Cpf::decode(c)?,
            }),
            _ => return Ok(Body::Raw(c.rest().to_vec())),
        };
        if !c.is_empty() {
            anomalies.push(Anomaly {
                field: "enip.body",
                what: format!("{} bytes after the body ignored", c.remaining()),
            });
        }
        Ok(body)
    }
}

/// One encapsulation frame: header and decoded body.
///
/// `header.length` is kept as sent; [`Frame::encode`] writes it as it is, so a frame built
/// by hand should use [`Frame::new`], which sets it from the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub header: Header,
    pub body: Body,
    /// Odd but survivable things seen while decoding (empty for frames otscout builds).
    pub anomalies: Vec<Anomaly>,
}

impl Frame {
    /// A frame with `header.length` set from `body`.
    pub fn new(mut header: Header, body: Body) -> Self {
        header.length = len_u16(body.encoded_len());
        Frame {
            header,
            body,
            anomalies: Vec::new(),
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        self.header.encode(out);
        self.body.encode(out);
    }

    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.body.encoded_len()
    }

    /// Decodes one frame from the start of a stream (`Incomplete` until the whole frame is
    /// there); the cursor is left after the frame.
    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        let header = Header::decode(c)?;
        // Untrusted length: capped as in `frame_len` (Vol. 2 2-3.1), and `sub` checks it
        // against the bytes present.
        let len = usize::from(header.length);
        if len > MAX_BODY_LEN {
            return Err(DecodeError::TooLarge {
                field: "enip.header.length",
                value: len,
                max: MAX_BODY_LEN,
            });
        }
        let mut body = c.sub(len, "enip.body")?;
        let mut anomalies = Vec::new();
        if header.options != 0 {
            anomalies.push(Anomaly {
                field: "enip.header.options",
                what: format!("options {:#x}, the spec requires 0", header.options),
            });
        }
        let body = Body::decode(header.command, &mut body, &mut anomalies)?;
        Ok(Frame {
            header,
            body,
            anomalies,
        })
    }

    /// Decodes `buf` as exactly one frame (a UDP datagram, a reassembled frame); bytes
    /// after it are an error.
    pub fn decode_exact(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::new(buf);
        let frame = Frame::decode(&mut c)?;
        if !c.is_empty() {
            return Err(DecodeError::Trailing {
                field: "enip.frame",
                extra: c.remaining(),
            });
        }
        Ok(frame)
    }

    /// The CPF items of a List* reply (empty otherwise).
    pub fn cpf_items(&self) -> &[CpfItem] {
        match &self.body {
            Body::Cpf(cpf) => &cpf.items,
            _ => &[],
        }
    }
}

/// The identity item of a List Identity reply (type 0x0C, Vol. 2 2-4.3.2): the
/// encapsulation version and a socket address, then the Identity object's attributes in
/// the order Get_Attributes_All sends them (vendor to product name, then the state byte),
/// so the item holds a [`CipIdentity`] and shares its encode and decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityItem {
    pub encapsulation_version: u16,
    /// sin_family, big-endian (2 = AF_INET).
    pub sin_family: u16,
    /// sin_port, big-endian.
    pub sin_port: u16,
    /// sin_addr, big-endian.
    pub sin_addr: Ipv4Addr,
    /// sin_zero, kept as sent (should be zero).
    pub sin_zero: [u8; 8],
    /// Attributes 1 to 7; its `extra` holds what follows the product name: the state byte
    /// (attribute 8, Vol. 2 2-4.3.2), then any bytes a device adds, kept as sent.
    pub identity: CipIdentity,
}

/// Field names of an item's identity attributes, as errors and anomalies name them.
const LIST_IDENTITY_FIELDS: IdentityFields = IdentityFields {
    vendor_id: "enip.identity.vendor_id",
    device_type: "enip.identity.device_type",
    product_code: "enip.identity.product_code",
    revision: "enip.identity.revision",
    status: "enip.identity.status",
    serial: "enip.identity.serial",
    product_name: "enip.identity.product_name",
};

impl IdentityItem {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.encapsulation_version.to_le_bytes());
        out.extend_from_slice(&self.sin_family.to_be_bytes());
        out.extend_from_slice(&self.sin_port.to_be_bytes());
        out.extend_from_slice(&self.sin_addr.octets());
        out.extend_from_slice(&self.sin_zero);
        self.identity.encode(out);
    }

    pub fn encoded_len(&self) -> usize {
        18 + self.identity.encoded_len()
    }

    /// Decodes the item's data (a framed cursor over [`CpfItem::data`]), pushing anomalies.
    pub fn decode(c: &mut Cursor, anomalies: &mut Vec<Anomaly>) -> Result<Self, DecodeError> {
        let encapsulation_version = c.u16_le("enip.identity.encapsulation_version")?;
        let sin_family = c.u16_be("enip.identity.sin_family")?;
        let sin_port = c.u16_be("enip.identity.sin_port")?;
        let sin_addr = Ipv4Addr::from(c.array::<4>("enip.identity.sin_addr")?);
        let sin_zero = c.array("enip.identity.sin_zero")?;
        let identity = CipIdentity::decode_named(c, &LIST_IDENTITY_FIELDS, anomalies)?;
        match identity.extra.len() {
            0 => anomalies.push(Anomaly {
                field: "enip.identity.state",
                what: "state byte missing".into(),
            }),
            1 => {}
            n => anomalies.push(Anomaly {
                field: "enip.identity",
                what: format!("{} bytes after the state byte", n - 1),
            }),
        }
        if sin_family != 2 {
            anomalies.push(Anomaly {
                field: "enip.identity.sin_family",
                what: format!("{sin_family}, expected 2 (AF_INET, big-endian)"),
            });
        }
        Ok(IdentityItem {
            encapsulation_version,
            sin_family,
            sin_port,
            sin_addr,
            sin_zero,
            identity,
        })
    }

    /// The state byte (attribute 8), `None` when the device left it out (some do).
    pub fn state(&self) -> Option<u8> {
        self.identity.extra.first().copied()
    }

    /// Bytes after the state byte, kept as sent (empty on a well-formed item).
    pub fn after_state(&self) -> &[u8] {
        self.identity.extra.get(1..).unwrap_or_default()
    }

    /// The socket address the device reports (never the asset's key: NAT, replays).
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(self.sin_addr, self.sin_port))
    }

    /// The product name as text (invalid UTF-8 replaced).
    pub fn product_name_str(&self) -> String {
        self.identity.product_name_str()
    }
}

/// Decodes the identity items of a List Identity reply frame. Items of other types are
/// skipped with an anomaly; a malformed identity item is an error.
pub fn identity_items(frame: &Frame) -> Result<(Vec<IdentityItem>, Vec<Anomaly>), DecodeError> {
    let mut anomalies = Vec::new();
    let mut out = Vec::new();
    for item in frame.cpf_items() {
        if item.type_id == ItemType::ListIdentity {
            let mut c = Cursor::framed(&item.data);
            out.push(IdentityItem::decode(&mut c, &mut anomalies)?);
        } else {
            anomalies.push(Anomaly {
                field: "enip.cpf.item.type_id",
                what: format!(
                    "item type {:#06x} in a list identity reply ignored",
                    item.type_id.raw()
                ),
            });
        }
    }
    Ok((out, anomalies))
}

/// Bytes of the List Services item's name field (Vol. 2 2-4.6.3: `USINT[16]`).
pub const SERVICE_NAME_LEN: usize = 16;

/// The List Services item (type 0x0100, Vol. 2 2-4.6.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceItem {
    pub version: u16,
    /// Bit 5 (0x20): CIP over TCP encapsulation; bit 8 (0x100): CIP class 0/1 over UDP.
    pub capability_flags: u16,
    /// The name field as sent: 16 bytes of NUL-padded ASCII (`Communications`) by the
    /// spec; fewer when the item ends sooner (see [`ServiceItem::decode`]).
    pub name: Vec<u8>,
    /// Bytes after the name, kept as sent.
    pub extra: Vec<u8>,
}

impl ServiceItem {
    /// Capability flag: CIP encapsulation over TCP.
    pub const CIP_OVER_TCP: u16 = 0x0020;
    /// Capability flag: CIP class 0/1 (implicit I/O) over UDP.
    pub const CLASS01_OVER_UDP: u16 = 0x0100;

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.capability_flags.to_le_bytes());
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&self.extra);
    }

    pub fn encoded_len(&self) -> usize {
        4 + self.name.len() + self.extra.len()
    }

    /// Decodes the item's data (a framed cursor over [`CpfItem::data`]).
    ///
    /// Lenient on the name: an item that ends before the 16 name bytes keeps the name it
    /// has (cpppo 5.2.5 sends `Communications` and one NUL, a 19-byte item, and Wireshark
    /// calls it malformed); [`ServiceItem::short_name`] flags it.
    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        let version = c.u16_le("enip.service.version")?;
        let capability_flags = c.u16_le("enip.service.capability_flags")?;
        let name_len = c.remaining().min(SERVICE_NAME_LEN);
        Ok(ServiceItem {
            version,
            capability_flags,
            name: c.bytes(name_len, "enip.service.name")?.to_vec(),
            extra: c.rest().to_vec(),
        })
    }

    /// The name field is shorter than the spec's 16 bytes (the item ended sooner).
    pub fn short_name(&self) -> bool {
        self.name.len() < SERVICE_NAME_LEN
    }

    /// The name up to its first NUL, as text.
    pub fn name_str(&self) -> String {
        let end = self
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.name.len());
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }
}

/// A CIP message router request (Vol. 1 2-4.1): service, EPATH, data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CipRequest {
    /// Service code, bit 7 clear.
    pub service: u8,
    /// The request path (EPATH), raw; its length is a whole number of 16-bit words.
    pub path: Vec<u8>,
    pub data: Vec<u8>,
}

impl CipRequest {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.service & 0x7F);
        // Path lengths are whole words (the decoder only produces even lengths).
        out.push(u8::try_from(self.path.len() / 2).unwrap_or(u8::MAX));
        out.extend_from_slice(&self.path);
        out.extend_from_slice(&self.data);
    }

    pub fn encoded_len(&self) -> usize {
        2 + self.path.len() + self.data.len()
    }

    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        let service = c.u8("cip.request.service")?;
        if service & 0x80 != 0 {
            return Err(DecodeError::Invalid {
                field: "cip.request.service",
                value: u64::from(service),
                reason: "reply bit set in a request",
            });
        }
        // Untrusted size in 16-bit words: a u8 (at most 510 bytes), checked by `bytes`.
        let words = usize::from(c.u8("cip.request.path_size")?);
        let path = c.bytes(words * 2, "cip.request.path")?.to_vec();
        Ok(CipRequest {
            service,
            path,
            data: c.rest().to_vec(),
        })
    }

    /// The logical class/instance/attribute and symbol of the path.
    pub fn target(&self) -> PathTarget {
        PathTarget::parse(&self.path)
    }
}

/// A CIP message router reply (Vol. 1 2-4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CipReply {
    /// Service code with the reply bit (0x80) set, as sent.
    pub service: u8,
    pub reserved: u8,
    /// 0 is success (Vol. 1 appendix B).
    pub general_status: u8,
    pub additional_status: Vec<u16>,
    pub data: Vec<u8>,
}

impl CipReply {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.service | 0x80);
        out.push(self.reserved);
        out.push(self.general_status);
        out.push(u8::try_from(self.additional_status.len()).unwrap_or(u8::MAX));
        for w in &self.additional_status {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&self.data);
    }

    pub fn encoded_len(&self) -> usize {
        4 + 2 * self.additional_status.len() + self.data.len()
    }

    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        let service = c.u8("cip.reply.service")?;
        if service & 0x80 == 0 {
            return Err(DecodeError::Invalid {
                field: "cip.reply.service",
                value: u64::from(service),
                reason: "reply bit clear in a reply",
            });
        }
        let reserved = c.u8("cip.reply.reserved")?;
        let general_status = c.u8("cip.reply.general_status")?;
        // Untrusted count of 16-bit words: a u8 (at most 255), each read is checked.
        let n = usize::from(c.u8("cip.reply.additional_status_size")?);
        let mut additional_status = Vec::with_capacity(n);
        for _ in 0..n {
            additional_status.push(c.u16_le("cip.reply.additional_status")?);
        }
        Ok(CipReply {
            service,
            reserved,
            general_status,
            additional_status,
            data: c.rest().to_vec(),
        })
    }
}

/// A CIP request or reply, told apart by bit 7 of the service code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CipMessage {
    Request(CipRequest),
    Reply(CipReply),
}

impl CipMessage {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            CipMessage::Request(r) => r.encode(out),
            CipMessage::Reply(r) => r.encode(out),
        }
    }

    pub fn encoded_len(&self) -> usize {
        match self {
            CipMessage::Request(r) => r.encoded_len(),
            CipMessage::Reply(r) => r.encoded_len(),
        }
    }

    /// Decodes a whole message (the cursor should be framed over the data item).
    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        match c.peek_u8() {
            Some(s) if s & 0x80 != 0 => CipReply::decode(c).map(CipMessage::Reply),
            _ => CipRequest::decode(c).map(CipMessage::Request),
        }
    }
}

/// What an EPATH addresses, as far as otscout needs to know (Vol. 1 C-1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PathTarget {
    pub class: Option<u32>,
    pub instance: Option<u32>,
    pub attribute: Option<u32>,
    /// The first ANSI extended symbol (a Logix tag name), raw bytes.
    pub symbol: Option<Vec<u8>>,
    /// True when a segment otscout does not parse stopped the walk.
    pub unparsed: bool,
}

impl PathTarget {
    /// Walks the logical and symbolic segments; never fails (stops at what it cannot read).
    pub fn parse(path: &[u8]) -> Self {
        let mut t = PathTarget::default();
        let mut c = Cursor::framed(path);
        while let Ok(seg) = c.u8("cip.path.segment") {
            let ok = match seg {
                // Logical segments: 0x20 class, 0x24 instance, 0x28 member, 0x2C connection
                // point, 0x30 attribute; low bits 0 = 8-bit, 1 = 16-bit (pad byte first),
                // 2 = 32-bit (pad byte first).
                0x20..=0x33 => {
                    let value = match seg & 0x03 {
                        0 => c.u8("cip.path.logical").map(u32::from),
                        1 => c
                            .skip(1, "cip.path.pad")
                            .and_then(|_| c.u16_le("cip.path.logical"))
                            .map(u32::from),
                        2 => c
                            .skip(1, "cip.path.pad")
                            .and_then(|_| c.u32_le("cip.path.logical")),
                        _ => Err(DecodeError::Invalid {
                            field: "cip.path.logical",
                            value: u64::from(seg),
                            reason: "reserved logical format",
                        }),
                    };
                    match (value, seg & 0x1C) {
                        (Ok(v), 0x00) => {
                            t.class = Some(v);
                            true
                        }
                        (Ok(v), 0x04) => {
                            t.instance = Some(v);
                            true
                        }
                        (Ok(v), 0x10) => {
                            t.attribute = Some(v);
                            true
                        }
                        (Ok(_), _) => true,
                        (Err(_), _) => false,
                    }
                }
                // ANSI extended symbol segment: length byte, symbol, pad to even.
                0x91 => match c.u8("cip.path.symbol_length") {
                    Ok(n) => {
                        // Untrusted length: a u8, checked against the path by `bytes`.
                        let n = usize::from(n);
                        match c.bytes(n, "cip.path.symbol") {
                            Ok(sym) => {
                                if t.symbol.is_none() {
                                    t.symbol = Some(sym.to_vec());
                                }
                                n % 2 == 0 || c.skip(1, "cip.path.pad").is_ok()
                            }
                            Err(_) => false,
                        }
                    }
                    Err(_) => false,
                },
                _ => false,
            };
            if !ok {
                t.unparsed = true;
                break;
            }
        }
        t
    }
}

/// The CIP Identity object's Get_Attributes_All reply data (class 1, Vol. 1 5A-2.2,
/// attributes 1-7 in order, then whatever optional attributes the device adds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CipIdentity {
    pub vendor_id: u16,
    pub device_type: u16,
    pub product_code: u16,
    pub revision: [u8; 2],
    pub status: u16,
    pub serial: u32,
    pub product_name: Vec<u8>,
    /// Optional attributes after the product name (state, configuration consistency,
    /// heartbeat, ...), kept raw: devices differ in which they include.
    pub extra: Vec<u8>,
}

impl CipIdentity {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.vendor_id.to_le_bytes());
        out.extend_from_slice(&self.device_type.to_le_bytes());
        out.extend_from_slice(&self.product_code.to_le_bytes());
        out.extend_from_slice(&self.revision);
        out.extend_from_slice(&self.status.to_le_bytes());
        out.extend_from_slice(&self.serial.to_le_bytes());
        encode_short_string(&self.product_name, out);
        out.extend_from_slice(&self.extra);
    }

    pub fn encoded_len(&self) -> usize {
        15 + self.product_name.len().min(255) + self.extra.len()
    }

    pub fn decode(c: &mut Cursor, anomalies: &mut Vec<Anomaly>) -> Result<Self, DecodeError> {
        Self::decode_named(c, &CIP_IDENTITY_FIELDS, anomalies)
    }

    /// Decodes attributes 1 to 7 and keeps the rest of the cursor in `extra`, naming the
    /// fields as the enclosing message does (a List Identity item or a CIP reply).
    fn decode_named(
        c: &mut Cursor,
        names: &IdentityFields,
        anomalies: &mut Vec<Anomaly>,
    ) -> Result<Self, DecodeError> {
        Ok(CipIdentity {
            vendor_id: c.u16_le(names.vendor_id)?,
            device_type: c.u16_le(names.device_type)?,
            product_code: c.u16_le(names.product_code)?,
            revision: c.array(names.revision)?,
            status: c.u16_le(names.status)?,
            serial: c.u32_le(names.serial)?,
            product_name: decode_short_string(c, names.product_name, anomalies)?,
            extra: c.rest().to_vec(),
        })
    }

    /// The product name as text (invalid UTF-8 replaced).
    pub fn product_name_str(&self) -> String {
        String::from_utf8_lossy(&self.product_name).into_owned()
    }
}

/// Where the Identity attributes sit in a message, for error and anomaly names.
#[derive(Debug)]
struct IdentityFields {
    vendor_id: &'static str,
    device_type: &'static str,
    product_code: &'static str,
    revision: &'static str,
    status: &'static str,
    serial: &'static str,
    product_name: &'static str,
}

/// Field names of a Get_Attributes_All reply's identity attributes.
const CIP_IDENTITY_FIELDS: IdentityFields = IdentityFields {
    vendor_id: "cip.identity.vendor_id",
    device_type: "cip.identity.device_type",
    product_code: "cip.identity.product_code",
    revision: "cip.identity.revision",
    status: "cip.identity.status",
    serial: "cip.identity.serial",
    product_name: "cip.identity.product_name",
};

/// The Identity object attributes (Vol. 1 5A-2.2) a Get_Attribute_List must ask for to be
/// read as an identity: vendor, device type, product code, revision, serial and product
/// name (the status, attribute 5, is taken when asked, 0 otherwise).
pub const IDENTITY_LIST_ATTRIBUTES: [u16; 6] = [1, 2, 3, 4, 6, 7];

/// Attribute ids a Get_Attribute_List request asks for (Vol. 1: a count, then the
/// ids).
pub fn attribute_list_request(data: &[u8]) -> Result<Vec<u16>, DecodeError> {
    let mut c = Cursor::framed(data);
    // Untrusted count: a u16, each id 2 bytes, checked against the data before reading.
    let n = usize::from(c.u16_le("cip.attribute_list.count")?);
    if n * 2 > c.remaining() {
        return Err(DecodeError::Truncated {
            field: "cip.attribute_list.ids",
            needed: n * 2 - c.remaining(),
        });
    }
    (0..n).map(|_| c.u16_le("cip.attribute_list.id")).collect()
}

/// A Get_Attribute_List reply to the Identity object (Vol. 1: a count, then per
/// attribute its id, its status and, when the status is 0, its value; value layouts of
/// 5A-2.2) as an identity, when it carries every attribute of
/// [`IDENTITY_LIST_ATTRIBUTES`] with status 0; `Ok(None)` otherwise.
///
/// An attribute otscout does not know the size of ends the reading: what follows it
/// cannot be placed.
pub fn identity_from_attribute_list(
    data: &[u8],
    anomalies: &mut Vec<Anomaly>,
) -> Result<Option<CipIdentity>, DecodeError> {
    let mut c = Cursor::framed(data);
    // Untrusted count: each attribute is at least 4 bytes (id, status), checked by the
    // reads below, so a large count only ends in a truncation error.
    let n = c.u16_le("cip.attribute_list.count")?;
    let mut id = CipIdentity {
        vendor_id: 0,
        device_type: 0,
        product_code: 0,
        revision: [0, 0],
        status: 0,
        serial: 0,
        product_name: Vec::new(),
        extra: Vec::new(),
    };
    let mut have = Vec::new();
    for _ in 0..n {
        let attr = c.u16_le("cip.attribute_list.attribute")?;
        let status = c.u16_le("cip.attribute_list.status")?;
        if status != 0 {
            continue;
        }
        match attr {
            1 => id.vendor_id = c.u16_le("cip.identity.vendor_id")?,
            2 => id.device_type = c.u16_le("cip.identity.device_type")?,
            3 => id.product_code = c.u16_le("cip.identity.product_code")?,
            4 => id.revision = c.array("cip.identity.revision")?,
            5 => id.status = c.u16_le("cip.identity.status")?,
            6 => id.serial = c.u32_le("cip.identity.serial")?,
            7 => {
                id.product_name =
                    decode_short_string(&mut c, "cip.identity.product_name", anomalies)?;
            }
            8 => {
                c.u8("cip.identity.state")?;
            }
            _ => break,
        }
        have.push(attr);
    }
    let whole = IDENTITY_LIST_ATTRIBUTES.iter().all(|a| have.contains(a));
    Ok(whole.then_some(id))
}

/// CIP class ids otscout names.
pub mod class {
    pub const IDENTITY: u32 = 0x01;
    pub const MESSAGE_ROUTER: u32 = 0x02;
    pub const CONNECTION_MANAGER: u32 = 0x06;
}

/// CIP service codes otscout names (Vol. 1 appendix A; Rockwell 1756-PM020 for 0x4C-0x55).
pub mod service {
    pub const GET_ATTRIBUTES_ALL: u8 = 0x01;
    pub const GET_ATTRIBUTE_LIST: u8 = 0x03;
    pub const MULTIPLE_SERVICE_PACKET: u8 = 0x0A;
    pub const GET_ATTRIBUTE_SINGLE: u8 = 0x0E;
    pub const UNCONNECTED_SEND: u8 = 0x52;
}

/// Decodes a Get_Attributes_All reply to the Identity object out of a SendRRData /
/// SendUnitData reply frame: `Ok(None)` when the frame is something else.
///
/// The reply does not name its class: the caller pairs it with its request
/// ([`is_identity_get_attributes_all`]) before trusting it as an identity.
pub fn cip_reply(frame: &Frame) -> Result<Option<CipReply>, DecodeError> {
    let Body::SendData(s) = &frame.body else {
        return Ok(None);
    };
    let Some(bytes) = s.cip_bytes() else {
        return Ok(None);
    };
    match CipMessage::decode(&mut Cursor::framed(bytes))? {
        CipMessage::Reply(r) => Ok(Some(r)),
        CipMessage::Request(_) => Ok(None),
    }
}

/// The CIP request a SendRRData / SendUnitData frame carries, if any.
pub fn cip_request(frame: &Frame) -> Result<Option<CipRequest>, DecodeError> {
    let Body::SendData(s) = &frame.body else {
        return Ok(None);
    };
    let Some(bytes) = s.cip_bytes() else {
        return Ok(None);
    };
    match CipMessage::decode(&mut Cursor::framed(bytes))? {
        CipMessage::Request(r) => Ok(Some(r)),
        CipMessage::Reply(_) => Ok(None),
    }
}

/// True when `req` is Get_Attributes_All to the Identity object (class 1), directly or
/// inside an Unconnected Send.
pub fn is_identity_get_attributes_all(req: &CipRequest) -> bool {
    let t = req.target();
    if req.service == service::GET_ATTRIBUTES_ALL && t.class == Some(class::IDENTITY) {
        return true;
    }
    if req.service == service::UNCONNECTED_SEND && t.class == Some(class::CONNECTION_MANAGER) {
        if let Ok(inner) = unconnected_send_inner(&req.data) {
            return inner.service == service::GET_ATTRIBUTES_ALL
                && inner.target().class == Some(class::IDENTITY);
        }
    }
    false
}

/// The embedded request of an Unconnected Send's data (Vol. 1 3-5.5.2).
pub fn unconnected_send_inner(data: &[u8]) -> Result<CipRequest, DecodeError> {
    let mut c = Cursor::framed(data);
    c.skip(2, "cip.unconnected_send.timing")?;
    // Untrusted size: a u16, checked against the data by `sub`.
    let size = usize::from(c.u16_le("cip.unconnected_send.message_size")?);
    let mut m = c.sub(size, "cip.unconnected_send.message")?;
    CipRequest::decode(&mut m)
}

/// An Unconnected Send's data (Vol. 1 3-5.5.2): the embedded request and the route path
/// (port segments, raw; empty when the target is the receiving device itself).
pub fn unconnected_send(data: &[u8]) -> Result<(CipRequest, Vec<u8>), DecodeError> {
    let mut c = Cursor::framed(data);
    c.skip(2, "cip.unconnected_send.timing")?;
    // Untrusted size: a u16, checked against the data by `sub`.
    let size = usize::from(c.u16_le("cip.unconnected_send.message_size")?);
    let mut m = c.sub(size, "cip.unconnected_send.message")?;
    let inner = CipRequest::decode(&mut m)?;
    if size % 2 == 1 {
        // A pad byte keeps the route path on a word boundary.
        c.skip(1, "cip.unconnected_send.pad")?;
    }
    if c.is_empty() {
        // Some tools omit the route path of a local target altogether.
        return Ok((inner, Vec::new()));
    }
    // Untrusted size in 16-bit words: a u8 (at most 510 bytes), checked by `bytes`.
    let words = usize::from(c.u8("cip.unconnected_send.route_path_size")?);
    c.skip(1, "cip.unconnected_send.reserved")?;
    let route = c
        .bytes(words * 2, "cip.unconnected_send.route_path")?
        .to_vec();
    Ok((inner, route))
}

/// A route path as text: port segments as `port/link` joined by `,` after `cip:`
/// (`cip:1/0` is port 1, the backplane, slot 0; an extended link address such as an IP
/// address is shown as text), anything else as hex (`cip:0x...`). Vol. 1 C-1.4.1: a port
/// segment is `0000 eppp` with `e` an extended link address, `ppp` the port (15: a
/// 16-bit port follows).
pub fn route_path_text(path: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut c = Cursor::framed(path);
    let ok = (|| -> Result<(), DecodeError> {
        while let Some(seg) = c.peek_u8() {
            if seg & 0xE0 != 0 {
                return Err(DecodeError::Invalid {
                    field: "cip.route.segment",
                    value: u64::from(seg),
                    reason: "not a port segment",
                });
            }
            c.u8("cip.route.segment")?;
            let extended = seg & 0x10 != 0;
            let link_len = if extended {
                usize::from(c.u8("cip.route.link_size")?)
            } else {
                0
            };
            let port = match seg & 0x0F {
                0x0F => c.u16_le("cip.route.port")?,
                p => u16::from(p),
            };
            if extended {
                // Untrusted size: a u8, checked by `bytes`; padded to a word boundary.
                let link = c.bytes(link_len, "cip.route.link")?;
                let text: String = link
                    .iter()
                    .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
                    .collect();
                parts.push(format!("{port}/{text}"));
                let used = 2 + link_len + if seg & 0x0F == 0x0F { 2 } else { 0 };
                if used % 2 == 1 {
                    c.skip(1, "cip.route.pad")?;
                }
            } else {
                // One link byte: the segment is 2 (or, with a 16-bit port, 4) bytes.
                let link = c.u8("cip.route.link")?;
                parts.push(format!("{port}/{link}"));
            }
        }
        Ok(())
    })();
    if ok.is_ok() && !parts.is_empty() {
        format!("cip:{}", parts.join(","))
    } else {
        let hex: String = path.iter().map(|b| format!("{b:02x}")).collect();
        format!("cip:0x{hex}")
    }
}

/// The embedded requests or replies of a Multiple Service Packet's data (Vol. 1 ):
/// a count, offsets from the start of the count, then the messages.
pub fn multiple_service_parts(data: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    let mut c = Cursor::framed(data);
    let count = usize::from(c.u16_le("cip.msp.count")?);
    // Untrusted count: each service needs a 2-byte offset at least; cap for bounded work.
    if count > MAX_MSP_SERVICES {
        return Err(DecodeError::TooLarge {
            field: "cip.msp.count",
            value: count,
            max: MAX_MSP_SERVICES,
        });
    }
    let mut offsets = Vec::with_capacity(count);
    for _ in 0..count {
        offsets.push(usize::from(c.u16_le("cip.msp.offset")?));
    }
    let mut parts = Vec::with_capacity(count);
    for (i, &start) in offsets.iter().enumerate() {
        let end = offsets.get(i + 1).copied().unwrap_or(data.len());
        // Untrusted offsets: each must lie after the offset table, in order, inside the data.
        if start < 2 + 2 * count || end < start || end > data.len() {
            return Err(DecodeError::Invalid {
                field: "cip.msp.offset",
                value: start as u64,
                reason: "offset outside the packet or out of order",
            });
        }
        parts.push(&data[start..end]);
    }
    Ok(parts)
}

/// What an operation does to the device, for the passive side's "who wrote to which PLC".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// List Identity / Services / Interfaces, Nop.
    Discovery,
    /// Register/Unregister Session, Forward_Open/Close: plumbing, no data moves.
    Session,
    /// Reads attributes or tags.
    Read,
    /// Writes attributes, tags or configuration.
    Write,
    /// Changes run state (Reset, Start, Stop).
    Control,
    /// A reply (the request tells what was done).
    Reply,
    /// Something otscout cannot name.
    Unknown,
}

/// One named operation in a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// `enip.list_identity`, `cip.read_tag`, `cip.set_attribute_single`, `enip.command_0x0001`, ...
    pub name: String,
    pub access: Access,
    /// The CIP class addressed, when known.
    pub class: Option<u32>,
    /// The Logix tag addressed, when known.
    pub symbol: Option<String>,
}

/// Names every operation in a frame: the command, or for SendRRData/SendUnitData the CIP
/// services inside (Multiple Service Packet and Unconnected Send are opened up, so a
/// write tucked inside a container is still a write).
pub fn classify(frame: &Frame) -> Vec<Operation> {
    let cmd = frame.header.command;
    let simple = |access| {
        vec![Operation {
            name: match cmd.label() {
                Some(l) => format!("enip.{l}"),
                None => format!("enip.command_{:#06x}", cmd.raw()),
            },
            access,
            class: None,
            symbol: None,
        }]
    };
    match cmd {
        Command::ListIdentity | Command::ListServices | Command::ListInterfaces | Command::Nop => {
            simple(Access::Discovery)
        }
        Command::RegisterSession | Command::UnregisterSession => simple(Access::Session),
        Command::SendRrData | Command::SendUnitData => {
            let Body::SendData(s) = &frame.body else {
                return simple(Access::Unknown);
            };
            let Some(bytes) = s.cip_bytes() else {
                return simple(Access::Unknown);
            };
            let mut out = Vec::new();
            classify_cip(bytes, 0, &mut out);
            out
        }
        _ => simple(Access::Unknown),
    }
}

/// Names the CIP operations in one message's bytes (request or reply).
pub fn classify_cip(bytes: &[u8], depth: usize, out: &mut Vec<Operation>) {
    let msg = match CipMessage::decode(&mut Cursor::framed(bytes)) {
        Ok(m) => m,
        Err(_) => {
            out.push(Operation {
                name: "cip.malformed".into(),
                access: Access::Unknown,
                class: None,
                symbol: None,
            });
            return;
        }
    };
    let req = match msg {
        CipMessage::Reply(r) => {
            out.push(Operation {
                name: format!("cip.reply_{:#04x}", r.service & 0x7F),
                access: Access::Reply,
                class: None,
                symbol: None,
            });
            return;
        }
        CipMessage::Request(r) => r,
    };
    let t = req.target();
    if depth < MAX_NESTING {
        if req.service == service::MULTIPLE_SERVICE_PACKET && t.class == Some(class::MESSAGE_ROUTER)
        {
            if let Ok(parts) = multiple_service_parts(&req.data) {
                for p in parts {
                    classify_cip(p, depth + 1, out);
                }
                return;
            }
        }
        if req.service == service::UNCONNECTED_SEND && t.class == Some(class::CONNECTION_MANAGER) {
            if let Ok(inner) = unconnected_send_inner(&req.data) {
                let mut buf = Vec::with_capacity(inner.encoded_len());
                inner.encode(&mut buf);
                classify_cip(&buf, depth + 1, out);
                return;
            }
        }
    }
    let (name, access) = service_operation(req.service, &t);
    out.push(Operation {
        name,
        access,
        class: t.class,
        symbol: t.symbol.map(|s| String::from_utf8_lossy(&s).into_owned()),
    });
}

/// A CIP request service as an operation: its name under the one naming rule
/// (`cip.<service>`, or `cip.service_0x4c` for a code without a name) and its access. The
/// capture analyzer ([`classify`]) and the Zeek importer (ICSNPP `cip.log`) both name
/// services with it.
pub fn service_operation(code: u8, target: &PathTarget) -> (String, Access) {
    let (name, access) = service_name(code, target);
    let name = match name {
        Some(n) => format!("cip.{n}"),
        None => format!("cip.service_{code:#04x}"),
    };
    (name, access)
}

/// The name and access of a CIP request service; object-specific codes (0x4B and up)
/// depend on the class addressed.
pub fn service_name(code: u8, target: &PathTarget) -> (Option<&'static str>, Access) {
    use Access::*;
    let common = match code {
        0x01 => Some(("get_attributes_all", Read)),
        0x02 => Some(("set_attributes_all", Write)),
        0x03 => Some(("get_attribute_list", Read)),
        0x04 => Some(("set_attribute_list", Write)),
        0x05 => Some(("reset", Control)),
        0x06 => Some(("start", Control)),
        0x07 => Some(("stop", Control)),
        0x08 => Some(("create", Write)),
        0x09 => Some(("delete", Write)),
        0x0A => Some(("multiple_service_packet", Unknown)),
        0x0D => Some(("apply_attributes", Write)),
        0x0E => Some(("get_attribute_single", Read)),
        0x10 => Some(("set_attribute_single", Write)),
        0x11 => Some(("find_next_object_instance", Read)),
        0x15 => Some(("restore", Write)),
        0x16 => Some(("save", Write)),
        0x17 => Some(("nop", Session)),
        0x18 => Some(("get_member", Read)),
        0x19 => Some(("set_member", Write)),
        0x1A => Some(("insert_member", Write)),
        0x1B => Some(("remove_member", Write)),
        _ => None,
    };
    if let Some((n, a)) = common {
        return (Some(n), a);
    }
    if target.class == Some(class::CONNECTION_MANAGER) {
        return match code {
            0x4E => (Some("forward_close"), Session),
            0x52 => (Some("unconnected_send"), Unknown),
            0x54 => (Some("forward_open"), Session),
            0x5B => (Some("large_forward_open"), Session),
            0x56 => (Some("get_connection_data"), Read),
            0x57 => (Some("search_connection_data"), Read),
            0x5A => (Some("get_connection_owner"), Read),
            _ => (None, Unknown),
        };
    }
    // Object-specific codes elsewhere are taken as Rockwell's Logix tag services
    // (1756-PM020), which dominate EtherNet/IP installs: on a symbolic path, on the
    // symbol/template classes (0x6B, 0x6C, 0xAC) and on instance-addressed classes such as
    // 0x72 (nDPI_ethernetIP.pcap). Erring this way reports a write rather than hide one.
    match code {
        0x4C => (Some("read_tag"), Read),
        0x4D => (Some("write_tag"), Write),
        // Read-Modify-Write: OR/AND masks applied to the tag, a write.
        0x4E => (Some("read_modify_write_tag"), Write),
        0x52 => (Some("read_tag_fragmented"), Read),
        0x53 => (Some("write_tag_fragmented"), Write),
        0x55 => (Some("get_instance_attribute_list"), Read),
        _ => (None, Unknown),
    }
}

/// A class-1 implicit I/O datagram (UDP 2222, Vol. 2 3-2): a CPF with a sequenced
/// address item (connection id, sequence number) and a connected data item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoPacket {
    pub connection_id: u32,
    pub sequence: u32,
    /// The connected data item's bytes (class-1 sequence count first).
    pub data: Vec<u8>,
}

impl IoPacket {
    /// Recognises an I/O datagram; an error means "not class-0/1 I/O".
    pub fn decode(datagram: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::framed(datagram);
        let cpf = Cpf::decode(&mut c)?;
        if !c.is_empty() {
            return Err(DecodeError::Trailing {
                field: "cip_io.cpf",
                extra: c.remaining(),
            });
        }
        let addr = cpf
            .find(ItemType::SequencedAddress)
            .ok_or(DecodeError::Invalid {
                field: "cip_io.address_item",
                value: 0,
                reason: "no sequenced address item (0x8002)",
            })?;
        let mut a = Cursor::framed(&addr.data);
        let connection_id = a.u32_le("cip_io.connection_id")?;
        let sequence = a.u32_le("cip_io.sequence")?;
        let data = cpf
            .find(ItemType::ConnectedData)
            .map(|i| i.data.clone())
            .ok_or(DecodeError::Invalid {
                field: "cip_io.data_item",
                value: 0,
                reason: "no connected data item (0x00b1)",
            })?;
        Ok(IoPacket {
            connection_id,
            sequence,
            data,
        })
    }
}

fn encode_short_string(s: &[u8], out: &mut Vec<u8>) {
    let s = &s[..s.len().min(255)];
    out.push(u8::try_from(s.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(s);
}

fn decode_short_string(
    c: &mut Cursor,
    field: &'static str,
    anomalies: &mut Vec<Anomaly>,
) -> Result<Vec<u8>, DecodeError> {
    // Untrusted length: a u8, checked against the item by `bytes`.
    let n = usize::from(c.u8(field)?);
    let s = c.bytes(n, field)?.to_vec();
    if n > PRODUCT_NAME_SPEC_MAX {
        anomalies.push(Anomaly {
            field,
            what: format!("{n} characters, the spec allows {PRODUCT_NAME_SPEC_MAX}"),
        });
    }
    Ok(s)
}

/// Lengths otscout writes come from values it decoded or built; saturate rather than wrap.
fn len_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The identity item of enip_test.pcap frame 7 (a 1756-ENBT/A at 10.1.1.164, List
    /// Identity reply over TCP; decoded with tshark 4.0.17, see the captures' INDEX.md).
    const ENBT_ITEM: [u8; 45] = [
        0x01, 0x00, // encapsulation version 1
        0x00, 0x02, 0xaf, 0x12, // sin_family 2, sin_port 44818 (big-endian)
        0x0a, 0x01, 0x01, 0xa4, // sin_addr 10.1.1.164
        0, 0, 0, 0, 0, 0, 0, 0, // sin_zero
        0x01, 0x00, 0x0c, 0x00, 0x3a, 0x00, // vendor 1, device type 12, product code 58
        0x04, 0x03, 0x30, 0x00, // revision 4.3, status 0x0030
        0x8e, 0x4d, 0x52, 0x00, // serial 0x00524d8e
        0x0b, b'1', b'7', b'5', b'6', b'-', b'E', b'N', b'B', b'T', b'/', b'A', // name
        0x03, // state 3
    ];

    #[test]
    fn identity_item_holds_the_cip_identity_that_follows_the_socket_address() {
        let mut anomalies = Vec::new();
        let item = IdentityItem::decode(&mut Cursor::framed(&ENBT_ITEM), &mut anomalies).unwrap();
        assert!(anomalies.is_empty(), "{anomalies:?}");
        // Vol. 2 2-4.3.2: after the 18 bytes of version and socket address, the item is the
        // Identity object's attributes 1-8 as Get_Attributes_All sends them.
        let cip = CipIdentity::decode(&mut Cursor::framed(&ENBT_ITEM[18..]), &mut Vec::new());
        assert_eq!(cip.as_ref(), Ok(&item.identity));
        assert_eq!(item.identity.product_name, b"1756-ENBT/A");
        assert_eq!(
            (item.identity.vendor_id, item.identity.serial),
            (1, 0x0052_4d8e)
        );
        assert_eq!(item.state(), Some(3));
        assert!(item.after_state().is_empty());
        assert_eq!(item.socket_addr().to_string(), "10.1.1.164:44818");
        let mut out = Vec::new();
        item.encode(&mut out);
        assert_eq!(out, ENBT_ITEM);
        assert_eq!(item.encoded_len(), ENBT_ITEM.len());
    }

    #[test]
    fn identity_item_errors_still_name_the_item_fields() {
        // Cut inside the serial: the item's names, not the CIP reply's.
        let e = IdentityItem::decode(&mut Cursor::framed(&ENBT_ITEM[..30]), &mut Vec::new());
        assert!(matches!(
            e,
            Err(DecodeError::Truncated {
                field: "enip.identity.serial",
                ..
            })
        ));
        let e = CipIdentity::decode(&mut Cursor::framed(&ENBT_ITEM[18..30]), &mut Vec::new());
        assert!(matches!(
            e,
            Err(DecodeError::Truncated {
                field: "cip.identity.serial",
                ..
            })
        ));
    }

    #[test]
    fn identity_item_keeps_bytes_after_the_state_byte() {
        let mut bytes = ENBT_ITEM.to_vec();
        bytes.extend([0xAA, 0xBB]);
        let mut anomalies = Vec::new();
        let item = IdentityItem::decode(&mut Cursor::framed(&bytes), &mut anomalies).unwrap();
        assert_eq!(item.state(), Some(3));
        assert_eq!(item.after_state(), [0xAA, 0xBB]);
        assert_eq!(anomalies.len(), 1);
        assert_eq!(anomalies[0].what, "2 bytes after the state byte");
        let mut out = Vec::new();
        item.encode(&mut out);
        assert_eq!(out, bytes);
    }
}
