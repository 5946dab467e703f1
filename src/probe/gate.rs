//! A host's vendor-rule timing: the longer interval and cool-down a matching vendor rule
//! asks for (`Profile::rules_for`), on top of what [`crate::pace::Pacer`] enforces from
//! the profile. The driver waits for both; this only ever adds delay. It is the only
//! place vendor timing lives: the Pacer holds the profile's numbers and nothing else.
//!
//! Pure arithmetic over an injected `now`; the driver does the sleeping.

use std::time::Duration;

use tokio::time::Instant;

/// One host's extra timing. Owned by the host's task (a host is probed by one task).
#[derive(Debug, Clone)]
pub struct HostClock {
    pub interval: Duration,
    pub cooldown: Duration,
    last_request: Option<Instant>,
    last_close: Option<Instant>,
    last_attempt: Option<Instant>,
}

impl HostClock {
    pub fn new(interval: Duration, cooldown: Duration) -> HostClock {
        HostClock {
            interval,
            cooldown,
            last_request: None,
            last_close: None,
            last_attempt: None,
        }
    }

    /// The earliest time the next request to this host may go out.
    pub fn next_request_at(&self, now: Instant) -> Instant {
        self.last_request
            .map_or(now, |t| (t + self.interval).max(now))
    }

    /// The earliest time the next connection to this host may open.
    /// The cool-down runs from the last close (both sides closed: the device's FIN after
    /// ours); two attempts are an interval apart.
    pub fn next_connect_at(&self, now: Instant) -> Instant {
        let after_close = self.last_close.map_or(now, |t| t + self.cooldown);
        let after_attempt = self.last_attempt.map_or(now, |t| t + self.interval);
        after_close.max(after_attempt).max(now)
    }

    /// A connection attempt (a SYN) went out at `at`.
    pub fn attempted(&mut self, at: Instant) {
        self.last_attempt = Some(at);
    }

    pub fn requested(&mut self, at: Instant) {
        self.last_request = Some(at);
    }

    pub fn closed(&mut self, at: Instant) {
        self.last_close = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_clock_spacing() {
        let t0 = Instant::now();
        let mut c = HostClock::new(Duration::from_millis(50), Duration::from_millis(200));
        assert_eq!(c.next_request_at(t0), t0);
        assert_eq!(c.next_connect_at(t0), t0);
        c.requested(t0);
        assert_eq!(c.next_request_at(t0), t0 + Duration::from_millis(50));
        c.closed(t0);
        assert_eq!(c.next_connect_at(t0), t0 + Duration::from_millis(200));
    }

    #[test]
    fn a_refused_attempt_holds_the_interval_only() {
        let t0 = Instant::now();
        let mut c = HostClock::new(Duration::from_millis(50), Duration::from_millis(200));
        c.attempted(t0);
        assert_eq!(c.next_connect_at(t0), t0 + Duration::from_millis(50));
        c.closed(t0 + Duration::from_millis(10));
        assert_eq!(c.next_connect_at(t0), t0 + Duration::from_millis(210));
    }

    /// How the driver combines the two clocks: it waits until both the Pacer (the
    /// profile) and the host's clock (the vendor rule) allow. A rule slows its own host
    /// only, and cannot make anything shorter than the profile's.
    #[test]
    fn a_vendor_rule_slows_its_host_only_and_never_below_the_profile() {
        use std::net::{IpAddr, Ipv4Addr};

        use crate::pace::{Limits, Pacer};
        use crate::profile::Pacing;

        fn ready(deny: Result<(), crate::pace::Deny>, now: std::time::Instant) -> Instant {
            match deny {
                Ok(()) => Instant::from_std(now),
                Err(crate::pace::Deny::Until(t)) => Instant::from_std(t),
                Err(other) => panic!("unexpected {other:?}"),
            }
        }

        let mut pacing: Pacing = crate::profile::builtin("conservative")
            .expect("built-in conservative")
            .profile
            .pacing;
        pacing.host_interval_ms = 100;
        pacing.cooldown_ms = 500;
        let limits = Limits::from_pacing(&pacing);
        let (slow, other) = (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        );
        let mut p = Pacer::new(limits);
        // The rule: a 2 s interval and a 1 ms cool-down (shorter than the profile's).
        let mut rule = HostClock::new(Duration::from_secs(2), Duration::from_millis(1));
        let mut plain = HostClock::new(limits.host_interval, limits.cooldown);
        let t0 = std::time::Instant::now();
        let tk = Instant::from_std(t0);
        for (host, clock) in [(slow, &mut rule), (other, &mut plain)] {
            p.on_connect(host, t0).unwrap();
            p.on_send(host, t0).unwrap();
            clock.requested(tk);
            p.on_reply(host, t0);
        }
        let later = t0 + Duration::from_millis(150);
        let lk = Instant::from_std(later);
        let next = |p: &Pacer, c: &HostClock, host| {
            ready(p.may_send(host, later), later).max(c.next_request_at(lk))
        };
        assert_eq!(next(&p, &rule, slow), tk + Duration::from_secs(2));
        assert_eq!(next(&p, &plain, other), lk);

        // The cool-down: the profile's 500 ms holds against the rule's 1 ms.
        let closed = t0 + Duration::from_secs(3);
        let ck = Instant::from_std(closed);
        p.on_close(slow, closed);
        rule.closed(ck);
        let at = ready(p.may_connect(slow, closed), closed).max(rule.next_connect_at(ck));
        assert_eq!(at, ck + Duration::from_millis(500));
    }
}
