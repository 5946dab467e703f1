//! Response decoding over arbitrary bytes (stream and framed): never panics, and whatever
//! decodes re-encodes to the bytes it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::protocols::modbus::identity::to_identity;
use otscout::wire::Cursor;
use otscout::wire::modbus::{Response, ResponseAdu};

fuzz_target!(|data: &[u8]| {
    let _ = ResponseAdu::decode(&mut Cursor::new(data));
    let mut c = Cursor::framed(data);
    if let Ok(adu) = ResponseAdu::decode(&mut c) {
        if let Response::ReadDeviceId(r) = &adu.pdu {
            let _ = r.anomalies();
            let _ = to_identity(adu.header.unit_id, [r]);
        }
        let _ = adu.pdu.report_server_id();
        let used = c.position();
        let mut out = Vec::new();
        adu.encode(&mut out);
        assert_eq!(out, &data[..used]);
        assert_eq!(out.len(), adu.encoded_len());
    }
});
