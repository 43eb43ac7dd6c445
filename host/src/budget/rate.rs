//! Rate limits ([`Rates`]): requests per minute of each agent, and of each
//! project's agents together, by GCRA (the `governor` crate): a steady
//! rate with bursts of up to `burst` at once. A request over its limit is
//! answered `throttled` with when to retry; an episode of throttling (from
//! the first throttled request until a minute passes without one) alerts
//! once. Sustained, an agent gets `max_requests_per_minute`; after a quiet
//! minute, up to `burst` (default: the whole minute's) may come at once,
//! so a minute can see up to `burst` more than the rate (set `burst`
//! lower to hold bursts tighter).
//!
//! The limiters are in this process's memory: one server per data
//! directory, so they are exact for it. A limiter is rebuilt when its
//! rate changes in the policy; one unused for an hour is forgotten.

use crate::policy::model::RateLimits;
use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;

/// How long without a throttled request ends an episode (microseconds).
pub const EPISODE_GAP_US: i64 = 60_000_000;

type Direct = governor::DefaultDirectRateLimiter;

struct Limiter {
    per_minute: u32,
    burst: u32,
    gcra: Direct,
    /// The last throttled request (Unix microseconds).
    last_throttled: Option<i64>,
    used_at: i64,
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

/// The server's rate limiters, by project and agent (`""`: the project's
/// own).
#[derive(Default)]
pub struct Rates {
    limiters: Mutex<HashMap<String, HashMap<String, Limiter>>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for Rates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rates").finish_non_exhaustive()
    }
}

/// The burst a limit allows: its own, else a whole minute's
/// (`governor`'s `Quota::per_minute`: up to `n` at once, refilled at `n`
/// a minute).
pub fn burst_of(r: &RateLimits) -> u32 {
    r.burst
        .unwrap_or(r.max_requests_per_minute)
        .clamp(1, r.max_requests_per_minute.max(1))
}

impl Rates {
    /// No limiters yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Admits one request of `agent` (`""` for the project's limit) of
    /// `project` under `limit`, or says when to retry.
    pub fn check(
        &self,
        project: &str,
        agent: &str,
        limit: &RateLimits,
        now: i64,
    ) -> Result<(), Throttled> {
        let per_minute = limit.max_requests_per_minute;
        let burst = burst_of(limit);
        let (Some(rate), Some(b)) = (NonZeroU32::new(per_minute), NonZeroU32::new(burst)) else {
            // A zero rate never passes the policy's check; admit nothing.
            return Err(Throttled {
                retry_after_ms: 60_000,
                new_episode: false,
            });
        };
        let Ok(mut all) = self.limiters.lock() else {
            return Err(Throttled {
                retry_after_ms: 1000,
                new_episode: false,
            });
        };
        let agents = match all.get_mut(project) {
            Some(a) => a,
            None => all.entry(project.to_owned()).or_default(),
        };
        let fresh = || Limiter {
            per_minute,
            burst,
            gcra: RateLimiter::direct(Quota::per_minute(rate).allow_burst(b)),
            last_throttled: None,
            used_at: now,
        };
        let limiter = match agents.get_mut(agent) {
            Some(l) if l.per_minute == per_minute && l.burst == burst => l,
            Some(l) => {
                *l = fresh();
                l
            }
            None => agents.entry(agent.to_owned()).or_insert_with(fresh),
        };
        limiter.used_at = now;
        match limiter.gcra.check() {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let new_episode = limiter
                    .last_throttled
                    .is_none_or(|t| now.saturating_sub(t) > EPISODE_GAP_US);
                limiter.last_throttled = Some(now);
                Err(Throttled {
                    retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
                    new_episode,
                })
            }
        }
    }

    /// Forgets limiters unused for `idle_us`.
    pub fn sweep(&self, now: i64, idle_us: i64) {
        if let Ok(mut all) = self.limiters.lock() {
            for agents in all.values_mut() {
                agents.retain(|_, l| now.saturating_sub(l.used_at) < idle_us);
            }
            all.retain(|_, a| !a.is_empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_minute: u32, burst: Option<u32>) -> RateLimits {
        RateLimits {
            max_requests_per_minute: per_minute,
            burst,
            ..RateLimits::default()
        }
    }

    #[test]
    fn a_burst_passes_then_requests_are_throttled_with_a_retry_time() {
        let rates = Rates::new();
        let l = limit(30, Some(3));
        for _ in 0..3 {
            assert_eq!(rates.check("p", "a", &l, 0), Ok(()));
        }
        let t = rates.check("p", "a", &l, 0).unwrap_err();
        assert!(t.new_episode);
        // One request every 2 s.
        assert!(t.retry_after_ms > 0 && t.retry_after_ms <= 2000, "{t:?}");
        // The same episode does not alert again.
        assert!(
            !rates
                .check("p", "a", &l, 1_000_000)
                .unwrap_err()
                .new_episode
        );
        // Another agent, another project: their own limiters.
        assert_eq!(rates.check("p", "b", &l, 0), Ok(()));
        assert_eq!(rates.check("q", "a", &l, 0), Ok(()));
    }

    #[test]
    fn a_changed_rate_takes_effect_at_once() {
        let rates = Rates::new();
        for _ in 0..2 {
            assert_eq!(rates.check("p", "a", &limit(60, Some(2)), 0), Ok(()));
        }
        assert!(rates.check("p", "a", &limit(60, Some(2)), 0).is_err());
        assert_eq!(rates.check("p", "a", &limit(600, Some(5)), 0), Ok(()));
    }

    #[test]
    fn the_default_burst_is_a_whole_minute() {
        assert_eq!(burst_of(&limit(30, None)), 30);
        assert_eq!(burst_of(&limit(30, Some(3))), 3);
        assert_eq!(burst_of(&limit(30, Some(50))), 30);
    }
}
