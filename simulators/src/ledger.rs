//! The ledger: every connection, request, reply and trip the plant saw, in order.
//!
//! Times are kept twice: `at` is monotonic time since the plant started (nanosecond
//! precision, for checks like "never two connections at once" or "never more than R
//! requests in any one-second window"), `unix_micros` is wall-clock for humans.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Which protocol an event belongs to.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Modbus,
    EnipTcp,
    EnipUdp,
    S7,
    /// BACnet/IP (UDP).
    Bacnet,
    Opcua,
    FinsTcp,
    FinsUdp,
    Fox,
}

impl Protocol {
    /// Short name.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Modbus => "modbus",
            Protocol::EnipTcp => "enip_tcp",
            Protocol::EnipUdp => "enip_udp",
            Protocol::S7 => "s7",
            Protocol::Bacnet => "bacnet",
            Protocol::Opcua => "opcua",
            Protocol::FinsTcp => "fins_tcp",
            Protocol::FinsUdp => "fins_udp",
            Protocol::Fox => "fox",
        }
    }
}

/// One ledger entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LedgerEvent {
    /// Position in the ledger (0, 1, 2, ...).
    pub seq: u64,
    /// Monotonic time since the plant started.
    #[serde(serialize_with = "ser_duration")]
    pub at: Duration,
    /// Wall-clock time, microseconds since the Unix epoch.
    pub unix_micros: u64,
    /// Device name from the plant file.
    pub device: String,
    pub protocol: Protocol,
    /// The device's own socket.
    pub server: SocketAddr,
    /// The client's socket.
    pub client: SocketAddr,
    /// Connection number (unique per plant; UDP datagrams get 0).
    pub conn: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn ser_hex<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    let mut out = String::with_capacity(b.len() * 2);
    for x in b {
        out.push_str(&format!("{x:02x}"));
    }
    s.serialize_str(&out)
}

/// What happened.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A TCP connection was accepted.
    Opened,
    /// A TCP connection ended for both sides (`why`: "client closed", "close_after",
    /// "reset", ...): recorded once the device has closed its side and the client's FIN
    /// (or a reset) has arrived, so a connection counts as open until both FINs.
    Closed { why: String },
    /// The client closed its side (its FIN arrived); the device may still hold its own.
    ClientFin,
    /// The client reset the connection (`during`: what the device was doing when it
    /// saw it: "read", "write", "hold" after the client's FIN, "close" waiting for it).
    ClientReset { during: String },
    /// A connection was opened while the device still had `open - 1` others open (not
    /// yet closed by both sides).
    Overlap { open: u32 },
    /// A request arrived. `function` names it ("read_device_identification",
    /// "list_identity", "read_szl 0x0011", "write_single_register", ...).
    Request {
        function: String,
        /// Inside the read-only identity set.
        identity: bool,
        #[serde(serialize_with = "ser_hex")]
        bytes: Vec<u8>,
    },
    /// Bytes the device sent back (after fault injection).
    Reply {
        #[serde(serialize_with = "ser_hex")]
        bytes: Vec<u8>,
    },
    /// The device tripped and goes silent.
    Tripped { reason: String },
    /// A trip ended (recorded when the device next sees traffic after the trip time).
    Recovered,
}

/// A shared, append-only ledger. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Ledger {
    inner: Arc<LedgerInner>,
}

#[derive(Debug)]
struct LedgerInner {
    start: Instant,
    start_wall: SystemTime,
    events: Mutex<Vec<LedgerEvent>>,
    sink: Mutex<Option<std::sync::mpsc::Sender<LedgerEvent>>>,
}

/// Everything about an event but its sequence number and time.
#[derive(Debug, Clone)]
pub(crate) struct Where {
    pub device: Arc<str>,
    pub protocol: Protocol,
    pub server: SocketAddr,
    pub client: SocketAddr,
    pub conn: u64,
}

impl Ledger {
    pub(crate) fn new(sink: Option<std::sync::mpsc::Sender<LedgerEvent>>) -> Ledger {
        Ledger {
            inner: Arc::new(LedgerInner {
                start: Instant::now(),
                start_wall: SystemTime::now(),
                events: Mutex::new(Vec::new()),
                sink: Mutex::new(sink),
            }),
        }
    }

    /// The instant `at == 0`.
    pub fn start(&self) -> Instant {
        self.inner.start
    }

    pub(crate) fn record(&self, w: &Where, kind: EventKind) {
        let mut events = match self.inner.events.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        // Read the clock under the lock, so ledger order and time order agree.
        let at = Instant::now().duration_since(self.inner.start);
        let unix_micros = (self.inner.start_wall + at)
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        let ev = LedgerEvent {
            seq: events.len() as u64,
            at,
            unix_micros,
            device: w.device.to_string(),
            protocol: w.protocol,
            server: w.server,
            client: w.client,
            conn: w.conn,
            kind,
        };
        if let Ok(sink) = self.inner.sink.lock() {
            if let Some(tx) = sink.as_ref() {
                let _ = tx.send(ev.clone());
            }
        }
        events.push(ev);
    }

    /// A copy of every event so far.
    pub fn snapshot(&self) -> Vec<LedgerEvent> {
        match self.inner.events.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Drops the JSON-lines sink so its writer can finish.
    pub(crate) fn close_sink(&self) {
        if let Ok(mut sink) = self.inner.sink.lock() {
            sink.take();
        }
    }
}

impl LedgerEvent {
    /// The event as one JSON line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The most TCP connections that were open at once to `device` (any protocol).
/// For tests of "never more than one connection per device at a time".
pub fn max_concurrent_connections(events: &[LedgerEvent], device: &str) -> usize {
    let mut open = 0usize;
    let mut max = 0usize;
    for e in events.iter().filter(|e| e.device == device) {
        match e.kind {
            EventKind::Opened => {
                open += 1;
                max = max.max(open);
            }
            EventKind::Closed { .. } => open = open.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Every connection a client ended with a reset (TCP RST), in ledger order.
pub fn client_resets(events: &[LedgerEvent]) -> Vec<&LedgerEvent> {
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ClientReset { .. }))
        .collect()
}

/// Every connection to `device` opened while another was still open (counted until both
/// FINs), in ledger order.
pub fn overlaps<'a>(events: &'a [LedgerEvent], device: &str) -> Vec<&'a LedgerEvent> {
    events
        .iter()
        .filter(|e| e.device == device && matches!(e.kind, EventKind::Overlap { .. }))
        .collect()
}

/// The most requests `device` received within any window shorter than `window`
/// (ledger times, monotonic). For tests of "never more than R requests per second".
pub fn max_requests_in_window(events: &[LedgerEvent], device: &str, window: Duration) -> usize {
    let times: Vec<Duration> = events
        .iter()
        .filter(|e| e.device == device && matches!(e.kind, EventKind::Request { .. }))
        .map(|e| e.at)
        .collect();
    if window.is_zero() {
        return 0;
    }
    let mut max = 0;
    let mut lo = 0;
    for hi in 0..times.len() {
        while times[hi].saturating_sub(times[lo]) >= window {
            lo += 1;
        }
        max = max.max(hi - lo + 1);
    }
    max
}
