//! The Modbus probe's dry-run plan: one connection per unit id the session tries, each
//! with the read codes it asks.

use super::Safe;
use super::safe::ModbusReadDeviceId;
use super::session::ModbusSessionConfig;
use crate::inventory::Protocol;
use crate::profile::Profile;
use crate::protocols::plan::{ConnectionPlan, ProbePlan};
use crate::safety::SafeRequest;

/// What a Modbus probe sends to one host under `p`, in order, from the session's own
/// configuration (its unit ids come from [`unit_plan`](super::session::unit_plan)).
pub fn probe_plan(p: &Profile) -> ProbePlan {
    let cfg = ModbusSessionConfig::from_profile(p);
    let mut tid = cfg.first_transaction_id;
    let units = &cfg.unit_ids;
    // One connection per unit id at most: a unit that answers ends the probe, a
    // gateway exception (0x0A/0x0B) moves on on the same connection, and a unit that
    // stays silent gets no other request on its connection: the next unit id goes out
    // on a new one, after the cool-down (SAFETY.md, hard limits).
    let connections = units
        .iter()
        .enumerate()
        .map(|(i, &unit_id)| ConnectionPlan {
            purpose: match i {
                0 => format!("unit id {unit_id}"),
                _ => format!(
                    "unit id {unit_id}, if unit id {} did not answer (a new connection after a timeout)",
                    units[i - 1]
                ),
            },
            requests: cfg
                .read_codes
                .iter()
                .map(|&read_code| {
                    // Stream read codes start at object 0, as the session asks them.
                    let r = ModbusReadDeviceId {
                        transaction_id: tid,
                        unit_id,
                        read_code,
                        object_id: 0,
                    };
                    tid = tid.wrapping_add(1);
                    SafeRequest::Modbus(Safe::ReadDeviceId(r))
                })
                .collect(),
        })
        .collect::<Vec<_>>();
    ProbePlan {
        protocol: Protocol::Modbus,
        port: cfg.port,
        transport: "tcp",
        connections,
        stop_rule: "stops at the first unit id that answers; an exception reply is a finding; \
                    after a timeout nothing more is sent on that connection",
        best_requests: cfg.read_codes.len(),
        notes: breaker_note(p, units.len()).into_iter().collect(),
    }
}

/// The breaker counts each silent unit id (a response timeout) as a failure: with more
/// unit ids than `breaker_failures`, a device silent to the first ones is left alone
/// before the later ones are tried (the probe's result says "breaker opened").
fn breaker_note(p: &Profile, units: usize) -> Option<String> {
    let limit = p.pacing.breaker_failures as usize;
    (units > limit).then(|| {
        format!(
            "the breaker leaves a device alone after {limit} silent unit ids in a row (pacing.breaker_failures): unit ids after the {limit}th are tried only if an earlier one answered; raise breaker_failures (at most 20) for a gateway with silent units"
        )
    })
}
