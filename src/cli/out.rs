//! The one way the CLI writes to standard output and standard error.
//!
//! `println!` panics when standard output is closed (`otscout ... | head`) or full
//! (`> /dev/full`, a full disk), which exits 101 and replaces a command's documented exit
//! code (`diff`'s 0/1/2). Every line the CLI prints goes through [`outln!`] / [`out!`] /
//! [`write_all`] instead, which return a [`StdoutError`] the command passes up with `?`.
//!
//! The convention, documented in the README ("Exit status"):
//! - a closed pipe (`EPIPE`) is the reader's choice, not a failure: the command stops
//!   printing and exits quietly with the code of the work it did ([`finish`]; `0` when
//!   the error came up through `main`);
//! - any other write error (no space left, an I/O error) is exit 2 with one line on
//!   standard error: `otscout: error: cannot write to standard output: ...`.
//!
//! Standard error has nowhere to report its own failure, so [`errln!`] drops a failed
//! write instead of panicking.

use std::fmt;
use std::io::{self, Write};

/// Standard output could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output: {0}")]
pub struct StdoutError(#[source] pub io::Error);

impl StdoutError {
    /// The reader closed the pipe (`otscout ... | head`).
    pub fn is_broken_pipe(&self) -> bool {
        self.0.kind() == io::ErrorKind::BrokenPipe
    }
}

/// Writes formatted text to standard output.
pub fn write_fmt(args: fmt::Arguments<'_>) -> Result<(), StdoutError> {
    io::stdout().lock().write_fmt(args).map_err(StdoutError)
}

/// Writes bytes to standard output.
pub fn write_all(bytes: &[u8]) -> Result<(), StdoutError> {
    io::stdout().lock().write_all(bytes).map_err(StdoutError)
}

/// Flushes standard output: a buffered tail that cannot be written is an error too (the
/// standard library drops it silently at exit).
pub fn flush() -> Result<(), StdoutError> {
    io::stdout().lock().flush().map_err(StdoutError)
}

/// Writes formatted text to standard error; a failure is dropped (there is nowhere left
/// to say it).
pub fn err_fmt(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// The command's own exit code when printing stopped because the reader closed the pipe
/// (`otscout diff a b | head -1` still says whether there was drift); other write errors
/// pass up.
pub fn finish(code: u8, printed: Result<(), StdoutError>) -> Result<u8, StdoutError> {
    match printed {
        Err(e) if e.is_broken_pipe() => Ok(code),
        Err(e) => Err(e),
        Ok(()) => flush()
            .map(|()| code)
            .or_else(|e| if e.is_broken_pipe() { Ok(code) } else { Err(e) }),
    }
}

/// `println!` that returns a [`StdoutError`] instead of panicking.
macro_rules! outln {
    () => {
        $crate::cli::out::write_fmt(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that returns a [`StdoutError`] instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::out::write_fmt(format_args!($($arg)*))
    };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::out::err_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_keeps_the_commands_code_and_other_errors_pass_up() {
        let pipe = StdoutError(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(finish(1, Err(pipe)).unwrap(), 1);
        let full = StdoutError(io::Error::from_raw_os_error(28));
        let e = finish(0, Err(full)).unwrap_err().to_string();
        assert!(e.starts_with("cannot write to standard output: "), "{e}");
    }
}
