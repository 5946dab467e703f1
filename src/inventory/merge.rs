//! The merge: observations from any number of scans, passive imports, CSV inventories
//! and earlier reports fold into one [`Inventory`] of assets keyed by IP.
//!
//! Every field of an asset keeps its chosen value, the sources behind it, and every
//! conflicting value with its own sources: nothing is silently overwritten.
//!
//! Precedence, per field:
//! - for what the network can tell (vendor, model, firmware, serial, MAC, …) an observed
//!   value beats a declared (CSV) one; among observed values the newer beats the older
//!   (compared to the whole second), and at the same age an active probe beats a passive
//!   capture;
//! - for what only people know (role, criticality, location, owner, zone) a declared value
//!   beats an observed one;
//! - a declared value that disagrees with an observed one is flagged
//!   ([`FlagKind::DeclaredConflict`]); an address whose observed serial or MAC changed is
//!   flagged ([`FlagKind::AddressReused`]); one serial or MAC at several addresses is a
//!   [`Link`] and flags each of them ([`FlagKind::SameSerialElsewhere`],
//!   [`FlagKind::SameMacElsewhere`]).
//!
//! The fold is pure and deterministic: only ordered maps, every list sorted, and no clock
//! (the report's own `generated_at` is a parameter). The same inputs in any order give
//! the same [`Inventory`], so its canonical JSON and its signature are stable.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::identity_facts::IdentityFact;
use super::normalize;
use super::observation::{
    Fact, MacBasis, Observation, ObservationFile, OperationKind, Protocol, Provenance, Role,
    Transport, operation_name,
};
use super::oui;
use super::scan::{ScanMeta, ScanResult};

/// The `format` value of a report.
pub const REPORT_FORMAT: &str = "otscout-report";
/// The report schema version this build writes (docs/report-schema.md). Version 2 added
/// sites (`site`, `sites`, `verified`, an asset's and a link's `site`, `summary.by_site`)
/// the `mac_oui` provenance and `advisories` (matched CSAF advisories); every version-1 report is a valid version-2 report
/// with none of them. Version 3 summarises a scan's addresses that answered nothing as
/// ranges (`scans[].unanswered`, [`super::unanswered`]); a version-2 report is a version-3
/// report without them. Version 4 names each source, fact and raw reply once, in a table
/// the assets and observations refer to by index, and is unindented
/// ([`super::tables`]); the inventory is the same. All four are read.
pub const REPORT_VERSION: u32 = 4;
/// The oldest report schema version this build reads.
pub const REPORT_VERSION_MIN: u32 = 1;

/// How to merge, beyond the inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeOptions {
    /// The site of every input that names none (`otscout merge --site`).
    pub site: Option<String>,
}

/// One input to [`merge`]: a name for it (its path), the scans it carries and its
/// observations.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub name: String,
    /// Earlier inputs it already folded in (an earlier report's own inputs).
    pub nested: Vec<String>,
    pub scans: Vec<ScanMeta>,
    pub observations: Vec<Observation>,
    /// The site it was made at (`--site` at scan or merge time), if named.
    pub site: Option<String>,
    /// How its signature was checked, when it was (a fleet merge's inputs).
    pub verified: Vec<VerifiedInput>,
    /// The other sites an earlier fleet report carries, each as an input of its own.
    pub sites: Vec<Input>,
}

impl Input {
    /// An `otscout passive` observation file.
    pub fn from_observations(name: &str, file: ObservationFile) -> Self {
        Input {
            name: name.to_owned(),
            nested: file.sources,
            scans: Vec::new(),
            observations: file.observations,
            site: None,
            verified: Vec::new(),
            sites: Vec::new(),
        }
    }

    /// An `otscout scan` result.
    /// Addresses it lists one by one although they answered nothing (a version-1 result)
    /// are summarised as ranges ([`super::unanswered`]).
    pub fn from_scan(name: &str, result: ScanResult) -> Self {
        let mut scans = vec![result.scan];
        let mut observations = result.observations;
        super::unanswered::compact(&mut scans, &mut observations);
        Input {
            name: name.to_owned(),
            nested: Vec::new(),
            site: scans[0].site.clone(),
            scans,
            observations,
            verified: Vec::new(),
            sites: Vec::new(),
        }
    }

    /// An earlier report: its scans and the observations it was built from, at its site;
    /// a fleet report's other sites come along as inputs of their own. The addresses of a
    /// version-1 or -2 report that answered nothing are summarised as ranges
    /// ([`super::unanswered`]).
    pub fn from_report(name: &str, report: Inventory) -> Self {
        let (mut scans, mut observations) = (report.scans, report.observations);
        super::unanswered::compact(&mut scans, &mut observations);
        Input {
            name: name.to_owned(),
            nested: report.inputs,
            scans,
            observations,
            site: report.site,
            verified: report.verified,
            sites: report
                .sites
                .into_iter()
                .map(|mut s| {
                    super::unanswered::compact(&mut s.scans, &mut s.observations);
                    s
                })
                .map(|s| Input {
                    name: name.to_owned(),
                    nested: Vec::new(),
                    scans: s.scans,
                    observations: s.observations,
                    site: Some(s.site),
                    verified: Vec::new(),
                    sites: Vec::new(),
                })
                .collect(),
        }
    }

    /// Observations from any other importer (a capture, a Zeek log, a CSV inventory).
    pub fn from_raw(name: &str, observations: Vec<Observation>) -> Self {
        Input {
            name: name.to_owned(),
            nested: Vec::new(),
            scans: Vec::new(),
            observations,
            site: None,
            verified: Vec::new(),
            sites: Vec::new(),
        }
    }
}

/// The merged inventory: what a report renders. Its field order is the report's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// Always [`REPORT_FORMAT`].
    pub format: String,
    /// [`REPORT_VERSION`] when merged by this build; 1 for an older report read back.
    pub version: u32,
    pub generated_at: DateTime<Utc>,
    /// The otscout version that merged it.
    pub otscout_version: String,
    /// The site this report covers, when it covers one (`--site` at scan or merge time).
    /// A fleet report (several sites) has none here: its assets name theirs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The names of the inputs, sorted.
    pub inputs: Vec<String>,
    /// The signed inputs whose signatures were checked before they were read (a fleet
    /// merge with `--trusted-keys`), sorted by file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verified: Vec<VerifiedInput>,
    pub summary: Summary,
    /// The scans whose results went in, with their ledgers of what was sent.
    pub scans: Vec<ScanMeta>,
    /// One per IP address, sorted by address.
    pub assets: Vec<Asset>,
    /// Serials and MACs seen at more than one address.
    pub links: Vec<Link>,
    /// Every observation that went in, sorted and deduplicated: the evidence, and what a
    /// later merge of this report folds again. In a fleet report: those of inputs that
    /// named no site; each site's are under `sites`. By reference in a version-4 report.
    #[serde(
        serialize_with = "super::tables::serialize_observations",
        deserialize_with = "super::tables::deserialize_observations"
    )]
    pub observations: Vec<Observation>,
    /// A fleet report's sites, sorted by name: each with its scans and observations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<SiteData>,
    /// Published advisories matched to the assets (`merge --csaf`; schema version 2). Not
    /// folded by a later merge: matches are made again from the advisories given then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisories: Option<super::advisory::Matches>,
}

/// One site of a fleet report: what a later merge folds again for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteData {
    pub site: String,
    pub scans: Vec<ScanMeta>,
    #[serde(
        serialize_with = "super::tables::serialize_observations",
        deserialize_with = "super::tables::deserialize_observations"
    )]
    pub observations: Vec<Observation>,
}

/// A signed input, checked before it was read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct VerifiedInput {
    /// The input's path as given.
    pub file: String,
    /// Its site, as the signed report names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The SHA-256 of the report's bytes.
    pub sha256: String,
    /// The minisign key id that verified it.
    pub key_id: String,
    /// The signature's trusted comment.
    pub trusted_comment: String,
}

/// Counts for the reader in a hurry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub assets: u64,
    /// Sub-assets (modules, units behind gateways), over all assets; not counted in
    /// `assets`, `identified` or `by_manufacturer` (schema version 4).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sub_assets: u64,
    /// Assets that told us who they are (an identity reply, active or passive).
    pub identified: u64,
    /// Fields with conflicting values, over all assets.
    pub conflicts: u64,
    /// Flags, over all assets.
    pub flags: u64,
    pub observations: u64,
    /// Assets per manufacturer (`unknown` when none is known).
    pub by_manufacturer: BTreeMap<String, u64>,
    /// Assets per site, in a fleet report.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_site: BTreeMap<String, u64>,
}

/// One asset: an IP address and everything known about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    /// The site, in a fleet report (a report of one site names it once, at the top).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// For an asset at `ip`: its address. For a sub-asset: its parent's address (the
    /// device that relayed the requests).
    pub ip: IpAddr,
    /// Only on a sub-asset: the protocol path from its parent to it (
    /// `cip:1/3` for backplane port 1 slot 3, `modbus:unit/7`, `s7:0/2` for rack 0 slot
    /// 2). Absent on an asset at an address of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_code: Option<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_type: Option<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criticality: Option<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpe_hardware: Option<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpe_firmware: Option<Field>,
    /// Everything else: declared CSV columns otscout has no field for, and identity
    /// details without a field of their own (S7 plant tag, boot loader, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Field>,
    /// The protocols it was seen speaking, either side.
    pub protocols: Vec<Protocol>,
    pub services: Vec<Service>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<Peer>,
    /// Security-relevant operations others performed on it (writes, control, program).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<Operation>,
    /// Negative answers, silences and suspicious replies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<Flag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
    /// What answered behind it (modules in a backplane, units behind a gateway, CPs in
    /// an S7 station), each with the same fields, sources and conflict rules as an
    /// asset, sorted by path (schema version 4). Never nested deeper than one level: a
    /// path of several hops (`cip:1/0,1/2`) names its own sub-asset of the asset at the
    /// first address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_assets: Vec<Asset>,
}

/// One field's value, the sources behind it, and the values that disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub value: String,
    pub sources: Vec<Source>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Alternative>,
}

/// A value that lost to [`Field::value`], with its sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alternative {
    pub value: String,
    pub sources: Vec<Source>,
}

/// What kind of source: a probe of ours, a capture or log, or a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Derived from the MAC's IEEE registration: the weakest.
    MacOui,
    Declared,
    Passive,
    Active,
}

impl SourceKind {
    /// The kind of a source with this provenance.
    pub fn of(p: &Provenance) -> Self {
        match p {
            Provenance::Active { .. } => SourceKind::Active,
            Provenance::Pcap { .. } | Provenance::Zeek { .. } => SourceKind::Passive,
            Provenance::Csv { .. } => SourceKind::Declared,
            Provenance::MacOui { .. } => SourceKind::MacOui,
        }
    }
}

/// One source of one value. Its JSON forms (inline, or by reference into a version-4
/// report's tables) are in [`super::tables`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Source {
    pub kind: SourceKind,
    pub provenance: Provenance,
    pub seen: Option<DateTime<Utc>>,
    /// Which part of the observation gave the value (`modbus object 0x00 VendorName`,
    /// `enip vendor_id 1`, `s7 szl 0x0011 index 0x0001`, `csv column vendor`, …).
    pub detail: String,
}

/// A service that answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub transport: Transport,
    pub port: u16,
    pub protocol: Protocol,
    pub sources: Vec<Source>,
}

/// Traffic with another endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub peer: IpAddr,
    pub protocol: Protocol,
    pub role: Role,
    pub count: u64,
    pub sources: Vec<Source>,
}

/// Security-relevant operations one actor performed on this asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// The actor's address; 0.0.0.0 when it was seen only on layer 2 (`actor_mac`).
    pub actor: IpAddr,
    /// The actor's MAC, when the actor was seen only on layer 2 (a PROFINET DCP Set
    /// from a station whose IP the capture never showed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_mac: Option<String>,
    pub protocol: Protocol,
    pub kind: OperationKind,
    pub function: String,
    pub count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<DateTime<Utc>>,
    pub sources: Vec<Source>,
}

/// A negative answer, a silence or a suspicious reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub protocol: Protocol,
    pub port: u16,
    pub detail: String,
    pub sources: Vec<Source>,
}

/// See [`Finding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Negative,
    NoAnswer,
    Suspicious,
}

/// Something about an asset that a person should look at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Flag {
    pub kind: FlagKind,
    /// The field concerned, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub detail: String,
}

/// See [`Flag`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    /// A declared (CSV) value disagrees with an observed one.
    DeclaredConflict,
    /// Observed values of a field disagree (a firmware update, two tools' readings).
    ObservedConflict,
    /// The address answered with another serial or MAC: another device now uses it.
    AddressReused,
    /// The asset's serial was seen at other addresses: one device that moved, or has
    /// several interfaces.
    SameSerialElsewhere,
    /// The asset's MAC was seen at other addresses.
    SameMacElsewhere,
    /// Someone wrote to it, changed its run state or moved program blocks.
    Operations,
}

/// One serial or MAC at several addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The site, in a fleet report: links are found within a site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    pub kind: LinkKind,
    pub value: String,
    pub ips: Vec<IpAddr>,
}

/// See [`Link`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    SameSerial,
    SameMac,
}

/// A field of an [`Asset`], named by type so a misspelt field cannot compile (and drop
/// its data silently). [`AssetField::name`] is the field's name in the report JSON (the
/// serde name of the [`Asset`] member), its CSV column and its flags' `field`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetField {
    Mac,
    Hostname,
    Manufacturer,
    Model,
    ProductName,
    ProductCode,
    Family,
    DeviceType,
    Firmware,
    Os,
    Serial,
    Role,
    Criticality,
    Location,
    Owner,
    Zone,
    CpeHardware,
    CpeFirmware,
}

impl AssetField {
    /// Every field, in report order (the CPE names last).
    pub const ALL: [AssetField; 18] = [
        AssetField::Mac,
        AssetField::Hostname,
        AssetField::Manufacturer,
        AssetField::Model,
        AssetField::ProductName,
        AssetField::ProductCode,
        AssetField::Family,
        AssetField::DeviceType,
        AssetField::Firmware,
        AssetField::Os,
        AssetField::Serial,
        AssetField::Role,
        AssetField::Criticality,
        AssetField::Location,
        AssetField::Owner,
        AssetField::Zone,
        AssetField::CpeHardware,
        AssetField::CpeFirmware,
    ];

    /// The fields merge resolves from candidates, in report order: all but the CPE
    /// names, which are derived from the resolved manufacturer, model and firmware.
    const MERGED: [AssetField; 16] = [
        AssetField::Mac,
        AssetField::Hostname,
        AssetField::Manufacturer,
        AssetField::Model,
        AssetField::ProductName,
        AssetField::ProductCode,
        AssetField::Family,
        AssetField::DeviceType,
        AssetField::Firmware,
        AssetField::Os,
        AssetField::Serial,
        AssetField::Role,
        AssetField::Criticality,
        AssetField::Location,
        AssetField::Owner,
        AssetField::Zone,
    ];

    /// The field's name in the report (snake_case, as serde writes the [`Asset`] member).
    pub fn name(self) -> &'static str {
        match self {
            AssetField::Mac => "mac",
            AssetField::Hostname => "hostname",
            AssetField::Manufacturer => "manufacturer",
            AssetField::Model => "model",
            AssetField::ProductName => "product_name",
            AssetField::ProductCode => "product_code",
            AssetField::Family => "family",
            AssetField::DeviceType => "device_type",
            AssetField::Firmware => "firmware",
            AssetField::Os => "os",
            AssetField::Serial => "serial",
            AssetField::Role => "role",
            AssetField::Criticality => "criticality",
            AssetField::Location => "location",
            AssetField::Owner => "owner",
            AssetField::Zone => "zone",
            AssetField::CpeHardware => "cpe_hardware",
            AssetField::CpeFirmware => "cpe_firmware",
        }
    }

    /// The field with this report name (exactly as [`AssetField::name`] writes it), for
    /// names that come from outside (a column list, a command line).
    pub fn from_name(name: &str) -> Option<AssetField> {
        AssetField::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Fields the network cannot know: a declared value wins.
    fn declared_first(self) -> bool {
        matches!(
            self,
            AssetField::Role
                | AssetField::Criticality
                | AssetField::Location
                | AssetField::Owner
                | AssetField::Zone
        )
    }
}

impl std::fmt::Display for AssetField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A CSV column name to the asset field it fills (lowercase; `None`: an attribute).
fn declared_field(attribute: &str) -> Option<AssetField> {
    let a = attribute
        .trim()
        .to_ascii_lowercase()
        .replace([' ', '-'], "_");
    let f = match a.as_str() {
        "mac" | "mac_address" => AssetField::Mac,
        "hostname" | "host" | "name" | "host_name" => AssetField::Hostname,
        "vendor" | "manufacturer" | "make" => AssetField::Manufacturer,
        "model" => AssetField::Model,
        "product" | "product_name" => AssetField::ProductName,
        "product_code" => AssetField::ProductCode,
        "family" => AssetField::Family,
        "type" | "device_type" | "asset_type" => AssetField::DeviceType,
        "firmware" | "firmware_version" | "version" => AssetField::Firmware,
        "os" | "operating_system" => AssetField::Os,
        "serial" | "serial_number" => AssetField::Serial,
        "role" | "function" => AssetField::Role,
        "criticality" => AssetField::Criticality,
        "location" | "site" | "physical_location" => AssetField::Location,
        "owner" => AssetField::Owner,
        "zone" => AssetField::Zone,
        _ => return None,
    };
    Some(f)
}

#[derive(Debug, Clone)]
struct Candidate {
    value: String,
    source: Source,
}

#[derive(Debug, Default)]
pub(super) struct Builder {
    fields: BTreeMap<AssetField, Vec<Candidate>>,
    attributes: BTreeMap<String, Vec<Candidate>>,
    services: BTreeMap<(Transport, u16, Protocol), BTreeSet<Source>>,
    peers: BTreeMap<(IpAddr, Protocol, Role), (u64, BTreeSet<Source>)>,
    /// Keyed by actor (address, and MAC for a layer-2 actor), protocol, kind, name.
    operations: BTreeMap<(IpAddr, Option<String>, Protocol, OperationKind, String), OpAcc>,
    findings: BTreeMap<(FindingKind, Protocol, u16, String), BTreeSet<Source>>,
    protocols: BTreeSet<Protocol>,
    /// Modbus ProductCodes, the model only when no source names one (ModelName, an
    /// ENIP product name, an S7 order number): a basic-objects-only capture must not
    /// contradict a scan that read the ModelName.
    model_fallback: Vec<Candidate>,
    /// Other fields' values used only when no source names one
    /// ([`IdentityFact::FieldFallback`]).
    field_fallback: BTreeMap<AssetField, Vec<Candidate>>,
    first_seen: Option<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct OpAcc {
    count: u64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    sources: BTreeSet<Source>,
}

impl Builder {
    fn field(&mut self, name: AssetField, value: &str, source: &Source) {
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        self.fields.entry(name).or_default().push(Candidate {
            value: value.to_owned(),
            source: source.clone(),
        });
    }

    fn attribute(&mut self, name: &str, value: &str, source: &Source) {
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        self.attributes
            .entry(name.to_owned())
            .or_default()
            .push(Candidate {
                value: value.to_owned(),
                source: source.clone(),
            });
    }
}

fn min_opt(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    a.max(b)
}

/// Folds the inputs into one inventory. Pure: the same inputs in any order give the same
/// value; `generated_at` is the only time that does not come from the inputs.
pub fn merge(inputs: &[Input], generated_at: DateTime<Utc>) -> Inventory {
    merge_with(inputs, generated_at, &MergeOptions::default())
}

/// One site's share of the inputs.
#[derive(Debug, Default)]
struct SiteInputs {
    scans: Vec<ScanMeta>,
    observations: BTreeMap<(IpAddr, String), Observation>,
}

/// [`merge`], with options. Inputs of several sites make a fleet report: assets are keyed
/// by site and address (two plants may both have a 10.0.0.5), links are found within a
/// site, and each site's evidence is kept apart for a later merge.
pub fn merge_with(inputs: &[Input], generated_at: DateTime<Utc>, opts: &MergeOptions) -> Inventory {
    let mut names = BTreeSet::new();
    let mut verified = BTreeSet::new();
    let mut by_site: BTreeMap<Option<String>, SiteInputs> = BTreeMap::new();
    let flat = || {
        inputs
            .iter()
            .flat_map(|i| std::iter::once(i).chain(&i.sites))
    };
    // An input that names no site belongs to `--site`, else to the one site the others
    // name (a capture merged with a site's scan result is that site's).
    let named: BTreeSet<&String> = flat().filter_map(|i| i.site.as_ref()).collect();
    let default_site = opts.site.clone().or_else(|| match named.len() {
        1 => named.first().map(|s| (*s).clone()),
        _ => None,
    });
    for input in flat() {
        names.insert(input.name.clone());
        names.extend(input.nested.iter().cloned());
        verified.extend(input.verified.iter().cloned());
        let site = input.site.clone().or_else(|| default_site.clone());
        let group = by_site.entry(site).or_default();
        group.scans.extend(input.scans.iter().cloned());
        for o in &input.observations {
            // The canonical JSON of an observation is its sort key and dedup key: two
            // inputs that carry the same observation (a scan and a report built from it)
            // count it once.
            let key = serde_json::to_string(o).unwrap_or_default();
            group
                .observations
                .entry((o.ip, key))
                .or_insert_with(|| o.clone());
        }
    }
    let fleet = by_site.len() > 1;
    let mut own_site = None;
    let mut own_scans = Vec::new();
    let mut own_observations = Vec::new();
    let mut sites = Vec::new();
    let mut assets: Vec<Asset> = Vec::new();
    let mut links: Vec<Link> = Vec::new();
    let mut total_observations = 0u64;
    for (site, group) in by_site {
        let scans = dedup_scans(group.scans);
        let observations: Vec<Observation> = group.observations.into_values().collect();
        total_observations += observations.len() as u64;
        let asset_site = if fleet { site.clone() } else { None };
        let mut site_assets = build_assets(&observations, asset_site.as_ref());
        for mut l in link(&mut site_assets) {
            l.site = asset_site.clone();
            links.push(l);
        }
        assets.extend(site_assets);
        match site {
            Some(name) if fleet => sites.push(SiteData {
                site: name,
                scans,
                observations,
            }),
            site => {
                own_site = site;
                own_scans = scans;
                own_observations = observations;
            }
        }
    }

    let summary = summarize(&assets, total_observations as usize);

    Inventory {
        format: REPORT_FORMAT.to_owned(),
        version: REPORT_VERSION,
        generated_at,
        otscout_version: env!("CARGO_PKG_VERSION").to_owned(),
        site: own_site,
        inputs: names.into_iter().collect(),
        verified: verified.into_iter().collect(),
        summary,
        scans: own_scans,
        assets,
        links,
        observations: own_observations,
        sites,
        advisories: None,
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The summary of these assets (and an evidence list this long): what merge writes, and
/// what a report read back must agree with.
pub fn summarize(assets: &[Asset], observations: usize) -> Summary {
    let mut summary = Summary {
        assets: assets.len() as u64,
        observations: observations as u64,
        ..Summary::default()
    };
    for a in assets {
        summary.sub_assets += a.sub_assets.len() as u64;
        // A module's conflicts and flags are as much a person's business as its parent's.
        for sub in &a.sub_assets {
            summary.conflicts += sub
                .fields()
                .filter(|(_, f)| !f.conflicts.is_empty())
                .count() as u64;
            summary.flags += sub.flags.len() as u64;
        }
        if a.identified() {
            summary.identified += 1;
        }
        summary.conflicts += a.fields().filter(|(_, f)| !f.conflicts.is_empty()).count() as u64;
        summary.flags += a.flags.len() as u64;
        let m = a
            .manufacturer
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), |f| f.value.clone());
        *summary.by_manufacturer.entry(m).or_default() += 1;
        if let Some(site) = &a.site {
            *summary.by_site.entry(site.clone()).or_default() += 1;
        }
    }
    summary
}

/// One site's assets from its observations.
fn build_assets(observations: &[Observation], site: Option<&String>) -> Vec<Asset> {
    // Facts about stations known only by MAC join the addresses that hold the MAC on the
    // local link, or make assets of their own after these ([`super::mac`]).
    let (observations, stations) = super::mac::join(observations);
    let observations = &observations[..];
    // An address that only ever failed to answer (refused, timed out before connecting,
    // left alone by the breaker) is scope that was scanned, not an asset: its observations
    // stay in the evidence and the scan's host outcomes, but it gets no asset row.
    let answered: BTreeSet<IpAddr> = observations
        .iter()
        .filter(|o| !matches!(o.fact, Fact::NoAnswer { .. }))
        .map(|o| o.ip)
        .collect();
    let gateways = Gateways::of(observations);
    // Keyed by address and sub-asset path (`None`: the asset at the address itself).
    let mut builders: BTreeMap<(IpAddr, Option<String>), Builder> = BTreeMap::new();
    for o in observations.iter().filter(|o| answered.contains(&o.ip)) {
        builders.entry((o.ip, None)).or_default();
        fold(builders.entry((o.ip, gateways.path_of(o))).or_default(), o);
    }
    let mut assets: Vec<Asset> = Vec::new();
    for ((ip, path), b) in builders {
        let mut a = build_asset(ip, b);
        a.site = site.cloned();
        match path {
            None => assets.push(a),
            Some(path) => {
                a.path = Some(path);
                // The parent was built first: (ip, None) sorts before (ip, Some(_)).
                if let Some(parent) = assets.last_mut().filter(|p| p.ip == ip) {
                    parent.sub_assets.push(a);
                }
            }
        }
    }
    for a in &mut assets {
        a.sub_assets
            .sort_by_cached_key(|x| path_order(x.path.as_deref()));
    }
    assets.extend(super::mac::station_assets(&stations, site));
    assets
}

/// A sub-asset path's sort key: text, with each run of digits compared as a number (slot
/// 2 before slot 10).
pub(super) fn path_order(path: Option<&str>) -> Vec<(String, u64)> {
    // A BACnet MAC is hex: by network, then MAC length, then MAC value (`bacnet:3/0a`
    // after `bacnet:3/09`).
    if let Some((net, mac)) = path
        .and_then(|p| p.strip_prefix("bacnet:"))
        .and_then(|r| r.split_once('/'))
    {
        if let (Ok(n), Ok(m)) = (net.parse::<u64>(), u64::from_str_radix(mac, 16)) {
            return vec![
                ("bacnet:".into(), n),
                (format!("/{}", mac.len()), m),
                (String::new(), u64::MAX),
            ];
        }
    }
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = path.unwrap_or_default().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let mut n = u64::from(c as u8 - b'0');
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                n = n
                    .saturating_mul(10)
                    .saturating_add(u64::from(*d as u8 - b'0'));
                chars.next();
            }
            out.push((std::mem::take(&mut text), n));
        } else {
            text.push(c);
        }
    }
    out.push((text, u64::MAX));
    out
}

/// Addresses that answered for several devices behind them in a protocol that addresses
/// them without a route path of its own: a Modbus gateway answering identities for
/// several unit ids, an S7 station answering identities through several called TSAPs
/// (rack and slot). An identity there belongs to the sub-asset at its unit or rack and
/// slot. One device answering at one unit id or TSAP, or at several without contradicting
/// itself (a plain Modbus server answers any unit id; one read may return only the basic
/// objects, another the regular ones), stays the address's own. Which identities are
/// read that way, and their paths, the protocol says ([`super::Identity::behind`]).
#[derive(Debug, Default)]
struct Gateways {
    several: BTreeSet<(Protocol, IpAddr)>,
}

impl Gateways {
    fn of(observations: &[Observation]) -> Self {
        // (protocol, address) -> unit/TSAP -> what each identity read there said
        type Said = BTreeMap<String, String>;
        let mut by: BTreeMap<(Protocol, IpAddr), BTreeMap<u32, Vec<Said>>> = BTreeMap::new();
        for o in observations.iter().filter(|o| o.path.is_none()) {
            let Fact::Identity { identity } = &o.fact else {
                continue;
            };
            let Some(behind) = identity.behind() else {
                continue;
            };
            by.entry((identity.protocol(), o.ip))
                .or_default()
                .entry(behind.via)
                .or_default()
                .push(behind.said);
        }
        // Two readings contradict when a member both name has different values: a read of
        // the basic objects and a read of the regular ones of one device do not.
        fn contradict(a: &Said, b: &Said) -> bool {
            a.iter().any(|(k, v)| b.get(k).is_some_and(|w| w != v))
        }
        let several = by
            .into_iter()
            .filter(|(_, by)| {
                let units: Vec<&Vec<Said>> = by.values().collect();
                units.iter().enumerate().any(|(i, x)| {
                    units[i + 1..]
                        .iter()
                        .any(|y| x.iter().any(|a| y.iter().any(|b| contradict(a, b))))
                })
            })
            .map(|(key, _)| key)
            .collect();
        Gateways { several }
    }

    /// The path of the sub-asset `o` is about, `None` for the address's own facts.
    fn path_of(&self, o: &Observation) -> Option<String> {
        if o.path.is_some() {
            return o.path.clone();
        }
        let Fact::Identity { identity } = &o.fact else {
            return None;
        };
        // A device behind a router of its protocol (a BACnet NPDU SNET/SADR) is the
        // router's sub-asset whatever else the address answered.
        if let Some(p) = identity.route_path() {
            return Some(p);
        }
        if !self.several.contains(&(identity.protocol(), o.ip)) {
            return None;
        }
        identity.behind().and_then(|b| b.path)
    }
}

/// Scans sorted by id; the same scan carried by two inputs counts once.
fn dedup_scans(scans: Vec<ScanMeta>) -> Vec<ScanMeta> {
    let mut by_key: BTreeMap<(String, String), ScanMeta> = BTreeMap::new();
    for s in scans {
        let json = serde_json::to_string(&s).unwrap_or_default();
        by_key.entry((s.scan_id.clone(), json)).or_insert(s);
    }
    by_key.into_values().collect()
}

pub(super) fn fold(b: &mut Builder, o: &Observation) {
    b.first_seen = min_opt(b.first_seen, o.seen);
    b.last_seen = max_opt(b.last_seen, o.seen);
    let src = |detail: String| Source {
        kind: SourceKind::of(&o.provenance),
        provenance: o.provenance.clone(),
        seen: o.seen,
        detail,
    };
    match &o.fact {
        Fact::Identity { identity } => {
            b.protocols.insert(identity.protocol());
            for fact in identity.facts(o.seen) {
                match fact {
                    IdentityFact::Field {
                        field,
                        value,
                        detail,
                    } => b.field(field, &value, &src(detail)),
                    IdentityFact::ModelFallback { value, detail } => {
                        let value = value.trim();
                        if !value.is_empty() {
                            b.model_fallback.push(Candidate {
                                value: value.to_owned(),
                                source: src(detail),
                            });
                        }
                    }
                    IdentityFact::FieldFallback {
                        field,
                        value,
                        detail,
                    } => {
                        let value = value.trim();
                        if !value.is_empty() {
                            b.field_fallback.entry(field).or_default().push(Candidate {
                                value: value.to_owned(),
                                source: src(detail),
                            });
                        }
                    }
                    IdentityFact::Attribute {
                        name,
                        value,
                        detail,
                    } => b.attribute(&name, &value, &src(detail)),
                }
            }
        }
        Fact::Service {
            transport,
            port,
            protocol,
        } => {
            b.protocols.insert(*protocol);
            b.services
                .entry((*transport, *port, *protocol))
                .or_default()
                .insert(src(format!("service {protocol:?} on {port}").to_lowercase()));
        }
        Fact::Mac { mac, basis } => {
            let value = normalize::mac(mac).unwrap_or_else(|| mac.clone());
            let detail = format!("mac ({})", mac_basis(*basis));
            if *basis == MacBasis::EthernetRouted {
                // A routed frame's Ethernet source is a router's: never this asset's MAC.
                b.attribute("router_mac", &value, &src(detail));
            } else {
                b.field(AssetField::Mac, &value, &src(detail));
            }
        }
        Fact::Negative {
            protocol,
            port,
            answer,
        } => {
            b.protocols.insert(*protocol);
            b.findings
                .entry((FindingKind::Negative, *protocol, *port, answer.clone()))
                .or_default()
                .insert(src("negative answer".to_owned()));
        }
        Fact::NoIdentity {
            protocol,
            port,
            answer,
        } => {
            // The report lists it with the negative answers (its text says what it is):
            // the device is there, but no identity field comes from it.
            b.protocols.insert(*protocol);
            b.findings
                .entry((FindingKind::Negative, *protocol, *port, answer.clone()))
                .or_default()
                .insert(src("answered, no identity objects".to_owned()));
        }
        Fact::NoAnswer {
            protocol,
            port,
            outcome,
        } => {
            let detail = serde_json::to_value(outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            b.findings
                .entry((FindingKind::NoAnswer, *protocol, *port, detail))
                .or_default()
                .insert(src("no answer".to_owned()));
        }
        Fact::Suspicious {
            protocol,
            port,
            reason,
        } => {
            b.findings
                .entry((FindingKind::Suspicious, *protocol, *port, reason.clone()))
                .or_default()
                .insert(src("suspicious reply".to_owned()));
        }
        Fact::Peer {
            peer,
            protocol,
            role,
            count,
        } => {
            b.protocols.insert(*protocol);
            let e = b.peers.entry((*peer, *protocol, *role)).or_default();
            e.0 = e.0.saturating_add(*count);
            e.1.insert(src("traffic".to_owned()));
        }
        Fact::Operation {
            actor,
            protocol,
            kind,
            function,
            count,
            first,
            last,
        } => {
            b.protocols.insert(*protocol);
            let e = b
                .operations
                .entry((
                    *actor,
                    None,
                    *protocol,
                    *kind,
                    operation_name(*protocol, function),
                ))
                .or_default();
            e.count = e.count.saturating_add(*count);
            e.first = min_opt(e.first, *first);
            e.last = max_opt(e.last, *last);
            e.sources.insert(src("operation".to_owned()));
        }
        Fact::LinkOperation {
            actor_mac,
            protocol,
            kind,
            function,
            count,
            first,
            last,
        } => {
            b.protocols.insert(*protocol);
            let e = b
                .operations
                .entry((
                    super::UNSPECIFIED_IP,
                    Some(actor_mac.clone()),
                    *protocol,
                    *kind,
                    operation_name(*protocol, function),
                ))
                .or_default();
            e.count = e.count.saturating_add(*count);
            e.first = min_opt(e.first, *first);
            e.last = max_opt(e.last, *last);
            e.sources.insert(src("operation".to_owned()));
        }
        Fact::Declared { attribute, value } => {
            let s = src(format!("declared {}", attribute.trim()));
            match declared_field(attribute) {
                Some(AssetField::Manufacturer) => {
                    b.field(AssetField::Manufacturer, &normalize::vendor_name(value), &s)
                }
                Some(AssetField::Firmware) => {
                    b.field(AssetField::Firmware, &normalize::firmware(value), &s)
                }
                Some(AssetField::Mac) => {
                    let v = normalize::mac(value).unwrap_or_else(|| value.clone());
                    b.field(AssetField::Mac, &v, &s);
                }
                Some(f) => b.field(f, value, &s),
                None => b.attribute(&attribute.trim().to_ascii_lowercase(), value, &s),
            }
        }
    }
}

fn mac_basis(b: MacBasis) -> &'static str {
    match b {
        MacBasis::EthernetLocal => "ethernet source, local link",
        MacBasis::EthernetRouted => "ethernet source, routed",
        MacBasis::Arp => "arp",
        MacBasis::Declared => "declared",
        MacBasis::Reported => "reported by the device",
    }
}

/// The rank of a source for a field: higher wins.
fn rank(s: &Source, declared_first: bool) -> (bool, i64, SourceKind) {
    let declared = s.kind == SourceKind::Declared;
    // Observed values are compared to the whole second: "the same age".
    let secs = s.seen.map_or(i64::MIN, |t| t.timestamp());
    (declared == declared_first, secs, s.kind)
}

/// Resolves one field's candidates; also says whether a declared value disagreed with
/// an observed one, and whether observed values disagreed among themselves.
fn resolve(cands: Vec<Candidate>, declared_first: bool) -> Option<(Field, bool, bool)> {
    // key → (value spelling from the best source, sources)
    let mut groups: BTreeMap<String, BTreeSet<Source>> = BTreeMap::new();
    let mut spelling: BTreeMap<String, (Source, String)> = BTreeMap::new();
    for c in cands {
        let key = normalize::compare_key(&c.value);
        let better = match spelling.get(&key) {
            None => true,
            Some((s, v)) => {
                (rank(&c.source, declared_first), &c.source, &c.value)
                    > (rank(s, declared_first), s, v)
            }
        };
        if better {
            spelling.insert(key.clone(), (c.source.clone(), c.value.clone()));
        }
        groups.entry(key).or_default().insert(c.source);
    }
    let mut ranked: Vec<(_, String, BTreeSet<Source>)> = groups
        .into_iter()
        .map(|(key, sources)| {
            let best = sources
                .iter()
                .map(|s| rank(s, declared_first))
                .max()
                .unwrap_or((false, i64::MIN, SourceKind::Declared));
            let value = spelling.get(&key).map(|(_, v)| v.clone()).unwrap_or(key);
            (best, value, sources)
        })
        .collect();
    // Best first; ties broken by the value so the order never depends on the input's.
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut it = ranked.into_iter();
    let (_, value, sources) = it.next()?;
    let conflicts: Vec<Alternative> = it
        .map(|(_, value, sources)| Alternative {
            value,
            sources: sources.into_iter().collect(),
        })
        .collect();
    let kinds = |ss: &[Source]| -> (bool, bool) {
        (
            ss.iter().any(|s| s.kind == SourceKind::Declared),
            ss.iter().any(|s| s.kind != SourceKind::Declared),
        )
    };
    let winner: Vec<Source> = sources.into_iter().collect();
    let (w_decl, w_obs) = kinds(&winner);
    let mut declared_conflict = false;
    let mut observed_conflict = false;
    for alt in &conflicts {
        let (a_decl, a_obs) = kinds(&alt.sources);
        if (a_decl && w_obs) || (a_obs && w_decl) {
            declared_conflict = true;
        }
        if a_obs && w_obs {
            observed_conflict = true;
        }
    }
    Some((
        Field {
            value,
            sources: winner,
            conflicts,
        },
        declared_conflict,
        observed_conflict,
    ))
}

fn describe_conflict(f: &Field) -> String {
    let others: Vec<&str> = f.conflicts.iter().map(|a| a.value.as_str()).collect();
    format!("{} (also: {})", f.value, others.join(", "))
}

pub(super) fn build_asset(ip: IpAddr, mut b: Builder) -> Asset {
    if !b.fields.contains_key(&AssetField::Model) && !b.model_fallback.is_empty() {
        let fallback = std::mem::take(&mut b.model_fallback);
        b.fields.insert(AssetField::Model, fallback);
    }
    for (field, fallback) in std::mem::take(&mut b.field_fallback) {
        b.fields.entry(field).or_insert(fallback);
    }
    let mut resolved: BTreeMap<AssetField, Field> = BTreeMap::new();
    let mut flags = BTreeSet::new();
    for name in AssetField::MERGED {
        let Some(cands) = b.fields.remove(&name) else {
            continue;
        };
        let Some((field, declared, observed)) = resolve(cands, name.declared_first()) else {
            continue;
        };
        if declared {
            flags.insert(Flag {
                kind: FlagKind::DeclaredConflict,
                field: Some(name.name().to_owned()),
                detail: format!(
                    "declared and observed {name} differ: {}",
                    describe_conflict(&field)
                ),
            });
        }
        if observed {
            let (kind, what) = if matches!(name, AssetField::Serial | AssetField::Mac) {
                (
                    FlagKind::AddressReused,
                    "another device answered at this address",
                )
            } else {
                (FlagKind::ObservedConflict, "observed values differ")
            };
            flags.insert(Flag {
                kind,
                field: Some(name.name().to_owned()),
                detail: format!("{what}: {name} {}", describe_conflict(&field)),
            });
        }
        resolved.insert(name, field);
    }
    let attributes: BTreeMap<String, Field> = std::mem::take(&mut b.attributes)
        .into_iter()
        .filter_map(|(k, c)| resolve(c, true).map(|(f, _, _)| (k, f)))
        .collect();

    let (cpe_hardware, cpe_firmware) = match (
        resolved.get(&AssetField::Manufacturer),
        resolved.get(&AssetField::Model),
    ) {
        (Some(v), Some(m)) => {
            let mut srcs: BTreeSet<Source> = v.sources.iter().chain(&m.sources).cloned().collect();
            let hw = normalize::cpe_hardware(&v.value, &m.value).map(|value| Field {
                value,
                sources: srcs.iter().cloned().collect(),
                conflicts: Vec::new(),
            });
            let fw = resolved.get(&AssetField::Firmware);
            if let Some(f) = fw {
                srcs.extend(f.sources.iter().cloned());
            }
            let fw = normalize::cpe_firmware(&v.value, &m.value, fw.map(|f| f.value.as_str())).map(
                |value| Field {
                    value,
                    sources: srcs.into_iter().collect(),
                    conflicts: Vec::new(),
                },
            );
            (hw, fw)
        }
        _ => (None, None),
    };
    // The MAC's registered maker, only when nothing else names one (and after the CPE
    // names, which an interface maker must not shape).
    if !resolved.contains_key(&AssetField::Manufacturer) {
        if let Some(v) = resolved
            .get(&AssetField::Mac)
            .and_then(|m| oui::lookup(&m.value).ok())
        {
            let mac = resolved
                .get(&AssetField::Mac)
                .map(|m| m.value.clone())
                .unwrap_or_default();
            resolved.insert(
                AssetField::Manufacturer,
                Field {
                    value: normalize::vendor_name(&v.organization),
                    sources: vec![Source {
                        kind: SourceKind::MacOui,
                        provenance: Provenance::MacOui {
                            oui: v.prefix.clone(),
                            registry: v.registry.to_owned(),
                        },
                        seen: None,
                        detail: format!("mac {mac} prefix {} ({})", v.prefix, v.organization),
                    }],
                    conflicts: Vec::new(),
                },
            );
        }
    }

    let operations: Vec<Operation> = b
        .operations
        .into_iter()
        .map(
            |((actor, actor_mac, protocol, kind, function), acc)| Operation {
                actor,
                actor_mac,
                protocol,
                kind,
                function,
                count: acc.count,
                first: acc.first,
                last: acc.last,
                sources: acc.sources.into_iter().collect(),
            },
        )
        .collect();
    if !operations.is_empty() {
        let total: u64 = operations.iter().map(|o| o.count).sum();
        let actors: BTreeSet<String> = operations.iter().map(Operation::actor_label).collect();
        let actors: Vec<String> = actors.into_iter().collect();
        flags.insert(Flag {
            kind: FlagKind::Operations,
            field: None,
            detail: format!(
                "{total} write/control/program operations by {}",
                actors.join(", ")
            ),
        });
    }

    let mut take = |n: AssetField| resolved.remove(&n);
    Asset {
        site: None,
        ip,
        mac: take(AssetField::Mac),
        hostname: take(AssetField::Hostname),
        manufacturer: take(AssetField::Manufacturer),
        model: take(AssetField::Model),
        product_name: take(AssetField::ProductName),
        product_code: take(AssetField::ProductCode),
        family: take(AssetField::Family),
        device_type: take(AssetField::DeviceType),
        firmware: take(AssetField::Firmware),
        os: take(AssetField::Os),
        serial: take(AssetField::Serial),
        role: take(AssetField::Role),
        criticality: take(AssetField::Criticality),
        location: take(AssetField::Location),
        owner: take(AssetField::Owner),
        zone: take(AssetField::Zone),
        cpe_hardware,
        cpe_firmware,
        attributes,
        protocols: b.protocols.into_iter().collect(),
        services: b
            .services
            .into_iter()
            .map(|((transport, port, protocol), s)| Service {
                transport,
                port,
                protocol,
                sources: s.into_iter().collect(),
            })
            .collect(),
        peers: b
            .peers
            .into_iter()
            .map(|((peer, protocol, role), (count, s))| Peer {
                peer,
                protocol,
                role,
                count,
                sources: s.into_iter().collect(),
            })
            .collect(),
        operations,
        findings: b
            .findings
            .into_iter()
            .map(|((kind, protocol, port, detail), s)| Finding {
                kind,
                protocol,
                port,
                detail,
                sources: s.into_iter().collect(),
            })
            .collect(),
        flags: flags.into_iter().collect(),
        first_seen: b.first_seen,
        last_seen: b.last_seen,
        path: None,
        sub_assets: Vec::new(),
    }
}

/// Finds serials and MACs at several addresses, flags the assets and returns the links.
fn link(assets: &mut [Asset]) -> Vec<Link> {
    let mut by: BTreeMap<(LinkKind, String), (String, BTreeSet<IpAddr>)> = BTreeMap::new();
    // Links are between addresses: a MAC-only asset has none (`super::mac`).
    for a in assets.iter().filter(|a| !a.mac_only()) {
        for (kind, f) in [
            (LinkKind::SameSerial, &a.serial),
            (LinkKind::SameMac, &a.mac),
        ] {
            if let Some(f) = f {
                let e = by
                    .entry((kind, normalize::compare_key(&f.value)))
                    .or_insert_with(|| (f.value.clone(), BTreeSet::new()));
                e.1.insert(a.ip);
            }
        }
    }
    let links: Vec<Link> = by
        .into_iter()
        .filter(|(_, (_, ips))| ips.len() > 1)
        .map(|((kind, _), (value, ips))| Link {
            site: None,
            kind,
            value,
            ips: ips.into_iter().collect(),
        })
        .collect();
    for l in &links {
        for a in assets.iter_mut() {
            if !l.ips.contains(&a.ip) {
                continue;
            }
            let others: Vec<String> = l
                .ips
                .iter()
                .filter(|ip| **ip != a.ip)
                .map(IpAddr::to_string)
                .collect();
            let (kind, field, what) = match l.kind {
                LinkKind::SameSerial => (
                    FlagKind::SameSerialElsewhere,
                    "serial",
                    "one device that moved or has several interfaces",
                ),
                LinkKind::SameMac => (
                    FlagKind::SameMacElsewhere,
                    "mac",
                    "one interface at several addresses",
                ),
            };
            a.flags.push(Flag {
                kind,
                field: Some(field.to_owned()),
                detail: format!("{field} {} also at {} ({what})", l.value, others.join(", ")),
            });
            a.flags.sort();
        }
    }
    links
}

impl Asset {
    /// One field, if known.
    pub fn field(&self, field: AssetField) -> Option<&Field> {
        match field {
            AssetField::Mac => &self.mac,
            AssetField::Hostname => &self.hostname,
            AssetField::Manufacturer => &self.manufacturer,
            AssetField::Model => &self.model,
            AssetField::ProductName => &self.product_name,
            AssetField::ProductCode => &self.product_code,
            AssetField::Family => &self.family,
            AssetField::DeviceType => &self.device_type,
            AssetField::Firmware => &self.firmware,
            AssetField::Os => &self.os,
            AssetField::Serial => &self.serial,
            AssetField::Role => &self.role,
            AssetField::Criticality => &self.criticality,
            AssetField::Location => &self.location,
            AssetField::Owner => &self.owner,
            AssetField::Zone => &self.zone,
            AssetField::CpeHardware => &self.cpe_hardware,
            AssetField::CpeFirmware => &self.cpe_firmware,
        }
        .as_ref()
    }

    /// The known fields, in report order (CPE names included).
    pub fn fields(&self) -> impl Iterator<Item = (AssetField, &Field)> {
        AssetField::ALL
            .into_iter()
            .filter_map(|n| self.field(n).map(|f| (n, f)))
    }

    /// The value of a field, if known.
    pub fn value(&self, field: AssetField) -> Option<&str> {
        self.field(field).map(|f| f.value.as_str())
    }

    /// The value of a field named from outside (a CSV column, a command line), if it is
    /// an asset field and known.
    pub fn value_by_name(&self, name: &str) -> Option<&str> {
        AssetField::from_name(name).and_then(|f| self.value(f))
    }

    /// Whether any identity (vendor, model or serial from the device itself) is known.
    pub fn identified(&self) -> bool {
        [&self.manufacturer, &self.model, &self.serial]
            .into_iter()
            .flatten()
            .any(|f| {
                f.sources
                    .iter()
                    .any(|s| matches!(s.kind, SourceKind::Active | SourceKind::Passive))
            })
    }

    /// Services as `tcp/502 modbus` strings, sorted.
    pub fn service_names(&self) -> Vec<String> {
        self.services
            .iter()
            .map(|s| {
                let proto = serde_json::to_value(s.protocol)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let t = match s.transport {
                    Transport::Tcp => "tcp",
                    Transport::Udp => "udp",
                };
                format!("{t}/{} {proto}", s.port)
            })
            .collect()
    }
}

/// The snake_case name of a protocol, as in the JSON.
pub fn protocol_name(p: Protocol) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each field's name is the serde name of the `Asset` member `Asset::field` reads
    /// (the report JSON cannot drift from the enum), and names round-trip.
    #[test]
    fn asset_field_names_are_the_report_members() {
        let mut json = serde_json::json!({ "ip": "10.0.0.1", "protocols": [], "services": [] });
        for f in AssetField::ALL {
            json[f.name()] = serde_json::json!({ "value": f.name(), "sources": [] });
        }
        let a: Asset = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("an asset with every field: {e}: {json}"));
        for f in AssetField::ALL {
            assert_eq!(a.value(f), Some(f.name()), "{f:?}");
            assert_eq!(AssetField::from_name(f.name()), Some(f));
            assert_eq!(serde_json::to_value(f).unwrap(), f.name());
            assert_eq!(a.value_by_name(f.name()), Some(f.name()));
        }
        assert_eq!(a.fields().count(), AssetField::ALL.len());
        assert_eq!(AssetField::from_name("vendor"), None);
        // Every field but the two derived CPE names is merged from candidates.
        let merged: Vec<AssetField> = AssetField::ALL
            .into_iter()
            .filter(|f| !matches!(f, AssetField::CpeHardware | AssetField::CpeFirmware))
            .collect();
        assert_eq!(merged, AssetField::MERGED);
    }
}
