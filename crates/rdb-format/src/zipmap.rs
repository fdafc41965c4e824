//! Zipmap (§4.4), read-only.

use crate::error::{array_at, byte_at, slice_at, CodecError, CodecResult};

/// A validating cursor over a zipmap's pairs.
#[derive(Debug, Clone)]
pub struct ZipmapCursor {
    pos: usize,
    declared: u8,
    seen: u32,
    done: bool,
}

/// The length at `pos` and its size: 0–253 in one byte, else (254, and 255 too) a 4-byte
/// length after the byte (`zipmapDecodeLength`, `zipmapGetEncodedLengthSize`). At a key's
/// position 255 is the end marker: the caller checks for it first.
fn read_len(blob: &[u8], pos: usize) -> CodecResult<(usize, usize)> {
    let b = byte_at(blob, pos, "zipmap length")?;
    if b < 254 {
        return Ok((usize::from(b), 1));
    }
    let len = u32::from_le_bytes(array_at::<4>(blob, pos + 1, "zipmap length")?);
    Ok((len as usize, 5))
}

impl ZipmapCursor {
    /// Checks size ≥ 2 and the final `0xFF`.
    pub fn new(blob: &[u8]) -> CodecResult<Self> {
        if blob.len() < 2 {
            return Err(CodecError::new(
                0,
                "zipmap-header",
                "zipmap shorter than 2 bytes",
            ));
        }
        if blob.last() != Some(&0xFF) {
            return Err(CodecError::new(
                blob.len() - 1,
                "zipmap-terminator",
                "zipmap does not end with 0xFF",
            ));
        }
        Ok(ZipmapCursor {
            pos: 1,
            declared: byte_at(blob, 0, "zipmap header")?,
            seen: 0,
            done: false,
        })
    }

    /// Pairs returned so far.
    pub fn seen(&self) -> u32 {
        self.seen
    }

    /// The next `(key, value)`, or `None` at the end (after checking the count).
    pub fn next<'a>(&mut self, blob: &'a [u8]) -> CodecResult<Option<(&'a [u8], &'a [u8])>> {
        if self.done {
            return Ok(None);
        }
        if byte_at(blob, self.pos, "zipmap length")? == 0xFF {
            if self.pos + 1 != blob.len() {
                return Err(CodecError::new(
                    self.pos,
                    "zipmap-terminator",
                    "zipmap end marker before the end of the blob",
                ));
            }
            // 254 means "count unknown"; 255 is no count at all (`zipmapValidateIntegrity`
            // refuses it: Redis 7.0, 6.2 and Valkey 8.1 fail the load).
            if self.declared != 254 && u32::from(self.declared) != self.seen {
                let msg = if self.declared == 255 {
                    format!(
                        "header byte 255 is neither the pair count ({}) nor 254 (count unknown)",
                        self.seen
                    )
                } else {
                    format!("header says {} pairs, found {}", self.declared, self.seen)
                };
                return Err(CodecError::new(0, "zipmap-count", msg));
            }
            if self.seen == 0 {
                return Err(CodecError::new(0, "zipmap-empty", "zipmap has no pairs"));
            }
            self.done = true;
            return Ok(None);
        }
        let (klen, n) = read_len(blob, self.pos)?;
        let kpos = self.pos + n;
        let key = slice_at(blob, kpos, klen, "zipmap key")?;
        let vlpos = kpos + klen;
        let (vlen, n2) = read_len(blob, vlpos)?;
        let free = byte_at(blob, vlpos + n2, "zipmap free")?;
        let vpos = vlpos + n2 + 1;
        let value = slice_at(blob, vpos, vlen, "zipmap value")?;
        let end = vpos + vlen + usize::from(free);
        if end >= blob.len() {
            return Err(CodecError::new(
                self.pos,
                "zipmap-entry-bounds",
                "zipmap entry runs past the end of the blob",
            ));
        }
        self.pos = end;
        self.seen += 1;
        Ok(Some((key, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_vector() {
        let zm = b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff";
        let mut c = ZipmapCursor::new(zm).unwrap();
        assert_eq!(c.next(zm).unwrap(), Some((&b"foo"[..], &b"bar"[..])));
        assert_eq!(c.next(zm).unwrap(), Some((&b"hello"[..], &b"world"[..])));
        assert_eq!(c.next(zm).unwrap(), None);
        let bad = b"\x03\x03foo\x03\x00bar\xff";
        let mut c = ZipmapCursor::new(bad).unwrap();
        c.next(bad).unwrap();
        assert_eq!(c.next(bad).unwrap_err().code, "zipmap-count");
        // 254: count unknown, any count goes; 255 is refused by servers.
        let mut unknown = zm.to_vec();
        unknown[0] = 254;
        let mut c = ZipmapCursor::new(&unknown).unwrap();
        while c.next(&unknown).unwrap().is_some() {}
        assert_eq!(c.seen(), 2);
        unknown[0] = 255;
        let mut c = ZipmapCursor::new(&unknown).unwrap();
        c.next(&unknown).unwrap();
        c.next(&unknown).unwrap();
        let err = c.next(&unknown).unwrap_err();
        assert_eq!((err.code, err.offset), ("zipmap-count", 0));
        // A value length byte of 255 is a 4-byte length, as 254 is (`zipmapDecodeLength`
        // reads any byte from 254 up so); at a key's place it is the end marker.
        let wide = b"\x01\x01k\xff\x02\x00\x00\x00\x00vv\xff";
        let mut c = ZipmapCursor::new(wide).unwrap();
        assert_eq!(c.next(wide).unwrap(), Some((&b"k"[..], &b"vv"[..])));
        assert_eq!(c.next(wide).unwrap(), None);
        for i in 0..zm.len() {
            let _ = ZipmapCursor::new(&zm[..i]).and_then(|mut c| {
                while c.next(&zm[..i])?.is_some() {}
                Ok(())
            });
        }
    }
}
