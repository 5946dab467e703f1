//! Test helpers: a tiny capture reader (pcap-parser, Ethernet/IPv4/TCP/UDP), small
//! independent decoders for the replies, and plant helpers.
//!
//! Nothing here uses the simulator's own codecs: the decoders are written again, from
//! the same specs, so a symmetric bug has to be made twice to hide.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use otscout_sim::{Plant, PortOverride, RunningPlant, StartOptions};
use pcap_parser::{Block, PcapBlockOwned, PcapError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `$OTSCOUT_CAPTURES`, or `None` with a note (the test then passes as skipped).
pub fn captures_dir(test: &str) -> Option<PathBuf> {
    match std::env::var_os("OTSCOUT_CAPTURES") {
        Some(d) => {
            let d = PathBuf::from(d);
            assert!(
                d.join("INDEX.md").is_file(),
                "OTSCOUT_CAPTURES={} holds no INDEX.md",
                d.display()
            );
            Some(d)
        }
        None => {
            eprintln!("skipped {test}: OTSCOUT_CAPTURES is not set");
            None
        }
    }
}

/// One frame's transport payload.
#[derive(Debug, Clone)]
pub struct Frame {
    /// 1-based, as Wireshark counts.
    pub number: usize,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub udp: bool,
    pub payload: Vec<u8>,
}

/// Every IPv4 TCP/UDP frame of a pcap or pcapng file (payload possibly empty).
pub fn frames(path: &std::path::Path) -> Vec<Frame> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = pcap_parser::create_reader(1 << 20, file).expect("pcap header");
    let mut out = Vec::new();
    let mut number = 0;
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                let data = match block {
                    PcapBlockOwned::Legacy(b) => Some(b.data[..b.caplen as usize].to_vec()),
                    PcapBlockOwned::NG(Block::EnhancedPacket(b)) => {
                        Some(b.data[..b.caplen as usize].to_vec())
                    }
                    _ => None,
                };
                if let Some(d) = data {
                    number += 1;
                    if let Some(f) = parse_frame(number, &d) {
                        out.push(f);
                    }
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => reader.refill().expect("refill"),
            Err(e) => panic!("{}: {e:?}", path.display()),
        }
    }
    out
}

fn parse_frame(number: usize, d: &[u8]) -> Option<Frame> {
    let mut off = 12;
    let mut ethertype = u16::from_be_bytes([*d.get(12)?, *d.get(13)?]);
    if ethertype == 0x8100 {
        off += 4;
        ethertype = u16::from_be_bytes([*d.get(16)?, *d.get(17)?]);
    }
    if ethertype != 0x0800 {
        return None;
    }
    let ip = d.get(off + 2..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    let ip = ip.get(..total)?; // drops Ethernet padding
    let proto = ip[9];
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let l4 = ip.get(ihl..)?;
    let sport = u16::from_be_bytes([*l4.first()?, *l4.get(1)?]);
    let dport = u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]);
    let (udp, payload) = match proto {
        6 => (false, l4.get(usize::from(l4.get(12)? >> 4) * 4..)?),
        17 => (true, l4.get(8..)?),
        _ => return None,
    };
    Some(Frame {
        number,
        src: SocketAddrV4::new(src, sport),
        dst: SocketAddrV4::new(dst, dport),
        udp,
        payload: payload.to_vec(),
    })
}

/// The frame numbered `n` (panics if absent: the capture is not what INDEX.md says).
pub fn frame(frames: &[Frame], n: usize) -> &Frame {
    frames
        .iter()
        .find(|f| f.number == n)
        .unwrap_or_else(|| panic!("no frame {n}"))
}

/// The bundled demo plant, moved to `127.<second>.0.x` (same last two octets).
pub fn demo_at(second: u8) -> Plant {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/plants/demo.toml");
    let mut plant = Plant::load(path).expect("demo.toml loads");
    for d in &mut plant.devices {
        let o = d.address.octets();
        d.address = Ipv4Addr::new(127, second, o[2], o[3]);
    }
    plant
}

/// Starts `plant` on ephemeral ports.
pub async fn start(plant: Plant) -> RunningPlant {
    otscout_sim::start(
        plant,
        StartOptions {
            ports: PortOverride::Ephemeral,
            ledger_sink: None,
        },
    )
    .await
    .expect("plant starts")
}

pub async fn start_toml(toml: &str) -> RunningPlant {
    start(Plant::from_toml_str(toml).expect("plant parses")).await
}

pub const WAIT: Duration = Duration::from_secs(3);

/// Which framing to use when reading a reply.
#[derive(Debug, Clone, Copy)]
pub enum Framing {
    Modbus,
    Enip,
    Tpkt,
    /// UA TCP: the u32 little-endian message size at bytes 4..8 covers the whole message.
    Opcua,
}

/// Reads one frame; `None` on EOF, reset or timeout.
pub async fn read_frame(s: &mut TcpStream, f: Framing, wait: Duration) -> Option<Vec<u8>> {
    let (hlen, len_at): (usize, fn(&[u8]) -> usize) = match f {
        Framing::Modbus => (6, |h| 6 + usize::from(u16::from_be_bytes([h[4], h[5]]))),
        Framing::Enip => (24, |h| 24 + usize::from(u16::from_le_bytes([h[2], h[3]]))),
        Framing::Tpkt => (4, |h| usize::from(u16::from_be_bytes([h[2], h[3]]))),
        Framing::Opcua => (8, |h| u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize),
    };
    let fut = async {
        let mut buf = vec![0u8; hlen];
        s.read_exact(&mut buf).await.ok()?;
        let total = len_at(&buf);
        if total < hlen {
            return None;
        }
        buf.resize(total, 0);
        s.read_exact(&mut buf[hlen..]).await.ok()?;
        Some(buf)
    };
    tokio::time::timeout(wait, fut).await.ok().flatten()
}

/// Sends `req` and reads one reply.
pub async fn exchange(s: &mut TcpStream, f: Framing, req: &[u8]) -> Option<Vec<u8>> {
    s.write_all(req).await.ok()?;
    read_frame(s, f, WAIT).await
}

pub async fn connect(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// Modbus FC 43/14 request.
pub fn mb_devid(tid: u16, unit: u8, code: u8, object: u8) -> Vec<u8> {
    let mut v = tid.to_be_bytes().to_vec();
    v.extend_from_slice(&[0, 0, 0, 5, unit, 0x2b, 0x0e, code, object]);
    v
}

/// Decoded Read Device Identification reply.
#[derive(Debug, PartialEq)]
pub struct DevId {
    pub conformity: u8,
    pub more: u8,
    pub next: u8,
    pub objects: Vec<(u8, String)>,
}

/// Independent decoder for an FC 43/14 reply ADU.
pub fn decode_devid(adu: &[u8]) -> Result<DevId, String> {
    let pdu = adu.get(7..).ok_or("short adu")?;
    if pdu.len() < 7 || pdu[0] != 0x2b || pdu[1] != 0x0e {
        return Err(format!("not a device identification reply: {pdu:02x?}"));
    }
    let n = pdu[6];
    let mut i = 7;
    let mut objects = Vec::new();
    for _ in 0..n {
        let id = *pdu.get(i).ok_or("object id missing")?;
        let len = usize::from(*pdu.get(i + 1).ok_or("object length missing")?);
        let v = pdu
            .get(i + 2..i + 2 + len)
            .ok_or("object value truncated")?;
        objects.push((id, String::from_utf8_lossy(v).into_owned()));
        i += 2 + len;
    }
    if i != pdu.len() {
        return Err(format!("{} trailing bytes", pdu.len() - i));
    }
    Ok(DevId {
        conformity: pdu[3],
        more: pdu[4],
        next: pdu[5],
        objects,
    })
}

/// ENIP encapsulation request with no body.
pub fn enip_req(cmd: u16) -> Vec<u8> {
    let mut v = cmd.to_le_bytes().to_vec();
    v.resize(24, 0);
    v
}

/// Decoded List Identity item.
#[derive(Debug, PartialEq)]
pub struct EnipId {
    pub sock_port: u16,
    pub sock_addr: Ipv4Addr,
    pub vendor: u16,
    pub device_type: u16,
    pub product_code: u16,
    pub revision: (u8, u8),
    pub status: u16,
    pub serial: u32,
    pub name: String,
    pub state: u8,
}

/// Independent decoder for a List Identity reply (ODVA Vol 2, 2-4.3).
pub fn decode_list_identity(r: &[u8]) -> Result<EnipId, String> {
    let le16 = |i: usize| -> Result<u16, String> {
        r.get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or(format!("short at {i}"))
    };
    if le16(0)? != 0x63 {
        return Err("not list identity".into());
    }
    let status = r.get(8..12).ok_or("short header")?;
    if status != [0, 0, 0, 0] {
        return Err(format!("status {status:02x?}"));
    }
    if le16(24)? != 1 || le16(26)? != 0x0c {
        return Err("expected one identity item".into());
    }
    let item_len = usize::from(le16(28)?);
    let it = r.get(30..30 + item_len).ok_or("item truncated")?;
    let name_len = usize::from(*it.get(32).ok_or("no name length")?);
    let name = it.get(33..33 + name_len).ok_or("name truncated")?;
    Ok(EnipId {
        sock_port: u16::from_be_bytes([it[4], it[5]]),
        sock_addr: Ipv4Addr::new(it[6], it[7], it[8], it[9]),
        vendor: u16::from_le_bytes([it[18], it[19]]),
        device_type: u16::from_le_bytes([it[20], it[21]]),
        product_code: u16::from_le_bytes([it[22], it[23]]),
        revision: (it[24], it[25]),
        status: u16::from_le_bytes([it[26], it[27]]),
        serial: u32::from_le_bytes([it[28], it[29], it[30], it[31]]),
        name: String::from_utf8_lossy(name).into_owned(),
        state: *it.get(33 + name_len).ok_or("no state")?,
    })
}

/// COTP CR asking for `dst_tsap` from TSAP 0x0100.
pub fn cotp_cr(dst_tsap: u16) -> Vec<u8> {
    let t = dst_tsap.to_be_bytes();
    vec![
        3, 0, 0, 22, 17, 0xe0, 0, 0, 0, 1, 0, 0xc1, 2, 1, 0, 0xc2, 2, t[0], t[1], 0xc0, 1, 0x0a,
    ]
}

/// S7 setup communication asking for `pdu`.
pub fn s7_setup(pdu: u16) -> Vec<u8> {
    let p = pdu.to_be_bytes();
    vec![
        3, 0, 0, 25, 2, 0xf0, 0x80, 0x32, 1, 0, 0, 0, 1, 0, 8, 0, 0, 0xf0, 0, 0, 1, 0, 1, p[0],
        p[1],
    ]
}

/// S7 userdata Read SZL request.
pub fn s7_read_szl(id: u16, index: u16) -> Vec<u8> {
    let (i, x) = (id.to_be_bytes(), index.to_be_bytes());
    vec![
        3, 0, 0, 33, 2, 0xf0, 0x80, 0x32, 7, 0, 0, 0, 2, 0, 8, 0, 8, 0, 1, 0x12, 4, 0x11, 0x44, 1,
        0, 0xff, 9, 0, 4, i[0], i[1], x[0], x[1],
    ]
}

/// S7 userdata follow-up request for sequence number `seq`.
pub fn s7_followup(seq: u8) -> Vec<u8> {
    vec![
        3, 0, 0, 33, 2, 0xf0, 0x80, 0x32, 7, 0, 0, 0, 3, 0, 12, 0, 4, 0, 1, 0x12, 8, 0x12, 0x44, 1,
        seq, 0, 0, 0, 0, 0x0a, 0, 0, 0,
    ]
}

/// One userdata reply, decoded: (sequence number, more follows, error code, SZL bytes).
pub fn decode_userdata(r: &[u8]) -> Result<(u8, bool, u16, Vec<u8>), String> {
    if r.len() < 17 || r[7] != 0x32 || r[8] != 7 {
        return Err(format!("not an s7 userdata reply: {r:02x?}"));
    }
    let plen = usize::from(u16::from_be_bytes([r[13], r[14]]));
    let dlen = usize::from(u16::from_be_bytes([r[15], r[16]]));
    let p = r.get(17..17 + plen).ok_or("params truncated")?;
    let d = r.get(17 + plen..17 + plen + dlen).ok_or("data truncated")?;
    if plen != 12 {
        return Err(format!("params length {plen}"));
    }
    let err = u16::from_be_bytes([p[10], p[11]]);
    let szl = if d.first() == Some(&0xff) {
        let n = usize::from(u16::from_be_bytes([d[2], d[3]]));
        d.get(4..4 + n).ok_or("szl data truncated")?.to_vec()
    } else {
        Vec::new()
    };
    Ok((p[7], p[9] == 1, err, szl))
}

/// Reads a whole SZL over `s`, following up while "more follows".
pub async fn read_szl_all(s: &mut TcpStream, id: u16, index: u16) -> Vec<u8> {
    let r = exchange(s, Framing::Tpkt, &s7_read_szl(id, index))
        .await
        .expect("szl reply");
    let (seq, mut more, err, mut all) = decode_userdata(&r).expect("userdata");
    assert_eq!(err, 0, "szl 0x{id:04x} error");
    let mut guard = 0;
    while more {
        let r = exchange(s, Framing::Tpkt, &s7_followup(seq))
            .await
            .expect("follow-up reply");
        let (seq2, m, err, part) = decode_userdata(&r).expect("userdata");
        assert_eq!((seq2, err), (seq, 0));
        all.extend_from_slice(&part);
        more = m;
        guard += 1;
        assert!(guard < 20, "endless fragments");
    }
    all
}

/// SZL list: (id, index, record length, records).
pub fn szl_records(b: &[u8]) -> (u16, u16, usize, Vec<Vec<u8>>) {
    let be = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let (id, index, reclen, count) = (be(0), be(2), usize::from(be(4)), usize::from(be(6)));
    assert_eq!(b.len(), 8 + reclen * count, "szl length");
    let recs = b[8..].chunks(reclen).map(|c| c.to_vec()).collect();
    (id, index, reclen, recs)
}

/// A NUL-padded string.
pub fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Waits until `pred` holds on the ledger (or panics after 3 s).
pub async fn wait_ledger(
    p: &RunningPlant,
    what: &str,
    pred: impl Fn(&[otscout_sim::LedgerEvent]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if pred(&p.ledger()) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ledger never showed: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
