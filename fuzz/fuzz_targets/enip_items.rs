//! CPF item decoders: the identity item, the List Services item, the CIP Identity reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otscout::protocols::enip::identity::{cip_identity, list_identity};
use otscout::wire::Cursor;
use otscout::wire::enip::{CipIdentity, Cpf, IdentityItem, ServiceItem};

fuzz_target!(|data: &[u8]| {
    let _ = Cpf::decode(&mut Cursor::framed(data));
    if let Ok(item) = IdentityItem::decode(&mut Cursor::framed(data), &mut Vec::new()) {
        let _ = list_identity(&item);
        let mut out = Vec::new();
        item.encode(&mut out);
        assert_eq!(out.len(), item.encoded_len());
    }
    let _ = ServiceItem::decode(&mut Cursor::framed(data)).map(|s| s.name_str());
    let _ =
        CipIdentity::decode(&mut Cursor::framed(data), &mut Vec::new()).map(|i| cip_identity(&i));
});
