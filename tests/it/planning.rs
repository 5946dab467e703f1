//! Scan planning: target syntax and errors, exclusions, the large-scope refusal, profile
//! loading/validation/caps/overrides (a test for each key), pacing properties with fake
//! time, and the dry run.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use otscout::inventory::Protocol;
use otscout::pace::{AfterFailure, Deny, FailureKind, Limits, Pacer};
use otscout::plan::{Plan, ScanConfig, ScanRequest};
use otscout::profile::{self, ProfileError};
use otscout::target::{
    self, Origin, Role, ScopeRequest, SpecInput, TargetError, TargetSet, parse_spec_lines,
};
use proptest::prelude::*;

// ---------------------------------------------------------------- targets

fn scope(targets: &[&str], excludes: &[&str]) -> Result<TargetSet, TargetError> {
    TargetSet::build(&ScopeRequest {
        targets: targets.iter().map(|t| SpecInput::arg(*t)).collect(),
        excludes: excludes.iter().map(|t| SpecInput::arg(*t)).collect(),
        allow_large_scope: false,
    })
}

fn addrs(set: &TargetSet) -> Vec<String> {
    set.iter().map(|a| a.to_string()).collect()
}

fn err(targets: &[&str], excludes: &[&str]) -> String {
    scope(targets, excludes)
        .expect_err("should be refused")
        .to_string()
}

#[test]
fn single_addresses_v4_and_v6() {
    let s = scope(&["10.0.0.5", "fd00::5"], &[]).unwrap();
    assert_eq!(addrs(&s), ["10.0.0.5", "fd00::5"]);
    assert_eq!(s.count(), 2);
}

#[test]
fn prefix_skips_network_and_broadcast() {
    let s = scope(&["10.0.0.0/24"], &[]).unwrap();
    assert_eq!(s.count(), 254);
    let all = addrs(&s);
    assert_eq!(all.first().unwrap(), "10.0.0.1");
    assert_eq!(all.last().unwrap(), "10.0.0.254");
    assert_eq!(
        addrs(&scope(&["10.0.0.4/30"], &[]).unwrap()),
        ["10.0.0.5", "10.0.0.6"]
    );
    // /31 (RFC 3021 point-to-point) and /32 have no network or broadcast address.
    assert_eq!(
        addrs(&scope(&["10.0.0.4/31"], &[]).unwrap()),
        ["10.0.0.4", "10.0.0.5"]
    );
    assert_eq!(addrs(&scope(&["10.0.0.4/32"], &[]).unwrap()), ["10.0.0.4"]);
    // Host bits in a prefix are ignored, as nmap does.
    assert_eq!(scope(&["10.0.0.77/24"], &[]).unwrap().count(), 254);
}

#[test]
fn ipv6_prefix_and_range() {
    let s = scope(&["fd00::/120"], &[]).unwrap();
    assert_eq!(s.count(), 256);
    assert_eq!(addrs(&s)[0], "fd00::");
    let r = scope(&["fd00::1-fd00::3"], &[]).unwrap();
    assert_eq!(addrs(&r), ["fd00::1", "fd00::2", "fd00::3"]);
}

#[test]
fn ranges_full_and_last_octet() {
    let a = scope(&["10.0.0.5-10.0.0.40"], &[]).unwrap();
    let b = scope(&["10.0.0.5-40"], &[]).unwrap();
    assert_eq!(a.count(), 36);
    assert_eq!(addrs(&a), addrs(&b));
    assert_eq!(addrs(&a)[0], "10.0.0.5");
    assert_eq!(addrs(&a)[35], "10.0.0.40");
    // A range crossing an octet boundary.
    assert_eq!(scope(&["10.0.0.250-10.0.1.5"], &[]).unwrap().count(), 12);
}

#[test]
fn target_errors_name_the_spec_and_the_problem() {
    assert_eq!(
        err(&["10.0.0.0/33"], &[]),
        r#"target "10.0.0.0/33": prefix length 33 is more than 32"#
    );
    assert_eq!(
        err(&["fd00::/129"], &[]),
        r#"target "fd00::/129": prefix length 129 is more than 128"#
    );
    assert_eq!(
        err(&["10.0.0.0/x"], &[]),
        r#"target "10.0.0.0/x": prefix length "x" is not a number"#
    );
    assert_eq!(
        err(&["10.0.0.300"], &[]),
        r#"target "10.0.0.300": not an IP address, CIDR prefix or range (host names are not resolved)"#
    );
    assert_eq!(
        err(&["plc1.example"], &[]),
        r#"target "plc1.example": not an IP address, CIDR prefix or range (host names are not resolved)"#
    );
    assert_eq!(
        err(&["10.0.0.40-5"], &[]),
        r#"target "10.0.0.40-5": range end 10.0.0.5 is before its start 10.0.0.40"#
    );
    assert_eq!(
        err(&["10.0.0.5-300"], &[]),
        r#"target "10.0.0.5-300": last octet 300 is more than 255"#
    );
    assert_eq!(
        err(&["10.0.0.5-fd00::1"], &[]),
        r#"target "10.0.0.5-fd00::1": range mixes IPv4 and IPv6"#
    );
    assert_eq!(
        err(&["x-10.0.0.1"], &[]),
        r#"target "x-10.0.0.1": range start "x" is not an IP address"#
    );
    assert_eq!(
        err(&["10.0.0.1"], &["10.0.0.0/40"]),
        r#"exclude "10.0.0.0/40": prefix length 40 is more than 32"#
    );
}

#[test]
fn multicast_broadcast_and_unspecified_are_refused() {
    for spec in [
        "224.0.0.1",
        "239.0.0.0/8",
        "192.0.0.0/2",
        "223.255.255.0-224.0.0.5",
    ] {
        assert!(
            err(&[spec], &[]).contains("covers multicast addresses (224.0.0.0/4)"),
            "{spec}"
        );
    }
    assert_eq!(
        err(&["255.255.255.255"], &[]),
        r#"target "255.255.255.255": covers the limited broadcast address 255.255.255.255, which otscout never touches"#
    );
    assert!(err(&["0.0.0.0"], &[]).contains("unspecified address 0.0.0.0"));
    assert!(err(&["::"], &[]).contains("unspecified address ::"));
    assert!(err(&["ff02::1"], &[]).contains("multicast addresses (ff00::/8)"));
    // Excluding them is fine.
    assert_eq!(scope(&["10.0.0.1"], &["224.0.0.0/4"]).unwrap().count(), 1);
}

#[test]
fn exclusions_always_win() {
    let s = scope(
        &["10.0.0.0/24", "10.0.0.7"],
        &["10.0.0.0/29", "10.0.0.200-254"],
    )
    .unwrap();
    // 254 - (.1-.7) - (.200-.254) = 254 - 7 - 55
    assert_eq!(s.count(), 192);
    assert_eq!(s.excluded(), 62);
    assert!(!s.contains("10.0.0.7".parse().unwrap()));
    assert!(s.contains("10.0.0.8".parse().unwrap()));
    assert!(!s.iter().any(|a| a.to_string() == "10.0.0.200"));
    assert_eq!(
        err(&["10.0.0.5"], &["10.0.0.0/24"]),
        "no targets left: the exclusions cover all 1 target addresses"
    );
}

#[test]
fn order_is_ascending_ipv4_first_each_once() {
    let s = scope(
        &[
            "fd00::2",
            "10.0.0.9",
            "10.0.0.1-3",
            "10.0.0.2",
            "fd00::1",
            "9.9.9.9",
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        addrs(&s),
        [
            "9.9.9.9", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9", "fd00::1", "fd00::2"
        ]
    );
}

#[test]
fn large_scope_is_refused_unless_allowed() {
    assert_eq!(scope(&["10.0.0.0/16"], &[]).unwrap().count(), 65_534);
    assert_eq!(
        err(&["10.0.0.0/15"], &[]),
        "scope of 131070 addresses is more than 65536: narrow the targets, add exclusions, or pass --allow-large-scope if you mean it"
    );
    // Counted after exclusions.
    assert!(scope(&["10.0.0.0/15"], &["10.1.0.0/16"]).is_ok());
    let big = TargetSet::build(&ScopeRequest {
        targets: vec![SpecInput::arg("10.0.0.0/8")],
        excludes: vec![],
        allow_large_scope: true,
    })
    .unwrap();
    assert_eq!(big.count(), 16_777_214);
    let first: Vec<String> = big.iter().take(2).map(|a| a.to_string()).collect();
    assert_eq!(first, ["10.0.0.1", "10.0.0.2"]);
}

#[test]
fn no_targets_is_an_error() {
    assert_eq!(
        err(&[], &[]),
        "no targets given: name addresses, prefixes or ranges, or a file with -i"
    );
}

#[test]
fn files_have_comments_blank_lines_and_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plant.txt");
    std::fs::write(
        &path,
        "# cell 1\n10.0.0.1-3   # PLCs\n\n10.0.0.10, 10.0.0.11\n  fd00::1\n10.0.0.0/33\n",
    )
    .unwrap();
    let specs = target::read_spec_file(&path, Role::Target).unwrap();
    let texts: Vec<&str> = specs.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "10.0.0.1-3",
            "10.0.0.10",
            "10.0.0.11",
            "fd00::1",
            "10.0.0.0/33"
        ]
    );
    assert_eq!(
        specs[3].origin,
        Origin::File {
            path: path.clone(),
            line: 5
        }
    );
    let e = TargetSet::build(&ScopeRequest {
        targets: specs,
        ..ScopeRequest::default()
    })
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        format!(
            r#"target "10.0.0.0/33" ({} line 6): prefix length 33 is more than 32"#,
            path.display()
        )
    );
    let missing = target::read_spec_file(&dir.path().join("nope.txt"), Role::Exclude)
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with("exclude file ") && missing.ends_with("no such file; check the path"),
        "{missing}"
    );
    assert!(parse_spec_lines("# only a comment\n\n", Path::new("x")).is_empty());
}

// ---------------------------------------------------------------- profiles

fn set(specs: &[&str]) -> Result<profile::Loaded, ProfileError> {
    let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
    profile::load_with_overrides("conservative", &specs)
}

fn set_err(spec: &str) -> String {
    set(&[spec])
        .expect_err(&format!("--set {spec} should be refused"))
        .to_string()
}

fn write_profile(dir: &Path, text: &str) -> String {
    let path = dir.join("site.toml");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn builtins_load_and_differ() {
    let mut hashes = std::collections::BTreeSet::new();
    for name in profile::builtin_names() {
        let l = profile::builtin(name).unwrap();
        assert_eq!(l.profile.name, name);
        assert_eq!(l.origin, format!("builtin:{name}"));
        assert!(
            hashes.insert(l.sha256.clone()),
            "{name} has a duplicate hash"
        );
        // The canonical TOML reloads to the same profile.
        let again = profile::load_str("x", &l.canonical_toml, "x", &[]).unwrap();
        assert_eq!(again.profile, l.profile);
    }
    let c = profile::builtin("conservative").unwrap().profile;
    assert_eq!(c.modbus.unit_ids, [255, 0]);
    assert_eq!(c.s7.tsaps, [0x0102, 0x0200]);
    assert_eq!(c.s7.szl_ids, [0x0011, 0x001C]);
    let s = profile::builtin("siemens").unwrap().profile;
    assert!(
        s.s7.tsaps.iter().all(|t| t >> 8 == 0x03),
        "siemens uses S7-basic"
    );
    assert!(!s.modbus.enabled && !s.enip.enabled);
    let lab = profile::builtin("lab").unwrap().profile;
    assert_eq!(lab.pacing.max_rate, profile::caps::MAX_RATE);
    assert_eq!(lab.pacing.cooldown_ms, profile::caps::MIN_COOLDOWN_MS);
    let fragile = profile::builtin("fragile").unwrap().profile;
    assert_eq!(fragile.pacing.hosts_in_flight, 1);
    assert!(fragile.pacing.host_interval_ms >= 5000);
}

#[test]
fn unknown_profile_name() {
    let e = profile::load_with_overrides("siemes", &[])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "unknown profile `siemes`: the built-in profiles are conservative, siemens, rockwell, schneider, fragile, lab; or give a path to a .toml file"
    );
}

#[test]
fn syntax_errors_have_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_profile(dir.path(), "name = \"site\"\n[pacing]\nmax_rate = = 5\n");
    let e = profile::load_with_overrides(&p, &[]).unwrap_err();
    let ProfileError::Syntax { line, column, .. } = &e else {
        panic!("expected a syntax error, got {e}");
    };
    assert_eq!(*line, 3);
    assert!(*column > 1);
    assert!(
        e.to_string()
            .starts_with(&format!("profile {p} line 3, column "))
    );
}

#[test]
fn unknown_keys_get_a_suggestion_and_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_profile(dir.path(), "name = \"site\"\n\n[pacing]\nmax_rat = 5.0\n");
    assert_eq!(
        profile::load_with_overrides(&p, &[])
            .unwrap_err()
            .to_string(),
        format!("profile {p} line 4: unknown key `pacing.max_rat`; did you mean `max_rate`?")
    );
    let p = write_profile(dir.path(), "[modbuss]\nport = 5020\n");
    assert!(
        profile::load_with_overrides(&p, &[])
            .unwrap_err()
            .to_string()
            .contains("line 1: unknown key `modbuss`; did you mean `modbus`?")
    );
    assert_eq!(
        set_err("pacing.maxrate=5"),
        "--set pacing.maxrate=5: unknown key `pacing.maxrate`; did you mean `max_rate`?"
    );
}

#[test]
fn file_value_errors_name_file_line_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_profile(
        dir.path(),
        "extends = \"conservative\"\nname = \"site\"\n\n[pacing]\nmax_rate = 50000.0\n",
    );
    assert_eq!(
        profile::load_with_overrides(&p, &[])
            .unwrap_err()
            .to_string(),
        format!(
            "profile {p} line 5: pacing.max_rate must be at most 10000 (hard limit), got 50000"
        )
    );
    let p = write_profile(dir.path(), "[s7]\nport = \"102\"\n");
    assert_eq!(
        profile::load_with_overrides(&p, &[])
            .unwrap_err()
            .to_string(),
        format!("profile {p} line 2: s7.port must be an integer from 0 to 65535, got \"102\"")
    );
    let p = write_profile(dir.path(), "extends = \"paranoid\"\n");
    assert!(
        profile::load_with_overrides(&p, &[])
            .unwrap_err()
            .to_string()
            .contains("extends must name a built-in profile")
    );
}

#[test]
fn a_partial_file_extends_conservative() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_profile(dir.path(), "[modbus]\nport = 5020\n");
    let l = profile::load_with_overrides(&p, &[]).unwrap();
    assert_eq!(l.profile.name, "site");
    assert_eq!(l.profile.modbus.port, 5020);
    let c = profile::builtin("conservative").unwrap().profile;
    assert_eq!(l.profile.pacing, c.pacing);
    assert_eq!(l.profile.vendor_rules, c.vendor_rules);
}

/// Each key: one value refused with a message naming the key and the value.
#[test]
fn every_key_is_validated() {
    let cases: &[(&str, &str)] = &[
        (
            "name=\"bad name!\"",
            "name must be letters, digits, `-` or `_`, got \"bad name!\"",
        ),
        ("description=5", "description must be a string, got 5"),
        ("extends=lab", "extends cannot be set from the command line"),
        (
            "pacing.max_rate=0",
            "pacing.max_rate must be more than 0, got 0",
        ),
        (
            "pacing.max_rate=fast",
            "pacing.max_rate must be a number, got \"fast\"",
        ),
        (
            "pacing.max_rate=20000",
            "pacing.max_rate must be at most 10000 (hard limit), got 20000",
        ),
        ("pacing.burst=0", "pacing.burst must be at least 1, got 0"),
        (
            "pacing.burst=5000",
            "pacing.burst must be at most 1000 (hard limit), got 5000",
        ),
        (
            "pacing.hosts_in_flight=0",
            "pacing.hosts_in_flight must be at least 1, got 0",
        ),
        (
            "pacing.hosts_in_flight=5000",
            "pacing.hosts_in_flight must be at most 1024 (hard limit), got 5000",
        ),
        (
            "pacing.host_interval_ms=5",
            "pacing.host_interval_ms must be at least 10 (hard limit), got 5",
        ),
        (
            "pacing.connect_timeout_ms=50",
            "pacing.connect_timeout_ms must be at least 100, got 50",
        ),
        (
            "pacing.response_timeout_ms=99999",
            "pacing.response_timeout_ms must be at most 60000, got 99999",
        ),
        (
            "pacing.retries=6",
            "pacing.retries must be at most 5 (hard limit), got 6",
        ),
        (
            "pacing.retries=-1",
            "pacing.retries must be an integer from 0 to 4294967295, got -1",
        ),
        (
            "pacing.retry_backoff_ms=10",
            "pacing.retry_backoff_ms must be at least 100, got 10",
        ),
        (
            "pacing.cooldown_ms=50",
            "pacing.cooldown_ms must be at least 100 (hard limit), got 50",
        ),
        (
            "pacing.close_hold_ms=50",
            "pacing.close_hold_ms must be at least 100, got 50",
        ),
        (
            "pacing.close_hold_ms=700000",
            "pacing.close_hold_ms must be at most 600000, got 700000",
        ),
        (
            "pacing.breaker_failures=0",
            "pacing.breaker_failures must be at least 1, got 0",
        ),
        (
            "pacing.breaker_resets=11",
            "pacing.breaker_resets must be at most 10, got 11",
        ),
        (
            "pacing.connections_per_host=2",
            "pacing.connections_per_host must be 1: otscout never opens more than one connection to a host (hard limit), got 2",
        ),
        (
            "pacing.requests_in_flight=2",
            "pacing.requests_in_flight must be 1: otscout never has more than one request in flight per connection (hard limit), got 2",
        ),
        (
            "modbus.enabled=yes",
            "modbus.enabled must be true or false, got \"yes\"",
        ),
        ("modbus.port=0", "modbus.port must be at least 1, got 0"),
        (
            "modbus.port=70000",
            "modbus.port must be an integer from 0 to 65535, got 70000",
        ),
        (
            "modbus.unit_ids=[]",
            "modbus.unit_ids must hold 1 to 32 entries, got 0",
        ),
        (
            "modbus.unit_ids=[255,255]",
            "modbus.unit_ids holds 255 twice",
        ),
        (
            "modbus.unit_ids=[255,1]",
            "modbus.unit_ids may hold only 255 and 0 unless modbus.allow_other_unit_ids = true, got 1",
        ),
        (
            "modbus.unit_ids=[256]",
            "modbus.unit_ids must be a list of integers from 0 to 255, got [256]",
        ),
        (
            "modbus.read_codes=[\"individual\"]",
            "modbus.read_codes may not hold `individual`",
        ),
        (
            "modbus.read_codes=[\"extended\"]",
            "modbus.read_codes may hold `extended` only when modbus.allow_extended = true",
        ),
        (
            "modbus.read_codes=[\"full\"]",
            "modbus.read_codes must be a list of: basic, regular, extended, individual",
        ),
        (
            "modbus.allow_other_unit_ids=1",
            "modbus.allow_other_unit_ids must be true or false, got 1",
        ),
        (
            "modbus.allow_extended=\"x\"",
            "modbus.allow_extended must be true or false, got \"x\"",
        ),
        (
            "enip.enabled=3",
            "enip.enabled must be true or false, got 3",
        ),
        ("enip.port=0", "enip.port must be at least 1, got 0"),
        (
            "enip.transport=sctp",
            "enip.transport must be one of tcp, udp, got \"sctp\"",
        ),
        (
            "enip.list_services=2",
            "enip.list_services must be true or false, got 2",
        ),
        (
            "s7.enabled=no",
            "s7.enabled must be true or false, got \"no\"",
        ),
        ("s7.port=0", "s7.port must be at least 1, got 0"),
        (
            "s7.tsaps=[0x0402]",
            "s7.tsaps high byte must be the connection type 0x01 (PG), 0x02 (OP) or 0x03 (S7-basic), got 0x0402",
        ),
        (
            "s7.tsaps=[0x0101]",
            "s7.tsaps may hold 0x0101 (S7-1200/1500) only when s7.allow_tsap_0101 = true",
        ),
        ("s7.local_tsap=0", "s7.local_tsap must not be 0"),
        (
            "s7.szl_ids=[0x0131]",
            "s7.szl_ids may hold only 0x0011 (module identification) and 0x001c (component identification), got 0x0131",
        ),
        (
            "s7.pdu_length=100",
            "s7.pdu_length must be at least 240, got 100",
        ),
        (
            "s7.allow_tsap_0101=5",
            "s7.allow_tsap_0101 must be true or false, got 5",
        ),
        (
            "vendor_rules.match=x",
            "cannot be set from the command line",
        ),
        ("nosuch.key=1", "unknown section `nosuch`"),
        ("pacing.max_rate", "expected key=value"),
    ];
    for (spec, want) in cases {
        let got = set_err(spec);
        assert!(
            got.starts_with(&format!("--set {spec}: ")) && got.contains(want),
            "--set {spec}\n  got:  {got}\n  want: {want}"
        );
    }
}

#[test]
fn vendor_rule_keys_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "match = \"\"",
            "line 2: vendor_rules[0].match must not be empty",
        ),
        (
            "match = \"x\"\nskip_protocols = [\"cip\"]",
            "line 3: vendor_rules[0].skip_protocols must be a list of: modbus, enip, s7",
        ),
        (
            "match = \"x\"\nhost_interval_ms = 1",
            "vendor_rules[0].host_interval_ms must be at least 10 (hard limit), got 1",
        ),
        (
            "match = \"x\"\ncooldown_ms = 1",
            "vendor_rules[0].cooldown_ms must be at least 100 (hard limit), got 1",
        ),
        (
            "match = \"x\"\nnote = 5",
            "line 3: vendor_rules[0].note must be a string, got 5",
        ),
        (
            "match = \"x\"\nfragile = true",
            "line 3: unknown key `vendor_rules[0].fragile`",
        ),
    ];
    for (body, want) in cases {
        let p = write_profile(dir.path(), &format!("[[vendor_rules]]\n{body}\n"));
        let got = profile::load_with_overrides(&p, &[])
            .unwrap_err()
            .to_string();
        assert!(got.contains(want), "{body}\n  got:  {got}\n  want: {want}");
    }
    let p = write_profile(
        dir.path(),
        "[modbus]\nenabled = false\n[enip]\nenabled = false\n[s7]\nenabled = false\n",
    );
    assert!(
        profile::load_with_overrides(&p, &[])
            .unwrap_err()
            .to_string()
            .contains("no protocol is enabled")
    );
}

#[test]
fn overrides_apply_and_change_the_hash() {
    let base = set(&[]).unwrap();
    let l = set(&[
        "pacing.max_rate=20",
        "enip.transport=udp",
        "modbus.port=5020",
    ])
    .unwrap();
    assert_eq!(l.profile.pacing.max_rate, 20.0);
    assert_eq!(l.profile.enip.transport, profile::EnipTransport::Udp);
    assert_eq!(l.profile.modbus.port, 5020);
    assert_ne!(l.sha256, base.sha256);
    assert_eq!(l.origin, "builtin:conservative + --set");
    // Enabling a guarded option and using it in the same run.
    let l = set(&[
        "modbus.allow_other_unit_ids=true",
        "modbus.unit_ids=[255, 0, 1]",
    ])
    .unwrap();
    assert_eq!(l.profile.modbus.unit_ids, [255, 0, 1]);
    let l = set(&["s7.allow_tsap_0101=true", "s7.tsaps=[0x0101]"]).unwrap();
    assert_eq!(l.profile.s7.tsaps, [0x0101]);
    // The last --set of a key wins.
    assert_eq!(
        set(&["pacing.burst=2", "pacing.burst=3"])
            .unwrap()
            .profile
            .pacing
            .burst,
        3
    );
}

#[test]
fn vendor_rules_give_effective_settings() {
    let p = profile::builtin("conservative").unwrap().profile;
    let r = p.rules_for(&["Rockwell Automation/Allen-Bradley", "1756-L71"]);
    assert!(r.skip_protocols.contains(&Protocol::S7));
    assert!(!r.skip_protocols.contains(&Protocol::Enip));
    let r = p.rules_for(&["Siemens", "S7-300"]);
    assert_eq!(r.host_interval_ms, 2000);
    assert_eq!(r.cooldown_ms, 5000);
    assert!(r.skip_protocols.is_empty());
    let r = p.rules_for(&["fragile"]);
    assert_eq!(r.host_interval_ms, 5000);
    let r = p.rules_for(&["Acme"]);
    assert_eq!(r.host_interval_ms, p.pacing.host_interval_ms);
    assert!(r.matched.is_empty());
    // A rule never makes a device faster than the profile.
    let fragile = profile::builtin("fragile").unwrap().profile;
    assert_eq!(fragile.rules_for(&["s7-300"]).host_interval_ms, 5000);
}

// ---------------------------------------------------------------- pacing

fn test_limits() -> Limits {
    Limits {
        emission_interval: Duration::from_millis(50), // 20 requests/s
        burst: 3,
        hosts_in_flight: 3,
        host_interval: Duration::from_millis(100),
        cooldown: Duration::from_millis(250),
        connect_timeout: Duration::from_millis(500),
        response_timeout: Duration::from_millis(500),
        retries: 2,
        retry_backoff: Duration::from_millis(100),
        breaker_failures: 4,
        breaker_resets: 3,
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Connect,
    Send,
    Reply,
    Close,
    /// Our FIN: the device's side is still open.
    HalfClose,
    /// The device held its side past the close hold.
    Held,
    Refused,
    Fail(FailureKind),
    Finish,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Connect),
        5 => Just(Op::Send),
        3 => Just(Op::Reply),
        2 => Just(Op::Close),
        2 => Just(Op::HalfClose),
        1 => Just(Op::Held),
        2 => Just(Op::Refused),
        1 => prop_oneof![
            Just(FailureKind::ConnectTimeout),
            Just(FailureKind::ConnectRefused),
            Just(FailureKind::ResponseTimeout),
            Just(FailureKind::Reset),
        ].prop_map(Op::Fail),
        1 => Just(Op::Finish),
    ]
}

proptest! {
    /// A driver that ignores `may_*` and calls the recording methods at random times: the
    /// pacer must refuse every call that would break a limit. The accepted events are then
    /// checked against the limits, independently of the pacer's own bookkeeping.
    #[test]
    fn pacing_limits_hold_against_any_driver(
        steps in proptest::collection::vec((0usize..5, op(), 0u64..300), 1..300)
    ) {
        let l = test_limits();
        let mut pacer = Pacer::new(l);
        let t0 = Instant::now();
        let mut now = t0;
        let hosts: Vec<IpAddr> = (1..=5).map(|i| format!("10.0.0.{i}").parse().unwrap()).collect();
        let mut connected = [false; 5];
        let mut in_flight = [false; 5];
        let mut unanswered = [false; 5];
        // Our FIN sent, the device's side still open; held past the close hold (for good).
        let mut closing = [false; 5];
        let mut held = [false; 5];
        let mut last_close: [Option<Instant>; 5] = [None; 5];
        let mut last_attempt: [Option<Instant>; 5] = [None; 5];
        let mut last_send: [Option<Instant>; 5] = [None; 5];
        let mut sends: Vec<Instant> = Vec::new();
        for (h, op, dt) in steps {
            now += Duration::from_millis(dt);
            let host = hosts[h];
            match op {
                Op::Connect => {
                    let allowed = pacer.may_connect(host, now).is_ok();
                    let accepted = pacer.on_connect(host, now).is_ok();
                    prop_assert_eq!(allowed, accepted);
                    if accepted {
                        prop_assert!(!connected[h], "two connections to {}", host);
                        prop_assert!(!closing[h], "a connect to {} before the device closed its side", host);
                        prop_assert!(!held[h], "a connect to {}, which held a connection open", host);
                        if let Some(c) = last_close[h] {
                            prop_assert!(now >= c + l.cooldown, "cool-down broken on {}", host);
                        }
                        if let Some(a) = last_attempt[h] {
                            prop_assert!(now >= a + l.host_interval, "two connects to {} within the interval", host);
                        }
                        last_attempt[h] = Some(now);
                        connected[h] = true;
                        in_flight[h] = false;
                        unanswered[h] = false;
                    }
                }
                Op::Send => {
                    if pacer.on_send(host, now).is_ok() {
                        prop_assert!(connected[h], "send without a connection");
                        prop_assert!(!closing[h] && !held[h], "send on a half-closed connection to {}", host);
                        prop_assert!(!in_flight[h], "two requests in flight on {}", host);
                        prop_assert!(!unanswered[h], "a request after an unanswered one on the same connection to {}", host);
                        if let Some(s) = last_send[h] {
                            prop_assert!(now >= s + l.host_interval, "per-host interval broken");
                        }
                        in_flight[h] = true;
                        last_send[h] = Some(now);
                        sends.push(now);
                    }
                }
                Op::Reply => {
                    pacer.on_reply(host, now);
                    in_flight[h] = false;
                }
                Op::Close => {
                    if connected[h] {
                        last_close[h] = Some(now);
                    }
                    pacer.on_close(host, now);
                    connected[h] = false;
                    closing[h] = false;
                    in_flight[h] = false;
                }
                Op::HalfClose => {
                    pacer.on_half_closed(host, now);
                    if connected[h] {
                        closing[h] = true;
                        in_flight[h] = false;
                    }
                }
                Op::Held => {
                    pacer.on_held(host, now);
                    held[h] = true;
                    in_flight[h] = false;
                }
                Op::Refused => {
                    // The connect was refused: nothing was opened, so no cool-down (the
                    // interval between attempts still holds, checked at Connect).
                    pacer.on_refused(host, now);
                    connected[h] = false;
                    closing[h] = false;
                    in_flight[h] = false;
                }
                Op::Fail(kind) => {
                    let after = pacer.on_failure(host, now, kind);
                    in_flight[h] = false;
                    if kind == FailureKind::ResponseTimeout && connected[h] {
                        unanswered[h] = true;
                    }
                    if kind != FailureKind::ResponseTimeout {
                        if connected[h] || kind == FailureKind::ConnectTimeout {
                            last_close[h] = Some(now);
                        }
                        connected[h] = false;
                        closing[h] = false;
                    }
                    if let AfterFailure::RetryAt(at) = after {
                        prop_assert!(at > now);
                    }
                }
                Op::Finish => pacer.finish_host(host, now),
            }
            prop_assert!(pacer.hosts_active() <= l.hosts_in_flight);
            // Held connections are drained in the background and leave the hosts in flight.
            let working = (0..5).filter(|&i| connected[i] && !held[i]).count();
            prop_assert!(working <= l.hosts_in_flight);
        }
        // The global rate over any sliding second: at most burst + rate requests.
        let per_second = (Duration::from_secs(1).as_nanos() / l.emission_interval.as_nanos()) as usize;
        for (i, t) in sends.iter().enumerate() {
            let n = sends[i..].iter().take_while(|s| **s < *t + Duration::from_secs(1)).count();
            prop_assert!(n <= l.burst as usize + per_second, "{} requests in one second", n);
        }
    }

    /// A cooperative driver (one that waits as told) gets everything done, and never
    /// faster than the profile allows.
    #[test]
    fn cooperative_driver_finishes_at_the_paced_speed(n_hosts in 1usize..12, reqs in 1usize..5) {
        let l = test_limits();
        let mut pacer = Pacer::new(l);
        let t0 = Instant::now();
        let mut now = t0;
        let hosts: Vec<IpAddr> = (1..=n_hosts).map(|i| format!("10.0.1.{i}").parse().unwrap()).collect();
        let mut left: Vec<usize> = vec![reqs; n_hosts];
        let mut sends = 0usize;
        let mut guard = 0;
        while left.iter().any(|r| *r > 0) {
            guard += 1;
            prop_assert!(guard < 100_000, "no progress");
            let mut next_wake: Option<Instant> = None;
            for (i, &host) in hosts.iter().enumerate() {
                if left[i] == 0 {
                    continue;
                }
                if !pacer.is_connected(host) {
                    match pacer.may_connect(host, now) {
                        Ok(()) => pacer.on_connect(host, now).unwrap(),
                        Err(Deny::Until(t)) => { next_wake = Some(next_wake.map_or(t, |w| w.min(t))); continue; }
                        Err(_) => continue,
                    }
                }
                match pacer.may_send(host, now) {
                    Ok(()) => {
                        pacer.on_send(host, now).unwrap();
                        pacer.on_reply(host, now);
                        sends += 1;
                        left[i] -= 1;
                        if left[i] == 0 {
                            pacer.on_close(host, now);
                            pacer.finish_host(host, now);
                        }
                    }
                    Err(Deny::Until(t)) => next_wake = Some(next_wake.map_or(t, |w| w.min(t))),
                    Err(_) => {}
                }
            }
            now = next_wake.unwrap_or(now + Duration::from_millis(1)).max(now);
        }
        prop_assert_eq!(sends, n_hosts * reqs);
        // Lower bounds: the global bucket and the per-host interval.
        let global = l.emission_interval * (sends.saturating_sub(l.burst as usize)) as u32;
        let per_host = l.host_interval * (reqs as u32 - 1);
        prop_assert!(now - t0 >= global.max(per_host));
    }
}

// ---------------------------------------------------------------- dry run

fn dry_run_config(targets: &[&str], excludes: &[&str], sets: &[&str]) -> ScanConfig {
    ScanConfig::resolve(&ScanRequest {
        targets: targets.iter().map(|s| s.to_string()).collect(),
        excludes: excludes.iter().map(|s| s.to_string()).collect(),
        sets: sets.iter().map(|s| s.to_string()).collect(),
        ..ScanRequest::default()
    })
    .unwrap()
}

#[test]
fn dry_run_plan_for_a_small_scope() {
    let cfg = dry_run_config(&["10.0.0.0/29"], &["10.0.0.3"], &[]);
    let plan = Plan::build(&cfg);
    assert_eq!(plan.profile.name, "conservative");
    assert_eq!(
        plan.profile.sha256,
        profile::builtin("conservative").unwrap().sha256
    );
    assert_eq!(plan.targets.count, 5);
    assert_eq!(plan.targets.excluded, 1);
    let sample: Vec<String> = plan.targets.sample.iter().map(|a| a.to_string()).collect();
    assert_eq!(
        sample,
        ["10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    );
    assert_eq!(
        plan.targets.ranges,
        ["10.0.0.1-10.0.0.2", "10.0.0.4-10.0.0.6"]
    );

    let kinds: Vec<Vec<Vec<&str>>> = plan
        .probes
        .iter()
        .map(|p| {
            p.connections
                .iter()
                .map(|c| c.requests.iter().map(|r| r.kind).collect())
                .collect()
        })
        .collect();
    // In the scan's order (the registry's: ENIP, Modbus, S7), and each S7 connection ends
    // with the COTP DR the session sends (both were missing or out of order before: the
    // plan listed Modbus first and no DR, unlike what the scan sends).
    assert_eq!(
        kinds,
        vec![
            vec![vec!["enip.list_identity"]],
            vec![vec!["modbus.read_device_id"; 2]; 2],
            vec![
                vec![
                    "cotp.connect",
                    "s7.setup_communication",
                    "s7.read_szl",
                    "s7.read_szl",
                    "cotp.disconnect"
                ];
                2
            ],
        ]
    );
    assert_eq!(plan.probes[0].port, 44818);
    assert_eq!(plan.probes[1].port, 502);
    assert_eq!(plan.probes[2].port, 102);
    assert_eq!(plan.estimate.requests_per_host_min, 1 + 2 + 5);
    // Worst case: every connection used and every follow-up its cap allows (Modbus: 15
    // more pages per stream read code, 2 codes per unit id; S7: 7 more pieces per SZL id,
    // 2 SZL ids per TSAP).
    assert_eq!(
        plan.estimate.requests_per_host_max,
        1 + (4 + 2 * 2 * 15) + (10 + 2 * 2 * 7)
    );
    let s7 = &plan.probes[2].connections[0];
    assert_eq!(s7.follow_ups.len(), 2);
    assert_eq!(s7.follow_ups[0].kind, "s7.read_szl_follow_up");
    assert_eq!(s7.follow_ups[0].at_most, 7);
    // Modbus: one connection per unit id at most (a silent unit's connection carries
    // nothing more); ENIP one; S7 one per TSAP.
    assert_eq!(plan.estimate.connections_per_host_max, 1 + 2 + 2);
    // Best case per host: enip 1 request, modbus 2 (0.5 s), s7 5 (2 s), two 2 s cool-downs.
    assert!((plan.estimate.per_host_best_s - 6.5).abs() < 1e-9);
    assert!(plan.estimate.total_worst_s >= plan.estimate.total_best_s);

    let text = plan.render_text();
    assert!(text.contains("targets   5 addresses (6 before exclusions, 1 excluded)"));
    assert!(text.contains(&plan.profile.sha256));
    assert!(text.contains("TSAP 0x0102 (PG, rack 0, slot 2)"));
    let details: Vec<Vec<&str>> = plan.probes[1]
        .connections
        .iter()
        .map(|c| c.requests.iter().map(|r| r.detail.as_str()).collect())
        .collect();
    assert_eq!(
        details,
        [
            [
                "unit 255, read code 0x01 (basic)",
                "unit 255, read code 0x02 (regular)",
            ],
            [
                "unit 0, read code 0x01 (basic)",
                "unit 0, read code 0x02 (regular)"
            ]
        ]
    );
    assert_eq!(plan.probes[1].connections[0].purpose, "unit id 255");
    assert_eq!(
        plan.probes[1].connections[1].purpose,
        "unit id 0, if unit id 255 did not answer (a new connection after a timeout)"
    );
    assert_eq!(
        plan.probes[2].connections[1].requests[3].detail,
        "SZL 0x001c index 0x0000"
    );
    let json: serde_json::Value = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["targets"]["count"], 5);
    assert_eq!(
        json["probes"][2]["connections"][0]["requests"][0]["kind"],
        "cotp.connect"
    );
    assert_eq!(json["probes"][0]["protocol"], "enip");
}

#[test]
fn dry_run_honours_overrides_and_profiles() {
    let cfg = dry_run_config(
        &["127.0.0.1"],
        &[],
        &["modbus.port=5020", "enip.list_services=true"],
    );
    let plan = Plan::build(&cfg);
    assert_eq!(plan.probes[1].port, 5020);
    let enip: Vec<&str> = plan.probes[0].connections[0]
        .requests
        .iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(enip, ["enip.list_identity", "enip.list_services"]);
    let cfg = ScanConfig::resolve(&ScanRequest {
        targets: vec!["127.0.0.1".into()],
        profile: Some("siemens".into()),
        ..ScanRequest::default()
    })
    .unwrap();
    let plan = Plan::build(&cfg);
    assert_eq!(plan.probes.len(), 1);
    assert_eq!(plan.probes[0].protocol, Protocol::S7);
    assert_eq!(
        plan.probes[0].connections[0].purpose,
        "TSAP 0x0302 (S7-basic, rack 0, slot 2)"
    );
}

/// The byte lengths come from the real encoders (SafeRequest::encoded_len).
#[test]
fn dry_run_request_lengths() {
    let cfg = dry_run_config(&["127.0.0.1"], &[], &["enip.list_services=true"]);
    let plan = Plan::build(&cfg);
    for probe in &plan.probes {
        for c in &probe.connections {
            for r in &c.requests {
                let want = match r.kind {
                    "modbus.read_device_id" => 11,
                    "enip.list_identity" | "enip.list_services" => 24,
                    "cotp.connect" => 22,
                    "cotp.disconnect" => 11,
                    "s7.setup_communication" => 25,
                    "s7.read_szl" => 33,
                    other => panic!("unexpected request {other}"),
                };
                assert_eq!(r.bytes, want, "{}", r.kind);
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn open_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.to_string_lossy().starts_with("socket:"))
        .count()
}

/// A /16 with an exclusion file plans in well under a second and opens no socket.
#[test]
fn dry_run_over_a_slash_16_is_fast_and_opens_no_socket() {
    let dir = tempfile::tempdir().unwrap();
    let excl = dir.path().join("exclude.txt");
    let mut text = String::from("# safety list\n");
    for i in 0..200 {
        text.push_str(&format!("10.20.{i}.1-10\n"));
    }
    std::fs::write(&excl, text).unwrap();
    #[cfg(target_os = "linux")]
    let before = open_sockets();
    let start = Instant::now();
    let cfg = ScanConfig::resolve(&ScanRequest {
        targets: vec!["10.20.0.0/16".into()],
        exclude_files: vec![excl],
        ..ScanRequest::default()
    })
    .unwrap();
    let plan = Plan::build(&cfg);
    let _ = plan.render_text();
    let _ = serde_json::to_string(&plan).unwrap();
    let elapsed = start.elapsed();
    #[cfg(target_os = "linux")]
    assert_eq!(open_sockets(), before, "the dry run opened a socket");
    assert_eq!(plan.targets.count, 65_534 - 2000);
    // 199 gaps between the excluded blocks and the tail after the last one.
    assert_eq!(plan.targets.range_count, 200);
    // Generous bound for a loaded CI machine; the bench measures the real figure.
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
}

#[test]
fn cli_dry_run_text_and_json() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
        .args([
            "scan",
            "10.0.0.0/30",
            "--exclude",
            "10.0.0.2",
            "--dry-run",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["targets"]["count"], 1);
    assert_eq!(json["targets"]["sample"][0], "10.0.0.1");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
        .args(["scan", "10.0.0.0/33", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"target "10.0.0.0/33": prefix length 33 is more than 32"#),
        "{err}"
    );
}

#[test]
fn cli_profiles_list_show_check() {
    let bin = env!("CARGO_BIN_EXE_otscout");
    let out = std::process::Command::new(bin)
        .args(["profiles", "list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in profile::builtin_names() {
        assert!(text.contains(name), "{name} missing from list");
    }
    let out = std::process::Command::new(bin)
        .args(["profiles", "show", "lab"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("max_rate = 10000.0"));
    let dir = tempfile::tempdir().unwrap();
    let p = write_profile(dir.path(), "[pacing]\ncooldown_ms = 10\n");
    let out = std::process::Command::new(bin)
        .args(["profiles", "check", &p])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 2: pacing.cooldown_ms must be at least 100 (hard limit), got 10"),
        "{err}"
    );
    let p = write_profile(dir.path(), "[pacing]\ncooldown_ms = 1000\n");
    let out = std::process::Command::new(bin)
        .args(["profiles", "check", &p])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A dry run checks `--window` and `--until` as the scan would: a plan approved with a
/// window the scan refuses is no plan (it used to print the plan and exit 0).
#[test]
fn dry_run_refuses_an_invalid_window_or_until() {
    for (flag, value) in [
        ("--window", "25:00-26:61"),
        ("--window", "22:00"),
        ("--until", "tomorrow-ish"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
            .args(["scan", "127.0.0.1", "--dry-run", flag, value])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(
            out.stdout.is_empty(),
            "a plan was printed for {flag} {value}"
        );
        assert!(err.contains(flag), "{err}");
    }
    // A valid window still plans.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
        .args(["scan", "127.0.0.1", "--dry-run", "--window", "22:00-05:30"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// The dry run says where the breaker stops a Modbus probe before its last unit id.
#[test]
fn plan_notes_the_breaker_before_the_last_unit_id() {
    let mut p = otscout::profile::builtin("lab").unwrap().profile;
    p.modbus.enabled = true;
    p.modbus.allow_other_unit_ids = true;
    p.modbus.unit_ids = (1..=12).collect();
    p.pacing.breaker_failures = 3;
    let modbus = otscout::plan::probe_plans(&p)
        .into_iter()
        .find(|pp| pp.protocol == otscout::inventory::Protocol::Modbus)
        .unwrap();
    assert_eq!(modbus.max_connections(), 12);
    assert!(
        modbus
            .notes
            .iter()
            .any(|n| n.contains("after 3 silent unit ids")),
        "{:?}",
        modbus.notes
    );
    p.pacing.breaker_failures = 20;
    let modbus = otscout::plan::probe_plans(&p)
        .into_iter()
        .find(|pp| pp.protocol == otscout::inventory::Protocol::Modbus)
        .unwrap();
    assert!(modbus.notes.is_empty(), "{:?}", modbus.notes);
}

/// `otscout scan --dry-run` lists each unit a profile reads behind a Modbus gateway and
/// counts them in the worst case per host: with `gateway_units = [1, 2, 3]` under
/// conservative (basic and regular, 15 more pages each at most), 32 requests and one
/// connection more per unit.
#[test]
fn cli_dry_run_shows_the_units_behind_a_gateway_and_their_worst_case() {
    let run = |sets: &[&str]| {
        let mut args = vec!["scan", "10.0.0.1", "--dry-run", "--json"];
        for s in sets {
            args.extend(["--set", s]);
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let before = run(&[]);
    let after = run(&["modbus.gateway_units=[1,2,3]"]);
    let est = |j: &serde_json::Value, k: &str| j["estimate"][k].as_u64().unwrap();
    assert_eq!(
        est(&after, "requests_per_host_max"),
        est(&before, "requests_per_host_max") + 3 * 32
    );
    assert_eq!(
        est(&after, "connections_per_host_max"),
        est(&before, "connections_per_host_max") + 3
    );
    let modbus = after["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["protocol"] == "modbus")
        .unwrap();
    let details: Vec<&str> = modbus["connections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["requests"].as_array().unwrap())
        .map(|r| r["detail"].as_str().unwrap())
        .collect();
    assert_eq!(details.len(), 10, "{details:?}");
    assert_eq!(details[4], "unit 1, read code 0x01 (basic)");
    assert_eq!(details[9], "unit 3, read code 0x02 (regular)");
    assert!(
        modbus["connections"][2]["purpose"]
            .as_str()
            .unwrap()
            .starts_with("unit id 1 behind a gateway (modbus:unit/1)")
    );
    // Outside 1-247: refused with the key, the rule and the value.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
        .args([
            "scan",
            "10.0.0.1",
            "--dry-run",
            "--set",
            "modbus.gateway_units=[1,248]",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("modbus.gateway_units may hold only serial unit ids 1 to 247")
            && err.contains("got 248"),
        "{err}"
    );
}
