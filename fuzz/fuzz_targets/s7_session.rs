//! The S7 probe session fed arbitrary device answers: never panics, and every request it
//! asks for passes the guard.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use otscout::protocols::s7::session::{S7Session, S7SessionConfig};
use otscout::protocols::session::{Session, Step};
use otscout::safety::emit;

fuzz_target!(|data: &[u8]| {
    let cfg = S7SessionConfig {
        port: 102,
        tsaps: vec![0x0102, 0x0101],
        local_tsap: 0x0100,
        szl_ids: vec![0x0011, 0x001c],
        pdu_length: 480,
        response_timeout: Duration::from_secs(1),
        disconnect_wait: Duration::from_millis(100),
        max_szl_pieces: 8,
        cotp_src_ref: 1,
        first_pdu_ref: 1,
    };
    let mut s = S7Session::new(cfg);
    let now = Instant::now();
    let mut step = s.on_connected(now);
    // Feed the input in chunks whose sizes come from the input itself.
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        if let Step::Send(r) = &step {
            emit(r).expect("the session only asks for allowlisted requests");
        }
        if step == Step::Done {
            break;
        }
        if step == Step::Reconnect {
            step = s.on_connected(now);
            continue;
        }
        let n = usize::from(n).min(tail.len());
        step = s.on_bytes(now, &tail[..n]);
        rest = &tail[n..];
    }
    let _ = s.take_findings();
});
