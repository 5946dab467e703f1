//! The BACnet guard over arbitrary bytes: never panics, and whatever it accepts is a
//! unicast B/IP datagram that encodes back from the accepted request to exactly its bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::protocols::bacnet::safe::check;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = check(data) {
        assert_eq!(&data[..2], &[0x81, 0x0a]);
        let mut again = Vec::new();
        r.encode(&mut again);
        assert_eq!(again, data);
    }
});
