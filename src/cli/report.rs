//! `otscout report`: render a report as CSV, CycloneDX, Markdown or a table.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::output_file::{self, Overwrite};
use crate::report::{csv, cyclonedx, input, markdown, sign};

/// The views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Csv,
    Cyclonedx,
    Markdown,
    Table,
}

/// Arguments of `otscout report`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  otscout report report.json --format markdown -o summary.md
  otscout report report.json --format cyclonedx --pubkey otscout.pub > bom.json")]
pub struct ReportArgs {
    /// The JSON report.
    #[arg(value_name = "REPORT.json")]
    pub report: PathBuf,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
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

pub fn run(args: ReportArgs) -> anyhow::Result<u8> {
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
    let out = match args.format {
        Format::Csv => csv::render(&inv),
        Format::Cyclonedx => cyclonedx::render(&inv),
        Format::Markdown => markdown::render(&inv).into_bytes(),
        Format::Table => markdown::table(&inv).into_bytes(),
    };
    match &args.output {
        Some(p) => output_file::write("output", p, &out, overwrite)?,
        None => super::out::write_all(&out)?,
    }
    Ok(super::exit::OK)
}
