//! Active probing: one sans-IO session per protocol, the tokio driver that moves their
//! bytes, and the scan orchestrator.
//!
//! A session (the contract in [`crate::protocols::session`], one implementation in each
//! protocol folder) is a state machine over `wire/`: it never touches a socket or a clock.
//! The driver calls it with the current time and the bytes that arrived, and carries out
//! the [`Step`] it returns: send a [`crate::safety::SafeRequest`] (through the guard),
//! wait, reconnect after the host's cool-down, or finish. Sessions are tested in memory
//! with fake time.

pub use crate::protocols::session::{ConnectionLoss, Finding, Session, Step};

pub mod driver;
pub mod gate;
pub mod journal;
pub mod limits;
pub mod report;
pub mod result;
pub mod scan;
pub mod stop;
pub mod window;
