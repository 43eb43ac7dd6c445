//! A normalized view of a text for masking scanners.
//!
//! Sensitive values are hidden from naive scanners with tricks a language
//! model reads straight through: full-width or other-script digits
//! (`４１１１…`, `٤١١١…`, `𝟒𝟏𝟏𝟏…`), zero-width characters inside a number
//! (`4111\u{200B}1111…`), typographic dashes as separators. [`Normalized`]
//! turns a text into bytes a scanner can match with ASCII rules, and maps
//! every span it finds back to the original text:
//!
//! * ASCII is kept as is (and an all-ASCII text is not copied);
//! * decimal digits of any script, full-width ASCII (`U+FF01..=U+FF5E`) and
//!   Unicode spaces become their ASCII counterparts; hyphens and dashes
//!   (`U+2010..=U+2015`, `U+2212`) become `-`;
//! * invisible formatting characters (zero-width space/joiners, word joiner,
//!   BOM, soft hyphen, invisible operators) are dropped;
//! * any other letter or digit becomes [`OTHER_LETTER`], anything else
//!   [`OTHER_SYMBOL`], so word boundaries stay where they were.

use std::borrow::Cow;

/// Stands for a non-ASCII letter or number: a word character that matches no
/// ASCII class a scanner looks for (it is not a hex digit).
pub const OTHER_LETTER: u8 = b'g';
/// Stands for a non-ASCII character that is neither a letter nor a digit.
pub const OTHER_SYMBOL: u8 = 0x01;

/// First code point of each run of ten decimal digits (`0`..`9`) outside
/// ASCII: the Unicode `Nd` blocks of the scripts in current use, full-width
/// digits and the mathematical alphanumeric digits.
const DIGIT_ZEROS: &[u32] = &[
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
    0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// The ASCII digit a non-ASCII decimal digit stands for.
fn decimal_digit(c: char) -> Option<u8> {
    let cp = u32::from(c);
    let i = DIGIT_ZEROS
        .partition_point(|&zero| zero <= cp)
        .checked_sub(1)?;
    let offset = cp - DIGIT_ZEROS[i];
    (offset < 10).then(|| b'0' + offset as u8)
}

/// Characters that render as nothing and are dropped.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
    )
}

/// What one non-ASCII character becomes, or `None` when it is dropped.
fn fold(c: char) -> Option<u8> {
    if is_invisible(c) {
        return None;
    }
    if let Some(d) = decimal_digit(c) {
        return Some(d);
    }
    let cp = u32::from(c);
    if (0xFF01..=0xFF5E).contains(&cp) {
        return Some((cp - 0xFF01 + 0x21) as u8);
    }
    if matches!(cp, 0x2010..=0x2015 | 0x2212 | 0xFE58 | 0xFE63) {
        return Some(b'-');
    }
    if c.is_whitespace() {
        return Some(b' ');
    }
    if c.is_alphanumeric() {
        return Some(OTHER_LETTER);
    }
    Some(OTHER_SYMBOL)
}

/// A text folded to bytes for scanning, with the way back to the original.
#[derive(Debug)]
pub struct Normalized<'a> {
    text: &'a str,
    bytes: Cow<'a, [u8]>,
    /// Where the offset between folded and original changes: (folded index,
    /// original offset of the character that folded byte came from). Between
    /// anchors the two advance together (ASCII). Empty when the text is
    /// ASCII. At most one entry per non-ASCII character, so a mostly-ASCII
    /// text costs little beyond its folded copy.
    anchors: Vec<(u32, u32)>,
}

impl<'a> Normalized<'a> {
    /// Folds `text`. An ASCII text is borrowed, not copied.
    pub fn new(text: &'a str) -> Self {
        if text.is_ascii() {
            return Self {
                text,
                bytes: Cow::Borrowed(text.as_bytes()),
                anchors: Vec::new(),
            };
        }
        let mut bytes = Vec::with_capacity(text.len());
        let mut anchors = Vec::new();
        // Original offset minus folded index, for the current run.
        let mut delta = usize::MAX;
        for (at, c) in text.char_indices() {
            let b = if c.is_ascii() { Some(c as u8) } else { fold(c) };
            if let Some(b) = b {
                let i = bytes.len();
                if at - i != delta {
                    delta = at - i;
                    anchors.push((to_u32(i), to_u32(at)));
                }
                bytes.push(b);
            }
        }
        Self {
            text,
            bytes: Cow::Owned(bytes),
            anchors,
        }
    }

    /// The folded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The original offset of the character folded byte `i` came from.
    fn origin(&self, i: usize) -> usize {
        let k = self.anchors.partition_point(|&(f, _)| f as usize <= i);
        match k.checked_sub(1).and_then(|k| self.anchors.get(k)) {
            Some(&(f, o)) => o as usize + (i - f as usize),
            None => i,
        }
    }

    /// Maps the folded span `start..end` back to a span of the original
    /// text: from the first character's start to the last one's end, so it
    /// covers whole characters and any dropped invisible characters between
    /// them, never one before or after.
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
        let width = self
            .text
            .get(last..)
            .and_then(|rest| rest.chars().next())
            .map_or(1, char::len_utf8);
        (self.origin(start), last + width)
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
        assert_eq!(folded("é①€"), "gg\u{1}");
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
}
