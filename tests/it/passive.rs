//! Passive import end to end: the real captures of ../shared/captures (expected values from
//! its INDEX.md, decoded there with tshark), hand-written Zeek/ICSNPP and CSV fixtures, and
//! damaged inputs.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use otscout::inventory::{
    EnipIdentity, EnipIdentitySource, Fact, Identity, MacBasis, ModbusIdentity, Observation,
    OperationKind, Protocol, Provenance, Role, S7Identity, Transport,
};
use otscout::passive::{self, ImportOptions, ImportReport, InputKind};

use crate::support::captures_dir;

fn import(dir: &Path, file: &str) -> ImportReport {
    passive::import_path(&dir.join(file), &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn import_bytes(name: &str, bytes: &[u8]) -> ImportReport {
    passive::import_bytes(name, bytes, &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn identities(r: &ImportReport) -> Vec<(&Observation, &Identity)> {
    r.observations
        .iter()
        .filter_map(|o| match &o.fact {
            Fact::Identity { identity } => Some((o, identity)),
            _ => None,
        })
        .collect()
}

fn only_identity(r: &ImportReport) -> (&Observation, &Identity) {
    let ids = identities(r);
    assert_eq!(ids.len(), 1, "{}: identities {ids:#?}", r.file);
    ids[0]
}

fn frame_of(o: &Observation) -> u64 {
    match &o.provenance {
        Provenance::Pcap { frame, .. } => *frame,
        p => panic!("not a pcap provenance: {p:?}"),
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

// ---------------------------------------------------------------------------------------
// Identities from INDEX.md, exact values.

#[test]
fn s7_fragmented_szl_is_stitched_with_exact_values() {
    let Some(dir) = captures_dir("s7_fragmented_szl_is_stitched_with_exact_values") else {
        return;
    };
    let r = import(&dir, "s7comm_reading_plc_status.pcap");
    let (o, id) = only_identity(&r);
    assert_eq!(o.ip, ip("192.168.1.40"));
    // The first identity piece is the single-record SZL 0x0111 index 1 reply (frame 39);
    // the full 0x0011 reply (frame 59) and the 0x001C answer stitched from frames 69 and
    // 72 are folded into it.
    assert_eq!(frame_of(o), 39);
    let Identity::S7(s) = id else {
        panic!("{id:?}")
    };
    let expected = S7Identity {
        // 20 characters on the wire with a trailing space; wire::s7 trims the padding.
        order_number: Some("6ES7 151-8AB01-0AB0".into()),
        hardware_order_number: Some("6ES7 151-8AB01-0AB0".into()),
        firmware: Some("V3.2.6".into()),
        boot_loader: s.boot_loader.clone(),
        as_name: Some("IM151-8-CPU".into()),
        module_name: Some("IM151-8 PN/DP CPU".into()),
        plant_tag: None,
        copyright: Some("Original Siemens Equipment".into()),
        serial: Some("S C-C6TW74882012".into()),
        module_type: Some("IM151-8 PN/DP CPU".into()),
        memory_card_serial: Some("MMC 2900FC1A".into()),
        manufacturer_id: Some(0x002a),
        profile_id: Some(0xf600),
        profile_type: Some(0x0001),
        oem_id: None,
        location: None,
        tsap: Some(0x0102),
    };
    assert_eq!(**s, expected);
    // The boot loader is reported apart from the firmware, never as it.
    assert!(s.boot_loader.as_deref().is_some_and(|b| b != "V3.2.6"));
    // The stitched 0x001C answer's raw bytes (frame 72) are kept with the 0x0011 reply's.
    assert!(o.raw_hex.as_deref().unwrap().contains(' '));
    // MAC from ARP ("192.168.1.40 is at 00:1b:1b:23:eb:3b", frame 4).
    assert!(r.observations.iter().any(|o| o.ip == ip("192.168.1.40")
        && o.fact
            == Fact::Mac {
                mac: "00:1b:1b:23:eb:3b".into(),
                basis: MacBasis::Arp
            }));
    assert!(r.observations.iter().any(|o| o.ip == ip("192.168.1.40")
        && o.fact
            == Fact::Service {
                transport: Transport::Tcp,
                port: 102,
                protocol: Protocol::S7
            }));
    assert!(r.stopped.is_none());
}

#[test]
fn s7_snap7_identity() {
    let Some(dir) = captures_dir("s7_snap7_identity") else {
        return;
    };
    let r = import(&dir, "s7ident.pcap");
    let (o, id) = only_identity(&r);
    assert_eq!(o.ip, ip("172.17.0.2"));
    let Identity::S7(s) = id else {
        panic!("{id:?}")
    };
    assert_eq!(s.order_number.as_deref(), Some("6ES7 315-2EH14-0AB0"));
    assert_eq!(s.firmware.as_deref(), Some("V3.2.6"));
    assert_eq!(s.as_name.as_deref(), Some("SNAP7-SERVER"));
    assert_eq!(s.module_name.as_deref(), Some("CPU 315-2 PN/DP"));
    assert_eq!(s.serial.as_deref(), Some("S C-C2UR28922012"));
    assert_eq!(s.module_type.as_deref(), Some("CPU 315-2 PN/DP"));
    assert_eq!(s.memory_card_serial.as_deref(), Some("MMC 267FF11F"));
    assert_eq!(s.tsap, Some(0x0101));
    // Loopback MACs are all zero: no MAC fact is invented.
    assert!(
        !r.observations
            .iter()
            .any(|o| matches!(o.fact, Fact::Mac { .. }))
    );
}

#[test]
fn enip_list_identity_over_tcp_keyed_on_packet_source() {
    let Some(dir) = captures_dir("enip_list_identity_over_tcp_keyed_on_packet_source") else {
        return;
    };
    let r = import(&dir, "enip_test.pcap");
    let (o, id) = only_identity(&r);
    assert_eq!(o.ip, ip("10.1.1.164"));
    assert_eq!(frame_of(o), 7);
    let expected = EnipIdentity {
        source: EnipIdentitySource::ListIdentity,
        vendor_id: 1,
        device_type: 12,
        product_code: 58,
        revision_major: 4,
        revision_minor: 3,
        status: 0x0030,
        serial: 0x00524d8e,
        product_name: "1756-ENBT/A".into(),
        state: Some(3),
        encapsulation_version: Some(1),
        socket_addr: Some("10.1.1.164:44818".parse().unwrap()),
    };
    assert_eq!(id, &Identity::Enip(expected));
    // The device is behind a router (TTL 52): its Ethernet source is the router's MAC,
    // and the observation says so.
    let mac = r
        .observations
        .iter()
        .find_map(|o| match &o.fact {
            Fact::Mac { mac, basis } if o.ip == ip("10.1.1.164") => Some((mac.clone(), *basis)),
            _ => None,
        })
        .expect("a MAC observation for the device");
    assert_eq!(mac, ("00:19:07:24:3c:ca".into(), MacBasis::EthernetRouted));
    // The asker is on the capture's link (TTL 128).
    assert!(r.observations.iter().any(|o| o.ip == ip("10.1.1.167")
        && matches!(
            o.fact,
            Fact::Mac {
                basis: MacBasis::EthernetLocal,
                ..
            }
        )));
}

#[test]
fn cip_get_attributes_all_from_a_capture_that_starts_mid_stream() {
    let Some(dir) = captures_dir("cip_get_attributes_all_from_a_capture_that_starts_mid_stream")
    else {
        return;
    };
    let r = import(&dir, "EIP-FirmwareChange_slice.pcap");
    let (o, id) = only_identity(&r);
    assert_eq!(o.ip, ip("192.168.10.120"));
    assert_eq!(frame_of(o), 17);
    let expected = EnipIdentity {
        source: EnipIdentitySource::CipGetAttributesAll,
        vendor_id: 1,
        device_type: 12,
        product_code: 58,
        revision_major: 4,
        revision_minor: 3,
        status: 0x0030,
        serial: 0x0051aec3,
        product_name: "1756-ENBT/A".into(),
        state: None,
        encapsulation_version: None,
        socket_addr: None,
    };
    assert_eq!(id, &Identity::Enip(expected));
    // RSLinx asked; the adapter answered.
    assert!(r.observations.iter().any(|o| o.ip == ip("192.168.10.105")
        && matches!(
            o.fact,
            Fact::Peer {
                role: Role::Client,
                protocol: Protocol::Cip,
                ..
            }
        )));
}

#[test]
fn enip_list_identity_over_udp() {
    let Some(dir) = captures_dir("enip_list_identity_over_udp") else {
        return;
    };
    let r = import(&dir, "cpppo-client-list-identity-udp.pcap");
    let (o, id) = only_identity(&r);
    assert_eq!(o.ip, ip("127.0.0.3"));
    let Identity::Enip(e) = id else {
        panic!("{id:?}")
    };
    assert_eq!(
        (e.vendor_id, e.device_type, e.product_code),
        (1337, 14, 4242)
    );
    assert_eq!((e.revision_major, e.revision_minor), (7, 42));
    assert_eq!((e.status, e.serial), (0x0030, 0xC0FFEE01));
    assert_eq!(e.product_name, "PeerLab ENIP 1756-L85E");
    assert_eq!(e.state, Some(3));
    assert!(r.observations.iter().any(|o| o.ip == ip("127.0.0.3")
        && o.fact
            == Fact::Service {
                transport: Transport::Udp,
                port: 44818,
                protocol: Protocol::Enip
            }));
}

fn modbus_identity(r: &ImportReport, device: &str) -> ModbusIdentity {
    let (o, id) = only_identity(r);
    assert_eq!(o.ip, ip(device));
    match id {
        Identity::Modbus(m) => m.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn modbus_device_identification_paired_with_its_request() {
    let Some(dir) = captures_dir("modbus_device_identification_paired_with_its_request") else {
        return;
    };
    let r = import(&dir, "modbus_example.pcap");
    let m = modbus_identity(&r, "127.0.0.1");
    let (o, _) = only_identity(&r);
    assert_eq!(frame_of(o), 94);
    assert_eq!(m.unit_id, 1);
    assert_eq!(m.conformity_level, Some(0x83));
    let expected: BTreeMap<u8, String> = [
        (0, "Zeek Modbus Test"),
        (1, "Protocol Parsing is fun!"),
        (2, "1.2.3.6"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    assert_eq!(m.objects, expected);
}

#[test]
fn modbus_pymodbus_all_read_codes_folded() {
    let Some(dir) = captures_dir("modbus_pymodbus_all_read_codes_folded") else {
        return;
    };
    let r = import(&dir, "pymodbus-client-vs-pymodbus.pcap");
    let m = modbus_identity(&r, "127.0.0.2");
    assert_eq!(m.conformity_level, Some(0x83));
    let o = |k: u8| m.objects.get(&k).map(String::as_str);
    assert_eq!(o(0), Some("PeerLab Automation GmbH"));
    assert_eq!(o(1), Some("PLB-MB-0502"));
    assert_eq!(o(2), Some("v3.16.1-lab"));
    assert_eq!(o(3), Some("http://peerlab.invalid/modbus"));
    assert_eq!(o(4), Some("PeerLab Modbus Test Server"));
    assert_eq!(o(5), Some("PLB-MB-TCP-1"));
    assert_eq!(o(6), Some("peer-lab pymodbus"));
    for private in 0x80..=0x82u8 {
        assert_eq!(
            m.objects.get(&private).map(String::len),
            Some(100),
            "object {private:#x}"
        );
    }
}

#[test]
fn modbus_long_id_revision_from_the_more_follows_reply() {
    let Some(dir) = captures_dir("modbus_long_id_revision_from_the_more_follows_reply") else {
        return;
    };
    let r = import(&dir, "pymodbus-client-vs-pymodbus-longid.pcap");
    let m = modbus_identity(&r, "127.0.0.8");
    assert_eq!(
        m.objects.get(&0).map(String::as_str),
        Some("PeerLab Long Vendor Name ".repeat(5).as_str())
    );
    assert_eq!(
        m.objects.get(&1).map(String::as_str),
        Some("PLB-LONG-PRODUCT-CODE-".repeat(5).as_str())
    );
    assert_eq!(m.objects.get(&2).map(String::as_str), Some("v9.9.9-long"));
}

// ---------------------------------------------------------------------------------------
// Writes and control are operations, never identity.

fn operations(r: &ImportReport) -> Vec<(IpAddr, IpAddr, String, OperationKind, u64)> {
    r.observations
        .iter()
        .filter_map(|o| match &o.fact {
            Fact::Operation {
                actor,
                kind,
                function,
                count,
                first,
                last,
                ..
            } => {
                assert!(first.is_some() && last.is_some() && first <= last);
                Some((*actor, o.ip, function.clone(), *kind, *count))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn s7_write_var_capture_yields_operations_and_no_identity() {
    let Some(dir) = captures_dir("s7_write_var_capture_yields_operations_and_no_identity") else {
        return;
    };
    let r = import(&dir, "s7comm_varservice_libnodavedemo.pcap");
    assert!(identities(&r).is_empty(), "{:#?}", identities(&r));
    assert_eq!(
        operations(&r),
        vec![(
            ip("192.168.1.10"),
            ip("192.168.1.40"),
            "s7.write_var".to_string(),
            OperationKind::Write,
            4
        )]
    );
}

#[test]
fn modbus_writes_aggregated_per_actor_target_function() {
    let Some(dir) = captures_dir("modbus_writes_aggregated_per_actor_target_function") else {
        return;
    };
    let r = import(&dir, "modbus_test_data_part1.pcap");
    // FC 43/14 requests went unanswered and FC 17 is not identification: no identity.
    assert!(identities(&r).is_empty(), "{:#?}", identities(&r));
    let ops = operations(&r);
    let plc = ip("10.0.0.3");
    assert!(ops.contains(&(
        ip("10.0.0.9"),
        plc,
        "modbus.write_single_coil".into(),
        OperationKind::Write,
        2
    )));
    assert!(ops.contains(&(
        ip("10.0.0.9"),
        plc,
        "modbus.write_single_register".into(),
        OperationKind::Write,
        1
    )));
    // Diagnostics (listen-only, restart, clear counters) change how the device runs.
    assert!(ops.iter().any(|o| o.0 == ip("10.0.0.57")
        && o.2 == "modbus.diagnostics"
        && o.3 == OperationKind::Control));
    // 10.0.0.8 opened a connection *from* port 502: it is still the Modbus server.
    assert!(r.observations.iter().any(|o| o.ip == ip("10.0.0.8")
        && matches!(
            o.fact,
            Fact::Peer {
                role: Role::Server,
                protocol: Protocol::Modbus,
                ..
            }
        )));
}

#[test]
fn modbus_example_writes_of_every_kind() {
    let Some(dir) = captures_dir("modbus_example_writes_of_every_kind") else {
        return;
    };
    let r = import(&dir, "modbus_example.pcap");
    let names: Vec<String> = operations(&r).into_iter().map(|o| o.2).collect();
    for f in [
        "modbus.write_single_coil",
        "modbus.write_single_register",
        "modbus.write_multiple_coils",
        "modbus.write_multiple_registers",
        "modbus.mask_write_register",
        "modbus.read_write_multiple_registers",
    ] {
        assert!(names.iter().any(|n| n == f), "{f} missing from {names:?}");
    }
}

#[test]
fn polling_only_captures_yield_peers_not_operations() {
    let Some(dir) = captures_dir("polling_only_captures_yield_peers_not_operations") else {
        return;
    };
    let r = import(&dir, "nDPI_modbus.pcap");
    assert!(identities(&r).is_empty());
    assert!(operations(&r).is_empty());
    let peer = r
        .observations
        .iter()
        .find_map(|o| match &o.fact {
            Fact::Peer {
                peer,
                role: Role::Client,
                count,
                ..
            } if o.ip == ip("192.168.110.131") => Some((*peer, *count)),
            _ => None,
        })
        .expect("the poller's peer fact");
    assert_eq!(peer, (ip("192.168.110.138"), 51));
    let r = import(&dir, "nDPI_cip_io.pcap");
    assert!(r.observations.iter().any(|o| matches!(
        o.fact,
        Fact::Peer {
            protocol: Protocol::CipIo,
            ..
        }
    )));
}

// ---------------------------------------------------------------------------------------
// The same traffic in other containers and link types, and through reordering.

/// The raw records of a legacy pcap: (ts_sec, ts_usec, data).
fn records(path: &Path) -> Vec<(u32, u32, Vec<u8>)> {
    let data = std::fs::read(path).unwrap();
    let cap = pcap_parser::PcapCapture::from_file(&data).unwrap();
    cap.blocks
        .iter()
        .map(|b| (b.ts_sec, b.ts_usec, b.data.to_vec()))
        .collect()
}

fn write_pcap(linktype: u32, recs: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&linktype.to_le_bytes());
    for (s, us, d) in recs {
        out.extend_from_slice(&s.to_le_bytes());
        out.extend_from_slice(&us.to_le_bytes());
        out.extend_from_slice(&(d.len() as u32).to_le_bytes());
        out.extend_from_slice(&(d.len() as u32).to_le_bytes());
        out.extend_from_slice(d);
    }
    out
}

fn write_pcapng(linktype: u16, recs: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
        let pad = (4 - body.len() % 4) % 4;
        let len = (12 + body.len() + pad) as u32;
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(body);
        out.extend(std::iter::repeat_n(0u8, pad));
        out.extend_from_slice(&len.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0a0d0d0a, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&linktype.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&0u32.to_le_bytes());
    block(&mut out, 1, &idb);
    for (s, us, d) in recs {
        let ts = u64::from(*s) * 1_000_000 + u64::from(*us);
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&(d.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(d.len() as u32).to_le_bytes());
        epb.extend_from_slice(d);
        let pad = (4 - d.len() % 4) % 4;
        epb.extend(std::iter::repeat_n(0u8, pad));
        block(&mut out, 6, &epb);
    }
    out
}

#[test]
fn pcapng_simple_packet_without_an_interface_stops_and_says_where() {
    // A section header (28 bytes) then a Simple Packet Block and no Interface Description:
    // the packet cannot be decoded, and the import must say so rather than drop it.
    let mut data = write_pcapng(1, &[]);
    data.truncate(28);
    let frame = [0u8; 60];
    let len = (16 + frame.len()) as u32;
    data.extend_from_slice(&3u32.to_le_bytes());
    data.extend_from_slice(&len.to_le_bytes());
    data.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    data.extend_from_slice(&frame);
    data.extend_from_slice(&len.to_le_bytes());
    let r = passive::import_bytes("spb.pcapng", &data, &ImportOptions::default()).expect("import");
    let s = r.stopped.clone().expect("a stop report");
    assert_eq!((s.frame, s.offset), (1, 28), "{s:?}");
    assert!(s.reason.contains("interface"), "{s:?}");
    assert!(
        r.warnings.iter().any(|w| w.contains("stopped at frame 1")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn pcap_records_past_the_read_buffer_are_read_and_corrupt_lengths_stop() {
    // A 1 MiB record (past the 256 KiB starting buffer) then a small one: both read.
    let big = vec![0u8; 1 << 20];
    let data = write_pcap(1, &[(1, 0, big), (2, 0, vec![0u8; 60])]);
    let r = passive::import_bytes("big.pcap", &data, &ImportOptions::default()).expect("import");
    assert!(r.stopped.is_none(), "{:?}", r.stopped);
    assert_eq!(r.stats.frames, 2);
    // A record header claiming 100 MB: the read stops at it and says so.
    let mut data = write_pcap(1, &[(1, 0, vec![0u8; 60])]);
    let at = data.len() as u64;
    for v in [3u32, 0, 100_000_000, 100_000_000] {
        data.extend_from_slice(&v.to_le_bytes());
    }
    data.extend_from_slice(&[0u8; 4096]);
    let r =
        passive::import_bytes("corrupt.pcap", &data, &ImportOptions::default()).expect("import");
    let s = r.stopped.expect("a stop report");
    assert_eq!((s.frame, s.offset), (2, at), "{s:?}");
    assert_eq!(r.stats.frames, 1);
}

fn identity_of(r: &ImportReport) -> Identity {
    only_identity(r).1.clone()
}

#[test]
fn same_identity_through_pcapng_sll_sll2_raw_ip_and_vlan_tags() {
    let Some(dir) = captures_dir("same_identity_through_pcapng_sll_sll2_raw_ip_and_vlan_tags")
    else {
        return;
    };
    let path = dir.join("s7comm_reading_plc_status.pcap");
    let base = identity_of(&import(&dir, "s7comm_reading_plc_status.pcap"));
    let recs = records(&path);
    let ng = import_bytes("s7.pcapng", &write_pcapng(1, &recs));
    assert_eq!(ng.kind, InputKind::PcapNg);
    assert_eq!(identity_of(&ng), base);
    assert_eq!(frame_of(only_identity(&ng).0), 39);
    // Strip Ethernet (14 bytes) and wrap the rest in other link layers.
    let eth = |d: &Vec<u8>| {
        (
            d[6..12].to_vec(),
            u16::from_be_bytes([d[12], d[13]]),
            d[14..].to_vec(),
        )
    };
    let sll: Vec<_> = recs
        .iter()
        .map(|(s, u, d)| {
            let (mac, et, rest) = eth(d);
            let mut f = vec![0, 0, 0, 1, 0, 6];
            f.extend(&mac);
            f.extend([0, 0]);
            f.extend(et.to_be_bytes());
            f.extend(rest);
            (*s, *u, f)
        })
        .collect();
    assert_eq!(
        identity_of(&import_bytes("sll.pcap", &write_pcap(113, &sll))),
        base
    );
    let sll2: Vec<_> = recs
        .iter()
        .map(|(s, u, d)| {
            let (mac, et, rest) = eth(d);
            let mut f = et.to_be_bytes().to_vec();
            f.extend([0, 0, 0, 0, 0, 1, 0, 1, 0, 6]);
            f.extend(&mac);
            f.extend([0, 0]);
            f.extend(rest);
            (*s, *u, f)
        })
        .collect();
    assert_eq!(
        identity_of(&import_bytes("sll2.pcap", &write_pcap(276, &sll2))),
        base
    );
    let raw: Vec<_> = recs
        .iter()
        .filter(|(_, _, d)| d[12..14] == [0x08, 0x00])
        .map(|(s, u, d)| (*s, *u, d[14..].to_vec()))
        .collect();
    assert_eq!(
        identity_of(&import_bytes("raw.pcap", &write_pcap(101, &raw))),
        base
    );
    let qinq: Vec<_> = recs
        .iter()
        .map(|(s, u, d)| {
            let mut f = d[..12].to_vec();
            f.extend([0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0x0a]);
            f.extend(&d[12..]);
            (*s, *u, f)
        })
        .collect();
    assert_eq!(
        identity_of(&import_bytes("qinq.pcap", &write_pcap(1, &qinq))),
        base
    );
}

#[test]
fn reordered_and_retransmitted_segments_still_stitch() {
    let Some(dir) = captures_dir("reordered_and_retransmitted_segments_still_stitch") else {
        return;
    };
    let base = identity_of(&import(&dir, "s7comm_reading_plc_status.pcap"));
    let mut recs = records(&dir.join("s7comm_reading_plc_status.pcap"));
    // Frame 72 (the second piece of SZL 0x001C) arrives before frame 69 (the first) and
    // frame 59 (the SZL 0x0011 reply) is retransmitted.
    recs.swap(68, 71);
    let dup = recs[58].clone();
    recs.insert(59, dup);
    let r = import_bytes("reordered.pcap", &write_pcap(1, &recs));
    assert_eq!(identity_of(&r), base);
    assert!(r.stats.retransmissions >= 1);
}

// ---------------------------------------------------------------------------------------
// Damaged and foreign input.

#[test]
fn truncated_capture_keeps_what_came_before_and_says_where_it_stopped() {
    let Some(dir) =
        captures_dir("truncated_capture_keeps_what_came_before_and_says_where_it_stopped")
    else {
        return;
    };
    let data = std::fs::read(dir.join("enip_test.pcap")).unwrap();
    // Header 24 bytes; cut inside frame 8's record (frames 1-7 hold the whole exchange).
    let recs = records(&dir.join("enip_test.pcap"));
    let upto7: usize = 24 + recs[..7].iter().map(|r| 16 + r.2.len()).sum::<usize>();
    let cut = &data[..upto7 + 20];
    let r = import_bytes("cut.pcap", cut);
    let stopped = r.stopped.clone().expect("a stop report");
    assert_eq!(stopped.frame, 8);
    assert_eq!(stopped.offset, upto7 as u64);
    assert!(
        r.warnings.iter().any(
            |w| w.contains(&format!("stopped at frame 8, byte offset {upto7}"))
                && w.contains("truncated")
        ),
        "{:?}",
        r.warnings
    );
    assert_eq!(r.stats.frames, 7);
    assert_eq!(only_identity(&r).0.ip, ip("10.1.1.164"));
    // A corrupt record length (4 GB) stops the read the same way, without allocating it.
    let mut bad = data[..upto7].to_vec();
    bad.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ]);
    bad.extend_from_slice(&[0; 64]);
    let r = import_bytes("corrupt.pcap", &bad);
    let s = r.stopped.expect("a stop report");
    assert_eq!((s.frame, s.offset), (8, upto7 as u64));
}

#[test]
fn unsupported_link_type_names_itself() {
    let recs = vec![(0u32, 0u32, vec![0u8; 40])];
    let err = passive::import_bytes(
        "wifi.pcap",
        &write_pcap(105, &recs),
        &ImportOptions::default(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("wifi.pcap") && msg.contains("105") && msg.contains("802.11"),
        "{msg}"
    );
    let err = passive::import_bytes(
        "usb.pcapng",
        &write_pcapng(220, &recs),
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("USB"), "{err}");
}

#[test]
fn foreign_files_are_named_as_what_they_look_like() {
    for (bytes, looks) in [
        (&b"%PDF-1.7\n..."[..], "PDF"),
        (&b"PK\x03\x04zip"[..], "ZIP"),
        (&b"\x7fELF\x02\x01"[..], "ELF"),
        (&b"GMBU\x00\x02"[..], "Network Monitor"),
        (&b""[..], "empty"),
        (&b"just some words\n"[..], "neither"),
        (&b"\x00\x01\x02\x03\x04\x05"[..], "binary"),
    ] {
        let err =
            passive::import_bytes("mystery.bin", bytes, &ImportOptions::default()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("mystery.bin") && msg.contains(looks),
            "{looks}: {msg}"
        );
    }
}

#[test]
fn garbage_payloads_on_ics_ports_never_panic() {
    // Random bytes in TCP and UDP to every analyzed port, through every framer.
    let mut recs = Vec::new();
    let mut seed = 0x2545F4914F6CDD1Du64;
    for i in 0..400u32 {
        let mut payload = Vec::new();
        for _ in 0..(i % 97) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            payload.push(seed as u8);
        }
        let port = [502u16, 102, 44818, 2222][(i % 4) as usize];
        let udp = i % 3 == 0;
        let mut l4 = Vec::new();
        l4.extend(40000u16.to_be_bytes());
        l4.extend(port.to_be_bytes());
        if udp {
            l4.extend(((8 + payload.len()) as u16).to_be_bytes());
            l4.extend([0, 0]);
        } else {
            l4.extend((i * 7).to_be_bytes());
            l4.extend([0, 0, 0, 0, 0x50, 0x18, 0, 0, 0, 0, 0, 0]);
        }
        l4.extend(&payload);
        let mut ipv4 = vec![
            0x45,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            64,
            if udp { 17 } else { 6 },
            0,
            0,
            10,
            9,
            0,
            1,
            10,
            9,
            0,
            2,
        ];
        let total = (20 + l4.len()) as u16;
        ipv4[2..4].copy_from_slice(&total.to_be_bytes());
        ipv4.extend(l4);
        recs.push((i, 0, ipv4));
    }
    let r = import_bytes("garbage.pcap", &write_pcap(101, &recs));
    assert!(identities(&r).is_empty());
    assert_eq!(r.stats.frames, 400);
}

// ---------------------------------------------------------------------------------------
// Zeek / ICSNPP logs.

#[test]
fn zeek_conn_log_hosts_services_and_peers() {
    let r =
        passive::import_path(&fixtures().join("zeek/conn.log"), &ImportOptions::default()).unwrap();
    assert_eq!(r.kind, InputKind::Zeek);
    let services: Vec<(IpAddr, Transport, u16, Protocol)> = r
        .observations
        .iter()
        .filter_map(|o| match o.fact {
            Fact::Service {
                transport,
                port,
                protocol,
            } => Some((o.ip, transport, port, protocol)),
            _ => None,
        })
        .collect();
    // S0 (no answer) is not a service; the UDP exchange with a reply is.
    assert_eq!(
        services,
        vec![
            (ip("10.20.0.10"), Transport::Tcp, 502, Protocol::Modbus),
            (ip("10.20.0.11"), Transport::Tcp, 102, Protocol::S7),
            (ip("10.20.0.13"), Transport::Udp, 44818, Protocol::Enip),
        ]
    );
    let first = &r.observations[0];
    assert!(matches!(&first.provenance, Provenance::Zeek { log, line: 9, .. } if log == "conn"));
    assert!(r.observations.iter().any(|o| o.ip == ip("10.20.0.5")
        && matches!(
            o.fact,
            Fact::Peer {
                role: Role::Client,
                protocol: Protocol::S7,
                ..
            }
        )));
    // The row with a bad address is named and skipped.
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("line 13") && w.contains("not-an-address")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn zeek_icsnpp_identity_logs() {
    let opts = ImportOptions::default();
    let r = passive::import_path(&fixtures().join("zeek/cip_identity.log"), &opts).unwrap();
    let (o, id) = only_identity(&r);
    assert_eq!(o.ip, ip("10.20.0.13"));
    let Identity::Enip(e) = id else { panic!() };
    assert_eq!((e.vendor_id, e.device_type, e.product_code), (1, 12, 58));
    assert_eq!(
        (e.revision_major, e.revision_minor, e.status, e.serial),
        (4, 3, 0x30, 0x00524d8e)
    );
    assert_eq!((e.product_name.as_str(), e.state), ("1756-ENBT/A", Some(3)));
    // The socket address inside the reply is data, not the key.
    assert_eq!(e.socket_addr, Some("192.168.0.13:44818".parse().unwrap()));

    let r = passive::import_path(
        &fixtures().join("zeek/modbus_read_device_identification.log"),
        &opts,
    )
    .unwrap();
    let m = modbus_identity(&r, "10.20.0.10");
    assert_eq!((m.unit_id, m.conformity_level), (3, Some(0x81)));
    assert_eq!(
        m.objects.get(&0).map(String::as_str),
        Some("Schneider Electric")
    );
    assert_eq!(m.objects.get(&1).map(String::as_str), Some("BMX P34 2020"));
    assert_eq!(m.objects.get(&2).map(String::as_str), Some("v2.10"));

    let r =
        passive::import_path(&fixtures().join("zeek/s7comm_known_devices.log.gz"), &opts).unwrap();
    let (o, id) = only_identity(&r);
    assert_eq!(o.ip, ip("10.20.0.11"));
    let Identity::S7(s) = id else { panic!() };
    assert_eq!(s.as_name.as_deref(), Some("SNAP7-SERVER"));
    assert_eq!(s.module_name.as_deref(), Some("CPU 315-2 PN/DP"));
    assert_eq!(s.plant_tag.as_deref(), Some(""));
    assert_eq!(s.serial.as_deref(), Some("S C-C2UR28922012"));
}

#[test]
fn zeek_other_logs_are_skipped_and_counted() {
    let r =
        passive::import_path(&fixtures().join("zeek/dns.log"), &ImportOptions::default()).unwrap();
    assert!(r.observations.is_empty());
    assert_eq!(r.stats.skipped_lines, 2);
    // A whole log of another protocol is not damage: a note, not a warning (exit 0).
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert!(
        r.notes
            .iter()
            .any(|w| w.contains("skipped 2 lines") && w.contains("dns"))
    );
}

// ---------------------------------------------------------------------------------------
// CSV inventories.

fn declared(r: &ImportReport, who: &str) -> BTreeMap<String, String> {
    r.observations
        .iter()
        .filter(|o| o.ip == ip(who))
        .filter_map(|o| match &o.fact {
            Fact::Declared { attribute, value } => Some((attribute.clone(), value.clone())),
            Fact::Mac {
                mac,
                basis: MacBasis::Declared,
            } => Some(("mac".into(), mac.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn csv_inventory_with_bom_aliases_custom_columns_and_a_bad_row() {
    let r = passive::import_path(
        &fixtures().join("csv/inventory.csv"),
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(r.kind, InputKind::Csv);
    let plc1 = declared(&r, "10.20.0.10");
    let want: BTreeMap<String, String> = [
        ("mac", "00:80:f4:01:02:03"),
        ("hostname", "PLC-1"),
        ("vendor", "Schneider Electric"),
        ("model", "BMX P34 2020"),
        ("serial", "SN123"),
        ("firmware", "v2.10"),
        ("role", "PLC"),
        ("criticality", "high"),
        ("location", "Hall A"),
        ("owner", "Ops"),
        ("zone", "Cell 1"),
        ("Rack", "R3"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(plc1, want);
    let row = r
        .observations
        .iter()
        .find(|o| o.ip == ip("10.20.0.10"))
        .map(|o| o.provenance.clone());
    assert!(matches!(row, Some(Provenance::Csv { row: 2, .. })));
    // Row 4 holds 10.20.0.300: named and skipped; row 6's bad MAC is named, the row kept.
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("row 4") && w.contains("10.20.0.300")),
        "{:?}",
        r.warnings
    );
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("row 6") && w.contains("zz:zz"))
    );
    assert_eq!(
        declared(&r, "10.20.0.12")
            .get("hostname")
            .map(String::as_str),
        Some("HMI-1")
    );
    assert_eq!(r.stats.rows, 4);
}

#[test]
fn csv_semicolons_and_prefix_lengths() {
    let r = passive::import_path(
        &fixtures().join("csv/inventory_semicolon.csv"),
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(
        declared(&r, "10.30.0.1")
            .get("location")
            .map(String::as_str),
        Some("Substation 4")
    );
    assert_eq!(
        declared(&r, "10.30.0.2")
            .get("hostname")
            .map(String::as_str),
        Some("rtu-2")
    );
}

#[test]
fn csv_without_an_address_column_says_which_headers_it_saw() {
    let err = passive::import_bytes(
        "x.csv",
        b"name,vendor\nplc,acme\n",
        &ImportOptions::default(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("x.csv") && msg.contains("no address column") && msg.contains("name, vendor"),
        "{msg}"
    );
}

#[test]
fn csv_with_an_unclosed_quote_fails_naming_the_row_instead_of_swallowing_the_file() {
    // Row 3 opens a quote that never closes: the rest of the file (here 3 MiB) would
    // become one cell, and memory would grow with the file.
    let mut data = b"ip,model\n10.0.0.1,ok\n10.0.0.2,\"open\n".to_vec();
    for _ in 0..(3 << 16) {
        data.extend_from_slice(b"10.0.0.9,filler row of forty-eight bytes ......\n");
    }
    let err = passive::import_bytes("plant.csv", &data, &ImportOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("plant.csv") && msg.contains("row 3") && msg.contains("longer than"),
        "{msg}"
    );
    // A long file of ordinary rows is not affected.
    let mut ok = b"ip,model\n".to_vec();
    for i in 0..(3u32 << 16) {
        ok.extend_from_slice(
            format!("10.{}.{}.{},m\n", i >> 16, (i >> 8) & 255, i & 255).as_bytes(),
        );
    }
    let r = passive::import_bytes("big.csv", &ok, &ImportOptions::default()).expect("import");
    assert_eq!(r.stats.rows, 3 << 16);
}

// ---------------------------------------------------------------------------------------
// Hints for the active scan, and the CLI.

#[test]
fn hints_give_hosts_unit_ids_tsaps_and_identified_hosts() {
    let Some(dir) = captures_dir("hints_give_hosts_unit_ids_tsaps_and_identified_hosts") else {
        return;
    };
    let paths = [
        dir.join("s7comm_reading_plc_status.pcap"),
        dir.join("nDPI_modbus.pcap"),
        dir.join("modbus_example.pcap"),
    ];
    let (file, _) = passive::import_paths(&paths, &ImportOptions::default()).unwrap();
    // The file survives a JSON round trip (it is what `otscout passive -o` writes).
    let json = serde_json::to_string(&file).unwrap();
    let file: otscout::inventory::ObservationFile = serde_json::from_str(&json).unwrap();
    let h = passive::hints(&file);
    assert!(h.hosts.contains(&ip("192.168.110.138")));
    assert!(h.hosts.contains(&ip("192.168.110.131")));
    assert_eq!(
        h.s7_tsaps
            .get(&ip("192.168.1.40"))
            .map(|s| s.iter().copied().collect::<Vec<_>>()),
        Some(vec![0x0102])
    );
    assert!(
        h.modbus_units
            .get(&ip("192.168.110.138"))
            .is_some_and(|u| !u.is_empty())
    );
    assert!(h.identified.contains(&ip("192.168.1.40")));
    assert!(h.identified.contains(&ip("127.0.0.1")));
    assert!(!h.identified.contains(&ip("192.168.110.138")));
}

#[test]
fn cli_writes_observations_and_exits_partial_on_damage() {
    let Some(dir) = captures_dir("cli_writes_observations_and_exits_partial_on_damage") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("obs.json");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
        .arg("passive")
        .arg(dir.join("enip_test.pcap"))
        .arg(fixtures().join("csv/inventory_semicolon.csv"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(text.contains("1756-ENBT/A"), "{text}");
    let file: otscout::inventory::ObservationFile =
        serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(file.format, otscout::inventory::OBSERVATIONS_FORMAT);
    assert_eq!(file.sources.len(), 2);

    let data = std::fs::read(dir.join("enip_test.pcap")).unwrap();
    let cut = tmp.path().join("cut.pcap");
    std::fs::write(&cut, &data[..data.len() - 5]).unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
        .arg("passive")
        .arg(&cut)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(text.contains("stopped at frame 11, byte offset"), "{text}");
}

#[test]
fn cli_summary_does_not_pass_device_escape_sequences_to_the_terminal() {
    let Some(dir) =
        captures_dir("cli_summary_does_not_pass_device_escape_sequences_to_the_terminal")
    else {
        return;
    };
    // The device's product name, same length so the framing is untouched, replaced by an
    // OSC sequence that would retitle (or worse) the operator's terminal.
    let mut data = std::fs::read(dir.join("enip_test.pcap")).unwrap();
    let name = b"1756-ENBT/A";
    let evil = b"\x1b]0;pwned\x07x";
    assert_eq!(name.len(), evil.len());
    let mut replaced = 0;
    let mut i = 0;
    while i + name.len() <= data.len() {
        if &data[i..i + name.len()] == name {
            data[i..i + name.len()].copy_from_slice(evil);
            replaced += 1;
        }
        i += 1;
    }
    assert!(replaced > 0);
    let tmp = tempfile::tempdir().unwrap();
    let evil_pcap = tmp.path().join("evil.pcap");
    std::fs::write(&evil_pcap, &data).unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
        .arg("passive")
        .arg(&evil_pcap)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(text.contains("?]0;pwned?x"), "{text}");
    assert!(
        !run.stdout.contains(&0x1b) && !run.stdout.contains(&0x07),
        "{text:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Captures written by the simulator round-trip to the simulated identities.

mod sim_round_trip {
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use otscout::inventory::{EnipIdentitySource, Identity};
    use otscout::probe::{ConnectionLoss, Session, Step};
    use otscout::profile::EnipTransport;
    use otscout::protocols::enip;
    use otscout::protocols::enip::session::{EnipSession, EnipSessionConfig};
    use otscout::protocols::modbus::session::{ModbusSession, ModbusSessionConfig};
    use otscout::protocols::s7::session::{S7Session, S7SessionConfig};
    use otscout::safety::{self, EnipList, EnipListCommand, SafeRequest};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpStream, UdpSocket};

    const PLANT: &str = r#"
        name = "passive round trip"
        [[device]]
        name = "mb"
        address = "127.61.0.1"
        [device.modbus]
        port = 502
        unit_ids = [3]
        [device.modbus.identity]
        vendor_name = "RoundTrip Automation"
        product_code = "RT-502"
        revision = "v1.2.3"
        product_name = "Round Trip PLC"
        conformity_level = 0x82

        [[device]]
        name = "en"
        address = "127.61.0.2"
        [device.enip]
        port = 44818
        identity = { vendor_id = 1, device_type = 14, product_code = 168, revision_major = 33, revision_minor = 11, status = 0x3160, serial = 0x60c1d2e3, product_name = "1756-L85E/B", state = 3 }

        [[device]]
        name = "s7"
        address = "127.61.0.3"
        [device.s7]
        port = 102
        pdu_size = 240
        tsaps = [0x0102]
        [device.s7.identity]
        order_number = "6ES7 151-8AB01-0AB0 "
        module_type_id = 0x00c0
        hardware_version = [0x0003, 0x0001]
        firmware_version = [0x5603, 0x0206]
        boot_loader_version = [0x4120, 0x0909]
        as_name = "ROUND-TRIP-CPU"
        module_name = "IM151-8 PN/DP CPU"
        copyright = "Original Siemens Equipment"
        serial_number = "S C-ROUNDTRIP01"
        module_type_name = "IM151-8 PN/DP CPU"
        memory_card_serial = "MMC 0000RT01"
    "#;

    /// A minimal driver for the sans-IO sessions: one connection at a time, every frame
    /// through the guard.
    async fn drive(addr: SocketAddr, mut s: Box<dyn Session>) {
        let deadline = Instant::now() + Duration::from_secs(20);
        'connect: loop {
            let mut stream = TcpStream::connect(addr)
                .await
                .expect("connect to the simulator");
            let mut step = s.on_connected(Instant::now());
            let mut buf = vec![0u8; 4096];
            loop {
                assert!(Instant::now() < deadline, "session did not finish");
                step = match step {
                    Step::Send(req) => {
                        let bytes = safety::emit(&req).expect("guard accepts");
                        stream.write_all(&bytes).await.unwrap();
                        Step::Wait
                    }
                    Step::Wait => {
                        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
                            .await
                        {
                            Ok(Ok(0)) | Ok(Err(_)) => {
                                s.on_connection_lost(Instant::now(), ConnectionLoss::Closed)
                            }
                            Ok(Ok(n)) => s.on_bytes(Instant::now(), &buf[..n]),
                            Err(_) => s.on_timeout(Instant::now()),
                        }
                    }
                    Step::Reconnect => continue 'connect,
                    Step::Done => return,
                };
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sim_capture_round_trips_to_the_simulated_identities() {
        let plant = otscout_sim::Plant::from_toml_str(PLANT).unwrap();
        let running = match otscout_sim::start(plant, otscout_sim::StartOptions::default()).await {
            Ok(r) => r,
            Err(e) => {
                // Standard ports need root (or CAP_NET_BIND_SERVICE): the importer keys
                // protocols on them.
                eprintln!("skipped sim round trip: {e}");
                return;
            }
        };
        let profile = otscout::profile::builtin("lab").unwrap().profile;
        let mut mb = ModbusSessionConfig::from_profile(&profile);
        mb.port = 502;
        mb.unit_ids = vec![3];
        let mut s7 = S7SessionConfig::from_profile(&profile);
        s7.port = 102;
        s7.tsaps = vec![0x0102];
        s7.szl_ids = vec![0x0011, 0x001C];
        let mut en = EnipSessionConfig::from_profile(&profile);
        en.transport = EnipTransport::Tcp;
        en.port = 44818;
        drive(
            "127.61.0.1:502".parse().unwrap(),
            Box::new(ModbusSession::new(mb)),
        )
        .await;
        drive(
            "127.61.0.2:44818".parse().unwrap(),
            Box::new(EnipSession::new(en)),
        )
        .await;
        drive(
            "127.61.0.3:102".parse().unwrap(),
            Box::new(S7Session::new(s7)),
        )
        .await;
        // List Identity over UDP too, from an address of the test's own.
        let udp = UdpSocket::bind("127.61.0.100:0").await.unwrap();
        let req = safety::emit(&SafeRequest::Enip(enip::Safe::List(EnipList {
            command: EnipListCommand::ListIdentity,
            sender_context: *b"passive!",
        })))
        .unwrap();
        udp.send_to(&req, "127.61.0.2:44818").await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = tokio::time::timeout(Duration::from_secs(2), udp.recv_from(&mut buf)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;

        let mut pcapng = Vec::new();
        running.write_pcapng(&mut pcapng).unwrap();
        running.shutdown().await;

        let r = super::import_bytes("sim.pcapng", &pcapng);
        assert_eq!(r.kind, super::InputKind::PcapNg);
        let ids = super::identities(&r);
        let find = |who: &str| -> Vec<&Identity> {
            ids.iter()
                .filter(|(o, _)| o.ip == super::ip(who))
                .map(|(_, i)| *i)
                .collect()
        };
        let mb = find("127.61.0.1");
        let [Identity::Modbus(m)] = mb.as_slice() else {
            panic!("modbus: {mb:?}")
        };
        assert_eq!((m.unit_id, m.conformity_level), (3, Some(0x82)));
        assert_eq!(
            m.objects.get(&0).map(String::as_str),
            Some("RoundTrip Automation")
        );
        assert_eq!(m.objects.get(&1).map(String::as_str), Some("RT-502"));
        assert_eq!(m.objects.get(&2).map(String::as_str), Some("v1.2.3"));

        let en = find("127.61.0.2");
        assert!(!en.is_empty(), "no enip identity");
        for id in &en {
            let Identity::Enip(e) = id else {
                panic!("{id:?}")
            };
            assert_eq!(e.source, EnipIdentitySource::ListIdentity);
            assert_eq!((e.vendor_id, e.device_type, e.product_code), (1, 14, 168));
            assert_eq!(
                (e.revision_major, e.revision_minor, e.status),
                (33, 11, 0x3160)
            );
            assert_eq!(
                (e.serial, e.product_name.as_str()),
                (0x60c1d2e3, "1756-L85E/B")
            );
        }
        // Over UDP as well as TCP.
        assert!(
            r.observations
                .iter()
                .any(|o| o.ip == super::ip("127.61.0.2")
                    && matches!(
                        o.fact,
                        super::Fact::Service {
                            transport: super::Transport::Udp,
                            port: 44818,
                            ..
                        }
                    ))
        );

        let s7 = find("127.61.0.3");
        let [Identity::S7(s)] = s7.as_slice() else {
            panic!("s7: {s7:?}")
        };
        assert_eq!(s.order_number.as_deref(), Some("6ES7 151-8AB01-0AB0"));
        assert_eq!(s.firmware.as_deref(), Some("V3.2.6"));
        assert_eq!(s.as_name.as_deref(), Some("ROUND-TRIP-CPU"));
        assert_eq!(s.serial.as_deref(), Some("S C-ROUNDTRIP01"));
        assert_eq!(s.memory_card_serial.as_deref(), Some("MMC 0000RT01"));
        assert_eq!(s.tsap, Some(0x0102));
        // The active probe's reads are not operations.
        assert!(super::operations(&r).is_empty());
    }
}

// ---------------------------------------------------------------------------------------
// Damaged real captures never panic.

mod mutated {
    use proptest::prelude::*;

    use otscout::passive::{self, ImportOptions};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn mutated_real_captures_never_panic(
            file in prop::sample::select(vec![
                "s7comm_reading_plc_status.pcap",
                "EIP-FirmwareChange_slice.pcap",
                "modbus_example.pcap",
                "pymodbus-client-vs-pymodbus-longid.pcap",
            ]),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..64),
            cut in any::<prop::sample::Index>(),
        ) {
            let Some(dir) = crate::support::captures_dir("mutated_real_captures_never_panic") else {
                return Ok(());
            };
            let mut data = std::fs::read(dir.join(file)).unwrap();
            // Keep the file header so the records themselves are what is damaged.
            for (at, byte) in flips {
                let i = 24 + at.index(data.len() - 24);
                data[i] = byte;
            }
            let len = 24 + cut.index(data.len() - 24);
            let data = &data[..len.max(24)];
            if let Ok(r) = passive::import_bytes(file, data, &ImportOptions::default()) {
                if let Some(s) = &r.stopped {
                    prop_assert!(s.offset <= data.len() as u64);
                }
            }
        }
    }
}
