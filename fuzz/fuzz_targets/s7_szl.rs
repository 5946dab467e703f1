//! SZL reassembly, list decoding and the identity builder over arbitrary pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::protocols::s7::identity::to_identity;
use otscout::wire::s7::SzlReassembler;

fuzz_target!(|data: &[u8]| {
    // The first byte says where to cut the input into two pieces.
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(rest.len());
    let mut r = SzlReassembler::new();
    let _ = r.push(&rest[..cut], true);
    if let Ok(Some(list)) = r.push(&rest[cut..], false) {
        let _ = to_identity(Some(&list), Some(&list));
    }
});
