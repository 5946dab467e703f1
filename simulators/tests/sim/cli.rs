//! The binary: `generate` is deterministic and valid; `run` serves, writes the ledger as
//! JSON lines and a pcapng as it goes, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use otscout_sim::Plant;

const BIN: &str = env!("CARGO_BIN_EXE_otscout-sim");

#[test]
fn generate_is_deterministic_and_loads() {
    let run = |seed: &str| {
        let out = Command::new(BIN)
            .args([
                "generate",
                "--devices",
                "50",
                "--subnet",
                "127.160.0.0/24",
                "--seed",
                seed,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let a = run("3");
    assert_eq!(a, run("3"));
    assert_ne!(a, run("4"));
    let plant = Plant::from_toml_str(&a).unwrap();
    assert_eq!(plant.devices.len(), 50);
    assert_eq!(plant.devices[0].address.to_string(), "127.160.0.1");
}

#[test]
fn generate_rejects_non_loopback_and_small_subnets() {
    for (subnet, says) in [
        ("10.0.0.0/8", "not inside 127.0.0.0/8"),
        ("127.0.0.0/30", "room for 2 devices"),
    ] {
        let out = Command::new(BIN)
            .args(["generate", "--devices", "5", "--subnet", subnet])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
    }
}

#[test]
fn run_rejects_a_bad_plant_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, "[[device]]\nname = \"x\"\naddress = \"10.1.2.3\"\n").unwrap();
    let out = Command::new(BIN).arg("run").arg(&p).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("10.1.2.3") && err.contains("not loopback"),
        "{err}"
    );
}

#[tokio::test]
async fn run_serves_and_writes_ledger_and_pcap() {
    let dir = tempfile::tempdir().unwrap();
    let plant = dir.path().join("p.toml");
    std::fs::write(
        &plant,
        r#"
        name = "cli"
        [[device]]
        name = "m"
        address = "127.161.0.1"
        [device.modbus]
        identity = { vendor_name = "Acme", product_code = "X1", revision = "1.0" }
        "#,
    )
    .unwrap();
    let (ledger, pcap) = (dir.path().join("l.jsonl"), dir.path().join("t.pcapng"));
    let mut child = Command::new(BIN)
        .arg("run")
        .arg(&plant)
        .arg("--ephemeral")
        .arg("--ledger")
        .arg(&ledger)
        .arg("--pcap")
        .arg(&pcap)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("modbus tcp ").nth(1) {
            addr = Some(rest.trim().parse::<std::net::SocketAddr>().unwrap());
        }
        if line.contains("Ctrl-C") {
            break;
        }
    }
    let addr = addr.expect("the binary prints where it serves");
    let mut s = crate::support::connect(addr).await;
    let r = crate::support::exchange(
        &mut s,
        crate::support::Framing::Modbus,
        &crate::support::mb_devid(1, 1, 1, 0),
    )
    .await;
    assert!(r.is_some());
    drop(s);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
    let text = std::fs::read_to_string(&ledger).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    // The client closes first: its FIN, then the device's, and the connection is closed.
    assert_eq!(
        kinds,
        ["opened", "request", "reply", "client_fin", "closed"]
    );
    let frames = crate::support::frames(&pcap);
    let payloads: Vec<_> = frames.iter().filter(|f| !f.payload.is_empty()).collect();
    assert_eq!(payloads.len(), 2);
    assert_eq!(payloads[0].payload, crate::support::mb_devid(1, 1, 1, 0));
}
