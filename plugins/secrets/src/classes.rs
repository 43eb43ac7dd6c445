//! Byte classes of the folded text, as 256-entry tables, and small helpers
//! over byte slices that never panic (out of range reads as byte 0, which is
//! in no class).

use palisade_guest::text::ENCODED_SLASH;

/// `[A-Za-z0-9]`: bytes a token must not be glued to.
pub(crate) const ALNUM: u16 = 1 << 0;
/// `[A-Za-z0-9/+]`: the alphabet of an AWS secret access key.
pub(crate) const B64: u16 = 1 << 1;
/// `[A-Za-z0-9_-]`: base64url, the alphabet of JWT segments and Google keys.
pub(crate) const B64URL: u16 = 1 << 2;
/// `[A-Za-z0-9_.-]`: bytes of an assignment's key.
pub(crate) const KEY: u16 = 1 << 3;
/// `[A-Za-z0-9._~+/=_-]`: bytes of a bearer token (RFC 6750 `b64token`).
pub(crate) const BEARER: u16 = 1 << 4;
/// Bytes that end an unquoted value: ASCII whitespace and `, ; & } ) ]`.
pub(crate) const STOP: u16 = 1 << 5;
/// Space and tab.
pub(crate) const BLANK: u16 = 1 << 6;
/// `[A-Za-z0-9_]`.
pub(crate) const WORD: u16 = 1 << 7;
/// `[A-Za-z0-9-]`: the alphabet of Slack tokens.
pub(crate) const SLACK: u16 = 1 << 8;
/// `[A-Z0-9 ]`: bytes of a PEM label such as `RSA PRIVATE KEY`.
pub(crate) const LABEL: u16 = 1 << 9;
/// `[A-Z2-7]`: the alphabet of an AWS access key id after its prefix.
pub(crate) const BASE32: u16 = 1 << 10;
/// The quotes `"`, `'` and `` ` ``.
pub(crate) const QUOTE: u16 = 1 << 11;
/// ASCII whitespace.
pub(crate) const SPACE: u16 = 1 << 12;

const fn build_flags() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let upper = c.is_ascii_uppercase();
        let alnum = c.is_ascii_alphanumeric();
        let mut f = 0;
        if alnum {
            f |= ALNUM | B64 | B64URL | KEY | BEARER | WORD | SLACK;
        }
        if upper || c.is_ascii_digit() || c == b' ' {
            f |= LABEL;
        }
        if upper || (c >= b'2' && c <= b'7') {
            f |= BASE32;
        }
        match c {
            // `ENCODED_SLASH` is a `%2F`: a `/` of the value.
            b'/' | b'+' | ENCODED_SLASH => f |= B64 | BEARER,
            b'_' => f |= B64URL | KEY | BEARER | WORD,
            b'-' => f |= B64URL | KEY | BEARER | SLACK,
            b'.' => f |= KEY | BEARER,
            b'~' | b'=' => f |= BEARER,
            b',' | b';' | b'&' | b'}' | b')' | b']' => f |= STOP,
            b'"' | b'\'' | b'`' => f |= QUOTE,
            b' ' | b'\t' => f |= BLANK | SPACE | STOP,
            b'\n' | b'\r' | 0x0b | 0x0c => f |= SPACE | STOP,
            _ => {}
        }
        t[i] = f;
        i += 1;
    }
    t
}

static FLAGS: [u16; 256] = build_flags();

/// True when byte `c` is in any of the classes `mask`.
#[inline(always)]
pub(crate) fn has(c: u8, mask: u16) -> bool {
    FLAGS[c as usize] & mask != 0
}

/// The byte at `i`, or 0 past the end.
#[inline(always)]
pub(crate) fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

/// True when the byte before `i` is a letter or digit.
#[inline(always)]
pub(crate) fn glued_before(b: &[u8], i: usize) -> bool {
    i > 0 && has(at(b, i - 1), ALNUM)
}

/// True when `b[i..]` starts with `pat`.
#[inline]
pub(crate) fn starts_with(b: &[u8], i: usize, pat: &[u8]) -> bool {
    b.get(i..).is_some_and(|s| s.starts_with(pat))
}

/// True when `b[i..]` starts with `pat`, ignoring ASCII case.
#[inline]
pub(crate) fn starts_with_ci(b: &[u8], i: usize, pat: &[u8]) -> bool {
    b.get(i..i.saturating_add(pat.len()))
        .is_some_and(|s| s.eq_ignore_ascii_case(pat))
}

/// True when `s` ends with `pat`, ignoring ASCII case.
#[inline]
pub(crate) fn ends_with_ci(s: &[u8], pat: &[u8]) -> bool {
    s.len() >= pat.len() && s[s.len() - pat.len()..].eq_ignore_ascii_case(pat)
}

/// The end of the run of bytes in `mask` that starts at `i`, looking at no
/// more than `cap` bytes.
#[inline]
pub(crate) fn run(b: &[u8], i: usize, mask: u16, cap: usize) -> usize {
    let limit = b.len().min(i.saturating_add(cap));
    let mut k = i;
    while k < limit && has(b[k], mask) {
        k += 1;
    }
    k
}

/// What the scanner does at a byte: nothing, or one of the checks below.
pub(crate) mod trigger {
    /// `A` at a word's start: AWS access key ids and Google API keys.
    pub(crate) const UPPER_A: u8 = 1;
    /// `s`, `S` at a word's start: the `secret` of AWS key names.
    pub(crate) const S: u8 = 2;
    /// `B`, `b` at a word's start: bearer tokens, and the `BEGIN` of PEM
    /// private keys.
    pub(crate) const B: u8 = 3;
    /// `x` at a word's start: Slack tokens.
    pub(crate) const X: u8 = 4;
    /// `_` after a letter or digit: GitHub and Stripe tokens, whose prefixes
    /// end with one.
    pub(crate) const UNDERSCORE: u8 = 5;
    /// `J` after a letter or digit: JWTs, at the payload's `.eyJ`.
    pub(crate) const J: u8 = 6;
    /// `-` after a byte that is not a letter or digit: `--option value`.
    pub(crate) const DASH: u8 = 7;
    /// `:`: URLs and `key: value`.
    pub(crate) const COLON: u8 = 8;
    /// `=`: `key=value`.
    pub(crate) const EQ: u8 = 9;
    /// `~`: the `Q~` of Microsoft Entra client secrets.
    pub(crate) const TILDE: u8 = 11;
    /// `-` after a letter or digit: the end of a GitLab token's prefix
    /// (`glpat-`).
    pub(crate) const DASH_IN_WORD: u8 = 12;
    /// `G` at a word's start: GitLab runner registration tokens
    /// (`GR1348941…`).
    pub(crate) const UPPER_G: u8 = 13;
    /// `p` at a word's start: the `password` of a `.netrc` entry.
    pub(crate) const P: u8 = 14;
}

const fn build_triggers() -> [u8; 512] {
    let mut t = [0u8; 512];
    // After a byte that is not a letter or digit.
    t[b'A' as usize] = trigger::UPPER_A;
    t[b's' as usize] = trigger::S;
    t[b'S' as usize] = trigger::S;
    t[b'B' as usize] = trigger::B;
    t[b'b' as usize] = trigger::B;
    t[b'x' as usize] = trigger::X;
    t[b'-' as usize] = trigger::DASH;
    t[b'G' as usize] = trigger::UPPER_G;
    t[b'p' as usize] = trigger::P;
    // After a letter or digit.
    t[256 + b'_' as usize] = trigger::UNDERSCORE;
    t[256 + b'J' as usize] = trigger::J;
    t[256 + b'-' as usize] = trigger::DASH_IN_WORD;
    // Anywhere.
    t[b':' as usize] = trigger::COLON;
    t[b'=' as usize] = trigger::EQ;
    t[256 + b':' as usize] = trigger::COLON;
    t[256 + b'=' as usize] = trigger::EQ;
    t[b'~' as usize] = trigger::TILDE;
    t[256 + b'~' as usize] = trigger::TILDE;
    t
}

/// The trigger of each byte, 0 for the bytes that cost nothing: indexed by
/// the byte, plus 256 when the byte before it is a letter or digit.
pub(crate) static TRIGGERS: [u8; 512] = build_triggers();

const fn build_after() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut c = 0;
    while c < 256 {
        if (c as u8).is_ascii_alphanumeric() {
            t[c] = 256;
        }
        c += 1;
    }
    t
}

/// What to add to the next byte's index in [`TRIGGERS`]: 256 after a letter
/// or digit, else 0.
pub(crate) static AFTER: [u16; 256] = build_after();
