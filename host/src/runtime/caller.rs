//! Who a plugin call is made for, and the scope within which an idle
//! instance may serve another call.
//!
//! An instance keeps whatever its guest wrote to memory and globals, so a
//! reused instance can hand one call's data to the next. The scope is what
//! keeps that inside one caller: an idle instance only ever serves a later
//! call with an equal [`Scope`], and scopes differ by export, by project,
//! and (for plugins that are not first-party) by agent and session.

/// The identity a plugin call is made on behalf of. It comes from the
/// authenticated request (the agent from its token, the project from the
/// policy), never from what a plugin says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The project the agent belongs to.
    pub project: String,
    /// The agent, as authenticated.
    pub agent: String,
    /// The session the agent named.
    pub session: String,
    /// The decision or masking request, for the plugin's log lines.
    pub request_id: String,
}

impl Caller {
    /// A caller from its four parts.
    pub fn new(
        project: impl Into<String>,
        agent: impl Into<String>,
        session: impl Into<String>,
        request_id: impl Into<String>,
    ) -> Self {
        Self {
            project: project.into(),
            agent: agent.into(),
            session: session.into(),
            request_id: request_id.into(),
        }
    }
}

/// The interface a call goes to. Instances are never shared between the
/// two: text given to `masking` cannot come back in a `policy` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Export {
    /// `palisade:plugin/policy`.
    Policy,
    /// `palisade:plugin/masking`.
    Masking,
}

/// How widely a plugin's idle instances may be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// First-party (built into the binary, reviewed to keep no request
    /// data): within one project, across its agents and sessions.
    Project,
    /// Every other plugin: within one project, agent and session.
    Session,
}

/// The key of an idle instance: only a call with an equal scope reuses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Scope {
    export: Export,
    project: String,
    /// Empty for [`Reach::Project`].
    agent: String,
    /// Empty for [`Reach::Project`].
    session: String,
}

impl Scope {
    /// The scope of a call to `export` for `caller`.
    pub(crate) fn of(export: Export, caller: &Caller, reach: Reach) -> Self {
        let (agent, session) = match reach {
            Reach::Project => (String::new(), String::new()),
            Reach::Session => (caller.agent.clone(), caller.session.clone()),
        };
        Self {
            export,
            project: caller.project.clone(),
            agent,
            session,
        }
    }

    /// The parts of `caller` that a scope of `reach` keeps apart:
    /// `[project, agent, session]`, with what is shared left empty.
    pub(crate) fn parts(caller: &Caller, reach: Reach) -> [&str; 3] {
        match reach {
            Reach::Project => [caller.project.as_str(), "", ""],
            Reach::Session => [
                caller.project.as_str(),
                caller.agent.as_str(),
                caller.session.as_str(),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_differ_by_export_project_and_for_others_agent_and_session() {
        let alice = Caller::new("p", "alice", "s", "r1");
        let bob = Caller::new("p", "bob", "s", "r2");
        let other_session = Caller::new("p", "alice", "t", "r3");
        let other_project = Caller::new("q", "alice", "s", "r4");
        let s = |e, c: &Caller, r| Scope::of(e, c, r);
        for reach in [Reach::Project, Reach::Session] {
            assert_ne!(
                s(Export::Policy, &alice, reach),
                s(Export::Masking, &alice, reach)
            );
            assert_ne!(
                s(Export::Policy, &alice, reach),
                s(Export::Policy, &other_project, reach)
            );
            // The request id never matters.
            assert_eq!(
                s(Export::Policy, &alice, reach),
                s(Export::Policy, &Caller::new("p", "alice", "s", "r9"), reach)
            );
        }
        assert_eq!(
            s(Export::Policy, &alice, Reach::Project),
            s(Export::Policy, &bob, Reach::Project)
        );
        assert_ne!(
            s(Export::Policy, &alice, Reach::Session),
            s(Export::Policy, &bob, Reach::Session)
        );
        assert_ne!(
            s(Export::Policy, &alice, Reach::Session),
            s(Export::Policy, &other_session, Reach::Session)
        );
    }
}
