//! Comparison of a keyspace with a real-server `expected.json` (format `rdb-corpus-expected/1`).
