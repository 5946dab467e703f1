//! BACnet/Ethernet (ASHRAE 135 clause 7: IEEE 802.3 with an 802.2 LLC header, DSAP and
//! SSAP 0x82, control 0x03 UI) from a capture's layer-2 frames: the same per-capture
//! [`passive::Analyzer`] as BACnet/IP, through its [`passive::Analyzer::on_llc`], its
//! stations keyed by MAC ([`crate::inventory::MAC_PATH_PREFIX`]).

use super::passive::{self, Event, Station};
use crate::inventory::{Identity, OperationKind, Protocol};
use crate::protocols::analyzer::{LinkAnalyzer, LinkCtx, LinkFrame};
use crate::wire::bacnet::Access;

/// The LLC service access point of BACnet (ASHRAE 135 clause 7.1).
pub const BACNET_SAP: u8 = 0x82;

/// BACnet/Ethernet over one capture.
#[derive(Debug, Default)]
pub struct BacnetLink {
    inner: passive::Analyzer,
}

impl LinkAnalyzer for BacnetLink {
    fn on_link_frame(&mut self, f: &LinkFrame<'_>, ctx: &mut LinkCtx<'_>) {
        // A capture without destination MACs (Linux cooked): the frame went to the
        // capturing host or a group; a request's target is then unknown, as a broadcast's.
        let dst = f.dst.unwrap_or([0xff; 6]);
        let Ok(events) = self.inner.on_llc(ctx.at.frame, f.src, dst, f.payload) else {
            return;
        };
        ctx.stats.pdus += 1;
        for e in events {
            match e {
                Event::Identity {
                    device, identity, ..
                } => {
                    let Station::Mac(mac) = device.station else {
                        continue;
                    };
                    let behind = device.route.as_ref().map(super::identity::route_path);
                    ctx.col.link_identity(
                        mac,
                        behind,
                        "bacnet".into(),
                        Identity::Bacnet(identity),
                        f.payload,
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
                    let (Station::Mac(actor), Station::Mac(target)) = (client, device.station)
                    else {
                        continue;
                    };
                    let kind = match access {
                        Access::Control => OperationKind::Control,
                        // Writes, and private or unassigned services (possibly
                        // state-changing), as on B/IP.
                        _ => OperationKind::Write,
                    };
                    ctx.col
                        .link_operation(target, actor, Protocol::Bacnet, kind, &name, ctx.at);
                }
                // A segmented answer not reassembled gives no identity; on layer 2 there
                // is no warning list to name it in.
                Event::Negative { .. } | Event::Client { .. } | Event::Incomplete { .. } => {}
            }
        }
    }
}
