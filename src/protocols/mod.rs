//! One folder per protocol: what each protocol means to otscout above its codec.
//!
//! The codecs live in the `otscout-wire` crate (re-exported as [`crate::wire`]) and know
//! nothing of the inventory; each folder here maps its codec's types to inventory facts
//! (identities, operation kinds). This is the start of the layout of issue 13: sessions,
//! safe requests, passive analyzers and settings move in beside the mappings later.

pub mod enip;
pub mod modbus;
pub mod s7;
