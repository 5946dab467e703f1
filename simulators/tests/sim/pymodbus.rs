//! Interop with pymodbus's client, when a Python with pymodbus is at hand (`python3`, or
//! the interpreter named by OTSCOUT_PYTHON). Skipped otherwise: CI does not install it.

use std::process::Command;

use crate::support::*;

const SCRIPT: &str = r#"
import json, sys
from pymodbus.client import ModbusTcpClient
host, port = sys.argv[1], int(sys.argv[2])
c = ModbusTcpClient(host, port=port, timeout=3)
assert c.connect(), "connect"
def call(f, **kw):
    try:
        return f(device_id=1, **kw)
    except TypeError:
        return f(slave=1, **kw)
objects, start = {}, 0
for _ in range(8):
    r = call(c.read_device_information, read_code=3, object_id=start)
    assert not r.isError(), str(r)
    for k, v in r.information.items():
        objects[str(k)] = v.decode("latin-1") if isinstance(v, bytes) else str(v)
    if r.more_follows != 0xFF:
        break
    start = r.next_object_id
r = call(c.report_device_id)
assert not r.isError(), str(r)
print(json.dumps({"objects": objects}))
c.close()
"#;

fn python() -> Option<String> {
    let py = std::env::var("OTSCOUT_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import pymodbus"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(py)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymodbus_client_reads_the_configured_identity() {
    let Some(py) = python() else {
        eprintln!("skipped pymodbus interop: no python3 with pymodbus (set OTSCOUT_PYTHON)");
        return;
    };
    let plant = start(demo_at(79)).await;
    let addr = plant.device("peerlab-pymodbus").unwrap().modbus.unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(py)
            .args([
                "-c",
                SCRIPT,
                &addr.ip().to_string(),
                &addr.port().to_string(),
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "pymodbus failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let o = &v["objects"];
    assert_eq!(o["0"], "PeerLab Automation GmbH");
    assert_eq!(o["1"], "PLB-MB-0502");
    assert_eq!(o["2"], "v3.16.1-lab");
    assert_eq!(o["4"], "PeerLab Modbus Test Server");
    assert_eq!(o["6"], "peer-lab pymodbus");
    for id in ["128", "129", "130"] {
        assert!(
            o[id].as_str().is_some_and(|s| s.len() == 100),
            "private object {id}: {}",
            o[id]
        );
    }
    plant.shutdown().await;
}
