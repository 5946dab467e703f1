//! The passive bench's capture (`benches/common/passive_mix.rs`) and what repeating it
//! does to the import: the bench measures a copy repeated to 1 GB, so the figures mean
//! something only if the repeated file gives one copy's result, repeated.
//!
//! The invariant, checked on the shared captures plus the simulator capture: N copies (each
//! an hour of capture time after the last, past the engine's idle limit) give exactly
//! the observations of one copy, with every count (peers, operations) N times as large,
//! every undecodable message kept N times (one per frame), and each identity's raw
//! replies those of one copy repeated N times (up to the collector's 16). Times and frame
//! numbers differ (they are the copies' own).

#[path = "../../benches/common/passive_mix.rs"]
mod passive_mix;

use std::collections::BTreeMap;

use otscout::inventory::{Fact, Observation, Provenance};
use otscout::passive::{self, ImportOptions, ImportReport};

use crate::support;

fn import(sources: &[passive_mix::Source], copies: u64) -> ImportReport {
    let mut bytes = Vec::new();
    let (_, _, made) = passive_mix::write(sources, 0, copies, &mut bytes).expect("write");
    assert_eq!(made, copies);
    passive::import_bytes("mix.pcapng", &bytes, &ImportOptions::default()).expect("import")
}

/// An observation with what repetition may change taken out: counts, times, frame
/// numbers (in provenance and in undecodable messages' reasons).
/// Returns the shape and the count the observation stands for: its own count for peers and
/// operations, 1 for anything else. Facts that each frame adds anew (peers, operations,
/// undecodable messages) add up over the copies; the rest are folded into one.
fn shape(o: &Observation) -> (String, u64, bool) {
    let mut o = o.clone();
    o.seen = None;
    let mut count = 1;
    let adds_up = matches!(
        o.fact,
        Fact::Peer { .. }
            | Fact::Operation { .. }
            | Fact::LinkOperation { .. }
            | Fact::Suspicious { .. }
    );
    match &mut o.fact {
        Fact::Peer { count: c, .. } => {
            count = *c;
            *c = 0;
        }
        Fact::Operation {
            count: c,
            first,
            last,
            ..
        }
        | Fact::LinkOperation {
            count: c,
            first,
            last,
            ..
        } => {
            count = *c;
            *c = 0;
            *first = None;
            *last = None;
        }
        Fact::Identity { .. } => {
            // The raw replies behind an identity accumulate (checked apart).
            o.raw_hex = None;
        }
        Fact::Suspicious { reason, .. } => {
            // "frame 123: ...": the frame number differs per copy.
            if let Some(rest) = reason.split_once(": ") {
                *reason = rest.1.to_string();
            }
        }
        _ => {}
    }
    if let Provenance::Pcap { frame, .. } = &mut o.provenance {
        *frame = 0;
    }
    (serde_json::to_string(&o).expect("json"), count, adds_up)
}

fn shapes(r: &ImportReport) -> BTreeMap<String, (u64, bool)> {
    let mut m = BTreeMap::new();
    for o in &r.observations {
        let (k, c, adds_up) = shape(o);
        m.entry(k).or_insert((0, adds_up)).0 += c;
    }
    m
}

#[test]
fn repeated_mix_gives_one_copys_observations_with_counts_times_n() {
    let Some(dir) = support::captures_dir("repeated_mix_gives_one_copys_observations") else {
        return;
    };
    let sources = passive_mix::sources(Some(&dir));
    // Every shared capture is in the mix (none was skipped as unreadable), plus the simulator's.
    let shared = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "pcap" || x == "pcapng")
        })
        .count();
    assert_eq!(sources.len(), shared + 1);
    let one = import(&sources, 1);
    let three = import(&sources, 3);
    assert!(one.warnings.is_empty(), "{:?}", one.warnings);
    assert!(three.warnings.is_empty(), "{:?}", three.warnings);
    assert_eq!(three.stats.frames, 3 * one.stats.frames);
    assert_eq!(three.stats.pdus, 3 * one.stats.pdus);
    assert_eq!(three.stats.undecoded, 3 * one.stats.undecoded);
    let (s1, s3) = (shapes(&one), shapes(&three));
    let only1: Vec<_> = s1.keys().filter(|k| !s3.contains_key(*k)).collect();
    let only3: Vec<_> = s3.keys().filter(|k| !s1.contains_key(*k)).collect();
    assert!(
        only1.is_empty() && only3.is_empty(),
        "only in one copy: {only1:#?}\nonly in three: {only3:#?}"
    );
    let mut added = 0;
    for (k, (c, adds_up)) in &s1 {
        let want = if *adds_up { 3 * c } else { *c };
        assert_eq!(s3[k].0, want, "{k}");
        added += u64::from(*adds_up);
    }
    // 76 of them with the shared captures of 2026-12-07.
    assert!(added >= 50, "{added}");
    // The identities are exactly one copy's, in the same order, and their raw replies
    // one copy's repeated.
    let ids = |r: &ImportReport| -> Vec<(String, Vec<String>)> {
        r.observations
            .iter()
            .filter(|o| matches!(o.fact, Fact::Identity { .. }))
            .map(|o| {
                let raw = o.raw_hex.as_deref().unwrap_or_default();
                (shape(o).0, raw.split(' ').map(str::to_owned).collect())
            })
            .collect()
    };
    let (ids1, ids3) = (ids(&one), ids(&three));
    assert!(ids1.len() >= 10, "{}", ids1.len());
    assert_eq!(ids1.len(), ids3.len());
    for ((k1, raw1), (k3, raw3)) in ids1.iter().zip(&ids3) {
        assert_eq!(k1, k3);
        let want: Vec<String> = raw1
            .iter()
            .cycle()
            .take((3 * raw1.len()).min(16))
            .cloned()
            .collect();
        assert_eq!(raw3, &want, "{k1}");
    }
}
