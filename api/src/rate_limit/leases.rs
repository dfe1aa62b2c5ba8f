//! Tokens a replica took from a shared bucket ahead of its next requests.
//!
//! Charging the shared bucket (the database or Redis) on every request costs one round trip
//! per request, and on PostgreSQL one row lock that every replica serving the organization
//! queues on. For a bucket with a large limit the replica instead asks for a tenth of a
//! second's worth of tokens at once ([`lease_size`]) and spends them from memory; a bucket of
//! 60,000 per minute is charged about once per hundred requests.
//!
//! The shared bucket is debited for the whole lease when it is granted, so the replicas
//! together still never let through more than the limit. What a lease costs is fairness at
//! the very edge of the limit: tokens one replica holds are not available to another, and a
//! lease unused after [`LEASE_TTL`] is dropped (not given back), so a deployment at its
//! limit may refuse slightly early: at most one lease per replica per [`LEASE_TTL`], a
//! fraction of a percent of the limit. Buckets of less than [`LEASE_FROM`] per minute (every
//! plan's default, and every per-address limit) get no leases: each request is charged on
//! its own, exactly as before.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The smallest limit per minute that is leased: below it a tenth of a second's worth of
/// tokens is less than two.
pub const LEASE_FROM: u32 = 1_200;
/// The most tokens one lease holds.
pub const MAX_LEASE: u32 = 1_000;
/// How long a lease may be spent: a lease older than this is dropped, so tokens taken in one
/// burst cannot be added to a refilled bucket much later.
pub const LEASE_TTL: Duration = Duration::from_secs(1);
/// More leases than this and the expired ones are dropped.
const PRUNE_ABOVE: usize = 10_000;

/// How many tokens to take from the shared bucket at once for a limit of `limit_per_min`:
/// a tenth of a second's worth at the steady rate (one below [`LEASE_FROM`]), at most
/// [`MAX_LEASE`].
pub fn lease_size(limit_per_min: u32) -> u32 {
    (limit_per_min / 600).clamp(1, MAX_LEASE)
}

#[derive(Debug)]
struct Lease {
    /// Tokens left to spend.
    tokens: u32,
    /// The limit they were taken for (a changed limit drops the lease).
    limit: u32,
    /// What the shared bucket held after the grant, for the headers.
    shared_left: f64,
    granted_at: Instant,
}

/// What spending a leased token reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spent {
    /// Tokens the organization has left, as far as this replica knows: the shared bucket at
    /// the last grant plus what this replica still holds.
    pub tokens_left: f64,
}

/// The leases this replica holds, by bucket key.
#[derive(Debug, Default)]
pub struct Leases {
    held: Mutex<HashMap<String, Lease>>,
}

impl Leases {
    /// Spends one token of the lease on `key` for `limit`, if this replica holds one that is
    /// younger than [`LEASE_TTL`] at `now`.
    pub fn spend(&self, key: &str, limit: u32, now: Instant) -> Option<Spent> {
        let mut held = self.lock();
        let lease = held.get_mut(key)?;
        if lease.tokens == 0
            || lease.limit != limit
            || now.saturating_duration_since(lease.granted_at) >= LEASE_TTL
        {
            held.remove(key);
            return None;
        }
        lease.tokens -= 1;
        Some(Spent {
            tokens_left: lease.shared_left + f64::from(lease.tokens),
        })
    }

    /// Keeps `tokens` more for `key` (what a grant gave beyond the request that asked), with
    /// `shared_left` tokens left in the shared bucket after it. Tokens still held from an
    /// earlier grant for the same limit are kept: two requests that asked at the same time
    /// both add theirs.
    pub fn keep(&self, key: &str, limit: u32, tokens: u32, shared_left: f64, now: Instant) {
        if tokens == 0 {
            return;
        }
        let mut held = self.lock();
        if held.len() > PRUNE_ABOVE {
            held.retain(|_, lease| now.saturating_duration_since(lease.granted_at) < LEASE_TTL);
        }
        let carried = held
            .get(key)
            .filter(|lease| {
                lease.limit == limit && now.saturating_duration_since(lease.granted_at) < LEASE_TTL
            })
            .map_or(0, |lease| lease.tokens);
        held.insert(
            key.to_owned(),
            Lease {
                tokens: carried.saturating_add(tokens),
                limit,
                shared_left,
                granted_at: now,
            },
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lease>> {
        // A poisoned lock only means a panic elsewhere mid-update; the map is still usable.
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_limits_are_not_leased_and_large_ones_a_tenth_of_a_second_at_a_time() {
        assert_eq!(lease_size(60), 1);
        assert_eq!(lease_size(300), 1);
        assert_eq!(lease_size(LEASE_FROM - 1), 1);
        assert_eq!(lease_size(LEASE_FROM), 2);
        assert_eq!(lease_size(60_000), 100);
        assert_eq!(lease_size(100_000_000), MAX_LEASE);
    }

    #[test]
    fn a_lease_is_spent_one_token_at_a_time_then_asks_again() {
        let leases = Leases::default();
        let now = Instant::now();
        assert_eq!(leases.spend("org:a", 6_000, now), None);
        leases.keep("org:a", 6_000, 2, 90.0, now);
        assert_eq!(
            leases.spend("org:a", 6_000, now),
            Some(Spent { tokens_left: 91.0 })
        );
        assert_eq!(
            leases.spend("org:a", 6_000, now),
            Some(Spent { tokens_left: 90.0 })
        );
        assert_eq!(leases.spend("org:a", 6_000, now), None);
        assert_eq!(leases.spend("org:b", 6_000, now), None, "keys do not share");
    }

    #[test]
    fn an_old_lease_or_one_for_another_limit_is_dropped() {
        let leases = Leases::default();
        let now = Instant::now();
        leases.keep("org:a", 6_000, 5, 0.0, now);
        assert_eq!(leases.spend("org:a", 3_000, now), None, "the limit changed");
        assert_eq!(
            leases.spend("org:a", 6_000, now),
            None,
            "and the lease is gone"
        );
        leases.keep("org:a", 6_000, 5, 0.0, now);
        assert!(leases.spend("org:a", 6_000, now + LEASE_TTL / 2).is_some());
        assert_eq!(leases.spend("org:a", 6_000, now + LEASE_TTL), None);
    }

    #[test]
    fn grants_that_arrive_together_add_up() {
        let leases = Leases::default();
        let now = Instant::now();
        leases.keep("org:a", 6_000, 3, 50.0, now);
        leases.keep("org:a", 6_000, 3, 47.0, now);
        let spent: Vec<_> = (0..7).map(|_| leases.spend("org:a", 6_000, now)).collect();
        assert_eq!(spent.iter().filter(|s| s.is_some()).count(), 6);
        assert_eq!(spent[0], Some(Spent { tokens_left: 52.0 }));
    }
}
