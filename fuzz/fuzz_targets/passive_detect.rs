//! The payload detector for ICS protocols on other ports (`passive::detect`): arbitrary
//! bytes must never panic, and a segment it accepts must hold whole frames.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::passive::detect;

fuzz_target!(|data: &[u8]| {
    if let Some(c) = detect::candidate(data) {
        // Whatever it accepts, the same bytes are accepted again with the same key.
        assert_eq!(detect::candidate(data), Some(c));
    }
    let _ = detect::modbus(data);
    let _ = detect::enip(data);
    let _ = detect::s7(data);
});
