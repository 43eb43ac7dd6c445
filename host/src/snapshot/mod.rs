//! What the server serves at one moment: every project with its policy and
//! its plugins, and the server's people; immutable (a reload builds a new
//! one, see [`load`]).
//!
//! Plugins declared in the configuration and the built-in ones are loaded
//! once and shared by every project: their instances are pooled per project
//! (see [`crate::runtime::Caller`]), so an instance that served one project
//! never serves another. Plugins a project declares are its own.

mod load;

pub use load::{Failure, Loaded, load};

use crate::chain::Plugins;
use crate::error::{Error, Result};
use crate::identity;
use crate::policy::{self, Person, Policy, PolicySet, Server};
use crate::runtime::Plugin;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One project as served: its policy, its plugins by name, and what its
/// masking chains found lately.
#[derive(Debug)]
pub struct Project {
    /// The policy.
    pub policy: Policy,
    /// Every plugin the project can name: the shared ones and its own.
    pub plugins: Plugins,
    /// What this project's masking chains found in audit records'
    /// attributes lately.
    pub findings: crate::masking::FindingsCache,
}

impl Project {
    /// A project of `policy` with `plugins`.
    pub fn new(policy: Policy, plugins: Plugins) -> Self {
        Self {
            policy,
            plugins,
            findings: Default::default(),
        }
    }

    /// The masking plugins for data from `service`, in order (see
    /// [`crate::policy::MaskingPolicy::chain_for`]). Every name was checked
    /// when the project loaded; a missing one is still an error, never a
    /// plugin skipped.
    pub fn masking_chain(&self, service: &str) -> Result<Vec<Arc<Plugin>>> {
        self.policy
            .masking
            .chain_for(service)
            .into_iter()
            .map(|name| {
                self.plugins
                    .get(name)
                    .cloned()
                    .ok_or_else(|| Error::PluginMissing {
                        plugin: name.to_owned(),
                    })
            })
            .collect()
    }
}

/// Every project and the server's part, with the plugins they run with.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The server's part: version, layout, people, the audit plan.
    pub server: Server,
    /// Projects by name.
    pub projects: BTreeMap<String, Arc<Project>>,
    /// The plugins shared by every project (configured and built in).
    pub shared: Plugins,
    /// Whether the pooling allocator is on.
    pub pooling: bool,
}

/// Who a token belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Identity<'s> {
    /// An agent of a project.
    Agent(&'s Arc<Project>, &'s policy::Agent),
    /// A server or project administrator, or an approver.
    Person(&'s Person),
}

impl Snapshot {
    /// A snapshot of `set` in which every project uses `plugins` (the
    /// server loads each project's own plugins; see [`load`]).
    pub fn with_plugins(set: PolicySet, plugins: Plugins, pooling: bool) -> Self {
        let projects = set
            .projects
            .into_iter()
            .map(|(name, policy)| (name, Arc::new(Project::new(policy, plugins.clone()))))
            .collect();
        Self {
            server: set.server,
            projects,
            shared: plugins,
            pooling,
        }
    }

    /// What the `audit:` blocks ask, for every trail: the server's block,
    /// and each project's own.
    pub fn audit_plans(&self) -> crate::audit::Plans {
        crate::audit::Plans {
            server: self.server.audit.clone(),
            projects: self
                .projects
                .iter()
                .filter_map(|(name, p)| {
                    let (plan, _) = p.policy.audit.as_ref()?;
                    Some((name.clone(), plan.clone()))
                })
                .collect(),
            folders: self.server.layout == crate::policy::Layout::Projects,
        }
    }

    /// The version of the whole policy root.
    pub fn version(&self) -> &str {
        &self.server.version
    }

    /// The project called `name`.
    pub fn project(&self, name: &str) -> Option<&Arc<Project>> {
        self.projects.get(name)
    }

    /// Whose token this is: every stored hash of every project's agents and
    /// every person is compared in constant time (see [`identity::find`]).
    pub fn authenticate(&self, token: &str) -> Option<Identity<'_>> {
        let agents = self.projects.values().flat_map(|p| {
            p.policy
                .agents
                .values()
                .map(move |a| (Identity::Agent(p, a), a.token_hashes.as_slice()))
        });
        let people = self
            .server
            .people
            .values()
            .map(|p| (Identity::Person(p), p.token_hashes.as_slice()));
        identity::find(agents.chain(people), token)
    }

    /// The person whose `slack_user` is `id`.
    pub fn slack_person(&self, id: &str) -> Option<&Person> {
        self.server
            .people
            .values()
            .find(|p| p.slack_user.as_deref() == Some(id))
    }

    /// The person whose token this is (never an agent).
    pub fn person(&self, token: &str) -> Option<&Person> {
        match self.authenticate(token)? {
            Identity::Person(p) => Some(p),
            Identity::Agent(..) => None,
        }
    }
}

/// True when `new` serves what `old` serves: the same policy root version
/// and the same plugin bytes everywhere.
pub fn same_content(old: &Snapshot, new: &Snapshot) -> bool {
    let digests = |plugins: &Plugins| -> Vec<(String, String)> {
        plugins
            .iter()
            .map(|(n, p)| (n.clone(), p.digest().to_owned()))
            .collect()
    };
    old.version() == new.version()
        && old.projects.len() == new.projects.len()
        && old
            .projects
            .iter()
            .zip(&new.projects)
            .all(|((a, pa), (b, pb))| a == b && digests(&pa.plugins) == digests(&pb.plugins))
}
