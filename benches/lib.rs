//! Benchmarks for rdbkit (see benches/).
