//! The server configuration file (YAML): where to listen, the data directory,
//! engine settings, and the plugins to load.
//!
//! Unknown keys are errors. Plugin paths are resolved through a capability
//! directory (the configuration file's own directory), so a path in the file
//! can never reach outside it.

mod settings;

pub use settings::{AuditSettings, GrantSettings, HttpSettings, MaskSettings, ReloadSettings};

use crate::error::{Error, Result};
use crate::runtime::{EngineSettings, PluginSpec};
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The embedded default configuration (`host/config/default.yaml`).
pub const DEFAULT_CONFIG: &str = include_str!("../../config/default.yaml");

/// The embedded example policy (`host/config/example-policy.yaml`), used with
/// the embedded default configuration.
pub const EXAMPLE_POLICY: &str = include_str!("../../config/example-policy.yaml");

/// The configuration file's contents.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on, e.g. `127.0.0.1:8080` (`:0` picks a free port).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Data directory (the audit trail, the masking key, the compiled-code
    /// cache). In a configuration file, a relative path is relative to the
    /// file's directory, like every other path in the file (the default,
    /// `palisade-data`, too); `--data-dir` on the command line and the
    /// embedded configuration's default are relative to the working directory.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Engine settings.
    #[serde(default)]
    pub engine: EngineSettings,
    /// The policy: a file, or a directory of `.yaml` files, inside the
    /// configuration's directory. Without it, no agent is known and every
    /// request is refused.
    #[serde(default)]
    pub policy: Option<PathBuf>,
    /// Plugins by name.
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginSpec>,
    /// Limits of `POST /v1/mask`.
    #[serde(default)]
    pub masking: MaskSettings,
    /// The audit trail.
    #[serde(default)]
    pub audit: AuditSettings,
    /// HTTP serving: timeouts, the connection cap, the shutdown deadline.
    #[serde(default)]
    pub http: HttpSettings,
    /// Hot reload of the policy.
    #[serde(default)]
    pub reload: ReloadSettings,
    /// Notification channels: where each is, secrets from the environment.
    #[serde(default)]
    pub notify: crate::notify::NotifySettings,
    /// Just-in-time elevation: how long a grant may last.
    #[serde(default)]
    pub grants: GrantSettings,
    /// The price of usage, per model (dollars per million tokens).
    #[serde(default)]
    pub pricing: crate::budget::Pricing,
    /// Budget reservations: how long they wait, how many may be in flight.
    #[serde(default)]
    pub budgets: crate::budget::BudgetSettings,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

/// The data directory when none is configured: `./palisade-data`.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("palisade-data")
}

/// A parsed configuration and where its relative paths resolve.
#[derive(Debug)]
pub struct LoadedConfig {
    /// The configuration.
    pub config: Config,
    /// The file it came from, or `<embedded>`.
    pub origin: String,
    base: Option<Dir>,
    base_path: Option<PathBuf>,
}

impl LoadedConfig {
    /// The embedded default.
    pub fn embedded() -> Result<Self> {
        Ok(Self {
            config: parse(DEFAULT_CONFIG, "<embedded>")?,
            origin: "<embedded>".into(),
            base: None,
            base_path: None,
        })
    }

    /// A configuration for a policy alone (`palisade check`, `eval`, `test`):
    /// built-in plugins, the policy at `path`, plugin paths relative to it.
    pub fn for_policy(path: &Path) -> Result<Self> {
        let (dir, name) = match (path.parent(), path.file_name()) {
            (Some(d), Some(n)) => (
                if d.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    d
                },
                n,
            ),
            _ => (Path::new("."), path.as_os_str()),
        };
        let base = Dir::open_ambient_dir(dir, ambient_authority()).map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })?;
        let mut config = parse("{}", "<policy>")?;
        config.policy = Some(PathBuf::from(name));
        Ok(Self {
            config,
            origin: path.display().to_string(),
            base: Some(base),
            base_path: Some(dir.to_owned()),
        })
    }

    /// Reads and validates the file at `path`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut config = parse(&text, &origin)?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        // Every relative path in the file is relative to the file: a service
        // started from another directory must not write its audit trail
        // somewhere else.
        if config.data_dir.is_relative() {
            let joined = dir.join(&config.data_dir);
            config.data_dir = std::path::absolute(&joined).unwrap_or(joined);
        }
        let base =
            Dir::open_ambient_dir(&dir, ambient_authority()).map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
        Ok(Self {
            config,
            origin,
            base: Some(base),
            base_path: Some(dir),
        })
    }

    /// Where the policy lives on disk, when it comes from a file or directory.
    pub fn policy_path(&self) -> Option<PathBuf> {
        Some(self.base_path.as_ref()?.join(self.config.policy.as_ref()?))
    }

    /// The policy root: the configured file or directory, the embedded
    /// example for the embedded configuration, or none (no project).
    pub fn policy_root(&self) -> Result<crate::policy::Root> {
        match (&self.config.policy, &self.base) {
            (Some(path), Some(base)) => {
                let display = match Path::new(&self.origin).parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => {
                        dir.join(path).display().to_string()
                    }
                    _ => path.display().to_string(),
                };
                let name = path.to_str().ok_or_else(|| Error::Config {
                    path: self.origin.clone(),
                    message: format!("the policy path `{}` is not valid UTF-8", path.display()),
                })?;
                crate::policy::read_root(base, name, &display)
            }
            (Some(_), None) => Err(Error::Config {
                path: self.origin.clone(),
                message: "the embedded configuration cannot name a policy file".into(),
            }),
            (None, None) => Ok(crate::policy::Root::project(vec![crate::policy::Source {
                name: "<embedded example policy>".into(),
                text: EXAMPLE_POLICY.into(),
            }])),
            (None, Some(_)) => Ok(crate::policy::Root::project(Vec::new())),
        }
    }

    /// The component bytes of plugin `name`, declared in the configuration
    /// or in a policy that is one project: a `path` is relative to the
    /// configuration's directory and cannot leave it.
    pub fn plugin_bytes(&self, name: &str, spec: &PluginSpec) -> Result<Vec<u8>> {
        self.plugin_bytes_in(None, name, spec)
    }

    /// The component bytes of plugin `name` that the project in `folder` of
    /// a directory of projects declares: a `path` is relative to that folder
    /// and cannot leave it, so a project can only run components its own
    /// folder holds.
    pub fn project_plugin_bytes(
        &self,
        folder: &str,
        name: &str,
        spec: &PluginSpec,
    ) -> Result<Vec<u8>> {
        self.plugin_bytes_in(Some(folder), name, spec)
    }

    fn plugin_bytes_in(
        &self,
        folder: Option<&str>,
        name: &str,
        spec: &PluginSpec,
    ) -> Result<Vec<u8>> {
        let err = |message: String| Error::Config {
            path: folder.map_or_else(|| self.origin.clone(), |f| format!("{f}/")),
            message: format!("plugin `{name}`: {message}"),
        };
        match (&spec.path, &spec.builtin) {
            (Some(path), None) => {
                let base = self.base.as_ref().ok_or_else(|| {
                    err("the embedded configuration can only use `builtin` plugins".into())
                })?;
                let (dir, within) = match (folder, &self.config.policy) {
                    (Some(folder), Some(policy)) => (
                        base.open_dir(policy.join(folder))
                            .map_err(|e| err(format!("cannot open the project's folder: {e}")))?,
                        "the project's folder",
                    ),
                    // Never the configuration's directory for a project's
                    // plugin.
                    (Some(_), None) => {
                        return Err(err("a project's plugin needs the policy directory".into()));
                    }
                    (None, _) => (
                        base.try_clone().map_err(|e| err(e.to_string()))?,
                        "the configuration's directory",
                    ),
                };
                dir.read(path).map_err(|e| {
                    err(format!(
                        "cannot read `{}` (paths are relative to {within} and cannot leave \
                         it): {e}",
                        path.display()
                    ))
                })
            }
            (None, Some(builtin)) => crate::builtin::plugin(builtin)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| {
                    let known: Vec<&str> = crate::builtin::names().collect();
                    err(format!(
                        "there is no built-in plugin `{builtin}`; built-in plugins are: {}",
                        known.join(", ")
                    ))
                }),
            _ => Err(err(
                "write exactly one of `path: FILE.wasm` or `builtin: NAME`".into(),
            )),
        }
    }
}

/// Parses and validates configuration text; errors carry `origin:line:column`.
pub fn parse(text: &str, origin: &str) -> Result<Config> {
    let doc = crate::yaml::parse(text).map_err(|e| Error::Config {
        path: format!("{origin}:{}", e.pos),
        message: e.message,
    })?;
    let config: Config = crate::yaml::deserialize_at(&doc, origin)?;
    if !(1..=100_000).contains(&config.engine.max_instances) {
        return Err(Error::Config {
            path: format!("{origin}:{}", doc.pos("/engine/max_instances")),
            message: "`engine.max_instances` must be between 1 and 100000".into(),
        });
    }
    if !(1..=86_400).contains(&config.audit.export_every.0) {
        return Err(Error::Config {
            path: format!("{origin}:{}", doc.pos("/audit/export_every")),
            message: "`audit.export_every` must be between 1s and 1d".into(),
        });
    }
    if config.audit.commit_delay_us > crate::audit::MAX_COMMIT_DELAY_US {
        return Err(Error::Config {
            path: format!("{origin}:{}", doc.pos("/audit/commit_delay_us")),
            message: format!(
                "`audit.commit_delay_us` must be between 0 and {}",
                crate::audit::MAX_COMMIT_DELAY_US
            ),
        });
    }
    config.notify.validate().map_err(|message| Error::Config {
        path: format!("{origin}:{}", doc.pos("/notify")),
        message,
    })?;
    config
        .http
        .validate()
        .map_err(|(key, message)| Error::Config {
            path: format!("{origin}:{}", doc.pos(&format!("/http/{key}"))),
            message,
        })?;
    if !(1..=30 * 86_400).contains(&config.grants.max_ttl.0) {
        return Err(Error::Config {
            path: format!("{origin}:{}", doc.pos("/grants/max_ttl")),
            message: "`grants.max_ttl` must be between 1s and 30d".into(),
        });
    }
    config.budgets.validate().map_err(|message| Error::Config {
        path: format!("{origin}:{}", doc.pos("/budgets")),
        message,
    })?;
    if !(10..=10_000).contains(&config.reload.settle_ms) {
        return Err(Error::Config {
            path: format!("{origin}:{}", doc.pos("/reload/settle_ms")),
            message: "`reload.settle_ms` must be between 10 and 10000".into(),
        });
    }
    config.masking.validate().map_err(|message| Error::Config {
        path: format!("{origin}:{}", doc.pos("/masking")),
        message,
    })?;
    config
        .audit
        .s3
        .validate()
        .map_err(|message| Error::Config {
            path: format!("{origin}:{}", doc.pos("/audit/s3/endpoint")),
            message,
        })?;
    for (name, spec) in &config.plugins {
        spec.validate().map_err(|message| Error::Config {
            path: format!("{origin}:{}", doc.pos(&format!("/plugins/{name}"))),
            message: format!("plugin `{name}`: {message}"),
        })?;
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::units::Duration;
    use crate::runtime::{Limits, default_share};

    /// A service started from another directory reads and writes where its
    /// configuration file says, not where it happens to be started.
    #[test]
    fn relative_paths_in_a_file_are_relative_to_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let etc = tmp.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        std::fs::write(etc.join("given.yaml"), "data_dir: state/palisade\n").unwrap();
        std::fs::write(etc.join("default.yaml"), "listen: 127.0.0.1:0\n").unwrap();
        std::fs::write(etc.join("absolute.yaml"), "data_dir: /var/lib/palisade\n").unwrap();
        let given = LoadedConfig::from_file(&etc.join("given.yaml")).unwrap();
        assert_eq!(given.config.data_dir, etc.join("state/palisade"));
        let default = LoadedConfig::from_file(&etc.join("default.yaml")).unwrap();
        assert_eq!(default.config.data_dir, etc.join("palisade-data"));
        let absolute = LoadedConfig::from_file(&etc.join("absolute.yaml")).unwrap();
        assert_eq!(absolute.config.data_dir, Path::new("/var/lib/palisade"));
        // The embedded default stays relative to the working directory.
        let embedded = LoadedConfig::embedded().unwrap();
        assert_eq!(embedded.config.data_dir, Path::new("palisade-data"));
    }

    #[test]
    fn embedded_default_parses() {
        let c = LoadedConfig::embedded().map(|l| l.config);
        assert!(c.is_ok_and(|c| c.plugins.contains_key("glob")));
    }

    #[test]
    fn unknown_keys_are_errors_with_location() {
        let e = parse(
            "listen: 127.0.0.1:1\nplugins:\n  a:\n    builtin: glob\n    fule: 3\n",
            "p.yaml",
        );
        let msg = e.map(|_| ()).unwrap_err().to_string();
        assert!(msg.starts_with("p.yaml:5:"), "{msg}");
        assert!(msg.contains("unknown field `fule`"), "{msg}");
    }

    #[test]
    fn notify_settings_are_checked_where_they_are_written() {
        let c = parse(
            "notify:\n  slack:\n    channels:\n      \"#deploy-approvals\": {webhook_url_env: SLACK_URL}\n",
            "p.yaml",
        )
        .unwrap();
        assert!(
            c.notify
                .knows(&crate::notify::Channel::parse("slack:#deploy-approvals").unwrap())
        );
        for (text, says) in [
            ("notify:\n  retry: {attempts: 0}\n", "attempts"),
            (
                "notify:\n  slack:\n    channels:\n      deploy: {webhook_url_env: X}\n",
                "not a Slack channel",
            ),
            (
                "notify:\n  webhooks:\n    pager: {url: ftp://x, secret_env: S}\n",
                "http:// or https://",
            ),
            (
                "notify:\n  telegram: {base_url: \"http://api.example.com\"}\n",
                "only to this machine",
            ),
            (
                "notify:\n  slack:\n    channels:\n      \"#a\": {webhook_url: https://hooks.slack.com/x}\n",
                "unknown field",
            ),
        ] {
            let e = parse(text, "p.yaml").unwrap_err().to_string();
            assert!(e.starts_with("p.yaml:") && e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn audit_settings() {
        let c = parse(
            "audit:\n  export_every: 5s\n  s3: {endpoint: \"http://127.0.0.1:9000\", region: local, path_style: true}\n",
            "p.yaml",
        )
        .unwrap();
        assert!(c.audit.enabled);
        assert_eq!(c.audit.export_every, Duration(5));
        assert_eq!(
            c.audit.s3.endpoint.as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(c.audit.s3.path_style, Some(true));
        let e = parse("audit:\n  export_every: 0s\n", "p.yaml")
            .map(|_| ())
            .unwrap_err();
        assert!(e.to_string().contains("export_every"), "{e}");
        assert_eq!(c.audit.commit_delay_us, 100);
        let c = parse("audit:\n  commit_delay_us: 0\n", "p.yaml").unwrap();
        assert_eq!(c.audit.commit_delay_us, 0);
        let e = parse("audit:\n  commit_delay_us: 20000\n", "p.yaml")
            .map(|_| ())
            .unwrap_err();
        assert!(
            e.to_string().starts_with("p.yaml:2:") && e.to_string().contains("commit_delay_us"),
            "{e}"
        );
        for bad in ["not a url", "ftp://host/", "file:///tmp"] {
            let e = parse(
                &format!("audit:\n  s3:\n    endpoint: \"{bad}\"\n"),
                "p.yaml",
            )
            .map(|_| ())
            .unwrap_err();
            assert!(
                e.to_string().starts_with("p.yaml:3:") && e.to_string().contains("endpoint"),
                "{e}"
            );
        }
        let e = parse("audit:\n  s3: {secret_access_key: x}\n", "p.yaml")
            .map(|_| ())
            .unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn masking_limits_have_safe_defaults_and_ranges() {
        let c = parse("{}", "p.yaml").unwrap();
        assert_eq!(c.masking.limits(), crate::masking::Limits::default());
        let c = parse(
            "masking:\n  max_values: 1000\n  max_findings: 10\n  max_pointer_bytes: 2048\n  max_answer_bytes: 4096\n",
            "p.yaml",
        )
        .unwrap();
        assert_eq!(
            (c.masking.max_values, c.masking.limits().max_findings),
            (1000, 10)
        );
        for bad in ["max_findings: 0", "max_values: 1", "max_answer_bytes: 10"] {
            let e = parse(&format!("masking:\n  {bad}\n"), "p.yaml")
                .map(|_| ())
                .unwrap_err();
            let setting = bad.split(':').next().unwrap_or_default();
            assert!(
                e.to_string()
                    .contains(&format!("`masking.{setting}` must be between")),
                "{e}"
            );
        }
    }

    #[test]
    fn http_and_reload_settings() {
        let c = parse("{}", "p.yaml").unwrap();
        assert_eq!(c.http, HttpSettings::default());
        assert_eq!(c.reload.settle_ms, 300);
        let c = parse(
            "http:\n  header_read_timeout: 2s\n  max_connections: 8\n  shutdown_timeout: 0s\nreload:\n  settle_ms: 50\n",
            "p.yaml",
        )
        .unwrap();
        assert_eq!(c.http.header_read_timeout, Duration(2));
        assert_eq!(c.http.max_connections, 8);
        assert_eq!(c.http.shutdown_timeout, Duration(0));
        assert_eq!(c.http.body_timeout, Duration(30));
        assert_eq!(c.reload.settle_ms, 50);
        for (bad, key) in [
            ("http:\n  header_read_timeout: 0s\n", "header_read_timeout"),
            ("http:\n  max_connections: 0\n", "max_connections"),
            ("http:\n  idle_timeout: 2h\n", "idle_timeout"),
            ("reload:\n  settle_ms: 1\n", "settle_ms"),
        ] {
            let e = parse(bad, "p.yaml").map(|_| ()).unwrap_err().to_string();
            assert!(e.starts_with("p.yaml:2:") && e.contains(key), "{e}");
        }
        let e = parse("http:\n  read_timeout: 1s\n", "p.yaml")
            .map(|_| ())
            .unwrap_err();
        assert!(
            e.to_string().contains("unknown field `read_timeout`"),
            "{e}"
        );
    }

    #[test]
    fn plugin_needs_exactly_one_source() {
        let e = parse("plugins:\n  a:\n    sha256: x\n", "p.yaml")
            .map(|_| ())
            .unwrap_err();
        assert!(e.to_string().contains("exactly one of"), "{e}");
    }

    #[test]
    fn bad_pin_is_explained() {
        let e = parse(
            "plugins:\n  a:\n    builtin: glob\n    sha256: abc\n",
            "p.yaml",
        )
        .map(|_| ())
        .unwrap_err();
        assert!(e.to_string().contains("not a sha256 digest"), "{e}");
    }

    #[test]
    fn plugins_share_the_engine_and_never_exceed_it() {
        let spec = |n: Option<u32>| PluginSpec {
            limits: Limits {
                max_instances: n,
                ..Limits::default()
            },
            ..PluginSpec::default()
        };
        let six = vec![spec(None); 6];
        assert_eq!(default_share(512, &six), Ok(85));
        let mixed = [spec(Some(4)), spec(None), spec(None)];
        assert_eq!(default_share(16, &mixed), Ok(6));
        let e = default_share(8, &[spec(Some(6)), spec(None), spec(None), spec(None)]);
        assert!(
            e.as_ref()
                .is_err_and(|m| m.contains("add up to 6") && m.contains("engine.max_instances")),
            "{e:?}"
        );
        assert!(default_share(8, &[spec(Some(9))]).is_err());
        assert_eq!(default_share(8, &[spec(Some(8))]), Ok(0));
        let c = parse(
            "engine: {max_instances: 64, plugin_threads: 3}\nplugins:\n  a:\n    builtin: glob\n    limits: {max_instances: 8, max_calls_per_agent: 2}\n",
            "p.yaml",
        )
        .unwrap();
        assert_eq!(c.engine.plugin_threads, 3);
        assert_eq!(c.plugins["a"].limits.max_calls_per_agent, Some(2));
        assert!(c.plugins["a"].options().first_party);
        let e = parse(
            "plugins:\n  a:\n    builtin: glob\n    limits: {max_instances: 2, max_calls_per_agent: 3}\n",
            "p.yaml",
        )
        .map(|_| ())
        .unwrap_err();
        assert!(e.to_string().contains("max_calls_per_agent"), "{e}");
    }

    #[test]
    fn bad_limits_are_explained() {
        let e = parse(
            "plugins:\n  a:\n    builtin: glob\n    limits: {memory_mib: 99999}\n",
            "p.yaml",
        )
        .map(|_| ())
        .unwrap_err();
        assert!(e.to_string().contains("memory_mib"), "{e}");
    }
}
