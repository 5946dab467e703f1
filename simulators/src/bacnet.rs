//! BACnet/IP device model (server side), written from ANSI/ASHRAE 135: Annex J (BVLL),
//! clause 6 (NPDU), 20.1-20.2 (APDU and tag encoding), 15.5 ReadProperty, 15.7
//! ReadPropertyMultiple, 16.10 Who-Is/I-Am, 18 (errors).
//!
//! Sans-IO: [`handle`] answers one datagram. It serves the Device object's identity
//! properties plus protocol-version, max-apdu-length-accepted and segmentation-supported;
//! everything else gets the error a real device gives (unknown-property, unknown-object,
//! write-access-denied) or a Reject. Quirks of real stacks are configurable: answering the
//! wildcard instance with unknown-object (bacpypes3 0.0.110), no ReadPropertyMultiple
//! (Reject unrecognized-service), an I-Am that never comes back unicast, UCS-2 strings (the
//! JCI NAE).
//!
//! Everything is big-endian (20.2).

use crate::plant::BacnetConfig;
use crate::{Answer, Classified};

/// BVLC header length (type, function, length).
pub(crate) const HEADER_LEN: usize = 4;
/// Largest B/IP frame (J.2: NPDU at most 1497 bytes, plus a 10-byte forwarded header).
const MAX_FRAME: usize = 1507;

const WILDCARD: u32 = 0x3F_FFFF;
const DEVICE: u32 = 8;

/// Total frame length from the BVLC header.
pub(crate) fn frame_len(header: &[u8]) -> Result<usize, String> {
    if header[0] != 0x81 {
        return Err(format!("bvlc type 0x{:02x}, not 0x81", header[0]));
    }
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if !(HEADER_LEN..=MAX_FRAME).contains(&len) {
        return Err(format!("bvlc length {len} outside 4..={MAX_FRAME}"));
    }
    Ok(len)
}

/// A parsed request: enough to classify and answer it.
struct Parsed<'a> {
    bvlc_function: u8,
    /// The APDU (after an unrouted or routed NPDU), if the frame carries one.
    apdu: Option<&'a [u8]>,
}

fn parse(frame: &[u8]) -> Option<Parsed<'_>> {
    if frame.len() < HEADER_LEN || frame_len(frame).ok()? != frame.len() {
        return None;
    }
    let function = frame[1];
    let npdu = match function {
        0x09..=0x0B => &frame[4..],
        0x04 => frame.get(10..)?,
        _ => {
            return Some(Parsed {
                bvlc_function: function,
                apdu: None,
            });
        }
    };
    // NPDU (6.2): version 1, control; skip DNET/DADR, SNET/SADR, hop count.
    if npdu.first() != Some(&1) {
        return None;
    }
    let control = *npdu.get(1)?;
    let mut i = 2;
    let dnet = control & 0x20 != 0;
    if dnet {
        let len = usize::from(*npdu.get(i + 2)?);
        i += 3 + len;
    }
    if control & 0x08 != 0 {
        let len = usize::from(*npdu.get(i + 2)?);
        i += 3 + len;
    }
    if dnet {
        i += 1;
    }
    if control & 0x80 != 0 {
        // A network-layer message: no APDU.
        return Some(Parsed {
            bvlc_function: function,
            apdu: None,
        });
    }
    Some(Parsed {
        bvlc_function: function,
        apdu: Some(npdu.get(i..)?),
    })
}

/// Names the request; the identity set is ReadProperty, ReadPropertyMultiple and Who-Is.
pub(crate) fn classify(frame: &[u8]) -> Classified {
    let Some(p) = parse(frame) else {
        return Classified {
            function: "malformed".into(),
            identity: false,
        };
    };
    let bvlc_name = |f: u8| match f {
        0x00 => "bvlc_result",
        0x01 => "write_broadcast_distribution_table",
        0x02 => "read_broadcast_distribution_table",
        0x05 => "register_foreign_device",
        0x06 => "read_foreign_device_table",
        0x08 => "delete_foreign_device_table_entry",
        0x09 => "distribute_broadcast_to_network",
        _ => "bvlc_other",
    };
    let Some(apdu) = p.apdu else {
        return Classified {
            function: bvlc_name(p.bvlc_function).into(),
            identity: false,
        };
    };
    let (function, identity) = match apdu {
        [0x00, _, _, 12, ..] => ("read_property".to_string(), true),
        [0x00, _, _, 14, ..] => ("read_property_multiple".to_string(), true),
        [0x00, _, _, 15, ..] => ("write_property".to_string(), false),
        [0x00, _, _, 16, ..] => ("write_property_multiple".to_string(), false),
        [0x00, _, _, 17, ..] => ("device_communication_control".to_string(), false),
        [0x00, _, _, 20, ..] => ("reinitialize_device".to_string(), false),
        [t, _, _, s, ..] if t >> 4 == 0 => (format!("confirmed_service_{s}"), false),
        [0x10, 8, ..] => ("who_is".to_string(), true),
        [0x10, s, ..] => (format!("unconfirmed_service_{s}"), false),
        _ => ("other_pdu".to_string(), false),
    };
    // Sent by broadcast or through a BBMD, even an identity request is not the probe's.
    Classified {
        function,
        identity: identity && p.bvlc_function == 0x0A,
    }
}

/// A tag header (20.2.1) with its length, extended when needed.
fn tag(out: &mut Vec<u8>, number: u8, context: bool, len: usize) {
    let class = if context { 0x08 } else { 0 };
    if len < 5 {
        out.push((number << 4) | class | len as u8);
    } else if len < 254 {
        out.extend_from_slice(&[(number << 4) | class | 5, len as u8]);
    } else {
        out.extend_from_slice(&[(number << 4) | class | 5, 254]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    }
}

fn unsigned(out: &mut Vec<u8>, number: u8, context: bool, v: u32) {
    let b = v.to_be_bytes();
    let skip = b.iter().take(3).take_while(|x| **x == 0).count();
    tag(out, number, context, 4 - skip);
    out.extend_from_slice(&b[skip..]);
}

fn object_id(out: &mut Vec<u8>, number: u8, context: bool, ty: u32, instance: u32) {
    tag(out, number, context, 4);
    out.extend_from_slice(&((ty << 22) | (instance & WILDCARD)).to_be_bytes());
}

fn char_string(out: &mut Vec<u8>, s: &str, charset: u8) {
    let body: Vec<u8> = match charset {
        // UCS-2, big-endian (what the JCI NAE sends).
        4 => s.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        _ => s.as_bytes().to_vec(),
    };
    tag(out, 7, false, body.len() + 1);
    out.push(charset);
    out.extend_from_slice(&body);
}

/// The application-tagged value of one Device property, or `None` when the device has no
/// such property.
fn property_value(cfg: &BacnetConfig, property: u32) -> Option<Vec<u8>> {
    let id = &cfg.identity;
    let mut v = Vec::new();
    let cs = cfg.charset;
    match property {
        75 => object_id(&mut v, 12, false, DEVICE, id.instance),
        77 => char_string(&mut v, &id.object_name, cs),
        121 => char_string(&mut v, &id.vendor_name, cs),
        120 => unsigned(&mut v, 2, false, id.vendor_id),
        70 => char_string(&mut v, &id.model_name, cs),
        44 => char_string(&mut v, &id.firmware_revision, cs),
        12 => char_string(&mut v, &id.application_software_version, cs),
        28 => char_string(&mut v, id.description.as_deref()?, cs),
        58 => char_string(&mut v, id.location.as_deref()?, cs),
        98 => unsigned(&mut v, 2, false, 1),
        62 => unsigned(&mut v, 2, false, u32::from(id.max_apdu)),
        // segmentation-supported: no-segmentation (3).
        107 => unsigned(&mut v, 9, false, 3),
        _ => return None,
    }
    Some(v)
}

/// Reads a context-tagged unsigned or object id at `d[*i..]` with tag number `n`.
fn context_u32(d: &[u8], i: &mut usize, n: u8) -> Option<u32> {
    let t = *d.get(*i)?;
    if t >> 4 != n || t & 0x08 == 0 {
        return None;
    }
    let len = usize::from(t & 0x07);
    if !(1..=4).contains(&len) {
        return None;
    }
    let b = d.get(*i + 1..*i + 1 + len)?;
    *i += 1 + len;
    Some(b.iter().fold(0u32, |a, x| (a << 8) | u32::from(*x)))
}

fn datagram(apdu: &[u8]) -> Vec<u8> {
    let mut out = vec![0x81, 0x0A, 0, 0, 0x01, 0x00];
    out.extend_from_slice(apdu);
    let len = out.len() as u16;
    out[2..4].copy_from_slice(&len.to_be_bytes());
    out
}

fn error(invoke_id: u8, service: u8, class: u32, code: u32) -> Vec<u8> {
    let mut a = vec![0x50, invoke_id, service];
    unsigned(&mut a, 9, false, class);
    unsigned(&mut a, 9, false, code);
    datagram(&a)
}

fn reject(invoke_id: u8, reason: u8) -> Vec<u8> {
    datagram(&[0x60, invoke_id, reason])
}

/// The I-Am of this device (16.10.3).
pub(crate) fn i_am(cfg: &BacnetConfig) -> Vec<u8> {
    let mut a = vec![0x10, 0x00];
    object_id(&mut a, 12, false, DEVICE, cfg.identity.instance);
    unsigned(&mut a, 2, false, u32::from(cfg.identity.max_apdu));
    unsigned(&mut a, 9, false, 3);
    unsigned(&mut a, 2, false, cfg.identity.vendor_id);
    datagram(&a)
}

/// True when the device takes `instance` as naming itself.
fn is_me(cfg: &BacnetConfig, ty: u32, instance: u32) -> bool {
    ty == DEVICE
        && (instance == cfg.identity.instance || (instance == WILDCARD && !cfg.wildcard_unknown))
}

/// Answers one datagram.
pub(crate) fn handle(cfg: &BacnetConfig, frame: &[u8]) -> Answer {
    let Some(p) = parse(frame) else {
        return Answer::none();
    };
    let Some(apdu) = p.apdu else {
        // A BBMD-less device NAKs the table functions (J.2.1.1), as the JCI NAE does
        // (bacnet_test.pcap frames 22 and 26).
        let nak: Option<u16> = match p.bvlc_function {
            0x01 => Some(0x0010),
            0x02 => Some(0x0020),
            0x05 => Some(0x0030),
            0x06 => Some(0x0040),
            0x08 => Some(0x0050),
            0x09 => Some(0x0060),
            _ => None,
        };
        return match nak {
            Some(code) => {
                let mut r = vec![0x81, 0x00, 0x00, 0x06];
                r.extend_from_slice(&code.to_be_bytes());
                Answer::one(r)
            }
            None => Answer::none(),
        };
    };
    match apdu {
        // Confirmed request, unsegmented (20.1.2): type, max segs/APDU, invoke id, service.
        [t, _, invoke_id, service, data @ ..] if t >> 4 == 0 => {
            if t & 0x08 != 0 {
                // Segmented requests are not supported (20.1.2.1): abort.
                return Answer::one(datagram(&[0x71, *invoke_id, 4]));
            }
            confirmed(cfg, *invoke_id, *service, data)
        }
        [0x10, 8, data @ ..] => {
            let mut i = 0;
            let in_range = match (context_u32(data, &mut i, 0), context_u32(data, &mut i, 1)) {
                (Some(lo), Some(hi)) => (lo..=hi).contains(&cfg.identity.instance),
                _ => data.is_empty(),
            };
            if in_range && cfg.i_am_unicast {
                Answer::one(i_am(cfg))
            } else {
                Answer::none()
            }
        }
        _ => Answer::none(),
    }
}

fn confirmed(cfg: &BacnetConfig, invoke_id: u8, service: u8, d: &[u8]) -> Answer {
    match service {
        12 => {
            let mut i = 0;
            let (Some(oid), Some(prop)) = (context_u32(d, &mut i, 0), context_u32(d, &mut i, 1))
            else {
                return Answer::one(reject(invoke_id, 5)); // missing-required-parameter
            };
            if !is_me(cfg, oid >> 22, oid & WILDCARD) {
                return Answer::one(error(invoke_id, 12, 1, 31));
            }
            let Some(value) = property_value(cfg, prop) else {
                return Answer::one(error(invoke_id, 12, 2, 32));
            };
            let mut a = vec![0x30, invoke_id, 12];
            // The ack echoes the object asked, wildcard included (bacnet_test.pcap).
            object_id(&mut a, 0, true, oid >> 22, oid & WILDCARD);
            unsigned(&mut a, 1, true, prop);
            a.push(0x3E);
            a.extend_from_slice(&value);
            a.push(0x3F);
            Answer::one(datagram(&a))
        }
        14 if !cfg.read_property_multiple => Answer::one(reject(invoke_id, 9)),
        14 => {
            let mut a = vec![0x30, invoke_id, 14];
            let mut i = 0;
            while i < d.len() {
                let Some(oid) = context_u32(d, &mut i, 0) else {
                    return Answer::one(reject(invoke_id, 4)); // invalid-tag
                };
                if d.get(i) != Some(&0x1E) {
                    return Answer::one(reject(invoke_id, 4));
                }
                i += 1;
                if !is_me(cfg, oid >> 22, oid & WILDCARD) {
                    return Answer::one(error(invoke_id, 14, 1, 31));
                }
                object_id(&mut a, 0, true, oid >> 22, oid & WILDCARD);
                a.push(0x1E);
                while d.get(i) != Some(&0x1F) {
                    let Some(prop) = context_u32(d, &mut i, 0) else {
                        return Answer::one(reject(invoke_id, 4));
                    };
                    unsigned(&mut a, 2, true, prop);
                    match property_value(cfg, prop) {
                        Some(v) => {
                            a.push(0x4E);
                            a.extend_from_slice(&v);
                            a.push(0x4F);
                        }
                        None => {
                            a.push(0x5E);
                            unsigned(&mut a, 9, false, 2);
                            unsigned(&mut a, 9, false, 32);
                            a.push(0x5F);
                        }
                    }
                }
                i += 1;
                a.push(0x1F);
            }
            if a.len() + 6 > 1476 {
                // The answer does not fit one APDU and we do not segment (20.1.2.5).
                return Answer::one(datagram(&[0x71, invoke_id, 4]));
            }
            Answer::one(datagram(&a))
        }
        // Writes: write-access-denied (property class 2, code 40).
        15 | 16 => Answer::one(error(invoke_id, service, 2, 40)),
        // DeviceCommunicationControl, ReinitializeDevice: password-failure (services 5, 26),
        // as the router in bacnet_services.pcap answers (frame 266).
        17 | 20 => Answer::one(error(invoke_id, service, 5, 26)),
        _ => Answer::one(reject(invoke_id, 9)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plant::{BacnetConfig, BacnetIdentity};

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The JCI NAE of bacnet_test.pcap.
    fn nae() -> BacnetConfig {
        BacnetConfig {
            port: 47808,
            charset: 4,
            wildcard_unknown: false,
            read_property_multiple: true,
            i_am_unicast: true,
            identity: BacnetIdentity {
                instance: 500,
                object_name: "KBRNAE".into(),
                vendor_name: "JCI".into(),
                vendor_id: 5,
                model_name: "MS-NAE4510-2".into(),
                firmware_revision: "5.1.0.4400".into(),
                application_software_version: String::new(),
                description: Some(String::new()),
                location: Some(String::new()),
                max_apdu: 1476,
            },
        }
    }

    #[test]
    fn answers_the_captured_requests_with_the_captured_replies() {
        // bacnet_test.pcap: request frame -> reply frame (the NAE's NPDU control is 0x00).
        let pairs = [
            (
                "810a0011 0104 0005010c 0c023fffff 194b",
                "810a0017 0100 30010c 0c023fffff 194b 3e c4020001f4 3f",
            ),
            (
                "810a0011 0104 0005010c 0c023fffff 1978",
                "810a0014 0100 30010c 0c023fffff 1978 3e 2105 3f",
            ),
            (
                "810a0011 0104 0005010c 0c023fffff 1979",
                "810a001b 0100 30010c 0c023fffff 1979 3e 7507 04004a00430049 3f",
            ),
            (
                "810a0011 0104 0005010c 0c023fffff 192c",
                "810a0029 0100 30010c 0c023fffff 192c 3e 7515 040035002e0031002e0030002e0034003400300030 3f",
            ),
            (
                "810a0011 0104 0005010c 0c023fffff 190c",
                "810a0014 0100 30010c 0c023fffff 190c 3e 7104 3f",
            ),
            (
                "810a0011 0104 0005010c 0c023fffff 1946",
                "810a002d 0100 30010c 0c023fffff 1946 3e 7519 04004d0053002d004e004100450034003500310030002d0032 3f",
            ),
            ("81020004", "810000060020"),
            ("810500060010", "810000060030"),
        ];
        for (req, reply) in pairs {
            assert_eq!(handle(&nae(), &hex(req)).replies, vec![hex(reply)], "{req}");
        }
        assert!(classify(&hex(pairs[0].0)).identity);
        assert!(!classify(&hex("81020004")).identity);
    }

    #[test]
    fn quirks_wildcard_unknown_no_rpm_and_who_is() {
        let mut c = nae();
        c.wildcard_unknown = true;
        c.read_property_multiple = false;
        let rp = hex("810a0011 0104 0005010c 0c023fffff 194b");
        assert_eq!(
            handle(&c, &rp).replies,
            vec![hex("810a000d 0100 50010c 9101 911f")]
        );
        let rpm = hex("810a0013 0104 0005010e 0c023fffff 1e094b1f");
        assert_eq!(handle(&c, &rpm).replies, vec![hex("810a0009 0100 600109")]);
        // Who-Is unicast, no limits: the I-Am of device 500, vendor 5.
        let who = hex("810a0008 0100 1008");
        assert_eq!(
            handle(&c, &who).replies,
            vec![hex("810a0014 0100 1000 c4020001f4 2205c4 9103 2105")]
        );
        // Who-Is 1-10 does not name device 500.
        assert!(
            handle(&c, &hex("810a000c 0100 1008 0901 190a"))
                .replies
                .is_empty()
        );
        c.i_am_unicast = false;
        assert!(handle(&c, &who).replies.is_empty());
        // The real instance works.
        let rp500 = hex("810a0011 0104 0005010c 0c020001f4 194d");
        assert!(handle(&c, &rp500).replies[0].starts_with(&hex("810a0021 0100 30010c 0c020001f4")));
    }

    #[test]
    fn rpm_of_the_identity_properties_in_one_ack() {
        let rpm = hex(
            "810a0023 0104 0005010e 0c023fffff 1e 094b 094d 0979 0978 0946 092c 090c 091c 093a 1f",
        );
        let mut c = nae();
        c.charset = 0;
        c.identity.location = None;
        let r = &handle(&c, &rpm).replies[0];
        assert_eq!(&r[6..9], &[0x30, 0x01, 0x0e]);
        // location is missing: error property/unknown-property in its place.
        assert!(r.ends_with(&hex("293a 5e 9102 9120 5f 1f")));
        assert!(classify(&rpm).identity);
        // A write is refused and is not identity.
        let wp = hex("810a0018 0104 0005020f 0c00400065 1955 3e 4442480000 3f");
        assert_eq!(
            handle(&c, &wp).replies,
            vec![hex("810a000d 0100 50020f 9102 9128")]
        );
        assert!(!classify(&wp).identity);
    }
}
