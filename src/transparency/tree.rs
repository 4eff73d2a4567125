//! RFC 9162 §2.1 Merkle tree hashing, proofs and their verification, over complete
//! subtrees that live wherever the caller keeps them ([`NodeSource`]).
//!
//! A node `(level, index)` is the root of the complete subtree over leaves
//! `[index·2^level, (index+1)·2^level)`. Every hash a proof or a tree head needs for any
//! tree size is either such a node or is folded from O(log n) of them, so the store keeps
//! exactly those (written once, when their last leaf is appended) and nothing is ever
//! re-hashed from the leaves.
//!
//! Why not the `ct-merkle` crate: its trees are held in memory, and its out-of-memory
//! helpers number nodes in the in-order layout of the *current* tree, whose right-edge
//! nodes change as the tree grows; proofs for older tree sizes over stored nodes would
//! still need code like this. So the tree code is kept small here and tested against the
//! published Certificate Transparency vectors.

use std::collections::HashMap;

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// MTH({}) = SHA-256 of the empty string (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The deepest level a tree of 2^64 leaves has.
pub const MAX_LEVEL: u8 = 63;

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        context.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// The leaf hash of an entry: SHA-256(0x00 ‖ entry) (RFC 9162 §2.1.1).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    sha256(&[&[0x00], entry])
}

/// An interior node: SHA-256(0x01 ‖ left ‖ right) (RFC 9162 §2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], left, right])
}

/// The largest power of two smaller than `n` (n > 1), as in RFC 9162 §2.1.1.
fn split(n: u64) -> u64 {
    // n > 1, so n - 1 ≥ 1 and the shift is below 64.
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Where the hashes of complete subtrees come from.
pub trait NodeSource {
    /// Why a node could not be read.
    type Error;
    /// The root of the complete subtree `(level, index)`; it must exist (the tree holds
    /// all its leaves).
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

/// Why a request for a proof or a tree head cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofRequestError {
    /// The leaf is not in a tree of that size.
    #[error("leaf {index} is not in a tree of {size} entries")]
    LeafOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size asked for.
        size: u64,
    },
    /// A consistency proof needs 0 < first ≤ second.
    #[error("a consistency proof needs 0 < first ≤ second (got first {first}, second {second})")]
    BadSizes {
        /// The older size.
        first: u64,
        /// The newer size.
        second: u64,
    },
}

/// Hash of the subtree over leaves `[start, end)`, where `start` is a multiple of the
/// smallest power of two ≥ `end - start` (true of every range RFC 9162's recursion
/// visits): the aligned left part is one stored node, the rest recurses.
fn range_hash<S: NodeSource>(source: &mut S, start: u64, end: u64) -> Result<Hash, S::Error> {
    let n = end - start;
    if n.is_power_of_two() {
        let level = n.trailing_zeros() as u8;
        return source.node(level, start >> level);
    }
    let k = split(n);
    let level = k.trailing_zeros() as u8;
    let left = source.node(level, start >> level)?;
    let right = range_hash(source, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// MTH(D[0:size]) (RFC 9162 §2.1.1).
pub fn root<S: NodeSource>(source: &mut S, size: u64) -> Result<Hash, S::Error> {
    if size == 0 {
        return Ok(EMPTY_ROOT);
    }
    range_hash(source, 0, size)
}

/// PATH(index, D[0:size]): the inclusion proof of leaf `index` (RFC 9162 §2.1.3.1).
pub fn inclusion_proof<S: NodeSource>(
    source: &mut S,
    index: u64,
    size: u64,
) -> Result<Result<Vec<Hash>, ProofRequestError>, S::Error> {
    if index >= size {
        return Ok(Err(ProofRequestError::LeafOutOfRange { index, size }));
    }
    // Walk down from the root, collecting siblings; the proof lists them leaf first.
    let mut path = Vec::new();
    let (mut start, mut end) = (0u64, size);
    while end - start > 1 {
        let k = split(end - start);
        if index < start + k {
            path.push(range_hash(source, start + k, end)?);
            end = start + k;
        } else {
            path.push(range_hash(source, start, start + k)?);
            start += k;
        }
    }
    path.reverse();
    Ok(Ok(path))
}

/// The nodes the proof of the newest leaf of a tree of `index + 1` entries is made of:
/// the complete subtrees left of it, one per bit set in `index`, smallest first. Its
/// audit path is exactly these (RFC 9162 §2.1.3.1: for the last leaf each step's left
/// part `D[0:k]` is a complete subtree), so issuance can answer with a proof from
/// popcount(index) stored nodes and as many hashes.
pub fn newest_leaf_nodes(index: u64) -> Vec<(u8, u64)> {
    (0..64u8)
        .filter(|level| index & (1u64 << level) != 0)
        .map(|level| (level, (index >> level) - 1))
        .collect()
}

/// The root of the tree whose newest leaf is `leaf`, from that leaf's audit path (the
/// nodes of [`newest_leaf_nodes`], in that order).
pub fn newest_leaf_root(leaf: &Hash, path: &[Hash]) -> Hash {
    path.iter()
        .fold(*leaf, |right, left| node_hash(left, &right))
}

/// PROOF(first, D[0:second]): the consistency proof between two sizes
/// (RFC 9162 §2.1.4.1). `first == second` gives an empty proof.
pub fn consistency_proof<S: NodeSource>(
    source: &mut S,
    first: u64,
    second: u64,
) -> Result<Result<Vec<Hash>, ProofRequestError>, S::Error> {
    if first == 0 || first > second {
        return Ok(Err(ProofRequestError::BadSizes { first, second }));
    }
    // SUBPROOF(m, D[start:end], b), iteratively: each step adds one hash, pushed in the
    // order the recursion would append it after the deeper part, so reversed at the end.
    let mut proof = Vec::new();
    let (mut m, mut start, mut end, mut whole) = (first, 0u64, second, true);
    loop {
        let n = end - start;
        if m == n {
            if !whole {
                proof.push(range_hash(source, start, end)?);
            }
            break;
        }
        let k = split(n);
        if m <= k {
            proof.push(range_hash(source, start + k, end)?);
            end = start + k;
        } else {
            proof.push(range_hash(source, start, start + k)?);
            start += k;
            m -= k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(Ok(proof))
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 || first > second {
        // Every tree is consistent with the empty tree (no proof needed, RFC 9162
        // §2.1.4.2 starts at first > 0); sizes going back never are.
        return first == 0 && proof.is_empty();
    }
    // Step 1: if first is a power of two, prepend first_root.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((head, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (first - 1, second - 1);
    if fn_ & 1 == 1 {
        while fn_ & 1 == 1 {
            fn_ >>= 1;
            sn >>= 1;
        }
    }
    let (mut fr, mut sr) = (*head, *head);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *first_root && sr == *second_root && sn == 0
}

/// The nodes a computation reads, found by running it once over placeholder hashes: the
/// set depends only on the sizes and indexes, never on the hash values, so a store can
/// fetch all of them in one round trip and the computation then runs over the result.
#[derive(Debug, Default)]
pub struct NodeRecorder {
    /// The nodes read, each once, in the order first read.
    pub wanted: Vec<(u8, u64)>,
    seen: std::collections::HashSet<(u8, u64)>,
}

impl NodeSource for NodeRecorder {
    type Error = std::convert::Infallible;
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        if self.seen.insert((level, index)) {
            self.wanted.push((level, index));
        }
        Ok([0u8; 32])
    }
}

/// Nodes fetched ahead ([`NodeRecorder`]); reading one that was not fetched is an error
/// naming it.
#[derive(Debug, Default)]
pub struct FetchedNodes(pub HashMap<(u8, u64), Hash>);

/// A node that was needed and not there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingNode(pub u8, pub u64);

impl NodeSource for FetchedNodes {
    type Error = MissingNode;
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        self.0
            .get(&(level, index))
            .copied()
            .ok_or(MissingNode(level, index))
    }
}

/// The compact range `[0, size)`: the roots of the complete subtrees that the binary
/// decomposition of `size` gives, largest (leftmost) first. It is all one needs to keep
/// to append leaves and compute every later root (a monitor's state), and appending a
/// leaf reports the nodes it completes (what a store writes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// (level, hash), levels strictly decreasing.
    nodes: Vec<(u8, Hash)>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Frontier::default()
    }

    /// A frontier from its parts; `None` when the levels do not match `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Option<Self> {
        let levels: Vec<u8> = (0..64u8).rev().filter(|l| size >> l & 1 == 1).collect();
        if levels.len() != hashes.len() {
            return None;
        }
        Some(Frontier {
            size,
            nodes: levels.into_iter().zip(hashes).collect(),
        })
    }

    /// The frontier of a tree of `size` leaves, read from stored nodes.
    pub fn load<S: NodeSource>(source: &mut S, size: u64) -> Result<Self, S::Error> {
        let mut nodes = Vec::new();
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            if size >> level & 1 == 1 {
                nodes.push((level, source.node(level, start >> level)?));
                start += 1u64 << level;
            }
        }
        Ok(Frontier { size, nodes })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, leftmost first.
    pub fn hashes(&self) -> Vec<Hash> {
        self.nodes.iter().map(|(_, h)| *h).collect()
    }

    /// Appends a leaf hash; returns every node it completes as `(level, index, hash)`,
    /// the leaf itself (level 0) first.
    pub fn append(&mut self, leaf: Hash) -> Vec<(u8, u64, Hash)> {
        let index = self.size;
        let mut completed = vec![(0u8, index, leaf)];
        let (mut level, mut hash) = (0u8, leaf);
        while let Some(&(last_level, left)) = self.nodes.last() {
            if last_level != level {
                break;
            }
            self.nodes.pop();
            hash = node_hash(&left, &hash);
            level += 1;
            completed.push((level, index >> level, hash));
        }
        self.nodes.push((level, hash));
        self.size += 1;
        completed
    }

    /// MTH of the tree so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return EMPTY_ROOT;
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

/// A whole tree in memory: for tests and for checking small trees.
#[derive(Debug, Default, Clone)]
pub struct MemoryTree {
    nodes: HashMap<(u8, u64), Hash>,
    frontier: Frontier,
}

impl MemoryTree {
    /// Appends an entry's leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        for (level, index, hash) in self.frontier.append(leaf) {
            self.nodes.insert((level, index), hash);
        }
    }
    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }
}

impl NodeSource for MemoryTree {
    type Error = MissingNode;
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        self.nodes
            .get(&(level, index))
            .copied()
            .ok_or(MissingNode(level, index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_leaf_proof_from_its_left_subtrees_equals_rfc_9162s() {
        let mut tree = MemoryTree::default();
        for index in 0..300u64 {
            let leaf = leaf_hash(&index.to_be_bytes());
            tree.push(leaf);
            let path: Vec<Hash> = newest_leaf_nodes(index)
                .into_iter()
                .map(|(level, i)| tree.node(level, i).unwrap())
                .collect();
            let size = index + 1;
            assert_eq!(
                path,
                inclusion_proof(&mut tree, index, size).unwrap().unwrap(),
                "{index}"
            );
            let root = newest_leaf_root(&leaf, &path);
            assert_eq!(root, super::root(&mut tree, size).unwrap(), "{index}");
            assert!(verify_inclusion(index, size, &leaf, &path, &root));
        }
    }

    fn h(text: &str) -> Hash {
        hex::decode(text).unwrap().try_into().unwrap()
    }

    // The Certificate Transparency reference vectors: the eight leaf inputs, the roots
    // of the trees of their first 1..=8, and the inclusion and consistency proofs of
    // github.com/transparency-dev/merkle, proof/verify_test.go (`leaves`, `roots`,
    // `inclusionProofs` with 1-based leaf numbers, `consistencyProofs`), the same data
    // as certificate-transparency-go's merkle tests.
    fn leaves() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|x| hex::decode(x).unwrap())
        .collect()
    }

    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn tree(n: usize) -> MemoryTree {
        let mut tree = MemoryTree::default();
        for leaf in leaves().iter().take(n) {
            tree.push(leaf_hash(leaf));
        }
        tree
    }

    #[test]
    fn roots_match_the_reference_vectors() {
        assert_eq!(root(&mut MemoryTree::default(), 0).unwrap(), EMPTY_ROOT);
        for n in 1..=8usize {
            let mut t = tree(8);
            assert_eq!(root(&mut t, n as u64).unwrap(), h(ROOTS[n - 1]), "size {n}");
            assert_eq!(tree(n).frontier.root(), h(ROOTS[n - 1]), "frontier {n}");
        }
    }

    #[test]
    fn inclusion_proofs_match_the_reference_vectors() {
        // (1-based leaf, size, proof)
        let vectors: [(u64, u64, Vec<&str>); 4] = [
            (
                1,
                8,
                vec![
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                vec![
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                3,
                3,
                vec!["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                2,
                5,
                vec![
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        let mut t = tree(8);
        for (leaf, size, expected) in vectors {
            let expected: Vec<Hash> = expected.into_iter().map(h).collect();
            let proof = inclusion_proof(&mut t, leaf - 1, size).unwrap().unwrap();
            assert_eq!(proof, expected, "leaf {leaf} size {size}");
            let leaf_h = leaf_hash(&leaves()[(leaf - 1) as usize]);
            let r = h(ROOTS[(size - 1) as usize]);
            assert!(verify_inclusion(leaf - 1, size, &leaf_h, &proof, &r));
            // Corruptions fail.
            assert!(!verify_inclusion(leaf, size, &leaf_h, &proof, &r));
            assert!(!verify_inclusion(leaf - 1, size * 2, &leaf_h, &proof, &r));
            assert!(!verify_inclusion(
                leaf - 1,
                size,
                &leaf_hash(b"x"),
                &proof,
                &r
            ));
            let mut longer = proof.clone();
            longer.push(r);
            assert!(!verify_inclusion(leaf - 1, size, &leaf_h, &longer, &r));
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i][0] ^= 8;
                assert!(!verify_inclusion(leaf - 1, size, &leaf_h, &bad, &r));
            }
        }
        assert_eq!(
            inclusion_proof(&mut t, 8, 8).unwrap(),
            Err(ProofRequestError::LeafOutOfRange { index: 8, size: 8 })
        );
    }

    #[test]
    fn consistency_proofs_match_the_reference_vectors() {
        let vectors: [(u64, u64, Vec<&str>); 5] = [
            (1, 1, vec![]),
            (
                1,
                8,
                vec![
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                vec![
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                vec![
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
            (
                6,
                7,
                vec![
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        let mut t = tree(8);
        for (first, second, expected) in vectors {
            let expected: Vec<Hash> = expected.into_iter().map(h).collect();
            let proof = consistency_proof(&mut t, first, second).unwrap().unwrap();
            assert_eq!(proof, expected, "{first} → {second}");
            let (r1, r2) = (
                h(ROOTS[(first - 1) as usize]),
                h(ROOTS[(second - 1) as usize]),
            );
            assert!(verify_consistency(first, second, &r1, &r2, &proof));
            if !proof.is_empty() {
                assert!(!verify_consistency(first, second, &r2, &r1, &proof));
                assert!(!verify_consistency(first + 1, second, &r1, &r2, &proof));
                assert!(!verify_consistency(first, second, &r1, &r2, &proof[1..]));
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i][0] ^= 16;
                    assert!(!verify_consistency(first, second, &r1, &r2, &bad));
                }
            }
        }
        assert!(consistency_proof(&mut t, 0, 3).unwrap().is_err());
        assert!(consistency_proof(&mut t, 4, 3).unwrap().is_err());
    }

    #[test]
    fn every_proof_up_to_70_leaves_verifies() {
        // Sizes straddling powers of two are where such code breaks: all of them.
        let mut t = MemoryTree::default();
        let mut roots = vec![EMPTY_ROOT];
        let mut hashes = Vec::new();
        for i in 0..70u32 {
            let leaf = leaf_hash(&i.to_be_bytes());
            hashes.push(leaf);
            t.push(leaf);
            let size = t.size();
            roots.push(root(&mut t, size).unwrap());
        }
        for size in 1..=70u64 {
            for index in 0..size {
                let proof = inclusion_proof(&mut t, index, size).unwrap().unwrap();
                assert!(verify_inclusion(
                    index,
                    size,
                    &hashes[index as usize],
                    &proof,
                    &roots[size as usize]
                ));
            }
            for first in 1..=size {
                let proof = consistency_proof(&mut t, first, size).unwrap().unwrap();
                assert!(
                    verify_consistency(
                        first,
                        size,
                        &roots[first as usize],
                        &roots[size as usize],
                        &proof
                    ),
                    "{first} → {size}"
                );
            }
            let frontier = Frontier::load(&mut t, size).unwrap();
            assert_eq!(frontier.root(), roots[size as usize]);
            let again = Frontier::from_parts(size, frontier.hashes()).unwrap();
            assert_eq!(again, frontier);
        }
    }

    #[test]
    fn recorded_nodes_are_all_a_proof_reads() {
        let mut t = MemoryTree::default();
        for i in 0..1000u32 {
            t.push(leaf_hash(&i.to_be_bytes()));
        }
        let mut recorder = NodeRecorder::default();
        let _ = inclusion_proof(&mut recorder, 123, 777).unwrap();
        let _ = root(&mut recorder, 777).unwrap();
        // O(log n) distinct nodes.
        assert!(
            recorder.wanted.len() <= 2 * 10 + 2,
            "{}",
            recorder.wanted.len()
        );
        // At a million leaves (and at 2^40) too: a proof and a head read a few dozen
        // stored nodes, whatever the size.
        for size in [1_000_000u64, 1_000_001, (1 << 40) - 3] {
            let mut big = NodeRecorder::default();
            let _ = inclusion_proof(&mut big, size / 3, size).unwrap();
            let _ = consistency_proof(&mut big, size / 2 + 1, size).unwrap();
            let _ = root(&mut big, size).unwrap();
            let log2 = 64 - size.leading_zeros() as usize;
            assert!(big.wanted.len() <= 4 * log2, "{size}: {}", big.wanted.len());
        }
        let mut fetched = FetchedNodes::default();
        for (level, index) in recorder.wanted {
            fetched
                .0
                .insert((level, index), t.node(level, index).unwrap());
        }
        let proof = inclusion_proof(&mut fetched, 123, 777).unwrap().unwrap();
        let r = root(&mut fetched, 777).unwrap();
        assert!(verify_inclusion(
            123,
            777,
            &leaf_hash(&123u32.to_be_bytes()),
            &proof,
            &r
        ));
    }
}
