//! A session held to the request budget a resumed scan leaves a probe.

use crate::inventory::{Identity, Protocol};
use crate::probe::{ConnectionLoss, Finding, Session, Step};

/// A session held to a budget of requests (`--resume`: what earlier runs sent a probe
/// counts against its plan). When the budget is spent, the next request is not asked
/// for: the session is finished instead (the driver closes with FIN).
#[derive(Debug)]
pub(super) struct Budgeted {
    pub(super) inner: Box<dyn Session>,
    /// Requests still allowed; `None`: no budget beyond the driver's own caps.
    pub(super) left: Option<u64>,
    /// A request was held back.
    pub(super) spent: bool,
}

impl Budgeted {
    fn check(&mut self, step: Step) -> Step {
        match (step, self.left.as_mut()) {
            (Step::Send(_), Some(0)) => {
                self.spent = true;
                Step::Done
            }
            // A new connection for nothing to send on it: finish instead.
            (Step::Reconnect, Some(0)) => {
                self.spent = true;
                Step::Done
            }
            (Step::Send(r), Some(left)) => {
                *left -= 1;
                Step::Send(r)
            }
            (step, _) => step,
        }
    }
}

impl Session for Budgeted {
    fn protocol(&self) -> Protocol {
        self.inner.protocol()
    }
    fn on_connected(&mut self, now: std::time::Instant) -> Step {
        let s = self.inner.on_connected(now);
        self.check(s)
    }
    fn on_bytes(&mut self, now: std::time::Instant, bytes: &[u8]) -> Step {
        let s = self.inner.on_bytes(now, bytes);
        self.check(s)
    }
    fn on_timeout(&mut self, now: std::time::Instant) -> Step {
        let s = self.inner.on_timeout(now);
        self.check(s)
    }
    fn on_connection_lost(&mut self, now: std::time::Instant, why: ConnectionLoss) -> Step {
        let s = self.inner.on_connection_lost(now, why);
        self.check(s)
    }
    fn poll_timeout(&self) -> Option<std::time::Instant> {
        self.inner.poll_timeout()
    }
    fn take_findings(&mut self) -> Vec<Finding> {
        self.inner.take_findings()
    }
    fn take_sub_findings(&mut self) -> Vec<(String, Finding)> {
        self.inner.take_sub_findings()
    }
    fn identity_so_far(&self) -> Option<Identity> {
        self.inner.identity_so_far()
    }
    fn max_connections(&self) -> u32 {
        self.inner.max_connections()
    }
}
