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
        let t = format_score(v);
        out.push(t.len() as u8);
        out.extend_from_slice(t.as_bytes());
    }
}

/// Parses a score as Redis does with `strtod`: decimal or exponent form, `inf`, `-inf`,
/// `+inf`, `infinity`, `nan`. Leading/trailing spaces are not accepted.
pub fn parse_double_text(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    if s.is_empty() || s.len() > 127 {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" | "-nan" | "+nan" => return Some(f64::NAN),
        _ => {}
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
pub fn format_score(v: f64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
