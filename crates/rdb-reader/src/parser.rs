//! The pull parser: a state machine that turns a byte source into [`Event`]s.
//!
//! Each call to [`Parser::next_event`] runs the state machine until it has one event to
//! give. The step functions mutate the state and return an `Emit` descriptor holding only
//! positions and numbers; `Parser::render` then borrows the bytes for the event. Opcodes
//! are handled in a loop, never by recursion. After the first error the parser is fused:
//! every later call returns `Ok(None)`.

use rdb_format::consts::HEADER_LEN;
use rdb_format::double::{decode_old_double, parse_double_text};
use rdb_format::intset::Intset;
use rdb_format::length::{decode_length, Length};
use rdb_format::listpack::ListpackCursor;
use rdb_format::lzf::{self, StreamDecoder};
use rdb_format::lzf_validate::StreamValidator;
use rdb_format::stream_lp::StreamNodeCursor;
use rdb_format::string::{decode_string_header, StringHeader};
use rdb_format::ziplist::ZiplistCursor;
use rdb_format::zipmap::ZipmapCursor;
use rdb_format::{CodecError, Element, Header, Opcode, RdbType, TypeKind};
use rdb_model::StreamId;

use crate::error::{ReadError, ReadResult};
use crate::event::{
    ChecksumStatus, EofInfo, Event, KeyInfo, NodeCountMismatch, StreamEntryRef, StreamMeta,
};
use crate::source::{SliceSource, Source, SourceError, Span};
use crate::Limits;

/// Largest value of a hash-field TTL (2^48 − 1).
const EB_EXPIRE_TIME_MAX: i64 = (1 << 48) - 1;

/// The blob name (for messages) of a type whose whole value is one compact blob (listpack,
/// ziplist, intset, zipmap), which skim mode steps over at the key; `None` for other types.
fn compact_value_name(kind: TypeKind) -> Option<&'static str> {
    use TypeKind as K;
    match kind {
        K::HashListpackEx | K::HashListpackExPreGa => Some("a hash listpack"),
        K::HashZipmap => Some("a zipmap"),
        K::ListZiplist | K::ZSetZiplist | K::HashZiplist => Some("a ziplist"),
        K::SetIntset => Some("an intset"),
        K::HashListpack | K::ZSetListpack | K::SetListpack => Some("a listpack"),
        _ => None,
    }
}

/// Where a string value lives.
#[derive(Debug, Clone, Copy)]
enum Val {
    /// Bytes in the source.
    Span(Span),
    /// An integer (int-encoded string or integer element).
    Int(i64),
    /// The first `len` bytes of scratch buffer `slot` (decompressed LZF; the buffers only
    /// grow, see [`lzf::decompress_reusing`]).
    Scratch { slot: usize, len: usize },
    /// Bytes inside the current blob.
    Blob { off: usize, len: usize },
}

/// Where the current blob (listpack, ziplist, ...) lives.
#[derive(Debug, Clone, Copy)]
enum BlobLoc {
    Src(Span),
    /// The first `n` bytes of `Parser::blob_buf` (decompressed; the buffer only grows).
    Buf(usize),
}

#[derive(Debug, Clone)]
enum BlobCursor {
    Lp(ListpackCursor),
    Zl(ZiplistCursor),
    Intset {
        width: usize,
        len: usize,
        next: usize,
        prev: Option<i64>,
    },
    Zipmap(ZipmapCursor),
}

/// How the elements of a blob group into events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    List,
    Set,
    ZSet,
    Hash,
    /// field, value, ttl triplets (Redis HASH_LISTPACK_EX).
    HashTtl,
}

/// Plain (non-blob) collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plain {
    List,
    Set,
    ZSetV1,
    ZSet2,
    Hash,
    /// Redis 24 (`pre_ga` = 22 in 7.4 RCs): per-field TTL before field and value.
    HashMeta {
        pre_ga: bool,
    },
    /// Valkey HASH_2: field, value, i64 expiry.
    ValkeyHash2,
}

#[derive(Debug)]
enum StreamPhase {
    Nodes {
        left: u64,
    },
    /// Inside a node: the parser's `node_cursor` walks it.
    InNode {
        left: u64,
        loc: BlobLoc,
    },
    Meta,
    Groups {
        left: u64,
    },
    Pel {
        left: u64,
        groups_left: u64,
    },
    Consumers {
        left: u64,
        groups_left: u64,
    },
    ConsumerPel {
        left: u64,
        consumers_left: u64,
        groups_left: u64,
    },
}

#[derive(Debug)]
enum State {
    Header,
    Records,
    StringRaw {
        left: u64,
    },
    StringLzf {
        dec: Box<StreamDecoder>,
        left: u64,
    },
    /// An LZF string value validated without decoding (`Limits::decode_lzf_strings` off).
    StringLzfCheck {
        left: u64,
    },
    Plain {
        plain: Plain,
        left: u64,
        min_expire: i64,
    },
    Blob {
        loc: BlobLoc,
        cur: BlobCursor,
        shape: Shape,
    },
    Quicklist {
        left: u64,
        v2: bool,
        node: Option<(BlobLoc, BlobCursor)>,
    },
    Stream {
        version: u8,
        phase: StreamPhase,
    },
    KeyEnd,
    Done,
}

/// What the next event is, as positions and numbers (rendered by [`Parser::render`]).
#[derive(Debug)]
enum Emit {
    Header(Header),
    Aux(Val, Val),
    SelectDb(u64),
    ResizeDb(u64, u64),
    SlotInfo(u64, u64, u64),
    Function(Val),
    ModuleAux {
        module_id: u64,
        when: u64,
        raw: Option<Span>,
        len: u64,
    },
    Key {
        offset: u64,
        key: Val,
        rdb_type: RdbType,
        kind: TypeKind,
        len_hint: Option<u64>,
        /// The whole key is in this event (`Limits::whole_strings`): no value events and no
        /// `KeyEnd` follow; `value` holds the value's bytes when they are delivered.
        whole: Option<Option<Val>>,
    },
    StringChunk(Val),
    ChunkBuf,
    ListItem(Val),
    SetMember(Val),
    ZSet(Val, f64, Option<Val>),
    Hash(Val, Val, Option<i64>),
    StreamNode {
        master: StreamId,
        count: u64,
        deleted: u64,
        bytes: u64,
    },
    StreamEntry {
        id: StreamId,
        deleted: bool,
    },
    StreamMeta(StreamMeta),
    StreamGroup {
        name: Val,
        last: StreamId,
        entries_read: Option<i64>,
        pel: u64,
    },
    StreamPending {
        id: StreamId,
        time: i64,
        count: u64,
    },
    StreamConsumers(u64),
    StreamConsumer {
        name: Val,
        seen: i64,
        active: Option<i64>,
        pel: u64,
    },
    StreamConsumerPending(StreamId),
    Module {
        module_id: u64,
        raw: Option<Span>,
        len: u64,
    },
    Orphan {
        offset: u64,
        next: Opcode,
    },
    KeyEnd,
    Eof(EofInfo),
}

/// Per-key attributes set by opcodes before the type byte.
#[derive(Debug, Default, Clone, Copy)]
struct Pending {
    expire: Option<i64>,
    idle: Option<u64>,
    freq: Option<u8>,
    /// Offset of the first per-key opcode of this group.
    offset: Option<u64>,
    /// Whether an [`Event::OrphanKeyAttributes`] was already given for this group.
    reported: bool,
}

impl Pending {
    fn is_set(&self) -> bool {
        self.expire.is_some() || self.idle.is_some() || self.freq.is_some()
    }
}

/// The pull parser over a [`Source`].
pub struct Parser<S> {
    src: S,
    limits: Limits,
    header: Option<Header>,
    wide: bool,
    state: State,
    fused: bool,
    db: Option<u64>,
    pending: Pending,
    key: KeyCtx,
    scratch: [Vec<u8>; 3],
    blob_buf: Vec<u8>,
    /// Decompressed chunk of a large LZF string.
    chunk_buf: Vec<u8>,
    /// Absolute file offset of the current blob's string (for error offsets).
    blob_offset: u64,
    /// Whether the current blob was LZF-compressed (its offsets are not file offsets).
    blob_compressed: bool,
    /// The cursor over the current stream node (reused from node to node); the field
    /// positions of the stream entry being rendered are its own.
    node_cursor: Option<StreamNodeCursor>,
    /// The current stream's node listpacks with a wrong header count: how many, the first.
    node_count_mismatches: Option<(u64, NodeCountMismatch)>,
    /// Last key info for `KeyInfo` rendering.
    key_attrs: Pending,
    /// `min_expire` of the current key (types 24/25).
    key_min_expire: Option<i64>,
    /// Element width of the current key's intset.
    key_intset_width: Option<u8>,
    /// An event to give before running the state machine again.
    queued: Option<Emit>,
    /// Inside [`Parser::skip_key`]: walk the value without decoding it.
    skipping: bool,
    /// [`Parser::set_skim`]: compact values (and list and stream nodes) are stepped over by
    /// their string lengths, never decompressed.
    skim: bool,
    /// What [`Parser::set_skim`] asked for: `skim` takes it at the next key's start, so that
    /// a key being read is read all in one mode.
    skim_next: bool,
    /// Validator of the current LZF string value (`Limits::decode_lzf_strings` off).
    lzf_check: StreamValidator,
    /// The string value read in chunks (`State::String*`): offset of its first byte and its
    /// length in the file, so that a truncation names the value as a whole, as the paths
    /// that take a value in one step do.
    chunked_value: (u64, u64),
    /// Offset of the current key's value: the first byte after its key string.
    value_start: u64,
    /// Offset of the type byte of the last record [`Parser::step_record`] read (see
    /// [`Parser::next_event_at`]).
    record_offset: u64,
}

#[derive(Debug, Default)]
struct KeyCtx {
    active: bool,
    preview: Vec<u8>,
    len: usize,
    kind: Option<TypeKind>,
}

/// Size of a string-value chunk: longer values are delivered in several events.
pub const STRING_CHUNK: usize = 1 << 20;
/// Compressed bytes fed per step when a large LZF string is decoded incrementally.
const LZF_FEED: usize = 64 * 1024;

impl<'d> Parser<SliceSource<'d>> {
    /// The "raw value" level, for copying values without decoding them (reshard, convert):
    /// after an [`Event::Key`], skips the rest of the key ([`Parser::skip_key`]) and returns
    /// its value's serialised bytes as they stand in the input — everything between the key
    /// string and the next record, what `rdb_writer::RdbWriter::write_raw_value` takes. The
    /// bytes are not validated beyond what skipping checks (lengths, not contents). `None`
    /// outside a key, and after a string key given whole (`Limits::whole_strings`), which is
    /// complete at its event: its value is `value_offset()..offset()`. Over a slice only: a
    /// stream has released the bytes by then.
    pub fn skip_key_raw(&mut self) -> ReadResult<Option<&'d [u8]>> {
        if self.fused || !self.key.active {
            return Ok(None);
        }
        let start = self.value_start;
        self.skip_key()?;
        let data: &'d [u8] = self.src.data;
        let end = self.src.offset();
        Ok(usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(s, e)| data.get(s..e)))
    }
}

impl<S: Source> Parser<S> {
    /// A parser over `src`.
    pub fn new(src: S, limits: Limits) -> Self {
        Parser {
            src,
            limits,
            header: None,
            wide: true,
            state: State::Header,
            fused: false,
            db: None,
            pending: Pending::default(),
            key: KeyCtx::default(),
            scratch: [Vec::new(), Vec::new(), Vec::new()],
            blob_buf: Vec::new(),
            chunk_buf: Vec::new(),
            blob_offset: 0,
            blob_compressed: false,
            node_cursor: None,
            node_count_mismatches: None,
            key_attrs: Pending::default(),
            key_min_expire: None,
            key_intset_width: None,
            queued: None,
            skipping: false,
            skim: false,
            skim_next: false,
            lzf_check: StreamValidator::new(0),
            chunked_value: (0, 0),
            value_start: 0,
            record_offset: 0,
        }
    }

    /// Skim mode, for reading a file's records with every key skipped ([`Parser::skip_key`]
    /// after each key event): a compact value (listpack, ziplist, intset, zipmap), each
    /// quicklist or stream node and an LZF string value given whole
    /// ([`Limits::whole_strings`]) are stepped over by their string lengths — not
    /// decompressed, not validated, so errors inside them go unnoticed, and the key event of a
    /// compact value has no `len_hint`. Takes effect from the next key.
    pub fn set_skim(&mut self, on: bool) {
        self.skim_next = on;
    }

    /// The limits the parser was made with.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The header, once read.
    pub fn header(&self) -> Option<Header> {
        self.header
    }

    /// Absolute offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.src.offset()
    }

    /// The current database.
    pub fn db(&self) -> Option<u64> {
        self.db
    }

    /// The next event; `Ok(None)` after EOF or after an error (the parser is fused).
    pub fn next_event(&mut self) -> ReadResult<Option<Event<'_>>> {
        Ok(self.next_emit()?.map(|e| self.render(e)))
    }

    /// [`Parser::next_event`] with where the event starts: for a record that is not a key
    /// (AUX, SELECTDB, RESIZEDB, SLOT_INFO, FUNCTION2, MODULE_AUX, EOF) its opcode — past any
    /// per-key opcodes (EXPIRETIME, IDLE, FREQ) read before it in the same call, which the
    /// offset before the call would name instead —, for any other event [`Parser::offset`]
    /// before the call.
    pub fn next_event_at(&mut self) -> ReadResult<Option<(u64, Event<'_>)>> {
        let before = self.src.offset();
        let Some(emit) = self.next_emit()? else {
            return Ok(None);
        };
        let at = match emit {
            Emit::Aux(..)
            | Emit::SelectDb(_)
            | Emit::ResizeDb(..)
            | Emit::SlotInfo(..)
            | Emit::Function(_)
            | Emit::ModuleAux { .. }
            | Emit::Eof(_) => self.record_offset,
            _ => before,
        };
        Ok(Some((at, self.render(emit))))
    }

    /// The next event before rendering (see [`Parser::next_event`]).
    #[inline(always)]
    fn next_emit(&mut self) -> ReadResult<Option<Emit>> {
        if self.fused {
            return Ok(None);
        }
        let emit = loop {
            if let Some(e) = self.fast_string_record() {
                break e;
            }
            match self.step() {
                Ok(Some(e)) => break e,
                Ok(None) => continue,
                Err(e) => return Err(self.fuse(e)),
            }
        };
        if let Emit::Eof(_) = emit {
            self.fused = true;
        }
        Ok(Some(emit))
    }

    /// Gives the remaining elements of the current compact value (a listpack, ziplist, intset
    /// or zipmap held in memory, or the current quicklist node) to `f`, all in one call,
    /// instead of one [`Parser::next_event`] call each; in any other state it does nothing.
    /// The events, their order and any error (after which the parser is fused, as with
    /// `next_event`) are exactly those that `next_event` would give; the source does not move
    /// while a compact value is walked.
    #[inline(always)]
    pub fn drain_blob(&mut self, f: &mut impl FnMut(&Event<'_>)) -> ReadResult<()> {
        // Called after every event: the common "not in a blob" answer inline, the walk apart.
        if self.fused || self.skipping || self.queued.is_some() {
            return Ok(());
        }
        if !matches!(
            self.state,
            State::Blob { .. } | State::Quicklist { node: Some(_), .. }
        ) {
            return Ok(());
        }
        self.drain_blob_elements(f)
    }

    /// Gives the remaining elements of a value whose elements are records of their own (a
    /// hashtable-encoded set, hash or sorted set, or a list of plain elements) to `f`, each
    /// with the offset where it starts, all in one call instead of one [`Parser::next_event`]
    /// call each; in any other state it does nothing. The events, their order and any error
    /// (after which the parser is fused) are exactly those that `next_event` would give, and
    /// each offset is what [`Parser::offset`] would be before that call; the value's
    /// [`Event::KeyEnd`] is left to `next_event`.
    pub fn drain_plain(&mut self, f: &mut impl FnMut(&Event<'_>, u64)) -> ReadResult<()> {
        if self.fused || self.skipping || self.queued.is_some() {
            return Ok(());
        }
        while let State::Plain { .. } = self.state {
            let start = self.src.offset();
            match self.step_plain() {
                Ok(Some(e)) => f(&self.render(e), start),
                // The last element was given: the state is now `KeyEnd`.
                Ok(None) => {}
                Err(e) => return Err(self.fuse(e)),
            }
        }
        Ok(())
    }

    /// Inside an intset-encoded set, right after its [`Event::Key`] (before any member
    /// event), checks every member at once — strictly ascending, the check the
    /// [`Event::SetMember`] events make one by one — and returns the set, leaving the parser at
    /// the key's end (the next event is [`Event::KeyEnd`]). Anywhere else, while skipping, and
    /// for an intset out of order it returns `None` and changes nothing: the member events then
    /// come as usual and end with the error at the offending member.
    ///
    /// For consumers that need the members only as numbers (a verifier): a set of a few
    /// hundred members is then a loop over its array, not an event per member.
    pub fn take_intset(&mut self) -> Option<Intset<'_>> {
        if self.fused || self.skipping || self.queued.is_some() {
            return None;
        }
        let State::Blob {
            loc,
            cur:
                BlobCursor::Intset {
                    next: 0,
                    prev: None,
                    ..
                },
            ..
        } = self.state
        else {
            return None;
        };
        // The blob passed `Intset::parse` when the key started.
        let set = Intset::parse(blob_at(&self.src, &self.blob_buf, loc)).ok()?;
        if set.first_unordered().is_some() {
            return None;
        }
        self.state = State::KeyEnd;
        Some(set)
    }

    fn drain_blob_elements(&mut self, f: &mut impl FnMut(&Event<'_>)) -> ReadResult<()> {
        match self.state {
            State::Quicklist { node: Some(_), .. } => self.drain_quicklist_node(f),
            State::Blob { .. } => self.drain_blob_value(f),
            _ => Ok(()),
        }
    }

    /// The elements of the current compact value (`State::Blob`), in a loop over its blob:
    /// what `step_blob` gives element by element (the same events, the same error), without
    /// going through the parser's state for each element. The state is `KeyEnd` meanwhile,
    /// as `step_blob` leaves it after the last element.
    fn drain_blob_value(&mut self, f: &mut impl FnMut(&Event<'_>)) -> ReadResult<()> {
        let taken = std::mem::replace(&mut self.state, State::KeyEnd);
        let State::Blob {
            loc,
            mut cur,
            shape,
        } = taken
        else {
            self.state = taken;
            return Ok(());
        };
        let blob = blob_at(&self.src, &self.blob_buf, loc);
        // Elements of a blob are positions in it (or integers); anything else as `render` does.
        let el = |v: Val| match v {
            Val::Int(i) => Element::Int(i),
            Val::Blob { off, len } => Element::Str(blob.get(off..off + len).unwrap_or(&[])),
            v => self.el(v),
        };
        loop {
            match blob_item(blob, &mut cur, shape) {
                Ok(Some(e)) => {
                    let ev = match e {
                        Emit::ListItem(v) => Event::ListItem(el(v)),
                        Emit::SetMember(v) => Event::SetMember(el(v)),
                        Emit::ZSet(m, score, text) => Event::ZSetMember {
                            member: el(m),
                            score,
                            score_text: text.map(el),
                        },
                        Emit::Hash(field, value, expire_at_ms) => Event::HashField {
                            field: el(field),
                            value: el(value),
                            expire_at_ms,
                        },
                        other => self.render(other),
                    };
                    f(&ev);
                }
                Ok(None) => return Ok(()),
                Err(e) => {
                    let e = self.item_err(e);
                    return Err(self.fuse(e));
                }
            }
        }
    }

    /// The items of the current quicklist node, in a loop over its blob: what
    /// `step_quicklist` gives item by item (the same events, the same error), without going
    /// through the parser's state, an `Emit` and `render` for each item.
    fn drain_quicklist_node(&mut self, f: &mut impl FnMut(&Event<'_>)) -> ReadResult<()> {
        let State::Quicklist {
            node: Some((loc, cur)),
            ..
        } = &mut self.state
        else {
            return Ok(());
        };
        let blob = blob_at(&self.src, &self.blob_buf, *loc);
        let end = loop {
            let item = match cur {
                BlobCursor::Lp(c) => c.next(blob),
                BlobCursor::Zl(c) => c.next(blob),
                // Not a quicklist node's cursor: left to `next_event`.
                BlobCursor::Intset { .. } | BlobCursor::Zipmap(_) => return Ok(()),
            };
            match item {
                Ok(Some(e)) => f(&Event::ListItem(e)),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        match end {
            Ok(()) => {
                if let State::Quicklist { node, .. } = &mut self.state {
                    *node = None;
                }
                Ok(())
            }
            Err(e) => {
                let e = self.blob_err(e);
                Err(self.fuse(e))
            }
        }
    }

    /// Ends the parse after error `e` (later calls give no events) and returns `e`.
    fn fuse(&mut self, e: ReadError) -> ReadError {
        self.fused = true;
        self.state = State::Done;
        e
    }

    /// Skips the rest of the current key (after its [`Event::Key`]) without giving its
    /// elements: a compact value's blob is not walked and LZF strings are not decompressed,
    /// but each quicklist node and stream node is still read (decompressed when
    /// LZF-compressed; a stream node's master entry parsed) unless skim mode
    /// ([`Parser::set_skim`]) steps over them by their lengths. The next event is whatever
    /// follows the key. Does nothing outside a key.
    pub fn skip_key(&mut self) -> ReadResult<()> {
        if self.fused || !self.key.active {
            return Ok(());
        }
        self.skipping = true;
        let r = loop {
            match self.step() {
                Ok(Some(Emit::KeyEnd)) => break Ok(()),
                Ok(Some(Emit::Eof(_))) => {
                    break Err(self.err(self.src.offset(), "internal", "EOF inside a key"))
                }
                Ok(_) => continue,
                Err(e) => break Err(e),
            }
        };
        self.skipping = false;
        if r.is_err() {
            self.fused = true;
            self.state = State::Done;
        }
        r
    }

    /// Offset of the current key's value (the first byte after its key string); meaningful
    /// after an [`Event::Key`].
    pub fn value_offset(&self) -> u64 {
        self.value_start
    }

    // ----- error helpers -------------------------------------------------------------

    fn err(&self, offset: u64, code: &'static str, message: impl Into<String>) -> ReadError {
        let mut e = ReadError::new(offset, code, message);
        let i = e.info_mut();
        i.db = self.db;
        if self.key.active {
            i.key = Some(self.key.preview.clone());
            i.key_len = self.key.len;
            i.type_info = self.key.kind.map(|k| (k.logical(), k.encoding()));
        }
        e
    }

    fn src_err(&self, e: SourceError, what: &str) -> ReadError {
        let off = self.src.offset();
        match e {
            SourceError::Eof { needed, available } => self.err(
                off,
                "truncated",
                format!("unexpected end of file reading {what}: needed {needed} bytes, {available} left"),
            ),
            SourceError::TooLarge(n) => self.err(
                off,
                "limit",
                format!("{what} of {n} bytes exceeds the reader's buffer limit"),
            ),
            SourceError::Io(io) => {
                let mut e = self.err(off, "io", format!("I/O error reading {what}: {io}"));
                e.info_mut().io = Some(io);
                e
            }
        }
    }

    fn codec_err(&self, e: CodecError, base: u64) -> ReadError {
        self.err(base.saturating_add(e.offset as u64), e.code, e.message)
    }

    fn blob_err(&self, e: CodecError) -> ReadError {
        if self.blob_compressed {
            let msg = format!("{} (at +{} in the decompressed blob)", e.message, e.offset);
            self.err(self.blob_offset, e.code, msg)
        } else {
            self.codec_err(e, self.blob_offset)
        }
    }

    // ----- primitive reads -----------------------------------------------------------

    fn take(&mut self, n: usize, what: &str) -> ReadResult<Span> {
        match self.src.take(n) {
            Ok(s) => Ok(s),
            Err(e) => Err(self.src_err(e, what)),
        }
    }

    fn take_array<const N: usize>(&mut self, what: &str) -> ReadResult<[u8; N]> {
        let sp = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(self.src.bytes(sp));
        Ok(a)
    }

    fn read_u8(&mut self, what: &str) -> ReadResult<u8> {
        Ok(self.take_array::<1>(what)?[0])
    }

    fn read_length(&mut self, what: &str) -> ReadResult<Length> {
        let off = self.src.offset();
        // `peek` gives what is there up to 9 bytes: the count left before the end, the same
        // from every source (a stream does not know its remaining length).
        let (r, avail) = match self.src.peek(9) {
            Ok(b) => (decode_length(b, self.wide), b.len()),
            Err(e) => return Err(self.src_err(e, what)),
        };
        match r {
            Ok((l, n)) => {
                self.take(n, what)?;
                Ok(l)
            }
            Err(e) if e.code == "truncated" => Err(self.err(
                off,
                "truncated",
                format!("unexpected end of file reading {what} ({avail} bytes left)"),
            )),
            Err(e) => Err(self.err(off, e.code, format!("{} while reading {what}", e.message))),
        }
    }

    /// A plain length. Counts read with it never size an allocation and every item consumes
    /// input, so a hostile count ends at the end of the input. Lengths are deliberately not
    /// compared with the bytes a slice source knows remain: every source must fail the same
    /// way at the same offset.
    fn read_len(&mut self, what: &str) -> ReadResult<u64> {
        let off = self.src.offset();
        match self.read_length(what)? {
            Length::Len(v) => Ok(v),
            Length::Special(e) => Err(self.err(
                off,
                "length-encoding",
                format!("expected a length for {what}, found special encoding {e}"),
            )),
        }
    }

    /// A plain length that the servers read with `rdbLoadLen(…) == RDB_LENERR` (IDLE,
    /// RESIZEDB, SLOT_INFO): 2^64 − 1 is their read-error marker, so every server fails to
    /// load a file holding it ("Unexpected EOF reading RDB file").
    fn read_len_checked(&mut self, what: &str) -> ReadResult<u64> {
        let off = self.src.offset();
        let v = self.read_len(what)?;
        if v == u64::MAX {
            return Err(self.err(
                off,
                "len-err-marker",
                format!("{what} is 2^64-1, the servers' length-error marker (RDB_LENERR): no server loads this file"),
            ));
        }
        Ok(v)
    }

    /// Reads a string header; returns it and its offset. Inlined for the common case (a raw
    /// string with a 6-bit length, one byte), so that the header stays in registers.
    #[inline(always)]
    fn read_string_header(&mut self, what: &str) -> ReadResult<(StringHeader, u64)> {
        let off = self.src.offset();
        if let Ok(&[b0, ..]) = self.src.peek(1) {
            if b0 < 0x40 {
                self.take(1, what)?;
                return Ok((StringHeader::Raw(u64::from(b0)), off));
            }
        }
        self.read_string_header_slow(what)
    }

    /// [`Parser::read_string_header`] for every other header (and for errors).
    #[inline(never)]
    fn read_string_header_slow(&mut self, what: &str) -> ReadResult<(StringHeader, u64)> {
        let off = self.src.offset();
        let r = match self.src.peek(19) {
            Ok(b) => decode_string_header(b, self.wide),
            Err(e) => return Err(self.src_err(e, what)),
        };
        match r {
            Ok((h, n)) => {
                self.take(n, what)?;
                Ok((h, off))
            }
            Err(e) if e.code == "truncated" => Err(self.err(
                off,
                "truncated",
                format!("unexpected end of file reading {what}"),
            )),
            Err(e) => Err(self.err(off, e.code, format!("{} while reading {what}", e.message))),
        }
    }

    /// Checks a declared length against the reader's limits (independent of the source, so
    /// every source fails the same way). Lengths beyond the input fail in `take`, which never
    /// allocates more than the input actually holds.
    fn check_len(&self, off: u64, len: u64, limit: usize, what: &str) -> ReadResult<usize> {
        match usize::try_from(len) {
            Ok(l) if l <= limit => Ok(l),
            _ => Err(self.err(
                off,
                "limit",
                format!("{what} of {len} bytes exceeds the limit of {limit} bytes"),
            )),
        }
    }

    /// Reads a whole RDB string (raw, integer or LZF into scratch `slot`).
    fn read_string(&mut self, slot: usize, what: &str) -> ReadResult<Val> {
        let (h, off) = self.read_string_header(what)?;
        match h {
            StringHeader::Int(v) => Ok(Val::Int(v)),
            StringHeader::Raw(len) => {
                let l = self.check_len(off, len, self.limits.max_string, what)?;
                Ok(Val::Span(self.take(l, what)?))
            }
            StringHeader::Lzf {
                compressed,
                uncompressed,
            } => {
                let c = self.check_len(off, compressed, self.limits.max_string, what)?;
                let u = self.check_lzf_len(
                    off,
                    compressed,
                    uncompressed,
                    self.limits.max_string,
                    what,
                )?;
                let sp = self.take(c, what)?;
                if self.skipping {
                    return Ok(Val::Int(0));
                }
                let mut buf = std::mem::take(self.scratch.get_mut(slot).unwrap_or(&mut Vec::new()));
                let r = lzf::decompress_reusing(self.src.bytes(sp), &mut buf, u);
                if let Some(s) = self.scratch.get_mut(slot) {
                    *s = buf;
                }
                match r {
                    Ok(()) => Ok(Val::Scratch { slot, len: u }),
                    Err(e) => Err(self.err(
                        sp.start().saturating_add(e.offset()),
                        "lzf",
                        format!("invalid LZF compression of {what}: {e}"),
                    )),
                }
            }
        }
    }

    fn check_lzf_len(
        &self,
        off: u64,
        compressed: u64,
        uncompressed: u64,
        limit: usize,
        what: &str,
    ) -> ReadResult<usize> {
        if uncompressed > lzf::max_decompressed_len(compressed) {
            return Err(self.err(
                off,
                "lzf-length",
                format!("{what}: {compressed} LZF bytes cannot decode to the declared {uncompressed} bytes"),
            ));
        }
        match usize::try_from(uncompressed) {
            Ok(u) if u <= limit => Ok(u),
            _ => Err(self.err(
                off,
                "limit",
                format!(
                    "{what} of {uncompressed} bytes (decompressed) exceeds the limit of {limit} bytes"
                ),
            )),
        }
    }

    /// Reads a blob's string header and checks its lengths against the limits: the bytes to
    /// take and, when LZF-compressed, the decompressed length.
    fn blob_header(&mut self, what: &str) -> ReadResult<(usize, Option<usize>)> {
        let (h, off) = self.read_string_header(what)?;
        self.blob_offset = off;
        match h {
            StringHeader::Int(v) => Err(self.err(
                off,
                "blob-encoding",
                format!("{what} is an integer-encoded string ({v}), not a blob"),
            )),
            StringHeader::Raw(len) => {
                Ok((self.check_len(off, len, self.limits.max_blob, what)?, None))
            }
            StringHeader::Lzf {
                compressed,
                uncompressed,
            } => {
                let c = self.check_len(off, compressed, self.limits.max_blob, what)?;
                let u =
                    self.check_lzf_len(off, compressed, uncompressed, self.limits.max_blob, what)?;
                Ok((c, Some(u)))
            }
        }
    }

    /// Steps over a blob with the checks of [`Parser::read_blob`] on its string header and
    /// lengths, without decompressing or parsing it (skim mode). A blob larger than
    /// [`STRING_CHUNK`] is taken in released chunks, so skimming never buffers it whole; the
    /// bytes of `key` (the key being read, when its event is still to come) are first moved
    /// to scratch buffer 0, as a released span would no longer hold them.
    fn skip_blob(&mut self, what: &str, key: Option<&mut Val>) -> ReadResult<()> {
        let (n, _) = self.blob_header(what)?;
        if n <= STRING_CHUNK {
            self.take(n, what)?;
            return Ok(());
        }
        self.key_to_scratch(key);
        let mut left = n;
        while left > 0 {
            let chunk = left.min(STRING_CHUNK);
            self.take(chunk, what)?;
            self.src.release();
            left -= chunk;
        }
        Ok(())
    }

    /// Moves the bytes of `key` (the key being read, when its event is still to come) to
    /// scratch buffer 0, before the source releases the bytes it was read from.
    fn key_to_scratch(&mut self, key: Option<&mut Val>) {
        if let Some(k) = key {
            if let Val::Span(sp) = *k {
                let mut buf = std::mem::take(self.scratch.get_mut(0).unwrap_or(&mut Vec::new()));
                buf.clear();
                buf.extend_from_slice(self.src.bytes(sp));
                let len = buf.len();
                if let Some(s) = self.scratch.get_mut(0) {
                    *s = buf;
                }
                *k = Val::Scratch { slot: 0, len };
            }
        }
    }

    /// Reads a blob (listpack, ziplist, ...): a string that stays available (in the source
    /// window or in `blob_buf`) until the blob's elements are consumed.
    fn read_blob(&mut self, what: &str) -> ReadResult<BlobLoc> {
        let (n, uncompressed) = self.blob_header(what)?;
        let sp = self.take(n, what)?;
        let Some(u) = uncompressed else {
            self.blob_offset = sp.start();
            self.blob_compressed = false;
            return Ok(BlobLoc::Src(sp));
        };
        let r = lzf::decompress_reusing(self.src.bytes(sp), &mut self.blob_buf, u);
        self.blob_compressed = true;
        match r {
            Ok(()) => Ok(BlobLoc::Buf(u)),
            Err(e) => Err(self.err(
                sp.start().saturating_add(e.offset()),
                "lzf",
                format!("invalid LZF compression of {what}: {e}"),
            )),
        }
    }

    fn blob(&self, loc: BlobLoc) -> &[u8] {
        blob_at(&self.src, &self.blob_buf, loc)
    }

    fn read_i64le(&mut self, what: &str) -> ReadResult<i64> {
        Ok(i64::from_le_bytes(self.take_array::<8>(what)?))
    }

    fn read_stream_id_be(&mut self, what: &str) -> ReadResult<StreamId> {
        Ok(StreamId::from_be_bytes(self.take_array::<16>(what)?))
    }

    fn read_stream_id_lens(&mut self, what: &str) -> ReadResult<StreamId> {
        let ms = self.read_len(what)?;
        let seq = self.read_len(what)?;
        Ok(StreamId::new(ms, seq))
    }

    // ----- the state machine ---------------------------------------------------------

    #[inline(always)]
    fn step(&mut self) -> ReadResult<Option<Emit>> {
        if let Some(q) = self.queued.take() {
            return Ok(Some(q));
        }
        match &mut self.state {
            State::Header => self.step_header().map(Some),
            State::Records => self.step_record(),
            State::KeyEnd => {
                self.state = State::Records;
                self.key.active = false;
                Ok(Some(Emit::KeyEnd))
            }
            State::Done => Err(self.err(self.src.offset(), "done", "read past the end")),
            State::StringRaw { .. } | State::StringLzf { .. } | State::StringLzfCheck { .. } => {
                self.step_string()
            }
            State::Plain { .. } => self.step_plain(),
            State::Blob { .. } => self.step_blob(),
            State::Quicklist { .. } => self.step_quicklist(),
            State::Stream { .. } => self.step_stream(),
        }
    }

    fn step_header(&mut self) -> ReadResult<Emit> {
        let b = self.take_array::<HEADER_LEN>("the file header")?;
        let h = Header::parse(&b).map_err(|m| self.err(0, "signature", m))?;
        self.header = Some(h);
        self.wide = h.has_64bit_lengths();
        self.state = State::Records;
        Ok(Emit::Header(h))
    }

    fn header_or_err(&self) -> ReadResult<Header> {
        self.header
            .ok_or_else(|| self.err(0, "signature", "no header"))
    }

    /// The most common record, a short string key, read straight from
    /// [`Parser::next_event`]: what `step` → `step_record` → `record` → `start_key` →
    /// `short_string_key` does for it, without passing the event back through those calls
    /// (each returns it by value). `None`, with nothing consumed, for anything else, which
    /// then takes the general path.
    #[inline(always)]
    fn fast_string_record(&mut self) -> Option<Emit> {
        if !matches!(self.state, State::Records) || self.queued.is_some() || self.header.is_none() {
            return None;
        }
        // As `step_record` does first (repeating it there is harmless).
        self.src.release();
        let off = self.src.offset();
        self.short_string_key::<1>(off, RdbType(0))
    }

    fn step_record(&mut self) -> ReadResult<Option<Emit>> {
        self.src.release();
        let off = self.src.offset();
        let t = self.read_u8("a record type")?;
        self.record_offset = off;
        if matches!(t, 0xF8 | 0xF9 | 0xFC | 0xFD) && self.pending.offset.is_none() {
            self.pending.offset = Some(off);
        }
        let emit = self.record(off, t)?;
        // Per-key opcodes followed by a record that is not a key: servers keep them for the
        // next key (and so do we); report it once, right after that record (before EOF, which
        // is the last event).
        if let Some(e) = emit {
            let is_key = matches!(e, Emit::Key { .. });
            if !is_key && self.pending.is_set() && !self.pending.reported {
                self.pending.reported = true;
                let orphan = Emit::Orphan {
                    offset: self.pending.offset.unwrap_or(off),
                    next: Opcode(t),
                };
                if matches!(e, Emit::Eof(_)) {
                    self.queued = Some(e);
                    return Ok(Some(orphan));
                }
                self.queued = Some(orphan);
            }
            return Ok(Some(e));
        }
        Ok(None)
    }

    fn record(&mut self, off: u64, t: u8) -> ReadResult<Option<Emit>> {
        match t {
            0xFF => self.finish_eof(off).map(Some),
            0xFE => {
                let db = self.read_len("the SELECTDB index")?;
                if db > u64::from(u32::MAX) {
                    // No server holds that many databases (`databases` is an `int`), and a
                    // keyspace names its databases with a `u32`: refused, never clamped.
                    return Err(self.err(
                        off,
                        "selectdb-range",
                        format!("SELECTDB index {db} is beyond any server's database count"),
                    ));
                }
                self.db = Some(db);
                Ok(Some(Emit::SelectDb(db)))
            }
            0xFD => {
                let s = i32::from_le_bytes(self.take_array::<4>("an EXPIRETIME")?);
                self.pending.expire = Some(i64::from(s) * 1000);
                Ok(None)
            }
            0xFC => {
                let ms = self.read_i64le("an EXPIRETIME_MS")?;
                self.pending.expire = Some(ms);
                Ok(None)
            }
            0xFB => {
                let keys = self.read_len_checked("the RESIZEDB key count")?;
                let expires = self.read_len_checked("the RESIZEDB expires count")?;
                Ok(Some(Emit::ResizeDb(keys, expires)))
            }
            0xFA => {
                let k = self.read_string(0, "an AUX key")?;
                let v = self.read_string(1, "an AUX value")?;
                Ok(Some(Emit::Aux(k, v)))
            }
            0xF9 => {
                let f = self.read_u8("a FREQ value")?;
                self.pending.freq = Some(f);
                Ok(None)
            }
            0xF8 => {
                let idle = self.read_len_checked("an IDLE value")?;
                self.pending.idle = Some(idle);
                Ok(None)
            }
            0xF7 => {
                let module_id = self.read_len("a MODULE_AUX module id")?;
                let start = self.src.offset();
                let when_op = self.read_len("a MODULE_AUX when opcode")?;
                if when_op != 2 {
                    return Err(self.err(
                        start,
                        "module-aux",
                        format!("MODULE_AUX when-opcode is {when_op}, expected 2"),
                    ));
                }
                let when = self.read_len("a MODULE_AUX when")?;
                if when != 1 && when != 2 {
                    return Err(self.err(
                        start,
                        "module-aux",
                        format!("MODULE_AUX when is {when}, expected 1 or 2"),
                    ));
                }
                let (raw, len) = self.read_module_body(None)?;
                Ok(Some(Emit::ModuleAux {
                    module_id,
                    when,
                    raw,
                    len,
                }))
            }
            0xF6 => Err(self.err(
                off,
                "function-pre-ga",
                "pre-release function format (opcode 246) not supported",
            )),
            0xF5 => {
                let code = self.read_string(0, "a function library")?;
                Ok(Some(Emit::Function(code)))
            }
            0xF4 => {
                let slot = self.read_len_checked("a SLOT_INFO slot")?;
                let keys = self.read_len_checked("a SLOT_INFO key count")?;
                let expires = self.read_len_checked("a SLOT_INFO expires count")?;
                Ok(Some(Emit::SlotInfo(slot, keys, expires)))
            }
            0xF0..=0xF3 => Err(self.err(
                off,
                "unsupported-opcode",
                format!("unsupported opcode {}", Opcode(t)),
            )),
            _ => self.start_key(off, RdbType(t)).map(Some),
        }
    }

    fn finish_eof(&mut self, eof_offset: u64) -> ReadResult<Emit> {
        let h = self.header_or_err()?;
        let computed = self.src.crc();
        let (stored, status) = if h.has_checksum() {
            let stored = u64::from_le_bytes(self.take_array::<8>("the checksum")?);
            let status = if stored == 0 {
                ChecksumStatus::Disabled
            } else if stored == computed {
                ChecksumStatus::Ok
            } else {
                ChecksumStatus::Mismatch
            };
            (Some(stored), status)
        } else {
            (None, ChecksumStatus::Absent)
        };
        if status == ChecksumStatus::Mismatch && self.limits.verify_checksum {
            let mut e = self.err(
                eof_offset + 1,
                "crc-mismatch",
                format!(
                    "RDB CRC error: stored checksum {:016x}, computed {computed:016x}",
                    stored.unwrap_or(0)
                ),
            );
            // The checksum covers the whole file, not the last database.
            e.info_mut().db = None;
            return Err(e);
        }
        let trailing_bytes = self
            .src
            .has_more()
            .map_err(|e| self.src_err(e, "the end of file"))?;
        self.state = State::Done;
        Ok(Emit::Eof(EofInfo {
            eof_offset,
            stored,
            computed,
            status,
            trailing_bytes,
        }))
    }

    /// Walks a module opcode stream (MODULE_2 value or MODULE_AUX body) up to its EOF opcode:
    /// its span when the bytes are kept ([`Limits::module_bytes`]; at most `max_blob` of
    /// them), and its length. Not kept, the body is taken in released chunks (the bytes of
    /// `key`, the key being read, first moved to scratch buffer 0 as in [`Parser::skip_blob`]),
    /// so its size does not matter.
    fn read_module_body(&mut self, key: Option<&mut Val>) -> ReadResult<(Option<Span>, u64)> {
        let keep = self.limits.module_bytes;
        if !keep {
            self.key_to_scratch(key);
        }
        // Kept in a source that buffers what it gives: held to `max_blob` (a slice or a
        // mapped file holds any size already).
        let bounded = keep && self.src.buffers_spans();
        let start = self.take(0, "a module value")?;
        let too_long = |p: &Self, len: u64| {
            p.err(
                start.start(),
                "limit",
                format!(
                    "a module value of more than {len} bytes exceeds the limit of {} bytes",
                    p.limits.max_blob
                ),
            )
        };
        loop {
            let off = self.src.offset();
            let so_far = off - start.start();
            if bounded && so_far > self.limits.max_blob as u64 {
                return Err(too_long(self, so_far));
            }
            if !keep {
                self.src.release();
            }
            let op = self.read_len("a module opcode")?;
            match op {
                0 => break,
                1 | 2 => {
                    self.read_len("a module integer")?;
                }
                3 => {
                    self.take(4, "a module float")?;
                }
                4 => {
                    self.take(8, "a module double")?;
                }
                5 => {
                    // Strings are walked, never decompressed into memory.
                    let (h, hoff) = self.read_string_header("a module string")?;
                    let n = self.check_len(
                        hoff,
                        h.payload_len(),
                        self.limits.max_string,
                        "a module string",
                    )?;
                    let so_far = self.src.offset() - start.start();
                    if bounded && so_far.saturating_add(n as u64) > self.limits.max_blob as u64 {
                        return Err(too_long(self, so_far.saturating_add(n as u64)));
                    }
                    if keep {
                        self.take(n, "a module string")?;
                    } else {
                        let mut left = n;
                        while left > 0 {
                            let chunk = left.min(STRING_CHUNK);
                            self.take(chunk, "a module string")?;
                            self.src.release();
                            left -= chunk;
                        }
                    }
                }
                _ => {
                    return Err(self.err(
                        off,
                        "module-opcode",
                        format!("unknown module opcode {op}"),
                    ));
                }
            }
        }
        let end = self.take(0, "a module value")?;
        let len = end.start() - start.start();
        if bounded && len > self.limits.max_blob as u64 {
            return Err(too_long(self, len));
        }
        Ok((keep.then(|| start.to_end_of(end)), len))
    }

    /// The key event of a key whose compact value was stepped over (skim mode, see
    /// [`compact_value_name`]): the value gives no events.
    fn skimmed_key(&mut self, offset: u64, key: Val, t: RdbType, kind: TypeKind) -> Emit {
        self.state = State::KeyEnd;
        Emit::Key {
            offset,
            key,
            rdb_type: t,
            kind,
            len_hint: None,
            whole: None,
        }
    }

    fn start_key(&mut self, offset: u64, t: RdbType) -> ReadResult<Emit> {
        self.skim = self.skim_next;
        let h = self.header_or_err()?;
        let kind = h
            .classify_type(t)
            .map_err(|m| self.err(offset, "unsupported-type", format!("{m}: {t}")))?;
        if kind == TypeKind::String {
            if let Some(e) = self.short_string_key::<0>(offset, t) {
                return Ok(e);
            }
        }
        let mut key = self.read_string(0, "a key")?;
        self.value_start = self.src.offset();
        self.enter_key(key, kind);

        use TypeKind as K;
        if self.skim {
            if let Some(what) = compact_value_name(kind) {
                if kind == K::HashListpackEx {
                    self.key_min_expire = Some(self.read_i64le("the hash min expire")?);
                }
                self.skip_blob(what, Some(&mut key))?;
                return Ok(self.skimmed_key(offset, key, t, kind));
            }
        }
        let mut len_hint = None;
        self.state = match kind {
            K::String => {
                let (h, off) = self.read_string_header("a string value")?;
                match h {
                    StringHeader::Int(v) => {
                        self.state = State::KeyEnd;
                        // Emit the key now; the value follows as one chunk.
                        return Ok(self.key_then(
                            offset,
                            key,
                            t,
                            kind,
                            Some(1),
                            Emit::StringChunk(Val::Int(v)),
                        ));
                    }
                    StringHeader::Raw(len) if len <= STRING_CHUNK as u64 => {
                        // One chunk: taken now and queued behind the key (one step less per
                        // key than going through `State::StringRaw`).
                        let sp = self.take(len as usize, "a string value")?;
                        self.state = State::KeyEnd;
                        return Ok(self.key_then(
                            offset,
                            key,
                            t,
                            kind,
                            Some(len),
                            Emit::StringChunk(Val::Span(sp)),
                        ));
                    }
                    StringHeader::Raw(len) => {
                        let _ = self.check_len(off, len, usize::MAX, "a string value")?;
                        len_hint = Some(len);
                        self.chunked_value = (self.src.offset(), len);
                        State::StringRaw { left: len }
                    }
                    StringHeader::Lzf {
                        compressed,
                        uncompressed,
                    } => {
                        let _ = self.check_len(off, compressed, usize::MAX, "a string value")?;
                        if uncompressed > lzf::max_decompressed_len(compressed) {
                            return Err(self.err(
                                off,
                                "lzf-length",
                                format!("{compressed} LZF bytes cannot decode to the declared {uncompressed} bytes"),
                            ));
                        }
                        len_hint = Some(uncompressed);
                        let check = !self.limits.decode_lzf_strings && uncompressed > 21;
                        if check && self.limits.whole_strings && compressed <= STRING_CHUNK as u64 {
                            self.check_lzf_whole(compressed as usize, uncompressed)?;
                            return Ok(self.whole_key(offset, key, t, len_hint, None));
                        }
                        self.chunked_value = (self.src.offset(), compressed);
                        if check {
                            self.lzf_check.reset(uncompressed);
                            State::StringLzfCheck { left: compressed }
                        } else {
                            State::StringLzf {
                                dec: Box::new(StreamDecoder::new(uncompressed)),
                                left: compressed,
                            }
                        }
                    }
                }
            }
            K::ListLinked => self.plain(Plain::List, &mut len_hint)?,
            K::SetHashtable => self.plain(Plain::Set, &mut len_hint)?,
            K::ZSetV1 => self.plain(Plain::ZSetV1, &mut len_hint)?,
            K::ZSet2 => self.plain(Plain::ZSet2, &mut len_hint)?,
            K::HashHashtable => self.plain(Plain::Hash, &mut len_hint)?,
            K::ValkeyHash2 => self.plain(Plain::ValkeyHash2, &mut len_hint)?,
            K::HashMetadata | K::HashMetadataPreGa => {
                let pre_ga = kind == K::HashMetadataPreGa;
                let min_expire = if pre_ga {
                    0
                } else {
                    self.read_i64le("the hash min expire")?
                };
                if !pre_ga {
                    self.key_min_expire = Some(min_expire);
                }
                if !(0..=EB_EXPIRE_TIME_MAX + 1).contains(&min_expire) {
                    return Err(self.err(
                        self.src.offset() - 8,
                        "hash-ttl",
                        format!("hash min expire {min_expire} out of range"),
                    ));
                }
                let n = self.read_len("a hash field count")?;
                len_hint = Some(n);
                State::Plain {
                    plain: Plain::HashMeta { pre_ga },
                    left: n,
                    min_expire,
                }
            }
            K::HashListpackEx | K::HashListpackExPreGa => {
                if kind == K::HashListpackEx {
                    self.key_min_expire = Some(self.read_i64le("the hash min expire")?);
                }
                let loc = self.read_blob("a hash listpack")?;
                let cur = self.lp_cursor(loc)?;
                State::Blob {
                    loc,
                    cur,
                    shape: Shape::HashTtl,
                }
            }
            K::HashZipmap => {
                let loc = self.read_blob("a zipmap")?;
                let cur = ZipmapCursor::new(self.blob(loc)).map_err(|e| self.blob_err(e))?;
                State::Blob {
                    loc,
                    cur: BlobCursor::Zipmap(cur),
                    shape: Shape::Hash,
                }
            }
            K::ListZiplist | K::ZSetZiplist | K::HashZiplist => {
                let loc = self.read_blob("a ziplist")?;
                let cur = ZiplistCursor::new(self.blob(loc)).map_err(|e| self.blob_err(e))?;
                let shape = match kind {
                    K::ListZiplist => Shape::List,
                    K::ZSetZiplist => Shape::ZSet,
                    _ => Shape::Hash,
                };
                State::Blob {
                    loc,
                    cur: BlobCursor::Zl(cur),
                    shape,
                }
            }
            K::SetIntset => {
                let loc = self.read_blob("an intset")?;
                let set = Intset::parse(self.blob(loc)).map_err(|e| self.blob_err(e))?;
                let (set_len, width) = (set.len(), set.width());
                len_hint = Some(set_len as u64);
                self.key_intset_width = u8::try_from(width).ok();
                State::Blob {
                    loc,
                    cur: BlobCursor::Intset {
                        width,
                        len: set_len,
                        next: 0,
                        prev: None,
                    },
                    shape: Shape::Set,
                }
            }
            K::HashListpack | K::ZSetListpack | K::SetListpack => {
                let loc = self.read_blob("a listpack")?;
                let cur = self.lp_cursor(loc)?;
                let shape = match kind {
                    K::HashListpack => Shape::Hash,
                    K::ZSetListpack => Shape::ZSet,
                    _ => Shape::Set,
                };
                State::Blob { loc, cur, shape }
            }
            K::ListQuicklist | K::ListQuicklist2 => {
                let n = self.read_len("a quicklist node count")?;
                State::Quicklist {
                    left: n,
                    v2: kind == K::ListQuicklist2,
                    node: None,
                }
            }
            K::Stream(v) => {
                let n = self.read_len("a stream listpack count")?;
                self.node_count_mismatches = None;
                State::Stream {
                    version: v,
                    phase: StreamPhase::Nodes { left: n },
                }
            }
            K::Module2 => {
                let module_id = self.read_len("a module id")?;
                let (raw, len) = self.read_module_body(Some(&mut key))?;
                self.state = State::KeyEnd;
                return Ok(self.key_then(
                    offset,
                    key,
                    t,
                    kind,
                    None,
                    Emit::Module {
                        module_id,
                        raw,
                        len,
                    },
                ));
            }
        };
        Ok(Emit::Key {
            offset,
            key,
            rdb_type: t,
            kind,
            len_hint,
            whole: None,
        })
    }

    /// Enters a key whose name was just read: keeps a short preview of it for error messages
    /// (no allocation after warm-up) and takes the pending per-key opcodes.
    #[inline(always)]
    fn enter_key(&mut self, key: Val, kind: TypeKind) {
        self.key.preview.clear();
        let (preview_src, len) = match key {
            Val::Span(sp) => (self.src.bytes(sp), sp.len()),
            Val::Scratch { slot, len } => {
                let s = scratch_at(&self.scratch, slot, len);
                (s, s.len())
            }
            _ => (&[][..], 0),
        };
        if let Val::Int(v) = key {
            let t = rdb_format::IntText::new(v);
            self.key.preview.extend_from_slice(t.as_bytes());
            self.key.len = t.as_bytes().len();
        } else {
            self.key
                .preview
                .extend_from_slice(preview_src.get(..preview_src.len().min(64)).unwrap_or(&[]));
            self.key.len = len;
        }
        self.enter_key_attrs(kind);
    }

    /// The part of [`Parser::enter_key`] other than the key preview (which only errors
    /// inside the key use).
    #[inline(always)]
    fn enter_key_attrs(&mut self, kind: TypeKind) {
        self.key.active = true;
        self.key.kind = Some(kind);
        self.key_attrs = std::mem::take(&mut self.pending);
        self.key_min_expire = None;
        self.key_intset_width = None;
    }

    /// Fast path of [`Parser::start_key`] for the most common record: a string key of at most
    /// 63 bytes and a value that is a raw string of at most 63 bytes or an 8/16/32-bit integer,
    /// both with one-byte headers and already buffered. Everything else (other headers, the
    /// end of the input, lengths over the limits, a source error) returns `None` with nothing
    /// consumed, and the general path parses the record with its errors and offsets. The
    /// one-byte headers are decoded here rather than by `decode_string_header`, whose general
    /// result (with an owned error) made `rdb-verify` on small-strings about 15 % slower.
    ///
    /// `LEAD` is 1 when the record's type byte is still unread (it must then be 0, a string;
    /// see [`Parser::fast_string_record`]), 0 when it was read.
    #[inline(always)]
    fn short_string_key<const LEAD: usize>(&mut self, offset: u64, t: RdbType) -> Option<Emit> {
        const MAX_SHORT: usize = 63;
        let b = self.src.peek(LEAD + 2 + 2 * MAX_SHORT).ok()?;
        let (lead, b) = b.split_at_checked(LEAD)?;
        if lead.iter().any(|&t| t != 0) {
            return None;
        }
        let (&key_header, rest) = b.split_first()?;
        let key_len = usize::from(key_header);
        if key_header > MAX_SHORT as u8 || key_len > self.limits.max_string {
            return None;
        }
        let (&value_header, value) = rest.get(key_len..)?.split_first()?;
        let (value_len, int) = match value_header {
            0..=0x3F if usize::from(value_header) <= value.len() => {
                (usize::from(value_header), None)
            }
            0xC0 => (1, Some(i64::from(i8::from_le_bytes([*value.first()?])))),
            0xC1 => (
                2,
                Some(i64::from(i16::from_le_bytes(*value.first_chunk()?))),
            ),
            0xC2 => (
                4,
                Some(i64::from(i32::from_le_bytes(*value.first_chunk()?))),
            ),
            _ => return None,
        };
        let record = self.src.take(LEAD + 2 + key_len + value_len).ok()?;
        let start = record.start() + LEAD as u64;
        let key = Val::Span(Span::new(start + 1, key_len));
        self.value_start = start + 1 + key_len as u64;
        let (value, len_hint) = match int {
            Some(v) => (Val::Int(v), 1),
            None => (
                Val::Span(Span::new(start + 2 + key_len as u64, value_len)),
                value_len as u64,
            ),
        };
        // The whole record is taken: no error can arise inside this key, so no preview of it
        // is kept (a `memcpy` call per key); an empty one, never the previous key's.
        self.key.preview.clear();
        self.key.len = key_len;
        self.enter_key_attrs(TypeKind::String);
        if !self.limits.whole_strings {
            self.state = State::KeyEnd;
        }
        Some(self.key_then(
            offset,
            key,
            t,
            TypeKind::String,
            Some(len_hint),
            Emit::StringChunk(value),
        ))
    }

    /// Emits the key now and queues `next` as the following event.
    fn key_then(
        &mut self,
        offset: u64,
        key: Val,
        t: RdbType,
        kind: TypeKind,
        len_hint: Option<u64>,
        next: Emit,
    ) -> Emit {
        if self.limits.whole_strings && kind == TypeKind::String {
            if let Emit::StringChunk(v) = next {
                return self.whole_key(offset, key, t, len_hint, Some(v));
            }
        }
        self.queued = Some(next);
        Emit::Key {
            offset,
            key,
            rdb_type: t,
            kind,
            len_hint,
            whole: None,
        }
    }

    /// A string key given whole (`Limits::whole_strings`): the key is complete after this
    /// event.
    fn whole_key(
        &mut self,
        offset: u64,
        key: Val,
        t: RdbType,
        len_hint: Option<u64>,
        value: Option<Val>,
    ) -> Emit {
        // Usually already so: no assignment then (it drops the old state out of line).
        if !matches!(self.state, State::Records) {
            self.state = State::Records;
        }
        self.key.active = false;
        Emit::Key {
            offset,
            key,
            rdb_type: t,
            kind: TypeKind::String,
            len_hint,
            whole: Some(value),
        }
    }

    /// Validates a whole LZF string value of `compressed` bytes in one step (check mode), with
    /// the errors and offsets of the chunked path in [`Parser::step_string`].
    fn check_lzf_whole(&mut self, compressed: usize, uncompressed: u64) -> ReadResult<()> {
        if self.skim {
            // Stepped over (its lengths were checked by the caller).
            self.take(compressed, "an LZF string value")?;
            return Ok(());
        }
        self.lzf_check.reset(uncompressed);
        let sp = self.take(compressed, "an LZF string value")?;
        self.check_lzf_chunk(sp, true)
    }

    /// Feeds the compressed bytes `sp` of an LZF string value to `self.lzf_check` (and, when
    /// `finished`, checks the stream's end). Errors as on the decoding path: feed errors at the
    /// token, end-of-stream errors at the end of the compressed bytes.
    fn check_lzf_chunk(&mut self, sp: Span, finished: bool) -> ReadResult<()> {
        let check = &mut self.lzf_check;
        let stream_start = sp.start().saturating_sub(check.consumed());
        let r = match check.feed(self.src.bytes(sp)) {
            Err(e) => Err((stream_start.saturating_add(e.offset()), e)),
            Ok(()) if finished => check
                .finish()
                .map_err(|e| (sp.start() + sp.len() as u64, e)),
            Ok(()) => Ok(()),
        };
        r.map_err(|(at, e)| {
            self.err(
                at,
                "lzf",
                format!("invalid LZF compressed string value: {e}"),
            )
        })
    }

    fn plain(&mut self, plain: Plain, len_hint: &mut Option<u64>) -> ReadResult<State> {
        let n = self.read_len("an element count")?;
        *len_hint = Some(n);
        Ok(State::Plain {
            plain,
            left: n,
            min_expire: 0,
        })
    }

    fn lp_cursor(&self, loc: BlobLoc) -> ReadResult<BlobCursor> {
        ListpackCursor::new(self.blob(loc))
            .map(BlobCursor::Lp)
            .map_err(|e| self.blob_err(e))
    }

    /// Takes the next `n` bytes of the string value being read in chunks; a truncation is
    /// reported at the value's first byte with its whole length (`chunked_value`), as when
    /// the value is taken in one step, whatever the source and chunk size.
    fn take_value_part(&mut self, n: usize, what: &str) -> ReadResult<Span> {
        match self.src.take(n) {
            Ok(s) => Ok(s),
            Err(SourceError::Eof { available, .. }) => {
                let (start, len) = self.chunked_value;
                let left = self
                    .src
                    .offset()
                    .saturating_sub(start)
                    .saturating_add(available as u64);
                Err(self.err(
                    start,
                    "truncated",
                    format!(
                        "unexpected end of file reading {what}: needed {len} bytes, {left} left"
                    ),
                ))
            }
            Err(e) => Err(self.src_err(e, what)),
        }
    }

    fn step_string(&mut self) -> ReadResult<Option<Emit>> {
        self.src.release();
        match &mut self.state {
            State::StringRaw { left } => {
                if *left == 0 {
                    self.state = State::KeyEnd;
                    return Ok(None);
                }
                let n = (*left).min(STRING_CHUNK as u64) as usize;
                *left -= n as u64;
                let done = *left == 0;
                let sp = self.take_value_part(n, "a string value")?;
                if done {
                    self.state = State::KeyEnd;
                }
                Ok(Some(Emit::StringChunk(Val::Span(sp))))
            }
            State::StringLzf { left, .. } => {
                let n = (*left).min(LZF_FEED as u64) as usize;
                *left -= n as u64;
                let sp = self.take_value_part(n, "an LZF string value")?;
                if self.skipping {
                    if let State::StringLzf { left: 0, .. } = self.state {
                        self.state = State::KeyEnd;
                    }
                    return Ok(None);
                }
                let State::StringLzf { dec, left } = &mut self.state else {
                    return Ok(None);
                };
                let finished = *left == 0;
                let mut out = std::mem::take(&mut self.chunk_buf);
                out.clear();
                let stream_start = sp.start().saturating_sub(dec.consumed());
                let r = dec.feed(self.src.bytes(sp), &mut |b: &[u8]| out.extend_from_slice(b));
                self.chunk_buf = out;
                if let Err(e) = r {
                    return Err(self.err(
                        stream_start.saturating_add(e.offset()),
                        "lzf",
                        format!("invalid LZF compressed string value: {e}"),
                    ));
                }
                if finished {
                    let st = std::mem::replace(&mut self.state, State::KeyEnd);
                    if let State::StringLzf { dec, .. } = st {
                        if let Err(e) = dec.finish() {
                            return Err(self.err(
                                sp.start() + n as u64,
                                "lzf",
                                format!("invalid LZF compressed string value: {e}"),
                            ));
                        }
                    }
                }
                if self.chunk_buf.is_empty() && !finished {
                    return Ok(None);
                }
                Ok(Some(Emit::ChunkBuf))
            }
            State::StringLzfCheck { left } => {
                let n = (*left).min(STRING_CHUNK as u64) as usize;
                *left -= n as u64;
                let finished = *left == 0;
                let sp = self.take_value_part(n, "an LZF string value")?;
                if self.skipping {
                    if finished {
                        self.state = State::KeyEnd;
                    }
                    return Ok(None);
                }
                self.check_lzf_chunk(sp, finished)?;
                if finished {
                    self.state = State::KeyEnd;
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    fn step_plain(&mut self) -> ReadResult<Option<Emit>> {
        let State::Plain {
            plain,
            left,
            min_expire,
        } = self.state
        else {
            return Ok(None);
        };
        if left == 0 {
            self.state = State::KeyEnd;
            return Ok(None);
        }
        self.src.release();
        if let State::Plain { left, .. } = &mut self.state {
            *left -= 1;
        }
        Ok(Some(match plain {
            Plain::List => Emit::ListItem(self.read_string(0, "a list element")?),
            Plain::Set => Emit::SetMember(self.read_string(0, "a set member")?),
            Plain::ZSetV1 | Plain::ZSet2 => {
                let m = self.read_string(0, "a zset member")?;
                let off = self.src.offset();
                let score = if plain == Plain::ZSet2 {
                    f64::from_le_bytes(self.take_array::<8>("a zset score")?)
                } else {
                    let r = match self.src.peek(256) {
                        Ok(b) => decode_old_double(b),
                        Err(e) => return Err(self.src_err(e, "a zset score")),
                    };
                    let (v, n) = r.map_err(|e| self.codec_err(e, off))?;
                    self.take(n, "a zset score")?;
                    v
                };
                if score.is_nan() {
                    return Err(self.err(off, "zset-nan", "Zset with NAN score detected"));
                }
                Emit::ZSet(m, score, None)
            }
            Plain::Hash => {
                let f = self.read_string(0, "a hash field")?;
                let v = self.read_string(1, "a hash value")?;
                Emit::Hash(f, v, None)
            }
            Plain::HashMeta { pre_ga } => {
                let off = self.src.offset();
                let ttl = self.read_len("a hash field TTL")?;
                let expire = if ttl == 0 {
                    None
                } else if pre_ga {
                    Some(ttl as i64)
                } else {
                    Some(min_expire.saturating_add(ttl as i64).saturating_sub(1))
                };
                if let Some(e) = expire {
                    if !(0..=EB_EXPIRE_TIME_MAX).contains(&e) || ttl > EB_EXPIRE_TIME_MAX as u64 {
                        return Err(self.err(
                            off,
                            "hash-ttl",
                            format!("hash field expiry {e} out of range"),
                        ));
                    }
                }
                let f = self.read_string(0, "a hash field")?;
                let v = self.read_string(1, "a hash value")?;
                Emit::Hash(f, v, expire)
            }
            Plain::ValkeyHash2 => {
                let f = self.read_string(0, "a hash field")?;
                let v = self.read_string(1, "a hash value")?;
                let off = self.src.offset();
                let e = self.read_i64le("a hash field expiry")?;
                if e < -1 {
                    return Err(self.err(
                        off,
                        "hash-ttl",
                        format!("hash field expiry {e} is below -1"),
                    ));
                }
                Emit::Hash(f, v, (e != -1).then_some(e))
            }
        }))
    }

    #[inline(always)]
    fn step_blob(&mut self) -> ReadResult<Option<Emit>> {
        // The cursor is advanced in place: `self.state`, the source and `blob_buf` are
        // borrowed as separate fields.
        let State::Blob { loc, cur, shape } = &mut self.state else {
            return Ok(None);
        };
        if self.skipping {
            self.state = State::KeyEnd;
            return Ok(None);
        }
        match blob_item(blob_at(&self.src, &self.blob_buf, *loc), cur, *shape) {
            Ok(Some(e)) => Ok(Some(e)),
            Ok(None) => {
                self.state = State::KeyEnd;
                Ok(None)
            }
            Err(e) => Err(self.item_err(e)),
        }
    }

    /// The reader error of a failed blob item.
    fn item_err(&self, e: ItemError) -> ReadError {
        match e {
            ItemError::Codec(e) => self.blob_err(e),
            ItemError::OddCount(what) => self.err(
                self.blob_offset,
                "blob-odd-count",
                format!("{} ends in the middle of a {what}", self.kind_name()),
            ),
            ItemError::At(code, msg) => self.err(self.blob_offset, code, msg),
        }
    }

    fn kind_name(&self) -> &'static str {
        self.key.kind.map(|k| k.encoding()).unwrap_or("blob")
    }

    fn step_quicklist(&mut self) -> ReadResult<Option<Emit>> {
        // Inside a node: advance its cursor in place.
        if let State::Quicklist {
            node: Some((loc, cur)),
            ..
        } = &mut self.state
        {
            if !self.skipping {
                return match blob_next(blob_at(&self.src, &self.blob_buf, *loc), cur) {
                    Ok(Some(v)) => Ok(Some(Emit::ListItem(v))),
                    Ok(None) => {
                        if let State::Quicklist { node, .. } = &mut self.state {
                            *node = None;
                        }
                        Ok(None)
                    }
                    Err(e) => Err(self.blob_err(e)),
                };
            }
        }
        // No node (or skipping, which drops it): read the next one.
        let State::Quicklist { left, v2, .. } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Ok(None);
        };
        if left == 0 {
            self.state = State::KeyEnd;
            return Ok(None);
        }
        self.src.release();
        let left = left - 1;
        if v2 {
            let off = self.src.offset();
            let container = self.read_len("a quicklist container")?;
            match container {
                1 => {
                    let v = self.read_string(0, "a plain quicklist node")?;
                    // Empty however it is stored (raw, or LZF of no bytes): the servers refuse
                    // a node whose data is empty (`encoded_len == 0` after decoding).
                    if matches!(self.el(v), Element::Str(s) if s.is_empty()) {
                        return Err(self.err(
                            off,
                            "quicklist-empty-node",
                            "quicklist node data is empty",
                        ));
                    }
                    self.state = State::Quicklist {
                        left,
                        v2,
                        node: None,
                    };
                    return Ok(Some(Emit::ListItem(v)));
                }
                2 if self.skim => {
                    self.skip_blob("a quicklist listpack node", None)?;
                    self.state = State::Quicklist {
                        left,
                        v2,
                        node: None,
                    };
                }
                2 => {
                    let loc = self.read_blob("a quicklist listpack node")?;
                    if self.blob(loc).is_empty() {
                        return Err(self.err(
                            off,
                            "quicklist-empty-node",
                            "quicklist node data is empty",
                        ));
                    }
                    let cur = self.lp_cursor(loc)?;
                    self.state = State::Quicklist {
                        left,
                        v2,
                        node: Some((loc, cur)),
                    };
                }
                c => {
                    return Err(self.err(
                        off,
                        "quicklist-container",
                        format!("quicklist integrity check failed: container {c} is not 1 or 2"),
                    ));
                }
            }
        } else if self.skim {
            self.skip_blob("a quicklist ziplist node", None)?;
            self.state = State::Quicklist {
                left,
                v2,
                node: None,
            };
        } else {
            let loc = self.read_blob("a quicklist ziplist node")?;
            let cur = ZiplistCursor::new(self.blob(loc))
                .map(BlobCursor::Zl)
                .map_err(|e| self.blob_err(e))?;
            self.state = State::Quicklist {
                left,
                v2,
                node: Some((loc, cur)),
            };
        }
        Ok(None)
    }

    fn step_stream(&mut self) -> ReadResult<Option<Emit>> {
        let State::Stream { version, phase } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Ok(None);
        };
        let (phase, emit) = self.stream_phase(version, phase)?;
        self.state = match phase {
            Some(p) => State::Stream { version, phase: p },
            None => State::KeyEnd,
        };
        Ok(emit)
    }

    fn stream_phase(
        &mut self,
        version: u8,
        phase: StreamPhase,
    ) -> ReadResult<(Option<StreamPhase>, Option<Emit>)> {
        use StreamPhase as P;
        Ok(match phase {
            P::Nodes { left: 0 } => (Some(P::Meta), None),
            P::Nodes { left } => {
                self.src.release();
                let off = self.src.offset();
                // Decoded even while skipping (`read_string` gives an LZF string as `Int(0)`
                // then): a node key is 16 bytes, and one LZF-compressed must be accepted here
                // as reading the key accepts it.
                let skipping = std::mem::replace(&mut self.skipping, false);
                let key = self.read_string(0, "a stream node key");
                self.skipping = skipping;
                let master = match key? {
                    Val::Span(sp) if sp.len() == 16 => {
                        let mut b = [0u8; 16];
                        b.copy_from_slice(self.src.bytes(sp));
                        StreamId::from_be_bytes(b)
                    }
                    Val::Scratch { slot, len: 16 } => {
                        let mut b = [0u8; 16];
                        if let Some(id) = self.scratch_bytes(slot, 16).first_chunk::<16>() {
                            b = *id;
                        }
                        StreamId::from_be_bytes(b)
                    }
                    _ => {
                        return Err(self.err(
                            off,
                            "stream-node-key",
                            "Stream node key entry is not the size of a stream ID",
                        ))
                    }
                };
                if self.skim {
                    self.skip_blob("a stream listpack", None)?;
                    return Ok((Some(P::Nodes { left: left - 1 }), None));
                }
                let loc = self.read_blob("a stream listpack")?;
                let blob = blob_at(&self.src, &self.blob_buf, loc);
                let bytes = blob.len() as u64;
                let started = match &mut self.node_cursor {
                    Some(cur) => cur.reset(blob, master.ms, master.seq).map(|()| None),
                    None => StreamNodeCursor::new(blob, master.ms, master.seq).map(Some),
                };
                match started {
                    Ok(Some(cur)) => self.node_cursor = Some(cur),
                    Ok(None) => {}
                    Err(e) => return Err(self.blob_err(e)),
                }
                let (count, deleted) = self
                    .node_cursor
                    .as_ref()
                    .map_or((0, 0), |c| (c.count, c.deleted));
                (
                    Some(P::InNode {
                        left: left - 1,
                        loc,
                    }),
                    Some(Emit::StreamNode {
                        master,
                        count,
                        deleted,
                        bytes,
                    }),
                )
            }
            P::InNode { left, .. } if self.skipping => (Some(P::Nodes { left }), None),
            P::InNode { left, loc } => {
                let blob = blob_at(&self.src, &self.blob_buf, loc);
                let Some(cur) = self.node_cursor.as_mut() else {
                    return Err(self.err(
                        self.blob_offset,
                        "stream-listpack",
                        "internal: a stream node without its cursor",
                    ));
                };
                match cur.next_entry(blob) {
                    Ok(Some(e)) => {
                        let id = StreamId::new(e.ms, e.seq);
                        (
                            Some(P::InNode { left, loc }),
                            Some(Emit::StreamEntry {
                                id,
                                deleted: e.deleted,
                            }),
                        )
                    }
                    Ok(None) => {
                        if let Some((declared, found)) = cur.header_count_mismatch() {
                            let first = NodeCountMismatch {
                                master: StreamId::new(cur.master_ms(), cur.master_seq()),
                                // The header's count field (bytes 4-5 of the listpack), or
                                // the node's string when it is LZF-compressed.
                                offset: if self.blob_compressed {
                                    self.blob_offset
                                } else {
                                    self.blob_offset + 4
                                },
                                declared,
                                found,
                            };
                            let (n, first) = self.node_count_mismatches.unwrap_or((0, first));
                            self.node_count_mismatches = Some((n + 1, first));
                        }
                        (Some(P::Nodes { left }), None)
                    }
                    Err(e) => return Err(self.blob_err(e)),
                }
            }
            P::Meta => {
                self.src.release();
                let length = self.read_len("the stream length")?;
                let last_id = self.read_stream_id_lens("the stream last id")?;
                let (first_id, max_deleted_id, entries_added) = if version >= 2 {
                    let f = self.read_stream_id_lens("the stream first id")?;
                    let m = self.read_stream_id_lens("the stream max deleted id")?;
                    let a = self.read_len("the stream entries-added")?;
                    (Some(f), Some(m), Some(a))
                } else {
                    (None, None, None)
                };
                let groups = self.read_len("the consumer group count")?;
                let meta = StreamMeta {
                    length,
                    last_id,
                    first_id,
                    max_deleted_id,
                    entries_added,
                    groups,
                    node_count_mismatches: self.node_count_mismatches.take(),
                };
                (
                    Some(P::Groups { left: groups }),
                    Some(Emit::StreamMeta(meta)),
                )
            }
            P::Groups { left: 0 } => (None, None),
            P::Groups { left } => {
                self.src.release();
                let name = self.read_string(0, "a consumer group name")?;
                let last = self.read_stream_id_lens("a group last-delivered id")?;
                let entries_read = if version >= 2 {
                    Some(self.read_len("a group entries-read")? as i64)
                } else {
                    None
                };
                let pel = self.read_len("a group PEL size")?;
                (
                    Some(P::Pel {
                        left: pel,
                        groups_left: left - 1,
                    }),
                    Some(Emit::StreamGroup {
                        name,
                        last,
                        entries_read,
                        pel,
                    }),
                )
            }
            P::Pel {
                left: 0,
                groups_left,
            } => {
                self.src.release();
                let n = self.read_len("a consumer count")?;
                (
                    Some(P::Consumers {
                        left: n,
                        groups_left,
                    }),
                    Some(Emit::StreamConsumers(n)),
                )
            }
            P::Pel { left, groups_left } => {
                self.src.release();
                let id = self.read_stream_id_be("a PEL entry id")?;
                let time = self.read_i64le("a PEL delivery time")?;
                let count = self.read_len("a PEL delivery count")?;
                (
                    Some(P::Pel {
                        left: left - 1,
                        groups_left,
                    }),
                    Some(Emit::StreamPending { id, time, count }),
                )
            }
            P::Consumers {
                left: 0,
                groups_left,
            } => (Some(P::Groups { left: groups_left }), None),
            P::Consumers { left, groups_left } => {
                self.src.release();
                let name = self.read_string(0, "a consumer name")?;
                let seen = self.read_i64le("a consumer seen time")?;
                let active = if version >= 3 {
                    Some(self.read_i64le("a consumer active time")?)
                } else {
                    None
                };
                let pel = self.read_len("a consumer PEL size")?;
                (
                    Some(P::ConsumerPel {
                        left: pel,
                        consumers_left: left - 1,
                        groups_left,
                    }),
                    Some(Emit::StreamConsumer {
                        name,
                        seen,
                        active,
                        pel,
                    }),
                )
            }
            P::ConsumerPel {
                left: 0,
                consumers_left,
                groups_left,
            } => (
                Some(P::Consumers {
                    left: consumers_left,
                    groups_left,
                }),
                None,
            ),
            P::ConsumerPel {
                left,
                consumers_left,
                groups_left,
            } => {
                self.src.release();
                let id = self.read_stream_id_be("a consumer PEL id")?;
                (
                    Some(P::ConsumerPel {
                        left: left - 1,
                        consumers_left,
                        groups_left,
                    }),
                    Some(Emit::StreamConsumerPending(id)),
                )
            }
        })
    }

    // ----- rendering -----------------------------------------------------------------

    fn current_blob(&self) -> &[u8] {
        match &self.state {
            State::Blob { loc, .. } => self.blob(*loc),
            State::Quicklist {
                node: Some((loc, _)),
                ..
            } => self.blob(*loc),
            State::Stream {
                phase: StreamPhase::InNode { loc, .. },
                ..
            } => self.blob(*loc),
            _ => &[],
        }
    }

    /// The first `len` bytes of scratch buffer `slot`.
    #[inline(always)]
    fn scratch_bytes(&self, slot: usize, len: usize) -> &[u8] {
        scratch_at(&self.scratch, slot, len)
    }

    #[inline(always)]
    fn el(&self, v: Val) -> Element<'_> {
        match v {
            Val::Int(i) => Element::Int(i),
            Val::Span(sp) => Element::Str(self.src.bytes(sp)),
            Val::Scratch { slot, len } => Element::Str(self.scratch_bytes(slot, len)),
            Val::Blob { off, len } => {
                Element::Str(self.current_blob().get(off..off + len).unwrap_or(&[]))
            }
        }
    }

    #[inline(always)]
    fn render(&self, e: Emit) -> Event<'_> {
        match e {
            Emit::Header(h) => Event::Header(h),
            Emit::Aux(k, v) => Event::Aux {
                key: self.el(k),
                value: self.el(v),
            },
            Emit::SelectDb(db) => Event::SelectDb { db },
            Emit::ResizeDb(keys, expires) => Event::ResizeDb { keys, expires },
            Emit::SlotInfo(slot, keys, expires) => Event::SlotInfo {
                slot,
                keys,
                expires,
            },
            Emit::Function(c) => Event::Function { code: self.el(c) },
            Emit::ModuleAux {
                module_id,
                when,
                raw,
                len,
            } => Event::ModuleAux {
                module_id,
                when,
                raw: raw.map_or(&[][..], |r| self.src.bytes(r)),
                len,
            },
            Emit::Key {
                offset,
                key,
                rdb_type,
                kind,
                len_hint,
                whole,
            } => Event::Key(KeyInfo {
                whole: whole.is_some(),
                value: whole.flatten().map(|v| self.el(v)),
                offset,
                db: self.db.unwrap_or(0),
                key: self.el(key),
                rdb_type,
                kind,
                expire_at_ms: self.key_attrs.expire,
                lru_idle_s: self.key_attrs.idle,
                lfu_freq: self.key_attrs.freq,
                len_hint,
                min_expire: self.key_min_expire,
                intset_width: self.key_intset_width,
            }),
            Emit::StringChunk(v) => Event::StringChunk(self.el(v)),
            Emit::ChunkBuf => Event::StringChunk(Element::Str(&self.chunk_buf)),
            Emit::ListItem(v) => Event::ListItem(self.el(v)),
            Emit::SetMember(v) => Event::SetMember(self.el(v)),
            Emit::ZSet(m, score, text) => Event::ZSetMember {
                member: self.el(m),
                score,
                score_text: text.map(|t| self.el(t)),
            },
            Emit::Hash(f, v, expire_at_ms) => Event::HashField {
                field: self.el(f),
                value: self.el(v),
                expire_at_ms,
            },
            Emit::StreamNode {
                master,
                count,
                deleted,
                bytes,
            } => Event::StreamNode {
                master,
                count,
                deleted,
                bytes,
            },
            Emit::StreamEntry { id, deleted } => Event::StreamEntry(StreamEntryRef {
                id,
                deleted,
                blob: self.current_blob(),
                positions: self.node_cursor.as_ref().map_or(&[], |c| c.positions()),
            }),
            Emit::StreamMeta(m) => Event::StreamMeta(m),
            Emit::StreamGroup {
                name,
                last,
                entries_read,
                pel,
            } => Event::StreamGroup {
                name: self.el(name),
                last_delivered_id: last,
                entries_read,
                pel,
            },
            Emit::StreamPending { id, time, count } => Event::StreamPending {
                id,
                delivery_time_ms: time,
                delivery_count: count,
            },
            Emit::StreamConsumers(count) => Event::StreamConsumers { count },
            Emit::StreamConsumer {
                name,
                seen,
                active,
                pel,
            } => Event::StreamConsumer {
                name: self.el(name),
                seen_time_ms: seen,
                active_time_ms: active,
                pel,
            },
            Emit::StreamConsumerPending(id) => Event::StreamConsumerPending { id },
            Emit::Module {
                module_id,
                raw,
                len,
            } => Event::Module {
                module_id,
                raw: raw.map_or(&[][..], |r| self.src.bytes(r)),
                len,
            },
            Emit::Orphan { offset, next } => Event::OrphanKeyAttributes { offset, next },
            Emit::KeyEnd => Event::KeyEnd,
            Emit::Eof(i) => Event::Eof(i),
        }
    }
}

/// The first `len` bytes of scratch buffer `slot` (a free function, so that callers can hold
/// other fields of the parser mutably at the same time).
#[inline(always)]
fn scratch_at(scratch: &[Vec<u8>], slot: usize, len: usize) -> &[u8] {
    scratch.get(slot).and_then(|b| b.get(..len)).unwrap_or(&[])
}

/// The bytes of the blob at `loc` (a free function, so that callers can hold `Parser::state`
/// mutably at the same time).
fn blob_at<'a, S: Source>(src: &'a S, blob_buf: &'a [u8], loc: BlobLoc) -> &'a [u8] {
    match loc {
        BlobLoc::Src(sp) => src.bytes(sp),
        BlobLoc::Buf(n) => blob_buf.get(..n).unwrap_or(&[]),
    }
}

/// Why a blob item could not be read (turned into a [`ReadError`] by `Parser::item_err`).
enum ItemError {
    /// An encoding error inside the blob.
    Codec(CodecError),
    /// The blob ended in the middle of a pair or triplet (what was being read).
    OddCount(&'static str),
    /// Another error at the blob's offset: code and message.
    At(&'static str, String),
}

/// The next element of `blob` under `cur` (as a position inside the blob or an integer).
fn blob_next(blob: &[u8], cur: &mut BlobCursor) -> Result<Option<Val>, CodecError> {
    let base = blob.as_ptr() as usize;
    let to_val = |e: Element<'_>| match e {
        Element::Int(v) => Val::Int(v),
        Element::Str(s) => Val::Blob {
            off: s.as_ptr() as usize - base,
            len: s.len(),
        },
    };
    match cur {
        BlobCursor::Lp(c) => c.next(blob).map(|o| o.map(to_val)),
        BlobCursor::Zl(c) => c.next(blob).map(|o| o.map(to_val)),
        BlobCursor::Intset {
            width,
            len,
            next,
            prev,
        } => {
            if *next >= *len {
                return Ok(None);
            }
            // The blob passed `Intset::parse` when the key started.
            match Intset::element_in(blob, *width, *next) {
                Some(v) if prev.is_some_and(|p| v <= p) => Err(rdb_format::intset::order_error(
                    *next,
                    *width,
                    v,
                    prev.unwrap_or(v),
                )),
                Some(v) => {
                    *prev = Some(v);
                    *next += 1;
                    Ok(Some(Val::Int(v)))
                }
                None => Ok(None),
            }
        }
        BlobCursor::Zipmap(_) => Ok(None),
    }
}

/// The next item (element, pair or triplet, by `shape`) of `blob` under `cur`.
#[inline(always)]
fn blob_item(blob: &[u8], cur: &mut BlobCursor, shape: Shape) -> Result<Option<Emit>, ItemError> {
    let pos = |s: &[u8]| Val::Blob {
        off: s.as_ptr() as usize - blob.as_ptr() as usize,
        len: s.len(),
    };
    if let BlobCursor::Zipmap(c) = cur {
        return match c.next(blob) {
            Ok(Some((k, v))) => Ok(Some(Emit::Hash(pos(k), pos(v), None))),
            Ok(None) => Ok(None),
            Err(e) => Err(ItemError::Codec(e)),
        };
    }
    let next = |cur: &mut BlobCursor| blob_next(blob, cur).map_err(ItemError::Codec);
    let Some(first) = next(cur)? else {
        return Ok(None);
    };
    Ok(Some(match shape {
        Shape::List => Emit::ListItem(first),
        Shape::Set => Emit::SetMember(first),
        Shape::ZSet => {
            let Some(score) = next(cur)? else {
                return Err(ItemError::OddCount("member/score pair"));
            };
            Emit::ZSet(first, score_of(blob, score)?, Some(score))
        }
        Shape::Hash => {
            let Some(v) = next(cur)? else {
                return Err(ItemError::OddCount("field/value pair"));
            };
            Emit::Hash(first, v, None)
        }
        Shape::HashTtl => {
            let (Some(v), Some(ttl)) = (next(cur)?, next(cur)?) else {
                return Err(ItemError::OddCount("field/value/ttl triplet"));
            };
            let Val::Int(t) = ttl else {
                return Err(ItemError::At(
                    "hash-ttl",
                    "hash field TTL element is not an integer".into(),
                ));
            };
            if !(0..=EB_EXPIRE_TIME_MAX).contains(&t) {
                return Err(ItemError::At(
                    "hash-ttl",
                    format!("hash field TTL {t} out of range"),
                ));
            }
            Emit::Hash(first, v, (t != 0).then_some(t))
        }
    }))
}

/// The score of a zset pair stored as a blob element (integer or text).
fn score_of(blob: &[u8], v: Val) -> Result<f64, ItemError> {
    let s = match v {
        Val::Int(i) => i as f64,
        Val::Blob { off, len } => {
            let b = blob.get(off..off + len).unwrap_or(&[]);
            parse_double_text(b).ok_or_else(|| {
                ItemError::At(
                    "zset-score",
                    format!(
                        "zset score {} is not a number",
                        rdb_format::escape_bytes(b, 40)
                    ),
                )
            })?
        }
        _ => f64::NAN,
    };
    if s.is_nan() {
        return Err(ItemError::At(
            "zset-nan",
            "Zset with NAN score detected".into(),
        ));
    }
    Ok(s)
}
