//! `rdbkit`: dump, export and verify Redis/Valkey RDB files.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Parser as ClapParser, Subcommand, ValueEnum};
use rdb_cli::dump::{dump, DumpError, DumpFilter, DumpFormat, RESP_INCOMPLETE};
use rdb_cli::export::{run_export_with, summary_lines, ExportArgs};
use rdb_model::ValueType;
use rdb_reader::{Limits, Parser, WindowSource};

/// The exit codes of both subcommands (README, `rdbkit dump` and `rdbkit export`).
const EXIT_CODES: &str = "Exit codes: 0 success; 1 a malformed or damaged input file, a \
    snapshot that already exists, or a write error; 2 a usage error or a path that cannot be \
    opened (missing, a directory); 130 an export stopped by a signal (nothing published).";

#[derive(ClapParser)]
#[command(
    name = "rdbkit",
    version,
    about = "Read, write and verify Redis/Valkey RDB snapshot files",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Jsonl,
    Resp,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print every record of FILE (`-` = standard input) as JSON lines or RESP commands.
    #[command(after_help = EXIT_CODES)]
    Dump {
        /// The .rdb file, or `-` for standard input.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: Format,
        /// Only keys of this database (repeatable).
        #[arg(long = "db", value_name = "N")]
        dbs: Vec<u64>,
        /// Only keys in which this regular expression matches (unanchored: use `^…$` for the
        /// whole key). Rust `regex` syntax over bytes: `.` (but for `\n`) and `[^…]` match any
        /// byte, `\xff` the byte 0xFF, classes are ASCII (`(?u)` for Unicode ones).
        #[arg(long, value_name = "REGEX")]
        key: Option<String>,
        /// Only keys of this type: string, list, set, zset, hash, stream, module (repeatable).
        ///
        /// Any filter selects keys only: the file's other records (aux fields, functions,
        /// slot info, module aux data) are printed only when no filter is given.
        #[arg(long = "type", value_name = "T")]
        types: Vec<String>,
    },
    /// Write a keyspace (.rdb or JSONL dump) as one .rdb file per cluster node group plus a manifest.
    ///
    /// Files: DIR/NAME-0001.rdb ... and DIR/NAME-manifest.json. Never overwrites: if any of them exists,
    /// nothing is written (exit 1). Files appear under their final names only when complete.
    #[command(after_help = EXIT_CODES)]
    Export(ExportArgs),
}

fn main() -> ExitCode {
    let cli: Cli = match rdb_cli::parse_args(1) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match cli.cmd {
        Cmd::Dump {
            file,
            format,
            dbs,
            key,
            types,
        } => cmd_dump(file, format, dbs, key, types),
        Cmd::Export(args) => cmd_export(args),
    }
}

fn usage(msg: &str) -> ExitCode {
    rdb_cli::note!("rdbkit: {msg}");
    ExitCode::from(2)
}

fn cmd_dump(
    file: PathBuf,
    format: Format,
    dbs: Vec<u64>,
    key: Option<String>,
    types: Vec<String>,
) -> ExitCode {
    let mut filter = DumpFilter {
        dbs,
        ..Default::default()
    };
    if let Some(k) = key {
        // Keys are byte strings: Unicode mode off, so `.` and `[^…]` match any byte and
        // `\xff` the byte 0xFF (with Unicode on they only match UTF-8 text, and a key that
        // is not UTF-8 would silently fall out of an anchored filter). `(?u)` turns it on.
        match regex::bytes::RegexBuilder::new(&k).unicode(false).build() {
            Ok(r) => filter.key = Some(r),
            Err(e) => return usage(&format!("bad --key regex: {e}")),
        }
    }
    for t in types {
        match ValueType::from_name(&t) {
            Some(v) => filter.types.push(v),
            None => {
                let names: Vec<&str> = ValueType::ALL.iter().map(|t| t.name()).collect();
                return usage(&format!(
                    "unknown --type {t:?} (one of: {})",
                    names.join(", ")
                ));
            }
        }
    }
    let format = match format {
        Format::Jsonl => DumpFormat::Jsonl,
        Format::Resp => DumpFormat::Resp,
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let limits = Limits::default();
    let result = if file.as_os_str() == "-" {
        dump(
            rdb_reader::stream_parser(io::stdin().lock(), limits),
            format,
            &filter,
            &mut out,
        )
    } else {
        let opened = std::fs::File::open(&file).and_then(|f| f.metadata().map(|m| (f, m)));
        let (f, meta) = match opened {
            Ok(x) => x,
            Err(e) => return usage(&format!("{}: {e}", file.display())),
        };
        if meta.is_dir() {
            return usage(&format!(
                "{}: is a directory, not an .rdb file",
                file.display()
            ));
        }
        let parser_over = |f| rdb_reader::stream_parser(f, limits);
        if !meta.is_file() {
            // A pipe, FIFO or device (`/dev/stdin`, `<(…)`): read once, as `-` is.
            dump(parser_over(f), format, &filter, &mut out)
        } else {
            // A regular file is mapped a window at a time (bounded memory, as rdb-verify
            // reads), or read plainly when it cannot be mapped.
            match WindowSource::from_file(f, limits.stream_buffer()) {
                Ok(src) => dump(Parser::new(src, limits), format, &filter, &mut out),
                Err(f) => dump(parser_over(f), format, &filter, &mut out),
            }
        }
    };
    let flushed = out.flush();
    match result {
        Ok(stats) => match flushed {
            Ok(()) => {
                for db in stats.absent_dbs(&filter) {
                    rdb_cli::note!(
                        "rdbkit dump: warning: --db {db}: the file holds no key in db {db}"
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                rdb_cli::note!("rdbkit: writing output: {e}");
                ExitCode::from(1)
            }
        },
        Err(DumpError::Read(e)) => {
            let name = if file.as_os_str() == "-" {
                PathBuf::from("<stdin>")
            } else {
                file
            };
            let e = e.with_file(name);
            // The JSONL output ends with the error, so that a file saved from it is known
            // incomplete to whoever reads it (`rdbkit export --from` refuses it).
            if format == DumpFormat::Jsonl {
                let line = serde_json::json!({"error": {
                    "offset": e.offset(),
                    "code": e.code(),
                    "message": e.to_string(),
                }});
                let written = writeln!(out, "{line}").and_then(|()| out.flush());
                note_output_error(written);
            } else {
                // RESP has no comment: a command no server knows, so that `redis-cli --pipe`
                // fed the partial output counts an error instead of reporting a clean load.
                let written = rdb_model::commands::write_resp(
                    &mut out,
                    &[RESP_INCOMPLETE, e.to_string().as_bytes()],
                )
                .and_then(|()| out.flush());
                note_output_error(written);
            }
            rdb_cli::note!("rdbkit: {e}");
            ExitCode::from(1)
        }
        Err(DumpError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(DumpError::Io(e)) => {
            rdb_cli::note!("rdbkit: writing output: {e}");
            ExitCode::from(1)
        }
    }
}

/// Names a failed write of the output (but a closed pipe: its reader is done), so that a dump
/// that could not even say it is incomplete does not pass unnoticed.
fn note_output_error(written: io::Result<()>) {
    if let Err(e) = written {
        if e.kind() != io::ErrorKind::BrokenPipe {
            rdb_cli::note!("rdbkit: writing output: {e}");
        }
    }
}

fn cmd_export(args: ExportArgs) -> ExitCode {
    // SIGINT / SIGTERM / SIGHUP stop the export cleanly (its temporary files removed); a
    // second signal ends the process at once.
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupt);
    // Whether a signal came before (the second one ends the process).
    let signalled = AtomicBool::new(false);
    let handled = ctrlc::set_handler(move || {
        if signalled.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        // The flag first: the export stops even if the message cannot be written.
        flag.store(true, Ordering::SeqCst);
        rdb_cli::note!(
            "rdbkit: export: stopping: removing what was written (a second signal ends it now)"
        );
    });
    let interrupt = handled.is_ok().then_some(interrupt);
    match run_export_with(&args, interrupt) {
        Ok(res) => {
            for line in summary_lines(&res) {
                rdb_cli::note!("{line}");
            }
            rdb_cli::note!("{}", res.manifest_path.display());
            for w in rdb_cli::export::export_warnings(&res) {
                rdb_cli::note!("rdbkit: export: {w}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            rdb_cli::note!("rdbkit: export: {}", e.message());
            ExitCode::from(e.exit_code())
        }
    }
}
