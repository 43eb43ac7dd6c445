//! The deterministic corpus generator: realistic documents with embedded
//! sensitive values, each value labelled with its kind and byte span.
//!
//! Everything here is a pure function of [`SEED`]: a tiny splitmix64 PRNG and
//! integer arithmetic only, no dependency whose output could change, so the
//! checked-in `masking.jsonl` stays reproducible.

use super::templates;
use serde::{Deserialize, Serialize};

/// Seed of the corpus ("PALISADE").
pub const SEED: u64 = 0x5041_4c49_5341_4445;
/// Number of documents.
pub const DOCS: usize = 2500;
/// Shortest document, in bytes.
pub const MIN_LEN: usize = 50;
/// Longest document, in bytes.
pub const MAX_LEN: usize = 800;

/// Kinds found by the `pii` plugin.
pub mod kind {
    /// A payment card number (first to last digit, inner separators included).
    pub const CREDIT_CARD: &str = "credit_card";
    /// A US social security number.
    pub const SSN: &str = "ssn";
    /// An IBAN (first to last character, inner spaces included).
    pub const IBAN: &str = "iban";
    /// An e-mail address.
    pub const EMAIL: &str = "email";
    /// A phone number (from `+`, `(` or the first digit to the last digit).
    pub const PHONE: &str = "phone";
    /// An IPv4 or IPv6 address.
    pub const IP_ADDRESS: &str = "ip_address";
    /// An AWS access key id (`AKIA`/`ASIA` + 16).
    pub const AWS_ACCESS_KEY_ID: &str = "aws_access_key_id";
    /// An AWS secret access key, in AWS context only.
    pub const AWS_SECRET_ACCESS_KEY: &str = "aws_secret_access_key";
    /// A GitHub token.
    pub const GITHUB_TOKEN: &str = "github_token";
    /// A Slack token.
    pub const SLACK_TOKEN: &str = "slack_token";
    /// A Stripe key or webhook secret.
    pub const STRIPE_KEY: &str = "stripe_key";
    /// A Google API key.
    pub const GOOGLE_API_KEY: &str = "google_api_key";
    /// A JSON Web Token.
    pub const JWT: &str = "jwt";
    /// An opaque token after `Bearer `.
    pub const BEARER_TOKEN: &str = "bearer_token";
    /// A PEM private key block, BEGIN to END line inclusive.
    pub const PRIVATE_KEY: &str = "private_key";
    /// A password: a URL password or the value of a password assignment.
    pub const PASSWORD: &str = "password";
    /// The value of a `secret`/`api_key`/`access_token`/... assignment.
    pub const SECRET: &str = "secret";

    /// Kinds of the `pii` plugin.
    pub const PII: [&str; 6] = [CREDIT_CARD, SSN, IBAN, EMAIL, PHONE, IP_ADDRESS];
    /// Kinds of the `secrets` plugin.
    pub const SECRETS: [&str; 11] = [
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
    /// Every kind, `pii` first.
    pub const ALL: [&str; 17] = [
        CREDIT_CARD,
        SSN,
        IBAN,
        EMAIL,
        PHONE,
        IP_ADDRESS,
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

    /// Position of `kind` in [`ALL`].
    pub fn index(kind: &str) -> Option<usize> {
        ALL.iter().position(|k| *k == kind)
    }
}

/// One labelled sensitive value: its kind and UTF-8 byte span in the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Kind of the value, one of [`kind::ALL`].
    pub kind: String,
    /// Start of the value (byte offset, inclusive).
    pub start: usize,
    /// End of the value (byte offset, exclusive).
    pub end: usize,
}

/// One document of the corpus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doc {
    /// Position of the document in the corpus.
    pub id: usize,
    /// The document.
    pub text: String,
    /// Its sensitive values, sorted by start, not overlapping.
    pub labels: Vec<Label>,
}

/// A deliberate look-alike that is not sensitive and must not be found.
/// Not part of the checked-in file; used to explain false positives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearMiss {
    /// The document.
    pub doc: usize,
    /// What it imitates, one of [`near`]'s constants.
    pub category: &'static str,
    /// Start (byte offset, inclusive).
    pub start: usize,
    /// End (byte offset, exclusive).
    pub end: usize,
}

/// Near-miss categories.
pub mod near {
    /// A 16-digit order or tracking number that fails the Luhn check.
    pub const LUHN_FAIL: &str = "16-digit number failing Luhn";
    /// A 13–19 digit number starting with 0, 1, 7, 8 or 9.
    pub const NON_CARD_PREFIX: &str = "13-19 digits, no card prefix";
    /// A timestamp or clock time.
    pub const TIMESTAMP: &str = "timestamp";
    /// A date.
    pub const DATE: &str = "date";
    /// A 10-digit Unix time.
    pub const UNIX_TIME: &str = "unix time";
    /// A version string.
    pub const VERSION: &str = "version";
    /// A UUID.
    pub const UUID: &str = "uuid";
    /// A 40-hex git SHA.
    pub const GIT_SHA: &str = "git sha";
    /// A 64-hex sha256 digest.
    pub const SHA256: &str = "sha256 digest";
    /// An SSN-shaped number outside the valid ranges.
    pub const INVALID_SSN: &str = "invalid ssn";
    /// A 9-digit id without an SSN keyword.
    pub const NINE_DIGIT_ID: &str = "9-digit id";
    /// An IBAN with a wrong check digit.
    pub const BAD_IBAN: &str = "iban with bad check digits";
    /// An `@mention`.
    pub const MENTION: &str = "@mention";
    /// `user@localhost`, `jane@laptop`: no domain.
    pub const USER_AT_HOST: &str = "user@host without domain";
    /// `left-pad@1.3.0`.
    pub const PACKAGE_AT_VERSION: &str = "package@version";
    /// A US ZIP code.
    pub const ZIP: &str = "zip code";
    /// `300.1.1.1` and friends.
    pub const INVALID_IPV4: &str = "invalid ipv4";
    /// A MAC address.
    pub const MAC: &str = "mac address";
    /// A Rust/C++ path with `::`.
    pub const CODE_PATH: &str = "code path with ::";
    /// A product code, SKU or ISBN.
    pub const PRODUCT_CODE: &str = "product code";
    /// A masked value: `********`, `**** 4242`, `***-**-1234`.
    pub const MASKED: &str = "masked value";
    /// A placeholder: `${DB_PASSWORD}`, `{token}`.
    pub const PLACEHOLDER: &str = "placeholder";
    /// `max_tokens=4096`, `token_count: 12`, `access_token_ttl: 3600`.
    pub const TOKEN_SETTING: &str = "token setting";
    /// `author: jane`.
    pub const AUTHOR: &str = "author";
    /// A public key or certificate block.
    pub const PUBLIC_PEM: &str = "public key or certificate";
    /// `sk_`, `ghp_`, `xoxb-` named in prose.
    pub const PREFIX_IN_PROSE: &str = "token prefix in prose";
    /// `ghp_abc`, `sk_live_abc`: too short.
    pub const SHORT_TOKEN: &str = "short token";
    /// `AKIA` + the wrong number of characters.
    pub const AKIA_WRONG_LENGTH: &str = "AKIA wrong length";
    /// A 40-character base64 string without AWS context.
    pub const BASE64_40: &str = "40-char base64, no aws context";
    /// `Bearer` followed by something that is not a token.
    pub const BEARER_NOT_TOKEN: &str = "bearer without token";

    /// Every category.
    pub const ALL: [&str; 30] = [
        LUHN_FAIL,
        NON_CARD_PREFIX,
        TIMESTAMP,
        DATE,
        UNIX_TIME,
        VERSION,
        UUID,
        GIT_SHA,
        SHA256,
        INVALID_SSN,
        NINE_DIGIT_ID,
        BAD_IBAN,
        MENTION,
        USER_AT_HOST,
        PACKAGE_AT_VERSION,
        ZIP,
        INVALID_IPV4,
        MAC,
        CODE_PATH,
        PRODUCT_CODE,
        MASKED,
        PLACEHOLDER,
        TOKEN_SETTING,
        AUTHOR,
        PUBLIC_PEM,
        PREFIX_IN_PROSE,
        SHORT_TOKEN,
        AKIA_WRONG_LENGTH,
        BASE64_40,
        BEARER_NOT_TOKEN,
    ];
}

/// The corpus with its near-miss annotations.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The documents.
    pub docs: Vec<Doc>,
    /// The near-misses, by document.
    pub near_misses: Vec<NearMiss>,
}

/// splitmix64: tiny, fast, and fixed forever.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        (self.next_u64() % n as u64) as usize
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// One of `items` (a string, which `pick` cannot infer from its use).
    pub fn pick_str(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }

    /// `n` characters of `alphabet` (ASCII).
    pub fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| char::from(alphabet[self.below(alphabet.len())]))
            .collect()
    }

    /// `n` decimal digits.
    pub fn digits(&mut self, n: usize) -> String {
        self.chars(b"0123456789", n)
    }
}

/// Builds one document: text plus labels and near-misses, in order.
pub struct Gen<'a> {
    /// The randomness.
    pub rng: &'a mut Rng,
    /// Whether this document carries sensitive values.
    pub positive: bool,
    text: String,
    labels: Vec<Label>,
    near: Vec<(&'static str, usize, usize)>,
    counts: &'a [usize; kind::ALL.len()],
}

impl<'a> Gen<'a> {
    fn new(rng: &'a mut Rng, counts: &'a [usize; kind::ALL.len()], positive: bool) -> Self {
        Self {
            rng,
            positive,
            text: String::new(),
            labels: Vec::new(),
            near: Vec::new(),
            counts,
        }
    }

    /// Appends plain text.
    pub fn s(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends one of `items`, chosen at random.
    pub fn one_of(&mut self, items: &[&str]) -> &mut Self {
        let item = *self.rng.pick(items);
        self.s(item)
    }

    /// Appends a sensitive value of `kind`, labelled.
    pub fn v(&mut self, kind: &'static str, value: &str) -> &mut Self {
        assert!(
            self.positive,
            "a {kind} label in a document meant to be clean"
        );
        assert!(kind::index(kind).is_some(), "unknown kind `{kind}`");
        let start = self.text.len();
        if let Some(last) = self.labels.last() {
            assert!(
                last.end < start,
                "{kind} label right after a {} label without a separator",
                last.kind
            );
        }
        self.text.push_str(value);
        self.labels.push(Label {
            kind: kind.to_owned(),
            start,
            end: self.text.len(),
        });
        self
    }

    /// Appends a near-miss of `category`.
    pub fn n(&mut self, category: &'static str, value: &str) -> &mut Self {
        let start = self.text.len();
        self.text.push_str(value);
        self.near.push((category, start, self.text.len()));
        self
    }

    /// True when this document is positive and, with `percent` probability,
    /// this slot gets a sensitive value.
    pub fn pos(&mut self, percent: usize) -> bool {
        self.positive && self.rng.chance(percent)
    }

    /// True with probability `percent`/100 (for anything but sensitive slots).
    pub fn chance(&mut self, percent: usize) -> bool {
        self.rng.chance(percent)
    }

    /// Labels of `kind` so far: the corpus's and this document's.
    fn count(&self, kind: &str) -> usize {
        let i = kind::index(kind).unwrap_or(0);
        self.counts[i] + self.labels.iter().filter(|l| l.kind == kind).count()
    }

    /// One of `kinds`, leaning to the rarest so far (the best of three random
    /// draws), so that every kind gets its share of flexible slots.
    pub fn pick_kind(&mut self, kinds: &[&'static str]) -> &'static str {
        let mut best = *self.rng.pick(kinds);
        for _ in 0..2 {
            let other = *self.rng.pick(kinds);
            if self.count(other) < self.count(best) {
                best = other;
            }
        }
        best
    }

    /// `n` distinct kinds of `kinds`, each chosen as by [`Gen::pick_kind`].
    pub fn pick_kinds(&mut self, kinds: &[&'static str], n: usize) -> Vec<&'static str> {
        let mut left: Vec<&'static str> = kinds.to_vec();
        let mut out = Vec::new();
        while out.len() < n && !left.is_empty() {
            let k = self.pick_kind(&left);
            left.retain(|x| *x != k);
            out.push(k);
        }
        out
    }

    /// The text so far.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A document template.
pub struct Template {
    /// Name, for messages.
    pub name: &'static str,
    /// Relative frequency.
    pub weight: usize,
    /// Writes one document.
    pub build: fn(&mut Gen<'_>),
}

/// The corpus's documents.
pub fn generate() -> Vec<Doc> {
    generate_corpus().docs
}

/// The corpus's documents and near-misses.
pub fn generate_corpus() -> Corpus {
    let templates = templates::all();
    let total: usize = templates.iter().map(|t| t.weight).sum();
    let mut rng = Rng::new(SEED);
    let mut counts = [0usize; kind::ALL.len()];
    let mut docs = Vec::with_capacity(DOCS);
    let mut near_misses = Vec::new();
    for id in 0..DOCS {
        let positive = rng.below(3) != 0;
        let mut roll = rng.below(total);
        let template = templates
            .iter()
            .find(|t| {
                if roll < t.weight {
                    true
                } else {
                    roll -= t.weight;
                    false
                }
            })
            .unwrap_or(&templates[0]);
        let mut attempts = 0;
        let (text, labels, near) = loop {
            let mut g = Gen::new(&mut rng, &counts, positive);
            (template.build)(&mut g);
            let Gen {
                text, labels, near, ..
            } = g;
            let fits = (MIN_LEN..=MAX_LEN).contains(&text.len());
            if fits && labels.is_empty() != positive {
                break (text, labels, near);
            }
            attempts += 1;
            assert!(
                attempts < 200,
                "template `{}` cannot make document {id} (positive: {positive})",
                template.name
            );
        };
        for label in &labels {
            if let Some(i) = kind::index(&label.kind) {
                counts[i] += 1;
            }
        }
        near_misses.extend(near.into_iter().map(|(category, start, end)| NearMiss {
            doc: id,
            category,
            start,
            end,
        }));
        docs.push(Doc { id, text, labels });
    }
    Corpus { docs, near_misses }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_is_the_reference_sequence() {
        // First outputs of splitmix64 seeded with 0, as published with the algorithm.
        let mut rng = Rng::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(rng.next_u64(), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn generation_is_deterministic() {
        let a = generate_corpus();
        let b = generate_corpus();
        assert_eq!(a.docs, b.docs);
        assert_eq!(a.near_misses, b.near_misses);
    }

    #[test]
    fn documents_have_the_promised_shape() {
        let corpus = generate_corpus();
        assert_eq!(corpus.docs.len(), DOCS);
        let clean = corpus.docs.iter().filter(|d| d.labels.is_empty()).count();
        assert!(
            (DOCS * 28 / 100..=DOCS * 38 / 100).contains(&clean),
            "{clean} clean documents of {DOCS}: about a third should be clean"
        );
        for doc in &corpus.docs {
            assert!(
                (MIN_LEN..=MAX_LEN).contains(&doc.text.len()),
                "document {} is {} bytes",
                doc.id,
                doc.text.len()
            );
        }
    }

    #[test]
    fn near_misses_are_unlabelled_and_plentiful() {
        let corpus = generate_corpus();
        for nm in &corpus.near_misses {
            let doc = &corpus.docs[nm.doc];
            assert!(doc.text.is_char_boundary(nm.start) && doc.text.is_char_boundary(nm.end));
            for label in &doc.labels {
                assert!(
                    label.end <= nm.start || nm.end <= label.start,
                    "near-miss {:?} overlaps a {} label in document {}",
                    &doc.text[nm.start..nm.end],
                    label.kind,
                    doc.id
                );
            }
        }
        for category in near::ALL {
            let n = corpus
                .near_misses
                .iter()
                .filter(|nm| nm.category == category)
                .count();
            assert!(n >= 40, "only {n} near-misses of `{category}`");
        }
    }
}
