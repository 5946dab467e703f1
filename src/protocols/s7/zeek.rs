//! S7comm, COTP and S7comm-plus in Zeek/ICSNPP logs (cisagov/icsnpp-s7comm
//! `scripts/icsnpp/s7comm/main.zeek`): the same facts the capture analyzer
//! ([`super::passive`]) records.
//!
//! - `s7comm_known_devices.log`: the CPU's identity (SZL names and serial), under the
//!   analyzer's key `s7:<port>`;
//! - `s7comm.log`: one row per S7 header: job requests from the client give who talks to
//!   the CPU and writes, control and program transfers as operations; any row the CPU
//!   sent shows it answered;
//! - `cotp.log` and `s7comm_plus.log`: who talks ISO-on-TCP or S7comm-plus to whom, and
//!   whether the server answered (roles, never identities, which those logs do not
//!   carry). No operations are taken from `s7comm_plus.log`: its SetMultiVariables is
//!   also the session handshake of every connection, so a write cannot be told from it.

use crate::facts::zeek::{Row, num};
use crate::facts::{At, FactSink};
use crate::inventory::{Identity, Protocol, S7Identity};
use crate::wire::s7;

/// Reads one row of an S7 log.
pub fn row(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    match r.log {
        "s7comm_known_devices" => known_device(r, sink),
        "s7comm" => s7comm(r, sink),
        // A COTP connection confirm (`pdu_code` 0xd0, ISO 8073 13.4) comes only from the
        // server.
        "cotp" => session(r, sink, Protocol::S7, ("pdu_code", 0xd0)),
        // An S7comm-plus response (`opcode` 0x32) comes only from the server.
        "s7comm_plus" => session(r, sink, Protocol::S7Plus, ("opcode", 0x32)),
        _ => {}
    }
}

fn known_device(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    let Some(device) = r.replier() else {
        return;
    };
    let s = |k: &str| r.get(k).map(str::to_string);
    let id = S7Identity {
        as_name: s("automation_system_name"),
        module_name: s("module_name"),
        plant_tag: s("plant_name"),
        serial: s("module_serial"),
        ..S7Identity::default()
    };
    let at = r.at();
    let port = r.get("id.resp_p").and_then(num).unwrap_or(102);
    sink.host(device, at);
    sink.identity(
        device,
        format!("s7:{port}"),
        Identity::S7(Box::new(id)),
        &[],
        at,
    );
}

/// The client and server of the row, the time, and whether the client sent it; both ends
/// are recorded as hosts (the client for sending, the server when the row is its answer).
fn side(
    r: &mut Row<'_>,
    sink: &mut dyn FactSink,
    require: bool,
) -> Option<(std::net::IpAddr, std::net::IpAddr, At, Option<bool>)> {
    let (client, server) = r.ends()?;
    let at = r.at();
    let from_client = r.is_orig().ok()?;
    if require && from_client.is_none() {
        r.bad("is_orig", None, "row skipped");
        return None;
    }
    sink.host(client, at);
    Some((client, server, at, from_client))
}

fn s7comm(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    let Some((client, server, at, from_client)) = side(r, sink, true) else {
        return;
    };
    if from_client == Some(false) {
        sink.host(server, at);
        sink.peers(client, server, Protocol::S7, 0, at);
        return;
    }
    sink.peer(client, server, Protocol::S7, at);
    // Jobs only (ROSCTR 1); user data (7) carries reads of SZL, block info and the like.
    let Some(rosctr) = r.number::<u8>("rosctr_code", "row skipped") else {
        return;
    };
    if rosctr != 1 {
        return;
    }
    let Some(code) = r.number::<u8>("function_code", "row skipped") else {
        return;
    };
    let (name, access) = s7::function_name(s7::Function::from_u8(code));
    if let Some(kind) = super::ops::operation_kind(access) {
        sink.operation(server, client, Protocol::S7, kind, name, at);
    }
}

/// A log that shows only who talks to whom: the responder's rows show it answered
/// (`is_orig` false in newer releases or, without `is_orig`, a PDU only a server sends).
fn session(r: &mut Row<'_>, sink: &mut dyn FactSink, protocol: Protocol, server_only: (&str, u64)) {
    let Some((client, server, at, from_client)) = side(r, sink, false) else {
        return;
    };
    let answered = from_client == Some(false)
        || (from_client.is_none() && r.get(server_only.0).and_then(num) == Some(server_only.1));
    if answered {
        sink.host(server, at);
        sink.peers(client, server, protocol, 0, at);
    } else {
        sink.peer(client, server, protocol, at);
    }
}
