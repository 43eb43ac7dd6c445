//! Runs the server: prepares the data directory, serves HTTP at once (so
//! `/healthz` answers and `/readyz` says "not yet"), loads every plugin off
//! the async workers, then reports ready. A plugin that fails to load stops
//! the server with that plugin's error.

use crate::api::{self, AppState};
use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::runtime::Runtime;
use cap_std::ambient_authority;
use cap_std::fs::{Dir, DirBuilder};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Opens (creating if needed) the data directory and its `cache/` subdirectory.
pub fn open_cache_dir(data_dir: &Path) -> Result<(Dir, std::path::PathBuf)> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let data = Dir::open_ambient_dir(data_dir, ambient_authority()).map_err(io(data_dir))?;
    let cache_path = data_dir.join("cache");
    if !data.exists("cache") {
        let mut builder = DirBuilder::new();
        #[cfg(unix)]
        {
            use cap_std::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        data.create_dir_with("cache", &builder)
            .map_err(io(&cache_path))?;
    }
    let cache = data.open_dir("cache").map_err(io(&cache_path))?;
    Ok((cache, cache_path))
}

/// Loads every configured plugin.
pub fn load_plugins(
    runtime: &Runtime,
    loaded: &LoadedConfig,
) -> Result<Vec<Arc<crate::runtime::Plugin>>> {
    let mut plugins = Vec::new();
    for (name, spec) in &loaded.config.plugins {
        let bytes = loaded.plugin_bytes(name, spec)?;
        let plugin = runtime.load(name, &bytes, spec.options())?;
        tracing::info!(
            plugin = name,
            digest = plugin.digest(),
            exports = ?plugin.exports().names(),
            code = ?plugin.code_source(),
            "plugin loaded"
        );
        plugins.push(Arc::new(plugin));
    }
    Ok(plugins)
}

/// Serves on `listener` until `shutdown` completes, then drains in-flight
/// requests and returns.
pub async fn run(
    loaded: LoadedConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let cache = open_cache_dir(&loaded.config.data_dir)?;
    let state = AppState::new();
    let app = api::app(state.clone());

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let stop = async move {
            tokio::select! {
                () = shutdown => tracing::info!("shutdown requested, draining"),
                _ = stop_rx => {}
            }
        };
        axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
    });

    let settings = loaded.config.engine;
    let loading = tokio::task::spawn_blocking(move || {
        let runtime = Runtime::new(&settings, Some(cache))?;
        let plugins = load_plugins(&runtime, &loaded)?;
        Ok::<_, Error>((runtime, plugins))
    })
    .await
    .map_err(|e| Error::Engine(format!("plugin loading task failed: {e}")));
    let runtime = match loading.and_then(|r| r) {
        Ok((runtime, plugins)) => {
            state.set_plugins(plugins, runtime.pooling());
            tracing::info!(pooling = runtime.pooling(), "ready");
            runtime
        }
        Err(e) => {
            let _ = stop_tx.send(());
            let _ = server.await;
            return Err(e);
        }
    };
    let served = server
        .await
        .map_err(|e| Error::Engine(format!("server task failed: {e}")))?;
    drop(runtime);
    drop(stop_tx);
    served.map_err(|source| Error::Io {
        path: "<listener>".into(),
        source,
    })
}
