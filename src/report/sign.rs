//! Signing reports with minisign (Ed25519), and checking them.
//!
//! A report `R` is signed into `R.minisig` beside it, in minisign's own format (the
//! prehashed "ED" algorithm that minisign 0.8 and later write and verify), so that the
//! stock tool verifies it: `minisign -Vm R -p otscout.pub`. The trusted comment, which the
//! signature covers too, carries the report's SHA-256, the scan ids and the signing time:
//!
//! ```text
//! otscout-report sha256=<64 hex> scan=<id>[,<id>…]|- time=<RFC 3339> file=<name>
//! ```
//!
//! Verification checks the signature, the trusted comment's signature, that the SHA-256
//! in the trusted comment is the report's, and the report's schema
//! ([`super::json::parse`]). Keys are minisign's own files: `otscout.key` (secret,
//! password-protected unless the caller asks otherwise, mode 0600, never overwritten) and
//! `otscout.pub`.

use std::fs::{self, OpenOptions};
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use minisign::{KeyPair, PublicKey, PublicKeyBox, SecretKey, SecretKeyBox, SignatureBox};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::json::{self, ReportError};
use crate::input_file::{self, ReadError};
use crate::inventory::Inventory;
use crate::output_file::{self, Output, Overwrite};

/// File name of the secret key `keygen` writes.
pub const SECRET_KEY_FILE: &str = "otscout.key";
/// File name of the public key `keygen` writes.
pub const PUBLIC_KEY_FILE: &str = "otscout.pub";

/// What went wrong while making keys, signing or verifying.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SignError {
    #[error(
        "{0} already exists: otscout never overwrites a key; move it away or pick another --dir"
    )]
    KeyExists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error(
        "cannot use secret key {path}: {reason} (a password-protected key needs OTSCOUT_KEY_PASSWORD or a terminal)"
    )]
    SecretKey { path: PathBuf, reason: String },
    #[error("{path} is not a minisign public key: {reason}")]
    PublicKey { path: PathBuf, reason: String },
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("{path} is not a minisign signature: {reason}")]
    SignatureFile { path: PathBuf, reason: String },
    #[error(
        "signature check failed for {path}: {reason}; the report or its signature changed after signing: do not use this copy, get the original or merge again"
    )]
    BadSignature { path: PathBuf, reason: String },
    #[error(
        "trusted comment of {path} does not name this report's SHA-256 (signed {signed}, file has {actual})"
    )]
    DigestMismatch {
        path: PathBuf,
        signed: String,
        actual: String,
    },
    #[error("{path}: {source}")]
    Schema { path: PathBuf, source: ReportError },
    #[error(transparent)]
    File(#[from] ReadError),
    #[error(transparent)]
    Output(#[from] output_file::WriteError),
    #[error(
        "no signature for {path}: {sig} is missing; sign the report with `otscout merge --sign-key KEY`, or put its .minisig beside it"
    )]
    NoSignature { path: PathBuf, sig: PathBuf },
    #[error(
        "{path} was signed by another key (the signature names key id {signed_by}, the public key given is {pubkey}); give the public key of whoever signed it"
    )]
    WrongKey {
        path: PathBuf,
        signed_by: String,
        pubkey: String,
    },
    #[error(
        "{path} refused: signed by key id {signed_by}, which is none of the {count} trusted key(s) in {dir}; add that site's public key to {dir} if you trust it"
    )]
    Untrusted {
        path: PathBuf,
        signed_by: String,
        count: usize,
        dir: PathBuf,
    },
    #[error(
        "no trusted keys in {0}: put each site's public key there as NAME.pub (minisign format, as otscout keygen writes)"
    )]
    NoTrustedKeys(PathBuf),
}

/// How the secret key is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protection {
    /// Encrypted with this password (minisign's scrypt + XOR scheme).
    Password(String),
    /// Not encrypted: for unattended signing (cron, tests). Anyone who can read the file
    /// can sign as you.
    Unencrypted,
}

/// Where `keygen` wrote the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFiles {
    pub secret: PathBuf,
    pub public: PathBuf,
}

/// Makes a key pair in `dir`: `otscout.key` (mode 0600) and `otscout.pub`. Refuses if
/// either exists.
pub fn keygen(dir: &Path, protection: &Protection) -> Result<KeyFiles, SignError> {
    let files = KeyFiles {
        secret: dir.join(SECRET_KEY_FILE),
        public: dir.join(PUBLIC_KEY_FILE),
    };
    for p in [&files.secret, &files.public] {
        if p.exists() {
            return Err(SignError::KeyExists(p.clone()));
        }
    }
    let kp = match protection {
        Protection::Password(pw) => KeyPair::generate_encrypted_keypair(Some(pw.clone())),
        Protection::Unencrypted => KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(|e| SignError::Generate(e.to_string()))?;
    let sk_box = kp
        .sk
        .to_box(Some("otscout secret key"))
        .map_err(|e| SignError::Generate(e.to_string()))?;
    let pk_box = kp
        .pk
        .to_box()
        .map_err(|e| SignError::Generate(e.to_string()))?;
    write_new(&files.secret, &sk_box.to_bytes(), 0o600)?;
    write_new(&files.public, &pk_box.to_bytes(), 0o644)?;
    Ok(files)
}

/// Creates `path` (never replacing a file) with these bytes and Unix mode.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), SignError> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            SignError::KeyExists(path.to_owned())
        } else {
            SignError::Write {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|source| SignError::Write {
            path: path.to_owned(),
            source,
        })
}

/// Loads a secret key. An unencrypted key loads as is; for an encrypted one `password`
/// is called (once) and its answer used; `None` means no password is available.
pub fn load_secret_key(
    path: &Path,
    password: &mut dyn FnMut() -> Option<String>,
) -> Result<SecretKey, SignError> {
    let text = input_file::read_text(path, input_file::SECRET_KEY)?;
    let err = |reason: String| SignError::SecretKey {
        path: path.to_owned(),
        reason,
    };
    let first = match SecretKey::from_unencrypted_box(
        SecretKeyBox::from_string(&text).map_err(|e| err(e.to_string()))?,
    ) {
        Ok(sk) => return Ok(sk),
        Err(e) => e.to_string(),
    };
    let Some(pw) = password() else {
        return Err(err(first));
    };
    let sk_box = SecretKeyBox::from_string(&text).map_err(|e| err(e.to_string()))?;
    SecretKey::from_box(sk_box, Some(pw)).map_err(|e| err(e.to_string()))
}

/// Loads a public key file.
pub fn load_public_key(path: &Path) -> Result<PublicKey, SignError> {
    let text = input_file::read_text(path, input_file::PUBLIC_KEY)?;
    let err = |reason: String| SignError::PublicKey {
        path: path.to_owned(),
        reason,
    };
    PublicKeyBox::from_string(&text)
        .and_then(PublicKeyBox::into_public_key)
        .map_err(|e| err(e.to_string()))
}

/// The lowercase hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The path of the signature beside a report: `R` → `R.minisig`.
pub fn signature_path(report: &Path) -> PathBuf {
    let mut s = report.as_os_str().to_owned();
    s.push(".minisig");
    PathBuf::from(s)
}

/// The trusted comment for a report.
pub fn trusted_comment(
    report_bytes: &[u8],
    scan_ids: &[String],
    at: DateTime<Utc>,
    file_name: &str,
) -> String {
    let scans = if scan_ids.is_empty() {
        "-".to_owned()
    } else {
        scan_ids.join(",")
    };
    // One line, no spaces inside values: the comment is a single line in the .minisig.
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_whitespace() || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect()
    };
    format!(
        "otscout-report sha256={} scan={} time={} file={}",
        sha256_hex(report_bytes),
        clean(&scans),
        at.to_rfc3339_opts(SecondsFormat::Secs, true),
        clean(file_name)
    )
}

/// Signs report bytes; returns the `.minisig` file's text.
pub fn sign_bytes(
    report_bytes: &[u8],
    sk: &SecretKey,
    trusted_comment: &str,
) -> Result<String, SignError> {
    let sig = minisign::sign(
        None,
        sk,
        Cursor::new(report_bytes),
        Some(trusted_comment),
        Some("signature from otscout secret key"),
    )
    .map_err(|e| SignError::Sign(e.to_string()))?;
    Ok(sig.into_string())
}

/// ` site=a,b` for a report that names its site(s), for a central host that sorts reports
/// before it reads them; empty otherwise.
fn site_comment(inv: &Inventory) -> String {
    let mut sites: Vec<&str> = inv.site.iter().map(String::as_str).collect();
    sites.extend(inv.sites.iter().map(|s| s.site.as_str()));
    if sites.is_empty() {
        return String::new();
    }
    let joined: String = sites
        .join(",")
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!(" site={joined}")
}

/// Signs the report file at `report` and writes `report.minisig` beside it (replacing an
/// older signature). Returns the signature's path.
pub fn sign_file(report: &Path, sk: &SecretKey, at: DateTime<Utc>) -> Result<PathBuf, SignError> {
    let bytes = input_file::read_bytes(report, input_file::REPORT)?;
    let scans: Vec<String> = json::parse_lenient(&bytes)
        .map(|inv| inv.scans.iter().map(|s| s.scan_id.clone()).collect())
        .map_err(|source| SignError::Schema {
            path: report.to_owned(),
            source,
        })?;
    let name = report
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut comment = trusted_comment(&bytes, &scans, at, &name);
    if let Ok(inv) = json::parse_lenient(&bytes) {
        comment.push_str(&site_comment(&inv));
    }
    let text = sign_bytes(&bytes, sk, &comment)?;
    let path = signature_path(report);
    fs::write(&path, text).map_err(|source| SignError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// A verified report.
#[derive(Debug, Clone)]
pub struct Verified {
    pub inventory: Inventory,
    pub sha256: String,
    pub trusted_comment: String,
}

/// Verifies report bytes against a signature's text and a public key, then checks the
/// digest in the trusted comment and the report's schema. `path` names the report in
/// errors.
pub fn verify_bytes(
    path: &Path,
    report_bytes: &[u8],
    signature_text: &str,
    pk: &PublicKey,
) -> Result<Verified, SignError> {
    let sig_path = signature_path(path);
    let sig = SignatureBox::from_string(signature_text).map_err(|e| SignError::SignatureFile {
        path: sig_path.clone(),
        reason: e.to_string(),
    })?;
    let bad = |reason: String| SignError::BadSignature {
        path: path.to_owned(),
        reason,
    };
    // Told apart before the check: "signed by someone else" and "changed after signing"
    // call for different actions.
    if sig.keynum() != pk.keynum() {
        return Err(SignError::WrongKey {
            path: path.to_owned(),
            signed_by: key_id(sig.keynum()),
            pubkey: key_id(pk.keynum()),
        });
    }
    minisign::verify(pk, &sig, Cursor::new(report_bytes), true, false, false)
        .map_err(|e| bad(e.to_string()))?;
    let comment = sig
        .trusted_comment()
        .map_err(|e| bad(format!("no trusted comment: {e}")))?;
    let actual = sha256_hex(report_bytes);
    let signed = comment
        .split_whitespace()
        .find_map(|w| w.strip_prefix("sha256="))
        .unwrap_or("")
        .to_owned();
    if signed != actual {
        return Err(SignError::DigestMismatch {
            path: path.to_owned(),
            signed,
            actual,
        });
    }
    let inventory = json::parse(report_bytes).map_err(|source| SignError::Schema {
        path: path.to_owned(),
        source,
    })?;
    Ok(Verified {
        inventory,
        sha256: actual,
        trusted_comment: comment,
    })
}

/// Loads every `*.pub` file in `dir` as a minisign public key, sorted by file name: the
/// keys a fleet merge trusts. A file that is not a public key is an error (naming it),
/// not skipped: a typo must not silently shrink the trusted set.
pub fn load_trusted_keys(dir: &Path) -> Result<Vec<(PathBuf, PublicKey)>, SignError> {
    let entries = fs::read_dir(dir).map_err(|source| SignError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for e in entries {
        let e = e.map_err(|source| SignError::Read {
            path: dir.to_owned(),
            source,
        })?;
        let p = e.path();
        if p.extension().is_some_and(|x| x == "pub") && p.is_file() {
            paths.push(p);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(SignError::NoTrustedKeys(dir.to_owned()));
    }
    paths
        .into_iter()
        .map(|p| load_public_key(&p).map(|k| (p, k)))
        .collect()
}

/// Verifies the report at `report` against whichever trusted key its signature names;
/// refuses it by name when none does, or when it changed after signing. Returns the
/// verified report and the key id.
pub fn verify_file_trusted(
    report: &Path,
    keys: &[(PathBuf, PublicKey)],
    dir: &Path,
) -> Result<(Verified, String), SignError> {
    let sig_path = signature_path(report);
    let text = read_signature(report, &sig_path)?;
    let sig = SignatureBox::from_string(&text).map_err(|e| SignError::SignatureFile {
        path: sig_path.clone(),
        reason: e.to_string(),
    })?;
    let Some((_, pk)) = keys.iter().find(|(_, k)| k.keynum() == sig.keynum()) else {
        return Err(SignError::Untrusted {
            path: report.to_owned(),
            signed_by: key_id(sig.keynum()),
            count: keys.len(),
            dir: dir.to_owned(),
        });
    };
    let bytes = input_file::read_bytes(report, input_file::REPORT)?;
    let v = verify_bytes(report, &bytes, &text, pk)?;
    Ok((v, key_id(pk.keynum())))
}

/// A key id as minisign prints it: the 8 key-number bytes as a little-endian integer.
pub fn key_id(keynum: &[u8]) -> String {
    keynum.iter().rev().map(|b| format!("{b:02X}")).collect()
}

/// Verifies the report file at `report` with `report.minisig` beside it.
pub fn verify_file(report: &Path, pk: &PublicKey) -> Result<Verified, SignError> {
    let bytes = input_file::read_bytes(report, input_file::REPORT)?;
    let text = read_signature(report, &signature_path(report))?;
    verify_bytes(report, &bytes, &text, pk)
}

/// The text of `report`'s signature file `sig_path`; a missing one says which report has
/// none.
fn read_signature(report: &Path, sig_path: &Path) -> Result<String, SignError> {
    input_file::read_text(sig_path, input_file::SIGNATURE).map_err(|e| match e {
        ReadError::NotFound { .. } => SignError::NoSignature {
            path: report.to_owned(),
            sig: sig_path.to_owned(),
        },
        e => SignError::File(e),
    })
}

/// Writes `inv`'s canonical JSON to `path` and, with a key, its signature to
/// `path.minisig` with `at` as the signing time, as one unit ([`output_file::write_unit`]):
/// both are written to temporaries first, then the signature and the report are renamed
/// into place, so a failure never leaves an unsigned new report or a stale signature
/// beside it. Without a key, an old `path.minisig` (which would sign the old report) is
/// removed. `overwrite` decides about existing files; a path that is not a regular file
/// is always refused. Returns the signature's path. This is the one call `otscout merge`,
/// `otscout scan --report` and `otscout demo` share.
pub fn write_report(
    path: &Path,
    inv: &Inventory,
    sk: Option<&SecretKey>,
    at: DateTime<Utc>,
    overwrite: Overwrite,
) -> Result<Option<PathBuf>, SignError> {
    let bytes = json::render(inv);
    let sig_path = signature_path(path);
    let signature = match sk {
        Some(sk) => {
            let scans: Vec<String> = inv.scans.iter().map(|s| s.scan_id.clone()).collect();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let comment = trusted_comment(&bytes, &scans, at, &name) + &site_comment(inv);
            Some(sign_bytes(&bytes, sk, &comment)?)
        }
        None => None,
    };
    let report = Output {
        what: "report",
        path,
        bytes: &bytes,
    };
    match &signature {
        Some(text) => {
            let sig = Output {
                what: "signature",
                path: &sig_path,
                bytes: text.as_bytes(),
            };
            output_file::write_unit(&[sig, report], &[], overwrite)?;
            Ok(Some(sig_path))
        }
        None => {
            output_file::write_unit(&[report], &[("signature", &sig_path)], overwrite)?;
            Ok(None)
        }
    }
}
