//! A probe's report from its drive: the request tallies, the observations with their
//! provenance, and the outcome judged from what the device said.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::Ctx;
use crate::inventory::{Fact, NoAnswerKind, Observation, Protocol, Provenance, Transport};
use crate::probe::ConnectionLoss;
use crate::probe::driver::{DriveEnd, DriveReport};
use crate::probe::report::{ProbeOutcome, ProbeReport, RequestTally};

pub(super) fn probe_report(
    ctx: &Ctx,
    ip: IpAddr,
    protocol: Protocol,
    port: u16,
    transport: Transport,
    started: DateTime<Utc>,
    drive: DriveReport,
) -> ProbeReport {
    let mut tallies: BTreeMap<&'static str, RequestTally> = BTreeMap::new();
    for s in &drive.sent {
        tallies
            .entry(s.kind)
            .and_modify(|t| {
                t.count += 1;
                t.last = s.at;
            })
            .or_insert_with(|| RequestTally {
                kind: s.kind.to_owned(),
                count: 1,
                first: s.at,
                last: s.at,
            });
    }
    let seen = drive.sent.last().map_or(started, |s| s.at);
    let observations: Vec<Observation> = drive
        .findings
        .iter()
        .map(|f| {
            observation(
                ctx,
                ip,
                f.fact.clone(),
                f.request,
                seen,
                f.raw.as_deref().map(hex::encode),
            )
        })
        .chain(drive.sub_findings.iter().map(|(path, f)| Observation {
            path: Some(path.clone()),
            ..observation(
                ctx,
                ip,
                f.fact.clone(),
                f.request,
                seen,
                f.raw.as_deref().map(hex::encode),
            )
        }))
        .collect();
    let mut observations = observations;
    if let Some((request, at)) = service_evidence(transport, &drive) {
        // An open service is worth recording on its own: a device that accepts a
        // connection but never answers (a hung RTU) is still an asset.
        observations.push(observation(
            ctx,
            ip,
            Fact::Service {
                transport,
                port,
                protocol,
            },
            request,
            at.unwrap_or(started),
            None,
        ));
    }
    let (outcome, mut detail) = classify(&drive, &observations);
    if let DriveEnd::Tripped(reason) = &drive.end {
        detail = Some(format!("breaker opened: {reason}"));
    }
    ProbeReport {
        protocol,
        transport,
        port,
        outcome,
        detail,
        started,
        finished: Utc::now(),
        connections: drive.connections,
        requests: tallies.into_values().collect(),
        observations,
        cut_short: false,
    }
}

/// Adds `more` to `into`, kind by kind.
pub(super) fn absorb_requests(into: &mut Vec<RequestTally>, more: &[RequestTally]) {
    for m in more {
        match into.iter_mut().find(|t| t.kind == m.kind) {
            Some(t) => {
                t.count += m.count;
                t.first = t.first.min(m.first);
                t.last = t.last.max(m.last);
            }
            None => into.push(m.clone()),
        }
    }
    into.sort_by(|a, b| a.kind.cmp(&b.kind));
}

/// Whether the drive shows a service listening, and the request that showed it: a TCP
/// connect that succeeded (`tcp_connect`), or a UDP reply (the first request sent).
fn service_evidence(
    transport: Transport,
    drive: &DriveReport,
) -> Option<(&'static str, Option<DateTime<Utc>>)> {
    match transport {
        Transport::Tcp if drive.connections > 0 => {
            Some(("tcp_connect", drive.sent.first().map(|s| s.at)))
        }
        Transport::Udp if drive.replies > 0 => drive.sent.first().map(|s| (s.kind, Some(s.at))),
        _ => None,
    }
}

/// The outcome of a probe, from what the device said first and from how the drive ended
/// when it said nothing.
fn classify(drive: &DriveReport, obs: &[Observation]) -> (ProbeOutcome, Option<String>) {
    match &drive.end {
        DriveEnd::Guard(e) => return (ProbeOutcome::GuardRefused, Some(e.to_string())),
        DriveEnd::Local(e) => return (ProbeOutcome::LocalError, Some(e.clone())),
        DriveEnd::Runaway(what) => {
            return (ProbeOutcome::LocalError, Some(format!("cut off: {what}")));
        }
        DriveEnd::Stopped | DriveEnd::Done | DriveEnd::Tripped(_) | DriveEnd::LeftOpen => {}
    }
    let has = |pred: &dyn Fn(&Fact) -> bool| obs.iter().any(|o| pred(&o.fact));
    if has(&|f| matches!(f, Fact::Identity { .. })) {
        return (ProbeOutcome::Identified, None);
    }
    if has(&|f| matches!(f, Fact::Suspicious { .. })) {
        return (ProbeOutcome::Suspicious, None);
    }
    if has(&|f| matches!(f, Fact::Negative { .. })) {
        return (ProbeOutcome::Negative, None);
    }
    if has(&|f| matches!(f, Fact::NoIdentity { .. })) {
        return (ProbeOutcome::AnsweredNoIdentity, None);
    }
    if drive.end == DriveEnd::Stopped {
        return (ProbeOutcome::Interrupted, Some("the scan stopped".into()));
    }
    let no_answer = obs.iter().find_map(|o| match o.fact {
        Fact::NoAnswer { outcome, .. } => Some(outcome),
        _ => None,
    });
    let from_session = no_answer.map(|k| match k {
        NoAnswerKind::Refused => ProbeOutcome::Refused,
        NoAnswerKind::Timeout => {
            if drive.connections == 0 {
                ProbeOutcome::ConnectTimeout
            } else {
                ProbeOutcome::Timeout
            }
        }
        NoAnswerKind::Reset => ProbeOutcome::Reset,
        NoAnswerKind::NotThisProtocol => ProbeOutcome::NotThisProtocol,
        NoAnswerKind::CircuitOpen => ProbeOutcome::CircuitOpen,
        // Added by the orchestrator after this; a session never says it.
        NoAnswerKind::HeldOpen => ProbeOutcome::NotThisProtocol,
    });
    if let Some(o) = from_session {
        return (o, None);
    }
    // The session said nothing: judge by the transport's history.
    let last = drive.losses.last().copied();
    let outcome = match last {
        Some(ConnectionLoss::Reset) => ProbeOutcome::Reset,
        Some(ConnectionLoss::Refused) => ProbeOutcome::Refused,
        Some(ConnectionLoss::ConnectTimeout) if drive.connections == 0 => {
            ProbeOutcome::ConnectTimeout
        }
        _ if drive.timeouts > 0 => ProbeOutcome::Timeout,
        Some(ConnectionLoss::Closed) => ProbeOutcome::NotThisProtocol,
        _ => ProbeOutcome::NotThisProtocol,
    };
    (outcome, None)
}

pub(super) fn observation(
    ctx: &Ctx,
    ip: IpAddr,
    fact: Fact,
    request: &str,
    seen: DateTime<Utc>,
    raw_hex: Option<String>,
) -> Observation {
    Observation {
        ip,
        fact,
        provenance: Provenance::Active {
            scan_id: ctx.scan_id.clone(),
            profile: ctx.profile.name.clone(),
            profile_sha256: ctx.profile_sha256.clone(),
            request: request.to_owned(),
        },
        seen: Some(seen),
        raw_hex,
        path: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation_of(fact: Fact) -> Observation {
        Observation {
            ip: "10.0.0.1".parse().unwrap(),
            fact,
            provenance: Provenance::Pcap {
                file: "t".into(),
                frame: 1,
            },
            seen: None,
            raw_hex: None,
            path: None,
        }
    }

    #[test]
    fn zero_identity_objects_is_its_own_outcome_and_not_identified() {
        let drive = DriveReport {
            end: DriveEnd::Done,
            findings: vec![],
            sub_findings: vec![],
            sent: vec![],
            connections: 1,
            losses: vec![],
            timeouts: 0,
            replies: 1,
            left_open: None,
        };
        // Any protocol: the outcome follows from the kind of fact, not from its protocol.
        let protocol = crate::protocols::REGISTRY[0].protocol();
        let empty = observation_of(Fact::NoIdentity {
            protocol,
            port: 502,
            answer: crate::wire::modbus::no_identity_objects_answer(1, 1),
        });
        assert_eq!(
            classify(&drive, std::slice::from_ref(&empty)).0,
            ProbeOutcome::AnsweredNoIdentity
        );
        assert_eq!(
            ProbeOutcome::AnsweredNoIdentity.to_string(),
            "answered_no_identity"
        );
        assert!(!ProbeOutcome::AnsweredNoIdentity.is_error());
        // An exception besides it is the device saying no.
        let exc = observation_of(Fact::Negative {
            protocol,
            port: 502,
            answer: "unit 2 answered with exception 0x02".into(),
        });
        assert_eq!(classify(&drive, &[empty, exc]).0, ProbeOutcome::Negative);
    }
}
