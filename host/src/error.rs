//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in Palisade's library.
///
/// The plugin-call variants (`OutOfFuel` … `MalformedOutput`) are the typed
/// failures the decision chain turns into deny; [`Error::is_plugin_failure`]
/// tells them apart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The plugin used up its fuel budget.
    #[error("plugin `{plugin}` ran out of fuel (limit {fuel} units)")]
    OutOfFuel {
        /// Plugin name.
        plugin: String,
        /// The fuel limit.
        fuel: u64,
    },
    /// The plugin ran past its wall-clock deadline.
    #[error("plugin `{plugin}` exceeded its deadline of {deadline_ms} ms")]
    DeadlineExceeded {
        /// Plugin name.
        plugin: String,
        /// The deadline.
        deadline_ms: u64,
    },
    /// The plugin tried to grow its memory past its cap.
    #[error("plugin `{plugin}` exceeded its memory limit of {limit_mib} MiB")]
    MemoryLimit {
        /// Plugin name.
        plugin: String,
        /// The cap.
        limit_mib: u32,
    },
    /// The plugin overflowed its stack.
    #[error("plugin `{plugin}` overflowed its stack")]
    StackOverflow {
        /// Plugin name.
        plugin: String,
    },
    /// The plugin trapped (a Rust plugin's panic ends here).
    #[error("plugin `{plugin}` trapped: {message}")]
    Trap {
        /// Plugin name.
        plugin: String,
        /// What the trap was.
        message: String,
    },
    /// The plugin's answer was larger than allowed.
    #[error("plugin `{plugin}` returned {size} bytes, more than its limit of {limit} bytes")]
    OversizedOutput {
        /// Plugin name.
        plugin: String,
        /// Size of the answer.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The plugin's answer did not make sense.
    #[error("plugin `{plugin}` returned malformed output: {detail}")]
    MalformedOutput {
        /// Plugin name.
        plugin: String,
        /// What was wrong.
        detail: String,
    },
    /// A masking request went past one of the `masking:` limits of the
    /// server configuration; nothing of it is returned.
    #[error(
        "{what}; the limit is `masking.{setting}` ({limit}); nothing is returned: \
         send the content in smaller parts"
    )]
    MaskingLimit {
        /// What went past it, e.g. "plugin `pii` reported 200000 findings".
        what: String,
        /// The setting, e.g. `max_findings`.
        setting: &'static str,
        /// Its value.
        limit: usize,
    },
    /// The plugin ended itself (`wasi:cli/exit`, Rust's `std::process::exit`)
    /// instead of answering.
    #[error("plugin `{plugin}` exited with status {code} instead of answering")]
    PluginExited {
        /// Plugin name.
        plugin: String,
        /// The exit status it gave.
        code: i32,
    },
    /// The plugin held more host resources (WASI streams, pollables, …) than
    /// a store may hold.
    #[error("plugin `{plugin}` exceeded its limit of {limit} host resource handles")]
    HandleLimit {
        /// Plugin name.
        plugin: String,
        /// The limit.
        limit: usize,
    },
    /// A host call asked for more than the host gives (e.g. random bytes).
    #[error("plugin `{plugin}` made a host call over its limit: {detail}")]
    HostCallLimit {
        /// Plugin name.
        plugin: String,
        /// Which call, what it asked for, and the limit.
        detail: String,
    },
    /// No plugin of that name is loaded.
    #[error("plugin `{plugin}` is not loaded")]
    PluginMissing {
        /// Plugin name.
        plugin: String,
    },
    /// The plugin does not export the interface asked for.
    #[error("plugin `{plugin}` does not export `{interface}`")]
    MissingExport {
        /// Plugin name.
        plugin: String,
        /// The interface, e.g. `policy`.
        interface: &'static str,
    },
    /// The plugin (or one agent's calls to it) is at its bound of calls in
    /// flight; the call is refused without running.
    #[error("plugin `{plugin}` already has {limit} calls {scope}, its `limits.{setting}`")]
    TooManyCalls {
        /// Plugin name.
        plugin: String,
        /// The bound.
        limit: u32,
        /// Whose calls: `in flight`, or `in flight for agent `…``.
        scope: String,
        /// The setting that holds the bound.
        setting: &'static str,
    },
    /// The plugin's bytes differ from the digest pinned in configuration.
    #[error(
        "plugin `{plugin}` has sha256 `{actual}`, but the configuration pins `{expected}`; \
         update the pin if the new build is trusted"
    )]
    DigestMismatch {
        /// Plugin name.
        plugin: String,
        /// The pinned digest.
        expected: String,
        /// The digest of the bytes found.
        actual: String,
    },
    /// The plugin is not a valid component, or does not fit the host.
    #[error("plugin `{plugin}` cannot be loaded: {message}")]
    InvalidPlugin {
        /// Plugin name.
        plugin: String,
        /// Why.
        message: String,
    },
    /// The configuration is invalid.
    #[error("{path}: {message}")]
    Config {
        /// The file (or `<embedded>`).
        path: String,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// The audit trail could not be written or read.
    #[error("audit trail: {message}")]
    Audit {
        /// What went wrong.
        message: String,
    },
    /// The audit log was closed (the server is shutting down).
    #[error("the audit log is closed")]
    AuditClosed,
    /// An audit export could not write to its destination; the file it was
    /// writing is not marked exported, and the next export retries it.
    #[error("audit export to `{destination}` failed: {message}")]
    Export {
        /// The destination or object, e.g. `s3://bucket/prefix/audit-2026-11-23T14.jsonl`.
        destination: String,
        /// What went wrong.
        message: String,
    },
    /// The audit trail failed verification.
    #[error("audit trail broken: {0}")]
    AuditBroken(crate::record::Broken),
    /// The durable state store (approvals, grants, budgets, …) failed.
    #[error("state store {message}")]
    Store {
        /// What failed, naming the database.
        message: String,
    },
    /// A file could not be read or written.
    #[error("cannot access `{path}`: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The Wasm engine could not be set up.
    #[error("cannot set up the Wasm engine: {0}")]
    Engine(String),
}

impl Error {
    /// True for the failures of a plugin call, which a decision turns into deny.
    pub fn is_plugin_failure(&self) -> bool {
        matches!(
            self,
            Self::OutOfFuel { .. }
                | Self::DeadlineExceeded { .. }
                | Self::MemoryLimit { .. }
                | Self::StackOverflow { .. }
                | Self::Trap { .. }
                | Self::OversizedOutput { .. }
                | Self::MalformedOutput { .. }
                | Self::PluginExited { .. }
                | Self::HandleLimit { .. }
                | Self::HostCallLimit { .. }
                | Self::PluginMissing { .. }
                | Self::MissingExport { .. }
                | Self::TooManyCalls { .. }
        )
    }

    /// A short machine-readable name for the error, e.g. `out_of_fuel`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::OutOfFuel { .. } => "out_of_fuel",
            Self::DeadlineExceeded { .. } => "deadline_exceeded",
            Self::MemoryLimit { .. } => "memory_limit",
            Self::StackOverflow { .. } => "stack_overflow",
            Self::Trap { .. } => "trap",
            Self::OversizedOutput { .. } => "oversized_output",
            Self::MalformedOutput { .. } => "malformed_output",
            Self::MaskingLimit { .. } => "masking_limit",
            Self::PluginExited { .. } => "plugin_exited",
            Self::HandleLimit { .. } => "handle_limit",
            Self::HostCallLimit { .. } => "host_call_limit",
            Self::PluginMissing { .. } => "plugin_missing",
            Self::MissingExport { .. } => "missing_export",
            Self::TooManyCalls { .. } => "too_many_calls",
            Self::DigestMismatch { .. } => "digest_mismatch",
            Self::InvalidPlugin { .. } => "invalid_plugin",
            Self::Config { .. } => "config",
            Self::Audit { .. } => "audit",
            Self::AuditClosed => "audit_closed",
            Self::Export { .. } => "export",
            Self::AuditBroken(_) => "audit_broken",
            Self::Store { .. } => "store",
            Self::Io { .. } => "io",
            Self::Engine(_) => "engine",
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
