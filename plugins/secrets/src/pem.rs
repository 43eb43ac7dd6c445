//! PEM blocks: a private key is a secret, from its `-----BEGIN` line to
//! its `-----END` line; a public key or a certificate is not.

use crate::classes::{LABEL, run, starts_with};

/// True when a PEM label names a private key.
fn private_label(label: &[u8]) -> bool {
    label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK")
}

/// True when `v` starts with a PEM block that is not a private key: a
/// public key or a certificate.
pub(crate) fn public_pem(v: &[u8]) -> bool {
    if !v.starts_with(b"-----BEGIN ") {
        return false;
    }
    let le = run(v, 11, LABEL, 64);
    starts_with(v, le, b"-----") && !private_label(&v[11..le])
}

/// At the `B` of `-----BEGIN … PRIVATE KEY-----`: the key, to the end of
/// the next `-----END … PRIVATE KEY-----`, or to the end of the text.
pub(crate) fn private_key(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let s = i.checked_sub(5)?;
    if !starts_with(b, s, b"-----BEGIN ") {
        return None;
    }
    let ls = i + 6;
    let le = run(b, ls, LABEL, 64);
    if !starts_with(b, le, b"-----") || !private_label(&b[ls..le]) {
        return None;
    }
    const END: &[u8] = b"-----END ";
    let mut q = le + 5;
    while let Some(off) = b.get(q..).and_then(|s| find(s, END)) {
        let ls = q + off + END.len();
        let le = run(b, ls, LABEL, 64);
        if starts_with(b, le, b"-----") && private_label(&b[ls..le]) {
            return Some((s, le + 5));
        }
        q = ls;
    }
    Some((s, b.len()))
}

/// The offset of the first `pat` in `s` (`pat` starts with `-`).
fn find(s: &[u8], pat: &[u8]) -> Option<usize> {
    let first = *pat.first()?;
    let mut k = 0;
    while k + pat.len() <= s.len() {
        if s[k] == first && s[k..].starts_with(pat) {
            return Some(k);
        }
        k += 1;
    }
    None
}
