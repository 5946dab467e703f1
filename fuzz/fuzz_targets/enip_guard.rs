//! The outbound guard for EtherNet/IP: anything it accepts is one of the three bare List*
//! headers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::inventory::Protocol;
use otscout::safety;

fuzz_target!(|data: &[u8]| {
    if let Ok(kind) = safety::check(Protocol::Enip, data) {
        assert_eq!(data.len(), 24);
        assert!(data[2..12].iter().all(|&b| b == 0) && data[20..24].iter().all(|&b| b == 0));
        assert!(matches!(
            (kind, data[0], data[1]),
            ("enip.list_identity", 0x63, 0)
                | ("enip.list_services", 0x04, 0)
                | ("enip.list_interfaces", 0x64, 0)
        ));
    }
});
