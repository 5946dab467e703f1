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
        /// Serve only part K of N of the plant's devices (in file order, N nearly equal
        /// parts), so that a plant too big for one process's open-files limit runs as N
        /// processes: `--shard 1/4` ... `--shard 4/4`.
        #[arg(long, value_name = "K/N", value_parser = parse_shard)]
        shard: Option<(usize, usize)>,
    },
    /// Write a large generated plant (TOML) for benchmarks.
    Generate {
        #[arg(long)]
        devices: usize,
        /// Loopback subnet, e.g. 127.20.0.0/16. Repeat it to spread the devices evenly
        /// over several subnets (127.20.0.0/16 127.21.0.0/16 ...).
        #[arg(long, required = true, num_args = 1..)]
        subnet: Vec<String>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Delay before every reply, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Extra random delay of up to this many milliseconds before every reply.
        #[arg(long, default_value_t = 0)]
        jitter_ms: u64,
        /// Output file (default: standard output).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

/// `K/N` with 1 <= K <= N.
fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("shard {s:?} is not K/N with 1 <= K <= N, like 2/4");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let k: usize = k.trim().parse().map_err(|_| bad())?;
    let n: usize = n.trim().parse().map_err(|_| bad())?;
    if k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
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
            latency_ms,
            jitter_ms,
            out,
        } => {
            use otscout_sim::generate::{GenerateOptions, generate_with, plant_file};
            let plant = generate_with(&GenerateOptions {
                devices,
                subnets: subnet,
                seed,
                latency_ms,
                jitter_ms,
            })?;
            let text = plant_file(&plant)?;
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
            shard,
        } => {
            let mut plant_value = Plant::load(&plant)?;
            if let Some((k, n)) = shard {
                plant_value.devices = otscout_sim::plant::shard(plant_value.devices, k, n);
            }
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
    let (sockets, fds) = (running.sockets(), running.fd_limit());
    println!(
        "  {} sockets ({} tcp listeners, {} udp); open files: needs {}, limit {}{} (hard {})",
        sockets.total(),
        sockets.tcp_listeners,
        sockets.udp_sockets,
        fds.needed,
        fds.soft,
        if fds.raised() {
            format!(", raised from {}", fds.soft_before)
        } else {
            String::new()
        },
        fds.hard
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
        if let Some(a) = d.bacnet {
            parts.push(format!("bacnet udp {a}"));
        }
        if let Some(a) = d.opcua {
            parts.push(format!("opcua tcp {a}"));
        }
        println!("  {:<24} {}", d.name, parts.join(", "));
    }
    let stop = stop_signal();
    println!("press Ctrl-C to stop");
    stop.await;
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

/// Waits for Ctrl-C or SIGTERM. The handlers are installed when this is called, not when
/// the future is first awaited: a signal sent as soon as "press Ctrl-C" is printed (as a
/// supervisor or a test does) stops the plant cleanly instead of killing it.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            match (term, int) {
                (Some(mut term), Some(mut int)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
