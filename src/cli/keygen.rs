//! `otscout keygen`: make a minisign key pair for signing reports.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use crate::report::sign::{self, Protection};

/// Arguments of `otscout keygen`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  otscout keygen --dir ~/.otscout
  OTSCOUT_KEY_PASSWORD=... otscout keygen
  otscout keygen --unencrypted --dir /etc/otscout   (for cron)")]
pub struct KeygenArgs {
    /// Folder to write otscout.key and otscout.pub into (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Do not protect the secret key with a password (for unattended signing). Anyone
    /// who can read the file can then sign reports as you.
    #[arg(long)]
    pub unencrypted: bool,
}

/// The environment variable a key password is read from.
pub const PASSWORD_ENV: &str = "OTSCOUT_KEY_PASSWORD";

pub fn run(args: KeygenArgs) -> anyhow::Result<u8> {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    let protection = if args.unencrypted {
        errln!(
            "otscout: warning: the secret key will NOT be password-protected; keep {} readable only by the account that signs",
            dir.join(sign::SECRET_KEY_FILE).display()
        );
        Protection::Unencrypted
    } else if let Ok(pw) = std::env::var(PASSWORD_ENV) {
        if pw.is_empty() {
            bail!("{PASSWORD_ENV} is set but empty: give a password, or use --unencrypted");
        }
        Protection::Password(pw)
    } else if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("Password for the new secret key: ")
            .context("reading the password")?;
        let b = rpassword::prompt_password("Password again: ").context("reading the password")?;
        if a != b {
            bail!("the two passwords differ: nothing was written");
        }
        if a.is_empty() {
            bail!("empty password: give one, or use --unencrypted");
        }
        Protection::Password(a)
    } else {
        bail!(
            "no password: set {PASSWORD_ENV}, run on a terminal, or use --unencrypted for unattended signing"
        );
    };
    // `keygen --dir ~/.otscout` on a fresh machine: the folder is made, readable only by
    // this account (it will hold the secret key); an existing folder is left as it is.
    if !dir.exists() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&dir)
            .with_context(|| format!("cannot create the key folder {}", dir.display()))?;
    }
    let files = sign::keygen(&dir, &protection)?;
    outln!("secret key: {}", files.secret.display())?;
    outln!("public key: {}", files.public.display())?;
    Ok(super::exit::OK)
}

/// Loads a secret key for `--sign-key`, asking for a password only when the key has one:
/// from OTSCOUT_KEY_PASSWORD, else a prompt on a terminal.
pub fn load_sign_key(path: &std::path::Path) -> anyhow::Result<minisign::SecretKey> {
    let mut password = || {
        if let Ok(pw) = std::env::var(PASSWORD_ENV) {
            return Some(pw);
        }
        if std::io::stdin().is_terminal() {
            return rpassword::prompt_password(format!("Password for {}: ", path.display())).ok();
        }
        None
    };
    Ok(sign::load_secret_key(path, &mut password)?)
}
