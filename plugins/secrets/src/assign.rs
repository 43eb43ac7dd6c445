//! Assignments whose key names a password or a secret: which keys do, where
//! the value is, and which values are not secrets (placeholders, masks,
//! references to other variables).

use crate::Kind;
use crate::classes::{
    ALNUM, BLANK, KEY, QUOTE, SPACE, STOP, WORD, at, ends_with_ci, has, run, starts_with,
    starts_with_ci,
};
use crate::scan::Scanner;

/// What an assignment's key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyKind {
    /// [`Kind::Password`] or [`Kind::Secret`].
    pub(crate) kind: Kind,
    /// The key ends in `pwd`, like the shell's `PWD` and `OLDPWD`.
    pub(crate) pwd: bool,
    /// The key is `auth` or ends in `authorization`: its value may start
    /// with a scheme (`Bearer`, `Basic`).
    pub(crate) scheme: bool,
}

/// The longest key looked at, in bytes (a longer key is cut to its end).
const MAX_KEY: usize = 64;
/// The most blanks between a key and its operator.
const MAX_KEY_BLANKS: usize = 32;
/// How far a placeholder's closing delimiter is looked for.
const MAX_PLACEHOLDER: usize = 256;

impl Scanner<'_> {
    /// The operator `:`/`=` (and so on) is at `op`, its value starts at `value`.
    pub(crate) fn assignment(&mut self, op: usize, value: usize) {
        let form = if self.b[op] == b':' && value == op + 1 {
            Form::Colon
        } else {
            Form::Assignment
        };
        let b = self.b;
        let Some((ks, ke)) = key_before(b, op) else {
            return;
        };
        let Some(kk) = key_kind(&b[ks..ke]) else {
            return;
        };
        if kk.kind == Kind::Secret {
            // `awsSecretAccessKey`: the `S` is not at a word's start, where
            // the scanner looks for AWS key names.
            for k in ks + 1..ke {
                if matches!(b[k], b's' | b'S') && has(b[k - 1], ALNUM) {
                    self.aws_key_name(k);
                }
            }
        }
        let end = self.value(kk, value, form);
        self.assign_until = self.assign_until.max(end);
    }

    /// At a `-`: a command-line option `--key value` (the `--key=value` form
    /// is an ordinary assignment).
    pub(crate) fn option(&mut self, i: usize) {
        let b = self.b;
        if at(b, i + 1) != b'-' || i < self.assign_until || (i > 0 && !has(b[i - 1], SPACE | QUOTE))
        {
            return;
        }
        let ks = i + 2;
        let ke = run(b, ks, KEY, MAX_KEY);
        if !has(at(b, ks), ALNUM) || !has(at(b, ke), BLANK) {
            return;
        }
        let Some(kk) = key_kind(&b[ks..ke]) else {
            return;
        };
        let vs = run(b, ke, BLANK, usize::MAX);
        if at(b, vs) == b'-' {
            return;
        }
        let end = self.value(kk, vs, Form::Option);
        self.assign_until = self.assign_until.max(end);
    }

    /// Reads the value that starts at `vs` (after blanks), reports it when it
    /// is a secret, and returns where it ends.
    fn value(&mut self, kk: KeyKind, vs: usize, form: Form) -> usize {
        let b = self.b;
        let p = run(b, vs, BLANK, usize::MAX);
        // A string prefix of Python and the like: `f"…"`, `r'…'`, `b"…"`.
        let prefix = string_prefix(b, p);
        let p = p + prefix;
        let q = at(b, p);
        let escaped = q == b'\\' && has(at(b, p + 1), QUOTE);
        if form == Form::Colon && p == vs && prefix == 0 && has(q, QUOTE) && ends_unquoted(b, p) {
            // `-u "$STRIPE_KEY:" …`: the quote closes a string around the
            // key, there is no value.
            return p;
        }
        if p < b.len() && (has(q, QUOTE) || escaped) {
            let quote = if escaped { at(b, p + 1) } else { q };
            let cs = p + 1 + usize::from(escaped);
            let (ce, end) = quoted_end(b, cs, quote, escaped);
            let cs = skip_scheme(b, cs, ce, kk.scheme);
            if acceptable(b, kk, cs, ce, false, form) {
                self.push(kk.kind, cs, ce);
            }
            return end;
        }
        let cs = skip_scheme(b, p, b.len(), kk.scheme);
        if let Some(pe) = placeholder_end(b, cs)
            && ends_unquoted(b, pe)
        {
            return pe;
        }
        if matches!(at(b, cs), b'{' | b'[') {
            // An object or a list: its members are assignments of their own.
            return cs;
        }
        let ce = unquoted_end(b, cs);
        if acceptable(b, kk, cs, ce, true, form) && !(form == Form::Colon && is_prose(b, cs, ce)) {
            self.push(kk.kind, cs, ce);
        }
        ce
    }
}

/// The length of a string prefix (`f`, `r`, `b`, `u`, `rb`, `br`, `fr`, `rf`,
/// any case) that starts a quoted value at `p`, or 0.
fn string_prefix(b: &[u8], p: usize) -> usize {
    let letter = |c: u8| matches!(c | 0x20, b'f' | b'r' | b'b' | b'u');
    if !letter(at(b, p)) {
        0
    } else if has(at(b, p + 1), QUOTE) {
        1
    } else if letter(at(b, p + 1)) && has(at(b, p + 2), QUOTE) {
        2
    } else {
        0
    }
}

/// How a value was assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `key: value`.
    Colon,
    /// `key=value`, `key := value`, `key => value`.
    Assignment,
    /// `--key value`.
    Option,
}

/// True when the unquoted value `b[cs..ce]` after `key:` is a word of prose:
/// only letters, and followed on its line by blanks and another word
/// (`auth: rejected expired token`).
fn is_prose(b: &[u8], cs: usize, ce: usize) -> bool {
    b[cs..ce].iter().all(u8::is_ascii_alphabetic)
        && has(at(b, ce), BLANK)
        && at(b, run(b, ce, BLANK, usize::MAX)).is_ascii_alphabetic()
}

/// The key that ends just before the operator at `op`: blanks, then an
/// optional `]`, an optional closing quote (possibly escaped `\"`), then the
/// key bytes `[A-Za-z0-9_.-]` (blanks too inside quotes), at most 64. `None`
/// when there is none, or when it fails the quick filter of
/// [`may_name_secret`].
fn key_before(b: &[u8], op: usize) -> Option<(usize, usize)> {
    let mut j = op;
    let mut blanks = 0;
    while j > 0 && has(b[j - 1], BLANK) && blanks < MAX_KEY_BLANKS {
        j -= 1;
        blanks += 1;
    }
    if j > 0 && b[j - 1] == b']' {
        j -= 1;
    }
    let mut quoted = false;
    if j > 0 && has(b[j - 1], QUOTE) {
        j -= 1;
        quoted = true;
        if j > 0 && b[j - 1] == b'\\' {
            j -= 1;
        }
    }
    let end = j;
    let limit = end.saturating_sub(MAX_KEY);
    let stop = if quoted {
        KEY_BYTE | BLANK_BYTE
    } else {
        KEY_BYTE
    };
    // The quick filter of `may_name_secret`, on the way.
    let (mut hit, mut after) = (0, 0);
    while j > limit {
        let c = b[j - 1];
        let v = KEY_TABLE[c as usize];
        if v & stop == 0 {
            break;
        }
        hit |= (v & FOLLOWERS) >> (after & 31);
        after = c;
        j -= 1;
    }
    (hit & 1 != 0).then_some((j, end))
}

/// [`KEY_TABLE`]: a byte of a key.
const KEY_BYTE: u32 = 1 << 31;
/// [`KEY_TABLE`]: a blank.
const BLANK_BYTE: u32 = 1 << 30;
/// [`KEY_TABLE`]: the bits of [`FOLLOWS`].
const FOLLOWERS: u32 = (1 << 30) - 1;

/// For each byte: [`KEY_BYTE`], [`BLANK_BYTE`], and `FOLLOWS[c & 31]`, in one
/// lookup.
static KEY_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut c = 0;
    while c < 256 {
        let mut v = FOLLOWS[c & 31];
        let byte = c as u8;
        if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-') {
            v |= KEY_BYTE;
        }
        if matches!(byte, b' ' | b'\t') {
            v |= BLANK_BYTE;
        }
        t[c] = v;
        c += 1;
    }
    t
};

/// Words after which a secret word still names the value: `secret_key`,
/// `password_hash`, `token_value`. (And `id` after `secret`: Vault's
/// `secret_id`.)
const SUFFIXES: &[&[u8]] = &[
    b"key",
    b"value",
    b"val",
    b"str",
    b"string",
    b"text",
    b"plain",
    b"plaintext",
    b"raw",
    b"hash",
    b"base",
    b"hex",
    b"enc",
    b"encrypted",
    b"data",
    b"confirm",
    b"confirmation",
];

/// Whether a key names a password or a secret.
///
/// The key is split into words at every byte that is not a letter or digit
/// and between a lowercase and an uppercase letter (`dbPassword`); trailing
/// digits of a word are ignored (`password2`). The key names a secret when
/// its last word, or its last word before one or two [`SUFFIXES`], is a
/// secret word (see the crate documentation).
pub(crate) fn key_kind(key: &[u8]) -> Option<KeyKind> {
    if !may_name_secret(key) {
        return None;
    }
    let mut words: [&[u8]; 4] = [&[]; 4];
    let mut count = 0;
    let mut k = 0;
    while k < key.len() {
        if !key[k].is_ascii_alphanumeric() {
            k += 1;
            continue;
        }
        let s = k;
        k += 1;
        while k < key.len()
            && key[k].is_ascii_alphanumeric()
            && !(key[k - 1].is_ascii_lowercase() && key[k].is_ascii_uppercase())
        {
            k += 1;
        }
        let mut e = k;
        while e > s && key[e - 1].is_ascii_digit() {
            e -= 1;
        }
        if e > s {
            if count == words.len() {
                words.rotate_left(1);
                count -= 1;
            }
            words[count] = &key[s..e];
            count += 1;
        }
    }
    let words = &words[..count];
    for strip in 0..=2.min(count.saturating_sub(1)) {
        if strip > 0 {
            let suffix = words[count - strip];
            let before = words[count - strip - 1];
            // `secret_id` (Vault) is a secret, `token_id` an identifier.
            let id = suffix.eq_ignore_ascii_case(b"id") && before.eq_ignore_ascii_case(b"secret");
            if !id && !SUFFIXES.iter().any(|s| suffix.eq_ignore_ascii_case(s)) {
                break;
            }
        }
        if let Some(kk) = secret_word(&words[..count - strip]) {
            return Some(kk);
        }
    }
    None
}

/// For each letter, the letters that may follow it in one of the bigrams of
/// [`may_name_secret`], as bits `1 << (c & 31)`.
const FOLLOWS: [u32; 32] = {
    let mut t = [0u32; 32];
    let pairs = *b"sspwcrtokeau";
    let mut k = 0;
    while k < pairs.len() {
        t[(pairs[k] & 31) as usize] |= 1 << (pairs[k + 1] & 31);
        k += 2;
    }
    t
};

/// A quick filter, without branches: every secret word has one of the
/// bigrams `ss`, `pw`, `cr`, `to`, `ke`, `au` in it (any case). Digits and
/// punctuation may pass it too; the full check sorts them out.
fn may_name_secret(key: &[u8]) -> bool {
    let mut hit = 0;
    for w in key.windows(2) {
        hit |= FOLLOWS[(w[0] & 31) as usize] >> (w[1] & 31);
    }
    hit & 1 != 0
}

/// Whether `words` end with a secret word.
fn secret_word(words: &[&[u8]]) -> Option<KeyKind> {
    let last = *words.last()?;
    let ends = |list: &[&[u8]]| list.iter().any(|w| ends_with_ci(last, w));
    if ends(&[b"password", b"passwords", b"passwd", b"passphrase", b"pwd"])
        || last.eq_ignore_ascii_case(b"pass")
    {
        return Some(KeyKind {
            kind: Kind::Password,
            pwd: ends_with_ci(last, b"pwd"),
            scheme: false,
        });
    }
    let secret = ends(&[
        b"secret",
        b"secrets",
        b"token",
        b"apikey",
        b"accesskey",
        b"privatekey",
        b"credential",
        b"credentials",
        b"authorization",
    ]) || last.eq_ignore_ascii_case(b"auth")
        || (last.eq_ignore_ascii_case(b"key")
            && words.len() >= 2
            && [&b"api"[..], b"access", b"private"]
                .iter()
                .any(|w| ends_with_ci(words[words.len() - 2], w)));
    secret.then_some(KeyKind {
        kind: Kind::Secret,
        pwd: false,
        scheme: ends_with_ci(last, b"authorization") || last.eq_ignore_ascii_case(b"auth"),
    })
}

/// The content end and the value end of a quoted value whose content starts
/// at `cs`: up to the matching unescaped quote (`\"` when the opening quote
/// was escaped), or to the end of the line when there is none.
fn quoted_end(b: &[u8], cs: usize, quote: u8, escaped: bool) -> (usize, usize) {
    let mut k = cs;
    while k < b.len() {
        let c = b[k];
        if c == b'\n' || c == b'\r' {
            return (k, k);
        }
        if c == b'\\' {
            let next = at(b, k + 1);
            if escaped && next == quote {
                return (k, k + 2);
            }
            // An escape, but not of a line end (a shell's continuation).
            k += if escaped || next == b'\n' || next == b'\r' {
                1
            } else {
                2
            };
            continue;
        }
        if c == quote && !escaped {
            return (k, k + 1);
        }
        k += 1;
    }
    (b.len(), b.len())
}

/// After `Authorization:` and the like (`any`), the value is what follows the
/// scheme; after any other key, what follows `Bearer`.
fn skip_scheme(b: &[u8], cs: usize, limit: usize, any: bool) -> usize {
    let schemes: &[&[u8]] = if any {
        &[b"bearer", b"basic", b"token", b"bot", b"digest"]
    } else {
        &[b"bearer"]
    };
    for scheme in schemes {
        let e = cs + scheme.len();
        if e < limit && starts_with_ci(b, cs, scheme) && has(b[e], BLANK) {
            return run(b, e, BLANK, limit - e);
        }
    }
    cs
}

/// True when an unquoted value ends at `k`: the end of the text, whitespace,
/// `, ; & } ) ]`, or a quote that closes a string around the assignment
/// (followed by the end, whitespace, one of those, another quote or `>`).
fn ends_unquoted(b: &[u8], k: usize) -> bool {
    if k >= b.len() {
        return true;
    }
    let c = b[k];
    if has(c, STOP) {
        return true;
    }
    if has(c, QUOTE) {
        return k + 1 >= b.len() || has(b[k + 1], STOP | QUOTE) || b[k + 1] == b'>';
    }
    c == b'\\' && has(at(b, k + 1), QUOTE)
}

/// The end of an unquoted value that starts at `cs`.
fn unquoted_end(b: &[u8], cs: usize) -> usize {
    let mut k = cs;
    while !ends_unquoted(b, k) {
        k += 1;
    }
    k
}

/// The end of a placeholder that starts at `cs`: `${…}`, `${{…}}`, `$(…)`,
/// `{{…}}`, `{name}`, `<…>`, `%(…)s`, `$NAME`, `%NAME%`, closed on the same
/// line within 256 bytes.
fn placeholder_end(b: &[u8], cs: usize) -> Option<usize> {
    let (close, from): (&[u8], usize) = match (at(b, cs), at(b, cs + 1)) {
        (b'$', b'{') if at(b, cs + 2) == b'{' => (b"}}", cs + 3),
        (b'$', b'{') => (b"}", cs + 2),
        (b'$', b'(') => (b")", cs + 2),
        (b'{', b'{') => (b"}}", cs + 2),
        (b'{', _) => {
            let e = run(b, cs + 1, WORD | KEY, MAX_PLACEHOLDER);
            return (e > cs + 1 && at(b, e) == b'}').then_some(e + 1);
        }
        (b'<', _) => (b">", cs + 1),
        (b'%', b'(') => (b")s", cs + 2),
        (b'$' | b'%', c) if c.is_ascii_alphabetic() || c == b'_' => {
            let e = run(b, cs + 1, WORD, MAX_PLACEHOLDER);
            return if at(b, cs) == b'%' {
                (at(b, e) == b'%').then_some(e + 1)
            } else {
                Some(e)
            };
        }
        _ => return None,
    };
    let limit = b.len().min(from + MAX_PLACEHOLDER);
    let mut k = from;
    while k < limit {
        match b[k] {
            b'\n' | b'\r' => return None,
            b'<' if close == b">" => return None,
            _ if starts_with(b, k, close) => return Some(k + close.len()),
            _ => k += 1,
        }
    }
    None
}

/// Values that say there is no value, that it was masked already, or that
/// are an authorization scheme without its credentials.
fn is_word_value(v: &[u8]) -> bool {
    let trim = |c: &u8| {
        matches!(
            c,
            b'[' | b']' | b'(' | b')' | b'<' | b'>' | b'*' | b'_' | b'-'
        )
    };
    let s = v.iter().position(|c| !trim(c)).unwrap_or(v.len());
    let e = v.iter().rposition(|c| !trim(c)).map_or(s, |e| e + 1);
    let w = &v[s..e];
    [
        &b"null"[..],
        b"none",
        b"nil",
        b"true",
        b"false",
        b"undefined",
        b"redacted",
        b"masked",
        b"filtered",
        b"bearer",
        b"basic",
        b"digest",
        b"token",
    ]
    .iter()
    .any(|x| w.eq_ignore_ascii_case(x))
}

/// True when `v` is only `*`, `x` and `X`.
fn is_mask(v: &[u8]) -> bool {
    v.iter().all(|c| matches!(c, b'*' | b'x' | b'X'))
}

/// Type names after `key:` in typed code (`password: string`).
fn is_type_name(v: &[u8]) -> bool {
    [
        &b"string"[..],
        b"bytes",
        b"boolean",
        b"number",
        b"integer",
        b"object",
        b"unknown",
        b"secretstr",
        b"secretstring",
    ]
    .iter()
    .any(|x| v.eq_ignore_ascii_case(x))
}

/// True when an unquoted value is code rather than a literal: an identifier
/// path followed by `(`, `[` or `<` (`get_token()`, `os.environ["X"]`,
/// `Option<String>`), or a path whose last identifier names a secret itself
/// and that has a `.` or a `_` or is in capitals (`self.password`,
/// `db_password`, `PASSWORD`).
fn is_code(v: &[u8]) -> bool {
    let ident_start = |c: u8| c.is_ascii_alphabetic() || c == b'_';
    let mut k = 0;
    let mut segments = 0;
    let mut last;
    loop {
        if k >= v.len() || !ident_start(v[k]) {
            return false;
        }
        let s = k;
        k = run(v, k, WORD, usize::MAX);
        segments += 1;
        last = (s, k);
        if at(v, k) == b'.' {
            k += 1;
            continue;
        }
        break;
    }
    if k < v.len() {
        return matches!(v[k], b'(' | b'[' | b'<');
    }
    let ident = &v[last.0..last.1];
    let upper = ident
        .iter()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_');
    key_kind(ident).is_some() && (segments >= 2 || upper || ident.contains(&b'_'))
}

/// Whether the value `b[cs..ce]` of a key that names a secret is reported.
fn acceptable(b: &[u8], kk: KeyKind, cs: usize, ce: usize, unquoted: bool, form: Form) -> bool {
    let v = &b[cs..ce];
    if v.len() < 4 || is_mask(v) || is_word_value(v) || placeholder_end(b, cs) == Some(ce) {
        return false;
    }
    if (kk.pwd && matches!(v[0], b'/' | b'~')) || crate::scan::public_pem(v) {
        return false;
    }
    if unquoted && (is_type_name(v) || is_code(v)) {
        return false;
    }
    if form == Form::Option
        && v.iter()
            .all(|c| c.is_ascii_alphabetic() || matches!(c, b'_' | b'-'))
        && (v.len() < 12 || v.iter().all(|c| !c.is_ascii_lowercase()))
    {
        // A word of a sentence or of a help text: `the --token flag`,
        // `--token TOKEN`.
        return false;
    }
    true
}

/// Whether the password `b[s..e]` of a URL's userinfo is reported.
pub(crate) fn acceptable_url_password(b: &[u8], s: usize, e: usize) -> bool {
    s < e && !is_mask(&b[s..e]) && placeholder_end(b, s) != Some(e)
}
