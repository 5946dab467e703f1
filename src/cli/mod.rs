//! The command line: clap definitions and one module per subcommand.
//!
//! This is the only place in otscout that prints. Errors travel up as `anyhow::Error`
//! with context and are printed once, here, with `{:#}`. Standard output and standard
//! error are written only through [`out`] (`outln!`, `errln!`), never `println!`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// First: its macros (`outln!`, `out!`, `errln!`) are in scope in every module below.
#[macro_use]
pub mod out;

pub mod advisories;
pub mod completions;
pub mod demo;
pub mod diff;
pub mod keygen;
pub mod lock;
pub mod merge;
pub mod passive;
pub mod profiles;
pub mod progress;
pub mod report;
pub mod scan;
pub mod scan_result;
pub mod scan_run;
pub mod verify;

/// Exit codes, documented in the README.
pub mod exit {
    /// The job completed and nothing failed.
    pub const OK: u8 = 0;
    /// Completed, but something failed along the way (some hosts errored; diff found drift).
    pub const PARTIAL: u8 = 1;
    /// Usage or configuration error: nothing was done.
    pub const USAGE: u8 = 2;
    /// Interrupted, or the maintenance window ended, before the job completed.
    pub const INTERRUPTED: u8 = 3;
}

/// Safe, read-only asset inventory for industrial (OT/ICS) networks.
#[derive(Debug, Parser)]
#[command(name = "otscout", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Refuse to start while another otscout run holds this lock file (cron, timers).
    #[arg(long, global = true, value_name = "FILE")]
    pub lock: Option<std::path::PathBuf>,
}

/// otscout's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole job on a simulated plant on loopback: scan, capture, CSV, signed report.
    Demo(demo::DemoArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff).
    Man(completions::ManArgs),
    /// Learn from captures, Zeek/ICSNPP logs and CSV inventories (sends nothing).
    Passive(passive::PassiveArgs),
    /// Inventory a network with read-only identity requests (--dry-run sends nothing).
    Scan(Box<scan::ScanArgs>),
    /// List, show and check scan profiles.
    Profiles(profiles::ProfilesArgs),
    /// Merge scan results, observation files and earlier reports into one report.
    Merge(merge::MergeArgs),
    /// Render a report as CSV, CycloneDX, Markdown or a table.
    Report(report::ReportArgs),
    /// Make a minisign key pair for signing reports.
    Keygen(keygen::KeygenArgs),
    /// Check a report's signature and schema.
    Verify(verify::VerifyArgs),
    /// Compare two reports: exit 0 when nothing changed, 1 on drift, 2 on error.
    Diff(diff::DiffArgs),
    /// Match a report's assets against published CSAF 2.0 advisories (offline).
    Advisories(advisories::AdvisoriesArgs),
}

/// Parses the process arguments and runs; the binary's whole body.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` print to standard output, with its rules.
            if let Err(w) = out::finish(exit::OK, e.print().map_err(out::StdoutError)) {
                errln!("otscout: error: {w}");
                return ExitCode::from(exit::USAGE);
            }
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    // What is still buffered is written before the exit code is decided.
    match run(cli).and_then(|code| Ok(out::finish(code, Ok(()))?)) {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::from(exit::OK),
        Err(e) => {
            errln!("otscout: error: {}", one_line(&e));
            ExitCode::from(exit::USAGE)
        }
    }
}

/// The error and its causes on one line, like `{:#}`, but a cause whose text the line
/// already holds is not repeated: many errors quote their source in their own message
/// (`cannot read x.json: Is a directory`), and saying it twice reads like two problems.
/// Line breaks join as `; `; other control characters (from a file name or a file's
/// text) print as `?`.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(text.as_str()) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    // One line, always: a cause whose text spans lines (a library's message, a string
    // from a file) has its line breaks joined with "; ", and any other control character
    // (an escape sequence from a file name or a device) shown as `?`.
    let mut one = String::with_capacity(line.len());
    for (i, part) in line
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        if i > 0 {
            one.push_str("; ");
        }
        one.extend(part.chars().map(|c| if c.is_control() { '?' } else { c }));
    }
    one
}

/// `otscout ... | head` closes the pipe early: that is the reader's choice, not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Runs one parsed command line and returns the exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    // Held until the command returns; a second run meanwhile refuses to start.
    let _lock = cli.lock.as_deref().map(lock::acquire).transpose()?;
    match cli.command {
        None => {
            use clap::CommandFactory;
            Cli::command().print_help().map_err(out::StdoutError)?;
            Ok(exit::USAGE)
        }
        Some(command) => match command {
            Command::Demo(a) => demo::run(&a),
            Command::Completions(a) => completions::completions(&a),
            Command::Man(a) => completions::man(&a),
            Command::Passive(a) => passive::run(&a),
            Command::Scan(args) => scan::run(&args),
            Command::Profiles(args) => profiles::run(&args),
            Command::Merge(a) => merge::run(a),
            Command::Report(a) => report::run(a),
            Command::Keygen(a) => keygen::run(a),
            Command::Verify(a) => verify::run(a),
            Command::Diff(a) => diff::run(a),
            Command::Advisories(a) => advisories::run(a),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn one_line_says_each_cause_once_and_drops_control_characters() {
        let io = std::io::Error::other("Is a directory (os error 21)");
        let e = anyhow::Error::new(crate::input_file::ReadError::Io {
            what: "report",
            path: "x.json".into(),
            source: io,
        })
        .context("loading inputs");
        assert_eq!(
            one_line(&e),
            "loading inputs: cannot read report x.json: Is a directory (os error 21)"
        );
        let e = anyhow::anyhow!("bad \u{1b}[2J name").context("reading");
        assert_eq!(one_line(&e), "reading: bad ?[2J name");
        let e = anyhow::anyhow!("first\n  second\r\n\nthird\t").context("reading");
        assert_eq!(one_line(&e), "reading: first; second; third");
    }
}
