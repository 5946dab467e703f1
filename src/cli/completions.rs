//! `otscout completions SHELL` and `otscout man`: generated from the clap definitions, so
//! they never drift from the real flags.

use std::io::Write;

use clap::CommandFactory;

use super::Cli;

/// Arguments of `otscout completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  otscout completions bash > /etc/bash_completion.d/otscout")]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `otscout man`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  otscout man > /usr/local/share/man/man1/otscout.1")]
pub struct ManArgs {}

/// Writes the completion script for `args.shell` to `out`.
pub fn completions(args: &CompletionsArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "otscout", out);
    Ok(super::exit::OK)
}

/// Writes the roff man page to `out`.
pub fn man(_args: &ManArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let cmd = Cli::command();
    clap_mangen::Man::new(cmd).render(out)?;
    Ok(super::exit::OK)
}
