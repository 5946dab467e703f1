//! Vendor-safe scan profiles: the schema, built-in profiles, validation and hard caps.
//!
//! A profile is TOML (schema: `profiles/README.md`). Loading goes:
//! text → syntax check (errors with line and column) → schema walk (unknown keys refused
//! with a suggestion, each value's type checked, with its line) → merged over the profile
//! it `extends` (default `conservative`; built-ins are embedded with `include_str!`) →
//! `--set key=value` overrides (same checks) → [`Profile`] → [`Profile::validate`] (every
//! key's range and the hard caps in [`caps`]) → the canonical TOML and its SHA-256.
//!
//! This module never reads the network and never prints.
//!
//! # OT safety
//! [`caps`] holds the limits no profile can lift; [`Profile::validate`] refuses a profile
//! that tries, naming the file, the key and the value.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::inventory::Protocol;
use crate::protocols::REGISTRY;
pub use crate::protocols::bacnet::settings::BacnetSettings;
pub use crate::protocols::enip::settings::{EnipSettings, EnipTransport};
pub use crate::protocols::modbus::settings::ModbusSettings;
pub use crate::protocols::s7::settings::S7Settings;
pub use crate::protocols::settings::Invalid;
use crate::protocols::settings::{Kind, range_u64};

/// The protocol sections of a profile, in the order of its TOML tables (the dry run and
/// the scan list probes in the registry's order, not this one).
pub fn section_names() -> impl Iterator<Item = &'static str> {
    TOP.iter()
        .filter(|(name, kind)| matches!(kind, Kind::Table) && *name != "pacing")
        .map(|(name, _)| *name)
}

/// The names of the protocols a profile can enable, in probe order.
fn probed_names() -> Vec<&'static str> {
    REGISTRY.iter().map(|spec| spec.name()).collect()
}

/// Limits no profile can lift (SAFETY.md, "Hard limits").
pub mod caps {
    /// TCP connections to one host at a time.
    pub const CONNECTIONS_PER_HOST: u32 = 1;
    /// Requests in flight on one connection.
    pub const REQUESTS_IN_FLIGHT: u32 = 1;
    /// Minimum time between a close and the next connect to the same host.
    pub const MIN_COOLDOWN_MS: u64 = 100;
    /// Minimum time between two requests to one host.
    pub const MIN_HOST_INTERVAL_MS: u64 = 10;
    /// Ceiling on the global request rate (requests per second, all hosts together).
    pub const MAX_RATE: f64 = 10_000.0;
    /// Floor on the global request rate: one request to each address of a /16 (65,536)
    /// within a year (31,536,000 s) needs 0.00208/s. A slower rate is a typo (`1e-3`
    /// for `1e3`) or a stalled scan whose plan would still show a duration; it is
    /// refused, naming the value.
    pub const MIN_RATE: f64 = 0.0021;
    /// Ceiling on the global burst.
    pub const MAX_BURST: u32 = 1_000;
    /// Ceiling on hosts worked on at once.
    pub const MAX_HOSTS_IN_FLIGHT: usize = 1_024;
    /// Ceiling on retries of one step.
    pub const MAX_RETRIES: u32 = 5;
}

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
    /// Absent in profiles written before BACnet/IP: off.
    #[serde(default)]
    pub bacnet: BacnetSettings,
    /// Off unless a profile enables it (additive: a profile without the section reads).
    #[serde(default)]
    pub opcua: crate::protocols::opcua::settings::OpcuaSettings,
    /// Off unless a profile enables it (additive).
    #[serde(default)]
    pub fins: crate::protocols::fins::settings::FinsSettings,
    /// Off unless a profile enables it (additive).
    #[serde(default)]
    pub fox: crate::protocols::fox::settings::FoxSettings,
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
    /// Retries of a connect that timed out. An unanswered request is never resent; its
    /// timeout delays the probe's next step (a new connection) by the backoff.
    pub retries: u32,
    /// Wait before the first retry; each further retry doubles it.
    pub retry_backoff_ms: u64,
    /// Minimum time between a close and the next connect to the same host.
    pub cooldown_ms: u64,
    /// Consecutive failures (timeouts, refusals) after which a host is left alone.
    pub breaker_failures: u32,
    /// Connection resets after which a host is left alone.
    pub breaker_resets: u32,
    /// The close hold: after our FIN, how long to wait (reading and discarding) for the
    /// device's FIN before leaving its connection open for good and the host alone for the
    /// rest of the scan. Absent: [`Pacing::close_hold`]'s default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_hold_ms: Option<u64>,
    /// Always 1 (hard limit); present so a profile that asks for more is refused loudly.
    #[serde(default = "one")]
    pub connections_per_host: u32,
    /// Always 1 (hard limit); present so a profile that asks for more is refused loudly.
    #[serde(default = "one")]
    pub requests_in_flight: u32,
}

fn one() -> u32 {
    1
}

impl Pacing {
    /// The close hold ([`Pacing::close_hold_ms`]); by default four response timeouts,
    /// between 2 s and 60 s.
    ///
    /// Why four: a device that closes when it reads our FIN does so within milliseconds;
    /// one still sending a late reply to a request that timed out needs about one more
    /// response timeout to finish it, and one whose communication task runs on a slow
    /// cycle one cycle more. Four response timeouts cover both with margin (12 s under
    /// `conservative`), while bounding what a device that never closes costs the scan:
    /// one hold, then it is left alone.
    pub fn close_hold(&self) -> std::time::Duration {
        let ms = self.close_hold_ms.unwrap_or_else(|| {
            self.response_timeout_ms
                .saturating_mul(4)
                .clamp(2_000, 60_000)
        });
        std::time::Duration::from_millis(ms)
    }
}

/// Applies once a device's vendor or family is known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorRule {
    /// Vendor (normalised name, case-insensitive) or family (`s7-300`) this rule matches:
    /// it applies when a known vendor or family name contains it (case-insensitive).
    #[serde(rename = "match")]
    pub matches: String,
    /// Protocols not to send to such a device.
    #[serde(default)]
    pub skip_protocols: Vec<crate::inventory::Protocol>,
    /// A longer minimum interval between requests to such a device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_interval_ms: Option<u64>,
    /// A longer cool-down between two connections to such a device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_ms: Option<u64>,
    #[serde(default)]
    pub note: String,
}

/// What the vendor rules say for one device: the effective settings the driver applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveRules {
    /// Protocols not to send to this device.
    pub skip_protocols: BTreeSet<Protocol>,
    /// Minimum time between two requests to this device (never below the profile's).
    pub host_interval_ms: u64,
    /// Cool-down between two connections to this device (never below the profile's).
    pub cooldown_ms: u64,
    /// The `match` of every rule that applied, in profile order.
    pub matched: Vec<String>,
    /// Their notes, for the report.
    pub notes: Vec<String>,
}

impl Profile {
    /// The effective settings for a device known by these vendor or family names (e.g.
    /// `["Siemens", "S7-300"]`). Every rule whose `match` is contained (case-insensitive)
    /// in one of the names applies: skipped protocols add up, intervals take the longest.
    pub fn rules_for(&self, names: &[&str]) -> EffectiveRules {
        let names: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
        let mut out = EffectiveRules {
            skip_protocols: BTreeSet::new(),
            host_interval_ms: self.pacing.host_interval_ms,
            cooldown_ms: self.pacing.cooldown_ms,
            matched: Vec::new(),
            notes: Vec::new(),
        };
        for rule in &self.vendor_rules {
            let m = rule.matches.to_lowercase();
            if m.is_empty() || !names.iter().any(|n| n.contains(&m)) {
                continue;
            }
            out.skip_protocols
                .extend(rule.skip_protocols.iter().copied());
            if let Some(ms) = rule.host_interval_ms {
                out.host_interval_ms = out.host_interval_ms.max(ms);
            }
            if let Some(ms) = rule.cooldown_ms {
                out.cooldown_ms = out.cooldown_ms.max(ms);
            }
            out.matched.push(rule.matches.clone());
            if !rule.note.is_empty() {
                out.notes.push(rule.note.clone());
            }
        }
        out
    }

    /// Checks every key's range and the hard caps. The error names the key and the value;
    /// the caller adds the file and line ([`load_str`] does).
    pub fn validate(&self) -> Result<(), Invalid> {
        let p = &self.pacing;
        let bad = |key: &str, problem: String| {
            Err(Invalid {
                key: key.to_string(),
                problem,
            })
        };
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return bad(
                "name",
                format!("must be letters, digits, `-` or `_`, got {:?}", self.name),
            );
        }
        // The plan a process owner approves prints these: a newline would forge a line
        // of it (a second `sha256`), an escape sequence would redraw the screen.
        no_control("description", &self.description)?;
        for (i, r) in self.vendor_rules.iter().enumerate() {
            no_control(&format!("vendor_rules[{i}].match"), &r.matches)?;
            no_control(&format!("vendor_rules[{i}].note"), &r.note)?;
        }
        if !(p.max_rate.is_finite() && p.max_rate > 0.0) {
            return bad(
                "pacing.max_rate",
                format!("must be more than 0, got {}", p.max_rate),
            );
        }
        if p.max_rate < caps::MIN_RATE {
            return bad(
                "pacing.max_rate",
                format!(
                    "must be at least {} requests/s (a /16 in a year; hard limit), got {}",
                    caps::MIN_RATE,
                    // 1e-300, not three hundred zeros.
                    if p.max_rate < 1e-4 {
                        format!("{:e}", p.max_rate)
                    } else {
                        p.max_rate.to_string()
                    }
                ),
            );
        }
        if p.max_rate > caps::MAX_RATE {
            return bad(
                "pacing.max_rate",
                format!(
                    "must be at most {} (hard limit), got {}",
                    caps::MAX_RATE,
                    p.max_rate
                ),
            );
        }
        range_u64("pacing.burst", p.burst.into(), 1, caps::MAX_BURST.into())?;
        range_u64(
            "pacing.hosts_in_flight",
            p.hosts_in_flight as u64,
            1,
            caps::MAX_HOSTS_IN_FLIGHT as u64,
        )?;
        range_u64(
            "pacing.host_interval_ms",
            p.host_interval_ms,
            caps::MIN_HOST_INTERVAL_MS,
            600_000,
        )?;
        range_u64(
            "pacing.connect_timeout_ms",
            p.connect_timeout_ms,
            100,
            60_000,
        )?;
        range_u64(
            "pacing.response_timeout_ms",
            p.response_timeout_ms,
            100,
            60_000,
        )?;
        range_u64(
            "pacing.retries",
            p.retries.into(),
            0,
            caps::MAX_RETRIES.into(),
        )?;
        range_u64("pacing.retry_backoff_ms", p.retry_backoff_ms, 100, 600_000)?;
        range_u64(
            "pacing.cooldown_ms",
            p.cooldown_ms,
            caps::MIN_COOLDOWN_MS,
            600_000,
        )?;
        if let Some(ms) = p.close_hold_ms {
            range_u64("pacing.close_hold_ms", ms, 100, 600_000)?;
        }
        range_u64("pacing.breaker_failures", p.breaker_failures.into(), 1, 20)?;
        range_u64("pacing.breaker_resets", p.breaker_resets.into(), 1, 10)?;
        if p.connections_per_host != caps::CONNECTIONS_PER_HOST {
            return bad(
                "pacing.connections_per_host",
                format!(
                    "must be 1: otscout never opens more than one connection to a host (hard limit), got {}",
                    p.connections_per_host
                ),
            );
        }
        if p.requests_in_flight != caps::REQUESTS_IN_FLIGHT {
            return bad(
                "pacing.requests_in_flight",
                format!(
                    "must be 1: otscout never has more than one request in flight per connection (hard limit), got {}",
                    p.requests_in_flight
                ),
            );
        }

        // Each protocol's section, in the order of the profile's sections.
        self.modbus.validate()?;
        self.enip.validate()?;
        self.s7.validate()?;
        self.bacnet.validate()?;
        self.opcua.validate()?;
        self.fins.validate()?;
        self.fox.validate()?;

        if !REGISTRY.iter().any(|spec| spec.enabled(self)) {
            return bad(
                "modbus.enabled",
                format!(
                    "no protocol is enabled: enable at least one of {}",
                    probed_names().join(", ")
                ),
            );
        }

        for (i, r) in self.vendor_rules.iter().enumerate() {
            let key = |k: &str| format!("vendor_rules[{i}].{k}");
            if r.matches.trim().is_empty() {
                return bad(&key("match"), "must not be empty".into());
            }
            if let Some(p) = r
                .skip_protocols
                .iter()
                .find(|p| !REGISTRY.iter().any(|spec| spec.protocol() == **p))
            {
                return bad(
                    &key("skip_protocols"),
                    format!("may hold only {}, got {p:?}", probed_names().join(", ")),
                );
            }
            if let Some(ms) = r.host_interval_ms {
                range_u64(
                    &key("host_interval_ms"),
                    ms,
                    caps::MIN_HOST_INTERVAL_MS,
                    600_000,
                )?;
            }
            if let Some(ms) = r.cooldown_ms {
                range_u64(&key("cooldown_ms"), ms, caps::MIN_COOLDOWN_MS, 600_000)?;
            }
        }
        Ok(())
    }

    /// The canonical TOML of the resolved profile (what `profiles show` prints and what
    /// the SHA-256 covers).
    pub fn canonical_toml(&self) -> String {
        // Serialising plain structs of numbers, strings and lists cannot fail.
        toml::to_string(self).unwrap_or_default()
    }

    /// Hex SHA-256 of [`Profile::canonical_toml`].
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_toml().as_bytes()))
    }
}

/// Refuses a string with a control character (newline, tab, escape, DEL, C1).
fn no_control(key: &str, v: &str) -> Result<(), Invalid> {
    match v.chars().find(|c| c.is_control()) {
        None => Ok(()),
        Some(c) => Err(Invalid {
            key: key.to_string(),
            problem: control_problem(c),
        }),
    }
}

fn control_problem(c: char) -> String {
    format!(
        "must not contain control characters (newline, tab, escape sequences), found {}",
        c.escape_unicode()
    )
}

/// Why a profile could not be loaded. `source` names the file, `builtin:NAME` or `--set`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    #[error("profile {origin}: cannot read it: {error}")]
    Read {
        origin: String,
        #[source]
        error: std::io::Error,
    },
    #[error(transparent)]
    File(#[from] crate::input_file::ReadError),
    #[error("profile {origin} line {line}, column {column}: {message}")]
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("profile {origin}{at}: unknown key `{key}`{hint}")]
    UnknownKey {
        origin: String,
        /// ` line N` or empty.
        at: String,
        key: String,
        /// `; did you mean `max_rate`?` or empty.
        hint: String,
    },
    #[error("profile {origin}{at}: {key} {problem}")]
    Invalid {
        origin: String,
        at: String,
        key: String,
        problem: String,
    },
    #[error(
        "unknown profile `{name}`: the built-in profiles are {known}; or give a path to a .toml file"
    )]
    UnknownName { name: String, known: String },
    #[error("--set {spec}: {problem}")]
    Set { spec: String, problem: String },
    #[error("profile {origin}: `extends` chain is too deep or circular (at `{name}`)")]
    ExtendsLoop { origin: String, name: String },
}

/// The built-in profiles, embedded at build time: (name, TOML).
pub const BUILTINS: &[(&str, &str)] = &[
    (
        "conservative",
        include_str!("../profiles/conservative.toml"),
    ),
    ("siemens", include_str!("../profiles/siemens.toml")),
    ("rockwell", include_str!("../profiles/rockwell.toml")),
    ("schneider", include_str!("../profiles/schneider.toml")),
    ("fragile", include_str!("../profiles/fragile.toml")),
    ("lab", include_str!("../profiles/lab.toml")),
];

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "conservative";

/// A loaded, validated profile with its identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub profile: Profile,
    /// Where it came from: `builtin:NAME` or the file path (plus `+ --set` when overridden).
    pub origin: String,
    /// [`Profile::canonical_toml`].
    pub canonical_toml: String,
    /// Hex SHA-256 of `canonical_toml`.
    pub sha256: String,
}

/// Loads a built-in profile by name.
pub fn builtin(name: &str) -> Result<Loaded, ProfileError> {
    load_with_overrides(name, &[])
}

/// Resolves `--profile NAME|PATH` and applies `--set key=value` overrides.
///
/// A value naming a built-in profile (and not an existing file) is the built-in; anything
/// else is read as a file.
pub fn load_with_overrides(name_or_path: &str, sets: &[String]) -> Result<Loaded, ProfileError> {
    let (source, text) = if let Some((n, t)) = BUILTINS.iter().find(|(n, _)| *n == name_or_path) {
        (format!("builtin:{n}"), (*t).to_string())
    } else if Path::new(name_or_path).exists()
        || name_or_path.ends_with(".toml")
        || name_or_path.contains('/')
    {
        let text =
            crate::input_file::read_text(Path::new(name_or_path), crate::input_file::PROFILE)?;
        (name_or_path.to_string(), text)
    } else {
        return Err(ProfileError::UnknownName {
            name: name_or_path.to_string(),
            known: builtin_names().join(", "),
        });
    };
    let default_name = Path::new(name_or_path)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("custom")
        .to_string();
    load_str(&source, &text, &default_name, sets)
}

/// The built-in profile names, in order.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTINS.iter().map(|(n, _)| *n).collect()
}

/// Loads a profile from TOML text. `source` names it in errors; `default_name` is used when
/// the text has no `name`; `sets` are `key=value` overrides.
pub fn load_str(
    source: &str,
    text: &str,
    default_name: &str,
    sets: &[String],
) -> Result<Loaded, ProfileError> {
    let mut lines = BTreeMap::new();
    let mut table = parse_checked(source, text, &mut lines)?;
    if !table.contains_key("name") {
        table.insert("name".into(), toml::Value::String(default_name.into()));
    }
    let mut merged = resolve_extends(source, table, 0)?;
    for spec in sets {
        apply_set(&mut merged, spec)?;
    }
    let at = |key: &str| -> String {
        lines
            .get(key)
            .map(|l| format!(" line {l}"))
            .unwrap_or_default()
    };
    let profile: Profile =
        toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| ProfileError::Invalid {
                origin: source.to_string(),
                at: String::new(),
                key: "profile".into(),
                problem: e.message().trim().to_string(),
            })?;
    profile.validate().map_err(|inv| {
        // A key set by --set is named by its spec rather than the file.
        // `--set pacing={...}` sets every key under `pacing`; `--set modbus.unit_ids=[..]`
        // is named for `modbus.unit_ids[3]` too.
        let names = |spec: &str| {
            spec.split('=').next().map(str::trim).is_some_and(|k| {
                inv.key == k
                    || inv
                        .key
                        .strip_prefix(k)
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            })
        };
        if let Some(spec) = sets.iter().rev().find(|s| names(s)) {
            return ProfileError::Set {
                spec: spec.clone(),
                problem: format!("{} {}", inv.key, inv.problem),
            };
        }
        let base_key = inv.key.split('[').next().unwrap_or(&inv.key).to_string();
        ProfileError::Invalid {
            origin: source.to_string(),
            at: if lines.contains_key(&inv.key) {
                at(&inv.key)
            } else {
                at(&base_key)
            },
            key: inv.key,
            problem: inv.problem,
        }
    })?;
    let canonical_toml = profile.canonical_toml();
    let sha256 = hex::encode(Sha256::digest(canonical_toml.as_bytes()));
    let source = if sets.is_empty() {
        source.to_string()
    } else {
        format!("{source} + --set")
    };
    Ok(Loaded {
        profile,
        origin: source,
        canonical_toml,
        sha256,
    })
}

/// Parses and schema-checks one TOML text; fills `lines` with each key's 1-based line.
fn parse_checked(
    source: &str,
    text: &str,
    lines: &mut BTreeMap<String, usize>,
) -> Result<toml::Table, ProfileError> {
    let spanned = toml::de::DeTable::parse(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ProfileError::Syntax {
            origin: source.to_string(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })?;
    collect_lines(text, spanned.get_ref(), "", lines);
    let table: toml::Table = toml::from_str(text).map_err(|e: toml::de::Error| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ProfileError::Syntax {
            origin: source.to_string(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })?;
    check_table(&table, "", &|key: &str, problem: Problem| {
        let at = lines
            .get(key)
            .map(|l| format!(" line {l}"))
            .unwrap_or_default();
        match problem {
            Problem::Unknown(hint) => ProfileError::UnknownKey {
                origin: source.to_string(),
                at,
                key: key.to_string(),
                hint,
            },
            Problem::Type(problem) => ProfileError::Invalid {
                origin: source.to_string(),
                at,
                key: key.to_string(),
                problem,
            },
        }
    })?;
    Ok(table)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn collect_lines(
    text: &str,
    table: &toml::de::DeTable<'_>,
    prefix: &str,
    lines: &mut BTreeMap<String, usize>,
) {
    for (k, v) in table {
        let key = join(prefix, k.get_ref());
        lines
            .entry(key.clone())
            .or_insert_with(|| line_col(text, k.span().start).0);
        match v.get_ref() {
            toml::de::DeValue::Table(t) => collect_lines(text, t, &key, lines),
            toml::de::DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let toml::de::DeValue::Table(t) = item.get_ref() {
                        collect_lines(text, t, &format!("{key}[{i}]"), lines);
                    }
                }
            }
            _ => {}
        }
    }
}

fn join(prefix: &str, k: &str) -> String {
    if prefix.is_empty() {
        k.to_string()
    } else {
        format!("{prefix}.{k}")
    }
}

const TOP: &[(&str, Kind)] = &[
    ("name", Kind::Str),
    ("description", Kind::Str),
    ("extends", Kind::Str),
    ("pacing", Kind::Table),
    ("modbus", Kind::Table),
    ("enip", Kind::Table),
    ("s7", Kind::Table),
    ("bacnet", Kind::Table),
    ("opcua", Kind::Table),
    ("fins", Kind::Table),
    ("fox", Kind::Table),
    ("vendor_rules", Kind::RuleList),
];
const PACING: &[(&str, Kind)] = &[
    ("max_rate", Kind::Float),
    ("burst", Kind::UInt(u32::MAX as u64)),
    ("hosts_in_flight", Kind::UInt(u32::MAX as u64)),
    ("host_interval_ms", Kind::UInt(u64::MAX)),
    ("connect_timeout_ms", Kind::UInt(u64::MAX)),
    ("response_timeout_ms", Kind::UInt(u64::MAX)),
    ("retries", Kind::UInt(u32::MAX as u64)),
    ("retry_backoff_ms", Kind::UInt(u64::MAX)),
    ("cooldown_ms", Kind::UInt(u64::MAX)),
    ("breaker_failures", Kind::UInt(u32::MAX as u64)),
    ("breaker_resets", Kind::UInt(u32::MAX as u64)),
    ("close_hold_ms", Kind::UInt(u64::MAX)),
    ("connections_per_host", Kind::UInt(u32::MAX as u64)),
    ("requests_in_flight", Kind::UInt(u32::MAX as u64)),
];
const RULE: &[(&str, Kind)] = &[
    ("match", Kind::Str),
    (
        "skip_protocols",
        Kind::EnumList(&["modbus", "enip", "s7", "bacnet", "opcua", "fins", "fox"]),
    ),
    ("host_interval_ms", Kind::UInt(u64::MAX)),
    ("cooldown_ms", Kind::UInt(u64::MAX)),
    ("note", Kind::Str),
];

fn section(name: &str) -> Option<&'static [(&'static str, Kind)]> {
    match name {
        "" => Some(TOP),
        "pacing" => Some(PACING),
        _ => REGISTRY
            .iter()
            .find(|spec| spec.name() == name)
            .map(|spec| spec.settings_schema()),
    }
}

enum Problem {
    Unknown(String),
    Type(String),
}

fn suggest(key: &str, known: &[(&str, Kind)]) -> String {
    let best = known
        .iter()
        .map(|(k, _)| (edit_distance(key, k), *k))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, k)) if d <= 3 || k.contains(key) || key.contains(k) => {
            format!("; did you mean `{k}`?")
        }
        _ => format!(
            "; known keys here: {}",
            known.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn check_table(
    table: &toml::Table,
    prefix: &str,
    err: &dyn Fn(&str, Problem) -> ProfileError,
) -> Result<(), ProfileError> {
    let schema = if prefix.starts_with("vendor_rules[") {
        RULE
    } else {
        section(prefix).unwrap_or(&[])
    };
    for (k, v) in table {
        let key = join(prefix, k);
        let Some((_, kind)) = schema.iter().find(|(name, _)| name == k) else {
            return Err(err(&key, Problem::Unknown(suggest(k, schema))));
        };
        check_value(&key, *kind, v, err)?;
    }
    Ok(())
}

fn check_value(
    key: &str,
    kind: Kind,
    v: &toml::Value,
    err: &dyn Fn(&str, Problem) -> ProfileError,
) -> Result<(), ProfileError> {
    use toml::Value as V;
    let ty = |what: &str| err(key, Problem::Type(format!("must be {what}, got {v}")));
    match kind {
        Kind::Str => match v {
            V::String(s) => match s.chars().find(|c| c.is_control()) {
                None => Ok(()),
                Some(c) => Err(err(key, Problem::Type(control_problem(c)))),
            },
            _ => Err(ty("a string")),
        },
        Kind::StrList => match v {
            V::Array(items) => {
                for item in items {
                    match item {
                        V::String(s) => {
                            if let Some(c) = s.chars().find(|c| c.is_control()) {
                                return Err(err(key, Problem::Type(control_problem(c))));
                            }
                        }
                        _ => return Err(ty("a list of strings")),
                    }
                }
                Ok(())
            }
            _ => Err(ty("a list of strings")),
        },
        Kind::Bool => match v {
            V::Boolean(_) => Ok(()),
            _ => Err(ty("true or false")),
        },
        Kind::Float => match v {
            V::Float(_) | V::Integer(_) => Ok(()),
            _ => Err(ty("a number")),
        },
        Kind::UInt(max) => match v {
            V::Integer(i) if *i >= 0 && (*i as u64) <= max => Ok(()),
            _ => Err(ty(&format!("an integer from 0 to {max}"))),
        },
        Kind::Enum(names) => match v {
            V::String(s) if names.contains(&s.as_str()) => Ok(()),
            _ => Err(ty(&format!("one of {}", names.join(", ")))),
        },
        Kind::UIntList(max) => match v {
            V::Array(items)
                if items
                    .iter()
                    .all(|i| matches!(i, V::Integer(n) if *n >= 0 && (*n as u64) <= max)) =>
            {
                Ok(())
            }
            _ => Err(ty(&format!("a list of integers from 0 to {max}"))),
        },
        Kind::EnumList(names) => match v {
            V::Array(items)
                if items
                    .iter()
                    .all(|i| matches!(i, V::String(s) if names.contains(&s.as_str()))) =>
            {
                Ok(())
            }
            _ => Err(ty(&format!("a list of: {}", names.join(", ")))),
        },
        Kind::Table => match v {
            V::Table(t) => check_table(t, key, err),
            _ => Err(ty("a table")),
        },
        Kind::RuleList => match v {
            V::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let k = format!("{key}[{i}]");
                    match item {
                        V::Table(t) => check_table(t, &k, err)?,
                        _ => return Err(err(&k, Problem::Type("must be a table".into()))),
                    }
                }
                Ok(())
            }
            _ => Err(ty("a list of [[vendor_rules]] tables")),
        },
    }
}

/// Merges `table` over the profile it extends (built-ins only), recursively.
fn resolve_extends(
    source: &str,
    mut table: toml::Table,
    depth: usize,
) -> Result<toml::Table, ProfileError> {
    let base_name = match table.remove("extends") {
        Some(toml::Value::String(s)) => Some(s),
        _ => None,
    };
    let base_name = match base_name {
        Some(b) => b,
        // `conservative` is the root every other profile builds on.
        None if source == format!("builtin:{DEFAULT_PROFILE}") => return Ok(table),
        None => DEFAULT_PROFILE.to_string(),
    };
    if depth > 4 || (source == format!("builtin:{base_name}")) {
        return Err(ProfileError::ExtendsLoop {
            origin: source.to_string(),
            name: base_name,
        });
    }
    let Some((n, text)) = BUILTINS.iter().find(|(n, _)| *n == base_name) else {
        return Err(ProfileError::Invalid {
            origin: source.to_string(),
            at: String::new(),
            key: "extends".into(),
            problem: format!(
                "must name a built-in profile ({}), got {base_name:?}",
                builtin_names().join(", ")
            ),
        });
    };
    let base_source = format!("builtin:{n}");
    let mut ignored = BTreeMap::new();
    let base = parse_checked(&base_source, text, &mut ignored)?;
    let mut base = resolve_extends(&base_source, base, depth + 1)?;
    merge(&mut base, table);
    Ok(base)
}

/// Deep-merges tables; anything else (including lists) replaces.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Applies one `key=value` override, with the same schema checks as a file.
fn apply_set(table: &mut toml::Table, spec: &str) -> Result<(), ProfileError> {
    let set_err = |problem: String| ProfileError::Set {
        spec: spec.to_string(),
        problem,
    };
    let Some((key, raw)) = spec.split_once('=') else {
        return Err(set_err(
            "expected key=value, e.g. pacing.max_rate=50".into(),
        ));
    };
    let key = key.trim();
    let raw = raw.trim();
    if key.is_empty() || raw.is_empty() {
        return Err(set_err(
            "expected key=value with both sides, e.g. pacing.max_rate=50".into(),
        ));
    }
    let (sect, leaf) = match key.rsplit_once('.') {
        Some((s, l)) => (s, l),
        None => ("", key),
    };
    if key.starts_with("vendor_rules") || leaf == "extends" {
        return Err(set_err(format!(
            "{key} cannot be set from the command line; write a profile file"
        )));
    }
    let Some(schema) = section(sect) else {
        return Err(set_err(format!(
            "unknown section `{sect}`; sections are pacing, modbus, enip, s7, bacnet, opcua, fins, fox"
        )));
    };
    let Some((_, kind)) = schema.iter().find(|(k, _)| *k == leaf) else {
        return Err(set_err(format!(
            "unknown key `{key}`{}",
            suggest(leaf, schema)
        )));
    };
    // The value is TOML (50, true, [255, 0], "udp"); a bare word is taken as a string.
    let value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").unwrap_or(toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    };
    check_value(key, *kind, &value, &|k, p| match p {
        Problem::Unknown(h) => set_err(format!("unknown key `{k}`{h}")),
        Problem::Type(t) => set_err(format!("{k} {t}")),
    })?;
    let target = if sect.is_empty() {
        table
    } else {
        match table
            .entry(sect.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        {
            toml::Value::Table(t) => t,
            _ => return Err(set_err(format!("{sect} is not a table"))),
        }
    };
    target.insert(leaf.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_loads() {
        for name in builtin_names() {
            let l = builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(l.profile.name, name);
            assert_eq!(l.sha256.len(), 64);
        }
    }

    #[test]
    fn close_hold_is_four_response_timeouts_within_2_to_60_s_unless_set() {
        let hold = |name: &str| builtin(name).unwrap().profile.pacing.close_hold();
        assert_eq!(hold("conservative"), std::time::Duration::from_secs(12));
        assert_eq!(hold("lab"), std::time::Duration::from_secs(4));
        let mut p = builtin("lab").unwrap().profile.pacing;
        p.response_timeout_ms = 100;
        assert_eq!(p.close_hold(), std::time::Duration::from_secs(2));
        p.response_timeout_ms = 60_000;
        assert_eq!(p.close_hold(), std::time::Duration::from_secs(60));
        p.close_hold_ms = Some(500);
        assert_eq!(p.close_hold(), std::time::Duration::from_millis(500));
    }

    #[test]
    fn a_rate_below_the_floor_is_refused_naming_the_value() {
        let text = builtin("conservative")
            .unwrap()
            .canonical_toml
            .replace("max_rate = 50.0", "max_rate = 1e-300");
        assert!(text.contains("1e-300"));
        let e = load_str("slow.toml", &text, "slow", &[]).expect_err("1e-300/s never ends");
        let msg = e.to_string();
        assert!(
            msg.starts_with("profile slow.toml line ") && msg.contains("got 1e-300"),
            "{msg}"
        );
        let e = load_with_overrides("conservative", &["pacing.max_rate=0.002".into()])
            .expect_err("just below the floor");
        assert!(
            e.to_string().starts_with("--set pacing.max_rate=0.002"),
            "{e}"
        );
        load_with_overrides("conservative", &["pacing.max_rate=0.0021".into()])
            .expect("the floor itself");
    }

    #[test]
    fn a_whole_table_set_is_blamed_on_the_set_not_the_file() {
        let spec = "pacing={max_rate=50.0, burst=5, hosts_in_flight=16, host_interval_ms=500, \
                    connect_timeout_ms=3000, response_timeout_ms=3000, retries=1, \
                    retry_backoff_ms=2000, cooldown_ms=2000, breaker_failures=3, \
                    breaker_resets=2, connections_per_host=2, requests_in_flight=1}";
        let e = load_with_overrides("conservative", &[spec.into()]).expect_err("2 connections");
        let msg = e.to_string();
        assert!(msg.starts_with("--set pacing={"), "{msg}");
        assert!(msg.contains("connections_per_host"), "{msg}");
        assert!(!msg.contains("builtin:conservative"), "{msg}");
    }

    #[test]
    fn suggestion_for_typo() {
        assert_eq!(suggest("max_rat", PACING), "; did you mean `max_rate`?");
    }

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
