//! Arbitrary frames wrapped in a valid pcap of each supported link type: the packet
//! decoder, the reassembler and the analyzers see hostile bytes behind sane headers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::passive::{self, ImportOptions};

fn pcap(linktype: u32, frames: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0]);
    out.extend_from_slice(&linktype.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // Split the input into frames at 0xA5 bytes so one input holds a conversation.
    let frames: Vec<&[u8]> = data.split(|&b| b == 0xA5).collect();
    for lt in [1u32, 101, 113, 276, 0] {
        let _ = passive::import_bytes("fuzz.pcap", &pcap(lt, &frames), &ImportOptions::default());
    }
});
