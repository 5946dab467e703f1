//! The conformance spec of S7 SZL 0x0011 / 0x001C (Siemens, System Software for
//! S7-300/400, chapter 33): tshark's `s7comm.szl.*` fields against otscout's S7 identity
//! (see [`crate::protocols::conformance`]).

use crate::inventory::{Identity, Protocol, S7Identity};
use crate::protocols::conformance::{Frame, Part, PortPref, Spec, hex16, nth_num, parse_num, put};

/// The specs of this folder.
pub static SPECS: &[Spec] = &[Spec {
    name: "s7",
    filter: "s7comm.szl.xy11.0001.index || s7comm.szl.001c.000x.index",
    fields: &[
        "s7comm.szl.xy11.0001.index",
        "s7comm.szl.xy11.0001.anz",
        "s7comm.szl.xy11.0001.ausbg",
        "s7comm.szl.xy11.0001.ausbe",
        "s7comm.szl.001c.0001.name",
        "s7comm.szl.001c.0002.name",
        "s7comm.szl.001c.0003.tag",
        "s7comm.szl.001c.0004.copyright",
        "s7comm.szl.001c.0005.serialn",
        "s7comm.szl.001c.0007.cputypname",
        "s7comm.szl.001c.0008.snmcmmc",
        "s7comm.szl.001c.0009.manufacturer_id",
        "s7comm.szl.001c.0009.profile_id",
        "s7comm.szl.001c.0009.profile_spec_typ",
        "s7comm.szl.001c.000a.oem_copyright_string",
        "s7comm.szl.001c.000b.loc_id",
    ],
    tshark: s7_tshark,
    otscout: s7_otscout,
    protocols: &[Protocol::S7],
    tcp: Some(PortPref {
        name: "tpkt.tcp.port",
        default: &[102],
    }),
    udp: None,
    prefs: &["cotp.reassemble:TRUE"],
    heuristics: &["s7comm_cotp", "s7comm_cotp_is"],
    tree: &[],
}];

/// A fixed-width S7 string as otscout keeps it: cut at the first NUL, and (order numbers)
/// its space padding trimmed. The S7 callers also leave blank strings out, as otscout's
/// `non_empty` does; ENIP and Modbus strings are compared as tshark prints them.
fn text(s: &str, trim_end_spaces: bool) -> String {
    let s = s.split('\0').next().unwrap_or("");
    if trim_end_spaces {
        s.trim_end_matches(' ').to_string()
    } else {
        s.to_string()
    }
}

/// Firmware `V3.2.6` from Ausbg 0x5603 / Ausbe 0x0206 (the letter is Ausbg's high byte);
/// `None` when that byte is not `V`.
fn s7_version(ausbg: u64, ausbe: u64) -> Option<String> {
    (ausbg >> 8 == u64::from(b'V'))
        .then(|| format!("V{}.{}.{}", ausbg & 0xff, (ausbe >> 8) & 0xff, ausbe & 0xff))
}

/// An SZL answer tshark reassembled (it stitches "more follows" pieces itself). Module
/// identification records: index 1 order number, 6 hardware order number (both with their
/// space padding trimmed), 7 firmware, 0x81 boot loader (as a version, or `0xAAAA/0xBBBB`
/// when not one). Component identification: the 32-byte texts cut at the NUL; blank
/// strings are absent, as otscout leaves them out.
fn s7_tshark(f: &Frame) -> Vec<Part> {
    let mut p = Part::default();
    let idx = f.get("s7comm.szl.xy11.0001.index");
    for (i, index) in idx.iter().enumerate() {
        let ausbg = f
            .get("s7comm.szl.xy11.0001.ausbg")
            .get(i)
            .and_then(|s| parse_num(s));
        let ausbe = f
            .get("s7comm.szl.xy11.0001.ausbe")
            .get(i)
            .and_then(|s| parse_num(s));
        let mlfb = f
            .get("s7comm.szl.xy11.0001.anz")
            .get(i)
            .map(|s| text(s, true))
            .filter(|s| !s.trim().is_empty());
        let (field, value) = match parse_num(index) {
            Some(0x0001) => ("order_number", mlfb),
            Some(0x0006) => ("hardware_order_number", mlfb),
            Some(0x0007) => (
                "firmware",
                ausbg.zip(ausbe).and_then(|(g, e)| s7_version(g, e)),
            ),
            Some(0x0081) => (
                "boot_loader",
                ausbg
                    .zip(ausbe)
                    .map(|(g, e)| s7_version(g, e).unwrap_or_else(|| format!("{g:#06x}/{e:#06x}"))),
            ),
            _ => continue,
        };
        if let Some(v) = value {
            p.fields.entry(field.to_string()).or_insert(v);
        }
    }
    let texts = [
        ("s7comm.szl.001c.0001.name", "as_name"),
        ("s7comm.szl.001c.0002.name", "module_name"),
        ("s7comm.szl.001c.0003.tag", "plant_tag"),
        ("s7comm.szl.001c.0004.copyright", "copyright"),
        ("s7comm.szl.001c.0005.serialn", "serial"),
        ("s7comm.szl.001c.0007.cputypname", "module_type"),
        ("s7comm.szl.001c.0008.snmcmmc", "memory_card_serial"),
        // tshark splits record 0x000A into a 26-byte string and two numbers; otscout keeps
        // the record's text up to its NUL: the same when the string is NUL-terminated.
        ("s7comm.szl.001c.000a.oem_copyright_string", "oem_id"),
        ("s7comm.szl.001c.000b.loc_id", "location"),
    ];
    for (tf, field) in texts {
        if let Some(v) = f
            .get(tf)
            .first()
            .map(|s| text(s, false))
            .filter(|s| !s.trim().is_empty())
        {
            p.fields.insert(field.to_string(), v);
        }
    }
    put(
        &mut p,
        "manufacturer_id",
        nth_num(f, "s7comm.szl.001c.0009.manufacturer_id", 0, hex16),
    );
    put(
        &mut p,
        "profile_id",
        nth_num(f, "s7comm.szl.001c.0009.profile_id", 0, hex16),
    );
    put(
        &mut p,
        "profile_type",
        nth_num(f, "s7comm.szl.001c.0009.profile_spec_typ", 0, hex16),
    );
    if p.fields.is_empty() {
        Vec::new()
    } else {
        vec![p]
    }
}

fn s7_otscout(id: &Identity) -> Option<Part> {
    let Identity::S7(s) = id else {
        return None;
    };
    let S7Identity {
        order_number,
        hardware_order_number,
        firmware,
        boot_loader,
        as_name,
        module_name,
        plant_tag,
        copyright,
        serial,
        module_type,
        memory_card_serial,
        manufacturer_id,
        profile_id,
        profile_type,
        oem_id,
        location,
        ..
    } = s.as_ref();
    let mut p = Part::default();
    for (field, v) in [
        ("order_number", order_number),
        ("hardware_order_number", hardware_order_number),
        ("firmware", firmware),
        ("boot_loader", boot_loader),
        ("as_name", as_name),
        ("module_name", module_name),
        ("plant_tag", plant_tag),
        ("copyright", copyright),
        ("serial", serial),
        ("module_type", module_type),
        ("memory_card_serial", memory_card_serial),
        ("oem_id", oem_id),
        ("location", location),
    ] {
        put(&mut p, field, v.clone());
    }
    for (field, v) in [
        ("manufacturer_id", manufacturer_id),
        ("profile_id", profile_id),
        ("profile_type", profile_type),
    ] {
        put(&mut p, field, v.map(|v| hex16(v.into())));
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::conformance::test_frame as frame;

    #[test]
    fn s7_firmware_comes_from_record_7_and_the_boot_loader_stays_raw() {
        // s7comm_reading_plc_status.pcap frame 59 as tshark prints it.
        let f = frame(&[
            (
                "s7comm.szl.xy11.0001.index",
                &["0x0001", "0x0006", "0x0007", "0x0081"],
            ),
            (
                "s7comm.szl.xy11.0001.anz",
                &[
                    "6ES7 151-8AB01-0AB0 ",
                    "6ES7 151-8AB01-0AB0 ",
                    "                    ",
                    "Boot Loader         ",
                ],
            ),
            ("s7comm.szl.xy11.0001.ausbg", &["3", "3", "22019", "16672"]),
            ("s7comm.szl.xy11.0001.ausbe", &["1", "1", "518", "2313"]),
            ("s7comm.szl.001c.0003.tag", &[""]),
        ]);
        let p = &s7_tshark(&f)[0];
        assert_eq!(p.fields["order_number"], "6ES7 151-8AB01-0AB0");
        assert_eq!(p.fields["firmware"], "V3.2.6");
        assert_eq!(p.fields["boot_loader"], "0x4120/0x0909");
        assert!(!p.fields.contains_key("plant_tag"));
    }
}
