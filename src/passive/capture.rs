//! Streaming pcap / pcapng reader: one frame at a time, in bounded memory.
//!
//! The format is chosen by magic bytes, never by the file name. Records are read through
//! pcap-parser's streaming readers into a buffer that grows only up to
//! [`MAX_RECORD`]; a truncated or corrupt record stops the read and says at which frame
//! and byte offset, keeping everything decoded before it.

use std::io::Read;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError, PcapNGReader};

use super::packet::linktype;

/// The read buffer's starting size.
const BUFFER: usize = 256 * 1024;
/// The largest record accepted: snap lengths top out at 256 KiB in libpcap; 16 MiB leaves
/// room for odd writers while a corrupt length cannot make us allocate gigabytes.
pub const MAX_RECORD: usize = 16 * 1024 * 1024;

/// Which capture format the magic bytes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Legacy libpcap (either byte order, micro- or nanosecond).
    Pcap,
    /// pcapng.
    PcapNg,
}

/// One captured frame.
#[derive(Debug, Clone, Copy)]
pub struct RawFrame<'a> {
    /// 1-based, as Wireshark counts.
    pub number: u64,
    /// Byte offset of the record in the file.
    pub offset: u64,
    pub ts: Option<DateTime<Utc>>,
    pub linktype: i32,
    pub data: &'a [u8],
}

/// How a read ended when it did not reach the end cleanly.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stopped {
    /// The frame that could not be read (1-based: the last good frame plus one).
    pub frame: u64,
    /// Byte offset of the record that could not be read.
    pub offset: u64,
    /// What was wrong with it, lowercase.
    pub reason: String,
}

/// Errors that stop a capture before any frame can be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    #[error(
        "link type {linktype} ({name}) is not supported (supported: Ethernet, 802.1Q/QinQ, Linux SLL/SLL2, raw IP, loopback)"
    )]
    UnsupportedLinkType { linktype: i32, name: &'static str },
    #[error("bad {format} header: {reason}")]
    BadHeader {
        format: &'static str,
        reason: String,
    },
    #[error("read error at byte offset {offset}: {reason}")]
    Io { offset: u64, reason: String },
}

/// Looks at the first bytes of a file and says which capture format it is, if any.
pub fn sniff(head: &[u8]) -> Option<CaptureFormat> {
    let m: [u8; 4] = head.get(..4)?.try_into().ok()?;
    match m {
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d] => Some(CaptureFormat::Pcap),
        [0x0a, 0x0d, 0x0d, 0x0a] => Some(CaptureFormat::PcapNg),
        _ => None,
    }
}

/// [`DateTime::from_timestamp`] with the calendar day of the previous frame kept: frames
/// of one day (nearly all of a capture) skip the day-to-date conversion, which costs more
/// than the rest of a frame's header.
#[derive(Debug, Default)]
struct Clock {
    day: Option<(i64, Option<NaiveDate>)>,
}

impl Clock {
    fn ts(&mut self, secs: i64, nanos: u32) -> Option<DateTime<Utc>> {
        const DAY: i64 = 86_400;
        // Days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
        const EPOCH_DAYS_FROM_CE: i64 = 719_163;
        let day = secs.div_euclid(DAY);
        let date = match self.day {
            Some((d, date)) if d == day => date,
            _ => {
                let date = day
                    .checked_add(EPOCH_DAYS_FROM_CE)
                    .and_then(|d| i32::try_from(d).ok())
                    .and_then(NaiveDate::from_num_days_from_ce_opt);
                self.day = Some((day, date));
                date
            }
        };
        // rem_euclid of a positive divisor is in 0..86400: fits in u32.
        let time =
            NaiveTime::from_num_seconds_from_midnight_opt(secs.rem_euclid(DAY) as u32, nanos)?;
        Some(date?.and_time(time).and_utc())
    }
}

struct Iface {
    linktype: i32,
    resolution: u64,
    offset: i64,
}

/// Reads every frame of a capture in `format` from `reader`, calling `on_frame` for each.
///
/// Returns `Ok(None)` when the file ended cleanly, `Ok(Some(stopped))` when a truncated or
/// corrupt record ended it early (frames before it were delivered).
pub fn read_frames<R: Read>(
    reader: R,
    format: CaptureFormat,
    mut on_frame: impl FnMut(RawFrame<'_>),
) -> Result<Option<Stopped>, CaptureError> {
    let fmt_name = match format {
        CaptureFormat::Pcap => "pcap",
        CaptureFormat::PcapNg => "pcapng",
    };
    let mut rd: Box<dyn PcapReaderIterator> = match format {
        CaptureFormat::Pcap => Box::new(LegacyPcapReader::new(BUFFER, reader).map_err(|e| {
            CaptureError::BadHeader {
                format: fmt_name,
                reason: describe(&e),
            }
        })?),
        CaptureFormat::PcapNg => {
            Box::new(
                PcapNGReader::new(BUFFER, reader).map_err(|e| CaptureError::BadHeader {
                    format: fmt_name,
                    reason: describe(&e),
                })?,
            )
        }
    };
    let mut number = 0u64;
    let mut capacity = BUFFER;
    let mut legacy_lt = linktype::ETHERNET;
    let mut legacy_nanos = false;
    let mut ifaces: Vec<Iface> = Vec::new();
    let mut section_be = false;
    let mut clock = Clock::default();
    loop {
        let offset = rd.consumed() as u64;
        match rd.next() {
            Ok((len, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy_lt = h.network.0;
                        legacy_nanos = h.is_nanosecond_precision();
                        if !linktype::supported(legacy_lt) {
                            return Err(CaptureError::UnsupportedLinkType {
                                linktype: legacy_lt,
                                name: linktype::name(legacy_lt),
                            });
                        }
                    }
                    PcapBlockOwned::Legacy(b) => {
                        number += 1;
                        let nanos = if legacy_nanos {
                            b.ts_usec
                        } else {
                            b.ts_usec.saturating_mul(1000)
                        };
                        let caplen = (b.caplen as usize).min(b.data.len());
                        on_frame(RawFrame {
                            number,
                            offset,
                            ts: clock.ts(i64::from(b.ts_sec), nanos.min(999_999_999)),
                            linktype: legacy_lt,
                            data: &b.data[..caplen],
                        });
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                        ifaces.clear();
                        section_be = shb.big_endian();
                    }
                    PcapBlockOwned::NG(Block::Unknown(u))
                        if u.block_type == OBSOLETE_PACKET_BLOCK
                            || u.block_type == OBSOLETE_PACKET_BLOCK.swap_bytes() =>
                    {
                        number += 1;
                        let Some(opb) = obsolete_packet(u.data, section_be) else {
                            return Ok(Some(Stopped {
                                frame: number,
                                offset,
                                reason: "corrupt packet block (obsolete type 2): too short for its header or its captured length".to_string(),
                            }));
                        };
                        let Some(iface) = ifaces.get(usize::from(opb.if_id)) else {
                            return Ok(Some(Stopped {
                                frame: number,
                                offset,
                                reason: format!(
                                    "packet names interface {} but only {} are described",
                                    opb.if_id,
                                    ifaces.len()
                                ),
                            }));
                        };
                        on_frame(RawFrame {
                            number,
                            offset,
                            ts: ng_ts(opb.ts_high, opb.ts_low, iface, &mut clock),
                            linktype: iface.linktype,
                            data: opb.data,
                        });
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        let lt = idb.linktype.0;
                        if !linktype::supported(lt) {
                            return Err(CaptureError::UnsupportedLinkType {
                                linktype: lt,
                                name: linktype::name(lt),
                            });
                        }
                        ifaces.push(Iface {
                            linktype: lt,
                            resolution: idb.ts_resolution().unwrap_or(1_000_000),
                            offset: idb.ts_offset(),
                        });
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        number += 1;
                        match ifaces.get(epb.if_id as usize) {
                            Some(iface) => {
                                let caplen = (epb.caplen as usize).min(epb.data.len());
                                let ts = ng_ts(epb.ts_high, epb.ts_low, iface, &mut clock);
                                on_frame(RawFrame {
                                    number,
                                    offset,
                                    ts,
                                    linktype: iface.linktype,
                                    data: &epb.data[..caplen],
                                });
                            }
                            None => {
                                return Ok(Some(Stopped {
                                    frame: number,
                                    offset,
                                    reason: format!(
                                        "packet names interface {} but only {} are described",
                                        epb.if_id,
                                        ifaces.len()
                                    ),
                                }));
                            }
                        }
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        number += 1;
                        let Some(iface) = ifaces.first() else {
                            // A simple packet belongs to interface 0: without one it cannot
                            // be decoded, and dropping it quietly would hide the damage.
                            return Ok(Some(Stopped {
                                frame: number,
                                offset,
                                reason: "simple packet before any interface description"
                                    .to_string(),
                            }));
                        };
                        on_frame(RawFrame {
                            number,
                            offset,
                            ts: None,
                            linktype: iface.linktype,
                            data: spb.data,
                        });
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                rd.consume(len);
            }
            Err(PcapError::Eof) => return Ok(None),
            Err(PcapError::Incomplete(_)) => {
                rd.refill().map_err(|e| CaptureError::Io {
                    offset,
                    reason: describe(&e),
                })?;
            }
            Err(PcapError::BufferTooSmall) => {
                if capacity >= MAX_RECORD {
                    return Ok(Some(Stopped {
                        frame: number + 1,
                        offset,
                        reason: format!("record larger than {MAX_RECORD} bytes: corrupt length"),
                    }));
                }
                capacity = (capacity * 4).min(MAX_RECORD);
                if !rd.grow(capacity) {
                    return Ok(Some(Stopped {
                        frame: number + 1,
                        offset,
                        reason: "record too large for the read buffer".to_string(),
                    }));
                }
                rd.refill().map_err(|e| CaptureError::Io {
                    offset,
                    reason: describe(&e),
                })?;
            }
            Err(PcapError::UnexpectedEof) => {
                return Ok(Some(Stopped {
                    frame: number + 1,
                    offset,
                    reason: "truncated record: the file ends inside it".to_string(),
                }));
            }
            Err(e) => {
                return Ok(Some(Stopped {
                    frame: number + 1,
                    offset,
                    reason: format!("corrupt record: {}", describe(&e)),
                }));
            }
        }
    }
}

/// pcapng's obsolete Packet Block (type 2, draft-tuexen-opsawg-pcapng appendix), which
/// old writers still produce; the crate reads it as an unknown block.
const OBSOLETE_PACKET_BLOCK: u32 = 2;

struct ObsoletePacket<'a> {
    if_id: u16,
    ts_high: u32,
    ts_low: u32,
    data: &'a [u8],
}

/// The body of an obsolete Packet Block: interface id (2), drops (2), timestamp high and
/// low (4 + 4), captured length (4), original length (4), data, options.
fn obsolete_packet(body: &[u8], be: bool) -> Option<ObsoletePacket<'_>> {
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = body.get(at..at + 2)?.try_into().ok()?;
        Some(if be {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = body.get(at..at + 4)?.try_into().ok()?;
        Some(if be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    // Untrusted: the captured length must fit in the block body.
    let caplen = usize::try_from(u32_at(12)?).ok()?;
    Some(ObsoletePacket {
        if_id: u16_at(0)?,
        ts_high: u32_at(4)?,
        ts_low: u32_at(8)?,
        data: body.get(20..20usize.checked_add(caplen)?)?,
    })
}

fn ng_ts(high: u32, low: u32, iface: &Iface, clock: &mut Clock) -> Option<DateTime<Utc>> {
    if iface.resolution == 0 {
        return None;
    }
    let raw = (u64::from(high) << 32) | u64::from(low);
    let secs = raw / iface.resolution;
    let frac = raw % iface.resolution;
    let nanos = match iface.resolution {
        // The common resolutions without the 128-bit division (same result: exact).
        1_000_000 => frac * 1_000,
        1_000_000_000 => frac,
        r => (u128::from(frac) * 1_000_000_000 / u128::from(r)) as u64,
    };
    // frac < resolution, so nanos < 10^9.
    let nanos = u32::try_from(nanos).unwrap_or(999_999_999);
    let secs = i64::try_from(secs).ok()?.checked_add(iface.offset)?;
    clock.ts(secs, nanos.min(999_999_999))
}

fn describe<I>(e: &PcapError<I>) -> String {
    match e {
        PcapError::Eof => "end of file".into(),
        PcapError::BufferTooSmall => "record too large".into(),
        PcapError::UnexpectedEof => "file ends inside a record".into(),
        PcapError::ReadError => "read failed".into(),
        PcapError::Incomplete(n) => format!("incomplete: {n} more bytes needed"),
        PcapError::HeaderNotRecognized => "header not recognised".into(),
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            format!("malformed block ({kind:?})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_gives_what_chrono_gives() {
        let mut clock = Clock::default();
        let secs = [
            0i64,
            1,
            86_399,
            86_400,
            -1,
            -86_400,
            -86_401,
            1_767_225_600,
            1_767_225_599,
            1_767_311_999,
            4_102_444_800,
            i64::from(u32::MAX),
            i64::MAX,
            i64::MIN,
            8_210_298_412_799,
            8_210_298_412_800,
        ];
        // Twice over, so each value is taken both with a cached day and a fresh one.
        for s in secs.iter().chain(secs.iter()) {
            for n in [0u32, 1, 999_999_999] {
                assert_eq!(clock.ts(*s, n), DateTime::from_timestamp(*s, n), "{s} {n}");
            }
        }
    }

    #[test]
    fn ng_ts_common_resolutions_match_the_general_formula() {
        let mut clock = Clock::default();
        for resolution in [1_000_000u64, 1_000_000_000] {
            let iface = Iface {
                linktype: 1,
                resolution,
                offset: 0,
            };
            for raw in [0u64, 1, 999_999, 1_000_001, 1_767_225_600_123_456_789] {
                let secs = raw / resolution;
                let frac = raw % resolution;
                let nanos = (u128::from(frac) * 1_000_000_000 / u128::from(resolution)) as u32;
                let want = DateTime::from_timestamp(secs as i64, nanos);
                let got = ng_ts((raw >> 32) as u32, raw as u32, &iface, &mut clock);
                assert_eq!(got, want, "{resolution} {raw}");
            }
        }
    }
}
