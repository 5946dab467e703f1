//! Differential conformance against Wireshark's dissectors (issue 14, deliverable 3):
//! otscout's passive identities against tshark's on every capture in `OTSCOUT_CAPTURES`
//! (and the folders in `OTSCOUT_EXTRA_CAPTURES`), every difference explained in
//! `tests/conformance/explanations.toml`; and the harness itself, on hand-built frames
//! with a planted disagreement.
//!
//! The same library code runs as `cargo run --example conformance -- DIR`.
//! Without tshark these tests say they skipped, unless `OTSCOUT_REQUIRE_TOOLS=1` (CI).

use std::path::{Path, PathBuf};

use otscout::conformance::{self, CaptureResult, Explanations, Status};

use crate::support;

const TSHARK: &str = "tshark";

fn explanations_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/explanations.toml")
}

/// True when tshark runs; otherwise says the test skipped (or fails it under
/// `OTSCOUT_REQUIRE_TOOLS=1`).
fn have_tshark(test: &str) -> bool {
    match conformance::tshark::version(Path::new(TSHARK)) {
        Ok(_) => true,
        Err(e) => {
            assert!(
                std::env::var("OTSCOUT_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "{test}: OTSCOUT_REQUIRE_TOOLS=1 but {e}"
            );
            eprintln!("skipped {test}: {e}");
            false
        }
    }
}

fn check_all(dirs: &[PathBuf], ex: &Explanations) -> (Vec<CaptureResult>, String) {
    let mut results = Vec::new();
    let mut tables = String::new();
    let mut files = Vec::new();
    for dir in dirs {
        files.extend(
            conformance::captures_in(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())),
        );
    }
    for (f, r) in files.iter().zip(conformance::check_captures(
        &files,
        Path::new(TSHARK),
        ex,
        4,
    )) {
        let r = r.unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        tables.push_str(&conformance::render(&r));
        results.push(r);
    }
    (results, tables)
}

#[test]
fn shared_captures_agree_with_tshark_or_the_difference_is_explained() {
    let test = "shared_captures_agree_with_tshark_or_the_difference_is_explained";
    // Folders the project does not ship are checked the same way, with or without the
    // shared captures.
    let extra: Vec<PathBuf> = std::env::var_os("OTSCOUT_EXTRA_CAPTURES")
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    let shared = if extra.is_empty() || std::env::var_os("OTSCOUT_CAPTURES").is_some() {
        support::captures_dir(test)
    } else {
        eprintln!("{test}: OTSCOUT_CAPTURES is not set: checking OTSCOUT_EXTRA_CAPTURES only");
        None
    };
    if shared.is_none() && extra.is_empty() {
        return;
    }
    if !have_tshark(test) {
        return;
    }
    let ex = Explanations::load(&explanations_path()).unwrap();
    let dirs: Vec<PathBuf> = shared.iter().cloned().chain(extra).collect();
    let (results, tables) = check_all(&dirs, &ex);
    eprintln!("{tables}");
    let unexplained: Vec<String> = results
        .iter()
        .flat_map(|r| {
            r.unexplained().map(move |row| {
                format!(
                    "{}: {} {} {} {} ({})",
                    r.name,
                    row.status.as_str(),
                    row.device,
                    row.spec,
                    row.key,
                    row.unexplained.join(", ")
                )
            })
        })
        .collect();
    assert!(
        unexplained.is_empty(),
        "differences with no entry in {}:\n{}\n\n{tables}",
        explanations_path().display(),
        unexplained.join("\n")
    );
    let stale: Vec<String> = ex.stale(&results).iter().map(|e| e.describe()).collect();
    assert!(
        stale.is_empty(),
        "explanations that match no difference any more (remove them):\n{}",
        stale.join("\n")
    );
    if shared.is_none() {
        return;
    }
    // The harness compared something: the identities INDEX.md names were found by both
    // sides and agree (a tshark field renamed, or output not read, would leave them
    // "only otscout").
    for (capture, spec) in [
        ("enip_test.pcap", "enip.list_identity"),
        ("cpppo-client-list-identity-udp.pcap", "enip.list_identity"),
        ("EIP-FirmwareChange_slice.pcap", "cip.identity"),
        ("modbus_example.pcap", "modbus"),
        ("pymodbus-client-vs-pymodbus.pcap", "modbus"),
        ("pymodbus-client-vs-pymodbus-longid.pcap", "modbus"),
        ("s7comm_reading_plc_status.pcap", "s7"),
        ("s7ident.pcap", "s7"),
        ("bacnet_test.pcap", "bacnet"),
        ("bacnet_services.pcap", "bacnet"),
        ("omron_test.pcap", "fins"),
        ("fox_info.pcap", "fox"),
    ] {
        let r = results
            .iter()
            .find(|r| r.name == capture)
            .unwrap_or_else(|| panic!("{capture} was not checked"));
        assert!(
            r.rows
                .iter()
                .any(|row| row.spec == spec && row.status == Status::Agree && row.fields >= 3),
            "{capture}: no {spec} identity on which both agree\n{}",
            conformance::render(r)
        );
    }
    // The capture of writes alone: no identity on either side.
    let writes = results
        .iter()
        .find(|r| r.name == "s7comm_varservice_libnodavedemo.pcap")
        .unwrap();
    assert!(writes.rows.is_empty(), "{}", conformance::render(writes));
}

#[test]
fn the_explanations_file_reads_and_every_entry_has_a_reason() {
    let ex = Explanations::load(&explanations_path()).unwrap();
    for e in &ex.entries {
        assert!(!e.reason.trim().is_empty(), "{}", e.describe());
        if let Some(p) = &e.pending {
            assert!(p.starts_with("issue "), "pending names its issue: {p}");
        }
    }
}

// ----- hand-built frames -----

fn v4(s: &str) -> [u8; 4] {
    s.parse::<std::net::Ipv4Addr>().unwrap().octets()
}

fn ethernet(ip: Vec<u8>) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    f.extend(ip);
    f
}

fn ipv4(src: &str, dst: &str, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0];
    p.extend(v4(src));
    p.extend(v4(dst));
    p.extend(l4);
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p
}

fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = sport.to_be_bytes().to_vec();
    t.extend(dport.to_be_bytes());
    t.extend(seq.to_be_bytes());
    t.extend(ack.to_be_bytes());
    t.extend([0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
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

/// A little-endian microsecond pcap, Ethernet.
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0xa1b2c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend([0; 8]);
    out.extend(65535u32.to_le_bytes());
    out.extend(1u32.to_le_bytes());
    for (i, d) in frames.iter().enumerate() {
        out.extend((1_700_000_000u32 + i as u32).to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend((d.len() as u32).to_le_bytes());
        out.extend((d.len() as u32).to_le_bytes());
        out.extend(d);
    }
    out
}

/// A TCP connection `client:40000` to `server:port`: handshake, then the payloads in
/// turn (`true`: from the client), each acknowledged.
fn tcp_exchange(client: &str, server: &str, port: u16, msgs: &[(bool, Vec<u8>)]) -> Vec<Vec<u8>> {
    const SYN: u8 = 0x02;
    const SYN_ACK: u8 = 0x12;
    const ACK: u8 = 0x10;
    const PSH_ACK: u8 = 0x18;
    let (mut cseq, mut sseq) = (1000u32, 5000u32);
    let c = |seq, ack, flags, p: &[u8]| {
        ethernet(ipv4(
            client,
            server,
            6,
            &tcp(40000, port, seq, ack, flags, p),
        ))
    };
    let s = |seq, ack, flags, p: &[u8]| {
        ethernet(ipv4(
            server,
            client,
            6,
            &tcp(port, 40000, seq, ack, flags, p),
        ))
    };
    let mut out = vec![c(cseq, 0, SYN, &[]), s(sseq, cseq + 1, SYN_ACK, &[])];
    cseq += 1;
    sseq += 1;
    out.push(c(cseq, sseq, ACK, &[]));
    for (from_client, p) in msgs {
        if *from_client {
            out.push(c(cseq, sseq, PSH_ACK, p));
            cseq += p.len() as u32;
            out.push(s(sseq, cseq, ACK, &[]));
        } else {
            out.push(s(sseq, cseq, PSH_ACK, p));
            sseq += p.len() as u32;
            out.push(c(cseq, sseq, ACK, &[]));
        }
    }
    out
}

/// Modbus FC 43/14 read code 1 to `unit`, and a reply that carries `reply_unit` in its
/// MBAP header with VendorName and ProductCode (MAP 6.21; MBAP: Modbus/TCP 3.1.3).
fn modbus_devid(tid: u16, unit: u8, reply_unit: u8) -> (Vec<u8>, Vec<u8>) {
    let mut req = tid.to_be_bytes().to_vec();
    req.extend([0, 0, 0, 5, unit, 0x2b, 0x0e, 0x01, 0x00]);
    let mut pdu = vec![reply_unit, 0x2b, 0x0e, 0x01, 0x83, 0x00, 0x00, 0x02];
    for (id, v) in [(0u8, &b"Planted Vendor"[..]), (1, b"PV-1")] {
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

/// ENIP List Identity request (24-byte header, no body) and a reply with one identity
/// item 0x0C (ODVA Vol. 2, 2-4.3; little-endian, the socket address big-endian).
fn list_identity(device: &str) -> (Vec<u8>, Vec<u8>) {
    let req = vec![
        0x63, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0,
    ];
    let name = b"Planted 1756-ENBT/A";
    let mut item = 1u16.to_le_bytes().to_vec(); // encapsulation version
    item.extend(2u16.to_be_bytes()); // sin_family
    item.extend(44818u16.to_be_bytes());
    item.extend(v4(device));
    item.extend([0; 8]);
    item.extend(1u16.to_le_bytes()); // vendor
    item.extend(12u16.to_le_bytes()); // device type
    item.extend(58u16.to_le_bytes()); // product code
    item.extend([4, 3]); // revision 4.3
    item.extend(0x0030u16.to_le_bytes());
    item.extend(0x0a0b0c0du32.to_le_bytes());
    item.push(name.len() as u8);
    item.extend(name);
    item.push(3);
    let mut body = 1u16.to_le_bytes().to_vec();
    body.extend(0x000cu16.to_le_bytes());
    body.extend((item.len() as u16).to_le_bytes());
    body.extend(item);
    let mut rsp = vec![0x63, 0x00];
    rsp.extend((body.len() as u16).to_le_bytes());
    rsp.extend([0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0]);
    rsp.extend(body);
    (req, rsp)
}

/// The planted capture: a Modbus gateway 10.9.0.2 asked for unit 1 answers with unit 9 in
/// its header. otscout files the objects under the unit the request addressed (a gateway
/// may rewrite the id; protocols/modbus/passive.rs), tshark reports the reply's: a stable,
/// known disagreement on the key. Beside it, an ENIP device on UDP both read alike. The
/// ENIP half is written gzip-compressed, which both sides read.
fn planted_captures(dir: &Path) {
    let (req, rsp) = modbus_devid(7, 1, 9);
    let frames = tcp_exchange("10.9.0.1", "10.9.0.2", 502, &[(true, req), (false, rsp)]);
    std::fs::write(dir.join("planted-modbus.pcap"), pcap(&frames)).unwrap();
    let (req, rsp) = list_identity("10.9.0.3");
    let frames = vec![
        ethernet(ipv4("10.9.0.1", "10.9.0.3", 17, &udp(50000, 44818, &req))),
        ethernet(ipv4("10.9.0.3", "10.9.0.1", 17, &udp(44818, 50000, &rsp))),
    ];
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &pcap(&frames)).unwrap();
    std::fs::write(dir.join("planted-enip.pcap.gz"), gz.finish().unwrap()).unwrap();
    // Modbus on port 5020: otscout finds it from the payload, and the harness adds the port
    // to tshark's Modbus/TCP port preference (without it tshark sees no Modbus; with a
    // decode-as instead, it cannot tell the reply from the request and prints no objects).
    let (req, rsp) = modbus_devid(8, 1, 1);
    let frames = tcp_exchange("10.9.0.1", "10.9.0.4", 5020, &[(true, req), (false, rsp)]);
    std::fs::write(dir.join("heuristic-modbus.pcap"), pcap(&frames)).unwrap();
    // Not a capture: skipped by content, whatever its name.
    std::fs::write(dir.join("notes.pcap"), "not a capture\n").unwrap();
}

#[test]
fn a_planted_disagreement_is_reported_and_fails_until_explained() {
    let test = "a_planted_disagreement_is_reported_and_fails_until_explained";
    if !have_tshark(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    planted_captures(tmp.path());
    let files = conformance::captures_in(tmp.path()).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "heuristic-modbus.pcap",
            "planted-enip.pcap.gz",
            "planted-modbus.pcap"
        ]
    );

    let (results, tables) = check_all(&[tmp.path().to_path_buf()], &Explanations::default());
    let heuristic = &results[0];
    assert!(
        heuristic
            .tshark_args
            .windows(2)
            .any(|w| w == ["-o", "mbtcp.tcp.port:502,5020"]),
        "{:?}",
        heuristic.tshark_args
    );
    assert_eq!(heuristic.rows.len(), 1, "{tables}");
    assert_eq!(heuristic.rows[0].status, Status::Agree, "{tables}");
    assert_eq!(heuristic.rows[0].device.to_string(), "10.9.0.4");
    let enip = &results[1];
    assert_eq!(enip.rows.len(), 1, "{tables}");
    assert_eq!(enip.rows[0].status, Status::Agree, "{tables}");
    assert_eq!(enip.rows[0].spec, "enip.list_identity");
    assert_eq!(enip.rows[0].key, "0x0a0b0c0d");
    assert_eq!(enip.rows[0].tshark_frames, [2]);
    assert_eq!(enip.rows[0].fields, 10, "{tables}");

    let modbus = &results[2];
    assert_eq!(modbus.rows.len(), 1, "{tables}");
    let row = &modbus.rows[0];
    assert_eq!(row.status, Status::Differ, "{tables}");
    assert_eq!(row.device.to_string(), "10.9.0.2");
    assert_eq!(row.spec, "modbus");
    assert_eq!(row.key, "1 | 9");
    assert_eq!(row.diffs.len(), 1, "{tables}");
    assert_eq!(row.diffs[0].field, "key");
    assert_eq!(row.diffs[0].otscout.as_deref(), Some("1"));
    assert_eq!(row.diffs[0].tshark.as_deref(), Some("9"));
    // The frames: the reply is frame 6 (handshake 1-3, request 4, its ACK 5).
    assert_eq!(row.otscout_frames, [6]);
    assert_eq!(row.tshark_frames, [6]);
    assert_eq!(row.unexplained, ["key"]);
    assert!(tables.contains("NOT EXPLAINED (key)"), "{tables}");
    assert_eq!(conformance::totals(&results).unexplained, 1);

    // Explained, it passes; an entry for a difference that is not there is stale.
    let ex = Explanations::parse(
        r#"
        [[explanation]]
        capture = "planted-modbus.pcap"
        protocol = "modbus"
        device = "10.9.0.2"
        status = "differ"
        field = "key"
        reason = "planted: otscout keys on the unit the request addressed, tshark on the reply's"

        [[explanation]]
        capture = "planted-enip.pcap.gz"
        protocol = "enip.list_identity"
        status = "differ"
        field = "product_name"
        reason = "planted: a difference that is not there"
        "#,
    )
    .unwrap();
    let (results, tables) = check_all(&[tmp.path().to_path_buf()], &ex);
    assert_eq!(conformance::totals(&results).unexplained, 0, "{tables}");
    assert!(
        tables.contains("explained: planted: otscout keys"),
        "{tables}"
    );
    let stale = ex.stale(&results);
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].capture, "planted-enip.pcap.gz");
}

/// One record of a legacy pcap: its 16-byte header and its data.
type PcapRecord = (Vec<u8>, Vec<u8>);

/// The file header and the records of a legacy little- or big-endian pcap.
fn pcap_records(file: &[u8]) -> (Vec<u8>, Vec<PcapRecord>) {
    let le = file[..4] == [0xd4, 0xc3, 0xb2, 0xa1];
    let u32_at = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut recs = Vec::new();
    let mut at = 24;
    while at + 16 <= file.len() {
        let caplen = u32_at(&file[at + 8..]) as usize;
        let data = file[at + 16..at + 16 + caplen].to_vec();
        recs.push((file[at..at + 16].to_vec(), data));
        at += 16 + caplen;
    }
    (file[..24].to_vec(), recs)
}

/// Splits an Ethernet/IPv4/TCP frame's payload at `cut` into two frames with consistent
/// sequence numbers and IP lengths (checksums are not checked by either side).
fn split_tcp_frame(frame: &[u8], cut: usize) -> (Vec<u8>, Vec<u8>) {
    let ip = 14;
    let ihl = usize::from(frame[ip] & 0x0f) * 4;
    let tcp = ip + ihl;
    let doff = usize::from(frame[tcp + 12] >> 4) * 4;
    let head = &frame[..tcp + doff];
    let payload = &frame[tcp + doff..];
    let part = |bytes: &[u8], seq_add: u32| {
        let mut f = head.to_vec();
        let total = (ihl + doff + bytes.len()) as u16;
        f[ip + 2..ip + 4].copy_from_slice(&total.to_be_bytes());
        let seq = u32::from_be_bytes(f[tcp + 4..tcp + 8].try_into().unwrap()) + seq_add;
        f[tcp + 4..tcp + 8].copy_from_slice(&seq.to_be_bytes());
        f.extend(bytes);
        f
    };
    (part(&payload[..cut], 0), part(&payload[cut..], cut as u32))
}

/// Issue 14's first reproduction, built from the shared capture: `enip_test.pcap` with
/// the List Identity reply (frame 7, 75 bytes of payload) cut into 30 and 45 bytes.
/// tshark reassembles it; otscout (until the "passive" fix of issue 14 lands) loses it.
/// The difference is listed as pending in the explanations file, so this test fails once
/// the fix lands and the entry is stale: that is the signal to remove it; with the entry
/// gone, the test expects both sides to agree.
#[test]
fn the_oracle_catches_the_enip_reply_split_across_segments() {
    let test = "the_oracle_catches_the_enip_reply_split_across_segments";
    let Some(dir) = support::captures_dir(test) else {
        return;
    };
    if !have_tshark(test) {
        return;
    }
    let file = std::fs::read(dir.join("enip_test.pcap")).unwrap();
    let (header, recs) = pcap_records(&file);
    let le = header[..4] == [0xd4, 0xc3, 0xb2, 0xa1];
    let mut out = header.clone();
    for (i, (rh, data)) in recs.iter().enumerate() {
        let pieces = if i + 1 == 7 {
            let (a, b) = split_tcp_frame(data, 30);
            assert_eq!(
                b.len() - (data.len() - 75),
                45,
                "frame 7 holds 75 bytes of payload"
            );
            vec![a, b]
        } else {
            vec![data.clone()]
        };
        for p in pieces {
            let mut h = rh.clone();
            let len = p.len() as u32;
            let len = if le {
                len.to_le_bytes()
            } else {
                len.to_be_bytes()
            };
            h[8..12].copy_from_slice(&len);
            h[12..16].copy_from_slice(&len);
            out.extend(h);
            out.extend(p);
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("enip_test-split-reply.pcap"), out).unwrap();
    let ex = Explanations::load(&explanations_path()).unwrap();
    let (results, tables) = check_all(&[tmp.path().to_path_buf()], &ex);
    // tshark sees the identity in the second piece (frame 8 of the rewritten capture).
    let row = results[0]
        .rows
        .iter()
        .find(|r| r.spec == "enip.list_identity")
        .unwrap_or_else(|| panic!("no list identity row\n{tables}"));
    assert_eq!(row.device.to_string(), "10.1.1.164", "{tables}");
    assert_eq!(row.tshark_frames, [8], "{tables}");
    let stale: Vec<String> = ex.stale(&results).iter().map(|e| e.describe()).collect();
    assert!(
        stale.is_empty(),
        "the split reply is no longer lost: remove these entries from {}:\n{}\n\n{tables}",
        explanations_path().display(),
        stale.join("\n")
    );
    // Until the fix lands: tshark alone, covered by the pending entry. Once it has landed
    // and the entry is gone: both sides agree. Never an unexplained difference.
    assert!(
        row.unexplained.is_empty(),
        "the split List Identity reply differs in a way no entry explains\n{tables}"
    );
    let pending = ex
        .entries
        .iter()
        .any(|e| e.capture == "enip_test-split-reply.pcap" && e.protocol == "enip.list_identity");
    let expected = if pending {
        Status::OnlyTshark
    } else {
        Status::Agree
    };
    assert_eq!(row.status, expected, "{tables}");
}

/// A capture stopped abruptly ends inside a record: tshark prints every whole frame and
/// then exits 2; the harness still compares them (it used to report the capture as not
/// checked at all) and shows tshark's complaint beside otscout's warning.
#[test]
fn a_capture_cut_short_is_still_compared() {
    let test = "a_capture_cut_short_is_still_compared";
    if !have_tshark(test) {
        return;
    }
    let (req, rsp) = list_identity("10.9.0.5");
    let mut file = pcap(&[
        ethernet(ipv4("10.9.0.1", "10.9.0.5", 17, &udp(50000, 44818, &req))),
        ethernet(ipv4("10.9.0.5", "10.9.0.1", 17, &udp(44818, 50000, &rsp))),
        ethernet(ipv4("10.9.0.1", "10.9.0.5", 17, &udp(50000, 44818, &req))),
    ]);
    // Cut the third record in the middle of its data.
    file.truncate(file.len() - 20);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("cut-short.pcap"), file).unwrap();
    let (results, tables) = check_all(&[tmp.path().to_path_buf()], &Explanations::default());
    let r = &results[0];
    assert_eq!(r.rows.len(), 1, "{tables}");
    assert_eq!(r.rows[0].status, Status::Agree, "{tables}");
    assert_eq!(r.rows[0].tshark_frames, [2], "{tables}");
    assert!(
        r.tshark_warnings.iter().any(|w| w.contains("cut short")),
        "{tables}"
    );
    assert!(tables.contains("tshark warning:"), "{tables}");
}
