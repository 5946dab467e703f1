//! PROFINET DCP (Discovery and basic Configuration Protocol), the layer-2 frames behind
//! EtherType 0x8892 with frame ids 0xFEFC (Hello), 0xFEFD (Get/Set), 0xFEFE (Identify
//! request) and 0xFEFF (Identify response): the DCP header, its option blocks, the
//! identity they carry and the configuration changes a Set makes.
//!
//! Decode only: otscout never sends DCP (it is layer 2 and multicast, outside the routed
//! unicast contract; SAFETY.md). Unknown services, options and suboptions keep their
//! bytes and round-trip.
//!
//! Sources (facts only, no code): IEC 61158-6-10 (PROFINET IO application layer protocol),
//! section 4.3 "DCP" (DCP-PDU header: FrameID, ServiceID, ServiceType, Xid,
//! ResponseDelay/DCPDataLength; block option/suboption codes; BlockInfo and
//! BlockQualifier); the Wireshark `pn_dcp` dissector's field names; checked byte by byte
//! against `ChangeIPUsingDCP.pcap` (captures/INDEX.md: a real SCALANCE X208).
//!
//! # The untrusted-input contract
//! See [the crate docs](crate): every length is checked against the bytes present and a
//! named cap before it is used, and the reason it is trusted is written at the read.

use std::net::Ipv4Addr;

use super::{Cursor, DecodeError};

/// The PROFINET EtherType.
pub const ETHERTYPE: u16 = 0x8892;
/// DCP frame ids (IEC 61158-6-10, table "FrameID").
pub const FRAME_HELLO: u16 = 0xFEFC;
pub const FRAME_GET_SET: u16 = 0xFEFD;
pub const FRAME_IDENTIFY_REQUEST: u16 = 0xFEFE;
pub const FRAME_IDENTIFY_RESPONSE: u16 = 0xFEFF;
/// Frame id, ServiceID, ServiceType, Xid, ResponseDelay or reserved, DCPDataLength.
pub const HEADER_LEN: usize = 12;
/// An Ethernet payload holds at most 1500 bytes: the DCP data length can be no more
/// than that less the header.
pub const MAX_DATA_LEN: usize = 1500 - HEADER_LEN;
/// Most blocks in one PDU (the X208's Identify response has 6; each block takes at
/// least 4 bytes, so 1488 bytes cannot hold more than 372).
pub const MAX_BLOCKS: usize = 372;

/// ServiceID values.
pub const SERVICE_GET: u8 = 3;
pub const SERVICE_SET: u8 = 4;
pub const SERVICE_IDENTIFY: u8 = 5;
pub const SERVICE_HELLO: u8 = 6;

/// Block options (IEC 61158-6-10, "Option").
pub const OPTION_IP: u8 = 1;
pub const OPTION_DEVICE: u8 = 2;
pub const OPTION_DHCP: u8 = 3;
pub const OPTION_CONTROL: u8 = 5;
pub const OPTION_INITIATIVE: u8 = 6;
pub const OPTION_ALL: u8 = 0xFF;

/// True when `frame_id` is one of DCP's.
pub fn is_dcp_frame_id(frame_id: u16) -> bool {
    (FRAME_HELLO..=FRAME_IDENTIFY_RESPONSE).contains(&frame_id)
}

/// One option block: option, suboption and its data (for responses, Hello and Set
/// requests the data starts with the 2-byte BlockInfo or BlockQualifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub option: u8,
    pub suboption: u8,
    pub data: Vec<u8>,
}

impl Block {
    /// The data after the BlockInfo / BlockQualifier word.
    pub fn value(&self) -> &[u8] {
        self.data.get(2..).unwrap_or(&[])
    }

    /// The BlockInfo (responses, Hello) or BlockQualifier (Set) word.
    pub fn info(&self) -> Option<u16> {
        match self.data.as_slice() {
            [a, b, ..] => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }
}

/// One DCP PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    pub frame_id: u16,
    pub service_id: u8,
    /// 0 request, 1 response success; other values (5: unsupported) kept raw.
    pub service_type: u8,
    pub xid: u32,
    /// ResponseDelay in an Identify request, reserved elsewhere.
    pub response_delay: u16,
    pub blocks: Vec<Block>,
    /// Bytes between the last block and the end of DCPDataLength that do not make a
    /// block, and the Ethernet padding after it, kept so the PDU re-encodes.
    pub trailer: Vec<u8>,
}

impl Pdu {
    pub fn is_request(&self) -> bool {
        self.service_type == 0
    }

    /// Decodes a PDU from the bytes after the EtherType (VLAN tags already removed).
    /// Ethernet padding after DCPDataLength is kept in `trailer`.
    pub fn decode(bytes: &[u8]) -> Result<Pdu, DecodeError> {
        let mut r = Cursor::framed(bytes);
        let frame_id = r.u16_be("dcp.frame_id")?;
        if !is_dcp_frame_id(frame_id) {
            return Err(DecodeError::Invalid {
                field: "dcp.frame_id",
                value: u64::from(frame_id),
                reason: "dcp frame ids are 0xfefc to 0xfeff",
            });
        }
        let service_id = r.u8("dcp.service_id")?;
        let service_type = r.u8("dcp.service_type")?;
        let xid = r.u32_be("dcp.xid")?;
        let response_delay = r.u16_be("dcp.response_delay")?;
        let len = usize::from(r.u16_be("dcp.data_length")?);
        // DCPDataLength, untrusted: at most one Ethernet payload, and all of it present.
        if len > MAX_DATA_LEN {
            return Err(DecodeError::TooLarge {
                field: "dcp.data_length",
                value: len,
                max: MAX_DATA_LEN,
            });
        }
        let mut data = r.sub(len, "dcp.data")?;
        let mut blocks = Vec::new();
        while data.remaining() >= 4 {
            if blocks.len() == MAX_BLOCKS {
                return Err(DecodeError::TooLarge {
                    field: "dcp.blocks",
                    value: MAX_BLOCKS + 1,
                    max: MAX_BLOCKS,
                });
            }
            let option = data.u8("dcp.block.option")?;
            let suboption = data.u8("dcp.block.suboption")?;
            // DCPBlockLength, untrusted: inside DCPDataLength (the sub-cursor holds it).
            let blen = usize::from(data.u16_be("dcp.block.length")?);
            let value = data.bytes(blen, "dcp.block.data")?.to_vec();
            blocks.push(Block {
                option,
                suboption,
                data: value,
            });
            // Blocks start on even offsets: an odd block is followed by one pad byte
            // (the X208's "INC" and "X208-BORD" blocks), which the last block may lack.
            if blen % 2 == 1 && data.remaining() > 0 {
                data.skip(1, "dcp.block.padding")?;
            }
        }
        let mut trailer = data.rest().to_vec();
        trailer.extend_from_slice(r.rest());
        Ok(Pdu {
            frame_id,
            service_id,
            service_type,
            xid,
            response_delay,
            blocks,
            trailer,
        })
    }

    fn data_len(&self) -> usize {
        let mut n = 0;
        for (i, b) in self.blocks.iter().enumerate() {
            n += 4 + b.data.len();
            if b.data.len() % 2 == 1 && i + 1 < self.blocks.len() {
                n += 1;
            }
        }
        n
    }

    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.data_len() + self.trailer.len()
    }

    /// Appends the PDU (from the frame id on). Block lengths above 65535 are not
    /// representable; decoded PDUs never hold them.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.frame_id.to_be_bytes());
        out.push(self.service_id);
        out.push(self.service_type);
        out.extend_from_slice(&self.xid.to_be_bytes());
        out.extend_from_slice(&self.response_delay.to_be_bytes());
        out.extend_from_slice(&(self.data_len() as u16).to_be_bytes());
        for (i, b) in self.blocks.iter().enumerate() {
            out.push(b.option);
            out.push(b.suboption);
            out.extend_from_slice(&(b.data.len() as u16).to_be_bytes());
            out.extend_from_slice(&b.data);
            if b.data.len() % 2 == 1 && i + 1 < self.blocks.len() {
                out.push(0);
            }
        }
        out.extend_from_slice(&self.trailer);
    }

    /// What the PDU is, by frame id, service and type.
    pub fn kind(&self) -> Kind {
        match (self.service_id, self.service_type) {
            (SERVICE_IDENTIFY, 0) => Kind::IdentifyRequest,
            (SERVICE_IDENTIFY, _) => Kind::IdentifyResponse,
            (SERVICE_SET, 0) => Kind::SetRequest,
            (SERVICE_SET, _) => Kind::SetResponse,
            (SERVICE_GET, 0) => Kind::GetRequest,
            (SERVICE_GET, _) => Kind::GetResponse,
            (SERVICE_HELLO, _) => Kind::Hello,
            _ => Kind::Other,
        }
    }

    /// The identity a device states about itself in an Identify or Get response or a
    /// Hello (blocks carry a BlockInfo word first). `None` for other PDUs.
    pub fn identity(&self) -> Option<Identity> {
        if !matches!(
            self.kind(),
            Kind::IdentifyResponse | Kind::GetResponse | Kind::Hello
        ) {
            return None;
        }
        let mut id = Identity::default();
        for b in &self.blocks {
            let v = b.value();
            match (b.option, b.suboption) {
                (OPTION_IP, 1) => id.mac = v.get(..6).and_then(|m| m.try_into().ok()),
                (OPTION_IP, 2) => id.ip = IpParameter::from_value(v, b.info()),
                (OPTION_DEVICE, 1) => id.vendor_value = Some(text(v)),
                (OPTION_DEVICE, 2) => id.name_of_station = Some(text(v)),
                (OPTION_DEVICE, 3) => {
                    if let [a, b, c, d, ..] = v {
                        id.vendor_id = Some(u16::from_be_bytes([*a, *b]));
                        id.device_id = Some(u16::from_be_bytes([*c, *d]));
                    }
                }
                (OPTION_DEVICE, 4) => id.device_role = v.first().copied(),
                (OPTION_DEVICE, 7) => {
                    id.device_instance = v.get(..2).map(|x| u16::from_be_bytes([x[0], x[1]]))
                }
                (OPTION_DEVICE, 8) => {
                    id.oem_device_id = v.get(..4).map(|x| {
                        (
                            u16::from_be_bytes([x[0], x[1]]),
                            u16::from_be_bytes([x[2], x[3]]),
                        )
                    })
                }
                _ => {}
            }
        }
        Some(id)
    }

    /// The changes a Set request asks for, one per block. Empty for other PDUs.
    pub fn set_operations(&self) -> Vec<SetOperation> {
        if self.kind() != Kind::SetRequest {
            return Vec::new();
        }
        self.blocks.iter().map(SetOperation::from_block).collect()
    }
}

/// What a DCP PDU is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    IdentifyRequest,
    IdentifyResponse,
    SetRequest,
    SetResponse,
    GetRequest,
    GetResponse,
    Hello,
    Other,
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v)
        .trim_end_matches('\0')
        .to_string()
}

/// The IP suite block (option 1, suboption 2): address, mask, gateway, and the
/// BlockInfo bits (0x0001 "IP set", 0x0002 "IP set by DHCP", 0x0080 address conflict).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpParameter {
    pub address: Ipv4Addr,
    pub mask: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub info: Option<u16>,
}

impl IpParameter {
    fn from_value(v: &[u8], info: Option<u16>) -> Option<IpParameter> {
        let ip = |i: usize| -> Option<Ipv4Addr> {
            let o: [u8; 4] = v.get(i..i + 4)?.try_into().ok()?;
            Some(Ipv4Addr::from(o))
        };
        Some(IpParameter {
            address: ip(0)?,
            mask: ip(4)?,
            gateway: ip(8)?,
            info,
        })
    }
}

/// What a device says about itself in DCP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// NameOfStation (2/2).
    pub name_of_station: Option<String>,
    /// DeviceVendorValue, "type of station" (2/1).
    pub vendor_value: Option<String>,
    /// VendorID and DeviceID (2/3): 0x002a is Siemens.
    pub vendor_id: Option<u16>,
    pub device_id: Option<u16>,
    /// DeviceRoleDetails (2/4): bit 0 IO-Device, 1 IO-Controller, 2 IO-Multidevice,
    /// 3 IO-Supervisor.
    pub device_role: Option<u8>,
    /// DeviceInstance (2/7), high and low byte.
    pub device_instance: Option<u16>,
    /// OEM VendorID and DeviceID (2/8).
    pub oem_device_id: Option<(u16, u16)>,
    /// IP suite (1/2).
    pub ip: Option<IpParameter>,
    /// MAC address block (1/1), when the device sends one (the Ethernet source is the
    /// MAC otherwise).
    pub mac: Option<[u8; 6]>,
}

/// The device role bits as names.
pub fn device_roles(role: u8) -> Vec<&'static str> {
    [
        (0x01, "io-device"),
        (0x02, "io-controller"),
        (0x04, "io-multidevice"),
        (0x08, "io-supervisor"),
    ]
    .into_iter()
    .filter(|(bit, _)| role & bit != 0)
    .map(|(_, n)| n)
    .collect()
}

/// One change a Set request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetOperation {
    /// A new IP suite (1/2); `permanent` when the BlockQualifier asks to save it.
    Ip {
        ip: Option<IpParameter>,
        permanent: bool,
    },
    /// A new NameOfStation (2/2).
    NameOfStation { name: String, permanent: bool },
    /// Flash the device's LED (5/3).
    Signal,
    /// Factory reset (5/5) or reset to factory (5/6) with the BlockQualifier's mode.
    FactoryReset { qualifier: u16 },
    /// Start or end of a transaction (5/1, 5/2).
    Transaction,
    /// Any other block (DHCP 3/x, other control or device suboptions).
    Other { option: u8, suboption: u8 },
}

impl SetOperation {
    fn from_block(b: &Block) -> SetOperation {
        // BlockQualifier bit 0: 1 = save the value permanently.
        let permanent = b.info().is_some_and(|q| q & 1 == 1);
        match (b.option, b.suboption) {
            (OPTION_IP, 2) => SetOperation::Ip {
                ip: IpParameter::from_value(b.value(), None),
                permanent,
            },
            (OPTION_DEVICE, 2) => SetOperation::NameOfStation {
                name: text(b.value()),
                permanent,
            },
            (OPTION_CONTROL, 3) => SetOperation::Signal,
            (OPTION_CONTROL, 5 | 6) => SetOperation::FactoryReset {
                qualifier: b.info().unwrap_or(0),
            },
            (OPTION_CONTROL, 1 | 2) => SetOperation::Transaction,
            (option, suboption) => SetOperation::Other { option, suboption },
        }
    }

    /// The operation's stable name (`dcp.set_ip`, `dcp.factory_reset`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            SetOperation::Ip { .. } => "dcp.set_ip",
            SetOperation::NameOfStation { .. } => "dcp.set_name_of_station",
            SetOperation::Signal => "dcp.signal",
            SetOperation::FactoryReset { .. } => "dcp.factory_reset",
            SetOperation::Transaction => "dcp.set_transaction",
            SetOperation::Other { .. } => "dcp.set_other",
        }
    }
}

#[cfg(test)]
mod tests {
    //! Golden vectors from `ChangeIPUsingDCP.pcap` (captures/INDEX.md: ITI/ICS-Security-
    //! Tools `pcaps/profinet/PROFINET-RT-DCP/`, a real Siemens SCALANCE X208, MAC
    //! 08:00:06:93:cf:32), the bytes after the EtherType as `tshark -x` shows them.
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Frame 1: Identify All, sent unicast, Xid 0x01000001, response delay 1; Ethernet
    /// padding to 60 bytes after it.
    const F1: &str = "fefe 05 00 01000001 0001 0004 ffff0000 \
        0000000000000000000000000000000000000000000000000000";
    /// Frame 2: Identify response.
    const F2: &str = "feff 05 01 01000001 0000 005e \
        0205 001c 0000 0101 0102 0201 0202 0203 0204 0205 033d 0501 0502 0503 0504 ffff \
        0201 0005 0000 494e43 00 \
        0202 000b 0000 58323038 2d424f5244 00 \
        0203 0006 0000 002a 0a01 \
        0204 0004 0000 0100 \
        0102 000e 0001 c0a80006 ffffff00 c0a80001";
    /// Frame 3: Set IP 192.168.0.10/24 gw .1, "save permanent".
    const F3: &str = "fefd 04 00 01000001 0000 0012 0102 000e 0001 c0a8000a ffffff00 c0a80001 \
        000000000000000000000000";

    #[test]
    fn the_identify_response_decodes_to_the_index_values() {
        let bytes = hex(F2);
        let p = Pdu::decode(&bytes).unwrap();
        assert_eq!(
            (p.frame_id, p.kind(), p.xid),
            (FRAME_IDENTIFY_RESPONSE, Kind::IdentifyResponse, 0x0100_0001)
        );
        assert_eq!(p.blocks.len(), 6);
        assert_eq!(p.blocks[0].value().len(), 26); // 13 option/suboption pairs
        let id = p.identity().unwrap();
        assert_eq!(id.vendor_value.as_deref(), Some("INC"));
        assert_eq!(id.name_of_station.as_deref(), Some("X208-BORD"));
        assert_eq!((id.vendor_id, id.device_id), (Some(0x002a), Some(0x0a01)));
        assert_eq!(id.device_role, Some(0x01));
        assert_eq!(device_roles(0x01), ["io-device"]);
        assert_eq!(
            id.ip,
            Some(IpParameter {
                address: Ipv4Addr::new(192, 168, 0, 6),
                mask: Ipv4Addr::new(255, 255, 255, 0),
                gateway: Ipv4Addr::new(192, 168, 0, 1),
                info: Some(1),
            })
        );
        assert_eq!(id.mac, None);
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(out, bytes);
        assert_eq!(p.encoded_len(), bytes.len());
    }

    #[test]
    fn the_identify_request_and_set_decode_and_reencode() {
        let bytes = hex(F1);
        let p = Pdu::decode(&bytes).unwrap();
        assert_eq!((p.kind(), p.response_delay), (Kind::IdentifyRequest, 1));
        assert_eq!(
            p.blocks,
            [Block {
                option: 0xff,
                suboption: 0xff,
                data: vec![]
            }]
        );
        assert!(p.identity().is_none());
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(out, bytes);

        let bytes = hex(F3);
        let p = Pdu::decode(&bytes).unwrap();
        assert_eq!(p.kind(), Kind::SetRequest);
        assert_eq!(
            p.set_operations(),
            [SetOperation::Ip {
                ip: Some(IpParameter {
                    address: Ipv4Addr::new(192, 168, 0, 10),
                    mask: Ipv4Addr::new(255, 255, 255, 0),
                    gateway: Ipv4Addr::new(192, 168, 0, 1),
                    info: None,
                }),
                permanent: true,
            }]
        );
        assert_eq!(p.set_operations()[0].name(), "dcp.set_ip");
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(out, bytes);
    }

    #[test]
    fn set_blocks_are_named() {
        let set = |blocks: Vec<Block>| Pdu {
            frame_id: FRAME_GET_SET,
            service_id: SERVICE_SET,
            service_type: 0,
            xid: 7,
            response_delay: 0,
            blocks,
            trailer: vec![],
        };
        let b = |option, suboption, data: &[u8]| Block {
            option,
            suboption,
            data: data.to_vec(),
        };
        let p = set(vec![
            b(5, 1, &[0, 0]),
            b(2, 2, b"\x00\x00plc-new"),
            b(5, 3, &[0, 0, 1, 0]),
            b(5, 6, &[0, 2]),
            b(3, 61, &[0, 0]),
        ]);
        let names: Vec<_> = p.set_operations().iter().map(SetOperation::name).collect();
        assert_eq!(
            names,
            [
                "dcp.set_transaction",
                "dcp.set_name_of_station",
                "dcp.signal",
                "dcp.factory_reset",
                "dcp.set_other"
            ]
        );
        assert_eq!(
            p.set_operations()[1],
            SetOperation::NameOfStation {
                name: "plc-new".into(),
                permanent: false
            }
        );
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(Pdu::decode(&out).unwrap(), p);
    }

    #[test]
    fn lengths_from_the_wire_are_checked() {
        // DCPDataLength beyond the bytes present.
        assert!(matches!(
            Pdu::decode(&hex("feff 05 01 00000001 0000 0010 0202")),
            Err(DecodeError::Truncated { .. })
        ));
        // DCPDataLength above an Ethernet payload.
        assert!(matches!(
            Pdu::decode(&hex("feff 05 01 00000001 0000 ffff")),
            Err(DecodeError::TooLarge { .. })
        ));
        // A block longer than DCPDataLength.
        assert!(matches!(
            Pdu::decode(&hex("feff 05 01 00000001 0000 0006 0202 0010 0000")),
            Err(DecodeError::Truncated { .. })
        ));
        // Not a DCP frame id (PROFINET RT cyclic data).
        assert!(matches!(
            Pdu::decode(&hex("8000 05 01 00000001 0000 0000")),
            Err(DecodeError::Invalid { .. })
        ));
        // Short header.
        assert!(Pdu::decode(&hex("feff 05")).is_err());
    }
}
