//! EtherNet/IP stream framing and frame decoding, and everything built on a decoded frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::wire::Cursor;
use otscout::wire::enip::{self, Frame};

fuzz_target!(|data: &[u8]| {
    let framed = enip::frame_len(data);
    let mut c = Cursor::new(data);
    if let Ok(f) = Frame::decode(&mut c) {
        // A decoded frame is exactly as long as the framing said.
        assert_eq!(framed, Ok(Some(c.position())));
        let _ = enip::classify(&f);
        let _ = otscout::protocols::enip::identity::list_identity_reply(&f);
        let _ = enip::cip_request(&f);
        let _ = enip::cip_reply(&f);
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(out.len(), f.encoded_len());
    }
});
