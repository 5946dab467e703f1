//! Bounds-checked reads over untrusted bytes.
//!
//! Every read names the field it reads, so that a short or bad frame produces an
//! error that says where it broke (`need 12 more bytes for enip.identity.product_name`).
//! Endianness is in the method name (`u16_be`, `u16_le`): EtherNet/IP is little-endian,
//! Modbus and S7 are big-endian, and mixing them up is the bug we would otherwise ship.
//!
//! A cursor is either over a *stream prefix* ([`Cursor::new`]: running out of bytes means
//! "need more", [`DecodeError::Incomplete`]) or over a *whole frame* whose length a header
//! already fixed ([`Cursor::framed`]: running out of bytes means the frame is
//! [`DecodeError::Truncated`], an invalid frame, and waiting will not help).

use super::DecodeError;

/// A read position over a byte slice that never reads past its end.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    framed: bool,
}

impl<'a> Cursor<'a> {
    /// A cursor over the start of a stream: a short read is [`DecodeError::Incomplete`].
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor {
            buf,
            pos: 0,
            framed: false,
        }
    }

    /// A cursor over one complete frame: a short read is [`DecodeError::Truncated`].
    pub fn framed(buf: &'a [u8]) -> Self {
        Cursor {
            buf,
            pos: 0,
            framed: true,
        }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn short(&self, field: &'static str, n: usize) -> DecodeError {
        let needed = n - self.remaining();
        if self.framed {
            DecodeError::Truncated { field, needed }
        } else {
            DecodeError::Incomplete { field, needed }
        }
    }

    /// Takes the next `n` bytes.
    pub fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.short(field, n));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes the next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, field)?);
        Ok(out)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize, field: &'static str) -> Result<(), DecodeError> {
        self.bytes(n, field).map(|_| ())
    }

    /// Takes everything that is left (possibly nothing).
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    /// Looks at the next byte without consuming it.
    pub fn peek_u8(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Splits off the next `n` bytes as a framed sub-cursor (for a length-delimited item).
    pub fn sub(&mut self, n: usize, field: &'static str) -> Result<Cursor<'a>, DecodeError> {
        let bytes = self.bytes(n, field)?;
        // The item's own length delimits it: running short inside it is a bad item, not a short stream.
        Ok(Cursor {
            buf: bytes,
            pos: 0,
            framed: true,
        })
    }

    /// One byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    /// A big-endian u16 (Modbus, S7, the socket address inside an ENIP identity item).
    pub fn u16_be(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    /// A little-endian u16 (EtherNet/IP, CIP).
    pub fn u16_le(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    /// A big-endian u32.
    pub fn u32_be(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    /// A little-endian u32.
    pub fn u32_le(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    /// A little-endian u64.
    pub fn u64_le(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_endiannesses() {
        let mut c = Cursor::new(&[0x12, 0x34, 0x12, 0x34, 0xAA]);
        assert_eq!(c.u16_be("a").unwrap(), 0x1234);
        assert_eq!(c.u16_le("b").unwrap(), 0x3412);
        assert_eq!(c.remaining(), 1);
        assert_eq!(c.u8("c").unwrap(), 0xAA);
        assert!(c.is_empty());
    }

    #[test]
    fn short_stream_read_is_incomplete_and_says_how_much() {
        let mut c = Cursor::new(&[1, 2]);
        assert_eq!(
            c.u32_be("x.len"),
            Err(DecodeError::Incomplete {
                field: "x.len",
                needed: 2
            })
        );
        // A failed read consumes nothing.
        assert_eq!(c.position(), 0);
    }

    #[test]
    fn short_framed_read_is_truncated() {
        let mut c = Cursor::framed(&[1]);
        assert_eq!(
            c.u16_le("y"),
            Err(DecodeError::Truncated {
                field: "y",
                needed: 1
            })
        );
    }

    #[test]
    fn sub_cursor_is_framed() {
        let mut c = Cursor::new(&[1, 2, 3]);
        let mut s = c.sub(2, "item").unwrap();
        assert_eq!(s.u8("a").unwrap(), 1);
        assert_eq!(
            s.u16_be("b"),
            Err(DecodeError::Truncated {
                field: "b",
                needed: 1
            })
        );
        assert_eq!(c.rest(), &[3]);
    }
}
