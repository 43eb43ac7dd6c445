//! First-party plugins built into the binary (by `host/build.rs`).

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));

/// The component bytes of the built-in plugin `name`.
pub fn plugin(name: &str) -> Option<&'static [u8]> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Names of the built-in plugins.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(n, _)| *n)
}
