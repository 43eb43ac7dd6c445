//! The document builder: text, labels and near-misses grow together; a tiny
//! template language (`«spec»`) fills values, near-misses and fillers.
//!
//! Directives: `«kind»` a value (a stand-in in clean documents),
//! `«e:technique:kind»` an evasive value, `«n:category»` a near-miss,
//! `«w:filler»` ordinary text, `«o:a|b|c»` one of the options,
//! `«K:word»` the word in look-alike letters.

use super::rng::Rng;
use super::technique as t;
use super::{ILabel, evasion, kind as k, near, values as v};

/// A template: writes one document into the context.
pub type Template = fn(&mut Ctx);

/// The non-evasive templates of every family.
pub fn normal_templates() -> Vec<Template> {
    let mut out = Vec::new();
    out.extend_from_slice(super::templates_config::TEMPLATES);
    out.extend_from_slice(super::templates_logs::TEMPLATES);
    out.extend_from_slice(super::templates_msg::TEMPLATES);
    out.extend_from_slice(super::templates_http::TEMPLATES);
    out.extend_from_slice(super::templates_data::TEMPLATES);
    out
}

/// A document being written.
pub struct Ctx {
    /// The document's own random stream.
    pub rng: Rng,
    /// True for a document without sensitive values: slots get stand-ins.
    pub clean: bool,
    /// The text so far.
    pub text: String,
    /// Labels so far.
    pub labels: Vec<ILabel>,
    /// Near-misses so far: category, start, end.
    pub near: Vec<(&'static str, usize, usize)>,
    /// Quote prefix of the lines being written (`> `), for quote wraps.
    pub quote: &'static str,
    /// Indentation of the block being written, for YAML keys.
    pub indent: String,
    /// The quote this document puts around values (`"`, `'` or none).
    pub q: Option<&'static str>,
}

impl Ctx {
    /// An empty document with its own seed.
    pub fn new(seed: u64) -> Self {
        Ctx {
            rng: Rng::new(seed),
            clean: false,
            text: String::new(),
            labels: Vec::new(),
            near: Vec::new(),
            quote: "> ",
            indent: "    ".to_owned(),
            q: None,
        }
    }

    /// Appends plain text.
    pub fn t(&mut self, s: &str) {
        self.text.push_str(s);
    }

    /// Appends a labelled value.
    pub fn v(&mut self, kind: &'static str, s: &str) {
        self.label(kind, s, None);
    }

    /// Appends an evasive labelled value.
    pub fn e(&mut self, kind: &'static str, technique: &'static str, s: &str) {
        self.label(kind, s, Some(technique));
    }

    fn label(&mut self, kind: &str, s: &str, technique: Option<&str>) {
        let start = self.text.len();
        self.text.push_str(s);
        self.labels.push(ILabel {
            kind: kind.to_owned(),
            start,
            end: self.text.len(),
            technique: technique.map(str::to_owned),
        });
    }

    /// Appends a near-miss.
    pub fn n(&mut self, category: &'static str, s: &str) {
        let start = self.text.len();
        self.text.push_str(s);
        self.near.push((category, start, self.text.len()));
    }

    /// True when labels are in order, apart and non-empty.
    pub fn labels_ok(&self) -> bool {
        let mut prev = None;
        for l in &self.labels {
            if l.start >= l.end || prev.is_some_and(|e| l.start <= e) {
                return false;
            }
            prev = Some(l.end);
        }
        true
    }

    /// Writes `tpl`, expanding its directives.
    pub fn fill(&mut self, tpl: &str) {
        let mut rest = tpl;
        while let Some(i) = rest.find('«') {
            self.t(&rest[..i]);
            let after = &rest[i + '«'.len_utf8()..];
            let j = after.find('»').unwrap_or(after.len());
            self.directive(&after[..j]);
            rest = after.get(j + '»'.len_utf8()..).unwrap_or("");
        }
        self.t(rest);
    }

    /// Writes some of `lines` (at least `min`, in order), each filled.
    pub fn some_lines(&mut self, lines: &[&str], min: usize) {
        let mut chosen: Vec<bool> = lines.iter().map(|_| self.rng.chance(60)).collect();
        let mut i = 0;
        while chosen.iter().filter(|c| **c).count() < min.min(lines.len()) {
            chosen[i % lines.len()] = true;
            i += self.rng.range(1, 3);
        }
        for (l, c) in lines.iter().zip(chosen) {
            if c {
                self.fill(l);
            }
        }
    }

    fn directive(&mut self, d: &str) {
        if d == "Q" {
            let q = match self.q {
                Some(q) => q,
                None => self.rng.s(&["\"", "'", "", ""]),
            };
            self.q = Some(q);
            self.t(q);
        } else if let Some(opts) = d.strip_prefix("o:") {
            let parts: Vec<&str> = opts.split('|').collect();
            let p = parts[self.rng.below(parts.len())];
            self.t(p);
        } else if let Some(w) = d.strip_prefix("w:") {
            let s = self.word(w);
            self.t(&s);
        } else if let Some(c) = d.strip_prefix("n:") {
            let (cat, s) = near::make(&mut self.rng, c);
            self.n(cat, &s);
        } else if let Some(w) = d.strip_prefix("K:") {
            let s = evasion::confusable(&mut self.rng, w);
            self.t(&s);
        } else if let Some(rest) = d.strip_prefix("e:") {
            let (tech, spec) = rest.split_once(':').unwrap_or((rest, "password"));
            self.evade(tech, spec);
        } else {
            self.slot(d);
        }
    }

    /// A value of `spec` (or a stand-in when the document is clean).
    pub fn slot(&mut self, spec: &str) {
        if self.clean {
            let (cat, s) = near::stand_in(&mut self.rng, spec);
            self.n(cat, &s);
            return;
        }
        let (kind, s) = self.value(spec);
        self.v(kind, &s);
    }

    /// A well-formed value of `spec` and its kind.
    pub fn value(&mut self, spec: &str) -> (&'static str, String) {
        let r = &mut self.rng;
        match spec {
            "email" => (k::EMAIL, v::email(r)),
            "phone" => (k::PHONE, v::phone(r)),
            "phone_plain" => (k::PHONE, v::phone_plain(r)),
            "card" => (k::CREDIT_CARD, v::card(r)),
            "card_plain" => (k::CREDIT_CARD, v::card_digits(r)),
            "ssn" => {
                let sep = if r.chance(85) { "-" } else { " " };
                (k::SSN, v::ssn(r, sep))
            }
            "ssn_plain" => (k::SSN, v::ssn(r, "")),
            "iban" => (k::IBAN, v::iban(r)),
            "iban_plain" => (k::IBAN, v::iban_flat(r, false)),
            "ip" => (k::IP_ADDRESS, v::ip(r)),
            "ipv4" => (k::IP_ADDRESS, v::ipv4(r)),
            "akid" => (k::AWS_ACCESS_KEY_ID, v::aws_key_id(r)),
            "aws_secret" => (k::AWS_SECRET_ACCESS_KEY, v::aws_secret(r)),
            "aws_secret_slash" => (k::AWS_SECRET_ACCESS_KEY, v::aws_secret_slash(r)),
            "github" => (k::GITHUB_TOKEN, v::github_token(r)),
            "slack" => (k::SLACK_TOKEN, v::slack_token(r)),
            "stripe" => (k::STRIPE_KEY, v::stripe_key(r)),
            "google" => (k::GOOGLE_API_KEY, v::google_api_key(r)),
            "jwt" => (k::JWT, v::jwt(r)),
            "bearer" => (k::BEARER_TOKEN, v::opaque_token(r)),
            "pem" => {
                let style = r.s(&["rsa", "rsa", "pkcs8", "ed25519"]);
                (k::PRIVATE_KEY, v::pem_lines(r, style).join("\n"))
            }
            "gcp_pem" => (k::PRIVATE_KEY, v::pem_lines(r, "pkcs8").join("\\n")),
            "pem_alt" => {
                let style = r.s(&["ec", "dsa", "openssh", "encrypted", "pgp", "proc"]);
                let nl = if r.chance(25) { "\r\n" } else { "\n" };
                (k::PRIVATE_KEY, v::pem_lines(r, style).join(nl))
            }
            "pem_yaml" => {
                let style = r.s(&["rsa", "pkcs8", "ec", "openssh"]);
                let sep = format!("\n{}", self.indent);
                (k::PRIVATE_KEY, v::pem_lines(r, style).join(&sep))
            }
            "pem_json" => {
                let style = r.s(&["rsa", "ec", "pkcs8", "encrypted"]);
                let nl = if r.chance(40) { "\\r\\n" } else { "\\n" };
                (k::PRIVATE_KEY, v::pem_lines(r, style).join(nl))
            }
            "pem_quoted" => {
                let style = r.s(&["rsa", "ec", "openssh", "pkcs8"]);
                let sep = format!("\n{}", self.quote);
                (k::PRIVATE_KEY, v::pem_lines(r, style).join(&sep))
            }
            "password" => (k::PASSWORD, v::password(r)),
            "password_url" => (k::PASSWORD, v::password_url(r)),
            "password_special" => (k::PASSWORD, v::password_special(r)),
            "secret" => (k::SECRET, v::secret(r)),
            "anthropic" => (k::ANTHROPIC_API_KEY, v::anthropic_key(r)),
            "openai" => (k::OPENAI_API_KEY, v::openai_key(r)),
            "gitlab" => (k::GITLAB_TOKEN, v::gitlab_token(r)),
            "npm" => (k::NPM_TOKEN, v::npm_token(r)),
            "pypi" => (k::PYPI_TOKEN, v::pypi_token(r)),
            "azure_account" => (k::AZURE_KEY, v::azure_account_key(r)),
            "azure_sas" => (k::AZURE_KEY, v::azure_sas_key(r)),
            "entra" => (k::AZURE_KEY, v::entra_secret(r)),
            "sa_email" => {
                let p = v::project(r);
                (k::EMAIL, v::sa_email(r, &p))
            }
            other => panic!("unknown value spec `{other}`"),
        }
    }

    /// An evasive value of `spec` disguised with `tech`.
    pub fn evade(&mut self, tech: &str, spec: &str) {
        let (mut kind, mut plain) = self.value(spec);
        if tech == t::PERCENT_ENCODING {
            // Some values need no encoding (`415-555-0100`): take another.
            for _ in 0..50 {
                if plain.contains([' ', '@', '+', ':', '!', '#', '/', '=', '$', '?', '%']) {
                    break;
                }
                (kind, plain) = self.value(spec);
            }
        }
        let tech: &'static str = t::ALL
            .iter()
            .copied()
            .find(|x| *x == tech)
            .unwrap_or_else(|| panic!("unknown technique `{tech}`"));
        let s = match tech {
            t::LINE_WRAP => {
                let nl = if self.rng.chance(25) { "\r\n" } else { "\n" };
                let ind = if self.rng.chance(20) {
                    "\t".to_owned()
                } else {
                    " ".repeat(self.rng.range(2, 8))
                };
                evasion::wrap(&mut self.rng, &plain, &format!("{nl}{ind}"))
            }
            t::QUOTE_WRAP => {
                let q = self.quote;
                evasion::wrap(&mut self.rng, &plain, &format!("\n{q}"))
            }
            t::JSON_ESCAPE => evasion::json_escape(&mut self.rng, &plain),
            t::PERCENT_ENCODING => evasion::percent(&mut self.rng, &plain),
            t::HTML_ENTITY => evasion::html(&mut self.rng, &plain),
            t::INVISIBLE_OR_WIDTH => evasion::invisible(&mut self.rng, kind, &plain),
            _ => plain,
        };
        self.e(kind, tech, &s);
    }

    /// Ordinary text for `«w:name»`.
    pub fn word(&mut self, w: &str) -> String {
        let r = &mut self.rng;
        match w {
            "first" => r.pick(v::FIRST).0.to_owned(),
            "last" => r.pick(v::LAST).0.to_owned(),
            "full" => v::person(r).0,
            "user" => r.pick(v::FIRST).1.to_owned(),
            "host" => r.s(v::HOSTS).to_owned(),
            "svc" => r.s(v::SERVICES).to_owned(),
            "company" => r.s(v::COMPANIES).to_owned(),
            "city" => r.s(v::CITIES).to_owned(),
            "date" => v::date(r),
            "iso" => v::iso(r),
            "clock" => v::clock(r),
            "month" => v::month(r).to_owned(),
            "day" => r.range(1, 28).to_string(),
            "ver" => v::version(r),
            "num" => r.range(2, 999).to_string(),
            "big" => r.range(1000, 99_999).to_string(),
            "pid" => r.range(300, 65_000).to_string(),
            "port" => r.s(&["5432", "3306", "6379", "8080", "443", "27017", "9092"]).to_owned(),
            "status" => r.s(&["200", "201", "204", "301", "400", "401", "403", "404", "500", "502"]).to_owned(),
            "method" => r.s(&["GET", "POST", "PUT", "DELETE", "PATCH"]).to_owned(),
            "region" => r.s(&["eu-west-1", "us-east-1", "eu-central-1", "ap-southeast-2"]).to_owned(),
            "project" => v::project(r),
            "path" => r
                .s(&["/api/v1/orders", "/checkout", "/login", "/api/users/me", "/v2/invoices", "/healthz", "/graphql", "/static/app.js"])
                .to_owned(),
            "ua" => r
                .s(&[
                    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
                    "curl/8.5.0",
                    "python-requests/2.31.0",
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15",
                    "okhttp/4.12.0",
                ])
                .to_owned(),
            "ms" => r.range(2, 2400).to_string(),
            "hex8" => v::rand(r, v::HEX, 8),
            "level" => r.s(&["INFO", "WARN", "ERROR", "DEBUG"]).to_owned(),
            "lvl" => r.s(&["info", "warn", "error", "debug"]).to_owned(),
            "hi" => r.s(&["Hi", "Hello", "Hallo", "Bonjour", "Hola", "Hey", "Guten Tag", "Buenos días"]).to_owned(),
            "bye" => r
                .s(&["Thanks", "Cheers", "Best regards", "Viele Grüße", "Merci d'avance", "Saludos", "Danke"])
                .to_owned(),
            other => panic!("unknown filler `{other}`"),
        }
    }
}
