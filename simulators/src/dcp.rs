//! PROFINET DCP frames for a scripted engineering session (layer 2, EtherType 0x8892),
//! written from IEC 61158-6-10 section 4.3 (DCP: FrameID, ServiceID, ServiceType, Xid,
//! ResponseDelay, DCPDataLength, option blocks with BlockInfo / BlockQualifier, blocks
//! padded to even length) and checked against the SCALANCE X208 in
//! `ChangeIPUsingDCP.pcap`.
//!
//! Nothing here is ever sent: the frames exist only in a synthesised capture
//! ([`crate::hmi::write_pcapng`]), so `otscout demo` can show a DCP identity and a DCP
//! Set (a write) being flagged by passive import.

use std::net::Ipv4Addr;

use crate::plant::ProfinetConfig;

/// The PROFINET EtherType.
pub const ETHERTYPE: u16 = 0x8892;
/// The Identify multicast address (IEC 61158-6-10: 01-0E-CF-00-00-00).
pub const IDENTIFY_MULTICAST: [u8; 6] = [0x01, 0x0e, 0xcf, 0x00, 0x00, 0x00];

/// One layer-2 frame: destination, source, the bytes after the EtherType.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2Frame {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub payload: Vec<u8>,
}

fn block(out: &mut Vec<u8>, option: u8, suboption: u8, info: Option<u16>, value: &[u8]) {
    let len = value.len() + if info.is_some() { 2 } else { 0 };
    out.push(option);
    out.push(suboption);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    if let Some(i) = info {
        out.extend_from_slice(&i.to_be_bytes());
    }
    out.extend_from_slice(value);
    if len % 2 == 1 {
        out.push(0);
    }
}

fn pdu(frame_id: u16, service: u8, kind: u8, xid: u32, delay: u16, blocks: &[u8]) -> Vec<u8> {
    let mut out = frame_id.to_be_bytes().to_vec();
    out.push(service);
    out.push(kind);
    out.extend_from_slice(&xid.to_be_bytes());
    out.extend_from_slice(&delay.to_be_bytes());
    out.extend_from_slice(&(blocks.len() as u16).to_be_bytes());
    out.extend_from_slice(blocks);
    out
}

fn ip_value(ip: Ipv4Addr, mask: Ipv4Addr, gw: Ipv4Addr) -> Vec<u8> {
    [ip.octets(), mask.octets(), gw.octets()].concat()
}

/// The device's Identify response blocks (as the X208 sends them, less the options list).
pub fn identify_response(cfg: &ProfinetConfig, xid: u32) -> Vec<u8> {
    let mut b = Vec::new();
    block(&mut b, 2, 1, Some(0), cfg.vendor_value.as_bytes());
    block(&mut b, 2, 2, Some(0), cfg.name_of_station.as_bytes());
    let mut id = cfg.vendor_id.to_be_bytes().to_vec();
    id.extend_from_slice(&cfg.device_id.to_be_bytes());
    block(&mut b, 2, 3, Some(0), &id);
    block(&mut b, 2, 4, Some(0), &[cfg.device_role, 0]);
    // BlockInfo 1: "IP set".
    block(
        &mut b,
        1,
        2,
        Some(1),
        &ip_value(cfg.ip, cfg.netmask, cfg.gateway),
    );
    pdu(0xFEFF, 5, 1, xid, 0, &b)
}

/// What the engineering station's Set asks the device for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetRequest {
    /// A new IP suite (1/2), the device's mask and gateway kept.
    Ip(Ipv4Addr),
    /// A new NameOfStation (2/2), as at commissioning.
    NameOfStation(String),
}

/// A Siemens ET 200SP interface module (IM 155-6 PN ST) fresh from the box, as the demo's
/// engineering station finds it on its segment: no IP address yet (0.0.0.0), a default
/// NameOfStation. Invented for the demo but plausible: VendorID 0x002A is Siemens (the
/// PROFINET vendor list), the MAC is in Siemens' OUI 00:1B:1B, DeviceVendorValue and
/// DeviceID as the ET 200SP family's GSDML names them.
pub fn et200sp() -> ProfinetConfig {
    ProfinetConfig {
        mac: [0x00, 0x1b, 0x1b, 0x6e, 0x20, 0x01],
        name_of_station: "et200sp-im155-6".into(),
        vendor_value: "ET200SP".into(),
        vendor_id: 0x002a,
        device_id: 0x0313,
        device_role: 1,
        ip: Ipv4Addr::UNSPECIFIED,
        netmask: Ipv4Addr::UNSPECIFIED,
        gateway: Ipv4Addr::UNSPECIFIED,
    }
}

/// The NameOfStation the demo's engineering station gives the ET 200SP ([`et200sp`]).
pub const ET200SP_NEW_NAME: &str = "pump-station-io1";

/// An engineering station's session with the device: Identify All (multicast), the
/// device's response, a Set (saved permanently) and the device's OK.
pub fn engineering_session(
    cfg: &ProfinetConfig,
    station: [u8; 6],
    xid: u32,
    request: &SetRequest,
) -> Vec<L2Frame> {
    let mut all = Vec::new();
    block(&mut all, 0xff, 0xff, None, &[]);
    let mut set = Vec::new();
    // BlockQualifier 1: save the value permanently.
    let answered = match request {
        SetRequest::Ip(new_ip) => {
            block(
                &mut set,
                1,
                2,
                Some(1),
                &ip_value(*new_ip, cfg.netmask, cfg.gateway),
            );
            [1, 2]
        }
        SetRequest::NameOfStation(name) => {
            block(&mut set, 2, 2, Some(1), name.as_bytes());
            [2, 2]
        }
    };
    let mut ok = Vec::new();
    // Control/Response: the option and suboption answered, BlockError 0.
    block(&mut ok, 5, 4, None, &[answered[0], answered[1], 0]);
    vec![
        L2Frame {
            dst: IDENTIFY_MULTICAST,
            src: station,
            payload: pdu(0xFEFE, 5, 0, xid, 1, &all),
        },
        L2Frame {
            dst: station,
            src: cfg.mac,
            payload: identify_response(cfg, xid),
        },
        L2Frame {
            dst: cfg.mac,
            src: station,
            payload: pdu(0xFEFD, 4, 0, xid.wrapping_add(1), 0, &set),
        },
        L2Frame {
            dst: station,
            src: cfg.mac,
            payload: pdu(0xFEFD, 4, 1, xid.wrapping_add(1), 0, &ok),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x208() -> ProfinetConfig {
        ProfinetConfig {
            mac: [0x08, 0x00, 0x06, 0x93, 0xcf, 0x32],
            name_of_station: "X208-BORD".into(),
            vendor_value: "INC".into(),
            vendor_id: 0x002a,
            device_id: 0x0a01,
            device_role: 1,
            ip: Ipv4Addr::new(192, 168, 0, 6),
            netmask: Ipv4Addr::new(255, 255, 255, 0),
            gateway: Ipv4Addr::new(192, 168, 0, 1),
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn the_session_is_the_captured_one_less_the_options_block() {
        let f = engineering_session(
            &x208(),
            [0x00, 0x0c, 0x29, 0xba, 0x09, 0xea],
            0x0100_0001,
            &SetRequest::Ip(Ipv4Addr::new(192, 168, 0, 10)),
        );
        // ChangeIPUsingDCP.pcap frame 1 (without its Ethernet padding), sent multicast here.
        assert_eq!(f[0].payload, hex("fefe 05 00 01000001 0001 0004 ffff0000"));
        // Frame 2 without the device-options block (13 pairs).
        assert_eq!(
            f[1].payload,
            hex("feff 05 01 01000001 0000 003e \
                 0201 0005 0000 494e43 00 \
                 0202 000b 0000 58323038 2d424f5244 00 \
                 0203 0006 0000 002a 0a01 \
                 0204 0004 0000 0100 \
                 0102 000e 0001 c0a80006 ffffff00 c0a80001")
        );
        // Frame 3 with the next Xid, frame 4 with its padding byte.
        assert_eq!(
            f[2].payload,
            hex("fefd 04 00 01000002 0000 0012 0102 000e 0001 c0a8000a ffffff00 c0a80001")
        );
        assert_eq!(
            f[3].payload,
            hex("fefd 04 01 01000002 0000 0008 0504 0003 010200 00")
        );
    }
}
