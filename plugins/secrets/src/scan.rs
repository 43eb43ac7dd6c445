//! The single pass over the folded bytes, and the matchers of the
//! provider-specific tokens, JWTs, bearer tokens, private keys and URLs.
//!
//! Most bytes cost two table lookups: the scan goes eight bytes at a time
//! while none of them is a trigger. A trigger is a letter that starts a
//! word (`A`, `B`/`b`, `S`/`s`, `x`, `G`, `p`), a `_`, `J` or `-` inside a
//! word (the prefix of GitHub, Stripe and npm tokens ends with `_`, a JWT's
//! payload starts `.eyJ`, GitLab's `glpat-` ends with `-`), a `-` outside
//! one (`--option`), `~` (Entra secrets), or `:` and `=`. A `.netrc`
//! `password ` looks its entry up in the positions of `login`, `machine`
//! and `default`, found once per text when first needed.
//!
//! Linear time: a matcher reads forward over one run of token bytes (or
//! back over the run before a `_` or `.eyJ`), at most a bounded number of
//! bytes more, and the runs read by different triggers do not overlap: a
//! token is never glued to the bytes before it. A match moves the scan past
//! the token. An assignment's key is read back at most 96 bytes, and its
//! value is read once: assignments inside a value already read (or inside
//! a URL's userinfo) are not looked at. The AWS secret key windows are
//! searched once each, up to a watermark.

use crate::assign::{self, Assigned};
use crate::classes::{
    AFTER, ALNUM, B64, B64URL, BASE32, BEARER, BLANK, QUOTE, SLACK, SPACE, TRIGGERS, WORD, at,
    glued_before, has, run, starts_with, starts_with_ci, trigger,
};
use crate::kind::Kind;
use crate::pem::private_key;
use crate::values::{acceptable_url_password, is_mask, is_word_value};

/// One raw finding, in folded-byte offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) kind: Kind,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// How far after an AWS key name a secret access key may start.
const AWS_NAME_WINDOW: usize = 48;
/// How far after an AWS access key id a secret access key may start.
const AWS_ID_WINDOW: usize = 160;

/// The scanner's state.
struct Scanner<'a> {
    b: &'a [u8],
    hits: Vec<Hit>,
    /// Assignments whose operator is before this offset are not looked at:
    /// they are inside a value (or URL userinfo) already read.
    assign_until: usize,
    /// The AWS secret key windows have been searched up to here.
    aws_scanned: usize,
    /// Where `.netrc` entries may be, found at the first `password ` that
    /// needs them.
    netrc: Option<Netrc>,
}

/// Where the words of `.netrc` entries stand in a text, sorted.
struct Netrc {
    /// Offsets of `login `.
    logins: Vec<usize>,
    /// Offsets of `machine ` and `default`.
    machines: Vec<usize>,
}

impl Netrc {
    fn new(b: &[u8]) -> Self {
        let mut machines: Vec<usize> = memchr::memmem::find_iter(b, b"machine ").collect();
        machines.extend(memchr::memmem::find_iter(b, b"default"));
        machines.sort_unstable();
        Self {
            logins: memchr::memmem::find_iter(b, b"login ").collect(),
            machines,
        }
    }

    /// True when a `login` and a `machine` (or `default`) stand within the
    /// [`NETRC_WINDOW`] bytes before `i`.
    fn entry_before(&self, i: usize) -> bool {
        let near = |at: &[usize]| {
            let k = at.partition_point(|&p| p < i);
            k > 0 && at[k - 1] + NETRC_WINDOW >= i
        };
        near(&self.logins) && near(&self.machines)
    }
}

/// Finds every credential in the folded bytes `b`, overlapping hits included.
pub(crate) fn scan(b: &[u8]) -> Vec<Hit> {
    let mut s = Scanner {
        b,
        hits: Vec::new(),
        assign_until: 0,
        aws_scanned: 0,
        netrc: None,
    };
    let n = b.len();
    let mut i = 0;
    // 256 when the byte before `i` is a letter or digit.
    let mut after = 0;
    let next = |c: u8| AFTER[c as usize] as usize;
    while i < n {
        let (t, at) = if let Some(&[c0, c1, c2, c3, c4, c5, c6, c7]) = b.get(i..i + 8) {
            // Eight bytes at a time; the lookups are independent of each
            // other, and most of the time they all say "nothing".
            let triggers = u64::from_le_bytes([
                TRIGGERS[after | c0 as usize],
                TRIGGERS[next(c0) | c1 as usize],
                TRIGGERS[next(c1) | c2 as usize],
                TRIGGERS[next(c2) | c3 as usize],
                TRIGGERS[next(c3) | c4 as usize],
                TRIGGERS[next(c4) | c5 as usize],
                TRIGGERS[next(c5) | c6 as usize],
                TRIGGERS[next(c6) | c7 as usize],
            ]);
            if triggers == 0 {
                after = next(c7);
                i += 8;
                continue;
            }
            let k = triggers.trailing_zeros() / 8;
            ((triggers >> (k * 8)) as u8, i + k as usize)
        } else {
            let c = b[i];
            let t = TRIGGERS[after | c as usize];
            if t == 0 {
                after = next(c);
                i += 1;
                continue;
            }
            (t, i)
        };
        i = s.on_trigger(t, at).max(at + 1);
        after = next(b[i - 1]);
    }
    s.hits
}

impl Scanner<'_> {
    fn push(&mut self, kind: Kind, start: usize, end: usize) {
        if start < end {
            self.hits.push(Hit { kind, start, end });
        }
    }

    /// Runs the checks of trigger `t` at `i`; returns where to go on.
    fn on_trigger(&mut self, t: u8, i: usize) -> usize {
        let b = self.b;
        match t {
            trigger::UPPER_A => {
                if let Some(e) = aws_access_key_id(b, i) {
                    self.push(Kind::AwsAccessKeyId, i, e);
                    self.aws_window(e, e + AWS_ID_WINDOW);
                    return e;
                }
                if let Some(e) = google_api_key(b, i) {
                    self.push(Kind::GoogleApiKey, i, e);
                    return e;
                }
                if let Some((s, e)) = pypi_token(b, i) {
                    self.push(Kind::PypiToken, s, e);
                    return e;
                }
                i + 1
            }
            trigger::S => {
                if let Some((kind, e)) = sk_dash_key(b, i) {
                    self.push(kind, i, e);
                    return e;
                }
                self.aws_key_name(i);
                i + 1
            }
            trigger::DASH_IN_WORD => match gitlab_prefix(b, i) {
                Some(s) => match gitlab_token(b, s) {
                    Some(e) => {
                        self.push(Kind::GitlabToken, s, e);
                        e
                    }
                    None => i + 1,
                },
                None => i + 1,
            },
            trigger::UPPER_G => match gitlab_token(b, i) {
                Some(e) => {
                    self.push(Kind::GitlabToken, i, e);
                    e
                }
                None => i + 1,
            },
            trigger::P => {
                if !starts_with(b, i, b"password") || !has(at(b, i + 8), BLANK) {
                    return i + 1;
                }
                let netrc = self.netrc.get_or_insert_with(|| Netrc::new(b));
                if !netrc.entry_before(i) {
                    return i + 1;
                }
                match netrc_password(b, i) {
                    Some((s, e)) => {
                        self.push(Kind::Password, s, e);
                        e
                    }
                    None => i + 1,
                }
            }
            trigger::TILDE => match entra_secret(b, i) {
                Some((s, e)) => {
                    self.push(Kind::AzureKey, s, e);
                    e
                }
                None => i + 1,
            },
            trigger::B => {
                if let Some((s, e)) = identified_by(b, i) {
                    self.push(Kind::Password, s, e);
                    return e;
                }
                if let Some((s, e)) = private_key(b, i) {
                    self.push(Kind::PrivateKey, s, e);
                    return e;
                }
                match bearer_token(b, i) {
                    Some((s, e)) => {
                        self.push(Kind::BearerToken, s, e);
                        // The token is read on by the main loop: a JWT or a
                        // provider token inside it is reported as such.
                        s
                    }
                    None => i + 1,
                }
            }
            trigger::X => match slack_token(b, i) {
                Some(e) => {
                    self.push(Kind::SlackToken, i, e);
                    e
                }
                None => i + 1,
            },
            trigger::UNDERSCORE => match underscore_token(b, i) {
                Some((kind, s, e)) => {
                    self.push(kind, s, e);
                    e
                }
                None => i + 1,
            },
            trigger::J => match jwt(b, i) {
                Some((s, e)) => {
                    self.push(Kind::Jwt, s, e);
                    e
                }
                None => i + 1,
            },
            trigger::DASH => {
                if let Some((s, e)) = user_option(b, i) {
                    self.push(Kind::Password, s, e);
                    self.assign_until = self.assign_until.max(e);
                    return e;
                }
                self.option(i);
                i + 1
            }
            trigger::COLON => {
                let next = at(b, i + 1);
                if next == b'/' && at(b, i + 2) == b'/' {
                    self.url(i + 3);
                    return i + 1;
                }
                if next == b':' || (i > 0 && b[i - 1] == b':') || i < self.assign_until {
                    return i + 1;
                }
                if let Some(e) = pgpass_password(b, i) {
                    self.push(Kind::Password, i + 1, e);
                    return e;
                }
                let value = if next == b'=' { i + 2 } else { i + 1 };
                self.assignment(i, value);
                i + 1
            }
            trigger::EQ => {
                if i < self.assign_until {
                    return i + 1;
                }
                let prev = if i > 0 { b[i - 1] } else { 0 };
                let next = at(b, i + 1);
                if matches!(prev, b'=' | b'!' | b'<' | b'>' | b':') || next == b'=' {
                    return i + 1;
                }
                if next == b'>' && psql_prompt(b, i) {
                    return i + 2;
                }
                let value = if next == b'>' { i + 2 } else { i + 1 };
                self.assignment(i, value);
                i + 1
            }
            _ => i + 1,
        }
    }

    /// The operator `:`/`=` (and so on) is at `op`, its value starts at
    /// `value`: reports the value when the key names a secret.
    fn assignment(&mut self, op: usize, value: usize) {
        let Some(a) = assign::assignment(self.b, op, value) else {
            return;
        };
        if a.kind == Kind::Secret {
            // `awsSecretAccessKey`: the `S` is not at a word's start, where
            // the scanner looks for AWS key names.
            let b = self.b;
            let (ks, ke) = a.key;
            for k in ks + 1..ke {
                if matches!(b[k], b's' | b'S') && has(b[k - 1], ALNUM) {
                    self.aws_key_name(k);
                }
            }
        }
        self.assigned(a);
    }

    /// At a `-`: a command-line option `--key value`.
    fn option(&mut self, i: usize) {
        if let Some(a) = assign::option(self.b, i, self.assign_until) {
            self.assigned(a);
        }
    }

    /// Reports an assignment's value when it is a secret; the assignments
    /// inside the value are not looked at.
    fn assigned(&mut self, a: Assigned) {
        if let Some((start, end)) = a.secret {
            let v = &self.b[start..end];
            if v.starts_with(b"pk_live_") || v.starts_with(b"pk_test_") {
                // A Stripe publishable key: public, whatever its key says.
                self.assign_until = self.assign_until.max(a.end);
                return;
            }
            let kind = if azure_key_name(&self.b[a.key.0..a.key.1])
                && azure_key_value(&self.b[start..end])
            {
                Kind::AzureKey
            } else {
                a.kind
            };
            self.push(kind, start, end);
        }
        self.assign_until = self.assign_until.max(a.end);
    }

    /// At the `s`/`S` of `secret`: if an AWS secret key name is here,
    /// searches the next bytes for the key itself.
    fn aws_key_name(&mut self, i: usize) {
        let b = self.b;
        if !starts_with_ci(b, i, b"secret") {
            return;
        }
        let mut named = (i >= 4 && matches!(b[i - 1], b'_' | b' ' | b'-' | b'.') && {
            b[i - 4..i - 1].eq_ignore_ascii_case(b"aws")
        }) || (i >= 3 && b[i - 3..i].eq_ignore_ascii_case(b"aws"));
        let mut end = i + 6;
        for suffix in [
            &b"_access_key"[..],
            b"accesskey",
            b"-access-key",
            b" access key",
        ] {
            if starts_with_ci(b, end, suffix) {
                named = true;
                end += suffix.len();
                break;
            }
        }
        if named {
            self.aws_window(end, end + AWS_NAME_WINDOW);
        }
    }

    /// Reports the AWS secret access keys that start in `from..=to`.
    fn aws_window(&mut self, from: usize, to: usize) {
        let b = self.b;
        let mut p = from.max(self.aws_scanned);
        while p <= to && p < b.len() {
            if has(b[p], B64) && (p == 0 || !has(b[p - 1], B64)) {
                let e = run(b, p, B64, 41);
                let after = at(b, e);
                if e - p == 40
                    && !has(after, B64)
                    && after != b'='
                    && mixed_case_and_digit(&b[p..e])
                {
                    self.push(Kind::AwsSecretAccessKey, p, e);
                }
                p = e;
            } else {
                p += 1;
            }
        }
        self.aws_scanned = self.aws_scanned.max(p);
    }

    /// After `scheme://`: the password of the userinfo, and Slack webhooks.
    fn url(&mut self, s: usize) {
        let b = self.b;
        if starts_with_ci(b, s, b"hooks.slack.com/services/")
            && let Some((ps, pe)) = slack_webhook_path(b, s + 25)
        {
            self.push(Kind::SlackToken, ps, pe);
        }
        let mut e = s;
        let mut colon = None;
        let mut last_at = None;
        while e < b.len() {
            let c = b[e];
            if c == b'/' || has(c, SPACE | QUOTE) {
                break;
            }
            if c == b'@' {
                last_at = Some(e);
            } else if c == b':' && colon.is_none() {
                colon = Some(e);
            }
            e += 1;
        }
        if let (Some(c), Some(a)) = (colon, last_at)
            && c < a
        {
            if acceptable_url_password(b, c + 1, a) {
                self.push(Kind::Password, c + 1, a);
            }
            // `//token:abc@host` is not the assignment `token: abc@host`.
            self.assign_until = self.assign_until.max(a);
        }
    }
}

/// True when `s` has a digit, a lowercase and an uppercase letter.
fn mixed_case_and_digit(s: &[u8]) -> bool {
    s.iter().any(u8::is_ascii_digit)
        && s.iter().any(u8::is_ascii_lowercase)
        && s.iter().any(u8::is_ascii_uppercase)
}

/// `AKIA…`: a known prefix and 16 of `[A-Z2-7]`, not glued to a word after.
fn aws_access_key_id(b: &[u8], i: usize) -> Option<usize> {
    const PREFIXES: [&[u8; 4]; 11] = [
        b"AKIA", b"ASIA", b"ABIA", b"ACCA", b"AGPA", b"AIDA", b"AROA", b"AIPA", b"ANPA", b"ANVA",
        b"APKA",
    ];
    let prefix = b.get(i..i + 4)?;
    if !PREFIXES.iter().any(|p| p[..] == *prefix) {
        return None;
    }
    let e = run(b, i + 4, BASE32, 16);
    (e == i + 20 && !has(at(b, e), ALNUM)).then_some(e)
}

/// `AIza` and exactly 35 of `[A-Za-z0-9_-]`.
fn google_api_key(b: &[u8], i: usize) -> Option<usize> {
    if !starts_with(b, i, b"AIza") {
        return None;
    }
    let e = run(b, i + 4, B64URL, 36);
    (e == i + 39).then_some(e)
}

/// At a `_`: the GitHub, Stripe and Stripe webhook tokens, whose prefixes
/// end with one, as `(kind, start, end)`.
fn underscore_token(b: &[u8], u: usize) -> Option<(Kind, usize, usize)> {
    let before = |len: usize| u.checked_sub(len).filter(|&s| !glued_before(b, s));
    let p = at(b, u.wrapping_sub(1));
    if matches!(p, b'p' | b'o' | b'u' | b's' | b'r') && u >= 3 && &b[u - 3..u - 1] == b"gh" {
        // `gh[pousr]_` and 36–255 of `[A-Za-z0-9]`.
        let s = before(3)?;
        let e = run(b, u + 1, ALNUM, 256);
        let ok = (36..=255).contains(&(e - (u + 1))) && !has(at(b, e), ALNUM);
        return ok.then_some((Kind::GithubToken, s, e));
    }
    if p == b'k' && u >= 2 && matches!(b[u - 2], b's' | b'r') {
        // `(sk|rk)_(live|test)_` and 10–247 of `[A-Za-z0-9]` (a publishable
        // key, `pk_`, is public by design).
        let s = before(2)?;
        if !starts_with(b, u + 1, b"live_") && !starts_with(b, u + 1, b"test_") {
            return None;
        }
        let e = run(b, u + 6, ALNUM, 248);
        let ok = (10..=247).contains(&(e - (u + 6))) && !has(at(b, e), ALNUM);
        return ok.then_some((Kind::StripeKey, s, e));
    }
    if p == b'm' && u >= 3 && &b[u - 3..u] == b"npm" {
        // `npm_` and exactly 36 of `[A-Za-z0-9]`.
        let s = before(3)?;
        let e = run(b, u + 1, ALNUM, 37);
        return (e - (u + 1) == 36).then_some((Kind::NpmToken, s, e));
    }
    if p == b'c' && u >= 5 && &b[u - 5..u] == b"whsec" {
        // `whsec_` and 20 or more of `[A-Za-z0-9]`.
        let s = before(5)?;
        let e = run(b, u + 1, ALNUM, usize::MAX);
        return (e - (u + 1) >= 20).then_some((Kind::StripeKey, s, e));
    }
    if p == b'b' && u >= 6 && &b[u - 6..u] == b"github" && starts_with(b, u + 1, b"pat_") {
        // `github_pat_` and 22 or more of `[A-Za-z0-9_]`.
        let s = before(6)?;
        let e = run(b, u + 5, WORD, usize::MAX);
        return (e - (u + 5) >= 22).then_some((Kind::GithubToken, s, e));
    }
    None
}

/// `xox[abposre]-` or `xapp-`, then 10 or more of `[A-Za-z0-9-]`.
fn slack_token(b: &[u8], i: usize) -> Option<usize> {
    let known = (starts_with(b, i, b"xox")
        && matches!(at(b, i + 3), b'a' | b'b' | b'p' | b'o' | b's' | b'r' | b'e'))
        || starts_with(b, i, b"xapp");
    if !known || at(b, i + 4) != b'-' {
        return None;
    }
    let e = run(b, i + 5, SLACK, usize::MAX);
    (e - (i + 5) >= 10).then_some(e)
}

/// `https://hooks.slack.com/services/` is at `p - 25`: the path `T…/B…/…`.
fn slack_webhook_path(b: &[u8], p: usize) -> Option<(usize, usize)> {
    let mut k = p;
    for lead in [b'T', b'B'] {
        if at(b, k) != lead {
            return None;
        }
        let e = run(b, k + 1, ALNUM, usize::MAX);
        if e == k + 1 || at(b, e) != b'/' {
            return None;
        }
        k = e + 1;
    }
    let e = run(b, k, ALNUM, usize::MAX);
    (e > k && !is_mask(&b[k..e])).then_some((p, e))
}

/// At the `J` of a payload's `.eyJ`: a JWT `eyJ…` `.` `eyJ…` (header and
/// payload each at least 10 bytes of base64url, the header not glued to one
/// before it), then optionally `.` and a signature of base64url.
fn jwt(b: &[u8], j: usize) -> Option<(usize, usize)> {
    let dot = j.checked_sub(3)?;
    if !starts_with(b, dot, b".eyJ") {
        return None;
    }
    let mut h = dot;
    while h > 0 && has(b[h - 1], B64URL) {
        h -= 1;
    }
    if dot - h < 10 || !starts_with(b, h, b"eyJ") {
        return None;
    }
    let p = run(b, dot + 1, B64URL, usize::MAX);
    if p - (dot + 1) < 10 {
        return None;
    }
    if at(b, p) == b'.' {
        Some((h, run(b, p + 1, B64URL, usize::MAX)))
    } else {
        Some((h, p))
    }
}

/// `Bearer` (any case), blanks, and a token of 16 or more of
/// `[A-Za-z0-9._~+/=_-]`: the token's span.
fn bearer_token(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if !starts_with_ci(b, i, b"bearer") || !has(at(b, i + 6), BLANK) {
        return None;
    }
    let s = run(b, i + 6, BLANK, usize::MAX);
    let e = run(b, s, BEARER, usize::MAX);
    let token = &b[s..e];
    // A masked token, or a Stripe publishable key: public.
    let public = is_mask(token) || token.starts_with(b"pk_live_") || token.starts_with(b"pk_test_");
    (e - s >= 16 && !public).then_some((s, e))
}

/// `sk-` at a word's start: an Anthropic key (`sk-ant-` and 32 or more of
/// `[A-Za-z0-9_-]`) or an OpenAI key (`sk-proj-`, `sk-svcacct-`,
/// `sk-admin-`, `sk-None-` and 40 or more of them, or the legacy `sk-` and
/// 48 of `[A-Za-z0-9]` with `T3BlbkFJ` inside), as `(kind, end)`.
fn sk_dash_key(b: &[u8], i: usize) -> Option<(Kind, usize)> {
    if !starts_with(b, i, b"sk-") {
        return None;
    }
    let tail = |from: usize, min: usize| {
        let e = run(b, from, B64URL, usize::MAX);
        (e - from >= min).then_some(e)
    };
    if starts_with(b, i + 3, b"ant-") {
        return Some((Kind::AnthropicApiKey, tail(i + 7, 32)?));
    }
    for prefix in [&b"proj-"[..], b"svcacct-", b"admin-", b"None-"] {
        if starts_with(b, i + 3, prefix) {
            return Some((Kind::OpenaiApiKey, tail(i + 3 + prefix.len(), 40)?));
        }
    }
    let e = run(b, i + 3, ALNUM, 49);
    let legacy = e - (i + 3) == 48
        && !has(at(b, e), B64URL)
        && b[i + 3..e].windows(8).any(|w| w == b"T3BlbkFJ");
    legacy.then_some((Kind::OpenaiApiKey, e))
}

/// GitLab token prefixes (`glpat-` personal, `gldt-` deploy, `glrt-`
/// runner, …).
const GITLAB_PREFIXES: [&[u8]; 12] = [
    b"glpat-",
    b"gldt-",
    b"glrt-",
    b"glptt-",
    b"gloas-",
    b"glcbt-",
    b"glimt-",
    b"glft-",
    b"glsoat-",
    b"glagent-",
    b"glffct-",
    b"glwt-",
];

/// At a `-` after a letter or digit: the start of the GitLab token prefix
/// (`glpat-`, …) that ends there, if one does (at a word's start).
fn gitlab_prefix(b: &[u8], dash: usize) -> Option<usize> {
    GITLAB_PREFIXES.iter().find_map(|p| {
        let s = (dash + 1).checked_sub(p.len())?;
        (starts_with(b, s, p) && !glued_before(b, s)).then_some(s)
    })
}

/// At the start of a GitLab token: the token, one of
/// [`GITLAB_PREFIXES`] and 20 or more of `[A-Za-z0-9_-]` (with the `.`
/// segments of the newer format), or a runner registration token
/// `GR1348941` and 20 or more of them.
fn gitlab_token(b: &[u8], i: usize) -> Option<usize> {
    let prefix = if starts_with(b, i, b"GR1348941") {
        9
    } else {
        GITLAB_PREFIXES.iter().find(|p| starts_with(b, i, p))?.len()
    };
    let mut e = run(b, i + prefix, B64URL, usize::MAX);
    if e - (i + prefix) < 20 {
        return None;
    }
    while at(b, e) == b'.' && has(at(b, e + 1), ALNUM) {
        e = run(b, e + 1, B64URL, usize::MAX);
    }
    Some(e)
}

/// At the `A` of `AgE`: a PyPI token `pypi-AgE` and 60 or more of
/// `[A-Za-z0-9_-]`, `pypi` not glued before; as `(start, end)`.
fn pypi_token(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let s = i.checked_sub(5)?;
    if !starts_with(b, s, b"pypi-AgE") || glued_before(b, s) {
        return None;
    }
    let e = run(b, i, B64URL, usize::MAX);
    (e - i >= 63).then_some((s, e))
}

/// Bytes of a Microsoft Entra client secret.
fn entra_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'~' | b'.' | b'-')
}

/// At a `~`: a Microsoft Entra client secret, three of `[A-Za-z0-9_~.-]`,
/// a digit, `Q~` and 31 to 34 of them (all of them); as `(start, end)`.
fn entra_secret(b: &[u8], t: usize) -> Option<(usize, usize)> {
    let s = t.checked_sub(5)?;
    if at(b, t - 1) != b'Q' || !at(b, t - 2).is_ascii_digit() {
        return None;
    }
    if !b[s..t - 2].iter().all(|&c| entra_byte(c)) || (s > 0 && entra_byte(b[s - 1])) {
        return None;
    }
    let mut e = t + 1;
    while e < b.len() && e - t <= 35 && entra_byte(b[e]) {
        e += 1;
    }
    ((32..=35).contains(&(e - t)) && !entra_byte(at(b, e))).then_some((s, e))
}

/// Keys whose value is an Azure storage or Service Bus key.
fn azure_key_name(key: &[u8]) -> bool {
    let key = key.strip_suffix(b"\"").unwrap_or(key);
    let key = key.strip_prefix(b"\"").unwrap_or(key);
    [&b"AccountKey"[..], b"SharedAccessKey"]
        .iter()
        .any(|k| key.eq_ignore_ascii_case(k))
}

/// An Azure key: 40 or more bytes of base64.
fn azure_key_value(v: &[u8]) -> bool {
    v.len() >= 40 && v.iter().all(|&c| has(c, B64) || c == b'=')
}

/// At the `=` of `=>`: a psql prompt (`billing=> SELECT …`, `auth=>
/// \conninfo`): a database name alone at the start of its line, glued to
/// the `=>`, then one space and a meta-command or an SQL command.
fn psql_prompt(b: &[u8], eq: usize) -> bool {
    const COMMANDS: [&[u8]; 22] = [
        b"select",
        b"insert",
        b"update",
        b"delete",
        b"with",
        b"create",
        b"alter",
        b"drop",
        b"begin",
        b"commit",
        b"rollback",
        b"grant",
        b"revoke",
        b"set",
        b"show",
        b"explain",
        b"copy",
        b"table",
        b"truncate",
        b"vacuum",
        b"analyze",
        b"values",
    ];
    let name = eq
        - (0..eq)
            .rev()
            .take_while(|&k| has(b[k], WORD) || b[k] == b'-')
            .count();
    let at_line_start = name < eq && (name == 0 || b[name - 1] == b'\n');
    if !at_line_start || at(b, eq + 2) != b' ' {
        return false;
    }
    let cmd = eq + 3;
    let word = run(b, cmd, ALNUM, 16);
    at(b, cmd) == b'\\'
        || (!has(at(b, word), ALNUM | QUOTE)
            && COMMANDS
                .iter()
                .any(|c| b[cmd..word].eq_ignore_ascii_case(c)))
}

/// At the `B`/`b` of SQL's `IDENTIFIED BY 'password'` (any case): the
/// quoted password's span.
fn identified_by(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if !starts_with_ci(b, i, b"by") || i < 11 || !b[i - 11..i].eq_ignore_ascii_case(b"identified ")
    {
        return None;
    }
    let q = run(b, i + 2, BLANK, usize::MAX);
    let quote = at(b, q);
    if !matches!(quote, b'\'' | b'"') {
        return None;
    }
    let s = q + 1;
    let e = s + b
        .get(s..)?
        .iter()
        .take(256)
        .position(|&c| c == quote || c == b'\n')?;
    let value = b.get(s..e)?;
    let placeholder = matches!(value.first(), Some(b'$' | b'<' | b'{' | b'%' | b'['));
    let real = !placeholder && !is_mask(value) && !is_word_value(value);
    (b.get(e) == Some(&quote) && e - s >= 4 && real).then_some((s, e))
}

/// At a `-`: curl's `-u user:password` / `--user user:password` (the value
/// maybe quoted): the password's span.
fn user_option(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if i > 0 && !has(b[i - 1], SPACE | QUOTE) {
        return None;
    }
    let after = if starts_with(b, i, b"-u") {
        i + 2
    } else if starts_with(b, i, b"--user") {
        i + 6
    } else {
        return None;
    };
    if !has(at(b, after), BLANK) {
        return None;
    }
    let mut v = run(b, after, BLANK, usize::MAX);
    let quote = if has(at(b, v), QUOTE) { at(b, v) } else { b' ' };
    if quote != b' ' {
        v += 1;
    }
    let end = v + b
        .get(v..)?
        .iter()
        .take(512)
        .take_while(|&&c| !has(c, SPACE) && c != quote)
        .count();
    let colon = v + b.get(v..end)?.iter().position(|&c| c == b':')?;
    let s = colon + 1;
    let value = b.get(s..end)?;
    let placeholder = value
        .first()
        .is_some_and(|&c| matches!(c, b'$' | b'<' | b'{'));
    // `docker run -u 1000:1000`: a user and group id.
    let ids = b[v..colon].iter().all(u8::is_ascii_digit) && value.iter().all(u8::is_ascii_digit);
    (value.len() >= 4 && !placeholder && !ids && !is_mask(value)).then_some((s, end))
}

/// How far back a `.pgpass` line is read from one of its colons.
const MAX_PGPASS_LINE: usize = 256;

/// At a `:`: when it is the fourth of a `.pgpass` line
/// `host:port:database:user:password` (a port of digits or `*`, no blanks,
/// four colons, at the start of its line), the end of the password.
fn pgpass_password(b: &[u8], colon: usize) -> Option<usize> {
    let lo = colon.saturating_sub(MAX_PGPASS_LINE);
    let mut colons = [0usize; 3];
    let mut n = 0;
    let mut k = colon;
    while k > lo && b[k - 1] != b'\n' {
        let c = b[k - 1];
        if has(c, SPACE | QUOTE) {
            return None;
        }
        if c == b':' {
            if n == 3 {
                return None;
            }
            colons[n] = k - 1;
            n += 1;
        }
        k -= 1;
    }
    if n != 3 || (k > 0 && b[k - 1] != b'\n') {
        return None;
    }
    // colons[2] ends the host, colons[1] the port.
    let port = b.get(colons[2] + 1..colons[1])?;
    let fields_ok = colons[2] > k
        && colons[1] > colons[2] + 1
        && colons[0] > colons[1] + 1
        && colon > colons[0] + 1;
    if !fields_ok || !(port == b"*" || port.iter().all(u8::is_ascii_digit)) {
        return None;
    }
    let s = colon + 1;
    let e = s + b.get(s..)?.iter().take_while(|&&c| !has(c, SPACE)).count();
    let value = b.get(s..e)?;
    (value.len() >= 4 && !value.contains(&b':') && !is_mask(value)).then_some(e)
}

/// How far back a `.netrc` entry's `machine` or `login` is looked for.
const NETRC_WINDOW: usize = 256;

/// At the `p` of `password ` in a `.netrc` entry (after `machine NAME` or
/// `default`, and `login NAME`, within [`NETRC_WINDOW`] bytes before: see
/// [`Netrc::entry_before`]): the span of its value.
fn netrc_password(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let s = run(b, i + 8, BLANK, usize::MAX);
    let e = s + b.get(s..)?.iter().take_while(|&&c| !has(c, SPACE)).count();
    let value = b.get(s..e)?;
    let placeholder = matches!(value.first(), Some(b'$' | b'<' | b'{' | b'%'));
    (value.len() >= 4 && !is_mask(value) && !is_word_value(value) && !placeholder).then_some((s, e))
}
