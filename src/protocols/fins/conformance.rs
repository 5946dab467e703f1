//! The conformance spec of FINS Controller Data Read (command 05 01; Omron W342 5-3-1):
//! tshark's `omron.controller.*` and `omron.area_data.*` fields (packet-omron-fins.c,
//! FINS over UDP and FINS/TCP on 9600) against otscout's FINS identity (see
//! [`crate::protocols::conformance`]).
//!
//! One controller per address, so the key is empty. tshark prints the model and the
//! version up to the first NUL (the fields are 20 bytes padded with NULs and spaces);
//! otscout keeps the same, trailing spaces dropped.

use super::identity::memory_card_kind;
use crate::inventory::{Identity, Protocol};
use crate::protocols::conformance::{Frame, Part, Spec, first, nth_num, num, put};

/// The specs of this folder.
pub static SPECS: &[Spec] = &[Spec {
    name: "fins",
    filter: "omron.controller.model",
    fields: &[
        "omron.controller.model",
        "omron.controller.version",
        "omron.area_data.program_area_size",
        "omron.area_data.iom_size",
        "omron.area_data.dm_words",
        "omron.area_data.timer_size",
        "omron.area_data.dm_size",
        "omron.area_data.num_steps",
        "omron.area_data.memory_card",
        "omron.area_data.memory_card.size",
    ],
    tshark: fins_tshark,
    otscout: fins_otscout,
    protocols: &[Protocol::Fins],
    // tshark 4.0 registers FINS on port 9600 through the port tables only (no port
    // preference to add a port to).
    tcp: None,
    udp: None,
    prefs: &[],
    heuristics: &[],
    tree: &[],
}];

const AREA: [(&str, &str); 7] = [
    ("omron.area_data.program_area_size", "program_area_size"),
    ("omron.area_data.iom_size", "iom_size"),
    ("omron.area_data.dm_words", "dm_words"),
    ("omron.area_data.timer_size", "timer_counter_size"),
    ("omron.area_data.dm_size", "expansion_dm_size"),
    ("omron.area_data.num_steps", "steps"),
    ("omron.area_data.memory_card.size", "memory_card_size"),
];

fn fins_tshark(f: &Frame) -> Vec<Part> {
    let Some(model) = first(f, "omron.controller.model")
        .map(|m| m.trim_end().to_string())
        .filter(|m| !m.is_empty())
    else {
        return Vec::new();
    };
    let mut p = Part::default();
    put(&mut p, "model", Some(model));
    put(&mut p, "version", first(f, "omron.controller.version"));
    for (field, name) in AREA {
        put(&mut p, name, nth_num(f, field, 0, num));
    }
    put(
        &mut p,
        "memory_card",
        nth_num(f, "omron.area_data.memory_card", 0, |k| {
            u8::try_from(k).map_or_else(|_| format!("kind {k}"), memory_card_kind)
        }),
    );
    vec![p]
}

fn fins_otscout(id: &Identity) -> Option<Part> {
    let Identity::Fins(d) = id else {
        return None;
    };
    let mut p = Part::default();
    put(&mut p, "model", Some(d.model.clone()));
    put(&mut p, "version", d.version.clone());
    let n = |v: Option<u64>| v.map(num);
    put(
        &mut p,
        "program_area_size",
        n(d.program_area_size.map(u64::from)),
    );
    put(&mut p, "iom_size", n(d.iom_size.map(u64::from)));
    put(&mut p, "dm_words", n(d.dm_words.map(u64::from)));
    put(
        &mut p,
        "timer_counter_size",
        n(d.timer_counter_size.map(u64::from)),
    );
    put(
        &mut p,
        "expansion_dm_size",
        n(d.expansion_dm_size.map(u64::from)),
    );
    put(&mut p, "steps", n(d.steps.map(u64::from)));
    put(
        &mut p,
        "memory_card_size",
        n(d.memory_card_size.map(u64::from)),
    );
    put(&mut p, "memory_card", d.memory_card.clone());
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::conformance::test_frame as frame;

    #[test]
    fn the_cp1l_answer_reads_as_tshark_prints_it() {
        // omron_test.pcap frame 9 as tshark 4.0 prints it.
        let f = frame(&[
            ("omron.controller.model", &["CP1L-EL20DR-D"]),
            ("omron.controller.version", &["01.00"]),
            ("omron.area_data.dm_words", &["10768"]),
            ("omron.area_data.memory_card", &["0"]),
        ]);
        let p = &fins_tshark(&f)[0];
        assert_eq!(p.key, "");
        assert_eq!(p.fields["model"], "CP1L-EL20DR-D");
        assert_eq!(p.fields["version"], "01.00");
        assert_eq!(p.fields["dm_words"], "10768");
        assert_eq!(p.fields["memory_card"], "none");
    }
}
