//! A host's vendor-rule timing: the longer interval and cool-down a matching vendor rule
//! asks for (`Profile::rules_for`), on top of what [`crate::pace::Pacer`] enforces from
//! the profile. The driver waits for both; this only ever adds delay.
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
}
