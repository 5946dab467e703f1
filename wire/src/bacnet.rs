//! BACnet/IP: the BVLC header (Annex J), the NPDU (clause 6) and the APDU (clause 20) with
//! the services otscout reads and the ones it must recognise as writes and control.
//!
//! This module never does I/O, never reads a clock and never prints. It follows ANSI/ASHRAE
//! Standard 135 (BACnet): J.2 for the BVLL, 6.2 for the NPDU, 20.1 for the APDU headers,
//! 20.2 for the tag encoding, 15.5 ReadProperty, 15.7 ReadPropertyMultiple, 16.10
//! Who-Is/I-Am, 18 for Error, Reject and Abort, 12.11 for the Device object's properties.
//!
//! # Untrusted input
//! Every byte may come from a broken or hostile device, or a corrupt capture. The BVLC
//! length is checked against [`MAX_BVLC_LEN`] before anything is framed; every tag length,
//! network address length and value count is checked against the bytes actually present
//! (the [`Cursor`] refuses to read past its frame) and against a documented cap before
//! anything is allocated; constructed values nest at most [`MAX_DEPTH`] deep; nothing here
//! panics whatever the input (`wire/tests/never_panic.rs` and the `fuzz/fuzz_targets/
//! bacnet_*.rs` targets hold it to that). Decoding is lenient where real devices deviate:
//! a character string in an unknown character set keeps its raw bytes.
//!
//! # Shape
//! A datagram is a [`Bvll`] (function, and the NPDU it carries); the NPDU is an [`Npdu`]
//! (routing: [`NetAddr`] of the destination and source, and the APDU bytes); the APDU is
//! an [`Apdu`] whose service data is decoded by the service types ([`ReadPropertyRequest`],
//! [`ReadPropertyAck`], [`RpmRequest`], [`RpmAck`], [`WhoIs`], [`IAm`]). BACnet over
//! Ethernet (ISO 8802-2 LLC, clause 7) carries the same NPDU: [`llc_npdu`] finds it.
//!
//! BACnet is big-endian throughout (20.2: "most significant octet first").

use super::{Anomaly, Cursor, DecodeError};

/// The BACnet/IP UDP port (J.1: X'BAC0').
pub const PORT: u16 = 47808;

/// BVLC type of BACnet/IP (J.2: X'81').
pub const BVLC_TYPE_BIP: u8 = 0x81;

/// Bytes of the BVLC header: type, function, length.
pub const BVLC_HEADER_LEN: usize = 4;

/// Largest NPDU over B/IP (J.2: "1497 octets").
pub const MAX_NPDU_LEN: usize = 1497;

/// Largest BVLC length accepted: a Forwarded-NPDU (10-byte header with the originating
/// B/IP address) around the largest NPDU. A larger value is not BACnet/IP.
pub const MAX_BVLC_LEN: usize = 10 + MAX_NPDU_LEN;

/// Deepest nesting of constructed values (opening/closing tags) a decoder follows; the
/// identity properties are primitive, so anything deeper is skipped as raw bytes or refused.
pub const MAX_DEPTH: usize = 8;

/// Most values one property answer may hold (a ReadProperty-ACK of an array or list). The
/// identity properties hold one each; a frame of [`MAX_NPDU_LEN`] bytes can hold at most
/// 1497 one-byte values, so the cap only bounds memory, never a real answer.
pub const MAX_VALUES: usize = 1497;

/// The Device object type (12.11; `BACnetObjectType` value 8).
pub const OBJECT_DEVICE: u16 = 8;

/// The wildcard device instance (15.5.1.1.1: "the instance 4194303 ... shall be
/// interpreted as the local Device object"); also the largest instance (22 bits).
pub const WILDCARD_INSTANCE: u32 = 0x3F_FFFF;

/// Property identifiers otscout reads or recognises (`BACnetPropertyIdentifier`, 21).
pub mod property {
    pub const APPLICATION_SOFTWARE_VERSION: u32 = 12;
    pub const DESCRIPTION: u32 = 28;
    pub const FIRMWARE_REVISION: u32 = 44;
    pub const LOCATION: u32 = 58;
    pub const MAX_APDU_LENGTH_ACCEPTED: u32 = 62;
    pub const MODEL_NAME: u32 = 70;
    pub const OBJECT_IDENTIFIER: u32 = 75;
    pub const OBJECT_NAME: u32 = 77;
    pub const PROTOCOL_VERSION: u32 = 98;
    pub const SEGMENTATION_SUPPORTED: u32 = 107;
    pub const VENDOR_IDENTIFIER: u32 = 120;
    pub const VENDOR_NAME: u32 = 121;

    /// The identity properties of the Device object otscout asks for, in the order it asks.
    pub const IDENTITY: [u32; 9] = [
        OBJECT_IDENTIFIER,
        OBJECT_NAME,
        VENDOR_NAME,
        VENDOR_IDENTIFIER,
        MODEL_NAME,
        FIRMWARE_REVISION,
        APPLICATION_SOFTWARE_VERSION,
        DESCRIPTION,
        LOCATION,
    ];

    /// The standard name of a property (21), for logs and findings.
    pub fn name(id: u32) -> &'static str {
        match id {
            APPLICATION_SOFTWARE_VERSION => "application-software-version",
            DESCRIPTION => "description",
            FIRMWARE_REVISION => "firmware-revision",
            LOCATION => "location",
            MAX_APDU_LENGTH_ACCEPTED => "max-apdu-length-accepted",
            MODEL_NAME => "model-name",
            OBJECT_IDENTIFIER => "object-identifier",
            OBJECT_NAME => "object-name",
            PROTOCOL_VERSION => "protocol-version",
            SEGMENTATION_SUPPORTED => "segmentation-supported",
            VENDOR_IDENTIFIER => "vendor-identifier",
            VENDOR_NAME => "vendor-name",
            _ => "other",
        }
    }
}

/// Length of the BVLC frame at the start of `buf`, for framing (a UDP datagram is one
/// frame; the passive side uses this to check it).
///
/// Follows the crate's framing contract: `Ok(Some(n))` only when `n` whole bytes are
/// present, `Ok(None)` when more are needed, an error when the bytes cannot start a
/// BACnet/IP frame (a type other than 0x81, a length below 4 or above [`MAX_BVLC_LEN`]).
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let Some(&ty) = buf.first() else {
        return Ok(None);
    };
    if ty != BVLC_TYPE_BIP {
        return Err(DecodeError::Invalid {
            field: "bacnet.bvlc.type",
            value: u64::from(ty),
            reason: "not 0x81 (bacnet/ip)",
        });
    }
    let Some(len_bytes) = buf.get(2..BVLC_HEADER_LEN) else {
        return Ok(None);
    };
    let length = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
    check_bvlc_length(length)?;
    Ok((buf.len() >= length).then_some(length))
}

fn check_bvlc_length(length: usize) -> Result<(), DecodeError> {
    // J.2.1: the length counts the whole BVLL frame, header included; it is untrusted and
    // decides how many bytes the frame owns, so it is bounded before anything is framed.
    if length > MAX_BVLC_LEN {
        return Err(DecodeError::TooLarge {
            field: "bacnet.bvlc.length",
            value: length,
            max: MAX_BVLC_LEN,
        });
    }
    if length < BVLC_HEADER_LEN {
        return Err(DecodeError::Invalid {
            field: "bacnet.bvlc.length",
            value: length as u64,
            reason: "must count at least the 4-byte header",
        });
    }
    Ok(())
}

/// A BVLC function (J.2), open: unknown codes round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BvlcFunction {
    /// 0x00 BVLC-Result (a result code follows).
    Result,
    /// 0x01 Write-Broadcast-Distribution-Table: changes a BBMD's table.
    WriteBdt,
    /// 0x02 Read-Broadcast-Distribution-Table.
    ReadBdt,
    /// 0x03 Read-Broadcast-Distribution-Table-Ack.
    ReadBdtAck,
    /// 0x04 Forwarded-NPDU (originating B/IP address, then the NPDU).
    ForwardedNpdu,
    /// 0x05 Register-Foreign-Device (time-to-live): enters the sender in a BBMD's table.
    RegisterForeignDevice,
    /// 0x06 Read-Foreign-Device-Table.
    ReadFdt,
    /// 0x07 Read-Foreign-Device-Table-Ack.
    ReadFdtAck,
    /// 0x08 Delete-Foreign-Device-Table-Entry.
    DeleteFdtEntry,
    /// 0x09 Distribute-Broadcast-To-Network: asks a BBMD to broadcast an NPDU.
    DistributeBroadcast,
    /// 0x0A Original-Unicast-NPDU: the only function otscout sends.
    OriginalUnicast,
    /// 0x0B Original-Broadcast-NPDU.
    OriginalBroadcast,
    /// 0x0C Secure-BVLL.
    SecureBvll,
    /// Any other byte.
    Unknown(u8),
}

impl BvlcFunction {
    pub fn from_u8(b: u8) -> Self {
        use BvlcFunction::*;
        match b {
            0x00 => Result,
            0x01 => WriteBdt,
            0x02 => ReadBdt,
            0x03 => ReadBdtAck,
            0x04 => ForwardedNpdu,
            0x05 => RegisterForeignDevice,
            0x06 => ReadFdt,
            0x07 => ReadFdtAck,
            0x08 => DeleteFdtEntry,
            0x09 => DistributeBroadcast,
            0x0A => OriginalUnicast,
            0x0B => OriginalBroadcast,
            0x0C => SecureBvll,
            other => Unknown(other),
        }
    }

    pub fn code(self) -> u8 {
        use BvlcFunction::*;
        match self {
            Result => 0x00,
            WriteBdt => 0x01,
            ReadBdt => 0x02,
            ReadBdtAck => 0x03,
            ForwardedNpdu => 0x04,
            RegisterForeignDevice => 0x05,
            ReadFdt => 0x06,
            ReadFdtAck => 0x07,
            DeleteFdtEntry => 0x08,
            DistributeBroadcast => 0x09,
            OriginalUnicast => 0x0A,
            OriginalBroadcast => 0x0B,
            SecureBvll => 0x0C,
            Unknown(b) => b,
        }
    }

    /// A stable snake_case name.
    pub fn name(self) -> &'static str {
        use BvlcFunction::*;
        match self {
            Result => "bvlc_result",
            WriteBdt => "write_broadcast_distribution_table",
            ReadBdt => "read_broadcast_distribution_table",
            ReadBdtAck => "read_broadcast_distribution_table_ack",
            ForwardedNpdu => "forwarded_npdu",
            RegisterForeignDevice => "register_foreign_device",
            ReadFdt => "read_foreign_device_table",
            ReadFdtAck => "read_foreign_device_table_ack",
            DeleteFdtEntry => "delete_foreign_device_table_entry",
            DistributeBroadcast => "distribute_broadcast_to_network",
            OriginalUnicast => "original_unicast_npdu",
            OriginalBroadcast => "original_broadcast_npdu",
            SecureBvll => "secure_bvll",
            Unknown(_) => "unknown",
        }
    }

    /// True for the functions that carry an NPDU.
    pub fn carries_npdu(self) -> bool {
        matches!(
            self,
            BvlcFunction::ForwardedNpdu
                | BvlcFunction::DistributeBroadcast
                | BvlcFunction::OriginalUnicast
                | BvlcFunction::OriginalBroadcast
        )
    }
}

/// One BACnet/IP datagram (J.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bvll {
    pub function: BvlcFunction,
    /// Forwarded-NPDU: the originating device's IPv4 address and port (J.2.9), the
    /// device's real address behind a BBMD.
    pub forwarded_from: Option<([u8; 4], u16)>,
    /// For NPDU-carrying functions the NPDU; for the others the body after the header
    /// (BVLC-Result: its 2-byte result code, see [`Bvll::result_code`]).
    pub payload: Vec<u8>,
}

impl Bvll {
    /// Decodes one frame from `c` (a stream prefix or a framed datagram).
    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        let ty = c.u8("bacnet.bvlc.type")?;
        if ty != BVLC_TYPE_BIP {
            return Err(DecodeError::Invalid {
                field: "bacnet.bvlc.type",
                value: u64::from(ty),
                reason: "not 0x81 (bacnet/ip)",
            });
        }
        let function = BvlcFunction::from_u8(c.u8("bacnet.bvlc.function")?);
        let length = usize::from(c.u16_be("bacnet.bvlc.length")?);
        check_bvlc_length(length)?;
        // Bounded by MAX_BVLC_LEN and at least the 4 header bytes already read.
        let mut body = c.sub(length - BVLC_HEADER_LEN, "bacnet.bvlc.body")?;
        let forwarded_from = if function == BvlcFunction::ForwardedNpdu {
            let ip = body.array::<4>("bacnet.bvlc.forwarded_ip")?;
            let port = body.u16_be("bacnet.bvlc.forwarded_port")?;
            Some((ip, port))
        } else {
            None
        };
        Ok(Bvll {
            function,
            forwarded_from,
            payload: body.rest().to_vec(),
        })
    }

    /// Decodes a UDP datagram that must be exactly one frame.
    pub fn decode_exact(datagram: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::framed(datagram);
        let b = Self::decode(&mut c)?;
        if !c.is_empty() {
            return Err(DecodeError::Trailing {
                field: "bacnet.bvlc",
                extra: c.remaining(),
            });
        }
        Ok(b)
    }

    /// An Original-Unicast-NPDU around `npdu`.
    pub fn unicast(npdu: Vec<u8>) -> Self {
        Bvll {
            function: BvlcFunction::OriginalUnicast,
            forwarded_from: None,
            payload: npdu,
        }
    }

    pub fn encoded_len(&self) -> usize {
        BVLC_HEADER_LEN + self.forwarded_from.map_or(0, |_| 6) + self.payload.len()
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(BVLC_TYPE_BIP);
        out.push(self.function.code());
        // Encoders build frames within MAX_BVLC_LEN; saturate rather than wrap otherwise.
        let len = u16::try_from(self.encoded_len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        if let Some((ip, port)) = self.forwarded_from {
            out.extend_from_slice(&ip);
            out.extend_from_slice(&port.to_be_bytes());
        }
        out.extend_from_slice(&self.payload);
    }

    /// The NPDU, for the functions that carry one.
    pub fn npdu(&self) -> Option<&[u8]> {
        self.function.carries_npdu().then_some(&self.payload[..])
    }

    /// BVLC-Result's result code (J.2.1.1: 0x0000 success, 0x0010 write-BDT NAK, 0x0020
    /// read-BDT NAK, 0x0030 register-foreign-device NAK, ...).
    pub fn result_code(&self) -> Option<u16> {
        match (self.function, self.payload.as_slice()) {
            (BvlcFunction::Result, [a, b]) => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }
}

/// The NPDU inside a BACnet/Ethernet frame's 802.2 LLC payload (clause 7: DSAP 0x82, SSAP
/// 0x82, control 0x03 UI), or `None` when the payload is not BACnet's LLC.
pub fn llc_npdu(llc: &[u8]) -> Option<&[u8]> {
    match llc {
        [0x82, 0x82, 0x03, rest @ ..] => Some(rest),
        _ => None,
    }
}

/// A BACnet network address: network number and MAC (6.2.2). An empty MAC in a
/// destination is a broadcast on that network; network 0xFFFF is the global broadcast.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NetAddr {
    pub network: u16,
    pub mac: Vec<u8>,
}

/// A network-layer message (6.2.4), kept raw beyond its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkMessage {
    pub message_type: u8,
    /// Types 0x80-0xFF carry a vendor id (6.2.2).
    pub vendor_id: Option<u16>,
    pub data: Vec<u8>,
}

/// The NPDU (6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Npdu {
    /// Protocol version; 1 is the only one defined (6.2.1). Others are refused.
    pub control: u8,
    /// DNET, DLEN, DADR when the control's bit 5 is set.
    pub destination: Option<NetAddr>,
    /// SNET, SLEN, SADR when bit 3 is set: the device behind a router.
    pub source: Option<NetAddr>,
    /// Present with a destination.
    pub hop_count: Option<u8>,
    /// Bit 7: a network-layer message instead of an APDU.
    pub network_message: Option<NetworkMessage>,
    /// The APDU (empty for a network-layer message).
    pub apdu: Vec<u8>,
}

/// NPDU control bits (6.2.2).
const NPDU_NETWORK_MESSAGE: u8 = 0x80;
const NPDU_DNET: u8 = 0x20;
const NPDU_SNET: u8 = 0x08;
/// "Expecting reply": set on confirmed requests (6.2.2).
pub const NPDU_EXPECTING_REPLY: u8 = 0x04;

impl Npdu {
    /// A local (unrouted) NPDU carrying `apdu`.
    pub fn local(expecting_reply: bool, apdu: Vec<u8>) -> Self {
        Npdu {
            control: if expecting_reply {
                NPDU_EXPECTING_REPLY
            } else {
                0
            },
            destination: None,
            source: None,
            hop_count: None,
            network_message: None,
            apdu,
        }
    }

    /// True when the sender expects a reply (bit 2).
    pub fn expecting_reply(&self) -> bool {
        self.control & NPDU_EXPECTING_REPLY != 0
    }

    /// Decodes a whole NPDU (the rest of a BVLL frame or an LLC frame).
    pub fn decode(npdu: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::framed(npdu);
        let version = c.u8("bacnet.npdu.version")?;
        if version != 1 {
            return Err(DecodeError::Invalid {
                field: "bacnet.npdu.version",
                value: u64::from(version),
                reason: "only version 1 is defined",
            });
        }
        let control = c.u8("bacnet.npdu.control")?;
        let destination = if control & NPDU_DNET != 0 {
            Some(read_netaddr(
                &mut c,
                "bacnet.npdu.dnet",
                "bacnet.npdu.dadr",
            )?)
        } else {
            None
        };
        let source = if control & NPDU_SNET != 0 {
            let s = read_netaddr(&mut c, "bacnet.npdu.snet", "bacnet.npdu.sadr")?;
            // 6.2.2: "SLEN = 0 Invalid"; a source is always one device.
            if s.mac.is_empty() {
                return Err(DecodeError::Invalid {
                    field: "bacnet.npdu.slen",
                    value: 0,
                    reason: "a source address cannot be a broadcast",
                });
            }
            Some(s)
        } else {
            None
        };
        let hop_count = if destination.is_some() {
            Some(c.u8("bacnet.npdu.hop_count")?)
        } else {
            None
        };
        let network_message = if control & NPDU_NETWORK_MESSAGE != 0 {
            let message_type = c.u8("bacnet.npdu.message_type")?;
            let vendor_id = if message_type >= 0x80 {
                Some(c.u16_be("bacnet.npdu.vendor_id")?)
            } else {
                None
            };
            Some(NetworkMessage {
                message_type,
                vendor_id,
                data: c.rest().to_vec(),
            })
        } else {
            None
        };
        Ok(Npdu {
            control,
            destination,
            source,
            hop_count,
            network_message,
            apdu: c.rest().to_vec(),
        })
    }

    pub fn encoded_len(&self) -> usize {
        let mut v = Vec::new();
        self.encode(&mut v);
        v.len()
    }

    /// Encodes the NPDU. The control byte's DNET/SNET/network-message bits are derived
    /// from the fields, so the bytes always say what the value holds.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(1);
        let mut control = self.control & !(NPDU_DNET | NPDU_SNET | NPDU_NETWORK_MESSAGE);
        if self.destination.is_some() {
            control |= NPDU_DNET;
        }
        if self.source.is_some() {
            control |= NPDU_SNET;
        }
        if self.network_message.is_some() {
            control |= NPDU_NETWORK_MESSAGE;
        }
        out.push(control);
        for a in self.destination.iter().chain(self.source.iter()) {
            out.extend_from_slice(&a.network.to_be_bytes());
            // A MAC is at most 255 bytes when decoded; truncate rather than lie otherwise.
            let n = a.mac.len().min(255);
            out.push(n as u8);
            out.extend_from_slice(&a.mac[..n]);
        }
        if self.destination.is_some() {
            out.push(self.hop_count.unwrap_or(255));
        }
        if let Some(m) = &self.network_message {
            out.push(m.message_type);
            if let Some(v) = m.vendor_id {
                out.extend_from_slice(&v.to_be_bytes());
            }
            out.extend_from_slice(&m.data);
        }
        out.extend_from_slice(&self.apdu);
    }
}

fn read_netaddr(
    c: &mut Cursor,
    net_field: &'static str,
    mac_field: &'static str,
) -> Result<NetAddr, DecodeError> {
    let network = c.u16_be(net_field)?;
    // The length is one byte (at most 255) and checked against the frame by the cursor.
    let len = usize::from(c.u8(mac_field)?);
    let mac = c.bytes(len, mac_field)?.to_vec();
    Ok(NetAddr { network, mac })
}

/// A confirmed service choice (21, `BACnetConfirmedServiceChoice`), open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfirmedService(pub u8);

impl ConfirmedService {
    pub const SUBSCRIBE_COV: Self = Self(5);
    pub const ATOMIC_READ_FILE: Self = Self(6);
    pub const ATOMIC_WRITE_FILE: Self = Self(7);
    pub const CREATE_OBJECT: Self = Self(10);
    pub const DELETE_OBJECT: Self = Self(11);
    pub const READ_PROPERTY: Self = Self(12);
    pub const READ_PROPERTY_MULTIPLE: Self = Self(14);
    pub const WRITE_PROPERTY: Self = Self(15);
    pub const WRITE_PROPERTY_MULTIPLE: Self = Self(16);
    pub const DEVICE_COMMUNICATION_CONTROL: Self = Self(17);
    pub const REINITIALIZE_DEVICE: Self = Self(20);

    /// The stable snake_case name and what the service does to the device.
    pub fn classify(self) -> (&'static str, Access) {
        use Access::*;
        match self.0 {
            0 => ("acknowledge_alarm", Write),
            1 => ("confirmed_cov_notification", Read),
            2 => ("confirmed_event_notification", Read),
            3 => ("get_alarm_summary", Read),
            4 => ("get_enrollment_summary", Read),
            // Creates a subscription in the device (state, but no process value).
            5 => ("subscribe_cov", Write),
            6 => ("atomic_read_file", Read),
            7 => ("atomic_write_file", Write),
            8 => ("add_list_element", Write),
            9 => ("remove_list_element", Write),
            10 => ("create_object", Write),
            11 => ("delete_object", Write),
            12 => ("read_property", Read),
            13 => ("read_property_conditional", Read),
            14 => ("read_property_multiple", Read),
            15 => ("write_property", Write),
            16 => ("write_property_multiple", Write),
            // 16.1: disables or enables the device's communication (with a password).
            17 => ("device_communication_control", Control),
            18 => ("confirmed_private_transfer", Unknown),
            19 => ("confirmed_text_message", Read),
            // 16.4: cold or warm start, backup and restore.
            20 => ("reinitialize_device", Control),
            21 => ("vt_open", Control),
            22 => ("vt_close", Control),
            23 => ("vt_data", Control),
            24 => ("authenticate", Unknown),
            25 => ("request_key", Unknown),
            26 => ("read_range", Read),
            27 => ("life_safety_operation", Control),
            28 => ("subscribe_cov_property", Write),
            29 => ("get_event_information", Read),
            30 => ("subscribe_cov_property_multiple", Write),
            31 => ("confirmed_cov_notification_multiple", Read),
            32 => ("confirmed_audit_notification", Read),
            33 => ("audit_log_query", Read),
            _ => ("unknown", Unknown),
        }
    }
}

/// An unconfirmed service choice (21, `BACnetUnconfirmedServiceChoice`), open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnconfirmedService(pub u8);

impl UnconfirmedService {
    pub const I_AM: Self = Self(0);
    pub const WHO_IS: Self = Self(8);

    /// The stable snake_case name and what the service does to the device.
    pub fn classify(self) -> (&'static str, Access) {
        use Access::*;
        match self.0 {
            0 => ("i_am", Read),
            1 => ("i_have", Read),
            2 => ("unconfirmed_cov_notification", Read),
            3 => ("unconfirmed_event_notification", Read),
            4 => ("unconfirmed_private_transfer", Unknown),
            5 => ("unconfirmed_text_message", Read),
            // Sets the device's clock.
            6 => ("time_synchronization", Write),
            7 => ("who_has", Read),
            8 => ("who_is", Read),
            9 => ("utc_time_synchronization", Write),
            // 16.10.x WriteGroup: writes channel values.
            10 => ("write_group", Write),
            11 => ("unconfirmed_cov_notification_multiple", Read),
            12 => ("unconfirmed_audit_notification", Read),
            13 => ("who_am_i", Read),
            // Assigns a device its instance and MAC.
            14 => ("you_are", Write),
            _ => ("unknown", Unknown),
        }
    }
}

/// What a service does to the device, for "who wrote to which controller".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// Reads data, identity or notifications; changes nothing.
    Read,
    /// Writes properties, files or objects.
    Write,
    /// Changes how the device runs (communication control, reinitialize).
    Control,
    /// Private or unassigned services: treat as possibly state-changing.
    Unknown,
}

/// The max-APDU code of a confirmed request (20.1.2.5): 0 = 50, 1 = 128, 2 = 206,
/// 3 = 480, 4 = 1024, 5 = 1476 bytes; other codes are reserved.
pub fn max_apdu_bytes(code: u8) -> Option<u16> {
    match code {
        0 => Some(50),
        1 => Some(128),
        2 => Some(206),
        3 => Some(480),
        4 => Some(1024),
        5 => Some(1476),
        _ => None,
    }
}

/// APDU header bits (20.1.2).
const APDU_SEG: u8 = 0x08;
const APDU_MOR: u8 = 0x04;
const APDU_SA: u8 = 0x02;

/// A BACnet-Confirmed-Request-PDU (20.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmedRequest {
    /// Segmented message (SEG), more follows (MOR).
    pub segmented: bool,
    pub more_follows: bool,
    /// Segmented response accepted (SA).
    pub segmented_response_accepted: bool,
    /// Max segments accepted (3 bits) and max APDU length accepted (4 bits, code).
    pub max_segments: u8,
    pub max_apdu: u8,
    pub invoke_id: u8,
    /// Sequence number and proposed window size when segmented.
    pub segment: Option<(u8, u8)>,
    pub service: ConfirmedService,
    pub data: Vec<u8>,
}

/// An APDU (20.1), by PDU type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Apdu {
    ConfirmedRequest(ConfirmedRequest),
    Unconfirmed {
        service: UnconfirmedService,
        data: Vec<u8>,
    },
    SimpleAck {
        invoke_id: u8,
        service: ConfirmedService,
    },
    ComplexAck {
        invoke_id: u8,
        /// Sequence number, window size and more-follows when segmented.
        segment: Option<(u8, u8, bool)>,
        service: ConfirmedService,
        data: Vec<u8>,
    },
    SegmentAck {
        invoke_id: u8,
        negative: bool,
        server: bool,
        sequence: u8,
        window: u8,
    },
    /// Error-PDU (20.1.7): the service data holds the error class and code.
    Error {
        invoke_id: u8,
        service: ConfirmedService,
        data: Vec<u8>,
    },
    /// Reject-PDU (20.1.8, reasons in 18.8).
    Reject {
        invoke_id: u8,
        reason: u8,
    },
    /// Abort-PDU (20.1.9, reasons in 18.9); `server` when the server sent it.
    Abort {
        invoke_id: u8,
        server: bool,
        reason: u8,
    },
}

impl Apdu {
    /// Decodes a whole APDU.
    pub fn decode(apdu: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::framed(apdu);
        let first = c.u8("bacnet.apdu.type")?;
        let flags = first & 0x0F;
        Ok(match first >> 4 {
            0 => {
                let b = c.u8("bacnet.apdu.max_segs_apdu")?;
                let invoke_id = c.u8("bacnet.apdu.invoke_id")?;
                let segmented = flags & APDU_SEG != 0;
                let segment = if segmented {
                    Some((
                        c.u8("bacnet.apdu.sequence_number")?,
                        c.u8("bacnet.apdu.window_size")?,
                    ))
                } else {
                    None
                };
                let service = ConfirmedService(c.u8("bacnet.apdu.service")?);
                Apdu::ConfirmedRequest(ConfirmedRequest {
                    segmented,
                    more_follows: flags & APDU_MOR != 0,
                    segmented_response_accepted: flags & APDU_SA != 0,
                    max_segments: (b >> 4) & 0x07,
                    max_apdu: b & 0x0F,
                    invoke_id,
                    segment,
                    service,
                    data: c.rest().to_vec(),
                })
            }
            1 => Apdu::Unconfirmed {
                service: UnconfirmedService(c.u8("bacnet.apdu.service")?),
                data: c.rest().to_vec(),
            },
            2 => Apdu::SimpleAck {
                invoke_id: c.u8("bacnet.apdu.invoke_id")?,
                service: ConfirmedService(c.u8("bacnet.apdu.service")?),
            },
            3 => {
                let invoke_id = c.u8("bacnet.apdu.invoke_id")?;
                let segment = if flags & APDU_SEG != 0 {
                    Some((
                        c.u8("bacnet.apdu.sequence_number")?,
                        c.u8("bacnet.apdu.window_size")?,
                        flags & APDU_MOR != 0,
                    ))
                } else {
                    None
                };
                Apdu::ComplexAck {
                    invoke_id,
                    segment,
                    service: ConfirmedService(c.u8("bacnet.apdu.service")?),
                    data: c.rest().to_vec(),
                }
            }
            4 => Apdu::SegmentAck {
                negative: flags & 0x02 != 0,
                server: flags & 0x01 != 0,
                invoke_id: c.u8("bacnet.apdu.invoke_id")?,
                sequence: c.u8("bacnet.apdu.sequence_number")?,
                window: c.u8("bacnet.apdu.window_size")?,
            },
            5 => Apdu::Error {
                invoke_id: c.u8("bacnet.apdu.invoke_id")?,
                service: ConfirmedService(c.u8("bacnet.apdu.service")?),
                data: c.rest().to_vec(),
            },
            6 => Apdu::Reject {
                invoke_id: c.u8("bacnet.apdu.invoke_id")?,
                reason: c.u8("bacnet.apdu.reject_reason")?,
            },
            7 => Apdu::Abort {
                server: flags & 0x01 != 0,
                invoke_id: c.u8("bacnet.apdu.invoke_id")?,
                reason: c.u8("bacnet.apdu.abort_reason")?,
            },
            t => {
                return Err(DecodeError::Invalid {
                    field: "bacnet.apdu.type",
                    value: u64::from(t),
                    reason: "pdu types 8-15 are reserved",
                });
            }
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Apdu::ConfirmedRequest(r) => {
                let mut first = 0x00;
                if r.segmented {
                    first |= APDU_SEG;
                }
                if r.more_follows {
                    first |= APDU_MOR;
                }
                if r.segmented_response_accepted {
                    first |= APDU_SA;
                }
                out.push(first);
                out.push(((r.max_segments & 0x07) << 4) | (r.max_apdu & 0x0F));
                out.push(r.invoke_id);
                if r.segmented {
                    let (seq, win) = r.segment.unwrap_or((0, 1));
                    out.extend_from_slice(&[seq, win]);
                }
                out.push(r.service.0);
                out.extend_from_slice(&r.data);
            }
            Apdu::Unconfirmed { service, data } => {
                out.extend_from_slice(&[0x10, service.0]);
                out.extend_from_slice(data);
            }
            Apdu::SimpleAck { invoke_id, service } => {
                out.extend_from_slice(&[0x20, *invoke_id, service.0]);
            }
            Apdu::ComplexAck {
                invoke_id,
                segment,
                service,
                data,
            } => {
                match segment {
                    Some((seq, win, more)) => {
                        out.push(0x30 | APDU_SEG | if *more { APDU_MOR } else { 0 });
                        out.extend_from_slice(&[*invoke_id, *seq, *win]);
                    }
                    None => out.extend_from_slice(&[0x30, *invoke_id]),
                }
                out.push(service.0);
                out.extend_from_slice(data);
            }
            Apdu::SegmentAck {
                invoke_id,
                negative,
                server,
                sequence,
                window,
            } => {
                let first = 0x40 | if *negative { 0x02 } else { 0 } | u8::from(*server);
                out.extend_from_slice(&[first, *invoke_id, *sequence, *window]);
            }
            Apdu::Error {
                invoke_id,
                service,
                data,
            } => {
                out.extend_from_slice(&[0x50, *invoke_id, service.0]);
                out.extend_from_slice(data);
            }
            Apdu::Reject { invoke_id, reason } => {
                out.extend_from_slice(&[0x60, *invoke_id, *reason])
            }
            Apdu::Abort {
                invoke_id,
                server,
                reason,
            } => out.extend_from_slice(&[0x70 | u8::from(*server), *invoke_id, *reason]),
        }
    }

    /// The invoke id, for the PDU types that carry one.
    pub fn invoke_id(&self) -> Option<u8> {
        match self {
            Apdu::ConfirmedRequest(r) => Some(r.invoke_id),
            Apdu::Unconfirmed { .. } => None,
            Apdu::SimpleAck { invoke_id, .. }
            | Apdu::ComplexAck { invoke_id, .. }
            | Apdu::SegmentAck { invoke_id, .. }
            | Apdu::Error { invoke_id, .. }
            | Apdu::Reject { invoke_id, .. }
            | Apdu::Abort { invoke_id, .. } => Some(*invoke_id),
        }
    }
}

/// The standard name of a reject reason (18.8), for findings.
pub fn reject_reason_name(r: u8) -> &'static str {
    match r {
        0 => "other",
        1 => "buffer-overflow",
        2 => "inconsistent-parameters",
        3 => "invalid-parameter-data-type",
        4 => "invalid-tag",
        5 => "missing-required-parameter",
        6 => "parameter-out-of-range",
        7 => "too-many-arguments",
        8 => "undefined-enumeration",
        9 => "unrecognized-service",
        _ => "unknown",
    }
}

/// The standard name of an abort reason (18.9), for findings.
pub fn abort_reason_name(r: u8) -> &'static str {
    match r {
        0 => "other",
        1 => "buffer-overflow",
        2 => "invalid-apdu-in-this-state",
        3 => "preempted-by-higher-priority-task",
        4 => "segmentation-not-supported",
        5 => "security-error",
        6 => "insufficient-security",
        7 => "window-size-out-of-range",
        8 => "application-exceeded-reply-time",
        9 => "out-of-resources",
        10 => "tsm-timeout",
        11 => "apdu-too-long",
        _ => "unknown",
    }
}

/// The standard name of an error class (18.1-18.7), for findings.
pub fn error_class_name(c: u32) -> &'static str {
    match c {
        0 => "device",
        1 => "object",
        2 => "property",
        3 => "resources",
        4 => "security",
        5 => "services",
        6 => "vt",
        7 => "communication",
        _ => "unknown",
    }
}

/// The standard name of the error codes otscout meets (18, `BACnetErrorCode`).
pub fn error_code_name(c: u32) -> &'static str {
    match c {
        0 => "other",
        2 => "configuration-in-progress",
        3 => "device-busy",
        9 => "invalid-data-type",
        25 => "operational-problem",
        27 => "read-access-denied",
        31 => "unknown-object",
        32 => "unknown-property",
        42 => "invalid-array-index",
        45 => "optional-functionality-not-supported",
        50 => "property-is-not-an-array",
        53 => "service-request-denied",
        _ => "unknown",
    }
}

/// Error class 1 (object), code 31 (unknown-object): what bacpypes3 0.0.110 answers to the
/// wildcard instance.
pub const ERROR_CLASS_OBJECT: u32 = 1;
pub const ERROR_UNKNOWN_OBJECT: u32 = 31;

/// A tag's class (20.2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagClass {
    Application,
    Context,
}

/// A tag's length/value/type field, interpreted (20.2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagLen {
    /// A primitive value of this many bytes (or, for an application boolean, the value).
    Length(u32),
    /// A context opening tag (LVT 6).
    Opening,
    /// A context closing tag (LVT 7).
    Closing,
}

/// A decoded tag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    pub number: u8,
    pub class: TagClass,
    pub len: TagLen,
}

impl Tag {
    /// Reads a tag header (20.2.1): tag number (extended when 15), class, and the length
    /// (extended when 5: one byte, or 254 + two bytes, or 255 + four bytes).
    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        let b = c.u8("bacnet.tag")?;
        let class = if b & 0x08 != 0 {
            TagClass::Context
        } else {
            TagClass::Application
        };
        let mut number = b >> 4;
        if number == 0x0F {
            number = c.u8("bacnet.tag.extended_number")?;
        }
        let lvt = b & 0x07;
        let len = match (class, lvt) {
            (TagClass::Context, 6) => TagLen::Opening,
            (TagClass::Context, 7) => TagLen::Closing,
            (_, 5) => {
                let l = c.u8("bacnet.tag.extended_length")?;
                TagLen::Length(match l {
                    254 => u32::from(c.u16_be("bacnet.tag.extended_length16")?),
                    255 => c.u32_be("bacnet.tag.extended_length32")?,
                    l => u32::from(l),
                })
            }
            (_, l) => TagLen::Length(u32::from(l)),
        };
        Ok(Tag { number, class, len })
    }

    /// Reads the tag's content bytes; the length is untrusted and the cursor refuses any
    /// length past the frame, so nothing is allocated from it unchecked.
    fn content<'a>(
        &self,
        c: &mut Cursor<'a>,
        field: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        match self.len {
            TagLen::Length(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if n > c.remaining() {
                    return Err(DecodeError::Truncated {
                        field,
                        needed: n - c.remaining(),
                    });
                }
                c.bytes(n, field)
            }
            _ => Err(DecodeError::Invalid {
                field,
                value: u64::from(self.number),
                reason: "expected a primitive value, found an opening or closing tag",
            }),
        }
    }

    fn is_context(&self, n: u8) -> bool {
        self.class == TagClass::Context && self.number == n
    }
}

fn write_tag(out: &mut Vec<u8>, number: u8, context: bool, len: usize) {
    let class = if context { 0x08 } else { 0x00 };
    let (num_bits, ext_num) = if number < 15 {
        (number << 4, None)
    } else {
        (0xF0, Some(number))
    };
    if len < 5 {
        out.push(num_bits | class | len as u8);
        out.extend(ext_num);
    } else {
        out.push(num_bits | class | 5);
        out.extend(ext_num);
        if len < 254 {
            out.push(len as u8);
        } else if len <= usize::from(u16::MAX) {
            out.push(254);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(255);
            out.extend_from_slice(&(u32::try_from(len).unwrap_or(u32::MAX)).to_be_bytes());
        }
    }
}

fn write_opening(out: &mut Vec<u8>, number: u8) {
    out.push((number << 4) | 0x0E);
}

fn write_closing(out: &mut Vec<u8>, number: u8) {
    out.push((number << 4) | 0x0F);
}

/// The minimal big-endian bytes of an unsigned (20.2.4: "shall be encoded in the smallest
/// number of octets").
fn unsigned_bytes(v: u64) -> Vec<u8> {
    let b = v.to_be_bytes();
    let skip = b.iter().take(7).take_while(|x| **x == 0).count();
    b[skip..].to_vec()
}

fn write_unsigned(out: &mut Vec<u8>, number: u8, context: bool, v: u64) {
    let b = unsigned_bytes(v);
    write_tag(out, number, context, b.len());
    out.extend_from_slice(&b);
}

fn read_unsigned(bytes: &[u8], field: &'static str) -> Result<u64, DecodeError> {
    // 20.2.4: an unsigned takes 1 to 8 bytes here (a u64 holds every one we meet).
    if bytes.is_empty() || bytes.len() > 8 {
        return Err(DecodeError::Invalid {
            field,
            value: bytes.len() as u64,
            reason: "an unsigned takes 1 to 8 bytes",
        });
    }
    Ok(bytes.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)))
}

fn read_u32(bytes: &[u8], field: &'static str) -> Result<u32, DecodeError> {
    let v = read_unsigned(bytes, field)?;
    u32::try_from(v).map_err(|_| DecodeError::Invalid {
        field,
        value: v,
        reason: "above 32 bits",
    })
}

/// A BACnetObjectIdentifier (20.2.14): 10-bit type, 22-bit instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId {
    pub object_type: u16,
    pub instance: u32,
}

impl ObjectId {
    /// The Device object with `instance` (the wildcard is [`WILDCARD_INSTANCE`]).
    pub fn device(instance: u32) -> Self {
        ObjectId {
            object_type: OBJECT_DEVICE,
            instance: instance & WILDCARD_INSTANCE,
        }
    }

    pub fn from_u32(v: u32) -> Self {
        ObjectId {
            object_type: (v >> 22) as u16,
            instance: v & WILDCARD_INSTANCE,
        }
    }

    pub fn to_u32(self) -> u32 {
        (u32::from(self.object_type & 0x3FF) << 22) | (self.instance & WILDCARD_INSTANCE)
    }

    fn from_bytes(bytes: &[u8], field: &'static str) -> Result<Self, DecodeError> {
        match bytes {
            [a, b, c, d] => Ok(Self::from_u32(u32::from_be_bytes([*a, *b, *c, *d]))),
            _ => Err(DecodeError::Invalid {
                field,
                value: bytes.len() as u64,
                reason: "an object identifier takes 4 bytes",
            }),
        }
    }
}

/// A character string (20.2.9): the character-set byte and the raw bytes after it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CharString {
    /// 0 UTF-8 (formerly ANSI X3.4), 1 IBM/Microsoft DBCS, 2 JIS X 0208, 3 UCS-4,
    /// 4 UCS-2, 5 ISO 8859-1 (21, `BACnetCharacterSet`).
    pub charset: u8,
    pub raw: Vec<u8>,
}

impl CharString {
    /// The text, and an anomaly when it could not be decoded exactly (invalid bytes
    /// replaced, or a character set otscout does not decode: then the bytes are shown as
    /// Latin-1 and the anomaly says so).
    pub fn to_text(&self) -> (String, Option<Anomaly>) {
        let odd = |what: String| {
            Some(Anomaly {
                field: "bacnet.character_string",
                what,
            })
        };
        match self.charset {
            0 => match std::str::from_utf8(&self.raw) {
                Ok(s) => (s.to_string(), None),
                Err(_) => (
                    String::from_utf8_lossy(&self.raw).into_owned(),
                    odd("invalid utf-8 replaced".into()),
                ),
            },
            // UCS-2 is big-endian, two bytes a character (the JCI NAE in bacnet_test.pcap).
            4 => {
                let units: Vec<u16> = self
                    .raw
                    .chunks_exact(2)
                    .map(|p| u16::from_be_bytes([p[0], p[1]]))
                    .collect();
                let s = String::from_utf16_lossy(&units);
                let bad = self.raw.len() % 2 != 0 || s.contains('\u{FFFD}');
                (
                    s,
                    if bad {
                        odd("invalid ucs-2 replaced".into())
                    } else {
                        None
                    },
                )
            }
            3 => {
                let mut bad = self.raw.len() % 4 != 0;
                let s =
                    self.raw
                        .chunks_exact(4)
                        .map(|p| {
                            char::from_u32(u32::from_be_bytes([p[0], p[1], p[2], p[3]]))
                                .unwrap_or_else(|| {
                                    bad = true;
                                    '\u{FFFD}'
                                })
                        })
                        .collect();
                (
                    s,
                    if bad {
                        odd("invalid ucs-4 replaced".into())
                    } else {
                        None
                    },
                )
            }
            5 => (self.raw.iter().map(|b| char::from(*b)).collect(), None),
            other => (
                self.raw.iter().map(|b| char::from(*b)).collect(),
                odd(format!("character set {other} shown as latin-1")),
            ),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        write_tag(out, 7, false, self.raw.len() + 1);
        out.push(self.charset);
        out.extend_from_slice(&self.raw);
    }
}

/// An application-tagged value (20.2), as far as identity needs it: the rest stays raw.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Boolean(bool),
    Unsigned(u64),
    Signed(i64),
    Real(f32),
    Double(f64),
    OctetString(Vec<u8>),
    CharacterString(CharString),
    BitString(Vec<u8>),
    Enumerated(u32),
    Date([u8; 4]),
    Time([u8; 4]),
    ObjectId(ObjectId),
    /// A constructed value or an application tag 13-15, kept as its bytes (tags included).
    Other(Vec<u8>),
}

impl Value {
    /// Decodes one value at `c`: an application-tagged primitive, or (inside a property's
    /// value brackets) a context-tagged constructed value kept raw.
    pub fn decode(c: &mut Cursor) -> Result<Self, DecodeError> {
        let start = c.clone();
        let tag = Tag::decode(c)?;
        if tag.class == TagClass::Context {
            // A constructed value or a context-tagged primitive: skip it whole, keep bytes.
            skip_after_tag(c, tag, 0)?;
            let n = c.position() - start.position();
            let mut s = start;
            return Ok(Value::Other(s.bytes(n, "bacnet.value")?.to_vec()));
        }
        if tag.number == 1 {
            // 20.2.3: an application boolean's value is its length field.
            return match tag.len {
                TagLen::Length(v @ (0 | 1)) => Ok(Value::Boolean(v == 1)),
                TagLen::Length(v) => Err(DecodeError::Invalid {
                    field: "bacnet.value.boolean",
                    value: u64::from(v),
                    reason: "a boolean is 0 or 1",
                }),
                _ => unreachable_tag(),
            };
        }
        let bytes = tag.content(c, "bacnet.value")?;
        let fixed = |n: usize, field: &'static str| -> Result<(), DecodeError> {
            if bytes.len() == n {
                Ok(())
            } else {
                Err(DecodeError::Invalid {
                    field,
                    value: bytes.len() as u64,
                    reason: "wrong length for the type",
                })
            }
        };
        Ok(match tag.number {
            0 => Value::Null,
            2 => Value::Unsigned(read_unsigned(bytes, "bacnet.value.unsigned")?),
            3 => {
                if bytes.is_empty() || bytes.len() > 8 {
                    return Err(DecodeError::Invalid {
                        field: "bacnet.value.signed",
                        value: bytes.len() as u64,
                        reason: "a signed takes 1 to 8 bytes",
                    });
                }
                // Sign-extend from the first byte (20.2.5, two's complement).
                let init: i64 = if bytes[0] & 0x80 != 0 { -1 } else { 0 };
                Value::Signed(bytes.iter().fold(init, |a, b| (a << 8) | i64::from(*b)))
            }
            4 => {
                fixed(4, "bacnet.value.real")?;
                Value::Real(f32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
            }
            5 => {
                fixed(8, "bacnet.value.double")?;
                let mut a = [0u8; 8];
                a.copy_from_slice(bytes);
                Value::Double(f64::from_be_bytes(a))
            }
            6 => Value::OctetString(bytes.to_vec()),
            7 => match bytes.split_first() {
                Some((set, raw)) => Value::CharacterString(CharString {
                    charset: *set,
                    raw: raw.to_vec(),
                }),
                None => {
                    return Err(DecodeError::Invalid {
                        field: "bacnet.value.character_string",
                        value: 0,
                        reason: "a character string starts with its character set byte",
                    });
                }
            },
            8 => Value::BitString(bytes.to_vec()),
            9 => Value::Enumerated(read_u32(bytes, "bacnet.value.enumerated")?),
            10 => {
                fixed(4, "bacnet.value.date")?;
                Value::Date([bytes[0], bytes[1], bytes[2], bytes[3]])
            }
            11 => {
                fixed(4, "bacnet.value.time")?;
                Value::Time([bytes[0], bytes[1], bytes[2], bytes[3]])
            }
            12 => Value::ObjectId(ObjectId::from_bytes(bytes, "bacnet.value.object_id")?),
            _ => {
                let n = c.position() - start.position();
                let mut s = start;
                Value::Other(s.bytes(n, "bacnet.value")?.to_vec())
            }
        })
    }

    /// Encodes the value with its application tag.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.push(0x00),
            Value::Boolean(b) => out.push(0x10 | u8::from(*b)),
            Value::Unsigned(v) => write_unsigned(out, 2, false, *v),
            Value::Signed(v) => {
                let b = v.to_be_bytes();
                // Shortest two's complement: drop leading bytes that only repeat the sign.
                let mut skip = 0;
                while skip < 7 {
                    let (x, next) = (b[skip], b[skip + 1]);
                    if (x == 0 && next & 0x80 == 0) || (x == 0xFF && next & 0x80 != 0) {
                        skip += 1;
                    } else {
                        break;
                    }
                }
                write_tag(out, 3, false, 8 - skip);
                out.extend_from_slice(&b[skip..]);
            }
            Value::Real(v) => {
                out.push(0x44);
                out.extend_from_slice(&v.to_be_bytes());
            }
            Value::Double(v) => {
                out.extend_from_slice(&[0x55, 8]);
                out.extend_from_slice(&v.to_be_bytes());
            }
            Value::OctetString(b) => {
                write_tag(out, 6, false, b.len());
                out.extend_from_slice(b);
            }
            Value::CharacterString(s) => s.encode(out),
            Value::BitString(b) => {
                write_tag(out, 8, false, b.len());
                out.extend_from_slice(b);
            }
            Value::Enumerated(v) => write_unsigned(out, 9, false, u64::from(*v)),
            Value::Date(b) => {
                out.push(0xA4);
                out.extend_from_slice(b);
            }
            Value::Time(b) => {
                out.push(0xB4);
                out.extend_from_slice(b);
            }
            Value::ObjectId(o) => {
                out.push(0xC4);
                out.extend_from_slice(&o.to_u32().to_be_bytes());
            }
            Value::Other(b) => out.extend_from_slice(b),
        }
    }

    /// The text of a character string value.
    pub fn as_char_string(&self) -> Option<&CharString> {
        match self {
            Value::CharacterString(s) => Some(s),
            _ => None,
        }
    }

    /// An unsigned or enumerated value.
    pub fn as_unsigned(&self) -> Option<u64> {
        match self {
            Value::Unsigned(v) => Some(*v),
            Value::Enumerated(v) => Some(u64::from(*v)),
            _ => None,
        }
    }
}

fn unreachable_tag<T>() -> Result<T, DecodeError> {
    Err(DecodeError::Invalid {
        field: "bacnet.tag",
        value: 0,
        reason: "an application tag cannot open or close",
    })
}

/// Skips what follows `tag`: its content, or, for an opening tag, everything up to its
/// matching closing tag (nested at most [`MAX_DEPTH`] deep).
fn skip_after_tag(c: &mut Cursor, tag: Tag, depth: usize) -> Result<(), DecodeError> {
    match tag.len {
        TagLen::Length(_) => {
            if tag.class == TagClass::Application && tag.number == 1 {
                return Ok(());
            }
            tag.content(c, "bacnet.value").map(|_| ())
        }
        TagLen::Closing => Err(DecodeError::Invalid {
            field: "bacnet.tag",
            value: u64::from(tag.number),
            reason: "closing tag without an opening tag",
        }),
        TagLen::Opening => {
            if depth >= MAX_DEPTH {
                return Err(DecodeError::TooLarge {
                    field: "bacnet.value.depth",
                    value: depth + 1,
                    max: MAX_DEPTH,
                });
            }
            loop {
                let inner = Tag::decode(c)?;
                if inner.len == TagLen::Closing {
                    if inner.number == tag.number {
                        return Ok(());
                    }
                    return Err(DecodeError::Invalid {
                        field: "bacnet.tag",
                        value: u64::from(inner.number),
                        reason: "closing tag does not match the opening tag",
                    });
                }
                skip_after_tag(c, inner, depth + 1)?;
            }
        }
    }
}

/// Reads values up to the closing tag `number` (consumed).
fn read_values_until_close(c: &mut Cursor, number: u8) -> Result<Vec<Value>, DecodeError> {
    let mut values = Vec::new();
    loop {
        let mut peek = c.clone();
        let t = Tag::decode(&mut peek)?;
        if t.len == TagLen::Closing && t.class == TagClass::Context {
            if t.number != number {
                return Err(DecodeError::Invalid {
                    field: "bacnet.tag",
                    value: u64::from(t.number),
                    reason: "closing tag does not match the opening tag",
                });
            }
            *c = peek;
            return Ok(values);
        }
        // Each value takes at least one byte, so the frame bounds the count; the cap
        // bounds what one answer may allocate.
        if values.len() >= MAX_VALUES {
            return Err(DecodeError::TooLarge {
                field: "bacnet.property_value.count",
                value: values.len() + 1,
                max: MAX_VALUES,
            });
        }
        values.push(Value::decode(c)?);
    }
}

fn expect_context(c: &mut Cursor, n: u8, field: &'static str) -> Result<Tag, DecodeError> {
    let t = Tag::decode(c)?;
    if !t.is_context(n) {
        return Err(DecodeError::Invalid {
            field,
            value: u64::from(t.number),
            reason: "unexpected tag",
        });
    }
    Ok(t)
}

fn expect_opening(c: &mut Cursor, n: u8, field: &'static str) -> Result<(), DecodeError> {
    let t = expect_context(c, n, field)?;
    if t.len != TagLen::Opening {
        return Err(DecodeError::Invalid {
            field,
            value: u64::from(n),
            reason: "expected an opening tag",
        });
    }
    Ok(())
}

/// Takes context tag `n` when it comes next; leaves the cursor alone otherwise.
fn optional_context_u32(
    c: &mut Cursor,
    n: u8,
    field: &'static str,
) -> Result<Option<u32>, DecodeError> {
    if c.is_empty() {
        return Ok(None);
    }
    let mut peek = c.clone();
    let t = Tag::decode(&mut peek)?;
    if !t.is_context(n) || !matches!(t.len, TagLen::Length(_)) {
        return Ok(None);
    }
    let v = read_u32(t.content(&mut peek, field)?, field)?;
    *c = peek;
    Ok(Some(v))
}

fn context_u32(c: &mut Cursor, n: u8, field: &'static str) -> Result<u32, DecodeError> {
    let t = expect_context(c, n, field)?;
    read_u32(t.content(c, field)?, field)
}

fn context_object(c: &mut Cursor, n: u8, field: &'static str) -> Result<ObjectId, DecodeError> {
    let t = expect_context(c, n, field)?;
    ObjectId::from_bytes(t.content(c, field)?, field)
}

fn write_context_object(out: &mut Vec<u8>, n: u8, o: ObjectId) {
    write_tag(out, n, true, 4);
    out.extend_from_slice(&o.to_u32().to_be_bytes());
}

/// ReadProperty-Request (15.5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadPropertyRequest {
    pub object: ObjectId,
    pub property: u32,
    pub array_index: Option<u32>,
}

impl ReadPropertyRequest {
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::framed(data);
        let object = context_object(&mut c, 0, "bacnet.read_property.object")?;
        let property = context_u32(&mut c, 1, "bacnet.read_property.property")?;
        let array_index = optional_context_u32(&mut c, 2, "bacnet.read_property.array_index")?;
        if !c.is_empty() {
            return Err(DecodeError::Trailing {
                field: "bacnet.read_property",
                extra: c.remaining(),
            });
        }
        Ok(ReadPropertyRequest {
            object,
            property,
            array_index,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        write_context_object(out, 0, self.object);
        write_unsigned(out, 1, true, u64::from(self.property));
        if let Some(i) = self.array_index {
            write_unsigned(out, 2, true, u64::from(i));
        }
    }
}

/// ReadProperty-ACK (15.5.1.3). The object identifier echoes the request's, wildcard
/// included: the device's real instance is the value of `object-identifier`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadPropertyAck {
    pub object: ObjectId,
    pub property: u32,
    pub array_index: Option<u32>,
    pub values: Vec<Value>,
}

impl ReadPropertyAck {
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::framed(data);
        let object = context_object(&mut c, 0, "bacnet.read_property_ack.object")?;
        let property = context_u32(&mut c, 1, "bacnet.read_property_ack.property")?;
        let array_index = optional_context_u32(&mut c, 2, "bacnet.read_property_ack.array_index")?;
        expect_opening(&mut c, 3, "bacnet.read_property_ack.value")?;
        let values = read_values_until_close(&mut c, 3)?;
        if !c.is_empty() {
            return Err(DecodeError::Trailing {
                field: "bacnet.read_property_ack",
                extra: c.remaining(),
            });
        }
        Ok(ReadPropertyAck {
            object,
            property,
            array_index,
            values,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        write_context_object(out, 0, self.object);
        write_unsigned(out, 1, true, u64::from(self.property));
        if let Some(i) = self.array_index {
            write_unsigned(out, 2, true, u64::from(i));
        }
        write_opening(out, 3);
        for v in &self.values {
            v.encode(out);
        }
        write_closing(out, 3);
    }
}

/// Most objects, and properties per object, one ReadPropertyMultiple may name: a frame of
/// [`MAX_NPDU_LEN`] bytes holds at most ~750 two-byte references, so this bounds memory only.
pub const MAX_RPM_ITEMS: usize = 750;

/// Property references of one object in a ReadPropertyMultiple: (property, array index).
pub type PropertyRefs = Vec<(u32, Option<u32>)>;

/// ReadPropertyMultiple-Request (15.7.1.1): a list of (object, property references).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmRequest {
    pub specs: Vec<(ObjectId, PropertyRefs)>,
}

impl RpmRequest {
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::framed(data);
        let mut specs = Vec::new();
        while !c.is_empty() {
            if specs.len() >= MAX_RPM_ITEMS {
                return Err(DecodeError::TooLarge {
                    field: "bacnet.rpm.objects",
                    value: specs.len() + 1,
                    max: MAX_RPM_ITEMS,
                });
            }
            let object = context_object(&mut c, 0, "bacnet.rpm.object")?;
            expect_opening(&mut c, 1, "bacnet.rpm.properties")?;
            let mut props = Vec::new();
            loop {
                let mut peek = c.clone();
                let t = Tag::decode(&mut peek)?;
                if t.is_context(1) && t.len == TagLen::Closing {
                    c = peek;
                    break;
                }
                if props.len() >= MAX_RPM_ITEMS {
                    return Err(DecodeError::TooLarge {
                        field: "bacnet.rpm.properties",
                        value: props.len() + 1,
                        max: MAX_RPM_ITEMS,
                    });
                }
                let p = context_u32(&mut c, 0, "bacnet.rpm.property")?;
                let i = optional_context_u32(&mut c, 1, "bacnet.rpm.array_index")?;
                props.push((p, i));
            }
            specs.push((object, props));
        }
        Ok(RpmRequest { specs })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        for (object, props) in &self.specs {
            write_context_object(out, 0, *object);
            write_opening(out, 1);
            for (p, i) in props {
                write_unsigned(out, 0, true, u64::from(*p));
                if let Some(i) = i {
                    write_unsigned(out, 1, true, u64::from(*i));
                }
            }
            write_closing(out, 1);
        }
    }
}

/// One property's result in a ReadPropertyMultiple-ACK: its values, or the error the
/// device gave for it (class, code).
#[derive(Debug, Clone, PartialEq)]
pub struct RpmResult {
    pub property: u32,
    pub array_index: Option<u32>,
    pub value: Result<Vec<Value>, (u32, u32)>,
}

/// ReadPropertyMultiple-ACK (15.7.1.3).
#[derive(Debug, Clone, PartialEq)]
pub struct RpmAck {
    pub objects: Vec<(ObjectId, Vec<RpmResult>)>,
}

impl RpmAck {
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::framed(data);
        let mut objects = Vec::new();
        while !c.is_empty() {
            if objects.len() >= MAX_RPM_ITEMS {
                return Err(DecodeError::TooLarge {
                    field: "bacnet.rpm_ack.objects",
                    value: objects.len() + 1,
                    max: MAX_RPM_ITEMS,
                });
            }
            let object = context_object(&mut c, 0, "bacnet.rpm_ack.object")?;
            expect_opening(&mut c, 1, "bacnet.rpm_ack.results")?;
            let mut results = Vec::new();
            loop {
                let mut peek = c.clone();
                let t = Tag::decode(&mut peek)?;
                if t.is_context(1) && t.len == TagLen::Closing {
                    c = peek;
                    break;
                }
                if results.len() >= MAX_RPM_ITEMS {
                    return Err(DecodeError::TooLarge {
                        field: "bacnet.rpm_ack.results",
                        value: results.len() + 1,
                        max: MAX_RPM_ITEMS,
                    });
                }
                let property = context_u32(&mut c, 2, "bacnet.rpm_ack.property")?;
                let array_index = optional_context_u32(&mut c, 3, "bacnet.rpm_ack.array_index")?;
                let t = Tag::decode(&mut c)?;
                let value = match (t.class, t.number, t.len) {
                    (TagClass::Context, 4, TagLen::Opening) => {
                        Ok(read_values_until_close(&mut c, 4)?)
                    }
                    (TagClass::Context, 5, TagLen::Opening) => {
                        let e = error_class_code(&mut c)?;
                        expect_context(&mut c, 5, "bacnet.rpm_ack.error")?;
                        Err(e)
                    }
                    _ => {
                        return Err(DecodeError::Invalid {
                            field: "bacnet.rpm_ack.result",
                            value: u64::from(t.number),
                            reason: "expected [4] value or [5] error",
                        });
                    }
                };
                results.push(RpmResult {
                    property,
                    array_index,
                    value,
                });
            }
            objects.push((object, results));
        }
        Ok(RpmAck { objects })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        for (object, results) in &self.objects {
            write_context_object(out, 0, *object);
            write_opening(out, 1);
            for r in results {
                write_unsigned(out, 2, true, u64::from(r.property));
                if let Some(i) = r.array_index {
                    write_unsigned(out, 3, true, u64::from(i));
                }
                match &r.value {
                    Ok(values) => {
                        write_opening(out, 4);
                        for v in values {
                            v.encode(out);
                        }
                        write_closing(out, 4);
                    }
                    Err((class, code)) => {
                        write_opening(out, 5);
                        write_unsigned(out, 9, false, u64::from(*class));
                        write_unsigned(out, 9, false, u64::from(*code));
                        write_closing(out, 5);
                    }
                }
            }
            write_closing(out, 1);
        }
    }
}

/// Two application-tagged enumerated values: error class and code (18, `Error`).
fn error_class_code(c: &mut Cursor) -> Result<(u32, u32), DecodeError> {
    let mut one = |field: &'static str| -> Result<u32, DecodeError> {
        let t = Tag::decode(c)?;
        if t.class != TagClass::Application || t.number != 9 {
            return Err(DecodeError::Invalid {
                field,
                value: u64::from(t.number),
                reason: "expected an enumerated",
            });
        }
        read_u32(t.content(c, field)?, field)
    };
    Ok((one("bacnet.error.class")?, one("bacnet.error.code")?))
}

/// The error class and code of an Error-PDU's service data (18, 21 `BACnet-Error`). Some
/// services wrap them in context tag 0 (e.g. WritePropertyMultiple, 21): the wrapper is
/// stepped into.
pub fn decode_error(data: &[u8]) -> Result<(u32, u32), DecodeError> {
    let mut c = Cursor::framed(data);
    let mut peek = c.clone();
    let t = Tag::decode(&mut peek)?;
    if t.class == TagClass::Context && t.len == TagLen::Opening {
        c = peek;
    }
    error_class_code(&mut c)
}

/// Encodes an error class and code as an Error-PDU's service data.
pub fn encode_error(class: u32, code: u32, out: &mut Vec<u8>) {
    write_unsigned(out, 9, false, u64::from(class));
    write_unsigned(out, 9, false, u64::from(code));
}

/// Who-Is (16.10.1): without limits it asks every device; with limits, the devices whose
/// instance is in the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WhoIs {
    pub range: Option<(u32, u32)>,
}

impl WhoIs {
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::framed(data);
        if c.is_empty() {
            return Ok(WhoIs { range: None });
        }
        let lo = context_u32(&mut c, 0, "bacnet.who_is.low_limit")?;
        let hi = context_u32(&mut c, 1, "bacnet.who_is.high_limit")?;
        if !c.is_empty() {
            return Err(DecodeError::Trailing {
                field: "bacnet.who_is",
                extra: c.remaining(),
            });
        }
        Ok(WhoIs {
            range: Some((lo, hi)),
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        if let Some((lo, hi)) = self.range {
            write_unsigned(out, 0, true, u64::from(lo));
            write_unsigned(out, 1, true, u64::from(hi));
        }
    }
}

/// I-Am (16.10.3): the device's identifier, max APDU, segmentation and vendor id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IAm {
    pub device: ObjectId,
    pub max_apdu: u32,
    /// 0 segmented-both, 1 transmit, 2 receive, 3 no-segmentation (21).
    pub segmentation: u32,
    pub vendor_id: u32,
}

impl IAm {
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::framed(data);
        let mut app = |n: u8, field: &'static str| -> Result<&[u8], DecodeError> {
            let t = Tag::decode(&mut c)?;
            if t.class != TagClass::Application || t.number != n {
                return Err(DecodeError::Invalid {
                    field,
                    value: u64::from(t.number),
                    reason: "unexpected application tag",
                });
            }
            t.content(&mut c, field)
        };
        let device = ObjectId::from_bytes(app(12, "bacnet.i_am.device")?, "bacnet.i_am.device")?;
        let max_apdu = read_u32(app(2, "bacnet.i_am.max_apdu")?, "bacnet.i_am.max_apdu")?;
        let segmentation = read_u32(
            app(9, "bacnet.i_am.segmentation")?,
            "bacnet.i_am.segmentation",
        )?;
        let vendor_id = read_u32(app(2, "bacnet.i_am.vendor_id")?, "bacnet.i_am.vendor_id")?;
        if !c.is_empty() {
            return Err(DecodeError::Trailing {
                field: "bacnet.i_am",
                extra: c.remaining(),
            });
        }
        Ok(IAm {
            device,
            max_apdu,
            segmentation,
            vendor_id,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        Value::ObjectId(self.device).encode(out);
        Value::Unsigned(u64::from(self.max_apdu)).encode(out);
        Value::Enumerated(self.segmentation).encode(out);
        Value::Unsigned(u64::from(self.vendor_id)).encode(out);
    }
}

/// The name of a `BACnetSegmentation` value (21).
pub fn segmentation_name(v: u32) -> &'static str {
    match v {
        0 => "segmented-both",
        1 => "segmented-transmit",
        2 => "segmented-receive",
        3 => "no-segmentation",
        _ => "unknown",
    }
}

/// A whole B/IP datagram down to its APDU, for callers that want all three layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub bvll: Bvll,
    /// For NPDU-carrying functions.
    pub npdu: Option<Npdu>,
    /// For NPDUs that carry an APDU.
    pub apdu: Option<Apdu>,
}

impl Datagram {
    /// Decodes one UDP datagram through BVLL, NPDU and APDU.
    pub fn decode(datagram: &[u8]) -> Result<Self, DecodeError> {
        let bvll = Bvll::decode_exact(datagram)?;
        let (npdu, apdu) = match bvll.npdu() {
            Some(n) => {
                let npdu = Npdu::decode(n)?;
                let apdu = if npdu.network_message.is_none() {
                    Some(Apdu::decode(&npdu.apdu)?)
                } else {
                    None
                };
                (Some(npdu), apdu)
            }
            None => (None, None),
        };
        Ok(Datagram { bvll, npdu, apdu })
    }
}

/// Builds a whole Original-Unicast datagram around an APDU (no routing).
pub fn unicast_datagram(apdu: &Apdu, out: &mut Vec<u8>) {
    let mut a = Vec::new();
    apdu.encode(&mut a);
    let expecting = matches!(apdu, Apdu::ConfirmedRequest(_));
    let mut n = Vec::new();
    Npdu::local(expecting, a).encode(&mut n);
    Bvll::unicast(n).encode(out);
}

#[cfg(test)]
mod tests;
