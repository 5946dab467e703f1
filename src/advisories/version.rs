//! Version ranges as advisories write them, and the test "is this firmware inside".
//!
//! Two inputs:
//! - the `vers:` scheme of the package-url vers specification
//!   (github.com/package-url/vers-spec, "vers: version range specifier"): `vers:<scheme>/<c>|<c>…`,
//!   each constraint an optional comparator (`<`, `<=`, `>`, `>=`, `=`, `!=`) and a version,
//!   or `*` alone for every version. Schemes `intdot` (dot-separated integers), `semver`
//!   (semver.org 2.0.0 precedence), `generic` and `all` are compared as the spec defines;
//!   any other scheme falls back to the `generic` comparison;
//! - the free text CISA puts in `product_version_range` and `product_version` names when it
//!   did not write a `vers:` string, in the forms that occur in its 2,380 OT advisories
//!   (`< V13.3.0.5`, `>= 8.0.0 | <= 8.5.1`, `All Versions < V6.1`, `All versions`, `*`,
//!   `versions prior to 2.80`, `Versions 33 and prior`), and CISA's own `vers:all/<V3.0.1`
//!   (the `all` scheme with constraints, which the spec does not allow): compared as
//!   `generic`.
//!
//! Anything else (`>FW16_up_to_and_including_FW26`, `<v36.011_v35.013_v34.014`) is
//! [`RangeError::NotUnderstood`]: the caller reports the match with the text for a person to
//! read, never as affected or not affected on a guess.
//!
//! Pure functions; versions come from untrusted files and devices, so nothing here panics
//! or allocates more than its input's size.

use std::cmp::Ordering;

use thiserror::Error;

/// Why a range could not be read or a version not compared.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RangeError {
    #[error("version range {0:?} is not in a form otscout understands")]
    NotUnderstood(String),
    #[error("version {version:?} cannot be compared with {other:?} ({scheme})")]
    Incomparable {
        scheme: &'static str,
        version: String,
        other: String,
    },
}

/// How two versions compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Dot-separated non-negative integers (vers `intdot`).
    Intdot,
    /// semver.org 2.0.0 precedence (vers `semver`).
    Semver,
    /// Runs of digits compared as numbers, runs of letters without case, anything else a
    /// separator; a leading `V`, `SV` or `FW` dropped (vers `generic`, CISA free text).
    Generic,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::Intdot => "intdot",
            Scheme::Semver => "semver",
            Scheme::Generic => "generic",
        }
    }
}

/// A comparator of a constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, o: Ordering) -> bool {
        match self {
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
        }
    }
}

/// One constraint: a comparator and a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub op: Op,
    pub version: String,
}

/// A parsed version range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Range {
    /// Every version (`vers:all/*`, `*`, `All versions`).
    All,
    /// Versions that satisfy the constraints under the vers algorithm.
    Constraints {
        scheme: Scheme,
        constraints: Vec<Constraint>,
    },
}

/// Reads a `product_version_range` name: a `vers:` string or one of CISA's free-text forms.
pub fn parse_range(text: &str) -> Result<Range, RangeError> {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("vers:") {
        return parse_vers(t, rest);
    }
    parse_text(t)
}

/// Reads a `product_version` name: one exact version, or the same free-text forms as a
/// range (CISA writes `vers:all/*` and `All versions` there too).
pub fn parse_version(text: &str) -> Result<Range, RangeError> {
    let t = text.trim();
    if let Some(v) = single_token(strip_word(t, "version").unwrap_or(t)) {
        return Ok(Range::Constraints {
            scheme: Scheme::Generic,
            constraints: vec![Constraint {
                op: Op::Eq,
                version: v.to_owned(),
            }],
        });
    }
    parse_range(t)
}

fn not_understood(text: &str) -> RangeError {
    // An untrusted file's text in an error: cut, so one warning stays one line.
    RangeError::NotUnderstood(text.chars().take(120).collect())
}

fn parse_vers(whole: &str, rest: &str) -> Result<Range, RangeError> {
    let (scheme, list) = rest.split_once('/').ok_or_else(|| not_understood(whole))?;
    let list = list.trim();
    if list == "*" {
        return Ok(Range::All);
    }
    let scheme = match scheme.trim().to_ascii_lowercase().as_str() {
        "intdot" => Scheme::Intdot,
        "semver" | "npm" | "cargo" => Scheme::Semver,
        // `all` with constraints is CISA's (`vers:all/<V3.0.1`): read as generic.
        _ => Scheme::Generic,
    };
    let mut constraints = Vec::new();
    for part in list.split('|') {
        // CISA glues two constraints into one (`vers:all/>=V4.5.0<V4.5.2`).
        for piece in split_glued(part.trim()) {
            let c = constraint(&piece, true).ok_or_else(|| not_understood(whole))?;
            if !push_lines(&mut constraints, c) {
                return Err(not_understood(whole));
            }
        }
    }
    Ok(Range::Constraints {
        scheme,
        constraints,
    })
}

/// Splits `>=V4.5.0<V4.5.2` (or `>= V2.5 < V2.6.1`) where a comparator follows a version:
/// one string per constraint, spaces after comparators removed.
fn split_glued(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut in_version = false;
    for c in s.chars() {
        let cmp = matches!(c, '<' | '>' | '=' | '!');
        if cmp && in_version {
            out.push(std::mem::take(&mut cur));
            in_version = false;
        }
        if c.is_whitespace() {
            // Inside a version a space ends it; after a comparator it is dropped.
            if in_version {
                in_version = false;
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if !cmp {
            in_version = true;
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// CISA's one version per release line (`<v36.011_v35.013_v34.014`, ICSA-24-226-09:
/// "v34.014 and earlier, v35.013 and earlier, v36.011 and earlier" in the advisory text):
/// below the lowest, or in a listed line below its version. Written as the equivalent vers
/// intervals `<v34.014|>=35|<v35.013|>=36|<v36.011`. Any other constraint is kept as is.
fn push_lines(out: &mut Vec<Constraint>, c: Constraint) -> bool {
    let upper = matches!(c.op, Op::Lt | Op::Le);
    let parts: Vec<&str> = c.version.split('_').collect();
    let lines = upper
        && parts.len() > 1
        && parts
            .iter()
            .all(|p| single_token(p).is_some() && line_of(p).is_some());
    if !lines {
        // An `_` anywhere else is a form not read here.
        let ok = !c.version.contains('_');
        out.push(c);
        return ok;
    }
    let mut parts = parts;
    parts.sort_by(|a, b| generic_cmp(a, b).unwrap_or(Ordering::Equal));
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            if let Some(line) = line_of(p) {
                out.push(Constraint {
                    op: Op::Ge,
                    version: line.to_owned(),
                });
            }
        }
        out.push(Constraint {
            op: c.op,
            version: (*p).to_owned(),
        });
    }
    true
}

/// The release line (first number) of a version: `35` of `v35.013`.
fn line_of(v: &str) -> Option<&str> {
    let start = v.find(|c: char| c.is_ascii_digit())?;
    let rest = &v[start..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// `word` at the start of `s` (any case) followed by a space or the end: the rest.
fn strip_word<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let head = s.get(..word.len())?;
    if !head.eq_ignore_ascii_case(word) {
        return None;
    }
    let rest = &s[word.len()..];
    (rest.is_empty() || rest.starts_with(' ')).then(|| rest.trim_start())
}

/// A version token: no spaces, a digit somewhere, only characters versions use.
fn single_token(s: &str) -> Option<&str> {
    let s = s.trim();
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars().any(|c| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '(' | ')'));
    ok.then_some(s)
}

fn constraint(part: &str, bare_is_eq: bool) -> Option<Constraint> {
    let (op, v) = if let Some(v) = part.strip_prefix(">=") {
        (Op::Ge, v)
    } else if let Some(v) = part.strip_prefix("<=") {
        (Op::Le, v)
    } else if let Some(v) = part.strip_prefix("!=") {
        (Op::Ne, v)
    } else if let Some(v) = part.strip_prefix('<') {
        (Op::Lt, v)
    } else if let Some(v) = part.strip_prefix('>') {
        (Op::Gt, v)
    } else if let Some(v) = part.strip_prefix('=') {
        (Op::Eq, v)
    } else if bare_is_eq {
        (Op::Eq, part)
    } else {
        return None;
    };
    let version = single_token(v)?;
    Some(Constraint {
        op,
        version: version.to_owned(),
    })
}

fn parse_text(t: &str) -> Result<Range, RangeError> {
    let lower = t.to_ascii_lowercase();
    let bare = lower.trim_end_matches('.').trim();
    if matches!(
        bare,
        "*" | "all" | "all versions" | "all variants" | "all firmware versions"
    ) {
        return Ok(Range::All);
    }
    // `All Versions < V6.1`: the words add nothing to the constraint.
    let t = strip_word(t, "all versions").unwrap_or(t);
    let lower = t.to_ascii_lowercase();
    for prefix in [
        "all versions prior to ",
        "versions prior to ",
        "prior to ",
        "before ",
    ] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            let v = single_token(&t[prefix.len()..]).filter(|_| !rest.is_empty());
            return v
                .map(|v| {
                    generic(vec![Constraint {
                        op: Op::Lt,
                        version: v.to_owned(),
                    }])
                })
                .ok_or_else(|| not_understood(t));
        }
    }
    for suffix in [
        " and prior",
        " and earlier",
        " and older",
        " or earlier",
        " and before",
    ] {
        if let Some(head) = lower.strip_suffix(suffix) {
            let head = &t[..head.len()];
            let head = strip_word(head, "versions")
                .or_else(|| strip_word(head, "version"))
                .unwrap_or(head);
            let v = single_token(head).ok_or_else(|| not_understood(t))?;
            // `Versions 33 and prior` (Rockwell, ICSA-21-061-02) names a major revision:
            // 33.011 is in it, so the bound is below 34.
            let digits = v.strip_prefix(['V', 'v']).unwrap_or(v);
            if let Some(next) = digits
                .parse::<u64>()
                .ok()
                .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.checked_add(1))
            {
                return Ok(generic(vec![Constraint {
                    op: Op::Lt,
                    version: next.to_string(),
                }]));
            }
            return Ok(generic(vec![Constraint {
                op: Op::Le,
                version: v.to_owned(),
            }]));
        }
    }
    // WAGO's `>FW16_up_to_and_including_FW26` (ICSA-23-325-01).
    if let Some((lo, hi)) = t.split_once("_up_to_and_including_") {
        if let (Some(lo), Some(hi)) = (constraint(lo, false), single_token(hi)) {
            return Ok(generic(vec![
                lo,
                Constraint {
                    op: Op::Le,
                    version: hi.to_owned(),
                },
            ]));
        }
    }
    // `28 - 32` (ICSA-23-026-06): both ends included.
    if let Some((lo, hi)) = t.split_once(" - ") {
        if let (Some(lo), Some(hi)) = (single_token(lo), single_token(hi)) {
            return Ok(generic(vec![
                Constraint {
                    op: Op::Ge,
                    version: lo.to_owned(),
                },
                Constraint {
                    op: Op::Le,
                    version: hi.to_owned(),
                },
            ]));
        }
    }
    // One version alone (`V4.5.0`, `Version V4.4`): that version. Only with a dot, so a
    // model name after `: ` is not read as a version.
    let one = strip_word(t, "version").unwrap_or(t);
    if let Some(v) = single_token(one).filter(|v| v.contains('.') && !v.contains(['(', ')'])) {
        return Ok(generic(vec![Constraint {
            op: Op::Eq,
            version: v.to_owned(),
        }]));
    }
    let mut constraints = Vec::new();
    for part in t.split('|') {
        // `< V13.3.0.5`, `>= V2.5 < V2.6.1`, `>= V2.0 and < V2.6`: comparators with spaces,
        // two constraints in one part, joined by `and`.
        let words: Vec<&str> = part
            .split_whitespace()
            .filter(|w| !w.eq_ignore_ascii_case("and"))
            .collect();
        let pieces = split_glued(&words.join(" "));
        if pieces.is_empty() {
            return Err(not_understood(t));
        }
        let alone = pieces.len() == 1;
        for piece in pieces {
            // A bare version alone in a list item is that version (`28.011 | 28.012`);
            // beside a constraint (`15.0 SP1`) it is a form not read here.
            let c = constraint(&piece, alone).ok_or_else(|| not_understood(t))?;
            if !push_lines(&mut constraints, c) {
                return Err(not_understood(t));
            }
        }
    }
    Ok(generic(constraints))
}

fn generic(constraints: Vec<Constraint>) -> Range {
    Range::Constraints {
        scheme: Scheme::Generic,
        constraints,
    }
}

impl Range {
    /// Whether `version` lies in the range, by the vers specification's algorithm
    /// ("checking if a version is contained within a range"): an `=` that holds wins, a
    /// `!=` that fails loses; the rest, sorted by version, are read as intervals.
    pub fn contains(&self, version: &str) -> Result<bool, RangeError> {
        let (scheme, constraints) = match self {
            Range::All => return Ok(true),
            Range::Constraints {
                scheme,
                constraints,
            } => (*scheme, constraints),
        };
        let fw;
        let version = match wago_fw(version, constraints) {
            Some(n) => {
                fw = n;
                fw.as_str()
            }
            None => version,
        };
        let mut rest: Vec<&Constraint> = Vec::new();
        let mut only_ne = true;
        for c in constraints {
            let o = compare(scheme, version, &c.version)?;
            match c.op {
                Op::Eq if o == Ordering::Equal => return Ok(true),
                Op::Eq => only_ne = false,
                Op::Ne if o == Ordering::Equal => return Ok(false),
                Op::Ne => {}
                _ => {
                    only_ne = false;
                    rest.push(c);
                }
            }
        }
        if rest.is_empty() {
            return Ok(only_ne && !constraints.is_empty());
        }
        // Sorting compares the range's own versions: one that does not compare with the
        // others makes the range unusable, said as such.
        let mut err = None;
        rest.sort_by(|a, b| {
            compare(scheme, &a.version, &b.version).unwrap_or_else(|e| {
                err.get_or_insert(e);
                Ordering::Equal
            })
        });
        if let Some(e) = err {
            return Err(e);
        }
        let holds = |c: &Constraint| -> Result<bool, RangeError> {
            Ok(c.op.holds(compare(scheme, version, &c.version)?))
        };
        let is_upper = |c: &Constraint| matches!(c.op, Op::Lt | Op::Le);
        let last = rest.len() - 1;
        for (i, cur) in rest.iter().enumerate() {
            if i == 0 && is_upper(cur) && holds(cur)? {
                return Ok(true);
            }
            if i == last && !is_upper(cur) && holds(cur)? {
                return Ok(true);
            }
            if let Some(next) = rest.get(i + 1) {
                if !is_upper(cur) && is_upper(next) && holds(cur)? && holds(next)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// WAGO numbers firmware releases `FW<n>` and writes the number after the version in
/// parentheses (`03.10.08(22)` is FW22; WAGO's PFC200 release notes): against a range
/// written in `FW` numbers, the device's `FW<n>` is compared.
fn wago_fw(version: &str, constraints: &[Constraint]) -> Option<String> {
    let fw_range = constraints.iter().all(|c| {
        c.version
            .strip_prefix(['F', 'f'])
            .and_then(|r| r.strip_prefix(['W', 'w']))
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
    });
    if !fw_range || constraints.is_empty() {
        return None;
    }
    let inner = version.trim().strip_suffix(')')?.rsplit_once('(')?.1;
    (!inner.is_empty() && inner.len() <= 4 && inner.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("FW{inner}"))
}

/// Compares two versions under a scheme.
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Result<Ordering, RangeError> {
    let r = match scheme {
        Scheme::Intdot => intdot(a, b),
        Scheme::Semver => semver(a, b),
        Scheme::Generic => generic_cmp(a, b),
    };
    r.ok_or_else(|| RangeError::Incomparable {
        scheme: scheme.name(),
        version: a.chars().take(64).collect(),
        other: b.chars().take(64).collect(),
    })
}

/// Two runs of digits by value, without parsing (no overflow on 40 digits).
fn numeric(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn intdot(a: &str, b: &str) -> Option<Ordering> {
    let parse = |s: &str| -> Option<Vec<String>> {
        s.trim()
            .split('.')
            .map(|p| (!p.is_empty() && p.bytes().all(|c| c.is_ascii_digit())).then(|| p.to_owned()))
            .collect()
    };
    let (a, b) = (parse(a)?, parse(b)?);
    for i in 0..a.len().max(b.len()) {
        // A missing segment counts as 0: `1.2` equals `1.2.0`.
        let o = numeric(
            a.get(i).map_or("0", String::as_str),
            b.get(i).map_or("0", String::as_str),
        );
        if o != Ordering::Equal {
            return Some(o);
        }
    }
    Some(Ordering::Equal)
}

fn semver(a: &str, b: &str) -> Option<Ordering> {
    fn split(s: &str) -> Option<(Vec<&str>, Option<Vec<&str>>)> {
        let s = s.trim();
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        let s = s.split_once('+').map_or(s, |(v, _)| v); // build metadata has no precedence
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, Some(p.split('.').collect::<Vec<_>>())),
            None => (s, None),
        };
        let core: Vec<&str> = core.split('.').collect();
        let ok = (1..=3).contains(&core.len())
            && core
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
        ok.then_some((core, pre))
    }
    let (ac, ap) = split(a)?;
    let (bc, bp) = split(b)?;
    for i in 0..3 {
        let o = numeric(
            ac.get(i).copied().unwrap_or("0"),
            bc.get(i).copied().unwrap_or("0"),
        );
        if o != Ordering::Equal {
            return Some(o);
        }
    }
    // semver.org §11: a pre-release sorts before its release; identifiers compare
    // numerically when both are numeric, numeric below alphanumeric, else by ASCII.
    Some(match (ap, bp) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => {
            for (p, q) in x.iter().zip(&y) {
                let pn = p.bytes().all(|c| c.is_ascii_digit());
                let qn = q.bytes().all(|c| c.is_ascii_digit());
                let o = match (pn, qn) {
                    (true, true) => numeric(p, q),
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (false, false) => p.cmp(q),
                };
                if o != Ordering::Equal {
                    return Some(o);
                }
            }
            x.len().cmp(&y.len())
        }
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Run<'a> {
    Num(&'a str),
    Alpha(String),
}

/// The runs of a generic version, after dropping a leading `V`/`v`, `SV` (Schneider) or
/// `FW`, each followed by a digit, or a leading `version`.
fn runs(s: &str) -> Vec<Run<'_>> {
    let mut s = s.trim();
    if let Some(r) = strip_word(s, "version") {
        s = r;
    }
    for p in ["SV", "sv", "FW", "fw", "V.", "v.", "V", "v"] {
        if let Some(r) = s.strip_prefix(p) {
            if r.starts_with(|c: char| c.is_ascii_digit()) {
                s = r;
                break;
            }
        }
    }
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i].is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Run::Num(&s[start..i]));
        } else if b[i].is_ascii_alphabetic() {
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push(Run::Alpha(s[start..i].to_ascii_lowercase()));
        } else {
            i += 1;
        }
    }
    out
}

fn generic_cmp(a: &str, b: &str) -> Option<Ordering> {
    let (ra, rb) = (runs(a), runs(b));
    if ra.is_empty() || rb.is_empty() {
        return None;
    }
    for i in 0..ra.len().max(rb.len()) {
        let o = match (ra.get(i), rb.get(i)) {
            (Some(Run::Num(x)), Some(Run::Num(y))) => numeric(x, y),
            // Siemens writes `V3.X.16` for "V3.<any>.16": an `X` where the other has a
            // number stands for that number (compared per release line).
            (Some(Run::Alpha(x)), Some(Run::Num(_))) | (Some(Run::Num(_)), Some(Run::Alpha(x)))
                if x == "x" =>
            {
                Ordering::Equal
            }
            (Some(Run::Alpha(x)), Some(Run::Alpha(y))) => x.cmp(y),
            // A letter where the other has a number: `R15A` against `15.1` says nothing.
            (Some(_), Some(_)) => return None,
            // `1.2` against `1.2.0`: trailing zeros are no difference; `1.2` against
            // `1.2.1` or `1.2a`: the longer is the later.
            (Some(Run::Num(x)), None) if x.bytes().all(|c| c == b'0') => Ordering::Equal,
            (None, Some(Run::Num(y))) if y.bytes().all(|c| c == b'0') => Ordering::Equal,
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        };
        if o != Ordering::Equal {
            return Some(o);
        }
    }
    Some(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inside(range: &str, v: &str) -> bool {
        parse_range(range)
            .and_then(|r| r.contains(v))
            .unwrap_or_else(|e| panic!("{range} {v}: {e}"))
    }

    #[test]
    fn vers_comparators_and_alternatives() {
        assert!(inside("vers:intdot/<3.2.19", "3.2.18"));
        assert!(!inside("vers:intdot/<3.2.19", "3.2.19"));
        assert!(inside("vers:intdot/<=3.2.19", "3.2.19"));
        assert!(inside("vers:intdot/>=2.0|<3.0", "2.5"));
        assert!(!inside("vers:intdot/>=2.0|<3.0", "3.0.0"));
        assert!(!inside("vers:intdot/>=2.0|<3.0", "1.9"));
        // Two intervals and a single version, listed in any order.
        let r = "vers:intdot/>=4.0|<4.2|3.1|>=1.0|<2.0";
        for (v, want) in [
            ("1.5", true),
            ("2.5", false),
            ("3.1", true),
            ("4.1", true),
            ("4.2", false),
        ] {
            assert_eq!(inside(r, v), want, "{v}");
        }
        assert!(inside("vers:intdot/>=5.0", "12.0"));
        assert!(inside("vers:all/*", "anything"));
        assert!(inside("vers:intdot/!=1.0", "1.1"));
        assert!(!inside("vers:intdot/!=1.0", "1.0"));
        assert!(inside("vers:intdot/<3.0", "2.99.99"));
        // intdot is integers: 10 is after 9.
        assert!(!inside("vers:intdot/<9.1", "10.0"));
    }

    #[test]
    fn semver_precedence() {
        assert!(inside("vers:semver/<2.0.0", "2.0.0-rc.1"));
        // beta.11 is after beta.2 (numeric identifiers), and beta before rc.
        assert!(!inside("vers:semver/<2.0.0-beta.2", "2.0.0-beta.11"));
        assert!(inside("vers:semver/<2.0.0-beta.11", "2.0.0-beta.2"));
        assert!(inside("vers:semver/<2.0.0-rc.1", "2.0.0-beta.11"));
        assert!(inside("vers:semver/>=1.0.0|<=1.4.2", "1.4.2+build.7"));
        assert_eq!(
            compare(Scheme::Semver, "1.0.0-alpha", "1.0.0-alpha.1"),
            Ok(Ordering::Less)
        );
        assert_eq!(
            compare(Scheme::Semver, "1.0.0-alpha.beta", "1.0.0-beta"),
            Ok(Ordering::Less)
        );
        assert!(compare(Scheme::Semver, "1.x", "1.0").is_err());
    }

    #[test]
    fn generic_and_cisa_text() {
        assert!(inside("vers:generic/<V2.9.4", "2.9.0"));
        assert!(inside("vers:all/<V3.0.1", "3.0.0"));
        assert!(!inside("vers:all/<V3.0.1", "3.0.1"));
        assert!(inside("< V13.3.0.5", "13.3"));
        assert!(inside("<5.6.2", "5.6.1"));
        assert!(inside(">= 8.0.0 | <= 8.5.1", "8.5.1"));
        assert!(!inside(">= 8.0.0 | <= 8.5.1", "8.5.2"));
        assert!(inside("All Versions < V6.1", "6.0.9"));
        assert!(inside("All versions", "1"));
        assert!(inside("*", "1"));
        assert!(inside("< SV4.10", "4.02"));
        assert!(!inside("< SV4.10", "4.10"));
        assert!(inside("all versions prior to v2.80", "2.70"));
        assert!(inside("Versions 33 and prior", "33.11"));
        assert!(!inside("Versions 33 and prior", "34.1"));
        // CIP minor revisions: 33.11 is 33.011.
        assert!(inside("<= 33.011", "33.11"));
        assert!(
            parse_version("Version V2.1").and_then(|r| r.contains("2.1")) == Ok(true),
            "exact"
        );
        assert!(parse_version("3.9.4").and_then(|r| r.contains("3.9.5")) == Ok(false));
    }

    #[test]
    fn cisa_free_text_forms_seen_in_the_set() {
        // Siemens `V3.X.16`: per 3.x release line (ICSA-17-339-01).
        assert!(inside("< V3.X.16", "3.2.6"));
        assert!(!inside("< V3.X.16", "3.3.16"));
        assert!(!inside("< V3.X.16", "4.0.0"));
        // Two constraints glued or spaced, or joined by `and` (ICSA-22-041-01, ICSA-19-099-03).
        assert!(inside("vers:all/>=V4.5.0<V4.5.2", "4.5.1"));
        assert!(!inside("vers:all/>=V4.5.0<V4.5.2", "4.4.0"));
        assert!(inside(">= V2.5 < V2.6.1", "2.6.0"));
        assert!(!inside(">= V2.5 < V2.6.1", "2.6.1"));
        assert!(inside("All versions >= V2.0 and < V2.6", "2.5"));
        assert!(!inside("All versions >= V2.0 and < V2.6", "1.9"));
        // A version alone, and a list of versions (ICSA-21-222-09, ICSA-17-094-05).
        assert!(inside("V4.5.0", "4.5.0"));
        assert!(!inside("Version V4.4", "4.4.1"));
        assert!(inside("28.011 | 28.012 | 28.013", "28.12"));
        assert!(!inside("28.011 | 28.012 | 28.013", "33.11"));
        assert!(inside("v.32.011", "32.11"));
        assert!(inside("28  - 32", "32"));
        assert!(!inside("28  - 32", "33.11"));
        // One limit per release line (ICSA-24-226-09).
        let r = "<v36.011_v35.013_v34.014";
        for (v, want) in [
            ("33.11", true),
            ("34.13", true),
            ("34.14", false),
            ("35.12", true),
            ("35.13", false),
            ("36.10", true),
            ("36.11", false),
            ("37.1", false),
        ] {
            assert_eq!(inside(r, v), want, "{v}");
        }
        // WAGO FW numbers: `03.10.08(22)` is FW22 (ICSA-23-325-01).
        assert!(inside(">FW16_up_to_and_including_FW26", "03.10.08(22)"));
        assert!(!inside(">FW16_up_to_and_including_FW26", "03.09.04(16)"));
        assert!(!inside(">FW16_up_to_and_including_FW26", "04.01.10(27)"));
        // A version beside a word is not guessed at.
        assert!(parse_range("15.0 SP1").is_err());
    }

    #[test]
    fn what_is_not_understood_says_so() {
        for t in [
            ">FW16_up_to_and_including_FW26 and more",
            "< 15.3(3) JC1",
            "1SAP530200R0001 | G1  with BSP <= UN31 1.76",
            "vers:intdot",
            "",
        ] {
            assert!(
                matches!(parse_range(t), Err(RangeError::NotUnderstood(_))),
                "{t:?}"
            );
        }
        // A letter against a number does not compare, under any range.
        assert!(parse_range("< R15A").is_ok_and(|r| r.contains("15.1").is_err()));
        assert!(parse_range("vers:intdot/<3.a").is_ok_and(|r| r.contains("3.1").is_err()));
    }

    proptest::proptest! {
        /// Ranges and versions come from untrusted files and devices: nothing panics.
        #[test]
        fn any_text_is_a_result(r in "\\PC{0,40}", v in "\\PC{0,20}") {
            if let Ok(range) = parse_range(&r) {
                let _ = range.contains(&v);
            }
            let _ = parse_version(&r).map(|x| x.contains(&v));
        }
    }
}
