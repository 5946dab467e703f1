//! otscout: a read-only asset inventory for industrial (OT/ICS) networks.
//!
//! The library never prints: it returns values and emits events; only [`cli`] writes to
//! the terminal. See ARCHITECTURE.md for the flow of data and SAFETY.md for every byte
//! otscout is able to send.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod advisories;
pub mod cli;
pub mod conformance;
pub mod data;
pub mod demo;
pub mod facts;
pub mod input_file;
pub mod inventory;
pub mod output_file;
pub mod pace;
pub mod passive;
pub mod plan;
pub mod probe;
pub mod profile;
pub mod protocols;
pub mod report;
pub mod safety;
pub mod target;
pub mod text;
/// The codecs, a workspace crate of their own (`otscout-wire`, folder `wire/`) so that the
/// compiler keeps them from importing anything of otscout. Re-exported under the old name
/// so every `crate::wire::...` path (and `otscout::wire::...` in tests, benches and fuzz
/// targets) compiles unchanged.
pub use otscout_wire as wire;
