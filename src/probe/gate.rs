//! The pacing gate the driver waits on before every connect and every request.
//!
//! The policy (how long to wait) is plain arithmetic over an injected `now`; the gate
//! only sleeps. Until `crate::pace` lands with the shared policy this holds the minimal
//! glue the engine needs; the driver depends only on [`Gate`] and [`HostClock`], so the
//! policy can be swapped without touching it.
//!
//! # OT safety
//! - The global limit is a GCRA (virtual scheduling) over all hosts: in any interval of
//!   length `w`, at most `burst + w * max_rate` requests are issued.
//! - Per host, requests are at least `host_interval` apart and a new connection opens
//!   at least `cooldown` after the previous one closed.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The global request-rate limiter, shared by every host task.
#[derive(Debug)]
pub struct Gate {
    /// Time between two requests at the sustained rate.
    emission: Duration,
    /// How far ahead of the schedule a burst may run.
    tolerance: Duration,
    /// Theoretical arrival time of the next request (GCRA).
    tat: Mutex<Option<Instant>>,
}

impl Gate {
    /// A limiter for `max_rate` requests per second with bursts of `burst`.
    /// `max_rate` must be positive and finite (the profile validation checks it; a bad
    /// value here falls back to one request per second rather than no limit).
    pub fn new(max_rate: f64, burst: u32) -> Gate {
        let rate = if max_rate.is_finite() && max_rate > 0.0 {
            max_rate
        } else {
            1.0
        };
        let emission = Duration::from_secs_f64(1.0 / rate);
        Gate {
            emission,
            tolerance: emission * burst.saturating_sub(1),
            tat: Mutex::new(None),
        }
    }

    /// Reserves the next request slot at or after `now` and returns when it is.
    pub fn reserve(&self, now: Instant) -> Instant {
        let mut tat = self.tat.lock().unwrap_or_else(|p| p.into_inner());
        let t = tat.unwrap_or(now).max(now);
        let allowed = (t.checked_sub(self.tolerance).unwrap_or(now)).max(now);
        *tat = Some(t.max(allowed) + self.emission);
        allowed
    }

    /// Waits for a request slot.
    pub async fn acquire(&self) {
        let at = self.reserve(Instant::now());
        tokio::time::sleep_until(at).await;
    }
}

/// One host's timing: the per-host interval between requests and the cool-down between
/// connections. Owned by the host's task (a host is probed by one task at a time).
#[derive(Debug, Clone)]
pub struct HostClock {
    pub interval: Duration,
    pub cooldown: Duration,
    last_request: Option<Instant>,
    last_close: Option<Instant>,
}

impl HostClock {
    pub fn new(interval: Duration, cooldown: Duration) -> HostClock {
        HostClock {
            interval,
            cooldown,
            last_request: None,
            last_close: None,
        }
    }

    /// The earliest time the next request to this host may go out.
    pub fn next_request_at(&self, now: Instant) -> Instant {
        self.last_request
            .map_or(now, |t| (t + self.interval).max(now))
    }

    /// The earliest time the next connection to this host may open.
    pub fn next_connect_at(&self, now: Instant) -> Instant {
        self.last_close
            .map_or(now, |t| (t + self.cooldown).max(now))
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
    fn gcra_holds_rate_and_burst() {
        let g = Gate::new(10.0, 3);
        let t0 = Instant::now();
        let slots: Vec<Duration> = (0..9).map(|_| g.reserve(t0) - t0).collect();
        // Three at once, then one every 100 ms.
        assert_eq!(slots[0], Duration::ZERO);
        assert_eq!(slots[1], Duration::ZERO);
        assert_eq!(slots[2], Duration::ZERO);
        assert_eq!(slots[3], Duration::from_millis(100));
        assert_eq!(slots[8], Duration::from_millis(600));
        // Any window of length w holds at most burst + w*rate slots.
        for (i, a) in slots.iter().enumerate() {
            let in_window = slots[i..]
                .iter()
                .filter(|b| **b - *a < Duration::from_millis(500))
                .count();
            assert!(
                in_window <= 3 + 5,
                "{in_window} slots in 500 ms from slot {i}"
            );
        }
    }

    #[test]
    fn idle_gate_refills_but_not_beyond_burst() {
        let g = Gate::new(100.0, 2);
        let t0 = Instant::now();
        g.reserve(t0);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(g.reserve(later), later);
        assert_eq!(g.reserve(later), later);
        assert_eq!(g.reserve(later), later + Duration::from_millis(10));
    }

    #[test]
    fn host_clock_spacing() {
        let t0 = Instant::now();
        let mut c = HostClock::new(Duration::from_millis(50), Duration::from_millis(200));
        assert_eq!(c.next_request_at(t0), t0);
        c.requested(t0);
        assert_eq!(c.next_request_at(t0), t0 + Duration::from_millis(50));
        c.closed(t0);
        assert_eq!(c.next_connect_at(t0), t0 + Duration::from_millis(200));
    }
}
