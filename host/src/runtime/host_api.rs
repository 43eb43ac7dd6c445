//! The `palisade:plugin/host` imports (log, clock, configuration), linked by
//! hand rather than through the generated trait so that each call can be
//! charged fuel for the bytes it moves: a plugin that calls the host in a
//! loop runs out of fuel like one that computes in a loop.

use super::bindings::host_api::Level;
use super::state::State;
use wasmtime::component::Linker;
use wasmtime::{AsContextMut, StoreContextMut, Trap};

/// Fuel every host call costs, whatever it carries: about what the host
/// spends on the call itself, in Wasm instructions.
pub const HOST_CALL_FUEL: u64 = 500;
/// Fuel a host call costs per byte it carries in or out (copying, UTF-8
/// checking, escaping, writing).
pub const HOST_CALL_FUEL_PER_BYTE: u64 = 4;

/// Links `palisade:plugin/host@0.1.0` (and the type-only
/// `palisade:plugin/types@0.1.0`).
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    linker.instance("palisade:plugin/types@0.1.0")?;
    let mut host = linker.instance("palisade:plugin/host@0.1.0")?;
    host.func_wrap(
        "log",
        |mut store: StoreContextMut<'_, State>, (level, message): (Level, String)| {
            charge(&mut store, message.len())?;
            store.data_mut().log(level, &message);
            Ok(())
        },
    )?;
    host.func_wrap(
        "now-millis",
        |mut store: StoreContextMut<'_, State>, (): ()| {
            charge(&mut store, 0)?;
            Ok((now_millis(),))
        },
    )?;
    host.func_wrap("config", |mut store: StoreContextMut<'_, State>, (): ()| {
        let config = store.data().config();
        charge(&mut store, config.len())?;
        Ok((config.to_string(),))
    })?;
    Ok(())
}

/// Takes the fuel of a host call carrying `bytes` from the store. When too
/// little is left the call traps as out of fuel, as the guest's own code would.
pub(crate) fn charge(mut store: impl AsContextMut, bytes: usize) -> wasmtime::Result<()> {
    let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
    let cost = HOST_CALL_FUEL.saturating_add(bytes.saturating_mul(HOST_CALL_FUEL_PER_BYTE));
    let mut store = store.as_context_mut();
    let left = store.get_fuel()?;
    match left.checked_sub(cost) {
        Some(left) => store.set_fuel(left),
        None => {
            store.set_fuel(0)?;
            Err(Trap::OutOfFuel.into())
        }
    }
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
