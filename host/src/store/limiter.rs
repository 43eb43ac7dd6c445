//! Rate limits as the store keeps them: the [`Limiter`] trait, and
//! [`LocalLimiter`], its implementation in this process's memory.
//!
//! A limiter admits one request under a [`Quota`] (requests per minute,
//! with bursts of up to `burst` at once) by GCRA, or says when to retry;
//! an episode of throttling (from the first throttled request until a
//! minute passes without one) is reported once, for alerting.
//!
//! [`LocalLimiter`] uses the `governor` crate's GCRA. It is exact for the
//! process that holds it, which is enough for the embedded store: one
//! server owns its data directory, so [`super::SqliteState`] (which
//! implements [`Limiter`] with one) is the only limiter of its projects. A
//! store shared by replicas (PostgreSQL) implements [`Limiter`] in the
//! store itself (a GCRA "theoretical arrival time" per key, updated with a
//! conditional write), so that a limit does not multiply with replicas.

use governor::clock::{Clock, DefaultClock};
use governor::{Quota as GovernorQuota, RateLimiter};
use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Mutex;

/// How long without a throttled request ends an episode (microseconds).
pub const EPISODE_GAP_US: i64 = 60_000_000;

/// A rate: requests per minute, and how many may come at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests per minute (sustained).
    pub per_minute: u32,
    /// Requests that may come at once after a quiet spell (1 to
    /// `per_minute`).
    pub burst: u32,
}

/// A request over its rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// When a request would next be admitted, from now (milliseconds,
    /// at least 1).
    pub retry_after_ms: u64,
    /// Whether this starts an episode (it alerts).
    pub new_episode: bool,
}

/// Admits requests under their quotas, by project and key (an agent's
/// name, or `""` for the project's own limit).
pub trait Limiter: Send + Sync {
    /// Admits one request of `key` of `project` under `quota` at `now`
    /// (Unix microseconds), or says when to retry. A quota that changes
    /// takes effect at once (its limiter starts afresh).
    fn admit(
        &self,
        project: &str,
        key: &str,
        quota: Quota,
        now: i64,
    ) -> impl Future<Output = Result<(), Throttled>> + Send;

    /// Forgets limiters unused for `idle_us` (a limiter idle for a minute
    /// is full again anyway).
    fn forget_idle(&self, now: i64, idle_us: i64);
}

type Direct = governor::DefaultDirectRateLimiter;

struct Bucket {
    quota: Quota,
    gcra: Direct,
    /// The last throttled request (Unix microseconds).
    last_throttled: Option<i64>,
    used_at: i64,
}

/// GCRA limiters in this process's memory, by project and key.
#[derive(Default)]
pub struct LocalLimiter {
    buckets: Mutex<HashMap<String, HashMap<String, Bucket>>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for LocalLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLimiter").finish_non_exhaustive()
    }
}

impl LocalLimiter {
    /// No limiters yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// [`Limiter::admit`], at once.
    pub fn check(&self, project: &str, key: &str, quota: Quota, now: i64) -> Result<(), Throttled> {
        let burst = quota.burst.clamp(1, quota.per_minute.max(1));
        let (Some(rate), Some(b)) = (NonZeroU32::new(quota.per_minute), NonZeroU32::new(burst))
        else {
            // A zero rate never passes the policy's check; admit nothing.
            return Err(Throttled {
                retry_after_ms: 60_000,
                new_episode: false,
            });
        };
        let Ok(mut all) = self.buckets.lock() else {
            return Err(Throttled {
                retry_after_ms: 1000,
                new_episode: false,
            });
        };
        let keys = match all.get_mut(project) {
            Some(k) => k,
            None => all.entry(project.to_owned()).or_default(),
        };
        let fresh = || Bucket {
            quota,
            gcra: RateLimiter::direct(GovernorQuota::per_minute(rate).allow_burst(b)),
            last_throttled: None,
            used_at: now,
        };
        let bucket = match keys.get_mut(key) {
            Some(l) if l.quota == quota => l,
            Some(l) => {
                *l = fresh();
                l
            }
            None => keys.entry(key.to_owned()).or_insert_with(fresh),
        };
        bucket.used_at = now;
        match bucket.gcra.check() {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let new_episode = bucket
                    .last_throttled
                    .is_none_or(|t| now.saturating_sub(t) > EPISODE_GAP_US);
                bucket.last_throttled = Some(now);
                Err(Throttled {
                    retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
                    new_episode,
                })
            }
        }
    }
}

impl Limiter for LocalLimiter {
    fn admit(
        &self,
        project: &str,
        key: &str,
        quota: Quota,
        now: i64,
    ) -> impl Future<Output = Result<(), Throttled>> + Send {
        std::future::ready(self.check(project, key, quota, now))
    }

    fn forget_idle(&self, now: i64, idle_us: i64) {
        if let Ok(mut all) = self.buckets.lock() {
            for keys in all.values_mut() {
                keys.retain(|_, l| now.saturating_sub(l.used_at) < idle_us);
            }
            all.retain(|_, k| !k.is_empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(per_minute: u32, burst: u32) -> Quota {
        Quota { per_minute, burst }
    }

    #[test]
    fn a_burst_passes_then_requests_are_throttled_with_a_retry_time() {
        let l = LocalLimiter::new();
        let q = quota(30, 3);
        for _ in 0..3 {
            assert_eq!(l.check("p", "a", q, 0), Ok(()));
        }
        let t = l.check("p", "a", q, 0).unwrap_err();
        assert!(t.new_episode);
        // One request every 2 s.
        assert!(t.retry_after_ms > 0 && t.retry_after_ms <= 2000, "{t:?}");
        // The same episode does not alert again.
        assert!(!l.check("p", "a", q, 1_000_000).unwrap_err().new_episode);
        // Another key, another project: their own limiters.
        assert_eq!(l.check("p", "b", q, 0), Ok(()));
        assert_eq!(l.check("q", "a", q, 0), Ok(()));
    }

    #[test]
    fn a_changed_quota_takes_effect_at_once() {
        let l = LocalLimiter::new();
        for _ in 0..2 {
            assert_eq!(l.check("p", "a", quota(60, 2), 0), Ok(()));
        }
        assert!(l.check("p", "a", quota(60, 2), 0).is_err());
        assert_eq!(l.check("p", "a", quota(600, 5), 0), Ok(()));
    }
}
