//! The driver's hard caps per probe, in a module of their own so that code reading them
//! need not import the tokio driver that enforces them. The connection caps belong to the
//! session contract ([`crate::protocols::session`]) and are re-exported here.

/// Requests one endpoint may receive in one probe, whatever the session asks.
pub const MAX_SENDS: u32 = 64;
pub use crate::protocols::session::{MAX_CONNECTS, MAX_CONNECTS_LIMIT};
