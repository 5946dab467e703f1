//! PROFINET DCP above its codec ([`crate::wire::dcp`]), passive only: the identity a
//! device gives in an Identify response or a Hello ([`identity`]) and the configuration
//! changes a Set makes ([`passive`]).
//!
//! # OT safety
//! otscout never sends DCP. It is layer 2 and multicast (an Identify All goes to
//! 01:0e:cf:00:00:00 and every PROFINET device on the segment answers), outside otscout's
//! routed, unicast contract: no address can exclude a host from a multicast, no pacing
//! holds when every device answers at once, and the protocol's own Set can rename a
//! device, change its IP or reset it to factory settings (SAFETY.md, "PROFINET DCP").
//!
//! # MAC-only assets
//! A DCP frame has no IP header: the device is its Ethernet source MAC. The IP suite
//! inside an Identify response is what the device says it has, an address quoted in the
//! payload, never the asset's key. Its facts are recorded about the station at the MAC
//! ([`crate::passive::collect::Collector::link_identity`]); merge joins them to an IP
//! asset only on local-link evidence ([`crate::inventory::mac`]).

pub mod identity;
pub mod passive;

use crate::inventory::{Identity, OperationKind, Protocol};
use crate::wire::DecodeError;

use super::analyzer::{Analyzer, Ctx, LinkAnalyzer, LinkCtx, LinkFrame, LinkType};
use super::registry::WellKnownPort;

/// PROFINET DCP in the [registry](super::registry): passive only, on layer 2.
#[derive(Debug, Clone, Copy)]
pub struct Dcp;

/// No TCP or UDP flow is ever DCP: the per-flow analyzer the registry requires reads
/// nothing.
#[derive(Debug, Default)]
struct NoFlow;

impl Analyzer for NoFlow {
    fn on_frame(&mut self, _frame: &[u8], _ctx: &mut Ctx<'_>) {}
}

impl super::ProtocolSpec for Dcp {
    fn protocol(&self) -> Protocol {
        Protocol::ProfinetDcp
    }

    fn name(&self) -> &'static str {
        "profinet_dcp"
    }

    /// None: DCP has no IP, no port.
    fn well_known_ports(&self) -> &'static [WellKnownPort] {
        &[]
    }

    /// A DCP PDU is its 12-byte header and DCPDataLength bytes (IEC 61158-6-10, DCP
    /// header; [`crate::wire::dcp::HEADER_LEN`]).
    fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
        let Some(len) = buf.get(10..12) else {
            return Ok(None);
        };
        // DCPDataLength, untrusted: at most what fits one Ethernet frame.
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len > crate::wire::dcp::MAX_DATA_LEN {
            return Err(DecodeError::TooLarge {
                field: "dcp.data_length",
                value: len,
                max: crate::wire::dcp::MAX_DATA_LEN,
            });
        }
        let whole = crate::wire::dcp::HEADER_LEN + len;
        Ok((buf.len() >= whole).then_some(whole))
    }

    fn detect(&self, _payload: &[u8]) -> Option<u64> {
        None
    }

    fn detect_reason(&self) -> &'static str {
        "a profinet dcp frame (ethertype 0x8892)"
    }

    fn analyzer(&self) -> Box<dyn Analyzer> {
        Box::new(NoFlow)
    }

    fn describe(&self, identity: &Identity) -> Option<String> {
        let Identity::ProfinetDcp(d) = identity else {
            return None;
        };
        let mut parts = Vec::new();
        if let Some(n) = &d.name_of_station {
            parts.push(format!("name of station {n}"));
        }
        if let Some(v) = &d.vendor_value {
            parts.push(format!("vendor value {v}"));
        }
        if let (Some(v), Some(id)) = (d.vendor_id, d.device_id) {
            parts.push(format!("vendor/device id {v:#06x}/{id:#06x}"));
        }
        if !d.roles.is_empty() {
            parts.push(format!("role {}", d.roles.join(", ")));
        }
        Some(parts.join(", "))
    }

    fn link_types(&self) -> &'static [LinkType] {
        &[LinkType::EtherType(crate::wire::dcp::ETHERTYPE)]
    }

    fn link_analyzer(&self) -> Option<Box<dyn LinkAnalyzer>> {
        Some(Box::<DcpFrames>::default())
    }
}

/// The DCP analyzer ([`passive::Analyzer`]) over a capture's layer-2 frames.
#[derive(Debug, Default)]
struct DcpFrames {
    inner: passive::Analyzer,
}

/// The operation name of a Hello: a device (re)started or joined the segment.
const HELLO: &str = "profinet_dcp.hello";

impl LinkAnalyzer for DcpFrames {
    fn on_link_frame(&mut self, f: &LinkFrame<'_>, ctx: &mut LinkCtx<'_>) {
        // A Linux cooked capture records no destination: a response then pairs with a
        // request by Xid alone, and a Set names no target.
        let dst = f.dst.unwrap_or([0; 6]);
        let events = match f.dst {
            Some(_) => self.inner.on_frame(f.src, dst, f.payload),
            None => self.inner.on_frame_without_destination(f.src, f.payload),
        };
        ctx.stats.pdus += 1;
        for e in events {
            match e {
                passive::Event::Identity(id) => {
                    let raw = &f.payload[..f.payload.len().min(MAX_RAW)];
                    ctx.col.link_identity(
                        f.src,
                        None,
                        "profinet_dcp".into(),
                        Identity::ProfinetDcp(id),
                        raw,
                        ctx.at,
                    );
                }
                passive::Event::Set { function, kind, .. } => {
                    if f.dst.is_none() {
                        continue;
                    }
                    let name = function.strip_prefix("dcp.").unwrap_or(function);
                    ctx.col.link_operation(
                        dst,
                        f.src,
                        Protocol::ProfinetDcp,
                        kind,
                        &crate::inventory::operation_name(Protocol::ProfinetDcp, name),
                        ctx.at,
                    );
                }
                passive::Event::Hello { .. } => ctx.col.link_operation(
                    f.src,
                    f.src,
                    Protocol::ProfinetDcp,
                    OperationKind::Control,
                    HELLO,
                    ctx.at,
                ),
                passive::Event::SetResult { .. } => {}
            }
        }
    }
}

/// Bytes of a DCP frame kept as the identity's raw reply (a response fits one Ethernet
/// frame anyway).
const MAX_RAW: usize = 1500;
