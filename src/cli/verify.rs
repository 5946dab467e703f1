//! `otscout verify`: check a report's signature and schema.

use std::path::PathBuf;

use clap::Args;

use crate::report::sign;

/// Arguments of `otscout verify`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  otscout verify report.json --pubkey otscout.pub
  minisign -Vm report.json -p otscout.pub   (the stock tool verifies it too)")]
pub struct VerifyArgs {
    /// The JSON report; its signature is REPORT.json.minisig beside it.
    #[arg(value_name = "REPORT.json")]
    pub report: PathBuf,
    /// The signer's minisign public key.
    #[arg(long, value_name = "KEY", required = true)]
    pub pubkey: PathBuf,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<u8> {
    let pk = sign::load_public_key(&args.pubkey)?;
    let v = sign::verify_file(&args.report, &pk)?;
    outln!(
        "{}: signature and schema OK",
        crate::text::printable(&args.report.display().to_string())
    )?;
    // Signed, but by whoever holds the key (stock minisign writes any text there).
    outln!(
        "trusted comment: {}",
        crate::text::printable(&v.trusted_comment)
    )?;
    // Counted from the assets, never taken from the summary (which the schema check
    // compared with them).
    outln!(
        "{} assets, {} scan(s), generated {}",
        v.inventory.assets.len(),
        v.inventory.scans.len(),
        v.inventory.generated_at.to_rfc3339()
    )?;
    Ok(super::exit::OK)
}
