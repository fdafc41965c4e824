//! Fuzz target `codec_listpack`: the oracle is `rdb_testkit::fuzz::codec_listpack`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdb_testkit::fuzz::codec_listpack(data);
});
