//! `--lock FILE`: at most one otscout run at a time for cron jobs and timers.
//!
//! The lock is a file created with O_EXCL (`create_new`) holding the owner's process id;
//! it is removed when the run ends. A lock left by a run that died (kill -9, power loss)
//! is stale: on Linux its process id no longer exists under /proc, and the next run
//! takes it over. Elsewhere a leftover lock must be removed by hand; the error says so.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "lock {path} is held by process {pid}: another otscout run is in progress; try again when it ends"
    )]
    Held { path: PathBuf, pid: u32 },
    #[error(
        "lock {path} exists ({content:?}) and cannot be checked: if no otscout run is in progress, remove it"
    )]
    Unknown { path: PathBuf, content: String },
    #[error("lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A held lock; dropping it removes the file.
#[derive(Debug)]
pub struct LockGuard {
    path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Takes the lock at `path`, or says who holds it.
pub fn acquire(path: &Path) -> Result<LockGuard, LockError> {
    let io = |source| LockError::Io {
        path: path.to_owned(),
        source,
    };
    // Two attempts: the second after removing a stale lock.
    for _ in 0..2 {
        match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(mut f) => {
                writeln!(f, "{}", std::process::id()).map_err(io)?;
                return Ok(LockGuard {
                    path: path.to_owned(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // A pid and a newline; a lock path pointing at something else (a device,
                // a big file) is read no further than this.
                let kind = crate::input_file::Kind {
                    what: "lock file",
                    max: 4096,
                };
                let content = crate::input_file::read_bytes_limited(path, kind)
                    .map(|(b, _)| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let pid = content.trim().parse::<u32>().ok();
                match (pid, alive(pid)) {
                    (Some(pid), Some(true)) => {
                        return Err(LockError::Held {
                            path: path.to_owned(),
                            pid,
                        });
                    }
                    (Some(_), Some(false)) => {
                        // Stale: its owner is gone.
                        std::fs::remove_file(path).map_err(io)?;
                    }
                    _ => {
                        return Err(LockError::Unknown {
                            path: path.to_owned(),
                            content: content.trim().chars().take(40).collect(),
                        });
                    }
                }
            }
            Err(e) => return Err(io(e)),
        }
    }
    Err(LockError::Unknown {
        path: path.to_owned(),
        content: "taken again while it was being replaced".into(),
    })
}

/// Whether a process is alive, where that can be told (Linux /proc).
fn alive(pid: Option<u32>) -> Option<bool> {
    let pid = pid?;
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return None;
    }
    Some(proc.join(pid.to_string()).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("otscout-lock-test-{}-{name}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir.join("otscout.lock")
    }

    #[test]
    fn second_acquire_is_refused_while_held_and_allowed_after() {
        let p = tmp("held");
        let _ = std::fs::remove_file(&p);
        let g = acquire(&p).expect("first");
        let e = acquire(&p).expect_err("second");
        assert!(matches!(e, LockError::Held { pid, .. } if pid == std::process::id()));
        assert!(e.to_string().contains("another otscout run"), "{e}");
        drop(g);
        assert!(!p.exists());
        drop(acquire(&p).expect("after release"));
    }

    #[test]
    fn stale_lock_is_taken_over_and_garbage_is_refused() {
        let p = tmp("stale");
        // Above the kernel's pid_max (4194304 at most), so no such process.
        std::fs::write(&p, "4294967\n").unwrap();
        if Path::new("/proc/self").exists() {
            let g = acquire(&p).expect("stale lock taken over");
            assert_eq!(
                std::fs::read_to_string(&p).unwrap().trim(),
                std::process::id().to_string()
            );
            drop(g);
        }
        std::fs::write(&p, "not a pid").unwrap();
        let e = acquire(&p).expect_err("garbage");
        assert!(matches!(e, LockError::Unknown { .. }), "{e}");
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn a_lock_path_naming_an_endless_file_is_refused_not_read_whole() {
        let p = Path::new("/dev/zero");
        if !p.exists() {
            return;
        }
        let e = acquire(p).expect_err("/dev/zero is no lock");
        assert!(matches!(e, LockError::Unknown { .. }), "{e}");
    }
}
