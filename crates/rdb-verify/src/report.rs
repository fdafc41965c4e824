//! The per-file [`Report`] and its parts, serialised exactly as the `rdb-verify --json` contract
//! (cli-contract.md) shows one element of `files`.

use std::collections::BTreeMap;

use rdb_cluster::slotset::SlotSet;
use serde::{Serialize, Serializer};

use crate::engine::EngineLine;

/// How bad a [`Finding`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Information only (e.g. a file without checksum because its version predates it).
    Info,
    /// The file loads, but is not what a real server writes, or may misbehave.
    Warning,
    /// A real server would refuse the file, crash, or corrupt data; or a check the caller asked
    /// for (slots, engine, node memory) failed.
    Error,
}

impl Severity {
    /// `error`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One problem found in a file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// Stable kebab-case code (`duplicate-key`, `crc-mismatch`, or a reader error code).
    pub code: &'static str,
    /// Absolute byte offset of the record, key record or element concerned (`null` when unknown).
    pub offset: Option<u64>,
    /// Database of the key concerned, when there is one.
    pub db: Option<u64>,
    /// The key concerned (canonical byte-string JSON: a string, or `{"b64": ...}`); at most
    /// [`MAX_FINDING_KEY`] bytes (the message says when a key was cut).
    #[serde(serialize_with = "ser_opt_bytes")]
    pub key: Option<Vec<u8>>,
    /// What was expected and what was found.
    pub message: String,
}

/// Longest key prefix kept in a [`Finding`].
pub const MAX_FINDING_KEY: usize = 1024;

impl Finding {
    /// A finding without db or key.
    pub fn new(
        severity: Severity,
        code: &'static str,
        offset: Option<u64>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            severity,
            code,
            offset,
            db: None,
            key: None,
            message: message.into(),
        }
    }

    /// Attaches a db and key (the key is cut to [`MAX_FINDING_KEY`] bytes).
    pub fn with_key(self, db: u64, key: &[u8]) -> Self {
        self.with_key_prefix(db, key, key.len())
    }

    /// Attaches a db and a key of `len` bytes of which `prefix` holds the first ones (a key
    /// kept cut, see [`FindingKey`]); the message says when the key was cut.
    pub fn with_key_prefix(mut self, db: u64, prefix: &[u8], len: usize) -> Self {
        self.db = Some(db);
        if len > MAX_FINDING_KEY || len > prefix.len() {
            self.message.push_str(&format!(" (key cut, {len} bytes)"));
        }
        self.key = Some(
            prefix
                .get(..prefix.len().min(MAX_FINDING_KEY))
                .unwrap_or(prefix)
                .to_vec(),
        );
        self
    }
}

impl std::fmt::Display for Finding {
    /// One line: `code at byte OFFSET, db DB, key KEY: message` (the key escaped, cut at 40
    /// bytes; the parts that are unknown left out), as `rdbkit export` prints a node check's.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code)?;
        if let Some(o) = self.offset {
            write!(f, " at byte {o}")?;
        }
        if let (Some(db), Some(k)) = (self.db, &self.key) {
            write!(f, ", db {db}, key {}", rdb_format::escape_bytes(k, 40))?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A key kept for a finding made later (e.g. the record that stops an engine line from
/// loading a file): its db, its first [`MAX_FINDING_KEY`] bytes and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingKey {
    /// Database.
    pub db: u64,
    /// The key's first bytes (all of it when it is not longer than [`MAX_FINDING_KEY`]).
    pub prefix: Vec<u8>,
    /// The key's length in bytes.
    pub len: usize,
}

impl FindingKey {
    /// Keeps `key` of `db` (cut to [`MAX_FINDING_KEY`] bytes).
    pub fn new(db: u64, key: &[u8]) -> Self {
        FindingKey {
            db,
            prefix: key.get(..MAX_FINDING_KEY).unwrap_or(key).to_vec(),
            len: key.len(),
        }
    }
}

fn ser_opt_bytes<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        None => s.serialize_none(),
        Some(b) => rdb_model::json::bytes_to_json(b).serialize(s),
    }
}

/// The checksum verdict: `stored` / `computed` as 16 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChecksumReport {
    /// The trailer read from the file (`null` before RDB 5 or when the end was not reached).
    pub stored: Option<String>,
    /// CRC-64 computed over magic..=EOF (`null` when the end was not reached).
    pub computed: Option<String>,
    /// `ok`, `mismatch`, `disabled`, `absent`, or `not-reached` when reading stopped before EOF.
    pub status: &'static str,
}

impl Default for ChecksumReport {
    fn default() -> Self {
        ChecksumReport {
            stored: None,
            computed: None,
            status: "not-reached",
        }
    }
}

/// Logical value types, in the order of [`rdb_model::ValueType::ALL`].
pub const TYPE_NAMES: [&str; 7] = rdb_format::consts::LOGICAL_TYPES;

/// Key counts per logical type; serialises as `{"string": N, "list": N, ...}` with all seven types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TypeCounts(pub [u64; 7]);

impl TypeCounts {
    /// Count for a logical type name (0 for unknown names).
    pub fn get(&self, logical: &str) -> u64 {
        TYPE_NAMES
            .iter()
            .position(|t| *t == logical)
            .and_then(|i| self.0.get(i).copied())
            .unwrap_or(0)
    }
}

impl Serialize for TypeCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(TYPE_NAMES.len()))?;
        for (name, n) in TYPE_NAMES.iter().zip(self.0.iter()) {
            m.serialize_entry(name, n)?;
        }
        m.end()
    }
}

/// Statistics of one database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DbReport {
    /// Keys.
    pub keys: u64,
    /// Keys with an expiry record (one of -1 ms included, which servers load as none: see
    /// the `expire-minus-one` finding).
    pub expires: u64,
    /// Keys whose expiry is before `Options::now_ms` (a primary drops them on load).
    pub already_expired: u64,
    /// Keys per logical type.
    pub types: TypeCounts,
}

impl DbReport {
    /// Adds the counters of `other`.
    pub fn add(&mut self, other: &DbReport) {
        self.keys += other.keys;
        self.expires += other.expires;
        self.already_expired += other.already_expired;
        for (a, b) in self.types.0.iter_mut().zip(other.types.0.iter()) {
            *a += b;
        }
    }
}

/// Slot statistics of the keys in db 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SlotsReport {
    /// Lowest slot holding a key (`null` without keys in db 0).
    pub min: Option<u16>,
    /// Highest slot holding a key.
    pub max: Option<u16>,
    /// The slots holding keys, as `"0-5461,6000"`.
    pub ranges: String,
    /// Keys whose slot is outside `Options::expected_slots` (0 when none was given): the
    /// `--slots` ranges, or the node group's `Slots` when a manifest lists the file.
    pub keys_outside_expected: u64,
}

/// The verification report of one file (one element of `files` in `rdb-verify --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The path as given (for [`crate::verify_bytes`] and [`crate::verify_reader`], the label
    /// given).
    pub path: String,
    /// The file that was read, when the report comes from one ([`crate::verify_file`] and the
    /// functions built on it): what [`crate::multi::check_manifest`] reads again for the
    /// manifest's size and SHA-256. `None` when `path` is only a label (not in the JSON).
    #[serde(skip)]
    pub file: Option<std::path::PathBuf>,
    /// No error finding.
    pub ok: bool,
    /// `REDIS` or `VALKEY` (`null` when the header could not be read).
    pub magic: Option<&'static str>,
    /// RDB version from the header.
    pub rdb_version: Option<u16>,
    /// Checksum verdict.
    pub checksum: ChecksumReport,
    /// Keys read (all databases).
    pub keys: u64,
    /// Keys with an expiry record (one of -1 ms included, which servers load as none: see
    /// the `expire-minus-one` finding).
    pub expires: u64,
    /// Keys already expired at `Options::now_ms`.
    pub already_expired: u64,
    /// Per database (keys are db numbers, serialised as strings).
    pub databases: BTreeMap<u64, DbReport>,
    /// Estimated memory of the dataset once loaded (see [`crate::cachesize`]), keys already
    /// expired left out (a primary drops them on load).
    pub cache_size_bytes: u64,
    /// `cache_size_bytes` in whole MB rounded up, `"<n> MB"`.
    pub cache_size: String,
    /// What the CacheSize estimate assumed ([`crate::CacheModel::describe`]).
    pub cache_model: String,
    /// The `used-mem` AUX field, when present and numeric.
    pub used_mem_aux: Option<u64>,
    /// Slot statistics (db 0).
    pub slots: SlotsReport,
    /// Engine lines whose loader accepts this file, started without modules: empty when the
    /// file itself has an error finding or its checksum mismatches (even with
    /// `Options::check_checksum` off, which only makes the mismatch a warning). The caller's
    /// own requirements (`Options::engine`, `node_memory`, `expected_slots`) do not change it:
    /// a file refused for one of them still lists the lines that load it.
    pub loads_on: Vec<EngineLine>,
    /// Findings in file order, by offset (those without one last; capped per code, see
    /// `suppressed_findings`, whose `findings-suppressed` notes come at the very end).
    pub findings: Vec<Finding>,
    /// Findings not listed because their code hit `Options::max_findings_per_code`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub suppressed_findings: BTreeMap<&'static str, u64>,
    /// Keys per RDB object type byte (only types present).
    pub rdb_types: BTreeMap<u8, u64>,
    /// Key count per slot for db 0 (16384 entries; `None` when db 0 has no keys). Not serialised.
    #[serde(skip)]
    pub slot_counts: Option<Vec<u32>>,
    /// The slots the keys were checked against (`Options::expected_slots`). Not serialised.
    #[serde(skip)]
    pub expected_slots: Option<SlotSet>,
    /// The node group those slots belong to (`Options::expected_slots_group`). Not serialised.
    #[serde(skip)]
    pub expected_slots_group: Option<String>,
}

impl Report {
    /// An empty report for `path` (`ok` until a finding says otherwise).
    pub fn new(path: impl Into<String>) -> Self {
        Report {
            path: path.into(),
            file: None,
            ok: true,
            magic: None,
            rdb_version: None,
            checksum: ChecksumReport::default(),
            keys: 0,
            expires: 0,
            already_expired: 0,
            databases: BTreeMap::new(),
            cache_size_bytes: 0,
            cache_size: rdb_cluster::manifest::cache_size_text(0),
            cache_model: String::new(),
            used_mem_aux: None,
            slots: SlotsReport::default(),
            loads_on: Vec::new(),
            findings: Vec::new(),
            suppressed_findings: BTreeMap::new(),
            rdb_types: BTreeMap::new(),
            slot_counts: None,
            expected_slots: None,
            expected_slots_group: None,
        }
    }

    /// This report with [`Report::file`] set: it was made by reading `path`.
    pub fn read_from(mut self, path: &std::path::Path) -> Self {
        self.file = Some(path.to_path_buf());
        self
    }

    /// Warnings of the report: those listed, and those only counted beyond the listing limit
    /// (`suppressed_findings`, by code: a code's findings share one severity).
    pub fn warning_count(&self) -> u64 {
        let mut n = 0u64;
        let mut codes: Vec<&str> = Vec::new();
        for f in self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
        {
            n += 1;
            if !codes.contains(&f.code) {
                codes.push(f.code);
            }
        }
        n + codes
            .iter()
            .filter_map(|c| self.suppressed_findings.get(c))
            .sum::<u64>()
    }

    /// Number of error findings listed.
    pub fn error_count(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    /// The first error finding, if any (the "first error" column of the text table).
    pub fn first_error(&self) -> Option<&Finding> {
        self.findings.iter().find(|f| f.severity == Severity::Error)
    }

    /// Whether any finding has `code`.
    pub fn has_code(&self, code: &str) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }

    /// The findings with `code`.
    pub fn with_code<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.code == code)
    }

    /// Adds a finding found after verification (e.g. by the manifest check) and updates `ok`.
    pub fn push_finding(&mut self, f: Finding) {
        if f.severity == Severity::Error {
            self.ok = false;
        }
        self.findings.push(f);
    }
}
