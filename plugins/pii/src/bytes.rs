//! The small byte helpers every matcher shares: reads that never panic
//! (out of range reads as byte `0`, which no matcher accepts) and the byte
//! tests of numbers and words.

/// The byte at `i`, or `0` (a byte no matcher accepts) past the end.
#[inline]
pub(crate) fn at(b: &[u8], i: usize) -> u8 {
    match b.get(i) {
        Some(&c) => c,
        None => 0,
    }
}

/// The byte `k` places before `i`, or `0` before the start.
#[inline]
pub(crate) fn before(b: &[u8], i: usize, k: usize) -> u8 {
    match i.checked_sub(k) {
        Some(j) => at(b, j),
        None => 0,
    }
}

/// An ASCII digit.
#[inline]
pub(crate) fn is_digit(c: u8) -> bool {
    c.is_ascii_digit()
}

/// A byte words are made of: values must not be glued to one.
#[inline]
pub(crate) fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

/// Space, dash or dot: the separators of phone numbers.
#[inline]
pub(crate) fn is_phone_sep(c: u8) -> bool {
    matches!(c, b' ' | b'-' | b'.')
}

/// True when the value starting at `i` would continue a number written
/// with `sep`: it is preceded by a digit and `sep`.
#[inline]
pub(crate) fn continues_number(b: &[u8], i: usize, sep: u8) -> bool {
    before(b, i, 1) == sep && is_digit(before(b, i, 2))
}

/// True when the value ending at `e` is followed by `sep` and a digit, so
/// the number goes on.
#[inline]
pub(crate) fn number_follows(b: &[u8], e: usize, sep: u8) -> bool {
    at(b, e) == sep && is_digit(at(b, e + 1))
}

/// True when `b[s..s + k]` are digits and `b[s + k]` is not.
#[inline]
pub(crate) fn exact_digits(b: &[u8], s: usize, k: usize) -> bool {
    (s..s + k).all(|j| is_digit(at(b, j))) && !is_digit(at(b, s + k))
}

/// The value of the ASCII digits `b[s..e]` (at most a few of them).
#[inline]
pub(crate) fn value(b: &[u8], s: usize, e: usize) -> u32 {
    (s..e).fold(0, |v, j| v * 10 + u32::from(at(b, j).wrapping_sub(b'0')))
}
