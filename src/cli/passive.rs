//! `otscout passive FILE... [-o FILE]`: learn from captures, Zeek logs and CSV inventories.

use std::io::Write;
use std::path::PathBuf;

use crate::inventory::{Fact, Identity, Role};
use crate::output_file::{self, Overwrite};
use crate::passive::{self, ImportOptions, ImportReport};

/// Arguments of `otscout passive`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  otscout passive span.pcapng -o passive.json\n  otscout passive conn.log cip_identity.log.gz inventory.csv -o passive.json\n\nThe kind of each file is detected from its content (pcap, pcapng, Zeek TSV or JSON, CSV; gzip is decompressed). Nothing is sent on the network."
)]
pub struct PassiveArgs {
    /// Captures (pcap, pcapng), Zeek/ICSNPP logs or CSV inventories.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Write the observations as JSON to this file (`-` for standard output).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print no summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Captures: MiB all TCP streams being reassembled may hold at once; past it the
    /// largest streams are released and the summary says so.
    #[arg(long, value_name = "MIB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub reassembly_budget: u64,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

/// Runs `otscout passive`.
pub fn run(args: &PassiveArgs) -> anyhow::Result<u8> {
    let opts = ImportOptions {
        reassembly_budget: usize::try_from(args.reassembly_budget.saturating_mul(1024 * 1024)).ok(),
        ..ImportOptions::default()
    };
    let overwrite = Overwrite::from_force(args.force);
    let to_stdout = args.output.as_deref().is_some_and(|p| p.as_os_str() == "-");
    if let Some(out) = args.output.as_deref().filter(|_| !to_stdout) {
        // Before the import: a large capture is not read for an output that is refused.
        output_file::check("observation file", out, overwrite)?;
    }
    let mut reports: Vec<ImportReport> = Vec::new();
    let mut failed = 0usize;
    for f in &args.files {
        match passive::import_path(f, &opts) {
            Ok(r) => reports.push(r),
            // The only file: its error is the one line (main prints it).
            Err(e) if args.files.len() == 1 => return Err(e.into()),
            Err(e) => {
                // One unreadable file does not stop the others; the exit code says so.
                errln!("otscout: error: {}", crate::text::printable(&e.to_string()));
                failed += 1;
            }
        }
    }
    if reports.is_empty() {
        anyhow::bail!("none of the {} inputs could be imported", args.files.len());
    }
    let file = passive::observation_file(&reports);
    let warned = reports
        .iter()
        .any(|r| r.stopped.is_some() || !r.warnings.is_empty());
    let code = if failed > 0 || warned {
        super::exit::PARTIAL
    } else {
        super::exit::OK
    };
    let mut printed = Ok(());
    if let Some(out) = &args.output {
        let mut json = serde_json::to_string_pretty(&file)?;
        json.push('\n');
        if to_stdout {
            printed = super::out::write_all(json.as_bytes());
        } else {
            output_file::write("observation file", out, json.as_bytes(), overwrite)?;
        }
    }
    if !args.quiet && printed.is_ok() {
        let mut text = Vec::new();
        summary(&reports, &mut text)?;
        if to_stdout {
            super::out::err_fmt(format_args!("{}", String::from_utf8_lossy(&text)));
        } else {
            printed = super::out::write_all(&text);
        }
    }
    Ok(super::out::finish(code, printed)?)
}

/// The human summary: per file what was read, then identities, operations and roles.
pub fn summary(reports: &[ImportReport], w: &mut dyn Write) -> anyhow::Result<()> {
    for r in reports {
        let s = &r.stats;
        let kind = serde_json::to_value(r.kind)?;
        let kind = kind.as_str().unwrap_or("?");
        match r.kind {
            passive::InputKind::Pcap | passive::InputKind::PcapNg => writeln!(
                w,
                "{} ({kind}): {} frames, {} bytes, {} hosts, {} TCP flows, {} protocol messages, {} observations",
                r.file,
                s.frames,
                s.bytes,
                s.hosts,
                s.flows,
                s.pdus,
                r.observations.len()
            )?,
            passive::InputKind::Zeek => writeln!(
                w,
                "{} (zeek): {} lines ({} of other logs skipped), {} observations",
                r.file,
                s.lines,
                s.skipped_lines,
                r.observations.len()
            )?,
            passive::InputKind::Csv => writeln!(
                w,
                "{} (csv): {} rows, {} observations",
                r.file,
                s.rows,
                r.observations.len()
            )?,
        }
        for warning in &r.warnings {
            writeln!(w, "  warning: {}", printable(warning))?;
        }
        if s.undecoded > 0 {
            // Device messages otscout could not read: not damage (exit 0), kept as
            // suspicious observations with their bytes.
            let frames: Vec<String> = s.undecoded_frames.iter().map(u64::to_string).collect();
            let more = if s.undecoded > s.undecoded_frames.len() as u64 {
                ", ..."
            } else {
                ""
            };
            writeln!(
                w,
                "  {} protocol messages did not decode (frames {}{more}): kept as suspicious observations with their bytes",
                s.undecoded,
                frames.join(", ")
            )?;
        }
        for note in &r.notes {
            writeln!(w, "  note: {}", printable(note))?;
        }
        if s.warnings_suppressed > 0 {
            writeln!(w, "  ({} more warnings not shown)", s.warnings_suppressed)?;
        }
    }
    let all = || reports.iter().flat_map(|r| r.observations.iter());
    let mut any = false;
    for o in all() {
        if let Fact::Identity { identity } = &o.fact {
            if !any {
                writeln!(w, "\nidentities:")?;
                any = true;
            }
            let (subject, behind) = match (o.link_station(), &o.path) {
                (Some((mac, behind)), _) => (format!("mac {mac}"), behind),
                (None, p) => (o.ip.to_string(), p.as_deref()),
            };
            let behind = match behind {
                Some(p) => format!(" (behind it, at {p})"),
                None => String::new(),
            };
            writeln!(
                w,
                "  {:<15} {}{}",
                printable(&subject),
                printable(&describe(identity)),
                printable(&behind)
            )?;
        }
    }
    let mut ops = false;
    for o in all() {
        let (actor, kind, function, count) = match &o.fact {
            Fact::Operation {
                actor,
                kind,
                function,
                count,
                ..
            } => (actor.to_string(), kind, function, count),
            Fact::LinkOperation {
                actor_mac,
                kind,
                function,
                count,
                ..
            } => (format!("mac {actor_mac}"), kind, function, count),
            _ => continue,
        };
        if !ops {
            writeln!(w, "\nsecurity-relevant operations (actor -> target):")?;
            ops = true;
        }
        let target = match o.link_station() {
            Some((mac, _)) => format!("mac {mac}"),
            None => o.ip.to_string(),
        };
        let kind = serde_json::to_value(kind)?;
        writeln!(
            w,
            "  {} -> {}: {} ({}) x{count}",
            printable(&actor),
            printable(&target),
            printable(function),
            kind.as_str().unwrap_or("?")
        )?;
    }
    let mut clients = std::collections::BTreeSet::new();
    let mut servers = std::collections::BTreeSet::new();
    for o in all() {
        if let Fact::Peer { role, protocol, .. } = &o.fact {
            let p = serde_json::to_value(protocol)?;
            let entry = (o.ip, p.as_str().unwrap_or("?").to_string());
            match role {
                Role::Client => clients.insert(entry),
                Role::Server => servers.insert(entry),
            };
        }
    }
    if !clients.is_empty() || !servers.is_empty() {
        writeln!(w, "\nroles:")?;
        for (ip, p) in &servers {
            writeln!(w, "  {ip:<15} answers {p} (controller / field device)")?;
        }
        for (ip, p) in &clients {
            writeln!(
                w,
                "  {ip:<15} polls {p} (HMI / engineering station / SCADA)"
            )?;
        }
    }
    Ok(())
}

/// Device- and file-supplied text made safe for a terminal: a control character (an
/// escape sequence planted in a product name, a log name or a CSV header) becomes `?`.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// One line naming an identity, in its protocol's words.
fn describe(id: &Identity) -> String {
    crate::protocols::REGISTRY
        .iter()
        .find_map(|s| s.describe(id))
        .unwrap_or_default()
}
