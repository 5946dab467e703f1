//! Passive import: what captures, Zeek/ICSNPP logs and CSV inventories already say,
//! turned into the same [`Observation`]s an active scan produces.
//!
//! Passive data costs the plant nothing, so otscout learns all it can from it first and
//! probes actively only what is still unknown ([`hints`] tells the scanner which hosts,
//! Modbus unit ids and S7 TSAPs the data shows, and which hosts already have an identity).
//!
//! # Entry points
//! - [`import_path`]: one file of any supported kind, detected by its content (magic bytes,
//!   never the extension); `.gz` files are decompressed on the fly.
//! - [`import_paths`]: several files into one [`ObservationFile`].
//! - [`import_bytes`]: the same from memory (tests, fuzzing, `otscout demo`).
//!
//! Every import returns an [`ImportReport`]: the observations, counters, and warnings
//! such as `stopped at frame 1234, byte offset 567: truncated record`. A damaged input
//! yields what was valid before the damage plus that warning; only an input that cannot
//! be read at all (not a supported format, an unsupported link type, unreadable) is an
//! [`ImportError`].
//!
//! # What this module never does
//! It never sends a packet and never trusts the capture: every header, length and count
//! is bounds-checked (see [`packet`], [`tcp`], [`defrag`] and `wire/`), memory is bounded
//! by caps on flows, buffers, fragments and hosts and by a global reassembly budget
//! ([`ImportOptions::reassembly_budget`]), and nothing here panics on any input (fuzzed
//! in `fuzz/fuzz_targets/passive_*.rs`).
//!
//! # Which addresses become assets
//! Only an address seen as the IP source of a packet (or the destination of a TCP
//! handshake that completed) is the subject of an observation, and never one that was the
//! destination of a frame sent to a link-layer broadcast or multicast group: a directed
//! broadcast such as 192.168.1.255 is never an asset, nor a `scan --from-passive` target
//! ([`hints::shows_a_host`] applies the same rule to observation files). What was left
//! out is counted ([`ImportStats::unproven`]) and named in [`ImportReport::notes`].
//!
//! # Identity versus control
//! An identity is recorded only from a reply to an identity request (Modbus FC 43/14,
//! ENIP List Identity, CIP Get_Attributes_All on the Identity object, S7 SZL
//! 0x0011/0x001C). Writes, control and program transfers are recorded as
//! [`crate::inventory::Fact::Operation`] on the target with the actor, a count and first/last times: a
//! capture of writes alone yields no identity.

pub mod capture;
pub mod collect;
pub mod csv;
pub mod defrag;
pub mod detect;
pub mod engine;
pub mod hints;
pub mod packet;
pub mod stats;
pub mod tcp;
pub mod zeek;

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::Serialize;

pub use crate::protocols::analyzer;
pub use hints::{PassiveHints, hints};
pub use stats::ImportStats;

use crate::inventory::{OBSERVATIONS_FORMAT, Observation, ObservationFile};

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Force the input kind instead of detecting it from the content.
    pub kind: Option<InputKind>,
    /// Captures: bytes all TCP streams may hold at once; `None` is
    /// [`engine::DEFAULT_REASSEMBLY_BUDGET`] (256 MiB).
    pub reassembly_budget: Option<usize>,
}

/// The kinds of input passive import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    Pcap,
    PcapNg,
    /// A Zeek log (TSV with `#fields`, or JSON lines).
    Zeek,
    /// A CSV inventory.
    Csv,
}

/// What one import produced.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub file: String,
    pub kind: InputKind,
    pub observations: Vec<Observation>,
    pub stats: ImportStats,
    /// Lowercase, each naming the place (frame and byte offset, line, row). A warning
    /// means the result may be partial (the CLI exits with the partial code).
    pub warnings: Vec<String>,
    /// What was deliberately left out and why (a broadcast address is not a host): shown
    /// in the summary, not a sign of damage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// When a capture ended early: where and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<capture::Stopped>,
}

/// Why an input could not be imported at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a capture, Zeek log or CSV inventory: it looks like {looks_like}")]
    Unsupported { path: PathBuf, looks_like: String },
    #[error("{path}: {source}")]
    Capture {
        path: PathBuf,
        source: capture::CaptureError,
    },
    #[error("{path}: {source}")]
    Zeek {
        path: PathBuf,
        source: zeek::ZeekError,
    },
    #[error("{path}: {source}")]
    Csv {
        path: PathBuf,
        source: csv::CsvError,
    },
}

/// Imports one file, detecting its kind from its content.
pub fn import_path(path: &Path, opts: &ImportOptions) -> Result<ImportReport, ImportError> {
    let file = std::fs::File::open(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    import_reader(
        path,
        Box::new(BufReader::with_capacity(64 * 1024, file)),
        opts,
    )
}

/// Imports from memory; `name` stands for the file in provenance and messages.
pub fn import_bytes(
    name: &str,
    bytes: &[u8],
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    import_reader(Path::new(name), Box::new(bytes), opts)
}

/// Imports several files into one observation file (the order of `paths` is kept).
pub fn import_paths(
    paths: &[PathBuf],
    opts: &ImportOptions,
) -> Result<(ObservationFile, Vec<ImportReport>), ImportError> {
    let mut reports = Vec::new();
    for p in paths {
        reports.push(import_path(p, opts)?);
    }
    let file = observation_file(&reports);
    Ok((file, reports))
}

/// Folds reports into the [`ObservationFile`] `otscout passive` writes.
pub fn observation_file(reports: &[ImportReport]) -> ObservationFile {
    ObservationFile {
        format: OBSERVATIONS_FORMAT.to_string(),
        version: 1,
        sources: reports.iter().map(|r| r.file.clone()).collect(),
        observations: reports
            .iter()
            .flat_map(|r| r.observations.iter().cloned())
            .collect(),
    }
}

/// What a gzip member decompresses to is read again by content; nested gzip is refused.
/// A damaged or truncated gzip stream ends the input where it stopped decompressing: what
/// came before is imported, and a warning names the decompressed byte offset and line.
fn import_reader<'a>(
    path: &Path,
    mut rd: Box<dyn BufRead + 'a>,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let head = rd.fill_buf().map_err(io)?.to_vec();
    let gz_stop: Rc<RefCell<GzState>> = Rc::default();
    let mut rd = if head.starts_with(&[0x1f, 0x8b]) {
        let gz = GzGuard {
            inner: flate2::bufread::MultiGzDecoder::new(rd),
            state: Rc::clone(&gz_stop),
        };
        let mut inner: Box<dyn BufRead + 'a> = Box::new(BufReader::with_capacity(64 * 1024, gz));
        let head = inner.fill_buf().map_err(io)?;
        if head.starts_with(&[0x1f, 0x8b]) {
            return Err(ImportError::Unsupported {
                path: path.to_path_buf(),
                looks_like: "gzip inside gzip".into(),
            });
        }
        if head.is_empty() {
            if let Some(e) = gz_stop.borrow_mut().error.take() {
                return Err(io(std::io::Error::new(
                    e.kind(),
                    format!("gzip data damaged before anything decompressed: {e}"),
                )));
            }
        }
        inner
    } else {
        rd
    };
    let mut report = import_plain(path, &mut rd, opts)?;
    let gz = gz_stop.borrow();
    if let Some(e) = &gz.error {
        let reason = if e.kind() == std::io::ErrorKind::UnexpectedEof {
            "the gzip data ends early (a truncated copy?)".to_owned()
        } else {
            format!("the gzip data is damaged ({e})")
        };
        report.warnings.push(format!(
            "{}: {reason}: decompressing stopped at byte offset {} (line {}) of the decompressed data; what came before was imported",
            path.display(),
            gz.offset,
            gz.newlines + 1
        ));
    }
    Ok(report)
}

/// Where a gzip stream stopped decompressing, and why.
#[derive(Debug, Default)]
struct GzState {
    /// Decompressed bytes handed on.
    offset: u64,
    newlines: u64,
    error: Option<std::io::Error>,
}

/// A gzip decoder whose first error becomes the end of its data, recorded in `state`: a
/// truncated `.pcapng.gz` (missing only its 4-byte trailer, say) reads as the capture it
/// holds instead of failing whole.
struct GzGuard<R> {
    inner: R,
    state: Rc<RefCell<GzState>>,
}

impl<R: Read> Read for GzGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut st = self.state.borrow_mut();
        if st.error.is_some() {
            return Ok(0);
        }
        match self.inner.read(buf) {
            Ok(n) => {
                st.offset += n as u64;
                // memchr's vectorised count: this runs over every decompressed byte.
                st.newlines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
                Ok(n)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                st.error = Some(e);
                Ok(0)
            }
        }
    }
}

/// Imports an uncompressed stream, detecting its kind from its first bytes.
fn import_plain<'a>(
    path: &Path,
    rd: &mut Box<dyn BufRead + 'a>,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let head = rd.fill_buf().map_err(io)?.to_vec();
    let name = path.display().to_string();
    let kind = match opts.kind {
        Some(k) => k,
        None => detect(&head).map_err(|looks_like| ImportError::Unsupported {
            path: path.to_path_buf(),
            looks_like,
        })?,
    };
    match kind {
        InputKind::Pcap | InputKind::PcapNg => {
            let fmt = if kind == InputKind::Pcap {
                capture::CaptureFormat::Pcap
            } else {
                capture::CaptureFormat::PcapNg
            };
            let copts = engine::CaptureOptions {
                reassembly_budget: opts
                    .reassembly_budget
                    .unwrap_or(engine::DEFAULT_REASSEMBLY_BUDGET),
            };
            import_capture_with(&name, rd, fmt, &copts).map_err(|source| ImportError::Capture {
                path: path.to_path_buf(),
                source,
            })
        }
        InputKind::Zeek => zeek::import(&name, Box::new(rd)).map_err(|source| ImportError::Zeek {
            path: path.to_path_buf(),
            source,
        }),
        InputKind::Csv => csv::import(&name, Box::new(rd)).map_err(|source| ImportError::Csv {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Imports a capture stream of a known format.
pub fn import_capture<R: Read>(
    name: &str,
    reader: R,
    format: capture::CaptureFormat,
) -> Result<ImportReport, capture::CaptureError> {
    import_capture_with(name, reader, format, &engine::CaptureOptions::default())
}

/// [`import_capture`] with explicit engine options (the reassembly budget).
pub fn import_capture_with<R: Read>(
    name: &str,
    reader: R,
    format: capture::CaptureFormat,
    opts: &engine::CaptureOptions,
) -> Result<ImportReport, capture::CaptureError> {
    let mut eng = engine::Engine::with_options(name, opts);
    let stopped = capture::read_frames(reader, format, |f| eng.frame(f))?;
    if let Some(s) = &stopped {
        eng.warn(format!(
            "stopped at frame {}, byte offset {}: {}",
            s.frame, s.offset, s.reason
        ));
    }
    let (col, mut stats, warnings) = eng.finish();
    let mut notes = Vec::new();
    let (observations, unproven) = col.finish();
    stats.unproven = unproven.observations;
    if unproven.observations > 0 {
        let sample: Vec<String> = unproven.sample.iter().map(|ip| ip.to_string()).collect();
        notes.push(format!(
            "{} observations about {} addresses never seen sending (broadcast or group \
             destinations, or hosts that never answered in this capture) were left out, so \
             they are neither assets nor scan targets: {}{}",
            unproven.observations,
            unproven.addresses,
            sample.join(", "),
            if unproven.addresses > sample.len() as u64 {
                ", ..."
            } else {
                ""
            }
        ));
    }
    Ok(ImportReport {
        file: name.to_string(),
        kind: match format {
            capture::CaptureFormat::Pcap => InputKind::Pcap,
            capture::CaptureFormat::PcapNg => InputKind::PcapNg,
        },
        observations,
        stats,
        warnings,
        notes,
        stopped,
    })
}

/// Text (a CSV saved as Latin-1, a log with one bad byte) that is not UTF-8: where the
/// first bad byte is, so the fix is one look away. `None` when the bytes are not text.
fn not_utf8(head: &[u8]) -> Option<String> {
    let e = std::str::from_utf8(head).err()?;
    // A character cut at the end of the buffer is not a bad byte.
    e.error_len()?;
    let lossy = String::from_utf8_lossy(head);
    let odd = lossy
        .chars()
        .filter(|c| *c == '\u{fffd}' || (c.is_control() && !matches!(c, '\t' | '\r' | '\n')))
        .count();
    // A few bad bytes in text (one accented letter in Latin-1); binary has them throughout.
    if lossy.contains('\0') || odd > 2 + lossy.len() / 50 {
        return None;
    }
    let offset = e.valid_up_to();
    let line = 1 + head[..offset].iter().filter(|&&b| b == b'\n').count();
    Some(format!(
        "text that is not UTF-8: line {line}, byte offset {offset} is 0x{:02x}; save the file as UTF-8",
        head[offset]
    ))
}

/// Says which kind of input the first bytes are, or what they look like instead.
pub fn detect(head: &[u8]) -> Result<InputKind, String> {
    if let Some(f) = capture::sniff(head) {
        return Ok(match f {
            capture::CaptureFormat::Pcap => InputKind::Pcap,
            capture::CaptureFormat::PcapNg => InputKind::PcapNg,
        });
    }
    if head.is_empty() {
        return Err("an empty file".into());
    }
    let binary: &[(&[u8], &str)] = &[
        (
            &[0xa1, 0xb2, 0xcd, 0x34],
            "a Kuznetzov-modified pcap (not supported: convert with editcap)",
        ),
        (
            &[0x34, 0xcd, 0xb2, 0xa1],
            "a Kuznetzov-modified pcap (not supported: convert with editcap)",
        ),
        (
            b"snoop\0\0\0",
            "a Solaris snoop capture (convert with editcap -F pcap)",
        ),
        (
            b"GMBU",
            "a Microsoft Network Monitor capture (convert with editcap -F pcap)",
        ),
        (b"PK\x03\x04", "a ZIP archive (unzip it first)"),
        (b"%PDF", "a PDF document"),
        (b"\x7fELF", "an ELF executable"),
        (b"MZ", "a Windows executable"),
        (
            &[0xd0, 0xcf, 0x11, 0xe0],
            "a legacy Microsoft Office document (save the sheet as CSV)",
        ),
        (b"BZh", "a bzip2 archive (decompress it first)"),
        (
            &[0xfd, b'7', b'z', b'X', b'Z'],
            "an xz archive (decompress it first)",
        ),
        (
            &[0x28, 0xb5, 0x2f, 0xfd],
            "a zstd archive (decompress it first)",
        ),
        (b"SQLite format 3", "an SQLite database"),
        (&[0x89, b'P', b'N', b'G'], "a PNG image"),
    ];
    for (magic, what) in binary {
        if head.starts_with(magic) {
            return Err((*what).to_string());
        }
    }
    let text = std::str::from_utf8(head).ok().or_else(|| {
        // A buffer can end inside a multi-byte character.
        let cut = head.len().saturating_sub(3);
        (0..3).find_map(|k| std::str::from_utf8(&head[..cut + k]).ok())
    });
    // Text has no NULs and few control characters besides tab, CR and LF.
    let text = text.filter(|t| {
        !t.contains('\0')
            && t.chars()
                .filter(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
                .count()
                * 100
                <= t.len()
    });
    let Some(text) = text else {
        return Err(not_utf8(head).unwrap_or_else(|| {
            format!(
                "binary data of an unknown format (first bytes {})",
                hex::encode(&head[..head.len().min(8)])
            )
        }));
    };
    let text = text.trim_start_matches('\u{feff}');
    let first = text.lines().next().unwrap_or("").trim();
    if first.starts_with("#separator") || first.starts_with("#fields") {
        return Ok(InputKind::Zeek);
    }
    if first.starts_with('{') {
        // JSON lines: Zeek's JSON writer puts `ts` and `uid` or `_path` in each record.
        if first.contains("\"ts\"") || first.contains("\"_path\"") {
            return Ok(InputKind::Zeek);
        }
        return Err("JSON that is not a Zeek log (no \"ts\" field)".into());
    }
    if first.starts_with('[') {
        return Err(
            "a JSON array (an otscout observation file or report? pass it to `otscout merge`)"
                .into(),
        );
    }
    if first.starts_with('<') {
        return Err("XML or HTML".into());
    }
    if first.contains(',') || first.contains(';') {
        return Ok(InputKind::Csv);
    }
    Err(format!(
        "text that is neither a Zeek log nor a CSV with a header (first line: {:?})",
        first.chars().take(60).collect::<String>()
    ))
}
