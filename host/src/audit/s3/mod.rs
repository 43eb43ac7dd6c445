//! Export to S3-compatible object storage: [`S3Sink`].
//!
//! A file is spooled to a temporary file in the data directory (an hour of
//! records does not belong in memory), hashing it on the way, then sent:
//!
//! * up to one part size ([`S3Settings::part_size_mib`], default 64 MiB), in
//!   one `PUT` with its `Content-MD5` (the server refuses a body that arrived
//!   damaged);
//! * larger, as a multipart upload: `CreateMultipartUpload`, each part
//!   streamed from the spool file with its own `Content-MD5`, then
//!   `CompleteMultipartUpload` with the parts' ETags. Parts grow with the
//!   file so that at most 10,000 of them hold it (`parts::plan`); a file
//!   over 5 TiB, the largest S3 object, is refused. On any failure the upload
//!   is aborted (`AbortMultipartUpload`, best effort), so that its parts are
//!   not left stored.
//!
//! Then a `HEAD` checks what is stored: the same length, the ETag the upload
//! answered and, for a multipart ETag (`"…-N"`, not an MD5 of the content),
//! the number of parts. Requests are signed with AWS Signature Version 4
//! (`rusty-s3`, presigned URLs) and sent by a blocking client (`ureq`,
//! rustls): export runs on a thread of its own. Any failure is an
//! [`Error::Export`] naming the bucket, the key, the request (and part) that
//! failed, the HTTP status and the S3 error code, and the file is not marked
//! exported: the next export sends it again.
//!
//! Where to connect and as whom comes from the standard environment:
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`
//! (optional), `AWS_REGION` or `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL_S3` or
//! `AWS_ENDPOINT_URL` (an S3-compatible server), `AWS_CA_BUNDLE` (a PEM file
//! of the roots to trust instead of the built-in ones). The server
//! configuration may override the endpoint, region and addressing style
//! ([`S3Settings`]); credentials only ever come from the environment.

//!
//! `settings.rs` resolves where and as whom ([`S3Settings`]), `upload.rs`
//! sends a spooled file (one `PUT` or a multipart upload) and checks what
//! is stored, `parts.rs` plans parts and hashes them, `location.rs` is the
//! bucket and prefix ([`S3Location`]).

mod location;
mod parts;
mod settings;
mod upload;

pub use location::S3Location;
pub use settings::S3Settings;

use super::sink::{ExportFile, ExportSink, check_name};
use crate::{Error, Result};
use parts::PartHashes;
use rusty_s3::{Bucket, Credentials, S3Action as _, UrlStyle};
use settings::tls_config;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use upload::{PRESIGN, status_of};

/// An [`ExportSink`] uploading to an S3-compatible bucket, under a key
/// prefix.
pub struct S3Sink {
    location: S3Location,
    endpoint: String,
    bucket: Bucket,
    credentials: Credentials,
    agent: ureq::Agent,
    spool_dir: PathBuf,
    /// A file up to this size goes in one `PUT`, a larger one in parts of
    /// this size (or larger: [`parts::plan`]).
    part_size: u64,
}

impl std::fmt::Debug for S3Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Sink")
            .field("location", &self.location.to_string())
            .field("endpoint", &self.endpoint)
            .field("part_size", &self.part_size)
            .finish_non_exhaustive()
    }
}

impl S3Sink {
    /// A sink uploading to `location`, connecting as `settings` and the
    /// process environment say, spooling files in `spool_dir`.
    pub fn new(location: S3Location, settings: &S3Settings, spool_dir: &Path) -> Result<Self> {
        Self::with_env(location, settings, spool_dir, &|name| {
            std::env::var(name).ok()
        })
    }

    fn with_env(
        location: S3Location,
        settings: &S3Settings,
        spool_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let fail = |message: String| Error::Export {
            destination: location.to_string(),
            message,
        };
        let r = settings.resolve(env).map_err(fail)?;
        let endpoint = r.endpoint.to_string();
        let bucket = Bucket::new(r.endpoint, r.style, location.bucket.clone(), r.region)
            .map_err(|e| {
                let hint = match (e, r.style) {
                    (_, UrlStyle::VirtualHost) => {
                        "; for an S3-compatible server or an IP address set `audit.s3.path_style: true`"
                    }
                    _ => "",
                };
                fail(format!("the S3 endpoint `{endpoint}` cannot be used ({e:?}){hint}"))
            })?;
        let tls = tls_config(r.ca_bundle.as_deref()).map_err(fail)?;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_send_request(Some(Duration::from_secs(30)))
            .timeout_send_body(Some(Duration::from_secs(30 * 60)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .timeout_recv_body(Some(Duration::from_secs(60)))
            .tls_config(tls)
            .build();
        Ok(Self {
            location,
            endpoint,
            bucket,
            credentials: r.credentials,
            agent: ureq::Agent::new_with_config(config),
            spool_dir: spool_dir.to_owned(),
            part_size: r.part_size,
        })
    }

    /// `s3://bucket/key`, for messages.
    fn url_of(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.location.bucket)
    }

    fn fail(&self, key: &str, message: String) -> Error {
        Error::Export {
            destination: self.url_of(key),
            message,
        }
    }

    fn unreachable(&self, key: &str, e: &ureq::Error) -> Error {
        self.fail(key, self.cannot_reach(e))
    }

    fn cannot_reach(&self, e: &ureq::Error) -> String {
        format!("cannot reach the S3 endpoint `{}`: {e}", self.endpoint)
    }
}

impl ExportSink for S3Sink {
    fn exists(&mut self, name: &str) -> Result<bool> {
        check_name(name)?;
        let key = format!("{}{name}", self.location.prefix);
        let head = self.bucket.head_object(Some(&self.credentials), &key);
        let resp = self
            .agent
            .head(head.sign(PRESIGN).as_str())
            .call()
            .map_err(|e| self.unreachable(&key, &e))?;
        match resp.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(self.fail(
                &key,
                format!(
                    "cannot tell whether it exists already: HEAD answered {}",
                    status_of(resp)
                ),
            )),
        }
    }

    fn create(&mut self, name: &str) -> Result<Box<dyn ExportFile + '_>> {
        check_name(name)?;
        let spool = self.spool_dir.join(format!(".s3-upload-{name}.tmp"));
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&spool)
            .map_err(|source| Error::Io {
                path: spool.clone(),
                source,
            })?;
        Ok(Box::new(S3File {
            out: Some(BufWriter::new(file)),
            parts: PartHashes::new(self.part_size),
            len: 0,
            key: format!("{}{name}", self.location.prefix),
            spool,
            sink: self,
        }))
    }
}

/// A file being spooled for upload.
struct S3File<'a> {
    out: Option<BufWriter<File>>,
    parts: PartHashes,
    len: u64,
    key: String,
    spool: PathBuf,
    sink: &'a S3Sink,
}

impl Write for S3File<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Some(out) = &mut self.out else {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        };
        let n = out.write(buf)?;
        let written = buf.get(..n).unwrap_or(buf);
        self.parts.update(written);
        self.len += written.len() as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.out {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl ExportFile for S3File<'_> {
    fn commit(mut self: Box<Self>) -> Result<()> {
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let io = |source| Error::Io {
            path: self.spool.clone(),
            source,
        };
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        let parts = std::mem::replace(&mut self.parts, PartHashes::new(1));
        let size = parts.size();
        let kept = parts.finish().map(|hashes| (size, hashes));
        self.sink.upload(&self.key, &file, self.len, kept)
    }
}

impl Drop for S3File<'_> {
    fn drop(&mut self) {
        self.out = None;
        // The spool goes, committed or not. Nothing to do if that fails.
        drop(std::fs::remove_file(&self.spool));
    }
}

#[cfg(test)]
mod tests;
