//! `otscout profiles list | show NAME | check FILE`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::profile;

/// List, show and check scan profiles.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  otscout profiles list
  otscout profiles show siemens
  otscout profiles show conservative --set pacing.max_rate=20
  otscout profiles check site.toml")]
pub struct ProfilesArgs {
    #[command(subcommand)]
    pub command: ProfilesCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ProfilesCommand {
    /// List the built-in profiles.
    List,
    /// Print a profile (built-in name or file) as resolved TOML, with its SHA-256.
    Show {
        #[arg(value_name = "NAME|PATH")]
        name: String,
        /// Override one key, as `scan --set` would; repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Check a profile file: syntax, keys, values and the hard limits.
    Check {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// Runs `otscout profiles`.
pub fn run(args: &ProfilesArgs) -> anyhow::Result<u8> {
    match &args.command {
        ProfilesCommand::List => {
            for name in profile::builtin_names() {
                let l = profile::builtin(name)?;
                let marker = if name == profile::DEFAULT_PROFILE {
                    " (default)"
                } else {
                    ""
                };
                outln!(
                    "{name:<14} {}{marker}",
                    crate::text::printable(&l.profile.description)
                )?;
            }
        }
        ProfilesCommand::Show { name, sets } => {
            let l = profile::load_with_overrides(name, sets)?;
            outln!(
                "# profile {} ({})",
                l.profile.name,
                crate::text::printable(&l.origin)
            )?;
            outln!("# sha256 {}", l.sha256)?;
            // TOML escapes control characters inside strings; the text has only its own
            // line ends and tabs.
            out!("{}", crate::text::printable_lines(&l.canonical_toml))?;
        }
        ProfilesCommand::Check { file } => {
            let path = file.to_string_lossy().into_owned();
            let path = if path.contains('/') || path.ends_with(".toml") {
                path
            } else {
                format!("./{path}")
            };
            let l = profile::load_with_overrides(&path, &[])?;
            outln!(
                "{}: ok (profile {}, sha256 {})",
                crate::text::printable(&file.display().to_string()),
                l.profile.name,
                l.sha256
            )?;
        }
    }
    Ok(super::exit::OK)
}
