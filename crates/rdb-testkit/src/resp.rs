//! A keyspace as the commands that recreate it in a server (`redis-cli --pipe` input for the
//! benchmark datasets, the byte-identity tests' server loads).

use std::io::{self, Write};

use rdb_model::Entry;

/// A command: its name and arguments.
pub type Command = Vec<Vec<u8>>;

/// Writes one command as RESP (an array of bulk strings).
pub fn write_command(out: &mut impl Write, args: &[Vec<u8>]) -> io::Result<()> {
    write!(out, "*{}\r\n", args.len())?;
    for a in args {
        write!(out, "${}\r\n", a.len())?;
        out.write_all(a)?;
        out.write_all(b"\r\n")?;
    }
    Ok(())
}

/// The commands that recreate `e` (with its expiry), owned: [`rdb_model::commands`]'s
/// sequence. Module values give no command.
pub fn entry_commands(e: &Entry) -> Vec<Command> {
    let mut out = Vec::new();
    let _ = rdb_model::commands::for_each_command(e, |args| {
        out.push(args.iter().map(|a| a.to_vec()).collect());
        Ok::<(), std::convert::Infallible>(())
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdb_model::commands::BATCH;
    use rdb_model::Value;

    #[test]
    fn commands_are_written_as_resp_arrays() {
        let mut out = Vec::new();
        write_command(&mut out, &[b"SET".to_vec(), b"k".to_vec(), b"".to_vec()]).unwrap();
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
        let e = Entry::new(
            b"k".to_vec(),
            Value::List((0..1000).map(|i| i.to_string().into()).collect()),
        );
        let cmds = entry_commands(&e);
        // RPUSH in batches of 512 elements.
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[0].len(), 2 + BATCH);
        assert_eq!(cmds[1].len(), 2 + 1000 - BATCH);
    }
}
