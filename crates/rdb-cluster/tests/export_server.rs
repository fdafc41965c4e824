//! A node file of a 3-shard export (target redis-7.0) loaded by a real cluster-mode Redis 7.0 that owns
//! only that node group's slots: the server claims no slot outside them, and serves every key of the file.
//!
//! `RedisServer::start` with `ServerOptions::cluster(true)` assigns all 16384 slots to the server, which
//! would hide keys in foreign slots. [`start_owning`] (below) starts the server in cluster mode through
//! plain arguments instead, checks which slots it claimed for its loaded keys, then assigns only the rest of
//! the node group's slots (`cluster-require-full-coverage no`, so the partial cluster serves requests).

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use rdb_cluster::export::{export_keyspace, ExportPlan};
use rdb_cluster::slotset::SlotSet;
use rdb_cluster::topology::Topology;
use rdb_reader::read_keyspace;
use rdb_testkit::server::{
    diff_keyspaces, info_value, RedisServer, Resp, ServerKind, ServerOptions,
};
use rdb_writer::Target;

/// The slots `CLUSTER NODES` lists for the `myself` node.
fn owned_slots(srv: &mut RedisServer) -> SlotSet {
    let nodes = match srv.cmd(&["CLUSTER", "NODES"]).unwrap() {
        Resp::Bulk(Some(b)) => String::from_utf8(b.to_vec()).unwrap(),
        other => panic!("CLUSTER NODES: {other:?}"),
    };
    let line = nodes
        .lines()
        .find(|l| l.contains("myself"))
        .expect("a myself line");
    let mut set = SlotSet::new();
    for field in line.split_whitespace().skip(8) {
        let (a, b) = field.split_once('-').unwrap_or((field, field));
        set.insert_range(a.parse().unwrap()..=b.parse().unwrap());
    }
    set
}

/// Starts Debian's redis-server in cluster mode on `rdb`, owning exactly `slots` (see the module docs).
/// Returns the server and the slots it claimed by itself for the keys it loaded.
fn start_owning(rdb: &Path, slots: &SlotSet, conf_dir: &Path) -> (RedisServer, SlotSet) {
    let conf = conf_dir.join("nodes.conf");
    let opts = ServerOptions::with_rdb(rdb).args([
        "--cluster-enabled".to_string(),
        "yes".into(),
        "--cluster-config-file".into(),
        conf.display().to_string(),
        "--cluster-require-full-coverage".into(),
        "no".into(),
    ]);
    let mut srv = RedisServer::start(ServerKind::Debian, &opts).unwrap();
    let claimed = owned_slots(&mut srv);
    let missing: Vec<Vec<u8>> = slots
        .difference(&claimed)
        .iter()
        .map(|s| s.to_string().into_bytes())
        .collect();
    for chunk in missing.chunks(1000) {
        let mut cmd: Vec<&[u8]> = vec![b"CLUSTER", b"ADDSLOTS"];
        cmd.extend(chunk.iter().map(Vec::as_slice));
        let r = srv.command(&cmd).unwrap();
        assert!(!r.is_error(), "ADDSLOTS: {r:?}");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = match srv.cmd(&["CLUSTER", "INFO"]).unwrap() {
            Resp::Bulk(Some(b)) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("CLUSTER INFO: {other:?}"),
        };
        if info_value(&info, "cluster_state") == Some("ok") {
            break;
        }
        assert!(Instant::now() < deadline, "cluster state not ok: {info}");
        sleep(Duration::from_millis(50));
    }
    assert_eq!(&owned_slots(&mut srv), slots);
    (srv, claimed)
}

#[test]
fn node_file_loads_in_cluster_mode_redis() {
    if !ServerKind::Debian.require_or_skip() {
        return;
    }
    let ks = rdb_testkit::gen::mixed(1500, 42);
    let tmp = tempfile::tempdir().unwrap();
    let topology = Topology::even(3).unwrap();
    let mut plan = ExportPlan::new("srv", tmp.path(), topology.clone(), Target::Redis70);
    plan.now = 1_795_309_323;
    let res = export_keyspace(&ks, &plan).unwrap();
    for index in [1usize, 2] {
        let node = &res.nodes[index];
        let group = &topology.groups[index];
        let file_ks = read_keyspace(&std::fs::read(&node.path).unwrap()).unwrap();
        assert!(node.keys > 300, "{} keys", node.keys);
        let conf = tempfile::tempdir().unwrap();
        let (mut srv, claimed) = start_owning(&node.path, &group.slots, conf.path());
        assert!(
            !claimed.is_empty(),
            "the server claimed the slots of its keys"
        );
        assert!(
            claimed.is_subset(&group.slots),
            "claimed slots outside the group: {}",
            claimed.difference(&group.slots)
        );
        let log = srv.log_tail();
        assert!(!log.contains("importing"), "{log}");
        let served = srv.read_keyspace().unwrap();
        let diffs = diff_keyspaces(&served, &file_ks);
        assert!(diffs.is_empty(), "node {}: {}", group.id, diffs.join("\n"));
        assert_eq!(served.key_count() as u64, node.keys);
    }
}
