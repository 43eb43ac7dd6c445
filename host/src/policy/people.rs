//! The people who run the server and its projects: server administrators
//! (`admins:`) and per-project administrators and approvers (`roles:`), with
//! the token hashes that identify them.

use super::model::{PolicyFile, RoleSpec};
use crate::error::{Error, Result};
use std::collections::BTreeSet;

/// A person's identity and roles, compiled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    /// The name, as in the audit trail.
    pub name: String,
    /// sha256 digests of the person's tokens.
    pub token_hashes: Vec<[u8; 32]>,
    /// Administers the whole server: every project, reloads, plugins.
    pub server_admin: bool,
    /// Projects this person administers (their audit trail and status).
    pub admin_of: BTreeSet<String>,
    /// Projects whose approval requests this person may decide.
    pub approver_of: BTreeSet<String>,
    /// The person's Slack user id, whose clicks on a Slack message's
    /// Approve / Deny buttons act as this person.
    pub slack_user: Option<String>,
}

impl Person {
    /// Whether this person administers `project` (a server administrator
    /// administers every project).
    pub fn administers(&self, project: &str) -> bool {
        self.server_admin || self.admin_of.contains(project)
    }
}

/// A person as declared, with where, before the projects it names are known.
#[derive(Debug, Clone)]
pub struct Declared {
    /// The person.
    pub person: Person,
    /// `file:line:col` of the declaration.
    pub at: String,
    /// Each project a role names, with `file:line:col` of the name.
    pub names: Vec<(String, String)>,
}

/// Parses `sha256:<hex>`; anything else (a plaintext token) is refused.
pub(super) fn token_hash(entry: &str, owner: &str, at: &str) -> Result<[u8; 32]> {
    let hex = entry.strip_prefix("sha256:").ok_or_else(|| Error::Config {
        path: at.to_owned(),
        message: "a token entry is `sha256:<64 hex digits>`, the hash `palisade token new` prints; never the token itself".into(),
    })?;
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex, &mut digest).map_err(|_| Error::Config {
        path: at.to_owned(),
        message: format!(
            "`{entry}` is not a sha256 digest; write the line `palisade token new {owner}` prints"
        ),
    })?;
    Ok(digest)
}

/// Everyone one file declares: its `admins:` and `roles:` entries; `at`
/// turns a JSON pointer into `file:line:col`.
pub(super) fn declared_in(file: &PolicyFile, at: &dyn Fn(&str) -> String) -> Result<Vec<Declared>> {
    let admins = file
        .admins
        .iter()
        .map(|(name, tokens)| admin(name, tokens, at(&format!("/admins/{name}"))));
    let roles = file.roles.iter().map(|(name, spec)| role(name, spec, at));
    admins.chain(roles).collect()
}

/// A server administrator from an `admins:` entry.
fn admin(name: &str, tokens: &[String], at: String) -> Result<Declared> {
    let token_hashes = tokens
        .iter()
        .map(|t| token_hash(t, name, &at))
        .collect::<Result<Vec<_>>>()?;
    Ok(Declared {
        person: Person {
            name: name.to_owned(),
            token_hashes,
            server_admin: true,
            ..Person::default()
        },
        at,
        names: Vec::new(),
    })
}

/// A project administrator or approver from a `roles:` entry; `at` turns a
/// JSON pointer into `file:line:col`.
fn role(name: &str, spec: &RoleSpec, at: &dyn Fn(&str) -> String) -> Result<Declared> {
    let base = format!("/roles/{name}");
    let here = at(&base);
    if spec.admin.is_empty() && spec.approver.is_empty() {
        return Err(Error::Config {
            path: here,
            message: format!(
                "role entry `{name}` grants nothing; write `admin: [PROJECT]`, \
                 `approver: [PROJECT]` or both"
            ),
        });
    }
    let token_hashes = spec
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| token_hash(t, name, &at(&format!("{base}/tokens/{i}"))))
        .collect::<Result<Vec<_>>>()?;
    if let Some(id) = &spec.slack_user {
        check_slack_user(id).map_err(|message| Error::Config {
            path: at(&format!("{base}/slack_user")),
            message,
        })?;
    }
    let mut names = Vec::new();
    for (key, list) in [("admin", &spec.admin), ("approver", &spec.approver)] {
        for (i, project) in list.iter().enumerate() {
            names.push((project.clone(), at(&format!("{base}/{key}/{i}"))));
        }
    }
    Ok(Declared {
        person: Person {
            name: name.to_owned(),
            token_hashes,
            server_admin: false,
            admin_of: spec.admin.iter().cloned().collect(),
            approver_of: spec.approver.iter().cloned().collect(),
            slack_user: spec.slack_user.clone(),
        },
        at: here,
        names,
    })
}

/// Checks a Slack user id: `U` or `W` and 2 to 20 more capital letters or
/// digits, as Slack writes them (`U024BE7LH`), never a display name (names
/// can be changed by their owner; ids cannot).
fn check_slack_user(id: &str) -> std::result::Result<(), String> {
    let ok = id.starts_with(['U', 'W'])
        && (3..=21).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is not a Slack user id; write the member id Slack shows in the \
             person's profile (`U024BE7LH`), not their name"
        ))
    }
}
