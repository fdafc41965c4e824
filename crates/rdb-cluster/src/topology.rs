//! Cluster topologies: node groups and the slots each owns, from `--shards N` ([`Topology::even`]) or an
//! ElastiCache-shaped `--topology FILE` ([`Topology::from_json`]); plus the slot → node group lookup ([`SlotMap`],
//! [`Partitioner`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::manifest::NodeGroupConfiguration;
use crate::slot::{key_slot, SLOTS, SLOT_MASK};
use crate::slotset::{ParseSlotSetError, SlotSet};

/// Largest shard count accepted by [`Topology::even`] (`--shards N`).
pub const MAX_SHARDS: usize = 500;

/// Why a topology is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopologyError {
    /// `--shards N` outside `1..=500`.
    ShardCount(usize),
    /// The topology file is not valid JSON of the expected shape (serde's message).
    Json(String),
    /// The topology has no node group.
    NoGroups,
    /// A `NodeGroupId` that is not 1 to 4 decimal digits, or is zero.
    InvalidNodeGroupId(String),
    /// Two node groups with the same id (after zero-padding).
    DuplicateNodeGroupId(String),
    /// A node group's `Slots` text does not parse.
    InvalidSlots {
        /// The node group's id.
        group: String,
        /// The parse error.
        error: ParseSlotSetError,
    },
    /// A node group that owns no slot.
    EmptyGroup(String),
    /// The first run of slots no node group owns.
    Unassigned {
        /// First slot of the gap.
        start: u16,
        /// Last slot of the gap.
        end: u16,
    },
    /// The first slot owned by two node groups.
    Overlap {
        /// The slot.
        slot: u16,
        /// Id of the first node group (in topology order) that owns it.
        first: String,
        /// Id of the second.
        second: String,
    },
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ShardCount(n) => write!(f, "shard count {n} out of range 1-{MAX_SHARDS}"),
            Self::Json(message) => write!(f, "invalid topology: {message}"),
            Self::NoGroups => f.write_str("the topology has no node groups"),
            Self::InvalidNodeGroupId(id) => write!(
                f,
                "node group id {id:?} is not valid: it must be 1 to 4 digits, 0001-9999"
            ),
            Self::DuplicateNodeGroupId(id) => {
                write!(f, "node group id {id} appears more than once")
            }
            Self::InvalidSlots { group, error } => {
                write!(f, "node group {group}: invalid Slots: {error}")
            }
            Self::EmptyGroup(id) => write!(f, "node group {id} has no slots"),
            Self::Unassigned { start, end } if start == end => {
                write!(f, "slot {start} is not assigned to any node group")
            }
            Self::Unassigned { start, end } => {
                write!(f, "slots {start}-{end} are not assigned to any node group")
            }
            Self::Overlap {
                slot,
                first,
                second,
            } => write!(
                f,
                "slot {slot} is assigned to node groups {first} and {second}"
            ),
        }
    }
}

impl std::error::Error for TopologyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidSlots { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Normalises a `NodeGroupId`: 1 to 4 ASCII digits, not zero, returned zero-padded to 4 digits (`"7"` → `"0007"`).
pub fn normalize_node_group_id(id: &str) -> Result<String, TopologyError> {
    let valid = (1..=4).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit());
    match id.parse::<u16>() {
        Ok(number) if valid && number > 0 => Ok(format!("{number:04}")),
        _ => Err(TopologyError::InvalidNodeGroupId(id.to_owned())),
    }
}

/// One node group (shard): its 4-digit id and the slots it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeGroup {
    /// Zero-padded 4-digit id, `"0001"`.
    pub id: String,
    /// The slots this group owns.
    pub slots: SlotSet,
}

/// The node groups of a cluster, in order (file `i` of an export holds group `i`'s keys).
///
/// A valid topology ([`validate`](Self::validate)) has at least one group, distinct 4-digit ids, no empty group, and
/// its groups' slots are disjoint and cover `0..=16383`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// The node groups, in order.
    pub groups: Vec<NodeGroup>,
}

/// The `--topology FILE` document: `{"NodeGroupConfiguration": [{"NodeGroupId": "0001", "Slots": "0-3999"}, ...]}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TopologyFile {
    node_group_configuration: Vec<NodeGroupConfiguration>,
}

impl Topology {
    /// `--shards n`: groups `0001`..`n` with the 16384 slots split evenly and contiguously, the remainder going one
    /// slot each to the first groups (n = 3: `0-5461`, `5462-10922`, `10923-16383`). `n` must be in `1..=500`.
    pub fn even(n: usize) -> Result<Self, TopologyError> {
        if !(1..=MAX_SHARDS).contains(&n) {
            return Err(TopologyError::ShardCount(n));
        }
        // n <= 500, so every number below fits in u16.
        let count = n as u16;
        let (base, remainder) = (SLOTS / count, SLOTS % count);
        let mut start = 0u16;
        let groups = (0..count)
            .map(|i| {
                let size = base + u16::from(i < remainder);
                let group = NodeGroup {
                    id: format!("{:04}", i + 1),
                    slots: SlotSet::from_range(start..=start + size - 1),
                };
                start += size;
                group
            })
            .collect();
        Ok(Self { groups })
    }

    /// Reads a `--topology` file (`{"NodeGroupConfiguration": [{"NodeGroupId": "0001", "Slots": "0-3999"}, ...]}`;
    /// `Slots` may hold several comma-separated ranges; other fields are ignored), normalises the ids to 4 digits and
    /// [validates](Self::validate) the result.
    pub fn from_json(text: &str) -> Result<Self, TopologyError> {
        let file: TopologyFile =
            serde_json::from_str(text).map_err(|e| TopologyError::Json(e.to_string()))?;
        Self::from_configurations(&file.node_group_configuration)
    }

    /// Builds and [validates](Self::validate) a topology from `NodeGroupConfiguration` entries.
    pub fn from_configurations(configs: &[NodeGroupConfiguration]) -> Result<Self, TopologyError> {
        let groups = configs
            .iter()
            .map(|config| {
                let id = normalize_node_group_id(&config.node_group_id)?;
                let slots = SlotSet::parse_disjoint(&config.slots).map_err(|error| {
                    TopologyError::InvalidSlots {
                        group: id.clone(),
                        error,
                    }
                })?;
                Ok(NodeGroup { id, slots })
            })
            .collect::<Result<Vec<_>, TopologyError>>()?;
        let topology = Self { groups };
        topology.validate()?;
        Ok(topology)
    }

    /// Checks, in this order: at least one group; every id is 4 digits `0001`-`9999`; no duplicate id; no group
    /// without slots; then the lowest slot that is unassigned or assigned twice, reported as the whole gap
    /// ([`TopologyError::Unassigned`]) or the slot and the first two groups owning it ([`TopologyError::Overlap`]).
    pub fn validate(&self) -> Result<(), TopologyError> {
        if self.groups.is_empty() {
            return Err(TopologyError::NoGroups);
        }
        let mut seen = std::collections::HashSet::new();
        for group in &self.groups {
            if group.id.len() != 4 || normalize_node_group_id(&group.id).is_err() {
                return Err(TopologyError::InvalidNodeGroupId(group.id.clone()));
            }
            if !seen.insert(group.id.as_str()) {
                return Err(TopologyError::DuplicateNodeGroupId(group.id.clone()));
            }
        }
        if let Some(group) = self.groups.iter().find(|g| g.slots.is_empty()) {
            return Err(TopologyError::EmptyGroup(group.id.clone()));
        }
        let (mut covered, mut twice) = (SlotSet::new(), SlotSet::new());
        for group in &self.groups {
            twice = twice.union(&covered.intersection(&group.slots));
            covered = covered.union(&group.slots);
        }
        let gap = covered.complement().ranges().next();
        let overlap = twice.min();
        match (gap, overlap) {
            (Some(gap), Some(slot)) if slot < *gap.start() => Err(self.overlap_error(slot)),
            (Some(gap), _) => Err(TopologyError::Unassigned {
                start: *gap.start(),
                end: *gap.end(),
            }),
            (None, Some(slot)) => Err(self.overlap_error(slot)),
            (None, None) => Ok(()),
        }
    }

    fn overlap_error(&self, slot: u16) -> TopologyError {
        let mut owners = self.groups.iter().filter(|g| g.slots.contains(slot));
        let mut id = || owners.next().map(|g| g.id.clone()).unwrap_or_default();
        let first = id();
        let second = id();
        TopologyError::Overlap {
            slot,
            first,
            second,
        }
    }

    /// Number of node groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether there is no node group.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The groups as the service's `NodeGroupConfiguration` entries (ids and `Slots` text).
    pub fn configurations(&self) -> Vec<NodeGroupConfiguration> {
        self.groups
            .iter()
            .map(|g| NodeGroupConfiguration {
                node_group_id: g.id.clone(),
                slots: g.slots.to_string(),
            })
            .collect()
    }

    /// The topology as a `--topology` file (pretty JSON); [`from_json`](Self::from_json) reads it back.
    pub fn to_json(&self) -> String {
        let file = TopologyFile {
            node_group_configuration: self.configurations(),
        };
        // Serialising strings into a String cannot fail.
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    /// [Validates](Self::validate) and builds the slot → group lookup table.
    pub fn slot_map(&self) -> Result<SlotMap, TopologyError> {
        SlotMap::new(self)
    }

    /// [Validates](Self::validate) and builds a [`Partitioner`].
    pub fn partitioner(&self) -> Result<Partitioner, TopologyError> {
        Partitioner::new(self)
    }
}

/// Slot → node group index lookup: a 16384-entry table built once from a valid [`Topology`].
#[derive(Clone, PartialEq, Eq)]
pub struct SlotMap {
    owner: Box<[u16; SLOTS as usize]>,
    groups: usize,
}

impl SlotMap {
    /// Builds the table; fails when the topology is not [valid](Topology::validate).
    pub fn new(topology: &Topology) -> Result<Self, TopologyError> {
        topology.validate()?;
        let mut owner = Box::new([0u16; SLOTS as usize]);
        for (index, group) in topology.groups.iter().enumerate() {
            // A valid topology has at most 16384 non-empty groups, so the index fits in u16.
            let index = u16::try_from(index).unwrap_or(u16::MAX);
            for slot in group.slots.iter() {
                owner[usize::from(slot & SLOT_MASK)] = index;
            }
        }
        Ok(Self {
            owner,
            groups: topology.groups.len(),
        })
    }

    /// Index (in [`Topology::groups`]) of the group that owns `slot`; slots are taken modulo 16384.
    #[inline]
    pub fn group_of_slot(&self, slot: u16) -> usize {
        usize::from(self.owner[usize::from(slot & SLOT_MASK)])
    }

    /// Number of node groups.
    pub fn num_groups(&self) -> usize {
        self.groups
    }
}

impl fmt::Debug for SlotMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotMap")
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

/// Sends keys to node groups: [`key_slot`] then the [`SlotMap`].
#[derive(Debug, Clone)]
pub struct Partitioner {
    map: SlotMap,
    ids: Vec<String>,
}

impl Partitioner {
    /// Builds the partitioner of a [valid](Topology::validate) topology.
    pub fn new(topology: &Topology) -> Result<Self, TopologyError> {
        Ok(Self {
            map: SlotMap::new(topology)?,
            ids: topology.groups.iter().map(|g| g.id.clone()).collect(),
        })
    }

    /// Index of the node group that owns `key`'s slot.
    #[inline]
    pub fn node_for_key(&self, key: &[u8]) -> usize {
        self.map.group_of_slot(key_slot(key))
    }

    /// Index of the node group that owns `slot` (modulo 16384).
    #[inline]
    pub fn group_of_slot(&self, slot: u16) -> usize {
        self.map.group_of_slot(slot)
    }

    /// The 4-digit id of group `index`.
    pub fn node_group_id(&self, index: usize) -> Option<&str> {
        self.ids.get(index).map(String::as_str)
    }

    /// Number of node groups.
    pub fn num_groups(&self) -> usize {
        self.ids.len()
    }

    /// The underlying slot table.
    pub fn slot_map(&self) -> &SlotMap {
        &self.map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json(groups: &[(&str, &str)]) -> String {
        let entries: Vec<_> = groups
            .iter()
            .map(|(id, slots)| serde_json::json!({"NodeGroupId": id, "Slots": slots}))
            .collect();
        serde_json::json!({ "NodeGroupConfiguration": entries }).to_string()
    }

    fn err(groups: &[(&str, &str)]) -> String {
        Topology::from_json(&json(groups)).unwrap_err().to_string()
    }

    fn texts(t: &Topology) -> Vec<(String, String)> {
        t.groups
            .iter()
            .map(|g| (g.id.clone(), g.slots.to_string()))
            .collect()
    }

    #[test]
    fn even_three() {
        let t = Topology::even(3).unwrap();
        let want = [
            ("0001", "0-5461"),
            ("0002", "5462-10922"),
            ("0003", "10923-16383"),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(texts(&t), want);
    }

    #[test]
    fn even_edges() {
        assert_eq!(
            texts(&Topology::even(1).unwrap()),
            vec![("0001".into(), "0-16383".into())]
        );
        assert_eq!(Topology::even(0).unwrap_err(), TopologyError::ShardCount(0));
        assert_eq!(
            Topology::even(501).unwrap_err().to_string(),
            "shard count 501 out of range 1-500"
        );
        let t = Topology::even(500).unwrap();
        assert_eq!(t.groups[499].id, "0500");
        assert_eq!(t.groups[499].slots.to_string(), "16352-16383");
    }

    #[test]
    fn even_is_valid_balanced_and_front_loaded() {
        for n in 1..=MAX_SHARDS {
            let t = Topology::even(n).unwrap();
            t.validate().unwrap();
            assert_eq!(t.len(), n);
            let sizes: Vec<usize> = t.groups.iter().map(|g| g.slots.len()).collect();
            assert_eq!(sizes.iter().sum::<usize>(), 16384);
            assert!(
                sizes.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1),
                "n={n}"
            );
            for (i, g) in t.groups.iter().enumerate() {
                assert_eq!(g.slots.ranges().count(), 1, "contiguous n={n}");
                assert_eq!(g.id, format!("{:04}", i + 1));
            }
            // contiguous and ascending
            for w in t.groups.windows(2) {
                assert_eq!(w[0].slots.max().unwrap() + 1, w[1].slots.min().unwrap());
            }
        }
    }

    #[test]
    fn from_json_accepts() {
        let text = r#"{"NodeGroupConfiguration": [
            {"NodeGroupId": "0001", "Slots": "0-99,200-299", "ReplicaCount": 2},
            {"NodeGroupId": "2", "Slots": "100-199 , 300-16383"}]}"#;
        let t = Topology::from_json(text).unwrap();
        let want = vec![
            ("0001".to_string(), "0-99,200-299".to_string()),
            ("0002".to_string(), "100-199,300-16383".to_string()),
        ];
        assert_eq!(texts(&t), want);
        assert_eq!(Topology::from_json(&t.to_json()).unwrap(), t);
    }

    #[test]
    fn from_json_errors() {
        assert_eq!(
            err(&[("0001", "0-3999"), ("0002", "5000-16383")]),
            "slots 4000-4999 are not assigned to any node group"
        );
        assert_eq!(
            err(&[("0001", "0-3999"), ("0002", "3999-16383")]),
            "slot 3999 is assigned to node groups 0001 and 0002"
        );
        assert_eq!(
            err(&[("0001", "1-16383")]),
            "slot 0 is not assigned to any node group"
        );
        assert_eq!(
            err(&[("0001", "0-16382")]),
            "slot 16383 is not assigned to any node group"
        );
        // An overlap between two groups is found whatever groups follow them.
        assert_eq!(
            err(&[
                ("0001", "0-100"),
                ("0002", "100-200"),
                ("0003", "201-16383")
            ]),
            "slot 100 is assigned to node groups 0001 and 0002"
        );
        // Of several gaps, the first is named.
        assert_eq!(
            err(&[("0001", "0-99,200-299,400-16383")]),
            "slots 100-199 are not assigned to any node group"
        );
        assert_eq!(
            err(&[("0001", "0-10,200-16382"), ("0002", "300")]),
            "slots 11-199 are not assigned to any node group"
        );
        // the lower of gap and overlap wins
        assert_eq!(
            err(&[("0001", "0-100,200-16383"), ("0002", "50-60")]),
            "slot 50 is assigned to node groups 0001 and 0002"
        );
        assert_eq!(
            err(&[("0001", "0-10,200-16383"), ("0002", "300")]),
            "slots 11-199 are not assigned to any node group"
        );
        assert_eq!(
            err(&[("3", "0-10"), ("0001", "11-16383"), ("0002", "5")]),
            "slot 5 is assigned to node groups 0003 and 0002"
        );
        // Within one node group, too (the ranges of `Slots` must be disjoint).
        assert_eq!(
            err(&[("0001", "0-100,50-8191"), ("0002", "8192-16383")]),
            "node group 0001: invalid Slots: slot 50 is in two ranges (a node group's ranges must not overlap) at column 7"
        );
        assert_eq!(
            err(&[("0001", "0-8191"), ("0002", "8192-16383, 9000")]),
            "node group 0002: invalid Slots: slot 9000 is in two ranges (a node group's ranges must not overlap) at column 13"
        );
        assert_eq!(err(&[]), "the topology has no node groups");
        assert_eq!(
            err(&[("1", "0-8191"), ("0001", "8192-16383")]),
            "node group id 0001 appears more than once"
        );
        for bad in ["", "abc", "12345", "0", "0000", "-1", "+1", " 1", "１"] {
            assert_eq!(
                Topology::from_json(&json(&[(bad, "0-16383")])).unwrap_err(),
                TopologyError::InvalidNodeGroupId(bad.into()),
                "{bad:?}"
            );
        }
        assert_eq!(
            err(&[("0001", "0-16384")]),
            "node group 0001: invalid Slots: slot 16384 out of range 0-16383 at column 3"
        );
        assert_eq!(
            err(&[("0001", "0-16383"), ("0002", "")]),
            "node group 0002 has no slots"
        );
        let e = Topology::from_json("{\"NodeGroupConfiguration\": [{\"Slots\": \"0-1\"}]}")
            .unwrap_err();
        assert!(
            matches!(&e, TopologyError::Json(m) if m.contains("NodeGroupId")),
            "{e}"
        );
        assert!(matches!(
            Topology::from_json("[]"),
            Err(TopologyError::Json(_))
        ));
    }

    #[test]
    fn validate_checks_hand_built() {
        let mut t = Topology::even(2).unwrap();
        t.groups[1].id = "2".into();
        assert_eq!(
            t.validate(),
            Err(TopologyError::InvalidNodeGroupId("2".into()))
        );
        assert!(t.slot_map().is_err());
        t.groups[1].id = "0002".into();
        t.groups[1].slots.remove(9000);
        assert_eq!(
            t.validate(),
            Err(TopologyError::Unassigned {
                start: 9000,
                end: 9000
            })
        );
    }

    #[test]
    fn normalize_ids() {
        assert_eq!(normalize_node_group_id("7").unwrap(), "0007");
        assert_eq!(normalize_node_group_id("0090").unwrap(), "0090");
        assert_eq!(normalize_node_group_id("9999").unwrap(), "9999");
        assert!(normalize_node_group_id("00001").is_err());
    }

    #[test]
    fn partitioner_on_doc_vectors() {
        let p = Topology::even(3).unwrap().partitioner().unwrap();
        // slots from rdb-format.md §6.2: foo 12182, bar 5061, hello 866, {user1000}.x 3443
        assert_eq!(p.node_for_key(b"foo"), 2);
        assert_eq!(p.node_for_key(b"bar"), 0);
        assert_eq!(p.node_for_key(b"{user1000}.following"), 0);
        assert_eq!(p.group_of_slot(5461), 0);
        assert_eq!(p.group_of_slot(5462), 1);
        assert_eq!(p.group_of_slot(16383), 2);
        assert_eq!(p.node_group_id(2), Some("0003"));
        assert_eq!(p.node_group_id(3), None);
        assert_eq!(p.num_groups(), 3);
    }

    /// Random valid topologies: random cut points, slices dealt to groups round-robin (so groups are multi-range).
    fn arb_topology() -> impl Strategy<Value = Topology> {
        (
            1usize..12,
            proptest::collection::btree_set(1u16..16384, 0..40),
        )
            .prop_map(|(groups, cuts)| {
                let mut bounds: Vec<u16> = vec![0];
                bounds.extend(cuts);
                let groups = groups.min(bounds.len());
                let mut sets = vec![SlotSet::new(); groups];
                for (i, &start) in bounds.iter().enumerate() {
                    let end = bounds.get(i + 1).map_or(16383, |&next| next - 1);
                    sets[i % groups].insert_range(start..=end);
                }
                Topology {
                    groups: sets
                        .into_iter()
                        .enumerate()
                        .map(|(i, slots)| NodeGroup {
                            id: format!("{:04}", i + 1),
                            slots,
                        })
                        .collect(),
                }
            })
    }

    proptest! {
        #[test]
        fn slot_map_matches_linear_search(t in arb_topology(), probes in proptest::collection::vec(0u16..16384, 50)) {
            t.validate().unwrap();
            let map = t.slot_map().unwrap();
            for slot in probes.into_iter().chain([0, 16383]) {
                let linear = t.groups.iter().position(|g| g.slots.contains(slot)).unwrap();
                prop_assert_eq!(map.group_of_slot(slot), linear);
            }
        }

        #[test]
        fn json_round_trip(t in arb_topology()) {
            prop_assert_eq!(Topology::from_json(&t.to_json()).unwrap(), t);
        }

        #[test]
        fn node_for_key_owns_key_slot(t in arb_topology(), key in proptest::collection::vec(any::<u8>(), 0..30)) {
            let p = t.partitioner().unwrap();
            let group = p.node_for_key(&key);
            prop_assert!(t.groups[group].slots.contains(key_slot(&key)));
        }
    }
}
