//! Doubles (§2.3): binary `f64le` and the old length-prefixed text form.

use crate::error::{byte_at, slice_at, CodecError, CodecResult};

/// Decodes an old-form (ZSET v1) double at the start of `buf`; returns it and its size.
/// `253` = NaN, `254` = +inf, `255` = −inf; otherwise `n` ASCII bytes parsed like `strtod`.
pub fn decode_old_double(buf: &[u8]) -> CodecResult<(f64, usize)> {
    let n = byte_at(buf, 0, "double length")?;
    match n {
        253 => Ok((f64::NAN, 1)),
        254 => Ok((f64::INFINITY, 1)),
        255 => Ok((f64::NEG_INFINITY, 1)),
        _ => {
            let text = slice_at(buf, 1, usize::from(n), "double text")?;
            let v = parse_double_text(text).ok_or_else(|| {
                CodecError::new(
                    1,
                    "double-text",
                    format!(
                        "double text {:?} does not parse",
                        String::from_utf8_lossy(text)
                    ),
                )
            })?;
            Ok((v, 1 + usize::from(n)))
        }
    }
}

/// Appends the old text form of `v` (shortest round-trip text).
pub fn encode_old_double(v: f64, out: &mut Vec<u8>) {
    if v.is_nan() {
        out.push(253);
    } else if v == f64::INFINITY {
        out.push(254);
    } else if v == f64::NEG_INFINITY {
        out.push(255);
    } else {
        let t = ScoreText::new(v);
        out.push(t.as_bytes().len() as u8);
        out.extend_from_slice(t.as_bytes());
    }
}

/// Parses a score as Redis does with `strtod`: decimal or exponent form, `inf`, `-inf`,
/// `+inf`, `infinity`, `nan`. Leading/trailing spaces are not accepted.
pub fn parse_double_text(text: &[u8]) -> Option<f64> {
    /// The non-numeric texts accepted, in any letter case.
    const SPECIALS: [(&str, f64); 9] = [
        ("inf", f64::INFINITY),
        ("+inf", f64::INFINITY),
        ("infinity", f64::INFINITY),
        ("+infinity", f64::INFINITY),
        ("-inf", f64::NEG_INFINITY),
        ("-infinity", f64::NEG_INFINITY),
        ("nan", f64::NAN),
        ("-nan", f64::NAN),
        ("+nan", f64::NAN),
    ];
    let s = std::str::from_utf8(text).ok()?;
    if s.is_empty() || s.len() > 127 {
        return None;
    }
    // (No lower-cased copy: this runs for every text score the reader meets.)
    if let Some((_, v)) = SPECIALS
        .iter()
        .find(|(name, _)| s.eq_ignore_ascii_case(name))
    {
        return Some(*v);
    }
    // One optional sign only: "+-5" is not a number.
    let t = match s.strip_prefix('+') {
        Some(rest) if rest.starts_with(['-', '+']) => return None,
        Some(rest) => rest,
        None => s,
    };
    t.parse::<f64>().ok()
}

/// The shortest text that parses back to exactly `v` (`"inf"`, `"-inf"`, `"3"`, `"2.5"`, `"1e+100"`).
///
/// Integral values print without a fraction; large and small magnitudes use the exponent
/// form like C's `%.17g` family (`1e+100`, `5e-324`), so the text is also what Redis prints.
/// Allocation-free callers use [`ScoreText`], which produces the same text.
pub fn format_score(v: f64) -> String {
    ScoreText::new(v).as_str().to_owned()
}

/// The score as a listpack integer element, as the server stores it (`double2ll`): integral
/// and within ±(2^63 − 1)/2 (so `-0.0` is the integer 0); `None` when it is stored as text.
pub fn score_as_int(d: f64) -> Option<i64> {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if !(-LIMIT..=LIMIT).contains(&d) {
        return None;
    }
    let v = d as i64;
    (v as f64 == d).then_some(v)
}

/// Capacity of [`ScoreText`]: the longest text is 24 bytes (`-1.2345678901234567e-308`).
const SCORE_TEXT_CAP: usize = 32;

/// The text of [`format_score`] in a fixed stack buffer (no heap allocation).
#[derive(Clone, Copy)]
pub struct ScoreText {
    /// The text, ASCII, in `buf[..len]`.
    buf: [u8; SCORE_TEXT_CAP],
    /// Length of the text.
    len: usize,
}

impl std::fmt::Debug for ScoreText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ScoreText").field(&self.as_str()).finish()
    }
}

impl ScoreText {
    /// Formats `v` (see [`format_score`]).
    #[must_use]
    pub fn new(v: f64) -> Self {
        let mut t = ScoreText {
            buf: [0; SCORE_TEXT_CAP],
            len: 0,
        };
        if v.is_nan() {
            t.push_all(b"nan");
        } else if v.is_infinite() {
            t.push_all(if v > 0.0 { b"inf" } else { b"-inf" });
        } else if v == 0.0 {
            t.push_all(if v.is_sign_negative() { b"-0" } else { b"0" });
        } else {
            t.finite(v);
        }
        t
    }

    /// The text as bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// Appends one byte (silently dropped past the capacity, which no text reaches).
    #[inline]
    fn push(&mut self, b: u8) {
        if let Some(d) = self.buf.get_mut(self.len) {
            *d = b;
            self.len += 1;
        }
    }

    /// Appends bytes (all or, past the capacity, none).
    #[inline]
    fn push_all(&mut self, bytes: &[u8]) {
        if let Some(dst) = self.buf.get_mut(self.len..self.len + bytes.len()) {
            dst.copy_from_slice(bytes);
            self.len += bytes.len();
        }
    }

    /// Formats a finite non-zero `v`.
    fn finite(&mut self, v: f64) {
        // `ryu` gives the shortest round-trip digits (the same digits as Rust's `{:e}`, about
        // 3x faster: score text was ≈ 8 % of the mixed dataset's write profile) in one of
        // the layouts `123.45`, `0.00012`, `1230000.0`, `1.5e-7`, `1e30`.
        let mut buf = ryu::Buffer::new();
        let text = buf.format_finite(v).as_bytes();
        // Fast path, the usual score: ryu's plain layout is already the %g one when the
        // decimal exponent is -4..=15 (ryu writes `0.00001` plain and 1e16 and up with an
        // exponent) and the value has a fraction (ryu writes integral values as `12.0`).
        if v.abs() >= 1e-4 && !text.contains(&b'e') && !text.ends_with(b".0") {
            self.push_all(text);
            return;
        }
        let (digits, exp) = shortest_digits(text.strip_prefix(b"-").unwrap_or(text));
        let digits = digits.as_slice();
        let ndig = digits.len() as i32;
        if v.is_sign_negative() {
            self.push(b'-');
        }
        // %.17g style: use plain notation when -4 <= exp < 17 (precision 17), else exponent.
        if (-4..17).contains(&exp) {
            if exp >= ndig - 1 {
                self.push_all(digits);
                for _ in 0..(exp - (ndig - 1)) {
                    self.push(b'0');
                }
            } else if exp >= 0 {
                let split = (exp + 1) as usize;
                self.push_all(digits.get(..split).unwrap_or(&[]));
                self.push(b'.');
                self.push_all(digits.get(split..).unwrap_or(&[]));
            } else {
                self.push_all(b"0.");
                for _ in 0..(-exp - 1) {
                    self.push(b'0');
                }
                self.push_all(digits);
            }
        } else {
            self.push_all(digits.get(..1).unwrap_or(&[]));
            if ndig > 1 {
                self.push(b'.');
                self.push_all(digits.get(1..).unwrap_or(&[]));
            }
            self.push(b'e');
            self.push(if exp < 0 { b'-' } else { b'+' });
            let a = exp.unsigned_abs();
            if a >= 100 {
                self.push(b'0' + (a / 100) as u8);
            }
            self.push(b'0' + (a / 10 % 10) as u8);
            self.push(b'0' + (a % 10) as u8);
        }
    }
}

/// Significant digits (at most 17, no leading or trailing zeros) of a positive decimal text.
#[derive(Default)]
struct Digits {
    buf: [u8; 20],
    len: usize,
}

impl Digits {
    fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

/// Splits a positive decimal text (`ddd.ddd`, optionally followed by `e[-]x`) into its
/// significant digits and the decimal exponent of the first one (`d.ddd × 10^exp`).
fn shortest_digits(text: &[u8]) -> (Digits, i32) {
    let (mant, exp_text) = match text.iter().position(|&c| c == b'e' || c == b'E') {
        Some(at) => (
            text.get(..at).unwrap_or(&[]),
            text.get(at + 1..).unwrap_or(&[]),
        ),
        None => (text, &b""[..]),
    };
    let mut d = Digits::default();
    // Digits before the decimal point (all of them when there is none).
    let int_len = mant.iter().position(|&c| c == b'.').unwrap_or(mant.len()) as i32;
    // Position (in digits, counting from the first) of the first non-zero digit.
    let mut lead: Option<i32> = None;
    let mut pos = 0i32;
    for &c in mant.iter().filter(|c| c.is_ascii_digit()) {
        if lead.is_none() && c == b'0' {
            pos += 1;
            continue;
        }
        lead.get_or_insert(pos);
        if let Some(slot) = d.buf.get_mut(d.len) {
            *slot = c;
            d.len += 1;
        }
        pos += 1;
    }
    while d.len > 1 && d.buf.get(d.len - 1) == Some(&b'0') {
        d.len -= 1;
    }
    let exp = parse_exp(exp_text) + int_len - 1 - lead.unwrap_or(0);
    (d, exp)
}

/// Parses the (possibly negative) decimal exponent after the `e` of a decimal text (as `ryu`
/// writes it); 0 if malformed.
fn parse_exp(text: &[u8]) -> i32 {
    let (neg, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let mut e: i32 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return 0;
        }
        e = e.saturating_mul(10).saturating_add(i32::from(c - b'0'));
    }
    if neg {
        -e
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_scores() {
        assert_eq!(score_as_int(3.0), Some(3));
        assert_eq!(score_as_int(-0.0), Some(0));
        assert_eq!(score_as_int(2.5), None);
        assert_eq!(score_as_int(f64::INFINITY), None);
        assert_eq!(
            score_as_int(4611686018427387904.0),
            Some(4611686018427387904)
        );
        assert_eq!(score_as_int(9.3e18), None);
        assert_eq!(
            score_as_int(-4611686018427387904.0),
            Some(-4611686018427387904)
        );
        assert_eq!(score_as_int(-9.3e18), None);
    }

    #[test]
    fn special_texts_in_any_case() {
        for t in ["inf", "INF", "+Inf", "Infinity", "+INFINITY"] {
            assert_eq!(parse_double_text(t.as_bytes()), Some(f64::INFINITY), "{t}");
        }
        for t in ["-inf", "-Inf", "-INFINITY"] {
            assert_eq!(
                parse_double_text(t.as_bytes()),
                Some(f64::NEG_INFINITY),
                "{t}"
            );
        }
        for t in ["nan", "NaN", "-NAN", "+nan"] {
            assert!(
                parse_double_text(t.as_bytes()).is_some_and(f64::is_nan),
                "{t}"
            );
        }
        for t in ["++inf", "in f", "infinit", "-+nan", "", " 1", "1 "] {
            assert_eq!(parse_double_text(t.as_bytes()), None, "{t}");
        }
        assert_eq!(parse_double_text(b"-1.5e3"), Some(-1500.0));
    }

    #[test]
    fn old_form_vectors() {
        let mut out = Vec::new();
        encode_old_double(1.5, &mut out);
        assert_eq!(out, [0x03, 0x31, 0x2e, 0x35]);
        out.clear();
        encode_old_double(3.0, &mut out);
        assert_eq!(out, [0x01, 0x33]);
        for (v, b) in [(f64::INFINITY, 0xfe), (f64::NEG_INFINITY, 0xff)] {
            out.clear();
            encode_old_double(v, &mut out);
            assert_eq!(out, [b]);
            assert_eq!(decode_old_double(&out).unwrap(), (v, 1));
        }
        assert!(decode_old_double(&[0xfd]).unwrap().0.is_nan());
        assert_eq!(
            decode_old_double(&[0x03, b'1', b'.', b'5']).unwrap(),
            (1.5, 4)
        );
        assert!(decode_old_double(&[0x03, b'x', b'.', b'5']).is_err());
        assert!(parse_double_text(b"+-5").is_none());
        assert_eq!(parse_double_text(b"+5"), Some(5.0));
        assert!(decode_old_double(&[0x05, b'1']).is_err());
    }

    #[test]
    fn format_matches_redis_text() {
        let cases = [
            (1.0, "1"),
            (2.5, "2.5"),
            (0.1, "0.1"),
            (1e300, "1e+300"),
            (5e-324, "5e-324"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (-3.25, "-3.25"),
            (1e16, "10000000000000000"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
        ];
        for (v, t) in cases {
            assert_eq!(format_score(v), t, "{v}");
            assert_eq!(parse_double_text(t.as_bytes()), Some(v));
        }
    }

    /// The previous `format!`-based implementation, kept as an oracle for [`ScoreText`].
    fn reference_format(v: f64) -> String {
        if v.is_nan() {
            return "nan".into();
        }
        if v.is_infinite() {
            return if v > 0.0 { "inf".into() } else { "-inf".into() };
        }
        if v == 0.0 {
            return if v.is_sign_negative() {
                "-0".into()
            } else {
                "0".into()
            };
        }
        // Rust's `{:e}` gives the shortest round-trip digits in exponent form: d.ddddde[-]x.
        let e = format!("{v:e}");
        let (mant, exp) = match e.split_once('e') {
            Some((m, x)) => (m.to_string(), x.parse::<i32>().unwrap_or(0)),
            None => return format!("{v}"),
        };
        let neg = mant.starts_with('-');
        let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
        let ndig = digits.len() as i32;
        // %.17g style: use plain notation when -4 <= exp < 17 (precision 17), else exponent.
        let body = if (-4..17).contains(&exp) {
            if exp >= ndig - 1 {
                let mut s = digits.clone();
                for _ in 0..(exp - (ndig - 1)) {
                    s.push('0');
                }
                s
            } else if exp >= 0 {
                let split = (exp + 1) as usize;
                format!(
                    "{}.{}",
                    digits.get(..split).unwrap_or(""),
                    digits.get(split..).unwrap_or("")
                )
            } else {
                let mut s = String::from("0.");
                for _ in 0..(-exp - 1) {
                    s.push('0');
                }
                s.push_str(&digits);
                s
            }
        } else {
            let m = if ndig > 1 {
                format!(
                    "{}.{}",
                    digits.get(..1).unwrap_or(""),
                    digits.get(1..).unwrap_or("")
                )
            } else {
                digits.clone()
            };
            format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
        };
        if neg {
            format!("-{body}")
        } else {
            body
        }
    }
    #[test]
    fn stack_text_matches_reference_format() {
        let mut specials = vec![
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            5e-324,
            -5e-324,
            1e16,
            1e17,
            9.999999999999999e16,
            1e-4,
            9.9999e-5,
            1e-5,
            0.1 + 0.2,
            -1234.5678,
            1e100,
            1e-100,
            123456789012345680.0,
        ];
        for e in -330..=310 {
            specials.push(10f64.powi(e));
            specials.push(-1.5 * 10f64.powi(e));
            specials.push(std::f64::consts::PI * 10f64.powi(e));
        }
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for i in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            specials.push(f64::from_bits(x));
            // Short decimals (typical scores) and integers.
            specials.push((x % 1_000_000) as f64 / 100.0);
            specials.push(i as f64 * 0.25 - 1000.0);
        }
        let mut ties = 0;
        for v in specials {
            let want = reference_format(v);
            let got = ScoreText::new(v);
            assert_eq!(format_score(v), got.as_str(), "{v:e}");
            if got.as_str() == want {
                continue;
            }
            // Where two shortest texts are equally close to `v` (e.g. 1149636667324797.25
            // as ...797.2 or ...797.3), `ryu` rounds the last digit to even and `{:e}` up:
            // same length, last digit one apart, both exact.
            ties += 1;
            let (g, w) = (got.as_bytes(), want.as_bytes());
            assert_eq!(g.len(), w.len(), "{v:e}: {} vs {want}", got.as_str());
            let differ: Vec<usize> = (0..g.len()).filter(|&i| g[i] != w[i]).collect();
            assert_eq!(differ.len(), 1, "{v:e}: {} vs {want}", got.as_str());
            let at = differ[0];
            // The last significant digit: the text's end or just before the exponent.
            assert!(matches!(g.get(at + 1), None | Some(b'e')), "{v:e}");
            assert_eq!(g[at].abs_diff(w[at]), 1, "{v:e}");
            assert_eq!(parse_double_text(g).map(f64::to_bits), Some(v.to_bits()));
            assert_eq!(parse_double_text(w).map(f64::to_bits), Some(v.to_bits()));
        }
        // Ties are rare (exact halves at the last shortest digit).
        assert!(ties < 2_000, "{ties} ties");
    }

    #[test]
    fn shortest_roundtrip_random() {
        let mut x: u64 = 0x9E3779B97F4A7C15;
        for _ in 0..20000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x);
            if v.is_nan() {
                continue;
            }
            let t = format_score(v);
            let back = parse_double_text(t.as_bytes()).unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{v:e} -> {t}");
        }
    }
}
