//! The driver's hard caps per probe, in a module of their own so that the sans-IO
//! sessions can read them without importing the tokio driver that enforces them.

/// Requests one endpoint may receive in one probe, whatever the session asks.
pub const MAX_SENDS: u32 = 64;
/// Connections one endpoint may receive in one probe by default (S7 tries a few TSAPs);
/// a session may ask for more ([`super::Session::max_connections`]), up to
/// [`super::driver::MAX_CONNECTS_LIMIT`].
pub const MAX_CONNECTS: u32 = 8;
