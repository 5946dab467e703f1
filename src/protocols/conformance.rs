//! The contract between a protocol folder and the conformance harness
//! ([`crate::conformance`]): what one kind of identity looks like in tshark's output and
//! in otscout's, both mapped into the same flat [`Part`] (field name to rendered value).
//!
//! Each protocol's specs live in its folder (`src/protocols/<name>/conformance.rs`) and
//! are reached through [`crate::protocols::ProtocolSpec::conformance_specs`]; the harness
//! names no protocol. Both sides render values with the same helpers ([`num`], [`hex16`],
//! [`serial`]), and strings are compared as otscout normalises them (documented per field
//! in each folder), so a difference in the table is a difference in what was decoded, not
//! in how it is printed.
//!
//! Test tooling: nothing here runs tshark (that is `crate::conformance::tshark`) or
//! prints.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::inventory::{Identity, Protocol};

/// One frame of tshark's `-T json -e FIELD` output: the fields asked for that it printed.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub number: u64,
    /// `ip.src` or `ipv6.src`.
    pub src: Option<IpAddr>,
    pub layers: BTreeMap<String, Vec<String>>,
    /// Read from tshark's whole tree (a [`Spec::tree`] spec's frame): the tree's labels
    /// are under `_label`.
    pub tree: bool,
}

impl Frame {
    /// Every value tshark printed for `field` in this frame, in tree order.
    pub fn get(&self, field: &str) -> &[String] {
        self.layers.get(field).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// One identity (or one frame's share of it) as flat fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Part {
    /// Which identity of the device this is: the Modbus unit id, the ENIP serial, empty
    /// for S7 (one CPU per address).
    pub key: String,
    pub fields: BTreeMap<String, String>,
}

/// How one kind of identity is found in tshark's output and in otscout's.
#[derive(Debug)]
pub struct Spec {
    /// The name in the table and in the explanations file.
    pub name: &'static str,
    /// tshark display filter for the frames that may carry it (a pre-selection: `tshark`
    /// does the real selection by which fields are present).
    pub filter: &'static str,
    /// The tshark fields `tshark` reads.
    pub fields: &'static [&'static str],
    /// One tshark frame to the identity parts it carries (several for a List Identity
    /// reply with several items).
    pub tshark: fn(&Frame) -> Vec<Part>,
    /// One otscout identity to a part, when it is this spec's kind.
    pub otscout: fn(&Identity) -> Option<Part>,
    /// otscout protocols whose services on a port outside `tcp`/`udp`'s defaults are
    /// added to tshark's port preference.
    pub protocols: &'static [Protocol],
    /// tshark's TCP port preference for the dissector, when it runs over TCP.
    pub tcp: Option<PortPref>,
    /// tshark's UDP port preference for the dissector, when it runs over UDP.
    pub udp: Option<PortPref>,
    /// Preferences the dissector needs whatever the user's say (`mbtcp.desegment:TRUE`:
    /// the identities compared are often split across segments), each an `-o` argument.
    pub prefs: &'static [&'static str],
    /// Heuristic dissectors to enable (`--enable-heuristic`), e.g. S7comm on COTP.
    pub heuristics: &'static [&'static str],
    /// Empty for a spec read from `-e` fields. Otherwise the protocol layers (`-J`) of a
    /// second tshark run that prints the whole tree, for a dissector that shows values
    /// only in tree labels (`vendor-name: ISO 10646 UCS-2 'JCI'`); its frames come with
    /// [`Frame::tree`] set and the labels in order under `_label`. That run is made only
    /// for a capture in which otscout saw one of [`Spec::protocols`].
    pub tree: &'static [&'static str],
}

/// A dissector's port preference (`-o mbtcp.tcp.port:502,5020`) and its default value.
///
/// A port preference rather than a decode-as (`-d tcp.port==5020,mbtcp`): Wireshark's
/// Modbus/TCP dissector tells a query from a response by whether the source or the
/// destination port is in this preference (`classify_mbtcp_packet`, packet-mbtcp.c), so
/// under a decode-as it prints "Unable to classify as query or response" and no
/// device identification objects. The preference is a list, so it must repeat the
/// default ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortPref {
    pub name: &'static str,
    pub default: &'static [u16],
}

/// Every registered protocol's specs, in registry order.
pub fn specs() -> Vec<&'static Spec> {
    crate::protocols::REGISTRY
        .iter()
        .flat_map(|p| p.conformance_specs().iter())
        .collect()
}

/// A number as tshark prints it (`12`, `0x000c`), or `None`.
pub fn parse_num(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Decimal.
pub fn num(v: u64) -> String {
    v.to_string()
}

/// `0x002a`.
pub fn hex16(v: u64) -> String {
    format!("{v:#06x}")
}

/// `0x00524d8e`.
pub fn serial(v: u64) -> String {
    format!("{v:#010x}")
}

/// Sets `field` when there is a value.
pub fn put(p: &mut Part, field: &str, v: Option<String>) {
    if let Some(v) = v {
        p.fields.insert(field.to_string(), v);
    }
}

/// The i-th value of a field, parsed as a number and rendered with `r`.
pub fn nth_num(f: &Frame, field: &str, i: usize, r: fn(u64) -> String) -> Option<String> {
    f.get(field).get(i).and_then(|s| parse_num(s)).map(r)
}

/// The first value of a field, when it is not empty.
pub fn first(f: &Frame, field: &str) -> Option<String> {
    f.get(field).first().filter(|s| !s.is_empty()).cloned()
}

/// A frame from `(field, values)` pairs, for the folders' tests.
#[cfg(test)]
pub fn test_frame(fields: &[(&str, &[&str])]) -> Frame {
    Frame {
        number: 1,
        src: None,
        tree: false,
        layers: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_as_tshark_prints_them() {
        assert_eq!(parse_num("0x000c"), Some(12));
        assert_eq!(parse_num("58"), Some(58));
        assert_eq!(parse_num("x"), None);
    }

    #[test]
    fn spec_names_are_unique_across_the_registry() {
        let names: Vec<&str> = specs().iter().map(|s| s.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "{names:?}");
    }
}
