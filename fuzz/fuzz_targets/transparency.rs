//! What `paypki transparency monitor` reads from a CA it does not trust: log entries
//! and proofs.
//!
//! - first byte even: an encoded log entry (`transparency::entry::LogEntry::decode`);
//! - odd: sizes, an index and hashes, read as an inclusion and a consistency proof and
//!   checked (`transparency::tree::verify_inclusion`, `verify_consistency`).
//!
//! Beyond not panicking: a decoded entry encodes back to exactly its bytes (the leaf
//! hash is taken over them, so two encodings of one entry would be two leaves), and a
//! proof the verifier accepts for the tree of the given leaves is the one the tree code
//! computes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paypki::transparency::entry::LogEntry;
use paypki::transparency::tree::{
    consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion,
    Hash, MemoryTree,
};
use paypki_fuzz::mode;

fn hashes(bytes: &[u8]) -> Vec<Hash> {
    bytes
        .chunks_exact(32)
        .map(|c| <Hash>::try_from(c).unwrap_or([0; 32]))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = mode(data) else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(entry) = LogEntry::decode(rest) {
            assert_eq!(entry.encode(), rest, "{entry:?} does not encode back");
        }
        return;
    }
    let [a, b, c, tail @ ..] = rest else {
        return;
    };
    // A small tree of `size` leaves, and sizes and an index around it.
    let size = u64::from(*a % 40) + 1;
    let mut tree = MemoryTree::default();
    for i in 0..size {
        tree.push(leaf_hash(&i.to_be_bytes()));
    }
    let index = u64::from(*b) % (size + 2);
    let first = u64::from(*c) % (size + 2);
    let given = hashes(tail);
    let true_root = root(&mut tree, size).unwrap_or([0; 32]);
    let leaf = leaf_hash(&index.to_be_bytes());
    if verify_inclusion(index, size, &leaf, &given, &true_root) {
        let computed = inclusion_proof(&mut tree, index, size)
            .ok()
            .and_then(Result::ok);
        assert_eq!(
            computed.as_deref(),
            Some(given.as_slice()),
            "a forged inclusion proof"
        );
    }
    if first <= size {
        let first_root = root(&mut tree, first).unwrap_or([0; 32]);
        if verify_consistency(first, size, &first_root, &true_root, &given) && first > 0 {
            let computed = consistency_proof(&mut tree, first, size)
                .ok()
                .and_then(Result::ok);
            assert_eq!(
                computed.as_deref(),
                Some(given.as_slice()),
                "a forged consistency proof"
            );
        }
    }
    // Arbitrary roots and sizes: only no panic.
    if let [r1, r2, ..] = given.as_slice() {
        let _ = verify_consistency(first, size, r1, r2, &given);
        let _ = verify_inclusion(index, u64::MAX, r1, &given, r2);
    }
});
