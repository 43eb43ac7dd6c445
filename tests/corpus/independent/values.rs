//! Value generators of the independent corpus: well-formed sensitive values
//! of every kind (checksums from `corpus::values`), and the names, hosts and
//! dates around them.

use super::rng::Rng;
use crate::corpus::values as facts;

/// Letters and digits.
pub const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Letters, digits, `-` and `_`.
pub const URLSAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Standard base64.
pub const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// Lower-case hex.
pub const HEX: &[u8] = b"0123456789abcdef";
/// AWS key id alphabet.
pub const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Microsoft Entra client secret alphabet.
pub const ENTRA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_~.-";
/// Lower-case letters and digits.
pub const LOWNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Longest run of ASCII digits in `s`.
pub fn max_digit_run(s: &str) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in s.chars() {
        if c.is_ascii_digit() {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// `n` characters of `alphabet`, no digit run over 6, not starting or
/// ending with punctuation.
pub fn rand(rng: &mut Rng, alphabet: &[u8], n: usize) -> String {
    loop {
        let s = rng.chars(alphabet, n);
        let punct = |c: char| !c.is_ascii_alphanumeric();
        if max_digit_run(&s) <= 6 && !s.starts_with(punct) && !s.ends_with(punct) {
            return s;
        }
    }
}

// ------------------------------------------------------------ people, places

/// Given names: as written, and in addresses.
pub const FIRST: &[(&str, &str)] = &[
    ("Jane", "jane"),
    ("Zoë", "zoe"),
    ("José", "jose"),
    ("François", "francois"),
    ("Łukasz", "lukasz"),
    ("Søren", "soren"),
    ("Priya", "priya"),
    ("Mei", "mei"),
    ("Ahmed", "ahmed"),
    ("Lena", "lena"),
    ("Mateo", "mateo"),
    ("Chloé", "chloe"),
    ("Jürgen", "juergen"),
    ("Aoife", "aoife"),
    ("Kwame", "kwame"),
    ("Olga", "olga"),
    ("Diego", "diego"),
    ("Inès", "ines"),
    ("Tomás", "tomas"),
    ("Hannah", "hannah"),
    ("Noah", "noah"),
    ("Yuki", "yuki"),
    ("Fatima", "fatima"),
    ("Björn", "bjoern"),
];
/// Family names: as written, and in addresses.
pub const LAST: &[(&str, &str)] = &[
    ("Müller", "mueller"),
    ("Doe", "doe"),
    ("García", "garcia"),
    ("Dubois", "dubois"),
    ("Kowalski", "kowalski"),
    ("Nguyen", "nguyen"),
    ("Okafor", "okafor"),
    ("Schmidt", "schmidt"),
    ("Rossi", "rossi"),
    ("Janssen", "janssen"),
    ("O'Brien", "obrien"),
    ("Svensson", "svensson"),
    ("Tanaka", "tanaka"),
    ("Fernández", "fernandez"),
    ("Lefèvre", "lefevre"),
    ("Novak", "novak"),
    ("Patel", "patel"),
    ("Weber", "weber"),
    ("Moreau", "moreau"),
    ("Costa", "costa"),
];
/// Mail domains.
pub const DOMAINS: &[&str] = &[
    "acme-corp.com",
    "globex.io",
    "initech.net",
    "contoso.com",
    "fabrikam.de",
    "northwind-traders.co.uk",
    "umbrella-labs.fr",
    "hooli.xyz",
    "piedpiper.app",
    "gmail.com",
    "outlook.com",
    "web.de",
    "gmx.net",
    "orange.fr",
    "yahoo.es",
    "posteo.de",
    "proton.me",
    "wayne-ent.com",
    "stark-industries.eu",
    "tyrell.co",
    "mail.example.org",
];
/// Host names (never IP addresses).
pub const HOSTS: &[&str] = &[
    "db-prod-01.internal",
    "api.acme-corp.com",
    "redis.default.svc.cluster.local",
    "pg-main.c9akciq32.eu-west-1.rds.amazonaws.com",
    "mysql-replica-2",
    "web01",
    "app-7f9c",
    "kafka-0.kafka-headless",
    "mq.globex.io",
    "smtp.sendgrid.net",
    "ldap.corp.initech.net",
    "build-agent-3",
    "vault.internal",
    "ci.fabrikam.de",
    "edge-fra-2",
];
/// Service names.
pub const SERVICES: &[&str] = &[
    "checkout",
    "billing-api",
    "auth",
    "notifier",
    "ledger",
    "search",
    "gateway",
    "payments",
    "user-svc",
    "reporting",
    "inventory",
    "mailer",
];
/// Company names.
pub const COMPANIES: &[&str] = &[
    "Acme Corp",
    "Globex GmbH",
    "Initech SARL",
    "Contoso Ltd",
    "Fabrikam AG",
    "Northwind Traders",
    "Umbrella Labs",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Tyrell S.L.",
];
/// Cities.
pub const CITIES: &[&str] = &[
    "Berlin",
    "München",
    "Paris",
    "Lyon",
    "Madrid",
    "Sevilla",
    "London",
    "Dublin",
    "Zürich",
    "Wien",
    "Kraków",
    "Amsterdam",
    "Bruxelles",
    "Milano",
    "Austin",
    "Toronto",
];

/// A person's display name and the ASCII parts for an address.
pub fn person(rng: &mut Rng) -> (String, &'static str, &'static str) {
    let (f, fa) = *rng.pick(FIRST);
    let (l, la) = *rng.pick(LAST);
    (format!("{f} {l}"), fa, la)
}

/// An e-mail address.
pub fn email(rng: &mut Rng) -> String {
    let (_, f, l) = person(rng);
    let d = rng.s(DOMAINS);
    let local = match rng.below(8) {
        0 => format!("{f}.{l}"),
        1 => format!("{}{l}", &f[..1]),
        2 => format!("{f}_{l}"),
        3 => format!(
            "{f}+{}",
            rng.s(&["billing", "test", "news", "github", "shop"])
        ),
        4 => format!("{f}.{l}{}", rng.range(1, 99)),
        5 => rng
            .s(&[
                "support",
                "billing",
                "it-ops",
                "accounts",
                "noreply",
                "datenschutz",
                "rh",
            ])
            .to_owned(),
        6 => format!("{}.{l}", &f[..1]),
        _ => format!("{f}{}", rng.range(70, 99)),
    };
    format!("{local}@{d}")
}

/// A GCP service account address.
pub fn sa_email(rng: &mut Rng, project: &str) -> String {
    let name = rng.s(&[
        "deployer",
        "ci-runner",
        "backup",
        "etl-loader",
        "terraform",
        "metrics",
    ]);
    format!("{name}@{project}.iam.gserviceaccount.com")
}

/// A GCP project id.
pub fn project(rng: &mut Rng) -> String {
    format!(
        "{}-{}-{}",
        rng.s(&["acme", "globex", "shop", "data", "ml"]),
        rng.s(&["prod", "staging", "dev", "analytics"]),
        rng.range(100_000, 999_999)
    )
}

// ------------------------------------------------------------ cards

/// Card digits of a random brand, Luhn-valid.
pub fn card_digits(rng: &mut Rng) -> String {
    let (prefix, len) = match rng.below(8) {
        0..=2 => ("4".to_owned(), 16),
        3 => (format!("5{}", rng.range(1, 5)), 16),
        4 => (format!("{}", rng.range(2221, 2720)), 16),
        5 => (rng.s(&["34", "37"]).to_owned(), 15),
        6 => (rng.s(&["6011", "65"]).to_owned(), 16),
        _ => ("62".to_owned(), 19),
    };
    loop {
        let mut d = prefix.clone();
        d.push_str(&rng.digits(len - 1 - prefix.len()));
        let c = facts::luhn_digit(&d);
        d.push(c);
        if !d.contains("0000000") {
            return d;
        }
    }
}

/// Groups of `digits`: 4-6-5 for 15, 4-4-4-4-3 for 19, 4-4-4-4 otherwise.
pub fn card_groups(digits: &str) -> Vec<String> {
    let sizes: &[usize] = match digits.len() {
        15 => &[4, 6, 5],
        19 => &[4, 4, 4, 4, 3],
        _ => &[4, 4, 4, 4],
    };
    let mut out = Vec::new();
    let mut at = 0;
    for n in sizes {
        out.push(digits[at..at + n].to_owned());
        at += n;
    }
    out
}

/// A card number grouped with spaces or dashes.
pub fn card(rng: &mut Rng) -> String {
    let d = card_digits(rng);
    let sep = if rng.chance(75) { " " } else { "-" };
    card_groups(&d).join(sep)
}

// ------------------------------------------------------------ SSN, IBAN, phone

/// A valid SSN with `sep` between its parts.
pub fn ssn(rng: &mut Rng, sep: &str) -> String {
    loop {
        let (a, g, s) = (rng.range(1, 899), rng.range(1, 99), rng.range(1, 9999));
        if facts::ssn_valid(a as u32, g as u32, s as u32) && (a, g, s) != (123, 45, 6789) {
            return format!("{a:03}{sep}{g:02}{sep}{s:04}");
        }
    }
}

const IBAN_PATTERNS: &[(&str, &str)] = &[
    ("DE", "nnnnnnnnnnnnnnnnnn"),
    ("GB", "aaaannnnnnnnnnnnnn"),
    ("FR", "nnnnnnnnnnnnnnnnnnnnnnn"),
    ("ES", "nnnnnnnnnnnnnnnnnnnn"),
    ("IT", "annnnnnnnnnnnnnnnnnnnnn"),
    ("NL", "aaaannnnnnnnnn"),
    ("BE", "nnnnnnnnnnnn"),
    ("CH", "nnnnnnnnnnnnnnnnn"),
    ("AT", "nnnnnnnnnnnnnnnn"),
    ("PL", "nnnnnnnnnnnnnnnnnnnnnnnn"),
];

/// A valid IBAN, contiguous; `bad` gives it wrong check digits.
pub fn iban_flat(rng: &mut Rng, bad: bool) -> String {
    let &(country, pattern) = rng.pick(IBAN_PATTERNS);
    let mut bban = String::new();
    let banks = ["NWBK", "BARC", "INGB", "RABO", "ABNA", "HBUK"];
    let mut letters = 0;
    for p in pattern.chars() {
        if p == 'a' {
            letters += 1;
        } else {
            break;
        }
    }
    if letters == 4 {
        bban.push_str(rng.s(&banks));
    } else if letters == 1 {
        bban.push_str(&rng.chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 1));
    }
    bban.push_str(&rng.digits(pattern.len() - letters));
    let check = 98 - facts::mod97(&format!("{bban}{country}00"));
    let check = if bad {
        (check + rng.range(1, 40) as u32) % 97 + 2
    } else {
        check
    };
    let flat = format!("{country}{check:02}{bban}");
    if bad && facts::iban_valid(&flat) {
        return format!("{country}{:02}{bban}", (check + 1) % 97 + 2);
    }
    flat
}

/// Groups of four of an IBAN.
pub fn iban_groups(flat: &str) -> Vec<String> {
    flat.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

/// A valid IBAN in groups of four.
pub fn iban(rng: &mut Rng) -> String {
    iban_groups(&iban_flat(rng, false)).join(" ")
}

/// A phone number with separators, as a list of its groups and the
/// separator between them.
pub fn phone_parts(rng: &mut Rng) -> (Vec<String>, &'static str) {
    let nanp = || ();
    let _ = nanp;
    let area = format!("{}{}", rng.range(2, 9), rng.digits(2));
    let exch = format!("{}{}", rng.range(2, 9), rng.digits(2));
    let line = rng.digits(4);
    match rng.below(12) {
        0 => (vec![format!("({area})"), format!("{exch}-{line}")], " "),
        1 => (vec![area, exch, line], "-"),
        2 => (vec![area, exch, line], "."),
        3 => (vec!["+1".into(), area, exch, line], " "),
        4 => (vec!["+1".into(), area, exch, line], "-"),
        5 => (
            vec!["+44".into(), "20".into(), rng.digits(4), rng.digits(4)],
            " ",
        ),
        6 => (vec![format!("07{}", rng.digits(3)), rng.digits(6)], " "),
        7 => (
            vec![
                "+49".into(),
                rng.s(&["30", "89", "40", "151", "171"]).into(),
                rng.digits(7),
            ],
            " ",
        ),
        8 => (
            vec![
                format!("0{}", rng.s(&["30", "89", "40", "221"])),
                rng.digits(7),
            ],
            "-",
        ),
        9 => (
            vec![
                format!("0{}", rng.range(1, 7)),
                rng.digits(2),
                rng.digits(2),
                rng.digits(2),
                rng.digits(2),
            ],
            " ",
        ),
        10 => (
            vec![
                "+33".into(),
                rng.range(1, 7).to_string(),
                rng.digits(2),
                rng.digits(2),
                rng.digits(2),
                rng.digits(2),
            ],
            " ",
        ),
        _ => (
            vec![
                "+34".into(),
                format!("{}{}", rng.s(&["6", "9"]), rng.digits(2)),
                rng.digits(3),
                rng.digits(3),
            ],
            " ",
        ),
    }
}

/// A phone number with separators.
pub fn phone(rng: &mut Rng) -> String {
    let (parts, sep) = phone_parts(rng);
    parts.join(sep)
}

/// A phone number without separators, sometimes with a leading `+`.
pub fn phone_plain(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => format!("+1{}{}{}", rng.range(2, 9), rng.digits(2), rng.digits(7)),
        1 => format!("{}{}555{}", rng.range(2, 9), rng.digits(2), rng.digits(4)),
        2 => format!("0{}{}", rng.s(&["30", "89", "40"]), rng.digits(8)),
        3 => format!("+4915{}", rng.digits(9)),
        _ => format!("+33{}{}", rng.range(1, 7), rng.digits(8)),
    }
}

// ------------------------------------------------------------ IP

/// An IPv4 address (private, documentation or public ranges, or loopback).
pub fn ipv4(rng: &mut Rng) -> String {
    match rng.below(7) {
        0 => format!(
            "10.{}.{}.{}",
            rng.below(256),
            rng.below(256),
            rng.range(1, 254)
        ),
        1 => format!("192.168.{}.{}", rng.below(256), rng.range(1, 254)),
        2 => format!(
            "172.{}.{}.{}",
            rng.range(16, 31),
            rng.below(256),
            rng.range(1, 254)
        ),
        3 => format!("203.0.113.{}", rng.range(1, 254)),
        4 => "127.0.0.1".to_owned(),
        _ => format!(
            "{}.{}.{}.{}",
            rng.s(&["34", "52", "81", "88", "91", "185", "213", "46", "151"]),
            rng.below(256),
            rng.below(256),
            rng.range(1, 254)
        ),
    }
}

/// An IPv6 address.
pub fn ipv6(rng: &mut Rng) -> String {
    let g = |rng: &mut Rng| format!("{:x}", rng.range(1, 0xffff));
    match rng.below(4) {
        0 => format!("2001:db8:{}:{}::{}", g(rng), g(rng), g(rng)),
        1 => format!("fe80::{}:{}:{}:{}", g(rng), g(rng), g(rng), g(rng)),
        2 => format!(
            "2a02:{}:{}:{}:{}:{}:{}:{}",
            g(rng),
            g(rng),
            g(rng),
            g(rng),
            g(rng),
            g(rng),
            g(rng)
        ),
        _ => "::1".to_owned(),
    }
}

/// An IPv4 (mostly) or IPv6 address.
pub fn ip(rng: &mut Rng) -> String {
    if rng.chance(80) { ipv4(rng) } else { ipv6(rng) }
}

// ------------------------------------------------------------ secrets

/// An AWS access key id.
pub fn aws_key_id(rng: &mut Rng) -> String {
    format!(
        "{}{}",
        rng.s(&["AKIA", "AKIA", "ASIA"]),
        rand(rng, BASE32, 16)
    )
}

/// An AWS secret access key (40 of base64).
pub fn aws_secret(rng: &mut Rng) -> String {
    rand(rng, B64, 40)
}

/// An AWS secret key holding a `/` or `+` (for percent and JSON escapes).
pub fn aws_secret_slash(rng: &mut Rng) -> String {
    loop {
        let s = aws_secret(rng);
        if s[1..39].contains(['/', '+']) {
            return s;
        }
    }
}

fn base62(mut n: u32) -> String {
    const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 {
        out.push(A[(n % 62) as usize]);
        n /= 62;
    }
    while out.len() < 6 {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The checksum suffix of a classic GitHub token body.
pub fn github_checksum(body: &str) -> String {
    base62(facts::crc32(body.as_bytes()))
}

/// A GitHub token, classic (with checksum) or fine-grained.
pub fn github_token(rng: &mut Rng) -> String {
    if rng.chance(20) {
        return format!(
            "github_pat_11{}_{}",
            rand(rng, ALNUM, 20),
            rand(rng, ALNUM, 59)
        );
    }
    let p = rng.s(&["ghp", "ghp", "gho", "ghu", "ghs", "ghr"]);
    let body = rand(rng, ALNUM, 30);
    format!("{p}_{body}{}", github_checksum(&body))
}

/// A Slack token.
pub fn slack_token(rng: &mut Rng) -> String {
    let id = |rng: &mut Rng| {
        let n = rng.range(9, 12);
        format!("{}{}", rng.range(1, 9), rng.digits(n))
    };
    match rng.below(3) {
        0 => format!("xoxb-{}-{}-{}", id(rng), id(rng), rand(rng, ALNUM, 24)),
        1 => format!(
            "xoxp-{}-{}-{}-{}",
            id(rng),
            id(rng),
            id(rng),
            rand(rng, HEX, 32)
        ),
        _ => format!(
            "xapp-1-A{}-{}-{}",
            rand(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 10),
            id(rng),
            rand(rng, HEX, 64)
        ),
    }
}

/// A Stripe secret, restricted or webhook key (never publishable).
pub fn stripe_key(rng: &mut Rng) -> String {
    if rng.chance(15) {
        return format!("whsec_{}", rand(rng, ALNUM, 32));
    }
    let p = rng.s(&["sk_live_", "sk_test_", "sk_live_", "rk_live_", "rk_test_"]);
    let n = if rng.chance(70) { 24 } else { 99 };
    format!("{p}{}", rand(rng, ALNUM, n))
}

/// A Stripe publishable key (public; a near-miss).
pub fn stripe_publishable(rng: &mut Rng) -> String {
    let p = rng.s(&["pk_live_", "pk_test_"]);
    let n = if rng.chance(70) { 24 } else { 99 };
    format!("{p}{}", rand(rng, ALNUM, n))
}

/// A Google API key.
pub fn google_api_key(rng: &mut Rng) -> String {
    format!("AIza{}", rand(rng, URLSAFE, 35))
}

/// Unpadded base64url of `data`.
pub fn b64url(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(URLSAFE[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// A JWT with a random payload.
pub fn jwt(rng: &mut Rng) -> String {
    let header = match rng.below(3) {
        0 => r#"{"alg":"HS256","typ":"JWT"}"#.to_owned(),
        1 => format!(
            r#"{{"alg":"RS256","kid":"{}","typ":"JWT"}}"#,
            rand(rng, LOWNUM, 12)
        ),
        _ => r#"{"typ":"JWT","alg":"ES256"}"#.to_owned(),
    };
    let iat = 1_700_000_000 + rng.below(60_000_000);
    let payload = format!(
        r#"{{"sub":"{}","iat":{iat},"exp":{},"scope":"{}"}}"#,
        rand(rng, LOWNUM, 10),
        iat + 3600,
        rng.s(&["read", "read write", "admin", "orders:read"])
    );
    format!(
        "{}.{}.{}",
        b64url(header.as_bytes()),
        b64url(payload.as_bytes()),
        rand(rng, URLSAFE, 43)
    )
}

/// An opaque bearer token (no specific kind, 20+ characters).
pub fn opaque_token(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => format!("ya29.a0{}", rand(rng, URLSAFE, 60)),
        1 => {
            let n = rng.range(32, 48);
            rand(rng, ALNUM, n)
        }
        2 => format!("v2.local.{}", rand(rng, URLSAFE, 64)),
        _ => format!("at-{}", rand(rng, LOWNUM, 36)),
    }
}

/// A password (no quotes, spaces, `;`, `,`, `&`).
pub fn password(rng: &mut Rng) -> String {
    let words = [
        "Summer",
        "Herbst",
        "Sonnenblume",
        "Mariposa",
        "Soleil",
        "Dragon",
        "Kaffee",
        "Welcome",
        "Orange",
        "Falcon",
        "Tigre",
        "Bleu",
        "Winter",
        "Zebra",
        "Galaxy",
        "Paloma",
    ];
    match rng.below(5) {
        0 => format!(
            "{}{}{}",
            rng.s(&words),
            rng.range(10, 2026),
            rng.s(&["!", "#", "?", "*", "", "$", "."])
        ),
        1 => format!(
            "{}{}{}{}",
            rng.s(&words).to_lowercase(),
            rng.s(&["_", "-", "#", "."]),
            rng.s(&words),
            rng.range(1, 99)
        ),
        2 => {
            let n = rng.range(12, 20);
            rand(rng, ALNUM, n)
        }
        3 => format!(
            "{}-{}-{}-{}",
            rng.s(&["correct", "pferd", "batterie", "mango", "nube"]),
            rng.s(&["horse", "klammer", "verde", "lune"]),
            rng.s(&["battery", "staple", "roca", "piano"]),
            rng.range(1, 99)
        ),
        _ => format!(
            "{}{}{}",
            rand(rng, ALNUM, 6),
            rng.s(&["!", "@", "%", "^", "*", "+", "=", "~"]),
            rand(rng, ALNUM, 6)
        ),
    }
}

/// A password safe in URL user info.
pub fn password_url(rng: &mut Rng) -> String {
    loop {
        let p = password(rng);
        if p.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~!*".contains(c))
        {
            return p;
        }
    }
}

/// A password with characters a form or URL must percent-encode.
pub fn password_special(rng: &mut Rng) -> String {
    format!(
        "{}{}{}{}{}",
        {
            let n = rng.range(3, 6);
            rand(rng, ALNUM, n)
        },
        rng.s(&["@", ":", "!", "#", "/", "+", "="]),
        {
            let n = rng.range(2, 5);
            rand(rng, ALNUM, n)
        },
        rng.s(&["!", "@", "?", ":", "$", "%"]),
        rand(rng, ALNUM, 2)
    )
}

/// A generic secret value (no specific kind).
pub fn secret(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => rand(rng, HEX, 32),
        1 => rand(rng, HEX, 64),
        2 => {
            let n = rng.range(24, 40);
            rand(rng, ALNUM, n)
        }
        3 => format!("SG.{}.{}", rand(rng, URLSAFE, 22), rand(rng, URLSAFE, 43)),
        _ => format!("key-{}", rand(rng, HEX, 32)),
    }
}

/// An Anthropic API or admin key.
pub fn anthropic_key(rng: &mut Rng) -> String {
    let p = if rng.chance(80) {
        "sk-ant-api03-"
    } else {
        "sk-ant-admin01-"
    };
    format!("{p}{}AA", rand(rng, URLSAFE, 93))
}

/// An OpenAI key: project, service account, admin or legacy.
pub fn openai_key(rng: &mut Rng) -> String {
    if rng.chance(20) {
        return format!(
            "sk-{}T3BlbkFJ{}",
            rand(rng, ALNUM, 20),
            rand(rng, ALNUM, 20)
        );
    }
    let p = rng.s(&["sk-proj-", "sk-proj-", "sk-svcacct-", "sk-admin-"]);
    let n = rng.range(100, 160);
    format!("{p}{}", rand(rng, URLSAFE, n))
}

/// A GitLab token.
pub fn gitlab_token(rng: &mut Rng) -> String {
    match rng.below(5) {
        0..=1 => format!("glpat-{}", rand(rng, URLSAFE, 20)),
        2 => format!("GR1348941{}", rand(rng, URLSAFE, 20)),
        _ => {
            let p = rng.s(&["glpat-", "gldt-", "glrt-", "glptt-", "gloas-", "glcbt-"]);
            let n = rng.range(20, 60);
            format!("{p}{}", rand(rng, URLSAFE, n))
        }
    }
}

/// An npm token.
pub fn npm_token(rng: &mut Rng) -> String {
    format!("npm_{}", rand(rng, ALNUM, 36))
}

/// A PyPI token.
pub fn pypi_token(rng: &mut Rng) -> String {
    let n = rng.range(60, 180);
    format!("pypi-AgEIcHlwaS5vcmc{}", rand(rng, URLSAFE, n))
}

/// An Azure Storage account key (88 base64, `==`).
pub fn azure_account_key(rng: &mut Rng) -> String {
    format!("{}{}==", rand(rng, B64, 85), rng.s(&["A", "Q", "g", "w"]))
}

/// An Azure Service Bus / Event Hubs shared access key (44 base64, `=`).
pub fn azure_sas_key(rng: &mut Rng) -> String {
    let last = rng.chars(b"AEIMQUYcgkosw048", 1);
    format!("{}{last}=", rand(rng, B64, 42))
}

/// A Microsoft Entra client secret.
pub fn entra_secret(rng: &mut Rng) -> String {
    format!(
        "{}{}Q~{}",
        rand(rng, ALNUM, 1) + &rng.chars(ENTRA, 2),
        rng.range(0, 9),
        rand(rng, ENTRA, 34)
    )
}

// ------------------------------------------------------------ PEM

/// A private key block as lines (BEGIN … END).
pub fn pem_lines(rng: &mut Rng, style: &str) -> Vec<String> {
    let body =
        |rng: &mut Rng, start: &str, (lo, hi): (usize, usize), width: usize| -> Vec<String> {
            let lines = rng.range(lo, hi);
            let mut out = Vec::new();
            for i in 0..lines {
                let w = if i + 1 == lines {
                    rng.range(12, width)
                } else {
                    width
                };
                let mut l = rand(rng, B64, w);
                if i == 0 {
                    l = format!("{start}{}", &l[start.len()..]);
                }
                out.push(l);
            }
            out
        };
    let (label, mut lines) = match style {
        "ec" => ("EC PRIVATE KEY", body(rng, "MHcCAQEEI", (3, 3), 64)),
        "dsa" => ("DSA PRIVATE KEY", body(rng, "MIIBuwIBAAKBgQ", (6, 9), 64)),
        "openssh" => (
            "OPENSSH PRIVATE KEY",
            body(rng, "b3BlbnNzaC1rZXktdjEAAAAA", (5, 7), 70),
        ),
        "encrypted" => (
            "ENCRYPTED PRIVATE KEY",
            body(rng, "MIIFHDBOBgkqhkiG9w0BBQ0w", (5, 9), 64),
        ),
        "pkcs8" => (
            "PRIVATE KEY",
            body(rng, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", (5, 10), 64),
        ),
        "ed25519" => (
            "PRIVATE KEY",
            vec![format!("MC4CAQAwBQYDK2VwBCIEI{}", rand(rng, B64, 27))],
        ),
        "proc" => {
            let mut l = vec![
                "Proc-Type: 4,ENCRYPTED".to_owned(),
                format!(
                    "DEK-Info: AES-128-CBC,{}",
                    rand(rng, b"0123456789ABCDEF", 32)
                ),
                String::new(),
            ];
            l.extend(body(rng, "", (5, 9), 64));
            ("RSA PRIVATE KEY", l)
        }
        "pgp" => {
            let mut l = Vec::new();
            if rng.chance(50) {
                l.push("Version: GnuPG v2".to_owned());
            }
            l.push(String::new());
            l.extend(body(rng, "lQOYBG", (5, 9), 64));
            l.push(format!("={}", rand(rng, B64, 4)));
            ("PGP PRIVATE KEY BLOCK", l)
        }
        _ => (
            "RSA PRIVATE KEY",
            body(rng, "MIIEowIBAAKCAQEA", (5, 11), 64),
        ),
    };
    lines.insert(0, format!("-----BEGIN {label}-----"));
    lines.push(format!("-----END {label}-----"));
    lines
}

/// A public key or certificate block (a near-miss), as lines.
pub fn public_pem_lines(rng: &mut Rng) -> Vec<String> {
    let label = rng.s(&[
        "PUBLIC KEY",
        "CERTIFICATE",
        "RSA PUBLIC KEY",
        "PGP PUBLIC KEY BLOCK",
    ]);
    let mut lines = vec![format!("-----BEGIN {label}-----")];
    for i in 0..rng.range(3, 6) {
        let l = rand(rng, B64, 64);
        lines.push(if i == 0 { format!("MII{}", &l[3..]) } else { l });
    }
    lines.push(format!("-----END {label}-----"));
    lines
}

// ------------------------------------------------------------ fillers

/// An ISO-8601 timestamp.
pub fn iso(rng: &mut Rng) -> String {
    format!(
        "20{}-{:02}-{:02}T{:02}:{:02}:{:02}{}",
        rng.range(22, 25),
        rng.range(1, 12),
        rng.range(1, 28),
        rng.below(24),
        rng.below(60),
        rng.below(60),
        rng.s(&["Z", ".123Z", "+02:00", ".481937Z"])
    )
}

/// A date.
pub fn date(rng: &mut Rng) -> String {
    let (y, m, d) = (rng.range(2022, 2025), rng.range(1, 12), rng.range(1, 28));
    match rng.below(3) {
        0 => format!("{y}-{m:02}-{d:02}"),
        1 => format!("{d:02}.{m:02}.{y}"),
        _ => format!("{d:02}/{m:02}/{y}"),
    }
}

/// A month abbreviation.
pub fn month(rng: &mut Rng) -> &'static str {
    rng.s(&[
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ])
}

/// `HH:MM:SS`.
pub fn clock(rng: &mut Rng) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        rng.below(24),
        rng.below(60),
        rng.below(60)
    )
}

/// A semantic version.
pub fn version(rng: &mut Rng) -> String {
    format!(
        "{}.{}.{}",
        rng.range(0, 12),
        rng.range(0, 30),
        rng.range(0, 40)
    )
}
