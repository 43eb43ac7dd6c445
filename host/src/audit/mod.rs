//! The tamper-evident audit trail: every decision and every administrative
//! action becomes a [`Record`], durable before the decision's answer leaves,
//! chained by SHA-256 so that an edit, a deletion, a reordering or a
//! truncation is found by [`verify()`].
//!
//! # Pieces
//!
//! The trail owns what a record means: its encoding and hash, the chain,
//! verification, export and retention. Where records are kept is the
//! store's: everything here reaches them through
//! [`AuditStore`](crate::store::AuditStore) ([`crate::store`]; the embedded
//! [`SqliteStore`](crate::store::SqliteStore) keeps them in `audit.db`).
//!
//! * [`AuditLog`] ([`writer`]): the one writer. Callers hand it an [`Entry`]
//!   ([`entry`]: what callers hand over, the canonical encoding and hash);
//!   a dedicated thread (`commit.rs`) numbers, timestamps, chains and
//!   stores entries in batches (group commit: all entries queued while one
//!   `fsync` runs share the next one) and answers each caller once its
//!   record is durable; another (`upkeep.rs`) keeps the head file
//!   ([`HeadFile`], [`head`]) and the store's upkeep off that path.
//! * [`verify()`] / [`verify_dir`] ([`verify`](mod@verify)): walks the chain
//!   and names the first bad record ([`Broken`]); `checkpoint.rs` checks
//!   that a retention checkpoint is one retention made.
//! * [`export()`] ([`export`](mod@export)): JSON lines, one file per hour or
//!   day, each verifiable on its own ([`verify_export_file`],
//!   [`verify_export`]), through an [`ExportSink`] ([`sink`]) that a
//!   [`Destination`] ([`destination`]) opens: a directory ([`DirSink`],
//!   [`dir`]) or an S3-compatible bucket ([`S3Sink`], [`s3`]).
//! * [`apply_retention`] ([`retention`]): removes a trail's old records once exported,
//!   leaving a [`Checkpoint`](crate::store::Checkpoint) so the rest still
//!   verifies, and an `audit_retention` record in the chain that vouches
//!   for it (a checkpoint without one, or beyond the export mark, is a
//!   [`Broken::ForgedCheckpoint`]).
//! * [`Scheduler`] ([`schedule`]): export and retention of every trail as
//!   the policy's `audit:` blocks say ([`Plans`]: the server's, and each
//!   project's own), every minute or so, and everything when the server
//!   stops.
//!
//! # Record format and canonical encoding
//!
//! This section is the contract for an outside verifier.
//!
//! A record is a JSON object. Its members appear in this order, each only when
//! it has a value (`kind` decides which ones a record carries):
//!
//! | member | type | present |
//! |---|---|---|
//! | `seq` | integer | always: 1, 2, 3, … without gaps |
//! | `ts` | string | always: UTC, RFC 3339, exactly 6 fractional digits, `Z`, e.g. `2026-11-23T14:03:07.123456Z`; never decreases along `seq` |
//! | `kind` | string | always: `decision` or `admin` |
//! | `decision_id` | string | decision |
//! | `agent` | string | decision (the agent that asked); admin (the agent concerned, if any) |
//! | `session`, `service`, `action`, `resource` | string | decision |
//! | `project` | string | decision; admin if known |
//! | `attributes` | object of strings, keys sorted | decision (masked by the caller) |
//! | `decision` | string | decision: `allow`, `deny` or `approval_required` |
//! | `reason` | string | decision; admin if given |
//! | `plugins` | array of `{"plugin","verdict","error"?,"fuel","micros"}` | decision |
//! | `policy_version` | string | decision; admin if known |
//! | `latency_us` | integer | decision |
//! | `event` | string | admin, e.g. `policy_reload`, `token_change` |
//! | `details` | object, keys sorted (nested values as the caller gave them) | admin |
//! | `prev_hash` | string | always: 64 lowercase hex digits |
//! | `hash` | string | always: 64 lowercase hex digits |
//!
//! The **canonical bytes** of a record are its compact JSON encoding (no
//! whitespace, members in the order above, object keys sorted, strings as
//! `serde_json` writes them: UTF-8, escaping only `"`, `\` and control
//! characters) **without** the `hash` member. Then
//!
//! ```text
//! hash = lowercase_hex(sha256(canonical bytes))
//! ```
//!
//! and the record as stored and exported (its **body**) is the canonical bytes
//! with `,"hash":"<hash>"` inserted before the final `}`. So an outside
//! verifier needs no JSON encoder: take a body, check that it ends with
//! `,"hash":"` + 64 hex digits + `"}` (75 bytes), replace those 75 bytes by
//! `}`, hash, and compare. The hash covers `prev_hash`, which is the `hash`
//! of the previous record **of the same trail**; a trail's first record's
//! `prev_hash` is 64 zeros, or, after a retention cut, the hash of the
//! trail's last removed record (the checkpoint, kept in the store's `meta`
//! table and in every export file's header).
//!
//! # Trails
//!
//! Records are numbered by one `seq` across the store, in the order they
//! were written, and chained per **trail**: the records of one project
//! (`project` member) form one chain, and the records without a project
//! (the server's: a whole policy root's reload, say) another. So each
//! project's trail is exported (one file holds one trail; the header names
//! its project), kept (retention cuts one trail) and verified on its own,
//! and a project's exported files prove on their own that none of its
//! records is missing. Along a trail `seq`s rise with gaps (other trails'
//! records); in the store, no `seq` is missing above the last retention
//! checkpoint of any trail, and [`verify()`] checks that too.
//!
//! Example (one line in reality):
//!
//! ```json
//! {"seq":42,"ts":"2026-11-23T14:03:07.123456Z","kind":"decision",
//!  "decision_id":"dec_5f0c…","agent":"ci-bot","session":"s-17","project":"acme",
//!  "service":"git","action":"push","resource":"acme/api@main",
//!  "attributes":{"branch":"main"},"decision":"approval_required",
//!  "reason":"push to main requires approval",
//!  "plugins":[{"plugin":"git","verdict":"approve","fuel":81234,"micros":41}],
//!  "policy_version":"3f2a…","latency_us":187,
//!  "prev_hash":"9b1e…","hash":"c04d…"}
//! ```
//!
//! # Truncation
//!
//! A chain cannot show that its own tail is missing, so the writer also keeps
//! a **head file**, `audit.head` in the data directory (`{"seq":…,"hash":…,
//! "trails":{"<project>":{"seq":…,"hash":…},…}}`: the last record, and each
//! trail's, with `""` for the server's trail; replaced atomically at most
//! every 100 ms or 10,000 records, and at close). [`verify_dir`] reports
//! [`Broken::Truncated`] when the store, or one trail, ends before the head
//! file's record, and [`AuditLog::open`] refuses to write over such
//! evidence. The last records written since the head file's last update (at
//! most 100 ms or 10,000 records) can be cut without this check noticing.
//!
//! Anyone able to write the data directory can still rebuild a consistent
//! chain (there is no secret in the hash); the chain makes that detectable
//! against any copy of a hash kept elsewhere (an export, a head file, a log).

mod checkpoint;
mod commit;
pub mod destination;
pub mod dir;
pub mod entry;
pub mod export;
pub mod head;
pub mod retention;
pub mod s3;
pub mod schedule;
pub mod sink;
mod upkeep;
pub mod verify;
pub mod verify_export;
pub mod writer;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod trail_tests;

pub use destination::Destination;
pub use dir::DirSink;
pub use entry::{
    AdminEntry, DecisionEntry, Entry, GENESIS_HASH, RESULT_EVENT, Receipt, ResultEntry, seal_record,
};
pub use export::{ExportedFile, Horizon, Period, export, export_to_dir};
pub use jiff::Timestamp;
// The record's value types live in `crate::record`, where the store and the
// error type can use them; the trail is where callers look for them.
pub use crate::record::{Broken, Columns, Kind, PluginRecord, Record, SealedRecord, format_ts};
pub use checkpoint::RETENTION_EVENT;
pub use head::HeadFile;
pub use retention::{Cut, Removed, apply_retention, cutoff, retain};
pub use s3::{S3Location, S3Settings, S3Sink};
pub use schedule::{ExportPlan, Plan, Plans, Schedule, Scheduler};
pub use sink::{ExportFile, ExportSink};
pub use verify::{Report, TrailReport, verify, verify_dir};
pub use verify_export::{ExportReport, verify_export_file, verify_export_files};
pub use writer::{
    AuditLog, COMMIT_BUCKETS_US, DEFAULT_COMMIT_DELAY, MAX_COMMIT_DELAY_US, Stats, lock_data_dir,
};
