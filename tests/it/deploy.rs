//! deploy/: the crontab, the systemd service and timer, the Kubernetes manifest and the
//! audit wrapper. Each file is parsed (YAML with serde_norway, the others with careful
//! minimal checks), every otscout command line in them (and in the README and GUIDE)
//! parses with otscout's own clap definitions, and the wrapper is run for real against
//! a one-device simulated plant: quiet when nothing changed, a diff and exit 1 on drift.
//! `--lock` is checked through the binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use otscout::cli::Cli;
use otscout::inventory::merge::AssetField;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Splits a shell command line into words: double and single quotes, `$VAR` and
/// `${VAR}` (replaced by a placeholder), stopping at a redirection, `|`, `;`, `&&`, `||`
/// or a closing `)` of a command substitution.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some('\''), c) => cur.push(c),
            (_, '$') => {
                // A variable: its value is site configuration, any word will do.
                if chars.peek() == Some(&'{') {
                    for c in chars.by_ref() {
                        if c == '}' {
                            break;
                        }
                    }
                } else {
                    while chars
                        .peek()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                    {
                        chars.next();
                    }
                }
                cur.push_str("VALUE");
                in_word = true;
            }
            (None, '>' | '|' | ';' | '&' | ')') => break,
            (None, '#') if !in_word => break,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Parses `words` (starting with the program) with otscout's clap definitions.
fn check_parses(origin: &str, words: &[String]) {
    let mut argv = words.to_vec();
    argv[0] = "otscout".into();
    if let Err(e) = Cli::try_parse_from(&argv) {
        panic!("{origin}: `{}` does not parse: {e}", words.join(" "));
    }
}

/// Every `"$OTSCOUT" ...` invocation of the wrapper script.
fn script_commands(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // A command continued with `\` at the end of a line is one line.
    let joined = text.replace("\\\n", " ");
    for line in joined.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let mut rest = line;
        while let Some(i) = rest.find("\"$OTSCOUT\" ") {
            let words = shell_words(&rest[i..]);
            if words.get(1).is_some_and(|w| !w.starts_with("...")) && words.len() > 1 {
                out.push(words);
            }
            rest = &rest[i + 1..];
        }
    }
    out
}

#[test]
fn audit_wrapper_is_valid_shell_and_its_otscout_lines_parse() {
    let path = root().join("deploy/otscout-audit");
    let sh = Command::new("sh")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("sh");
    assert!(
        sh.status.success(),
        "sh -n: {}",
        String::from_utf8_lossy(&sh.stderr)
    );
    let cmds = script_commands(&read("deploy/otscout-audit"));
    let subs: Vec<&str> = cmds.iter().map(|w| w[1].as_str()).collect();
    // --lock comes first, then scan; then two merges (with and without a CSV) and diff.
    assert_eq!(subs, ["--lock", "merge", "merge", "diff"], "{cmds:?}");
    for w in &cmds {
        check_parses("deploy/otscout-audit", w);
    }
    assert!(cmds[0].contains(&"scan".to_string()) && cmds[0].contains(&"--quiet".to_string()));
}

#[test]
fn crontab_schedules_are_valid_and_commands_parse() {
    let text = read("deploy/crontab");
    let mut jobs = 0;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((name, _)) = line.split_once('=') {
            if !name.contains(char::is_whitespace) {
                continue; // MAILTO=..., PATH=...
            }
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(fields.len() >= 7, "crontab line too short: {line}");
        let ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
        for (f, (lo, hi)) in fields[..5].iter().zip(ranges) {
            let ok = *f == "*"
                || f.split(',').all(|p| {
                    p.split('-')
                        .all(|n| n.parse::<u32>().is_ok_and(|n| (lo..=hi).contains(&n)))
                });
            assert!(ok, "crontab field {f} out of {lo}..={hi} in: {line}");
        }
        assert!(
            !line.contains('%'),
            "an unescaped % ends a cron command: {line}"
        );
        let command = fields[6..].join(" ");
        let words = shell_words(&command);
        // Leading VAR=value assignments.
        let words: Vec<String> = words.into_iter().skip_while(|w| w.contains('=')).collect();
        match Path::new(&words[0]).file_name().and_then(|n| n.to_str()) {
            Some("otscout") => check_parses("deploy/crontab", &words),
            Some("otscout-audit") => assert!(root().join("deploy/otscout-audit").is_file()),
            other => panic!("crontab runs {other:?}: {line}"),
        }
        jobs += 1;
    }
    assert_eq!(jobs, 2);
}

/// `[Section]` -> key -> values (keys may repeat).
fn ini(text: &str) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.to_owned();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {line}"));
        assert!(!section.is_empty(), "{line} outside a section");
        out.entry(section.clone())
            .or_default()
            .entry(k.trim().to_owned())
            .or_default()
            .push(v.trim().to_owned());
    }
    out
}

#[test]
fn systemd_service_and_timer_are_well_formed() {
    let service = ini(&read("deploy/otscout-audit.service"));
    assert_eq!(
        service.keys().collect::<Vec<_>>(),
        ["Service", "Unit"],
        "{service:?}"
    );
    let s = &service["Service"];
    assert_eq!(s["Type"], ["oneshot"]);
    let exec = &s["ExecStart"][0];
    assert_eq!(
        Path::new(exec).file_name().and_then(|n| n.to_str()),
        Some("otscout-audit")
    );
    let env: BTreeMap<&str, &str> = s["Environment"]
        .iter()
        .filter_map(|e| e.split_once('='))
        .collect();
    let window: Result<otscout::probe::window::Window, _> = env["OTSCOUT_WINDOW"].parse();
    assert!(window.is_ok(), "{window:?}");
    assert!(
        otscout::profile::builtin(env["OTSCOUT_PROFILE"]).is_ok(),
        "unknown profile {}",
        env["OTSCOUT_PROFILE"]
    );
    assert_eq!(s["User"], ["otscout"], "never root");

    let timer = ini(&read("deploy/otscout-audit.timer"));
    assert_eq!(
        timer.keys().collect::<Vec<_>>(),
        ["Install", "Timer", "Unit"]
    );
    assert_eq!(timer["Timer"]["Unit"], ["otscout-audit.service"]);
    let cal = &timer["Timer"]["OnCalendar"][0];
    // *-*-* HH:MM:SS, inside the service's window.
    let time = cal.rsplit(' ').next().unwrap_or_default();
    let t = chrono::NaiveTime::parse_from_str(time, "%H:%M:%S").expect("OnCalendar time");
    let w = window.unwrap();
    let inside = if w.start <= w.end {
        w.start <= t && t < w.end
    } else {
        t >= w.start || t < w.end
    };
    assert!(inside, "the timer fires at {t}, outside the window {w}");
    assert_eq!(timer["Install"]["WantedBy"], ["timers.target"]);

    // systemd's own checker, where it is installed (it cannot check units that name a
    // user or binary this machine lacks, so only a syntax error counts).
    if let Ok(out) = Command::new("systemd-analyze")
        .arg("verify")
        .arg(root().join("deploy/otscout-audit.timer"))
        .output()
    {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("Unknown section") && !err.contains("Unknown key"),
            "{err}"
        );
    }
}

#[test]
fn kubernetes_cronjob_parses_and_is_safe() {
    let text = read("deploy/kubernetes/otscout-cronjob.yaml");
    let docs: Vec<serde_norway::Value> = serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML document"))
        .collect();
    let kinds: Vec<&str> = docs
        .iter()
        .map(|d| d["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["ConfigMap", "CronJob", "PersistentVolumeClaim"]);
    let cj = &docs[1];
    assert_eq!(cj["apiVersion"].as_str(), Some("batch/v1"));
    let spec = &cj["spec"];
    let schedule = spec["schedule"].as_str().expect("schedule");
    assert_eq!(schedule.split_whitespace().count(), 5, "{schedule}");
    assert_eq!(spec["concurrencyPolicy"].as_str(), Some("Forbid"));
    let job = &spec["jobTemplate"]["spec"];
    assert_eq!(
        job["backoffLimit"].as_u64(),
        Some(0),
        "never retried by itself"
    );
    let pod = &job["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let c = &pod["containers"][0];
    let cmd = c["command"][0].as_str().expect("command");
    assert!(cmd.ends_with("/otscout-audit"), "{cmd}");
    let env: BTreeMap<&str, &str> = c["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect();
    assert!(
        env["OTSCOUT_WINDOW"]
            .parse::<otscout::probe::window::Window>()
            .is_ok()
    );
    assert!(otscout::profile::builtin(env["OTSCOUT_PROFILE"]).is_ok());
    // A pod's host name changes every run: the site must be set, and be a site name.
    assert!(
        otscout::cli::merge::parse_site(env["OTSCOUT_SITE"]).is_ok(),
        "{}",
        env["OTSCOUT_SITE"]
    );
    // The targets and exclusions the ConfigMap carries parse as target specs.
    let data = &docs[0]["data"];
    for key in ["targets.txt", "exclude.txt"] {
        let spec: Vec<&str> = data[key]
            .as_str()
            .expect(key)
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .collect();
        assert!(!spec.is_empty(), "{key}");
    }
    // The dry-run command in the comments parses.
    let dry: Vec<Vec<String>> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix('#'))
        .map(str::trim)
        .filter(|l| l.starts_with("otscout "))
        .map(shell_words)
        // Prose that starts with the name is not a command.
        .filter(|w| {
            use clap::CommandFactory;
            w.get(1)
                .is_some_and(|s| Cli::command().find_subcommand(s).is_some())
        })
        .collect();
    assert_eq!(dry.len(), 1);
    for w in &dry {
        check_parses("deploy/kubernetes/otscout-cronjob.yaml", w);
    }
}

#[test]
fn every_otscout_command_in_the_readme_and_guide_parses() {
    let mut n = 0;
    for doc in ["README.md", "GUIDE.md", "deploy/README.md"] {
        let Ok(text) = std::fs::read_to_string(root().join(doc)) else {
            panic!("{doc} is missing");
        };
        let mut in_code = false;
        let mut pending = String::new();
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                continue;
            }
            if !in_code {
                continue;
            }
            let line = line.trim();
            let line = line.strip_prefix("$ ").unwrap_or(line);
            // Continuation lines.
            if let Some(head) = line.strip_suffix('\\') {
                pending.push_str(head);
                pending.push(' ');
                continue;
            }
            pending.push_str(line);
            let full = std::mem::take(&mut pending);
            let full = full.trim();
            let cmd = full
                .split_once("otscout ")
                .filter(|(before, _)| {
                    before.is_empty() || before.ends_with("sudo ") || before.ends_with("$(")
                })
                .map(|(_, rest)| format!("otscout {rest}"));
            let Some(cmd) = cmd else { continue };
            let words = shell_words(&cmd);
            check_parses(doc, &words);
            n += 1;
        }
    }
    assert!(n >= 15, "only {n} otscout commands found in the docs");
}

#[test]
fn lock_refuses_a_second_run_and_is_released() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let lock = tmp.path().join("otscout.lock");
    // Held (the OS lock) by this test process.
    let held = otscout::cli::lock::acquire(&lock).expect("take the lock");
    let out = Command::new(env!("CARGO_BIN_EXE_otscout"))
        .arg("--lock")
        .arg(&lock)
        .args(["profiles", "list"])
        .output()
        .expect("run otscout");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "the command ran anyway");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another otscout run"), "{err}");
    assert!(
        err.contains(&format!("process {}", std::process::id())),
        "the holder's pid: {err}"
    );
    // Free: the command runs and leaves no lock behind.
    drop(held);
    let out = Command::new(env!("CARGO_BIN_EXE_otscout"))
        .args(["profiles", "list", "--lock"])
        .arg(&lock)
        .output()
        .expect("run otscout");
    assert!(out.status.success(), "{out:?}");
    assert!(!lock.exists(), "the lock was left behind");
}

/// A lock file left by a run that was killed, holding a process id that is alive again
/// (a fresh PID namespace gives the next run the same low pid; here: this test's own pid,
/// and pid 1) blocks nothing: only a holder of the OS lock does.
#[test]
fn a_leftover_lock_file_with_a_live_pid_does_not_block() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let lock = tmp.path().join("otscout.lock");
    for pid in [std::process::id(), 1] {
        std::fs::write(&lock, format!("{pid}\n")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_otscout"))
            .arg("--lock")
            .arg(&lock)
            .args(["profiles", "list"])
            .output()
            .expect("run otscout");
        assert_eq!(
            out.status.code(),
            Some(0),
            "pid {pid}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!lock.exists(), "the lock was left behind");
    }
}

/// One Modbus device on its own loopback address; `revision` is its firmware.
fn one_device_plant(revision: &str) -> otscout_sim::Plant {
    otscout_sim::Plant::from_toml_str(&format!(
        r#"
        [[device]]
        name = "audit-plc"
        address = "127.23.88.1"
        [device.modbus]
        port = 0
        unit_ids = [255]
        identity = {{ vendor_name = "Acme", product_code = "AC-500", revision = "{revision}" }}
        "#
    ))
    .expect("plant")
}

/// The conservative profile as a file, Modbus on `port`, the other protocols off.
fn profile_file(dir: &Path, port: u16) -> PathBuf {
    let original = read("profiles/conservative.toml");
    // The sections off by default (BACnet, OPC UA, FINS, Fox, ...) stay off; ENIP and S7
    // are turned off here.
    let off_before = original.matches("enabled = false").count();
    let text = original
        .replacen("port = 502", &format!("port = {port}"), 1)
        .replacen("[enip]\nenabled = true", "[enip]\nenabled = false", 1)
        .replacen("[s7]\nenabled = true", "[s7]\nenabled = false", 1);
    assert!(
        text.contains(&format!("port = {port}"))
            && text.matches("enabled = false").count() == off_before + 2
    );
    let p = dir.join("audit-profile.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn audit_wrapper_is_silent_without_drift_and_reports_drift() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let etc = tmp.path().join("etc");
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("targets.txt"),
        "# the audit test's device\n127.23.88.1\n",
    )
    .unwrap();
    std::fs::write(etc.join("exclude.txt"), "127.23.88.2\n").unwrap();
    otscout::report::sign::keygen(&etc, &otscout::report::sign::Protection::Unencrypted)
        .expect("keygen");
    // A window around now, in local time.
    let now = chrono::Local::now();
    let window = format!(
        "{}-{}",
        (now - chrono::Duration::hours(1)).format("%H:%M"),
        (now + chrono::Duration::hours(1)).format("%H:%M")
    );
    let outbox = tmp.path().join("outbox");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let run = |plant: &otscout_sim::RunningPlant| {
        let port = plant.devices()[0].modbus.expect("modbus").port();
        let profile = profile_file(tmp.path(), port);
        let out = Command::new("sh")
            .arg(root().join("deploy/otscout-audit"))
            .env("OTSCOUT", env!("CARGO_BIN_EXE_otscout"))
            .env("OTSCOUT_ETC", &etc)
            .env("OTSCOUT_STATE", &state)
            .env("OTSCOUT_PROFILE", &profile)
            .env("OTSCOUT_WINDOW", &window)
            .env("OTSCOUT_SITE", "plant-a")
            .env("OTSCOUT_OUTBOX", &outbox)
            .output()
            .expect("run otscout-audit");
        // One second apart, so the next run's file names differ.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        out
    };
    let start = |rev: &str| {
        rt.block_on(otscout_sim::start(
            one_device_plant(rev),
            otscout_sim::StartOptions {
                ports: otscout_sim::PortOverride::Ephemeral,
                ledger_sink: None,
            },
        ))
        .expect("start plant")
    };

    let plant = start("1.0");
    for round in 0..2 {
        let out = run(&plant);
        assert_eq!(
            (
                out.status.code(),
                out.stdout.is_empty(),
                out.stderr.is_empty()
            ),
            (Some(0), true, true),
            "round {round}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    rt.block_on(plant.shutdown());
    let last = state.join("reports/last.json");
    assert!(last.is_file() && state.join("reports/last.json.minisig").is_file());

    // A firmware update: drift, printed, exit 1.
    let plant = start("2.0");
    let out = run(&plant);
    rt.block_on(plant.shutdown());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("changed") && stdout.contains("2.0"),
        "{stdout}"
    );
    // The new report is now the last one and verifies.
    let pk = otscout::report::sign::load_public_key(&etc.join("otscout.pub")).unwrap();
    let inv = otscout::report::sign::verify_file(&last, &pk)
        .expect("last verifies")
        .inventory;
    assert_eq!(inv.assets[0].value(AssetField::Firmware), Some("2.0"));
    assert_eq!(inv.site.as_deref(), Some("plant-a"));

    // Every signed report waits in the outbox for shipping, under its site, with its
    // signature; no half-copied temporary file is left.
    let mut shipped: Vec<String> = std::fs::read_dir(outbox.join("plant-a"))
        .expect("outbox/plant-a")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    shipped.sort();
    assert_eq!(shipped.len(), 6, "{shipped:?}");
    assert!(shipped.iter().all(|n| !n.starts_with('.')), "{shipped:?}");
    for n in shipped.iter().filter(|n| n.ends_with(".json")) {
        let v = otscout::report::sign::verify_file(&outbox.join("plant-a").join(n), &pk)
            .unwrap_or_else(|e| panic!("{n}: {e}"));
        assert!(
            v.trusted_comment.contains("site=plant-a"),
            "{}",
            v.trusted_comment
        );
    }
}

#[test]
fn fleet_wrapper_is_valid_shell_and_its_otscout_lines_parse() {
    let path = root().join("deploy/otscout-fleet");
    let sh = Command::new("sh")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("sh");
    assert!(
        sh.status.success(),
        "sh -n: {}",
        String::from_utf8_lossy(&sh.stderr)
    );
    let cmds = script_commands(&read("deploy/otscout-fleet"));
    let subs: Vec<&str> = cmds.iter().map(|w| w[1].as_str()).collect();
    // --lock comes first, then the verified merge; the page; the drift check.
    assert_eq!(subs, ["--lock", "report", "diff"], "{cmds:?}");
    for w in &cmds {
        check_parses("deploy/otscout-fleet", w);
    }
    assert!(
        cmds[0].contains(&"merge".to_string()) && cmds[0].contains(&"--trusted-keys".to_string()),
        "the fleet merge must verify its inputs: {:?}",
        cmds[0]
    );
}

#[test]
fn fleet_systemd_service_and_timer_are_well_formed_and_offline() {
    let service = ini(&read("deploy/otscout-fleet.service"));
    assert_eq!(
        service.keys().collect::<Vec<_>>(),
        ["Service", "Unit"],
        "{service:?}"
    );
    let s = &service["Service"];
    assert_eq!(s["Type"], ["oneshot"]);
    assert_eq!(
        Path::new(&s["ExecStart"][0])
            .file_name()
            .and_then(|n| n.to_str()),
        Some("otscout-fleet")
    );
    assert_eq!(s["User"], ["otscout"], "never root");
    // It reads files: no network, and the inbox is read-only.
    assert_eq!(s["PrivateNetwork"], ["yes"]);
    let env: BTreeMap<&str, &str> = s["Environment"]
        .iter()
        .filter_map(|e| e.split_once('='))
        .collect();
    for key in ["OTSCOUT_ETC", "OTSCOUT_INBOX", "OTSCOUT_STATE"] {
        assert!(env.contains_key(key), "{key} is not set: {env:?}");
    }
    assert_eq!(s["ReadOnlyPaths"], [env["OTSCOUT_INBOX"]]);
    assert_eq!(s["ReadWritePaths"], [env["OTSCOUT_STATE"]]);

    let timer = ini(&read("deploy/otscout-fleet.timer"));
    assert_eq!(
        timer.keys().collect::<Vec<_>>(),
        ["Install", "Timer", "Unit"]
    );
    assert_eq!(timer["Timer"]["Unit"], ["otscout-fleet.service"]);
    let cal = &timer["Timer"]["OnCalendar"][0];
    let time = cal.rsplit(' ').next().unwrap_or_default();
    assert!(
        chrono::NaiveTime::parse_from_str(time, "%H:%M:%S").is_ok(),
        "OnCalendar {cal}"
    );
    assert_eq!(timer["Install"]["WantedBy"], ["timers.target"]);
    if let Ok(out) = Command::new("systemd-analyze")
        .arg("verify")
        .arg(root().join("deploy/otscout-fleet.timer"))
        .output()
    {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("Unknown section") && !err.contains("Unknown key"),
            "{err}"
        );
    }
}

#[test]
fn fleet_kubernetes_cronjob_parses_and_reads_the_inbox_read_only() {
    let text = read("deploy/kubernetes/otscout-fleet-cronjob.yaml");
    let docs: Vec<serde_norway::Value> = serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML document"))
        .collect();
    let kinds: Vec<&str> = docs
        .iter()
        .map(|d| d["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["CronJob", "PersistentVolumeClaim"]);
    let spec = &docs[0]["spec"];
    assert_eq!(docs[0]["apiVersion"].as_str(), Some("batch/v1"));
    let schedule = spec["schedule"].as_str().expect("schedule");
    assert_eq!(schedule.split_whitespace().count(), 5, "{schedule}");
    assert_eq!(spec["concurrencyPolicy"].as_str(), Some("Forbid"));
    let job = &spec["jobTemplate"]["spec"];
    assert_eq!(job["backoffLimit"].as_u64(), Some(0));
    let pod = &job["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let c = &pod["containers"][0];
    let cmd = c["command"][0].as_str().expect("command");
    assert!(cmd.ends_with("/otscout-fleet"), "{cmd}");
    let env: BTreeMap<&str, &str> = c["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect();
    let mounts = c["volumeMounts"].as_sequence().expect("volumeMounts");
    let inbox = mounts
        .iter()
        .find(|m| m["mountPath"].as_str() == Some(env["OTSCOUT_INBOX"]))
        .expect("the inbox is mounted where OTSCOUT_INBOX points");
    assert_eq!(inbox["readOnly"].as_bool(), Some(true));
    // The site keys land in ETC/sites/, where the wrapper's --trusted-keys looks.
    let projected = pod["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find_map(|v| v["projected"]["sources"].as_sequence())
        .expect("a projected config volume");
    let key_paths: Vec<&str> = projected
        .iter()
        .filter_map(|s| s["configMap"]["items"].as_sequence())
        .flatten()
        .filter_map(|i| i["path"].as_str())
        .collect();
    assert!(
        !key_paths.is_empty()
            && key_paths
                .iter()
                .all(|p| p.starts_with("sites/") && p.ends_with(".pub")),
        "{key_paths:?}"
    );
    let manual: Vec<Vec<String>> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix('#'))
        .map(str::trim)
        .filter(|l| l.starts_with("otscout merge"))
        .map(shell_words)
        .collect();
    assert_eq!(manual.len(), 1);
    check_parses("deploy/kubernetes/otscout-fleet-cronjob.yaml", &manual[0]);
}

/// A signed report of `site` in `inbox/<site>/`, from the demo's declared inventory,
/// signed with `key`.
fn site_report(inbox: &Path, site: &str, key: &Path, stamp: &str) -> PathBuf {
    let dir = inbox.join(site);
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join(format!("report-{stamp}.json"));
    let out = Command::new(env!("CARGO_BIN_EXE_otscout"))
        .args(["merge", "--quiet"])
        .arg(root().join("simulators/plants/demo-inventory.csv"))
        .args(["--site", site, "-o"])
        .arg(&report)
        .arg("--sign-key")
        .arg(key)
        .output()
        .expect("run otscout merge");
    assert!(out.status.success(), "{out:?}");
    report
}

#[test]
fn fleet_wrapper_merges_only_trusted_site_reports_and_is_quiet_without_drift() {
    use otscout::report::sign::{self, Protection};
    let tmp = tempfile::tempdir().expect("tempdir");
    let etc = tmp.path().join("etc");
    let inbox = tmp.path().join("inbox");
    let state = tmp.path().join("state");
    let site_keys = tmp.path().join("site-keys");
    for d in [&etc, &site_keys.join("a"), &site_keys.join("b")] {
        std::fs::create_dir_all(d).unwrap();
    }
    sign::keygen(&etc, &Protection::Unencrypted).expect("central keygen");
    sign::keygen(&site_keys.join("a"), &Protection::Unencrypted).expect("keygen a");
    sign::keygen(&site_keys.join("b"), &Protection::Unencrypted).expect("keygen b");
    let sites = etc.join("sites");
    std::fs::create_dir_all(&sites).unwrap();
    std::fs::copy(site_keys.join("a/otscout.pub"), sites.join("plant-a.pub")).unwrap();
    site_report(
        &inbox,
        "plant-a",
        &site_keys.join("a/otscout.key"),
        "20261120T223000Z",
    );
    site_report(
        &inbox,
        "plant-b",
        &site_keys.join("b/otscout.key"),
        "20261120T223500Z",
    );
    // Still arriving (no signature yet): skipped, not refused.
    std::fs::write(inbox.join("plant-a/report-20261121T223000Z.json"), "{").unwrap();

    let run = || {
        Command::new("sh")
            .arg(root().join("deploy/otscout-fleet"))
            .env("OTSCOUT", env!("CARGO_BIN_EXE_otscout"))
            .env("OTSCOUT_ETC", &etc)
            .env("OTSCOUT_INBOX", &inbox)
            .env("OTSCOUT_STATE", &state)
            .output()
            .expect("run otscout-fleet")
    };
    // plant-b's key is not trusted: refused by name, nothing written.
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("plant-b/report-20261120T223500Z.json"),
        "{err}"
    );
    assert!(!state.join("last.json").exists() && !state.join("fleet.html").exists());

    // Both trusted: one fleet report of two sites, signed by the central key, and a page.
    std::fs::copy(site_keys.join("b/otscout.pub"), sites.join("plant-b.pub")).unwrap();
    for round in 0..2 {
        let out = run();
        assert_eq!(
            (
                out.status.code(),
                out.stdout.is_empty(),
                out.stderr.is_empty()
            ),
            (Some(0), true, true),
            "round {round}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let pk = sign::load_public_key(&etc.join("otscout.pub")).unwrap();
    let fleet = sign::verify_file(&state.join("last.json"), &pk)
        .expect("the fleet report verifies with the central key")
        .inventory;
    assert_eq!(
        fleet.summary.by_site.keys().collect::<Vec<_>>(),
        ["plant-a", "plant-b"]
    );
    assert_eq!(fleet.verified.len(), 2);
    let html = std::fs::read_to_string(state.join("fleet.html")).expect("fleet.html");
    assert!(html.contains("plant-a") && html.contains("plant-b"));
    // A report changed after signing: refused, the last fleet report stays.
    let b = inbox.join("plant-b/report-20261120T223500Z.json");
    let text = std::fs::read_to_string(&b).unwrap();
    std::fs::write(&b, text.replacen("Hall 1", "Hall 9", 1)).unwrap();
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("plant-b/report-20261120T223500Z.json"),
        "{err}"
    );
    assert!(sign::verify_file(&state.join("last.json"), &pk).is_ok());
}
