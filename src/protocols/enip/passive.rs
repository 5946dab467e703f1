//! EtherNet/IP and CIP analyzer over `wire::enip`.
//!
//! - List Identity replies (TCP or UDP, including answers to broadcasts) become the
//!   replying packet's IP source's identity; the socket address inside the item is kept
//!   as data, never used as the key.
//! - A CIP reply is an identity only when it is **paired** with the request it answers,
//!   and that request was Get_Attributes_All to the Identity object (class 0x01,
//!   instance 1), directly, inside an Unconnected Send (0x52 to the Connection Manager)
//!   or inside a Multiple Service Packet. A CIP reply does not name its class, so nothing
//!   else will do: a Logix controller's name or a module's catalog string read with the
//!   same service from another object is not an identity. Pairing follows the
//!   encapsulation: SendRRData replies echo the request's sender context (ODVA Vol. 2
//!   2-3.1), SendUnitData replies the connected data item's sequence count (Vol. 2
//!   2-6.3.2); several requests with the same key are answered in order.
//! - An identity read through an Unconnected Send with a route path belongs to the module
//!   at that path (a controller in a backplane slot behind the communication module that
//!   answered): it is recorded with the path (`cip:1/0`), never as the answering IP's
//!   own identity.
//! - Client requests are classified with `wire::enip::classify`, which opens Multiple
//!   Service Packets and Unconnected Sends: Set_Attribute*, write tag, reset/start/stop
//!   become operations on the server.

use std::collections::VecDeque;

use crate::inventory::{Identity, Protocol};
use crate::protocols::analyzer::{Analyzer, Ctx, Dir};
use crate::protocols::enip::identity as enip_identity;
pub use crate::protocols::enip::ops::operation_kind;
use crate::wire::enip::{
    self, Body, CipMessage, CipReply, CipRequest, Command, Frame, ItemType, class, service,
};
use crate::wire::{Cursor, DecodeError};

/// CIP requests awaiting their reply, per flow (a client with more outstanding than this
/// is not waiting for answers; the oldest are forgotten).
const MAX_OUTSTANDING: usize = 64;

/// How a reply names the request it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PairKey {
    /// SendRRData: the encapsulation header's sender context, echoed.
    Context([u8; 8]),
    /// SendUnitData: the connected data item's sequence count, echoed.
    Sequence(u16),
}

/// What the reply to a request will be.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// The Identity object's attributes; `Some(path)` when read through a route path.
    Identity(Option<String>),
    /// A Multiple Service Packet: one entry per embedded request, in order.
    Multiple(Vec<Option<Option<String>>>),
    /// Anything else.
    Other,
}

/// Per-flow EtherNet/IP state: the [registry](super::super::registry)'s analyzer for EtherNet/IP.
#[derive(Debug, Default)]
pub struct EnipAnalyzer {
    pending: VecDeque<(PairKey, Expect)>,
}

/// The pairing key of a SendRRData / SendUnitData frame.
fn pair_key(frame: &Frame) -> Option<PairKey> {
    match frame.header.command {
        Command::SendRrData => Some(PairKey::Context(frame.header.sender_context)),
        Command::SendUnitData => {
            let Body::SendData(s) = &frame.body else {
                return None;
            };
            let item = s.cpf.find(ItemType::ConnectedData)?;
            let seq = item.data.get(..2)?;
            Some(PairKey::Sequence(u16::from_le_bytes([seq[0], seq[1]])))
        }
        _ => None,
    }
}

/// Get_Attributes_All to the Identity object, instance 1 (Vol. 1 5A-2.2), or
/// Get_Attribute_List of at least the identity attributes
/// ([`enip::IDENTITY_LIST_ATTRIBUTES`]). Instance 0 (or none) would be the class's own
/// attributes, not the device's identity.
fn is_identity_read(req: &CipRequest) -> bool {
    let t = req.target();
    if t.class != Some(class::IDENTITY) || t.instance != Some(1) {
        return false;
    }
    match req.service {
        service::GET_ATTRIBUTES_ALL => true,
        service::GET_ATTRIBUTE_LIST => enip::attribute_list_request(&req.data).is_ok_and(|ids| {
            enip::IDENTITY_LIST_ATTRIBUTES
                .iter()
                .all(|a| ids.contains(a))
        }),
        _ => false,
    }
}

/// What the reply to `req` will carry.
fn expect(req: &CipRequest, depth: usize) -> Expect {
    if is_identity_read(req) {
        return Expect::Identity(None);
    }
    let t = req.target();
    if depth >= enip::MAX_NESTING {
        return Expect::Other;
    }
    if req.service == service::UNCONNECTED_SEND && t.class == Some(class::CONNECTION_MANAGER) {
        // The reply to a routed request is the embedded request's own reply. Whatever
        // identity it carries (a Get_Attributes_All, or one inside a Multiple Service
        // Packet, or a further Unconnected Send) belongs to the module at the route path,
        // which is prefixed to any path the inner request adds.
        let Ok((inner, route)) = enip::unconnected_send(&req.data) else {
            return Expect::Other;
        };
        let e = expect(&inner, depth + 1);
        if route.is_empty() {
            return e;
        }
        let here = enip::route_path_text(&route);
        let through = |path: Option<String>| -> Option<String> {
            Some(match path {
                None => here.clone(),
                Some(p) => format!("{here},{}", p.trim_start_matches("cip:")),
            })
        };
        return match e {
            Expect::Identity(path) => Expect::Identity(through(path)),
            Expect::Multiple(each) => {
                Expect::Multiple(each.into_iter().map(|w| w.map(through)).collect())
            }
            Expect::Other => Expect::Other,
        };
    }
    if req.service == service::MULTIPLE_SERVICE_PACKET && t.class == Some(class::MESSAGE_ROUTER) {
        if let Ok(parts) = enip::multiple_service_parts(&req.data) {
            let each = parts
                .iter()
                .map(|p| match CipRequest::decode(&mut Cursor::framed(p)) {
                    Ok(r) if is_identity_read(&r) => Some(None),
                    _ => None,
                })
                .collect::<Vec<_>>();
            if each.iter().any(Option::is_some) {
                return Expect::Multiple(each);
            }
        }
    }
    Expect::Other
}

impl Analyzer for EnipAnalyzer {
    fn on_frame(&mut self, bytes: &[u8], ctx: &mut Ctx<'_>) {
        let frame = match Frame::decode_exact(bytes) {
            Ok(f) => f,
            Err(e) => return ctx.undecoded(Protocol::Enip, "enip message", bytes, &e),
        };
        // A List* request has no body; a reply carries one. On UDP with both ends on
        // 44818 that is the only way to tell them apart.
        let is_reply = match ctx.dir {
            Dir::ToServer => false,
            Dir::ToClient => true,
            Dir::Unknown => !matches!(frame.body, Body::Empty),
        };
        if is_reply {
            self.reply(&frame, bytes, ctx);
        } else {
            self.request(&frame, ctx);
        }
    }

    /// ENIP List Identity over UDP (answers to broadcasts included): one datagram, one
    /// encapsulation message.
    fn on_datagram(&mut self, payload: &[u8], ctx: &mut Ctx<'_>) {
        match enip::frame_len(payload) {
            Ok(Some(n)) => {
                ctx.stats.pdus += 1;
                self.on_frame(&payload[..n], ctx);
            }
            Ok(None) => {
                // A datagram is whole: a frame it does not hold whole is cut short.
                let announced = payload
                    .get(2..4)
                    .map_or(24, |l| 24 + usize::from(u16::from_le_bytes([l[0], l[1]])));
                let e = DecodeError::Truncated {
                    field: "enip.frame",
                    needed: announced.saturating_sub(payload.len()),
                };
                ctx.undecoded(Protocol::Enip, "enip datagram", payload, &e);
            }
            Err(e) => ctx.undecoded(Protocol::Enip, "enip datagram", payload, &e),
        }
    }
}

impl EnipAnalyzer {
    fn request(&mut self, frame: &Frame, ctx: &mut Ctx<'_>) {
        let (client, server, at) = (ctx.src, ctx.dst(), ctx.at);
        let proto = match frame.header.command {
            Command::SendRrData | Command::SendUnitData => Protocol::Cip,
            _ => Protocol::Enip,
        };
        ctx.col.peer(client, server, proto, at);
        if let (Some(key), Ok(Some(req))) = (pair_key(frame), enip::cip_request(frame)) {
            if self.pending.len() >= MAX_OUTSTANDING {
                self.pending.pop_front();
            }
            self.pending.push_back((key, expect(&req, 0)));
        }
        for op in enip::classify(frame) {
            let Some(kind) = operation_kind(op.access) else {
                continue;
            };
            ctx.col
                .operation(server, client, Protocol::Cip, kind, &op.name, at);
        }
    }

    fn reply(&mut self, frame: &Frame, bytes: &[u8], ctx: &mut Ctx<'_>) {
        let src = ctx.src;
        match frame.header.command {
            Command::ListIdentity => match enip_identity::list_identity_reply(frame) {
                Ok((ids, _anomalies)) => {
                    for id in ids {
                        let key = format!("enip:list_identity:{:08x}", id.serial);
                        ctx.col
                            .identity(src, key, Identity::Enip(id), bytes, ctx.at);
                    }
                }
                Err(e) => ctx.undecoded(Protocol::Enip, "enip list identity reply", bytes, &e),
            },
            Command::SendRrData | Command::SendUnitData => {
                let Some(key) = pair_key(frame) else {
                    return;
                };
                // Unpaired (its request not captured, or not a CIP request): not an
                // identity, whatever its bytes look like.
                let Some(pos) = self.pending.iter().position(|(k, _)| *k == key) else {
                    return;
                };
                let Some((_, expect)) = self.pending.remove(pos) else {
                    return;
                };
                let reply = match enip::cip_reply(frame) {
                    Ok(Some(r)) => r,
                    Ok(None) => return,
                    Err(e) => return ctx.undecoded(Protocol::Cip, "cip reply", bytes, &e),
                };
                match expect {
                    Expect::Identity(path) => identity(&reply, path, bytes, ctx),
                    Expect::Multiple(each) => {
                        if reply.service != (service::MULTIPLE_SERVICE_PACKET | 0x80) {
                            return;
                        }
                        // An MSP reply whose general status is not 0 may still carry
                        // replies (0x1E: "embedded service error"): each has its own.
                        let parts = match enip::multiple_service_parts(&reply.data) {
                            Ok(p) => p,
                            Err(e) => {
                                return ctx.undecoded(
                                    Protocol::Cip,
                                    "cip multiple service reply",
                                    bytes,
                                    &e,
                                );
                            }
                        };
                        for (part, want) in parts.iter().zip(each) {
                            let Some(path) = want else {
                                continue;
                            };
                            match CipMessage::decode(&mut Cursor::framed(part)) {
                                Ok(CipMessage::Reply(r)) => identity(&r, path, bytes, ctx),
                                Ok(CipMessage::Request(_)) => {}
                                Err(e) => ctx.undecoded(Protocol::Cip, "cip reply", bytes, &e),
                            }
                        }
                    }
                    Expect::Other => {}
                }
            }
            _ => {}
        }
    }
}

/// The reply to a Get_Attributes_All (or Get_Attribute_List) of the Identity object, as
/// an identity of the reply's sender (or of the module at `path` behind it).
fn identity(reply: &CipReply, path: Option<String>, bytes: &[u8], ctx: &mut Ctx<'_>) {
    // 0x81 / 0x83: the request's service with the reply bit; a failed route answers 0xD2.
    let mut anomalies = Vec::new();
    let decoded = match (reply.service, reply.general_status) {
        (0x81, 0) => {
            enip::CipIdentity::decode(&mut Cursor::framed(&reply.data), &mut anomalies).map(Some)
        }
        // A Get_Attribute_List reply with some attribute refused says 0x1E ("embedded
        // list service error", Vol. 1 B-1) and still carries the others, each with its
        // own status.
        (0x83, 0 | 0x1E) => enip::identity_from_attribute_list(&reply.data, &mut anomalies),
        _ => return,
    };
    match decoded {
        Ok(None) => {}
        Ok(Some(cip)) => {
            let id = enip_identity::cip_identity(&cip);
            let key = format!("enip:get_attributes_all:{:08x}", id.serial);
            let (src, at) = (ctx.src, ctx.at);
            ctx.col
                .identity_at(src, path, key, Identity::Enip(id), bytes, at);
        }
        Err(e) => ctx.undecoded(Protocol::Cip, "cip identity reply", bytes, &e),
    }
}
