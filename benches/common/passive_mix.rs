//! The passive bench's capture: the shared real captures and a simulator-written capture,
//! laid end to end and repeated.
//!
//! Shared by `benches/passive.rs` (which writes a copy of at least 1 GB under `target/`)
//! and `tests/it/passive_speed.rs` (which checks what repeating does to the result), both
//! through `#[path]`, so the test checks the very file layout the bench measures.
//!
//! # Layout
//! One pcapng section (pcapng spec, draft-ietf-opsawg-pcapng: SHB, one IDB per link type
//! in the order first seen, EPBs with microsecond timestamps, the IDB's default
//! resolution). Within a copy the sources follow one another in a fixed order (the
//! shared captures by file name, then the simulator's HMI capture), each shifted to start
//! [`GAP_SECS`] after the previous one ended; each copy starts [`GAP_SECS`] after the
//! previous copy ended. Frame bytes are copied unchanged.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use otscout::passive::capture::{self, RawFrame};

/// Capture time between two sources, and between two copies: far past the engine's idle
/// limit (`engine::IDLE_SECS`, 300 s).
pub const GAP_SECS: i64 = 3600;
/// Where the first copy starts (2026-01-01T00:00:00Z), in microseconds.
const BASE_MICROS: i64 = 1_767_225_600_000_000;

/// One frame of a source, its time relative to the source's first frame.
#[derive(Debug, Clone)]
pub struct MixFrame {
    pub linktype: i32,
    pub rel_micros: i64,
    pub data: Vec<u8>,
}

/// One input capture, read whole.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub frames: Vec<MixFrame>,
    /// Last frame's time minus the first's.
    pub span_micros: i64,
}

fn read_source(name: &str, bytes: &[u8]) -> Option<Source> {
    let format = capture::sniff(bytes)?;
    let mut frames = Vec::new();
    let mut first: Option<i64> = None;
    let mut last = 0i64;
    capture::read_frames(bytes, format, |f: RawFrame<'_>| {
        // A frame without a time keeps the previous frame's.
        let t = f.ts.map(|t| t.timestamp_micros()).unwrap_or(last);
        let t0 = *first.get_or_insert(t);
        last = t.max(t0);
        frames.push(MixFrame {
            linktype: f.linktype,
            rel_micros: last - t0,
            data: f.data.to_vec(),
        });
    })
    .ok()?;
    let span_micros = frames.last().map_or(0, |f| f.rel_micros);
    Some(Source {
        name: name.to_string(),
        frames,
        span_micros,
    })
}

/// The sources of one copy: every capture (`*.pcap`, `*.pcapng`) in `captures` by file
/// name, when given, then the simulator's HMI polling capture of the demo plant
/// (`otscout_sim::hmi`, 300 rounds: about as many bytes as the shared captures, so TCP
/// sessions of the three identity protocols weigh as much as the shared captures' mix).
pub fn sources(captures: Option<&Path>) -> Vec<Source> {
    let mut out = Vec::new();
    if let Some(dir) = captures {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .expect("read the captures folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .collect();
        names.sort();
        for p in names {
            let bytes = std::fs::read(&p).expect("read a capture");
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if let Some(s) = read_source(&name, &bytes) {
                out.push(s);
            }
        }
    }
    let plant =
        otscout_sim::Plant::from_toml_str(otscout::demo::DEMO_PLANT).expect("the demo plant");
    let opts = otscout_sim::hmi::HmiOptions {
        rounds: 300,
        ..Default::default()
    };
    let mut hmi = Vec::new();
    otscout_sim::hmi::write_pcapng(&plant, &opts, &mut hmi).expect("write the hmi capture");
    out.push(read_source("simulator hmi polling (demo plant)", &hmi).expect("hmi capture"));
    out
}

fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let pad = (4 - body.len() % 4) % 4;
    let total = (12 + body.len() + pad) as u32;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.extend(std::iter::repeat_n(0u8, pad));
    out.extend_from_slice(&total.to_le_bytes());
}

/// Writes copies of `sources` to `out` until `min_bytes` are written and at least
/// `min_copies` copies made. Returns (bytes, frames, copies).
pub fn write(
    sources: &[Source],
    min_bytes: u64,
    min_copies: u64,
    out: &mut impl Write,
) -> std::io::Result<(u64, u64, u64)> {
    let mut linktypes: Vec<i32> = Vec::new();
    for s in sources {
        for f in &s.frames {
            if !linktypes.contains(&f.linktype) {
                linktypes.push(f.linktype);
            }
        }
    }
    let mut buf = Vec::with_capacity(1 << 20);
    // SHB: byte-order magic, version 1.0, section length unknown (-1).
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut buf, 0x0a0d_0d0a, &shb);
    for lt in &linktypes {
        // IDB: link type, reserved, snap length 0 (no limit); no options, so microseconds.
        let mut idb = Vec::new();
        idb.extend_from_slice(&(*lt as u16).to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&0u32.to_le_bytes());
        block(&mut buf, 1, &idb);
    }
    let (mut bytes, mut frames, mut copies) = (0u64, 0u64, 0u64);
    let mut start = BASE_MICROS;
    let mut epb = Vec::with_capacity(70_000);
    while bytes + (buf.len() as u64) < min_bytes || copies < min_copies {
        for s in sources {
            for f in &s.frames {
                let if_id = linktypes.iter().position(|l| *l == f.linktype).unwrap_or(0) as u32;
                let ts = (start + f.rel_micros) as u64;
                epb.clear();
                epb.extend_from_slice(&if_id.to_le_bytes());
                epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
                epb.extend_from_slice(&(ts as u32).to_le_bytes());
                epb.extend_from_slice(&(f.data.len() as u32).to_le_bytes());
                epb.extend_from_slice(&(f.data.len() as u32).to_le_bytes());
                epb.extend_from_slice(&f.data);
                block(&mut buf, 6, &epb);
                frames += 1;
            }
            start += s.span_micros + GAP_SECS * 1_000_000;
            if buf.len() >= 1 << 20 {
                out.write_all(&buf)?;
                bytes += buf.len() as u64;
                buf.clear();
            }
        }
        copies += 1;
    }
    out.write_all(&buf)?;
    bytes += buf.len() as u64;
    out.flush()?;
    Ok((bytes, frames, copies))
}
