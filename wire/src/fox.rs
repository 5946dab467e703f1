//! Tridium Niagara Fox (TCP 1911): the text messages `fox a 1 -1 fox hello\n{\n...\n};;\n`
//! whose fields are `name=type:value` lines, with length-prefixed blobs (`b:44[...]`,
//! `o:bog 61[...]`) that may hold any byte, newlines and `};;` included.
//!
//! What it never does: I/O, clocks, printing, or allocating more than a named cap allows.
//! Unknown field types keep their raw bytes and round-trip.
//!
//! Sources (facts only, no code): Tridium publishes no Fox specification. The layout here
//! is what `fox_info.pcap` (captures/INDEX.md: a real Niagara AX station answering a
//! Workbench) shows byte for byte, and what nmap's `fox-info` script sends and parses:
//! a header line `fox <kind> <number> <reply-to> <channel> <command>`, an opening `{`
//! line, one field a line, and `};;` closing the message.
//!
//! # The untrusted-input contract
//! See [the crate docs](crate): every length is checked against the bytes present and a
//! named cap before it is used, and the reason it is trusted is written at the read.

use super::DecodeError;

/// Most bytes one message may hold. The station's hello in the capture is 469 bytes;
/// `sysInfo` objects of a few KiB are the largest values seen in the field.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;
/// Most fields in one message (the station's hello has 17).
pub const MAX_FIELDS: usize = 256;
/// Every message starts with this.
pub const MAGIC: &[u8] = b"fox ";
/// And ends with this line.
pub const END: &[u8] = b"};;\n";

/// Stream framing: `Ok(Some(n))` when the first `n` bytes are one whole message.
///
/// Blobs are skipped by their announced length, so a blob holding `};;` does not end the
/// message early.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    match scan(buf)? {
        Scan::Whole(n, _) => Ok(Some(n)),
        Scan::More => Ok(None),
    }
}

enum Scan {
    /// The message's length and its fields' line spans.
    Whole(usize, Vec<(usize, usize)>),
    More,
}

fn invalid(field: &'static str, value: u64, reason: &'static str) -> DecodeError {
    DecodeError::Invalid {
        field,
        value,
        reason,
    }
}

/// Walks one message: header line, `{`, field lines, `};;`.
fn scan(buf: &[u8]) -> Result<Scan, DecodeError> {
    let have = buf.len().min(MAGIC.len());
    if buf[..have] != MAGIC[..have] {
        return Err(invalid(
            "fox.magic",
            buf.first().copied().map_or(0, u64::from),
            "a fox message starts with \"fox \"",
        ));
    }
    // Everything below indexes `buf` only below `limit`: past it the message is too
    // long whatever follows.
    let limit = buf.len().min(MAX_MESSAGE_LEN);
    let too_long = || DecodeError::TooLarge {
        field: "fox.message",
        value: MAX_MESSAGE_LEN + 1,
        max: MAX_MESSAGE_LEN,
    };
    let line_end = |from: usize| buf[from..limit].iter().position(|&c| c == b'\n');
    let Some(h) = line_end(0) else {
        return if buf.len() > MAX_MESSAGE_LEN {
            Err(too_long())
        } else {
            Ok(Scan::More)
        };
    };
    let mut pos = h + 1;
    // The opening brace line.
    match buf.get(pos..(pos + 2).min(limit)) {
        Some(b"{\n") => pos += 2,
        Some(s) if b"{\n".starts_with(s) && pos + 2 > buf.len() => return Ok(Scan::More),
        _ => {
            return Err(invalid(
                "fox.open",
                buf.get(pos).copied().map_or(0, u64::from),
                "the header line is followed by a \"{\" line",
            ));
        }
    }
    let mut fields = Vec::new();
    loop {
        if pos >= limit {
            return if buf.len() > MAX_MESSAGE_LEN {
                Err(too_long())
            } else {
                Ok(Scan::More)
            };
        }
        if buf[pos] == b'}' {
            let end = &buf[pos..limit];
            let n = end.len().min(END.len());
            if end[..n] != END[..n] {
                return Err(invalid(
                    "fox.end",
                    u64::from(end.get(1).copied().unwrap_or(0)),
                    "a message ends with a \"};;\" line",
                ));
            }
            if n < END.len() {
                return if buf.len() > MAX_MESSAGE_LEN {
                    Err(too_long())
                } else {
                    Ok(Scan::More)
                };
            }
            return Ok(Scan::Whole(pos + END.len(), fields));
        }
        if fields.len() == MAX_FIELDS {
            return Err(DecodeError::TooLarge {
                field: "fox.fields",
                value: MAX_FIELDS + 1,
                max: MAX_FIELDS,
            });
        }
        match field_end(buf, pos, limit)? {
            Some(end) => {
                fields.push((pos, end));
                pos = end + 1;
            }
            None if buf.len() > MAX_MESSAGE_LEN => return Err(too_long()),
            None => return Ok(Scan::More),
        }
    }
}

/// The index of the newline ending the field line at `from`, skipping a blob's bytes;
/// `None` when the line is not whole below `limit`.
fn field_end(buf: &[u8], from: usize, limit: usize) -> Result<Option<usize>, DecodeError> {
    let line = &buf[from..limit];
    let Some(eq) = line.iter().position(|&c| c == b'=' || c == b'\n') else {
        return Ok(None);
    };
    if line[eq] == b'\n' || eq == 0 {
        return Err(invalid(
            "fox.field",
            u64::from(line[eq]),
            "a field line is name=type:value",
        ));
    }
    if let Some(&c) = line[..eq].iter().find(|c| !c.is_ascii_graphic()) {
        return Err(invalid(
            "fox.field.name",
            u64::from(c),
            "a field name is printable ascii",
        ));
    }
    let (Some(&kind), colon) = (line.get(eq + 1), line.get(eq + 2)) else {
        return Ok(None);
    };
    match colon {
        None => return Ok(None),
        Some(b':') => {}
        Some(&c) => {
            return Err(invalid(
                "fox.field.type",
                u64::from(c),
                "a field's type is one letter and a colon",
            ));
        }
    }
    let value = eq + 3;
    if matches!(kind, b'b' | b'o') {
        // A blob: `[type-name ]len[` then len bytes then `]`.
        let Some(open) = line[value..].iter().position(|&c| c == b'[' || c == b'\n') else {
            return Ok(None);
        };
        if line[value + open] == b'\n' {
            return Err(invalid(
                "fox.blob",
                u64::from(kind),
                "a blob value has a [length] before its bytes",
            ));
        }
        let head = &line[value..value + open];
        let digits = head.rsplit(|&c| c == b' ').next().unwrap_or_default();
        // The blob length, untrusted: ASCII digits, at most the message cap.
        if digits.is_empty() || digits.len() > 6 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(invalid(
                "fox.blob.length",
                u64::from(kind),
                "a blob length is decimal digits",
            ));
        }
        let len: usize = digits.iter().fold(0, |n, d| n * 10 + usize::from(d - b'0'));
        if len > MAX_MESSAGE_LEN {
            return Err(DecodeError::TooLarge {
                field: "fox.blob.length",
                value: len,
                max: MAX_MESSAGE_LEN,
            });
        }
        let close = value + open + 1 + len;
        if close + 1 >= line.len() {
            return Ok(None);
        }
        if line[close] != b']' || line[close + 1] != b'\n' {
            return Err(invalid(
                "fox.blob.end",
                u64::from(line[close]),
                "a blob ends with \"]\" and a newline",
            ));
        }
        return Ok(Some(from + close + 1));
    }
    Ok(line[value..]
        .iter()
        .position(|&c| c == b'\n')
        .map(|n| from + value + n))
}

/// The header line: `fox a 0 -1 fox hello`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `a` in every message seen; kept raw.
    pub kind: String,
    /// Message number (`1` for a client's hello, `0` for a station's).
    pub number: i64,
    /// The message it answers (`-1`: none).
    pub reply_to: i64,
    /// `fox` for the session channel.
    pub channel: String,
    /// `hello`, `challenge`, ...
    pub command: String,
}

/// One `name=type:value` line. `raw` is everything after the colon (for blobs the
/// length, the brackets and the bytes), so encoding gives the line back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// `s` string, `i` integer, `b` blob, `o` object, others kept as they are.
    pub kind: u8,
    pub raw: Vec<u8>,
}

impl Field {
    /// A string field's text.
    pub fn as_str(&self) -> Option<String> {
        (self.kind == b's').then(|| String::from_utf8_lossy(&self.raw).into_owned())
    }

    /// An integer field's value.
    pub fn as_int(&self) -> Option<i64> {
        (self.kind == b'i')
            .then(|| std::str::from_utf8(&self.raw).ok()?.parse().ok())
            .flatten()
    }
}

/// One Fox message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub fields: Vec<Field>,
}

impl Message {
    /// The minimal hello otscout sends: `fox.version=s:1.0` and `id=i:1`, nothing that
    /// names or describes the sender (nmap's `fox-info` sends the same bytes).
    pub fn minimal_hello() -> Message {
        Message {
            header: Header {
                kind: "a".into(),
                number: 1,
                reply_to: -1,
                channel: "fox".into(),
                command: "hello".into(),
            },
            fields: vec![
                Field {
                    name: "fox.version".into(),
                    kind: b's',
                    raw: b"1.0".to_vec(),
                },
                Field {
                    name: "id".into(),
                    kind: b'i',
                    raw: b"1".to_vec(),
                },
            ],
        }
    }

    pub fn encoded_len(&self) -> usize {
        let mut out = Vec::new();
        self.encode(&mut out);
        out.len()
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let h = &self.header;
        out.extend_from_slice(
            format!(
                "fox {} {} {} {} {}\n{{\n",
                h.kind, h.number, h.reply_to, h.channel, h.command
            )
            .as_bytes(),
        );
        for f in &self.fields {
            out.extend_from_slice(f.name.as_bytes());
            out.push(b'=');
            out.push(f.kind);
            out.push(b':');
            out.extend_from_slice(&f.raw);
            out.push(b'\n');
        }
        out.extend_from_slice(END);
    }

    /// Decodes one message from the start of `buf`; returns it and its length.
    pub fn decode(buf: &[u8]) -> Result<(Message, usize), DecodeError> {
        let (n, spans) = match scan(buf)? {
            Scan::Whole(n, spans) => (n, spans),
            Scan::More => {
                return Err(DecodeError::Incomplete {
                    field: "fox.message",
                    needed: 1,
                });
            }
        };
        // scan() found the header's newline, so it is there.
        let h_end = buf.iter().position(|&c| c == b'\n').unwrap_or(0);
        let header = parse_header(&buf[..h_end])?;
        let fields = spans
            .into_iter()
            .map(|(from, to)| {
                // scan() checked `name=t:` on every span.
                let line = &buf[from..to];
                let eq = line.iter().position(|&c| c == b'=').unwrap_or(0);
                Field {
                    name: String::from_utf8_lossy(&line[..eq]).into_owned(),
                    kind: line[eq + 1],
                    raw: line[eq + 3..].to_vec(),
                }
            })
            .collect();
        Ok((Message { header, fields }, n))
    }

    /// Decodes `bytes` as exactly one message.
    pub fn decode_exact(bytes: &[u8]) -> Result<Message, DecodeError> {
        let (m, n) = Message::decode(bytes)?;
        if n != bytes.len() {
            return Err(DecodeError::Trailing {
                field: "fox.message",
                extra: bytes.len() - n,
            });
        }
        Ok(m)
    }

    /// The first field called `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The first string field called `name`.
    pub fn str(&self, name: &str) -> Option<String> {
        self.field(name).and_then(Field::as_str)
    }

    /// True for a hello on the fox channel.
    pub fn is_hello(&self) -> bool {
        self.header.channel == "fox" && self.header.command == "hello"
    }

    /// True for the station's hello (`fox a 0 -1 fox hello`): the one that describes the
    /// device. A client's hello (number 1) describes the workstation.
    pub fn is_station_hello(&self) -> bool {
        self.is_hello() && self.header.number == 0
    }
}

fn parse_header(line: &[u8]) -> Result<Header, DecodeError> {
    let text = std::str::from_utf8(line)
        .map_err(|_| invalid("fox.header", 0, "the header line is not utf-8"))?;
    let parts: Vec<&str> = text.split(' ').collect();
    let bad = || {
        invalid(
            "fox.header",
            parts.len() as u64,
            "fox <kind> <n> <reply> <channel> <command>",
        )
    };
    let [_, kind, number, reply_to, channel, command] = parts[..] else {
        return Err(bad());
    };
    // Numbers must be written as they re-encode (`1`, `-1`; no `+1` or `01`).
    let int = |s: &str| match s.parse::<i64>() {
        Ok(n) if n.to_string() == s => Ok(n),
        _ => Err(bad()),
    };
    Ok(Header {
        kind: kind.into(),
        number: int(number)?,
        reply_to: int(reply_to)?,
        channel: channel.into(),
        command: command.into(),
    })
}

#[cfg(test)]
mod tests {
    //! Golden vectors from `fox_info.pcap` (captures/INDEX.md: ITI/ICS-Security-Tools
    //! `pcaps/fox/fox_info.pcap`, a real Niagara AX station 106.68.88.119:1911), TCP
    //! payloads as `tshark -r fox_info.pcap -T fields -e tcp.payload` gives them.
    use super::*;

    /// Frame 6 (one segment, 469 bytes): the station's hello.
    pub(crate) const STATION_HELLO: &[u8] = b"fox a 0 -1 fox hello\n{\n\
fox.version=s:1.0\nid=i:2\nhostName=s:192.168.2.15\nhostAddress=s:192.168.2.15\n\
app.name=s:Station\napp.version=s:3.5.41.1\nvm.name=s:J9\nvm.version=s:2.3\n\
os.name=s:QNX\nos.version=s:6.3.2\nstation.name=s:Legion_HQ_V4\nlang=s:en\n\
timeZone=s:Australia/Perth;28800000;0;null;null\nhostId=s:Qnx-NPM6-0000-1490-C30C\n\
vmUuid=s:11e4d864-cd0e-664a-0000-00000000b83b\nbrandId=s:vykon\n\
sysInfo=o:bog 61[<bog version=\"1.0\">\n<p m=\"b=baja\" t=\"b:Facets\" v=\"\"/>\n</bog>\n]\n};;\n";

    #[test]
    fn the_station_hello_decodes_to_the_index_values() {
        assert_eq!(STATION_HELLO.len(), 469);
        assert_eq!(frame_len(STATION_HELLO), Ok(Some(469)));
        let m = Message::decode_exact(STATION_HELLO).unwrap();
        assert!(m.is_station_hello());
        assert_eq!(m.header.reply_to, -1);
        let s = |k| m.str(k).unwrap();
        assert_eq!(s("fox.version"), "1.0");
        assert_eq!(m.field("id").unwrap().as_int(), Some(2));
        assert_eq!(s("hostName"), "192.168.2.15");
        assert_eq!(s("hostAddress"), "192.168.2.15");
        assert_eq!(
            (s("app.name"), s("app.version")),
            ("Station".into(), "3.5.41.1".into())
        );
        assert_eq!((s("vm.name"), s("vm.version")), ("J9".into(), "2.3".into()));
        assert_eq!(
            (s("os.name"), s("os.version")),
            ("QNX".into(), "6.3.2".into())
        );
        assert_eq!(s("station.name"), "Legion_HQ_V4");
        assert_eq!(s("timeZone"), "Australia/Perth;28800000;0;null;null");
        assert_eq!(s("hostId"), "Qnx-NPM6-0000-1490-C30C");
        assert_eq!(s("brandId"), "vykon");
        assert_eq!(m.fields.len(), 17);
        let sys = m.field("sysInfo").unwrap();
        assert_eq!(sys.kind, b'o');
        assert!(sys.raw.starts_with(b"bog 61[<bog"));
        let mut out = Vec::new();
        m.encode(&mut out);
        assert_eq!(out, STATION_HELLO);
    }

    #[test]
    fn the_minimal_hello_is_nmaps_bytes() {
        let mut out = Vec::new();
        Message::minimal_hello().encode(&mut out);
        assert_eq!(
            out,
            b"fox a 1 -1 fox hello\n{\nfox.version=s:1.0\nid=i:1\n};;\n".to_vec()
        );
        assert_eq!(Message::minimal_hello().encoded_len(), out.len());
        let m = Message::decode_exact(&out).unwrap();
        assert!(m.is_hello() && !m.is_station_hello());
    }

    #[test]
    fn a_blob_holding_the_end_marker_does_not_end_the_message() {
        // Frame 9's nonce is a binary blob; here one that holds "};;\n" itself.
        let msg = b"fox a 1 -1 fox challenge\n{\nmethod=s:digest-md5\nnonce=b:6[x};;\ny]\n};;\n";
        assert_eq!(frame_len(msg), Ok(Some(msg.len())));
        let m = Message::decode_exact(msg).unwrap();
        assert_eq!(m.field("nonce").unwrap().raw, b"6[x};;\ny]");
        for cut in 0..msg.len() {
            assert_eq!(frame_len(&msg[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn framing_waits_for_the_end_and_refuses_foreign_streams() {
        for cut in 0..STATION_HELLO.len() {
            assert_eq!(frame_len(&STATION_HELLO[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(frame_len(b"GET / HTTP/1.0\r\n").is_err());
        assert!(frame_len(b"fox a 0 -1 fox hello\nx").is_err());
        assert!(frame_len(b"fox a 0 -1 fox hello\n{\nnoequals\n").is_err());
        assert!(frame_len(b"fox a 0 -1 fox hello\n{\nx=b:99999999[").is_err());
        assert!(frame_len(b"fox a 0 -1 fox hello\n{\nx=b:4[abcdX\n").is_err());
        assert!(frame_len(b"fox a 0 -1 fox hello\n{\n}x").is_err());
        assert!(matches!(
            Message::decode_exact(b"fox a x -1 fox hello\n{\n};;\n"),
            Err(DecodeError::Invalid {
                field: "fox.header",
                ..
            })
        ));
    }

    #[test]
    fn an_endless_message_is_refused_at_the_cap() {
        let mut m = b"fox a 0 -1 fox hello\n{\n".to_vec();
        while m.len() <= MAX_MESSAGE_LEN {
            m.extend_from_slice(b"k=s:vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\n");
        }
        assert!(matches!(frame_len(&m), Err(DecodeError::TooLarge { .. })));
    }
}
