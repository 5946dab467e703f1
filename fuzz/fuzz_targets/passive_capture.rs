//! Passive import of arbitrary bytes as a capture (legacy pcap and pcapng, every link
//! type, TCP reassembly and every protocol analyzer behind it): never panics, and a read
//! that stops early says where.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::passive::{self, ImportOptions, InputKind};

fuzz_target!(|data: &[u8]| {
    for kind in [InputKind::Pcap, InputKind::PcapNg] {
        let opts = ImportOptions { kind: Some(kind), ..Default::default() };
        if let Ok(r) = passive::import_bytes("fuzz.pcap", data, &opts) {
            if let Some(s) = &r.stopped {
                assert!(s.offset <= data.len() as u64);
            }
        }
    }
});
