//! The document templates: the registry, the pieces they share, and the
//! configuration-file templates (`.env`, YAML, INI, JSON), which render one
//! list of key/value entries in four syntaxes.

use super::generate::kind::{
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, BEARER_TOKEN, CREDIT_CARD, EMAIL, GITHUB_TOKEN,
    GOOGLE_API_KEY, IBAN, IP_ADDRESS, JWT, PASSWORD, PHONE, PRIVATE_KEY, SECRET, SLACK_TOKEN, SSN,
    STRIPE_KEY,
};
use super::generate::{Gen, Template, near};
use super::values::{self, Pem, StripeKind};
use super::{prose, tech};

/// Every template, with its relative frequency.
pub fn all() -> Vec<Template> {
    vec![
        Template {
            name: "support ticket",
            weight: 8,
            build: prose::ticket,
        },
        Template {
            name: "e-mail",
            weight: 8,
            build: prose::email,
        },
        Template {
            name: "chat",
            weight: 9,
            build: prose::chat,
        },
        Template {
            name: "invoice",
            weight: 6,
            build: prose::invoice,
        },
        Template {
            name: "hr record",
            weight: 6,
            build: prose::hr_record,
        },
        Template {
            name: "log lines",
            weight: 12,
            build: tech::logs,
        },
        Template {
            name: ".env file",
            weight: 10,
            build: env_file,
        },
        Template {
            name: "yaml config",
            weight: 7,
            build: yaml_config,
        },
        Template {
            name: "ini config",
            weight: 5,
            build: ini_config,
        },
        Template {
            name: "json config",
            weight: 7,
            build: json_config,
        },
        Template {
            name: "json payload",
            weight: 9,
            build: tech::json_payload,
        },
        Template {
            name: "curl",
            weight: 8,
            build: tech::curl,
        },
        Template {
            name: "stack trace",
            weight: 6,
            build: tech::stack_trace,
        },
        Template {
            name: "code",
            weight: 9,
            build: tech::code,
        },
        Template {
            name: "key material",
            weight: 8,
            build: tech::key_material,
        },
    ]
}

// ---------------------------------------------------------------- shared

/// A random value of `kind`, in a format that fits free text.
pub fn value(g: &mut Gen<'_>, kind: &str) -> String {
    let rng = &mut *g.rng;
    match kind {
        CREDIT_CARD => values::card(rng),
        SSN => {
            let sep = if rng.chance(80) { "-" } else { " " };
            values::ssn(rng, sep)
        }
        IBAN => values::iban(rng),
        EMAIL => {
            let p = values::person(rng);
            values::email(rng, &p)
        }
        PHONE => values::phone(rng),
        IP_ADDRESS => values::ip(rng),
        AWS_ACCESS_KEY_ID => values::aws_key_id(rng),
        AWS_SECRET_ACCESS_KEY => values::aws_secret(rng),
        GITHUB_TOKEN => values::github_token(rng),
        SLACK_TOKEN => values::slack_token(rng),
        STRIPE_KEY => {
            let k = values::stripe_kind(rng);
            values::stripe_key(rng, k)
        }
        GOOGLE_API_KEY => values::google_api_key(rng),
        JWT => values::jwt(rng),
        BEARER_TOKEN => values::opaque_token(rng),
        PRIVATE_KEY => values::private_key(rng, Pem::Plain),
        PASSWORD => values::password(rng, false),
        _ => values::secret_value(rng),
    }
}

/// Appends a labelled value of `kind`.
pub fn put(g: &mut Gen<'_>, kind: &'static str) {
    let v = value(g, kind);
    g.v(kind, &v);
}

/// A near-miss of `category`, in a format that fits free text.
pub fn near_value(g: &mut Gen<'_>, category: &str) -> String {
    let rng = &mut *g.rng;
    match category {
        near::LUHN_FAIL => values::luhn_fail_16(rng),
        near::NON_CARD_PREFIX => values::non_card_digits(rng),
        near::TIMESTAMP => {
            let w = values::when(rng);
            if rng.chance(70) {
                w.iso(rng)
            } else {
                w.clock()
            }
        }
        near::DATE => {
            let w = values::when(rng);
            w.human_date(rng)
        }
        near::UNIX_TIME => values::when(rng).unix().to_string(),
        near::VERSION => values::version(rng),
        near::UUID => values::uuid(rng),
        near::GIT_SHA => values::git_sha(rng),
        near::SHA256 => values::sha256(rng),
        near::INVALID_SSN => values::invalid_ssn(rng, "-"),
        near::NINE_DIGIT_ID => format!("{}{}", rng.range(1, 9), rng.digits(8)),
        near::BAD_IBAN => values::bad_iban(rng),
        near::MENTION => {
            let p = values::person(rng);
            format!("@{}", values::username(rng, &p))
        }
        near::USER_AT_HOST => format!(
            "{}@{}",
            rng.pick(&["root", "deploy", "admin", "www-data", "postgres", "jane"]),
            rng.pick(&["localhost", "build-01", "bastion", "db-primary", "laptop"])
        ),
        near::PACKAGE_AT_VERSION => format!(
            "{}@{}.{}.{}",
            rng.pick(&[
                "left-pad",
                "react",
                "lodash",
                "typescript",
                "@types/node",
                "express"
            ]),
            rng.range(1, 20),
            rng.range(0, 30),
            rng.range(0, 12)
        ),
        near::ZIP => values::zip(rng),
        near::INVALID_IPV4 => values::invalid_ipv4(rng),
        near::MAC => values::mac(rng),
        near::CODE_PATH => (rng.pick_str(&[
            "std::fs::read_to_string",
            "std::collections::HashMap",
            "tokio::sync::mpsc",
            "serde_json::from_str",
            "std::env::var",
            "boost::asio::ip::tcp",
            "std::chrono::steady_clock",
            "crate::db::pool",
        ]))
        .to_owned(),
        near::PRODUCT_CODE => values::product_code(rng),
        near::MASKED => {
            (rng.pick_str(&["********", "********", "****", "[REDACTED]", "xxxxxxxx"])).to_owned()
        }
        near::PLACEHOLDER => (rng.pick_str(&[
            "${DB_PASSWORD}",
            "${API_KEY}",
            "${SECRET}",
            "${CLIENT_SECRET}",
            "${POSTGRES_PASSWORD}",
            "${AUTH_TOKEN}",
        ]))
        .to_owned(),
        near::TOKEN_SETTING => rng
            .pick(&["4096", "8192", "12", "512", "3600", "128000"])
            .to_string(),
        near::AUTHOR => {
            let p = values::person(rng);
            p.first_ascii.to_owned()
        }
        near::PUBLIC_PEM => values::public_pem(rng, Pem::Plain),
        near::PREFIX_IN_PROSE => (rng
            .pick_str(&["sk_", "sk_live_", "ghp_", "xoxb-", "AKIA", "AIza", "whsec_"]))
        .to_owned(),
        near::SHORT_TOKEN => (rng.pick_str(&[
            "ghp_abc",
            "ghp_1234",
            "sk_live_abc",
            "sk_test_123",
            "xoxb-123",
            "AIzaSy",
            "gho_xyz",
        ]))
        .to_owned(),
        near::AKIA_WRONG_LENGTH => values::akia_wrong_length(rng),
        near::BASE64_40 => values::base64_40(rng),
        _ => (rng.pick_str(&["{token}", "<token>", "$TOKEN", "${API_TOKEN}", "<redacted>"]))
            .to_owned(),
    }
}

/// Appends a near-miss of `category`.
pub fn miss(g: &mut Gen<'_>, category: &'static str) {
    let v = near_value(g, category);
    g.n(category, &v);
}

/// A piece of a value.
#[derive(Debug, Clone)]
pub enum Piece {
    /// Plain text.
    T(String),
    /// A labelled value.
    L(&'static str, String),
    /// A near-miss.
    N(&'static str, String),
    /// A PEM block (private: labelled; public: a near-miss), rendered in the
    /// syntax's style.
    Pem(bool),
}

/// Appends `pieces`; PEM blocks in `style`.
pub fn emit(g: &mut Gen<'_>, pieces: &[Piece], style: Pem) {
    for p in pieces {
        match p {
            Piece::T(s) => {
                g.s(s);
            }
            Piece::L(k, s) => {
                g.v(k, s);
            }
            Piece::N(c, s) => {
                g.n(c, s);
            }
            Piece::Pem(private) => {
                if *private {
                    let k = values::private_key(g.rng, style);
                    g.v(PRIVATE_KEY, &k);
                } else {
                    let k = values::public_pem(g.rng, style);
                    g.n(near::PUBLIC_PEM, &k);
                }
            }
        }
    }
}

// ---------------------------------------------------------------- entries

/// One key/value of a configuration file.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key, in snake case.
    pub key: String,
    /// The value.
    pub value: Vec<Piece>,
    /// A number or boolean: unquoted in JSON.
    pub raw: bool,
}

impl Entry {
    fn new(key: &str, value: Vec<Piece>) -> Self {
        Self {
            key: key.to_owned(),
            value,
            raw: false,
        }
    }
    fn raw(key: &str, value: &str) -> Self {
        Self {
            key: key.to_owned(),
            value: vec![Piece::T(value.to_owned())],
            raw: true,
        }
    }
    fn has_pem(&self) -> bool {
        self.value.iter().any(|p| matches!(p, Piece::Pem(_)))
    }
    /// Has a space or `;`, which an unquoted shell value cannot.
    fn needs_quotes(&self) -> bool {
        self.value.iter().any(|p| match p {
            Piece::T(s) | Piece::L(_, s) | Piece::N(_, s) => s.contains([' ', ';']),
            Piece::Pem(_) => false,
        })
    }
}

/// Kinds a configuration file may hold.
pub const CONFIG_KINDS: [&str; 14] = [
    EMAIL,
    IP_ADDRESS,
    PHONE,
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
    GITHUB_TOKEN,
    SLACK_TOKEN,
    STRIPE_KEY,
    GOOGLE_API_KEY,
    JWT,
    BEARER_TOKEN,
    PRIVATE_KEY,
    PASSWORD,
    SECRET,
];

/// Keys under which a generic secret is stored (all end in a secret keyword).
pub const SECRET_KEYS: &[&str] = &[
    "secret",
    "client_secret",
    "api_key",
    "access_token",
    "auth_token",
    "jwt_secret",
    "session_secret",
    "app_secret",
    "sendgrid_api_key",
    "mailgun_api_key",
    "twilio_auth_token",
    "oauth_client_secret",
    "signing_secret",
    "webhook_secret",
    "partner_api_key",
];

/// Keys under which a password is stored.
pub const PASSWORD_KEYS: &[&str] = &[
    "password",
    "db_password",
    "postgres_password",
    "redis_password",
    "smtp_password",
    "passwd",
    "mysql_root_password",
    "admin_password",
];

/// A host for a connection URL: a name or a labelled IP address.
pub fn url_host(g: &mut Gen<'_>) -> Piece {
    if g.chance(30) {
        let ip = values::ipv4(g.rng);
        Piece::L(IP_ADDRESS, ip)
    } else {
        Piece::T(
            (g.rng.pick_str(&[
                "db.internal",
                "db-01.prod.acme.io",
                "postgres.default.svc.cluster.local",
                "cache.internal",
                "mq.acme-corp.io",
                "localhost",
            ]))
            .to_owned(),
        )
    }
}

/// Schemes of connection URLs: scheme, port, path.
const URL_SCHEMES: [(&str, &str, &str); 7] = [
    ("postgres", "5432", "/orders"),
    ("postgresql", "5432", "/app?sslmode=require"),
    ("mysql", "3306", "/shop"),
    ("mongodb", "27017", "/app?authSource=admin"),
    ("amqp", "5672", "/prod"),
    ("redis", "6379", "/0"),
    ("https", "443", "/simple/"),
];

/// A connection URL with a labelled password: `scheme://user:PASSWORD@host:port/db`.
pub fn url_with_password(g: &mut Gen<'_>) -> Vec<Piece> {
    let scheme = g.rng.pick(&URL_SCHEMES).0;
    url_with_password_for(g, scheme)
}

/// [`url_with_password`] with the given scheme.
fn url_with_password_for(g: &mut Gen<'_>, scheme: &str) -> Vec<Piece> {
    let &(scheme, port, path) = URL_SCHEMES
        .iter()
        .find(|s| s.0 == scheme)
        .unwrap_or(&URL_SCHEMES[0]);
    let user = g.rng.pick_str(&[
        "app",
        "billing",
        "svc_orders",
        "admin",
        "deploy",
        "root",
        "default",
    ]);
    let pw = values::password(g.rng, true);
    vec![
        Piece::T(format!("{scheme}://{user}:")),
        Piece::L(PASSWORD, pw),
        Piece::T("@".to_owned()),
        url_host(g),
        Piece::T(format!(":{port}{path}")),
    ]
}

/// Entries for one sensitive `kind` (two for an AWS key pair).
pub fn entries_for(g: &mut Gen<'_>, kind: &'static str) -> Vec<Entry> {
    let label = |k: &'static str, v: String| vec![Piece::L(k, v)];
    match kind {
        EMAIL => {
            let key = g.rng.pick_str(&[
                "support_email",
                "admin_email",
                "smtp_user",
                "notify_email",
                "from_address",
            ]);
            let v = value(g, EMAIL);
            vec![Entry::new(key, label(EMAIL, v))]
        }
        PHONE => {
            let key = *g
                .rng
                .pick(&["support_phone", "oncall_phone", "sms_sender", "fax"]);
            let v = value(g, PHONE);
            vec![Entry::new(key, label(PHONE, v))]
        }
        IP_ADDRESS => {
            let key = g.rng.pick_str(&[
                "db_host",
                "redis_host",
                "upstream",
                "dns_server",
                "nat_ip",
                "peer_address",
            ]);
            let v = value(g, IP_ADDRESS);
            vec![Entry::new(key, label(IP_ADDRESS, v))]
        }
        AWS_ACCESS_KEY_ID | AWS_SECRET_ACCESS_KEY => {
            let id = values::aws_key_id(g.rng);
            let mut out = vec![Entry::new(
                "aws_access_key_id",
                label(AWS_ACCESS_KEY_ID, id),
            )];
            if kind == AWS_SECRET_ACCESS_KEY || g.chance(80) {
                let secret = values::aws_secret(g.rng);
                out.push(Entry::new(
                    "aws_secret_access_key",
                    label(AWS_SECRET_ACCESS_KEY, secret),
                ));
            }
            out
        }
        GITHUB_TOKEN => {
            let key = g.rng.pick_str(&[
                "github_token",
                "gh_token",
                "github_pat",
                "access_token",
                "ci_token",
            ]);
            let v = value(g, GITHUB_TOKEN);
            vec![Entry::new(key, label(GITHUB_TOKEN, v))]
        }
        SLACK_TOKEN => {
            let key = g.rng.pick_str(&[
                "slack_bot_token",
                "slack_token",
                "slack_app_token",
                "bot_token",
            ]);
            let v = value(g, SLACK_TOKEN);
            vec![Entry::new(key, label(SLACK_TOKEN, v))]
        }
        STRIPE_KEY => {
            let k = values::stripe_kind(g.rng);
            let key = match k {
                StripeKind::SecretLive | StripeKind::SecretTest => {
                    g.rng
                        .pick_str(&["stripe_secret_key", "stripe_api_key", "stripe_key"])
                }
                StripeKind::Restricted | StripeKind::RestrictedTest => "stripe_restricted_key",
                StripeKind::Webhook => g.rng.pick_str(&["stripe_webhook_secret", "webhook_secret"]),
            };
            let v = values::stripe_key(g.rng, k);
            vec![Entry::new(key, label(STRIPE_KEY, v))]
        }
        GOOGLE_API_KEY => {
            let key = g.rng.pick_str(&[
                "google_api_key",
                "maps_api_key",
                "firebase_api_key",
                "api_key",
            ]);
            let v = value(g, GOOGLE_API_KEY);
            vec![Entry::new(key, label(GOOGLE_API_KEY, v))]
        }
        JWT => {
            let key = *g
                .rng
                .pick(&["id_token", "access_token", "auth_token", "service_jwt"]);
            let v = value(g, JWT);
            vec![Entry::new(key, label(JWT, v))]
        }
        BEARER_TOKEN => {
            let key = *g
                .rng
                .pick(&["authorization", "auth_header", "default_authorization"]);
            let v = value(g, BEARER_TOKEN);
            vec![Entry::new(
                key,
                vec![Piece::T("Bearer ".to_owned()), Piece::L(BEARER_TOKEN, v)],
            )]
        }
        PRIVATE_KEY => {
            let key = *g
                .rng
                .pick(&["private_key", "tls_key", "signing_key", "ssh_private_key"]);
            vec![Entry::new(key, vec![Piece::Pem(true)])]
        }
        PASSWORD => {
            if g.chance(10) {
                let key = g.rng.pick_str(&["connection_string", "mssql_dsn"]);
                let pw = values::password(g.rng, false);
                let value = vec![
                    Piece::T(
                        "Server=tcp:sql.internal,1433;Database=orders;User Id=app;".to_owned(),
                    ),
                    Piece::T(g.rng.pick_str(&["Pwd=", "Password="]).to_owned()),
                    Piece::L(PASSWORD, pw),
                    Piece::T(";Encrypt=true".to_owned()),
                ];
                vec![Entry::new(key, value)]
            } else if g.chance(45) {
                let (key, schemes) = *g.rng.pick(&[
                    ("database_url", &["postgres", "postgresql", "mysql"][..]),
                    ("db_url", &["postgres", "mysql"][..]),
                    ("mongo_uri", &["mongodb"][..]),
                    ("broker_url", &["amqp", "redis"][..]),
                    ("cache_url", &["redis"][..]),
                ]);
                let scheme = g.rng.pick_str(schemes);
                let v = url_with_password_for(g, scheme);
                vec![Entry::new(key, v)]
            } else {
                let key = *g.rng.pick(PASSWORD_KEYS);
                let v = values::password(g.rng, false);
                vec![Entry::new(key, label(PASSWORD, v))]
            }
        }
        _ => {
            let key = *g.rng.pick(SECRET_KEYS);
            let v = values::secret_value(g.rng);
            vec![Entry::new(key, label(SECRET, v))]
        }
    }
}

/// A harmless entry, often a near-miss. `base64` allows a 40-character
/// base64 value (only where no AWS key is near).
pub fn benign_entry(g: &mut Gen<'_>, base64: bool) -> Entry {
    fn n(c: &'static str, g: &mut Gen<'_>) -> Vec<Piece> {
        vec![Piece::N(c, near_value(g, c))]
    }
    loop {
        let e = match g.rng.below(22) {
            0 => Entry::raw(
                "port",
                g.rng.pick_str(&["8080", "5432", "3000", "6379", "443"]),
            ),
            1 => Entry::new(
                "log_level",
                vec![Piece::T(
                    (g.rng.pick_str(&["info", "debug", "warn"])).to_owned(),
                )],
            ),
            2 => Entry::new(
                "region",
                vec![Piece::T(
                    (g.rng.pick_str(&["eu-west-1", "us-east-1", "eu-central-1"])).to_owned(),
                )],
            ),
            3 => Entry::raw("replicas", &g.rng.range(1, 9).to_string()),
            4 => {
                let (a, b, c) = (g.rng.range(0, 9), g.rng.range(0, 40), g.rng.range(0, 20));
                Entry::new(
                    "app_version",
                    vec![Piece::N(near::VERSION, format!("{a}.{b}.{c}"))],
                )
            }
            5 => Entry::new(
                g.rng.pick_str(&["release_sha", "git_commit", "revision"]),
                n(near::GIT_SHA, g),
            ),
            6 => Entry::new(
                g.rng.pick_str(&["build_id", "instance_id", "tenant_id"]),
                n(near::UUID, g),
            ),
            7 => Entry::new(
                "image_digest",
                vec![
                    Piece::T("sha256:".to_owned()),
                    Piece::N(near::SHA256, values::sha256(g.rng)),
                ],
            ),
            8 => {
                let v = (g.rng.pick_str(&["4096", "8192", "1024", "128000"])).to_owned();
                Entry {
                    raw: true,
                    ..Entry::new("max_tokens", vec![Piece::N(near::TOKEN_SETTING, v)])
                }
            }
            9 => {
                let v = g.rng.range(1, 64).to_string();
                Entry {
                    raw: true,
                    ..Entry::new("token_count", vec![Piece::N(near::TOKEN_SETTING, v)])
                }
            }
            10 => {
                let key = g.rng.pick_str(&[
                    "access_token_ttl",
                    "access_token_lifetime",
                    "auth_token_expiry",
                ]);
                let v = (g.rng.pick_str(&["3600", "900", "86400"])).to_owned();
                Entry {
                    raw: true,
                    ..Entry::new(key, vec![Piece::N(near::TOKEN_SETTING, v)])
                }
            }
            11 => Entry::new("author", n(near::AUTHOR, g)),
            12 => {
                let key = g
                    .rng
                    .pick_str(&["password", "db_password", "smtp_password"]);
                Entry::new(key, vec![Piece::N(near::MASKED, "********".to_owned())])
            }
            13 => {
                let (key, var) = *g.rng.pick(&[
                    ("password", "${DB_PASSWORD}"),
                    ("db_password", "${DB_PASSWORD}"),
                    ("postgres_password", "${POSTGRES_PASSWORD}"),
                    ("api_key", "${API_KEY}"),
                    ("client_secret", "${CLIENT_SECRET}"),
                    ("auth_token", "${AUTH_TOKEN}"),
                    ("secret", "${APP_SECRET}"),
                ]);
                Entry::new(key, vec![Piece::N(near::PLACEHOLDER, var.to_owned())])
            }
            14 if base64 => Entry::new(
                g.rng.pick_str(&["checksum", "etag", "nonce", "cursor"]),
                n(near::BASE64_40, g),
            ),
            15 => Entry::new(
                g.rng.pick_str(&["public_key", "jwt_public_key", "ca_cert"]),
                vec![Piece::Pem(false)],
            ),
            16 => Entry::new("device_mac", n(near::MAC, g)),
            17 => Entry::new(
                "bucket",
                vec![Piece::T(format!(
                    "{}-prod-assets",
                    g.rng.pick_str(&["acme", "globex", "initech"])
                ))],
            ),
            18 => Entry::new(
                "endpoint",
                vec![Piece::T(format!(
                    "https://api.{}/v2",
                    values::domain(g.rng)
                ))],
            ),
            19 => Entry::raw(
                g.rng
                    .pick_str(&["enable_cache", "feature_new_checkout", "debug"]),
                g.rng.pick_str(&["true", "false"]),
            ),
            20 => {
                if g.chance(50) {
                    Entry::raw("password_min_length", g.rng.pick_str(&["12", "14", "16"]))
                } else {
                    Entry::raw("secret_rotation_days", g.rng.pick_str(&["30", "90"]))
                }
            }
            21 => Entry::raw("timeout_ms", g.rng.pick_str(&["30000", "5000", "1500"])),
            _ => continue,
        };
        return e;
    }
}

/// Sensitive entries for a positive document, or none, plus `extra` benign
/// ones, shuffled together. `allowed` limits the kinds.
fn config_entries(g: &mut Gen<'_>, allowed: &[&'static str], extra: usize) -> Vec<Entry> {
    let mut sensitive: Vec<Entry> = Vec::new();
    if g.positive {
        let n = g.rng.range(3, 7);
        for k in g.pick_kinds(allowed, n) {
            let aws = k == AWS_ACCESS_KEY_ID || k == AWS_SECRET_ACCESS_KEY;
            if aws && sensitive.iter().any(|e| e.key.starts_with("aws_")) {
                continue;
            }
            // A key used twice would make the file ambiguous: draw again.
            for _ in 0..5 {
                let list = entries_for(g, k);
                if list
                    .iter()
                    .all(|e| sensitive.iter().all(|s| s.key != e.key))
                {
                    sensitive.extend(list);
                    break;
                }
            }
        }
    }
    let aws = sensitive.iter().any(|e| e.key.starts_with("aws_"));
    let mut benign: Vec<Entry> = Vec::new();
    while benign.len() < extra {
        let e = benign_entry(g, !aws);
        let used = sensitive.iter().chain(&benign).any(|s| s.key == e.key);
        if !used {
            benign.push(e);
        }
    }
    // Merge, keeping the order within each list (an AWS pair stays together).
    let mut out = Vec::new();
    while !sensitive.is_empty() || !benign.is_empty() {
        let take_sensitive = !sensitive.is_empty() && (benign.is_empty() || g.chance(50));
        if take_sensitive {
            out.push(sensitive.remove(0));
        } else {
            out.push(benign.remove(0));
        }
    }
    out
}

// ---------------------------------------------------------------- renderers

fn render_env(g: &mut Gen<'_>, e: &Entry, export: bool) {
    let quote = e.has_pem() || e.needs_quotes() || g.chance(20);
    if export {
        g.s("export ");
    }
    g.s(&e.key.to_uppercase()).s("=");
    if quote {
        g.s("\"");
    }
    emit(g, &e.value, Pem::Escaped);
    if quote {
        g.s("\"");
    }
    g.s("\n");
}

fn render_yaml(g: &mut Gen<'_>, e: &Entry, indent: usize, upper: bool) {
    let pad = " ".repeat(indent);
    let key = if upper {
        e.key.to_uppercase()
    } else {
        e.key.clone()
    };
    g.s(&pad).s(&key).s(":");
    if e.has_pem() {
        g.s(" |\n").s(&" ".repeat(indent + 2));
        emit(g, &e.value, Pem::Indented(indent + 2));
        g.s("\n");
        return;
    }
    let quote = if e.raw {
        ""
    } else {
        g.rng.pick_str(&["", "", "", "\"", "'"])
    };
    g.s(" ").s(quote);
    emit(g, &e.value, Pem::Plain);
    g.s(quote).s("\n");
}

fn render_ini(g: &mut Gen<'_>, e: &Entry) {
    g.s(&e.key).s(" = ");
    emit(g, &e.value, Pem::Plain);
    g.s("\n");
}

fn render_json(g: &mut Gen<'_>, entries: &[Entry], indent: usize) {
    let pad = " ".repeat(indent);
    for (i, e) in entries.iter().enumerate() {
        g.s(&pad).s("\"").s(&e.key).s("\": ");
        if e.raw {
            emit(g, &e.value, Pem::Escaped);
        } else {
            g.s("\"");
            emit(g, &e.value, Pem::Escaped);
            g.s("\"");
        }
        g.s(if i + 1 < entries.len() { ",\n" } else { "\n" });
    }
}

// ---------------------------------------------------------------- templates

/// A `.env` file (or a shell profile of `export`s).
pub fn env_file(g: &mut Gen<'_>) {
    let export = g.chance(20);
    match g.rng.below(4) {
        0 => {
            g.s("# .env.production\n");
        }
        1 => {
            g.s("# generated by ops on ");
            miss(g, near::DATE);
            g.s(" -- do not commit\n");
        }
        2 => {
            g.s("$ cat .env\n");
        }
        _ => {}
    }
    g.one_of(&[
        "NODE_ENV=production\n",
        "APP_ENV=staging\n",
        "RUST_LOG=info\n",
        "DJANGO_SETTINGS_MODULE=app.settings.prod\n",
    ]);
    let extra = if g.positive {
        g.rng.range(1, 2)
    } else {
        g.rng.range(3, 5)
    };
    let entries = config_entries(g, &CONFIG_KINDS, extra);
    for e in &entries {
        render_env(g, e, export);
    }
}

fn section_for(key: &str) -> &'static str {
    if key.starts_with("aws_") {
        "aws"
    } else if key.contains("stripe") || key == "webhook_secret" {
        "payments"
    } else if key.contains("slack") || key == "bot_token" {
        "notifications"
    } else if key.contains("github") || key.starts_with("gh_") || key == "ci_token" {
        "ci"
    } else if key.contains("maps") || key.contains("firebase") || key.contains("google") {
        "maps"
    } else if key.contains("email") || key.contains("smtp") || key.contains("from_") {
        "mail"
    } else if key.contains("password")
        || key.contains("passwd")
        || key == "pwd"
        || key.ends_with("_url")
        || key.ends_with("_uri")
    {
        "database"
    } else if key.contains("key") && !key.contains("api_key") {
        "tls"
    } else if key.contains("host")
        || key.contains("ip")
        || key.contains("upstream")
        || key.contains("dns")
        || key.contains("peer")
    {
        "network"
    } else if key.contains("phone") || key.contains("sms") || key == "fax" {
        "contact"
    } else {
        "auth"
    }
}

/// A YAML configuration file, or a docker-compose file.
pub fn yaml_config(g: &mut Gen<'_>) {
    let extra = if g.positive {
        g.rng.range(1, 2)
    } else {
        g.rng.range(3, 5)
    };
    if g.chance(25) {
        // docker-compose: environment variables in YAML.
        let allowed: Vec<&'static str> = CONFIG_KINDS
            .iter()
            .copied()
            .filter(|k| *k != PRIVATE_KEY)
            .collect();
        let entries = config_entries(g, &allowed, extra);
        let (a, b, c) = (g.rng.range(1, 9), g.rng.range(0, 30), g.rng.range(0, 12));
        g.s("services:\n  api:\n    image: acme/api:");
        g.n(near::VERSION, &format!("{a}.{b}.{c}"));
        g.s("\n    ports:\n      - \"8080:8080\"\n    environment:\n");
        for e in entries
            .iter()
            .filter(|e| !e.value.iter().any(|p| matches!(p, Piece::Pem(_))))
        {
            render_yaml(g, e, 6, true);
        }
        return;
    }
    g.one_of(&["# config/production.yaml\n", "# values.yaml\n", "---\n", ""]);
    let entries = config_entries(g, &CONFIG_KINDS, extra);
    g.s("app:\n  name: ")
        .one_of(&["billing-api", "orders", "notifier", "gateway"])
        .s("\n");
    let mut sections: Vec<(&'static str, Vec<Entry>)> = Vec::new();
    for e in entries {
        let is_sensitive = e
            .value
            .iter()
            .any(|p| matches!(p, Piece::L(..) | Piece::Pem(true)));
        let name = if is_sensitive {
            section_for(&e.key)
        } else {
            "app"
        };
        if name == "app" {
            render_yaml(g, &e, 2, false);
        } else if let Some(s) = sections.iter_mut().find(|(n, _)| *n == name) {
            s.1.push(e);
        } else {
            sections.push((name, vec![e]));
        }
    }
    for (name, list) in &sections {
        g.s(name).s(":\n");
        for e in list {
            render_yaml(g, e, 2, false);
        }
    }
}

/// An INI file (AWS credentials, `my.cnf`, `pip.conf` or an application's),
/// or AWS credentials as `aws configure` asks for them or as the console's
/// CSV download gives them.
pub fn ini_config(g: &mut Gen<'_>) {
    match g.rng.below(6) {
        4 => {
            let profile = g.rng.pick_str(&["ci", "prod", "default", "backup"]);
            g.s("$ aws configure --profile ")
                .s(profile)
                .s("\nAWS Access Key ID [None]: ");
            if g.pos(90) {
                let id = values::aws_key_id(g.rng);
                let secret = values::aws_secret(g.rng);
                g.v(AWS_ACCESS_KEY_ID, &id)
                    .s("\nAWS Secret Access Key [None]: ");
                g.v(AWS_SECRET_ACCESS_KEY, &secret);
            } else {
                g.s("\nAWS Secret Access Key [None]: ");
            }
            let region = g.rng.pick_str(&["eu-west-1", "us-east-1", "eu-central-1"]);
            g.s("\nDefault region name [None]: ").s(region);
            g.s("\nDefault output format [None]: json\n");
        }
        5 => {
            let user = g.rng.pick_str(&["ci-deployer", "backup-bot", "terraform"]);
            g.s("$ cat ")
                .s(user)
                .s("_accessKeys.csv\nAccess key ID,Secret access key\n");
            if g.pos(90) {
                let id = values::aws_key_id(g.rng);
                let secret = values::aws_secret(g.rng);
                g.v(AWS_ACCESS_KEY_ID, &id)
                    .s(",")
                    .v(AWS_SECRET_ACCESS_KEY, &secret)
                    .s("\n");
            } else {
                g.s("(key deleted on ");
                miss(g, near::DATE);
                g.s(")\n");
            }
        }
        0 => {
            g.s("# ~/.aws/credentials\n");
            let profiles = g.rng.range(1, 2);
            for i in 0..profiles {
                let name = if i == 0 {
                    "default"
                } else {
                    g.rng.pick_str(&["prod", "ci", "staging"])
                };
                g.s("[").s(name).s("]\n");
                if g.pos(90) {
                    let id = values::aws_key_id(g.rng);
                    let secret = values::aws_secret(g.rng);
                    g.s("aws_access_key_id = ")
                        .v(AWS_ACCESS_KEY_ID, &id)
                        .s("\n");
                    g.s("aws_secret_access_key = ")
                        .v(AWS_SECRET_ACCESS_KEY, &secret)
                        .s("\n");
                } else {
                    g.s("credential_process = /usr/local/bin/aws-vault exec ")
                        .s(name)
                        .s(" --json\n");
                }
                g.s("region = ")
                    .one_of(&["eu-west-1", "us-east-1", "eu-central-1"])
                    .s("\n");
                if i + 1 < profiles {
                    g.s("\n");
                }
            }
        }
        1 => {
            g.s("# /etc/mysql/conf.d/backup.cnf\n[client]\nuser = backup\n");
            if g.pos(90) {
                let pw = values::password(g.rng, false);
                g.one_of(&["password = ", "password=", "passwd = "])
                    .v(PASSWORD, &pw)
                    .s("\n");
            } else {
                g.s("password = ").n(near::MASKED, "********").s("\n");
            }
            g.s("host = ");
            if g.pos(70) {
                let ip = values::ipv4(g.rng);
                g.v(IP_ADDRESS, &ip);
            } else {
                g.s("db-primary.internal");
            }
            g.s("\nport = 3306\n\n[mysqldump]\nsingle-transaction\nmax_allowed_packet = 64M\n");
        }
        2 => {
            g.s("# ~/.config/pip/pip.conf\n[global]\ntimeout = 60\nindex-url = https://");
            if g.pos(90) {
                let pw = values::password(g.rng, true);
                g.s("deploy:").v(PASSWORD, &pw).s("@");
            }
            let domain = values::domain(g.rng);
            g.s("pypi.").s(domain).s("/simple/\n");
            g.s("trusted-host = pypi.internal\n");
            if g.chance(50) {
                g.s("# pinned: ");
                miss(g, near::PACKAGE_AT_VERSION);
                g.s("\n");
            }
        }
        _ => {
            g.s("; app.ini\n[server]\nhttp_port = 3000\n");
            let allowed: Vec<&'static str> = CONFIG_KINDS
                .iter()
                .copied()
                .filter(|k| *k != PRIVATE_KEY)
                .collect();
            let extra = if g.positive {
                g.rng.range(1, 2)
            } else {
                g.rng.range(3, 4)
            };
            let entries = config_entries(g, &allowed, extra);
            g.s("\n[")
                .one_of(&["security", "integrations", "service"])
                .s("]\n");
            for e in &entries {
                render_ini(g, e);
            }
        }
    }
}

/// A JSON configuration file.
pub fn json_config(g: &mut Gen<'_>) {
    let extra = if g.positive {
        g.rng.range(1, 2)
    } else {
        g.rng.range(3, 4)
    };
    let entries = config_entries(g, &CONFIG_KINDS, extra);
    let (a, b, c) = (g.rng.range(0, 9), g.rng.range(0, 40), g.rng.range(0, 20));
    g.s("{\n  \"service\": \"")
        .one_of(&["billing-api", "orders", "notifier"])
        .s("\",\n  \"version\": \"");
    g.n(near::VERSION, &format!("{a}.{b}.{c}"));
    g.s("\",\n  \"");
    g.one_of(&["credentials", "settings", "integrations"])
        .s("\": {\n");
    render_json(g, &entries, 4);
    g.s("  }\n}\n");
}
