//! A secure-conversation message body over arbitrary bytes: the service decoder (endpoint
//! lists, read results with nested variants, diagnostic infos) never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::wire::opcua::Service;

fuzz_target!(|data: &[u8]| {
    let _ = Service::peek_type_id(data);
    if let Ok(s) = Service::decode(data) {
        let _ = s.request_header();
        let _ = s.response_header();
        let mut out = Vec::new();
        s.encode(&mut out);
    }
});
