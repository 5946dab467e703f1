//! Text from outside (a profile, a file name, a device) made safe to print.
//!
//! A control character in printed text is an instruction to the terminal: a newline
//! forges a line of the dry-run plan a process owner approves (a fake `sha256` line), an
//! escape sequence clears the screen or moves the cursor, BEL rings. Everything printed
//! from a string otscout did not write itself passes through here.

use std::borrow::Cow;

/// One line: every control character (C0, DEL, C1, and so newlines and tabs) as `?`.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect(),
    )
}

/// Text of several lines: line ends and tabs kept, every other control character as `?`.
pub fn printable_lines(s: &str) -> Cow<'_, str> {
    let bad = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(|c| if bad(c) { '?' } else { c }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_print_as_question_marks() {
        assert_eq!(printable("a\nsha256 00\u{1b}[2J\u{7}"), "a?sha256 00?[2J?");
        assert_eq!(printable("a\u{9b}b"), "a?b");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        assert_eq!(printable_lines("k = 1\n\tx\u{1b}\n"), "k = 1\n\tx?\n");
    }
}
