//! Which values of a secret-naming key are not secrets: placeholders,
//! masks, words that say there is no value, type names and code.

use palisade_guest::text::MASK_SYMBOL;

use crate::classes::{KEY, WORD, at, run, starts_with};
use crate::keys::key_kind;

/// How far a placeholder's closing delimiter is looked for.
const MAX_PLACEHOLDER: usize = 256;

/// The end of a placeholder that starts at `cs`: `${…}`, `${{…}}`, `$(…)`,
/// `{{…}}`, `{name}`, `<…>`, `%(…)s`, `$NAME`, `%NAME%`, closed on the same
/// line within 256 bytes.
pub(crate) fn placeholder_end(b: &[u8], cs: usize) -> Option<usize> {
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
pub(crate) fn is_word_value(v: &[u8]) -> bool {
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
        b"hidden",
        b"filtered",
        b"bearer",
        b"basic",
        b"digest",
        b"token",
        // Permissions, as in a CI workflow's `id-token: write`.
        b"read",
        b"write",
    ]
    .iter()
    .any(|x| w.eq_ignore_ascii_case(x))
}

/// True when `v` is a value masked or cut already: only `*`, `x` and `X`;
/// a token's prefix and a mask to the end that is at least as long as what
/// comes before it or follows a `-` or `_` (`AIza********`,
/// `sk-proj-XXXXXXXX`, `•••••••`: three or more `*`, `.` or mask
/// characters, or six or more `x`/`X`); a short prefix and an ellipsis
/// (`xoxb-…`, `AIza…`); or anything that says `redacted` or `masked`.
/// (`Secret***` and `hunter2...` are values.)
pub(crate) fn is_mask(v: &[u8]) -> bool {
    if v.iter().all(|c| matches!(c, b'*' | b'x' | b'X')) {
        return true;
    }
    let is_symbol = |c: u8| matches!(c, b'*' | b'.' | MASK_SYMBOL);
    let tail = v
        .iter()
        .rev()
        .take_while(|&&c| is_symbol(c) || matches!(c, b'x' | b'X'))
        .count();
    let head = &v[..v.len() - tail];
    let symbols = v[head.len()..].iter().filter(|&&c| is_symbol(c)).count();
    // A token's prefix: `sk-proj-`, `xoxb-`, `glpat-` (at most 16 bytes,
    // ending `-` or `_`), or at most 4 bytes (`AIza`).
    let token_prefix =
        head.len() <= 4 || (head.len() <= 16 && matches!(head.last(), Some(b'-' | b'_')));
    let prefix = tail >= head.len() || token_prefix;
    if prefix && (symbols >= 3 || tail >= 6) {
        return true;
    }
    // `xoxb-…`, `AIza…`: a prefix cut with one ellipsis.
    if v.last() == Some(&MASK_SYMBOL) && token_prefix {
        return true;
    }
    [&b"redacted"[..], b"masked"]
        .iter()
        .any(|w| v.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w)))
}

/// Type names after `key:` in typed code (`password: string`).
pub(crate) fn is_type_name(v: &[u8]) -> bool {
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
pub(crate) fn is_code(v: &[u8]) -> bool {
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

/// Whether the password `b[s..e]` of a URL's userinfo is reported.
pub(crate) fn acceptable_url_password(b: &[u8], s: usize, e: usize) -> bool {
    s < e && !is_mask(&b[s..e]) && !is_word_value(&b[s..e]) && placeholder_end(b, s) != Some(e)
}
