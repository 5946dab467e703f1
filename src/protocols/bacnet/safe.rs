//! The only BACnet/IP requests otscout may send, their encoder, and the guard's re-parse
//! rule that accepts exactly those bytes.
//!
//! # OT safety
//! Every request is a BVLC Original-Unicast-NPDU (J.2.11) to the device's own address, with
//! an unrouted NPDU (no DNET, no SNET, not a network-layer message), and one of:
//! - ReadPropertyMultiple (15.7) of the Device object's nine identity properties;
//! - ReadProperty (15.5) of one of those properties;
//! - Who-Is (16.10.1) without instance limits, sent unicast (used only when a device
//!   answers the wildcard instance with unknown-object, to learn its instance).
//!
//! Confirmed requests accept no segmented response and name max APDU 1476 with max
//! segments unspecified (20.1.2.4-5). No broadcast or multicast, no BVLC distribution
//! function (Read-BDT, Register-Foreign-Device, Distribute-Broadcast-To-Network, ...), no
//! write, no control: [`check`] parses the bytes with the passive decoder, rebuilds the one
//! allowed request they can be, and accepts them only if that request encodes to exactly
//! the same bytes. SAFETY.md lists the bytes.

use crate::wire::bacnet::{
    Apdu, BvlcFunction, Bvll, ConfirmedRequest, ConfirmedService, Npdu, OBJECT_DEVICE, ObjectId,
    ReadPropertyRequest, RpmRequest, UnconfirmedService, WILDCARD_INSTANCE, frame_len, property,
    unicast_datagram,
};

/// Max APDU code of every confirmed request: 5 = 1476 bytes (20.1.2.5), what a B/IP frame holds.
pub const MAX_APDU_CODE: u8 = 5;

/// A request otscout may send to a BACnet/IP device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Safe {
    /// ReadPropertyMultiple of [`property::IDENTITY`] on Device `instance` (the wildcard
    /// [`WILDCARD_INSTANCE`] until the device's own instance is known).
    ReadIdentity { invoke_id: u8, instance: u32 },
    /// ReadProperty of one identity property on Device `instance`.
    ReadProperty {
        invoke_id: u8,
        instance: u32,
        property: u32,
    },
    /// Who-Is without limits, unicast to the device.
    WhoIs,
}

impl Safe {
    /// A stable name for the request kind (ledgers, dry runs, provenance).
    pub fn kind(&self) -> &'static str {
        match self {
            Safe::ReadIdentity { .. } => "bacnet.read_property_multiple",
            Safe::ReadProperty { .. } => "bacnet.read_property",
            Safe::WhoIs => "bacnet.who_is",
        }
    }

    /// The fields a reviewer needs beside the kind (dry runs, ledgers).
    pub fn detail(&self) -> String {
        let device = |i: u32| {
            if i == WILDCARD_INSTANCE {
                "device 4194303 (wildcard)".to_string()
            } else {
                format!("device {i}")
            }
        };
        match self {
            Safe::ReadIdentity { instance, .. } => format!(
                "{}, {} identity properties, no segmentation",
                device(*instance),
                property::IDENTITY.len()
            ),
            Safe::ReadProperty {
                instance, property, ..
            } => format!(
                "{}, {} ({property})",
                device(*instance),
                property::name(*property)
            ),
            Safe::WhoIs => "no instance limits, unicast to the device".into(),
        }
    }

    /// The invoke id a reply must carry (none for Who-Is: I-Am is unconfirmed).
    pub fn invoke_id(&self) -> Option<u8> {
        match self {
            Safe::ReadIdentity { invoke_id, .. } | Safe::ReadProperty { invoke_id, .. } => {
                Some(*invoke_id)
            }
            Safe::WhoIs => None,
        }
    }

    fn apdu(&self) -> Apdu {
        let confirmed = |invoke_id, service, data| {
            Apdu::ConfirmedRequest(ConfirmedRequest {
                segmented: false,
                more_follows: false,
                segmented_response_accepted: false,
                max_segments: 0,
                max_apdu: MAX_APDU_CODE,
                invoke_id,
                segment: None,
                service,
                data,
            })
        };
        match *self {
            Safe::ReadIdentity {
                invoke_id,
                instance,
            } => {
                let mut data = Vec::new();
                RpmRequest {
                    specs: vec![(
                        ObjectId::device(instance),
                        property::IDENTITY.iter().map(|p| (*p, None)).collect(),
                    )],
                }
                .encode(&mut data);
                confirmed(invoke_id, ConfirmedService::READ_PROPERTY_MULTIPLE, data)
            }
            Safe::ReadProperty {
                invoke_id,
                instance,
                property,
            } => {
                let mut data = Vec::new();
                ReadPropertyRequest {
                    object: ObjectId::device(instance),
                    property,
                    array_index: None,
                }
                .encode(&mut data);
                confirmed(invoke_id, ConfirmedService::READ_PROPERTY, data)
            }
            Safe::WhoIs => Apdu::Unconfirmed {
                service: UnconfirmedService::WHO_IS,
                data: Vec::new(),
            },
        }
    }

    /// Appends the request's datagram. Callers that send go through [`emit`].
    pub fn encode(&self, out: &mut Vec<u8>) {
        unicast_datagram(&self.apdu(), out);
    }

    /// How many bytes [`Safe::encode`] appends.
    pub fn encoded_len(&self) -> usize {
        let mut v = Vec::new();
        self.encode(&mut v);
        v.len()
    }
}

/// Why the guard refused a BACnet frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SafeError {
    #[error("guard refused a bacnet frame: malformed: {0}")]
    Malformed(String),
    #[error("guard refused a bacnet frame: not an allowlisted read-only request: {0}")]
    NotAllowed(String),
}

fn malformed(s: impl Into<String>) -> SafeError {
    SafeError::Malformed(s.into())
}

fn not_allowed(s: impl Into<String>) -> SafeError {
    SafeError::NotAllowed(s.into())
}

/// Re-parses `frame` and returns the one allowed request it is, or refuses it.
///
/// # OT safety
/// The last check before bytes reach a socket; it trusts nothing about how they were made.
pub fn check(frame: &[u8]) -> Result<Safe, SafeError> {
    match frame_len(frame) {
        Ok(Some(n)) if n == frame.len() => {}
        Ok(Some(n)) => {
            return Err(malformed(format!(
                "{} bytes after the {n}-byte frame",
                frame.len() - n
            )));
        }
        Ok(None) => return Err(malformed(format!("partial frame of {} bytes", frame.len()))),
        Err(e) => return Err(malformed(e.to_string())),
    }
    let bvll = Bvll::decode_exact(frame).map_err(|e| malformed(e.to_string()))?;
    if bvll.function != BvlcFunction::OriginalUnicast {
        // Broadcasts and every distribution function (BDT/FDT reads and writes,
        // foreign-device registration, distribute-broadcast) are refused.
        return Err(not_allowed(format!(
            "bvlc function {:#04x} ({}); only original-unicast-npdu is sent",
            bvll.function.code(),
            bvll.function.name()
        )));
    }
    let npdu = Npdu::decode(&bvll.payload).map_err(|e| malformed(e.to_string()))?;
    if npdu.destination.is_some() || npdu.source.is_some() || npdu.network_message.is_some() {
        return Err(not_allowed(format!(
            "npdu control {:#04x}: routed or network-layer message",
            npdu.control
        )));
    }
    let apdu = Apdu::decode(&npdu.apdu).map_err(|e| malformed(e.to_string()))?;
    let candidate = match &apdu {
        Apdu::ConfirmedRequest(r) if r.service == ConfirmedService::READ_PROPERTY_MULTIPLE => {
            let rpm = RpmRequest::decode(&r.data).map_err(|e| malformed(e.to_string()))?;
            let [(object, _)] = rpm.specs.as_slice() else {
                return Err(not_allowed(format!(
                    "read property multiple of {} objects (only the device object)",
                    rpm.specs.len()
                )));
            };
            device(*object)?;
            Safe::ReadIdentity {
                invoke_id: r.invoke_id,
                instance: object.instance,
            }
        }
        Apdu::ConfirmedRequest(r) if r.service == ConfirmedService::READ_PROPERTY => {
            let rp = ReadPropertyRequest::decode(&r.data).map_err(|e| malformed(e.to_string()))?;
            device(rp.object)?;
            if !property::IDENTITY.contains(&rp.property) {
                return Err(not_allowed(format!(
                    "read property {} ({}), not an identity property",
                    rp.property,
                    property::name(rp.property)
                )));
            }
            Safe::ReadProperty {
                invoke_id: r.invoke_id,
                instance: rp.object.instance,
                property: rp.property,
            }
        }
        Apdu::Unconfirmed { service, .. } if *service == UnconfirmedService::WHO_IS => Safe::WhoIs,
        Apdu::ConfirmedRequest(r) => {
            return Err(not_allowed(format!(
                "confirmed service {} ({})",
                r.service.0,
                r.service.classify().0
            )));
        }
        Apdu::Unconfirmed { service, .. } => {
            return Err(not_allowed(format!(
                "unconfirmed service {} ({})",
                service.0,
                service.classify().0
            )));
        }
        other => {
            return Err(not_allowed(format!(
                "pdu type {:#04x} (invoke id {:?}), not a request",
                npdu.apdu.first().copied().unwrap_or(0) >> 4,
                other.invoke_id()
            )));
        }
    };
    // Exactly the bytes otscout's encoder makes for that request: every flag (no
    // segmentation accepted, max APDU, expecting-reply, no array index, the property list
    // in order, Who-Is without limits) is held by this comparison.
    let mut again = Vec::new();
    candidate.encode(&mut again);
    if again != frame {
        return Err(not_allowed(format!(
            "a {} whose bytes differ from the allowed encoding",
            candidate.kind()
        )));
    }
    Ok(candidate)
}

fn device(o: ObjectId) -> Result<(), SafeError> {
    if o.object_type != OBJECT_DEVICE {
        return Err(not_allowed(format!(
            "object type {} instance {}, not the device object",
            o.object_type, o.instance
        )));
    }
    Ok(())
}

/// The guard rule as [`crate::safety::check`] calls it: the kind of the one allowed request
/// `frame` is, or why it is refused.
pub fn guard(frame: &[u8]) -> Result<&'static str, crate::protocols::Refusal> {
    check(frame).map(|r| r.kind()).map_err(|e| match e {
        SafeError::Malformed(s) => crate::protocols::Refusal::Malformed(s),
        SafeError::NotAllowed(s) => crate::protocols::Refusal::NotAllowed(s),
    })
}

/// Encodes `r` and passes the bytes through [`check`]: the only way the BACnet session's
/// requests become bytes.
pub fn emit(r: &Safe) -> Result<Vec<u8>, SafeError> {
    let mut frame = Vec::with_capacity(48);
    r.encode(&mut frame);
    let parsed = check(&frame)?;
    if parsed != *r {
        return Err(not_allowed(format!(
            "encoded {} but it parses as {}",
            r.kind(),
            parsed.kind()
        )));
    }
    Ok(frame)
}

/// The wildcard instance, for callers that build the first request.
pub const WILDCARD: u32 = WILDCARD_INSTANCE;

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn all() -> Vec<Safe> {
        let mut v = vec![
            Safe::WhoIs,
            Safe::ReadIdentity {
                invoke_id: 0,
                instance: WILDCARD,
            },
            Safe::ReadIdentity {
                invoke_id: 200,
                instance: 1234,
            },
        ];
        for p in property::IDENTITY {
            v.push(Safe::ReadProperty {
                invoke_id: 7,
                instance: WILDCARD,
                property: p,
            });
        }
        v
    }

    #[test]
    fn emits_the_documented_bytes() {
        // The same bytes as the scanner's request in bacnet_test.pcap frame 3.
        assert_eq!(
            emit(&Safe::ReadProperty {
                invoke_id: 1,
                instance: WILDCARD,
                property: property::OBJECT_IDENTIFIER
            })
            .unwrap(),
            hex("810a0011 0104 0005010c 0c023fffff 194b")
        );
        assert_eq!(
            emit(&Safe::ReadIdentity {
                invoke_id: 1,
                instance: WILDCARD
            })
            .unwrap(),
            hex(
                "810a0023 0104 0005010e 0c023fffff 1e 094b 094d 0979 0978 0946 092c 090c 091c 093a 1f"
            )
        );
        assert_eq!(emit(&Safe::WhoIs).unwrap(), hex("810a0008 0100 1008"));
        assert_eq!(
            Safe::ReadProperty {
                invoke_id: 3,
                instance: 599,
                property: 77
            }
            .detail(),
            "device 599, object-name (77)"
        );
        for r in all() {
            assert_eq!(check(&emit(&r).unwrap()), Ok(r));
        }
    }

    #[test]
    fn a_mutated_byte_anywhere_is_refused_or_reparses_to_exactly_itself() {
        for r in all() {
            let good = emit(&r).unwrap();
            for at in 0..good.len() {
                for x in [
                    0x00u8, 0x01, 0x02, 0x04, 0x08, 0x0b, 0x0f, 0x10, 0x3f, 0x80, 0xff,
                ] {
                    let mut m = good.clone();
                    if m[at] == x {
                        continue;
                    }
                    m[at] = x;
                    if let Ok(parsed) = check(&m) {
                        let mut again = Vec::new();
                        parsed.encode(&mut again);
                        assert_eq!(again, m, "{r:?} byte {at} = {x:#04x}");
                    }
                }
                // Truncated and extended.
                assert!(check(&good[..at]).is_err());
            }
            let mut longer = good.clone();
            longer.push(0);
            assert!(check(&longer).is_err());
        }
    }

    #[test]
    fn refuses_broadcasts_distribution_functions_writes_and_routing() {
        let refused = [
            // bacnet_services.pcap frame 289: Who-Is broadcast (Original-Broadcast-NPDU).
            "810b000c 0120ffff00ff 1008",
            // Who-Is with limits 108-108 unicast (frame 283's APDU): only the bare Who-Is.
            "810a0010 0120ffff00ff 1008096c196c",
            "810a000c 0100 1008096c196c",
            // bacnet_test.pcap frames 21 and 25: Read-BDT, Register-Foreign-Device.
            "81020004",
            "810500060010",
            // Distribute-Broadcast-To-Network carrying a Who-Is.
            "81090008 0100 1008",
            // bacnet_services.pcap frame 3: WriteProperty (routed).
            "810a001f 0124 0003016c ff 0203020f 0c00400065 1955 3e 4442480000 3f 490a",
            // The same WriteProperty unrouted.
            "810a0018 0104 0005020f 0c00400065 1955 3e 4442480000 3f",
            // Frames 265 and 398: DeviceCommunicationControl, ReinitializeDevice.
            "810a0013 0124 0003016c ff 02038411 19012900",
            "810a001c 0124 0003016c ff 02038914 0900 1d0900657468657265616c",
            // frame 623: ReadProperty routed to DNET 3 DADR 29.
            "810a0016 0124 0003011d ff 02038f0c 0c0200001d 194b",
            // ReadProperty of present-value (85) of analog-input 1; of the device's object-list (76).
            "810a0011 0104 0005010c 0c00000001 1955",
            "810a0011 0104 0005010c 0c023fffff 194c",
            // ReadProperty accepting segmented responses (SA bit).
            "810a0011 0104 0205010c 0c023fffff 194b",
            // ReadProperty with an array index.
            "810a0013 0104 0005010c 0c023fffff 194b 2900",
            // A reply-type PDU (Reject).
            "810a0009 0100 600109",
            // Forwarded-NPDU.
            "8104000e 7f000001bac0 0100 1008",
        ];
        for h in refused {
            assert!(check(&hex(h)).is_err(), "{h}");
        }
        assert!(matches!(
            check(&hex("81020004")),
            Err(SafeError::NotAllowed(s)) if s.contains("read_broadcast_distribution_table")
        ));
    }
}
