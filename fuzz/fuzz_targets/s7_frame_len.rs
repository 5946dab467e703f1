//! TPKT stream framing over arbitrary bytes: never panics, and a length it returns is
//! within the buffer and at least the smallest TPDU.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::wire::s7::{MIN_TPKT_LEN, frame_len};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(n)) = frame_len(data) {
        assert!(n <= data.len());
        assert!(n >= MIN_TPKT_LEN);
    }
});
