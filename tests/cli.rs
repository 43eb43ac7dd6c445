//! End to end: the `palisade` command line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Command;
use support::{BIN, HOSTILE};

#[test]
fn plugin_inspect_prints_world_exports_imports_and_digest() {
    let out = Command::new(BIN)
        .args(["plugin", "inspect", HOSTILE])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("world:   palisade:plugin/plugin"), "{text}");
    assert!(text.contains("palisade:plugin/policy@0.1.0"), "{text}");
    assert!(text.contains("palisade:plugin/masking@0.1.0"), "{text}");
    assert!(text.contains("imports:"), "{text}");
    let digest = support::digest_of(std::path::Path::new(HOSTILE));
    assert!(text.contains(&format!("sha256:  {digest}")), "{text}");
}

#[test]
fn plugin_inspect_refuses_a_non_component() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm").unwrap();
    let out = Command::new(BIN)
        .args(["plugin", "inspect"])
        .arg(&junk)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a valid WebAssembly component"), "{err}");
}

#[test]
fn plugin_inspect_reports_a_missing_file() {
    let out = Command::new(BIN)
        .args(["plugin", "inspect", "/nonexistent/p.wasm"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read `/nonexistent/p.wasm`"));
}
