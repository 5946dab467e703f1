//! BACnet/IP in Zeek/ICSNPP logs: the same facts the capture analyzer ([`super::passive`])
//! records, as far as the logs carry them.
//!
//! Field names from cisagov/icsnpp-bacnet (`README.md`, "Logging Capabilities", and
//! `scripts/icsnpp/bacnet/main.zeek`; the `tests/baseline/analyzer.services/` logs show
//! the values):
//! - `bacnet_discovery.log` (`is_orig`, `pdu_service`, `object_type`, `instance_number`,
//!   `vendor`, `range`, `object_name`): an `i-am` row names the sender's device instance
//!   and vendor (a name, not the ASHRAE id);
//! - `bacnet_property.log` (`is_orig`, `source_h`, `invoke_id`, `pdu_service`,
//!   `object_type`, `instance_number`, `property`, `array_index`, `value`): a
//!   `read-property-ack` / `read-property-multiple-ack` row of the `device` object gives
//!   one property of the identity; a `write-property` / `write-property-multiple` request
//!   is a write on the device it was sent to;
//! - `bacnet.log` (`is_orig`, `source_h`, `destination_h`, `bvlc_function`, `pdu_type`,
//!   `pdu_service`, `invoke_id`, `result_code`): every other state-changing service
//!   (reinitialize-device, device-communication-control, atomic-write-file, ...) as an
//!   operation, classified and named as the analyzer does (`bacnet.reinitialize_device`);
//!   the writes of `bacnet_property.log` are taken from there, not counted twice.
//!
//! `bacnet_device_control.log` (`pdu_service`, `device_state`, `result`) is not read: it
//! repeats control requests `bacnet.log` already shows (it is skipped and counted).
//!
//! What the logs do not carry, and so cannot be done as the capture does: ICSNPP logs no
//! NPDU source network or MAC (SNET/SADR), so a device behind a router cannot be told
//! from the router's own: each device instance an address announces is its own identity
//! on that address (merge then shows the values side by side), never folded into one.
//! A row whose sender is x.y.z.255 is a broadcast echo (`bacnet_services.pcap` holds
//! them), never a device; the wildcard instance 4194303 in an I-Am is a client
//! advertising itself, and in an ack an echo of the instance asked.

use std::net::IpAddr;

use crate::facts::zeek::Row;
use crate::facts::{At, FactSink};
use crate::inventory::{BacnetIdentity, Identity, OperationKind, Protocol};
use crate::wire::bacnet::{Access, ConfirmedService, UnconfirmedService, WILDCARD_INSTANCE};

/// Reads one row of a BACnet log.
pub fn row(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    match r.log {
        "bacnet_discovery" => discovery(r, sink),
        "bacnet_property" => property(r, sink),
        "bacnet" => header(r, sink),
        _ => {}
    }
}

/// The sender and receiver of the row's message (`source_h`/`destination_h` when logged,
/// else the connection's ends turned by `is_orig`), and whether the originator sent it.
fn ends(r: &mut Row<'_>) -> Option<(IpAddr, IpAddr)> {
    let (orig, resp) = r.ends()?;
    let from_orig = r.is_orig().ok()?.unwrap_or(true);
    let (src, dst) = if from_orig {
        (orig, resp)
    } else {
        (resp, orig)
    };
    let src = match r.get("source_h") {
        Some(_) => r.addr("source_h")?,
        None => src,
    };
    let dst = match r.get("destination_h") {
        Some(_) => r.addr("destination_h")?,
        None => dst,
    };
    Some((src, dst))
}

/// A directed broadcast on a /24 (x.y.z.255): the source of an echoed broadcast, never a
/// device.
fn broadcast_echo(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v) if v.octets()[3] == 255 || v.is_broadcast())
}

/// One part of the identity of the device instance `named` at `device` (`None`: the
/// instance the part was asked under is the wildcard, so only the address names it, as in
/// a capture of a device that is not routed).
fn identity(
    sink: &mut dyn FactSink,
    device: IpAddr,
    named: Option<u32>,
    id: BacnetIdentity,
    at: At,
) {
    let key = match named {
        Some(i) => format!("bacnet:{i}"),
        None => "bacnet".to_string(),
    };
    sink.host(device, at);
    sink.identity(device, key, Identity::Bacnet(id), &[], at);
}

fn discovery(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    if r.get("pdu_service") != Some("i-am") {
        return;
    }
    let Some((device, _)) = ends(r) else {
        return;
    };
    if broadcast_echo(&device) || r.get("object_type") != Some("device") {
        return;
    }
    let Some(instance) = r.required::<u32>("instance_number") else {
        return;
    };
    if instance == WILDCARD_INSTANCE {
        return;
    }
    let at = r.at();
    let id = BacnetIdentity {
        instance: Some(instance),
        vendor_name: r.get("vendor").map(str::to_string),
        ..BacnetIdentity::default()
    };
    identity(sink, device, Some(instance), id, at);
}

fn property(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    let service = r.get("pdu_service").unwrap_or("");
    if !service.ends_with("-ack") {
        // Requests: writes are taken from bacnet.log, which logs every service.
        return;
    }
    if r.get("object_type") != Some("device") {
        return;
    }
    let Some((device, _)) = ends(r) else {
        return;
    };
    if broadcast_echo(&device) {
        return;
    }
    let Some(value) = r.get("value").map(str::to_string) else {
        return;
    };
    // The ack echoes the instance asked (the wildcard, from a scanner); the real one is
    // the value of `object-identifier`.
    let asked = r
        .number::<u32>("instance_number", "field left out")
        .filter(|i| *i != WILDCARD_INSTANCE);
    let mut id = BacnetIdentity {
        instance: asked,
        ..BacnetIdentity::default()
    };
    let number = |v: &str| v.trim().parse::<u32>().ok();
    match r.get("property").unwrap_or("") {
        "object-name" => id.object_name = Some(value),
        "vendor-name" => id.vendor_name = Some(value),
        "model-name" => id.model_name = Some(value),
        "firmware-revision" => id.firmware_revision = Some(value),
        "application-software-version" => id.application_software_version = Some(value),
        "description" => id.description = Some(value),
        "location" => id.location = Some(value),
        "vendor-identifier" => match number(&value) {
            Some(n) => id.vendor_id = Some(n),
            None => return r.bad("value", Some(&value), "row skipped"),
        },
        "max-apdu-length-accepted" => match number(&value) {
            Some(n) => id.max_apdu = Some(n),
            None => return r.bad("value", Some(&value), "row skipped"),
        },
        "segmentation-supported" => {
            // BACnetSegmentation (ASHRAE 135 clause 21), as ICSNPP names it.
            id.segmentation = match value.as_str() {
                "segmented-both" => Some(0),
                "segmented-transmit" => Some(1),
                "segmented-receive" => Some(2),
                "no-segmentation" => Some(3),
                _ => return r.bad("value", Some(&value), "row skipped"),
            }
        }
        // ICSNPP writes an object identifier as `device: 29`.
        "object-identifier" => match value.split_once(':') {
            Some(("device", n)) => match number(n) {
                Some(i) if i != WILDCARD_INSTANCE => id.instance = Some(i),
                _ => return,
            },
            _ => return r.bad("value", Some(&value), "row skipped"),
        },
        _ => return,
    }
    let at = r.at();
    identity(sink, device, asked, id, at);
}

/// The analyzer's classification of a service ICSNPP names in kebab case
/// (`reinitialize-device`), confirmed or unconfirmed.
fn classify(service: &str) -> Option<(&'static str, Access)> {
    let name = service.to_ascii_lowercase().replace('-', "_");
    (0u8..=63)
        .map(|c| ConfirmedService(c).classify())
        .chain((0u8..=63).map(|c| UnconfirmedService(c).classify()))
        .find(|(n, _)| *n == name && *n != "unknown")
}

fn header(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    let Some(service) = r.get("pdu_service") else {
        return;
    };
    let Some((name, access)) = classify(service) else {
        return;
    };
    let kind = match access {
        Access::Read => return,
        Access::Write => OperationKind::Write,
        Access::Control => OperationKind::Control,
        // Private or unassigned services: possibly state-changing.
        Access::Unknown => OperationKind::Write,
    };
    let Some((actor, target)) = ends(r) else {
        return;
    };
    // Only the request is the operation; an ack or error from the device answers it.
    if r.is_orig().ok().flatten() == Some(false) {
        let at = r.at();
        sink.host(actor, at);
        return;
    }
    let at = r.at();
    sink.host(actor, at);
    sink.peer(actor, target, Protocol::Bacnet, at);
    sink.operation(target, actor, Protocol::Bacnet, kind, name, at);
}
