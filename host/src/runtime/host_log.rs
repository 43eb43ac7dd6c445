//! Plugin logging: a per-call and a per-plugin budget of lines and bytes,
//! the count of lines dropped, and each line written as one escaped field.
//!
//! A plugin's log line is written only if its level is enabled, it fits in
//! what is left of the call's budget (`log_lines_per_call`,
//! `log_bytes_per_call`), and the plugin's token buckets (`log_lines_per_sec`,
//! `log_bytes_per_sec`, each holding one second's worth) can pay for it.
//! Otherwise it is dropped and counted: once per call in a `warn` line at the
//! end of the call, and per plugin in `GET /v1/plugins` (`log_lines_dropped`).
//! The message goes out as one quoted field with control, line-separator and
//! bidi characters escaped, so a plugin cannot forge log lines.

use super::bindings::host_api::Level;
use super::limits::Limits;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::fmt::{self, Write as _};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The `tracing` target of plugin log lines (filter it with `PALISADE_LOG`).
pub(crate) const TARGET: &str = "palisade::plugin";

/// Longest log line a plugin may write; longer lines are cut (and marked `…`).
pub(crate) const MAX_LOG_LINE: usize = 4096;

type Bucket<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// One plugin's log budget, shared by all its instances: the token buckets and
/// the count of lines dropped since the plugin was loaded.
pub(crate) struct LogBudget<C: Clock = DefaultClock> {
    lines_per_call: u32,
    bytes_per_call: u32,
    /// `None`: a rate of zero, nothing is admitted.
    lines: Option<Bucket<C>>,
    bytes: Option<Bucket<C>>,
    dropped: AtomicU64,
}

impl LogBudget {
    /// The budget `limits` sets, on the system's clock.
    pub(crate) fn new(limits: &Limits) -> Self {
        Self::with_clock(limits, &DefaultClock::default())
    }
}

impl<C: Clock + Clone> LogBudget<C> {
    fn with_clock(limits: &Limits, clock: &C) -> Self {
        let bucket = |per_sec: u32| {
            NonZeroU32::new(per_sec)
                .map(|n| RateLimiter::direct_with_clock(Quota::per_second(n), clock.clone()))
        };
        Self {
            lines_per_call: limits.log_lines_per_call,
            bytes_per_call: limits.log_bytes_per_call,
            lines: bucket(limits.log_lines_per_sec),
            bytes: bucket(limits.log_bytes_per_sec),
            dropped: AtomicU64::new(0),
        }
    }

    /// Takes one line of `bytes` from the plugin's buckets, or counts it dropped.
    fn admit(&self, bytes: usize) -> bool {
        let bytes_ok = match (
            &self.bytes,
            NonZeroU32::new(u32::try_from(bytes).unwrap_or(0)),
        ) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(bucket), Some(n)) => matches!(bucket.check_n(n), Ok(Ok(()))),
        };
        let ok = bytes_ok && self.lines.as_ref().is_some_and(|b| b.check().is_ok());
        if !ok {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Lines dropped since the plugin was loaded.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// What one call of one instance has logged and dropped.
pub(crate) struct CallLog<C: Clock = DefaultClock> {
    budget: Arc<LogBudget<C>>,
    lines: u32,
    bytes: u64,
    dropped_lines: u64,
    dropped_bytes: u64,
}

impl<C: Clock + Clone> CallLog<C> {
    pub(crate) fn new(budget: Arc<LogBudget<C>>) -> Self {
        Self {
            budget,
            lines: 0,
            bytes: 0,
            dropped_lines: 0,
            dropped_bytes: 0,
        }
    }

    /// Starts a new call's budget.
    pub(crate) fn begin(&mut self) {
        self.lines = 0;
        self.bytes = 0;
        self.dropped_lines = 0;
        self.dropped_bytes = 0;
    }

    /// Writes `message` at `level` if the budgets allow it, else counts it
    /// dropped. A line whose level is filtered out is neither written nor
    /// counted.
    pub(crate) fn write(&mut self, plugin: &str, request_id: &str, level: Level, message: &str) {
        if !enabled(level) {
            return;
        }
        let message = cut(message);
        let len = message.len();
        let fits_call = self.lines < self.budget.lines_per_call
            && self.bytes.saturating_add(len as u64) <= u64::from(self.budget.bytes_per_call);
        if !fits_call {
            self.budget.dropped.fetch_add(1, Ordering::Relaxed);
        }
        if !fits_call || !self.budget.admit(len) {
            self.dropped_lines += 1;
            self.dropped_bytes = self.dropped_bytes.saturating_add(len as u64);
            return;
        }
        self.lines += 1;
        self.bytes = self.bytes.saturating_add(len as u64);
        emit(plugin, request_id, level, &message);
    }

    /// Ends the call: one `warn` line if it dropped anything.
    pub(crate) fn end(&mut self, plugin: &str, request_id: &str) {
        if self.dropped_lines > 0 {
            tracing::warn!(
                target: TARGET,
                plugin,
                request_id,
                dropped_lines = self.dropped_lines,
                dropped_bytes = self.dropped_bytes,
                "plugin log lines dropped: over the plugin's log budget"
            );
        }
        self.begin();
    }

    /// Lines this call has dropped so far.
    #[cfg(test)]
    pub(crate) fn dropped_lines(&self) -> u64 {
        self.dropped_lines
    }
}

fn enabled(level: Level) -> bool {
    match level {
        Level::Trace => tracing::enabled!(target: TARGET, tracing::Level::TRACE),
        Level::Debug => tracing::enabled!(target: TARGET, tracing::Level::DEBUG),
        Level::Info => tracing::enabled!(target: TARGET, tracing::Level::INFO),
        Level::Warn => tracing::enabled!(target: TARGET, tracing::Level::WARN),
        Level::Error => tracing::enabled!(target: TARGET, tracing::Level::ERROR),
    }
}

fn emit(plugin: &str, request_id: &str, level: Level, message: &str) {
    let message = Escaped(message);
    match level {
        Level::Trace => tracing::trace!(target: TARGET, message = %message, plugin, request_id),
        Level::Debug => tracing::debug!(target: TARGET, message = %message, plugin, request_id),
        Level::Info => tracing::info!(target: TARGET, message = %message, plugin, request_id),
        Level::Warn => tracing::warn!(target: TARGET, message = %message, plugin, request_id),
        Level::Error => tracing::error!(target: TARGET, message = %message, plugin, request_id),
    }
}

/// `message` cut to [`MAX_LOG_LINE`] bytes on a character boundary.
fn cut(message: &str) -> std::borrow::Cow<'_, str> {
    if message.len() <= MAX_LOG_LINE {
        return message.into();
    }
    let mut end = MAX_LOG_LINE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end]).into()
}

/// A plugin's text as one double-quoted field: quotes, backslashes, and the
/// characters [`crate::display`] escapes for people (controls, line and
/// paragraph separators, bidi controls, zero-width characters), so the text
/// can neither end the line nor reorder what a terminal shows.
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if crate::display::unsafe_char(c) => write!(f, "\\u{{{:04x}}}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::time::Duration;

    fn limits(per_call: (u32, u32), per_sec: (u32, u32)) -> Limits {
        Limits {
            log_lines_per_call: per_call.0,
            log_bytes_per_call: per_call.1,
            log_lines_per_sec: per_sec.0,
            log_bytes_per_sec: per_sec.1,
            ..Limits::default()
        }
    }

    #[test]
    fn escaped_text_stays_on_one_line() {
        let forged = "ok\n2026-12-06T07:00:00Z  INFO palisade: decision=allow\r\u{1b}[2J\u{202e}\"";
        let out = Escaped(forged).to_string();
        assert!(!out.contains(['\n', '\r', '\u{1b}', '\u{202e}']), "{out}");
        assert_eq!(
            out,
            "\"ok\\n2026-12-06T07:00:00Z  INFO palisade: decision=allow\\r\\u{001b}[2J\\u{202e}\\\"\""
        );
        assert_eq!(Escaped("café ✓").to_string(), "\"café ✓\"");
    }

    #[test]
    fn long_lines_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_LOG_LINE);
        let cut = cut(&long);
        assert!(cut.len() <= MAX_LOG_LINE + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn the_plugin_bucket_refills_with_time_and_counts_what_it_drops() {
        let clock = FakeRelativeClock::default();
        let budget = LogBudget::with_clock(&limits((1000, 1 << 20), (10, 1000)), &clock);
        let admitted = (0..25).filter(|_| budget.admit(10)).count();
        assert_eq!(admitted, 10, "one second's worth of lines");
        assert_eq!(budget.dropped(), 15);
        clock.advance(Duration::from_millis(500));
        let admitted = (0..25).filter(|_| budget.admit(10)).count();
        assert_eq!(admitted, 5, "half a second refills half");
        // Bytes run out before lines: 1000 bytes a second.
        clock.advance(Duration::from_secs(10));
        let admitted = (0..10).filter(|_| budget.admit(400)).count();
        assert_eq!(admitted, 2);
        // A line larger than the whole bucket never fits.
        clock.advance(Duration::from_secs(10));
        assert!(!budget.admit(1001));
    }

    #[test]
    fn a_zero_rate_admits_nothing() {
        let budget = LogBudget::new(&limits((10, 1000), (0, 1000)));
        assert!(!budget.admit(1));
        let budget = LogBudget::new(&limits((10, 1000), (10, 0)));
        assert!(!budget.admit(0));
    }

    #[test]
    fn a_call_stops_at_its_own_budget_and_counts_the_rest() {
        let clock = FakeRelativeClock::default();
        let budget = Arc::new(LogBudget::with_clock(
            &limits((3, 1000), (100, 100_000)),
            &clock,
        ));
        let mut call = CallLog::new(budget.clone());
        // Written or not depends on the test's subscriber; the count does not
        // when nothing is enabled, so enable everything for this thread.
        let _guard = tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_writer(std::io::sink)
                .finish(),
        );
        for _ in 0..10 {
            call.write("p", "r", Level::Info, "line");
        }
        assert_eq!(call.dropped_lines(), 7);
        assert_eq!(budget.dropped(), 7);
        call.end("p", "r");
        assert_eq!(call.dropped_lines(), 0, "the next call starts afresh");
        // Bytes per call: 1000 bytes, lines of 400 bytes: two fit.
        let line = "x".repeat(400);
        for _ in 0..3 {
            call.write("p", "r", Level::Warn, &line);
        }
        assert_eq!(call.dropped_lines(), 1);
    }
}
