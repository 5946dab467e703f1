//! The payload detector for ICS protocols on other ports (`passive::detect`): arbitrary
//! bytes must never panic, and a segment it accepts must hold whole frames.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::passive::detect;
use otscout::protocols::{enip, modbus, s7};

fuzz_target!(|data: &[u8]| {
    if let Some(c) = detect::candidate(data) {
        // Whatever it accepts, the same bytes are accepted again with the same key.
        assert_eq!(detect::candidate(data), Some(c));
    }
    let _ = modbus::detect::frames(data);
    let _ = enip::detect::frames(data);
    let _ = s7::detect::frames(data);
});
