//! Doubles (§2.3): binary `f64le`, the old length-prefixed text form, and the sorted-set score
//! text each engine line stores in listpacks / ziplists ([`ScoreStyle`]).

use crate::error::{byte_at, slice_at, CodecError, CodecResult};
use std::io::Write as _;

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
///
/// The numeric forms are those of Rust's `f64::from_str` (one optional sign, digits with an
/// optional point, an optional exponent), parsed from the bytes by the `fast-float2` crate
/// (the same correctly rounded value; no UTF-8 check of each score first). A test compares the
/// two on generated texts.
pub fn parse_double_text(text: &[u8]) -> Option<f64> {
    /// The non-numeric texts accepted, in any letter case.
    const SPECIALS: [(&[u8], f64); 9] = [
        (b"inf", f64::INFINITY),
        (b"+inf", f64::INFINITY),
        (b"infinity", f64::INFINITY),
        (b"+infinity", f64::INFINITY),
        (b"-inf", f64::NEG_INFINITY),
        (b"-infinity", f64::NEG_INFINITY),
        (b"nan", f64::NAN),
        (b"-nan", f64::NAN),
        (b"+nan", f64::NAN),
    ];
    let (&first, rest) = text.split_first()?;
    if text.len() > 127 {
        return None;
    }
    // The number proper: one optional sign, then a digit or the point ("+-5" is not a number).
    let digits = if matches!(first, b'+' | b'-') {
        rest
    } else {
        text
    };
    match digits.first() {
        Some(b'0'..=b'9' | b'.') => {}
        // Letters: only the special texts (no lower-cased copy: this runs for every score).
        _ => {
            return SPECIALS
                .iter()
                .find(|(name, _)| text.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        }
    }
    let number = if first == b'+' { rest } else { text };
    fast_float2::parse::<f64, _>(number).ok()
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
        let mut t = ScoreText::empty();
        if !t.special(v) {
            t.finite(v);
        }
        t
    }

    /// An empty text.
    fn empty() -> Self {
        ScoreText {
            buf: [0; SCORE_TEXT_CAP],
            len: 0,
        }
    }

    /// Writes the text of a NaN, an infinity or a zero (`nan`, `inf`, `-inf`, `0`, `-0`, as
    /// every line prints them) and returns `true`; `false` (nothing written) for other values.
    fn special(&mut self, v: f64) -> bool {
        if v.is_nan() {
            self.push_all(b"nan");
        } else if v.is_infinite() {
            self.push_all(if v > 0.0 { b"inf" } else { b"-inf" });
        } else if v == 0.0 {
            self.push_all(if v.is_sign_negative() { b"-0" } else { b"0" });
        } else {
            return false;
        }
        true
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

    /// C's `%.17g` of `v` (`"0.10000000000000001"`, `"1e+17"`, `"-0"`, `"inf"`): the text
    /// Redis up to 7.0 stores for a non-integral sorted-set score (`d2string`).
    #[must_use]
    pub fn printf17(v: f64) -> Self {
        let mut t = ScoreText::empty();
        let negative = v.is_sign_negative();
        match round17(v.abs()) {
            Some((q, exp)) => {
                if !t.plain17(negative, q, exp) {
                    t.layout(negative, digits17(q).as_slice(), exp);
                }
            }
            None => {
                if !t.special(v) {
                    let (digits, exp) = digits17_slow(v.abs());
                    t.layout(negative, digits.as_slice(), exp);
                }
            }
        }
        t
    }

    /// `%.17g`'s text of `±q · 10^(exp−16)` (`q` of 17 digits) when it has a fraction and no
    /// exponent (`exp` in -4..17, and more than `exp + 1` significant digits once the trailing
    /// zeros are dropped), the usual score: the integer part, the point and the fraction written in
    /// place, two digits at a time, into the empty text. Returns `false` (nothing written)
    /// for other forms.
    #[inline]
    fn plain17(&mut self, negative: bool, q: u64, exp: i32) -> bool {
        let ndig = 17 - trailing_zero_digits(q);
        let Some(int_digits) = usize::try_from(exp).ok().map(|e| e + 1) else {
            // 0.000ddd: "0." then -exp-1 zeros, then the digits.
            if exp < -4 {
                return false;
            }
            let lead = usize::from(negative);
            let zeros = (-exp - 1) as usize;
            let start = lead + 2 + zeros;
            self.buf.fill(b'0');
            if let Some(b) = self.buf.get_mut(lead + 1) {
                *b = b'.';
            }
            self.sign(negative);
            put_digits(&mut self.buf, start + ndig, q / pow10(17 - ndig), ndig);
            self.len = start + ndig;
            return true;
        };
        if int_digits >= ndig || int_digits > 17 {
            return false;
        }
        let lead = usize::from(negative);
        let frac_digits = ndig - int_digits;
        let frac_scale = pow10(17 - int_digits);
        self.sign(negative);
        put_digits(&mut self.buf, lead + int_digits, q / frac_scale, int_digits);
        if let Some(b) = self.buf.get_mut(lead + int_digits) {
            *b = b'.';
        }
        let end = lead + int_digits + 1 + frac_digits;
        put_digits(
            &mut self.buf,
            end,
            (q % frac_scale) / pow10(17 - ndig),
            frac_digits,
        );
        self.len = end;
        true
    }

    /// Puts a minus sign at the start of the text when `negative` (for [`ScoreText::plain17`],
    /// which sets the length itself).
    #[inline]
    fn sign(&mut self, negative: bool) {
        if let (true, Some(b)) = (negative, self.buf.first_mut()) {
            *b = b'-';
        }
    }

    /// The text Redis 7.2+ and Valkey store for a non-integral sorted-set score
    /// (`fpconv_dtoa`): Grisu2's digits as `fpconv` computes them (round-trip, usually but not
    /// always the shortest: `279359099187066.13`), plain when the value is an integer with
    /// fewer than 7 more zeros than digits or has a fraction and `K > -7` or an exponent below
    /// 4 (`0.000025`, `123.456`), else `d.ddde±x` with no zero padding of the exponent
    /// (`1.5e-7`, `1.2345678901234567e+4`, `1e+300`).
    #[must_use]
    pub fn fpconv(v: f64) -> Self {
        let mut t = ScoreText::empty();
        if !t.special(v) {
            let neg = v.is_sign_negative();
            if neg {
                t.push(b'-');
            }
            let g = crate::grisu2::digits(v.abs());
            t.emit_digits(g.digits(), g.k, neg);
        }
        t
    }

    /// `fpconv`'s `emit_digits`: `digits × 10^k` in its layout.
    fn emit_digits(&mut self, digits: &[u8], k: i32, neg: bool) {
        let ndigits = digits.len() as i32;
        let exp = (k + ndigits - 1).abs();
        if k >= 0 && exp < ndigits + 7 {
            self.push_all(digits);
            for _ in 0..k {
                self.push(b'0');
            }
        } else if k < 0 && (k > -7 || exp < 4) {
            let offset = ndigits + k;
            if offset <= 0 {
                self.push_all(b"0.");
                for _ in 0..-offset {
                    self.push(b'0');
                }
                self.push_all(digits);
            } else {
                let split = offset as usize;
                self.push_all(digits.get(..split).unwrap_or(&[]));
                self.push(b'.');
                self.push_all(digits.get(split..).unwrap_or(&[]));
            }
        } else {
            // At most 18 digits (17 after a minus sign) in this form.
            let ndigits = ndigits.min(18 - i32::from(neg));
            let shown = digits.get(..ndigits as usize).unwrap_or(digits);
            self.push_all(shown.get(..1).unwrap_or(&[]));
            if ndigits > 1 {
                self.push(b'.');
                self.push_all(shown.get(1..).unwrap_or(&[]));
            }
            self.push(b'e');
            self.push(if k + ndigits - 1 < 0 { b'-' } else { b'+' });
            let a = exp.unsigned_abs();
            if a > 99 {
                self.push(b'0' + (a / 100) as u8);
                self.push(b'0' + (a / 10 % 10) as u8);
            } else if a > 9 {
                self.push(b'0' + (a / 10) as u8);
            }
            self.push(b'0' + (a % 10) as u8);
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
        self.layout(v.is_sign_negative(), digits.as_slice(), exp);
    }

    /// Writes `±d.ddd × 10^exp` (`digits` significant, no trailing zeros) in C's `%g` layout
    /// with precision 17: plain when `-4 <= exp < 17`, else `d.ddde±xx`.
    fn layout(&mut self, negative: bool, digits: &[u8], exp: i32) {
        let ndig = digits.len() as i32;
        if negative {
            self.push(b'-');
        }
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

/// How a server line stores a sorted-set score as a listpack / ziplist element: as an integer
/// element or as text, and which text. The loaded value is the same double whatever the form;
/// writing the form the target line itself writes makes a file's blobs byte-identical to the
/// server's own (checked against Redis 7.0, Redis 6.2 and Valkey 8.1, and against every
/// real-server file in `testdata/servers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreStyle {
    /// Redis up to 6.2 (ziplists): `d2string` gives `0`, the text `-0` for −0, integer text
    /// below 2^52, else `%.17g`; the ziplist then stores integer-looking text as an integer.
    /// So: integral values below 10^17 (but −0) are integers, the rest `%.17g` text.
    Ziplist17g,
    /// Redis 7.0: integral values within ±(2^63 − 1)/2 (−0 included, as 0) are integers
    /// (`double2ll`), the rest `%.17g` text.
    Listpack17g,
    /// Redis 7.2 and later, Valkey: integers as 7.0, text as `fpconv_dtoa` writes it
    /// ([`ScoreText::fpconv`]: Grisu2's digits, checked against Valkey 8.1's own files).
    Fpconv,
}

/// A sorted-set score as a listpack / ziplist element (see [`ScoreStyle`]).
#[derive(Debug, Clone, Copy)]
pub enum ScoreElement {
    /// An integer element.
    Int(i64),
    /// A string element.
    Text(ScoreText),
}

impl ScoreStyle {
    /// The element a server of this style stores for `score`.
    #[must_use]
    pub fn element(self, score: f64) -> ScoreElement {
        let text = match self {
            ScoreStyle::Ziplist17g => {
                // Every double of magnitude ≥ 2^52 is integral; %.17g prints those below
                // 10^17 as plain digits, which the ziplist turns into an integer.
                let negative_zero = score == 0.0 && score.is_sign_negative();
                if score.fract() == 0.0 && score.abs() < 1e17 && !negative_zero {
                    return ScoreElement::Int(score as i64);
                }
                ScoreText::printf17(score)
            }
            ScoreStyle::Listpack17g => match score_as_int(score) {
                Some(v) => return ScoreElement::Int(v),
                None => ScoreText::printf17(score),
            },
            ScoreStyle::Fpconv => match score_as_int(score) {
                Some(v) => return ScoreElement::Int(v),
                None => {
                    let text = ScoreText::fpconv(score);
                    // The container stores integer-like text as an integer: `fpconv` prints
                    // some integral scores above 2^62 in full (`6917529027641082000`). The
                    // `%.17g` texts above are never integer-like (exponent form from 10^17).
                    if score.abs() >= 1e18 {
                        if let Some(v) = crate::int::parse_canonical_i64(text.as_bytes()) {
                            return ScoreElement::Int(v);
                        }
                    }
                    text
                }
            },
        };
        ScoreElement::Text(text)
    }
}

/// The 17 significant digits of C's `%.17g` of a positive finite `v` (trailing zeros
/// dropped) and the decimal exponent of the first, through Rust's exact formatting
/// (`{:.16e}`: correctly rounded, ties to even, as glibc's `printf`).
fn digits17_slow(v: f64) -> (Digits, i32) {
    let mut buf = [0u8; SCORE_TEXT_CAP];
    let mut rest = buf.as_mut_slice();
    let written = match write!(rest, "{:.16e}", v) {
        Ok(()) => SCORE_TEXT_CAP - rest.len(),
        Err(_) => 0,
    };
    shortest_digits(buf.get(..written).unwrap_or(&[]))
}

/// `10^k` for `k = -5..=17` as doubles, at index `k + 5`. The five negative powers are not
/// exact: each is the nearest double, which lies above the true power (10^-6's lies below:
/// hence the range), and no double lies between the two, so `v >= POW10_F64[k + 5]` decides
/// `v >= 10^k` exactly for every double `v`.
const POW10_F64: [f64; 23] = [
    1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
];

/// 10^16, the smallest 17-digit value of [`round17`].
const TEN16: u64 = 10_000_000_000_000_000;
/// 10^17: a value that rounds to it is `TEN16` with the next exponent.
const TEN17: u64 = 100_000_000_000_000_000;

/// `v` rounded to 17 significant digits in integer arithmetic, for the usual scores (normal,
/// 10^-5 ≤ v < 10^38): `(q, x)` with `10^16 ≤ q < 10^17` and
/// `v ≈ q · 10^(x−16)`. `v = m / 2^s` exactly, so with the decimal exponent `x` of `v`
/// (`10^x ≤ v < 10^(x+1)`, decided by one comparison with [`POW10_F64`]) the digits are
/// `m · 10^(16−x) / 2^s` rounded half to even (as glibc's `printf`), with
/// `m · 10^(16−x) < 2^53 · 10^21 < 2^128`; integral values go to [`round17_integral`].
/// `None` outside that range.
#[inline]
fn round17(v: f64) -> Option<(u64, i32)> {
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7FF) as i32;
    if biased == 0 || !(1e-5..1e38).contains(&v) {
        return None;
    }
    let m = (bits & ((1 << 52) - 1)) | (1 << 52);
    if biased >= 1075 {
        // v = m · 2^k, an integer below 10^38 < 2^127.
        return round17_integral(u128::from(m) << (biased - 1075));
    }
    // v = m · 2^-s with 1 ≤ s ≤ 69 here (v ≥ 10^-5 > 2^-17).
    let s = u32::try_from(1075 - biased)
        .ok()
        .filter(|s| (1..=69).contains(s))?;
    // floor((biased − 1023) · log10 2) by multiply and shift (78913 / 2^18 ≈ log10 2; exact
    // over this range), which is the decimal exponent of `v` or one below it.
    let mut x = ((biased - 1023) * 78913) >> 18;
    let next = POW10_F64.get(usize::try_from(x + 6).ok()?)?;
    if v >= *next {
        x += 1;
    }
    // 10^x ≤ v < 10^(x+1), x in -5..=16: m · 10^(16−x) < 2^53 · 10^21 < 2^124.
    let scale = POW10_U128.get(usize::try_from(16 - x).ok()?)?;
    let num = u128::from(m) * *scale;
    let mut q = u64::try_from(num >> s).ok()?;
    let r = num & ((1u128 << s) - 1);
    let half = 1u128 << (s - 1);
    if r > half || (r == half && q & 1 == 1) {
        q += 1;
    }
    // q == 10^17: the value rounded up to the next power of ten.
    Some(if q == TEN17 { (TEN16, x + 1) } else { (q, x) })
}

/// [`round17`] of an integer `0 < n < 10^38` (a double of 2^53 or more): its decimal
/// exponent `x` from its bit length and one comparison, then `n · 10^(16−x)` exactly when
/// `x ≤ 16`, else `n / 10^(x−16)` rounded half to even.
fn round17_integral(n: u128) -> Option<(u64, i32)> {
    let bits = 128 - n.leading_zeros();
    // floor((bits − 1) · log10 2): the decimal exponent or one below it.
    let mut x = ((bits.checked_sub(1)? * 78913) >> 18) as usize;
    if n >= *POW10_U128.get(x + 1)? {
        x += 1;
    }
    let q = if x <= 16 {
        u64::try_from(n * POW10_U128.get(16 - x)?).ok()?
    } else {
        let d = *POW10_U128.get(x - 16)?;
        // A u64 division when both fit (doubles below 2^64): a hardware divide instead of
        // the u128 library routine (`printf17(9.3e18)` 105 → 82 ns).
        let (q, r) = match (u64::try_from(n), u64::try_from(d)) {
            (Ok(n), Ok(d)) => (u128::from(n / d), u128::from(n % d)),
            _ => (n / d, n % d),
        };
        let q = u64::try_from(q).ok()?;
        // (No exact tie reaches here: it would need `n`'s factor 2^(x−17), and a double of
        // 10^17 or more has a larger one; the rule is written out all the same.)
        if 2 * r > d || (2 * r == d && q & 1 == 1) {
            q + 1
        } else {
            q
        }
    };
    let x = i32::try_from(x).ok()?;
    Some(if q == TEN17 { (TEN16, x + 1) } else { (q, x) })
}

/// `10^k` for `k = 0..=38`.
const POW10_U128: [u128; 39] = {
    let mut t = [1u128; 39];
    let (mut k, mut p) = (1, 1u128);
    while k < 39 {
        p *= 10;
        // (`const` code has no `get_mut`: a checked split instead of indexing.)
        if let Some((_, rest)) = t.split_at_mut_checked(k) {
            if let Some(cell) = rest.first_mut() {
                *cell = p;
            }
        }
        k += 1;
    }
    t
};

/// `10^k` for `k` in `0..=19` (what fits a `u64`; 1 above).
#[inline]
fn pow10(k: usize) -> u64 {
    POW10_U128
        .get(k)
        .and_then(|&p| u64::try_from(p).ok())
        .unwrap_or(1)
}

/// The significant digits of [`round17`]'s `q` (its 17 digits, trailing zeros dropped).
fn digits17(q: u64) -> Digits {
    let mut d = Digits::default();
    put_digits(&mut d.buf, 17, q, 17);
    d.len = 17 - trailing_zero_digits(q);
    d
}

/// [`digits17_slow`] through [`round17`] and [`digits17`] (integer arithmetic instead of the
/// exact formatter); `None` outside `round17`'s range.
#[cfg(test)]
fn digits17_fast(v: f64) -> Option<(Digits, i32)> {
    let (q, exp) = round17(v)?;
    Some((digits17(q), exp))
}

/// Decimal zeros at the end of `q > 0` (at most 16 for `q < 10^17`).
#[inline]
fn trailing_zero_digits(mut q: u64) -> usize {
    let mut n = 0;
    while q.is_multiple_of(10) && n < 19 {
        q /= 10;
        n += 1;
    }
    n
}

/// Two-digit pairs `"00" ..= "99"`.
const DIGIT_PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        if let Some((_, rest)) = t.split_at_mut_checked(i) {
            if let Some(cell) = rest.first_mut() {
                *cell = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
            }
        }
        i += 1;
    }
    t
};

/// Writes the last `count` decimal digits of `n` (leading zeros included) so that they end at
/// `buf[end]` (exclusive), two at a time; digits that would fall outside `buf` are dropped.
#[inline]
fn put_digits(buf: &mut [u8], end: usize, mut n: u64, count: usize) {
    let mut at = end;
    let stop = end.saturating_sub(count);
    while at >= stop + 2 {
        let pair = DIGIT_PAIRS
            .get((n % 100) as usize)
            .copied()
            .unwrap_or([b'0'; 2]);
        n /= 100;
        at -= 2;
        if let Some(dst) = buf.get_mut(at..at + 2) {
            dst.copy_from_slice(&pair);
        }
    }
    if at > stop {
        at -= 1;
        if let Some(dst) = buf.get_mut(at) {
            *dst = b'0' + (n % 10) as u8;
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

    /// The score parser as it was before `fast-float2`: `str::from_utf8`, the special texts,
    /// one optional `+`, then `f64::from_str` — the oracle of `parse_matches_std`.
    fn parse_with_std(text: &[u8]) -> Option<f64> {
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
        if let Some((_, v)) = SPECIALS.iter().find(|(n, _)| s.eq_ignore_ascii_case(n)) {
            return Some(*v);
        }
        let t = match s.strip_prefix('+') {
            Some(rest) if rest.starts_with(['-', '+']) => return None,
            Some(rest) => rest,
            None => s,
        };
        t.parse::<f64>().ok()
    }

    /// Same result (bits; any NaN for NaN) or both refused.
    fn same_parse(text: &[u8]) -> bool {
        match (parse_double_text(text), parse_with_std(text)) {
            (Some(a), Some(b)) => a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            (None, None) => true,
            _ => false,
        }
    }

    #[test]
    fn parse_matches_std_on_edge_texts() {
        let texts = [
            "5",
            "5.",
            ".5",
            ".",
            "-.",
            "+.",
            "1e",
            "1e5",
            "1E+5",
            "1e-5",
            "1.e5",
            ".e5",
            "e5",
            "+1",
            "-1",
            "+-1",
            "-+1",
            "++1",
            "--1",
            "-",
            "+",
            "1_0",
            " 1",
            "1 ",
            "0x10",
            "1..2",
            "00.5",
            "-.5",
            "+.5",
            "-5.",
            "-0",
            "+0",
            "0",
            "-0.0",
            "inf",
            "INF",
            "-Inf",
            "+inf",
            "infinity",
            "-INFINITY",
            "+Infinity",
            "infinit",
            "infx",
            "nan",
            "NaN",
            "-nan",
            "+nan",
            "nan(1)",
            "-nan(x)",
            "nanx",
            "1e400",
            "-1e400",
            "1e-400",
            "4.9e-324",
            "2.4e-324",
            "1.7976931348623157e308",
            "1.7976931348623159e308",
            "9007199254740993",
            "0.30000000000000004",
            "-925.60527017979330",
            "1e+",
            "1e-",
            "1e+-5",
            "1.5e3.2",
            "\u{661}",
            "１",
            "1\0",
            "٣",
        ];
        for t in texts {
            assert!(same_parse(t.as_bytes()), "{t:?}");
        }
        let long = "1".repeat(127);
        assert!(same_parse(long.as_bytes()));
        assert!(parse_double_text(format!("{long}1").as_bytes()).is_none());
        assert!(same_parse(format!("0.{}1", "0".repeat(120)).as_bytes()));
        assert!(same_parse(&[0xFF, b'1']) && same_parse(b"") && same_parse(&[b'1', 0xC3]));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]

        /// Texts over the characters numbers, special texts and near-misses are made of.
        #[test]
        fn parse_matches_std(text in "[-+.0-9eEinfatyINFATY()x ]{0,40}") {
            proptest::prop_assert!(same_parse(text.as_bytes()), "{:?}", text);
        }

        /// Every double as `%.17g` (what Redis writes), shortest and exponent forms.
        #[test]
        fn parse_matches_std_on_doubles(bits in proptest::prelude::any::<u64>()) {
            let v = f64::from_bits(bits);
            for t in [ScoreText::new(v).as_str().to_owned(), format!("{v:e}"), format!("{v}"),
                      String::from_utf8_lossy(ScoreText::printf17(v).as_bytes()).into_owned()] {
                proptest::prop_assert!(same_parse(t.as_bytes()), "{:?}", t);
            }
        }
    }

    /// `(f64 bits, C's "%.17g")`, printed by CPython's `'%.17g' % v` (correctly rounded like
    /// glibc): edge cases, then 30 random bit patterns and 10 random values in ±1000.
    const PRINTF17: &[(u64, &str)] = &[
        (0x3fb999999999999a, "0.10000000000000001"),
        (0x3fc999999999999a, "0.20000000000000001"),
        (0x3fd3333333333333, "0.29999999999999999"),
        (0x3fd5555555555555, "0.33333333333333331"),
        (0x3fe5555555555555, "0.66666666666666663"),
        (0x408c50cd254551c0, "906.10016874461871"),
        (0xc08b18c4a7282581, "-867.09602195133641"),
        (0x0000000000000001, "4.9406564584124654e-324"),
        (0x0010000000000000, "2.2250738585072014e-308"),
        (0x7fefffffffffffff, "1.7976931348623157e+308"),
        (0x3ee4f8b588e368f1, "1.0000000000000001e-05"),
        (0x3f1a36e2eb1c432d, "0.0001"),
        (0x3f202c9dedbc309d, "0.00012339999999999999"),
        (0x40fe240c9fbe76c9, "123456.789"),
        (0x4341c37937e08000, "10000000000000000"),
        (0x4376345785d8a000, "1e+17"),
        (0x4380a741a4627800, "1.5e+17"),
        (0x437b69b4ba630f35, "1.2345678901234568e+17"),
        (0x43cbc16d674ec800, "4e+18"),
        (0xfe37e43c8800759c, "-1.0000000000000001e+300"),
        (0x3e60000000000000, "2.9802322387695312e-08"),
        (0x40c81cc000000000, "12345.5"),
        (0x400921fb54442d18, "3.1415926535897931"),
        (0x4480f0cf064dd592, "1e+22"),
        (0x4340000000000000, "9007199254740992"),
        (0x3fe0000000000000, "0.5"),
        (0xc004000000000000, "-2.5"),
        (0x42d6bcc41e8fffff, "99999999999999.984"),
        (0x3e7ad7f29abcaf48, "9.9999999999999995e-08"),
        (0x44dfe185ca57c517, "6.0221407599999999e+23"),
        (0xf2a74de452e6b438, "-1.989032661366619e+244"),
        (0x6513270e269e0d37, "7.761117632285041e+178"),
        (0x0c5c7fd0a6a3a450, "3.980498358697587e-249"),
        (0xd23f0824128b2f33, "-1.5432835417340557e+88"),
        (0x1818e811892f902b, "1.3647584518757569e-192"),
        (0x9531985d5d9dc9f8, "-1.3701135617873088e-206"),
        (0xe8e25d940ed90475, "-1.7160537630466207e+197"),
        (0x36f675cc81e74ef5, "6.2946752411953861e-44"),
        (0x1600a35a099950d8, "1.0613447212142254e-202"),
        (0x6b0d549b6f03675a, "4.7083251603875462e+207"),
        (0x3d9c172411e20b8f, "6.3870161585135632e-12"),
        (0x8d116ece1738f7d9, "-9.9731303785687331e-246"),
        (0x0f21ddb66cad4a26, "8.7797532256802712e-236"),
        (0x90c192cfd3ac94af, "-5.7955032484989932e-228"),
        (0xf28c105d1fb17c23, "-5.9881801593860111e+243"),
        (0xa170b33839263059, "-1.3060523885277959e-147"),
        (0x953f48f1a09f76b5, "-2.4361176994848409e-206"),
        (0x0fd630f1f29d0da9, "2.2333869991501741e-232"),
        (0x95e60af593bd04cf, "-3.5152797062666699e-203"),
        (0x0cb1e29c658cda14, "1.5987381841032883e-247"),
        (0x3898d190f9ebdacc, "4.6678633181812096e-36"),
        (0x8e81973e0becd7b0, "-8.4418727921054556e-239"),
        (0x2217beaddbc496cb, "1.9015657400796622e-144"),
        (0x6b4cb2424a23d596, "7.370437700706684e+208"),
        (0x8a6a63ec24ede6a4, "-1.7163996725272777e-258"),
        (0x922766581e27a1c0, "-3.2367190832119987e-221"),
        (0x8f6d05584ef8aa38, "-2.2818334634712625e-234"),
        (0xae97ba94d0eda82f, "-3.0536383926309363e-84"),
        (0x1a61dbe22e44158b, "1.3449551894627777e-181"),
        (0x923a736994e3bf91, "-7.3174959760626057e-221"),
        (0x40715d3b232f7bec, "277.82693785236802"),
        (0xc06fe68ea8f48e30, "-255.20491454853754"),
        (0x4057df4aa701c5b0, "95.488931419115715"),
        (0xc08b53605bc7436f, "-874.4220500533537"),
        (0xc08b86619b99fb18, "-880.79766006753471"),
        (0xc08260a91cbf2bc9, "-588.08257436134693"),
        (0x40768ccc948ee184, "360.79994636357173"),
        (0xc0621a17a9f62b78, "-144.81538866119422"),
        (0xc0773b4a615997b2, "-371.70565924641699"),
        (0x406563f5925b87f0, "171.12372701527738"),
    ];

    #[test]
    fn printf17_is_c_percent_17g() {
        for &(bits, want) in PRINTF17 {
            let v = f64::from_bits(bits);
            assert_eq!(ScoreText::printf17(v).as_str(), want, "{v:e}");
            assert_eq!(parse_double_text(want.as_bytes()), Some(v), "{want}");
        }
        for (v, want) in [
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (100.0, "100"),
        ] {
            assert_eq!(ScoreText::printf17(v).as_str(), want);
        }
    }

    #[test]
    fn printf17_fast_digits_equal_the_exact_formatter() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        let mut fast = 0;
        for i in 0..200_000 {
            let v: f64 = match i % 6 {
                0 => rng.random_range(-1000.0..1000.0),
                1 => f64::from_bits(rng.random::<u64>()),
                2 => rng.random_range(0.0..1.0) * 10f64.powi(rng.random_range(-7..17)),
                // Integral values: 2^53 and up, to the range's end.
                3 => rng.random_range(9e15..1e38),
                4 => {
                    f64::from(rng.random_range(1..1u32 << 20))
                        * 2f64.powi(rng.random_range(33..107))
                }
                // Near the range's edges and at powers of ten (rounding up to 10^17 digits).
                _ => {
                    10f64.powi(rng.random_range(-7..40))
                        * (1.0 - f64::EPSILON * f64::from(rng.random_range(0..4u8)))
                }
            };
            if !v.is_finite() || v == 0.0 {
                continue;
            }
            let v = v.abs();
            if let Some((d, e)) = digits17_fast(v) {
                fast += 1;
                let (want, want_e) = digits17_slow(v);
                assert_eq!((d.as_slice(), e), (want.as_slice(), want_e), "{v:e}");
            }
        }
        assert!(fast > 150_000, "fast path taken {fast} times");
    }

    /// `printf17` against the exact formatter's digits in the generic layout, on the texts
    /// `plain17` writes in place (fractions, `0.00ddd`, short digit strings with trailing
    /// zeros dropped, values at powers of ten) and on the rest.
    #[test]
    fn printf17_text_equals_the_exact_layout() {
        use rand::{Rng, SeedableRng};
        let reference = |v: f64| {
            let mut t = ScoreText::empty();
            if !t.special(v) {
                let (digits, exp) = digits17_slow(v.abs());
                t.layout(v.is_sign_negative(), digits.as_slice(), exp);
            }
            t
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(1717);
        let mut plain = 0;
        for i in 0..300_000 {
            let v: f64 = match i % 7 {
                0 => rng.random_range(-1370.0..1370.0),
                1 => f64::from_bits(rng.random::<u64>()),
                2 => rng.random_range(1e-4..1e17) * if rng.random() { 1.0 } else { -1.0 },
                // Short binary fractions: few significant digits.
                3 => f64::from(rng.random_range(-100_000i32..100_000)) / 1024.0,
                4 => {
                    10f64.powi(rng.random_range(-5..19))
                        * (1.0 + f64::EPSILON * f64::from(rng.random_range(-3..4i8)))
                }
                5 => rng.random_range(-1.0..1.0) * 10f64.powi(rng.random_range(-7..0)),
                // Integral values above 2^53 (text in the exponent form).
                _ => rng.random_range(-1e38..1e38) * 10f64.powi(-rng.random_range(0..22)),
            };
            let mut t = ScoreText::empty();
            if let Some((q, exp)) = round17(v.abs()) {
                if t.plain17(v.is_sign_negative(), q, exp) {
                    plain += 1;
                }
            }
            assert_eq!(
                ScoreText::printf17(v).as_str(),
                reference(v).as_str(),
                "{v:e}"
            );
        }
        assert!(plain > 120_000, "plain17 wrote {plain} texts");
    }

    /// `POW10_F64`'s negative powers lie above the true powers, and the double below each
    /// lies below: checked in exact integer arithmetic (`d = m · 2^e`).
    #[test]
    fn pow10_f64_decides_powers_of_ten_exactly() {
        for x in 1..=5u32 {
            let d = POW10_F64[5 - x as usize];
            let bits = d.to_bits();
            let m = u128::from((bits & ((1 << 52) - 1)) | (1 << 52));
            let shift = 1075 - ((bits >> 52) & 0x7FF) as u32; // d = m / 2^shift
            let ten = 10u128.pow(x);
            // d > 10^-x  ⟺  m · 10^x > 2^shift; the double below, (m − 1) / 2^shift, is less.
            assert!(m * ten > 1u128 << shift, "1e-{x}");
            assert!((m - 1) * ten < 1u128 << shift, "below 1e-{x}");
        }
        for k in 0..=17 {
            assert_eq!(POW10_F64[k + 5], 10f64.powi(k as i32));
            assert_eq!(u128::from(pow10(k)), POW10_U128[k]);
        }
        assert_eq!((pow10(19), pow10(20)), (10u64.pow(19), 1));
        assert_eq!(POW10_U128[38], 10u128.pow(38));
    }

    /// Integral scores between 2^62 and 2^63 whose fpconv text is plain digits are stored by
    /// a Redis 7.2+ listpack as integer elements; those printed in exponent form stay text.
    #[test]
    fn fpconv_integer_like_texts_above_2_62_are_integer_elements() {
        for bits in [
            0x43D0_0000_0000_0001u64, // 2^62 + 1024
            0x43D5_5555_5555_5555,
            0x43DF_FFFF_FFFF_FFFF, // the largest double below 2^63
            0xC3DF_FFFF_FFFF_FFFF,
        ] {
            let v = f64::from_bits(bits);
            let text = ScoreText::fpconv(v);
            let int = crate::int::parse_canonical_i64(text.as_bytes())
                .unwrap_or_else(|| panic!("{v}: {} is not plain digits", text.as_str()));
            assert!(
                matches!(ScoreStyle::Fpconv.element(v), ScoreElement::Int(i) if i == int),
                "{v}"
            );
        }
        for v in [5e18, -9e18, 1e19] {
            assert!(
                matches!(ScoreStyle::Fpconv.element(v), ScoreElement::Text(_)),
                "{v}"
            );
        }
    }

    /// No style gives a text element that looks like an integer (a container would store
    /// that as an integer): the writer puts text elements in as strings without asking.
    #[test]
    fn score_text_elements_are_never_integer_like() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(21);
        let mut texts = 0;
        for i in 0..300_000 {
            let v: f64 = match i % 5 {
                0 => f64::from_bits(rng.random::<u64>()),
                1 => rng.random_range(-1e3..1e3),
                // Integral values around every power of two and ten up to 2^64.
                2 => {
                    let p = 2f64.powi(rng.random_range(0..66));
                    (p + f64::from(rng.random_range(-2..3i8)))
                        * if rng.random() { 1.0 } else { -1.0 }
                }
                3 => 10f64.powi(rng.random_range(0..21)) * f64::from(rng.random_range(1..10u8)),
                _ => [-0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN][i / 5 % 5],
            };
            for style in [
                ScoreStyle::Ziplist17g,
                ScoreStyle::Listpack17g,
                ScoreStyle::Fpconv,
            ] {
                if let ScoreElement::Text(t) = style.element(v) {
                    texts += 1;
                    assert_eq!(
                        crate::int::parse_canonical_i64(t.as_bytes()),
                        None,
                        "{style:?} {v:e} -> {}",
                        t.as_str()
                    );
                }
            }
        }
        assert!(texts > 300_000, "{texts} texts");
    }

    /// `emit_digits` written out plainly with strings, as a reference for the layout of
    /// [`ScoreText::fpconv`] (the digits are Grisu2's, see `grisu2.rs` for their tests).
    fn fpconv_reference(v: f64) -> String {
        let g = crate::grisu2::digits(v.abs());
        let digits = std::str::from_utf8(g.digits()).unwrap().to_owned();
        let n = digits.len() as i32;
        let k = g.k;
        let exp = k + n - 1;
        let e = exp.abs();
        let sign = if v < 0.0 { "-" } else { "" };
        let body = if k >= 0 && e < n + 7 {
            format!("{digits}{}", "0".repeat(k as usize))
        } else if k < 0 && (k > -7 || e < 4) {
            let offset = n + k;
            if offset <= 0 {
                format!("0.{}{digits}", "0".repeat((-offset) as usize))
            } else {
                format!(
                    "{}.{}",
                    &digits[..offset as usize],
                    &digits[offset as usize..]
                )
            }
        } else {
            let mant = if n > 1 {
                format!("{}.{}", &digits[..1], &digits[1..])
            } else {
                digits.clone()
            };
            format!("{mant}e{}{}", if exp < 0 { '-' } else { '+' }, e)
        };
        format!("{sign}{body}")
    }

    #[test]
    fn fpconv_matches_its_reference_layout() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(72);
        for i in 0..100_000 {
            let v: f64 = match i % 3 {
                0 => rng.random_range(-1370.0..1370.0),
                1 => f64::from_bits(rng.random::<u64>()),
                _ => rng.random_range(-1.0..1.0) * 10f64.powi(rng.random_range(-9..22)),
            };
            if !v.is_finite() || v == 0.0 {
                continue;
            }
            assert_eq!(ScoreText::fpconv(v).as_str(), fpconv_reference(v), "{v:e}");
        }
    }

    /// `fpconv_dtoa`'s layout rules (`emit_digits`), case by case.
    #[test]
    fn fpconv_layout() {
        for (v, want) in [
            (2.5e-5, "0.000025"),
            (-2.5e-5, "-0.000025"),
            (1.5e-7, "1.5e-7"),
            (1e-7, "1e-7"),
            (0.1, "0.1"),
            (123.456, "123.456"),
            (-993.5893536541172, "-993.5893536541172"),
            (12345.678901234567, "1.2345678901234567e+4"),
            (1234.5678901234567, "1234.5678901234567"),
            (1e300, "1e+300"),
            (-1.5e-105, "-1.5e-105"),
            (5e-324, "5e-324"),
            (9.3e18, "9.3e+18"),
            (9223372036854775808.0, "9223372036854776000"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (-0.0, "-0"),
        ] {
            assert_eq!(ScoreText::fpconv(v).as_str(), want, "{v:e}");
            if v.is_finite() {
                assert_eq!(parse_double_text(want.as_bytes()), Some(v), "{want}");
            }
        }
    }

    fn element_text(style: ScoreStyle, v: f64) -> String {
        match style.element(v) {
            ScoreElement::Int(i) => format!("int {i}"),
            ScoreElement::Text(t) => t.as_str().to_owned(),
        }
    }

    /// What Redis 6.2.14 (ziplist) and 7.0.15 (listpack) stored for `ZADD zk 4503599627370497
    /// a 1e17 b 123456789012345678 c 4e18 d 0.1 e -0.0 f 1e16 g 99999999999999999 h 5e-324 i
    /// inf j -inf k 1e300 l 12345.5 m 100 n 0 o 9007199254740993 p` with `rdbcompression no`
    /// (the blobs decoded from their `SAVE`d files).
    #[test]
    fn score_elements_as_real_servers_store_them() {
        let cases: &[(f64, &str, &str)] = &[
            (
                4503599627370497.0,
                "int 4503599627370497",
                "int 4503599627370497",
            ),
            (1e17, "1e+17", "int 100000000000000000"),
            (
                123456789012345678.0,
                "1.2345678901234568e+17",
                "int 123456789012345680",
            ),
            (4e18, "4e+18", "int 4000000000000000000"),
            (0.1, "0.10000000000000001", "0.10000000000000001"),
            (-0.0, "-0", "int 0"),
            (0.0, "int 0", "int 0"),
            (1e16, "int 10000000000000000", "int 10000000000000000"),
            (5e-324, "4.9406564584124654e-324", "4.9406564584124654e-324"),
            (f64::INFINITY, "inf", "inf"),
            (f64::NEG_INFINITY, "-inf", "-inf"),
            (1e300, "1.0000000000000001e+300", "1.0000000000000001e+300"),
            (12345.5, "12345.5", "12345.5"),
            (100.0, "int 100", "int 100"),
            (
                9007199254740993.0,
                "int 9007199254740992",
                "int 9007199254740992",
            ),
        ];
        for &(v, redis62, redis70) in cases {
            assert_eq!(
                element_text(ScoreStyle::Ziplist17g, v),
                redis62,
                "6.2: {v:e}"
            );
            assert_eq!(
                element_text(ScoreStyle::Listpack17g, v),
                redis70,
                "7.0: {v:e}"
            );
        }
        // 7.2+: the integers of 7.0, `fpconv_dtoa`'s text.
        assert_eq!(element_text(ScoreStyle::Fpconv, 0.1), "0.1");
        assert_eq!(element_text(ScoreStyle::Fpconv, 5e-324), "5e-324");
        assert_eq!(element_text(ScoreStyle::Fpconv, -0.0), "int 0");
        assert_eq!(
            element_text(ScoreStyle::Fpconv, 4e18),
            "int 4000000000000000000"
        );
    }

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
