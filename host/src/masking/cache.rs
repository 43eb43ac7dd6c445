//! What a masking chain found in short texts it was recently given, so that
//! the audit record's attributes, which repeat all day, do not run the whole
//! chain again for every decision.

use super::Span;
use crate::runtime::{Caller, Plugin};
use std::sync::Arc;

/// What a masking chain found in texts it was recently given, by a digest of
/// the chain's plugin names and the text.
///
/// For the audit record's attributes, which repeat all day (the same branch
/// names, regions and buckets): without it, every decision with attributes
/// runs the whole masking chain again. A snapshot owns one, so a reload (new
/// plugins or configuration) starts empty. Only texts up to
/// [`FindingsCache::MAX_TEXT`] bytes are kept, at most
/// [`FindingsCache::CAPACITY`] of them (moka keeps the most used); the key is a SHA-256 digest, so the
/// cache holds no text, only where in it something was found. Masking
/// plugins must be deterministic (the same text, the same findings), which
/// the plugin contract asks of them.
#[derive(Debug, Clone)]
pub struct FindingsCache(moka::sync::Cache<[u8; 32], Arc<[Span]>>);

impl FindingsCache {
    /// The longest text kept.
    pub const MAX_TEXT: usize = 4096;
    /// How many texts' findings are kept.
    pub const CAPACITY: u64 = 10_000;

    /// The key of `text` for `chain` called for `caller`: each plugin's name
    /// and the part of `caller` its instances are kept apart by
    /// ([`Plugin::reuse_scope`]), so findings that one caller's instance
    /// returned are never handed to another caller.
    pub(super) fn key(chain: &[Arc<Plugin>], caller: &Caller, text: &str) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update((chain.len() as u64).to_le_bytes());
        for p in chain {
            for part in std::iter::once(p.name()).chain(p.reuse_scope(caller)) {
                h.update((part.len() as u64).to_le_bytes());
                h.update(part.as_bytes());
            }
        }
        h.update([0]);
        h.update(text.as_bytes());
        h.finalize().into()
    }

    /// What was found for `key`, if it is kept.
    pub(super) fn get(&self, key: &[u8; 32]) -> Option<Arc<[Span]>> {
        self.0.get(key)
    }

    /// Keeps what was found for `key`.
    pub(super) fn insert(&self, key: [u8; 32], spans: Arc<[Span]>) {
        self.0.insert(key, spans);
    }
}

impl Default for FindingsCache {
    fn default() -> Self {
        Self(moka::sync::Cache::new(Self::CAPACITY))
    }
}
