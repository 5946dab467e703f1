//! Aggregates what a capture or a Zeek log shows into observations: hosts and MACs,
//! services, peers, identities and operations. It is the one implementation of
//! [`FactSink`]: the capture's analyzers and the Zeek row parsers record the same facts
//! here, so both inputs fold by one code path (only the provenance differs: a capture's
//! frame, a log's line).
//!
//! Everything here is keyed in ordered maps, so the same capture gives the same
//! observations in the same order. Repeated facts are folded, not repeated: one peer
//! observation per (host, peer, protocol, role) with a count, one operation observation per
//! (target, actor, protocol, function) with a count and first/last times.

use std::collections::{BTreeMap, BTreeSet};

use foldhash::HashMap;
use std::net::IpAddr;

pub use crate::facts::At;
use crate::facts::FactSink;
use crate::inventory::{
    Fact, Identity, MacBasis, Observation, OperationKind, Protocol, Provenance, Role, Transport,
};

/// Caps on what one capture may make us remember (a scan or a flood must not exhaust memory).
pub const MAX_HOSTS: usize = 1 << 20;
const MAX_KEYED: usize = 1 << 20;

/// Initial TTL / hop-limit values real stacks use (Linux/Unix 64, Windows 128, network
/// gear 255, Siemens S7 30 and some embedded stacks 32/60). A packet still carrying one
/// has crossed no router: its Ethernet source is the sender's own MAC.
#[cfg_attr(not(test), allow(dead_code))]
const INITIAL_TTLS: [u8; 7] = [30, 32, 60, 64, 128, 254, 255];

/// True for one of [`INITIAL_TTLS`] (a match: this runs for every packet).
fn initial_ttl(ttl: u8) -> bool {
    matches!(ttl, 30 | 32 | 60 | 64 | 128 | 254 | 255)
}

#[derive(Debug, Default)]
struct MacSeen {
    mac: [u8; 6],
    local_frame: Option<At>,
    routed_frame: Option<At>,
}

#[derive(Debug)]
struct OpAgg {
    kind: OperationKind,
    count: u64,
    first: At,
    last: At,
}

/// A partial identity being assembled across several replies.
#[derive(Debug)]
struct IdAgg {
    identity: Identity,
    at: At,
    raw: Vec<String>,
    /// The path behind the device the identity was read through (a CIP route).
    path: Option<String>,
}

/// A message that did not decode, or a negative answer, kept as evidence.
#[derive(Debug)]
struct Finding {
    fact: Fact,
    at: At,
    raw: Option<String>,
}

/// Bytes of an undecodable message kept in its observation (the length is in the reason).
pub const MAX_ANOMALY_BYTES: usize = 256;
/// Undecodable messages kept per capture as observations (the count goes on in the stats).
const MAX_FINDINGS: usize = 4096;

/// What kind of input the collector folds, for the observations' provenance.
#[derive(Debug)]
enum Source {
    /// A capture: [`At::frame`] is the frame number.
    Pcap,
    /// A Zeek log file: [`At::frame`] is the line number; `logs` holds the log each run
    /// of lines belongs to, as (first line, log), in line order (one file may hold several
    /// logs: JSON lines with their own `_path`).
    Zeek { logs: Vec<(u64, String)> },
}

/// The running state of one input's facts (a capture's, or a Zeek log file's).
#[derive(Debug)]
pub struct Collector {
    file: String,
    source: Source,
    hosts: BTreeMap<IpAddr, At>,
    macs: BTreeMap<IpAddr, MacSeen>,
    arp: BTreeMap<IpAddr, ([u8; 6], At)>,
    mac_ips: HashMap<[u8; 6], BTreeSet<IpAddr>>,
    services: BTreeMap<(IpAddr, Transport, u16), (Protocol, At)>,
    peers: BTreeMap<(IpAddr, IpAddr, Protocol), (u64, At)>,
    /// Operations by (target, actor, protocol), then function: two levels so a repeated
    /// operation is found by its `&str` name without allocating a key.
    ops: BTreeMap<(IpAddr, IpAddr, Protocol), BTreeMap<String, OpAgg>>,
    /// Entries of `ops` (all functions), for the cap.
    ops_len: usize,
    /// Identities keyed by (device ip, merge key): one per Modbus unit, one S7 per host,
    /// one per ENIP source.
    ids: BTreeMap<(IpAddr, String), IdAgg>,
    observed: BTreeMap<(IpAddr, &'static str, String), At>,
    /// Suspicious (undecodable) messages by (sender, frame).
    findings: BTreeMap<(IpAddr, u64), Finding>,
    /// Identity requests answered with nothing, by the identity key they would have had.
    empty_ids: BTreeMap<(IpAddr, String), Finding>,
    /// Destinations of frames the link layer sent to a broadcast or multicast group.
    link_broadcast: BTreeSet<IpAddr>,
    /// Things dropped because a cap was reached.
    pub capped: u64,
    /// The last two (source, MAC, initial TTL) triples [`Self::ip_packet`] recorded in
    /// full, and which was used last (see there).
    recent: [Option<Sighting>; 2],
    /// The last address [`Self::link_broadcast_dst`] recorded.
    last_broadcast: Option<IpAddr>,
    /// Identities of stations seen only on layer 2, by (MAC, merge key).
    link_ids: BTreeMap<([u8; 6], String), IdAgg>,
    /// Operations on stations seen only on layer 2, by (target MAC, actor MAC, protocol),
    /// then function.
    link_ops: BTreeMap<LinkOpKey, BTreeMap<String, OpAgg>>,
    /// Entries of `link_ops` (all functions), for the cap.
    link_ops_len: usize,
}

/// Operations between stations known only by MAC: (target, actor, protocol).
type LinkOpKey = ([u8; 6], [u8; 6], Protocol);

/// A source address, its Ethernet source and whether its TTL was an initial one: what
/// [`Collector::ip_packet`] records from a packet.
type Sighting = (IpAddr, Option<[u8; 6]>, bool);

/// What [`Collector::finish`] left out because the address was never shown to be a host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unproven {
    /// Observations left out.
    pub observations: u64,
    /// Distinct addresses they were about.
    pub addresses: u64,
    /// The first few of those addresses, for the warning.
    pub sample: Vec<IpAddr>,
    /// Of the observations, operations (by target, actor, protocol and function).
    pub operations: u64,
}

fn mac_str(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// True for a MAC that says nothing about a host (loopback captures write all zeros;
/// broadcast and multicast are never a host's source).
fn meaningless_mac(m: &[u8; 6]) -> bool {
    *m == [0; 6] || m[0] & 1 == 1
}

fn ip_is_host(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

impl Collector {
    pub fn new(file: &str) -> Self {
        Collector {
            file: file.to_string(),
            source: Source::Pcap,
            hosts: BTreeMap::new(),
            macs: BTreeMap::new(),
            arp: BTreeMap::new(),
            mac_ips: HashMap::default(),
            services: BTreeMap::new(),
            peers: BTreeMap::new(),
            ops: BTreeMap::new(),
            ops_len: 0,
            recent: [None; 2],
            last_broadcast: None,
            ids: BTreeMap::new(),
            observed: BTreeMap::new(),
            findings: BTreeMap::new(),
            empty_ids: BTreeMap::new(),
            link_broadcast: BTreeSet::new(),
            capped: 0,
            link_ids: BTreeMap::new(),
            link_ops: BTreeMap::new(),
            link_ops_len: 0,
        }
    }

    /// A collector for a Zeek log file: [`At::frame`] is a line number, and
    /// [`Self::zeek_log`] says which log the lines from there on belong to.
    pub fn zeek(file: &str) -> Self {
        Collector {
            source: Source::Zeek { logs: Vec::new() },
            ..Collector::new(file)
        }
    }

    /// The lines from `line` on belong to `log` (until the next call naming another).
    pub fn zeek_log(&mut self, line: u64, log: &str) {
        if let Source::Zeek { logs } = &mut self.source {
            if logs.last().is_none_or(|(_, l)| l != log) {
                logs.push((line, log.to_string()));
            }
        }
    }

    /// A frame to `ip` went to a link-layer broadcast or multicast group: `ip` is a
    /// directed broadcast (x.y.z.255 on a /24) or a group, never a host to scan.
    pub fn link_broadcast_dst(&mut self, ip: IpAddr) {
        if self.last_broadcast == Some(ip) {
            return;
        }
        self.last_broadcast = Some(ip);
        if self.link_broadcast.len() < MAX_HOSTS {
            self.link_broadcast.insert(ip);
        }
    }

    /// `ip` completed a TCP handshake as the destination on `port` (its SYN-ACK was
    /// acknowledged): it exists and listens there, even when the capture holds none of its
    /// own packets (a one-way SPAN).
    pub fn handshake_destination(&mut self, ip: IpAddr, port: u16, proto: Protocol, at: At) {
        if !ip_is_host(&ip) {
            return;
        }
        if !self.hosts.contains_key(&ip) {
            if self.hosts.len() >= MAX_HOSTS {
                self.capped += 1;
                return;
            }
            self.hosts.insert(ip, at);
        }
        self.service(ip, Transport::Tcp, port, proto, at);
    }

    /// True when `ip` was seen as the source of a packet (or completed a handshake as the
    /// destination) and never as the destination of a link-layer broadcast.
    fn proven(&self, ip: &IpAddr) -> bool {
        self.hosts.contains_key(ip) && !self.link_broadcast.contains(ip)
    }

    fn room(&mut self, len: usize) -> bool {
        if len >= MAX_KEYED {
            self.capped += 1;
            false
        } else {
            true
        }
    }

    /// An IP packet from `src` with this TTL and Ethernet source.
    ///
    /// Most packets repeat what the packet before last said (a request and its reply
    /// alternate): a call with the same source, MAC and kind of TTL as one of the last two
    /// recorded in full changes nothing (the host is known, the MAC pairing is in place,
    /// the first frame is kept) and returns at once. Every other call with that source
    /// replaces its remembered triple, so a remembered one is always what the state says.
    pub fn ip_packet(&mut self, src: IpAddr, ttl: u8, mac: Option<[u8; 6]>, at: At) {
        let triple = (src, mac, initial_ttl(ttl));
        if self.recent.contains(&Some(triple)) {
            return;
        }
        if !ip_is_host(&src) {
            return;
        }
        if !self.hosts.contains_key(&src) {
            if self.hosts.len() >= MAX_HOSTS {
                self.capped += 1;
                return;
            }
            self.hosts.insert(src, at);
        }
        // Recorded in full from here on (no cap makes a repeat count again).
        match self
            .recent
            .iter()
            .position(|r| r.is_some_and(|r| r.0 == src))
        {
            Some(i) => self.recent[i] = Some(triple),
            None => {
                self.recent[1] = self.recent[0];
                self.recent[0] = Some(triple);
            }
        }
        let Some(mac) = mac.filter(|m| !meaningless_mac(m)) else {
            return;
        };
        if self.mac_ips.len() < MAX_HOSTS || self.mac_ips.contains_key(&mac) {
            let ips = self.mac_ips.entry(mac).or_default();
            // Two IPs behind one MAC already make it a router's; a few more are kept
            // for nothing.
            if ips.len() < 8 {
                ips.insert(src);
            }
        }
        let seen = self.macs.entry(src).or_insert_with(|| MacSeen {
            mac,
            ..MacSeen::default()
        });
        if seen.mac != mac {
            // A second MAC for one IP: the first was a router's or the host moved; the
            // TTL rule below decides which to trust.
            if initial_ttl(ttl) && seen.local_frame.is_none() {
                *seen = MacSeen {
                    mac,
                    ..MacSeen::default()
                };
            } else {
                return;
            }
        }
        if initial_ttl(ttl) {
            seen.local_frame.get_or_insert(at);
        } else {
            seen.routed_frame.get_or_insert(at);
        }
    }

    /// An ARP packet: the sender says which MAC holds its IP.
    pub fn arp(&mut self, ip: IpAddr, mac: [u8; 6], at: At) {
        if !ip_is_host(&ip) || meaningless_mac(&mac) {
            return;
        }
        if !self.hosts.contains_key(&ip) && self.hosts.len() < MAX_HOSTS {
            self.hosts.insert(ip, at);
        }
        self.arp.entry(ip).or_insert((mac, at));
    }

    /// The one address this capture shows holding `mac` on the local link (its ARP, or
    /// the Ethernet source of its unrouted packets when no other address shares it).
    fn local_ip_of(&self, mac: &[u8; 6]) -> Option<IpAddr> {
        let mut ips: BTreeSet<IpAddr> = self
            .arp
            .iter()
            .filter(|(_, (m, _))| m == mac)
            .map(|(ip, _)| *ip)
            .collect();
        if self.mac_ips.get(mac).is_some_and(|ips| ips.len() == 1) {
            ips.extend(
                self.macs
                    .iter()
                    .filter(|(_, s)| s.mac == *mac && s.local_frame.is_some())
                    .map(|(ip, _)| *ip),
            );
        }
        let mut ips = ips.into_iter().filter(|ip| self.proven(ip));
        match (ips.next(), ips.next()) {
            (Some(ip), None) => Some(ip),
            _ => None,
        }
    }

    /// Hosts seen so far (for statistics).
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// The observations, in a stable order: per host, identities, MAC, services, peers,
    /// operations; and what was left out.
    ///
    /// # OT safety
    /// An address becomes the subject of an observation (and so an asset, and with
    /// `scan --from-passive` a scan target) only if it was the IP source of a packet, or
    /// the destination of a completed TCP handshake, and never the destination of a frame
    /// sent to a link-layer broadcast or multicast group. A List Identity broadcast to
    /// 192.168.1.255 therefore never makes 192.168.1.255 a host; requests to a host that
    /// never answered (a one-way capture) are left out and counted in [`Unproven`].
    pub fn finish(self) -> (Vec<Observation>, Unproven) {
        let mut unproven = Unproven::default();
        let mut unproven_ips: BTreeSet<IpAddr> = BTreeSet::new();
        let mut note = |ip: IpAddr, n: &mut Unproven| {
            n.observations += 1;
            if unproven_ips.insert(ip) && n.sample.len() < 5 {
                n.sample.push(ip);
            }
        };
        let file = self.file.clone();
        let source = &self.source;
        let prov = |at: &At| match source {
            Source::Pcap => Provenance::Pcap {
                file: file.clone(),
                frame: at.frame,
            },
            Source::Zeek { logs } => {
                // The last run starting at or before the line.
                let i = logs.partition_point(|(first, _)| *first <= at.frame);
                Provenance::Zeek {
                    file: file.clone(),
                    log: i
                        .checked_sub(1)
                        .map(|i| logs[i].1.clone())
                        .unwrap_or_default(),
                    line: at.frame,
                }
            }
        };
        let mut out: Vec<Observation> = Vec::new();
        for ((ip, _), agg) in &self.ids {
            if !self.proven(ip) {
                note(*ip, &mut unproven);
                continue;
            }
            out.push(Observation {
                ip: *ip,
                fact: Fact::Identity {
                    identity: agg.identity.clone(),
                },
                provenance: prov(&agg.at),
                seen: agg.at.ts,
                raw_hex: (!agg.raw.is_empty()).then(|| agg.raw.join(" ")),
                path: agg.path.clone(),
            });
        }
        let empty = self
            .empty_ids
            .iter()
            .filter(|(k, _)| !self.ids.contains_key(k))
            .map(|((ip, _), f)| (ip, f));
        for (ip, f) in self
            .findings
            .iter()
            .map(|((ip, _), f)| (ip, f))
            .chain(empty)
        {
            if !self.proven(ip) {
                note(*ip, &mut unproven);
                continue;
            }
            out.push(Observation {
                ip: *ip,
                fact: f.fact.clone(),
                provenance: prov(&f.at),
                seen: f.at.ts,
                raw_hex: f.raw.clone(),
                path: None,
            });
        }
        for (ip, first) in &self.hosts {
            if !self.proven(ip) {
                continue;
            }
            let arp = self.arp.get(ip);
            let eth = self.macs.get(ip);
            if let Some((mac, at)) = arp {
                out.push(Observation {
                    ip: *ip,
                    fact: Fact::Mac {
                        mac: mac_str(mac),
                        basis: MacBasis::Arp,
                    },
                    provenance: prov(at),
                    seen: at.ts,
                    raw_hex: None,
                    path: None,
                });
            }
            if let Some(seen) = eth {
                let shared = self.mac_ips.get(&seen.mac).is_some_and(|ips| ips.len() > 1);
                let arp_agrees = arp.is_some_and(|(m, _)| *m == seen.mac);
                // Trust an Ethernet source only when the TTL shows no router was crossed
                // and the MAC is not shared by several IPs (a router fronting them).
                let (basis, at) = match (seen.local_frame, seen.routed_frame) {
                    (Some(at), _) if !shared => (MacBasis::EthernetLocal, at),
                    (Some(at), _) | (None, Some(at)) => (MacBasis::EthernetRouted, at),
                    (None, None) => (MacBasis::EthernetRouted, *first),
                };
                if !arp_agrees {
                    out.push(Observation {
                        ip: *ip,
                        fact: Fact::Mac {
                            mac: mac_str(&seen.mac),
                            basis,
                        },
                        provenance: prov(&at),
                        seen: at.ts,
                        raw_hex: None,
                        path: None,
                    });
                }
            }
        }
        for ((ip, transport, port), (protocol, at)) in &self.services {
            if !self.proven(ip) {
                note(*ip, &mut unproven);
                continue;
            }
            out.push(Observation {
                ip: *ip,
                fact: Fact::Service {
                    transport: *transport,
                    port: *port,
                    protocol: *protocol,
                },
                provenance: prov(at),
                seen: at.ts,
                raw_hex: None,
                path: None,
            });
        }
        for ((client, server, protocol), (count, at)) in &self.peers {
            for (me, peer, role) in [
                (client, server, Role::Client),
                (server, client, Role::Server),
            ] {
                if !self.proven(me) {
                    note(*me, &mut unproven);
                    continue;
                }
                // A client's traffic to a broadcast or group address names no peer host.
                if self.link_broadcast.contains(peer) {
                    continue;
                }
                out.push(Observation {
                    ip: *me,
                    fact: Fact::Peer {
                        peer: *peer,
                        protocol: *protocol,
                        role,
                        count: *count,
                    },
                    provenance: prov(at),
                    seen: at.ts,
                    raw_hex: None,
                    path: None,
                });
            }
        }
        for ((ip, attribute, value), at) in &self.observed {
            if !self.proven(ip) {
                note(*ip, &mut unproven);
                continue;
            }
            out.push(Observation {
                ip: *ip,
                fact: Fact::Declared {
                    attribute: (*attribute).to_string(),
                    value: value.clone(),
                },
                provenance: prov(at),
                seen: at.ts,
                raw_hex: None,
                path: None,
            });
        }
        let ops = self
            .ops
            .iter()
            .flat_map(|((t, a, p), fs)| fs.iter().map(move |(f, op)| ((t, a, p, f), op)));
        for ((target, actor, protocol, function), op) in ops {
            if !self.proven(target) {
                note(*target, &mut unproven);
                unproven.operations += 1;
                continue;
            }
            let (target, actor, protocol) = (*target, *actor, *protocol);
            let function = crate::inventory::operation_name(protocol, function);
            out.push(Observation {
                ip: target,
                fact: Fact::Operation {
                    actor,
                    protocol,
                    kind: op.kind,
                    function,
                    count: op.count,
                    first: op.first.ts,
                    last: op.last.ts,
                },
                provenance: prov(&op.first),
                seen: op.first.ts,
                raw_hex: None,
                path: None,
            });
        }
        // Stations seen only on layer 2: about 0.0.0.0 with a `mac:` path (merge keys and
        // joins them by MAC, `inventory::mac`). An actor is named by its address when this
        // capture shows exactly one on the local link, else by its MAC.
        for ((mac, _), agg) in &self.link_ids {
            out.push(Observation {
                ip: crate::inventory::UNSPECIFIED_IP,
                fact: Fact::Identity {
                    identity: agg.identity.clone(),
                },
                provenance: prov(&agg.at),
                seen: agg.at.ts,
                raw_hex: Some(agg.raw.join(" ")),
                path: Some(crate::inventory::mac_path(
                    &mac_str(mac),
                    agg.path.as_deref(),
                )),
            });
        }
        for ((target, actor, protocol), fs) in &self.link_ops {
            for (function, op) in fs {
                let function = crate::inventory::operation_name(*protocol, function);
                let (first, last, count, kind, protocol) =
                    (op.first.ts, op.last.ts, op.count, op.kind, *protocol);
                let fact = match self.local_ip_of(actor) {
                    Some(actor) => Fact::Operation {
                        actor,
                        protocol,
                        kind,
                        function,
                        count,
                        first,
                        last,
                    },
                    None => Fact::LinkOperation {
                        actor_mac: mac_str(actor),
                        protocol,
                        kind,
                        function,
                        count,
                        first,
                        last,
                    },
                };
                out.push(Observation {
                    ip: crate::inventory::UNSPECIFIED_IP,
                    fact,
                    provenance: prov(&op.first),
                    seen: op.first.ts,
                    raw_hex: None,
                    path: Some(crate::inventory::mac_path(&mac_str(target), None)),
                });
            }
        }
        unproven.addresses = unproven_ips.len() as u64;
        (out, unproven)
    }
}

impl FactSink for Collector {
    /// The identity of a station seen only on layer 2 (a PROFINET DCP Identify response,
    /// a BACnet/Ethernet I-Am), keyed by its MAC (`behind`: the path of a device behind
    /// that station, as [`Self::identity_at`]'s). Parts with the same `key` fold into one.
    /// A group MAC is never a station: ignored.
    fn link_identity(
        &mut self,
        mac: [u8; 6],
        behind: Option<String>,
        key: String,
        identity: Identity,
        raw: &[u8],
        at: At,
    ) {
        if meaningless_mac(&mac) {
            return;
        }
        let key = match &behind {
            Some(p) => format!("{key}@{p}"),
            None => key,
        };
        let n = self.link_ids.len();
        match self.link_ids.get_mut(&(mac, key.clone())) {
            Some(agg) => {
                crate::protocols::fold_identity(&mut agg.identity, identity);
                if agg.raw.len() < 16 {
                    agg.raw.push(hex::encode(raw));
                }
            }
            None => {
                if self.room(n) {
                    self.link_ids.insert(
                        (mac, key),
                        IdAgg {
                            identity,
                            at,
                            raw: vec![hex::encode(raw)],
                            path: behind,
                        },
                    );
                }
            }
        }
    }

    /// The station at MAC `actor` performed `function` on the station at MAC `target`
    /// (a PROFINET DCP Set). A group MAC is never a target: ignored.
    fn link_operation(
        &mut self,
        target: [u8; 6],
        actor: [u8; 6],
        proto: Protocol,
        kind: OperationKind,
        function: &str,
        at: At,
    ) {
        if meaningless_mac(&target) {
            return;
        }
        if let Some(op) = self
            .link_ops
            .get_mut(&(target, actor, proto))
            .and_then(|f| f.get_mut(function))
        {
            op.count += 1;
            op.last = at;
            return;
        }
        if !self.room(self.link_ops_len) {
            return;
        }
        self.link_ops_len += 1;
        self.link_ops
            .entry((target, actor, proto))
            .or_default()
            .insert(
                function.to_string(),
                OpAgg {
                    kind,
                    count: 1,
                    first: at,
                    last: at,
                },
            );
    }

    /// `ip` is shown to exist (a Zeek row it sent), with no packet to say more.
    fn host(&mut self, ip: IpAddr, at: At) {
        if !ip_is_host(&ip) || self.hosts.contains_key(&ip) {
            return;
        }
        if self.hosts.len() >= MAX_HOSTS {
            self.capped += 1;
            return;
        }
        self.hosts.insert(ip, at);
    }

    /// `ip` answered on `port`.
    fn service(&mut self, ip: IpAddr, transport: Transport, port: u16, proto: Protocol, at: At) {
        if !ip_is_host(&ip) {
            return;
        }
        let n = self.services.len();
        match self.services.get_mut(&(ip, transport, port)) {
            Some(s) => {
                // A decoded protocol beats a guess from the port.
                if s.0 == Protocol::Other && proto != Protocol::Other {
                    s.0 = proto;
                }
            }
            None => {
                if self.room(n) {
                    self.services.insert((ip, transport, port), (proto, at));
                }
            }
        }
    }

    /// `client` exchanged `count` messages with `server` over `proto` (0: the pair is
    /// known from an answer alone).
    fn peers(&mut self, client: IpAddr, server: IpAddr, proto: Protocol, count: u64, at: At) {
        if !ip_is_host(&client) || !ip_is_host(&server) {
            return;
        }
        let n = self.peers.len();
        match self.peers.get_mut(&(client, server, proto)) {
            Some(p) => p.0 += count,
            None => {
                if self.room(n) {
                    self.peers.insert((client, server, proto), (count, at));
                }
            }
        }
    }

    /// `actor` performed `function` on `target`.
    fn operation(
        &mut self,
        target: IpAddr,
        actor: IpAddr,
        proto: Protocol,
        kind: OperationKind,
        function: &str,
        at: At,
    ) {
        let n = self.ops_len;
        if let Some(op) = self
            .ops
            .get_mut(&(target, actor, proto))
            .and_then(|f| f.get_mut(function))
        {
            op.count += 1;
            op.last = at;
            return;
        }
        if self.room(n) {
            self.ops_len += 1;
            self.ops.entry((target, actor, proto)).or_default().insert(
                function.to_string(),
                OpAgg {
                    kind,
                    count: 1,
                    first: at,
                    last: at,
                },
            );
        }
    }

    /// An identity read through `device` from something behind it at `path` (a module on
    /// a CIP route): kept apart from `device`'s own identity, with the path on the
    /// observation.
    fn identity_at(
        &mut self,
        device: IpAddr,
        path: Option<String>,
        key: String,
        identity: Identity,
        raw: &[u8],
        at: At,
    ) {
        let key = match &path {
            Some(p) => format!("{key}@{p}"),
            None => key,
        };
        let n = self.ids.len();
        match self.ids.get_mut(&(device, key.clone())) {
            Some(agg) => {
                crate::protocols::fold_identity(&mut agg.identity, identity);
                if agg.raw.len() < 16 && !raw.is_empty() {
                    agg.raw.push(hex::encode(raw));
                }
            }
            None => {
                if self.room(n) {
                    // A Zeek row carries no bytes: the observation then has none either.
                    let raw = if raw.is_empty() {
                        Vec::new()
                    } else {
                        vec![hex::encode(raw)]
                    };
                    self.ids.insert(
                        (device, key),
                        IdAgg {
                            identity,
                            at,
                            raw,
                            path,
                        },
                    );
                }
            }
        }
    }

    /// A message from `src` that did not decode: kept with its first
    /// [`MAX_ANOMALY_BYTES`] bytes (the reason says how long it was).
    fn suspicious(
        &mut self,
        src: IpAddr,
        protocol: Protocol,
        port: u16,
        reason: String,
        raw: &[u8],
        at: At,
    ) {
        if self.findings.len() >= MAX_FINDINGS {
            self.capped += 1;
            return;
        }
        let kept = &raw[..raw.len().min(MAX_ANOMALY_BYTES)];
        let reason = if kept.len() < raw.len() {
            format!(
                "{reason} ({} bytes, the first {} kept)",
                raw.len(),
                kept.len()
            )
        } else {
            format!("{reason} ({} bytes)", raw.len())
        };
        let fact = Fact::Suspicious {
            protocol,
            port,
            reason,
        };
        // Two undecodable messages in one frame: the first is kept (both are counted).
        self.findings
            .entry((src, at.frame))
            .or_insert_with(|| Finding {
                fact,
                at,
                raw: Some(hex::encode(kept)),
            });
    }

    /// `device` answered an identity request without naming anything (a Modbus
    /// identification reply with zero objects). Reported at the end as
    /// [`Fact::NoIdentity`], and only when no reply under the same identity `key` named something.
    #[allow(clippy::too_many_arguments)]
    fn empty_identity(
        &mut self,
        device: IpAddr,
        key: String,
        protocol: Protocol,
        port: u16,
        answer: String,
        raw: &[u8],
        at: At,
    ) {
        if self.empty_ids.contains_key(&(device, key.clone())) {
            return;
        }
        if self.empty_ids.len() >= MAX_FINDINGS {
            self.capped += 1;
            return;
        }
        let fact = Fact::NoIdentity {
            protocol,
            port,
            answer,
        };
        self.empty_ids.insert(
            (device, key),
            Finding {
                fact,
                at,
                raw: Some(hex::encode(&raw[..raw.len().min(MAX_ANOMALY_BYTES)])),
            },
        );
    }

    /// A protocol address seen in traffic to `ip` (a Modbus unit id, an S7 TSAP), kept
    /// once per value for the active scan's hints.
    fn observed(&mut self, ip: IpAddr, attribute: &'static str, value: String, at: At) {
        let n = self.observed.len();
        let key = (ip, attribute, value);
        if self.observed.contains_key(&key) {
            return;
        }
        if self.room(n) {
            self.observed.insert(key, at);
        }
    }
}

#[cfg(test)]
mod speed_tests {
    use super::*;

    #[test]
    fn initial_ttl_is_the_list() {
        for ttl in 0..=u8::MAX {
            assert_eq!(initial_ttl(ttl), INITIAL_TTLS.contains(&ttl), "{ttl}");
        }
    }
}
