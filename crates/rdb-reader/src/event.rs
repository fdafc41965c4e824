//! The events the pull parser yields, borrowing from the input or the parser's buffers.

use rdb_format::{Element, Header, Opcode, RdbType, TypeKind};
use rdb_model::StreamId;

/// What the stored checksum says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumStatus {
    /// Stored and computed values agree.
    Ok,
    /// They differ (only seen when checksum verification is off; otherwise an error).
    Mismatch,
    /// Stored value is 0: the server saved with `rdbchecksum no`.
    Disabled,
    /// RDB < 5: no checksum in the format.
    Absent,
}

impl ChecksumStatus {
    /// `ok`, `mismatch`, `disabled`, `absent`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumStatus::Ok => "ok",
            ChecksumStatus::Mismatch => "mismatch",
            ChecksumStatus::Disabled => "disabled",
            ChecksumStatus::Absent => "absent",
        }
    }
}

/// The end of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EofInfo {
    /// Offset of the EOF (0xFF) byte.
    pub eof_offset: u64,
    /// Stored checksum (None before RDB 5).
    pub stored: Option<u64>,
    /// Computed checksum over magic..=EOF.
    pub computed: u64,
    /// Verdict.
    pub status: ChecksumStatus,
    /// Whether bytes follow the checksum.
    pub trailing_bytes: bool,
}

/// The start of a key record.
#[derive(Debug, Clone, Copy)]
pub struct KeyInfo<'a> {
    /// Offset of the type byte.
    pub offset: u64,
    /// Current database.
    pub db: u64,
    /// The key.
    pub key: Element<'a>,
    /// Type byte.
    pub rdb_type: RdbType,
    /// Its meaning in this file.
    pub kind: TypeKind,
    /// Absolute expiry, ms.
    pub expire_at_ms: Option<i64>,
    /// IDLE opcode value (seconds).
    pub lru_idle_s: Option<u64>,
    /// FREQ opcode value.
    pub lfu_freq: Option<u8>,
    /// Element count when the encoding states it up front (plain types, quicklist node
    /// count for lists is not an element count and gives `None`).
    pub len_hint: Option<u64>,
    /// The stored `min_expire` of a Redis 7.4+ hash with field TTLs (types 24 and 25).
    pub min_expire: Option<i64>,
    /// Element width (2, 4 or 8) of an intset-encoded set.
    pub intset_width: Option<u8>,
    /// The key is complete in this event: no value event and no [`Event::KeyEnd`] follow.
    /// Only string keys, and only with [`crate::Limits::whole_strings`]; the value is
    /// [`KeyInfo::value`] (absent for an LZF value only validated, whose length is
    /// [`KeyInfo::len_hint`]).
    pub whole: bool,
    /// The whole string value of a [`KeyInfo::whole`] key, when its bytes are delivered.
    pub value: Option<Element<'a>>,
}

/// One entry of a stream node, with its fields.
#[derive(Debug, Clone, Copy)]
pub struct StreamEntryRef<'a> {
    /// Entry ID.
    pub id: StreamId,
    /// Flagged deleted (kept in the listpack, not a live entry).
    pub deleted: bool,
    pub(crate) blob: &'a [u8],
    pub(crate) positions: &'a [(usize, usize)],
}

impl<'a> StreamEntryRef<'a> {
    /// Number of field/value pairs.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Whether the entry has no fields.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// The field/value pairs (already validated by the parser).
    pub fn fields(&self) -> impl Iterator<Item = (Element<'a>, Element<'a>)> + 'a {
        let blob = self.blob;
        self.positions.iter().filter_map(move |&(f, v)| {
            Some((
                rdb_format::listpack::element_at(blob, f).ok()?,
                rdb_format::listpack::element_at(blob, v).ok()?,
            ))
        })
    }
}

/// Stream metadata, after the entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamMeta {
    /// Live entries.
    pub length: u64,
    /// Last generated ID.
    pub last_id: StreamId,
    /// Recorded first ID (types 19/21).
    pub first_id: Option<StreamId>,
    /// Max deleted ID (types 19/21).
    pub max_deleted_id: Option<StreamId>,
    /// Entries ever added (types 19/21).
    pub entries_added: Option<u64>,
    /// Number of consumer groups that follow.
    pub groups: u64,
    /// Node listpacks whose header declares another element count than they hold, and the
    /// first of them (the server loads such nodes: it never reads that count).
    pub node_count_mismatches: Option<(u64, NodeCountMismatch)>,
}

/// A stream node listpack whose header's element count differs from the elements it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeCountMismatch {
    /// The node's master ID (its key).
    pub master: StreamId,
    /// File offset of the listpack header's element count, or of the node's string when it
    /// is LZF-compressed.
    pub offset: u64,
    /// The element count in the listpack header.
    pub declared: u16,
    /// The elements found.
    pub found: u32,
}

/// A parser event.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The header (always the first event).
    Header(Header),
    /// An AUX field.
    Aux {
        /// Field name.
        key: Element<'a>,
        /// Field value.
        value: Element<'a>,
    },
    /// SELECTDB.
    SelectDb {
        /// Database index.
        db: u64,
    },
    /// RESIZEDB hint.
    ResizeDb {
        /// Keys in the db.
        keys: u64,
        /// Keys with expiry.
        expires: u64,
    },
    /// SLOT_INFO (Redis 7.4+ cluster).
    SlotInfo {
        /// Slot.
        slot: u64,
        /// Keys in the slot.
        keys: u64,
        /// Keys with expiry in the slot.
        expires: u64,
    },
    /// A FUNCTION2 library.
    Function {
        /// Library source.
        code: Element<'a>,
    },
    /// A MODULE_AUX record (raw opcode stream after `when`).
    ModuleAux {
        /// Module ID.
        module_id: u64,
        /// 1 = before keys, 2 = after keys.
        when: u64,
        /// Opcode stream up to and including its EOF opcode (empty without
        /// [`crate::Limits::module_bytes`]).
        raw: &'a [u8],
        /// Length of the opcode stream in the file.
        len: u64,
    },
    /// The start of a key.
    Key(KeyInfo<'a>),
    /// A piece of a string value (one piece unless the value is large; pieces in order).
    StringChunk(Element<'a>),
    /// A list element.
    ListItem(Element<'a>),
    /// A set member.
    SetMember(Element<'a>),
    /// A sorted-set member.
    ZSetMember {
        /// Member.
        member: Element<'a>,
        /// Score (never NaN).
        score: f64,
        /// The score as stored, when the encoding stores it as a listpack / ziplist element
        /// (text or integer): the bytes a server loading that blob keeps. `None` for binary
        /// (type 5) and text-length (type 3) scores.
        score_text: Option<Element<'a>>,
    },
    /// A hash field.
    HashField {
        /// Field.
        field: Element<'a>,
        /// Value.
        value: Element<'a>,
        /// Field expiry (absolute ms), when the encoding carries one.
        expire_at_ms: Option<i64>,
    },
    /// Start of a stream node (listpack) with its master ID.
    StreamNode {
        /// Master ID (node key).
        master: StreamId,
        /// Live entries declared by the node.
        count: u64,
        /// Deleted entries declared by the node.
        deleted: u64,
        /// Size of the node's listpack in bytes (decompressed): what a server that loads the
        /// node keeps of it (stream nodes are loaded as they are stored).
        bytes: u64,
    },
    /// A stream entry (deleted ones too, flagged).
    StreamEntry(StreamEntryRef<'a>),
    /// Stream metadata.
    StreamMeta(StreamMeta),
    /// A consumer group header.
    StreamGroup {
        /// Name.
        name: Element<'a>,
        /// Last delivered ID.
        last_delivered_id: StreamId,
        /// Entries read (types 19/21): `Some(-1)` when stored as unknown.
        entries_read: Option<i64>,
        /// PEL size that follows.
        pel: u64,
    },
    /// A group PEL entry.
    StreamPending {
        /// Entry ID.
        id: StreamId,
        /// Delivery time, ms.
        delivery_time_ms: i64,
        /// Delivery count.
        delivery_count: u64,
    },
    /// The number of consumers of the current group (after its PEL).
    StreamConsumers {
        /// Count.
        count: u64,
    },
    /// A consumer.
    StreamConsumer {
        /// Name.
        name: Element<'a>,
        /// Seen time, ms.
        seen_time_ms: i64,
        /// Active time, ms (type 21).
        active_time_ms: Option<i64>,
        /// Consumer PEL size that follows.
        pel: u64,
    },
    /// An entry of a consumer PEL.
    StreamConsumerPending {
        /// Entry ID.
        id: StreamId,
    },
    /// A module value (raw opcode stream after the module ID, up to its EOF opcode).
    Module {
        /// Module ID.
        module_id: u64,
        /// Raw bytes (empty without [`crate::Limits::module_bytes`]).
        raw: &'a [u8],
        /// Length of the opcode stream in the file.
        len: u64,
    },
    /// Per-key opcodes (expire, idle, freq) followed by a record that is not a key. Servers
    /// (and this reader) keep them for the next key; given once, right after that record (before
    /// it when it is the EOF).
    OrphanKeyAttributes {
        /// Offset of the first of those opcodes.
        offset: u64,
        /// The record that follows them.
        next: Opcode,
    },
    /// End of the current key.
    KeyEnd,
    /// End of file (last event).
    Eof(EofInfo),
}
