//! The pacing policy: when otscout may connect to a host and when it may send.
//!
//! [`Pacer`] is pure: it never reads a clock and never sleeps. Every call takes `now`
//! (a [`std::time::Instant`] the caller supplies), so tests drive it with fake time. It
//! holds, for one scan:
//! - **a per-host discipline**: at most one connection per host at a time (open from the
//!   connect until both sides have closed it: after our FIN the device may still hold its
//!   side and send), at most one
//!   request in flight per connection, a cool-down between a close (or a timed-out
//!   connect) and the next connect to the same host, a minimum interval between two
//!   requests to one host (across connections) and between two connection attempts to it
//!   (all a refused connect holds), retries with exponential backoff, and a circuit breaker per host that
//!   records why it tripped;
//! - **a global limit**: a token bucket (implemented as GCRA, exact integer arithmetic)
//!   over all requests, `max_rate` per second with `burst` tokens;
//! - **hosts in flight**: how many hosts are being worked on at once.
//!
//! [`edge::GlobalGate`] wraps the `governor` crate for the real clock; the tokio driver
//! takes a token from it after the Pacer grants a request, as a second, independent belt
//! on the global rate ([`edge::GlobalGate::belt`]: the same rate with one token of slack,
//! so it never binds while the Pacer is right, and still holds the rate if the Pacer were
//! wrong). Note that governor waits on its own clock, so `tokio::time::pause()` does not
//! control it: tests use [`Pacer`].
//!
//! # How the driver uses it
//! ```text
//! loop over hosts (the Pacer refuses a new host while hosts_in_flight are busy):
//!   pacer.may_connect(host, now)   Ok  -> pacer.on_connect(host, now)?; open the socket
//!                                  Err(Deny::Until(t)) -> sleep until t, ask again
//!                                  Err(Deny::Tripped(_)) / Err(Deny::Busy) -> skip / wait
//!   vendor known (rules_for)       -> the host's probe::gate::HostClock takes the rule's longer
//!                                     interval and cool-down; the driver waits for it and the Pacer
//!   connected: for each Step::Send(req):
//!     pacer.may_send(host, now)    Ok  -> pacer.on_send(host, now)?; write the frame
//!                                  Err(Deny::Until(t)) -> sleep until t, ask again
//!     reply arrived                -> pacer.on_reply(host, now)
//!     connect refused              -> pacer.on_refused(host, now)   (an answer: interval only)
//!     timeout / reset              -> pacer.on_failure(host, now, kind) -> Retry(at) | GiveUp | Tripped
//!   our FIN sent (shutdown)        -> pacer.on_half_closed(host, now)   (still open: the device may send)
//!   both sides closed (or a reset) -> pacer.on_close(host, now)         (the cool-down runs from here)
//!   the device kept its side open
//!   past the close hold            -> pacer.on_held(host, now)          (never connected again in this scan)
//!   host finished                  -> pacer.finish_host(host, now)
//! ```
//! `on_connect` and `on_send` re-check the policy and refuse (never panic) if the caller
//! skipped `may_*`: a driver bug cannot exceed the limits through the pacer.
//!
//! # OT safety
//! The limits enforced here come from a validated [`crate::profile::Pacing`], which can
//! never lift the hard caps in [`crate::profile::caps`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::profile::Pacing;

/// The pacing numbers the [`Pacer`] enforces, as durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time between two tokens of the global bucket (1 / max_rate, rounded up).
    pub emission_interval: Duration,
    /// Tokens the global bucket holds when full (at least 1).
    pub burst: u32,
    /// Hosts being worked on at once.
    pub hosts_in_flight: usize,
    /// Minimum time between two requests to one host.
    pub host_interval: Duration,
    /// Minimum time between a close and the next connect to one host.
    pub cooldown: Duration,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    /// Retries after a failed connect or an unanswered request.
    pub retries: u32,
    /// The first retry waits this long; each further retry doubles it.
    pub retry_backoff: Duration,
    /// Consecutive failures after which the host's breaker trips.
    pub breaker_failures: u32,
    /// Resets (over the host's whole scan) after which the host's breaker trips.
    pub breaker_resets: u32,
}

impl Limits {
    /// The limits of a (validated) profile's pacing section.
    pub fn from_pacing(p: &Pacing) -> Limits {
        Limits {
            emission_interval: emission_interval(p.max_rate),
            burst: p.burst.max(1),
            hosts_in_flight: p.hosts_in_flight.max(1),
            host_interval: Duration::from_millis(p.host_interval_ms),
            cooldown: Duration::from_millis(p.cooldown_ms),
            connect_timeout: Duration::from_millis(p.connect_timeout_ms),
            response_timeout: Duration::from_millis(p.response_timeout_ms),
            retries: p.retries,
            retry_backoff: Duration::from_millis(p.retry_backoff_ms),
            breaker_failures: p.breaker_failures.max(1),
            breaker_resets: p.breaker_resets.max(1),
        }
    }

    /// The wait before retry number `attempt` (1-based): backoff * 2^(attempt-1), capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(10);
        self.retry_backoff.saturating_mul(factor)
    }
}

/// 1 / rate as a duration, rounded up to the nanosecond so the bucket is never faster
/// than the profile. A non-positive or non-finite rate (refused at profile load) gives
/// one request per hour rather than a panic.
pub fn emission_interval(max_rate: f64) -> Duration {
    if !(max_rate.is_finite() && max_rate > 0.0) {
        return Duration::from_secs(3600);
    }
    let nanos = (1e9 / max_rate).ceil();
    Duration::from_nanos(nanos.clamp(1.0, 3.6e12) as u64)
}

/// Why the pacer says "not now".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deny {
    /// Ask again at this time.
    Until(Instant),
    /// The host already has a connection (or, for `may_send`, a request in flight or no
    /// connection): wait for the event that changes it, not for a time.
    Busy(BusyReason),
    /// `hosts_in_flight` hosts are being worked on; wait for one to finish.
    HostsFull,
    /// The host's circuit breaker has tripped: leave it alone.
    Tripped(Trip),
}

/// Why a host is busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusyReason {
    /// A connection to the host is open (one per host, hard limit).
    Connected,
    /// No connection is open, so nothing can be sent.
    NotConnected,
    /// A request on the connection awaits its reply (one in flight, hard limit).
    RequestInFlight,
    /// A request on this connection went unanswered: nothing more is sent on it (a late
    /// reply could be taken for the next answer, and a gateway would hold two requests).
    /// Close it, and connect again after the cool-down if there is more to ask.
    Unanswered,
    /// Our FIN is sent but the device has not closed its side: the connection is still
    /// open (it holds one of the device's connection slots, and the device may still
    /// send), so nothing may be sent and no other connection opened.
    Closing,
    /// The device kept its side of a connection open after our FIN for longer than the
    /// close hold: the host is not connected to again in this scan.
    HeldOpen,
}

/// What went wrong, as the driver saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    ConnectTimeout,
    ConnectRefused,
    ResponseTimeout,
    Reset,
}

/// Why a host's circuit breaker tripped, recorded for the report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Trip {
    /// When it tripped.
    #[serde(skip)]
    pub at: Instant,
    /// The failure that tripped it.
    pub last: FailureKind,
    /// Human-readable reason, e.g. `3 consecutive failures (last: response_timeout)`.
    pub reason: String,
}

/// What the driver should do after a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again, not before this time: connect again, or take the next step. An unanswered
    /// request is never resent on its connection (SAFETY.md, hard limits).
    RetryAt(Instant),
    /// Retries are used up for this step; move on (next step or next host).
    GiveUp,
    /// The breaker tripped: touch this host no more.
    Tripped(Trip),
}

/// A refusal from a recording call (`on_connect`, `on_send`): the caller broke the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pacing refused {action} to {host}: {deny:?}")]
pub struct PaceViolation {
    pub host: IpAddr,
    pub action: &'static str,
    pub deny: Deny,
}

#[derive(Debug, Clone, Default)]
struct HostState {
    /// Counted in `hosts_in_flight` (from the first connect or failure to `finish_host`).
    active: bool,
    /// Open, from the connect until both sides have closed it.
    connected: bool,
    /// Our FIN is sent; the device's side is still open.
    closing: bool,
    /// The device held its side open past the close hold: never connected again.
    held: bool,
    in_flight: bool,
    /// A request on the open connection timed out: no more sends on it.
    unanswered: bool,
    last_close: Option<Instant>,
    /// The last connection attempt (a SYN sent), refused or not.
    last_attempt: Option<Instant>,
    last_send: Option<Instant>,
    consecutive_failures: u32,
    resets: u32,
    attempt: u32,
    retry_at: Option<Instant>,
    trip: Option<Trip>,
}

/// The pacing policy for one scan. See the module docs for the call protocol.
#[derive(Debug, Clone)]
pub struct Pacer {
    limits: Limits,
    /// GCRA theoretical arrival time of the next token; None until the first send.
    tat: Option<Instant>,
    hosts: HashMap<IpAddr, HostState>,
    active: usize,
    finished: u64,
}

impl Pacer {
    pub fn new(limits: Limits) -> Pacer {
        Pacer {
            limits,
            tat: None,
            hosts: HashMap::new(),
            active: 0,
            finished: 0,
        }
    }

    pub fn from_pacing(p: &Pacing) -> Pacer {
        Pacer::new(Limits::from_pacing(p))
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Hosts currently being worked on (started by `on_connect`, ended by `finish_host`).
    pub fn hosts_active(&self) -> usize {
        self.active
    }

    /// May a connection to `host` be opened now?
    pub fn may_connect(&self, host: IpAddr, now: Instant) -> Result<(), Deny> {
        let full = self.active >= self.limits.hosts_in_flight;
        let Some(h) = self.hosts.get(&host) else {
            return if full { Err(Deny::HostsFull) } else { Ok(()) };
        };
        if let Some(t) = &h.trip {
            return Err(Deny::Tripped(t.clone()));
        }
        if h.held {
            return Err(Deny::Busy(BusyReason::HeldOpen));
        }
        if !h.active && full {
            return Err(Deny::HostsFull);
        }
        if h.closing {
            return Err(Deny::Busy(BusyReason::Closing));
        }
        if h.connected {
            return Err(Deny::Busy(BusyReason::Connected));
        }
        let mut ready = now;
        if let Some(closed) = h.last_close {
            ready = ready.max(closed + self.limits.cooldown);
        }
        if let Some(attempt) = h.last_attempt {
            // Two connection attempts (SYNs) to one host are at least the request
            // interval apart, even when the first was refused and nothing was opened.
            ready = ready.max(attempt + self.limits.host_interval);
        }
        if let Some(r) = h.retry_at {
            ready = ready.max(r);
        }
        if ready > now {
            Err(Deny::Until(ready))
        } else {
            Ok(())
        }
    }

    /// Records that a connection to `host` is being opened now (checks `may_connect` first).
    pub fn on_connect(&mut self, host: IpAddr, now: Instant) -> Result<(), PaceViolation> {
        self.may_connect(host, now).map_err(|deny| PaceViolation {
            host,
            action: "a connect",
            deny,
        })?;
        let h = self.hosts.entry(host).or_default();
        if !h.active {
            h.active = true;
            self.active += 1;
        }
        h.connected = true;
        h.closing = false;
        h.in_flight = false;
        h.unanswered = false;
        h.retry_at = None;
        h.last_attempt = Some(now);
        Ok(())
    }

    /// Our FIN went out on the host's connection (a shutdown of our side). The connection
    /// is still open: the device may keep sending and holds its slot until it closes its
    /// side, so the host stays connected (no connect, no request) until
    /// [`Pacer::on_close`], and the cool-down has not started.
    pub fn on_half_closed(&mut self, host: IpAddr, _now: Instant) {
        if let Some(h) = self.hosts.get_mut(&host) {
            if h.connected {
                h.closing = true;
                h.in_flight = false;
            }
        }
    }

    /// The device kept its side of the host's connection open after our FIN for longer
    /// than the close hold. The connection stays open (otscout keeps reading and
    /// discarding until the device closes it), and the host is never connected to again in
    /// this scan, even once it closes: [`Pacer::may_connect`] answers
    /// [`BusyReason::HeldOpen`] for good. The host no longer counts in `hosts_in_flight`
    /// once [`Pacer::finish_host`] is called.
    pub fn on_held(&mut self, host: IpAddr, _now: Instant) {
        let h = self.hosts.entry(host).or_default();
        h.held = true;
        h.in_flight = false;
        h.retry_at = None;
    }

    /// Whether the host held a connection open past the close hold (see [`Pacer::on_held`]).
    pub fn is_held(&self, host: IpAddr) -> bool {
        self.hosts.get(&host).is_some_and(|h| h.held)
    }

    /// The connect recorded by `on_connect` was refused (the device answered the SYN
    /// with a RST, or the network said the host is unreachable): no connection was
    /// opened, so none of the device's connection resources was spent.
    ///
    /// A refusal is an answer, not a failure: it neither starts the cool-down (the next
    /// attempt waits the per-host interval from this one, see `may_connect`) nor counts
    /// toward the breaker, and it is never retried. A device that speaks one of three
    /// protocols refuses the other two; counting those would trip the breaker of a
    /// profile with `breaker_failures = 2` before the third protocol was ever tried.
    pub fn on_refused(&mut self, host: IpAddr, _now: Instant) {
        if let Some(h) = self.hosts.get_mut(&host) {
            h.connected = false;
            h.closing = false;
            h.in_flight = false;
            h.retry_at = None;
            h.attempt = 0;
        }
    }

    /// Records that the connection to `host` is closed on both sides at `now`: the device's
    /// FIN has arrived after ours (or before it), or the connection was reset or never
    /// opened. The cool-down runs from here.
    ///
    /// # OT safety
    /// Call it only once the device has closed its side: a device that keeps its side open
    /// after our FIN still holds the connection (and may still send).
    pub fn on_close(&mut self, host: IpAddr, now: Instant) {
        if let Some(h) = self.hosts.get_mut(&host) {
            if h.connected {
                h.connected = false;
                h.closing = false;
                h.in_flight = false;
                h.last_close = Some(now);
            }
        }
    }

    /// May a request be sent to `host` now (on its open connection)?
    pub fn may_send(&self, host: IpAddr, now: Instant) -> Result<(), Deny> {
        let Some(h) = self.hosts.get(&host) else {
            return Err(Deny::Busy(BusyReason::NotConnected));
        };
        if let Some(t) = &h.trip {
            return Err(Deny::Tripped(t.clone()));
        }
        if !h.connected {
            return Err(Deny::Busy(BusyReason::NotConnected));
        }
        if h.closing || h.held {
            return Err(Deny::Busy(BusyReason::Closing));
        }
        if h.in_flight {
            return Err(Deny::Busy(BusyReason::RequestInFlight));
        }
        if h.unanswered {
            return Err(Deny::Busy(BusyReason::Unanswered));
        }
        let mut ready = now;
        if let Some(last) = h.last_send {
            ready = ready.max(last + self.limits.host_interval);
        }
        if let Some(r) = h.retry_at {
            ready = ready.max(r);
        }
        ready = ready.max(self.global_ready_at(now));
        if ready > now {
            Err(Deny::Until(ready))
        } else {
            Ok(())
        }
    }

    /// Records a request sent to `host` now (checks `may_send` first): takes a global
    /// token and marks the request in flight until `on_reply` or `on_failure`.
    pub fn on_send(&mut self, host: IpAddr, now: Instant) -> Result<(), PaceViolation> {
        self.may_send(host, now).map_err(|deny| PaceViolation {
            host,
            action: "a request",
            deny,
        })?;
        let t = self.limits.emission_interval;
        self.tat = Some(self.tat.map_or(now, |tat| tat.max(now)) + t);
        if let Some(h) = self.hosts.get_mut(&host) {
            h.in_flight = true;
            h.last_send = Some(now);
            h.retry_at = None;
        }
        Ok(())
    }

    /// The reply to the request in flight arrived: clears it and the failure streak.
    pub fn on_reply(&mut self, host: IpAddr, _now: Instant) {
        if let Some(h) = self.hosts.get_mut(&host) {
            h.in_flight = false;
            h.consecutive_failures = 0;
            h.attempt = 0;
        }
    }

    /// A step failed. Updates the breaker and says whether and when to retry.
    ///
    /// A connect that failed needs no `on_close`; a reset also closes the connection. A
    /// refused connect is better told with [`Pacer::on_refused`]: given here, it closes
    /// what was open (with the cool-down) but is not counted as a failure either.
    pub fn on_failure(&mut self, host: IpAddr, now: Instant, kind: FailureKind) -> AfterFailure {
        let limits = self.limits;
        // A failure on a host never connected (a driver bug) is still recorded, for its
        // cool-down and breaker, but does not take an in-flight slot.
        let h = self.hosts.entry(host).or_default();
        h.in_flight = false;
        if kind == FailureKind::ResponseTimeout && h.connected {
            h.unanswered = true;
        }
        if matches!(
            kind,
            FailureKind::ConnectTimeout | FailureKind::ConnectRefused | FailureKind::Reset
        ) && h.connected
        {
            h.connected = false;
            h.closing = false;
            h.last_close = Some(now);
        }
        if kind == FailureKind::ConnectTimeout {
            // A timed-out connect also starts the cool-down: the SYN may have reached a
            // device too busy to answer it.
            h.last_close = Some(now);
        }
        if let Some(t) = &h.trip {
            return AfterFailure::Tripped(t.clone());
        }
        if kind == FailureKind::ConnectRefused {
            // A refusal (a port that is closed, a UDP port unreachable) is an answer: not
            // retried, not counted toward the breaker. See `on_refused`.
            h.attempt = 0;
            h.retry_at = None;
            return AfterFailure::GiveUp;
        }
        h.consecutive_failures += 1;
        if kind == FailureKind::Reset {
            h.resets += 1;
        }
        let reason = if h.resets >= limits.breaker_resets {
            Some(format!("{} connection resets", h.resets))
        } else if h.consecutive_failures >= limits.breaker_failures {
            Some(format!(
                "{} consecutive failures (last: {})",
                h.consecutive_failures,
                kind_name(kind)
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            let trip = Trip {
                at: now,
                last: kind,
                reason,
            };
            h.trip = Some(trip.clone());
            return AfterFailure::Tripped(trip);
        }
        if h.attempt >= limits.retries {
            h.attempt = 0;
            return AfterFailure::GiveUp;
        }
        h.attempt += 1;
        let at = now + limits.backoff(h.attempt);
        h.retry_at = Some(at);
        AfterFailure::RetryAt(at)
    }

    /// The host is done (all its steps finished or it tripped): frees its in-flight slot.
    ///
    /// What protects the host outlives this call: its cool-down, its request interval and
    /// its breaker still hold if the driver comes back to it. State that can no longer
    /// matter at `now` (no trip, cool-down and interval over) is pruned, so memory follows
    /// the hosts in flight, not the size of the scope.
    pub fn finish_host(&mut self, host: IpAddr, now: Instant) {
        if let Some(h) = self.hosts.get_mut(&host) {
            if (h.connected && !h.held) || !h.active {
                // Still connected is a driver bug: keep the host counted until it closes.
                // A held host is done with (its connection is drained in the background
                // and it is never connected to again).
                return;
            }
            h.active = false;
            h.in_flight = false;
            h.attempt = 0;
            h.retry_at = None;
            self.active = self.active.saturating_sub(1);
        }
        self.finished += 1;
        if self.finished % 256 == 0 {
            self.prune(now);
        }
    }

    /// Drops the state of inactive hosts that no limit needs any more at `now`.
    pub fn prune(&mut self, now: Instant) {
        let l = self.limits;
        self.hosts.retain(|_, h| {
            let (cooldown, interval) = (l.cooldown, l.host_interval);
            h.active
                || h.held
                || h.connected
                || h.trip.is_some()
                || h.last_close.is_some_and(|c| c + cooldown > now)
                || h.last_attempt.is_some_and(|a| a + interval > now)
                || h.last_send.is_some_and(|s| s + interval > now)
        });
    }

    /// Hosts the pacer holds state for (active, tripped, or still cooling down).
    pub fn hosts_tracked(&self) -> usize {
        self.hosts.len()
    }

    /// Why the host's breaker tripped, if it did.
    pub fn trip(&self, host: IpAddr) -> Option<&Trip> {
        self.hosts.get(&host).and_then(|h| h.trip.as_ref())
    }

    /// Whether a connection to `host` is open.
    pub fn is_connected(&self, host: IpAddr) -> bool {
        self.hosts.get(&host).is_some_and(|h| h.connected)
    }

    /// When the global bucket next has a token (GCRA: TAT - (burst-1) * T). The driver
    /// compares it with a refusal's time to know whether the global bucket is what holds a
    /// request back (then it waits in line, see [`edge::GlobalGate::turn`]).
    pub fn global_ready_at(&self, now: Instant) -> Instant {
        let Some(tat) = self.tat else { return now };
        let tolerance = self
            .limits
            .emission_interval
            .saturating_mul(self.limits.burst.saturating_sub(1));
        match tat.checked_sub(tolerance) {
            Some(t) => t.max(now),
            None => now,
        }
    }
}

fn kind_name(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::ConnectTimeout => "connect_timeout",
        FailureKind::ConnectRefused => "connect_refused",
        FailureKind::ResponseTimeout => "response_timeout",
        FailureKind::Reset => "reset",
    }
}

/// The real-clock edge: governor's rate limiter for the global rate.
pub mod edge {
    use std::num::NonZeroU32;

    use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
    use tokio::sync::{Semaphore, SemaphorePermit};

    use super::emission_interval;
    use crate::profile::Pacing;

    /// A global request gate on the real clock, built from the same pacing as the
    /// [`super::Pacer`]. The tokio driver awaits [`GlobalGate::until_ready`] before each
    /// request, in addition to asking the Pacer.
    ///
    /// It also keeps the line of hosts waiting for the global bucket ([`GlobalGate::turn`]).
    #[derive(Debug)]
    pub struct GlobalGate {
        limiter: DefaultDirectRateLimiter,
        /// The line at the global bucket: one turn, handed on in the order it was asked
        /// for (tokio's semaphore is fair, and `acquire` queues first come, first served).
        line: Semaphore,
    }

    /// A host's turn at the head of the line for the global bucket ([`GlobalGate::turn`]).
    /// Dropping it hands the turn to the next host in line, and wakes only that one.
    #[derive(Debug)]
    pub struct Turn<'a> {
        _permit: SemaphorePermit<'a>,
    }

    impl GlobalGate {
        pub fn new(p: &Pacing) -> GlobalGate {
            GlobalGate::with_burst(p, p.burst)
        }

        /// The belt behind the [`super::Pacer`]: the profile's rate with one more token of
        /// burst. The Pacer's exact bucket and this one are fed at almost the same instants
        /// but read different clocks; the extra token absorbs that, so the belt never
        /// delays a request the Pacer granted correctly, and over any window it still
        /// holds the profile's rate to within one request.
        pub fn belt(p: &Pacing) -> GlobalGate {
            GlobalGate::with_burst(p, p.burst.saturating_add(1))
        }

        fn with_burst(p: &Pacing, burst: u32) -> GlobalGate {
            let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
            // with_period is None only for a zero period; emission_interval is >= 1 ns.
            let quota = Quota::with_period(emission_interval(p.max_rate))
                .unwrap_or_else(|| Quota::per_hour(NonZeroU32::MIN))
                .allow_burst(burst);
            GlobalGate {
                limiter: RateLimiter::direct(quota),
                line: Semaphore::new(1),
            }
        }

        /// Waits for this caller's turn at the global bucket, first come, first served (a
        /// FIFO ticket queue). A host whose request only the global bucket holds back
        /// waits here instead of sleeping until the bucket's next token: then only the
        /// host at the head of the line sleeps on the bucket's clock, and each token
        /// wakes one host, not every host waiting (the thundering herd, where all of
        /// them woke at the same instant, asked the Pacer, and all but one slept again).
        ///
        /// The line only orders the waiting; the Pacer still grants every request, so the
        /// global rate and the per-host limits hold exactly as without it.
        ///
        /// `None` only if the line were closed, which nothing does: the caller then waits
        /// as it would without a line.
        pub async fn turn(&self) -> Option<Turn<'_>> {
            self.line
                .acquire()
                .await
                .ok()
                .map(|permit| Turn { _permit: permit })
        }

        /// Waits (on governor's own clock) until one request may go.
        pub async fn until_ready(&self) {
            self.limiter.until_ready().await;
        }

        /// Takes a token now if one is available.
        pub fn try_take(&self) -> bool {
            self.limiter.check().is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn limits() -> Limits {
        Limits {
            emission_interval: Duration::from_millis(10),
            burst: 3,
            hosts_in_flight: 2,
            host_interval: Duration::from_millis(100),
            cooldown: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
            retries: 2,
            retry_backoff: Duration::from_millis(200),
            breaker_failures: 3,
            breaker_resets: 2,
        }
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    #[test]
    fn one_connection_per_host() {
        let t0 = Instant::now();
        let mut p = Pacer::new(limits());
        p.on_connect(ip(1), t0).unwrap();
        assert_eq!(
            p.may_connect(ip(1), t0),
            Err(Deny::Busy(BusyReason::Connected))
        );
        assert!(p.on_connect(ip(1), t0).is_err());
    }

    #[test]
    fn a_half_closed_connection_holds_the_host_until_the_device_closes() {
        let t0 = Instant::now();
        let mut p = Pacer::new(limits());
        p.on_connect(ip(1), t0).unwrap();
        p.on_half_closed(ip(1), t0 + Duration::from_millis(10));
        // Our FIN is out but the device still holds its side: no connect, no request,
        // however long it takes, and the cool-down has not started.
        let much_later = t0 + Duration::from_secs(60);
        assert_eq!(
            p.may_connect(ip(1), much_later),
            Err(Deny::Busy(BusyReason::Closing))
        );
        assert!(p.on_connect(ip(1), much_later).is_err());
        assert_eq!(
            p.may_send(ip(1), much_later),
            Err(Deny::Busy(BusyReason::Closing))
        );
        // The device's FIN: the cool-down runs from it.
        p.on_close(ip(1), much_later);
        assert_eq!(
            p.may_connect(ip(1), much_later),
            Err(Deny::Until(much_later + Duration::from_millis(500)))
        );
        assert!(
            p.may_connect(ip(1), much_later + Duration::from_millis(500))
                .is_ok()
        );
    }

    #[test]
    fn a_host_that_held_its_side_open_is_never_connected_again() {
        let t0 = Instant::now();
        let mut p = Pacer::new(limits());
        p.on_connect(ip(1), t0).unwrap();
        p.on_half_closed(ip(1), t0);
        p.on_held(ip(1), t0 + Duration::from_secs(12));
        assert!(p.is_held(ip(1)));
        // Finished, it frees its slot among the hosts in flight though still connected.
        p.finish_host(ip(1), t0 + Duration::from_secs(12));
        assert_eq!(p.hosts_active(), 0);
        // Even once the device closes at last, and long after any cool-down.
        p.on_close(ip(1), t0 + Duration::from_secs(20));
        p.prune(t0 + Duration::from_secs(3600));
        assert_eq!(
            p.may_connect(ip(1), t0 + Duration::from_secs(3600)),
            Err(Deny::Busy(BusyReason::HeldOpen))
        );
    }

    #[test]
    fn cooldown_after_close() {
        let t0 = Instant::now();
        let mut p = Pacer::new(limits());
        p.on_connect(ip(1), t0).unwrap();
        p.on_close(ip(1), t0 + Duration::from_millis(10));
        assert_eq!(
            p.may_connect(ip(1), t0 + Duration::from_millis(20)),
            Err(Deny::Until(t0 + Duration::from_millis(510)))
        );
        assert!(
            p.may_connect(ip(1), t0 + Duration::from_millis(510))
                .is_ok()
        );
    }

    #[test]
    fn a_refused_connect_holds_the_interval_not_the_cooldown() {
        let t0 = Instant::now();
        let mut p = Pacer::new(limits());
        p.on_connect(ip(1), t0).unwrap();
        p.on_refused(ip(1), t0 + Duration::from_millis(1));
        assert!(!p.is_connected(ip(1)));
        // Two attempts are the per-host interval (100 ms) apart, not the cool-down (500 ms).
        assert_eq!(
            p.may_connect(ip(1), t0 + Duration::from_millis(2)),
            Err(Deny::Until(t0 + Duration::from_millis(100)))
        );
        p.on_connect(ip(1), t0 + Duration::from_millis(100))
            .unwrap();
        // A real close still starts the full cool-down.
        p.on_close(ip(1), t0 + Duration::from_millis(150));
        assert_eq!(
            p.may_connect(ip(1), t0 + Duration::from_millis(200)),
            Err(Deny::Until(t0 + Duration::from_millis(650)))
        );
    }

    #[test]
    fn refusals_never_trip_the_breaker_nor_arm_a_retry() {
        let t0 = Instant::now();
        let mut l = limits();
        l.breaker_failures = 2;
        let mut p = Pacer::new(l);
        let mut now = t0;
        // A device that speaks only the third protocol refuses the first two.
        for _ in 0..5 {
            p.on_connect(ip(1), now).unwrap();
            p.on_refused(ip(1), now);
            now += Duration::from_millis(100);
        }
        assert!(p.trip(ip(1)).is_none());
        assert!(p.may_connect(ip(1), now).is_ok());
        // Given as a failure, a refusal is not counted either, and is never retried.
        p.on_connect(ip(1), now).unwrap();
        assert_eq!(
            p.on_failure(ip(1), now, FailureKind::ConnectRefused),
            AfterFailure::GiveUp
        );
        assert!(p.trip(ip(1)).is_none());
        // Timed-out connects still count, and start the cool-down.
        assert!(matches!(
            p.on_failure(ip(1), now, FailureKind::ConnectTimeout),
            AfterFailure::RetryAt(_)
        ));
        assert!(matches!(
            p.on_failure(ip(1), now, FailureKind::ConnectTimeout),
            AfterFailure::Tripped(_)
        ));
    }

    #[test]
    fn a_timed_out_connect_starts_the_cooldown() {
        let t0 = Instant::now();
        let mut l = limits();
        l.retries = 0;
        let mut p = Pacer::new(l);
        p.on_connect(ip(1), t0).unwrap();
        assert_eq!(
            p.on_failure(ip(1), t0, FailureKind::ConnectTimeout),
            AfterFailure::GiveUp
        );
        assert_eq!(
            p.may_connect(ip(1), t0 + Duration::from_millis(100)),
            Err(Deny::Until(t0 + Duration::from_millis(500)))
        );
    }

    #[test]
    fn hosts_in_flight_cap() {
        let t0 = Instant::now();
        let mut p = Pacer::new(limits());
        p.on_connect(ip(1), t0).unwrap();
        p.on_connect(ip(2), t0).unwrap();
        assert_eq!(p.may_connect(ip(3), t0), Err(Deny::HostsFull));
        p.on_close(ip(1), t0);
        p.finish_host(ip(1), t0);
        assert!(p.may_connect(ip(3), t0).is_ok());
    }

    #[test]
    fn one_request_in_flight_and_host_interval() {
        let t0 = Instant::now();
        let mut p = Pacer::new(limits());
        p.on_connect(ip(1), t0).unwrap();
        p.on_send(ip(1), t0).unwrap();
        assert_eq!(
            p.may_send(ip(1), t0),
            Err(Deny::Busy(BusyReason::RequestInFlight))
        );
        p.on_reply(ip(1), t0 + Duration::from_millis(5));
        assert_eq!(
            p.may_send(ip(1), t0 + Duration::from_millis(5)),
            Err(Deny::Until(t0 + Duration::from_millis(100)))
        );
    }

    #[test]
    fn nothing_more_is_sent_on_a_connection_after_an_unanswered_request() {
        let t0 = Instant::now();
        let mut l = limits();
        l.host_interval = Duration::ZERO;
        let mut p = Pacer::new(l);
        p.on_connect(ip(1), t0).unwrap();
        p.on_send(ip(1), t0).unwrap();
        let later = t0 + Duration::from_secs(2);
        let _ = p.on_failure(ip(1), later, FailureKind::ResponseTimeout);
        assert_eq!(
            p.may_send(ip(1), later + Duration::from_secs(10)),
            Err(Deny::Busy(BusyReason::Unanswered))
        );
        assert!(p.on_send(ip(1), later + Duration::from_secs(10)).is_err());
        // A new connection (after the cool-down) starts clean.
        p.on_close(ip(1), later);
        let again = later + l.cooldown;
        p.on_connect(ip(1), again).unwrap();
        assert_eq!(p.may_send(ip(1), again), Ok(()));
    }

    #[test]
    fn retries_back_off_then_give_up() {
        let t0 = Instant::now();
        let mut l = limits();
        l.breaker_failures = 10;
        let mut p = Pacer::new(l);
        assert_eq!(
            p.on_failure(ip(1), t0, FailureKind::ConnectTimeout),
            AfterFailure::RetryAt(t0 + Duration::from_millis(200))
        );
        assert_eq!(
            p.on_failure(ip(1), t0, FailureKind::ConnectTimeout),
            AfterFailure::RetryAt(t0 + Duration::from_millis(400))
        );
        assert_eq!(
            p.on_failure(ip(1), t0, FailureKind::ConnectTimeout),
            AfterFailure::GiveUp
        );
    }

    #[test]
    fn breaker_trips_on_resets_and_records_why() {
        let t0 = Instant::now();
        let mut p = Pacer::new(limits());
        p.on_connect(ip(1), t0).unwrap();
        assert!(matches!(
            p.on_failure(ip(1), t0, FailureKind::Reset),
            AfterFailure::RetryAt(_)
        ));
        let later = t0 + Duration::from_secs(5);
        p.on_connect(ip(1), later).unwrap();
        let AfterFailure::Tripped(trip) = p.on_failure(ip(1), later, FailureKind::Reset) else {
            panic!("breaker should trip after 2 resets");
        };
        assert_eq!(trip.reason, "2 connection resets");
        assert!(matches!(
            p.may_connect(ip(1), later + Duration::from_secs(60)),
            Err(Deny::Tripped(_))
        ));
        p.finish_host(ip(1), t0);
        assert_eq!(p.hosts_active(), 0);
        assert!(p.trip(ip(1)).is_some());
    }

    #[test]
    fn global_burst_then_rate() {
        let t0 = Instant::now();
        let mut l = limits();
        l.host_interval = Duration::ZERO;
        l.hosts_in_flight = 10;
        let mut p = Pacer::new(l);
        for n in 1..=4 {
            p.on_connect(ip(n), t0).unwrap();
        }
        for n in 1..=3 {
            p.on_send(ip(n), t0).unwrap();
        }
        // The burst of 3 is spent: the 4th waits one emission interval.
        assert_eq!(
            p.may_send(ip(4), t0),
            Err(Deny::Until(t0 + Duration::from_millis(10)))
        );
    }

    #[test]
    fn the_governor_belt_has_one_token_of_slack() {
        let mut pacing = crate::profile::builtin("lab").unwrap().profile.pacing;
        pacing.max_rate = 1.0;
        pacing.burst = 3;
        let belt = edge::GlobalGate::belt(&pacing);
        let taken = (0..10).filter(|_| belt.try_take()).count();
        assert_eq!(
            taken, 4,
            "burst 3 plus one token of slack, then the rate holds"
        );
        let exact = edge::GlobalGate::new(&pacing);
        assert_eq!((0..10).filter(|_| exact.try_take()).count(), 3);
    }

    /// Hosts waiting for the global bucket get their turns in the order they asked, one at
    /// a time: the turn passes to the next in line only when the one holding it lets go.
    #[tokio::test(flavor = "current_thread")]
    async fn the_line_at_the_global_bucket_is_first_come_first_served() {
        use std::sync::{Arc, Mutex};
        let pacing = crate::profile::builtin("lab").unwrap().profile.pacing;
        let gate = Arc::new(edge::GlobalGate::belt(&pacing));
        let head = gate.turn().await.expect("a turn");
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        // Hosts 0..8 join the line in that order (each task runs up to its wait before the
        // next is spawned: one thread, and the spawner yields).
        for i in 0..8 {
            let (gate, order) = (gate.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                let _turn = gate.turn().await.expect("a turn");
                order.lock().unwrap().push((i, "in"));
                // Holding the turn across a yield: no one else may get it meanwhile.
                tokio::task::yield_now().await;
                order.lock().unwrap().push((i, "out"));
            }));
            tokio::task::yield_now().await;
        }
        assert!(order.lock().unwrap().is_empty(), "nobody passes the head");
        drop(head);
        for w in waiting {
            w.await.unwrap();
        }
        let want: Vec<(i32, &str)> = (0..8).flat_map(|i| [(i, "in"), (i, "out")]).collect();
        assert_eq!(*order.lock().unwrap(), want);
    }

    #[test]
    fn emission_interval_rounds_up() {
        assert_eq!(emission_interval(3.0), Duration::from_nanos(333_333_334));
        assert_eq!(emission_interval(0.0), Duration::from_secs(3600));
        assert_eq!(emission_interval(f64::NAN), Duration::from_secs(3600));
    }
}
