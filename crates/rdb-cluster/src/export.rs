//! The cluster export engine: one `.rdb` file per node group plus a manifest (`rdbkit export`,
//! cli-contract.md).
//!
//! An [`ExportPlan`] names the snapshot, the output directory, the [`Topology`], the [`Target`]
//! engine line and the database selection. Three sources are accepted:
//!
//! - an owned [`Keyspace`] ([`export_keyspace`]);
//! - an existing `.rdb` file of any version the reader reads ([`export_rdb_file`]): streamed from
//!   a memory map in two passes, never built into a keyspace (see below);
//! - a `.jsonl` keyspace in the `rdbkit dump` format ([`export_jsonl_file`], built in memory).
//!
//! [`export_file`] picks the `.rdb` or JSONL path by looking at the file's first bytes.
//!
//! ## What is written, and when
//!
//! Files are `DIR/NAME-0001.rdb`, `DIR/NAME-0002.rdb`, ... (the node group ids of the topology) and
//! `DIR/NAME-manifest.json` ([`Manifest`]). Before anything is written the name is checked
//! ([`validate_name`]), the topology is validated, none of the final files may exist
//! ([`ExportError::AlreadyExists`]) and the database selection must fit the source
//! ([`DbSelection`]). Keys are sent to node groups by their hash slot (db 0 semantics) and written
//! in ascending slot order (source order within a slot) with the target's slot information
//! (`F4` for Redis 7.4, the `slot-info` AUX for Valkey 8.0+, nothing otherwise). Function
//! libraries and module AUX records go to every file.
//!
//! Every node's file is written in parallel (a local rayon pool of [`ExportPlan::threads`]; from
//! a keyspace, with more threads than node groups, each file's keys are also encoded on several
//! threads: `rdb_writer::parallel`, the same bytes) to a temporary file `DIR/.NAME-0001.rdb.tmp-<pid>-<random>`, flushed with `fsync`. Only when all
//! of them succeeded is each one published under its final name with no-overwrite semantics
//! (`hard_link(temp, final)` — which fails when `final` exists — then the temporary is removed;
//! on a file system without hard links `renameat2(RENAME_NOREPLACE)`, and where neither exists
//! the export fails rather than risk a check-then-rename), the directory is synced, and the
//! manifest is written the same way, last.
//! Between writing and publishing, [`ExportPlan::check`] (when set; `rdbkit export` always sets
//! it, a library sets it with `rdb_verify::publish::verify_before_publishing`) verifies every
//! temporary file, and one it rejects keeps the export from publishing anything. On any failure the
//! temporaries and the final files this run created are removed; files that existed before are
//! never touched. An interrupted export therefore leaves complete final-named `.rdb` files at
//! most, and a manifest only when all its files are in place. Leftover temporaries never block a
//! later export (their names are unique per process).
//!
//! Output bytes depend only on the source and the plan (the `ctime` AUX and `SnapshotCreateTime`
//! come from [`ExportPlan::now`]), never on the thread count.
//!
//! ## `.rdb` sources in bounded memory
//!
//! Pass 1 walks the mapped file once (values are skipped, not decoded, except hashes whose type
//! can carry field TTLs) and keeps, per node group and database, one 24-byte record per key:
//! its byte range in the file, its slot and the length of its attribute opcodes (expiry, IDLE,
//! FREQ). Pass 2 writes each node's file from those ranges, in parallel. A value whose RDB type
//! the target loads with the same meaning is copied raw (no decode / re-encode); other values
//! (listpacks for RDB 9, newer stream types, field-TTL hashes for targets without them, files
//! older than RDB 8) are decoded to the model and re-encoded. Memory is therefore about
//! 24 bytes per key plus the writers' buffers, whatever the file size.

mod commit;
mod model_source;
mod rdb_source;

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rayon::prelude::*;
use rdb_format::Header;
use rdb_model::Keyspace;
use rdb_writer::{Summary, SyncingFile, Target, WriteError};

use crate::manifest::{cache_size_text, rfc3339_utc, unix_now, Manifest, NodeSnapshot};
use crate::slotset::SlotSet;
use crate::topology::{Partitioner, Topology, TopologyError};

pub use commit::{file_sha256, HashingWriter};
pub use model_source::{read_jsonl_keyspace, read_jsonl_keyspace_noting};

/// Longest snapshot name, in characters.
pub const MAX_NAME_CHARS: usize = 1000;

/// What a [`NodeCheckFn`] found in a finished node file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeCheck {
    /// The file's estimated memory once loaded, in bytes (the manifest's `CacheSizeBytes`).
    pub cache_size_bytes: u64,
    /// Keys whose expiry is already past at the export time (a primary drops them when it
    /// loads the file; they are in the manifest's `Keys` as in the file).
    pub already_expired: u64,
    /// The first problem that keeps the file from being published (it would not verify or not
    /// load on the target), described with its byte offset in the node file, db and key.
    pub problem: Option<String>,
    /// What the check noticed that does not keep the file from loading (warnings), each
    /// described like `problem`; the export reports them with the file's name.
    pub warnings: Vec<String>,
}

/// A check of each finished node file before anything is published: given the temporary file
/// and its node group's slots, its `CacheSize` and whether it is fit to publish (the CLI passes
/// one that runs `rdb-verify` with the target's engine line and memory model, so an export
/// never publishes a file `rdb-verify` rejects: e.g. a value copied unchanged from a source
/// whose bytes are damaged but whose checksum holds).
pub type NodeCheckFn = Box<dyn Fn(&Path, &SlotSet) -> NodeCheck + Send + Sync>;

/// Which databases of the source are exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DbSelection {
    /// Database 0 only; keys in any other database are an error ([`ExportError::OtherDatabases`]).
    #[default]
    Db0,
    /// Only this database (`--db N`), written as database 0.
    Db(u32),
    /// Every database, each kept under its number (`--all-dbs`, single node group only).
    All,
}

/// What to export, where, and how.
pub struct ExportPlan {
    /// The snapshot name: files are `NAME-0001.rdb`, ..., `NAME-manifest.json`.
    pub name: String,
    /// The output directory (must exist).
    pub out_dir: PathBuf,
    /// Node groups and their slots.
    pub topology: Topology,
    /// The engine line the files must load on.
    pub target: Target,
    /// Which databases of the source to export.
    pub db: DbSelection,
    /// Drop what the target cannot represent (hash field TTLs, function libraries) instead of
    /// failing; counted in the [`NodeReport`]s.
    pub drop_unsupported: bool,
    /// Worker threads for writing node files in parallel (and, with more threads than node
    /// groups, each file's keys from a keyspace source); 0 = one per CPU.
    pub threads: usize,
    /// The export time, Unix seconds (0 to [`MAX_EXPORT_TIME`]): the files' `ctime` AUX and
    /// the manifest's `SnapshotCreateTime`.
    pub now: i64,
    /// LZF compression of strings the writer encodes (raw-copied values keep their encoding).
    pub compression: bool,
    /// Check run on each finished file before any is published ([`NodeCheckFn`]); `None`: no
    /// check: the files are published unverified (a value copied unchanged from a damaged
    /// source whose checksum holds goes out as it is), and `CacheSize` is the writer's rough
    /// `used-mem` estimate (it counts a server's baseline, about 1 MB). `rdbkit export`
    /// verifies every file with `rdb-verify`'s checks and memory model:
    /// `rdb_verify::publish::verify_before_publishing(&mut plan)` sets the same check (this
    /// crate cannot depend on the verifier, which depends on it).
    pub check: Option<NodeCheckFn>,
    /// A flag set from outside (e.g. by a SIGINT / SIGTERM handler) to stop the export: the
    /// node writers stop at their next check, what was written is removed, nothing more is
    /// published, and the export fails with [`ExportError::Cancelled`]. It is read a last
    /// time just before the first file is published: set after that, it no longer stops the
    /// export (the files and the manifest follow at once). The export only reads it (a
    /// failed node stops the others through a flag of its own), so it can serve the next
    /// export as it is.
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl fmt::Debug for ExportPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportPlan")
            .field("name", &self.name)
            .field("out_dir", &self.out_dir)
            .field("topology", &self.topology)
            .field("target", &self.target)
            .field("db", &self.db)
            .field("drop_unsupported", &self.drop_unsupported)
            .field("threads", &self.threads)
            .field("now", &self.now)
            .field("compression", &self.compression)
            .field("check", &self.check.as_ref().map(|_| "<fn>"))
            .field("interrupt", &self.interrupt)
            .finish()
    }
}

impl ExportPlan {
    /// Whether the [`interrupt`](Self::interrupt) flag is set.
    pub(crate) fn interrupted(&self) -> bool {
        self.interrupt
            .as_deref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// The final file name of node group `index` (`NAME-0001.rdb`).
    pub(crate) fn node_file_name_of(&self, index: usize) -> String {
        let id = self
            .topology
            .groups
            .get(index)
            .map(|g| g.id.as_str())
            .unwrap_or_default();
        node_file_name(&self.name, id)
    }

    /// A plan with the defaults: database 0 only, unsupported data is an error, one thread per
    /// CPU, `now` = the current time, compression on, no check before publishing (see
    /// [`ExportPlan::check`]: set one with `rdb_verify::publish::verify_before_publishing`),
    /// `CacheSize` from the writer's estimate.
    pub fn new(
        name: impl Into<String>,
        out_dir: impl Into<PathBuf>,
        topology: Topology,
        target: Target,
    ) -> Self {
        ExportPlan {
            name: name.into(),
            out_dir: out_dir.into(),
            topology,
            target,
            db: DbSelection::Db0,
            drop_unsupported: false,
            threads: 0,
            now: unix_now(),
            compression: true,
            check: None,
            interrupt: None,
        }
    }

    /// The final path of node group `id`'s file: `DIR/NAME-<id>.rdb`.
    pub fn node_file(&self, id: &str) -> PathBuf {
        self.out_dir.join(node_file_name(&self.name, id))
    }

    /// The final path of the manifest: `DIR/NAME-manifest.json`.
    pub fn manifest_file(&self) -> PathBuf {
        self.out_dir.join(manifest_file_name(&self.name))
    }

    /// Every final path this plan writes: the node files in topology order, then the manifest.
    pub fn output_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self
            .topology
            .groups
            .iter()
            .map(|g| self.node_file(&g.id))
            .collect();
        files.push(self.manifest_file());
        files
    }
}

/// `NAME-<id>.rdb`.
pub fn node_file_name(name: &str, id: &str) -> String {
    format!("{name}-{id}.rdb")
}

/// `NAME-manifest.json`.
pub fn manifest_file_name(name: &str) -> String {
    format!("{name}-manifest.json")
}

/// What one node group's file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    /// The node group id (`"0001"`).
    pub node_group_id: String,
    /// Its slots, in the service's text form.
    pub slots: String,
    /// The final path of the file.
    pub path: PathBuf,
    /// Header written (magic and RDB version).
    pub header: Header,
    /// Keys written.
    pub keys: u64,
    /// Of those, keys with an expiry.
    pub expires: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// The CRC-64 trailer.
    pub crc64: u64,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// The `CacheSizeBytes` of the manifest.
    pub cache_size_bytes: u64,
    /// Values copied raw from an `.rdb` source.
    pub raw_copied: u64,
    /// Values decoded and written again (every value of a keyspace or JSONL source; from an
    /// `.rdb` source, also the streams carried to an older stream type, whose node listpacks
    /// are kept byte for byte and whose metadata are written again).
    pub reencoded: u64,
    /// Empty collections skipped (servers do not hold them).
    pub skipped_empty: u64,
    /// Keys already expired at the export time, as the plan's check counted them (0 without
    /// a check).
    pub already_expired: u64,
    /// Hash field TTLs dropped (`drop_unsupported`).
    pub dropped_field_ttls: u64,
    /// Function libraries dropped (`drop_unsupported`).
    pub dropped_functions: u64,
}

/// The outcome of a finished export.
#[derive(Debug, Clone)]
pub struct ExportResult {
    /// The manifest as written.
    pub manifest: Manifest,
    /// Where it was written.
    pub manifest_path: PathBuf,
    /// One entry per node group, in topology order.
    pub nodes: Vec<NodeReport>,
    /// What the source holds that was accepted but not written as given (e.g. stream
    /// metadata a JSONL line gives that its entries contradict), each naming its place; the
    /// node checks' warnings, each naming its file; and an export that holds no key at all
    /// (e.g. [`DbSelection::Db`] naming a database the source has no key in).
    pub warnings: Vec<String>,
}

/// Why an export failed. Nothing of the export is left behind in any case.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The snapshot name breaks the naming rules.
    #[error("invalid snapshot name {}: {reason}", shown_name(name))]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// [`ExportPlan::now`] is outside the years 1970 to 9999 (RFC 3339 writes four-digit
    /// years; the manifest's `SnapshotCreateTime` could not be written).
    #[error("export time {0} is not a Unix time from 0 (1970-01-01) to {MAX_EXPORT_TIME} (9999-12-31T23:59:59Z)")]
    InvalidTime(i64),
    /// The topology is not usable (gap, overlap, bad id, ...).
    #[error("{0}")]
    Topology(#[from] TopologyError),
    /// The output directory was renamed or replaced while the export ran: nothing more is
    /// published, and what the export had written into it is removed from it under its new
    /// name (through a handle on it, where `/proc/self/fd` exists).
    #[error("output directory {} was moved or replaced during the export: the export stopped and removed what it had written there", .0.display())]
    OutDirMoved(PathBuf),
    /// The output directory is missing or not a directory.
    #[error("output directory {}: does not exist or is not a directory", .0.display())]
    OutDir(PathBuf),
    /// `DbSelection::All` with more than one node group.
    #[error("all databases can only be kept in a single-node-group export (--shards 1 --all-dbs), this topology has {0} node groups")]
    AllDbsNeedsOneGroup(usize),
    /// A file of the export already exists.
    #[error("a snapshot named {name} already exists in {} ({} exists)", dir.display(), file.display())]
    AlreadyExists {
        /// The snapshot name.
        name: String,
        /// The output directory.
        dir: PathBuf,
        /// The first existing file found.
        file: PathBuf,
    },
    /// The source has keys outside database 0 and no database was chosen.
    #[error("the source has keys in database(s) {}: a cluster export holds database 0 only; choose one with --db N (or keep all with --shards 1 --all-dbs)", list(.dbs))]
    OtherDatabases {
        /// The databases holding keys (including 0 when it does).
        dbs: Vec<u64>,
    },
    /// The source file cannot be read or is invalid.
    #[error("{0}")]
    Source(String),
    /// A value cannot be written for the target (or is invalid).
    #[error("writing {file}: {error}")]
    Write {
        /// The node file concerned (final name).
        file: String,
        /// The writer's error (names the key).
        error: WriteError,
    },
    /// An I/O error on an output file or directory.
    #[error("{}: {error}", path.display())]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
    /// A finished node file failed the plan's [`NodeCheckFn`]: nothing was published.
    #[error("{file} as written would not verify, so nothing was written: {problem} (that byte offset is in {file} as it was written, a file never published; the key's value as the source holds it is invalid, or the target cannot load it)")]
    Rejected {
        /// The node file concerned (final name).
        file: String,
        /// What the check found.
        problem: String,
    },
    /// Stopped because another node's file failed, or by the plan's interrupt flag; what
    /// was written is removed.
    #[error("cancelled: nothing was published")]
    Cancelled,
}

fn list(dbs: &[u64]) -> String {
    dbs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl ExportError {
    /// Whether the error is about the arguments (name, topology, option combination) rather than
    /// the data or the file system: the CLI exits 2 for these, 1 for the others.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ExportError::InvalidName { .. }
                | ExportError::InvalidTime(_)
                | ExportError::OutDir(_)
                | ExportError::Topology(_)
                | ExportError::AllDbsNeedsOneGroup(_)
        )
    }

    pub(crate) fn io(path: &Path, error: io::Error) -> Self {
        ExportError::Io {
            path: path.to_path_buf(),
            error,
        }
    }
}

/// The latest [`ExportPlan::now`] accepted: 9999-12-31T23:59:59Z.
pub const MAX_EXPORT_TIME: i64 = 253_402_300_799;

/// Sets its flag when dropped.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// How often the node writers' watcher looks at the plan's interrupt flag.
const INTERRUPT_POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// A name as an error message quotes it: whole up to 48 characters, else its first 40 and `…`.
fn shown_name(name: &str) -> String {
    if name.chars().count() > 48 {
        format!("{:?}…", name.chars().take(40).collect::<String>())
    } else {
        format!("{name:?}")
    }
}

/// Checks a snapshot name: 1 to 1000 characters, no `/`, `\`, NUL or other control characters
/// (the name is UTF-8 by construction).
pub fn validate_name(name: &str) -> Result<(), ExportError> {
    let bad = |reason: String| ExportError::InvalidName {
        name: name.to_owned(),
        reason: format!(
            "{reason} (a snapshot name is 1 to {MAX_NAME_CHARS} characters of UTF-8 with no \
             '/', '\\', NUL or control characters)"
        ),
    };
    let chars = name.chars().count();
    if chars == 0 {
        return Err(bad("it is empty".into()));
    }
    if chars > MAX_NAME_CHARS {
        return Err(bad(format!("it has {chars} characters")));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| c == '/' || c == '\\' || c.is_control())
    {
        return Err(bad(format!("it contains {c:?}")));
    }
    Ok(())
}

/// Refuses a (valid) name whose longest file, `NAME-manifest.json`, would pass the 255 bytes a
/// file name may have on the usual file systems: the contract allows 1,000 characters, which
/// no such file system can store.
fn check_file_name_length(name: &str) -> Result<(), ExportError> {
    let bad = |reason: String| ExportError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    let chars = name.chars().count();
    // The longest file name of the export; file systems refuse names over 255 bytes.
    let longest = manifest_file_name(name).len();
    if longest > commit::NAME_MAX {
        return Err(bad(format!(
            "the file name {}-manifest.json would be {longest} bytes, and file systems allow at most {} (at most {} bytes of name)",
            if chars > 24 { format!("{}…", name.chars().take(20).collect::<String>()) } else { name.to_string() },
            commit::NAME_MAX,
            commit::NAME_MAX - (longest - name.len()),
        )));
    }
    Ok(())
}

/// The checks every export runs before writing: name, topology, the output directory,
/// database selection against the topology, and no existing output file.
pub fn preflight(plan: &ExportPlan) -> Result<Partitioner, ExportError> {
    validate_name(&plan.name)?;
    check_file_name_length(&plan.name)?;
    if !(0..=MAX_EXPORT_TIME).contains(&plan.now) {
        return Err(ExportError::InvalidTime(plan.now));
    }
    let partitioner = plan.topology.partitioner()?;
    if !plan.out_dir.is_dir() {
        return Err(ExportError::OutDir(plan.out_dir.clone()));
    }
    if plan.db == DbSelection::All && plan.topology.len() != 1 {
        return Err(ExportError::AllDbsNeedsOneGroup(plan.topology.len()));
    }
    // What an earlier export of this name left when it was killed: the files it had
    // published (by its journal) and its temporaries, once its process is gone.
    let finals: Vec<String> = plan
        .output_files()
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
        .collect();
    commit::recover_interrupted(&plan.out_dir, &manifest_file_name(&plan.name));
    commit::remove_stale_temps(&plan.out_dir, &finals);
    check_absent(plan)?;
    Ok(partitioner)
}

/// Fails with [`ExportError::AlreadyExists`] when any output file exists (a dangling symlink
/// counts).
fn check_absent(plan: &ExportPlan) -> Result<(), ExportError> {
    for file in plan.output_files() {
        match std::fs::symlink_metadata(&file) {
            Ok(_) => {
                return Err(ExportError::AlreadyExists {
                    name: plan.name.clone(),
                    dir: plan.out_dir.clone(),
                    file,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(ExportError::io(&file, e)),
        }
    }
    Ok(())
}

/// Exports an owned keyspace.
pub fn export_keyspace(ks: &Keyspace, plan: &ExportPlan) -> Result<ExportResult, ExportError> {
    let partitioner = preflight(plan)?;
    let pool = pool(plan)?;
    let job = model_source::ModelJob::new(ks, plan, &partitioner, &pool)?;
    run(plan, &pool, |i, w, cancel| job.write_node(i, w, cancel))
}

/// Exports an `.rdb` file of any version (memory-mapped, two passes, bounded memory; see the
/// module docs).
pub fn export_rdb_file(path: &Path, plan: &ExportPlan) -> Result<ExportResult, ExportError> {
    let partitioner = preflight(plan)?;
    let map = rdb_reader::MappedFile::open(path)
        .map_err(|e| ExportError::Source(format!("{}: {e}", path.display())))?;
    let pool = pool(plan)?;
    let job = rdb_source::RdbJob::scan(path, map.bytes(), plan, &partitioner, &pool)?;
    let mut res = run(plan, &pool, |i, w, cancel| job.write_node(i, w, cancel))
        .map_err(|e| with_source_db(plan.db, e))?;
    if job.minus_one_expiries > 0 {
        res.warnings.push(format!(
            "{}: {} key(s) with an expiry of -1 ms, which servers load as no expiry: \
             written without one (they load as from the source)",
            path.display(),
            job.minus_one_expiries
        ));
    }
    Ok(res)
}

/// Exports a JSONL keyspace in the `rdbkit dump` format (key lines; `function` and `module_aux`
/// lines are kept, other records ignored). The keyspace is built in memory.
pub fn export_jsonl_file(path: &Path, plan: &ExportPlan) -> Result<ExportResult, ExportError> {
    preflight(plan)?;
    let file =
        File::open(path).map_err(|e| ExportError::Source(format!("{}: {e}", path.display())))?;
    let never = AtomicBool::new(false);
    let cancel = plan.interrupt.as_deref().unwrap_or(&never);
    let (ks, warnings) = model_source::read_jsonl_keyspace_until(
        io::BufReader::with_capacity(1 << 20, file),
        cancel,
    )
    .map_err(|e| ExportError::Source(format!("{}: {e}", path.display())))?
    .ok_or(ExportError::Cancelled)?;
    let mut res = export_keyspace(&ks, plan).map_err(|e| name_jsonl_lines(path, plan.db, e))?;
    res.warnings.extend(
        warnings
            .into_iter()
            .map(|w| format!("{}: {w}", path.display())),
    );
    Ok(res)
}

/// A writer error about a key restated with the database the key has in the source: with
/// `--db N` the writer puts the keys of database N in the node files' database 0.
fn with_source_db(selection: DbSelection, e: ExportError) -> ExportError {
    let DbSelection::Db(n) = selection else {
        return e;
    };
    let ExportError::Write { mut error, file } = e else {
        return e;
    };
    match &mut error {
        WriteError::DuplicateKey { db, .. } => *db = n,
        WriteError::Unsupported { key, .. }
        | WriteError::InvalidValue { key, .. }
        | WriteError::CountMismatch { key, .. }
            if key.db.is_some() =>
        {
            key.db = Some(n);
        }
        _ => {}
    }
    ExportError::Write { error, file }
}

/// A writer error about a key of a JSONL source, restated with the input line(s) holding the
/// key (both lines of a repeated key) and the database it has there
/// ([`with_source_db`]): found again by reading the file once more, on the error path only.
fn name_jsonl_lines(path: &Path, selection: DbSelection, e: ExportError) -> ExportError {
    let e = with_source_db(selection, e);
    let ExportError::Write { error, file } = e else {
        return e;
    };
    let (db, key) = match &error {
        WriteError::DuplicateKey { db, key } => (Some(*db), key),
        WriteError::Unsupported { key, .. }
        | WriteError::InvalidValue { key, .. }
        | WriteError::CountMismatch { key, .. } => (key.db, key),
        _ => return ExportError::Write { error, file },
    };
    let lines = match (key.key.as_deref(), File::open(path)) {
        (Some(k), Ok(f)) => model_source::jsonl_key_lines(io::BufReader::new(f), db, k),
        _ => Vec::new(),
    };
    if lines.is_empty() {
        return ExportError::Write { error, file };
    }
    let which = match lines.as_slice() {
        [one] => format!("line {one}"),
        many => format!(
            "lines {}",
            many.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    ExportError::Source(format!(
        "{}: {which}: {error} (nothing was written)",
        path.display()
    ))
}

/// Whether `path` starts like an `.rdb` file (`REDIS` or `VALKEY` magic).
pub fn looks_like_rdb(path: &Path) -> io::Result<bool> {
    use std::io::Read;
    let mut head = [0u8; 6];
    let mut file = File::open(path)?;
    let mut got = 0;
    while got < head.len() {
        let n = file.read(head.get_mut(got..).unwrap_or_default())?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let head = head.get(..got).unwrap_or_default();
    Ok(head.starts_with(b"REDIS") || head.starts_with(b"VALKEY"))
}

/// Whether `path`'s name ends in `.rdb` (any case).
fn named_rdb(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("rdb"))
}

/// Exports `path`: an `.rdb` file when it starts with the RDB magic or its name ends in `.rdb`
/// (so an empty or damaged `.rdb` file is reported as such, at byte 0, not read as JSONL),
/// otherwise JSONL.
pub fn export_file(path: &Path, plan: &ExportPlan) -> Result<ExportResult, ExportError> {
    let is_rdb = named_rdb(path)
        || looks_like_rdb(path)
            .map_err(|e| ExportError::Source(format!("{}: {e}", path.display())))?;
    if is_rdb {
        export_rdb_file(path, plan)
    } else {
        export_jsonl_file(path, plan)
    }
}

fn pool(plan: &ExportPlan) -> Result<rayon::ThreadPool, ExportError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(plan.threads)
        .build()
        .map_err(|e| ExportError::io(&plan.out_dir, io::Error::other(e.to_string())))
}

/// What a node writer reports besides the writer's summary.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeStats {
    pub(crate) raw_copied: u64,
    pub(crate) reencoded: u64,
    pub(crate) skipped_empty: u64,
    pub(crate) dropped_functions: u64,
    /// The `used-mem` estimate written in the header (default `CacheSizeBytes`).
    pub(crate) used_mem: u64,
}

/// The output of one node file writer.
pub(crate) type NodeOutput = (HashingWriter<SyncingFile>, Summary, NodeStats);

/// A finished, synced temporary node file.
struct NodeDone {
    temp: commit::TempFile,
    sha256: String,
    summary: Summary,
    stats: NodeStats,
    cache_size_bytes: u64,
    already_expired: u64,
    /// The node check's warnings ([`NodeCheck::warnings`]).
    check_warnings: Vec<String>,
}

/// Writes every node file to a temporary, then publishes them and the manifest.
fn run<F>(
    plan: &ExportPlan,
    pool: &rayon::ThreadPool,
    write: F,
) -> Result<ExportResult, ExportError>
where
    F: Fn(usize, HashingWriter<SyncingFile>, &AtomicBool) -> Result<NodeOutput, ExportError> + Sync,
{
    // Temporary files of killed earlier runs of this export (never of a live one).
    let finals: Vec<String> = plan
        .output_files()
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
        .collect();
    let out = commit::OutDir::open(&plan.out_dir)?;
    commit::remove_stale_temps(out.path(), &finals);
    // The writers' cancel flag: set by a node's failure (the other writers stop) and, through
    // a watcher, by the plan's interrupt flag — which the export itself never sets, so a
    // caller can reuse it for the next export.
    let cancel = &AtomicBool::new(false);
    let writers_done = &AtomicBool::new(false);
    let groups = &plan.topology.groups;
    let results: Vec<Result<NodeDone, ExportError>> = std::thread::scope(|scope| {
        if plan.interrupt.is_some() {
            scope.spawn(|| {
                while !writers_done.load(Ordering::Relaxed) {
                    if plan.interrupted() {
                        cancel.store(true, Ordering::Relaxed);
                        break;
                    }
                    std::thread::sleep(INTERRUPT_POLL);
                }
            });
        }
        // Set however the writers end (a panic too): the watcher, and so the scope, ends.
        let _done = SetOnDrop(writers_done);
        pool.install(|| {
            (0..groups.len())
                .into_par_iter()
                .map(|i| {
                    let r = write_one(plan, &out, i, &write, cancel);
                    if r.is_err() {
                        cancel.store(true, Ordering::Relaxed);
                    }
                    r
                })
                .collect()
        })
    });
    let mut done = Vec::with_capacity(results.len());
    let mut first_error = None;
    for r in results {
        match r {
            Ok(d) => done.push(d),
            Err(ExportError::Cancelled) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e); // dropping `done` removes the temporaries
    }
    // Interrupted after the last write (during a check, say): nothing is published.
    if done.len() != groups.len() || cancel.load(Ordering::Relaxed) || plan.interrupted() {
        return Err(ExportError::Cancelled);
    }
    publish_all(plan, out, done)
}

fn write_one<F>(
    plan: &ExportPlan,
    dir: &commit::OutDir,
    index: usize,
    write: &F,
    cancel: &AtomicBool,
) -> Result<NodeDone, ExportError>
where
    F: Fn(usize, HashingWriter<SyncingFile>, &AtomicBool) -> Result<NodeOutput, ExportError> + Sync,
{
    let final_name = plan.node_file_name_of(index);
    let (file, temp) = commit::TempFile::create(dir, &final_name)?;
    // On disk as it grows (direct I/O where the filesystem allows, else background syncs:
    // either way the device's work overlaps encoding), synced at the end.
    let out = HashingWriter::new(SyncingFile::with_direct_io(file, temp.path()));
    let (hashing, summary, stats) = write(index, out, cancel)?;
    let (file, sha256) = hashing.finish();
    let file = file.finish().map_err(|e| ExportError::io(temp.path(), e))?;
    drop(file);
    // Stopped (a signal, or another node's failure) while this file was finishing: its
    // check would be wasted work.
    if cancel.load(Ordering::Relaxed) {
        return Err(ExportError::Cancelled);
    }
    let (cache_size_bytes, already_expired, check_warnings) = match &plan.check {
        Some(check) => {
            let slots = plan
                .topology
                .groups
                .get(index)
                .map(|g| g.slots.clone())
                .unwrap_or_default();
            let verdict = check(temp.path(), &slots);
            if let Some(problem) = verdict.problem {
                // A check that could not read the file says nothing of the data: the
                // directory moved, or the file is gone.
                dir.ensure_same()?;
                if let Err(e) = std::fs::metadata(temp.path()) {
                    return Err(ExportError::io(temp.path(), e));
                }
                // Dropping `temp` removes the temporary file.
                return Err(ExportError::Rejected {
                    file: final_name,
                    problem,
                });
            }
            (
                verdict.cache_size_bytes,
                verdict.already_expired,
                verdict.warnings,
            )
        }
        None => (stats.used_mem, 0, Vec::new()),
    };
    Ok(NodeDone {
        temp,
        sha256,
        summary,
        stats,
        cache_size_bytes,
        already_expired,
        check_warnings,
    })
}

/// Publishes the node files (no overwrite), syncs the directory, then writes the manifest the
/// same way. Undoes what it published on failure.
fn publish_all(
    plan: &ExportPlan,
    out: commit::OutDir,
    done: Vec<NodeDone>,
) -> Result<ExportResult, ExportError> {
    let dir = out.path().to_path_buf();
    // Moved since the node files were written: fail before anything more is made in it.
    out.ensure_same()?;
    let mut published = commit::Published::new(out.clone());
    let ctime = rfc3339_utc(plan.now);
    let mut nodes = Vec::with_capacity(done.len());
    let mut snapshots = Vec::with_capacity(done.len());
    let mut warnings = Vec::new();
    let mut to_publish = Vec::with_capacity(done.len());
    for (node, group) in done.into_iter().zip(&plan.topology.groups) {
        let final_path = plan.node_file(&group.id);
        let file = node_file_name(&plan.name, &group.id);
        warnings.extend(node.check_warnings.iter().map(|w| format!("{file}: {w}")));
        to_publish.push((node.temp, file.clone(), node.sha256.clone()));
        let s = &node.summary;
        snapshots.push(NodeSnapshot {
            node_group_id: group.id.clone(),
            cache_node_id: "0001".into(),
            node_group_configuration: crate::manifest::NodeGroupConfiguration {
                node_group_id: group.id.clone(),
                slots: group.slots.to_string(),
            },
            cache_size: cache_size_text(node.cache_size_bytes),
            snapshot_create_time: ctime.clone(),
            file,
            file_size_bytes: s.bytes,
            sha256: node.sha256.clone(),
            crc64: format!("{:016x}", s.crc),
            rdb_version: s.header.version,
            keys: s.keys,
            expires: s.expires,
            cache_size_bytes: node.cache_size_bytes,
        });
        nodes.push(NodeReport {
            node_group_id: group.id.clone(),
            slots: group.slots.to_string(),
            path: final_path,
            header: s.header,
            keys: s.keys,
            expires: s.expires,
            bytes: s.bytes,
            crc64: s.crc,
            sha256: node.sha256,
            cache_size_bytes: node.cache_size_bytes,
            raw_copied: node.stats.raw_copied,
            reencoded: node.stats.reencoded,
            skipped_empty: s.skipped_empty + node.stats.skipped_empty,
            already_expired: node.already_expired,
            dropped_field_ttls: s.dropped_field_ttls,
            dropped_functions: s.dropped_functions + node.stats.dropped_functions,
        });
    }
    // Not an error (an empty export is a valid snapshot), but rarely what was meant.
    if nodes.iter().all(|n| n.keys + n.skipped_empty == 0) {
        warnings.push(match plan.db {
            DbSelection::Db(db) => {
                format!("the source holds no key in database {db}: the files hold no key")
            }
            _ => "the source holds no key: the files hold no key".into(),
        });
    }
    let target = plan.target.name();
    let (engine, version) = target.split_once('-').unwrap_or((target, ""));
    let manifest = Manifest {
        snapshot_name: plan.name.clone(),
        snapshot_status: "available".into(),
        snapshot_source: "manual".into(),
        engine: engine.into(),
        engine_version: version.into(),
        num_node_groups: u32::try_from(snapshots.len()).unwrap_or(u32::MAX),
        snapshot_create_time: ctime,
        node_snapshots: snapshots,
        cluster_mode: (plan.db == DbSelection::All).then(|| "disabled".to_string()),
    };
    let manifest_path = plan.manifest_file();
    let manifest_name = manifest_file_name(&plan.name);
    let (file, temp) = commit::TempFile::create(&out, &manifest_name)?;
    let mut hashing = HashingWriter::new(file);
    io::Write::write_all(&mut hashing, manifest.to_json_pretty().as_bytes())
        .map_err(|e| ExportError::io(temp.path(), e))?;
    let (file, manifest_sha256) = hashing.finish();
    file.sync_all()
        .map_err(|e| ExportError::io(temp.path(), e))?;
    drop(file);
    // Every file to publish, in a journal first: an export killed while publishing (no
    // clean-up runs) leaves the journal, and the next export of the name removes what it
    // had published (`commit::recover_interrupted`).
    let mut entries: Vec<(&commit::TempFile, &str, &str)> = to_publish
        .iter()
        .map(|(t, name, sha)| (t, name.as_str(), sha.as_str()))
        .collect();
    entries.push((&temp, manifest_name.as_str(), manifest_sha256.as_str()));
    // The last point where an interrupt stops the export: from the journal on, it publishes.
    if plan.interrupted() {
        return Err(ExportError::Cancelled); // the temporaries go with `to_publish` and `temp`
    }
    let journal = commit::Journal::write(&out, &manifest_name, &entries)?;
    let linked = (|| {
        for (temp, file, _) in to_publish {
            published.publish(temp, &dir.join(&file), plan)?;
        }
        published.sync_dir()?;
        published.publish(temp, &dir.join(&manifest_name), plan)?;
        published.sync_dir()
    })();
    if let Err(e) = linked {
        // The published files go first, then the journal: a kill in between leaves the
        // journal to finish the job.
        drop(published);
        drop(journal);
        return Err(e);
    }
    journal.complete();
    published.keep();
    Ok(ExportResult {
        manifest,
        manifest_path,
        nodes,
        warnings,
    })
}
