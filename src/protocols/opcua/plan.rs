//! The OPC UA probe's dry-run plan: one connection, the requests in the order the session
//! sends them, lengths for the longest IPv4 endpoint URL.

use super::settings::OpcuaSettings;
use crate::inventory::Protocol;
use crate::profile::Profile;
use crate::protocols::plan::{ConnectionPlan, ProbePlan};
use crate::safety::SafeRequest;

/// What an OPC UA probe sends to one host under `p`, in order.
pub fn probe_plan(p: &Profile) -> ProbePlan {
    let s: &OpcuaSettings = &p.opcua;
    let addr = std::net::SocketAddr::from(([255, 255, 255, 255], s.port));
    let requests: Vec<SafeRequest> = s
        .plan_requests(addr)
        .unwrap_or_default()
        .into_iter()
        .map(SafeRequest::Opcua)
        .collect();
    let mut notes = vec!["lengths for the longest IPv4 endpoint URL".to_string()];
    if s.build_info {
        notes.push(
            "the session requests only on an endpoint with security mode none offering an \
             anonymous token; lengths with the longest server token"
                .into(),
        );
    }
    ProbePlan {
        protocol: Protocol::Opcua,
        port: s.port,
        transport: "tcp",
        best_requests: 3 + usize::from(s.find_servers) + 1,
        connections: vec![ConnectionPlan {
            purpose: "discovery (security policy none)".into(),
            requests,
            follow_ups: Vec::new(),
        }],
        stop_rule: "one connection; close secure channel",
        notes,
    }
}
