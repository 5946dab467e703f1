//! `otscout demo`: the whole job in one command, on a simulated plant.
//!
//! 1. Starts the bundled demo plant (`simulators/plants/demo.toml`) in this process, on
//!    its own 127.77.0.x loopback addresses, with a port base so a non-root user can bind
//!    it (port = base + port % 1000: 102, 502, 9600, 47808, 44818, 4840 and 1911 become
//!    base+102, +502, +600, +808, +818, +840 and +911). Its devices speak every protocol
//!    otscout scans: S7, EtherNet/IP (one adapter with a ControlLogix chassis behind it),
//!    Modbus, BACnet/IP, OPC UA, Omron FINS and Niagara Fox.
//! 2. Writes a capture of a short phase of HMI polling and engineering work, synthesised
//!    offline by [`otscout_sim::hmi`] (see there why nothing is sent for it).
//! 3. Runs the real active scan ([`crate::probe::scan::run`], what `otscout scan` runs)
//!    with the demo profile ([`profile_for_base`]). Outcomes are journaled as they arrive.
//! 4. Merges the scan result, the capture and the bundled CSV of declared attributes
//!    into one report, signs it with a key pair generated (unencrypted) in the output
//!    folder, and verifies it.
//! 5. Shuts the plant down: when [`run`] returns, no listener or task of the demo is
//!    left. The plant's own ledger of every request it received is written beside the
//!    report ([`files::LEDGER`]), the witness that only identity requests were sent.
//!
//! # The demo profile
//! The built-in `conservative` profile, its pacing untouched, with exactly the changes
//! this plant needs ([`profile_overrides`], as `--set` overrides): every port moved to the
//! base; BACnet/IP, OPC UA, FINS and Fox enabled (all four are off in the built-in
//! profiles, which scan PLC networks, not buildings); and backplane enumeration on for
//! the chassis' slots 0 to 6 (off in `conservative`, on in `rockwell`). OPC UA stays
//! sessionless (GetEndpoints only, no BuildInfo session) and FINS goes over UDP, as in
//! the built-in profile. A test pins the list of changed keys.
//!
//! The library never prints: progress goes to a [`DemoSink`], the result comes back as a
//! [`DemoOutcome`]; `cli::demo` prints both.
//!
//! # OT safety
//! The plant binds only loopback addresses ([`otscout_sim::Plant::validate`]), the scan
//! targets exactly the plant's addresses, and the only frames this process sends are the
//! scan's allowlisted identity requests. The HMI traffic in the capture, including its
//! register write, is built in memory and never sent.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use otscout_sim::hmi::{HmiOptions, HmiSummary};
use otscout_sim::{Plant, PortOverride, RunningPlant, StartOptions};

use crate::inventory::{self, Input, Inventory};
use crate::passive::{self, ImportOptions};
use crate::probe::journal::{JOURNAL_FORMAT, Journal, JournalHeader};
use crate::probe::scan::{self, BuiltinSessions, ScanEvent, ScanReport, StopSignal, Targets};
use crate::profile::Profile;
use crate::report::html;
use crate::report::sign::{self, Protection};

/// The bundled demo plant.
pub const DEMO_PLANT: &str = include_str!("../simulators/plants/demo.toml");
/// The bundled CSV of declared attributes for the demo plant's devices.
pub const DEMO_CSV: &str = include_str!("../simulators/plants/demo-inventory.csv");
/// Port bases tried in turn when binding the plant fails (another demo running, a port
/// taken). Every base keeps the plant's ports below the usual ephemeral range (32768 and
/// up), so the demo never meets another program's outgoing connections.
pub const BASE_PORTS: [u16; 8] = [20000, 21000, 22000, 23000, 24000, 25000, 26000, 27000];

/// File names the demo writes in its output folder.
pub mod files {
    pub const CAPTURE: &str = "hmi-polling.pcapng";
    pub const CSV: &str = "declared-inventory.csv";
    pub const SCAN: &str = "scan.json";
    pub const JOURNAL: &str = "scan.json.journal.jsonl";
    pub const REPORT: &str = "report.json";
    /// The report's HTML view.
    pub const HTML: &str = "report.html";
    /// The plant's ledger: every connection and request it saw, one JSON object a line.
    pub const LEDGER: &str = "plant-ledger.jsonl";
}

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The output folder: created if missing; must not already hold the demo's files.
    pub out: PathBuf,
    /// Port bases to try, in order.
    pub base_ports: Vec<u16>,
    /// The site the demo plays (`otscout demo --site`), carried in its report.
    pub site: Option<String>,
}

impl DemoOptions {
    /// The defaults for `out`.
    pub fn new(out: PathBuf) -> Self {
        DemoOptions {
            out,
            base_ports: BASE_PORTS.to_vec(),
            site: None,
        }
    }
}

/// Progress of the demo, for the CLI to show.
#[derive(Debug, Clone, PartialEq)]
pub enum DemoEvent {
    PlantStarted {
        name: String,
        devices: usize,
        base_port: u16,
    },
    CaptureWritten {
        path: PathBuf,
        summary: HmiSummary,
    },
    ScanStarting {
        targets: usize,
        profile: String,
        /// The demo profile's changes to it, as `--set` overrides.
        overrides: Vec<String>,
    },
    /// The scan's own events, as `otscout scan` sees them.
    Scan(ScanEvent),
    ScanFinished {
        elapsed: Duration,
    },
    ReportWritten {
        path: PathBuf,
    },
    HtmlWritten {
        path: PathBuf,
    },
}

/// Receives [`DemoEvent`]s; called from the scan's tasks too, so keep it quick.
pub type DemoSink = Arc<dyn Fn(&DemoEvent) + Send + Sync>;

/// Every path the demo wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoFiles {
    pub out: PathBuf,
    pub capture: PathBuf,
    pub csv: PathBuf,
    pub scan: PathBuf,
    pub journal: PathBuf,
    pub report: PathBuf,
    /// The report's self-contained HTML view.
    pub html: PathBuf,
    /// The plant's ledger (JSON lines).
    pub ledger: PathBuf,
    pub signature: PathBuf,
    pub secret_key: PathBuf,
    pub public_key: PathBuf,
}

impl DemoFiles {
    fn in_dir(out: &Path) -> Self {
        DemoFiles {
            out: out.to_owned(),
            capture: out.join(files::CAPTURE),
            csv: out.join(files::CSV),
            scan: out.join(files::SCAN),
            journal: out.join(files::JOURNAL),
            report: out.join(files::REPORT),
            html: out.join(files::HTML),
            ledger: out.join(files::LEDGER),
            signature: sign::signature_path(&out.join(files::REPORT)),
            secret_key: out.join(sign::SECRET_KEY_FILE),
            public_key: out.join(sign::PUBLIC_KEY_FILE),
        }
    }

    fn all(&self) -> [&PathBuf; 10] {
        [
            &self.capture,
            &self.csv,
            &self.scan,
            &self.journal,
            &self.report,
            &self.html,
            &self.ledger,
            &self.signature,
            &self.secret_key,
            &self.public_key,
        ]
    }
}

/// What the demo did.
#[derive(Debug, Clone)]
pub struct DemoOutcome {
    pub files: DemoFiles,
    pub base_port: u16,
    /// The addresses scanned.
    pub scanned: Vec<IpAddr>,
    pub hmi: HmiSummary,
    pub scan: ScanReport,
    /// The signed report, as verified.
    pub inventory: Inventory,
    pub trusted_comment: String,
    /// What the plant's own ledger saw: requests received, and how many of them were
    /// outside the read-only identity set (always 0; the plant is the witness).
    pub plant_requests: usize,
    pub plant_non_identity: usize,
    pub elapsed: Duration,
}

/// Why the demo could not finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    #[error("{path} already exists: give --out an empty or new folder (the demo never overwrites)")]
    Exists { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the bundled demo plant: {0}")]
    Plant(#[from] otscout_sim::PlantError),
    #[error(
        "could not start the demo plant on loopback with any port base of {bases:?}; last error: {last}"
    )]
    Start { bases: Vec<u16>, last: String },
    #[error("the built-in conservative profile: {0}")]
    Profile(String),
    #[error("the scan could not run: {0}")]
    Scan(#[from] scan::ScanError),
    #[error("the scan journal: {0}")]
    Journal(#[from] crate::probe::journal::JournalError),
    #[error("importing {path}: {reason}")]
    Import { path: PathBuf, reason: String },
    #[error(transparent)]
    Sign(#[from] sign::SignError),
}

/// The slots of the demo chassis (a 1756-A7 behind the 1756-EN2T at 127.77.0.26) that
/// the demo profile reads through the adapter: the whole chassis, 0 to 6.
pub const CHASSIS_SLOTS: std::ops::RangeInclusive<u8> = 0..=6;

/// The units behind the demo's serial gateway that the demo profile reads.
pub const GATEWAY_UNITS: [u8; 3] = [1, 2, 3];

/// The protocols the built-in profiles leave off and the demo plant needs.
pub const ENABLED: [&str; 4] = ["bacnet", "opcua", "fins", "fox"];

/// The demo profile's changes to the built-in `conservative` profile, as `--set`
/// overrides (`otscout scan --profile conservative --set ...` with these scans the plant
/// as the demo does): every protocol's port moved to `base` (as [`PortOverride::Base`]
/// moves the plant's), BACnet/IP, OPC UA, FINS and Fox enabled, and backplane enumeration
/// on for [`CHASSIS_SLOTS`], the serial gateway's [`GATEWAY_UNITS`] listed. Nothing else:
/// pacing, timeouts, own unit ids, TSAPs, vendor rules and the protocols' own options
/// (OPC UA stays sessionless, FINS on UDP) are the built-in profile's.
pub fn profile_overrides(base: u16) -> Vec<String> {
    let mut sets: Vec<String> = PORTS
        .iter()
        .map(|(key, port)| format!("{key}={}", shifted(base, *port)))
        .collect();
    sets.extend(ENABLED.iter().map(|p| format!("{p}.enabled=true")));
    sets.push("enip.backplane=true".into());
    sets.push(format!(
        "enip.backplane_slot_first={}",
        CHASSIS_SLOTS.start()
    ));
    sets.push(format!("enip.backplane_slot_last={}", CHASSIS_SLOTS.end()));
    // Issue 15: the plant's serial gateway (rtu-gateway, 127.77.0.38) fronts units 1-3;
    // it answers 0x0A to 255 and 0, which opens them (conservative lists no unit).
    sets.push(format!("modbus.gateway_units={GATEWAY_UNITS:?}"));
    sets
}

/// Each protocol's port key and the standard port the plant file gives its devices.
const PORTS: [(&str, u16); 7] = [
    ("modbus.port", 502),
    ("enip.port", 44818),
    ("s7.port", 102),
    ("bacnet.port", 47808),
    ("opcua.port", 4840),
    ("fins.port", 9600),
    ("fox.port", 1911),
];

/// The demo profile: the built-in `conservative` profile with [`profile_overrides`]
/// applied (and validated) exactly as `--set` applies them. Its name stays
/// `conservative`, as with `--set`; its SHA-256 in the report is its own.
///
/// # OT safety
/// The pacing is the built-in profile's, untouched: the demo shows the speed a first
/// scan of a production plant runs at.
pub fn profile_for_base(base: u16) -> Result<Profile, DemoError> {
    crate::profile::load_with_overrides("conservative", &profile_overrides(base))
        .map(|l| l.profile)
        .map_err(|e| DemoError::Profile(e.to_string()))
}

/// The port [`PortOverride::Base`] gives a configured port.
fn shifted(base: u16, port: u16) -> u16 {
    base.saturating_add(port % 1000)
}

/// Runs the demo. Call it inside a tokio runtime (multi-threaded).
pub async fn run(opts: &DemoOptions, events: DemoSink) -> Result<DemoOutcome, DemoError> {
    let started = Instant::now();
    let files = DemoFiles::in_dir(&opts.out);
    std::fs::create_dir_all(&opts.out).map_err(|source| DemoError::Io {
        path: opts.out.clone(),
        source,
    })?;
    if let Some(p) = files.all().into_iter().find(|p| p.exists()) {
        return Err(DemoError::Exists { path: p.clone() });
    }

    let plant = Plant::from_toml_str(DEMO_PLANT)?;
    let (running, base_port) = start_plant(&plant, &opts.base_ports).await?;
    events(&DemoEvent::PlantStarted {
        name: plant.name.clone(),
        devices: running.devices().len(),
        base_port,
    });
    // Whatever happens next, the plant is shut down before returning.
    let result = with_plant(
        &files,
        &plant,
        &running,
        base_port,
        &events,
        opts.site.clone(),
    )
    .await;
    running.shutdown().await;
    let mut outcome = result?;
    outcome.elapsed = started.elapsed();
    Ok(outcome)
}

async fn start_plant(plant: &Plant, bases: &[u16]) -> Result<(RunningPlant, u16), DemoError> {
    let mut last = String::from("no port base given");
    for &base in bases {
        let opts = StartOptions {
            ports: PortOverride::Base(base),
            ledger_sink: None,
        };
        match otscout_sim::start(plant.clone(), opts).await {
            Ok(r) => return Ok((r, base)),
            Err(e) => last = e.to_string(),
        }
    }
    Err(DemoError::Start {
        bases: bases.to_vec(),
        last,
    })
}

async fn with_plant(
    files: &DemoFiles,
    plant: &Plant,
    running: &RunningPlant,
    base_port: u16,
    events: &DemoSink,
    site: Option<String>,
) -> Result<DemoOutcome, DemoError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| DemoError::Io { path, source }
    };

    // The capture: HMI polling and engineering work, made offline, stamped a minute ago.
    let now_micros = u64::try_from(Utc::now().timestamp_micros()).unwrap_or(0);
    let hmi_opts = HmiOptions {
        start_unix_micros: now_micros.saturating_sub(60_000_000),
        rounds: 5,
        write_target: Some("m340-pump-station".into()),
    };
    let mut capture = Vec::new();
    let hmi = otscout_sim::hmi::write_pcapng(plant, &hmi_opts, &mut capture)
        .map_err(io(&files.capture))?;
    std::fs::write(&files.capture, &capture).map_err(io(&files.capture))?;
    std::fs::write(&files.csv, DEMO_CSV).map_err(io(&files.csv))?;
    events(&DemoEvent::CaptureWritten {
        path: files.capture.clone(),
        summary: hmi.clone(),
    });

    // The scan: the real engine, the demo profile.
    let profile = profile_for_base(base_port)?;
    let profile_sha256 = profile.sha256();
    let scanned: Vec<IpAddr> = running
        .devices()
        .iter()
        .map(|d| IpAddr::V4(d.address))
        .collect();
    let scan_started = Utc::now();
    let scan_id = format!("demo-{}", scan_started.format("%Y%m%dT%H%M%SZ"));
    let scope: Vec<String> = scanned.iter().map(IpAddr::to_string).collect();
    let header = JournalHeader {
        format: JOURNAL_FORMAT.into(),
        version: crate::probe::journal::JOURNAL_VERSION,
        scan_id: scan_id.clone(),
        profile: profile.name.clone(),
        profile_sha256: profile_sha256.clone(),
        started: scan_started,
        scope: scope.clone(),
        exclusions: Vec::new(),
    };
    let journal = Journal::create(&files.journal, &header)?;
    events(&DemoEvent::ScanStarting {
        targets: scanned.len(),
        profile: profile.name.clone(),
        overrides: profile_overrides(base_port),
    });
    let close_timeout = profile.pacing.close_hold();
    let config = scan::ScanConfig {
        scan_id,
        profile,
        profile_sha256,
        targets: Targets::list(scanned.clone()),
        exclusions: Vec::new(),
        scope: None,
        ports: Default::default(),
        deadline: None,
        journal: journal.journal().cloned(),
        resumed: Default::default(),
        sessions: Arc::new(BuiltinSessions),
        close_timeout,
        // The demo scans every device, as `otscout scan` does without --from-passive.
        passive: None,
    };
    let forward = events.clone();
    let sink: scan::EventSink = Arc::new(move |e: &ScanEvent| forward(&DemoEvent::Scan(e.clone())));
    let t = Instant::now();
    let report = scan::run(config, sink, StopSignal::new()).await;
    let journal_result = journal.finish();
    let report = report?;
    journal_result?;
    let ledger = running.ledger();
    let mut lines = Vec::new();
    for e in &ledger {
        serde_json::to_writer(&mut lines, e).map_err(|e| DemoError::Io {
            path: files.ledger.clone(),
            source: e.into(),
        })?;
        lines.push(b'\n');
    }
    std::fs::write(&files.ledger, lines).map_err(io(&files.ledger))?;
    let (plant_requests, plant_non_identity) = ledger
        .iter()
        .filter_map(|e| match &e.kind {
            otscout_sim::EventKind::Request { identity, .. } => Some(*identity),
            _ => None,
        })
        .fold((0, 0), |(n, bad), identity| {
            (n + 1, bad + usize::from(!identity))
        });
    events(&DemoEvent::ScanFinished {
        elapsed: t.elapsed(),
    });
    let doc = crate::probe::result::document(
        &report,
        &crate::probe::result::Meta {
            scope,
            exclusions: Vec::new(),
            operator: Some("otscout demo".into()),
            host: None,
            site,
        },
    );
    let text = serde_json::to_vec_pretty(&doc).map_err(|e| DemoError::Io {
        path: files.scan.clone(),
        source: e.into(),
    })?;
    std::fs::write(&files.scan, text).map_err(io(&files.scan))?;

    // Passive inputs, then the merge.
    let mut inputs = vec![Input::from_scan(&files.scan.display().to_string(), doc)];
    for path in [&files.capture, &files.csv] {
        let imported = passive::import_path(path, &ImportOptions::default()).map_err(|e| {
            DemoError::Import {
                path: path.clone(),
                reason: e.to_string(),
            }
        })?;
        let file = passive::observation_file(std::slice::from_ref(&imported));
        inputs.push(Input::from_observations(&path.display().to_string(), file));
    }
    let inv = inventory::merge(&inputs, Utc::now());

    // Sign with a fresh key, then verify what is on disk.
    let keys = sign::keygen(&files.out, &Protection::Unencrypted)?;
    let sk = sign::load_secret_key(&keys.secret, &mut || None)?;
    sign::write_report(
        &files.report,
        &inv,
        Some(&sk),
        Utc::now(),
        crate::output_file::Overwrite::Replace,
    )?;
    events(&DemoEvent::ReportWritten {
        path: files.report.clone(),
    });
    let pk = sign::load_public_key(&keys.public)?;
    let verified = sign::verify_file(&files.report, &pk)?;
    let page = html::render(
        &verified.inventory,
        &html::SignatureStatus::Verified {
            key_id: sign::key_id(pk.keynum()),
            trusted_comment: verified.trusted_comment.clone(),
        },
    );
    std::fs::write(&files.html, page).map_err(io(&files.html))?;
    events(&DemoEvent::HtmlWritten {
        path: files.html.clone(),
    });

    Ok(DemoOutcome {
        files: files.clone(),
        base_port,
        scanned,
        hmi,
        scan: report,
        inventory: verified.inventory,
        trusted_comment: verified.trusted_comment,
        plant_requests,
        plant_non_identity,
        elapsed: Duration::ZERO,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of a profile as `section.key` -> value (arrays are one value).
    fn flat(p: &Profile) -> std::collections::BTreeMap<String, toml::Value> {
        fn walk(
            prefix: &str,
            v: &toml::Value,
            out: &mut std::collections::BTreeMap<String, toml::Value>,
        ) {
            match v {
                toml::Value::Table(t) => {
                    for (k, v) in t {
                        let key = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        walk(&key, v, out);
                    }
                }
                v => {
                    out.insert(prefix.to_owned(), v.clone());
                }
            }
        }
        let mut out = std::collections::BTreeMap::new();
        walk(
            "",
            &toml::Value::try_from(p).expect("profile to toml"),
            &mut out,
        );
        out
    }

    #[test]
    fn the_demo_profile_is_conservative_with_only_the_plant_keys_changed() {
        let builtin = crate::profile::builtin("conservative")
            .expect("conservative")
            .profile;
        let p = profile_for_base(20000).expect("profile");
        let (a, b) = (flat(&builtin), flat(&p));
        let changed: Vec<&str> = a
            .keys()
            .chain(b.keys())
            .filter(|k| a.get(*k) != b.get(*k))
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        // Exactly what the plant needs; pacing, timeouts, unit ids, TSAPs, vendor rules and
        // the protocols' own options are the built-in profile's.
        assert_eq!(
            changed,
            [
                "bacnet.enabled",
                "bacnet.port",
                "enip.backplane",
                "enip.backplane_slot_last",
                "enip.port",
                "fins.enabled",
                "fins.port",
                "fox.enabled",
                "fox.port",
                "modbus.gateway_units",
                "modbus.port",
                "opcua.enabled",
                "opcua.port",
                "s7.port",
            ]
        );
        assert_eq!(
            (
                p.modbus.port,
                p.enip.port,
                p.s7.port,
                p.bacnet.port,
                p.opcua.port,
                p.fins.port,
                p.fox.port
            ),
            (20502, 20818, 20102, 20808, 20840, 20600, 20911)
        );
        assert!(p.bacnet.enabled && p.opcua.enabled && p.fins.enabled && p.fox.enabled);
        assert!(p.enip.backplane);
        assert_eq!(p.modbus.gateway_units, GATEWAY_UNITS);
        assert_eq!(
            p.enip.backplane_slot_first..=p.enip.backplane_slot_last,
            CHASSIS_SLOTS
        );
        assert_eq!(p.pacing, builtin.pacing);
        assert_eq!(p.name, "conservative");
        assert!(!p.opcua.build_info && !p.opcua.find_servers, "sessionless");
        assert_ne!(p.sha256(), builtin.sha256());
    }

    #[test]
    fn the_bundled_plant_and_csv_load() {
        let plant = Plant::from_toml_str(DEMO_PLANT).expect("plant");
        let rep = crate::passive::import_bytes(
            "declared-inventory.csv",
            DEMO_CSV.as_bytes(),
            &ImportOptions::default(),
        )
        .expect("csv");
        assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
        // One row per device, in the plant's addresses.
        assert_eq!(rep.stats.rows, plant.devices.len() as u64);
        for d in &plant.devices {
            let ip = IpAddr::V4(d.address);
            assert!(
                rep.observations.iter().any(|o| o.ip == ip),
                "{} has no CSV row",
                d.name
            );
        }
        // Every device serves its protocols on the standard ports the profile moves, so
        // the plant's ports and the scan's agree at every base.
        let standard = |key: &str| PORTS.iter().find(|(k, _)| *k == key).map(|p| p.1);
        for d in &plant.devices {
            let ports = [
                ("modbus.port", d.modbus.as_ref().map(|c| c.port)),
                ("enip.port", d.enip.as_ref().map(|c| c.port)),
                ("s7.port", d.s7.as_ref().map(|c| c.port)),
                ("bacnet.port", d.bacnet.as_ref().map(|c| c.port)),
                ("opcua.port", d.opcua.as_ref().map(|c| c.port)),
                ("fins.port", d.fins.as_ref().map(|c| c.port)),
                ("fox.port", d.fox.as_ref().map(|c| c.port)),
            ];
            for (key, port) in ports {
                if let Some(port) = port {
                    assert_eq!(Some(port), standard(key), "{}: {key}", d.name);
                }
            }
        }
        // Every port base keeps every port below the ephemeral range (32768 and up), and
        // no two protocols meet on one port (UDP and TCP alike: 47808 and 44818 differ).
        for base in BASE_PORTS {
            let moved: std::collections::BTreeSet<u16> =
                PORTS.iter().map(|(_, p)| shifted(base, *p)).collect();
            assert_eq!(moved.len(), PORTS.len(), "base {base}: {moved:?}");
            assert!(moved.iter().all(|p| *p < 32768), "base {base}: {moved:?}");
        }
        // The one chassis is read whole, and only it has one.
        let chassis: Vec<u8> = plant
            .devices
            .iter()
            .filter_map(|d| d.enip.as_ref()?.chassis.as_ref().map(|c| c.slots))
            .collect();
        assert_eq!(chassis, [CHASSIS_SLOTS.end() + 1]);
        // Each protocol the profile enables has a device that speaks it.
        assert!(plant.devices.iter().any(|d| d.bacnet.is_some()));
        assert!(plant.devices.iter().any(|d| d.opcua.is_some()));
        assert!(plant.devices.iter().any(|d| d.fins.is_some()));
        assert!(plant.devices.iter().any(|d| d.fox.is_some()));
    }
}
