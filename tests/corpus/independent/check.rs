//! Well-formedness of labelled values: undoes each technique's disguise,
//! then checks the value against its kind (checksums, lengths, prefixes).

use super::kind as k;
use super::technique as t;
use super::values as v;
use crate::corpus::values as facts;

/// Removes a line break and what follows it (indentation or a quote prefix).
fn unwrap_lines(s: &str, quote: bool) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for c in s.chars() {
        if c == '\r' || c == '\n' {
            skipping = true;
            continue;
        }
        if skipping && (c == ' ' || c == '\t' || (quote && c == '>')) {
            continue;
        }
        skipping = false;
        out.push(c);
    }
    out
}

fn json_unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('u') => {
                let hex: String = (0..4).filter_map(|_| it.next()).collect();
                let n = u32::from_str_radix(&hex, 16).unwrap_or(0x3f);
                out.push(char::from_u32(n).unwrap_or('?'));
            }
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
            if let Ok(n) = u8::from_str_radix(hex, 16) {
                out.push(n);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn html_decode(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let Some(j) = after.find(';') else {
            out.push('&');
            rest = after;
            continue;
        };
        let name = &after[..j];
        let c = match name {
            "commat" => Some('@'),
            "period" => Some('.'),
            "nbsp" => Some(' '),
            "plus" => Some('+'),
            "amp" => Some('&'),
            n if n.starts_with("#x") || n.starts_with("#X") => u32::from_str_radix(&n[2..], 16)
                .ok()
                .and_then(char::from_u32),
            n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        out.push(c.map_or('?', |c| if c == '\u{A0}' { ' ' } else { c }));
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    out
}

fn normalize_width(s: &str) -> String {
    s.chars()
        .filter(|c| {
            !matches!(
                c,
                '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{00AD}' | '\u{FEFF}'
            )
        })
        .map(|c| {
            let n = c as u32;
            let mapped = match n {
                0xFF01..=0xFF5E => n - 0xFEE0,
                0x0660..=0x0669 => n - 0x0660 + 0x30,
                0x06F0..=0x06F9 => n - 0x06F0 + 0x30,
                0x0966..=0x096F => n - 0x0966 + 0x30,
                _ => n,
            };
            char::from_u32(mapped).unwrap_or(c)
        })
        .collect()
}

/// The plain value behind `original`, disguised with `technique`.
pub fn decode(original: &str, technique: Option<&str>) -> String {
    match technique {
        Some(t::LINE_WRAP) => unwrap_lines(original, false),
        Some(t::QUOTE_WRAP) => unwrap_lines(original, true),
        Some(t::JSON_ESCAPE) => json_unescape(original),
        Some(t::PERCENT_ENCODING) => percent_decode(original),
        Some(t::HTML_ENTITY) => html_decode(original),
        Some(t::INVISIBLE_OR_WIDTH) => normalize_width(original),
        _ => original.to_owned(),
    }
}

fn all_in(s: &str, alphabet: &[u8]) -> bool {
    s.bytes().all(|b| alphabet.contains(&b))
}

/// Why the labelled `original` is not a well-formed value of `kind`
/// (after undoing `technique`), if it is not.
pub fn malformed(kind: &str, original: &str, technique: Option<&str>) -> Option<String> {
    let edge = |c: char| c.is_whitespace() || "\"'`,;<>()".contains(c);
    let first_ok = !original.starts_with(edge) || (kind == k::PHONE && original.starts_with('('));
    if !first_ok || original.ends_with(edge) {
        return Some("starts or ends with a space, quote or separator".into());
    }
    let value = decode(original, technique);
    if technique.is_some()
        && technique != Some(t::CONFUSABLE_KEYWORD)
        && technique != Some(t::NO_SEPARATORS)
        && technique != Some(t::KEY_ABBREVIATION)
        && technique != Some(t::PEM_VARIANT)
        && value == original
    {
        return Some(format!("{technique:?} left the value as it was"));
    }
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    let flat: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let bad = match kind {
        k::CREDIT_CARD => {
            let grouped = value
                .chars()
                .all(|c| c.is_ascii_digit() || c == ' ' || c == '-');
            !(facts::luhn_valid(&digits) && (13..=19).contains(&digits.len()) && grouped)
        }
        k::SSN => {
            let p = |r: std::ops::Range<usize>| digits[r].parse().unwrap_or(0);
            digits.len() != 9 || !facts::ssn_valid(p(0..3), p(3..5), p(5..9))
        }
        k::IBAN => !facts::iban_valid(&flat),
        k::EMAIL => {
            let parts: Vec<&str> = value.split('@').collect();
            parts.len() != 2 || !parts[1].contains('.') || parts[0].is_empty()
        }
        k::PHONE => {
            !(8..=13).contains(&digits.len())
                || !value
                    .chars()
                    .all(|c| c.is_ascii_digit() || " +-.()".contains(c))
        }
        k::IP_ADDRESS => value.parse::<std::net::IpAddr>().is_err(),
        k::AWS_ACCESS_KEY_ID => {
            value.len() != 20
                || !(value.starts_with("AKIA") || value.starts_with("ASIA"))
                || !all_in(&value[4..], v::BASE32)
        }
        k::AWS_SECRET_ACCESS_KEY => value.len() != 40 || !all_in(&value, v::B64),
        k::GITHUB_TOKEN => {
            if let Some(rest) = value.strip_prefix("github_pat_") {
                rest.len() != 82
            } else {
                let ok_prefix = ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]
                    .iter()
                    .any(|p| value.starts_with(p));
                !ok_prefix || value.len() != 40 || v::github_checksum(&value[4..34]) != value[34..]
            }
        }
        k::SLACK_TOKEN => {
            !(value.starts_with("xoxb-")
                || value.starts_with("xoxp-")
                || value.starts_with("xapp-"))
        }
        k::STRIPE_KEY => {
            let body = ["sk_live_", "sk_test_", "rk_live_", "rk_test_"]
                .iter()
                .find_map(|p| value.strip_prefix(p));
            match (body, value.strip_prefix("whsec_")) {
                (Some(b), _) => !(b.len() == 24 || b.len() == 99) || !all_in(b, v::ALNUM),
                (None, Some(b)) => b.len() != 32,
                _ => true,
            }
        }
        k::GOOGLE_API_KEY => value.len() != 39 || !value.starts_with("AIza"),
        k::JWT => !value.starts_with("eyJ") || value.split('.').count() != 3,
        k::BEARER_TOKEN => value.len() < 20 || value.contains(char::is_whitespace),
        k::PRIVATE_KEY => {
            let v2 = value.trim_end_matches('-');
            !(value.starts_with("-----BEGIN ")
                && value.ends_with("-----")
                && (v2.ends_with("PRIVATE KEY") || v2.ends_with("PRIVATE KEY BLOCK"))
                && value.contains("-----END "))
        }
        k::PASSWORD | k::SECRET => value.chars().count() < 4 || value.contains(char::is_whitespace),
        k::ANTHROPIC_API_KEY => {
            let body = value
                .strip_prefix("sk-ant-api03-")
                .or_else(|| value.strip_prefix("sk-ant-admin01-"));
            body.is_none_or(|b| b.len() != 95 || !b.ends_with("AA") || !all_in(b, v::URLSAFE))
        }
        k::OPENAI_API_KEY => {
            let body = ["sk-proj-", "sk-svcacct-", "sk-admin-"]
                .iter()
                .find_map(|p| value.strip_prefix(p));
            match body {
                Some(b) => !(100..=160).contains(&b.len()) || !all_in(b, v::URLSAFE),
                None => {
                    value.len() != 51 || &value[23..31] != "T3BlbkFJ" || !value.starts_with("sk-")
                }
            }
        }
        k::GITLAB_TOKEN => {
            let body = [
                "glpat-",
                "gldt-",
                "glrt-",
                "glptt-",
                "gloas-",
                "glcbt-",
                "GR1348941",
            ]
            .iter()
            .find_map(|p| value.strip_prefix(p));
            body.is_none_or(|b| !(20..=60).contains(&b.len()) || !all_in(b, v::URLSAFE))
        }
        k::NPM_TOKEN => {
            value.len() != 40 || !value.starts_with("npm_") || !all_in(&value[4..], v::ALNUM)
        }
        k::PYPI_TOKEN => value
            .strip_prefix("pypi-AgEIcHlwaS5vcmc")
            .is_none_or(|b| !(60..=180).contains(&b.len()) || !all_in(b, v::URLSAFE)),
        k::AZURE_KEY => {
            let storage = value.len() == 88
                && value.ends_with("==")
                && all_in(
                    &value,
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
                );
            let sas = value.len() == 44 && value.ends_with('=') && all_in(&value[..43], v::B64);
            let entra = value.len() == 40
                && value.as_bytes()[3].is_ascii_digit()
                && &value[4..6] == "Q~"
                && all_in(&value, v::ENTRA);
            !(storage || sas || entra)
        }
        _ => return Some(format!("unknown kind `{kind}`")),
    };
    bad.then(|| format!("not a valid {kind} (decoded {value:?})"))
}
