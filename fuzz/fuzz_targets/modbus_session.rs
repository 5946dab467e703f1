//! The probe session fed arbitrary device bytes in arbitrary chunks: never panics, never
//! asks for more than the configured pages, and every request it makes passes the guard.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use otscout::protocols::modbus::session::{ModbusSession, ModbusSessionConfig};
use otscout::protocols::session::{Session, Step};
use otscout::safety::{ReadDeviceIdCode, emit};

fuzz_target!(|data: &[u8]| {
    let cfg = ModbusSessionConfig {
        port: 502,
        unit_ids: vec![1, 0xff],
        read_codes: vec![
            ReadDeviceIdCode::Basic,
            ReadDeviceIdCode::Regular,
            ReadDeviceIdCode::Extended,
        ],
        individual_objects: vec![4],
        response_timeout: Duration::from_millis(100),
        max_pages: 4,
        first_transaction_id: 1,
        // The units behind a gateway too: a gateway exception in the input opens them.
        gateway_units: vec![2, 3],
        gateway_identities: vec!["gw".into()],
    };
    let t0 = Instant::now();
    let mut s = ModbusSession::new(cfg);
    let mut step = s.on_connected(t0);
    let mut sends = 0;
    // The first byte of each chunk is its length.
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        if let Step::Send(r) = &step {
            sends += 1;
            assert!(emit(r).is_ok());
        }
        if step == Step::Done {
            break;
        }
        let n = usize::from(n).min(tail.len());
        step = s.on_bytes(t0, &tail[..n]);
        rest = &tail[n..];
    }
    // Two units, three codes, four pages each at most.
    assert!(sends <= 2 * 3 * 4);
    let _ = s.on_timeout(t0 + Duration::from_secs(1));
    let _ = s.take_findings();
});
