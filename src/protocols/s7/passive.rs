//! S7comm analyzer over `wire::s7`.
//!
//! - COTP connect requests name the remote TSAP (kept for the active scan, and on the
//!   identity).
//! - Read SZL responses are paired with the request they answer by the S7 PDU reference
//!   (the CPU echoes it), and stitched with the same `SzlReassembler` the probe uses:
//!   real S7-300s answer SZL 0x001C in two pieces ("more follows", a follow-up request,
//!   the rest). A continuation carries no SZL header, so it is appended to the answer
//!   with the same data unit reference on this connection, whatever requests came in
//!   between (an engineering tool going online asks other lists while the follow-up is
//!   outstanding). Lists 0x0011 / 0x001C (and their single-record forms 0x0111 /
//!   0x011C) become the CPU's identity; firmware comes from record 0x0007, never the boot
//!   loader's.
//! - Client jobs are classified with `wire::s7::classify`: write var, PLC stop, PI
//!   services, block download/upload become operations on the CPU.

use std::collections::HashMap;

use crate::inventory::{Identity, Protocol};
use crate::protocols::analyzer::{Analyzer, Ctx, Dir};
use crate::protocols::s7::identity as s7_identity;
pub use crate::protocols::s7::ops::operation_kind;
use crate::wire::s7::{self, Cotp, Frame, SzlReassembler};

/// The attribute under which passive import records a remote S7 TSAP seen in a COTP
/// connect (hex, `0x0102`); the scan tries it first.
pub const ATTR_S7_TSAP: &str = "observed.s7_tsap";

/// Requests awaiting their answer, and answers awaiting their continuation, per
/// connection (a client with more outstanding than this is not waiting for them).
const MAX_OUTSTANDING: usize = 64;

/// What a Read SZL request asked, keyed by its PDU reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    /// A first request for this SZL id.
    List(u16),
    /// A follow-up request for the next piece of an answer.
    FollowUp,
}

/// An answer whose first pieces have arrived.
#[derive(Debug, Default)]
struct Partial {
    szl: SzlReassembler,
}

/// Per-flow S7 state: the [registry](super::super::registry)'s analyzer for S7.
#[derive(Debug, Default)]
pub struct S7Analyzer {
    /// The called (remote) TSAP of the connection, from the COTP CR.
    tsap: Option<u16>,
    /// Read SZL requests not answered yet, by PDU reference.
    asked: HashMap<u16, Asked>,
    /// Answers being stitched, by data unit reference.
    partial: HashMap<u8, Partial>,
}

/// SZL lists that carry identity: module identification (0x0011, one record 0x0111) and
/// component identification (0x001C, 0x011C). Other lists (and the header-only 0x0Fxx
/// forms, which hold no records) are not stitched.
fn identity_list(szl_id: u16) -> bool {
    matches!(szl_id, 0x0011 | 0x0111 | 0x001C | 0x011C)
}

impl Analyzer for S7Analyzer {
    fn on_frame(&mut self, bytes: &[u8], ctx: &mut Ctx<'_>) {
        let frame = match Frame::decode_exact(bytes) {
            Ok(f) => f,
            Err(e) => return ctx.undecoded(Protocol::S7, "s7 message", bytes, &e),
        };
        match ctx.dir {
            Dir::ToServer => self.request(&frame, ctx),
            Dir::ToClient => self.response(&frame, bytes, ctx),
            Dir::Unknown => {}
        }
    }
}

impl S7Analyzer {
    fn request(&mut self, frame: &Frame, ctx: &mut Ctx<'_>) {
        let (client, server, at) = (ctx.client, ctx.server, ctx.at);
        if let Cotp::ConnectRequest(cr) = &frame.cotp {
            if let Some(t) = cr.called_tsap() {
                self.tsap = Some(t);
                ctx.col
                    .observed(server, ATTR_S7_TSAP, format!("{t:#06x}"), at);
            }
            return;
        }
        let Some(pdu) = frame.s7() else {
            return;
        };
        ctx.col.peer(client, server, Protocol::S7, at);
        if let s7::Body::Userdata(u) = &pdu.body {
            if u.is_read_szl() && u.kind == s7::TYPE_REQUEST {
                // A follow-up carries the continuation head (data unit reference, last
                // data unit) and no SZL id; a first request names the list.
                let asked = match u.szl_request() {
                    Some((id, _index)) => Some(Asked::List(id)),
                    None if u.continuation.is_some() => Some(Asked::FollowUp),
                    None => None,
                };
                if let Some(asked) = asked {
                    if self.asked.len() >= MAX_OUTSTANDING {
                        self.asked.clear();
                    }
                    self.asked.insert(pdu.pdu_ref, asked);
                }
            }
        }
        let class = s7::classify_pdu(pdu);
        if let Some(kind) = operation_kind(class.access) {
            ctx.col
                .operation(server, client, Protocol::S7, kind, class.name, at);
        }
    }

    fn response(&mut self, frame: &Frame, bytes: &[u8], ctx: &mut Ctx<'_>) {
        let Some(pdu) = frame.s7() else {
            return;
        };
        let Some(piece) = pdu.szl_response() else {
            return;
        };
        let asked = self.asked.remove(&pdu.pdu_ref);
        let dur = match &pdu.body {
            s7::Body::Userdata(u) => u.continuation.map_or(0, |c| c.data_unit_ref),
            _ => 0,
        };
        if piece.error_code != 0 || piece.return_code != 0xFF {
            // "SZL not available" and friends: a negative answer, not an identity.
            self.partial.remove(&dur);
            return;
        }
        // A continuation answers a follow-up request; when the request was not captured,
        // an answer already being stitched under the same data unit reference says so.
        let continues = match asked {
            Some(Asked::FollowUp) => true,
            Some(Asked::List(_)) => false,
            None => self.partial.contains_key(&dur),
        };
        let mut partial = if continues {
            match self.partial.remove(&dur) {
                Some(p) => p,
                // The first piece was not captured: the rest alone has no SZL header.
                None => return,
            }
        } else {
            // Only identity lists are stitched; the first piece of a list starts with
            // its id, which decides when the request was not captured.
            let wanted = match asked {
                Some(Asked::List(id)) => identity_list(id),
                _ => piece
                    .value
                    .get(..2)
                    .is_some_and(|b| identity_list(u16::from_be_bytes([b[0], b[1]]))),
            };
            if !wanted {
                self.partial.remove(&dur);
                return;
            }
            Partial::default()
        };
        let list = match partial.szl.push(piece.value, piece.more_follows) {
            Ok(Some(list)) => list,
            Ok(None) => {
                if self.partial.len() >= MAX_OUTSTANDING {
                    self.partial.clear();
                }
                self.partial.insert(dur, partial);
                return;
            }
            Err(e) => return ctx.undecoded(Protocol::S7, "s7 szl answer", bytes, &e),
        };
        let identity = match list.szl_id & 0x00FF {
            0x11 => s7_identity::to_identity(Some(&list), None),
            0x1C => s7_identity::to_identity(None, Some(&list)),
            _ => None,
        };
        if let Some(mut id) = identity {
            id.tsap = self.tsap;
            // Sessions to different rack/slot TSAPs of one address may reach different
            // modules (issue 15): their identities are kept apart, never folded into one.
            let key = match self.tsap {
                Some(t) => format!("s7:{}:{t:#06x}", ctx.server_port),
                None => format!("s7:{}", ctx.server_port),
            };
            let (src, at) = (ctx.src, ctx.at);
            ctx.col
                .identity(src, key, Identity::S7(Box::new(id)), bytes, at);
        }
    }
}
