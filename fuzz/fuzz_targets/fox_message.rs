//! The Fox framer, decoder, identity mapping, guard and passive analyzer over arbitrary
//! bytes: never panic; the guard accepts only the minimal hello.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::protocols::fox::identity::to_identity;
use otscout::protocols::fox::passive::{Analyzer, Dir};
use otscout::protocols::fox::safe::{MINIMAL_HELLO, check};
use otscout::wire::fox::{Message, frame_len};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(n)) = frame_len(data) {
        assert!(n > 0 && n <= data.len());
        if let Ok(m) = Message::decode_exact(&data[..n]) {
            let _ = to_identity(&m);
        }
    }
    if check(data).is_ok() {
        assert_eq!(data, MINIMAL_HELLO);
    }
    let mut a = Analyzer::new();
    let _ = a.on_bytes(Dir::Client, MINIMAL_HELLO);
    let (x, y) = data.split_at(data.len() / 2);
    let _ = a.on_bytes(Dir::Server, x);
    let _ = a.on_bytes(Dir::Server, y);
});
