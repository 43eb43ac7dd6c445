//! IBANs (ISO 13616): country, check digits, BBAN; ISO 7064 mod-97.

use std::collections::VecDeque;

use crate::bytes::{at, is_digit};

/// The IBAN length of each country in the table (ISO 13616 registry): all
/// of SEPA and the other common IBAN countries.
const LENGTHS: &[([u8; 2], usize)] = &[
    (*b"AD", 24),
    (*b"AE", 23),
    (*b"AL", 28),
    (*b"AT", 20),
    (*b"AZ", 28),
    (*b"BA", 20),
    (*b"BE", 16),
    (*b"BG", 22),
    (*b"BH", 22),
    (*b"BR", 29),
    (*b"BY", 28),
    (*b"CH", 21),
    (*b"CR", 22),
    (*b"CY", 28),
    (*b"CZ", 24),
    (*b"DE", 22),
    (*b"DK", 18),
    (*b"DO", 28),
    (*b"EE", 20),
    (*b"EG", 29),
    (*b"ES", 24),
    (*b"FI", 18),
    (*b"FO", 18),
    (*b"FR", 27),
    (*b"GB", 22),
    (*b"GE", 22),
    (*b"GI", 23),
    (*b"GL", 18),
    (*b"GR", 27),
    (*b"GT", 28),
    (*b"HR", 21),
    (*b"HU", 28),
    (*b"IE", 22),
    (*b"IL", 23),
    (*b"IQ", 23),
    (*b"IS", 26),
    (*b"IT", 27),
    (*b"JO", 30),
    (*b"KW", 30),
    (*b"KZ", 20),
    (*b"LB", 28),
    (*b"LC", 32),
    (*b"LI", 21),
    (*b"LT", 20),
    (*b"LU", 20),
    (*b"LV", 21),
    (*b"LY", 25),
    (*b"MC", 27),
    (*b"MD", 24),
    (*b"ME", 22),
    (*b"MK", 19),
    (*b"MR", 27),
    (*b"MT", 31),
    (*b"MU", 30),
    (*b"NL", 18),
    (*b"NO", 15),
    (*b"PK", 24),
    (*b"PL", 28),
    (*b"PS", 29),
    (*b"PT", 25),
    (*b"QA", 29),
    (*b"RO", 24),
    (*b"RS", 22),
    (*b"SA", 24),
    (*b"SC", 31),
    (*b"SE", 24),
    (*b"SI", 19),
    (*b"SK", 24),
    (*b"SM", 27),
    (*b"ST", 25),
    (*b"SV", 28),
    (*b"TL", 23),
    (*b"TN", 24),
    (*b"TR", 26),
    (*b"UA", 29),
    (*b"VA", 22),
    (*b"VG", 24),
    (*b"XK", 20),
];

/// Lengths allowed for a country not in [`LENGTHS`].
const UNKNOWN: (usize, usize) = (15, 34);

/// [`LENGTHS`] indexed by country: `26 * (first letter) + (second letter)`,
/// zero for a country not in the table.
static BY_COUNTRY: [u8; 26 * 26] = {
    let mut t = [0u8; 26 * 26];
    let mut k = 0;
    while k < LENGTHS.len() {
        let ([c0, c1], len) = LENGTHS[k];
        t[(c0 - b'A') as usize * 26 + (c1 - b'A') as usize] = len as u8;
        k += 1;
    }
    t
};

/// The IBAN length of the country `cc` (two ASCII letters, any case), if it
/// is in the table.
fn length(cc: [u8; 2]) -> Option<usize> {
    let letter = |c: u8| usize::from(c.to_ascii_uppercase().wrapping_sub(b'A'));
    let len = BY_COUNTRY.get(letter(cc[0]) * 26 + letter(cc[1]))?;
    (*len != 0).then_some(usize::from(*len))
}

/// The decimal value of an IBAN character in ISO 7064: a digit is itself,
/// a letter two digits (A = 10 … Z = 35). Returns the value and how many
/// decimal digits it has.
fn digits_of(c: u8) -> (u32, usize) {
    if c.is_ascii_digit() {
        (u32::from(c - b'0'), 1)
    } else {
        (u32::from(c.to_ascii_uppercase().wrapping_sub(b'A')) + 10, 2)
    }
}

/// `10^k mod 97` for every `k` a run of at most 34 characters can need.
const POW10: [u32; 70] = {
    let mut t = [1u32; 70];
    let mut k = 1;
    while k < 70 {
        t[k] = t[k - 1] * 10 % 97;
        k += 1;
    }
    t
};

/// The inverse of `10^6` mod 97.
const INV_10_6: u32 = {
    let mut x = 1;
    while (x * 1_000_000) % 97 != 1 {
        x += 1;
    }
    x
};

/// What the BBAN must read as, mod 97, for an IBAN whose first four
/// characters (country and check digits) read as the six-digit `head` to
/// pass ISO 7064 mod-97-10: the IBAN with its head moved to the end, read as
/// a number, leaves 1 when divided by 97, so `bban * 10^6 + head ≡ 1`.
fn bban_target(head: u32) -> u32 {
    (1 + 97 - head % 97) % 97 * INV_10_6 % 97
}

/// Past this, the pass's running number is reduced mod 97 before it grows
/// further: most characters then cost no division.
const REDUCE_AT: u64 = 1 << 56;

/// True when an IBAN may start at `i`: two letters and two digits.
pub(crate) fn may_start(b: &[u8], i: usize) -> bool {
    at(b, i).is_ascii_alphabetic()
        && at(b, i + 1).is_ascii_alphabetic()
        && is_digit(at(b, i + 2))
        && is_digit(at(b, i + 3))
}

/// An IBAN being read from `start`.
#[derive(Clone, Copy, Default)]
pub(crate) struct Candidate {
    /// Byte offset of its first character.
    start: usize,
    /// The end of the longest valid IBAN so far (0: none).
    best: usize,
    /// The end of an IBAN of a known country's exact length that failed the
    /// check (0: none).
    shaped: usize,
    /// Characters read in the pass before it.
    before: u32,
    /// Characters read in the pass once it has its shortest length: before
    /// that, a boundary needs nothing of it.
    ripe: u32,
    /// The pass's decimal length after its first four characters.
    digits4: u32,
    /// The pass's running remainder after its first four characters.
    rem4: u8,
    /// What the BBAN must read as, mod 97 (see [`bban_target`]).
    target: u8,
    max: u8,
    /// Whether the country is in [`LENGTHS`].
    known: bool,
    /// Nothing more can be added.
    done: bool,
}

/// At most this many candidates of countries not in the table are read at
/// once; a later one is not tried while they are open. Only text made to
/// look like IBANs (`ab12 cd34 ef56 …`) has more, and each would cost work
/// at every group boundary.
const OPEN_UNKNOWN: usize = 2;

/// More candidates than can be open at once: each starts a group of at
/// least four characters after the oldest, whose length is at most 34.
const OPEN: usize = 12;

/// Reads the IBANs starting at the letter `i` (a word start where
/// [`may_start`] holds) and at any group after it, calling `found` with the
/// span of each and `true`, or `false` for a value of a known country's
/// exact length that fails the check (an IBAN with a typo, whose digits are
/// no phone number either); returns where it stopped, before which no IBAN
/// start need be tried again.
///
/// Two letters, two digits, then letters and digits, written contiguous or
/// in groups joined by single spaces. Groups are taken whole while the
/// length stays within the country's, and the IBAN ends at the first group
/// boundary where it reaches that length. For a country not in the table
/// (15 to 34), the longest prefix of whole groups that passes mod-97 wins,
/// and a group after the first made only of letters, some lower-case, is a
/// word of prose and ends the IBAN. Of IBANs that overlap, the first wins.
///
/// Every start within reach of an open one is read in the same pass, and
/// each character once: the pass keeps one running remainder mod 97, from
/// which each candidate's check is derived at each group boundary, so that
/// a text full of IBAN-like groups (`ab12 ab12 …`) costs a few operations
/// per character and per candidate per boundary.
pub(crate) fn scan(
    b: &[u8],
    i: usize,
    open: &mut VecDeque<Candidate>,
    mut found: impl FnMut(usize, usize, bool),
) -> usize {
    // The candidates open, oldest first (the queue is the caller's, so that
    // its memory is reused from one pass to the next).
    open.clear();
    // Open candidates of countries not in the table.
    let mut unknown = 0;
    // Characters read, and the number they read as (mod 97) with its
    // decimal length.
    let (mut chars, mut rem, mut digits) = (0u32, 0u64, 0u32);
    // How far the candidates opened can reach, in characters: reading stops
    // there even inside a group.
    let mut reach = 0;
    let mut j = i;
    loop {
        // A group from `j`; a new candidate may start with it.
        let group = j;
        let mut mark = usize::MAX;
        if open.len() < OPEN && may_start(b, j) {
            let known = length([b[j], b[j + 1]]);
            if known.is_some() || unknown < OPEN_UNKNOWN {
                let (min, max) = known.map_or(UNKNOWN, |l| (l, l));
                let head = (j..j + 4).fold(0, |h, k| {
                    let (v, n) = digits_of(b[k]);
                    h * if n == 1 { 10 } else { 100 } + v
                });
                unknown += usize::from(known.is_none());
                open.push_back(Candidate {
                    start: j,
                    before: chars,
                    ripe: chars + min as u32,
                    known: known.is_some(),
                    max: max as u8,
                    target: bban_target(head) as u8,
                    ..Candidate::default()
                });
                mark = j + 4;
                reach = reach.max(chars + max as u32);
            }
        }
        let mut letters_only = true;
        let mut lower = false;
        while at(b, j).is_ascii_alphanumeric() && chars <= reach {
            let c = b[j];
            letters_only &= c.is_ascii_alphabetic();
            lower |= c.is_ascii_lowercase();
            let (v, n) = digits_of(c);
            if rem >= REDUCE_AT {
                rem %= 97;
            }
            rem = rem * if n == 1 { 10 } else { 100 } + u64::from(v);
            digits += n as u32;
            chars += 1;
            j += 1;
            if j == mark
                && let Some(newest) = open.back_mut()
            {
                newest.rem4 = (rem % 97) as u8;
                newest.digits4 = digits;
            }
        }
        // The end of a group, or of reading inside one.
        let end = j;
        let inside = at(b, end).is_ascii_alphanumeric();
        let more = !inside && at(b, end) == b' ' && at(b, end + 1).is_ascii_alphanumeric();
        let prose = letters_only && lower;
        let last = inside || !more;
        let rem97 = (rem % 97) as u32;
        for cand in open.iter_mut() {
            if cand.done {
                continue;
            }
            if prose && !cand.known && group > cand.start {
                cand.done = true;
                continue;
            }
            if chars >= cand.ripe {
                let max = cand.before + u32::from(cand.max);
                if chars > max || inside {
                    cand.done = true;
                    continue;
                }
                // At most 30 characters after the first four: at most 60
                // decimal digits.
                let shift = POW10.get((digits - cand.digits4) as usize).copied();
                let shifted = shift.map(|p| u32::from(cand.rem4) * p % 97);
                if shifted.is_some_and(|x| (rem97 + 97 - x) % 97 == u32::from(cand.target)) {
                    cand.best = end;
                } else if cand.known && chars == max {
                    cand.shaped = end;
                }
                cand.done |= chars == max;
            }
            cand.done |= last;
        }
        // Report the oldest candidates that are done, in order; a later one
        // inside a reported IBAN is dropped.
        while let Some(cand) = open.pop_front_if(|cand| cand.done) {
            unknown -= usize::from(!cand.known);
            if cand.best != 0 {
                found(cand.start, cand.best, true);
                while let Some(later) = open.pop_front_if(|later| later.start < cand.best) {
                    unknown -= usize::from(!later.known);
                }
            } else if cand.shaped != 0 {
                found(cand.start, cand.shaped, false);
            }
        }
        if open.is_empty() || !more {
            return end;
        }
        j = end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_length_table_is_sorted() {
        assert!(LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(length(*b"DE"), Some(22));
        assert_eq!(length(*b"de"), Some(22));
        assert_eq!(length(*b"ZZ"), None);
        assert_eq!(length(*b"XK"), Some(20));
    }

    /// The mod-97 check over a whole IBAN written without spaces.
    fn mod97(s: &[u8]) -> bool {
        let read = |cs: &[u8], modulo: u32| {
            cs.iter().fold(0u32, |r, &c| {
                let (v, n) = digits_of(c);
                (r * if n == 1 { 10 } else { 100 } + v) % modulo
            })
        };
        read(&s[4..], 97) == bban_target(read(&s[..4], u32::MAX))
    }

    #[test]
    fn mod97_checks() {
        assert!(mod97(b"DE89370400440532013000"));
        assert!(!mod97(b"DE88370400440532013000"));
        assert!(mod97(b"GB29NWBK60161331926819"));
        assert!(mod97(b"gb29nwbk60161331926819"));
    }
}
