//! The OPC UA guard over arbitrary bytes: never panics, and whatever it accepts encodes
//! back to exactly the bytes it was given (the guard's rebuild-and-compare rule).
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::protocols::opcua::safe::check;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = check(data) {
        let mut out = Vec::new();
        s.encode(&mut out);
        assert_eq!(out, data);
    }
});
