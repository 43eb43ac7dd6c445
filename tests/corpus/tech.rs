//! Templates of machine text: log lines, JSON payloads, curl commands, stack
//! traces, code snippets and key material.

use super::generate::kind::{
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, BEARER_TOKEN, CREDIT_CARD, EMAIL, GITHUB_TOKEN,
    GOOGLE_API_KEY, IBAN, IP_ADDRESS, JWT, PASSWORD, PHONE, PRIVATE_KEY, SECRET, SLACK_TOKEN, SSN,
    STRIPE_KEY,
};
use super::generate::{Gen, near};
use super::templates::{Piece, emit, miss, put, url_with_password};
use super::values::{self, Pem, When};

/// True when the text so far mentions AWS, so that a 40-character base64
/// near-miss could be read as a secret key.
fn aws_context(g: &Gen<'_>) -> bool {
    let t = g.text();
    t.contains("AKIA") || t.contains("ASIA") || t.to_ascii_lowercase().contains("aws")
}

/// Writes `before`, a labelled value of `kind`, `after`.
fn say(g: &mut Gen<'_>, before: &str, kind: &'static str, after: &str) {
    g.s(before);
    put(g, kind);
    g.s(after);
}

/// Writes `before`, a near-miss of `category`, `after`.
fn say_near(g: &mut Gen<'_>, before: &str, category: &'static str, after: &str) {
    g.s(before);
    miss(g, category);
    g.s(after);
}

// ---------------------------------------------------------------- logs

fn advance(g: &mut Gen<'_>, w: &mut When) {
    w.ss += g.rng.range(0, 40);
    if w.ss >= 60 {
        w.ss -= 60;
        w.mm += 1;
        if w.mm >= 60 {
            w.mm = 0;
            w.hh = (w.hh + 1) % 24;
        }
    }
}

/// `2026-11-23T14:30:00Z INFO  `.
fn log_prefix(g: &mut Gen<'_>, w: &mut When, level: &str) {
    advance(g, w);
    let ts = w.iso(g.rng);
    g.n(near::TIMESTAMP, &ts).s(" ").s(level).s(" ");
}

/// Log kinds a line may carry.
const LOG_KINDS: [&str; 14] = [
    IP_ADDRESS,
    EMAIL,
    JWT,
    BEARER_TOKEN,
    PASSWORD,
    CREDIT_CARD,
    AWS_ACCESS_KEY_ID,
    SLACK_TOKEN,
    STRIPE_KEY,
    GITHUB_TOKEN,
    PHONE,
    SECRET,
    GOOGLE_API_KEY,
    IBAN,
];

fn log_sensitive(g: &mut Gen<'_>, w: &mut When, kind: &'static str) {
    match kind {
        IP_ADDRESS => match g.rng.below(4) {
            0 => {
                log_prefix(g, w, "INFO ");
                let n = g.rng.range(1, 99_999).to_string();
                let ms = g.rng.range(1, 900).to_string();
                g.s("http: GET /api/v1/orders/")
                    .s(&n)
                    .s(" 200 ")
                    .s(&ms)
                    .s("ms client=");
                put(g, IP_ADDRESS);
                say_near(g, " req=", near::UUID, "");
            }
            1 => {
                put(g, IP_ADDRESS);
                advance(g, w);
                let clf = w.clf();
                g.s(" - - [")
                    .n(near::TIMESTAMP, &clf)
                    .s("] \"GET /health HTTP/1.1\" 200 2 \"-\" \"kube-probe/1.29\"");
            }
            2 => {
                advance(g, w);
                let sys = w.syslog();
                let pid = g.rng.range(300, 30_000).to_string();
                let port = g.rng.range(32_768, 60_999).to_string();
                g.n(near::TIMESTAMP, &sys)
                    .s(" bastion sshd[")
                    .s(&pid)
                    .s("]: Accepted publickey for deploy from ");
                put(g, IP_ADDRESS);
                g.s(" port ").s(&port).s(" ssh2");
            }
            _ => {
                advance(g, w);
                let ts = w.iso(g.rng);
                g.s("{\"ts\":\"")
                    .n(near::TIMESTAMP, &ts)
                    .s("\",\"level\":\"warn\",\"msg\":\"rate limited\",\"ip\":\"");
                put(g, IP_ADDRESS);
                g.s("\"}");
            }
        },
        EMAIL => {
            if g.chance(50) {
                log_prefix(g, w, "INFO ");
                say(g, "auth: login ok user=", EMAIL, "");
                say_near(g, " session=", near::UUID, "");
            } else {
                log_prefix(g, w, "WARN ");
                say(g, "mail: bounce for <", EMAIL, ">: 550 5.1.1 user unknown");
            }
        }
        JWT => {
            log_prefix(g, w, "DEBUG");
            if g.chance(60) {
                say(g, "http: > Authorization: Bearer ", JWT, "");
            } else {
                say(g, "auth: rejected expired token ", JWT, "");
            }
        }
        BEARER_TOKEN => {
            log_prefix(g, w, "DEBUG");
            say(g, "http: > Authorization: Bearer ", BEARER_TOKEN, "");
        }
        PASSWORD => {
            if g.chance(55) {
                log_prefix(g, w, "ERROR");
                g.s("db: connection failed: ");
                let url = url_with_password(g);
                emit(g, &url, Pem::Plain);
                g.s(" (timeout)");
            } else {
                log_prefix(g, w, "WARN ");
                let pw = values::password(g.rng, false);
                g.s("legacy-login: bad request user=bob password=")
                    .v(PASSWORD, &pw)
                    .s(" ua=curl/8.4.0");
            }
        }
        CREDIT_CARD => {
            log_prefix(g, w, "INFO ");
            say(
                g,
                "payments: charge ok card=",
                CREDIT_CARD,
                " amount=49.90 EUR order=",
            );
            miss(g, near::LUHN_FAIL);
        }
        AWS_ACCESS_KEY_ID => {
            log_prefix(g, w, "INFO ");
            say(
                g,
                "aws: signing request with access key ",
                AWS_ACCESS_KEY_ID,
                " (region eu-west-1)",
            );
        }
        SLACK_TOKEN => {
            log_prefix(g, w, "DEBUG");
            say(
                g,
                "notifier: POST https://slack.com/api/chat.postMessage token=",
                SLACK_TOKEN,
                "",
            );
        }
        STRIPE_KEY => {
            log_prefix(g, w, "DEBUG");
            let acct = values::random(g.rng, values::ALNUM, 16);
            say(g, "stripe: using key ", STRIPE_KEY, " for account acct_");
            g.s(&acct);
        }
        GITHUB_TOKEN => {
            log_prefix(g, w, "INFO ");
            say(g, "ci: cloning acme/api with token ", GITHUB_TOKEN, "");
        }
        PHONE => {
            log_prefix(g, w, "INFO ");
            say(g, "sms: sent one-time code to ", PHONE, "");
        }
        SECRET => {
            log_prefix(g, w, "DEBUG");
            let state = values::random(g.rng, values::ALNUM, 12);
            let key = g.rng.pick_str(&["access_token", "api_key", "auth_token"]);
            g.s("webhook: GET /callback?").s(key).s("=");
            put(g, SECRET);
            g.s("&state=").s(&state);
        }
        GOOGLE_API_KEY => {
            log_prefix(g, w, "WARN ");
            say(g, "maps: quota exceeded for key=", GOOGLE_API_KEY, "");
        }
        _ => {
            log_prefix(g, w, "INFO ");
            say(g, "payouts: scheduled transfer to ", IBAN, "");
        }
    }
    g.s("\n");
}

fn log_plain(g: &mut Gen<'_>, w: &mut When) {
    match g.rng.below(14) {
        0 => {
            log_prefix(g, w, "INFO ");
            say_near(g, "deploy: release ", near::VERSION, " (");
            say_near(g, "", near::GIT_SHA, ") rolled out to 3/3 pods");
        }
        1 => {
            log_prefix(g, w, "DEBUG");
            g.s("llm: request ")
                .n(near::TOKEN_SETTING, "max_tokens=4096")
                .s(" ");
            g.n(near::TOKEN_SETTING, "token_count: 12")
                .s(" model=gpt-4o");
        }
        2 => {
            log_prefix(g, w, "WARN ");
            say_near(
                g,
                "net: ignoring invalid address ",
                near::INVALID_IPV4,
                " in X-Forwarded-For",
            );
        }
        3 => {
            log_prefix(g, w, "INFO ");
            say_near(g, "dhcp: lease renewed for ", near::MAC, "");
        }
        4 => {
            log_prefix(g, w, "INFO ");
            say_near(g, "jobs: ", near::UUID, "");
            let ms = g.rng.range(3, 9000).to_string();
            g.s(" finished in ").s(&ms).s(" ms (started_at=");
            say_near(g, "", near::UNIX_TIME, ")");
        }
        5 => {
            log_prefix(g, w, "INFO ");
            say_near(g, "orders: order ", near::LUHN_FAIL, " shipped, tracking ");
            miss(g, near::NON_CARD_PREFIX);
        }
        6 => {
            log_prefix(g, w, "DEBUG");
            say_near(
                g,
                "http: > Authorization: Bearer ",
                near::BEARER_NOT_TOKEN,
                "",
            );
        }
        7 => {
            log_prefix(g, w, "INFO ");
            g.s("http: GET /health 200 1ms client=-");
        }
        8 => {
            log_prefix(g, w, "INFO ");
            g.s("db: connected to postgres://db.internal:5432/orders as app");
        }
        9 => {
            log_prefix(g, w, "INFO ");
            say_near(g, "build: pushed image sha256:", near::SHA256, "");
        }
        10 => {
            log_prefix(g, w, "WARN ");
            say_near(
                g,
                "iam: malformed key id ",
                near::AKIA_WRONG_LENGTH,
                " in request, rejected",
            );
        }
        11 => {
            log_prefix(g, w, "WARN ");
            say_near(
                g,
                "auth: rejected truncated token ",
                near::SHORT_TOKEN,
                " (too short)",
            );
        }
        12 if !aws_context(g) => {
            log_prefix(g, w, "DEBUG");
            say_near(g, "cache: stored object etag=", near::BASE64_40, "");
        }
        _ => {
            log_prefix(g, w, "INFO ");
            say_near(g, "metrics: flushed 120 series at ", near::UNIX_TIME, "");
        }
    }
    g.s("\n");
}

/// A few log lines.
pub fn logs(g: &mut Gen<'_>) {
    let mut w = values::when(g.rng);
    let lines = g.rng.range(3, 6);
    let mut sensitive = if g.positive { g.rng.range(2, lines) } else { 0 };
    for i in 0..lines {
        let left = lines - i;
        if sensitive > 0 && (sensitive >= left || g.chance(50)) {
            let k = g.pick_kind(&LOG_KINDS);
            log_sensitive(g, &mut w, k);
            sensitive -= 1;
        } else {
            log_plain(g, &mut w);
        }
    }
}

// ---------------------------------------------------------------- JSON

/// A JSON document: a user profile, a payment, AWS credentials, an OAuth
/// response, a service account, a webhook event or an HTTP request dump.
pub fn json_payload(g: &mut Gen<'_>) {
    let w = values::when(g.rng);
    match g.rng.below(7) {
        0 => {
            let p = values::person(g.rng);
            let id = values::uuid(g.rng);
            g.s("{\n  \"id\": \"")
                .n(near::UUID, &id)
                .s("\",\n  \"name\": \"")
                .s(&p.full())
                .s("\",\n");
            if g.pos(80) {
                let e = values::email(g.rng, &p);
                g.s("  \"email\": \"").v(EMAIL, &e).s("\",\n");
            }
            if g.pos(60) {
                g.s("  \"phone\": \"");
                put(g, PHONE);
                g.s("\",\n");
            }
            if g.pos(50) {
                let sep = g.rng.pick_str(&["-", "", "-"]);
                let v = values::ssn(g.rng, sep);
                g.s("  \"ssn\": \"").v(SSN, &v).s("\",\n");
            } else if g.chance(40) {
                let v = values::invalid_ssn(g.rng, "-");
                g.s("  \"ssn\": \"").n(near::INVALID_SSN, &v).s("\",\n");
            }
            g.s("  \"address\": {\"city\": \"")
                .one_of(&["München", "Kraków", "Zürich", "Austin", "Lyon"])
                .s("\", \"zip\": \"");
            miss(g, near::ZIP);
            g.s("\"},\n  \"created_at\": \"");
            let ts = w.iso(g.rng);
            g.n(near::TIMESTAMP, &ts).s("\"\n}\n");
        }
        1 => {
            g.s("{\n  \"order_id\": \"");
            miss(g, near::LUHN_FAIL);
            g.s("\",\n  \"amount\": 4990,\n  \"currency\": \"eur\",\n  \"card\": {");
            if g.pos(80) {
                g.s("\"number\": \"");
                put(g, CREDIT_CARD);
                g.s("\", \"exp_month\": 8, \"exp_year\": 2027},\n");
            } else {
                let last4 = g.rng.digits(4);
                g.s("\"brand\": \"visa\", \"last4\": \"")
                    .s(&last4)
                    .s("\"},\n");
            }
            if g.pos(60) {
                g.s("  \"billing_email\": \"");
                put(g, EMAIL);
                g.s("\",\n");
            }
            if g.pos(60) {
                g.s("  \"client_ip\": \"");
                put(g, IP_ADDRESS);
                g.s("\",\n");
            }
            if g.pos(30) {
                g.s("  \"payout_iban\": \"");
                put(g, IBAN);
                g.s("\",\n");
            }
            let id = values::uuid(g.rng);
            g.s("  \"idempotency_key\": \"")
                .n(near::UUID, &id)
                .s("\"\n}\n");
        }
        2 => {
            let account = format!("{}{}", g.rng.range(1, 9), g.rng.digits(11));
            g.s("{\n  \"Credentials\": {\n");
            if g.pos(95) {
                let id = format!("ASIA{}", values::random(g.rng, values::BASE32, 16));
                let secret = values::aws_secret(g.rng);
                g.s("    \"AccessKeyId\": \"")
                    .v(AWS_ACCESS_KEY_ID, &id)
                    .s("\",\n");
                g.s("    \"SecretAccessKey\": \"")
                    .v(AWS_SECRET_ACCESS_KEY, &secret)
                    .s("\",\n");
            }
            let ts = w.iso(g.rng);
            g.s("    \"Expiration\": \"")
                .n(near::TIMESTAMP, &ts)
                .s("\"\n  },\n  \"AssumedRoleUser\": {\n");
            g.s("    \"Arn\": \"arn:aws:sts::")
                .s(&account)
                .s(":assumed-role/ci-deployer/")
                .s(&account)
                .s("\"\n  }\n}\n");
        }
        3 => {
            g.s("HTTP/1.1 200 OK\nContent-Type: application/json\n\n{\"access_token\": \"");
            if g.pos(95) {
                if g.chance(50) {
                    put(g, JWT);
                } else {
                    put(g, SECRET);
                }
            } else {
                g.n(near::MASKED, "[REDACTED]");
            }
            g.s("\", \"token_type\": \"")
                .n(near::BEARER_NOT_TOKEN, "Bearer");
            g.s("\", \"expires_in\": 3600, \"scope\": \"read write\"}\n");
        }
        4 => {
            let project = g.rng.pick_str(&["acme-prod", "globex-data", "initech-ml"]);
            g.s("{\n  \"type\": \"service_account\",\n  \"project_id\": \"")
                .s(project)
                .s("\",\n");
            if g.pos(95) {
                let kid = values::git_sha(g.rng);
                g.s("  \"private_key_id\": \"")
                    .n(near::GIT_SHA, &kid)
                    .s("\",\n");
                let k = values::private_key(g.rng, Pem::Escaped);
                g.s("  \"private_key\": \"")
                    .v(PRIVATE_KEY, &k)
                    .s("\\n\",\n");
                let who = g.rng.pick_str(&["deployer", "ci", "exporter"]);
                g.s("  \"client_email\": \"")
                    .v(EMAIL, &format!("{who}@{project}.iam.gserviceaccount.com"))
                    .s("\",\n");
            } else {
                let k = values::public_pem(g.rng, Pem::Escaped);
                g.s("  \"public_key\": \"")
                    .n(near::PUBLIC_PEM, &k)
                    .s("\\n\",\n");
            }
            g.s("  \"token_uri\": \"https://oauth2.googleapis.com/token\"\n}\n");
        }
        5 => {
            let evt = values::random(g.rng, values::ALNUM, 24);
            g.s("{\n  \"id\": \"evt_")
                .s(&evt)
                .s("\",\n  \"type\": \"charge.succeeded\",\n  \"created\": ");
            g.n(near::UNIX_TIME, &w.unix().to_string())
                .s(",\n  \"data\": {\"object\": {\"amount\": 2000, \"billing_details\": {");
            if g.pos(75) {
                g.s("\"email\": \"");
                put(g, EMAIL);
                g.s("\", ");
            }
            if g.pos(50) {
                g.s("\"phone\": \"");
                put(g, PHONE);
                g.s("\", ");
            }
            g.s("\"address\": {\"postal_code\": \"");
            miss(g, near::ZIP);
            let last4 = g.rng.digits(4);
            g.s("\"}}, \"payment_method_details\": {\"card\": {\"brand\": \"visa\", \"last4\": \"")
                .s(&last4)
                .s("\"}}}}\n}\n");
        }
        _ => {
            g.s("{\"method\": \"POST\", \"path\": \"/v1/login\", \"headers\": {");
            if g.pos(60) {
                g.s("\"Authorization\": \"Bearer ");
                let k = g.pick_kind(&[JWT, BEARER_TOKEN]);
                put(g, k);
                g.s("\", ");
            }
            g.s("\"X-Forwarded-For\": \"");
            if g.pos(70) {
                put(g, IP_ADDRESS);
            } else {
                miss(g, near::INVALID_IPV4);
            }
            g.s("\"}, \"body\": {\"username\": \"");
            let p = values::person(g.rng);
            let u = values::username(g.rng, &p);
            g.s(&u).s("\", \"password\": \"");
            if g.pos(80) {
                let pw = values::password(g.rng, false);
                g.v(PASSWORD, &pw);
            } else {
                g.n(near::MASKED, "********");
            }
            g.s("\"}}\n");
        }
    }
}

// ---------------------------------------------------------------- curl

fn curl_one(g: &mut Gen<'_>) {
    let d = values::domain(g.rng);
    match g.rng.below(10) {
        0 => {
            g.s("curl https://api.stripe.com/v1/charges -u ");
            if g.pos(90) {
                let sk = *g.rng.pick(&[
                    values::StripeKind::SecretLive,
                    values::StripeKind::SecretTest,
                    values::StripeKind::Restricted,
                ]);
                let k = values::stripe_key(g.rng, sk);
                g.v(STRIPE_KEY, &k).s(":");
            } else {
                g.s("\"")
                    .n(near::PLACEHOLDER, "$STRIPE_SECRET_KEY")
                    .s(":\"");
            }
            g.s(" \\\n  -d amount=2000 -d currency=eur -d source=tok_visa\n");
        }
        1 | 2 => {
            g.s("curl -sS -H \"Authorization: Bearer ");
            if g.pos(90) {
                let k = g.pick_kind(&[JWT, BEARER_TOKEN]);
                put(g, k);
            } else {
                g.n(near::BEARER_NOT_TOKEN, "$TOKEN");
            }
            let n = g.rng.range(1, 9999).to_string();
            g.s("\" \\\n  https://api.")
                .s(d)
                .s("/v2/users/")
                .s(&n)
                .s("\n");
        }
        3 => {
            g.s("curl -H \"Authorization: token ");
            if g.pos(90) {
                put(g, GITHUB_TOKEN);
            } else {
                g.n(near::PLACEHOLDER, "$GITHUB_TOKEN");
            }
            g.s("\" https://api.github.com/repos/acme/api/pulls?state=open\n");
        }
        4 => {
            g.s("curl \"https://maps.googleapis.com/maps/api/geocode/json?address=10+Downing+St&key=");
            if g.pos(90) {
                put(g, GOOGLE_API_KEY);
            } else {
                g.n(near::PLACEHOLDER, "${MAPS_KEY}");
            }
            g.s("\"\n");
        }
        5 => {
            g.s("curl -X POST https://slack.com/api/chat.postMessage \\\n  -d \"token=");
            if g.pos(90) {
                put(g, SLACK_TOKEN);
            } else {
                g.n(near::PLACEHOLDER, "$SLACK_TOKEN");
            }
            let ch = values::random(g.rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 9);
            g.s("\" -d \"channel=C")
                .s(&ch)
                .s("\" -d \"text=deploy done\"\n");
        }
        6 => {
            g.s("curl -fsSL https://");
            if g.pos(90) {
                let pw = values::password(g.rng, true);
                g.s("deploy:").v(PASSWORD, &pw).s("@");
            }
            g.s("registry.").s(d).s("/v2/_catalog\n");
        }
        7 => {
            let key = g.rng.pick_str(&["api_key", "access_token", "api_key"]);
            g.s("curl \"https://api.")
                .s(d)
                .s("/v1/weather?q=Berlin&")
                .s(key)
                .s("=");
            if g.pos(90) {
                put(g, SECRET);
            } else {
                g.n(near::PLACEHOLDER, "${API_KEY}");
            }
            g.s("&units=metric\"\n");
        }
        8 => {
            g.s("curl -X POST https://api.")
                .s(d)
                .s("/login -H 'Content-Type: application/json' \\\n  -d '{\"email\": \"");
            if g.pos(90) {
                put(g, EMAIL);
                let pw = values::password(g.rng, false);
                g.s("\", \"password\": \"").v(PASSWORD, &pw);
            } else {
                g.n(near::USER_AT_HOST, "admin@localhost")
                    .s("\", \"password\": \"")
                    .n(near::PLACEHOLDER, "${ADMIN_PASSWORD}");
            }
            g.s("\"}'\n");
        }
        _ => {
            g.s("curl -H \"X-Forwarded-For: ");
            if g.pos(90) {
                put(g, IP_ADDRESS);
            } else {
                miss(g, near::INVALID_IPV4);
            }
            let id = values::uuid(g.rng);
            g.s("\" -H \"X-Request-Id: ")
                .n(near::UUID, &id)
                .s("\" https://api.")
                .s(d)
                .s("/v1/ping\n");
        }
    }
}

/// One or two curl commands, sometimes with their output.
pub fn curl(g: &mut Gen<'_>) {
    let n = g.rng.range(if g.positive { 2 } else { 1 }, 3);
    for _ in 0..n {
        g.s("$ ");
        curl_one(g);
    }
    if g.chance(40) {
        let w = values::when(g.rng);
        let id = values::uuid(g.rng);
        g.s("{\"id\": \"").n(near::UUID, &id).s("\", \"created\": ");
        g.n(near::UNIX_TIME, &w.unix().to_string())
            .s(", \"status\": \"ok\"}\n");
    }
}

// ---------------------------------------------------------------- traces

/// A stack trace: Python, Java, Node, Go or Rust.
pub fn stack_trace(g: &mut Gen<'_>) {
    match g.rng.below(7) {
        6 => {
            g.s("thread 'main' panicked at src/config.rs:42:10:\ncalled `Result::unwrap()` on an `Err` value: Os { code: 2 }\nstack backtrace:\n   0: ");
            miss(g, near::CODE_PATH);
            g.s("\n   1: ");
            miss(g, near::CODE_PATH);
            g.s("\n   2: palisade::config::load\n");
            if g.pos(80) {
                g.s("note: config was loaded from ");
                let url = url_with_password(g);
                emit(g, &url, Pem::Plain);
                g.s("\n");
            } else {
                say_near(g, "note: rustc ", near::VERSION, "\n");
            }
        }
        0 => {
            g.s("Traceback (most recent call last):\n  File \"/srv/app/billing/charge.py\", line 88, in charge\n");
            g.s("    resp = stripe.Charge.create(amount=total, source=token)\n");
            g.s("  File \"/usr/lib/python3.11/site-packages/stripe/api_requestor.py\", line 127, in request\n");
            g.s("    raise error.AuthenticationError(msg)\nstripe.error.AuthenticationError: Invalid API Key provided: ");
            if g.pos(95) {
                let k = values::stripe_key(g.rng, values::StripeKind::SecretLive);
                g.v(STRIPE_KEY, &k);
            } else {
                g.n(near::SHORT_TOKEN, "sk_live_****").s("************");
            }
            g.s("\n");
        }
        1 => {
            g.s("Traceback (most recent call last):\n  File \"/app/db.py\", line 12, in connect\n");
            g.s("    conn = psycopg2.connect(host=");
            if g.pos(80) {
                let ip = values::ipv4(g.rng);
                g.s("\"").v(IP_ADDRESS, &ip).s("\"");
            } else {
                g.s("\"db.internal\"");
            }
            g.s(", user=\"app\", password=");
            if g.pos(85) {
                let pw = values::password(g.rng, false);
                g.s("\"").v(PASSWORD, &pw).s("\")\n");
            } else {
                g.s("\"").n(near::PLACEHOLDER, "${DB_PASSWORD}").s("\")\n");
            }
            g.s("psycopg2.OperationalError: connection to server failed: Connection refused\n");
        }
        2 => {
            g.s("Exception in thread \"main\" java.sql.SQLException: Access denied for user 'app'@'");
            if g.pos(90) {
                put(g, IP_ADDRESS);
            } else {
                g.s("db-proxy");
            }
            g.s("' (using password: YES)\n\tat com.mysql.cj.jdbc.exceptions.SQLError.createSQLException(SQLError.java:129)\n");
            g.s("\tat com.acme.billing.Db.open(Db.java:42)\n\tat com.acme.billing.Main.main(Main.java:17)\n");
            if g.chance(50) {
                say_near(g, "Build: ", near::GIT_SHA, " (");
                say_near(g, "", near::VERSION, ")\n");
            }
        }
        3 => {
            g.s("Error: connect ECONNREFUSED ");
            if g.pos(90) {
                put(g, IP_ADDRESS);
                g.s(":6379");
            } else {
                g.s("cache.internal:6379");
            }
            g.s("\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)\n");
            g.s("    at Redis.connect (/app/node_modules/ioredis/built/Redis.js:121:25)\n");
            if g.pos(40) {
                g.s("  context: { user: '");
                put(g, EMAIL);
                g.s("' }\n");
            }
        }
        4 => {
            g.s("com.acme.payments.CardDeclinedException: card ");
            if g.pos(90) {
                put(g, CREDIT_CARD);
            } else {
                let m = values::masked_card(g.rng);
                g.n(near::MASKED, &m);
            }
            g.s(" declined (code=05) for order ");
            miss(g, near::LUHN_FAIL);
            g.s("\n\tat com.acme.payments.Gateway.charge(Gateway.java:211)\n\tat com.acme.payments.Checkout.pay(Checkout.java:88)\n");
        }
        _ => {
            g.s("panic: runtime error: invalid memory address or nil pointer dereference\n");
            g.s("[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a2f1c]\n\ngoroutine 1 [running]:\n");
            g.s("main.(*Client).Send(0xc000120000, {0xc00001e0c0, 0x2a})\n\t/app/client.go:42 +0x1d\n");
            if g.pos(70) {
                g.s("request: POST /v1/messages Authorization: Bearer ");
                let k = g.pick_kind(&[JWT, BEARER_TOKEN]);
                put(g, k);
                g.s("\n");
            } else {
                say_near(g, "go version ", near::VERSION, " linux/amd64\n");
            }
        }
    }
}

// ---------------------------------------------------------------- code

/// A code snippet: Python, JavaScript, Go, shell, Rust or Terraform.
pub fn code(g: &mut Gen<'_>) {
    match g.rng.below(9) {
        0 => {
            g.s("import boto3\n\ns3 = boto3.client(\n    \"s3\",\n");
            if g.pos(95) {
                let id = values::aws_key_id(g.rng);
                g.s("    aws_access_key_id=\"")
                    .v(AWS_ACCESS_KEY_ID, &id)
                    .s("\",\n");
                if g.chance(80) {
                    let s = values::aws_secret(g.rng);
                    g.s("    aws_secret_access_key=\"")
                        .v(AWS_SECRET_ACCESS_KEY, &s)
                        .s("\",\n");
                }
            }
            g.s("    region_name=\"eu-central-1\",\n)\n");
        }
        1 => {
            g.s("import requests\n\n");
            if g.pos(90) {
                let k = g.pick_kind(&[JWT, BEARER_TOKEN]);
                g.s("HEADERS = {\"Authorization\": \"Bearer ");
                put(g, k);
                g.s("\"}\n");
            } else {
                g.s("HEADERS = {\"Authorization\": f\"Bearer ")
                    .n(near::BEARER_NOT_TOKEN, "{token}")
                    .s("\"}\n");
            }
            let d = values::domain(g.rng);
            if g.pos(60) {
                g.s("DATABASE_URL = \"");
                let url = url_with_password(g);
                emit(g, &url, Pem::Plain);
                g.s("\"\n");
            }
            g.s("resp = requests.get(\"https://api.")
                .s(d)
                .s("/v1/items\", headers=HEADERS, timeout=10)\n");
            g.s("resp.raise_for_status()\n");
        }
        2 => {
            g.s("// server.js\n");
            if g.pos(90) {
                let k = values::stripe_key(g.rng, values::StripeKind::SecretTest);
                g.s("const stripe = require('stripe')('")
                    .v(STRIPE_KEY, &k)
                    .s("');\n");
            } else {
                g.s("const stripe = require('stripe')(process.env.STRIPE_SECRET_KEY);\n");
            }
            g.s("// keys look like ")
                .n(near::PREFIX_IN_PROSE, "sk_")
                .s("… — never commit a live one\n");
            if g.pos(70) {
                g.s("const firebaseConfig = {\n  apiKey: \"");
                put(g, GOOGLE_API_KEY);
                g.s("\",\n  authDomain: \"acme-app.firebaseapp.com\",\n  projectId: \"acme-app\",\n};\n");
            }
        }
        3 => {
            g.s("func openDB() (*sql.DB, error) {\n\treturn sql.Open(\"postgres\", \"");
            if g.pos(90) {
                let url = url_with_password(g);
                emit(g, &url, Pem::Plain);
            } else {
                g.s("host=db.internal user=app dbname=orders sslmode=require");
            }
            g.s("\")\n}\n");
        }
        4 => {
            g.s("#!/usr/bin/env bash\nset -euo pipefail\n");
            if g.positive {
                let n = g.rng.range(2, 4);
                let kinds = g.pick_kinds(
                    &[
                        GITHUB_TOKEN,
                        SLACK_TOKEN,
                        STRIPE_KEY,
                        GOOGLE_API_KEY,
                        AWS_ACCESS_KEY_ID,
                        SECRET,
                        PASSWORD,
                    ],
                    n,
                );
                for k in kinds {
                    let (name, kind) = match k {
                        GITHUB_TOKEN => ("GITHUB_TOKEN", GITHUB_TOKEN),
                        SLACK_TOKEN => ("SLACK_BOT_TOKEN", SLACK_TOKEN),
                        STRIPE_KEY => ("STRIPE_API_KEY", STRIPE_KEY),
                        GOOGLE_API_KEY => ("GOOGLE_API_KEY", GOOGLE_API_KEY),
                        AWS_ACCESS_KEY_ID => ("AWS_ACCESS_KEY_ID", AWS_ACCESS_KEY_ID),
                        SECRET => (
                            g.rng.pick_str(&[
                                "API_KEY",
                                "CLIENT_SECRET",
                                "AUTH_TOKEN",
                                "ACCESS_TOKEN",
                            ]),
                            SECRET,
                        ),
                        _ => ("DB_PASSWORD", PASSWORD),
                    };
                    g.s("export ").s(name).s("=");
                    put(g, kind);
                    g.s("\n");
                }
            } else {
                g.s("export DB_PASSWORD=")
                    .n(near::PLACEHOLDER, "${DB_PASSWORD}")
                    .s("\n");
            }
            g.s("git clone https://x-access-token:")
                .n(near::PLACEHOLDER, "${GITHUB_TOKEN}")
                .s("@github.com/acme/api.git\n");
            say_near(g, "npm install ", near::PACKAGE_AT_VERSION, "\n");
        }
        5 => {
            g.s("use ");
            miss(g, near::CODE_PATH);
            g.s(";\nuse ");
            miss(g, near::CODE_PATH);
            g.s(";\n\nfn main() -> anyhow::Result<()> {\n    let max_tokens = ")
                .n(near::TOKEN_SETTING, "4096")
                .s(";\n");
            if g.pos(80) {
                let k = g.pick_kind(&[SECRET, PASSWORD]);
                let var = if k == SECRET { "api_key" } else { "password" };
                g.s("    let ").s(var).s(" = \"");
                put(g, k);
                g.s("\"; // TODO move to vault\n");
            } else {
                g.s("    let author = \"")
                    .n(near::AUTHOR, "jane")
                    .s("\";\n");
            }
            g.s("    run(max_tokens)\n}\n");
        }
        6 => {
            g.s("provider \"aws\" {\n  region     = \"eu-west-1\"\n");
            if g.pos(90) {
                let id = values::aws_key_id(g.rng);
                g.s("  access_key = \"").v(AWS_ACCESS_KEY_ID, &id).s("\"\n");
            }
            g.s("  secret_key = var.aws_secret_key\n}\n\n");
            if g.pos(60) {
                g.s("provider \"github\" {\n  owner = \"acme\"\n  token = \"");
                put(g, GITHUB_TOKEN);
                g.s("\"\n}\n\n");
            }
            g.s("# ");
            miss(g, near::AKIA_WRONG_LENGTH);
            g.s(" was the old, truncated id\n");
        }
        7 => {
            g.s("import jwt\n\n");
            if g.pos(90) {
                let k = values::private_key(g.rng, Pem::Plain);
                g.s("PRIVATE_KEY = \"\"\"")
                    .v(PRIVATE_KEY, &k)
                    .s("\n\"\"\"\n");
                g.s("token = jwt.encode(claims, PRIVATE_KEY, algorithm=\"ES256\")\n");
            } else {
                let k = values::public_pem(g.rng, Pem::Plain);
                g.s("PUBLIC_KEY = \"\"\"")
                    .n(near::PUBLIC_PEM, &k)
                    .s("\n\"\"\"\n");
                g.s("claims = jwt.decode(token, PUBLIC_KEY, algorithms=[\"ES256\"])\n");
            }
        }
        _ => {
            g.s("const client = new WebClient(");
            if g.pos(90) {
                g.s("'");
                put(g, SLACK_TOKEN);
                g.s("'");
            } else {
                g.s("process.env.SLACK_BOT_TOKEN");
            }
            g.s(");\n// bot tokens start with ")
                .n(near::PREFIX_IN_PROSE, "xoxb-")
                .s(", user tokens with xoxp-\n");
            if g.pos(60) {
                g.s("const SLACK_SIGNING_SECRET = '");
                let v = values::random(g.rng, values::HEX, 32);
                g.v(SECRET, &v).s("';\n");
            }
            let c = values::random(g.rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 9);
            g.s("await client.chat.postMessage({ channel: 'C")
                .s(&c)
                .s("', text: 'Deployed ");
            miss(g, near::VERSION);
            g.s("' });\n");
        }
    }
}

// ---------------------------------------------------------------- keys

/// Key material: a PEM file, a key in a YAML block, in an environment
/// variable or pasted with a note; public keys and certificates when clean.
pub fn key_material(g: &mut Gen<'_>) {
    let private = g.pos(100);
    match g.rng.below(5) {
        0 => {
            let file = g.rng.pick_str(&[
                "~/.ssh/id_ed25519",
                "tls.key",
                "deploy_key.pem",
                "server.key",
            ]);
            g.s("$ cat ").s(file).s("\n");
            emit(g, &[Piece::Pem(private)], Pem::Plain);
            g.s("\n");
            if g.chance(40) {
                let (key, who) = values::ssh_public_key(g.rng);
                g.s("$ cat ~/.ssh/id_ed25519.pub\n")
                    .s(&key)
                    .s(" ")
                    .n(near::USER_AT_HOST, &who)
                    .s("\n");
            }
        }
        1 => {
            g.s("tls:\n  enabled: true\n  cert_file: /etc/ssl/server.crt\n  key: |\n    ");
            emit(g, &[Piece::Pem(private)], Pem::Indented(4));
            g.s("\n");
        }
        2 => {
            let name = g
                .rng
                .pick_str(&["JWT_PRIVATE_KEY", "SIGNING_KEY", "APNS_KEY"]);
            g.s(name).s("=\"");
            emit(g, &[Piece::Pem(private)], Pem::Escaped);
            g.s("\"\n");
        }
        3 => {
            g.one_of(&[
                "Here's the key for the staging box, don't share it:\n\n",
                "Attached key (from the old laptop):\n\n",
                "Key for the SFTP drop, as requested:\n\n",
            ]);
            emit(g, &[Piece::Pem(private)], Pem::Plain);
            g.s("\n\nThanks,\n");
            let p = values::person(g.rng);
            g.s(p.first).s("\n");
        }
        _ => {
            g.s("# GitHub Actions secret DEPLOY_KEY, fingerprint SHA256:");
            let fp = values::random(g.rng, values::B64, 43);
            g.s(&fp).s("\n");
            emit(g, &[Piece::Pem(private)], Pem::Plain);
            g.s("\n");
        }
    }
    if !private && g.chance(50) {
        let (key, who) = values::ssh_public_key(g.rng);
        g.s("authorized_keys: ")
            .s(&key)
            .s(" ")
            .n(near::USER_AT_HOST, &who)
            .s("\n");
    }
}
