//! The command line's input and output edges (issue 12, defects 6, 8, 9, 10 and 12 and
//! the small input fixes): a closed or full standard output, output files that must not
//! replace special files or leave stale signatures, truncated gzip inputs, control
//! characters in profiles, reports that contradict themselves, and hostile CSV and target
//! files.
//!
//! These run the built binary. `OTSCOUT_EDGES_BIN=/path/to/otscout` runs them against
//! another build (an older one, to see which of them fail there).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use otscout::inventory::{Input, Inventory, merge};
use otscout::passive::{ImportOptions, import_bytes};
use otscout::report::{input, json, sign};

use super::inventory::{fixture, t};

fn bin() -> PathBuf {
    std::env::var_os("OTSCOUT_EDGES_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_otscout")))
}

fn otscout(args: &[&str], dir: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("OTSCOUT_KEY_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("run otscout")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts exit 2 and exactly one `otscout: error:` line saying each of `says`.
fn one_error(out: &Output, says: &[&str]) -> String {
    let e = stderr(out);
    assert_eq!(out.status.code(), Some(2), "exit code; stderr: {e}");
    assert!(!e.contains("panicked"), "{e}");
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {e}");
    assert!(lines[0].starts_with("otscout: error: "), "{e}");
    for s in says {
        assert!(lines[0].contains(s), "does not say {s:?}: {e}");
    }
    lines[0].to_owned()
}

fn fixture_inventory() -> Inventory {
    let inputs: Vec<Input> = ["scan.json", "passive.json", "declared.json"]
        .iter()
        .map(|f| input::load(&fixture(f), None).expect("fixture"))
        .collect();
    merge(&inputs, t("2026-11-21T00:00:00Z"))
}

/// A folder with a key pair, a signed report `r.json`, a second signed report `r2.json`
/// that differs from it (so `diff` finds drift), a profile and a CSV inventory.
fn bench() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    sign::keygen(d, &sign::Protection::Unencrypted).expect("keygen");
    let sk = sign::load_secret_key(&d.join("otscout.key"), &mut || None).unwrap();
    let inv = fixture_inventory();
    let at = t("2026-11-21T00:05:00Z");
    let keep = otscout::output_file::Overwrite::Refuse;
    sign::write_report(&d.join("r.json"), &inv, Some(&sk), at, keep).expect("report");
    let fewer = merge(
        &[input::load(&fixture("scan.json"), None).expect("fixture")],
        t("2026-11-22T00:00:00Z"),
    );
    sign::write_report(&d.join("r2.json"), &fewer, Some(&sk), at, keep).expect("report 2");
    // The same report with (no) advisory matches embedded, as `merge --csaf` writes it.
    let mut with_advisories = fixture_inventory();
    with_advisories.advisories = Some(otscout::advisories::Matches {
        documents_read: 1,
        documents_refused: 0,
        documents: Vec::new(),
        matches: Vec::new(),
        vendor_review: Vec::new(),
    });
    sign::write_report(&d.join("r3.json"), &with_advisories, Some(&sk), at, keep)
        .expect("report 3");
    std::fs::write(
        d.join("site.toml"),
        "name = \"site\"\nextends = \"conservative\"\n",
    )
    .unwrap();
    std::fs::copy(fixture("../csv/inventory.csv"), d.join("inv.csv")).unwrap();
    dir
}

// ------------------------------------------------------------ closed and full stdout

/// Every subcommand that prints to standard output, with the exit code its work ends in
/// when standard output works.
fn printing_commands(d: &Path) -> Vec<(Vec<String>, i32)> {
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let mut keygen_dirs = 0;
    let mut keygen = || {
        keygen_dirs += 1;
        let k = d.join(format!("keys{keygen_dirs}-{}", std::process::id()));
        s(&["keygen", "--unencrypted", "--dir", &k.display().to_string()])
    };
    vec![
        (s(&["verify", "r.json", "--pubkey", "otscout.pub"]), 0),
        // Drift: the code says so even when the reader stopped reading.
        (s(&["diff", "r.json", "r2.json"]), 1),
        (s(&["diff", "r.json", "r2.json", "--json"]), 1),
        (s(&["scan", "--dry-run", "127.0.0.1"]), 0),
        (s(&["scan", "--dry-run", "--json", "127.0.0.1"]), 0),
        (s(&["profiles", "list"]), 0),
        (s(&["profiles", "show", "conservative"]), 0),
        (s(&["profiles", "check", "site.toml"]), 0),
        (s(&["completions", "bash"]), 0),
        (s(&["man"]), 0),
        (keygen(), 0),
        (s(&["report", "r.json"]), 0),
        (s(&["report", "r.json", "--format", "csv"]), 0),
        (s(&["report", "r.json", "--format", "markdown"]), 0),
        (s(&["report", "r.json", "--format", "cyclonedx"]), 0),
        (s(&["report", "r.json", "--format", "html"]), 0),
        (s(&["diff", "r.json", "r2.json", "--format", "html"]), 1),
        (s(&["advisories", "r3.json"]), 0),
        (s(&["advisories", "r3.json", "--format", "json"]), 0),
        // The fixture has a row with a bad address on purpose: partial, 1.
        (s(&["passive", "inv.csv"]), 1),
        (s(&["passive", "inv.csv", "-o", "-"]), 1),
        (s(&["--help"]), 0),
        (s(&["--version"]), 0),
    ]
}

#[test]
fn every_subcommand_exits_quietly_on_a_closed_pipe() {
    let dir = bench();
    for (args, code) in printing_commands(dir.path()) {
        // A pipe whose reading end is closed before otscout starts: every write fails
        // with EPIPE, as under `otscout ... | head` once head has left.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = Command::new(bin())
            .args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(writer)
            .output()
            .expect("run otscout");
        let e = stderr(&out);
        assert!(!e.contains("panicked"), "{args:?}: {e}");
        assert_eq!(out.status.code(), Some(code), "{args:?}: {e}");
        assert!(
            !e.contains("error"),
            "{args:?}: a closed pipe is no error: {e}"
        );
    }
}

#[test]
fn every_subcommand_says_one_line_and_exits_2_on_a_full_stdout() {
    let full = Path::new("/dev/full");
    if !full.exists() {
        eprintln!("skipped: no /dev/full on this system");
        return;
    }
    let dir = bench();
    for (args, _) in printing_commands(dir.path()) {
        let out = Command::new(bin())
            .args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::OpenOptions::new().write(true).open(full).unwrap())
            .output()
            .expect("run otscout");
        let e = stderr(&out);
        assert!(!e.contains("panicked"), "{args:?}: {e}");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {e}");
        let last = e.lines().last().unwrap_or("");
        assert_eq!(
            last,
            "otscout: error: cannot write to standard output: No space left on device (os error 28)",
            "{args:?}: {e}"
        );
    }
}

/// `demo` prints its summary only after a scan of its plant (about 12 s), so it is run
/// once each way here rather than in the lists above. Its plant binds 127.77.0.x only.
#[test]
fn demo_exits_quietly_on_a_closed_pipe_and_with_one_line_on_a_full_stdout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let full = Path::new("/dev/full");
    let mut runs: Vec<(&str, Stdio, i32)> = vec![("piped", writer.into(), 0)];
    if full.exists() {
        let f = std::fs::OpenOptions::new().write(true).open(full).unwrap();
        runs.push(("full", f.into(), 2));
    } else {
        eprintln!("skipped: no /dev/full on this system");
    }
    for (name, stdout, code) in runs {
        let out = Command::new(bin())
            .args(["demo", "--out"])
            .arg(dir.path().join(name))
            .stdin(Stdio::null())
            .stdout(stdout)
            .output()
            .expect("run otscout demo");
        let e = stderr(&out);
        assert!(!e.contains("panicked"), "{name}: {e}");
        assert_eq!(out.status.code(), Some(code), "{name}: {e}");
        // The work is done either way: the signed report is there.
        assert!(
            dir.path().join(name).join("report.json.minisig").is_file(),
            "{name}: {e}"
        );
        let last = e.lines().last().unwrap_or("");
        if code == 0 {
            assert!(!e.contains("otscout: error"), "{name}: {e}");
        } else {
            assert_eq!(
                last,
                "otscout: error: cannot write to standard output: No space left on device (os error 28)",
                "{name}: {e}"
            );
        }
    }
}

// ------------------------------------------------------------------- output files

#[test]
fn merge_refuses_an_existing_report_unless_forced() {
    let dir = bench();
    let d = dir.path();
    let before = std::fs::read(d.join("r.json")).unwrap();
    let out = otscout(&["merge", "r2.json", "-o", "r.json"], d);
    one_error(&out, &["report r.json already exists", "--force"]);
    assert_eq!(std::fs::read(d.join("r.json")).unwrap(), before);
    // Signed again with --force: the pair verifies.
    let out = otscout(
        &[
            "merge",
            "r2.json",
            "-o",
            "r.json",
            "--force",
            "--sign-key",
            "otscout.key",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = otscout(&["verify", "r.json", "--pubkey", "otscout.pub"], d);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn an_unsigned_report_forced_over_a_signed_one_takes_the_stale_signature_away() {
    let dir = bench();
    let d = dir.path();
    let out = otscout(&["merge", "r2.json", "-o", "r.json", "--force"], d);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !d.join("r.json.minisig").exists(),
        "the old signature would say the new report changed after signing"
    );
    let out = otscout(&["verify", "r.json", "--pubkey", "otscout.pub"], d);
    one_error(&out, &["no signature for r.json"]);
}

#[test]
fn a_signature_that_cannot_be_written_leaves_no_unsigned_report() {
    let dir = bench();
    let d = dir.path();
    // The signature's path is taken by a folder: refused before anything is written.
    std::fs::create_dir(d.join("new.json.minisig")).unwrap();
    let out = otscout(
        &[
            "merge",
            "r.json",
            "-o",
            "new.json",
            "--sign-key",
            "otscout.key",
            "--pubkey",
            "otscout.pub",
        ],
        d,
    );
    one_error(&out, &["signature new.json.minisig is a directory"]);
    assert!(!d.join("new.json").exists(), "an unsigned report was left");
    let left: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(left.is_empty(), "temporaries left: {left:?}");
}

#[test]
fn no_output_ever_replaces_a_symlink_a_fifo_or_a_directory() {
    let dir = bench();
    let d = dir.path();
    let victim = d.join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&victim, d.join("link.json")).unwrap();
    std::fs::create_dir(d.join("folder.json")).unwrap();
    let fifo = Command::new("mkfifo")
        .arg(d.join("pipe.json"))
        .status()
        .is_ok_and(|s| s.success());
    let mut cases = vec![("folder.json", "is a directory")];
    if cfg!(unix) {
        cases.push(("link.json", "is a symbolic link"));
    }
    if fifo {
        cases.push(("pipe.json", "is a named pipe"));
    } else {
        eprintln!("mkfifo not available: the FIFO case is skipped");
    }
    for (name, says) in cases {
        for args in [
            vec!["merge", "r.json", "-o", name, "--force"],
            vec!["report", "r.json", "--format", "csv", "-o", name, "--force"],
            vec!["passive", "inv.csv", "-o", name, "--force"],
        ] {
            let out = otscout(&args, d);
            one_error(&out, &[name, says, "only ever replaces regular files"]);
        }
        let meta = std::fs::symlink_metadata(d.join(name)).unwrap();
        assert!(!meta.is_file(), "{name} was replaced by a file");
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
}

#[test]
fn report_and_passive_outputs_refuse_an_existing_file_unless_forced() {
    let dir = bench();
    let d = dir.path();
    std::fs::write(d.join("out.csv"), "mine").unwrap();
    let out = otscout(&["report", "r.json", "--format", "csv", "-o", "out.csv"], d);
    one_error(&out, &["output out.csv already exists", "--force"]);
    assert_eq!(std::fs::read_to_string(d.join("out.csv")).unwrap(), "mine");
    let out = otscout(&["passive", "inv.csv", "-o", "out.csv"], d);
    one_error(&out, &["observation file out.csv already exists"]);
    let out = otscout(
        &[
            "report", "r.json", "--format", "csv", "-o", "out.csv", "--force",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        std::fs::read_to_string(d.join("out.csv"))
            .unwrap()
            .starts_with("ip,")
    );
}

#[test]
fn keygen_makes_the_folder_it_is_told_to_write_into() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("home/.otscout");
    let out = otscout(
        &[
            "keygen",
            "--unencrypted",
            "--dir",
            &keys.display().to_string(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(keys.join("otscout.key").is_file() && keys.join("otscout.pub").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "the key folder is for this account only");
    }
}

// -------------------------------------------------------------- truncated gzip

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// The demo plant's HMI capture (pcapng): Modbus, ENIP and S7 traffic with identities.
fn demo_capture() -> Vec<u8> {
    let plant = otscout_sim::Plant::from_toml_str(otscout::demo::DEMO_PLANT).expect("plant");
    let mut cap = Vec::new();
    otscout_sim::hmi::write_pcapng(&plant, &otscout_sim::hmi::HmiOptions::default(), &mut cap)
        .expect("capture");
    cap
}

fn import(name: &str, bytes: &[u8]) -> otscout::passive::ImportReport {
    import_bytes(name, bytes, &ImportOptions::default()).expect("imported")
}

#[test]
fn a_pcapng_gz_missing_its_trailer_imports_every_frame_and_says_where_it_stopped() {
    let cap = demo_capture();
    let whole = import("hmi.pcapng.gz", &cap);
    assert!(whole.warnings.is_empty(), "{:?}", whole.warnings);
    let gz = gzip(&cap);
    // Only the gzip trailer (CRC-32 and size, RFC 1952 2.3) is missing.
    let cut = import("hmi.pcapng.gz", &gz[..gz.len() - 4]);
    assert_eq!(cut.observations, whole.observations);
    assert_eq!(cut.stats.frames, whole.stats.frames);
    let w = cut.warnings.join("\n");
    assert!(w.contains("hmi.pcapng.gz: the gzip data ends early"), "{w}");
    assert!(
        w.contains(&format!("byte offset {} ", cap.len())),
        "the whole capture decompressed: {w}"
    );
    // Cut in half: what decompressed is imported, and the place is named.
    let half = import("hmi.pcapng.gz", &gz[..gz.len() / 2]);
    assert!(half.stats.frames > 0 && half.stats.frames < whole.stats.frames);
    let w = half.warnings.join("\n");
    assert!(w.contains("the gzip data ends early"), "{w}");
    assert!(w.contains("what came before was imported"), "{w}");
}

#[test]
fn the_cli_imports_a_truncated_gz_capture_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let gz = gzip(&demo_capture());
    std::fs::write(dir.path().join("hmi.pcapng.gz"), &gz[..gz.len() - 4]).unwrap();
    let out = otscout(&["passive", "hmi.pcapng.gz", "-o", "obs.json"], dir.path());
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("the gzip data ends early"), "{text}");
    let obs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("obs.json")).unwrap()).unwrap();
    assert!(!obs["observations"].as_array().unwrap().is_empty(), "{obs}");
}

#[test]
fn truncated_zeek_and_csv_gz_files_keep_what_decompressed_with_the_line() {
    let zeek_gz = std::fs::read(fixture("../zeek/s7comm_known_devices.log.gz")).unwrap();
    let whole = import("s7comm_known_devices.log.gz", &zeek_gz);
    assert!(whole.warnings.is_empty(), "{:?}", whole.warnings);
    assert!(!whole.observations.is_empty());
    let cut = import("s7comm_known_devices.log.gz", &zeek_gz[..zeek_gz.len() - 4]);
    assert_eq!(cut.observations, whole.observations);
    let w = cut.warnings.join("\n");
    assert!(w.contains("the gzip data ends early"), "{w}");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::MultiGzDecoder::new(&zeek_gz[..]),
        &mut plain,
    )
    .unwrap();
    let lines = plain.iter().filter(|&&b| b == b'\n').count();
    assert!(w.contains(&format!("(line {})", lines + 1)), "{w}");

    let csv = otscout::demo::DEMO_CSV.as_bytes();
    let whole = import("inventory.csv.gz", csv);
    let gz = gzip(csv);
    let cut = import("inventory.csv.gz", &gz[..gz.len() - 8]);
    assert_eq!(cut.observations, whole.observations);
    assert!(
        cut.warnings.join("\n").contains("gzip"),
        "{:?}",
        cut.warnings
    );
}

// ------------------------------------------------------------- profile strings

#[test]
fn a_profile_string_with_a_control_character_is_refused_by_file_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("forge.toml"),
        "name = \"forge\"\nextends = \"conservative\"\ndescription = \"fine\\nsha256    0000000000000000\"\n",
    )
    .unwrap();
    std::fs::write(
        d.join("clear.toml"),
        "name = \"clear\"\nextends = \"conservative\"\n\n[[vendor_rules]]\nmatch = \"siemens\\u001b[2J\"\nskip_protocols = [\"s7\"]\n",
    )
    .unwrap();
    for (file, key, line) in [
        ("forge.toml", "description", "line 3"),
        ("clear.toml", "vendor_rules[0].match", "line 5"),
    ] {
        for args in [
            vec!["profiles", "check", file],
            vec!["scan", "--dry-run", "--profile", file, "127.0.0.1"],
        ] {
            let out = otscout(&args, d);
            one_error(&out, &[file, line, key, "control characters"]);
            assert!(out.stdout.is_empty(), "no plan is printed");
        }
    }
}

#[test]
fn the_plan_text_never_prints_a_control_character_from_a_profile() {
    let mut cfg = otscout::plan::ScanConfig::resolve(&otscout::plan::ScanRequest {
        targets: vec!["127.0.0.1".into()],
        ..Default::default()
    })
    .unwrap();
    cfg.profile.description = "ok\nsha256    0000\u{1b}[2J".into();
    cfg.profile_origin = "evil\nsha256    1111".into();
    cfg.profile.vendor_rules.push(otscout::profile::VendorRule {
        matches: "x\nsha256    2222\u{7}".into(),
        skip_protocols: Vec::new(),
        host_interval_ms: Some(500),
        cooldown_ms: None,
        note: String::new(),
    });
    let text = otscout::plan::Plan::build(&cfg).render_text();
    let sha_lines = text.lines().filter(|l| l.starts_with("sha256")).count();
    assert_eq!(sha_lines, 1, "{text}");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
}

// ------------------------------------------------------------ self-contradiction

/// `inv` written and signed with the bench's key as `name`, as a forger holding the key
/// (or a buggy tool) would: the signature and trusted comment are right.
fn sign_as(d: &Path, name: &str, inv: &Inventory) {
    let sk = sign::load_secret_key(&d.join("otscout.key"), &mut || None).unwrap();
    let bytes = json::render(inv);
    let comment = sign::trusted_comment(&bytes, &[], t("2026-11-21T00:05:00Z"), name);
    let sig = sign::sign_bytes(&bytes, &sk, &comment).unwrap();
    std::fs::write(d.join(name), &bytes).unwrap();
    std::fs::write(d.join(format!("{name}.minisig")), sig).unwrap();
}

#[test]
fn verify_refuses_a_signed_report_that_contradicts_itself() {
    let dir = bench();
    let d = dir.path();
    let inv = fixture_inventory();
    assert!(inv.assets.len() >= 2);

    let mut dup = inv.clone();
    dup.assets.insert(1, dup.assets[0].clone());
    dup.summary.assets += 1;
    let mut inflated = inv.clone();
    inflated.summary.assets = 999;
    let mut emptied = inv.clone();
    emptied.assets.clear();
    let mut identified = inv.clone();
    identified.summary.identified += 1;
    let mut makers = inv.clone();
    makers.summary.by_manufacturer.insert("Acme".into(), 7);
    let n = inv.assets.len();
    let cases: Vec<(&str, Inventory, String)> = vec![
        (
            "dup.json",
            dup,
            format!("asset address {} is listed 2 times", inv.assets[0].ip),
        ),
        (
            "inflated.json",
            inflated,
            format!("summary.assets says 999 but {n} assets are listed"),
        ),
        (
            "emptied.json",
            emptied,
            format!("summary.assets says {n} but 0 assets"),
        ),
        (
            "identified.json",
            identified,
            "summary.identified says".into(),
        ),
        (
            "makers.json",
            makers,
            "summary.by_manufacturer says 7 for \"Acme\"".into(),
        ),
    ];
    for (name, bad, says) in &cases {
        let (name, says) = (*name, says.as_str());
        sign_as(d, name, bad);
        let out = otscout(&["verify", name, "--pubkey", "otscout.pub"], d);
        one_error(&out, &[name, "contradicts itself", says]);
        assert!(out.stdout.is_empty(), "{name}: nothing printed as OK");
        // `report` and `diff` with the key read the same check.
        let out = otscout(&["report", name, "--pubkey", "otscout.pub"], d);
        one_error(&out, &["contradicts itself"]);
    }
    // The honest report still verifies, and the count printed is the assets'.
    sign_as(d, "honest.json", &inv);
    let out = otscout(&["verify", "honest.json", "--pubkey", "otscout.pub"], d);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{} assets,", inv.assets.len())),
        "{text}"
    );
}

// ------------------------------------------------------------- small input fixes

#[test]
fn a_huge_target_line_is_cut_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let line = "1".repeat(10_000_000);
    std::fs::write(dir.path().join("targets.txt"), format!("{line}\n")).unwrap();
    let out = otscout(&["scan", "--dry-run", "-i", "targets.txt"], dir.path());
    let e = one_error(&out, &["(10000000 bytes)", "targets.txt line 1"]);
    assert!(e.len() < 400, "{} bytes of error", e.len());
}

#[test]
fn a_csv_with_one_latin1_byte_is_named_by_line_and_offset_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("inv.csv"),
        b"ip,vendor,model\n10.0.0.1,Schn\xe9ider,M340\n",
    )
    .unwrap();
    let out = otscout(&["passive", "inv.csv"], dir.path());
    one_error(
        &out,
        &[
            "inv.csv",
            "not UTF-8: line 2, byte offset 29 is 0xe9",
            "save the file as UTF-8",
        ],
    );
    let out = otscout(&["merge", "inv.csv", "-o", "r.json"], dir.path());
    one_error(&out, &["inv.csv", "line 2, byte offset 29"]);
}

#[test]
fn an_unclosed_quote_in_a_csv_is_an_error_naming_its_line() {
    let text = "ip,vendor,model\n10.0.0.1,\"Siemens,S7-1500\n10.0.0.2,Rockwell,L83\n10.0.0.3,Schneider,M580\n";
    let e = import_bytes("inv.csv", text.as_bytes(), &ImportOptions::default()).unwrap_err();
    let e = e.to_string();
    assert!(
        e.contains("inv.csv: line 2: a quoted field runs on past the end of the line"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inv.csv"), text).unwrap();
    let out = otscout(&["passive", "inv.csv", "-o", "obs.json"], dir.path());
    one_error(&out, &["inv.csv", "line 2", "unclosed \" quote"]);
    assert!(!dir.path().join("obs.json").exists());
    // A quote closed on its line is fine, commas and all.
    let ok = "ip,vendor,model\n10.0.0.1,\"Siemens, AG\",S7\n10.0.0.2,Rockwell,L83\n";
    let r = import("inv.csv", ok.as_bytes());
    assert_eq!(r.stats.rows, 2);
}
