//! Robustness of the device models against arbitrary client bytes: a client (or a
//! scanner under test) may send anything; the models must answer or close, never panic,
//! and every reply must be well framed.

use proptest::prelude::*;

use crate::plant::Plant;
use crate::{enip, fins, fox, modbus, s7};

fn demo() -> Plant {
    Plant::from_toml_str(include_str!("../plants/demo.toml")).expect("demo plant")
}

/// A frame with a valid header for `len_ok` framing and arbitrary contents.
fn modbus_frame(body: &[u8], unit: u8) -> Vec<u8> {
    let mut v = vec![0, 1, 0, 0];
    v.extend_from_slice(&((body.len() + 1) as u16).to_be_bytes());
    v.push(unit);
    v.extend_from_slice(body);
    v
}

fn ffd() -> Plant {
    Plant::from_toml_str(include_str!("../plants/ffd.toml")).expect("ffd plant")
}

proptest! {
    #[test]
    fn fins_never_panics_and_frames_replies(cmd in 0u32..5, body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let plant = ffd();
        let mut frame = b"FINS".to_vec();
        frame.extend_from_slice(&((8 + body.len()) as u32).to_be_bytes());
        frame.extend_from_slice(&cmd.to_be_bytes());
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(&body);
        prop_assert_eq!(fins::tcp_frame_len(&frame[..8]), Ok(frame.len()));
        let _ = fins::classify_tcp(&frame);
        let _ = fins::classify_udp(&body);
        for cfg in plant.devices.iter().filter_map(|d| d.fins.as_ref()) {
            let mut s = fins::TcpSession::default();
            for _ in 0..2 {
                for r in s.handle(cfg, &frame).replies {
                    prop_assert_eq!(fins::tcp_frame_len(&r[..8]), Ok(r.len()));
                }
            }
            for r in fins::handle_udp(cfg, &body).replies {
                prop_assert!(r.len() >= 14);
            }
        }
    }

    #[test]
    fn fox_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let plant = ffd();
        let mut msg = b"fox a 1 -1 fox hello\n{\n".to_vec();
        msg.extend_from_slice(&bytes);
        let _ = fox::message_len(&msg);
        let _ = fox::message_len(&bytes);
        let _ = fox::classify(&msg);
        for cfg in plant.devices.iter().filter_map(|d| d.fox.as_ref()) {
            for r in fox::handle(cfg, &msg).replies {
                // Every reply is one whole message by the model's own framer.
                prop_assert_eq!(fox::message_len(&r), Ok(Some(r.len())));
            }
        }
    }

    #[test]
    fn modbus_never_panics_and_frames_replies(body in proptest::collection::vec(any::<u8>(), 1..253), unit in any::<u8>()) {
        let plant = demo();
        let adu = modbus_frame(&body, unit);
        prop_assert!(modbus::frame_len(&adu[..7]).is_ok_and(|l| l == adu.len()));
        let _ = modbus::classify(&adu);
        for d in plant.devices.iter().filter_map(|d| d.modbus.as_ref()) {
            for r in modbus::handle(d, &adu).replies {
                prop_assert!(r.len() <= 260);
                prop_assert_eq!(usize::from(u16::from_be_bytes([r[4], r[5]])) + 6, r.len());
                prop_assert_eq!(&r[..2], &adu[..2]);
            }
        }
    }

    #[test]
    fn enip_never_panics_and_frames_replies(cmd in any::<u16>(), body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let plant = demo();
        let mut f = cmd.to_le_bytes().to_vec();
        f.extend_from_slice(&(body.len() as u16).to_le_bytes());
        f.resize(24, 0);
        f.extend_from_slice(&body);
        let _ = enip::classify(&f);
        for d in plant.devices.iter().filter_map(|d| d.enip.as_ref()) {
            for r in enip::handle(d, ([127, 0, 0, 1].into(), 44818), &f).replies {
                prop_assert_eq!(usize::from(u16::from_le_bytes([r[2], r[3]])) + 24, r.len());
            }
        }
    }

    #[test]
    fn s7_never_panics_and_frames_replies(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 3..80), 1..6), connect_first in any::<bool>()) {
        let plant = demo();
        for d in plant.devices.iter().filter_map(|d| d.s7.as_ref()) {
            let mut session = s7::Session::default();
            let mut all: Vec<Vec<u8>> = Vec::new();
            if connect_first {
                all.push(vec![3, 0, 0, 22, 17, 0xe0, 0, 0, 0, 1, 0, 0xc1, 2, 1, 0, 0xc2, 2, 1, 2, 0xc0, 1, 0x0a]);
                all.push(vec![3, 0, 0, 25, 2, 0xf0, 0x80, 0x32, 1, 0, 0, 0, 1, 0, 8, 0, 0, 0xf0, 0, 0, 1, 0, 1, 0, 240]);
            }
            for body in &frames {
                // A TPKT header around arbitrary COTP/S7 bytes.
                let mut f = vec![3, 0];
                f.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
                f.extend_from_slice(body);
                all.push(f);
            }
            for f in &all {
                if s7::frame_len(&f[..4]).is_err() {
                    continue;
                }
                let _ = s7::classify(f);
                let a = session.handle(d, f);
                for r in a.replies {
                    prop_assert_eq!(usize::from(u16::from_be_bytes([r[2], r[3]])), r.len());
                    prop_assert!(r.len() <= usize::from(d.pdu_size) + 7 + 4);
                }
                if a.close {
                    break;
                }
            }
        }
    }
}

#[test]
fn szl_layouts_match_the_record_lengths() {
    let plant = demo();
    for d in plant.devices.iter().filter_map(|d| d.s7.as_ref()) {
        for (id, reclen) in [(0x0011u16, 28usize), (0x001c, 34), (0x0000, 2)] {
            let b = s7::szl(&d.identity, id, 0).expect("known szl");
            let count = usize::from(u16::from_be_bytes([b[6], b[7]]));
            assert_eq!(usize::from(u16::from_be_bytes([b[4], b[5]])), reclen);
            assert_eq!(b.len(), 8 + reclen * count, "szl 0x{id:04x}");
        }
        assert!(s7::szl(&d.identity, 0x0c91, 0).is_none());
    }
}

#[test]
fn generated_plants_validate() {
    let p = crate::generate::generate(300, "127.99.0.0/16", 5).expect("generate");
    let text = p.to_toml_string();
    assert_eq!(Plant::from_toml_str(&text).expect("round trip"), p);
}

#[test]
fn plant_errors_name_the_device_and_the_fix() {
    let dup = r#"
        [[device]]
        name = "a"
        address = "127.9.0.1"
        [device.modbus]
        port = 1502
        identity = { vendor_name = "v", product_code = "p", revision = "r" }
        [[device]]
        name = "b"
        address = "127.9.0.1"
        [device.modbus]
        port = 1502
        identity = { vendor_name = "v", product_code = "p", revision = "r" }
    "#;
    let e = Plant::from_toml_str(dup).unwrap_err().to_string();
    assert!(
        e.contains("\"b\"") && e.contains("127.9.0.1:1502/tcp is already used"),
        "{e}"
    );
    let long = dup.replace(
        "port = 1502\n        identity = { vendor_name = \"v\"",
        &format!(
            "port = 2502\n        identity = {{ vendor_name = \"{}\"",
            "x".repeat(300)
        ),
    );
    let e = Plant::from_toml_str(&long).unwrap_err().to_string();
    assert!(e.contains("at most 244 fit a reply"), "{e}");
    let e = Plant::from_toml_str("[[device]]\nname = \"z\"\naddress = \"127.1.1.1\"\ncolour = 1\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("colour"), "{e}");
}
