//! Target specs, exclusions and lazy iteration.
//!
//! A spec is one of: an IPv4 or IPv6 address (`10.0.0.5`, `fd00::5`), a CIDR prefix
//! (`10.0.0.0/24`, `fd00::/120`), or a range (`10.0.0.5-10.0.0.40`, `10.0.0.5-40` for the
//! last octet, `fd00::1-fd00::20`). Files hold one spec per line; `#` starts a comment and
//! blank lines are skipped. Host names are never resolved (no DNS).
//!
//! A [`TargetSet`] holds disjoint address intervals, never the addresses: a /8 costs a few
//! bytes and counting it is instant. Iteration order is documented and deterministic:
//! **ascending numeric order, all IPv4 addresses before all IPv6 addresses, each address
//! once** (overlapping specs are merged), whatever order the specs were given in.
//!
//! # OT safety
//! - An exclusion always wins: excluded intervals are subtracted before anything else sees
//!   the set.
//! - The network and broadcast addresses of IPv4 prefixes shorter than /31 are skipped.
//! - Multicast (224.0.0.0/4, ff00::/8), the limited broadcast (255.255.255.255) and the
//!   unspecified address (0.0.0.0, ::) are refused in targets, with an error naming the spec.
//! - More than [`LARGE_SCOPE`] addresses are refused unless the operator says
//!   `--allow-large-scope`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// Scopes larger than this (after exclusions) need `--allow-large-scope`.
pub const LARGE_SCOPE: u128 = 65_536;

/// Whether a spec includes or excludes (it changes error wording and the refusals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Target,
    Exclude,
}

impl Role {
    fn word(self) -> &'static str {
        match self {
            Role::Target => "target",
            Role::Exclude => "exclude",
        }
    }
}

/// Where a spec came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The command line.
    Arg,
    /// A file and its 1-based line.
    File { path: PathBuf, line: usize },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Arg => Ok(()),
            Origin::File { path, line } => write!(f, " ({} line {line})", path.display()),
        }
    }
}

/// One spec as given, with its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecInput {
    pub text: String,
    pub origin: Origin,
}

impl SpecInput {
    /// A spec from the command line.
    pub fn arg(text: impl Into<String>) -> SpecInput {
        SpecInput {
            text: text.into(),
            origin: Origin::Arg,
        }
    }
}

/// Why targets could not be resolved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// One spec is malformed or refused: `target "10.0.0.0/33": prefix length 33 is more than 32`.
    #[error("{role} {}{origin}: {problem}", shown_spec(spec))]
    Spec {
        role: &'static str,
        spec: String,
        origin: Origin,
        problem: String,
    },
    #[error("cannot read {role} file {}: {error}", path.display())]
    File {
        role: &'static str,
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    /// Too large, not UTF-8, a directory, missing: the error names the file.
    #[error(transparent)]
    Read(#[from] crate::input_file::ReadError),
    #[error(
        "exclude file {} is empty: a safety list that lost its content would let otscout touch what it protects; restore it, or write a comment line (`# nothing excluded`) to say it is empty on purpose",
        path.display()
    )]
    EmptyExcludeFile { path: PathBuf },
    #[error(
        "scope of {count} addresses is more than {LARGE_SCOPE}: narrow the targets, add exclusions, or pass --allow-large-scope if you mean it"
    )]
    TooLarge { count: u128 },
    #[error("no targets given: name addresses, prefixes or ranges, or a file with -i")]
    NoTargets,
    #[error("no targets left: the exclusions cover all {count} target addresses")]
    AllExcluded { count: u128 },
}

/// Reads a targets or exclusions file: one spec per line, `#` comments, blank lines
/// skipped; a UTF-8 byte order mark and CRLF line ends are accepted.
///
/// # OT safety
/// An exclusions file with nothing in it at all (not even a comment) is refused: it is
/// the safety list, and an empty one is more likely lost than meant.
pub fn read_spec_file(path: &Path, role: Role) -> Result<Vec<SpecInput>, TargetError> {
    let kind = crate::input_file::Kind {
        what: match role {
            Role::Target => "target file",
            Role::Exclude => "exclude file",
        },
        ..crate::input_file::SPEC_FILE
    };
    let text = crate::input_file::read_text(path, kind)?;
    // An empty safety list is more often a failed copy or a truncated file than a choice;
    // a comment says the choice was made.
    if role == Role::Exclude && text.trim().is_empty() {
        return Err(TargetError::EmptyExcludeFile {
            path: path.to_path_buf(),
        });
    }
    Ok(parse_spec_lines(&text, path))
}

/// Splits file text into specs (see [`read_spec_file`]).
pub fn parse_spec_lines(text: &str, path: &Path) -> Vec<SpecInput> {
    let mut out = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        // Several specs on one line, separated by blanks or commas, are allowed.
        for word in line
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
        {
            out.push(SpecInput {
                text: word.to_string(),
                origin: Origin::File {
                    path: path.to_path_buf(),
                    line: i + 1,
                },
            });
        }
    }
    out
}

/// An inclusive interval of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Interval {
    V4(u32, u32),
    V6(u128, u128),
}

/// Parses one spec into an inclusive interval. With `trim`, IPv4 prefixes shorter than /31
/// lose their network and broadcast addresses (targets); without, an exclusion covers the
/// whole prefix.
fn parse_interval(spec: &str, trim: bool) -> Result<Interval, String> {
    let spec = spec.trim();
    if let Some((addr, len)) = spec.split_once('/') {
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IP address"))?;
        let len: u8 = len
            .parse()
            .map_err(|_| format!("prefix length {len:?} is not a number"))?;
        return match addr {
            IpAddr::V4(a) => {
                if len > 32 {
                    return Err(format!("prefix length {len} is more than 32"));
                }
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                let net = u32::from(a) & mask;
                let last = net | !mask;
                if trim && len < 31 {
                    Ok(Interval::V4(net + 1, last - 1))
                } else {
                    Ok(Interval::V4(net, last))
                }
            }
            IpAddr::V6(a) => {
                if len > 128 {
                    return Err(format!("prefix length {len} is more than 128"));
                }
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                let net = u128::from(a) & mask;
                Ok(Interval::V6(net, net | !mask))
            }
        };
    }
    if let Some((a, b)) = spec.split_once('-') {
        let start: IpAddr = a
            .parse()
            .map_err(|_| format!("range start {a:?} is not an IP address"))?;
        let end: IpAddr = match b.parse::<IpAddr>() {
            Ok(e) => e,
            Err(_) => match (start, b.parse::<u16>()) {
                (IpAddr::V4(s), Ok(octet)) => {
                    let octet = u8::try_from(octet)
                        .map_err(|_| format!("last octet {octet} is more than 255"))?;
                    let o = s.octets();
                    IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], octet))
                }
                _ => {
                    return Err(format!(
                        "range end {b:?} is neither an IP address nor a last octet (0-255)"
                    ));
                }
            },
        };
        return match (start, end) {
            (IpAddr::V4(s), IpAddr::V4(e)) if s <= e => Ok(Interval::V4(s.into(), e.into())),
            (IpAddr::V6(s), IpAddr::V6(e)) if s <= e => Ok(Interval::V6(s.into(), e.into())),
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                Err(format!("range end {end} is before its start {start}"))
            }
            _ => Err("range mixes IPv4 and IPv6".into()),
        };
    }
    match spec.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => Ok(Interval::V4(a.into(), a.into())),
        Ok(IpAddr::V6(a)) => Ok(Interval::V6(a.into(), a.into())),
        Err(_) => {
            Err("not an IP address, CIDR prefix or range (host names are not resolved)".into())
        }
    }
}

const V4_MULTICAST: (u32, u32) = (0xE000_0000, 0xEFFF_FFFF);
const V6_MULTICAST: (u128, u128) = (0xff00 << 112, u128::MAX);
/// `::ffff:0:0/96`: a dual-stack socket connects these to the IPv4 address inside.
const V6_MAPPED_V4: (u128, u128) = (0xffff << 32, (0xffff << 32) | 0xffff_ffff);

/// Refuses addresses otscout never touches (targets only; excluding them is fine).
fn refuse(iv: Interval) -> Result<(), String> {
    match iv {
        Interval::V4(s, e) => {
            if s == 0 {
                return Err(
                    "covers the unspecified address 0.0.0.0, which otscout never touches".into(),
                );
            }
            if e == u32::MAX {
                return Err("covers the limited broadcast address 255.255.255.255, which otscout never touches".into());
            }
            if s <= V4_MULTICAST.1 && e >= V4_MULTICAST.0 {
                return Err(
                    "covers multicast addresses (224.0.0.0/4), which otscout never touches".into(),
                );
            }
        }
        Interval::V6(s, e) => {
            if s == 0 {
                return Err(
                    "covers the unspecified address ::, which otscout never touches".into(),
                );
            }
            if s <= V6_MAPPED_V4.1 && e >= V6_MAPPED_V4.0 {
                return Err(
                    "covers IPv4-mapped IPv6 addresses (::ffff:0:0/96), which reach IPv4 hosts past IPv4 exclusions; write the IPv4 address instead".into(),
                );
            }
            if e >= V6_MULTICAST.0 {
                return Err(
                    "covers multicast addresses (ff00::/8), which otscout never touches".into(),
                );
            }
        }
    }
    Ok(())
}

/// The resolved scope: what a scan may touch, after exclusions. Cheap to clone and count.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
    /// Addresses the targets covered before exclusions.
    before_exclusions: u128,
}

/// What a [`TargetSet`] is built from.
#[derive(Debug, Clone, Default)]
pub struct ScopeRequest {
    pub targets: Vec<SpecInput>,
    pub excludes: Vec<SpecInput>,
    pub allow_large_scope: bool,
}

impl TargetSet {
    /// Parses, refuses, merges and subtracts. Errors name the first bad spec.
    pub fn build(req: &ScopeRequest) -> Result<TargetSet, TargetError> {
        if req.targets.is_empty() {
            return Err(TargetError::NoTargets);
        }
        let parse = |input: &SpecInput, role: Role| -> Result<Interval, TargetError> {
            let err = |problem: String| TargetError::Spec {
                role: role.word(),
                spec: input.text.clone(),
                origin: input.origin.clone(),
                problem,
            };
            let iv = parse_interval(&input.text, role == Role::Target).map_err(err)?;
            if role == Role::Target {
                refuse(iv).map_err(err)?;
            }
            Ok(iv)
        };
        let mut inc4 = Vec::new();
        let mut inc6 = Vec::new();
        for t in &req.targets {
            match parse(t, Role::Target)? {
                Interval::V4(s, e) => inc4.push((s, e)),
                Interval::V6(s, e) => inc6.push((s, e)),
            }
        }
        let mut exc4 = Vec::new();
        let mut exc6 = Vec::new();
        for x in &req.excludes {
            match parse(x, Role::Exclude)? {
                Interval::V4(s, e) => exc4.push((s, e)),
                Interval::V6(s, e) => {
                    // An IPv4-mapped exclusion (::ffff:10.0.0.5) also excludes the IPv4
                    // host it names: an exclusion always wins.
                    let (ms, me) = V6_MAPPED_V4;
                    if s <= me && e >= ms {
                        exc4.push(((s.max(ms) - ms) as u32, (e.min(me) - ms) as u32));
                    }
                    exc6.push((s, e));
                }
            }
        }
        let inc4 = coalesce(inc4);
        let inc6 = coalesce(inc6);
        let before = total(&inc4) + total(&inc6);
        let set = TargetSet {
            v4: subtract(&inc4, &coalesce(exc4)),
            v6: subtract(&inc6, &coalesce(exc6)),
            before_exclusions: before,
        };
        let count = set.count();
        if count == 0 {
            return Err(TargetError::AllExcluded { count: before });
        }
        if count > LARGE_SCOPE && !req.allow_large_scope {
            return Err(TargetError::TooLarge { count });
        }
        Ok(set)
    }

    /// Addresses in the scope (after exclusions).
    pub fn count(&self) -> u128 {
        total(&self.v4) + total(&self.v6)
    }

    /// Addresses the targets covered before exclusions.
    pub fn count_before_exclusions(&self) -> u128 {
        self.before_exclusions
    }

    /// Addresses removed by exclusions.
    pub fn excluded(&self) -> u128 {
        self.before_exclusions - self.count()
    }

    /// Every address, lazily, in the documented order (ascending, IPv4 first, each once).
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let v4 = self
            .v4
            .iter()
            .flat_map(|&(s, e)| (s..=e).map(|a| IpAddr::V4(Ipv4Addr::from(a))));
        let v6 = self
            .v6
            .iter()
            .flat_map(|&(s, e)| (s..=e).map(|a| IpAddr::V6(Ipv6Addr::from(a))));
        v4.chain(v6)
    }

    /// Whether `addr` is in the scope (binary search over the intervals).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => in_intervals(&self.v4, u32::from(a)),
            IpAddr::V6(a) => in_intervals(&self.v6, u128::from(a)),
        }
    }

    /// The scope as disjoint ranges, in order (`10.0.0.1-10.0.0.254`, or one address).
    pub fn ranges(&self) -> impl Iterator<Item = String> + '_ {
        let v4 = self
            .v4
            .iter()
            .map(|&(s, e)| render_range(IpAddr::V4(s.into()), IpAddr::V4(e.into()), s == e));
        let v6 = self
            .v6
            .iter()
            .map(|&(s, e)| render_range(IpAddr::V6(s.into()), IpAddr::V6(e.into()), s == e));
        v4.chain(v6)
    }

    /// How many disjoint ranges the scope has.
    pub fn range_count(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

fn render_range(s: IpAddr, e: IpAddr, single: bool) -> String {
    if single {
        s.to_string()
    } else {
        format!("{s}-{e}")
    }
}

fn in_intervals<T: Ord + Copy>(ivs: &[(T, T)], a: T) -> bool {
    let i = ivs.partition_point(|&(_, e)| e < a);
    ivs.get(i).is_some_and(|&(s, _)| s <= a)
}

/// Number of addresses in disjoint inclusive intervals.
fn total<T: Copy + Into<u128>>(ivs: &[(T, T)]) -> u128 {
    ivs.iter()
        .map(|&(s, e)| e.into() - s.into() + 1)
        .fold(0u128, u128::saturating_add)
}

/// Values that have a successor (for merging adjacent intervals).
trait Addr: Copy + Ord {
    fn next(self) -> Option<Self>;
    fn prev(self) -> Option<Self>;
}

impl Addr for u32 {
    fn next(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn prev(self) -> Option<Self> {
        self.checked_sub(1)
    }
}

impl Addr for u128 {
    fn next(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn prev(self) -> Option<Self> {
        self.checked_sub(1)
    }
}

/// Sorts and merges overlapping or adjacent intervals.
fn coalesce<T: Addr>(mut ivs: Vec<(T, T)>) -> Vec<(T, T)> {
    ivs.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ivs.len());
    for (s, e) in ivs {
        if let Some(last) = out.last_mut() {
            if last.1.next().is_none_or(|n| s <= n) {
                last.1 = last.1.max(e);
                continue;
            }
        }
        out.push((s, e));
    }
    out
}

/// `inc` minus `exc`, both sorted and disjoint.
fn subtract<T: Addr>(inc: &[(T, T)], exc: &[(T, T)]) -> Vec<(T, T)> {
    let mut out = Vec::new();
    let mut j = 0;
    for &(s, e) in inc {
        let mut cur = Some(s);
        while j < exc.len() && exc[j].1 < s {
            j += 1;
        }
        let mut k = j;
        while let Some(c) = cur {
            if k >= exc.len() || exc[k].0 > e {
                out.push((c, e));
                break;
            }
            let (xs, xe) = exc[k];
            if xs > c {
                // xs > c >= s, so xs has a predecessor.
                if let Some(p) = xs.prev() {
                    out.push((c, p.min(e)));
                }
            }
            cur = if xe >= e { None } else { xe.next() };
            k += 1;
        }
    }
    out
}

/// A spec as an error quotes it: escaped, and cut to its first 80 bytes with its length
/// (a 10 MB line pasted by mistake is not echoed whole).
fn shown_spec(spec: &str) -> String {
    const MAX: usize = 80;
    if spec.len() <= MAX {
        return format!("\"{}\"", spec.escape_debug());
    }
    let mut end = MAX;
    while !spec.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "\"{}...\" ({} bytes)",
        spec[..end].escape_debug(),
        spec.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtract_cases() {
        let inc = vec![(10u32, 20u32), (30, 40)];
        assert_eq!(subtract(&inc, &[]), inc);
        assert_eq!(
            subtract(&inc, &[(12, 13), (18, 32)]),
            vec![(10, 11), (14, 17), (33, 40)]
        );
        assert_eq!(subtract(&inc, &[(0, 100)]), vec![]);
        assert_eq!(
            subtract(&inc, &[(10, 10), (40, 40)]),
            vec![(11, 20), (30, 39)]
        );
    }

    #[test]
    fn ipv4_mapped_ipv6_targets_are_refused() {
        for spec in [
            "::ffff:10.0.0.5",
            "::ffff:10.0.0.0/120",
            "::ffff:0:0/96",
            "::1-::ffff:1.2.3.4",
        ] {
            let err = parse_interval(spec, true).and_then(refuse).unwrap_err();
            assert!(err.contains("IPv4-mapped"), "{spec}: {err}");
        }
        assert!(parse_interval("2001:db8::5", true).and_then(refuse).is_ok());
        assert!(parse_interval("::1", true).and_then(refuse).is_ok());
    }

    #[test]
    fn ipv4_mapped_exclusion_excludes_the_ipv4_host() {
        let req = ScopeRequest {
            targets: vec![SpecInput::arg("10.0.0.4-6")],
            excludes: vec![SpecInput::arg("::ffff:10.0.0.5")],
            allow_large_scope: false,
        };
        let set = TargetSet::build(&req).unwrap();
        assert!(!set.contains("10.0.0.5".parse().unwrap()));
        assert_eq!(set.count(), 2);
    }

    #[test]
    fn coalesce_merges_adjacent_and_overlapping() {
        assert_eq!(
            coalesce(vec![(5u32, 9u32), (1, 3), (4, 4), (20, 30), (25, 26)]),
            vec![(1, 9), (20, 30)]
        );
        assert_eq!(
            coalesce(vec![(0u32, u32::MAX), (5, 6)]),
            vec![(0, u32::MAX)]
        );
    }
}
