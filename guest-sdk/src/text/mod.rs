//! A normalized view of a text for masking scanners.
//!
//! Sensitive values are hidden from naive scanners with tricks a language
//! model reads straight through: full-width or other-script digits
//! (`４１１１…`, `٤١١١…`, `𝟒𝟏𝟏𝟏…`), zero-width characters inside a number
//! (`4111\u{200B}1111…`), typographic dashes as separators, look-alike
//! letters in the word that names a secret (Cyrillic `раѕѕwоrd`), escapes
//! (`jane\u0040example.com`, `jane%40example.com`, `jane&#64;example.com`)
//! and line breaks inside a value. [`Normalized`] turns a text into bytes a
//! scanner can match with ASCII rules, and maps every span it finds back to
//! the original text, so that what is masked is the original's span (the
//! whole escape, the whole look-alike character):
//!
//! * ASCII is kept as is, but for escapes and a form's `+` (and a text
//!   without either, and without non-ASCII, is not copied);
//! * escapes are decoded where they stand, once (`%2540` reads `%40`):
//!   JSON's `\uXXXX` (surrogate pairs too), `\/`, `\n`, `\r`, `\t` (`\\`
//!   and `\"` stay as written); percent-encoding `%HH`, UTF-8 sequences
//!   included; HTML character references `&#DDD;`, `&#xHH;` and a few
//!   dozen named ones (`&commat;`, `&nbsp;`, `&amp;`). An encoded
//!   delimiter is data: `%26`, `%3F`, `%22` and the like read as
//!   [`OTHER_SYMBOL`], `%2F` as [`ENCODED_SLASH`], an encoded blank as
//!   [`ENCODED_SPACE`], and so does a `+` between two groups of digits or
//!   capitals in a form body or query string (`card=4111+1111+…&`);
//! * decimal digits of any script, Unicode spaces, and characters whose
//!   NFKC form or UTS #39 confusable skeleton is one ASCII character
//!   (full-width and mathematical letters, Cyrillic and Greek look-alikes)
//!   become that ASCII character (the table is generated from the
//!   `unicode-normalization` and `unicode-security` crates, see `fold.rs`);
//!   hyphens and dashes become `-`; `…`, `•` and the like [`MASK_SYMBOL`];
//! * invisible formatting characters (zero-width space/joiners, word joiner,
//!   BOM, soft hyphen, invisible operators) are dropped;
//! * any other letter or digit becomes [`OTHER_LETTER`], anything else
//!   [`OTHER_SYMBOL`], so word boundaries stay where they were.
//!
//! A value broken across lines is read by [`Normalized::for_each_wrapped`]: short
//! views of the text around each line break that looks like it cuts a value,
//! with the break (and the next line's indentation or `> ` quote prefix)
//! taken out.
//!
//! Limits: one level of escapes is decoded; a look-alike that needs more
//! than one ASCII character (`ｍ` is `m`, but `ʍ`'s skeleton `rn` is not
//! used) and letters with accents stay other letters; ASCII letters and
//! digits are never rewritten (the skeleton folds `1` and `l`, values must
//! keep them apart); a decoded `&quot;` or `\u0022` is a quote, and ends a
//! quoted value.

mod decode;
mod fold;
mod fold_table;
mod wrap;

use decode::{Escape, escape, starts_escape};
use fold::fold;
use std::borrow::Cow;
pub use wrap::Wrapped;

pub use fold::{OTHER_LETTER, OTHER_SYMBOL};

/// What a percent-encoded `/` (`%2F`) reads as: data, not a path separator
/// (a URL's user information may hold one, and so may base64).
pub const ENCODED_SLASH: u8 = 0x02;
/// What an encoded blank reads as (`%20`, `%09`, `%0A`, `%0D`, and `+` in
/// a form body): a separator *inside* a value (`4111%201111…`,
/// `password=correct%20horse`), not the end of one. A scanner that splits
/// digit groups at blanks reads it as a space; one that ends values at
/// whitespace reads on.
pub const ENCODED_SPACE: u8 = 0x03;
/// What a mask character reads as: `…`, `•`, `●`, `∙`, `·` (`xoxb-…`,
/// `•••••••`).
pub const MASK_SYMBOL: u8 = 0x04;

/// A text folded to bytes for scanning, with the way back to the original.
#[derive(Debug)]
pub struct Normalized<'a> {
    text: &'a str,
    bytes: Cow<'a, [u8]>,
    /// Where the offset between folded and original changes: (folded index,
    /// original offset of the character that folded byte came from). Between
    /// anchors the two advance together (ASCII). Empty when nothing was
    /// folded. At most one entry per folded character, so a mostly-ASCII
    /// text costs little beyond its folded copy.
    anchors: Vec<(u32, u32)>,
    /// Folded bytes that stand for an escape (`%40`, `\u0040`, `&#64;`):
    /// (folded index, length of the escape in the original), sorted.
    escapes: Vec<(u32, u32)>,
    /// Whether any byte is an [`ENCODED_SPACE`].
    blanks: bool,
}

/// Builds a [`Normalized`]: pushes folded bytes and keeps the anchors.
struct Folder {
    bytes: Vec<u8>,
    anchors: Vec<(u32, u32)>,
    escapes: Vec<(u32, u32)>,
    /// Original offset minus folded index, for the current run.
    delta: usize,
}

impl Folder {
    /// Pushes `folded`, which came from the original at `at`.
    fn push(&mut self, at: usize, folded: &[u8]) {
        let i = self.bytes.len();
        if at.wrapping_sub(i) != self.delta {
            self.delta = at.wrapping_sub(i);
            self.anchors.push((to_u32(i), to_u32(at)));
        }
        self.bytes.extend_from_slice(folded);
    }

    /// Pushes what `c`, at `at` in the original and `len` bytes long there,
    /// folds to (if anything).
    fn push_char(&mut self, at: usize, c: char, len: usize) {
        let b = if c.is_ascii() { Some(c as u8) } else { fold(c) };
        if let Some(b) = b {
            if len != c.len_utf8() {
                self.escapes.push((to_u32(self.bytes.len()), to_u32(len)));
            }
            self.push(at, &[b]);
        }
    }
}

/// True for bytes the folded text may not take as they are.
fn special(b: u8) -> bool {
    !b.is_ascii() || starts_escape(b) || b == b'+'
}

/// The index of the first byte of `b` for which [`special`] holds, or
/// `b.len()`: eight bytes at a time while none is (most text is ASCII
/// without escapes).
fn next_special(b: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // Non-zero when a byte of `w` is `c` (exact as to whether, not where).
    let has = |w: u64, c: u8| {
        let x = w ^ (LO * u64::from(c));
        x.wrapping_sub(LO) & !x & HI
    };
    let mut clean = 0;
    for chunk in b.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        if (w & HI) | has(w, b'%') | has(w, b'\\') | has(w, b'&') | has(w, b'+') != 0 {
            break;
        }
        clean += 8;
    }
    let rest = &b[clean..];
    clean + rest.iter().position(|&c| special(c)).unwrap_or(rest.len())
}

/// Finds the bytes [`special`] holds for, in order: in an ASCII text with
/// `memchr` (the next escape start and the next `+` kept apart, so that
/// neither search runs twice over the same bytes), else eight bytes at a
/// time.
struct Specials {
    ascii: bool,
    /// The next escape start (`%`, `\`, `&`) at or after the last search.
    escape: Option<usize>,
    /// The next `+` at or after the last search.
    plus: Option<usize>,
}

impl Specials {
    fn new(src: &[u8], ascii: bool) -> Self {
        Self {
            ascii,
            escape: ascii.then(|| memchr::memchr3(b'%', b'\\', b'&', src).unwrap_or(src.len())),
            plus: ascii.then(|| memchr::memchr(b'+', src).unwrap_or(src.len())),
        }
    }

    /// The first special byte at or after `from`, or `src.len()`.
    fn next(&mut self, src: &[u8], from: usize) -> usize {
        let from = from.min(src.len());
        let rest = &src[from..];
        if !self.ascii {
            return from + next_special(rest);
        }
        if self.escape.is_some_and(|e| e < from) {
            self.escape =
                Some(memchr::memchr3(b'%', b'\\', b'&', rest).map_or(src.len(), |k| from + k));
        }
        if self.plus.is_some_and(|p| p < from) {
            self.plus = Some(memchr::memchr(b'+', rest).map_or(src.len(), |k| from + k));
        }
        self.escape
            .unwrap_or(src.len())
            .min(self.plus.unwrap_or(src.len()))
    }
}

/// Bytes that end a token of a form body or query string.
fn ends_token(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'`' | b'<' | b'>')
}

/// How far a `+` looks for the rest of its token.
const MAX_FORM_TOKEN: usize = 4096;

/// Whether the `+` at `at` is a space of form encoding
/// (`card=4111+1111+1111+1111&…`): between two groups of 1 to 8 digits or
/// capital letters, in a
/// token (no blanks or quotes) that has an `=` before it and an `&` or a
/// `%HH` escape somewhere, or a `?` before its first `=` (a query string). `cache` keeps the last token looked at.
fn form_space(src: &[u8], at: usize, cache: &mut Option<(usize, usize, bool)>) -> bool {
    // The groups on either side: 1 to 8 digits or capitals. A `+` inside
    // base64 (`…n15n+fy5…`, sent raw in many query strings) is not a space.
    let group = |it: &mut dyn Iterator<Item = &u8>| {
        let n = it
            .take(9)
            .take_while(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            .count();
        (1..=8).contains(&n)
    };
    let closed = |k: usize| !src.get(k).is_some_and(u8::is_ascii_alphanumeric);
    let left = src[..at]
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    let right = src[at + 1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    if !(group(&mut src[..at].iter().rev())
        && group(&mut src[at + 1..].iter())
        && left <= 8
        && right <= 8
        && closed(at + 1 + right))
    {
        return false;
    }
    if let Some((start, end, form)) = *cache
        && start <= at
        && at < end
    {
        return form;
    }
    let lo = at.saturating_sub(MAX_FORM_TOKEN);
    let start = src[lo..at]
        .iter()
        .rposition(|&b| ends_token(b))
        .map_or(lo, |k| lo + k + 1);
    let hi = src.len().min(at + MAX_FORM_TOKEN);
    let end = src[at..hi]
        .iter()
        .position(|&b| ends_token(b))
        .map_or(hi, |k| at + k);
    let token = &src[start..end];
    let eq = token.iter().position(|&b| b == b'=');
    let form = eq.is_some_and(|e| start + e < at)
        && (eq.is_some_and(|e| token[..e].contains(&b'?'))
            || token.windows(3).any(|w| {
                w[0] == b'&'
                    || (w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
            }));
    *cache = Some((start, end, form));
    form
}

impl<'a> Normalized<'a> {
    /// Folds `text`: escapes are decoded (see [`decode`]), then every
    /// non-ASCII character folded (see [`fold`]). A text with neither is
    /// borrowed, not copied.
    pub fn new(text: &'a str) -> Self {
        let src = text.as_bytes();
        // The first byte that changes anything: ASCII bytes that start no
        // escape (`100%`, `R&D`, `C++`) leave the text borrowed. Most text
        // is ASCII: there, `memchr` finds the escape starts and `+`.
        let mut specials = Specials::new(src, text.is_ascii());
        let mut first = specials.next(src, 0);
        let mut form = None;
        while let Some(&b) = src.get(first) {
            let changes = if b == b'+' {
                form_space(src, first, &mut form)
            } else {
                !b.is_ascii() || escape(&src[first..]).is_some()
            };
            if changes {
                break;
            }
            first = specials.next(src, first + 1);
        }
        if first == src.len() {
            return Self {
                text,
                bytes: Cow::Borrowed(src),
                anchors: Vec::new(),
                escapes: Vec::new(),
                blanks: false,
            };
        }
        let mut f = Folder {
            bytes: Vec::with_capacity(src.len()),
            anchors: Vec::new(),
            escapes: Vec::new(),
            delta: 0,
        };
        f.bytes.extend_from_slice(&src[..first]);
        let mut at = first;
        while let Some(&b) = src.get(at) {
            if b == b'+' {
                let space = [ENCODED_SPACE];
                let byte: &[u8] = if form_space(src, at, &mut form) {
                    &space
                } else {
                    b"+"
                };
                f.push(at, byte);
                at += 1;
                continue;
            }
            if !special(b) {
                let run = next_special(&src[at..]);
                f.push(at, &src[at..at + run]);
                at += run;
                continue;
            }
            match escape(&src[at..]) {
                Some(Escape::Char(c, len)) => {
                    f.push_char(at, c, len);
                    at += len;
                }
                Some(Escape::Byte(byte, len)) => {
                    f.escapes.push((to_u32(f.bytes.len()), to_u32(len)));
                    f.push(at, &[byte]);
                    at += len;
                }
                Some(Escape::Keep(len)) => {
                    f.push(at, &src[at..at + len]);
                    at += len;
                }
                None if b.is_ascii() => {
                    f.push(at, &[b]);
                    at += 1;
                }
                None => {
                    let c = text[at..].chars().next().unwrap_or('\u{FFFD}');
                    f.push_char(at, c, c.len_utf8());
                    at += c.len_utf8();
                }
            }
        }
        let blanks = memchr::memchr(ENCODED_SPACE, &f.bytes).is_some();
        Self {
            text,
            bytes: Cow::Owned(f.bytes),
            anchors: f.anchors,
            escapes: f.escapes,
            blanks,
        }
    }

    /// The folded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The original text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Whether the folded text holds an [`ENCODED_SPACE`] (an encoded
    /// blank or a form's `+`); a scanner that reads it as a space need not
    /// look otherwise.
    pub fn has_encoded_blanks(&self) -> bool {
        self.blanks
    }

    /// Views of the folded text around line breaks that look like they cut
    /// a value, the break and the next line's prefix taken out (see
    /// [`Wrapped`]), handed to `f` in turn; none for a text whose lines are
    /// left whole.
    ///
    /// Each view is handed to `f` and dropped before the next is built.
    pub fn for_each_wrapped(&self, f: impl FnMut(&Wrapped)) {
        wrap::for_each(&self.bytes, f)
    }

    /// The original offset of the character folded byte `i` came from.
    fn origin(&self, i: usize) -> usize {
        let k = self.anchors.partition_point(|&(f, _)| f as usize <= i);
        match k.checked_sub(1).and_then(|k| self.anchors.get(k)) {
            Some(&(f, o)) => o as usize + (i - f as usize),
            None => i,
        }
    }

    /// How many bytes of the original folded byte `i` came from.
    fn width(&self, i: usize, at: usize) -> usize {
        if let Ok(k) = self.escapes.binary_search_by_key(&to_u32(i), |&(f, _)| f) {
            return self.escapes.get(k).map_or(1, |&(_, len)| len as usize);
        }
        self.text
            .get(at..)
            .and_then(|rest| rest.chars().next())
            .map_or(1, char::len_utf8)
    }

    /// Maps the folded span `start..end` back to a span of the original
    /// text: from the first character's start to the last one's end, so it
    /// covers whole characters (and whole escapes) and any dropped invisible
    /// characters between them, never one before or after.
    pub fn original(&self, start: usize, end: usize) -> (usize, usize) {
        let end = end.min(self.bytes.len());
        let start = start.min(end);
        if start == end {
            let at = if start < self.bytes.len() {
                self.origin(start)
            } else {
                self.text.len()
            };
            return (at, at);
        }
        let last = self.origin(end - 1);
        (self.origin(start), last + self.width(end - 1, last))
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// True for ASCII letters and digits and [`OTHER_LETTER`]: bytes that make
/// up words, which a value must not be glued to.
pub fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(s: &str) -> String {
        String::from_utf8_lossy(Normalized::new(s).bytes()).into_owned()
    }

    #[test]
    fn ascii_is_borrowed_and_maps_to_itself() {
        let n = Normalized::new("card 4111");
        assert!(matches!(n.bytes, Cow::Borrowed(_)));
        assert_eq!(n.original(5, 9), (5, 9));
    }

    #[test]
    fn digits_of_every_script_fold_to_ascii() {
        assert_eq!(folded("４１１１"), "4111");
        assert_eq!(folded("٤١١١"), "4111");
        assert_eq!(folded("۴۱۱۱"), "4111");
        assert_eq!(folded("४१११"), "4111");
        assert_eq!(folded("𝟒𝟏𝟏𝟏"), "4111");
        assert_eq!(folded("𝟺𝟷𝟷𝟷"), "4111");
        assert_eq!(
            folded("ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ"),
            "john@example.com"
        );
        assert_eq!(folded("4111–1111—1111"), "4111-1111-1111");
        assert_eq!(folded("a\u{3000}b\u{00A0}c"), "a b c");
        assert_eq!(folded("é①€"), "g1\u{1}");
    }

    #[test]
    fn invisible_characters_are_dropped_and_spans_cover_them() {
        let s = "x 4111\u{200B}1111\u{FEFF}1111\u{2060}1111 y";
        let n = Normalized::new(s);
        assert_eq!(n.bytes(), b"x 4111111111111111 y");
        let (start, end) = n.original(2, 18);
        assert_eq!(&s[start..end], "4111\u{200B}1111\u{FEFF}1111\u{2060}1111");
    }

    #[test]
    fn spans_map_back_over_multibyte_characters() {
        let s = "n° ４１１１ ok";
        let n = Normalized::new(s);
        assert_eq!(n.bytes(), b"n\x01 4111 ok");
        let (start, end) = n.original(3, 7);
        assert_eq!(&s[start..end], "４１１１");
    }

    #[test]
    fn escapes_are_decoded_and_spans_cover_the_whole_escape() {
        for (s, folded_as) in [
            ("to jane\\u0040example.com.", "to jane@example.com."),
            ("to jane%40example.com.", "to jane@example.com."),
            ("to jane&#64;example.com.", "to jane@example.com."),
            ("to jane&commat;example&period;com.", "to jane@example.com."),
            ("to j\\u0061ne@example.co%6D.", "to jane@example.com."),
        ] {
            let n = Normalized::new(s);
            assert_eq!(n.bytes(), folded_as.as_bytes(), "{s}");
            let (start, end) = n.original(3, folded_as.len() - 1);
            assert_eq!(&s[start..end], &s[3..s.len() - 1], "{s}");
        }
        // Escaped backslashes and quotes stay as written; what follows them
        // is not an escape.
        assert_eq!(folded("a\\\\u0040b \\\"c"), "a\\\\u0040b \\\"c");
        // Form encoding: `+` between letters or digits is a space in a
        // token with `=` before it and `&` or `%HH` in it; encoded
        // delimiters are data, not delimiters.
        assert_eq!(folded("card=4111+1111&x=1"), "card=4111\u{3}1111&x=1");
        assert_eq!(
            folded("GET /v?ssn=726+15+9104 "),
            "GET /v?ssn=726\u{3}15\u{3}9104 "
        );
        assert_eq!(folded("key=abc+def c++ 1+1"), "key=abc+def c++ 1+1");
        assert_eq!(
            folded("?k=QgPCN/n15n+fy5GU0&s=1"),
            "?k=QgPCN/n15n+fy5GU0&s=1"
        );
        assert_eq!(
            folded("?iban=IT12+A449+0052&s=1"),
            "?iban=IT12\u{3}A449\u{3}0052&s=1"
        );
        assert_eq!(folded("pw=p%26s%2Fs"), "pw=p\u{1}s\u{2}s");
        // A look-alike written as an escape folds too.
        assert_eq!(folded("p\\u0430ss %D1%80w"), "pass pw");
        // An escape of an invisible character is dropped, and spans cover it.
        let s = "4111%E2%80%8B1111";
        let n = Normalized::new(s);
        assert_eq!(n.bytes(), b"41111111");
        assert_eq!(n.original(0, 8), (0, s.len()));
        // Plain ASCII without escapes is borrowed.
        assert!(matches!(
            Normalized::new("100% R&D C++ 50\\").bytes,
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            Normalized::new("plain text").bytes,
            Cow::Borrowed(_)
        ));
    }
}
