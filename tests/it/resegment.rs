//! Rewrites captures for tests: reads any capture otscout reads, writes a legacy pcap, and
//! re-cuts TCP streams (split a segment's payload, coalesce neighbours, duplicate, reorder)
//! with consistent sequence numbers, leaving every other byte of every frame as it was.
//!
//! The frames keep their link layer (Ethernet with VLAN tags, or BSD loopback); IPv4 and
//! IPv6 TCP segments are rebuilt with the IP length fields set for the new payload (IP and
//! TCP checksums are not recomputed: otscout does not check them, captures often carry
//! offloaded ones).

use otscout::passive::capture;

/// One record of a capture.
#[derive(Debug, Clone)]
pub struct Rec {
    pub ts_sec: u32,
    pub ts_usec: u32,
    pub data: Vec<u8>,
}

/// A capture as records of one link type.
#[derive(Debug, Clone)]
pub struct Cap {
    pub linktype: u32,
    pub recs: Vec<Rec>,
}

/// Reads a pcap or pcapng (one link type) into records.
pub fn read(bytes: &[u8]) -> Cap {
    let format = capture::sniff(bytes).expect("a capture");
    let mut recs = Vec::new();
    let mut linktype = None;
    let stopped = capture::read_frames(bytes, format, |f| {
        let lt = f.linktype as u32;
        assert_eq!(*linktype.get_or_insert(lt), lt, "one link type per capture");
        let (ts_sec, ts_usec) = f.ts.map_or((0, 0), |t| {
            (t.timestamp() as u32, t.timestamp_subsec_micros())
        });
        recs.push(Rec {
            ts_sec,
            ts_usec,
            data: f.data.to_vec(),
        });
    })
    .expect("readable capture");
    assert!(stopped.is_none(), "whole capture: {stopped:?}");
    Cap {
        linktype: linktype.unwrap_or(1),
        recs,
    }
}

/// A little-endian microsecond legacy pcap.
pub fn write(cap: &Cap) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0xa1b2c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend([0; 8]);
    out.extend(262_144u32.to_le_bytes());
    out.extend(cap.linktype.to_le_bytes());
    for r in &cap.recs {
        out.extend(r.ts_sec.to_le_bytes());
        out.extend(r.ts_usec.to_le_bytes());
        out.extend((r.data.len() as u32).to_le_bytes());
        out.extend((r.data.len() as u32).to_le_bytes());
        out.extend(&r.data);
    }
    out
}

/// Where the parts of a TCP segment lie in its frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tcp {
    ip: usize,
    v6: bool,
    tcp: usize,
    payload: usize,
    end: usize,
    pub seq: u32,
    pub flags: u8,
    /// (src ip bytes, src port, dst ip bytes, dst port): one direction of one connection.
    pub dir: (Vec<u8>, u16, Vec<u8>, u16),
}

impl Tcp {
    pub fn payload<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        &data[self.payload..self.end]
    }

    /// The connection, the same for both directions.
    pub fn flow(&self) -> (Vec<u8>, u16, Vec<u8>, u16) {
        let (a, ap, b, bp) = self.dir.clone();
        if (&a, ap) <= (&b, bp) {
            (a, ap, b, bp)
        } else {
            (b, bp, a, ap)
        }
    }

    /// The frame with this segment's source and destination ports replaced (a copy of a
    /// connection as another connection between the same hosts).
    pub fn with_ports(&self, data: &[u8], src: u16, dst: u16) -> Vec<u8> {
        let mut f = data.to_vec();
        f[self.tcp..self.tcp + 2].copy_from_slice(&src.to_be_bytes());
        f[self.tcp + 2..self.tcp + 4].copy_from_slice(&dst.to_be_bytes());
        f
    }

    /// The frame with this segment's headers, `seq` and `payload`.
    pub fn rebuild(&self, data: &[u8], seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = data[..self.payload].to_vec();
        f[self.tcp + 4..self.tcp + 8].copy_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(payload);
        let l4 = f.len() - self.tcp;
        if self.v6 {
            f[self.ip + 4..self.ip + 6].copy_from_slice(&(l4 as u16).to_be_bytes());
        } else {
            let total = f.len() - self.ip;
            f[self.ip + 2..self.ip + 4].copy_from_slice(&(total as u16).to_be_bytes());
        }
        f
    }
}

pub const SYN: u8 = 0x02;
pub const FIN: u8 = 0x01;
pub const RST: u8 = 0x04;

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

/// The TCP segment a frame carries (unfragmented IPv4 or IPv6 without extension
/// headers), if any.
pub fn tcp(linktype: u32, d: &[u8]) -> Option<Tcp> {
    let mut ip = match linktype {
        1 => {
            let mut off = 12;
            let mut et = be16(d, off)?;
            while et == 0x8100 || et == 0x88a8 {
                off += 4;
                et = be16(d, off)?;
            }
            if et != 0x0800 && et != 0x86dd {
                return None;
            }
            off + 2
        }
        0 => 4,
        101 | 12 | 14 => 0,
        _ => return None,
    };
    let version = d.get(ip)? >> 4;
    let (v6, tcp, end, src, dst) = match version {
        4 => {
            let ihl = usize::from(d[ip] & 0x0f) * 4;
            let total = usize::from(be16(d, ip + 2)?);
            let frag = be16(d, ip + 6)?;
            if *d.get(ip + 9)? != 6 || frag & 0x3fff != 0 || ihl < 20 {
                return None;
            }
            let src = d.get(ip + 12..ip + 16)?.to_vec();
            let dst = d.get(ip + 16..ip + 20)?.to_vec();
            (false, ip + ihl, ip + total, src, dst)
        }
        6 => {
            if *d.get(ip + 6)? != 6 {
                return None;
            }
            let plen = usize::from(be16(d, ip + 4)?);
            let src = d.get(ip + 8..ip + 24)?.to_vec();
            let dst = d.get(ip + 24..ip + 40)?.to_vec();
            (true, ip + 40, ip + 40 + plen, src, dst)
        }
        _ => return None,
    };
    if end > d.len() {
        return None;
    }
    let doff = usize::from(d.get(tcp + 12)? >> 4) * 4;
    let payload = tcp + doff;
    if doff < 20 || payload > end {
        return None;
    }
    let seq = u32::from_be_bytes(d.get(tcp + 4..tcp + 8)?.try_into().ok()?);
    let flags = *d.get(tcp + 13)?;
    let sport = be16(d, tcp)?;
    let dport = be16(d, tcp + 2)?;
    ip = ip.min(tcp);
    Some(Tcp {
        ip,
        v6,
        tcp,
        payload,
        end,
        seq,
        flags,
        dir: (src, sport, dst, dport),
    })
}

/// A small deterministic generator (xorshift64*), so a failing seed can be replayed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }

    /// In `lo..hi` (hi > lo).
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo) as u64) as usize
    }
}

/// Splits the payload of frame `index` (0-based) at `cuts` (offsets into the payload),
/// with consistent sequence numbers: the pieces follow one another as frames with the
/// same time.
pub fn split_frame(cap: &mut Cap, index: usize, cuts: &[usize]) {
    let rec = cap.recs[index].clone();
    let seg = tcp(cap.linktype, &rec.data).expect("a tcp segment");
    let payload = seg.payload(&rec.data).to_vec();
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().copied().filter(|&c| c > 0 && c < payload.len()));
    bounds.push(payload.len());
    bounds.sort_unstable();
    bounds.dedup();
    let pieces: Vec<Rec> = bounds
        .windows(2)
        .map(|w| Rec {
            data: seg.rebuild(
                &rec.data,
                seg.seq.wrapping_add(w[0] as u32),
                &payload[w[0]..w[1]],
            ),
            ..rec.clone()
        })
        .collect();
    cap.recs.splice(index..=index, pieces);
}

/// Rewrites the segmentation of every TCP stream at random (seeded):
/// - splits payloads at arbitrary offsets;
/// - coalesces a segment with the next one of the same direction when nothing of the
///   connection lies between them;
/// - reorders two such neighbours (the later bytes arrive first and wait in the
///   reassembly window);
/// - duplicates some segments a few frames later (retransmissions).
///
/// Segments carrying SYN, FIN or RST are left whole and in place, and nothing is moved
/// before the first data segment of its direction (a capture that starts mid-connection
/// starts there), so the byte stream of every direction, and which request precedes
/// which reply, stay what they were: only the cuts change.
pub fn reshuffle(cap: &Cap, seed: u64) -> Cap {
    let mut rng = Rng::new(seed);
    let lt = cap.linktype;
    let data_seg = |r: &Rec| {
        tcp(lt, &r.data).filter(|t| t.flags & (SYN | FIN | RST) == 0 && t.end > t.payload)
    };
    // 1. Split.
    let mut recs: Vec<Rec> = Vec::new();
    for r in &cap.recs {
        let Some(t) = data_seg(r) else {
            recs.push(r.clone());
            continue;
        };
        let payload = t.payload(&r.data);
        if payload.len() < 2 || !rng.chance(50) {
            recs.push(r.clone());
            continue;
        }
        let mut one = Cap {
            linktype: lt,
            recs: vec![r.clone()],
        };
        let n = rng.range(1, 4);
        let cuts: Vec<usize> = (0..n).map(|_| rng.range(1, payload.len())).collect();
        split_frame(&mut one, 0, &cuts);
        recs.extend(one.recs);
    }
    // The next frame of the same connection after `i`, if it is a data segment of the
    // same direction whose bytes follow on.
    let follower = |recs: &[Rec], i: usize| -> Option<usize> {
        let a = data_seg(&recs[i])?;
        let flow = a.flow();
        let j = (i + 1..recs.len())
            .find(|&j| tcp(lt, &recs[j].data).is_some_and(|t| t.flow() == flow))?;
        let b = data_seg(&recs[j])?;
        let follows = b.dir == a.dir
            && b.seq == a.seq.wrapping_add((a.end - a.payload) as u32)
            && (a.end - a.payload) + (b.end - b.payload) < 60_000;
        follows.then_some(j)
    };
    let mut first_of_dir = std::collections::BTreeSet::new();
    let mut is_first = vec![false; recs.len()];
    for (i, r) in recs.iter().enumerate() {
        if let Some(t) = data_seg(r) {
            is_first[i] = first_of_dir.insert(t.dir.clone());
        }
    }
    // 2. Coalesce and reorder neighbours.
    let mut i = 0;
    while i < recs.len() {
        if let Some(j) = follower(&recs, i) {
            if rng.chance(25) {
                let a = data_seg(&recs[i]).unwrap();
                let b = data_seg(&recs[j]).unwrap();
                let mut payload = a.payload(&recs[i].data).to_vec();
                payload.extend_from_slice(b.payload(&recs[j].data));
                recs[j].data = a.rebuild(&recs[i].data, a.seq, &payload);
                is_first[j] |= is_first[i];
                recs.remove(i);
                is_first.remove(i);
                continue;
            }
            if !is_first[i] && rng.chance(20) {
                recs.swap(i, j);
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    // 3. Duplicate.
    let mut out = Vec::with_capacity(recs.len() + recs.len() / 8);
    let mut later: Vec<(usize, Rec)> = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        out.push(r.clone());
        later.retain(|(at, dup)| {
            if *at == i {
                out.push(dup.clone());
                false
            } else {
                true
            }
        });
        if data_seg(r).is_some() && rng.chance(10) {
            later.push((i + rng.range(1, 4), r.clone()));
        }
    }
    out.extend(later.into_iter().map(|(_, r)| r));
    Cap {
        linktype: lt,
        recs: out,
    }
}
