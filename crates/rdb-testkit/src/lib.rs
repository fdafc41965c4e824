//! Test-only helpers for rdbkit: golden-file comparison against `expected.json`, a
//! writer-independent byte builder, chunked readers, keyspace generators and a real-server
//! harness, and the paths of the repository's test data.

pub mod chunked;
pub mod events;
pub mod expected;
pub mod fuzz;
pub mod gen;
pub mod server;
pub mod testdata;
