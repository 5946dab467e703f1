//! What CIP traffic does to a device, as the passive side records it: a service's
//! [`Access`] as an [`OperationKind`] (writes and control).

use crate::inventory::OperationKind;
use crate::wire::enip::Access;

/// The security-relevant kind for the passive side's `Fact::Operation` (writes and
/// control), or `None` for reads, discovery, session plumbing and replies.
pub fn operation_kind(access: Access) -> Option<OperationKind> {
    match access {
        Access::Write => Some(OperationKind::Write),
        Access::Control => Some(OperationKind::Control),
        _ => None,
    }
}
