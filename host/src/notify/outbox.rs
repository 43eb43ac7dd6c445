//! The durable outbox: [`Outbox`]. A notification is written to the
//! project's state (`store::State`, kind `outbox`) before anything is sent,
//! then delivered by a worker off the decision path, retried with
//! exponential backoff and jitter up to the configured number of tries;
//! every try's outcome is kept on it ([`Notification::attempts`]), so the
//! approval or alert that sent it can show what happened. A notification
//! that cannot be delivered ends `failed`; it never blocks or changes a
//! decision. Pending notifications survive a restart ([`Outbox::resume`]).

use super::channel::Channel;
use super::deliver::{Delivery, send};
use super::message::Message;
use super::settings::NotifySettings;
use crate::store::{Expect, Key, State};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The state kind the outbox keeps its notifications under.
pub const KIND: &str = "outbox";

/// At most this many deliveries are under way at once (a receiver that
/// hangs holds one of them until the timeout).
const IN_FLIGHT: usize = 8;

/// Where a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Waiting for its next try.
    Pending,
    /// A receiver took it.
    Delivered,
    /// Every try failed; no more are made.
    Failed,
}

/// One try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attempt {
    /// When (RFC 3339).
    pub at: String,
    /// What it gave.
    #[serde(flatten)]
    pub delivery: Delivery,
}

/// A notification in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// Its id (`ntf_…`).
    pub id: String,
    /// Where it goes.
    pub channel: String,
    /// What it says.
    pub message: Message,
    /// Where it is.
    pub stage: Stage,
    /// Every try so far, oldest first.
    pub attempts: Vec<Attempt>,
    /// When the next try is due (Unix microseconds), while pending.
    pub next_at: i64,
}

/// What the worker does next.
enum Next {
    /// Send this one now.
    Send(Option<Reverse<(i64, String, String)>>),
    /// Wait this many microseconds (or until woken).
    Wait(u64),
    /// Nothing is queued: wait until woken.
    Idle,
}

/// The outbox over a project state store `S`.
pub struct Outbox<S> {
    state: Arc<S>,
    settings: Arc<NotifySettings>,
    /// `(next_at, project, id)` of the pending notifications, soonest first.
    due: Mutex<BinaryHeap<Reverse<(i64, String, String)>>>,
    wake: tokio::sync::Notify,
    stopping: AtomicBool,
    /// Tries of a notification that could not be read or written back, by
    /// `(project, id)`: retried with the same backoff, at most
    /// `retry.attempts` times, then given up (logged), never every second.
    store_failures: Mutex<std::collections::HashMap<(String, String), u32>>,
    /// Told of each notification that ended (delivered, or failed for
    /// good), with its project: the server records it in the audit trail.
    settled: std::sync::OnceLock<Settled>,
}

/// What [`Outbox::on_settled`] calls: the project and the notification,
/// now `delivered` or `failed`.
pub type Settled = Box<dyn Fn(&str, &Notification) + Send + Sync>;

fn now_micros() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

fn store_err(e: serde_json::Error) -> Error {
    Error::Engine(format!("outbox: cannot encode a notification: {e}"))
}

/// The wait before try `n + 1` after `n` failed ones: `first · 2^(n-1)`,
/// at most `max`, drawn between half and all of it.
fn backoff(settings: &NotifySettings, failed: u32) -> Duration {
    let first = settings.retry.first.0.max(1);
    let max = settings.retry.max.0.max(first);
    let step = first
        .saturating_mul(1u64 << failed.saturating_sub(1).min(30))
        .min(max);
    let full = Duration::from_secs(step);
    let mut b = [0u8; 8];
    let r = match getrandom::fill(&mut b) {
        Ok(()) => u64::from_le_bytes(b) as f64 / u64::MAX as f64,
        Err(_) => 1.0,
    };
    full.mul_f64(0.5 + 0.5 * r)
}

impl<S: State + 'static> Outbox<S> {
    /// An outbox on `state`, delivering as `settings` say.
    pub fn new(state: Arc<S>, settings: NotifySettings) -> Arc<Self> {
        Arc::new(Self {
            state,
            settings: Arc::new(settings),
            due: Mutex::new(BinaryHeap::new()),
            wake: tokio::sync::Notify::new(),
            stopping: AtomicBool::new(false),
            store_failures: Mutex::new(std::collections::HashMap::new()),
            settled: std::sync::OnceLock::new(),
        })
    }

    /// Has `f` told of every notification that ends from now on (once per
    /// notification, after its outcome is written). Set once; later calls
    /// are ignored.
    pub fn on_settled(&self, f: Settled) {
        let _ = self.settled.set(f);
    }

    /// How it delivers: the server configuration's `notify:` section.
    pub fn settings(&self) -> &NotifySettings {
        &self.settings
    }

    fn key(project: &str, id: &str) -> Key {
        Key::new(project, KIND, id)
    }

    fn schedule(&self, at: i64, project: &str, id: &str) {
        if let Ok(mut due) = self.due.lock() {
            due.push(Reverse((at, project.to_owned(), id.to_owned())));
        }
        self.wake.notify_one();
    }

    /// Writes `message` for `channel` into the outbox of `project`, durably,
    /// and has it sent at once; returns its id.
    pub async fn enqueue(
        &self,
        project: &str,
        channel: &Channel,
        message: Message,
    ) -> Result<String> {
        let mut bytes = [0u8; 12];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::Engine(format!("outbox: no randomness for an id: {e}")))?;
        let id = format!("ntf_{}", hex::encode(bytes));
        let now = now_micros();
        let n = Notification {
            id: id.clone(),
            channel: channel.to_string(),
            message,
            stage: Stage::Pending,
            attempts: Vec::new(),
            next_at: now,
        };
        let value = serde_json::to_string(&n).map_err(store_err)?;
        self.state
            .put(Self::key(project, &id), value, Expect::Absent)
            .await?
            .map_err(|c| Error::Engine(format!("outbox: id {id} is taken ({c:?})")))?;
        self.schedule(now, project, &id);
        Ok(id)
    }

    /// The notification `id` of `project`, if any.
    pub async fn get(&self, project: &str, id: &str) -> Result<Option<Notification>> {
        let Some(v) = self.state.get(&Self::key(project, id)).await? else {
            return Ok(None);
        };
        serde_json::from_str(&v.value)
            .map(Some)
            .map_err(|e| Error::Engine(format!("outbox: notification {id} is unreadable: {e}")))
    }

    /// Queues the pending notifications of `projects` (at start: what a
    /// stopped server left undelivered).
    pub async fn resume(&self, projects: impl IntoIterator<Item = String>) -> Result<usize> {
        let mut queued = 0;
        for project in projects {
            self.state
                .for_each(&project, KIND, |id, v| {
                    if let Ok(n) = serde_json::from_str::<Notification>(&v.value)
                        && n.stage == Stage::Pending
                    {
                        self.schedule(n.next_at, &project, &id);
                        queued += 1;
                    }
                    Ok(())
                })
                .await?;
        }
        Ok(queued)
    }

    /// Stops [`Outbox::run`] (tries under way finish).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Delivers what is due, for as long as the outbox runs: at most
    /// [`IN_FLIGHT`] tries at once, each on a blocking thread.
    pub async fn run(self: Arc<Self>) {
        let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        while !self.stopping.load(Ordering::SeqCst) {
            // What to do next, decided with the queue locked (and the lock
            // let go before any wait).
            let next = {
                let Ok(mut due) = self.due.lock() else { return };
                let now = now_micros();
                match due.peek().map(|Reverse((at, _, _))| *at) {
                    Some(at) if at <= now => Next::Send(due.pop()),
                    Some(at) => Next::Wait(u64::try_from(at - now).unwrap_or(0)),
                    None => Next::Idle,
                }
            };
            let (project, id) = match next {
                Next::Send(Some(Reverse((_, project, id)))) => (project, id),
                Next::Send(None) => continue,
                Next::Wait(micros) => {
                    let sleep = tokio::time::sleep(Duration::from_micros(micros));
                    tokio::select! {
                        () = sleep => {}
                        () = self.wake.notified() => {}
                    }
                    continue;
                }
                Next::Idle => {
                    self.wake.notified().await;
                    continue;
                }
            };
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let outbox = self.clone();
            tokio::spawn(async move {
                let result = outbox.try_once(&project, &id).await;
                outbox.after_try(&project, &id, result);
                drop(slot);
            });
        }
    }

    /// After a try: a notification that could not be read or written back
    /// is tried again after the usual backoff, at most `retry.attempts`
    /// times (a send whose outcome could not be written may go out twice:
    /// delivery is at least once).
    fn after_try(&self, project: &str, id: &str, result: Result<()>) {
        let Ok(mut failures) = self.store_failures.lock() else {
            return;
        };
        let key = (project.to_owned(), id.to_owned());
        let Err(e) = result else {
            failures.remove(&key);
            return;
        };
        let n = failures.entry(key.clone()).or_insert(0);
        *n += 1;
        if *n >= self.settings.retry.attempts {
            failures.remove(&key);
            tracing::error!(project, id, error = %e, "notification given up: its state could not be read or written");
            return;
        }
        let wait = backoff(&self.settings, *n);
        drop(failures);
        tracing::warn!(project, id, error = %e, "notification state not updated; retrying");
        let at = now_micros() + i64::try_from(wait.as_micros()).unwrap_or(i64::MAX);
        self.schedule(at, project, id);
    }

    /// One try of `id`: send, then record the outcome (and the next try,
    /// or the end) on it.
    async fn try_once(&self, project: &str, id: &str) -> Result<()> {
        let key = Self::key(project, id);
        let Some(stored) = self.state.get(&key).await? else {
            return Ok(());
        };
        let mut n: Notification = serde_json::from_str(&stored.value)
            .map_err(|e| Error::Engine(format!("outbox: notification {id} is unreadable: {e}")))?;
        if n.stage != Stage::Pending {
            return Ok(());
        }
        let delivery = match Channel::parse(&n.channel) {
            Ok(channel) => {
                let (settings, message) = (self.settings.clone(), n.message.clone());
                let now = jiff::Timestamp::now().as_second();
                tokio::task::spawn_blocking(move || send(&settings, &channel, &message, now))
                    .await
                    .unwrap_or_else(|e| Delivery {
                        ok: false,
                        status: None,
                        error: Some(format!("the delivery task failed: {e}")),
                    })
            }
            Err(why) => Delivery {
                ok: false,
                status: None,
                error: Some(why),
            },
        };
        let ok = delivery.ok;
        if !ok {
            tracing::warn!(project, id, channel = n.channel, error = ?delivery.error, "notification not delivered");
        }
        n.attempts.push(Attempt {
            at: jiff::Timestamp::now().to_string(),
            delivery,
        });
        let tries = u32::try_from(n.attempts.len()).unwrap_or(u32::MAX);
        n.stage = match ok {
            true => Stage::Delivered,
            false if tries >= self.settings.retry.attempts => Stage::Failed,
            false => Stage::Pending,
        };
        if n.stage == Stage::Pending {
            let wait = backoff(&self.settings, tries);
            n.next_at = now_micros() + i64::try_from(wait.as_micros()).unwrap_or(i64::MAX);
        }
        let value = serde_json::to_string(&n).map_err(store_err)?;
        let written = self
            .state
            .put(key, value, Expect::Version(stored.version))
            .await?;
        if written.is_ok() {
            match (n.stage, self.settled.get()) {
                (Stage::Pending, _) => self.schedule(n.next_at, project, id),
                (_, Some(settled)) => settled(project, &n),
                (_, None) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_bound_with_jitter() {
        let settings = NotifySettings::default(); // 2s, at most 5m
        for (failed, full) in [(1u32, 2u64), (2, 4), (3, 8), (9, 300), (40, 300)] {
            for _ in 0..20 {
                let b = backoff(&settings, failed);
                assert!(b <= Duration::from_secs(full), "{failed}: {b:?}");
                assert!(b >= Duration::from_secs(full) / 2, "{failed}: {b:?}");
            }
        }
    }
}
