//! The scan's open-service facts, `--from-passive` / `--skip-identified`, and the whole
//! job in one command (`--passive ... --sign-key`).
//!
//! Addresses: 127.23.71.x (services), 127.23.72.x (from-passive), 127.23.73.x (one
//! command); ports ephemeral.

use std::collections::HashMap;
use std::net::IpAddr;

use otscout::inventory::{self, Fact, Input, Protocol, Transport};
use otscout::probe::scan::{self, ProbeOutcome, StopSignal};
use otscout_sim::Plant;

use super::plant::{config, profile, start};

/// A device that accepts the connection and never answers (a hung RTU) still ends up in
/// the merged inventory as an asset with an open Modbus service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_rtu_is_an_asset_with_its_open_service() {
    let plant = start(
        Plant::from_toml_str(
            r#"
            [[device]]
            name = "hung"
            address = "127.23.71.1"
            behaviour = { hang = true }
            [device.modbus]
            port = 0
            unit_ids = [1]
            identity = { vendor_name = "Unknown", product_code = "RTU", revision = "0" }
            "#,
        )
        .unwrap(),
    )
    .await;
    let ip: IpAddr = "127.23.71.1".parse().unwrap();
    let port = plant.devices()[0].modbus.unwrap().port();
    let mut p = profile();
    p.enip.enabled = false;
    p.s7.enabled = false;
    p.modbus.unit_ids = vec![1];
    p.pacing.response_timeout_ms = 200;
    let ports = HashMap::from([((ip, Protocol::Modbus), port)]);
    let report = scan::run(
        config(p, vec![ip], ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    plant.shutdown().await;
    let probe = &report.hosts[0].probes[0];
    assert_eq!(probe.outcome, ProbeOutcome::Timeout, "{probe:?}");
    let services: Vec<&Fact> = probe
        .observations
        .iter()
        .map(|o| &o.fact)
        .filter(|f| matches!(f, Fact::Service { .. }))
        .collect();
    assert_eq!(
        services,
        vec![&Fact::Service {
            transport: Transport::Tcp,
            port,
            protocol: Protocol::Modbus
        }],
        "exactly one service fact, even if the session reconnected"
    );
    let obs: Vec<_> = report
        .hosts
        .iter()
        .flat_map(|h| &h.probes)
        .flat_map(|p| p.observations.clone())
        .collect();
    let inv = inventory::merge(&[Input::from_raw("scan", obs)], chrono::Utc::now());
    let asset = inv
        .assets
        .iter()
        .find(|a| a.ip == ip)
        .expect("the hung RTU is an asset");
    assert!(
        asset.services.iter().any(|s| s.port == port
            && s.protocol == Protocol::Modbus
            && s.transport == Transport::Tcp),
        "{:?}",
        asset.services
    );
}

/// Nothing listening: no service fact, and the address stays out of the inventory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_port_records_no_service() {
    let ip: IpAddr = "127.23.71.2".parse().unwrap();
    let mut p = profile();
    p.enip.enabled = false;
    p.s7.enabled = false;
    // Port 1 on an address of our own: nothing listens there.
    let ports = HashMap::from([((ip, Protocol::Modbus), 1)]);
    let report = scan::run(
        config(p, vec![ip], ports),
        scan::no_events(),
        StopSignal::new(),
    )
    .await
    .unwrap();
    let probe = &report.hosts[0].probes[0];
    assert_eq!(probe.outcome, ProbeOutcome::Refused);
    assert!(
        !probe
            .observations
            .iter()
            .any(|o| matches!(o.fact, Fact::Service { .. }))
    );
    let inv = inventory::merge(
        &[Input::from_raw("scan", probe.observations.clone())],
        chrono::Utc::now(),
    );
    assert!(inv.assets.iter().all(|a| a.ip != ip));
}
