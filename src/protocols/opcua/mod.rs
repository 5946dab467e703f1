//! OPC UA binary (UA TCP, port 4840) above its codec ([`crate::wire::opcua`]): the requests
//! otscout may send and their guard rule ([`safe`]), the server's identity and findings
//! ([`identity`]), the probe session ([`session`]) and the passive analyzer ([`passive`]).
//!
//! Not yet in the [registry](super::registry): its `ProtocolSpec` impl, `SafeRequest`
//! variant and inventory `Identity` variant come with the registry's active and passive
//! methods.

pub mod identity;
pub mod passive;
pub mod safe;
pub mod session;
pub mod settings;
