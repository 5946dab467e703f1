//! The fact sink: what a passive reader records about the hosts it sees, and where.
//!
//! Two kinds of readers write here: the per-flow analyzers of a capture
//! ([`crate::protocols::analyzer`]) and the per-protocol Zeek/ICSNPP row parsers
//! (`crate::protocols::<name>::zeek`, through [`zeek::Row`]). Both call the same
//! [`FactSink`] with the same facts (an identity under the same merge key, a peer, an
//! operation named the same way), and one implementation folds them into observations
//! ([`crate::passive::collect::Collector`]): identities, services, operations, links and
//! their provenance are built by one code path whatever the input was.
//!
//! This module sits below both `passive` and `protocols` and imports neither: the
//! protocol folders write into the trait, `passive` implements it.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::inventory::{Identity, OperationKind, Protocol, Transport};

pub mod stats;
pub mod zeek;

pub use stats::ImportStats;

/// Where in the input something was seen: a capture's frame number, or a Zeek log's line
/// number (the sink knows which kind of input it is folding), and the input's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    pub frame: u64,
    pub ts: Option<DateTime<Utc>>,
}

/// What passive readers record. Every method folds: a repeated fact is counted, never
/// stored twice; caps on memory are the implementation's.
pub trait FactSink: std::fmt::Debug {
    /// `ip` is shown to exist at `at` (it sent something: a Zeek row's originator, a
    /// responder that answered), without a packet to say more (TTL, MAC).
    fn host(&mut self, ip: IpAddr, at: At);

    /// `ip` answered on `port`.
    fn service(&mut self, ip: IpAddr, transport: Transport, port: u16, proto: Protocol, at: At);

    /// `client` exchanged `count` messages with `server` over `proto` (0: the pair is
    /// known, e.g. from an answer alone, and no request was counted).
    fn peers(&mut self, client: IpAddr, server: IpAddr, proto: Protocol, count: u64, at: At);

    /// `client` exchanged one message with `server` over `proto`.
    fn peer(&mut self, client: IpAddr, server: IpAddr, proto: Protocol, at: At) {
        self.peers(client, server, proto, 1, at);
    }

    /// `actor` performed `function` on `target` (named without the protocol prefix, which
    /// the sink adds: `write_single_register` becomes `modbus.write_single_register`).
    fn operation(
        &mut self,
        target: IpAddr,
        actor: IpAddr,
        proto: Protocol,
        kind: OperationKind,
        function: &str,
        at: At,
    );

    /// A device's identity (or part of one) with the bytes it came in (empty when the
    /// input holds none, as a Zeek log does). Parts under the same `key` fold into one
    /// identity: the key is the protocol's merge key, the same whichever reader saw it.
    fn identity(&mut self, device: IpAddr, key: String, identity: Identity, raw: &[u8], at: At) {
        self.identity_at(device, None, key, identity, raw, at);
    }

    /// An identity read through `device` from something behind it at `path` (a module on
    /// a CIP route, a BACnet device behind a router).
    fn identity_at(
        &mut self,
        device: IpAddr,
        path: Option<String>,
        key: String,
        identity: Identity,
        raw: &[u8],
        at: At,
    );

    /// A message from `src` that did not decode, kept as evidence.
    fn suspicious(
        &mut self,
        src: IpAddr,
        protocol: Protocol,
        port: u16,
        reason: String,
        raw: &[u8],
        at: At,
    );

    /// `device` answered an identity request without naming anything.
    #[allow(clippy::too_many_arguments)]
    fn empty_identity(
        &mut self,
        device: IpAddr,
        key: String,
        protocol: Protocol,
        port: u16,
        answer: String,
        raw: &[u8],
        at: At,
    );

    /// A protocol address or attribute seen in traffic to `ip` (a Modbus unit id, an S7
    /// TSAP, an OPC UA security policy), kept once per value.
    fn observed(&mut self, ip: IpAddr, attribute: &'static str, value: String, at: At);

    /// The identity of a station seen only on layer 2 (a PROFINET DCP Identify response,
    /// a BACnet/Ethernet I-Am), keyed by its MAC (`behind`: the path of a device behind
    /// that station). Parts with the same `key` fold into one.
    fn link_identity(
        &mut self,
        mac: [u8; 6],
        behind: Option<String>,
        key: String,
        identity: Identity,
        raw: &[u8],
        at: At,
    );

    /// The station at MAC `actor` performed `function` on the station at MAC `target`
    /// (a PROFINET DCP Set).
    fn link_operation(
        &mut self,
        target: [u8; 6],
        actor: [u8; 6],
        proto: Protocol,
        kind: OperationKind,
        function: &str,
        at: At,
    );
}
