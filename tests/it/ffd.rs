//! Omron FINS, Niagara Fox and PROFINET DCP (issue 17, phase 1) over the real captures in
//! `OTSCOUT_CAPTURES` (captures/INDEX.md): the protocol folders' passive analyzers give
//! the documented identities and flag the DCP Set, and where tshark has a dissector (FINS,
//! DCP; there is none for Fox) its fields agree with ours. The passive engine's hook for
//! these analyzers is phase 2; these tests feed them the captures' frames directly.

use std::path::Path;
use std::process::Command;

use otscout::inventory::OperationKind;
use otscout::protocols::dcp::passive::{Analyzer as DcpAnalyzer, Event as DcpEvent};
use otscout::protocols::fins::passive::{Analyzer as FinsAnalyzer, Event as FinsEvent};
use otscout::protocols::fox::passive::{Analyzer as FoxAnalyzer, Dir};

use crate::support;

/// tshark's fields for one frame, or `None` (skip the comparison) without tshark, unless
/// OTSCOUT_REQUIRE_TOOLS=1.
fn tshark_fields(file: &Path, frame: usize, fields: &[&str]) -> Option<Vec<String>> {
    let mut c = Command::new("tshark");
    c.arg("-r").arg(file).args([
        "-n",
        "-Y",
        &format!("frame.number == {frame}"),
        "-T",
        "fields",
    ]);
    for f in fields {
        c.args(["-e", f]);
    }
    match c.output() {
        Ok(o) if o.status.success() => Some(
            String::from_utf8_lossy(&o.stdout)
                .trim_end_matches('\n')
                .split('\t')
                .map(str::to_string)
                .collect(),
        ),
        other => {
            assert!(
                std::env::var("OTSCOUT_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "OTSCOUT_REQUIRE_TOOLS=1 but tshark did not run: {other:?}"
            );
            eprintln!("skipped the tshark comparison: tshark did not run");
            None
        }
    }
}

#[test]
fn omron_capture_gives_the_cp1l_over_tcp_and_udp() {
    let Some(dir) = support::captures_dir("omron_capture_gives_the_cp1l_over_tcp_and_udp") else {
        return;
    };
    let frames = support::frames(&dir, "omron_test.pcap");
    let mut tcp = FinsAnalyzer::new();
    let mut udp = FinsAnalyzer::new();
    let mut ids = Vec::new();
    for f in frames.iter().filter(|f| !f.payload.is_empty()) {
        // Each FINS/TCP segment of this capture is one whole frame (frames 6-9).
        let ev = if f.udp {
            udp.on_datagram(&f.payload)
        } else {
            tcp.on_tcp_frame(&f.payload)
        };
        if let Some(FinsEvent::Identity(id)) = ev {
            ids.push((f.number, f.src, id));
        }
    }
    let numbers: Vec<usize> = ids.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(numbers, [9, 18], "identities from the two answers");
    for (_, src, id) in &ids {
        assert_eq!(src.to_string(), "10.1.1.164");
        assert_eq!(id.model, "CP1L-EL20DR-D");
        assert_eq!(id.versions, ["01.00", "01.06"]);
        assert_eq!(
            (
                id.program_area_size,
                id.iom_size,
                id.dm_words,
                id.timer_counter_size
            ),
            (Some(10), Some(23), Some(10768), Some(8))
        );
        assert_eq!(id.memory_card.as_deref(), Some("none"));
        assert_eq!(id.node, Some(0xc8));
    }
    for frame in [9, 18] {
        let Some(t) = tshark_fields(
            &dir.join("omron_test.pcap"),
            frame,
            &[
                "omron.controller.model",
                "omron.controller.version",
                "omron.area_data.dm_words",
                "omron.area_data.program_area_size",
            ],
        ) else {
            return;
        };
        assert_eq!(
            t,
            ["CP1L-EL20DR-D", "01.00", "10768", "10"],
            "frame {frame}"
        );
    }
}

#[test]
fn fox_capture_gives_the_jace_and_not_the_workbench() {
    let Some(dir) = support::captures_dir("fox_capture_gives_the_jace_and_not_the_workbench")
    else {
        return;
    };
    let mut a = FoxAnalyzer::new();
    let mut ids = Vec::new();
    for f in support::frames(&dir, "fox_info.pcap") {
        let dir = if f.dport == 1911 {
            Dir::Client
        } else {
            Dir::Server
        };
        for id in a.on_bytes(dir, &f.payload) {
            ids.push((f.number, f.src, id));
        }
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    let (number, src, id) = &ids[0];
    assert_eq!((*number, src.to_string()), (6, "106.68.88.119".to_string()));
    assert_eq!(id.station_name.as_deref(), Some("Legion_HQ_V4"));
    assert_eq!(id.app_name.as_deref(), Some("Station"));
    assert_eq!(id.app_version.as_deref(), Some("3.5.41.1"));
    assert_eq!(
        (id.vm_name.as_deref(), id.vm_version.as_deref()),
        (Some("J9"), Some("2.3"))
    );
    assert_eq!(
        (id.os_name.as_deref(), id.os_version.as_deref()),
        (Some("QNX"), Some("6.3.2"))
    );
    assert_eq!(id.host_name.as_deref(), Some("192.168.2.15"));
    assert_eq!(id.host_id.as_deref(), Some("Qnx-NPM6-0000-1490-C30C"));
    assert_eq!(id.brand_id.as_deref(), Some("vykon"));
    assert_eq!(
        id.time_zone.as_deref(),
        Some("Australia/Perth;28800000;0;null;null")
    );
    assert_eq!(id.fox_version.as_deref(), Some("1.0"));
}

/// Frame number, source MAC, destination MAC and the bytes after the EtherType.
type L2Frame = (usize, [u8; 6], [u8; 6], Vec<u8>);

/// Every Ethernet frame's source, destination and what follows the EtherType, for the
/// DCP EtherType only (the shared reader takes IPv4 only).
fn dcp_frames(file: &Path) -> Vec<L2Frame> {
    let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let cap = pcap_parser::PcapCapture::from_file(&data).expect("a legacy pcap");
    let mut out = Vec::new();
    for (i, b) in cap.blocks.iter().enumerate() {
        let d = b.data;
        if d.len() >= 14 && d[12..14] == [0x88, 0x92] {
            let dst: [u8; 6] = d[0..6].try_into().unwrap();
            let src: [u8; 6] = d[6..12].try_into().unwrap();
            out.push((i + 1, src, dst, d[14..].to_vec()));
        }
    }
    out
}

#[test]
fn dcp_capture_gives_the_x208_and_flags_the_set_ip() {
    let Some(dir) = support::captures_dir("dcp_capture_gives_the_x208_and_flags_the_set_ip") else {
        return;
    };
    let file = dir.join("ChangeIPUsingDCP.pcap");
    let mut a = DcpAnalyzer::new();
    let mut events = Vec::new();
    for (n, src, dst, payload) in dcp_frames(&file) {
        for e in a.on_frame(src, dst, &payload) {
            events.push((n, e));
        }
    }
    assert_eq!(events.len(), 3, "{events:#?}");
    let (2, DcpEvent::Identity(id)) = &events[0] else {
        panic!("{:?}", events[0])
    };
    assert_eq!(id.mac, "08:00:06:93:cf:32");
    assert_eq!(id.name_of_station.as_deref(), Some("X208-BORD"));
    assert_eq!(id.vendor_value.as_deref(), Some("INC"));
    assert_eq!((id.vendor_id, id.device_id), (Some(0x002a), Some(0x0a01)));
    assert_eq!(id.device_role, Some(1));
    assert_eq!(
        (
            id.ip.as_deref(),
            id.netmask.as_deref(),
            id.gateway.as_deref()
        ),
        (
            Some("192.168.0.6"),
            Some("255.255.255.0"),
            Some("192.168.0.1")
        )
    );
    let (
        3,
        DcpEvent::Set {
            actor,
            target,
            function,
            kind,
            detail,
        },
    ) = &events[1]
    else {
        panic!("{:?}", events[1])
    };
    assert_eq!(
        (actor.as_str(), target.as_str()),
        ("00:0c:29:ba:09:ea", "08:00:06:93:cf:32")
    );
    assert_eq!((*function, *kind), ("dcp.set_ip", OperationKind::Write));
    assert_eq!(
        detail,
        "ip 192.168.0.10 mask 255.255.255.0 gateway 192.168.0.1, permanent"
    );
    assert!(matches!(
        &events[2],
        (4, DcpEvent::SetResult { ok: true, .. })
    ));

    if let Some(t) = tshark_fields(
        &file,
        2,
        &[
            "pn_dcp.suboption_device_nameofstation",
            "pn_dcp.suboption_vendor_id",
            "pn_dcp.suboption_device_id",
            "pn_dcp.suboption_ip_ip",
            "pn_dcp.suboption_device_devicevendorvalue",
        ],
    ) {
        assert_eq!(t, ["X208-BORD", "0x002a", "0x0a01", "192.168.0.6", "INC"]);
    }
    if let Some(t) = tshark_fields(
        &file,
        3,
        &["pn_dcp.suboption_ip_ip", "pn_dcp.block_qualifier"],
    ) {
        assert_eq!(t, ["192.168.0.10", "1"]);
    }
}

// Golden messages for the registry-wide framing test (tests/it/framing.rs).

/// `omron_test.pcap` frame 6: FINS/TCP node-address request.
pub const FINS_NODE_REQ: &str = "46494e53 0000000c 00000000 00000000 00000000";
/// Frame 7: the node-address answer (client 251, server 200).
pub const FINS_NODE_ANS: &str = "46494e53 00000010 00000001 00000000 000000fb 000000c8";
/// Frame 8: Controller Data Read over FINS/TCP.
pub const FINS_CDR_REQ: &str =
    "46494e53 00000015 00000002 00000000 80 00 02 00 c8 00 00 00 ef 05 0501 00";
/// Frame 9: its answer (the CP1L).
pub const FINS_CDR_ANS: &str = "46494e53 00000072 00000002 00000000 c0 00 02 00 fb ef 00 c8 00 05 0501 0000 4350314c2d454c32304452 2d44 000000 20202020 30312e3030 0000000000 30312e3036 0000000000 00000000000000000000000000000000 00000001000000000000000000000000 0000000000010003 000a 17 2a10 08 00 0000 00 0000";
/// nmap's fox-info hello (what otscout sends), as text bytes.
pub const FOX_HELLO: &str = "666f7820612031202d3120666f782068656c6c6f0a7b0a666f782e76657273696f6e3d733a312e300a69643d693a310a7d3b3b0a";
/// `fox_info.pcap` frame 6: the station's hello with its sysInfo blob.
pub const FOX_STATION: &str = "666f7820612030202d3120666f782068656c6c6f0a7b0a666f782e76657273696f6e3d733a312e300a69643d693a320a686f73744e616d653d733a3139322e3136382e322e31350a686f7374416464726573733d733a3139322e3136382e322e31350a6170702e6e616d653d733a53746174696f6e0a6170702e76657273696f6e3d733a332e352e34312e310a766d2e6e616d653d733a4a390a766d2e76657273696f6e3d733a322e330a6f732e6e616d653d733a514e580a6f732e76657273696f6e3d733a362e332e320a73746174696f6e2e6e616d653d733a4c6567696f6e5f48515f56340a6c616e673d733a656e0a74696d655a6f6e653d733a4175737472616c69612f50657274683b32383830303030303b303b6e756c6c3b6e756c6c0a686f737449643d733a516e782d4e504d362d303030302d313439302d433330430a766d557569643d733a31316534643836342d636430652d363634612d303030302d3030303030303030623833620a6272616e6449643d733a76796b6f6e0a737973496e666f3d6f3a626f672036315b3c626f672076657273696f6e3d22312e30223e0a3c70206d3d22623d62616a612220743d22623a4661636574732220763d22222f3e0a3c2f626f673e0a5d0a7d3b3b0a";

// --- end to end: `otscout scan` of plants/ffd.toml's FINS and Fox devices ----------------

/// `otscout scan` with FINS and Fox alone enabled (lab pacing, no vendor rules), on the
/// simulator's ephemeral ports, against both targets.
fn otscout_scan(dir: &Path, targets: &[std::net::Ipv4Addr], sets: &[String]) -> serde_json::Value {
    let profile = dir.join("ffd.toml");
    std::fs::write(
        &profile,
        "extends = \"lab\"\nname = \"ffd-test\"\nvendor_rules = []\n",
    )
    .unwrap();
    let out = dir.join("scan.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_otscout"));
    cmd.arg("scan");
    for t in targets {
        cmd.arg(t.to_string());
    }
    cmd.arg("--profile")
        .arg(&profile)
        .arg("-o")
        .arg(&out)
        .args(["-q", "--operator", "ffd-test"]);
    for s in [
        "modbus.enabled=false",
        "enip.enabled=false",
        "s7.enabled=false",
        "fins.enabled=true",
        "fox.enabled=true",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(sets.iter().cloned())
    {
        cmd.args(["--set", &s]);
    }
    let o = cmd.output().expect("otscout runs");
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "otscout scan: {}: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

fn identity<'a>(result: &'a serde_json::Value, protocol: &str) -> Vec<&'a serde_json::Value> {
    result["observations"]
        .as_array()
        .expect("observations")
        .iter()
        .filter(|o| {
            o["fact"]["type"] == "identity" && o["fact"]["identity"]["protocol"] == protocol
        })
        .collect()
}

/// What reached one device of the simulator: its requests (each asserted to be in the
/// identity set).
fn asked(ledger: &[otscout_sim::LedgerEvent], device: &str) -> Vec<String> {
    ledger
        .iter()
        .filter(|e| e.device == device)
        .filter_map(|e| match &e.kind {
            otscout_sim::EventKind::Request {
                function, identity, ..
            } => {
                assert!(identity, "{device}: {function} outside the identity set");
                Some(function.clone())
            }
            _ => None,
        })
        .collect()
}

/// tshark's rows (fields of every frame `filter` keeps) of a recording, `decode_as` telling
/// it which ephemeral ports carry which protocol; `None` (skip the audit) without tshark,
/// unless OTSCOUT_REQUIRE_TOOLS=1.
fn tshark_rows(
    file: &Path,
    decode_as: &[String],
    filter: &str,
    fields: &[&str],
) -> Option<Vec<Vec<String>>> {
    let mut c = Command::new("tshark");
    c.arg("-r").arg(file).arg("-n");
    for d in decode_as {
        c.args(["-d", d]);
    }
    c.args(["-Y", filter, "-T", "fields"]);
    for f in fields {
        c.args(["-e", f]);
    }
    match c.output() {
        Ok(o) if o.status.success() => Some(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| l.split('\t').map(str::to_string).collect())
                .collect(),
        ),
        other => {
            assert!(
                std::env::var("OTSCOUT_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "OTSCOUT_REQUIRE_TOOLS=1 but tshark did not run: {other:?}"
            );
            eprintln!("skipped the tshark audit: tshark did not run");
            None
        }
    }
}

/// The scan audited with tshark over the simulator's recording of what it served: to the
/// FINS controller only Controller Data Read (05 01), after the FINS/TCP node-address
/// handshake over TCP; to the Fox station one TCP connection carrying only the minimal
/// hello (tshark has no Fox dissector: its payload is read as text); no reset and no
/// malformed frame anywhere.
fn tshark_audit(
    running: &otscout_sim::RunningPlant,
    fins_transport: &str,
    (fins_ip, fins_port): (std::net::Ipv4Addr, u16),
    (fox_ip, fox_port): (std::net::Ipv4Addr, u16),
) {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("served.pcapng");
    running
        .write_pcapng(std::fs::File::create(&pcap).unwrap())
        .unwrap();
    let decode = [
        format!("{fins_transport}.port=={fins_port},omron"),
        format!("tcp.port=={fox_port},data"),
    ];
    let Some(fins) = tshark_rows(
        &pcap,
        &decode,
        &format!("ip.dst == {fins_ip} && omron"),
        &["omron.tcp.command", "omron.command"],
    ) else {
        return;
    };
    let commands: Vec<&str> = fins
        .iter()
        .filter_map(|r| r.get(1).map(String::as_str))
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(commands, ["0x0501"], "{fins:?}");
    if fins_transport == "tcp" {
        // The node-address request (FINS/TCP command 0), then one FINS frame (command 2).
        let tcp_commands: Vec<&str> = fins.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(tcp_commands, ["0x00000000", "0x00000002"], "{fins:?}");
    }
    let fox = tshark_rows(
        &pcap,
        &decode,
        &format!("ip.dst == {fox_ip} && tcp.len > 0"),
        &["tcp.stream", "data.data"],
    )
    .unwrap();
    let streams: std::collections::BTreeSet<&str> = fox.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(streams.len(), 1, "one Fox connection: {fox:?}");
    let sent: Vec<u8> = fox
        .iter()
        .flat_map(|r| hex::decode(r[1].replace(':', "")).unwrap())
        .collect();
    let sent = String::from_utf8(sent).unwrap();
    assert!(sent.starts_with("fox a 1 -1 fox hello\n{\n"), "{sent:?}");
    for field in ["hostName", "hostAddress", "timeZone", "app.name", "vm.name"] {
        assert!(
            !sent.contains(field),
            "the minimal hello never sends {field}: {sent:?}"
        );
    }
    assert_eq!(sent.matches("fox a ").count(), 1, "one message: {sent:?}");
    let bad = tshark_rows(
        &pcap,
        &decode,
        "tcp.flags.reset == 1 || _ws.malformed",
        &["frame.number"],
    )
    .unwrap();
    assert!(bad.is_empty(), "resets or malformed frames: {bad:?}");
}

async fn scan_ffd_plant(fins_transport: &str, base: [u8; 3]) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/simulators/plants/ffd.toml");
    let mut plant = otscout_sim::Plant::load(path).expect("ffd.toml loads");
    // Only the CP1L and the JACE, on addresses of this test's own.
    plant
        .devices
        .retain(|d| d.name == "omron-cp1l" || d.name == "niagara-jace");
    let fins_ip = std::net::Ipv4Addr::new(127, base[0], base[1], base[2]);
    let fox_ip = std::net::Ipv4Addr::new(127, base[0], base[1], base[2] + 1);
    for d in &mut plant.devices {
        d.address = if d.name == "omron-cp1l" {
            fins_ip
        } else {
            fox_ip
        };
    }
    let running = otscout_sim::start(
        plant,
        otscout_sim::StartOptions {
            ports: otscout_sim::PortOverride::Ephemeral,
            ledger_sink: None,
        },
    )
    .await
    .unwrap();
    let cp1l = running.device("omron-cp1l").unwrap().clone();
    let fins_port = if fins_transport == "udp" {
        cp1l.fins_udp.unwrap().port()
    } else {
        cp1l.fins_tcp.unwrap().port()
    };
    let fox_port = running.device("niagara-jace").unwrap().fox.unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let sets = vec![
        format!("fins.port={fins_port}"),
        format!("fins.transport=\"{fins_transport}\""),
        format!("fox.port={fox_port}"),
    ];
    let result = tokio::task::spawn_blocking(move || otscout_scan(&d, &[fins_ip, fox_ip], &sets))
        .await
        .unwrap();

    let fins = identity(&result, "fins");
    assert_eq!(fins.len(), 1, "{result:#}");
    assert_eq!(fins[0]["ip"], fins_ip.to_string());
    let id = &fins[0]["fact"]["identity"];
    assert_eq!(id["model"], "CP1L-EL20DR-D");
    assert_eq!(id["versions"], serde_json::json!(["01.00", "01.06"]));
    assert_eq!(id["program_area_size"], 10);
    assert_eq!(id["iom_size"], 23);
    assert_eq!(id["dm_words"], 10768);
    assert_eq!(id["timer_counter_size"], 8);

    let fox = identity(&result, "fox");
    assert_eq!(fox.len(), 1, "{result:#}");
    assert_eq!(fox[0]["ip"], fox_ip.to_string());
    let id = &fox[0]["fact"]["identity"];
    assert_eq!(id["fox_version"], "1.0");
    assert_eq!(id["station_name"], "Legion_HQ_V4");
    assert_eq!(id["app_name"], "Station");
    assert_eq!(id["app_version"], "3.5.41.1");
    assert_eq!(id["vm_name"], "J9");
    assert_eq!(id["os_name"], "QNX");
    assert_eq!(id["os_version"], "6.3.2");
    assert_eq!(id["brand_id"], "vykon");
    assert_eq!(id["host_id"], "Qnx-NPM6-0000-1490-C30C");
    assert_eq!(id["time_zone"], "Australia/Perth;28800000;0;null;null");

    // Only the documented requests, one connection per device, closed with FIN.
    let ledger = running.ledger();
    let fins_asked = asked(&ledger, "omron-cp1l");
    if fins_transport == "udp" {
        assert_eq!(fins_asked, ["controller_data_read"]);
    } else {
        assert_eq!(fins_asked, ["node_address", "controller_data_read"]);
    }
    // The simulator names a Fox message by its header's channel and command.
    assert_eq!(asked(&ledger, "niagara-jace"), ["fox fox hello"]);
    for dev in ["omron-cp1l", "niagara-jace"] {
        assert!(
            otscout_sim::ledger::max_concurrent_connections(&ledger, dev) <= 1,
            "{dev}: one connection at a time"
        );
    }
    assert_eq!(
        otscout_sim::ledger::max_concurrent_connections(&ledger, "niagara-jace"),
        1
    );
    assert!(
        otscout_sim::ledger::client_resets(&ledger).is_empty(),
        "closed with FIN"
    );
    tshark_audit(
        &running,
        fins_transport,
        (fins_ip, fins_port),
        (fox_ip, fox_port),
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otscout_scan_identifies_the_fins_udp_and_fox_devices() {
    scan_ffd_plant("udp", [95, 0, 50]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otscout_scan_identifies_the_fins_tcp_and_fox_devices() {
    scan_ffd_plant("tcp", [95, 0, 60]).await;
}
