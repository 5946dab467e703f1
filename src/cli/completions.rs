//! `otscout completions SHELL` and `otscout man`: generated from the clap definitions, so
//! they never drift from the real flags.

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

/// Prints the completion script for `args.shell`. Made in memory first: clap_complete
/// panics when its writer fails (a closed pipe).
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<u8> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "otscout", &mut script);
    super::out::write_all(&script)?;
    Ok(super::exit::OK)
}

/// Prints the roff man page.
pub fn man(_args: &ManArgs) -> anyhow::Result<u8> {
    let cmd = Cli::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page)?;
    super::out::write_all(&page)?;
    Ok(super::exit::OK)
}
