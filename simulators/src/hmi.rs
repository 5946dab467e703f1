//! Synthesised plant traffic: a short phase of HMI polling and engineering work, answered
//! by the device models and turned into [`LedgerEvent`]s (and a pcapng with
//! [`crate::pcapng::write`]). Nothing here opens a socket.
//!
//! # OT safety
//! `otscout demo` needs a capture of "normal" plant traffic, including a write, to show
//! what passive import learns. Sending those requests (FC 3, FC 6, ...) from otscout's
//! process would break otscout's rule that only allowlisted identity requests ever leave
//! it, so the traffic is built offline: client requests are fixed byte strings, the
//! answers come from the pure device models ([`crate::modbus`], [`crate::enip`],
//! [`crate::s7`]), and the events carry made-up but plausible timestamps and addresses.
//!
//! The capture shows the plant on its configured (standard) ports, as a SPAN port in the
//! real plant would, whatever ports a simulator run binds.
//!
//! What the phase contains (request bytes from the Modbus Application Protocol v1.1b3,
//! ODVA Vol. 2 and the S7 frames documented in SAFETY.md):
//! - an HMI polling FC 3 (read holding registers) from every Modbus device that answers
//!   plain reads, once a second, over one long-lived connection per device, and reading
//!   FC 43/14 basic identity once per device at the start (as HMIs do to check what they
//!   talk to);
//! - an engineering station that writes one holding register (FC 6) on one Modbus PLC,
//!   reads SZL 0x0011 from one S7 CPU, and asks one EtherNet/IP device for List Identity
//!   over TCP and another over UDP;
//! - the engineering station's DCP session on layer 2 ([`dcp_session`]): Identify All,
//!   a PROFINET device's answer, a Set (a write) and its OK. With the plant's first
//!   `[device.profinet]` the Set gives it a new IP address; a plant without one (the
//!   demo's) has a fresh ET 200SP on the engineering segment ([`crate::dcp::et200sp`],
//!   layer 2 only, so not a plant device), which the station names (Set NameOfStation).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use crate::ledger::{EventKind, LedgerEvent, Protocol};
use crate::plant::{DeviceConfig, Plant};
use crate::{Answer, enip, modbus, s7};

/// The HMI's address in the synthesised capture.
pub const HMI: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 100);
/// The engineering station's address in the synthesised capture.
pub const ENGINEERING: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 101);

/// What to synthesise.
#[derive(Debug, Clone)]
pub struct HmiOptions {
    /// Wall-clock start of the phase, microseconds since the Unix epoch.
    pub start_unix_micros: u64,
    /// Polling rounds of the HMI (one a second).
    pub rounds: u32,
    /// The device the engineering station writes a register on (FC 6); it must serve
    /// Modbus. `None`: the first Modbus device with plain reads.
    pub write_target: Option<String>,
}

impl Default for HmiOptions {
    fn default() -> Self {
        HmiOptions {
            start_unix_micros: 1_700_000_000_000_000,
            rounds: 5,
            write_target: None,
        }
    }
}

/// What the phase did, for the caller's summary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HmiSummary {
    /// Devices the HMI polled (FC 3).
    pub polled: Vec<String>,
    /// The device whose register the engineering station wrote (FC 6), if any.
    pub written: Option<String>,
    /// The device whose SZL 0x0011 the engineering station read, if any.
    pub szl_read: Option<String>,
    /// Devices asked for List Identity (TCP, then UDP).
    pub list_identity: Vec<String>,
    /// The PROFINET device the engineering station identified and then changed with a
    /// DCP Set (layer 2): the first `[device.profinet]` of the plant (a new IP address),
    /// else the ET 200SP's NameOfStation before the Set (named anew).
    pub dcp_set: Option<String>,
}

/// The engineering station's DCP session (Identify All, the answer, a Set and its OK),
/// timestamped 3 s into the phase: the frames and the device's name. With the plant's
/// first PROFINET device the Set moves its last octet up by one; without one, the
/// station names the ET 200SP on its segment ([`crate::dcp::et200sp`]).
pub fn dcp_session(
    plant: &Plant,
    opts: &HmiOptions,
) -> Option<(String, Vec<(u64, crate::dcp::L2Frame)>)> {
    let station = crate::pcapng::mac(ENGINEERING);
    let (name, frames) = match plant
        .devices
        .iter()
        .find_map(|d| Some((d, d.profinet.as_ref()?)))
    {
        Some((d, p)) => {
            let o = p.ip.octets();
            let new_ip = Ipv4Addr::new(o[0], o[1], o[2], o[3].wrapping_add(1));
            let set = crate::dcp::SetRequest::Ip(new_ip);
            (
                d.name.clone(),
                crate::dcp::engineering_session(p, station, 0x0100_0001, &set),
            )
        }
        None => {
            let p = crate::dcp::et200sp();
            let set = crate::dcp::SetRequest::NameOfStation(crate::dcp::ET200SP_NEW_NAME.into());
            (
                p.name_of_station.clone(),
                crate::dcp::engineering_session(&p, station, 0x0100_0001, &set),
            )
        }
    };
    let t0 = opts.start_unix_micros + 3_000_000;
    Some((
        name,
        frames
            .into_iter()
            .enumerate()
            .map(|(i, f)| (t0 + i as u64 * 20_000, f))
            .collect(),
    ))
}

/// Builds the events of one phase of HMI polling and engineering work on `plant`.
pub fn synthesise(plant: &Plant, opts: &HmiOptions) -> (Vec<LedgerEvent>, HmiSummary) {
    let mut b = Builder {
        events: Vec::new(),
        start: opts.start_unix_micros,
        conn: 0,
        client_port: 49152,
    };
    let mut summary = HmiSummary::default();

    // Engineering station, at t = 0.2 s: a register write on one PLC. It is kept apart
    // from the HMI's connection so the actor is the engineering station.
    let pollable: Vec<&DeviceConfig> = plant
        .devices
        .iter()
        .filter(|d| d.modbus.as_ref().is_some_and(|m| m.plain_reads))
        .collect();
    let write_target = match &opts.write_target {
        Some(name) => plant
            .devices
            .iter()
            .find(|d| &d.name == name && d.modbus.is_some()),
        None => pollable.first().copied(),
    };

    // HMI: one connection per pollable device, an identity read, then FC 3 each second.
    let mut hmi_conns = Vec::new();
    for (i, d) in pollable.iter().enumerate() {
        let at = Duration::from_millis(10 * i as u64);
        let c = b.open(d, Protocol::Modbus, HMI, at);
        let unit = modbus_unit(d);
        // FC 43 / MEI 14, read code 1 (basic), object 0 (Application protocol 6.21).
        b.modbus(
            d,
            &c,
            at + ms(5),
            &[0x00, 0x01, 0, 0, 0, 5, unit, 0x2b, 0x0e, 1, 0],
        );
        hmi_conns.push((d, c, unit));
        summary.polled.push(d.name.clone());
    }
    for round in 0..opts.rounds {
        for (i, (d, c, unit)) in hmi_conns.iter().enumerate() {
            let at = Duration::from_secs(u64::from(round) + 1) + ms(20 * i as u64);
            let tid = (round as u16).wrapping_add(2).to_be_bytes();
            // FC 3: 10 holding registers from address 0.
            b.modbus(
                d,
                c,
                at,
                &[tid[0], tid[1], 0, 0, 0, 6, *unit, 0x03, 0, 0, 0, 10],
            );
        }
    }

    if let Some(d) = write_target {
        let at = ms(2_500);
        let c = b.open(d, Protocol::Modbus, ENGINEERING, at);
        // FC 6: write 200 to holding register 16 (Application protocol 6.6).
        b.modbus(
            d,
            &c,
            at + ms(3),
            &[
                0,
                1,
                0,
                0,
                0,
                6,
                modbus_unit(d),
                0x06,
                0x00,
                0x10,
                0x00,
                0xc8,
            ],
        );
        b.close(&c, at + ms(40));
        summary.written = Some(d.name.clone());
    }

    // Engineering station: SZL 0x0011 from the first S7 CPU that accepts TSAP 0x0102.
    if let Some(d) = plant
        .devices
        .iter()
        .find(|d| d.s7.as_ref().is_some_and(|s| s.tsaps.contains(&0x0102)))
    {
        let at = ms(3_000);
        let c = b.open(d, Protocol::S7, ENGINEERING, at);
        let mut session = s7::Session::default();
        // SAFETY.md, S7 frames 1-3: COTP CR to TSAP 0x0102, setup communication, Read SZL.
        let frames: [&[u8]; 3] = [
            &[
                0x03, 0x00, 0x00, 0x16, 0x11, 0xe0, 0x00, 0x00, 0x00, 0x0f, 0x00, 0xc1, 0x02, 0x01,
                0x00, 0xc2, 0x02, 0x01, 0x02, 0xc0, 0x01, 0x0a,
            ],
            &[
                0x03, 0x00, 0x00, 0x19, 0x02, 0xf0, 0x80, 0x32, 0x01, 0x00, 0x00, 0x02, 0x00, 0x00,
                0x08, 0x00, 0x00, 0xf0, 0x00, 0x00, 0x01, 0x00, 0x01, 0x01, 0xe0,
            ],
            &[
                0x03, 0x00, 0x00, 0x21, 0x02, 0xf0, 0x80, 0x32, 0x07, 0x00, 0x00, 0x14, 0x00, 0x00,
                0x08, 0x00, 0x08, 0x00, 0x01, 0x12, 0x04, 0x11, 0x44, 0x01, 0x00, 0xff, 0x09, 0x00,
                0x04, 0x00, 0x11, 0x00, 0x00,
            ],
        ];
        let mut t = at;
        if let Some(cfg) = &d.s7 {
            for f in frames {
                t += ms(4);
                let answer = session.handle(cfg, f);
                b.exchange(&c, t, s7::classify(f), f, answer);
            }
        }
        b.close(&c, t + ms(30));
        summary.szl_read = Some(d.name.clone());
    }

    // Engineering station: List Identity over TCP to the first EtherNet/IP device, over
    // UDP (unicast) to the second.
    let enip_devices: Vec<&DeviceConfig> = plant
        .devices
        .iter()
        .filter(|d| {
            d.enip
                .as_ref()
                .is_some_and(|e| !e.list_identity_unsupported)
        })
        .collect();
    // ODVA Vol. 2, 2-4.2: List Identity, length 0, session 0, sender context, options 0.
    let list_identity = [
        0x63, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, b'o', b't', b'd', b'e', b'm', b'o', 0, 0,
        0, 0, 0, 0,
    ];
    if let Some(d) = enip_devices.first() {
        let at = ms(3_500);
        let c = b.open(d, Protocol::EnipTcp, ENGINEERING, at);
        if let Some(cfg) = &d.enip {
            let answer = enip::handle(cfg, (d.address, cfg.port), &list_identity);
            b.exchange(
                &c,
                at + ms(3),
                enip::classify(&list_identity),
                &list_identity,
                answer,
            );
        }
        b.close(&c, at + ms(20));
        summary.list_identity.push(d.name.clone());
    }
    if let Some(d) = enip_devices.get(1) {
        let at = ms(3_800);
        if let Some(cfg) = &d.enip {
            let c = Conn {
                device: d.name.clone(),
                protocol: Protocol::EnipUdp,
                server: SocketAddr::V4(SocketAddrV4::new(d.address, cfg.port)),
                client: SocketAddr::V4(SocketAddrV4::new(ENGINEERING, b.next_port())),
                conn: 0,
            };
            let answer = enip::handle(cfg, (d.address, cfg.port), &list_identity);
            b.exchange(
                &c,
                at,
                enip::classify(&list_identity),
                &list_identity,
                answer,
            );
            summary.list_identity.push(d.name.clone());
        }
    }

    // The HMI hangs up at the end of the phase.
    let end = Duration::from_secs(u64::from(opts.rounds) + 1) + ms(500);
    for (_, c, _) in &hmi_conns {
        b.close(c, end);
    }

    // Ledger order is time order.
    b.events.sort_by_key(|e| e.at);
    for (i, e) in b.events.iter_mut().enumerate() {
        e.seq = i as u64;
    }
    (b.events, summary)
}

/// [`synthesise`] written as a pcapng capture to `out`.
pub fn write_pcapng(
    plant: &Plant,
    opts: &HmiOptions,
    out: impl std::io::Write,
) -> std::io::Result<HmiSummary> {
    let (events, mut summary) = synthesise(plant, opts);
    let mut w = crate::pcapng::Writer::default();
    w.header();
    for ev in &events {
        w.event(ev);
    }
    if let Some((name, frames)) = dcp_session(plant, opts) {
        for (ts, f) in frames {
            w.ethernet(ts, f.dst, f.src, crate::dcp::ETHERTYPE, &f.payload);
        }
        summary.dcp_set = Some(name);
    }
    let mut out = out;
    out.write_all(&w.take())?;
    out.flush()?;
    Ok(summary)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The unit id a device answers for itself (its first; 1 when any unit answers).
fn modbus_unit(d: &DeviceConfig) -> u8 {
    d.modbus
        .as_ref()
        .and_then(|m| m.unit_ids.first().copied())
        .unwrap_or(1)
}

struct Conn {
    device: String,
    protocol: Protocol,
    server: SocketAddr,
    client: SocketAddr,
    conn: u64,
}

struct Builder {
    events: Vec<LedgerEvent>,
    start: u64,
    conn: u64,
    client_port: u16,
}

impl Builder {
    fn next_port(&mut self) -> u16 {
        self.client_port = self.client_port.wrapping_add(1).max(49152);
        self.client_port
    }

    fn push(&mut self, c: &Conn, at: Duration, kind: EventKind) {
        self.events.push(LedgerEvent {
            seq: 0,
            at,
            unix_micros: self.start + at.as_micros() as u64,
            device: c.device.clone(),
            protocol: c.protocol,
            server: c.server,
            client: c.client,
            conn: c.conn,
            kind,
        });
    }

    fn open(
        &mut self,
        d: &DeviceConfig,
        protocol: Protocol,
        client: Ipv4Addr,
        at: Duration,
    ) -> Conn {
        let port = match protocol {
            Protocol::Modbus => d.modbus.as_ref().map_or(502, |m| m.port),
            Protocol::EnipTcp | Protocol::EnipUdp => d.enip.as_ref().map_or(44818, |e| e.port),
            Protocol::S7 => d.s7.as_ref().map_or(102, |s| s.port),
            Protocol::Bacnet => d.bacnet.as_ref().map_or(47808, |b| b.port),
            Protocol::Opcua => d.opcua.as_ref().map_or(4840, |o| o.port),
            Protocol::FinsTcp | Protocol::FinsUdp => d.fins.as_ref().map_or(9600, |f| f.port),
            Protocol::Fox => d.fox.as_ref().map_or(1911, |f| f.port),
        };
        self.conn += 1;
        let c = Conn {
            device: d.name.clone(),
            protocol,
            server: SocketAddr::V4(SocketAddrV4::new(d.address, port)),
            client: SocketAddr::V4(SocketAddrV4::new(client, self.next_port())),
            conn: self.conn,
        };
        self.push(&c, at, EventKind::Opened);
        c
    }

    fn close(&mut self, c: &Conn, at: Duration) {
        self.push(
            c,
            at,
            EventKind::Closed {
                why: "client closed".into(),
            },
        );
    }

    fn modbus(&mut self, d: &DeviceConfig, c: &Conn, at: Duration, adu: &[u8]) {
        if let Some(cfg) = &d.modbus {
            let answer = modbus::handle(cfg, adu);
            self.exchange(c, at, modbus::classify(adu), adu, answer);
        }
    }

    /// One request and the model's replies, 2 ms apart.
    fn exchange(
        &mut self,
        c: &Conn,
        at: Duration,
        class: crate::Classified,
        request: &[u8],
        answer: Answer,
    ) {
        self.push(
            c,
            at,
            EventKind::Request {
                function: class.function,
                identity: class.identity,
                bytes: request.to_vec(),
            },
        );
        for (i, r) in answer.replies.into_iter().enumerate() {
            self.push(
                c,
                at + ms(2 * (i as u64 + 1)),
                EventKind::Reply { bytes: r },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Plant {
        Plant::from_toml_str(include_str!("../plants/demo.toml")).expect("demo plant")
    }

    #[test]
    fn phase_has_polling_a_write_an_szl_read_and_list_identity() {
        let (events, summary) = synthesise(&demo(), &HmiOptions::default());
        assert!(summary.polled.len() >= 3, "{summary:?}");
        assert_eq!(summary.written.as_deref(), Some("zeek-modbus-test"));
        assert_eq!(summary.szl_read.as_deref(), Some("et200s-im151-8"));
        assert_eq!(summary.list_identity.len(), 2);
        let functions: Vec<&str> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Request { function, .. } => Some(function.as_str()),
                _ => None,
            })
            .collect();
        for f in [
            "read_holding_registers",
            "write_single_register",
            "read_device_identification",
            "list_identity",
        ] {
            assert!(functions.contains(&f), "{f} missing from {functions:?}");
        }
        // Every request got an answer from a model, and time order is ledger order.
        let replies = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Reply { .. }))
            .count();
        assert!(replies >= functions.len(), "{replies} replies");
        assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(events.iter().enumerate().all(|(i, e)| e.seq == i as u64));
    }

    #[test]
    fn every_connection_opens_before_and_closes_after_its_traffic() {
        let (events, _) = synthesise(&demo(), &HmiOptions::default());
        let mut open = std::collections::HashSet::new();
        for e in events
            .iter()
            .filter(|e| !matches!(e.protocol, Protocol::EnipUdp | Protocol::Bacnet))
        {
            match e.kind {
                EventKind::Opened => assert!(open.insert(e.conn)),
                EventKind::Closed { .. } => assert!(open.remove(&e.conn)),
                _ => assert!(
                    open.contains(&e.conn),
                    "traffic outside a connection: {e:?}"
                ),
            }
        }
        assert!(open.is_empty());
    }

    #[test]
    fn a_plant_with_a_profinet_device_gets_a_dcp_identify_and_set_in_the_capture() {
        let ffd = Plant::from_toml_str(include_str!("../plants/ffd.toml")).expect("ffd plant");
        let mut buf = Vec::new();
        let summary = write_pcapng(&ffd, &HmiOptions::default(), &mut buf).expect("write");
        assert_eq!(summary.dcp_set.as_deref(), Some("scalance-x208"));
        let find = |needle: &[u8]| buf.windows(needle.len()).any(|w| w == needle);
        // Identify All to the multicast address, from the engineering station's MAC.
        let mut ident = crate::dcp::IDENTIFY_MULTICAST.to_vec();
        ident.extend_from_slice(&crate::pcapng::mac(ENGINEERING));
        ident.extend_from_slice(&[0x88, 0x92, 0xfe, 0xfe, 0x05, 0x00]);
        assert!(find(&ident));
        // The Set: new IP 192.168.0.7, saved permanently, to the X208's MAC.
        let mut set = vec![0x08, 0x00, 0x06, 0x93, 0xcf, 0x32];
        set.extend_from_slice(&crate::pcapng::mac(ENGINEERING));
        set.extend_from_slice(&[0x88, 0x92, 0xfe, 0xfd, 0x04, 0x00]);
        assert!(find(&set));
        assert!(find(&[0x01, 0x02, 0x00, 0x0e, 0x00, 0x01, 192, 168, 0, 7]));
    }

    #[test]
    fn a_plant_without_a_profinet_device_gets_the_et200sp_named_by_dcp() {
        let mut buf = Vec::new();
        let s = write_pcapng(&demo(), &HmiOptions::default(), &mut buf).expect("write");
        assert_eq!(s.dcp_set.as_deref(), Some("et200sp-im155-6"));
        let find = |needle: &[u8]| buf.windows(needle.len()).any(|w| w == needle);
        let et200sp = [0x00, 0x1b, 0x1b, 0x6e, 0x20, 0x01];
        // Its Identify response to the station: VendorID 0x002a, DeviceID 0x0313, IP 0.
        let mut res = crate::pcapng::mac(ENGINEERING).to_vec();
        res.extend_from_slice(&et200sp);
        res.extend_from_slice(&[0x88, 0x92, 0xfe, 0xff, 0x05, 0x01]);
        assert!(find(&res));
        assert!(find(&[
            0x02, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x2a, 0x03, 0x13
        ]));
        // The Set NameOfStation, saved permanently, to its MAC.
        let mut set = et200sp.to_vec();
        set.extend_from_slice(&crate::pcapng::mac(ENGINEERING));
        set.extend_from_slice(&[0x88, 0x92, 0xfe, 0xfd, 0x04, 0x00]);
        assert!(find(&set));
        let mut name = vec![0x02, 0x02, 0x00, 0x12, 0x00, 0x01];
        name.extend_from_slice(b"pump-station-io1");
        assert!(find(&name));
    }

    #[test]
    fn the_capture_is_pcapng() {
        let mut buf = Vec::new();
        write_pcapng(&demo(), &HmiOptions::default(), &mut buf).expect("write");
        // Section header block type, then the byte-order magic.
        assert_eq!(&buf[0..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
        assert_eq!(&buf[8..12], &[0x4d, 0x3c, 0x2b, 0x1a]);
    }
}
