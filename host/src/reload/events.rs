//! The audit records of loading and reloading: one per project loaded,
//! changed, removed or refused, with token changes as counts.

use crate::audit::AdminEntry;
use crate::policy::Policy;
use crate::snapshot::{Failure, Snapshot};
use std::collections::BTreeMap;

/// The audit record of one project's load or reload: old and new versions.
pub fn policy_event(event: &str, trigger: &str, old: Option<&Policy>, new: &Policy) -> AdminEntry {
    let mut details = BTreeMap::new();
    details.insert("trigger".into(), trigger.into());
    if let Some(old) = old {
        details.insert("old_version".into(), old.version.clone().into());
    }
    details.insert("new_version".into(), new.version.clone().into());
    details.insert("agents".into(), new.agents.len().into());
    AdminEntry {
        event: event.into(),
        project: Some(new.project.clone()),
        policy_version: Some(new.version.clone()),
        details,
        ..Default::default()
    }
}

/// The records of installing `new` over `old` (`None` at the start): one
/// `policy_load` or `policy_reload` per project that is new or changed, one
/// `policy_remove` per project gone, `token_change`s (on a reload), and, for
/// a directory of projects, one of the whole root (its own version).
pub fn reload_events(trigger: &str, old: Option<&Snapshot>, new: &Snapshot) -> Vec<AdminEntry> {
    let event = if old.is_some() {
        "policy_reload"
    } else {
        "policy_load"
    };
    let mut out = Vec::new();
    let old_policy = |name: &str| old.and_then(|o| o.project(name)).map(|p| &p.policy);
    for (name, project) in &new.projects {
        let before = old_policy(name);
        if before.is_some_and(|b| b.version == project.policy.version) {
            continue;
        }
        out.push(policy_event(event, trigger, before, &project.policy));
        if old.is_some() {
            out.extend(token_changes(before, &project.policy));
        }
    }
    for (name, project) in old.map(|o| &o.projects).into_iter().flatten() {
        if new.project(name).is_none() {
            let mut details = BTreeMap::new();
            details.insert("trigger".into(), trigger.into());
            details.insert("old_version".into(), project.policy.version.clone().into());
            out.push(AdminEntry {
                event: "policy_remove".into(),
                project: Some(name.clone()),
                policy_version: Some(project.policy.version.clone()),
                details,
                ..Default::default()
            });
        }
    }
    // A directory of projects also has a version of its own (its people,
    // its audit plan, every project's version).
    if new.server.layout == crate::policy::Layout::Projects {
        let mut details = BTreeMap::new();
        details.insert("trigger".into(), trigger.into());
        if let Some(old) = old {
            details.insert("old_version".into(), old.version().into());
        }
        details.insert("new_version".into(), new.version().into());
        details.insert("projects".into(), new.projects.len().into());
        out.push(AdminEntry {
            event: event.into(),
            policy_version: Some(new.version().to_owned()),
            details,
            ..Default::default()
        });
    }
    out
}

/// The record of a refused reload (of the whole root, or of one project).
pub fn refused_event(
    trigger: &str,
    requested_by: Option<&str>,
    project: Option<String>,
    serving: &str,
    error: &str,
) -> AdminEntry {
    let mut details = BTreeMap::new();
    details.insert("trigger".into(), trigger.into());
    if let Some(admin) = requested_by {
        details.insert("requested_by".into(), admin.into());
    }
    details.insert("error".into(), error.into());
    AdminEntry {
        event: "policy_reload_refused".into(),
        project,
        policy_version: Some(serving.to_owned()),
        details,
        ..Default::default()
    }
}

/// The records of refused project folders: in each folder's project's
/// trail (`project_of`), what its administrators may read; server-wide, a
/// clash with other projects in full, and every refusal of a folder that
/// served no project.
pub fn refusal_events(
    trigger: &str,
    requested_by: Option<&str>,
    serving: &str,
    failed: &[Failure],
    project_of: impl Fn(&str) -> Option<String>,
) -> Vec<AdminEntry> {
    let mut out = Vec::new();
    for f in failed {
        let project = project_of(&f.folder);
        let in_project = project.is_some();
        let mut entries = Vec::new();
        if in_project {
            entries.push(refused_event(
                trigger,
                requested_by,
                project,
                serving,
                &f.for_project(),
            ));
        }
        if !in_project || !f.own {
            entries.push(refused_event(
                trigger,
                requested_by,
                None,
                serving,
                &f.error,
            ));
        }
        for mut entry in entries {
            entry
                .details
                .insert("folder".into(), f.folder.clone().into());
            out.push(entry);
        }
    }
    out
}

/// One `token_change` record per agent whose tokens were added, removed or
/// replaced by a reload (counts only: never a token or its hash).
pub fn token_changes(old: Option<&Policy>, new: &Policy) -> Vec<AdminEntry> {
    use std::collections::BTreeSet;
    let tokens = |p: Option<&Policy>, agent: &str| -> BTreeSet<[u8; 32]> {
        p.and_then(|p| p.agents.get(agent))
            .map(|a| a.token_hashes.iter().copied().collect())
            .unwrap_or_default()
    };
    let names: BTreeSet<&String> = new
        .agents
        .keys()
        .chain(old.into_iter().flat_map(|p| p.agents.keys()))
        .collect();
    let mut out = Vec::new();
    for name in names {
        let (before, after) = (tokens(old, name), tokens(Some(new), name));
        if before == after {
            continue;
        }
        let mut details = BTreeMap::new();
        details.insert("added".into(), after.difference(&before).count().into());
        details.insert("removed".into(), before.difference(&after).count().into());
        details.insert("tokens".into(), after.len().into());
        out.push(AdminEntry {
            event: "token_change".into(),
            agent: Some(name.clone()),
            project: Some(new.project.clone()),
            policy_version: Some(new.version.clone()),
            details,
            ..Default::default()
        });
    }
    out
}
