//! A cache bounded by bytes, evicting the least recently used entries: what callers send
//! must never make the server's memory grow without bound.

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::Mutex;

/// A least-recently-used map whose entries' sizes (as the caller counts them) add up to
/// at most `budget` bytes.
pub struct ByteLru<K: Hash + Eq, V: Clone> {
    inner: Mutex<Inner<K, V>>,
    budget: usize,
}

struct Inner<K: Hash + Eq, V> {
    map: lru::LruCache<K, (V, usize)>,
    bytes: usize,
}

impl<K: Hash + Eq, V: Clone> std::fmt::Debug for ByteLru<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteLru")
            .field("budget", &self.budget)
            .field("bytes", &self.bytes())
            .finish_non_exhaustive()
    }
}

/// What one entry costs beyond the size the caller gives: the map's own bookkeeping.
const ENTRY_OVERHEAD: usize = 64;

impl<K: Hash + Eq, V: Clone> ByteLru<K, V> {
    /// An empty cache holding at most `budget` bytes.
    pub fn new(budget: usize) -> Self {
        ByteLru {
            inner: Mutex::new(Inner {
                map: lru::LruCache::unbounded(),
                bytes: 0,
            }),
            budget,
        }
    }

    /// The value for `key` (or a borrowed form of it, e.g. `&str` for `Box<str>`),
    /// marking it most recently used.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut inner = self.inner.lock().ok()?;
        inner.map.get(key).map(|(value, _)| value.clone())
    }

    /// Inserts `value` costing `size` bytes, evicting the least recently used entries
    /// until the total fits. An entry larger than the whole budget is not kept.
    pub fn insert(&self, key: K, value: V, size: usize) {
        let size = size.saturating_add(ENTRY_OVERHEAD);
        if size > self.budget {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if let Some((_, old)) = inner.map.put(key, (value, size)) {
            inner.bytes = inner.bytes.saturating_sub(old);
        }
        inner.bytes = inner.bytes.saturating_add(size);
        while inner.bytes > self.budget {
            match inner.map.pop_lru() {
                Some((_, (_, evicted))) => inner.bytes = inner.bytes.saturating_sub(evicted),
                None => break,
            }
        }
    }

    /// Drops every entry.
    pub fn clear(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.map.clear();
            inner.bytes = 0;
        }
    }

    /// The bytes currently held (as counted at insertion).
    pub fn bytes(&self) -> usize {
        self.inner.lock().map(|inner| inner.bytes).unwrap_or(0)
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|inner| inner.map.len()).unwrap_or(0)
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_its_budget_and_evicts_the_least_recently_used() {
        let cache = ByteLru::new(10 * (100 + ENTRY_OVERHEAD));
        for i in 0..10u32 {
            cache.insert(i, i, 100);
        }
        assert_eq!(cache.len(), 10);
        // Touch 0, so 1 is now the least recently used.
        assert_eq!(cache.get(&0), Some(0));
        cache.insert(10, 10, 100);
        assert_eq!(cache.get(&1), None);
        assert_eq!(cache.get(&0), Some(0));
        assert!(cache.bytes() <= 10 * (100 + ENTRY_OVERHEAD));
        // Many large entries never exceed the budget.
        for i in 100..10_000u32 {
            cache.insert(i, i, 1000);
        }
        assert!(cache.bytes() <= 10 * (100 + ENTRY_OVERHEAD));
        // An entry larger than the budget is not kept at all.
        cache.insert(1, 1, 1 << 20);
        assert_eq!(cache.get(&1), None);
        cache.clear();
        assert!(cache.is_empty());
    }
}
