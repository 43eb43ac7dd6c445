//! Text for people: what a plugin, an agent or a policy file wrote is shown
//! with its control and bidirectional-formatting characters escaped, so that
//! it cannot clear a terminal, recolour it, reorder what is shown, or start
//! a line of its own (a forged log line or replay record).
//!
//! Used by every human-facing output: `palisade audit replay`, the CLI's
//! messages, and the server's text log format ([`log_fields`]).

use std::borrow::Cow;
use std::fmt::Write as _;

/// True for a character that must not reach a terminal as it is: C0 and C1
/// controls (newline and escape among them), DEL, the bidirectional
/// embeddings, overrides, isolates and marks (Trojan Source), the line and
/// paragraph separators, and the invisible zero-width characters.
pub(crate) fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// `s` with every unsafe character written as an escape (`\n`, `\t`, `\r`,
/// or `\u{…}`); borrowed when there is none.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) => {
                // Writing into a String cannot fail.
                let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The field formatter of the text log format: `message` first as it is
/// written, then `name=value` pairs, every value escaped with [`escape`], so
/// a plugin's or an agent's text can never split or colour a log line.
pub fn log_fields() -> impl for<'writer> tracing_subscriber::fmt::FormatFields<'writer> + 'static {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let text = format!("{value:?}");
        let text = escape(&text);
        if field.name() == "message" {
            write!(writer, "{text}")
        } else {
            write!(writer, "{}={text}", field.name())
        }
    })
    .delimited(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(escape("acme/billing main"), Cow::Borrowed(_)));
        assert_eq!(escape("café ✓"), "café ✓");
    }

    #[test]
    fn controls_and_bidi_are_escaped() {
        assert_eq!(
            escape("ok\n#999 admin -> allow"),
            "ok\\n#999 admin -> allow"
        );
        assert_eq!(escape("\x1b[2J\x1b[31mred"), "\\u{001b}[2J\\u{001b}[31mred");
        assert_eq!(escape("a\u{202E}cba"), "a\\u{202e}cba");
        assert_eq!(escape("tab\there\r"), "tab\\there\\r");
        assert_eq!(
            escape("\u{7f}\u{85}\u{2028}"),
            "\\u{007f}\\u{0085}\\u{2028}"
        );
        assert_eq!(escape("zero\u{200B}width"), "zero\\u{200b}width");
    }

    #[test]
    fn text_logs_escape_every_field() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .fmt_fields(log_fields())
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let reason = "fine\n2026-12-06T00:00:00Z  INFO forged line\x1b[2J";
            tracing::info!(reason = %reason, "decision\nINFO fake");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.contains("decision\\nINFO fake"), "{out}");
        assert!(
            out.contains("reason=fine\\n2026-12-06T00:00:00Z  INFO forged line\\u{001b}[2J"),
            "{out}"
        );
    }
}
