//! Arbitrary bytes as a Zeek log and as a CSV inventory: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::passive::{self, ImportOptions, InputKind};

fuzz_target!(|data: &[u8]| {
    for kind in [InputKind::Zeek, InputKind::Csv] {
        let opts = ImportOptions { kind: Some(kind), ..Default::default() };
        let _ = passive::import_bytes("fuzz.log", data, &opts);
    }
    let _ = passive::import_bytes("fuzz.any", data, &ImportOptions::default());
});
