//! Vendor-safe scan profiles: the schema, built-in profiles, validation and hard caps.
//!
//! (Skeleton: the resolved profile's shape. Loading from TOML, the built-in profiles,
//! validation, `--set` overrides and the hard caps are built by the scan-planning work.)

use serde::{Deserialize, Serialize};

use crate::safety::ReadDeviceIdCode;

/// A resolved profile: everything that decides what a scan sends and how fast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub pacing: Pacing,
    pub modbus: ModbusSettings,
    pub enip: EnipSettings,
    pub s7: S7Settings,
    #[serde(default)]
    pub vendor_rules: Vec<VendorRule>,
}

/// How fast, how many at once, and when to give up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pacing {
    /// Global ceiling on requests per second, all hosts together.
    pub max_rate: f64,
    /// Burst the global rate allows.
    pub burst: u32,
    /// Hosts probed at the same time.
    pub hosts_in_flight: usize,
    /// Minimum time between two requests to one host.
    pub host_interval_ms: u64,
    pub connect_timeout_ms: u64,
    pub response_timeout_ms: u64,
    /// Retries of a connect that timed out.
    pub retries: u32,
    pub retry_backoff_ms: u64,
    /// Minimum time between a close and the next connect to the same host.
    pub cooldown_ms: u64,
    /// Consecutive failures (timeouts, refusals) after which a host is left alone.
    pub breaker_failures: u32,
    /// Connection resets after which a host is left alone.
    pub breaker_resets: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusSettings {
    pub enabled: bool,
    pub port: u16,
    /// Unit ids to try in order, stopping at the first that answers.
    pub unit_ids: Vec<u8>,
    /// Read codes to ask, in order.
    pub read_codes: Vec<ReadDeviceIdCode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnipTransport {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnipSettings {
    pub enabled: bool,
    pub port: u16,
    pub transport: EnipTransport,
    /// Also send List Services after List Identity.
    pub list_services: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S7Settings {
    pub enabled: bool,
    pub port: u16,
    /// Remote (called) TSAPs to try in order, one connection each.
    pub tsaps: Vec<u16>,
    /// Local (calling) TSAP.
    pub local_tsap: u16,
    /// SZL ids to read (index 0 each).
    pub szl_ids: Vec<u16>,
    /// PDU length to propose in Setup Communication.
    pub pdu_length: u16,
}

/// Applies once a device's vendor or family is known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorRule {
    /// Vendor (normalised name, case-insensitive) or family (`s7-300`) this rule matches.
    #[serde(rename = "match")]
    pub matches: String,
    /// Protocols not to send to such a device.
    #[serde(default)]
    pub skip_protocols: Vec<crate::inventory::Protocol>,
    /// A longer minimum interval between requests to such a device.
    #[serde(default)]
    pub host_interval_ms: Option<u64>,
    #[serde(default)]
    pub note: String,
}
