//! Modbus/TCP above its codec ([`crate::wire::modbus`]).

pub mod identity;
pub mod safe;
pub mod session;

use crate::inventory::Protocol;

pub use safe::Safe;

/// Modbus/TCP in the [registry](super::registry).
#[derive(Debug, Clone, Copy)]
pub struct Modbus;

impl super::ProtocolSpec for Modbus {
    fn protocol(&self) -> Protocol {
        Protocol::Modbus
    }

    fn name(&self) -> &'static str {
        "modbus"
    }

    // ---- active side (scan) ----

    // ---- passive side (import) ----
}
