//! The transparency log's hashes beside sled (layout 5): `transparency.hashes`, a file
//! in the database's directory holding every leaf hash and complete-subtree root of the
//! log, 32 octets each, in post-order, so that each append adds a run at the end.
//!
//! Why: in sled each hash was an entry of its own, and sled 0.34's cost per small entry
//! is hundreds of bytes on disk (about 340 for the two of a certificate written in
//! batches of 1,000, and several times that in the server's batches of about ten:
//! docs/PERFORMANCE.md, "Storage footprint"). Here a certificate's hashes cost 64 bytes.
//!
//! The hashes are derived data: every one follows from the log's entries, which stay in
//! sled with the transactions that record the certificates and status changes. So the
//! file is written after the transaction commits, under the log's writer lock, before
//! the writer answers, and synced every [`SYNC_EVERY`] leaves. Each log transaction
//! notes in `meta` how many leaves' hashes were durable when it began (`tlog_hashed`);
//! at open, the leaves past that mark (at most about that many) are hashed again from
//! their entries. A file that is missing, shorter than the mark or another store's (the
//! header carries an identifier that `meta` repeats) is rebuilt from the entries.
//!
//! Slots: the tree over leaves `0..n` has `2n − popcount(n)` hashes in post-order. The
//! root of the complete subtree `(level, index)`, over leaves
//! `[index·2^level, (index+1)·2^level)`, is written right after the hashes that leaf
//! `e = (index+1)·2^level − 1` completes below it: at slot `2e − popcount(e) + level`.
//!
//! A throw-away store (tests) keeps the same hashes in memory.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};

use super::StoreError;
use crate::transparency::tree::{Frontier, Hash, NodeSource};

/// The file's name inside the sled database's directory.
pub(super) const FILE_NAME: &str = "transparency.hashes";
/// What the file is and its form's version; the store's identifier follows.
const MAGIC: &[u8; 16] = b"paypki tlog sha2";
/// The header: the magic, then a random identifier that `meta` repeats.
const HEADER: u64 = 32;
const HASH: u64 = 32;
/// Leaves written between syncs of the file: what an open after a crash may have to
/// hash again (about 40 ms of work), against an `fdatasync` per issuance batch.
pub(super) const SYNC_EVERY: u64 = 4_096;

/// How many hashes the tree over `size` leaves has: `2n − popcount(n)`.
pub(super) fn slots(size: u64) -> u64 {
    size.saturating_mul(2)
        .saturating_sub(u64::from(size.count_ones()))
}

/// The post-order slot of the root of the complete subtree `(level, index)`, and the
/// last leaf it covers; `None` for one beyond any possible log.
fn slot(level: u8, index: u64) -> Option<(u64, u64)> {
    let last = index
        .checked_add(1)?
        .checked_shl(u32::from(level))
        .filter(|end| end.leading_zeros() >= u32::from(level))?
        .checked_sub(1)?;
    let at = last
        .checked_mul(2)?
        .checked_sub(u64::from(last.count_ones()))?
        .checked_add(u64::from(level))?;
    Some((at, last))
}

fn offset(slot: u64) -> Result<u64, StoreError> {
    slot.checked_mul(HASH)
        .and_then(|bytes| bytes.checked_add(HEADER))
        .ok_or_else(|| StoreError::Corrupt("a transparency log hash beyond any file".into()))
}

fn io_error(e: std::io::Error) -> StoreError {
    StoreError::Database(format!("the transparency log's hashes: {e}"))
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Database("the transparency log's writer lock was poisoned".into())
}

#[derive(Debug)]
enum Backing {
    File(File),
    Memory(RwLock<Vec<u8>>),
}

/// The writer's state: the tree so far as its subtree roots (what the next leaves
/// combine with), and how many of its leaves have durable hashes.
#[derive(Debug, Default)]
pub(super) struct Writer {
    frontier: Frontier,
    synced: u64,
}

/// The log's hashes.
#[derive(Debug)]
pub(super) struct LogHashes {
    backing: Backing,
    /// The identifier in the header.
    id: [u8; 16],
    /// The log's writer lock: held by a transaction that appends to the log from
    /// before it begins until its hashes are written.
    writer: Mutex<Writer>,
    /// Leaves hashed: what readers see as the log's size.
    size: AtomicU64,
}

impl LogHashes {
    /// Opens (or creates) the file in the database directory `database`. Its hashes are
    /// not trusted until [`LogHashes::recover`] says how far they are.
    pub(super) fn open(database: &Path) -> Result<Self, StoreError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(database.join(FILE_NAME))
            .map_err(io_error)?;
        let len = file.metadata().map_err(io_error)?.len();
        let (mut magic, mut id) = ([0u8; 16], [0u8; 16]);
        let magic_len = MAGIC.len() as u64;
        let known = len >= HEADER
            && file.read_exact_at(&mut magic, 0).is_ok()
            && &magic == MAGIC
            && file.read_exact_at(&mut id, magic_len).is_ok();
        if !known {
            // New, cut short, or not ours: a new identifier, so that the store rebuilds it.
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
                .map_err(|_| StoreError::Database("the system random generator failed".into()))?;
            file.set_len(0).map_err(io_error)?;
            file.write_all_at(MAGIC, 0).map_err(io_error)?;
            file.write_all_at(&id, magic_len).map_err(io_error)?;
            file.sync_all().map_err(io_error)?;
            File::open(database)
                .and_then(|dir| dir.sync_all())
                .map_err(io_error)?;
        }
        Ok(LogHashes {
            backing: Backing::File(file),
            id,
            writer: Mutex::default(),
            size: AtomicU64::new(0),
        })
    }

    /// Hashes in memory, for a throw-away store.
    pub(super) fn memory() -> Self {
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&[0u8; 16]);
        LogHashes {
            backing: Backing::Memory(RwLock::new(header)),
            id: [0u8; 16],
            writer: Mutex::default(),
            size: AtomicU64::new(0),
        }
    }

    /// The identifier in the file's header.
    pub(super) fn id(&self) -> [u8; 16] {
        self.id
    }

    /// How many leaves are hashed: the size of the tree readers may ask about.
    pub(super) fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Takes the log's writer lock.
    pub(super) fn writer(&self) -> Result<MutexGuard<'_, Writer>, StoreError> {
        self.writer.lock().map_err(poisoned)
    }

    /// Whether the file holds the hashes of `size` leaves (they are read and trusted
    /// only after the store has checked the identifier).
    pub(super) fn holds(&self, size: u64) -> Result<bool, StoreError> {
        let needed = offset(slots(size))?;
        Ok(match &self.backing {
            Backing::File(file) => file.metadata().map_err(io_error)?.len() >= needed,
            Backing::Memory(memory) => memory.read().map_err(poisoned)?.len() as u64 >= needed,
        })
    }

    /// Starts from the first `durable` leaves' hashes as the file holds them (the store
    /// has checked that they are durable and this store's): loads the subtree roots the
    /// next leaves combine with.
    pub(super) fn resume(&self, writer: &mut Writer, durable: u64) -> Result<(), StoreError> {
        struct Stored<'a>(&'a LogHashes, u64);
        impl NodeSource for Stored<'_> {
            type Error = StoreError;
            fn node(&mut self, level: u8, index: u64) -> Result<Hash, StoreError> {
                self.0
                    .read(&[(level, index)], self.1)?
                    .into_iter()
                    .next()
                    .flatten()
                    .ok_or_else(|| StoreError::Corrupt("a transparency log hash is missing".into()))
            }
        }
        *writer = Writer {
            frontier: Frontier::load(&mut Stored(self, durable), durable)?,
            synced: durable,
        };
        self.size.store(durable, Ordering::Release);
        Ok(())
    }

    /// Appends the hashes of the next leaves and every subtree root they complete, in
    /// post-order; syncs the file once [`SYNC_EVERY`] leaves have gone unsynced.
    pub(super) fn extend(&self, writer: &mut Writer, leaves: &[Hash]) -> Result<(), StoreError> {
        if leaves.is_empty() {
            return Ok(());
        }
        let start = offset(slots(writer.frontier.size()))?;
        let mut frontier = writer.frontier.clone();
        let mut bytes = Vec::with_capacity(leaves.len() * 2 * HASH as usize);
        for leaf in leaves {
            // The leaf, then the parents it completes (RFC 9162 §2.1.1), lowest first.
            for (_, _, hash) in frontier.append(*leaf) {
                bytes.extend_from_slice(&hash);
            }
        }
        let size = frontier.size();
        let mut synced = writer.synced;
        match &self.backing {
            Backing::File(file) => {
                file.write_all_at(&bytes, start).map_err(io_error)?;
                // Synced every so many leaves, not per batch: the hashes are derived, and
                // the open hashes again the (at most that many) leaves past the mark.
                if size - writer.synced >= SYNC_EVERY {
                    file.sync_data().map_err(io_error)?;
                    synced = size;
                }
            }
            Backing::Memory(memory) => {
                let mut memory = memory.write().map_err(poisoned)?;
                let start = usize::try_from(start).map_err(|_| poisoned(()))?;
                // Past the durable leaves: what a failed batch may have left is replaced.
                memory.resize(start, 0);
                memory.extend_from_slice(&bytes);
                synced = size;
            }
        }
        *writer = Writer { frontier, synced };
        self.size.store(size, Ordering::Release);
        Ok(())
    }

    /// Syncs what is written: afterwards every leaf hashed is durable.
    pub(super) fn sync(&self, writer: &mut Writer) -> Result<(), StoreError> {
        if let Backing::File(file) = &self.backing {
            file.sync_data().map_err(io_error)?;
        }
        writer.synced = writer.frontier.size();
        Ok(())
    }

    /// The roots `(level, index)` of complete subtrees of the tree over the first `size`
    /// leaves; `None` for one that tree does not have.
    pub(super) fn read(
        &self,
        wanted: &[(u8, u64)],
        size: u64,
    ) -> Result<Vec<Option<Hash>>, StoreError> {
        wanted
            .iter()
            .map(|(level, index)| {
                let Some((at, _)) = slot(*level, *index).filter(|(_, last)| *last < size) else {
                    return Ok(None);
                };
                let start = offset(at)?;
                let mut hash = [0u8; HASH as usize];
                match &self.backing {
                    Backing::File(file) => file.read_exact_at(&mut hash, start).map_err(|e| {
                        if e.kind() == std::io::ErrorKind::UnexpectedEof {
                            StoreError::Corrupt("the transparency log's hashes are cut".into())
                        } else {
                            io_error(e)
                        }
                    })?,
                    Backing::Memory(memory) => {
                        let memory = memory.read().map_err(poisoned)?;
                        let stored = usize::try_from(start)
                            .ok()
                            .and_then(|start| memory.get(start..start + HASH as usize))
                            .ok_or_else(|| {
                                StoreError::Corrupt("the transparency log's hashes are cut".into())
                            })?;
                        hash.copy_from_slice(stored);
                    }
                }
                Ok(Some(hash))
            })
            .collect()
    }
}

impl Writer {
    /// Leaves hashed.
    pub(super) fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Leaves whose hashes are durable.
    pub(super) fn synced(&self) -> u64 {
        self.synced
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transparency::tree::{leaf_hash, root, MemoryTree};

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn slots_follow_post_order() {
        // Leaves 0, 1, (1,0), 2, 3, (1,1), (2,0), 4 …
        assert_eq!(slot(0, 0), Some((0, 0)));
        assert_eq!(slot(0, 1), Some((1, 1)));
        assert_eq!(slot(1, 0), Some((2, 1)));
        assert_eq!(slot(0, 2), Some((3, 2)));
        assert_eq!(slot(1, 1), Some((5, 3)));
        assert_eq!(slot(2, 0), Some((6, 3)));
        assert_eq!(slot(0, 4), Some((7, 4)));
        assert_eq!(slots(4), 7);
        assert_eq!(slots(5), 8);
        assert_eq!(slot(63, u64::MAX), None);
        assert_eq!(slot(0, u64::MAX), None);
    }

    /// Every root a tree of `size` has, from the file, equals the memory tree's.
    fn check_roots(hashes: &LogHashes, all: &[Hash], size: u64) {
        let mut memory = MemoryTree::default();
        for leaf in all.iter().take(size as usize) {
            memory.push(*leaf);
        }
        struct FromFile<'a>(&'a LogHashes, u64);
        impl NodeSource for FromFile<'_> {
            type Error = ();
            fn node(&mut self, level: u8, index: u64) -> Result<Hash, ()> {
                self.0.read(&[(level, index)], self.1).unwrap()[0].ok_or(())
            }
        }
        for n in 1..=size {
            assert_eq!(
                root(&mut FromFile(hashes, size), n).unwrap(),
                root(&mut memory, n).unwrap(),
                "size {n} of {size}"
            );
        }
    }

    #[test]
    fn appended_in_any_batches_the_roots_are_rfc_9162s() {
        let all = leaves(70);
        for batch in [1usize, 3, 16, 70] {
            let hashes = LogHashes::memory();
            let mut writer = hashes.writer().unwrap();
            for chunk in all.chunks(batch) {
                hashes.extend(&mut writer, chunk).unwrap();
            }
            assert_eq!(writer.size(), 70);
            drop(writer);
            assert_eq!(hashes.size(), 70);
            assert!(hashes.holds(70).unwrap());
            check_roots(&hashes, &all, 70);
            // Nothing beyond the size is served.
            assert_eq!(hashes.read(&[(0, 70), (7, 0)], 70).unwrap(), [None, None]);
        }
    }

    #[test]
    fn a_reopened_file_resumes_and_overwrites_what_was_never_marked_durable() {
        let dir = tempfile::tempdir().unwrap();
        let all = leaves(40);
        let id = {
            let hashes = LogHashes::open(dir.path()).unwrap();
            let mut writer = hashes.writer().unwrap();
            hashes.extend(&mut writer, &all[..25]).unwrap();
            // A batch whose hashes were written but, say, whose transaction never
            // counted them: wrong hashes past leaf 25.
            hashes.extend(&mut writer, &leaves(30)[..5]).unwrap();
            hashes.id()
        };
        let hashes = LogHashes::open(dir.path()).unwrap();
        assert_eq!(hashes.id(), id, "the header is kept");
        assert!(hashes.holds(30).unwrap() && !hashes.holds(31).unwrap());
        let mut writer = hashes.writer().unwrap();
        hashes.resume(&mut writer, 25).unwrap();
        hashes.extend(&mut writer, &all[25..]).unwrap();
        drop(writer);
        check_roots(&hashes, &all, 40);
    }

    #[test]
    fn a_foreign_or_cut_header_gets_a_new_identifier() {
        let dir = tempfile::tempdir().unwrap();
        let id = LogHashes::open(dir.path()).unwrap().id();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, b"not a hash file at all, no, not at all").unwrap();
        let other = LogHashes::open(dir.path()).unwrap();
        assert_ne!(other.id(), id);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), HEADER);
        std::fs::write(&path, &MAGIC[..10]).unwrap();
        assert_ne!(LogHashes::open(dir.path()).unwrap().id(), other.id());
    }
}
