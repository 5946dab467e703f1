//! Interop with a third-party FINS client: the PyPI package `fins` (1.0.5, Joseph Ryan,
//! GPLv2; installed by .ci/run) reads the CP1L model's controller data over FINS/TCP
//! (its own node-address handshake) and FINS/UDP. Skipped with a message when no python3
//! (or OTSCOUT_PYTHON) imports `fins`, unless OTSCOUT_REQUIRE_TOOLS=1.

use std::process::Command;

use crate::support::*;

const SCRIPT: &str = r#"
import json, sys
import fins.tcp, fins.udp
host, tcp_port, udp_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = {}
def fields(r):
    # FINS header 10, command 2, end code 2, then model and version, 20 bytes each.
    return {"end": r[12:14].hex(), "model": r[14:34].split(b"\0")[0].decode().strip(),
            "version": r[34:54].split(b"\0")[0].decode(), "dm_words": int.from_bytes(r[97:99], "big")}
t = fins.tcp.TCPFinsConnection()
t.fins_socket.settimeout(3)
t.connect(host, port=tcp_port)
out["tcp_nodes"] = [t.srce_node_add, t.dest_node_add]
out["tcp"] = fields(t.cpu_unit_data_read(b"\x00"))
t.fins_socket.close()
u = fins.udp.UDPFinsConnection()
u.connect(host, port=udp_port, bind_port=0)
u.srce_node_add = 0x63
out["udp"] = fields(u.cpu_unit_data_read(b"\x00"))
u.fins_socket.close()
print(json.dumps(out))
"#;

fn python() -> Option<String> {
    let py = std::env::var("OTSCOUT_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import fins.tcp, fins.udp"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(py)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pypi_fins_client_reads_the_cp1l_model() {
    let Some(py) = python() else {
        assert!(
            std::env::var("OTSCOUT_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "OTSCOUT_REQUIRE_TOOLS=1 but no python3 imports fins (pip install fins==1.0.5)"
        );
        eprintln!("skipped fins interop: no python3 with the fins package (set OTSCOUT_PYTHON)");
        return;
    };
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/plants/ffd.toml");
    let mut plant = otscout_sim::Plant::load(path).expect("ffd.toml loads");
    plant.devices.retain(|d| d.name == "omron-cp1l");
    plant.devices[0].address = std::net::Ipv4Addr::new(127, 217, 9, 1);
    let running = start(plant).await;
    let d = &running.devices()[0];
    let (tcp, udp) = (d.fins_tcp.unwrap(), d.fins_udp.unwrap());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(py)
            .args([
                "-c",
                SCRIPT,
                &tcp.ip().to_string(),
                &tcp.port().to_string(),
                &udp.port().to_string(),
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "fins client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tcp_nodes"], serde_json::json!([251, 200]));
    for t in ["tcp", "udp"] {
        assert_eq!(v[t]["end"], "0000", "{t}: {v}");
        assert_eq!(v[t]["model"], "CP1L-EL20DR-D", "{t}: {v}");
        assert_eq!(v[t]["version"], "01.00", "{t}: {v}");
        assert_eq!(v[t]["dm_words"], 10768, "{t}: {v}");
    }
    running.shutdown().await;
}
