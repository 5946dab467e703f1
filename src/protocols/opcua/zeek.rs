//! OPC UA binary in Zeek/ICSNPP logs: the same facts the capture analyzer
//! ([`super::passive`]) records, as far as the logs carry them.
//!
//! Field names from cisagov/icsnpp-opcua-binary `scripts/types.zeek` (`OPCUA_Binary::Info`)
//! and `scripts/get-endpoints-types.zeek` (`GetEndpoints`, `GetEndpointsDescription`):
//! - `opcua-binary.log` (one row per message: `msg_type`, `identifier`, ...): an `ACK` or
//!   `ERR` (sent only by a server, OPC UA Part 6, 7.1.2) shows the responder offers OPC UA
//!   on its port; a `MSG` row whose `identifier` is a request's type id is who talks to
//!   whom, and a write, call or address-space change is an operation named as the
//!   analyzer names it (`opcua.write`), classified by the same table
//!   ([`crate::wire::opcua::service_of`]);
//! - `opcua-binary-get-endpoints-description.log` (newer releases: one row per
//!   EndpointDescription of a GetEndpoints answer, `endpoint_uri`, `application_uri`,
//!   `product_uri`, `text` (the application name), `application_type`,
//!   `message_security_mode`, `security_policy_uri`, `security_level`) and
//!   `opcua-binary-get-endpoints.log` of older releases, whose rows carry the same
//!   fields flat (`endpoint_url`): the server's application and its endpoints, under the
//!   analyzer's key (the ApplicationUri).
//!
//! Not carried by the logs, so not recorded: the server certificate's fields (the logs
//! hold its bytes, `server_cert`, not parsed here), user token policies (a linked log),
//! BuildInfo. `opcua-binary-write.log` repeats what `opcua-binary.log` shows of writes and
//! is not read (counted as skipped).

use crate::facts::FactSink;
use crate::facts::zeek::{Row, num};
use crate::inventory::{Identity, OpcuaEndpoint, OpcuaIdentity, Protocol, Transport};
use crate::wire::opcua as w;

/// Reads one row of an OPC UA log.
pub fn row(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    match r.log {
        "opcua-binary" => message(r, sink),
        "opcua-binary-get-endpoints" | "opcua-binary-get-endpoints-description" => {
            endpoint(r, sink)
        }
        _ => {}
    }
}

fn message(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    let Some((client, server)) = r.ends() else {
        return;
    };
    let at = r.at();
    sink.host(client, at);
    match r.get("msg_type") {
        Some("ACK" | "ERR") => {
            let Some(port) = r.required::<u16>("id.resp_p") else {
                return;
            };
            sink.host(server, at);
            sink.service(server, Transport::Tcp, port, Protocol::Opcua, at);
        }
        Some("MSG") => {
            let Some(type_id) = r.number::<u32>("identifier", "row skipped") else {
                return;
            };
            let (name, access) = w::service_of(type_id);
            if name == "unknown" {
                // A response's type id, or one otscout does not know.
                return;
            }
            sink.peer(client, server, Protocol::Opcua, at);
            if let Some(kind) = super::passive::operation_kind(access) {
                sink.operation(server, client, Protocol::Opcua, kind, name, at);
            }
        }
        _ => {}
    }
}

fn endpoint(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    // Rows of the newer get-endpoints log are the request (the description log has the
    // answer): only a row that describes an application is read.
    if r.get("application_uri").is_none() && r.get("security_policy_uri").is_none() {
        return;
    }
    let Some((_, server)) = r.ends() else {
        return;
    };
    let at = r.at();
    let mode: Option<u32> = r.number("message_security_mode", "field left out");
    let app_type: Option<u32> = r.number("application_type", "field left out");
    let level: Option<u8> = r.number("security_level", "field left out");
    let url = r
        .get("endpoint_uri")
        .or_else(|| r.get("endpoint_url"))
        .map(str::to_string);
    let endpoint = OpcuaEndpoint {
        url,
        security_mode: mode.map_or("invalid", w::security_mode_name).to_string(),
        security_policy: super::identity::policy_name(r.get("security_policy_uri")),
        // Required in the identity; a log without it says nothing, which the lowest level
        // (0) does not overstate.
        security_level: level.unwrap_or(0),
        ..OpcuaEndpoint::default()
    };
    let id = OpcuaIdentity {
        application_uri: r.get("application_uri").map(str::to_string),
        product_uri: r.get("product_uri").map(str::to_string),
        application_name: r.get("text").map(str::to_string),
        application_type: app_type
            .map_or("unknown", w::application_type_name)
            .to_string(),
        endpoints: vec![endpoint],
        ..OpcuaIdentity::default()
    };
    let key = id.application_uri.clone().unwrap_or_else(|| "opcua".into());
    let port = r.get("id.resp_p").and_then(num);
    sink.host(server, at);
    if let Some(port) = port.and_then(|p| u16::try_from(p).ok()) {
        sink.service(server, Transport::Tcp, port, Protocol::Opcua, at);
    }
    sink.identity(server, key, Identity::Opcua(Box::new(id)), &[], at);
}
