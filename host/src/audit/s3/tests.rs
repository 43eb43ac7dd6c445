use super::settings::part_size;
use super::*;
use base64::Engine as _;
use md5::{Digest as _, Md5};
use std::collections::BTreeMap;
use std::io::Read as _;
use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

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
        part_size_mib: None,
        buckets: Some(vec!["audit".into()]),
    };
    assert!(settings.allows("audit") && !settings.allows("audit-2"));
    assert!(S3Settings::default().allows("any"));
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

#[test]
fn the_part_size_is_configured_in_mib_within_s3_limits() {
    let parse = |yaml: &str| serde_json::from_str::<S3Settings>(yaml);
    assert_eq!(parse("{}").unwrap().part_size_mib, None);
    assert_eq!(
        parse(r#"{"part_size_mib": 5}"#).unwrap().part_size_mib,
        Some(5)
    );
    for bad in ["4", "5121", "0"] {
        let e = parse(&format!(r#"{{"part_size_mib": {bad}}}"#))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("between 5 and 5120") && e.contains(&format!("not {bad}")),
            "{e}"
        );
    }
    assert_eq!(part_size(None), Ok(64 << 20));
    assert_eq!(part_size(Some(5120)), Ok(5 << 30));
    // Set in code rather than read from a file: refused when connecting.
    let settings = S3Settings {
        part_size_mib: Some(1),
        ..S3Settings::default()
    };
    let e = settings.resolve(&env(&KEYS)).err().unwrap();
    assert!(e.contains("`part_size_mib`"), "{e}");
    let r = S3Settings::default().resolve(&env(&KEYS)).unwrap();
    assert_eq!(r.part_size, 64 << 20);
}

/// One request to a [`Canned`] server.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    content_md5: Option<String>,
    body: Vec<u8>,
}

/// An answer: status, headers, body.
type Answer = (u16, Vec<(&'static str, String)>, String);

/// A canned S3 on loopback, for what the real `s3s-fs` server of the
/// end-to-end tests (`tests/support/s3.rs`) cannot be made to do: parts
/// smaller than S3's 5 MiB minimum with every request recorded, a
/// `CompleteMultipartUpload` answering `200 OK` with an error, an abort
/// refused, a stored object whose length, ETag or part count differs from
/// what was sent. The failures `s3s-fs` can play (a failing part and its
/// abort, a refused creation) are tested against it in
/// `tests/audit_export.rs`. Answers each request with
/// `answer(method, target)` and keeps what it was sent.
struct Canned {
    endpoint: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Canned {
    fn start(answer: impl Fn(&str, &str) -> Answer + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        // Runs until the test process ends.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    continue;
                }
                let mut words = line.split_whitespace();
                let method = words.next().unwrap_or_default().to_owned();
                let target = words.next().unwrap_or_default().to_owned();
                let (mut len, mut content_md5, mut expect) = (0u64, None, false);
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 {
                        break;
                    }
                    let Some((name, value)) = h.trim_end().split_once(':') else {
                        break;
                    };
                    match name.to_ascii_lowercase().as_str() {
                        "content-length" => len = value.trim().parse().unwrap(),
                        "content-md5" => content_md5 = Some(value.trim().to_owned()),
                        "expect" => expect = true,
                        _ => {}
                    }
                }
                if expect {
                    stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
                }
                let mut body = Vec::new();
                (&mut reader).take(len).read_to_end(&mut body).unwrap();
                let (status, headers, text) = answer(&method, &target);
                log.lock().unwrap().push(Seen {
                    method: method.clone(),
                    target,
                    content_md5,
                    body,
                });
                let mut head = format!("HTTP/1.1 {status} X\r\nconnection: close\r\n");
                for (k, v) in &headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                if !headers.iter().any(|(k, _)| *k == "content-length") {
                    head.push_str(&format!("content-length: {}\r\n", text.len()));
                }
                head.push_str("\r\n");
                if method != "HEAD" {
                    head.push_str(&text);
                }
                drop(stream.write_all(head.as_bytes()));
            }
        });
        Self { endpoint, seen }
    }

    /// A sink to this server, with parts of `part_size` bytes.
    fn sink(&self, dir: &Path, part_size: u64) -> S3Sink {
        let location = S3Location {
            bucket: "bkt".into(),
            prefix: "p/".into(),
        };
        let settings = S3Settings {
            endpoint: Some(self.endpoint.clone()),
            ..S3Settings::default()
        };
        let mut sink = S3Sink::with_env(location, &settings, dir, &env(&KEYS)).unwrap();
        sink.part_size = part_size;
        sink
    }

    /// Each request: `METHOD target-without-signature`.
    fn requests(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| {
                let unsigned: Vec<&str> = s
                    .target
                    .split(['?', '&'])
                    .filter(|p| !p.starts_with("X-Amz-"))
                    .collect();
                format!("{} {}", s.method, unsigned.join(" "))
            })
            .collect()
    }
}

const CREATED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>bkt</Bucket><Key>p/audit-x.jsonl</Key><UploadId>up-1</UploadId></InitiateMultipartUploadResult>"#;

fn completed(etag: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>bkt</Bucket><Key>p/audit-x.jsonl</Key><ETag>&quot;{etag}&quot;</ETag></CompleteMultipartUploadResult>"#
    )
}

fn s3_error(code: &str, message: &str) -> String {
    format!("<Error><Code>{code}</Code><Message>{message}</Message></Error>")
}

/// A multipart upload that goes well, until `fail` says otherwise for a
/// request (method, target); HEAD answers `stored` (length, ETag).
fn s3(
    stored: (u64, &'static str),
    fail: impl Fn(&str, &str) -> Option<Answer> + Send + 'static,
) -> impl Fn(&str, &str) -> Answer + Send + 'static {
    move |method, target| {
        if let Some(answer) = fail(method, target) {
            return answer;
        }
        match method {
            "POST" if target.contains("uploads") => (200, vec![], CREATED.into()),
            "PUT" => {
                let n = target
                    .split(['?', '&'])
                    .find_map(|p| p.strip_prefix("partNumber="))
                    .unwrap_or("0");
                (200, vec![("etag", format!("\"etag-{n}\""))], String::new())
            }
            "POST" => (200, vec![], completed(stored.1)),
            "DELETE" => (204, vec![], String::new()),
            "HEAD" => (
                200,
                vec![
                    ("content-length", stored.0.to_string()),
                    ("etag", format!("\"{}\"", stored.1)),
                ],
                String::new(),
            ),
            _ => (400, vec![], s3_error("BadRequest", "unexpected")),
        }
    }
}

/// 40 bytes: 3 parts of 16.
const DATA: &[u8; 40] = b"0123456789abcdef0123456789ABCDEF01234567";

fn upload(server: &Canned, dir: &Path) -> Result<()> {
    let mut sink = server.sink(dir, 16);
    let mut file = sink.create("audit-x.jsonl").unwrap();
    file.write_all(&DATA[..5]).unwrap();
    file.write_all(&DATA[5..]).unwrap();
    file.commit()
}

#[test]
fn a_file_larger_than_a_part_goes_in_parts_each_with_its_md5() {
    let server = Canned::start(s3((40, "abc-3"), |_, _| None));
    let dir = tempfile::tempdir().unwrap();
    upload(&server, dir.path()).unwrap();
    assert_eq!(
        server.requests(),
        [
            "POST /bkt/p/audit-x.jsonl uploads=1",
            "PUT /bkt/p/audit-x.jsonl partNumber=1 uploadId=up-1",
            "PUT /bkt/p/audit-x.jsonl partNumber=2 uploadId=up-1",
            "PUT /bkt/p/audit-x.jsonl partNumber=3 uploadId=up-1",
            "POST /bkt/p/audit-x.jsonl uploadId=up-1",
            "HEAD /bkt/p/audit-x.jsonl",
        ]
    );
    let seen = server.seen.lock().unwrap().clone();
    let b64 = |d: &[u8]| {
        base64::engine::general_purpose::STANDARD.encode(<[u8; 16]>::from(Md5::digest(d)))
    };
    for (part, data) in seen[1..4].iter().zip(DATA.chunks(16)) {
        assert_eq!(part.body, data);
        assert_eq!(part.content_md5.as_deref(), Some(b64(data).as_str()));
    }
    let xml = String::from_utf8(seen[4].body.clone()).unwrap();
    assert!(
        xml.contains("<PartNumber>3</PartNumber>") && xml.contains("etag-3"),
        "{xml}"
    );
    // The spool is gone.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // Up to one part: one PUT, with the whole file's MD5.
    let server = Canned::start(|method, _| match method {
        "PUT" => (200, vec![("etag", "\"e\"".into())], String::new()),
        _ => (
            200,
            vec![("content-length", "40".into()), ("etag", "\"e\"".into())],
            String::new(),
        ),
    });
    let mut sink = server.sink(dir.path(), 40);
    let mut file = sink.create("audit-x.jsonl").unwrap();
    file.write_all(DATA).unwrap();
    file.commit().unwrap();
    assert_eq!(
        server.requests(),
        ["PUT /bkt/p/audit-x.jsonl", "HEAD /bkt/p/audit-x.jsonl"]
    );
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen[0].body, DATA);
    assert_eq!(seen[0].content_md5.as_deref(), Some(b64(DATA).as_str()));
}

#[test]
fn a_completion_that_fails_with_200_aborts_and_a_failed_abort_is_said() {
    let server = Canned::start(s3((40, "abc-3"), |method, target| match method {
        "POST" if target.contains("uploadId") => {
            Some((200, vec![], s3_error("InternalError", "Please try again.")))
        }
        "DELETE" => Some((403, vec![], s3_error("AccessDenied", "Access Denied"))),
        _ => None,
    }));
    let dir = tempfile::tempdir().unwrap();
    let e = upload(&server, dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("CompleteMultipartUpload of 3 parts failed: HTTP 200 OK (InternalError: Please try again.)")
            && e.contains("aborting the multipart upload `up-1` failed too (HTTP 403 Forbidden (AccessDenied: Access Denied))")
            && e.contains("lifecycle rule"),
        "{e}"
    );
}

#[test]
fn what_is_stored_must_have_the_length_etag_and_part_count_sent() {
    let dir = tempfile::tempdir().unwrap();
    let server = Canned::start(s3((39, "abc-3"), |_, _| None));
    let e = upload(&server, dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("the stored object has 39 bytes, 40 were sent"),
        "{e}"
    );
    let server = Canned::start(s3((40, "abc-2"), |_, _| None));
    let e = upload(&server, dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("the stored object has 2 parts (ETag), 3 were sent"),
        "{e}"
    );
    // HEAD answers another ETag than the completion.
    let server = Canned::start(s3((40, "abc-3"), |method, target| {
        (method == "POST" && target.contains("uploadId")).then(|| (200, vec![], completed("def-3")))
    }));
    let e = upload(&server, dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("the stored object's ETag \"abc-3\" is not the upload's \"def-3\""),
        "{e}"
    );
    // Nothing of it is marked: no spool left either.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
