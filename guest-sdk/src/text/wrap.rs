//! Values broken across lines: short views of a folded text with the line
//! breaks that look like they cut a value taken out, and the way back.
//!
//! A line break *joins* when the next line starts with an indentation or an
//! e-mail/chat quote prefix (`  `, `\t`, `> `, `>> `, `> > `) and the text on
//! both sides could be one value:
//!
//! * digits on both sides (a card, IBAN, SSN or phone number cut at a
//!   group), the line before maybe ending with one separator (` `, `-`,
//!   `.`, `)`), the next maybe starting with `-` or `.`;
//! * capitals or digits on both sides after an IBAN's country and check
//!   digits on the line (`GB85 IN` / `> GB 4096…`);
//! * an `@` in the word before or after (an address);
//! * a run of token characters (`[A-Za-z0-9_.+/~-]`) on both sides at least
//!   16 long together, at least 2 of them before the break, the one after
//!   not an assignment's key (`  user=admin`, `  host: x` start a new
//!   entry, not a continuation).
//!
//! A break before a word of prose is read both joined and not (see
//! [`for_each`]); where the joined reading finds a token that takes the word
//! in (`…R8U\n> bye`), the word is masked with it: masking too much is the
//! safe side. A view covers the lines around a run of joining breaks, at
//! most [`SIDE`] bytes before the first and after the last; a scanner keeps
//! only what it finds across a joint ([`Wrapped::folded`]), since the rest
//! it already found in the text itself.

/// Bytes of context kept before the first joint and after the last one.
pub const SIDE: usize = 512;

/// One view: parts of the folded text, glued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrapped {
    bytes: Vec<u8>,
    /// (view index, folded index) of each part's start, in order.
    parts: Vec<(usize, usize)>,
}

impl Wrapped {
    /// The view's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The folded index of view byte `i`.
    fn folded_at(&self, i: usize) -> usize {
        let k = self.parts.partition_point(|&(v, _)| v <= i);
        match k.checked_sub(1).and_then(|k| self.parts.get(k)) {
            Some(&(v, f)) => f + (i - v),
            None => i,
        }
    }

    /// The span of the folded text that the view's span `start..end` comes
    /// from, when it crosses a joint (so it takes in the line break and the
    /// prefix taken out there); `None` when it lies within one part.
    pub fn folded(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        if start >= end || end > self.bytes.len() {
            return None;
        }
        // The first joint after `start` (parts are sorted by view index).
        let k = self.parts.partition_point(|&(v, _)| v <= start).max(1);
        let crosses = self.parts.get(k).is_some_and(|&(v, _)| v < end);
        crosses.then(|| (self.folded_at(start), self.folded_at(end - 1) + 1))
    }
}

/// Bytes of a token. Not `=`: base64 pads only a value's end, and before a
/// break it ends an assignment's key (`KEY=`).
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'/' | b'~' | b'-')
}

/// Where the continuation after the line break at `nl` starts, past its
/// indentation and quote prefix; `None` when it has neither.
fn continuation(b: &[u8], nl: usize) -> Option<usize> {
    let mut q = nl + 1;
    loop {
        while matches!(b.get(q), Some(b' ' | b'\t')) {
            q += 1;
        }
        if b.get(q) == Some(&b'>') {
            q += 1;
        } else {
            break;
        }
    }
    (q > nl + 1).then_some(q)
}

/// If the line break at `nl` joins: where the line before it ends (after
/// any separator it keeps) and where the continuation starts.
fn joint(b: &[u8], nl: usize, strict: bool) -> Option<Joint> {
    let q = continuation(b, nl)?;
    let mut end = nl;
    if end > 0 && b.get(end - 1) == Some(&b'\r') {
        end -= 1;
    }
    let first = *b.get(q)?;
    let before = b.get(..end)?;
    // Digits on both sides, the line maybe ending with one separator.
    let trimmed = match before.last() {
        Some(b' ' | b'-' | b'.' | b')') => before.get(..before.len() - 1)?,
        _ => before,
    };
    // The continuation may start with the separator (`058-46\n    -0651`).
    let digit_next = first.is_ascii_digit()
        || (matches!(first, b'-' | b'.') && b.get(q + 1).is_some_and(u8::is_ascii_digit));
    if digit_next && trimmed.last().is_some_and(u8::is_ascii_digit) {
        // Read with a space where the break was, too, when neither side
        // has a separator there (`SSN 040\n>> 31 2009`).
        let bare = trimmed.len() == before.len() && first.is_ascii_digit();
        return Some((end, q, bare, false));
    }
    // An IBAN cut between capitals or digits (`GB85 IN\n> GB 4096…`): a
    // country and check digits within the 40 bytes before, on its line.
    let upper_or_digit = |c: &u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    if upper_or_digit(&first) && trimmed.last().is_some_and(upper_or_digit) {
        let tail = &before[before.len().saturating_sub(40)..];
        let line = tail.rsplit(|&c| c == b'\n').next().unwrap_or(tail);
        let iban_start = line.windows(4).enumerate().any(|(k, w)| {
            w[0].is_ascii_uppercase()
                && w[1].is_ascii_uppercase()
                && w[2].is_ascii_digit()
                && w[3].is_ascii_digit()
                && (k == 0 || !line[k - 1].is_ascii_alphanumeric())
        });
        if iban_start {
            return Some((end, q, false, false));
        }
    }
    let left = before
        .iter()
        .rev()
        .take_while(|&&c| is_token(c) || c == b'@')
        .count();
    let after = b.get(q..)?;
    let right = after
        .iter()
        .take_while(|&&c| is_token(c) || c == b'@')
        .count();
    // A continuation starts with a letter or digit, or one `-`, `_` or `.`
    // before one (not a YAML list's `- `).
    let starts_value =
        first.is_ascii_alphanumeric() || b.get(q + 1).is_some_and(u8::is_ascii_alphanumeric);
    if left == 0 || right == 0 || !starts_value {
        return None;
    }
    let words = before.get(end - left..)?.iter().chain(after.get(..right)?);
    let has_at = words.clone().any(|&c| c == b'@');
    // An assignment after the break starts a new entry.
    let assignment = after.get(right).is_some_and(|&c| matches!(c, b':' | b'='));
    if assignment {
        return None;
    }
    if has_at {
        return (left + right >= 6).then_some((end, q, false, false));
    }
    let prose = is_word_like(after.get(..right)?);
    (left >= 2 && left + right >= 16 && !(strict && prose)).then_some((end, q, false, prose))
}

/// A run that reads as a word of prose rather than a piece of a token: at
/// most 12 letters, all lowercase after the first (`bye`, `Thanks`).
fn is_word_like(run: &[u8]) -> bool {
    run.len() <= 12
        && run.iter().all(u8::is_ascii_alphabetic)
        && run.iter().skip(1).all(u8::is_ascii_lowercase)
}

/// The views of `b` (a folded text) around its joining line breaks.
///
/// A token cut before a word of prose (`…8528\n  alternative`, `…R8U\n>
/// bye`) may be a token whose last piece reads like a word (`…F5z\n> jon`)
/// or a complete value followed by prose, and joining the prose would hide
/// a complete value (a card glued to a word is no card). So such breaks
/// are read both ways: the views joined at every break, and, when that
/// differs, the views joined only where no word of prose follows.
///
/// A break between two digits may have replaced a group separator
/// (`4111 1111\n  1111 1111`) or cut a group (`050\n  4-16-0036`): the
/// strict views are read once more with a space where such a break was.
///
/// Each view is handed to `f` and dropped before the next is built, so a
/// text of many joined lines costs one view's memory, not one per reading.
pub(super) fn for_each(b: &[u8], mut f: impl FnMut(&Wrapped)) {
    let seen = views(b, false, false, &mut f);
    // The other readings differ only where such a break was seen.
    if seen.prose {
        views(b, true, false, &mut f);
    }
    if seen.bare {
        views(b, true, true, &mut f);
    }
}

/// What kinds of joining breaks a text has.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    /// A break before a word of prose.
    prose: bool,
    /// A break between two digits without a separator.
    bare: bool,
}

/// A joining break: where the line before it ends, where the continuation
/// starts, whether it is between two digits without a separator
/// (and whether a word of prose follows it, which strict views do not
/// join).
type Joint = (usize, usize, bool, bool);

/// Hands `f` the views of one reading, joined at every break [`joint`]
/// accepts (with `strict`, not before a word of prose; with `spaced`, a
/// break between two digits reads as a space); says which breaks it saw.
fn views(b: &[u8], strict: bool, spaced: bool, f: &mut impl FnMut(&Wrapped)) -> Seen {
    let mut seen = Seen::default();
    // The view being built, and where its last part starts: the next line
    // break is where that part's line ends.
    let mut open: Option<(Wrapped, usize)> = None;
    let mut line_start = 0;
    for nl in memchr::memchr_iter(b'\n', b) {
        match (joint(b, nl, strict), open.take()) {
            (Some((end, q, bare, prose)), open_view) => {
                seen.bare |= bare;
                seen.prose |= prose;
                let mut v = match open_view {
                    Some((mut v, from)) => {
                        v.bytes
                            .extend_from_slice(b.get(from..end).unwrap_or_default());
                        v
                    }
                    None => {
                        let start = line_start.max(end.saturating_sub(SIDE));
                        let bytes = b.get(start..end).unwrap_or_default().to_vec();
                        Wrapped {
                            bytes,
                            parts: vec![(0, start)],
                        }
                    }
                };
                if spaced && bare {
                    // The space stands for the line break.
                    v.parts.push((v.bytes.len(), end));
                    v.bytes.push(b' ');
                }
                v.parts.push((v.bytes.len(), q));
                open = Some((v, q));
            }
            (None, Some((v, from))) => f(&close(v, b, from)),
            (None, None) => {}
        }
        line_start = nl + 1;
    }
    if let Some((v, from)) = open {
        f(&close(v, b, from));
    }
    seen
}

/// Ends a view with its last part: up to the end of that line, at most
/// [`SIDE`] bytes.
fn close(mut v: Wrapped, b: &[u8], from: usize) -> Wrapped {
    let rest = b.get(from..).unwrap_or_default();
    let len = rest.iter().take(SIDE).take_while(|&&c| c != b'\n').count();
    v.bytes
        .extend_from_slice(rest.get(..len).unwrap_or_default());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(s: &str) -> Vec<Wrapped> {
        let mut out = Vec::new();
        for_each(s.as_bytes(), |v| out.push(v.clone()));
        out
    }

    fn views(s: &str) -> Vec<String> {
        all(s)
            .iter()
            .map(|v| String::from_utf8_lossy(v.bytes()).into_owned())
            .collect()
    }

    #[test]
    fn a_value_cut_at_a_line_break_is_joined() {
        assert_eq!(
            views("card 4111 1111\n     1111 1111 ok\nnext"),
            ["card 4111 11111111 1111 ok", "card 4111 1111 1111 1111 ok"]
        );
        assert_eq!(
            views("> card 4111 1111 \r\n> 1111 1111\n"),
            ["> card 4111 1111 1111 1111"]
        );
        assert_eq!(
            views("mail jane.doe@exam\n\tple.com now"),
            ["mail jane.doe@example.com now"]
        );
        let jwt =
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIi\n  OiIxMjM0NTY3ODkwIn0.sig\n  N4tuR3_x ok\n  bye";
        assert_eq!(
            views(jwt),
            ["Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sigN4tuR3_x ok"]
        );
    }

    #[test]
    fn ordinary_lines_are_not_joined() {
        // No indentation, prose, an assignment on the next line.
        assert!(views("4111 1111\n1111 1111").is_empty());
        assert!(views("Thanks for\n  the reply").is_empty());
        assert!(views("  password: abcdefghijklmnop1234\n  username: admin").is_empty());
        assert!(views("API_KEY=abcdefghij1234567890\n  DB_HOST=localhost").is_empty());
    }

    #[test]
    fn spans_across_a_joint_map_back_over_the_break() {
        let s = "x 4111 1111\n  > 1111 1111 y";
        let v = &all(s)[0];
        let found = std::str::from_utf8(v.bytes())
            .unwrap()
            .find("4111")
            .unwrap();
        let (a, b) = v.folded(found, found + 18).unwrap();
        assert_eq!(&s[a..b], "4111 1111\n  > 1111 1111");
        // Within one part: not reported.
        assert_eq!(v.folded(found, found + 4), None);
    }
}
