//! One UA TCP frame over arbitrary bytes: decoding never panics, what decodes encodes back
//! to the same bytes, and a plain chunk's body goes through the service decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::wire::opcua::{Frame, Reassembly, Service};

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = Frame::decode_exact(data) {
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(out, data);
        if let Frame::Chunk(c) = &f {
            if let Ok(p) = c.plain() {
                let _ = Service::decode(p.body);
                let _ = Reassembly::default().push(c.chunk, &p);
            }
        }
    }
});
