//! Omron FINS device model (server side), written from Omron W342 (FINS commands: the
//! 10-byte header, Controller Data Read 05 01, end codes) and W421 (FINS/TCP: the `FINS`
//! header and the node-address handshake), and checked against the real CP1L answer in
//! `omron_test.pcap`.
//!
//! Sans-IO. FINS is big-endian throughout.

use crate::plant::FinsConfig;
use crate::{Answer, Classified};

/// FINS/TCP: magic and length; the length counts the bytes after it.
pub(crate) const TCP_PREFIX_LEN: usize = 8;
/// FINS header: ICF RSV GCT DNA DA1 DA2 SNA SA1 SA2 SID.
const HEADER: usize = 10;
/// W342: a FINS frame is at most 2012 bytes; FINS/TCP adds command and error code.
const MAX_TCP_LEN: usize = 8 + 2012;

/// Total FINS/TCP frame length from its first 8 bytes.
pub(crate) fn tcp_frame_len(prefix: &[u8]) -> Result<usize, String> {
    if &prefix[..4] != b"FINS" {
        return Err(format!("fins/tcp magic {:02x?} is not FINS", &prefix[..4]));
    }
    let len = u32::from_be_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]) as usize;
    if !(8..=MAX_TCP_LEN).contains(&len) {
        return Err(format!("fins/tcp length {len} outside 8..={MAX_TCP_LEN}"));
    }
    Ok(TCP_PREFIX_LEN + len)
}

fn command_name(cmd: u16) -> String {
    match cmd {
        0x0101 => "memory_area_read".into(),
        0x0102 => "memory_area_write".into(),
        0x0103 => "memory_area_fill".into(),
        0x0105 => "memory_area_transfer".into(),
        0x0307 => "program_area_write".into(),
        0x0401 => "run".into(),
        0x0402 => "stop".into(),
        0x0501 => "controller_data_read".into(),
        0x0601 => "controller_status_read".into(),
        0x0702 => "clock_write".into(),
        c => format!("command 0x{c:04x}"),
    }
}

/// Names a bare FINS frame (a UDP datagram or the body of a FINS/TCP frame 2).
fn classify_frame(f: &[u8]) -> Classified {
    if f.len() < HEADER + 2 {
        return Classified {
            function: "short fins frame".into(),
            identity: false,
        };
    }
    let cmd = u16::from_be_bytes([f[HEADER], f[HEADER + 1]]);
    Classified {
        function: command_name(cmd),
        identity: cmd == 0x0501,
    }
}

pub(crate) fn classify_udp(datagram: &[u8]) -> Classified {
    classify_frame(datagram)
}

pub(crate) fn classify_tcp(frame: &[u8]) -> Classified {
    let cmd = u32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]);
    match cmd {
        0 => Classified {
            function: "node_address".into(),
            identity: true,
        },
        2 if frame.len() >= 16 => classify_frame(&frame[16..]),
        c => Classified {
            function: format!("fins/tcp command {c}"),
            identity: false,
        },
    }
}

fn fixed(s: &str, n: usize) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.resize(n, 0);
    v.truncate(n);
    v
}

/// The answer to one bare FINS frame, or `None` (no response asked, or not a request).
fn answer_frame(cfg: &FinsConfig, req: &[u8]) -> Option<Vec<u8>> {
    if req.len() < HEADER + 2 {
        return None;
    }
    let icf = req[0];
    // ICF bit 6: a response, which a server never answers; bit 0: no response wanted.
    if icf & 0x40 != 0 || icf & 0x01 != 0 {
        return None;
    }
    let cmd = u16::from_be_bytes([req[HEADER], req[HEADER + 1]]);
    // Answer header (W342 3-2): addresses swapped, our own node as the source.
    let mut out = vec![
        0xC0, 0, req[2], req[6], req[7], req[8], req[3], cfg.node, req[5], req[9],
    ];
    out.extend_from_slice(&cmd.to_be_bytes());
    if cmd != 0x0501 {
        // 04 01: service unsupported. The model serves identity only.
        out.extend_from_slice(&[0x04, 0x01]);
        return Some(out);
    }
    out.extend_from_slice(&cfg.end_code.to_be_bytes());
    if cfg.end_code != 0 {
        return Some(out);
    }
    let id = &cfg.identity;
    let mut model = fixed(&id.model, 20);
    for b in model
        .iter_mut()
        .skip(id.model.len())
        .rev()
        .take(id.model_trailing_spaces)
    {
        *b = b' ';
    }
    out.extend_from_slice(&model);
    // Version field: NUL-terminated strings in 10-byte slots (the CP1L: 01.00, 01.06).
    let mut version = Vec::new();
    for v in id.versions.iter().take(2) {
        version.extend(fixed(v, 10));
    }
    version.resize(20, 0);
    out.extend_from_slice(&version);
    let mut system = id.system_use.clone();
    system.resize(40, 0); // "for system use"; at most 40 (validated at load)
    out.extend_from_slice(&system);
    out.extend_from_slice(&id.program_area_size.to_be_bytes());
    out.push(id.iom_size);
    out.extend_from_slice(&id.dm_words.to_be_bytes());
    out.push(id.timer_counter_size);
    out.push(id.expansion_dm_size);
    out.extend_from_slice(&id.steps.to_be_bytes());
    out.push(id.memory_card_kind);
    out.extend_from_slice(&id.memory_card_size.to_be_bytes());
    Some(out)
}

/// One UDP datagram's answer.
pub(crate) fn handle_udp(cfg: &FinsConfig, datagram: &[u8]) -> Answer {
    match answer_frame(cfg, datagram) {
        Some(b) => Answer::one(b),
        None => Answer::none(),
    }
}

fn tcp(command: u32, error: u32, body: &[u8]) -> Vec<u8> {
    let mut out = b"FINS".to_vec();
    out.extend_from_slice(&((8 + body.len()) as u32).to_be_bytes());
    out.extend_from_slice(&command.to_be_bytes());
    out.extend_from_slice(&error.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// One FINS/TCP connection: the node the handshake gave the client.
#[derive(Debug, Default)]
pub(crate) struct TcpSession {
    client_node: Option<u8>,
}

impl TcpSession {
    /// Answers one whole FINS/TCP frame.
    pub(crate) fn handle(&mut self, cfg: &FinsConfig, frame: &[u8]) -> Answer {
        let cmd = u32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]);
        let body = &frame[16..];
        match cmd {
            0 if body.len() == 4 => {
                let asked = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                // 0 asks the server to assign a node (W421 7-2-2); otherwise the client
                // names its own, 1-254, not the server's.
                let node = match asked {
                    0 => cfg.client_node,
                    n if (1..=254).contains(&n) && n != u32::from(cfg.node) => n as u8,
                    // Error 0x23: client node out of range; 0x24: same as the server's.
                    _ => return Answer::close(tcp(1, 0x23, &[0; 8])),
                };
                self.client_node = Some(node);
                let mut b = u32::from(node).to_be_bytes().to_vec();
                b.extend_from_slice(&u32::from(cfg.node).to_be_bytes());
                Answer::one(tcp(1, 0, &b))
            }
            2 if self.client_node.is_some() => match answer_frame(cfg, body) {
                Some(f) => Answer::one(tcp(2, 0, &f)),
                None => Answer::none(),
            },
            // A frame before the handshake, or any other command: error notification
            // (command 3), error 0x03 "command not supported", then close.
            _ => Answer::close(tcp(3, 0x03, &[])),
        }
    }
}
