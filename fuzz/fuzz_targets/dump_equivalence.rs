//! Fuzz target `dump_equivalence`: the oracle is `rdb_testkit::fuzz::dump_equivalence`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdb_testkit::fuzz::dump_equivalence(data);
});
