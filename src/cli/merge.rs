//! `otscout merge`: fold inputs into one report, optionally signed; with
//! `--trusted-keys`, a fleet report from sites' signed reports, each verified first.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Utc;
use clap::Args;

use crate::inventory::merge::{MergeOptions, VerifiedInput};
use crate::inventory::{self, Input};
use crate::output_file::{self, Overwrite};
use crate::report::{input, sign};

/// Arguments of `otscout merge`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  otscout merge scan.json passive.json -o report.json --sign-key otscout.key
  otscout merge last-month.json scan.json -o report.json --pubkey otscout.pub
  otscout merge scan.json capture.pcapng --site plant-a -o report.json --sign-key otscout.key
  otscout merge scan.json -o report.json --csaf ~/csaf/cisa --sign-key otscout.key
  otscout merge incoming/*/report.json --trusted-keys /etc/otscout/sites -o fleet.json

With --trusted-keys every input must be a signed report (REPORT.json.minisig beside it)
whose signature names one of the *.pub keys in the folder; any other is refused by name
before it is read, and nothing is written (exit 2).")]
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
    #[arg(long, value_name = "KEY", conflicts_with = "trusted_keys")]
    pub pubkey: Option<PathBuf>,
    /// A fleet merge: every input must be a report signed by one of the public keys
    /// (*.pub) in this folder; it is verified before it is read, or refused.
    #[arg(long, value_name = "DIR")]
    pub trusted_keys: Option<PathBuf>,
    /// The site of every input that names none (a plant's name), carried in the report
    /// and its signature's trusted comment.
    #[arg(long, value_name = "NAME", value_parser = parse_site)]
    pub site: Option<String>,
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
    /// Replace an existing report (and remove a signature beside it that would be stale).
    #[arg(long)]
    pub force: bool,
}

/// A site name: what goes into a trusted comment and a central host's folder names.
pub fn parse_site(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !s.starts_with(['.', '-']);
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "site name {s:?}: use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'"
        ))
    }
}

/// Verifies one fleet input against the trusted keys, then reads it.
fn load_trusted(
    path: &Path,
    keys: &[(PathBuf, minisign::PublicKey)],
    dir: &Path,
) -> anyhow::Result<Input> {
    let (v, key_id) = sign::verify_file_trusted(path, keys, dir)?;
    let name = path.display().to_string();
    let site = v.inventory.site.clone();
    let mut input = Input::from_report(&name, v.inventory);
    input.verified.push(VerifiedInput {
        file: name,
        site,
        sha256: v.sha256,
        key_id,
        trusted_comment: v.trusted_comment,
    });
    Ok(input)
}

pub fn run(args: MergeArgs) -> anyhow::Result<u8> {
    let pk = args
        .pubkey
        .as_deref()
        .map(sign::load_public_key)
        .transpose()?;
    let trusted = args
        .trusted_keys
        .as_deref()
        .map(sign::load_trusted_keys)
        .transpose()?;
    // Load the key before any work, so a wrong password costs nothing.
    let sk = args
        .sign_key
        .as_deref()
        .map(super::keygen::load_sign_key)
        .transpose()?;
    let overwrite = Overwrite::from_force(args.force);
    // Before any work: an output that will be refused costs nothing yet.
    output_file::check("report", &args.output, overwrite)?;
    // The advisories are read before the inputs: a refused document under --strict costs
    // nothing else.
    let library = if args.csaf.is_empty() {
        None
    } else {
        Some(super::advisories::load_library(&args.csaf, args.strict)?)
    };
    let mut inputs: Vec<Input> = Vec::with_capacity(args.inputs.len());
    for p in &args.inputs {
        if let (Some(keys), Some(dir)) = (&trusted, &args.trusted_keys) {
            inputs.push(load_trusted(p, keys, dir).context("fleet merge")?);
            continue;
        }
        let loaded = input::load_with_warnings(p, pk.as_ref())?;
        for w in &loaded.warnings {
            errln!("otscout: warning: {}: {w}", p.display());
        }
        for n in &loaded.notes {
            errln!("otscout: note: {}: {n}", p.display());
        }
        inputs.push(loaded.input);
    }
    let opts = MergeOptions {
        site: args.site.clone(),
    };
    let mut inv = inventory::merge::merge_with(&inputs, Utc::now(), &opts);
    if let Some(lib) = &library {
        let m = crate::advisories::match_inventory(&inv, lib);
        if !args.quiet {
            errln!(
                "otscout: advisories: {}",
                crate::report::advisories::counts(&m)
            );
        }
        inv.advisories = Some(m);
    }
    // The error names the file (`cannot write report.json: ...`).
    if let Some(sig) = sign::write_report(&args.output, &inv, sk.as_ref(), Utc::now(), overwrite)? {
        if !args.quiet {
            errln!("otscout: signed: {}", sig.display());
        }
    }
    if args.quiet {
        return Ok(super::exit::OK);
    }
    let sites = if inv.summary.by_site.is_empty() {
        inv.site
            .as_deref()
            .map(|s| format!(" at site {s}"))
            .unwrap_or_default()
    } else {
        format!(" at {} sites", inv.summary.by_site.len())
    };
    errln!(
        "otscout: {} assets ({} identified){sites} from {} input(s) written to {}",
        inv.summary.assets,
        inv.summary.identified,
        args.inputs.len(),
        args.output.display()
    );
    Ok(super::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::parse_site;

    #[test]
    fn site_names_are_plain() {
        assert_eq!(parse_site("plant-a").unwrap(), "plant-a");
        assert_eq!(parse_site("Werk_3.Halle2").unwrap(), "Werk_3.Halle2");
        for bad in [
            "",
            "a b",
            "../x",
            "-x",
            "a/b",
            "a,b",
            "a=b",
            &"x".repeat(65),
        ] {
            assert!(parse_site(bad).is_err(), "{bad:?}");
        }
    }
}
