//! What verification may cost: an estimated price per signature check, and a budget
//! per request that a batch's items share.

use super::*;

/// Estimated cost of one signature check with `key`, in microseconds of one core of the
/// reference machine (docs/PERFORMANCE.md): ring verifies ECDSA P-256 in about 37 µs,
/// Ed25519 in about 50, ECDSA P-384 in about 600, and RSA in time growing with the
/// square of the modulus (about 490 µs at 8192 bits); SM2 (the `sm2` crate) about 500. Estimates, not measurements: they
/// only have to rank requests and bound them.
pub fn check_cost(key: &PublicKey) -> u64 {
    match key.algorithm() {
        crate::model::KeyAlgorithm::EcdsaP256 => 40,
        crate::model::KeyAlgorithm::Ed25519 => 50,
        crate::model::KeyAlgorithm::EcdsaP384 => 600,
        // The `sm2` crate's generic arithmetic: about 0.5 ms per verification here.
        crate::model::KeyAlgorithm::Sm2 => 500,
        crate::model::KeyAlgorithm::Rsa => {
            let kbits = u64::from(key.bits().max(1024)).div_ceil(1024);
            8 * kbits * kbits
        }
    }
}

/// The CPU one request may spend on signature checks, shared by a batch's items (which
/// run in parallel), in the units of [`check_cost`].
#[derive(Debug)]
pub struct VerifyBudget {
    remaining: std::sync::atomic::AtomicU64,
    spent: std::sync::atomic::AtomicU64,
    checks: std::sync::atomic::AtomicU64,
}

impl VerifyBudget {
    /// A budget of `units` (microseconds of estimated CPU).
    pub fn new(units: u64) -> Self {
        VerifyBudget {
            remaining: std::sync::atomic::AtomicU64::new(units),
            spent: std::sync::atomic::AtomicU64::new(0),
            checks: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// No limit (the command line, tests).
    pub fn unlimited() -> Self {
        Self::new(u64::MAX)
    }

    /// Takes `cost` from the budget for one signature check, or says it is spent.
    pub(super) fn try_spend(&self, cost: u64) -> bool {
        use std::sync::atomic::Ordering;
        let taken = self
            .remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(cost)
            })
            .is_ok();
        if taken {
            self.spent.fetch_add(cost, Ordering::Relaxed);
            self.checks.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }

    /// Units spent so far.
    pub fn spent(&self) -> u64 {
        self.spent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Signature checks made so far.
    pub fn checks(&self) -> u64 {
        self.checks.load(std::sync::atomic::Ordering::Relaxed)
    }
}

pub(super) fn over_budget() -> (Reason, String) {
    (
        Reason::BudgetExceeded,
        "this request's CPU budget for signature checks was spent before this item was checked; send it again in another request, and name the algorithm so that only one scheme is tried".into(),
    )
}
