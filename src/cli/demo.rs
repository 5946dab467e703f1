//! `otscout demo`: runs [`crate::demo`] and prints its progress, a summary table of the
//! assets (sub-assets indented under their device), what the BACnet, OPC UA, FINS and Fox
//! devices said with the OPC UA security findings, the files it wrote and the command
//! that verifies the report with stock minisign.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::demo::{self, DemoEvent, DemoOptions, DemoOutcome};
use crate::inventory::merge::{Asset, FlagKind, SourceKind};
use crate::probe::scan::{ScanEvent, ScanStatus};

/// Arguments of `otscout demo`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  otscout demo
  otscout demo --out demo-run
  cargo run --release -- demo

The demo binds 127.77.0.x loopback addresses on ports 20102, 20502, 20600, 20808, 20818,
20840 and 20911 (or the next free base: 21xxx, 22xxx, ...) and sends nothing anywhere
else.")]
pub struct DemoArgs {
    /// Folder for the capture, CSV, scan result, journal, keys and signed report
    /// (created if missing; default: a new folder under the system's temp folder, kept).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The site the demo plays, carried in its report (try two demos with two sites and
    /// `otscout merge --trusted-keys` for a fleet view).
    #[arg(long, value_name = "NAME", value_parser = super::merge::parse_site)]
    pub site: Option<String>,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(args: &DemoArgs) -> anyhow::Result<u8> {
    let out = match &args.out {
        Some(d) => d.clone(),
        None => fresh_temp_dir()?,
    };
    let quiet = args.quiet;
    let sink: demo::DemoSink = Arc::new(move |e: &DemoEvent| {
        if !quiet {
            progress(e);
        }
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let outcome = runtime
        .block_on(demo::run(
            &DemoOptions {
                site: args.site.clone(),
                ..DemoOptions::new(out.clone())
            },
            sink,
        ))
        .with_context(|| format!("the demo in {} did not finish", out.display()))?;
    // Every task of the plant and the scan is gone with the runtime.
    drop(runtime);
    let printed = if quiet { Ok(()) } else { summary(&outcome) };
    // The plant has devices that misbehave on purpose (one hangs, one answers only a unit
    // id the conservative profile does not try): their errors are part of the show, so
    // the demo exits 0 once its report verifies, unless the scan was cut short.
    let code = match outcome.scan.status {
        ScanStatus::Complete => super::exit::OK,
        ScanStatus::Interrupted | ScanStatus::WindowEnded => super::exit::INTERRUPTED,
    };
    Ok(super::out::finish(code, printed)?)
}

/// `$TMPDIR/otscout-demo-<time>-<pid>`, created new (never an existing folder).
fn fresh_temp_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "otscout-demo-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        std::process::id()
    ));
    std::fs::create_dir(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

fn progress(e: &DemoEvent) {
    match e {
        DemoEvent::PlantStarted {
            name,
            devices,
            base_port,
        } => errln!(
            "demo: plant \"{name}\": {devices} simulated devices on 127.77.0.x, ports {} (Modbus), {} (EtherNet/IP), {} (S7), {}/udp (BACnet/IP), {} (OPC UA), {}/udp (FINS), {} (Fox)",
            base_port + 502,
            base_port + 818,
            base_port + 102,
            base_port + 808,
            base_port + 840,
            base_port + 600,
            base_port + 911
        ),
        DemoEvent::CaptureWritten { path, summary } => errln!(
            "demo: HMI polling of {} devices, a register write on {}, an SZL read of {} (synthesised, never sent) -> {}",
            summary.polled.len(),
            summary.written.as_deref().unwrap_or("-"),
            summary.szl_read.as_deref().unwrap_or("-"),
            path.display()
        ),
        DemoEvent::ScanStarting {
            targets,
            profile,
            overrides,
        } => {
            errln!(
                "demo: scanning {targets} devices with the {profile} profile, its pacing untouched (expect about 25 s), changed for this plant:"
            );
            errln!("demo:   --set {}", overrides.join(" --set "));
        }
        DemoEvent::Scan(ScanEvent::HostFinished {
            ip,
            identified,
            errored,
            ..
        }) => {
            let what = match (identified, errored) {
                (true, _) => "identified",
                (false, true) => "errored",
                (false, false) => "no identity",
            };
            errln!("demo:   {ip:<15} {what}");
        }
        DemoEvent::Scan(_) => {}
        DemoEvent::ScanFinished { elapsed } => {
            errln!("demo: scan finished in {:.1} s", elapsed.as_secs_f64())
        }
        DemoEvent::ReportWritten { path } => errln!("demo: report signed: {}", path.display()),
        DemoEvent::HtmlWritten { path } => errln!("demo: HTML view: {}", path.display()),
    }
}

fn value(f: Option<&crate::inventory::merge::Field>) -> String {
    f.map_or_else(|| "-".to_owned(), |f| f.value.clone())
}

/// Where an asset's facts came from: active, passive, declared.
fn sources(a: &Asset) -> String {
    let mut kinds: BTreeSet<SourceKind> = a
        .fields()
        .flat_map(|(_, f)| f.sources.iter().map(|s| s.kind))
        .collect();
    kinds.extend(
        a.services
            .iter()
            .flat_map(|s| s.sources.iter().map(|s| s.kind)),
    );
    kinds.extend(
        a.operations
            .iter()
            .flat_map(|o| o.sources.iter().map(|s| s.kind)),
    );
    let names: Vec<&str> = [
        (SourceKind::Active, "active"),
        (SourceKind::Passive, "passive"),
        (SourceKind::Declared, "declared"),
    ]
    .iter()
    .filter(|(k, _)| kinds.contains(k))
    .map(|(_, n)| *n)
    .collect();
    names.join("+")
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// One line of the table: an asset, or a sub-asset under it (`label` is its path). A
/// model-less identity (OPC UA without BuildInfo, Fox) shows its product name instead.
fn row(label: &str, width: usize, a: &Asset) -> Result<(), super::out::StdoutError> {
    let protocols: Vec<String> = a
        .protocols
        .iter()
        .map(|p| crate::inventory::merge::protocol_name(*p))
        .collect();
    outln!(
        "{:<width$} {:<22} {:<26} {:<12} {:<14} {}",
        label,
        cut(&value(a.manufacturer.as_ref()), 22),
        cut(&value(a.model.as_ref().or(a.product_name.as_ref())), 26),
        cut(&value(a.firmware.as_ref()), 12),
        cut(&protocols.join(","), 14),
        sources(a)
    )
}

/// Identity details the table has no column for (BACnet instance and object name, Fox
/// station, OPC UA application, endpoints and certificate) and the OPC UA security
/// findings, one `(ip, line)` each.
fn identity_details(a: &Asset) -> Vec<(String, String)> {
    let attr = |k: &str| a.attributes.get(k).map(|f| f.value.as_str());
    let ip = a.ip.to_string();
    let mut out = Vec::new();
    if let Some(i) = attr("bacnet.device_instance") {
        let name = attr("bacnet.object_name").unwrap_or("-");
        let vendor = attr("bacnet.vendor_id").unwrap_or("-");
        out.push((
            ip.clone(),
            format!("bacnet device {i}, object name {name}, vendor id {vendor}"),
        ));
    }
    if let Some(st) = attr("fox.station_name") {
        let host = attr("fox.host_id").unwrap_or("-");
        let os = value(a.os.as_ref());
        out.push((
            ip.clone(),
            format!("fox station {st}, host id {host}, os {os}"),
        ));
    }
    if let Some(m) = a
        .model
        .as_ref()
        .filter(|_| a.attributes.keys().any(|k| k.starts_with("fins.")))
    {
        let node = attr("fins.node").map_or(String::new(), |n| format!(", node {n}"));
        out.push((ip.clone(), format!("fins controller {}{node}", m.value)));
    }
    if let Some(uri) = attr("opcua.application_uri") {
        out.push((
            ip.clone(),
            format!("opc ua server {} ({uri})", value(a.product_name.as_ref())),
        ));
        if let Some(eps) = attr("opcua.endpoints") {
            out.push((ip.clone(), format!("opc ua endpoints: {eps}")));
        }
        if let Some(sub) = attr("opcua.certificate.subject") {
            out.push((ip.clone(), format!("opc ua certificate: {sub}")));
        }
    }
    for (k, f) in &a.attributes {
        if let Some(name) = k.strip_prefix("opcua.finding.") {
            out.push((
                ip.clone(),
                format!("finding: opc ua {}: {}", name.replace('_', " "), f.value),
            ));
        }
    }
    out
}

fn summary(o: &DemoOutcome) -> Result<(), super::out::StdoutError> {
    let inv = &o.inventory;
    outln!()?;
    // The first column fits the longest label: an address, a MAC-only station
    // (`mac 00:1b:1b:6e:20:01`) or a sub-asset's indented path (`  modbus:unit/1`).
    let labels = |a: &Asset| -> Vec<String> {
        std::iter::once(a.label())
            .chain(
                a.sub_assets
                    .iter()
                    .map(|s| format!("  {}", s.path.as_deref().unwrap_or("?"))),
            )
            .collect()
    };
    let width = inv
        .assets
        .iter()
        .flat_map(labels)
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(13);
    outln!(
        "{:<width$} {:<22} {:<26} {:<12} {:<14} sources",
        "ip",
        "vendor",
        "model",
        "firmware",
        "protocols"
    )?;
    for a in &inv.assets {
        row(&a.label(), width, a)?;
        // What answered behind it (a chassis' modules), indented under it.
        for sub in &a.sub_assets {
            row(
                &format!("  {}", sub.path.as_deref().unwrap_or("?")),
                width,
                sub,
            )?;
        }
    }
    outln!()?;
    outln!(
        "{} assets, {} identified, {} conflicting fields, {} flags; scan of {} devices {} in {:.1} s",
        inv.summary.assets,
        inv.summary.identified,
        inv.summary.conflicts,
        inv.summary.flags,
        o.scanned.len(),
        format!("{:?}", o.scan.status).to_lowercase(),
        (o.scan.finished - o.scan.started).num_milliseconds() as f64 / 1000.0,
    )?;
    outln!(
        "the plant received {} requests from the scan, {} of them outside the read-only identity set",
        o.plant_requests,
        o.plant_non_identity
    )?;
    for a in &inv.assets {
        for f in &a.flags {
            if matches!(f.kind, FlagKind::DeclaredConflict | FlagKind::Operations) {
                outln!("  flag {}: {}", a.label(), f.detail)?;
            }
        }
    }
    let details: Vec<(String, String)> = inv.assets.iter().flat_map(identity_details).collect();
    if !details.is_empty() {
        outln!()?;
        outln!("what the building, OPC UA and supervisory devices said:")?;
        for (ip, line) in details {
            outln!("  {ip:<13} {line}")?;
        }
    }
    let f = &o.files;
    outln!()?;
    outln!("wrote:")?;
    outln!("  capture (passive input):   {}", f.capture.display())?;
    outln!("  declared inventory (CSV):  {}", f.csv.display())?;
    outln!("  scan result:               {}", f.scan.display())?;
    outln!("  scan journal:              {}", f.journal.display())?;
    outln!("  signed report:             {}", f.report.display())?;
    outln!("  report for a browser:      {}", f.html.display())?;
    outln!("  the plant's ledger:        {}", f.ledger.display())?;
    outln!("  signature:                 {}", f.signature.display())?;
    outln!("  public key:                {}", f.public_key.display())?;
    outln!("  secret key (unencrypted):  {}", f.secret_key.display())?;
    outln!()?;
    outln!("report verified ({})", o.trusted_comment)?;
    outln!("verify it yourself:")?;
    outln!(
        "  otscout verify {} --pubkey {}",
        f.report.display(),
        f.public_key.display()
    )?;
    outln!(
        "  minisign -Vm {} -p {}",
        f.report.display(),
        f.public_key.display()
    )?;
    outln!(
        "look at it:  otscout report {} --format markdown",
        f.report.display()
    )?;
    outln!("open it in a browser (works offline): {}", f.html.display())?;
    outln!("demo finished in {:.1} s", o.elapsed.as_secs_f64())?;
    Ok(())
}
