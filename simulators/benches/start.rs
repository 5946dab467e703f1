//! Start-up benchmark: how long 1,000 generated devices take to bind, accept one
//! connection each and shut down. Prints figures; asserts nothing.
//!
//! cargo bench -p otscout-sim --bench start

use std::time::Instant;

use otscout_sim::{PortOverride, StartOptions};

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        for &n in &[100usize, 1000] {
            let plant = otscout_sim::generate::generate(n, "127.151.0.0/16", 7).expect("generate");
            let t = Instant::now();
            let running = otscout_sim::start(
                plant,
                StartOptions {
                    ports: PortOverride::Ephemeral,
                    ledger_sink: None,
                },
            )
            .await
            .expect("start");
            let started = t.elapsed();
            let t = Instant::now();
            for d in running.devices() {
                let a = d.modbus.or(d.enip_tcp).or(d.s7).expect("a protocol");
                let _ = tokio::net::TcpStream::connect(a).await.expect("connect");
            }
            let connected = t.elapsed();
            let t = Instant::now();
            running.shutdown().await;
            let stopped = t.elapsed();
            println!(
                "{n:>5} devices: start {:>8.1} ms, connect to each {:>8.1} ms, shutdown {:>8.1} ms",
                started.as_secs_f64() * 1e3,
                connected.as_secs_f64() * 1e3,
                stopped.as_secs_f64() * 1e3
            );
        }
    });
}
