//! `otscout report`: render a report as CSV, CycloneDX, Markdown, a table or one
//! self-contained HTML page.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::output_file::{self, Overwrite};
use crate::report::html::{self, SignatureStatus};
use crate::report::{csv, cyclonedx, input, markdown, sign};

/// The views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Csv,
    Cyclonedx,
    Markdown,
    Table,
    /// One self-contained page: tables, communication map, flags; loads nothing.
    Html,
}

/// Arguments of `otscout report`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  otscout report report.json --format markdown -o summary.md
  otscout report report.json --format cyclonedx --pubkey otscout.pub > bom.json
  otscout report report.json --format html --pubkey otscout.pub -o report.html")]
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
    // The HTML page says whether the signature was checked when it was made, and by
    // which key.
    let (inv, status) = match (&pk, args.format) {
        (Some(pk), Format::Html) => {
            let v = sign::verify_file(&args.report, pk)?;
            let status = SignatureStatus::Verified {
                key_id: sign::key_id(pk.keynum()),
                trusted_comment: v.trusted_comment,
            };
            (v.inventory, status)
        }
        _ => (
            input::read_report(&args.report, pk.as_ref())?,
            SignatureStatus::NotChecked,
        ),
    };
    let out = match args.format {
        Format::Html => html::render(&inv, &status).into_bytes(),
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
