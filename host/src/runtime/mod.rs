//! The plugin runtime: one engine, a compile cache, sandbox limits, the
//! plugin executor, and pre-instantiated plugins with pooled or fresh
//! instances, each plugin within its share of the engine.
//!
//! Setup reads in wasmtime's order: [`Runtime::new`] builds the engine (and its
//! epoch ticker), the linker (the WASI a plugin needs, with nothing granted
//! and small limits, see `wasi.rs`, plus the `palisade:plugin/host` imports,
//! charged fuel by size, see `host_api.rs`) and the [`Executor`] plugin calls
//! run on; [`Runtime::load`] compiles or fetches from cache, checks the pin,
//! and pre-instantiates; [`Plugin::evaluate`] and [`Plugin::mask`] make a
//! store per call or reuse an idle one of the call's [`Caller`]'s scope.

mod bindings;
mod cache;
mod caller;
mod engine;
mod exec;
mod host_api;
mod host_log;
mod instance;
#[cfg(test)]
mod isolation_tests;
mod limits;
mod plugin;
mod pool;
mod share;
mod spec;
mod state;
#[cfg(test)]
mod tests;
mod wasi;

pub use bindings::types;
pub use cache::{CacheDir, CodeSource, sha256_hex};
pub use caller::Caller;
pub use engine::EngineSettings;
pub use exec::Executor;
pub use host_api::{HOST_CALL_FUEL, HOST_CALL_FUEL_PER_BYTE};
pub use limits::{Isolation, Limits, MAX_HANDLES, MAX_MEMORY_MIB, MAX_RANDOM_BYTES};
pub use plugin::{
    CallOutcome, Exports, MASK_BYTES_PER_MS, MASK_FUEL_PER_BYTE, Plugin, PluginOptions,
};
pub use spec::{PluginSpec, default_share};

use crate::error::{Error, Result};
use cache::ComponentCache;
use share::Share;
use state::State;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

/// Whose a plugin's share is: (the project that declares the plugin, or
/// `None` for a plugin every project shares; the plugin's name).
type ShareKey = (Option<String>, String);

/// The plugin runtime. One per process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    cache: ComponentCache,
    pooling: bool,
    max_instances: u32,
    exec: Executor,
    /// Each plugin name's share of the engine, used by every generation
    /// of the plugin loaded with the same bounds.
    /// Each plugin's share, by owner and name (see [`ShareKey`]).
    shares: Mutex<HashMap<ShareKey, Arc<Share>>>,
    _ticker: engine::Ticker,
}

/// A plugin's share when neither its options nor the configuration set it.
pub const DEFAULT_MAX_INSTANCES: u32 = 64;

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
        let exec = Executor::new(settings.plugin_threads)?;
        Ok(Self {
            engine,
            linker,
            cache,
            pooling,
            max_instances: settings.max_instances.max(1),
            exec,
            shares: Mutex::new(HashMap::new()),
            _ticker: ticker,
        })
    }

    /// The executor plugin calls run on.
    pub fn executor(&self) -> &Executor {
        &self.exec
    }

    /// Most plugin instances alive at once, across all plugins
    /// (`engine.max_instances`).
    pub fn max_instances(&self) -> u32 {
        self.max_instances
    }

    /// The share of plugin `name` of `owner` (a project's own plugin, or
    /// `None` for a shared one) with these bounds: the one its previous
    /// generation used if the bounds are the same, else a new one. Two
    /// projects' own plugins of one name never share instances or permits.
    fn share(
        &self,
        owner: Option<&str>,
        name: &str,
        (instances, per_agent, per_project): (u32, u32, u32),
    ) -> Arc<Share> {
        let Ok(mut shares) = self.shares.lock() else {
            return Share::new(instances, per_agent, per_project);
        };
        shares.retain(|_, s| Arc::strong_count(s) > 1);
        let key = (owner.map(str::to_owned), name.to_owned());
        match shares.get(&key) {
            Some(s) if s.has_bounds(instances, per_agent, per_project) => s.clone(),
            _ => {
                let s = Share::new(instances, per_agent, per_project);
                shares.insert(key, s.clone());
                s
            }
        }
    }

    /// True when the pooling allocator is in use.
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// Loads a plugin from its component bytes: checks the pin, compiles (or
    /// takes the cached code), and pre-instantiates it against the host.
    ///
    /// Without `limits.max_instances` the plugin's share is
    /// [`DEFAULT_MAX_INSTANCES`] (at most `engine.max_instances`); the
    /// server sets it for every plugin (see `limits.max_instances`).
    pub fn load(&self, name: &str, bytes: &[u8], options: PluginOptions) -> Result<Plugin> {
        self.load_for(None, name, bytes, options)
    }

    /// [`Runtime::load`] for `owner`: the project (by its folder) that
    /// declares the plugin, whose share of the engine is its own (`None`: a
    /// plugin every project shares, such as a built-in one).
    pub fn load_for(
        &self,
        owner: Option<&str>,
        name: &str,
        bytes: &[u8],
        mut options: PluginOptions,
    ) -> Result<Plugin> {
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
        let instances = options
            .limits
            .max_instances
            .unwrap_or(DEFAULT_MAX_INSTANCES)
            .min(self.max_instances);
        let per_agent = options.limits.calls_per_agent(instances);
        let per_project = options.limits.calls_per_project(instances, per_agent);
        options.limits.max_instances = Some(instances);
        options.limits.max_calls_per_agent = Some(per_agent);
        options.limits.max_calls_per_project = (per_project != u32::MAX).then_some(per_project);
        let share = self.share(owner, name, (instances, per_agent, per_project));
        Plugin::new(name, digest, source, options, pre, share, self.exec.clone())
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
