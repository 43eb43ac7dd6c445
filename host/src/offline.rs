//! Deciding without a server: `palisade eval` (one request, explained) and
//! `palisade test` (policy tests in YAML, like `opa test`). Same policy
//! loader, same plugins, same chain as the server.

use crate::chain;
use crate::config::LoadedConfig;
use crate::decision::{Decision, Outcome};
use crate::error::{Error, Result};
use crate::runtime::types::DecisionRequest;
use crate::runtime::{EngineSettings, Runtime};
use crate::snapshot::{Project, Snapshot};
use crate::yaml;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A request as written in a request or test file: the agent by name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// The agent's project; needed when the policy holds several (in a test
    /// file, the file's `project:` is the default).
    #[serde(default)]
    pub project: Option<String>,
    /// The agent's name in its project.
    pub agent: String,
    /// Session id (default `eval`).
    #[serde(default = "default_session")]
    pub session: String,
    /// Service.
    pub service: String,
    /// Action.
    pub action: String,
    /// Resource.
    pub resource: String,
    /// Attributes such as `branch`.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

fn default_session() -> String {
    "eval".into()
}

/// A policy and its plugins, loaded for offline decisions.
pub struct Offline {
    snapshot: Snapshot,
    _runtime: Runtime,
    /// Plugin calls are async; this one thread runs them.
    executor: tokio::runtime::Runtime,
}

impl Offline {
    /// Loads the policy at `path` (a file or a directory) with every plugin.
    pub fn load(path: &Path) -> Result<Self> {
        let loaded = LoadedConfig::for_policy(path)?;
        let settings = EngineSettings {
            pooling: false,
            ..EngineSettings::default()
        };
        let runtime = Runtime::new(&settings, None)?;
        let snapshot = crate::server::load(&runtime, &loaded)?;
        let executor = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| Error::Engine(format!("cannot start an executor: {e}")))?;
        Ok(Self {
            snapshot,
            _runtime: runtime,
            executor,
        })
    }

    /// What was loaded: every project and the server's part.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The project `named`, or the only one when none is named.
    fn project(&self, named: Option<&str>) -> Result<&Project> {
        let projects = &self.snapshot.projects;
        let names = || projects.keys().cloned().collect::<Vec<_>>().join(", ");
        let found = match named {
            Some(name) => projects.get(name),
            None if projects.len() == 1 => projects.values().next(),
            None => {
                return Err(Error::Config {
                    path: "<request>".into(),
                    message: format!(
                        "the policy holds several projects; name one with `project:` ({})",
                        names()
                    ),
                });
            }
        };
        found.map(|p| &**p).ok_or_else(|| Error::Config {
            path: "<request>".into(),
            message: format!(
                "project `{}` is not in the policy; projects are: {}",
                named.unwrap_or_default(),
                names()
            ),
        })
    }

    /// Decides one request (blocking, on the evaluator's own executor:
    /// not to be called from async code).
    pub fn decide(&self, spec: &RequestSpec) -> Result<Decision> {
        self.decide_in(spec).map(|(d, _)| d)
    }

    /// [`Offline::decide`], with the policy of the project it was decided in.
    pub fn decide_in(&self, spec: &RequestSpec) -> Result<(Decision, &crate::policy::Policy)> {
        let project = self.project(spec.project.as_deref())?;
        let policy = &project.policy;
        let agent = policy
            .agents
            .get(&spec.agent)
            .ok_or_else(|| Error::Config {
                path: "<request>".into(),
                message: format!(
                    "agent `{}` is not in project `{}`; its agents are: {}",
                    spec.agent,
                    policy.project,
                    policy.agents.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            })?;
        let request = DecisionRequest {
            request_id: crate::identity::new_id("eval"),
            agent: agent.name.clone(),
            session: spec.session.clone(),
            project: policy.project.clone(),
            service: spec.service.clone(),
            action: spec.action.clone(),
            resource: spec.resource.clone(),
            attributes: spec.attributes.clone().into_iter().collect(),
        };
        let decision =
            self.executor
                .block_on(chain::decide(policy, &project.plugins, agent, &request));
        Ok((decision, policy))
    }
}

/// A test file: the policy it tests and its cases.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    /// The policy, relative to the test file.
    policy: PathBuf,
    /// The project of every case that names none.
    #[serde(default)]
    project: Option<String>,
    tests: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: String,
    request: RequestSpec,
    expect: Outcome,
    /// A substring the reason must contain.
    #[serde(default)]
    reason: Option<String>,
}

/// The result of one test.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// Test name.
    pub name: String,
    /// `file:line` of the test.
    pub at: String,
    /// The project it was decided in (as named, or the only one).
    pub project: String,
    /// `None` when it passed; otherwise what differed.
    pub failure: Option<String>,
}

/// Runs every test of the test file at `path`.
pub fn run_tests(path: &Path) -> Result<Vec<TestResult>> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let doc = yaml::parse(&text).map_err(|e| Error::Config {
        path: format!("{origin}:{}", e.pos),
        message: e.message,
    })?;
    let file: TestFile = yaml::deserialize_at(&doc, &origin)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let offline = Offline::load(&base.join(&file.policy))?;
    let mut results = Vec::new();
    for (i, case) in file.tests.iter().enumerate() {
        let at = format!("{origin}:{}", doc.pos(&format!("/tests/{i}")).line);
        let mut request = case.request.clone();
        if request.project.is_none() {
            request.project.clone_from(&file.project);
        }
        let mut project = request.project.clone().unwrap_or_default();
        let failure = match offline.decide_in(&request) {
            Err(e) => Some(format!("error: {e}")),
            Ok((d, policy)) => {
                project.clone_from(&policy.project);
                let reason_ok = case
                    .reason
                    .as_ref()
                    .is_none_or(|r| d.reason.contains(r.as_str()));
                if d.outcome != case.expect || !reason_ok {
                    let want_reason = case
                        .reason
                        .as_ref()
                        .map(|r| format!(" with a reason containing `{r}`"))
                        .unwrap_or_default();
                    Some(format!(
                        "expected: {}{want_reason}\n     got: {} ({})",
                        outcome_name(case.expect),
                        outcome_name(d.outcome),
                        d.reason
                    ))
                } else {
                    None
                }
            }
        };
        results.push(TestResult {
            name: case.name.clone(),
            at,
            project,
            failure,
        });
    }
    Ok(results)
}

/// `allow`, `deny`, `approval_required` or `throttled`.
pub fn outcome_name(o: Outcome) -> &'static str {
    o.as_str()
}
