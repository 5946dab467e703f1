//! `otscout scan`: the flags, their resolution into a [`ScanConfig`], and the dry run
//! (`--dry-run` prints the plan and sends nothing). The active scan itself runs in
//! [`super::scan_run`] ([`crate::probe::scan::run`] underneath).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use std::net::IpAddr;

use crate::inventory::ObservationFile;
use crate::plan::{PassiveScope, Plan, ScanConfig, ScanRequest};
use crate::probe::scan::PassiveGuide;

/// Inventory a network with read-only identity requests.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  otscout scan 10.0.0.0/24 --exclude 10.0.0.1 --dry-run
  otscout scan -i plant.txt --exclude-file safety-list.txt --profile siemens --dry-run --json
  otscout scan 127.0.0.1 --profile lab --set modbus.port=5020 --dry-run
  otscout scan 10.0.0.0/24 --profile conservative -o plant.json --window 22:00-05:30
  otscout scan 10.0.0.0/24 --profile conservative -o plant.json --resume plant.json.journal.jsonl
  otscout scan --from-passive plant.pcapng --skip-identified --profile conservative --dry-run
  otscout scan 10.0.0.0/24 --from-passive passive.json -o plant.json
  otscout scan 10.0.0.0/24 -o plant.json --passive plant.pcapng --sign-key otscout.key
  otscout scan 10.0.0.0/24 -o plant.json --passive a.pcap --passive b.csv --report r.json

Exit codes: 0 complete; 1 complete but some hosts errored; 2 usage or configuration
error; 3 interrupted (Ctrl-C, SIGTERM) or the maintenance window ended.")]
pub struct ScanArgs {
    /// Targets: IPv4/IPv6 addresses, CIDR prefixes, ranges (10.0.0.5-10.0.0.40, 10.0.0.5-40).
    #[arg(value_name = "TARGETS")]
    pub targets: Vec<String>,
    /// Read targets from a file (one spec per line, `#` comments); repeatable.
    #[arg(short = 'i', long = "targets-file", value_name = "FILE")]
    pub targets_files: Vec<PathBuf>,
    /// Never touch these (same syntax as targets); an exclusion always wins; repeatable.
    #[arg(long = "exclude", value_name = "SPEC")]
    pub excludes: Vec<String>,
    /// Read exclusions from a file; repeatable.
    #[arg(long = "exclude-file", value_name = "FILE")]
    pub exclude_files: Vec<PathBuf>,
    /// Allow a scope of more than 65,536 addresses.
    #[arg(long)]
    pub allow_large_scope: bool,
    /// Profile: a built-in name (conservative, siemens, rockwell, schneider, fragile, lab)
    /// or a path to a TOML file.
    #[arg(long, value_name = "NAME|PATH")]
    pub profile: Option<String>,
    /// Override one profile key for this run, e.g. --set pacing.max_rate=20; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Print the plan (targets, requests, pacing, estimate) and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write the scan result (JSON) here; default otscout-scan-<scan id>.json.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Journal every outcome here as it arrives (JSON Lines); default <output>.journal.jsonl.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Continue an interrupted scan from its journal: hosts already done are not probed
    /// again. Give the same targets and profile.
    #[arg(long, value_name = "JOURNAL")]
    pub resume: Option<PathBuf>,
    /// Maintenance window in local time, e.g. 22:00-05:30: refuse to start outside it,
    /// stop issuing requests at its end (status window_ended, exit 3).
    #[arg(long, value_name = "HH:MM-HH:MM")]
    pub window: Option<String>,
    /// Stop issuing requests at this time (RFC 3339, or local YYYY-MM-DD HH:MM).
    #[arg(long, value_name = "TIMESTAMP")]
    pub until: Option<String>,
    /// Who runs the scan, for the result file (default: $USER).
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
    /// The site this scan runs at (a plant's name), carried in the result, the report
    /// and its signature's trusted comment, for a fleet view across sites.
    #[arg(long, value_name = "NAME", value_parser = super::merge::parse_site)]
    pub site: Option<String>,
    /// No progress and no summary; errors still go to stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// Tracing logs on stderr (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Limit the targets to hosts seen in this passive data (anything `otscout passive`
    /// reads, or an observation file it wrote) and try the Modbus unit ids and S7 TSAPs
    /// observed for each host first; with no targets given, the passive hosts are the
    /// targets. Exclusions still win. Repeatable.
    #[arg(long = "from-passive", value_name = "FILE")]
    pub from_passive: Vec<PathBuf>,
    /// With --from-passive: do not probe hosts whose identity the passive data already
    /// holds (recorded as skipped).
    #[arg(long, requires = "from_passive")]
    pub skip_identified: bool,
    /// After the scan, merge its result with these inputs (captures, Zeek logs, CSVs,
    /// observation files, earlier reports) into a report; --from-passive files are merged
    /// too. Repeatable.
    #[arg(long = "passive", value_name = "FILE")]
    pub passive: Vec<PathBuf>,
    /// Sign the report with this minisign secret key (password from
    /// OTSCOUT_KEY_PASSWORD or a prompt); implies writing a report.
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// Where to write the report; default <output stem>.report.json. Implies writing one.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Match the report's assets against the CSAF 2.0 advisories in this folder
    /// (repeatable) and embed the matches in it; implies writing a report. The folder is
    /// read before the scan starts.
    #[arg(long, value_name = "DIR")]
    pub csaf: Vec<PathBuf>,
}

impl ScanArgs {
    /// The library's view of the flags.
    pub fn request(&self) -> ScanRequest {
        ScanRequest {
            targets: self.targets.clone(),
            targets_files: self.targets_files.clone(),
            excludes: self.excludes.clone(),
            exclude_files: self.exclude_files.clone(),
            allow_large_scope: self.allow_large_scope,
            profile: self.profile.clone(),
            sets: self.sets.clone(),
        }
    }

    /// Resolves targets, exclusions and the profile (and `--from-passive`).
    pub fn resolve(&self) -> anyhow::Result<ScanConfig> {
        self.resolve_guided().map(|(cfg, _)| cfg)
    }

    /// [`Self::resolve`], with what the passive data says about each host.
    pub fn resolve_guided(&self) -> anyhow::Result<(ScanConfig, Option<PassiveGuide>)> {
        if self.from_passive.is_empty() {
            let cfg = ScanConfig::resolve(&self.request()).context("cannot plan the scan")?;
            return Ok((cfg, None));
        }
        let file = load_passive(&self.from_passive)?;
        let hints = crate::passive::hints::hints(&file);
        let names: Vec<String> = self
            .from_passive
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let names = names.join(", ");
        // Target candidates are only addresses the passive data shows to be hosts
        // (`passive::hints::shows_a_host`: seen sending, answering, or declared in an
        // inventory; never merely addressed, as a directed broadcast like 192.168.1.255
        // is). Of those, addresses otscout never touches (limited broadcast, multicast)
        // are left out rather than refused: they are common in captures.
        let (usable, not_unicast): (Vec<IpAddr>, Vec<IpAddr>) = hints
            .hosts
            .iter()
            .copied()
            .partition(|ip| crate::probe::scan::refuse_target(*ip, &[]).is_none());
        let mut req = self.request();
        if req.targets.is_empty() && req.targets_files.is_empty() {
            if usable.is_empty() {
                anyhow::bail!(
                    "--from-passive {names}: the passive data names no unicast host to scan; check the file, or give targets"
                );
            }
            req.targets = usable.iter().map(IpAddr::to_string).collect();
        }
        let scope = ScanConfig::resolve(&req).context("cannot plan the scan")?;
        let hosts: Vec<IpAddr> = usable
            .iter()
            .copied()
            .filter(|ip| scope.targets.contains(*ip))
            .collect();
        if hosts.is_empty() {
            anyhow::bail!(
                "--from-passive {names}: none of the {} hosts in the passive data is within the targets after exclusions; widen the targets or check the exclusions",
                usable.len()
            );
        }
        // The scope becomes exactly those hosts (exclusions already subtracted).
        let set = crate::target::TargetSet::build(&crate::target::ScopeRequest {
            targets: hosts
                .iter()
                .map(|ip| crate::target::SpecInput::arg(ip.to_string()))
                .collect(),
            excludes: Vec::new(),
            allow_large_scope: self.allow_large_scope,
        })
        .with_context(|| format!("--from-passive {names}"))?;
        let mut guide = PassiveGuide::default();
        for o in &file.observations {
            if let crate::inventory::Fact::Identity { identity } = &o.fact {
                if set.contains(o.ip) {
                    guide
                        .identities
                        .entry(o.ip)
                        .or_default()
                        .push(identity.clone());
                }
            }
        }
        for (ip, units) in &hints.modbus_units {
            if set.contains(*ip) {
                guide
                    .modbus_units
                    .insert(*ip, units.iter().copied().collect());
            }
        }
        for (ip, tsaps) in &hints.s7_tsaps {
            if set.contains(*ip) {
                guide.s7_tsaps.insert(*ip, tsaps.iter().copied().collect());
            }
        }
        if self.skip_identified {
            for ip in hints.identified.iter().filter(|ip| set.contains(**ip)) {
                guide.skip.insert(
                    *ip,
                    format!("already identified by passive data ({names}); --skip-identified"),
                );
            }
        }
        let summary = PassiveScope {
            files: self
                .from_passive
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            hosts_seen: hints.hosts.len(),
            not_unicast: not_unicast.len(),
            outside_scope: usable.len() - hosts.len(),
            from_passive: hosts.len(),
            skip_identified: guide.skip.len(),
            with_unit_ids: guide.modbus_units.len(),
            with_tsaps: guide.s7_tsaps.len(),
        };
        let cfg = ScanConfig {
            targets: set,
            passive: Some(summary),
            ..scope
        };
        Ok((cfg, Some(guide)))
    }

    /// Whether the scan also writes a merged report.
    fn wants_report(&self) -> bool {
        !self.passive.is_empty()
            || self.sign_key.is_some()
            || self.report.is_some()
            || !self.csaf.is_empty()
    }
}

/// Reads `--from-passive` files (anything `otscout passive` or `otscout merge` reads)
/// into one observation set; the importer's warnings go to stderr.
fn load_passive(paths: &[PathBuf]) -> anyhow::Result<ObservationFile> {
    let mut observations = Vec::new();
    for p in paths {
        let loaded = crate::report::input::load_with_warnings(p, None)
            .with_context(|| format!("--from-passive {}", p.display()))?;
        for w in &loaded.warnings {
            errln!("otscout: warning: {}: {w}", p.display());
        }
        for n in &loaded.notes {
            errln!("otscout: note: {}: {n}", p.display());
        }
        observations.extend(loaded.input.observations);
    }
    Ok(ObservationFile {
        format: crate::inventory::OBSERVATIONS_FORMAT.into(),
        version: 1,
        sources: paths.iter().map(|p| p.display().to_string()).collect(),
        observations,
    })
}

/// Runs `otscout scan`.
pub fn run(args: &ScanArgs) -> anyhow::Result<u8> {
    let (cfg, guide) = args.resolve_guided()?;
    // Checked in a dry run too: a plan approved with a window the scan would refuse is
    // no plan.
    let limits = time_limits(args)?;
    if !args.dry_run {
        return super::scan_run::execute(run_options(args, cfg, guide, limits)?);
    }
    let plan = Plan::build_guided(&cfg, guide.as_ref());
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&plan).context("cannot render the plan as JSON")?
        )?;
    } else {
        out!("{}", plan.render_text())?;
    }
    Ok(super::exit::OK)
}

/// `--window` and `--until`, parsed.
type TimeLimits = (
    Option<crate::probe::window::Window>,
    Option<chrono::DateTime<chrono::Utc>>,
);

fn time_limits(args: &ScanArgs) -> anyhow::Result<TimeLimits> {
    let window = args
        .window
        .as_deref()
        .map(str::parse::<crate::probe::window::Window>)
        .transpose()
        .context("--window")?;
    let until = args
        .until
        .as_deref()
        .map(|u| crate::probe::window::parse_until(u, &chrono::Local))
        .transpose()
        .context("--until")?;
    Ok((window, until))
}

/// The active scan's options from the flags and the resolved plan.
fn run_options(
    args: &ScanArgs,
    cfg: ScanConfig,
    passive: Option<PassiveGuide>,
    (window, until): TimeLimits,
) -> anyhow::Result<super::scan_run::RunOptions> {
    super::scan_run::init_tracing(args.verbose);
    let mut scope: Vec<String> = args.targets.clone();
    scope.extend(
        args.targets_files
            .iter()
            .map(|f| format!("@{}", f.display())),
    );
    scope.extend(
        args.from_passive
            .iter()
            .map(|f| format!("from-passive:{}", f.display())),
    );
    let report = if args.wants_report() {
        Some(report_options(args)?)
    } else {
        None
    };
    let mut exclusion_specs = args.excludes.clone();
    exclusion_specs.extend(
        args.exclude_files
            .iter()
            .map(|f| format!("@{}", f.display())),
    );
    let targets = owned_targets(&cfg.targets);
    Ok(super::scan_run::RunOptions {
        profile: cfg.profile,
        profile_sha256: cfg.profile_sha256,
        targets,
        scope,
        exclusions: Vec::new(),
        exclusion_specs,
        target_set: Some(cfg.targets),
        output: args.output.clone(),
        journal: args.journal.clone(),
        resume: args.resume.clone(),
        window,
        until,
        quiet: args.quiet,
        operator: args.operator.clone(),
        site: args.site.clone(),
        ports: Default::default(),
        sessions: None,
        passive,
        report,
    })
}

/// Loads the report's inputs and key before the scan starts, so a bad input or a wrong
/// password costs no probing.
fn report_options(args: &ScanArgs) -> anyhow::Result<super::scan_run::ReportOptions> {
    let sign_key = args
        .sign_key
        .as_deref()
        .map(super::keygen::load_sign_key)
        .transpose()?;
    // The --from-passive files belong in the report too (a host skipped as identified is
    // known only from them), each file once.
    let mut files: Vec<&PathBuf> = Vec::new();
    for p in args.passive.iter().chain(&args.from_passive) {
        if !files.contains(&p) {
            files.push(p);
        }
    }
    let mut inputs = Vec::with_capacity(files.len());
    for p in files {
        let loaded = crate::report::input::load_with_warnings(p, None)
            .with_context(|| format!("--passive {}", p.display()))?;
        for w in &loaded.warnings {
            errln!("otscout: warning: {}: {w}", p.display());
        }
        for n in &loaded.notes {
            errln!("otscout: note: {}: {n}", p.display());
        }
        inputs.push(loaded.input);
    }
    let advisories = if args.csaf.is_empty() {
        None
    } else {
        Some(super::advisories::load_library(&args.csaf, false)?)
    };
    Ok(super::scan_run::ReportOptions {
        inputs,
        path: args.report.clone(),
        sign_key,
        advisories,
    })
}

/// The scope's addresses as an owned lazy iterator (the scan runs on other tasks than
/// the one holding the set), rebuilt from its disjoint ranges.
fn owned_targets(set: &crate::target::TargetSet) -> crate::probe::scan::Targets {
    use std::net::IpAddr;
    let ranges: Vec<(IpAddr, IpAddr)> = set
        .ranges()
        .filter_map(|r| match r.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => r.parse().ok().map(|a| (a, a)),
        })
        .collect();
    let iter = ranges
        .into_iter()
        .flat_map(|(s, e)| -> Box<dyn Iterator<Item = IpAddr> + Send> {
            match (s, e) {
                (IpAddr::V4(s), IpAddr::V4(e)) => {
                    Box::new((u32::from(s)..=u32::from(e)).map(|a| IpAddr::V4(a.into())))
                }
                (IpAddr::V6(s), IpAddr::V6(e)) => {
                    Box::new((u128::from(s)..=u128::from(e)).map(|a| IpAddr::V6(a.into())))
                }
                _ => Box::new(std::iter::empty()),
            }
        });
    crate::probe::scan::Targets {
        iter: Box::new(iter),
        total: u64::try_from(set.count()).ok(),
    }
}
