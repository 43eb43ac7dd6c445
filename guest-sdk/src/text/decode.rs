//! Escapes a scanner reads through: JSON string escapes, percent-encoding
//! and HTML character references, each decoded where it stands.

use super::{ENCODED_SLASH, ENCODED_SPACE, OTHER_SYMBOL};

/// What an escape at some offset of a text stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Escape {
    /// The character written by the escape's `len` bytes.
    Char(char, usize),
    /// An encoded delimiter, which is data where it stands: the byte it
    /// reads as in the folded text, and the escape's length.
    Byte(u8, usize),
    /// `len` bytes kept as they are: `\\` and `\"`, which must stay escaped
    /// (a decoded `\\` followed by a quote would read as an escaped quote),
    /// and whose second byte must not start an escape of its own.
    Keep(usize),
}

/// True for the bytes an escape starts with.
pub(super) fn starts_escape(b: u8) -> bool {
    matches!(b, b'\\' | b'%' | b'&')
}

/// The escape at the start of `b`, if one is there.
pub(super) fn escape(b: &[u8]) -> Option<Escape> {
    match b.first()? {
        b'\\' => json(b),
        b'%' => percent(b),
        b'&' => entity(b).map(|(c, n)| data(c, n)),
        _ => None,
    }
}

fn hex(b: u8) -> Option<u32> {
    char::from(b).to_digit(16)
}

/// `n` hex digits at the start of `b`, as a number.
fn hex_n(b: &[u8], n: usize) -> Option<u32> {
    let digits = b.get(..n)?;
    digits
        .iter()
        .try_fold(0u32, |acc, &d| Some(acc * 16 + hex(d)?))
}

/// `\uXXXX` (a surrogate pair as one character), `\/`, `\n`, `\r`, `\t`.
fn json(b: &[u8]) -> Option<Escape> {
    let c = match b.get(1)? {
        b'\\' | b'"' => return Some(Escape::Keep(2)),
        b'/' => '/',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => return unicode(b),
        _ => return None,
    };
    Some(Escape::Char(c, 2))
}

fn unicode(b: &[u8]) -> Option<Escape> {
    let high = hex_n(b.get(2..)?, 4)?;
    if let Some(c) = char::from_u32(high) {
        return Some(data(c, 6));
    }
    // A high surrogate: the low one must follow as `\uXXXX`.
    if !(0xD800..0xDC00).contains(&high) || b.get(6..8)? != b"\\u" {
        return None;
    }
    let low = hex_n(b.get(8..)?, 4)?;
    if !(0xDC00..0xE000).contains(&low) {
        return None;
    }
    let c = char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?;
    Some(Escape::Char(c, 12))
}

/// An escaped character: a space or tab written as an escape (`\u0020`,
/// `&#32;`) is an [`ENCODED_SPACE`], a separator inside a value; a control
/// character that would read as one of the folded text's markers is an
/// [`OTHER_SYMBOL`].
fn data(c: char, len: usize) -> Escape {
    match c {
        ' ' | '\t' => Escape::Byte(ENCODED_SPACE, len),
        '\u{1}'..='\u{8}' => Escape::Byte(OTHER_SYMBOL, len),
        _ => Escape::Char(c, len),
    }
}

/// `%HH`, or the `%HH` bytes of one UTF-8 character. An encoded delimiter
/// is data, not a delimiter: encoding `&`, `?` or a quote makes it part of
/// a value (`p%26ss`), so it reads as [`OTHER_SYMBOL`], `%2F` reads as
/// [`ENCODED_SLASH`] (base64 has `/`, a URL's authority ends at one), and
/// an encoded blank as [`ENCODED_SPACE`].
fn percent(b: &[u8]) -> Option<Escape> {
    let first = hex_n(b.get(1..)?, 2)? as u8;
    let width = match first {
        b'/' => return Some(Escape::Byte(ENCODED_SLASH, 3)),
        b' ' | b'\t' | b'\n' | b'\r' => return Some(Escape::Byte(ENCODED_SPACE, 3)),
        b'&' | b';' | b',' | b'?' | b'#' | b'"' | b'\'' | b'`' | b'(' | b')' | b'[' | b']'
        | b'{' | b'}' | b'<' | b'>' | b'\\' => return Some(Escape::Byte(OTHER_SYMBOL, 3)),
        0x00..=0x7F => return Some(data(char::from(first), 3)),
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    let mut bytes = [first, 0, 0, 0];
    for (k, slot) in bytes.iter_mut().enumerate().take(width).skip(1) {
        let at = b.get(3 * k..)?;
        if at.first() != Some(&b'%') {
            return None;
        }
        *slot = hex_n(at.get(1..)?, 2)? as u8;
    }
    let c = std::str::from_utf8(bytes.get(..width)?)
        .ok()?
        .chars()
        .next()?;
    Some(Escape::Char(c, 3 * width))
}

/// Named references a value could be written with, and the characters they
/// stand for (sorted by name).
const NAMED: &[(&[u8], char)] = &[
    (b"amp", '&'),
    (b"apos", '\''),
    (b"ast", '*'),
    (b"bsol", '\\'),
    (b"colon", ':'),
    (b"comma", ','),
    (b"commat", '@'),
    (b"dash", '\u{2010}'),
    (b"dollar", '$'),
    (b"emsp", '\u{2003}'),
    (b"ensp", '\u{2002}'),
    (b"equals", '='),
    (b"excl", '!'),
    (b"gt", '>'),
    (b"hyphen", '\u{2010}'),
    (b"lowbar", '_'),
    (b"lpar", '('),
    (b"lt", '<'),
    (b"nbsp", '\u{a0}'),
    (b"num", '#'),
    (b"percnt", '%'),
    (b"period", '.'),
    (b"plus", '+'),
    (b"quest", '?'),
    (b"quot", '"'),
    (b"rpar", ')'),
    (b"semi", ';'),
    (b"shy", '\u{ad}'),
    (b"sol", '/'),
    (b"thinsp", '\u{2009}'),
    (b"verbar", '|'),
    (b"zwj", '\u{200d}'),
    (b"zwnj", '\u{200c}'),
];

/// `&#DDD;`, `&#xHH;` (the `;` optional, as browsers read them) and the
/// named references of [`NAMED`] (with their `;`).
fn entity(b: &[u8]) -> Option<(char, usize)> {
    if b.get(1) == Some(&b'#') {
        let (radix, from) = match b.get(2) {
            Some(b'x' | b'X') => (16, 3),
            _ => (10, 2),
        };
        let digits = b
            .get(from..)?
            .iter()
            .take(8)
            .take_while(|d| char::from(**d).is_digit(radix))
            .count();
        if digits == 0 || digits > 7 {
            return None;
        }
        let text = std::str::from_utf8(b.get(from..from + digits)?).ok()?;
        let c = char::from_u32(u32::from_str_radix(text, radix).ok()?).filter(|&c| c != '\0')?;
        let end = from + digits;
        let len = if b.get(end) == Some(&b';') {
            end + 1
        } else {
            end
        };
        return Some((c, len));
    }
    let name_len = b
        .get(1..)?
        .iter()
        .take(8)
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    if b.get(1 + name_len) != Some(&b';') {
        return None;
    }
    let name = b.get(1..1 + name_len)?;
    let i = NAMED.binary_search_by(|(n, _)| n.cmp(&name)).ok()?;
    Some((NAMED.get(i)?.1, name_len + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(s: &str) -> Option<(char, usize)> {
        match escape(s.as_bytes()) {
            Some(Escape::Char(c, n)) => Some((c, n)),
            Some(Escape::Byte(b, n)) => Some((char::from(b), n)),
            _ => None,
        }
    }

    #[test]
    fn json_escapes() {
        assert_eq!(ch("\\u0040x"), Some(('@', 6)));
        assert_eq!(ch("\\u00e9"), Some(('é', 6)));
        assert_eq!(ch("\\ud83d\\ude00"), Some(('😀', 12)));
        assert_eq!(ch("\\/"), Some(('/', 2)));
        assert_eq!(ch("\\n"), Some(('\n', 2)));
        assert_eq!(escape(b"\\\\u0040"), Some(Escape::Keep(2)));
        assert_eq!(escape(b"\\\""), Some(Escape::Keep(2)));
        // A lone or broken surrogate, short or bad hex: not an escape.
        assert_eq!(ch("\\ud83d"), None);
        assert_eq!(ch("\\ud83d\\u0041"), None);
        assert_eq!(ch("\\u00"), None);
        assert_eq!(ch("\\u00g0"), None);
        assert_eq!(ch("\\x41"), None);
    }

    #[test]
    fn percent_escapes() {
        assert_eq!(ch("%40"), Some(('@', 3)));
        assert_eq!(ch("%2b"), Some(('+', 3)));
        assert_eq!(ch("%2F"), Some(('\u{2}', 3)));
        assert_eq!(ch("%26"), Some(('\u{1}', 3)));
        assert_eq!(ch("%3f"), Some(('\u{1}', 3)));
        assert_eq!(ch("%C3%A9"), Some(('é', 6)));
        assert_eq!(ch("%E2%80%8B"), Some(('\u{200b}', 9)));
        assert_eq!(ch("%C3"), None);
        assert_eq!(ch("%C3%41"), None);
        assert_eq!(ch("%FF"), None);
        assert_eq!(ch("%4"), None);
        assert_eq!(ch("%zz"), None);
    }

    #[test]
    fn html_references() {
        assert_eq!(ch("&#64;"), Some(('@', 5)));
        assert_eq!(ch("&#64"), Some(('@', 4)));
        assert_eq!(ch("&#x40;"), Some(('@', 6)));
        assert_eq!(ch("&#X4a;"), Some(('J', 6)));
        assert_eq!(ch("&commat;"), Some(('@', 8)));
        assert_eq!(ch("&nbsp;"), Some(('\u{a0}', 6)));
        assert_eq!(ch("&amp;"), Some(('&', 5)));
        assert_eq!(ch("&commat"), None);
        assert_eq!(ch("&unknown;"), None);
        assert_eq!(ch("&#;"), None);
        assert_eq!(ch("&#0;"), None);
        assert_eq!(ch("&#12345678;"), None);
        assert_eq!(ch("&#xD800;"), None);
        assert_eq!(ch("& co"), None);
        let mut names: Vec<&[u8]> = NAMED.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        assert!(
            names.iter().zip(NAMED).all(|(a, (b, _))| a == b),
            "NAMED is sorted"
        );
    }
}
