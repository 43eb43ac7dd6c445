//! A native test harness: unit-test a plugin with `cargo test`, no Wasm build.
//!
//! Call the plugin's trait methods directly; the host functions
//! ([`config`](crate::config), [`log`](crate::log), [`now_millis`](crate::now_millis))
//! read and write a per-thread [`TestHost`].
//!
//! ```
//! use palisade_guest::testing::TestHost;
//! TestHost::new().config(r#"{"strict":true}"#).now_millis(42).install();
//! assert_eq!(palisade_guest::config(), r#"{"strict":true}"#);
//! palisade_guest::info("hello");
//! assert_eq!(TestHost::logs().len(), 1);
//! ```

use crate::types::Level;
use std::cell::RefCell;

/// The host a natively tested plugin talks to.
#[derive(Debug, Clone)]
pub struct TestHost {
    /// Configuration returned by [`config`](crate::config).
    pub config: String,
    /// Time returned by [`now_millis`](crate::now_millis).
    pub now_millis: u64,
    /// Lines written by [`log`](crate::log).
    pub logs: Vec<(Level, String)>,
}

impl Default for TestHost {
    fn default() -> Self {
        Self {
            config: "{}".to_owned(),
            now_millis: 0,
            logs: Vec::new(),
        }
    }
}

thread_local! {
    static HOST: RefCell<TestHost> = RefCell::new(TestHost::default());
}

impl TestHost {
    /// A host with `{}` configuration, time 0 and no logs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the plugin configuration (JSON text).
    pub fn config(mut self, json: impl Into<String>) -> Self {
        self.config = json.into();
        self
    }

    /// Sets the clock.
    pub fn now_millis(mut self, millis: u64) -> Self {
        self.now_millis = millis;
        self
    }

    /// Makes this the current thread's host.
    pub fn install(self) {
        HOST.with(|h| *h.borrow_mut() = self);
    }

    /// The lines logged so far on this thread.
    pub fn logs() -> Vec<(Level, String)> {
        HOST.with(|h| h.borrow().logs.clone())
    }
}

/// The host functions of a native build, on the current thread's
/// [`TestHost`]; [`crate::host`] dispatches here outside Wasm.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod backend {
    use super::{HOST, TestHost};
    use crate::types::Level;

    fn with_test_host<R>(f: impl FnOnce(&mut TestHost) -> R) -> R {
        HOST.with(|h| f(&mut h.borrow_mut()))
    }

    pub(crate) fn log(level: Level, message: &str) {
        with_test_host(|h| h.logs.push((level, message.to_owned())));
    }

    pub(crate) fn now_millis() -> u64 {
        with_test_host(|h| h.now_millis)
    }

    pub(crate) fn config() -> String {
        with_test_host(|h| h.config.clone())
    }
}
