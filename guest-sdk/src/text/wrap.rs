//! Values broken across lines: short views of a folded text with the line
//! breaks that look like they cut a value taken out, and the way back.
//!
//! A line break *joins* when the next line starts with an indentation or an
//! e-mail/chat quote prefix (`  `, `\t`, `> `, `>> `, `> > `) and the text on
//! both sides could be one value: digits on both sides (a card, IBAN, SSN or
//! phone number cut at a group), an `@` in the word before or after (an
//! address), or a run of token characters (`[A-Za-z0-9_.+/~-]`) on both
//! sides at least 16 long together, at least 4 of them before the break,
//! the one after not an assignment's key (`  user=admin`, `  host: x` start
//! a new entry, not a continuation). A word of prose after a token may be
//! taken in (`…R8U\n> bye`): masking too much is the safe side. A
//! line that ends with a separator (`4111 1111 `) keeps it. A view covers
//! the lines around a run of joining breaks, at most [`SIDE`] bytes before
//! the first and after the last; a scanner keeps only what it finds across
//! a joint ([`Wrapped::folded`]), since the rest it already found in the
//! text itself.

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
        let crosses = self
            .parts
            .iter()
            .skip(1)
            .any(|&(v, _)| start < v && v < end);
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
fn joint(b: &[u8], nl: usize) -> Option<(usize, usize)> {
    let q = continuation(b, nl)?;
    let mut end = nl;
    if end > 0 && b.get(end - 1) == Some(&b'\r') {
        end -= 1;
    }
    let first = *b.get(q)?;
    let before = b.get(..end)?;
    // Digits on both sides, the line maybe ending with one separator.
    let trimmed = match before.last() {
        Some(b' ' | b'-') => before.get(..before.len() - 1)?,
        _ => before,
    };
    if first.is_ascii_digit() && trimmed.last().is_some_and(u8::is_ascii_digit) {
        return Some((end, q));
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
    if left == 0 || right == 0 {
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
        return (left + right >= 6).then_some((end, q));
    }
    (left >= 4 && left + right >= 16).then_some((end, q))
}

/// The views of `b` (a folded text) around its joining line breaks.
pub(super) fn wrapped(b: &[u8]) -> Vec<Wrapped> {
    let mut views = Vec::new();
    // The view being built, and where its last part starts: the next line
    // break is where that part's line ends.
    let mut open: Option<(Wrapped, usize)> = None;
    let mut line_start = 0;
    for nl in b
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == b'\n')
        .map(|(i, _)| i)
    {
        match (joint(b, nl), open.take()) {
            (Some((end, q)), Some((mut v, from))) => {
                v.bytes
                    .extend_from_slice(b.get(from..end).unwrap_or_default());
                v.parts.push((v.bytes.len(), q));
                open = Some((v, q));
            }
            (Some((end, q)), None) => {
                let start = line_start.max(end.saturating_sub(SIDE));
                let bytes = b.get(start..end).unwrap_or_default().to_vec();
                let parts = vec![(0, start), (bytes.len(), q)];
                open = Some((Wrapped { bytes, parts }, q));
            }
            (None, Some((v, from))) => views.push(close(v, b, from)),
            (None, None) => {}
        }
        line_start = nl + 1;
    }
    if let Some((v, from)) = open {
        views.push(close(v, b, from));
    }
    views
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

    fn views(s: &str) -> Vec<String> {
        wrapped(s.as_bytes())
            .iter()
            .map(|v| String::from_utf8_lossy(v.bytes()).into_owned())
            .collect()
    }

    #[test]
    fn a_value_cut_at_a_line_break_is_joined() {
        assert_eq!(
            views("card 4111 1111\n     1111 1111 ok\nnext"),
            ["card 4111 11111111 1111 ok"]
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
        let v = &wrapped(s.as_bytes())[0];
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
