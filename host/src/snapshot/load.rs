//! Loading a snapshot from a policy root and the configuration: the shared
//! plugins, each project and its own plugins, and the rules for a project
//! that fails.
//!
//! Strict (`palisade check`, `eval`, `test`, and a root that is one
//! project): any error refuses the whole root. Tolerant (a directory of
//! projects, started or reloaded): a project is blamed for what it brings.
//! The projects that did not change, and the last good versions of those
//! whose files or own plugins are refused, are the fixed part, which must
//! check out with the server's files. Each changed project is checked
//! against the fixed part alone and refused, keeping its last good version,
//! if it clashes with it (a name, a token hash or a person's name taken, a
//! rename a role still names); a refusal adds that last good version to the
//! fixed part and the others are checked again, until none is refused (the
//! outcome does not depend on the order folders are read in). The whole is
//! then checked once more; changed projects that clash only with one
//! another refuse the whole change. So one project's change can neither
//! displace a project that did not change nor hold back another's good
//! change, and the snapshot installed always passes every check a start
//! does. At a start there is no last good version: a project whose files or
//! plugins fail is left out, and clashes between projects stop the start.

use super::{Project, Snapshot};
use crate::chain::Plugins;
use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::policy::{self, Layout, Policy, Root};
use crate::runtime::{Plugin, PluginSpec, Runtime};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A project folder that failed to load, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// The project's folder under the policy root.
    pub folder: String,
    /// The error, with `file:line:col`.
    pub error: String,
    /// Whether the error is about the project's own files and plugins
    /// (false: it clashes with another project or the server's files, and
    /// the error names them).
    #[serde(skip)]
    pub own: bool,
}

impl Failure {
    /// A failure of `folder`'s own files or plugins.
    fn own(folder: &str, e: &Error) -> Self {
        Self {
            folder: folder.to_owned(),
            error: e.to_string(),
            own: true,
        }
    }

    /// A clash of `folder`'s change with another project or the server.
    fn across(folder: &str, e: &Error) -> Self {
        Self {
            own: false,
            ..Self::own(folder, e)
        }
    }

    /// What the project's own administrators may read: the error when it
    /// is about their files, else only that their change clashes with what
    /// other projects or the server's files hold (whose names and files
    /// they may not see).
    pub fn for_project(&self) -> String {
        if self.own {
            return self.error.clone();
        }
        "the change clashes with another project or with the server's files (a project \
         name, a token hash or a person's name that is taken, or a role naming this \
         project); a server administrator can see the details"
            .into()
    }
}

/// A loaded snapshot and the project folders that were refused.
#[derive(Debug)]
pub struct Loaded {
    /// The snapshot.
    pub snapshot: Snapshot,
    /// Project folders that failed and kept serving their last good version
    /// (or, without one, are not served).
    pub failures: Vec<Failure>,
}

/// Loads `root` with every plugin it needs. With `previous` (a directory of
/// projects, reloaded; or started, with an empty `previous`), tolerantly, as
/// the module says; without it, strictly.
pub fn load(
    runtime: &Runtime,
    loaded: &LoadedConfig,
    root: &Root,
    previous: Option<&Snapshot>,
) -> Result<Loaded> {
    if let Some(previous) = previous
        && previous.server.layout == Layout::Projects
        && root.layout != Layout::Projects
    {
        return Err(Error::Config {
            path: loaded
                .policy_path()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            message: "the policy directory no longer holds project folders: a directory of \
                      projects cannot turn into one project on a reload; restart the server to \
                      change the layout"
                .into(),
        });
    }
    let previous = previous.filter(|_| root.layout == Layout::Projects);
    let mut decl = policy::compile_server(&root.server)?;
    // Every project's files, compiled; with `previous`, a folder whose files
    // are refused is set aside.
    let mut compiled = Vec::new();
    let mut failures = Vec::new();
    for p in &root.projects {
        let result = p
            .readable()
            .and_then(|sources| policy::compile_project(&p.folder, sources, root.layout))
            .and_then(|(policy, extras)| {
                decl.absorb(extras);
                check_project_plugins(loaded, &policy)?;
                check_project_share(runtime, loaded, &policy)?;
                Ok(policy)
            });
        match result {
            Ok(policy) => compiled.push(policy),
            Err(e) if previous.is_some() => {
                tracing::error!(folder = %p.folder, error = %e, "a project's files were refused");
                failures.push(Failure::own(&p.folder, &e));
            }
            Err(e) => return Err(e),
        }
    }

    // The plugins every project shares, and each project's share of the
    // engine (global: any error here refuses the whole root).
    let shared = load_shared(runtime, loaded, &compiled, previous)?;
    let Some(previous) = previous else {
        let mut projects = BTreeMap::new();
        for policy in &compiled {
            let own = load_own(runtime, loaded, policy, &shared)?;
            projects.insert(policy.folder.clone(), own);
        }
        let set = policy::assemble(decl, root.layout, compiled)?;
        check_export_bucket(&set.server.audit, set.server.audit_file.as_deref(), loaded)?;
        return Ok(Loaded {
            snapshot: snapshot(runtime, set, &shared, projects, &BTreeMap::new()),
            failures: Vec::new(),
        });
    };

    // Tolerant: blame each project for what it brings.
    let old_of = |folder: &str| {
        previous
            .projects
            .values()
            .find(|p| p.policy.folder == folder)
            .cloned()
    };
    let mut base: Vec<Policy> = Vec::new();
    let mut kept: BTreeMap<String, Arc<Project>> = BTreeMap::new();
    let mut changed: Vec<(Policy, Plugins)> = Vec::new();
    for f in &failures {
        if let Some(old) = old_of(&f.folder) {
            base.push(old.policy.clone());
            kept.insert(old.policy.folder.clone(), old);
        }
    }
    let mut own_plugins = BTreeMap::new();
    for policy in compiled {
        let old = old_of(&policy.folder);
        match load_own(runtime, loaded, &policy, &shared) {
            Ok(own)
                if old
                    .as_ref()
                    .is_some_and(|o| o.policy.version == policy.version) =>
            {
                own_plugins.insert(policy.folder.clone(), own);
                base.push(policy);
            }
            Ok(own) => changed.push((policy, own)),
            Err(e) => {
                failures.push(Failure::own(&policy.folder, &e));
                if let Some(old) = old {
                    base.push(old.policy.clone());
                    kept.insert(old.policy.folder.clone(), old);
                }
            }
        }
    }
    // The base must check out with the server's files; its roles may name
    // the changed projects, by their new names or (for a rename that is
    // refused) their old ones.
    let old_names = |policy: &Policy| old_of(&policy.folder).map(|o| o.policy.project.clone());
    let names: BTreeSet<String> = changed
        .iter()
        .flat_map(|(p, _)| std::iter::once(p.project.clone()).chain(old_names(p)))
        .collect();
    policy::assemble_among(decl.clone(), root.layout, base.clone(), &names)
        .map_err(|e| with_refusals(e, &failures))?;
    // (The last good versions kept below come from the snapshot serving,
    // which checked out with the unchanged projects; the final check below
    // covers them with the server's files as they are now.)
    // Each changed project against the fixed part alone (the unchanged
    // projects and the last good versions kept), so that which one is
    // blamed never depends on the order they are read in; a rename a role
    // still names is blamed on the project renamed. A refused change puts
    // its last good version into the fixed part, so the others are tried
    // again until none is refused.
    let mut fixed = base;
    let mut pending = changed;
    loop {
        let mut still = Vec::new();
        let mut refused_any = false;
        for (policy, own) in pending {
            let mut trial = fixed.clone();
            trial.push(policy.clone());
            let mut others = names.clone();
            if let Some(old) = old_names(&policy).filter(|o| *o != policy.project) {
                others.remove(&old);
            }
            match policy::assemble_among(decl.clone(), root.layout, trial, &others) {
                Ok(_) => still.push((policy, own)),
                Err(e) => {
                    tracing::error!(folder = %policy.folder, error = %e, "a project's change was refused");
                    failures.push(Failure::across(&policy.folder, &e));
                    refused_any = true;
                    if let Some(old) = old_of(&policy.folder) {
                        fixed.push(old.policy.clone());
                        kept.insert(old.policy.folder.clone(), old);
                    }
                }
            }
        }
        pending = still;
        if !refused_any {
            break;
        }
    }
    let mut accepted = fixed;
    for (policy, own) in pending {
        own_plugins.insert(policy.folder.clone(), own);
        accepted.push(policy);
    }
    // Changed projects that clash with one another refuse the whole change.
    let set =
        policy::assemble(decl, root.layout, accepted).map_err(|e| with_refusals(e, &failures))?;
    check_export_bucket(&set.server.audit, set.server.audit_file.as_deref(), loaded)?;
    Ok(Loaded {
        snapshot: snapshot(runtime, set, &shared, own_plugins, &kept),
        failures,
    })
}

/// `e`, naming the folders refused before it, when there are some: the
/// whole change was refused, and they are part of why it could not go in.
fn with_refusals(e: Error, failures: &[Failure]) -> Error {
    match (e, failures) {
        (Error::Config { path, message }, [_, ..]) => Error::Config {
            path,
            message: format!(
                "{message} (refused too: {})",
                failures
                    .iter()
                    .map(|f| format!("project folder `{}/`: {}", f.folder, f.error))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        },
        (e, _) => e,
    }
}

/// The plugins every project shares, and the share of the engine a plugin
/// that sets none gets.
struct Shared {
    plugins: Plugins,
    share: u32,
}

/// Loads the configuration's plugins and the built-in ones, and works out
/// the default share over them and every project's own plugins.
fn load_shared(
    runtime: &Runtime,
    loaded: &LoadedConfig,
    projects: &[Policy],
    previous: Option<&Snapshot>,
) -> Result<Shared> {
    let specs = shared_specs(loaded);
    let kept = maybe_kept(projects, previous).flat_map(|p| p.policy.plugins.values());
    let share = crate::runtime::default_share(
        runtime.max_instances(),
        specs
            .values()
            .chain(projects.iter().flat_map(|p| p.plugins.values()))
            .chain(kept),
    )
    .map_err(|message| Error::Config {
        path: loaded.origin.clone(),
        message,
    })?;
    // With several projects, no one project may hold all of a shared
    // plugin's instances: three quarters at most, unless configured.
    let several = projects.len() + maybe_kept(projects, previous).count() > 1;
    let mut plugins = Plugins::new();
    for (name, spec) in &specs {
        let mut spec = spec.clone();
        if several && spec.limits.max_calls_per_project.is_none() {
            let instances = spec
                .limits
                .max_instances
                .unwrap_or(share)
                .min(runtime.max_instances());
            spec.limits.max_calls_per_project =
                Some(instances.saturating_mul(3).div_ceil(4).max(1));
        }
        plugins.insert(
            name.clone(),
            load_plugin(runtime, loaded, None, name, &spec, share)?,
        );
    }
    Ok(Shared { plugins, share })
}

/// The projects of `previous` that may be kept: those of folders without a
/// version now (refused folders).
fn maybe_kept<'a>(
    projects: &'a [Policy],
    previous: Option<&'a Snapshot>,
) -> impl Iterator<Item = &'a Arc<Project>> {
    previous
        .into_iter()
        .flat_map(|p| p.projects.values())
        .filter(|old| !projects.iter().any(|p| p.folder == old.policy.folder))
}

/// The plugins every project shares: the configuration's and the built-in
/// ones (a configured plugin of a built-in name replaces it).
fn shared_specs(loaded: &LoadedConfig) -> BTreeMap<String, PluginSpec> {
    let mut specs: BTreeMap<String, PluginSpec> = loaded.config.plugins.clone();
    for name in crate::builtin::names() {
        specs.entry(name.to_owned()).or_insert_with(|| PluginSpec {
            builtin: Some(name.to_owned()),
            ..PluginSpec::default()
        });
    }
    specs
}

/// Refuses a project whose own plugins' `limits.max_instances` leave no
/// room, with the shared plugins, in `engine.max_instances`: its own
/// failure, before anything is loaded.
fn check_project_share(runtime: &Runtime, loaded: &LoadedConfig, policy: &Policy) -> Result<()> {
    let shared = shared_specs(loaded);
    crate::runtime::default_share(
        runtime.max_instances(),
        shared.values().chain(policy.plugins.values()),
    )
    .map(drop)
    .map_err(|message| Error::Config {
        path: policy
            .files
            .iter()
            .find(|(_, f)| !f.plugins.is_empty())
            .map(|(n, _)| n.clone())
            .unwrap_or_default(),
        message: format!("the project's own plugins: {message}"),
    })
}

/// Loads the plugins `policy` declares, as that project's own, and checks
/// that every plugin it names for masking (its own or a shared one) can mask.
fn load_own(
    runtime: &Runtime,
    loaded: &LoadedConfig,
    policy: &Policy,
    shared: &Shared,
) -> Result<Plugins> {
    if let Some((plan, at)) = &policy.audit {
        check_export_bucket(plan, Some(at), loaded)?;
        // Whoever edits one project's files is not trusted to choose a
        // bucket for its trail: only a listed one.
        if let Some(crate::audit::ExportPlan {
            destination: crate::audit::Destination::S3(location),
            ..
        }) = &plan.export
            && loaded.config.audit.s3.buckets.is_none()
        {
            return Err(Error::Config {
                path: at.clone(),
                message: format!(
                    "a project's `audit.export.destination` may name only a bucket that \
                     `audit.s3.buckets` in {} lists, and it lists none (bucket `{}`)",
                    loaded.origin, location.bucket
                ),
            });
        }
    }
    let mut own = Plugins::new();
    for (name, spec) in &policy.plugins {
        let plugin = load_plugin(runtime, loaded, Some(policy), name, spec, shared.share)?;
        own.insert(name.clone(), plugin);
    }
    for name in policy.masking.plugins() {
        let plugin = own.get(name).or_else(|| shared.plugins.get(name));
        if plugin.is_some_and(|p| !p.exports().masking) {
            return Err(Error::Config {
                path: policy.named_at(name),
                message: format!(
                    "plugin `{name}` is named for masking but does not export the `masking` interface"
                ),
            });
        }
    }
    Ok(own)
}

/// Builds the snapshot of `set`: each project's plugins are the shared
/// ones and its own (`own`, by folder); projects in `kept` (by folder) are
/// served as they were.
fn snapshot(
    runtime: &Runtime,
    set: policy::PolicySet,
    shared: &Shared,
    mut own: BTreeMap<String, Plugins>,
    kept: &BTreeMap<String, Arc<Project>>,
) -> Snapshot {
    for w in &set.server.warnings {
        tracing::warn!(at = %w.at, "{}", w.message);
    }
    let mut projects = BTreeMap::new();
    for (name, policy) in set.projects {
        if let Some(old) = kept
            .get(&policy.folder)
            .filter(|o| o.policy.version == policy.version)
        {
            projects.insert(name, old.clone());
            continue;
        }
        let mut plugins = shared.plugins.clone();
        plugins.extend(own.remove(&policy.folder).unwrap_or_default());
        tracing::info!(project = %name, version = %policy.version, agents = policy.agents.len(), "project loaded");
        projects.insert(name, Arc::new(Project::new(policy, plugins)));
    }
    tracing::info!(version = %set.server.version, projects = projects.len(), "policy loaded");
    Snapshot {
        server: set.server,
        projects,
        shared: shared.plugins.clone(),
        pooling: runtime.pooling(),
    }
}

/// Refuses a project whose plugins cannot be resolved before anything is
/// loaded: every plugin it uses is declared (by it, the configuration, or
/// built in), none it declares is also declared in the configuration, and
/// every plugin named for masking can mask (checked once loaded).
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

fn load_plugin(
    runtime: &Runtime,
    loaded: &LoadedConfig,
    owner: Option<&Policy>,
    name: &str,
    spec: &PluginSpec,
    share: u32,
) -> Result<Arc<Plugin>> {
    // A project of a directory of projects reads components in its folder.
    let bytes = match owner.filter(|p| !p.folder.is_empty()) {
        Some(policy) => loaded.project_plugin_bytes(&policy.folder, name, spec)?,
        None => loaded.plugin_bytes(name, spec)?,
    };
    // Shares are keyed by the project's folder: a project renamed in the
    // same reload as another takes its old name never takes its share.
    let owner = owner.map(|p| p.folder.as_str());
    let mut options = spec.options();
    options.limits.max_instances.get_or_insert(share);
    let plugin = runtime.load_for(owner, name, &bytes, options)?;
    tracing::info!(
        plugin = name,
        folder = owner.unwrap_or("(shared)"),
        digest = plugin.digest(),
        exports = ?plugin.exports().names(),
        code = ?plugin.code_source(),
        "plugin loaded"
    );
    Ok(Arc::new(plugin))
}

/// Refuses an `audit:` block (`plan`, in `file`) that exports to a bucket
/// the configuration's `audit.s3.buckets` does not list; warns when no list
/// pins it.
fn check_export_bucket(
    plan: &crate::audit::Plan,
    file: Option<&str>,
    loaded: &LoadedConfig,
) -> Result<()> {
    let Some(crate::audit::ExportPlan {
        destination: crate::audit::Destination::S3(location),
        ..
    }) = &plan.export
    else {
        return Ok(());
    };
    let s3 = &loaded.config.audit.s3;
    if !s3.allows(&location.bucket) {
        return Err(Error::Config {
            path: file.unwrap_or_default().to_owned(),
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
