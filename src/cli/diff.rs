//! `otscout diff`: what changed between two reports. Exit 0: nothing; 1: drift; 2: error.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::inventory::Inventory;
use crate::report::html::{self, SignatureStatus};
use crate::report::{diff, input, sign};

/// How to print the difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
    /// One self-contained page, like `otscout report --format html`.
    Html,
}

/// Arguments of `otscout diff`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  otscout diff january.json february.json --pubkey otscout.pub
  otscout diff old.json new.json --json || alert \"inventory drift\"
  otscout diff old.json new.json --format html --pubkey otscout.pub > drift.html

Exit status: 0 nothing changed, 1 drift, 2 error.")]
pub struct DiffArgs {
    #[arg(value_name = "OLD.json")]
    pub old: PathBuf,
    #[arg(value_name = "NEW.json")]
    pub new: PathBuf,
    /// Verify both reports' signatures with this public key first.
    #[arg(long, value_name = "KEY")]
    pub pubkey: Option<PathBuf>,
    /// Print the difference as JSON (the same as --format json).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiffFormat,
}

fn load(path: &Path, pk: Option<&minisign::PublicKey>) -> anyhow::Result<Inventory> {
    Ok(input::read_report(path, pk)?)
}

pub fn run(args: DiffArgs) -> anyhow::Result<u8> {
    let pk = args
        .pubkey
        .as_deref()
        .map(sign::load_public_key)
        .transpose()?;
    let old = load(&args.old, pk.as_ref())?;
    let new = load(&args.new, pk.as_ref())?;
    let d = diff::diff(&old, &new);
    let code = if d.is_drift() {
        super::exit::PARTIAL
    } else {
        super::exit::OK
    };
    let format = if args.json {
        DiffFormat::Json
    } else {
        args.format
    };
    let printed = match format {
        DiffFormat::Json => outln!("{}", serde_json::to_string_pretty(&d)?),
        DiffFormat::Text => out!("{}", diff::render_text(&d)),
        DiffFormat::Html => {
            // Both reports were verified above when a key was given.
            let status = match &pk {
                Some(pk) => SignatureStatus::Verified {
                    key_id: sign::key_id(pk.keynum()),
                    trusted_comment: String::new(),
                },
                None => SignatureStatus::NotChecked,
            };
            out!("{}", html::diff::render(&d, &status))
        }
    };
    // `diff a b | head -1` still answers 0/1: the reader closing the pipe is not an error.
    Ok(super::out::finish(code, printed)?)
}
