//! A reference scan of the corpus: values that a reasonable detector would
//! find must be labelled. It guards the generator against accidents (a random
//! string that happens to be a valid card number, an e-mail in a log line
//! the template forgot to label); it is not a plugin.

use super::generate::Doc;
use super::values::{iban_valid, luhn_valid, ssn_valid};

/// Something detectable that no label covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlabelled {
    /// Document id.
    pub doc: usize,
    /// What it looks like.
    pub what: &'static str,
    /// The text.
    pub text: String,
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Spans of runs of digit groups joined by single spaces or dashes, each
/// sub-run that starts and ends on a group, with its digits.
fn digit_windows(text: &str) -> Vec<(usize, usize, String)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && (is_word(b[i - 1]) || b[i - 1] == b'.')) {
            i += 1;
            continue;
        }
        // Groups starting at i.
        let mut groups: Vec<(usize, usize)> = Vec::new();
        let mut j = i;
        loop {
            let s = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            groups.push((s, j));
            let joined =
                j + 1 < b.len() && (b[j] == b' ' || b[j] == b'-') && b[j + 1].is_ascii_digit();
            if !joined {
                break;
            }
            j += 1;
        }
        let end_ok = |e: usize| {
            e >= b.len()
                || !(is_word(b[e])
                    || (b[e] == b'.' && e + 1 < b.len() && b[e + 1].is_ascii_digit()))
        };
        for a in 0..groups.len() {
            for z in a..groups.len() {
                let (s, e) = (groups[a].0, groups[z].1);
                let start_ok = s == 0 || !(is_word(b[s - 1]) || b[s - 1] == b'.');
                if start_ok && end_ok(e) {
                    let digits: String = text[s..e].chars().filter(char::is_ascii_digit).collect();
                    out.push((s, e, digits));
                }
            }
        }
        i = groups.last().map_or(i + 1, |g| g.1);
    }
    out
}

/// Starts like a card of any range (2 to 6), broader than the corpus's brands.
fn card_prefix(d: &str) -> bool {
    d.starts_with(['2', '3', '4', '5', '6'])
}

/// Card numbers, SSNs (dashed or spaced), IPv4 addresses, IBANs, e-mail
/// addresses and token prefixes that no label covers.
pub fn unlabelled(doc: &Doc) -> Vec<Unlabelled> {
    let text = doc.text.as_str();
    let b = text.as_bytes();
    let covered = |s: usize, e: usize| doc.labels.iter().any(|l| l.start < e && s < l.end);
    let mut out = Vec::new();
    let mut flag = |what: &'static str, s: usize, e: usize| {
        if !covered(s, e) {
            out.push(Unlabelled {
                doc: doc.id,
                what,
                text: text[s..e].to_owned(),
            });
        }
    };

    for (s, e, d) in digit_windows(text) {
        if (13..=19).contains(&d.len()) && card_prefix(&d) && luhn_valid(&d) {
            flag("card number", s, e);
        }
        let raw = &text[s..e];
        let shaped = raw.len() == 11 && {
            let sep = raw.as_bytes()[3];
            (sep == b'-' || sep == b' ') && raw.as_bytes()[6] == sep
        };
        if shaped && d.len() == 9 {
            let (a, g, n) = (
                d[..3].parse().unwrap_or(0),
                d[3..5].parse().unwrap_or(0),
                d[5..].parse().unwrap_or(0),
            );
            if ssn_valid(a, g, n) {
                flag("ssn", s, e);
            }
        }
    }

    // IPv4: four dot-separated octets, not part of a longer dotted number,
    // not after "version " or "v".
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && (is_word(b[i - 1]) || b[i - 1] == b'.')) {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut parts = Vec::new();
        loop {
            let s = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            parts.push(&text[s..j]);
            if j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_digit() {
                j += 1;
            } else {
                break;
            }
        }
        let octets_ok = parts.iter().all(|p| {
            p.len() <= 3
                && p.parse::<u32>().is_ok_and(|v| v <= 255)
                && !(p.len() > 1 && p.starts_with('0'))
        });
        let before = &text[..i];
        let versioned =
            before.ends_with("version ") || before.ends_with('v') || before.ends_with("v.");
        if parts.len() == 4 && octets_ok && !versioned && (j >= b.len() || !is_word(b[j])) {
            flag("ipv4", i, j);
        }
        i = j.max(i + 1);
    }

    // E-mail: local@domain.tld, the local part not right after `:` (a URL's
    // user info).
    for (at, _) in text.match_indices('@') {
        let mut s = at;
        while s > 0 && (b[s - 1].is_ascii_alphanumeric() || b"._%+-".contains(&b[s - 1])) {
            s -= 1;
        }
        let mut e = at + 1;
        while e < b.len() && (b[e].is_ascii_alphanumeric() || b[e] == b'.' || b[e] == b'-') {
            e += 1;
        }
        let domain = text[at + 1..e].trim_end_matches('.');
        let tld_ok = domain
            .rsplit_once('.')
            .is_some_and(|(_, tld)| tld.len() >= 2 && tld.bytes().all(|c| c.is_ascii_alphabetic()));
        let in_url = s > 0 && b[s - 1] == b':';
        if s < at && tld_ok && !in_url {
            flag("email", s, at + 1 + domain.len());
        }
    }

    // IBAN: two letters, two digits, then groups.
    for s in 0..b.len().saturating_sub(4) {
        let starts = b[s].is_ascii_uppercase()
            && b[s + 1].is_ascii_uppercase()
            && b[s + 2].is_ascii_digit()
            && b[s + 3].is_ascii_digit();
        if !starts || (s > 0 && is_word(b[s - 1])) {
            continue;
        }
        let mut compact = String::new();
        let mut j = s;
        while j < b.len() && compact.len() < 34 {
            if b[j].is_ascii_alphanumeric() {
                compact.push(char::from(b[j]));
                j += 1;
                let valid = iban_valid(&compact) && (j >= b.len() || !is_word(b[j]));
                if valid {
                    flag("iban", s, j);
                    break;
                }
            } else if b[j] == b' ' && j + 1 < b.len() && b[j + 1].is_ascii_alphanumeric() {
                j += 1;
            } else {
                break;
            }
        }
    }

    // Token prefixes with a full-length body.
    let prefixes: [(&str, usize, &'static str); 12] = [
        ("AKIA", 16, "aws key id"),
        ("ASIA", 16, "aws key id"),
        ("ghp_", 36, "github token"),
        ("gho_", 36, "github token"),
        ("ghs_", 36, "github token"),
        ("github_pat_", 40, "github token"),
        ("xoxb-", 20, "slack token"),
        ("xoxp-", 20, "slack token"),
        ("sk_live_", 24, "stripe key"),
        ("sk_test_", 24, "stripe key"),
        ("whsec_", 24, "stripe key"),
        ("AIza", 35, "google api key"),
    ];
    for (prefix, body, what) in prefixes {
        for (s, _) in text.match_indices(prefix) {
            let mut e = s + prefix.len();
            while e < b.len() && (b[e].is_ascii_alphanumeric() || b"-_".contains(&b[e])) {
                e += 1;
            }
            let boundary = s == 0 || !b[s - 1].is_ascii_alphanumeric();
            let len = e - s - prefix.len();
            let aws = prefix.starts_with("AKIA") || prefix.starts_with("ASIA");
            if boundary && (len == body || (!aws && len > body)) {
                flag(what, s, e);
            }
        }
    }
    for (s, _) in text.match_indices("eyJ") {
        let rest = &text[s..];
        let token: &str = rest
            .split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
            .next()
            .unwrap_or("");
        if token.split('.').count() == 3 && token.contains(".eyJ") {
            flag("jwt", s, s + token.len());
        }
    }
    for (s, _) in text.match_indices("-----BEGIN ") {
        let line_end = text[s..]
            .find("-----\\n")
            .or_else(|| text[s..].find("-----\n"))
            .map_or(text.len(), |p| s + p);
        if text[s..line_end].contains("PRIVATE KEY") {
            flag("private key", s, line_end);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::generate::{Label, generate};

    fn doc(text: &str, labels: &[(&str, usize, usize)]) -> Doc {
        Doc {
            id: 0,
            text: text.to_owned(),
            labels: labels
                .iter()
                .map(|&(k, s, e)| Label {
                    kind: k.to_owned(),
                    start: s,
                    end: e,
                })
                .collect(),
        }
    }

    #[test]
    fn the_audit_finds_what_it_should() {
        let d = doc(
            "pay 4111 1111 1111 1111 or 4111-1111-1111-1112, SSN 123-45-6780, from 10.0.0.1 (version 4.2.0.1), \
             mail jane@example.com, IBAN DE89 3704 0044 0532 0130 00, key AKIAABCDEFGHIJKLMNOP.",
            &[],
        );
        let found: Vec<&str> = unlabelled(&d).iter().map(|u| u.what).collect();
        assert_eq!(
            found,
            vec!["card number", "ssn", "ipv4", "email", "iban", "aws key id"]
        );
        let clean = doc(
            "order 4111111111111112, ts 1732371000000, 300.1.1.1, v1.2.3.4, root@localhost, \
             postgres://app:pw@db.example.com/x, ghp_abc",
            &[],
        );
        assert_eq!(unlabelled(&clean), vec![]);
    }

    #[test]
    fn unlabelled_text_holds_no_detectable_value() {
        let problems: Vec<Unlabelled> = generate().iter().flat_map(unlabelled).collect();
        let shown: Vec<String> = problems
            .iter()
            .take(20)
            .map(|u| format!("doc {} {}: {:?}", u.doc, u.what, u.text))
            .collect();
        assert!(
            problems.is_empty(),
            "{} unlabelled values:\n{}",
            problems.len(),
            shown.join("\n")
        );
    }
}
