//! End to end: `palisade serve` on a real socket with real plugins.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{
    ADMIN, ConfigDir, DEMO_ADMIN, HOSTILE, admin_policy, digest_of, start_failing, start_ready,
};

#[tokio::test]
async fn embedded_default_serves_first_party_plugins() {
    let data = tempfile::tempdir().unwrap();
    let server = start_ready(&["--data-dir", data.path().to_str().unwrap()]).await;
    assert_eq!(
        server.get("/healthz").await,
        (200, serde_json::json!({"status": "ok"}))
    );
    assert_eq!(server.get("/readyz").await.0, 200);
    // What is loaded, and its limits, is for administrators only.
    assert_eq!(server.get("/v1/plugins").await.0, 401);
    let agent = server
        .get_as("/v1/plugins", "pal_demo_invoice_processor")
        .await;
    assert_eq!(agent.0, 401, "{}", agent.1);
    let (status, body) = server.get_as("/v1/plugins", DEMO_ADMIN).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["aws", "git", "glob", "pii", "secrets", "stripe"]);
    let glob = &body["plugins"][2];
    assert_eq!(glob["exports"], serde_json::json!(["policy"]));
    assert_eq!(glob["isolation"], "pooled");
    assert_eq!(glob["limits"]["memory_mib"], 32);
    assert_eq!(glob["digest"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn file_plugins_load_pinned_and_come_from_the_cache_on_restart() {
    let pin = digest_of(std::path::Path::new(HOSTILE));
    let cfg = ConfigDir::new(&format!(
        "policy: admins.yaml\nplugins:\n  hostile:\n    path: hostile.wasm\n    sha256: {pin}\n    isolation: fresh\n    \
         limits: {{fuel: 1000000, deadline_ms: 50, memory_mib: 8}}\n  glob:\n    builtin: glob\n"
    ))
    .with_file("hostile.wasm", HOSTILE);
    std::fs::write(cfg.dir.path().join("admins.yaml"), admin_policy()).unwrap();
    let (config, data) = (cfg.config(), cfg.data());
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ];

    let first = start_ready(&args).await;
    let (_, body) = first.get_as("/v1/plugins", ADMIN).await;
    let names: Vec<&str> = body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["aws", "git", "glob", "hostile", "pii", "secrets", "stripe"]
    );
    let hostile = &body["plugins"][3];
    assert_eq!(hostile["digest"], pin.as_str());
    assert_eq!(hostile["exports"], serde_json::json!(["policy", "masking"]));
    assert_eq!(hostile["isolation"], "fresh");
    assert_eq!(hostile["limits"]["fuel"], 1_000_000);
    assert_eq!(hostile["code_source"], "compiled");
    assert_eq!(first.terminate().code(), Some(0));

    let second = start_ready(&args).await;
    let (_, body) = second.get_as("/v1/plugins", ADMIN).await;
    for plugin in body["plugins"].as_array().unwrap() {
        assert_eq!(plugin["code_source"], "disk_cache", "{plugin}");
    }
}

#[tokio::test]
async fn a_wrong_pin_is_refused_with_a_clear_error() {
    let cfg = ConfigDir::new(&format!(
        "plugins:\n  hostile:\n    path: hostile.wasm\n    sha256: {}\n",
        "ab".repeat(32)
    ))
    .with_file("hostile.wasm", HOSTILE);
    let (status, stderr) = start_failing(&[
        "--config",
        cfg.config().to_str().unwrap(),
        "--data-dir",
        cfg.data().to_str().unwrap(),
    ]);
    assert!(!status.success());
    assert!(stderr.contains("but the configuration pins"), "{stderr}");
}

#[tokio::test]
async fn plugin_paths_cannot_leave_the_configuration_directory() {
    let outer = ConfigDir::new("unused: true\n").with_file("hostile.wasm", HOSTILE);
    let inner = outer.dir.path().join("conf");
    std::fs::create_dir(&inner).unwrap();
    std::fs::write(
        inner.join("palisade.yaml"),
        "plugins:\n  h:\n    path: ../hostile.wasm\n",
    )
    .unwrap();
    let config = inner.join("palisade.yaml");
    let data = outer.data();
    let (status, stderr) = start_failing(&[
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(!status.success());
    assert!(stderr.contains("cannot leave it"), "{stderr}");
}

#[tokio::test]
async fn an_invalid_configuration_names_file_line_and_column() {
    let cfg = ConfigDir::new(
        "listen: 127.0.0.1:0\nplugins:\n  glob:\n    builtin: glob\n    limts: {}\n",
    );
    let (status, stderr) = start_failing(&["--config", cfg.config().to_str().unwrap()]);
    assert!(!status.success());
    let expected = format!("{}:5:5", cfg.config().display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("unknown field `limts`"), "{stderr}");
}

#[tokio::test]
async fn unknown_routes_get_a_json_404() {
    let data = tempfile::tempdir().unwrap();
    let server = start_ready(&["--data-dir", data.path().to_str().unwrap()]).await;
    let (status, body) = server.get("/v1/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}

/// SIGTERM lets a request in flight finish: a slow decision started before
/// it gets its answer (which only a live server can send), then the
/// process exits 0.
#[tokio::test]
async fn sigterm_stops_the_server_gracefully() {
    let cfg = ConfigDir::new(
        "policy: policies\nplugins:\n  hostile:\n    path: hostile.wasm\n    \
         limits: {fuel: 100000000000, deadline_ms: 5000}\n",
    )
    .with_file("hostile.wasm", HOSTILE);
    let dir = cfg.dir.path().join("policies");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("p.yaml"),
        format!(
            "agents:\n  a:\n    allow:\n      - service: files\n        actions: [\"*\"]\n        \
             resources: [\"*\"]\nchain: [hostile]\nidentities:\n  a: [\"{}\"]\n",
            support::token_hash("tok-a")
        ),
    )
    .unwrap();
    let server = cfg.start().await;

    // A decision that spends 1 s in the plugin...
    let url = server.url("/v1/decide");
    let slow = tokio::spawn(async move {
        let body = serde_json::json!({"session": "s", "service": "files", "action": "slow", "resource": "f"});
        let resp = reqwest::Client::new()
            .post(url)
            .bearer_auth("tok-a")
            .json(&body)
            .send()
            .await
            .expect("an answer, not a dropped connection");
        let status = resp.status().as_u16();
        (status, resp.json::<serde_json::Value>().await.unwrap())
    });
    // ...is under way when SIGTERM comes.
    server.wait_for_log("hostile: slow started").await;
    let exit = tokio::task::spawn_blocking(move || server.terminate());
    let (status, answer) = slow.await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["decision"], "allow", "{answer}");
    let exit = exit.await.unwrap();
    assert_eq!(exit.code(), Some(0), "graceful shutdown exits 0");
}

/// The compile cache holds machine code the server runs. Another plugin's
/// compiled code copied under `pii`'s name is not run as `pii`: the entry
/// is not authentic, so `pii` is compiled again and masks as it should.
#[tokio::test]
async fn a_swapped_compile_cache_entry_is_not_run() {
    let data = tempfile::tempdir().unwrap();
    let args = ["--data-dir", data.path().to_str().unwrap()];
    let first = start_ready(&args).await;
    let (_, body) = first.get_as("/v1/plugins", DEMO_ADMIN).await;
    let digest = |name: &str| {
        body["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["digest"].as_str())
            .unwrap()
            .to_owned()
    };
    let (pii, git) = (digest("pii"), digest("git"));
    assert_eq!(first.terminate().code(), Some(0));
    let entry = |digest: &str| {
        std::fs::read_dir(data.path().join("cache"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.to_str()
                    .is_some_and(|n| n.contains(digest) && n.ends_with(".cwasm"))
            })
            .unwrap_or_else(|| panic!("no cache entry for {digest}"))
    };
    std::fs::copy(entry(&git), entry(&pii)).unwrap();

    let second = start_ready(&args).await;
    let (_, body) = second.get_as("/v1/plugins", DEMO_ADMIN).await;
    let source = |name: &str| {
        body["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["code_source"].clone())
            .unwrap()
    };
    assert_eq!(source("pii"), "compiled");
    assert_eq!(source("git"), "disk_cache");
    let masked: serde_json::Value = reqwest::Client::new()
        .post(second.url("/v1/mask"))
        .bearer_auth("pal_demo_invoice_processor")
        .json(&serde_json::json!({"session": "s", "service": "stripe", "text": "card 4111 1111 1111 1111"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = masked["text"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("card ") && !text.contains("4111 1111 1111 1111"),
        "{masked}"
    );
}

/// A compile cache that another user could have written is refused: the
/// server does not start on it, and says how to fix it.
#[tokio::test]
async fn a_compile_cache_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let cache = data.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (status, stderr) = start_failing(&["--data-dir", data.path().to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        stderr.contains("mode 777, not 700") && stderr.contains("chmod 700"),
        "{stderr}"
    );
}

/// A raw client connection whose reads give up after 30 s (the bound of
/// every wait below: far above any configured timeout).
fn raw(server: &support::Server) -> std::net::TcpStream {
    let addr = server.base.trim_start_matches("http://");
    let conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    conn
}

/// Writes `bytes` to `conn`.
fn send(conn: &mut std::net::TcpStream, bytes: &str) {
    use std::io::Write;
    conn.write_all(bytes.as_bytes()).unwrap();
}

/// Reads until the server closes the connection; panics if it does not
/// within the read timeout. Returns what was read.
fn read_until_closed(conn: &mut std::net::TcpStream, what: &str) -> String {
    use std::io::Read;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return String::from_utf8_lossy(&out).into_owned(),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return String::from_utf8_lossy(&out).into_owned();
            }
            Err(e) => panic!(
                "{what}: the server did not close the connection ({e}); read so far: {}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

/// Reads until `needle` has arrived (bounded by the read timeout).
fn read_until(conn: &mut std::net::TcpStream, needle: &str) -> String {
    use std::io::Read;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&out).contains(needle) {
        match conn.read(&mut buf) {
            Ok(0) => panic!(
                "closed before `{needle}`: {}",
                String::from_utf8_lossy(&out)
            ),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => panic!("no `{needle}` ({e}): {}", String::from_utf8_lossy(&out)),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Starts a server with `config` as its configuration file.
async fn server_with_config(config: &str) -> (support::Server, ConfigDir) {
    let cfg = ConfigDir::new(config);
    let server = cfg.start().await;
    (server, cfg)
}

/// Issue 14, item 14: a client that sends half a head, one that sends half
/// a body, and one that stays idle after its answer are each disconnected
/// after the (configured) timeout, while other clients are served.
// Multi-threaded: the raw clients block, and the HTTP client's pooled
// connections must still close on their own threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_disconnected() {
    let (s, _cfg) = server_with_config(
        "http:\n  header_read_timeout: 1s\n  body_timeout: 1s\n  idle_timeout: 1s\n",
    )
    .await;
    let mut half_head = raw(&s);
    send(&mut half_head, "GET /healthz HTTP/1.1\r\nhost: x\r\n");
    let mut half_body = raw(&s);
    send(
        &mut half_body,
        "POST /v1/decide HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: 100\r\n\r\n{\"session\":",
    );
    let mut idle = raw(&s);
    send(&mut idle, "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n");
    read_until(&mut idle, "{\"status\":\"ok\"}");

    assert_eq!(
        s.get("/healthz").await.0,
        200,
        "others are served meanwhile"
    );
    let answered = read_until_closed(&mut half_head, "half a head");
    assert!(!answered.contains("200"), "{answered}");
    let answered = read_until_closed(&mut half_body, "half a body");
    assert!(!answered.contains("200"), "{answered}");
    read_until_closed(&mut idle, "an idle connection");
    assert_eq!(s.get("/healthz").await.0, 200);
}

/// Issue 14, item 14: connections over `http.max_connections` wait (in the
/// listen backlog) until one closes, then are served. With a cap of one, a
/// client holding the only connection with half a head is closed (header
/// timeout) before the next client's request is answered.
// Multi-threaded: the raw clients block, and the HTTP client's pooled
// connections must still close on their own threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_for_a_free_one() {
    let (s, _cfg) =
        server_with_config("http:\n  max_connections: 1\n  header_read_timeout: 2s\n").await;
    let mut holder = raw(&s);
    send(&mut holder, "GET /healthz HTTP/1.1\r\nhost: x\r\n");
    let mut waiter = raw(&s);
    send(
        &mut waiter,
        "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    let answer = read_until_closed(&mut waiter, "the waiting client");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The holder was closed before the waiter could be served.
    holder.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let closed = matches!(std::io::Read::read(&mut holder, &mut buf), Ok(0))
        || matches!(std::io::Read::read(&mut holder, &mut buf), Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset);
    assert!(
        closed,
        "the second connection was served while the first held the only slot"
    );
    assert!(
        s.stderr().contains("connection limit reached"),
        "{}",
        s.stderr()
    );
}

/// Issue 14, item 14: on SIGTERM a request in flight finishes and is
/// answered, while a slow client that never completes its head is cut at
/// the shutdown deadline, and the server exits (well before that client's
/// own header timeout).
// Multi-threaded: the raw clients block, and the HTTP client's pooled
// connections must still close on their own threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_requests_in_flight_and_cuts_slow_clients_at_the_deadline() {
    let cfg = ConfigDir::new(
        "policy: policy.yaml\nhttp:\n  header_read_timeout: 600s\n  shutdown_timeout: 2s\n",
    );
    std::fs::write(
        cfg.dir.path().join("policy.yaml"),
        format!(
            "agents:\n  a:\n    allow:\n      - service: git\n        actions: [\"*\"]\n        resources: [\"*\"]\nidentities:\n  a: [\"{}\"]\n",
            support::token_hash("tok-a")
        ),
    )
    .unwrap();
    let s = cfg.start().await;
    let mut slow = raw(&s);
    send(&mut slow, "GET /healthz HTTP/1.1\r\nhost: x\r\n");
    // A request in flight: its head is in, and the server has started
    // reading its body (it says `100 Continue`).
    let body = r#"{"session":"s","service":"git","action":"pull","resource":"acme/api"}"#;
    let mut in_flight = raw(&s);
    send(
        &mut in_flight,
        &format!(
            "POST /v1/decide HTTP/1.1\r\nhost: x\r\nauthorization: Bearer tok-a\r\n\
             content-type: application/json\r\ncontent-length: {}\r\nexpect: 100-continue\r\n\r\n",
            body.len()
        ),
    );
    read_until(&mut in_flight, "100 Continue\r\n\r\n");

    let ok = std::process::Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    // Bounded wait for the server to say it is draining.
    for _ in 0..600 {
        if s.stderr().contains("shutdown requested, draining") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(s.stderr().contains("shutdown requested, draining"));

    send(&mut in_flight, body);
    let answer = read_until_closed(&mut in_flight, "the request in flight");
    assert!(answer.contains("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"decision\":\"allow\""), "{answer}");

    let (status, stderr) = s.wait_exit();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("connections still open at the shutdown deadline were cut"),
        "{stderr}"
    );
    read_until_closed(&mut slow, "the slow client");
}
