//! Tridium Niagara Fox above its codec ([`crate::wire::fox`]): the one message otscout
//! may send ([`safe`]), the probe session ([`session`]), the station's hello as an
//! identity ([`identity`]) and the passive reading of captured hellos ([`passive`]).
//!
//! Not yet in the [registry](super::registry) (phase 2 of issue 17, with the registry
//! work of issue 13).

pub mod identity;
pub mod passive;
pub mod safe;
pub mod session;

/// Fox over plain TCP.
pub const PORT: u16 = 1911;
/// Fox over TLS: recorded as a service when it accepts a connection, never opened
/// further (otscout does not do TLS handshakes with field devices).
pub const TLS_PORT: u16 = 4911;
