//! Export to S3-compatible object storage: [`S3Sink`].
//!
//! A file is spooled to a temporary file in the data directory (an hour of
//! records does not belong in memory), then sent in one `PUT` with its
//! `Content-MD5` (the server refuses a body that arrived damaged), then
//! checked with a `HEAD`: same length, same ETag as the `PUT` answered.
//! Requests are signed with AWS Signature Version 4 (`rusty-s3`, presigned
//! URLs) and sent by a blocking client (`ureq`, rustls): export runs on a
//! thread of its own. Any failure is an [`Error::Export`] naming the bucket,
//! the key and the HTTP status, and the file is not marked exported.
//!
//! Where to connect and as whom comes from the standard environment:
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`
//! (optional), `AWS_REGION` or `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL_S3` or
//! `AWS_ENDPOINT_URL` (an S3-compatible server), `AWS_CA_BUNDLE` (a PEM file
//! of the roots to trust instead of the built-in ones). The server
//! configuration may override the endpoint, region and addressing style
//! ([`S3Settings`]); credentials only ever come from the environment.

use super::destination::S3Location;
use super::dir::check_name;
use super::export::{ExportFile, ExportSink};
use crate::{Error, Result};
use base64::Engine as _;
use md5::{Digest as _, Md5};
use rusty_s3::{Bucket, Credentials, S3Action as _, UrlStyle};
use serde::Deserialize;
use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a signed request stays valid.
const PRESIGN: Duration = Duration::from_secs(3600);
/// The largest object one `PUT` may create.
const MAX_PUT: u64 = 5 << 30;

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
}

/// Settings and environment, resolved.
struct Resolved {
    endpoint: url::Url,
    region: String,
    style: UrlStyle,
    credentials: Credentials,
    ca_bundle: Option<PathBuf>,
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
}

impl std::fmt::Debug for S3Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Sink")
            .field("location", &self.location.to_string())
            .field("endpoint", &self.endpoint)
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
        self.fail(
            key,
            format!("cannot reach the S3 endpoint `{}`: {e}", self.endpoint),
        )
    }

    /// Sends `file` (`len` bytes, MD5 `md5`) to `key`, then checks it is
    /// there.
    fn upload(&self, key: &str, file: &File, len: u64, md5: &[u8]) -> Result<()> {
        if len > MAX_PUT {
            return Err(self.fail(
                key,
                format!(
                    "the file is {len} bytes, more than one PUT can store (5 GiB); \
                     export hourly instead of daily"
                ),
            ));
        }
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5);
        let mut put = self.bucket.put_object(Some(&self.credentials), key);
        put.headers_mut().insert("content-md5", md5.clone());
        let resp = self
            .agent
            .put(put.sign(PRESIGN).as_str())
            .header("content-md5", &md5)
            .header("content-type", "application/x-ndjson")
            .send(file)
            .map_err(|e| self.unreachable(key, &e))?;
        if !resp.status().is_success() {
            return Err(self.fail(key, format!("PUT failed: {}", status_of(resp))));
        }
        let put_etag = header(&resp, "etag");

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
        if let (Some(sent), Some(found)) = (put_etag, header(&resp, "etag"))
            && sent != found
        {
            return Err(self.fail(
                key,
                format!("the stored object's ETag {found} is not the upload's {sent}"),
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

/// `HTTP 403 Forbidden (SignatureDoesNotMatch: …)`, from the status and the
/// S3 error document, if any.
fn status_of(mut resp: ureq::http::Response<ureq::Body>) -> String {
    let status = resp.status();
    let mut text = format!(
        "HTTP {} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let len = body.get(start..)?.find(&format!("</{name}>"))?;
        body.get(start..start + len)
    };
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => text.push_str(&format!(" ({code}: {message})")),
        (Some(code), None) => text.push_str(&format!(" ({code})")),
        _ => {}
    }
    text.trim_end().to_owned()
}

impl ExportSink for S3Sink {
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
            md5: Md5::new(),
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
    md5: Md5,
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
        self.md5.update(written);
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
        let mut file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.rewind().map_err(io)?;
        let md5 = std::mem::take(&mut self.md5).finalize();
        self.sink.upload(&self.key, &file, self.len, &md5)
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
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    const KEYS: [(&str, &str); 2] = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
    ];

    #[test]
    fn aws_by_default_virtual_hosted() {
        let r = S3Settings::default().resolve(&env(&KEYS)).unwrap();
        assert_eq!(r.endpoint.as_str(), "https://s3.us-east-1.amazonaws.com/");
        assert_eq!(r.region, "us-east-1");
        assert!(matches!(r.style, UrlStyle::VirtualHost));
        assert!(r.credentials.token().is_none());
        let mut vars = KEYS.to_vec();
        vars.extend([
            ("AWS_DEFAULT_REGION", "eu-west-3"),
            ("AWS_SESSION_TOKEN", "t"),
        ]);
        let r = S3Settings::default().resolve(&env(&vars)).unwrap();
        assert_eq!(r.endpoint.as_str(), "https://s3.eu-west-3.amazonaws.com/");
        assert_eq!(r.credentials.token(), Some("t"));
        vars.push(("AWS_REGION", "ap-south-1"));
        let r = S3Settings::default().resolve(&env(&vars)).unwrap();
        assert_eq!(r.region, "ap-south-1");
    }

    #[test]
    fn an_endpoint_means_path_style_unless_configured() {
        let mut vars = KEYS.to_vec();
        vars.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"));
        let r = S3Settings::default().resolve(&env(&vars)).unwrap();
        assert_eq!(r.endpoint.as_str(), "http://127.0.0.1:9000/");
        assert!(matches!(r.style, UrlStyle::Path));
        vars.push(("AWS_ENDPOINT_URL_S3", "http://s3.local:9000"));
        let settings = S3Settings {
            path_style: Some(false),
            ..S3Settings::default()
        };
        let r = settings.resolve(&env(&vars)).unwrap();
        assert_eq!(r.endpoint.as_str(), "http://s3.local:9000/");
        assert!(matches!(r.style, UrlStyle::VirtualHost));
        // The configuration wins over the environment.
        let settings = S3Settings {
            endpoint: Some("https://minio.internal".into()),
            region: Some("local".into()),
            path_style: None,
        };
        let r = settings.resolve(&env(&vars)).unwrap();
        assert_eq!(r.endpoint.as_str(), "https://minio.internal/");
        assert_eq!(r.region, "local");
        assert!(matches!(r.style, UrlStyle::Path));
    }

    #[test]
    fn missing_credentials_and_bad_endpoints_are_explained() {
        let e = S3Settings::default()
            .resolve(&env(&[
                ("AWS_ACCESS_KEY_ID", "x"),
                ("AWS_SECRET_ACCESS_KEY", ""),
            ]))
            .err()
            .unwrap();
        assert!(e.contains("AWS_SECRET_ACCESS_KEY"), "{e}");
        let settings = S3Settings {
            endpoint: Some("not a url".into()),
            ..S3Settings::default()
        };
        let e = settings.resolve(&env(&KEYS)).err().unwrap();
        assert!(e.contains("`not a url` is not a URL"), "{e}");

        let location = S3Location {
            bucket: "bkt".into(),
            prefix: String::new(),
        };
        let dir = tempfile::tempdir().unwrap();
        let settings = S3Settings {
            endpoint: Some("ftp://127.0.0.1".into()),
            ..S3Settings::default()
        };
        let e = S3Sink::with_env(location.clone(), &settings, dir.path(), &env(&KEYS))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("s3://bkt/") && e.contains("cannot be used"),
            "{e}"
        );
        let e = S3Sink::with_env(location, &S3Settings::default(), dir.path(), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no S3 credentials"), "{e}");
    }

    #[test]
    fn an_unreachable_endpoint_fails_the_file_and_leaves_no_spool() {
        let location = S3Location {
            bucket: "bkt".into(),
            prefix: "p/".into(),
        };
        let dir = tempfile::tempdir().unwrap();
        // A port nothing listens on: bind one, then close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let settings = S3Settings {
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            ..S3Settings::default()
        };
        let mut sink = S3Sink::with_env(location, &settings, dir.path(), &env(&KEYS)).unwrap();
        let mut file = sink.create("audit-x.jsonl").unwrap();
        file.write_all(b"{}\n").unwrap();
        let e = file.commit().unwrap_err().to_string();
        assert!(
            e.contains("`s3://bkt/p/audit-x.jsonl`") && e.contains("cannot reach"),
            "{e}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_ca_bundle_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "nothing here").unwrap();
        let e = tls_config(Some(&path)).err().unwrap();
        assert!(e.contains("no certificate"), "{e}");
        assert!(tls_config(Some(&dir.path().join("missing"))).is_err());
    }
}
