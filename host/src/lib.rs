//! Palisade: a policy decision point for AI agents.
//!
//! Modules, in the direction data flows: [`server`] (builds the state and
//! serves) → [`api`] (HTTP only) → [`reload`] (swaps a new [`snapshot`] into
//! [`live`]) → [`snapshot`] (every project with its policy and plugins) →
//! [`chain`] (one decision) → [`policy`], [`masking`] and [`runtime`]
//! (sandboxed Wasm plugins) → [`audit`] (the tamper-evident trail) →
//! [`store`] (everything durable, behind traits); the value types they pass
//! down are in [`decision`] and [`record`]. Configured by [`config`]. See
//! `docs/architecture.md`. The `palisade` binary's command line is the only
//! edge that uses `anyhow`.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod api;
pub mod audit;
pub mod budget;
pub mod builtin;
pub mod chain;
pub mod config;
pub mod data_dir;
pub mod decision;
pub mod display;
mod error;
pub mod http;
pub mod identity;
pub mod live;
pub mod masking;
pub mod notify;
pub mod offline;
pub mod oversight;
pub mod policy;
pub mod record;
pub mod reload;
pub mod runtime;
pub mod server;
pub mod snapshot;
pub mod store;
pub mod toolcall;
pub mod units;
pub mod yaml;

pub use error::{Error, Result};
