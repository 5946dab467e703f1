//! `otscout diff`: what changed between two reports. Exit 0: nothing; 1: drift; 2: error.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::inventory::Inventory;
use crate::report::{diff, input, sign};

/// Arguments of `otscout diff`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  otscout diff january.json february.json --pubkey otscout.pub
  otscout diff old.json new.json --json || alert \"inventory drift\"

Exit status: 0 nothing changed, 1 drift, 2 error.")]
pub struct DiffArgs {
    #[arg(value_name = "OLD.json")]
    pub old: PathBuf,
    #[arg(value_name = "NEW.json")]
    pub new: PathBuf,
    /// Verify both reports' signatures with this public key first.
    #[arg(long, value_name = "KEY")]
    pub pubkey: Option<PathBuf>,
    /// Print the difference as JSON.
    #[arg(long)]
    pub json: bool,
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
    let printed = if args.json {
        outln!("{}", serde_json::to_string_pretty(&d)?)
    } else {
        out!("{}", diff::render_text(&d))
    };
    // `diff a b | head -1` still answers 0/1: the reader closing the pipe is not an error.
    Ok(super::out::finish(code, printed)?)
}
