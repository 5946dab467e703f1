//! Modbus/TCP above its codec ([`crate::wire::modbus`]).

pub mod identity;
