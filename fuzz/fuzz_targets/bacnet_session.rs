//! The BACnet probe session fed arbitrary datagrams: never panics, never sends more than
//! 12 requests, and every request it makes passes the guard.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use otscout::protocols::bacnet::safe::emit;
use otscout::protocols::bacnet::session::{BacnetSession, SessionConfig, Step};

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut s = BacnetSession::new(SessionConfig::default());
    let mut sends = 0;
    let mut step = s.on_connected(t0);
    for chunk in data.split(|b| *b == 0xAA) {
        if let Step::Send(r) = step {
            sends += 1;
            assert!(sends <= 12);
            emit(&r).expect("the session's requests pass the guard");
        }
        if step == Step::Done {
            break;
        }
        step = s.on_datagram(t0, chunk);
    }
    let _ = s.take_findings();
});
