//! otscout-sim: serve a simulated plant on loopback, or generate a large plant file.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use otscout_sim::{Plant, PortOverride, StartOptions};

#[derive(Debug, Parser)]
#[command(
    name = "otscout-sim",
    version,
    about = "Simulated OT plant on loopback (Modbus/TCP, EtherNet/IP, S7comm)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a plant until Ctrl-C or SIGTERM.
    Run {
        /// The plant file (TOML).
        plant: PathBuf,
        /// Write every ledger event as a JSON line here, as it happens.
        #[arg(long)]
        ledger: Option<PathBuf>,
        /// Write the served traffic as pcapng here, as it happens.
        #[arg(long)]
        pcap: Option<PathBuf>,
        /// Bind port N + (configured port % 1000) instead of the configured ports
        /// (502 -> N+502, 44818 -> N+818, 102 -> N+102), for non-root users.
        #[arg(long, value_name = "N", conflicts_with = "ephemeral")]
        port_base: Option<u16>,
        /// Bind every listener on an ephemeral port.
        #[arg(long)]
        ephemeral: bool,
    },
    /// Write a large generated plant (TOML) for benchmarks.
    Generate {
        #[arg(long)]
        devices: usize,
        /// Loopback subnet, e.g. 127.20.0.0/16.
        #[arg(long)]
        subnet: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file (default: standard output).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("otscout-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate {
            devices,
            subnet,
            seed,
            out,
        } => {
            let plant = otscout_sim::generate::generate(devices, &subnet, seed)?;
            let text = plant.to_toml_string();
            match out {
                Some(p) => std::fs::write(&p, text)
                    .with_context(|| format!("cannot write {}", p.display()))?,
                None => std::io::stdout().write_all(text.as_bytes())?,
            }
            Ok(())
        }
        Command::Run {
            plant,
            ledger,
            pcap,
            port_base,
            ephemeral,
        } => {
            let plant_value = Plant::load(&plant)?;
            let ports = match (port_base, ephemeral) {
                (Some(b), _) => PortOverride::Base(b),
                (None, true) => PortOverride::Ephemeral,
                (None, false) => PortOverride::AsConfigured,
            };
            let rt = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
            rt.block_on(serve(plant_value, ports, ledger, pcap))
        }
    }
}

async fn serve(
    plant: Plant,
    ports: PortOverride,
    ledger: Option<PathBuf>,
    pcap: Option<PathBuf>,
) -> anyhow::Result<()> {
    let mut ledger_file = match &ledger {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p)
                .with_context(|| format!("cannot create ledger {}", p.display()))?,
        )),
        None => None,
    };
    let mut pcap_file = match &pcap {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p)
                .with_context(|| format!("cannot create pcap {}", p.display()))?,
        )),
        None => None,
    };
    let (tx, rx) = std::sync::mpsc::channel::<otscout_sim::LedgerEvent>();
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut pw = otscout_sim::pcapng::Writer::default();
        pw.header();
        for ev in rx {
            if let Some(f) = ledger_file.as_mut() {
                writeln!(f, "{}", ev.to_json_line())?;
                f.flush()?;
            }
            pw.event(&ev);
            if let Some(f) = pcap_file.as_mut() {
                f.write_all(&pw.take())?;
                f.flush()?;
            } else {
                pw.take();
            }
        }
        if let Some(f) = pcap_file.as_mut() {
            f.write_all(&pw.take())?;
            f.flush()?;
        }
        Ok(())
    });
    let name = plant.name.clone();
    let running = otscout_sim::start(
        plant,
        StartOptions {
            ports,
            ledger_sink: Some(tx),
        },
    )
    .await?;
    println!(
        "otscout-sim: serving plant {name:?} ({} devices)",
        running.devices().len()
    );
    for d in running.devices() {
        let mut parts = Vec::new();
        if let Some(a) = d.modbus {
            parts.push(format!("modbus tcp {a}"));
        }
        if let Some(a) = d.enip_tcp {
            parts.push(format!("enip tcp {a}"));
        }
        if let Some(a) = d.enip_udp {
            parts.push(format!("enip udp {a}"));
        }
        if let Some(a) = d.s7 {
            parts.push(format!("s7 tcp {a}"));
        }
        println!("  {:<24} {}", d.name, parts.join(", "));
    }
    println!("press Ctrl-C to stop");
    wait_for_signal().await;
    println!("otscout-sim: stopping");
    let events = running.ledger().len();
    running.shutdown().await;
    match writer.join() {
        Ok(r) => r.context("cannot write the ledger or pcap")?,
        Err(_) => anyhow::bail!("the ledger writer thread panicked"),
    }
    println!("otscout-sim: {events} ledger events recorded");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
