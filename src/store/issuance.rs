//! Recording issued certificates in batches (sled).
//!
//! sled 0.34 runs a transaction under a process-wide exclusive lock that every other
//! write, and `flush` for the whole of its disk write, take shared. One transaction and
//! one flush per certificate therefore serialize issuance on the disk: while one
//! request's flush waits for the disk, every other request's transaction waits for the
//! flush. Here the requests that arrive while a batch is being recorded queue up; the
//! first of them then records the whole queue in one transaction, flushes once, and hands
//! every request its own outcome. The other requests keep signing meanwhile, and each
//! certificate is still durable before its caller hears of it.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};

use super::{AuditEvent, CertificateRecord, StoreError};

/// Most certificates recorded in one transaction: bounds the transaction's memory and the
/// time the exclusive lock is held.
const MOST_PER_BATCH: usize = 256;

/// One certificate waiting to be recorded, with its audit event.
pub(super) struct Queued {
    pub(super) record: CertificateRecord,
    pub(super) event: AuditEvent,
}

/// The queue of certificates to record and the outcomes of those recorded.
#[derive(Debug, Default)]
pub(super) struct IssuanceBatches {
    state: Mutex<BatchState>,
    changed: Condvar,
}

#[derive(Default)]
struct BatchState {
    next_ticket: u64,
    queued: Vec<(u64, Queued)>,
    /// A batch is being recorded (its leader is in the transaction or the flush).
    recording: bool,
    /// Outcomes not yet collected, by ticket: the transparency log index, or why not.
    outcomes: HashMap<u64, Result<u64, StoreError>>,
}

impl std::fmt::Debug for BatchState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchState")
            .field("queued", &self.queued.len())
            .field("recording", &self.recording)
            .finish_non_exhaustive()
    }
}

impl IssuanceBatches {
    /// Queues `item` and returns its outcome once it is recorded and durable. The caller
    /// that finds no batch being recorded records the queue with `commit`, which gets
    /// the items in queue order and returns one outcome per item, in the same order.
    pub(super) fn record(
        &self,
        item: Queued,
        commit: impl Fn(&[Queued]) -> Vec<Result<u64, StoreError>>,
    ) -> Result<u64, StoreError> {
        let mut state = self.lock()?;
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queued.push((ticket, item));
        loop {
            if let Some(outcome) = state.outcomes.remove(&ticket) {
                return outcome;
            }
            if !state.recording {
                // Lead: record what is queued (this caller's item among it).
                state.recording = true;
                let take = state.queued.len().min(MOST_PER_BATCH);
                let batch: Vec<(u64, Queued)> = state.queued.drain(..take).collect();
                drop(state);
                let (tickets, items): (Vec<u64>, Vec<Queued>) = batch.into_iter().unzip();
                let mut unfinished = Unfinished {
                    batches: self,
                    tickets: &tickets,
                    own: ticket,
                    done: false,
                };
                let outcomes = commit(&items);
                unfinished.done = true;
                state = self.lock()?;
                state.recording = false;
                let mut outcomes = outcomes.into_iter();
                for ticket in &tickets {
                    let outcome = outcomes.next().unwrap_or_else(|| {
                        Err(StoreError::Database(
                            "a batch of issued certificates returned too few outcomes".into(),
                        ))
                    });
                    state.outcomes.insert(*ticket, outcome);
                }
                self.changed.notify_all();
                continue;
            }
            state = self
                .changed
                .wait(state)
                .map_err(|_| StoreError::Database("the issuance queue was poisoned".into()))?;
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, BatchState>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Database("the issuance queue was poisoned".into()))
    }
}

/// Ends a batch whose leader panicked: its callers get an error instead of waiting for
/// good, and the next caller may lead.
struct Unfinished<'a> {
    batches: &'a IssuanceBatches,
    tickets: &'a [u64],
    /// The leader's own ticket: its caller is unwinding and collects nothing.
    own: u64,
    done: bool,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = match self.batches.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        state.recording = false;
        for ticket in self.tickets.iter().filter(|t| **t != self.own) {
            state.outcomes.insert(
                *ticket,
                Err(StoreError::Database(
                    "recording a batch of issued certificates failed".into(),
                )),
            );
        }
        self.batches.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CertificateStatus, Role};
    use crate::store::IssuancePath;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn item(n: u8) -> Queued {
        let now = time::OffsetDateTime::now_utc();
        Queued {
            record: CertificateRecord {
                serial: format!("{n:02x}").parse().unwrap(),
                role: Role::Bank,
                subject: "CN=t".into(),
                subject_alt_names: vec![],
                key: "ecdsa-p256".into(),
                not_before: now,
                not_after: now,
                issued_at: now,
                requested_via: IssuancePath::CliIssue,
                status: CertificateStatus::Good,
                revocation: None,
                fingerprint_sha256: String::new(),
                issuer: 0,
                parent: None,
                participant: None,
                der: vec![n],
            },
            event: AuditEvent::new("issue", "t"),
        }
    }

    #[test]
    fn every_caller_gets_its_own_outcome_and_batches_form_under_contention() {
        let batches = IssuanceBatches::default();
        let commits = AtomicUsize::new(0);
        let commit = |items: &[Queued]| {
            commits.fetch_add(1, Ordering::SeqCst);
            // Slow enough that others queue meanwhile.
            std::thread::sleep(std::time::Duration::from_millis(5));
            items
                .iter()
                .map(|i| match i.record.der.first() {
                    Some(n) if n % 5 == 0 => Err(StoreError::SerialTaken(i.record.serial.clone())),
                    Some(n) => Ok(u64::from(*n)),
                    None => Err(StoreError::Corrupt("empty".into())),
                })
                .collect()
        };
        std::thread::scope(|scope| {
            let handles: Vec<_> = (1..=40u8)
                .map(|n| {
                    let (batches, commit) = (&batches, &commit);
                    scope.spawn(move || (n, batches.record(item(n), commit)))
                })
                .collect();
            for handle in handles {
                let (n, outcome) = handle.join().unwrap();
                if n % 5 == 0 {
                    assert!(matches!(outcome, Err(StoreError::SerialTaken(_))), "{n}");
                } else {
                    assert_eq!(outcome.unwrap(), u64::from(n));
                }
            }
        });
        let commits = commits.load(Ordering::SeqCst);
        assert!(
            commits < 40,
            "40 callers, {commits} commits: nothing was batched"
        );
        assert!(batches.lock().unwrap().outcomes.is_empty());
    }

    #[test]
    fn a_panicking_leader_fails_its_batch_and_the_queue_goes_on() {
        let batches = IssuanceBatches::default();
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            batches.record(item(1), |_| panic!("disk on fire"))
        }));
        assert!(failed.is_err());
        // The next caller records.
        assert_eq!(
            batches
                .record(item(2), |items| vec![Ok(7); items.len()])
                .unwrap(),
            7
        );
        assert!(batches.lock().unwrap().outcomes.is_empty());
    }
}
