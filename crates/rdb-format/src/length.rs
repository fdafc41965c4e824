//! RDB length encoding (§2.1): 6/14/32/64-bit lengths and the special string encodings.

use crate::error::{byte_at, CodecError, CodecResult};

/// A decoded length prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// A plain length or number.
    Len(u64),
    /// A special string encoding (`11eeeeee`): 0 = int8, 1 = int16, 2 = int32, 3 = LZF.
    Special(u8),
}

/// How many bytes a length prefix starting with `first` occupies (1, 2, 5 or 9).
///
/// `wide` is true for RDB ≥ 8 (where `0x81` means a 64-bit length and `0x82..=0xBF` are invalid).
/// Before RDB 8 any `10xxxxxx` byte means a 32-bit length.
pub fn length_size(first: u8, wide: bool) -> CodecResult<usize> {
    match first >> 6 {
        0 | 3 => Ok(1),
        1 => Ok(2),
        _ => {
            if first == 0x80 || !wide {
                Ok(5)
            } else if first == 0x81 {
                Ok(9)
            } else {
                Err(CodecError::new(
                    0,
                    "length-encoding",
                    format!("unknown length encoding 0x{first:02X}"),
                ))
            }
        }
    }
}

/// Decodes a length prefix at the start of `buf`; returns it and its size.
#[inline]
pub fn decode_length(buf: &[u8], wide: bool) -> CodecResult<(Length, usize)> {
    // One-byte prefixes (lengths below 64 and the special string encodings) without the size
    // lookup: most keys and short values. Inlined, this is a load, a shift and a compare.
    match buf.first() {
        Some(&first) if first >> 6 == 0 => Ok((Length::Len(u64::from(first)), 1)),
        Some(&first) if first >> 6 == 3 => Ok((Length::Special(first & 0x3F), 1)),
        _ => decode_multibyte_length(buf, wide),
    }
}

/// [`decode_length`] for the 2-, 5- and 9-byte prefixes (`01xxxxxx`, `10xxxxxx`) and an
/// empty `buf`.
fn decode_multibyte_length(buf: &[u8], wide: bool) -> CodecResult<(Length, usize)> {
    let first = byte_at(buf, 0, "length")?;
    let size = length_size(first, wide)?;
    let b = crate::error::slice_at(buf, 0, size, "length")?;
    let value = match (first >> 6, b) {
        (1, [_, b1]) => (u64::from(first & 0x3F) << 8) | u64::from(*b1),
        (_, [_, rest @ ..]) => rest.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)),
        _ => return Err(CodecError::new(0, "length-encoding", "malformed length")),
    };
    Ok((Length::Len(value), size))
}

/// Appends the smallest encoding of `v` (as real servers write it).
pub fn encode_length(v: u64, out: &mut Vec<u8>) {
    if v < 64 {
        out.push(v as u8);
    } else if v < 16384 {
        out.extend_from_slice(&[0x40 | (v >> 8) as u8, v as u8]);
    } else if v <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// Size in bytes of [`encode_length`]'s output for `v`.
pub fn encoded_length_size(v: u64) -> usize {
    if v < 64 {
        1
    } else if v < 16384 {
        2
    } else if v <= u64::from(u32::MAX) {
        5
    } else {
        9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors() {
        let cases: &[(u64, &[u8])] = &[
            (0, &[0x00]),
            (63, &[0x3f]),
            (64, &[0x40, 0x40]),
            (300, &[0x41, 0x2c]),
            (16383, &[0x7f, 0xff]),
            (16384, &[0x80, 0, 0, 0x40, 0]),
            (4294967295, &[0x80, 0xff, 0xff, 0xff, 0xff]),
            (4294967296, &[0x81, 0, 0, 0, 1, 0, 0, 0, 0]),
            (
                u64::MAX,
                &[0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ),
        ];
        for &(v, bytes) in cases {
            let mut out = Vec::new();
            encode_length(v, &mut out);
            assert_eq!(out, bytes, "encode {v}");
            assert_eq!(encoded_length_size(v), bytes.len());
            assert_eq!(
                decode_length(bytes, true).unwrap(),
                (Length::Len(v), bytes.len())
            );
        }
    }

    #[test]
    fn special_and_invalid() {
        assert_eq!(
            decode_length(&[0xC3], true).unwrap(),
            (Length::Special(3), 1)
        );
        assert!(decode_length(&[0x82, 0, 0, 0, 0], true).is_err());
        // Before RDB 8, any 10xxxxxx is a 32-bit length.
        assert_eq!(
            decode_length(&[0x82, 0, 0, 1, 0], false).unwrap(),
            (Length::Len(256), 5)
        );
        assert!(decode_length(&[0x40], true).is_err());
        assert!(decode_length(&[], true).is_err());
    }

    #[test]
    fn non_minimal_forms_accepted() {
        assert_eq!(
            decode_length(&[0x40, 0x05], true).unwrap(),
            (Length::Len(5), 2)
        );
        assert_eq!(
            decode_length(&[0x80, 0, 0, 0, 5], true).unwrap(),
            (Length::Len(5), 5)
        );
    }
}
