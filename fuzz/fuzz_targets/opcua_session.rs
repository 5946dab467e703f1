//! The OPC UA probe session fed arbitrary answers after its Hello: never panics, and every
//! request it asks to send passes the guard.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use otscout::protocols::opcua::safe::{check, url};
use otscout::protocols::opcua::session::{Config, OpcuaSession, Step};

fuzz_target!(|data: &[u8]| {
    let mut s = OpcuaSession::new(Config {
        endpoint_url: url("opc.tcp://127.0.0.1:4840").unwrap(),
        find_servers: true,
        build_info: true,
        reply_timeout: Duration::from_secs(1),
        close_wait: Duration::from_millis(100),
    });
    let now = Instant::now();
    let mut steps = vec![s.on_connected(now)];
    for piece in data.chunks(64) {
        steps.push(s.on_bytes(now, piece));
    }
    for st in steps {
        if let Step::Send(r) = st {
            let mut b = Vec::new();
            r.encode(&mut b);
            assert_eq!(check(&b), Ok(r));
        }
    }
});
