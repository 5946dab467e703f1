//! S7comm analyzer over `wire::s7`.
//!
//! - COTP connect requests name the remote TSAP (kept for the active scan, and on the
//!   identity).
//! - Read SZL responses are stitched with the same `SzlReassembler` the probe uses: real
//!   S7-300s answer SZL 0x001C in two pieces ("more follows", a follow-up request, the
//!   rest). Lists 0x0011 / 0x001C (and their single-record forms 0x0111 / 0x011C) become
//!   the CPU's identity; firmware comes from record 0x0007, never the boot loader's.
//! - Client jobs are classified with `wire::s7::classify`: write var, PLC stop, PI
//!   services, block download/upload become operations on the CPU.

use super::{Ctx, Dir};
use crate::inventory::{Identity, Protocol};
use crate::passive::hints::ATTR_S7_TSAP;
use crate::wire::DecodeError;
use crate::wire::s7::{self, Cotp, Frame, SzlReassembler};

/// Per-flow S7 state.
#[derive(Debug, Default)]
pub struct S7 {
    /// The called (remote) TSAP of the connection, from the COTP CR.
    tsap: Option<u16>,
    szl: SzlReassembler,
    /// The SZL id of the last Read SZL request, when the capture holds it.
    asked: Option<u16>,
}

/// SZL lists that carry identity: module identification (0x0011, one record 0x0111) and
/// component identification (0x001C, 0x011C). Other lists (and the header-only 0x0Fxx
/// forms, which hold no records) are not stitched.
fn identity_list(szl_id: u16) -> bool {
    matches!(szl_id, 0x0011 | 0x0111 | 0x001C | 0x011C)
}

/// The TPKT framer of the active side.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    s7::frame_len(buf)
}

impl S7 {
    pub fn on_frame(&mut self, bytes: &[u8], ctx: &mut Ctx<'_>) {
        let frame = match Frame::decode_exact(bytes) {
            Ok(f) => f,
            Err(e) => return ctx.undecoded("s7", &e),
        };
        match ctx.dir {
            Dir::ToServer => self.request(&frame, ctx),
            Dir::ToClient => self.response(&frame, bytes, ctx),
            Dir::Unknown => {}
        }
    }

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
            if let Some((id, _index)) = u.szl_request() {
                // A new SZL request: any half-stitched answer is abandoned.
                self.szl = SzlReassembler::new();
                self.asked = Some(id);
            }
        }
        let class = s7::classify_pdu(pdu);
        if let Some(kind) = class.access.operation() {
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
        if piece.error_code != 0 || piece.return_code != 0xFF {
            // "SZL not available" and friends: a negative answer, not an identity.
            self.szl = SzlReassembler::new();
            return;
        }
        // Only identity lists are stitched; the first piece of a list starts with its id,
        // which decides when the request was not captured.
        let wanted = match self.asked {
            Some(id) => identity_list(id),
            None => {
                self.szl.pieces() > 0
                    || piece
                        .value
                        .get(..2)
                        .is_some_and(|b| identity_list(u16::from_be_bytes([b[0], b[1]])))
            }
        };
        if !wanted {
            return;
        }
        let list = match self.szl.push(piece.value, piece.more_follows) {
            Ok(Some(list)) => list,
            Ok(None) => return,
            Err(e) => {
                self.szl = SzlReassembler::new();
                ctx.stats.undecoded += 1;
                if ctx.warnings.len() < 20 {
                    ctx.warnings.push(format!(
                        "frame {}: s7 szl answer from {}: {e}",
                        ctx.at.frame, ctx.src
                    ));
                }
                return;
            }
        };
        let identity = match list.szl_id & 0x00FF {
            0x11 => s7::to_identity(Some(&list), None),
            0x1C => s7::to_identity(None, Some(&list)),
            _ => None,
        };
        if let Some(mut id) = identity {
            id.tsap = self.tsap;
            let key = format!("s7:{}", ctx.server_port);
            let (src, at) = (ctx.src, ctx.at);
            ctx.col
                .identity(src, key, Identity::S7(Box::new(id)), bytes, at);
        }
    }
}
