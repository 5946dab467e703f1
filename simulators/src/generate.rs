//! Generates large plants for benchmarks: `n` devices spread over a loopback subnet,
//! cycling through realistic product lines, with seeded (reproducible) serial numbers.

use std::net::Ipv4Addr;

use crate::plant::{
    Behaviour, DeviceConfig, EnipConfig, EnipIdentity, ModbusConfig, ModbusIdentity, Plant,
    S7Config, S7Identity, UnknownUnit,
};

/// Why a plant could not be generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    #[error("subnet {0:?} is not an IPv4 CIDR like 127.20.0.0/16")]
    BadSubnet(String),
    #[error("subnet {0} is not inside 127.0.0.0/8; simulated devices bind loopback only")]
    NotLoopback(String),
    #[error("subnet {subnet} has room for {room} devices, {wanted} were asked")]
    TooSmall {
        subnet: String,
        room: u64,
        wanted: usize,
    },
}

/// SplitMix64: small, seedable, stable across crate versions (so a seed names a plant).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn parse_cidr(s: &str) -> Result<(u32, u8), GenerateError> {
    let bad = || GenerateError::BadSubnet(s.to_string());
    let (ip, len) = s.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if len > 32 {
        return Err(bad());
    }
    if !ip.is_loopback() || len < 8 {
        return Err(GenerateError::NotLoopback(s.to_string()));
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Ok((u32::from(ip) & mask, len))
}

/// `n` devices in `subnet` (host addresses only: the network and broadcast addresses
/// are skipped), identities drawn with `seed`.
pub fn generate(n: usize, subnet: &str, seed: u64) -> Result<Plant, GenerateError> {
    let (net, len) = parse_cidr(subnet)?;
    let size = 1u64 << (32 - u32::from(len));
    let room = size.saturating_sub(2).max(if len >= 31 { size } else { 0 });
    if n as u64 > room {
        return Err(GenerateError::TooSmall {
            subnet: subnet.to_string(),
            room,
            wanted: n,
        });
    }
    let first = if len >= 31 { net } else { net + 1 };
    let mut rng = Rng(seed);
    let mut devices = Vec::with_capacity(n);
    for i in 0..n {
        let address = Ipv4Addr::from(first + i as u32);
        let serial = rng.next() as u32;
        let kind = rng.next() % 6;
        let name = format!("dev{i:05}");
        let mut d = DeviceConfig {
            name,
            address,
            behaviour: Behaviour::default(),
            modbus: None,
            enip: None,
            s7: None,
        };
        match kind {
            0 => {
                d.modbus = Some(modbus(
                    "Schneider Electric",
                    "BMX P34 2020",
                    "v3.20",
                    0x80 | 1,
                ))
            }
            1 => d.modbus = Some(modbus("WAGO", "750-8202", "03.10.08", 0x80 | 1)),
            2 => {
                d.enip = Some(enip(
                    1,
                    14,
                    166,
                    (33, 11),
                    serial,
                    "1769-L33ER/A LOGIX5333ER",
                ))
            }
            3 => d.enip = Some(enip(1, 123, 4, (13, 1), serial, "PowerFlex 525")),
            4 => {
                d.s7 = Some(s7(
                    "6ES7 214-1AG40-0XB0",
                    (0x5604, 0x0400),
                    "S7-1200 station",
                    serial,
                ))
            }
            _ => {
                d.s7 = Some(s7(
                    "6ES7 516-3AN01-0AB0",
                    (0x5602, 0x0900),
                    "S7-1500 station",
                    serial,
                ))
            }
        }
        devices.push(d);
    }
    Ok(Plant {
        name: format!("generated: {n} devices in {subnet}, seed {seed}"),
        devices,
    })
}

fn modbus(vendor: &str, product: &str, rev: &str, level: u8) -> ModbusConfig {
    ModbusConfig {
        port: 502,
        unit_ids: vec![1, 255],
        any_unit: false,
        unknown_unit: UnknownUnit::Ignore,
        identity: ModbusIdentity {
            vendor_name: vendor.into(),
            product_code: product.into(),
            revision: rev.into(),
            conformity_level: Some(level),
            ..ModbusIdentity::default()
        },
        plain_reads: true,
        device_identification: true,
        gateway: Vec::new(),
    }
}

fn enip(vendor: u16, dtype: u16, code: u16, rev: (u8, u8), serial: u32, name: &str) -> EnipConfig {
    EnipConfig {
        port: 44818,
        udp: true,
        list_identity_unsupported: false,
        identity: EnipIdentity {
            vendor_id: vendor,
            device_type: dtype,
            product_code: code,
            revision_major: rev.0,
            revision_minor: rev.1,
            status: 0x0030,
            serial,
            product_name: name.into(),
            state: 3,
            socket_address: None,
        },
    }
}

fn s7(order: &str, fw: (u16, u16), as_name: &str, serial: u32) -> S7Config {
    S7Config {
        port: 102,
        tsaps: vec![0x0101, 0x0102, 0x0200, 0x0201, 0x0300, 0x0301],
        pdu_size: 240,
        sequence_numbers: true,
        identity: S7Identity {
            order_number: order.into(),
            module_type_id: 0x00c0,
            hardware_version: [1, 0],
            firmware_version: [fw.0, fw.1],
            boot_loader_version: None,
            as_name: as_name.into(),
            module_name: "PLC_1".into(),
            plant_tag: String::new(),
            copyright: "Original Siemens Equipment".into(),
            serial_number: format!("S V-{serial:08X}"),
            module_type_name: "CPU".into(),
            memory_card_serial: String::new(),
            manufacturer_id: 0x002a,
            profile_id: 0xf600,
            profile_type: 0x0001,
            oem_id: String::new(),
            location: String::new(),
        },
    }
}
