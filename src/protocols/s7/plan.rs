//! The S7 probe's dry-run plan: one connection per TSAP, each with COTP connect, Setup
//! Communication and the SZL reads.

use super::Safe;
use super::session::{S7SessionConfig, connect_request, read_szl_request, setup_request};
use crate::inventory::Protocol;
use crate::profile::Profile;
use crate::protocols::plan::{ConnectionPlan, ProbePlan};
use crate::safety::SafeRequest;

/// What an S7 probe sends to one host under `p`, in order: for each TSAP the session
/// tries, the requests it sends on that connection to a CPU that answers, built by the
/// session's own request builders from the session's own configuration.
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
            ConnectionPlan {
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
