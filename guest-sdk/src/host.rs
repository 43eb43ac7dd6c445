//! What the host offers a plugin: logging, a clock and the plugin's own
//! configuration.
//!
//! Inside a Wasm component these call the host. In a native `cargo test` they
//! use the per-thread [`TestHost`](crate::testing::TestHost) instead, so a
//! plugin can be unit-tested without building Wasm.

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Very verbose.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected.
    Warn,
    /// Something failed.
    Error,
}

/// Writes a log line; the host tags it with the plugin's name and the request id.
pub fn log(level: Level, message: &str) {
    imp::log(level, message);
}

/// Logs at [`Level::Debug`].
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs at [`Level::Info`].
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at [`Level::Warn`].
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Wall-clock time in milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    imp::now_millis()
}

/// The plugin's configuration from the policy file, as JSON text (`{}` if none).
pub fn config() -> String {
    imp::config()
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Level;
    use crate::bindings::wit_host as h;

    pub(super) fn log(level: Level, message: &str) {
        let level = match level {
            Level::Trace => h::Level::Trace,
            Level::Debug => h::Level::Debug,
            Level::Info => h::Level::Info,
            Level::Warn => h::Level::Warn,
            Level::Error => h::Level::Error,
        };
        h::log(level, message);
    }

    pub(super) fn now_millis() -> u64 {
        h::now_millis()
    }

    pub(super) fn config() -> String {
        h::config()
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::Level;
    use crate::testing::with_test_host;

    pub(super) fn log(level: Level, message: &str) {
        with_test_host(|h| h.logs.push((level, message.to_owned())));
    }

    pub(super) fn now_millis() -> u64 {
        with_test_host(|h| h.now_millis)
    }

    pub(super) fn config() -> String {
        with_test_host(|h| h.config.clone())
    }
}
