//! A bucket and a key prefix, `s3://bucket/prefix/`: [`S3Location`].

use std::fmt;

/// A bucket and a key prefix: `s3://bucket/prefix/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The key prefix: empty, or ending with `/` (`s3://b/audit` is read as
    /// `s3://b/audit/`).
    pub prefix: String,
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

impl S3Location {
    /// Parses `rest`, what follows `s3://` in the destination `text`: a
    /// bucket name, then a key prefix. The message says what to write
    /// instead.
    pub(crate) fn parse(text: &str, rest: &str) -> std::result::Result<S3Location, String> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bad =
            |why: &str| format!("export destination `{text}`: {why}; write `s3://BUCKET/PREFIX/`");
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
            && !bucket.contains("..");
        if !bucket_ok {
            return Err(bad(&format!(
                "`{bucket}` is not a bucket name (3 to 63 lowercase letters, digits, `.` and `-`)"
            )));
        }
        let mut prefix = prefix.to_owned();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        let segments_ok = prefix
            .split_terminator('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
        if !segments_ok || prefix.chars().any(char::is_control) {
            return Err(bad(
                "the key prefix has an empty, `.` or `..` segment or a control character",
            ));
        }
        if prefix.len() > 900 {
            return Err(bad("the key prefix is longer than 900 bytes"));
        }
        Ok(S3Location {
            bucket: bucket.to_owned(),
            prefix,
        })
    }
}
