//! Shared test helpers: where the real captures are, and a minimal frame reader for them.
//!
//! The reader here is deliberately tiny and independent of otscout's passive importer:
//! legacy pcap through the pcap-parser crate, Ethernet II (with 802.1Q), IPv4, TCP/UDP.
//! It is enough to pull one frame's payload out of a capture for a golden-vector test.

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::PathBuf;

/// The folder named by `OTSCOUT_CAPTURES`, or `None` (and a note on stderr) when it is
/// not set: tests that need captures then say they were skipped and pass.
pub fn captures_dir(test: &str) -> Option<PathBuf> {
    match std::env::var_os("OTSCOUT_CAPTURES") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join("INDEX.md").is_file(),
                "OTSCOUT_CAPTURES={} does not hold INDEX.md",
                dir.display()
            );
            Some(dir)
        }
        None => {
            eprintln!("skipped {test}: OTSCOUT_CAPTURES is not set");
            None
        }
    }
}

/// One decoded frame of a capture.
#[derive(Debug, Clone)]
pub struct Frame {
    /// 1-based, as Wireshark numbers frames.
    pub number: usize,
    pub src_mac: [u8; 6],
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub udp: bool,
    pub sport: u16,
    pub dport: u16,
    pub payload: Vec<u8>,
}

/// Every IPv4 TCP/UDP frame of a legacy pcap file in the captures folder.
pub fn frames(dir: &std::path::Path, file: &str) -> Vec<Frame> {
    let data = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("read {file}: {e}"));
    let cap = pcap_parser::PcapCapture::from_file(&data)
        .unwrap_or_else(|e| panic!("{file}: not a legacy pcap: {e:?}"));
    let mut out = Vec::new();
    for (i, block) in cap.blocks.iter().enumerate() {
        if let Some(f) = parse_ethernet(i + 1, block.data) {
            out.push(f);
        }
    }
    out
}

/// The payload of frame `number` (1-based).
pub fn payload(dir: &std::path::Path, file: &str, number: usize) -> Vec<u8> {
    frames(dir, file)
        .into_iter()
        .find(|f| f.number == number)
        .unwrap_or_else(|| panic!("{file}: no TCP/UDP frame {number}"))
        .payload
}

fn parse_ethernet(number: usize, d: &[u8]) -> Option<Frame> {
    let src_mac: [u8; 6] = d.get(6..12)?.try_into().ok()?;
    let mut off = 12;
    let mut ethertype = u16::from_be_bytes([*d.get(off)?, *d.get(off + 1)?]);
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        off += 4;
        ethertype = u16::from_be_bytes([*d.get(off)?, *d.get(off + 1)?]);
    }
    if ethertype != 0x0800 {
        return None;
    }
    let ip = d.get(off + 2..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    let proto = *ip.get(9)?;
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(*ip.get(16)?, ip[17], ip[18], ip[19]);
    let ip = ip.get(..total.min(ip.len()))?;
    let l4 = ip.get(ihl..)?;
    let (udp, sport, dport, payload) = match proto {
        6 => {
            let doff = usize::from(l4.get(12)? >> 4) * 4;
            (false, be(l4, 0)?, be(l4, 2)?, l4.get(doff..)?.to_vec())
        }
        17 => (true, be(l4, 0)?, be(l4, 2)?, l4.get(8..)?.to_vec()),
        _ => return None,
    };
    Some(Frame {
        number,
        src_mac,
        src,
        dst,
        udp,
        sport,
        dport,
        payload,
    })
}

fn be(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Parses hex with optional spaces (golden vectors are written with spaces at field
/// boundaries).
pub fn hex(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    ::hex::decode(clean).expect("valid hex in test vector")
}

/// Starts `plant` with its ports at `base` + the plant file's port, or, when one of those
/// is taken (the same test running in another checkout on this machine at the same
/// time), at the next of a few bases above it. Tests that must give one `--set
/// modbus.port` to every device need a base rather than ephemeral ports; the addresses
/// are the test's own, so only another run of the same test can hold them.
pub async fn start_on_a_base(plant: &otscout_sim::Plant, base: u16) -> otscout_sim::RunningPlant {
    let mut last = None;
    for k in 0..16u16 {
        let opts = otscout_sim::StartOptions {
            ports: otscout_sim::PortOverride::Base(base + k * 61),
            ledger_sink: None,
        };
        match otscout_sim::start(plant.clone(), opts).await {
            Ok(running) => return running,
            Err(e) => last = Some(e),
        }
    }
    panic!("start the plant on a base from {base}: {last:?}");
}
