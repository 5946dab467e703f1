//! UA TCP stream framing over arbitrary bytes: never panics, and a length it returns is
//! within the buffer and at least a header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::wire::opcua::{HEADER_LEN, frame_len};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(n)) = frame_len(data) {
        assert!(n <= data.len());
        assert!(n >= HEADER_LEN);
    }
});
