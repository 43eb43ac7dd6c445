//! Which assignment keys name a password or a secret: the key before an
//! operator, split into words, and the secret words at its end.

use crate::classes::{BLANK, QUOTE, ends_with_ci, has};
use crate::kind::Kind;

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
pub(crate) const MAX_KEY: usize = 64;
/// The most blanks between a key and its operator.
const MAX_KEY_BLANKS: usize = 32;

/// The key that ends just before the operator at `op`: blanks, then an
/// optional `]`, an optional closing quote (possibly escaped `\"`), then the
/// key bytes `[A-Za-z0-9_.-]` (blanks too inside quotes), at most 64. `None`
/// when there is none, or when it fails the quick filter of
/// [`may_name_secret`].
pub(crate) fn key_before(b: &[u8], op: usize) -> Option<(usize, usize)> {
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
        || last.eq_ignore_ascii_case(b"pw")
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
            && [&b"api"[..], b"access", b"private", b"account"]
                .iter()
                .any(|w| ends_with_ci(words[words.len() - 2], w)));
    secret.then_some(KeyKind {
        kind: Kind::Secret,
        pwd: false,
        scheme: ends_with_ci(last, b"authorization") || last.eq_ignore_ascii_case(b"auth"),
    })
}
