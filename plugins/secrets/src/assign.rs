//! Assignments whose key names a password or a secret: `key: value`,
//! `key=value` and the like, and `--key value`; where the value starts and
//! ends, and whether it is reported. Which keys name a secret is
//! [`crate::keys`]'s, which values are not secrets [`crate::values`]'s.

use crate::classes::{ALNUM, BLANK, KEY, QUOTE, SPACE, STOP, at, has, run, starts_with_ci};
use crate::keys::{KeyKind, MAX_KEY, key_before, key_kind};
use crate::kind::Kind;
use crate::pem::public_pem;
use crate::values::{is_code, is_mask, is_type_name, is_word_value, placeholder_end};

/// An assignment read: the span of its key, what the key names, the value
/// when it is reported, and where reading the value ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Assigned {
    /// The key, `start..end` in the folded bytes.
    pub(crate) key: (usize, usize),
    /// [`Kind::Password`] or [`Kind::Secret`].
    pub(crate) kind: Kind,
    /// The value, when it is a secret.
    pub(crate) secret: Option<(usize, usize)>,
    /// Where the value ends: assignments before it are inside it.
    pub(crate) end: usize,
}

/// The operator `:`/`=` (and so on) is at `op`, its value starts at `value`:
/// the assignment, when its key names a secret.
pub(crate) fn assignment(b: &[u8], op: usize, value: usize) -> Option<Assigned> {
    let form = if b[op] == b':' && value == op + 1 {
        Form::Colon
    } else {
        Form::Assignment
    };
    let (ks, ke) = key_before(b, op)?;
    let kk = key_kind(&b[ks..ke])?;
    let (secret, end) = read_value(b, kk, value, form);
    Some(Assigned {
        key: (ks, ke),
        kind: kk.kind,
        secret,
        end,
    })
}

/// At a `-`: a command-line option `--key value` (the `--key=value` form is
/// an ordinary assignment), unless `i` is before `assign_until`.
pub(crate) fn option(b: &[u8], i: usize, assign_until: usize) -> Option<Assigned> {
    if at(b, i + 1) != b'-' || i < assign_until || (i > 0 && !has(b[i - 1], SPACE | QUOTE)) {
        return None;
    }
    let ks = i + 2;
    let ke = run(b, ks, KEY, MAX_KEY);
    if !has(at(b, ks), ALNUM) || !has(at(b, ke), BLANK) {
        return None;
    }
    let kk = key_kind(&b[ks..ke])?;
    let vs = run(b, ke, BLANK, usize::MAX);
    if at(b, vs) == b'-' {
        return None;
    }
    let (secret, end) = read_value(b, kk, vs, Form::Option);
    Some(Assigned {
        key: (ks, ke),
        kind: kk.kind,
        secret,
        end,
    })
}

/// Reads the value that starts at `vs` (after blanks): its span when it is
/// a secret, and where it ends.
fn read_value(b: &[u8], kk: KeyKind, vs: usize, form: Form) -> (Option<(usize, usize)>, usize) {
    let p = run(b, vs, BLANK, usize::MAX);
    // A string prefix of Python and the like: `f"…"`, `r'…'`, `b"…"`.
    let prefix = string_prefix(b, p);
    let p = p + prefix;
    let q = at(b, p);
    let escaped = q == b'\\' && has(at(b, p + 1), QUOTE);
    if form == Form::Colon && p == vs && prefix == 0 && has(q, QUOTE) && ends_unquoted(b, p) {
        // `-u "$STRIPE_KEY:" …`: the quote closes a string around the
        // key, there is no value.
        return (None, p);
    }
    if p < b.len() && (has(q, QUOTE) || escaped) {
        let quote = if escaped { at(b, p + 1) } else { q };
        let cs = p + 1 + usize::from(escaped);
        let (ce, end) = quoted_end(b, cs, quote, escaped);
        let cs = skip_scheme(b, cs, ce, kk.scheme);
        let secret = acceptable(b, kk, cs, ce, false, form).then_some((cs, ce));
        return (secret, end);
    }
    let cs = skip_scheme(b, p, b.len(), kk.scheme);
    if let Some(pe) = placeholder_end(b, cs)
        && ends_unquoted(b, pe)
    {
        return (None, pe);
    }
    if matches!(at(b, cs), b'{' | b'[') {
        // An object or a list: its members are assignments of their own.
        return (None, cs);
    }
    let ce = unquoted_end(b, cs);
    let secret = (acceptable(b, kk, cs, ce, true, form)
        && !(form == Form::Colon && is_prose(b, cs, ce)))
    .then_some((cs, ce));
    (secret, ce)
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

/// Whether the value `b[cs..ce]` of a key that names a secret is reported.
fn acceptable(b: &[u8], kk: KeyKind, cs: usize, ce: usize, unquoted: bool, form: Form) -> bool {
    let v = &b[cs..ce];
    if v.len() < 4 || is_mask(v) || is_word_value(v) || placeholder_end(b, cs) == Some(ce) {
        return false;
    }
    if (kk.pwd && matches!(v[0], b'/' | b'~')) || public_pem(v) {
        return false;
    }
    if unquoted && (is_type_name(v) || is_code(v)) {
        return false;
    }
    // A keyword argument passed on by name: `connect(user=user,
    // password=password)`.
    if unquoted && matches!(at(b, ce), b')' | b',') && key_names(b, cs, v) {
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

/// True when `v`, the value starting at `cs`, repeats the name of its key
/// (`password=password`): a variable passed on by name.
fn key_names(b: &[u8], cs: usize, v: &[u8]) -> bool {
    // The operator is the byte before the value, past blanks.
    let op = (0..cs).rev().find(|&k| !has(b[k], BLANK));
    op.and_then(|op| key_before(b, op))
        .is_some_and(|(ks, ke)| b[ks..ke].eq_ignore_ascii_case(v))
}
