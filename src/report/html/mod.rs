//! The HTML view: one self-contained page (inline CSS, inline script, inline SVG) that
//! opens offline in any current browser and prints.
//!
//! What it never does: load anything. The page names no URL of any kind; a
//! Content-Security-Policy meta tag (`default-src 'none'`, the one stylesheet and the one
//! script allowed by their SHA-256) forbids fetches, fonts, frames, images and inline
//! `style=`/event-handler attributes, so a device string that slipped past [`escape`]
//! still could not run or load anything.
//!
//! Without JavaScript every table shows (the script only adds sorting, filtering and a
//! test hook); the details of each asset (every field's provenance and conflicting values)
//! are `<details>` elements and `title` tooltips, which need no script.
//!
//! Every string from a report (device strings, file names, operator names) goes through
//! [`escape`] and nowhere else: it is only ever written as element text or a quoted
//! attribute value, never inside `<script>` or `<style>`.
//!
//! Split by job: this module is the page shell and the escaping; [`table`] the header
//! and the asset table, [`map`] the communication map's layout, [`diff`] the drift page.

use std::fmt::Write;

use sha2::{Digest, Sha256};

use crate::inventory::Inventory;

pub mod diff;
pub mod map;
pub mod table;

/// The page's stylesheet and script, hashed into the CSP.
const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// What the signature check said when the page was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// Verified against this public key (its minisign key id) when the page was made.
    Verified {
        key_id: String,
        trusted_comment: String,
    },
    /// Not checked (no public key was given).
    NotChecked,
}

/// Makes text safe as HTML element content and as a quoted attribute value.
///
/// `&<>"'` become character references (so `</script>`, `</style>` or `"><img …>` stay
/// text and cannot close the element or attribute they sit in); C0 controls other than
/// tab and line feed, DEL and the C1 controls become `?` (they are parse errors, and a
/// terminal escape sequence in a vendor name means nothing on a page); U+2028/U+2029 (line
/// and paragraph separators, which end a JavaScript string literal in older engines)
/// become references too, although no report string ever lands inside the script.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\u{2028}' => out.push_str("&#x2028;"),
            '\u{2029}' => out.push_str("&#x2029;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 (RFC 4648 section 4, with padding): the encoding CSP hash sources use.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A CSP hash source for an inline element's exact text.
fn csp_hash(text: &str) -> String {
    format!("'sha256-{}'", base64(&Sha256::digest(text.as_bytes())))
}

/// The page's Content-Security-Policy: nothing may load; only our own stylesheet and
/// script may run. `base-uri` and `form-action` are not covered by `default-src`.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src {}; script-src {}; base-uri 'none'; form-action 'none'",
        csp_hash(STYLE),
        csp_hash(SCRIPT)
    )
}

/// The whole page around a body.
fn page(title: &str, body: &str) -> String {
    let mut s = String::with_capacity(body.len() + STYLE.len() + SCRIPT.len() + 1024);
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(
        s,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">",
        content_security_policy()
    );
    s.push_str("<meta name=\"referrer\" content=\"no-referrer\">\n");
    s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(s, "<title>{}</title>", escape(title));
    // The script runs in <head> so that its CSP-violation listener is there before any
    // element could try to load anything; it waits for the DOM before touching it.
    let _ = writeln!(s, "<style>{STYLE}</style>");
    let _ = writeln!(s, "<script>{SCRIPT}</script>");
    s.push_str("</head>\n<body>\n");
    s.push_str(body);
    s.push_str("<pre id=\"selftest\" hidden></pre>\n</body>\n</html>\n");
    s
}

/// The HTML view of a report.
pub fn render(inv: &Inventory, signature: &SignatureStatus) -> String {
    let title = match table::sites(inv).as_slice() {
        [] => "otscout inventory report".to_owned(),
        [one] => format!("otscout inventory report: {one}"),
        many => format!("otscout fleet report: {} sites", many.len()),
    };
    let mut body = String::new();
    let _ = writeln!(body, "<header><h1>{}</h1>", escape(&title));
    table::header(&mut body, inv, signature);
    body.push_str("</header>\n<main>\n");
    table::flags(&mut body, inv);
    table::advisories(&mut body, inv);
    table::assets(&mut body, inv);
    map::section(&mut body, inv);
    body.push_str("</main>\n");
    page(&title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_turns_markup_into_text() {
        assert_eq!(
            escape("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(
            escape("\"><img src=x onerror=alert(1)>"),
            "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(escape("a' b=\"c"), "a&#39; b=&quot;c");
        assert_eq!(escape("</style><b>"), "&lt;/style&gt;&lt;b&gt;");
        assert_eq!(escape("AT&T"), "AT&amp;T");
        assert_eq!(escape("a\u{2028}b\u{2029}c"), "a&#x2028;b&#x2029;c");
        assert_eq!(escape("x\u{1b}[2J\u{0}\u{7f}\u{85}"), "x?[2J???");
        assert_eq!(escape("Schneider Électrique\t"), "Schneider Électrique\t");
    }

    #[test]
    fn base64_matches_rfc_4648_test_vectors() {
        // RFC 4648 section 10.
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o, "{i:?}");
        }
    }

    #[test]
    fn the_policy_allows_exactly_the_inline_style_and_script() {
        let csp = content_security_policy();
        assert!(csp.starts_with("default-src 'none'; "), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        assert!(!csp.contains("http") && !csp.contains("data:"), "{csp}");
        // The page carries exactly the texts that were hashed.
        let inv = crate::inventory::merge(&[], chrono::DateTime::UNIX_EPOCH);
        let html = render(&inv, &SignatureStatus::NotChecked);
        assert!(html.contains(&format!("<style>{STYLE}</style>")));
        assert!(html.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(html.contains(&csp));
    }
}
