//! E-mail addresses, found from their `@`.

use crate::bytes::at;

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
    if s == a || url_userinfo(b, s, floor) {
        return None;
    }
    let end = domain_end(b, a + 1)?;
    Some((s, end))
}

/// How far back the user information of a URL is looked for.
const MAX_USERINFO: usize = 256;

/// True when the local part starting at `s` is the user information of a
/// URL: `scheme://user@host`, `scheme://user:password@host`. It is then
/// preceded by `://` and characters a URL's user information may hold
/// (anything printable but `/`, `@`, quotes, brackets and the like), not
/// reaching back to `floor`.
fn url_userinfo(b: &[u8], s: usize, floor: usize) -> bool {
    let lo = floor.max(s.saturating_sub(MAX_USERINFO));
    let mut k = s;
    while k > lo {
        match b[k - 1] {
            b'/' => return k >= 3 && &b[k - 3..k - 1] == b":/",
            b'@' | b'"' | b'\'' | b'`' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'|' | b'\\'
            | b'^' => return false,
            c if c.is_ascii_graphic() => k -= 1,
            _ => return false,
        }
    }
    false
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
