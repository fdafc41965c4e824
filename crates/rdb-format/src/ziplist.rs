//! Ziplist (§4.2): validating decoder (legacy types 10, 12, 13, 14) and a builder for RDB 9 targets.

use crate::element::Element;
use crate::error::{array_at, byte_at, slice_at, CodecError, CodecResult};
use crate::int::parse_canonical_i64;

/// Size of the ziplist header.
pub const HEADER_SIZE: usize = 10;
/// `zllen` value meaning "unknown".
pub const COUNT_UNKNOWN: u16 = 65535;

/// Decodes the entry at `pos`; returns the element, the prevlen it declares and its total size.
#[inline(always)]
fn decode_entry(blob: &[u8], pos: usize) -> CodecResult<(Element<'_>, u32, usize)> {
    let first = byte_at(blob, pos, "ziplist prevlen")?;
    let (prevlen, pl_size) = if first < 254 {
        (u32::from(first), 1)
    } else if first == 254 {
        (
            u32::from_le_bytes(array_at::<4>(blob, pos + 1, "ziplist prevlen")?),
            5,
        )
    } else {
        return Err(CodecError::new(
            pos,
            "ziplist-prevlen",
            "invalid ziplist prevlen 0xFF",
        ));
    };
    let p = pos + pl_size;
    let enc = byte_at(blob, p, "ziplist encoding")?;
    let (el, hdr) = match enc >> 6 {
        0 => {
            let len = usize::from(enc & 0x3F);
            (
                Element::Str(slice_at(blob, p + 1, len, "ziplist string")?),
                1 + len,
            )
        }
        1 => {
            let b1 = byte_at(blob, p + 1, "ziplist string length")?;
            let len = (usize::from(enc & 0x3F) << 8) | usize::from(b1);
            (
                Element::Str(slice_at(blob, p + 2, len, "ziplist string")?),
                2 + len,
            )
        }
        2 => {
            let len =
                u32::from_be_bytes(array_at::<4>(blob, p + 1, "ziplist string length")?) as usize;
            (
                Element::Str(slice_at(blob, p + 5, len, "ziplist string")?),
                5 + len,
            )
        }
        _ => match enc {
            0xC0 => (
                Element::Int(i64::from(i16::from_le_bytes(array_at::<2>(
                    blob,
                    p + 1,
                    "ziplist int16",
                )?))),
                3,
            ),
            0xD0 => (
                Element::Int(i64::from(i32::from_le_bytes(array_at::<4>(
                    blob,
                    p + 1,
                    "ziplist int32",
                )?))),
                5,
            ),
            0xE0 => (
                Element::Int(i64::from_le_bytes(array_at::<8>(
                    blob,
                    p + 1,
                    "ziplist int64",
                )?)),
                9,
            ),
            0xF0 => {
                let [x, y, z] = array_at::<3>(blob, p + 1, "ziplist int24")?;
                (
                    Element::Int(i64::from(i32::from_le_bytes([0, x, y, z]) >> 8)),
                    4,
                )
            }
            0xFE => {
                let [b] = array_at::<1>(blob, p + 1, "ziplist int8")?;
                (Element::Int(i64::from(b as i8)), 2)
            }
            0xF1..=0xFD => (Element::Int(i64::from(enc & 0x0F) - 1), 1),
            _ => {
                return Err(CodecError::new(
                    p,
                    "ziplist-encoding",
                    format!("invalid ziplist entry encoding 0x{enc:02X}"),
                ))
            }
        },
    };
    Ok((el, prevlen, pl_size + hdr))
}

/// A validating cursor over a ziplist (every check of `ziplistValidateIntegrity`).
#[derive(Debug, Clone)]
pub struct ZiplistCursor {
    pos: usize,
    prev_size: usize,
    last_start: usize,
    seen: u32,
    declared: u16,
    tail: usize,
    done: bool,
}

impl ZiplistCursor {
    /// Checks the header and returns a cursor at the first entry.
    pub fn new(blob: &[u8]) -> CodecResult<Self> {
        if blob.len() < HEADER_SIZE + 1 {
            return Err(CodecError::new(
                0,
                "ziplist-header",
                format!(
                    "ziplist of {} bytes is shorter than the 11-byte minimum",
                    blob.len()
                ),
            ));
        }
        let zlbytes = u32::from_le_bytes(array_at::<4>(blob, 0, "ziplist header")?) as usize;
        let tail = u32::from_le_bytes(array_at::<4>(blob, 4, "ziplist header")?) as usize;
        let count = u16::from_le_bytes(array_at::<2>(blob, 8, "ziplist header")?);
        if zlbytes != blob.len() {
            return Err(CodecError::new(
                0,
                "ziplist-size",
                format!(
                    "ziplist header says {zlbytes} bytes, blob has {}",
                    blob.len()
                ),
            ));
        }
        if blob.last() != Some(&0xFF) {
            return Err(CodecError::new(
                blob.len() - 1,
                "ziplist-terminator",
                "ziplist does not end with 0xFF",
            ));
        }
        if tail > blob.len() - 1 {
            return Err(CodecError::new(
                4,
                "ziplist-tail",
                format!("ziplist tail offset {tail} is outside the blob"),
            ));
        }
        Ok(ZiplistCursor {
            pos: HEADER_SIZE,
            prev_size: 0,
            last_start: HEADER_SIZE,
            seen: 0,
            declared: count,
            tail,
            done: false,
        })
    }

    /// The declared count (65535 = unknown).
    pub fn declared_count(&self) -> u16 {
        self.declared
    }

    /// Elements returned so far.
    pub fn seen(&self) -> u32 {
        self.seen
    }

    /// The next element, or `None` at the terminator (after the tail and count checks).
    pub fn next<'a>(&mut self, blob: &'a [u8]) -> CodecResult<Option<Element<'a>>> {
        if self.done {
            return Ok(None);
        }
        let b = byte_at(blob, self.pos, "ziplist entry")?;
        if b == 0xFF {
            if self.pos + 1 != blob.len() {
                return Err(CodecError::new(
                    self.pos,
                    "ziplist-terminator",
                    "ziplist terminator before the end of the blob",
                ));
            }
            if self.last_start != self.tail {
                return Err(CodecError::new(
                    4,
                    "ziplist-tail",
                    format!(
                        "ziplist tail offset {} does not point at the last entry ({})",
                        self.tail, self.last_start
                    ),
                ));
            }
            if self.declared != COUNT_UNKNOWN && u32::from(self.declared) != self.seen {
                return Err(CodecError::new(
                    8,
                    "ziplist-count",
                    format!("header says {} entries, found {}", self.declared, self.seen),
                ));
            }
            self.done = true;
            return Ok(None);
        }
        let (el, prevlen, size) = decode_entry(blob, self.pos)?;
        if prevlen as usize != self.prev_size {
            return Err(CodecError::new(
                self.pos,
                "ziplist-prevlen",
                format!(
                    "ziplist prevlen {prevlen} does not match the previous entry size {}",
                    self.prev_size
                ),
            ));
        }
        let end = self.pos + size;
        if end >= blob.len() {
            return Err(CodecError::new(
                self.pos,
                "ziplist-entry-bounds",
                "ziplist entry runs past the end of the blob",
            ));
        }
        self.last_start = self.pos;
        self.prev_size = size;
        self.pos = end;
        self.seen = self.seen.saturating_add(1);
        Ok(Some(el))
    }
}

/// Validates a whole ziplist; returns the element count.
pub fn validate(blob: &[u8]) -> CodecResult<u32> {
    let mut c = ZiplistCursor::new(blob)?;
    while c.next(blob)?.is_some() {}
    Ok(c.seen)
}

/// Collects all elements (validating).
pub fn elements(blob: &[u8]) -> CodecResult<Vec<Element<'_>>> {
    let mut c = ZiplistCursor::new(blob)?;
    let mut v = Vec::new();
    while let Some(e) = c.next(blob)? {
        v.push(e);
    }
    Ok(v)
}

/// Builds a ziplist the way Redis ≤ 6.2 does.
#[derive(Debug, Clone)]
pub struct ZiplistBuilder {
    buf: Vec<u8>,
    count: u32,
    prev_size: usize,
    last_start: usize,
}

impl Default for ZiplistBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ZiplistBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0u8; HEADER_SIZE]);
        ZiplistBuilder {
            buf,
            count: 0,
            prev_size: 0,
            last_start: HEADER_SIZE,
        }
    }

    /// Resets to empty, keeping the allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&[0u8; HEADER_SIZE]);
        self.count = 0;
        self.prev_size = 0;
        self.last_start = HEADER_SIZE;
    }

    /// Elements pushed so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Size if finished now.
    pub fn size(&self) -> usize {
        self.buf.len() + 1
    }

    fn push_prevlen(&mut self) {
        self.last_start = self.buf.len();
        if self.prev_size < 254 {
            self.buf.push(self.prev_size as u8);
        } else {
            self.buf.push(254);
            self.buf
                .extend_from_slice(&(self.prev_size as u32).to_le_bytes());
        }
    }

    /// Appends `s`: an integer when shorter than 32 bytes and a canonical int64, else a string.
    pub fn push_bytes(&mut self, s: &[u8]) {
        match (s.len() < 32).then(|| parse_canonical_i64(s)).flatten() {
            Some(v) => self.push_int(v),
            None => self.push_str(s),
        }
    }

    /// Appends a string entry.
    pub fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        self.push_prevlen();
        let len = s.len();
        if len <= 0x3F {
            self.buf.push(len as u8);
        } else if len <= 0x3FFF {
            self.buf.push(0x40 | (len >> 8) as u8);
            self.buf.push(len as u8);
        } else {
            self.buf.push(0x80);
            self.buf.extend_from_slice(&(len as u32).to_be_bytes());
        }
        self.buf.extend_from_slice(s);
        self.prev_size = self.buf.len() - start;
        self.count += 1;
    }

    /// Appends an integer entry in the smallest form.
    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        self.push_prevlen();
        if (0..=12).contains(&v) {
            self.buf.push(0xF1 + v as u8);
        } else if let Ok(x) = i8::try_from(v) {
            self.buf.push(0xFE);
            self.buf.push(x as u8);
        } else if let Ok(x) = i16::try_from(v) {
            self.buf.push(0xC0);
            self.buf.extend_from_slice(&x.to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            self.buf.push(0xF0);
            let b = (v as i32).to_le_bytes();
            self.buf.extend_from_slice(b.get(..3).unwrap_or(&[0, 0, 0]));
        } else if let Ok(x) = i32::try_from(v) {
            self.buf.push(0xD0);
            self.buf.extend_from_slice(&x.to_le_bytes());
        } else {
            self.buf.push(0xE0);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.prev_size = self.buf.len() - start;
        self.count += 1;
    }

    /// Writes terminator and header; returns the blob. Clear before reuse.
    pub fn finish(&mut self) -> &[u8] {
        self.buf.push(0xFF);
        let total = (self.buf.len() as u32).to_le_bytes();
        let tail = (self.last_start as u32).to_le_bytes();
        let count = u16::try_from(self.count)
            .unwrap_or(COUNT_UNKNOWN)
            .to_le_bytes();
        if let Some(h) = self.buf.get_mut(..HEADER_SIZE) {
            let (a, rest) = h.split_at_mut(4);
            let (b, c) = rest.split_at_mut(4);
            a.copy_from_slice(&total);
            b.copy_from_slice(&tail);
            c.copy_from_slice(&count);
        }
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// String headers at their limits (63 / 64 bytes: 1 or 2 header bytes) and the previous
    /// entry length at 253 / 254 bytes (254 is the first to take the 5-byte form, `FE` and a
    /// 32-bit length: a 1-byte `FE` would mark the 5-byte form and corrupt the ziplist).
    #[test]
    fn header_and_prevlen_boundaries() {
        for (len, header) in [(63usize, &[0x3f][..]), (64, &[0x40, 0x40])] {
            let mut b = ZiplistBuilder::new();
            b.push_str(&vec![b'x'; len]);
            let zl = b.finish().to_vec();
            assert_eq!(zl[10], 0, "prevlen of the first entry");
            assert_eq!(&zl[11..11 + header.len()], header, "{len} bytes");
        }
        for (text, prev, prevlen) in [
            (250usize, 253u32, &[253u8][..]),
            (251, 254, &[0xfe, 254, 0, 0, 0]),
        ] {
            let mut b = ZiplistBuilder::new();
            b.push_str(&vec![b'x'; text]);
            b.push_str(b"y");
            let zl = b.finish().to_vec();
            let second = 10 + prev as usize;
            assert_eq!(
                &zl[second..second + prevlen.len()],
                prevlen,
                "after {prev} bytes"
            );
            let got = elements(&zl).unwrap();
            assert_eq!(got.len(), 2);
            assert_eq!(got[1], Element::Str(b"y"));
        }
    }

    #[test]
    fn doc_vector() {
        let mut b = ZiplistBuilder::new();
        b.push_bytes(b"2");
        b.push_bytes(b"5");
        let zl = b.finish().to_vec();
        assert_eq!(
            zl,
            [0x0f, 0, 0, 0, 0x0c, 0, 0, 0, 2, 0, 0, 0xf3, 2, 0xf6, 0xff]
        );
        assert_eq!(
            elements(&zl).unwrap(),
            vec![Element::Int(2), Element::Int(5)]
        );
    }

    #[test]
    fn roundtrip_all_encodings() {
        let big = vec![b'q'; 300];
        let huge = vec![b'z'; 20000];
        let items: Vec<Vec<u8>> = vec![
            b"hello".to_vec(),
            b"0".to_vec(),
            b"12".to_vec(),
            b"13".to_vec(),
            b"-100".to_vec(),
            b"30000".to_vec(),
            b"-8000000".to_vec(),
            b"2000000000".to_vec(),
            b"9000000000000".to_vec(),
            b"007".to_vec(),
            big.clone(),
            huge.clone(),
            b"".to_vec(),
        ];
        let mut b = ZiplistBuilder::new();
        for i in &items {
            b.push_bytes(i);
        }
        let zl = b.finish().to_vec();
        let got: Vec<Vec<u8>> = elements(&zl).unwrap().iter().map(|e| e.to_vec()).collect();
        assert_eq!(got, items);
    }

    #[test]
    fn corruptions_detected() {
        let mut b = ZiplistBuilder::new();
        for i in [&b"a"[..], b"bb", b"300", b"ccc"] {
            b.push_bytes(i);
        }
        let zl = b.finish().to_vec();
        assert_eq!(validate(&zl).unwrap(), 4);
        let mut bad = zl.clone();
        bad[8] = 5;
        assert_eq!(validate(&bad).unwrap_err().code, "ziplist-count");
        let mut bad = zl.clone();
        bad[4] = 10;
        assert_eq!(validate(&bad).unwrap_err().code, "ziplist-tail");
        let mut bad = zl.clone();
        bad[13] = 7; // prevlen of the 2nd entry
        assert_eq!(validate(&bad).unwrap_err().code, "ziplist-prevlen");
        for i in 0..zl.len() {
            for v in [0u8, 1, 0x3f, 0x40, 0x80, 0xc0, 0xfe, 0xff] {
                let mut m = zl.clone();
                m[i] = v;
                let _ = validate(&m);
            }
            let _ = validate(&zl[..i]);
        }
    }
}
