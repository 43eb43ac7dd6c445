//! Compiled-component cache: in memory by digest, and on disk keyed by the
//! component's sha256 and the engine's compatibility hash, so a restart does
//! not recompile and an engine upgrade never loads stale code.
//!
//! A disk entry is machine code the server will run, so it is trusted only
//! when it is authenticated: each file starts with an HMAC-SHA256, keyed by
//! `cache.key` in the data directory (outside the cache directory), over the
//! component's digest, the engine's key and the compiled bytes. An entry
//! whose MAC does not match (another plugin's code under this name, a
//! crafted file, a file from another data directory) is never deserialized:
//! the component is compiled again and the entry replaced. The directory
//! itself must be the server user's and mode 0700 ([`CacheDir::open`]).

use crate::error::{Error, Result};
use cap_std::fs::Dir;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
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

/// The on-disk cache: `cache/` in the data directory, and the key that
/// authenticates its entries.
pub struct CacheDir {
    dir: Dir,
    path: PathBuf,
    key: [u8; 32],
}

impl std::fmt::Debug for CacheDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheDir")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl CacheDir {
    /// Opens `data_dir/cache` (creating the data directory and the cache
    /// with mode 0700) and `data_dir/cache.key` (made on first use).
    /// A cache directory that is not the server user's, or that others may
    /// use, is refused with an error that says how to fix it.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        let path = data_dir.join("cache");
        crate::data_dir::create(&path)?;
        crate::data_dir::check_private(&path, "compile cache directory")?;
        let key = crate::data_dir::secret(data_dir, "cache.key", "compile cache key")?;
        let dir = Dir::open_ambient_dir(&path, cap_std::ambient_authority()).map_err(io(&path))?;
        Ok(Self { dir, path, key })
    }

    /// The directory's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Bytes of the MAC that starts every disk entry.
const MAC_LEN: usize = 32;

/// The cache. With no directory it only caches in memory.
pub(crate) struct ComponentCache {
    disk: Option<CacheDir>,
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
    pub(crate) fn new(engine: &Engine, disk: Option<CacheDir>) -> Self {
        let mut h = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_key = hex::encode(h.0.finalize())[..16].to_owned();
        Self {
            disk,
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
        if let Some(component) = self.read_disk(engine, digest, &file) {
            self.memory.insert(digest.to_owned(), component.clone());
            return Ok((component, CodeSource::DiskCache));
        }
        let component = Component::new(engine, bytes).map_err(|e| Error::InvalidPlugin {
            plugin: plugin.to_owned(),
            message: format!("not a valid WebAssembly component: {e:#}"),
        })?;
        self.write_disk(&component, digest, &file);
        self.memory.insert(digest.to_owned(), component.clone());
        Ok((component, CodeSource::Compiled))
    }

    /// The MAC of an entry: over the digest, the engine's key and the
    /// compiled bytes, each length-prefixed.
    fn mac(&self, key: &[u8; 32], digest: &str, code: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts 32-byte keys"));
        for part in [digest.as_bytes(), self.engine_key.as_bytes(), code] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    fn read_disk(&self, engine: &Engine, digest: &str, file: &str) -> Option<Component> {
        let disk = self.disk.as_ref()?;
        let bytes = disk.dir.read(file).ok()?;
        let (tag, code) = bytes.split_at_checked(MAC_LEN)?;
        if self.mac(&disk.key, digest, code).verify_slice(tag).is_err() {
            tracing::warn!(
                dir = %disk.path.display(),
                file,
                "compile cache entry is not authentic (not written by this server for this \
                 component); compiling again"
            );
            return None;
        }
        // SAFETY: `Component::deserialize` runs the machine code it is given.
        // These bytes are the ones this server serialized for this very
        // component digest and engine: their MAC, keyed by a secret only the
        // server's user can read, was checked just above, in a directory only
        // that user can write. A file that does not match this engine is
        // also refused by wasmtime's own compatibility check and recompiled.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, code) };
        match component {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(file, error = %e, "ignoring unusable compile cache entry");
                None
            }
        }
    }

    fn write_disk(&self, component: &Component, digest: &str, file: &str) {
        let Some(disk) = self.disk.as_ref() else {
            return;
        };
        let result = component
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|code| {
                let tag = self.mac(&disk.key, digest, &code).finalize().into_bytes();
                let mut bytes = Vec::with_capacity(MAC_LEN + code.len());
                bytes.extend_from_slice(&tag);
                bytes.extend_from_slice(&code);
                let tmp = format!("{file}.tmp-{}", std::process::id());
                disk.dir.write(&tmp, bytes)?;
                disk.dir.rename(&tmp, &disk.dir, file)
            });
        if let Err(e) = result {
            tracing::warn!(dir = %disk.path.display(), file, error = %e, "cannot write compile cache entry");
        }
    }
}
