//! Generates large plants for benchmarks: `n` devices spread over one or more loopback
//! subnets, cycling through realistic product lines, with seeded (reproducible) serial
//! numbers, and an optional reply latency.
//!
//! What `generate` writes, `run` reads: [`plant_file`] refuses a plant whose TOML would be
//! larger than [`crate::plant::MAX_PLANT_BYTES`], the cap [`crate::Plant::load`] enforces.

use std::net::Ipv4Addr;

use crate::plant::{
    Behaviour, DeviceConfig, EnipConfig, EnipIdentity, MAX_PLANT_BYTES, ModbusConfig,
    ModbusIdentity, Plant, S7Config, S7Identity, UnknownUnit,
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
    #[error("no subnet given: name at least one, like 127.20.0.0/16")]
    NoSubnet,
    #[error("subnets {0} and {1} overlap: give each device its own address")]
    Overlap(String, String),
    #[error(
        "{devices} devices make a plant file of {bytes} bytes, more than the {max} bytes \
         `otscout-sim run` reads: generate fewer devices"
    )]
    TooLarge {
        devices: usize,
        bytes: u64,
        max: u64,
    },
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// How many devices.
    pub devices: usize,
    /// Loopback subnets (CIDR) the devices are spread over, in order: each takes an equal
    /// share (the first ones one more when the count does not divide).
    pub subnets: Vec<String>,
    /// Names the plant: the same seed gives the same identities.
    pub seed: u64,
    /// Every device's reply latency ([`Behaviour::latency_ms`]).
    pub latency_ms: u64,
    /// Every device's reply jitter ([`Behaviour::jitter_ms`]).
    pub jitter_ms: u64,
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
/// are skipped), identities drawn with `seed`, no added latency.
pub fn generate(n: usize, subnet: &str, seed: u64) -> Result<Plant, GenerateError> {
    generate_with(&GenerateOptions {
        devices: n,
        subnets: vec![subnet.to_string()],
        seed,
        latency_ms: 0,
        jitter_ms: 0,
    })
}

/// The plant `opts` describes. Device `i` is the `i`-th host address of its subnet's
/// share; with one subnet this is exactly [`generate`]'s plant.
pub fn generate_with(opts: &GenerateOptions) -> Result<Plant, GenerateError> {
    let n = opts.devices;
    if opts.subnets.is_empty() {
        return Err(GenerateError::NoSubnet);
    }
    let k = opts.subnets.len();
    let mut addresses = Vec::with_capacity(n);
    let mut spans: Vec<(u32, u32)> = Vec::with_capacity(k);
    for (j, subnet) in opts.subnets.iter().enumerate() {
        let share = n / k + usize::from(j < n % k);
        let (net, len) = parse_cidr(subnet)?;
        let size = 1u64 << (32 - u32::from(len));
        let room = size.saturating_sub(2).max(if len >= 31 { size } else { 0 });
        if share as u64 > room {
            return Err(GenerateError::TooSmall {
                subnet: subnet.clone(),
                room,
                wanted: share,
            });
        }
        let last = net + (size - 1) as u32;
        for (other, (onet, olast)) in opts.subnets.iter().zip(&spans) {
            if net <= *olast && *onet <= last {
                return Err(GenerateError::Overlap(other.clone(), subnet.clone()));
            }
        }
        spans.push((net, last));
        let first = if len >= 31 { net } else { net + 1 };
        // share <= room < 2^32 - net: the sum stays inside the subnet.
        addresses.extend((0..share as u32).map(|i| Ipv4Addr::from(first + i)));
    }
    let mut rng = Rng(opts.seed);
    let mut devices = Vec::with_capacity(n);
    for (i, address) in addresses.into_iter().enumerate() {
        let serial = rng.next() as u32;
        let kind = rng.next() % 6;
        let name = format!("dev{i:05}");
        let mut d = DeviceConfig {
            name,
            address,
            behaviour: Behaviour {
                latency_ms: opts.latency_ms,
                jitter_ms: opts.jitter_ms,
                ..Behaviour::default()
            },
            modbus: None,
            enip: None,
            s7: None,
            bacnet: None,
            opcua: None,
            fins: None,
            fox: None,
            profinet: None,
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
    let mut name = format!(
        "generated: {n} devices in {}, seed {}",
        opts.subnets.join(" "),
        opts.seed
    );
    if opts.latency_ms > 0 || opts.jitter_ms > 0 {
        name.push_str(&format!(
            ", latency {} ms + up to {} ms",
            opts.latency_ms, opts.jitter_ms
        ));
    }
    Ok(Plant { name, devices })
}

/// The plant as the TOML file `otscout-sim run` reads, refused when it would be larger
/// than that reader's cap ([`MAX_PLANT_BYTES`]): `generate` never writes a plant `run`
/// refuses.
pub fn plant_file(plant: &Plant) -> Result<String, GenerateError> {
    let text = plant.to_toml_string();
    if text.len() as u64 > MAX_PLANT_BYTES {
        return Err(GenerateError::TooLarge {
            devices: plant.devices.len(),
            bytes: text.len() as u64,
            max: MAX_PLANT_BYTES,
        });
    }
    Ok(text)
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
        chassis: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(devices: usize, subnets: &[&str]) -> GenerateOptions {
        GenerateOptions {
            devices,
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            seed: 5,
            latency_ms: 0,
            jitter_ms: 0,
        }
    }

    #[test]
    fn devices_are_shared_over_the_subnets_in_order() {
        let p = generate_with(&opts(
            7,
            &["127.90.0.0/24", "127.91.0.0/24", "127.92.0.0/30"],
        ))
        .expect("generate");
        let addrs: Vec<String> = p.devices.iter().map(|d| d.address.to_string()).collect();
        assert_eq!(
            addrs,
            [
                "127.90.0.1",
                "127.90.0.2",
                "127.90.0.3",
                "127.91.0.1",
                "127.91.0.2",
                "127.92.0.1",
                "127.92.0.2"
            ]
        );
        // One subnet: the same plant as `generate`.
        let one = generate_with(&opts(20, &["127.90.0.0/24"])).expect("generate");
        assert_eq!(one, generate(20, "127.90.0.0/24", 5).expect("generate"));
    }

    #[test]
    fn a_share_too_big_for_its_subnet_or_overlapping_subnets_are_refused() {
        // 3 devices a subnet; a /30 holds 2.
        let e = generate_with(&opts(6, &["127.90.0.0/24", "127.91.0.0/30"])).unwrap_err();
        assert!(e.to_string().contains("127.91.0.0/30"), "{e}");
        let e = generate_with(&opts(4, &["127.90.0.0/16", "127.90.3.0/24"])).unwrap_err();
        assert!(
            e.to_string()
                .contains("subnets 127.90.0.0/16 and 127.90.3.0/24 overlap"),
            "{e}"
        );
        assert!(matches!(
            generate_with(&opts(4, &[])),
            Err(GenerateError::NoSubnet)
        ));
    }

    #[test]
    fn latency_reaches_every_device_and_survives_the_file() {
        let mut o = opts(9, &["127.90.0.0/24"]);
        o.latency_ms = 20;
        o.jitter_ms = 10;
        let p = generate_with(&o).expect("generate");
        assert!(
            p.devices
                .iter()
                .all(|d| (d.behaviour.latency_ms, d.behaviour.jitter_ms) == (20, 10))
        );
        let text = plant_file(&p).expect("within the cap");
        assert_eq!(Plant::from_toml_str(&text).expect("parses"), p);
        // Without latency the defaults are left out of the file, and it still round-trips.
        let plain = generate_with(&opts(9, &["127.90.0.0/24"])).expect("generate");
        let text = plant_file(&plain).expect("within the cap");
        assert!(!text.contains("behaviour"), "{text}");
        assert_eq!(Plant::from_toml_str(&text).expect("parses"), plain);
    }
}
