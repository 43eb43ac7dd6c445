//! Loading a plugin: the sha256 pin, bytes that are not a component, the
//! compiled-code cache on disk and who may write it, and inspection.

use super::*;

#[test]
fn pinned_digest_must_match() {
    let rt = runtime();
    let digest = sha256_hex(glob_bytes());
    let good = PluginOptions {
        sha256: Some(format!("sha256:{}", digest.to_uppercase())),
        ..PluginOptions::default()
    };
    assert!(rt.load("glob", glob_bytes(), good).is_ok());
    let wrong = PluginOptions {
        sha256: Some("0".repeat(64)),
        ..PluginOptions::default()
    };
    let err = rt
        .load("glob", glob_bytes(), wrong)
        .map(|_| ())
        .expect_err("pin must be enforced");
    match err {
        Error::DigestMismatch { actual, .. } => assert_eq!(actual, digest),
        other => panic!("{other:?}"),
    }
}

#[test]
fn garbage_is_not_a_plugin() {
    let rt = runtime();
    let err = rt
        .load("junk", b"\0asm junk", PluginOptions::default())
        .map(|_| ())
        .expect_err("junk");
    assert!(matches!(err, Error::InvalidPlugin { .. }), "{err:?}");
}

/// Appends a custom section: a different, still valid component.
fn with_custom_section(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let name = b"palisade-test";
    let payload = b"changed";
    let size = 1 + name.len() + payload.len();
    out.push(0);
    out.push(u8::try_from(size).unwrap_or(0));
    out.push(u8::try_from(name.len()).unwrap_or(0));
    out.extend_from_slice(name);
    out.extend_from_slice(payload);
    out
}

#[test]
fn compiled_code_is_cached_on_disk_and_changes_recompile() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cache = || {
        let dir = CacheDir::open(tmp.path()).unwrap_or_else(|e| panic!("{e}"));
        let settings = EngineSettings {
            pooling: false,
            max_instances: 8,
            ..EngineSettings::default()
        };
        Runtime::new(&settings, Some(dir)).unwrap_or_else(|e| panic!("{e}"))
    };
    let first = load(&cache(), "glob", glob_bytes(), PluginOptions::default());
    assert_eq!(first.code_source(), CodeSource::Compiled);
    // A new process (runtime) with the same data directory: from disk.
    let second = load(&cache(), "glob", glob_bytes(), PluginOptions::default());
    assert_eq!(second.code_source(), CodeSource::DiskCache);
    assert_glob_works(&second);
    // Changed bytes: recompiled, and the digest says so.
    let changed = with_custom_section(glob_bytes());
    let third = load(&cache(), "glob", &changed, PluginOptions::default());
    assert_eq!(third.code_source(), CodeSource::Compiled);
    assert_ne!(third.digest(), first.digest());
    assert_glob_works(&third);
    // A corrupt cache entry is ignored and replaced.
    for entry in std::fs::read_dir(tmp.path().join("cache"))
        .into_iter()
        .flatten()
        .flatten()
    {
        std::fs::write(entry.path(), b"corrupt").unwrap_or_else(|e| panic!("{e}"));
    }
    let fourth = load(&cache(), "glob", glob_bytes(), PluginOptions::default());
    assert_eq!(fourth.code_source(), CodeSource::Compiled);
}

/// The cache entry of one component, by its digest.
fn cache_entry(dir: &std::path::Path, digest: &str) -> std::path::PathBuf {
    std::fs::read_dir(dir.join("cache"))
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(digest) && n.ends_with(".cwasm"))
        })
        .unwrap_or_else(|| panic!("no cache entry for {digest}"))
}

/// Compiled code is machine code the server runs: an entry is used only if
/// this server wrote it for this very component. Another plugin's code
/// under this one's name, or an entry authenticated by another data
/// directory's key, is compiled again, never run.
#[test]
fn only_authentic_cache_entries_are_used() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let other = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let runtime = |data: &std::path::Path| {
        let dir = CacheDir::open(data).unwrap_or_else(|e| panic!("{e}"));
        let settings = EngineSettings {
            pooling: false,
            max_instances: 8,
            ..EngineSettings::default()
        };
        Runtime::new(&settings, Some(dir)).unwrap_or_else(|e| panic!("{e}"))
    };
    let glob = load(
        &runtime(tmp.path()),
        "glob",
        glob_bytes(),
        PluginOptions::default(),
    );
    let hostile = load(
        &runtime(tmp.path()),
        "hostile",
        &hostile_bytes(),
        PluginOptions::default(),
    );
    // The glob plugin's (authentic) code copied over the hostile plugin's.
    let glob_code = std::fs::read(cache_entry(tmp.path(), glob.digest())).unwrap();
    std::fs::write(cache_entry(tmp.path(), hostile.digest()), &glob_code).unwrap();
    let swapped = load(
        &runtime(tmp.path()),
        "hostile",
        &hostile_bytes(),
        PluginOptions::default(),
    );
    assert_eq!(swapped.code_source(), CodeSource::Compiled);
    let out = swapped
        .evaluate_now(&request("count", "x"), &[])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(out.value, Verdict::Allow(ref n) if n == "1"),
        "the hostile plugin's own code answers: {:?}",
        out.value
    );
    // Replaced by an authentic entry: the next start reads it.
    let again = load(
        &runtime(tmp.path()),
        "hostile",
        &hostile_bytes(),
        PluginOptions::default(),
    );
    assert_eq!(again.code_source(), CodeSource::DiskCache);
    // An entry from another data directory (another key) is not trusted.
    load(
        &runtime(other.path()),
        "glob",
        glob_bytes(),
        PluginOptions::default(),
    );
    let foreign = std::fs::read(cache_entry(other.path(), glob.digest())).unwrap();
    std::fs::write(cache_entry(tmp.path(), glob.digest()), foreign).unwrap();
    let reloaded = load(
        &runtime(tmp.path()),
        "glob",
        glob_bytes(),
        PluginOptions::default(),
    );
    assert_eq!(reloaded.code_source(), CodeSource::Compiled);
    assert_glob_works(&reloaded);
}

#[test]
fn a_cache_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    CacheDir::open(tmp.path()).unwrap_or_else(|e| panic!("{e}"));
    let cache = tmp.path().join("cache");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = CacheDir::open(tmp.path()).unwrap_err().to_string();
    assert!(
        e.contains("mode 777, not 700") && e.contains("refused"),
        "{e}"
    );
}

#[test]
fn inspect_reports_world_and_exports() {
    let rt = runtime();
    let info = rt
        .inspect(&hostile_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.world, "palisade:plugin/plugin");
    assert!(
        info.exports
            .iter()
            .any(|e| e == "palisade:plugin/policy@0.1.0")
    );
    let glob = rt.inspect(glob_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(glob.world, "palisade:plugin/policy-plugin");
    // The glob plugin reads its configuration, so it imports the host interface.
    assert!(
        glob.imports
            .iter()
            .any(|i| i == "palisade:plugin/host@0.1.0"),
        "{:?}",
        glob.imports
    );
}

/// Two projects' own plugins of one name never share a share (instances,
/// permits, idle pools to evict from), nor with the shared plugin of that
/// name; a new generation of the same owner's plugin takes over its share.
#[test]
fn each_owner_has_its_own_share_of_a_plugin_name() {
    let rt = runtime();
    let load = |owner: Option<&str>| {
        rt.load_for(owner, "t", glob_bytes(), PluginOptions::default())
            .unwrap_or_else(|e| panic!("load: {e}"))
    };
    let plugins = [load(Some("a")), load(Some("b")), load(None)];
    let shares = |rt: &Runtime| rt.shares.lock().map(|s| s.len()).unwrap_or(0);
    assert_eq!(shares(&rt), 3);
    let again = load(Some("a"));
    assert_eq!(shares(&rt), 3, "a's next generation reuses its share");
    drop((plugins, again));
}
