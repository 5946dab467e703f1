//! What Modbus traffic does to a device, as the passive side records it (pcap and Zeek
//! alike): a function's [`Access`] as an [`OperationKind`] (writes and diagnostics).

use crate::inventory::OperationKind;
use crate::wire::modbus::Access;

/// The security-relevant kind for the passive side's `Fact::Operation` (writes and
/// control), or `None` for reads and everything else.
pub fn operation_kind(access: Access) -> Option<OperationKind> {
    match access {
        Access::Write => Some(OperationKind::Write),
        Access::Control => Some(OperationKind::Control),
        _ => None,
    }
}
