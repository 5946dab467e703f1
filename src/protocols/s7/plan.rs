//! The S7 probe's dry-run plan: one connection per TSAP, each with COTP connect, Setup
//! Communication and the SZL reads.

use super::Safe;
use super::safe::{CotpConnect, S7ReadSzl, S7SetupCommunication};
use crate::inventory::Protocol;
use crate::profile::Profile;
use crate::protocols::plan::{ConnectionPlan, ProbePlan};
use crate::safety::SafeRequest;

/// What an S7 probe sends to one host under `p`, in order.
pub fn probe_plan(p: &Profile) -> ProbePlan {
    let connections =
        p.s7.tsaps
            .iter()
            .map(|&tsap| {
                let mut requests = vec![
                    SafeRequest::S7(Safe::Connect(CotpConnect {
                        src_ref: 1,
                        calling_tsap: p.s7.local_tsap,
                        called_tsap: tsap,
                        tpdu_size_code: 0x0a,
                    })),
                    SafeRequest::S7(Safe::Setup(S7SetupCommunication {
                        pdu_ref: 1,
                        max_amq_calling: 1,
                        max_amq_called: 1,
                        pdu_length: p.s7.pdu_length,
                    })),
                ];
                for (i, &szl_id) in p.s7.szl_ids.iter().enumerate() {
                    requests.push(SafeRequest::S7(Safe::ReadSzl(S7ReadSzl {
                        pdu_ref: 2 + i as u16,
                        szl_id,
                        szl_index: 0,
                    })));
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
        port: p.s7.port,
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
