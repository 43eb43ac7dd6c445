//! The bounds of one masking request: how many findings, how many bytes of
//! JSON pointers and how large an answer it may cost, so that what masking
//! builds stays in proportion to the limits, not to what a plugin reports
//! or to the length of a document's keys.

use crate::error::Error;

/// Limits of one masking request (set by the server configuration's
/// `masking:` block). The defaults fit a 4 MiB body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most findings one plugin call may report, and most findings one
    /// request may answer (after merging).
    pub max_findings: usize,
    /// Most bytes of JSON pointers the findings of one answer may carry.
    pub max_pointer_bytes: usize,
    /// Largest answer, in bytes: the masked content and the findings.
    pub max_answer_bytes: usize,
}

impl Limits {
    /// Default of `masking.max_findings`.
    pub const MAX_FINDINGS: usize = 100_000;
    /// Default of `masking.max_pointer_bytes`: 4 MiB.
    pub const MAX_POINTER_BYTES: usize = 4 << 20;
    /// Default of `masking.max_answer_bytes`: 32 MiB.
    pub const MAX_ANSWER_BYTES: usize = 32 << 20;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_findings: Self::MAX_FINDINGS,
            max_pointer_bytes: Self::MAX_POINTER_BYTES,
            max_answer_bytes: Self::MAX_ANSWER_BYTES,
        }
    }
}

/// The error for `what` going past the setting `masking.{setting}`.
pub(crate) fn limit_error(what: String, setting: &'static str, limit: usize) -> Error {
    Error::MaskingLimit {
        what,
        setting,
        limit,
    }
}

/// What is left of the answer's byte budget.
#[derive(Debug)]
pub(super) struct Room {
    left: usize,
    limit: usize,
}

impl Room {
    /// The whole budget of `limits`.
    pub(super) fn new(limits: &Limits) -> Self {
        Self {
            left: limits.max_answer_bytes,
            limit: limits.max_answer_bytes,
        }
    }

    /// Takes `bytes` from what is left, or fails once the answer would be
    /// larger than the limit.
    pub(super) fn take(&mut self, bytes: usize) -> crate::Result<()> {
        self.left = self.left.checked_sub(bytes).ok_or_else(|| {
            limit_error(
                "the masked content would be too large".into(),
                "max_answer_bytes",
                self.limit,
            )
        })?;
        Ok(())
    }
}
