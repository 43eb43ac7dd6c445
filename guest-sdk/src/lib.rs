#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

// Lets generated code name this crate as `::palisade_guest` from inside it too.
extern crate self as palisade_guest;

#[doc(hidden)]
pub mod bindings;
pub mod decide;
pub mod glob;
pub mod guard;
mod host;
pub mod iam;
pub mod testing;
pub mod text;
mod types;
#[cfg(target_arch = "wasm32")]
mod wasm_host;

pub use host::{config, debug, info, log, now_millis, warn};
pub use types::{Approval, Effect, Finding, Level, Request, Rule, Verdict, tidy_findings};

/// A policy plugin: decides one request given the rules for this agent and service.
///
/// Return [`Verdict::Abstain`] when no rule applies: the host denies by
/// default, so abstaining never grants anything.
pub trait Policy {
    /// Decides `request` given `rules`.
    fn evaluate(request: &Request, rules: &[Rule]) -> Verdict;
}

/// A masking plugin: finds sensitive data in a text.
///
/// The host masks what was found, with the operator the policy configures
/// for each kind. Findings need not be sorted or disjoint: the SDK passes
/// them through [`tidy_findings`] before they leave the plugin.
pub trait Masking {
    /// Finds sensitive data in `text`: byte spans into `text`, with a kind.
    fn mask(text: &str) -> Vec<Finding>;
}

/// Exports a type implementing [`Policy`] as the component's `policy` interface.
///
/// Use at most once per crate; combine with [`export_masking!`] for a plugin
/// that does both.
#[macro_export]
macro_rules! export_policy {
    ($ty:ty) => {
        // Native builds (unit tests) export nothing: the component's export
        // names are not valid symbol names for a native shared library.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __PalisadePolicyExport;
            impl $crate::bindings::policy_world::exports::palisade::plugin::policy::Guest
                for __PalisadePolicyExport
            {
                fn evaluate(
                    request: $crate::bindings::policy_world::palisade::plugin::types::DecisionRequest,
                    rules: ::std::vec::Vec<$crate::bindings::policy_world::palisade::plugin::types::Rule>,
                ) -> $crate::bindings::policy_world::palisade::plugin::types::Verdict {
                    $crate::__private::evaluate::<$ty>(request, rules)
                }
            }
            $crate::bindings::policy_world::export_policy_world!(
                __PalisadePolicyExport with_types_in $crate::bindings::policy_world
            );
        };
    };
}

/// Exports a type implementing [`Masking`] as the component's `masking` interface.
#[macro_export]
macro_rules! export_masking {
    ($ty:ty) => {
        // Native builds (unit tests) export nothing: the component's export
        // names are not valid symbol names for a native shared library.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __PalisadeMaskingExport;
            impl $crate::bindings::masking_world::exports::palisade::plugin::masking::Guest
                for __PalisadeMaskingExport
            {
                fn mask(
                    text: ::std::string::String,
                ) -> ::std::vec::Vec<$crate::bindings::policy_world::palisade::plugin::types::Finding> {
                    $crate::__private::mask::<$ty>(text)
                }
            }
            $crate::bindings::masking_world::export_masking_world!(
                __PalisadeMaskingExport with_types_in $crate::bindings::masking_world
            );
        };
    };
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    use crate::bindings::wit;

    pub fn evaluate<P: crate::Policy>(
        request: wit::DecisionRequest,
        rules: Vec<wit::Rule>,
    ) -> wit::Verdict {
        let request = crate::Request::from(request);
        let rules: Vec<crate::Rule> = rules.into_iter().map(Into::into).collect();
        P::evaluate(&request, &rules).into()
    }

    pub fn mask<M: crate::Masking>(text: String) -> Vec<wit::Finding> {
        crate::tidy_findings(&text, M::mask(&text))
            .into_iter()
            .map(Into::into)
            .collect()
    }
}
