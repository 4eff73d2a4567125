//! Issuance transparency: every certificate the CA issues and every status change is
//! appended to an append-only Merkle tree with the hashing of RFC 9162 (Certificate
//! Transparency 2.0) §2.1, so that a bank can check that it has seen everything the CA
//! issued in its name (see docs/verification.md, "Transparency").
//!
//! - [`tree`]: hashing, tree heads, inclusion and consistency proofs over stored
//!   complete subtrees, and their verification.
//! - [`entry`]: what a leaf is (the binary entry encoding).
//! - this module: proofs and heads read from a [`TransparencyStore`], and the signed
//!   tree head's to-be-signed bytes (RFC 9162 §4.9 `TreeHeadDataV2`).
//!
//! The store appends entries inside the transactions that record certificates and
//! status changes (`crate::store`); nothing here writes.

pub mod entry;
pub mod tree;

use crate::store::{StoreError, TransparencyStore};
use tree::{FetchedNodes, Hash, NodeRecorder, ProofRequestError};

/// The most entries one `entries` request returns.
pub const MAX_PAGE: u64 = 256;

/// Why a transparency request failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sizes or indexes that no proof exists for.
    #[error("{0}")]
    Request(#[from] ProofRequestError),
    /// A tree size beyond the log's.
    #[error("the log has {current} entries; there is no tree of {asked}")]
    BeyondLog {
        /// The size asked for.
        asked: u64,
        /// The log's size.
        current: u64,
    },
    /// No entry for that serial or leaf hash.
    #[error("no transparency log entry for {0}")]
    NotFound(String),
    /// A range of entries that is empty, reversed or too long.
    #[error("bad range of entries: {0}")]
    BadRange(String),
    /// A stored node is missing: the store is damaged.
    #[error("the transparency log is missing node ({0}, {1})")]
    MissingNode(u8, u64),
    /// The tree head could not be signed.
    #[error("the tree head could not be signed: {0}")]
    Signing(String),
}

impl LogError {
    /// What kind of failure this is.
    pub fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind as K;
        match self {
            LogError::Store(e) => e.kind(),
            LogError::Request(_) | LogError::BeyondLog { .. } | LogError::BadRange(_) => {
                K::Malformed
            }
            LogError::NotFound(_) => K::NotFound,
            LogError::MissingNode(..) | LogError::Signing(_) => K::Internal,
        }
    }
}

/// A tree head: what an STH signs (RFC 9162 §4.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// When it was made (ms since the epoch).
    pub timestamp: u64,
    /// The number of entries.
    pub tree_size: u64,
    /// MTH of those entries.
    pub root_hash: Hash,
}

impl TreeHead {
    /// `TreeHeadDataV2` TLS-encoded (RFC 9162 §4.9): timestamp (uint64), tree_size
    /// (uint64), root_hash (`opaque NodeHash<32..2^8-1>`), and no `sth_extensions`
    /// (`Extension sth_extensions<0..2^16-1>`, empty).
    pub fn tls_encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 8 + 1 + 32 + 2);
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.tree_size.to_be_bytes());
        out.push(32);
        out.extend_from_slice(&self.root_hash);
        out.extend_from_slice(&[0, 0]);
        out
    }

    /// SHA-256 of [`TreeHead::tls_encode`]: the message imprint of the RFC 3161
    /// TimeStampToken that signs the head.
    pub fn signing_digest(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(
            ring::digest::digest(&ring::digest::SHA256, &self.tls_encode()).as_ref(),
        );
        out
    }
}

/// Fetches in one call the nodes `compute` reads, then runs it over them.
fn with_nodes<T>(
    store: &dyn TransparencyStore,
    compute: impl Fn(&mut dyn FnMut(u8, u64) -> Result<Hash, (u8, u64)>) -> Result<T, (u8, u64)>,
) -> Result<T, LogError> {
    let mut recorder = NodeRecorder::default();
    {
        let mut read = |level, index| {
            use tree::NodeSource;
            recorder.node(level, index).map_err(|never| match never {})
        };
        let _ = compute(&mut read);
    }
    let found = store.log_nodes(&recorder.wanted)?;
    let mut fetched = FetchedNodes::default();
    for (id, node) in recorder.wanted.iter().zip(found) {
        if let Some(hash) = node {
            fetched.0.insert(*id, hash);
        }
    }
    let mut read = |level, index| {
        use tree::NodeSource;
        fetched.node(level, index).map_err(|m| (m.0, m.1))
    };
    compute(&mut read).map_err(|(level, index)| LogError::MissingNode(level, index))
}

/// Adapts a closure to [`tree::NodeSource`].
struct Reader<'a>(&'a mut dyn FnMut(u8, u64) -> Result<Hash, (u8, u64)>);

impl tree::NodeSource for Reader<'_> {
    type Error = (u8, u64);
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, (u8, u64)> {
        (self.0)(level, index)
    }
}

fn check_size(store: &dyn TransparencyStore, size: u64) -> Result<u64, LogError> {
    let current = store.log_size()?;
    if size > current {
        return Err(LogError::BeyondLog {
            asked: size,
            current,
        });
    }
    Ok(current)
}

/// MTH of the first `size` entries.
pub fn root_at(store: &dyn TransparencyStore, size: u64) -> Result<Hash, LogError> {
    check_size(store, size)?;
    with_nodes(store, |read| tree::root(&mut Reader(read), size))
}

/// The inclusion proof of leaf `index` in the tree that ends with it (`index + 1`
/// entries), with that tree's root and the leaf's hash: what issuance answers with. Reads
/// popcount(index) + 1 stored nodes in one call; the same proof as [`inclusion`].
pub fn newest_leaf_inclusion(
    store: &dyn TransparencyStore,
    index: u64,
) -> Result<(Vec<Hash>, Hash, Hash), LogError> {
    let size = index
        .checked_add(1)
        .ok_or_else(|| LogError::BadRange(format!("leaf {index} is past any log")))?;
    check_size(store, size)?;
    let mut wanted = tree::newest_leaf_nodes(index);
    wanted.push((0, index));
    let mut found = store.log_nodes(&wanted)?.into_iter().zip(&wanted);
    let mut missing =
        |(node, id): (Option<Hash>, &(u8, u64))| node.ok_or(LogError::MissingNode(id.0, id.1));
    let path = found
        .by_ref()
        .take(wanted.len() - 1)
        .map(&mut missing)
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = found
        .next()
        .ok_or(LogError::MissingNode(0, index))
        .and_then(&mut missing)?;
    let root = tree::newest_leaf_root(&leaf, &path);
    Ok((path, root, leaf))
}

/// The inclusion proof of leaf `index` in the tree of `size` entries, with that tree's
/// root.
pub fn inclusion(
    store: &dyn TransparencyStore,
    index: u64,
    size: u64,
) -> Result<(Vec<Hash>, Hash), LogError> {
    check_size(store, size)?;
    let (proof, root) = with_nodes(store, |read| {
        let mut reader = Reader(read);
        let proof = tree::inclusion_proof(&mut reader, index, size)?;
        let root = tree::root(&mut reader, size)?;
        Ok((proof, root))
    })?;
    Ok((proof?, root))
}

/// The consistency proof between the trees of `first` and `second` entries.
pub fn consistency(
    store: &dyn TransparencyStore,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, LogError> {
    check_size(store, second)?;
    Ok(with_nodes(store, |read| {
        tree::consistency_proof(&mut Reader(read), first, second)
    })??)
}

/// The encoded entries `[start, end)`: at most [`MAX_PAGE`], all inside the log.
pub fn entries(
    store: &dyn TransparencyStore,
    start: u64,
    end: u64,
) -> Result<Vec<Vec<u8>>, LogError> {
    let size = store.log_size()?;
    if start >= end {
        return Err(LogError::BadRange(format!(
            "start ({start}) must be below end ({end})"
        )));
    }
    if end > size {
        return Err(LogError::BadRange(format!(
            "end ({end}) is beyond the log's {size} entries"
        )));
    }
    if end - start > MAX_PAGE {
        return Err(LogError::BadRange(format!(
            "at most {MAX_PAGE} entries per request (asked for {})",
            end - start
        )));
    }
    Ok(store.log_entries(start, end)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_head_encoding_is_rfc_9162_tree_head_data_v2() {
        let head = TreeHead {
            timestamp: 0x0102030405060708,
            tree_size: 3,
            root_hash: [0xab; 32],
        };
        let bytes = head.tls_encode();
        assert_eq!(bytes.len(), 51);
        assert_eq!(&bytes[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&bytes[8..16], &[0, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(bytes[16], 32);
        assert_eq!(&bytes[17..49], &[0xab; 32]);
        assert_eq!(&bytes[49..], &[0, 0]);
    }
}
