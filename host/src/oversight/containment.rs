//! The kill switch: sessions killed, agents suspended, projects paused
//! ([`Containment`]).
//!
//! Each hold is kept in its project's state (kind `hold`), so that it
//! survives a restart, and in memory, so that the decision path checks it
//! with hash lookups, never a store read (except a project's first check
//! after a start, which reads its holds once).
//!
//! "The next decision is denied" is meant strictly: a decision holds its
//! project's [`Containment::enter`] guard from its first check until its
//! answer is recorded, and a hold is put in force only once every decision
//! of the project under way has been recorded (new ones wait meanwhile).
//! So every decision recorded after a hold's call returns was checked
//! against it: none is an allow it stops. Other projects never wait.
//! Holds are taken and released one at a time; a project's first read only
//! ever fills in a project nobody wrote yet, so it never overwrites a hold.
//!
//! A killed session stays killed (its id is burnt); an agent is suspended
//! and a project paused until resumed.

use crate::store::{Expect, Key, Op, State};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The state kind holds are kept under.
pub const KIND: &str = "hold";

/// What a hold stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One session (by its id, whichever agent uses it).
    Session,
    /// One agent.
    Agent,
    /// The whole project.
    Project,
}

impl Scope {
    /// The machine-readable cause of the denials it gives:
    /// `session_killed`, `agent_suspended` or `project_paused`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Session => "session_killed",
            Self::Agent => "agent_suspended",
            Self::Project => "project_paused",
        }
    }

    /// `session`, `agent`, `project`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Agent => "agent",
            Self::Project => "project",
        }
    }
}

/// One hold: what it stops, who took it, why, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// What it stops.
    pub scope: Scope,
    /// The session's id or the agent's name (the project's name for a
    /// project).
    pub target: String,
    /// Who took it.
    pub by: String,
    /// Why.
    pub reason: String,
    /// When (Unix microseconds).
    pub at: i64,
}

impl Hold {
    /// The reason a decision it stops is given: names the action, who took
    /// it, when and why.
    pub fn denial(&self) -> String {
        let when = jiff::Timestamp::from_microsecond(self.at)
            .map(|t| t.to_string())
            .unwrap_or_default();
        let what = match self.scope {
            Scope::Session => format!("session `{}` was killed", self.target),
            Scope::Agent => format!("agent `{}` is suspended", self.target),
            Scope::Project => format!("project `{}` is paused", self.target),
        };
        format!("denied: {what} by {} at {when}: {}", self.by, self.reason)
    }

    fn key_id(&self) -> String {
        key_id(self.scope, &self.target)
    }
}

fn key_id(scope: Scope, target: &str) -> String {
    match scope {
        Scope::Project => "project".to_owned(),
        s => format!("{}/{target}", s.as_str()),
    }
}

/// What [`Containment::hold`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The hold of the same scope and target it replaced, if any.
    pub replaced: Option<Hold>,
    /// Why it is in force on this server only, not saved (it will not
    /// survive a restart); `None` once saved.
    pub unsaved: Option<String>,
}

/// One project's holds, as the decision path reads them.
#[derive(Debug, Clone, Default)]
struct Holds {
    project: Option<Hold>,
    agents: HashMap<String, Hold>,
    sessions: HashMap<String, Hold>,
}

impl Holds {
    fn find(&self, agent: &str, session: &str) -> Option<&Hold> {
        self.project
            .as_ref()
            .or_else(|| self.agents.get(agent))
            .or_else(|| self.sessions.get(session))
    }

    fn insert(&mut self, h: Hold) {
        match h.scope {
            Scope::Project => self.project = Some(h),
            Scope::Agent => {
                self.agents.insert(h.target.clone(), h);
            }
            Scope::Session => {
                self.sessions.insert(h.target.clone(), h);
            }
        }
    }

    fn remove(&mut self, scope: Scope, target: &str) -> Option<Hold> {
        match scope {
            Scope::Project => self.project.take(),
            Scope::Agent => self.agents.remove(target),
            Scope::Session => self.sessions.remove(target),
        }
    }

    fn all(&self) -> Vec<Hold> {
        let mut out: Vec<Hold> = self
            .project
            .iter()
            .chain(self.agents.values())
            .chain(self.sessions.values())
            .cloned()
            .collect();
        out.sort_by_key(|h| h.at);
        out
    }
}

/// The holds of every project, over a state store `S`.
#[derive(Debug)]
pub struct Containment<S> {
    state: Arc<S>,
    /// Each project's holds, once read; replaced whole on every change.
    projects: RwLock<HashMap<String, Arc<Holds>>>,
    /// Taken by every change: one at a time.
    writer: tokio::sync::Mutex<()>,
    /// Per project: read by each decision under way, written to put a
    /// hold in force (or to wait for the decisions under way: [`drain`]).
    ///
    /// [`drain`]: Containment::drain
    inflight: RwLock<HashMap<String, Arc<tokio::sync::RwLock<()>>>>,
}

fn poisoned() -> Error {
    Error::Engine("the containment table's lock is poisoned".into())
}

impl<S: State> Containment<S> {
    /// Holds kept in `state`.
    pub fn new(state: Arc<S>) -> Self {
        Self {
            state,
            projects: RwLock::new(HashMap::new()),
            writer: tokio::sync::Mutex::new(()),
            inflight: RwLock::new(HashMap::new()),
        }
    }

    /// The drain lock of `project`.
    fn lock_of(&self, project: &str) -> Arc<tokio::sync::RwLock<()>> {
        if let Some(l) = self
            .inflight
            .read()
            .ok()
            .and_then(|m| m.get(project).cloned())
        {
            return l;
        }
        match self.inflight.write() {
            Ok(mut m) => m.entry(project.to_owned()).or_default().clone(),
            // A poisoned map: a lock of its own still orders this caller.
            Err(_) => Arc::default(),
        }
    }

    /// Held by a decision of `project` from its first check to its
    /// recorded answer: a hold in the project waits for every decision
    /// holding it (and new ones wait for the hold). Other projects are not
    /// held up.
    pub async fn enter(&self, project: &str) -> tokio::sync::OwnedRwLockReadGuard<()> {
        self.lock_of(project).read_owned().await
    }

    /// Waits until every decision of `project` under way has answered (new
    /// ones wait meanwhile): after a grant is revoked, say, no decision
    /// that read it is still to answer.
    pub async fn drain(&self, project: &str) {
        drop(self.lock_of(project).write().await);
    }

    fn cached(&self, project: &str) -> Result<Option<Arc<Holds>>> {
        let map = self.projects.read().map_err(|_| poisoned())?;
        Ok(map.get(project).cloned())
    }

    /// The project's holds, read from the store if this is its first use
    /// here (then kept only if nobody filled them in meanwhile: a hold
    /// taken during the read wins).
    async fn loaded(&self, project: &str) -> Result<Arc<Holds>> {
        if let Some(h) = self.cached(project)? {
            return Ok(h);
        }
        let mut holds = Holds::default();
        self.state
            .for_each(project, KIND, |id, v| {
                let h: Hold = serde_json::from_str(&v.value).map_err(|e| {
                    Error::Engine(format!(
                        "hold `{id}` of project `{project}` is unreadable: {e}"
                    ))
                })?;
                holds.insert(h);
                Ok(())
            })
            .await?;
        let mut map = self.projects.write().map_err(|_| poisoned())?;
        Ok(map
            .entry(project.to_owned())
            .or_insert_with(|| Arc::new(holds))
            .clone())
    }

    /// The hold that stops `agent` in `session` of `project`, if any: the
    /// project's pause, then the agent's suspension, then the session's
    /// kill. An error (the store could not be read on the project's first
    /// check) must deny.
    pub async fn check(&self, project: &str, agent: &str, session: &str) -> Result<Option<Hold>> {
        let holds = self.loaded(project).await?;
        Ok(holds.find(agent, session).cloned())
    }

    /// Takes `hold` in `project`: in force here once the decisions under
    /// way have answered (before this returns), then written to the store. `Err` only if it could not be
    /// put in force (the project's holds could not be read); a failed
    /// write leaves it in force on this server, and [`Held::unsaved`] says
    /// why it will not survive a restart. Never call it while holding
    /// [`Containment::enter`]'s guard (from the decision path): it would
    /// wait for itself; spawn it instead.
    pub async fn hold(&self, project: &str, hold: Hold) -> Result<Held> {
        let _w = self.writer.lock().await;
        let current = self.loaded(project).await?;
        let mut next = (*current).clone();
        let replaced = next.remove(hold.scope, &hold.target);
        next.insert(hold.clone());
        {
            let lock = self.lock_of(project);
            let _drained = lock.write().await;
            self.projects
                .write()
                .map_err(|_| poisoned())?
                .insert(project.to_owned(), Arc::new(next));
        }
        let saved = match serde_json::to_string(&hold) {
            Ok(value) => {
                let key = Key::new(project, KIND, hold.key_id());
                match self.state.put(key, value, Expect::Any).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(c)) => Err(format!("the store refused the write: {c:?}")),
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => Err(format!("cannot encode the hold: {e}")),
        };
        if let Err(why) = &saved {
            tracing::error!(project, target = %hold.target, error = %why, "a hold is in force but not saved: it will not survive a restart");
        }
        Ok(Held {
            replaced,
            unsaved: saved.err(),
        })
    }

    /// Releases the hold of `scope` on `target` in `project` (resume):
    /// removed from the store first, then from memory, so that a failure
    /// leaves it in force. Returns it, or `None` if there was none.
    pub async fn release(&self, project: &str, scope: Scope, target: &str) -> Result<Option<Hold>> {
        let _w = self.writer.lock().await;
        let current = self.loaded(project).await?;
        let mut next = (*current).clone();
        let Some(released) = next.remove(scope, target) else {
            return Ok(None);
        };
        let op = Op::Delete {
            key: Key::new(project, KIND, key_id(scope, target)),
            expect: Expect::Any,
        };
        self.state
            .transact(vec![op])
            .await?
            .map_err(|c| Error::Engine(format!("a hold could not be removed: {c:?}")))?;
        self.projects
            .write()
            .map_err(|_| poisoned())?
            .insert(project.to_owned(), Arc::new(next));
        Ok(Some(released))
    }

    /// Every hold of `project`, oldest first.
    pub async fn list(&self, project: &str) -> Result<Vec<Hold>> {
        Ok(self.loaded(project).await?.all())
    }
}

#[cfg(test)]
mod tests;
