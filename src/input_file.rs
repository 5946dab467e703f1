//! Reading a whole input file with a size cap: reports, keys, signatures, profiles,
//! target lists.
//!
//! Every file the CLI reads whole goes through [`read_bytes`] or [`read_text`], so a
//! wrong path (a disk image, `/dev/zero`, a FIFO, a 10 GB capture given as a report)
//! gives an error naming the file and the cap instead of filling memory. The cap is
//! enforced while reading (the file's reported size is only a hint), so special files
//! that report size 0 and never end are stopped too.
//!
//! Streams (captures, Zeek logs, CSV inventories, the scan journal) are read
//! incrementally by their own readers with their own per-record caps, not here.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What a file is and how large it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// Names the file in errors: `report`, `public key`, `signature`.
    pub what: &'static str,
    /// Largest accepted size in bytes.
    pub max: u64,
}

/// A report, scan result or observation file (JSON). A report of a /16 with every field
/// filled is well under 200 MiB. Measured: a 193 MB report of 40,000 assets renders as
/// CSV in 4 s at 614 MB peak RSS (debug build), so the cap costs at most ~1 GB.
pub const REPORT: Kind = Kind {
    what: "report",
    max: 256 * 1024 * 1024,
};
/// A JSON merge input whose kind is not known yet (scan result, observations, report).
pub const JSON_INPUT: Kind = Kind {
    what: "input",
    max: REPORT.max,
};
/// A minisign public key (two short lines).
pub const PUBLIC_KEY: Kind = Kind {
    what: "public key",
    max: 64 * 1024,
};
/// A minisign secret key (two short lines).
pub const SECRET_KEY: Kind = Kind {
    what: "secret key",
    max: 64 * 1024,
};
/// A minisign signature: four lines, the trusted comment listing the merged scan ids.
pub const SIGNATURE: Kind = Kind {
    what: "signature",
    max: 1024 * 1024,
};
/// A profile (TOML).
pub const PROFILE: Kind = Kind {
    what: "profile",
    max: 1024 * 1024,
};
/// A targets or exclusions file: one spec per line; over a million single addresses fit
/// (a /16 listed address by address is under 1 MiB). Each spec costs about 14 times its
/// text in memory while the scope is resolved (measured: 23 MB of addresses, 320 MB RSS).
pub const SPEC_FILE: Kind = Kind {
    what: "target file",
    max: 16 * 1024 * 1024,
};

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("{what} {}: no such file; check the path", path.display())]
    NotFound { what: &'static str, path: PathBuf },
    #[error("{what} {} is a directory; give the file itself", path.display())]
    Directory { what: &'static str, path: PathBuf },
    #[error("cannot read {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{what} {} is larger than {}, the most otscout reads for a {what}; check that this is the right file",
        path.display(), Size(*max)
    )]
    TooLarge {
        what: &'static str,
        path: PathBuf,
        max: u64,
    },
    #[error(
        "{what} {} line {line}: not UTF-8 text (invalid byte at offset {offset}); save the file as UTF-8",
        path.display()
    )]
    NotUtf8 {
        what: &'static str,
        path: PathBuf,
        line: usize,
        offset: usize,
    },
}

/// Bytes in binary units, for messages: `256 MiB`, `64 KiB`, `17 bytes`.
#[derive(Debug, Clone, Copy)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
        for (unit, name) in UNITS {
            if self.0 >= unit && self.0 % unit == 0 {
                return write!(f, "{} {name}", self.0 / unit);
            }
        }
        write!(f, "{} bytes", self.0)
    }
}

/// Reads a whole file of this kind, refusing it above the kind's cap.
pub fn read_bytes(path: &Path, kind: Kind) -> Result<Vec<u8>, ReadError> {
    read_bytes_limited(path, kind).and_then(|(bytes, complete)| {
        if complete {
            Ok(bytes)
        } else {
            Err(ReadError::TooLarge {
                what: kind.what,
                path: path.to_owned(),
                max: kind.max,
            })
        }
    })
}

/// Reads at most the kind's cap; the flag says whether that was the whole file. For
/// callers that can fall back to a streaming reader when the file is large.
pub fn read_bytes_limited(path: &Path, kind: Kind) -> Result<(Vec<u8>, bool), ReadError> {
    let io = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::NotFound => ReadError::NotFound {
            what: kind.what,
            path: path.to_owned(),
        },
        std::io::ErrorKind::IsADirectory => ReadError::Directory {
            what: kind.what,
            path: path.to_owned(),
        },
        _ => ReadError::Io {
            what: kind.what,
            path: path.to_owned(),
            source,
        },
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.is_dir() {
        return Err(ReadError::Directory {
            what: kind.what,
            path: path.to_owned(),
        });
    }
    // The reported size is a hint for the allocation only (special files report 0).
    let hint = usize::try_from(meta.len().min(kind.max)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(hint);
    file.take(kind.max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let complete = bytes.len() as u64 <= kind.max;
    if !complete {
        bytes.truncate(usize::try_from(kind.max).unwrap_or(usize::MAX));
    }
    Ok((bytes, complete))
}

/// Reads a whole UTF-8 text file of this kind; a leading byte order mark is dropped
/// (editors on Windows write one).
pub fn read_text(path: &Path, kind: Kind) -> Result<String, ReadError> {
    let bytes = read_bytes(path, kind)?;
    text(path, kind, bytes)
}

/// Bytes already read as UTF-8 text, the BOM dropped, with [`read_text`]'s errors.
pub fn text(path: &Path, kind: Kind, mut bytes: Vec<u8>) -> Result<String, ReadError> {
    if bytes.starts_with(UTF8_BOM) {
        bytes.drain(..UTF8_BOM.len());
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        ReadError::NotUtf8 {
            what: kind.what,
            path: path.to_owned(),
            line,
            offset,
        }
    })
}

/// The UTF-8 byte order mark.
pub const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Kind = Kind {
        what: "profile",
        max: 16,
    };

    #[test]
    fn a_file_at_the_cap_is_read_and_one_byte_more_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.toml");
        std::fs::write(&p, [b'a'; 16]).unwrap();
        assert_eq!(read_bytes(&p, SMALL).unwrap().len(), 16);
        std::fs::write(&p, [b'a'; 17]).unwrap();
        let e = read_bytes(&p, SMALL).unwrap_err().to_string();
        assert!(e.contains("p.toml is larger than 16 bytes"), "{e}");
        assert!(e.contains("right file"), "{e}");
    }

    #[test]
    fn a_device_file_that_never_ends_stops_at_the_cap() {
        let p = Path::new("/dev/zero");
        if !p.exists() {
            return;
        }
        let e = read_bytes(p, SMALL).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { .. }), "{e}");
    }

    #[test]
    fn missing_files_and_directories_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_bytes(&dir.path().join("none.toml"), SMALL)
            .unwrap_err()
            .to_string();
        assert!(e.contains("none.toml: no such file; check the path"), "{e}");
        let e = read_bytes(dir.path(), SMALL).unwrap_err().to_string();
        assert!(e.contains("is a directory; give the file itself"), "{e}");
    }

    #[test]
    fn text_drops_a_bom_and_names_the_line_of_a_bad_byte() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.txt");
        std::fs::write(&p, b"\xef\xbb\xbfa\r\nb\n").unwrap();
        assert_eq!(read_text(&p, SMALL).unwrap(), "a\r\nb\n");
        std::fs::write(&p, b"a\nb\n\xffc\n").unwrap();
        let e = read_text(&p, SMALL).unwrap_err().to_string();
        assert!(e.contains("t.txt line 3: not UTF-8 text"), "{e}");
        assert!(e.contains("offset 4"), "{e}");
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(Size(256 * 1024 * 1024).to_string(), "256 MiB");
        assert_eq!(Size(64 * 1024).to_string(), "64 KiB");
        assert_eq!(Size(17).to_string(), "17 bytes");
    }
}
