//! Modbus/TCP analyzer over `wire::modbus`.
//!
//! Requests (client to server) are classified: writes (FC 5, 6, 15, 16, 22, 23) and
//! control (FC 8 diagnostics) become operations on the server; FC 43/14 requests are
//! remembered by transaction id so the reply's objects land on the unit that was asked.
//! Replies (server to client) of FC 43/14 become the server's identity. Every unit id the
//! client addresses is noted for the active scan.

use std::collections::HashMap;

use crate::inventory::{Identity, Protocol};
use crate::protocols::analyzer::{Analyzer, Ctx, Dir};
use crate::protocols::modbus::identity as modbus_identity;
use crate::wire::Cursor;
use crate::wire::modbus::{self, Request, RequestAdu, Response, ResponseAdu};

/// The attribute under which passive import records a Modbus unit id seen in traffic
/// (a [`crate::inventory::Fact::Declared`] with pcap provenance); the scan tries it first.
pub const ATTR_MODBUS_UNIT: &str = "observed.modbus_unit_id";

/// Outstanding identification requests held per flow (a client pipelining more than this
/// is not waiting for answers).
const MAX_PENDING: usize = 64;

/// Per-flow Modbus state: the [registry](super::super::registry)'s analyzer for Modbus.
#[derive(Debug, Default)]
pub struct ModbusAnalyzer {
    /// Transaction id to the unit id of an outstanding FC 43/14 request.
    pending: HashMap<u16, u8>,
}

impl Analyzer for ModbusAnalyzer {
    fn on_frame(&mut self, frame: &[u8], ctx: &mut Ctx<'_>) {
        match ctx.dir {
            Dir::ToServer => self.request(frame, ctx),
            Dir::ToClient => self.response(frame, ctx),
            Dir::Unknown => {}
        }
    }
}

impl ModbusAnalyzer {
    fn request(&mut self, frame: &[u8], ctx: &mut Ctx<'_>) {
        let adu = match RequestAdu::decode(&mut Cursor::framed(frame)) {
            Ok(a) => a,
            Err(e) => return ctx.undecoded(Protocol::Modbus, "modbus request", frame, &e),
        };
        let (client, server, at) = (ctx.client, ctx.server, ctx.at);
        ctx.col.peer(client, server, Protocol::Modbus, at);
        ctx.col
            .observed(server, ATTR_MODBUS_UNIT, adu.header.unit_id.to_string(), at);
        if let Request::ReadDeviceId(_) = adu.pdu {
            if self.pending.len() >= MAX_PENDING {
                self.pending.clear();
            }
            self.pending
                .insert(adu.header.transaction_id, adu.header.unit_id);
        }
        let class = modbus::classify(&adu.pdu);
        if let Some(kind) = super::ops::operation_kind(class.access) {
            ctx.col
                .operation(server, client, Protocol::Modbus, kind, class.name, at);
        }
    }

    fn response(&mut self, frame: &[u8], ctx: &mut Ctx<'_>) {
        let adu = match ResponseAdu::decode(&mut Cursor::framed(frame)) {
            Ok(a) => a,
            Err(e) => return ctx.undecoded(Protocol::Modbus, "modbus response", frame, &e),
        };
        let Response::ReadDeviceId(reply) = &adu.pdu else {
            return;
        };
        // The unit the request addressed; a reply whose request the capture missed keeps
        // the unit id it carries itself.
        let unit = self
            .pending
            .remove(&adu.header.transaction_id)
            .unwrap_or(adu.header.unit_id);
        let identity = modbus_identity::to_identity(unit, [reply]);
        let (src, at) = (ctx.src, ctx.at);
        if identity.objects.is_empty() {
            // A reply with no objects (a quirk of some servers, or a start object past
            // the last one) says nothing about who it is: the device answered, and that
            // is all (never an identity with empty fields).
            // Reported only when no reply of the unit named anything (the collector
            // decides at the end: pymodbus answers a start object past the last with
            // zero objects, after replies that had them).
            let answer = modbus::no_identity_objects_answer(unit, reply.read_code.code());
            let key = format!("modbus:{}:{unit}", ctx.server_port);
            ctx.col.empty_identity(
                src,
                key,
                Protocol::Modbus,
                ctx.server_port,
                answer,
                frame,
                at,
            );
            return;
        }
        let key = format!("modbus:{}:{unit}", ctx.server_port);
        ctx.col
            .identity(src, key, Identity::Modbus(identity), frame, at);
    }
}
