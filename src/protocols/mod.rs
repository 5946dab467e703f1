//! One folder per protocol: what each protocol means to otscout above its codec.
//!
//! The codecs live in the `otscout-wire` crate (re-exported as [`crate::wire`]) and know
//! nothing of the inventory; each folder here is the rest of what its protocol is:
//! `safe.rs` (its part of [`crate::safety::SafeRequest`], encoders and guard rule),
//! `session.rs` (the sans-IO probe), `settings.rs` (its profile section), `plan.rs` (its
//! dry-run plan), `identity.rs` (replies as an inventory identity), `passive.rs` (access as
//! an operation kind), and `mod.rs` (its [`ProtocolSpec`] impl). Shared by all folders:
//! [`registry`] (the trait and the ordered list), [`session`] (the contract the driver
//! carries out), [`settings`] (schema vocabulary), [`plan`] (the plan's shape) and
//! [`Refusal`]. Layout and import rule: docs/architecture.md.

pub mod analyzer;
pub mod bacnet;
pub mod conformance;
pub mod dcp;
pub mod detect;
pub mod enip;
pub mod fins;
pub mod fox;
pub mod modbus;
pub mod opcua;
pub mod plan;
pub mod registry;
pub mod s7;
pub mod session;
pub mod settings;

pub use registry::{
    ProtocolSpec, REGISTRY, WellKnownPort, ZeekService, link_protocol, owner_of, spec_for,
    well_known_port, zeek_reader, zeek_service,
};

/// Why a protocol's guard rule refused a frame ([`crate::safety::check`] adds the protocol
/// and turns it into a [`crate::safety::GuardError`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The bytes do not parse as one complete frame of the protocol.
    Malformed(String),
    /// The frame parses but is not on the allowlist.
    NotAllowed(String),
}

/// Folds a later part of an identity into an earlier one (missing fields filled, Modbus
/// objects added; a value already present is kept): each protocol's own fold, for the
/// passive collector (a capture or log that shows one device's identity in parts).
pub fn fold_identity(into: &mut crate::inventory::Identity, part: crate::inventory::Identity) {
    use crate::inventory::Identity;
    match (into, part) {
        (Identity::Modbus(a), Identity::Modbus(b)) => modbus::identity::fold_part(a, b),
        (Identity::S7(a), Identity::S7(b)) => s7::identity::fold_part(a, *b),
        (Identity::Enip(_), Identity::Enip(_)) => {}
        (Identity::Bacnet(a), Identity::Bacnet(b)) => a.fill_from(b),
        (Identity::Opcua(a), Identity::Opcua(b)) => opcua::identity::fold_part(a, *b),
        _ => {}
    }
}
