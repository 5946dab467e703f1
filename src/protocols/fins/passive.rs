//! What FINS traffic says, as the passive side reads it: Controller Data Read answers
//! paired with their requests as identities, and the commands that change a controller
//! (memory area write/fill/transfer, run, stop, program area write, clock write, file
//! write and the rest of [`crate::wire::fins::command_name`]'s non-read commands) as
//! operations named `fins.<operation>`.
//!
//! Functions over whole frames: a UDP datagram is one FINS frame; a TCP stream is framed
//! with [`crate::wire::fins::frame_len`] before it comes here. The passive engine's hook
//! (a port-9600 analyzer in the registry) is phase 2 of issue 17.

use std::collections::VecDeque;

use super::identity::{FinsIdentity, to_identity};
use crate::inventory::OperationKind;
use crate::wire::fins::{self, Access, Frame, TcpBody, TcpFrame};

/// Requests remembered for pairing per flow; a client keeps one or a few outstanding, so
/// older ones are dropped first.
pub const MAX_PENDING: usize = 32;

/// The operation kind of a command, when it is a security-relevant one.
pub fn operation_kind(access: Access) -> Option<OperationKind> {
    match access {
        Access::Write => Some(OperationKind::Write),
        Access::Control => Some(OperationKind::Control),
        Access::Program => Some(OperationKind::Program),
        Access::Read | Access::Unknown => None,
    }
}

/// What one frame tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A client's request that changes the controller (the frame's sender is the actor,
    /// its receiver the target).
    Operation {
        function: &'static str,
        kind: OperationKind,
    },
    /// A Controller Data Read answer paired with its request: the sender's identity.
    Identity(FinsIdentity),
    /// A paired answer with an error end code (the device said no).
    EndCode {
        function: &'static str,
        end_code: u16,
    },
}

/// Pairs requests and answers of one flow (one client and one server).
#[derive(Debug, Default)]
pub struct Analyzer {
    pending: VecDeque<(u8, u16)>,
    /// Answers that matched no request (a capture that starts mid-exchange).
    pub unpaired: u64,
}

impl Analyzer {
    pub fn new() -> Self {
        Analyzer::default()
    }

    /// One FINS frame (a UDP payload, or the frame inside a FINS/TCP envelope).
    pub fn on_frame(&mut self, frame: &Frame) -> Option<Event> {
        let (function, access) = fins::command_name(frame.command);
        if !frame.header.is_response() {
            if self.pending.len() == MAX_PENDING {
                self.pending.pop_front();
            }
            self.pending.push_back((frame.header.sid, frame.command));
            return operation_kind(access).map(|kind| Event::Operation { function, kind });
        }
        let key = (frame.header.sid, frame.command);
        let Some(i) = self.pending.iter().position(|p| *p == key) else {
            self.unpaired += 1;
            return None;
        };
        self.pending.remove(i);
        let end = frame.end_code()?;
        if !end.is_normal() {
            return Some(Event::EndCode {
                function,
                end_code: end.raw(),
            });
        }
        match frame.controller_data()? {
            Ok(d) => to_identity(&d, Some(frame.header.sa1)).map(Event::Identity),
            Err(_) => None,
        }
    }

    /// One UDP datagram; bytes that are not a FINS frame tell nothing.
    pub fn on_datagram(&mut self, payload: &[u8]) -> Option<Event> {
        Frame::decode_exact(payload)
            .ok()
            .and_then(|f| self.on_frame(&f))
    }

    /// One whole FINS/TCP frame (as [`crate::wire::fins::frame_len`] cut it); the
    /// node-address handshake tells nothing by itself.
    pub fn on_tcp_frame(&mut self, bytes: &[u8]) -> Option<Event> {
        match TcpFrame::decode_exact(bytes).ok()?.body {
            TcpBody::Frame(f) => self.on_frame(&f),
            _ => None,
        }
    }
}

/// The FINS analyzer as the passive engine runs it (one per TCP flow, one per UDP host
/// pair on 9600: [`super::Fins`]'s `udp_pairs_state`): identities on the answer's IP
/// source, operations on the request's target.
///
/// A Controller Data Read answer is an identity only when it answers a request seen
/// before it: over TCP on the flow, over UDP from the host the answer goes to, with the
/// same SID and command (W342 3-1: the SID is what a node uses to match a response to
/// its command). An unsolicited or spoofed 05 01 answer is no identity.
#[derive(Debug, Default)]
pub struct EngineAnalyzer {
    inner: Analyzer,
    /// UDP: the pending requests of each requester of the host pair (at most the two
    /// hosts), so an answer pairs only with a request its receiver sent.
    by_requester: Vec<(std::net::IpAddr, Analyzer)>,
}

/// Requesters one UDP analyzer keeps apart: the two hosts of its pair.
const MAX_REQUESTERS: usize = 2;

impl EngineAnalyzer {
    fn record(
        &mut self,
        ev: Option<Event>,
        raw: &[u8],
        ctx: &mut crate::protocols::analyzer::Ctx<'_>,
    ) {
        use crate::inventory::{Identity, Protocol};
        let at = ctx.at;
        match ev {
            Some(Event::Identity(id)) => {
                let key = format!("fins:{}", id.model);
                ctx.col.identity(ctx.src, key, Identity::Fins(id), raw, at);
            }
            Some(Event::Operation { function, kind }) => {
                let (target, actor) = (ctx.dst(), ctx.src);
                ctx.col
                    .operation(target, actor, Protocol::Fins, kind, function, at);
            }
            Some(Event::EndCode { .. }) | None => {}
        }
    }
}

impl crate::protocols::analyzer::Analyzer for EngineAnalyzer {
    fn on_frame(&mut self, frame: &[u8], ctx: &mut crate::protocols::analyzer::Ctx<'_>) {
        use crate::inventory::Protocol;
        let (client, server, at) = (ctx.client, ctx.server, ctx.at);
        ctx.col.peer(client, server, Protocol::Fins, at);
        match TcpFrame::decode_exact(frame) {
            Ok(_) => {
                let ev = self.inner.on_tcp_frame(frame);
                self.record(ev, frame, ctx);
            }
            Err(e) => ctx.undecoded(Protocol::Fins, "fins/tcp frame", frame, &e),
        }
    }

    fn on_datagram(&mut self, payload: &[u8], ctx: &mut crate::protocols::analyzer::Ctx<'_>) {
        use crate::inventory::Protocol;
        // An empty datagram (a port probe, omron_test.pcap frames 15-16) says nothing.
        if payload.is_empty() {
            return;
        }
        let f = match Frame::decode_exact(payload) {
            Ok(f) => f,
            Err(e) => return ctx.undecoded(Protocol::Fins, "fins datagram", payload, &e),
        };
        // The requester: the sender of a request, the receiver of an answer.
        let requester = if f.header.is_response() {
            ctx.dst()
        } else {
            let (client, server, at) = (ctx.src, ctx.dst(), ctx.at);
            ctx.col.peer(client, server, Protocol::Fins, at);
            ctx.src
        };
        let i = match self
            .by_requester
            .iter()
            .position(|(ip, _)| *ip == requester)
        {
            Some(i) => i,
            None if f.header.is_response() => {
                // Nothing was asked by the host this answers: unsolicited.
                self.inner.unpaired += 1;
                return;
            }
            None => {
                if self.by_requester.len() == MAX_REQUESTERS {
                    self.by_requester.remove(0);
                }
                self.by_requester.push((requester, Analyzer::default()));
                self.by_requester.len() - 1
            }
        };
        let ev = self.by_requester[i].1.on_frame(&f);
        self.record(ev, payload, ctx);
    }
}

#[cfg(test)]
mod tests {
    //! Payloads of `omron_test.pcap` (captures/INDEX.md), and requests built from W342
    //! command layouts for the operations (no shared capture holds a FINS write).
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const DATA: &str = "4350314c2d454c32304452 2d44 000000 20202020 \
        30312e3030 0000000000 30312e3036 0000000000 \
        00000000000000000000000000000000 00000001000000000000000000000000 0000000000010003 \
        000a 17 2a10 08 00 0000 00 0000";

    #[test]
    fn the_udp_exchange_gives_the_cp1l() {
        let mut a = Analyzer::new();
        // Frame 17 then 18.
        assert_eq!(
            a.on_datagram(&hex("80 00 02 00 00 00 00 63 00 ef 0501 00")),
            None
        );
        let ev = a.on_datagram(&hex(&format!(
            "c0 00 02 00 63 00 00 c8 00 ef 0501 0000 {DATA}"
        )));
        let Some(Event::Identity(id)) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(id.model, "CP1L-EL20DR-D");
        assert_eq!(id.versions, ["01.00", "01.06"]);
        assert_eq!(id.dm_words, Some(10768));
    }

    #[test]
    fn the_tcp_exchange_gives_the_cp1l_after_the_handshake() {
        let mut a = Analyzer::new();
        for f in [
            "46494e53 0000000c 00000000 00000000 00000000",
            "46494e53 00000010 00000001 00000000 000000fb 000000c8",
            "46494e53 00000015 00000002 00000000 80 00 02 00 c8 00 00 00 ef 05 0501 00",
        ] {
            assert_eq!(a.on_tcp_frame(&hex(f)), None);
        }
        let f9 = hex(&format!(
            "46494e53 00000072 00000002 00000000 c0 00 02 00 fb ef 00 c8 00 05 0501 0000 {DATA}"
        ));
        assert!(matches!(a.on_tcp_frame(&f9), Some(Event::Identity(_))));
    }

    #[test]
    fn an_unpaired_answer_is_no_identity() {
        let mut a = Analyzer::new();
        let f18 = hex(&format!("c0 00 02 00 63 00 00 c8 00 ef 0501 0000 {DATA}"));
        assert_eq!(a.on_datagram(&f18), None);
        assert_eq!(a.unpaired, 1);
        // A request with another SID does not pair with it either.
        a.on_datagram(&hex("80 00 02 00 00 00 00 63 00 01 0501 00"));
        assert_eq!(a.on_datagram(&f18), None);
    }

    #[test]
    fn writes_control_and_program_commands_are_operations() {
        let req =
            |cmd: &str, text: &str| hex(&format!("80 00 02 00 00 00 00 63 00 10 {cmd} {text}"));
        let mut a = Analyzer::new();
        let cases = [
            (
                "0102",
                "82 0064 00 0001 1234",
                "fins.memory_area_write",
                OperationKind::Write,
            ),
            (
                "0103",
                "82 0064 00 0010 0000",
                "fins.memory_area_fill",
                OperationKind::Write,
            ),
            (
                "0105",
                "82 0064 00 82 0070 00 0001",
                "fins.memory_area_transfer",
                OperationKind::Write,
            ),
            ("0401", "ffff 02", "fins.run", OperationKind::Control),
            ("0402", "ffff", "fins.stop", OperationKind::Control),
            (
                "0307",
                "ffff 00000000 0004 deadbeef",
                "fins.program_area_write",
                OperationKind::Program,
            ),
            (
                "0702",
                "26 01 07 12 00 00 01",
                "fins.clock_write",
                OperationKind::Write,
            ),
            (
                "2203",
                "0000 0001",
                "fins.single_file_write",
                OperationKind::Write,
            ),
        ];
        for (cmd, text, function, kind) in cases {
            assert_eq!(
                a.on_datagram(&req(cmd, text)),
                Some(Event::Operation { function, kind }),
                "{cmd}"
            );
        }
        // Reads are no operation; a refused write's answer is an end code.
        assert_eq!(a.on_datagram(&req("0101", "82 0064 00 0001")), None);
        let mut a = Analyzer::new();
        a.on_datagram(&req("0102", "82 0064 00 0001 1234"));
        assert_eq!(
            a.on_datagram(&hex("c0 00 02 00 63 00 00 00 00 10 0102 2108")),
            Some(Event::EndCode {
                function: "fins.memory_area_write",
                end_code: 0x2108
            })
        );
    }
}
