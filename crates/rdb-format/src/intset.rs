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
    /// offending element on failure, as an error at its byte offset.
    pub fn check_sorted(&self) -> CodecResult<()> {
        let mut prev: Option<i64> = None;
        for (i, v) in self.iter().enumerate() {
            if let Some(p) = prev {
                if v <= p {
                    return Err(CodecError::new(
                        8 + i * self.width,
                        "intset-order",
                        format!(
                            "intset element {i} ({v}) is not greater than the previous one ({p})"
                        ),
                    ));
                }
            }
            prev = Some(v);
        }
        Ok(())
    }

    /// Whether a smaller width would hold every element (servers always use the smallest).
    pub fn width_is_minimal(&self) -> bool {
        let need = self.iter().map(width_for).max().unwrap_or(2);
        need == self.width
    }
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
pub fn encode(sorted: &[i64], out: &mut Vec<u8>) {
    let width = sorted.iter().copied().map(width_for).max().unwrap_or(2);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for &v in sorted {
        match width {
            2 => out.extend_from_slice(&(v as i16).to_le_bytes()),
            4 => out.extend_from_slice(&(v as i32).to_le_bytes()),
            _ => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn widths_and_errors() {
        for vals in [vec![1i64, 100_000], vec![-1, 6_000_000_000]] {
            let mut out = Vec::new();
            encode(&vals, &mut out);
            let s = Intset::parse(&out).unwrap();
            assert_eq!(s.iter().collect::<Vec<_>>(), vals);
        }
        let mut out = Vec::new();
        encode(&[3, 2], &mut out);
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
