//! BACnet service data (ReadProperty, ReadPropertyMultiple and their acks, Who-Is, I-Am,
//! Error) and application-tagged values over arbitrary bytes: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::wire::Cursor;
use otscout::wire::bacnet::{
    IAm, ReadPropertyAck, ReadPropertyRequest, RpmAck, RpmRequest, Value, WhoIs, decode_error,
};

fuzz_target!(|data: &[u8]| {
    let _ = ReadPropertyRequest::decode(data);
    let _ = ReadPropertyAck::decode(data);
    let _ = RpmRequest::decode(data);
    let _ = RpmAck::decode(data);
    let _ = WhoIs::decode(data);
    let _ = IAm::decode(data);
    let _ = decode_error(data);
    if let Ok(Value::CharacterString(s)) = Value::decode(&mut Cursor::framed(data)) {
        let _ = s.to_text();
    }
});
