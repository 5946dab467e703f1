//! Runs a real scan for `otscout scan`: window check, journal or resume, signals,
//! progress, the result file, the summary and the exit code.
//!
//! `cli::scan` resolves the command line (targets, exclusions, profile) into
//! [`RunOptions`]; this module does the rest. Exit codes: 0 complete, 1 complete but some
//! hosts errored, 2 usage or configuration error (returned as `Err`), 3 interrupted or
//! window ended.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Local, Utc};
use ipnet::IpNet;
use sha2::{Digest, Sha256};

use crate::inventory::Protocol;
use crate::probe::driver;
use crate::probe::journal::{self, JOURNAL_FORMAT, Journal, JournalHeader};
use crate::probe::scan::{
    self, BuiltinSessions, ScanConfig, ScanReport, ScanStatus, SessionFactory, StopReason,
    StopSignal, Targets,
};
use crate::probe::window::{self, Window};
use crate::profile::Profile;

use super::exit;
use super::progress::{Mode, Progress};

/// Everything a scan run needs, resolved from the command line.
#[derive(Debug)]
pub struct RunOptions {
    pub profile: Profile,
    /// SHA-256 of the profile's TOML text.
    pub profile_sha256: String,
    pub targets: Targets,
    /// The target specs as given (for the result's scope).
    pub scope: Vec<String>,
    pub exclusions: Vec<IpNet>,
    /// The exclusion specs as given.
    pub exclusion_specs: Vec<String>,
    /// The resolved scope; every target is re-checked against it before it is probed.
    pub target_set: Option<crate::target::TargetSet>,
    /// The result file; default `otscout-scan-<scan id>.json` in the current folder.
    pub output: Option<PathBuf>,
    /// The journal; default `<output>.journal.jsonl`.
    pub journal: Option<PathBuf>,
    /// Continue this journal instead of starting a new scan.
    pub resume: Option<PathBuf>,
    pub window: Option<Window>,
    pub until: Option<DateTime<Utc>>,
    pub quiet: bool,
    pub operator: Option<String>,
    /// The site the scan runs at (`--site`): in the result and the report.
    pub site: Option<String>,
    /// Non-standard ports per host (labs, simulators).
    pub ports: HashMap<(IpAddr, Protocol), u16>,
    /// Sessions to use (the built-in ones unless a test says otherwise).
    pub sessions: Option<Arc<dyn SessionFactory>>,
    /// What passive data said about the hosts (`--from-passive`).
    pub passive: Option<scan::PassiveGuide>,
    /// After the scan, merge its result with these inputs into a report.
    pub report: Option<ReportOptions>,
}

/// `--passive`, `--sign-key`, `--report`: the whole job in one command.
pub struct ReportOptions {
    /// The other inputs, loaded (and so checked) before the scan started.
    pub inputs: Vec<crate::inventory::Input>,
    /// Default `<output stem>.report.json`.
    pub path: Option<PathBuf>,
    pub sign_key: Option<minisign::SecretKey>,
    /// `--csaf`: the advisories, read before the scan, matched into the report.
    pub advisories: Option<crate::advisories::Library>,
}

impl std::fmt::Debug for ReportOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("ReportOptions")
            .field("inputs", &self.inputs.len())
            .field("path", &self.path)
            .field("signed", &self.sign_key.is_some())
            .finish()
    }
}

/// The report's default path beside the scan result: `plant.json` gives
/// `plant.report.json`.
pub fn default_report_path(output: &Path) -> PathBuf {
    output.with_extension("report.json")
}

/// Merges the written scan result with the other inputs and writes the report, signed
/// when a key was given. Returns the report's path and its signature's.
fn write_merged_report(
    output: &Path,
    opts: ReportOptions,
) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    let path = opts
        .path
        .clone()
        .unwrap_or_else(|| default_report_path(output));
    let scan_input = crate::report::input::load(output, None)
        .with_context(|| format!("reading back the scan result {}", output.display()))?;
    let mut inputs = vec![scan_input];
    inputs.extend(opts.inputs);
    let now = Utc::now();
    // The scan result names its site: the other inputs are that site's.
    let mut inv = crate::inventory::merge(&inputs, now);
    if let Some(lib) = &opts.advisories {
        inv.advisories = Some(crate::advisories::match_inventory(&inv, lib));
    }
    // Replacing: an existing report is only found out after the scan, when refusing it
    // would cost the report (the scan result is written either way).
    let sig = crate::report::sign::write_report(
        &path,
        &inv,
        opts.sign_key.as_ref(),
        now,
        crate::output_file::Overwrite::Replace,
    )
    .with_context(|| {
        format!(
            "writing the report {} (the scan result {} is written; merge it with `otscout merge`)",
            path.display(),
            output.display()
        )
    })?;
    Ok((path, sig))
}

/// Runs the scan and returns the exit code. Configuration errors are `Err` (exit 2).
pub fn execute(opts: RunOptions) -> anyhow::Result<u8> {
    // Refuse to start outside the window, before anything else happens.
    let deadline = window::resolve_deadline(&Local::now(), opts.window.as_ref(), opts.until)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(run(opts, deadline))
}

async fn run(opts: RunOptions, deadline: Option<DateTime<Utc>>) -> anyhow::Result<u8> {
    let started = Utc::now();
    // New scan or resume.
    let (scan_id, resumed, handle, output, journal_path, first_started) = match &opts.resume {
        Some(path) => {
            let r = journal::read(path)?;
            if r.header.profile_sha256 != opts.profile_sha256 {
                return Err(journal::JournalError::ProfileMismatch {
                    path: path.clone(),
                    journal_profile: r.header.profile.clone(),
                    journal_sha: r.header.profile_sha256.clone(),
                    profile: opts.profile.name.clone(),
                    sha: opts.profile_sha256.clone(),
                }
                .into());
            }
            // The journal's done hosts belong to its scope: resuming it over other targets
            // would call the result complete with the first run's hosts and the rest of
            // both scopes never scanned. Compared as sets of the specs as given.
            if !same_specs(&r.header.scope, &opts.scope) {
                bail!(
                    "--resume {}: the scan was started with targets [{}], this run gives [{}]; give the same targets to resume, or start a new scan without --resume",
                    path.display(),
                    r.header.scope.join(" "),
                    opts.scope.join(" ")
                );
            }
            // An exclusion given to the first run holds for the rest of it: a resume
            // that forgets one would probe the excluded hosts it has not reached yet.
            let missing: Vec<&String> = r
                .header
                .exclusions
                .iter()
                .filter(|e| !opts.exclusion_specs.contains(e))
                .collect();
            if !missing.is_empty() {
                let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
                bail!(
                    "--resume {}: the scan was started with exclusions this run does not have: {}; pass them again (--exclude ADDR, or --exclude-file FILE for an @FILE entry) to resume",
                    path.display(),
                    list.join(", ")
                );
            }
            if let Some(line) = r.torn_line {
                // Shown even with --quiet: the operator should know the journal was cut.
                errln!(
                    "otscout: warning: journal {} line {line} was torn (the run stopped mid-write) and is dropped; the host it was about is probed again",
                    path.display()
                );
            }
            let output = opts
                .output
                .clone()
                .unwrap_or_else(|| default_output(&r.header.scan_id));
            // A resumed scan rewrites its own result and report.
            check_outputs(&outputs_of(&output, None, opts.report.as_ref()), false)?;
            let handle = Journal::append_to(path, r.torn_tail)?;
            (
                r.header.scan_id.clone(),
                // Done hosts are not probed again; carried ones (started, not finished)
                // are, within what earlier runs left of each probe's budget.
                r.done.into_iter().chain(r.carried).collect(),
                handle,
                output,
                path.clone(),
                r.header.started,
            )
        }
        None => {
            let scan_id = new_scan_id(started);
            let output = opts
                .output
                .clone()
                .unwrap_or_else(|| default_output(&scan_id));
            let journal_path = opts
                .journal
                .clone()
                .unwrap_or_else(|| with_suffix(&output, ".journal.jsonl"));
            let header = JournalHeader {
                format: JOURNAL_FORMAT.into(),
                version: journal::JOURNAL_VERSION,
                scan_id: scan_id.clone(),
                profile: opts.profile.name.clone(),
                profile_sha256: opts.profile_sha256.clone(),
                started,
                scope: opts.scope.clone(),
                exclusions: opts.exclusion_specs.clone(),
            };
            // Every file the scan writes is checked before the first packet: finding an
            // unwritable folder after the scan would cost the plant the whole scan again.
            check_outputs(
                &outputs_of(&output, Some(&journal_path), opts.report.as_ref()),
                true,
            )?;
            let handle = Journal::create(&journal_path, &header)?;
            (
                scan_id,
                Default::default(),
                handle,
                output,
                journal_path,
                started,
            )
        }
    };

    let stop = StopSignal::new();
    let signals = tokio::spawn(watch_signals(
        stop.clone(),
        handle.journal().cloned(),
        opts.quiet,
    ));
    if opts.resume.is_some() {
        // The run being resumed may have been cut off with a connection open a moment
        // ago, to a host it will probe again first: hold the longest cool-down (the
        // profile's or a vendor rule's) before touching anything.
        let wait = resume_cooldown(&opts.profile);
        if !opts.quiet && !wait.is_zero() {
            errln!(
                "otscout: resuming: waiting the {:.1} s cool-down before the first connection",
                wait.as_secs_f64()
            );
        }
        stop.sleep_until(tokio::time::Instant::now() + wait).await;
    }
    let progress = Progress::new(Mode::detect(opts.quiet));

    let config = ScanConfig {
        scan_id: scan_id.clone(),
        profile: opts.profile.clone(),
        profile_sha256: opts.profile_sha256.clone(),
        targets: opts.targets,
        exclusions: opts.exclusions.clone(),
        scope: opts.target_set,
        ports: opts.ports,
        deadline,
        journal: handle.journal().cloned(),
        resumed,
        sessions: opts.sessions.unwrap_or_else(|| Arc::new(BuiltinSessions)),
        close_timeout: opts.profile.pacing.close_hold(),
        passive: opts.passive,
    };
    let report = scan::run(config, progress.sink(), stop).await;
    progress.finish();
    signals.abort();
    let journal_result = handle.finish();
    let mut report = report?;
    // A resumed scan started when its journal did.
    report.started = report.started.min(first_started);
    let doc = crate::probe::result::document(
        &report,
        &Meta {
            scope: opts.scope,
            exclusions: opts.exclusion_specs,
            operator: opts.operator.or_else(|| std::env::var("USER").ok()),
            host: gethostname::gethostname().into_string().ok(),
            site: opts.site.clone(),
        },
    );
    if let Err(e) = write_atomically(&output, &doc) {
        return Ok(late_failure(&e, &journal_path));
    }
    journal_finished(journal_result, &output, &journal_path)?;
    let mut printed = Ok(());
    if !opts.quiet {
        printed = print_summary(&report, &output, &journal_path);
    }
    if let Some(r) = opts.report {
        let (path, sig) = match write_merged_report(&output, r) {
            Ok(v) => v,
            Err(e) => return Ok(late_failure(&e, &journal_path)),
        };
        if !opts.quiet && printed.is_ok() {
            printed = outln!("report: {}", path.display());
            if let Some(sig) = sig.filter(|_| printed.is_ok()) {
                printed = outln!("signature: {}", sig.display());
            }
        }
    }
    // A closed standard output stops the summary, never the report or the exit code.
    Ok(super::out::finish(exit_code(&report), printed)?)
}

/// A file that could not be written after the scan ran (the checks before it passed: a
/// disk filled up, a folder changed). Exit 3, not 2: requests went out, so "nothing was
/// done" would be false; as after an interruption, the journal holds the run and
/// `--resume` finishes it (without probing finished hosts again).
fn late_failure(e: &anyhow::Error, journal: &Path) -> u8 {
    errln!(
        "otscout: error: {}; the journal {} holds everything this scan learned: finish with `{}` (with another -o/--report if that folder stays unwritable)",
        super::one_line(e),
        journal.display(),
        resume_command(std::env::args().skip(1), journal)
    );
    exit::INTERRUPTED
}

/// This command line with `--resume JOURNAL` (replacing one it had), shell-quoted.
fn resume_command(args: impl Iterator<Item = String>, journal: &Path) -> String {
    let mut words = vec!["otscout".to_string()];
    let mut args = args.peekable();
    while let Some(a) = args.next() {
        if a == "--resume" {
            args.next();
            continue;
        }
        if a.starts_with("--resume=") {
            continue;
        }
        words.push(a);
    }
    words.push("--resume".into());
    words.push(journal.display().to_string());
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(w: &str) -> String {
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain {
        w.to_owned()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

/// The files a scan writes: (what, path).
fn outputs_of(
    output: &Path,
    journal: Option<&Path>,
    report: Option<&ReportOptions>,
) -> Vec<(&'static str, PathBuf)> {
    let mut v = vec![("result", output.to_owned())];
    if let Some(j) = journal {
        v.push(("journal", j.to_owned()));
    }
    if let Some(r) = report {
        let path = r
            .path
            .clone()
            .unwrap_or_else(|| default_report_path(output));
        if r.sign_key.is_some() {
            v.push(("signature", with_suffix(&path, ".minisig")));
        }
        v.push(("report", path));
    }
    v
}

/// Before the first packet: each file's folder takes a new file (one is created and
/// removed), and for a new scan (`fresh`) none of the files exists yet.
fn check_outputs(files: &[(&'static str, PathBuf)], fresh: bool) -> anyhow::Result<()> {
    for (what, path) in files {
        if fresh && std::fs::symlink_metadata(path).is_ok() {
            let flag = match *what {
                "result" => "-o",
                "journal" => "--journal",
                _ => "--report",
            };
            bail!(
                "{what} {} already exists; choose another file with {flag} or remove it (nothing was sent)",
                path.display()
            );
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let probe = dir.join(format!(".otscout-write-check-{}", std::process::id()));
        let made = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe);
        match made {
            Ok(f) => {
                drop(f);
                let _ = std::fs::remove_file(&probe);
            }
            Err(e) => bail!(
                "cannot write the {what} {}: its folder {} does not take a new file ({e}); choose a writable place (nothing was sent)",
                path.display(),
                dir.display()
            ),
        }
    }
    Ok(())
}

/// What the result file says about the run beyond the engine's report.
pub use crate::probe::result::Meta;

/// Tracing logs on stderr for `-v` (debug) and `-vv` (trace); `RUST_LOG` overrides.
pub fn init_tracing(verbose: u8) {
    if verbose == 0 && std::env::var_os("RUST_LOG").is_none() {
        return;
    }
    let level = match verbose {
        0 | 1 => "otscout=debug",
        _ => "otscout=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// 0 complete, 1 complete with errored hosts, 3 interrupted or window ended.
pub fn exit_code(report: &ScanReport) -> u8 {
    match report.status {
        ScanStatus::Interrupted | ScanStatus::WindowEnded => exit::INTERRUPTED,
        ScanStatus::Complete if report.errored_hosts() > 0 => exit::PARTIAL,
        ScanStatus::Complete => exit::OK,
    }
}

/// How long a second Ctrl-C waits for the journal's queued lines to reach the disk.
pub const EXIT_FLUSH: Duration = Duration::from_secs(1);

/// First SIGINT/SIGTERM: stop issuing requests. Second: flush the lines still queued
/// for the journal (at most [`EXIT_FLUSH`]), then exit (the journal is written line by
/// line, so it is intact; a line the flush could not write in time is lost, and its host
/// is probed again on resume).
async fn watch_signals(stop: StopSignal, journal: Option<Journal>, quiet: bool) {
    let mut term = terminate_signal();
    next_signal(&mut term).await;
    stop.stop(StopReason::Interrupted);
    if !quiet {
        errln!(
            "otscout: stopping: no new requests; open exchanges finish or time out (press Ctrl-C again to exit at once)"
        );
    }
    next_signal(&mut term).await;
    // Both off the async workers (blocking waits, short) and side by side: the journal's
    // lines reach the disk while every open connection gets our FIN and is read until the
    // device's, so the exit closes no socket with unread data (which the kernel would
    // answer with a RST).
    let drained = tokio::task::spawn_blocking(|| driver::drain_before_exit(EXIT_FLUSH));
    let flushed = match journal {
        Some(j) => tokio::task::spawn_blocking(move || j.flush(EXIT_FLUSH))
            .await
            .unwrap_or(false),
        None => true,
    };
    let _ = drained.await;
    if flushed {
        errln!("otscout: exiting at once; the journal is intact, continue with --resume");
    } else {
        errln!(
            "otscout: exiting at once; the journal could not be written to disk within {} s (a write failed or the disk is stuck) and may miss its last lines (their hosts are probed again), continue with --resume",
            EXIT_FLUSH.as_secs()
        );
    }
    std::process::exit(i32::from(exit::INTERRUPTED));
}

#[cfg(unix)]
type Terminate = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Terminate = ();

#[cfg(unix)]
fn terminate_signal() -> Terminate {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()
}
#[cfg(not(unix))]
fn terminate_signal() -> Terminate {}

/// The next Ctrl-C (SIGINT) or, on Unix, SIGTERM.
async fn next_signal(term: &mut Terminate) {
    #[cfg(unix)]
    if let Some(t) = term {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = t.recv() => {},
        }
        return;
    }
    let _ = term;
    let _ = tokio::signal::ctrl_c().await;
}

fn print_summary(
    report: &ScanReport,
    output: &Path,
    journal: &Path,
) -> Result<(), super::out::StdoutError> {
    out!("{}", summary_text(report, output, journal))
}

/// The summary after a scan: the counts, then each host worth a look (identified,
/// errored, left alone, or with a reply that did not decode: "suspicious", kept raw in
/// the result).
fn summary_text(report: &ScanReport, output: &Path, journal: &Path) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let status = match report.status {
        ScanStatus::Complete => "complete",
        ScanStatus::Interrupted => "interrupted",
        ScanStatus::WindowEnded => "window ended",
    };
    let secs = (report.finished - report.started).num_milliseconds() as f64 / 1000.0;
    let suspicious = report.hosts.iter().filter(|h| h.suspicious()).count();
    let _ = writeln!(
        s,
        "scan {} {status}: {} hosts probed, {} identified, {} errored, {suspicious} suspicious, {} skipped, {} requests in {secs:.1} s",
        report.scan_id,
        report.hosts.len(),
        report.identified_hosts(),
        report.errored_hosts(),
        report.skipped.len(),
        report.requests(),
    );
    for h in &report.hosts {
        if h.identified() || h.errored() || h.suspicious() {
            let outcomes: Vec<String> = h
                .probes
                .iter()
                .map(|p| format!("{:?} {}", p.protocol, p.outcome).to_lowercase())
                .collect();
            let _ = writeln!(s, "  {:<15} {}", h.ip, outcomes.join(", "));
        }
        if let Some(scan::LeftAlone::HeldOpen {
            protocol, hold_ms, ..
        }) = &h.left_alone
        {
            let _ = writeln!(
                s,
                "  {:<15} left alone: the device kept its side of the {} connection open after our FIN for more than {:.1} s",
                h.ip,
                format!("{protocol:?}").to_lowercase(),
                *hold_ms as f64 / 1000.0
            );
        }
        for note in &h.notes {
            let _ = writeln!(s, "  {:<15} note: {note}", h.ip);
        }
    }
    let _ = writeln!(s, "result: {}", output.display());
    let _ = writeln!(s, "journal: {}", journal.display());
    if report.status != ScanStatus::Complete {
        let _ = writeln!(
            s,
            "continue with: otscout scan ... --resume {}",
            journal.display()
        );
    }
    s
}

/// Whether two lists of target specs name the same specs, in any order.
fn same_specs(a: &[String], b: &[String]) -> bool {
    let set = |v: &[String]| -> std::collections::BTreeSet<String> {
        v.iter().map(|s| s.trim().to_owned()).collect()
    };
    set(a) == set(b)
}

fn new_scan_id(now: DateTime<Utc>) -> String {
    let mut h = Sha256::new();
    h.update(now.timestamp_nanos_opt().unwrap_or_default().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    let digest = hex::encode(h.finalize());
    format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), &digest[..8])
}

fn default_output(scan_id: &str) -> PathBuf {
    PathBuf::from(format!("otscout-scan-{scan_id}.json"))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The longest cool-down the profile can ask of one host (its own or a vendor rule's).
fn resume_cooldown(profile: &Profile) -> Duration {
    let ms = profile
        .vendor_rules
        .iter()
        .filter_map(|r| r.cooldown_ms)
        .fold(profile.pacing.cooldown_ms, u64::max);
    Duration::from_millis(ms)
}

/// Writes the result, then reports a journal that failed: the result holds everything
/// the scan learned, so a journal error must not cost it.
#[cfg(test)]
fn write_result(
    output: &Path,
    doc: &impl serde::Serialize,
    journal: Result<(), journal::JournalError>,
    journal_path: &Path,
) -> anyhow::Result<()> {
    write_atomically(output, doc)?;
    journal_finished(journal, output, journal_path)
}

/// A journal that failed, once the result is written.
fn journal_finished(
    journal: Result<(), journal::JournalError>,
    output: &Path,
    journal_path: &Path,
) -> anyhow::Result<()> {
    journal.with_context(|| {
        format!(
            "the journal {} could not be completed (the result {} is written; the journal may miss lines, so check it before --resume)",
            journal_path.display(),
            output.display()
        )
    })
}

/// Writes via a temporary file and a rename, so a reader never sees half a result.
fn write_atomically(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let tmp = with_suffix(path, ".tmp");
    let text = serde_json::to_vec_pretty(value).context("serialise the scan result")?;
    // Synced before the rename: after a crash the result is the old file or the whole
    // new one, never an empty one.
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        // Leave nothing half-written beside the result.
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("write {}", tmp.display()));
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("rename {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resume_command_is_this_command_line_with_resume() {
        let args = [
            "scan",
            "10.0.0.0/24",
            "-o",
            "out dir/r.json",
            "--resume",
            "old.jsonl",
        ]
        .map(String::from);
        assert_eq!(
            resume_command(args.into_iter(), Path::new("out dir/r.json.journal.jsonl")),
            "otscout scan 10.0.0.0/24 -o 'out dir/r.json' --resume 'out dir/r.json.journal.jsonl'"
        );
    }

    #[test]
    fn the_summary_shows_suspicious_hosts() {
        use crate::probe::scan::{HostReport, HostState, ProbeOutcome, ProbeReport};
        let now = Utc::now();
        // Any protocol: the summary names the probe by its protocol's name.
        let protocol = crate::protocols::REGISTRY[0].protocol();
        let host = |ip: &str, outcome: ProbeOutcome| HostReport {
            ip: ip.parse().unwrap(),
            state: HostState::Done,
            started: now,
            finished: now,
            probes: vec![ProbeReport {
                protocol,
                transport: crate::inventory::Transport::Tcp,
                port: 502,
                outcome,
                detail: None,
                started: now,
                finished: now,
                connections: 1,
                requests: vec![],
                observations: vec![],
                cut_short: false,
            }],
            left_alone: None,
            notes: vec![],
        };
        let report = ScanReport {
            scan_id: "s".into(),
            profile: "p".into(),
            profile_sha256: "ab".into(),
            status: ScanStatus::Complete,
            started: now,
            finished: now,
            hosts: vec![
                host("127.0.0.7", ProbeOutcome::Suspicious),
                host("127.0.0.8", ProbeOutcome::Refused),
            ],
            skipped: vec![],
            resumed_hosts: 0,
        };
        let text = summary_text(&report, Path::new("r.json"), Path::new("j.jsonl"));
        assert!(text.contains("1 suspicious"), "{text}");
        assert!(
            text.contains("127.0.0.7") && text.contains(&format!("{} suspicious", protocol.name())),
            "{text}"
        );
        assert!(!text.contains("127.0.0.8"), "{text}");
    }

    #[test]
    fn a_failed_journal_does_not_cost_the_result() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.json");
        let jpath = dir.path().join("r.json.journal.jsonl");
        let failed = Err(journal::JournalError::Writer {
            path: jpath.clone(),
            reason: "write: no space left on device".into(),
        });
        let e = write_result(&out, &serde_json::json!({"hosts": [1]}), failed, &jpath).unwrap_err();
        let text = format!("{e:#}");
        assert!(text.contains("r.json.journal.jsonl"), "{text}");
        assert!(text.contains("is written"), "{text}");
        let back: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(back["hosts"][0], 1);
    }
}
