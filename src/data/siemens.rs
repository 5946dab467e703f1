//! Siemens order numbers (MLFB) to SIMATIC product family, from `data/s7_families.csv`
//! (its header names the sources).
//!
//! The table is embedded at build time and parsed once, on first use. A pattern matches
//! the start of an order number after spaces are removed and letters upper-cased; `?`
//! matches any one character; the longest matching pattern wins.

use std::sync::OnceLock;

const FAMILIES_CSV: &str = include_str!("../../data/s7_families.csv");

#[derive(Debug)]
struct Rule {
    /// Normalised pattern (no spaces, upper case).
    pattern: Vec<u8>,
    literals: usize,
    family: String,
}

static RULES: OnceLock<Vec<Rule>> = OnceLock::new();

fn normalise(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| b.to_ascii_uppercase())
        .collect()
}

/// Parses `pattern,family,note` rows with `#` comment lines and a header row. Rows that do
/// not parse are skipped (the unit tests prove there are none in the shipped file).
fn parse(csv_text: &str) -> Vec<Rule> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .has_headers(true)
        .flexible(true)
        .from_reader(csv_text.as_bytes());
    reader
        .records()
        .filter_map(Result::ok)
        .filter_map(|r| {
            let pattern = normalise(r.get(0)?);
            let family = r.get(1)?.trim();
            if pattern.is_empty() || family.is_empty() {
                return None;
            }
            Some(Rule {
                literals: pattern.iter().filter(|&&b| b != b'?').count(),
                pattern,
                family: family.to_owned(),
            })
        })
        .collect()
}

fn rules() -> &'static [Rule] {
    RULES.get_or_init(|| parse(FAMILIES_CSV))
}

fn matches(pattern: &[u8], number: &[u8]) -> bool {
    pattern.len() <= number.len()
        && pattern
            .iter()
            .zip(number)
            .all(|(&p, &n)| p == b'?' || p == n)
}

/// The SIMATIC family of an order number: `6ES7 315-2EH14-0AB0` is `S7-300`,
/// `6ES7 214-1AG40-0XB0` `S7-1200`, `6ES7 214-1AD23-0XB0` `S7-200`,
/// `6ES7 151-8AB01-0AB0` `ET 200S CPU`. `None` when no pattern matches.
pub fn family(order_number: &str) -> Option<&'static str> {
    let number = normalise(order_number);
    rules()
        .iter()
        .filter(|r| matches(&r.pattern, &number))
        // Longest pattern wins; among equals the one with more literal characters, then
        // the first in the file (max_by_key keeps the last maximum, so compare reversed index).
        .enumerate()
        .max_by_key(|(i, r)| (r.pattern.len(), r.literals, std::cmp::Reverse(*i)))
        .map(|(_, r)| r.family.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_parses() {
        let rows = FAMILIES_CSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .count()
            - 1;
        assert_eq!(rules().len(), rows);
        assert!(rows >= 30);
    }

    #[test]
    fn capture_devices() {
        // captures/INDEX.md: the IM151-8 PN/DP CPU and Snap7's emulated CPU 315-2 PN/DP.
        assert_eq!(family("6ES7 151-8AB01-0AB0 "), Some("ET 200S CPU"));
        assert_eq!(family("6ES7 315-2EH14-0AB0"), Some("S7-300"));
    }

    #[test]
    fn s7_200_and_s7_1200_share_6es7_21x() {
        assert_eq!(family("6ES7 214-1AD23-0XB0"), Some("S7-200")); // CPU 224
        assert_eq!(family("6ES7 216-2AD23-0XB0"), Some("S7-200")); // CPU 226
        assert_eq!(family("6ES7 214-1AG40-0XB0"), Some("S7-1200")); // CPU 1214C DC/DC/DC
        assert_eq!(family("6ES7 212-1AE31-0XB0"), Some("S7-1200")); // CPU 1212C V3
        assert_eq!(family("6ES7 215-1AF40-0XB0"), Some("S7-1200")); // CPU 1215FC
        assert_eq!(family("6ES7 223-1PL32-0XB0"), Some("S7-1200")); // SM 1223
        assert_eq!(family("6ES7 223-1BL22-0XA0"), Some("S7-200")); // EM 223
    }

    #[test]
    fn other_families_and_longest_prefix() {
        assert_eq!(family("6ES7 414-3XM07-0AB0"), Some("S7-400"));
        assert_eq!(family("6ES7 417-5HT06-0AB0"), Some("S7-400H"));
        assert_eq!(family("6ES7 421-1BL01-0AA0"), Some("S7-400"));
        assert_eq!(family("6ES7 516-3AN02-0AB0"), Some("S7-1500"));
        assert_eq!(family("6ES7 512-1DK01-0AB0"), Some("ET 200SP CPU"));
        assert_eq!(family("6ES7 521-1BL00-0AB0"), Some("S7-1500"));
        assert_eq!(family("6ES7 151-1AA06-0AB0"), Some("ET 200S"));
        assert_eq!(family("6ES7 155-6AU01-0BN0"), Some("ET 200SP"));
        assert_eq!(family("6ED1 052-1MD08-0BA1"), Some("LOGO!"));
        assert_eq!(family("6GK7 243-1BX30-0XE0"), Some("S7-1200"));
        assert_eq!(family("6GK7 343-1EX30-0XE0"), Some("S7-300"));
    }

    #[test]
    fn spaces_and_case_are_normalised() {
        assert_eq!(family("6es7315-2eh14-0ab0"), Some("S7-300"));
        assert_eq!(family("  6ES7 31 5-2EH14"), Some("S7-300"));
    }

    #[test]
    fn unknown_and_short_numbers() {
        assert_eq!(family(""), None);
        assert_eq!(family("                    "), None);
        assert_eq!(family("1756-ENBT/A"), None);
        assert_eq!(family("6ES7"), None);
        // Too short to tell S7-200 from S7-1200: only the wildcard rows could match.
        assert_eq!(family("6ES7 214"), None);
    }
}
