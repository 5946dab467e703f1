//! The capture engine: frames in, facts out.
//!
//! Decodes each frame's headers ([`super::packet`]), records hosts, MACs and ARP, keeps a
//! bounded table of TCP flows each with two reassembled [`Stream`]s, frames each stream
//! with the protocol's own `frame_len` from `wire/`, and hands whole frames to the
//! protocol analyzers ([`crate::protocols::analyzer`]), which use the same `wire/`
//! decoders as the active side. UDP datagrams go to the analyzers whole.
//!
//! Frames without IP (PROFINET DCP, BACnet/Ethernet) go to the one per-capture layer-2
//! analyzer of the protocol that registered their EtherType or LLC SAP
//! ([`crate::protocols::ProtocolSpec::link_types`]); their facts are about stations known
//! only by MAC ([`crate::inventory::MAC_PATH_PREFIX`]).
//!
//! Which protocol a flow speaks comes from the registry ([`crate::protocols::REGISTRY`]):
//! its well-known ports, its payload detector, its framer and a boxed analyzer per flow
//! (a dynamic call per frame; measured against the enum dispatch this replaced, see
//! `benches/passive.rs`).
//!
//! What is decoded depends on the bytes of each direction, never on how TCP cut them
//! (the framing contract of `crate::wire`). Bytes that cannot start a frame where one had
//! to start (after a SYN, or right after whole frames) mean the peer is not speaking the
//! protocol: they are kept as an undecodable message and the rest of that direction is
//! not read. Only where the frame boundary was never known (a capture that starts
//! mid-message, bytes lost in a gap) does the engine resynchronise on the next segment.
//!
//! Memory is bounded: at most [`MAX_FLOWS`] flows, each with capped buffers
//! ([`super::tcp`]); flows idle for [`IDLE_SECS`] of capture time are evicted, and when
//! the table is full the least recently active are. On top of that, all streams together
//! hold at most a global byte budget ([`DEFAULT_REASSEMBLY_BUDGET`] unless
//! [`CaptureOptions::reassembly_budget`] says otherwise): past it the largest streams are
//! released (their buffered bytes dropped, counted, and reported as a warning: the
//! result may be partial).
//!
//! TCP flows on ports that name no ICS protocol have their first bytes buffered (at most
//! [`super::detect::MAX_PROBE_BYTES`] per direction) while the detector reads them frame by
//! frame ([`super::detect::Probe`]): when both directions parse cleanly as the same
//! protocol the flow is decoded as that protocol, what was buffered is replayed to its
//! analyzer, and the detection is recorded as heuristic ([`ATTR_PROTOCOL_HEURISTIC`]).
//! The decision and what is decoded depend on the bytes, not on how TCP cut them. A flow
//! ruled out, or whose probe fills first (counted in [`ImportStats::probe_capped`]), is
//! opaque for good and buffers nothing more. A UDP datagram between
//! ports that name no ICS protocol is read when it is, on its own, an EtherNet/IP List
//! Identity reply carrying an identity item (a device answering discovery from another
//! port), recorded as heuristic the same way.

use std::net::IpAddr;

// Flow keys come from the capture: foldhash's per-process random seed keeps hostile keys
// from colliding on purpose, at a fraction of SipHash's cost per packet.
use foldhash::HashMap;

use super::ImportStats;
use super::capture::RawFrame;
use super::collect::{At, Collector};
use super::packet::{self, Body, L4};
use super::tcp::Stream;
use crate::facts::FactSink;
use crate::inventory::{Protocol, Transport};
use crate::protocols::analyzer::{Analyzer, Ctx, Dir, LinkAnalyzer, LinkCtx};
use crate::protocols::{ProtocolSpec, link_protocol, well_known_port};

/// Flows tracked at once.
pub const MAX_FLOWS: usize = 65_536;
/// A flow with no packet for this long (capture time) is forgotten.
pub const IDLE_SECS: i64 = 300;
/// How often (in packets) idle flows are swept.
const SWEEP_EVERY: u64 = 8192;
/// Bytes all TCP streams of one capture may hold at once, by default (256 MiB).
pub const DEFAULT_REASSEMBLY_BUDGET: usize = 256 * 1024 * 1024;
/// Times a direction of a flow that started mid-connection may drop its unreadable first
/// bytes and look again from its next segment before the probe gives up.
const MAX_PROBE_RESYNCS: u8 = 8;
/// The attribute under which a protocol found by payload (not by port) is recorded on the
/// server, e.g. `modbus on tcp/5020 (payload heuristic: ...)`.
pub const ATTR_PROTOCOL_HEURISTIC: &str = "observed.protocol_heuristic";

/// How the engine treats one capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Bytes all TCP streams may hold at once (see the module docs).
    pub reassembly_budget: usize,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            reassembly_budget: DEFAULT_REASSEMBLY_BUDGET,
        }
    }
}

/// The protocol a port suggests (the registry's well-known ports), or
/// [`Protocol::Other`].
pub fn protocol_for_port(transport: Transport, port: u16) -> Protocol {
    well_known_port(transport, port).map_or(Protocol::Other, |(_, w)| w.protocol)
}

fn well_known(transport: Transport, port: u16) -> bool {
    well_known_port(transport, port).is_some()
}

/// A flow's protocol analyzer with its protocol's framer.
#[derive(Debug)]
struct FlowAnalyzer {
    spec: &'static dyn ProtocolSpec,
    state: Box<dyn Analyzer>,
}

impl FlowAnalyzer {
    fn new(spec: &'static dyn ProtocolSpec) -> Self {
        FlowAnalyzer {
            spec,
            state: spec.analyzer(),
        }
    }
}

/// The analyzer for a flow on a well-known TCP port (`None`: opaque, or a port whose
/// protocol is only noted).
fn tcp_analyzer(port: u16) -> Option<FlowAnalyzer> {
    match well_known_port(Transport::Tcp, port) {
        Some((spec, w)) if w.decoded => Some(FlowAnalyzer::new(spec)),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    lo: (IpAddr, u16),
    hi: (IpAddr, u16),
}

impl FlowKey {
    fn new(a: (IpAddr, u16), b: (IpAddr, u16)) -> Self {
        if a <= b {
            FlowKey { lo: a, hi: b }
        } else {
            FlowKey { lo: b, hi: a }
        }
    }
}

#[derive(Debug)]
struct Flow {
    client: (IpAddr, u16),
    server: (IpAddr, u16),
    protocol: Protocol,
    /// `None` for a flow that is not decoded (opaque until a detection).
    analyzer: Option<FlowAnalyzer>,
    c2s: Stream,
    s2c: Stream,
    last_ts: i64,
    last_frame: u64,
    /// A SYN was seen (so client and server are known, not guessed).
    syn_seen: bool,
    /// The client's SYN was seen and the handshake's final ACK has not been yet.
    awaiting_ack: bool,
    /// The detector's reading of a flow on a non-ICS port, while it has not decided
    /// (`None`: decided, or a well-known port).
    probe: Option<Box<super::detect::Probe>>,
    /// Resynchronisations of the probe (a flow that started mid-connection).
    probe_resyncs: u8,
    /// Whether the first payload byte of the flow came from the client (who asked first
    /// is the client when no SYN said so).
    first_from_client: Option<bool>,
}

impl Flow {
    fn held(&self) -> usize {
        self.c2s.held() + self.s2c.held()
    }
}

/// The engine's state over one capture.
#[derive(Debug)]
pub struct Engine {
    pub col: Collector,
    pub stats: ImportStats,
    flows: HashMap<FlowKey, Flow>,
    udp_pairs: HashMap<(IpAddr, IpAddr, u16), (IpAddr, IpAddr)>,
    /// One analyzer per UDP host pair and port, for protocols that pair replies with
    /// requests across datagrams ([`crate::protocols::ProtocolSpec::udp_pairs_state`]).
    udp_analyzers: HashMap<(IpAddr, IpAddr, u16), Box<dyn crate::protocols::analyzer::Analyzer>>,
    warnings: Vec<String>,
    /// One layer-2 analyzer per protocol that registered a layer-2 hook, made when its
    /// first frame arrives.
    link_analyzers: Vec<(Protocol, Box<dyn LinkAnalyzer>)>,
    /// Bytes all streams hold now, and the most they may.
    buffered: usize,
    budget: usize,
    defrag: super::defrag::Defrag,
}

const MAX_WARNINGS: usize = 20;

impl Engine {
    pub fn new(file: &str) -> Self {
        Self::with_options(file, &CaptureOptions::default())
    }

    pub fn with_options(file: &str, opts: &CaptureOptions) -> Self {
        Engine {
            col: Collector::new(file),
            stats: ImportStats::default(),
            flows: HashMap::default(),
            udp_pairs: HashMap::default(),
            udp_analyzers: HashMap::default(),
            warnings: Vec::new(),
            link_analyzers: Vec::new(),
            buffered: 0,
            budget: opts.reassembly_budget,
            defrag: super::defrag::Defrag::default(),
        }
    }

    /// Records a warning (the first [`MAX_WARNINGS`] are kept, the rest counted).
    pub fn warn(&mut self, w: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(w);
        } else {
            self.stats.warnings_suppressed += 1;
        }
    }

    /// Ends the capture: returns the collector and the warnings.
    pub fn finish(mut self) -> (Collector, ImportStats, Vec<String>) {
        self.stats.flows_at_end = self.flows.len() as u64;
        self.stats.hosts = self.col.host_count() as u64;
        self.stats.capped += self.col.capped;
        if self.stats.capped > 0 {
            // Always shown (not subject to the warning limit): the result is partial.
            self.warnings.push(format!(
                "{} times a memory cap was reached ({MAX_FLOWS} TCP flows at once, {} hosts or facts of a kind): \
                 flows or facts were dropped and the result is partial; split the capture \
                 (editcap -c) and import the parts",
                self.stats.capped,
                super::collect::MAX_HOSTS
            ));
        }
        if self.stats.budget_releases > 0 {
            // Always shown: bytes were dropped, so messages in them were not decoded.
            self.warnings.push(format!(
                "the reassembly memory budget ({} bytes) was reached: {} times the largest \
                 TCP streams were released, dropping {} buffered bytes; messages in them \
                 were not decoded and the result may be partial; raise the budget \
                 (otscout passive --reassembly-budget) or split the capture (editcap -c)",
                self.budget, self.stats.budget_releases, self.stats.budget_bytes_dropped
            ));
        }
        self.defrag.finish();
        self.stats.ip_reassembled = self.defrag.reassembled;
        self.stats.ip_fragments_dropped = self.defrag.dropped;
        if self.defrag.dropped > 0 {
            // Always shown: what those fragments carried was not decoded.
            self.warnings.push(format!(
                "{} of {} IP fragments could not be reassembled (pieces missing from the \
                 capture, or over the reassembly caps): what they carried was not decoded",
                self.defrag.dropped, self.stats.ip_fragments
            ));
        }
        (self.col, self.stats, self.warnings)
    }

    /// Processes one captured frame.
    pub fn frame(&mut self, f: RawFrame<'_>) {
        self.stats.frames += 1;
        self.stats.bytes += f.data.len() as u64;
        let at = At {
            frame: f.number,
            ts: f.ts,
        };
        let Some(pkt) = packet::decode(f.linktype, f.data) else {
            self.stats.not_ip += 1;
            return;
        };
        let ip = match pkt.body {
            Body::Arp(arp) => {
                self.stats.arp += 1;
                self.col.arp(IpAddr::V4(arp.sender_ip), arp.sender_mac, at);
                return;
            }
            Body::Link(l) => {
                self.link(&l, at);
                return;
            }
            Body::Ip(ip) => ip,
        };
        self.col.ip_packet(ip.src, ip.ttl, pkt.src_mac, at);
        if pkt.link_broadcast {
            self.col.link_broadcast_dst(ip.dst);
        }
        let now = f.ts.map(|t| t.timestamp()).unwrap_or(0);
        if let Some(frag) = &ip.fragment {
            self.stats.ip_fragments += 1;
            if let Some((proto, whole)) = self.defrag.push(ip.src, ip.dst, frag, now) {
                let l4 = packet::transport(proto, &whole);
                self.transport(ip.src, ip.dst, l4, now, at, pkt.link_broadcast);
            }
        }
        self.transport(ip.src, ip.dst, ip.l4, now, at, pkt.link_broadcast);
        if self.stats.frames % SWEEP_EVERY == 0 {
            self.sweep(now, f.number, false);
            self.defrag.expire(now);
        }
    }

    /// A frame without IP, to the analyzer of the protocol that registered its kind
    /// ([`crate::protocols::ProtocolSpec::link_types`]); counted as not IP otherwise.
    fn link(&mut self, l: &packet::LinkFrame<'_>, at: At) {
        let Some(spec) = link_protocol(l.kind) else {
            self.stats.not_ip += 1;
            return;
        };
        let i = match self
            .link_analyzers
            .iter()
            .position(|(p, _)| *p == spec.protocol())
        {
            Some(i) => i,
            None => {
                let Some(a) = spec.link_analyzer() else {
                    self.stats.not_ip += 1;
                    return;
                };
                self.link_analyzers.push((spec.protocol(), a));
                self.link_analyzers.len() - 1
            }
        };
        let mut ctx = LinkCtx {
            at,
            col: &mut self.col,
            stats: &mut self.stats,
        };
        self.link_analyzers[i].1.on_link_frame(l, &mut ctx);
    }

    fn sweep(&mut self, now: i64, frame: u64, full: bool) {
        let before = self.flows.len();
        let mut freed = 0usize;
        // Without timestamps, age is counted in frames (a million frames is "idle").
        self.flows.retain(|_, fl| {
            let keep = if now != 0 {
                now - fl.last_ts <= IDLE_SECS
            } else {
                frame - fl.last_frame <= 1_000_000
            };
            if !keep {
                freed += fl.held();
            }
            keep
        });
        if full && self.flows.len() >= MAX_FLOWS {
            // Still full: drop the least recently active eighth.
            let mut ages: Vec<u64> = self.flows.values().map(|f| f.last_frame).collect();
            let cut = ages.len() / 8;
            ages.select_nth_unstable(cut);
            let threshold = ages[cut];
            self.flows.retain(|_, fl| {
                let keep = fl.last_frame > threshold;
                if !keep {
                    freed += fl.held();
                }
                keep
            });
        }
        self.buffered = self.buffered.saturating_sub(freed);
        self.stats.flows_evicted += (before - self.flows.len()) as u64;
    }

    /// Releases the largest streams until all of them hold at most three quarters of the
    /// budget (the slack keeps this from running on every segment).
    fn enforce_budget(&mut self) {
        let target = self.budget / 4 * 3;
        let mut sizes: Vec<(usize, FlowKey, bool)> = Vec::new();
        for (k, fl) in &self.flows {
            for (s, c2s) in [(&fl.c2s, true), (&fl.s2c, false)] {
                if s.held() > 0 {
                    sizes.push((s.held(), *k, c2s));
                }
            }
        }
        sizes.sort_unstable_by_key(|s| std::cmp::Reverse(s.0));
        for (_, k, c2s) in sizes {
            if self.buffered <= target {
                break;
            }
            let Some(fl) = self.flows.get_mut(&k) else {
                continue;
            };
            let s = if c2s { &mut fl.c2s } else { &mut fl.s2c };
            let held = s.held();
            let lost = s.release();
            self.buffered = self.buffered.saturating_sub(held);
            self.stats.budget_releases += 1;
            self.stats.budget_bytes_dropped += lost as u64;
        }
        // What is left is the allocations' true total (a cross-check against drift).
        self.buffered = self.flows.values().map(Flow::held).sum();
    }

    /// One IP packet's (or reassembled datagram's) transport payload, to its analyzer.
    fn transport(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        l4: L4<'_>,
        now: i64,
        at: At,
        link_broadcast: bool,
    ) {
        match l4 {
            L4::Tcp(t) => {
                self.stats.tcp_segments += 1;
                self.tcp(src, dst, &t, now, at, link_broadcast);
            }
            L4::Udp(u) => {
                self.stats.udp_datagrams += 1;
                self.udp(src, dst, u.sport, u.dport, u.payload, at);
            }
            L4::Other => {}
        }
    }

    fn tcp(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        t: &packet::Tcp<'_>,
        now: i64,
        at: At,
        link_broadcast: bool,
    ) {
        use packet::Tcp as T;
        let key = FlowKey::new((src, t.sport), (dst, t.dport));
        let syn_only = t.has(T::SYN) && !t.has(T::ACK);
        if t.has(T::SYN) && t.has(T::ACK) {
            // The SYN-ACK's sender is listening on that port: a service that answered.
            let proto = protocol_for_port(Transport::Tcp, t.sport);
            self.col.service(src, Transport::Tcp, t.sport, proto, at);
        }
        if syn_only {
            // A new connection (or a reused port pair): start the flow afresh, unless
            // this SYN is a retransmission of the one that opened it.
            if let Some(fl) = self.flows.get_mut(&key) {
                let s = if fl.client == (src, t.sport) {
                    &fl.c2s
                } else {
                    &fl.s2c
                };
                if s.expects(t.seq.wrapping_add(1)) {
                    fl.last_ts = now;
                    fl.last_frame = at.frame;
                    return;
                }
                if let Some(old) = self.flows.remove(&key) {
                    self.buffered = self.buffered.saturating_sub(old.held());
                }
            }
        }
        if !self.flows.contains_key(&key) {
            if t.payload.is_empty() && !t.has(T::SYN) {
                // A bare ACK/FIN/RST of a connection we never saw carries nothing to decode.
                return;
            }
            if self.flows.len() >= MAX_FLOWS {
                self.sweep(now, at.frame, true);
                self.stats.capped += 1;
            }
            // The well-known port's side is the server, whoever opened the connection (a
            // device opening connections *from* port 502 still answers as the server);
            // failing that the SYN's sender is the client, and failing that the lower
            // port is the server.
            let (wk_src, wk_dst) = (
                well_known(Transport::Tcp, t.sport),
                well_known(Transport::Tcp, t.dport),
            );
            let reply_side = if wk_src != wk_dst {
                wk_src
            } else if t.has(T::SYN) {
                !syn_only
            } else {
                t.sport < t.dport
            };
            let (client, server) = if reply_side {
                ((dst, t.dport), (src, t.sport))
            } else {
                ((src, t.sport), (dst, t.dport))
            };
            let protocol = protocol_for_port(Transport::Tcp, server.1);
            self.stats.flows += 1;
            self.flows.insert(
                key,
                Flow {
                    client,
                    server,
                    protocol,
                    analyzer: tcp_analyzer(server.1),
                    c2s: Stream::default(),
                    s2c: Stream::default(),
                    last_ts: now,
                    last_frame: at.frame,
                    syn_seen: false,
                    awaiting_ack: false,
                    probe: (protocol == Protocol::Other).then(Box::default),
                    probe_resyncs: 0,
                    first_from_client: None,
                },
            );
        }
        let Some(fl) = self.flows.get_mut(&key) else {
            return;
        };
        fl.last_ts = now;
        fl.last_frame = at.frame;
        let from_client = fl.client == (src, t.sport);
        if t.has(T::SYN) {
            fl.syn_seen = true;
            fl.awaiting_ack = from_client && syn_only;
        } else if fl.awaiting_ack && from_client && t.has(T::ACK) && !t.has(T::RST) {
            // The client acknowledged the server's SYN-ACK: the handshake completed, so the
            // server exists even if the capture holds none of its packets. Never from a
            // frame sent to a link-layer group (no handshake is made to a broadcast).
            fl.awaiting_ack = false;
            if !link_broadcast {
                let (ip, port) = fl.server;
                self.col.handshake_destination(ip, port, fl.protocol, at);
            }
        }
        if t.has(T::SYN) {
            let stream = if from_client {
                &mut fl.c2s
            } else {
                &mut fl.s2c
            };
            stream.syn(t.seq);
        }
        if t.payload.is_empty() {
            return;
        }
        fl.first_from_client.get_or_insert(from_client);
        if fl.protocol == Protocol::Other {
            let held_before = fl.held();
            let found = probe_segment(fl, from_client, t.seq, t.payload, &mut self.stats);
            if let Some(spec) = found {
                if !fl.syn_seen && fl.first_from_client == Some(false) {
                    // The side that sent first is the client, whatever the ports suggested.
                    std::mem::swap(&mut fl.client, &mut fl.server);
                    std::mem::swap(&mut fl.c2s, &mut fl.s2c);
                }
                fl.protocol = spec.protocol();
                fl.analyzer = Some(FlowAnalyzer::new(spec));
                self.stats.heuristic_flows += 1;
                let (why, name) = (spec.detect_reason(), spec.name());
                self.col.observed(
                    fl.server.0,
                    ATTR_PROTOCOL_HEURISTIC,
                    format!(
                        "{name} on tcp/{} (payload heuristic, not the port: {why})",
                        fl.server.1
                    ),
                    at,
                );
                // The server sent frames of the protocol (the detection needs them).
                let (ip, port) = fl.server;
                self.col.service(ip, Transport::Tcp, port, fl.protocol, at);
                replay(fl, at, &mut self.col, &mut self.stats, &mut self.warnings);
                fl.c2s.trim();
                fl.s2c.trim();
            } else if !from_client {
                let (ip, port) = fl.server;
                self.col
                    .service(ip, Transport::Tcp, port, Protocol::Other, at);
            }
            self.buffered = (self.buffered + fl.held()).saturating_sub(held_before);
            if self.buffered > self.budget {
                self.enforce_budget();
            }
            return;
        }
        let from_client = fl.client == (src, t.sport);
        if !from_client {
            // The server side sent data: it answered on this port.
            let (ip, port) = fl.server;
            let proto = fl.protocol;
            self.col.service(ip, Transport::Tcp, port, proto, at);
        }
        let stream = if from_client {
            &mut fl.c2s
        } else {
            &mut fl.s2c
        };
        if stream.stopped {
            // This direction is not the protocol (see `Stream::stop`).
            return;
        }
        let Some(an) = fl.analyzer.as_mut() else {
            // A well-known port whose protocol is only noted.
            return;
        };
        let held_before = stream.held();
        let dir = if from_client {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        let mut ctx = Ctx {
            client: fl.client.0,
            server: fl.server.0,
            server_port: fl.server.1,
            transport: Transport::Tcp,
            src,
            dir,
            at,
            col: &mut self.col,
            stats: &mut self.stats,
            warnings: &mut self.warnings,
        };
        if stream.in_order(t.seq, t.payload.len()) {
            // In order with nothing buffered: frame the payload where it lies and buffer
            // only the start of a frame it leaves incomplete.
            let (used, end) = cut_frames(an, t.payload, stream.aligned, &mut ctx);
            finish_cut(stream, end, used > 0);
            if end == Cut::NeedMore {
                stream.keep(&t.payload[used..]);
            }
        } else {
            let fx = stream.segment(t.seq, t.payload);
            if fx.retransmission {
                ctx.stats.retransmissions += 1;
            }
            if fx.gap {
                ctx.stats.gaps += 1;
            }
            if fx.appended {
                drain_frames(an, stream, &mut ctx);
            }
        }
        stream.trim();
        let held_after = stream.held();
        self.buffered = (self.buffered + held_after).saturating_sub(held_before);
        if self.buffered > self.budget {
            self.enforce_budget();
        }
    }

    fn udp(&mut self, src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8], at: At) {
        let (dir, server_port) = match (
            well_known(Transport::Udp, sport),
            well_known(Transport::Udp, dport),
        ) {
            (true, false) => (Dir::ToClient, sport),
            (false, true) => (Dir::ToServer, dport),
            (true, true) => (Dir::Unknown, dport),
            (false, false) => {
                // No port names a protocol: only a datagram that is, on its own, an
                // EtherNet/IP List Identity reply with an identity item in it is taken
                // (a single datagram has no answer to confirm it, so the bar is the
                // decoded identity, not a plausible header).
                let Some((spec, why)) = super::detect::datagram(payload) else {
                    return;
                };
                self.stats.heuristic_flows += 1;
                self.col.observed(
                    src,
                    ATTR_PROTOCOL_HEURISTIC,
                    format!(
                        "{} on udp/{sport} (payload heuristic, not the port: {why})",
                        spec.name()
                    ),
                    at,
                );
                self.col
                    .service(src, Transport::Udp, sport, spec.protocol(), at);
                let mut an = spec.analyzer();
                let mut ctx = Ctx {
                    client: dst,
                    server: src,
                    server_port: sport,
                    transport: Transport::Udp,
                    src,
                    dir: Dir::ToClient,
                    at,
                    col: &mut self.col,
                    stats: &mut self.stats,
                    warnings: &mut self.warnings,
                };
                an.on_datagram(payload, &mut ctx);
                return;
            }
        };
        let Some((spec, port)) = well_known_port(Transport::Udp, server_port) else {
            return;
        };
        let protocol = port.protocol;
        if matches!(dir, Dir::ToClient) || (!port.decoded && sport == server_port) {
            self.col.service(src, Transport::Udp, sport, protocol, at);
        }
        let (client, server) = match dir {
            Dir::ToServer => (src, dst),
            Dir::ToClient => (dst, src),
            Dir::Unknown => {
                // Both ends on the well-known port (CIP I/O, ENIP broadcasts answered from
                // 44818): the first sender seen for the pair is taken as the originator.
                let lo = src.min(dst);
                let hi = src.max(dst);
                if self.udp_pairs.len() < super::collect::MAX_HOSTS {
                    *self
                        .udp_pairs
                        .entry((lo, hi, server_port))
                        .or_insert((src, dst))
                } else {
                    (src, dst)
                }
            }
        };
        let mut ctx = Ctx {
            client,
            server,
            server_port,
            transport: Transport::Udp,
            src,
            dir,
            at,
            col: &mut self.col,
            stats: &mut self.stats,
            warnings: &mut self.warnings,
        };
        if !port.decoded {
            ctx.col.peer(client, server, protocol, at);
            return;
        }
        if spec.udp_pairs_state() {
            let key = (src.min(dst), src.max(dst), server_port);
            if let Some(an) = self.udp_analyzers.get_mut(&key) {
                an.on_datagram(payload, &mut ctx);
            } else if self.udp_analyzers.len() < super::collect::MAX_HOSTS {
                let an = self
                    .udp_analyzers
                    .entry(key)
                    .or_insert_with(|| spec.analyzer());
                an.on_datagram(payload, &mut ctx);
            } else {
                spec.analyzer().on_datagram(payload, &mut ctx);
            }
            return;
        }
        spec.analyzer().on_datagram(payload, &mut ctx);
    }
}

/// Buffers one payload segment of a flow on a non-ICS port and lets the probe read it.
/// Returns the protocol when the probe found one (the flow's streams then hold what was
/// buffered, for [`replay`]); a flow ruled out, or whose probe filled, loses its probe and
/// its buffers.
fn probe_segment(
    fl: &mut Flow,
    from_client: bool,
    seq: u32,
    payload: &[u8],
    stats: &mut ImportStats,
) -> Option<&'static dyn ProtocolSpec> {
    use super::detect::{MAX_PROBE_BYTES, Verdict};
    let probe = fl.probe.as_mut()?;
    let dir = usize::from(!from_client);
    let stream = if from_client {
        &mut fl.c2s
    } else {
        &mut fl.s2c
    };
    let fx = stream.segment(seq, payload);
    if fx.retransmission {
        stats.retransmissions += 1;
    }
    if fx.gap {
        // Bytes were lost: what is buffered no longer starts the stream.
        stats.gaps += 1;
        probe.reset(dir);
    }
    if fx.appended {
        probe.advance(dir, &stream.buf);
    }
    if probe.dead(dir) && !stream.aligned && fl.probe_resyncs < MAX_PROBE_RESYNCS {
        // A capture that starts mid-message: the first bytes seen need not start a frame.
        // Look again from the next segment (where the boundary was never known, as the
        // stream itself does).
        fl.probe_resyncs += 1;
        stats.desyncs += 1;
        stream.desync();
        probe.reset(dir);
        return None;
    }
    let verdict = if stream.buf.len() > MAX_PROBE_BYTES {
        stats.probe_capped += 1;
        Verdict::NotIcs
    } else {
        probe.verdict()
    };
    match verdict {
        Verdict::Undecided => None,
        Verdict::Found(spec) => {
            fl.probe = None;
            Some(spec)
        }
        Verdict::NotIcs => {
            fl.probe = None;
            fl.c2s.release();
            fl.s2c.release();
            None
        }
    }
}

/// Hands what a flow buffered while its protocol was undecided to its analyzer: whole
/// frames, one of each direction in turn, the client's first (a request before its
/// answer, however the segments of the two directions interleaved).
fn replay(
    fl: &mut Flow,
    at: At,
    col: &mut Collector,
    stats: &mut ImportStats,
    warnings: &mut Vec<String>,
) {
    let Flow {
        analyzer: Some(an),
        c2s,
        s2c,
        client,
        server,
        ..
    } = fl
    else {
        return;
    };
    loop {
        let mut framed = false;
        for (stream, dir, src) in [
            (&mut *c2s, Dir::ToServer, client.0),
            (&mut *s2c, Dir::ToClient, server.0),
        ] {
            if stream.stopped || stream.buf.is_empty() {
                continue;
            }
            let mut ctx = Ctx {
                client: client.0,
                server: server.0,
                server_port: server.1,
                transport: Transport::Tcp,
                src,
                dir,
                at,
                col: &mut *col,
                stats: &mut *stats,
                warnings: &mut *warnings,
            };
            match an.spec.frame_len(&stream.buf) {
                Ok(Some(n)) if n <= stream.buf.len() => {
                    ctx.stats.pdus += 1;
                    an.state.on_frame(&stream.buf[..n], &mut ctx);
                    stream.buf.drain(..n);
                    stream.aligned = true;
                    framed = true;
                }
                Ok(_) => {}
                Err(e) => {
                    // The probe read these frames cleanly; a direction it did not read as
                    // far is handled as the live path does (`cut_frames`).
                    ctx.stats.desyncs += 1;
                    if stream.aligned {
                        let protocol = an.spec.protocol();
                        ctx.undecoded(protocol, "stream that is not the protocol", &stream.buf, &e);
                        stream.stop();
                    } else {
                        stream.desync();
                    }
                }
            }
        }
        if !framed {
            return;
        }
    }
}

/// How [`cut_frames`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Every byte was used, or the rest is the start of a frame still incomplete.
    NeedMore,
    /// Bytes that cannot start a frame where one had to: the direction is not the
    /// protocol ([`Stream::stop`]).
    Stop,
    /// Bytes that do not frame where the boundary was never known ([`Stream::desync`]).
    Desync,
}

/// Cuts whole frames off the front of `bytes` with the protocol's framer and hands them to
/// the analyzer. Returns the bytes used and why it stopped. `aligned`: a frame had to
/// start at `bytes[0]` (see [`Stream::aligned`]).
fn cut_frames(
    an: &mut FlowAnalyzer,
    bytes: &[u8],
    aligned: bool,
    ctx: &mut Ctx<'_>,
) -> (usize, Cut) {
    let mut start = 0;
    let mut aligned = aligned;
    loop {
        let rest = &bytes[start..];
        if rest.is_empty() {
            return (start, Cut::NeedMore);
        }
        // The framing contract (`crate::wire`): `Some(n)` is a whole frame held, `None`
        // is "wait for more", however long the frame announces itself to be.
        match an.spec.frame_len(rest) {
            Ok(Some(n)) => {
                let frame = &rest[..n];
                ctx.stats.pdus += 1;
                an.state.on_frame(frame, ctx);
                aligned = true;
                start += n;
            }
            Ok(None) => return (start, Cut::NeedMore),
            Err(e) if aligned => {
                // A frame had to start here (contiguous bytes after whole frames, or the
                // stream's first byte after a SYN), and these bytes cannot start one: the
                // peer is not speaking the protocol. They are kept as an undecodable
                // message, and the rest of the direction is not read (resynchronising at
                // the next segment would depend on how TCP cut the stream).
                ctx.stats.desyncs += 1;
                let protocol = an.spec.protocol();
                ctx.undecoded(protocol, "stream that is not the protocol", rest, &e);
                return (start, Cut::Stop);
            }
            Err(_) => {
                // Not a frame boundary we knew (a capture that starts mid-message, bytes
                // lost in a gap): drop what is buffered and resynchronise on the next
                // segment.
                ctx.stats.desyncs += 1;
                return (start, Cut::Desync);
            }
        }
    }
}

/// Applies how [`cut_frames`] ended to the stream: whole frames make it aligned.
fn finish_cut(stream: &mut Stream, end: Cut, framed: bool) {
    if framed {
        stream.aligned = true;
    }
    match end {
        Cut::NeedMore => {}
        Cut::Stop => stream.stop(),
        Cut::Desync => stream.desync(),
    }
}

/// [`cut_frames`] over what `stream` buffers, then drops the bytes used.
fn drain_frames(an: &mut FlowAnalyzer, stream: &mut Stream, ctx: &mut Ctx<'_>) {
    let (used, end) = cut_frames(an, &stream.buf, stream.aligned, ctx);
    finish_cut(stream, end, used > 0);
    if end == Cut::NeedMore && used > 0 {
        stream.buf.drain(..used);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_tcp(src: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0];
        ip.extend(src);
        ip.extend([10, 0, 0, 1]);
        ip.extend(sport.to_be_bytes());
        ip.extend(dport.to_be_bytes());
        ip.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0, 0, 0, 0, 0, 0]);
        ip.extend(payload);
        let total = ip.len() as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip
    }

    fn feed(eng: &mut Engine, n: u64, secs: i64, data: &[u8]) {
        eng.frame(RawFrame {
            number: n,
            offset: 0,
            ts: chrono::DateTime::from_timestamp(secs, 0),
            linktype: super::super::packet::linktype::RAW,
            data,
        });
    }

    #[test]
    fn flow_table_is_capped() {
        let mut eng = Engine::new("t");
        // Half a Modbus frame per flow, so every flow holds a buffer.
        let half = [0u8, 1, 0, 0, 0, 6, 1];
        for i in 0..(MAX_FLOWS as u64 + 5000) {
            let src = [10, 1, (i >> 8) as u8, i as u8];
            let f = raw_tcp(src, 1024 + (i >> 16) as u16, 502, &half);
            feed(&mut eng, i + 1, 1_000, &f);
        }
        assert!(eng.flows.len() <= MAX_FLOWS);
        assert!(eng.stats.flows_evicted > 0);
        // Dropping flows makes the result partial: the import says so.
        let (_, stats, warnings) = eng.finish();
        assert!(stats.capped > 0);
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("memory cap") && w.contains("partial")),
            "{warnings:?}"
        );
    }

    #[test]
    fn budget_accounting_matches_what_streams_hold() {
        let mut eng = Engine::with_options(
            "t",
            &CaptureOptions {
                reassembly_budget: 16 * 1024,
            },
        );
        // 200 bytes of a frame that announces 6 + 254.
        let mut half = vec![0u8, 1, 0, 0, 0, 0xfe, 1, 0x10];
        half.resize(200, 0);
        let whole = [0u8, 2, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1];
        for i in 0..400u64 {
            let src = [10, 3, (i >> 8) as u8, i as u8];
            // Alternate flows that hold a partial frame and flows whose frames complete.
            let payload: &[u8] = if i % 2 == 0 { &half } else { &whole };
            feed(&mut eng, i + 1, 1_000, &raw_tcp(src, 2000, 502, payload));
            let held: usize = eng.flows.values().map(Flow::held).sum();
            assert_eq!(eng.buffered, held, "after frame {}", i + 1);
            assert!(eng.buffered <= 16 * 1024);
        }
        assert!(eng.stats.budget_releases > 0);
    }

    /// A flow on ports that name no protocol whose first bytes keep a framer waiting (a
    /// TPKT header announcing 65535 bytes, RFC 1006) is buffered up to the probe's cap,
    /// counted in the budget, then released and counted as capped.
    #[test]
    fn the_probe_buffer_is_capped_counted_and_released() {
        let mut eng = Engine::new("t");
        let mut head = vec![0x03, 0x00, 0xff, 0xff, 0x02, 0xf0, 0x80];
        head.resize(24, 0);
        feed(
            &mut eng,
            1,
            1_000,
            &raw_tcp([10, 4, 0, 1], 40000, 41000, &head),
        );
        assert_eq!(eng.stats.probe_capped, 0);
        assert!(eng.buffered >= 24, "the probe's bytes count in the budget");
        let held: usize = eng.flows.values().map(Flow::held).sum();
        assert_eq!(eng.buffered, held);
        let mut more = head.clone();
        more.resize(super::super::detect::MAX_PROBE_BYTES + 100, 0);
        feed(
            &mut eng,
            2,
            1_001,
            &raw_tcp([10, 4, 0, 2], 40000, 41000, &more),
        );
        assert_eq!(eng.stats.probe_capped, 1);
        // The capped flow holds nothing; the first one still waits.
        let held: usize = eng.flows.values().map(Flow::held).sum();
        assert_eq!(eng.buffered, held);
        assert!(held < 4096, "{held}");
        assert_eq!(eng.stats.heuristic_flows, 0);
    }

    #[test]
    fn idle_flows_are_evicted_by_capture_time() {
        let mut eng = Engine::new("t");
        let half = [0u8, 1, 0, 0, 0, 6, 1];
        feed(
            &mut eng,
            1,
            1_000,
            &raw_tcp([10, 2, 0, 1], 4000, 502, &half),
        );
        assert_eq!(eng.flows.len(), 1);
        // Another host keeps talking well past the idle limit.
        for i in 0..SWEEP_EVERY {
            let f = raw_tcp([10, 2, 0, 2], 4001, 502, &half);
            feed(&mut eng, i + 2, 1_000 + IDLE_SECS + 10 + i as i64, &f);
        }
        assert_eq!(eng.flows.len(), 1);
        assert_eq!(eng.stats.flows_evicted, 1);
    }
}
