//! The one vocabulary that active probes, passive importers and merge share.
//!
//! An [`Observation`] is one fact about one endpoint plus its [`Provenance`] and the time
//! it was seen. Active probes and passive importers both produce them; nothing downstream
//! cares which. Everything here is plain data with a stable serde form: scan results,
//! observation files and reports all embed it, so renaming a field is a format change.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::identity_facts::{Facts, IdentityFacts};

/// The protocols otscout knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Modbus/TCP (port 502).
    Modbus,
    /// EtherNet/IP encapsulation (TCP/UDP 44818).
    Enip,
    /// CIP explicit messaging carried over EtherNet/IP.
    Cip,
    /// CIP class 0/1 implicit I/O (UDP 2222).
    CipIo,
    /// Classic S7comm over ISO-on-TCP (port 102).
    S7,
    /// S7comm-plus (protocol id 0x72) on port 102: recognised, not decoded.
    S7Plus,
    /// BACnet/IP (UDP 47808).
    Bacnet,
    /// OPC UA binary (UA TCP, port 4840).
    Opcua,
    /// Omron FINS (UDP and TCP 9600).
    Fins,
    /// Tridium Niagara Fox (TCP 1911; 4911 over TLS).
    Fox,
    /// PROFINET DCP (layer 2, EtherType 0x8892): read from captures only.
    ProfinetDcp,
    /// Anything else (a port that answered, nothing more known).
    Other,
}

impl Protocol {
    /// The protocol's name as serialized (`modbus`, `cip_io`, `s7_plus`).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Modbus => "modbus",
            Protocol::Enip => "enip",
            Protocol::Cip => "cip",
            Protocol::CipIo => "cip_io",
            Protocol::S7 => "s7",
            Protocol::S7Plus => "s7_plus",
            Protocol::Bacnet => "bacnet",
            Protocol::Opcua => "opcua",
            Protocol::Fins => "fins",
            Protocol::Fox => "fox",
            Protocol::ProfinetDcp => "profinet_dcp",
            Protocol::Other => "other",
        }
    }
}

/// The one naming rule of operations: `<protocol>.<operation>` (`modbus.write_single_register`,
/// `s7.write_var`, `cip.set_attribute_single`), the protocol being the operation's own
/// serialized [`Protocol`]. A name that already carries the prefix is kept; one without
/// it (a Modbus name in an observation file or report written before the rule) is read as
/// the prefixed one, so old and new files merge to the same operation.
pub fn operation_name(protocol: Protocol, function: &str) -> String {
    let p = protocol.name();
    match function.strip_prefix(p) {
        Some(rest) if rest.starts_with('.') => function.to_owned(),
        _ => format!("{p}.{function}"),
    }
}

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Tcp,
    Udp,
}

/// One fact about one endpoint, with where and when it was learned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The endpoint the fact is about (for a passive exchange: the packet's IP source of
    /// the reply, never an address quoted inside the payload).
    pub ip: IpAddr,
    /// What was learned.
    pub fact: Fact,
    /// Where it came from.
    pub provenance: Provenance,
    /// When it was seen (packet time, probe time); `None` when the source has no time
    /// (a CSV inventory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<DateTime<Utc>>,
    /// The raw reply bytes behind the fact, as lowercase hex, kept for audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_hex: Option<String>,
    /// When the fact is about something behind `ip` rather than `ip` itself: the path the
    /// request travelled from `ip` to it (a CIP route path through a bridge or backplane,
    /// `cip:1/0` for port 1, slot 0). Merge never folds such a fact into the asset at
    /// `ip`: it is the sub-asset's at this path. Absent (and not serialized) for facts
    /// about `ip` itself, and for Modbus unit and S7 TSAP identities, whose sub-asset
    /// paths merge derives from the identity itself when one address answered for
    /// several devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// What an observation says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fact {
    /// The device said who it is.
    Identity { identity: Identity },
    /// A service answered on this port.
    Service {
        transport: Transport,
        port: u16,
        protocol: Protocol,
    },
    /// A MAC address for this IP.
    Mac {
        mac: String,
        /// How it was learned and how far to trust it (a routed host's Ethernet source is
        /// its router's MAC).
        basis: MacBasis,
    },
    /// The device spoke the protocol and said no (a Modbus exception, ENIP status 0x0001,
    /// a refused TSAP): a finding, not an error.
    Negative {
        protocol: Protocol,
        port: u16,
        answer: String,
    },
    /// The device answered the identity request in its protocol but named nothing (a
    /// Modbus Read Device Identification reply with zero objects): it is there and speaks
    /// the protocol, but says nothing about who it is. Never an identity with empty
    /// fields.
    NoIdentity {
        protocol: Protocol,
        port: u16,
        answer: String,
    },
    /// A probe got no protocol answer.
    NoAnswer {
        protocol: Protocol,
        port: u16,
        outcome: NoAnswerKind,
    },
    /// A reply that did not decode as the protocol should; the bytes are in `raw_hex`.
    Suspicious {
        protocol: Protocol,
        port: u16,
        reason: String,
    },
    /// This endpoint exchanged traffic with `peer` over `protocol`, in the given role.
    Peer {
        peer: IpAddr,
        protocol: Protocol,
        role: Role,
        #[serde(default)]
        count: u64,
    },
    /// `actor` performed a security-relevant operation (a write, a control action) on this
    /// endpoint. Never an identity.
    Operation {
        actor: IpAddr,
        protocol: Protocol,
        kind: OperationKind,
        /// Its name under [`operation_name`]'s rule (`modbus.write_multiple_registers`,
        /// `s7.write_var`, `cip.set_attribute_single`).
        function: String,
        count: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last: Option<DateTime<Utc>>,
    },
    /// An attribute declared by a human (a CSV inventory): hostname, vendor, model, serial,
    /// firmware, role, criticality, location, owner, zone, or a custom column.
    Declared { attribute: String, value: String },
    /// [`Fact::Operation`] by a station seen only on layer 2 (a PROFINET DCP Set from an
    /// engineering station whose IP the capture never showed): `actor_mac` is its MAC,
    /// lowercase and colon-separated.
    LinkOperation {
        actor_mac: String,
        protocol: Protocol,
        kind: OperationKind,
        /// Named as [`Fact::Operation`]'s (`profinet_dcp.set_ip`).
        function: String,
        count: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last: Option<DateTime<Utc>>,
    },
}

/// How an observation names a device seen only by its MAC (layer 2, no IP header: a
/// PROFINET DCP station, a BACnet/Ethernet device): `ip` is [`UNSPECIFIED_IP`] (0.0.0.0,
/// never a host's address) and `path` is `mac:` and the MAC, lowercase and
/// colon-separated (`mac:08:00:06:93:cf:32`), optionally followed by a space and the
/// path of something behind that station (`mac:00:e0:c9:00:10:a5 bacnet:3/6c`).
/// Older readers see an observation about 0.0.0.0 with a path; merge keys such facts by
/// the MAC ([`crate::inventory::mac`]).
pub const MAC_PATH_PREFIX: &str = "mac:";

/// The IP of an observation or asset known only by MAC.
pub const UNSPECIFIED_IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

/// The `path` of an observation about the station at `mac` (see [`MAC_PATH_PREFIX`]).
pub fn mac_path(mac: &str, behind: Option<&str>) -> String {
    match behind {
        Some(b) => format!("{MAC_PATH_PREFIX}{mac} {b}"),
        None => format!("{MAC_PATH_PREFIX}{mac}"),
    }
}

impl Observation {
    /// For an observation about a station known only by MAC: the MAC and the path of what
    /// is behind it, if anything (see [`MAC_PATH_PREFIX`]).
    pub fn link_station(&self) -> Option<(&str, Option<&str>)> {
        if self.ip != UNSPECIFIED_IP {
            return None;
        }
        let rest = self.path.as_deref()?.strip_prefix(MAC_PATH_PREFIX)?;
        Some(match rest.split_once(' ') {
            Some((mac, behind)) => (mac, Some(behind)),
            None => (rest, None),
        })
    }
}

/// How a MAC address was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MacBasis {
    /// Ethernet source of a frame from a host on the capture's own link.
    EthernetLocal,
    /// Ethernet source of a frame that may have been routed: probably a router's MAC.
    EthernetRouted,
    /// An ARP packet.
    Arp,
    /// Declared in an inventory file.
    Declared,
    /// Reported by the device itself (an identity reply).
    Reported,
}

/// Why a probe got no protocol answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoAnswerKind {
    Refused,
    Timeout,
    Reset,
    /// Something answered, but not in this protocol.
    NotThisProtocol,
    /// The circuit breaker stopped probing this host.
    CircuitOpen,
    /// The device kept its side of a connection open after our FIN for longer than the
    /// close hold: otscout left the host alone for the rest of the scan (whatever the
    /// device had said before).
    HeldOpen,
}

/// Which side of an exchange an endpoint was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// It asked (an HMI, an engineering station, a SCADA poller).
    Client,
    /// It answered (a controller, a gateway, a field device).
    Server,
}

/// The kinds of security-relevant operations passive import reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// Writes process data or configuration (Modbus FC 5/6/15/16/22/23, S7 write var,
    /// CIP Set_Attribute*).
    Write,
    /// Changes the run state (S7 PLC stop, PI service, CIP start/stop/reset).
    Control,
    /// Moves program blocks or firmware (S7 block download/upload).
    Program,
}

/// A device's own account of who it is, per protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "snake_case")]
pub enum Identity {
    Modbus(ModbusIdentity),
    Enip(EnipIdentity),
    S7(Box<S7Identity>),
    Bacnet(BacnetIdentity),
    Opcua(Box<OpcuaIdentity>),
    Fins(FinsIdentity),
    Fox(Box<FoxIdentity>),
    ProfinetDcp(DcpIdentity),
}

impl Identity {
    /// The protocol the identity was read with (the value its serde tag names).
    pub fn protocol(&self) -> Protocol {
        match self {
            Identity::Modbus(_) => Protocol::Modbus,
            Identity::Enip(_) => Protocol::Enip,
            Identity::S7(_) => Protocol::S7,
            Identity::Bacnet(_) => Protocol::Bacnet,
            Identity::Opcua(_) => Protocol::Opcua,
            Identity::Fins(_) => Protocol::Fins,
            Identity::Fox(_) => Protocol::Fox,
            Identity::ProfinetDcp(_) => Protocol::ProfinetDcp,
        }
    }

    /// What the identity says about its asset, as merge folds it (seen at `seen`).
    pub fn facts(&self, seen: Option<DateTime<Utc>>) -> Facts {
        let mut out = Facts::default();
        self.mapping().facts(seen, &mut out);
        out
    }

    /// The names the device answers to for a profile's vendor rules.
    pub fn rule_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.mapping().rule_names(&mut out);
        out
    }

    /// Where the identity was read, in its protocol's own addressing of devices behind
    /// one address (see [`super::identity_facts::Behind`]).
    pub fn behind(&self) -> Option<super::identity_facts::Behind> {
        self.mapping().behind()
    }

    /// The sub-asset path of a device read through a router of its protocol
    /// ([`IdentityFacts::route_path`]).
    pub fn route_path(&self) -> Option<String> {
        self.mapping().route_path()
    }

    /// The protocol's own mapping of its identity (`protocols::<name>::identity`): the
    /// one dispatch over this closed enum, so that nothing else in `inventory` needs to
    /// know a protocol.
    fn mapping(&self) -> &dyn IdentityFacts {
        match self {
            Identity::Modbus(id) => id,
            Identity::Enip(id) => id,
            Identity::S7(id) => id.as_ref(),
            Identity::Bacnet(id) => id,
            Identity::Opcua(id) => id.as_ref(),
            Identity::Fins(id) => id,
            Identity::Fox(id) => id.as_ref(),
            Identity::ProfinetDcp(id) => id,
        }
    }
}

/// What a BACnet device said about itself: the Device object's identity properties
/// (ReadProperty/ReadPropertyMultiple acks) and I-Am (`protocols::bacnet::identity` reads
/// them).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BacnetIdentity {
    /// The Device object's instance (`object-identifier` or I-Am), never the wildcard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_name: Option<String>,
    /// ASHRAE vendor id (`vendor-identifier` or I-Am).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_software_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Max APDU length accepted, in bytes (I-Am or the property).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_apdu: Option<u32>,
    /// `BACnetSegmentation` (0 both, 1 transmit, 2 receive, 3 none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation: Option<u32>,
    /// The BACnet network and MAC (SNET/SADR) of a device behind a router: the device is a
    /// sub-asset of the IP that relayed it, keyed on (IP, network, MAC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<BacnetRoute>,
}

impl BacnetIdentity {
    /// Fills the fields still missing from a later part of the same device's identity (a
    /// passive capture reads one property per ack); a value already present is kept.
    pub fn fill_from(&mut self, part: BacnetIdentity) {
        fn take<T>(a: &mut Option<T>, b: Option<T>) {
            if a.is_none() {
                *a = b;
            }
        }
        take(&mut self.instance, part.instance);
        take(&mut self.object_name, part.object_name);
        take(&mut self.vendor_name, part.vendor_name);
        take(&mut self.vendor_id, part.vendor_id);
        take(&mut self.model_name, part.model_name);
        take(&mut self.firmware_revision, part.firmware_revision);
        take(
            &mut self.application_software_version,
            part.application_software_version,
        );
        take(&mut self.description, part.description);
        take(&mut self.location, part.location);
        take(&mut self.max_apdu, part.max_apdu);
        take(&mut self.segmentation, part.segmentation);
        take(&mut self.route, part.route);
    }
}

/// A BACnet network number and MAC address behind a router.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BacnetRoute {
    pub network: u16,
    /// The MAC (SADR) as lowercase hex: one byte on MS/TP and ARCNET, six (IP and port) for
    /// a B/IP peer seen from BACnet/Ethernet.
    pub mac: String,
}
/// Omron FINS Controller Data Read (05 01): what an Omron CPU says about itself in a Controller Data Read answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FinsIdentity {
    /// Controller model (`CP1L-EL20DR-D`): the 20-byte field up to its first NUL, trailing
    /// spaces dropped.
    pub model: String,
    /// Controller version: the first string of the version field (`01.00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Every NUL-separated string of the version field (`01.00`, `01.06`): the CP1L
    /// sends two, and W342 does not name the second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// The FINS node that answered (SA1 of the answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<u8>,
    /// Area data, when the answer carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_area_size: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iom_size: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_words: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_counter_size: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expansion_dm_size: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u16>,
    /// `none`, `spram`, `eprom`, `eeprom` or `kind N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_card: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_card_size: Option<u16>,
}

/// What a Niagara station says about itself in its hello.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FoxIdentity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fox_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_uuid: Option<String>,
}

/// PROFINET DCP (Identify response or Hello): what a PROFINET device says about itself in DCP.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DcpIdentity {
    /// The Ethernet source of the frame (lowercase, colon-separated): the asset's key.
    pub mac: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_of_station: Option<String>,
    /// DeviceVendorValue ("type of station").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<u16>,
    /// DeviceRoleDetails bits, and their names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_role: Option<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The IP suite the device states (an address quoted in the payload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netmask: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// Modbus Read Device Identification (FC 0x2B / MEI 0x0E) objects.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ModbusIdentity {
    /// The unit id that answered.
    pub unit_id: u8,
    /// Conformity level byte as sent (0x01-0x03, 0x81-0x83).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conformity_level: Option<u8>,
    /// Object id to value. Values are the bytes as text (invalid UTF-8 replaced); object 0
    /// VendorName, 1 ProductCode, 2 MajorMinorRevision, 3 VendorUrl, 4 ProductName,
    /// 5 ModelName, 6 UserApplicationName, 0x80 and up private.
    #[serde(with = "object_map")]
    pub objects: BTreeMap<u8, String>,
}

/// Object ids as JSON object keys (`"0"`, `"128"`): the form serde_json writes for a
/// `u8` key anyway, read back explicitly because [`Identity`] is internally tagged and
/// serde's buffered content does not turn string keys back into integers.
mod object_map {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(m: &BTreeMap<u8, String>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(k, v)| (k.to_string(), v)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<u8, String>, D::Error> {
        let raw = BTreeMap::<String, String>::deserialize(d)?;
        raw.into_iter()
            .map(|(k, v)| {
                k.parse::<u8>().map(|k| (k, v)).map_err(|_| {
                    serde::de::Error::custom(format!("modbus object id {k:?} is not 0-255"))
                })
            })
            .collect()
    }
}

/// EtherNet/IP List Identity item (0x0C) or CIP Identity object (class 1) attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnipIdentity {
    /// Where it came from: `list_identity` or `cip_get_attributes_all` (the Identity
    /// object's attributes read over CIP, with Get_Attributes_All or a Get_Attribute_List
    /// of the same attributes).
    pub source: EnipIdentitySource,
    pub vendor_id: u16,
    pub device_type: u16,
    pub product_code: u16,
    pub revision_major: u8,
    pub revision_minor: u8,
    pub status: u16,
    pub serial: u32,
    pub product_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encapsulation_version: Option<u16>,
    /// The socket address the device put inside its reply (may differ from the packet's
    /// source behind NAT: never used as the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_addr: Option<SocketAddr>,
}

/// Which EtherNet/IP exchange produced an [`EnipIdentity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnipIdentitySource {
    ListIdentity,
    CipGetAttributesAll,
}

/// Siemens S7 identity from SZL 0x0011 (module identification) and 0x001C (component
/// identification). Strings are trimmed of NUL padding, but otherwise as sent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct S7Identity {
    /// SZL 0x0011 index 0x0001: the module's order number (MLFB), e.g. `6ES7 151-8AB01-0AB0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_number: Option<String>,
    /// SZL 0x0011 index 0x0006: the hardware's order number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_order_number: Option<String>,
    /// Firmware from SZL 0x0011 index 0x0007 (Ausbg/Ausbe), e.g. `V3.2.6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    /// Boot loader version from SZL 0x0011 index 0x0081 (not the firmware).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_loader: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plant_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copyright: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_card_serial: Option<String>,
    /// SZL 0x001C index 0x0009: manufacturer id (0x002a is Siemens), profile, profile type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer_id: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_type: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oem_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The remote TSAP that the identity was read through (active probes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsap: Option<u16>,
}

/// Where an observation came from. Every field of every asset carries these.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Provenance {
    /// An active probe of this scan, with this profile.
    Active {
        scan_id: String,
        profile: String,
        profile_sha256: String,
        /// The SafeRequest kind that produced it (`modbus.read_device_id`, …).
        request: String,
    },
    /// A frame of a pcap/pcapng capture (1-based, as Wireshark counts).
    Pcap { file: String, frame: u64 },
    /// A line of a Zeek log.
    Zeek {
        file: String,
        log: String,
        line: u64,
    },
    /// A row of a CSV inventory (1-based, header is row 1).
    Csv { file: String, row: u64 },
    /// The IEEE registries' owner of the asset's MAC prefix ([`super::oui`]): derived by
    /// merge, never observed; the lowest precedence, used only when nothing else names the
    /// manufacturer. Report schema version 2.
    MacOui {
        /// The registered prefix, uppercase hex (`001B1B`).
        oui: String,
        /// `MA-L`, `MA-M`, `MA-S`, `CID` or `IAB`.
        registry: String,
    },
}

/// The header every observation-carrying JSON file starts with.
pub const OBSERVATIONS_FORMAT: &str = "otscout-observations";

/// A set of observations as written by `otscout passive` (and embedded in scan results).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservationFile {
    /// Always [`OBSERVATIONS_FORMAT`].
    pub format: String,
    /// Format version, 1.
    pub version: u32,
    /// What produced the set (the input file names, or the scan id).
    pub sources: Vec<String>,
    pub observations: Vec<Observation>,
}

/// An OPC UA server's identity: its application description and endpoints (GetEndpoints),
/// the server certificate, and BuildInfo when a profile opted in to the anonymous session
/// (`src/protocols/opcua/identity.rs` builds it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OpcuaIdentity {
    /// ApplicationUri (`urn:open62541.server.application`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_uri: Option<String>,
    /// ProductUri; `None` when the server sent a null string (the AnsiC stack does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_uri: Option<String>,
    /// ApplicationName's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
    /// `server`, `client`, `client_and_server`, `discovery_server` (or `unknown`).
    pub application_type: String,
    /// DiscoveryUrls of the application.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discovery_urls: Vec<String>,
    /// The endpoints, in the server's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<OpcuaEndpoint>,
    /// The server certificate (the first endpoint's that carries one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<OpcuaCertificate>,
    /// BuildInfo (node 2260), only when a profile opted in to the anonymous session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_info: Option<OpcuaBuildInfo>,
}

/// One EndpointDescription.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OpcuaEndpoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `none`, `sign`, `sign_and_encrypt` (`invalid` otherwise).
    pub security_mode: String,
    /// The policy's short name (`None`, `Basic256Sha256`), or the whole URI when it is not a
    /// standard one.
    pub security_policy: String,
    /// User token types offered: `anonymous`, `user_name`, `certificate`, `issued_token`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_tokens: Vec<String>,
    /// PolicyId of the anonymous token, when one is offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous_policy_id: Option<String>,
    pub security_level: u8,
}

/// The server certificate's identity.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OpcuaCertificate {
    pub subject: String,
    pub issuer: String,
    /// Serial number as lowercase hex, without DER's sign byte.
    pub serial: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// SHA-256 of the DER, lowercase hex.
    pub sha256: String,
    /// Issuer equals subject.
    pub self_signed: bool,
    /// DER length in bytes.
    pub der_len: usize,
}

/// Server_ServerStatus_BuildInfo's children.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OpcuaBuildInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_date: Option<DateTime<Utc>>,
}

/// A security finding (a flag in the report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum OpcuaFinding {
    /// An endpoint accepts SecurityMode None: anyone on the path can read and forge traffic.
    SecurityModeNone {
        endpoint: String,
    },
    /// That endpoint also accepts an Anonymous token: no credential is needed at all.
    AnonymousOnUnsecured {
        endpoint: String,
    },
    /// A deprecated policy (Basic128Rsa15, Basic256: SHA-1, deprecated since UA 1.04).
    DeprecatedPolicy {
        endpoint: String,
        policy: String,
    },
    CertificateExpired {
        not_after: DateTime<Utc>,
    },
    CertificateNotYetValid {
        not_before: DateTime<Utc>,
    },
    CertificateSelfSigned {
        subject: String,
    },
}

impl OpcuaIdentity {
    /// The security findings at `now` (certificate validity depends on it): endpoints with
    /// SecurityMode None, an Anonymous token on such an endpoint, deprecated policies
    /// (Basic128Rsa15, Basic256), an expired, not yet valid or self-signed certificate.
    pub fn findings(&self, now: DateTime<Utc>) -> Vec<OpcuaFinding> {
        let mut out = Vec::new();
        for e in &self.endpoints {
            let name = e.url.clone().unwrap_or_default();
            if e.security_mode == "none" {
                out.push(OpcuaFinding::SecurityModeNone {
                    endpoint: name.clone(),
                });
                if e.user_tokens.iter().any(|t| t == "anonymous") {
                    out.push(OpcuaFinding::AnonymousOnUnsecured {
                        endpoint: name.clone(),
                    });
                }
            }
            if matches!(e.security_policy.as_str(), "Basic128Rsa15" | "Basic256") {
                out.push(OpcuaFinding::DeprecatedPolicy {
                    endpoint: name,
                    policy: e.security_policy.clone(),
                });
            }
        }
        out.dedup();
        if let Some(c) = &self.certificate {
            if c.not_after < now {
                out.push(OpcuaFinding::CertificateExpired {
                    not_after: c.not_after,
                });
            }
            if c.not_before > now {
                out.push(OpcuaFinding::CertificateNotYetValid {
                    not_before: c.not_before,
                });
            }
            if c.self_signed {
                out.push(OpcuaFinding::CertificateSelfSigned {
                    subject: c.subject.clone(),
                });
            }
        }
        out
    }
}
