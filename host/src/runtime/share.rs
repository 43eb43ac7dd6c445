//! A plugin's share of the engine: the most instances it may keep alive
//! (busy or idle, which also bounds its calls in flight), the most calls
//! one agent may have in flight to it, and the most one project's agents
//! together may.
//!
//! The runtime keeps one share per plugin name, which every generation of
//! the plugin loaded with the same bounds uses: a reload does not double a
//! plugin's share while calls on the previous policy finish. An instance
//! holds one permit of its share from instantiation until it is dropped;
//! when none is free, an idle instance of the plugin (of any generation) is
//! dropped to free one, and only when every instance is busy does the call
//! fail, with [`Error::TooManyCalls`].

use super::caller::Caller;
use super::pool::Idle;
use crate::error::Error;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bounds of one plugin name.
pub(crate) struct Share {
    max_instances: u32,
    max_calls_per_agent: u32,
    max_calls_per_project: u32,
    permits: Arc<Semaphore>,
    /// Calls in flight by (project, agent) and by project.
    calls: Mutex<InFlight>,
    /// The idle pools of the generations that use this share.
    pools: Mutex<Vec<Weak<Idle>>>,
}

impl Share {
    /// A share of `max_instances` live instances, `max_calls_per_agent`
    /// calls in flight per agent and `max_calls_per_project` per project.
    pub(crate) fn new(
        max_instances: u32,
        max_calls_per_agent: u32,
        max_calls_per_project: u32,
    ) -> Arc<Self> {
        Arc::new(Self {
            max_instances,
            max_calls_per_agent,
            max_calls_per_project,
            permits: Arc::new(Semaphore::new(
                usize::try_from(max_instances).unwrap_or(usize::MAX),
            )),
            calls: Mutex::new(InFlight::default()),
            pools: Mutex::new(Vec::new()),
        })
    }

    /// True when this share has exactly these bounds.
    pub(crate) fn has_bounds(&self, max_instances: u32, per_agent: u32, per_project: u32) -> bool {
        self.max_instances == max_instances
            && self.max_calls_per_agent == per_agent
            && self.max_calls_per_project == per_project
    }

    /// Adds a generation's idle pool, so that its instances can be evicted
    /// to make room for another generation's.
    pub(crate) fn register(&self, pool: &Arc<Idle>) {
        if let Ok(mut pools) = self.pools.lock() {
            pools.retain(|p| p.strong_count() > 0);
            pools.push(Arc::downgrade(pool));
        }
    }

    /// Counts a call of `caller` in flight, or refuses it when the agent
    /// already has its limit of calls in flight to this plugin.
    pub(crate) fn admit(
        self: &Arc<Self>,
        plugin: &str,
        caller: &Caller,
    ) -> crate::Result<AgentSlot> {
        let key = (caller.project.clone(), caller.agent.clone());
        let mut calls = self
            .calls
            .lock()
            .map_err(|_| Error::Engine("a plugin's call counter is poisoned".into()))?;
        if calls.agents.get(&key).copied().unwrap_or(0) >= self.max_calls_per_agent {
            return Err(Error::TooManyCalls {
                plugin: plugin.to_owned(),
                limit: self.max_calls_per_agent,
                scope: format!("in flight for agent `{}`", caller.agent),
                setting: "max_calls_per_agent",
            });
        }
        if calls.projects.get(&caller.project).copied().unwrap_or(0) >= self.max_calls_per_project {
            return Err(Error::TooManyCalls {
                plugin: plugin.to_owned(),
                limit: self.max_calls_per_project,
                scope: format!("in flight for project `{}`", caller.project),
                setting: "max_calls_per_project",
            });
        }
        *calls.agents.entry(key.clone()).or_insert(0) += 1;
        *calls.projects.entry(caller.project.clone()).or_insert(0) += 1;
        Ok(AgentSlot {
            share: self.clone(),
            key,
        })
    }

    /// A permit for a new instance. When none is free, idle instances are
    /// dropped (the oldest of `own` first, then of the plugin's other
    /// generations) until one is; when none is idle, every instance is busy
    /// and the call is refused.
    pub(crate) fn permit(&self, plugin: &str, own: &Idle) -> crate::Result<OwnedSemaphorePermit> {
        loop {
            if let Ok(permit) = self.permits.clone().try_acquire_owned() {
                return Ok(permit);
            }
            match own.evict_oldest().or_else(|| self.evict_elsewhere()) {
                // Dropping the instance returns its permit.
                Some(warm) => drop(warm),
                None => {
                    return Err(Error::TooManyCalls {
                        plugin: plugin.to_owned(),
                        limit: self.max_instances,
                        scope: "in flight".into(),
                        setting: "max_instances",
                    });
                }
            }
        }
    }

    /// Instances alive under this share, busy or idle.
    pub(crate) fn live(&self) -> u32 {
        let free = u32::try_from(self.permits.available_permits()).unwrap_or(u32::MAX);
        self.max_instances.saturating_sub(free)
    }

    fn evict_elsewhere(&self) -> Option<super::instance::Warm> {
        let pools = self.pools.lock().ok()?;
        pools
            .iter()
            .filter_map(Weak::upgrade)
            .find_map(|p| p.evict_oldest())
    }
}

/// A call counted against its agent's and its project's limits until
/// dropped.
pub(crate) struct AgentSlot {
    share: Arc<Share>,
    key: (String, String),
}

/// Calls in flight; an entry lives only while a call does.
#[derive(Default)]
struct InFlight {
    agents: HashMap<(String, String), u32>,
    projects: HashMap<String, u32>,
}

/// Counts one down, and forgets the key at zero.
fn release<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, u32>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(key);
        }
    }
}

impl Drop for AgentSlot {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.share.calls.lock() {
            release(&mut calls.agents, &self.key);
            release(&mut calls.projects, &self.key.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_is_held_to_its_calls_in_flight_and_others_are_not() {
        let share = Share::new(8, 2, u32::MAX);
        let alice = Caller::new("p", "alice", "s", "r");
        let bob = Caller::new("p", "bob", "s", "r");
        let a1 = share.admit("x", &alice);
        let a2 = share.admit("x", &alice);
        assert!(a1.is_ok() && a2.is_ok());
        let refused = share.admit("x", &alice).map(|_| ()).unwrap_err();
        assert_eq!(refused.kind(), "too_many_calls");
        assert!(refused.to_string().contains("agent `alice`"), "{refused}");
        assert!(share.admit("x", &bob).is_ok());
        drop(a1);
        assert!(
            share.admit("x", &alice).is_ok(),
            "a finished call frees its slot"
        );
        drop(a2);
        // The slots taken by that last admit and by bob's are dropped too.
        let empty = |s: &Share| {
            s.calls
                .lock()
                .map(|c| c.agents.is_empty() && c.projects.is_empty())
                .unwrap_or(false)
        };
        assert!(empty(&share));
    }

    #[test]
    fn a_project_is_held_to_its_calls_in_flight_and_other_projects_are_not() {
        let share = Share::new(8, 2, 3);
        let caller = |project: &str, agent: &str| Caller::new(project, agent, "s", "r");
        let held: Vec<_> = [("a", "x"), ("a", "x"), ("a", "y")]
            .iter()
            .map(|(p, agent)| share.admit("x", &caller(p, agent)))
            .collect();
        assert!(held.iter().all(Result::is_ok));
        // Project a's third agent is refused: its project is at its bound.
        let refused = share.admit("x", &caller("a", "z")).map(|_| ()).unwrap_err();
        assert_eq!(refused.kind(), "too_many_calls");
        assert!(refused.to_string().contains("project `a`"), "{refused}");
        // Project b's agent of the same name is not.
        assert!(share.admit("x", &caller("b", "z")).is_ok());
        drop(held);
        assert!(share.admit("x", &caller("a", "z")).is_ok());
    }

    #[test]
    fn permits_run_out_when_every_instance_is_busy() {
        let share = Share::new(2, 2, u32::MAX);
        let idle = Idle::new(4);
        let p1 = share.permit("x", &idle);
        let p2 = share.permit("x", &idle);
        assert!(p1.is_ok() && p2.is_ok());
        let refused = share.permit("x", &idle).map(|_| ()).unwrap_err();
        assert_eq!(refused.kind(), "too_many_calls");
        drop(p1);
        assert!(share.permit("x", &idle).is_ok());
    }
}
