//! The plugin runtime: one engine, a compile cache, sandbox limits, and
//! pre-instantiated plugins with pooled or fresh instances.
//!
//! Setup reads in wasmtime's order: [`Runtime::new`] builds the engine (and its
//! epoch ticker) and the linker (the WASI a plugin needs, with nothing
//! granted and small limits, see [`wasi`], plus the `palisade:plugin/host`
//! imports, charged fuel by size, see [`host_api`]); [`Runtime::load`]
//! compiles or fetches from cache, checks the pin, and pre-instantiates; [`Plugin::evaluate`] and
//! [`Plugin::mask`] make a store per call or reuse an idle one.

mod bindings;
mod cache;
mod engine;
mod host_api;
mod host_log;
mod limits;
mod plugin;
mod state;
#[cfg(test)]
mod tests;
mod wasi;

pub use bindings::types;
pub use cache::{CacheDir, CodeSource, sha256_hex};
pub use engine::EngineSettings;
pub use host_api::{HOST_CALL_FUEL, HOST_CALL_FUEL_PER_BYTE};
pub use limits::{Isolation, Limits, MAX_MEMORY_MIB};
pub use plugin::{CallOutcome, Exports, Plugin, PluginOptions};
pub use wasi::{MAX_HANDLES, MAX_RANDOM_BYTES};

use crate::error::{Error, Result};
use cache::ComponentCache;
use state::State;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

/// The plugin runtime. One per process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    cache: ComponentCache,
    pooling: bool,
    _ticker: engine::Ticker,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("pooling", &self.pooling)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine, the linker and the cache. `cache_dir` is where
    /// compiled code is kept between runs; `None` caches in memory only.
    pub fn new(settings: &EngineSettings, cache_dir: Option<CacheDir>) -> Result<Self> {
        let (engine, pooling) = engine::build(settings)?;
        let mut linker = Linker::new(&engine);
        wasi::add_to_linker(&mut linker)
            .map_err(|e| Error::Engine(format!("cannot link WASI: {e}")))?;
        host_api::add_to_linker(&mut linker)
            .map_err(|e| Error::Engine(format!("cannot link the host interface: {e}")))?;
        let cache = ComponentCache::new(&engine, cache_dir);
        let ticker = engine::Ticker::start(engine.clone())?;
        Ok(Self {
            engine,
            linker,
            cache,
            pooling,
            _ticker: ticker,
        })
    }

    /// True when the pooling allocator is in use.
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// Loads a plugin from its component bytes: checks the pin, compiles (or
    /// takes the cached code), and pre-instantiates it against the host.
    pub fn load(&self, name: &str, bytes: &[u8], options: PluginOptions) -> Result<Plugin> {
        options
            .limits
            .validate()
            .map_err(|message| Error::InvalidPlugin {
                plugin: name.to_owned(),
                message,
            })?;
        let digest = sha256_hex(bytes);
        if let Some(expected) = &options.sha256 {
            let expected = expected
                .trim()
                .trim_start_matches("sha256:")
                .to_ascii_lowercase();
            if expected != digest {
                return Err(Error::DigestMismatch {
                    plugin: name.to_owned(),
                    expected,
                    actual: digest,
                });
            }
        }
        let (component, source) = self.cache.get(&self.engine, name, &digest, bytes)?;
        refuse_sockets(name, &component, &self.engine)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| Error::InvalidPlugin {
                plugin: name.to_owned(),
                message: format!("it imports something the host does not offer: {e:#}"),
            })?;
        Plugin::new(name, digest, source, options, pre)
    }

    /// Describes a component without loading it for calls: its world, exports,
    /// imports and digest.
    pub fn inspect(&self, bytes: &[u8]) -> Result<Inspection> {
        let component = Component::new(&self.engine, bytes).map_err(|e| Error::InvalidPlugin {
            plugin: "<inspected>".into(),
            message: format!("not a valid WebAssembly component: {e:#}"),
        })?;
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let has = |iface: &str| {
            exports
                .iter()
                .any(|e| e.starts_with(&format!("palisade:plugin/{iface}@")))
        };
        let world = match (has("policy"), has("masking")) {
            (true, true) => "palisade:plugin/plugin",
            (true, false) => "palisade:plugin/policy-plugin",
            (false, true) => "palisade:plugin/masking-plugin",
            (false, false) => "none (not a Palisade plugin)",
        };
        Ok(Inspection {
            digest: sha256_hex(bytes),
            size: bytes.len(),
            world: world.to_owned(),
            exports,
            imports,
        })
    }
}

/// Refuses a component that imports `wasi:sockets`, with a message that says
/// why (the linker's own error names only the first import it misses).
fn refuse_sockets(name: &str, component: &Component, engine: &Engine) -> Result<()> {
    let ty = component.component_type();
    let sockets: Vec<&str> = ty
        .imports(engine)
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("wasi:sockets/"))
        .collect();
    if sockets.is_empty() {
        return Ok(());
    }
    Err(Error::InvalidPlugin {
        plugin: name.to_owned(),
        message: format!(
            "it imports `{}`: plugins get no network, so `wasi:sockets` is not offered; \
             build the plugin without networking code",
            sockets.join("`, `")
        ),
    })
}

/// What `palisade plugin inspect` prints.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inspection {
    /// Lowercase hex sha256 of the component.
    pub digest: String,
    /// Size in bytes.
    pub size: usize,
    /// The Palisade world the exports satisfy.
    pub world: String,
    /// Exported names.
    pub exports: Vec<String>,
    /// Imported names.
    pub imports: Vec<String>,
}
