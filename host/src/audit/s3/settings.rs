//! Where to connect and as whom: [`S3Settings`] from the server
//! configuration, resolved against the environment.

use super::parts;
use rusty_s3::{Credentials, UrlStyle};
use serde::Deserialize;
use std::path::{Path, PathBuf};

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
pub(super) fn part_size(mib: Option<u64>) -> std::result::Result<u64, String> {
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
pub(super) struct Resolved {
    pub(super) endpoint: url::Url,
    pub(super) region: String,
    pub(super) style: UrlStyle,
    pub(super) credentials: Credentials,
    pub(super) ca_bundle: Option<PathBuf>,
    pub(super) part_size: u64,
}

impl S3Settings {
    /// Resolves the settings against the environment `env` (a variable set
    /// to the empty string counts as unset).
    pub(super) fn resolve(
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

/// The TLS roots: those of `ca_bundle` (PEM), else the built-in Mozilla set.
pub(super) fn tls_config(
    ca_bundle: Option<&Path>,
) -> std::result::Result<ureq::tls::TlsConfig, String> {
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
