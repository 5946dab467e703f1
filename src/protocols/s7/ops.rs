//! What S7comm traffic does to a PLC, as the passive side records it: a function's
//! [`Access`] as an [`OperationKind`] (writes, control and program transfers).

use crate::inventory::OperationKind;
use crate::wire::s7::Access;

/// The security-relevant operation kind, when it is one.
pub fn operation_kind(access: Access) -> Option<OperationKind> {
    match access {
        Access::Write => Some(OperationKind::Write),
        Access::Control => Some(OperationKind::Control),
        Access::Program => Some(OperationKind::Program),
        _ => None,
    }
}
