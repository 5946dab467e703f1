//! `otscout scan`: the flags, their resolution into a [`ScanConfig`], and (for now) the
//! dry run. The active scan is built by the scan driver and plugs in where noted.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use crate::plan::{Plan, ScanConfig, ScanRequest};

/// Inventory a network with read-only identity requests.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  otscout scan 10.0.0.0/24 --exclude 10.0.0.1 --dry-run
  otscout scan -i plant.txt --exclude-file safety-list.txt --profile siemens --dry-run --json
  otscout scan 127.0.0.1 --profile lab --set modbus.port=5020 --dry-run
  otscout scan 10.0.0.0/24 --profile conservative -o plant.json --window 22:00-05:30
  otscout scan 10.0.0.0/24 --profile conservative -o plant.json --resume plant.json.journal.jsonl

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
    /// No progress and no summary; errors still go to stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// Tracing logs on stderr (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
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

    /// Resolves targets, exclusions and the profile.
    pub fn resolve(&self) -> anyhow::Result<ScanConfig> {
        ScanConfig::resolve(&self.request()).context("cannot plan the scan")
    }
}

/// Runs `otscout scan`.
pub fn run(args: &ScanArgs) -> anyhow::Result<u8> {
    let cfg = args.resolve()?;
    if !args.dry_run {
        return super::scan_run::execute(run_options(args, cfg)?);
    }
    let plan = Plan::build(&cfg);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&plan).context("cannot render the plan as JSON")?
        );
    } else {
        print!("{}", plan.render_text());
    }
    Ok(super::exit::OK)
}

/// The active scan's options from the flags and the resolved plan.
fn run_options(args: &ScanArgs, cfg: ScanConfig) -> anyhow::Result<super::scan_run::RunOptions> {
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
    super::scan_run::init_tracing(args.verbose);
    let mut scope: Vec<String> = args.targets.clone();
    scope.extend(
        args.targets_files
            .iter()
            .map(|f| format!("@{}", f.display())),
    );
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
        ports: Default::default(),
        sessions: None,
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
