//! Fuzz target `read_stream_equivalence`: the oracle is `rdb_testkit::fuzz::read_stream_equivalence`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdb_testkit::fuzz::read_stream_equivalence(data);
});
