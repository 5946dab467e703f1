//! Interop with an independent client: nmap's modbus-discover, enip-info (TCP and UDP)
//! and s7-info against the demo plant on standard ports; omron-info (TCP and UDP) and
//! fox-info against the FINS and Fox models of `plants/ffd.toml`.
//!
//! Runs only against this test's own loopback addresses (127.78.0.x), always with `-n`
//! (no DNS). Skips with a message when nmap is missing or the standard ports cannot be
//! bound, unless OTSCOUT_REQUIRE_TOOLS=1 (CI), in which case that is a failure.

use std::process::Command;

use otscout_sim::{EventKind, PortOverride, StartOptions};

use crate::support::*;

fn required() -> bool {
    std::env::var("OTSCOUT_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

fn skip_or_fail(why: &str) {
    assert!(!required(), "OTSCOUT_REQUIRE_TOOLS=1 but {why}");
    eprintln!("skipped nmap interop: {why}");
}

fn nmap(args: &[&str]) -> String {
    let out = Command::new("nmap")
        .args([
            "-n",
            "-Pn",
            "-T4",
            "--script-timeout",
            "20s",
            "--max-retries",
            "1",
        ])
        .args(args)
        .output()
        .expect("nmap runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "nmap {args:?} failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn expect_all(out: &str, what: &str, needles: &[&str]) {
    for n in needles {
        assert!(out.contains(n), "{what}: nmap output lacks {n:?}:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nmap_scripts_report_the_configured_identities() {
    if Command::new("nmap").arg("--version").output().is_err() {
        skip_or_fail("nmap is not installed");
        return;
    }
    let keep = [
        "et200s-im151-8",
        "snap7-cpu315",
        "s7-1200-press",
        "controllogix-enbt",
        "zeek-modbus-test",
        "rtu-gateway",
    ];
    let mut plant = demo_at(78);
    plant.devices.retain(|d| keep.contains(&d.name.as_str()));
    for d in &mut plant.devices {
        // Make s7-info fall back to its second TSAP (0x0200) on this one.
        if d.name == "s7-1200-press" {
            if let Some(s7) = d.s7.as_mut() {
                s7.tsaps = vec![0x0200, 0x0201];
            }
        }
    }
    let running = match otscout_sim::start(
        plant,
        StartOptions {
            ports: PortOverride::AsConfigured,
            ledger_sink: None,
        },
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            if e.to_string().contains("root") {
                skip_or_fail(&format!("cannot bind standard ports: {e}"));
                return;
            }
            panic!("{e}");
        }
    };
    let udp = is_root();
    let jobs: Vec<(&str, Vec<&str>)> = {
        let mut j = vec![
            (
                "modbus",
                vec![
                    "-sT",
                    "-p",
                    "502",
                    "--script",
                    "modbus-discover",
                    "127.78.0.31",
                    "127.78.0.38",
                ],
            ),
            (
                "enip tcp",
                vec!["-sT", "-p", "44818", "--script", "enip-info", "127.78.0.21"],
            ),
            (
                "s7",
                vec![
                    "-sT",
                    "-p",
                    "102",
                    "--script",
                    "s7-info",
                    "127.78.0.11",
                    "127.78.0.12",
                    "127.78.0.13",
                ],
            ),
        ];
        if udp {
            j.push((
                "enip udp",
                vec!["-sU", "-p", "44818", "--script", "enip-info", "127.78.0.21"],
            ));
        } else {
            skip_or_fail("nmap -sU needs root; UDP enip-info not run");
        }
        j
    };
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|(what, args)| {
            let args: Vec<String> = args.into_iter().map(String::from).collect();
            (
                what,
                tokio::task::spawn_blocking(move || {
                    nmap(&args.iter().map(String::as_str).collect::<Vec<_>>())
                }),
            )
        })
        .collect();
    for (what, h) in handles {
        let out = h.await.expect("nmap task");
        match what {
            "modbus" => expect_all(
                &out,
                what,
                &[
                    "Slave ID data: Zeek Modbus Test-Protocol Parsing is fun!-1.2.3.6",
                    "Device identification: Zeek Modbus Test Protocol Parsing is fun! 1.2.3.6",
                    "Device identification: Schneider Electric ATV320 v2.7",
                ],
            ),
            "enip tcp" | "enip udp" => expect_all(
                &out,
                what,
                &[
                    "type: Communications Adapter (12)",
                    "vendor: Rockwell Automation/Allen-Bradley (1)",
                    "productName: 1756-ENBT/A",
                    "serialNumber: 0x00524d8e",
                    "productCode: 58",
                    "revision: 4.3",
                    "status: 0x0030",
                    "deviceIp: 127.78.0.21",
                ],
            ),
            _ => expect_all(
                &out,
                what,
                &[
                    "Module: 6ES7 151-8AB01-0AB0",
                    "Version: 3.2.6",
                    "System Name: IM151-8-CPU",
                    "Module Type: IM151-8 PN/DP CPU",
                    "Serial Number: S C-C6TW74882012",
                    "Copyright: Original Siemens Equipment",
                    "System Name: SNAP7-SERVER",
                    "Serial Number: S C-C2UR28922012",
                    "Module: 6ES7 214-1AG40-0XB0",
                    "Version: 4.4.0",
                    "Module Type: PLC_PRESS",
                ],
            ),
        }
    }
    let ledger = running.ledger();
    let functions: Vec<&str> = ledger
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Request { function, .. } => Some(function.as_str()),
            _ => None,
        })
        .collect();
    for f in [
        "report_server_id",
        "read_device_identification",
        "list_identity",
        "cotp_connect_request",
        "setup_communication",
        "read_szl 0x0011",
        "read_szl 0x001c",
    ] {
        assert!(functions.contains(&f), "the ledger shows nmap's {f}");
    }
    assert!(
        ledger.iter().any(|e| e.device == "s7-1200-press"
            && matches!(&e.kind, EventKind::Closed { why } if why == "closed by device")),
        "s7-info's first TSAP was refused on the S7-1200"
    );
    running.shutdown().await;
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// nmap's omron-info (FINS/TCP after the node-address handshake, and FINS/UDP) and
/// fox-info against the FINS and Fox models of `plants/ffd.toml`, moved to this test's
/// own addresses (127.218.0.x) on the standard ports 9600 and 1911.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nmap_omron_info_and_fox_info_read_the_fins_and_fox_models() {
    if Command::new("nmap").arg("--version").output().is_err() {
        skip_or_fail("nmap is not installed");
        return;
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/plants/ffd.toml");
    let mut plant = otscout_sim::Plant::load(path).expect("ffd.toml loads");
    for d in &mut plant.devices {
        let o = d.address.octets();
        d.address = std::net::Ipv4Addr::new(127, 218, o[2], o[3]);
    }
    let running = match otscout_sim::start(
        plant,
        StartOptions {
            ports: PortOverride::AsConfigured,
            ledger_sink: None,
        },
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            skip_or_fail(&format!("cannot bind the standard ports: {e}"));
            return;
        }
    };
    let mut jobs: Vec<(&str, Vec<&str>)> = vec![
        (
            "omron tcp",
            vec![
                "-sT",
                "-p",
                "9600",
                "--script",
                "omron-info",
                "127.218.0.51",
            ],
        ),
        (
            "fox",
            vec!["-sT", "-p", "1911", "--script", "fox-info", "127.218.0.53"],
        ),
    ];
    if is_root() {
        jobs.push((
            "omron udp",
            vec![
                "-sU",
                "-p",
                "9600",
                "--script",
                "omron-info",
                "127.218.0.51",
                "127.218.0.52",
            ],
        ));
    } else {
        skip_or_fail("nmap -sU needs root; UDP omron-info not run");
    }
    for (what, args) in jobs {
        let out = tokio::task::spawn_blocking(move || nmap(&args))
            .await
            .expect("nmap task");
        let cp1l = [
            "Response Code: Normal completion (0x0000)",
            "Controller Model: CP1L-EL20DR-D",
            "Controller Version: 01.00",
            "Program Area Size: 10",
            "IOM size: 23",
            "No. DM Words: 10768",
            "Timer/Counter: 8",
            "Kind of Memory Card: No Memory Card",
        ];
        match what {
            "omron tcp" => expect_all(&out, what, &cp1l),
            // nmap reads the end code little-endian: 22 01 on the wire is its "0x2201"
            // through 290.
            "omron udp" => {
                expect_all(&out, what, &cp1l);
                expect_all(&out, what, &["The mode is wrong (executing) (0x2201)"]);
            }
            _ => expect_all(
                &out,
                what,
                &[
                    "fox.version: 1.0",
                    "hostAddress: 192.168.2.15",
                    "app.name: Station",
                    "app.version: 3.5.41.1",
                    "vm.name: J9",
                    "os.name: QNX",
                    "timeZone: Australia/Perth",
                    "hostId: Qnx-NPM6-0000-1490-C30C",
                    "brandId: vykon",
                ],
            ),
        }
    }
    let functions: Vec<String> = running
        .ledger()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Request { function, .. } => Some(function),
            _ => None,
        })
        .collect();
    for f in ["node_address", "controller_data_read", "fox fox hello"] {
        assert!(
            functions.iter().any(|x| x == f),
            "the ledger shows nmap's {f}: {functions:?}"
        );
    }
    running.shutdown().await;
}
