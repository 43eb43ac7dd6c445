//! A real S3-compatible server on loopback for tests: `s3s-fs` (objects as
//! files under a temporary directory) behind `s3s`'s SigV4 authentication
//! with one fixed key pair, served by hyper on its own thread; and a small
//! client (rusty-s3 + ureq) to list and fetch what a test uploaded.
//!
//! Multipart uploads are served as `s3s-fs` does them (parts of at least
//! 5 MiB but the last, a `"…-N"` ETag); a test can make one part number
//! fail ([`S3Server::fail_part`]) or the uploads' creation
//! ([`S3Server::refuse_creates`]), and count the uploads aborted.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use s3s::{S3Request, S3Response, S3Result, dto};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

/// The access key the server accepts.
pub const ACCESS_KEY: &str = "AKIAPALISADETEST";
/// Its secret.
pub const SECRET_KEY: &str = "palisade-test-secret-key-0123456789";
/// The region the tests sign for.
pub const REGION: &str = "us-east-1";

/// A running server; stops when dropped.
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Where the objects are (`ROOT/BUCKET/KEY`).
    pub root: tempfile::TempDir,
    faults: Arc<Faults>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl S3Server {
    /// Starts a server holding the (empty) `buckets`.
    pub fn start(buckets: &[&str]) -> Self {
        let root = tempfile::tempdir().unwrap();
        for b in buckets {
            std::fs::create_dir(root.path().join(b)).unwrap();
        }
        let faults = Arc::new(Faults::default());
        let fs = Strict {
            fs: s3s_fs::FileSystem::new(root.path()).unwrap(),
            root: root.path().to_owned(),
            faults: Arc::clone(&faults),
        };
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (stream, _) = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok(a) => a,
                            Err(_) => continue,
                        },
                        _ = &mut stopped => return,
                    };
                    let service = service.clone();
                    tokio::spawn(async move {
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    });
                }
            });
        });
        Self {
            endpoint,
            root,
            faults,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// From now on, every `UploadPart` of part number `part` answers
    /// `500 InternalError` (0: none does).
    pub fn fail_part(&self, part: i32) {
        self.faults.fail_part.store(part, Ordering::SeqCst);
    }

    /// From now on, every `CreateMultipartUpload` answers `403
    /// AccessDenied` (`true`), or none does.
    pub fn refuse_creates(&self, refuse: bool) {
        self.faults.refuse_creates.store(refuse, Ordering::SeqCst);
    }

    /// How many multipart uploads were aborted.
    pub fn aborted(&self) -> usize {
        self.faults.aborted.load(Ordering::SeqCst)
    }

    /// What is left of multipart uploads neither completed nor aborted:
    /// the files `s3s-fs` keeps of them (the upload, its parts) beside the
    /// buckets.
    pub fn upload_leftovers(&self) -> usize {
        std::fs::read_dir(self.root.path())
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with(".upload")
            })
            .count()
    }

    /// The length and ETag of the object `key` of `bucket` (signed `HEAD`).
    pub fn head(&self, bucket: &str, key: &str) -> (u64, String) {
        let bucket = self.bucket(bucket);
        let creds = Credentials::new(ACCESS_KEY, SECRET_KEY);
        let url = bucket
            .head_object(Some(&creds), key)
            .sign(Duration::from_secs(600));
        let resp = Self::agent().head(url.as_str()).call().unwrap();
        assert!(resp.status().is_success(), "head {key}: {}", resp.status());
        let header = |name: &str| resp.headers()[name].to_str().unwrap().to_owned();
        (header("content-length").parse().unwrap(), header("etag"))
    }

    /// The environment a client of this server needs.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
        ]
    }

    fn bucket(&self, name: &str) -> Bucket {
        Bucket::new(
            self.endpoint.parse().unwrap(),
            UrlStyle::Path,
            name.to_owned(),
            REGION,
        )
        .unwrap()
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into()
    }

    /// The keys under `prefix` in `bucket`, through the S3 API (signed).
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let bucket = self.bucket(bucket);
        let creds = Credentials::new(ACCESS_KEY, SECRET_KEY);
        let mut action = bucket.list_objects_v2(Some(&creds));
        action.with_prefix(prefix);
        let url = action.sign(Duration::from_secs(600));
        let mut resp = Self::agent().get(url.as_str()).call().unwrap();
        let text = resp.body_mut().read_to_string().unwrap();
        assert!(resp.status().is_success(), "list: {text}");
        let parsed = rusty_s3::actions::ListObjectsV2::parse_response(&text).unwrap();
        let mut keys: Vec<String> = parsed.contents.into_iter().map(|c| c.key).collect();
        keys.sort();
        keys
    }

    /// The object `key` of `bucket`, through the S3 API (signed).
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let bucket = self.bucket(bucket);
        let creds = Credentials::new(ACCESS_KEY, SECRET_KEY);
        let url = bucket
            .get_object(Some(&creds), key)
            .sign(Duration::from_secs(600));
        let mut resp = Self::agent().get(url.as_str()).call().unwrap();
        assert!(resp.status().is_success(), "get {key}: {}", resp.status());
        resp.body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .unwrap()
    }

    /// Downloads every object under `prefix` into `dir`; returns the paths.
    pub fn download(
        &self,
        bucket: &str,
        prefix: &str,
        dir: &std::path::Path,
    ) -> Vec<std::path::PathBuf> {
        self.list(bucket, prefix)
            .into_iter()
            .map(|key| {
                let name = key.rsplit('/').next().unwrap().to_owned();
                let path = dir.join(name);
                std::fs::write(&path, self.get(bucket, &key)).unwrap();
                path
            })
            .collect()
    }
}

/// Failures a test asks for, and what the server saw.
#[derive(Default)]
struct Faults {
    /// The part number whose `UploadPart` fails (0: none).
    fail_part: AtomicI32,
    /// `CreateMultipartUpload` is refused (`403 AccessDenied`).
    refuse_creates: std::sync::atomic::AtomicBool,
    /// Multipart uploads aborted.
    aborted: AtomicUsize,
}

/// `s3s-fs` with the one check it leaves out: writing into a bucket that
/// does not exist is `NoSuchBucket` (404), as on S3, rather than making it;
/// and the [`Faults`] a test asks for.
struct Strict {
    fs: s3s_fs::FileSystem,
    root: std::path::PathBuf,
    faults: Arc<Faults>,
}

#[async_trait::async_trait]
impl s3s::S3 for Strict {
    async fn put_object(
        &self,
        req: S3Request<dto::PutObjectInput>,
    ) -> S3Result<S3Response<dto::PutObjectOutput>> {
        if !self.root.join(&req.input.bucket).is_dir() {
            return Err(s3s::s3_error!(NoSuchBucket));
        }
        self.fs.put_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<dto::CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CreateMultipartUploadOutput>> {
        if !self.root.join(&req.input.bucket).is_dir() {
            return Err(s3s::s3_error!(NoSuchBucket));
        }
        if self.faults.refuse_creates.load(Ordering::SeqCst) {
            return Err(s3s::s3_error!(AccessDenied, "Access Denied"));
        }
        self.fs.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<dto::UploadPartInput>,
    ) -> S3Result<S3Response<dto::UploadPartOutput>> {
        if req.input.part_number == self.faults.fail_part.load(Ordering::SeqCst) {
            return Err(s3s::s3_error!(
                InternalError,
                "We encountered an internal error. Please try again."
            ));
        }
        self.fs.upload_part(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<dto::CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CompleteMultipartUploadOutput>> {
        self.fs.complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<dto::AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::AbortMultipartUploadOutput>> {
        let out = self.fs.abort_multipart_upload(req).await?;
        self.faults.aborted.fetch_add(1, Ordering::SeqCst);
        Ok(out)
    }

    async fn head_object(
        &self,
        req: S3Request<dto::HeadObjectInput>,
    ) -> S3Result<S3Response<dto::HeadObjectOutput>> {
        self.fs.head_object(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<dto::GetObjectInput>,
    ) -> S3Result<S3Response<dto::GetObjectOutput>> {
        self.fs.get_object(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<dto::ListObjectsV2Input>,
    ) -> S3Result<S3Response<dto::ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
