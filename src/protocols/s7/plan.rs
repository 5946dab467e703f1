//! The S7 probe's dry-run plan: one connection per TSAP, each with COTP connect, Setup
//! Communication, the SZL reads and our COTP DR.

use super::Safe;
use super::session::{
    S7SessionConfig, connect_request, disconnect_request, read_szl_follow_up_request,
    read_szl_request, setup_request,
};
use crate::inventory::Protocol;
use crate::profile::Profile;
use crate::protocols::plan::{ConnectionPlan, FollowUp, ProbePlan};
use crate::safety::SafeRequest;

/// What an S7 probe sends to one host under `p`, in order: for each TSAP the session
/// tries, the requests it sends on that connection to a CPU that answers, built by the
/// session's own request builders from the session's own configuration, down to the COTP
/// DR that closes the connection (a request on the wire like any other: it is paced and
/// counted).
pub fn probe_plan(p: &Profile) -> ProbePlan {
    let cfg = S7SessionConfig::from_profile(p);
    let connections = cfg
        .tsaps
        .iter()
        .map(|&tsap| {
            // PDU references run on from the session's first (setup, then each SZL).
            let mut pdu_ref = cfg.first_pdu_ref;
            let mut next_ref = || {
                let r = pdu_ref;
                pdu_ref = pdu_ref.wrapping_add(1).max(1);
                r
            };
            let mut requests = vec![
                SafeRequest::S7(Safe::Connect(connect_request(&cfg, tsap))),
                SafeRequest::S7(Safe::Setup(setup_request(&cfg, next_ref()))),
            ];
            for &szl_id in &cfg.szl_ids {
                requests.push(SafeRequest::S7(Safe::ReadSzl(read_szl_request(
                    next_ref(),
                    szl_id,
                ))));
            }
            // The CPU's reference is not known before its CC; 0 stands for it.
            requests.push(SafeRequest::S7(Safe::Disconnect(disconnect_request(&cfg, 0))));
            // A fragmented answer: the session asks for each further piece, at most
            // max_szl_pieces pieces per answer (the first is the answer itself).
            let follow_ups = cfg
                .szl_ids
                .iter()
                .map(|&szl_id| FollowUp {
                    // The sequence number comes from the CPU's answer (the guard refuses
                    // 0); it changes no length.
                    request: SafeRequest::S7(Safe::ReadSzlFollowUp(read_szl_follow_up_request(
                        cfg.first_pdu_ref,
                        1,
                    ))),
                    at_most: cfg.max_szl_pieces.saturating_sub(1),
                    when: format!(
                        "one per further piece of a fragmented SZL 0x{szl_id:04x} answer (before the DR)"
                    ),
                })
                .filter(|f| f.at_most > 0)
                .collect();
            ConnectionPlan {
                follow_ups,
                purpose: format!("TSAP {}", describe_tsap(tsap)),
                requests,
            }
        })
        .collect::<Vec<ConnectionPlan>>();
    ProbePlan {
        best_requests: connections.first().map_or(0, |c| c.requests.len()),
        protocol: Protocol::S7,
        port: cfg.port,
        transport: "tcp",
        connections,
        stop_rule: "one connection per TSAP, stops at the first TSAP the CPU accepts; \
                    fragmented SZL answers add read_szl_follow_up requests",
        notes: Vec::new(),
    }
}

/// `0x0102 (PG, rack 0, slot 2)`.
pub fn describe_tsap(tsap: u16) -> String {
    let kind = match tsap >> 8 {
        1 => "PG",
        2 => "OP",
        3 => "S7-basic",
        _ => "unknown type",
    };
    let low = tsap & 0xff;
    format!(
        "0x{tsap:04x} ({kind}, rack {}, slot {})",
        low >> 5,
        low & 0x1f
    )
}
