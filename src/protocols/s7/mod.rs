//! S7comm (TPKT, COTP, SZL) above its codec ([`crate::wire::s7`]).

pub mod identity;
pub mod passive;
