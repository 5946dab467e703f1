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
/// Most segments of one segmented ComplexACK reassembled: 64, the most a request may
/// accept (max-segments-accepted code 6 or 7, 20.1.2.4); a request that names fewer caps
/// it there.
pub const MAX_SEGMENTS: usize = 64;
/// Segmented answers being reassembled at once (each holds at most
/// [`MAX_SEGMENTS`] x the request's max APDU, 1476 bytes: 94 KiB).
pub const MAX_REASSEMBLIES: usize = 256;

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
    /// A segmented answer that could not be reassembled (a segment out of order or
    /// missing, longer than the request accepts, or too many): nothing of it is read.
    Incomplete {
        device: DeviceKey,
        frame: u64,
        reason: String,
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
    /// The longest APDU the client accepts, in bytes (a segment may be no longer), and
    /// the most segments it accepts.
    max_apdu: usize,
    max_segments: usize,
}

/// The segments of one ComplexACK received so far (20.1.2.11 and 5.3: sequence numbers
/// from 0, in order, the last without more-follows).
#[derive(Debug, Clone, Default)]
struct Reassembly {
    next_seq: usize,
    data: Vec<u8>,
}

/// The max-segments-accepted code of a request as a count (20.1.2.4): 0 unspecified
/// (the cap), 1 = 2, 2 = 4, ... 6 = 64, 7 = more than 64 (the cap).
fn max_segments(code: u8) -> usize {
    match code {
        1..=6 => 1 << code,
        _ => MAX_SEGMENTS,
    }
    .min(MAX_SEGMENTS)
}

/// Pairs requests with replies across datagrams. One per capture.
#[derive(Debug, Default)]
pub struct Analyzer {
    pending: HashMap<PendingKey, Pending>,
    /// Segmented answers being reassembled, by the request they answer.
    reassembly: HashMap<PendingKey, Reassembly>,
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
                        self.reassembly.remove(&key);
                        self.pending.insert(
                            key,
                            Pending {
                                service: r.service,
                                asked_instance,
                                // A reserved code: the largest defined (1476 bytes).
                                max_apdu: usize::from(
                                    crate::wire::bacnet::max_apdu_bytes(r.max_apdu).unwrap_or(1476),
                                ),
                                max_segments: max_segments(r.max_segments),
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
                if let Apdu::SegmentAck { .. } = reply {
                    return Ok(out);
                }
                if let Apdu::ComplexAck {
                    invoke_id,
                    segment: Some((seq, _, more)),
                    service,
                    data,
                } = reply
                {
                    let Some(p) = self.pending.get(&key).cloned() else {
                        return Ok(out);
                    };
                    match self.segment(&key, &p, seq, more, data) {
                        Ok(None) => {}
                        Ok(Some(whole)) => {
                            self.pending.remove(&key);
                            let reply = Apdu::ComplexAck {
                                invoke_id,
                                segment: None,
                                service,
                                data: whole,
                            };
                            out.extend(self.on_reply(frame, from, &p, reply));
                        }
                        Err(reason) => {
                            // Never a wrong identity: the answer is dropped whole.
                            self.pending.remove(&key);
                            self.reassembly.remove(&key);
                            out.push(Event::Incomplete {
                                device: from,
                                frame,
                                reason,
                            });
                        }
                    }
                    return Ok(out);
                }
                let Some(p) = self.pending.remove(&key) else {
                    return Ok(out);
                };
                self.reassembly.remove(&key);
                out.extend(self.on_reply(frame, from, &p, reply));
            }
        }
        Ok(out)
    }

    /// One segment of a ComplexACK answering `p`: `Ok(Some(data))` with the whole
    /// answer's service data after its last segment, `Ok(None)` while more are due, and
    /// why the answer cannot be reassembled otherwise. A repeated segment (the device
    /// resends a window whose SegmentACK it missed) is skipped.
    fn segment(
        &mut self,
        key: &PendingKey,
        p: &Pending,
        seq: u8,
        more: bool,
        data: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, String> {
        let seq = usize::from(seq);
        if seq == 0 && !self.reassembly.contains_key(key) {
            if self.reassembly.len() >= MAX_REASSEMBLIES {
                return Err(format!(
                    "more than {MAX_REASSEMBLIES} segmented answers at once"
                ));
            }
            self.reassembly.insert(key.clone(), Reassembly::default());
        }
        let Some(r) = self.reassembly.get_mut(key) else {
            return Err(format!("segment {seq} without segment 0"));
        };
        if seq < r.next_seq {
            return Ok(None);
        }
        if seq > r.next_seq {
            return Err(format!(
                "segment {seq} where segment {} was due (missing or out of order)",
                r.next_seq
            ));
        }
        // The segment's service data, without the APDU header (at most 5 bytes), may not
        // exceed what the client accepts as one APDU (20.1.2.5).
        if data.len() > p.max_apdu {
            return Err(format!(
                "segment {seq} holds {} bytes, more than the {} the request accepts",
                data.len(),
                p.max_apdu
            ));
        }
        if seq + 1 > p.max_segments {
            return Err(format!(
                "more than {} segments (the most the request accepts, at most {MAX_SEGMENTS})",
                p.max_segments
            ));
        }
        r.data.extend_from_slice(&data);
        r.next_seq = seq + 1;
        if more {
            return Ok(None);
        }
        Ok(self.reassembly.remove(key).map(|r| r.data))
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
                // Segments come here reassembled (`Analyzer::segment`).
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

    /// A B/IP datagram (BVLC Original-Unicast-NPDU, J.2.11) with a local NPDU (version 1,
    /// control 0) around `apdu`.
    fn bip(apdu: &[u8]) -> Vec<u8> {
        let mut out = vec![0x81, 0x0a];
        out.extend(((apdu.len() + 6) as u16).to_be_bytes());
        out.extend([0x01, 0x00]);
        out.extend(apdu);
        out
    }

    /// ReadPropertyMultiple (15.7.1) of device 1234's object-name, model-name and
    /// vendor-identifier, invoke id 7: PDU type 0 with segmented-response-accepted, the
    /// max-segments / max-APDU byte `max` (20.1.2.4-5), service 14.
    fn rpm_request(max: u8) -> Vec<u8> {
        bip(&hex(&format!(
            "02 {max:02x} 07 0e 0c020004d2 1e 094d 0946 0978 1f"
        )))
    }

    /// The RPM-ACK's service data (15.7.1.3): device 1234, object-name "SegDevice",
    /// model-name "Model-X-99" (character strings, ANSI X3.4), vendor-identifier 42.
    fn rpm_ack_data() -> Vec<u8> {
        let mut d = hex("0c020004d2 1e 294d 4e 750a00");
        d.extend(b"SegDevice");
        d.extend(hex("4f 2946 4e 750b00"));
        d.extend(b"Model-X-99");
        d.extend(hex("4f 2978 4e 212a 4f 1f"));
        d
    }

    /// ComplexACK segment `seq` (20.1.5: SEG, MOR when more follow, invoke 7, window 4,
    /// service 14).
    fn segment(seq: u8, more: bool, data: &[u8]) -> Vec<u8> {
        let mut apdu = vec![0x38 | if more { 0x04 } else { 0 }, 7, seq, 4, 0x0e];
        apdu.extend(data);
        bip(&apdu)
    }

    fn run(a: &mut Analyzer, dgrams: &[(bool, Vec<u8>)]) -> Vec<Event> {
        let mut out = Vec::new();
        for (i, (from_client, d)) in dgrams.iter().enumerate() {
            let m = if *from_client {
                meta("10.0.0.1", "10.0.0.2", i as u64 + 1)
            } else {
                meta("10.0.0.2", "10.0.0.1", i as u64 + 1)
            };
            out.extend(a.on_bip(&m, d).unwrap());
        }
        out
    }

    fn incomplete(ev: &[Event]) -> Vec<String> {
        ev.iter()
            .filter_map(|e| match e {
                Event::Incomplete { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_segmented_rpm_ack_is_reassembled_into_its_properties() {
        let data = rpm_ack_data();
        let (a1, rest) = data.split_at(10);
        let (a2, a3) = rest.split_at(17);
        let mut a = Analyzer::new();
        // max segments 4 (code 2), max APDU 480 (code 3).
        let ev = run(
            &mut a,
            &[
                (true, rpm_request(0x23)),
                (false, segment(0, true, a1)),
                (true, bip(&hex("40 07 00 04"))), // the client's SegmentACK
                (false, segment(1, true, a2)),
                (false, segment(1, true, a2)), // resent: skipped
                (false, segment(2, false, a3)),
            ],
        );
        assert!(incomplete(&ev).is_empty(), "{ev:?}");
        let f = fold(&ev);
        let id = f.values().next().expect("an identity");
        assert_eq!(id.object_name.as_deref(), Some("SegDevice"));
        assert_eq!(id.model_name.as_deref(), Some("Model-X-99"));
        assert_eq!(id.vendor_id, Some(42));
        // The last segment's frame is the identity's.
        assert!(matches!(ev.last(), Some(Event::Identity { frame: 6, .. })));
    }

    #[test]
    fn out_of_order_missing_oversized_or_too_many_segments_are_warned_never_read() {
        let data = rpm_ack_data();
        let (a1, rest) = data.split_at(10);
        let (a2, a3) = rest.split_at(17);
        // Segment 2 before segment 1: dropped whole, and the late segments read nothing.
        let mut a = Analyzer::new();
        let ev = run(
            &mut a,
            &[
                (true, rpm_request(0x23)),
                (false, segment(0, true, a1)),
                (false, segment(2, false, a3)),
                (false, segment(1, true, a2)),
                (false, segment(2, false, a3)),
            ],
        );
        assert_eq!(
            incomplete(&ev),
            ["segment 2 where segment 1 was due (missing or out of order)"]
        );
        assert!(fold(&ev).is_empty(), "{ev:?}");
        // Segment 0 missing.
        let mut a = Analyzer::new();
        let ev = run(
            &mut a,
            &[(true, rpm_request(0x23)), (false, segment(1, false, a2))],
        );
        assert_eq!(incomplete(&ev), ["segment 1 without segment 0"]);
        // A segment longer than the 50 bytes the request accepts (max-APDU code 0).
        let mut a = Analyzer::new();
        let twice = [data.clone(), data.clone()].concat();
        let ev = run(
            &mut a,
            &[(true, rpm_request(0x20)), (false, segment(0, true, &twice))],
        );
        assert_eq!(
            incomplete(&ev),
            ["segment 0 holds 92 bytes, more than the 50 the request accepts"]
        );
        // Three segments where the request accepts two (max-segments code 1).
        let mut a = Analyzer::new();
        let ev = run(
            &mut a,
            &[
                (true, rpm_request(0x13)),
                (false, segment(0, true, a1)),
                (false, segment(1, true, a2)),
                (false, segment(2, false, a3)),
            ],
        );
        assert_eq!(
            incomplete(&ev),
            ["more than 2 segments (the most the request accepts, at most 64)"]
        );
        assert!(fold(&ev).is_empty());
        // Segments answering no request: nothing, not even a warning.
        let mut a = Analyzer::new();
        let ev = run(&mut a, &[(false, segment(0, false, &data))]);
        assert!(ev.is_empty());
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
                Event::Incomplete { reason, frame, .. } => {
                    if ctx.warnings.len() < 20 {
                        ctx.warnings.push(format!(
                            "frame {frame}: a segmented bacnet answer from {} was not \
                             reassembled ({reason}): its properties were not read",
                            ctx.src
                        ));
                    }
                }
                Event::Negative { .. } | Event::Client { .. } => {}
            }
        }
    }
}
