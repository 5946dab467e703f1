//! Protocol analyzers: whole frames in, facts out, through the same `wire/` decoders the
//! active side uses.
//!
//! Each analyzer sees the frames of one TCP flow (or one UDP datagram) in both directions,
//! pairs requests with replies where the reply alone does not say enough (the Modbus unit
//! id, the S7 SZL follow-up), and records:
//! - identities, keyed on the reply packet's IP source;
//! - who talks to whom ([`Collector::peer`]);
//! - security-relevant operations (writes, control, program transfer) as
//!   [`Collector::operation`] on the target, never as identity.

use std::net::IpAddr;

use super::ImportStats;
use super::collect::{At, Collector};
use crate::inventory::{Protocol, Transport};
use crate::wire::DecodeError;

pub mod enip;
pub mod modbus;
pub mod s7;

/// Which way a frame travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    ToServer,
    ToClient,
    /// Both ends use the well-known port (UDP): the content must tell.
    Unknown,
}

/// What an analyzer needs to know about the frame it is given.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub client: IpAddr,
    pub server: IpAddr,
    pub server_port: u16,
    pub transport: Transport,
    /// The IP source of the packet that completed this frame.
    pub src: IpAddr,
    pub dir: Dir,
    pub at: At,
    pub col: &'a mut Collector,
    pub stats: &'a mut ImportStats,
    pub warnings: &'a mut Vec<String>,
}

impl Ctx<'_> {
    /// The destination of the frame (the other end from `src`).
    pub fn dst(&self) -> IpAddr {
        if self.src == self.client {
            self.server
        } else {
            self.client
        }
    }

    /// A message the framer cut but the decoder could not read (a device's deviation, a
    /// protocol otscout does not know well enough): never a damaged input, so no warning
    /// and no effect on the exit code. It is counted with its frame number and kept as a
    /// [`crate::inventory::Fact::Suspicious`] observation of its sender with its first
    /// [`super::collect::MAX_ANOMALY_BYTES`] bytes, so nothing is lost.
    pub fn undecoded(
        &mut self,
        protocol: Protocol,
        what: &str,
        raw: &[u8],
        e: &dyn std::fmt::Display,
    ) {
        self.stats.undecoded += 1;
        if self.stats.undecoded_frames.len() < MAX_UNDECODED_FRAMES {
            self.stats.undecoded_frames.push(self.at.frame);
        }
        let reason = format!("frame {}: {what} did not decode: {e}", self.at.frame);
        let (src, port, at) = (self.src, self.server_port, self.at);
        self.col.suspicious(src, protocol, port, reason, raw, at);
    }
}

/// Frame numbers of undecodable messages kept for the summary (the count goes on).
pub const MAX_UNDECODED_FRAMES: usize = 20;

/// Per-flow protocol state.
#[derive(Debug)]
pub enum Analyzer {
    Modbus(modbus::Modbus),
    Enip(enip::Enip),
    S7(s7::S7),
    /// A port we only note.
    Opaque,
}

impl Analyzer {
    /// The protocol this analyzer decodes.
    pub fn protocol(&self) -> Protocol {
        match self {
            Analyzer::Modbus(_) => Protocol::Modbus,
            Analyzer::Enip(_) => Protocol::Enip,
            Analyzer::S7(_) => Protocol::S7,
            Analyzer::Opaque => Protocol::Other,
        }
    }

    pub fn new(p: Protocol) -> Self {
        match p {
            Protocol::Modbus => Analyzer::Modbus(modbus::Modbus::default()),
            Protocol::Enip | Protocol::Cip => Analyzer::Enip(enip::Enip::default()),
            Protocol::S7 | Protocol::S7Plus => Analyzer::S7(s7::S7::default()),
            _ => Analyzer::Opaque,
        }
    }

    /// The protocol's stream framer (`wire::<proto>::frame_len`).
    pub fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
        match self {
            Analyzer::Modbus(_) => modbus::frame_len(buf),
            Analyzer::Enip(_) => enip::frame_len(buf),
            Analyzer::S7(_) => s7::frame_len(buf),
            Analyzer::Opaque => Ok(Some(buf.len())),
        }
    }

    /// One whole frame from a TCP stream.
    pub fn on_frame(&mut self, frame: &[u8], ctx: &mut Ctx<'_>) {
        match self {
            Analyzer::Modbus(a) => a.on_frame(frame, ctx),
            Analyzer::Enip(a) => a.on_frame(frame, ctx),
            Analyzer::S7(a) => a.on_frame(frame, ctx),
            Analyzer::Opaque => {}
        }
    }

    /// One UDP datagram (ENIP List Identity over UDP, answers to broadcasts).
    pub fn on_datagram(&mut self, payload: &[u8], ctx: &mut Ctx<'_>) {
        if let Analyzer::Enip(a) = self {
            match enip::frame_len(payload) {
                Ok(Some(n)) => {
                    ctx.stats.pdus += 1;
                    a.on_frame(&payload[..n], ctx);
                }
                Ok(None) => {
                    // A datagram is whole: a frame it does not hold whole is cut short.
                    let announced = payload
                        .get(2..4)
                        .map_or(24, |l| 24 + usize::from(u16::from_le_bytes([l[0], l[1]])));
                    let e = DecodeError::Truncated {
                        field: "enip.frame",
                        needed: announced.saturating_sub(payload.len()),
                    };
                    ctx.undecoded(Protocol::Enip, "enip datagram", payload, &e);
                }
                Err(e) => ctx.undecoded(Protocol::Enip, "enip datagram", payload, &e),
            }
        }
    }
}
