//! CIP message router requests/replies, EPATHs and the containers the classifier opens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::wire::Cursor;
use otscout::wire::enip::{self, CipMessage, PathTarget};

fuzz_target!(|data: &[u8]| {
    let _ = CipMessage::decode(&mut Cursor::framed(data));
    let _ = PathTarget::parse(data);
    let _ = enip::multiple_service_parts(data);
    let _ = enip::unconnected_send_inner(data);
    let mut ops = Vec::new();
    enip::classify_cip(data, 0, &mut ops);
});
