//! PROFINET DCP end to end through passive import (issue 17): the layer-2 hook of
//! `passive::packet` and the registry, MAC-only assets and how merge joins them, the Set
//! flagged as an operation; against `ChangeIPUsingDCP.pcap` (exact values from
//! `$OTSCOUT_CAPTURES/INDEX.md`), VLAN and Linux cooked variants of it, arbitrary bytes,
//! and tshark's PROFINET DCP dissector frame by frame.
//!
//! Without `OTSCOUT_CAPTURES` the capture tests say they skipped; without tshark the
//! oracle test says it skipped, unless `OTSCOUT_REQUIRE_TOOLS=1` (CI).

use std::path::Path;
use std::process::Command;

use chrono::Utc;
use otscout::inventory::merge::{Asset, FlagKind};
use otscout::inventory::{
    Fact, Identity, Input, Observation, OperationKind, Protocol, UNSPECIFIED_IP, merge,
};
use otscout::passive::packet::{self, Body, LinkType, linktype};
use otscout::passive::{self, ImportOptions};
use otscout::wire::dcp::Pdu;
use proptest::prelude::*;

use crate::support::captures_dir;

// Golden messages for the registry-wide framing test (tests/it/framing.rs): the DCP PDUs
// of `ChangeIPUsingDCP.pcap` after the EtherType, Ethernet padding dropped.
/// Frame 1: Identify All, Xid 0x01000001, from the engineering PC.
pub const IDENTIFY_REQ: &str = "fefe 05 00 01000001 0001 0004 ffff0000";
/// Frame 2: the SCALANCE X208's Identify response.
pub const IDENTIFY_RES: &str = "feff 05 01 01000001 0000 005e \
    0205 001c 0000 0101 0102 0201 0202 0203 0204 0205 033d 0501 0502 0503 0504 ffff \
    0201 0005 0000 494e43 00 \
    0202 000b 0000 58323038 2d424f5244 00 \
    0203 0006 0000 002a 0a01 \
    0204 0004 0000 0100 \
    0102 000e 0001 c0a80006 ffffff00 c0a80001";
/// Frame 3: Set IP 192.168.0.10/24, gateway 192.168.0.1, saved permanently.
pub const SET_IP: &str = "fefd 04 00 01000001 0000 0012 0102 000e 0001 c0a8000a ffffff00 c0a80001";
/// Frame 4: the Set's answer, no error.
pub const SET_RES: &str = "fefd 04 01 01000001 0000 0008 0504 0003 010200 00";

const SWITCH: &str = "08:00:06:93:cf:32";
const PC: &str = "00:0c:29:ba:09:ea";

/// The Ethernet frames of a legacy pcap, in order.
fn ethernet_frames(file: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let cap = pcap_parser::PcapCapture::from_file(&data).expect("a legacy pcap");
    cap.blocks.iter().map(|b| b.data.to_vec()).collect()
}

/// A legacy pcap (microsecond timestamps, one second apart) of these frames.
fn pcap(linktype: u32, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0xa1b2_c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend([0u8; 8]);
    out.extend(65_535u32.to_le_bytes());
    out.extend(linktype.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend((1_321_868_480 + i as u32).to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend((f.len() as u32).to_le_bytes());
        out.extend((f.len() as u32).to_le_bytes());
        out.extend(f);
    }
    out
}

/// The frame with 802.1Q tags (VLAN ids `vids`) inserted after the MACs.
fn tagged(f: &[u8], vids: &[u16]) -> Vec<u8> {
    let mut out = f[..12].to_vec();
    for v in vids {
        out.extend([0x81, 0x00]);
        out.extend((v & 0x0fff).to_be_bytes());
    }
    out.extend(&f[12..]);
    out
}

/// The frame as Linux cooked capture v1 (LINKTYPE_LINUX_SLL) saw it: packet type, ARPHRD
/// Ethernet, the source MAC, then the EtherType and payload (no destination MAC).
fn sll(f: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0, 1, 0, 6];
    out.extend(&f[6..12]);
    out.extend([0, 0]);
    out.extend(&f[12..]);
    out
}

/// The frame as Linux cooked capture v2 (LINKTYPE_LINUX_SLL2) saw it.
fn sll2(f: &[u8]) -> Vec<u8> {
    let mut out = f[12..14].to_vec();
    out.extend([0, 0, 0, 0, 0, 2, 0, 1, 0, 6]);
    out.extend(&f[6..12]);
    out.extend([0, 0]);
    out.extend(&f[14..]);
    out
}

fn import(name: &str, bytes: &[u8]) -> Vec<Observation> {
    let r = passive::import_bytes(name, bytes, &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(r.warnings.is_empty(), "{name}: {:?}", r.warnings);
    r.observations
}

fn merged(observations: Vec<Observation>) -> Vec<Asset> {
    let input = Input::from_observations(
        "obs.json",
        otscout::inventory::ObservationFile {
            format: "otscout-observations".into(),
            version: 1,
            sources: vec!["ChangeIPUsingDCP.pcap".into()],
            observations,
        },
    );
    merge(&[input], Utc::now()).assets
}

/// The facts of an import without where they came from (frame numbers shift when frames
/// are re-wrapped; the facts must not).
fn facts(obs: &[Observation]) -> Vec<(String, Option<String>, String)> {
    let mut v: Vec<_> = obs
        .iter()
        .map(|o| {
            (
                o.ip.to_string(),
                o.path.clone(),
                serde_json::to_string(&o.fact).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn value(a: &Asset, field: otscout::inventory::merge::AssetField) -> Option<&str> {
    a.value(field)
}

/// Checks the X208's DCP identity and the flagged Set IP on an asset.
fn assert_x208(a: &Asset) {
    use otscout::inventory::merge::AssetField as F;
    assert_eq!(value(a, F::Mac), Some(SWITCH));
    assert_eq!(value(a, F::Hostname), Some("X208-BORD"));
    assert_eq!(value(a, F::Manufacturer), Some("Siemens"));
    assert_eq!(value(a, F::ProductName), Some("INC"));
    assert_eq!(value(a, F::ProductCode), Some("0x002a/0x0a01"));
    assert_eq!(value(a, F::DeviceType), Some("PROFINET io-device"));
    // The address the Identify response quoted is an attribute, never the key.
    assert_eq!(
        a.attributes.get("dcp.ip").map(|f| f.value.as_str()),
        Some("192.168.0.6")
    );
    assert!(a.protocols.contains(&Protocol::ProfinetDcp));
    let [op] = &a.operations[..] else {
        panic!("{:?}", a.operations)
    };
    assert_eq!(
        (
            op.actor,
            op.actor_mac.as_deref(),
            op.kind,
            op.function.as_str(),
            op.count
        ),
        (
            UNSPECIFIED_IP,
            Some(PC),
            OperationKind::Write,
            "profinet_dcp.set_ip",
            1
        )
    );
    let flag = a
        .flags
        .iter()
        .find(|f| f.kind == FlagKind::Operations)
        .expect("the set is flagged");
    assert!(flag.detail.contains(&format!("by mac {PC}")), "{flag:?}");
}

#[test]
fn change_ip_capture_gives_the_x208_joined_to_its_arped_addresses_and_flags_the_set_ip() {
    let test =
        "change_ip_capture_gives_the_x208_joined_to_its_arped_addresses_and_flags_the_set_ip";
    let Some(dir) = captures_dir(test) else {
        return;
    };
    let r = passive::import_path(
        &dir.join("ChangeIPUsingDCP.pcap"),
        &ImportOptions::default(),
    )
    .unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.stats.not_ip, 0, "every DCP frame goes to the analyzer");
    let obs = r.observations;
    // The identity and the Set are about the switch's MAC (0.0.0.0, `mac:` path): a DCP
    // frame has no IP header.
    let about_mac: Vec<&Observation> = obs
        .iter()
        .filter(|o| o.ip == UNSPECIFIED_IP && o.path.as_deref() == Some("mac:08:00:06:93:cf:32"))
        .collect();
    assert_eq!(about_mac.len(), 2, "{obs:#?}");
    let Fact::Identity {
        identity: Identity::ProfinetDcp(id),
    } = &about_mac[0].fact
    else {
        panic!("{:?}", about_mac[0])
    };
    assert_eq!(id.mac, SWITCH);
    assert_eq!(id.name_of_station.as_deref(), Some("X208-BORD"));
    assert_eq!(id.vendor_value.as_deref(), Some("INC"));
    assert_eq!((id.vendor_id, id.device_id), (Some(0x002a), Some(0x0a01)));
    assert_eq!(id.roles, ["io-device"]);
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
    assert!(matches!(
        &about_mac[1].fact,
        Fact::LinkOperation { actor_mac, kind: OperationKind::Write, function, count: 1, .. }
            if actor_mac == PC && function == "profinet_dcp.set_ip"
    ));
    // The switch's ARPs (frames 5 and 6) put its MAC at its old and its new address on
    // this link: both assets get the DCP facts; no MAC-only asset is left.
    let assets = merged(obs);
    let ips: Vec<String> = assets.iter().map(|a| a.ip.to_string()).collect();
    assert_eq!(ips, ["192.168.0.6", "192.168.0.10"]);
    for a in &assets {
        assert!(!a.mac_only());
        assert_x208(a);
    }
}

#[test]
fn without_local_link_evidence_the_x208_is_an_asset_keyed_by_its_mac() {
    let test = "without_local_link_evidence_the_x208_is_an_asset_keyed_by_its_mac";
    let Some(dir) = captures_dir(test) else {
        return;
    };
    // Frames 1-4: the DCP exchange without the ARPs. The Identify response quotes
    // 192.168.0.6: that must not make (or join) an asset at 192.168.0.6.
    let frames = ethernet_frames(&dir.join("ChangeIPUsingDCP.pcap"));
    let obs = import("dcp-only.pcap", &pcap(1, &frames[..4]));
    let assets = merged(obs);
    let [a] = &assets[..] else {
        panic!("{assets:#?}")
    };
    assert!(a.mac_only());
    assert_eq!(a.ip, UNSPECIFIED_IP);
    assert_eq!(a.mac_key(), Some(SWITCH));
    assert_eq!(a.label(), format!("mac {SWITCH}"));
    assert_x208(a);
}

#[test]
fn a_mac_from_another_capture_or_a_routed_source_does_not_join() {
    let test = "a_mac_from_another_capture_or_a_routed_source_does_not_join";
    let Some(dir) = captures_dir(test) else {
        return;
    };
    let frames = ethernet_frames(&dir.join("ChangeIPUsingDCP.pcap"));
    let mut obs = import("dcp-only.pcap", &pcap(1, &frames[..4]));
    // The ARPs, imported as a capture of their own: not the same capture.
    obs.extend(import("arps.pcap", &pcap(1, &frames[4..])));
    let assets = merged(obs);
    let labels: Vec<String> = assets.iter().map(Asset::label).collect();
    assert_eq!(
        labels,
        ["192.168.0.6", "192.168.0.10", "mac 08:00:06:93:cf:32"],
        "MAC-only assets follow the addresses"
    );
    assert!(assets[0].hostname.is_none() && assets[1].hostname.is_none());
    assert_x208(&assets[2]);
}

#[test]
fn vlan_tagged_and_cooked_captures_give_the_same_dcp_facts() {
    let test = "vlan_tagged_and_cooked_captures_give_the_same_dcp_facts";
    let Some(dir) = captures_dir(test) else {
        return;
    };
    let frames = ethernet_frames(&dir.join("ChangeIPUsingDCP.pcap"));
    let plain = facts(&import("plain.pcap", &pcap(1, &frames)));
    for vids in [&[5u16][..], &[100, 7]] {
        let f: Vec<Vec<u8>> = frames.iter().map(|f| tagged(f, vids)).collect();
        assert_eq!(facts(&import("vlan.pcap", &pcap(1, &f))), plain, "{vids:?}");
    }
    // A cooked capture records no destination MAC: the identity pairs with its request by
    // Xid alone; the Set's target (its destination) is unknown, so no operation.
    let without_set: Vec<_> = plain
        .iter()
        .filter(|(_, _, f)| !f.contains("link_operation"))
        .cloned()
        .collect();
    assert_eq!(without_set.len(), plain.len() - 1);
    for (lt, wrap) in [(113u32, sll as fn(&[u8]) -> Vec<u8>), (276, sll2)] {
        let f: Vec<Vec<u8>> = frames.iter().map(|f| wrap(f)).collect();
        assert_eq!(
            facts(&import("cooked.pcap", &pcap(lt, &f))),
            without_set,
            "link type {lt}"
        );
    }
}

/// One row of tshark's PROFINET DCP fields, and the same from our decoder.
fn dcp_row(p: &Pdu, src: &str, dst: &str) -> Vec<String> {
    let id = p.identity();
    let set_ip = p.set_operations().into_iter().find_map(|o| match o {
        otscout::wire::dcp::SetOperation::Ip { ip, .. } => ip,
        _ => None,
    });
    let ip = id.as_ref().and_then(|i| i.ip).or(set_ip);
    let set_name = p.set_operations().into_iter().find_map(|o| match o {
        otscout::wire::dcp::SetOperation::NameOfStation { name, .. } => Some(name),
        _ => None,
    });
    let s = |v: Option<String>| v.unwrap_or_default();
    vec![
        p.frame_id.to_string(),
        p.service_id.to_string(),
        p.service_type.to_string(),
        format!("{:#010x}", p.xid),
        s(id.as_ref()
            .and_then(|i| i.name_of_station.clone())
            .or(set_name)),
        s(id.as_ref()
            .and_then(|i| i.vendor_id)
            .map(|v| format!("{v:#06x}"))),
        s(id.as_ref()
            .and_then(|i| i.device_id)
            .map(|v| format!("{v:#06x}"))),
        s(id.as_ref().and_then(|i| i.vendor_value.clone())),
        s(ip.map(|i| i.address.to_string())),
        s(ip.map(|i| i.mask.to_string())),
        s(ip.map(|i| i.gateway.to_string())),
        s(id.as_ref()
            .and_then(|i| i.device_role)
            .map(|r| format!("{r:#04x}"))),
        src.to_owned(),
        dst.to_owned(),
    ]
}

fn mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Our decoding of every DCP frame of a capture agrees with tshark's, field by field.
pub fn dcp_agrees_with_tshark(file: &Path) -> usize {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-n", "-Y", "pn_dcp", "-T", "fields"])
        .args(["-e", "frame.number", "-e", "pn_rt.frame_id"])
        .args(["-e", "pn_dcp.service_id", "-e", "pn_dcp.service_type"])
        .args(["-e", "pn_dcp.xid"])
        .args(["-e", "pn_dcp.suboption_device_nameofstation"])
        .args(["-e", "pn_dcp.suboption_vendor_id"])
        .args(["-e", "pn_dcp.suboption_device_id"])
        .args(["-e", "pn_dcp.suboption_device_devicevendorvalue"])
        .args(["-e", "pn_dcp.suboption_ip_ip"])
        .args(["-e", "pn_dcp.suboption_ip_subnetmask"])
        .args(["-e", "pn_dcp.suboption_ip_standard_gateway"])
        .args(["-e", "pn_dcp.suboption_device_role"])
        .args(["-e", "eth.src", "-e", "eth.dst"])
        .output()
        .expect("tshark runs");
    assert!(out.status.success(), "tshark on {}", file.display());
    let data = std::fs::read(file).unwrap();
    let frames: Vec<Vec<u8>> = match pcap_parser::PcapCapture::from_file(&data) {
        Ok(cap) => cap.blocks.iter().map(|b| b.data.to_vec()).collect(),
        Err(_) => pcapng_frames(&data),
    };
    let text = String::from_utf8(out.stdout).unwrap();
    let mut checked = 0;
    for line in text.lines() {
        let theirs: Vec<String> = line.split('\t').map(str::to_owned).collect();
        let n: usize = theirs[0].parse().unwrap();
        let f = &frames[n - 1];
        let Some(Body::Link(l)) = packet::decode(linktype::ETHERNET, f).map(|p| p.body) else {
            panic!("frame {n} is not a layer-2 frame");
        };
        assert_eq!(l.kind, LinkType::EtherType(0x8892), "frame {n}");
        let p = Pdu::decode(l.payload).unwrap_or_else(|e| panic!("frame {n}: {e}"));
        let ours = dcp_row(&p, &mac(&l.src), &mac(&l.dst.unwrap()));
        assert_eq!(&ours[..], &theirs[1..], "{} frame {n}", file.display());
        checked += 1;
    }
    checked
}

/// The enhanced packet blocks of a pcapng file (the simulator's captures).
fn pcapng_frames(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 12 <= data.len() {
        let kind = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
        let len = u32::from_le_bytes(data[at + 4..at + 8].try_into().unwrap()) as usize;
        if len < 12 || at + len > data.len() {
            break;
        }
        if kind == 6 {
            let cap = u32::from_le_bytes(data[at + 20..at + 24].try_into().unwrap()) as usize;
            out.push(data[at + 28..at + 28 + cap].to_vec());
        }
        at += len;
    }
    out
}

pub fn have_tshark(test: &str) -> bool {
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

#[test]
fn dcp_fields_agree_with_tshark_on_every_frame_of_the_capture() {
    let test = "dcp_fields_agree_with_tshark_on_every_frame_of_the_capture";
    let Some(dir) = captures_dir(test) else {
        return;
    };
    if !have_tshark(test) {
        return;
    }
    assert_eq!(
        dcp_agrees_with_tshark(&dir.join("ChangeIPUsingDCP.pcap")),
        4
    );
}

#[test]
fn bacnet_ethernet_frames_reach_the_bacnet_analyzer_as_mac_only_stations() {
    let test = "bacnet_ethernet_frames_reach_the_bacnet_analyzer_as_mac_only_stations";
    let Some(dir) = captures_dir(test) else {
        return;
    };
    // bacnet_services.pcap frame 286: an I-Am over 802.3/LLC from 00:e0:c9:00:10:a5,
    // relayed from network 3, MAC 0x6c (device 108, vendor 42).
    let r =
        passive::import_path(&dir.join("bacnet_services.pcap"), &ImportOptions::default()).unwrap();
    let routed = r
        .observations
        .iter()
        .find(|o| {
            o.ip == UNSPECIFIED_IP && o.path.as_deref() == Some("mac:00:e0:c9:00:10:a5 bacnet:3/6c")
        })
        .unwrap_or_else(|| panic!("{:#?}", r.observations));
    let Fact::Identity {
        identity: Identity::Bacnet(b),
    } = &routed.fact
    else {
        panic!("{routed:?}")
    };
    assert_eq!((b.instance, b.vendor_id), (Some(108), Some(42)));
}

#[test]
fn dcp_frames_with_the_layer_2_hook_decode_and_name_their_ethertype() {
    let f = [
        &[
            0x08, 0, 0x06, 0x93, 0xcf, 0x32, 0, 0x0c, 0x29, 0xba, 0x09, 0xea, 0x88, 0x92,
        ][..],
        &crate::support::hex(IDENTIFY_REQ),
    ]
    .concat();
    let p = packet::decode(linktype::ETHERNET, &f).unwrap();
    let Body::Link(l) = p.body else { panic!() };
    assert_eq!(l.kind, LinkType::EtherType(0x8892));
    assert_eq!(l.dst, Some([0x08, 0, 0x06, 0x93, 0xcf, 0x32]));
    assert_eq!(l.payload, &crate::support::hex(IDENTIFY_REQ)[..]);
    // 802.3: a length, then LLC; the padding past the length is not LLC data.
    let mut llc = f[..12].to_vec();
    llc.extend([0x00, 0x05, 0x82, 0x82, 0x03, 0x01, 0x20, 0, 0, 0, 0]);
    let p = packet::decode(linktype::ETHERNET, &llc).unwrap();
    let Body::Link(l) = p.body else { panic!() };
    assert_eq!(
        l.kind,
        LinkType::Llc {
            dsap: 0x82,
            ssap: 0x82
        }
    );
    assert_eq!(l.payload, [0x82, 0x82, 0x03, 0x01, 0x20]);
}

/// A DCP frame between the PC and the switch of `ChangeIPUsingDCP.pcap`: requests from
/// the PC, responses from the switch.
fn dcp_frame(payload: &[u8]) -> Vec<u8> {
    let pc = [0, 0x0c, 0x29, 0xba, 0x09, 0xea];
    let switch = [0x08, 0, 0x06, 0x93, 0xcf, 0x32];
    // ServiceType (byte 3 of the PDU): 0 request, 1 response.
    let (src, dst) = match payload.get(3) {
        Some(1) => (switch, pc),
        _ => (pc, switch),
    };
    let mut f = dst.to_vec();
    f.extend(src);
    f.extend([0x88, 0x92]);
    f.extend(payload);
    f
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any bytes under any link type decode or not, never panic.
    #[test]
    fn arbitrary_layer_2_bytes_never_panic(
        lt in prop::sample::select(vec![
            linktype::ETHERNET, linktype::LINUX_SLL, linktype::LINUX_SLL2, linktype::RAW,
        ]),
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let _ = packet::decode(lt, &bytes);
    }

    /// Any DCP payload (a real PDU's prefix with arbitrary bytes after, or arbitrary
    /// bytes) and any 802.3/LLC frame go through the whole import without panic or
    /// warning.
    #[test]
    fn arbitrary_dcp_and_llc_payloads_import_without_panic(
        cut in 0usize..120,
        tail in prop::collection::vec(any::<u8>(), 0..80),
        llc_len in 0u16..1600,
    ) {
        let mut frames = Vec::new();
        for golden in [IDENTIFY_REQ, IDENTIFY_RES, SET_IP, SET_RES] {
            let g = crate::support::hex(golden);
            let mut p = g[..cut.min(g.len())].to_vec();
            p.extend(&tail);
            frames.push(dcp_frame(&p));
        }
        let mut llc = dcp_frame(&[]);
        llc.truncate(12);
        // Any length, honest or not: the LLC PDU is cut to it or to what is there.
        llc.extend(llc_len.to_be_bytes());
        llc.extend([0x82, 0x82, 0x03]);
        llc.extend(&tail);
        frames.push(llc);
        let r = passive::import_bytes("fuzz.pcap", &pcap(1, &frames), &ImportOptions::default())
            .unwrap();
        prop_assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    /// One or two 802.1Q tags with any VLAN ids give the same facts as the untagged frames.
    #[test]
    fn vlan_tags_never_change_the_dcp_facts(
        vids in prop::collection::vec(0u16..4096, 1..3),
    ) {
        let frames: Vec<Vec<u8>> = [IDENTIFY_REQ, IDENTIFY_RES, SET_IP, SET_RES]
            .iter()
            .map(|g| dcp_frame(&crate::support::hex(g)))
            .collect();
        let plain = facts(&import("plain.pcap", &pcap(1, &frames)));
        prop_assert_eq!(plain.len(), 2);
        let t: Vec<Vec<u8>> = frames.iter().map(|f| tagged(f, &vids)).collect();
        prop_assert_eq!(facts(&import("vlan.pcap", &pcap(1, &t))), plain);
    }
}

/// The simulator's DCP frames (its own writer, not `wire/`) read the same in tshark as in
/// otscout: the demo capture's Identify, response and Set NameOfStation.
#[test]
fn the_demo_captures_dcp_frames_agree_with_tshark() {
    let test = "the_demo_captures_dcp_frames_agree_with_tshark";
    if !have_tshark(test) {
        return;
    }
    let plant =
        otscout_sim::Plant::from_toml_str(include_str!("../../simulators/plants/demo.toml"))
            .expect("demo plant");
    let mut cap = Vec::new();
    otscout_sim::hmi::write_pcapng(&plant, &otscout_sim::hmi::HmiOptions::default(), &mut cap)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hmi.pcapng");
    std::fs::write(&file, &cap).unwrap();
    assert_eq!(dcp_agrees_with_tshark(&file), 4);
}

/// Set NameOfStation, factory reset and signal from the engineering PC, and a Hello from
/// the device, through the whole import: each a flagged operation on the device's MAC.
#[test]
fn every_dcp_set_and_a_hello_are_flagged_operations() {
    let set =
        "fefd 04 00 00000007 0000 0018 0506 0002 0002 0503 0004 0000 0100 0202 0005 0000 706c63 00";
    let hello = "fefc 06 00 00000009 0000 000c 0202 0007 0000 706c632d31 00";
    let mut hello_frame = vec![0x01, 0x0e, 0xcf, 0x00, 0x00, 0x01];
    hello_frame.extend([0x08, 0, 0x06, 0x93, 0xcf, 0x32, 0x88, 0x92]);
    hello_frame.extend(crate::support::hex(hello));
    let frames = vec![dcp_frame(&crate::support::hex(set)), hello_frame];
    let assets = merged(import("sets.pcap", &pcap(1, &frames)));
    let [a] = &assets[..] else {
        panic!("{assets:#?}")
    };
    assert_eq!(a.mac_key(), Some(SWITCH));
    let ops: Vec<(&str, OperationKind, Option<&str>)> = a
        .operations
        .iter()
        .map(|o| (o.function.as_str(), o.kind, o.actor_mac.as_deref()))
        .collect();
    assert_eq!(
        ops,
        [
            (
                "profinet_dcp.set_name_of_station",
                OperationKind::Write,
                Some(PC)
            ),
            (
                "profinet_dcp.factory_reset",
                OperationKind::Control,
                Some(PC)
            ),
            ("profinet_dcp.signal", OperationKind::Control, Some(PC)),
            ("profinet_dcp.hello", OperationKind::Control, Some(SWITCH)),
        ]
    );
    assert!(a.flags.iter().any(|f| f.kind == FlagKind::Operations));
    assert_eq!(
        a.hostname.as_ref().map(|f| f.value.as_str()),
        Some("plc-1"),
        "the hello names the station"
    );
}

/// A station known only by MAC never becomes a `scan --from-passive` target: it has no
/// address, and the IP its DCP response quotes is not one either.
#[test]
fn a_mac_only_station_is_never_a_scan_target() {
    let frames: Vec<Vec<u8>> = [IDENTIFY_REQ, IDENTIFY_RES, SET_IP, SET_RES]
        .iter()
        .map(|g| dcp_frame(&crate::support::hex(g)))
        .collect();
    let obs = import("dcp.pcap", &pcap(1, &frames));
    assert!(!obs.is_empty());
    let h = otscout::passive::hints::hints(&otscout::inventory::ObservationFile {
        format: "otscout-observations".into(),
        version: 1,
        sources: vec!["dcp.pcap".into()],
        observations: obs,
    });
    assert!(h.hosts.is_empty(), "{:?}", h.hosts);
}

/// Two stations known only by MAC: listed after the addresses, by MAC; the report reads
/// back consistent and byte for byte the same, and merging it again gives the same assets.
#[test]
fn two_mac_only_assets_make_a_consistent_report_that_merges_again_the_same() {
    let other = [0x00, 0x1b, 0x1b, 0, 0, 1];
    let mut frames: Vec<Vec<u8>> = [IDENTIFY_REQ, IDENTIFY_RES]
        .iter()
        .map(|g| dcp_frame(&crate::support::hex(g)))
        .collect();
    // The same response from a second device (its own source MAC).
    let mut second = frames[1].clone();
    second[6..12].copy_from_slice(&other);
    frames.push(second);
    let obs = import("two.pcap", &pcap(1, &frames));
    let input = |observations| {
        Input::from_observations(
            "obs.json",
            otscout::inventory::ObservationFile {
                format: "otscout-observations".into(),
                version: 1,
                sources: vec!["two.pcap".into()],
                observations,
            },
        )
    };
    let inv = merge(&[input(obs)], Utc::now());
    let keys: Vec<Option<&str>> = inv.assets.iter().map(Asset::mac_key).collect();
    assert_eq!(keys, [Some("00:1b:1b:00:00:01"), Some(SWITCH)]);
    otscout::report::json::check_consistent(&inv).expect("consistent");
    let bytes = otscout::report::json::render(&inv);
    let back = otscout::report::json::parse(&bytes).expect("reads back");
    assert_eq!(otscout::report::json::render(&back), bytes);
    let again = merge(&[input(back.observations.clone())], inv.generated_at);
    assert_eq!(again.assets, inv.assets);
}
