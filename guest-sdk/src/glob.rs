//! Glob matching: `*` matches any run of characters, `?` exactly one.
//!
//! Matching is linear in practice (the classic two-pointer algorithm with
//! one backtrack point), so a hostile pattern such as `*a*a*a*a*b` cannot
//! make a plugin run away.

/// True when `text` matches `pattern` in full. `*` also matches `/` and `:`.
///
/// ```
/// use palisade_guest::glob::matches;
/// assert!(matches("repos/*", "repos/acme/api"));
/// assert!(matches("v?.0", "v1.0"));
/// assert!(!matches("repos/*", "other/acme"));
/// ```
pub fn matches(pattern: &str, text: &str) -> bool {
    matches_with(pattern, text, None, false)
}

/// Like [`matches()`], but ASCII case-insensitive.
pub fn matches_ignore_case(pattern: &str, text: &str) -> bool {
    matches_with(pattern, text, None, true)
}

/// Like [`matches()`], but `*` and `?` never match `separator`.
///
/// ```
/// use palisade_guest::glob::matches_segmented;
/// assert!(matches_segmented("feature/*", "feature/login", '/'));
/// assert!(!matches_segmented("feature/*", "feature/a/b", '/'));
/// ```
pub fn matches_segmented(pattern: &str, text: &str, separator: char) -> bool {
    matches_with(pattern, text, Some(separator), false)
}

/// The general form: an optional separator that wildcards do not cross, and
/// ASCII case folding.
pub fn matches_with(pattern: &str, text: &str, separator: Option<char>, ignore_case: bool) -> bool {
    // ASCII (the common case) is matched byte by byte with no allocation.
    if pattern.is_ascii() && text.is_ascii() && separator.is_none_or(|c| c.is_ascii()) {
        let sep = separator.map(|c| c as u8);
        let eq = |a: u8, b: u8| {
            if ignore_case {
                a.eq_ignore_ascii_case(&b)
            } else {
                a == b
            }
        };
        return match_slices(pattern.as_bytes(), text.as_bytes(), b'*', b'?', sep, eq);
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    match_slices(&p, &t, '*', '?', separator, eq)
}

/// The two-pointer glob algorithm over any slice of symbols.
fn match_slices<T: Copy + PartialEq>(
    p: &[T],
    t: &[T],
    star_sym: T,
    any_sym: T,
    separator: Option<T>,
    eq: impl Fn(T, T) -> bool,
) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    // Backtrack point: pattern index after the last `*`, and the text index it
    // is currently assumed to have consumed up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi).copied() {
            Some(c) if c == star_sym => {
                star = Some((pi + 1, ti));
                pi += 1;
            }
            Some(c) if c == any_sym && Some(t[ti]) != separator => {
                pi += 1;
                ti += 1;
            }
            Some(c) if c != star_sym && c != any_sym && eq(c, t[ti]) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more symbol, unless that
                // symbol is a separator it may not cross.
                Some((sp, st)) if Some(t[st]) != separator => {
                    star = Some((sp, st + 1));
                    pi = sp;
                    ti = st + 1;
                }
                _ => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == star_sym)
}

/// True when `text` matches any of `patterns`.
pub fn matches_any<S: AsRef<str>>(patterns: &[S], text: &str) -> bool {
    patterns.iter().any(|p| matches(p.as_ref(), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_wildcards() {
        assert!(matches("abc", "abc"));
        assert!(!matches("abc", "abcd"));
        assert!(!matches("abc", "ab"));
        assert!(matches("*", ""));
        assert!(matches("*", "anything/at:all"));
        assert!(matches("a*c", "abbbc"));
        assert!(matches("a*c", "ac"));
        assert!(!matches("a*c", "abcd"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("*.csv", "reports/q1.csv"));
        assert!(matches("a*b*c", "a-b-b-c"));
        assert!(!matches("", "a"));
        assert!(matches("", ""));
    }

    #[test]
    fn unicode_is_per_character() {
        assert!(matches("caf?", "café"));
        assert!(!matches("cafe", "café"));
    }

    #[test]
    fn case() {
        assert!(!matches("S3:Get*", "s3:getobject"));
        assert!(matches_ignore_case("S3:Get*", "s3:getobject"));
    }

    #[test]
    fn separators_are_not_crossed() {
        assert!(matches_segmented("a/*/c", "a/b/c", '/'));
        assert!(!matches_segmented("a/*", "a/b/c", '/'));
        assert!(!matches_segmented("a?b", "a/b", '/'));
        assert!(matches_segmented("a/*/*", "a/b/c", '/'));
    }

    #[test]
    fn hostile_pattern_is_fast_and_correct() {
        let text = "a".repeat(10_000);
        let pattern = format!("{}b", "*a".repeat(50));
        assert!(!matches(&pattern, &text));
    }
}
