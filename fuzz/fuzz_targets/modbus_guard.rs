//! The outbound guard over arbitrary bytes: never panics, and accepts only an 11-byte Read
//! Device Identification request with protocol id 0 and read code 1-4.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::inventory::Protocol;
use otscout::safety::check;

fuzz_target!(|data: &[u8]| {
    if let Ok(kind) = check(Protocol::Modbus, data) {
        assert_eq!(kind, "modbus.read_device_id");
        assert_eq!(data.len(), 11);
        assert_eq!(&data[2..8], &[0, 0, 0, 5, data[6], 0x2b][..]);
        assert_eq!(data[8], 0x0e);
        assert!((1..=4).contains(&data[9]));
    }
});
