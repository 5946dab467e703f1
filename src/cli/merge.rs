//! `otscout merge`: fold inputs into one report, optionally signed.

use std::path::PathBuf;

use chrono::Utc;
use clap::Args;

use crate::inventory::{self, Input};
use crate::report::{input, sign};

/// Arguments of `otscout merge`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  otscout merge scan.json passive.json -o report.json --sign-key otscout.key
  otscout merge last-month.json scan.json -o report.json --pubkey otscout.pub
  otscout merge scan.json -o report.json --csaf ~/csaf/cisa --sign-key otscout.key")]
pub struct MergeArgs {
    /// Scan results, observation files or earlier reports.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Where to write the report.
    #[arg(short, long, value_name = "REPORT.json")]
    pub output: PathBuf,
    /// Sign the report with this minisign secret key (writes REPORT.json.minisig).
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// Verify earlier reports given as inputs with this public key, refusing any that fail.
    #[arg(long, value_name = "KEY")]
    pub pubkey: Option<PathBuf>,
    /// Match the assets against the CSAF 2.0 advisories in this folder (repeatable) and
    /// embed the matches, with each document's version and SHA-256, in the report.
    #[arg(long, value_name = "DIR")]
    pub csaf: Vec<PathBuf>,
    /// With --csaf: a CSAF document that cannot be read is an error, not a warning.
    #[arg(long, requires = "csaf")]
    pub strict: bool,
    /// Print nothing but warnings and errors (for cron).
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(args: MergeArgs) -> anyhow::Result<u8> {
    let pk = args
        .pubkey
        .as_deref()
        .map(sign::load_public_key)
        .transpose()?;
    // Load the key before any work, so a wrong password costs nothing.
    let sk = args
        .sign_key
        .as_deref()
        .map(super::keygen::load_sign_key)
        .transpose()?;
    // The advisories are read before the inputs: a refused document under --strict costs
    // nothing else.
    let library = if args.csaf.is_empty() {
        None
    } else {
        Some(super::advisories::load_library(&args.csaf, args.strict)?)
    };
    let mut inputs: Vec<Input> = Vec::with_capacity(args.inputs.len());
    for p in &args.inputs {
        let loaded = input::load_with_warnings(p, pk.as_ref())?;
        for w in &loaded.warnings {
            eprintln!("otscout: warning: {}: {w}", p.display());
        }
        inputs.push(loaded.input);
    }
    let mut inv = inventory::merge(&inputs, Utc::now());
    if let Some(lib) = &library {
        let m = crate::advisories::match_inventory(&inv, lib);
        if !args.quiet {
            eprintln!(
                "otscout: advisories: {}",
                crate::report::advisories::counts(&m)
            );
        }
        inv.advisories = Some(m);
    }
    // The error names the file (`cannot write report.json: ...`).
    if let Some(sig) = sign::write_report(&args.output, &inv, sk.as_ref(), Utc::now())? {
        if !args.quiet {
            eprintln!("otscout: signed: {}", sig.display());
        }
    }
    if args.quiet {
        return Ok(super::exit::OK);
    }
    eprintln!(
        "otscout: {} assets ({} identified) from {} input(s) written to {}",
        inv.summary.assets,
        inv.summary.identified,
        args.inputs.len(),
        args.output.display()
    );
    Ok(super::exit::OK)
}
