//! Link, network and transport headers of one captured frame, decoded without copying.
//!
//! Supports the link types SPAN ports and Linux hosts actually record: Ethernet II (with
//! any stack of 802.1Q / 802.1ad / QinQ tags), Linux cooked capture v1 and v2, raw IP,
//! and BSD loopback; IPv4 (options skipped) and IPv6 (hop-by-hop, routing and destination
//! extension headers skipped); TCP and UDP; ARP. Fragments are handed out as
//! [`Fragment`]s for the engine's bounded reassembler ([`super::defrag`]).
//!
//! Frames that carry no IP (EtherType other than IP/ARP, or IEEE 802.3 with an 802.2 LLC
//! header) come out as [`Body::Link`] with their MACs, for the protocols that register a
//! layer-2 hook ([`crate::protocols::ProtocolSpec::link_types`]): PROFINET DCP (EtherType
//! 0x8892), BACnet/Ethernet (LLC DSAP/SSAP 0x82). Which protocol they are is not decided
//! here.
//!
//! It never validates checksums (capture cards offload them, so real captures fail them)
//! and never panics: every header length read from the frame is checked against the bytes
//! present before it is used. A frame that is cut short, or a link type without MACs
//! carrying neither IP nor ARP, decodes to `None`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// pcap link types (https://www.tcpdump.org/linktypes.html).
pub mod linktype {
    pub const NULL: i32 = 0;
    pub const ETHERNET: i32 = 1;
    /// LINKTYPE_RAW; some BSD libpcaps write 12 or 14 for it.
    pub const RAW: i32 = 101;
    pub const RAW_12: i32 = 12;
    pub const RAW_14: i32 = 14;
    pub const LOOP: i32 = 108;
    pub const LINUX_SLL: i32 = 113;
    pub const IPV4: i32 = 228;
    pub const IPV6: i32 = 229;
    pub const LINUX_SLL2: i32 = 276;

    /// True for the link types [`super::decode`] reads.
    pub fn supported(lt: i32) -> bool {
        matches!(
            lt,
            NULL | ETHERNET | RAW | RAW_12 | RAW_14 | LOOP | LINUX_SLL | IPV4 | IPV6 | LINUX_SLL2
        )
    }

    /// A name for a link type, for error messages.
    pub fn name(lt: i32) -> &'static str {
        match lt {
            NULL => "BSD loopback",
            ETHERNET => "Ethernet",
            RAW | RAW_12 | RAW_14 => "raw IP",
            LOOP => "OpenBSD loopback",
            LINUX_SLL => "Linux cooked (SLL)",
            IPV4 => "raw IPv4",
            IPV6 => "raw IPv6",
            LINUX_SLL2 => "Linux cooked v2 (SLL2)",
            6 => "Token Ring",
            9 => "PPP",
            10 => "FDDI",
            105 => "IEEE 802.11",
            127 => "IEEE 802.11 radiotap",
            147..=162 => "user-defined (DLT_USER)",
            195 => "IEEE 802.15.4",
            220 => "USB (Linux)",
            _ => "unknown",
        }
    }
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
/// More VLAN tags than this on one frame is not a real network.
const MAX_VLAN_TAGS: usize = 4;

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Ethernet (or cooked-capture) source MAC, when the link layer has one.
    pub src_mac: Option<[u8; 6]>,
    /// The link layer addressed the frame to a broadcast or multicast group (Ethernet
    /// destination MAC with the group bit, or a Linux cooked-capture packet type of
    /// broadcast/multicast): its destination IP is not one host, whatever it looks like.
    pub link_broadcast: bool,
    pub body: Body<'a>,
}

/// What the frame carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    Ip(IpPacket<'a>),
    Arp(Arp),
    /// Neither IP nor ARP: a layer-2 protocol's payload.
    Link(LinkFrame<'a>),
}

pub use crate::protocols::analyzer::{LinkFrame, LinkType};

/// An IP packet with its transport segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpPacket<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit: tells a host on this link from a routed one.
    pub ttl: u8,
    /// An IPv4 fragment (more-fragments set or a non-zero offset) or an IPv6 packet with a
    /// fragment header: its transport is [`L4::Other`] until the pieces are reassembled.
    pub fragment: Option<Fragment<'a>>,
    pub l4: L4<'a>,
}

/// One fragment of an IP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// The identification field (IPv4: 16 bits; IPv6 fragment header: 32 bits).
    pub id: u32,
    /// The transport protocol of the whole datagram.
    pub proto: u8,
    /// Where this piece starts in the datagram's payload, in bytes.
    pub offset: usize,
    /// More fragments follow.
    pub more: bool,
    pub payload: &'a [u8],
}

/// The transport layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L4<'a> {
    Tcp(Tcp<'a>),
    Udp(Udp<'a>),
    /// Another protocol, or a fragment (see [`IpPacket::fragment`]).
    Other,
}

/// A TCP segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tcp<'a> {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub flags: u8,
    pub payload: &'a [u8],
}

impl Tcp<'_> {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// A UDP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Udp<'a> {
    pub sport: u16,
    pub dport: u16,
    pub payload: &'a [u8],
}

/// An ARP packet for IPv4 over Ethernet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arp {
    pub sender_mac: [u8; 6],
    pub sender_ip: Ipv4Addr,
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn mac(d: &[u8], at: usize) -> Option<[u8; 6]> {
    d.get(at..at + 6)?.try_into().ok()
}

/// Decodes one frame of link type `lt`; `None` when it is not IP/ARP or is cut short.
pub fn decode(lt: i32, d: &[u8]) -> Option<Packet<'_>> {
    match lt {
        linktype::ETHERNET => {
            let src_mac = mac(d, 6)?;
            let mut off = 12;
            let mut ethertype = be16(d, off)?;
            let mut tags = 0;
            while matches!(
                ethertype,
                ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
            ) {
                tags += 1;
                if tags > MAX_VLAN_TAGS {
                    return None;
                }
                off += 4;
                ethertype = be16(d, off)?;
            }
            let rest = d.get(off + 2..)?;
            let body = if is_ip_or_arp(ethertype) {
                ethertype_body(ethertype, rest)?
            } else {
                Body::Link(link_frame(src_mac, mac(d, 0), ethertype, rest)?)
            };
            Some(Packet {
                src_mac: Some(src_mac),
                // The I/G bit of the destination MAC (IEEE 802): set for broadcast and multicast.
                link_broadcast: d[0] & 1 == 1,
                body,
            })
        }
        linktype::LINUX_SLL => {
            // packet type(2) ARPHRD(2) address length(2) address(8) protocol(2)
            let hatype = be16(d, 2)?;
            let alen = be16(d, 4)?;
            let src_mac = if hatype == 1 && alen == 6 {
                mac(d, 6)
            } else {
                None
            };
            let body = cooked_body(src_mac, be16(d, 14)?, d.get(16..)?)?;
            // Packet type 1 broadcast, 2 multicast (packet(7), LINKTYPE_LINUX_SLL).
            let link_broadcast = matches!(be16(d, 0)?, 1 | 2);
            Some(Packet {
                src_mac,
                link_broadcast,
                body,
            })
        }
        linktype::LINUX_SLL2 => {
            // protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) address length(1) address(8)
            let hatype = be16(d, 8)?;
            let alen = *d.get(11)?;
            let src_mac = if hatype == 1 && alen == 6 {
                mac(d, 12)
            } else {
                None
            };
            let body = cooked_body(src_mac, be16(d, 0)?, d.get(20..)?)?;
            let link_broadcast = matches!(*d.get(10)?, 1 | 2);
            Some(Packet {
                src_mac,
                link_broadcast,
                body,
            })
        }
        linktype::RAW | linktype::RAW_12 | linktype::RAW_14 | linktype::IPV4 | linktype::IPV6 => {
            let body = match d.first()? >> 4 {
                4 => Body::Ip(ipv4(d)?),
                6 => Body::Ip(ipv6(d)?),
                _ => return None,
            };
            Some(Packet {
                src_mac: None,
                link_broadcast: false,
                body,
            })
        }
        linktype::NULL | linktype::LOOP => {
            // A 4-byte address family in the writer's byte order: 2 is IPv4; IPv6 is 24, 28 or 30.
            let fam = d.get(..4)?;
            let af = u32::from_le_bytes(fam.try_into().ok()?)
                .min(u32::from_be_bytes(fam.try_into().ok()?));
            let ip = d.get(4..)?;
            let body = match af {
                2 => Body::Ip(ipv4(ip)?),
                24 | 28 | 30 => Body::Ip(ipv6(ip)?),
                _ => return None,
            };
            Some(Packet {
                src_mac: None,
                link_broadcast: false,
                body,
            })
        }
        _ => None,
    }
}

fn is_ip_or_arp(ethertype: u16) -> bool {
    matches!(ethertype, ETHERTYPE_IPV4 | ETHERTYPE_IPV6 | ETHERTYPE_ARP)
}

fn ethertype_body(ethertype: u16, d: &[u8]) -> Option<Body<'_>> {
    match ethertype {
        ETHERTYPE_IPV4 => Some(Body::Ip(ipv4(d)?)),
        ETHERTYPE_IPV6 => Some(Body::Ip(ipv6(d)?)),
        ETHERTYPE_ARP => Some(Body::Arp(arp(d)?)),
        _ => None,
    }
}

/// The largest 802.3 length field; values from 0x0600 up are EtherTypes (IEEE 802.3
/// clause 3.2.6).
const MAX_8023_LENGTH: u16 = 1500;
/// The protocol value of a Linux cooked capture carrying an 802.2 LLC frame
/// (`ETH_P_802_2`, linux/if_ether.h).
const SLL_PROTO_802_2: u16 = 0x0004;

/// A non-IP Ethernet payload: an EtherType's, or (a type field that is a length) an
/// 802.3 frame's LLC PDU cut to that length. `None` when cut short.
fn link_frame(
    src: [u8; 6],
    dst: Option<[u8; 6]>,
    type_or_len: u16,
    rest: &[u8],
) -> Option<LinkFrame<'_>> {
    if type_or_len > MAX_8023_LENGTH {
        return Some(LinkFrame {
            src,
            dst,
            kind: LinkType::EtherType(type_or_len),
            payload: rest,
        });
    }
    // The length counts the LLC PDU; a length past the captured bytes means the snap
    // length cut it: use what is there. DSAP, SSAP and control are its first 3 bytes
    // (IEEE 802.2 clause 3.2).
    let llc = &rest[..usize::from(type_or_len).min(rest.len())];
    if llc.len() < 3 {
        return None;
    }
    Some(LinkFrame {
        src,
        dst,
        kind: LinkType::Llc {
            dsap: llc[0],
            ssap: llc[1],
        },
        payload: llc,
    })
}

/// A Linux cooked capture's payload by its protocol field: IP/ARP, or a layer-2 frame
/// when the source address is a MAC (an LLC PDU for `ETH_P_802_2`, whose length the
/// capture does not record: the payload is what was captured).
fn cooked_body(src: Option<[u8; 6]>, proto: u16, d: &[u8]) -> Option<Body<'_>> {
    if is_ip_or_arp(proto) {
        return ethertype_body(proto, d);
    }
    let src = src?;
    if proto == SLL_PROTO_802_2 {
        if d.len() < 3 {
            return None;
        }
        return Some(Body::Link(LinkFrame {
            src,
            dst: None,
            kind: LinkType::Llc {
                dsap: d[0],
                ssap: d[1],
            },
            payload: d,
        }));
    }
    if proto <= MAX_8023_LENGTH {
        // Other ETH_P_* pseudo-protocols (802.3, AX.25, CAN, ...): not Ethernet payloads.
        return None;
    }
    Some(Body::Link(LinkFrame {
        src,
        dst: None,
        kind: LinkType::EtherType(proto),
        payload: d,
    }))
}

fn arp(d: &[u8]) -> Option<Arp> {
    // htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4 (RFC 826)
    if be16(d, 0)? != 1 || be16(d, 2)? != ETHERTYPE_IPV4 || *d.get(4)? != 6 || *d.get(5)? != 4 {
        return None;
    }
    let sender_mac = mac(d, 8)?;
    let ip: [u8; 4] = d.get(14..18)?.try_into().ok()?;
    Some(Arp {
        sender_mac,
        sender_ip: Ipv4Addr::from(ip),
    })
}

fn ipv4(d: &[u8]) -> Option<IpPacket<'_>> {
    if d.first()? >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(d[0] & 0x0f) * 4;
    // Total length bounds the packet (Ethernet pads short frames); a length beyond the
    // captured bytes means the snap length cut it: use what is there.
    let total = usize::from(be16(d, 2)?);
    if ihl < 20 || total < ihl {
        return None;
    }
    let d = &d[..total.min(d.len())];
    let frag = be16(d, 6)?;
    let ttl = *d.get(8)?;
    let proto = *d.get(9)?;
    let src: [u8; 4] = d.get(12..16)?.try_into().ok()?;
    let dst: [u8; 4] = d.get(16..20)?.try_into().ok()?;
    let payload = d.get(ihl..)?;
    // A non-first fragment carries no transport header, and a first fragment carries
    // only part of the segment: decoding it would feed a cut segment to reassembly.
    // Offset in 8-byte units, more-fragments bit 0x2000 (RFC 791).
    let fragment = (frag & 0x3fff != 0).then(|| Fragment {
        id: u32::from(be16(d, 4).unwrap_or(0)),
        proto,
        offset: usize::from(frag & 0x1fff) * 8,
        more: frag & 0x2000 != 0,
        payload,
    });
    let l4 = if fragment.is_some() {
        L4::Other
    } else {
        transport(proto, payload)
    };
    Some(IpPacket {
        src: IpAddr::V4(Ipv4Addr::from(src)),
        dst: IpAddr::V4(Ipv4Addr::from(dst)),
        ttl,
        fragment,
        l4,
    })
}

fn ipv6(d: &[u8]) -> Option<IpPacket<'_>> {
    if d.first()? >> 4 != 6 {
        return None;
    }
    let plen = usize::from(be16(d, 4)?);
    let mut next = *d.get(6)?;
    let ttl = *d.get(7)?;
    let src: [u8; 16] = d.get(8..24)?.try_into().ok()?;
    let dst: [u8; 16] = d.get(24..40)?.try_into().ok()?;
    let body = d.get(40..)?;
    let mut body = &body[..plen.min(body.len())];
    // Hop-by-hop (0), routing (43), destination options (60): length in 8-byte units past the first 8.
    let mut hops = 0;
    while matches!(next, 0 | 43 | 60) {
        hops += 1;
        if hops > 8 {
            return None;
        }
        let len = (usize::from(*body.get(1)?) + 1) * 8;
        next = *body.first()?;
        body = body.get(len..)?;
    }
    // Fragment header (RFC 8200 4.5): next header, reserved, offset (13 bits, 8-byte
    // units) with the M flag in bit 0, identification (32 bits).
    let fragment = if next == 44 {
        let off = be16(body, 2)?;
        Some(Fragment {
            id: be32(body, 4)?,
            proto: *body.first()?,
            offset: usize::from(off >> 3) * 8,
            more: off & 1 != 0,
            payload: body.get(8..)?,
        })
    } else {
        None
    };
    let l4 = if fragment.is_some() {
        L4::Other
    } else {
        transport(next, body)
    };
    Some(IpPacket {
        src: IpAddr::V6(Ipv6Addr::from(src)),
        dst: IpAddr::V6(Ipv6Addr::from(dst)),
        ttl,
        fragment,
        l4,
    })
}

/// The transport layer of a whole IP payload (also of a reassembled datagram).
pub fn transport(proto: u8, d: &[u8]) -> L4<'_> {
    let parsed = match proto {
        6 => tcp(d).map(L4::Tcp),
        17 => udp(d).map(L4::Udp),
        _ => None,
    };
    parsed.unwrap_or(L4::Other)
}

fn tcp(d: &[u8]) -> Option<Tcp<'_>> {
    let doff = usize::from(*d.get(12)? >> 4) * 4;
    if doff < 20 {
        return None;
    }
    Some(Tcp {
        sport: be16(d, 0)?,
        dport: be16(d, 2)?,
        seq: be32(d, 4)?,
        flags: *d.get(13)?,
        payload: d.get(doff..)?,
    })
}

fn udp(d: &[u8]) -> Option<Udp<'_>> {
    let len = usize::from(be16(d, 4)?);
    let body = d.get(8..)?;
    // The UDP length bounds the datagram (Ethernet padding follows it); a zero length is
    // jumbogram/offload noise: take what was captured.
    let payload = if len >= 8 {
        &body[..(len - 8).min(body.len())]
    } else {
        body
    };
    Some(Udp {
        sport: be16(d, 0)?,
        dport: be16(d, 2)?,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let mut tcp = vec![
            0x30, 0x39, 0x01, 0xf6, 0, 0, 0, 7, 0, 0, 0, 0, 0x50, 0x18, 0, 0, 0, 0, 0, 0,
        ];
        tcp.extend_from_slice(payload);
        let total = (ip.len() + tcp.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend(tcp);
        ip
    }

    #[test]
    fn ethernet_qinq_ipv4_tcp() {
        let mut f = vec![0xff; 6];
        f.extend([0, 1, 2, 3, 4, 5]);
        f.extend([0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20, 0x08, 0x00]);
        f.extend(ipv4_tcp(b"hi"));
        f.extend([0, 0, 0]); // Ethernet padding must not reach the payload
        let p = decode(linktype::ETHERNET, &f).unwrap();
        assert_eq!(p.src_mac, Some([0, 1, 2, 3, 4, 5]));
        let Body::Ip(ip) = p.body else { panic!() };
        assert_eq!(ip.src, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(ip.ttl, 64);
        let L4::Tcp(t) = ip.l4 else { panic!() };
        assert_eq!(
            (t.sport, t.dport, t.seq, t.payload),
            (12345, 502, 7, &b"hi"[..])
        );
    }

    #[test]
    fn sll_sll2_and_raw() {
        let ip = ipv4_tcp(b"x");
        let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
        sll.extend(&ip);
        assert_eq!(
            decode(linktype::LINUX_SLL, &sll).unwrap().src_mac,
            Some([1, 2, 3, 4, 5, 6])
        );
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 9, 9, 9, 9, 9, 9, 0, 0,
        ];
        sll2.extend(&ip);
        assert_eq!(
            decode(linktype::LINUX_SLL2, &sll2).unwrap().src_mac,
            Some([9; 6])
        );
        assert!(decode(linktype::RAW, &ip).is_some());
    }

    #[test]
    fn never_panics_on_prefixes() {
        let mut f = vec![0xff; 6];
        f.extend([0, 1, 2, 3, 4, 5, 0x08, 0x00]);
        f.extend(ipv4_tcp(b"hello"));
        for lt in [
            linktype::ETHERNET,
            linktype::RAW,
            linktype::LINUX_SLL,
            linktype::LINUX_SLL2,
            linktype::NULL,
        ] {
            for n in 0..f.len() {
                let _ = decode(lt, &f[..n]);
            }
        }
    }
}
