//! Passive import throughput on a large synthetic capture.
//!
//! Synthesises a legacy pcap of plant traffic (Modbus/TCP polling with writes and device
//! identification exchanges over many connections, EtherNet/IP List Identity over UDP,
//! S7 read/write jobs), imports it, and prints MB/s, packets/s and the peak resident set
//! (VmHWM). When `tshark` is installed it times tshark extracting the same identity
//! fields from the same file and prints the ratio.
//!
//! ```text
//! cargo bench --bench passive                      # 256 MB
//! cargo bench --bench passive -- --size-mb 1024    # 1 GB
//! cargo bench --bench passive -- --size-mb 64 --no-tshark
//! ```
//!
//! Not run by CI. Memory should be flat in the file size: run two sizes and compare VmHWM.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use otscout::passive::{self, ImportOptions};

struct Gen {
    out: BufWriter<std::fs::File>,
    written: u64,
    frames: u64,
    ts: u64,
}

impl Gen {
    fn header(&mut self) {
        let mut h = Vec::new();
        h.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
        h.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        h.extend_from_slice(&65535u32.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        self.out.write_all(&h).unwrap();
        self.written += h.len() as u64;
    }

    fn frame(&mut self, src: [u8; 4], dst: [u8; 4], l4: &[u8], proto: u8) {
        self.ts += 997;
        let mut f = Vec::with_capacity(14 + 20 + l4.len());
        f.extend_from_slice(&[0x02, 0, dst[0], dst[1], dst[2], dst[3]]);
        f.extend_from_slice(&[0x02, 0, src[0], src[1], src[2], src[3]]);
        f.extend_from_slice(&[0x08, 0x00]);
        let total = (20 + l4.len()) as u16;
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(l4);
        let mut rec = Vec::with_capacity(16 + f.len());
        rec.extend_from_slice(&((self.ts / 1_000_000) as u32).to_le_bytes());
        rec.extend_from_slice(&((self.ts % 1_000_000) as u32).to_le_bytes());
        rec.extend_from_slice(&(f.len() as u32).to_le_bytes());
        rec.extend_from_slice(&(f.len() as u32).to_le_bytes());
        rec.extend_from_slice(&f);
        self.out.write_all(&rec).unwrap();
        self.written += rec.len() as u64;
        self.frames += 1;
    }

    fn tcp(
        &mut self,
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        seq: &mut u32,
        payload: &[u8],
    ) {
        let mut t = Vec::with_capacity(20 + payload.len());
        t.extend_from_slice(&sport.to_be_bytes());
        t.extend_from_slice(&dport.to_be_bytes());
        t.extend_from_slice(&seq.to_be_bytes());
        t.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        t.extend_from_slice(payload);
        *seq = seq.wrapping_add(payload.len() as u32);
        self.frame(src, dst, &t, 6);
    }

    fn udp(&mut self, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) {
        let mut u = Vec::with_capacity(8 + payload.len());
        u.extend_from_slice(&sport.to_be_bytes());
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(payload);
        self.frame(src, dst, &u, 17);
    }
}

fn mbap(tid: u16, unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&tid.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
    v.push(unit);
    v.extend_from_slice(pdu);
    v
}

fn devid_reply(n: u32) -> Vec<u8> {
    let mut pdu = vec![0x2b, 0x0e, 0x01, 0x81, 0x00, 0x00, 0x03];
    for (id, val) in [
        (0u8, "Synthetic Automation".to_string()),
        (1, format!("SYN-{n:05}")),
        (2, "v1.0.0".to_string()),
    ] {
        pdu.push(id);
        pdu.push(val.len() as u8);
        pdu.extend_from_slice(val.as_bytes());
    }
    pdu
}

fn list_identity_reply(ip: [u8; 4], serial: u32) -> Vec<u8> {
    let name = b"1756-ENBT/A";
    let mut item = Vec::new();
    item.extend_from_slice(&1u16.to_le_bytes());
    item.extend_from_slice(&2u16.to_be_bytes());
    item.extend_from_slice(&44818u16.to_be_bytes());
    item.extend_from_slice(&ip);
    item.extend_from_slice(&[0; 8]);
    item.extend_from_slice(&1u16.to_le_bytes());
    item.extend_from_slice(&12u16.to_le_bytes());
    item.extend_from_slice(&58u16.to_le_bytes());
    item.extend_from_slice(&[4, 3]);
    item.extend_from_slice(&0x30u16.to_le_bytes());
    item.extend_from_slice(&serial.to_le_bytes());
    item.push(name.len() as u8);
    item.extend_from_slice(name);
    item.push(3);
    let mut body = Vec::new();
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0x0cu16.to_le_bytes());
    body.extend_from_slice(&(item.len() as u16).to_le_bytes());
    body.extend_from_slice(&item);
    let mut f = Vec::new();
    f.extend_from_slice(&0x63u16.to_le_bytes());
    f.extend_from_slice(&(body.len() as u16).to_le_bytes());
    f.extend_from_slice(&[0; 20]);
    f.extend_from_slice(&body);
    f
}

fn s7_job(pdu_ref: u16, function: u8) -> Vec<u8> {
    // TPKT, COTP DT, S7 job with a one-item read/write var parameter (no data for brevity).
    let param = [
        function, 0x01, 0x12, 0x0a, 0x10, 0x02, 0x00, 0x01, 0x00, 0x01, 0x84, 0x00, 0x00, 0x00,
    ];
    let mut s7 = vec![0x32, 0x01, 0x00, 0x00];
    s7.extend_from_slice(&pdu_ref.to_be_bytes());
    s7.extend_from_slice(&(param.len() as u16).to_be_bytes());
    s7.extend_from_slice(&0u16.to_be_bytes());
    s7.extend_from_slice(&param);
    let mut f = vec![0x03, 0x00];
    f.extend_from_slice(&((4 + 3 + s7.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0x02, 0xf0, 0x80]);
    f.extend_from_slice(&s7);
    f
}

/// Writes about `size` bytes of synthetic plant traffic to `path`.
fn synthesise(path: &Path, size: u64) -> u64 {
    let mut g = Gen {
        out: BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap()),
        written: 0,
        frames: 0,
        ts: 1_764_000_000_000_000,
    };
    g.header();
    const PLCS: u32 = 200;
    let hmi = [10, 50, 0, 5];
    let mut seqs = vec![(1u32, 1u32); PLCS as usize];
    let mut s7_seqs = vec![1u32; PLCS as usize];
    let mut round = 0u32;
    while g.written < size {
        for p in 0..PLCS {
            let plc = [10, 50, 1 + (p / 250) as u8, (p % 250) as u8 + 1];
            let sport = 40000 + p as u16;
            let tid = round as u16;
            let (c, s) = &mut seqs[p as usize];
            // Holding-register polling.
            g.tcp(
                hmi,
                sport,
                plc,
                502,
                c,
                &mbap(tid, 1, &[0x03, 0x00, 0x00, 0x00, 0x0a]),
            );
            let mut resp = vec![0x03, 20];
            resp.extend_from_slice(&[0x12; 20]);
            g.tcp(plc, 502, hmi, sport, s, &mbap(tid, 1, &resp));
            if round % 16 == 3 {
                g.tcp(
                    hmi,
                    sport,
                    plc,
                    502,
                    c,
                    &mbap(tid, 1, &[0x10, 0, 5, 0, 2, 4, 0, 1, 0, 2]),
                );
                g.tcp(plc, 502, hmi, sport, s, &mbap(tid, 1, &[0x10, 0, 5, 0, 2]));
            }
            if round % 64 == 7 {
                g.tcp(
                    hmi,
                    sport,
                    plc,
                    502,
                    c,
                    &mbap(tid, 1, &[0x2b, 0x0e, 0x01, 0x00]),
                );
                g.tcp(plc, 502, hmi, sport, s, &mbap(tid, 1, &devid_reply(p)));
            }
            if round % 32 == 11 {
                let job = s7_job(tid, if p % 2 == 0 { 0x04 } else { 0x05 });
                g.tcp(hmi, sport + 1000, plc, 102, &mut s7_seqs[p as usize], &job);
            }
        }
        if round % 8 == 0 {
            for p in 0..20u32 {
                let dev = [10, 60, 0, p as u8 + 1];
                g.udp(hmi, 50000, [10, 60, 0, 255], 44818, &{
                    let mut f = 0x63u16.to_le_bytes().to_vec();
                    f.extend_from_slice(&[0; 22]);
                    f
                });
                g.udp(
                    dev,
                    44818,
                    hmi,
                    50000,
                    &list_identity_reply(dev, 0x00a0_0000 + p),
                );
            }
        }
        round += 1;
    }
    g.out.flush().unwrap();
    g.frames
}

fn vm_hwm_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut size_mb: u64 = 256;
    let mut tshark = true;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--size-mb" => {
                size_mb = args
                    .get(i + 1)
                    .and_then(|v| v.parse().ok())
                    .expect("--size-mb N");
                i += 1;
            }
            "--no-tshark" => tshark = false,
            _ => {} // cargo bench passes --bench
        }
        i += 1;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("synthetic.pcap");
    let t = Instant::now();
    let frames = synthesise(&path, size_mb * 1024 * 1024);
    let bytes = std::fs::metadata(&path).unwrap().len();
    println!(
        "synthesised {:.1} MB, {frames} frames in {:.1} s",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let hwm_before = vm_hwm_kb();
    let t = Instant::now();
    let report = passive::import_path(&path, &ImportOptions::default()).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let ids = report
        .observations
        .iter()
        .filter(|o| matches!(o.fact, otscout::inventory::Fact::Identity { .. }))
        .count();
    println!(
        "otscout passive: {:.2} s, {:.1} MB/s, {:.0} packets/s, {} observations ({ids} identities)",
        secs,
        bytes as f64 / 1e6 / secs,
        report.stats.frames as f64 / secs,
        report.observations.len()
    );
    println!(
        "peak RSS (VmHWM): {} kB (before import: {} kB)",
        vm_hwm_kb().map_or("?".into(), |v| v.to_string()),
        hwm_before.map_or("?".into(), |v| v.to_string())
    );
    if tshark
        && std::process::Command::new("tshark")
            .arg("-v")
            .output()
            .is_ok()
    {
        let t = Instant::now();
        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .args(["-T", "fields", "-e", "frame.number", "-e", "ip.src"])
            .args([
                "-e",
                "modbus.object_str_value",
                "-e",
                "enip.lir.name",
                "-e",
                "enip.lir.serial",
            ])
            .args(["-e", "s7comm.szl.001c.0005.serialn"])
            .output()
            .expect("run tshark");
        let tsecs = t.elapsed().as_secs_f64();
        println!(
            "tshark -T fields (same identity fields): {:.2} s, {:.1} MB/s ({} bytes of output, status {})",
            tsecs,
            bytes as f64 / 1e6 / tsecs,
            out.stdout.len(),
            out.status
        );
        println!("ratio: otscout is {:.1}x tshark's throughput", tsecs / secs);
    } else {
        println!("tshark: not run");
    }
}
