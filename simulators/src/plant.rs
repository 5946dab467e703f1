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
            if d.modbus.is_none() && d.enip.is_none() && d.s7.is_none() {
                return Err(bad(
                    "it serves no protocol; add [device.modbus], [device.enip] or [device.s7]"
                        .into(),
                ));
            }
            let mut ports = Vec::new();
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
