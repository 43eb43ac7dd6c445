//! Host-side bindings of the `palisade:plugin@0.1.0` WIT package.
//!
//! Generated for the `plugin` world (both exports); the host looks up each
//! exported interface on its own, so a component may export either or both.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // Calls into a plugin are async (they yield at epoch ticks); the host
    // functions a plugin imports answer at once and stay synchronous.
    exports: { default: async },
});

pub(crate) use self::exports::palisade::plugin::{masking, policy};
pub(crate) use self::palisade::plugin::host as host_api;
pub use self::palisade::plugin::types;
