//! Builds the first-party plugins and the test fixtures for `wasm32-wasip2`
//! with a nested `cargo build` in its own target directory, then writes
//! `$OUT_DIR/plugins.rs`, which embeds the first-party plugins in the binary,
//! and sets `PALISADE_FIXTURE_<NAME>` to each fixture's path for the tests.
//!
//! The target is added with `rustup target add` when it is missing: these
//! machines run with `RUSTUP_AUTO_INSTALL=0`, so nothing else would.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
/// First-party plugins embedded in the binary: (name, package).
const BUILTIN: &[(&str, &str)] = &[
    ("aws", "palisade-plugin-aws"),
    ("git", "palisade-plugin-git"),
    ("glob", "palisade-plugin-glob"),
    ("pii", "palisade-plugin-pii"),
    ("secrets", "palisade-plugin-secrets"),
    ("stripe", "palisade-plugin-stripe"),
];
/// Test fixtures, exposed to tests as `PALISADE_FIXTURE_<NAME>`: (name, package).
const FIXTURES: &[(&str, &str)] = &[("hostile", "palisade-fixture-hostile")];

fn main() {
    if let Err(e) = run() {
        println!("cargo::error={e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(var("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir
        .parent()
        .ok_or("host crate has no parent directory")?
        .to_path_buf();
    for watched in ["wit", "guest-sdk", "plugins", "Cargo.lock", "Cargo.toml"] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo::rerun-if-env-changed=PALISADE_WASM_TARGET_DIR");

    let out_dir = PathBuf::from(var("OUT_DIR")?);
    // `<target>/<profile>/build/<pkg>-<hash>/out`: share one wasm build between
    // profiles by placing it beside them, in `<target>/wasm-plugins`.
    let target_dir = env::var_os("PALISADE_WASM_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| out_dir.ancestors().nth(4).map(|t| t.join("wasm-plugins")))
        .ok_or("cannot place the wasm target directory")?;

    ensure_target()?;

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--target", TARGET, "--profile", "plugin"])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"));
    for (_, package) in BUILTIN.iter().chain(FIXTURES) {
        cmd.args(["-p", package]);
    }
    // The outer build's flags and wrappers (clippy, coverage) are for the host,
    // not for the guest.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_TARGET_DIR", &target_dir);
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo to build the plugins: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the plugins for {TARGET} failed ({status})"
        ));
    }

    let artifacts = target_dir.join(TARGET).join("plugin");
    let mut code = String::from(
        "/// First-party plugins built into the binary: (name, component bytes).\n\
         pub const BUILTIN: &[(&str, &[u8])] = &[\n",
    );
    for (name, package) in BUILTIN {
        let path = artifact(&artifacts, package)?;
        code.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    for (name, package) in FIXTURES {
        let path = artifact(&artifacts, package)?;
        println!(
            "cargo::rustc-env=PALISADE_FIXTURE_{}={}",
            name.to_uppercase(),
            path.display()
        );
    }
    fs::write(out_dir.join("plugins.rs"), code).map_err(|e| format!("cannot write plugins.rs: {e}"))
}

fn artifact(dir: &Path, package: &str) -> Result<PathBuf, String> {
    let path = dir.join(format!("{}.wasm", package.replace('-', "_")));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "plugin `{package}` was built but `{}` is missing",
            path.display()
        ))
    }
}

/// Adds the wasm target to the active toolchain when it is missing.
fn ensure_target() -> Result<(), String> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .map_err(|e| format!("cannot run `{rustc}`: {e}"))?;
    let installed = libdir.status.success()
        && Path::new(String::from_utf8_lossy(&libdir.stdout).trim()).is_dir();
    if installed {
        return Ok(());
    }
    println!("cargo::warning=adding the {TARGET} target with rustup (it was missing)");
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", TARGET]);
    if let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") {
        cmd.args(["--toolchain", &toolchain]);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("the {TARGET} target is missing and rustup cannot be run: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`rustup target add {TARGET}` failed ({status})"))
    }
}

fn var(name: &str) -> Result<String, String> {
    env::var(name).map_err(|_| format!("cargo did not set `{name}`"))
}
