//! EtherNet/IP and CIP above their codec ([`crate::wire::enip`]).

pub mod identity;
pub mod passive;
pub mod safe;
pub mod session;

use crate::inventory::Protocol;

pub use safe::Safe;

/// EtherNet/IP and CIP in the [registry](super::registry).
#[derive(Debug, Clone, Copy)]
pub struct Enip;

impl super::ProtocolSpec for Enip {
    fn protocol(&self) -> Protocol {
        Protocol::Enip
    }

    fn name(&self) -> &'static str {
        "enip"
    }

    // ---- active side (scan) ----

    // ---- passive side (import) ----
}
