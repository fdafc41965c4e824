//! RDB string encoding (§2.2): raw, int8/16/32 and LZF.

use crate::error::{array_at, CodecError, CodecResult};
use crate::int::parse_canonical_i64;
use crate::length::{decode_length, encode_length, Length};
use crate::lzf::Compressor;

/// The header of an RDB string: what follows the length prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringHeader {
    /// `len` raw bytes follow.
    Raw(u64),
    /// An integer-encoded string (the value is its decimal text); its bytes are already consumed.
    Int(i64),
    /// LZF: `compressed` bytes follow, decoding to exactly `uncompressed` bytes.
    Lzf {
        /// Compressed length.
        compressed: u64,
        /// Declared uncompressed length.
        uncompressed: u64,
    },
}

impl StringHeader {
    /// The bytes that follow the header: the raw length, the compressed length, or none for an
    /// integer-encoded string (whose bytes are part of the header).
    pub fn payload_len(self) -> u64 {
        match self {
            StringHeader::Raw(len) => len,
            StringHeader::Int(_) => 0,
            StringHeader::Lzf { compressed, .. } => compressed,
        }
    }
}

/// Decodes a string header at the start of `buf`; returns it and the header size (length
/// prefix plus integer bytes or the two LZF lengths). The payload (raw or compressed bytes)
/// follows the header.
#[inline]
pub fn decode_string_header(buf: &[u8], wide: bool) -> CodecResult<(StringHeader, usize)> {
    let (len, n) = decode_length(buf, wide)?;
    match len {
        Length::Len(l) => Ok((StringHeader::Raw(l), n)),
        Length::Special(0) => {
            let [b] = array_at::<1>(buf, n, "int8 string")?;
            Ok((StringHeader::Int(i64::from(b as i8)), n + 1))
        }
        Length::Special(1) => {
            let b = array_at::<2>(buf, n, "int16 string")?;
            Ok((StringHeader::Int(i64::from(i16::from_le_bytes(b))), n + 2))
        }
        Length::Special(2) => {
            let b = array_at::<4>(buf, n, "int32 string")?;
            Ok((StringHeader::Int(i64::from(i32::from_le_bytes(b))), n + 4))
        }
        Length::Special(3) => {
            let rest = buf.get(n..).unwrap_or(&[]);
            let (c, n1) = decode_length(rest, wide).map_err(|e| e.shifted(n))?;
            let rest2 = rest.get(n1..).unwrap_or(&[]);
            let (u, n2) = decode_length(rest2, wide).map_err(|e| e.shifted(n + n1))?;
            match (c, u) {
                (Length::Len(compressed), Length::Len(uncompressed)) => Ok((
                    StringHeader::Lzf {
                        compressed,
                        uncompressed,
                    },
                    n + n1 + n2,
                )),
                _ => Err(CodecError::new(
                    n,
                    "lzf-header",
                    "LZF string lengths must be plain lengths",
                )),
            }
        }
        Length::Special(e) => Err(CodecError::new(
            0,
            "string-encoding",
            format!("unknown RDB string encoding type {e}"),
        )),
    }
}

/// Returns the integer to use when `s` may be stored integer-encoded: ≤ 11 bytes, canonical
/// decimal, within int32 (the Redis rule).
pub fn string_int_value(s: &[u8]) -> Option<i32> {
    if s.len() > 11 {
        return None;
    }
    parse_canonical_i64(s).and_then(|v| i32::try_from(v).ok())
}

/// Appends the integer-encoded form of `v` (smallest of int8/16/32).
pub fn encode_int_string(v: i32, out: &mut Vec<u8>) {
    if let Ok(b) = i8::try_from(v) {
        out.push(0xC0);
        out.push(b as u8);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(0xC1);
        out.extend_from_slice(&h.to_le_bytes());
    } else {
        out.push(0xC2);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Appends a raw (uncompressed, not integer-encoded) string.
pub fn encode_raw_string(s: &[u8], out: &mut Vec<u8>) {
    encode_length(s.len() as u64, out);
    out.extend_from_slice(s);
}

/// Appends `s` as Redis would write it: integer-encoded when canonical and in int32 range;
/// else LZF when `compressor` is given, `s` is longer than 20 bytes and compression saves at
/// least 4 bytes; else raw.
pub fn encode_string(s: &[u8], compressor: Option<&mut Compressor>, out: &mut Vec<u8>) {
    if let Some(v) = string_int_value(s) {
        encode_int_string(v, out);
        return;
    }
    if let Some(c) = compressor {
        if s.len() > 20 {
            // The header goes in front of the stream as it is written (nothing moved after).
            let framed = c.compress_framed(s, out, s.len() - 4, |clen, out| {
                out.push(0xC3);
                encode_length(clen as u64, out);
                encode_length(s.len() as u64, out);
            });
            if framed.is_some() {
                return;
            }
        }
    }
    encode_raw_string(s, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_string(s, None, &mut out);
        out
    }

    /// An LZF header's two lengths follow the file's length rules: before RDB 8 every byte
    /// `0x80..=0xBF` starts a 32-bit length (Redis 3.2's `rdbLoadLen`); from RDB 8 `0x81` is
    /// a 64-bit length and `0x82..=0xBF` are invalid.
    #[test]
    fn lzf_header_lengths_follow_the_version() {
        let lzf = |compressed, uncompressed| StringHeader::Lzf {
            compressed,
            uncompressed,
        };
        let old = [0xc3, 0x81, 0, 0, 0, 9, 0x32];
        assert_eq!(decode_string_header(&old, false).unwrap(), (lzf(9, 50), 7));
        let odd = [0xc3, 0x82, 0, 0, 0, 9, 0x32];
        assert_eq!(decode_string_header(&odd, false).unwrap(), (lzf(9, 50), 7));
        assert!(decode_string_header(&odd, true).is_err());
        let wide = [0xc3, 0x81, 0, 0, 0, 0, 0, 0, 0, 9, 0x32];
        assert_eq!(decode_string_header(&wide, true).unwrap(), (lzf(9, 50), 11));
    }

    #[test]
    fn vectors() {
        let cases: &[(&str, &[u8])] = &[
            ("", &[0x00]),
            ("a", &[0x01, 0x61]),
            ("0", &[0xc0, 0x00]),
            ("-1", &[0xc0, 0xff]),
            ("127", &[0xc0, 0x7f]),
            ("128", &[0xc1, 0x80, 0x00]),
            ("-128", &[0xc0, 0x80]),
            ("-129", &[0xc1, 0x7f, 0xff]),
            ("-127", &[0xc0, 0x81]),
            // The int16 limits, as Redis 7.0.15's DUMP of `SET k 32767` / `SET k -32768`.
            ("32767", &[0xc1, 0xff, 0x7f]),
            ("-32768", &[0xc1, 0x00, 0x80]),
            ("32768", &[0xc2, 0x00, 0x80, 0x00, 0x00]),
            ("2147483647", &[0xc2, 0xff, 0xff, 0xff, 0x7f]),
            ("-2147483648", &[0xc2, 0x00, 0x00, 0x00, 0x80]),
            ("007", &[0x03, 0x30, 0x30, 0x37]),
            ("+1", &[0x02, 0x2b, 0x31]),
            ("-0", &[0x02, 0x2d, 0x30]),
        ];
        for &(s, bytes) in cases {
            assert_eq!(enc(s.as_bytes()), bytes, "{s:?}");
            let (h, n) = decode_string_header(bytes, true).unwrap();
            match h {
                StringHeader::Int(v) => {
                    assert_eq!(v.to_string(), s);
                    assert_eq!(n, bytes.len());
                }
                StringHeader::Raw(l) => {
                    assert_eq!(l as usize, s.len());
                    assert_eq!(&bytes[n..], s.as_bytes());
                }
                StringHeader::Lzf { .. } => panic!("unexpected lzf"),
            }
        }
        assert_eq!(enc(b"2147483648")[0], 10);
        assert_eq!(enc(b"12345678901")[0], 11);
    }

    /// Redis's rule, at both edges: LZF only for strings longer than 20 bytes, and only when the
    /// stream saves at least 4 bytes (`len - 4` or shorter); otherwise the string goes raw.
    #[test]
    fn lzf_only_past_20_bytes_and_when_it_saves_4() {
        let mut c = Compressor::new();
        let encode = |s: &[u8], c: &mut Compressor| {
            let mut out = Vec::new();
            encode_string(s, Some(c), &mut out);
            out
        };
        // 20 bytes that compress to 5: raw all the same.
        let twenty = [b'a'; 20];
        let mut raw = vec![20u8];
        raw.extend_from_slice(&twenty);
        assert_eq!(encode(&twenty, &mut c), raw);
        assert_eq!(encode(&[b'a'; 21], &mut c).first(), Some(&0xC3));
        // Strings whose stream is exactly `len - 3` bytes stay raw; exactly `len - 4`, LZF.
        let (mut saved3, mut saved4) = (0, 0);
        let mut x: u32 = 12345;
        for n in 21..400usize {
            for _ in 0..40 {
                let s: Vec<u8> = (0..n)
                    .map(|i| {
                        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        // Runs of a few letters between random bytes: every saving occurs.
                        if (x >> 16).is_multiple_of(3) {
                            (x >> 24) as u8
                        } else {
                            b'a' + (i % 3) as u8
                        }
                    })
                    .collect();
                let mut stream = Vec::new();
                let Some(clen) = c.compress(&s, &mut stream, usize::MAX) else {
                    continue;
                };
                let out = encode(&s, &mut c);
                if clen == n - 3 {
                    saved3 += 1;
                    assert_ne!(out.first(), Some(&0xC3), "{n} bytes, stream {clen}");
                    assert_eq!(out.len(), n + if n < 64 { 1 } else { 2 });
                } else if clen == n - 4 {
                    saved4 += 1;
                    assert_eq!(out.first(), Some(&0xC3), "{n} bytes, stream {clen}");
                }
            }
        }
        assert!(saved3 > 0 && saved4 > 0, "{saved3} / {saved4}");
    }

    #[test]
    fn lzf_header_and_roundtrip() {
        let bytes = [
            0xc3, 0x09, 0x32, 0x01, 0x61, 0x61, 0xe0, 0x25, 0x00, 0x01, 0x61, 0x61,
        ];
        let (h, n) = decode_string_header(&bytes, true).unwrap();
        assert_eq!(
            h,
            StringHeader::Lzf {
                compressed: 9,
                uncompressed: 50
            }
        );
        assert_eq!(n, 3);
        let mut out = Vec::new();
        crate::lzf::decompress(&bytes[n..], &mut out, 50).unwrap();
        assert_eq!(out, vec![b'a'; 50]);

        let mut c = Compressor::new();
        let s = vec![b'x'; 1000];
        let mut out = Vec::new();
        encode_string(&s, Some(&mut c), &mut out);
        let (h, n) = decode_string_header(&out, true).unwrap();
        let StringHeader::Lzf {
            compressed,
            uncompressed,
        } = h
        else {
            panic!("{h:?}")
        };
        assert_eq!(uncompressed, 1000);
        assert_eq!(out.len() - n, compressed as usize);
        let mut dec = Vec::new();
        crate::lzf::decompress(&out[n..], &mut dec, 1000).unwrap();
        assert_eq!(dec, s);
        // Incompressible: stored raw.
        let mut out = Vec::new();
        let s: Vec<u8> = (0..40u8)
            .map(|i| i.wrapping_mul(97).wrapping_add(13))
            .collect();
        encode_string(&s, Some(&mut c), &mut out);
        assert_eq!(out[0], 40);
    }

    #[test]
    fn bad_encodings() {
        assert_eq!(
            decode_string_header(&[0xC4], true).unwrap_err().code,
            "string-encoding"
        );
        assert!(decode_string_header(&[0xC1, 0x00], true).is_err());
        assert!(decode_string_header(&[0xC3, 0x05], true).is_err());
    }
}
