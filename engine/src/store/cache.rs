//! Small in-process caches for rows that every chat turn reads and that rarely change: API
//! key credentials, customer record ids, agent configurations, the recording switch and (on
//! SQLite) the webhook subscriptions.
//!
//! An entry lives at most its cache's time to live. The process that changes a row drops the
//! entry at once (so a key revoked through this server stops working on its next request);
//! other replicas, and `blaigent` commands run against the same database, are seen within
//! the time to live.
//!
//! A read that races a change cannot put the old row back: every removal bumps a generation
//! counter, and [`TtlCache::insert_since`] drops a value read before the latest removal.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::events::Subscription;
use super::keys::KeyCredential;
use crate::config::AgentConfig;
use crate::ids::CustomerRecordId;

/// How long a replica trusts a cached API key (revocation, rotation and plan changes made
/// elsewhere take effect within this).
pub const KEY_TTL: Duration = Duration::from_secs(2);
/// How long a replica trusts a cached agent configuration.
pub const AGENT_CONFIG_TTL: Duration = Duration::from_secs(2);
/// How long a replica trusts its cached recording switch.
pub const RECORDING_SWITCH_TTL: Duration = Duration::from_secs(5);
/// How long a process trusts its cached webhook subscriptions. Only on SQLite, where the
/// database belongs to one server: every change through it drops the entry at once, and this
/// bounds what a `blaigent` command run beside it on the same file changes. On PostgreSQL,
/// where replicas share the endpoints, every turn reads them.
pub const WEBHOOK_SUBSCRIPTIONS_TTL: Duration = Duration::from_secs(2);
/// Customer record ids never change once created; entries expire only to bound memory.
const CUSTOMER_TTL: Duration = Duration::from_secs(600);

/// The caches one [`super::Store`] keeps (shared by its clones).
#[derive(Debug)]
pub(crate) struct StoreCaches {
    /// A key's public prefix -> its credentials (only prefixes that matched a key).
    pub(crate) key_credentials: TtlCache<String, Vec<KeyCredential>>,
    /// `organization id + NUL + customer_id` -> the customer's record id.
    pub(crate) customers: TtlCache<String, CustomerRecordId>,
    /// Organization id -> its stored agent configuration (`None`: it never saved one).
    pub(crate) agent_configs: TtlCache<String, Option<AgentConfig>>,
    /// Organization id -> whether it records its turns.
    pub(crate) recording_switches: TtlCache<String, bool>,
    /// Organization id -> its enabled webhook endpoints and their event types (SQLite only).
    pub(crate) webhook_subscriptions: TtlCache<String, Vec<Subscription>>,
}

impl StoreCaches {
    pub(crate) fn new() -> Self {
        Self {
            key_credentials: TtlCache::new(KEY_TTL, 10_000),
            customers: TtlCache::new(CUSTOMER_TTL, 100_000),
            agent_configs: TtlCache::new(AGENT_CONFIG_TTL, 10_000),
            recording_switches: TtlCache::new(RECORDING_SWITCH_TTL, 10_000),
            webhook_subscriptions: TtlCache::new(WEBHOOK_SUBSCRIPTIONS_TTL, 10_000),
        }
    }
}

/// The key of [`StoreCaches::customers`].
pub(crate) fn customer_key(org: &str, external_id: &str) -> String {
    format!("{org}\u{0}{external_id}")
}

/// A map whose entries expire, with a bound on how many it holds.
#[derive(Debug)]
pub(crate) struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    generation: AtomicU64,
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

/// The cache's state before a database read, to hand back to [`TtlCache::insert_since`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Generation(u64);

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            generation: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, (V, Instant)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached value, unless it is missing or older than the time to live.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.lock();
        let (value, stored_at) = entries.get(key)?;
        (stored_at.elapsed() < self.ttl).then(|| value.clone())
    }

    /// Call before reading the row, then pass the result to [`Self::insert_since`].
    pub(crate) fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Acquire))
    }

    /// Stores `value`, read from the database after `read_from` was taken, unless an entry
    /// was removed since: the value may then already be stale.
    pub(crate) fn insert_since(&self, read_from: Generation, key: K, value: V) {
        let mut entries = self.lock();
        if self.generation.load(Ordering::Acquire) != read_from.0 {
            return;
        }
        if entries.len() >= self.capacity {
            let ttl = self.ttl;
            entries.retain(|_, (_, stored_at)| stored_at.elapsed() < ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (value, Instant::now()));
    }

    /// Drops one entry (its row changed).
    pub(crate) fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(key);
    }

    /// Drops every entry (a change that may touch many of them).
    pub(crate) fn clear(&self) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_their_time_to_live() {
        let cache = TtlCache::new(Duration::from_millis(30), 10);
        cache.insert_since(cache.generation(), "a", 1);
        assert_eq!(cache.get("a"), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn a_value_read_before_a_removal_is_not_stored() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        let before_read = cache.generation();
        cache.remove("a");
        cache.insert_since(before_read, "a", 1);
        assert_eq!(cache.get("a"), None);
        cache.insert_since(cache.generation(), "a", 2);
        assert_eq!(cache.get("a"), Some(2));
        cache.clear();
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn a_full_cache_makes_room_instead_of_growing() {
        let cache = TtlCache::new(Duration::from_secs(60), 3);
        for (i, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
            cache.insert_since(cache.generation(), key, i);
        }
        assert_eq!(cache.get("d"), Some(3));
        assert!(cache.lock().len() <= 3);
    }
}
