//! The S7 PDU decoder alone (as found inside a COTP DT) over arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::wire::Cursor;
use otscout::wire::s7::{S7Pdu, classify_pdu};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = S7Pdu::decode(&mut Cursor::framed(data)) {
        let _ = classify_pdu(&p);
        let _ = p.szl_response();
    }
});
