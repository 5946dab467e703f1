//! Class-1 implicit I/O datagram recognition (UDP 2222).
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::wire::enip::IoPacket;

fuzz_target!(|data: &[u8]| {
    let _ = IoPacket::decode(data);
});
