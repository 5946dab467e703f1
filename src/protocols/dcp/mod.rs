//! PROFINET DCP above its codec ([`crate::wire::dcp`]), passive only: the identity a
//! device gives in an Identify response or a Hello ([`identity`]) and the configuration
//! changes a Set makes ([`passive`]).
//!
//! # OT safety
//! otscout never sends DCP. It is layer 2 and multicast (an Identify All goes to
//! 01:0e:cf:00:00:00 and every PROFINET device on the segment answers), outside otscout's
//! routed, unicast contract: no address can exclude a host from a multicast, no pacing
//! holds when every device answers at once, and the protocol's own Set can rename a
//! device, change its IP or reset it to factory settings (SAFETY.md, "PROFINET DCP").
//!
//! # MAC-only assets
//! A DCP frame has no IP header: the device is its Ethernet source MAC. The IP suite
//! inside an Identify response is what the device says it has, an address quoted in the
//! payload, never the asset's key. How merge keys and joins such assets is written down
//! in [`identity`] (phase 2 of issue 17 wires it into merge).

pub mod identity;
pub mod passive;
