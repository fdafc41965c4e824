//! An element of a compact encoding: a byte string or an integer.

use crate::int::IntText;

/// One element of a listpack, ziplist or intset: bytes borrowed from the blob, or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element<'a> {
    /// A byte string.
    Str(&'a [u8]),
    /// An integer (its logical value is its decimal text).
    Int(i64),
}

impl<'a> Element<'a> {
    /// The element as bytes; integers are formatted into `tmp`.
    pub fn as_bytes<'b>(&'b self, tmp: &'b mut IntText) -> &'b [u8]
    where
        'a: 'b,
    {
        match self {
            Element::Str(s) => s,
            Element::Int(v) => {
                *tmp = IntText::new(*v);
                tmp.as_bytes()
            }
        }
    }

    /// Appends the element's bytes to `out`.
    pub fn append_to(&self, out: &mut Vec<u8>) {
        match self {
            Element::Str(s) => out.extend_from_slice(s),
            Element::Int(v) => out.extend_from_slice(IntText::new(*v).as_bytes()),
        }
    }

    /// The element as an owned byte vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.append_to(&mut v);
        v
    }

    /// The integer value, if the element is an integer or a canonical decimal string.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Element::Int(v) => Some(*v),
            Element::Str(s) => crate::int::parse_canonical_i64(s),
        }
    }

    /// Length of the element's bytes.
    pub fn byte_len(&self) -> usize {
        match self {
            Element::Str(s) => s.len(),
            Element::Int(v) => decimal_len(*v),
        }
    }

    /// Compares two elements by their byte representation (memcmp order).
    pub fn cmp_bytes(&self, other: &Element<'_>) -> std::cmp::Ordering {
        let (mut a, mut b) = (IntText::new(0), IntText::new(0));
        self.as_bytes(&mut a).cmp(other.as_bytes(&mut b))
    }
}

/// Length of `v`'s decimal text (with its `-`), without formatting it.
///
/// Branch-free: the number of digits is estimated from the bit length (`bits × log10 2`,
/// as `bits × 1233 >> 12`) and corrected by one comparison with a power of ten.
#[inline]
pub fn decimal_len(v: i64) -> usize {
    /// `10^i` for `i` in 0..=19 (10^19 is the largest power of ten in a `u64`).
    const POW10: [u64; 20] = [
        1,
        10,
        100,
        1000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
        1_000_000_000,
        10_000_000_000,
        100_000_000_000,
        1_000_000_000_000,
        10_000_000_000_000,
        100_000_000_000_000,
        1_000_000_000_000_000,
        10_000_000_000_000_000,
        100_000_000_000_000_000,
        1_000_000_000_000_000_000,
        10_000_000_000_000_000_000,
    ];
    // `| 1` makes 0 count as one digit and changes no other digit count (an even `x` and
    // `x + 1` lie on the same side of every power of ten above 1, which are even).
    let x = v.unsigned_abs() | 1;
    // 1..=64.
    let bits = 64 - x.leading_zeros();
    // floor(log10(2^bits)) rounded so that `x < 10^t` at most once too high: 0..=19.
    let t = ((bits * 1233) >> 12) as usize;
    let below = POW10.get(t).is_some_and(|&p| x < p);
    // floor(log10 x) = t - below; digits one more.
    t + 1 - usize::from(below) + usize::from(v < 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_len_matches_the_text() {
        let mut cases = vec![0i64, 1, -1, 9, -9, 10, -10, 99, 100, i64::MAX, i64::MIN];
        let mut p = 1i64;
        while let Some(next) = p.checked_mul(10) {
            cases.extend([p - 1, p, p + 1, -(p - 1), -p, -(p + 1)]);
            p = next;
        }
        cases.extend([p - 1, p, -p]);
        // Every bit length (where the estimate changes), and a spread of other values.
        for b in 0..63 {
            let q = 1i64 << b;
            cases.extend([q - 1, q, q + 1, -q, -(q - 1), -(q + 1)]);
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Every magnitude: shift by 0..=63.
            cases.push((x >> (x % 64)) as i64);
        }
        for v in cases {
            assert_eq!(decimal_len(v), v.to_string().len(), "{v}");
            assert_eq!(Element::Int(v).byte_len(), v.to_string().len(), "{v}");
        }
    }
}
