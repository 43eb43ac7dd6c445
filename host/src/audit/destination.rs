//! Where export files go: [`Destination`], an S3-compatible bucket
//! (`s3://bucket/prefix/`) or a directory.
//!
//! A policy file names a directory **relative to the data directory**, and
//! it cannot leave it (no absolute path, no `..`; opened through a
//! capability handle, so no symbolic link out either): whoever edits a
//! policy cannot make the server write elsewhere on the host. To archive to
//! another disk, mount it inside the data directory or use a bucket. The
//! command line (`palisade audit export --to`) is the operator's own and
//! takes any directory.

use super::dir::DirSink;
use super::s3::{S3Location, S3Settings, S3Sink};
use super::sink::ExportSink;
use crate::Result;
use std::fmt;
use std::path::{Component, Path, PathBuf};

/// Where export files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A directory: relative to the data directory when it comes from a
    /// policy ([`Destination::parse_policy`]).
    Dir(PathBuf),
    /// An S3-compatible bucket.
    S3(S3Location),
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dir(d) => write!(f, "{}", d.display()),
            Self::S3(l) => l.fmt(f),
        }
    }
}

const WHAT_TO_WRITE: &str = "write `s3://BUCKET/PREFIX/` or a directory";

impl Destination {
    /// Parses a policy's `audit.export.destination`: `s3://bucket/prefix/`,
    /// or a directory relative to the data directory that does not leave it.
    /// The message says what to write instead.
    pub fn parse_policy(text: &str) -> std::result::Result<Self, String> {
        match Self::parse(text)? {
            Self::Dir(dir) => {
                let escapes = dir.components().any(|c| {
                    matches!(
                        c,
                        Component::ParentDir | Component::RootDir | Component::Prefix(_)
                    )
                });
                if escapes {
                    return Err(format!(
                        "export destination `{text}` leaves the data directory; write a \
                         directory relative to the data directory (e.g. `audit-export/`), or \
                         `s3://BUCKET/PREFIX/`"
                    ));
                }
                // The data directory itself holds the store and its head
                // file: export files go into a folder of it.
                if !dir.components().any(|c| matches!(c, Component::Normal(_))) {
                    return Err(format!(
                        "export destination `{text}` is the data directory itself; write a \
                         folder inside it (e.g. `audit-export/`), or `s3://BUCKET/PREFIX/`"
                    ));
                }
                Ok(Self::Dir(dir))
            }
            s3 => Ok(s3),
        }
    }

    /// The destination's folder for project `name` (its files, beside
    /// other projects'): `dir/name` or `s3://bucket/prefix/name/`. Refused
    /// unless `name` is a project's name (one plain path segment), whatever
    /// wrote it into the store.
    pub fn within(&self, name: &str) -> std::result::Result<Destination, String> {
        crate::identity::check_project_name(name)?;
        Ok(match self {
            Self::Dir(d) => Self::Dir(d.join(name)),
            Self::S3(l) => Self::S3(S3Location {
                bucket: l.bucket.clone(),
                prefix: format!("{}{name}/", l.prefix),
            }),
        })
    }

    /// Parses a destination given on the command line: `s3://bucket/prefix/`
    /// or any directory.
    pub fn parse_cli(text: &str) -> std::result::Result<Self, String> {
        Self::parse(text)
    }

    fn parse(text: &str) -> std::result::Result<Self, String> {
        if text.trim().is_empty() {
            return Err(format!("the export destination is empty; {WHAT_TO_WRITE}"));
        }
        if let Some(rest) = text.strip_prefix("s3://") {
            return S3Location::parse(text, rest).map(Self::S3);
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "export destination `{text}`: `{scheme}://` is not supported; {WHAT_TO_WRITE}"
            ));
        }
        Ok(Self::Dir(PathBuf::from(text)))
    }

    /// Opens a sink for this destination. A directory is resolved against
    /// `base` when it is relative (the data directory, for a policy's
    /// destination), and cannot leave it; uploads to S3 are spooled in
    /// `spool_dir`.
    pub fn open(
        &self,
        base: &Path,
        spool_dir: &Path,
        s3: &S3Settings,
    ) -> Result<Box<dyn ExportSink>> {
        Ok(match self {
            Self::Dir(dir) if dir.is_absolute() => Box::new(DirSink::new(dir)?),
            Self::Dir(dir) => Box::new(DirSink::within(base, dir)?),
            Self::S3(location) => Box::new(S3Sink::new(location.clone(), s3, spool_dir)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn s3(bucket: &str, prefix: &str) -> Destination {
        Destination::S3(S3Location {
            bucket: bucket.into(),
            prefix: prefix.into(),
        })
    }

    #[test]
    fn s3_destinations() {
        let p = Destination::parse_policy;
        assert_eq!(
            p("s3://your-audit-bucket/"),
            Ok(s3("your-audit-bucket", ""))
        );
        assert_eq!(p("s3://bkt"), Ok(s3("bkt", "")));
        assert_eq!(p("s3://bkt/a/b/"), Ok(s3("bkt", "a/b/")));
        assert_eq!(p("s3://bkt/a/b"), Ok(s3("bkt", "a/b/")));
        assert_eq!(
            p("s3://bkt/a/b").map(|d| d.to_string()),
            Ok("s3://bkt/a/b/".into())
        );
        for bad in [
            "s3://",
            "s3://Upper/",
            "s3://ab/",
            "s3://-bkt/",
            "s3://b..k/",
            "s3://bkt//x/",
            "s3://bkt/a/../b/",
            "s3://bkt/./",
            "s3://bkt/a\nb/",
        ] {
            let e = p(bad).unwrap_err();
            assert!(
                e.contains(&format!("`{bad}`")) && e.contains("s3://BUCKET"),
                "{e}"
            );
        }
    }

    #[test]
    fn other_schemes_are_refused() {
        for bad in [
            "ftp://x",
            "file:///tmp/x",
            "https://bucket.s3.amazonaws.com/",
        ] {
            let e = Destination::parse_policy(bad).unwrap_err();
            assert!(e.contains("is not supported"), "{e}");
            let e = Destination::parse_cli(bad).unwrap_err();
            assert!(e.contains("is not supported"), "{e}");
        }
        assert!(Destination::parse_policy("").is_err());
    }

    #[test]
    fn a_policy_directory_stays_inside_the_data_directory() {
        assert_eq!(
            Destination::parse_policy("audit-export/"),
            Ok(Destination::Dir("audit-export/".into()))
        );
        assert!(Destination::parse_policy("./a/b").is_ok());
        for bad in ["/mnt/archive", "../elsewhere", "a/../../b"] {
            let e = Destination::parse_policy(bad).unwrap_err();
            assert!(e.contains("leaves the data directory"), "{e}");
        }
        // The command line is the operator's: any directory.
        assert_eq!(
            Destination::parse_cli("/mnt/archive"),
            Ok(Destination::Dir("/mnt/archive".into()))
        );
    }

    #[test]
    fn a_relative_directory_opens_inside_its_base() {
        let base = tempfile::tempdir().unwrap();
        let dest = Destination::parse_policy("out/nested").unwrap();
        let mut sink = dest
            .open(base.path(), base.path(), &S3Settings::default())
            .unwrap();
        let mut file = sink.create("audit-x.jsonl").unwrap();
        file.write_all(b"hello\n").unwrap();
        file.commit().unwrap();
        let text = std::fs::read_to_string(base.path().join("out/nested/audit-x.jsonl"));
        assert_eq!(text.unwrap(), "hello\n");
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_out_of_the_base_is_refused() {
        let (base, elsewhere) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::os::unix::fs::symlink(elsewhere.path(), base.path().join("out")).unwrap();
        let dest = Destination::parse_policy("out").unwrap();
        assert!(
            dest.open(base.path(), base.path(), &S3Settings::default())
                .is_err()
        );
    }
}
