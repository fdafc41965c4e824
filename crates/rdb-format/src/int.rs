//! Integer text: canonical-decimal detection (§2.2, §4.1) and allocation-free formatting.

/// Decimal text of an `i64` held inline (no allocation).
#[derive(Clone, Copy)]
pub struct IntText {
    buf: [u8; 20],
    start: u8,
}

impl IntText {
    /// Formats `v` (with the `itoa` crate: two digits per step, not one division per
    /// digit; this runs for every integer element the verifier digests or compares).
    pub fn new(v: i64) -> Self {
        let mut f = itoa::Buffer::new();
        let text = f.format(v).as_bytes();
        let mut buf = [0u8; 20];
        // At most 20 bytes (`i64::MIN`), so the start is in range.
        let start = buf.len() - text.len().min(buf.len());
        if let Some(dst) = buf.get_mut(start..) {
            dst.copy_from_slice(text.get(..dst.len()).unwrap_or(&[]));
        }
        IntText {
            buf,
            start: start as u8,
        }
    }

    /// The text.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(usize::from(self.start)..).unwrap_or(&[])
    }
}

impl std::fmt::Debug for IntText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// Parses `s` as a canonical decimal int64: optional `-`, then `0` or `[1-9][0-9]*`, no `-0`,
/// at most 20 bytes, in range. Returns `None` for anything else (`"007"`, `"+1"`, `"-0"`, `" 1"`).
pub fn parse_canonical_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] => return if neg { None } else { Some(0) },
        [b'0', ..] => return None,
        _ => {}
    }
    if digits.len() <= 18 {
        // Up to 18 digits cannot overflow (10^18 - 1 < 2^63): no checked arithmetic. The writer
        // asks this of every collection element (integer encodings), most of them short.
        let mut v: u64 = 0;
        for &c in digits {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            v = v * 10 + u64::from(d);
        }
        let v = v as i64;
        return Some(if neg { -v } else { v });
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = i64::from(c - b'0');
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical() {
        for s in [
            "0",
            "1",
            "-1",
            "127",
            "9223372036854775807",
            "-9223372036854775808",
        ] {
            assert_eq!(
                parse_canonical_i64(s.as_bytes()).map(|v| v.to_string()),
                Some(s.to_string())
            );
        }
        for s in [
            "",
            "-",
            "-0",
            "007",
            "+1",
            " 1",
            "1 ",
            "9223372036854775808",
            "1a",
            "00",
        ] {
            assert_eq!(parse_canonical_i64(s.as_bytes()), None, "{s:?}");
        }
    }

    /// The reference: `str::parse` plus the canonical-form rule (`v.to_string()` gives `s` back).
    fn reference(s: &[u8]) -> Option<i64> {
        let v: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
        (v.to_string().as_bytes() == s).then_some(v)
    }

    #[test]
    fn digit_count_boundaries_of_the_unchecked_path() {
        for s in [
            "999999999999999999",
            "-999999999999999999",
            "1000000000000000000",
            "-1000000000000000000",
            "099999999999999999",
            "99999999999999999a",
            "-9223372036854775809",
            "92233720368547758070",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "9999999999999999999",
            "-9999999999999999999",
            "18446744073709551615",
            "18446744073709551616",
            "10000000000000000000",
            "1844674407370955161a",
        ] {
            assert_eq!(
                parse_canonical_i64(s.as_bytes()),
                reference(s.as_bytes()),
                "{s:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_std_parse(v in proptest::prelude::any::<i64>(), cut in 0usize..21, junk in 0u8..=255) {
            let text = v.to_string().into_bytes();
            proptest::prop_assert_eq!(parse_canonical_i64(&text), Some(v));
            let mut bent = text.clone();
            let at = cut.min(bent.len() - 1);
            bent[at] = junk;
            proptest::prop_assert_eq!(parse_canonical_i64(&bent), reference(&bent));
            proptest::prop_assert_eq!(parse_canonical_i64(&text[..at]), reference(&text[..at]));
        }
    }

    /// Every text of up to three bytes over digits, signs, the bytes next to the digits
    /// and bytes whose high nibble is 3 or whose value is a digit plus 0x80.
    #[test]
    fn short_texts_agree_with_the_reference() {
        let alphabet: Vec<u8> = (b'0'..=b'9')
            .chain([
                b'-', b'+', b'/', b':', b' ', 0, b';', b'?', 0xB0, 0xB9, 0x20, 0x3F, 0xFF,
            ])
            .collect();
        let mut texts: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..3 {
            let longer: Vec<Vec<u8>> = texts
                .iter()
                .filter(|t| t.len() == texts.last().map_or(0, Vec::len))
                .flat_map(|t| {
                    alphabet.iter().map(move |&c| {
                        let mut u = t.clone();
                        u.push(c);
                        u
                    })
                })
                .collect();
            texts.extend(longer);
        }
        assert_eq!(texts.len(), 1 + 23 + 23 * 23 + 23 * 23 * 23);
        for t in &texts {
            assert_eq!(parse_canonical_i64(t), reference(t), "{t:?}");
        }
    }

    /// Every length 1..=21, each digit position replaced by each other byte (the chunk
    /// boundaries at 8 and 16 digits included), plus the range ends.
    #[test]
    fn every_length_and_position_agrees_with_the_reference() {
        let mut checked = 0;
        for neg in [false, true] {
            for n in 1..=21usize {
                let mut text: Vec<u8> = if neg { vec![b'-'] } else { Vec::new() };
                text.extend((0..n).map(|i| b"9182736450"[i % 10]));
                assert_eq!(parse_canonical_i64(&text), reference(&text), "{text:?}");
                for at in 0..text.len() {
                    for c in 0..=255u8 {
                        let mut bent = text.clone();
                        bent[at] = c;
                        assert_eq!(parse_canonical_i64(&bent), reference(&bent), "{bent:?}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 100_000);
        for v in [
            i64::MAX,
            i64::MIN,
            i64::MAX - 1,
            i64::MIN + 1,
            99_999_999,
            100_000_000,
            -99_999_999,
            -100_000_000,
            9_999_999_999_999_999,
            10_000_000_000_000_000,
        ] {
            let text = v.to_string();
            assert_eq!(parse_canonical_i64(text.as_bytes()), Some(v), "{text}");
        }
        for text in [
            "9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "9999999999999999999",
            "-9999999999999999999",
        ] {
            assert_eq!(parse_canonical_i64(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn text() {
        for v in [0i64, 1, -1, 42, i64::MIN, i64::MAX, -4096] {
            assert_eq!(IntText::new(v).as_bytes(), v.to_string().as_bytes());
        }
    }
}
