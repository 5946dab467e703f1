//! What a protocol's dry-run plan says: the connections of one probe and the requests on
//! each, as the protocol's session sends them. [`crate::plan`] puts the protocols' plans
//! together with the scope, the pacing and the estimate.

use crate::inventory::Protocol;
use crate::safety::SafeRequest;

/// One connection (or, for ENIP over UDP, one exchange) of a probe, and what it sends.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionPlan {
    /// What this connection is for (`unit id 255`, `TSAP 0x0102 (PG, rack 0, slot 2)`).
    pub purpose: String,
    /// The requests in order.
    pub requests: Vec<SafeRequest>,
}

/// What one protocol's probe sends to one host, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbePlan {
    pub protocol: Protocol,
    pub port: u16,
    /// `tcp` or `udp`.
    pub transport: &'static str,
    /// Connections in order; later ones are used only when earlier ones got no identity.
    pub connections: Vec<ConnectionPlan>,
    /// When the probe stops early.
    pub stop_rule: &'static str,
    /// Requests when the first unit id / TSAP answers (best case).
    pub best_requests: usize,
    /// Where a limit can stop the probe before its last connection.
    pub notes: Vec<String>,
}

impl ProbePlan {
    /// Requests if every connection is used (worst case).
    pub fn max_requests(&self) -> usize {
        self.connections.iter().map(|c| c.requests.len()).sum()
    }

    /// Requests if the first unit id or TSAP yields the identity (best case).
    pub fn min_requests(&self) -> usize {
        self.best_requests
    }

    /// TCP connections opened (UDP: none).
    pub fn max_connections(&self) -> usize {
        if self.transport == "udp" {
            0
        } else {
            self.connections.len()
        }
    }
}

/// What the dry run shows of a request: its kind, its detail and its length (the ids a
/// session picks, transaction ids or sender contexts, change none of them).
#[cfg(test)]
pub(crate) fn shown(requests: &[SafeRequest]) -> Vec<(&'static str, String, usize)> {
    requests
        .iter()
        .map(|r| (r.kind(), r.detail(), r.encoded_len()))
        .collect()
}
