//! MBAP stream framing over arbitrary bytes: never panics, and a frame it finds is never
//! longer than the input or the largest Modbus/TCP frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::wire::modbus::{MAX_ADU_LEN, frame_len};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(n)) = frame_len(data) {
        assert!(n <= data.len() && n <= MAX_ADU_LEN);
    }
});
