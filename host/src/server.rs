//! Runs the server: prepares the data directory, serves HTTP at once (so
//! `/healthz` answers and `/readyz` says "not yet"), loads the policy and
//! every plugin off the async workers, then reports ready. A policy or plugin
//! that fails to load stops the server with its error, except a project of a
//! directory of projects whose own files are refused: it is not served, and
//! the others start. Once ready, audit
//! export and retention run on the policy's schedule
//! ([`crate::audit::Scheduler`]); on shutdown, after the last request, what
//! is left is exported before the audit log closes.

use crate::api::{self, AppState};
use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::live::Live;
use crate::reload::Reloader;
use crate::runtime::Runtime;
use crate::snapshot::Snapshot;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Loads the policy root the configuration names, every project and every
/// plugin they need: those declared in the configuration and the policy,
/// and every built-in plugin (a declared plugin of the same name replaces a
/// built-in one). Any error refuses the whole root (`palisade check`,
/// `eval`, `test`).
pub fn load(runtime: &Runtime, loaded: &LoadedConfig) -> Result<Snapshot> {
    let root = loaded.policy_root()?;
    Ok(crate::snapshot::load(runtime, loaded, &root, None)?.snapshot)
}

/// [`load`] for a starting server: in a directory of projects, a project
/// whose files are refused is not served, and the others start (its agents
/// are unknown until a reload brings a good version); anything wrong across
/// the projects, in the server's files or in a shared plugin still stops the
/// start.
fn load_to_serve(runtime: &Runtime, loaded: &LoadedConfig) -> Result<crate::snapshot::Loaded> {
    let root = loaded.policy_root()?;
    let nothing = (root.layout == crate::policy::Layout::Projects).then(Snapshot::default);
    crate::snapshot::load(runtime, loaded, &root, nothing.as_ref())
}

/// Serves on `listener` until `shutdown` completes, then drains in-flight
/// requests (for at most `http.shutdown_timeout`, see [`crate::http`]),
/// exports what the policy's `audit.export` has not had yet, and returns.
pub async fn run(
    loaded: LoadedConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let cache = crate::runtime::CacheDir::open(&loaded.config.data_dir)?;
    let mask_key = crate::masking::MaskKey::open(&loaded.config.data_dir)?;
    let audit = if loaded.config.audit.enabled {
        Some(Arc::new(crate::audit::AuditLog::open_with(
            &loaded.config.data_dir,
            std::time::Duration::from_micros(loaded.config.audit.commit_delay_us),
        )?))
    } else {
        tracing::warn!("audit is disabled in the configuration: decisions are not recorded");
        None
    };
    // One server per data directory: the kill switch's holds and the
    // grants are kept in memory, so a second server on the same state.db
    // would never hear of a kill or a revocation. The audit log takes the
    // lock when it opens; without it, the server takes it here.
    let _sole = match audit {
        Some(_) => None,
        None => Some(crate::audit::lock_data_dir(&loaded.config.data_dir)?),
    };
    let live = Live::new();
    let state = AppState::serving(live.clone(), loaded.config.masking, mask_key, audit.clone());
    let gate = open_gate(&loaded, audit.as_ref())?;
    state.set_gate(gate.clone());
    let app = api::app(state.clone());

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let http = loaded.config.http;
    let server = tokio::spawn(async move {
        let stop = async move {
            tokio::select! {
                () = shutdown => {}
                _ = stop_rx => {}
            }
        };
        crate::http::serve(listener, app, http, stop).await;
    });

    let settings = loaded.config.engine;
    let schedule = crate::audit::Schedule {
        every: std::time::Duration::from_secs(loaded.config.audit.export_every.0),
        s3: loaded.config.audit.s3.clone(),
    };
    let loading = tokio::task::spawn_blocking(move || {
        let runtime = Arc::new(Runtime::new(&settings, Some(cache))?);
        let snapshot = load_to_serve(&runtime, &loaded)?;
        Ok::<_, Error>((runtime, snapshot, loaded))
    })
    .await
    .map_err(|e| Error::Engine(format!("plugin loading task failed: {e}")));
    let (runtime, watch, scheduler, (sweeper, alerting)) = match loading.and_then(|r| r) {
        Ok((runtime, crate::snapshot::Loaded { snapshot, failures }, loaded)) => {
            if let Some(audit) = &audit {
                let mut entries = crate::reload::reload_events("start", None, &snapshot);
                entries.extend(crate::reload::refusal_events(
                    "start",
                    None,
                    snapshot.version(),
                    &failures,
                    |_| None,
                ));
                let audit = audit.clone();
                tokio::task::spawn_blocking(move || {
                    entries
                        .into_iter()
                        .try_for_each(|entry| audit.append_blocking(entry).map(drop))
                })
                .await
                .map_err(|e| Error::Engine(format!("audit task failed: {e}")))??;
            }
            if audit.is_none() && snapshot.audit_plans() != crate::audit::Plans::default() {
                tracing::warn!(
                    "audit is disabled in the configuration: the policy's `audit` block (export, retention) is ignored"
                );
            }
            // SIGHUP is taken over before the server says it is ready: a
            // hangup sent as soon as `/readyz` answers must reload, not end
            // the process (the signal's default action).
            let hangups = hangups();
            if failures.is_empty() {
                live.install(snapshot);
            } else {
                let attempt = crate::live::Attempt::ended(
                    "start",
                    None,
                    true,
                    snapshot.version().to_owned(),
                    failures,
                    None,
                );
                live.install_reloaded(snapshot, attempt);
            }
            // Notifications a stopped server left undelivered go out now.
            if let Some(snapshot) = live.snapshot() {
                let projects = snapshot.projects.keys().cloned();
                match gate.outbox.resume(projects).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(notifications = n, "undelivered notifications resumed"),
                    Err(e) => tracing::warn!(error = %e, "cannot resume undelivered notifications"),
                }
            }
            tokio::spawn(gate.outbox.clone().run());
            let alerting = tokio::spawn(run_alerts(gate.clone(), live.clone(), state.clone()));
            let sweeper = tokio::spawn(sweep(gate.clone(), live.clone(), state.clone()));
            tracing::info!(pooling = runtime.pooling(), "ready");
            let reloader = Reloader::new(runtime.clone(), loaded, &live, audit.clone());
            state.set_reloader(reloader.clone());
            let watch = crate::reload::watch(&reloader);
            tokio::spawn(reload_on_sighup(hangups, reloader));
            let scheduler = audit.as_ref().and_then(|audit| {
                start_schedule(audit, schedule, &live)
                    .inspect_err(|e| tracing::error!(error = %e, "audit export and retention are not scheduled"))
                    .ok()
            });
            (runtime, watch, scheduler, (sweeper, alerting))
        }
        Err(e) => {
            let _ = stop_tx.send(());
            let _ = server.await;
            return Err(e);
        }
    };
    server
        .await
        .map_err(|e| Error::Engine(format!("server task failed: {e}")))?;
    drop(watch);
    drop(runtime);
    drop(stop_tx);
    gate.outbox.stop();
    sweeper.abort();
    alerting.abort();
    if let Err(e) = gate.sessions.flush().await {
        tracing::warn!(error = %e, "cannot write sessions back at shutdown");
    }
    if let Some(scheduler) = scheduler {
        // Export what is left, the open period included, while the log is
        // still open for the record of that export.
        tokio::task::spawn_blocking(move || scheduler.shutdown())
            .await
            .map_err(|e| Error::Engine(format!("audit export task failed: {e}")))?;
    }
    if let Some(audit) = audit {
        tokio::task::spawn_blocking(move || audit.close())
            .await
            .map_err(|e| Error::Engine(format!("audit task failed: {e}")))??;
    }
    Ok(())
}

/// Evaluates alerts for as long as the server runs: each project's rules
/// as serving; each alert raised is recorded (`alert_raised`) in its
/// project's trail.
async fn run_alerts(
    gate: Arc<crate::oversight::ServerGate>,
    live: Arc<Live>,
    state: Arc<AppState>,
) {
    let rules = move |project: &str| {
        live.snapshot()
            .and_then(|s| s.project(project).map(|p| p.policy.alerts.clone()))
    };
    let raised = move |alert: crate::oversight::Alert| {
        let state = state.clone();
        tokio::spawn(async move { crate::api::record_alert(&state, &alert).await });
    };
    gate.alerts
        .clone()
        .run(gate.outbox.clone(), rules, raised)
        .await;
}

/// How often open approvals past their deadline are written down as
/// expired (and recorded). An approval is refused at its deadline whatever
/// this says: expiry is read from its timestamps.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a budget meter or a rate limiter stays in memory unused.
const IDLE_US: i64 = 3_600_000_000;

/// Every [`SWEEP_EVERY`]: writes sessions back, releases budget
/// reservations past their deadline, and writes down the
/// approvals that expired, each with its audit record (`approval_expired`)
/// and a notice to its channel, and the grants that expired
/// (`grant_expired`), for the projects serving.
async fn sweep(gate: Arc<crate::oversight::ServerGate>, live: Arc<Live>, state: Arc<AppState>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(snapshot) = live.snapshot() else {
            continue;
        };
        if let Err(e) = gate.sessions.flush().await {
            tracing::warn!(error = %e, "cannot write sessions back; retried next round");
        }
        let now = jiff::Timestamp::now().as_microsecond();
        // Reservations past their deadline are given back; meters and
        // limiters unused for an hour are forgotten (read again if used).
        gate.budgets.ledger.sweep(now, IDLE_US);
        gate.budgets.forget_idle_limiters(now, IDLE_US);
        for project in snapshot.projects.keys() {
            match gate.approvals.expire_due(project, now).await {
                Ok(expired) => {
                    for a in &expired {
                        crate::api::record_approval(&state, a).await;
                        gate.tell_closed(a).await;
                    }
                }
                Err(e) => tracing::warn!(project, error = %e, "cannot sweep expired approvals"),
            }
            match gate.grants.expire_due(project, now).await {
                Ok(expired) => {
                    for g in &expired {
                        crate::api::record_grant(&state, g, "grant_expired").await;
                    }
                }
                Err(e) => tracing::warn!(project, error = %e, "cannot sweep expired grants"),
            }
        }
    }
}

/// The approval gate on the data directory's state store (`state.db`) and
/// the configuration's notification channels; each notification's outcome
/// is recorded in `audit` (when audit is enabled).
fn open_gate(
    loaded: &LoadedConfig,
    audit: Option<&Arc<crate::audit::AuditLog>>,
) -> Result<Arc<crate::oversight::ServerGate>> {
    let state = Arc::new(crate::store::SqliteState::open(&loaded.config.data_dir)?);
    let outbox = crate::notify::Outbox::new(state.clone(), loaded.config.notify.clone());
    if let Some(audit) = audit.cloned() {
        outbox.on_settled(Box::new(move |project, n| {
            let entry = settled_entry(project, n);
            let audit = audit.clone();
            tokio::spawn(async move {
                if let Err(e) = audit.append(entry).await {
                    tracing::error!(error = %e, "cannot record a notification's outcome");
                }
            });
        }));
    }
    Ok(Arc::new(crate::oversight::Gate {
        approvals: crate::oversight::Approvals::new(state.clone()),
        containment: crate::oversight::Containment::new(state.clone()),
        sessions: crate::oversight::Sessions::new(state.clone()),
        grants: crate::oversight::Grants::new(state.clone(), loaded.config.grants.max_ttl.0),
        alerts: Arc::new(crate::oversight::Alerts::new(state.clone())),
        outbox,
        budgets: crate::budget::Budgets::new(
            state.clone(),
            loaded.config.pricing.clone(),
            loaded.config.budgets,
        ),
        state,
    }))
}

/// The audit record of a notification that ended: `notification_delivered`
/// or `notification_failed`, in its project's trail, naming what it was
/// about (an approval's id), the channel, the tries and the last outcome.
fn settled_entry(project: &str, n: &crate::notify::Notification) -> crate::audit::AdminEntry {
    let delivered = n.stage == crate::notify::Stage::Delivered;
    let last = n.attempts.last();
    let mut details = std::collections::BTreeMap::from([
        ("notification".to_owned(), n.id.clone().into()),
        ("channel".to_owned(), n.channel.clone().into()),
        ("about".to_owned(), n.message.kind.clone().into()),
        ("id".to_owned(), n.message.id.clone().into()),
        ("attempts".to_owned(), n.attempts.len().into()),
    ]);
    if let Some(status) = last.and_then(|a| a.delivery.status) {
        details.insert("status".into(), status.into());
    }
    crate::audit::AdminEntry {
        event: if delivered {
            "notification_delivered"
        } else {
            "notification_failed"
        }
        .into(),
        project: Some(project.to_owned()),
        reason: last.and_then(|a| a.delivery.error.clone()),
        details,
        ..crate::audit::AdminEntry::default()
    }
}

/// Starts export and retention on the schedule of the policy serving at
/// each round (see [`crate::audit::schedule`]).
fn start_schedule(
    audit: &Arc<crate::audit::AuditLog>,
    schedule: crate::audit::Schedule,
    live: &Arc<Live>,
) -> Result<crate::audit::Scheduler> {
    let live = Arc::downgrade(live);
    crate::audit::Scheduler::start(audit.clone(), schedule, move || {
        live.upgrade()
            .and_then(|l| l.snapshot())
            .map(|s| s.audit_plans())
            .unwrap_or_default()
    })
}

/// The stream of SIGHUPs, registered now (from then on a SIGHUP no longer
/// ends the process), or `None` where there are none.
#[cfg(unix)]
fn hangups() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup())
        .inspect_err(|e| tracing::warn!(error = %e, "cannot listen for SIGHUP"))
        .ok()
}

#[cfg(not(unix))]
fn hangups() -> Option<()> {
    None
}

/// Reloads the policy on every SIGHUP.
#[cfg(unix)]
async fn reload_on_sighup(hangups: Option<tokio::signal::unix::Signal>, reloader: Arc<Reloader>) {
    let Some(mut hangups) = hangups else {
        return;
    };
    while hangups.recv().await.is_some() {
        let r = reloader.clone();
        let _ = tokio::task::spawn_blocking(move || r.reload("sighup")).await;
    }
}

#[cfg(not(unix))]
async fn reload_on_sighup(_: Option<()>, _: Arc<Reloader>) {}
