//! Report schema 4's tables: how a report names each source once.
//!
//! In a version-1 to -3 report every field value repeats each of its sources in full (the
//! kind, the whole provenance with its scan id and profile digest, the time, the detail),
//! and every observation its provenance and time: about two thirds of a generated plant's
//! report. A version-4 report lists each distinct provenance, source (kind, provenance,
//! time), detail, fact and raw reply once, in `tables`, in the order a reader first meets
//! them, and the assets and observations refer to them by index (docs/report-schema.md).
//!
//! This module is only the representation: the [`Inventory`](super::Inventory) in memory
//! is the same for every version. [`Source`] and the report's observation lists serialize
//! inline (versions 1-3, and everywhere outside a report) unless a table writer is active
//! on the thread ([`intern`]), and read references only while a table reader is
//! ([`resolve`]). It never reads a file and never prints.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::merge::{Source, SourceKind};
use super::observation::{Fact, Observation, Provenance};

/// The name of the report member that holds the tables.
pub const MEMBER: &str = "tables";

thread_local! {
    static MODE: RefCell<Mode> = const { RefCell::new(Mode::Inline) };
}

#[derive(Debug, Default)]
enum Mode {
    #[default]
    Inline,
    Intern(Interner),
    Resolve(Resolver),
}

/// Restores inline serialization when dropped (also when serializing fails midway).
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        MODE.with(|m| *m.borrow_mut() = Mode::Inline);
    }
}

fn set(mode: Mode) -> Guard {
    MODE.with(|m| *m.borrow_mut() = mode);
    Guard
}

/// Distinct values by their JSON text, numbered in the order they were first met.
#[derive(Debug, Default)]
struct Keyed {
    index: HashMap<Box<str>, u32>,
}

impl Keyed {
    fn id(&mut self, json: String) -> u32 {
        let next = u32::try_from(self.index.len()).unwrap_or(u32::MAX);
        *self.index.entry(json.into_boxed_str()).or_insert(next)
    }

    /// The JSON array of the values, in index order.
    fn write(self, out: &mut Vec<u8>) {
        let mut entries: Vec<(u32, Box<str>)> =
            self.index.into_iter().map(|(k, v)| (v, k)).collect();
        entries.sort_unstable_by_key(|e| e.0);
        out.push(b'[');
        for (i, (_, json)) in entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(json.as_bytes());
        }
        out.push(b']');
    }
}

/// What a table writer has collected so far.
#[derive(Debug, Default)]
struct Interner {
    provenances: Keyed,
    sources: Keyed,
    details: Keyed,
    facts: Keyed,
    raw_hex: Keyed,
}

// Serializing plain data (strings, numbers, enums with string keys) to JSON cannot fail.
fn json<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl Interner {
    fn source(
        &mut self,
        kind: SourceKind,
        provenance: &Provenance,
        seen: Option<&DateTime<Utc>>,
    ) -> u32 {
        let provenance = self.provenances.id(json(provenance));
        self.sources.id(json(&SourceEntry {
            kind,
            provenance: u64::from(provenance),
            seen: seen.copied(),
        }))
    }

    /// The `tables` object.
    fn write(self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"provenances\":");
        self.provenances.write(out);
        out.extend_from_slice(b",\"sources\":");
        self.sources.write(out);
        out.extend_from_slice(b",\"details\":");
        self.details.write(out);
        out.extend_from_slice(b",\"facts\":");
        self.facts.write(out);
        out.extend_from_slice(b",\"raw_hex\":");
        self.raw_hex.write(out);
        out.push(b'}');
    }
}

/// One entry of `tables.sources`: a provenance (by index) at a time, with its kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SourceEntry {
    kind: SourceKind,
    provenance: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen: Option<DateTime<Utc>>,
}

/// The tables as a report holds them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Tables {
    provenances: Vec<Provenance>,
    sources: Vec<SourceEntry>,
    details: Vec<String>,
    facts: Vec<Fact>,
    raw_hex: Vec<String>,
}

/// Tables checked against themselves, ready to resolve references.
#[derive(Debug, Default)]
struct Resolver {
    sources: Vec<(SourceKind, Provenance, Option<DateTime<Utc>>)>,
    details: Vec<String>,
    facts: Vec<Fact>,
    raw_hex: Vec<String>,
    /// The first reference that was out of range, for the caller's error.
    failure: Option<String>,
}

impl Resolver {
    fn fail<E: de::Error>(&mut self, what: String) -> E {
        self.failure.get_or_insert_with(|| what.clone());
        E::custom(what)
    }
}

/// A table's own references that point nowhere.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "tables.sources[{entry}] names provenance {index}, but tables.provenances has {len} entries"
)]
pub struct TableError {
    pub entry: usize,
    pub index: u64,
    pub len: usize,
}

/// The inline JSON of `value` as a version-4 report writes it, and its tables: runs
/// `write` (which serializes `value` however it likes) with a table writer active.
pub fn intern<T>(write: impl FnOnce() -> T) -> (T, Vec<u8>) {
    let guard = set(Mode::Intern(Interner::default()));
    let out = write();
    let interner = MODE.with(|m| match std::mem::take(&mut *m.borrow_mut()) {
        Mode::Intern(i) => i,
        _ => Interner::default(),
    });
    drop(guard);
    let mut tables = Vec::new();
    interner.write(&mut tables);
    (out, tables)
}

/// Why a version-4 report's members could not be read with its tables.
#[derive(Debug)]
pub enum ResolveError<E> {
    /// A table refers to an entry of another that is not there.
    Table(TableError),
    /// Reading failed; with the reference that was out of range, when that was why.
    Read(E, Option<String>),
}

/// Runs `read` (which deserializes a version-4 report's members) with `tables` to resolve
/// references.
pub fn resolve<T, E>(
    tables: Tables,
    read: impl FnOnce() -> Result<T, E>,
) -> Result<T, ResolveError<E>> {
    check(&tables).map_err(ResolveError::Table)?;
    let sources = tables
        .sources
        .into_iter()
        // `check` found every provenance index in range.
        .filter_map(|s| {
            let p = usize::try_from(s.provenance)
                .ok()
                .and_then(|i| tables.provenances.get(i))?;
            Some((s.kind, p.clone(), s.seen))
        })
        .collect();
    let _guard = set(Mode::Resolve(Resolver {
        sources,
        details: tables.details,
        facts: tables.facts,
        raw_hex: tables.raw_hex,
        failure: None,
    }));
    read().map_err(|e| {
        let failure = MODE.with(|m| match &mut *m.borrow_mut() {
            Mode::Resolve(r) => r.failure.take(),
            _ => None,
        });
        ResolveError::Read(e, failure)
    })
}

/// Checks the tables' own references (each source's provenance index).
pub fn check(tables: &Tables) -> Result<(), TableError> {
    let len = tables.provenances.len();
    for (entry, s) in tables.sources.iter().enumerate() {
        if usize::try_from(s.provenance).map_or(true, |i| i >= len) {
            return Err(TableError {
                entry,
                index: s.provenance,
                len,
            });
        }
    }
    Ok(())
}

/// A source in the inline form (versions 1-3).
#[derive(Serialize)]
struct SourceRef<'a> {
    kind: SourceKind,
    provenance: &'a Provenance,
    #[serde(skip_serializing_if = "Option::is_none")]
    seen: Option<&'a DateTime<Utc>>,
    detail: &'a str,
}

#[derive(Deserialize)]
struct SourceOwned {
    kind: SourceKind,
    provenance: Provenance,
    #[serde(default)]
    seen: Option<DateTime<Utc>>,
    detail: String,
}

impl Serialize for Source {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let reference = MODE.with(|m| match &mut *m.borrow_mut() {
            Mode::Intern(i) => {
                let source = i.source(self.kind, &self.provenance, self.seen.as_ref());
                Some((source, i.details.id(json(&self.detail))))
            }
            _ => None,
        });
        match reference {
            Some(r) => r.serialize(s),
            None => SourceRef {
                kind: self.kind,
                provenance: &self.provenance,
                seen: self.seen.as_ref(),
                detail: &self.detail,
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SourceVisitor)
    }
}

struct SourceVisitor;

impl<'de> Visitor<'de> for SourceVisitor {
    type Value = Source;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a source object, or (report version 4) [source index, detail index]")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Source, A::Error> {
        let s = SourceOwned::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Source {
            kind: s.kind,
            provenance: s.provenance,
            seen: s.seen,
            detail: s.detail,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Source, A::Error> {
        let source: u64 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let detail: u64 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(3, &self));
        }
        MODE.with(|m| match &mut *m.borrow_mut() {
            Mode::Resolve(r) => {
                // Both indices come from the file: checked against their tables.
                let found = usize::try_from(source).ok().and_then(|i| r.sources.get(i)).cloned();
                let Some((kind, provenance, seen)) = found else {
                    let len = r.sources.len();
                    return Err(r.fail(format!("source {source}, but tables.sources has {len} entries")));
                };
                let Some(detail) = usize::try_from(detail).ok().and_then(|i| r.details.get(i)).cloned() else {
                    let len = r.details.len();
                    return Err(r.fail(format!("detail {detail}, but tables.details has {len} entries")));
                };
                Ok(Source {
                    kind,
                    provenance,
                    seen,
                    detail,
                })
            }
            _ => Err(de::Error::custom(
                "a source given by index [source, detail] outside a version-4 report, which has no tables to resolve it",
            )),
        })
    }
}

/// An observation in a version-4 report: its fact, source (provenance and time) and raw
/// reply by index.
#[derive(Serialize, Deserialize)]
struct ObservationRef {
    ip: IpAddr,
    fact: u64,
    source: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    raw_hex: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<String>,
}

/// `serialize_with` for a report's observation lists: by reference under a table writer,
/// inline otherwise.
pub fn serialize_observations<S: Serializer>(obs: &[Observation], s: S) -> Result<S::Ok, S::Error> {
    let refs: Option<Vec<ObservationRef>> = MODE.with(|m| match &mut *m.borrow_mut() {
        Mode::Intern(i) => Some(
            obs.iter()
                .map(|o| ObservationRef {
                    ip: o.ip,
                    fact: u64::from(i.facts.id(json(&o.fact))),
                    source: u64::from(i.source(
                        SourceKind::of(&o.provenance),
                        &o.provenance,
                        o.seen.as_ref(),
                    )),
                    raw_hex: o.raw_hex.as_ref().map(|r| u64::from(i.raw_hex.id(json(r)))),
                    path: o.path.clone(),
                })
                .collect(),
        ),
        _ => None,
    });
    match refs {
        Some(r) => s.collect_seq(r),
        None => s.collect_seq(obs),
    }
}

/// `deserialize_with` for a report's observation lists: references resolved under a table
/// reader, inline otherwise.
pub fn deserialize_observations<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<Observation>, D::Error> {
    let resolving = MODE.with(|m| matches!(&*m.borrow(), Mode::Resolve(_)));
    if !resolving {
        return Vec::<Observation>::deserialize(d);
    }
    let refs = Vec::<ObservationRef>::deserialize(d)?;
    MODE.with(|m| {
        let mut m = m.borrow_mut();
        let Mode::Resolve(r) = &mut *m else {
            return Err(de::Error::custom("no tables to resolve observations"));
        };
        let mut out = Vec::with_capacity(refs.len());
        for (n, o) in refs.into_iter().enumerate() {
            let at = |what: String| format!("observation {n} (about {}): {what}", o.ip);
            // Every index comes from the file: checked against its table.
            let Some(fact) = usize::try_from(o.fact)
                .ok()
                .and_then(|i| r.facts.get(i))
                .cloned()
            else {
                let len = r.facts.len();
                return Err(r.fail(at(format!(
                    "fact {}, but tables.facts has {len} entries",
                    o.fact
                ))));
            };
            let Some((_, provenance, seen)) = usize::try_from(o.source)
                .ok()
                .and_then(|i| r.sources.get(i))
                .cloned()
            else {
                let len = r.sources.len();
                return Err(r.fail(at(format!(
                    "source {}, but tables.sources has {len} entries",
                    o.source
                ))));
            };
            let raw_hex = match o.raw_hex {
                None => None,
                Some(x) => match usize::try_from(x).ok().and_then(|i| r.raw_hex.get(i)) {
                    Some(h) => Some(h.clone()),
                    None => {
                        let len = r.raw_hex.len();
                        return Err(r.fail(at(format!(
                            "raw_hex {x}, but tables.raw_hex has {len} entries"
                        ))));
                    }
                },
            };
            out.push(Observation {
                ip: o.ip,
                fact,
                provenance,
                seen,
                raw_hex,
                path: o.path,
            });
        }
        Ok(out)
    })
}
