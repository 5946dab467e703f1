//! The FINS probe's dry-run plan: one Controller Data Read (over TCP after the node-address
//! handshake, on the same connection).

use super::safe::{Safe, Transport};
use super::settings::FinsTransport;
use crate::inventory::Protocol;
use crate::profile::Profile;
use crate::protocols::plan::{ConnectionPlan, ProbePlan};
use crate::safety::SafeRequest;

/// What a FINS probe sends to one host under `p`, in order.
pub fn probe_plan(p: &Profile) -> ProbePlan {
    let f = &p.fins;
    let (transport, requests, purpose, note) = match f.transport {
        FinsTransport::Udp => (
            "udp",
            vec![SafeRequest::Fins(Safe::ControllerDataRead {
                transport: Transport::Udp,
                dest_node: 0,
                source_node: f.fallback_source_node,
                sid: 1,
            })],
            "controller data read (the unit the datagram reaches)",
            format!(
                "source node: the last octet of otscout's own address ({} when it is 0 or 255 or ipv6)",
                f.fallback_source_node
            ),
        ),
        FinsTransport::Tcp => (
            "tcp",
            vec![
                SafeRequest::Fins(Safe::NodeAddressRequest),
                // The nodes come from the handshake's answer; they change no length.
                SafeRequest::Fins(Safe::ControllerDataRead {
                    transport: Transport::Tcp,
                    dest_node: 0,
                    source_node: 0,
                    sid: 1,
                }),
            ],
            "node-address handshake, then controller data read",
            "nodes: the ones the unit's node-address answer gives (shown as 0)".to_string(),
        ),
    };
    ProbePlan {
        protocol: Protocol::Fins,
        port: f.port,
        transport,
        best_requests: requests.len(),
        connections: vec![ConnectionPlan {
            purpose: purpose.into(),
            requests,
            follow_ups: Vec::new(),
        }],
        stop_rule: "one controller data read answer (or end code)",
        notes: vec![note],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::plan::shown;
    use crate::protocols::session::{Session, Step};
    use std::time::Instant;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn profile(t: FinsTransport) -> Profile {
        let mut p = crate::profile::builtin("conservative").unwrap().profile;
        p.fins.enabled = true;
        p.fins.transport = t;
        p
    }

    fn session(p: &Profile) -> super::super::session::FinsSession {
        super::super::session::FinsSession::new(
            super::super::session::FinsSessionConfig::from_profile(p, p.fins.port),
        )
    }

    /// UDP: the one datagram the session sends (local address without a node number:
    /// the fallback) is the plan's, detail included.
    #[test]
    fn plan_is_what_the_session_sends_udp() {
        let p = profile(FinsTransport::Udp);
        let plan = probe_plan(&p);
        let mut s = session(&p);
        Session::on_local_addr(&mut s, "::1".parse().unwrap());
        let Step::Send(r) = Session::on_connected(&mut s, Instant::now()) else {
            panic!()
        };
        assert_eq!(shown(&[r]), shown(&plan.connections[0].requests));
        assert_eq!(plan.transport, "udp");
        assert_eq!(plan.worst_requests(), 1);
    }

    /// The source node is our own address's last octet (a unit in automatic address
    /// conversion answers that host only).
    #[test]
    fn udp_source_node_is_our_last_octet() {
        let p = profile(FinsTransport::Udp);
        let mut s = session(&p);
        Session::on_local_addr(&mut s, "10.1.1.173".parse().unwrap());
        let Step::Send(crate::safety::SafeRequest::Fins(r)) =
            Session::on_connected(&mut s, Instant::now())
        else {
            panic!()
        };
        assert_eq!(
            r,
            Safe::ControllerDataRead {
                transport: Transport::Udp,
                dest_node: 0,
                source_node: 173,
                sid: 1
            }
        );
    }

    /// TCP: the handshake then the read, in the plan's order and lengths (the nodes come
    /// from the unit's answer: frame 7 of omron_test.pcap).
    #[test]
    fn plan_is_what_the_session_sends_tcp() {
        let p = profile(FinsTransport::Tcp);
        let plan = probe_plan(&p);
        let t = Instant::now();
        let mut s = session(&p);
        Session::on_local_addr(&mut s, "127.0.0.1".parse().unwrap());
        let mut sent = Vec::new();
        let Step::Send(r) = Session::on_connected(&mut s, t) else {
            panic!()
        };
        sent.push(r);
        let f7 = hex("46494e53 00000010 00000001 00000000 000000fb 000000c8");
        let Step::Send(r) = Session::on_bytes(&mut s, t, &f7) else {
            panic!()
        };
        sent.push(r);
        let kinds_lens = |v: &[SafeRequest]| {
            shown(v)
                .into_iter()
                .map(|(k, _, n)| (k, n))
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds_lens(&sent), kinds_lens(&plan.connections[0].requests));
        assert_eq!(plan.transport, "tcp");
    }
}
