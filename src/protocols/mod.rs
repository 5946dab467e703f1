//! One folder per protocol: what each protocol means to otscout above its codec.
//!
//! The codecs live in the `otscout-wire` crate (re-exported as [`crate::wire`]) and know
//! nothing of the inventory; each folder here maps its codec's types to inventory facts:
//! `identity.rs` (replies as an inventory identity) and, for protocols whose codec
//! classifies access, `passive.rs` (access as an operation kind). This is the start of the
//! layout of issue 13 (see ARCHITECTURE.md): sessions, safe requests, passive analyzers,
//! settings and the registry move in beside them later.

pub mod dcp;
pub mod enip;
pub mod fins;
pub mod fox;
pub mod modbus;
pub mod registry;
pub mod s7;

pub use registry::{ProtocolSpec, REGISTRY, spec_for};
