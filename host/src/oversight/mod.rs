//! Human oversight: approvals that reach a person and are used once (and,
//! with the rest of issue 16, grants, the kill switch, session limits and
//! alerts), each kept in its project's state behind `store::State`.
//!
//! * [`Approvals`] ([`approvals`]): raise, decide, use once, expire.

pub mod approvals;

pub use approvals::{Approval, Approvals, Opened, Raise, Refused, Requested, Stage};
