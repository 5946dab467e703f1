//! The TPKT/COTP/S7 frame decoder over arbitrary bytes: never panics; whatever decodes
//! re-encodes to a frame that decodes to the same value, and classifying it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::wire::Cursor;
use otscout::wire::s7::{Frame, classify};

fuzz_target!(|data: &[u8]| {
    let _ = Frame::decode(&mut Cursor::new(data));
    if let Ok(f) = Frame::decode_exact(data) {
        let _ = classify(&f);
        let _ = f.anomalies();
        if let Some(p) = f.s7() {
            let _ = p.szl_response();
        }
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(out.len(), f.encoded_len());
        assert_eq!(Frame::decode_exact(&out).as_ref(), Ok(&f));
    }
});
