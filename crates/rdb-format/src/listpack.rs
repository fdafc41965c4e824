//! Listpack (§4.1): validating cursor decoder and builder.

use crate::element::Element;
use crate::error::{array_at, byte_at, slice_at, CodecError, CodecResult};
use crate::int::parse_canonical_i64;

/// Size of the listpack header (`u32le total_bytes`, `u16le num_elements`).
pub const HEADER_SIZE: usize = 6;
/// `num_elements` value meaning "too many, count by scanning".
pub const COUNT_UNKNOWN: u16 = 65535;
/// Largest listpack a server builds (1 GiB).
pub const MAX_SIZE: usize = 1 << 30;

/// The validated header of a listpack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListpackHeader {
    /// Declared total size.
    pub total_bytes: u32,
    /// Declared element count (65535 = unknown).
    pub num_elements: u16,
}

/// Checks what a server checks without deep sanitization: size ≥ 7, `total_bytes` equals the
/// blob size, last byte is `0xFF`.
pub fn check_header(blob: &[u8]) -> CodecResult<ListpackHeader> {
    if blob.len() < HEADER_SIZE + 1 {
        return Err(CodecError::new(
            0,
            "listpack-header",
            format!(
                "listpack of {} bytes is shorter than the 7-byte minimum",
                blob.len()
            ),
        ));
    }
    let total = u32::from_le_bytes(array_at::<4>(blob, 0, "listpack header")?);
    let count = u16::from_le_bytes(array_at::<2>(blob, 4, "listpack header")?);
    if total as usize != blob.len() {
        return Err(CodecError::new(
            0,
            "listpack-size",
            format!(
                "listpack header says {total} bytes, blob has {}",
                blob.len()
            ),
        ));
    }
    if blob.last() != Some(&0xFF) {
        return Err(CodecError::new(
            blob.len().saturating_sub(1),
            "listpack-terminator",
            "listpack does not end with 0xFF",
        ));
    }
    Ok(ListpackHeader {
        total_bytes: total,
        num_elements: count,
    })
}

/// The size of the backlen field for an entry of `l` bytes.
pub fn backlen_size(l: usize) -> usize {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2097151 {
        3
    } else if l < 268435455 {
        4
    } else {
        5
    }
}

/// Writes the backlen bytes of an entry of `l` bytes (lowest address first).
fn encode_backlen(l: usize, out: &mut Vec<u8>) {
    let n = backlen_size(l);
    for i in (0..n).rev() {
        let chunk = ((l >> (7 * i)) & 127) as u8;
        // The lowest-address byte carries no continuation flag; every later one does.
        out.push(if i == n - 1 { chunk } else { chunk | 128 });
    }
}

fn backlen_matches(bytes: &[u8], l: usize) -> bool {
    let n = backlen_size(l);
    if bytes.len() != n {
        return false;
    }
    bytes.iter().enumerate().all(|(k, &b)| {
        let i = n - 1 - k;
        let chunk = ((l >> (7 * i)) & 127) as u8;
        b == if k == 0 { chunk } else { chunk | 128 }
    })
}

/// Decodes the entry at `pos` (not the terminator); returns the element and the size of its
/// encoding+data (without backlen).
#[inline(always)]
fn decode_entry(blob: &[u8], pos: usize) -> CodecResult<(Element<'_>, usize)> {
    let b = byte_at(blob, pos, "listpack entry")?;
    let at = |n: usize| pos + n;
    Ok(match b {
        0x00..=0x7F => (Element::Int(i64::from(b)), 1),
        0x80..=0xBF => {
            let len = usize::from(b & 0x3F);
            (
                Element::Str(slice_at(blob, at(1), len, "listpack string")?),
                1 + len,
            )
        }
        0xC0..=0xDF => {
            let b1 = byte_at(blob, at(1), "listpack int13")?;
            let raw = (i64::from(b & 0x1F) << 8) | i64::from(b1);
            let v = if raw >= 4096 { raw - 8192 } else { raw };
            (Element::Int(v), 2)
        }
        0xE0..=0xEF => {
            let b1 = byte_at(blob, at(1), "listpack str12")?;
            let len = (usize::from(b & 0x0F) << 8) | usize::from(b1);
            (
                Element::Str(slice_at(blob, at(2), len, "listpack string")?),
                2 + len,
            )
        }
        0xF0 => {
            let len = u32::from_le_bytes(array_at::<4>(blob, at(1), "listpack str32")?) as usize;
            (
                Element::Str(slice_at(blob, at(5), len, "listpack string")?),
                5 + len,
            )
        }
        0xF1 => {
            let v = i16::from_le_bytes(array_at::<2>(blob, at(1), "listpack int16")?);
            (Element::Int(i64::from(v)), 3)
        }
        0xF2 => {
            let [x, y, z] = array_at::<3>(blob, at(1), "listpack int24")?;
            let v = i32::from_le_bytes([0, x, y, z]) >> 8;
            (Element::Int(i64::from(v)), 4)
        }
        0xF3 => {
            let v = i32::from_le_bytes(array_at::<4>(blob, at(1), "listpack int32")?);
            (Element::Int(i64::from(v)), 5)
        }
        0xF4 => {
            let v = i64::from_le_bytes(array_at::<8>(blob, at(1), "listpack int64")?);
            (Element::Int(v), 9)
        }
        _ => {
            return Err(CodecError::new(
                pos,
                "listpack-encoding",
                format!("invalid listpack entry encoding 0x{b:02X}"),
            ))
        }
    })
}

/// A cursor over a listpack that validates every entry as it goes (deep validation, like
/// `lpValidateIntegrity`). It does not borrow the blob, so a streaming parser can keep it
/// between events; pass the same blob on every call.
#[derive(Debug, Clone)]
pub struct ListpackCursor {
    pos: usize,
    seen: u32,
    declared: u16,
    done: bool,
    /// Whether the terminator checks the header's element count (see
    /// [`ListpackCursor::without_count_check`]).
    check_count: bool,
}

impl ListpackCursor {
    /// Checks the header and returns a cursor at the first entry.
    pub fn new(blob: &[u8]) -> CodecResult<Self> {
        let h = check_header(blob)?;
        Ok(ListpackCursor {
            pos: HEADER_SIZE,
            seen: 0,
            declared: h.num_elements,
            done: false,
            check_count: true,
        })
    }

    /// The same cursor, but the terminator does not check the header's element count against
    /// the elements found: stream node listpacks, whose count the server never checks
    /// (`streamValidateListpackIntegrity` validates the header's size only, §4.6), so a wrong
    /// count there loads. [`ListpackCursor::count_mismatch`] tells it afterwards.
    #[must_use]
    pub fn without_count_check(mut self) -> Self {
        self.check_count = false;
        self
    }

    /// Once the terminator was reached: `(declared, found)` when the header declares an
    /// element count (not 65535) other than the number of elements found.
    pub fn count_mismatch(&self) -> Option<(u16, u32)> {
        (self.done && self.declared != COUNT_UNKNOWN && u32::from(self.declared) != self.seen)
            .then_some((self.declared, self.seen))
    }

    /// The declared element count (65535 = unknown).
    pub fn declared_count(&self) -> u16 {
        self.declared
    }

    /// Elements returned so far.
    pub fn seen(&self) -> u32 {
        self.seen
    }

    /// Offset of the next entry inside the blob.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next element, or `None` at the terminator (after checking the count).
    pub fn next<'a>(&mut self, blob: &'a [u8]) -> CodecResult<Option<Element<'a>>> {
        if self.done {
            return Ok(None);
        }
        let b = byte_at(blob, self.pos, "listpack entry")?;
        if b == 0xFF {
            if self.pos + 1 != blob.len() {
                return Err(CodecError::new(
                    self.pos,
                    "listpack-terminator",
                    "listpack terminator before the end of the blob",
                ));
            }
            if self.check_count
                && self.declared != COUNT_UNKNOWN
                && u32::from(self.declared) != self.seen
            {
                return Err(CodecError::new(
                    self.pos,
                    "listpack-count",
                    format!("header says {} entries, found {}", self.declared, self.seen),
                ));
            }
            self.done = true;
            return Ok(None);
        }
        let (el, len) = decode_entry(blob, self.pos)?;
        let bl_pos = self.pos + len;
        let bl_size = backlen_size(len);
        // The entry and its backlen must end before the terminator byte.
        let end = bl_pos + bl_size;
        if end >= blob.len() {
            return Err(CodecError::new(
                self.pos,
                "listpack-entry-bounds",
                "listpack entry runs past the end of the blob",
            ));
        }
        // Entries under 128 bytes (most) have a one-byte backlen equal to their size.
        let bl_ok = if len <= 127 {
            byte_at(blob, bl_pos, "listpack backlen")? == len as u8
        } else {
            backlen_matches(slice_at(blob, bl_pos, bl_size, "listpack backlen")?, len)
        };
        if !bl_ok {
            return Err(CodecError::new(
                bl_pos,
                "listpack-backlen",
                format!("listpack backlen does not encode the entry size {len}"),
            ));
        }
        self.pos = end;
        self.seen = self.seen.saturating_add(1);
        Ok(Some(el))
    }
}

/// Validates a whole listpack deeply; returns the number of elements.
pub fn validate(blob: &[u8]) -> CodecResult<u32> {
    let mut c = ListpackCursor::new(blob)?;
    while c.next(blob)?.is_some() {}
    Ok(c.seen)
}

/// Collects all elements (validating).
pub fn elements(blob: &[u8]) -> CodecResult<Vec<Element<'_>>> {
    let mut c = ListpackCursor::new(blob)?;
    let mut v = Vec::new();
    while let Some(e) = c.next(blob)? {
        v.push(e);
    }
    Ok(v)
}

/// Builds a listpack with the encodings a real server chooses.
#[derive(Debug, Clone)]
pub struct ListpackBuilder {
    buf: Vec<u8>,
    count: u32,
}

impl Default for ListpackBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ListpackBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0u8; HEADER_SIZE]);
        ListpackBuilder { buf, count: 0 }
    }

    /// Resets to empty, keeping the allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&[0u8; HEADER_SIZE]);
        self.count = 0;
    }

    /// Elements pushed so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Size the listpack would have if finished now (including the terminator).
    pub fn size(&self) -> usize {
        self.buf.len() + 1
    }

    /// Size that pushing `s` (with [`ListpackBuilder::push_bytes`]) would add.
    pub fn entry_size(s: &[u8]) -> usize {
        let l = match parse_canonical_i64(s) {
            Some(v) => int_encoding_size(v),
            None => str_header_size(s.len()) + s.len(),
        };
        l + backlen_size(l)
    }

    /// Size that pushing a string of `len` bytes that is not a canonical integer would add.
    pub fn str_entry_size(len: usize) -> usize {
        let l = str_header_size(len) + len;
        l + backlen_size(l)
    }

    /// Size that pushing the integer `v` (with [`ListpackBuilder::push_int`]) would add.
    pub fn int_entry_size(v: i64) -> usize {
        let l = int_encoding_size(v);
        l + backlen_size(l)
    }

    /// Appends `s`, as an integer when it is a canonical int64 decimal, else as a string.
    pub fn push_bytes(&mut self, s: &[u8]) {
        match parse_canonical_i64(s) {
            Some(v) => self.push_int(v),
            None => self.push_str(s),
        }
    }

    /// Appends a string element (never integer-encoded).
    pub fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let len = s.len();
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf.push(0xE0 | (len >> 8) as u8);
            self.buf.push(len as u8);
        } else {
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        let l = self.buf.len() - start;
        encode_backlen(l, &mut self.buf);
        self.count += 1;
    }

    /// Appends an integer element in the smallest form.
    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u16) & 0x1FFF;
            self.buf.push(0xC0 | (u >> 8) as u8);
            self.buf.push(u as u8);
        } else if let Ok(x) = i16::try_from(v) {
            self.buf.push(0xF1);
            self.buf.extend_from_slice(&x.to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            self.buf.push(0xF2);
            let b = (v as i32).to_le_bytes();
            self.buf.extend_from_slice(b.get(..3).unwrap_or(&[0, 0, 0]));
        } else if let Ok(x) = i32::try_from(v) {
            self.buf.push(0xF3);
            self.buf.extend_from_slice(&x.to_le_bytes());
        } else {
            self.buf.push(0xF4);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        let l = self.buf.len() - start;
        encode_backlen(l, &mut self.buf);
        self.count += 1;
    }

    /// Appends an element.
    pub fn push(&mut self, e: Element<'_>) {
        match e {
            Element::Int(v) => self.push_int(v),
            Element::Str(s) => self.push_str(s),
        }
    }

    /// Writes terminator and header; returns the finished blob. The builder must be
    /// [`cleared`](ListpackBuilder::clear) before reuse.
    pub fn finish(&mut self) -> &[u8] {
        self.buf.push(0xFF);
        let total = (self.buf.len() as u32).to_le_bytes();
        let count = u16::try_from(self.count)
            .unwrap_or(COUNT_UNKNOWN)
            .to_le_bytes();
        if let Some(h) = self.buf.get_mut(..HEADER_SIZE) {
            let (a, b) = h.split_at_mut(4);
            a.copy_from_slice(&total);
            b.copy_from_slice(&count);
        }
        &self.buf
    }
}

fn int_encoding_size(v: i64) -> usize {
    if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if i16::try_from(v).is_ok() {
        3
    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
        4
    } else if i32::try_from(v).is_ok() {
        5
    } else {
        9
    }
}

fn str_header_size(len: usize) -> usize {
    if len < 64 {
        1
    } else if len < 4096 {
        2
    } else {
        5
    }
}

/// Decodes the element at `pos` (which a [`ListpackCursor`] has already validated).
pub fn element_at(blob: &[u8], pos: usize) -> CodecResult<Element<'_>> {
    decode_entry(blob, pos).map(|(e, _)| e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(items: &[&[u8]]) -> Vec<u8> {
        let mut b = ListpackBuilder::new();
        for i in items {
            b.push_bytes(i);
        }
        b.finish().to_vec()
    }

    /// String headers at their limits: up to 63 bytes one byte (`10xxxxxx`), up to 4095 two
    /// (`1110xxxx`), then five (`F0` and a 32-bit length).
    #[test]
    fn string_header_boundaries() {
        for (len, header) in [
            (63usize, &[0xbf][..]),
            (64, &[0xe0, 0x40]),
            (4095, &[0xef, 0xff]),
            (4096, &[0xf0, 0x00, 0x10, 0, 0]),
        ] {
            let text = vec![b's'; len];
            let lp = build(&[&text]);
            assert_eq!(&lp[6..6 + header.len()], header, "{len} bytes");
            assert_eq!(str_header_size(len), header.len(), "{len} bytes");
        }
    }

    /// A terminator anywhere but at the last byte is an error, however few bytes follow it:
    /// one byte after it (here a second 0xFF, so the blob still ends with one) is enough.
    #[test]
    fn a_terminator_before_the_last_byte_is_refused() {
        for tail in [&[0xFF][..], &[0xFF, 0xFF]] {
            let mut blob = vec![0, 0, 0, 0, 1, 0, 0x81, b'x', 2, 0xFF];
            blob.extend_from_slice(tail);
            let total = u32::try_from(blob.len()).unwrap().to_le_bytes();
            blob[..4].copy_from_slice(&total);
            for e in [validate(&blob).unwrap_err(), elements(&blob).unwrap_err()] {
                assert_eq!((e.code, e.offset), ("listpack-terminator", 9), "{tail:?}");
            }
        }
        // The same blob without the extra bytes is valid.
        let blob = [10, 0, 0, 0, 1, 0, 0x81, b'x', 2, 0xFF];
        assert_eq!(elements(&blob).unwrap(), vec![Element::Str(b"x")]);
    }

    #[test]
    fn doc_vector() {
        let lp = build(&[b"a", b"1", b"-1", b"hello", b"1234", b"99999"]);
        let want = [
            0x1e, 0, 0, 0, 6, 0, 0x81, 0x61, 2, 1, 1, 0xdf, 0xff, 2, 0x85, b'h', b'e', b'l', b'l',
            b'o', 6, 0xc4, 0xd2, 2, 0xf2, 0x9f, 0x86, 0x01, 4, 0xff,
        ];
        assert_eq!(lp, want);
        let els = elements(&lp).unwrap();
        assert_eq!(
            els,
            vec![
                Element::Str(b"a"),
                Element::Int(1),
                Element::Int(-1),
                Element::Str(b"hello"),
                Element::Int(1234),
                Element::Int(99999)
            ]
        );
    }

    #[test]
    fn entry_vectors() {
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00, 0x01]),
            (127, &[0x7f, 0x01]),
            (128, &[0xc0, 0x80, 0x02]),
            (-1, &[0xdf, 0xff, 0x02]),
            (4095, &[0xcf, 0xff, 0x02]),
            (-4096, &[0xd0, 0x00, 0x02]),
            (4096, &[0xf1, 0x00, 0x10, 0x03]),
            (-4097, &[0xf1, 0xff, 0xef, 0x03]),
            (32768, &[0xf2, 0x00, 0x80, 0x00, 0x04]),
            (-8388608, &[0xf2, 0x00, 0x00, 0x80, 0x04]),
            (8388608, &[0xf3, 0x00, 0x00, 0x80, 0x00, 0x05]),
            (2147483648, &[0xf4, 0, 0, 0, 0x80, 0, 0, 0, 0, 0x09]),
        ];
        for &(v, bytes) in cases {
            let mut b = ListpackBuilder::new();
            b.push_int(v);
            let lp = b.finish().to_vec();
            assert_eq!(&lp[6..lp.len() - 1], bytes, "{v}");
            assert_eq!(elements(&lp).unwrap(), vec![Element::Int(v)]);
            assert_eq!(
                ListpackBuilder::entry_size(v.to_string().as_bytes()),
                bytes.len()
            );
        }
        let s100 = vec![b'x'; 100];
        let lp = build(&[&s100]);
        assert_eq!(&lp[6..8], &[0xe0, 0x64]);
        assert_eq!(lp[lp.len() - 2], 0x66);
        let s5000 = vec![b'y'; 5000];
        let lp = build(&[&s5000]);
        assert_eq!(&lp[6..11], &[0xf0, 0x88, 0x13, 0, 0]);
        assert_eq!(&lp[lp.len() - 3..lp.len() - 1], &[0x27, 0x8d]);
        assert_eq!(elements(&lp).unwrap(), vec![Element::Str(&s5000)]);
    }

    #[test]
    fn backlen_vectors() {
        let cases: &[(usize, &[u8])] = &[
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0x01, 0x80]),
            (16382, &[0x7f, 0xfe]),
            (16383, &[0x00, 0xff, 0xff]),
            (2097150, &[0x7f, 0xff, 0xfe]),
            (2097151, &[0x00, 0xff, 0xff, 0xff]),
        ];
        for &(l, bytes) in cases {
            let mut out = Vec::new();
            encode_backlen(l, &mut out);
            assert_eq!(out, bytes, "{l}");
            assert!(backlen_matches(bytes, l));
        }
    }

    #[test]
    fn zset_and_set_vectors() {
        assert_eq!(
            build(&[b"a", b"1", b"b", b"2.5"]),
            [
                0x14, 0, 0, 0, 4, 0, 0x81, 0x61, 2, 1, 1, 0x81, 0x62, 2, 0x83, 0x32, 0x2e, 0x35, 4,
                0xff
            ]
        );
        assert_eq!(
            build(&[b"x", b"y", b"7"]),
            [0x0f, 0, 0, 0, 3, 0, 0x81, 0x78, 2, 0x81, 0x79, 2, 7, 1, 0xff]
        );
    }

    #[test]
    fn corruptions_detected() {
        let lp = build(&[b"a", b"1", b"hello"]);
        let mut bad = lp.clone();
        bad[4] = 4; // count
        assert_eq!(validate(&bad).unwrap_err().code, "listpack-count");
        let mut bad = lp.clone();
        bad[0] = 99;
        assert_eq!(validate(&bad).unwrap_err().code, "listpack-size");
        let mut bad = lp.clone();
        *bad.last_mut().unwrap() = 0;
        assert!(validate(&bad).is_err());
        let mut bad = lp.clone();
        bad[8] = 5; // backlen of "a"
        assert_eq!(validate(&bad).unwrap_err().code, "listpack-backlen");
        let mut bad = lp.clone();
        bad[6] = 0xF6;
        assert_eq!(validate(&bad).unwrap_err().code, "listpack-encoding");
        // unknown count is accepted
        let mut ok = lp.clone();
        ok[4] = 0xff;
        ok[5] = 0xff;
        assert_eq!(validate(&ok).unwrap(), 3);
        // every single-byte change or truncation never panics
        for i in 0..lp.len() {
            for v in [0u8, 1, 0x7f, 0x80, 0xc0, 0xe0, 0xf0, 0xf4, 0xff] {
                let mut m = lp.clone();
                m[i] = v;
                let _ = validate(&m);
            }
            let _ = validate(&lp[..i]);
        }
    }
}
