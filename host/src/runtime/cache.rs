//! Compiled-component cache: in memory by digest, and on disk keyed by the
//! component's sha256 and the engine's compatibility hash, so a restart does
//! not recompile and an engine upgrade never loads stale code.

use crate::error::{Error, Result};
use cap_std::fs::Dir;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a loaded component's machine code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeSource {
    /// Compiled now.
    Compiled,
    /// Read from the disk cache.
    DiskCache,
    /// Already compiled earlier in this process.
    MemoryCache,
}

/// The cache. With no directory it only caches in memory.
pub(crate) struct ComponentCache {
    dir: Option<Dir>,
    dir_path: PathBuf,
    engine_key: String,
    memory: moka::sync::Cache<String, Component>,
}

/// Feeds `Hash` output into sha256, for a hash that is stable across runs.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        0
    }
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl ComponentCache {
    pub(crate) fn new(engine: &Engine, dir: Option<(Dir, PathBuf)>) -> Self {
        let mut h = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_key = hex::encode(h.0.finalize())[..16].to_owned();
        let (dir, dir_path) = match dir {
            Some((d, p)) => (Some(d), p),
            None => (None, PathBuf::new()),
        };
        Self {
            dir,
            dir_path,
            engine_key,
            memory: moka::sync::Cache::builder().max_capacity(256).build(),
        }
    }

    /// The compiled component for `bytes` (whose sha256 is `digest`).
    pub(crate) fn get(
        &self,
        engine: &Engine,
        plugin: &str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<(Component, CodeSource)> {
        if let Some(c) = self.memory.get(digest) {
            return Ok((c, CodeSource::MemoryCache));
        }
        let file = format!("{digest}-{}.cwasm", self.engine_key);
        if let Some(component) = self.read_disk(engine, &file) {
            self.memory.insert(digest.to_owned(), component.clone());
            return Ok((component, CodeSource::DiskCache));
        }
        let component = Component::new(engine, bytes).map_err(|e| Error::InvalidPlugin {
            plugin: plugin.to_owned(),
            message: format!("not a valid WebAssembly component: {e:#}"),
        })?;
        self.write_disk(&component, &file);
        self.memory.insert(digest.to_owned(), component.clone());
        Ok((component, CodeSource::Compiled))
    }

    fn read_disk(&self, engine: &Engine, file: &str) -> Option<Component> {
        let dir = self.dir.as_ref()?;
        let bytes = dir.read(file).ok()?;
        // SAFETY: `Component::deserialize` runs the machine code it is given.
        // The cache directory is created by Palisade with mode 0700 and only
        // ever holds files that `Component::serialize` wrote, renamed into
        // place atomically; a file that does not match this engine is refused
        // by wasmtime's own compatibility check and recompiled.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, &bytes) };
        match component {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(file, error = %e, "ignoring unusable compile cache entry");
                None
            }
        }
    }

    fn write_disk(&self, component: &Component, file: &str) {
        let Some(dir) = self.dir.as_ref() else { return };
        let result = component
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|bytes| {
                let tmp = format!("{file}.tmp-{}", std::process::id());
                dir.write(&tmp, bytes)?;
                dir.rename(&tmp, dir, file)
            });
        if let Err(e) = result {
            tracing::warn!(dir = %self.dir_path.display(), file, error = %e, "cannot write compile cache entry");
        }
    }
}
