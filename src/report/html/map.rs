//! The communication map: who talks to whom, drawn from passive observations (each
//! asset's `peers` and `operations`), laid out here in Rust as inline SVG.
//!
//! The layout is a pure function of the report: the same report gives the same bytes
//! (ordered maps only, no randomness, no floating-point accumulation that depends on
//! order). Hosts are nodes in four lanes by role, left to right: engineering stations and
//! HMIs (they ask), controllers, field devices, and unknown. Within a lane nodes are
//! grouped by subnet (/24 for IPv4, /64 for IPv6) and sorted by address. Edges go from
//! the side that asked to the side that answered, one per protocol, labelled with the
//! number of exchanges; writes, control and program operations are drawn in the warning
//! colour with their function names.
//!
//! To stay readable at hundreds of assets, a subnet group with more than
//! [`COLLAPSE_OVER`] hosts keeps the hosts that matter (flagged, written to or writing,
//! or talking to more than one peer) and folds the rest into one "+N hosts" node whose
//! edges carry the sums.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::IpAddr;

use super::escape;
use super::table::site_of;
use crate::inventory::merge::{Asset, AssetField, protocol_name};
use crate::inventory::{Inventory, OperationKind, Protocol, Role};

/// Hosts in one subnet group past which leaves are folded into one node.
pub const COLLAPSE_OVER: usize = 32;

const NODE_W: u32 = 210;
const NODE_H: u32 = 38;
const ROW: u32 = 48;
const LANE_GAP: u32 = 170;
const TOP: u32 = 56;
const LEFT: u32 = 20;
/// Vertical distance of stacked edge labels into one node (10 px text, bold when warning).
const LABEL_STEP: u32 = 14;

/// The lanes, left to right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lane {
    Operators,
    Controllers,
    Field,
    Unknown,
}

impl Lane {
    const ALL: [Lane; 4] = [
        Lane::Operators,
        Lane::Controllers,
        Lane::Field,
        Lane::Unknown,
    ];

    fn title(self) -> &'static str {
        match self {
            Lane::Operators => "engineering stations and HMIs",
            Lane::Controllers => "controllers",
            Lane::Field => "field devices",
            Lane::Unknown => "unknown",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Lane::Operators => "operators",
            Lane::Controllers => "controllers",
            Lane::Field => "field",
            Lane::Unknown => "unknown",
        }
    }
}

fn contains_any(v: Option<&str>, words: &[&str]) -> bool {
    v.is_some_and(|v| {
        let v = v.to_ascii_lowercase();
        words.iter().any(|w| v.contains(w))
    })
}

/// The lane of an asset: a declared role first (people know what an HMI is), then what the
/// device said it is, then how it behaved on the wire (it only asked, or it wrote to
/// others: an operator's machine).
pub fn lane(a: &Asset, actors: &BTreeSet<IpAddr>) -> Lane {
    let role = a.value(AssetField::Role);
    let dtype = a.value(AssetField::DeviceType);
    if contains_any(
        role.or(dtype),
        &[
            "hmi",
            "scada",
            "engineering",
            "ews",
            "historian",
            "operator",
        ],
    ) {
        return Lane::Operators;
    }
    if contains_any(
        role.or(dtype),
        &["plc", "logic controller", "controller", "cpu"],
    ) || a.family.is_some()
    {
        return Lane::Controllers;
    }
    let asked = a.peers.iter().any(|p| p.role == Role::Client);
    let answered = a.peers.iter().any(|p| p.role == Role::Server) || !a.services.is_empty();
    if actors.contains(&a.ip) || (asked && !answered) {
        return Lane::Operators;
    }
    if a.identified() || dtype.is_some() || role.is_some() {
        return Lane::Field;
    }
    Lane::Unknown
}

/// A subnet group's label: the /24 (IPv4) or /64 (IPv6) the address is in.
fn subnet(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// A node of the map: one host, or a fold of several.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    id: String,
    lane: Lane,
    label: String,
    sub: String,
    /// The devices behind this address (sub-assets), said in the tooltip: their traffic
    /// is the address's, drawn on this node (empty: none).
    behind: String,
    flagged: bool,
    x: u32,
    y: u32,
}

/// What a node's tooltip says of the sub-assets behind its address (empty: none).
fn behind_note(a: Option<&&Asset>) -> String {
    let Some(a) = a.filter(|a| !a.sub_assets.is_empty()) else {
        return String::new();
    };
    let paths: Vec<&str> = a
        .sub_assets
        .iter()
        .filter_map(|x| x.path.as_deref())
        .take(8)
        .collect();
    let more = if a.sub_assets.len() > paths.len() {
        ", …"
    } else {
        ""
    };
    format!(
        "; {} device(s) behind it ({}{more}): their traffic goes through this address and is drawn here",
        a.sub_assets.len(),
        paths.join(", ")
    )
}

/// One edge: traffic of one protocol, and the operations done along it.
#[derive(Debug, Default, Clone)]
struct Edge {
    count: u64,
    ops: BTreeMap<(OperationKind, String), u64>,
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// The map section: one SVG per site.
pub fn section(s: &mut String, inv: &Inventory) {
    s.push_str("<section id=\"map\"><h2>Communication map</h2>\n");
    s.push_str("<p class=\"meta\">Drawn from passive observations: an arrow goes from the host that asked to the host that answered, one per protocol, with the number of exchanges; <span class=\"warn\">writes, control and program operations</span> are drawn in the warning colour with their function names. Large subnets fold their quiet hosts into one node. A device behind a gateway or adapter (a sub-asset) has no address of its own: its traffic is drawn on the address that relays it, whose tooltip names it.</p>\n");
    let mut by_site: BTreeMap<Option<&str>, Vec<&Asset>> = BTreeMap::new();
    for a in &inv.assets {
        by_site.entry(site_of(inv, a)).or_default().push(a);
    }
    if by_site.is_empty() {
        s.push_str("<p>No assets.</p>");
    }
    for (site, assets) in by_site {
        if let Some(site) = site {
            let _ = writeln!(s, "<h3>site {}</h3>", escape(site));
        }
        s.push_str(&svg(&assets));
    }
    s.push_str("</section>\n");
}

/// The map of one site's assets as an SVG element.
pub fn svg(assets: &[&Asset]) -> String {
    // The map draws hosts at addresses: an asset known only by MAC, and an operation by a
    // station known only by MAC, are in the tables, not here.
    let assets: Vec<&Asset> = assets.iter().copied().filter(|a| !a.mac_only()).collect();
    let assets = &assets[..];
    let known: BTreeMap<IpAddr, &Asset> = assets.iter().map(|a| (a.ip, *a)).collect();
    let actors: BTreeSet<IpAddr> = assets
        .iter()
        .flat_map(|a| {
            a.operations
                .iter()
                .filter(|o| o.actor_mac.is_none())
                .map(|o| o.actor)
        })
        .collect();

    // Edges by host: (client, server, protocol). Both ends record the same exchanges, so
    // the larger of their counts is the edge's.
    let mut edges: BTreeMap<(IpAddr, IpAddr, Protocol), Edge> = BTreeMap::new();
    for a in assets {
        for p in &a.peers {
            let (c, sv) = match p.role {
                Role::Client => (a.ip, p.peer),
                Role::Server => (p.peer, a.ip),
            };
            let e = edges.entry((c, sv, p.protocol)).or_default();
            e.count = e.count.max(p.count);
        }
        for o in a.operations.iter().filter(|o| o.actor_mac.is_none()) {
            let e = edges.entry((o.actor, a.ip, o.protocol)).or_default();
            let n = e.ops.entry((o.kind, o.function.clone())).or_default();
            *n = n.saturating_add(o.count);
        }
    }
    let mut degree: BTreeMap<IpAddr, BTreeSet<IpAddr>> = BTreeMap::new();
    for (c, sv, _) in edges.keys() {
        degree.entry(*c).or_default().insert(*sv);
        degree.entry(*sv).or_default().insert(*c);
    }
    let with_ops: BTreeSet<IpAddr> = edges
        .iter()
        .filter(|(_, e)| !e.ops.is_empty())
        .flat_map(|((c, sv, _), _)| [*c, *sv])
        .collect();

    // Every host: the assets, and peers that are not assets (never shown to exist by a
    // reply of their own) in the unknown lane.
    let mut hosts: BTreeMap<IpAddr, Lane> =
        known.values().map(|a| (a.ip, lane(a, &actors))).collect();
    for (c, sv, _) in edges.keys() {
        hosts.entry(*c).or_insert(Lane::Unknown);
        hosts.entry(*sv).or_insert(Lane::Unknown);
    }

    // Groups: lane → subnet → hosts (sorted by address, as the map iterates).
    let mut groups: BTreeMap<Lane, BTreeMap<(u8, String), Vec<IpAddr>>> = BTreeMap::new();
    for (ip, l) in &hosts {
        let family = u8::from(ip.is_ipv6());
        groups
            .entry(*l)
            .or_default()
            .entry((family, subnet(ip)))
            .or_default()
            .push(*ip);
    }

    // Nodes, and which node each host is drawn as.
    let mut nodes: Vec<Node> = Vec::new();
    let mut node_of: BTreeMap<IpAddr, usize> = BTreeMap::new();
    let mut group_labels: Vec<(u32, u32, String)> = Vec::new();
    let lanes: Vec<Lane> = Lane::ALL
        .into_iter()
        .filter(|l| groups.contains_key(l))
        .collect();
    let mut height = TOP;
    for (li, l) in lanes.iter().enumerate() {
        let x = LEFT + li as u32 * (NODE_W + LANE_GAP);
        let mut y = TOP;
        for ((_, net), ips) in &groups[l] {
            group_labels.push((x, y + 12, net.clone()));
            y += 18;
            let interesting = |ip: &IpAddr| {
                known.get(ip).is_some_and(|a| !a.flags.is_empty())
                    || with_ops.contains(ip)
                    || degree.get(ip).is_some_and(|d| d.len() > 1)
            };
            let (keep, fold): (Vec<IpAddr>, Vec<IpAddr>) = if ips.len() > COLLAPSE_OVER {
                ips.iter().partition(|ip| interesting(ip))
            } else {
                (ips.clone(), Vec::new())
            };
            // Folding one host saves nothing.
            let (keep, fold) = if fold.len() < 2 {
                let mut all = keep;
                all.extend(fold);
                all.sort();
                (all, Vec::new())
            } else {
                (keep, fold)
            };
            for ip in keep {
                let a = known.get(&ip);
                let label = a
                    .and_then(|a| a.value(AssetField::Manufacturer))
                    .map(|v| {
                        let model = a.and_then(|a| a.value(AssetField::Model)).unwrap_or("");
                        format!("{v} {model}")
                    })
                    .unwrap_or_else(|| match a {
                        Some(a) if !a.protocols.is_empty() => {
                            let p: Vec<String> =
                                a.protocols.iter().map(|p| protocol_name(*p)).collect();
                            format!("– ({})", p.join(", "))
                        }
                        Some(_) => "–".to_owned(),
                        None => "not an asset".to_owned(),
                    });
                node_of.insert(ip, nodes.len());
                nodes.push(Node {
                    id: ip.to_string(),
                    lane: *l,
                    label: ip.to_string(),
                    sub: cut(label.trim(), 30),
                    behind: behind_note(a),
                    flagged: a.is_some_and(|a| !a.flags.is_empty()),
                    x,
                    y,
                });
                y += ROW;
            }
            if !fold.is_empty() {
                for ip in &fold {
                    node_of.insert(*ip, nodes.len());
                }
                nodes.push(Node {
                    id: format!("fold:{net}:{}", l.class()),
                    lane: *l,
                    label: format!("+{} hosts", fold.len()),
                    sub: format!("{} … {}", fold[0], fold[fold.len() - 1]),
                    behind: String::new(),
                    flagged: false,
                    x,
                    y,
                });
                y += ROW;
            }
            y += 10;
        }
        height = height.max(y);
    }

    // Edges between nodes: folded hosts' edges add up.
    let mut drawn: BTreeMap<(usize, usize, Protocol), Edge> = BTreeMap::new();
    for ((c, sv, proto), e) in &edges {
        let (Some(&from), Some(&to)) = (node_of.get(c), node_of.get(sv)) else {
            continue;
        };
        let d = drawn.entry((from, to, *proto)).or_default();
        d.count = d.count.saturating_add(e.count);
        for (k, n) in &e.ops {
            let m = d.ops.entry(k.clone()).or_default();
            *m = m.saturating_add(*n);
        }
    }

    let width = LEFT * 2 + lanes.len().max(1) as u32 * (NODE_W + LANE_GAP) - LANE_GAP;
    let height = height + 20;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<div class=\"wide\"><svg class=\"map\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"communication map, {} nodes, {} edges\">",
        nodes.len(),
        drawn.len()
    );
    s.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#5b6b7b\"/></marker><marker id=\"arrow-warn\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"3.5\" markerHeight=\"3.5\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#c0392b\"/></marker></defs>\n");
    for (li, l) in lanes.iter().enumerate() {
        let x = LEFT + li as u32 * (NODE_W + LANE_GAP);
        let _ = writeln!(
            s,
            "<text class=\"lane\" x=\"{x}\" y=\"24\">{}</text>",
            l.title()
        );
    }
    for (x, y, net) in &group_labels {
        let _ = writeln!(
            s,
            "<text class=\"subnet\" x=\"{x}\" y=\"{y}\">{}</text>",
            escape(net)
        );
    }
    // Edges under nodes. A forward edge leaves the right side of the asking node and
    // enters the left of the answering one; an edge within a lane or backwards loops out
    // to the right.
    // Labels sit just before the arrow they name, stacked per target, so that labels of
    // edges into different nodes never meet.
    let mut into: BTreeMap<usize, u32> = BTreeMap::new();
    for (i, ((from, to, proto), e)) in drawn.iter().enumerate() {
        let (a, b) = (&nodes[*from], &nodes[*to]);
        let (ay, by) = (a.y + NODE_H / 2, b.y + NODE_H / 2);
        let k = into.entry(*to).or_default();
        let stack = *k;
        *k += 1;
        let (path, lx, ly, anchor) = if b.x > a.x {
            let (x1, x2) = (a.x + NODE_W, b.x);
            let mid = (x1 + x2) / 2;
            (
                format!("M{x1},{ay} C{mid},{ay} {mid},{by} {x2},{by}"),
                x2 - 10,
                (by + 10).saturating_sub(LABEL_STEP * (stack + 1)),
                "end",
            )
        } else {
            let x1 = a.x + NODE_W;
            let x2 = b.x + NODE_W;
            // Stagger loops so that parallel ones stay apart.
            let out = x1.max(x2) + 30 + (i as u32 % 5) * 14;
            (
                format!("M{x1},{ay} C{out},{ay} {out},{by} {x2},{by}"),
                x2 + 6,
                (by + 10).saturating_sub(LABEL_STEP * (stack + 1)),
                "start",
            )
        };
        let warn = !e.ops.is_empty();
        let proto_name = protocol_name(*proto);
        let mut label = format!("{proto_name} ×{}", e.count);
        if warn {
            let ops: Vec<String> = e
                .ops
                .iter()
                .map(|((k, f), n)| {
                    // `write_single_register` needs no "write" before it.
                    let word = kind_word(*k);
                    if f.starts_with(word) {
                        format!("{f} ×{n}")
                    } else {
                        format!("{word} {f} ×{n}")
                    }
                })
                .collect();
            label = if e.count > 0 {
                format!("{label}; {}", ops.join(", "))
            } else {
                format!("{proto_name}: {}", ops.join(", "))
            };
        }
        let _ = writeln!(
            s,
            "<g class=\"edge{}\" data-from=\"{}\" data-to=\"{}\" data-protocol=\"{proto_name}\"><title>{} → {}: {}</title><path d=\"{path}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" marker-end=\"url(#{})\"/><text x=\"{lx}\" y=\"{ly}\" text-anchor=\"{anchor}\" fill=\"{}\">{}</text></g>",
            if warn { " warn" } else { "" },
            escape(&a.id),
            escape(&b.id),
            escape(&a.id),
            escape(&b.id),
            escape(&label),
            if warn { "#c0392b" } else { "#8a99a8" },
            if warn { 2.5 } else { 1.2 },
            if warn { "arrow-warn" } else { "arrow" },
            if warn { "#c0392b" } else { "#44515e" },
            escape(&cut(&label, 48))
        );
    }
    for n in &nodes {
        let _ = writeln!(
            s,
            "<g class=\"node {}{}\" data-id=\"{}\"><title>{} ({}){}</title><rect x=\"{}\" y=\"{}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"5\" fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\"/><text x=\"{}\" y=\"{}\" class=\"ip\">{}</text><text x=\"{}\" y=\"{}\" class=\"sub\">{}</text></g>",
            n.lane.class(),
            if n.flagged { " flagged" } else { "" },
            escape(&n.id),
            escape(&n.label),
            escape(&n.sub),
            escape(&n.behind),
            n.x,
            n.y,
            lane_fill(n.lane),
            if n.flagged { "#c0392b" } else { "#5b6b7b" },
            if n.flagged { 2 } else { 1 },
            n.x + 8,
            n.y + 15,
            escape(&n.label),
            n.x + 8,
            n.y + 31,
            escape(&n.sub)
        );
    }
    s.push_str("</svg></div>\n");
    s
}

fn kind_word(k: OperationKind) -> &'static str {
    match k {
        OperationKind::Write => "write",
        OperationKind::Control => "control",
        OperationKind::Program => "program",
    }
}

fn lane_fill(l: Lane) -> &'static str {
    match l {
        Lane::Operators => "#e8f0fb",
        Lane::Controllers => "#eaf6ea",
        Lane::Field => "#fbf6e6",
        Lane::Unknown => "#f1f1f1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Input, Observation, merge};

    fn obs(v: serde_json::Value) -> Observation {
        serde_json::from_str(&v.to_string()).expect("test observation")
    }

    /// `n` Modbus field devices polled by one HMI at .200, which wrote to the first.
    fn plant(n: usize) -> Vec<Asset> {
        let prov = serde_json::json!({"source": "pcap", "file": "p.pcap", "frame": 1});
        let mut o = Vec::new();
        for i in 0..n {
            let ip = format!("10.0.{}.{}", i / 250, i % 250 + 1);
            for (me, peer, role) in [
                (ip.as_str(), "10.0.9.200", "server"),
                ("10.0.9.200", ip.as_str(), "client"),
            ] {
                o.push(obs(
                    serde_json::json!({"ip": me, "fact": {"type": "peer", "peer": peer,
                    "protocol": "modbus", "role": role, "count": 7}, "provenance": prov}),
                ));
            }
            o.push(obs(serde_json::json!({"ip": ip, "fact": {"type": "identity", "identity": {
                "protocol": "modbus", "unit_id": 1, "objects": {"0": "ACME", "1": "IO-16"}}}, "provenance": prov})));
        }
        o.push(obs(
            serde_json::json!({"ip": "10.0.0.1", "fact": {"type": "operation",
            "actor": "10.0.9.200", "protocol": "modbus", "kind": "write",
            "function": "write_multiple_registers", "count": 3}, "provenance": prov}),
        ));
        merge(&[Input::from_raw("p", o)], chrono::DateTime::UNIX_EPOCH).assets
    }

    /// A module behind 10.0.0.1 (a sub-asset) has no node of its own: its traffic is
    /// 10.0.0.1's, and that node's tooltip says so.
    #[test]
    fn a_sub_assets_traffic_is_drawn_on_its_parent_and_said() {
        let prov = serde_json::json!({"source": "pcap", "file": "p.pcap", "frame": 2});
        let mut o = Vec::new();
        for (me, peer, role) in [
            ("10.0.0.1", "10.0.9.200", "server"),
            ("10.0.9.200", "10.0.0.1", "client"),
        ] {
            o.push(obs(
                serde_json::json!({"ip": me, "fact": {"type": "peer", "peer": peer,
                "protocol": "modbus", "role": role, "count": 7}, "provenance": prov}),
            ));
        }
        o.push(obs(
            serde_json::json!({"ip": "10.0.0.1", "path": "modbus:unit/7",
            "fact": {"type": "identity", "identity": {"protocol": "modbus", "unit_id": 7,
            "objects": {"0": "Eaton", "1": "PXM 2260"}}}, "provenance": prov}),
        ));
        let assets = merge(&[Input::from_raw("p", o)], chrono::DateTime::UNIX_EPOCH).assets;
        assert_eq!(assets[0].sub_assets.len(), 1);
        let refs: Vec<&Asset> = assets.iter().collect();
        let svg = svg(&refs);
        assert_eq!(svg.matches("<g class=\"node ").count(), 2, "{svg}");
        assert!(
            svg.contains("1 device(s) behind it (modbus:unit/7): their traffic goes through this address and is drawn here"),
            "{svg}"
        );
    }

    #[test]
    fn twenty_assets_are_drawn_one_node_each_with_the_write_in_warning_colour() {
        let assets = plant(20);
        let refs: Vec<&Asset> = assets.iter().collect();
        let svg = svg(&refs);
        assert_eq!(svg.matches("<g class=\"node ").count(), 21);
        assert_eq!(svg.matches("<g class=\"edge").count(), 20);
        assert_eq!(svg.matches("<g class=\"edge warn\"").count(), 1);
        assert!(svg.contains("write_multiple_registers ×3"), "{svg}");
        assert!(!svg.contains("write write_"), "{svg}");
        assert!(svg.contains("modbus ×7"));
        // The HMI asked and wrote: it is in the operators' lane.
        assert!(svg.contains("<g class=\"node operators\" data-id=\"10.0.9.200\""));
        assert!(svg.contains("<g class=\"node field flagged\" data-id=\"10.0.0.1\""));
    }

    #[test]
    fn five_hundred_assets_fold_quiet_hosts_and_keep_the_ones_that_matter() {
        let assets = plant(500);
        let refs: Vec<&Asset> = assets.iter().collect();
        let svg = svg(&refs);
        let nodes = svg.matches("<g class=\"node ").count();
        // Two /24s of quiet field devices fold into one node each; the written-to device
        // and the HMI stay.
        assert_eq!(nodes, 4, "{nodes} nodes");
        assert!(svg.contains("data-id=\"10.0.0.1\""));
        assert!(
            svg.contains("+249 hosts") && svg.contains("+250 hosts"),
            "{svg}"
        );
        // The fold's edge carries the sum of its hosts' exchanges.
        assert!(
            svg.contains("modbus ×1743") && svg.contains("modbus ×1750"),
            "{svg}"
        );
        // Same input, same bytes; input order does not matter.
        let mut rev = refs.clone();
        rev.reverse();
        assert_eq!(svg, super::svg(&rev));
    }
}
