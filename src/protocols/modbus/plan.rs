//! The Modbus probe's dry-run plan: one connection per unit id the session tries, each
//! with the read codes it asks and the further pages or objects a device can make it ask.

use super::Safe;
use super::safe::ModbusReadDeviceId;
use super::safe::ReadDeviceIdCode;
use super::session::ModbusSessionConfig;
use crate::inventory::Protocol;
use crate::profile::Profile;
use crate::protocols::plan::{ConnectionPlan, FollowUp, ProbePlan};
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
            follow_ups: follow_ups(&cfg, unit_id),
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
    // Then the units behind a gateway, each read only if the device proved one: on the
    // connection in use, and on a new one only after a unit stayed silent (the worst case
    // counted here: one connection per unit).
    let behind = cfg.behind_gateway();
    let mut connections = connections;
    connections.extend(behind.iter().map(|&unit_id| {
        ConnectionPlan {
            follow_ups: follow_ups(&cfg, unit_id),
            purpose: format!(
                "unit id {unit_id} behind a gateway ({}), only if the device answered 0x0a/0x0b{}; \
             a new connection only after the unit before stayed silent",
                super::identity::unit_path(unit_id),
                gateway_names(&cfg.gateway_identities)
            ),
            requests: cfg
                .read_codes
                .iter()
                .map(|&read_code| {
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
        }
    }));
    let mut notes: Vec<String> = breaker_note(p, units.len()).into_iter().collect();
    if !behind.is_empty() {
        notes.push(format!(
            "modbus: {} unit id(s) behind a gateway ({}) are read only on a device that proved a gateway; each answer is a sub-asset at modbus:unit/N",
            behind.len(),
            behind
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    ProbePlan {
        protocol: Protocol::Modbus,
        port: cfg.port,
        transport: "tcp",
        connections,
        stop_rule: if behind.is_empty() {
            "stops at the first unit id that answers; an exception reply is a finding; \
             after a timeout nothing more is sent on that connection"
        } else {
            "stops at the first of its own unit ids that answers, then reads every listed unit \
             behind a gateway; an exception reply is a finding; after a timeout nothing more is \
             sent on that connection"
        },
        best_requests: cfg.read_codes.len(),
        notes,
    }
}

/// How the plan names the identities that make a device a gateway.
fn gateway_names(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(" or its identity names one of: {}", names.join(", "))
    }
}

/// What a unit's answers can make the session ask beyond the first request of each read
/// code: the further pages of a stream read code whose reply says "more follows" (the
/// first reply counts as one page of `max_pages`), and the rest of the individual objects
/// the device did not already give.
fn follow_ups(cfg: &ModbusSessionConfig, unit_id: u8) -> Vec<FollowUp> {
    let pages = cfg.max_pages.clamp(1, super::session::MAX_PAGES_LIMIT);
    cfg.read_codes
        .iter()
        .filter_map(|&read_code| {
            let (at_most, when) = match read_code {
                ReadDeviceIdCode::Individual => (
                    cfg.individual_objects.len().saturating_sub(1),
                    "one per standard object the device has not given yet",
                ),
                _ => (
                    pages - 1,
                    "one per further page when a reply says more follows",
                ),
            };
            (at_most > 0).then(|| FollowUp {
                // The object id comes from the device's reply; it changes no length.
                request: SafeRequest::Modbus(Safe::ReadDeviceId(ModbusReadDeviceId {
                    transaction_id: cfg.first_transaction_id,
                    unit_id,
                    read_code,
                    object_id: 0,
                })),
                at_most,
                when: format!("read code 0x{:02x}, {when}", read_code.code()),
            })
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_shows_each_unit_behind_a_gateway_and_counts_it() {
        let mut p = crate::profile::builtin("conservative").unwrap().profile;
        let before = probe_plan(&p);
        assert_eq!(before.connections.len(), 2);
        p.modbus.gateway_units = vec![1, 2, 3];
        p.modbus.gateway_identities = vec!["MGate".into()];
        let plan = probe_plan(&p);
        assert_eq!(plan.connections.len(), 5);
        let behind: Vec<u8> = plan.connections[2..]
            .iter()
            .flat_map(|c| &c.requests)
            .map(|r| match r {
                SafeRequest::Modbus(Safe::ReadDeviceId(m)) => m.unit_id,
                other => panic!("{other:?}"),
            })
            .collect();
        // conservative asks basic and regular of each unit.
        assert_eq!(behind, [1, 1, 2, 2, 3, 3]);
        assert!(plan.connections[2].purpose.contains("modbus:unit/1"));
        assert!(plan.connections[2].purpose.contains("MGate"));
        // The worst case grows by each unit's requests and follow-ups.
        let per_unit = plan.connections[2].max_requests();
        assert_eq!(
            plan.worst_requests(),
            before.worst_requests() + 3 * per_unit
        );
        assert_eq!(plan.max_connections(), 5);
        assert!(
            plan.notes
                .iter()
                .any(|n| n.contains("3 unit id(s) behind a gateway (1, 2, 3)"))
        );
    }
}
