//! A whole policy root, compiled: every project, the server's people and
//! the audit trail's plan, checked together (unique project names, one
//! identity per token hash, roles naming projects that exist).

use super::parse::{parse_file, top_key_at};
use super::people::{self, Declared, Person};
use super::project::{Extras, compile_project};
use super::{Layout, Policy, Root, Source, Warning, audit_plan};
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// What the root says of the server itself.
#[derive(Debug, Clone, Default)]
pub struct Server {
    /// Content hash of the whole root (16 hex digits).
    pub version: String,
    /// How the root is laid out.
    pub layout: Layout,
    /// Server administrators, project administrators and approvers, by name.
    pub people: BTreeMap<String, Person>,
    /// Export and retention of the audit trail (the `audit:` block).
    pub audit: crate::audit::Plan,
    /// The file holding the `audit:` block, if any.
    pub audit_file: Option<String>,
    /// Warnings about the server's files.
    pub warnings: Vec<Warning>,
}

/// Every project of a root and the server's part, consistent together.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    /// The server's part.
    pub server: Server,
    /// Projects by name.
    pub projects: BTreeMap<String, Policy>,
}

/// The server's part as declared, before it is checked against the projects.
#[derive(Debug, Default, Clone)]
pub struct ServerDecl {
    people: Vec<Declared>,
    audit: Option<(crate::audit::Plan, String)>,
    digest: [u8; 32],
    warnings: Vec<Warning>,
}

/// Keys a top-level file of a directory of projects may hold.
const SERVER_KEYS: &[&str] = &["admins", "roles", "audit"];

/// Compiles the top-level files of a directory of projects: `admins`,
/// `roles` and `audit` only.
pub fn compile_server(sources: &[Source]) -> Result<ServerDecl> {
    let mut decl = ServerDecl::default();
    let mut hasher = Sha256::new();
    for source in sources {
        hasher.update(source.name.as_bytes());
        hasher.update([0]);
        hasher.update(source.text.as_bytes());
        hasher.update([0]);
        let (file, doc, warnings) = parse_file(&source.name, &source.text)?;
        decl.warnings.extend(warnings);
        let at = |pointer: &str| format!("{}:{}", source.name, doc.pos(pointer));
        if let Some(key) = doc
            .value
            .as_object()
            .and_then(|o| o.keys().find(|k| !SERVER_KEYS.contains(&k.as_str())))
        {
            return Err(Error::Config {
                path: top_key_at(&source.name, &source.text, key),
                message: format!(
                    "`{key}` belongs to a project: in a directory of projects, top-level files \
                     hold only `admins`, `roles` and `audit`; put it in a project's folder"
                ),
            });
        }
        decl.people.extend(people::declared_in(&file, &at)?);
        if let Some(block) = &file.audit {
            if let Some((_, other)) = &decl.audit {
                return Err(Error::Config {
                    path: at("/audit"),
                    message: format!("`audit` is configured in {other} already; configure it once"),
                });
            }
            let (plan, warnings) = audit_plan::compile(block, &at)?;
            decl.warnings.extend(warnings);
            decl.audit = Some((plan, source.name.clone()));
        }
    }
    decl.digest = hasher.finalize().into();
    Ok(decl)
}

/// Compiles a whole root; any error refuses all of it (`palisade check`,
/// the server's start).
pub fn compile(root: &Root) -> Result<PolicySet> {
    let mut decl = compile_server(&root.server)?;
    let mut projects = Vec::new();
    for p in &root.projects {
        let (policy, extras) = compile_project(&p.folder, p.readable()?, root.layout)?;
        decl.absorb(extras);
        projects.push(policy);
    }
    assemble(decl, root.layout, projects)
}

impl ServerDecl {
    /// Takes in what a project's files declared of the server (only where
    /// the root is one project; see [`Extras`]).
    pub fn absorb(&mut self, extras: Extras) {
        self.people.extend(extras.people);
        if extras.audit.is_some() {
            self.audit = extras.audit;
        }
    }
}

/// Checks the projects and the server's part together and builds the set.
pub fn assemble(decl: ServerDecl, layout: Layout, projects: Vec<Policy>) -> Result<PolicySet> {
    assemble_among(decl, layout, projects, &BTreeSet::new())
}

/// [`assemble`] of some of the projects only: a role may also name a
/// project in `others` (projects checked apart, which the final set holds).
pub fn assemble_among(
    decl: ServerDecl,
    layout: Layout,
    projects: Vec<Policy>,
    others: &BTreeSet<String>,
) -> Result<PolicySet> {
    let mut by_name: BTreeMap<String, Policy> = BTreeMap::new();
    for policy in projects {
        if let Some(other) = by_name.get(&policy.project) {
            return Err(Error::Config {
                path: policy.project_at.clone(),
                message: format!(
                    "project `{}` is also defined at {}; every project has its own name",
                    policy.project, other.project_at
                ),
            });
        }
        by_name.insert(policy.project.clone(), policy);
    }
    let mut people: BTreeMap<String, Person> = BTreeMap::new();
    let mut people_at: BTreeMap<String, String> = BTreeMap::new();
    for d in decl.people {
        for (project, at) in &d.names {
            if !by_name.contains_key(project) && !others.contains(project) {
                let known: BTreeSet<&str> =
                    by_name.keys().chain(others).map(String::as_str).collect();
                return Err(Error::Config {
                    path: at.clone(),
                    message: format!(
                        "the role names project `{project}`, which no policy file defines; \
                         projects are: {}",
                        known.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                });
            }
        }
        let name = d.person.name.clone();
        if let Some(policy) = by_name.values().find(|p| p.agents.contains_key(&name)) {
            return Err(Error::Config {
                path: d.at,
                message: format!(
                    "`{name}` is both an agent (of project `{}`) and an admin or approver; \
                     an agent can never administer or approve",
                    policy.project
                ),
            });
        }
        if let Some(first) = people_at.get(&name) {
            return Err(Error::Config {
                path: d.at,
                message: format!(
                    "`{name}` is declared twice (first at {first}); declare each person once"
                ),
            });
        }
        people_at.insert(name.clone(), d.at);
        people.insert(name, d.person);
    }
    check_tokens(&by_name, &people, &people_at)?;
    check_slack_users(&people, &people_at)?;
    check_retention(decl.audit.as_ref(), &by_name)?;
    let mut hasher = Sha256::new();
    hasher.update(decl.digest);
    let mut warnings = decl.warnings;
    for (name, policy) in &by_name {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(policy.version.as_bytes());
        warnings.extend(policy.warnings.iter().cloned());
    }
    let (audit, audit_file) = match decl.audit {
        Some((plan, file)) => (plan, Some(file)),
        None => (crate::audit::Plan::default(), None),
    };
    // A root that is one project has one version: the project's.
    let version = match (layout, by_name.values().next()) {
        (Layout::Project, Some(only)) if by_name.len() == 1 => only.version.clone(),
        _ => hex::encode(hasher.finalize())[..16].to_owned(),
    };
    Ok(PolicySet {
        server: Server {
            version,
            layout,
            people,
            audit,
            audit_file,
            warnings,
        },
        projects: by_name,
    })
}

/// Every Slack user id names one person: a click in Slack must say who
/// decided.
fn check_slack_users(
    people: &BTreeMap<String, Person>,
    people_at: &BTreeMap<String, String>,
) -> Result<()> {
    let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
    for p in people.values() {
        let Some(id) = p.slack_user.as_deref() else {
            continue;
        };
        if let Some(first) = owner.insert(id, &p.name) {
            return Err(Error::Config {
                path: people_at.get(&p.name).cloned().unwrap_or_default(),
                message: format!(
                    "`{first}` and `{}` have the same `slack_user` `{id}`; a Slack user acts \
                     as one person",
                    p.name
                ),
            });
        }
    }
    Ok(())
}

/// Every token hash names one identity, across every project: shared
/// credentials make the audit trail unable to say who acted, and a hash held
/// by an agent and a person would let the agent administer or approve.
fn check_tokens(
    projects: &BTreeMap<String, Policy>,
    people: &BTreeMap<String, Person>,
    people_at: &BTreeMap<String, String>,
) -> Result<()> {
    // (hash) → (who: project and name, `None` project for a person; where)
    type Who = (Option<String>, String);
    let mut owner: BTreeMap<[u8; 32], (Who, String)> = BTreeMap::new();
    let agents = projects.values().flat_map(|p| {
        p.agents.values().flat_map(move |a| {
            a.token_hashes.iter().enumerate().map(move |(i, h)| {
                let at = a.token_at.get(i).cloned().unwrap_or_default();
                (*h, (Some(p.project.clone()), a.name.clone()), at)
            })
        })
    });
    let persons = people.values().flat_map(|p| {
        let at = people_at.get(&p.name).cloned().unwrap_or_default();
        p.token_hashes
            .iter()
            .map(move |h| (*h, (None, p.name.clone()), at.clone()))
    });
    for (hash, who, at) in agents.chain(persons) {
        match owner.get(&hash) {
            Some((other, other_at)) if *other != who => {
                return Err(Error::Config {
                    path: at,
                    message: format!(
                        "`{}` and `{}` hold the same token hash (also at {other_at}); \
                         give every agent and person its own token (`palisade token new NAME`)",
                        other.1, who.1
                    ),
                });
            }
            _ => {
                owner.insert(hash, (who, at));
            }
        }
    }
    Ok(())
}

/// The server's `audit.retention` is the least any project keeps its
/// records: whoever edits one project's files may keep its trail longer,
/// never cut it sooner than the server's block says.
fn check_retention(
    server: Option<&(crate::audit::Plan, String)>,
    projects: &BTreeMap<String, Policy>,
) -> Result<()> {
    let Some((server, server_file)) = server else {
        return Ok(());
    };
    let Some(least) = server.retention else {
        return Ok(());
    };
    for policy in projects.values() {
        let Some((plan, at)) = &policy.audit else {
            continue;
        };
        if plan.retention.is_some_and(|r| r < least) {
            return Err(Error::Config {
                path: at.clone(),
                message: format!(
                    "`audit.retention` is shorter than the server's ({}s, in {server_file}): a \
                     project may keep its records longer than the server's block says, not \
                     shorter",
                    least.as_secs()
                ),
            });
        }
    }
    Ok(())
}
