//! PROFINET DCP frames in a capture: Identify responses paired with their request (by
//! Xid and the requester's MAC) and Hellos as identities; Set requests as configuration
//! changes (station name, IP, factory reset, signal), each flagged with the station that
//! sent it; Set responses as the result of the Set they answer.
//!
//! Functions over Ethernet frames with EtherType 0x8892 (VLAN tags removed): the capture
//! engine hands them over through the registry's layer-2 hook (`passive::packet`'s
//! `Body::Link` from the Ethernet, SLL and SLL2 link types; [`super::Dcp`]).

use std::collections::VecDeque;

use super::identity::{DcpIdentity, mac_str, to_identity};
use crate::inventory::OperationKind;
use crate::wire::dcp::{self, Kind, OPTION_CONTROL, Pdu, SetOperation};

/// Outstanding Identify and Set requests remembered for pairing.
pub const MAX_PENDING: usize = 64;

/// What one frame tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A device's identity: an Identify response that answers a seen request, or a Hello.
    Identity(DcpIdentity),
    /// A Set block: `actor` asked `target` to change something.
    Set {
        actor: String,
        target: String,
        /// `dcp.set_ip`, `dcp.set_name_of_station`, `dcp.factory_reset`, `dcp.signal`, ...
        function: &'static str,
        kind: OperationKind,
        /// What it asked for, in words (`ip 192.168.0.10 mask 255.255.255.0 gateway
        /// 192.168.0.1, permanent`).
        detail: String,
    },
    /// The answer to a seen Set: `ok` when every Response block says no error.
    SetResult { target: String, xid: u32, ok: bool },
    /// A device announced itself (DCP Hello, at start-up): flagged, as it means a device
    /// (re)started or joined the segment.
    Hello { device: String },
}

/// The operation kind of a Set block: names and addresses are configuration writes; a
/// factory reset and a signal act on the device (control).
pub fn set_kind(op: &SetOperation) -> OperationKind {
    match op {
        SetOperation::FactoryReset { .. } | SetOperation::Signal => OperationKind::Control,
        _ => OperationKind::Write,
    }
}

fn detail(op: &SetOperation) -> String {
    let perm = |p: bool| if p { ", permanent" } else { ", temporary" };
    match op {
        SetOperation::Ip {
            ip: Some(ip),
            permanent,
        } => format!(
            "ip {} mask {} gateway {}{}",
            ip.address,
            ip.mask,
            ip.gateway,
            perm(*permanent)
        ),
        SetOperation::Ip {
            ip: None,
            permanent,
        } => format!("ip (short block){}", perm(*permanent)),
        SetOperation::NameOfStation { name, permanent } => {
            format!("name of station {name:?}{}", perm(*permanent))
        }
        SetOperation::FactoryReset { qualifier } => {
            format!("factory reset, qualifier {qualifier:#06x}")
        }
        SetOperation::Signal => "signal (flash the device's LED)".into(),
        SetOperation::Transaction => "start or end of a set transaction".into(),
        SetOperation::Other { option, suboption } => format!("option {option}/{suboption}"),
    }
}

/// DCP on one capture.
#[derive(Debug, Default)]
pub struct Analyzer {
    identify: VecDeque<([u8; 6], u32)>,
    set: VecDeque<([u8; 6], [u8; 6], u32)>,
    /// Responses that answered no request seen (a capture that starts mid-exchange).
    pub unpaired: u64,
}

fn remember<T: PartialEq>(q: &mut VecDeque<T>, x: T) {
    if q.contains(&x) {
        return;
    }
    if q.len() == MAX_PENDING {
        q.pop_front();
    }
    q.push_back(x);
}

impl Analyzer {
    pub fn new() -> Self {
        Analyzer::default()
    }

    /// One frame: its source and destination MAC and the bytes after the EtherType.
    /// Bytes that are not DCP tell nothing.
    pub fn on_frame(&mut self, src: [u8; 6], dst: [u8; 6], payload: &[u8]) -> Vec<Event> {
        self.frame(src, Some(dst), payload)
    }

    /// One frame of a capture that records no destination MAC (Linux cooked): an
    /// Identify response pairs with a request of the same Xid from any station, and a
    /// Set, whose target is its destination, tells nothing.
    pub fn on_frame_without_destination(&mut self, src: [u8; 6], payload: &[u8]) -> Vec<Event> {
        self.frame(src, None, payload)
    }

    fn frame(&mut self, src: [u8; 6], dst: Option<[u8; 6]>, payload: &[u8]) -> Vec<Event> {
        let Ok(p) = Pdu::decode(payload) else {
            return Vec::new();
        };
        match p.kind() {
            Kind::IdentifyRequest => {
                remember(&mut self.identify, (src, p.xid));
                Vec::new()
            }
            Kind::IdentifyResponse => {
                // Several devices answer one multicast Identify: the request stays
                // remembered until pushed out.
                let paired = match dst {
                    Some(dst) => self.identify.contains(&(dst, p.xid)),
                    None => self.identify.iter().any(|(_, x)| *x == p.xid),
                };
                if !paired {
                    self.unpaired += 1;
                    return Vec::new();
                }
                p.identity()
                    .and_then(|id| to_identity(src, &id))
                    .map(Event::Identity)
                    .into_iter()
                    .collect()
            }
            Kind::Hello => {
                let mut out = vec![Event::Hello {
                    device: mac_str(src),
                }];
                out.extend(
                    p.identity()
                        .and_then(|id| to_identity(src, &id))
                        .map(Event::Identity),
                );
                out
            }
            Kind::SetRequest => {
                let Some(dst) = dst else {
                    return Vec::new();
                };
                remember(&mut self.set, (src, dst, p.xid));
                p.set_operations()
                    .iter()
                    .filter(|op| !matches!(op, SetOperation::Transaction))
                    .map(|op| Event::Set {
                        actor: mac_str(src),
                        target: mac_str(dst),
                        function: op.name(),
                        kind: set_kind(op),
                        detail: detail(op),
                    })
                    .collect()
            }
            Kind::SetResponse => {
                let Some(i) = self
                    .set
                    .iter()
                    .position(|k| (k.1, k.2) == (src, p.xid) && dst.is_none_or(|d| k.0 == d))
                else {
                    self.unpaired += 1;
                    return Vec::new();
                };
                self.set.remove(i);
                // Response blocks (5/4): option, suboption, BlockError (0: no error).
                let ok = p
                    .blocks
                    .iter()
                    .filter(|b| b.option == OPTION_CONTROL && b.suboption == 4)
                    .all(|b| b.data.get(2) == Some(&0));
                vec![Event::SetResult {
                    target: mac_str(src),
                    xid: p.xid,
                    ok,
                }]
            }
            _ => Vec::new(),
        }
    }
}

/// True when an EtherType and the first payload bytes are DCP's.
pub fn is_dcp(ethertype: u16, payload: &[u8]) -> bool {
    ethertype == dcp::ETHERTYPE
        && payload.len() >= 2
        && dcp::is_dcp_frame_id(u16::from_be_bytes([payload[0], payload[1]]))
}

#[cfg(test)]
mod tests {
    //! The four DCP frames of `ChangeIPUsingDCP.pcap` (captures/INDEX.md), bytes after
    //! the EtherType.
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const SWITCH: [u8; 6] = [0x08, 0x00, 0x06, 0x93, 0xcf, 0x32];
    const PC: [u8; 6] = [0x00, 0x0c, 0x29, 0xba, 0x09, 0xea];
    const F1: &str = "fefe 05 00 01000001 0001 0004 ffff0000";
    const F2: &str = "feff 05 01 01000001 0000 005e \
        0205 001c 0000 0101 0102 0201 0202 0203 0204 0205 033d 0501 0502 0503 0504 ffff \
        0201 0005 0000 494e43 00 \
        0202 000b 0000 58323038 2d424f5244 00 \
        0203 0006 0000 002a 0a01 \
        0204 0004 0000 0100 \
        0102 000e 0001 c0a80006 ffffff00 c0a80001";
    const F3: &str = "fefd 04 00 01000001 0000 0012 0102 000e 0001 c0a8000a ffffff00 c0a80001";
    const F4: &str = "fefd 04 01 01000001 0000 0008 0504 0003 010200 00";

    #[test]
    fn the_capture_gives_the_identity_and_flags_the_set() {
        let mut a = Analyzer::new();
        assert!(a.on_frame(PC, SWITCH, &hex(F1)).is_empty());
        let ev = a.on_frame(SWITCH, PC, &hex(F2));
        let [Event::Identity(id)] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert_eq!(id.name_of_station.as_deref(), Some("X208-BORD"));
        assert_eq!(id.mac, "08:00:06:93:cf:32");
        let ev = a.on_frame(PC, SWITCH, &hex(F3));
        assert_eq!(
            ev,
            [Event::Set {
                actor: "00:0c:29:ba:09:ea".into(),
                target: "08:00:06:93:cf:32".into(),
                function: "dcp.set_ip",
                kind: OperationKind::Write,
                detail: "ip 192.168.0.10 mask 255.255.255.0 gateway 192.168.0.1, permanent".into(),
            }]
        );
        assert_eq!(
            a.on_frame(SWITCH, PC, &hex(F4)),
            [Event::SetResult {
                target: "08:00:06:93:cf:32".into(),
                xid: 0x0100_0001,
                ok: true
            }]
        );
        assert_eq!(a.unpaired, 0);
    }

    #[test]
    fn an_unrequested_identify_response_is_no_identity() {
        let mut a = Analyzer::new();
        assert!(a.on_frame(SWITCH, PC, &hex(F2)).is_empty());
        // A request from another station with the same Xid does not pair either.
        a.on_frame([2, 0, 0, 0, 0, 1], SWITCH, &hex(F1));
        assert!(a.on_frame(SWITCH, PC, &hex(F2)).is_empty());
        assert_eq!(a.unpaired, 2);
    }

    #[test]
    fn factory_reset_signal_and_hello_are_flagged() {
        let mut a = Analyzer::new();
        let set = "fefd 04 00 00000007 0000 0018 0506 0002 0002 0503 0004 0000 0100 0202 0005 0000 706c63 00";
        let ev = a.on_frame(PC, SWITCH, &hex(set));
        let names: Vec<_> = ev
            .iter()
            .map(|e| match e {
                Event::Set { function, kind, .. } => (*function, *kind),
                _ => panic!("{e:?}"),
            })
            .collect();
        assert_eq!(
            names,
            [
                ("dcp.factory_reset", OperationKind::Control),
                ("dcp.signal", OperationKind::Control),
                ("dcp.set_name_of_station", OperationKind::Write)
            ]
        );
        let hello = "fefc 06 00 00000009 0000 000c 0202 0007 0000 706c632d31 00";
        let ev = a.on_frame(SWITCH, [1, 0x0e, 0xcf, 0, 0, 1], &hex(hello));
        assert_eq!(
            ev[0],
            Event::Hello {
                device: "08:00:06:93:cf:32".into()
            }
        );
        assert!(
            matches!(&ev[1], Event::Identity(id) if id.name_of_station.as_deref() == Some("plc-1"))
        );
        assert!(
            is_dcp(0x8892, &hex(F1)) && !is_dcp(0x8892, &hex("8000")) && !is_dcp(0x0800, &hex(F1))
        );
    }
}
