//! A per-client budget that is charged after the fact.
//!
//! governor's limiters decide before the work what it will cost. Some costs are only
//! known afterwards: whether an enrollment attempt failed authentication, or how much CPU
//! a verification request used. This limiter admits a client while its bucket holds a
//! unit and charges the real cost afterwards; a bucket may go into debt, and the
//! client waits until it has refilled.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Clients tracked before refilled buckets (which carry no information) are dropped.
const MAX_CLIENTS: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per client address that may go into debt.
#[derive(Debug)]
pub struct DebtLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl DebtLimiter {
    /// Refills `per_second` units per second up to `burst`. A rate of 0 admits everyone.
    pub fn new(per_second: f64, burst: f64) -> Self {
        DebtLimiter {
            per_second: per_second.max(0.0),
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this limiter limits anything.
    pub fn enabled(&self) -> bool {
        self.per_second > 0.0
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> Bucket {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        Bucket {
            tokens: (bucket.tokens + elapsed * self.per_second).min(self.burst),
            at: now,
        }
    }

    /// `Ok` while the client's bucket holds at least one unit; otherwise the whole seconds
    /// until it does.
    pub fn admit(&self, client: IpAddr) -> Result<(), u64> {
        if !self.enabled() {
            return Ok(());
        }
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let Some(bucket) = buckets.get_mut(&client) else {
            return Ok(());
        };
        *bucket = self.refilled(*bucket, now);
        if bucket.tokens >= 1.0 {
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.per_second;
            // Bounded by the debt limit below, so the cast cannot overflow.
            Err(wait.ceil().clamp(1.0, 3600.0) as u64)
        }
    }

    /// Charges `cost` units to the client (its bucket may go down to −burst).
    pub fn charge(&self, client: IpAddr, cost: f64) {
        if !self.enabled() || cost <= 0.0 {
            return;
        }
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return;
        };
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&client) {
            // A full bucket is the same as none: forget those first.
            let burst = self.burst;
            buckets.retain(|_, b| {
                let b = self.refilled(*b, now);
                b.tokens < burst
            });
            if buckets.len() >= MAX_CLIENTS {
                // Still full of clients in debt: forgive them all rather than grow.
                buckets.clear();
            }
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refilled = self.refilled(*bucket, now);
        bucket.tokens = (refilled.tokens - cost).max(-self.burst);
        bucket.at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn a_client_is_admitted_until_its_charges_pass_the_burst() {
        // One unit a minute: nothing refills during the test.
        let limiter = DebtLimiter::new(1.0 / 60.0, 3.0);
        for _ in 0..3 {
            assert_eq!(limiter.admit(A), Ok(()));
            limiter.charge(A, 1.0);
        }
        let wait = limiter.admit(A).unwrap_err();
        assert!((1..=61).contains(&wait), "{wait}");
        // Another client is not affected.
        assert_eq!(limiter.admit(B), Ok(()));
    }

    #[test]
    fn one_expensive_request_puts_the_client_in_debt() {
        let limiter = DebtLimiter::new(100.0, 100.0);
        assert_eq!(limiter.admit(A), Ok(()));
        limiter.charge(A, 250.0);
        // 100 − 250 = −100 (debt is capped at one burst): about a second to wait.
        let wait = limiter.admit(A).unwrap_err();
        assert!((1..=2).contains(&wait), "{wait}");
    }

    #[test]
    fn a_rate_of_zero_admits_everyone() {
        let limiter = DebtLimiter::new(0.0, 1.0);
        limiter.charge(A, 1e9);
        assert_eq!(limiter.admit(A), Ok(()));
    }
}
