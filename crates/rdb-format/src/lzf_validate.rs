//! Incremental LZF validation: the checks of [`crate::lzf::StreamDecoder`] without producing
//! any output.
//!
//! A verifier only needs to know that an LZF string value decodes to exactly its declared
//! length; materialising it (copying literals, expanding back-references through an 8 KiB
//! window) is most of the cost of decoding. [`StreamValidator`] walks the tokens of chunks fed
//! in any sizes, keeps only the produced-byte count and the state of a token cut by a chunk
//! boundary, and reports exactly the errors (variant and offset) [`StreamDecoder`] reports for
//! the same input.
//!
//! [`StreamDecoder`]: crate::lzf::StreamDecoder

use crate::lzf::{Backref, LzfError, State, Walk};

/// Largest back-reference distance.
const MAX_DISTANCE: u64 = 8192;

/// Walks whole tokens of `b` while at least 33 bytes (the longest token) remain, without any
/// check; returns the bytes walked and the produced count after them.
///
/// The walk is a serial chain (each token's size depends on its control byte), so its speed is
/// the latency of one step. Block by block, the size and output of a token starting at *every*
/// position are first computed branch-free in a loop the compiler vectorises; the block is then
/// walked by [`walk_block`], which runs several chains at once.
#[inline]
fn scan_tokens(b: &[u8], mut produced: u64, scratch: &mut Scratch) -> (usize, u64) {
    // Tokens may start at positions < b.len() - 32 (33 bytes must remain).
    let end = b.len().saturating_sub(32);
    let Scratch {
        adv,
        out,
        extra,
        seen,
        ..
    } = scratch;
    let mut pos = 0usize;
    while pos < end {
        let m = (end - pos).min(BLOCK);
        // Each control byte and the byte after it (`pos + m < b.len()`).
        let ctrls = b.get(pos..pos + m).unwrap_or(&[]);
        let nexts = b.get(pos + 1..pos + m + 1).unwrap_or(&[]);
        // Writes the first `m` entries of each table, the only ones read below.
        fill_steps(ctrls, nexts, adv, out, extra);
        let steps = Steps {
            adv: adv.get(..m).unwrap_or(&[]),
            out: out.get(..m).unwrap_or(&[]),
            extra: extra.get(..m).unwrap_or(&[]),
        };
        let (j, p) = walk_block(&steps, seen);
        produced += p;
        // The last token may end past the block (up to 33 bytes): the next block starts there.
        pos += j;
    }
    (pos, produced)
}

/// Walks whole tokens of `b` from a token boundary, `produced` bytes having been decoded
/// before it, while at least 33 bytes (the longest token) remain and fewer than 8 KiB were
/// produced; returns the bytes walked, the produced count after them, and whether some
/// back-reference pointed before the start.
///
/// The same tables as [`scan_tokens`] plus each position's back-reference distance, filled
/// for a short block at a time (8 KiB of output can take as little as ~100 compressed bytes),
/// then one serial walk: a step is a table load and an add, a shorter chain from one token to
/// the next than decoding the control byte in the loop.
#[inline]
fn walk_prefix(b: &[u8], mut produced: u64, scratch: &mut Scratch) -> (usize, u64, bool) {
    let end = b.len().saturating_sub(32);
    let Scratch {
        adv,
        out,
        extra,
        need_high,
        need_low,
        ..
    } = scratch;
    let mut pos = 0usize;
    let mut bad = false;
    while pos < end && produced < MAX_DISTANCE {
        let m = (end - pos).min(PREFIX_BLOCK);
        // Each control byte and the two after it (`pos + m + 1 < b.len()`).
        let ctrls = b.get(pos..pos + m).unwrap_or(&[]);
        let nexts = b.get(pos + 1..pos + m + 1).unwrap_or(&[]);
        let thirds = b.get(pos + 2..pos + m + 2).unwrap_or(&[]);
        fill_steps(ctrls, nexts, adv, out, extra);
        fill_distances(ctrls, nexts, thirds, need_high, need_low);
        let adv = adv.get(..m).unwrap_or(&[]);
        let out = out.get(..m).unwrap_or(&[]);
        let extra = extra.get(..m).unwrap_or(&[]);
        let need_high = need_high.get(..m).unwrap_or(&[]);
        let need_low = need_low.get(..m).unwrap_or(&[]);
        let mut j = 0usize;
        while produced < MAX_DISTANCE {
            let (Some(&a), Some(&o), Some(&x), Some(&dh), Some(&dl)) = (
                adv.get(j),
                out.get(j),
                extra.get(j),
                need_high.get(j),
                need_low.get(j),
            ) else {
                break;
            };
            let distance = (u64::from(dh) << 8) | u64::from(dl);
            bad |= distance > produced;
            produced += u64::from(o) + u64::from(x);
            j += usize::from(a);
        }
        // The last token may end past the block: the next block starts there.
        pos += j;
    }
    (pos, produced, bad)
}

/// Positions of a block [`walk_prefix`] tabulates at once.
const PREFIX_BLOCK: usize = 512;

/// Distance tables of [`walk_prefix`]: for each position, the back-reference distance of a
/// token whose control byte is `ctrls[i]` (the low distance byte is `nexts[i]`, or `thirds[i]`
/// for a long back-reference) as its high and low bytes, 0 for a literal run (which never
/// fails the check). Bytes, not `u16`s, so that a vector register holds twice the positions.
#[inline(always)]
fn fill_distances(
    ctrls: &[u8],
    nexts: &[u8],
    thirds: &[u8],
    need_high: &mut [u8],
    need_low: &mut [u8],
) {
    let need = need_high.iter_mut().zip(need_low.iter_mut());
    let bytes = ctrls.iter().zip(nexts.iter().zip(thirds));
    for ((h, l), (&c, (&nx, &th))) in need.zip(bytes) {
        // 0xFF when the token is a literal run, else 0; likewise for a long back-reference.
        let lit = 0u8.wrapping_sub(u8::from(c < 0x20));
        let long = 0u8.wrapping_sub(u8::from(c >= 0xE0));
        let low = (long & th) | (!long & nx);
        // distance = ((c & 0x1F) << 8 | low) + 1: the +1 carries into the high byte when
        // `low` is 0xFF (the high byte is then at most 0x20).
        let carry = u8::from(low == 0xFF);
        *h = !lit & ((c & 0x1F) + carry);
        *l = !lit & low.wrapping_add(1);
    }
}

/// Positions of a block whose steps [`scan_tokens`] tabulates at once.
const BLOCK: usize = 2048;
/// Chains walked at once by [`walk_block`].
const CHAINS: usize = 4;

/// The tables of [`scan_tokens`] and [`walk_prefix`] (23 KiB), kept by a [`StreamValidator`]
/// across values: setting them up per call cost as much zeroing as there were bytes to
/// validate on 4–64 KiB values.
/// Nothing needs clearing between uses: the step tables are written before they are read, and
/// [`Seen`] marks carry a generation.
#[derive(Clone)]
struct Scratch {
    adv: [u8; BLOCK],
    out: [u8; BLOCK],
    extra: [u8; BLOCK],
    /// For [`walk_prefix`]: the back-reference distance of a token at each position (high
    /// and low byte), 0 for a literal run.
    need_high: [u8; PREFIX_BLOCK],
    need_low: [u8; PREFIX_BLOCK],
    seen: Seen,
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            adv: [0; BLOCK],
            out: [0; BLOCK],
            extra: [0; BLOCK],
            need_high: [0; PREFIX_BLOCK],
            need_low: [0; PREFIX_BLOCK],
            seen: Seen::new(),
        }
    }
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scratch").finish_non_exhaustive()
    }
}

/// The positions a speculative chain of [`walk_block`] visited, with the output produced in
/// its segment before each: `(generation << 32) | (produced + 1)`, so that a new block needs
/// no clearing (a new generation).
#[derive(Clone)]
struct Seen {
    at: [u64; BLOCK],
    generation: u64,
}

impl Seen {
    fn new() -> Self {
        Seen {
            at: [0; BLOCK],
            generation: 0,
        }
    }

    /// Starts a block: earlier marks become stale.
    fn next_block(&mut self) {
        if self.generation >= u64::from(u32::MAX) {
            self.at = [0; BLOCK];
            self.generation = 0;
        }
        self.generation += 1;
    }
}

/// One chain of [`walk_block`]: where it is, where its segment ends, what it produced.
struct Chain {
    pos: usize,
    limit: usize,
    produced: u64,
}

/// Walks the tokens starting before `adv.len()` from position 0 (a token boundary) and returns
/// the position after the last one and the output they produce.
///
/// One chain is one dependent load per token. To overlap several, the block is cut into
/// [`CHAINS`] segments and a chain is also started at the first byte of every segment but the
/// first, as if a token started there, recording each position it visits. Walks from
/// different starts soon meet (they visit roughly one position in three), and from a common
/// position on they coincide. So when the true chain, continued into a segment, lands on a
/// position that segment's chain visited, the rest of the segment is known: the same exit
/// position, and the output that chain produced after that position. Until it lands on one,
/// the true chain steps on by itself, so the result is exactly that of a serial walk whatever
/// the data.
#[inline]
fn walk_block(steps: &Steps<'_>, seen: &mut Seen) -> (usize, u64) {
    let Steps { adv, out, extra } = *steps;
    let m = adv.len().min(out.len()).min(extra.len());
    let step = |p: usize| match (adv.get(p), out.get(p), extra.get(p)) {
        (Some(&a), Some(&o), Some(&x)) => (usize::from(a), u64::from(o) + u64::from(x)),
        // Past the table (never reached before `p >= m`): stop.
        _ => (m, 0),
    };
    if m < BLOCK / 2 {
        let (mut j, mut produced) = (0usize, 0u64);
        while j < m {
            let (a, o) = step(j);
            produced += o;
            j += a;
        }
        return (j, produced);
    }
    seen.next_block();
    let gen = seen.generation << 32;
    let seg = m / CHAINS;
    // Chain c walks from c * seg until it passes its segment; chain 0 is the true one.
    let mut chains: [Chain; CHAINS] = std::array::from_fn(|c| Chain {
        pos: c * seg,
        limit: if c + 1 == CHAINS { m } else { (c + 1) * seg },
        produced: 0,
    });
    loop {
        let mut active = false;
        for (c, ch) in chains.iter_mut().enumerate() {
            if ch.pos < ch.limit {
                active = true;
                if c > 0 {
                    if let Some(s) = seen.at.get_mut(ch.pos) {
                        *s = gen | (ch.produced + 1);
                    }
                }
                let (a, o) = step(ch.pos);
                ch.produced += o;
                ch.pos += a;
            }
        }
        if !active {
            break;
        }
    }
    // Continue the true chain through each later segment.
    let (mut t, mut produced) = (chains[0].pos, chains[0].produced);
    for ch in chains.iter().skip(1) {
        while t < ch.limit {
            let mark = seen.at.get(t).copied().unwrap_or(0);
            if mark >> 32 == seen.generation {
                produced += ch.produced - ((mark & u64::from(u32::MAX)) - 1);
                t = ch.pos;
                break;
            }
            let (a, o) = step(t);
            produced += o;
            t += a;
        }
    }
    (t, produced)
}

/// The step tables of one block (see [`fill_steps`]).
#[derive(Clone, Copy)]
struct Steps<'a> {
    /// Size of the token at each position.
    adv: &'a [u8],
    /// Its output but for a long back-reference's extra length byte.
    out: &'a [u8],
    /// That extra length byte (0 for other tokens).
    extra: &'a [u8],
}

/// Step tables of [`scan_tokens`]: for each position `i`, the size and output of a token whose
/// control byte is `ctrls[i]` (`nexts[i]` is the byte after it), the output as two bytes
/// (`out[i] + extra[i]`, at most 9 + 255). Plain arithmetic on bytes, no branches, so that it
/// vectorises with a byte per lane (with `u16` lanes, as before, half the positions a vector).
#[inline(always)]
fn fill_steps(ctrls: &[u8], nexts: &[u8], adv: &mut [u8], out: &mut [u8], extra: &mut [u8]) {
    let tables = adv.iter_mut().zip(out.iter_mut().zip(extra.iter_mut()));
    for ((a, (o, x)), (&c, &nx)) in tables.zip(ctrls.iter().zip(nexts)) {
        // 0xFF when the token is a literal run, else 0; likewise for a long back-reference.
        let lit = 0u8.wrapping_sub(u8::from(c < 0x20));
        let long = 0u8.wrapping_sub(u8::from(c >= 0xE0));
        // Literal: 1 + n bytes in, n = ctrl + 1 out (c < 0x20: no overflow). Back-reference:
        // 2 (3 when long) bytes in, (ctrl >> 5) + 2 out, plus the extra length byte when long.
        *a = (lit & c.wrapping_add(2)) | (!lit & (2 + (long & 1)));
        *o = (lit & c.wrapping_add(1)) | (!lit & ((c >> 5) + 2));
        *x = !lit & long & nx;
    }
}

/// Validates an LZF stream fed in chunks (see the module docs).
#[derive(Debug, Clone)]
pub struct StreamValidator {
    /// Counts, the current token's offset and the state inside it (shared with the decoder).
    walk: Walk,
    /// The first error met, returned again by every later call.
    error: Option<LzfError>,
    /// Tables of the unchecked walk, allocated on first use and kept by [`Self::reset`].
    scratch: Option<Box<Scratch>>,
}

impl StreamValidator {
    /// A validator for a string whose declared decompressed length is `expected_len`.
    #[must_use]
    pub fn new(expected_len: u64) -> Self {
        StreamValidator {
            walk: Walk::new(expected_len),
            error: None,
            scratch: None,
        }
    }

    /// Starts over for another string of declared length `expected_len`, as
    /// [`StreamValidator::new`] does, keeping the tables allocated by earlier walks.
    pub fn reset(&mut self, expected_len: u64) {
        self.walk = Walk::new(expected_len);
        self.error = None;
    }

    /// Bytes the stream has decoded to so far.
    #[must_use]
    pub fn produced(&self) -> u64 {
        self.walk.produced
    }

    /// Compressed bytes consumed so far.
    #[must_use]
    pub fn consumed(&self) -> u64 {
        self.walk.consumed
    }

    /// Checks the next `chunk` of the compressed stream. After an error, every later call
    /// returns that error.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), LzfError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let r = self.feed_inner(chunk);
        if let Err(e) = r {
            self.error = Some(e);
        }
        r
    }

    /// Checks that the stream ended on a token boundary with exactly the declared length.
    pub fn finish(&self) -> Result<(), LzfError> {
        match self.error {
            Some(e) => Err(e),
            None => self.walk.finish(),
        }
    }

    /// Checks one whole token at the start of `rest` (at least 33 bytes) and returns what
    /// follows it.
    #[inline(always)]
    fn checked_token<'b>(&mut self, rest: &'b [u8]) -> Result<&'b [u8], LzfError> {
        let [ctrl, a, b, ..] = *rest else {
            return Ok(rest);
        };
        let w = &mut self.walk;
        w.token_offset = w.consumed;
        if ctrl < 0x20 {
            let n = u64::from(ctrl) + 1;
            w.check_room(n)?;
            w.consumed += 1 + n;
            w.produced += n;
            Ok(rest.get(1 + n as usize..).unwrap_or(&[]))
        } else if ctrl >= 0xE0 {
            let len = u64::from(a) + 9;
            w.check_backref(ctrl & 0x1F, b, len)?;
            w.produced += len;
            w.consumed += 3;
            Ok(rest.get(3..).unwrap_or(&[]))
        } else {
            let len = u64::from(ctrl >> 5) + 2;
            w.check_backref(ctrl & 0x1F, a, len)?;
            w.produced += len;
            w.consumed += 2;
            Ok(rest.get(2..).unwrap_or(&[]))
        }
    }

    /// Whole tokens while at least 33 bytes remain, by the fastest walk that is exact for
    /// them; returns what is left (under 33 bytes, or a stretch the walk will redo
    /// token by token).
    fn whole_tokens<'b>(&mut self, mut rest: &'b [u8]) -> Result<&'b [u8], LzfError> {
        // Until 8 KiB were produced, back-reference distances need checking: a table walk
        // with the checks folded into one flag, taken if nothing failed (the produced count
        // only grows, so a final count within the declared length means no token overflowed
        // it). Otherwise the checked loop below redoes the stretch and finds the exact token.
        if self.walk.produced < MAX_DISTANCE && rest.len() >= 33 {
            let scratch = self.scratch.get_or_insert_with(|| Box::new(Scratch::new()));
            let (pos, produced, bad) = walk_prefix(rest, self.walk.produced, scratch);
            if !bad && produced <= self.walk.expected_len {
                rest = rest.get(pos..).unwrap_or(&[]);
                self.walk.consumed += pos as u64;
                self.walk.produced = produced;
            }
        }
        while rest.len() >= 33 && self.walk.produced < MAX_DISTANCE {
            rest = self.checked_token(rest)?;
        }
        // Fastest path: once 8 KiB were produced no back-reference can point before the
        // start, and the produced count only grows, so a run of whole tokens that ends within
        // the declared length has no error: walk it with no per-token check (if it
        // overshoots, the checked loop below redoes it and finds the exact token).
        if self.walk.produced >= MAX_DISTANCE {
            let scratch = self.scratch.get_or_insert_with(|| Box::new(Scratch::new()));
            let (pos, produced) = scan_tokens(rest, self.walk.produced, scratch);
            if produced <= self.walk.expected_len {
                rest = rest.get(pos..).unwrap_or(&[]);
                self.walk.consumed += pos as u64;
                self.walk.produced = produced;
            }
        }
        while rest.len() >= 33 {
            rest = self.checked_token(rest)?;
        }
        Ok(rest)
    }

    fn feed_inner(&mut self, chunk: &[u8]) -> Result<(), LzfError> {
        let mut rest = chunk;
        while !rest.is_empty() {
            if let State::Literal(left) = self.walk.state {
                let take = left.min(rest.len() as u64);
                rest = rest.get(take as usize..).unwrap_or(&[]);
                self.walk.consumed += take;
                self.walk.produced += take;
                self.walk.state = if take == left {
                    State::Ctrl
                } else {
                    State::Literal(left - take)
                };
                continue;
            }
            if self.walk.state == State::Ctrl {
                rest = self.whole_tokens(rest)?;
            }
            // A token cut by the chunk's end, or the last few: byte by byte.
            if let Some(Backref { len, .. }) = self.walk.header_byte(&mut rest)? {
                self.walk.produced += len;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lzf::{Compressor, StreamDecoder};

    /// The token walk one token at a time, as the format describes it.
    fn scan_reference(b: &[u8], mut produced: u64) -> (usize, u64) {
        let mut pos = 0;
        while pos + 33 <= b.len() {
            let c = b[pos];
            if c < 0x20 {
                produced += u64::from(c) + 1;
                pos += usize::from(c) + 2;
            } else if c >= 0xE0 {
                produced += 9 + u64::from(b[pos + 1]);
                pos += 3;
            } else {
                produced += u64::from(c >> 5) + 2;
                pos += 2;
            }
        }
        (pos, produced)
    }

    /// Every control byte with every following byte (and a third byte that differs from it):
    /// the byte tables give each token's size, output and distance as the format defines them.
    #[test]
    fn step_and_distance_tables_match_the_format() {
        let mut ctrls = Vec::new();
        let mut nexts = Vec::new();
        let mut thirds = Vec::new();
        for c in 0..=255u8 {
            for nx in 0..=255u8 {
                ctrls.push(c);
                nexts.push(nx);
                thirds.push(nx ^ 0x5A);
            }
        }
        for start in (0..ctrls.len()).step_by(PREFIX_BLOCK) {
            let end = (start + PREFIX_BLOCK).min(ctrls.len());
            let mut s = Scratch::new();
            let (c, nx, th) = (&ctrls[start..end], &nexts[start..end], &thirds[start..end]);
            fill_steps(c, nx, &mut s.adv, &mut s.out, &mut s.extra);
            fill_distances(c, nx, th, &mut s.need_high, &mut s.need_low);
            for i in 0..end - start {
                let (c, nx, th) = (u64::from(c[i]), u64::from(nx[i]), u64::from(th[i]));
                let (size, output, distance) = if c < 0x20 {
                    (c + 2, c + 1, 0)
                } else if c >= 0xE0 {
                    (3, 9 + nx, (((c & 0x1F) << 8) | th) + 1)
                } else {
                    (2, (c >> 5) + 2, (((c & 0x1F) << 8) | nx) + 1)
                };
                assert_eq!(u64::from(s.adv[i]), size, "size of {c:#x} {nx:#x}");
                let got = u64::from(s.out[i]) + u64::from(s.extra[i]);
                assert_eq!(got, output, "output of {c:#x} {nx:#x}");
                let got = (u64::from(s.need_high[i]) << 8) | u64::from(s.need_low[i]);
                assert_eq!(got, distance, "distance of {c:#x} {nx:#x} {th:#x}");
            }
        }
    }

    #[test]
    fn table_walk_equals_token_walk() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for len in [
            0usize, 1, 32, 33, 34, 65, 2047, 2048, 2049, 2080, 2081, 5000, 70_000,
        ] {
            for _ in 0..4 {
                let b: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                let p0 = rng.random_range(0..100_000u64);
                assert_eq!(
                    scan_tokens(&b, p0, &mut Scratch::new()),
                    scan_reference(&b, p0),
                    "len {len}"
                );
            }
        }
        // Periodic bytes, where chains started off the true one never meet it (every step
        // the same size): the true chain must then walk each segment itself.
        for fill in [0x1Fu8, 0x00, 0x20, 0xE0, 0xFF, 0x3F] {
            for len in [2000usize, 2081, 9000] {
                let b = vec![fill; len];
                assert_eq!(
                    scan_tokens(&b, 5, &mut Scratch::new()),
                    scan_reference(&b, 5),
                    "{fill:#x} x {len}"
                );
            }
        }
        let b: Vec<u8> = (0..50_000u32)
            .map(|i| [0x1F, 0x20, 0x00][(i % 3) as usize])
            .collect();
        assert_eq!(
            scan_tokens(&b, 0, &mut Scratch::new()),
            scan_reference(&b, 0)
        );
        // Real streams too.
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| ((i % 251) ^ (i / 7)) as u8)
            .collect();
        let mut z = Vec::new();
        Compressor::new()
            .compress(&data, &mut z, usize::MAX)
            .unwrap();
        assert_eq!(
            scan_tokens(&z, 0, &mut Scratch::new()),
            scan_reference(&z, 0)
        );
    }

    fn decoder_result(input: &[u8], expected: u64, chunk: usize) -> Result<u64, LzfError> {
        let mut d = StreamDecoder::new(expected);
        let mut n = 0u64;
        for c in input.chunks(chunk.max(1)) {
            d.feed(c, &mut |b: &[u8]| n += b.len() as u64)?;
        }
        d.finish().map(|()| n)
    }

    fn validator_result(input: &[u8], expected: u64, chunk: usize) -> Result<u64, LzfError> {
        let mut v = StreamValidator::new(expected);
        for c in input.chunks(chunk.max(1)) {
            v.feed(c)?;
        }
        let n = v.produced();
        v.finish().map(|()| n)
    }

    /// [`validator_result`] with one validator reused across streams ([`StreamValidator::reset`]
    /// keeps the walk's tables, which must carry nothing over).
    fn reused_result(
        v: &mut StreamValidator,
        input: &[u8],
        expected: u64,
        chunk: usize,
    ) -> Result<u64, LzfError> {
        v.reset(expected);
        for c in input.chunks(chunk.max(1)) {
            v.feed(c)?;
        }
        let n = v.produced();
        v.finish().map(|()| n)
    }

    fn sample(n: usize, seed: u64) -> Vec<u8> {
        let words: [&[u8]; 6] = [b"alpha ", b"beta ", b"gamma:", b"{user}", b"0123", b"zz"];
        let mut s = seed | 1;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            if s.is_multiple_of(3) {
                out.push((s >> 24) as u8);
            } else {
                out.extend_from_slice(words[(s >> 8) as usize % words.len()]);
            }
        }
        out.truncate(n);
        out
    }

    #[test]
    fn agrees_with_the_decoder_on_valid_and_mutated_streams() {
        let mut c = Compressor::new();
        let mut reused = StreamValidator::new(0);
        let mut checked = 0;
        for (i, len) in [40usize, 100, 1000, 20_000, 70_000].into_iter().enumerate() {
            let data = sample(len, i as u64 + 7);
            let mut z = Vec::new();
            let Some(zl) = c.compress(&data, &mut z, data.len() * 2) else {
                continue;
            };
            z.truncate(zl);
            for chunk in [1usize, 7, 33, 64 * 1024] {
                assert_eq!(
                    validator_result(&z, len as u64, chunk),
                    Ok(len as u64),
                    "valid stream, chunk {chunk}"
                );
            }
            // Mutations, truncations and wrong lengths give the decoder's exact error.
            let mut s = 0x9E37_79B9_7F4A_7C15u64 ^ len as u64;
            for k in 0..300 {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let mut m = z.clone();
                let at = (s as usize) % m.len();
                match k % 3 {
                    0 => m[at] ^= (s >> 32) as u8 | 1,
                    1 => m.truncate(at),
                    _ => {}
                }
                let expected = if k % 3 == 2 {
                    len as u64 + (s % 5) - 2
                } else {
                    len as u64
                };
                for chunk in [1usize, 5, 64 * 1024] {
                    let want = decoder_result(&m, expected, chunk);
                    assert_eq!(
                        reused_result(&mut reused, &m, expected, chunk),
                        want,
                        "reused validator: len {len} mutation {k} chunk {chunk}"
                    );
                    assert_eq!(
                        validator_result(&m, expected, chunk),
                        want,
                        "len {len} mutation {k} chunk {chunk}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 3000);
    }

    /// Back-references reaching exactly to the start and one byte before it, placed before,
    /// on and after the prefix walk's block edges and the 8 KiB limit: the validator gives
    /// the decoder's exact result in every case.
    #[test]
    fn distances_checked_across_prefix_blocks() {
        let cases = [1usize, 100, 170, 171, 172, 300, 341, 342, 343, 500]
            .map(|t| (t, 2usize))
            .into_iter()
            .chain([(255, 32), (256, 32), (257, 32)]);
        for (tokens, run) in cases {
            for over in [0u64, 1] {
                // `tokens` literal runs of `run` bytes, then a short back-reference of length
                // 3 at distance produced + over (at most 8192), then padding literals so that
                // 33 bytes follow it.
                let mut z = Vec::new();
                for _ in 0..tokens {
                    z.push(run as u8 - 1);
                    z.extend(std::iter::repeat_n(b'a', run));
                }
                let produced = (run * tokens) as u64;
                let d = (produced + over).min(8192) - 1;
                z.extend_from_slice(&[0x20 | (d >> 8) as u8, d as u8]);
                for _ in 0..12 {
                    z.extend_from_slice(&[1, b'c', b'd']);
                }
                let len = produced + 3 + 24;
                for chunk in [1usize, 7, 64 * 1024] {
                    assert_eq!(
                        validator_result(&z, len, chunk),
                        decoder_result(&z, len, chunk),
                        "tokens {tokens} over {over} chunk {chunk}"
                    );
                }
                let valid = over == 0 || produced >= 8192;
                assert_eq!(validator_result(&z, len, 64 * 1024).is_ok(), valid);
            }
        }
    }

    /// A back-reference at the longest distance (8192) after 8191 bytes reaches one byte
    /// before the start; after 8192 bytes it is valid. (Whole runs of 32 bytes never produce
    /// 8191, so the cases above do not meet this edge.)
    #[test]
    fn the_longest_distance_one_byte_before_the_start() {
        for produced in [8191usize, 8192, 8193] {
            let mut z = Vec::new();
            let mut left = produced;
            while left > 0 {
                let run = left.min(32);
                z.push(run as u8 - 1);
                z.extend(std::iter::repeat_n(b'a', run));
                left -= run;
            }
            z.extend_from_slice(&[0x3F, 0xFF]); // length 3, distance 8192
            for _ in 0..12 {
                z.extend_from_slice(&[1, b'c', b'd']);
            }
            let len = produced as u64 + 3 + 24;
            for chunk in [1usize, 7, 64 * 1024] {
                assert_eq!(
                    validator_result(&z, len, chunk),
                    decoder_result(&z, len, chunk),
                    "produced {produced} chunk {chunk}"
                );
            }
            assert_eq!(
                validator_result(&z, len, 64 * 1024).is_ok(),
                produced >= 8192,
                "produced {produced}"
            );
        }
    }
}
