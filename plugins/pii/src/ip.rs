//! IPv4 and IPv6 addresses.

use crate::bytes::{at, before, is_digit, is_word};

/// Longest IPv6 text read: 45 characters
/// (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`) and a trailing `.` or `:`.
const MAX_V6: usize = 47;

/// Words that make a dotted quad after them a version number.
const VERSION_WORDS: [&[u8]; 5] = [b"version", b"ver", b"v", b"build", b"release"];

/// How far back [`VERSION_WORDS`] are looked for.
const VERSION_WINDOW: usize = 12;

/// A dotted-quad IPv4 address starting at the digit `i` (a word start).
///
/// Four octets 0-255 without leading zeros, joined by `.`; not glued to a
/// word, not part of a longer dotted sequence (`1.2.3.4.5`, `a.1.2.3.4`), and
/// not within 12 bytes after a version word.
pub(crate) fn v4(b: &[u8], i: usize) -> Option<usize> {
    if before(b, i, 1) == b'.' && is_word(before(b, i, 2)) {
        return None;
    }
    let mut j = i;
    for octet in 0..4 {
        if octet > 0 {
            if at(b, j) != b'.' {
                return None;
            }
            j += 1;
        }
        let s = j;
        let mut v = 0u32;
        while j - s < 4 && is_digit(at(b, j)) {
            v = v * 10 + u32::from(b[j] - b'0');
            j += 1;
        }
        let len = j - s;
        if len == 0 || len > 3 || v > 255 || (len > 1 && b[s] == b'0') {
            return None;
        }
    }
    if is_word(at(b, j)) || (at(b, j) == b'.' && is_word(at(b, j + 1))) {
        return None;
    }
    (!version_word_before(b, i)).then_some(j)
}

/// True when one of [`VERSION_WORDS`] (any case, a whole word) lies within
/// the 12 bytes before `i`.
fn version_word_before(b: &[u8], i: usize) -> bool {
    let mut j = i.saturating_sub(VERSION_WINDOW);
    while j < i {
        if !b[j].is_ascii_alphabetic() {
            j += 1;
            continue;
        }
        let s = j;
        while j < i && b[j].is_ascii_alphabetic() {
            j += 1;
        }
        let whole = !before(b, s, 1).is_ascii_alphabetic();
        if whole
            && VERSION_WORDS
                .iter()
                .any(|w| w.eq_ignore_ascii_case(&b[s..j]))
        {
            return true;
        }
    }
    false
}

fn is_v6(c: u8) -> bool {
    c.is_ascii_hexdigit() || c == b':' || c == b'.'
}

/// An IPv6 address starting at `i`: a hex digit at a word start or the first
/// `:` of `::`.
///
/// The maximal run of hex digits, `:` and `.` from `i` (not preceded by one
/// of them nor by a word character, not followed by a word character) that
/// parses as an IPv6 address once a trailing `.` or `:` is dropped, and
/// contains a decimal digit (so `a::b` in code is not an address).
pub(crate) fn v6(b: &[u8], i: usize) -> Option<usize> {
    let p = before(b, i, 1);
    if is_word(p) || p == b':' || p == b'.' {
        return None;
    }
    // A group has at most four hex digits before its `:`.
    if b[i] != b':' && !(1..=4).any(|k| at(b, i + k) == b':') {
        return None;
    }
    let mut j = i;
    let mut decimal = false;
    while j - i < MAX_V6 && is_v6(at(b, j)) {
        decimal |= is_digit(b[j]);
        j += 1;
    }
    if !decimal || is_v6(at(b, j)) || is_word(at(b, j)) {
        return None;
    }
    let mut e = j;
    for _ in 0..2 {
        if is_ipv6(&b[i..e]) {
            return Some(e);
        }
        if matches!(b[e - 1], b'.' | b':') && e - 1 > i {
            e -= 1;
        } else {
            return None;
        }
    }
    None
}

/// True when all of `s` is an IPv6 address in text form, exactly as
/// `core::net::Ipv6Addr` parses it (the tests check this against it): up to
/// eight groups of 1-4 hex digits joined by `:`, one `::` standing for one or
/// more zero groups, and a dotted quad in place of the last two groups.
pub(crate) fn is_ipv6(s: &[u8]) -> bool {
    let mut p = 0;
    let (head, head_v4) = groups(s, &mut p, 8);
    if head == 8 {
        return p == s.len();
    }
    if head_v4 || s.get(p..p + 2) != Some(b"::") {
        return false;
    }
    p += 2;
    groups(s, &mut p, 8 - (head + 1));
    p == s.len()
}

/// Reads up to `limit` groups from `s[*p..]`, joined by `:`; a dotted quad
/// may stand for the last two. Returns how many groups were read and whether
/// a dotted quad ended them; `*p` is left after the last one.
fn groups(s: &[u8], p: &mut usize, limit: usize) -> (usize, bool) {
    for k in 0..limit {
        let at = if k == 0 {
            *p
        } else if s.get(*p) == Some(&b':') {
            *p + 1
        } else {
            return (k, false);
        };
        if k + 1 < limit
            && let Some(q) = dotted_quad(s, at)
        {
            *p = q;
            return (k + 2, true);
        }
        match number(s, at, 16, 4, true) {
            Some((q, _)) => *p = q,
            None => return (k, false),
        }
    }
    (limit, false)
}

/// A dotted-quad IPv4 address at `s[p..]`: the end of it.
fn dotted_quad(s: &[u8], mut p: usize) -> Option<usize> {
    for k in 0..4 {
        if k > 0 {
            if s.get(p) != Some(&b'.') {
                return None;
            }
            p += 1;
        }
        let (q, v) = number(s, p, 10, 3, false)?;
        if v > 255 {
            return None;
        }
        p = q;
    }
    Some(p)
}

/// A number in `radix` at `s[p..]` of at most `max_digits` digits (a longer
/// run is no number), without a leading zero unless `zero_prefix` or it is
/// `0` itself: its end and value.
fn number(
    s: &[u8],
    p: usize,
    radix: u32,
    max_digits: usize,
    zero_prefix: bool,
) -> Option<(usize, u32)> {
    let mut q = p;
    let mut v = 0;
    while let Some(d) = s.get(q).and_then(|&c| char::from(c).to_digit(radix)) {
        v = v * radix + d;
        q += 1;
        if q - p > max_digits {
            return None;
        }
    }
    let count = q - p;
    if count == 0 || (!zero_prefix && count > 1 && s[p] == b'0') {
        return None;
    }
    Some((q, v))
}
