//! The OPC UA passive analyzer over arbitrary bytes in both directions: never panics,
//! whatever the framing, chunking or pairing the bytes claim.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::protocols::opcua::passive::{Connection, Dir};

fuzz_target!(|data: &[u8]| {
    let mut c = Connection::new();
    // The first byte says where to cut the input between the two directions.
    let cut = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    let (a, b) = data.split_at(cut);
    let _ = c.on_bytes(Dir::ToServer, a);
    let _ = c.on_bytes(Dir::ToClient, b);
    let _ = c.on_bytes(Dir::ToServer, b);
});
