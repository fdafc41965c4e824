//! `rdbkit`: dump, export and verify Redis/Valkey RDB files.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser as ClapParser, Subcommand, ValueEnum};
use rdb_cli::dump::{dump, DumpError, DumpFilter, DumpFormat};
use rdb_cli::export::{run_export, summary_lines, ExportArgs};
use rdb_model::ValueType;
use rdb_reader::{Limits, MappedFile, Parser, SliceSource};

#[derive(ClapParser)]
#[command(
    name = "rdbkit",
    version,
    about = "Read, write and verify Redis/Valkey RDB snapshot files"
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
    Dump {
        /// The .rdb file, or `-` for standard input.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: Format,
        /// Only keys of this database (repeatable).
        #[arg(long = "db")]
        dbs: Vec<u64>,
        /// Only keys matching this regular expression.
        #[arg(long)]
        key: Option<String>,
        /// Only keys of this type: string, list, set, zset, hash, stream, module (repeatable).
        #[arg(long = "type")]
        types: Vec<String>,
    },
    /// Write a keyspace (.rdb or JSONL dump) as one .rdb file per cluster node group plus a manifest.
    ///
    /// Files: DIR/NAME-0001.rdb ... and DIR/NAME-manifest.json. Never overwrites: if any of them exists,
    /// nothing is written (exit 1). Files appear under their final names only when complete.
    Export(ExportArgs),
}

fn main() -> ExitCode {
    let cli: Cli = match rdb_cli::parse_args() {
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
    eprintln!("rdbkit: {msg}");
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
        match regex::bytes::Regex::new(&k) {
            Ok(r) => filter.key = Some(r),
            Err(e) => return usage(&format!("bad --key regex: {e}")),
        }
    }
    for t in types {
        match ValueType::from_name(&t) {
            Some(v) => filter.types.push(v),
            None => return usage(&format!("unknown --type {t:?}")),
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
    } else if file.is_dir() {
        // (Mapping a directory fails with "No such device".)
        return usage(&format!(
            "{}: is a directory, not an .rdb file",
            file.display()
        ));
    } else {
        let map = match MappedFile::open(&file) {
            Ok(m) => m,
            Err(e) => return usage(&format!("{}: {e}", file.display())),
        };
        dump(
            Parser::new(SliceSource::new(map.bytes()), limits),
            format,
            &filter,
            &mut out,
        )
    };
    let flushed = out.flush();
    match result {
        Ok(()) => match flushed {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rdbkit: writing output: {e}");
                ExitCode::from(1)
            }
        },
        Err(DumpError::Read(e)) => {
            let name = if file.as_os_str() == "-" {
                PathBuf::from("<stdin>")
            } else {
                file
            };
            eprintln!("rdbkit: {}", e.with_file(name));
            ExitCode::from(1)
        }
        Err(DumpError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(DumpError::Io(e)) => {
            eprintln!("rdbkit: writing output: {e}");
            ExitCode::from(1)
        }
    }
}

fn cmd_export(args: ExportArgs) -> ExitCode {
    match run_export(&args) {
        Ok(res) => {
            for line in summary_lines(&res) {
                eprintln!("{line}");
            }
            eprintln!("{}", res.manifest_path.display());
            for w in rdb_cli::export::export_warnings(&args, &res) {
                eprintln!("rdbkit: export: {w}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rdbkit: export: {}", e.message());
            ExitCode::from(e.exit_code())
        }
    }
}
