//! `otscout advisories`: which published CSAF advisories apply to a report's assets.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, ValueEnum};

use crate::advisories::{self, Library, Matches};
use crate::output_file::{self, Overwrite};
use crate::report::{advisories as view, input, sign};

/// The views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Markdown,
    Csv,
}

/// Arguments of `otscout advisories`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  otscout advisories report.json --csaf ~/csaf/cisa --csaf ~/csaf/siemens
  otscout advisories report.json --csaf ~/csaf --format csv -o advisories.csv --pubkey otscout.pub
  otscout advisories report.json            (the matches the report carries: merge --csaf)

Reads CSAF 2.0 documents (.json, .json.gz, ROLIE feed listings) under the folders; sends
nothing. A document that cannot be read is a warning (an error with --strict).")]
pub struct AdvisoriesArgs {
    /// The JSON report.
    #[arg(value_name = "REPORT.json")]
    pub report: PathBuf,
    /// A folder of CSAF 2.0 advisories (repeatable). Without it: the matches embedded in
    /// the report by `merge --csaf`.
    #[arg(long, value_name = "DIR")]
    pub csaf: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// A CSAF document that cannot be read is an error, not a warning.
    #[arg(long)]
    pub strict: bool,
    /// Verify the report's signature with this public key first.
    #[arg(long, value_name = "KEY")]
    pub pubkey: Option<PathBuf>,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long, requires = "output")]
    pub force: bool,
}

/// Loads the advisories under the folders, printing a warning per document refused, or
/// failing on the first under `strict`.
pub fn load_library(dirs: &[PathBuf], strict: bool) -> anyhow::Result<Library> {
    let lib = advisories::load(dirs)?;
    if strict {
        if let Some(first) = lib.warnings.first() {
            bail!(
                "{} CSAF document(s) refused (--strict); the first: {first}",
                lib.warnings.len()
            );
        }
    }
    for w in &lib.warnings {
        errln!(
            "otscout: warning: {}",
            super::one_line(&anyhow::anyhow!("{w}"))
        );
    }
    Ok(lib)
}

pub fn run(args: AdvisoriesArgs) -> anyhow::Result<u8> {
    let pk = args
        .pubkey
        .as_deref()
        .map(sign::load_public_key)
        .transpose()?;
    let overwrite = Overwrite::from_force(args.force);
    if let Some(p) = &args.output {
        output_file::check("output", p, overwrite)?;
    }
    let inv = input::read_report(&args.report, pk.as_ref())?;
    let matches: Matches = if args.csaf.is_empty() {
        match inv.advisories {
            Some(m) => m,
            None => bail!(
                "{}: the report carries no advisory matches; give --csaf DIR (a folder of CSAF 2.0 advisories)",
                args.report.display()
            ),
        }
    } else {
        let lib = load_library(&args.csaf, args.strict)?;
        advisories::match_inventory(&inv, &lib)
    };
    let out = match args.format {
        Format::Table => view::table(&matches).into_bytes(),
        Format::Json => view::json(&matches),
        Format::Markdown => view::markdown(&matches).into_bytes(),
        Format::Csv => view::csv(&matches),
    };
    let printed = match &args.output {
        Some(p) => {
            output_file::write("output", p, &out, overwrite)?;
            Ok(())
        }
        None => super::out::write_all(&out),
    };
    if args.output.is_some() || args.format != Format::Table {
        errln!("otscout: {}", view::counts(&matches));
    }
    // `otscout advisories ... | head` is not an error.
    Ok(super::out::finish(super::exit::OK, printed)?)
}
