//! How long merge, the canonical rendering and signing take for a large plant.
//!
//! Prints figures; asserts nothing about time. Run: `cargo bench --bench merge`.

#![allow(clippy::print_stdout)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use otscout::inventory::{
    EnipIdentity, EnipIdentitySource, Fact, Identity, Input, Observation, Protocol, Provenance,
    Transport, merge,
};
use otscout::report::{json, sign};

fn observations(hosts: u32, t0: DateTime<Utc>) -> (Vec<Observation>, Vec<Observation>) {
    let mut active = Vec::new();
    let mut passive = Vec::new();
    for h in 0..hosts {
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + h));
        let id = |minor: u8| Fact::Identity {
            identity: Identity::Enip(EnipIdentity {
                source: EnipIdentitySource::ListIdentity,
                vendor_id: 1,
                device_type: 14,
                product_code: 90,
                revision_major: 32,
                revision_minor: minor,
                status: 0x30,
                serial: 0x1000_0000 + h,
                product_name: "1756-L85E/B".to_owned(),
                state: Some(3),
                encapsulation_version: Some(1),
                socket_addr: None,
            }),
        };
        let seen = Some(t0 + TimeDelta::seconds(i64::from(h)));
        active.push(Observation {
            ip,
            fact: id(11),
            provenance: Provenance::Active {
                scan_id: "bench".into(),
                profile: "conservative".into(),
                profile_sha256: "00".repeat(32),
                request: "enip.list_identity".into(),
            },
            seen,
            raw_hex: None,
            path: None,
        });
        active.push(Observation {
            ip,
            fact: Fact::Service {
                transport: Transport::Tcp,
                port: 44818,
                protocol: Protocol::Enip,
            },
            provenance: Provenance::Active {
                scan_id: "bench".into(),
                profile: "conservative".into(),
                profile_sha256: "00".repeat(32),
                request: "tcp.connect".into(),
            },
            seen,
            raw_hex: None,
            path: None,
        });
        passive.push(Observation {
            ip,
            fact: id(if h % 10 == 0 { 10 } else { 11 }),
            provenance: Provenance::Pcap {
                file: "plant.pcapng".into(),
                frame: u64::from(h) * 3 + 1,
            },
            seen: Some(t0 - TimeDelta::days(7)),
            raw_hex: None,
            path: None,
        });
    }
    (active, passive)
}

fn main() {
    let t0 = DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
        .map(|t| t.to_utc())
        .unwrap_or_default();
    for hosts in [1_000u32, 10_000] {
        let (a, p) = observations(hosts, t0);
        let n = a.len() + p.len();
        let inputs = [Input::from_raw("scan", a), Input::from_raw("capture", p)];
        let start = Instant::now();
        let inv = merge(&inputs, t0);
        let merged = start.elapsed();
        let start = Instant::now();
        let bytes = json::render(&inv);
        let rendered = start.elapsed();
        let start = Instant::now();
        let parsed = json::parse(&bytes).map(|_| ());
        let parse = start.elapsed();
        let kp = minisign::KeyPair::generate_unencrypted_keypair().ok();
        let start = Instant::now();
        let signed = kp.map(|kp| sign::sign_bytes(&bytes, &kp.sk, "otscout-report bench").is_ok());
        let sig = start.elapsed();
        println!(
            "{hosts} hosts, {n} observations: merge {merged:?}, render {rendered:?} ({} MB), parse+canonical check {parse:?} ({}), sign {sig:?} ({})",
            bytes.len() / 1_000_000,
            if parsed.is_ok() { "ok" } else { "FAILED" },
            if signed == Some(true) { "ok" } else { "FAILED" },
        );
    }
}
