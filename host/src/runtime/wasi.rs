//! The WASI a plugin gets, and its limits.
//!
//! A Rust `std` component for `wasm32-wasip2` imports `wasi:cli` (environment,
//! exit, stdio, terminals) and `wasi:io` (error, poll, streams) to instantiate,
//! and `wasi:clocks`, `wasi:random` or `wasi:filesystem` when it uses them.
//! Those are linked, with nothing granted: no environment or arguments, stdio
//! closed or discarded, no preopened directory. `wasi:sockets` is not linked,
//! so a plugin that imports it is refused at load (it would get no network,
//! and creating a socket costs the host a file descriptor).
//!
//! Limits: `wasi:random` gives at most [`MAX_RANDOM_BYTES`] a call, charged
//! fuel by size; a store holds at most [`MAX_HANDLES`] host resources (streams,
//! pollables, …). Calling `wasi:cli/exit` ends the call as `plugin_exited`.

use super::host_api::charge;
use super::limits::{MAX_HANDLES, MAX_RANDOM_BYTES};
use super::state::State;
use crate::error::Error;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, ResourceTableError};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::random::{insecure, random};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{I32Exit, WasiView};

/// The WASI version the linked interfaces are named with; imports of any
/// earlier 0.2 version resolve to them.
const WASI_VERSION: &str = "0.2.12";

/// Links the WASI interfaces a plugin may import.
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    let l = &mut *linker;
    wasmtime_wasi_io::add_to_linker_async(l)?;
    clocks::wall_clock::add_to_linker::<State, WasiClocks>(l, State::clocks)?;
    clocks::monotonic_clock::add_to_linker::<State, WasiClocks>(l, State::clocks)?;
    filesystem::types::add_to_linker::<State, WasiFilesystem>(l, State::filesystem)?;
    filesystem::preopens::add_to_linker::<State, WasiFilesystem>(l, State::filesystem)?;
    cli::exit::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::environment::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::stdin::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::stdout::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::stderr::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_input::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_output::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_stdin::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_stdout::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_stderr::add_to_linker::<State, WasiCli>(l, State::cli)?;
    wasmtime_wasi::p2::bindings::random::insecure_seed::add_to_linker::<State, WasiRandom>(
        l,
        |s| s.ctx().ctx.random(),
    )?;
    add_random(l)
}

/// `wasi:random/random` and `wasi:random/insecure`, bounded and charged by size.
fn add_random(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    let mut secure = linker.instance(&format!("wasi:random/random@{WASI_VERSION}"))?;
    secure.func_wrap(
        "get-random-bytes",
        |mut store: StoreContextMut<'_, State>, (len,): (u64,)| {
            check_random("wasi:random/random.get-random-bytes", len)?;
            charge(&mut store, usize::try_from(len).unwrap_or(usize::MAX))?;
            let rng = store.data_mut().ctx().ctx.random();
            Ok((random::Host::get_random_bytes(rng, len)?,))
        },
    )?;
    secure.func_wrap(
        "get-random-u64",
        |mut store: StoreContextMut<'_, State>, (): ()| {
            charge(&mut store, 8)?;
            Ok((random::Host::get_random_u64(
                store.data_mut().ctx().ctx.random(),
            )?,))
        },
    )?;
    let mut insecure = linker.instance(&format!("wasi:random/insecure@{WASI_VERSION}"))?;
    insecure.func_wrap(
        "get-insecure-random-bytes",
        |mut store: StoreContextMut<'_, State>, (len,): (u64,)| {
            check_random("wasi:random/insecure.get-insecure-random-bytes", len)?;
            charge(&mut store, usize::try_from(len).unwrap_or(usize::MAX))?;
            let rng = store.data_mut().ctx().ctx.random();
            Ok((insecure::Host::get_insecure_random_bytes(rng, len)?,))
        },
    )?;
    insecure.func_wrap(
        "get-insecure-random-u64",
        |mut store: StoreContextMut<'_, State>, (): ()| {
            charge(&mut store, 8)?;
            let rng = store.data_mut().ctx().ctx.random();
            Ok((insecure::Host::get_insecure_random_u64(rng)?,))
        },
    )?;
    Ok(())
}

fn check_random(call: &'static str, len: u64) -> wasmtime::Result<()> {
    if len > MAX_RANDOM_BYTES {
        return Err(HostLimit::RandomBytes {
            call,
            asked: len,
            limit: MAX_RANDOM_BYTES,
        }
        .into());
    }
    Ok(())
}

/// A host call refused because it asked for more than the host gives.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HostLimit {
    /// A `wasi:random` call asked for too many bytes.
    #[error("`{call}` asked for {asked} bytes, more than the limit of {limit}")]
    RandomBytes {
        call: &'static str,
        asked: u64,
        limit: u64,
    },
}

/// Names the failures that come from WASI and host calls: an exit, a limit.
pub(crate) fn classify(plugin: &str, e: &wasmtime::Error) -> Option<Error> {
    let plugin = plugin.to_owned();
    if let Some(exit) = e.downcast_ref::<I32Exit>() {
        return Some(Error::PluginExited {
            plugin,
            code: exit.0,
        });
    }
    if let Some(limit) = e.downcast_ref::<HostLimit>() {
        return Some(Error::HostCallLimit {
            plugin,
            detail: limit.to_string(),
        });
    }
    // The store-wide handle counter fails with a message only, no type.
    let handle_counter = || {
        e.chain()
            .any(|c| c.to_string().contains("store handle limit exceeded"))
    };
    if matches!(e.downcast_ref(), Some(ResourceTableError::Full)) || handle_counter() {
        return Some(Error::HandleLimit {
            plugin,
            limit: MAX_HANDLES,
        });
    }
    None
}
