//! The direction of the workspace, checked where a reviewer would not look: the codecs
//! depend on no otscout crate (so nothing above them can be imported by them), and the
//! simulators do not depend on the codecs (they are the independent implementation the
//! codecs are tested against; ARCHITECTURE.md).

use std::path::Path;

/// The package names of every `[*dependencies]` table of a manifest (line-based: the
/// workspace's manifests use one `name = ...` line per dependency).
fn dependencies(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", manifest.display()));
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line
                .trim_matches(|c| c == '[' || c == ']')
                .ends_with("dependencies");
        } else if in_deps {
            if let Some((name, _)) = line.split_once('=') {
                out.push(name.trim().to_string());
            }
        }
    }
    out
}

#[test]
fn the_wire_crate_depends_on_no_otscout_crate() {
    let deps = dependencies(&Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    assert!(deps.iter().any(|d| d == "thiserror"), "parsed: {deps:?}");
    let up: Vec<_> = deps.iter().filter(|d| d.starts_with("otscout")).collect();
    assert!(up.is_empty(), "otscout-wire depends on {up:?}");
}

#[test]
fn the_simulators_do_not_use_the_wire_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let deps = dependencies(&root.join("simulators/Cargo.toml"));
    assert!(deps.iter().any(|d| d == "tokio"), "parsed: {deps:?}");
    let wire: Vec<_> = deps.iter().filter(|d| d.starts_with("otscout")).collect();
    assert!(wire.is_empty(), "the simulators depend on {wire:?}");
}
