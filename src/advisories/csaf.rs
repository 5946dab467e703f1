//! A reader of the parts of CSAF 2.0 documents that matching needs.
//!
//! CSAF 2.0 (OASIS, docs.oasis-open.org/csaf/csaf/v2.0/csaf-v2.0.html): `document`
//! (§3.2.1: `tracking.id`, `tracking.version`, `title`, `csaf_version` "2.0"),
//! `product_tree` (§3.2.2: nested `branches` whose leaves carry a `product`, a full product
//! name with `product_id` and `product_identification_helper` {`cpe`, `model_numbers`,
//! `skus`}; `full_product_names`; `product_groups`; `relationships`) and `vulnerabilities`
//! (§3.2.3: `cve`, `product_status`, `scores` with `cvss_v3`/`cvss_v2`, `remediations`).
//! Members otscout does not use are skipped unread, so a vendor extension costs nothing.
//!
//! Why not a crate: `csaf-rs` 0.6 needs Rust 1.88 (this workspace builds with 1.85), types
//! the whole document so one deviating member anywhere loses the document, and brings a
//! JSON Schema validator and a dozen other dependencies; `csaf` 0.5 is unmaintained
//! (2022). This reader is serde structs of the members used, with `serde_path_to_error`
//! naming the place of the first bad member.
//!
//! Every file is untrusted: a document that does not parse is a [`DocError`] naming the
//! file and the JSON path, never a panic; sizes are capped before reading.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The largest CSAF file read (the largest of CISA's 2,380 OT advisories is under 1 MiB; a
/// vendor's combined advisory can be tens of MiB).
pub const MAX_DOCUMENT: u64 = 64 * 1024 * 1024;

/// Why one CSAF document was not used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DocError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: larger than {} MiB, the most otscout reads for one CSAF document", path.display(), MAX_DOCUMENT / 1024 / 1024)]
    TooLarge { path: PathBuf },
    #[error("{}: not a CSAF 2.0 document: at {at}: {message}", path.display())]
    Json {
        path: PathBuf,
        /// The JSON path of the failure (`product_tree.branches[0].name`), or `line:column`.
        at: String,
        message: String,
    },
    #[error("{}: not a CSAF 2.0 document: {what}", path.display())]
    Schema { path: PathBuf, what: String },
}

/// A CSAF document, the members used.
#[derive(Debug, Clone, Deserialize)]
pub struct Csaf {
    pub document: DocumentMeta,
    #[serde(default)]
    pub product_tree: Option<ProductTree>,
    #[serde(default)]
    pub vulnerabilities: Vec<Vulnerability>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DocumentMeta {
    pub csaf_version: String,
    pub title: String,
    pub tracking: Tracking,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tracking {
    pub id: String,
    pub version: String,
    #[serde(default)]
    pub current_release_date: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProductTree {
    #[serde(default)]
    pub branches: Vec<Branch>,
    #[serde(default)]
    pub full_product_names: Vec<FullProductName>,
    #[serde(default)]
    pub product_groups: Vec<ProductGroup>,
    #[serde(default)]
    pub relationships: Vec<Relationship>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Branch {
    pub category: String,
    pub name: String,
    #[serde(default)]
    pub branches: Vec<Branch>,
    #[serde(default)]
    pub product: Option<FullProductName>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FullProductName {
    pub name: String,
    pub product_id: String,
    #[serde(default)]
    pub product_identification_helper: Option<Helper>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Helper {
    #[serde(default)]
    pub cpe: Option<String>,
    #[serde(default)]
    pub model_numbers: Vec<String>,
    #[serde(default)]
    pub skus: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProductGroup {
    pub group_id: String,
    pub product_ids: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Relationship {
    pub full_product_name: FullProductName,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Vulnerability {
    #[serde(default)]
    pub cve: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub product_status: ProductStatus,
    #[serde(default)]
    pub scores: Vec<Score>,
    #[serde(default)]
    pub remediations: Vec<Remediation>,
}

/// CSAF 2.0 §3.2.3.9; `first_affected`/`last_affected` count as affected and `first_fixed`
/// as fixed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProductStatus {
    #[serde(default)]
    pub known_affected: Vec<String>,
    #[serde(default)]
    pub first_affected: Vec<String>,
    #[serde(default)]
    pub last_affected: Vec<String>,
    #[serde(default)]
    pub fixed: Vec<String>,
    #[serde(default)]
    pub first_fixed: Vec<String>,
    #[serde(default)]
    pub known_not_affected: Vec<String>,
    #[serde(default)]
    pub under_investigation: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Score {
    #[serde(default)]
    pub products: Vec<String>,
    #[serde(default)]
    pub cvss_v3: Option<Cvss>,
    #[serde(default)]
    pub cvss_v2: Option<Cvss>,
}

/// The two members of a CVSS v2 or v3 object (FIRST's JSON schemas) that are shown.
#[derive(Debug, Clone, Deserialize)]
pub struct Cvss {
    #[serde(rename = "baseScore")]
    pub base_score: f64,
    #[serde(rename = "vectorString")]
    pub vector_string: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Remediation {
    pub category: String,
    #[serde(default)]
    pub details: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub product_ids: Vec<String>,
    #[serde(default)]
    pub group_ids: Vec<String>,
}

/// A ROLIE feed (RFC 8322) as CSAF providers publish them: the documents it lists.
#[derive(Debug, Clone, Deserialize)]
pub struct Feed {
    pub feed: FeedBody,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FeedBody {
    #[serde(default)]
    pub entry: Vec<FeedEntry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FeedEntry {
    pub id: String,
    #[serde(default)]
    pub content: Option<FeedContent>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FeedContent {
    pub src: String,
}

/// What one file holds.
#[derive(Debug, Clone)]
pub enum Parsed {
    Document(Box<Csaf>),
    Feed(Feed),
}

/// One file read: its bytes' SHA-256 (of the file as stored, compressed or not) and what
/// it holds.
#[derive(Debug, Clone)]
pub struct ReadFile {
    pub sha256: String,
    pub parsed: Parsed,
}

/// Reads one CSAF file (`.json`, or `.json.gz`), or a ROLIE feed listing.
pub fn read_file(path: &Path) -> Result<ReadFile, DocError> {
    let io = |source| DocError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut raw = Vec::new();
    file.take(MAX_DOCUMENT + 1)
        .read_to_end(&mut raw)
        .map_err(io)?;
    if raw.len() as u64 > MAX_DOCUMENT {
        return Err(DocError::TooLarge {
            path: path.to_owned(),
        });
    }
    let sha256 = hex::encode(Sha256::digest(&raw));
    let bytes = if raw.starts_with(b"\x1f\x8b") {
        let mut out = Vec::new();
        // The cap holds for the unpacked text too: a small gzip bomb stops at it.
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .take(MAX_DOCUMENT + 1)
            .read_to_end(&mut out)
            .map_err(io)?;
        if out.len() as u64 > MAX_DOCUMENT {
            return Err(DocError::TooLarge {
                path: path.to_owned(),
            });
        }
        out
    } else {
        raw
    };
    let parsed = parse(path, &bytes)?;
    Ok(ReadFile { sha256, parsed })
}

/// Parses a document or a feed from bytes; `path` names it in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed, DocError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    // A feed is recognised by its one top-level member.
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        feed: Option<serde::de::IgnoredAny>,
    }
    let json_err = |e: serde_path_to_error::Error<serde_json::Error>| {
        let path_text = e.path().to_string();
        let inner = e.into_inner();
        // A syntax error or a cut file has no meaningful JSON path: its line and column.
        let syntax = matches!(
            inner.classify(),
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof
        );
        let at = if syntax || path_text == "." || path_text.is_empty() {
            format!("line {} column {}", inner.line(), inner.column())
        } else {
            path_text
        };
        DocError::Json {
            path: path.to_owned(),
            at,
            message: strip_position(&inner.to_string()),
        }
    };
    let probe: Probe =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(bytes))
            .map_err(json_err)?;
    if probe.feed.is_some() {
        let feed: Feed =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(bytes))
                .map_err(json_err)?;
        return Ok(Parsed::Feed(feed));
    }
    let doc: Csaf =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(bytes))
            .map_err(json_err)?;
    let schema = |what: String| DocError::Schema {
        path: path.to_owned(),
        what,
    };
    if doc.document.csaf_version != "2.0" {
        return Err(schema(format!(
            "at document.csaf_version: {:?}, expected \"2.0\"",
            doc.document
                .csaf_version
                .chars()
                .take(20)
                .collect::<String>()
        )));
    }
    if doc.document.tracking.id.trim().is_empty() {
        return Err(schema("at document.tracking.id: empty".to_owned()));
    }
    Ok(Parsed::Document(Box::new(doc)))
}

/// serde_json's message without its ` at line 1 column 2` (the path says where).
fn strip_position(m: &str) -> String {
    match m.rfind(" at line ") {
        Some(i) => m[..i].to_owned(),
        None => m.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_and_the_json_path() {
        let p = Path::new("x.json");
        let e = parse(
            p,
            br#"{"document":{"csaf_version":"2.0","title":"t","tracking":{"id":"A","version":"1"}},
                "product_tree":{"branches":[{"category":"vendor","name":"V","branches":[{"category":"product_name","name":7}]}]}}"#,
        )
        .expect_err("bad name");
        let text = e.to_string();
        assert!(
            text.starts_with("x.json: not a CSAF 2.0 document: at product_tree.branches[0].branches[0].name: invalid type: integer `7`"),
            "{text}"
        );
        let e = parse(p, br#"{"document":{"csaf_version":"1.2","title":"t","tracking":{"id":"A","version":"1"}}}"#)
            .expect_err("version");
        assert!(e.to_string().contains("document.csaf_version"), "{e}");
        let e = parse(p, b"{\"document\": {").expect_err("cut");
        assert!(e.to_string().contains("line 1 column 14"), "{e}");
        let e = parse(p, br#"{"product_tree":{}}"#).expect_err("no document");
        assert!(e.to_string().contains("missing field `document`"), "{e}");
    }

    proptest::proptest! {
        /// Arbitrary bytes and arbitrary JSON never panic the reader.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = parse(Path::new("p.json"), &bytes);
        }

        #[test]
        fn arbitrary_json_never_panics(v in json_value()) {
            let bytes = serde_json::to_vec(&v).unwrap_or_default();
            let _ = parse(Path::new("p.json"), &bytes);
            // The same value under a CSAF-shaped envelope reaches the inner readers.
            let doc = serde_json::json!({
                "document": {"csaf_version": "2.0", "title": "t", "tracking": {"id": "X", "version": "1"}},
                "product_tree": {"branches": [v.clone()], "product_groups": v.clone()},
                "vulnerabilities": [{"product_status": v.clone(), "scores": [v.clone()], "remediations": v}],
            });
            let bytes = serde_json::to_vec(&doc).unwrap_or_default();
            if let Ok(Parsed::Document(d)) = parse(Path::new("p.json"), &bytes) {
                let _ = super::super::Advisory::from_csaf(*d, "p.json", "0".repeat(64));
            }
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            "(category|name|product|branches|product_id|vendor|model_numbers|\\PC{0,8})"
                .prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(
                    "(category|name|product|branches|product_id|product_identification_helper|model_numbers|cpe|known_affected|baseScore|vectorString|\\PC{0,6})",
                    inner,
                    0..6
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
