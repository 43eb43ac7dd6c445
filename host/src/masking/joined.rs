//! The texts a JSON document is scanned as: every piece on a line of its
//! own after its key, then the values glued together; and how a span found
//! in either is handed back to the pieces it covers.

use super::Span;
use super::doc::{Piece, Role};

/// Where a piece sits in a joined text.
#[derive(Debug)]
pub(super) struct Placed {
    /// The piece (its index in the document's pieces).
    pub(super) piece: usize,
    /// Offset of the piece in the joined text.
    pub(super) start: usize,
    /// Length of the piece as written there.
    pub(super) len: usize,
    /// For a value written escaped: the offset in the original value of each
    /// byte written, plus one final entry (the value's length).
    origin: Option<Vec<usize>>,
}

impl Placed {
    /// Maps an offset within the written piece back to the original.
    fn original(&self, at: usize) -> usize {
        match &self.origin {
            None => at,
            Some(o) => o.get(at).copied().unwrap_or(at),
        }
    }
}

/// Every value as a line `"key": "value"` (or `"value"` in an array), and
/// every key whose value is an array, object, `true`, `false` or `null` as
/// a line `"key"`. In values, `"` and `\` are escaped so that a quoted value
/// ends where it does; in keys they are written `_` (a key cannot close the
/// quotes early or glue onto its value), which keeps every offset.
pub(super) fn render_keyed(pieces: &[Piece]) -> (String, Vec<Placed>) {
    let mut text = String::new();
    let mut placed = Vec::with_capacity(pieces.len());
    for (i, piece) in pieces.iter().enumerate() {
        text.push('"');
        let start = text.len();
        if let Role::Key { leaf } = piece.role {
            text.extend(
                piece
                    .text
                    .chars()
                    .map(|c| if c == '"' || c == '\\' { '_' } else { c }),
            );
            placed.push(Placed {
                piece: i,
                start,
                len: text.len() - start,
                origin: None,
            });
            text.push_str(if leaf { "\": " } else { "\"\n" });
            continue;
        }
        let origin = if piece.text.contains(['"', '\\']) {
            let mut origin = Vec::with_capacity(piece.text.len() + 8);
            for (at, c) in piece.text.char_indices() {
                if c == '"' || c == '\\' {
                    text.push('\\');
                    origin.push(at);
                }
                text.push(c);
                origin.extend(std::iter::repeat_n(at, c.len_utf8()));
            }
            origin.push(piece.text.len());
            Some(origin)
        } else {
            text.push_str(&piece.text);
            None
        };
        placed.push(Placed {
            piece: i,
            start,
            len: text.len() - start,
            origin,
        });
        text.push_str("\"\n");
    }
    (text, placed)
}

/// The values glued together: nothing between neighbours in the same array
/// or object, a line break between the others. Keys are not glued.
pub(super) fn glue(pieces: &[Piece]) -> (String, Vec<Placed>) {
    let values = || {
        pieces
            .iter()
            .enumerate()
            .filter(|(_, p)| matches!(p.role, Role::Value { .. }))
    };
    let mut text = String::with_capacity(values().map(|(_, p)| p.text.len() + 1).sum());
    let mut placed = Vec::new();
    let mut parent = None;
    for (i, piece) in values() {
        if parent.is_some_and(|p| p != piece.parent) {
            text.push('\n');
        }
        parent = Some(piece.parent);
        placed.push(Placed {
            piece: i,
            start: text.len(),
            len: piece.text.len(),
            origin: None,
        });
        text.push_str(&piece.text);
    }
    (text, placed)
}

/// Hands the parts of a span of the joined text to the pieces it covers
/// (`out` is indexed by piece).
///
/// With `alone` (the glued pass: what each piece held on its own), a span is
/// ignored if it lies within a single piece, or if it is an address already
/// found on its own in its last piece with the end of the values before it
/// glued to its front (`"main"` then `"ann@example.com"` glue into the
/// address `mainann@example.com`: an address's local part absorbs any word
/// before it, so the earlier value is not part of it), provided the address
/// found alone covers all of its piece's part. Only that case: a
/// span that extends a finding into the *next* value, or of any other kind,
/// may be a value split across strings, and every part of it is masked.
pub(super) fn split(
    s: &Span,
    placed: &[Placed],
    out: &mut [Vec<Span>],
    alone: Option<&[Vec<Span>]>,
) {
    // The first piece that starts after the span's start, less one.
    let first = placed
        .partition_point(|p| p.start <= s.start)
        .saturating_sub(1);
    let mut parts = Vec::new();
    for p in placed.iter().skip(first) {
        if p.start >= s.end {
            break;
        }
        let (a, b) = (s.start.max(p.start), s.end.min(p.start + p.len));
        if a < b {
            parts.push((p.piece, p.original(a - p.start), p.original(b - p.start)));
        }
    }
    if let Some(alone) = alone {
        // Cheap test first: most spans of the glued text lie within one
        // piece. The address found alone must cover all of its piece's part:
        // one that only overlaps it (`".doe@corp.example.com"` alone is
        // found from the `d`) may have its front in the earlier values.
        if parts.len() < 2
            || (s.kind == "email"
                && parts.last().is_some_and(|&(i, a, b)| {
                    alone
                        .get(i)
                        .is_some_and(|found| covered(found, &s.kind, a, b))
                }))
        {
            return;
        }
    }
    let last = parts.len().saturating_sub(1);
    for (n, (i, a, b)) in parts.into_iter().enumerate() {
        if let Some(piece) = out.get_mut(i) {
            piece.push(Span {
                kind: s.kind.clone(),
                plugin: s.plugin,
                start: a,
                end: b,
                split_head: n < last,
            });
        }
    }
}

/// Whether one of `found` (sorted and disjoint, as [`super::merge`] leaves
/// them) is of `kind` and covers `a..b`: a binary search, so a piece with
/// many findings costs a logarithm per span, not a scan.
fn covered(found: &[Span], kind: &str, a: usize, b: usize) -> bool {
    // The last finding that starts at or before `a` is the only one that
    // can cover `a..b`, since they are disjoint.
    let after = found.partition_point(|f| {
        probe::step();
        f.start <= a
    });
    after
        .checked_sub(1)
        .and_then(|i| found.get(i))
        .is_some_and(|f| f.kind == kind && b <= f.end)
}

/// Counts the steps of searches, in tests, so a test can show that their
/// cost does not grow with the square of the input.
mod probe {
    #[cfg(test)]
    thread_local! {
        static STEPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// One step of a search.
    #[inline(always)]
    pub(super) fn step() {
        #[cfg(test)]
        STEPS.with(|s| s.set(s.get() + 1));
    }

    /// Steps taken on this thread so far.
    #[cfg(test)]
    pub(super) fn steps() -> u64 {
        STEPS.with(std::cell::Cell::get)
    }
}

#[cfg(test)]
mod tests {
    use super::super::doc::Doc;
    use super::*;
    use serde_json::json;

    /// The values of one array.
    fn values(texts: &[&str]) -> Doc {
        Doc::new(json!(texts))
    }

    fn span(start: usize, end: usize) -> Span {
        Span {
            kind: "k".into(),
            plugin: 0,
            start,
            end,
            split_head: false,
        }
    }

    fn email(start: usize, end: usize) -> Span {
        Span {
            kind: "email".into(),
            ..span(start, end)
        }
    }

    #[test]
    fn spans_of_the_joined_text_split_over_pieces() {
        let d = values(&["4111 1111", "1111 1111", "x"]);
        let (text, placed) = glue(&d.pieces);
        assert_eq!(text, "4111 11111111 1111x");
        let mut out = vec![Vec::new(); 3];
        split(&span(0, 18), &placed, &mut out, Some(&[]));
        assert_eq!((out[0][0].start, out[0][0].end), (0, 9));
        assert_eq!((out[1][0].start, out[1][0].end), (0, 9));
        assert!(out[2].is_empty());
        let mut out = vec![Vec::new(); 3];
        split(&span(0, 4), &placed, &mut out, Some(&[]));
        assert!(
            out.iter().all(Vec::is_empty),
            "within one piece: not crossing"
        );
    }

    #[test]
    fn an_address_glued_behind_a_value_is_not_a_new_one() {
        let d = values(&["main", "ann@example.com"]);
        let (_, placed) = glue(&d.pieces);
        // Piece 1 alone held an address at 0..15.
        let alone = vec![Vec::new(), vec![email(0, 15)]];
        let mut out = vec![Vec::new(); 2];
        split(&email(0, 19), &placed, &mut out, Some(&alone));
        assert!(out.iter().all(Vec::is_empty), "`main` is not an address");
        // Another kind found alone does not hide a value split across pieces.
        let mut phone = email(0, 15);
        phone.kind = "phone".into();
        let mut glued_phone = email(0, 19);
        glued_phone.kind = "phone".into();
        split(
            &glued_phone,
            &placed,
            &mut out,
            Some(&[Vec::new(), vec![phone]]),
        );
        assert_eq!(out.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1]);
        // Nor does an address found alone that covers only part of its
        // piece's share: `jane` and `.` are the front of
        // `jane.doe@corp.example.com`, split across two values.
        let d = values(&["jane", ".doe@corp.example.com"]);
        let (_, placed) = glue(&d.pieces);
        let mut out = vec![Vec::new(); 2];
        let alone = vec![Vec::new(), vec![email(1, 21)]];
        split(&email(0, 25), &placed, &mut out, Some(&alone));
        assert_eq!(out.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1]);
        assert_eq!((out[0][0].start, out[0][0].end), (0, 4));
        assert_eq!((out[1][0].start, out[1][0].end), (0, 21));
        // Nor does a finding extended into the next value: `0100` is the
        // end of the number in `["+1 415 555", " 0100"]`.
        let d = values(&["ann@example.com", "x"]);
        let (_, placed) = glue(&d.pieces);
        let mut out = vec![Vec::new(); 2];
        let alone = vec![vec![email(0, 15)], Vec::new()];
        split(&email(0, 16), &placed, &mut out, Some(&alone));
        assert_eq!(out.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1]);
    }

    #[test]
    fn many_addresses_in_one_value_cost_a_logarithm_each() {
        // One value holding `n` addresses, after a short one: the glued pass
        // hands every address to `split`. Scanning the value's findings for
        // each address cost about n²/2 steps (a 2 MB value took 39 s).
        let n = 4000;
        let addresses: Vec<String> = (0..n).map(|i| format!("a{i:04}@example.com")).collect();
        let long = addresses.join(" ");
        let d = values(&["main", &long]);
        let (_, placed) = glue(&d.pieces);
        let alone_spans: Vec<Span> = (0..n).map(|i| email(i * 17, i * 17 + 16)).collect();
        let alone = vec![Vec::new(), alone_spans];
        let mut out = vec![Vec::new(); 2];
        let before = probe::steps();
        // The first address glued behind `main`, then every address alone.
        split(&email(0, 4 + 16), &placed, &mut out, Some(&alone));
        for i in 0..n {
            let start = placed[1].start + i * 17;
            split(&email(start, start + 16), &placed, &mut out, Some(&alone));
        }
        let steps = probe::steps() - before;
        assert!(out.iter().all(Vec::is_empty), "nothing crosses values");
        assert!(steps <= 64, "{steps} steps for {n} addresses");
    }

    #[test]
    fn keyed_lines_escape_quotes_and_map_back() {
        let d = Doc::new(json!({"k": "a\"b", "k\"2": "plain", "o": [1]}));
        let (text, placed) = render_keyed(&d.pieces);
        assert_eq!(
            text,
            "\"k\": \"a\\\"b\"\n\"k_2\": \"plain\"\n\"o\"\n\"1\"\n"
        );
        // The whole escaped value maps back to the whole original value.
        let (start, end) = (placed[1].start, placed[1].start + placed[1].len);
        let mut out = vec![Vec::new(); d.pieces.len()];
        split(&span(start, end), &placed, &mut out, None);
        assert_eq!((out[1][0].start, out[1][0].end), (0, 3));
        // Keys are placed too, offsets unchanged.
        let p = &placed[2];
        assert_eq!((p.piece, &text[p.start..p.start + p.len]), (2, "k_2"));
        let p = &placed[3];
        assert_eq!(&text[p.start..p.start + p.len], "plain");
        // Keys are not glued.
        let (text, placed) = glue(&d.pieces);
        assert_eq!(text, "a\"bplain\n1");
        assert_eq!(
            placed.iter().map(|p| p.piece).collect::<Vec<_>>(),
            [1, 3, 5]
        );
    }
}
