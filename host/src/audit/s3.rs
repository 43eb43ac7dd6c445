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

mod parts;

use super::destination::S3Location;
use super::dir::check_name;
use super::export::{ExportFile, ExportSink};
use crate::{Error, Result};
use base64::Engine as _;
use parts::{PartHashes, Plan};
use rusty_s3::actions::{CompleteMultipartUploadResponse, CreateMultipartUpload};
use rusty_s3::{Bucket, Credentials, S3Action as _, UrlStyle};
use serde::Deserialize;
use std::fs::File;
use std::io::{BufWriter, Read as _, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a signed request stays valid.
const PRESIGN: Duration = Duration::from_secs(3600);
/// Sent with a body (a `PUT`, a part): a server that refuses the request
/// (credentials, a missing bucket or upload) answers before the body is
/// sent, so that its answer, not a broken pipe, says why. A server that
/// ignores it gets the body after a second.
const EXPECT_CONTINUE: (&str, &str) = ("expect", "100-continue");
/// How long `CompleteMultipartUpload` may take to answer: S3 may take
/// minutes to assemble a large object (it sends spaces meanwhile).
const COMPLETE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// The part sizes that may be configured, in MiB: S3's smallest (5 MiB, for
/// every part but the last) to its largest (5 GiB).
const PART_MIB: std::ops::RangeInclusive<u64> = (parts::MIN_PART >> 20)..=(parts::MAX_PART >> 20);

/// Connection settings from the server configuration (`audit.s3`); each one
/// left out comes from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Settings {
    /// The endpoint URL, e.g. `http://127.0.0.1:9000` for an S3-compatible
    /// server. Default: `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, else AWS
    /// (`https://s3.<region>.amazonaws.com`).
    pub endpoint: Option<String>,
    /// The region. Default: `AWS_REGION`, `AWS_DEFAULT_REGION`, else
    /// `us-east-1`.
    pub region: Option<String>,
    /// Path-style URLs (`https://host/bucket/key`) instead of
    /// virtual-hosted ones (`https://bucket.host/key`). Default: path style
    /// for a configured endpoint (S3-compatible servers), virtual-hosted for
    /// AWS.
    pub path_style: Option<bool>,
    /// The part size of multipart uploads, in MiB (5 to 5120). A file up to
    /// this size goes up in one `PUT`; a larger one in parts of this size,
    /// larger if 10,000 parts would not hold it. Default: 64.
    #[serde(deserialize_with = "part_size_mib")]
    pub part_size_mib: Option<u64>,
    /// The buckets a policy's `audit.export.destination` may name. When set,
    /// a policy naming another bucket is refused (at start and on reload),
    /// so whoever edits policies cannot send the audit trail, with the
    /// server's credentials, to a bucket of their choosing. Default: any.
    pub buckets: Option<Vec<String>>,
}

impl S3Settings {
    /// Checks what can be checked before the first export: the endpoint is
    /// an `http` or `https` URL.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let Some(endpoint) = &self.endpoint else {
            return Ok(());
        };
        match endpoint.parse::<url::Url>() {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
            Ok(_) => Err(format!(
                "the S3 endpoint `{endpoint}` must be an http:// or https:// URL with a host"
            )),
            Err(e) => Err(format!("the S3 endpoint `{endpoint}` is not a URL: {e}")),
        }
    }

    /// Whether a policy may export to `bucket` (see [`S3Settings::buckets`]).
    pub fn allows(&self, bucket: &str) -> bool {
        self.buckets
            .as_ref()
            .is_none_or(|list| list.iter().any(|b| b == bucket))
    }
}

/// Reads `part_size_mib`, refusing a size S3 would not take.
fn part_size_mib<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u64>, D::Error> {
    let mib = u64::deserialize(d)?;
    part_size(Some(mib))
        .map(|_| Some(mib))
        .map_err(serde::de::Error::custom)
}

/// The part size in bytes for `mib` (default 64 MiB).
fn part_size(mib: Option<u64>) -> std::result::Result<u64, String> {
    match mib {
        None => Ok(parts::DEFAULT_PART),
        Some(mib) if PART_MIB.contains(&mib) => Ok(mib << 20),
        Some(mib) => Err(format!(
            "`part_size_mib` must be between {} and {} (MiB, S3's smallest and largest part), not {mib}",
            PART_MIB.start(),
            PART_MIB.end()
        )),
    }
}

/// Settings and environment, resolved.
struct Resolved {
    endpoint: url::Url,
    region: String,
    style: UrlStyle,
    credentials: Credentials,
    ca_bundle: Option<PathBuf>,
    part_size: u64,
}

impl S3Settings {
    /// Resolves the settings against the environment `env` (a variable set
    /// to the empty string counts as unset).
    fn resolve(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> std::result::Result<Resolved, String> {
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        let region = self
            .region
            .clone()
            .or_else(|| var("AWS_REGION"))
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into());
        let custom = self
            .endpoint
            .clone()
            .or_else(|| var("AWS_ENDPOINT_URL_S3"))
            .or_else(|| var("AWS_ENDPOINT_URL"));
        let style = match self.path_style.unwrap_or(custom.is_some()) {
            true => UrlStyle::Path,
            false => UrlStyle::VirtualHost,
        };
        let endpoint = custom.unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let endpoint: url::Url = endpoint
            .parse()
            .map_err(|e| format!("the S3 endpoint `{endpoint}` is not a URL: {e}"))?;
        let (Some(key), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
        else {
            return Err(
                "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
                        (and AWS_SESSION_TOKEN for temporary credentials) in the environment"
                    .into(),
            );
        };
        let credentials = match var("AWS_SESSION_TOKEN") {
            Some(token) => Credentials::new_with_token(key, secret, token),
            None => Credentials::new(key, secret),
        };
        Ok(Resolved {
            endpoint,
            region,
            style,
            credentials,
            ca_bundle: var("AWS_CA_BUNDLE").map(PathBuf::from),
            part_size: part_size(self.part_size_mib)?,
        })
    }
}

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

    /// Sends `file` (`len` bytes; `kept`: the MD5s of its parts of the given
    /// size, computed while spooling) to `key`, in one `PUT` or in parts,
    /// then checks it is there.
    fn upload(
        &self,
        key: &str,
        file: &File,
        len: u64,
        kept: Option<(u64, Vec<[u8; 16]>)>,
    ) -> Result<()> {
        let plan = parts::plan(len, self.part_size).map_err(|m| self.fail(key, m))?;
        let (size, count) = match plan {
            Plan::Single => (self.part_size, 1),
            Plan::Parts { size, count } => (size, count),
        };
        let md5s = parts::part_md5s(file, len, size, count, kept)
            .map_err(|e| self.fail(key, format!("cannot read the spooled file back: {e}")))?;
        let etag = match (plan, md5s.as_slice()) {
            (Plan::Single, [md5]) => self.put(key, file, md5)?,
            _ => self.multipart(key, file, len, size, &md5s)?,
        };
        self.check_stored(key, len, etag.as_deref(), count)
    }

    /// One `PUT` of the whole file; returns the ETag answered.
    fn put(&self, key: &str, file: &File, md5: &[u8; 16]) -> Result<Option<String>> {
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5);
        let mut put = self.bucket.put_object(Some(&self.credentials), key);
        put.headers_mut().insert("content-md5", md5.clone());
        let mut file = file;
        file.rewind()
            .map_err(|e| self.fail(key, format!("cannot read the spooled file back: {e}")))?;
        let resp = self
            .agent
            .put(put.sign(PRESIGN).as_str())
            .header("content-md5", &md5)
            .header("content-type", "application/x-ndjson")
            .header(EXPECT_CONTINUE.0, EXPECT_CONTINUE.1)
            .send(file)
            .map_err(|e| self.unreachable(key, &e))?;
        if !resp.status().is_success() {
            return Err(self.fail(key, format!("PUT failed: {}", status_of(resp))));
        }
        Ok(header(&resp, "etag"))
    }

    /// A multipart upload of `file` (`len` bytes) in parts of `size` bytes,
    /// whose MD5s are `md5s`; returns the object's ETag. On failure, the
    /// upload is aborted.
    fn multipart(
        &self,
        key: &str,
        file: &File,
        len: u64,
        size: u64,
        md5s: &[[u8; 16]],
    ) -> Result<Option<String>> {
        let upload_id = self.create_upload(key)?;
        let message = match self.send_parts(key, &upload_id, file, len, size, md5s) {
            Ok(etag) => return Ok(etag),
            Err(message) => message,
        };
        let message = match self.abort_upload(key, &upload_id) {
            Ok(()) => format!("{message}; the multipart upload was aborted"),
            Err(e) => format!(
                "{message}; aborting the multipart upload `{upload_id}` failed too ({e}): \
                 its parts stay stored until it is aborted (a lifecycle rule can do that)"
            ),
        };
        Err(self.fail(key, message))
    }

    /// `CreateMultipartUpload`; returns the upload id.
    fn create_upload(&self, key: &str) -> Result<String> {
        let create = self
            .bucket
            .create_multipart_upload(Some(&self.credentials), key);
        let resp = self
            .agent
            .post(create.sign(PRESIGN).as_str())
            .header("content-type", "application/x-ndjson")
            .send_empty()
            .map_err(|e| self.unreachable(key, &e))?;
        let (status, body) = read_response(resp);
        if !status.is_success() {
            return Err(self.fail(
                key,
                format!("CreateMultipartUpload failed: {}", describe(status, &body)),
            ));
        }
        CreateMultipartUpload::parse_response(&body)
            .map(|r| r.upload_id().to_owned())
            .map_err(|e| {
                self.fail(
                    key,
                    format!(
                        "CreateMultipartUpload answered no upload id ({e}): {}",
                        describe(status, &body)
                    ),
                )
            })
    }

    /// Every `UploadPart`, then `CompleteMultipartUpload`; returns the
    /// object's ETag, or what failed.
    fn send_parts(
        &self,
        key: &str,
        upload_id: &str,
        file: &File,
        len: u64,
        size: u64,
        md5s: &[[u8; 16]],
    ) -> std::result::Result<Option<String>, String> {
        let count = md5s.len();
        let mut etags = Vec::with_capacity(count);
        for (i, md5) in md5s.iter().enumerate() {
            let number = i + 1;
            let part = format!("UploadPart of part {number} of {count}");
            let part_number =
                u16::try_from(number).map_err(|_| format!("{part}: more parts than S3 takes"))?;
            let offset = (i as u64).saturating_mul(size);
            let part_len = size.min(len.saturating_sub(offset));
            let md5 = base64::engine::general_purpose::STANDARD.encode(md5);
            let mut action =
                self.bucket
                    .upload_part(Some(&self.credentials), key, part_number, upload_id);
            action.headers_mut().insert("content-md5", md5.clone());
            let mut reader = file;
            reader
                .seek(SeekFrom::Start(offset))
                .map_err(|e| format!("{part}: cannot read the spooled file back: {e}"))?;
            let mut body = reader.take(part_len);
            let resp = self
                .agent
                .put(action.sign(PRESIGN).as_str())
                .header("content-md5", &md5)
                .header("content-length", part_len.to_string())
                .header(EXPECT_CONTINUE.0, EXPECT_CONTINUE.1)
                .send(ureq::SendBody::from_reader(&mut body))
                .map_err(|e| format!("{part}: {}", self.cannot_reach(&e)))?;
            if !resp.status().is_success() {
                return Err(format!("{part} failed: {}", status_of(resp)));
            }
            let Some(etag) = header(&resp, "etag") else {
                return Err(format!("{part}: the answer has no ETag"));
            };
            etags.push(etag);
        }

        let complete = self.bucket.complete_multipart_upload(
            Some(&self.credentials),
            key,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = complete.sign(PRESIGN);
        let xml = complete.body();
        let resp = self
            .agent
            .post(url.as_str())
            .config()
            .timeout_recv_body(Some(COMPLETE_TIMEOUT))
            .build()
            .header("content-type", "application/xml")
            .send(xml.as_str())
            .map_err(|e| format!("CompleteMultipartUpload: {}", self.cannot_reach(&e)))?;
        // S3 may answer 200 and still fail: the body says which.
        let (status, body) = read_response(resp);
        match CompleteMultipartUploadResponse::parse(&body) {
            Ok(done) if status.is_success() => {
                Ok(Some(done.etag().to_owned()).filter(|etag| !parts::unquote(etag).is_empty()))
            }
            _ => Err(format!(
                "CompleteMultipartUpload of {count} parts failed: {}",
                describe(status, &body)
            )),
        }
    }

    /// `AbortMultipartUpload`, so that the parts sent are not left stored.
    fn abort_upload(&self, key: &str, upload_id: &str) -> std::result::Result<(), String> {
        let abort = self
            .bucket
            .abort_multipart_upload(Some(&self.credentials), key, upload_id);
        let resp = self
            .agent
            .delete(abort.sign(PRESIGN).as_str())
            .call()
            .map_err(|e| self.cannot_reach(&e))?;
        match resp.status().is_success() {
            true => Ok(()),
            false => Err(status_of(resp)),
        }
    }

    /// Checks with a `HEAD` that `key` holds `len` bytes, with the ETag
    /// `etag` that the upload answered (if any) and, for a multipart ETag,
    /// `parts` parts.
    fn check_stored(&self, key: &str, len: u64, etag: Option<&str>, parts: u64) -> Result<()> {
        let head = self.bucket.head_object(Some(&self.credentials), key);
        let resp = self
            .agent
            .head(head.sign(PRESIGN).as_str())
            .call()
            .map_err(|e| self.unreachable(key, &e))?;
        if !resp.status().is_success() {
            return Err(self.fail(
                key,
                format!(
                    "the upload cannot be verified: HEAD answered {}",
                    status_of(resp)
                ),
            ));
        }
        let stored = header(&resp, "content-length").and_then(|v| v.parse::<u64>().ok());
        if stored != Some(len) {
            return Err(self.fail(
                key,
                format!(
                    "the stored object has {} bytes, {len} were sent",
                    stored.map_or_else(|| "an unknown number of".into(), |n| n.to_string())
                ),
            ));
        }
        let found = header(&resp, "etag");
        if let (Some(sent), Some(found)) = (etag, &found)
            && parts::unquote(sent) != parts::unquote(found)
        {
            return Err(self.fail(
                key,
                format!("the stored object's ETag {found} is not the upload's {sent}"),
            ));
        }
        if let Some(n) = found.as_deref().and_then(parts::etag_parts)
            && parts > 1
            && n != parts
        {
            return Err(self.fail(
                key,
                format!("the stored object has {n} parts (ETag), {parts} were sent"),
            ));
        }
        Ok(())
    }
}

/// The TLS roots: those of `ca_bundle` (PEM), else the built-in Mozilla set.
fn tls_config(ca_bundle: Option<&Path>) -> std::result::Result<ureq::tls::TlsConfig, String> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let Some(path) = ca_bundle else {
        return Ok(TlsConfig::default());
    };
    let bad = |e: String| format!("AWS_CA_BUNDLE `{}`: {e}", path.display());
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(c) = item.map_err(|e| bad(e.to_string()))? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&certs))
        .build())
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The status and (up to 64 KiB of) the body of `resp`.
fn read_response(mut resp: ureq::http::Response<ureq::Body>) -> (ureq::http::StatusCode, String) {
    let status = resp.status();
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    (status, body)
}

/// `HTTP 403 Forbidden (SignatureDoesNotMatch: …)`, from the status and the
/// S3 error document, if any.
fn status_of(resp: ureq::http::Response<ureq::Body>) -> String {
    let (status, body) = read_response(resp);
    describe(status, &body)
}

/// [`status_of`] for a response already read.
fn describe(status: ureq::http::StatusCode, body: &str) -> String {
    let mut text = format!(
        "HTTP {} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let len = body.get(start..)?.find(&format!("</{name}>"))?;
        body.get(start..start + len)
    };
    let text_end = text.trim_end().len();
    text.truncate(text_end);
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => text.push_str(&format!(" ({code}: {message})")),
        (Some(code), None) => text.push_str(&format!(" ({code})")),
        _ => {}
    }
    text
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
