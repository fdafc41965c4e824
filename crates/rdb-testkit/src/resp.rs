//! A keyspace's entries as owned commands that recreate them in a server (the byte-identity
//! tests send them through a client). The walk and the RESP form are
//! [`rdb_model::commands`]'s.

use rdb_model::Entry;

/// A command: its name and arguments.
pub type Command = Vec<Vec<u8>>;

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
    fn commands_are_owned_copies_in_batches() {
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
