//! [`SlotSet`]: a set of cluster hash slots (a 16384-bit bitmap) with the service's text form `"0-3999,5000-5100"`.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use nom::bytes::complete::tag;
use nom::character::complete::{digit1, space0};
use nom::combinator::{cut, opt};
use nom::multi::separated_list1;
use nom::sequence::{preceded, terminated};
use nom::{IResult, Parser};

use crate::slot::{MAX_SLOT, SLOTS};

const WORDS: usize = SLOTS as usize / 64;

/// A set of hash slots `0..=16383`, stored as a 16384-bit bitmap.
///
/// Its text form ([`Display`](fmt::Display) / [`FromStr`]) is the one ElastiCache uses for `Slots`: comma-separated
/// ascending ranges, a single slot printed alone, e.g. `"0-3999,4005,5000-5100"`; the empty set prints as `""`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SlotSet {
    bits: [u64; WORDS],
}

impl Default for SlotSet {
    fn default() -> Self {
        Self::new()
    }
}

impl SlotSet {
    /// The empty set.
    pub const fn new() -> Self {
        Self { bits: [0; WORDS] }
    }

    /// The set of all 16384 slots.
    pub const fn full() -> Self {
        Self {
            bits: [u64::MAX; WORDS],
        }
    }

    /// The set holding the slots of `range`; slots above 16383 are ignored.
    pub fn from_range(range: RangeInclusive<u16>) -> Self {
        let mut set = Self::new();
        set.insert_range(range);
        set
    }

    /// Parses the text form (see [`FromStr`]); same as `text.parse()`.
    pub fn parse(text: &str) -> Result<Self, ParseSlotSetError> {
        text.parse()
    }

    /// Parses the text form like [`SlotSet::parse`], but two ranges that share a slot are an
    /// error naming the slot and the column of the later range (a `--topology` node group's
    /// ranges must be disjoint; `parse` merges them).
    pub fn parse_disjoint(text: &str) -> Result<Self, ParseSlotSetError> {
        let whole = Self::parse(text)?;
        // The text parsed, so its comma-separated pieces are the ranges, in order.
        let mut set = Self::new();
        let mut column = 1;
        for piece in text.split(',') {
            let lead = piece.chars().take_while(|c| c.is_whitespace()).count();
            let range = Self::parse(piece)?;
            if let Some(slot) = set.intersection(&range).min() {
                return Err(ParseSlotSetError {
                    column: column + lead,
                    problem: format!(
                        "slot {slot} is in two ranges (a node group's ranges must not overlap)"
                    ),
                });
            }
            set = set.union(&range);
            column += piece.chars().count() + 1;
        }
        debug_assert_eq!(set, whole);
        Ok(whole)
    }

    /// Whether `slot` is in the set (`false` for slots above 16383).
    #[inline]
    pub fn contains(&self, slot: u16) -> bool {
        self.bits
            .get(usize::from(slot / 64))
            .is_some_and(|w| w & (1u64 << (slot % 64)) != 0)
    }

    /// Adds `slot`; returns whether it was newly added. Slots above 16383 are ignored (returns `false`).
    #[inline]
    pub fn insert(&mut self, slot: u16) -> bool {
        match self.bits.get_mut(usize::from(slot / 64)) {
            Some(word) => {
                let mask = 1u64 << (slot % 64);
                let added = *word & mask == 0;
                *word |= mask;
                added
            }
            None => false,
        }
    }

    /// Removes `slot`; returns whether it was present.
    #[inline]
    pub fn remove(&mut self, slot: u16) -> bool {
        match self.bits.get_mut(usize::from(slot / 64)) {
            Some(word) => {
                let mask = 1u64 << (slot % 64);
                let present = *word & mask != 0;
                *word &= !mask;
                present
            }
            None => false,
        }
    }

    /// Adds every slot of `range` (word at a time). The part of the range above 16383 is ignored; an empty range
    /// (start > end) adds nothing.
    pub fn insert_range(&mut self, range: RangeInclusive<u16>) {
        let (start, end) = (*range.start(), (*range.end()).min(MAX_SLOT));
        if start > end {
            return;
        }
        let (first_word, last_word) = (usize::from(start / 64), usize::from(end / 64));
        for (index, word) in self
            .bits
            .iter_mut()
            .enumerate()
            .take(last_word + 1)
            .skip(first_word)
        {
            let low = if index == first_word { start % 64 } else { 0 };
            let high = if index == last_word { end % 64 } else { 63 };
            // bits low..=high set
            let mask = (u64::MAX >> (63 - high)) & (u64::MAX << low);
            *word |= mask;
        }
    }

    /// Number of slots in the set.
    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set holds no slot.
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|&w| w == 0)
    }

    /// Whether the set holds all 16384 slots.
    pub fn is_full(&self) -> bool {
        self.bits.iter().all(|&w| w == u64::MAX)
    }

    /// Slots in either set.
    pub fn union(&self, other: &SlotSet) -> SlotSet {
        self.zip_with(other, |a, b| a | b)
    }

    /// Slots in both sets.
    pub fn intersection(&self, other: &SlotSet) -> SlotSet {
        self.zip_with(other, |a, b| a & b)
    }

    /// Slots in `self` but not in `other`.
    pub fn difference(&self, other: &SlotSet) -> SlotSet {
        self.zip_with(other, |a, b| a & !b)
    }

    /// Slots of `0..=16383` not in the set.
    pub fn complement(&self) -> SlotSet {
        let mut out = self.clone();
        out.bits.iter_mut().for_each(|w| *w = !*w);
        out
    }

    /// Whether the two sets share no slot.
    pub fn is_disjoint(&self, other: &SlotSet) -> bool {
        self.bits
            .iter()
            .zip(other.bits.iter())
            .all(|(a, b)| a & b == 0)
    }

    /// Whether every slot of `self` is in `other`.
    pub fn is_subset(&self, other: &SlotSet) -> bool {
        self.bits
            .iter()
            .zip(other.bits.iter())
            .all(|(a, b)| a & !b == 0)
    }

    /// Smallest slot in the set, `None` when empty.
    pub fn min(&self) -> Option<u16> {
        self.next_set(0)
    }

    /// Largest slot in the set, `None` when empty.
    pub fn max(&self) -> Option<u16> {
        self.bits
            .iter()
            .enumerate()
            .rev()
            .find(|(_, &w)| w != 0)
            .map(|(i, w)| (i * 64 + 63 - w.leading_zeros() as usize) as u16)
    }

    /// The maximal runs of consecutive slots, ascending.
    pub fn ranges(&self) -> Ranges<'_> {
        Ranges { set: self, next: 0 }
    }

    /// Every slot in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.ranges().flatten()
    }

    fn zip_with(&self, other: &SlotSet, f: impl Fn(u64, u64) -> u64) -> SlotSet {
        let mut out = SlotSet::new();
        for ((o, a), b) in out
            .bits
            .iter_mut()
            .zip(self.bits.iter())
            .zip(other.bits.iter())
        {
            *o = f(*a, *b);
        }
        out
    }

    /// First slot `>= from` that is in the set.
    fn next_set(&self, from: u32) -> Option<u16> {
        self.next_matching(from, |w| w)
    }

    /// First slot `>= from` that is not in the set.
    fn next_clear(&self, from: u32) -> Option<u16> {
        self.next_matching(from, |w| !w)
    }

    fn next_matching(&self, from: u32, view: impl Fn(u64) -> u64) -> Option<u16> {
        let start_word = usize::try_from(from / 64).ok()?;
        let mut first = true;
        for (index, &word) in self.bits.iter().enumerate().skip(start_word) {
            let mut w = view(word);
            if first {
                w &= u64::MAX << (from % 64);
                first = false;
            }
            if w != 0 {
                return Some((index * 64 + w.trailing_zeros() as usize) as u16);
            }
        }
        None
    }
}

/// Iterator over the maximal ranges of a [`SlotSet`], from [`SlotSet::ranges`].
#[derive(Debug, Clone)]
pub struct Ranges<'a> {
    set: &'a SlotSet,
    next: u32,
}

impl Iterator for Ranges<'_> {
    type Item = RangeInclusive<u16>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.set.next_set(self.next)?;
        let end = match self.set.next_clear(u32::from(start)) {
            Some(clear) => clear - 1,
            None => MAX_SLOT,
        };
        self.next = u32::from(end) + 1;
        Some(start..=end)
    }
}

impl std::iter::FusedIterator for Ranges<'_> {}

impl FromIterator<u16> for SlotSet {
    fn from_iter<I: IntoIterator<Item = u16>>(iter: I) -> Self {
        let mut set = SlotSet::new();
        set.extend(iter);
        set
    }
}

impl Extend<u16> for SlotSet {
    fn extend<I: IntoIterator<Item = u16>>(&mut self, iter: I) {
        for slot in iter {
            self.insert(slot);
        }
    }
}

impl FromIterator<RangeInclusive<u16>> for SlotSet {
    fn from_iter<I: IntoIterator<Item = RangeInclusive<u16>>>(iter: I) -> Self {
        let mut set = SlotSet::new();
        for range in iter {
            set.insert_range(range);
        }
        set
    }
}

impl fmt::Display for SlotSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, range) in self.ranges().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if range.start() == range.end() {
                write!(f, "{}", range.start())?;
            } else {
                write!(f, "{}-{}", range.start(), range.end())?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SlotSet(\"{self}\")")
    }
}

/// Error from parsing a [`SlotSet`]: what is wrong and the 1-based column (in characters) where it starts.
///
/// Displays as e.g. `"slot 16384 out of range 0-16383 at column 6"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSlotSetError {
    column: usize,
    problem: String,
}

impl ParseSlotSetError {
    /// 1-based column (counted in characters) of the offending text; one past the end for "end of input" errors.
    pub fn column(&self) -> usize {
        self.column
    }

    /// The problem without the position, e.g. `"slot 16384 out of range 0-16383"`.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

impl fmt::Display for ParseSlotSetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at column {}", self.problem, self.column)
    }
}

impl std::error::Error for ParseSlotSetError {}

/// nom error carrying the remaining input (for the position) and, for semantic errors, the problem.
#[derive(Debug)]
struct PErr<'a> {
    input: &'a str,
    problem: Option<String>,
}

impl<'a> nom::error::ParseError<&'a str> for PErr<'a> {
    fn from_error_kind(input: &'a str, _kind: nom::error::ErrorKind) -> Self {
        PErr {
            input,
            problem: None,
        }
    }

    fn append(_input: &'a str, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

type PResult<'a, O> = IResult<&'a str, O, PErr<'a>>;

/// `slot = digit+` in 0..=16383.
fn slot(input: &str) -> PResult<'_, u16> {
    let (rest, digits) = digit1(input)?;
    match digits.parse::<u16>() {
        Ok(value) if value <= MAX_SLOT => Ok((rest, value)),
        _ => Err(nom::Err::Failure(PErr {
            input,
            problem: Some(format!("slot {digits} out of range 0-{MAX_SLOT}")),
        })),
    }
}

/// `range = slot ("-" slot)?` with start <= end.
fn range(input: &str) -> PResult<'_, RangeInclusive<u16>> {
    let (rest, start) = slot(input)?;
    let (rest, end) = opt(preceded(tag("-"), cut(slot))).parse(rest)?;
    let end = end.unwrap_or(start);
    if start > end {
        return Err(nom::Err::Failure(PErr {
            input,
            problem: Some(format!("range {start}-{end} has its start after its end")),
        }));
    }
    Ok((rest, start..=end))
}

/// `ranges = range ("," range)*`, spaces allowed around commas and around the whole list; empty text = empty set.
fn ranges(input: &str) -> PResult<'_, Vec<RangeInclusive<u16>>> {
    let (rest, _) = space0(input)?;
    if rest.is_empty() {
        return Ok((rest, Vec::new()));
    }
    terminated(
        separated_list1((space0, tag(","), space0), cut(range)),
        space0,
    )
    .parse(rest)
}

impl FromStr for SlotSet {
    type Err = ParseSlotSetError;

    /// Parses `range ("," range)*` where `range = slot ("-" slot)?`, slots `0..=16383`, start <= end; spaces are
    /// allowed around commas and at both ends; overlapping ranges are merged; empty (or blank) text is the empty
    /// set.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let column_of = |rest: &str| {
            let consumed = text
                .get(..text.len().saturating_sub(rest.len()))
                .unwrap_or("");
            consumed.chars().count() + 1
        };
        match ranges(text) {
            Ok(("", found)) => Ok(found.into_iter().collect()),
            Ok((rest, _)) => {
                let problem = match rest.chars().next() {
                    Some(c) => format!("unexpected character {c:?}"),
                    None => "unexpected end of input".to_owned(),
                };
                Err(ParseSlotSetError {
                    column: column_of(rest),
                    problem,
                })
            }
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
                let problem = e.problem.unwrap_or_else(|| match e.input.chars().next() {
                    Some(c) => format!("expected a slot number, found {c:?}"),
                    None => "expected a slot number, found the end of the text".to_owned(),
                });
                Err(ParseSlotSetError {
                    column: column_of(e.input),
                    problem,
                })
            }
            Err(nom::Err::Incomplete(_)) => Err(ParseSlotSetError {
                column: text.chars().count() + 1,
                problem: "unexpected end of input".to_owned(),
            }),
        }
    }
}

impl serde::Serialize for SlotSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SlotSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// Reference: the set as sorted slots, printed with a naive run finder.
    fn naive_text(slots: &BTreeSet<u16>) -> String {
        let mut parts = Vec::new();
        let mut iter = slots.iter().copied().peekable();
        while let Some(start) = iter.next() {
            let mut end = start;
            while iter.peek() == Some(&(end + 1)) {
                end += 1;
                iter.next();
            }
            parts.push(if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            });
        }
        parts.join(",")
    }

    fn err(text: &str) -> String {
        SlotSet::parse(text).expect_err(text).to_string()
    }

    #[test]
    fn display_forms() {
        assert_eq!(SlotSet::new().to_string(), "");
        assert_eq!(SlotSet::full().to_string(), "0-16383");
        let mut s = SlotSet::new();
        s.insert(7);
        assert_eq!(s.to_string(), "7");
        s.insert_range(0..=3999);
        s.insert_range(5000..=5100);
        assert_eq!(s.to_string(), "0-3999,5000-5100");
        s.insert(16383);
        s.insert(63);
        assert_eq!(s.to_string(), "0-3999,5000-5100,16383");
        assert_eq!(format!("{s:?}"), "SlotSet(\"0-3999,5000-5100,16383\")");
    }

    #[test]
    fn basic_ops() {
        let mut s = SlotSet::new();
        assert!(s.is_empty());
        assert_eq!((s.min(), s.max(), s.len()), (None, None, 0));
        assert!(s.insert(100));
        assert!(!s.insert(100));
        assert!(!s.insert(16384));
        assert!(!s.contains(16384));
        assert!(s.contains(100) && !s.contains(99) && !s.contains(101));
        s.insert_range(64..=127);
        assert_eq!((s.min(), s.max(), s.len()), (Some(64), Some(127), 64));
        s.insert_range(16000..=u16::MAX);
        assert_eq!(s.max(), Some(16383));
        assert_eq!(s.len(), 64 + 384);
        assert!(s.remove(64) && !s.remove(64));
        assert_eq!(s.min(), Some(65));
        let (hi, lo) = (10, 5);
        s.insert_range(hi..=lo);
        assert_eq!(s.min(), Some(65));
        assert!(SlotSet::full().is_full() && SlotSet::full().len() == 16384);
        assert_eq!(SlotSet::full().complement(), SlotSet::new());
    }

    #[test]
    fn set_algebra() {
        let a = SlotSet::parse("0-99,200-299").unwrap();
        let b = SlotSet::parse("50-249").unwrap();
        assert_eq!(a.union(&b).to_string(), "0-299");
        assert_eq!(a.intersection(&b).to_string(), "50-99,200-249");
        assert_eq!(a.difference(&b).to_string(), "0-49,250-299");
        assert_eq!(a.complement().to_string(), "100-199,300-16383");
        assert!(!a.is_disjoint(&b));
        assert!(a.intersection(&b).is_subset(&a));
        assert!(!b.is_subset(&a));
    }

    #[test]
    fn parse_accepts() {
        assert_eq!(SlotSet::parse("").unwrap(), SlotSet::new());
        assert_eq!(SlotSet::parse("  ").unwrap(), SlotSet::new());
        assert_eq!(SlotSet::parse("0-16383").unwrap(), SlotSet::full());
        assert_eq!(
            SlotSet::parse("0-3999 , 5000-5100,4500")
                .unwrap()
                .to_string(),
            "0-3999,4500,5000-5100"
        );
        assert_eq!(SlotSet::parse(" 5 ").unwrap().to_string(), "5");
        assert_eq!(SlotSet::parse("5-5").unwrap().to_string(), "5");
        assert_eq!(SlotSet::parse("10-20,15-30").unwrap().to_string(), "10-30");
        assert_eq!(SlotSet::parse("0007").unwrap().to_string(), "7");
        let s: SlotSet = "1,2,3".parse().unwrap();
        assert_eq!(s.to_string(), "1-3");
    }

    #[test]
    fn parse_errors_name_position_and_problem() {
        assert_eq!(
            err("0-10,16384"),
            "slot 16384 out of range 0-16383 at column 6"
        );
        assert_eq!(
            err("0-16384"),
            "slot 16384 out of range 0-16383 at column 3"
        );
        assert_eq!(
            err("99999999999999999999"),
            "slot 99999999999999999999 out of range 0-16383 at column 1"
        );
        assert_eq!(
            err("1,10-5"),
            "range 10-5 has its start after its end at column 3"
        );
        assert_eq!(
            err("1-"),
            "expected a slot number, found the end of the text at column 3"
        );
        assert_eq!(
            err("1,"),
            "expected a slot number, found the end of the text at column 3"
        );
        assert_eq!(err("1, x"), "expected a slot number, found 'x' at column 4");
        assert_eq!(err("-1"), "expected a slot number, found '-' at column 1");
        assert_eq!(err("1-2-3"), "unexpected character '-' at column 4");
        assert_eq!(err("1 2"), "unexpected character '2' at column 3");
        assert_eq!(err("1 - 2"), "unexpected character '-' at column 3");
        assert_eq!(err("1;2"), "unexpected character ';' at column 2");
        assert_eq!(err("1,,2"), "expected a slot number, found ',' at column 3");
        assert_eq!(
            err("é,99999"),
            "expected a slot number, found 'é' at column 1"
        );
        assert_eq!(err("1,é"), "expected a slot number, found 'é' at column 3");
        let e = SlotSet::parse("5-70000").unwrap_err();
        assert_eq!(
            (e.column(), e.problem()),
            (3, "slot 70000 out of range 0-16383")
        );
    }

    #[test]
    fn overlaps_name_the_column_of_the_later_range() {
        let at = |text: &str| SlotSet::parse_disjoint(text).unwrap_err().column();
        // The column of the range that repeats a slot, wherever it stands (the spaces before
        // it skipped).
        assert_eq!(at("0-10,5"), 6);
        assert_eq!(at("0-10,20-30,25-40"), 12);
        assert_eq!(at("0-10, 20-30,  25-40,50"), 15);
        assert_eq!(at("1,2,3,4,5,3"), 11);
        assert_eq!(
            SlotSet::parse_disjoint("0-10,20-30,25-40")
                .unwrap_err()
                .to_string(),
            "slot 25 is in two ranges (a node group's ranges must not overlap) at column 12"
        );
        assert_eq!(
            SlotSet::parse_disjoint("0-10,20-30,31-40").unwrap(),
            SlotSet::parse("0-10,20-40").unwrap()
        );
    }

    #[test]
    fn serde_as_string() {
        let s = SlotSet::parse("0-10,20").unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"0-10,20\"");
        assert_eq!(serde_json::from_str::<SlotSet>(&json).unwrap(), s);
        let bad = serde_json::from_str::<SlotSet>("\"0-16384\"").unwrap_err();
        assert!(bad.to_string().contains("out of range"), "{bad}");
    }

    fn arb_slots() -> impl Strategy<Value = BTreeSet<u16>> {
        prop_oneof![
            proptest::collection::btree_set(0u16..16384, 0..200),
            // clustered slots, to get long runs and word boundaries
            proptest::collection::vec((0u16..16384, 0u16..300), 0..20).prop_map(|runs| {
                runs.into_iter()
                    .flat_map(|(s, n)| (s..=s.saturating_add(n).min(16383)).collect::<Vec<_>>())
                    .collect()
            }),
        ]
    }

    proptest! {
        #[test]
        fn matches_reference_model(slots in arb_slots()) {
            let set: SlotSet = slots.iter().copied().collect();
            prop_assert_eq!(set.len(), slots.len());
            prop_assert_eq!(set.is_empty(), slots.is_empty());
            prop_assert_eq!(set.min(), slots.first().copied());
            prop_assert_eq!(set.max(), slots.last().copied());
            prop_assert_eq!(set.iter().collect::<Vec<_>>(), slots.iter().copied().collect::<Vec<_>>());
            prop_assert_eq!(set.to_string(), naive_text(&slots));
            for probe in [0u16, 1, 63, 64, 8191, 16383] {
                prop_assert_eq!(set.contains(probe), slots.contains(&probe));
            }
        }

        #[test]
        fn text_round_trip(slots in arb_slots()) {
            let set: SlotSet = slots.iter().copied().collect();
            let text = set.to_string();
            let back = SlotSet::parse(&text).unwrap();
            prop_assert_eq!(&back, &set);
            prop_assert_eq!(back.to_string(), text);
        }

        #[test]
        fn insert_range_matches_per_slot(start in 0u16..16384, len in 0u16..2000) {
            let end = start.saturating_add(len).min(16383);
            let fast = SlotSet::from_range(start..=end);
            let slow: SlotSet = (start..=end).collect();
            prop_assert_eq!(&fast, &slow);
            prop_assert_eq!(fast.ranges().collect::<Vec<_>>(), vec![start..=end]);
        }

        #[test]
        fn algebra_matches_model(a in arb_slots(), b in arb_slots()) {
            let (sa, sb): (SlotSet, SlotSet) = (a.iter().copied().collect(), b.iter().copied().collect());
            let union: BTreeSet<u16> = a.union(&b).copied().collect();
            let inter: BTreeSet<u16> = a.intersection(&b).copied().collect();
            prop_assert_eq!(sa.union(&sb).to_string(), naive_text(&union));
            prop_assert_eq!(sa.intersection(&sb).to_string(), naive_text(&inter));
            prop_assert_eq!(sa.is_disjoint(&sb), inter.is_empty());
            prop_assert_eq!(sa.complement().len(), 16384 - a.len());
        }
    }
}
