//! Near-misses: look-alikes that are not sensitive, their categories, and
//! the stand-ins that replace values in clean documents.

use super::rng::Rng;
use super::values as v;
use crate::corpus::values::luhn_valid;

/// 12–19 digit order or tracking number failing Luhn.
pub const ORDER: &str = "order/tracking number failing Luhn";
/// A UUID.
pub const UUID: &str = "uuid";
/// A git commit hash.
pub const GIT_SHA: &str = "git sha";
/// A sha256 or sha512 digest.
pub const DIGEST: &str = "sha256/sha512 digest";
/// A request, trace or span id.
pub const REQUEST_ID: &str = "request/trace id";
/// A Google OAuth client id.
pub const OAUTH_CLIENT_ID: &str = "google oauth client id";
/// An AWS account id (alone or in an ARN).
pub const AWS_ACCOUNT: &str = "aws account id";
/// A Stripe publishable key.
pub const STRIPE_PUBLISHABLE: &str = "stripe publishable key";
/// `AKIA` + the wrong length.
pub const AKIA_WRONG: &str = "AKIA wrong length";
/// A token prefix with the wrong length.
pub const WRONG_TOKEN: &str = "token prefix, wrong length";
/// Base64 of non-secret data.
pub const BASE64_BLOB: &str = "base64 of public data";
/// Percent-encoded ordinary text.
pub const PERCENT_TEXT: &str = "percent-encoded text";
/// Entity-encoded ordinary text.
pub const ENTITY_TEXT: &str = "entity-encoded text";
/// Prose hard-wrapped between numbers.
pub const WRAPPED_NUMBERS: &str = "hard-wrapped numbers";
/// A product or part code shaped like a phone number.
pub const PRODUCT_CODE: &str = "phone-like product code";
/// An SSN outside the issued ranges.
pub const INVALID_SSN: &str = "invalid ssn";
/// An IBAN with wrong check digits.
pub const BAD_IBAN: &str = "iban with bad check digits";
/// A masked value.
pub const MASKED: &str = "masked value";
/// A placeholder or template variable.
pub const PLACEHOLDER: &str = "placeholder";
/// A version number.
pub const VERSION: &str = "version";
/// An invalid quad or an address spelt as a host name.
pub const INVALID_IP: &str = "invalid ip or ip-like host";
/// A MAC address.
pub const MAC: &str = "mac address";
/// A timestamp or Unix time.
pub const TIMESTAMP: &str = "timestamp";
/// `user@host`, a message id, `package@version`, an `@mention`.
pub const AT_SIGN: &str = "@ without an address";
/// `pass` in prose.
pub const PASS_PROSE: &str = "pass in prose";
/// `max_tokens`, `*_ttl` and friends.
pub const TOKEN_SETTING: &str = "token setting";
/// A public key or certificate.
pub const PUBLIC_KEY: &str = "public key or certificate";
/// A VAT id, BIC or tax number.
pub const BUSINESS_ID: &str = "vat id / bic";
/// A GCP private key id or client id.
pub const KEY_ID: &str = "key id (not a key)";

/// All categories.
pub const ALL: [&str; 29] = [
    ORDER,
    UUID,
    GIT_SHA,
    DIGEST,
    REQUEST_ID,
    OAUTH_CLIENT_ID,
    AWS_ACCOUNT,
    STRIPE_PUBLISHABLE,
    AKIA_WRONG,
    WRONG_TOKEN,
    BASE64_BLOB,
    PERCENT_TEXT,
    ENTITY_TEXT,
    WRAPPED_NUMBERS,
    PRODUCT_CODE,
    INVALID_SSN,
    BAD_IBAN,
    MASKED,
    PLACEHOLDER,
    VERSION,
    INVALID_IP,
    MAC,
    TIMESTAMP,
    AT_SIGN,
    PASS_PROSE,
    TOKEN_SETTING,
    PUBLIC_KEY,
    BUSINESS_ID,
    KEY_ID,
];

/// A digit string of `n` digits, first digit from `first`, failing Luhn.
fn luhn_fail(rng: &mut Rng, first: &[u8], n: usize) -> String {
    loop {
        let s = format!("{}{}", rng.chars(first, 1), rng.digits(n - 1));
        if !luhn_valid(&s) {
            return s;
        }
    }
}

/// A UUID.
pub fn uuid(rng: &mut Rng) -> String {
    format!(
        "{}-{}-4{}-{}{}-{}",
        v::rand(rng, v::HEX, 8),
        v::rand(rng, v::HEX, 4),
        v::rand(rng, v::HEX, 3),
        rng.s(&["8", "9", "a", "b"]),
        v::rand(rng, v::HEX, 3),
        v::rand(rng, v::HEX, 12)
    )
}

/// An AWS account id.
pub fn account(rng: &mut Rng) -> String {
    format!("{}{}", rng.range(1, 9), rng.digits(11))
}

/// A near-miss of category `spec`.
pub fn make(rng: &mut Rng, spec: &str) -> (&'static str, String) {
    match spec {
        "order" => {
            let n = rng.range(12, 19);
            let first: &[u8] = if rng.chance(50) { b"3456" } else { b"1789" };
            let d = luhn_fail(rng, first, n);
            let s = if n == 16 && rng.chance(30) {
                v::card_groups(&d).join(" ")
            } else {
                d
            };
            (ORDER, s)
        }
        "tracking" => (
            ORDER,
            format!(
                "1Z{}{}",
                v::rand(rng, b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789", 6),
                luhn_fail(rng, b"123456789", 10)
            ),
        ),
        "uuid" => (UUID, uuid(rng)),
        "sha" => (GIT_SHA, v::rand(rng, v::HEX, 40)),
        "sha7" => (GIT_SHA, v::rand(rng, v::HEX, 7)),
        "sha256" => (DIGEST, v::rand(rng, v::HEX, 64)),
        "sha256p" => (DIGEST, format!("sha256:{}", v::rand(rng, v::HEX, 64))),
        "sha512" => (DIGEST, format!("sha512-{}==", v::rand(rng, v::B64, 86))),
        "reqid" => {
            let s = match rng.below(4) {
                0 => format!("req_{}", v::rand(rng, v::ALNUM, 14)),
                1 => v::rand(rng, b"0123456789ABCDEF", 16),
                2 => format!(
                    "{}-{}",
                    v::rand(rng, v::HEX, 16),
                    rng.s(&["FRA", "CDG", "AMS", "IAD"])
                ),
                _ => format!(
                    "Root=1-{}-{}",
                    v::rand(rng, v::HEX, 8),
                    v::rand(rng, v::HEX, 24)
                ),
            };
            (REQUEST_ID, s)
        }
        "trace" => (REQUEST_ID, v::rand(rng, v::HEX, 32)),
        "oauth" => (
            OAUTH_CLIENT_ID,
            format!(
                "{}{}-{}.apps.googleusercontent.com",
                rng.range(1, 9),
                rng.digits(11),
                v::rand(rng, b"abcdefghijklmnopqrstuvwxyz0123456789", 32)
            ),
        ),
        "acct" => (AWS_ACCOUNT, account(rng)),
        "arn" => {
            let a = account(rng);
            let s = match rng.below(4) {
                0 => format!(
                    "arn:aws:iam::{a}:role/{}",
                    rng.s(&["deploy", "ci-runner", "ReadOnly", "lambda-exec"])
                ),
                1 => format!(
                    "arn:aws:iam::{a}:user/{}",
                    rng.s(&["jane", "terraform", "svc-backup"])
                ),
                2 => format!(
                    "arn:aws:sns:{}:{a}:alerts",
                    rng.s(&["eu-west-1", "us-east-1"])
                ),
                _ => format!("arn:aws:lambda:eu-central-1:{a}:function:resize-images"),
            };
            (AWS_ACCOUNT, s)
        }
        "pk" => (STRIPE_PUBLISHABLE, v::stripe_publishable(rng)),
        "akia_bad" => {
            let n = *rng.pick(&[12usize, 14, 18, 20]);
            (AKIA_WRONG, format!("AKIA{}", v::rand(rng, v::BASE32, n)))
        }
        "short_token" => {
            let s = match rng.below(8) {
                0 => format!("ghp_{}", v::rand(rng, v::ALNUM, 20)),
                1 => format!("sk-ant-{}", v::rand(rng, v::ALNUM, 10)),
                2 => format!("glpat-{}", v::rand(rng, v::ALNUM, 6)),
                3 => format!("npm_{}", v::rand(rng, v::ALNUM, 12)),
                4 => format!("xoxb-{}", rng.digits(3)),
                5 => format!("sk_live_{}", v::rand(rng, v::ALNUM, 8)),
                6 => format!("AIza{}", v::rand(rng, v::ALNUM, 12)),
                _ => format!("pypi-{}", v::rand(rng, v::ALNUM, 8)),
            };
            (WRONG_TOKEN, s)
        }
        "b64img" => (
            BASE64_BLOB,
            format!(
                "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA{}",
                v::rand(rng, v::B64, 60)
            ),
        ),
        "b64proto" => (BASE64_BLOB, format!("CgZ{}==", v::rand(rng, v::B64, 41))),
        "pct_text" => {
            let s = rng.s(&[
                "caf%C3%A9%20au%20lait",
                "redirect_uri=https%3A%2F%2Fapp.acme-corp.com%2Fauth%2Fcallback",
                "Re%3A%20Rechnung%20Nr.%2012%2F2024",
                "q=m%C3%BCller%20stra%C3%9Fe%2012",
                "return_to=%2Fsettings%2Fprofile%3Ftab%3Dsecurity",
                "name=Jos%C3%A9%20Garc%C3%ADa",
            ]);
            (PERCENT_TEXT, s.to_owned())
        }
        "ent_text" => {
            let s = rng.s(&[
                "Caf&eacute; &amp; Bar",
                "&lt;b&gt;Hinweis&lt;/b&gt;",
                "&copy; 2024 Acme Corp",
                "&quot;M&uuml;ller&quot;",
                "prix&nbsp;:&nbsp;42&nbsp;&euro;",
                "R&eacute;sum&eacute; &#8211; Lyon",
            ]);
            (ENTITY_TEXT, s.to_owned())
        }
        "wrapped" => {
            let s = match rng.below(4) {
                0 => format!("see ticket\n  {}", rng.range(10_000, 99_999)),
                1 => format!("in {}\n> {} cases", rng.range(2019, 2025), rng.range(2, 99)),
                2 => format!("Rechnung Nr.\n    {}", rng.range(100_000, 999_999)),
                _ => format!(
                    "batch {}\n\t{} items",
                    rng.range(1000, 9999),
                    rng.range(10, 999)
                ),
            };
            (WRAPPED_NUMBERS, s)
        }
        "product" => {
            let s = match rng.below(4) {
                0 => format!("SKU {}-{}-{}", rng.digits(3), rng.digits(4), rng.digits(2)),
                1 => format!(
                    "Art.-Nr. {}.{}.{}",
                    rng.digits(3),
                    rng.digits(3),
                    rng.digits(2)
                ),
                2 => format!("PN {}-{}-{}", rng.digits(4), rng.digits(3), rng.digits(3)),
                _ => format!("MPN {}/{}", rng.digits(5), rng.digits(4)),
            };
            (PRODUCT_CODE, s)
        }
        "invalid_ssn" => {
            let (a, g, s) = match rng.below(4) {
                0 => (0, rng.range(1, 99), rng.range(1, 9999)),
                1 => (666, rng.range(1, 99), rng.range(1, 9999)),
                2 => (rng.range(900, 999), rng.range(1, 99), rng.range(1, 9999)),
                _ => (rng.range(1, 665), 0, rng.range(1, 9999)),
            };
            (INVALID_SSN, format!("{a:03}-{g:02}-{s:04}"))
        }
        "bad_iban" => {
            let f = v::iban_flat(rng, true);
            let s = if rng.chance(50) {
                v::iban_groups(&f).join(" ")
            } else {
                f
            };
            (BAD_IBAN, s)
        }
        "masked_card" => (
            MASKED,
            match rng.below(3) {
                0 => format!("**** **** **** {}", rng.digits(4)),
                1 => format!("XXXX-XXXX-XXXX-{}", rng.digits(4)),
                _ => format!("•••• {}", rng.digits(4)),
            },
        ),
        "masked" => (
            MASKED,
            rng.s(&[
                "********",
                "[REDACTED]",
                "***",
                "<hidden>",
                "[FILTERED]",
                "xxxxxxxx",
                "•••••••",
            ])
            .to_owned(),
        ),
        "placeholder" => (
            PLACEHOLDER,
            rng.s(&[
                "${DB_PASSWORD}",
                "{{ .Values.password }}",
                "$API_KEY",
                "<your-api-key>",
                "%(secret)s",
                "${{ secrets.NPM_TOKEN }}",
                "{token}",
            ])
            .to_owned(),
        ),
        "version" => {
            let s = match rng.below(3) {
                0 => format!("v{}", v::version(rng)),
                1 => format!(
                    "version {}.{}.{}.{}",
                    rng.range(1, 12),
                    rng.range(0, 9),
                    rng.range(0, 9),
                    rng.range(1, 99)
                ),
                _ => v::version(rng),
            };
            (VERSION, s)
        }
        "bad_ip" => {
            let s = match rng.below(3) {
                0 => format!(
                    "{}.{}.{}.{}",
                    rng.range(256, 999),
                    rng.below(256),
                    rng.below(256),
                    rng.below(256)
                ),
                1 => format!(
                    "ip-10-{}-{}-{}.{}.compute.internal",
                    rng.below(256),
                    rng.below(256),
                    rng.range(1, 254),
                    rng.s(&["eu-west-1", "ec2"])
                ),
                _ => format!(
                    "{}.{}.{}",
                    rng.range(1, 9),
                    rng.range(0, 20),
                    rng.range(0, 99)
                ),
            };
            (INVALID_IP, s)
        }
        "mac" => {
            let parts: Vec<String> = (0..6).map(|_| v::rand(rng, v::HEX, 2)).collect();
            (MAC, parts.join(":"))
        }
        "unix" => (
            TIMESTAMP,
            (1_690_000_000 + rng.below(70_000_000)).to_string(),
        ),
        "ts" => (TIMESTAMP, v::iso(rng)),
        "mention" => (AT_SIGN, format!("@{}", rng.pick(v::FIRST).1)),
        "slack_hook" => (
            MASKED,
            format!(
                "https://hooks.slack.com/services/T0{}/B0{}/XXXXXXXX",
                v::rand(rng, v::HEX, 8),
                v::rand(rng, v::HEX, 8)
            ),
        ),
        "git_ssh" => (
            AT_SIGN,
            rng.s(&["git@github.com", "git@gitlab.com", "git@bitbucket.org"])
                .to_owned(),
        ),
        "user_host" => (
            AT_SIGN,
            format!(
                "{}@{}",
                rng.s(&["root", "deploy", "jane", "git", "postgres"]),
                rng.s(&["localhost", "laptop", "web01", "build-agent-3"])
            ),
        ),
        "pkg" => (
            AT_SIGN,
            format!(
                "{}@{}",
                rng.s(&[
                    "@types/node",
                    "react",
                    "lodash",
                    "@aws-sdk/client-s3",
                    "left-pad"
                ]),
                v::version(rng)
            ),
        ),
        "msgid" => (
            AT_SIGN,
            format!(
                "<{}@{}>",
                uuid(rng),
                rng.s(&["mail.gmail.com", "eurprd04.prod.outlook.com", "mx.web.de"])
            ),
        ),
        "pass_prose" => (
            PASS_PROSE,
            rng.s(&[
                "did the tests pass",
                "please pass this on",
                "the build should pass now",
                "I'll pass on that",
                "boarding pass",
                "pass it to the team",
            ])
            .to_owned(),
        ),
        "token_setting" => (
            TOKEN_SETTING,
            rng.s(&[
                "max_tokens=4096",
                "token_count: 12",
                "access_token_ttl: 3600",
                "password_min_length = 12",
                "secret_rotation_days: 90",
                "refresh_token_lifetime=86400",
                "\"max_tokens\": 1024",
            ])
            .to_owned(),
        ),
        "public_pem" => (PUBLIC_KEY, v::public_pem_lines(rng).join("\n")),
        "ssh_pub" => (
            PUBLIC_KEY,
            format!(
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{} {}@{}",
                v::rand(rng, v::B64, 43),
                rng.pick(v::FIRST).1,
                rng.s(&["laptop", "mbp", "build"])
            ),
        ),
        "vat" => (
            BUSINESS_ID,
            match rng.below(3) {
                0 => format!("DE{}", rng.digits(9)),
                1 => format!("FR{}{}", rng.digits(2), rng.digits(9)),
                _ => rng
                    .s(&["COBADEFFXXX", "DEUTDEDBBER", "BNPAFRPPXXX", "INGBNL2A"])
                    .to_owned(),
            },
        ),
        "key_id" => (KEY_ID, v::rand(rng, v::HEX, 40)),
        "client_id" => (KEY_ID, format!("1{}", rng.digits(20))),
        other => panic!("unknown near-miss `{other}`"),
    }
}

/// What a clean document has where another has a value of `spec`.
pub fn stand_in(rng: &mut Rng, spec: &str) -> (&'static str, String) {
    let masked_or_placeholder = |rng: &mut Rng| {
        if rng.chance(50) {
            make(rng, "masked")
        } else {
            make(rng, "placeholder")
        }
    };
    match spec {
        "card" | "card_plain" => {
            if rng.chance(50) {
                make(rng, "order")
            } else {
                make(rng, "masked_card")
            }
        }
        "ssn" | "ssn_plain" => {
            if rng.chance(50) {
                make(rng, "invalid_ssn")
            } else {
                (MASKED, format!("***-**-{}", rng.digits(4)))
            }
        }
        "iban" | "iban_plain" => {
            if rng.chance(60) {
                make(rng, "bad_iban")
            } else {
                (
                    MASKED,
                    format!("DE** **** **** **** **{} {}", rng.digits(2), rng.digits(2)),
                )
            }
        }
        "email" | "sa_email" => match rng.below(4) {
            0 => make(rng, "user_host"),
            1 => (PLACEHOLDER, "{{ user.email }}".to_owned()),
            2 => (MASKED, "[email protected]".to_owned()),
            _ => (
                MASKED,
                format!(
                    "{}***@{}***.com",
                    rng.chars(b"abcdejkmst", 1),
                    rng.chars(b"gwyo", 1)
                ),
            ),
        },
        "phone" | "phone_plain" => (
            MASKED,
            rng.s(&[
                "+1 (***) ***-0100",
                "+49 *** ****567",
                "(XXX) XXX-XXXX",
                "+33 * ** ** ** 89",
            ])
            .to_owned(),
        ),
        "ip" | "ipv4" => make(rng, "bad_ip"),
        "akid" => make(rng, "akia_bad"),
        "github" | "slack" | "google" | "anthropic" | "openai" | "gitlab" | "npm" | "pypi" => {
            if rng.chance(50) {
                let prefix = match spec {
                    "github" => "ghp_",
                    "slack" => "xoxb-",
                    "google" => "AIza",
                    "anthropic" => "sk-ant-api03-",
                    "openai" => "sk-proj-",
                    "gitlab" => "glpat-",
                    "npm" => "npm_",
                    _ => "pypi-",
                };
                (
                    MASKED,
                    format!(
                        "{prefix}{}",
                        rng.s(&["********", "…", "XXXXXXXX", "***redacted***"])
                    ),
                )
            } else {
                masked_or_placeholder(rng)
            }
        }
        "stripe" => make(rng, "pk"),
        "jwt" | "bearer" => (
            PLACEHOLDER,
            rng.s(&[
                "${ACCESS_TOKEN}",
                "<token>",
                "$TOKEN",
                "{{token}}",
                "<redacted>",
            ])
            .to_owned(),
        ),
        "pem" | "gcp_pem" | "pem_alt" | "pem_yaml" | "pem_json" | "pem_quoted" => {
            make(rng, "public_pem")
        }
        "azure_account" | "azure_sas" | "entra" => (
            PLACEHOLDER,
            rng.s(&["<storage-key>", "${AZURE_KEY}", "${AZURE_CLIENT_SECRET}"])
                .to_owned(),
        ),
        _ => masked_or_placeholder(rng),
    }
}
