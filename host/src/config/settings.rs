//! The server configuration's settings blocks: `http`, `reload`, `audit`,
//! `masking` and `grants`, each with safe defaults and its own validation.

use crate::audit::S3Settings;
use crate::policy::units::Duration;
use serde::Deserialize;

/// HTTP serving limits (see `docs/policy.md`, "Serving").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Time for a request's head (request line and headers) to arrive in
    /// full, from the connection's opening or from the head's first byte on
    /// a kept-alive connection (default `10s`).
    pub header_read_timeout: Duration,
    /// Time for a request's body to arrive in full once its head has
    /// (default `30s`).
    pub body_timeout: Duration,
    /// Time a kept-alive connection may wait for its next request (default
    /// `60s`).
    pub idle_timeout: Duration,
    /// Connections served at once (default 1024); further connections wait
    /// in the listen backlog until one closes.
    pub max_connections: usize,
    /// On SIGTERM, time given to open connections to finish their requests
    /// before they are cut, so that the final audit export runs (default
    /// `10s`).
    pub shutdown_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration(10),
            body_timeout: Duration(30),
            idle_timeout: Duration(60),
            max_connections: 1024,
            shutdown_timeout: Duration(10),
        }
    }
}

impl HttpSettings {
    /// Checks the settings are in range; the message names the key.
    pub fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        for (key, value) in [
            ("header_read_timeout", self.header_read_timeout),
            ("body_timeout", self.body_timeout),
            ("idle_timeout", self.idle_timeout),
        ] {
            if !(1..=3600).contains(&value.0) {
                return Err((key, format!("`http.{key}` must be between 1s and 1h")));
            }
        }
        if self.shutdown_timeout.0 > 3600 {
            return Err((
                "shutdown_timeout",
                "`http.shutdown_timeout` must be between 0s and 1h".into(),
            ));
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err((
                "max_connections",
                "`http.max_connections` must be between 1 and 1000000".into(),
            ));
        }
        Ok(())
    }
}

/// Just-in-time elevation (`grants:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrantSettings {
    /// The longest a grant may last (default `8h`, at most `30d`); a grant
    /// asked for longer is refused.
    pub max_ttl: Duration,
}

impl Default for GrantSettings {
    fn default() -> Self {
        Self {
            max_ttl: Duration(8 * 3600),
        }
    }
}

/// Hot reload settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReloadSettings {
    /// Milliseconds the policy files must stay unchanged before a reload
    /// reads them: the watcher waits this long after the last change, and
    /// every reload reads the files twice this far apart and retries while
    /// they differ (default 300, from 10 to 10000).
    pub settle_ms: u64,
}

impl Default for ReloadSettings {
    fn default() -> Self {
        Self { settle_ms: 300 }
    }
}

/// The audit trail's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Record every decision and administrative action in `audit.db` in the
    /// data directory (default). `false` is for measuring the decision path
    /// without it: decisions are then not recorded at all, and the server
    /// says so at start.
    pub enabled: bool,
    /// How often the server looks for complete periods to export and for
    /// records past their retention, when the policy's `audit:` block asks
    /// for either (default `60s`).
    pub export_every: Duration,
    /// How export reaches S3-compatible storage: endpoint, region,
    /// addressing style. Credentials come from the environment only.
    pub s3: S3Settings,
    /// Microseconds the audit writer lets a batch fill when decisions are
    /// being made side by side (default 100, at most 10000; 0 turns it
    /// off): more records per sync, less CPU per record, that much more
    /// latency under load. The delay applies only while decisions come
    /// side by side (the previous batch held more than one record).
    pub commit_delay_us: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            export_every: Duration(60),
            s3: S3Settings::default(),
            commit_delay_us: u64::try_from(crate::audit::DEFAULT_COMMIT_DELAY.as_micros())
                .unwrap_or(0),
        }
    }
}

/// Limits of masking requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaskSettings {
    /// Largest `POST /v1/mask` body, in bytes (default 4 MiB); larger bodies
    /// get `413`.
    pub max_body_bytes: usize,
    /// Deepest nesting of arrays and objects in a JSON document to mask
    /// (default 64, at most 100).
    pub max_depth: usize,
    /// Most values in a masking request's body, keys included (default
    /// 250,000); more get `413`.
    pub max_values: usize,
    /// Most findings one masking plugin call may report, and one answer may
    /// hold (default 100,000); more get `422`.
    pub max_findings: usize,
    /// Most bytes of JSON pointers the findings of one answer may carry
    /// (default 4 MiB); more get `422`.
    pub max_pointer_bytes: usize,
    /// Largest answer to a masking request, in bytes (default 32 MiB);
    /// larger get `422`.
    pub max_answer_bytes: usize,
}

impl Default for MaskSettings {
    fn default() -> Self {
        let limits = crate::masking::Limits::default();
        Self {
            max_body_bytes: 4 << 20,
            max_depth: 64,
            max_values: 250_000,
            max_findings: limits.max_findings,
            max_pointer_bytes: limits.max_pointer_bytes,
            max_answer_bytes: limits.max_answer_bytes,
        }
    }
}

impl MaskSettings {
    /// Checks the settings are in range.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let ranges: [(&str, usize, usize, usize); 6] = [
            ("max_body_bytes", self.max_body_bytes, 1024, 256 << 20),
            ("max_depth", self.max_depth, 1, 100),
            ("max_values", self.max_values, 16, 10_000_000),
            ("max_findings", self.max_findings, 1, 10_000_000),
            ("max_pointer_bytes", self.max_pointer_bytes, 1024, 1 << 30),
            ("max_answer_bytes", self.max_answer_bytes, 1024, 1 << 30),
        ];
        for (name, value, low, high) in ranges {
            if !(low..=high).contains(&value) {
                return Err(format!("`masking.{name}` must be between {low} and {high}"));
            }
        }
        Ok(())
    }

    /// The limits a masking request runs under.
    pub fn limits(&self) -> crate::masking::Limits {
        crate::masking::Limits {
            max_findings: self.max_findings,
            max_pointer_bytes: self.max_pointer_bytes,
            max_answer_bytes: self.max_answer_bytes,
        }
    }
}
