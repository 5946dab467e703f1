//! The plant file: a TOML list of simulated devices, their identities and behaviours.
//!
//! Parsing never panics: every problem comes back as a [`PlantError`] naming the file
//! and what to fix. Validation checks what serde cannot (loopback addresses, unique
//! address/port pairs, Modbus unit ids, identity string lengths).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why a plant file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlantError {
    #[error("cannot read plant file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("plant file {origin} is not valid: {source}")]
    Parse {
        origin: String,
        source: Box<toml::de::Error>,
    },
    #[error("plant file {origin}, device {device:?}: {problem}")]
    Invalid {
        origin: String,
        device: String,
        problem: String,
    },
}

/// The largest plant file [`Plant::load`] reads, and so the largest `generate` writes.
///
/// A generated device takes at most about 750 bytes of TOML (an S7 CPU with every
/// identity field written out), so 64 MiB holds 50,000 generated devices (about 31 MB)
/// twice over, while a wrong path (a device, a capture, a disk image) is still refused by
/// name before it is read whole.
pub const MAX_PLANT_BYTES: u64 = 64 * 1024 * 1024;

/// A whole simulated plant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Plant {
    /// A name for humans.
    #[serde(default)]
    pub name: String,
    /// The devices, in file order (`[[device]]` tables).
    #[serde(default, rename = "device")]
    pub devices: Vec<DeviceConfig>,
}

/// One simulated device: its own loopback address, the protocols it speaks, its behaviour.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// Unique name (used in the ledger).
    pub name: String,
    /// Loopback address the device binds, any 127.x.y.z.
    pub address: Ipv4Addr,
    #[serde(default, skip_serializing_if = "Behaviour::is_default")]
    pub behaviour: Behaviour,
    pub modbus: Option<ModbusConfig>,
    pub enip: Option<EnipConfig>,
    pub s7: Option<S7Config>,
    pub bacnet: Option<BacnetConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opcua: Option<OpcuaConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fins: Option<FinsConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fox: Option<FoxConfig>,
    /// A PROFINET device: nothing is served (DCP is layer 2); it appears only in the
    /// synthesised engineering capture (`hmi::write_pcapng`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profinet: Option<ProfinetConfig>,
}

/// What a PROFINET device says in DCP (IEC 61158-6-10 4.3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProfinetConfig {
    pub mac: [u8; 6],
    pub name_of_station: String,
    #[serde(default)]
    pub vendor_value: String,
    pub vendor_id: u16,
    pub device_id: u16,
    /// DeviceRoleDetails: 1 IO-Device, 2 IO-Controller.
    #[serde(default = "role_device")]
    pub device_role: u8,
    pub ip: Ipv4Addr,
    pub netmask: Ipv4Addr,
    pub gateway: Ipv4Addr,
}

fn role_device() -> u8 {
    1
}

/// Fault injection and timing. Applies to every protocol the device serves.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Behaviour {
    /// Delay before every reply.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub latency_ms: u64,
    /// Extra random delay in `0..=jitter_ms` before every reply.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub jitter_ms: u64,
    /// Simultaneous TCP connections the device accepts (per device, all protocols).
    pub max_connections: Option<u32>,
    /// What happens to the connection beyond `max_connections`.
    #[serde(default, skip_serializing_if = "OverLimit::is_default")]
    pub over_limit: OverLimit,
    /// Accept connections and read requests, never reply.
    #[serde(default, skip_serializing_if = "is_false")]
    pub hang: bool,
    /// Reset the connection (TCP RST) when a request arrives.
    #[serde(default, skip_serializing_if = "is_false")]
    pub reset_on_request: bool,
    /// Replace every reply with the same number of random bytes.
    #[serde(default, skip_serializing_if = "is_false")]
    pub garbage_reply: bool,
    /// Send only the first half of every reply, then close.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated_reply: bool,
    /// Set the reply's length field to its maximum (0xFFFF) while sending the real body.
    #[serde(default, skip_serializing_if = "is_false")]
    pub oversized_length: bool,
    /// Send replies one byte every N milliseconds.
    pub drip_ms: Option<u64>,
    /// Close the connection after this many requests (after replying to the last one).
    pub close_after: Option<u32>,
    /// After the client's FIN, keep the device's side of the connection open this long,
    /// then close it (a half-closing device: a slow communication task, a stack that
    /// closes on its next cycle).
    pub close_delay_ms: Option<u64>,
    /// After the client's FIN, never close the device's side (until the plant stops).
    #[serde(default)]
    pub never_close: bool,
    /// Trip like a fragile field device.
    pub fragility: Option<Fragility>,
}

impl Behaviour {
    fn is_default(&self) -> bool {
        *self == Behaviour::default()
    }
}

// Defaults are left out when a plant is written, so a generated plant stays small.
fn is_zero(v: &u64) -> bool {
    *v == 0
}
fn is_false(v: &bool) -> bool {
    !*v
}

/// What a device does with a connection beyond its `max_connections`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OverLimit {
    /// Reset the new connection at once (accept, then RST).
    #[default]
    Refuse,
    /// Accept the new connection and never answer on it.
    Silent,
    /// Drop every connection and stay silent until the plant is restarted.
    DropAll,
}

impl OverLimit {
    fn is_default(&self) -> bool {
        *self == OverLimit::default()
    }
}

/// A fragile device trips (goes silent for `trip_seconds`) when abused.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fragility {
    /// Most requests per second over any sliding one-second window.
    pub max_rate: u32,
    /// Most simultaneous connections.
    pub max_connections: u32,
    /// How long the device stays tripped.
    pub trip_seconds: f64,
    /// Trip on anything outside the read-only identity set (default true).
    #[serde(default = "yes")]
    pub identity_only: bool,
    /// What the device does while tripped.
    #[serde(default)]
    pub while_tripped: WhileTripped,
}

fn yes() -> bool {
    true
}

/// Behaviour of a tripped device.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WhileTripped {
    /// Accept connections and read, never answer.
    #[default]
    Silent,
    /// Reset every new connection at once.
    Refuse,
}

/// Modbus/TCP server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModbusConfig {
    #[serde(default = "port_502")]
    pub port: u16,
    /// Unit ids this device answers (default `[1]`; 255 and 0 are common too).
    #[serde(default = "default_units")]
    pub unit_ids: Vec<u8>,
    /// Answer every unit id (as pymodbus does).
    #[serde(default)]
    pub any_unit: bool,
    /// What to do with a request for a unit id it does not serve.
    #[serde(default)]
    pub unknown_unit: UnknownUnit,
    pub identity: ModbusIdentity,
    /// Answer FC 3/4 with a register pattern (register n holds n).
    #[serde(default)]
    pub plain_reads: bool,
    /// Answer FC 43/14 at all (false: exception 01, like many small devices).
    #[serde(default = "yes")]
    pub device_identification: bool,
    /// Gateway mode: devices behind unit ids. Units not listed get exception 0x0A.
    #[serde(default)]
    pub gateway: Vec<GatewayUnit>,
}

fn port_502() -> u16 {
    502
}
fn default_units() -> Vec<u8> {
    vec![1]
}

/// What a Modbus device does with a unit id it does not serve.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UnknownUnit {
    /// No reply at all (the request is dropped).
    #[default]
    Ignore,
    /// Exception 0x0B, gateway target device failed to respond.
    Exception,
}

/// A Modbus device behind a gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GatewayUnit {
    pub unit_id: u8,
    /// False: the unit is configured but dead (exception 0x0B).
    #[serde(default = "yes")]
    pub online: bool,
    /// True: the gateway relays the request and passes nothing back, not even 0x0B (a
    /// gateway configured without exception reporting, a serial unit that hangs the bus):
    /// the client sees a response timeout.
    #[serde(default)]
    pub silent: bool,
    pub identity: ModbusIdentity,
}

/// Read Device Identification objects (Modbus Application Protocol v1.1b3, 6.21).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModbusIdentity {
    /// Object 0x00.
    pub vendor_name: String,
    /// Object 0x01.
    pub product_code: String,
    /// Object 0x02.
    pub revision: String,
    pub vendor_url: Option<String>,
    pub product_name: Option<String>,
    pub model_name: Option<String>,
    pub user_application_name: Option<String>,
    /// Private objects 0x80..=0xFF.
    #[serde(default)]
    pub private: Vec<PrivateObject>,
    /// Conformity level byte (default: 0x81/0x82/0x83 from the objects present).
    pub conformity_level: Option<u8>,
    /// FC 17 Report Server ID data (default: `vendor-product-revision`, as pymodbus).
    pub server_id: Option<String>,
    /// pymodbus quirk: read code 1 with a start object above 2 returns 0 objects
    /// instead of restarting at object 0.
    #[serde(default)]
    pub no_restart_quirk: bool,
}

/// A private (extended) identification object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PrivateObject {
    pub id: u8,
    pub value: String,
}

impl ModbusIdentity {
    /// Objects in id order, as (id, bytes).
    pub fn objects(&self) -> Vec<(u8, Vec<u8>)> {
        let mut v = vec![
            (0u8, self.vendor_name.as_bytes().to_vec()),
            (1, self.product_code.as_bytes().to_vec()),
            (2, self.revision.as_bytes().to_vec()),
        ];
        let regular = [
            (3u8, &self.vendor_url),
            (4, &self.product_name),
            (5, &self.model_name),
            (6, &self.user_application_name),
        ];
        for (id, s) in regular {
            if let Some(s) = s {
                v.push((id, s.as_bytes().to_vec()));
            }
        }
        let mut private: Vec<_> = self
            .private
            .iter()
            .map(|p| (p.id, p.value.as_bytes().to_vec()))
            .collect();
        private.sort_by_key(|p| p.0);
        v.extend(private);
        v
    }
}

/// BACnet/IP device (UDP).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BacnetConfig {
    #[serde(default = "port_47808")]
    pub port: u16,
    /// Character set of the strings: 0 (UTF-8) or 4 (UCS-2, as the JCI NAE answers).
    #[serde(default)]
    pub charset: u8,
    /// Answer the wildcard instance 4194303 with error object/unknown-object, as bacpypes3
    /// 0.0.110 does (the standard says it names the device itself).
    #[serde(default)]
    pub wildcard_unknown: bool,
    /// Serve ReadPropertyMultiple (false: Reject unrecognized-service, as small devices do).
    #[serde(default = "yes")]
    pub read_property_multiple: bool,
    /// Answer a unicast Who-Is with a unicast I-Am (false: silent, a device that answers
    /// Who-Is by broadcast only).
    #[serde(default = "yes")]
    pub i_am_unicast: bool,
    pub identity: BacnetIdentity,
}

fn port_47808() -> u16 {
    47808
}

/// The Device object's identity properties (ASHRAE 135, 12.11).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BacnetIdentity {
    /// Device instance, 0..=4194302.
    pub instance: u32,
    pub object_name: String,
    pub vendor_name: String,
    pub vendor_id: u32,
    pub model_name: String,
    pub firmware_revision: String,
    #[serde(default)]
    pub application_software_version: String,
    /// None: the device has no such property (unknown-property).
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default = "apdu_1476")]
    pub max_apdu: u16,
}

fn apdu_1476() -> u16 {
    1476
}

/// EtherNet/IP server (TCP and UDP).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EnipConfig {
    #[serde(default = "port_44818")]
    pub port: u16,
    /// Also serve UDP on the same port (default true).
    #[serde(default = "yes")]
    pub udp: bool,
    /// Answer List Identity with status 0x0001, as some real chassis do.
    #[serde(default)]
    pub list_identity_unsupported: bool,
    pub identity: EnipIdentity,
    /// A chassis behind this device (an adapter, device type 12): it answers Register /
    /// Unregister Session and routed identity reads to backplane port 1.
    #[serde(default)]
    pub chassis: Option<Chassis>,
}

/// A backplane: `slots` slots (0 to `slots - 1`), some holding a module.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Chassis {
    /// Number of slots (a 1756-A7 has 7).
    pub slots: u8,
    #[serde(default)]
    pub modules: Vec<Module>,
}

/// A module in a chassis slot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Module {
    pub slot: u8,
    pub identity: EnipIdentity,
}

fn port_44818() -> u16 {
    44818
}

/// The CIP identity in a List Identity reply (ODVA CIP Vol 2, 2-4.3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EnipIdentity {
    pub vendor_id: u16,
    pub device_type: u16,
    pub product_code: u16,
    pub revision_major: u8,
    pub revision_minor: u8,
    #[serde(default = "status_30")]
    pub status: u16,
    pub serial: u32,
    pub product_name: String,
    #[serde(default = "state_3")]
    pub state: u8,
    /// Address reported in the socket-address field (default: the device's own),
    /// to model NAT or replays.
    pub socket_address: Option<Ipv4Addr>,
}

fn status_30() -> u16 {
    0x0030
}
fn state_3() -> u8 {
    3
}

/// OPC UA server (UA TCP binary, SecurityPolicy None only).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OpcuaConfig {
    #[serde(default = "port_4840")]
    pub port: u16,
    /// EndpointUrl in the answers (default `opc.tcp://<address>:<port>` as bound).
    pub endpoint_url: Option<String>,
    pub application_uri: String,
    /// Absent: a null ProductUri, as the OPC Foundation AnsiC stack sends.
    pub product_uri: Option<String>,
    pub application_name: String,
    /// 0 Server, 1 Client, 2 ClientAndServer, 3 DiscoveryServer.
    #[serde(default)]
    pub application_type: u32,
    /// The endpoints offered (default: None/None with anonymous and user name tokens,
    /// SignAndEncrypt/Basic256Sha256 with a user name token).
    #[serde(default = "default_endpoints")]
    pub endpoints: Vec<OpcuaEndpoint>,
    /// The server certificate, DER as hex (absent: a null certificate).
    pub certificate_hex: Option<String>,
    /// Server_ServerStatus_BuildInfo, served to an activated anonymous session.
    pub build_info: OpcuaBuildInfo,
}

impl OpcuaConfig {
    /// The certificate's DER bytes (validated as hex at load).
    pub fn certificate(&self) -> Option<Vec<u8>> {
        let h = self.certificate_hex.as_deref()?;
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
            .collect()
    }
}

/// One EndpointDescription.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OpcuaEndpoint {
    /// `none`, `sign` or `sign_and_encrypt`.
    pub mode: String,
    /// The policy's name after `SecurityPolicy#` (`None`, `Basic256Sha256`, ...).
    pub policy: String,
    /// User token types: `anonymous`, `user_name`, `certificate`, `issued_token`.
    pub tokens: Vec<String>,
    #[serde(default)]
    pub security_level: u8,
}

impl OpcuaEndpoint {
    /// MessageSecurityMode on the wire (Part 4, 7.20).
    pub fn mode_code(&self) -> u32 {
        match self.mode.as_str() {
            "none" => 1,
            "sign" => 2,
            _ => 3,
        }
    }
}

/// BuildInfo's string children.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OpcuaBuildInfo {
    pub manufacturer_name: String,
    pub product_name: String,
    pub software_version: String,
    pub build_number: String,
}

fn port_4840() -> u16 {
    4840
}

fn default_endpoints() -> Vec<OpcuaEndpoint> {
    vec![
        OpcuaEndpoint {
            mode: "none".into(),
            policy: "None".into(),
            tokens: vec!["anonymous".into(), "user_name".into()],
            security_level: 0,
        },
        OpcuaEndpoint {
            mode: "sign_and_encrypt".into(),
            policy: "Basic256Sha256".into(),
            tokens: vec!["user_name".into()],
            security_level: 3,
        },
    ]
}
/// Omron FINS server: FINS/TCP and FINS/UDP on the same port.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FinsConfig {
    #[serde(default = "port_9600")]
    pub port: u16,
    /// Serve FINS/TCP (default true).
    #[serde(default = "yes")]
    pub tcp: bool,
    /// Serve FINS/UDP on the same port (default true).
    #[serde(default = "yes")]
    pub udp: bool,
    /// The unit's own FINS node (the CP1L in omron_test.pcap: 200).
    #[serde(default = "node_200")]
    pub node: u8,
    /// The node the FINS/TCP handshake assigns a client that asks for one (251 there).
    #[serde(default = "node_251")]
    pub client_node: u8,
    /// End code of the Controller Data Read answer (0: normal, with the data).
    #[serde(default)]
    pub end_code: u16,
    pub identity: FinsIdentity,
}

fn port_9600() -> u16 {
    9600
}
fn node_200() -> u8 {
    200
}
fn node_251() -> u8 {
    251
}

/// What Controller Data Read answers (W342 5-3-1). Defaults: the CP1L's area data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FinsIdentity {
    /// At most 20 bytes, NUL-padded.
    pub model: String,
    /// Spaces in place of the last NULs of the model field (the CP1L sends 3 NULs and
    /// 4 spaces after `CP1L-EL20DR-D`).
    #[serde(default)]
    pub model_trailing_spaces: usize,
    /// Up to two version strings, each NUL-padded to 10 bytes (`01.00`, `01.06`).
    pub versions: Vec<String>,
    #[serde(default = "cp1l_program")]
    pub program_area_size: u16,
    #[serde(default = "cp1l_iom")]
    pub iom_size: u8,
    #[serde(default = "cp1l_dm")]
    pub dm_words: u16,
    #[serde(default = "cp1l_tc")]
    pub timer_counter_size: u8,
    #[serde(default)]
    pub expansion_dm_size: u8,
    #[serde(default)]
    pub steps: u16,
    #[serde(default)]
    pub memory_card_kind: u8,
    #[serde(default)]
    pub memory_card_size: u16,
    /// The 40 bytes "for system use" (fewer are padded with zeros): the CP1L sends
    /// 0x01 at offsets 19 and 37 and 0x03 at 39.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system_use: Vec<u8>,
}

fn cp1l_program() -> u16 {
    10
}
fn cp1l_iom() -> u8 {
    23
}
fn cp1l_dm() -> u16 {
    10768
}
fn cp1l_tc() -> u8 {
    8
}

/// Niagara Fox station on TCP.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FoxConfig {
    #[serde(default = "port_1911")]
    pub port: u16,
    /// Send the login challenge after the hello, as a real station does (default true).
    #[serde(default = "yes")]
    pub challenge: bool,
    /// Send the `sysInfo` bog object (a blob spanning lines) in the hello.
    #[serde(default = "yes")]
    pub sys_info: bool,
    pub identity: FoxIdentity,
}

fn port_1911() -> u16 {
    1911
}

/// The station hello's string fields; absent ones are not sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FoxIdentity {
    pub host_name: Option<String>,
    pub host_address: Option<String>,
    pub app_name: Option<String>,
    pub app_version: Option<String>,
    pub vm_name: Option<String>,
    pub vm_version: Option<String>,
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    pub station_name: Option<String>,
    pub lang: Option<String>,
    pub time_zone: Option<String>,
    pub host_id: Option<String>,
    pub vm_uuid: Option<String>,
    pub brand_id: Option<String>,
}

/// S7comm server on ISO-on-TCP.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct S7Config {
    #[serde(default = "port_102")]
    pub port: u16,
    /// Destination TSAPs accepted in COTP CR (default 0x0101, 0x0102, 0x0200, 0x0201, 0x0300, 0x0301 ... as rack/slot 0-1).
    #[serde(default = "default_tsaps")]
    pub tsaps: Vec<u16>,
    /// Largest PDU the CPU agrees to (240 like an S7-300, 480 like Snap7).
    #[serde(default = "pdu_240")]
    pub pdu_size: u16,
    /// Assign sequence numbers in userdata replies as a real CPU does (Snap7 answers 0).
    #[serde(default = "yes")]
    pub sequence_numbers: bool,
    pub identity: S7Identity,
}

fn port_102() -> u16 {
    102
}
fn pdu_240() -> u16 {
    240
}
fn default_tsaps() -> Vec<u16> {
    vec![
        0x0101, 0x0102, 0x0200, 0x0201, 0x0202, 0x0300, 0x0301, 0x0302,
    ]
}

/// SZL 0x0011 and 0x001C contents.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct S7Identity {
    /// Order number (MLFB), up to 20 characters; padded with spaces to 20.
    pub order_number: String,
    /// Module type (BGTyp) word of the 0x0011 records.
    #[serde(default = "bgtyp")]
    pub module_type_id: u16,
    /// Hardware Ausbg/Ausbe (records 0x0001 and 0x0006).
    #[serde(default = "hw_version")]
    pub hardware_version: [u16; 2],
    /// Firmware Ausbg/Ausbe (record 0x0007), e.g. [0x5603, 0x0206] = V3.2.6.
    pub firmware_version: [u16; 2],
    /// Boot loader Ausbg/Ausbe (record 0x0081); absent: no record.
    pub boot_loader_version: Option<[u16; 2]>,
    pub as_name: String,
    pub module_name: String,
    #[serde(default)]
    pub plant_tag: String,
    #[serde(default = "copyright")]
    pub copyright: String,
    pub serial_number: String,
    pub module_type_name: String,
    #[serde(default)]
    pub memory_card_serial: String,
    #[serde(default = "manufacturer")]
    pub manufacturer_id: u16,
    #[serde(default = "profile")]
    pub profile_id: u16,
    #[serde(default = "profile_type")]
    pub profile_type: u16,
    #[serde(default)]
    pub oem_id: String,
    #[serde(default)]
    pub location: String,
}

fn bgtyp() -> u16 {
    0x00c0
}
fn hw_version() -> [u16; 2] {
    [3, 1]
}
fn copyright() -> String {
    "Original Siemens Equipment".to_string()
}
fn manufacturer() -> u16 {
    0x002a
}
fn profile() -> u16 {
    0xf600
}
fn profile_type() -> u16 {
    0x0001
}

impl Plant {
    /// Parses and validates a plant from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Plant, PlantError> {
        Self::parse(text, "<string>")
    }

    /// Reads, parses and validates a plant file (at most [`MAX_PLANT_BYTES`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Plant, PlantError> {
        use std::io::Read;
        const MAX_PLANT: u64 = MAX_PLANT_BYTES;
        let path = path.as_ref();
        let err = |source| PlantError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_PLANT + 1).read_to_string(&mut text))
            .map_err(err)?;
        if text.len() as u64 > MAX_PLANT {
            return Err(err(std::io::Error::other(format!(
                "larger than {MAX_PLANT} bytes, the most `otscout-sim generate` writes: \
                 not a plant file"
            ))));
        }
        Self::parse(&text, &path.display().to_string())
    }

    fn parse(text: &str, origin: &str) -> Result<Plant, PlantError> {
        let plant: Plant = toml::from_str(text).map_err(|source| PlantError::Parse {
            origin: origin.to_string(),
            source: Box::new(source),
        })?;
        plant.validate(origin)?;
        Ok(plant)
    }

    /// Checks what the schema cannot express.
    pub fn validate(&self, origin: &str) -> Result<(), PlantError> {
        let mut names = BTreeSet::new();
        let mut endpoints = BTreeSet::new();
        for d in &self.devices {
            let bad = |problem: String| PlantError::Invalid {
                origin: origin.to_string(),
                device: d.name.clone(),
                problem,
            };
            if !names.insert(d.name.clone()) {
                return Err(bad(
                    "the name is used twice; give each device its own".into()
                ));
            }
            if !d.address.is_loopback() {
                return Err(bad(format!(
                    "address {} is not loopback; simulated devices bind 127.x.y.z only",
                    d.address
                )));
            }
            if d.modbus.is_none()
                && d.enip.is_none()
                && d.s7.is_none()
                && d.bacnet.is_none()
                && d.opcua.is_none()
                && d.fins.is_none()
                && d.fox.is_none()
                && d.profinet.is_none()
            {
                return Err(bad(
                    "it serves no protocol; add [device.modbus], [device.enip], [device.s7], [device.bacnet], [device.opcua], [device.fins], [device.fox] or [device.profinet]"
                        .into(),
                ));
            }
            let mut ports = Vec::new();
            if let Some(b) = &d.bacnet {
                ports.push(("udp", b.port));
                if b.identity.instance >= 0x3F_FFFF {
                    return Err(bad(format!(
                        "bacnet instance {} is not a device instance; use 0..=4194302",
                        b.identity.instance
                    )));
                }
                if !matches!(b.charset, 0 | 4) {
                    return Err(bad(format!(
                        "bacnet charset {} is not served; use 0 (utf-8) or 4 (ucs-2)",
                        b.charset
                    )));
                }
            }
            if let Some(o) = &d.opcua {
                ports.push(("tcp", o.port));
                check_opcua(o).map_err(&bad)?;
            }
            if let Some(m) = &d.modbus {
                ports.push(("tcp", m.port));
                if m.unit_ids.is_empty() && !m.any_unit && m.gateway.is_empty() {
                    return Err(bad("modbus.unit_ids is empty: list at least one".into()));
                }
                check_modbus_identity(&m.identity).map_err(&bad)?;
                for g in &m.gateway {
                    check_modbus_identity(&g.identity).map_err(&bad)?;
                }
            }
            if let Some(e) = &d.enip {
                ports.push(("tcp", e.port));
                if e.udp {
                    ports.push(("udp", e.port));
                }
                if e.identity.product_name.len() > 32 {
                    return Err(bad(format!(
                        "enip product_name is {} bytes; CIP allows at most 32",
                        e.identity.product_name.len()
                    )));
                }
                if let Some(c) = &e.chassis {
                    for m in &c.modules {
                        if m.slot >= c.slots {
                            return Err(bad(format!(
                                "enip chassis module in slot {} of a {}-slot chassis",
                                m.slot, c.slots
                            )));
                        }
                        if m.identity.product_name.len() > 32 {
                            return Err(bad(format!(
                                "enip module product_name in slot {} is longer than 32 bytes",
                                m.slot
                            )));
                        }
                    }
                }
            }
            if let Some(s) = &d.s7 {
                ports.push(("tcp", s.port));
                if !(64..=960).contains(&s.pdu_size) {
                    return Err(bad(format!(
                        "s7 pdu_size {} is outside 64..=960",
                        s.pdu_size
                    )));
                }
                let i = &s.identity;
                if i.order_number.len() > 20 {
                    return Err(bad(format!(
                        "s7 order_number {:?} is longer than 20 characters",
                        i.order_number
                    )));
                }
                for (field, v) in [
                    ("as_name", &i.as_name),
                    ("module_name", &i.module_name),
                    ("plant_tag", &i.plant_tag),
                    ("copyright", &i.copyright),
                    ("serial_number", &i.serial_number),
                    ("module_type_name", &i.module_type_name),
                    ("memory_card_serial", &i.memory_card_serial),
                    ("oem_id", &i.oem_id),
                    ("location", &i.location),
                ] {
                    if v.len() > 32 {
                        return Err(bad(format!("s7 {field} {v:?} is longer than 32 bytes")));
                    }
                }
            }
            if let Some(f) = &d.fins {
                if f.tcp {
                    ports.push(("tcp", f.port));
                }
                if f.udp {
                    ports.push(("udp", f.port));
                }
                if !f.tcp && !f.udp {
                    return Err(bad("fins serves neither tcp nor udp; set tcp or udp".into()));
                }
                if f.identity.model.len() > 20 {
                    return Err(bad(format!(
                        "fins model {:?} is longer than 20 bytes",
                        f.identity.model
                    )));
                }
                if f.identity.system_use.len() > 40 {
                    return Err(bad(format!(
                        "fins system_use has {} bytes; the field holds 40",
                        f.identity.system_use.len()
                    )));
                }
                if f.identity.versions.len() > 2 || f.identity.versions.iter().any(|v| v.len() > 9)
                {
                    return Err(bad(
                        "fins versions: at most two strings of at most 9 bytes".into()
                    ));
                }
                for (what, n) in [("node", f.node), ("client_node", f.client_node)] {
                    if !(1..=254).contains(&n) || (what == "client_node" && n == f.node) {
                        return Err(bad(format!(
                            "fins {what} {n} must be 1..=254 and the two nodes must differ"
                        )));
                    }
                }
            }
            if let Some(f) = &d.fox {
                ports.push(("tcp", f.port));
            }
            if let Some(p) = &d.profinet {
                // NameOfStation: at most 240 characters (IEC 61158-6-10, DNS-like labels).
                if p.name_of_station.is_empty() || p.name_of_station.len() > 240 {
                    return Err(bad(format!(
                        "profinet name_of_station {:?} must be 1 to 240 bytes",
                        p.name_of_station
                    )));
                }
                if p.vendor_value.len() > 255 {
                    return Err(bad("profinet vendor_value is longer than 255 bytes".into()));
                }
            }
            for (proto, port) in ports {
                // Port 0 means "any free port" and never collides.
                if port != 0 && !endpoints.insert((d.address, proto, port)) {
                    return Err(bad(format!(
                        "{}:{port}/{proto} is already used by another device or protocol",
                        d.address
                    )));
                }
            }
        }
        Ok(())
    }

    /// Serialises the plant back to TOML (used by `generate`).
    ///
    /// Device by device: serialising the whole list at once takes time quadratic in its
    /// length (37 s for 50,000 devices, against well under a second this way).
    pub fn to_toml_string(&self) -> String {
        #[derive(Serialize)]
        struct Head<'a> {
            name: &'a str,
        }
        #[derive(Serialize)]
        struct One<'a> {
            device: [&'a DeviceConfig; 1],
        }
        let mut out = toml::to_string(&Head { name: &self.name }).unwrap_or_default();
        for d in &self.devices {
            out.push('\n');
            out.push_str(&toml::to_string(&One { device: [d] }).unwrap_or_default());
        }
        out
    }
}

/// Part `k` of `n` (1-based) of `devices`, in order: `n` nearly equal runs, the first
/// ones a device longer when the count does not divide. The parts of 1..=n cover every
/// device once.
pub fn shard(devices: Vec<DeviceConfig>, k: usize, n: usize) -> Vec<DeviceConfig> {
    if n == 0 || k == 0 || k > n {
        return Vec::new();
    }
    let len = devices.len();
    let start = |i: usize| (i * (len / n)) + i.min(len % n);
    let (from, to) = (start(k - 1), start(k));
    devices.into_iter().skip(from).take(to - from).collect()
}

fn check_modbus_identity(id: &ModbusIdentity) -> Result<(), String> {
    for (oid, bytes) in id.objects() {
        // An object must fit one reply: 253-byte PDU minus 7 header bytes minus id and length.
        if bytes.len() > 244 {
            return Err(format!(
                "modbus object 0x{oid:02x} is {} bytes; at most 244 fit a reply",
                bytes.len()
            ));
        }
        if (7..0x80).contains(&oid) {
            return Err(format!(
                "modbus object 0x{oid:02x} is reserved; private ids are 0x80..=0xff"
            ));
        }
    }
    Ok(())
}

/// What an OPC UA section must hold: endpoints with known modes and token types, hex that
/// decodes, strings the protocol can carry.
fn check_opcua(o: &OpcuaConfig) -> Result<(), String> {
    if o.endpoints.is_empty() {
        return Err("opcua.endpoints is empty: list at least one".into());
    }
    for e in &o.endpoints {
        if !matches!(e.mode.as_str(), "none" | "sign" | "sign_and_encrypt") {
            return Err(format!(
                "opcua endpoint mode {:?} is not none, sign or sign_and_encrypt",
                e.mode
            ));
        }
        for t in &e.tokens {
            if !matches!(
                t.as_str(),
                "anonymous" | "user_name" | "certificate" | "issued_token"
            ) {
                return Err(format!(
                    "opcua token {t:?} is not anonymous, user_name, certificate or issued_token"
                ));
            }
        }
    }
    if let Some(h) = &o.certificate_hex {
        if h.len() % 2 != 0 || o.certificate().is_none() {
            return Err("opcua certificate_hex is not an even number of hex digits".into());
        }
    }
    if o.application_type > 3 {
        return Err(format!(
            "opcua application_type {} is not 0 (server) to 3 (discovery server)",
            o.application_type
        ));
    }
    Ok(())
}

#[cfg(test)]
mod load_tests {
    use super::{Plant, PlantError};

    #[test]
    fn shards_cover_every_device_once() {
        let p = crate::generate::generate(10, "127.97.0.0/24", 1).expect("generate");
        for n in 1..=12 {
            let mut names = Vec::new();
            for k in 1..=n {
                let part = super::shard(p.devices.clone(), k, n);
                assert!(part.len() <= 10usize.div_ceil(n), "{k}/{n}");
                names.extend(part.into_iter().map(|d| d.name));
            }
            let all: Vec<String> = p.devices.iter().map(|d| d.name.clone()).collect();
            assert_eq!(names, all, "{n} shards");
        }
        assert!(super::shard(p.devices.clone(), 3, 2).is_empty());
    }

    #[test]
    fn an_endless_file_is_refused_at_the_cap() {
        let p = std::path::Path::new("/dev/zero");
        if !p.exists() {
            return;
        }
        let e = Plant::load(p).expect_err("/dev/zero is no plant");
        assert!(matches!(e, PlantError::Read { .. }), "{e}");
        assert!(e.to_string().contains("not a plant file"), "{e}");
    }
}
