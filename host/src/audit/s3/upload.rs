//! Sending one spooled file: a `PUT` with its `Content-MD5`, or a
//! multipart upload (aborted on failure), then a `HEAD` that checks what is
//! stored; and the S3 error documents, described for messages.

use super::S3Sink;
use super::parts::{self, Plan};
use crate::Result;
use base64::Engine as _;
use rusty_s3::S3Action as _;
use rusty_s3::actions::{CompleteMultipartUploadResponse, CreateMultipartUpload};
use std::fs::File;
use std::io::{Read as _, Seek, SeekFrom};
use std::time::Duration;

/// How long a signed request stays valid.
pub(super) const PRESIGN: Duration = Duration::from_secs(3600);
/// Sent with a body (a `PUT`, a part): a server that refuses the request
/// (credentials, a missing bucket or upload) answers before the body is
/// sent, so that its answer, not a broken pipe, says why. A server that
/// ignores it gets the body after a second.
const EXPECT_CONTINUE: (&str, &str) = ("expect", "100-continue");
/// How long `CompleteMultipartUpload` may take to answer: S3 may take
/// minutes to assemble a large object (it sends spaces meanwhile).
const COMPLETE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

impl S3Sink {
    /// Sends `file` (`len` bytes; `kept`: the MD5s of its parts of the given
    /// size, computed while spooling) to `key`, in one `PUT` or in parts,
    /// then checks it is there.
    pub(super) fn upload(
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
pub(super) fn status_of(resp: ureq::http::Response<ureq::Body>) -> String {
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
