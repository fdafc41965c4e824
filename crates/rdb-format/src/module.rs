//! Module values: the MODULE_2 opcode stream that follows a module value's type ID (and a
//! MODULE_AUX record's `when`), as `RM_Save*` calls write it.
//!
//! Each item is an opcode (a length) and its payload: 1 signed and 2 unsigned integer (a
//! length), 3 float (4 bytes), 4 double (8 bytes), 5 string (an RDB string); 0 ends the stream.

use crate::error::{CodecError, CodecResult};
use crate::length::{decode_length, Length};
use crate::string::decode_string_header;

/// The length of the opcode stream at the start of `buf`, up to and including its EOF opcode.
/// `wide` as for [`decode_length`] (RDB ≥ 8). Errors carry the offset in `buf`: an unknown
/// opcode, a truncated item, or no EOF opcode. Strings are stepped over, not decompressed.
pub fn module_stream_len(buf: &[u8], wide: bool) -> CodecResult<usize> {
    let mut at = 0usize;
    loop {
        let rest = buf.get(at..).unwrap_or_default();
        let (op, n) = decode_length(rest, wide).map_err(|e| e.shifted(at))?;
        let payload = at + n;
        let item = match op {
            Length::Len(0) => return Ok(payload),
            Length::Len(1 | 2) => {
                let (len, m) = decode_length(buf.get(payload..).unwrap_or_default(), wide)
                    .map_err(|e| e.shifted(payload))?;
                if matches!(len, Length::Special(_)) {
                    return Err(CodecError::new(
                        payload,
                        "module-value",
                        "a module integer is a string encoding",
                    ));
                }
                m
            }
            Length::Len(3) => 4,
            Length::Len(4) => 8,
            Length::Len(5) => {
                let (h, m) = decode_string_header(buf.get(payload..).unwrap_or_default(), wide)
                    .map_err(|e| e.shifted(payload))?;
                usize::try_from(h.payload_len())
                    .ok()
                    .and_then(|b| b.checked_add(m))
                    .unwrap_or(usize::MAX)
            }
            Length::Len(other) => {
                return Err(CodecError::new(
                    at,
                    "module-opcode",
                    format!("unknown module opcode {other}"),
                ))
            }
            Length::Special(_) => {
                return Err(CodecError::new(
                    at,
                    "module-opcode",
                    "a module opcode is a string encoding",
                ))
            }
        };
        at = match payload.checked_add(item) {
            Some(end) if end <= buf.len() => end,
            _ => {
                return Err(CodecError::new(
                    payload,
                    "module-value",
                    format!(
                        "module value item of {item} bytes runs past the end ({} bytes left)",
                        buf.len().saturating_sub(payload)
                    ),
                ))
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams() {
        // uint 5, double, string "ab", float, signed int, EOF.
        let mut s = vec![2, 5, 4];
        s.extend_from_slice(&1.5f64.to_le_bytes());
        s.extend_from_slice(&[5, 2, b'a', b'b', 3, 0, 0, 0x80, 0x3f, 1, 0x40, 0x10, 0]);
        assert_eq!(module_stream_len(&s, true), Ok(s.len()));
        // Followed by other bytes: the stream ends at its EOF opcode.
        let mut more = s.clone();
        more.extend_from_slice(b"xyz");
        assert_eq!(module_stream_len(&more, true), Ok(s.len()));
        assert_eq!(module_stream_len(&[0], false), Ok(1));
        // Truncated anywhere: an error, never a length past the end.
        for cut in 0..s.len() {
            assert!(module_stream_len(&s[..cut], true).is_err(), "cut {cut}");
        }
        assert_eq!(
            module_stream_len(&[6, 0], true).unwrap_err().code,
            "module-opcode"
        );
        assert!(module_stream_len(&[0xC0, 1, 0], true).is_err());
        assert!(module_stream_len(&[2, 0xC0, 1, 0], true).is_err());
    }
}
