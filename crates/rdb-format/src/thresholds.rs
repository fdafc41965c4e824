//! The servers' encoding thresholds (format reference §7.2): the config options that decide
//! between a compact encoding (intset, listpack, ziplist) and a big one, with the defaults
//! every Redis 6.0–8.x and Valkey line ships. The writer chooses encodings by them and the
//! verifier's CacheSize model predicts the loading server's choices by them: one set of
//! numbers for both.

/// `hash-max-listpack-entries` (`hash-max-ziplist-entries` before 7.0): at most this many
/// fields for a listpack / ziplist hash.
pub const HASH_MAX_LISTPACK_ENTRIES: usize = 512;
/// `hash-max-listpack-value`: longest field or value of a listpack / ziplist hash.
pub const HASH_MAX_LISTPACK_VALUE: usize = 64;
/// `set-max-intset-entries`: at most this many members for an intset.
pub const SET_MAX_INTSET_ENTRIES: usize = 512;
/// `set-max-listpack-entries` (RDB ≥ 11): at most this many members for a set listpack.
pub const SET_MAX_LISTPACK_ENTRIES: usize = 128;
/// `set-max-listpack-value` (RDB ≥ 11): longest member of a set listpack.
pub const SET_MAX_LISTPACK_VALUE: usize = 64;
/// `zset-max-listpack-entries`: at most this many members for a listpack / ziplist zset.
pub const ZSET_MAX_LISTPACK_ENTRIES: usize = 128;
/// `zset-max-listpack-value`: longest member of a listpack / ziplist zset.
pub const ZSET_MAX_LISTPACK_VALUE: usize = 64;
/// `list-max-listpack-size` (`list-max-ziplist-size` before 7.0): see [`list_node_limits`].
pub const LIST_MAX_LISTPACK_SIZE: i64 = -2;
/// `stream-node-max-bytes`: a new stream node starts when the current one would reach this
/// size (0 = no limit but the 1 GiB listpack cap).
pub const STREAM_NODE_MAX_BYTES: usize = 4096;
/// `stream-node-max-entries`: a new stream node starts when the current one holds this many
/// entries (0 = no limit).
pub const STREAM_NODE_MAX_ENTRIES: usize = 100;

/// The quicklist node safety limit (bytes) for positive `list-max-listpack-size` values.
pub const LIST_SAFETY_LIMIT: usize = 8192;

/// `(max node bytes, max node elements)` of a quicklist node for a `list-max-listpack-size`
/// of `fill`: negative n is a byte limit of 4096 << (−n − 1) (−1..−5; smaller values count
/// as −5), positive n at most n elements (0 counts as 1) within [`LIST_SAFETY_LIMIT`] bytes.
#[must_use]
pub fn list_node_limits(fill: i64) -> (usize, usize) {
    if fill >= 0 {
        let n = usize::try_from(fill).unwrap_or(usize::MAX).max(1);
        (LIST_SAFETY_LIMIT, n)
    } else {
        let level = u32::try_from(fill.unsigned_abs().min(5)).unwrap_or(5) - 1;
        (4096usize << level, usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_node_limits_follow_the_server_rule() {
        assert_eq!(list_node_limits(LIST_MAX_LISTPACK_SIZE), (8192, usize::MAX));
        assert_eq!(list_node_limits(-1), (4096, usize::MAX));
        assert_eq!(list_node_limits(-5), (65536, usize::MAX));
        assert_eq!(list_node_limits(-9), (65536, usize::MAX));
        assert_eq!(list_node_limits(0), (LIST_SAFETY_LIMIT, 1));
        assert_eq!(list_node_limits(128), (LIST_SAFETY_LIMIT, 128));
    }
}
