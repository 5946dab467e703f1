//! Omron FINS: the 10-byte FINS header and command/response frames as UDP 9600 carries
//! them bare, the FINS/TCP envelope (16-byte `FINS` header, node-address handshake)
//! that TCP 9600 puts around the same frames, Controller Data Read (0501) answers, end
//! codes, and the command table that tells reads from writes and control.
//!
//! What it never does: I/O, clocks, printing, or allocating more than a named cap allows.
//! Unknown FINS/TCP commands and unknown FINS command codes keep their bytes.
//!
//! Sources (facts only, no code): Omron W342 "FINS Commands Reference Manual" sections 3
//! (header: ICF, RSV, GCT, DNA, DA1, DA2, SNA, SA1, SA2, SID), 5-1 (command codes) and 8
//! (end codes); Omron W421 (CJ1W-ETN21) section 7 for FINS/TCP (the `FINS` magic, length,
//! command 0/1 node-address data send, 2 frame send, 3 error notification); the Wireshark
//! `omron` dissector's field names; checked byte by byte against `omron_test.pcap`
//! (`captures/INDEX.md`: a real CP1L-EL20DR-D).
//!
//! # The untrusted-input contract
//! See [the crate docs](crate): every length is checked against the bytes present and a
//! named cap before it is used, and the reason it is trusted is written at the read.

use super::{Anomaly, Cursor, DecodeError};

/// The FINS/TCP magic, ASCII `FINS` (W421 7-2).
pub const TCP_MAGIC: [u8; 4] = *b"FINS";
/// FINS/TCP header: magic, length, command, error code (4 bytes each).
pub const TCP_HEADER_LEN: usize = 16;
/// The part of the FINS/TCP header the length field does not cover (magic and length).
pub const TCP_PREFIX_LEN: usize = 8;
/// FINS header: ICF, RSV, GCT, DNA, DA1, DA2, SNA, SA1, SA2, SID.
pub const HEADER_LEN: usize = 10;
/// A FINS frame holds at most 2012 bytes: header, command code and 2000 bytes of text
/// (W342 3-1, "FINS frame length"). Answers otscout reads carry about 100.
pub const MAX_FRAME_LEN: usize = 2012;
/// Most a FINS/TCP length field may announce: command, error code, the two node fields
/// of the handshake or one whole FINS frame.
pub const MAX_TCP_LEN: usize = 8 + MAX_FRAME_LEN;

/// ICF bit 7: the frame may pass a gateway (W342 3-2).
pub const ICF_GATEWAY: u8 = 0x80;
/// ICF bit 6: the frame is a response.
pub const ICF_RESPONSE: u8 = 0x40;
/// ICF bit 0: the sender asks for no response.
pub const ICF_NO_RESPONSE: u8 = 0x01;

/// Controller Data Read (W342 5-3-1).
pub const CONTROLLER_DATA_READ: u16 = 0x0501;

/// FINS/TCP commands (W421 7-2-2).
pub const TCP_NODE_ADDRESS_REQUEST: u32 = 0;
pub const TCP_NODE_ADDRESS_RESPONSE: u32 = 1;
pub const TCP_FRAME: u32 = 2;
pub const TCP_ERROR: u32 = 3;

/// Controller Data Read answer field sizes (W342 5-3-1): model and version are 20 bytes
/// each, then 40 bytes for system use, then 12 bytes of area data.
pub const MODEL_LEN: usize = 20;
pub const VERSION_LEN: usize = 20;
pub const SYSTEM_USE_LEN: usize = 40;
pub const AREA_DATA_LEN: usize = 12;

/// Stream framing for FINS/TCP: `Ok(None)` until the whole frame is present.
///
/// FINS/UDP needs none: a datagram is one frame.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let have = buf.len().min(4);
    if buf[..have] != TCP_MAGIC[..have] {
        return Err(DecodeError::Invalid {
            field: "fins_tcp.magic",
            value: u64::from(buf[0]),
            reason: "a fins/tcp frame starts with ascii FINS",
        });
    }
    if buf.len() < TCP_PREFIX_LEN {
        return Ok(None);
    }
    // FINS/TCP length, untrusted: it counts the bytes after itself, at least the command
    // and error code, and at most one FINS frame behind them.
    let len = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    check_tcp_len(len)?;
    let total = TCP_PREFIX_LEN + len;
    Ok(if buf.len() >= total {
        Some(total)
    } else {
        None
    })
}

fn check_tcp_len(len: usize) -> Result<(), DecodeError> {
    if len < 8 {
        return Err(DecodeError::Invalid {
            field: "fins_tcp.length",
            value: len as u64,
            reason: "shorter than the command and error code (8 bytes)",
        });
    }
    if len > MAX_TCP_LEN {
        return Err(DecodeError::TooLarge {
            field: "fins_tcp.length",
            value: len,
            max: MAX_TCP_LEN,
        });
    }
    Ok(())
}

/// The 10-byte FINS header (W342 3-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Information control field: gateway, response and no-response bits; kept raw.
    pub icf: u8,
    /// Reserved, 0 by the manual; kept raw.
    pub rsv: u8,
    /// Gateway count: how many networks the frame may still cross (2 for a direct peer).
    pub gct: u8,
    /// Destination network (0: the local network).
    pub dna: u8,
    /// Destination node (0 on UDP: the unit that receives it; on TCP the server node the
    /// handshake gave).
    pub da1: u8,
    /// Destination unit (0: the CPU).
    pub da2: u8,
    pub sna: u8,
    pub sa1: u8,
    pub sa2: u8,
    /// Service id: echoed by the answer.
    pub sid: u8,
}

impl Header {
    pub fn is_response(&self) -> bool {
        self.icf & ICF_RESPONSE != 0
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[
            self.icf, self.rsv, self.gct, self.dna, self.da1, self.da2, self.sna, self.sa1,
            self.sa2, self.sid,
        ]);
    }

    pub fn decode(r: &mut Cursor) -> Result<Self, DecodeError> {
        let b: [u8; HEADER_LEN] = r.array("fins.header")?;
        Ok(Header {
            icf: b[0],
            rsv: b[1],
            gct: b[2],
            dna: b[3],
            da1: b[4],
            da2: b[5],
            sna: b[6],
            sa1: b[7],
            sa2: b[8],
            sid: b[9],
        })
    }

    /// The header of the answer to this request: the addresses swapped, the response
    /// bit set, the service id kept.
    pub fn answer(&self) -> Header {
        Header {
            icf: (self.icf | ICF_RESPONSE) & !ICF_NO_RESPONSE,
            rsv: 0,
            gct: self.gct,
            dna: self.sna,
            da1: self.sa1,
            da2: self.sa2,
            sna: self.dna,
            sa1: self.da1,
            sa2: self.da2,
            sid: self.sid,
        }
    }
}

/// One FINS frame: header, command code (MRC, SRC) and text. In a response the text
/// starts with the two end-code bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub header: Header,
    /// MRC in the high byte, SRC in the low byte (`0x0501`).
    pub command: u16,
    pub text: Vec<u8>,
}

impl Frame {
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + 2 + self.text.len()
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        self.header.encode(out);
        out.extend_from_slice(&self.command.to_be_bytes());
        out.extend_from_slice(&self.text);
    }

    /// Decodes a whole frame (a UDP datagram, or the body of a FINS/TCP frame).
    pub fn decode_exact(bytes: &[u8]) -> Result<Self, DecodeError> {
        // The datagram or the FINS/TCP length delimits the frame; the cap keeps a corrupt
        // capture from passing off megabytes as one frame.
        if bytes.len() > MAX_FRAME_LEN {
            return Err(DecodeError::TooLarge {
                field: "fins.frame",
                value: bytes.len(),
                max: MAX_FRAME_LEN,
            });
        }
        let mut r = Cursor::framed(bytes);
        let header = Header::decode(&mut r)?;
        let command = r.u16_be("fins.command")?;
        Ok(Frame {
            header,
            command,
            text: r.rest().to_vec(),
        })
    }

    /// The end code of a response (its first two text bytes).
    pub fn end_code(&self) -> Option<EndCode> {
        if !self.header.is_response() {
            return None;
        }
        match self.text.as_slice() {
            [m, s, ..] => Some(EndCode { main: *m, sub: *s }),
            _ => None,
        }
    }

    /// A response's data after the end code.
    pub fn response_data(&self) -> &[u8] {
        self.text.get(2..).unwrap_or(&[])
    }

    /// Controller Data Read for `header` with the one parameter byte `00` that
    /// `omron_test.pcap` frames 8 and 17 carry (answered there with every field).
    pub fn controller_data_read(header: Header) -> Frame {
        Frame {
            header,
            command: CONTROLLER_DATA_READ,
            text: vec![0x00],
        }
    }

    /// Decodes the answer to Controller Data Read, when this is one with end code 0.
    pub fn controller_data(&self) -> Option<Result<ControllerData, DecodeError>> {
        if self.command != CONTROLLER_DATA_READ || !self.end_code()?.is_normal() {
            return None;
        }
        Some(ControllerData::decode(self.response_data()))
    }
}

/// A FINS end code (W342 section 8): main (MRES) and sub (SRES) response codes. Bit 7 of
/// MRES flags a relay error; bits 7 and 6 of SRES a fatal or non-fatal CPU error. A
/// device that answers with an error still answered: that is a finding, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndCode {
    pub main: u8,
    pub sub: u8,
}

impl EndCode {
    /// The code without the flag bits.
    pub fn code(self) -> u16 {
        u16::from_be_bytes([self.main & 0x7F, self.sub & 0x3F])
    }

    pub fn raw(self) -> u16 {
        u16::from_be_bytes([self.main, self.sub])
    }

    /// Normal completion, possibly with the CPU-error flag bits set.
    pub fn is_normal(self) -> bool {
        self.code() == 0
    }

    pub fn relay_error(self) -> bool {
        self.main & 0x80 != 0
    }

    pub fn fatal_cpu_error(self) -> bool {
        self.sub & 0x80 != 0
    }

    pub fn non_fatal_cpu_error(self) -> bool {
        self.sub & 0x40 != 0
    }

    /// The main code's meaning (W342 8-1), lowercase.
    pub fn description(self) -> &'static str {
        match self.main & 0x7F {
            0x00 if self.sub & 0x3F == 0 => "normal completion",
            0x00 => "service canceled",
            0x01 => "local node error",
            0x02 => "destination node error",
            0x03 => "communications controller error",
            0x04 => "not executable (service unsupported)",
            0x05 => "routing table error",
            0x10 => "command format error",
            0x11 => "parameter error",
            0x20 => "read not possible",
            0x21 => "write not possible",
            0x22 => "not executable in current mode",
            0x23 => "no such device",
            0x24 => "cannot start or stop",
            0x25 => "unit error",
            0x26 => "command error",
            0x30 => "access right error",
            0x40 => "abort",
            _ => "unknown end code",
        }
    }
}

/// Area data of a Controller Data Read answer (W342 5-3-1; all big-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AreaData {
    /// Program area size in Kwords.
    pub program_area_size: u16,
    /// IOM size in Kbytes.
    pub iom_size: u8,
    /// Number of DM words.
    pub dm_words: u16,
    /// Timer/counter size.
    pub timer_counter_size: u8,
    /// Expansion DM size in banks.
    pub expansion_dm_size: u8,
    /// Number of steps/transitions.
    pub steps: u16,
    /// Kind of memory card: 0 none, 1 SPRAM, 2 EPROM, 3 EEPROM.
    pub memory_card_kind: u8,
    /// Memory card size in Kbytes.
    pub memory_card_size: u16,
}

/// A Controller Data Read answer's data (after the end code).
///
/// Model and version stay as the 20 raw bytes each: devices pad them with NULs and
/// spaces (`CP1L-EL20DR-D`, 3 NULs, 4 spaces), and the CP1L's version field holds two
/// NUL-terminated strings (`01.00`, then `01.06`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerData {
    pub model: [u8; MODEL_LEN],
    pub version: [u8; VERSION_LEN],
    /// The 40 bytes "for system use", when present.
    pub system_use: Option<Vec<u8>>,
    pub area: Option<AreaData>,
    /// What follows the area data (CPU bus unit configuration and more on CS/CJ CPUs),
    /// kept raw.
    pub rest: Vec<u8>,
}

/// A fixed text field as text: up to the first NUL, trailing spaces dropped.
pub fn fixed_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).trim_end().to_string()
}

impl ControllerData {
    /// Decodes the data after the end code. Model and version are required; the
    /// system-use block and area data are read when the answer carries them (a
    /// parameter of `01` asks for less, and some units stop early).
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Cursor::framed(data);
        let model = r.array::<MODEL_LEN>("fins.controller_data.model")?;
        let version = r.array::<VERSION_LEN>("fins.controller_data.version")?;
        // Each optional block is read only when all its bytes are there: the frame
        // length, already capped, bounds them.
        let system_use = if r.remaining() >= SYSTEM_USE_LEN {
            Some(
                r.bytes(SYSTEM_USE_LEN, "fins.controller_data.system_use")?
                    .to_vec(),
            )
        } else {
            None
        };
        let area = if system_use.is_some() && r.remaining() >= AREA_DATA_LEN {
            Some(AreaData {
                program_area_size: r.u16_be("fins.area.program_area_size")?,
                iom_size: r.u8("fins.area.iom_size")?,
                dm_words: r.u16_be("fins.area.dm_words")?,
                timer_counter_size: r.u8("fins.area.timer_counter_size")?,
                expansion_dm_size: r.u8("fins.area.expansion_dm_size")?,
                steps: r.u16_be("fins.area.steps")?,
                memory_card_kind: r.u8("fins.area.memory_card_kind")?,
                memory_card_size: r.u16_be("fins.area.memory_card_size")?,
            })
        } else {
            None
        };
        Ok(ControllerData {
            model,
            version,
            system_use,
            area,
            rest: r.rest().to_vec(),
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.model);
        out.extend_from_slice(&self.version);
        if let Some(s) = &self.system_use {
            out.extend_from_slice(s);
            if let Some(a) = &self.area {
                out.extend_from_slice(&a.program_area_size.to_be_bytes());
                out.push(a.iom_size);
                out.extend_from_slice(&a.dm_words.to_be_bytes());
                out.push(a.timer_counter_size);
                out.push(a.expansion_dm_size);
                out.extend_from_slice(&a.steps.to_be_bytes());
                out.push(a.memory_card_kind);
                out.extend_from_slice(&a.memory_card_size.to_be_bytes());
            }
        }
        out.extend_from_slice(&self.rest);
    }

    /// The controller model as text.
    pub fn model_str(&self) -> String {
        fixed_str(&self.model)
    }

    /// The NUL-separated strings of the version field, empty ones dropped (`01.00`,
    /// `01.06` for the CP1L).
    pub fn versions(&self) -> Vec<String> {
        self.version
            .split(|&c| c == 0)
            .map(|s| String::from_utf8_lossy(s).trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Odd but survivable things: non-printable bytes in the text fields.
    pub fn anomalies(&self) -> Vec<Anomaly> {
        let mut out = Vec::new();
        let odd = |b: &[u8]| b.iter().any(|&c| c != 0 && !(0x20..0x7F).contains(&c));
        if odd(&self.model) {
            out.push(Anomaly {
                field: "fins.controller_data.model",
                what: "non-printable bytes in the model field".into(),
            });
        }
        if odd(&self.version) {
            out.push(Anomaly {
                field: "fins.controller_data.version",
                what: "non-printable bytes in the version field".into(),
            });
        }
        out
    }
}

/// What a FINS command does to the controller, for the passive side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Reads data or state.
    Read,
    /// Changes memory, parameters, the clock or files.
    Write,
    /// Changes the operating mode or takes the access right (run, stop, error clear).
    Control,
    /// Writes or clears the user program (program area, program file transfer).
    Program,
    /// Not known to otscout.
    Unknown,
}

/// The stable name (`fins.<operation>`) and access of a command code (W342 5-1).
pub fn command_name(command: u16) -> (&'static str, Access) {
    use Access::*;
    match command {
        0x0101 => ("fins.memory_area_read", Read),
        0x0102 => ("fins.memory_area_write", Write),
        0x0103 => ("fins.memory_area_fill", Write),
        0x0104 => ("fins.multiple_memory_area_read", Read),
        0x0105 => ("fins.memory_area_transfer", Write),
        0x0201 => ("fins.parameter_area_read", Read),
        0x0202 => ("fins.parameter_area_write", Write),
        0x0203 => ("fins.parameter_area_clear", Write),
        0x0304 => ("fins.program_area_protect", Program),
        0x0305 => ("fins.program_area_protect_clear", Program),
        0x0306 => ("fins.program_area_read", Read),
        0x0307 => ("fins.program_area_write", Program),
        0x0308 => ("fins.program_area_clear", Program),
        0x0401 => ("fins.run", Control),
        0x0402 => ("fins.stop", Control),
        0x0501 => ("fins.controller_data_read", Read),
        0x0502 => ("fins.connection_data_read", Read),
        0x0601 => ("fins.controller_status_read", Read),
        0x0620 => ("fins.cycle_time_read", Read),
        0x0701 => ("fins.clock_read", Read),
        0x0702 => ("fins.clock_write", Write),
        0x0920 => ("fins.message_read_clear", Write),
        0x0C01 => ("fins.access_right_acquire", Control),
        0x0C02 => ("fins.access_right_forced_acquire", Control),
        0x0C03 => ("fins.access_right_release", Control),
        0x2101 => ("fins.error_clear", Control),
        0x2102 => ("fins.error_log_read", Read),
        0x2103 => ("fins.error_log_clear", Write),
        0x2201 => ("fins.file_name_read", Read),
        0x2202 => ("fins.single_file_read", Read),
        0x2203 => ("fins.single_file_write", Write),
        0x2204 => ("fins.file_memory_format", Write),
        0x2205 => ("fins.file_delete", Write),
        0x2207 => ("fins.file_copy", Write),
        0x2208 => ("fins.file_name_change", Write),
        0x220A => ("fins.memory_area_file_transfer", Write),
        0x220B => ("fins.parameter_area_file_transfer", Write),
        0x220C => ("fins.program_area_file_transfer", Program),
        0x2215 => ("fins.directory_create_delete", Write),
        0x2301 => ("fins.forced_set_reset", Write),
        0x2302 => ("fins.forced_set_reset_cancel", Write),
        _ => ("fins.unknown_command", Unknown),
    }
}

/// The FINS/TCP envelope (W421 7-2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpFrame {
    /// FINS/TCP error code (0: normal), kept raw.
    pub error_code: u32,
    pub body: TcpBody,
}

/// What a FINS/TCP frame carries, by its command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpBody {
    /// Command 0, client to server: the client's node (0 asks the server to assign one).
    NodeAddressRequest { client_node: u32 },
    /// Command 1, server to client: the client's assigned node and the server's node.
    NodeAddressResponse { client_node: u32, server_node: u32 },
    /// Command 2: one FINS frame.
    Frame(Frame),
    /// Any other command (3: error notification, 6: connection confirmation), raw.
    Other { command: u32, data: Vec<u8> },
}

impl TcpFrame {
    pub fn command(&self) -> u32 {
        match &self.body {
            TcpBody::NodeAddressRequest { .. } => TCP_NODE_ADDRESS_REQUEST,
            TcpBody::NodeAddressResponse { .. } => TCP_NODE_ADDRESS_RESPONSE,
            TcpBody::Frame(_) => TCP_FRAME,
            TcpBody::Other { command, .. } => *command,
        }
    }

    fn body_len(&self) -> usize {
        match &self.body {
            TcpBody::NodeAddressRequest { .. } => 4,
            TcpBody::NodeAddressResponse { .. } => 8,
            TcpBody::Frame(f) => f.encoded_len(),
            TcpBody::Other { data, .. } => data.len(),
        }
    }

    pub fn encoded_len(&self) -> usize {
        TCP_HEADER_LEN + self.body_len()
    }

    /// Appends the frame. Bodies longer than [`MAX_FRAME_LEN`] are not representable;
    /// encoders of this crate never build them.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&TCP_MAGIC);
        out.extend_from_slice(&((8 + self.body_len()) as u32).to_be_bytes());
        out.extend_from_slice(&self.command().to_be_bytes());
        out.extend_from_slice(&self.error_code.to_be_bytes());
        match &self.body {
            TcpBody::NodeAddressRequest { client_node } => {
                out.extend_from_slice(&client_node.to_be_bytes())
            }
            TcpBody::NodeAddressResponse {
                client_node,
                server_node,
            } => {
                out.extend_from_slice(&client_node.to_be_bytes());
                out.extend_from_slice(&server_node.to_be_bytes());
            }
            TcpBody::Frame(f) => f.encode(out),
            TcpBody::Other { data, .. } => out.extend_from_slice(data),
        }
    }

    /// Decodes one frame from the start of a stream; bytes after it stay in the cursor.
    pub fn decode(r: &mut Cursor) -> Result<Self, DecodeError> {
        let magic: [u8; 4] = r.array("fins_tcp.magic")?;
        if magic != TCP_MAGIC {
            return Err(DecodeError::Invalid {
                field: "fins_tcp.magic",
                value: u64::from(u32::from_be_bytes(magic)),
                reason: "a fins/tcp frame starts with ascii FINS",
            });
        }
        let len = r.u32_be("fins_tcp.length")? as usize;
        // Checked as in frame_len: command and error code at least, one frame at most.
        check_tcp_len(len)?;
        let mut b = r.sub(len, "fins_tcp.payload")?;
        let command = b.u32_be("fins_tcp.command")?;
        let error_code = b.u32_be("fins_tcp.error_code")?;
        let body = match command {
            TCP_NODE_ADDRESS_REQUEST if b.remaining() == 4 => TcpBody::NodeAddressRequest {
                client_node: b.u32_be("fins_tcp.client_node")?,
            },
            TCP_NODE_ADDRESS_RESPONSE if b.remaining() == 8 => TcpBody::NodeAddressResponse {
                client_node: b.u32_be("fins_tcp.client_node")?,
                server_node: b.u32_be("fins_tcp.server_node")?,
            },
            TCP_FRAME => TcpBody::Frame(Frame::decode_exact(b.rest())?),
            command => TcpBody::Other {
                command,
                data: b.rest().to_vec(),
            },
        };
        Ok(TcpFrame { error_code, body })
    }

    /// Decodes `bytes` as exactly one frame.
    pub fn decode_exact(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Cursor::new(bytes);
        let f = TcpFrame::decode(&mut r)?;
        if !r.is_empty() {
            return Err(DecodeError::Trailing {
                field: "fins_tcp",
                extra: r.remaining(),
            });
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    //! Golden vectors from `omron_test.pcap` (captures/INDEX.md: ITI/ICS-Security-Tools
    //! `pcaps/omron/omron_test.pcap`, a real Omron CP1L-EL20DR-D at 10.1.1.164:9600),
    //! TCP and UDP payloads as `tshark -r omron_test.pcap -x` shows them.
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Frame 6: node-address request, client node 0 (assign one).
    const F6: &str = "46494e53 0000000c 00000000 00000000 00000000";
    /// Frame 7: node-address answer, client 251, server 200.
    const F7: &str = "46494e53 00000010 00000001 00000000 000000fb 000000c8";
    /// Frame 8: Controller Data Read over FINS/TCP.
    const F8: &str = "46494e53 00000015 00000002 00000000 80 00 02 00 c8 00 00 00 ef 05 0501 00";
    /// The answer's data (frames 9 and 18 carry the same): model, version, system use,
    /// area data.
    const DATA: &str = "4350314c2d454c32304452 2d44 000000 20202020 \
        30312e3030 0000000000 30312e3036 0000000000 \
        00000000000000000000000000000000 00000001000000000000000000000000 0000000000010003 \
        000a 17 2a10 08 00 0000 00 0000";
    /// Frame 17: Controller Data Read over UDP.
    const F17: &str = "80 00 02 00 00 00 00 63 00 ef 0501 00";

    fn f9() -> Vec<u8> {
        hex(&format!(
            "46494e53 00000072 00000002 00000000 c0 00 02 00 fb ef 00 c8 00 05 0501 0000 {DATA}"
        ))
    }

    fn f18() -> Vec<u8> {
        hex(&format!("c0 00 02 00 63 00 00 c8 00 ef 0501 0000 {DATA}"))
    }

    #[test]
    fn node_address_handshake_both_ways() {
        let req = TcpFrame {
            error_code: 0,
            body: TcpBody::NodeAddressRequest { client_node: 0 },
        };
        let mut out = Vec::new();
        req.encode(&mut out);
        assert_eq!(out, hex(F6));
        assert_eq!(TcpFrame::decode_exact(&hex(F6)).unwrap(), req);
        let ans = TcpFrame::decode_exact(&hex(F7)).unwrap();
        assert_eq!(
            ans.body,
            TcpBody::NodeAddressResponse {
                client_node: 251,
                server_node: 200
            }
        );
        let mut out = Vec::new();
        ans.encode(&mut out);
        assert_eq!(out, hex(F7));
    }

    #[test]
    fn controller_data_read_request_encodes_to_the_captured_bytes() {
        // Frame 8: DA1 0xc8 (the server node), SA1 0, SA2 0xef, SID 5.
        let f = Frame::controller_data_read(Header {
            icf: ICF_GATEWAY,
            gct: 2,
            da1: 0xc8,
            sa2: 0xef,
            sid: 0x05,
            ..Header::default()
        });
        let tcp = TcpFrame {
            error_code: 0,
            body: TcpBody::Frame(f.clone()),
        };
        let mut out = Vec::new();
        tcp.encode(&mut out);
        assert_eq!(out, hex(F8));
        assert_eq!(out.len(), tcp.encoded_len());
        assert_eq!(TcpFrame::decode_exact(&hex(F8)).unwrap(), tcp);
        // Frame 17: DA1 0, SA1 0x63, SID 0xef.
        let udp = Frame::controller_data_read(Header {
            icf: ICF_GATEWAY,
            gct: 2,
            sa1: 0x63,
            sid: 0xef,
            ..Header::default()
        });
        let mut out = Vec::new();
        udp.encode(&mut out);
        assert_eq!(out, hex(F17));
        assert_eq!(Frame::decode_exact(&out).unwrap(), udp);
    }

    fn check_cp1l(d: &ControllerData) {
        assert_eq!(d.model_str(), "CP1L-EL20DR-D");
        assert_eq!(&d.model[13..], b"\0\0\0    ");
        assert_eq!(d.versions(), ["01.00", "01.06"]);
        assert_eq!(
            d.area,
            Some(AreaData {
                program_area_size: 10,
                iom_size: 23,
                dm_words: 10768,
                timer_counter_size: 8,
                expansion_dm_size: 0,
                steps: 0,
                memory_card_kind: 0,
                memory_card_size: 0,
            })
        );
        assert!(d.rest.is_empty());
        assert!(d.anomalies().is_empty());
    }

    #[test]
    fn controller_data_answer_over_tcp_decodes_to_the_index_values() {
        let bytes = f9();
        assert_eq!(frame_len(&bytes), Ok(Some(bytes.len())));
        let tcp = TcpFrame::decode_exact(&bytes).unwrap();
        let TcpBody::Frame(f) = &tcp.body else {
            panic!("not a frame: {tcp:?}")
        };
        // DA1 0xfb: the node the handshake gave the client.
        assert_eq!((f.header.da1, f.header.sa1, f.header.sid), (0xfb, 0xc8, 5));
        assert_eq!(f.end_code(), Some(EndCode { main: 0, sub: 0 }));
        check_cp1l(&f.controller_data().unwrap().unwrap());
        let mut out = Vec::new();
        tcp.encode(&mut out);
        assert_eq!(out, bytes);
    }

    #[test]
    fn controller_data_answer_over_udp_decodes_and_reencodes() {
        let bytes = f18();
        let f = Frame::decode_exact(&bytes).unwrap();
        assert!(f.header.is_response());
        assert_eq!(
            (f.header.da1, f.header.sa1, f.header.sid),
            (0x63, 0xc8, 0xef)
        );
        let d = f.controller_data().unwrap().unwrap();
        check_cp1l(&d);
        let mut data = Vec::new();
        d.encode(&mut data);
        assert_eq!(data, f.response_data());
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(out, bytes);
    }

    #[test]
    fn an_error_end_code_is_data_not_a_decode_error() {
        let f = Frame::decode_exact(&hex("c0 00 02 00 63 00 00 c8 00 ef 0501 2201")).unwrap();
        let e = f.end_code().unwrap();
        assert_eq!(e.code(), 0x2201);
        assert_eq!(e.description(), "not executable in current mode");
        assert!(f.controller_data().is_none());
        // Flag bits: a relay error and a non-fatal CPU error around normal completion.
        let e = EndCode {
            main: 0x80,
            sub: 0x40,
        };
        assert!(e.is_normal() && e.relay_error() && e.non_fatal_cpu_error());
        assert!(!e.fatal_cpu_error());
    }

    #[test]
    fn framing_waits_for_the_whole_frame_and_refuses_foreign_streams() {
        let bytes = f9();
        for cut in 0..bytes.len() {
            assert_eq!(frame_len(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(frame_len(b"GET / HTTP/1.1").is_err());
        assert!(frame_len(b"FX").is_err());
        assert!(frame_len(&hex("46494e53 00000004")).is_err());
        assert_eq!(
            frame_len(&hex("46494e53 7fffffff")),
            Err(DecodeError::TooLarge {
                field: "fins_tcp.length",
                value: 0x7fff_ffff,
                max: MAX_TCP_LEN
            })
        );
    }

    #[test]
    fn short_answers_keep_what_they_carry() {
        // Model and version only (parameter 01 style, or a unit that stops early).
        let mut d = hex(&DATA.replace(' ', ""))[..40].to_vec();
        let c = ControllerData::decode(&d).unwrap();
        assert_eq!(c.model_str(), "CP1L-EL20DR-D");
        assert!(c.system_use.is_none() && c.area.is_none());
        d.truncate(30);
        assert!(matches!(
            ControllerData::decode(&d),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn commands_are_classified() {
        assert_eq!(
            command_name(0x0102),
            ("fins.memory_area_write", Access::Write)
        );
        assert_eq!(command_name(0x0103).1, Access::Write);
        assert_eq!(command_name(0x0105).1, Access::Write);
        assert_eq!(command_name(0x0401), ("fins.run", Access::Control));
        assert_eq!(command_name(0x0402), ("fins.stop", Access::Control));
        assert_eq!(command_name(0x0307).1, Access::Program);
        assert_eq!(command_name(0x0702), ("fins.clock_write", Access::Write));
        assert_eq!(
            command_name(0x2203),
            ("fins.single_file_write", Access::Write)
        );
        assert_eq!(command_name(0x0501).1, Access::Read);
        assert_eq!(command_name(0xABCD).1, Access::Unknown);
    }
}
