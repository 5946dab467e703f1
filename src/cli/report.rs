//! `otscout report`: render a report as CSV, CycloneDX, Markdown or a table.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

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
}

pub fn run(args: ReportArgs) -> anyhow::Result<u8> {
    let pk = args
        .pubkey
        .as_deref()
        .map(sign::load_public_key)
        .transpose()?;
    let inv = input::read_report(&args.report, pk.as_ref())?;
    let out = match args.format {
        Format::Csv => csv::render(&inv),
        Format::Cyclonedx => cyclonedx::render(&inv),
        Format::Markdown => markdown::render(&inv).into_bytes(),
        Format::Table => markdown::table(&inv).into_bytes(),
    };
    match &args.output {
        Some(p) => std::fs::write(p, out).with_context(|| format!("writing {}", p.display()))?,
        None => std::io::stdout()
            .write_all(&out)
            .context("writing to standard output")?,
    }
    Ok(super::exit::OK)
}
