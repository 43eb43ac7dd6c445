//! E-mail addresses, found from their `@`.

use crate::bytes::at;
use palisade_guest::text::{ENCODED_SLASH, OTHER_SYMBOL};

/// The longest local part read (RFC 5321): a longer run is not an address.
const MAX_LOCAL: usize = 64;
/// The longest domain read (RFC 1035).
const MAX_DOMAIN: usize = 253;
/// The longest label.
const MAX_LABEL: usize = 63;

fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_label(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

/// The address around the `@` at `a`: its span, or `None`. The local part
/// never reaches back to `floor` or before (one past the previous `@` or the
/// end of the previous address), so no byte is read twice going left.
///
/// The local part is the longest run of `[A-Za-z0-9._%+-]` ending at the `@`
/// that neither starts nor ends with `.` nor contains `..`, at most 64 long;
/// the domain the longest run of two or more labels (`[A-Za-z0-9-]`, not
/// starting or ending with `-`, at most 63 long) joined by `.` whose last
/// label is letters only and at least two long.
pub(crate) fn find(b: &[u8], a: usize, floor: usize) -> Option<(usize, usize)> {
    if a < floor || at(b, a.wrapping_sub(1)) == b'.' {
        return None;
    }
    let lo = floor.max(a.saturating_sub(MAX_LOCAL));
    // True when the local part cannot reach back past `s`.
    let stops = |s: usize| {
        let c = b[s - 1];
        !is_local(c) || (c == b'.' && s >= 2 && b[s - 2] == b'.')
    };
    let mut s = a;
    while s > lo && !stops(s) {
        s -= 1;
    }
    if s == lo && s > floor && !stops(s) {
        // The run goes on past 64 characters: not an address.
        return None;
    }
    while s < a && b[s] == b'.' {
        s += 1;
    }
    if s == a || url_userinfo(b, s, a) || machine_id(b, s, a) {
        return None;
    }
    let end = domain_end(b, a + 1)?;
    if scp_remote(b, s, a, end) {
        return None;
    }
    Some((s, end))
}

/// True when the local part `s..a` names a machine, not a person: a
/// Message-ID's (a UUID, or 16 or more hex digits, letters and digits both,
/// maybe with `-` or `.`), or
/// anything inside `<…>` after `Message-ID:`, `In-Reply-To:` or
/// `References:` on its line.
fn machine_id(b: &[u8], s: usize, a: usize) -> bool {
    let local = &b[s..a];
    let hex = local.iter().filter(|c| c.is_ascii_hexdigit()).count();
    let mixed = local.iter().any(u8::is_ascii_digit) && local.iter().any(u8::is_ascii_alphabetic);
    if hex >= 16
        && mixed
        && local
            .iter()
            .all(|&c| c.is_ascii_hexdigit() || c == b'-' || c == b'.')
    {
        return true;
    }
    if s == 0 || b[s - 1] != b'<' {
        return false;
    }
    // The header names its line: look at the line's start only.
    let lo = s.saturating_sub(160);
    let start = b[lo..s]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(lo, |k| lo + k + 1);
    let line = &b[start..s];
    // Past the indentation and quote prefix of a reply (`> Message-ID:`).
    let line = &line[line
        .iter()
        .take_while(|c| c.is_ascii_whitespace() || **c == b'>')
        .count()..];
    [&b"message-id:"[..], b"in-reply-to:", b"references:"]
        .iter()
        .any(|h| {
            line.get(..h.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(h))
        })
}

/// True when the address `s..end` (its `@` at `a`) is an scp-style remote:
/// `:` and a repository path to the word's end, the user `git` and the path
/// with a `/` (`git@github.com:acme/app`), or the path ending `.git`
/// (`deploy@host:app.git`). `jane@gmail.com:Pa55/w0rd` is an address.
fn scp_remote(b: &[u8], s: usize, a: usize, end: usize) -> bool {
    if at(b, end) != b':' {
        return false;
    }
    let path = &b[end + 1..];
    let len = path
        .iter()
        .take_while(|&&c| {
            c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'~' | b'-')
        })
        .count();
    let path = &path[..len];
    // A repository path (`acme/app.git`), not a password after `:`.
    let repo = (&b[s..a] == b"git" && path.contains(&b'/')) || path.ends_with(b".git");
    repo && matches!(
        at(&b[end + 1..], len),
        0 | b' ' | b'\t' | b'\r' | b'\n' | b'"' | b'\'' | b'`' | b')' | b','
    )
}

/// How far back the user information of a URL is looked for.
const MAX_USERINFO: usize = 256;
/// How many `@` the look back for a URL's `://` passes.
const MAX_USERINFO_AT: usize = 3;

/// True when the `@` at `a`, whose local part starts at `s`, belongs to the
/// user information of a URL rather than to an address: in
/// `scheme://user:password@host` the last `@` of the authority ends the
/// user information (`deploy:Orange2026-@pypi.example.com` is no address),
/// and an `@` in the password (`p%40ss`) is part of it; an address written
/// as the user name (`smtps://jane%40example.com:pw@smtp…`) is an address.
/// The URL's `://` is looked for back from `s` over characters a URL's user
/// information may hold (anything printable but `/`, quotes, brackets and
/// the like).
fn url_userinfo(b: &[u8], s: usize, a: usize) -> bool {
    let lo = s.saturating_sub(MAX_USERINFO);
    let mut k = s;
    let mut colon = false;
    let mut ats = 0;
    loop {
        if k <= lo {
            return false;
        }
        match b[k - 1] {
            b'/' => {
                if !(k >= 3 && &b[k - 3..k - 1] == b":/") {
                    return false;
                }
                break;
            }
            // A query or fragment: past the authority.
            b'?' | b'#' => return false,
            b':' => colon = true,
            b'@' => {
                ats += 1;
                if ats > MAX_USERINFO_AT {
                    return false;
                }
            }
            b'"' | b'\'' | b'`' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'|' | b'\\' | b'^' => {
                return false;
            }
            // A non-ASCII character or an encoded delimiter (`%26`, `%2F`).
            c if c.is_ascii_graphic() || c == OTHER_SYMBOL || c == ENCODED_SLASH => {}
            _ => return false,
        }
        k -= 1;
    }
    // Is there another `@` later in the authority?
    let rest = &b[a + 1..b.len().min(a + 1 + MAX_USERINFO)];
    let authority = rest
        .iter()
        .position(|&c| {
            matches!(c, b'/' | b'?' | b'#' | b'"' | b'\'')
                || !(c.is_ascii_graphic() || c == OTHER_SYMBOL || c == ENCODED_SLASH)
        })
        .unwrap_or(rest.len());
    let last = !rest[..authority].contains(&b'@');
    last || colon
}

/// The end of the longest valid domain starting at `d`.
fn domain_end(b: &[u8], d: usize) -> Option<usize> {
    let hi = b.len().min(d + MAX_DOMAIN);
    let mut j = d;
    let mut labels = 0;
    let mut end = None;
    loop {
        let s = j;
        while j < hi && is_label(b[j]) {
            j += 1;
        }
        let len = j - s;
        if len == 0
            || len > MAX_LABEL
            || b[s] == b'-'
            || b[j - 1] == b'-'
            || (j == hi && is_label(at(b, j)))
        {
            return end;
        }
        labels += 1;
        if labels >= 2 && len >= 2 && b[s..j].iter().all(u8::is_ascii_alphabetic) {
            end = Some(j);
        }
        if at(b, j) == b'.' && j + 1 < hi && is_label(b[j + 1]) {
            j += 1;
        } else {
            return end;
        }
    }
}
