//! The FINS guard over arbitrary bytes: never panics, and whatever it accepts encodes back
//! to exactly those bytes (one allowed request, nothing else).
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::protocols::fins::safe::check;

fuzz_target!(|data: &[u8]| {
    if let Ok(safe) = check(data) {
        assert_eq!(safe.to_bytes(), data);
    }
});
