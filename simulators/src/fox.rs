//! Niagara Fox station model (server side), written from what a real Niagara AX station
//! sends (`fox_info.pcap`: the station's `fox a 0 -1 fox hello` and its digest-md5
//! challenge) and what nmap's `fox-info` sends: a text header line, a `{` line,
//! `name=type:value` lines (blobs as `b:LEN[bytes]`, objects as `o:TYPE LEN[bytes]`) and
//! `};;`.
//!
//! Sans-IO.

use crate::plant::FoxConfig;
use crate::{Answer, Classified};

/// Largest message the model reads (a Workbench hello is about 500 bytes).
pub(crate) const MAX_MESSAGE: usize = 64 * 1024;

/// The length of the first whole message in `buf`: `Ok(None)` until it is all there.
pub(crate) fn message_len(buf: &[u8]) -> Result<Option<usize>, String> {
    let n = buf.len().min(4);
    if buf[..n] != b"fox "[..n] {
        return Err("not a fox message".into());
    }
    let mut at = 0;
    let mut line_no = 0;
    while at < buf.len() {
        let rest = &buf[at..];
        // A blob line: name=b:LEN[ or name=o:TYPE LEN[ -> skip LEN bytes and "]\n".
        if line_no >= 2 {
            if rest.starts_with(b"};;\n") {
                return Ok(Some(at + 4));
            }
            if let Some(blob) = blob_start(rest) {
                let (open, len) = blob?;
                let end = at + open + 1 + len;
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                if &buf[end..end + 2] != b"]\n" {
                    return Err("blob not closed by ]".into());
                }
                at = end + 2;
                line_no += 1;
                continue;
            }
        }
        match rest.iter().position(|&c| c == b'\n') {
            Some(i) => {
                at += i + 1;
                line_no += 1;
            }
            None => break,
        }
        if at > MAX_MESSAGE {
            return Err(format!("message longer than {MAX_MESSAGE} bytes"));
        }
    }
    if buf.len() > MAX_MESSAGE {
        return Err(format!("message longer than {MAX_MESSAGE} bytes"));
    }
    Ok(None)
}

/// For a line starting `name=b:` or `name=o:`: the offset of `[` and the blob length.
fn blob_start(line: &[u8]) -> Option<Result<(usize, usize), String>> {
    let eq = line.iter().position(|&c| c == b'=' || c == b'\n')?;
    if line[eq] != b'=' || !matches!(line.get(eq + 1..eq + 3), Some(b"b:") | Some(b"o:")) {
        return None;
    }
    let open = line.iter().position(|&c| c == b'[')?;
    let digits = line[eq + 3..open]
        .rsplit(|&c| c == b' ')
        .next()
        .unwrap_or_default();
    let len = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n <= MAX_MESSAGE);
    Some(
        len.map(|n| (open, n))
            .ok_or_else(|| "bad blob length".into()),
    )
}

fn header(msg: &[u8]) -> String {
    let end = msg.iter().position(|&c| c == b'\n').unwrap_or(msg.len());
    String::from_utf8_lossy(&msg[..end]).into_owned()
}

pub(crate) fn classify(msg: &[u8]) -> Classified {
    let h = header(msg);
    let parts: Vec<&str> = h.split(' ').collect();
    let command = parts.get(5).copied().unwrap_or("");
    Classified {
        function: format!(
            "fox {}",
            parts.get(4..).map(|p| p.join(" ")).unwrap_or_default()
        ),
        identity: command == "hello",
    }
}

/// The station's hello for this configuration.
pub(crate) fn station_hello(cfg: &FoxConfig) -> Vec<u8> {
    let id = &cfg.identity;
    let mut m = String::from("fox a 0 -1 fox hello\n{\n");
    m.push_str("fox.version=s:1.0\nid=i:2\n");
    for (k, v) in [
        ("hostName", &id.host_name),
        ("hostAddress", &id.host_address),
        ("app.name", &id.app_name),
        ("app.version", &id.app_version),
        ("vm.name", &id.vm_name),
        ("vm.version", &id.vm_version),
        ("os.name", &id.os_name),
        ("os.version", &id.os_version),
        ("station.name", &id.station_name),
        ("lang", &id.lang),
        ("timeZone", &id.time_zone),
        ("hostId", &id.host_id),
        ("vmUuid", &id.vm_uuid),
        ("brandId", &id.brand_id),
    ] {
        if let Some(v) = v {
            m.push_str(&format!("{k}=s:{v}\n"));
        }
    }
    let mut out = m.into_bytes();
    if cfg.sys_info {
        // The same bog object the JACE in fox_info.pcap sends: a blob that spans lines.
        let bog = b"<bog version=\"1.0\">\n<p m=\"b=baja\" t=\"b:Facets\" v=\"\"/>\n</bog>\n";
        out.extend_from_slice(format!("sysInfo=o:bog {}[", bog.len()).as_bytes());
        out.extend_from_slice(bog);
        out.extend_from_slice(b"]\n");
    }
    out.extend_from_slice(b"};;\n");
    out
}

/// The login challenge a station sends after its hello (digest-md5 with a binary nonce
/// holding a newline, as the real one does).
fn challenge() -> Vec<u8> {
    let nonce = b"\x00\x05nonce\n};;\x02sim";
    let mut out = b"fox a 1 -1 fox challenge\n{\nmethod=s:digest-md5\n".to_vec();
    out.extend_from_slice(format!("nonce=b:{}[", nonce.len()).as_bytes());
    out.extend_from_slice(nonce);
    out.extend_from_slice(b"]\n};;\n");
    out
}

/// Answers one whole message: a hello gets the station's hello (and the challenge, in
/// the same reply when `challenge` is set); anything else closes the connection, as a
/// station does to a client that skips the login.
pub(crate) fn handle(cfg: &FoxConfig, msg: &[u8]) -> Answer {
    if classify(msg).identity {
        let mut replies = vec![station_hello(cfg)];
        if cfg.challenge {
            replies.push(challenge());
        }
        return Answer {
            replies,
            close: false,
        };
    }
    Answer::close(Vec::new())
}
