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
  otscout scan 127.0.0.1 --profile lab --set modbus.port=5020 --dry-run")]
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
        // The scan driver replaces this with the active scan.
        anyhow::bail!(
            "active scanning is not built yet: use --dry-run to see the plan ({} addresses, profile {})",
            cfg.targets.count(),
            cfg.profile.name
        );
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
