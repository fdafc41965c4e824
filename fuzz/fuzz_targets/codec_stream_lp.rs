//! Fuzz target `codec_stream_lp`: the oracle is `rdb_testkit::fuzz::codec_stream_lp`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdb_testkit::fuzz::codec_stream_lp(data);
});
