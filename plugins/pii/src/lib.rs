//! Masking plugin for personal data: card numbers, SSNs, IBANs, e-mail
//! addresses, phone numbers and IP addresses.
//!
//! The text is first folded with [`Normalized`]: digits of any script
//! (full-width `４`, Arabic-Indic `٤`, mathematical `𝟒`…) read as ASCII digits,
//! full-width ASCII as ASCII, Unicode dashes as `-`, Unicode spaces as a
//! space, zero-width characters are skipped, and any other non-ASCII letter is
//! a word character that matches nothing. The rules below apply to the folded
//! text; each finding's span is mapped back to the original text and covers
//! exactly the value as written (first to last character, including any
//! zero-width characters inside it, never one after it).
//!
//! "Word character" means an ASCII letter or digit, or a folded non-ASCII
//! letter (not `_`); no value is reported glued to one on either side. "Not
//! part of a longer number" means not preceded by `digit + separator` and not
//! followed by `separator + digit`, for the separator the value itself uses.
//! No number-like value starts right after `digit .` or ends right before
//! `. digit` (decimals).
//!
//! * **`credit_card`**: 13 to 19 digits, first digit 2-6 (the card networks),
//!   passing the Luhn check; contiguous or in groups of any size joined by
//!   single spaces or single dashes (one kind per number: `4111 1111 1111
//!   1111`, `3782-822463-10005`, `4111111111111111`). Groups are taken
//!   whole: within a run of groups longer than a card (an order number
//!   before it, ` 2026` after it), every group may start a card, and from
//!   the first that does, the longest run of whole groups with 13 to 19
//!   digits that passes Luhn is the card; the search goes on after it. A
//!   single run of more than 19 digits is never a card, nor part of one.
//!   Span: first digit to last digit.
//! * **`iban`**: two letters (the country, any case), two check digits, then
//!   letters and digits, contiguous or in groups joined by single spaces
//!   (`DE89 3704 0044 0532 0130 00`). The length without spaces must be the
//!   country's IBAN length (a table of SEPA and the other common IBAN
//!   countries; 15 to 34 for a country not in it), reached at the end of a
//!   group, and the whole must pass ISO 7064 mod-97. Groups are added whole
//!   only while the length fits, so a following word is never swallowed: a
//!   known country's IBAN ends where it reaches the country's length; for a
//!   country not in the table the longest valid prefix of whole groups wins,
//!   and a group made only of letters, some of them lower-case, is prose and
//!   ends it. Every group may start an IBAN (`ref AB12 DE89 3704 …` finds
//!   the `DE89…`); of overlapping ones the first wins, and at most two of
//!   countries not in the table are tried at once. A value of a known
//!   country's exact length that fails the check is an IBAN with a typo: it
//!   is not reported, and neither is anything wholly inside it (its digit
//!   groups are no phone, card or SSN). Span: first to last character.
//! * **`ssn`**: US Social Security numbers `AAA-GG-SSSS` or `AAA GG SSSS`
//!   (the same separator twice), or nine digits in a row when `ssn`,
//!   `social security`, `soc sec` or `ss#` (any case, the words joined by
//!   a space, `_`, `-` or nothing) lies within the 32 bytes before them,
//!   on their line (or with only blanks and punctuation between:
//!   `SSN:` / `078051120`), with no other number between, not glued to a
//!   lowercase letter before it (`accessNumber`). Area not 000, 666 or 900-999, group not 00, serial
//!   not 0000; not part of a longer number. Span: first to last digit.
//! * **`email`**: a local part of `[A-Za-z0-9._%+-]`, at most 64 long, not
//!   starting or ending with `.` and without `..` (the longest such run
//!   ending at the `@`), `@`, then a domain of two or more labels of
//!   `[A-Za-z0-9-]` (not starting or ending with `-`) joined by `.`, the last
//!   label letters only and at least two long (the longest such domain: a
//!   sentence's final `.` is not part of it). The local part never reaches
//!   back over a previous `@` or address. `@mention`, `user@localhost` and
//!   `root@10.0.0.1` are not addresses (the last is an IP address), nor is
//!   the user information of a URL (`scheme://user@host`,
//!   `scheme://user:password@host`: what precedes the local part, back to
//!   `://` past at most three `@`, is printable and holds no `/ " ' < > [
//!   ] { } | \ ^` or backquote, and the `@` is the authority's last, or
//!   follows a `:` in it, so it is in the password); but a user name that
//!   is itself an address (`smtps://jane%40example.com:pw@host`) is one.
//!   Nor are a Message-ID's (`<…@…>` after `Message-ID:`, `In-Reply-To:`
//!   or `References:`, or a local part of 16 or more hex digits, letters
//!   and digits both, with `-` or `.`) and an scp remote's
//!   (`git@github.com:acme/app.git`: `:` and a path to the word's end that
//!   is not a port). Span: first character of the local part to the last
//!   of the domain.
//! * **`phone`**:
//!   * international: `+`, not glued to a word on its left, then 7 to 15
//!     digits, the first 1-9, in groups joined by single spaces, dashes or
//!     dots, with at most one parenthesised group of 1-5 digits (`+1 415 555
//!     0100`, `+44 20 7946 0958`, `+49 (30) 1234567`, `+44 (0)20 7946 0958`,
//!     `+14155550100`); also `(+44) 20 7946 0958`. When the groups run on
//!     past 15 digits (a date after the number), the phone ends with the last
//!     whole group within 15; a first group of more than 15 digits, or a
//!     number glued to a word, is no phone. Span: from the `+` (or the `(` of
//!     `(+`) to the last digit.
//!   * NANP: `(415) 555-0100`, `415-555-0100`, `415.555.0100`, `415 555
//!     0100` (exactly 3-3-4; without parentheses, the same separator twice),
//!     optionally after `1-`, `1 ` or `1.`; area code and exchange start
//!     with 2-9. Span: from the `1` or `(` or first digit to the last digit.
//!   * trunk-prefixed national numbers: a `0`, then 10 or 11 digits in all,
//!     in two or more groups of 2 to 8 digits joined by one kind of single
//!     separator, space, dash or dot (`020 7946 0958`, `07700 900123`,
//!     `01 23 45 67 89`, `030-12345678`). Span: first to last digit.
//!   * 10 to 15 digits in a row after a word that names a phone number
//!     (`phone`, `tel`, `mobile`, `cell`, `fax`, `whatsapp`, `handy`,
//!     `msisdn`, `sms`; any case, within the 32 bytes before on the same
//!     line (or with only blanks and punctuation between), with no other
//!     number between, not glued to a lowercase letter before it: `phone_number=4155550100`,
//!     `tel:030123456789`): ten digits must be a NANP number or start with
//!     `0`, eleven start with `1` and a NANP number, or with `0`.
//!   * national numbers must not be part of a longer number. Dates, times,
//!     version strings and IP addresses never have these shapes, and a run of
//!     digits without separators is a phone only after `+` or such a word.
//! * **`ip_address`**:
//!   * IPv4: a dotted quad of octets 0-255 without leading zeros (`0` itself
//!     is fine), not glued to a word, not part of a longer dotted sequence
//!     (`1.2.3.4.5`, `a.1.2.3.4`), and not within 12 bytes after the word
//!     `version`, `ver`, `v`, `build` or `release` (any case), which makes
//!     it a version number. A port or prefix length after it (`:8080`,
//!     `/24`) is not part of the span.
//!   * IPv6: the maximal run of hex digits, `:` and `.` starting at a word
//!     boundary (a hex digit, or the `::` of `::1`; not right after `:` or
//!     `.`), at most 45 characters (46 with a trailing `.` or `:`), not
//!     followed by a word character, that is an IPv6 address as
//!     `core::net::Ipv6Addr` parses it (after dropping one trailing `.` or
//!     `:`) and contains at least one decimal digit, so `a::b` in code is
//!     not an address (`::1`, `fe80::1`, `2001:db8::8a2e:370:7334`,
//!     `::ffff:192.0.2.1`, `[2001:db8::1]:443`). Times (`14:30:00`) and MAC
//!     addresses (`00:1a:2b:3c:4d:5e`) are not addresses. A zone (`%eth0`)
//!     is not part of the span.
//!
//! When values of different kinds overlap, the overlapping findings are
//! reported as one, covering all of them, with the kind that comes first in
//! the order `email`, `iban`, `credit_card`, `ssn`, `phone`, `ip_address`:
//! an address encloses whatever its local part looks like (a card number,
//! a phone number), and an IBAN's digits may pass the Luhn check or look
//! like a phone number. Usually one value contains the others and the
//! finding is exactly its span; when they only overlap (`+4111 1111 1111
//! 1111`: a phone and a card) the finding covers both.
//!
//! The scan is a single pass in linear time: only the first byte of a word
//! and `+ ( @ :` start any work, each matcher reads a bounded window or a
//! run no other start of its kind reads again, and nothing is allocated per
//! byte or per candidate.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod bytes;
mod email;
mod found;
mod iban;
mod ip;
mod numbers;
mod scan;

use found::resolve;
use palisade_guest::text::{ENCODED_SPACE, Normalized};
use palisade_guest::{Finding, Masking};
use std::borrow::Cow;

/// `b` with every encoded blank ([`ENCODED_SPACE`]: `%20`, a form's `+`)
/// read as a space, the separator of digit groups (`4111%201111…`).
fn spaced(b: &[u8], blanks: bool) -> Cow<'_, [u8]> {
    if !blanks {
        return Cow::Borrowed(b);
    }
    Cow::Owned(
        b.iter()
            .map(|&c| if c == ENCODED_SPACE { b' ' } else { c })
            .collect(),
    )
}

/// The personal-data finder.
pub struct Pii;

impl Masking for Pii {
    fn mask(text: &str) -> Vec<Finding> {
        let norm = Normalized::new(text);
        let mut found = Vec::new();
        let blanks = norm.has_encoded_blanks();
        scan::scan(&spaced(norm.bytes(), blanks), &mut found);
        // Values cut by a line break: only what crosses the break counts,
        // the rest was found above.
        let mut more = Vec::new();
        norm.for_each_wrapped(|view| {
            more.clear();
            scan::scan(&spaced(view.bytes(), blanks), &mut more);
            for mut f in more.drain(..) {
                if let Some((start, end)) = view.folded(f.start as usize, f.end as usize) {
                    (f.start, f.end) = (start as u32, end as u32);
                    found.push(f);
                }
            }
        });
        if found.is_empty() {
            return Vec::new();
        }
        resolve(&mut found);
        found
            .into_iter()
            .map(|f| {
                let (start, end) = norm.original(f.start as usize, f.end as usize);
                Finding::new(f.kind.name(), start, end)
            })
            .collect()
    }
}

palisade_guest::export_masking!(Pii);

#[cfg(test)]
mod tests;
