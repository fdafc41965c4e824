//! LZF (liblzf) compression as used by RDB string encoding `C3` (format reference §2.2, §5.2).
//!
//! # Stream format
//!
//! A compressed stream is a sequence of tokens, each starting with a control byte `ctrl`:
//!
//! | `ctrl`                     | operands              | output                                                 |
//! |----------------------------|-----------------------|--------------------------------------------------------|
//! | `000LLLLL` (0x00–0x1F)     | `L + 1` literal bytes | the literal bytes (1–32)                               |
//! | `LLLooooo`, `LLL` = 1…6    | `o2`                  | `LLL + 2` bytes (3–8) copied from `distance` back       |
//! | `111ooooo`                 | `extra`, `o2`         | `7 + extra + 2` bytes (9–264) copied from `distance` back |
//!
//! with `distance = ((ooooo << 8) | o2) + 1` (1–8192). Copies may overlap the bytes being
//! produced (distance 1 repeats the previous byte).
//!
//! # Maximum expansion
//!
//! The largest output per input byte comes from a long back-reference: 3 input bytes produce
//! 264 output bytes, a ratio of **88** ([`MAX_EXPANSION`]). A short back-reference gives at most
//! 8 / 2 = 4 and a literal run less than 1. Hence no valid stream of `n` compressed bytes can
//! decode to more than `88 × n` bytes (the true maximum is slightly lower, since the first token
//! must be a literal run), and [`decompress`] / [`validate`] reject a larger declared length up
//! front with [`LzfError::ImpossibleExpansion`] before reserving anything.
//!
//! # Contents
//!
//! * [`decompress`]: decode a whole compressed string into a `Vec`.
//! * [`validate`]: the same checks without producing output (for the verifier).
//! * [`StreamDecoder`]: decode a huge string fed in arbitrary chunks, in O(1) memory.
//! * [`Compressor`]: greedy hash-chain-free compressor with a reusable table (liblzf style,
//!   with LZ4-style acceleration through incompressible data).

use std::fmt;

/// Longest literal run of one token (bytes).
pub const MAX_LITERAL: usize = 32;
/// Shortest back-reference (bytes).
pub const MIN_MATCH: usize = 3;
/// Longest back-reference (bytes).
pub const MAX_MATCH: usize = 264;
/// Longest back-reference distance (bytes); also the history window a decoder must keep.
pub const MAX_DISTANCE: usize = 8192;
/// Largest ratio `decompressed_len / compressed_len` any valid LZF stream can reach (264 / 3).
pub const MAX_EXPANSION: u64 = 88;

/// Returns the largest decompressed length a valid stream of `compressed_len` bytes can have
/// (`compressed_len × 88`, saturating).
#[must_use]
pub const fn max_decompressed_len(compressed_len: u64) -> u64 {
    compressed_len.saturating_mul(MAX_EXPANSION)
}

/// An LZF decoding error. Offsets are byte offsets in the **compressed** input (for
/// [`StreamDecoder`], counted from the first byte ever fed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LzfError {
    /// The declared decompressed length exceeds `88 ×` the compressed length: no valid LZF
    /// stream of that size can produce it (checked before decoding; the offset is 0).
    ImpossibleExpansion {
        /// Length of the compressed input.
        compressed_len: u64,
        /// Declared decompressed length.
        expected_len: u64,
    },
    /// A literal run or a back-reference operand extends past the end of the input.
    Truncated {
        /// Offset of the control byte of the incomplete token.
        offset: u64,
    },
    /// A back-reference points before the start of the output.
    BackrefBeforeStart {
        /// Offset of the control byte of the back-reference.
        offset: u64,
        /// Distance of the back-reference (1–8192).
        distance: u32,
        /// Bytes produced before this token.
        produced: u64,
    },
    /// A token would make the output longer than the declared length.
    OutputOverflow {
        /// Offset of the control byte of the token.
        offset: u64,
        /// Bytes the token would produce.
        token_len: u32,
        /// Bytes produced before this token.
        produced: u64,
        /// Declared decompressed length.
        expected_len: u64,
    },
    /// The input ended before the declared length was produced.
    OutputTooShort {
        /// Offset of the end of the input (its length).
        offset: u64,
        /// Bytes produced.
        produced: u64,
        /// Declared decompressed length.
        expected_len: u64,
    },
}

impl LzfError {
    /// Byte offset in the compressed input where decoding failed (0 for
    /// [`LzfError::ImpossibleExpansion`], the input length for [`LzfError::OutputTooShort`]).
    #[must_use]
    pub fn offset(&self) -> u64 {
        match *self {
            Self::ImpossibleExpansion { .. } => 0,
            Self::Truncated { offset }
            | Self::BackrefBeforeStart { offset, .. }
            | Self::OutputOverflow { offset, .. }
            | Self::OutputTooShort { offset, .. } => offset,
        }
    }
}

impl fmt::Display for LzfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ImpossibleExpansion {
                compressed_len,
                expected_len,
            } => write!(
                f,
                "LZF: declared length {expected_len} is impossible for {compressed_len} \
                 compressed bytes (max expansion {MAX_EXPANSION}x)"
            ),
            Self::Truncated { offset } => write!(
                f,
                "LZF: token at compressed offset {offset} extends past the end of the input"
            ),
            Self::BackrefBeforeStart {
                offset,
                distance,
                produced,
            } => write!(
                f,
                "LZF: back-reference at compressed offset {offset} has distance {distance} \
                 but only {produced} bytes were produced"
            ),
            Self::OutputOverflow {
                offset,
                token_len,
                produced,
                expected_len,
            } => write!(
                f,
                "LZF: token at compressed offset {offset} ({token_len} bytes after {produced}) \
                 exceeds the declared length {expected_len}"
            ),
            Self::OutputTooShort {
                offset,
                produced,
                expected_len,
            } => write!(
                f,
                "LZF: input ended at compressed offset {offset} after {produced} of \
                 {expected_len} declared bytes"
            ),
        }
    }
}

impl std::error::Error for LzfError {}

/// Widens a `usize` to `u64` (lossless on every supported target).
#[inline]
fn wide(n: usize) -> u64 {
    n as u64
}

/// Where decoded tokens go: a `Vec` for [`decompress`], nowhere for [`validate`].
trait Output {
    /// Appends the literal run `src[..n]` (`src` is the rest of the input from the run on;
    /// `n <= src.len()`, `n <= 32`).
    fn literal(&mut self, src: &[u8], n: usize);
    /// Appends a back-reference; the caller has checked `distance <= produced`.
    fn backref(&mut self, distance: usize, len: usize);
}

/// Length-only output of [`validate`].
struct Discard;

impl Output for Discard {
    #[inline(always)]
    fn literal(&mut self, _src: &[u8], _n: usize) {}
    #[inline(always)]
    fn backref(&mut self, _distance: usize, _len: usize) {}
}

/// Bytes [`SliceOut`] may write past the end of a token (and so past `expected_len`).
const DECODE_SLACK: usize = 32;

/// Output of [`decompress`]: a pre-sized (zero-filled) slice of `expected_len` + [`DECODE_SLACK`]
/// bytes, written front to back (cheaper than growing a `Vec` token by token).
///
/// Copies are done in fixed-size blocks that may run past the token's end ("wild copies": one
/// 32-byte move per literal run, 8-byte moves per back-reference), since the bytes past the
/// end are overwritten by the next tokens or cut off with the slack. Nothing is ever read
/// from beyond the bytes produced so far.
struct SliceOut<'a> {
    /// The destination, `expected_len + DECODE_SLACK` bytes long.
    buf: &'a mut [u8],
    /// Bytes written so far.
    pos: usize,
}

impl Output for SliceOut<'_> {
    #[inline(always)]
    fn literal(&mut self, src: &[u8], n: usize) {
        let end = self.pos + n;
        let block: Option<&[u8; DECODE_SLACK]> =
            src.get(..DECODE_SLACK).and_then(|b| b.try_into().ok());
        let dst: Option<&mut [u8; DECODE_SLACK]> = self
            .buf
            .get_mut(self.pos..self.pos + DECODE_SLACK)
            .and_then(|d| d.try_into().ok());
        if let (Some(dst), Some(block)) = (dst, block) {
            *dst = *block;
        } else if let (Some(dst), Some(run)) = (self.buf.get_mut(self.pos..end), src.get(..n)) {
            dst.copy_from_slice(run);
        }
        self.pos = end;
    }
    #[inline(always)]
    fn backref(&mut self, distance: usize, len: usize) {
        let end = self.pos + len;
        let Some(from) = self.pos.checked_sub(distance) else {
            self.pos = end;
            return;
        };
        if distance >= 8 && end + 8 <= self.buf.len() {
            // Each 8-byte block reads bytes at least 8 before the ones it writes, all of them
            // already produced (the earlier blocks included).
            let mut at = self.pos;
            while at < end {
                let block: Option<[u8; 8]> = self
                    .buf
                    .get(at - distance..at - distance + 8)
                    .and_then(|b| b.try_into().ok());
                let dst: Option<&mut [u8; 8]> =
                    self.buf.get_mut(at..at + 8).and_then(|d| d.try_into().ok());
                if let (Some(dst), Some(block)) = (dst, block) {
                    *dst = block;
                }
                at += 8;
            }
        } else if let Some(window) = self.buf.get_mut(from..end) {
            copy_in_window(window, distance);
        }
        self.pos = end;
    }
}

/// Fills `window[distance..]` from `window[..distance]` with LZF's byte-by-byte overlap
/// semantics (the result is periodic with period `distance`).
#[inline(always)]
fn copy_in_window(window: &mut [u8], distance: usize) {
    let total = window.len();
    if distance == 1 {
        if let Some((first, rest)) = window.split_first_mut() {
            rest.fill(*first);
        }
        return;
    }
    let mut filled = distance;
    while filled < total {
        // `filled` is a multiple of `distance` until the last round, so copying the prefix
        // continues the period.
        let n = filled.min(total - filled);
        window.copy_within(0..n, filled);
        filled += n;
    }
}

/// Appends `len` bytes copied from `distance` bytes before the end of `buf`, with LZF's
/// byte-by-byte overlap semantics. Does nothing if `distance` is 0 or exceeds `buf.len()`
/// (callers check this beforehand).
#[inline]
fn copy_backref(buf: &mut Vec<u8>, distance: usize, len: usize) {
    let Some(from) = buf.len().checked_sub(distance) else {
        return;
    };
    if distance == 0 {
        return;
    }
    if distance >= len {
        buf.extend_from_within(from..from + len);
    } else if distance == 1 {
        if let Some(&b) = buf.last() {
            buf.resize(buf.len() + len, b);
        }
    } else {
        // The bytes from `from` on are periodic with period `distance`, so copying the whole
        // already-produced tail from `from` repeatedly doubles the copied amount each round.
        let mut remaining = len;
        while remaining > 0 {
            let n = (buf.len() - from).min(remaining);
            buf.extend_from_within(from..from + n);
            remaining -= n;
        }
    }
}

/// Checks the declared length against the maximum expansion.
#[inline]
fn check_expansion(compressed_len: usize, expected_len: usize) -> Result<(), LzfError> {
    if wide(expected_len) > max_decompressed_len(wide(compressed_len)) {
        return Err(LzfError::ImpossibleExpansion {
            compressed_len: wide(compressed_len),
            expected_len: wide(expected_len),
        });
    }
    Ok(())
}

/// The decoding loop shared by [`decompress`] and [`validate`]; all checks live here.
#[inline(always)]
fn decode<O: Output>(input: &[u8], expected_len: usize, out: &mut O) -> Result<(), LzfError> {
    let mut rest = input;
    let mut produced: usize = 0;
    while let Some((&ctrl, tail)) = rest.split_first() {
        let offset = input.len() - rest.len();
        let room = expected_len - produced;
        if ctrl < 0x20 {
            let n = usize::from(ctrl) + 1;
            if n > room {
                return Err(overflow(offset, n, produced, expected_len));
            }
            let Some((_, after)) = tail.split_at_checked(n) else {
                return Err(LzfError::Truncated {
                    offset: wide(offset),
                });
            };
            out.literal(tail, n);
            produced += n;
            rest = after;
        } else {
            let (len, low, tail) = if ctrl >= 0xE0 {
                match tail {
                    [extra, low, tail @ ..] => (usize::from(*extra) + 9, *low, tail),
                    _ => {
                        return Err(LzfError::Truncated {
                            offset: wide(offset),
                        })
                    }
                }
            } else {
                match tail {
                    [low, tail @ ..] => (usize::from(ctrl >> 5) + 2, *low, tail),
                    _ => {
                        return Err(LzfError::Truncated {
                            offset: wide(offset),
                        })
                    }
                }
            };
            let distance = ((usize::from(ctrl & 0x1F) << 8) | usize::from(low)) + 1;
            if distance > produced {
                return Err(before_start(offset, distance, produced));
            }
            if len > room {
                return Err(overflow(offset, len, produced, expected_len));
            }
            out.backref(distance, len);
            produced += len;
            rest = tail;
        }
    }
    if produced != expected_len {
        return Err(LzfError::OutputTooShort {
            offset: wide(input.len()),
            produced: wide(produced),
            expected_len: wide(expected_len),
        });
    }
    Ok(())
}

/// Builds [`LzfError::OutputOverflow`].
#[cold]
fn overflow(offset: usize, token_len: usize, produced: usize, expected_len: usize) -> LzfError {
    LzfError::OutputOverflow {
        offset: wide(offset),
        token_len: u32::try_from(token_len).unwrap_or(u32::MAX),
        produced: wide(produced),
        expected_len: wide(expected_len),
    }
}

/// Builds [`LzfError::BackrefBeforeStart`].
#[cold]
fn before_start(offset: usize, distance: usize, produced: usize) -> LzfError {
    LzfError::BackrefBeforeStart {
        offset: wide(offset),
        distance: u32::try_from(distance).unwrap_or(u32::MAX),
        produced: wide(produced),
    }
}

/// Decompresses `input` and appends exactly `expected_len` bytes to `out`.
///
/// Fails if a literal run or operand reads past the input, a back-reference points before the
/// first byte appended by this call, the output would exceed `expected_len`, or the input ends
/// before `expected_len` bytes were produced; also, up front, if `expected_len` exceeds
/// [`max_decompressed_len`]`(input.len())`. On error `out` is truncated back to its original
/// length.
///
/// `out` grows by exactly `expected_len` bytes (allocated up front, zero-filled, then
/// overwritten; an output over 1 MiB only once `input` is known valid); callers must check
/// `expected_len` against their
/// own memory limits before calling (the expansion check bounds it by `88 × input.len()`).
pub fn decompress(input: &[u8], out: &mut Vec<u8>, expected_len: usize) -> Result<(), LzfError> {
    check_expansion(input.len(), expected_len)?;
    validate_before_large_output(input, expected_len)?;
    let start = out.len();
    out.resize(start + expected_len + DECODE_SLACK, 0);
    let result = match out.get_mut(start..) {
        Some(buf) => decode(input, expected_len, &mut SliceOut { buf, pos: 0 }),
        None => Ok(()),
    };
    out.truncate(if result.is_ok() {
        start + expected_len
    } else {
        start
    });
    result
}

/// Decompresses `input` into the front of `buf`, a buffer reused from call to call: on success
/// `buf[..expected_len]` holds exactly the output (what lies past it is unspecified).
///
/// The same checks and errors as [`decompress`], which appends to its `Vec` and so zero-fills
/// the output's room on every call; here `buf` only grows (zero-filled when it does), so a
/// buffer reused for many small values is not cleared again each time. The decoder never reads
/// a byte it has not produced in this call, so what earlier calls left in `buf` cannot leak into
/// the output. Callers must check `expected_len` against their own memory limits (as for
/// [`decompress`]).
pub fn decompress_reusing(
    input: &[u8],
    buf: &mut Vec<u8>,
    expected_len: usize,
) -> Result<(), LzfError> {
    check_expansion(input.len(), expected_len)?;
    validate_before_large_output(input, expected_len)?;
    let room = expected_len + DECODE_SLACK;
    if buf.len() < room {
        buf.resize(room, 0);
    }
    match buf.get_mut(..room) {
        Some(buf) => decode(input, expected_len, &mut SliceOut { buf, pos: 0 }),
        // Not reached (the buffer was just grown), but never an `Ok` without the output.
        None => Err(LzfError::OutputTooShort {
            offset: wide(input.len()),
            produced: 0,
            expected_len: wide(expected_len),
        }),
    }
}

/// Output sizes from which a stream is validated ([`validate`], no allocation) before its
/// output is allocated: a few MB of hostile input declaring (within the 88× expansion bound)
/// hundreds of MB of output, invalid at its first token, then fails without touching that
/// memory. Valid large outputs pay one extra pass over the input; small ones (blobs, most
/// strings) none.
const VALIDATE_FIRST: usize = 1 << 20;

fn validate_before_large_output(input: &[u8], expected_len: usize) -> Result<(), LzfError> {
    if expected_len > VALIDATE_FIRST {
        validate(input, expected_len)?;
    }
    Ok(())
}

/// Checks that `input` is a valid LZF stream decoding to exactly `expected_len` bytes, with the
/// same checks and the same errors as [`decompress`], without producing any output.
pub fn validate(input: &[u8], expected_len: usize) -> Result<(), LzfError> {
    check_expansion(input.len(), expected_len)?;
    decode(input, expected_len, &mut Discard)
}

/// Bytes of decoded output staged before they are handed to the sink (on top of the window).
const STAGE: usize = 32 * 1024;

/// Where a chunk-fed walk ([`StreamDecoder`], [`crate::lzf_validate::StreamValidator`]) is
/// inside a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Expecting a control byte.
    Ctrl,
    /// Inside a literal run; this many literal bytes are still to come.
    Literal(u64),
    /// Long back-reference: expecting the `extra` length byte.
    LongLen {
        /// Distance high bits (`ctrl & 0x1F`).
        high: u8,
    },
    /// Back-reference: expecting the low distance byte.
    Low {
        /// Total back-reference length (3–264).
        len: u64,
        /// Distance high bits (`ctrl & 0x1F`).
        high: u8,
    },
}

/// A back-reference whose header a [`Walk`] has read whole, already checked against the
/// start of the output and the declared length (the walk is back at [`State::Ctrl`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backref {
    /// Bytes to copy (3–264).
    pub(crate) len: u64,
    /// How far back (1–8192).
    pub(crate) distance: u64,
}

/// The counts and token state of a chunk-fed LZF walk, with the checks the decoder and the
/// validator share: both report the same errors at the same offsets because both take them
/// from here.
#[derive(Debug, Clone)]
pub(crate) struct Walk {
    /// Declared decompressed length.
    pub(crate) expected_len: u64,
    /// Bytes produced so far.
    pub(crate) produced: u64,
    /// Compressed bytes consumed so far.
    pub(crate) consumed: u64,
    /// Offset of the control byte of the current token.
    pub(crate) token_offset: u64,
    /// Position inside the current token.
    pub(crate) state: State,
}

impl Walk {
    /// A walk at the start of a string of declared length `expected_len`.
    pub(crate) fn new(expected_len: u64) -> Self {
        Walk {
            expected_len,
            produced: 0,
            consumed: 0,
            token_offset: 0,
            state: State::Ctrl,
        }
    }

    /// Fails if a token of `len` bytes (starting at `token_offset`) would exceed the declared
    /// length.
    #[inline(always)]
    pub(crate) fn check_room(&self, len: u64) -> Result<(), LzfError> {
        if len > self.expected_len - self.produced {
            return Err(LzfError::OutputOverflow {
                offset: self.token_offset,
                token_len: u32::try_from(len).unwrap_or(u32::MAX),
                produced: self.produced,
                expected_len: self.expected_len,
            });
        }
        Ok(())
    }

    /// Checks a back-reference of `len` bytes, distance `((high << 8) | low) + 1`, against the
    /// output so far and the declared length; returns the distance.
    #[inline(always)]
    pub(crate) fn check_backref(&self, high: u8, low: u8, len: u64) -> Result<u64, LzfError> {
        let distance = ((u64::from(high) << 8) | u64::from(low)) + 1;
        if distance > self.produced {
            return Err(LzfError::BackrefBeforeStart {
                offset: self.token_offset,
                distance: u32::try_from(distance).unwrap_or(u32::MAX),
                produced: self.produced,
            });
        }
        self.check_room(len)?;
        Ok(distance)
    }

    /// Reads the next byte of a token's header from the front of `rest` (nothing when the walk
    /// is inside a literal run, whose bytes the caller copies or skips, or `rest` is empty).
    /// A control byte that starts a literal run leaves the walk in [`State::Literal`], its room
    /// checked; the byte that completes a back-reference returns it, checked, for the caller to
    /// copy or count and add to `produced`.
    #[inline]
    pub(crate) fn header_byte(&mut self, rest: &mut &[u8]) -> Result<Option<Backref>, LzfError> {
        if let State::Literal(_) = self.state {
            return Ok(None);
        }
        let Some((&byte, tail)) = rest.split_first() else {
            return Ok(None);
        };
        *rest = tail;
        if self.state == State::Ctrl {
            self.token_offset = self.consumed;
        }
        self.consumed += 1;
        match self.state {
            State::Ctrl if byte < 0x20 => {
                let n = u64::from(byte) + 1;
                self.check_room(n)?;
                self.state = State::Literal(n);
                Ok(None)
            }
            State::Ctrl if byte >= 0xE0 => {
                self.state = State::LongLen { high: byte & 0x1F };
                Ok(None)
            }
            State::Ctrl => {
                self.state = State::Low {
                    len: u64::from(byte >> 5) + 2,
                    high: byte & 0x1F,
                };
                Ok(None)
            }
            State::LongLen { high } => {
                self.state = State::Low {
                    len: u64::from(byte) + 9,
                    high,
                };
                Ok(None)
            }
            State::Low { len, high } => {
                let distance = self.check_backref(high, byte, len)?;
                self.state = State::Ctrl;
                Ok(Some(Backref { len, distance }))
            }
            State::Literal(_) => Ok(None),
        }
    }

    /// Checks that the input ended on a token boundary and that exactly the declared length
    /// was produced.
    pub(crate) fn finish(&self) -> Result<(), LzfError> {
        if self.state != State::Ctrl {
            return Err(LzfError::Truncated {
                offset: self.token_offset,
            });
        }
        if self.produced != self.expected_len {
            return Err(LzfError::OutputTooShort {
                offset: self.consumed,
                produced: self.produced,
                expected_len: self.expected_len,
            });
        }
        Ok(())
    }
}

/// Incremental LZF decoder for strings too large to hold in memory.
///
/// Compressed input is fed in chunks of any size (down to single bytes, token boundaries do not
/// matter); the decoded bytes are passed to a sink. The decoder keeps only the last 8 KiB of
/// output (the largest back-reference distance) plus at most 32 KiB of staged output and the
/// state of a partially received token, so memory is O(1) in the string size. It applies the
/// same checks as [`decompress`] and reports the same errors with the same offsets, except
/// [`LzfError::ImpossibleExpansion`] (it does not know the compressed length: callers that do
/// should compare it with [`max_decompressed_len`] themselves).
///
/// All output decodable from the bytes fed so far has been passed to the sink when
/// [`feed`](StreamDecoder::feed) returns. After an error, every later call returns that error.
#[derive(Debug, Clone)]
pub struct StreamDecoder {
    /// Counts, the current token's offset and the state inside it.
    walk: Walk,
    /// The last (up to) 8 KiB of output followed by output not yet given to the sink.
    buf: Vec<u8>,
    /// Index in `buf` of the first byte not yet given to the sink.
    unflushed: usize,
    /// The first error met, returned again by every later call.
    error: Option<LzfError>,
}

impl StreamDecoder {
    /// Creates a decoder for a string whose declared decompressed length is `expected_len`.
    #[must_use]
    pub fn new(expected_len: u64) -> Self {
        Self {
            walk: Walk::new(expected_len),
            buf: Vec::new(),
            unflushed: 0,
            error: None,
        }
    }

    /// Bytes of output produced so far.
    #[must_use]
    pub fn produced(&self) -> u64 {
        self.walk.produced
    }

    /// Bytes of compressed input consumed so far.
    #[must_use]
    pub fn consumed(&self) -> u64 {
        self.walk.consumed
    }

    /// Decodes `chunk` (the next bytes of the compressed string) and passes the output to
    /// `sink`, in one or more calls.
    pub fn feed(&mut self, chunk: &[u8], sink: &mut impl FnMut(&[u8])) -> Result<(), LzfError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let result = self.feed_inner(chunk, sink);
        self.flush(sink);
        if let Err(e) = result {
            self.error = Some(e);
        }
        result
    }

    /// Checks that the input ended on a token boundary and that exactly the declared length
    /// was produced.
    pub fn finish(self) -> Result<(), LzfError> {
        match self.error {
            Some(e) => Err(e),
            None => self.walk.finish(),
        }
    }

    /// The token walk; output is staged in `buf`.
    fn feed_inner(&mut self, chunk: &[u8], sink: &mut impl FnMut(&[u8])) -> Result<(), LzfError> {
        let mut rest = chunk;
        while !rest.is_empty() {
            if let State::Literal(remaining) = self.walk.state {
                // `take` ≤ 32: the run's bytes that this chunk holds.
                let take = remaining.min(wide(rest.len())) as usize;
                let Some((lit, tail)) = rest.split_at_checked(take) else {
                    return Ok(());
                };
                rest = tail;
                self.make_room(lit.len(), sink);
                self.buf.extend_from_slice(lit);
                self.walk.consumed += wide(take);
                self.walk.produced += wide(take);
                let left = remaining - wide(take);
                self.walk.state = if left == 0 {
                    State::Ctrl
                } else {
                    State::Literal(left)
                };
                continue;
            }
            if let Some(Backref { len, distance }) = self.walk.header_byte(&mut rest)? {
                // Both at most 8192 + 264 (checked by the walk).
                let (len, distance) = (len as usize, distance as usize);
                self.make_room(len, sink);
                copy_backref(&mut self.buf, distance, len);
                self.walk.produced += wide(len);
            }
        }
        Ok(())
    }

    /// Ensures `additional` more bytes fit in `buf` without exceeding window + stage: when
    /// they would not, hands the staged bytes to `sink` and keeps only the last 8 KiB.
    fn make_room(&mut self, additional: usize, sink: &mut impl FnMut(&[u8])) {
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(MAX_DISTANCE + STAGE + MAX_MATCH);
        }
        if self.buf.len() + additional <= MAX_DISTANCE + STAGE {
            return;
        }
        self.flush(sink);
        let drop = self.buf.len().saturating_sub(MAX_DISTANCE);
        self.buf.drain(..drop);
        self.unflushed = self.buf.len();
    }

    /// Hands every staged byte to `sink`.
    fn flush(&mut self, sink: &mut impl FnMut(&[u8])) {
        if let Some(staged) = self.buf.get(self.unflushed..) {
            if !staged.is_empty() {
                sink(staged);
            }
        }
        self.unflushed = self.buf.len();
    }
}

/// log2 of the number of hash-table entries of [`Compressor`].
const HLOG: u32 = 14;
/// Number of hash-table entries of [`Compressor`] (16 Ki entries, 64 KiB).
const HSIZE: usize = 1 << HLOG;
/// Largest input [`Compressor::compress`] accepts (positions must fit the `u32` table).
pub const MAX_COMPRESS_INPUT: usize = (u32::MAX / 2) as usize;

/// Greedy LZF compressor (hashing of 4-byte sequences) with a reusable table.
///
/// The hash table (16 Ki `u32` entries, 64 KiB) is allocated once by [`Compressor::new`] and
/// never cleared per call. Each entry stores `base + position` of the last 4-byte sequence that
/// hashed to it, where `base` is a per-compressor counter that grows by the input length after
/// every call. An entry below the current `base` was written by an earlier call and is ignored,
/// so the output depends only on the input (deterministic, whatever was compressed before) and
/// resetting costs O(1). When `base + input.len()` would overflow `u32`, the table is zeroed
/// once and `base` restarts at 1 (amortised: once per ~4 GiB compressed).
///
/// The search is greedy: one hash probe per position (4-byte key, one 4-byte load), matches
/// extended 8 bytes at a time, no position inside a match hashed. After 64 misses in
/// a row the step grows by one byte every 64 further misses (as in LZ4, capped at 16 bytes,
/// with short step-1 bursts, see `skip_step`), so incompressible
/// input is scanned quickly and refused early under a `max_out` limit; a match resets the step.
/// Tokens go to a reusable scratch buffer with fixed-size copies (up to 1 MiB kept between
/// calls).
///
/// Limits of the emitted stream: literal runs ≤ 32 bytes, matches 4–264 bytes, distances
/// 1–8192, as every LZF decoder (Redis, liblzf) accepts.
#[derive(Clone)]
pub struct Compressor {
    /// `base + position + ...` per hash bucket; see the type docs.
    table: Box<[u32; HSIZE]>,
    /// Smallest table value that belongs to the current call.
    base: u32,
    /// Output staging area (zero-filled once, grown on demand): tokens are written into it
    /// with fixed-size copies, then the stream is appended to the caller's `Vec` in one copy.
    scratch: Vec<u8>,
}

impl fmt::Debug for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compressor")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Default for Compressor {
    fn default() -> Self {
        Self::new()
    }
}

/// The 8 bytes at `at` as a little-endian `u64` (0 past the end; callers stay in bounds).
#[inline(always)]
fn load64(input: &[u8], at: usize) -> u64 {
    input
        .get(at..)
        .and_then(<[u8]>::first_chunk::<8>)
        .map_or(0, |w| u64::from_le_bytes(*w))
}

/// Hash of a little-endian 4-byte word (multiplicative, top `HLOG` bits).
#[inline(always)]
fn hash(word: u32) -> usize {
    (word.wrapping_mul(0x9E37_79B1) >> (32 - HLOG)) as usize
}

/// Misses in a row (since the last match) after which the search step grows by one byte every
/// `1 << SKIP_SHIFT` further misses (LZ4-style acceleration through incompressible data).
const SKIP_SHIFT: u32 = 6;

/// Largest search step (bytes) of the acceleration.
const MAX_STEP: usize = 16;

/// Every `BURST_PERIOD` misses, the first [`BURST`] probes use step 1.
const BURST_PERIOD: usize = 128;

/// Consecutive positions probed (and hashed) by a burst: more than the largest step.
const BURST: usize = MAX_STEP + 2;

/// The search step after `misses` (scaled) misses in a row: 1 for the first 64, then growing
/// by one byte every 64 misses up to [`MAX_STEP`] (+1 every other miss), except that the first
/// [`BURST`] of every [`BURST_PERIOD`] misses step by 1.
///
/// The cap keeps compressible data after a long incompressible stretch probed densely
/// enough to find a first match and reset the step. The bursts make that first match certain
/// for data that repeats at some period `d <= 8192`: a burst hashes `BURST` consecutive
/// positions, and one period later the strided probes (steps < `BURST`) cannot jump over the
/// copy of that run. Strided probes alone may never meet a position exactly `d` before one
/// that was probed (e.g. steps alternating 16, 17 never differ by 4099 in total).
#[inline(always)]
fn skip_step(misses: usize) -> usize {
    if misses % BURST_PERIOD < BURST {
        1
    } else {
        (misses >> SKIP_SHIFT).min(MAX_STEP + (misses & 1))
    }
}

/// Scaled miss counts below this all step by one byte ([`skip_step`]): the first 64 misses
/// after a match (the step is `misses >> SKIP_SHIFT` = 1), then the first burst.
const DENSE_END: usize = BURST_PERIOD + BURST;

/// Length of the match at `ip` against `cand` (`cand < ip`), knowing the first `MIN_MATCH`
/// bytes are equal; at most `max_len` (`ip + max_len <= input.len()`).
#[inline(always)]
fn match_len(input: &[u8], cand: usize, ip: usize, max_len: usize) -> usize {
    // Two windows of the same length, each bounds-checked once: the loads below are then
    // known to be in bounds.
    let (Some(old), Some(new)) = (
        input.get(cand..cand.saturating_add(max_len)),
        input.get(ip..ip.saturating_add(max_len)),
    ) else {
        return MIN_MATCH.min(max_len);
    };
    let mut len = MIN_MATCH;
    while len + 8 <= max_len {
        let diff = load64(old, len) ^ load64(new, len);
        if diff != 0 {
            return len + (diff.trailing_zeros() / 8) as usize;
        }
        len += 8;
    }
    while len < max_len && old.get(len) == new.get(len) {
        len += 1;
    }
    len
}

/// Largest scratch buffer [`Compressor`] keeps between calls (bytes).
const SCRATCH_KEEP: usize = 1 << 20;

/// Bytes the token writers may touch past the end of the stream they produce.
const SLACK: usize = MAX_LITERAL + 4;

/// Token writer over [`Compressor`]'s scratch buffer. Writes use fixed-size copies that may
/// touch up to [`SLACK`] bytes past the stream end; the buffer is sized for that.
struct TokenOut<'a> {
    /// The scratch buffer.
    buf: &'a mut [u8],
    /// Length of the stream written so far.
    pos: usize,
}

impl TokenOut<'_> {
    /// Appends `input[from..to]` as literal runs of at most 32 bytes; `None` if the buffer is
    /// too short (callers size it so this does not happen).
    #[inline(always)]
    fn literals(&mut self, input: &[u8], from: usize, to: usize) -> Option<()> {
        let mut from = from;
        while from < to {
            let run = (to - from).min(MAX_LITERAL);
            // run is 1..=32, so the control byte is 0..=31.
            *self.buf.get_mut(self.pos)? = (run - 1) as u8;
            let dst = self
                .buf
                .get_mut(self.pos + 1..)
                .and_then(<[u8]>::first_chunk_mut::<MAX_LITERAL>)?;
            match input
                .get(from..)
                .and_then(<[u8]>::first_chunk::<MAX_LITERAL>)
            {
                // Copy a whole 32-byte block (one fixed-size move, not a `memcpy` call); the
                // bytes past `run` are overwritten by the next token or ignored.
                Some(src) => *dst = *src,
                // The input's last bytes: through a zero-padded block, so that the compiler
                // does not fold both arms into one variable-length `memcpy`.
                None => {
                    let mut block = [0u8; MAX_LITERAL];
                    block
                        .get_mut(..run)?
                        .copy_from_slice(input.get(from..to.min(from + run))?);
                    *dst = block;
                }
            }
            self.pos += 1 + run;
            from += run;
        }
        Some(())
    }

    /// Appends `input[from..to]` as literals before a match: the same bytes as
    /// [`TokenOut::literals`], but a run of 0–32 bytes (the common case on data with short
    /// matches) is written without a branch on its length, which is often 0 and then not
    /// (mispredicted): the control byte and a 32-byte block are stored either way, and the
    /// position moves by `1 + run`, or by 0 for an empty run.
    #[inline(always)]
    fn pending_literals(&mut self, input: &[u8], from: usize, to: usize) -> Option<()> {
        let run = to - from;
        let src = input
            .get(from..)
            .and_then(<[u8]>::first_chunk::<MAX_LITERAL>);
        match src {
            Some(src) if run <= MAX_LITERAL => {
                *self.buf.get_mut(self.pos)? = run.wrapping_sub(1) as u8;
                let dst = self
                    .buf
                    .get_mut(self.pos + 1..)
                    .and_then(<[u8]>::first_chunk_mut::<MAX_LITERAL>)?;
                *dst = *src;
                self.pos += (1 + run) * usize::from(run != 0);
                Some(())
            }
            _ => self.literals(input, from, to),
        }
    }

    /// Appends a back-reference of `len` (3–264) bytes at `distance` (1–8192).
    #[inline(always)]
    fn backref(&mut self, distance: usize, len: usize) -> Option<()> {
        let off = distance - 1;
        let high = (off >> 8) as u8 & 0x1F;
        let low = off as u8;
        let l = len - 2;
        let dst = self
            .buf
            .get_mut(self.pos..)
            .and_then(<[u8]>::first_chunk_mut::<3>)?;
        // Both forms written without a branch on the length (data-dependent, so often
        // mispredicted): short `[l << 5 | high, low]`, long `[7 << 5 | high, l - 7, low]`; the
        // third byte of a short one is overwritten by the next token or ignored.
        let long = l >= 7;
        *dst = [
            ((l.min(7) as u8) << 5) | high,
            if long { (l - 7) as u8 } else { low },
            low,
        ];
        self.pos += 2 + usize::from(long);
        Some(())
    }
}

impl Compressor {
    /// Allocates a compressor (one 64 KiB table, reused by every call).
    #[must_use]
    pub fn new() -> Self {
        Self {
            table: Box::new([0; HSIZE]),
            base: 1,
            scratch: Vec::new(),
        }
    }

    /// Compresses `input`, appending the LZF stream to `out`, and returns the number of bytes
    /// appended; returns `None` (with `out` restored to its original length) when the stream
    /// would be longer than `max_out` bytes, or when `input` is longer than
    /// [`MAX_COMPRESS_INPUT`].
    ///
    /// The RDB writer's rule (§2.2) is to try LZF only for strings longer than 20 bytes, with
    /// `max_out = len - 4`, storing the string raw when this returns `None`. The output is a
    /// function of `input` alone (not of earlier calls); an empty input gives an empty stream.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>, max_out: usize) -> Option<usize> {
        self.compress_framed(input, out, max_out, |_, _| {})
    }

    /// Like [`Compressor::compress`], but when the stream fits in `max_out` bytes, first calls
    /// `header(stream_len, out)` and then appends the stream, so that a length prefix can go in
    /// front of it without moving the stream afterwards. Returns the stream length (without
    /// the header); on `None`, `header` was not called and `out` is unchanged.
    pub fn compress_framed(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_out: usize,
        header: impl FnOnce(usize, &mut Vec<u8>),
    ) -> Option<usize> {
        let start = out.len();
        let result = self.compress_inner(input, out, start.saturating_add(max_out), header);
        if result.is_none() {
            out.truncate(start);
        }
        result
    }

    /// Compression proper; `limit` is the largest allowed `out.len()` before the header.
    fn compress_inner(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        header: impl FnOnce(usize, &mut Vec<u8>),
    ) -> Option<usize> {
        if input.len() > MAX_COMPRESS_INPUT {
            return None;
        }
        let n = u32::try_from(input.len()).ok()?;
        let base = match self.base.checked_add(n) {
            Some(next) => {
                let base = self.base;
                self.base = next;
                base
            }
            None => {
                self.table.fill(0);
                self.base = n.checked_add(1)?;
                1
            }
        };
        let n = input.len();
        // No stream is longer than all-literals: n bytes plus one control byte per 32.
        let cap = limit.saturating_sub(out.len()).min(n + n / MAX_LITERAL + 1);
        let mut scratch = std::mem::take(&mut self.scratch);
        if scratch.len() < cap + SLACK {
            scratch.resize(cap + SLACK, 0);
        }
        let mut tok = TokenOut {
            buf: &mut scratch,
            pos: 0,
        };
        let result = self.tokens(input, base, &mut tok, cap);
        let len = tok.pos;
        let result = match (result, scratch.get(..len)) {
            (Some(()), Some(stream)) => {
                header(len, out);
                out.extend_from_slice(stream);
                Some(len)
            }
            _ => None,
        };
        // Keep a typical-size staging area; do not hold on to one sized for a huge string.
        if scratch.len() <= SCRATCH_KEEP {
            self.scratch = scratch;
        }
        result
    }

    /// The match finder: writes the tokens of `input` into `tok`, giving up (`None`) as soon as
    /// the stream is known to need more than `cap` bytes.
    ///
    /// Not inlined: inside the RDB writer's `encode_string` the probe loop kept the table
    /// pointer and `base` on the stack (two reloads a position); on its own they stay in
    /// registers (writer on the mixed dataset's strings 0.99 → 0.97 s).
    #[inline(never)]
    fn tokens(
        &mut self,
        input: &[u8],
        base: u32,
        tok: &mut TokenOut<'_>,
        cap: usize,
    ) -> Option<()> {
        let n = input.len();
        let mut lit_start = 0usize;
        let mut ip = 0usize;
        // Misses since the last match, scaled: the step is `misses >> SKIP_SHIFT`.
        let mut misses: usize = 1 << SKIP_SHIFT;
        // The loop runs while 4 bytes can be loaded at `ip` (the last 3 bytes end as literals):
        // the loop condition is the bounds check of that load, and with `cand < ip` the
        // candidate's load is known in bounds too. (Loads with a zero fallback under an
        // `ip < n - 3` loop compiled to a select on each probe plus a branch before the
        // candidate's load: the writer took 1.05 s on the mixed dataset's strings and 2.74 s on
        // big-values, against 0.98 and 2.55 s with this form.)
        while let Some(&at_ip) = input.get(ip..).and_then(<[u8]>::first_chunk::<4>) {
            let word = u32::from_le_bytes(at_ip);
            let slot = self.table.get_mut(hash(word))?;
            let prev = std::mem::replace(slot, base + ip as u32);
            // Entries of earlier calls are below `base`: their `cand` wraps past `ip`, so the
            // distance check rejects them (base + n never overflows, see above).
            let cand = prev.wrapping_sub(base) as usize;
            let distance = ip.wrapping_sub(cand);
            // A match needs 4 equal bytes although LZF can encode 3: on typical values (words
            // between other bytes) a 3-byte match mostly cuts a longer one that starts a byte
            // or two later; with 4-byte keys the benchmark's semi-compressible values come out
            // 1–4 % smaller than with 3-byte keys (liblzf), at the same speed.
            if cand < ip
                && distance <= MAX_DISTANCE
                && input
                    .get(cand..)
                    .and_then(<[u8]>::first_chunk::<4>)
                    .is_some_and(|c| u32::from_le_bytes(*c) == word)
            {
                let len = match_len(input, cand, ip, (n - ip).min(MAX_MATCH));
                tok.pending_literals(input, lit_start, ip)?;
                tok.backref(distance, len)?;
                if tok.pos > cap {
                    return None;
                }
                let end = ip + len;
                // Positions inside the match are not hashed (liblzf's VERY_FAST hashes the
                // last two; hashing only the last one measured the same as both): on
                // semi-compressible values of 4–64 KiB and of 100–2000 bytes that costs
                // 0.3–0.4 % of output size (0.8 % on the big-values dataset: 505.1 vs 501.0 MB)
                // and saves 8–12 % of the time (alternating runs, best of 5 each, `rdb-testkit`
                // example `lzf_compress_speed`).
                ip = end;
                lit_start = ip;
                misses = 1 << SKIP_SHIFT;
                continue;
            }
            if misses < DENSE_END {
                // `skip_step(misses) == 1` here: the common case after a match, kept to one
                // predictable branch (the literal room is checked when the match is written).
                ip += 1;
            } else {
                ip += skip_step(misses);
                // The pending literals alone already need this much room.
                if tok.pos + (ip - lit_start) > cap {
                    return None;
                }
            }
            misses += 1;
        }
        tok.literals(input, lit_start, n)?;
        if tok.pos > cap {
            return None;
        }
        Some(())
    }

    /// Test hook: moves `base` (to exercise the wrap-around path).
    #[cfg(test)]
    fn set_base(&mut self, base: u32) {
        self.base = base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{Rng, RngCore, SeedableRng};

    /// Semi-compressible data: words from a small vocabulary mixed with random bytes.
    fn semi(rng: &mut impl Rng, len: usize) -> Vec<u8> {
        const WORDS: &[&[u8]] = &[
            b"user:",
            b"session",
            b"id=",
            b"hello",
            b"world",
            b"\"name\":",
            b"1234",
            b", ",
            b"true",
            b"{\"k\":",
            b"redis",
            b"value",
        ];
        let mut v = Vec::with_capacity(len + 16);
        while v.len() < len {
            if rng.random_bool(0.7) {
                v.extend_from_slice(WORDS[rng.random_range(0..WORDS.len())]);
            } else {
                v.push(rng.random());
            }
        }
        v.truncate(len);
        v
    }

    fn dec(input: &[u8], expected: usize) -> Result<Vec<u8>, LzfError> {
        let mut v = Vec::new();
        decompress(input, &mut v, expected).map(|()| v)
    }

    /// Decodes with [`decompress_reusing`] into a buffer that an earlier value left holding
    /// `junk` bytes of `0xA5` (longer or shorter than this output).
    fn dec_reusing(input: &[u8], expected: usize, junk: usize) -> Result<Vec<u8>, LzfError> {
        let mut buf = vec![0xA5; junk];
        decompress_reusing(input, &mut buf, expected)?;
        assert!(buf.len() >= expected.max(junk));
        Ok(buf.get(..expected).unwrap_or(&[]).to_vec())
    }

    /// Decodes with the stream decoder, splitting the input at `cuts` (sorted offsets).
    fn dec_stream(input: &[u8], expected: u64, cuts: &[usize]) -> Result<Vec<u8>, LzfError> {
        let mut d = StreamDecoder::new(expected);
        let mut out = Vec::new();
        let mut sink = |b: &[u8]| out.extend_from_slice(b);
        let mut prev = 0;
        for &c in cuts.iter().chain(std::iter::once(&input.len())) {
            let c = c.clamp(prev, input.len());
            d.feed(&input[prev..c], &mut sink)?;
            prev = c;
        }
        d.finish()?;
        Ok(out)
    }

    fn ours(input: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        Compressor::new()
            .compress(input, &mut v, usize::MAX)
            .unwrap();
        v
    }

    #[test]
    fn redis_vectors_11_4() {
        // "a" x 50: c3, clen 0x09, len 0x32, payload.
        let rdb = [
            0xc3, 0x09, 0x32, 0x01, 0x61, 0x61, 0xe0, 0x25, 0x00, 0x01, 0x61, 0x61,
        ];
        let (clen, len) = (usize::from(rdb[1]), usize::from(rdb[2]));
        let payload = &rdb[3..];
        assert_eq!(payload.len(), clen);
        assert_eq!(dec(payload, len).unwrap(), vec![b'a'; 50]);
        assert_eq!(validate(payload, len), Ok(()));
        assert_eq!(
            dec_stream(payload, len as u64, &[1, 2, 7]).unwrap(),
            vec![b'a'; 50]
        );
        // The greedy 5-byte form of §5.2.
        assert_eq!(
            dec(&[0x00, 0x61, 0xE0, 0x28, 0x00], 50).unwrap(),
            vec![b'a'; 50]
        );

        let rdb = [
            0xc3, 0x15, 0x30, 0x03, 0x61, 0x62, 0x63, 0x61, 0xe0, 0x11, 0x02, 0x05, 0x5f, 0x68,
            0x65, 0x6c, 0x6c, 0x6f, 0xe0, 0x01, 0x05, 0x01, 0x6c, 0x6f,
        ];
        let (clen, len) = (usize::from(rdb[1]), usize::from(rdb[2]));
        let payload = &rdb[3..];
        assert_eq!(payload.len(), clen);
        let want = [b"abc".repeat(10), b"_hello".repeat(3)].concat();
        assert_eq!(want.len(), 48);
        assert_eq!(dec(payload, len).unwrap(), want);
        assert_eq!(validate(payload, len), Ok(()));
        // One byte short / long of the declared length fails.
        assert!(matches!(
            dec(payload, len + 1),
            Err(LzfError::OutputTooShort {
                offset: 21,
                produced: 48,
                expected_len: 49
            })
        ));
        assert!(matches!(
            dec(payload, len - 1),
            Err(LzfError::OutputOverflow {
                offset: 18,
                token_len: 2,
                produced: 46,
                ..
            })
        ));
    }

    /// Builds the §11.8 data and its hand-made stream.
    fn edge_11_8() -> (Vec<u8>, Vec<u8>) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(118);
        let mut a = vec![0u8; 8192];
        rng.fill_bytes(&mut a);
        let mut data = a.clone();
        data.extend_from_slice(&a[..264]);
        data.extend_from_slice(&[b'z'; 40]);
        let mut stream = Vec::new();
        for run in a.chunks(32) {
            stream.push(31);
            stream.extend_from_slice(run);
        }
        stream.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0x00, 0x7a, 0xE0, 0x1E, 0x00]);
        (data, stream)
    }

    #[test]
    fn edge_case_11_8_max_distance_and_length() {
        let (data, stream) = edge_11_8();
        assert_eq!(data.len(), 8192 + 264 + 40);
        assert_eq!(dec(&stream, data.len()).unwrap(), data);
        assert_eq!(validate(&stream, data.len()), Ok(()));
        assert_eq!(
            dec_stream(&stream, data.len() as u64, &[5000, 8447, 8448]).unwrap(),
            data
        );
        assert_eq!(lzf::decompress(&stream, data.len()).unwrap(), data);
        // With one literal byte fewer of history, the distance 8192 reaches before the start.
        let mut short = stream.clone();
        short[0] = 30;
        short.remove(1);
        let at = 256 * 33 - 1;
        assert_eq!(
            dec(&short, data.len() - 1),
            Err(LzfError::BackrefBeforeStart {
                offset: at as u64,
                distance: 8192,
                produced: 8191
            })
        );
        assert_eq!(
            validate(&short, data.len() - 1),
            dec(&short, data.len() - 1).map(|_| ())
        );
        // Our compressor round-trips it and finds the long match.
        let c = ours(&data);
        assert!(c.len() < 8192 + 256 + 30, "{}", c.len());
        assert_eq!(dec(&c, data.len()).unwrap(), data);
    }

    #[test]
    fn error_kinds_and_offsets() {
        // Literal run past the input.
        assert_eq!(
            dec(&[0x00, b'a', 0x02, b'b'], 5),
            Err(LzfError::Truncated { offset: 2 })
        );
        // Missing operand of a short / long back-reference.
        assert_eq!(
            dec(&[0x00, b'a', 0x20], 4),
            Err(LzfError::Truncated { offset: 2 })
        );
        assert_eq!(
            dec(&[0x00, b'a', 0xE0, 0x01], 11),
            Err(LzfError::Truncated { offset: 2 })
        );
        // Back-reference as first token.
        assert_eq!(
            dec(&[0x20, 0x00], 3),
            Err(LzfError::BackrefBeforeStart {
                offset: 0,
                distance: 1,
                produced: 0
            })
        );
        assert_eq!(
            dec(&[0x01, b'a', b'b', 0x20, 0x02], 6),
            Err(LzfError::BackrefBeforeStart {
                offset: 3,
                distance: 3,
                produced: 2
            })
        );
        // Overflow of a literal and of a back-reference.
        assert_eq!(
            dec(&[0x02, b'a', b'b', b'c'], 2),
            Err(LzfError::OutputOverflow {
                offset: 0,
                token_len: 3,
                produced: 0,
                expected_len: 2
            })
        );
        assert_eq!(
            dec(&[0x00, b'a', 0x20, 0x00], 3),
            Err(LzfError::OutputOverflow {
                offset: 2,
                token_len: 3,
                produced: 1,
                expected_len: 3
            })
        );
        // Impossible expansion, checked before anything else.
        assert_eq!(
            dec(&[0x00, b'a', 0xE0, 0xFF, 0x00], 441),
            Err(LzfError::ImpossibleExpansion {
                compressed_len: 5,
                expected_len: 441
            })
        );
        assert_eq!(
            dec(&[0x00, b'a', 0xE0, 0xFF, 0x00], 265).unwrap(),
            vec![b'a'; 265]
        );
        assert!(matches!(
            dec(&[], 1),
            Err(LzfError::ImpossibleExpansion { .. })
        ));
        assert_eq!(dec(&[], 0).unwrap(), Vec::<u8>::new());
        // Display mentions the offset.
        let e = dec(&[0x00, b'a', 0x02, b'b'], 5).unwrap_err();
        assert_eq!(e.offset(), 2);
        assert!(e.to_string().contains("offset 2"), "{e}");
        // Errors leave `out` as it was; success appends after existing content.
        let mut v = b"keep".to_vec();
        assert!(decompress(&[0x00, b'a', 0x20, 0x01], &mut v, 4).is_err());
        assert_eq!(v, b"keep");
        decompress(&[0x00, b'a', 0x20, 0x00], &mut v, 4).unwrap();
        assert_eq!(v, b"keepaaaa");
        // A back-reference cannot reach into bytes that were in `out` before the call.
        assert!(matches!(
            decompress(&[0x20, 0x00], &mut v, 3),
            Err(LzfError::BackrefBeforeStart { .. })
        ));
    }

    #[test]
    fn stream_errors_persist_and_finish_checks() {
        let mut d = StreamDecoder::new(3);
        let mut sink = |_: &[u8]| {};
        d.feed(&[0x00], &mut sink).unwrap();
        // Truncated literal at finish.
        assert_eq!(d.finish(), Err(LzfError::Truncated { offset: 0 }));
        let mut d = StreamDecoder::new(3);
        assert!(d.feed(&[0x20, 0x00], &mut sink).is_err());
        assert_eq!(
            d.feed(&[0x00, b'a'], &mut sink),
            Err(LzfError::BackrefBeforeStart {
                offset: 0,
                distance: 1,
                produced: 0
            })
        );
        let mut d = StreamDecoder::new(3);
        d.feed(&[0x00, b'a'], &mut sink).unwrap();
        assert_eq!(d.produced(), 1);
        assert_eq!(d.consumed(), 2);
        assert_eq!(
            d.finish(),
            Err(LzfError::OutputTooShort {
                offset: 2,
                produced: 1,
                expected_len: 3
            })
        );
    }

    #[test]
    fn stream_memory_is_bounded_and_output_exact() {
        // 3 MiB of semi-compressible data, fed in 1000-byte chunks: the internal buffer never
        // grows past window + stage + one match.
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let data = semi(&mut rng, 3 << 20);
        let c = ours(&data);
        let mut d = StreamDecoder::new(data.len() as u64);
        let mut out = Vec::with_capacity(data.len());
        for chunk in c.chunks(1000) {
            d.feed(chunk, &mut |b: &[u8]| out.extend_from_slice(b))
                .unwrap();
            assert!(d.buf.capacity() <= MAX_DISTANCE + STAGE + MAX_MATCH);
            assert_eq!(out.len() as u64, d.produced());
        }
        d.finish().unwrap();
        assert!(out == data);
    }

    /// Back-references of the greatest distance (8,192 bytes) all through the output, fed in
    /// chunks of every size: the window kept when the decoder passes output on is the whole
    /// 8 KiB (one byte less and a reference reaching its start would copy from nowhere).
    #[test]
    fn stream_window_keeps_the_greatest_distance() {
        let mut input = Vec::new();
        let mut literal = 0u8;
        for _ in 0..256 {
            // A 32-byte literal run.
            let run: Vec<u8> = (0..32)
                .map(|_| {
                    literal = literal.wrapping_mul(31).wrapping_add(17);
                    literal
                })
                .collect();
            input.push(31);
            input.extend_from_slice(&run);
        }
        for _ in 0..400 {
            // Length 7 + 255 + 2 = 264, distance (31 << 8) + 255 + 1 = 8192.
            input.extend_from_slice(&[0xff, 0xff, 0xff]);
        }
        let len = 8192 + 400 * 264;
        let mut whole = Vec::new();
        decompress(&input, &mut whole, len).unwrap();
        assert_eq!(whole.len(), len);
        assert_eq!(whole[len - 8192..], whole[..8192]);
        for chunk in [1, 3, 1000, 65_536] {
            let mut d = StreamDecoder::new(len as u64);
            let mut out = Vec::new();
            for c in input.chunks(chunk) {
                d.feed(c, &mut |b: &[u8]| out.extend_from_slice(b)).unwrap();
            }
            d.finish().unwrap();
            assert!(out == whole, "chunks of {chunk}");
        }
    }

    #[test]
    fn compressor_is_deterministic_across_calls_and_wraparound() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let inputs: Vec<Vec<u8>> = (0..50).map(|i| semi(&mut rng, 20 + i * 37)).collect();
        let fresh: Vec<Vec<u8>> = inputs.iter().map(|i| ours(i)).collect();
        let mut c = Compressor::new();
        for round in 0..3 {
            if round == 2 {
                c.set_base(u32::MAX - 1000);
            }
            for (i, input) in inputs.iter().enumerate() {
                let mut v = vec![9, 9];
                let n = c.compress(input, &mut v, usize::MAX).unwrap();
                assert_eq!(n, v.len() - 2);
                assert_eq!(&v[..2], &[9, 9]);
                assert_eq!(v[2..], fresh[i], "input {i} round {round}");
            }
        }
        // Matches really are found (semi-compressible data compresses).
        let total_in: usize = inputs.iter().map(Vec::len).sum();
        let total_out: usize = fresh.iter().map(Vec::len).sum();
        assert!(total_out * 10 < total_in * 8, "{total_out} vs {total_in}");
    }

    #[test]
    fn dense_misses_step_by_one() {
        // The finder's fast path assumes this; the first miss count after a match is
        // `1 << SKIP_SHIFT`.
        assert!((1 << SKIP_SHIFT..DENSE_END).all(|m| skip_step(m) == 1));
        assert!(skip_step(DENSE_END) > 1);
    }

    #[test]
    fn compressor_recovers_after_incompressible_stretch() {
        // Noise, then semi-compressible data: the accelerated search over the noise must not
        // keep skipping through the compressible part.
        let mut rng = rand::rngs::StdRng::seed_from_u64(21);
        let mut noise = vec![0u8; 300_000];
        rng.fill_bytes(&mut noise);
        let text = semi(&mut rng, 300_000);
        let alone = ours(&text).len();
        // Also a random block repeated at a period that is not a multiple of any step.
        let mut block = vec![0u8; 4099];
        rng.fill_bytes(&mut block);
        let periodic = block.repeat(40);
        let data = [noise.clone(), periodic.clone()].concat();
        let c = ours(&data);
        assert_eq!(dec(&c, data.len()).unwrap(), data);
        let noise_cost = noise.len() + noise.len() / 32 + 1;
        // Allow the first 4 periods as literals (the step shrinks back only at the first
        // match); the other 36 cost 3 bytes per 264 (plus slack).
        let periodic_cost = 4 * block.len() * 34 / 32 + 36 * (block.len() * 3 / 264 + 40);
        assert!(
            c.len() <= noise_cost + periodic_cost,
            "{} vs {} + {}",
            c.len(),
            noise_cost,
            periodic_cost
        );
        let data = [noise.clone(), text.clone(), noise.clone()].concat();
        let c = ours(&data);
        assert_eq!(dec(&c, data.len()).unwrap(), data);
        let noise_cost = 2 * (noise.len() + noise.len() / 32 + 1);
        assert!(
            c.len() <= noise_cost + alone + alone / 50,
            "{} vs {} + {}",
            c.len(),
            noise_cost,
            alone
        );
        // One compressor, a huge input (bigger than the kept scratch) then small ones: the same
        // streams as fresh compressors.
        let mut one = Compressor::new();
        for input in [&data[..], &text[..1000], &data[..5000], &text[..]] {
            let mut v = Vec::new();
            one.compress(input, &mut v, usize::MAX).unwrap();
            assert_eq!(v, ours(input));
        }
    }

    #[test]
    fn compressor_ratio_close_to_liblzf() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let data = semi(&mut rng, 1 << 20);
        let theirs = lzf::compress(&data).unwrap();
        let mine = ours(&data);
        assert!(
            mine.len() * 100 <= theirs.len() * 105,
            "{} vs {}",
            mine.len(),
            theirs.len()
        );
    }

    #[test]
    fn compress_framed_puts_the_header_first() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        let data = semi(&mut rng, 5000);
        let plain = ours(&data);
        let mut c = Compressor::new();
        let mut v = vec![1];
        let n = c.compress_framed(&data, &mut v, usize::MAX, |len, out| {
            out.extend_from_slice(&(len as u32).to_le_bytes());
        });
        assert_eq!(n, Some(plain.len()));
        assert_eq!(v[1..5], (plain.len() as u32).to_le_bytes());
        assert_eq!(v[5..], plain[..]);
        // Refused: the header is not written and `out` is unchanged.
        let mut w = vec![1];
        let refused = c.compress_framed(&data, &mut w, plain.len() - 1, |_, out| out.push(9));
        assert_eq!(refused, None);
        assert_eq!(w, [1]);
    }

    #[test]
    fn compressor_redis_rule() {
        let mut c = Compressor::new();
        let mut v = Vec::new();
        // 21 x 'a' compresses to 5 bytes <= 17.
        assert_eq!(c.compress(&[b'a'; 21], &mut v, 17), Some(v.len()));
        assert_eq!(dec(&v, 21).unwrap(), vec![b'a'; 21]);
        // Incompressible data with max_out = len - 4 is refused and leaves `out` intact.
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut noise = vec![0u8; 100_000];
        rng.fill_bytes(&mut noise);
        let mut v = vec![1, 2, 3];
        assert_eq!(c.compress(&noise, &mut v, noise.len() - 4), None);
        assert_eq!(v, [1, 2, 3]);
        assert_eq!(c.compress(&[], &mut v, 0), Some(0));
    }

    fn arb_data() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..600),
            proptest::collection::vec(0u8..4, 0..3000),
            (any::<u64>(), 0usize..20_000).prop_map(|(seed, len)| {
                semi(&mut rand::rngs::StdRng::seed_from_u64(seed), len)
            }),
            // Longer inputs: runs, noise (the accelerated search, refused under a limit), and
            // noise between compressible stretches (the step shrinking back at a match).
            proptest::collection::vec(0u8..4, 4000..12_000),
            (any::<u64>(), 4000usize..9000).prop_map(|(seed, len)| {
                let mut v = vec![0u8; len];
                rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
                v
            }),
            (any::<u64>(), 0usize..3000, 0usize..3000, 0usize..6000).prop_map(|(seed, a, b, c)| {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                let mut noise = vec![0u8; b];
                rng.fill_bytes(&mut noise);
                let mut v = semi(&mut rng, a);
                v.extend_from_slice(&noise);
                v.extend(semi(&mut rng, c));
                v
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn ours_then_lzf_crate(data in arb_data()) {
            let c = ours(&data);
            if !data.is_empty() {
                prop_assert_eq!(lzf::decompress(&c, data.len()).unwrap(), data.clone());
            }
            prop_assert_eq!(dec(&c, data.len()).unwrap(), data.clone());
            prop_assert_eq!(validate(&c, data.len()), Ok(()));
            for junk in [0, data.len() / 2, data.len() + 100] {
                prop_assert_eq!(dec_reusing(&c, data.len(), junk).unwrap(), data.clone());
            }
        }

        #[test]
        fn lzf_crate_then_ours(data in arb_data()) {
            if let Ok(c) = lzf::compress(&data) {
                prop_assert_eq!(dec(&c, data.len()).unwrap(), data.clone());
                prop_assert_eq!(validate(&c, data.len()), Ok(()));
            }
        }

        #[test]
        fn max_out_is_exact(data in arb_data()) {
            let full = ours(&data);
            let mut c = Compressor::new();
            let mut v = Vec::new();
            prop_assert_eq!(c.compress(&data, &mut v, full.len()), Some(full.len()));
            prop_assert_eq!(&v, &full);
            if !full.is_empty() {
                let mut w = vec![7];
                prop_assert_eq!(c.compress(&data, &mut w, full.len() - 1), None);
                prop_assert_eq!(w, vec![7]);
            }
        }

        #[test]
        fn stream_equals_decompress(
            data in arb_data(),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let c = ours(&data);
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(c.len() + 1)).collect();
            cuts.sort_unstable();
            prop_assert_eq!(dec_stream(&c, data.len() as u64, &cuts).unwrap(), data.clone());
        }

        #[test]
        fn corruptions_agree(
            data in arb_data(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
            len_delta in -2i64..3,
            truncate in any::<bool>(),
        ) {
            let mut c = ours(&data);
            if c.is_empty() {
                c.push(0);
            }
            for (i, b) in &edits {
                let at = i.index(c.len());
                c[at] = *b;
            }
            if truncate {
                c.truncate(cut.index(c.len() + 1));
            }
            let expected = (data.len() as i64 + len_delta).max(0) as usize;
            let full = dec(&c, expected);
            prop_assert_eq!(validate(&c, expected), full.as_ref().map(|_| ()).map_err(|e| *e));
            prop_assert_eq!(dec_reusing(&c, expected, expected + 64), full.clone());
            // Independent oracle: the lzf crate succeeds with exactly `expected` bytes iff we do.
            let oracle = lzf::decompress(&c, expected).ok().filter(|v| v.len() == expected);
            prop_assert_eq!(oracle, full.clone().ok().filter(|_| !c.is_empty()));
            // The stream decoder agrees (it cannot check the expansion bound up front).
            let s = dec_stream(&c, expected as u64, &[c.len() / 3, c.len() / 2]);
            match full {
                Err(LzfError::ImpossibleExpansion { .. }) => prop_assert!(s.is_err()),
                other => prop_assert_eq!(s, other),
            }
        }

        #[test]
        fn garbage_never_panics(
            input in proptest::collection::vec(any::<u8>(), 0..300),
            expected in 0usize..30_000,
        ) {
            let full = dec(&input, expected);
            prop_assert_eq!(validate(&input, expected), full.as_ref().map(|_| ()).map_err(|e| *e));
            if let Ok(v) = &full {
                prop_assert_eq!(v.len(), expected);
            }
            let s = dec_stream(&input, expected as u64, &[1, 2, 3, 50]);
            match full {
                Err(LzfError::ImpossibleExpansion { .. }) => prop_assert!(s.is_err()),
                other => prop_assert_eq!(s, other),
            }
        }
    }
}
