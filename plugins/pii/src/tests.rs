use super::*;
use palisade_guest::tidy_findings;

/// The findings for `text` as `(kind, value)`, after checking they are
/// already in the shape the host requires.
fn found(text: &str) -> Vec<(String, &str)> {
    let raw = Pii::mask(text);
    assert_eq!(
        tidy_findings(text, raw.clone()),
        raw,
        "findings for {text:?} are sorted, disjoint, on char boundaries"
    );
    raw.into_iter()
        .map(|f| (f.kind, &text[f.start..f.end]))
        .collect()
}

/// Asserts that `text` holds exactly one value, of `kind`, written `value`.
#[track_caller]
fn one(text: &str, kind: &str, value: &str) {
    assert_eq!(found(text), [(kind.to_owned(), value)], "in {text:?}");
}

/// Asserts that nothing is found in `text`.
#[track_caller]
fn none(text: &str) {
    assert_eq!(found(text), [], "in {text:?}");
}

/// `digits` completed with a Luhn check digit.
fn luhn(digits: &str) -> String {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(k, c)| {
            let d = u32::from(c - b'0');
            if k % 2 == 0 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    format!("{digits}{}", (10 - sum % 10) % 10)
}

/// `digits` completed with a digit that fails the Luhn check.
fn not_luhn(digits: &str) -> String {
    let good = luhn(digits);
    let last = good.as_bytes()[good.len() - 1] - b'0';
    format!("{digits}{}", (last + 1) % 10)
}

/// An IBAN for `cc` and `bban` with correct check digits.
fn iban(cc: &str, bban: &str) -> String {
    let rearranged = format!("{bban}{cc}00");
    let r = rearranged.bytes().fold(0u32, |r, c| {
        if c.is_ascii_digit() {
            (r * 10 + u32::from(c - b'0')) % 97
        } else {
            (r * 100 + u32::from(c.to_ascii_uppercase() - b'A') + 10) % 97
        }
    });
    format!("{cc}{:02}{bban}", 98 - r)
}

// ---------------------------------------------------------------- cards

#[test]
fn cards_in_context() {
    one(
        "Card: 4111 1111 1111 1111, exp 12/27",
        "credit_card",
        "4111 1111 1111 1111",
    );
    one(
        "paid with 4111-1111-1111-1111.",
        "credit_card",
        "4111-1111-1111-1111",
    );
    one(
        "{\"pan\":\"4111111111111111\"}",
        "credit_card",
        "4111111111111111",
    );
    one(
        "Amex 3782 822463 10005 on file",
        "credit_card",
        "3782 822463 10005",
    );
    one(
        "MC 5500 0000 0000 0004",
        "credit_card",
        "5500 0000 0000 0004",
    );
    one(
        "Discover 6011111111111117 ok",
        "credit_card",
        "6011111111111117",
    );
    one("new MC 2223003122003222", "credit_card", "2223003122003222");
    one(
        "old visa 4222222222222 (13)",
        "credit_card",
        "4222222222222",
    );
    let nineteen = luhn("601100000000000000");
    one(
        &format!("19 digits {nineteen} ok"),
        "credit_card",
        &nineteen,
    );
    one("4111111111111111", "credit_card", "4111111111111111");
    one(
        "card at the end 4111 1111 1111 1111",
        "credit_card",
        "4111 1111 1111 1111",
    );
}

#[test]
fn cards_inside_longer_runs_of_groups() {
    one(
        "4111 1111 1111 1111 2026 expiry",
        "credit_card",
        "4111 1111 1111 1111",
    );
    one(
        "order 1234 4111 1111 1111 1111",
        "credit_card",
        "4111 1111 1111 1111",
    );
    one(
        "2026-11-23 4111111111111111",
        "credit_card",
        "4111111111111111",
    );
    assert_eq!(
        found("4111 1111 1111 1111 5500 0000 0000 0004"),
        [
            ("credit_card".to_owned(), "4111 1111 1111 1111"),
            ("credit_card".to_owned(), "5500 0000 0000 0004"),
        ]
    );
}

#[test]
fn card_near_misses() {
    // Order numbers that fail Luhn.
    none(&format!("Order #{} shipped", not_luhn("411111111111111")));
    none(&format!("order {} ok", not_luhn("523456789012345")));
    // Valid Luhn, but no card network starts with 1, 7, 8, 9 or 0.
    for first in ["1", "7", "8", "9", "0"] {
        let n = luhn(&format!("{first}23456789012345"));
        none(&format!("ref {n} here"));
    }
    // Too long, too short, glued, decimals.
    none("tx 41111111111111111111 id");
    none(&format!("tx {} id", luhn("4111111111111111111111")));
    none("short 411111111111");
    none("ref4111111111111111 and 4111111111111111x");
    none("pi 0.4111111111111111 and 4111111111111111.5");
    // Separators mixed within one number, or doubled.
    none("4111 1111-1111 1111");
    none("4111  1111  1111  1111");
    none("4111.1111.1111.1111");
    // Timestamps, UUIDs, SHAs.
    none("at 2026-11-23T14:30:00Z done");
    none("id 550e8400-e29b-41d4-a716-446655440000");
    none("commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904");
}

#[test]
fn cards_hidden_with_unicode() {
    let full = "pay ４１１１ １１１１ １１１１ １１１１ now";
    one(full, "credit_card", "４１１１ １１１１ １１１１ １１１１");
    let ideographic = "pay ４１１１\u{3000}１１１１\u{3000}１１１１\u{3000}１１１１ now";
    one(
        ideographic,
        "credit_card",
        "４１１１\u{3000}１１１１\u{3000}１１１１\u{3000}１１１１",
    );
    one(
        "بطاقة ٤١١١ ١١١١ ١١١١ ١١١١ شكرا",
        "credit_card",
        "٤١١١ ١١١١ ١١١١ ١١١١",
    );
    one("card 𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏.", "credit_card", "𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏");
    one(
        "card 4111\u{200B}1111\u{200B}1111\u{200B}1111 ok",
        "credit_card",
        "4111\u{200B}1111\u{200B}1111\u{200B}1111",
    );
    one(
        "card 4111–1111–1111–1111 ok",
        "credit_card",
        "4111–1111–1111–1111",
    );
    // Zero-width characters around the value are not part of it.
    one(
        "x \u{200B}4111111111111111\u{200B} y",
        "credit_card",
        "4111111111111111",
    );
    one(
        "４１１１１１１１１１１１１１１１",
        "credit_card",
        "４１１１１１１１１１１１１１１１",
    );
    // `é` folds to a letter: the number is glued to a word.
    none("é4111111111111111");
}

// ---------------------------------------------------------------- SSNs

#[test]
fn ssns_in_context() {
    one("SSN 123-45-6789.", "ssn", "123-45-6789");
    one("employee 078-05-1120 hired", "ssn", "078-05-1120");
    one("id: 219 09 9999\n", "ssn", "219 09 9999");
    one("ssn: 123456789", "ssn", "123456789");
    one("Social Security Number: 123456789", "ssn", "123456789");
    one("SOC SEC 123456789", "ssn", "123456789");
    one("SS# 123456789", "ssn", "123456789");
    one("123-45-6789", "ssn", "123-45-6789");
}

#[test]
fn ssn_near_misses() {
    none("000-12-3456");
    none("666-12-3456");
    none("912-34-5678");
    none("123-00-4567");
    none("123-45-0000");
    none("SSN 000123456");
    // Nine digits need the keyword, close by.
    none("invoice 123456789");
    none("ssn was mentioned long, long ago: 123456789");
    // Mixed separators, longer numbers.
    none("123-45 6789");
    none("1123-45-6789 and 123-45-67890 and 123-45-6789-1");
    none("x123-45-6789");
    none("5-123-45-6789");
}

// ---------------------------------------------------------------- IBANs

#[test]
fn ibans_in_context() {
    one(
        "IBAN DE89 3704 0044 0532 0130 00 is mine",
        "iban",
        "DE89 3704 0044 0532 0130 00",
    );
    one(
        "iban:DE89370400440532013000.",
        "iban",
        "DE89370400440532013000",
    );
    one(
        "pay to GB29 NWBK 6016 1331 9268 19 today",
        "iban",
        "GB29 NWBK 6016 1331 9268 19",
    );
    one(
        "FR14 2004 1010 0505 0001 3M02 606",
        "iban",
        "FR14 2004 1010 0505 0001 3M02 606",
    );
    one("(NL91ABNA0417164300)", "iban", "NL91ABNA0417164300");
    one(
        "iban gb82 west 1234 5698 7654 32 thanks",
        "iban",
        "gb82 west 1234 5698 7654 32",
    );
    one("de89370400440532013000", "iban", "de89370400440532013000");
    one("NO93 8601 1117 947 Oslo", "iban", "NO93 8601 1117 947");
    // A group made of capitals is part of the IBAN, not a word.
    let gb = "GB82 WEST 1234 5698 7654 32";
    one(&format!("to {gb} PLEASE"), "iban", gb);
}

#[test]
fn ibans_of_countries_not_in_the_table() {
    let xx = iban("XX", "1234567890123456");
    one(&format!("acct {xx} ok"), "iban", &xx);
    let grouped = format!("{} {} {} {}", &xx[..4], &xx[4..8], &xx[8..12], &xx[12..]);
    one(&format!("acct {grouped} thanks"), "iban", &grouped);
    // A lower-case word after it is prose, even when it would pass mod-97.
    let short = iban("XX", "123456789012");
    for word in ["ab", "cd", "ef", "gh", "ij", "kl", "mn", "op", "qr", "st"] {
        one(&format!("{short} {word} x"), "iban", &short);
    }
}

#[test]
fn ibans_after_iban_like_groups() {
    let de = "DE89 3704 0044 0532 0130 00";
    let gb = "GB29 NWBK 6016 1331 9268 19";
    one(&format!("ab12 {de} x"), "iban", de);
    one(&format!("ref AB12 IBAN {de}"), "iban", de);
    one(&format!("XX12 YY34 ZZ56 {de}"), "iban", de);
    assert_eq!(
        found(&format!("{de} {gb}")),
        [("iban".to_owned(), de), ("iban".to_owned(), gb)]
    );
    assert_eq!(
        found(&format!("DE89370400440532013000 {gb}.")),
        [
            ("iban".to_owned(), "DE89370400440532013000"),
            ("iban".to_owned(), gb)
        ]
    );
}

#[test]
fn numbers_inside_an_iban_with_a_typo_are_not_reported() {
    // A trunk-prefixed phone number's shape inside an IBAN with a bad check.
    none("Payroll account: NL11 RABO 0494 6983 29 (rejected by the bank)");
    // BBAN digits that pass Luhn, in an IBAN whose check digits are wrong.
    let mut tried = 0;
    for k in 0..1000u32 {
        let bban = format!("{:018}", 370_400_440_532_013_000u64 + u64::from(k));
        let good = iban("DE", &bban);
        let bad = format!(
            "DE{:02}{bban}",
            (good[2..4].parse::<u32>().unwrap() + 1) % 100
        );
        let grouped: Vec<&str> = (0..bad.len())
            .step_by(4)
            .map(|s| &bad[s..bad.len().min(s + 4)])
            .collect();
        let grouped = grouped.join(" ");
        let digits: String = grouped[5..].chars().filter(char::is_ascii_digit).collect();
        if !(b'2'..=b'6').contains(&digits.as_bytes()[0]) || luhn(&digits[..17]) != digits {
            continue;
        }
        tried += 1;
        none(&format!("IBAN {grouped} ok"));
    }
    assert!(tried > 0);
}

#[test]
fn iban_near_misses() {
    none("IBAN DE88 3704 0044 0532 0130 00");
    none("DE89 3704 0044 0532 0130 0");
    none("DE89 3704 0044 0532 0130 001");
    none("xDE89370400440532013000");
    none("DE89370400440532013000x");
    none("DE89-3704-0044-0532-0130-00");
    none("mp3 player ab12 and id42");
}

// ---------------------------------------------------------------- e-mail

#[test]
fn emails_in_context() {
    one(
        "mail john.doe@example.com now",
        "email",
        "john.doe@example.com",
    );
    one(
        "mailto:jane+tag@mail.example.co.uk.",
        "email",
        "jane+tag@mail.example.co.uk",
    );
    one(
        "From: Bob <bob_smith-1%x@corp-mail.example.org>",
        "email",
        "bob_smith-1%x@corp-mail.example.org",
    );
    one(
        "\"email\":\"alice@example.io\",",
        "email",
        "alice@example.io",
    );
    one(
        "ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        "email",
        "ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ",
    );
    one("Grüße an jürgen@bücher.de!", "email", "jürgen@bücher.de");
    // The longest valid local part.
    one("see..john@example.com", "email", "john@example.com");
    one(".john@example.com", "email", "john@example.com");
}

#[test]
fn email_near_misses() {
    none("thanks @mention and @ alone");
    none("user@localhost");
    none("a@b.c");
    none("john.@example.com");
    none("x@-example.com and y@example-.com");
    none("x@example.c0m");
    let long = format!("{}@example.com", "a".repeat(65));
    none(&long);
    let ok = format!("{}@example.com", "a".repeat(64));
    one(&ok, "email", &ok);
}

#[test]
fn url_credentials_are_not_addresses() {
    none("loaded from postgres://svc_orders:Orange2018-@db-01.prod.acme.io:5432/orders");
    none("redis://admin:5888a39cc6f0b330@db.internal:6379/0");
    none("mysql://app:TkpPY~S*IKlOhj@db.internal:3306/shop");
    none("$ curl -fsSL https://deploy@registry.acme-corp.io/v2/_catalog");
    one("mailto:john@example.com", "email", "john@example.com");
    one(
        "https://example.com/invite?to=john@example.com",
        "email",
        "john@example.com",
    );
    one(
        "https://example.com/users/john@example.com",
        "email",
        "john@example.com",
    );
}

#[test]
fn ip_in_email_domain_is_an_ip() {
    assert_eq!(
        found("root@10.0.0.1 is an ip"),
        [("ip_address".to_owned(), "10.0.0.1")]
    );
}

// ---------------------------------------------------------------- phones

#[test]
fn international_phones() {
    one(
        "Call me at +1 415 555 0100 about",
        "phone",
        "+1 415 555 0100",
    );
    one("tel +44 20 7946 0958.", "phone", "+44 20 7946 0958");
    one("+49 (30) 1234567", "phone", "+49 (30) 1234567");
    one("UK +44 (0)20 7946 0958", "phone", "+44 (0)20 7946 0958");
    one("(+44) 20 7946 0958", "phone", "(+44) 20 7946 0958");
    one("sms:+14155550100", "phone", "+14155550100");
    one("+33-1-23-45-67-89", "phone", "+33-1-23-45-67-89");
    one("+1.415.555.0100", "phone", "+1.415.555.0100");
    one("+1 (415) 555-0100", "phone", "+1 (415) 555-0100");
    // Groups running on past 15 digits: the whole groups within 15.
    one(
        "+1 415 555 0100 2026-01-01",
        "phone",
        "+1 415 555 0100 2026",
    );
    one("+44 20 7946 0958 12 34", "phone", "+44 20 7946 0958 12");
}

#[test]
fn national_phones() {
    one("office (415) 555-0100 ext", "phone", "(415) 555-0100");
    one("call 415-555-0100.", "phone", "415-555-0100");
    one("415.555.0100", "phone", "415.555.0100");
    one("or 415 555 0100!", "phone", "415 555 0100");
    one("1-800-555-0199", "phone", "1-800-555-0199");
    one("dial 1 (415) 555-0100", "phone", "1 (415) 555-0100");
    one("London 020 7946 0958", "phone", "020 7946 0958");
    one("mobile 07700 900123", "phone", "07700 900123");
    one("Paris 01 23 45 67 89.", "phone", "01 23 45 67 89");
    one("Berlin 030-12345678", "phone", "030-12345678");
    one("06.12.34.56.78", "phone", "06.12.34.56.78");
}

#[test]
fn phone_near_misses() {
    none("on 2026-11-23 at 14:30:00");
    none("at 2026-11-23T14:30:00Z");
    none("dates 01-11-2026 and 01.11.2026 10.30");
    none("version v1.2.3 and 4.2.0.1 build");
    none("plain 12345678901 and 4155550100");
    none("ZIP 94103 and 02134-1234");
    none("123-456-7890 and 415-055-0100");
    none("415-555-0100x and 415-555-01000 and 415-555 0100");
    none("2-415-555-0100");
    none("a+14155550100 and +0 415 555 0100 and +1 2 3");
    none("+12345678901234567");
    none("0.5 0.25 0 12 345");
    none("01 23 45 67 89 10 11");
    none("++++ + ++1");
}

// ---------------------------------------------------------------- IP addresses

#[test]
fn ipv4_in_context() {
    one("from 10.0.0.1 port", "ip_address", "10.0.0.1");
    one("connect 192.168.1.254:8080", "ip_address", "192.168.1.254");
    one("server 10.0.0.1", "ip_address", "10.0.0.1");
    one("net 172.16.0.0/12.", "ip_address", "172.16.0.0");
    one("0.0.0.0", "ip_address", "0.0.0.0");
    one("My IP is 8.8.8.8.", "ip_address", "8.8.8.8");
    one("\"ip\":\"203.0.113.7\"", "ip_address", "203.0.113.7");
    one("ip=255.255.255.255", "ip_address", "255.255.255.255");
}

#[test]
fn ipv4_near_misses() {
    none("300.1.1.1 and 1.256.1.1");
    none("01.2.3.4 and 1.2.3.04");
    none("1.2.3.4.5 and a.1.2.3.4 and 1.2.3.4.x");
    none("v1.2.3.4 and 1.2.3");
    none("version 4.2.0.1");
    none("Version: 4.2.0.1");
    none("build 1.0.0.12 and release 2.3.4.5 and ver 1.1.1.1");
    none("v 1.2.3.4");
    none("x1.2.3.4 and 1.2.3.4x");
}

#[test]
fn ipv6_in_context() {
    one("localhost ::1 ok", "ip_address", "::1");
    one("link fe80::1%eth0", "ip_address", "fe80::1");
    one(
        "addr 2001:db8::8a2e:370:7334.",
        "ip_address",
        "2001:db8::8a2e:370:7334",
    );
    one("mapped ::ffff:192.0.2.1", "ip_address", "::ffff:192.0.2.1");
    one("[2001:db8::1]:443", "ip_address", "2001:db8::1");
    one(
        "full 2001:0db8:0000:0000:0000:ff00:0042:8329",
        "ip_address",
        "2001:0db8:0000:0000:0000:ff00:0042:8329",
    );
    one("FE80::ABCD:1234", "ip_address", "FE80::ABCD:1234");
    one("at 2001:db8::1: refused", "ip_address", "2001:db8::1");
}

#[test]
fn the_ipv6_check_agrees_with_the_standard_library() {
    let valid = std::cell::Cell::new(0);
    let agrees = |s: &str| {
        valid.set(valid.get() + usize::from(ip::is_ipv6(s.as_bytes())));
        assert_eq!(
            ip::is_ipv6(s.as_bytes()),
            s.parse::<std::net::Ipv6Addr>().is_ok(),
            "{s:?}"
        );
    };
    for s in [
        "::",
        "::1",
        "1::",
        "fe80::1",
        "2001:db8::8a2e:370:7334",
        "::ffff:192.0.2.1",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7::",
        "::2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:1.2.3.4",
        "1:2:3:4:5:6:7:1.2.3.4",
        "1.2.3.4::",
        "::1.2.3.4",
        "::01.2.3.4",
        "::1.2.3.256",
        "12345::",
        "::12345",
        ":1::",
        "1:::2",
        "1::2::3",
        "1:2:3:4:5:6:7::8",
        "0000:0000:0000:0000:0000:0000:0000:0000",
        "::0:1.2.3.4",
        "1::1.2.3",
        "1::1.2.3.4.5",
        "a:b:c:d:e:f:0:1",
        "ABCD::EF",
        "::ffff:0.0.0.0",
    ] {
        agrees(s);
    }
    // Random strings over the characters an address is made of.
    let alphabet = b"0129afAF:::...";
    let mut seed = 0x9e37_79b9_u32;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    for _ in 0..300_000 {
        let len = next() % 24;
        let s: String = (0..len)
            .map(|_| char::from(alphabet[next() as usize % alphabet.len()]))
            .collect();
        agrees(&s);
    }
    // Random shapes of valid-looking addresses.
    for _ in 0..100_000 {
        let mut s = String::new();
        let groups = next() % 10;
        let gap = next() % 10;
        for k in 0..groups {
            if k == gap {
                s.push_str("::");
            } else if k > 0 {
                s.push(':');
            }
            let digits = 1 + next() % 5;
            for _ in 0..digits {
                s.push(char::from(b"0f9A"[next() as usize % 4]));
            }
        }
        if next() % 3 == 0 {
            let octets: Vec<String> = (0..4).map(|_| (next() % 300).to_string()).collect();
            s.push(':');
            s.push_str(&octets.join("."));
        }
        agrees(&s);
    }
    assert!(valid.get() > 10_000, "{} valid", valid.get());
}

#[test]
fn ipv6_near_misses() {
    none("mac 00:1a:2b:3c:4d:5e");
    none("at 14:30:00 and 12:00");
    none("std::io a::b Foo::Bar x :: y ::");
    none("ratio 1:2:3");
    none("deadbeef cafe face added");
    none("fe80::1g and gfe80::1");
    none("1::2::3");
}

// ---------------------------------------------------------------- mixed

#[test]
fn overlapping_kinds_merge_under_the_strongest() {
    // The local part is a card number: one finding, an e-mail.
    assert_eq!(
        found("4111111111111111@example.com"),
        [("email".to_owned(), "4111111111111111@example.com")]
    );
    // A grouped card before the local part: all of it is covered.
    assert_eq!(
        found("4111 1111 1111 1111@example.com"),
        [("email".to_owned(), "4111 1111 1111 1111@example.com")]
    );
    // A phone number in the local part.
    assert_eq!(
        found("+14155550100@sms.example.com"),
        [("email".to_owned(), "+14155550100@sms.example.com")]
    );
    // A phone number and a card that only overlap: one finding over both.
    assert_eq!(
        found("call +4111 1111 1111 1111 now"),
        [("credit_card".to_owned(), "+4111 1111 1111 1111")]
    );
    // An IPv4 inside an IPv6 address is one address.
    assert_eq!(
        found("::ffff:10.0.0.1"),
        [("ip_address".to_owned(), "::ffff:10.0.0.1")]
    );
}

#[test]
fn iban_digits_that_pass_luhn_stay_an_iban() {
    // Find an IBAN whose BBAN digits, read as a grouped number, pass Luhn.
    let mut tried = 0;
    for k in 0..1000u32 {
        let bban = format!("{:018}", 370_400_440_532_013_000u64 + u64::from(k));
        let code = iban("DE", &bban);
        let grouped: Vec<&str> = (0..code.len())
            .step_by(4)
            .map(|s| &code[s..code.len().min(s + 4)])
            .collect();
        let grouped = grouped.join(" ");
        let digits: String = grouped[5..].chars().filter(char::is_ascii_digit).collect();
        if !(b'2'..=b'6').contains(&digits.as_bytes()[0]) || luhn(&digits[..17]) != digits {
            continue;
        }
        tried += 1;
        one(&format!("IBAN {grouped} ok"), "iban", &grouped);
    }
    assert!(tried > 0);
}

#[test]
fn a_log_and_a_json_document() {
    let log = "2026-11-23T14:30:00Z INFO req=550e8400-e29b-41d4-a716-446655440000 \
               client=203.0.113.7 user=jane@example.com v=4.2.0 took=12ms\n\
               2026-11-23T14:30:01Z WARN payment card=4111-1111-1111-1111 status=402\n";
    assert_eq!(
        found(log),
        [
            ("ip_address".to_owned(), "203.0.113.7"),
            ("email".to_owned(), "jane@example.com"),
            ("credit_card".to_owned(), "4111-1111-1111-1111"),
        ]
    );
    let json = r#"{"name":"Jane Roe","phone":"+44 20 7946 0958","ssn":"078-05-1120",
        "iban":"GB29NWBK60161331926819","order":"4111111111111112","zip":"94103",
        "version":"10.2.3.4","ip":"2001:db8::1"}"#;
    assert_eq!(
        found(json),
        [
            ("phone".to_owned(), "+44 20 7946 0958"),
            ("ssn".to_owned(), "078-05-1120"),
            ("iban".to_owned(), "GB29NWBK60161331926819"),
            ("ip_address".to_owned(), "2001:db8::1"),
        ]
    );
}

#[test]
fn empty_and_tiny_texts() {
    for t in [
        "", "4", "+", "(", "@", ":", "::", "a@", "@a", "1.", "0 0", "é", "\u{200B}",
    ] {
        none(t);
    }
}

// ---------------------------------------------------------------- adversarial

#[test]
fn random_texts_give_well_formed_findings() {
    const PIECES: &[&str] = &[
        "0",
        "1",
        "2",
        "4",
        "5",
        "9",
        "00",
        "415",
        "4111",
        "a",
        "f",
        "g",
        "x",
        "DE",
        "de",
        "89",
        "GB",
        "ssn",
        " ",
        " ",
        "-",
        ".",
        ":",
        "::",
        "+",
        "(",
        ")",
        "@",
        "/",
        "//",
        "://",
        "\n",
        "é",
        "４",
        "٤",
        "𝟒",
        "\u{200B}",
        "–",
        "\u{3000}",
        "example.com",
        "0100",
    ];
    let mut seed = 0x1234_5678_u32;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed as usize
    };
    for _ in 0..20_000 {
        let len = next() % 40;
        let text: String = (0..len).map(|_| PIECES[next() % PIECES.len()]).collect();
        // `found` checks the findings are sorted, disjoint and on character
        // boundaries; slicing checks they are in bounds.
        for (kind, value) in found(&text) {
            let edge = |c: char| c.is_whitespace() || c == '\u{200B}';
            assert!(
                !value.is_empty() && !value.starts_with(edge) && !value.ends_with(edge),
                "{kind} {value:?} in {text:?}"
            );
        }
    }
}

const MB: usize = 1 << 20;

/// `unit` repeated to about a megabyte.
fn mb_of(unit: &str) -> String {
    unit.repeat(MB / unit.len())
}

#[test]
fn adversarial_megabytes_finish() {
    let inputs = [
        mb_of("1"),
        mb_of("4"),
        mb_of("1 "),
        mb_of("4 "),
        mb_of("4-"),
        mb_of("a@"),
        mb_of("a"),
        mb_of(":"),
        mb_of("1.1."),
        mb_of("+"),
        mb_of("+1 "),
        mb_of("(1"),
        mb_of("(415) "),
        mb_of("0 "),
        mb_of("00 "),
        mb_of("ab12 "),
        mb_of("DE89 "),
        mb_of("1:"),
        mb_of("a:"),
        mb_of("a."),
        mb_of("a.a@"),
        mb_of("٤"),
        mb_of("\u{200B}4"),
    ];
    // Each is handled, with findings that keep the contract (`found`
    // checks them). How long they take is measured by
    // `cargo bench -p palisade --bench masking`, not asserted here.
    for text in &inputs {
        found(text);
    }
    // A 1 MB local part before the `@` and a 1 MB domain after it.
    let local = format!("{}@example.com", "a".repeat(MB));
    none(&local);
    let domain = format!("x@{}.com", "a".repeat(MB));
    none(&domain);
}

#[test]
fn values_repeated_a_megabyte_long_are_all_found() {
    let text = mb_of("4111 1111 1111 1111 ");
    assert_eq!(Pii::mask(&text).len(), text.len() / 20);
    let text = mb_of("1.1.1.1 ");
    assert_eq!(Pii::mask(&text).len(), text.len() / 8);
    let text = mb_of("a@b.cd ");
    assert_eq!(Pii::mask(&text).len(), text.len() / 7);
}

// ---------------------------------------------------------------- throughput

/// About `len` bytes of mixed text: prose, log lines and JSON, with a
/// sensitive value every ~500 bytes; and how many values it has.
fn mixed_text(len: usize, non_ascii: bool) -> (String, usize) {
    const PROSE: &[&str] = &[
        "The quarterly report was filed on time and the team reviewed the numbers \
         before the meeting, noting that revenue grew 4.5% over 12 months. ",
        "Please find attached the draft agreement; section 3.2 covers the terms \
         and the appendix lists 17 open items for discussion next week. ",
        "We deployed build 2026.11.3 to staging at 14:30 and rolled back after \
         the health checks failed twice in a row on node-7. ",
    ];
    const LOG: &[&str] = &[
        "2026-11-23T14:30:00.123Z INFO http request method=GET path=/api/v2/orders/9821 \
         status=200 latency_ms=37 req_id=550e8400-e29b-41d4-a716-446655440000\n",
        "2026-11-23T14:30:01.877Z WARN retrying upstream call attempt=3 backoff=250ms \
         sha=4b825dc642cb6eb9a060e54bf8d69288fbee4904 pid=31337\n",
    ];
    const JSON: &[&str] = &[
        "{\"id\": 48213, \"name\": \"Widget Pro\", \"price\": 19.99, \"tags\": [\"a\", \"b\"], \
         \"created\": \"2026-11-23\", \"stock\": 120}\n",
        "{\"order\": \"ORD-2026-118\", \"items\": 3, \"total\": 245.10, \"currency\": \"EUR\", \
         \"shipped\": false}\n",
    ];
    const VALUES: &[&str] = &[
        " card 4111 1111 1111 1111 ",
        " mail jane.doe@example.com ",
        " call +1 415 555 0100 ",
        " ssn 078-05-1120 ",
        " IBAN DE89 3704 0044 0532 0130 00 ",
        " from 203.0.113.7 ",
        " peer 2001:db8::8a2e:370:7334 ",
        " office 020 7946 0958 ",
    ];
    let mut out = String::with_capacity(len + 1024);
    let mut seed = 0x2545_f491_u32;
    let mut next_value = 500;
    let mut values = 0;
    while out.len() < len {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let pick = (seed >> 16) as usize;
        let piece = match pick % 3 {
            0 => PROSE[pick % PROSE.len()],
            1 => LOG[pick % LOG.len()],
            _ => JSON[pick % JSON.len()],
        };
        out.push_str(piece);
        if non_ascii && pick.is_multiple_of(7) {
            out.push_str("Grüße, café — ");
        }
        if out.len() >= next_value {
            out.push_str(VALUES[pick % VALUES.len()]);
            out.push('\n');
            next_value += 500;
            values += 1;
        }
    }
    (out, values)
}

#[test]
fn mixed_text_yields_exactly_its_values() {
    for non_ascii in [false, true] {
        let (text, values) = mixed_text(200_000, non_ascii);
        let found = found(&text);
        assert_eq!(found.len(), values);
        for (kind, value) in found {
            let expected = match kind.as_str() {
                "credit_card" => "4111 1111 1111 1111",
                "email" => "jane.doe@example.com",
                "iban" => "DE89 3704 0044 0532 0130 00",
                "ssn" => "078-05-1120",
                "phone" if value.starts_with('+') => "+1 415 555 0100",
                "phone" => "020 7946 0958",
                "ip_address" if value.contains(':') => "2001:db8::8a2e:370:7334",
                _ => "203.0.113.7",
            };
            assert_eq!(value, expected, "{kind}");
        }
    }
}

/// Nanoseconds this thread has run on a CPU (Linux), so that a benchmark on
/// a shared machine does not count the time others had the core.
fn cpu_nanos() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Prints the throughput of [`Pii::mask`] on `text`, the median and the best
/// of 15 passes, in wall-clock time and in this thread's CPU time.
fn throughput(label: &str, text: &str) {
    let mut findings = 0;
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..15)
        .map(|_| {
            let cpu_before = cpu_nanos();
            let started = std::time::Instant::now();
            findings = std::hint::black_box(Pii::mask(std::hint::black_box(text))).len();
            let wall = started.elapsed().as_secs_f64();
            let cpu = match (cpu_before, cpu_nanos()) {
                (Some(a), Some(b)) => (b - a) as f64 / 1e9,
                _ => wall,
            };
            (wall, cpu)
        })
        .unzip();
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    let mb = text.len() as f64 / 1e6;
    println!(
        "{label}: {mb:.1} MB, {findings} findings; wall: median {:.0} MB/s, best {:.0} MB/s; \
         cpu: median {:.0} MB/s, best {:.0} MB/s",
        mb / wall[wall.len() / 2],
        mb / wall[0],
        mb / cpu[cpu.len() / 2],
        mb / cpu[0],
    );
}

#[test]
#[ignore = "benchmark: cargo test --release -p palisade-plugin-pii -- --ignored --nocapture"]
fn throughput_on_ascii_text() {
    throughput("ascii mixed", &mixed_text(8_000_000, false).0);
}

#[test]
#[ignore = "benchmark: cargo test --release -p palisade-plugin-pii -- --ignored --nocapture"]
fn throughput_on_non_ascii_text() {
    throughput("non-ascii mixed", &mixed_text(8_000_000, true).0);
}

// ---- evasion ----------------------------------------------------------------

#[test]
fn identifiers_without_separators_after_a_key_that_names_them() {
    for text in [
        "social_security_number=123456789",
        "SocialSecurityNumber: 123456789",
        "\"soc_sec\": \"123456789\"",
    ] {
        one(text, "ssn", "123456789");
    }
    for (text, phone) in [
        ("phone_number=4155550100", "4155550100"),
        ("tel:030123456789", "030123456789"),
        ("\"mobilePhone\": \"14155550100\"", "14155550100"),
        ("Fax 442079460958 (office)", "442079460958"),
    ] {
        one(text, "phone", phone);
    }
    // Without the word, or a word that only contains it, or not a number of
    // that shape: nothing.
    none("order 4155550100 shipped");
    none("hotel 4155550100");
    none("phone: 1234567890");
    none("phone 4155550100.25");
    none("employee 123456789");
}

#[test]
fn escaped_values_are_masked_whole_in_the_original() {
    one(
        "mail jane.doe\\u0040example.com now",
        "email",
        "jane.doe\\u0040example.com",
    );
    one(
        "?email=jane.doe%40example.com&x=1",
        "email",
        "jane.doe%40example.com",
    );
    one(
        "<td>jane&#64;example&period;com</td>",
        "email",
        "jane&#64;example&period;com",
    );
    let card = luhn("411111111111111");
    let spaced = format!(
        "{}%20{}%20{}%20{}",
        &card[..4],
        &card[4..8],
        &card[8..12],
        &card[12..]
    );
    one(&format!("pay?card={spaced}&ok"), "credit_card", &spaced);
    let json = format!(
        "{}\\u0020{}\\u0020{}\\u0020{}",
        &card[..4],
        &card[4..8],
        &card[8..12],
        &card[12..]
    );
    one(
        &format!("{{\"note\": \"card {json}\"}}"),
        "credit_card",
        &json,
    );
    one("SSN 123&#45;45&#45;6789.", "ssn", "123&#45;45&#45;6789");
}

#[test]
fn values_cut_by_a_line_break_are_masked_across_it() {
    let card = luhn("411111111111111");
    let wrapped = format!(
        "{} {}\n    {} {}",
        &card[..4],
        &card[4..8],
        &card[8..12],
        &card[12..]
    );
    one(&format!("card: {wrapped} thanks"), "credit_card", &wrapped);
    let quoted = format!(
        "{} {} {}\n> {}",
        &card[..4],
        &card[4..8],
        &card[8..12],
        &card[12..]
    );
    one(
        &format!("> my card is {quoted}\n> thanks"),
        "credit_card",
        &quoted,
    );
    one(
        "> mail jane.doe@exam\r\n> ple.com please",
        "email",
        "jane.doe@exam\r\n> ple.com",
    );
    one(
        "IBAN DE89 3704 0044\n  0532 0130 00 ok",
        "iban",
        "DE89 3704 0044\n  0532 0130 00",
    );
    // Lines that merely end and start with numbers are not joined into one.
    none("see ticket 4111\n  1111 for details");
    none("total 2024\n> 42 cases");
}

#[test]
fn addresses_in_urls_and_machine_ids() {
    // An address as a URL's user name (encoded) is an address; the
    // password (even with an encoded `@`) and the host are not.
    one(
        "SMTP_URL=smtps://jane%40example.com:p%40ss%2Fw0rd@smtp.example.com:465",
        "email",
        "jane%40example.com",
    );
    none("DATABASE_URL=postgresql://noah:gjjd%2F57MBt%40cA@redis.example.com:5432/db");
    none("https://deploy:Orange2026-@pypi.example.com/simple/");
    // Message-IDs and scp-style remotes name machines.
    none("Message-ID: <CAF+abc123xyz@mail.gmail.com>");
    none("References: <be222ab4-c61d-41c2-a786-dd846ef64176@eurprd04.prod.outlook.com>");
    none("origin\tgit@github.com:acme/app.git (fetch)");
    one("mail git@example.com: thanks", "email", "git@example.com");
}

#[test]
fn review_regressions() {
    one(
        "jane.doe@gmail.com:Password123\n",
        "email",
        "jane.doe@gmail.com",
    );
    assert_eq!(
        found("http://x.com?to=bob@a.com&cc=jane@b.com"),
        [
            ("email".to_owned(), "bob@a.com"),
            ("email".to_owned(), "jane@b.com")
        ]
    );
    one("SSN for employee #2: 078051120", "ssn", "078051120");
    one("ssn:\n078051120", "ssn", "078051120");
    one("customer_ssn=078051120", "ssn", "078051120");
    none("accessNumber: 123456789 businessNumber 234567890");
    assert_eq!(
        found("SSN: 078-05-1120, Employee ID: 234567890"),
        [("ssn".to_owned(), "078-05-1120")]
    );
    // A view of many joined lines maps each finding back (and in linear
    // time: the joint after a span is found by binary search).
    let line = "  xxxxxxxx 10.0.0.1 abcdefgh\n";
    let text = line.repeat(2000);
    assert_eq!(found(&text).len(), 2000);
}
