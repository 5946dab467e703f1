//! A BACnet/IP datagram through BVLL, NPDU and APDU over arbitrary bytes: never panics,
//! and a datagram that decodes encodes back to exactly its bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::wire::bacnet::{Bvll, Datagram, MAX_BVLC_LEN, Npdu, frame_len};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(n)) = frame_len(data) {
        assert!(n > 0 && n <= data.len() && n <= MAX_BVLC_LEN);
    }
    if let Ok(b) = Bvll::decode_exact(data) {
        let mut out = Vec::new();
        b.encode(&mut out);
        assert_eq!(out, data);
    }
    if let Ok(n) = Npdu::decode(data) {
        let mut out = Vec::new();
        n.encode(&mut out);
        assert_eq!(out, data);
    }
    let _ = Datagram::decode(data);
});
