//! EtherNet/IP and CIP above their codec ([`crate::wire::enip`]).

pub mod mapping;
