//! Lists: quicklist nodes (type 18 with listpacks for RDB ≥ 10, type 14 with ziplists for RDB 9).

use std::io::{self, Write};

use rdb_format::length::encode_length;
use rdb_format::RdbType;

use super::{lp_entry_size, zl_entry_size, Encoder};
use crate::config::EncodingConfig;
use crate::sink::Sink;

/// Elements of at least this size go into a PLAIN node of their own on Redis 7.0 and 7.2
/// and Valkey 7.2 (`packed_threshold`, 1 GiB: a listpack cannot be larger).
pub(crate) const PLAIN_THRESHOLD: usize = 1 << 30;

/// The smallest element that gets a PLAIN node of its own on `target` with node limit
/// `max_bytes` (`list-max-listpack-size`'s byte limit, 8 KiB by default; 8 KiB for a count
/// limit): Redis 7.4+ and Valkey 8.0+ (`isLargeElement`, redis/redis#12659) store any
/// element larger than the node limit that way; older lines only elements of 1 GiB.
pub(crate) fn plain_from(target: crate::Target, max_bytes: usize) -> usize {
    use crate::Target as T;
    match target {
        T::Redis74 | T::Valkey80 | T::Valkey81 | T::Valkey82 | T::Valkey90 => {
            max_bytes.saturating_add(1)
        }
        T::Redis60 | T::Redis62 | T::Redis70 | T::Redis71 | T::Redis72 | T::Valkey72 => {
            PLAIN_THRESHOLD
        }
    }
}

/// Empty listpack / ziplist sizes (header + terminator).
const LP_EMPTY: usize = 7;
const ZL_EMPTY: usize = 11;

/// Quicklist container values (type 18).
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;

/// A run of consecutive elements stored in one quicklist node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) plain: bool,
}

/// The RDB type of a list for this encoder's target.
pub(crate) fn list_type(enc: &Encoder) -> RdbType {
    if enc.listpacks() {
        RdbType::LIST_QUICKLIST_2
    } else {
        RdbType::LIST_QUICKLIST
    }
}

/// Bytes a server adds to the element's own length when it estimates whether one more element
/// fits in a quicklist node (`_quicklistNodeAllowInsert`): 8 for listpacks (Redis 7.0+
/// `SIZE_ESTIMATE_OVERHEAD`); for ziplists (Redis 6.x) the prevlen and encoding header sizes
/// of a string of that length.
pub(crate) fn insert_overhead(len: usize, listpacks: bool) -> usize {
    if listpacks {
        8
    } else {
        let prevlen = if len < 254 { 1 } else { 5 };
        let header = if len < 64 {
            1
        } else if len < 16384 {
            2
        } else {
            5
        };
        prevlen + header
    }
}

/// Splits `items` into nodes the way a server fills its quicklist when the elements are
/// pushed at the tail one by one: an element joins the last node while that node's exact
/// size plus the element's length plus [`insert_overhead`] stays within the byte limit of
/// `list-max-listpack-size` (the server's own estimate, which counts an integer-like element
/// at its text length, so nodes end a few bytes short of the limit as the server's do) and the
/// node has fewer elements than the count limit; otherwise it starts a new node (which takes
/// it whatever its size). With listpacks, elements of `plain_from` bytes or more become PLAIN
/// nodes ([`plain_from`]).
pub(crate) fn plan_nodes<T: AsRef<[u8]>>(
    items: &[T],
    cfg: &EncodingConfig,
    listpacks: bool,
    plain_from: usize,
) -> Vec<Node> {
    let (max_bytes, max_count) = cfg.list_node_limits();
    let mut nodes = Vec::new();
    let mut start = 0;
    let mut size = if listpacks { LP_EMPTY } else { ZL_EMPTY };
    let mut prev = 0usize;
    for (i, item) in items.iter().enumerate() {
        let s = item.as_ref();
        if listpacks && s.len() >= plain_from {
            if i > start {
                nodes.push(Node {
                    start,
                    end: i,
                    plain: false,
                });
            }
            nodes.push(Node {
                start: i,
                end: i + 1,
                plain: true,
            });
            start = i + 1;
            size = LP_EMPTY;
            continue;
        }
        let count = i - start;
        let es = if listpacks {
            lp_entry_size(s)
        } else {
            zl_entry_size(s, if count == 0 { 0 } else { prev })
        };
        let estimate = size + s.len() + insert_overhead(s.len(), listpacks);
        if count > 0 && (estimate > max_bytes || count + 1 > max_count) {
            nodes.push(Node {
                start,
                end: i,
                plain: false,
            });
            start = i;
            size = if listpacks { LP_EMPTY } else { ZL_EMPTY };
            // The first entry of a ziplist has prevlen 0 (one byte).
            let es = if listpacks { es } else { zl_entry_size(s, 0) };
            size += es;
            prev = es;
        } else {
            size += es;
            prev = es;
        }
    }
    if items.len() > start {
        nodes.push(Node {
            start,
            end: items.len(),
            plain: false,
        });
    }
    nodes
}

/// Writes the value of a non-empty list (node count, then the nodes), flushing between nodes.
pub(crate) fn write<W: Write, T: AsRef<[u8]>>(
    enc: &mut Encoder,
    sink: &mut Sink<W>,
    items: &[T],
) -> io::Result<()> {
    let listpacks = enc.listpacks();
    let from = plain_from(enc.target, enc.cfg.list_node_limits().0);
    let nodes = plan_nodes(items, &enc.cfg, listpacks, from);
    encode_length(nodes.len() as u64, &mut sink.buf);
    for node in nodes {
        let elems = items.get(node.start..node.end).unwrap_or(&[]);
        if listpacks {
            if node.plain {
                encode_length(CONTAINER_PLAIN, &mut sink.buf);
                for e in elems {
                    enc.string(e.as_ref(), &mut sink.buf);
                }
            } else {
                encode_length(CONTAINER_PACKED, &mut sink.buf);
                for e in elems {
                    enc.lp.push_bytes(e.as_ref());
                }
                enc.flush_listpack(&mut sink.buf);
            }
        } else {
            for e in elems {
                enc.zl.push_bytes(e.as_ref());
            }
            enc.flush_ziplist(&mut sink.buf);
        }
        sink.maybe_flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdb_format::listpack::ListpackBuilder;
    use rdb_format::ziplist::ZiplistBuilder;

    fn node_sizes(items: &[Vec<u8>], nodes: &[Node], listpacks: bool) -> Vec<usize> {
        nodes
            .iter()
            .map(|n| {
                if listpacks {
                    let mut b = ListpackBuilder::new();
                    for e in &items[n.start..n.end] {
                        b.push_bytes(e);
                    }
                    b.finish().len()
                } else {
                    let mut b = ZiplistBuilder::new();
                    for e in &items[n.start..n.end] {
                        b.push_bytes(e);
                    }
                    b.finish().len()
                }
            })
            .collect()
    }

    #[test]
    fn nodes_fill_by_the_servers_estimate() {
        let cfg = EncodingConfig::default();
        let items: Vec<Vec<u8>> = (0..3000)
            .map(|i| {
                if i % 3 == 0 {
                    i.to_string().into_bytes()
                } else {
                    format!("element-{i:06}").into_bytes()
                }
            })
            .collect();
        for listpacks in [true, false] {
            let nodes = plan_nodes(&items, &cfg, listpacks, PLAIN_THRESHOLD);
            assert!(nodes.len() > 3);
            let sizes = node_sizes(&items, &nodes, listpacks);
            for (i, (n, size)) in nodes.iter().zip(&sizes).enumerate() {
                assert!(*size <= 8192, "node {i} is {size} bytes");
                if let Some(next) = nodes.get(i + 1) {
                    // The server's estimate refused the next element.
                    let len = items[next.start].len();
                    let estimate = size + len + insert_overhead(len, listpacks);
                    assert!(estimate > 8192, "node {i} could hold one more ({estimate})");
                }
                // And accepted each element of the node: the estimate before the last one.
                if n.end - n.start > 1 {
                    let before = node_sizes(
                        &items[n.start..n.end - 1],
                        &[Node {
                            start: 0,
                            end: n.end - n.start - 1,
                            plain: false,
                        }],
                        listpacks,
                    )[0];
                    let len = items[n.end - 1].len();
                    assert!(before + len + insert_overhead(len, listpacks) <= 8192);
                }
            }
            assert_eq!(nodes.first().unwrap().start, 0);
            assert_eq!(nodes.last().unwrap().end, items.len());
            assert!(nodes.windows(2).all(|w| w[0].end == w[1].start));
        }
    }

    #[test]
    fn big_element_goes_alone_and_counts_limit() {
        let items = vec![
            b"a".to_vec(),
            vec![b'x'; 10_000],
            b"b".to_vec(),
            b"c".to_vec(),
        ];
        let nodes = plan_nodes(&items, &EncodingConfig::default(), true, PLAIN_THRESHOLD);
        assert_eq!(
            nodes,
            vec![
                Node {
                    start: 0,
                    end: 1,
                    plain: false
                },
                Node {
                    start: 1,
                    end: 2,
                    plain: false
                },
                Node {
                    start: 2,
                    end: 4,
                    plain: false
                },
            ]
        );
        // Redis 7.4+ / Valkey 8.0+: an element over the node limit is a PLAIN node
        // (`isLargeElement`, redis/redis#12659, in Valkey from its first release, 8.0); older
        // lines only elements of 1 GiB.
        for target in crate::Target::ALL {
            use crate::Target as T;
            let large = matches!(
                target,
                T::Redis74 | T::Valkey80 | T::Valkey81 | T::Valkey82 | T::Valkey90
            );
            let want = if large { 8193 } else { PLAIN_THRESHOLD };
            assert_eq!(plain_from(target, 8192), want, "{target}");
        }
        let from = plain_from(crate::Target::Valkey80, 8192);
        let nodes = plan_nodes(&items, &EncodingConfig::default(), true, from);
        let plain: Vec<bool> = nodes.iter().map(|n| n.plain).collect();
        assert_eq!(plain, [false, true, false]);
        let cfg = EncodingConfig {
            list_max_listpack_size: 2,
            ..EncodingConfig::default()
        };
        let nodes = plan_nodes(&items, &cfg, true, PLAIN_THRESHOLD);
        assert_eq!(nodes.len(), 3);
        let cfg = EncodingConfig {
            list_max_listpack_size: -1,
            ..EncodingConfig::default()
        };
        let items: Vec<Vec<u8>> = (0..100).map(|_| vec![b'q'; 100]).collect();
        let nodes = plan_nodes(&items, &cfg, true, PLAIN_THRESHOLD);
        let sizes = node_sizes(&items, &nodes, true);
        assert!(sizes.iter().all(|&s| s <= 4096), "{sizes:?}");
    }
}
