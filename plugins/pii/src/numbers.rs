//! Card numbers, SSNs and phone numbers: digit groups with separators.

use std::collections::VecDeque;

use crate::bytes::{
    at, continues_number, exact_digits, is_digit, is_phone_sep, is_word, number_follows, value,
};

/// True when the digit at `i` follows `digit .`: a decimal fraction.
fn decimal_tail(b: &[u8], i: usize) -> bool {
    continues_number(b, i, b'.')
}

/// `d` doubled the Luhn way: `2d`, less 9 when that has two digits.
const DOUBLED: [u8; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];

/// `(a + b) mod 10` for `a`, `b` below 10.
fn add10(a: u8, b: u8) -> u8 {
    let s = a + b;
    if s >= 10 { s - 10 } else { s }
}

/// A card number being read from `start`.
#[derive(Clone, Copy, Default)]
pub(crate) struct Card {
    /// Byte offset of its first digit.
    start: usize,
    /// Digits read in the pass before it.
    before: usize,
    /// The pass's Luhn sums mod 10 (see [`cards`]) before it.
    sums: [u8; 2],
    /// The end of the longest valid card from `start` so far (0: none).
    best: usize,
    /// No longer window can be valid.
    done: bool,
}

/// More cards than can be open at once: each starts a group of at least
/// one digit, within 19 digits of the oldest.
const OPEN: usize = 20;

/// Reads the card numbers in the run of digit groups whose first group
/// starts at `i` (a digit at a word start), calling `found` with the span of
/// each; returns where it stopped, before which no card start need be tried
/// again.
///
/// Groups are joined by the same single space or dash throughout. Every
/// group whose first digit is 2-6 may start a card: the longest window of
/// whole groups from it with 13 to 19 digits that ends at a word boundary
/// (not glued to a word, not before `. digit`) and passes the Luhn check.
/// Of overlapping cards the first wins. A group of more than 19 digits is
/// part of no card.
///
/// The run is read once, whatever its length: the pass keeps two running
/// Luhn sums mod 10, one doubling the digits at even positions and one those
/// at odd positions, and the sum of any window is the difference of the
/// right one at its ends (the doubled digits of a window are those an odd
/// distance before its last digit), so each open start of 13 to 19 digits
/// costs a comparison at each group end.
pub(crate) fn cards(
    b: &[u8],
    i: usize,
    open: &mut VecDeque<Card>,
    mut found: impl FnMut(usize, usize),
) -> usize {
    // The cards open, oldest first (the queue is the caller's, so that its
    // memory is reused from one pass to the next).
    open.clear();
    let mut sep = 0u8;
    // Digits read, and sums[p]: their Luhn sum mod 10, doubling the digits
    // at the positions of parity p.
    let mut digits = 0usize;
    let mut sums = [0u8; 2];
    let mut j = i;
    loop {
        let group = j;
        if open.len() < OPEN && matches!(b[j], b'2'..=b'6') && (j > i || !decimal_tail(b, j)) {
            open.push_back(Card {
                start: j,
                before: digits,
                sums,
                ..Card::default()
            });
        }
        while let Some(d) = at(b, j).checked_sub(b'0').filter(|d| *d < 10) {
            let parity = digits & 1;
            sums[parity] = add10(sums[parity], DOUBLED[usize::from(d)]);
            sums[parity ^ 1] = add10(sums[parity ^ 1], d);
            digits += 1;
            j += 1;
        }
        let next = at(b, j);
        let glued = is_word(next);
        let ends = !glued && !number_follows(b, j, b'.');
        let joins = matches!(next, b' ' | b'-') && is_digit(at(b, j + 1));
        let more = !glued && joins && (sep == 0 || sep == next);
        // The doubled digits of a window ending here are those whose
        // position has the parity of its end. Cards are open oldest first,
        // so those with 13 digits or more come first.
        let sum = sums[digits & 1];
        for card in open.iter_mut() {
            let len = digits - card.before;
            if len < 13 {
                break;
            }
            if card.done {
                continue;
            }
            if len > 19 {
                card.done = true;
                continue;
            }
            // The window's sum is the difference: a multiple of 10 when the
            // two agree mod 10.
            if ends && sum == card.sums[digits & 1] {
                card.best = j;
            }
            card.done = len == 19;
        }
        if !more {
            open.iter_mut().for_each(|card| card.done = true);
        }
        // Report the oldest cards that are done, in order; a later one
        // inside a reported card is dropped.
        while let Some(card) = open.pop_front_if(|card| card.done) {
            if card.best != 0 {
                found(card.start, card.best);
                while open.pop_front_if(|later| later.start < card.best).is_some() {}
            }
        }
        if !more {
            // A different separator starts another run with this group.
            return if !glued && joins { group } else { j };
        }
        if open.is_empty() {
            // Nothing open: a later group starts a pass of its own.
            return j;
        }
        sep = next;
        j += 1;
    }
}

/// A US SSN starting at `i`, where a run of `dl` digits starts.
///
/// `AAA-GG-SSSS` or `AAA GG SSSS` (one separator, used twice), or nine
/// digits in a row after an SSN keyword; area not 000, 666 or 900-999,
/// group not 00, serial not 0000; not part of a longer number.
pub(crate) fn ssn(b: &[u8], i: usize, dl: usize) -> Option<usize> {
    let (end, sep, parts) = if dl == 3 {
        let s = at(b, i + 3);
        if !matches!(s, b'-' | b' ')
            || !exact_digits(b, i + 4, 2)
            || at(b, i + 6) != s
            || !exact_digits(b, i + 7, 4)
        {
            return None;
        }
        (i + 11, s, [(i, i + 3), (i + 4, i + 6), (i + 7, i + 11)])
    } else {
        if !ssn_keyword_before(b, i) {
            return None;
        }
        (i + 9, 0, [(i, i + 3), (i + 3, i + 5), (i + 5, i + 9)])
    };
    if is_word(at(b, end)) || number_follows(b, end, b'.') || decimal_tail(b, i) {
        return None;
    }
    let longer = if sep == 0 {
        [b' ', b'-']
            .iter()
            .any(|&s| continues_number(b, i, s) || number_follows(b, end, s))
    } else {
        continues_number(b, i, sep) || number_follows(b, end, sep)
    };
    if longer {
        return None;
    }
    let [area, group, serial] = parts.map(|(s, e)| value(b, s, e));
    let valid = area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
    valid.then_some(end)
}

/// How far before a value its keyword may start.
const KEYWORD_WINDOW: usize = 32;

/// True when one of `keywords` (any case) lies within the
/// [`KEYWORD_WINDOW`] bytes before `i`, on the same line (or with only
/// blanks and punctuation between it and `i`: `SSN:` and the number on the
/// line below), with no other number (three digits in a row) between;
/// with `glue`, not glued to a lowercase letter before it (`hotel` holds no
/// `tel`, `accessNumber` no `ssn`; `mobilePhone` holds `Phone`).
fn keyword_before(b: &[u8], i: usize, keywords: &[&[u8]], glue: bool) -> bool {
    let from = i.saturating_sub(KEYWORD_WINDOW);
    let window = &b[from..i];
    // Only where a keyword's first letter stands (most windows hold none).
    (0..window.len()).any(|at_| {
        let first = window[at_].to_ascii_lowercase();
        keywords.iter().any(|k| {
            let Some(w) = window.get(at_..at_ + k.len()) else {
                return false;
            };
            if k.first() != Some(&first) || !w.eq_ignore_ascii_case(k) {
                return false;
            }
            let gap = &b[from + at_ + k.len()..i];
            // Another line is another field, unless the word only labels it
            // (`SSN:` and the number on the next line).
            let same_field = !gap.contains(&b'\n')
                || gap
                    .iter()
                    .all(|c| c.is_ascii_whitespace() || b":=\"'#-".contains(c));
            // Another number between them is the one the word names
            // (`SSN: 078-05-1120, Employee ID: 234567890`).
            let number_between = gap.windows(3).any(|w| w.iter().all(u8::is_ascii_digit));
            same_field
                && !number_between
                && !(glue
                    && from + at_ > 0
                    && b[from + at_ - 1].is_ascii_lowercase()
                    && w[0].is_ascii_lowercase())
        })
    })
}

/// True when an SSN keyword (`ssn`, `social security`, `soc sec`, `ss#`,
/// their words joined by `_`, `-` or nothing; any case) lies within the
/// [`KEYWORD_WINDOW`] bytes before `i`.
fn ssn_keyword_before(b: &[u8], i: usize) -> bool {
    keyword_before(
        b,
        i,
        &[
            b"ssn",
            b"social security",
            b"social_security",
            b"social-security",
            b"socialsecurity",
            b"soc sec",
            b"soc_sec",
            b"socsec",
            b"ss#",
        ],
        true,
    )
}

/// Words that name a phone number.
const PHONE_KEYWORDS: &[&[u8]] = &[
    b"phone",
    b"tel",
    b"mobile",
    b"cell",
    b"fax",
    b"whatsapp",
    b"handy",
    b"msisdn",
    b"sms",
];

/// A phone number written as 10 to 15 digits in a row, starting at `i`
/// (a run of `dl` digits), after a word that names one ([`PHONE_KEYWORDS`]
/// within [`KEYWORD_WINDOW`] bytes before): ten digits are a NANP number
/// (area code and exchange 2-9) or start with the trunk `0`; eleven start
/// with `1` and a NANP number, or with `0`; twelve to fifteen with any
/// digit. Not part of a longer number.
pub(crate) fn keyed_phone(b: &[u8], i: usize, dl: usize) -> Option<usize> {
    let end = i + dl;
    if !(10..=15).contains(&dl) || is_word(at(b, end)) || decimal_tail(b, i) {
        return None;
    }
    if number_follows(b, end, b'.')
        || [b' ', b'-']
            .iter()
            .any(|&s| continues_number(b, i, s) || number_follows(b, end, s))
    {
        return None;
    }
    let nanp = |k: usize| matches!(at(b, k), b'2'..=b'9') && matches!(at(b, k + 3), b'2'..=b'9');
    let ok = match dl {
        10 => b[i] == b'0' || nanp(i),
        11 => b[i] == b'0' || (b[i] == b'1' && nanp(i + 1)),
        _ => true,
    };
    (ok && keyword_before(b, i, PHONE_KEYWORDS, true)).then_some(end)
}

/// A phone number in a national format starting at the digit `i`, where a
/// run of `dl` digits starts: NANP or a trunk-prefixed (`0…`) number.
pub(crate) fn national_phone(b: &[u8], i: usize, dl: usize) -> Option<usize> {
    if b[i] == b'0' {
        trunk(b, i, dl)
    } else if dl == 3 || (dl == 1 && b[i] == b'1') {
        nanp(b, i)
    } else {
        None
    }
}

/// A phone number starting with `+` or `(` at `i`.
pub(crate) fn punct_phone(b: &[u8], i: usize) -> Option<usize> {
    match (b[i], at(b, i + 1)) {
        (b'+', _) | (b'(', b'+') => international(b, i),
        (b'(', c) if is_digit(c) => nanp(b, i),
        _ => None,
    }
}

/// `+CC…`: 7 to 15 digits in groups joined by single spaces, dashes or dots,
/// with at most one parenthesised group (`+49 (30) 1234567`,
/// `+44 (0)20 7946 0958`); `(+44) 20 7946 0958` too. When the groups run on
/// past 15 digits, the number ends with the last whole group within 15.
fn international(b: &[u8], i: usize) -> Option<usize> {
    let mut open = b[i] == b'(';
    let mut j = if open { i + 2 } else { i + 1 };
    if !matches!(at(b, j), b'1'..=b'9') {
        return None;
    }
    let mut digits = 0;
    let mut paren = open;
    let mut best = None;
    loop {
        while is_digit(at(b, j)) {
            digits += 1;
            if digits > 15 {
                return best;
            }
            j += 1;
        }
        let c = at(b, j);
        if is_word(c) {
            // Glued to a word: not a phone number at all.
            return None;
        }
        if open {
            // `(+CC)`: the country code closes the parenthesis.
            if c != b')' {
                return None;
            }
            open = false;
            j += 1;
            if is_phone_sep(at(b, j)) {
                j += 1;
            }
            if !is_digit(at(b, j)) {
                return None;
            }
            continue;
        }
        if digits >= 7 {
            best = Some(j);
        }
        if is_phone_sep(c) && is_digit(at(b, j + 1)) {
            j += 1;
            continue;
        }
        let k = if c == b'(' {
            j
        } else if is_phone_sep(c) && at(b, j + 1) == b'(' {
            j + 1
        } else {
            return best;
        };
        if paren {
            return best;
        }
        let s = k + 1;
        let mut m = s;
        while m - s <= 5 && is_digit(at(b, m)) {
            m += 1;
        }
        let g = m - s;
        if g == 0 || g > 5 || at(b, m) != b')' {
            return best;
        }
        m += 1;
        if is_phone_sep(at(b, m)) {
            m += 1;
        }
        if !is_digit(at(b, m)) {
            return best;
        }
        digits += g;
        if digits > 15 {
            return best;
        }
        paren = true;
        j = m;
    }
}

/// NANP: `(415) 555-0100`, `415-555-0100`, `415.555.0100`, `415 555 0100`,
/// optionally after `1-`, `1 ` or `1.`. Area code and exchange start with
/// 2-9; not part of a longer number.
fn nanp(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    // The separator a preceding `digit sep` would continue the number with.
    let mut lead = None;
    if b[j] == b'1' {
        let s = at(b, j + 1);
        let n = at(b, j + 2);
        if !is_phone_sep(s) || !(n == b'(' || is_digit(n)) {
            return None;
        }
        lead = Some(s);
        j += 2;
    }
    let (area, exchange, line_sep);
    if at(b, j) == b'(' {
        if !exact_digits(b, j + 1, 3) || at(b, j + 4) != b')' {
            return None;
        }
        area = j + 1;
        j += 5;
        if at(b, j) == b' ' {
            j += 1;
        }
        if !exact_digits(b, j, 3) {
            return None;
        }
        exchange = j;
        line_sep = at(b, j + 3);
        if !is_phone_sep(line_sep) || !exact_digits(b, j + 4, 4) {
            return None;
        }
        j += 8;
    } else {
        let s = at(b, j + 3);
        if !exact_digits(b, j, 3)
            || !is_phone_sep(s)
            || !exact_digits(b, j + 4, 3)
            || at(b, j + 7) != s
            || !exact_digits(b, j + 8, 4)
        {
            return None;
        }
        area = j;
        exchange = j + 4;
        line_sep = s;
        lead.get_or_insert(s);
        j += 12;
    }
    let nxx = |k: usize| matches!(at(b, k), b'2'..=b'9');
    if !nxx(area) || !nxx(exchange) {
        return None;
    }
    if is_word(at(b, j)) || number_follows(b, j, line_sep) || number_follows(b, j, b'.') {
        return None;
    }
    if lead.is_some_and(|s| continues_number(b, i, s)) || decimal_tail(b, i) {
        return None;
    }
    Some(j)
}

/// A trunk-prefixed national number: `0`, then 10 or 11 digits in all, in at
/// least two groups of 2 to 8 digits joined by one kind of single separator
/// (`020 7946 0958`, `07700 900123`, `01 23 45 67 89`, `030-12345678`);
/// not part of a longer number.
fn trunk(b: &[u8], i: usize, dl: usize) -> Option<usize> {
    if !(2..=8).contains(&dl) {
        return None;
    }
    let sep = at(b, i + dl);
    if continues_number(b, i, sep) || decimal_tail(b, i) {
        return None;
    }
    let mut j = i + dl;
    let mut total = dl;
    let mut groups = 1;
    while number_follows(b, j, sep) {
        let s = j + 1;
        let mut g = 0;
        while g <= 8 && is_digit(at(b, s + g)) {
            g += 1;
        }
        if !(2..=8).contains(&g) {
            return None;
        }
        total += g;
        groups += 1;
        if total > 11 {
            return None;
        }
        j = s + g;
    }
    let bounded = !is_word(at(b, j)) && !number_follows(b, j, b'.');
    (groups >= 2 && total >= 10 && bounded).then_some(j)
}
