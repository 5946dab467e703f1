//! FINS decoders over arbitrary bytes (as a FINS/TCP stream and as a UDP datagram), the
//! identity mapping and the passive analyzer: never panic; whatever frames decodes or is
//! refused by name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::protocols::fins::identity::to_identity;
use otscout::protocols::fins::passive::Analyzer;
use otscout::wire::fins::{Frame, TcpFrame, frame_len};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(n)) = frame_len(data) {
        assert!(n > 0 && n <= data.len());
        let _ = TcpFrame::decode_exact(&data[..n]);
        let _ = Analyzer::new().on_tcp_frame(&data[..n]);
    }
    if let Ok(f) = Frame::decode_exact(data) {
        if let Some(Ok(d)) = f.controller_data() {
            let _ = to_identity(&d, Some(f.header.sa1));
        }
    }
    let mut a = Analyzer::new();
    let (x, y) = data.split_at(data.len() / 2);
    let _ = a.on_datagram(x);
    let _ = a.on_datagram(y);
});
