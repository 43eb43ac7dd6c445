//! Just-in-time elevation: grants ([`Grants`]), temporary allow rules for
//! one agent, given by an administrator or approver of its project (or by
//! an approval approved "for 30 minutes"), kept in the project's state
//! (kind `grant`) and in memory.
//!
//! A grant is a rule (service, actions, resources, qualifiers) with an
//! expiry. It is matched by the service's own plugin, with the plugin's
//! semantics (IAM wildcards, git refs): when the policy's answer is
//! `approval_required`, or `deny` only because no rule allowed it, the
//! chain is asked again with the agent's live grants as its only rules,
//! and an `allow` from that stands. A `deny` of a rule or of a custom
//! plugin is never overridden, nor is a failure.

use crate::runtime::types::{Effect, Qualifier, Rule};
use crate::store::{Expect, Key, State};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

/// The state kind grants are kept under.
pub const KIND: &str = "grant";

/// At most this many live grants per agent.
pub const MAX_LIVE_PER_AGENT: usize = 50;

/// Where a grant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStage {
    /// In force until it expires.
    Active,
    /// Revoked before its expiry.
    Revoked,
    /// Past its expiry (written down by the sweep).
    Expired,
}

/// One grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Its id (`grt_…`).
    pub id: String,
    /// The project.
    pub project: String,
    /// The agent it elevates.
    pub agent: String,
    /// The service.
    pub service: String,
    /// Action patterns, as in a rule.
    pub actions: Vec<String>,
    /// Resource patterns, as in a rule.
    pub resources: Vec<String>,
    /// Qualifiers (e.g. `branch: [main]`), as in a rule.
    #[serde(default)]
    pub qualifiers: BTreeMap<String, Vec<String>>,
    /// Who gave it.
    pub by: String,
    /// Why.
    pub reason: String,
    /// The approval it came from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// Whether it allows exactly one request (an approval given "for" a
    /// while): its one action, one resource and its qualifiers as the
    /// request's whole attributes, compared as written, not as patterns.
    #[serde(default)]
    pub exact: bool,
    /// When (Unix microseconds).
    pub created_at: i64,
    /// Until when (Unix microseconds).
    pub expires_at: i64,
    /// Where it is (as stored; an active grant past `expires_at` is over).
    pub stage: GrantStage,
    /// Who revoked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    /// When it was revoked or written down as expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
}

impl Grant {
    /// Whether it is in force at `now`.
    pub fn live_at(&self, now: i64) -> bool {
        self.stage == GrantStage::Active && now < self.expires_at
    }

    /// The stage as of `now`.
    pub fn stage_at(&self, now: i64) -> GrantStage {
        match self.stage {
            GrantStage::Active if now >= self.expires_at => GrantStage::Expired,
            s => s,
        }
    }

    /// What the host checks before the service's plugin is asked, so that
    /// a grant never covers more than it says whatever the plugin makes of
    /// it: an exact grant admits only its one request; any other grant
    /// admits a request only if each of its qualifiers names an attribute
    /// of the request whose value matches one of the qualifier's values
    /// (`*` matching any run of characters), so that a qualifier a plugin
    /// does not read still narrows.
    pub fn admits(&self, action: &str, resource: &str, attributes: &[(String, String)]) -> bool {
        if self.exact {
            let same_attributes = attributes.len() == self.qualifiers.len()
                && attributes.iter().all(|(k, v)| {
                    self.qualifiers
                        .get(k)
                        .is_some_and(|vs| vs.len() == 1 && vs[0] == *v)
                });
            return self.actions.len() == 1
                && self.actions[0] == action
                && self.resources.len() == 1
                && self.resources[0] == resource
                && same_attributes;
        }
        self.qualifiers.iter().all(|(name, values)| {
            attributes
                .iter()
                .find(|(k, _)| k == name)
                .is_some_and(|(_, v)| values.iter().any(|p| wildcard(p, v)))
        })
    }

    /// The id of its rule: `grant:<id>`.
    pub fn rule_id(&self) -> String {
        format!("grant:{}", self.id)
    }

    /// The allow rule it is, for the service's plugin.
    pub fn rule(&self) -> Rule {
        Rule {
            id: self.rule_id(),
            effect: Effect::Allow,
            actions: self.actions.clone(),
            resources: self.resources.clone(),
            qualifiers: self
                .qualifiers
                .iter()
                .map(|(name, values)| Qualifier {
                    name: name.clone(),
                    values: values.clone(),
                })
                .collect(),
            approval: None,
        }
    }
}

/// Why a grant step was refused; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantRefused {
    /// No such grant in the project.
    NotFound,
    /// It is revoked or expired already.
    Ended(GrantStage),
    /// The agent has [`MAX_LIVE_PER_AGENT`] live grants already.
    TooMany,
    /// Someone else changed it at the same moment; nothing was done.
    Raced,
    /// Its record could not be written, so it was not given.
    NotRecorded,
}

impl std::fmt::Display for GrantRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => f.write_str("no such grant"),
            Self::Ended(GrantStage::Revoked) => f.write_str("the grant is revoked already"),
            Self::Ended(_) => f.write_str("the grant is expired already"),
            Self::TooMany => write!(
                f,
                "the agent has {MAX_LIVE_PER_AGENT} live grants already; revoke some first"
            ),
            Self::Raced => f.write_str("the grant changed at the same moment; ask again"),
            Self::NotRecorded => f.write_str("the grant could not be recorded, so it is not given"),
        }
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of
/// characters (nothing else is special).
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// One project's live grants, by agent.
type Live = HashMap<String, Vec<Grant>>;

/// The grants of every project, over a state store `S`.
pub struct Grants<S> {
    state: Arc<S>,
    /// The longest a grant may last (seconds).
    max_ttl_s: u64,
    /// Each project's live grants (active when read; expired ones are
    /// skipped on use and dropped by the sweep), once read.
    projects: RwLock<HashMap<String, Arc<Live>>>,
    /// Taken by every change: one at a time.
    writer: tokio::sync::Mutex<()>,
}

impl<S> std::fmt::Debug for Grants<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grants")
            .field("max_ttl_s", &self.max_ttl_s)
            .finish_non_exhaustive()
    }
}

fn poisoned() -> Error {
    Error::Engine("the grant table's lock is poisoned".into())
}

fn decode(id: &str, value: &str) -> Result<Grant> {
    serde_json::from_str(value).map_err(|e| {
        Error::Engine(format!(
            "grant `{id}` in the state store is unreadable: {e}"
        ))
    })
}

fn encode(g: &Grant) -> Result<String> {
    serde_json::to_string(g).map_err(|e| Error::Engine(format!("cannot encode a grant: {e}")))
}

/// A new grant id: `grt_`, the time (ids sort by creation), 96 random bits.
pub fn new_id(now: i64) -> Result<String> {
    let mut b = [0u8; 12];
    getrandom::fill(&mut b).map_err(|e| Error::Engine(format!("no randomness for an id: {e}")))?;
    Ok(format!("grt_{:016x}{}", now.max(0), hex::encode(b)))
}

impl<S: State> Grants<S> {
    /// Grants kept in `state`, none longer than `max_ttl_s` seconds.
    pub fn new(state: Arc<S>, max_ttl_s: u64) -> Self {
        Self {
            state,
            max_ttl_s,
            projects: RwLock::new(HashMap::new()),
            writer: tokio::sync::Mutex::new(()),
        }
    }

    /// The longest a grant may last, in seconds.
    pub fn max_ttl_s(&self) -> u64 {
        self.max_ttl_s
    }

    /// The project's live grants, read from the store on its first use here
    /// (kept only if nobody filled them in meanwhile).
    async fn loaded(&self, project: &str) -> Result<Arc<Live>> {
        if let Some(l) = self
            .projects
            .read()
            .map_err(|_| poisoned())?
            .get(project)
            .cloned()
        {
            return Ok(l);
        }
        let mut live: Live = HashMap::new();
        self.state
            .for_each(project, KIND, |id, v| {
                let g = decode(&id, &v.value)?;
                if g.stage == GrantStage::Active {
                    live.entry(g.agent.clone()).or_default().push(g);
                }
                Ok(())
            })
            .await?;
        let mut map = self.projects.write().map_err(|_| poisoned())?;
        Ok(map
            .entry(project.to_owned())
            .or_insert_with(|| Arc::new(live))
            .clone())
    }

    fn replace(&self, project: &str, live: Live) -> Result<()> {
        self.projects
            .write()
            .map_err(|_| poisoned())?
            .insert(project.to_owned(), Arc::new(live));
        Ok(())
    }

    /// The grants in force at `now` for `agent` on `service` in `project`.
    /// An error (the store could not be read) grants nothing.
    pub async fn live(
        &self,
        project: &str,
        agent: &str,
        service: &str,
        now: i64,
    ) -> Result<Vec<Grant>> {
        let live = self.loaded(project).await?;
        Ok(live
            .get(agent)
            .map(|gs| {
                gs.iter()
                    .filter(|g| g.service == service && g.live_at(now))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Whether `agent` of `project` could be given one more grant at `now`.
    pub async fn has_room(&self, project: &str, agent: &str, now: i64) -> Result<bool> {
        let live = self.loaded(project).await?;
        Ok(live
            .get(agent)
            .is_none_or(|gs| gs.iter().filter(|g| g.live_at(now)).count() < MAX_LIVE_PER_AGENT))
    }

    /// Gives `grant` (its stage `active`, its expiry within the bound, the
    /// caller's to check): written to the store, recorded by `record`, and
    /// only then in force.
    pub async fn give<F>(
        &self,
        grant: Grant,
        now: i64,
        record: impl FnOnce(Grant) -> F,
    ) -> Result<std::result::Result<Grant, GrantRefused>>
    where
        F: std::future::Future<Output = bool>,
    {
        let _w = self.writer.lock().await;
        let current = self.loaded(&grant.project).await?;
        let mut next = (*current).clone();
        let mine = next.entry(grant.agent.clone()).or_default();
        // Expired ones stay until the sweep writes them down.
        if mine.iter().filter(|g| g.live_at(now)).count() >= MAX_LIVE_PER_AGENT {
            return Ok(Err(GrantRefused::TooMany));
        }
        let key = Key::new(&grant.project, KIND, &grant.id);
        self.state
            .put(key.clone(), encode(&grant)?, Expect::Absent)
            .await?
            .map_err(|c| Error::Engine(format!("grant id {} is taken ({c:?})", grant.id)))?;
        // In force only once recorded: a widening nobody can trace is not
        // given (it is written down as revoked instead).
        if !record(grant.clone()).await {
            let mut undone = grant.clone();
            undone.stage = GrantStage::Revoked;
            undone.revoked_by = Some("palisade (not recorded)".into());
            undone.ended_at = Some(now);
            if let Err(e) = self.state.put(key, encode(&undone)?, Expect::Any).await {
                tracing::error!(grant = %grant.id, error = %e, "a grant that could not be recorded is still active in the state store: it comes into force at the next start");
            }
            return Ok(Err(GrantRefused::NotRecorded));
        }
        mine.push(grant.clone());
        self.replace(&grant.project, next)?;
        Ok(Ok(grant))
    }

    /// Ends grant `id` of `project` as `stage` (revoked by `by`, or
    /// expired): written to the store, then out of force.
    async fn end(
        &self,
        project: &str,
        id: &str,
        stage: GrantStage,
        by: Option<&str>,
        now: i64,
    ) -> Result<std::result::Result<Grant, GrantRefused>> {
        let _w = self.writer.lock().await;
        let current = self.loaded(project).await?;
        let Some(v) = self.state.get(&Key::new(project, KIND, id)).await? else {
            return Ok(Err(GrantRefused::NotFound));
        };
        let mut g = decode(id, &v.value)?;
        if g.stage != GrantStage::Active {
            return Ok(Err(GrantRefused::Ended(g.stage)));
        }
        if stage == GrantStage::Revoked && !g.live_at(now) {
            return Ok(Err(GrantRefused::Ended(GrantStage::Expired)));
        }
        g.stage = stage;
        g.revoked_by = by.map(str::to_owned);
        g.ended_at = Some(now);
        let written = self
            .state
            .put(
                Key::new(project, KIND, id),
                encode(&g)?,
                Expect::Version(v.version),
            )
            .await?;
        if written.is_err() {
            return Ok(Err(GrantRefused::Raced));
        }
        let mut next = (*current).clone();
        if let Some(gs) = next.get_mut(&g.agent) {
            gs.retain(|x| x.id != id);
        }
        self.replace(project, next)?;
        Ok(Ok(g))
    }

    /// Revokes grant `id` of `project` (by `by`, at `now`).
    pub async fn revoke(
        &self,
        project: &str,
        id: &str,
        by: &str,
        now: i64,
    ) -> Result<std::result::Result<Grant, GrantRefused>> {
        self.end(project, id, GrantStage::Revoked, Some(by), now)
            .await
    }

    /// Writes down as expired the grants of `project` past their expiry at
    /// `now` (those in memory: every active grant is, once the project was
    /// used); returns them.
    pub async fn expire_due(&self, project: &str, now: i64) -> Result<Vec<Grant>> {
        let live = self.loaded(project).await?;
        let due: Vec<String> = live
            .values()
            .flatten()
            .filter(|g| now >= g.expires_at)
            .map(|g| g.id.clone())
            .collect();
        let mut expired = Vec::new();
        for id in due {
            if let Ok(g) = self
                .end(project, &id, GrantStage::Expired, None, now)
                .await?
            {
                expired.push(g);
            }
        }
        Ok(expired)
    }

    /// The grants of `project` (every stage), oldest first, from after id
    /// `after`, at most `limit`.
    pub async fn list(
        &self,
        project: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Grant>> {
        let page = self.state.list(project, KIND, after, limit).await?;
        page.iter().map(|(id, v)| decode(id, &v.value)).collect()
    }
}

#[cfg(test)]
mod tests;
