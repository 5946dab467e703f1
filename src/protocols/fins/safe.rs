//! The only FINS frames otscout may send, their encoder, and the guard's re-parse rule.
//!
//! # OT safety
//! Two frames, nothing else (SAFETY.md, "Omron FINS"):
//! - the FINS/TCP node-address request with client node 0 (the server assigns one);
//! - Controller Data Read (command 05 01, one parameter byte `00`), over UDP bare or over
//!   FINS/TCP, with ICF 0x80, GCT 2, and destination network, destination unit, source
//!   network and source unit all 0: the frame is for the CPU of the node the packet is
//!   addressed to, on its own network, and no FINS gateway relays it. Over UDP the
//!   destination node is 0 (the unit that receives the datagram); over TCP it is the
//!   server node the handshake gave, and the source node is the one it gave the client.
//!
//! Controller Data Read reads the model, version and memory sizes a CPU keeps about
//! itself; it changes nothing and needs no access right. Writes, run/stop, program and
//! file commands are all refused by [`check`], which re-parses the bytes with
//! [`crate::wire::fins`] and accepts exactly the two frames above.

use crate::wire::fins::{
    self, CONTROLLER_DATA_READ, Frame, Header, ICF_GATEWAY, TcpBody, TcpFrame,
};

/// How the frame travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A bare FINS frame in one UDP datagram.
    Udp,
    /// Inside a FINS/TCP envelope, after the node-address handshake.
    Tcp,
}

/// A FINS request otscout may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Safe {
    /// FINS/TCP node-address data send, client node 0 (W421 7-2-2).
    NodeAddressRequest,
    /// Controller Data Read (05 01) with parameter `00`.
    ControllerDataRead {
        transport: Transport,
        /// DA1: 0 over UDP; the server node from the handshake over TCP.
        dest_node: u8,
        /// SA1: a node number 1-254 (over TCP the one the handshake gave).
        source_node: u8,
        /// SID, echoed by the answer.
        sid: u8,
    },
}

/// Why the guard refused bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    #[error("fins request refused: malformed: {0}")]
    Malformed(String),
    #[error("fins request refused: {0} is not allowed")]
    NotAllowed(String),
}

impl Safe {
    /// The request kind, as findings and the audit name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Safe::NodeAddressRequest => "fins.node_address",
            Safe::ControllerDataRead { .. } => "fins.controller_data_read",
        }
    }

    /// The fields a reviewer needs beside the kind (dry runs): transport and nodes.
    pub fn detail(&self) -> String {
        match self {
            Safe::NodeAddressRequest => "fins/tcp, client node 0 (assigned by the unit)".into(),
            Safe::ControllerDataRead {
                transport,
                dest_node,
                source_node,
                sid,
            } => format!(
                "{}, node {dest_node} from node {source_node}, sid {sid:#04x}",
                match transport {
                    Transport::Udp => "udp",
                    Transport::Tcp => "fins/tcp",
                }
            ),
        }
    }

    /// The FINS header of a Controller Data Read.
    pub fn header(dest_node: u8, source_node: u8, sid: u8) -> Header {
        Header {
            icf: ICF_GATEWAY,
            rsv: 0,
            gct: 2,
            dna: 0,
            da1: dest_node,
            da2: 0,
            sna: 0,
            sa1: source_node,
            sa2: 0,
            sid,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Safe::NodeAddressRequest => TcpFrame {
                error_code: 0,
                body: TcpBody::NodeAddressRequest { client_node: 0 },
            }
            .encode(out),
            Safe::ControllerDataRead {
                transport,
                dest_node,
                source_node,
                sid,
            } => {
                let f = Frame::controller_data_read(Self::header(dest_node, source_node, sid));
                match transport {
                    Transport::Udp => f.encode(out),
                    Transport::Tcp => TcpFrame {
                        error_code: 0,
                        body: TcpBody::Frame(f),
                    }
                    .encode(out),
                }
            }
        }
    }

    /// The encoded bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// [`check`] as the guard's dispatch calls it (`crate::safety::check`): the request kind,
/// or the refusal.
pub fn rule(bytes: &[u8]) -> Result<&'static str, crate::protocols::Refusal> {
    check(bytes).map(|s| s.kind()).map_err(|r| match r {
        Refused::Malformed(m) => crate::protocols::Refusal::Malformed(m),
        Refused::NotAllowed(w) => crate::protocols::Refusal::NotAllowed(w),
    })
}

/// The guard's rule: `bytes` must be exactly one allowed request.
pub fn check(bytes: &[u8]) -> Result<Safe, Refused> {
    let malformed = |e: crate::wire::DecodeError| Refused::Malformed(e.to_string());
    if bytes.starts_with(&fins::TCP_MAGIC) {
        let f = TcpFrame::decode_exact(bytes).map_err(malformed)?;
        if f.error_code != 0 {
            return Err(Refused::NotAllowed(format!(
                "fins/tcp frame with error code {:#010x}",
                f.error_code
            )));
        }
        return match f.body {
            TcpBody::NodeAddressRequest { client_node: 0 } => Ok(Safe::NodeAddressRequest),
            TcpBody::NodeAddressRequest { client_node } => Err(Refused::NotAllowed(format!(
                "node-address request for client node {client_node}"
            ))),
            TcpBody::Frame(frame) => check_frame(&frame, Transport::Tcp),
            other => Err(Refused::NotAllowed(format!(
                "fins/tcp command {}",
                TcpFrame {
                    error_code: 0,
                    body: other
                }
                .command()
            ))),
        };
    }
    let frame = Frame::decode_exact(bytes).map_err(malformed)?;
    check_frame(&frame, Transport::Udp)
}

fn check_frame(f: &Frame, transport: Transport) -> Result<Safe, Refused> {
    if f.command != CONTROLLER_DATA_READ {
        return Err(Refused::NotAllowed(format!(
            "command {:#06x} ({})",
            f.command,
            fins::command_name(f.command).0
        )));
    }
    if f.text != [0x00] {
        return Err(Refused::NotAllowed(format!(
            "controller data read with parameter {:02x?}",
            f.text
        )));
    }
    let h = f.header;
    let want = Safe::header(h.da1, h.sa1, h.sid);
    if h != want {
        return Err(Refused::NotAllowed(format!(
            "controller data read with header {:02x?} (icf 0x80, gct 2, networks and units 0 only)",
            [
                h.icf, h.rsv, h.gct, h.dna, h.da1, h.da2, h.sna, h.sa1, h.sa2, h.sid
            ]
        )));
    }
    // Node numbers are 1-254; 255 is the broadcast node (W342 3-2), 0 the unit itself.
    let dest_ok = match transport {
        Transport::Udp => h.da1 == 0,
        Transport::Tcp => (1..=254).contains(&h.da1),
    };
    if !dest_ok {
        return Err(Refused::NotAllowed(format!(
            "controller data read to node {} over {transport:?} (udp: 0 only; tcp: the server node 1-254)",
            h.da1
        )));
    }
    if !(1..=254).contains(&h.sa1) {
        return Err(Refused::NotAllowed(format!(
            "controller data read from node {} (1-254 only)",
            h.sa1
        )));
    }
    Ok(Safe::ControllerDataRead {
        transport,
        dest_node: h.da1,
        source_node: h.sa1,
        sid: h.sid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Safe> {
        vec![
            Safe::NodeAddressRequest,
            Safe::ControllerDataRead {
                transport: Transport::Udp,
                dest_node: 0,
                source_node: 0x63,
                sid: 0xef,
            },
            Safe::ControllerDataRead {
                transport: Transport::Tcp,
                dest_node: 0xc8,
                source_node: 0xfb,
                sid: 1,
            },
        ]
    }

    #[test]
    fn every_safe_request_passes_its_own_guard() {
        for r in all() {
            assert_eq!(check(&r.to_bytes()), Ok(r), "{r:?}");
        }
    }

    #[test]
    fn the_udp_request_is_the_captured_one() {
        // omron_test.pcap frame 17 (nmap's omron-info): the same bytes.
        let r = Safe::ControllerDataRead {
            transport: Transport::Udp,
            dest_node: 0,
            source_node: 0x63,
            sid: 0xef,
        };
        assert_eq!(
            r.to_bytes(),
            [0x80, 0, 2, 0, 0, 0, 0, 0x63, 0, 0xef, 0x05, 0x01, 0x00]
        );
    }

    #[test]
    fn the_guard_dispatch_knows_fins_and_fox() {
        use crate::inventory::Protocol;
        use crate::safety::{GuardError, SafeRequest, check as guard, emit};
        for r in all() {
            let bytes = emit(&SafeRequest::Fins(r)).expect("allowed");
            assert_eq!(bytes, r.to_bytes());
            assert_eq!(guard(Protocol::Fins, &bytes), Ok(r.kind()));
            // The same bytes are not a Fox request.
            assert!(guard(Protocol::Fox, &bytes).is_err());
        }
        let hello = crate::protocols::fox::safe::Safe::MinimalHello;
        assert_eq!(
            emit(&SafeRequest::Fox(hello)).expect("allowed"),
            crate::protocols::fox::safe::MINIMAL_HELLO
        );
        let write = [
            0x80, 0, 2, 0, 0, 0, 0, 1, 0, 1, 0x01, 0x02, 0x82, 0, 0x64, 0, 0, 1, 0x12, 0x34,
        ];
        assert!(matches!(
            guard(Protocol::Fins, &write),
            Err(GuardError::NotAllowed {
                protocol: Protocol::Fins,
                ..
            })
        ));
        // DCP has no allowlist: otscout never sends it.
        assert!(matches!(
            guard(Protocol::ProfinetDcp, &[0xfe, 0xfe]),
            Err(GuardError::UnknownProtocol { .. })
        ));
    }

    #[test]
    fn safety_md_shows_the_bytes_the_encoder_makes() {
        let doc = include_str!("../../../SAFETY.md");
        let spaced = |b: &[u8]| {
            b.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let udp = Safe::ControllerDataRead {
            transport: Transport::Udp,
            dest_node: 0,
            source_node: 0x63,
            sid: 0xef,
        };
        assert!(doc.contains(&spaced(&udp.to_bytes())));
        assert!(doc.contains("46494e53 0000000c 00000000 00000000 00000000"));
        let tcp = Safe::ControllerDataRead {
            transport: Transport::Tcp,
            dest_node: 0xc8,
            source_node: 0xfb,
            sid: 5,
        }
        .to_bytes();
        assert!(doc.contains("`46494e53 00000015 00000002 00000000`"));
        assert_eq!(tcp.len(), 29);
    }

    #[test]
    fn a_mutated_byte_anywhere_is_refused_or_reparses_to_the_same_request() {
        for r in all() {
            let bytes = r.to_bytes();
            for i in 0..bytes.len() {
                for x in [0x00, 0x01, 0x02, 0x40, 0x7f, 0x80, 0xfe, 0xff] {
                    let mut m = bytes.clone();
                    if m[i] == x {
                        continue;
                    }
                    m[i] = x;
                    match check(&m) {
                        Err(_) => {}
                        // A changed node number or SID is another allowed request, and it
                        // must say so exactly: it encodes back to the mutated bytes.
                        Ok(s) => assert_eq!(s.to_bytes(), m, "{r:?} byte {i} = {x:#x}"),
                    }
                }
            }
            // And truncated or extended.
            for n in 0..bytes.len() {
                assert!(check(&bytes[..n]).is_err());
            }
            let mut long = bytes.clone();
            long.push(0);
            assert!(check(&long).is_err());
        }
    }

    #[test]
    fn writes_control_and_relayed_frames_are_refused() {
        let h = Safe::header(0, 1, 1);
        let frame = |header: Header, command: u16, text: &[u8]| {
            let mut out = Vec::new();
            Frame {
                header,
                command,
                text: text.to_vec(),
            }
            .encode(&mut out);
            out
        };
        for (cmd, text) in [
            (0x0102, &[0x82, 0, 0, 0, 0, 1, 0, 0][..]), // memory area write
            (0x0401, &[0xff, 0xff, 0x02][..]),          // run
            (0x0402, &[0xff, 0xff][..]),                // stop
            (0x0702, &[0x26, 1, 1, 0, 0, 0][..]),       // clock write
            (0x0501, &[0x01][..]),                      // another parameter
            (0x0501, &[][..]),                          // no parameter
        ] {
            assert!(
                matches!(check(&frame(h, cmd, text)), Err(Refused::NotAllowed(_))),
                "{cmd:#06x}"
            );
        }
        // To another network, another unit, a broadcast node, or from node 0.
        for bad in [
            Header { dna: 1, ..h },
            Header { da2: 0x10, ..h },
            Header { da1: 5, ..h },
            Header { sa1: 0, ..h },
            Header { sa1: 255, ..h },
            Header { icf: 0xc0, ..h },
        ] {
            assert!(check(&frame(bad, 0x0501, &[0])).is_err(), "{bad:?}");
        }
        let err = check(&frame(h, 0x0102, &[])).unwrap_err().to_string();
        assert_eq!(
            err,
            "fins request refused: command 0x0102 (fins.memory_area_write) is not allowed"
        );
    }
}
