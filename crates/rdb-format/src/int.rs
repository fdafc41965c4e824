//! Integer text: canonical-decimal detection (§2.2, §4.1) and allocation-free formatting.

/// Decimal text of an `i64` held inline (no allocation).
#[derive(Clone, Copy)]
pub struct IntText {
    buf: [u8; 20],
    start: u8,
}

impl IntText {
    /// Formats `v`.
    pub fn new(v: i64) -> Self {
        let mut buf = [0u8; 20];
        let mut pos = buf.len();
        let neg = v < 0;
        let mut u = v.unsigned_abs();
        loop {
            pos -= 1;
            if let Some(b) = buf.get_mut(pos) {
                *b = b'0' + (u % 10) as u8;
            }
            u /= 10;
            if u == 0 {
                break;
            }
        }
        if neg {
            pos -= 1;
            if let Some(b) = buf.get_mut(pos) {
                *b = b'-';
            }
        }
        IntText {
            buf,
            start: pos as u8,
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

    #[test]
    fn text() {
        for v in [0i64, 1, -1, 42, i64::MIN, i64::MAX, -4096] {
            assert_eq!(IntText::new(v).as_bytes(), v.to_string().as_bytes());
        }
    }
}
