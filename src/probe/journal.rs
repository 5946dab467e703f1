//! The scan journal: every outcome appended as it arrives, as JSON Lines.
//!
//! Line 1 is a [`JournalHeader`]; then one `probe` line per finished protocol probe and
//! one `host` line per finished host (the host line repeats its probes, so a host line
//! alone is enough to rebuild the host). Each line is written with one `write` call
//! straight to the file (no user-space buffer to lose), and `fsync`ed in batches of
//! [`SYNC_BATCH`] lines or every [`SYNC_EVERY`], whichever comes first.
//!
//! Every request is journaled too, as it leaves (a `sent` line: host, protocol, kind,
//! time), so the ledger of a resumed scan counts what every run sent, even a run killed
//! with SIGKILL mid-probe (only a request in the microseconds between its socket write and
//! its journal write can be missed).
//!
//! `--resume JOURNAL` reads it back: hosts with a `host` line are done and not probed
//! again; a host with only `probe` and `sent` lines was cut off mid-way and is
//! [carried](Resumed::carried): its finished probes are kept and not run again, the
//! requests its unfinished probes sent count in the ledger and against the probe's
//! budget (the profile's plan) when the probe runs again. A torn last line (the process died mid-write) is dropped and reported; a bad
//! line anywhere else is an error naming the file and line. Lines are read one at a time,
//! at most [`MAX_LINE`] bytes each.
//!
//! [`Journal::flush`] lets an exit that cannot wait (a second Ctrl-C) push what is queued
//! to the disk within a bound.
//!
//! No clock and no printing here beyond the batching timer of the writer thread.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::report::{HostReport, HostState, ProbeOutcome, ProbeReport, RequestTally};
use crate::inventory::Protocol;

/// The `format` value of a journal header.
pub const JOURNAL_FORMAT: &str = "otscout-scan-journal";
/// The journal format version this otscout writes. Version 2 added `sent` lines; an
/// older otscout refuses a version 2 journal by its version rather than by a line it
/// does not know.
pub const JOURNAL_VERSION: u32 = 2;
/// The oldest journal version this otscout reads (version 1: no `sent` lines; the
/// requests of an unfinished probe are taken from its `probe` line, when it has one).
pub const JOURNAL_VERSION_MIN: u32 = 1;
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
        "journal {path} line {line}: {reason}; the file is damaged or not an otscout scan journal: remove that line to resume (a host it names is probed again), or start a new scan without --resume"
    )]
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("journal {path} is empty: there is nothing to resume; start a new scan instead")]
    Empty { path: PathBuf },
    #[error(
        "journal {path} holds only a torn header: the first run stopped before it recorded anything; delete the file and start a new scan"
    )]
    TornHeader { path: PathBuf },
    #[error(
        "journal {path}: no such file; give the journal the first run wrote (RESULT.json.journal.jsonl beside its result)"
    )]
    NotFound { path: PathBuf },
    #[error("journal {path} is a directory; give the journal file (RESULT.json.journal.jsonl)")]
    NotAFile { path: PathBuf },
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
    Probe {
        ip: IpAddr,
        probe: ProbeReport,
    },
    Host {
        host: HostReport,
    },
    /// One request left the process (written right after the socket write).
    Sent {
        ip: IpAddr,
        protocol: Protocol,
        kind: String,
        at: DateTime<Utc>,
    },
}

/// What a journal holds, read back for `--resume`.
#[derive(Debug, Clone, PartialEq)]
pub struct Resumed {
    pub header: JournalHeader,
    /// Hosts that finished, by address.
    pub done: BTreeMap<IpAddr, HostReport>,
    /// Hosts with probe lines but no host line: they will be probed again.
    pub partial: usize,
    /// Hosts an earlier run started but did not finish, as [`HostState::Interrupted`]
    /// reports: their finished probes (kept, not run again) and, per unfinished probe,
    /// one [`ProbeOutcome::Interrupted`] probe holding the requests every earlier run
    /// sent it (they count in the ledger and against the probe's budget).
    pub carried: BTreeMap<IpAddr, HostReport>,
    /// True when the last line was torn and ignored.
    pub torn_tail: bool,
    /// The torn last line that was dropped (1-based), if any: a line for a host still
    /// being written, so that host is probed again.
    pub torn_line: Option<usize>,
}

/// Longest journal line read back. A host line holds a few identities (their strings
/// capped by the codecs) and its request ledger: kilobytes. A longer line is not ours.
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// Reads a journal for `--resume`.
///
/// Streamed line by line (at most [`MAX_LINE`] bytes each), so a huge or hostile file
/// costs one line of memory beyond what it records. A bad last line is a torn write (the
/// process died mid-line, the normal case after a crash or power loss): it is dropped
/// and named in [`Resumed::torn_line`]. A bad line anywhere else, a header that is not
/// on line 1, or a header of another format or version is an error naming the line.
pub fn read(path: &Path) -> Result<Resumed, JournalError> {
    let io = |source| JournalError::Io {
        path: path.into(),
        source,
    };
    let file = File::open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            JournalError::NotFound { path: path.into() }
        } else {
            io(source)
        }
    })?;
    if file.metadata().map_err(io)?.is_dir() {
        return Err(JournalError::NotAFile { path: path.into() });
    }
    let mut reader = BufReader::new(file);
    let mut header = None;
    let mut done = BTreeMap::new();
    let mut probed: BTreeMap<IpAddr, Vec<ProbeReport>> = BTreeMap::new();
    let mut sent: BTreeMap<IpAddr, SentTallies> = BTreeMap::new();
    let mut buf = Vec::new();
    let mut line = 0usize;
    // A bad line: an error unless no line follows it.
    let mut bad: Option<(usize, String, bool)> = None;
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(io)?;
        if n == 0 {
            break;
        }
        line += 1;
        if let Some((at, reason, _)) = bad.take() {
            return Err(JournalError::Parse {
                path: path.into(),
                line: at,
                reason,
            });
        }
        let ended = buf.last() == Some(&b'\n');
        if !ended && n > MAX_LINE {
            return Err(JournalError::Parse {
                path: path.into(),
                line,
                reason: format!("the line is longer than {MAX_LINE} bytes"),
            });
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed: JournalLine = match serde_json::from_slice(&buf) {
            Ok(l) => l,
            Err(e) => {
                // A header cut anywhere, even inside its tag.
                let tag: &[u8] = br#"{"type":"header""#;
                let starts_header = buf.starts_with(tag) || tag.starts_with(&buf);
                bad = Some((line, e.to_string(), !ended && starts_header));
                continue;
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
                if !(JOURNAL_VERSION_MIN..=JOURNAL_VERSION).contains(&h.version) {
                    return Err(JournalError::Parse {
                        path: path.into(),
                        line,
                        reason: format!(
                            "version {} is not supported (this otscout reads versions {JOURNAL_VERSION_MIN} to {JOURNAL_VERSION})",
                            h.version
                        ),
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
            (JournalLine::Probe { ip, probe }, _) => {
                // Kept only until the host's line says it is done: memory grows with
                // the hosts in flight when the run stopped, not with the scan.
                if !done.contains_key(&ip) {
                    probed.entry(ip).or_default().push(probe);
                }
            }
            (JournalLine::Host { host }, _) => {
                probed.remove(&host.ip);
                sent.remove(&host.ip);
                done.insert(host.ip, host);
            }
            (
                JournalLine::Sent {
                    ip,
                    protocol,
                    kind,
                    at,
                },
                _,
            ) => {
                if !done.contains_key(&ip) {
                    tally(sent.entry(ip).or_default(), protocol, kind, at);
                }
            }
        }
    }
    let mut torn_line = None;
    if let Some((at, reason, torn_header)) = bad {
        if at > 1 {
            torn_line = Some(at);
        } else if torn_header {
            return Err(JournalError::TornHeader { path: path.into() });
        } else {
            return Err(JournalError::Parse {
                path: path.into(),
                line: at,
                reason,
            });
        }
    }
    let header = header.ok_or_else(|| JournalError::Empty { path: path.into() })?;
    let mut carried = BTreeMap::new();
    for ip in probed.keys().chain(sent.keys()) {
        if done.contains_key(ip) || carried.contains_key(ip) {
            continue;
        }
        let probes = probed.get(ip).map(Vec::as_slice).unwrap_or_default();
        carried.insert(*ip, carry(*ip, probes, sent.get(ip)));
    }
    let partial = carried.len();
    Ok(Resumed {
        header,
        done,
        partial,
        carried,
        torn_tail: torn_line.is_some(),
        torn_line,
    })
}

/// Requests per protocol and kind, from `sent` lines.
type SentTallies = BTreeMap<Protocol, BTreeMap<String, RequestTally>>;

fn tally(t: &mut SentTallies, protocol: Protocol, kind: String, at: DateTime<Utc>) {
    t.entry(protocol)
        .or_default()
        .entry(kind.clone())
        .and_modify(|r| {
            r.count += 1;
            r.first = r.first.min(at);
            r.last = r.last.max(at);
        })
        .or_insert(RequestTally {
            kind,
            count: 1,
            first: at,
            last: at,
        });
}

/// Whether a journaled probe ran to its end (and is not run again on resume).
pub fn finished(p: &ProbeReport) -> bool {
    p.outcome != ProbeOutcome::Interrupted && !p.cut_short
}

/// An unfinished host from its journal lines: the finished probes as they are; per
/// protocol with an unfinished probe or requests, one interrupted probe holding the
/// requests (from `sent` lines; a version 1 journal has none, so from the last probe
/// line) and the observations of the last unfinished probe line.
fn carry(ip: IpAddr, probes: &[ProbeReport], sent: Option<&SentTallies>) -> HostReport {
    let mut out: Vec<ProbeReport> = Vec::new();
    let mut unfinished: BTreeMap<Protocol, ProbeReport> = BTreeMap::new();
    for p in probes {
        if finished(p) {
            // A finished probe carries every earlier run's requests in its tallies.
            out.retain(|q| q.protocol != p.protocol);
            unfinished.remove(&p.protocol);
            out.push(p.clone());
        } else if !out.iter().any(|q| q.protocol == p.protocol) {
            unfinished.insert(p.protocol, p.clone());
        }
    }
    let mut protocols: Vec<Protocol> = unfinished.keys().copied().collect();
    for proto in sent.into_iter().flat_map(|s| s.keys()) {
        if !protocols.contains(proto) && !out.iter().any(|q| q.protocol == *proto) {
            protocols.push(*proto);
        }
    }
    for proto in protocols {
        let from_sent: Option<Vec<RequestTally>> = sent
            .and_then(|s| s.get(&proto))
            .map(|k| k.values().cloned().collect());
        let base = unfinished.remove(&proto);
        let requests = match (&from_sent, &base) {
            (Some(r), _) => r.clone(),
            (None, Some(b)) => b.requests.clone(),
            (None, None) => Vec::new(),
        };
        let first = requests.iter().map(|r| r.first).min();
        let last = requests.iter().map(|r| r.last).max();
        let mut p = base.unwrap_or_else(|| ProbeReport {
            protocol: proto,
            // Not known from `sent` lines alone; the probe that runs again says.
            transport: crate::inventory::Transport::Tcp,
            port: 0,
            outcome: ProbeOutcome::Interrupted,
            detail: None,
            started: first.unwrap_or_default(),
            finished: last.unwrap_or_default(),
            connections: 0,
            requests: Vec::new(),
            observations: Vec::new(),
            cut_short: true,
        });
        p.outcome = ProbeOutcome::Interrupted;
        p.cut_short = true;
        p.detail = Some("an earlier run of this scan stopped during this probe".into());
        p.requests = requests;
        out.push(p);
    }
    let started = out.iter().map(|p| p.started).min().unwrap_or_default();
    let finished_at = out.iter().map(|p| p.finished).max().unwrap_or_default();
    HostReport {
        ip,
        state: HostState::Interrupted,
        started,
        finished: finished_at,
        probes: out,
        left_alone: None,
        notes: Vec::new(),
    }
}

/// Appends lines on a writer thread; cheap to clone.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
    tx: mpsc::Sender<Msg>,
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
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let keep = end_of_last_line(&mut file, len).map_err(io)?;
        if torn_tail {
            // The torn line starts after the newline before it; if it got its own
            // newline (its bytes damaged, not cut), that one is not the line's start.
            let start = if keep == len && len > 0 {
                end_of_last_line(&mut file, len - 1).map_err(io)?
            } else {
                keep
            };
            file.set_len(start).map_err(io)?;
            file.sync_data().map_err(io)?;
        } else if keep < len {
            file.write_all(b"\n").map_err(io)?;
        }
        Self::spawn(path, file)
    }

    fn spawn(path: &Path, file: File) -> Result<JournalHandle, JournalError> {
        let (tx, rx) = mpsc::channel::<Msg>();
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
                if self.tx.send(Msg::Line(s)).is_err() {
                    self.set_failed("writer thread ended".into());
                }
            }
            Err(e) => self.set_failed(format!("serialise line: {e}")),
        }
    }

    /// Waits until every line queued before this call is written and synced, or until
    /// `within` has passed; true when they were (false too when a write or fsync
    /// failed: the lines did not reach the disk). For an exit that cannot wait for
    /// [`JournalHandle::finish`] (a second Ctrl-C): what the scan learned up to that
    /// moment reaches the disk unless the disk itself is stuck.
    pub fn flush(&self, within: Duration) -> bool {
        let (ack, done) = mpsc::channel();
        if self.tx.send(Msg::Flush(ack)).is_err() {
            return false;
        }
        done.recv_timeout(within).is_ok() && self.failure().is_none()
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

/// What the writer thread is asked to do, in order.
#[derive(Debug)]
enum Msg {
    Line(String),
    /// Sync what was written and answer.
    Flush(mpsc::Sender<()>),
}

/// The byte offset just past the last newline of a file of `len` bytes (0 when it has
/// none), read backwards from the end: a journal can be large, its torn tail is short.
fn end_of_last_line(file: &mut File, len: u64) -> std::io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    const CHUNK: u64 = 64 * 1024;
    let mut end = len;
    let mut buf = vec![0u8; CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|c| *c == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

fn writer(mut file: File, rx: mpsc::Receiver<Msg>, failed: Arc<Mutex<Option<String>>>) {
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
            Ok(Msg::Flush(ack)) => {
                if pending > 0 {
                    if let Err(e) = file.sync_data() {
                        fail(format!("fsync: {e}"));
                    }
                    pending = 0;
                    last_sync = Instant::now();
                }
                let _ = ack.send(());
            }
            Ok(Msg::Line(line)) => {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> JournalHeader {
        JournalHeader {
            format: JOURNAL_FORMAT.into(),
            version: JOURNAL_VERSION,
            scan_id: "s".into(),
            profile: "test".into(),
            profile_sha256: "ab".into(),
            started: Utc::now(),
            scope: vec![],
            exclusions: vec![],
        }
    }

    #[test]
    fn a_bad_last_line_with_its_newline_is_cut_before_more_lines_follow() {
        // A last line that does not parse but did get its newline (a power loss can
        // leave a line's tail zeroed): dropped like any torn line, and cut from the
        // file, so that a resumed run that stops again can be resumed once more.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        Journal::create(&path, &header()).unwrap().finish().unwrap();
        let mut text = std::fs::read(&path).unwrap();
        text.extend_from_slice(b"{\"type\":\"host\",\"ho\0\0\0\n");
        std::fs::write(&path, &text).unwrap();
        let r = read(&path).unwrap();
        assert_eq!(r.torn_line, Some(2));
        let h = Journal::append_to(&path, r.torn_tail).unwrap();
        let now = Utc::now();
        h.journal().unwrap().append(&JournalLine::Host {
            host: HostReport {
                ip: "127.23.7.9".parse().unwrap(),
                state: super::super::report::HostState::Done,
                started: now,
                finished: now,
                probes: vec![],
                left_alone: None,
                notes: vec![],
            },
        });
        h.finish().unwrap();
        let r = read(&path).expect("a resumed journal resumes again");
        assert_eq!(r.torn_line, None);
        assert_eq!(r.done.len(), 1);
    }

    /// A journal written before the host states and probe outcomes moved to the scan
    /// result's vocabulary (`inventory::scan`) reads as it did: the same lines, the same
    /// host.
    #[test]
    fn a_journal_line_as_written_before_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let header = serde_json::to_string(&JournalLine::Header(header())).unwrap();
        let host = r#"{"type":"host","host":{"ip":"127.23.7.9","state":"done","started":"2026-01-01T00:00:01Z","finished":"2026-01-01T00:00:09Z","probes":[{"protocol":"modbus","transport":"tcp","port":502,"outcome":"identified","started":"2026-01-01T00:00:01Z","finished":"2026-01-01T00:00:02Z","connections":1,"requests":[],"observations":[]},{"protocol":"enip","transport":"tcp","port":44818,"outcome":"left_alone","started":"2026-01-01T00:00:09Z","finished":"2026-01-01T00:00:09Z","connections":0,"requests":[],"observations":[]}],"left_alone":{"reason":"held_open","protocol":"modbus","port":502,"fin_at":"2026-01-01T00:00:02Z","hold_ms":5000}}}"#;
        std::fs::write(&path, format!("{header}\n{host}\n")).unwrap();
        let r = read(&path).unwrap();
        let h = &r.done[&"127.23.7.9".parse::<IpAddr>().unwrap()];
        assert_eq!(h.state, HostState::Done);
        let outcomes: Vec<ProbeOutcome> = h.probes.iter().map(|p| p.outcome).collect();
        assert_eq!(
            outcomes,
            [ProbeOutcome::Identified, ProbeOutcome::LeftAlone]
        );
        assert!(matches!(
            h.left_alone,
            Some(super::super::report::LeftAlone::HeldOpen { hold_ms: 5000, .. })
        ));
        assert_eq!(
            serde_json::to_string(&JournalLine::Host { host: h.clone() }).unwrap(),
            host
        );
    }

    /// Two protocols of the registry: the journal keeps a host's probes apart by protocol,
    /// whichever they are.
    fn two_protocols() -> (Protocol, Protocol) {
        let r = crate::protocols::REGISTRY;
        (r[0].protocol(), r[1].protocol())
    }

    fn probe(outcome: ProbeOutcome, count: u64) -> ProbeReport {
        let now = Utc::now();
        ProbeReport {
            protocol: two_protocols().1,
            transport: crate::inventory::Transport::Tcp,
            port: 502,
            outcome,
            detail: None,
            started: now,
            finished: now,
            connections: 1,
            requests: vec![RequestTally {
                kind: "modbus.read_device_id".into(),
                count,
                first: now,
                last: now,
            }],
            observations: vec![],
            cut_short: false,
        }
    }

    #[test]
    fn an_unfinished_host_carries_its_sends_and_finished_probes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let h = Journal::create(&path, &header()).unwrap();
        let j = h.journal().unwrap().clone();
        let a: IpAddr = "127.23.7.1".parse().unwrap();
        let b: IpAddr = "127.23.7.2".parse().unwrap();
        let now = Utc::now();
        let (first, second) = two_protocols();
        // a: the first protocol finished (its own tallies), the second cut after two sends
        // (no probe line: the run was killed).
        let mut done = probe(ProbeOutcome::Refused, 0);
        done.protocol = first;
        done.requests.clear();
        j.append(&JournalLine::Probe { ip: a, probe: done });
        for _ in 0..2 {
            j.append(&JournalLine::Sent {
                ip: a,
                protocol: second,
                kind: "modbus.read_device_id".into(),
                at: now,
            });
        }
        // b: a version 1 style interrupted probe line with no `sent` lines.
        j.append(&JournalLine::Probe {
            ip: b,
            probe: probe(ProbeOutcome::Interrupted, 1),
        });
        // The writer ends when the last handle is gone.
        drop(j);
        h.finish().unwrap();
        let r = read(&path).unwrap();
        assert_eq!(r.partial, 2);
        let ha = &r.carried[&a];
        assert_eq!(ha.state, HostState::Interrupted);
        assert!(ha.probes.iter().any(|p| p.protocol == first && finished(p)));
        let m = ha.probes.iter().find(|p| p.protocol == second).unwrap();
        assert!(!finished(m));
        assert_eq!(m.requests[0].count, 2);
        let mb = &r.carried[&b].probes[0];
        assert_eq!(
            (mb.outcome, mb.requests[0].count),
            (ProbeOutcome::Interrupted, 1)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_flush_after_a_failed_write_says_the_lines_are_not_on_disk() {
        // /dev/full refuses every write (ENOSPC), as a full disk would: the second
        // Ctrl-C must not report the journal intact.
        let path = Path::new("/dev/full");
        let h = Journal::append_to(path, false).unwrap();
        let j = h.journal().unwrap().clone();
        j.append(&JournalLine::Header(header()));
        assert!(!j.flush(Duration::from_secs(5)));
        assert!(j.failure().is_some());
    }
}
