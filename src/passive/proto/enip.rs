//! EtherNet/IP and CIP analyzer over `wire::enip`.
//!
//! - List Identity replies (TCP or UDP, including answers to broadcasts) become the
//!   replying packet's IP source's identity; the socket address inside the item is kept
//!   as data, never used as the key.
//! - CIP Get_Attributes_All replies become an identity only when paired with a request
//!   to the Identity object (class 1) on the same flow: the reply does not name its class.
//! - Client requests are classified with `wire::enip::classify`, which opens Multiple
//!   Service Packets and Unconnected Sends: Set_Attribute*, write tag, reset/start/stop
//!   become operations on the server.

use super::{Ctx, Dir};
use crate::inventory::{Identity, OperationKind, Protocol};
use crate::wire::enip::{self, Access, Body, Command, Frame};
use crate::wire::{Cursor, DecodeError};

/// Get_Attributes_All requests to the Identity object awaiting their reply, per flow.
const MAX_OUTSTANDING: u32 = 64;

/// Per-flow EtherNet/IP state.
#[derive(Debug, Default)]
pub struct Enip {
    identity_requests: u32,
}

/// The encapsulation framer of the active side.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    enip::frame_len(buf)
}

impl Enip {
    pub fn on_frame(&mut self, bytes: &[u8], ctx: &mut Ctx<'_>) {
        let frame = match Frame::decode_exact(bytes) {
            Ok(f) => f,
            Err(e) => return ctx.undecoded("enip", &e),
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

    fn request(&mut self, frame: &Frame, ctx: &mut Ctx<'_>) {
        let (client, server, at) = (ctx.src, ctx.dst(), ctx.at);
        let proto = match frame.header.command {
            Command::SendRrData | Command::SendUnitData => Protocol::Cip,
            _ => Protocol::Enip,
        };
        ctx.col.peer(client, server, proto, at);
        if let Ok(Some(req)) = enip::cip_request(frame) {
            if enip::is_identity_get_attributes_all(&req)
                && self.identity_requests < MAX_OUTSTANDING
            {
                self.identity_requests += 1;
            }
        }
        for op in enip::classify(frame) {
            let kind = match op.access {
                Access::Write => OperationKind::Write,
                Access::Control => OperationKind::Control,
                _ => continue,
            };
            ctx.col
                .operation(server, client, Protocol::Cip, kind, &op.name, at);
        }
    }

    fn reply(&mut self, frame: &Frame, bytes: &[u8], ctx: &mut Ctx<'_>) {
        let (src, at) = (ctx.src, ctx.at);
        match frame.header.command {
            Command::ListIdentity => match enip::to_identity(frame) {
                Ok((ids, _anomalies)) => {
                    for id in ids {
                        let key = format!("enip:list_identity:{:08x}", id.serial);
                        ctx.col.identity(src, key, Identity::Enip(id), bytes, at);
                    }
                }
                Err(e) => ctx.undecoded("enip list identity reply", &e),
            },
            Command::SendRrData | Command::SendUnitData => {
                let Ok(Some(reply)) = enip::cip_reply(frame) else {
                    return;
                };
                // 0x81: the reply to Get_Attributes_All (0x01 with the reply bit).
                if reply.service != 0x81 || self.identity_requests == 0 {
                    return;
                }
                self.identity_requests -= 1;
                if reply.general_status != 0 {
                    return;
                }
                let mut anomalies = Vec::new();
                match enip::CipIdentity::decode(&mut Cursor::framed(&reply.data), &mut anomalies) {
                    Ok(cip) => {
                        let id = cip.to_identity();
                        let key = format!("enip:get_attributes_all:{:08x}", id.serial);
                        ctx.col.identity(src, key, Identity::Enip(id), bytes, at);
                    }
                    Err(e) => ctx.undecoded("cip identity reply", &e),
                }
            }
            _ => {}
        }
    }
}
