//! Writing output files: reports with their signatures, rendered views, observation files.
//!
//! The rules every command that writes a file follows:
//! - an existing output is refused unless the caller replaces on purpose (`--force`);
//! - only a regular file is ever replaced: a device node, a symlink, a directory, a FIFO
//!   or a socket at the output's path is refused by name (`-o /dev/full` as root once
//!   replaced the device with a file);
//! - files that belong together (a report and its `.minisig`) are written as one unit:
//!   every temporary is written and synced first, and only then renamed into place, so a
//!   failure leaves the old files or the new ones, never a new report beside a stale
//!   signature; a signature that would be stale (an unsigned report written over a signed
//!   one) is removed.
//!
//! What this never does: follow a symlink at an output path, or leave a temporary behind
//! after a failure it can clean up.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Whether an existing output may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Refuse an existing file (the default; `scan` does the same).
    Refuse,
    /// Replace an existing regular file (`--force`).
    Replace,
}

impl Overwrite {
    /// `--force` given or not.
    pub fn from_force(force: bool) -> Self {
        if force {
            Overwrite::Replace
        } else {
            Overwrite::Refuse
        }
    }
}

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    #[error(
        "{what} {} already exists; pass --force to replace it, or choose another file",
        path.display()
    )]
    Exists { what: &'static str, path: PathBuf },
    #[error(
        "{what} {} is {kind}, not a regular file: otscout only ever replaces regular files; choose another file",
        path.display()
    )]
    NotRegular {
        what: &'static str,
        path: PathBuf,
        kind: &'static str,
    },
    #[error("cannot write {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One file to write.
#[derive(Debug, Clone)]
pub struct Output<'a> {
    /// Names the file in errors: `report`, `signature`, `observation file`.
    pub what: &'static str,
    pub path: &'a Path,
    pub bytes: &'a [u8],
}

/// Checks that `path` may become an output: absent, or (when replacing) a regular file.
/// Symlinks are not followed: a symlink is refused whatever it points at.
pub fn check(what: &'static str, path: &Path, overwrite: Overwrite) -> Result<(), WriteError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(WriteError::Io {
                what,
                path: path.to_owned(),
                source,
            });
        }
    };
    let ft = meta.file_type();
    if !ft.is_file() {
        return Err(WriteError::NotRegular {
            what,
            path: path.to_owned(),
            kind: kind_of(&ft),
        });
    }
    match overwrite {
        Overwrite::Replace => Ok(()),
        Overwrite::Refuse => Err(WriteError::Exists {
            what,
            path: path.to_owned(),
        }),
    }
}

fn kind_of(ft: &fs::FileType) -> &'static str {
    if ft.is_symlink() {
        return "a symbolic link";
    }
    if ft.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_char_device() || ft.is_block_device() {
            return "a device";
        }
        if ft.is_fifo() {
            return "a named pipe";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

/// Writes `outputs` as one unit and removes each of `stale` (files that must not outlive
/// the old outputs, such as a signature beside a report now written unsigned).
///
/// Every path is checked first; then every temporary is written and synced; then the
/// stale files are set aside (renamed to a name beside them) and the files about to be
/// replaced are kept under a second name (a hard link: they stay in place, and each
/// rename below still replaces its file in one step); then the temporaries are renamed in
/// the order given. Should a rename fail, what was renamed is taken away and what was
/// kept is put back, so the old files stand as they were (an old report keeps its old
/// signature); on success what was kept is removed. Give a signature before its report.
/// Where hard links are not supported, a replaced file is not kept (the failure then
/// leaves the old report without its signature, never a new report with a stale one).
pub fn write_unit(
    outputs: &[Output<'_>],
    stale: &[(&'static str, &Path)],
    overwrite: Overwrite,
) -> Result<(), WriteError> {
    commit(outputs, stale, overwrite, &mut |from, to| {
        fs::rename(from, to)
    })
}

/// [`write_unit`] with the rename as a parameter, so a test can make one fail.
fn commit(
    outputs: &[Output<'_>],
    stale: &[(&'static str, &Path)],
    overwrite: Overwrite,
    rename: &mut dyn FnMut(&Path, &Path) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    for o in outputs {
        check(o.what, o.path, overwrite)?;
    }
    for (what, p) in stale {
        check(what, p, overwrite)?;
    }
    let remove_all = |paths: &[PathBuf]| {
        for t in paths {
            let _ = fs::remove_file(t);
        }
    };
    let mut temps: Vec<PathBuf> = Vec::with_capacity(outputs.len());
    for o in outputs {
        match write_temp(o) {
            Ok(t) => temps.push(t),
            Err(e) => {
                remove_all(&temps);
                return Err(e);
            }
        }
    }
    // Set aside, in this order: the stale files, then the outputs that exist now.
    let mut aside: Vec<(PathBuf, PathBuf)> = Vec::new();
    let put_back =
        |aside: &[(PathBuf, PathBuf)],
         rename: &mut dyn FnMut(&Path, &Path) -> std::io::Result<()>| {
            for (orig, kept) in aside.iter().rev() {
                // Renaming a hard link onto its twin (the report was never replaced)
                // succeeds and leaves both names (POSIX rename): drop the spare one.
                if rename(kept, orig).is_ok() {
                    let _ = fs::remove_file(kept);
                }
            }
        };
    for (what, p) in stale.iter().copied().filter(|(_, p)| p.is_file()) {
        let moved = aside_name(p).and_then(|kept| rename(p, &kept).map(|()| kept));
        match moved {
            Ok(kept) => aside.push((p.to_owned(), kept)),
            Err(source) => {
                put_back(&aside, rename);
                remove_all(&temps);
                return Err(WriteError::Io {
                    what,
                    path: p.to_owned(),
                    source,
                });
            }
        }
    }
    for o in outputs.iter().filter(|o| o.path.is_file()) {
        // Best effort: without a second name the file is still replaced in one step.
        if let Ok(kept) = aside_name(o.path) {
            if fs::hard_link(o.path, &kept).is_ok() {
                aside.push((o.path.to_owned(), kept));
            }
        }
    }
    for (i, (o, t)) in outputs.iter().zip(&temps).enumerate() {
        if let Err(source) = rename(t, o.path) {
            remove_all(&temps[i..]);
            // What is already in place belongs to outputs that are now not all there.
            for done in &outputs[..i] {
                let _ = fs::remove_file(done.path);
            }
            put_back(&aside, rename);
            return Err(WriteError::Io {
                what: o.what,
                path: o.path.to_owned(),
                source,
            });
        }
    }
    for (_, kept) in &aside {
        let _ = fs::remove_file(kept);
    }
    Ok(())
}

/// A free name beside `p` to set it aside under while its replacement is renamed in.
fn aside_name(p: &Path) -> std::io::Result<PathBuf> {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    for n in 0..16u32 {
        let k = dir.join(format!(".{name}.{}-{n}.old", std::process::id()));
        if fs::symlink_metadata(&k).is_err() {
            return Ok(k);
        }
    }
    Err(std::io::Error::other(
        "no free name to set the old file aside under",
    ))
}

/// Writes one output to a new temporary beside it (created, never opened through an
/// existing name), synced so a crash leaves the old file or the whole new one.
fn write_temp(o: &Output<'_>) -> Result<PathBuf, WriteError> {
    let err = |source| WriteError::Io {
        what: o.what,
        path: o.path.to_owned(),
        source,
    };
    let name = o
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let dir = match o.path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut last = None;
    for n in 0..16u32 {
        let t = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&t) {
            Ok(mut f) => {
                let written = f.write_all(o.bytes).and_then(|()| f.sync_all());
                if let Err(e) = written {
                    let _ = fs::remove_file(&t);
                    return Err(err(e));
                }
                return Ok(t);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(err(e)),
        }
    }
    Err(err(last.unwrap_or_else(|| {
        std::io::Error::other("no free temporary name")
    })))
}

/// Writes one file under the same rules (`report -o`, `passive -o`).
pub fn write(
    what: &'static str,
    path: &Path,
    bytes: &[u8],
    overwrite: Overwrite,
) -> Result<(), WriteError> {
    write_unit(&[Output { what, path, bytes }], &[], overwrite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_file_needs_replace_and_a_symlink_or_directory_never_is() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        write("report", &p, b"one", Overwrite::Refuse).unwrap();
        let e = write("report", &p, b"two", Overwrite::Refuse).unwrap_err();
        assert!(
            e.to_string().contains("already exists; pass --force"),
            "{e}"
        );
        write("report", &p, b"two", Overwrite::Replace).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let e = write("report", dir.path(), b"x", Overwrite::Replace).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        #[cfg(unix)]
        {
            let link = dir.path().join("link.json");
            std::os::unix::fs::symlink(&p, &link).unwrap();
            let e = write("report", &link, b"x", Overwrite::Replace).unwrap_err();
            assert!(e.to_string().contains("is a symbolic link"), "{e}");
            assert_eq!(fs::read(&p).unwrap(), b"two");
        }
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), if cfg!(unix) { 2 } else { 1 }, "{left:?}");
    }

    #[test]
    fn a_stale_file_is_removed_and_a_failed_unit_leaves_the_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path().join("r.json");
        let s = dir.path().join("r.json.minisig");
        fs::write(&r, "old").unwrap();
        fs::write(&s, "old sig").unwrap();
        write_unit(
            &[Output {
                what: "report",
                path: &r,
                bytes: b"new",
            }],
            &[("signature", &s)],
            Overwrite::Replace,
        )
        .unwrap();
        assert!(!s.exists());
        // The second output's path is a directory: nothing at all is replaced.
        let sub = dir.path().join("d");
        fs::create_dir(&sub).unwrap();
        let e = write_unit(
            &[
                Output {
                    what: "signature",
                    path: &s,
                    bytes: b"sig",
                },
                Output {
                    what: "report",
                    path: &sub,
                    bytes: b"newer",
                },
            ],
            &[],
            Overwrite::Replace,
        )
        .unwrap_err();
        assert!(e.to_string().contains("report"), "{e}");
        assert!(!s.exists());
        assert_eq!(fs::read(&r).unwrap(), b"new");
    }

    /// A rename into place that fails (a full directory, a file made immutable meanwhile):
    /// the old report and its old signature stand as they were, nothing else is left.
    #[test]
    fn a_failed_rename_puts_the_old_report_and_its_signature_back() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path().join("r.json");
        let s = dir.path().join("r.json.minisig");
        let fail_report = |r: PathBuf| {
            move |from: &Path, to: &Path| {
                if to == r && from.to_string_lossy().ends_with(".tmp") {
                    return Err(std::io::Error::other("rename refused"));
                }
                fs::rename(from, to)
            }
        };
        let listing = || {
            let mut v: Vec<String> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        for signed in [true, false] {
            fs::write(&r, "old").unwrap();
            fs::write(&s, "old sig").unwrap();
            let report = Output {
                what: "report",
                path: &r,
                bytes: b"new",
            };
            let sig = Output {
                what: "signature",
                path: &s,
                bytes: b"new sig",
            };
            let (outputs, stale): (Vec<Output<'_>>, Vec<(&'static str, &Path)>) = if signed {
                (vec![sig, report], vec![])
            } else {
                (vec![report], vec![("signature", &s)])
            };
            let e = commit(
                &outputs,
                &stale,
                Overwrite::Replace,
                &mut fail_report(r.clone()),
            )
            .unwrap_err();
            assert!(e.to_string().contains("rename refused"), "{e}");
            assert_eq!(fs::read(&r).unwrap(), b"old", "signed: {signed}");
            assert_eq!(fs::read(&s).unwrap(), b"old sig", "signed: {signed}");
            assert_eq!(listing(), ["r.json", "r.json.minisig"], "signed: {signed}");
        }
    }
}
