//! `rdbkit export`: argument handling around [`rdb_cluster::export`] (plan, the check of each
//! node file with `rdb-verify` before anything is published, which also gives its `CacheSize`,
//! per-node summary lines, exit codes).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rdb_cluster::export::{export_file, DbSelection, ExportError, ExportPlan, ExportResult};
use rdb_cluster::manifest::unix_now;
use rdb_cluster::topology::Topology;
use rdb_writer::Target;

/// The options of `rdbkit export`, as parsed from the command line (its `--help` text is
/// the field docs below).
#[derive(Debug, Clone, clap::Args)]
#[command(group = clap::ArgGroup::new("node_groups").required(true).args(["shards", "topology"]))]
pub struct ExportArgs {
    /// Source: an .rdb file (any version) or a JSONL keyspace in the `dump` format.
    #[arg(long = "from", value_name = "SRC")]
    pub from: PathBuf,
    /// Snapshot name: no '/', '\', NUL or control characters, and short enough that
    /// NAME-manifest.json fits the file system's name limit (241 bytes on a 255-byte limit).
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// Output directory (must exist).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Node groups 0001..N (N from 1 to 500) with the 16384 slots split evenly (remainder to the
    /// first groups).
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// Topology file: {"NodeGroupConfiguration": [{"NodeGroupId": "0001", "Slots": "0-3999"}, ...]}.
    #[arg(long, value_name = "FILE")]
    pub topology: Option<PathBuf>,
    /// Engine line the files must load on: redis-6.0, redis-6.2, redis-7.0, redis-7.1 (ElastiCache's,
    /// written as for 7.0), redis-7.2, redis-7.4, valkey-7.2, valkey-8.0, valkey-8.1, valkey-8.2,
    /// valkey-9.0.
    #[arg(long, value_name = "VERSION", default_value = "redis-7.0")]
    pub target: String,
    /// Export only this database (written as db 0); required when the source has keys outside db 0.
    #[arg(long, value_name = "N", conflicts_with = "all_dbs")]
    pub db: Option<u32>,
    /// Keep every database (only with a single node group, --shards 1).
    #[arg(long)]
    pub all_dbs: bool,
    /// Drop what the target cannot represent (hash field TTLs, functions, function libraries
    /// for an engine other than Lua on a line that runs Lua only) instead of failing.
    #[arg(long)]
    pub drop_unsupported: bool,
    /// Worker threads (default: one per CPU; at most 1024): node files are written in
    /// parallel, and with more threads than node groups each file's keys too; the output does
    /// not depend on it.
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1024))]
    pub threads: usize,
    /// Export time in Unix seconds (ctime AUX, SnapshotCreateTime), 0 to 253402300799
    /// (9999-12-31T23:59:59Z); default: now.
    #[arg(long, value_name = "SECS",
          value_parser = clap::value_parser!(i64).range(0..=253_402_300_799))]
    pub ctime: Option<i64>,
}

/// A failed export, with the exit code it maps to.
#[derive(Debug)]
pub enum ExportFailure {
    /// Bad arguments (exit 2).
    Usage(String),
    /// Data, existing-file or I/O error (exit 1).
    Data(String),
    /// Stopped by SIGINT / SIGTERM (exit 130): what was written was removed.
    Interrupted(String),
}

impl ExportFailure {
    /// 2 for usage errors, 130 when interrupted, 1 for the others.
    pub fn exit_code(&self) -> u8 {
        match self {
            ExportFailure::Usage(_) => 2,
            ExportFailure::Data(_) => 1,
            ExportFailure::Interrupted(_) => 130,
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            ExportFailure::Usage(m) | ExportFailure::Data(m) | ExportFailure::Interrupted(m) => m,
        }
    }
}

impl From<ExportError> for ExportFailure {
    fn from(e: ExportError) -> Self {
        if e.is_usage() {
            ExportFailure::Usage(e.to_string())
        } else {
            ExportFailure::Data(e.to_string())
        }
    }
}

pub use rdb_verify::publish::{cache_model_for, check_node_file, verify_before_publishing};

/// Largest topology file read (a topology of 16384 single-slot groups is about 1.3 MB).
const MAX_TOPOLOGY_BYTES: u64 = 16 << 20;

/// The text of a topology file, refused past [`MAX_TOPOLOGY_BYTES`] (`/dev/zero` named by
/// mistake ends with an error, not with the memory exhausted).
fn read_topology_text(file: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(file)?
        .take(MAX_TOPOLOGY_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_TOPOLOGY_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_TOPOLOGY_BYTES} bytes: not a topology"),
        ));
    }
    Ok(text)
}

/// Builds the plan from the arguments (usage errors for bad combinations).
pub fn plan_from_args(args: &ExportArgs) -> Result<ExportPlan, ExportFailure> {
    rdb_cluster::export::validate_name(&args.name)?;
    let topology = match (&args.shards, &args.topology) {
        (Some(n), None) => {
            Topology::even(*n).map_err(|e| ExportFailure::Usage(format!("--shards: {e}")))?
        }
        (None, Some(file)) => {
            let text = read_topology_text(file)
                .map_err(|e| ExportFailure::Usage(format!("--topology {}: {e}", file.display())))?;
            // A byte-order mark (as some editors save JSON) is not part of the document.
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            Topology::from_json(text)
                .map_err(|e| ExportFailure::Usage(format!("--topology {}: {e}", file.display())))?
        }
        _ => {
            return Err(ExportFailure::Usage(
                "exactly one of --shards N and --topology FILE is required".into(),
            ))
        }
    };
    let target: Target = args
        .target
        .parse()
        .map_err(|e| ExportFailure::Usage(format!("--target: {e}")))?;
    let db = match (args.db, args.all_dbs) {
        (Some(_), true) => {
            return Err(ExportFailure::Usage(
                "--db and --all-dbs cannot be combined".into(),
            ))
        }
        (Some(n), false) => DbSelection::Db(n),
        (None, true) => DbSelection::All,
        (None, false) => DbSelection::Db0,
    };
    let mut plan = ExportPlan::new(args.name.clone(), args.out.clone(), topology, target);
    plan.db = db;
    plan.drop_unsupported = args.drop_unsupported;
    plan.threads = args.threads;
    plan.now = args.ctime.unwrap_or_else(unix_now);
    verify_before_publishing(&mut plan);
    Ok(plan)
}

/// One summary line per node file (written to stderr by the binary).
pub fn summary_lines(res: &ExportResult) -> Vec<String> {
    res.nodes
        .iter()
        .map(|n| {
            let mut line = format!(
                "{}: node group {} slots {}: {} keys ({} with expiry), {} bytes, {}, CacheSize {}, crc64 {:016x}",
                n.path.display(),
                n.node_group_id,
                n.slots,
                n.keys,
                n.expires,
                n.bytes,
                String::from_utf8_lossy(&n.header.to_bytes()),
                rdb_cluster::manifest::cache_size_text(n.cache_size_bytes),
                n.crc64,
            );
            if n.dropped_field_ttls + n.dropped_functions > 0 {
                line.push_str(&format!(
                    ", dropped {} hash field TTLs and {} functions",
                    n.dropped_field_ttls, n.dropped_functions
                ));
            }
            if n.already_expired > 0 {
                line.push_str(&format!(
                    ", {} keys already expired at the export time (a primary drops them when loading)",
                    n.already_expired
                ));
            }
            if n.skipped_empty > 0 {
                line.push_str(&format!(
                    ", left out {} empty collections (servers skip them when loading)",
                    n.skipped_empty
                ));
            }
            line
        })
        .collect()
}

/// Warnings about an export that succeeded but may not be what was meant (printed to stderr
/// by the binary): [`ExportResult::warnings`] (e.g. `--db N` choosing a database the source
/// holds no key of), each as a `warning: ` line.
pub fn export_warnings(res: &ExportResult) -> Vec<String> {
    res.warnings
        .iter()
        .map(|w| format!("warning: {w}"))
        .collect()
}

/// Runs `rdbkit export`.
pub fn run_export(args: &ExportArgs) -> Result<ExportResult, ExportFailure> {
    run_export_with(args, None)
}

/// [`run_export`] stopped when `interrupt` is set (by a signal handler): the files written
/// so far are removed, nothing more is published, and the failure is
/// [`ExportFailure::Interrupted`].
pub fn run_export_with(
    args: &ExportArgs,
    interrupt: Option<Arc<AtomicBool>>,
) -> Result<ExportResult, ExportFailure> {
    let mut plan = plan_from_args(args)?;
    plan.interrupt = interrupt.clone();
    if args.from.as_os_str() == "-" {
        return Err(ExportFailure::Usage(
            "--from -: export reads a file, not standard input (it maps an .rdb file, and \
             re-reads a JSONL file to name the lines of an error): save the input to a file \
             first"
                .into(),
        ));
    }
    if !args.out.is_dir() {
        return Err(ExportFailure::Usage(format!(
            "--out {}: not a directory",
            args.out.display()
        )));
    }
    if !args.from.is_file() {
        let what = match std::fs::metadata(&args.from) {
            Ok(m) if m.is_dir() => "is a directory, not a file".to_string(),
            Ok(_) => "not a regular file".to_string(),
            Err(e) => e.to_string(),
        };
        return Err(ExportFailure::Usage(format!(
            "--from {}: {what}",
            args.from.display()
        )));
    }
    // A path that cannot be opened is a usage error (exit 2), as for `dump`.
    if let Err(e) = std::fs::File::open(&args.from) {
        return Err(ExportFailure::Usage(format!(
            "--from {}: {e}",
            args.from.display()
        )));
    }
    match export_file(&args.from, &plan) {
        Err(rdb_cluster::export::ExportError::Cancelled)
            if interrupt.is_some_and(|f| f.load(Ordering::SeqCst)) =>
        {
            Err(ExportFailure::Interrupted(
                "interrupted: the files written so far were removed, nothing was published".into(),
            ))
        }
        r => Ok(r?),
    }
}
