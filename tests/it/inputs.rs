//! Hostile and broken input at the command line's edges: every file the CLI reads gives
//! one clear error line (the file, what is wrong, what to do) and exit 2, never a panic,
//! never a silently partial result; the scan journal recovers a torn last line and names
//! anything else.

use std::path::Path;
use std::process::{Command, Output};

use otscout::inventory::{Input, merge};
use otscout::probe::journal::{self, JOURNAL_FORMAT, Journal, JournalError, JournalHeader};
use otscout::report::{input, json, sign};
use proptest::prelude::*;

use super::inventory::{fixture, t};

fn otscout(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otscout"))
        .args(args)
        .current_dir(dir)
        .env_remove("OTSCOUT_KEY_PASSWORD")
        .output()
        .expect("run otscout")
}

/// Asserts the run failed with exit 2 and exactly one `otscout: error:` line naming
/// `names` and saying `says`; returns the line.
fn one_error(out: &Output, names: &str, says: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "exit code; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    let line = lines[0];
    assert!(line.starts_with("otscout: error: "), "{line}");
    assert!(line.contains(names), "does not name {names:?}: {line}");
    assert!(line.contains(says), "does not say {says:?}: {line}");
    line.to_owned()
}

/// A signed report, a second key pair, and every kind of broken input beside them.
struct Bench {
    dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let inputs: Vec<Input> = ["scan.json", "passive.json"]
            .iter()
            .map(|f| input::load(&fixture(f), None).expect("fixture"))
            .collect();
        let inv = merge(&inputs, t("2026-11-21T00:00:00Z"));
        let bytes = json::render(&inv);
        sign::keygen(d, &sign::Protection::Unencrypted).expect("keygen");
        std::fs::create_dir(d.join("k2")).unwrap();
        sign::keygen(&d.join("k2"), &sign::Protection::Unencrypted).expect("keygen 2");
        let sk = sign::load_secret_key(&d.join("otscout.key"), &mut || None).unwrap();
        let sk2 = sign::load_secret_key(&d.join("k2/otscout.key"), &mut || None).unwrap();
        let at = t("2026-11-21T00:05:00Z");
        for (name, key) in [("good.json", &sk), ("other.json", &sk2), ("bad.json", &sk)] {
            std::fs::write(d.join(name), &bytes).unwrap();
            sign::sign_file(&d.join(name), key, at).unwrap();
        }
        // One byte changed after signing.
        let mut tampered = bytes.clone();
        let at = tampered.len() / 2;
        tampered[at] = if tampered[at] == b'1' { b'2' } else { b'1' };
        std::fs::write(d.join("bad.json"), tampered).unwrap();
        std::fs::write(d.join("empty.json"), b"").unwrap();
        std::fs::write(d.join("trunc.json"), &bytes[..bytes.len() / 3]).unwrap();
        std::fs::create_dir(d.join("dir.json")).unwrap();
        std::fs::write(d.join("latin1.json"), b"\xff\xfe\x00caf\xe9 {").unwrap();
        // A pcap global header (libpcap, little-endian, Ethernet) and no packets.
        let mut pcap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        pcap.extend([0u8; 8]);
        pcap.extend(65535u32.to_le_bytes());
        pcap.extend(1u32.to_le_bytes());
        std::fs::write(d.join("cap.json"), pcap).unwrap();
        Bench { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str]) -> Output {
        otscout(args, self.path())
    }
}

/// Each broken file, to `diff`, `report` and `merge`: one line naming it, exit 2.
#[test]
fn broken_reports_give_one_clear_line_and_exit_2() {
    let b = Bench::new();
    let cases = [
        ("empty.json", "is empty", "empty file"),
        ("trunc.json", "cut short at line", "cut short at line"),
        ("dir.json", "is a directory", "is a directory"),
        ("missing.json", "no such file", "no such file"),
        ("latin1.json", "binary", "not something otscout merges"),
    ];
    for (file, read_says, merge_says) in cases {
        let out = b.run(&["diff", file, "good.json"]);
        one_error(&out, file, read_says);
        let out = b.run(&["diff", "good.json", file]);
        one_error(&out, file, read_says);
        let out = b.run(&["report", file]);
        one_error(&out, file, read_says);
        let out = b.run(&["merge", file, "-o", "out.json"]);
        one_error(&out, file, merge_says);
        assert!(
            !b.path().join("out.json").exists(),
            "{file}: partial output"
        );
    }
    // A capture is not a report; merge takes captures.
    one_error(
        &b.run(&["report", "cap.json"]),
        "cap.json",
        "packet capture",
    );
    one_error(
        &b.run(&["diff", "cap.json", "good.json"]),
        "cap.json",
        "packet capture",
    );
    // An output that cannot be written leaves no temporary file behind.
    one_error(
        &b.run(&[
            "merge",
            "good.json",
            "-o",
            "dir.json",
            "--quiet",
            "--pubkey",
            "otscout.pub",
        ]),
        "report dir.json is a directory",
        "only ever replaces regular files",
    );
    let temps: Vec<_> = std::fs::read_dir(b.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
    let out = b.run(&["merge", "cap.json", "-o", "out.json", "--quiet"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Signed by another key, changed after signing, or no signature at all: each says
/// which, and what to do, for every command that checks signatures.
#[test]
fn signature_failures_say_which_failure_it_is() {
    let b = Bench::new();
    let pk = "otscout.pub";
    for (file, says) in [
        ("other.json", "signed by another key"),
        ("bad.json", "changed after signing"),
        ("trunc.json", "no signature for"),
    ] {
        one_error(&b.run(&["verify", file, "--pubkey", pk]), file, says);
        one_error(
            &b.run(&["diff", file, "good.json", "--pubkey", pk]),
            file,
            says,
        );
        one_error(&b.run(&["report", file, "--pubkey", pk]), file, says);
    }
    // merge refuses a signed earlier report that fails; one without a signature fails
    // the check as well when --pubkey is given.
    for (file, says) in [
        ("other.json", "signed by another key"),
        ("bad.json", "changed after signing"),
    ] {
        let out = b.run(&["merge", file, "-o", "out.json", "--pubkey", pk]);
        one_error(&out, file, says);
    }
    let ok = b.run(&["verify", "good.json", "--pubkey", pk]);
    assert_eq!(ok.status.code(), Some(0));
    // The key ids quoted are minisign's: the other key's id is in its public key file.
    let line = one_error(
        &b.run(&["verify", "other.json", "--pubkey", pk]),
        "other.json",
        "key id",
    );
    assert!(!line.contains("Signature key id"), "{line}");
}

/// Keys, signatures, profiles and target files are read with a cap: a wrong path to a
/// huge or endless file is refused by name instead of filling memory.
#[test]
fn every_whole_file_input_is_capped() {
    let b = Bench::new();
    let d = b.path();
    std::fs::write(d.join("huge.pub"), vec![b'A'; 65 * 1024]).unwrap();
    one_error(
        &b.run(&["verify", "good.json", "--pubkey", "huge.pub"]),
        "huge.pub",
        "larger than 64 KiB",
    );
    std::fs::copy(d.join("good.json"), d.join("bigsig.json")).unwrap();
    std::fs::write(d.join("bigsig.json.minisig"), vec![b'A'; 1024 * 1024 + 1]).unwrap();
    one_error(
        &b.run(&["verify", "bigsig.json", "--pubkey", "otscout.pub"]),
        "bigsig.json.minisig",
        "larger than 1 MiB",
    );
    let zero = Path::new("/dev/zero");
    if zero.exists() {
        one_error(
            &b.run(&["profiles", "check", "/dev/zero"]),
            "/dev/zero",
            "larger than 1 MiB",
        );
        one_error(
            &b.run(&["scan", "-i", "/dev/zero", "--dry-run"]),
            "/dev/zero",
            "larger than 16 MiB",
        );
        one_error(
            &b.run(&[
                "scan",
                "10.0.0.1",
                "--exclude-file",
                "/dev/zero",
                "--dry-run",
            ]),
            "/dev/zero",
            "exclude file /dev/zero is larger",
        );
        one_error(
            &b.run(&["report", "good.json", "--pubkey", "/dev/zero"]),
            "/dev/zero",
            "larger than 64 KiB",
        );
    }
    std::fs::write(d.join("latin1.toml"), b"name = \"caf\xe9\"\n").unwrap();
    one_error(
        &b.run(&["profiles", "check", "latin1.toml"]),
        "latin1.toml line 1",
        "not UTF-8",
    );
    std::fs::create_dir(d.join("prof.toml")).unwrap();
    one_error(
        &b.run(&["profiles", "check", "prof.toml"]),
        "prof.toml",
        "is a directory",
    );
}

/// Reports crafted to hurt the reader: deep nesting, unknown versions, wrong types. Each
/// is refused with a line and column or the version, never a crash.
#[test]
fn hostile_report_json_is_refused_not_crashed_on() {
    let b = Bench::new();
    let d = b.path();
    let depth = 200_000;
    let deep = format!(
        "{{\"format\":\"otscout-report\",\"version\":1,\"x\":{}{}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    std::fs::write(d.join("deep.json"), &deep).unwrap();
    let deep_first = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    std::fs::write(d.join("deep2.json"), &deep_first).unwrap();
    std::fs::write(
        d.join("v99.json"),
        // A version from the future (2 is read since the fleet schema).
        br#"{"format":"otscout-report","version":99,"assets":[]}"#,
    )
    .unwrap();
    std::fs::write(
        d.join("types.json"),
        br#"{"format":"otscout-report","version":"1"}"#,
    )
    .unwrap();
    std::fs::write(
        d.join("assets.json"),
        format!(
            "{{\"format\":\"otscout-report\",\"version\":1,\"assets\":[{}1]}}",
            "1,".repeat(100_000)
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("scan2.json"),
        br#"{"format":"otscout-scan","version":3}"#,
    )
    .unwrap();
    one_error(
        &b.run(&["merge", "scan2.json", "-o", "out.json"]),
        "scan2.json",
        "scan result version 3 is not supported",
    );
    std::fs::write(
        d.join("scantypes.json"),
        br#"{"format":"otscout-scan","version":1,"scan":{"scan_id":7}}"#,
    )
    .unwrap();
    one_error(
        &b.run(&["merge", "scantypes.json", "-o", "out.json"]),
        "scantypes.json: not a valid scan result file",
        "line 1 column",
    );
    for (file, says) in [
        ("deep.json", "line 1 column"),
        ("deep2.json", "does not start with `{`"),
        ("v99.json", "version 99 is not supported"),
        ("types.json", "line 1 column"),
        ("assets.json", "line 1 column"),
    ] {
        one_error(&b.run(&["report", file]), file, says);
        one_error(&b.run(&["diff", "good.json", file]), file, says);
        let out = b.run(&["merge", file, "-o", "out.json"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

fn header(profile_sha256: &str) -> JournalHeader {
    JournalHeader {
        format: JOURNAL_FORMAT.into(),
        version: 1,
        scan_id: "s".into(),
        profile: "p".into(),
        profile_sha256: profile_sha256.into(),
        started: t("2026-11-21T00:00:00Z"),
        // What `resume_args` scans: a resume over other targets is refused.
        scope: vec!["127.23.91.1-2".into()],
        exclusions: vec![],
    }
}

fn host_line(ip: &str) -> String {
    let now = t("2026-11-21T00:00:01Z");
    let line = journal::JournalLine::Host {
        host: otscout::probe::scan::HostReport {
            ip: ip.parse().unwrap(),
            state: otscout::probe::scan::HostState::Done,
            started: now,
            finished: now,
            probes: vec![],
            left_alone: None,
            notes: vec![],
        },
    };
    format!("{}\n", serde_json::to_string(&line).unwrap())
}

/// A journal with a header and hosts .1 to .`n`, as its bytes.
fn journal_bytes(n: u8) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("j.jsonl");
    Journal::create(&p, &header("ab"))
        .unwrap()
        .finish()
        .unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    for i in 1..=n {
        bytes.extend(host_line(&format!("127.23.90.{i}")).as_bytes());
    }
    bytes
}

fn read_journal(bytes: &[u8]) -> Result<journal::Resumed, JournalError> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("j.jsonl");
    std::fs::write(&p, bytes).unwrap();
    journal::read(&p)
}

#[test]
fn a_torn_last_line_is_dropped_and_named_anything_else_is_an_error() {
    let good = journal_bytes(3);
    let r = read_journal(&good).unwrap();
    assert_eq!((r.done.len(), r.torn_line), (3, None));

    // A crash mid-write: the fourth line (host .3) is torn; .1 and .2 survive.
    let torn = &good[..good.len() - 10];
    let r = read_journal(torn).unwrap();
    assert_eq!((r.done.len(), r.torn_line, r.torn_tail), (2, Some(4), true));

    // A corrupted line in the middle is not a crash: named, with what to do.
    let text = String::from_utf8(good.clone()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = "{\"type\":\"host\",\"host\":{\"ip\":\"127.23.90.2\",\"st";
    let e = read_journal(lines.join("\n").as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 3"), "{e}");
    assert!(e.contains("remove that line"), "{e}");

    // Binary garbage in the middle, a line longer than any we write.
    let mut bin = good.clone();
    let second = bin.iter().position(|c| *c == b'\n').unwrap() + 1;
    bin.splice(second..second, b"\xff\xfe\x00\x01\n".iter().copied());
    let e = read_journal(&bin).unwrap_err().to_string();
    assert!(e.contains("line 2"), "{e}");
    let mut long = good.clone();
    long.splice(
        second..second,
        std::iter::repeat_n(b'x', journal::MAX_LINE + 10),
    );
    let e = read_journal(&long).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("longer than"), "{e}");

    // Empty, whitespace, a torn header, not ours, another version, a directory.
    for empty in [&b""[..], b"\n\n  \n"] {
        assert!(matches!(
            read_journal(empty),
            Err(JournalError::Empty { .. })
        ));
    }
    let head_only = &good[..30];
    let e = read_journal(head_only).unwrap_err();
    assert!(matches!(e, JournalError::TornHeader { .. }), "{e}");
    assert!(e.to_string().contains("start a new scan"), "{e}");
    for (ours_not, says) in [
        (
            &b"{\"format\":\"otscout-report\",\"version\":1}\n"[..],
            "line 1",
        ),
        (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00", "line 1"),
        (b"ip,vendor\n10.0.0.1,acme\n", "line 1"),
    ] {
        let e = read_journal(ours_not).unwrap_err().to_string();
        assert!(
            e.contains(says) && e.contains("not an otscout scan journal"),
            "{e}"
        );
    }
    // Version 2 (with `sent` lines) is read too; a later one is not.
    let v3 = String::from_utf8(good.clone())
        .unwrap()
        .replacen("\"version\":1", "\"version\":3", 1);
    let e = read_journal(v3.as_bytes()).unwrap_err().to_string();
    assert!(e.contains("version 3 is not supported"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let e = journal::read(dir.path()).unwrap_err().to_string();
    assert!(e.contains("is a directory"), "{e}");
    let e = journal::read(&dir.path().join("none.jsonl"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("none.jsonl: no such file; give the journal"),
        "{e}"
    );
}

/// What a second Ctrl-C relies on: lines still queued for the writer thread reach the
/// file when the journal is flushed, without waiting for `finish`.
#[test]
fn flush_writes_every_queued_line_before_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("j.jsonl");
    let handle = Journal::create(&p, &header("ab")).unwrap();
    let j = handle.journal().unwrap().clone();
    for i in 0..200u16 {
        j.append(&journal::JournalLine::Host {
            host: otscout::probe::scan::HostReport {
                ip: std::net::IpAddr::from([127, 23, (i >> 8) as u8 + 90, i as u8]),
                state: otscout::probe::scan::HostState::Done,
                started: t("2026-11-21T00:00:01Z"),
                finished: t("2026-11-21T00:00:01Z"),
                probes: vec![],
                left_alone: None,
                notes: vec![],
            },
        });
    }
    assert!(j.flush(std::time::Duration::from_secs(5)));
    // Read while the writer still runs: everything queued before the flush is there.
    let r = journal::read(&p).unwrap();
    assert_eq!(r.done.len(), 200);
    assert_eq!(r.torn_line, None);
    drop(j); // the writer ends when the last sender is gone
    handle.finish().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any bytes: an answer or an error, never a panic.
    #[test]
    fn journal_read_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = read_journal(&bytes);
    }

    /// A journal cut at any byte (a crash at any moment) either resumes, having lost at
    /// most the line it was cut in, or says there is nothing to resume.
    #[test]
    fn a_journal_cut_anywhere_resumes_with_what_was_whole(cut in 0usize..2000) {
        let good = journal_bytes(5);
        let cut = cut.min(good.len());
        let bytes = &good[..cut];
        let whole_lines = bytes.iter().filter(|c| **c == b'\n').count();
        let tail = &bytes[bytes.iter().rposition(|c| *c == b'\n').map_or(0, |i| i + 1)..];
        // Cut just before a newline: the last line is whole, only its newline is missing.
        let whole_tail = !tail.is_empty()
            && serde_json::from_slice::<journal::JournalLine>(tail).is_ok();
        match read_journal(bytes) {
            Ok(r) => {
                let lines = whole_lines + usize::from(whole_tail);
                prop_assert!(lines >= 1);
                prop_assert_eq!(r.done.len(), lines - 1);
                let torn = !tail.is_empty() && !whole_tail;
                prop_assert_eq!(r.torn_line, torn.then_some(whole_lines + 1));
            }
            Err(JournalError::Empty { .. } | JournalError::TornHeader { .. }) => {
                prop_assert!(whole_lines == 0 && !whole_tail);
            }
            Err(e) => prop_assert!(false, "cut at {}: {}", cut, e),
        }
    }
}

/// The profile a resumed CLI scan below runs with: lab, without vendor rules (their
/// cool-downs would hold the resume for seconds), every protocol but Modbus off, Modbus
/// on a closed loopback port.
fn quick_profile(dir: &Path) -> (String, Vec<String>, String) {
    let closed = std::net::TcpListener::bind("127.23.91.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let sets = vec![
        "enip.enabled=false".to_string(),
        "s7.enabled=false".to_string(),
        format!("modbus.port={port}"),
        "pacing.cooldown_ms=100".to_string(),
    ];
    let mut lab: toml::Table =
        toml::from_str(&otscout::profile::builtin("lab").unwrap().canonical_toml).unwrap();
    lab.insert("vendor_rules".into(), toml::Value::Array(Vec::new()));
    let path = dir.join("quick.toml");
    std::fs::write(&path, toml::to_string(&lab).unwrap()).unwrap();
    let arg = path.display().to_string();
    let sha = otscout::profile::load_with_overrides(&arg, &sets)
        .unwrap()
        .sha256;
    (arg, sets, sha)
}

fn resume_args(profile: &str, sets: &[String], journal: &Path, out: &Path) -> Vec<String> {
    let mut args: Vec<String> = ["scan", "127.23.91.1-2", "--profile", profile, "--quiet"]
        .map(String::from)
        .to_vec();
    for s in sets {
        args.extend(["--set".to_string(), s.clone()]);
    }
    args.extend([
        "-o".into(),
        out.display().to_string(),
        "--resume".into(),
        journal.display().to_string(),
    ]);
    args
}

/// `--resume` after a crash: the torn line is dropped, said so (even with --quiet), and
/// the scan completes; the journal then resumes cleanly again.
#[test]
fn cli_resume_reports_the_dropped_torn_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (profile, sets, sha) = quick_profile(d);
    let jpath = d.join("j.jsonl");
    Journal::create(&jpath, &header(&sha))
        .unwrap()
        .finish()
        .unwrap();
    let mut bytes = std::fs::read(&jpath).unwrap();
    bytes.extend(host_line("127.23.91.1").as_bytes());
    let torn = host_line("127.23.91.2");
    bytes.extend(&torn.as_bytes()[..torn.len() / 2]);
    std::fs::write(&jpath, bytes).unwrap();

    let out_path = d.join("r.json");
    let args = resume_args(&profile, &sets, &jpath, &out_path);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = otscout(&args, d);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3 was torn") && stderr.contains("is dropped"),
        "{stderr}"
    );
    assert_ne!(out.status.code(), Some(2), "{stderr}");
    assert!(out_path.exists(), "{stderr}");
    // The torn line was cut, so the journal reads whole again.
    let r = journal::read(&jpath).unwrap();
    assert_eq!(r.torn_line, None);
    assert_eq!(r.done.len(), 2, "{:?}", r.done.keys());
}

/// `--resume` of another profile's journal, of an empty one, of one that is not ours:
/// refused with one line, nothing probed, nothing written.
#[test]
fn cli_resume_refuses_journals_it_cannot_continue() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (profile, sets, _) = quick_profile(d);
    let other = d.join("other.jsonl");
    Journal::create(&other, &header("00"))
        .unwrap()
        .finish()
        .unwrap();
    let empty = d.join("empty.jsonl");
    std::fs::write(&empty, b"").unwrap();
    let foreign = d.join("foreign.jsonl");
    std::fs::write(&foreign, b"ip,vendor\n10.0.0.1,acme\n").unwrap();
    let middle = d.join("middle.jsonl");
    let mut bytes = std::fs::read(&other).unwrap();
    bytes.extend(b"garbage\n");
    bytes.extend(host_line("127.23.91.1").as_bytes());
    std::fs::write(&middle, bytes).unwrap();
    for (j, says) in [
        (&other, "resume with the same profile"),
        (&empty, "nothing to resume"),
        (&foreign, "not an otscout scan journal"),
        (&middle, "line 2"),
    ] {
        let out_path = d.join("r.json");
        let args = resume_args(&profile, &sets, j, &out_path);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let name = j.file_name().unwrap().to_str().unwrap();
        one_error(&otscout(&args, d), name, says);
        assert!(!out_path.exists(), "{name}: a result was written");
    }
}

/// Targets and exclusions files from Windows editors: a BOM, CRLF, tabs and trailing
/// blanks are accepted; a control character in a spec is shown escaped.
#[test]
fn target_files_accept_bom_crlf_and_blanks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("t.txt"),
        b"\xef\xbb\xbf10.23.0.1\r\n 10.23.0.2 \r\n\t10.23.0.4/31\t# two\r\n\r\n",
    )
    .unwrap();
    std::fs::write(d.join("x.txt"), b"\xef\xbb\xbf10.23.0.2\r\n").unwrap();
    let out = otscout(
        &[
            "scan",
            "-i",
            "t.txt",
            "--exclude-file",
            "x.txt",
            "--dry-run",
            "--json",
        ],
        d,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["targets"]["count"], 3, "{plan}");
    assert_eq!(plan["targets"]["excluded"], 1, "{plan}");

    std::fs::write(d.join("esc.txt"), b"10.23.0.1\x1b[31m\n").unwrap();
    let line = one_error(
        &otscout(&["scan", "-i", "esc.txt", "--dry-run"], d),
        "esc.txt line 1",
        "not an IP address",
    );
    assert!(!line.contains('\x1b'), "{line:?}");
    assert!(line.contains("\\u{1b}"), "{line:?}");
    std::fs::write(d.join("latin1.txt"), b"10.23.0.1\n10.23.0.\xe9\n").unwrap();
    one_error(
        &otscout(&["scan", "-i", "latin1.txt", "--dry-run"], d),
        "latin1.txt line 2",
        "not UTF-8",
    );
}

/// The second Ctrl-C: the scan exits at once (exit 3), after flushing what was queued
/// for the journal, and the journal resumes with the hosts finished before.
#[test]
fn a_second_ctrl_c_exits_promptly_with_the_journal_flushed() {
    if !Path::new("/bin/kill").exists() && !Path::new("/usr/bin/kill").exists() {
        eprintln!("skipped: no kill command");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // .2 accepts and never answers; .1 has nothing on the port (refused at once).
    let hang = std::net::TcpListener::bind("127.23.92.2:0").unwrap();
    let port = hang.local_addr().unwrap().port();
    let (accepted_tx, accepted) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((conn, _)) = hang.accept() {
            let _ = accepted_tx.send(());
            std::thread::sleep(std::time::Duration::from_secs(30));
            drop(conn);
        }
    });
    let out_path = d.join("r.json");
    let port_set = format!("modbus.port={port}");
    let args = [
        "scan",
        "127.23.92.1-2",
        "--profile",
        "lab",
        "--set",
        "enip.enabled=false",
        "--set",
        "s7.enabled=false",
        "--set",
        &port_set,
        "--set",
        "pacing.hosts_in_flight=1",
        "--set",
        "pacing.response_timeout_ms=8000",
        "--quiet",
        "-o",
        "r.json",
    ];
    let child = Command::new(env!("CARGO_BIN_EXE_otscout"))
        .args(args)
        .current_dir(d)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn otscout");
    let got = accepted.recv_timeout(std::time::Duration::from_secs(20));
    let pid = child.id().to_string();
    let int = || {
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("send SIGINT to our own child")
    };
    int();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let sent = std::time::Instant::now();
    int();
    let o = child.wait_with_output().expect("wait");
    let took = sent.elapsed();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        got.is_ok(),
        "the scan never reached the hanging host: {stderr}"
    );
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(
        took < std::time::Duration::from_secs(3),
        "exit took {took:?}"
    );
    assert!(stderr.contains("the journal is intact"), "{stderr}");
    // No result file (exited at once), but the journal holds the host done before.
    assert!(!out_path.exists());
    let r = journal::read(&d.join("r.json.journal.jsonl")).unwrap();
    assert!(
        r.done.contains_key(&"127.23.92.1".parse().unwrap()),
        "{:?}",
        r.done.keys()
    );
}

/// Profile files with hostile values: each refused with the file and its line (and
/// column for syntax), through `profiles check` and `scan --profile`.
#[test]
fn hostile_profile_values_are_named_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let head = "name = \"site\"\nextends = \"conservative\"\n";
    let cases = [
        ("[pacing]\nmax_rate = nan\n", "line 4", "max_rate"),
        ("[pacing]\nmax_rate = inf\n", "line 4", "max_rate"),
        ("[pacing]\nmax_rate = -inf\n", "line 4", "max_rate"),
        ("[pacing]\nmax_rate = -1.0\n", "line 4", "max_rate"),
        ("[pacing]\nmax_rate = 1e300\n", "line 4", "max_rate"),
        ("[pacing]\ncooldown_ms = -5\n", "line 4", "cooldown_ms"),
        (
            "[pacing]\nburst = 99999999999999999999\n",
            "line 4, column",
            "",
        ),
        ("[modbus]\nport = 0\n", "line 4", "modbus.port"),
        ("[modbus]\nport = 65536\n", "line 4", "modbus.port"),
        ("[modbus]\nunit_ids = []\n", "line 4", "modbus.unit_ids"),
        ("[s7]\nport = 4294967297\n", "line 4", "s7.port"),
    ];
    for (i, (body, at, key)) in cases.iter().enumerate() {
        let name = format!("p{i}.toml");
        std::fs::write(d.join(&name), format!("{head}{body}")).unwrap();
        let line = one_error(
            &otscout(&["profiles", "check", &name], d),
            &format!("{name} {at}"),
            key,
        );
        let scan = one_error(
            &otscout(&["scan", "10.23.0.1", "--profile", &name, "--dry-run"], d),
            &format!("{name} {at}"),
            key,
        );
        assert!(scan.ends_with(&line["otscout: error: ".len()..]), "{scan}");
    }
    // extends names built-ins only, so a file cannot extend itself or a missing file.
    std::fs::write(
        d.join("self.toml"),
        "name = \"s\"\nextends = \"self.toml\"\n",
    )
    .unwrap();
    one_error(
        &otscout(&["profiles", "check", "self.toml"], d),
        "self.toml",
        "extends must name a built-in profile",
    );
}

fn report_bytes() -> Vec<u8> {
    let inputs: Vec<Input> = ["scan.json", "passive.json", "declared.json"]
        .iter()
        .map(|f| input::load(&fixture(f), None).expect("fixture"))
        .collect();
    json::render(&merge(&inputs, t("2026-11-21T00:00:00Z")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any bytes given as a report: an answer or an error, never a panic.
    #[test]
    fn report_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = json::parse_lenient(&bytes);
        let _ = json::parse(&bytes);
    }

    /// A report cut anywhere (a copy that did not finish) is refused, never read as a
    /// smaller inventory; only the final newline may go.
    #[test]
    fn a_cut_report_is_never_a_partial_inventory(frac in 0.0f64..1.0) {
        let good = report_bytes();
        let cut = ((good.len() - 1) as f64 * frac) as usize;
        let e = json::parse_lenient(&good[..cut]);
        prop_assert!(e.is_err(), "cut at {} of {} parsed", cut, good.len());
        let e = e.unwrap_err();
        prop_assert!(
            matches!(e, json::ReportError::Empty | json::ReportError::Truncated { .. }),
            "cut at {}: {}", cut, e
        );
    }

    /// One byte changed anywhere in a signed report: verification fails.
    #[test]
    fn one_changed_byte_anywhere_fails_verification(at in 0usize..100_000, to in any::<u8>()) {
        let good = report_bytes();
        let at = at % good.len();
        prop_assume!(good[at] != to);
        let (sk, pk) = signing_pair();
        let sig = sign::sign_bytes(&good, &sk, &sign::trusted_comment(&good, &[], t("2026-11-21T00:05:00Z"), "r.json")).unwrap();
        let mut bad = good.clone();
        bad[at] = to;
        prop_assert!(sign::verify_bytes(Path::new("r.json"), &bad, &sig, &pk).is_err());
    }
}

fn signing_pair() -> (minisign::SecretKey, minisign::PublicKey) {
    let kp = minisign::KeyPair::generate_unencrypted_keypair().expect("keypair");
    (kp.sk, kp.pk)
}

/// `otscout diff` prints device strings from (possibly unsigned) reports: an escape
/// sequence or a newline in a model cannot reach the terminal or forge a line.
#[test]
fn diff_text_does_not_pass_device_control_characters_to_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inputs: Vec<Input> = ["scan.json", "passive.json"]
        .iter()
        .map(|f| input::load(&fixture(f), None).expect("fixture"))
        .collect();
    let old = merge(&inputs, t("2026-11-21T00:00:00Z"));
    let mut new = old.clone();
    let a = new
        .assets
        .iter_mut()
        .find(|a| a.model.is_some())
        .expect("an asset with a model");
    a.model.as_mut().unwrap().value = "PLC\u{1b}[2J\n+ new asset 6.6.6.6 (forged)".into();
    std::fs::write(d.join("old.json"), json::render(&old)).unwrap();
    std::fs::write(d.join("new.json"), json::render(&new)).unwrap();
    let out = otscout(&["diff", "old.json", "new.json"], d);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(
        !text.lines().any(|l| l.starts_with("+ new asset 6.6.6.6")),
        "{text}"
    );
    assert!(
        text.contains("PLC?[2J?+ new asset 6.6.6.6 (forged)"),
        "{text}"
    );
}

/// `--set` with half a pair, or a terminal escape in it: one line, the spec named, no
/// raw control character printed.
#[test]
fn set_specs_missing_a_side_or_carrying_escapes_are_refused_plainly() {
    let dir = tempfile::tempdir().unwrap();
    for spec in ["=3", "pacing.max_rate=", " = "] {
        one_error(
            &otscout(
                &["scan", "10.23.0.1", "--dry-run", "--set", spec],
                dir.path(),
            ),
            &format!("--set {spec}"),
            "expected key=value with both sides",
        );
    }
    let line = one_error(
        &otscout(
            &[
                "scan",
                "10.23.0.1",
                "--dry-run",
                "--set",
                "pacing.max_rate=\u{1b}[2J",
            ],
            dir.path(),
        ),
        "pacing.max_rate",
        "must be a number",
    );
    assert!(!line.contains('\u{1b}'), "{line:?}");
}

/// Target specs at the edges, from the command line: each refused with the spec and the
/// reason, or planned with honest numbers.
#[test]
fn target_edge_cases_are_refused_by_name_or_planned_honestly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (spec, says) in [
        (
            "10.0.0.40-5",
            "range end 10.0.0.5 is before its start 10.0.0.40",
        ),
        ("10.0.0.9-10.0.0.1", "is before its start"),
        ("10.0.0.1-2001:db8::1", "mixes IPv4 and IPv6"),
        ("2001:db8::1-10.0.0.1", "mixes IPv4 and IPv6"),
        ("10.0.0.1/33", "prefix length 33 is more than 32"),
        ("2001:db8::/129", "prefix length 129"),
        ("10.0.0.1-300", "more than 255"),
        ("::/0", "never touches"),
        ("0.0.0.0/0", "never touches"),
    ] {
        one_error(&otscout(&["scan", spec, "--dry-run"], d), spec, says);
    }
    // Too large a scope is about the whole scope, not one spec.
    for (spec, count) in [
        ("10.0.0.0/8", "16777214"),
        ("2001:db8::/32", "79228162514264337593543950336"),
    ] {
        one_error(
            &otscout(&["scan", spec, "--dry-run"], d),
            &format!("scope of {count} addresses"),
            "--allow-large-scope",
        );
    }
    // 2^96 addresses: planned lazily, and the estimate does not pretend to a day count.
    let out = otscout(
        &["scan", "2001:db8::/32", "--allow-large-scope", "--dry-run"],
        d,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("79228162514264337593543950336 addresses"),
        "{text}"
    );
    assert!(text.contains("more than 100 years"), "{text}");
}

/// An empty safety list is refused (a failed copy would otherwise expose what it
/// protects); a comment-only list is an explicit "nothing excluded".
#[test]
fn an_empty_exclude_file_is_refused_and_a_comment_only_one_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for body in [&b""[..], b"\xef\xbb\xbf\r\n  \n"] {
        std::fs::write(d.join("x.txt"), body).unwrap();
        one_error(
            &otscout(
                &["scan", "10.23.0.1", "--exclude-file", "x.txt", "--dry-run"],
                d,
            ),
            "exclude file x.txt is empty",
            "# nothing excluded",
        );
    }
    std::fs::write(d.join("x.txt"), b"# nothing excluded\n").unwrap();
    let out = otscout(
        &["scan", "10.23.0.1", "--exclude-file", "x.txt", "--dry-run"],
        d,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An empty targets file is not a safety issue: nothing to scan is said as such.
    std::fs::write(d.join("t.txt"), b"").unwrap();
    one_error(
        &otscout(&["scan", "-i", "t.txt", "--dry-run"], d),
        "no targets given",
        "-i",
    );
}
