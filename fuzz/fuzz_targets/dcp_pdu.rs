//! The DCP decoder, identity and Set readers and the passive analyzer over arbitrary
//! bytes: never panic; what decodes re-encodes to a PDU that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::protocols::dcp::passive::Analyzer;
use otscout::wire::dcp::Pdu;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Pdu::decode(data) {
        let _ = (p.identity(), p.set_operations());
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(Pdu::decode(&out).as_ref(), Ok(&p));
    }
    let mut a = Analyzer::new();
    let (x, y) = data.split_at(data.len() / 2);
    let _ = a.on_frame([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], x);
    let _ = a.on_frame([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], y);
});
