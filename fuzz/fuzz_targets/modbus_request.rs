//! Request decoding over arbitrary bytes (stream and framed): never panics, and whatever
//! decodes re-encodes to the bytes it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::wire::Cursor;
use otscout::wire::modbus::{RequestAdu, classify};

fuzz_target!(|data: &[u8]| {
    let _ = RequestAdu::decode(&mut Cursor::new(data));
    let mut c = Cursor::framed(data);
    if let Ok(adu) = RequestAdu::decode(&mut c) {
        let _ = classify(&adu.pdu);
        let _ = adu.pdu.address_range();
        let used = c.position();
        let mut out = Vec::new();
        adu.encode(&mut out);
        assert_eq!(out, &data[..used]);
        assert_eq!(out.len(), adu.encoded_len());
    }
});
