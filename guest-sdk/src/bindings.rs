//! Generated bindings for the `palisade:plugin` WIT package.
//!
//! Both worlds are generated here with public export macros: the section that
//! describes a world's *exports* is only emitted where a plugin invokes
//! [`export_policy!`](crate::export_policy) or
//! [`export_masking!`](crate::export_masking), so a plugin exports exactly
//! what it implements.

/// Bindings for the `policy-plugin` world (also the shared types and host imports).
pub mod policy_world {
    wit_bindgen::generate!({
        path: "../wit",
        world: "policy-plugin",
        pub_export_macro: true,
        export_macro_name: "export_policy_world",
        default_bindings_module: "::palisade_guest::bindings::policy_world",
        runtime_path: "::palisade_guest::__private::wit_bindgen::rt",
        generate_unused_types: true,
    });
}

/// Bindings for the `masking-plugin` world; shares types with [`policy_world`].
pub mod masking_world {
    wit_bindgen::generate!({
        path: "../wit",
        world: "masking-plugin",
        pub_export_macro: true,
        export_macro_name: "export_masking_world",
        default_bindings_module: "::palisade_guest::bindings::masking_world",
        runtime_path: "::palisade_guest::__private::wit_bindgen::rt",
        with: {
            "palisade:plugin/types@0.1.0": super::policy_world::palisade::plugin::types,
            "palisade:plugin/host@0.1.0": super::policy_world::palisade::plugin::host,
        },
    });
}

#[cfg(target_arch = "wasm32")]
pub(crate) use policy_world::palisade::plugin::host as wit_host;
pub(crate) use policy_world::palisade::plugin::types as wit;
