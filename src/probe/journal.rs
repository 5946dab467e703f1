//! The scan journal: every outcome appended as it arrives, as JSON Lines.
//!
//! Line 1 is a [`JournalHeader`]; then one `probe` line per finished protocol probe and
//! one `host` line per finished host (the host line repeats its probes, so a host line
//! alone is enough to rebuild the host). Each line is written with one `write` call
//! straight to the file (no user-space buffer to lose), and `fsync`ed in batches of
//! [`SYNC_BATCH`] lines or every [`SYNC_EVERY`], whichever comes first.
//!
//! `--resume JOURNAL` reads it back: hosts with a `host` line are done and not probed
//! again; a host with only `probe` lines was cut off mid-way and is probed again from the
//! start. A torn last line (the process died mid-write) is ignored; a bad line anywhere
//! else is an error naming the file and line.
//!
//! No clock and no printing here beyond the batching timer of the writer thread.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::scan::{HostReport, ProbeReport};

/// The `format` value of a journal header.
pub const JOURNAL_FORMAT: &str = "otscout-scan-journal";
/// Lines written between two fsyncs at most.
pub const SYNC_BATCH: usize = 32;
/// Longest time a written line waits for its fsync.
pub const SYNC_EVERY: Duration = Duration::from_millis(500);

/// Why the journal could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "journal {path} line {line}: {reason}; the file is not an otscout scan journal or is damaged"
    )]
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("journal {path} is empty: there is nothing to resume; start a new scan instead")]
    Empty { path: PathBuf },
    #[error(
        "journal {path} was written with profile {journal_profile} (sha256 {journal_sha}), this scan uses {profile} (sha256 {sha}); resume with the same profile"
    )]
    ProfileMismatch {
        path: PathBuf,
        journal_profile: String,
        journal_sha: String,
        profile: String,
        sha: String,
    },
    #[error(
        "journal {path} already exists; pass --resume {path} to continue it, or choose another file"
    )]
    Exists { path: PathBuf },
    #[error("journal {path}: writer failed: {reason}")]
    Writer { path: PathBuf, reason: String },
}

/// The first line of a journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalHeader {
    /// Always [`JOURNAL_FORMAT`].
    pub format: String,
    pub version: u32,
    pub scan_id: String,
    pub profile: String,
    pub profile_sha256: String,
    pub started: DateTime<Utc>,
    /// The target specs as given.
    #[serde(default)]
    pub scope: Vec<String>,
    #[serde(default)]
    pub exclusions: Vec<String>,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JournalLine {
    Header(JournalHeader),
    Probe { ip: IpAddr, probe: ProbeReport },
    Host { host: HostReport },
}

/// What a journal holds, read back for `--resume`.
#[derive(Debug, Clone, PartialEq)]
pub struct Resumed {
    pub header: JournalHeader,
    /// Hosts that finished, by address.
    pub done: BTreeMap<IpAddr, HostReport>,
    /// Hosts with probe lines but no host line: they will be probed again.
    pub partial: usize,
    /// True when the last line was torn and ignored.
    pub torn_tail: bool,
}

/// Reads a journal for `--resume`.
pub fn read(path: &Path) -> Result<Resumed, JournalError> {
    let file = File::open(path).map_err(|source| JournalError::Io {
        path: path.into(),
        source,
    })?;
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|source| JournalError::Io {
            path: path.into(),
            source,
        })?;
    let mut header = None;
    let mut done = BTreeMap::new();
    let mut probed = std::collections::BTreeSet::new();
    let mut torn_tail = false;
    let last = lines.len();
    for (i, text) in lines.iter().enumerate() {
        let line = i + 1;
        if text.trim().is_empty() {
            continue;
        }
        let parsed: JournalLine = match serde_json::from_str(text) {
            Ok(l) => l,
            Err(_) if line == last && line > 1 => {
                torn_tail = true;
                continue;
            }
            Err(e) => {
                return Err(JournalError::Parse {
                    path: path.into(),
                    line,
                    reason: e.to_string(),
                });
            }
        };
        match (parsed, line) {
            (JournalLine::Header(h), 1) => {
                if h.format != JOURNAL_FORMAT {
                    return Err(JournalError::Parse {
                        path: path.into(),
                        line,
                        reason: format!("format is {:?}, expected {JOURNAL_FORMAT:?}", h.format),
                    });
                }
                header = Some(h);
            }
            (_, 1) | (JournalLine::Header(_), _) => {
                return Err(JournalError::Parse {
                    path: path.into(),
                    line,
                    reason: "the header must be the first line and only there".into(),
                });
            }
            (JournalLine::Probe { ip, .. }, _) => {
                probed.insert(ip);
            }
            (JournalLine::Host { host }, _) => {
                done.insert(host.ip, host);
            }
        }
    }
    let header = header.ok_or_else(|| JournalError::Empty { path: path.into() })?;
    let partial = probed.iter().filter(|ip| !done.contains_key(ip)).count();
    Ok(Resumed {
        header,
        done,
        partial,
        torn_tail,
    })
}

/// Appends lines on a writer thread; cheap to clone.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
    tx: mpsc::Sender<String>,
    failed: Arc<Mutex<Option<String>>>,
}

/// Owns the writer thread; [`JournalHandle::finish`] syncs and closes.
#[derive(Debug)]
pub struct JournalHandle {
    journal: Option<Journal>,
    thread: Option<JoinHandle<()>>,
}

impl Journal {
    /// Creates a new journal (refusing to overwrite one) and writes its header.
    pub fn create(path: &Path, header: &JournalHeader) -> Result<JournalHandle, JournalError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|source| {
                if source.kind() == std::io::ErrorKind::AlreadyExists {
                    JournalError::Exists { path: path.into() }
                } else {
                    JournalError::Io {
                        path: path.into(),
                        source,
                    }
                }
            })?;
        let handle = Self::spawn(path, file)?;
        if let Some(j) = &handle.journal {
            j.append(&JournalLine::Header(header.clone()));
        }
        Ok(handle)
    }

    /// Reopens an existing journal for appending (after [`read`]). A torn last line is
    /// cut off (it holds nothing [`read`] would use, and left in place it would sit in
    /// the middle of the file once more lines follow, where it is an error); a complete
    /// last line without its newline gets one, so the next line starts clean.
    pub fn append_to(path: &Path, torn_tail: bool) -> Result<JournalHandle, JournalError> {
        let io = |source| JournalError::Io {
            path: path.into(),
            source,
        };
        let mut file = OpenOptions::new().append(true).open(path).map_err(io)?;
        let bytes = std::fs::read(path).map_err(io)?;
        if torn_tail {
            let keep = bytes.iter().rposition(|c| *c == b'\n').map_or(0, |i| i + 1);
            file.set_len(keep as u64).map_err(io)?;
            file.sync_data().map_err(io)?;
        } else if bytes.last().is_some_and(|c| *c != b'\n') {
            file.write_all(b"\n").map_err(io)?;
        }
        Self::spawn(path, file)
    }

    fn spawn(path: &Path, file: File) -> Result<JournalHandle, JournalError> {
        let (tx, rx) = mpsc::channel::<String>();
        let failed = Arc::new(Mutex::new(None));
        let thread_failed = Arc::clone(&failed);
        let thread = std::thread::Builder::new()
            .name("otscout-journal".into())
            .spawn(move || writer(file, rx, thread_failed))
            .map_err(|source| JournalError::Io {
                path: path.into(),
                source,
            })?;
        Ok(JournalHandle {
            journal: Some(Journal {
                path: path.into(),
                tx,
                failed,
            }),
            thread: Some(thread),
        })
    }

    /// Queues one line. Serialising our own types cannot fail; a write failure is
    /// reported by [`Journal::failure`] and by [`JournalHandle::finish`].
    pub fn append(&self, line: &JournalLine) {
        match serde_json::to_string(line) {
            Ok(mut s) => {
                s.push('\n');
                if self.tx.send(s).is_err() {
                    self.set_failed("writer thread ended".into());
                }
            }
            Err(e) => self.set_failed(format!("serialise line: {e}")),
        }
    }

    /// The first write failure, if any.
    pub fn failure(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn set_failed(&self, reason: String) {
        let mut f = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(reason);
        }
    }
}

impl JournalHandle {
    /// A sender for appending lines.
    pub fn journal(&self) -> Option<&Journal> {
        self.journal.as_ref()
    }

    /// Waits for every queued line to be written and synced.
    pub fn finish(mut self) -> Result<(), JournalError> {
        let journal = self.journal.take();
        let path = journal.as_ref().map(|j| j.path.clone()).unwrap_or_default();
        let failed = journal.as_ref().map(|j| Arc::clone(&j.failed));
        drop(journal);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                return Err(JournalError::Writer {
                    path,
                    reason: "writer thread panicked".into(),
                });
            }
        }
        let reason = failed.and_then(|f| f.lock().unwrap_or_else(|p| p.into_inner()).clone());
        match reason {
            Some(reason) => Err(JournalError::Writer { path, reason }),
            None => Ok(()),
        }
    }
}

fn writer(mut file: File, rx: mpsc::Receiver<String>, failed: Arc<Mutex<Option<String>>>) {
    let mut pending = 0usize;
    let mut last_sync = Instant::now();
    let fail = |reason: String| {
        let mut f = failed.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(reason);
        }
    };
    loop {
        match rx.recv_timeout(SYNC_EVERY) {
            Ok(line) => {
                if let Err(e) = file.write_all(line.as_bytes()) {
                    fail(format!("write: {e}"));
                }
                pending += 1;
                if pending >= SYNC_BATCH || last_sync.elapsed() >= SYNC_EVERY {
                    if let Err(e) = file.sync_data() {
                        fail(format!("fsync: {e}"));
                    }
                    pending = 0;
                    last_sync = Instant::now();
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if pending > 0 {
                    if let Err(e) = file.sync_data() {
                        fail(format!("fsync: {e}"));
                    }
                    pending = 0;
                    last_sync = Instant::now();
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                if let Err(e) = file.sync_data() {
                    fail(format!("fsync: {e}"));
                }
                return;
            }
        }
    }
}
