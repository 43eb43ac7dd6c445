//! What the server serves at one moment: every project with its policy and
//! its plugins, and the server's people; immutable (a reload builds a new
//! one), and loaded here from a policy root and the configuration.
//!
//! Plugins declared in the configuration and the built-in ones are loaded
//! once and shared by every project: their instances are pooled per project
//! (see [`crate::runtime::Caller`]), so an instance that served one project
//! never serves another. Plugins a project declares are its own.

use crate::chain::Plugins;
use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::identity;
use crate::policy::{self, Layout, Person, Policy, PolicySet, Root, Server};
use crate::runtime::{Plugin, PluginSpec, Runtime};
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

    /// The person whose token this is (never an agent).
    pub fn person(&self, token: &str) -> Option<&Person> {
        match self.authenticate(token)? {
            Identity::Person(p) => Some(p),
            Identity::Agent(..) => None,
        }
    }
}

/// A project folder that failed to load, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// The project's folder under the policy root.
    pub folder: String,
    /// The error, with `file:line:col`.
    pub error: String,
}

/// A loaded snapshot and the projects that kept their previous version.
#[derive(Debug)]
pub struct Loaded {
    /// The snapshot.
    pub snapshot: Snapshot,
    /// Project folders that failed and kept serving their last good version
    /// (or, new, are not served).
    pub failures: Vec<Failure>,
}

/// Loads `root` with every plugin it needs. Without `previous` (`palisade
/// check`, `eval`, `test`, or a root that is one project), any error refuses
/// the whole root. With it (a directory of projects, reloaded, or started
/// with an empty `previous`), a project folder whose files are refused keeps
/// its version from `previous` (or, without one there, is not served); the
/// projects are then checked together, and anything wrong across them (or
/// in the server's files, a shared plugin or a project's own plugin)
/// refuses the whole root.
pub fn load(
    runtime: &Runtime,
    loaded: &LoadedConfig,
    root: &Root,
    previous: Option<&Snapshot>,
) -> Result<Loaded> {
    let fallback = previous.filter(|_| root.layout == Layout::Projects);
    let Some(previous) = fallback else {
        let set = policy::compile(root)?;
        return Ok(Loaded {
            snapshot: build(runtime, loaded, set, &BTreeMap::new())?,
            failures: Vec::new(),
        });
    };
    let mut decl = policy::compile_server(&root.server)?;
    let mut policies = Vec::new();
    let mut kept: BTreeMap<String, Arc<Project>> = BTreeMap::new();
    let mut failures = Vec::new();
    for p in &root.projects {
        let compiled = policy::compile_project(&p.folder, &p.sources, root.layout).and_then(
            |(policy, extras)| {
                decl.absorb(extras, &policy)?;
                check_project_plugins(loaded, &policy)?;
                Ok(policy)
            },
        );
        match compiled {
            Ok(policy) => policies.push(policy),
            Err(e) => {
                let old = previous
                    .projects
                    .values()
                    .find(|old| old.policy.folder == p.folder);
                tracing::error!(folder = %p.folder, error = %e, kept = old.is_some(), "a project's files were refused");
                failures.push(Failure {
                    folder: p.folder.clone(),
                    error: e.to_string(),
                });
                if let Some(old) = old {
                    policies.push(old.policy.clone());
                    kept.insert(old.policy.project.clone(), old.clone());
                }
            }
        }
    }
    // Checked together, without the refused folders: say so when that is
    // what breaks (a role naming a project whose files were refused).
    let set =
        policy::assemble(decl, root.layout, policies).map_err(|e| match (e, &failures[..]) {
            (Error::Config { path, message }, [first, ..]) => Error::Config {
                path,
                message: format!(
                    "{message} (project folder `{}/` was refused: {})",
                    first.folder, first.error
                ),
            },
            (e, _) => e,
        })?;
    Ok(Loaded {
        snapshot: build(runtime, loaded, set, &kept)?,
        failures,
    })
}

/// Refuses a project whose plugins cannot be resolved before anything is
/// loaded: every plugin it uses is declared (by it, the configuration, or
/// built in) and none it declares is also declared in the configuration.
fn check_project_plugins(loaded: &LoadedConfig, policy: &Policy) -> Result<()> {
    for name in policy.plugins.keys() {
        if loaded.config.plugins.contains_key(name) {
            return Err(Error::Config {
                path: declared_at(policy, name),
                message: format!(
                    "plugin `{name}` is declared both in the configuration ({}) and in the \
                     policy; declare it once",
                    loaded.origin
                ),
            });
        }
    }
    policy.check_plugins(|name| loaded.config.plugins.contains_key(name))
}

fn declared_at(policy: &Policy, plugin: &str) -> String {
    policy
        .files
        .iter()
        .find(|(_, f)| f.plugins.contains_key(plugin))
        .map(|(n, _)| n.clone())
        .unwrap_or_default()
}

/// Loads the plugins of `set` and builds the snapshot; projects in `kept`
/// are served as they were.
fn build(
    runtime: &Runtime,
    loaded: &LoadedConfig,
    set: PolicySet,
    kept: &BTreeMap<String, Arc<Project>>,
) -> Result<Snapshot> {
    for w in &set.server.warnings {
        tracing::warn!(at = %w.at, "{}", w.message);
    }
    check_export_bucket(&set.server, loaded)?;
    let mut shared_specs: BTreeMap<String, PluginSpec> = loaded.config.plugins.clone();
    for name in crate::builtin::names() {
        shared_specs
            .entry(name.to_owned())
            .or_insert_with(|| PluginSpec {
                builtin: Some(name.to_owned()),
                ..PluginSpec::default()
            });
    }
    let fresh = || {
        set.projects
            .values()
            .filter(|p| !kept.contains_key(&p.project))
    };
    for policy in fresh() {
        check_project_plugins(loaded, policy)?;
    }
    let share = crate::runtime::default_share(
        runtime.max_instances(),
        shared_specs
            .values()
            .chain(set.projects.values().flat_map(|p| p.plugins.values())),
    )
    .map_err(|message| Error::Config {
        path: loaded.origin.clone(),
        message,
    })?;
    let mut shared = Plugins::new();
    for (name, spec) in &shared_specs {
        shared.insert(
            name.clone(),
            load_plugin(runtime, loaded, name, spec, share)?,
        );
    }
    let mut projects = BTreeMap::new();
    for (name, policy) in set.projects {
        if let Some(old) = kept.get(&name) {
            projects.insert(name, old.clone());
            continue;
        }
        let mut plugins = shared.clone();
        for (plugin, spec) in &policy.plugins {
            plugins.insert(
                plugin.clone(),
                load_plugin(runtime, loaded, plugin, spec, share)?,
            );
        }
        for plugin in policy.masking.plugins() {
            if plugins.get(plugin).is_some_and(|p| !p.exports().masking) {
                return Err(Error::Config {
                    path: policy
                        .files
                        .first()
                        .map(|(f, _)| f.clone())
                        .unwrap_or_default(),
                    message: format!(
                        "plugin `{plugin}` is named for masking but does not export the `masking` interface"
                    ),
                });
            }
        }
        tracing::info!(project = %name, version = %policy.version, agents = policy.agents.len(), "project loaded");
        projects.insert(name, Arc::new(Project::new(policy, plugins)));
    }
    tracing::info!(version = %set.server.version, projects = projects.len(), "policy loaded");
    Ok(Snapshot {
        server: set.server,
        projects,
        shared,
        pooling: runtime.pooling(),
    })
}

fn load_plugin(
    runtime: &Runtime,
    loaded: &LoadedConfig,
    name: &str,
    spec: &PluginSpec,
    share: u32,
) -> Result<Arc<Plugin>> {
    let bytes = loaded.plugin_bytes(name, spec)?;
    let mut options = spec.options();
    options.limits.max_instances.get_or_insert(share);
    let plugin = runtime.load(name, &bytes, options)?;
    tracing::info!(
        plugin = name,
        digest = plugin.digest(),
        exports = ?plugin.exports().names(),
        code = ?plugin.code_source(),
        "plugin loaded"
    );
    Ok(Arc::new(plugin))
}

/// Refuses a policy that exports to a bucket the configuration's
/// `audit.s3.buckets` does not list; warns when no list pins it.
fn check_export_bucket(server: &Server, loaded: &LoadedConfig) -> Result<()> {
    let Some(crate::audit::ExportPlan {
        destination: crate::audit::Destination::S3(location),
        ..
    }) = &server.audit.export
    else {
        return Ok(());
    };
    let s3 = &loaded.config.audit.s3;
    if !s3.allows(&location.bucket) {
        return Err(Error::Config {
            path: server.audit_file.clone().unwrap_or_default(),
            message: format!(
                "`audit.export.destination` names bucket `{}`, which `audit.s3.buckets` in {} does not list",
                location.bucket, loaded.origin
            ),
        });
    }
    if s3.buckets.is_none() {
        tracing::warn!(
            bucket = %location.bucket,
            "the policy exports the audit trail to an S3 bucket that the configuration does not pin; \
             list it in `audit.s3.buckets` so that a policy edit cannot redirect it"
        );
    }
    Ok(())
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
