//! Omron FINS above its codec ([`crate::wire::fins`]): the requests otscout may send
//! ([`safe`]), the probe session ([`session`]), the identity a Controller Data Read
//! answer gives ([`identity`]) and what the passive side reads from captured traffic
//! ([`passive`]).
//!
//! Not yet in the [registry](super::registry): that needs the `inventory::Protocol` and
//! `Identity` variants and `SafeRequest`'s nested variant, which land with the registry
//! work (issue 13). Until then every piece here is plain functions and types with their
//! own tests.

pub mod identity;
pub mod passive;
pub mod safe;
pub mod session;

/// The FINS port, UDP and TCP (W342 and W421: 9600 by default).
pub const PORT: u16 = 9600;
