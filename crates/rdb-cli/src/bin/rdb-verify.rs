//! `rdb-verify [OPTIONS] PATH...`: deep verification of RDB files (cli-contract.md).

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::Parser as ClapParser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rdb_cli::verify::{parse_node_memory, run, write_json, write_table, Config};
use rdb_cluster::slotset::SlotSet;
use rdb_verify::EngineLine;

#[derive(ClapParser)]
#[command(
    name = "rdb-verify",
    version,
    about = "Verify Redis/Valkey RDB files deeply (structure, checksums, duplicates, slots, engine, memory)",
    after_help = "Exit codes: 0 every file valid (warnings allowed), 1 any file has an error finding, 2 could not run."
)]
struct Cli {
    /// Files, directories (every *.rdb inside, and a *-manifest.json), or `-` for standard
    /// input. A file whose name ends in .json is a manifest (alone, the files it names are
    /// verified).
    #[arg(required_unless_present = "stdin")]
    paths: Vec<PathBuf>,
    /// Threads (default, or 0: one per core): files verified in parallel; with fewer files than
    /// threads, files of 32 MiB and more are cut into parts verified at once (same report).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Print one JSON document ({"files": [...], "summary": {...}}) instead of the table;
    /// "findings" (when there are some) holds what concerns the set rather than one file
    /// (summary.set_errors counts its errors).
    ///
    /// Each file's "checksum": {"stored", "computed", "status"}: status is "ok", "mismatch",
    /// "disabled" (stored checksum 0), "absent" (RDB version below 5, no checksum) or
    /// "not-reached" (reading stopped before the EOF record, e.g. a truncated or malformed
    /// file; "stored" and "computed" are then null).
    #[arg(long)]
    json: bool,
    /// A snapshot manifest to check the set against (slots, counts, coverage), instead of
    /// those found in the directories given.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// The slots the keys of the (single) file must hash into, e.g. `0-5461` or `0-99,200-299`.
    #[arg(long)]
    slots: Option<String>,
    /// The engine line the files must load on, e.g. `redis-7.0`, `valkey-8.0` (also the
    /// CacheSize model; without it, a manifest's engine, else the writing server's line).
    #[arg(long)]
    engine: Option<String>,
    /// Node memory: bytes (`6GiB` style suffixes allowed) or an ElastiCache node type such as
    /// `cache.r7g.large`; an error when the estimated dataset exceeds 75 % of it.
    #[arg(long = "node-memory")]
    node_memory: Option<String>,
    /// Report a checksum mismatch as a warning, not an error (the file passes).
    #[arg(long = "no-checksum")]
    no_checksum: bool,
    /// Skip the duplicate-key check (saves 8 bytes of memory per key on huge files).
    #[arg(long = "no-duplicate-check")]
    no_duplicate_check: bool,
    /// Read one file from standard input (same as the path `-`).
    #[arg(long)]
    stdin: bool,
    /// The files are for cluster-mode nodes: keys outside db 0 are an error (except on
    /// Valkey 9.x lines), and CacheSize counts the servers' slot-to-keys index (a rax,
    /// per-key links or per-slot tables); implied by a manifest or `--slots`, and for the
    /// CacheSize model alone by a file's slot sizing records (SLOT_INFO, `slot-info` AUX),
    /// which only cluster nodes write.
    #[arg(long = "cluster-mode", conflicts_with = "standalone")]
    cluster_mode: bool,
    /// Estimate CacheSize for a standalone server (cluster mode disabled), whatever a
    /// manifest, `--slots` or the files' slot sizing records imply; the slot checks stay.
    #[arg(long)]
    standalone: bool,
}

fn usage(msg: &str) -> ExitCode {
    rdb_cli::note!("rdb-verify: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli: Cli = match rdb_cli::parse_args(2) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut cfg = Config {
        paths: cli.paths,
        jobs: cli.jobs.unwrap_or(0),
        manifest: cli.manifest,
        check_checksum: !cli.no_checksum,
        duplicate_keys: !cli.no_duplicate_check,
        cluster_mode: cli.cluster_mode,
        standalone: cli.standalone,
        ..Config::default()
    };
    if cli.stdin && !cfg.paths.iter().any(|p| p.as_os_str() == "-") {
        cfg.paths.push(PathBuf::from("-"));
    }
    if let Some(s) = cli.slots {
        match SlotSet::parse(&s) {
            Ok(set) if set.is_empty() => {
                return usage(&format!("--slots {s:?}: no slot given"));
            }
            Ok(set) => cfg.slots = Some(set),
            Err(e) => return usage(&format!("--slots {s:?}: {e}")),
        }
    }
    if let Some(e) = cli.engine {
        match e.parse::<EngineLine>() {
            Ok(l) => cfg.engine = Some(l),
            // The error lists the known lines.
            Err(err) => return usage(&format!("--engine: {err}")),
        }
    }
    if let Some(m) = cli.node_memory {
        match parse_node_memory(&m) {
            Ok(b) => cfg.node_memory = Some(b),
            Err(e) => return usage(&e),
        }
    }

    // A progress bar on stderr, only when it is a terminal.
    let bar: OnceLock<ProgressBar> = OnceLock::new();
    let show_bar = io::stderr().is_terminal();
    let total = |n: usize| {
        if show_bar && n > 1 {
            let pb = ProgressBar::with_draw_target(Some(n as u64), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} files {msg}",
            ) {
                pb.set_style(style);
            }
            let _ = bar.set(pb);
        }
    };
    let on_done = |r: &rdb_verify::Report| {
        if let Some(pb) = bar.get() {
            pb.set_message(rdb_cli::verify::printable(&r.path));
            pb.inc(1);
        }
    };
    let outcome = run(&cfg, total, on_done);
    if let Some(pb) = bar.get() {
        pb.finish_and_clear();
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return usage(&e.0),
    };
    let written = if cli.json {
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        write_json(&mut out, &outcome).and_then(|()| out.flush())
    } else {
        let mut out = anstream::stdout();
        write_table(&mut out, &outcome).and_then(|()| out.flush())
    };
    // The files that could not be read, named on stderr too (after the report: a stderr that
    // cannot be written must not cost the report).
    for r in outcome.files.iter().filter(|r| r.has_code("io")) {
        if let Some(f) = r.with_code("io").next() {
            // `rdb_verify::io_error_report`'s message names the file itself; the others (a
            // read error part-way, standard input's) are prefixed with it.
            let message = rdb_cli::verify::printable(&f.message);
            if f.message.starts_with(&format!("cannot read {}: ", r.path)) {
                rdb_cli::note!("rdb-verify: {message}");
            } else {
                let path = rdb_cli::verify::printable(&r.path);
                rdb_cli::note!("rdb-verify: {path}: {message}");
            }
        }
    }
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            rdb_cli::note!("rdb-verify: writing output: {e}");
            return ExitCode::from(2);
        }
    }
    ExitCode::from(outcome.exit_code())
}
