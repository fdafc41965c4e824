//! A minimal RESP2 client over [`std::net::TcpStream`], enough to drive a test server.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Read/write timeout of every client socket.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Deepest array nesting the parser accepts (`XINFO STREAM FULL` needs about 5).
const MAX_DEPTH: usize = 64;

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resp {
    /// `+OK` and other simple strings.
    Simple(String),
    /// `-ERR ...`: the server refused the command (the text after `-`).
    Error(String),
    /// `:123`
    Int(i64),
    /// `$n` bulk string; `None` is the null bulk string (`$-1`).
    Bulk(Option<Vec<u8>>),
    /// `*n` array; `None` is the null array (`*-1`).
    Array(Option<Vec<Resp>>),
}

impl Resp {
    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Resp::Error(_))
    }

    /// Whether this is a null bulk string or a null array.
    pub fn is_null(&self) -> bool {
        matches!(self, Resp::Bulk(None) | Resp::Array(None))
    }

    /// The bytes of a bulk string or simple string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Resp::Bulk(Some(b)) => Some(b),
            Resp::Simple(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The text of a bulk or simple string that is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// An integer reply, or a bulk/simple string holding a decimal integer.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Resp::Int(i) => Some(*i),
            other => other.as_str().and_then(|s| s.parse().ok()),
        }
    }

    /// The elements of a non-null array.
    pub fn as_array(&self) -> Option<&[Resp]> {
        match self {
            Resp::Array(Some(a)) => Some(a),
            _ => None,
        }
    }

    /// `Err(message)` for an error reply, the reply itself otherwise.
    pub fn into_result(self) -> Result<Resp, String> {
        match self {
            Resp::Error(e) => Err(e),
            other => Ok(other),
        }
    }
}

/// A blocking RESP2 connection (read/write timeouts [`IO_TIMEOUT`]).
///
/// Error replies are not Rust errors: [`Client::command`] returns them as [`Resp::Error`];
/// `Err` means the connection itself failed (I/O error, timeout, protocol violation).
#[derive(Debug)]
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    /// Connects to `127.0.0.1:port`.
    pub fn connect(port: u16) -> io::Result<Client> {
        Client::connect_addr(SocketAddr::from(([127, 0, 0, 1], port)), IO_TIMEOUT)
    }

    /// Connects to `addr`, giving up after `connect_timeout`.
    pub fn connect_addr(addr: SocketAddr, connect_timeout: Duration) -> io::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, connect_timeout)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let writer = stream.try_clone()?;
        Ok(Client {
            reader: BufReader::with_capacity(1 << 16, stream),
            writer,
        })
    }

    /// Replaces the read timeout ([`IO_TIMEOUT`]; `None`: wait as long as it takes), for a
    /// command that may run longer, such as `SAVE` of a large dataset on a slow disk.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.reader.get_ref().set_read_timeout(timeout)
    }

    /// Sends one command and reads its reply.
    pub fn command(&mut self, args: &[&[u8]]) -> io::Result<Resp> {
        let mut buf = Vec::new();
        encode(&mut buf, args.iter().copied());
        self.writer.write_all(&buf)?;
        self.read_reply()
    }

    /// [`Client::command`] with text arguments, e.g. `cmd(&["SET", "k", "v"])`.
    pub fn cmd(&mut self, args: &[&str]) -> io::Result<Resp> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.command(&args)
    }

    /// Sends every command at once, then reads one reply per command, in order.
    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> io::Result<Vec<Resp>> {
        // Write in bounded chunks so a huge pipeline does not build one huge buffer.
        let mut buf = Vec::new();
        for c in cmds {
            encode(&mut buf, c.iter().map(Vec::as_slice));
            if buf.len() >= 1 << 20 {
                self.writer.write_all(&buf)?;
                buf.clear();
            }
        }
        self.writer.write_all(&buf)?;
        cmds.iter().map(|_| self.read_reply()).collect()
    }

    /// Reads one reply from the connection.
    pub fn read_reply(&mut self) -> io::Result<Resp> {
        read_value(&mut self.reader, 0)
    }

    /// The text of `INFO <section>`; an error reply becomes an `io::Error`.
    pub fn info(&mut self, section: &str) -> io::Result<String> {
        match self.cmd(&["INFO", section])? {
            Resp::Bulk(Some(b)) => Ok(String::from_utf8_lossy(&b).into_owned()),
            other => Err(io::Error::other(format!("INFO {section}: {other:?}"))),
        }
    }

    /// The value of one `name:value` line of `INFO <section>`.
    pub fn info_field(&mut self, section: &str, name: &str) -> io::Result<Option<String>> {
        Ok(info_value(&self.info(section)?, name).map(str::to_owned))
    }

    /// `used_memory` from `INFO memory`, in bytes.
    pub fn used_memory(&mut self) -> io::Result<u64> {
        self.info_field("memory", "used_memory")?
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| io::Error::other("INFO memory has no used_memory"))
    }

    /// The server's version from `INFO server` as `(major, minor, patch)`: `valkey_version`
    /// when present (Valkey also reports `redis_version:7.2.4`), else `redis_version`.
    pub fn server_version(&mut self) -> io::Result<(u32, u32, u32)> {
        let info = self.info("server")?;
        // Valkey reports `redis_version:7.2.4` for compatibility and its own in `valkey_version`.
        let v = info_value(&info, "valkey_version")
            .or_else(|| info_value(&info, "redis_version"))
            .unwrap_or_default()
            .to_owned();
        parse_version(&v).ok_or_else(|| io::Error::other(format!("bad redis_version {v:?}")))
    }
}

/// The key count of each database in an `INFO keyspace` text (`db3:keys=2,expires=0,…`), in
/// its order; an unparsable database number is an error naming the line.
pub fn keyspace_key_counts(info: &str) -> Result<Vec<(u32, u64)>, String> {
    let mut dbs = Vec::new();
    for line in info.lines() {
        let Some((n, fields)) = line.strip_prefix("db").and_then(|r| r.split_once(':')) else {
            continue;
        };
        let n: u32 = n
            .parse()
            .map_err(|_| format!("INFO keyspace: bad line {line:?}"))?;
        let keys = fields
            .split(',')
            .find_map(|f| f.strip_prefix("keys="))
            .and_then(|k| k.trim_end().parse().ok())
            .unwrap_or(0);
        dbs.push((n, keys));
    }
    Ok(dbs)
}

/// The value of the `name:value` line in an `INFO` text.
pub fn info_value<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .map(str::trim_end)
}

/// Parses `"7.0.15"` into `(7, 0, 15)`.
pub fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let mut it = v.trim().split('.').map(|p| p.parse::<u32>().ok());
    Some((it.next()??, it.next()??, it.next().flatten().unwrap_or(0)))
}

/// Appends the RESP2 encoding of one command (an array of bulk strings) to `out`.
fn encode<'a>(out: &mut Vec<u8>, args: impl ExactSizeIterator<Item = &'a [u8]>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn protocol_error(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Reads one `\r\n`-terminated line without the terminator.
fn read_line(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(if line.is_empty() {
            io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed by server")
        } else {
            protocol_error(format!(
                "unterminated RESP line {:?}",
                line.escape_ascii().to_string()
            ))
        });
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

fn parse_int(b: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            protocol_error(format!(
                "bad RESP integer {:?}",
                b.escape_ascii().to_string()
            ))
        })
}

fn read_value(r: &mut impl BufRead, depth: usize) -> io::Result<Resp> {
    if depth > MAX_DEPTH {
        return Err(protocol_error("RESP arrays nested too deeply".into()));
    }
    let line = read_line(r)?;
    let (&tag, rest) = line
        .split_first()
        .ok_or_else(|| protocol_error("empty RESP line".into()))?;
    let text = || String::from_utf8_lossy(rest).into_owned();
    match tag {
        b'+' => Ok(Resp::Simple(text())),
        b'-' => Ok(Resp::Error(text())),
        b':' => Ok(Resp::Int(parse_int(rest)?)),
        b'$' => {
            let n = parse_int(rest)?;
            if n < 0 {
                return Ok(Resp::Bulk(None));
            }
            let n = usize::try_from(n).map_err(|_| protocol_error("bulk length".into()))?;
            let mut data = vec![0u8; n + 2];
            r.read_exact(&mut data)?;
            if !data.ends_with(b"\r\n") {
                return Err(protocol_error("bulk string not followed by CRLF".into()));
            }
            data.truncate(n);
            Ok(Resp::Bulk(Some(data)))
        }
        b'*' => {
            let n = parse_int(rest)?;
            if n < 0 {
                return Ok(Resp::Array(None));
            }
            let n = usize::try_from(n).map_err(|_| protocol_error("array length".into()))?;
            let mut items = Vec::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                items.push(read_value(r, depth + 1)?);
            }
            Ok(Resp::Array(Some(items)))
        }
        other => Err(protocol_error(format!(
            "unexpected RESP type byte {:?}",
            char::from(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_replies() {
        let wire = b"*4\r\n+OK\r\n:-7\r\n$3\r\na\r\n\r\n*2\r\n$-1\r\n-ERR no\r\n";
        let mut r = &wire[..];
        let v = read_value(&mut r, 0).unwrap();
        assert_eq!(
            v,
            Resp::Array(Some(vec![
                Resp::Simple("OK".into()),
                Resp::Int(-7),
                Resp::Bulk(Some(b"a\r\n".to_vec())),
                Resp::Array(Some(vec![Resp::Bulk(None), Resp::Error("ERR no".into())])),
            ]))
        );
        assert!(r.is_empty());
    }

    #[test]
    fn rejects_truncated_input() {
        let mut r = &b"$5\r\nab"[..];
        assert!(read_value(&mut r, 0).is_err());
        let mut r = &b":12"[..];
        assert!(read_value(&mut r, 0).is_err());
    }

    #[test]
    fn encodes_commands() {
        let mut out = Vec::new();
        encode(&mut out, [&b"GET"[..], b"k"].into_iter());
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }
}
