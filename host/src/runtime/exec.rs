//! The plugin executor: a tokio runtime of its own, owned by the plugin
//! runtime, on whose threads every plugin call runs.
//!
//! Guest code therefore never runs on the server's HTTP workers: a plugin
//! spinning until its deadline competes for the CPU with other plugin
//! calls (each guest yields at every epoch tick), but `/healthz`, parsing,
//! authentication and the audit trail keep their own threads. A caller on
//! another runtime awaits a handle to the spawned call; a caller already on
//! an executor thread (a chain running several plugins) runs it in place.

use crate::error::{Error, Result};
use std::cell::Cell;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::task::JoinHandle;

thread_local! {
    static ON_EXECUTOR: Cell<bool> = const { Cell::new(false) };
}

/// A handle to the plugin executor. Cheap to clone; the executor stops when
/// the last handle is dropped.
#[derive(Clone)]
pub struct Executor {
    handle: tokio::runtime::Handle,
    threads: usize,
    _owner: Arc<Owner>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

/// Owns the tokio runtime; shuts it down without blocking, so that the last
/// handle may be dropped anywhere, an async worker included.
struct Owner(Option<tokio::runtime::Runtime>);

impl Drop for Owner {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Executor {
    /// Starts an executor of `threads` worker threads (0: one per core).
    pub(crate) fn new(threads: usize) -> Result<Self> {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            threads
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("palisade-plugin")
            .enable_time()
            .on_thread_start(|| ON_EXECUTOR.with(|on| on.set(true)))
            .build()
            .map_err(|e| Error::Engine(format!("cannot start the plugin executor: {e}")))?;
        Ok(Self {
            handle: rt.handle().clone(),
            threads,
            _owner: Arc::new(Owner(Some(rt))),
        })
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// True on one of an executor's threads.
    pub(crate) fn here() -> bool {
        ON_EXECUTOR.with(Cell::get)
    }

    /// Runs `work` on the executor and waits for it: in place when already
    /// on an executor thread, else spawned there. If the waiting future is
    /// dropped, the spawned work is aborted (an instance interrupted in a
    /// call is never reused).
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T> {
        if Self::here() {
            return Ok(work.await);
        }
        // The call logs where its caller logs, inside its caller's span (the
        // decision's id), whichever thread runs it.
        use tracing::Instrument as _;
        use tracing::instrument::WithSubscriber as _;
        let work = work.in_current_span().with_current_subscriber();
        Aborting(self.handle.spawn(work))
            .await
            .map_err(|e| Error::Engine(format!("a plugin call did not complete: {e}")))
    }
}

/// A spawned task, aborted when its handle is dropped.
struct Aborting<T>(JoinHandle<T>);

impl<T> Future for Aborting<T> {
    type Output = std::result::Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for Aborting<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_the_executor_and_in_place_there() {
        let exec = Executor::new(1).unwrap_or_else(|e| panic!("{e}"));
        let caller = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let inner = exec.clone();
        let (outer, nested) = caller
            .block_on(exec.run(async move {
                let outer = Executor::here();
                let nested = inner.run(async { Executor::here() }).await;
                (outer, nested)
            }))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(outer && nested.unwrap_or(false));
        assert!(
            !Executor::here(),
            "the caller's thread is not the executor's"
        );
        // The last handle may go on an async worker without a panic.
        caller.block_on(async move { drop(exec) });
    }
}
