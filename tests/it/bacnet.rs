//! BACnet/IP over the shared captures: the passive analyzer's identities and operations
//! (exact values from `$OTSCOUT_CAPTURES/INDEX.md`), and the codec against tshark's BACnet
//! dissector on every BACnet datagram of both captures.
//!
//! Without `OTSCOUT_CAPTURES` these tests say they skipped; without tshark the oracle test
//! says it skipped, unless `OTSCOUT_REQUIRE_TOOLS=1` (CI).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;

use otscout::protocols::bacnet::identity::{BacnetIdentity, Route};
use otscout::protocols::bacnet::passive::{Analyzer, DeviceKey, Event, Meta, Station, fold};
use otscout::wire::bacnet::{Access, Apdu, Datagram};

use crate::support::{captures_dir, frames};

// Golden datagrams for the registry-wide framing test (tests/it/framing.rs).
/// `bacnet_test.pcap` frame 3: ReadProperty device,4194303 object-identifier.
pub const RP_REQUEST: &str = "810a0011 0104 0005010c 0c023fffff 194b";
/// `bacnet_test.pcap` frame 8: vendor-name `JCI` in UCS-2.
pub const RP_ACK_UCS2: &str = "810a001b 0100 30010c 0c023fffff 1979 3e 7507 04004a00430049 3f";
/// `bacnet_test.pcap` frames 21 and 22: Read-BDT and its NAK.
pub const READ_BDT: &str = "81020004";
pub const BVLC_NAK: &str = "810000060020";
/// `bacnet_services.pcap` frame 288: an I-Am relayed from network 3.
pub const ROUTED_I_AM: &str = "810b001c 0128ffff0000 03016c fe 1000 c40200006c 2201e0 9100 212a";
/// `bacnet_services.pcap` frame 281: the last segment of an RPM ack.
pub const RPM_ACK_SEGMENT: &str =
    "810a001e 0108 0003016c 3888 01 10 0e 0c00000854 1e 2955 5e 9101 911f 5f 1f";

/// Every BACnet event of a capture: B/IP datagrams (UDP 47808) and BACnet/Ethernet LLC
/// frames (802.3 length field, cut to it: short frames are padded).
fn analyze(dir: &Path, file: &str) -> (Vec<Event>, Analyzer) {
    let data = std::fs::read(dir.join(file)).unwrap();
    let cap = pcap_parser::PcapCapture::from_file(&data).unwrap();
    let udp: BTreeMap<usize, _> = frames(dir, file)
        .into_iter()
        .filter(|f| f.udp && (f.sport == 47808 || f.dport == 47808) && !f.payload.is_empty())
        .map(|f| (f.number, f))
        .collect();
    let mut a = Analyzer::new();
    let mut events = Vec::new();
    for (i, block) in cap.blocks.iter().enumerate() {
        let n = i + 1;
        if let Some(f) = udp.get(&n) {
            let meta = Meta {
                src: SocketAddr::new(IpAddr::V4(f.src), f.sport),
                dst: SocketAddr::new(IpAddr::V4(f.dst), f.dport),
                frame: n as u64,
            };
            events.extend(
                a.on_bip(&meta, &f.payload)
                    .unwrap_or_else(|e| panic!("{file} frame {n}: {e}")),
            );
            continue;
        }
        let d = block.data;
        if d.len() >= 14 {
            let len = usize::from(u16::from_be_bytes([d[12], d[13]]));
            if len < 0x0600 && d.len() >= 14 + len {
                let mut src = [0u8; 6];
                let mut dst = [0u8; 6];
                dst.copy_from_slice(&d[0..6]);
                src.copy_from_slice(&d[6..12]);
                events.extend(
                    a.on_llc(n as u64, src, dst, &d[14..14 + len])
                        .unwrap_or_else(|e| panic!("{file} frame {n}: {e}")),
                );
            }
        }
    }
    (events, a)
}

fn ip(s: &str) -> Station {
    Station::Ip(s.parse().unwrap())
}

#[test]
fn bacnet_test_pcap_gives_the_jci_nae_identity() {
    let Some(dir) = captures_dir("bacnet_test_pcap_gives_the_jci_nae_identity") else {
        return;
    };
    let (events, _) = analyze(&dir, "bacnet_test.pcap");
    let ids = fold(&events);
    assert_eq!(ids.len(), 1, "{ids:#?}");
    let (key, id) = ids.iter().next().unwrap();
    assert_eq!(
        *key,
        DeviceKey {
            station: ip("10.1.1.165"),
            route: None
        }
    );
    // Nine ReadProperty pairs asking device 4194303; the instance is the value, 500.
    assert_eq!(
        *id,
        BacnetIdentity {
            instance: Some(500),
            object_name: Some("KBRNAE".into()),
            vendor_name: Some("JCI".into()),
            vendor_id: Some(5),
            model_name: Some("MS-NAE4510-2".into()),
            firmware_revision: Some("5.1.0.4400".into()),
            application_software_version: Some(String::new()),
            description: Some(String::new()),
            location: Some(String::new()),
            ..Default::default()
        }
    );
    assert_eq!(id.vendor(), Some("Johnson Controls, Inc."));
    // Frame 25: Register-Foreign-Device (answered NAK) is recorded as what it is.
    let ops: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Operation { name, frame, .. } => Some((*frame, name.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(ops, vec![(25, "bacnet.register_foreign_device")]);
}

#[test]
fn bacnet_services_pcap_gives_routed_devices_writes_and_control() {
    let Some(dir) = captures_dir("bacnet_services_pcap_gives_routed_devices_writes_and_control")
    else {
        return;
    };
    let (events, analyzer) = analyze(&dir, "bacnet_services.pcap");
    // The segmented RPM ack (frames 279 and 281, invoke 136) reassembles cleanly.
    assert!(
        !events.iter().any(|e| matches!(e, Event::Incomplete { .. })),
        "{events:?}"
    );
    let ids = fold(&events);
    // Nothing is keyed on the broadcast echo source.
    assert!(
        ids.keys().all(|k| k.station != ip("192.168.0.255")),
        "{:?}",
        ids.keys()
    );
    assert!(analyzer.echoes > 0);
    // Device 29 behind the router: the ReadProperty walk (frames 623-664).
    let d29 = &ids[&DeviceKey {
        station: ip("192.168.0.24"),
        route: Some(Route {
            network: 3,
            mac: "1d".into(),
        }),
    }];
    assert_eq!(d29.instance, Some(29));
    assert_eq!(d29.object_name.as_deref(), Some("112E1"));
    assert_eq!(d29.vendor_name.as_deref(), Some("Lithonia Lighting, Inc."));
    assert_eq!(d29.vendor_id, Some(42));
    assert_eq!(d29.model_name.as_deref(), Some("SYSC MLX"));
    assert_eq!(d29.firmware_revision.as_deref(), Some("2.62"));
    assert_eq!(
        d29.application_software_version.as_deref(),
        Some("16-Dec-2004")
    );
    assert_eq!(d29.max_apdu, Some(480));
    assert_eq!(d29.segmentation, Some(0));
    // Device 111 at 192.168.0.16 (frame 290), unrouted.
    let d111 = &ids[&DeviceKey {
        station: ip("192.168.0.16"),
        route: None,
    }];
    assert_eq!((d111.instance, d111.vendor_id), (Some(111), Some(42)));
    // The router relays I-Ams of network 3 whose SADR equals the instance.
    let mut routed: Vec<u32> = ids
        .iter()
        .filter(|(k, _)| k.station == ip("192.168.0.24"))
        .filter_map(|(k, v)| {
            let r = k.route.as_ref()?;
            assert_eq!(r.network, 3);
            assert_eq!(
                u32::from_str_radix(&r.mac, 16).ok(),
                v.instance,
                "sadr {} instance {:?}",
                r.mac,
                v.instance
            );
            v.instance
        })
        .collect();
    routed.sort_unstable();
    let mut want: Vec<u32> = (2..=18).chain(20..=29).chain([108, 133, 142]).collect();
    want.sort_unstable();
    assert_eq!(routed, want);
    // The router's own I-Am (frame 299) is a client, not device 4194303.
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Client {
            frame: 299,
            vendor_id: 24,
            ..
        }
    )));
    assert!(ids.values().all(|v| v.instance != Some(4_194_303)));
    // The same I-Am on BACnet/Ethernet (frame 286): the router's MAC, network 3, SADR 0x6c.
    let llc = &ids[&DeviceKey {
        station: Station::Mac([0x00, 0xe0, 0xc9, 0x00, 0x10, 0xa5]),
        route: Some(Route {
            network: 3,
            mac: "6c".into(),
        }),
    }];
    assert_eq!(llc.instance, Some(108));
    // Writes and control, by name, on the routed devices.
    let mut ops: BTreeMap<&str, (usize, Access)> = BTreeMap::new();
    for e in &events {
        if let Event::Operation { name, access, .. } = e {
            ops.entry(name).or_insert((0, *access)).0 += 1;
        }
    }
    assert_eq!(ops["bacnet.write_property"], (9, Access::Write));
    assert_eq!(
        ops["bacnet.device_communication_control"],
        (4, Access::Control)
    );
    assert_eq!(ops["bacnet.reinitialize_device"], (4, Access::Control));
    assert_eq!(ops["bacnet.atomic_write_file"].1, Access::Write);
    // Error answers are findings: frame 266 says services/password-failure to DCC.
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Negative { frame: 266, request, answer, .. }
            if request == "bacnet.device_communication_control" && answer.contains("(5/26)")
    )));
}

/// One row of tshark's fields for a BACnet frame.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    bvlc_function: Option<u8>,
    pdu_type: Option<u8>,
    invoke_id: Option<u8>,
    service: Option<u8>,
    snet: Option<u16>,
    dnet: Option<u16>,
}

fn have_tshark(test: &str) -> bool {
    let ok = Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("OTSCOUT_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{test}: OTSCOUT_REQUIRE_TOOLS=1 but tshark does not run"
        );
        eprintln!("skipped {test}: tshark is not installed");
    }
    ok
}

fn num<T: TryFrom<u64>>(s: &str) -> Option<T> {
    let s = s.split(',').next()?.trim();
    let v = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => s.parse().ok()?,
    };
    T::try_from(v).ok()
}

#[test]
fn codec_agrees_with_tshark_on_every_bacnet_ip_datagram() {
    let test = "codec_agrees_with_tshark_on_every_bacnet_ip_datagram";
    let Some(dir) = captures_dir(test) else {
        return;
    };
    if !have_tshark(test) {
        return;
    }
    for file in ["bacnet_test.pcap", "bacnet_services.pcap"] {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(dir.join(file))
            .args(["-Y", "bvlc", "-T", "fields"])
            .args([
                "-e",
                "frame.number",
                "-e",
                "bvlc.function",
                "-e",
                "bacapp.type",
            ])
            .args(["-e", "bacapp.invoke_id", "-e", "bacapp.confirmed_service"])
            .args(["-e", "bacapp.unconfirmed_service", "-e", "bacnet.snet"])
            .args(["-e", "bacnet.dnet"])
            .output()
            .unwrap();
        assert!(out.status.success(), "tshark on {file} failed");
        let text = String::from_utf8(out.stdout).unwrap();
        let ours: BTreeMap<usize, Vec<u8>> = frames(&dir, file)
            .into_iter()
            .filter(|f| f.udp && !f.payload.is_empty())
            .map(|f| (f.number, f.payload))
            .collect();
        let mut checked = 0;
        for line in text.lines() {
            let c: Vec<&str> = line.split('\t').collect();
            let n: usize = c[0].parse().unwrap();
            let want = Row {
                bvlc_function: num(c[1]),
                pdu_type: num(c[2]),
                invoke_id: num(c[3]),
                service: num(c[4]).or(num(c[5])),
                snet: num(c[6]),
                dnet: num(c[7]),
            };
            let d = Datagram::decode(&ours[&n]).unwrap_or_else(|e| panic!("{file} {n}: {e}"));
            let npdu = d.npdu.as_ref();
            let (pdu_type, service) = match &d.apdu {
                Some(Apdu::ConfirmedRequest(r)) => (Some(0), Some(r.service.0)),
                Some(Apdu::Unconfirmed { service, .. }) => (Some(1), Some(service.0)),
                Some(Apdu::SimpleAck { service, .. }) => (Some(2), Some(service.0)),
                Some(Apdu::ComplexAck { service, .. }) => (Some(3), Some(service.0)),
                Some(Apdu::SegmentAck { .. }) => (Some(4), None),
                Some(Apdu::Error { service, .. }) => (Some(5), Some(service.0)),
                Some(Apdu::Reject { .. }) => (Some(6), None),
                Some(Apdu::Abort { .. }) => (Some(7), None),
                None => (None, None),
            };
            let got = Row {
                bvlc_function: Some(d.bvll.function.code()),
                pdu_type,
                invoke_id: d.apdu.as_ref().and_then(Apdu::invoke_id),
                // tshark names no service for Error PDUs in its service fields.
                service: if pdu_type == Some(5) {
                    want.service
                } else {
                    service
                },
                snet: npdu.and_then(|n| n.source.as_ref()).map(|s| s.network),
                dnet: npdu.and_then(|n| match (&n.network_message, &n.destination) {
                    // Who-Is-Router-To-Network (0x00) and I-Am-Router-To-Network (0x01) list
                    // networks in their data; tshark shows them as bacnet.dnet (frame 274).
                    (Some(m), None) if m.message_type <= 1 => {
                        m.data.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]))
                    }
                    (_, d) => d.as_ref().map(|s| s.network),
                }),
            };
            assert_eq!(got, want, "{file} frame {n}");
            checked += 1;
        }
        assert!(checked > 20, "{file}: only {checked} datagrams compared");
    }
}

mod properties {
    //! The guard, the session and the passive analyzer over arbitrary bytes (and over
    //! valid B/IP headers with arbitrary APDUs): no panic, the guard accepts only exact
    //! encodings, the session never sends more than 12 requests.

    use std::time::Instant;

    use otscout::protocols::bacnet::passive::{Analyzer, Meta};
    use otscout::protocols::bacnet::safe::{check, emit};
    use otscout::protocols::bacnet::session::{BacnetSession, SessionConfig, Step};
    use proptest::prelude::*;

    /// Arbitrary bytes, or an arbitrary APDU behind a valid BVLC + unrouted NPDU header.
    fn datagram() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..120),
            (any::<bool>(), prop::collection::vec(any::<u8>(), 0..120)).prop_map(
                |(reply, apdu)| {
                    let mut v = vec![0x81, 0x0a, 0, 0, 0x01, if reply { 0x00 } else { 0x04 }];
                    v.extend(apdu);
                    let n = v.len() as u16;
                    v[2..4].copy_from_slice(&n.to_be_bytes());
                    v
                }
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn the_guard_accepts_only_exact_encodings(bytes in datagram()) {
            if let Ok(r) = check(&bytes) {
                prop_assert_eq!(emit(&r).unwrap(), bytes);
            }
        }

        #[test]
        fn the_session_survives_any_replies(replies in prop::collection::vec(datagram(), 0..16)) {
            let t0 = Instant::now();
            let mut s = BacnetSession::new(SessionConfig::default());
            let mut step = s.on_connected(t0);
            let mut sends = 0;
            for r in &replies {
                if let Step::Send(q) = step {
                    sends += 1;
                    prop_assert!(sends <= 12);
                    prop_assert!(emit(&q).is_ok());
                }
                if step == Step::Done {
                    break;
                }
                step = s.on_datagram(t0, r);
            }
            let _ = s.on_timeout(t0 + std::time::Duration::from_secs(60));
            let _ = s.take_findings();
        }

        #[test]
        fn the_analyzer_survives_any_datagrams(
            ds in prop::collection::vec((datagram(), any::<bool>()), 0..16),
        ) {
            let mut a = Analyzer::new();
            let (x, y) = ("10.0.0.1:47808".parse().unwrap(), "10.0.0.2:47808".parse().unwrap());
            for (i, (d, dir)) in ds.iter().enumerate() {
                let meta = Meta { src: if *dir { x } else { y }, dst: if *dir { y } else { x }, frame: i as u64 };
                let _ = a.on_bip(&meta, d);
                let _ = a.on_llc(i as u64, [2; 6], [0xff; 6], d);
            }
        }
    }
}

/// `otscout passive` over both captures: the identities (a routed device as what is behind
/// the router) and the writes and control as operations, through the engine.
#[test]
fn otscout_passive_gives_the_bacnet_identities_and_operations() {
    let Some(dir) = captures_dir("otscout_passive_gives_the_bacnet_identities_and_operations")
    else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let run = |file: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_otscout"))
            .arg("passive")
            .arg(dir.join(file))
            .arg("-o")
            .arg(out.path().join(format!("{file}.json")))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
    };
    let t = run("bacnet_test.pcap");
    assert!(
        t.contains(
            "10.1.1.165      device_instance 500, object_name KBRNAE, vendor_id 5, vendor Johnson Controls, Inc., vendor_name JCI, model_name MS-NAE4510-2, firmware_revision 5.1.0.4400"
        ),
        "{t}"
    );
    let s = run("bacnet_services.pcap");
    for want in [
        "device_instance 29, object_name 112E1, vendor_id 42",
        "model_name SYSC MLX, firmware_revision 2.62, application_software_version 16-Dec-2004",
        "bacnet_network 3, bacnet_mac 1d (behind it, at bacnet:3/1d)",
        "192.168.0.16    device_instance 111, vendor_id 42",
        "192.168.0.50 -> 192.168.0.24: bacnet.write_property (write) x9",
        "192.168.0.50 -> 192.168.0.24: bacnet.device_communication_control (control) x4",
        "192.168.0.50 -> 192.168.0.24: bacnet.reinitialize_device (control) x4",
        "bacnet.atomic_write_file (write)",
    ] {
        assert!(s.contains(want), "no `{want}` in\n{s}");
    }
    assert!(
        !s.contains("192.168.0.255 "),
        "a broadcast echo became an asset:\n{s}"
    );
    assert!(!s.contains("device_instance 4194303"), "{s}");

    // The report: device 29 behind the router (SNET 3, SADR 0x1d) is the router's
    // sub-asset at bacnet:3/1d with its own identity, not an attribute of the router.
    let obs = out.path().join("bacnet_services.pcap.json");
    let merged = out.path().join("merged.json");
    let o = Command::new(env!("CARGO_BIN_EXE_otscout"))
        .arg("merge")
        .arg(&obs)
        .arg("-o")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&merged).unwrap()).unwrap();
    let router = report["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["ip"] == "192.168.0.24")
        .expect("the router's asset");
    let attrs = router["attributes"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(attrs.keys().all(|k| !k.starts_with("behind.")), "{attrs:?}");
    let subs = router["sub_assets"].as_array().expect("sub-assets");
    let paths: Vec<&str> = subs.iter().map(|s| s["path"].as_str().unwrap()).collect();
    // Sorted by network, then the MAC as a number.
    let at = |p: &str| paths.iter().position(|x| *x == p).unwrap();
    assert!(at("bacnet:3/09") < at("bacnet:3/0a") && at("bacnet:3/0a") < at("bacnet:3/10"));
    let d29 = &subs[at("bacnet:3/1d")];
    assert_eq!(d29["manufacturer"]["value"], "Lithonia Lighting, Inc.");
    assert_eq!(d29["model"]["value"], "SYSC MLX");
    assert_eq!(d29["firmware"]["value"], "2.62");
    assert_eq!(d29["attributes"]["bacnet.device_instance"]["value"], "29");
    assert_eq!(d29["attributes"]["bacnet.object_name"]["value"], "112E1");
}
