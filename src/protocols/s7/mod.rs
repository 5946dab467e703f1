//! S7comm (TPKT, COTP, SZL) above its codec ([`crate::wire::s7`]).

pub mod identity;
pub mod passive;
pub mod safe;
pub mod session;

use crate::inventory::Protocol;

pub use safe::Safe;

/// S7comm in the [registry](super::registry).
#[derive(Debug, Clone, Copy)]
pub struct S7;

impl super::ProtocolSpec for S7 {
    fn protocol(&self) -> Protocol {
        Protocol::S7
    }

    fn name(&self) -> &'static str {
        "s7"
    }

    // ---- active side (scan) ----

    // ---- passive side (import) ----
}
