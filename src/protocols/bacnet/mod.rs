//! BACnet/IP above its codec ([`crate::wire::bacnet`]): the requests otscout may send and
//! the guard's rule ([`safe`]), the identity a device gives ([`identity`]), the probe as a
//! sans-IO state machine ([`session`]) and the passive analyzer ([`passive`]).
//!
//! Not yet in the [registry](super::registry): the protocol-registry work (issue 13) adds
//! the `ProtocolSpec` impl, the `SafeRequest` and `Identity` variants, profile settings and
//! the dry-run plan once its active and passive methods exist.

pub mod identity;
pub mod passive;
pub mod safe;
pub mod session;
