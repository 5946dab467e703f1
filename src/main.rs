//! The `otscout` binary: parse the arguments, run, map the outcome to an exit code.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    otscout::cli::main()
}
