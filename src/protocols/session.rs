//! The contract a protocol's probe session implements, and the driver carries out.
//!
//! A session is a sans-IO state machine over its codec: it never touches a socket or a
//! clock. The driver ([`crate::probe::driver`]) calls it with the current time and the
//! bytes that arrived, and carries out the [`Step`] it returns: send a [`SafeRequest`]
//! (through the guard), wait, reconnect after the host's cool-down, or finish. It lives
//! here, below both `probe` (which drives sessions) and the protocol folders (which
//! implement them), so neither imports the other for it; `probe` re-exports it.

use std::time::Instant;

use crate::inventory::{Fact, Identity, Protocol};
use crate::safety::SafeRequest;

/// Connections one endpoint may receive in one probe by default (S7 tries a few TSAPs);
/// a session may ask for more ([`Session::max_connections`]), up to
/// [`MAX_CONNECTS_LIMIT`].
pub const MAX_CONNECTS: u32 = 8;

/// No session gets more connection attempts on one endpoint in one probe than this (the
/// driver cuts it off): the most a protocol needs is Modbus's, one per unit id at most
/// ([`crate::protocols::modbus::settings::MAX_UNIT_IDS`], 32) and one retried connect
/// each; a protocol that needs more must say why here.
pub const MAX_CONNECTS_LIMIT: u32 = 64;

/// What a session wants the driver to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this request. The driver encodes it through [`crate::safety::emit`], so the
    /// guard sees every frame, and waits for the host's pacing before writing it.
    Send(SafeRequest),
    /// Wait for more bytes, or for the deadline from [`Session::poll_timeout`].
    Wait,
    /// Close this connection gracefully (FIN) and, after the host's cool-down, open a new
    /// one and call [`Session::on_connected`] again (S7: the next TSAP; Modbus: the next
    /// unit id after a silent one).
    Reconnect,
    /// The session is finished; the driver closes the connection and collects the findings.
    Done,
}

/// Why a connection ended or never started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionLoss {
    /// Connect was refused (RST to SYN) or the UDP port was unreachable.
    Refused,
    /// Connect timed out.
    ConnectTimeout,
    /// The peer closed (FIN).
    Closed,
    /// The peer reset the connection.
    Reset,
}

/// One thing a session learned, before the driver adds the host, time and provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// What was learned.
    pub fact: Fact,
    /// The reply bytes behind it (kept as hex in the observation, for audit).
    pub raw: Option<Vec<u8>>,
    /// The request kind that produced it ([`SafeRequest::kind`]).
    pub request: &'static str,
}

/// A protocol probe over one device, as a state machine.
///
/// Calls from the driver, in order: [`Session::on_connected`] once the transport is up;
/// then any of [`Session::on_bytes`], [`Session::on_timeout`] (when `poll_timeout` has
/// passed) and [`Session::on_connection_lost`], until a call returns [`Step::Done`]; then
/// [`Session::take_findings`].
pub trait Session: Send + std::fmt::Debug {
    /// The protocol it speaks (selects the guard rules).
    fn protocol(&self) -> Protocol;
    /// The transport is connected; returns the first step (usually a [`Step::Send`]).
    fn on_connected(&mut self, now: Instant) -> Step;
    /// Bytes arrived (any amount: the session does its own framing with `frame_len`).
    fn on_bytes(&mut self, now: Instant, bytes: &[u8]) -> Step;
    /// The deadline from `poll_timeout` has passed.
    ///
    /// # OT safety
    /// A request that timed out is unanswered: nothing more may go out on its connection.
    /// Return [`Step::Wait`] (still waiting for it), [`Step::Reconnect`] or [`Step::Done`];
    /// the driver cuts off a session that returns [`Step::Send`] on that connection.
    fn on_timeout(&mut self, now: Instant) -> Step;
    /// The connection ended, or could not be made.
    fn on_connection_lost(&mut self, now: Instant, why: ConnectionLoss) -> Step;
    /// When the session next needs `on_timeout`, if it is waiting for anything.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Everything learned so far; the driver calls it after `Done` or when it aborts.
    fn take_findings(&mut self) -> Vec<Finding>;

    /// Findings about devices behind this one (modules in a chassis read through a
    /// route), each with its sub-asset path (`cip:1/3`). Taken with the findings.
    fn take_sub_findings(&mut self) -> Vec<(String, Finding)> {
        Vec::new()
    }
    /// The identity the device has given so far in this session, without taking it: the
    /// driver applies vendor rules from it before the session's next request (an S7-300
    /// named by SZL 0x0011 gets the rule's longer interval before SZL 0x001C).
    fn identity_so_far(&self) -> Option<Identity> {
        None
    }
    /// Connection attempts the driver allows this session on one endpoint before it cuts
    /// it off as a runaway ([`MAX_CONNECTS`] unless the protocol needs more: a Modbus
    /// gateway probe uses one connection per silent unit id).
    fn max_connections(&self) -> u32 {
        MAX_CONNECTS
    }
    /// The local address the driver's socket to the device got, told before each
    /// [`Session::on_connected`] (FINS/UDP names its source node after it); by default
    /// ignored.
    fn on_local_addr(&mut self, local: std::net::IpAddr) {
        let _ = local;
    }
}
