//! EtherNet/IP and CIP above their codec ([`crate::wire::enip`]).

pub mod identity;
pub mod passive;
