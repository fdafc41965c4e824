//! Intset (§4.3).

use crate::error::{array_at, CodecError, CodecResult};

/// A validated intset view.
#[derive(Debug, Clone, Copy)]
pub struct Intset<'a> {
    width: usize,
    data: &'a [u8],
}

/// Element `i` of the element bytes `data` (`width` bytes each, little-endian).
#[inline]
fn element(data: &[u8], width: usize, i: usize) -> Option<i64> {
    let s = data.get(i * width..(i + 1) * width)?;
    Some(match s {
        [a, b] => i64::from(i16::from_le_bytes([*a, *b])),
        [a, b, c, d] => i64::from(i32::from_le_bytes([*a, *b, *c, *d])),
        [a, b, c, d, e, f, g, h] => i64::from_le_bytes([*a, *b, *c, *d, *e, *f, *g, *h]),
        _ => return None,
    })
}

impl<'a> Intset<'a> {
    /// Validates the header and size (what the server checks at load): width ∈ {2,4,8},
    /// blob size = 8 + len × width, len > 0.
    pub fn parse(blob: &'a [u8]) -> CodecResult<Self> {
        let width = u32::from_le_bytes(array_at::<4>(blob, 0, "intset header")?) as usize;
        let len = u32::from_le_bytes(array_at::<4>(blob, 4, "intset header")?) as usize;
        if !matches!(width, 2 | 4 | 8) {
            return Err(CodecError::new(
                0,
                "intset-encoding",
                format!("intset width {width} is not 2, 4 or 8"),
            ));
        }
        let want = len.checked_mul(width).and_then(|n| n.checked_add(8));
        if want != Some(blob.len()) {
            return Err(CodecError::new(
                4,
                "intset-size",
                format!(
                    "intset of {len} × {width}-byte elements needs {} bytes, blob has {}",
                    8 + len as u128 * width as u128,
                    blob.len()
                ),
            ));
        }
        if len == 0 {
            return Err(CodecError::new(4, "intset-empty", "intset has no elements"));
        }
        Ok(Intset {
            width,
            data: blob.get(8..).unwrap_or(&[]),
        })
    }

    /// Element width in bytes.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.width
    }

    /// Always false for a parsed intset (len > 0 is checked).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Element `i`.
    pub fn get(&self, i: usize) -> Option<i64> {
        element(self.data, self.width, i)
    }

    /// [`Intset::get`] for a set known to be `W` bytes wide (`None` if [`Intset::width`] is
    /// another): with the width a constant, a loop over the elements compiles to fixed-size
    /// loads (match the width once, then call this in the loop).
    #[inline(always)]
    pub fn get_of_width<const W: usize>(&self, i: usize) -> Option<i64> {
        if self.width != W {
            return None;
        }
        element(self.data, W, i)
    }

    /// Element `i` of the intset blob `blob` (header included) whose elements are `width`
    /// bytes wide: [`Intset::get`] without parsing the header again (for cursors over a blob
    /// [`Intset::parse`] accepted). `None` past the end or for a width other than 2, 4, 8.
    pub fn element_in(blob: &[u8], width: usize, i: usize) -> Option<i64> {
        element(blob.get(8..)?, width, i)
    }

    /// Iterates the elements.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).filter_map(move |i| self.get(i))
    }

    /// Deep check: strictly ascending (sorted and unique). Returns the index of the first
    /// offending element on failure, as an error at its byte offset ([`order_error`]).
    pub fn check_sorted(&self) -> CodecResult<()> {
        match self.first_unordered() {
            None => Ok(()),
            Some(i) => {
                let (v, p) = (
                    self.get(i).unwrap_or(0),
                    self.get(i.wrapping_sub(1)).unwrap_or(0),
                );
                Err(order_error(i, self.width, v, p))
            }
        }
    }

    /// Index of the first element not greater than the one before it, if any.
    ///
    /// The elements are first compared a block at a time with no branch per pair (a loop the
    /// compiler vectorises); only a block that holds a violation is walked again to find it.
    pub fn first_unordered(&self) -> Option<usize> {
        match self.width {
            2 => first_unordered_in(self.data, |b: [u8; 2]| i64::from(i16::from_le_bytes(b))),
            4 => first_unordered_in(self.data, |b: [u8; 4]| i64::from(i32::from_le_bytes(b))),
            _ => first_unordered_in(self.data, i64::from_le_bytes),
        }
    }

    /// Whether a smaller width would hold every element (servers always use the smallest).
    pub fn width_is_minimal(&self) -> bool {
        let need = self.iter().map(width_for).max().unwrap_or(2);
        need == self.width
    }
}

/// The error for element `i` (value `v`, `width` bytes wide) not greater than the element
/// before it (`prev`): code `intset-order`, at the element's offset in the blob.
pub fn order_error(i: usize, width: usize, v: i64, prev: i64) -> CodecError {
    CodecError::new(
        8 + i * width,
        "intset-order",
        format!("intset element {i} ({v}) is not greater than the previous one ({prev})"),
    )
}

/// Elements compared at once by [`first_unordered_in`].
const ORDER_BLOCK: usize = 64;

/// [`Intset::first_unordered`] over the element bytes `data` of `W`-byte elements.
#[inline(always)]
fn first_unordered_in<const W: usize>(data: &[u8], get: impl Fn([u8; W]) -> i64) -> Option<usize> {
    let n = data.len() / W;
    let value_at = |i: usize| {
        data.get(i * W..(i + 1) * W)
            .and_then(|c| c.try_into().ok())
            .map_or(0, &get)
    };
    // Pairs (i - 1, i) for i in 1..n, ORDER_BLOCK pairs at a time, folded without a branch.
    let mut start = 1usize;
    while start < n {
        let end = (start + ORDER_BLOCK).min(n);
        let prevs = data.get((start - 1) * W..(end - 1) * W).unwrap_or(&[]);
        let nexts = data.get(start * W..end * W).unwrap_or(&[]);
        let bad = prevs
            .chunks_exact(W)
            .zip(nexts.chunks_exact(W))
            .fold(false, |bad, (p, v)| {
                let (p, v) = (p.try_into().map_or(0, &get), v.try_into().map_or(0, &get));
                bad | (v <= p)
            });
        if bad {
            return (start..end).find(|&i| value_at(i) <= value_at(i - 1));
        }
        start = end;
    }
    None
}

/// The smallest intset width that holds `v`.
pub fn width_for(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

/// Encodes sorted, unique values as an intset with the smallest width.
///
/// The width comes from the first and last values (the extremes of sorted input, so unsorted
/// input would be cut to a narrower width; debug builds check the order); each value is then
/// stored at that width in one pass without a per-value branch.
pub fn encode(sorted: &[i64], out: &mut Vec<u8>) {
    debug_assert!(
        sorted.windows(2).all(|w| w.first() < w.last()),
        "intset::encode needs sorted, unique values"
    );
    let width = match (sorted.first(), sorted.last()) {
        (Some(&lo), Some(&hi)) => width_for(lo).max(width_for(hi)),
        _ => 2,
    };
    out.reserve(8 + sorted.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    match width {
        2 => out.extend(sorted.iter().flat_map(|&v| (v as i16).to_le_bytes())),
        4 => out.extend(sorted.iter().flat_map(|&v| (v as i32).to_le_bytes())),
        _ => out.extend(sorted.iter().flat_map(|&v| v.to_le_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The widths at their limits, and the byte layout of the smallest 16-bit member.
    #[test]
    fn widths_at_their_limits() {
        for (v, w) in [
            (-32_768i64, 2usize),
            (-32_769, 4),
            (32_767, 2),
            (32_768, 4),
            (i64::from(i32::MIN), 4),
            (i64::from(i32::MIN) - 1, 8),
            (i64::from(i32::MAX), 4),
            (i64::from(i32::MAX) + 1, 8),
        ] {
            assert_eq!(width_for(v), w, "{v}");
        }
        let mut blob = Vec::new();
        encode(&[-32_768, 0], &mut blob);
        assert_eq!(blob, [2, 0, 0, 0, 2, 0, 0, 0, 0x00, 0x80, 0, 0]);
        // Members 1 and 2 fit 16 bits: a 32-bit intset of them is valid but not minimal.
        let wide = [4, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0];
        let s = Intset::parse(&wide).unwrap();
        assert!(!s.width_is_minimal());
        let s = Intset::parse(&blob).unwrap();
        assert!(s.width_is_minimal());
    }

    #[test]
    fn get_of_width_is_get_for_the_set_width_only() {
        for vals in [
            vec![-5i64, 1, 300],
            vec![-70_000, 5, 70_000],
            vec![i64::MIN, 0, i64::MAX],
        ] {
            let mut blob = Vec::new();
            encode(&vals, &mut blob);
            let s = Intset::parse(&blob).unwrap();
            for i in 0..=vals.len() {
                let (w2, w4, w8) = (
                    s.get_of_width::<2>(i),
                    s.get_of_width::<4>(i),
                    s.get_of_width::<8>(i),
                );
                let (want, none) = (s.get(i), None);
                match s.width() {
                    2 => assert_eq!((w2, w4, w8), (want, none, none)),
                    4 => assert_eq!((w2, w4, w8), (none, want, none)),
                    _ => assert_eq!((w2, w4, w8), (none, none, want)),
                }
            }
        }
    }

    #[test]
    fn doc_vector() {
        let mut out = Vec::new();
        encode(&[-5, 1, 300], &mut out);
        assert_eq!(out, [2, 0, 0, 0, 3, 0, 0, 0, 0xfb, 0xff, 1, 0, 0x2c, 1]);
        let s = Intset::parse(&out).unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![-5, 1, 300]);
        s.check_sorted().unwrap();
        assert!(s.width_is_minimal());
    }

    /// The blob of `vals` written with `width`-byte elements as they are (any order).
    fn raw_blob(vals: &[i64], width: usize) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(width as u32).to_le_bytes());
        out.extend_from_slice(&(vals.len() as u32).to_le_bytes());
        for &v in vals {
            out.extend_from_slice(&v.to_le_bytes()[..width]);
        }
        out
    }

    #[test]
    fn first_unordered_is_the_first_violation() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for width in [2usize, 4, 8] {
            let max = match width {
                2 => i64::from(i16::MAX),
                4 => i64::from(i32::MAX),
                _ => i64::MAX,
            };
            for n in [1usize, 2, 3, 63, 64, 65, 66, 127, 128, 129, 200, 513] {
                // Ascending values spread over the width's range (negative ones included).
                let step = (i128::from(max) * 2 / (n as i128 + 1)).max(1);
                let mut vals: Vec<i64> = (0..n as i128)
                    .map(|i| (-i128::from(max) + i * step) as i64)
                    .collect();
                let blob = raw_blob(&vals, width);
                let set = Intset::parse(&blob).unwrap();
                assert_eq!(set.first_unordered(), None, "width {width} n {n}");
                set.check_sorted().unwrap();
                // One violation (a repeat or a drop), then two, at every block boundary too.
                let mut places = vec![1usize, 2, 62, 63, 64, 65, 127, 128, 129, n - 1];
                places.extend((0..8).map(|_| 1 + (rnd() as usize) % n.max(2)));
                for at in places.into_iter().filter(|&at| at >= 1 && at < n) {
                    let keep = vals[at];
                    vals[at] = if rnd() % 2 == 0 {
                        vals[at - 1]
                    } else {
                        vals[at - 1] - 1
                    };
                    let blob = raw_blob(&vals, width);
                    let set = Intset::parse(&blob).unwrap();
                    let naive = (1..n).find(|&i| set.get(i).unwrap() <= set.get(i - 1).unwrap());
                    assert_eq!(set.first_unordered(), naive, "width {width} n {n} at {at}");
                    assert_eq!(naive, Some(at));
                    let e = set.check_sorted().unwrap_err();
                    assert_eq!((e.code, e.offset), ("intset-order", 8 + at * width));
                    vals[at] = keep;
                }
            }
        }
    }

    #[test]
    fn encode_uses_the_width_of_the_widest_value() {
        // The widest value of sorted input is the first or the last one; each case is
        // checked against the widest of all values (the per-value rule) and read back.
        let cases: [&[i64]; 7] = [
            &[0],
            &[-70_000, 5],
            &[5, 70_000],
            &[i64::from(i16::MIN), i64::from(i16::MAX)],
            &[i64::from(i16::MIN) - 1, 0],
            &[i64::MIN, 0, 1],
            &[-1, 3_000_000_000, i64::MAX],
        ];
        for vals in cases {
            let mut out = Vec::new();
            encode(vals, &mut out);
            let want = vals.iter().copied().map(width_for).max().unwrap_or(2);
            let s = Intset::parse(&out).unwrap();
            assert_eq!(s.width(), want, "{vals:?}");
            assert_eq!(s.iter().collect::<Vec<_>>(), vals);
            assert_eq!(out.len(), 8 + vals.len() * want);
        }
    }

    #[test]
    fn widths_and_errors() {
        for vals in [vec![1i64, 100_000], vec![-1, 6_000_000_000]] {
            let mut out = Vec::new();
            encode(&vals, &mut out);
            let s = Intset::parse(&out).unwrap();
            assert_eq!(s.iter().collect::<Vec<_>>(), vals);
        }
        // Out of order (`encode` takes sorted input only): written as they are.
        let out = raw_blob(&[3, 2], 2);
        assert_eq!(
            Intset::parse(&out)
                .unwrap()
                .check_sorted()
                .unwrap_err()
                .code,
            "intset-order"
        );
        assert_eq!(
            Intset::parse(&[3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0])
                .unwrap_err()
                .code,
            "intset-encoding"
        );
        assert_eq!(
            Intset::parse(&[2, 0, 0, 0, 2, 0, 0, 0, 0, 0])
                .unwrap_err()
                .code,
            "intset-size"
        );
        assert_eq!(
            Intset::parse(&[2, 0, 0, 0, 0, 0, 0, 0]).unwrap_err().code,
            "intset-empty"
        );
        assert!(Intset::parse(&[2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
