//! End to end: `POST /v1/mask` on a real server with the real `pii` and
//! `secrets` plugins (and the hostile fixture for failures).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use support::{ConfigDir, HOSTILE, Server, start_failing, token_hash};

const TOKEN: &str = "pal_test_mask_bot";
/// Another agent of the same project.
const EVE: &str = "pal_test_mask_eve";

const POLICY: &str = r#"
project: billing
agents:
  bot:
    allow:
      - service: stripe
        actions: ["invoices:read"]
  eve:
    allow:
      - service: stripe
        actions: ["invoices:read"]
plugins:
  hostile:
    path: hostile.wasm
    isolation: fresh
    limits:
      fuel: 200000000
      deadline_ms: 2000
      memory_mib: 64
services:
  tickets:
    masking: [hostile]
masking:
  operators:
    credit_card: last_four
    email: token
    ssn: hash
    ip_address: label
"#;

/// A server with `policy` (plus an identity for `bot`) and extra config.
async fn server(policy: &str, extra_config: &str) -> (Server, ConfigDir) {
    let cfg = ConfigDir::new(&format!("policy: policies\n{extra_config}"))
        .with_file("hostile.wasm", HOSTILE);
    let dir = cfg.dir.path().join("policies");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("billing.yaml"), policy).unwrap();
    std::fs::write(
        dir.join("zz-identities.yaml"),
        format!(
            "identities:\n  bot: [\"{}\"]\n  eve: [\"{}\"]\n",
            token_hash(TOKEN),
            token_hash(EVE)
        ),
    )
    .unwrap();
    let server = cfg.start().await;
    (server, cfg)
}

async fn post_raw(server: &Server, token: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(server.url("/v1/mask"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn mask(server: &Server, body: Value) -> (u16, Value) {
    post_raw(server, Some(TOKEN), serde_json::to_vec(&body).unwrap()).await
}

async fn mask_text(server: &Server, session: &str, text: &str) -> Value {
    let (status, answer) = mask(
        server,
        json!({"session": session, "service": "stripe", "text": text}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

fn kinds(answer: &Value) -> Vec<String> {
    answer["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn text_is_masked_with_the_operator_of_each_kind() {
    let (server, _cfg) = server(POLICY, "").await;
    let text = "Card 4111 1111 1111 1111, mail jane.doe@example.com, SSN 123-45-6789, \
                from 10.0.0.12, key AKIAIOSFODNN7EXAMPLE.";
    let answer = mask_text(&server, "s-1", text).await;
    let masked = answer["text"].as_str().unwrap();
    assert!(
        masked.starts_with("Card **** **** **** 1111, mail [email:t:"),
        "{masked}"
    );
    assert!(masked.contains("SSN [ssn:h:"), "{masked}");
    assert!(masked.contains("from [IP_ADDRESS],"), "{masked}");
    assert!(
        masked.contains("key [REDACTED:aws_access_key_id]."),
        "{masked}"
    );
    for raw in [
        "4111 1111 1111 1111",
        "jane.doe",
        "123-45-6789",
        "10.0.0.12",
        "AKIAIOSFODNN7EXAMPLE",
    ] {
        assert!(
            !answer.to_string().contains(raw),
            "`{raw}` leaked: {answer}"
        );
    }
    assert_eq!(
        kinds(&answer),
        [
            "credit_card",
            "email",
            "ssn",
            "ip_address",
            "aws_access_key_id"
        ]
    );
    let card = &answer["findings"][0];
    assert_eq!(card["plugin"], "pii");
    assert_eq!(card["operator"], "last_four");
    assert_eq!(
        (card["start"].as_u64(), card["end"].as_u64()),
        (Some(5), Some(24))
    );
    assert_eq!(answer["findings"][4]["plugin"], "secrets");
    assert!(answer["mask_id"].as_str().unwrap().starts_with("msk_"));
}

#[tokio::test]
async fn tokens_are_stable_within_a_session_and_differ_across_sessions() {
    let (server, _cfg) = server(POLICY, "").await;
    let token_of = |a: &Value| {
        let t = a["text"].as_str().unwrap();
        t[t.find("[email:t:").unwrap()..]
            .split(']')
            .next()
            .unwrap()
            .to_owned()
    };
    let a1 = mask_text(&server, "s-1", "to jane@example.com").await;
    let a2 = mask_text(&server, "s-1", "cc JANE@example.com please").await;
    let b = mask_text(&server, "s-2", "to jane@example.com").await;
    let other = mask_text(&server, "s-1", "to john@example.com").await;
    assert_eq!(token_of(&a1), token_of(&a2));
    assert_ne!(token_of(&a1), token_of(&b));
    assert_ne!(token_of(&a1), token_of(&other));
}

#[tokio::test]
async fn an_agent_naming_another_agents_session_gets_tokens_of_its_own() {
    // The session is the caller's word: eve can name bot's session, but
    // must not get bot's tokens, or she could send candidate values and
    // compare them with the tokens bot's data was masked to.
    let (server, _cfg) = server(POLICY, "").await;
    let token_of = |a: &Value| {
        let t = a["text"].as_str().unwrap();
        t[t.find("[email:t:").unwrap()..]
            .split(']')
            .next()
            .unwrap()
            .to_owned()
    };
    let body = json!({"session": "s-bot", "service": "stripe", "text": "to jane@example.com"});
    let as_agent = |token: &'static str| {
        let body = serde_json::to_vec(&body).unwrap();
        let server = &server;
        async move {
            let (status, answer) = post_raw(server, Some(token), body).await;
            assert_eq!(status, 200, "{answer}");
            token_of(&answer)
        }
    };
    let bot = as_agent(TOKEN).await;
    assert_eq!(bot, as_agent(TOKEN).await, "stable for bot's session");
    let eve = as_agent(EVE).await;
    assert_ne!(bot, eve, "eve named bot's session and got bot's token");
}

#[tokio::test]
async fn json_strings_and_card_like_numbers_are_masked_keys_and_structure_kept() {
    let (server, _cfg) = server(POLICY, "").await;
    let doc = json!({
        "customer": {"email": "jane@example.com", "cards": [4111111111111111_u64, "5555-5555-5555-4444"]},
        "note": "nothing here",
        "amount": 1250,
        "paid": true,
        "split": ["4111 1111", "1111 1111"],
        "token": null,
        "db": {"password": "hunter2-staple", "user": "app"}
    });
    let (status, answer) = mask(
        &server,
        json!({"session": "s", "service": "stripe", "json": doc}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let out = &answer["json"];
    let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        ["customer", "note", "amount", "paid", "split", "token", "db"]
    );
    // A value is read with its key: this one is a password because of it.
    assert_eq!(out["db"]["password"], "[REDACTED:password]");
    assert_eq!(out["db"]["user"], "app");
    assert!(
        out["customer"]["email"]
            .as_str()
            .unwrap()
            .starts_with("[email:t:")
    );
    assert_eq!(out["customer"]["cards"][0], "************1111");
    assert_eq!(out["customer"]["cards"][1], "****-****-****-4444");
    assert_eq!(out["note"], "nothing here");
    assert_eq!(out["amount"], 1250);
    assert_eq!(out["paid"], true);
    assert_eq!(out["token"], Value::Null);
    // A card split across two strings is still found, and both halves masked
    // (as one card: only its last four digits are kept).
    assert_eq!(out["split"], json!(["**** ****", "**** 1111"]), "{out}");
    let pointers: Vec<_> = answer["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["pointer"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        pointers,
        [
            "/customer/email",
            "/customer/cards/0",
            "/customer/cards/1",
            "/split/0",
            "/split/1",
            "/db/password"
        ]
    );
}

#[tokio::test]
async fn hidden_digits_are_found() {
    let (server, _cfg) = server(POLICY, "").await;
    for text in [
        "card ４１１１ １１１１ １１１１ １１１１ ok",
        "card 4111\u{200B}1111\u{200B}1111\u{200B}1111 ok",
        "card ٤١١١ ١١١١ ١١١١ ١١١١ ok",
        "card 4111–1111–1111–1111 ok",
    ] {
        let answer = mask_text(&server, "s", text).await;
        assert_eq!(kinds(&answer), ["credit_card"], "{text}: {answer}");
        let masked = answer["text"].as_str().unwrap();
        assert!(
            masked.starts_with("card ") && masked.ends_with(" ok"),
            "{masked}"
        );
        assert_eq!(masked.chars().filter(|c| *c == '*').count(), 12, "{masked}");
    }
}

#[tokio::test]
async fn a_service_masking_chain_runs_before_the_project_chain() {
    let (server, _cfg) = server(POLICY, "").await;
    let (status, answer) = mask(
        &server,
        json!({"session": "s", "service": "tickets", "text": "secret hunter2"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["text"], "secret [REDACTED:secret]");
    assert_eq!(answer["findings"][0]["plugin"], "hostile");
}

#[tokio::test]
async fn a_failing_masking_plugin_returns_nothing_and_the_server_keeps_serving() {
    let (server, _cfg) = server(POLICY, "").await;
    for (text, kind) in [
        ("loop", "out_of_fuel"),
        ("alloc", "memory_limit"),
        ("panic", "trap"),
        ("spans", "malformed_output"),
        ("flood", "oversized_output"),
    ] {
        let (status, answer) = mask(
            &server,
            json!({"session": "s", "service": "tickets", "text": text}),
        )
        .await;
        assert_eq!(status, 500, "{text}: {answer}");
        assert_eq!(answer["error"]["code"], "masking_failed", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(kind) && message.contains("hostile"),
            "{text}: {message}"
        );
        assert!(answer.get("text").is_none() && answer.get("json").is_none());
        // JSON content fails closed the same way.
        let (status, answer) = mask(
            &server,
            json!({"session": "s", "service": "tickets", "json": [text]}),
        )
        .await;
        assert_eq!(status, 500, "{answer}");
        assert!(answer.get("json").is_none(), "{answer}");
    }
    // The failure is logged.
    server.wait_for_log("masking_failed").await;
    let answer = mask_text(&server, "s", "still 4111 1111 1111 1111").await;
    assert_eq!(answer["text"], "still **** **** **** 1111");
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let (server, _cfg) = server(POLICY, "masking:\n  max_body_bytes: 4096\n  max_depth: 8\n").await;
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{not json".to_vec(), 400, "invalid masking request"),
        (b"[]".to_vec(), 400, "must be a JSON object"),
        (
            br#"{"session":"s","service":"x"}"#.to_vec(),
            400,
            "missing field `text`",
        ),
        (
            br#"{"session":"s","service":"x","text":"a","json":1}"#.to_vec(),
            400,
            "not both",
        ),
        (
            br#"{"session":"s","service":"x","text":5}"#.to_vec(),
            400,
            "`text` must be a string",
        ),
        (
            br#"{"session":"","service":"x","text":"a"}"#.to_vec(),
            400,
            "`session` must not be empty",
        ),
        (
            br#"{"session":"s","service":"x","text":"a","extra":1}"#.to_vec(),
            400,
            "unknown field `extra`",
        ),
        (
            br#"{"session":"s","service":"x","json":{"a":"4111 1111 1111 1111","a":"x"}}"#.to_vec(),
            400,
            "key `a` is given twice",
        ),
        (
            br#"{"session":"s","service":"x","text":"a","text":"b"}"#.to_vec(),
            400,
            "given twice",
        ),
        (
            b"{\"session\":\"s\",\"service\":\"x\",\"text\":\"\xff\xfe\"}".to_vec(),
            400,
            "invalid",
        ),
        (
            br#"{"session":"s","service":"x","text":"\ud800"}"#.to_vec(),
            400,
            "invalid",
        ),
        (
            format!(
                r#"{{"session":"s","service":"x","json":{}1{}}}"#,
                "[".repeat(9),
                "]".repeat(9)
            )
            .into_bytes(),
            400,
            "nested deeper than 9 levels",
        ),
        (
            serde_json::to_vec(&json!({"session":"s","service":"x","text":"a".repeat(5000)}))
                .unwrap(),
            413,
            "4096-byte limit",
        ),
    ];
    for (body, status, message) in cases {
        let (got, answer) = post_raw(&server, Some(TOKEN), body.clone()).await;
        assert_eq!(got, status, "{}: {answer}", String::from_utf8_lossy(&body));
        let m = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(m.contains(message), "expected `{message}` in {answer}");
    }
    // Eight levels of content nesting are fine.
    let ok = format!(
        r#"{{"session":"s","service":"x","json":{}1{}}}"#,
        "[".repeat(8),
        "]".repeat(8)
    );
    assert_eq!(post_raw(&server, Some(TOKEN), ok.into_bytes()).await.0, 200);
    let body = br#"{"session":"s","service":"x","text":"a"}"#.to_vec();
    assert_eq!(post_raw(&server, None, body.clone()).await.0, 401);
    assert_eq!(post_raw(&server, Some("pal_wrong"), body).await.0, 401);
}

#[tokio::test]
async fn a_large_document_is_masked_whole() {
    // Deadlines far off: this is about masking all of it, not about time.
    let (server, _cfg) = server(
        POLICY,
        "masking:\n  max_body_bytes: 8388608\nplugins:\n  pii:\n    builtin: pii\n    \
         limits: {deadline_ms: 60000}\n  secrets:\n    builtin: secrets\n    \
         limits: {deadline_ms: 60000}\n",
    )
    .await;
    let line =
        "Order 2026-118844 paid with 4111 1111 1111 1111 by jane@example.com on 2026-11-23.\n";
    let text = line.repeat(2 << 20 >> 7); // ~1.3 MB
    let answer = mask_text(&server, "s", &text).await;
    let masked = answer["text"].as_str().unwrap();
    assert!(!masked.contains("4111 1111 1111 1111") && !masked.contains("jane@"));
    assert_eq!(
        answer["findings"].as_array().unwrap().len(),
        2 * (2 << 20 >> 7)
    );
}

#[tokio::test]
async fn keys_and_numbers_in_any_notation_are_masked() {
    let (server, _cfg) = server(POLICY, "").await;
    let body = br#"{"session":"s","service":"stripe","json":{
        "customers": {"jane.doe@example.com": {"plan": "pro"}, "4111111111111111": 1, "4000000000061111": 2},
        "float": 4111111111111111.0,
        "exp": 4111111111111111e0,
        "servers": {"10.0.0.1": "a", "10.0.0.2": "b"}
    }}"#;
    let (status, answer) = post_raw(&server, Some(TOKEN), body.to_vec()).await;
    assert_eq!(status, 200, "{answer}");
    // Nothing sent comes back: not in keys, values or the findings' pointers.
    let raw = answer.to_string();
    for leak in ["jane", "4111111111111111", "4000000000061111", "10.0.0."] {
        assert!(!raw.contains(leak), "`{leak}` leaked: {answer}");
    }
    let out = &answer["json"];
    let customers: Vec<_> = out["customers"].as_object().unwrap().iter().collect();
    assert!(customers[0].0.starts_with("[email:t:"), "{out}");
    assert_eq!(customers[0].1, &json!({"plan": "pro"}));
    // Two cards ending alike mask to one key: the second gets a suffix,
    // neither value is lost.
    assert_eq!(
        customers[1..],
        [
            (&"************1111".to_owned(), &json!(1)),
            (&"************1111#2".to_owned(), &json!(2))
        ]
    );
    assert_eq!(
        out["servers"],
        json!({"[IP_ADDRESS]": "a", "[IP_ADDRESS]#2": "b"})
    );
    // A number written with a fraction or an exponent is read as its digits.
    assert_eq!(out["float"], "************1111");
    assert_eq!(out["exp"], "************1111");
    let email_key = answer["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "email")
        .unwrap();
    assert_eq!(email_key["in_key"], true);
    assert_eq!(
        email_key["pointer"],
        format!("/customers/{}", customers[0].0)
    );
}

#[tokio::test]
async fn a_document_of_many_values_under_a_long_key_costs_what_it_holds() {
    let (server, _cfg) = server(POLICY, "").await;
    let body = |key: &str, values: &str| {
        format!(r#"{{"session":"s","service":"stripe","json":{{"{key}":[{values}]}}}}"#)
            .into_bytes()
    };
    // 100,000 zeros under a 256 KiB key: a copy of the pointer per value
    // once made this 25 GB before any plugin ran.
    let key = "k".repeat(256 << 10);
    let zeros = vec!["0"; 100_000].join(",");
    let (status, answer) = post_raw(&server, Some(TOKEN), body(&key, &zeros)).await;
    assert_eq!(status, 200, "{}", answer["error"]);
    assert_eq!(answer["json"][&key].as_array().unwrap().len(), 100_000);
    assert_eq!(answer["findings"], json!([]));
    // More values than `masking.max_values`: refused before any masking.
    let zeros = vec!["0"; 300_000].join(",");
    let (status, answer) = post_raw(&server, Some(TOKEN), body(&key, &zeros)).await;
    assert_eq!(status, 413, "{}", answer["error"]);
    assert_eq!(answer["error"]["code"], "too_many_values");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("`masking.max_values`"), "{message}");
    // A card in each of 1,000 values under a 64 KiB key: the findings'
    // pointers would take 64 MB. Fails closed: nothing comes back.
    let key = "k".repeat(64 << 10);
    let cards = vec!["\"4111111111111111\""; 1000].join(",");
    let (status, answer) = post_raw(&server, Some(TOKEN), body(&key, &cards)).await;
    assert_eq!(status, 422, "{}", answer["error"]);
    assert_eq!(answer["error"]["code"], "masking_limit");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("`masking.max_pointer_bytes`"), "{message}");
    assert!(answer.get("json").is_none());
    assert!(!answer.to_string().contains("4111111111111111"));
    // The server is fine.
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let answer = mask_text(&server, "s", "card 4111 1111 1111 1111").await;
    assert_eq!(answer["text"], "card **** **** **** 1111");
}

#[tokio::test]
async fn a_plugin_reporting_every_byte_fails_closed_or_is_merged() {
    let (server, _cfg) = server(POLICY, "masking:\n  max_answer_bytes: 1048576\n").await;
    let tickets = |text: String| json!({"session": "s", "service": "tickets", "text": text});
    // One call reports 200,013 findings: more than `masking.max_findings`.
    let text = format!("each byte ab {}", "z".repeat(200_000));
    let (status, answer) = mask(&server, tickets(text)).await;
    assert_eq!(status, 422, "{}", answer["error"]);
    assert_eq!(answer["error"]["code"], "masking_limit");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("plugin `hostile` reported 200013 findings")
            && message.contains("`masking.max_findings` (100000)"),
        "{message}"
    );
    assert!(answer.get("text").is_none() && answer.get("findings").is_none());
    // 90,010 touching findings of one kind are one finding.
    let text = format!("each byte {}", "z".repeat(90_000));
    let (status, answer) = mask(&server, tickets(text)).await;
    assert_eq!(status, 200, "{}", answer["error"]);
    assert_eq!(answer["text"], "[REDACTED:x]");
    assert_eq!(answer["findings"].as_array().unwrap().len(), 1);
    assert_eq!(answer["findings"][0]["end"], 90_010);
    // 90,013 findings of two kinds in turn do not merge: their masked text
    // alone is past `masking.max_answer_bytes`. Nothing comes back.
    let text = format!("each byte ab {}", "z".repeat(90_000));
    let (status, answer) = mask(&server, tickets(text)).await;
    assert_eq!(status, 422, "{}", answer["error"]);
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`masking.max_answer_bytes` (1048576)"),
        "{message}"
    );
    assert!(answer.get("text").is_none());
    // The server is fine.
    let answer = mask_text(&server, "s", "card 4111 1111 1111 1111").await;
    assert_eq!(answer["text"], "card **** **** **** 1111");
}

#[test]
fn masking_configuration_errors_stop_the_server_with_a_position() {
    let bad_operator = POLICY.replace("ssn: hash", "ssn: shred");
    let cfg = ConfigDir::new("policy: billing.yaml\n");
    std::fs::write(cfg.dir.path().join("billing.yaml"), &bad_operator).unwrap();
    let (status, stderr) = start_failing(&["--config", cfg.config().to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        stderr.contains("billing.yaml:") && stderr.contains("shred"),
        "{stderr}"
    );

    let not_masking = "project: p\nmasking:\n  chain: [glob]\n";
    let cfg = ConfigDir::new("policy: p.yaml\n");
    std::fs::write(cfg.dir.path().join("p.yaml"), not_masking).unwrap();
    let (status, stderr) = start_failing(&["--config", cfg.config().to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        stderr.contains("does not export the `masking` interface"),
        "{stderr}"
    );
}

/// A masking plugin at its bound of calls in flight for an agent answers
/// that agent 503 `too_many_calls` (busy, not broken: nothing returned, retry
/// later), while another agent's request is masked.
#[tokio::test]
async fn a_busy_masking_plugin_answers_503_and_returns_nothing() {
    let policy = POLICY.replace(
        "      fuel: 200000000\n      deadline_ms: 2000\n",
        "      fuel: 100000000000\n      deadline_ms: 20000\n      max_instances: 4\n      max_calls_per_agent: 1\n",
    );
    assert_ne!(policy, POLICY);
    let (server, _cfg) = server(&policy, "").await;
    let server = std::sync::Arc::new(server);
    let spinning = {
        let server = server.clone();
        tokio::spawn(async move {
            mask(
                &server,
                json!({"session": "s", "service": "tickets", "text": "loop"}),
            )
            .await
        })
    };
    server.wait_for_log("hostile: loop started").await;
    let (status, answer) = mask(
        &server,
        json!({"session": "s", "service": "tickets", "text": "card 4111 1111 1111 1111"}),
    )
    .await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"]["code"], "too_many_calls", "{answer}");
    assert!(answer.get("text").is_none(), "{answer}");
    let (status, answer) = post_raw(
        &server,
        Some(EVE),
        serde_json::to_vec(&json!({"session": "s", "service": "tickets", "text": "plain"}))
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "another agent is served: {answer}");
    spinning.abort();
}

/// A request without a valid token is refused before its body is read: an
/// unauthenticated caller cannot make the server buffer megabytes. The
/// client announces 5 MiB and sends none of it; the answer comes at once
/// (reading the body first, the server would wait for it until
/// `http.body_timeout`, 30 s, far past this test's bounded wait).
#[tokio::test]
async fn a_caller_without_a_token_is_refused_before_its_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (server, _cfg) = server(POLICY, "").await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    for auth in ["", "Authorization: Bearer pal_unknown\r\n"] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /v1/mask HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             {auth}Content-Length: {}\r\n\r\n",
            5 << 20
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 1024];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut answer))
            .await
            .expect("no answer while the body was still owed")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with("HTTP/1.1 401"), "{auth:?}: {answer}");
    }
}

#[tokio::test]
async fn evasions_are_found_and_masked_in_the_original() {
    let (server, _cfg) = server(POLICY, "").await;
    // (text, kind, the value as written, which must not survive)
    let cases = [
        (
            "login раѕѕwоrd: hunter2hunter2 ok",
            "password",
            "hunter2hunter2",
        ),
        (
            "mail jane.doe%40example.com ok",
            "email",
            "jane.doe%40example.com",
        ),
        (
            "mail jane.doe\\u0040example.com ok",
            "email",
            "jane.doe\\u0040example.com",
        ),
        (
            "<td>jane&#64;example&period;com</td> ok",
            "email",
            "jane&#64;example&period;com",
        ),
        (
            "> card 4111 1111 1111\n> 1111 ok",
            "credit_card",
            "4111 1111 1111\n> 1111",
        ),
        ("social_security_number=078051120 ok", "ssn", "078051120"),
        (
            "ANTHROPIC_API_KEY=sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789_-AbCdEf ok",
            "anthropic_api_key",
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789_-AbCdEf",
        ),
    ];
    for (text, kind, value) in cases {
        let answer = mask_text(&server, "s", text).await;
        assert_eq!(kinds(&answer), [kind], "{text}: {answer}");
        let f = &answer["findings"][0];
        let (start, end) = (
            f["start"].as_u64().unwrap() as usize,
            f["end"].as_u64().unwrap() as usize,
        );
        assert_eq!(
            &text[start..end],
            value,
            "the span is the original's: {answer}"
        );
        let masked = answer["text"].as_str().unwrap();
        assert!(masked.ends_with(" ok"), "{masked}");
        assert!(!masked.contains(value), "{value} survived: {masked}");
    }
    // Public identifiers stay.
    let public =
        "Stripe('pk_live_51H8x2aLkdjf83jdkEXAMPLE0000'); arn:aws:iam::123456789012:role/ci";
    let answer = mask_text(&server, "s", public).await;
    assert_eq!(kinds(&answer), Vec::<String>::new(), "{answer}");
    assert_eq!(answer["text"], public);
}
