//! Human oversight: approvals that reach a person and are used once, and
//! the kill switch, session limits, grants and alerts, each kept in its project's state behind `store::State`.
//!
//! * [`Approvals`] ([`approvals`]): raise, decide, use once, expire.
//! * [`Containment`] ([`containment`]): sessions killed, agents suspended,
//!   projects paused; checked first on the decision path.
//! * [`Sessions`] ([`sessions`]): first and last seen, counts, and the
//!   idle and maximum-duration limits.
//! * [`Grants`] ([`grants`]): just-in-time elevation, temporary allow
//!   rules matched by the service's plugin.
//! * [`Alerts`] ([`alerts`]): denied events, volume, off hours, first
//!   access; evaluated off the decision path.
//! * [`Gate`] ([`gate`]): what the decision path does with a decision that
//!   needs a person, and with the approval an agent brings back.

pub mod alerts;
pub mod approvals;
pub mod containment;
pub mod gate;
pub mod grants;
pub mod sessions;

pub use alerts::{Alert, Alerts, Event, Raised};
pub use approvals::{Approval, Approvals, Opened, Raise, Refused, Requested, Stage};
pub use containment::{Containment, Held, Hold, Scope};
pub use gate::{Gate, Gated};
pub use grants::{Grant, GrantRefused, GrantStage, Grants};
pub use sessions::{Daily, Ended, Session, Sessions, Ticket};

/// The gate of a server on its embedded state store.
pub type ServerGate = Gate<crate::store::SqliteState>;
