//! The outbound guard over arbitrary bytes: never panics, and whatever it accepts is one
//! complete TPKT frame that the codec classifies as the same request kind.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::inventory::Protocol;
use otscout::safety::check;
use otscout::wire::s7::{Frame, classify, frame_len};

fuzz_target!(|data: &[u8]| {
    if let Ok(kind) = check(Protocol::S7, data) {
        assert_eq!(frame_len(data), Ok(Some(data.len())));
        let f = Frame::decode_exact(data).expect("accepted frames decode");
        assert_eq!(classify(&f).name, kind);
        assert!(matches!(
            kind,
            "cotp.connect"
                | "s7.setup_communication"
                | "s7.read_szl"
                | "s7.read_szl_follow_up"
                | "cotp.disconnect"
        ));
    }
});
