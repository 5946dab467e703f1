//! The only Fox message otscout may send, and the guard's rule for it.
//!
//! # OT safety
//! One message, byte for byte (SAFETY.md, "Niagara Fox"):
//! `fox a 1 -1 fox hello\n{\nfox.version=s:1.0\nid=i:1\n};;\n` (52 bytes). It opens the
//! Fox session handshake; a station answers with its own hello (who it is) and then a
//! login challenge, which otscout never answers: it closes. It is not the long hello a
//! Workbench sends (host name, host address, user's time zone, VM): otscout does not
//! pretend to be an engineering tool, and sends nothing about the scanning host.
//! [`check`] accepts exactly these bytes and nothing else.

use crate::wire::fox::Message;

/// A Fox message otscout may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Safe {
    /// The minimal client hello.
    MinimalHello,
}

/// The minimal hello's bytes (nmap's `fox-info` sends the same).
pub const MINIMAL_HELLO: &[u8] = b"fox a 1 -1 fox hello\n{\nfox.version=s:1.0\nid=i:1\n};;\n";

/// Why the guard refused bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    #[error("fox request refused: {len} bytes that are not the minimal hello ({first_line:?})")]
    NotAllowed { len: usize, first_line: String },
}

impl Safe {
    pub fn kind(&self) -> &'static str {
        "fox.hello"
    }

    /// The fields a reviewer needs beside the kind (dry runs): the hello's fields, taken
    /// from the message that is encoded (so the line cannot drift from the bytes), and
    /// that it names nothing of the scanning host.
    pub fn detail(&self) -> String {
        match self {
            Safe::MinimalHello => {
                let m = Message::minimal_hello();
                let fields: Vec<String> = m
                    .fields
                    .iter()
                    .map(|f| {
                        format!(
                            "{}={}:{}",
                            f.name,
                            char::from(f.kind),
                            String::from_utf8_lossy(&f.raw)
                        )
                    })
                    .collect();
                format!(
                    "minimal client hello ({}; no host name, address or time zone)",
                    fields.join(", ")
                )
            }
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Safe::MinimalHello => Message::minimal_hello().encode(out),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// [`check`] as the guard's dispatch calls it (`crate::safety::check`).
pub fn rule(bytes: &[u8]) -> Result<&'static str, crate::protocols::Refusal> {
    check(bytes)
        .map(|s| s.kind())
        .map_err(|r| crate::protocols::Refusal::NotAllowed(r.to_string()))
}

/// The guard's rule: `bytes` must be exactly the minimal hello. The message is re-parsed
/// with [`crate::wire::fox`] as well, so a change to the codec's encoder that still
/// produced these bytes by accident could not pass a different message.
pub fn check(bytes: &[u8]) -> Result<Safe, Refused> {
    let parsed = Message::decode_exact(bytes).ok();
    if bytes == MINIMAL_HELLO && parsed == Some(Message::minimal_hello()) {
        return Ok(Safe::MinimalHello);
    }
    let first = bytes.split(|&c| c == b'\n').next().unwrap_or_default();
    Err(Refused::NotAllowed {
        len: bytes.len(),
        first_line: String::from_utf8_lossy(&first[..first.len().min(40)]).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimal_hello_passes_and_is_the_documented_bytes() {
        assert_eq!(Safe::MinimalHello.to_bytes(), MINIMAL_HELLO);
        assert_eq!(MINIMAL_HELLO.len(), 52);
        assert_eq!(check(MINIMAL_HELLO), Ok(Safe::MinimalHello));
    }

    #[test]
    fn safety_md_shows_the_bytes_the_encoder_makes() {
        let doc = include_str!("../../../SAFETY.md");
        let hex: String = MINIMAL_HELLO.iter().map(|x| format!("{x:02x}")).collect();
        let section = doc.split("## Niagara Fox").nth(1).expect("a fox section");
        let shown: String = section
            .lines()
            .find(|l| l.starts_with("Hex: "))
            .expect("a hex line")
            .trim_start_matches("Hex: ")
            .chars()
            .filter(char::is_ascii_hexdigit)
            .collect();
        assert_eq!(shown, hex);
    }

    #[test]
    fn the_dry_run_detail_lists_the_fields_sent_and_nothing_of_the_host() {
        let d = Safe::MinimalHello.detail();
        assert_eq!(
            d,
            "minimal client hello (fox.version=s:1.0, id=i:1; no host name, address or time zone)"
        );
        // The dry run prints it beside the request.
        assert_eq!(
            crate::plan::request_detail(&crate::safety::SafeRequest::Fox(Safe::MinimalHello)),
            d
        );
        // Every field named is in the bytes sent.
        for f in ["fox.version=s:1.0", "id=i:1"] {
            let sent = String::from_utf8_lossy(MINIMAL_HELLO);
            assert!(sent.contains(f), "{f}");
        }
    }

    #[test]
    fn a_mutated_byte_anywhere_is_refused() {
        for i in 0..MINIMAL_HELLO.len() {
            for x in [0u8, b'0', b'1', b'a', b'\n', b'}', 0xff] {
                let mut m = MINIMAL_HELLO.to_vec();
                if m[i] == x {
                    continue;
                }
                m[i] = x;
                assert!(check(&m).is_err(), "byte {i} = {x:#x}");
            }
        }
        for n in 0..MINIMAL_HELLO.len() {
            assert!(check(&MINIMAL_HELLO[..n]).is_err());
        }
    }

    #[test]
    fn the_workbench_hello_and_other_messages_are_refused() {
        // fox_info.pcap frame 4, shortened: a Workbench's hello naming its host.
        let wb = b"fox a 1 -1 fox hello\n{\nfox.version=s:1.0\nid=i:1\nhostName=s:xpvm-0omdc01xmy\n};;\n";
        let e = check(wb).unwrap_err();
        assert_eq!(
            e.to_string(),
            "fox request refused: 79 bytes that are not the minimal hello (\"fox a 1 -1 fox hello\")"
        );
        assert!(check(b"fox a 2 -1 fox challenge\n{\n};;\n").is_err());
        let mut twice = MINIMAL_HELLO.to_vec();
        twice.extend_from_slice(MINIMAL_HELLO);
        assert!(check(&twice).is_err());
    }
}
