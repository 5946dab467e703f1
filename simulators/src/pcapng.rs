//! A small pcapng writer: the plant's traffic as Ethernet/IPv4/TCP and UDP frames,
//! synthesised from the ledger (pcapng spec, IETF draft-ietf-opsawg-pcapng: SHB, IDB
//! with linktype 1, EPBs with microsecond timestamps).
//!
//! TCP connections get a handshake, consistent sequence and acknowledgement numbers,
//! and a FIN exchange (or an RST when the device reset the connection); checksums are
//! computed. MAC addresses are made up (locally administered, from the IP address).

use std::collections::HashMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};

use crate::ledger::{EventKind, LedgerEvent, Protocol};

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// Writes every event of `events` that carries traffic as a pcapng capture.
pub fn write(events: &[LedgerEvent], mut out: impl Write) -> std::io::Result<()> {
    let mut w = Writer::default();
    w.header();
    for ev in events {
        w.event(ev);
    }
    out.write_all(&w.buf)?;
    out.flush()
}

/// Streaming form of [`write()`]: feed events one by one, take the bytes as they come.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
    conns: HashMap<u64, Tcp>,
    ip_id: u16,
}

#[derive(Debug, Clone, Copy)]
struct Tcp {
    client_seq: u32,
    server_seq: u32,
}

fn block(buf: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let pad = (4 - body.len() % 4) % 4;
    let total = (12 + body.len() + pad) as u32;
    buf.extend_from_slice(&kind.to_le_bytes());
    buf.extend_from_slice(&total.to_le_bytes());
    buf.extend_from_slice(body);
    buf.extend(std::iter::repeat_n(0u8, pad));
    buf.extend_from_slice(&total.to_le_bytes());
}

pub(crate) fn mac(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x00, o[0], o[1], o[2], o[3]]
}

fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for p in parts {
        let mut chunks = p.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl Writer {
    /// Starts the section and the single Ethernet interface.
    pub fn header(&mut self) {
        let mut shb = Vec::new();
        shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        block(&mut self.buf, 0x0a0d_0d0a, &shb);
        let mut idb = Vec::new();
        idb.extend_from_slice(&1u16.to_le_bytes()); // LINKTYPE_ETHERNET
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&0u32.to_le_bytes()); // no snap length limit
        block(&mut self.buf, 1, &idb);
    }

    /// Takes the bytes written so far.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Adds the frames for one ledger event.
    pub fn event(&mut self, ev: &LedgerEvent) {
        let (SocketAddr::V4(server), SocketAddr::V4(client)) = (ev.server, ev.client) else {
            return;
        };
        let ts = ev.unix_micros;
        if matches!(ev.protocol, Protocol::EnipUdp | Protocol::Bacnet) {
            match &ev.kind {
                EventKind::Request { bytes, .. } => {
                    self.udp(ts, client.into(), server.into(), bytes)
                }
                EventKind::Reply { bytes } => self.udp(ts, server.into(), client.into(), bytes),
                _ => {}
            }
            return;
        }
        if matches!(ev.protocol, Protocol::EnipUdp | Protocol::FinsUdp) {
            match &ev.kind {
                EventKind::Request { bytes, .. } => {
                    self.udp(ts, client.into(), server.into(), bytes)
                }
                EventKind::Reply { bytes } => self.udp(ts, server.into(), client.into(), bytes),
                _ => {}
            }
            return;
        }
        let (c, s) = (SocketAddr::V4(client), SocketAddr::V4(server));
        match &ev.kind {
            EventKind::Opened => {
                // Deterministic initial sequence numbers from the connection number.
                let isn = (ev.conn as u32).wrapping_mul(0x9e37_79b9);
                let t = Tcp {
                    client_seq: isn,
                    server_seq: !isn,
                };
                self.tcp(ts, (c, s), (t.client_seq, 0), SYN, &[]);
                self.tcp(
                    ts,
                    (s, c),
                    (t.server_seq, t.client_seq.wrapping_add(1)),
                    SYN | ACK,
                    &[],
                );
                let t = Tcp {
                    client_seq: t.client_seq.wrapping_add(1),
                    server_seq: t.server_seq.wrapping_add(1),
                };
                self.tcp(ts, (c, s), (t.client_seq, t.server_seq), ACK, &[]);
                self.conns.insert(ev.conn, t);
            }
            EventKind::Request { bytes, .. } => {
                if let Some(mut t) = self.conns.get(&ev.conn).copied() {
                    self.tcp(ts, (c, s), (t.client_seq, t.server_seq), PSH | ACK, bytes);
                    t.client_seq = t.client_seq.wrapping_add(bytes.len() as u32);
                    self.tcp(ts, (s, c), (t.server_seq, t.client_seq), ACK, &[]);
                    self.conns.insert(ev.conn, t);
                }
            }
            EventKind::Reply { bytes } => {
                if let Some(mut t) = self.conns.get(&ev.conn).copied() {
                    self.tcp(ts, (s, c), (t.server_seq, t.client_seq), PSH | ACK, bytes);
                    t.server_seq = t.server_seq.wrapping_add(bytes.len() as u32);
                    self.tcp(ts, (c, s), (t.client_seq, t.server_seq), ACK, &[]);
                    self.conns.insert(ev.conn, t);
                }
            }
            EventKind::Closed { why } => {
                if let Some(t) = self.conns.remove(&ev.conn) {
                    if why.starts_with("reset") || why == "refused" || why.starts_with("dropped") {
                        self.tcp(ts, (s, c), (t.server_seq, t.client_seq), RST | ACK, &[]);
                    } else {
                        self.tcp(ts, (c, s), (t.client_seq, t.server_seq), FIN | ACK, &[]);
                        let cs = t.client_seq.wrapping_add(1);
                        self.tcp(ts, (s, c), (t.server_seq, cs), FIN | ACK, &[]);
                        self.tcp(ts, (c, s), (cs, t.server_seq.wrapping_add(1)), ACK, &[]);
                    }
                }
            }
            _ => {}
        }
    }

    /// One raw Ethernet II frame (for layer-2 protocols such as PROFINET DCP).
    pub fn ethernet(
        &mut self,
        ts: u64,
        dst: [u8; 6],
        src: [u8; 6],
        ethertype: u16,
        payload: &[u8],
    ) {
        let mut f = Vec::with_capacity(14 + payload.len());
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        // Ethernet's minimum: 60 bytes before the FCS, zero-padded as a NIC does.
        f.resize(f.len().max(60), 0);
        self.epb(ts, &f);
    }

    fn epb(&mut self, ts: u64, f: &[u8]) {
        let mut epb = Vec::with_capacity(20 + f.len());
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&(f.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(f.len() as u32).to_le_bytes());
        epb.extend_from_slice(f);
        block(&mut self.buf, 6, &epb);
    }

    fn ipv4(&mut self, ts: u64, src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) {
        let mut f = Vec::with_capacity(34 + l4.len());
        f.extend_from_slice(&mac(dst));
        f.extend_from_slice(&mac(src));
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        self.ip_id = self.ip_id.wrapping_add(1);
        ip[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
        ip[6] = 0x40; // don't fragment
        ip[8] = 64;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&src.octets());
        ip[16..20].copy_from_slice(&dst.octets());
        let sum = checksum(&[&ip]);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(l4);
        self.epb(ts, &f);
    }

    fn pseudo(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> [u8; 12] {
        let mut p = [0u8; 12];
        p[0..4].copy_from_slice(&src.octets());
        p[4..8].copy_from_slice(&dst.octets());
        p[9] = proto;
        p[10..12].copy_from_slice(&(len as u16).to_be_bytes());
        p
    }

    fn tcp(
        &mut self,
        ts: u64,
        (src, dst): (SocketAddr, SocketAddr),
        (seq, ack): (u32, u32),
        flags: u8,
        data: &[u8],
    ) {
        let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (src, dst) else {
            return;
        };
        let mut h = [0u8; 20];
        h[0..2].copy_from_slice(&src.port().to_be_bytes());
        h[2..4].copy_from_slice(&dst.port().to_be_bytes());
        h[4..8].copy_from_slice(&seq.to_be_bytes());
        h[8..12].copy_from_slice(&ack.to_be_bytes());
        h[12] = 5 << 4;
        h[13] = flags;
        h[14..16].copy_from_slice(&0xffffu16.to_be_bytes());
        let p = Self::pseudo(*src.ip(), *dst.ip(), 6, 20 + data.len());
        let sum = checksum(&[&p, &h, data]);
        h[16..18].copy_from_slice(&sum.to_be_bytes());
        let mut seg = h.to_vec();
        seg.extend_from_slice(data);
        self.ipv4(ts, *src.ip(), *dst.ip(), 6, &seg);
    }

    fn udp(&mut self, ts: u64, src: SocketAddr, dst: SocketAddr, data: &[u8]) {
        let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (src, dst) else {
            return;
        };
        let len = 8 + data.len();
        let mut h = [0u8; 8];
        h[0..2].copy_from_slice(&src.port().to_be_bytes());
        h[2..4].copy_from_slice(&dst.port().to_be_bytes());
        h[4..6].copy_from_slice(&(len as u16).to_be_bytes());
        let p = Self::pseudo(*src.ip(), *dst.ip(), 17, len);
        let sum = match checksum(&[&p, &h, data]) {
            0 => 0xffff,
            s => s,
        };
        h[6..8].copy_from_slice(&sum.to_be_bytes());
        let mut seg = h.to_vec();
        seg.extend_from_slice(data);
        self.ipv4(ts, *src.ip(), *dst.ip(), 17, &seg);
    }
}
