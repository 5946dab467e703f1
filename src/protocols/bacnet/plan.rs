//! The BACnet/IP probe's dry-run plan: ReadPropertyMultiple of the Device object's identity
//! properties with the wildcard instance; when refused, the same by ReadProperty; when the
//! wildcard is unknown, one unicast Who-Is first.

use super::safe::{Safe, WILDCARD};
use crate::inventory::Protocol;
use crate::profile::Profile;
use crate::protocols::plan::{ConnectionPlan, ProbePlan};
use crate::safety::SafeRequest;
use crate::wire::bacnet::property;

/// What a BACnet probe sends to one host under `p`, in order (worst case).
pub fn probe_plan(p: &Profile) -> ProbePlan {
    let b = &p.bacnet;
    let mut requests = vec![SafeRequest::Bacnet(Safe::ReadIdentity {
        invoke_id: 1,
        instance: WILDCARD,
    })];
    let mut notes = Vec::new();
    if b.who_is_fallback {
        requests.push(SafeRequest::Bacnet(Safe::WhoIs));
        notes.push("who-is (unicast) only when the device answers the wildcard instance with unknown-object".into());
    }
    if b.read_property_fallback {
        for prop in property::IDENTITY {
            requests.push(SafeRequest::Bacnet(Safe::ReadProperty {
                invoke_id: 2,
                instance: WILDCARD,
                property: prop,
            }));
        }
        notes.push("readproperty one at a time only when readpropertymultiple is refused".into());
    }
    ProbePlan {
        protocol: Protocol::Bacnet,
        port: b.port,
        transport: "udp",
        best_requests: 1,
        connections: vec![ConnectionPlan {
            purpose: "device object identity".into(),
            requests,
            follow_ups: Vec::new(),
        }],
        stop_rule: "one answered readpropertymultiple",
        notes,
    }
}
