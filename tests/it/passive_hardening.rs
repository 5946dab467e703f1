//! Passive import against inputs nobody here has seen: directed broadcasts, a global
//! reassembly budget, Zeek logs in their other shapes, ICS protocols on other ports, and
//! pcapng features. Synthetic inputs are built in the tests; the real captures (INDEX.md)
//! are re-used with their ports moved.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use otscout::inventory::{
    Fact, Identity, Observation, ObservationFile, OperationKind, Protocol, Provenance, Role,
    Transport,
};
use otscout::passive::{self, ImportOptions, ImportReport};

use crate::support::captures_dir;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn import_with(name: &str, bytes: &[u8], opts: &ImportOptions) -> ImportReport {
    passive::import_bytes(name, bytes, opts).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn import(name: &str, bytes: &[u8]) -> ImportReport {
    import_with(name, bytes, &ImportOptions::default())
}

fn subjects(r: &ImportReport) -> BTreeSet<IpAddr> {
    r.observations.iter().map(|o| o.ip).collect()
}

fn identities(r: &ImportReport) -> Vec<(IpAddr, Identity)> {
    r.observations
        .iter()
        .filter_map(|o| match &o.fact {
            Fact::Identity { identity } => Some((o.ip, identity.clone())),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Frame builders (Ethernet II, IPv4, TCP, UDP; checksums left zero as offloading cards do).

const BCAST: [u8; 6] = [0xff; 6];

fn mac(last: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0, last]
}

fn v4(s: &str) -> [u8; 4] {
    s.parse::<std::net::Ipv4Addr>().unwrap().octets()
}

fn eth(dst: [u8; 6], src: [u8; 6], ip: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend(src);
    f.extend([0x08, 0x00]);
    f.extend(ip);
    f
}

fn ipv4(src: &str, dst: &str, proto: u8, frag: u16, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 1];
    p.extend(frag.to_be_bytes());
    p.extend([64, proto, 0, 0]);
    p.extend(v4(src));
    p.extend(v4(dst));
    p.extend(l4);
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;

fn tcp(sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = sport.to_be_bytes().to_vec();
    t.extend(dport.to_be_bytes());
    t.extend(seq.to_be_bytes());
    t.extend([0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend(payload);
    t
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = sport.to_be_bytes().to_vec();
    u.extend(dport.to_be_bytes());
    u.extend(((8 + payload.len()) as u16).to_be_bytes());
    u.extend([0, 0]);
    u.extend(payload);
    u
}

/// A little-endian microsecond pcap; frame i is stamped 1_700_000_000 + i seconds.
fn pcap(linktype: u32, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0xa1b2c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend([0; 8]);
    out.extend(262_144u32.to_le_bytes());
    out.extend(linktype.to_le_bytes());
    for (i, d) in frames.iter().enumerate() {
        out.extend((1_700_000_000u32 + i as u32).to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend((d.len() as u32).to_le_bytes());
        out.extend((d.len() as u32).to_le_bytes());
        out.extend(d);
    }
    out
}

/// ENIP List Identity request (24-byte header, no body) with this sender context.
fn list_identity_request(context: u8) -> Vec<u8> {
    let mut h = vec![0x63, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    h.extend([context; 8]);
    h.extend([0, 0, 0, 0]);
    h
}

/// Modbus FC 43/14 read code 1 request and a reply with VendorName and ProductCode.
fn modbus_devid_pair(tid: u16, unit: u8) -> (Vec<u8>, Vec<u8>) {
    let mut req = tid.to_be_bytes().to_vec();
    req.extend([0, 0, 0, 5, unit, 0x2b, 0x0e, 0x01, 0x00]);
    let mut pdu = vec![unit, 0x2b, 0x0e, 0x01, 0x83, 0x00, 0x00, 0x02];
    for (id, v) in [(0u8, &b"Heuristic Vendor"[..]), (1, b"HV-5020")] {
        pdu.push(id);
        pdu.push(v.len() as u8);
        pdu.extend(v);
    }
    let mut rsp = tid.to_be_bytes().to_vec();
    rsp.extend([0, 0]);
    rsp.extend((pdu.len() as u16).to_be_bytes());
    rsp.extend(pdu);
    (req, rsp)
}

// ---------------------------------------------------------------------------------------
// 1. An address becomes an asset (and a scan target) only when it was seen sending.

#[test]
fn directed_broadcasts_and_silent_destinations_never_become_assets_or_targets() {
    let hmi = "192.168.1.10";
    let frames = vec![
        // An HMI broadcasts List Identity to the subnet's directed broadcast (Ethernet
        // broadcast), and to the limited broadcast.
        eth(
            BCAST,
            mac(10),
            &ipv4(
                hmi,
                "192.168.1.255",
                17,
                0,
                &udp(50000, 44818, &list_identity_request(1)),
            ),
        ),
        eth(
            BCAST,
            mac(10),
            &ipv4(
                hmi,
                "255.255.255.255",
                17,
                0,
                &udp(50000, 44818, &list_identity_request(2)),
            ),
        ),
        // A directed broadcast of Modbus over TCP is nonsense, but a capture may hold it.
        eth(
            BCAST,
            mac(10),
            &ipv4(
                hmi,
                "192.168.1.255",
                6,
                0,
                &tcp(
                    40001,
                    502,
                    1,
                    PSH_ACK,
                    &hex("0001 0000 0006 01 06 0001 0003"),
                ),
            ),
        ),
        // A unicast Modbus write to a host that never answers (one-way capture).
        eth(
            mac(60),
            mac(10),
            &ipv4(
                hmi,
                "192.168.1.60",
                6,
                0,
                &tcp(
                    40002,
                    502,
                    1,
                    PSH_ACK,
                    &hex("0002 0000 0006 01 06 0001 0003"),
                ),
            ),
        ),
        // A completed handshake to .70 whose SYN-ACK the SPAN port missed, then a request.
        eth(
            mac(70),
            mac(10),
            &ipv4(hmi, "192.168.1.70", 6, 0, &tcp(40003, 502, 100, SYN, &[])),
        ),
        eth(
            mac(70),
            mac(10),
            &ipv4(hmi, "192.168.1.70", 6, 0, &tcp(40003, 502, 101, ACK, &[])),
        ),
        eth(
            mac(70),
            mac(10),
            &ipv4(
                hmi,
                "192.168.1.70",
                6,
                0,
                &tcp(
                    40003,
                    502,
                    101,
                    PSH_ACK,
                    &hex("0003 0000 0006 01 03 0000 0001"),
                ),
            ),
        ),
    ];
    let r = import("bcast.pcap", &pcap(1, &frames));
    let who = subjects(&r);
    assert!(!who.contains(&ip("192.168.1.255")), "{who:?}");
    assert!(!who.contains(&ip("255.255.255.255")), "{who:?}");
    assert!(!who.contains(&ip("192.168.1.60")), "{who:?}");
    assert!(who.contains(&ip(hmi)), "{who:?}");
    assert!(
        r.observations.iter().any(|o| o.ip == ip("192.168.1.70")
            && matches!(
                o.fact,
                Fact::Peer {
                    role: Role::Server,
                    protocol: Protocol::Modbus,
                    ..
                }
            )),
        "{:#?}",
        r.observations
    );
    // No peer fact names the broadcast address either.
    assert!(!r.observations.iter().any(|o| matches!(
        o.fact,
        Fact::Peer { peer, .. } if peer == ip("192.168.1.255")
    )));
    // What was left out is counted and said, not a warning of damage.
    assert!(r.stats.unproven > 0);
    assert!(
        r.notes.iter().any(|n| n.contains("192.168.1.60")),
        "{:?}",
        r.notes
    );
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);

    let file = passive::observation_file(&[r]);
    let hints = passive::hints(&file);
    assert_eq!(
        hints.hosts,
        [ip(hmi), ip("192.168.1.70")]
            .into_iter()
            .collect::<BTreeSet<_>>()
    );
}

#[test]
fn hints_take_no_target_from_facts_that_only_address_it() {
    // An observation file written before the rule: the broadcast address holds a server
    // peer fact and an operation, and is named as a peer.
    let prov = Provenance::Pcap {
        file: "old.pcap".into(),
        frame: 1,
    };
    let obs = |who: &str, fact: Fact| Observation {
        ip: ip(who),
        fact,
        provenance: prov.clone(),
        seen: None,
        raw_hex: None,
        path: None,
    };
    let file = ObservationFile {
        format: "otscout-observations".into(),
        version: 1,
        sources: vec!["old.pcap".into()],
        observations: vec![
            obs(
                "10.0.0.255",
                Fact::Peer {
                    peer: ip("10.0.0.5"),
                    protocol: Protocol::Enip,
                    role: Role::Server,
                    count: 1,
                },
            ),
            obs(
                "10.0.0.5",
                Fact::Peer {
                    peer: ip("10.0.0.255"),
                    protocol: Protocol::Enip,
                    role: Role::Client,
                    count: 1,
                },
            ),
            obs(
                "10.0.0.255",
                Fact::Operation {
                    actor: ip("10.0.0.5"),
                    protocol: Protocol::Modbus,
                    kind: OperationKind::Write,
                    function: "write_single_register".into(),
                    count: 1,
                    first: None,
                    last: None,
                },
            ),
            obs(
                "10.0.0.9",
                Fact::Service {
                    transport: Transport::Tcp,
                    port: 502,
                    protocol: Protocol::Modbus,
                },
            ),
        ],
    };
    let h = passive::hints(&file);
    assert_eq!(
        h.hosts,
        [ip("10.0.0.5"), ip("10.0.0.9")]
            .into_iter()
            .collect::<BTreeSet<_>>()
    );
}

fn hex(s: &str) -> Vec<u8> {
    crate::support::hex(s)
}

// ---------------------------------------------------------------------------------------
// 2. A global reassembly budget across flows.

#[test]
fn global_reassembly_budget_releases_the_largest_streams_and_says_so() {
    // 600 flows each holding 200 bytes of a Modbus frame that never completes (the MBAP
    // length says 254): 120,000 bytes held in all.
    let mut frames = Vec::new();
    let mut partial = hex("0001 0000 00fe 01 10");
    partial.resize(200, 0);
    for i in 0..600u32 {
        let src = format!("10.9.{}.{}", i / 200, 1 + i % 200);
        frames.push(eth(
            mac(1),
            mac(2),
            &ipv4(
                &src,
                "10.9.9.9",
                6,
                0,
                &tcp(40000 + i as u16, 502, 1, PSH_ACK, &partial),
            ),
        ));
    }
    let data = pcap(1, &frames);
    let roomy = import("budget.pcap", &data);
    assert_eq!(roomy.stats.budget_releases, 0);
    assert!(roomy.warnings.is_empty(), "{:?}", roomy.warnings);

    let tight = import_with(
        "budget.pcap",
        &data,
        &ImportOptions {
            reassembly_budget: Some(64 * 1024),
            ..ImportOptions::default()
        },
    );
    assert!(tight.stats.budget_releases > 0, "{:?}", tight.stats);
    assert!(tight.stats.budget_bytes_dropped >= 200 * tight.stats.budget_releases);
    assert!(
        tight
            .warnings
            .iter()
            .any(|w| w.contains("reassembly memory budget (65536 bytes)") && w.contains("partial")),
        "{:?}",
        tight.warnings
    );
}

// ---------------------------------------------------------------------------------------
// 3. Zeek logs in their other shapes; bad values are reported, never made 0.

fn zeek(name: &str, text: &str) -> ImportReport {
    import(name, text.as_bytes())
}

const CIP_HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tcip_identity\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tencapsulation_version\tsocket_address\tsocket_port\tvendor_id\tvendor_name\tdevice_type_id\tdevice_type_name\tproduct_code\trevision\tdevice_status\tserial_number\tproduct_name\tdevice_state\n#types\ttime\tstring\taddr\tport\taddr\tport\tcount\taddr\tcount\tcount\tstring\tcount\tstring\tcount\tstring\tstring\tstring\tstring\tstring\n";

#[test]
fn zeek_bad_values_are_counted_and_named_never_zero() {
    let text = format!(
        "{CIP_HEADER}\
1700000000.5\tC1\t10.1.1.167\t50000\t10.1.1.164\t44818\t1\t10.1.1.164\t44818\t1\tRockwell\t12\tComm Adapter\t58\t4.3\t0x0030\t0x00524d8e\t1756-ENBT/A\tzz\n\
1700000001.0\tC2\t10.1.1.167\t50001\t10.1.1.165\t44818\t1\t10.1.1.165\t44818\tabc\tRockwell\t12\tComm Adapter\t58\t4.3\t0x0030\t0x00524d8f\t1756-ENBT/A\t0x0003\n\
not-a-time\tC3\t10.1.1.167\t50002\t10.1.1.166\t44818\t1\t10.1.1.166\t44818\t1\tRockwell\t12\tComm Adapter\t58\tfour\t0x0030\t0x00524d90\t1756-ENBT/A\t0x0003\n\
1700000003.0\tC4\t10.1.1.167\t50003\t10.1.1.168\t44818\t-\t-\t-\t1\tRockwell\t12\tComm Adapter\t58\t4.3\t0x0030\t0x00524d91\t(empty)\t0x0003\n"
    );
    let r = zeek("cip_identity.log", &text);
    let ids = identities(&r);
    // Line 8: kept, with no state (never a made-up 0). Line 9: vendor id "abc": skipped.
    // Line 10: revision "four": skipped. Line 11: unset socket address, empty name: kept.
    assert_eq!(
        ids.iter().map(|(ip, _)| *ip).collect::<Vec<_>>(),
        vec![ip("10.1.1.164"), ip("10.1.1.168")]
    );
    let Identity::Enip(e) = &ids[0].1 else {
        panic!()
    };
    assert_eq!((e.vendor_id, e.serial, e.state), (1, 0x00524d8e, None));
    let Identity::Enip(e) = &ids[1].1 else {
        panic!()
    };
    assert_eq!(
        (e.socket_addr, e.product_name.as_str(), e.state),
        (None, "", Some(3))
    );
    assert_eq!(r.stats.bad_values, 4, "{:?}", r.warnings);
    for (line, field, action) in [
        (8, "device_state", "field left out"),
        (9, "vendor_id", "row skipped"),
        (10, "ts", "kept without a time"),
        (10, "revision", "row skipped"),
    ] {
        assert!(
            r.warnings.iter().any(|w| w.contains("cip_identity.log")
                && w.contains(&format!("line {line} "))
                && w.contains(field)
                && w.contains(action)),
            "line {line} {field}: {:?}",
            r.warnings
        );
    }
}

#[test]
fn zeek_json_lines_nested_ids_iso_times_gzip_and_rotated_names() {
    // conn.log as JSON, no _path: the log comes from the rotated file name. One record has
    // the connection id nested and an ISO 8601 time.
    let text = concat!(
        r#"{"ts":1700000000.25,"uid":"C1","id.orig_h":"10.2.0.5","id.orig_p":50000,"id.resp_h":"10.2.0.10","id.resp_p":502,"proto":"tcp","service":"modbus","conn_state":"SF"}"#,
        "\n",
        r#"{"ts":"2026-11-01T00:00:01.500000Z","uid":"C2","id":{"orig_h":"10.2.0.5","orig_p":50001,"resp_h":"10.2.0.11","resp_p":102},"proto":"tcp","conn_state":"S1"}"#,
        "\n",
        // A request to a responder that never answered: no server-side fact for it.
        r#"{"ts":1700000002,"uid":"C3","id.orig_h":"10.2.0.5","id.orig_p":50002,"id.resp_h":"10.2.0.255","id.resp_p":44818,"proto":"udp","resp_pkts":0,"resp_bytes":0}"#,
        "\n",
        r#"{"ts":1700000003,"uid":"C4","id.orig_h":"10.2.0.5","id.orig_p":50003,"id.resp_h":"10.2.0.12","id.resp_p":"five-oh-two","proto":"tcp","conn_state":"SF"}"#,
        "\n",
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let r = import("logs/conn.2026-11-01-00-00-00.log.gz", &gz);
    assert_eq!(r.kind, passive::InputKind::Zeek);
    let services: Vec<(IpAddr, u16, Protocol)> = r
        .observations
        .iter()
        .filter_map(|o| match o.fact {
            Fact::Service { port, protocol, .. } => Some((o.ip, port, protocol)),
            _ => None,
        })
        .collect();
    assert_eq!(
        services,
        vec![
            (ip("10.2.0.10"), 502, Protocol::Modbus),
            (ip("10.2.0.11"), 102, Protocol::S7)
        ]
    );
    let s7 = r
        .observations
        .iter()
        .find(|o| o.ip == ip("10.2.0.11"))
        .unwrap();
    assert_eq!(
        s7.seen.map(|t| t.to_rfc3339()),
        Some("2026-11-01T00:00:01.500+00:00".to_string())
    );
    assert!(matches!(&s7.provenance, Provenance::Zeek { log, line: 2, .. } if log == "conn"));
    assert!(!subjects(&r).contains(&ip("10.2.0.255")));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("line 4") && w.contains("id.resp_p") && w.contains("five-oh-two")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn zeek_other_separators_and_newer_icsnpp_columns() {
    // A comma-separated log (`#separator \x2c`), the newer ICSNPP Modbus columns (`unit`,
    // is_orig, source_h, 0x-hex codes), a custom unset marker.
    let text = "#separator \\x2c\n#set_separator,|\n#empty_field,EMPTY\n#unset_field,NONE\n#path,modbus_read_device_identification\n#fields,ts,uid,id.orig_h,id.orig_p,id.resp_h,id.resp_p,is_orig,source_h,source_p,destination_h,destination_p,tid,unit,func,request_response,mei_type,conformity_level_code,conformity_level,device_id_code,object_id_code,object_id,object_value\n\
1700000000.0,C1,10.3.0.5,50000,10.3.0.10,502,F,10.3.0.10,502,10.3.0.5,50000,7,3,ENCAP_INTERFACE_TRANSPORT,RESPONSE,READ-DEVICE-IDENTIFICATION,0x81,Basic,1,0x00,VendorName,ACME\n\
1700000000.0,C1,10.3.0.5,50000,10.3.0.10,502,F,10.3.0.10,502,10.3.0.5,50000,7,3,ENCAP_INTERFACE_TRANSPORT,RESPONSE,READ-DEVICE-IDENTIFICATION,0x81,Basic,1,0x02,MajorMinorVersion,v1.0\n\
1700000000.0,C1,10.3.0.5,50000,10.3.0.10,502,F,10.3.0.10,502,10.3.0.5,50000,7,NONE,ENCAP_INTERFACE_TRANSPORT,RESPONSE,READ-DEVICE-IDENTIFICATION,0x81,Basic,1,0x01,ProductCode,X1\n";
    let r = zeek("modbus_read_device_identification.log", text);
    let ids = identities(&r);
    assert_eq!(ids.len(), 1, "{ids:?} {:?}", r.warnings);
    let Identity::Modbus(m) = &ids[0].1 else {
        panic!()
    };
    assert_eq!(ids[0].0, ip("10.3.0.10"));
    assert_eq!((m.unit_id, m.conformity_level), (3, Some(0x81)));
    assert_eq!(m.objects.get(&0).map(String::as_str), Some("ACME"));
    assert_eq!(m.objects.get(&2).map(String::as_str), Some("v1.0"));
    // The row with an unset unit id is skipped, not put on unit 0.
    assert!(!m.objects.contains_key(&1));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("line 9") && w.contains("unit") && w.contains("missing")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn zeek_tsv_without_fields_header_says_what_to_do() {
    let e = passive::import_bytes(
        "conn.log",
        b"#separator \\x09\n1700000000.0\tC1\t10.0.0.1\t1\t10.0.0.2\t502\n",
        &ImportOptions {
            kind: Some(passive::InputKind::Zeek),
            ..ImportOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("conn.log")
            && e.contains("line 2")
            && e.contains("#fields")
            && e.contains("JSON"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------
// 4. ICS protocols on other ports, found by payload.

#[test]
fn modbus_on_a_non_standard_port_is_found_by_payload_and_marked_heuristic() {
    let (req, rsp) = modbus_devid_pair(9, 1);
    let c = "10.4.0.5";
    let s = "10.4.0.20";
    let frames = vec![
        eth(
            mac(20),
            mac(5),
            &ipv4(c, s, 6, 0, &tcp(41000, 5020, 1, PSH_ACK, &req)),
        ),
        eth(
            mac(5),
            mac(20),
            &ipv4(s, c, 6, 0, &tcp(5020, 41000, 1, PSH_ACK, &rsp)),
        ),
        // The same exchange again, now decoded as Modbus from the request on.
        eth(
            mac(20),
            mac(5),
            &ipv4(
                c,
                s,
                6,
                0,
                &tcp(41000, 5020, 1 + req.len() as u32, PSH_ACK, &req),
            ),
        ),
        eth(
            mac(5),
            mac(20),
            &ipv4(
                s,
                c,
                6,
                0,
                &tcp(5020, 41000, 1 + rsp.len() as u32, PSH_ACK, &rsp),
            ),
        ),
    ];
    let r = import("mb5020.pcap", &pcap(1, &frames));
    let ids = identities(&r);
    assert_eq!(ids.len(), 1, "{:#?}", r.observations);
    assert_eq!(ids[0].0, ip(s));
    let Identity::Modbus(m) = &ids[0].1 else {
        panic!()
    };
    assert_eq!(
        m.objects.get(&0).map(String::as_str),
        Some("Heuristic Vendor")
    );
    assert_eq!(m.objects.get(&1).map(String::as_str), Some("HV-5020"));
    assert_eq!(r.stats.heuristic_flows, 1);
    assert!(r.observations.iter().any(|o| o.ip == ip(s)
        && matches!(&o.fact, Fact::Declared { attribute, value }
            if attribute == "observed.protocol_heuristic" && value.starts_with("modbus on tcp/5020"))));
    assert!(r.observations.iter().any(|o| o.ip == ip(s)
        && matches!(
            o.fact,
            Fact::Service {
                port: 5020,
                protocol: Protocol::Modbus,
                ..
            }
        )));
}

#[test]
fn lookalikes_on_other_ports_are_not_taken_for_ics() {
    let c = "10.5.0.5";
    let s = "10.5.0.20";
    let (req, _) = modbus_devid_pair(9, 1);
    let (_, other_rsp) = modbus_devid_pair(10, 1);
    let frames = vec![
        // A request that parses as Modbus answered by a reply with another transaction id.
        eth(
            mac(20),
            mac(5),
            &ipv4(c, s, 6, 0, &tcp(41000, 7000, 1, PSH_ACK, &req)),
        ),
        eth(
            mac(5),
            mac(20),
            &ipv4(s, c, 6, 0, &tcp(7000, 41000, 1, PSH_ACK, &other_rsp)),
        ),
        // HTTP both ways.
        eth(
            mac(20),
            mac(5),
            &ipv4(
                c,
                s,
                6,
                0,
                &tcp(41001, 8080, 1, PSH_ACK, b"GET / HTTP/1.1\r\n\r\n"),
            ),
        ),
        eth(
            mac(5),
            mac(20),
            &ipv4(
                s,
                c,
                6,
                0,
                &tcp(8080, 41001, 1, PSH_ACK, b"HTTP/1.1 200 OK\r\n\r\n"),
            ),
        ),
        // Modbus-looking bytes one way only.
        eth(
            mac(20),
            mac(5),
            &ipv4(c, s, 6, 0, &tcp(41002, 7001, 1, PSH_ACK, &req)),
        ),
    ];
    let r = import("lookalike.pcap", &pcap(1, &frames));
    assert_eq!(r.stats.heuristic_flows, 0);
    assert!(identities(&r).is_empty());
    assert!(!r.observations.iter().any(
        |o| matches!(&o.fact, Fact::Declared { attribute, .. } if attribute.contains("heuristic"))
    ));
}

/// The records of a real capture with every TCP port `from` rewritten to `to`.
fn moved(dir: &Path, file: &str, from: u16, to: u16) -> Vec<u8> {
    let data = std::fs::read(dir.join(file)).unwrap();
    let cap = pcap_parser::PcapCapture::from_file(&data).unwrap();
    let mut frames = Vec::new();
    for b in &cap.blocks {
        let mut d = b.data.to_vec();
        if d.len() > 34 && d[12..14] == [0x08, 0x00] && d[23] == 6 {
            let ihl = usize::from(d[14] & 0x0f) * 4;
            let t = 14 + ihl;
            for at in [t, t + 2] {
                if d.len() > at + 1 && u16::from_be_bytes([d[at], d[at + 1]]) == from {
                    d[at..at + 2].copy_from_slice(&to.to_be_bytes());
                }
            }
        }
        frames.push(d);
    }
    pcap(1, &frames)
}

#[test]
fn real_captures_on_moved_ports_give_the_same_identities() {
    let Some(dir) = captures_dir("real_captures_on_moved_ports_give_the_same_identities") else {
        return;
    };
    for (file, port, to) in [
        ("s7comm_reading_plc_status.pcap", 102, 10102),
        ("enip_test.pcap", 44818, 4818),
        ("modbus_example.pcap", 502, 1502),
        ("s7ident.pcap", 102, 1102),
    ] {
        let base = passive::import_path(&dir.join(file), &ImportOptions::default()).unwrap();
        let r = import(file, &moved(&dir, file, port, to));
        let strip = |ids: Vec<(IpAddr, Identity)>| -> Vec<(IpAddr, Identity)> {
            ids.into_iter()
                .map(|(ip, id)| match id {
                    // The TSAP comes from the COTP connect, which the detection consumes.
                    Identity::S7(mut s) => {
                        s.tsap = None;
                        (ip, Identity::S7(s))
                    }
                    other => (ip, other),
                })
                .collect()
        };
        let want = strip(identities(&base));
        assert!(!want.is_empty(), "{file}");
        assert_eq!(strip(identities(&r)), want, "{file} on port {to}");
        assert!(r.stats.heuristic_flows >= 1, "{file}");
    }
}

// ---------------------------------------------------------------------------------------
// 5. Link and capture features.

#[test]
fn ip_fragments_are_reassembled_in_any_order() {
    let (req, rsp) = modbus_devid_pair(8, 1);
    let (c, s) = ("10.6.0.1", "10.6.0.2");
    // The reply's IP payload (TCP header and Modbus) cut at 24 bytes, last piece first.
    let seg = tcp(502, 40000, 1, PSH_ACK, &rsp);
    let frames = vec![
        eth(
            mac(2),
            mac(1),
            &ipv4(c, s, 6, 0, &tcp(40000, 502, 1, PSH_ACK, &req)),
        ),
        eth(mac(1), mac(2), &ipv4(s, c, 6, 0x0003, &seg[24..])),
        eth(mac(1), mac(2), &ipv4(s, c, 6, 0x2000, &seg[..24])),
    ];
    let r = import("frag.pcap", &pcap(1, &frames));
    assert_eq!((r.stats.ip_fragments, r.stats.ip_reassembled), (2, 1));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let ids = identities(&r);
    assert_eq!(ids.len(), 1, "{:#?}", r.observations);
    assert_eq!(ids[0].0, ip(s));
}

#[test]
fn ip_fragments_with_a_piece_missing_are_counted_and_reported() {
    let (req, _) = modbus_devid_pair(1, 1);
    let seg = tcp(40000, 502, 1, PSH_ACK, &req);
    let frames = vec![
        // Bytes 0-15 and 24-: the piece at 16 never arrives.
        eth(
            mac(2),
            mac(1),
            &ipv4("10.6.0.1", "10.6.0.2", 6, 0x2000, &seg[..16]),
        ),
        eth(
            mac(2),
            mac(1),
            &ipv4("10.6.0.1", "10.6.0.2", 6, 0x0003, &seg[24..]),
        ),
    ];
    let r = import("frag.pcap", &pcap(1, &frames));
    assert_eq!(r.stats.ip_fragments, 2);
    assert_eq!(r.stats.ip_fragments_dropped, 2);
    assert_eq!(r.stats.tcp_segments, 0);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("2 of 2 IP fragments could not be reassembled")),
        "{:?}",
        r.warnings
    );
}

/// A pcapng section in either byte order with two interfaces: Ethernet at microseconds
/// and raw IPv4 at nanoseconds (`if_tsresol` 9).
fn pcapng_two_interfaces(big_endian: bool, eth_frame: &[u8], raw_frame: &[u8]) -> Vec<u8> {
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let block = |out: &mut Vec<u8>, kind: u32, body: &[u8]| {
        let pad = (4 - body.len() % 4) % 4;
        let len = (12 + body.len() + pad) as u32;
        out.extend(u32b(kind));
        out.extend(u32b(len));
        out.extend(body);
        out.extend(std::iter::repeat_n(0u8, pad));
        out.extend(u32b(len));
    };
    let mut out = Vec::new();
    let mut shb = u32b(0x1a2b3c4d).to_vec();
    shb.extend(u16b(1));
    shb.extend(u16b(0));
    shb.extend((-1i64).to_le_bytes());
    block(&mut out, 0x0a0d0d0a, &shb);
    let mut idb0 = u16b(1).to_vec();
    idb0.extend(u16b(0));
    idb0.extend(u32b(0));
    block(&mut out, 1, &idb0);
    let mut idb1 = u16b(228).to_vec();
    idb1.extend(u16b(0));
    idb1.extend(u32b(0));
    // if_tsresol (9) = 9: nanoseconds; then opt_endofopt.
    idb1.extend(u16b(9));
    idb1.extend(u16b(1));
    idb1.extend([9, 0, 0, 0]);
    idb1.extend([0, 0, 0, 0]);
    block(&mut out, 1, &idb1);
    for (iface, ts, d) in [
        (0u32, 1_700_000_000u64 * 1_000_000 + 250_000, eth_frame),
        (
            1u32,
            1_700_000_001u64 * 1_000_000_000 + 750_000_000,
            raw_frame,
        ),
    ] {
        let mut epb = u32b(iface).to_vec();
        epb.extend(u32b((ts >> 32) as u32));
        epb.extend(u32b(ts as u32));
        epb.extend(u32b(d.len() as u32));
        epb.extend(u32b(d.len() as u32));
        epb.extend(d);
        epb.extend(std::iter::repeat_n(0u8, (4 - d.len() % 4) % 4));
        block(&mut out, 6, &epb);
    }
    out
}

#[test]
fn pcapng_interfaces_with_their_own_link_types_resolutions_and_byte_order() {
    let (req, rsp) = modbus_devid_pair(4, 2);
    let c = "10.7.0.5";
    let s = "10.7.0.20";
    let eth_frame = eth(
        mac(20),
        mac(5),
        &ipv4(c, s, 6, 0, &tcp(41000, 502, 1, PSH_ACK, &req)),
    );
    let raw_frame = ipv4(s, c, 6, 0, &tcp(502, 41000, 1, PSH_ACK, &rsp));
    for big_endian in [false, true] {
        let data = pcapng_two_interfaces(big_endian, &eth_frame, &raw_frame);
        let r = import("two.pcapng", &data);
        assert!(r.stopped.is_none(), "{:?}", r.stopped);
        assert_eq!(r.stats.frames, 2);
        let ids = identities(&r);
        assert_eq!(
            ids.len(),
            1,
            "big endian {big_endian}: {:#?}",
            r.observations
        );
        let id = r
            .observations
            .iter()
            .find(|o| matches!(o.fact, Fact::Identity { .. }))
            .unwrap();
        // The reply is on the nanosecond interface: 1_700_000_001.75.
        assert_eq!(
            id.seen.map(|t| t.timestamp_millis()),
            Some(1_700_000_001_750),
            "big endian {big_endian}"
        );
        let Identity::Modbus(m) = &ids[0].1 else {
            panic!()
        };
        assert_eq!(m.unit_id, 2);
    }
}

#[test]
fn linux_cooked_broadcast_packet_type_marks_the_destination() {
    // SLL packet type 1 (broadcast) to a directed broadcast address.
    let ip = ipv4(
        "10.8.0.5",
        "10.8.0.255",
        17,
        0,
        &udp(50000, 44818, &list_identity_request(3)),
    );
    let mut f = vec![0, 1, 0, 1, 0, 6];
    f.extend(mac(5));
    f.extend([0, 0, 0x08, 0x00]);
    f.extend(&ip);
    let r = import("sll.pcap", &pcap(113, &[f]));
    assert!(!subjects(&r).contains(&self::ip("10.8.0.255")));
    assert!(subjects(&r).contains(&self::ip("10.8.0.5")));
}

fn operations(r: &ImportReport) -> Vec<(IpAddr, IpAddr, String, OperationKind, u64)> {
    r.observations
        .iter()
        .filter_map(|o| match &o.fact {
            Fact::Operation {
                actor,
                kind,
                function,
                count,
                ..
            } => Some((o.ip, *actor, function.clone(), *kind, *count)),
            _ => None,
        })
        .collect()
}

#[test]
fn zeek_modbus_detailed_and_s7comm_give_peers_unit_ids_and_operations() {
    // Columns of ICSNPP's Modbus_Detailed record (icsnpp-modbus scripts/main.zeek).
    let text = "#separator \\x09\n#path\tmodbus_detailed\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\ttid\tunit\tfunc\taddress\tquantity\trequest_values\tresponse_values\tmodbus_detailed_link_id\tmatched\trequest_subfunction_code\tresponse_subfunction_code\trequest_data\tresponse_data\texception_code\tmei_type\n\
1700000000.0\tC1\t10.30.0.5\t50000\t10.30.0.10\t502\t1\t1\tWRITE_SINGLE_REGISTER\t10\t1\t7\t7\tL1\tT\t-\t-\t-\t-\t-\t-\n\
1700000001.0\tC1\t10.30.0.5\t50000\t10.30.0.10\t502\t2\t1\tWRITE_SINGLE_REGISTER\t10\t1\t8\t8\tL2\tT\t-\t-\t-\t-\t-\t-\n\
1700000002.0\tC1\t10.30.0.5\t50000\t10.30.0.10\t502\t3\t1\tREAD_HOLDING_REGISTERS\t0\t2\t-\t1,2\tL3\tT\t-\t-\t-\t-\t-\t-\n\
1700000003.0\tC2\t10.30.0.5\t50001\t10.30.0.99\t502\t4\t1\tWRITE_MULTIPLE_COILS\t0\t8\t1,0,1\t-\tL4\tF\t-\t-\t-\t-\t-\t-\n\
1700000004.0\tC1\t10.30.0.5\t50000\t10.30.0.10\t502\t5\t2\tWRITE_SINGLE_COIL_EXCEPTION\t3\t1\t-\t-\tL5\tT\t-\t-\t-\t-\tILLEGAL_DATA_ADDRESS\t-\n";
    let r = zeek("modbus_detailed.log", text);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let mut ops = operations(&r);
    ops.sort();
    let (t, a) = (ip("10.30.0.10"), ip("10.30.0.5"));
    assert_eq!(
        ops,
        vec![
            (
                t,
                a,
                "modbus.write_single_coil".into(),
                OperationKind::Write,
                1
            ),
            (
                t,
                a,
                "modbus.write_single_register".into(),
                OperationKind::Write,
                2
            ),
        ]
    );
    let units: BTreeSet<String> = r
        .observations
        .iter()
        .filter_map(|o| match &o.fact {
            Fact::Declared { attribute, value }
                if o.ip == t && attribute == passive::hints::ATTR_MODBUS_UNIT =>
            {
                Some(value.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(units, ["1", "2"].iter().map(|s| s.to_string()).collect());
    // The write to a server that never answered is left out, and said.
    assert!(!subjects(&r).contains(&ip("10.30.0.99")));
    assert!(
        r.notes.iter().any(|n| n.contains("operations")),
        "{:?}",
        r.notes
    );

    // Columns of ICSNPP's S7COMM record (icsnpp-s7comm scripts/icsnpp/s7comm/main.zeek).
    let text = "#separator \\x09\n#path\ts7comm\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tis_orig\trosctr_code\trosctr_name\tpdu_reference\tfunction_code\tfunction_name\tsubfunction_code\tsubfunction_name\terror_class\terror_code\n\
1700000000.0\tC1\t10.31.0.5\t50000\t10.31.0.40\t102\tT\t1\tJob-Request\t5\t0x05\tWrite Variable\t-\t-\t-\t-\n\
1700000000.1\tC1\t10.31.0.5\t50000\t10.31.0.40\t102\tF\t3\tACK-Data\t5\t0x05\tWrite Variable\t-\t-\tNo error\t0x00\n\
1700000001.0\tC1\t10.31.0.5\t50000\t10.31.0.40\t102\tT\t1\tJob-Request\t6\t0x29\tPLC Stop\t-\t-\t-\t-\n\
1700000002.0\tC1\t10.31.0.5\t50000\t10.31.0.40\t102\tT\t7\tUser-Data\t7\t0x44\tRequest: CPU functions\t0x01\tRead SZL\t-\t-\n";
    let r = zeek("s7comm.log", text);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let mut ops = operations(&r);
    ops.sort();
    let (t, a) = (ip("10.31.0.40"), ip("10.31.0.5"));
    assert_eq!(
        ops,
        vec![
            (t, a, "s7.plc_stop".into(), OperationKind::Control, 1),
            (t, a, "s7.write_var".into(), OperationKind::Write, 1),
        ]
    );
    assert!(r.observations.iter().any(|o| o.ip == t
        && matches!(
            o.fact,
            Fact::Peer {
                role: Role::Server,
                protocol: Protocol::S7,
                ..
            }
        )));
}

#[test]
fn cli_reassembly_budget_flag_is_applied_and_reported() {
    // 6,000 flows holding 200 bytes each: 1.2 MB, past a 1 MiB budget.
    let mut partial = hex("0001 0000 00fe 01 10");
    partial.resize(200, 0);
    let frames: Vec<Vec<u8>> = (0..6000u32)
        .map(|i| {
            let src = format!("10.10.{}.{}", i / 250, 1 + i % 250);
            eth(
                mac(1),
                mac(2),
                &ipv4(
                    &src,
                    "10.10.250.1",
                    6,
                    0,
                    &tcp(1024 + i as u16, 502, 1, PSH_ACK, &partial),
                ),
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("many.pcap");
    std::fs::write(&cap, pcap(1, &frames)).unwrap();
    let run = |budget: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
            .args(["passive", "--reassembly-budget", budget])
            .arg(&cap)
            .output()
            .unwrap()
    };
    let tight = run("1");
    let out = String::from_utf8_lossy(&tight.stdout);
    assert_eq!(tight.status.code(), Some(1), "{out}");
    assert!(
        out.contains("reassembly memory budget (1048576 bytes)"),
        "{out}"
    );
    let roomy = run("16");
    let out = String::from_utf8_lossy(&roomy.stdout);
    assert_eq!(roomy.status.code(), Some(0), "{out}");
    assert!(!out.contains("budget"), "{out}");
    let refused = run("0");
    assert_eq!(refused.status.code(), Some(2));
}

fn ipv6(src: &str, dst: &str, l4: &[u8]) -> Vec<u8> {
    // A hop-by-hop options header (8 bytes of padding options) before TCP.
    let mut p = vec![0x60, 0, 0, 0];
    p.extend(((8 + l4.len()) as u16).to_be_bytes());
    p.extend([0, 64]);
    p.extend(src.parse::<std::net::Ipv6Addr>().unwrap().octets());
    p.extend(dst.parse::<std::net::Ipv6Addr>().unwrap().octets());
    p.extend([6, 0, 1, 4, 0, 0, 0, 0]);
    p.extend(l4);
    p
}

#[test]
fn ipv6_with_extension_headers_in_vlan_tags() {
    let (req, rsp) = modbus_devid_pair(3, 1);
    let (c, s) = ("2001:db8::5", "2001:db8::20");
    let vlan = |ip: Vec<u8>, src: u8, dst: u8| {
        let mut f = mac(dst).to_vec();
        f.extend(mac(src));
        f.extend([0x81, 0x00, 0x00, 0x0a, 0x86, 0xdd]);
        f.extend(ip);
        f
    };
    let frames = vec![
        vlan(ipv6(c, s, &tcp(41000, 502, 1, PSH_ACK, &req)), 5, 20),
        vlan(ipv6(s, c, &tcp(502, 41000, 1, PSH_ACK, &rsp)), 20, 5),
    ];
    let r = import("v6.pcap", &pcap(1, &frames));
    let ids = identities(&r);
    assert_eq!(ids.len(), 1, "{:#?}", r.observations);
    assert_eq!(ids[0].0, ip(s));
}

#[test]
fn pcapng_obsolete_packet_blocks_are_read_not_dropped() {
    let (req, rsp) = modbus_devid_pair(5, 1);
    let (c, s) = ("10.11.0.5", "10.11.0.20");
    let frames = [
        eth(
            mac(20),
            mac(5),
            &ipv4(c, s, 6, 0, &tcp(41000, 502, 1, PSH_ACK, &req)),
        ),
        eth(
            mac(5),
            mac(20),
            &ipv4(s, c, 6, 0, &tcp(502, 41000, 1, PSH_ACK, &rsp)),
        ),
    ];
    for big_endian in [false, true] {
        let u16b = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let u32b = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let block = |out: &mut Vec<u8>, kind: u32, body: &[u8]| {
            let pad = (4 - body.len() % 4) % 4;
            let len = (12 + body.len() + pad) as u32;
            out.extend(u32b(kind));
            out.extend(u32b(len));
            out.extend(body);
            out.extend(std::iter::repeat_n(0u8, pad));
            out.extend(u32b(len));
        };
        let mut out = Vec::new();
        let mut shb = u32b(0x1a2b3c4d).to_vec();
        shb.extend(u16b(1));
        shb.extend(u16b(0));
        shb.extend((-1i64).to_le_bytes());
        block(&mut out, 0x0a0d0d0a, &shb);
        let mut idb = u16b(1).to_vec();
        idb.extend(u16b(0));
        idb.extend(u32b(0));
        block(&mut out, 1, &idb);
        for (i, f) in frames.iter().enumerate() {
            let ts = 1_700_000_000u64 * 1_000_000 + i as u64;
            let mut pb = u16b(0).to_vec();
            pb.extend(u16b(0));
            pb.extend(u32b((ts >> 32) as u32));
            pb.extend(u32b(ts as u32));
            pb.extend(u32b(f.len() as u32));
            pb.extend(u32b(f.len() as u32));
            pb.extend(f);
            block(&mut out, 2, &pb);
        }
        let r = import("old.pcapng", &out);
        assert!(r.stopped.is_none(), "{:?}", r.stopped);
        assert_eq!(r.stats.frames, 2, "big endian {big_endian}");
        assert_eq!(identities(&r).len(), 1, "big endian {big_endian}");
    }
}

#[test]
fn zeek_cip_log_gives_cip_writes_and_control() {
    // Columns of ICSNPP's CIP_Header record (icsnpp-enip scripts/icsnpp/enip/main.zeek).
    let text = "#separator \\x09\n#path\tcip\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tis_orig\tsource_h\tsource_p\tdestination_h\tdestination_p\tpacket_correlation_id\tcip_sequence_count\tdirection\tcip_service_code\tcip_service\tcip_status_code\tcip_status\tcip_extended_status_code\tcip_extended_status\tclass_id\tclass_name\tinstance_id\tattribute_id\n\
1700000000.0\tC1\t10.32.0.5\t50000\t10.32.0.20\t44818\tT\t10.32.0.5\t50000\t10.32.0.20\t44818\tP1\t1\trequest\t0x10\tSet_Attribute_Single\t-\t-\t-\t-\t0xf5\tTCP/IP Interface\t0x01\t0x03\n\
1700000000.1\tC1\t10.32.0.5\t50000\t10.32.0.20\t44818\tF\t10.32.0.20\t44818\t10.32.0.5\t50000\tP2\t1\tresponse\t0x90\tSet_Attribute_Single\t0x00\tSuccess\t-\t-\t-\t-\t-\t-\n\
1700000001.0\tC1\t10.32.0.5\t50000\t10.32.0.20\t44818\tT\t10.32.0.5\t50000\t10.32.0.20\t44818\tP3\t2\trequest\t0x05\tReset\t-\t-\t-\t-\t0x01\tIdentity\t0x01\t-\n\
1700000002.0\tC1\t10.32.0.5\t50000\t10.32.0.20\t44818\tT\t10.32.0.5\t50000\t10.32.0.20\t44818\tP4\t3\trequest\t0x0e\tGet_Attribute_Single\t-\t-\t-\t-\t0x01\tIdentity\t0x01\t0x07\n";
    let r = zeek("cip.log", text);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let mut ops = operations(&r);
    ops.sort();
    let (t, a) = (ip("10.32.0.20"), ip("10.32.0.5"));
    assert_eq!(
        ops,
        vec![
            (t, a, "cip.reset".into(), OperationKind::Control, 1),
            (
                t,
                a,
                "cip.set_attribute_single".into(),
                OperationKind::Write,
                1
            ),
        ]
    );
}
