//! The Fox probe's dry-run plan: the minimal hello on one connection, nothing after it.

use super::safe::Safe;
use crate::inventory::Protocol;
use crate::profile::Profile;
use crate::protocols::plan::{ConnectionPlan, ProbePlan};
use crate::safety::SafeRequest;

/// What a Fox probe sends to one host under `p`.
pub fn probe_plan(p: &Profile) -> ProbePlan {
    ProbePlan {
        protocol: Protocol::Fox,
        port: p.fox.port,
        transport: "tcp",
        best_requests: 1,
        connections: vec![ConnectionPlan {
            purpose: "minimal hello (fox.version and id)".into(),
            requests: vec![SafeRequest::Fox(Safe::MinimalHello)],
            follow_ups: Vec::new(),
        }],
        stop_rule: "the station's hello; its login challenge is never answered",
        notes: vec![format!(
            "tls fox (port {}) is never opened",
            super::TLS_PORT
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::plan::shown;
    use crate::protocols::session::{Session, Step};
    use std::time::Instant;

    /// The one request the session sends is the plan's; after the station's answer it
    /// sends nothing more.
    #[test]
    fn plan_is_what_the_session_sends() {
        let mut p = crate::profile::builtin("conservative").unwrap().profile;
        p.fox.enabled = true;
        let plan = probe_plan(&p);
        let mut s = super::super::session::FoxSession::new(
            super::super::session::FoxSessionConfig::from_profile(&p, p.fox.port),
        );
        let t = Instant::now();
        let Step::Send(r) = Session::on_connected(&mut s, t) else {
            panic!()
        };
        assert_eq!(shown(&[r]), shown(&plan.connections[0].requests));
        let station = b"fox a 0 -1 fox hello\n{\nfox.version=s:1.0\nstation.name=s:x\n};;\n";
        assert_eq!(Session::on_bytes(&mut s, t, station), Step::Done);
        assert_eq!(plan.worst_requests(), 1);
    }
}
