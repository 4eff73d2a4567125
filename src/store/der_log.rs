//! The certificates' DER beside sled (layout 4): `certificates.der`, an append-only file
//! in the database's directory, into which the records in `certificates` point (offset
//! and length).
//!
//! Why: sled 0.34 rewrites a page into its log on every change and keeps up to twice
//! its live data there, so a 628-byte DER inside a record cost about 1,300 bytes on disk
//! (docs/PERFORMANCE.md, "Storage footprint"). A DER never changes once issued: here it
//! costs its own size, once. The records stay in sled, with their transactions.
//!
//! Durable before acknowledged, and never a record that points at bytes that are not
//! there: a writer appends the DERs and syncs the file (`fdatasync`) first, then writes
//! the records that point at them and flushes sled. A crash in between leaves bytes at
//! the end of the file that no record points at; they are never read and cost only
//! their size (the next append goes after them). Each DER follows its length (four
//! octets, big-endian), and a read checks it against the record's, so a record that
//! points at the wrong place (a file from another store, a truncated copy) reads as
//! corrupt, not as another certificate.
//!
//! A throw-away store (tests) keeps the same log in memory.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Mutex, RwLock};

use super::StoreError;

/// The file's name inside the sled database's directory, so that whatever copies,
/// backs up or leaves out `db/` takes it along.
pub(super) const FILE_NAME: &str = "certificates.der";
/// The first bytes of the file: what it is and its form's version.
const MAGIC: &[u8; 16] = b"paypki DER log 1";

/// The length that precedes each DER.
const LEN_OCTETS: u64 = 4;

/// Where a certificate's DER is in the log (after its length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct DerRef {
    pub(super) offset: u64,
    pub(super) len: u32,
}

impl DerRef {
    /// Where the DER ends in the log.
    pub(super) fn end(&self) -> u64 {
        self.offset + u64::from(self.len)
    }
}

/// The append-only log of certificates' DER.
#[derive(Debug)]
pub(super) struct DerLog {
    backing: Backing,
    /// Where the next append goes. Held while appending, so appends do not interleave.
    end: Mutex<u64>,
}

#[derive(Debug)]
enum Backing {
    File(File),
    Memory(RwLock<Vec<u8>>),
}

fn io_error(e: std::io::Error) -> StoreError {
    StoreError::Database(format!("the certificates' DER log: {e}"))
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Database("the DER log's lock was poisoned".into())
}

impl DerLog {
    /// Opens (or creates) the log in the database directory `database`.
    pub(super) fn open(database: &Path) -> Result<Self, StoreError> {
        let path = database.join(FILE_NAME);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error)?;
        let len = file.metadata().map_err(io_error)?.len();
        let magic_len = MAGIC.len() as u64;
        if len < magic_len {
            // New, or its creation was cut short before anything was appended (an
            // append comes only after the header is durable).
            file.write_all_at(MAGIC, 0).map_err(io_error)?;
            file.sync_all().map_err(io_error)?;
            // The file's name must be durable before a record points into it.
            File::open(database)
                .and_then(|dir| dir.sync_all())
                .map_err(io_error)?;
        } else {
            let mut head = [0u8; 16];
            file.read_exact_at(&mut head, 0).map_err(io_error)?;
            if &head != MAGIC {
                return Err(StoreError::Corrupt(format!(
                    "{} is not a paypki DER log",
                    path.display()
                )));
            }
        }
        Ok(DerLog {
            backing: Backing::File(file),
            end: Mutex::new(len.max(magic_len)),
        })
    }

    /// How many bytes the log holds.
    pub(super) fn len(&self) -> Result<u64, StoreError> {
        self.end.lock().map(|end| *end).map_err(poisoned)
    }

    /// A log in memory, for a throw-away store.
    pub(super) fn memory() -> Self {
        DerLog {
            backing: Backing::Memory(RwLock::new(MAGIC.to_vec())),
            end: Mutex::new(MAGIC.len() as u64),
        }
    }

    /// Appends the DERs one after the other and makes them durable; returns where each
    /// one is. Nothing may point at them before this returns.
    pub(super) fn append<'a>(
        &self,
        ders: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Vec<DerRef>, StoreError> {
        let mut end = self.end.lock().map_err(poisoned)?;
        let mut bytes = Vec::new();
        let mut refs = Vec::new();
        for der in ders {
            let len = u32::try_from(der.len())
                .map_err(|_| StoreError::Corrupt("a certificate over 4 GiB".into()))?;
            refs.push(DerRef {
                offset: *end + bytes.len() as u64 + LEN_OCTETS,
                len,
            });
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(der);
        }
        if bytes.is_empty() {
            return Ok(refs);
        }
        match &self.backing {
            Backing::File(file) => {
                file.write_all_at(&bytes, *end).map_err(io_error)?;
                file.sync_data().map_err(io_error)?;
            }
            Backing::Memory(memory) => {
                memory.write().map_err(poisoned)?.extend_from_slice(&bytes);
            }
        }
        *end += bytes.len() as u64;
        Ok(refs)
    }

    /// The DER at `at`, checked against the length written before it.
    pub(super) fn read(&self, at: DerRef) -> Result<Vec<u8>, StoreError> {
        let corrupt = || {
            StoreError::Corrupt(format!(
                "the DER log has no certificate of {} bytes at {}",
                at.len, at.offset
            ))
        };
        let start = at
            .offset
            .checked_sub(LEN_OCTETS)
            .filter(|start| *start >= MAGIC.len() as u64)
            .ok_or_else(corrupt)?;
        let len = usize::try_from(at.len).map_err(|_| corrupt())?;
        let mut bytes = vec![0u8; len + LEN_OCTETS as usize];
        match &self.backing {
            Backing::File(file) => file.read_exact_at(&mut bytes, start).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    corrupt()
                } else {
                    io_error(e)
                }
            })?,
            Backing::Memory(memory) => {
                let memory = memory.read().map_err(poisoned)?;
                let start = usize::try_from(start).map_err(|_| corrupt())?;
                let stored = start
                    .checked_add(bytes.len())
                    .and_then(|stop| memory.get(start..stop))
                    .ok_or_else(corrupt)?;
                bytes.copy_from_slice(stored);
            }
        }
        let der = bytes.split_off(LEN_OCTETS as usize);
        if bytes != at.len.to_be_bytes() {
            return Err(corrupt());
        }
        Ok(der)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(content_len: usize) -> Vec<u8> {
        let mut der = vec![0x30];
        if content_len < 0x80 {
            der.push(content_len as u8);
        } else {
            der.extend_from_slice(&[0x82, (content_len >> 8) as u8, content_len as u8]);
        }
        der.extend((0..content_len).map(|i| i as u8));
        der
    }

    #[test]
    fn appends_read_back_after_reopening_and_garbage_at_the_end_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (sequence(600), sequence(40));
        let refs = {
            let log = DerLog::open(dir.path()).unwrap();
            log.append([a.as_slice(), b.as_slice()]).unwrap()
        };
        assert_eq!(refs[0].offset, MAGIC.len() as u64 + LEN_OCTETS);
        assert_eq!(refs[1].offset, refs[0].offset + a.len() as u64 + LEN_OCTETS);
        // A crash after a write that no record points at: bytes at the end.
        {
            let file = OpenOptions::new()
                .append(true)
                .open(dir.path().join(FILE_NAME))
                .unwrap();
            std::io::Write::write_all(&mut &file, b"torn").unwrap();
        }
        let log = DerLog::open(dir.path()).unwrap();
        assert_eq!(log.read(refs[0]).unwrap(), a);
        assert_eq!(log.read(refs[1]).unwrap(), b);
        let c = sequence(200);
        let next = log.append([c.as_slice()]).unwrap();
        assert_eq!(
            next[0].offset,
            refs[1].offset + b.len() as u64 + 4 + LEN_OCTETS
        );
        assert_eq!(log.read(next[0]).unwrap(), c);
    }

    #[test]
    fn a_reference_to_the_wrong_place_reads_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        for log in [DerLog::memory(), DerLog::open(dir.path()).unwrap()] {
            let der = sequence(300);
            let at = log.append([der.as_slice()]).unwrap()[0];
            assert_eq!(log.read(at).unwrap(), der);
            for wrong in [
                DerRef {
                    offset: at.offset + 1,
                    len: at.len,
                },
                DerRef {
                    offset: at.offset,
                    len: at.len - 1,
                },
                DerRef {
                    offset: at.offset + 100,
                    len: at.len,
                },
                DerRef { offset: 0, len: 16 },
                DerRef { offset: 2, len: 16 },
            ] {
                assert!(
                    matches!(log.read(wrong), Err(StoreError::Corrupt(_))),
                    "{wrong:?}"
                );
            }
        }
    }

    #[test]
    fn a_file_that_is_not_a_der_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"something else entirely").unwrap();
        assert!(matches!(
            DerLog::open(dir.path()),
            Err(StoreError::Corrupt(_))
        ));
    }
}
