//! One framing contract for every protocol in the registry (issue 13, item 4): for each
//! [`REGISTRY`] entry, a stream of its real messages (the golden vectors of its test
//! module, each naming its capture and frame), cut at any offsets and fed in any
//! chunking, frames with the registry's `frame_len` into the same messages, and
//! `Ok(Some(n))` never claims more than is held. A registered protocol without golden
//! messages here fails the test: adding a protocol adds its vectors.

use otscout::protocols::{ProtocolSpec, REGISTRY};
use proptest::prelude::*;

use crate::support::hex;

/// The golden messages of a registered protocol, by its registry name.
fn goldens(name: &str) -> Option<Vec<Vec<u8>>> {
    let v: &[&str] = match name {
        "modbus" => &[
            crate::modbus::DEVID_REQUEST,
            crate::modbus::DEVID_RESPONSE,
            crate::modbus::DEVID_PAGED,
            crate::modbus::EXCEPTION,
            crate::modbus::DEVID_REQUEST_TRAILING,
        ],
        "enip" => &[
            crate::enip::ENBT_REQ,
            crate::enip::ENBT_REPLY,
            crate::enip::CPPPO_REPLY,
            crate::enip::FW_INTERFACES_REPLY,
            crate::enip::FW_REGISTER_REQ,
            crate::enip::FW_REGISTER_REPLY,
            crate::enip::FW_GAA_REQ,
            crate::enip::FW_GAA_REPLY,
        ],
        "s7" => &[
            crate::s7::CR_STEP7,
            crate::s7::CC_IM151,
            crate::s7::SETUP_JOB,
            crate::s7::SETUP_ACK,
            crate::s7::SZL_1C_REQ,
        ],
        "opcua" => &[
            crate::opcua::HEL,
            crate::opcua::ACK,
            crate::opcua::OPN_REQ,
            crate::opcua::GEP_REQ,
            crate::opcua::CLO,
            crate::opcua::ERR,
        ],
        "fins" => &[
            crate::ffd::FINS_NODE_REQ,
            crate::ffd::FINS_NODE_ANS,
            crate::ffd::FINS_CDR_REQ,
            crate::ffd::FINS_CDR_ANS,
        ],
        "fox" => &[crate::ffd::FOX_HELLO, crate::ffd::FOX_STATION],
        "profinet_dcp" => &[
            crate::dcp::IDENTIFY_REQ,
            crate::dcp::IDENTIFY_RES,
            crate::dcp::SET_IP,
            crate::dcp::SET_RES,
        ],
        "bacnet" => &[
            crate::bacnet::RP_REQUEST,
            crate::bacnet::RP_ACK_UCS2,
            crate::bacnet::READ_BDT,
            crate::bacnet::BVLC_NAK,
            crate::bacnet::ROUTED_I_AM,
            crate::bacnet::RPM_ACK_SEGMENT,
        ],
        _ => return None,
    };
    Some(v.iter().map(|h| hex(h)).collect())
}

/// A consumer as the probe and the passive engine are: append a chunk, then cut frames
/// while the framer finds whole ones.
fn reframe(spec: &dyn ProtocolSpec, stream: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    bounds.push(stream.len());
    bounds.sort_unstable();
    let (mut buf, mut out, mut from) = (Vec::new(), Vec::new(), 0);
    for to in bounds {
        buf.extend_from_slice(&stream[from..to]);
        from = to;
        while let Some(n) = spec.frame_len(&buf).expect("a stream of valid messages") {
            assert!(
                n > 0 && n <= buf.len(),
                "{}: Some({n}) with {} bytes held",
                spec.name(),
                buf.len()
            );
            out.push(buf.drain(..n).collect());
        }
    }
    assert!(
        buf.is_empty(),
        "{}: {} bytes left unframed",
        spec.name(),
        buf.len()
    );
    out
}

#[test]
fn every_registered_protocol_has_golden_messages_that_frame_whole() {
    for spec in REGISTRY {
        let msgs = goldens(spec.name()).unwrap_or_else(|| {
            panic!("{}: no golden messages in tests/it/framing.rs", spec.name())
        });
        for m in &msgs {
            assert_eq!(
                spec.frame_len(m),
                Ok(Some(m.len())),
                "{}: {m:02x?}",
                spec.name()
            );
            // One byte short is "wait for more", never a frame.
            assert_eq!(
                spec.frame_len(&m[..m.len() - 1]),
                Ok(None),
                "{}",
                spec.name()
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_registered_protocol_frames_the_same_in_any_chunking(
        picks in prop::collection::vec(any::<prop::sample::Index>(), 1..8),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        for spec in REGISTRY {
            let all = goldens(spec.name()).expect("checked by the test above");
            let msgs: Vec<Vec<u8>> = picks.iter().map(|i| all[i.index(all.len())].clone()).collect();
            let stream = msgs.concat();
            prop_assert_eq!(&reframe(*spec, &stream, &cuts), &msgs, "{}", spec.name());
            let every: Vec<usize> = (0..stream.len()).collect();
            prop_assert_eq!(&reframe(*spec, &stream, &every), &msgs, "{}", spec.name());
        }
    }
}
