//! The tokio runtime side: listeners, connections, behaviours, fragility and trips.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::RngExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::fdlimit::{FdLimit, FdLimitError, Sockets};
use crate::ledger::{EventKind, Ledger, LedgerEvent, Protocol, Where};
use crate::plant::{Behaviour, DeviceConfig, OverLimit, Plant, WhileTripped};
use crate::{
    Answer, Classified, PortOverride, StartOptions, bacnet, enip, fins, fox, modbus, opcua, s7,
};

/// Why the plant could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error(
        "device {device:?}: cannot bind {proto} {addr}: {source}{hint}",
        hint = if source.kind() == std::io::ErrorKind::PermissionDenied {
            " (ports below 1024 need root; use a port base or ephemeral ports)"
        } else { "" }
    )]
    Bind {
        device: String,
        proto: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    FdLimit(#[from] FdLimitError),
}

/// Where one device is actually served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningDevice {
    pub name: String,
    pub address: Ipv4Addr,
    pub modbus: Option<SocketAddr>,
    pub enip_tcp: Option<SocketAddr>,
    pub enip_udp: Option<SocketAddr>,
    pub s7: Option<SocketAddr>,
    pub bacnet: Option<SocketAddr>,
    pub opcua: Option<SocketAddr>,
    pub fins_tcp: Option<SocketAddr>,
    pub fins_udp: Option<SocketAddr>,
    pub fox: Option<SocketAddr>,
}

/// A running plant. Dropping it without [`RunningPlant::shutdown`] also stops every
/// task (they are aborted), but `shutdown` waits for them to finish.
#[derive(Debug)]
pub struct RunningPlant {
    devices: Vec<RunningDevice>,
    sockets: Sockets,
    fd_limit: FdLimit,
    ledger: Ledger,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl RunningPlant {
    /// Each device's bound sockets, in plant-file order.
    pub fn devices(&self) -> &[RunningDevice] {
        &self.devices
    }

    /// The sockets the plant bound.
    pub fn sockets(&self) -> Sockets {
        self.sockets
    }

    /// The open-files limit the plant needed, and what it found and left.
    pub fn fd_limit(&self) -> FdLimit {
        self.fd_limit
    }

    /// The device named `name`.
    pub fn device(&self, name: &str) -> Option<&RunningDevice> {
        self.devices.iter().find(|d| d.name == name)
    }

    /// A snapshot of every ledger event so far.
    pub fn ledger(&self) -> Vec<LedgerEvent> {
        self.ledger.snapshot()
    }

    /// The live ledger handle (cheap to clone).
    pub fn ledger_handle(&self) -> Ledger {
        self.ledger.clone()
    }

    /// Writes a pcapng of all traffic served so far.
    pub fn write_pcapng(&self, out: impl std::io::Write) -> std::io::Result<()> {
        crate::pcapng::write(&self.ledger.snapshot(), out)
    }

    /// Stops every listener and connection and waits until they are gone.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        self.ledger.close_sink();
    }
}

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

struct DeviceRt {
    name: Arc<str>,
    cfg: DeviceConfig,
    ledger: Ledger,
    state: Mutex<DevState>,
    /// Bumped to kill every open connection (over-limit "drop_all").
    kill: watch::Sender<u64>,
}

#[derive(Default)]
struct DevState {
    conns: u32,
    recent: VecDeque<Instant>,
    tripped_until: Option<Instant>,
    dead: bool,
}

impl DeviceRt {
    fn state(&self) -> MutexGuard<'_, DevState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn behaviour(&self) -> &Behaviour {
        &self.cfg.behaviour
    }

    /// Whether the device is tripped now (recording the recovery when a trip ends).
    fn tripped(&self, st: &mut DevState, now: Instant, w: &Where) -> bool {
        match st.tripped_until {
            Some(t) if now < t => true,
            Some(_) => {
                st.tripped_until = None;
                self.ledger.record(w, EventKind::Recovered);
                false
            }
            None => false,
        }
    }

    fn trip(&self, st: &mut DevState, now: Instant, w: &Where, reason: String) {
        if let Some(f) = &self.cfg.behaviour.fragility {
            let secs = if f.trip_seconds.is_finite() && f.trip_seconds > 0.0 {
                f.trip_seconds.min(86_400.0)
            } else {
                0.0
            };
            st.tripped_until = Some(now + Duration::from_secs_f64(secs));
            self.ledger.record(w, EventKind::Tripped { reason });
        }
    }

    /// Accounts for a request; returns true if the device may answer it.
    fn admit_request(&self, w: &Where, c: &Classified) -> bool {
        let now = Instant::now();
        let mut st = self.state();
        if st.dead {
            return false;
        }
        if self.tripped(&mut st, now, w) {
            return false;
        }
        let Some(f) = &self.cfg.behaviour.fragility else {
            return true;
        };
        st.recent.push_back(now);
        while st
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            st.recent.pop_front();
        }
        if st.recent.len() > f.max_rate as usize {
            let n = st.recent.len();
            self.trip(
                &mut st,
                now,
                w,
                format!("rate: {n} requests within one second, limit {}", f.max_rate),
            );
            return false;
        }
        if f.identity_only && !c.identity {
            self.trip(
                &mut st,
                now,
                w,
                format!("non-identity request: {}", c.function),
            );
            return false;
        }
        true
    }
}

/// How a new TCP connection is treated.
enum Admission {
    Serve,
    Silent,
    Refuse,
}

/// Decrements the connection count and records the close, however the task ends.
struct ConnGuard {
    dev: Arc<DeviceRt>,
    w: Where,
    why: String,
    counted: bool,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if self.counted {
            let mut st = self.dev.state();
            st.conns = st.conns.saturating_sub(1);
        }
        let why = std::mem::take(&mut self.why);
        self.dev.ledger.record(&self.w, EventKind::Closed { why });
    }
}

/// Starts every device of `plant` and returns once all listeners are bound.
///
/// Before binding anything, makes sure the open-files limit leaves room for every socket
/// (raising the soft limit to the hard one if needed, see [`crate::fdlimit`]).
pub async fn start(plant: Plant, opts: StartOptions) -> Result<RunningPlant, StartError> {
    let sockets = Sockets::of(&plant);
    let fd_limit = crate::fdlimit::ensure(&sockets)?;
    let ledger = Ledger::new(opts.ledger_sink);
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut devices = Vec::with_capacity(plant.devices.len());
    let map = |p: u16| match opts.ports {
        PortOverride::AsConfigured => p,
        PortOverride::Ephemeral => 0,
        PortOverride::Base(b) => b.saturating_add(p % 1000),
    };
    for cfg in plant.devices {
        let (kill, _) = watch::channel(0u64);
        let dev = Arc::new(DeviceRt {
            name: Arc::from(cfg.name.as_str()),
            cfg,
            ledger: ledger.clone(),
            state: Mutex::new(DevState::default()),
            kill,
        });
        let ip = dev.cfg.address;
        let mut rd = RunningDevice {
            name: dev.cfg.name.clone(),
            address: ip,
            modbus: None,
            enip_tcp: None,
            enip_udp: None,
            s7: None,
            bacnet: None,
            opcua: None,
            fins_tcp: None,
            fins_udp: None,
            fox: None,
        };
        if let Some(m) = &dev.cfg.modbus {
            let l = bind_tcp(&dev, "modbus", SocketAddr::from((ip, map(m.port)))).await?;
            rd.modbus = Some(local(&l));
            tasks.spawn(accept_loop(
                dev.clone(),
                l,
                Protocol::Modbus,
                stop_rx.clone(),
            ));
        }
        if let Some(e) = &dev.cfg.enip {
            let l = bind_tcp(&dev, "enip tcp", SocketAddr::from((ip, map(e.port)))).await?;
            let tcp = local(&l);
            rd.enip_tcp = Some(tcp);
            tasks.spawn(accept_loop(
                dev.clone(),
                l,
                Protocol::EnipTcp,
                stop_rx.clone(),
            ));
            if e.udp {
                let want = SocketAddr::from((ip, tcp.port()));
                let mut bound = UdpSocket::bind(want).await;
                if bound.is_err() && map(e.port) == 0 {
                    // The TCP port was ephemeral; any free UDP port will do.
                    bound = UdpSocket::bind(SocketAddr::from((ip, 0))).await;
                }
                let sock = bound.map_err(|source| StartError::Bind {
                    device: dev.cfg.name.clone(),
                    proto: "enip udp",
                    addr: want,
                    source,
                })?;
                rd.enip_udp = sock.local_addr().ok();
                tasks.spawn(udp_loop(
                    dev.clone(),
                    sock,
                    Protocol::EnipUdp,
                    stop_rx.clone(),
                ));
            }
        }
        if let Some(s) = &dev.cfg.s7 {
            let l = bind_tcp(&dev, "s7", SocketAddr::from((ip, map(s.port)))).await?;
            rd.s7 = Some(local(&l));
            tasks.spawn(accept_loop(dev.clone(), l, Protocol::S7, stop_rx.clone()));
        }
        if let Some(b) = &dev.cfg.bacnet {
            let want = SocketAddr::from((ip, map(b.port)));
            let sock = UdpSocket::bind(want)
                .await
                .map_err(|source| StartError::Bind {
                    device: dev.cfg.name.clone(),
                    proto: "bacnet udp",
                    addr: want,
                    source,
                })?;
            rd.bacnet = sock.local_addr().ok();
            tasks.spawn(udp_loop(
                dev.clone(),
                sock,
                Protocol::Bacnet,
                stop_rx.clone(),
            ));
        }
        if let Some(o) = &dev.cfg.opcua {
            let l = bind_tcp(&dev, "opcua", SocketAddr::from((ip, map(o.port)))).await?;
            rd.opcua = Some(local(&l));
            tasks.spawn(accept_loop(
                dev.clone(),
                l,
                Protocol::Opcua,
                stop_rx.clone(),
            ));
        }
        if let Some(f) = &dev.cfg.fins {
            let mut port = map(f.port);
            if f.tcp {
                let l = bind_tcp(&dev, "fins tcp", SocketAddr::from((ip, port))).await?;
                let tcp = local(&l);
                port = tcp.port();
                rd.fins_tcp = Some(tcp);
                tasks.spawn(accept_loop(
                    dev.clone(),
                    l,
                    Protocol::FinsTcp,
                    stop_rx.clone(),
                ));
            }
            if f.udp {
                let want = SocketAddr::from((ip, port));
                let mut bound = UdpSocket::bind(want).await;
                if bound.is_err() && map(f.port) == 0 {
                    bound = UdpSocket::bind(SocketAddr::from((ip, 0))).await;
                }
                let sock = bound.map_err(|source| StartError::Bind {
                    device: dev.cfg.name.clone(),
                    proto: "fins udp",
                    addr: want,
                    source,
                })?;
                rd.fins_udp = sock.local_addr().ok();
                tasks.spawn(udp_loop(
                    dev.clone(),
                    sock,
                    Protocol::FinsUdp,
                    stop_rx.clone(),
                ));
            }
        }
        if let Some(f) = &dev.cfg.fox {
            let l = bind_tcp(&dev, "fox", SocketAddr::from((ip, map(f.port)))).await?;
            rd.fox = Some(local(&l));
            tasks.spawn(accept_loop(dev.clone(), l, Protocol::Fox, stop_rx.clone()));
        }
        devices.push(rd);
    }
    Ok(RunningPlant {
        devices,
        sockets,
        fd_limit,
        ledger,
        stop,
        tasks,
    })
}

fn local(l: &TcpListener) -> SocketAddr {
    l.local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
}

async fn bind_tcp(
    dev: &DeviceRt,
    proto: &'static str,
    addr: SocketAddr,
) -> Result<TcpListener, StartError> {
    let bind = || -> std::io::Result<TcpListener> {
        let s = tokio::net::TcpSocket::new_v4()?;
        s.set_reuseaddr(true)?;
        s.bind(addr)?;
        s.listen(128)
    };
    bind().map_err(|source| StartError::Bind {
        device: dev.cfg.name.clone(),
        proto,
        addr,
        source,
    })
}

async fn accept_loop(
    dev: Arc<DeviceRt>,
    listener: TcpListener,
    proto: Protocol,
    mut stop: watch::Receiver<bool>,
) {
    let server = local(&listener);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            r = listener.accept() => {
                let Ok((stream, client)) = r else { continue };
                let w = Where {
                    device: dev.name.clone(),
                    protocol: proto,
                    server,
                    client,
                    conn: NEXT_CONN.fetch_add(1, Ordering::Relaxed),
                };
                dev.ledger.record(&w, EventKind::Opened);
                let admission = admit_connection(&dev, &w);
                let guard = ConnGuard {
                    dev: dev.clone(),
                    w: w.clone(),
                    why: "plant shutdown".into(),
                    counted: !matches!(admission, Admission::Refuse),
                };
                conns.spawn(connection(dev.clone(), stream, guard, admission));
            }
        }
    }
    // Dropping `conns` aborts every connection task; their guards record the close.
    conns.shutdown().await;
}

fn admit_connection(dev: &DeviceRt, w: &Where) -> Admission {
    let now = Instant::now();
    let b = dev.behaviour();
    let mut st = dev.state();
    if st.conns > 0 {
        // Another connection is still open (not closed by both sides): a client that
        // opens a second one overlaps, whatever the device then does with it.
        dev.ledger
            .record(w, EventKind::Overlap { open: st.conns + 1 });
    }
    if st.dead {
        st.conns += 1;
        return Admission::Silent;
    }
    if dev.tripped(&mut st, now, w) {
        let refuse = b
            .fragility
            .as_ref()
            .is_some_and(|f| f.while_tripped == WhileTripped::Refuse);
        if refuse {
            return Admission::Refuse;
        }
        st.conns += 1;
        return Admission::Silent;
    }
    st.conns += 1;
    if let Some(f) = &b.fragility {
        if st.conns > f.max_connections {
            let n = st.conns;
            dev.trip(
                &mut st,
                now,
                w,
                format!("{n} simultaneous connections, limit {}", f.max_connections),
            );
            return Admission::Silent;
        }
    }
    if let Some(max) = b.max_connections {
        if st.conns > max {
            match b.over_limit {
                OverLimit::Refuse => {
                    st.conns -= 1;
                    return Admission::Refuse;
                }
                OverLimit::Silent => return Admission::Silent,
                OverLimit::DropAll => {
                    st.dead = true;
                    dev.kill.send_modify(|g| *g += 1);
                    return Admission::Silent;
                }
            }
        }
    }
    Admission::Serve
}

fn reset(stream: TcpStream) {
    // SO_LINGER 0 makes the close an RST, as a refusing or crashing device does.
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Computes a frame's total length from its fixed header.
type FrameLen = fn(&[u8]) -> Result<usize, String>;

/// Why no (further) frame could be read.
enum ReadEnd {
    /// The client sent its FIN (between frames or mid-frame).
    ClientFin(String),
    /// The client reset the connection.
    Reset(String),
    /// Anything else (a length the device cannot accept, a local error): the device
    /// closes.
    Other(String),
}

/// A read or write error that means the client reset the connection: ECONNRESET, or
/// EPIPE/ECONNABORTED on a socket the device never shut down itself.
fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::ConnectionAborted
    )
}

fn read_end(e: std::io::Error, what: &str) -> ReadEnd {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        ReadEnd::ClientFin(format!("client closed{what}"))
    } else if is_reset(&e) {
        ReadEnd::Reset(format!("reset by client{what}: {e}"))
    } else {
        ReadEnd::Other(format!("read error{what}: {e}"))
    }
}

/// Reads one frame: a fixed header, then the length it announces.
async fn read_frame(stream: &mut TcpStream, proto: Protocol) -> Result<Vec<u8>, ReadEnd> {
    let (hlen, len_of): (usize, FrameLen) = match proto {
        Protocol::Modbus => (modbus::HEADER_LEN, modbus::frame_len),
        Protocol::EnipTcp | Protocol::EnipUdp => (enip::HEADER_LEN, enip::frame_len),
        Protocol::S7 => (s7::HEADER_LEN, s7::frame_len),
        Protocol::Bacnet => (bacnet::HEADER_LEN, bacnet::frame_len),
        Protocol::Opcua => (opcua::HEADER_LEN, opcua::frame_len),
        Protocol::FinsTcp => (fins::TCP_PREFIX_LEN, fins::tcp_frame_len),
        Protocol::Fox => return read_fox(stream).await,
        Protocol::FinsUdp => return Err(ReadEnd::Other("fins udp has no stream".into())),
    };
    let mut buf = vec![0u8; hlen];
    stream
        .read_exact(&mut buf)
        .await
        .map_err(|e| read_end(e, ""))?;
    let total = len_of(&buf).map_err(ReadEnd::Other)?;
    if total < hlen {
        return Err(ReadEnd::Other(format!(
            "frame length {total} below header length {hlen}"
        )));
    }
    buf.resize(total, 0);
    stream
        .read_exact(&mut buf[hlen..])
        .await
        .map_err(|e| read_end(e, " mid-frame"))?;
    Ok(buf)
}

/// Reads one Fox message: a text protocol without a length header, so byte by byte until
/// the model's framer says the message is whole (messages are a few hundred bytes).
async fn read_fox(stream: &mut TcpStream) -> Result<Vec<u8>, ReadEnd> {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    loop {
        let what = if buf.is_empty() { "" } else { " mid-frame" };
        stream
            .read_exact(&mut b)
            .await
            .map_err(|e| read_end(e, what))?;
        buf.push(b[0]);
        match fox::message_len(&buf) {
            Ok(Some(n)) if n == buf.len() => return Ok(buf),
            Ok(_) => {}
            Err(e) => return Err(ReadEnd::Other(e)),
        }
    }
}

/// The 2 bytes an oversized-length fault sets to 0xFFFF (the low half of FINS/TCP's
/// 32-bit length); empty for protocols without a length field (Fox, FINS/UDP).
fn length_field(proto: Protocol) -> std::ops::Range<usize> {
    match proto {
        Protocol::Modbus => 4..6,
        Protocol::EnipTcp | Protocol::EnipUdp => 2..4,
        Protocol::S7 => 2..4,
        Protocol::Bacnet => 2..4,
        // The low half of the u32 message size.
        Protocol::Opcua => 4..6,
        Protocol::FinsTcp => 6..8,
        Protocol::FinsUdp | Protocol::Fox => 0..0,
    }
}

/// Applies garbage / truncated / oversized faults to one reply.
fn mangle(b: &Behaviour, proto: Protocol, mut reply: Vec<u8>) -> Vec<u8> {
    if b.garbage_reply {
        let mut rng = rand::rng();
        for x in reply.iter_mut() {
            *x = rng.random();
        }
    }
    if b.oversized_length {
        let r = length_field(proto);
        if r.len() == 2 && reply.len() >= r.end {
            reply[r].copy_from_slice(&[0xff, 0xff]);
        }
    }
    if b.truncated_reply {
        reply.truncate(reply.len() / 2);
    }
    reply
}

async fn delay(b: &Behaviour) {
    let jitter = if b.jitter_ms > 0 {
        rand::rng().random_range(0..=b.jitter_ms)
    } else {
        0
    };
    let ms = b.latency_ms.saturating_add(jitter);
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

async fn send(stream: &mut TcpStream, b: &Behaviour, bytes: &[u8]) -> std::io::Result<()> {
    match b.drip_ms {
        Some(ms) => {
            for x in bytes {
                stream.write_all(std::slice::from_ref(x)).await?;
                stream.flush().await?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            Ok(())
        }
        None => stream.write_all(bytes).await,
    }
}

/// How the exchange part of a connection ended.
enum End {
    /// The client closed its side first; the device closes its own after its
    /// half-close behaviour.
    ClientFin(String),
    /// The device closes first; the connection stays open until the client's FIN.
    DeviceCloses(String),
    /// The client reset the connection.
    Reset { why: String, during: &'static str },
    /// The device resets the connection (SO_LINGER 0).
    DeviceResets(String),
}

async fn connection(
    dev: Arc<DeviceRt>,
    mut stream: TcpStream,
    mut guard: ConnGuard,
    admission: Admission,
) {
    let _ = stream.set_nodelay(true);
    let mut kill = dev.kill.subscribe();
    let end = match admission {
        Admission::Refuse => End::DeviceResets("refused".into()),
        Admission::Silent => silent(&dev, &mut stream, &guard.w).await,
        Admission::Serve => serve(&dev, &mut stream, &guard.w, &mut kill).await,
    };
    let w = guard.w.clone();
    guard.why = match end {
        End::DeviceResets(why) => {
            reset(stream);
            why
        }
        End::Reset { why, during } => {
            dev.ledger.record(
                &w,
                EventKind::ClientReset {
                    during: during.into(),
                },
            );
            why
        }
        End::ClientFin(why) => {
            dev.ledger.record(&w, EventKind::ClientFin);
            match hold_after_client_fin(&dev, &stream, &w, &mut kill).await {
                Some(killed) => {
                    reset(stream);
                    killed
                }
                // Dropping the socket sends the device's FIN: both sides are closed.
                None => why,
            }
        }
        End::DeviceCloses(why) => match close_first(&dev, &mut stream, &w, &mut kill).await {
            Some(killed) => {
                reset(stream);
                killed
            }
            None => why,
        },
    };
}

/// Serves requests until the connection ends.
async fn serve(
    dev: &DeviceRt,
    stream: &mut TcpStream,
    w: &Where,
    kill: &mut watch::Receiver<u64>,
) -> End {
    let proto = w.protocol;
    let mut s7_session = s7::Session::default();
    let mut opcua_session = opcua::Session::default();
    let mut fins_session = fins::TcpSession::default();
    let mut served = 0u32;
    loop {
        let frame = tokio::select! {
            _ = kill.changed() => return End::DeviceResets("dropped: over connection limit".into()),
            f = read_frame(stream, proto) => f,
        };
        let frame = match frame {
            Ok(f) => f,
            Err(ReadEnd::ClientFin(why)) => return End::ClientFin(why),
            Err(ReadEnd::Reset(why)) => {
                return End::Reset {
                    why,
                    during: "read",
                };
            }
            Err(ReadEnd::Other(why)) => return End::DeviceCloses(why),
        };
        let c = classify(proto, &frame);
        dev.ledger.record(
            w,
            EventKind::Request {
                function: c.function.clone(),
                identity: c.identity,
                bytes: frame.clone(),
            },
        );
        let b = dev.behaviour().clone();
        if !dev.admit_request(w, &c) || b.hang {
            continue;
        }
        if b.reset_on_request {
            return End::DeviceResets("reset on request".into());
        }
        let answer: Answer = match proto {
            Protocol::Modbus => match &dev.cfg.modbus {
                Some(m) => modbus::handle(m, &frame),
                None => Answer::none(),
            },
            Protocol::EnipTcp | Protocol::EnipUdp => match &dev.cfg.enip {
                Some(e) => enip::handle(e, (dev.cfg.address, w.server.port()), &frame),
                None => Answer::none(),
            },
            Protocol::S7 => match &dev.cfg.s7 {
                Some(s) => s7_session.handle(s, &frame),
                None => Answer::none(),
            },
            Protocol::Bacnet => match &dev.cfg.bacnet {
                Some(b) => bacnet::handle(b, &frame),
                None => Answer::none(),
            },
            Protocol::Opcua => match &dev.cfg.opcua {
                Some(o) => {
                    let own = format!("opc.tcp://{}:{}", w.server.ip(), w.server.port());
                    opcua_session.handle(o, &own, &frame)
                }
                None => Answer::none(),
            },
            Protocol::FinsTcp => match &dev.cfg.fins {
                Some(f) => fins_session.handle(f, &frame),
                None => Answer::none(),
            },
            Protocol::Fox => match &dev.cfg.fox {
                Some(f) => fox::handle(f, &frame),
                None => Answer::none(),
            },
            Protocol::FinsUdp => Answer::none(),
        };
        for r in answer.replies {
            delay(&b).await;
            let out = mangle(&b, proto, r);
            dev.ledger
                .record(w, EventKind::Reply { bytes: out.clone() });
            if let Err(e) = send(stream, &b, &out).await {
                return if is_reset(&e) {
                    End::Reset {
                        why: format!("reset by client: write error: {e}"),
                        during: "write",
                    }
                } else {
                    End::DeviceCloses(format!("write error: {e}"))
                };
            }
        }
        if b.truncated_reply {
            return End::DeviceCloses("truncated reply".into());
        }
        if answer.close {
            return End::DeviceCloses("closed by device".into());
        }
        served += 1;
        if b.close_after.is_some_and(|n| served >= n) {
            return End::DeviceCloses(format!("close_after {served} requests"));
        }
    }
}

/// How often a device holding its side open looks for a reset from the client.
const HOLD_POLL: Duration = Duration::from_millis(20);

/// After the client's FIN: keep the device's side open as the behaviour says
/// (`close_delay_ms`, `never_close`), watching for a reset from the client. Returns the
/// reason when the device was told to drop every connection meanwhile.
async fn hold_after_client_fin(
    dev: &DeviceRt,
    stream: &TcpStream,
    w: &Where,
    kill: &mut watch::Receiver<u64>,
) -> Option<String> {
    let b = dev.behaviour();
    let until = match (b.never_close, b.close_delay_ms) {
        (true, _) => None,
        (false, Some(ms)) => Some(Instant::now() + Duration::from_millis(ms)),
        (false, None) => return None,
    };
    loop {
        if until.is_some_and(|t| Instant::now() >= t) {
            return None;
        }
        tokio::select! {
            _ = kill.changed() => return Some("dropped: over connection limit".into()),
            () = tokio::time::sleep(HOLD_POLL) => {}
        }
        // SO_ERROR: a RST from the client after its FIN (it closed a socket that still
        // had data, or got data after closing) leaves EPIPE or ECONNRESET here.
        if let Ok(Some(e)) = stream.take_error() {
            dev.ledger.record(
                w,
                EventKind::ClientReset {
                    during: "hold".into(),
                },
            );
            return Some(format!(
                "reset by client while the device held its side: {e}"
            ));
        }
    }
}

/// The device closes first: its FIN, then it keeps reading (and recording whatever the
/// client still sends) until the client's FIN or a reset, so the connection counts as
/// open until both sides have closed it. Returns the reason when the device was told to
/// drop every connection meanwhile.
async fn close_first(
    dev: &DeviceRt,
    stream: &mut TcpStream,
    w: &Where,
    kill: &mut watch::Receiver<u64>,
) -> Option<String> {
    let _ = stream.shutdown().await;
    let mut buf = [0u8; 4096];
    loop {
        let r = tokio::select! {
            _ = kill.changed() => return Some("dropped: over connection limit".into()),
            r = stream.read(&mut buf) => r,
        };
        match r {
            Ok(0) => {
                dev.ledger.record(w, EventKind::ClientFin);
                return None;
            }
            Ok(n) => dev.ledger.record(
                w,
                EventKind::Request {
                    function: "data after the device's FIN".into(),
                    identity: false,
                    bytes: buf[..n].to_vec(),
                },
            ),
            Err(e) => {
                if is_reset(&e) {
                    dev.ledger.record(
                        w,
                        EventKind::ClientReset {
                            during: "close".into(),
                        },
                    );
                }
                return None;
            }
        }
    }
}

/// Holds a connection open, recording every request that arrives, never answering.
async fn silent(dev: &DeviceRt, stream: &mut TcpStream, w: &Where) -> End {
    loop {
        match read_frame(stream, w.protocol).await {
            Ok(frame) => {
                let c = classify(w.protocol, &frame);
                dev.ledger.record(
                    w,
                    EventKind::Request {
                        function: c.function,
                        identity: c.identity,
                        bytes: frame,
                    },
                );
            }
            Err(ReadEnd::ClientFin(why)) => {
                return End::ClientFin(format!("{why} (device silent)"));
            }
            Err(ReadEnd::Reset(why)) => {
                return End::Reset {
                    why: format!("{why} (device silent)"),
                    during: "read",
                };
            }
            Err(ReadEnd::Other(why)) => return End::DeviceCloses(format!("{why} (device silent)")),
        }
    }
}

fn classify(proto: Protocol, frame: &[u8]) -> Classified {
    match proto {
        Protocol::Modbus => modbus::classify(frame),
        Protocol::EnipTcp | Protocol::EnipUdp => enip::classify(frame),
        Protocol::S7 => s7::classify(frame),
        Protocol::Bacnet => bacnet::classify(frame),
        Protocol::Opcua => opcua::classify(frame),
        Protocol::FinsTcp => fins::classify_tcp(frame),
        Protocol::FinsUdp => fins::classify_udp(frame),
        Protocol::Fox => fox::classify(frame),
    }
}

/// Serves one UDP socket: EtherNet/IP (List* only), BACnet/IP or FINS/UDP. A datagram is
/// one frame; a malformed one is recorded and never answered.
async fn udp_loop(
    dev: Arc<DeviceRt>,
    sock: UdpSocket,
    proto: Protocol,
    mut stop: watch::Receiver<bool>,
) {
    let server = sock
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, client) = tokio::select! {
            _ = stop.changed() => return,
            r = sock.recv_from(&mut buf) => match r { Ok(x) => x, Err(_) => continue },
        };
        let frame = buf[..n].to_vec();
        let w = Where {
            device: dev.name.clone(),
            protocol: proto,
            server,
            client,
            conn: 0,
        };
        let well_formed = match proto {
            // FINS/UDP carries the bare 10-byte header and at least a 2-byte command.
            Protocol::FinsUdp => frame.len() >= 12,
            _ => {
                let (hlen, len_of): (usize, FrameLen) = match proto {
                    Protocol::Bacnet => (bacnet::HEADER_LEN, bacnet::frame_len),
                    _ => (enip::HEADER_LEN, enip::frame_len),
                };
                frame.len() >= hlen && len_of(&frame[..hlen]).is_ok_and(|l| l == frame.len())
            }
        };
        let c = if well_formed {
            classify(proto, &frame)
        } else {
            Classified {
                function: "malformed datagram".into(),
                identity: false,
            }
        };
        dev.ledger.record(
            &w,
            EventKind::Request {
                function: c.function.clone(),
                identity: c.identity,
                bytes: frame.clone(),
            },
        );
        let b = dev.behaviour().clone();
        if !dev.admit_request(&w, &c) || b.hang || !well_formed {
            continue;
        }
        let answer = match (proto, &dev.cfg.enip, &dev.cfg.bacnet, &dev.cfg.fins) {
            // Only the list commands exist over UDP (Vol 2, 2-3.2); others go unanswered.
            (Protocol::EnipUdp, Some(cfg), _, _) if c.identity => {
                enip::handle(cfg, (dev.cfg.address, server.port()), &frame)
            }
            (Protocol::Bacnet, _, Some(cfg), _) => bacnet::handle(cfg, &frame),
            (Protocol::FinsUdp, _, _, Some(cfg)) => fins::handle_udp(cfg, &frame),
            _ => continue,
        };
        for r in answer.replies {
            delay(&b).await;
            let out = mangle(&b, proto, r);
            dev.ledger
                .record(&w, EventKind::Reply { bytes: out.clone() });
            let _ = sock.send_to(&out, client).await;
        }
    }
}
