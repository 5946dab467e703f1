//! `--lock FILE`: at most one otscout run at a time for cron jobs and timers.
//!
//! The lock is an OS lock on the file (`flock` on Unix, `LockFileEx` on Windows, through
//! the `fs4` crate; `std::fs::File::try_lock` needs Rust 1.89, above our MSRV): the
//! kernel releases it when its holder exits, however it exits (kill -9, OOM, a pod
//! deleted). A leftover file is therefore never a stale lock:
//! only a live holder of the OS lock blocks. The file holds the holder's process id for
//! the error message only; it decides nothing. (It used to: a process id written by a
//! killed run and reused by an unrelated process, as in every fresh PID namespace of a
//! Kubernetes CronJob pod, blocked all later runs.)
//!
//! The file is removed when the run ends. A run that opened the old file just before it
//! was removed holds a lock on a file that no longer has the name: it notices (the path
//! names another file, or none) and starts over, so two runs never both hold "the" lock.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use fs4::TryLockError;

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "lock {path} is held by process {pid}: another otscout run is in progress; try again when it ends"
    )]
    Held { path: PathBuf, pid: String },
    #[error("lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "lock {path} is not a regular file; give a file path for --lock (it is created if missing)"
    )]
    NotAFile { path: PathBuf },
    #[error("lock {path} kept changing while it was being taken; try again")]
    Unsettled { path: PathBuf },
}

/// A held lock; dropping it removes the file and releases the OS lock.
#[derive(Debug)]
pub struct LockGuard {
    path: PathBuf,
    // Held for its OS lock; closing it releases the lock.
    _file: File,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Removed while still locked: a run waiting on this file finds it gone and
        // starts over on a new one.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Takes the lock at `path`, or says who holds it.
pub fn acquire(path: &Path) -> Result<LockGuard, LockError> {
    let io = |source| LockError::Io {
        path: path.to_owned(),
        source,
    };
    // A few rounds: another run may remove the file between our open and our lock.
    for _ in 0..8 {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        if !file.metadata().map_err(io)?.is_file() {
            return Err(LockError::NotAFile {
                path: path.to_owned(),
            });
        }
        // Named in full: std's inherent `File::try_lock` (1.89) would shadow the trait's.
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    path: path.to_owned(),
                    pid: holder(&mut file),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        if !same_file(&file, path) {
            // The holder we waited on removed it as it ended: lock the new one instead.
            continue;
        }
        // Information only: the process id of the holder, for the next run's message.
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        return Ok(LockGuard {
            path: path.to_owned(),
            _file: file,
        });
    }
    Err(LockError::Unsettled {
        path: path.to_owned(),
    })
}

/// The process id the holder wrote, as text for the message (`unknown` when unreadable).
fn holder(file: &mut File) -> String {
    // A process id and a newline; read no more than that.
    let mut buf = Vec::new();
    let read = file.seek(SeekFrom::Start(0)).is_ok()
        && (&mut *file).take(32).read_to_end(&mut buf).is_ok();
    let text = String::from_utf8_lossy(&buf);
    match text.trim().parse::<u32>() {
        Ok(pid) if read => pid.to_string(),
        _ => "unknown".into(),
    }
}

/// Whether `path` still names the file we hold open.
#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    // Windows refuses to remove a file another process has open, so the name cannot
    // move under a holder.
    path.exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_is_refused_while_held_and_allowed_after() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("otscout.lock");
        let g = acquire(&p).expect("first");
        // A second handle in the same process: the OS lock is per open file.
        let e = acquire(&p).expect_err("second");
        assert!(
            matches!(&e, LockError::Held { pid, .. } if *pid == std::process::id().to_string()),
            "{e}"
        );
        assert!(e.to_string().contains("another otscout run"), "{e}");
        drop(g);
        assert!(!p.exists());
        drop(acquire(&p).expect("after release"));
    }

    #[test]
    fn a_leftover_file_with_a_live_pid_does_not_block() {
        // What a killed run leaves in a fresh PID namespace: its file, holding a process
        // id that is alive again (here: this very test). Nobody holds the OS lock.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("otscout.lock");
        std::fs::write(&p, format!("{}\n", std::process::id())).unwrap();
        let g = acquire(&p).expect("a leftover file is no lock");
        drop(g);
        std::fs::write(&p, "1\n").unwrap();
        drop(acquire(&p).expect("pid 1 written, no holder"));
        std::fs::write(&p, "not a pid").unwrap();
        drop(acquire(&p).expect("garbage, no holder"));
    }

    #[test]
    fn a_lock_path_naming_a_device_is_refused() {
        let p = Path::new("/dev/zero");
        if !p.exists() {
            return;
        }
        let e = acquire(p).expect_err("/dev/zero is no lock");
        assert!(matches!(e, LockError::NotAFile { .. }), "{e}");
    }
}
