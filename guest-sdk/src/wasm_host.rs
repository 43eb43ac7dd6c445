//! The real host functions: the `palisade:plugin/host` imports of a Wasm
//! component. Only compiled for `wasm32`; [`crate::host`] dispatches here.

use crate::bindings::wit_host as h;
use crate::types::Level;

pub(crate) fn log(level: Level, message: &str) {
    let level = match level {
        Level::Trace => h::Level::Trace,
        Level::Debug => h::Level::Debug,
        Level::Info => h::Level::Info,
        Level::Warn => h::Level::Warn,
        Level::Error => h::Level::Error,
    };
    h::log(level, message);
}

pub(crate) fn now_millis() -> u64 {
    h::now_millis()
}

pub(crate) fn config() -> String {
    h::config()
}
