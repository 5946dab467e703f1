//! The passive analyzer contract: what the capture engine ([`crate::passive::engine`])
//! hands a protocol's analyzer, and what an analyzer is.
//!
//! An analyzer sees the frames of one TCP flow (or one UDP datagram) in both directions,
//! already cut whole by its protocol's framer ([`super::ProtocolSpec::frame_len`]), pairs
//! requests with replies where the reply alone does not say enough (the Modbus unit id,
//! the S7 SZL follow-up, the CIP request a reply answers), and records through
//! [`Ctx::col`]:
//! - identities, keyed on the reply packet's IP source;
//! - who talks to whom ([`FactSink::peer`]);
//! - security-relevant operations (writes, control, program transfer) as
//!   [`FactSink::operation`] on the target, never as identity.
//!
//! It lives here, beside the registry that creates analyzers
//! ([`super::ProtocolSpec::analyzer`]), and imports nothing of `passive`: the sink it
//! writes into and the counters are [`crate::facts`], below both (the Zeek row parsers
//! write into the same sink). The engine imports this module and no module imports the
//! engine back.

use std::net::IpAddr;

use crate::facts::{At, FactSink, ImportStats};
use crate::inventory::{Protocol, Transport};

/// One protocol's per-flow state, created by [`super::ProtocolSpec::analyzer`] for each
/// TCP flow (and for each UDP datagram) of that protocol.
pub trait Analyzer: std::fmt::Debug + Send {
    /// One whole frame from a TCP stream (cut by the protocol's `frame_len`).
    fn on_frame(&mut self, frame: &[u8], ctx: &mut Ctx<'_>);

    /// One UDP datagram, whole as it arrived (the analyzer frames it itself: a datagram
    /// that does not hold a whole message is cut short, never "wait for more"). A
    /// protocol otscout does not read over UDP ignores it.
    fn on_datagram(&mut self, payload: &[u8], ctx: &mut Ctx<'_>) {
        let _ = (payload, ctx);
    }
}

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
    pub col: &'a mut dyn FactSink,
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
    /// `crate::passive::collect::MAX_ANOMALY_BYTES` bytes, so nothing is lost.
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

/// How a layer-2 frame says what it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LinkType {
    /// Ethernet II (or a Linux cooked capture's protocol field) with this EtherType,
    /// VLAN tags removed.
    EtherType(u16),
    /// IEEE 802.3 with an IEEE 802.2 LLC header of this DSAP and SSAP.
    Llc { dsap: u8, ssap: u8 },
}

/// A frame without IP: its MACs, what it carries and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFrame<'a> {
    pub src: [u8; 6],
    /// `None` where the link type records no destination (Linux cooked captures).
    pub dst: Option<[u8; 6]>,
    pub kind: LinkType,
    /// After the EtherType; for LLC the whole LLC PDU (DSAP, SSAP, control and data), cut
    /// to the 802.3 length (the padding of short frames is not data).
    pub payload: &'a [u8],
}

/// What a layer-2 analyzer records through: the frame's place in the capture and the
/// capture's fact sink ([`FactSink::link_identity`], [`FactSink::link_operation`] for
/// stations known only by MAC).
#[derive(Debug)]
pub struct LinkCtx<'a> {
    pub at: At,
    pub col: &'a mut dyn FactSink,
    pub stats: &'a mut ImportStats,
}

/// A protocol's state over the layer-2 frames of one capture (one per capture, created by
/// [`super::ProtocolSpec::link_analyzer`]): frames without IP, of a [`LinkType`] the
/// protocol registered ([`super::ProtocolSpec::link_types`]).
pub trait LinkAnalyzer: std::fmt::Debug + Send {
    fn on_link_frame(&mut self, frame: &LinkFrame<'_>, ctx: &mut LinkCtx<'_>);
}
