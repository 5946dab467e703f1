//! The tokio driver: moves one [`Session`]'s bytes over one endpoint.
//!
//! The session decides what to say; the driver carries it out and enforces the rules the
//! session cannot: every outbound frame goes through [`crate::safety::emit`], every
//! connect and every request waits on the pacing gate, every await has a deadline, and a
//! connection closes with FIN (shutdown, drain until the device's FIN, drop), never RST.
//!
//! What it never does: decide what to send, decode a reply, or print.
//!
//! # OT safety
//! - One connection at a time: the driver holds at most one socket and opens the next
//!   only after the previous one is closed by both sides (our FIN, then the device's) and
//!   the host's cool-down, counted from the device's FIN, has passed.
//! - One request in flight: after a `Send` the driver only reads until the session asks
//!   for the next step.
//! - No request after an unanswered one on the same connection: once a response timeout
//!   passes, the session may only wait, reconnect (after the cool-down) or finish; a
//!   session that asks to send on that connection is cut off ([`DriveEnd::Runaway`])
//!   before anything is written. Bytes the device still sends are drained at the close
//!   and never reach the session.
//! - No `SO_LINGER 0`, and never a reset from our kernel: some PLC stacks log or
//!   mishandle a reset. Linux answers with RST when a socket is closed with unread data,
//!   and when data arrives for a socket already closed. So the driver shuts down its
//!   write side (FIN) and keeps the socket, reading and discarding what the device still
//!   sends, until the device's FIN: only then is the socket dropped, with nothing unread
//!   and nothing more to come. A device that keeps its side open for longer than the close
//!   hold ([`DriverConfig::close_timeout`]) is not waited for: the drive ends, the open
//!   socket goes back to the caller in [`DriveReport::left_open`] to be drained in the
//!   background until the device closes it, and the pacer never lets the host be
//!   connected again in this scan ([`crate::pace::Pacer::on_held`]).
//! - Every TCP socket reads what is pending before it is dropped, whatever path drops it
//!   (a task aborted at runtime shutdown included), and [`drain_before_exit`] does the same
//!   for every socket still open when the process must exit at once (a second Ctrl-C).
//! - A session that never finishes is cut off after [`MAX_SENDS`] requests or its
//!   connection cap ([`MAX_CONNECTS`], at most [`MAX_CONNECTS_LIMIT`]) on one endpoint.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

use super::gate::HostClock;
use super::stop::StopSignal;
use super::{ConnectionLoss, Finding, Session, Step};
use crate::inventory::{Identity, Transport};
use crate::pace::edge::GlobalGate;
use crate::pace::{AfterFailure, Deny, FailureKind, Pacer};
use crate::safety::{GuardError, emit};

pub use super::limits::MAX_SENDS;
/// Connections one endpoint may receive in one probe by default, and at most: the
/// session contract's ([`crate::protocols::session`]), enforced here.
pub use crate::protocols::session::{MAX_CONNECTS, MAX_CONNECTS_LIMIT};
/// Largest read per call; sessions do their own framing.
const READ_CHUNK: usize = 4096;

/// Timeouts and retries for one endpoint.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    pub connect_timeout: Duration,
    /// How long to wait for bytes when the session names no deadline of its own.
    pub response_timeout: Duration,
    /// The close hold: how long to wait for the device's FIN after ours (reading and
    /// discarding what it still sends) before leaving the connection open for good and the
    /// host alone for the rest of the scan. The CLI takes it from the profile
    /// ([`crate::profile::Pacing::close_hold`]).
    pub close_timeout: Duration,
}

/// Where to probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub transport: Transport,
}

/// How a drive ended.
#[derive(Debug, Clone, PartialEq)]
pub enum DriveEnd {
    /// The session said `Done`.
    Done,
    /// The scan was told to stop before the session finished; no further request was sent.
    Stopped,
    /// The guard refused a frame the session asked for: nothing was sent.
    Guard(GuardError),
    /// A local error (socket creation, an unexpected I/O error).
    Local(String),
    /// The session exceeded [`MAX_SENDS`] or [`MAX_CONNECTS`], or the pacer refused a
    /// step the driver should not have asked for.
    Runaway(String),
    /// The host's circuit breaker opened during this drive (the reason).
    Tripped(String),
    /// The device kept its side of a connection open after our FIN for longer than the
    /// close hold, when the session wanted another connection: the drive stopped there
    /// (the host is never connected to again in this scan). See [`DriveReport::left_open`].
    LeftOpen,
}

/// One request that left the process.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub kind: &'static str,
    pub at: DateTime<Utc>,
    pub bytes: usize,
}

/// What one drive did and learned.
#[derive(Debug)]
pub struct DriveReport {
    pub end: DriveEnd,
    pub findings: Vec<Finding>,
    /// Findings about devices behind the host, with their sub-asset paths.
    pub sub_findings: Vec<(String, Finding)>,
    pub sent: Vec<Sent>,
    /// Connections opened (successful connects).
    pub connections: u32,
    /// Every connection loss the session was told about, in order.
    pub losses: Vec<ConnectionLoss>,
    /// Times the session's `on_timeout` was called.
    pub timeouts: u32,
    /// Reads that returned bytes (TCP segments or UDP datagrams from the device).
    pub replies: u32,
    /// A connection the device did not close within the close hold after our FIN, still
    /// open: drain it ([`LeftOpen::drain_until_closed`]) until the device closes it. Dropped
    /// instead, it reads what is pending first, but a device that sends after that gets a
    /// RST from the kernel.
    pub left_open: Option<LeftOpen>,
}

/// A connected transport.
enum Conn {
    Tcp(TcpConn),
    Udp(UdpSocket),
}

/// A TCP connection the driver opened: the stream and its entry in the process's list of
/// open sockets ([`drain_before_exit`]).
///
/// # OT safety
/// Dropped, it first reads (without waiting) whatever the device sent that nobody read, so
/// the kernel does not answer the close with a RST. Every path that drops a connection
/// (an aborted task, a runtime shut down) gets this.
struct TcpConn {
    stream: TcpStream,
    _registered: Option<open::Registration>,
}

impl TcpConn {
    fn new(stream: TcpStream) -> TcpConn {
        let registered = open::Registration::new(&stream);
        TcpConn {
            stream,
            _registered: registered,
        }
    }
}

impl Drop for TcpConn {
    fn drop(&mut self) {
        let _ = open::read_pending(&socket2::SockRef::from(&self.stream));
    }
}

/// A connection whose device kept its side open after our FIN for longer than the close
/// hold. It is still open: keep it until the device closes it.
pub struct LeftOpen {
    conn: TcpConn,
    /// The device's address and port.
    pub addr: SocketAddr,
    /// When our FIN went out.
    pub fin_at: DateTime<Utc>,
    /// The close hold that passed without the device's FIN.
    pub hold: Duration,
}

impl std::fmt::Debug for LeftOpen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeftOpen")
            .field("addr", &self.addr)
            .field("fin_at", &self.fin_at)
            .field("hold", &self.hold)
            .finish()
    }
}

impl LeftOpen {
    /// Reads and discards what the device still sends until it closes its side (its FIN)
    /// or resets the connection; then drops the socket, both sides closed. Returns the bytes
    /// discarded. Never sends anything.
    pub async fn drain_until_closed(mut self) -> u64 {
        let mut buf = [0u8; READ_CHUNK];
        let mut discarded = 0u64;
        loop {
            match self.conn.stream.read(&mut buf).await {
                Ok(0) | Err(_) => return discarded,
                Ok(n) => discarded += n as u64,
            }
        }
    }
}

/// The process's open TCP connections, for [`drain_before_exit`].
mod open {
    use std::collections::BTreeMap;
    use std::io::Read;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A duplicate descriptor of every open connection, by registration number. A
    /// duplicate shares the socket (and its receive queue) with the driver's stream; it is
    /// dropped with the registration, never later, so it never keeps a socket open.
    static OPEN: Mutex<BTreeMap<u64, socket2::Socket>> = Mutex::new(BTreeMap::new());
    static NEXT: AtomicU64 = AtomicU64::new(1);

    fn open() -> std::sync::MutexGuard<'static, BTreeMap<u64, socket2::Socket>> {
        OPEN.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One connection's entry; dropping it removes the entry.
    pub(super) struct Registration(u64);

    impl Registration {
        pub(super) fn new(stream: &tokio::net::TcpStream) -> Option<Registration> {
            let dup = socket2::SockRef::from(stream).try_clone().ok()?;
            let id = NEXT.fetch_add(1, Ordering::Relaxed);
            open().insert(id, dup);
            Some(Registration(id))
        }
    }

    impl Drop for Registration {
        fn drop(&mut self) {
            open().remove(&self.0);
        }
    }

    /// Reads (without waiting: the socket is non-blocking) and discards everything the
    /// device has sent so far. True when the device's side is closed (its FIN was read, or
    /// the connection is gone).
    pub(super) fn read_pending(s: &socket2::Socket) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            match (&*s).read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Err(_) => return true,
            }
        }
    }

    pub(super) fn drain_all(wait: std::time::Duration) -> usize {
        let deadline = std::time::Instant::now() + wait;
        // Duplicates of our own, so the lock is not held while waiting.
        let socks: Vec<socket2::Socket> =
            open().values().filter_map(|s| s.try_clone().ok()).collect();
        for s in &socks {
            // Our FIN, where it has not gone out yet (an error: it has, or the connection
            // is gone).
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
        let mut left: Vec<&socket2::Socket> = socks.iter().collect();
        loop {
            left.retain(|s| !read_pending(s));
            if left.is_empty() || std::time::Instant::now() >= deadline {
                return left.len();
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// For a process that must exit now (a second Ctrl-C): sends our FIN on every TCP
/// connection still open, then reads and discards what the devices send until each has
/// closed its side or `wait` has passed, so that the exit closes sockets with nothing
/// unread (a socket closed with unread data makes the kernel send a RST). Returns how many
/// were still open when it gave up: a device that sends on one of those after the exit
/// gets a RST from the kernel, which no process that has exited can prevent. Blocking;
/// call it off the async workers.
pub fn drain_before_exit(wait: Duration) -> usize {
    open::drain_all(wait)
}

/// Pacing for one drive: the scan's shared [`Pacer`] (global rate, per-host discipline,
/// breaker) and this host's vendor-rule extras (a longer interval or cool-down).
pub struct Pacing<'a> {
    pub pacer: &'a Mutex<Pacer>,
    /// governor's belt behind the pacer (see [`crate::pace::edge::GlobalGate::belt`]).
    pub gate: Option<&'a GlobalGate>,
    pub host: IpAddr,
    pub extra: &'a mut HostClock,
    /// The vendor rules' (interval, cool-down) for a device known as this identity (on
    /// top of what the scan knew before the drive), applied before each request.
    pub rules: Option<&'a VendorTiming<'a>>,
}

/// Vendor rules as timing: (request interval, cool-down) for a device known by an identity.
pub type VendorTiming<'a> = dyn Fn(&Identity) -> (Duration, Duration) + Sync + 'a;

impl std::fmt::Debug for Pacing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacing")
            .field("host", &self.host)
            .field("extra", &self.extra)
            .field("rules", &self.rules.is_some())
            .finish()
    }
}

impl Pacing<'_> {
    fn with<T>(&self, f: impl FnOnce(&mut Pacer) -> T) -> T {
        let mut p = self.pacer.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut p)
    }

    fn closed(&mut self) {
        let now = std::time::Instant::now();
        self.with(|p| p.on_close(self.host, now));
        self.extra.closed(Instant::from_std(now));
    }

    /// Our FIN went out: the connection stays open (for the pacer) until the device closes.
    fn half_closed(&mut self) {
        let now = std::time::Instant::now();
        self.with(|p| p.on_half_closed(self.host, now));
    }

    /// The device held its side open past the close hold: never connected again.
    fn held(&mut self) {
        let now = std::time::Instant::now();
        self.with(|p| p.on_held(self.host, now));
    }

    fn failed_timeout(&mut self) -> AfterFailure {
        let now = std::time::Instant::now();
        self.with(|p| p.on_failure(self.host, now, FailureKind::ResponseTimeout))
    }

    fn failed(&mut self, kind: FailureKind) -> AfterFailure {
        let now = std::time::Instant::now();
        self.extra.closed(Instant::from_std(now));
        self.with(|p| p.on_failure(self.host, now, kind))
    }

    /// The connect just granted was refused: nothing was opened, so no cool-down; the
    /// next attempt waits the per-host interval (see `Pacer::on_refused`).
    fn refused(&mut self) {
        let now = std::time::Instant::now();
        self.with(|p| p.on_refused(self.host, now));
    }
}

/// Drives `session` over `endpoint` until it is done, the scan stops, or the guard
/// refuses a frame.
pub async fn drive(
    session: &mut dyn Session,
    endpoint: Endpoint,
    cfg: &DriverConfig,
    pacing: Pacing<'_>,
    stop: &StopSignal,
    on_sent: &(dyn Fn(&'static str) + Sync),
) -> DriveReport {
    let mut d = Driver {
        on_sent,
        endpoint,
        cfg,
        pacing,
        stop,
        report: DriveReport {
            end: DriveEnd::Done,
            findings: Vec::new(),
            sub_findings: Vec::new(),
            sent: Vec::new(),
            connections: 0,
            losses: Vec::new(),
            timeouts: 0,
            replies: 0,
            left_open: None,
        },
        attempts: 0,
        send_delay: Duration::ZERO,
        unanswered: false,
    };
    let end = d.run(session).await;
    d.report.end = end;
    d.report.findings = session.take_findings();
    d.report.sub_findings = session.take_sub_findings();
    d.report
}

struct Driver<'a, 'b> {
    endpoint: Endpoint,
    cfg: &'a DriverConfig,
    pacing: Pacing<'b>,
    stop: &'a StopSignal,
    /// Told the kind of every request as it leaves (progress events).
    on_sent: &'a (dyn Fn(&'static str) + Sync),
    report: DriveReport,
    attempts: u32,
    /// How long the pacer held back the last request (added to the session's deadline).
    send_delay: Duration,
    /// A request on the open connection went unanswered (its response timeout passed).
    unanswered: bool,
}

impl Driver<'_, '_> {
    /// Closes `conn` if there is one; `Err(DriveEnd::LeftOpen)` when the device held it
    /// open past the close hold (the drive must not connect again).
    async fn close_opt(&mut self, conn: &mut Option<Conn>) -> Result<(), DriveEnd> {
        match conn.take() {
            Some(c) => match self.close(c).await {
                Closed::Both => Ok(()),
                Closed::Held => Err(DriveEnd::LeftOpen),
            },
            None => Ok(()),
        }
    }

    async fn run(&mut self, session: &mut dyn Session) -> DriveEnd {
        let (mut conn, mut step) = match self.open(session).await {
            Ok(v) => v,
            Err(end) => return end,
        };
        loop {
            match step {
                Step::Done => {
                    // Held or not, the session is finished.
                    let _ = self.close_opt(&mut conn).await;
                    return DriveEnd::Done;
                }
                Step::Reconnect => {
                    if let Err(end) = self.close_opt(&mut conn).await {
                        return end;
                    }
                    self.unanswered = false;
                    match self.open(session).await {
                        Ok((c, s)) => {
                            conn = c;
                            step = s;
                        }
                        Err(end) => return end,
                    }
                }
                Step::Send(request) => {
                    let Some(c) = conn.as_mut() else {
                        // A session asked to send without a connection: a session bug;
                        // tell it the connection is gone rather than open one unasked.
                        step = session
                            .on_connection_lost(std::time::Instant::now(), ConnectionLoss::Closed);
                        continue;
                    };
                    if self.unanswered {
                        // A session bug: the device may still answer the earlier request.
                        let _ = self.close_opt(&mut conn).await;
                        return DriveEnd::Runaway(format!(
                            "{} asked after an unanswered request on the same connection",
                            request.kind()
                        ));
                    }
                    let frame = match emit(&request) {
                        Ok(f) => f,
                        Err(e) => {
                            let _ = self.close_opt(&mut conn).await;
                            return DriveEnd::Guard(e);
                        }
                    };
                    if self.report.sent.len() as u32 >= MAX_SENDS {
                        let _ = self.close_opt(&mut conn).await;
                        return DriveEnd::Runaway(format!("more than {MAX_SENDS} requests"));
                    }
                    // Vendor rules apply as soon as the device says who it is, even
                    // mid-session; they only ever slow the host down.
                    if let (Some(rules), Some(id)) = (self.pacing.rules, session.identity_so_far())
                    {
                        let (interval, cooldown) = rules(&id);
                        let clock = &mut *self.pacing.extra;
                        clock.interval = clock.interval.max(interval);
                        clock.cooldown = clock.cooldown.max(cooldown);
                    }
                    let asked = Instant::now();
                    if let Err(end) = self.wait_request_slot().await {
                        let _ = self.close_opt(&mut conn).await;
                        return end;
                    }
                    let now = Instant::now();
                    let written = match c {
                        Conn::Tcp(t) => {
                            timeout_at(now + self.cfg.response_timeout, t.stream.write_all(&frame))
                                .await
                                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))
                                .and_then(|r| r)
                        }
                        Conn::Udp(s) => timeout_at(now + self.cfg.response_timeout, s.send(&frame))
                            .await
                            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))
                            .and_then(|r| r.map(|_| ())),
                    };
                    tracing::debug!(addr = %self.endpoint.addr, kind = request.kind(), ok = written.is_ok(), "sent");
                    self.pacing.extra.requested(Instant::now());
                    // The session started its reply clock when it asked to send; the time
                    // the pacer held the request back is not the device's delay.
                    self.send_delay = asked.elapsed();
                    (self.on_sent)(request.kind());
                    self.report.sent.push(Sent {
                        kind: request.kind(),
                        at: Utc::now(),
                        bytes: frame.len(),
                    });
                    step = match written {
                        Ok(()) => Step::Wait,
                        Err(e) => {
                            let why = loss_of(&e);
                            self.report.losses.push(why);
                            // Closed like any other: a write that timed out leaves a
                            // connection the device may still send on.
                            let held = self.close_opt(&mut conn).await;
                            let after = self.pacing.failed(FailureKind::Reset);
                            let step = session.on_connection_lost(std::time::Instant::now(), why);
                            if let AfterFailure::Tripped(t) = after {
                                return DriveEnd::Tripped(t.reason);
                            }
                            if let Err(end) = held {
                                return end;
                            }
                            step
                        }
                    };
                }
                Step::Wait => {
                    let Some(c) = conn.as_mut() else {
                        step = session
                            .on_connection_lost(std::time::Instant::now(), ConnectionLoss::Closed);
                        continue;
                    };
                    let deadline = self.deadline_for(session);
                    let mut buf = [0u8; READ_CHUNK];
                    let is_tcp = matches!(c, Conn::Tcp(_));
                    let read = match c {
                        Conn::Tcp(t) => timeout_at(deadline, t.stream.read(&mut buf)).await,
                        Conn::Udp(s) => timeout_at(deadline, s.recv(&mut buf)).await,
                    };
                    step = match read {
                        Err(_elapsed) => {
                            tracing::debug!(addr = %self.endpoint.addr, "response timeout");
                            self.report.timeouts += 1;
                            let after = self.pacing.failed_timeout();
                            let step = session.on_timeout(std::time::Instant::now());
                            // `Wait`: the session still waits for that reply (its own
                            // deadline has not passed); anything else gives it up.
                            self.unanswered |= step != Step::Wait;
                            if let AfterFailure::Tripped(t) = after {
                                let _ = self.close_opt(&mut conn).await;
                                return DriveEnd::Tripped(t.reason);
                            }
                            step
                        }
                        Ok(Ok(0)) if is_tcp => {
                            // The device's FIN came first: ours follows, both closed.
                            self.report.losses.push(ConnectionLoss::Closed);
                            let held = self.close_opt(&mut conn).await;
                            let step = session.on_connection_lost(
                                std::time::Instant::now(),
                                ConnectionLoss::Closed,
                            );
                            if let Err(end) = held {
                                return end;
                            }
                            step
                        }
                        Ok(Ok(n)) => {
                            self.report.replies += 1;
                            let now = std::time::Instant::now();
                            let host = self.pacing.host;
                            self.pacing.with(|p| p.on_reply(host, now));
                            session.on_bytes(now, &buf[..n])
                        }
                        Ok(Err(e)) => {
                            let why = loss_of(&e);
                            self.report.losses.push(why);
                            let held = self.close_opt(&mut conn).await;
                            let after = self.pacing.failed(match why {
                                ConnectionLoss::Refused => FailureKind::ConnectRefused,
                                _ => FailureKind::Reset,
                            });
                            let step = session.on_connection_lost(std::time::Instant::now(), why);
                            if let AfterFailure::Tripped(t) = after {
                                return DriveEnd::Tripped(t.reason);
                            }
                            if let Err(end) = held {
                                return end;
                            }
                            step
                        }
                    };
                }
            }
        }
    }

    /// The session's own deadline (mapped onto tokio's clock), moved later by the time the
    /// pacer held the last request back (a session starts its reply clock when it asks to
    /// send, and a busy global rate must not turn into device timeouts), and capped by the
    /// response timeout so that a session that forgets to name one cannot hang the scan.
    fn deadline_for(&self, session: &dyn Session) -> Instant {
        let cap = Instant::now() + self.cfg.response_timeout;
        match session.poll_timeout() {
            Some(t) => {
                let left = t.saturating_duration_since(std::time::Instant::now());
                (Instant::now() + left + self.send_delay).min(cap + self.send_delay)
            }
            None => cap,
        }
    }

    /// Waits for the vendor-rule interval, then asks the pacer until it grants the
    /// request (per-host interval, one in flight, global rate) and records it.
    async fn wait_request_slot(&mut self) -> Result<(), DriveEnd> {
        let at = self.pacing.extra.next_request_at(Instant::now());
        if !self.stop.sleep_until(at).await {
            return Err(DriveEnd::Stopped);
        }
        let host = self.pacing.host;
        // Held while this host is at the head of the line for the global bucket.
        let mut turn = None;
        loop {
            if self.stop.is_stopped() {
                return Err(DriveEnd::Stopped);
            }
            let now = std::time::Instant::now();
            let granted = self.pacing.with(|p| {
                p.may_send(host, now)
                    .and_then(|()| p.on_send(host, now).map_err(|v| v.deny))
                    .map_err(|deny| (deny, p.global_ready_at(now)))
            });
            match granted {
                Ok(()) => {
                    // The next host in line may now wait for the next token.
                    drop(turn.take());
                    if let Some(gate) = self.pacing.gate {
                        if !gate.try_take() {
                            // Never while the pacer is right: the belt has a token of slack.
                            tracing::warn!(%host, "the governor belt held a request the pacer granted");
                            tokio::select! {
                                () = gate.until_ready() => {}
                                () = self.stop.stopped() => return Err(DriveEnd::Stopped),
                            }
                        }
                    }
                    return Ok(());
                }
                Err((Deny::Until(t), global)) => {
                    // Only the global bucket holds the request back (the host's own
                    // interval and retry time have passed): wait in line for it, so that
                    // each token wakes one host rather than all those waiting.
                    if turn.is_none() && global >= t {
                        if let Some(gate) = self.pacing.gate {
                            tokio::select! {
                                got = gate.turn() => {
                                    if got.is_some() {
                                        turn = got;
                                        // At the head of the line: ask the Pacer again.
                                        continue;
                                    }
                                }
                                () = self.stop.stopped() => return Err(DriveEnd::Stopped),
                            }
                        }
                    }
                    if global >= t {
                        // Counted by a test: with the line, one wait per token, not one per
                        // waiting host.
                        tracing::trace!(target: "otscout::pace::global", %host, "waiting for the global rate");
                    }
                    if !self.stop.sleep_until(Instant::from_std(t)).await {
                        return Err(DriveEnd::Stopped);
                    }
                }
                Err((Deny::Tripped(t), _)) => return Err(DriveEnd::Tripped(t.reason)),
                Err((other, _)) => {
                    return Err(DriveEnd::Runaway(format!(
                        "the pacer refused a request: {other:?}"
                    )));
                }
            }
        }
    }

    /// Waits for the cool-downs and asks the pacer until it grants a connect (one
    /// connection per host, retry backoff, breaker), and records it.
    async fn wait_connect_slot(&mut self) -> Result<(), DriveEnd> {
        let at = self.pacing.extra.next_connect_at(Instant::now());
        if !self.stop.sleep_until(at).await {
            return Err(DriveEnd::Stopped);
        }
        let host = self.pacing.host;
        loop {
            if self.stop.is_stopped() {
                return Err(DriveEnd::Stopped);
            }
            let now = std::time::Instant::now();
            let granted = self.pacing.with(|p| {
                p.may_connect(host, now)
                    .and_then(|()| p.on_connect(host, now).map_err(|v| v.deny))
            });
            match granted {
                Ok(()) => {
                    self.pacing.extra.attempted(Instant::from_std(now));
                    return Ok(());
                }
                Err(Deny::Until(t)) => {
                    if !self.stop.sleep_until(Instant::from_std(t)).await {
                        return Err(DriveEnd::Stopped);
                    }
                }
                Err(Deny::Tripped(t)) => return Err(DriveEnd::Tripped(t.reason)),
                // Hosts in flight are capped by the orchestrator too, so this is a short
                // race at most; wait a little and ask again.
                Err(Deny::HostsFull) => {
                    let later = Instant::now() + Duration::from_millis(5);
                    if !self.stop.sleep_until(later).await {
                        return Err(DriveEnd::Stopped);
                    }
                }
                Err(other) => {
                    return Err(DriveEnd::Runaway(format!(
                        "the pacer refused a connect: {other:?}"
                    )));
                }
            }
        }
    }

    /// Opens a connection through the pacer, retrying connect timeouts as the pacer
    /// allows, and returns it with the session's first step. On failure the session is
    /// told, and its answer decides (another connect, or done).
    async fn open(&mut self, session: &mut dyn Session) -> Result<(Option<Conn>, Step), DriveEnd> {
        loop {
            // The session's own cap (Modbus: one connection per unit id), never above
            // the hard ceiling.
            let cap = session.max_connections().min(MAX_CONNECTS_LIMIT);
            if self.attempts >= cap {
                return Err(DriveEnd::Runaway(format!(
                    "more than {cap} connection attempts"
                )));
            }
            self.wait_connect_slot().await?;
            self.attempts += 1;
            let connected = self.connect().await;
            tracing::debug!(addr = %self.endpoint.addr, ok = connected.is_ok(), "connect");
            let why = match connected {
                Ok(conn) => {
                    self.report.connections += 1;
                    let local = match &conn {
                        Conn::Tcp(c) => c.stream.local_addr(),
                        Conn::Udp(s) => s.local_addr(),
                    };
                    if let Ok(local) = local {
                        session.on_local_addr(local.ip());
                    }
                    let step = session.on_connected(std::time::Instant::now());
                    return Ok((Some(conn), step));
                }
                Err(ConnectFail::Local(e)) => {
                    // Nothing was opened: release the pacer's hold on the host.
                    self.pacing.closed();
                    return Err(DriveEnd::Local(e));
                }
                Err(ConnectFail::Refused) => {
                    // An answer, not a failure: never retried, no cool-down, no breaker.
                    self.pacing.refused();
                    self.report.losses.push(ConnectionLoss::Refused);
                    match session
                        .on_connection_lost(std::time::Instant::now(), ConnectionLoss::Refused)
                    {
                        Step::Reconnect => continue,
                        _ => return Ok((None, Step::Done)),
                    }
                }
                Err(ConnectFail::Timeout) => ConnectionLoss::ConnectTimeout,
            };
            // A timed-out connect: the cool-down, the breaker, and retries with backoff.
            match self.pacing.failed(FailureKind::ConnectTimeout) {
                AfterFailure::RetryAt(_) => continue,
                AfterFailure::Tripped(t) => {
                    self.report.losses.push(why);
                    let _ = session.on_connection_lost(std::time::Instant::now(), why);
                    return Err(DriveEnd::Tripped(t.reason));
                }
                _ => {}
            }
            self.report.losses.push(why);
            match session.on_connection_lost(std::time::Instant::now(), why) {
                Step::Reconnect => continue,
                // Done, or asked to send or wait with no connection: nothing to do.
                _ => return Ok((None, Step::Done)),
            }
        }
    }

    async fn connect(&self) -> Result<Conn, ConnectFail> {
        let addr = self.endpoint.addr;
        let deadline = Instant::now() + self.cfg.connect_timeout;
        match self.endpoint.transport {
            Transport::Tcp => {
                let socket = tcp_socket(addr)
                    .map_err(|e| ConnectFail::Local(format!("create socket for {addr}: {e}")))?;
                match timeout_at(deadline, socket.connect(addr)).await {
                    Err(_) => Err(ConnectFail::Timeout),
                    Ok(Ok(s)) => {
                        s.set_nodelay(true).map_err(|e| {
                            ConnectFail::Local(format!("set TCP_NODELAY on {addr}: {e}"))
                        })?;
                        Ok(Conn::Tcp(TcpConn::new(s)))
                    }
                    Ok(Err(e)) => match e.kind() {
                        io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::HostUnreachable
                        | io::ErrorKind::NetworkUnreachable => Err(ConnectFail::Refused),
                        io::ErrorKind::TimedOut => Err(ConnectFail::Timeout),
                        _ => Err(ConnectFail::Local(format!("connect to {addr}: {e}"))),
                    },
                }
            }
            Transport::Udp => {
                let local: SocketAddr = if addr.is_ipv4() {
                    (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let s = UdpSocket::bind(local)
                    .await
                    .map_err(|e| ConnectFail::Local(format!("bind UDP socket for {addr}: {e}")))?;
                // A connected UDP socket only accepts datagrams from the device, and
                // reports an ICMP port unreachable as ConnectionRefused on recv.
                s.connect(addr).await.map_err(|e| {
                    ConnectFail::Local(format!("connect UDP socket to {addr}: {e}"))
                })?;
                Ok(Conn::Udp(s))
            }
        }
    }

    /// Closes gracefully: our FIN, then read and discard until the device's FIN (or a
    /// reset), so the socket is dropped with nothing unread and nothing more to come, and
    /// the kernel never answers with a RST. The cool-down counts from the device's FIN.
    ///
    /// A device that has not closed its side when the close hold passes keeps the socket:
    /// it goes to [`DriveReport::left_open`], and the pacer holds the host for the rest of
    /// the scan. A stop does not cut the drain short: it is bounded by the hold.
    async fn close(&mut self, conn: Conn) -> Closed {
        let Conn::Tcp(mut c) = conn else {
            self.pacing.closed();
            return Closed::Both;
        };
        // An error means the connection is already gone (reset): nothing to wait for then,
        // the read below returns at once.
        let _ = c.stream.shutdown().await;
        let fin_at = Utc::now();
        self.pacing.half_closed();
        let deadline = Instant::now() + self.cfg.close_timeout;
        let mut buf = [0u8; READ_CHUNK];
        let mut drained = 0usize;
        loop {
            match timeout_at(deadline, c.stream.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(n)) => drained += n,
                Err(_held) => {
                    tracing::debug!(addr = %self.endpoint.addr, bytes = drained, "the device held its side open past the close hold");
                    self.pacing.held();
                    self.report.left_open = Some(LeftOpen {
                        conn: c,
                        addr: self.endpoint.addr,
                        fin_at,
                        hold: self.cfg.close_timeout,
                    });
                    return Closed::Held;
                }
            }
        }
        if drained > 0 {
            // A late reply (after a timeout) or unread bytes: answers nothing.
            tracing::debug!(addr = %self.endpoint.addr, bytes = drained, "discarded at close");
        }
        drop(c);
        self.pacing.closed();
        Closed::Both
    }
}

/// How [`Driver::close`] ended.
enum Closed {
    /// Both sides closed (or the connection was reset): the cool-down runs.
    Both,
    /// The device held its side open past the close hold.
    Held,
}

enum ConnectFail {
    Refused,
    Timeout,
    Local(String),
}

fn loss_of(e: &io::Error) -> ConnectionLoss {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ConnectionLoss::Refused,
        io::ErrorKind::UnexpectedEof => ConnectionLoss::Closed,
        io::ErrorKind::TimedOut => ConnectionLoss::ConnectTimeout,
        // Reset, aborted, broken pipe: the peer tore the connection down.
        _ => ConnectionLoss::Reset,
    }
}

/// A TCP socket built with socket2 so that its options are explicit: no linger (the
/// kernel default, a FIN on close), and TCP_NODELAY set after connect.
fn tcp_socket(addr: SocketAddr) -> io::Result<TcpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    s.set_nonblocking(true)?;
    s.set_linger(None)?;
    s.set_tcp_nodelay(true)?;
    let std_stream: std::net::TcpStream = s.into();
    Ok(TcpSocket::from_std_stream(std_stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_losses() {
        assert_eq!(
            loss_of(&io::Error::from(io::ErrorKind::ConnectionReset)),
            ConnectionLoss::Reset
        );
        assert_eq!(
            loss_of(&io::Error::from(io::ErrorKind::BrokenPipe)),
            ConnectionLoss::Reset
        );
        assert_eq!(
            loss_of(&io::Error::from(io::ErrorKind::ConnectionRefused)),
            ConnectionLoss::Refused
        );
    }

    #[tokio::test]
    async fn socket_has_nodelay_and_no_linger() {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let s = tcp_socket(addr).unwrap();
        assert!(s.nodelay().unwrap());
        assert_eq!(s.linger().unwrap(), None);
    }
}
