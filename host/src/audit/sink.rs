//! Where export files go, as one trait: [`ExportSink`] (and the
//! [`ExportFile`] it makes). [`super::dir::DirSink`] writes a directory,
//! [`super::s3::S3Sink`] an S3-compatible bucket; [`super::export()`] writes
//! to either without knowing which.

use crate::{Error, Result};
use std::io::Write;

/// Where export files go.
pub trait ExportSink {
    /// Starts the object `name`. Nothing is visible under `name` until
    /// [`ExportFile::commit`]; an existing object of that name is replaced
    /// ([`export()`](super::export()) only reuses a name for the same records, see
    /// [`ExportSink::exists`]). Dropping the file without committing
    /// discards it.
    fn create(&mut self, name: &str) -> Result<Box<dyn ExportFile + '_>>;

    /// Whether an object `name` is there already.
    fn exists(&mut self, name: &str) -> Result<bool>;
}

/// An export file being written.
pub trait ExportFile: Write {
    /// Makes the file durable and visible under its name.
    fn commit(self: Box<Self>) -> Result<()>;
}

/// Checks an export file name: letters, digits, `.`, `_`, `-`, `+`, not
/// starting with `.`.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(Error::Audit {
            message: format!("invalid export file name `{name}`"),
        })
    }
}
