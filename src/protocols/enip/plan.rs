//! The EtherNet/IP probe's dry-run plan: List Identity, and List Services when the profile
//! asks for it, in one exchange; then, when the profile enables backplane enumeration,
//! the session's follow-ups through a communications adapter (Register Session, one read
//! per slot, Unregister Session).

use super::Safe;
use super::safe::{BackplaneRead, EnipList, EnipListCommand};
use super::session::EnipSessionConfig;
use super::settings::EnipTransport;
use crate::inventory::Protocol;
use crate::profile::Profile;
use crate::protocols::plan::{ConnectionPlan, FollowUp, ProbePlan};
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
            follow_ups: backplane_follow_ups(&cfg.backplane_slots),
            purpose: "discovery".into(),
            requests,
        }],
        stop_rule: "one exchange",
        notes: Vec::new(),
    }
}

/// The backplane enumeration's requests, in order, each sent once at most and only after a
/// List Identity answer naming device type 12 (session handles and contexts are the
/// device's and the session's; they change no length).
fn backplane_follow_ups(slots: &[u8]) -> Vec<FollowUp> {
    if slots.is_empty() {
        return Vec::new();
    }
    let when = "if list identity says communications adapter (device type 12)";
    let once = |request: Safe, when: String| FollowUp {
        request: SafeRequest::Enip(request),
        at_most: 1,
        when,
    };
    let mut out = vec![once(
        Safe::RegisterSession {
            sender_context: [0; 8],
        },
        when.into(),
    )];
    out.extend(slots.iter().map(|&slot| {
        once(
            Safe::Backplane(BackplaneRead {
                session_handle: 1,
                sender_context: [0; 8],
                slot,
            }),
            format!("slot {slot} (cip:1/{slot}), after register session"),
        )
    }));
    out.push(once(
        Safe::UnregisterSession {
            session_handle: 1,
            sender_context: [0; 8],
        },
        "last, after the slots (no reply)".into(),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rockwell_plans_register_one_read_per_slot_and_unregister() {
        let p = crate::profile::builtin("rockwell").unwrap().profile;
        let plan = probe_plan(&p);
        let c = &plan.connections[0];
        let kinds: Vec<&str> = c.follow_ups.iter().map(|f| f.request.kind()).collect();
        assert_eq!(kinds.len(), 19);
        assert_eq!(kinds[0], "enip.register_session");
        assert!(kinds[1..18].iter().all(|k| *k == "enip.backplane_identity"));
        assert_eq!(kinds[18], "enip.unregister_session");
        assert!(c.follow_ups[17].when.starts_with("slot 16 (cip:1/16)"));
        // Worst case per host: List Identity + 19.
        assert_eq!(c.max_requests(), 20);
        let conservative = crate::profile::builtin("conservative").unwrap().profile;
        assert!(
            probe_plan(&conservative).connections[0]
                .follow_ups
                .is_empty()
        );
        let fragile = crate::profile::builtin("fragile").unwrap().profile;
        assert!(!fragile.enip.backplane);
        assert!(probe_plan(&fragile).connections[0].follow_ups.is_empty());
    }
}
