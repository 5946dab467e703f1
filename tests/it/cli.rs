//! The command line as a user meets it: help, version, examples, completions, man page.

use clap::CommandFactory;
use otscout::cli::Cli;

#[test]
fn every_subcommand_help_carries_an_example() {
    let mut cmd = Cli::command();
    cmd.build();
    let mut missing = Vec::new();
    for sub in cmd.get_subcommands_mut() {
        let name = sub.get_name().to_string();
        if name == "help" {
            continue; // clap's own
        }
        let help = sub.render_long_help().to_string();
        if !help.contains("Example") {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "subcommands without an example in --help: {missing:?}"
    );
}

#[test]
fn completions_generate_for_every_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
            .args(["completions", shell])
            .output()
            .expect("run otscout");
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("utf-8");
        assert!(
            text.contains("otscout"),
            "{shell} completions do not name otscout"
        );
    }
}

#[test]
fn man_page_generates() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
        .arg("man")
        .output()
        .expect("run otscout");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        text.starts_with(".ie") || text.contains(".TH otscout"),
        "not a roff page"
    );
    assert!(text.contains(".SH NAME"));
}

#[test]
fn version_and_help_work() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
        .arg("--version")
        .output()
        .expect("run otscout");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("otscout "));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
        .arg("--help")
        .output()
        .expect("run otscout");
    assert!(out.status.success());
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_otscout"))
        .arg("--no-such-flag")
        .output()
        .expect("run otscout");
    assert_eq!(out.status.code(), Some(2));
}

/// The scan's one-line description says what it does now (it once said "for now:
/// --dry-run prints the plan", from before the active scan landed).
#[test]
fn scan_help_says_what_the_scan_does() {
    let mut cmd = Cli::command();
    cmd.build();
    let scan = cmd.find_subcommand_mut("scan").expect("a scan subcommand");
    let about = scan.get_about().map(|a| a.to_string()).unwrap_or_default();
    assert!(
        about.contains("read-only identity requests") && !about.contains("for now"),
        "otscout scan's description: {about}"
    );
}
