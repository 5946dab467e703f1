//! The probe session fed arbitrary replies, split at an arbitrary point, over TCP and UDP.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use otscout::protocols::enip::session::{EnipSession, EnipSessionConfig};
use otscout::protocols::session::{Session, Step};
use otscout::profile::EnipTransport;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    for transport in [EnipTransport::Tcp, EnipTransport::Udp] {
        let mut s = EnipSession::new(EnipSessionConfig {
            transport,
            port: 44818,
            list_services: true,
            response_timeout: Duration::from_secs(1),
            context_prefix: *b"fuzzer",
        });
        let t0 = Instant::now();
        let _ = s.on_connected(t0);
        let at = usize::from(split).min(rest.len());
        let mut step = s.on_bytes(t0, &rest[..at]);
        if step == Step::Wait {
            step = s.on_bytes(t0, &rest[at..]);
        }
        if step == Step::Wait {
            let _ = s.on_timeout(t0 + Duration::from_secs(2));
        }
        let _ = s.take_findings();
    }
});
