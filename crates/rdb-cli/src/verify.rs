//! The `rdb-verify` command (cli-contract.md, `rdb-verify` section): input expansion, the
//! manifest check, the `--json` document and the text table. The checks themselves are
//! [`rdb_verify`]'s; this module only wires them to the command line.
//!
//! Flow: [`Config`] (parsed arguments) → [`run`] (expands `PATH...`, verifies the files in
//! parallel, applies the manifest) → [`Outcome`] → [`write_json`] or [`write_table`], and
//! [`Outcome::exit_code`] (0 every file valid, 1 any error finding, 2 could not run).

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use owo_colors::OwoColorize;
use rdb_cluster::slotset::SlotSet;
use rdb_verify::multi::verify_many_each;
use rdb_verify::{
    check_matched, expand_paths, CacheModel, EngineLine, FileFinding, Inputs, ManifestInput,
    Options, PlacedManifest, Report, Severity, Summary,
};
use serde::Serialize;

/// One GiB.
const GIB: f64 = 1_073_741_824.0;

/// Memory of common ElastiCache node types, in GiB, as AWS publishes them (the "Memory (GiB)"
/// column of the ElastiCache *Supported node types* and pricing pages). `--node-memory` accepts
/// these names; the library then allows 75 % of it (the service reserves 25 % by default,
/// `reserved-memory-percent`).
pub const NODE_TYPES: &[(&str, f64)] = &[
    ("cache.t2.micro", 0.555),
    ("cache.t2.small", 1.55),
    ("cache.t2.medium", 3.22),
    ("cache.t3.micro", 0.5),
    ("cache.t3.small", 1.37),
    ("cache.t3.medium", 3.09),
    ("cache.t4g.micro", 0.5),
    ("cache.t4g.small", 1.37),
    ("cache.t4g.medium", 3.09),
    ("cache.m5.large", 6.38),
    ("cache.m5.xlarge", 12.93),
    ("cache.m5.2xlarge", 26.04),
    ("cache.m5.4xlarge", 52.26),
    ("cache.m5.12xlarge", 157.12),
    ("cache.m5.24xlarge", 314.32),
    ("cache.m6g.large", 6.38),
    ("cache.m6g.xlarge", 12.93),
    ("cache.m6g.2xlarge", 26.04),
    ("cache.m6g.4xlarge", 52.26),
    ("cache.m6g.8xlarge", 103.68),
    ("cache.m6g.12xlarge", 157.12),
    ("cache.m6g.16xlarge", 209.55),
    ("cache.m7g.large", 6.38),
    ("cache.m7g.xlarge", 12.93),
    ("cache.m7g.2xlarge", 26.04),
    ("cache.m7g.4xlarge", 52.26),
    ("cache.m7g.8xlarge", 103.68),
    ("cache.m7g.12xlarge", 157.12),
    ("cache.m7g.16xlarge", 209.55),
    ("cache.r5.large", 13.07),
    ("cache.r5.xlarge", 26.32),
    ("cache.r5.2xlarge", 52.82),
    ("cache.r5.4xlarge", 105.81),
    ("cache.r5.12xlarge", 317.77),
    ("cache.r5.24xlarge", 635.61),
    ("cache.r6g.large", 13.07),
    ("cache.r6g.xlarge", 26.32),
    ("cache.r6g.2xlarge", 52.82),
    ("cache.r6g.4xlarge", 105.81),
    ("cache.r6g.8xlarge", 209.55),
    ("cache.r6g.12xlarge", 317.77),
    ("cache.r6g.16xlarge", 419.09),
    ("cache.r7g.large", 13.07),
    ("cache.r7g.xlarge", 26.32),
    ("cache.r7g.2xlarge", 52.82),
    ("cache.r7g.4xlarge", 105.81),
    ("cache.r7g.8xlarge", 209.55),
    ("cache.r7g.12xlarge", 317.77),
    ("cache.r7g.16xlarge", 419.09),
];

/// Parses `--node-memory`: a node type of [`NODE_TYPES`] (case-insensitive), or a byte count
/// with an optional binary suffix (`1073741824`, `512MiB`, `13.07GiB`, `2G` = 2 GiB;
/// [`rdb_verify::parse_byte_size`]).
pub fn parse_node_memory(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if let Some((_, gib)) = NODE_TYPES.iter().find(|(n, _)| n.eq_ignore_ascii_case(t)) {
        return Ok((gib * GIB).round() as u64);
    }
    match rdb_verify::parse_byte_size(t) {
        // A node without memory would fail every file: a typo, not a limit.
        Ok(0) => Err(format!("--node-memory {text:?}: out of range")),
        Ok(v) => Ok(v),
        Err(rdb_verify::ByteSizeError::Unit) => Err(format!(
            "--node-memory {text:?}: expected bytes (e.g. 1073741824, 6GiB) or a node type \
             such as cache.r7g.large (known: {})",
            NODE_TYPES
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Err(e) => Err(format!("--node-memory {text:?}: {e}")),
    }
}

/// The parsed command line of `rdb-verify`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Files and directories; `-` is standard input (a pipe: streamed, not mapped).
    pub paths: Vec<PathBuf>,
    /// Worker threads (0 = one per core).
    pub jobs: usize,
    /// A manifest to check the set against (`--manifest`); otherwise `*-manifest.json` files
    /// found in the directories given are used.
    pub manifest: Option<PathBuf>,
    /// The slots the (single) file's keys must hash into (`--slots`).
    pub slots: Option<SlotSet>,
    /// The engine line the files must load on (`--engine`).
    pub engine: Option<EngineLine>,
    /// Node memory in bytes (`--node-memory`); the library allows 75 % of it.
    pub node_memory: Option<u64>,
    /// Report a CRC mismatch as an error (`--no-checksum` clears it).
    pub check_checksum: bool,
    /// Detect duplicate keys (`--no-duplicate-check` clears it).
    pub duplicate_keys: bool,
    /// Estimate CacheSize for servers in cluster mode (`--cluster-mode`; implied by a
    /// manifest or `--slots`).
    pub cluster_mode: bool,
    /// Estimate CacheSize for a standalone server whatever implies cluster mode
    /// (`--standalone`; not with `cluster_mode`).
    pub standalone: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            paths: Vec::new(),
            jobs: 0,
            manifest: None,
            slots: None,
            engine: None,
            node_memory: None,
            check_checksum: true,
            duplicate_keys: true,
            cluster_mode: false,
            standalone: false,
        }
    }
}

impl Config {
    /// The verifier options these arguments ask for (no manifest).
    pub fn options(&self) -> Options {
        self.options_with(None)
    }

    /// The verifier options, with the manifest checked against when there is one: the
    /// engine line (the load check and the CacheSize model) is `--engine`, else the
    /// manifest's `Engine`/`EngineVersion`, else none (the CacheSize model is then the
    /// writing server's, [`Options::infer_cache_model`]); the model
    /// assumes cluster mode with `--cluster-mode`, `--slots` or a manifest (a node group's
    /// file is loaded by a cluster node), unless the manifest says `"ClusterMode": "disabled"`;
    /// with none of them, for a file that has slot sizing records (a cluster node wrote it,
    /// [`Options::infer_cluster_mode`]); never with `--standalone`.
    pub fn options_with(&self, manifest: Option<&ManifestInput>) -> Options {
        let line = self
            .engine
            .or_else(|| manifest.and_then(ManifestInput::engine_line));
        let model = line.map_or_else(CacheModel::default, CacheModel::for_engine);
        let clustered = !self.standalone
            && (self.cluster_mode
                || self.slots.is_some()
                || manifest.is_some_and(|m| !m.cluster_mode_disabled()));
        Options {
            check_checksum: self.check_checksum,
            duplicate_keys: self.duplicate_keys,
            // `--cluster-mode` alone: any slot, but db 0 only (as a cluster node loads).
            expected_slots: self
                .slots
                .clone()
                .or_else(|| self.cluster_mode.then(SlotSet::full)),
            engine: line,
            node_memory: self.node_memory,
            cache_model: if clustered { model.clustered() } else { model },
            // No line named: the model of the server that wrote each file.
            infer_cache_model: line.is_none(),
            // Nothing said of cluster mode: a node's file (slot sizing records) is a node's.
            infer_cluster_mode: !self.standalone
                && !self.cluster_mode
                && self.slots.is_none()
                && manifest.is_none(),
            ..Options::default()
        }
    }
}

/// Why `rdb-verify` could not run (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError(pub String);

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunError {}

/// The result of a run: one report per file (standard input first, then the files in the
/// order given — a directory's in name order —, then the entries of directories that are not
/// regular files), the totals and the set-wide findings of the manifest check.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// One report per file (the manifest's per-file findings already merged in).
    pub files: Vec<Report>,
    /// The totals row.
    pub summary: Summary,
    /// Findings about the set rather than one verified file (slot gaps / overlaps, files the
    /// manifest lists that were not given); serialised only when there are some.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<FileFinding>,
    /// The manifests that were checked.
    #[serde(skip)]
    pub manifests: Vec<PathBuf>,
    /// What the CacheSize estimates assume ([`rdb_verify::CacheModel::describe`]).
    pub cache_model: String,
}

impl Outcome {
    /// 0: every file valid (warnings allowed); 1: an error finding anywhere; 2: a file could
    /// not be read at all (an `io` finding).
    pub fn exit_code(&self) -> u8 {
        if self.files.iter().any(|r| r.has_code("io")) {
            2
        } else if self.files.iter().any(|r| !r.ok)
            || self
                .findings
                .iter()
                .any(|f| f.finding.severity == Severity::Error)
        {
            1
        } else {
            0
        }
    }
}

/// Whether a path argument means standard input.
pub fn is_stdin(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// What `PATH...` name: the expanded inputs ([`expand_paths`]) and whether `-` (standard
/// input) was among them.
#[derive(Debug, Clone, Default)]
pub struct CollectedInputs {
    /// Files, manifests and the directory entries that are not regular files.
    pub inputs: Inputs,
    /// `-` was given.
    pub stdin: bool,
}

/// Expands the paths and checks every one exists (and every directory can be listed): a
/// missing path is a [`RunError`]; a file that exists but cannot be read is left to the
/// verifier, which reports it (an `io` finding, exit 2) in the table or JSON like any file.
/// Each file comes once, however often it is reached ([`expand_paths`]).
pub fn collect_inputs(paths: &[PathBuf]) -> Result<CollectedInputs, RunError> {
    let stdin = paths.iter().filter(|p| is_stdin(p)).count();
    if stdin > 1 {
        return Err(RunError("standard input (`-`) given more than once".into()));
    }
    let rest: Vec<PathBuf> = paths.iter().filter(|p| !is_stdin(p)).cloned().collect();
    for p in &rest {
        let ok = match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => std::fs::read_dir(p).map(|_| ()),
            // A FIFO or device is not opened twice: opening it here would take the data (or
            // the writer) meant for the verification.
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        ok.map_err(|e| RunError(format!("{}: {e}", p.display())))?;
    }
    let inputs = expand_paths(&rest).map_err(|e| RunError(format!("reading a directory: {e}")))?;
    Ok(CollectedInputs {
        inputs,
        stdin: stdin == 1,
    })
}

/// Reads the manifests of a run: `--manifest FILE` (which replaces those found in the
/// directories given) and the `*.json` PATHs, named by the user, and the `*-manifest.json` of
/// the directories given; each once (compared by canonical path). `--manifest` or a manifest
/// found in a directory that cannot be read or parsed, or that lists no node group, is a
/// [`RunError`]; such a `.json` PATH is left out with an info finding (`rdb-verify DIR/*`
/// names every file of DIR, a saved report or a topology among them).
fn read_manifests(
    cfg: &Config,
    inputs: &Inputs,
) -> Result<(Vec<PlacedManifest>, Vec<FileFinding>), RunError> {
    let read = |m: &Path, named: bool| -> Result<PlacedManifest, String> {
        let placed = PlacedManifest::read(m, named).map_err(|e| e.to_string())?;
        if placed.manifest.node_snapshots.is_empty() {
            return Err("no NodeSnapshots entry: not a snapshot manifest".into());
        }
        Ok(placed)
    };
    let fatal = |m: &Path, e: String| RunError(format!("manifest {}: {e}", m.display()));
    let mut out: Vec<PlacedManifest> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut notes = Vec::new();
    if let Some(m) = &cfg.manifest {
        out.push(read(m, true).map_err(|e| fatal(m, e))?);
        seen.insert(rdb_verify::multi::identity(m));
    } else {
        for m in &inputs.manifests {
            out.push(read(m, false).map_err(|e| fatal(m, e))?);
            seen.insert(rdb_verify::multi::identity(m));
        }
    }
    for m in &inputs.named_manifests {
        if !seen.insert(rdb_verify::multi::identity(m)) {
            continue;
        }
        match read(m, true) {
            Ok(placed) => out.push(placed),
            Err(e) => notes.push(FileFinding {
                path: Some(m.display().to_string()),
                finding: rdb_verify::Finding::new(
                    Severity::Info,
                    "manifest-ignored",
                    None,
                    format!("not used as a manifest: {e}"),
                ),
            }),
        }
    }
    Ok((out, notes))
}

/// Verifies everything `cfg` names. `on_done` is called (from worker threads) as each file
/// finishes, e.g. to advance a progress bar; `total` receives the number of files first.
///
/// Each manifest is checked against the files its node groups name
/// ([`rdb_verify::match_manifests`]: relative to the manifest's directory), and each file is
/// verified with the options of the first manifest naming it (its engine line for the
/// CacheSize model and the load check, its node group's slots) or, named by none, with the
/// command line's alone.
pub fn run<F, T>(cfg: &Config, total: T, on_done: F) -> Result<Outcome, RunError>
where
    F: Fn(&Report) + Sync,
    T: FnOnce(usize),
{
    if cfg.paths.is_empty() {
        return Err(RunError("no PATH given".into()));
    }
    let CollectedInputs { inputs, stdin } = collect_inputs(&cfg.paths)?;
    let (placed, mut set_findings) = read_manifests(cfg, &inputs)?;
    let mut files = inputs.files.clone();
    if files.is_empty() && inputs.not_regular.is_empty() && !stdin {
        // Only manifests named: verify the files they name (those that exist; the others are
        // reported missing by the manifest check).
        let mut seen = std::collections::HashSet::new();
        for m in placed.iter().filter(|m| m.named) {
            for p in m.entry_paths().into_iter().flatten() {
                if p.exists() && seen.insert(rdb_verify::multi::identity(&p)) {
                    files.push(p);
                }
            }
        }
    }
    let n = files.len() + usize::from(stdin) + inputs.not_regular.len();
    // A manifest whose files are all missing is checked (each missing file reported); with
    // nothing to verify and no manifest, there is nothing to say.
    if n == 0 && placed.is_empty() {
        let given: Vec<String> = cfg.paths.iter().map(|p| p.display().to_string()).collect();
        return Err(RunError(format!(
            "no .rdb file found in {}",
            given.join(", ")
        )));
    }
    if cfg.slots.is_some() && n != 1 {
        return Err(RunError(format!(
            "--slots applies to exactly one file ({n} given)"
        )));
    }
    total(n);

    // Reports in this order: standard input, the files, the entries not opened; `all` holds
    // their paths (`-` for standard input).
    let offset = usize::from(stdin);
    let mut all: Vec<PathBuf> = Vec::with_capacity(n);
    if stdin {
        all.push(PathBuf::from("-"));
    }
    all.extend(files.iter().cloned());
    all.extend(inputs.not_regular.iter().cloned());
    let matching = rdb_verify::match_manifests(&placed, &all);
    let mut claim: Vec<Option<(usize, usize)>> = vec![None; all.len()];
    for (mi, entries) in matching.iter().enumerate() {
        for (ei, f) in entries.iter().enumerate() {
            if let Some(c) = f.and_then(|f| claim.get_mut(f)) {
                c.get_or_insert((mi, ei));
            }
        }
    }
    let base = cfg.options();
    let per_manifest: Vec<Options> = placed
        .iter()
        .map(|p| cfg.options_with(Some(&p.manifest)))
        .collect();
    let opts_for = |i: usize| -> Cow<'_, Options> {
        let Some((mi, ei)) = claim.get(i).copied().flatten() else {
            return Cow::Borrowed(&base);
        };
        let (Some(opts), Some(m)) = (per_manifest.get(mi), placed.get(mi)) else {
            return Cow::Borrowed(&base);
        };
        // With `--slots`, which names the slots itself, not the node group's.
        match m.manifest.node_group(ei).filter(|_| cfg.slots.is_none()) {
            Some(g) => Cow::Owned(Options {
                expected_slots: Some(g.slots),
                expected_slots_group: Some(g.group),
                ..opts.clone()
            }),
            None => Cow::Borrowed(opts),
        }
    };
    let mut reports = Vec::with_capacity(n);
    if stdin {
        let opts = opts_for(0);
        // Standard input redirected from a regular file is verified as that file (windows
        // of a map, and a repeated key confirmed and named by a second pass over
        // `/dev/stdin`, which opens the same file again); a pipe is read once.
        let dev = Path::new("/dev/stdin");
        let as_file = std::fs::metadata(dev)
            .is_ok_and(|m| m.is_file())
            .then(|| rdb_verify::try_verify_file(dev, &opts).ok())
            .flatten();
        let r = match as_file {
            Some(mut r) => {
                r.path = "-".into();
                r
            }
            None => rdb_verify::verify_reader("-", io::stdin().lock(), &opts),
        };
        on_done(&r);
        reports.push(r);
    }
    reports.extend(verify_many_each(
        &files,
        cfg.jobs,
        |i| opts_for(i + offset),
        &on_done,
    ));
    for p in &inputs.not_regular {
        let e = io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, socket or device found in a directory is not opened; \
             name it as a PATH to read it)",
        );
        let r = rdb_verify::io_error_report(p, &e);
        on_done(&r);
        reports.push(r);
    }
    let paths: Vec<Option<PathBuf>> = all
        .iter()
        .map(|p| (!is_stdin(p)).then(|| p.clone()))
        .collect();
    let mut checks = Vec::new();
    // The manifest check hashes the files a manifest gives a SHA-256 for: on `--jobs` threads.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.jobs.min(64))
        .build()
        .ok();
    for (p, matched) in placed.iter().zip(&matching) {
        let check_one = || check_matched(&p.manifest, &reports, &paths, matched, &p.entry_paths());
        let mut check = match &pool {
            Some(pool) => pool.install(check_one),
            None => check_one(),
        };
        if cfg.engine.is_some() {
            // `--engine` decides the load check and the model, whatever the manifest names.
            check
                .findings
                .retain(|f| f.finding.code != "manifest-engine-unknown");
        }
        set_findings.extend(check.apply_to(&mut reports));
        checks.push(check);
    }
    if !placed.is_empty() {
        // A report no manifest names (`claim` follows the reports' order).
        for (r, _) in reports.iter_mut().zip(&claim).filter(|(_, c)| c.is_none()) {
            r.push_finding(rdb_verify::multi::unlisted_finding());
        }
    }
    if placed.is_empty() {
        set_findings.extend(unused_manifests(cfg));
    }
    let mut summary = Summary::from_reports(&reports, &checks);
    summary.set_errors = set_findings
        .iter()
        .filter(|f| f.finding.severity == Severity::Error)
        .count() as u64;
    // What the estimates assumed: one description per model in use, in report order.
    let mut models: Vec<String> = Vec::new();
    for d in reports.iter().map(|r| r.cache_model.clone()) {
        if !d.is_empty() && !models.contains(&d) {
            models.push(d);
        }
    }
    if models.is_empty() {
        models.push(opts_for(0).cache_model.describe());
    }
    Ok(Outcome {
        files: reports,
        summary,
        findings: set_findings,
        manifests: placed.into_iter().map(|p| p.path).collect(),
        cache_model: models.join("; "),
    })
}

/// An info finding for each `*-manifest.json` beside the files named as PATHs when no
/// manifest was used (`rdb-verify DIR/*.rdb`): the set was then not checked against it.
fn unused_manifests(cfg: &Config) -> Vec<FileFinding> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for p in cfg.paths.iter().filter(|p| !is_stdin(p) && p.is_file()) {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.as_encoded_bytes().ends_with(b"-manifest.json"))
            })
            .collect();
        found.sort();
        out.extend(found.into_iter().map(|m| FileFinding {
            path: None,
            finding: rdb_verify::Finding::new(
                Severity::Info,
                "manifest-not-used",
                None,
                format!(
                    "{} is beside these files but was not used: name the directory, the \
                     manifest, or --manifest to check the set against it",
                    m.display()
                ),
            ),
        }));
    }
    out
}

/// Writes the `--json` document (`{"files": [...], "summary": {...}}`, plus `findings` for
/// set-wide manifest findings when there are any) and a newline.
pub fn write_json(out: &mut dyn Write, o: &Outcome) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, o).map_err(io::Error::other)?;
    writeln!(out)
}

/// The slots column: the ranges when short, else `N slots in MIN-MAX`.
fn slots_text(r: &Report) -> String {
    let s = &r.slots;
    match (s.min, s.max) {
        (Some(min), Some(max)) if s.ranges.len() > 24 => {
            let n = r
                .slot_counts
                .as_ref()
                .map_or(0, |c| c.iter().filter(|n| **n > 0).count());
            format!("{n} slots in {min}-{max}")
        }
        (Some(_), _) => s.ranges.clone(),
        _ => "-".into(),
    }
}

/// Cuts `s` to `max` characters (with an ellipsis).
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// `s` with control characters escaped (`\n`, `\t`, `\u{1b}`): a file name holding them
/// would break the table's rows or its terminal.
/// `s` with control characters escaped (`\n`, `\u{1b}`), for paths and messages printed on
/// one line.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Valid files whose first warning the table's text lists below the rows.
pub const MAX_WARNED_FILES: usize = 20;

/// The text rendering's status cell and its colour class (0 ok, 1 warnings, 2 failed).
fn status(r: &Report) -> (String, u8) {
    if !r.ok {
        return ("FAILED".into(), 2);
    }
    match r.warning_count() {
        0 => ("ok".into(), 0),
        1 => ("ok, 1 warning".into(), 1),
        w => (format!("ok, {w} warnings"), 1),
    }
}

/// Writes the text table (one row per file and a totals row), then the first warning of each
/// valid file (of the first [`MAX_WARNED_FILES`]) and the set-wide findings.
/// Colours are ANSI codes: pass an `anstream` stream to have them stripped when `NO_COLOR` is
/// set or the output is not a terminal.
pub fn write_table(out: &mut dyn Write, o: &Outcome) -> io::Result<()> {
    const HEAD: [&str; 8] = [
        "FILE",
        "STATUS",
        "RDB",
        "KEYS",
        "EXPIRES",
        "CACHESIZE",
        "SLOTS",
        "FIRST ERROR",
    ];
    let mut rows: Vec<([String; 8], u8)> = Vec::new();
    for r in &o.files {
        let (st, class) = status(r);
        let rdb = match (r.magic, r.rdb_version) {
            (Some("VALKEY"), Some(v)) => format!("valkey {v}"),
            (_, Some(v)) => v.to_string(),
            _ => "-".into(),
        };
        let err = r
            .first_error()
            .map(|f| cut(&f.to_string(), 100))
            .unwrap_or_default();
        rows.push((
            [
                printable(&r.path),
                st,
                rdb,
                r.keys.to_string(),
                r.expires.to_string(),
                r.cache_size.clone(),
                slots_text(r),
                err,
            ],
            class,
        ));
    }
    let s = &o.summary;
    let set_errors = o
        .findings
        .iter()
        .filter(|f| f.finding.severity == Severity::Error)
        .count();
    let total_status = if s.failed == 0 && set_errors == 0 {
        (format!("{} ok", s.ok), 0)
    } else {
        (format!("{} ok, {} failed", s.ok, s.failed), 2)
    };
    let covered = match SlotSet::parse(&s.slots_covered) {
        Ok(set) if s.slots_covered.len() > 24 => match (set.min(), set.max()) {
            (Some(min), Some(max)) => format!("{} slots in {min}-{max}", set.len()),
            _ => "-".into(),
        },
        _ if s.slots_covered.is_empty() => "-".into(),
        _ => s.slots_covered.clone(),
    };
    let total_err = if set_errors > 0 {
        format!("{set_errors} set-wide error(s), see below")
    } else {
        String::new()
    };
    let total = [
        format!(
            "TOTAL ({} file{})",
            s.files,
            if s.files == 1 { "" } else { "s" }
        ),
        total_status.0,
        String::new(),
        s.keys.to_string(),
        s.expires.to_string(),
        rdb_cluster::manifest::cache_size_text(s.cache_size_bytes),
        covered,
        total_err,
    ];
    let mut w = [0usize; 8];
    for row in rows
        .iter()
        .map(|(r, _)| r)
        .chain(std::iter::once(&total))
        .chain(std::iter::once(&HEAD.map(String::from)))
    {
        for (wi, cell) in w.iter_mut().zip(row.iter()) {
            *wi = (*wi).max(cell.chars().count());
        }
    }
    let numeric = [false, false, true, true, true, true, false, false];
    let fmt_row = |row: &[String; 8], class: u8, bold: bool| -> String {
        let mut line = String::new();
        let last = row.iter().rposition(|c| !c.is_empty()).unwrap_or(0);
        for (i, cell) in row.iter().enumerate().take(last + 1) {
            let width = w.get(i).copied().unwrap_or(0);
            let pad = width.saturating_sub(cell.chars().count());
            let padded = if numeric.get(i).copied().unwrap_or(false) {
                format!("{}{cell}", " ".repeat(pad))
            } else if i == last {
                cell.clone()
            } else {
                format!("{cell}{}", " ".repeat(pad))
            };
            let styled = match (i, class) {
                (1, 0) => padded.green().to_string(),
                (1, 1) => padded.yellow().to_string(),
                (1 | 7, 2) => padded.red().to_string(),
                _ => padded,
            };
            let styled = if bold {
                styled.bold().to_string()
            } else {
                styled
            };
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(&styled);
        }
        line
    };
    writeln!(out, "{}", fmt_row(&HEAD.map(String::from), 9, true))?;
    for (row, class) in &rows {
        writeln!(out, "{}", fmt_row(row, *class, false))?;
    }
    writeln!(out, "{}", fmt_row(&total, total_status.1, true))?;
    writeln!(out, "CacheSize: {}", o.cache_model)?;
    // Coverage only means something for a node-group set described by a manifest.
    if !o.manifests.is_empty() {
        if !s.slot_gaps.is_empty() {
            writeln!(out, "slot gaps: {}", cut(&s.slot_gaps, 200))?;
        }
        if !s.slot_overlaps.is_empty() {
            writeln!(out, "slot overlaps: {}", cut(&s.slot_overlaps, 200))?;
        }
    }
    // Each valid file's first warning (the table's last column holds errors only).
    let warned: Vec<&Report> = o
        .files
        .iter()
        .filter(|r| r.ok && r.findings.iter().any(|f| f.severity == Severity::Warning))
        .collect();
    for r in warned.iter().take(MAX_WARNED_FILES) {
        let first = r.findings.iter().find(|f| f.severity == Severity::Warning);
        if let Some(f) = first {
            let more = match r.warning_count().saturating_sub(1) {
                0 => String::new(),
                n => format!(" (+{n} more; --json lists up to 100 of each code)"),
            };
            writeln!(
                out,
                "{}: {}: {}{more}",
                "warning".yellow(),
                printable(&r.path),
                cut(&f.to_string(), 200)
            )?;
        }
    }
    if warned.len() > MAX_WARNED_FILES {
        writeln!(
            out,
            "{}: {} more files with warnings (--json lists them)",
            "warning".yellow(),
            warned.len() - MAX_WARNED_FILES
        )?;
    }
    for f in &o.findings {
        let sev = f.finding.severity.as_str();
        let sev = if f.finding.severity == Severity::Error {
            sev.red().to_string()
        } else {
            sev.yellow().to_string()
        };
        let who = f.path.as_deref().map_or_else(|| "(set)".into(), printable);
        writeln!(out, "{sev}: {who}: {}", f.finding)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_memory() {
        assert_eq!(parse_node_memory("1234").unwrap(), 1234);
        assert_eq!(parse_node_memory("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_node_memory("512M").unwrap(), 512 << 20);
        assert_eq!(
            parse_node_memory("cache.r7g.large").unwrap(),
            (13.07 * GIB).round() as u64
        );
        assert_eq!(
            parse_node_memory("CACHE.T3.MICRO").unwrap(),
            (0.5 * GIB) as u64
        );
        assert!(parse_node_memory("cache.x1.huge").is_err());
        assert!(parse_node_memory("-5").is_err());
        assert!(parse_node_memory("").is_err());
        assert!(parse_node_memory("0").is_err());
        assert!(parse_node_memory("0GiB").is_err());
    }

    #[test]
    fn cells() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
