//! The EtherNet/IP probe's dry-run plan: List Identity, and List Services when the profile
//! asks for it, in one exchange.

use super::Safe;
use super::safe::{EnipList, EnipListCommand};
use super::session::EnipSessionConfig;
use super::settings::EnipTransport;
use crate::inventory::Protocol;
use crate::profile::Profile;
use crate::protocols::plan::{ConnectionPlan, ProbePlan};
use crate::safety::SafeRequest;

/// What an EtherNet/IP probe sends to one host under `p`, in order, from the session's
/// own configuration (sender contexts are the session's to pick; they change no length).
pub fn probe_plan(p: &Profile) -> ProbePlan {
    let cfg = EnipSessionConfig::from_profile(p);
    let mut requests = vec![SafeRequest::Enip(Safe::List(EnipList {
        command: EnipListCommand::ListIdentity,
        sender_context: [0; 8],
    }))];
    if cfg.list_services {
        requests.push(SafeRequest::Enip(Safe::List(EnipList {
            command: EnipListCommand::ListServices,
            sender_context: [0; 8],
        })));
    }
    ProbePlan {
        protocol: Protocol::Enip,
        port: cfg.port,
        transport: match cfg.transport {
            EnipTransport::Tcp => "tcp",
            EnipTransport::Udp => "udp",
        },
        best_requests: requests.len(),
        connections: vec![ConnectionPlan {
            purpose: "discovery".into(),
            requests,
        }],
        stop_rule: "one exchange",
        notes: Vec::new(),
    }
}
