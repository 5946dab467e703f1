//! 1,000 devices start and all accept. No timing assertion here: the start-up time is
//! measured by `cargo bench -p otscout-sim --bench start`.

use std::sync::Arc;

use otscout_sim::EventKind;
use tokio::sync::Semaphore;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_devices_start_and_all_accept() {
    let plant = otscout_sim::generate::generate(1000, "127.150.0.0/16", 42).unwrap();
    let running = start(plant).await;
    assert_eq!(running.devices().len(), 1000);
    let addrs: Vec<_> = running
        .devices()
        .iter()
        .map(|d| {
            d.modbus
                .or(d.enip_tcp)
                .or(d.s7)
                .expect("each device serves a protocol")
        })
        .collect();
    let limit = Arc::new(Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    for a in addrs {
        let limit = limit.clone();
        tasks.spawn(async move {
            let _p = limit.acquire().await;
            tokio::time::timeout(WAIT, tokio::net::TcpStream::connect(a))
                .await
                .is_ok_and(|r| r.is_ok())
        });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        ok += usize::from(r.unwrap());
    }
    assert_eq!(ok, 1000);
    wait_ledger(&running, "1000 accepts", |l| {
        l.iter().filter(|e| e.kind == EventKind::Opened).count() == 1000
    })
    .await;
    let mut devices: Vec<_> = running
        .ledger()
        .into_iter()
        .filter(|e| e.kind == EventKind::Opened)
        .map(|e| e.device)
        .collect();
    devices.sort();
    devices.dedup();
    assert_eq!(devices.len(), 1000, "every device accepted once");
    running.shutdown().await;
}
