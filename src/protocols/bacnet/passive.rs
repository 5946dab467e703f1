//! What BACnet traffic says, as the passive side reads it: identities from I-Am and from
//! ReadProperty/ReadPropertyMultiple acks paired with their requests, and writes and
//! control (WriteProperty, WritePropertyMultiple, DeviceCommunicationControl,
//! ReinitializeDevice, AtomicWriteFile, CreateObject, DeleteObject, ...) as operations
//! named `bacnet.<service>`.
//!
//! Functions over datagrams: the engine hands each B/IP UDP payload ([`Analyzer::on_bip`])
//! or BACnet/Ethernet LLC payload ([`Analyzer::on_llc`]) with its addresses; nothing here
//! reads a file or a socket.
//!
//! # Pitfalls of real captures (`$OTSCOUT_CAPTURES/INDEX.md`)
//! - An ack is an identity only once paired with the request it answers (same client,
//!   server, route and invoke id); the ack's object echoes the request's, wildcard
//!   included, so the instance comes from `object-identifier`'s value, I-Am, or a request
//!   that named a real instance.
//! - Devices behind a router share its IP: a reply's SNET/SADR (a request's DNET/DADR) is
//!   kept as the [`Route`], and a device is keyed on (station, route).
//! - A datagram whose IP source is a broadcast address (192.168.0.255 in
//!   `bacnet_services.pcap`) is an echo of a broadcast, never a device: it is skipped.
//! - An I-Am of instance 4194303 is a client advertising itself ([`Event::Client`]).
//! - A Forwarded-NPDU is keyed on the originating address it carries, not on the BBMD
//!   that relayed it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::identity::{BacnetIdentity, Route};
use crate::wire::DecodeError;
use crate::wire::bacnet::{
    Access, Apdu, BvlcFunction, Bvll, ConfirmedService, IAm, NetAddr, Npdu, ReadPropertyAck,
    ReadPropertyRequest, RpmAck, UnconfirmedService, WILDCARD_INSTANCE, abort_reason_name,
    decode_error, error_class_name, error_code_name, llc_npdu, reject_reason_name,
};

/// Most requests waiting for their reply at once; past it new requests are not paired (a
/// capture of a flood must not grow memory without bound). A real client keeps at most 255
/// per peer (one per invoke id).
pub const MAX_PENDING: usize = 65_536;

/// A link-level station: an IP address (B/IP) or an Ethernet MAC (BACnet/Ethernet, which
/// has no IP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Station {
    Ip(IpAddr),
    Mac([u8; 6]),
}

/// One BACnet device: the station that sent its packets, and its route behind it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceKey {
    pub station: Station,
    pub route: Option<Route>,
}

/// Something the analyzer found in one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Identity facts (partial: one I-Am or one ack) about a device.
    Identity {
        device: DeviceKey,
        frame: u64,
        identity: BacnetIdentity,
    },
    /// A request that writes or controls: who did what to which device.
    Operation {
        client: Station,
        device: DeviceKey,
        frame: u64,
        /// `bacnet.write_property`, `bacnet.reinitialize_device`, ...
        name: String,
        access: Access,
    },
    /// A device answered a paired request with Error, Reject or Abort.
    Negative {
        device: DeviceKey,
        frame: u64,
        request: String,
        answer: String,
    },
    /// An I-Am of instance 4194303: a client (a workstation, a router) advertising itself.
    Client {
        station: Station,
        frame: u64,
        vendor_id: u32,
    },
}

/// Where a B/IP datagram went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// The capture's frame number (1-based).
    pub frame: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PendingKey {
    client: Station,
    client_port: u16,
    server: Station,
    route: Option<NetAddr>,
    invoke_id: u8,
}

#[derive(Debug, Clone)]
struct Pending {
    service: ConfirmedService,
    /// The ReadProperty's instance, when it named a real one.
    asked_instance: Option<u32>,
}

/// Pairs requests with replies across datagrams. One per capture.
#[derive(Debug, Default)]
pub struct Analyzer {
    pending: HashMap<PendingKey, Pending>,
    /// Requests not paired because [`MAX_PENDING`] were waiting.
    pub dropped_pending: u64,
    /// Datagrams skipped as broadcast echoes.
    pub echoes: u64,
}

/// True for an IPv4 source that can only be a broadcast: 255.255.255.255 or an address
/// ending in .255 (the directed broadcast of the /24s BACnet sites use; a host .255 in a
/// wider subnet is possible but rare, and its I-Am still reaches us unicast).
pub fn is_broadcast_source(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_broadcast() || v4.octets()[3] == 255,
        IpAddr::V6(v6) => v6.is_multicast(),
    }
}

fn op_name(name: &str) -> String {
    format!("bacnet.{name}")
}

impl Analyzer {
    pub fn new() -> Self {
        Self::default()
    }

    /// One B/IP UDP payload. An error says why the bytes are not BACnet/IP.
    pub fn on_bip(&mut self, meta: &Meta, payload: &[u8]) -> Result<Vec<Event>, DecodeError> {
        if is_broadcast_source(meta.src.ip()) {
            self.echoes += 1;
            return Ok(Vec::new());
        }
        let bvll = Bvll::decode_exact(payload)?;
        // A Forwarded-NPDU (J.2.9) comes from a BBMD on behalf of the device whose B/IP
        // address it carries: that device, not the BBMD that relayed it, is the sender.
        let src = match bvll.forwarded_from {
            Some((ip, _)) => Station::Ip(IpAddr::from(ip)),
            None => Station::Ip(meta.src.ip()),
        };
        let dst = Station::Ip(meta.dst.ip());
        let mut out = Vec::new();
        match bvll.function {
            // Tables of a BBMD changed, or the sender entered in it.
            BvlcFunction::WriteBdt
            | BvlcFunction::DeleteFdtEntry
            | BvlcFunction::RegisterForeignDevice => out.push(Event::Operation {
                client: src,
                device: DeviceKey {
                    station: dst,
                    route: None,
                },
                frame: meta.frame,
                name: op_name(bvll.function.name()),
                access: Access::Write,
            }),
            _ => {}
        }
        if let Some(npdu) = bvll.npdu() {
            let npdu = Npdu::decode(npdu)?;
            out.extend(self.on_npdu(
                meta.frame,
                (src, meta.src.port()),
                (dst, meta.dst.port()),
                !is_unicast(meta.dst.ip()),
                &npdu,
            )?);
        }
        Ok(out)
    }

    /// One BACnet/Ethernet frame's LLC payload (DSAP 0x82, SSAP 0x82, UI), cut to the
    /// 802.3 length (the padding of short frames is not BACnet). `src`/`dst` are the MACs.
    pub fn on_llc(
        &mut self,
        frame: u64,
        src: [u8; 6],
        dst: [u8; 6],
        llc: &[u8],
    ) -> Result<Vec<Event>, DecodeError> {
        let Some(npdu) = llc_npdu(llc) else {
            return Ok(Vec::new());
        };
        let npdu = Npdu::decode(npdu)?;
        let broadcast = dst[0] & 1 == 1;
        self.on_npdu(
            frame,
            (Station::Mac(src), 0),
            (Station::Mac(dst), 0),
            broadcast,
            &npdu,
        )
    }

    fn on_npdu(
        &mut self,
        frame: u64,
        (src, sport): (Station, u16),
        (dst, dport): (Station, u16),
        dst_broadcast: bool,
        npdu: &Npdu,
    ) -> Result<Vec<Event>, DecodeError> {
        if npdu.network_message.is_some() {
            return Ok(Vec::new());
        }
        let apdu = Apdu::decode(&npdu.apdu)?;
        let mut out = Vec::new();
        // The device a reply or announcement comes from: the sender, behind its SNET/SADR.
        let from = DeviceKey {
            station: src,
            route: npdu.source.as_ref().map(Route::from),
        };
        // The device a request goes to: the receiver, behind its DNET/DADR (a broadcast
        // DADR names no device).
        let to = DeviceKey {
            station: dst,
            route: npdu
                .destination
                .as_ref()
                .filter(|d| !d.mac.is_empty() && d.network != 0xFFFF)
                .map(Route::from),
        };
        match apdu {
            Apdu::ConfirmedRequest(r) => {
                let (name, access) = r.service.classify();
                if access != Access::Read {
                    out.push(Event::Operation {
                        client: src,
                        device: to.clone(),
                        frame,
                        name: op_name(name),
                        access,
                    });
                }
                // A segmented request's later segments carry no new service data; pair
                // only the first (or only) one.
                if r.segment.is_none_or(|(seq, _)| seq == 0) {
                    let asked_instance = (r.service == ConfirmedService::READ_PROPERTY)
                        .then(|| ReadPropertyRequest::decode(&r.data).ok())
                        .flatten()
                        .filter(|q| {
                            q.object.object_type == crate::wire::bacnet::OBJECT_DEVICE
                                && q.object.instance != WILDCARD_INSTANCE
                        })
                        .map(|q| q.object.instance);
                    let key = PendingKey {
                        client: src,
                        client_port: sport,
                        server: dst,
                        route: npdu.destination.clone(),
                        invoke_id: r.invoke_id,
                    };
                    if self.pending.len() < MAX_PENDING || self.pending.contains_key(&key) {
                        self.pending.insert(
                            key,
                            Pending {
                                service: r.service,
                                asked_instance,
                            },
                        );
                    } else {
                        self.dropped_pending += 1;
                    }
                }
            }
            Apdu::Unconfirmed { service, data } => {
                let (name, access) = service.classify();
                if service == UnconfirmedService::I_AM {
                    if let Ok(i) = IAm::decode(&data) {
                        let mut id = BacnetIdentity {
                            route: from.route.clone(),
                            ..Default::default()
                        };
                        if id.apply_i_am(&i) {
                            out.push(Event::Identity {
                                device: from,
                                frame,
                                identity: id,
                            });
                        } else {
                            out.push(Event::Client {
                                station: src,
                                frame,
                                vendor_id: i.vendor_id,
                            });
                        }
                    }
                } else if access != Access::Read && !dst_broadcast {
                    out.push(Event::Operation {
                        client: src,
                        device: to,
                        frame,
                        name: op_name(name),
                        access,
                    });
                }
            }
            reply => {
                let Some(invoke_id) = reply.invoke_id() else {
                    return Ok(out);
                };
                // A segment ACK from the client travels client -> server: not a reply.
                if matches!(reply, Apdu::SegmentAck { server: false, .. }) {
                    return Ok(out);
                }
                let key = PendingKey {
                    client: dst,
                    client_port: dport,
                    server: src,
                    route: npdu.source.clone(),
                    invoke_id,
                };
                let segmented_more = matches!(
                    reply,
                    Apdu::ComplexAck {
                        segment: Some((_, _, true)),
                        ..
                    } | Apdu::SegmentAck { .. }
                );
                let Some(p) = (if segmented_more {
                    self.pending.get(&key).cloned()
                } else {
                    self.pending.remove(&key)
                }) else {
                    return Ok(out);
                };
                out.extend(self.on_reply(frame, from, &p, reply));
            }
        }
        Ok(out)
    }

    fn on_reply(&mut self, frame: u64, device: DeviceKey, p: &Pending, reply: Apdu) -> Vec<Event> {
        let request = op_name(p.service.classify().0);
        let negative = |answer: String| Event::Negative {
            device: device.clone(),
            frame,
            request: request.clone(),
            answer,
        };
        let mut id = BacnetIdentity {
            route: device.route.clone(),
            ..Default::default()
        };
        match reply {
            Apdu::ComplexAck {
                service,
                data,
                segment,
                ..
            } if service == p.service => {
                // A segmented answer's pieces are not reassembled here: only an unsegmented
                // ack is read (the identity properties fit one).
                if segment.is_some() {
                    return Vec::new();
                }
                if service == ConfirmedService::READ_PROPERTY {
                    if let Ok(a) = ReadPropertyAck::decode(&data) {
                        id.apply(a.property, &a.values);
                        if let Some(i) = p.asked_instance {
                            id.instance.get_or_insert(i);
                        }
                    }
                } else if service == ConfirmedService::READ_PROPERTY_MULTIPLE
                    && let Ok(a) = RpmAck::decode(&data)
                {
                    for (object, results) in &a.objects {
                        if object.object_type != crate::wire::bacnet::OBJECT_DEVICE {
                            continue;
                        }
                        for r in results {
                            if let Ok(v) = &r.value {
                                id.apply(r.property, v);
                            }
                        }
                    }
                }
                if id.is_empty() {
                    Vec::new()
                } else {
                    vec![Event::Identity {
                        device,
                        frame,
                        identity: id,
                    }]
                }
            }
            Apdu::Error { data, .. } => match decode_error(&data) {
                Ok((class, code)) => vec![negative(format!(
                    "error {}/{} ({class}/{code})",
                    error_class_name(class),
                    error_code_name(code)
                ))],
                Err(_) => vec![negative("error (undecodable)".into())],
            },
            Apdu::Reject { reason, .. } => vec![negative(format!(
                "reject {} ({reason})",
                reject_reason_name(reason)
            ))],
            Apdu::Abort { reason, .. } => vec![negative(format!(
                "abort {} ({reason})",
                abort_reason_name(reason)
            ))],
            _ => Vec::new(),
        }
    }
}

fn is_unicast(ip: IpAddr) -> bool {
    !is_broadcast_source(ip) && !ip.is_multicast()
}

/// Folds identity events into one identity per device, in key order (the first value of
/// each field wins, as the events came).
pub fn fold(events: &[Event]) -> std::collections::BTreeMap<DeviceKey, BacnetIdentity> {
    let mut out = std::collections::BTreeMap::<DeviceKey, BacnetIdentity>::new();
    for e in events {
        if let Event::Identity {
            device, identity, ..
        } = e
        {
            let slot = out.entry(device.clone()).or_insert_with(|| BacnetIdentity {
                route: device.route.clone(),
                ..Default::default()
            });
            merge(slot, identity);
        }
    }
    out
}

fn merge(into: &mut BacnetIdentity, from: &BacnetIdentity) {
    fn take<T: Clone>(a: &mut Option<T>, b: &Option<T>) {
        if a.is_none() {
            a.clone_from(b);
        }
    }
    take(&mut into.instance, &from.instance);
    take(&mut into.object_name, &from.object_name);
    take(&mut into.vendor_name, &from.vendor_name);
    take(&mut into.vendor_id, &from.vendor_id);
    take(&mut into.model_name, &from.model_name);
    take(&mut into.firmware_revision, &from.firmware_revision);
    take(
        &mut into.application_software_version,
        &from.application_software_version,
    );
    take(&mut into.description, &from.description);
    take(&mut into.location, &from.location);
    take(&mut into.max_apdu, &from.max_apdu);
    take(&mut into.segmentation, &from.segmentation);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn meta(src: &str, dst: &str, frame: u64) -> Meta {
        Meta {
            src: format!("{src}:47808").parse().unwrap(),
            dst: format!("{dst}:47808").parse().unwrap(),
            frame,
        }
    }

    #[test]
    fn an_ack_without_its_request_is_not_an_identity() {
        let mut a = Analyzer::new();
        // bacnet_test.pcap frame 4 alone.
        let ev = a
            .on_bip(
                &meta("10.1.1.165", "10.1.1.167", 4),
                &hex("810a0017 0100 30010c 0c023fffff 194b 3e c4020001f4 3f"),
            )
            .unwrap();
        assert!(ev.is_empty());
        // With frame 3 first, it is.
        a.on_bip(
            &meta("10.1.1.167", "10.1.1.165", 3),
            &hex("810a0011 0104 0005010c 0c023fffff 194b"),
        )
        .unwrap();
        let ev = a
            .on_bip(
                &meta("10.1.1.165", "10.1.1.167", 4),
                &hex("810a0017 0100 30010c 0c023fffff 194b 3e c4020001f4 3f"),
            )
            .unwrap();
        let f = fold(&ev);
        assert_eq!(f.len(), 1);
        assert_eq!(f.values().next().unwrap().instance, Some(500));
    }

    #[test]
    fn broadcast_echoes_are_skipped() {
        let mut a = Analyzer::new();
        // bacnet_services.pcap frame 288: an I-Am echoed from 192.168.0.255.
        let ev = a
            .on_bip(
                &meta("192.168.0.255", "192.168.0.1", 288),
                &hex("810b001c 0128ffff0000 03016c fe 1000 c40200006c 2201e0 9100 212a"),
            )
            .unwrap();
        assert!(ev.is_empty());
        assert_eq!(a.echoes, 1);
    }

    #[test]
    fn the_routers_own_i_am_is_a_client() {
        let mut a = Analyzer::new();
        // Frame 299.
        let ev = a
            .on_bip(
                &meta("192.168.0.24", "192.168.0.255", 299),
                &hex("810b0014 0100 1000 c4023fffff 2201e0 9103 2118"),
            )
            .unwrap();
        assert_eq!(
            ev,
            vec![Event::Client {
                station: Station::Ip("192.168.0.24".parse().unwrap()),
                frame: 299,
                vendor_id: 24
            }]
        );
    }

    #[test]
    fn writes_and_control_are_operations_on_the_routed_device() {
        let mut a = Analyzer::new();
        // Frame 3: WriteProperty to DNET 3 DADR 0x6c via 192.168.0.24.
        let ev = a
            .on_bip(
                &meta("192.168.0.50", "192.168.0.24", 3),
                &hex("810a001f 0124 0003016c ff 0203020f 0c00400065 1955 3e 4442480000 3f 490a"),
            )
            .unwrap();
        assert_eq!(
            ev,
            vec![Event::Operation {
                client: Station::Ip("192.168.0.50".parse().unwrap()),
                device: DeviceKey {
                    station: Station::Ip("192.168.0.24".parse().unwrap()),
                    route: Some(Route {
                        network: 3,
                        mac: "6c".into()
                    })
                },
                frame: 3,
                name: "bacnet.write_property".into(),
                access: Access::Write
            }]
        );
        // bacnet_test.pcap frame 25: Register-Foreign-Device changes a BBMD's table.
        let ev = a
            .on_bip(&meta("10.1.1.167", "10.1.1.165", 25), &hex("810500060010"))
            .unwrap();
        assert!(
            matches!(&ev[0], Event::Operation { name, .. } if name == "bacnet.register_foreign_device")
        );
    }

    #[test]
    fn llc_i_am_keeps_its_route() {
        let mut a = Analyzer::new();
        // bacnet_services.pcap frame 286 (LLC payload, cut to the 802.3 length 0x1b).
        let ev = a
            .on_llc(
                286,
                [0x00, 0xe0, 0xc9, 0x00, 0x10, 0xa5],
                [0xff; 6],
                &hex("828203 0128ffff0000 03016c fe 1000 c40200006c 2201e0 9100 212a"),
            )
            .unwrap();
        let Event::Identity {
            device, identity, ..
        } = &ev[0]
        else {
            panic!("{ev:?}")
        };
        assert_eq!(
            device.station,
            Station::Mac([0x00, 0xe0, 0xc9, 0x00, 0x10, 0xa5])
        );
        assert_eq!(
            device.route,
            Some(Route {
                network: 3,
                mac: "6c".into()
            })
        );
        assert_eq!(
            (identity.instance, identity.vendor_id),
            (Some(108), Some(42))
        );
    }

    #[test]
    fn a_forwarded_i_am_belongs_to_the_originating_device_not_the_bbmd() {
        let mut a = Analyzer::new();
        // Forwarded-NPDU from BBMD 10.0.0.1 carrying 10.9.0.7:47808's I-Am of device 77.
        let ev = a
            .on_bip(
                &meta("10.0.0.1", "10.0.0.255", 1),
                &hex("8104 001a 0a090007bac0 0100 1000 c40200004d 2201e0 9103 2105"),
            )
            .unwrap();
        let Event::Identity {
            device, identity, ..
        } = &ev[0]
        else {
            panic!("{ev:?}")
        };
        assert_eq!(device.station, Station::Ip("10.9.0.7".parse().unwrap()));
        assert_eq!(identity.instance, Some(77));
    }
}

/// The engine's analyzer for BACnet/IP datagrams: one per UDP host pair on 47808
/// ([`super::Bacnet`]'s `udp_pairs_state`), so acks pair with their requests across
/// datagrams.
#[derive(Debug, Default)]
pub struct BacnetFlow {
    inner: Analyzer,
}

impl crate::protocols::analyzer::Analyzer for BacnetFlow {
    fn on_frame(&mut self, frame: &[u8], ctx: &mut crate::protocols::analyzer::Ctx<'_>) {
        self.on_datagram(frame, ctx);
    }

    fn on_datagram(&mut self, payload: &[u8], ctx: &mut crate::protocols::analyzer::Ctx<'_>) {
        use crate::inventory::{Identity, OperationKind, Protocol};
        let port = ctx.server_port;
        let meta = Meta {
            src: SocketAddr::new(ctx.src, port),
            dst: SocketAddr::new(ctx.dst(), port),
            frame: ctx.at.frame,
        };
        let events = match self.inner.on_bip(&meta, payload) {
            Ok(e) => e,
            Err(e) => return ctx.undecoded(Protocol::Bacnet, "bacnet/ip datagram", payload, &e),
        };
        ctx.stats.pdus += 1;
        for e in events {
            match e {
                Event::Identity {
                    device, identity, ..
                } => {
                    let Station::Ip(ip) = device.station else {
                        continue;
                    };
                    // A routed device is the router's sub-asset at `bacnet:N/MAC`.
                    let path = device.route.as_ref().map(super::identity::route_path);
                    ctx.col.identity_at(
                        ip,
                        path,
                        "bacnet".into(),
                        Identity::Bacnet(identity),
                        payload,
                        ctx.at,
                    );
                }
                Event::Operation {
                    client,
                    device,
                    name,
                    access,
                    ..
                } => {
                    let (Station::Ip(actor), Station::Ip(target)) = (client, device.station) else {
                        continue;
                    };
                    let kind = match access {
                        Access::Write => OperationKind::Write,
                        Access::Control => OperationKind::Control,
                        // Private or unassigned services: possibly state-changing.
                        _ => OperationKind::Write,
                    };
                    ctx.col
                        .operation(target, actor, Protocol::Bacnet, kind, &name, ctx.at);
                }
                Event::Negative { .. } | Event::Client { .. } => {}
            }
        }
    }
}
