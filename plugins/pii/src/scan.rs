//! The single pass over the folded bytes: the byte classes and the trigger
//! loop that hands each start to the matchers.
//!
//! Only trigger bytes cost anything: the first byte of a word (a digit or a
//! letter not preceded by a letter or digit) and `+`, `(`, `@`, `:`. The rest
//! of a word is skipped with one table lookup per byte. Every matcher reads
//! a bounded window from its trigger, except three that read further but
//! never twice: the card and IBAN passes, which read a run of groups once
//! for all the starts in it and leave a horizon the next trigger must be
//! past, and e-mail, whose local part never reaches back over the previous
//! `@` and whose domain stops at the next one. The scan is linear in the
//! text.

use std::collections::VecDeque;

use crate::bytes::{at, before, is_digit, is_phone_sep, is_word};
use crate::found::{Found, Kind};
use crate::{email, iban, ip, numbers};

/// `0`..`9`.
const DIGIT: u8 = 1;
/// `A`..`Z`, `a`..`z`.
const ALPHA: u8 = 2;
/// `+`, `(`, `@`, `:`: punctuation that can start a value.
const TRIGGER: u8 = 4;
/// Letters and digits: the bytes words are made of.
const WORD: u8 = DIGIT | ALPHA;

/// The class of every byte value.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_digit() {
            DIGIT
        } else if b.is_ascii_alphabetic() {
            ALPHA
        } else if matches!(b, b'+' | b'(' | b'@' | b':') {
            TRIGGER
        } else {
            0
        };
        c += 1;
    }
    t
};

/// How far each matcher has reported, so that a kind never reports two
/// overlapping values and never re-reads what it already claimed; and the
/// queues of the card and IBAN passes, reused from one pass to the next.
#[derive(Default)]
struct Horizons {
    cards: VecDeque<numbers::Card>,
    ibans: VecDeque<iban::Candidate>,
    card: usize,
    ssn: usize,
    phone: usize,
    ip: usize,
    iban: usize,
    /// End of the last e-mail, or one past the last `@`: an e-mail's local
    /// part never reaches back over it.
    email_floor: usize,
}

/// Scans the folded bytes `b`, pushing every candidate value onto `out`.
/// Candidates of different kinds may overlap; those of one kind do not.
pub(crate) fn scan(b: &[u8], out: &mut Vec<Found>) {
    let n = b.len();
    let mut h = Horizons::default();
    let mut i = 0;
    while i < n {
        let class = CLASS[usize::from(b[i])];
        if class & WORD != 0 {
            if class == DIGIT {
                digit_start(b, i, &mut h, out);
            } else {
                letter_start(b, i, &mut h, out);
            }
            i += 1;
            while i < n && CLASS[usize::from(b[i])] & WORD != 0 {
                i += 1;
            }
            continue;
        }
        if class == TRIGGER {
            punct(b, i, &mut h, out);
        }
        i += 1;
    }
}

fn push(out: &mut Vec<Found>, kind: Kind, start: usize, end: usize) {
    // Texts are far below 4 GiB: the host's offsets are `u32` too.
    let offset = |o: usize| u32::try_from(o).unwrap_or(u32::MAX);
    out.push(Found {
        kind,
        start: offset(start),
        end: offset(end),
    });
}

/// The bytes after a number's first run of digits that let it go on into a
/// value: the separators of cards, SSNs, phone numbers and IPv4 addresses,
/// and what continues an IPv6 address.
static NEXT_AFTER_DIGITS: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = matches!(c as u8, b' ' | b'-' | b'.' | b':' | b'a'..=b'f' | b'A'..=b'F');
        c += 1;
    }
    t
};

/// A word starting with a digit at `i`.
fn digit_start(b: &[u8], i: usize, h: &mut Horizons, out: &mut Vec<Found>) {
    // Length of the leading digit run (bounded: only short runs matter
    // beyond the card matcher, which reads its own groups).
    let mut dl = 0;
    while dl < 20 && is_digit(at(b, i + dl)) {
        dl += 1;
    }
    let next = at(b, i + dl);
    // Every matcher needs a separator, `:` or a hex letter after the first
    // run of digits, or a run as long as a card or an SSN: most numbers in
    // text (`200,`, `19.99`'s `99`, `14:30`'s `30`…) stop here.
    if !(NEXT_AFTER_DIGITS[usize::from(next)] || (9..=19).contains(&dl)) {
        return;
    }
    let first = b[i];
    // Cheap tests first: most numbers in text are none of these.
    let grouped = matches!(next, b' ' | b'-') && is_digit(at(b, i + dl + 1));
    if i >= h.card && (b'2'..=b'6').contains(&first) && ((13..=19).contains(&dl) || grouped) {
        h.card = numbers::cards(b, i, &mut h.cards, |s, e| {
            push(out, Kind::CreditCard, s, e);
        });
    }
    if i >= h.ssn
        && (dl == 9 || (dl == 3 && matches!(next, b'-' | b' ')))
        && let Some(e) = numbers::ssn(b, i, dl)
    {
        push(out, Kind::Ssn, i, e);
        h.ssn = e;
    }
    if i >= h.phone
        && is_phone_sep(next)
        && let Some(e) = numbers::national_phone(b, i, dl)
    {
        push(out, Kind::Phone, i, e);
        h.phone = e;
    }
    if i >= h.phone
        && (10..=15).contains(&dl)
        && let Some(e) = numbers::keyed_phone(b, i, dl)
    {
        push(out, Kind::Phone, i, e);
        h.phone = e;
    }
    if i >= h.ip {
        if dl <= 3
            && next == b'.'
            && let Some(e) = ip::v4(b, i)
        {
            push(out, Kind::IpAddress, i, e);
            h.ip = e;
        } else if ((dl <= 4 && next == b':') || matches!(next, b'a'..=b'f' | b'A'..=b'F'))
            && let Some(e) = ip::v6(b, i)
        {
            push(out, Kind::IpAddress, i, e);
            h.ip = e;
        }
    }
}

/// A word starting with a letter at `i`.
fn letter_start(b: &[u8], i: usize, h: &mut Horizons, out: &mut Vec<Found>) {
    // Cheap tests first: an IBAN has digits third and fourth, an IPv6
    // address a `:` after at most four hex digits.
    if is_digit(at(b, i + 2)) && i >= h.iban && iban::may_start(b, i) {
        h.iban = iban::scan(b, i, &mut h.ibans, |s, e, valid| {
            let kind = if valid { Kind::Iban } else { Kind::IbanShaped };
            push(out, kind, s, e);
        });
    }
    if b[i].is_ascii_hexdigit()
        && matches!(at(b, i + 1), b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' | b':')
        && i >= h.ip
        && let Some(e) = ip::v6(b, i)
    {
        push(out, Kind::IpAddress, i, e);
        h.ip = e;
    }
}

/// `+`, `(`, `@` or `:` at `i`.
fn punct(b: &[u8], i: usize, h: &mut Horizons, out: &mut Vec<Found>) {
    match b[i] {
        b'@' => {
            if let Some((s, e)) = email::find(b, i, h.email_floor) {
                push(out, Kind::Email, s, e);
                h.email_floor = e;
            } else {
                h.email_floor = h.email_floor.max(i + 1);
            }
        }
        b'+' | b'(' => {
            if i >= h.phone
                && !is_word(before(b, i, 1))
                && let Some(e) = numbers::punct_phone(b, i)
            {
                push(out, Kind::Phone, i, e);
                h.phone = e;
            }
        }
        _ => {
            // ':' starting an IPv6 address such as `::1`.
            if i >= h.ip
                && at(b, i + 1) == b':'
                && let Some(e) = ip::v6(b, i)
            {
                push(out, Kind::IpAddress, i, e);
                h.ip = e;
            }
        }
    }
}
