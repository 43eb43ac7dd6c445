//! Values of every kind, valid by construction (Luhn, mod-97, SSN ranges,
//! GitHub checksums), the near-misses that imitate them, and the everyday
//! text around them (names, dates, versions).

use super::generate::Rng;

/// Upper-case letters.
pub const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// Letters and digits.
pub const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Lower-case hex digits.
pub const HEX: &[u8] = b"0123456789abcdef";
/// The standard base64 alphabet.
pub const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// The URL-safe base64 alphabet.
pub const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Base32 as in AWS key ids.
pub const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Longest run of digits in `s`, counting `-` and ` ` inside a run as part of it.
pub fn digit_run(s: &str) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in s.chars() {
        if c.is_ascii_digit() {
            run += 1;
            best = best.max(run);
        } else if c != '-' && c != ' ' {
            run = 0;
        }
    }
    best
}

/// `n` characters of `alphabet` with no run of more than 8 digits, so that
/// random strings never look like card, phone or account numbers.
pub fn random(rng: &mut Rng, alphabet: &[u8], n: usize) -> String {
    loop {
        let s = rng.chars(alphabet, n);
        if digit_run(&s) <= 8 {
            return s;
        }
    }
}

// ---------------------------------------------------------------- people

/// A person: display names (some non-ASCII) and their ASCII forms for addresses.
#[derive(Debug, Clone)]
pub struct Person {
    /// Given name as written.
    pub first: &'static str,
    /// Family name as written.
    pub last: &'static str,
    /// Given name, ASCII lower case.
    pub first_ascii: &'static str,
    /// Family name, ASCII lower case.
    pub last_ascii: &'static str,
}

impl Person {
    /// "First Last".
    pub fn full(&self) -> String {
        format!("{} {}", self.first, self.last)
    }
}

const FIRST: &[(&str, &str)] = &[
    ("Jane", "jane"),
    ("John", "john"),
    ("Maria", "maria"),
    ("Zoë", "zoe"),
    ("José", "jose"),
    ("Søren", "soren"),
    ("Chloé", "chloe"),
    ("Jürgen", "juergen"),
    ("Naïma", "naima"),
    ("Łukasz", "lukasz"),
    ("Priya", "priya"),
    ("Wei", "wei"),
    ("Aisha", "aisha"),
    ("Liam", "liam"),
    ("Olivia", "olivia"),
    ("Mateo", "mateo"),
    ("Renée", "renee"),
    ("Hiroshi", "hiroshi"),
    ("Fatima", "fatima"),
    ("Noah", "noah"),
    ("Emma", "emma"),
    ("Lucas", "lucas"),
    ("Sofia", "sofia"),
    ("Omar", "omar"),
    ("Ingrid", "ingrid"),
    ("Carlos", "carlos"),
    ("Anouk", "anouk"),
    ("Giulia", "giulia"),
    ("Tomás", "tomas"),
    ("Elif", "elif"),
    ("Sam", "sam"),
    ("Alex", "alex"),
];

const LAST: &[(&str, &str)] = &[
    ("Doe", "doe"),
    ("Smith", "smith"),
    ("Müller", "mueller"),
    ("García", "garcia"),
    ("Nowak", "nowak"),
    ("Østergaard", "ostergaard"),
    ("O'Brien", "obrien"),
    ("Rossi", "rossi"),
    ("Dubois", "dubois"),
    ("van Dijk", "vandijk"),
    ("Benali", "benali"),
    ("Tanaka", "tanaka"),
    ("Kowalski", "kowalski"),
    ("Johnson", "johnson"),
    ("Martin", "martin"),
    ("Fernández", "fernandez"),
    ("Schmidt", "schmidt"),
    ("Chen", "chen"),
    ("Patel", "patel"),
    ("Okafor", "okafor"),
    ("Lindqvist", "lindqvist"),
    ("Moreau", "moreau"),
    ("Bianchi", "bianchi"),
    ("Yılmaz", "yilmaz"),
    ("Novák", "novak"),
    ("Walker", "walker"),
    ("Haddad", "haddad"),
    ("Kim", "kim"),
];

/// A random person.
pub fn person(rng: &mut Rng) -> Person {
    let (first, first_ascii) = *rng.pick(FIRST);
    let (last, last_ascii) = *rng.pick(LAST);
    Person {
        first,
        last,
        first_ascii,
        last_ascii,
    }
}

/// A user name, e.g. `jdoe`, `maria.rossi`.
pub fn username(rng: &mut Rng, p: &Person) -> String {
    match rng.below(4) {
        0 => format!("{}{}", &p.first_ascii[..1], p.last_ascii),
        1 => format!("{}.{}", p.first_ascii, p.last_ascii),
        2 => p.first_ascii.to_owned(),
        _ => format!("{}_{}", p.first_ascii, p.last_ascii),
    }
}

const COMPANIES: &[&str] = &[
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Retail",
    "Hooli",
    "Contoso",
    "Fabrikam",
    "Northwind Traders",
    "Wayne Enterprises",
    "Stark Logistics",
];

/// A company name.
pub fn company(rng: &mut Rng) -> &'static str {
    rng.pick_str(COMPANIES)
}

const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.example.com",
    "acme-corp.io",
    "globex.de",
    "initech.co.uk",
    "umbrella.fr",
    "hooli.es",
    "contoso.nl",
    "fabrikam.it",
    "northwind.ch",
    "wayne-ent.com",
    "stark.industries",
    "corp.example.at",
    "firma.example.pl",
];

/// A company-ish domain.
pub fn domain(rng: &mut Rng) -> &'static str {
    rng.pick_str(DOMAINS)
}

/// An e-mail address of `p`.
pub fn email(rng: &mut Rng, p: &Person) -> String {
    let local = match rng.below(7) {
        0 => format!("{}.{}", p.first_ascii, p.last_ascii),
        1 => format!("{}_{}", p.first_ascii, p.last_ascii),
        2 => format!("{}{}", &p.first_ascii[..1], p.last_ascii),
        3 => format!(
            "{}+{}",
            p.first_ascii,
            rng.pick(&["billing", "news", "test", "shop"])
        ),
        4 => format!("{}.{}{}", p.first_ascii, p.last_ascii, rng.range(1, 99)),
        5 => {
            let mut s = format!("{}.{}", p.first_ascii, p.last_ascii);
            s[..1].make_ascii_uppercase();
            s
        }
        _ => p.first_ascii.to_owned(),
    };
    format!("{local}@{}", domain(rng))
}

/// A role address such as `billing@acme-corp.io`.
pub fn role_email(rng: &mut Rng) -> String {
    let role = rng.pick(&[
        "billing", "support", "noreply", "alerts", "ops", "hr", "payroll", "security",
    ]);
    format!("{role}@{}", domain(rng))
}

// ---------------------------------------------------------------- cards

/// True when the digits of `s` pass the Luhn check.
pub fn luhn_valid(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// The digit that completes `partial` to a Luhn-valid number.
pub fn luhn_digit(partial: &str) -> char {
    (b'0'..=b'9')
        .map(char::from)
        .find(|d| luhn_valid(&format!("{partial}{d}")))
        .unwrap_or('0')
}

/// `digits` split into groups of `sizes`, joined by `sep`.
pub fn group(digits: &str, sizes: &[usize], sep: &str) -> String {
    let mut out = String::new();
    let mut at = 0;
    for (i, n) in sizes.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&digits[at..at + n]);
        at += n;
    }
    out
}

/// Digits of a card number: brand prefix, random body, Luhn digit.
pub fn card_digits(rng: &mut Rng) -> String {
    let (prefix, len) = match rng.below(20) {
        0..=6 => ("4".to_owned(), 16),
        7..=9 => (format!("5{}", rng.range(1, 5)), 16),
        10..=11 => (format!("{}", rng.range(2221, 2720)), 16),
        12..=14 => ((rng.pick_str(&["34", "37"])).to_owned(), 15),
        15..=16 => ("6011".to_owned(), 16),
        17 => ("65".to_owned(), 16),
        _ => ("62".to_owned(), 19),
    };
    let body = rng.digits(len - 1 - prefix.len());
    let partial = format!("{prefix}{body}");
    let check = luhn_digit(&partial);
    format!("{partial}{check}")
}

/// The brand of card `digits`.
pub fn brand(digits: &str) -> &'static str {
    match digits.as_bytes().first() {
        Some(b'4') => "Visa",
        Some(b'5' | b'2') => "Mastercard",
        Some(b'3') => "Amex",
        _ if digits.starts_with("62") => "UnionPay",
        _ => "Discover",
    }
}

/// Formats card digits: grouped 4-4-4-4 (4-6-5 for Amex, 4-4-4-4-3 for 19
/// digits) with spaces or dashes, or contiguous.
pub fn format_card(rng: &mut Rng, digits: &str) -> String {
    let sep = rng.pick_str(&[" ", " ", "-", ""]);
    let sizes: &[usize] = match digits.len() {
        15 => &[4, 6, 5],
        19 => &[4, 4, 4, 4, 3],
        _ => &[4, 4, 4, 4],
    };
    group(digits, sizes, sep)
}

/// A valid card number, formatted.
pub fn card(rng: &mut Rng) -> String {
    let d = card_digits(rng);
    format_card(rng, &d)
}

/// A 16-digit number that fails Luhn; half start like a card.
pub fn luhn_fail_16(rng: &mut Rng) -> String {
    let prefix = rng.pick_str(&["4", "5", "6011", "3", "2", "9", "1"]);
    loop {
        let s = format!("{prefix}{}", rng.digits(16 - prefix.len()));
        if !luhn_valid(&s) {
            return s;
        }
    }
}

/// A 13–19 digit number that starts with 0, 1, 7, 8 or 9.
pub fn non_card_digits(rng: &mut Rng) -> String {
    let first = rng.pick_str(&["0", "1", "7", "8", "9"]);
    let n = rng.range(13, 19);
    format!("{first}{}", rng.digits(n - 1))
}

/// Last four digits of a card, masked: `**** **** **** 4242`, `•••• 4242`.
pub fn masked_card(rng: &mut Rng) -> String {
    let last4 = rng.digits(4);
    match rng.below(3) {
        0 => format!("**** **** **** {last4}"),
        1 => format!("•••• {last4}"),
        _ => format!("XXXX-XXXX-XXXX-{last4}"),
    }
}

// ---------------------------------------------------------------- SSN

/// True when (area, group, serial) is in the ranges the SSA issues.
pub fn ssn_valid(area: u32, group: u32, serial: u32) -> bool {
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// A valid SSN with `sep` between its parts (`-`, ` ` or none).
pub fn ssn(rng: &mut Rng, sep: &str) -> String {
    loop {
        let (a, g, s) = (rng.range(1, 899), rng.range(1, 99), rng.range(1, 9999));
        // Avoid the famous advertising numbers, which a detector may ignore.
        let famous = matches!((a, g, s), (78, 5, 1120) | (219, 9, 9999) | (123, 45, 6789));
        if ssn_valid(a as u32, g as u32, s as u32) && !famous {
            return format!("{a:03}{sep}{g:02}{sep}{s:04}");
        }
    }
}

/// An SSN-shaped number outside the ranges: area 000, 666 or 9xx, group 00
/// or serial 0000.
pub fn invalid_ssn(rng: &mut Rng, sep: &str) -> String {
    let (mut a, mut g, mut s) = (rng.range(1, 665), rng.range(1, 99), rng.range(1, 9999));
    match rng.below(5) {
        0 => a = 0,
        1 => a = 666,
        2 => a = rng.range(900, 999),
        3 => g = 0,
        _ => s = 0,
    }
    format!("{a:03}{sep}{g:02}{sep}{s:04}")
}

// ---------------------------------------------------------------- IBAN

/// Country, total length, BBAN pattern (`n` digit, `a` upper-case letter),
/// and bank codes for the letter part.
const IBAN_COUNTRIES: &[(&str, usize, &str)] = &[
    ("DE", 22, "nnnnnnnnnnnnnnnnnn"),
    ("GB", 22, "aaaannnnnnnnnnnnnn"),
    ("FR", 27, "nnnnnnnnnnnnnnnnnnnnnnn"),
    ("ES", 24, "nnnnnnnnnnnnnnnnnnnn"),
    ("IT", 27, "annnnnnnnnnnnnnnnnnnnnn"),
    ("NL", 18, "aaaannnnnnnnnn"),
    ("BE", 16, "nnnnnnnnnnnn"),
    ("CH", 21, "nnnnnnnnnnnnnnnnn"),
    ("AT", 20, "nnnnnnnnnnnnnnnn"),
    ("PL", 28, "nnnnnnnnnnnnnnnnnnnnnnnn"),
];

const BANKS: &[(&str, &[&str])] = &[
    ("GB", &["NWBK", "BARC", "HBUK", "MIDL", "LOYD"]),
    ("NL", &["ABNA", "INGB", "RABO", "TRIO", "KNAB"]),
];

/// `n mod 97` of an alphanumeric string read as in ISO 13616 (A=10 … Z=35).
pub fn mod97(s: &str) -> u32 {
    let mut r = 0u32;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            r = (r * 10 + d) % 97;
        } else if c.is_ascii_uppercase() {
            let v = u32::from(c as u8 - b'A') + 10;
            r = (r * 100 + v) % 97;
        }
    }
    r
}

/// True when `iban` (spaces allowed) has a known length and a valid check.
pub fn iban_valid(iban: &str) -> bool {
    let s: String = iban.chars().filter(|c| *c != ' ').collect();
    let Some(&(_, len, _)) = IBAN_COUNTRIES.iter().find(|(c, _, _)| s.starts_with(c)) else {
        return false;
    };
    s.len() == len && mod97(&format!("{}{}", &s[4..], &s[..4])) == 1
}

fn iban_parts(rng: &mut Rng) -> (&'static str, String) {
    let &(country, _, pattern) = rng.pick(IBAN_COUNTRIES);
    let mut bban = String::new();
    if let Some((_, banks)) = BANKS.iter().find(|(c, _)| *c == country) {
        bban.push_str(rng.pick_str(banks));
        bban.push_str(&rng.digits(pattern.len() - 4));
    } else {
        for p in pattern.chars() {
            if p == 'a' {
                bban.push_str(&rng.chars(UPPER, 1));
            } else {
                bban.push_str(&rng.digits(1));
            }
        }
    }
    (country, bban)
}

fn iban_check(country: &str, bban: &str) -> u32 {
    98 - mod97(&format!("{bban}{country}00"))
}

fn format_iban(country: &str, check: u32, bban: &str, grouped: bool) -> String {
    let flat = format!("{country}{check:02}{bban}");
    if !grouped {
        return flat;
    }
    let chars: Vec<char> = flat.chars().collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A valid IBAN, contiguous or in groups of four.
pub fn iban(rng: &mut Rng) -> String {
    let (country, bban) = iban_parts(rng);
    let check = iban_check(country, &bban);
    let grouped = rng.chance(60);
    format_iban(country, check, &bban, grouped)
}

/// True when consecutive all-digit groups of `s` (split on spaces) form a
/// Luhn-valid number of 13–19 digits starting with 2–6 (any card range).
pub fn has_card_window(s: &str) -> bool {
    let groups: Vec<&str> = s.split(' ').collect();
    for a in 0..groups.len() {
        let mut digits = String::new();
        for g in &groups[a..] {
            if !g.bytes().all(|b| b.is_ascii_digit()) {
                break;
            }
            digits.push_str(g);
            let branded = digits.starts_with(['2', '3', '4', '5', '6']);
            if (13..=19).contains(&digits.len()) && branded && luhn_valid(&digits) {
                return true;
            }
        }
    }
    false
}

/// An IBAN whose check digits are wrong (and in which no group of digits
/// reads as a card number, which would make it ambiguous).
pub fn bad_iban(rng: &mut Rng) -> String {
    loop {
        let (country, bban) = iban_parts(rng);
        let good = iban_check(country, &bban);
        let bad = loop {
            let c = rng.range(2, 98) as u32;
            if c != good {
                break c;
            }
        };
        let grouped = rng.chance(60);
        let s = format_iban(country, bad, &bban, grouped);
        if !has_card_window(&s) {
            return s;
        }
    }
}

// ---------------------------------------------------------------- phones

/// A phone number in one of the E.164, NANP and European trunk formats.
pub fn phone(rng: &mut Rng) -> String {
    let area = format!("{}{}{}", rng.range(2, 9), rng.range(0, 8), rng.range(0, 9));
    let exch = if rng.chance(50) {
        "555".to_owned()
    } else {
        format!("{}{}", rng.range(2, 9), rng.digits(2))
    };
    let line = if exch == "555" {
        format!("01{}", rng.digits(2))
    } else {
        rng.digits(4)
    };
    match rng.below(22) {
        0 => format!("+1 {area} {exch} {line}"),
        1 => format!("+1{area}{exch}{line}"),
        2 => format!("+1-{area}-{exch}-{line}"),
        3 | 4 => format!("({area}) {exch}-{line}"),
        5 | 6 => format!("{area}-{exch}-{line}"),
        7 => format!("{area}.{exch}.{line}"),
        8 => format!("+1 ({area}) {exch}-{line}"),
        9 => format!("+44 20 7946 0{}", rng.digits(3)),
        10 => format!("+44 7700 900{}", rng.digits(3)),
        11 => format!("020 7946 0{}", rng.digits(3)),
        12 => format!("07700 900{}", rng.digits(3)),
        13 => format!(
            "+33 {} {} {} {} {}",
            rng.range(1, 7),
            rng.digits(2),
            rng.digits(2),
            rng.digits(2),
            rng.digits(2)
        ),
        14 => format!(
            "0{} {} {} {} {}",
            rng.range(1, 7),
            rng.digits(2),
            rng.digits(2),
            rng.digits(2),
            rng.digits(2)
        ),
        15 => format!("+49 30 {}", rng.digits(8)),
        16 => format!("+4930{}", rng.digits(6)),
        17 => format!("030-{}", rng.digits(8)),
        18 => format!("+34 9{} {} {}", rng.digits(2), rng.digits(3), rng.digits(3)),
        19 => format!("+39 06 {} {}", rng.digits(4), rng.digits(4)),
        20 => format!("+31 20 {} {}", rng.digits(3), rng.digits(4)),
        _ => format!(
            "+41 44 {} {} {}",
            rng.digits(3),
            rng.digits(2),
            rng.digits(2)
        ),
    }
}

// ---------------------------------------------------------------- IP

/// A valid IPv4 address: private, documentation or public-looking.
pub fn ipv4(rng: &mut Rng) -> String {
    match rng.below(7) {
        0 => format!(
            "10.{}.{}.{}",
            rng.below(256),
            rng.below(256),
            rng.range(1, 254)
        ),
        1 => format!(
            "172.{}.{}.{}",
            rng.range(16, 31),
            rng.below(256),
            rng.range(1, 254)
        ),
        2 => format!("192.168.{}.{}", rng.below(256), rng.range(1, 254)),
        3 => format!("192.0.2.{}", rng.range(1, 254)),
        4 => format!("198.51.100.{}", rng.range(1, 254)),
        5 => format!("203.0.113.{}", rng.range(1, 254)),
        _ => format!(
            "{}.{}.{}.{}",
            rng.pick(&[34, 52, 81, 91, 104, 145, 185, 213]),
            rng.below(256),
            rng.below(256),
            rng.range(1, 254)
        ),
    }
}

fn hex_group(rng: &mut Rng) -> String {
    format!("{:x}", rng.range(1, 0xffff))
}

/// A valid IPv6 address, full or compressed.
pub fn ipv6(rng: &mut Rng) -> String {
    let g = |rng: &mut Rng| hex_group(rng);
    match rng.below(9) {
        0 => format!("2001:db8::{}:{}:{}", g(rng), g(rng), g(rng)),
        1 => format!("2001:db8:{}::{}", g(rng), g(rng)),
        2 => format!(
            "2001:0db8:{:04x}:0000:0000:{:04x}:{:04x}:{:04x}",
            rng.range(1, 0xffff),
            rng.range(1, 0xffff),
            rng.range(1, 0xffff),
            rng.range(1, 0xffff)
        ),
        3 => format!("fe80::{}:{}:{}:{}", g(rng), g(rng), g(rng), g(rng)),
        4 => format!("fe80::{}", rng.range(1, 9)),
        5 => "::1".to_owned(),
        6 => format!("2a00:1450:{}:{}::{}", g(rng), g(rng), g(rng)),
        7 => format!("2606:4700:{}::{}", g(rng), g(rng)),
        _ => format!("fd00:{}:{}::{}", g(rng), g(rng), g(rng)),
    }
}

/// An IPv4 (mostly) or IPv6 address.
pub fn ip(rng: &mut Rng) -> String {
    if rng.chance(75) { ipv4(rng) } else { ipv6(rng) }
}

/// A dotted quad that is not an address: an octet over 255, or three parts.
pub fn invalid_ipv4(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => format!(
            "300.{}.{}.{}",
            rng.below(256),
            rng.below(256),
            rng.below(256)
        ),
        1 => format!(
            "{}.{}.{}.{}",
            rng.below(256),
            rng.range(256, 999),
            rng.below(256),
            rng.below(256)
        ),
        2 => format!(
            "{}.{}.{}.{}",
            rng.below(256),
            rng.below(256),
            rng.below(256),
            rng.range(256, 999)
        ),
        _ => "300.1.1.1".to_owned(),
    }
}

/// A MAC address.
pub fn mac(rng: &mut Rng) -> String {
    let sep = rng.pick_str(&[":", "-"]);
    let parts: Vec<String> = (0..6).map(|_| format!("{:02X}", rng.below(256))).collect();
    parts.join(sep)
}

// ---------------------------------------------------------------- dates

const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: &[&str] = &["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A calendar date and time of day.
#[derive(Debug, Clone, Copy)]
pub struct When {
    /// Year.
    pub y: usize,
    /// Month, 1–12.
    pub m: usize,
    /// Day, 1–28.
    pub d: usize,
    /// Hour.
    pub hh: usize,
    /// Minute.
    pub mm: usize,
    /// Second.
    pub ss: usize,
}

impl When {
    /// `2026-11-23T14:30:00Z` or with milliseconds.
    pub fn iso(&self, rng: &mut Rng) -> String {
        let base = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.y, self.m, self.d, self.hh, self.mm, self.ss
        );
        match rng.below(3) {
            0 => format!("{base}Z"),
            1 => format!("{base}.{:03}Z", rng.below(1000)),
            _ => format!("{base}+00:00"),
        }
    }
    /// `2026-11-23`.
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.y, self.m, self.d)
    }
    /// `14:30:00`.
    pub fn clock(&self) -> String {
        format!("{:02}:{:02}:{:02}", self.hh, self.mm, self.ss)
    }
    /// `Nov 23 14:30:00` (syslog).
    pub fn syslog(&self) -> String {
        format!("{} {:2} {}", MONTHS[self.m - 1], self.d, self.clock())
    }
    /// `23/Nov/2026:14:30:00 +0000` (access log).
    pub fn clf(&self) -> String {
        format!(
            "{:02}/{}/{}:{} +0000",
            self.d,
            MONTHS[self.m - 1],
            self.y,
            self.clock()
        )
    }
    /// `Mon, 23 Nov 2026 14:30:00 +0100` (RFC 2822).
    pub fn rfc2822(&self) -> String {
        format!(
            "{}, {} {} {} {} +0100",
            DAYS[weekday(self.y, self.m, self.d)],
            self.d,
            MONTHS[self.m - 1],
            self.y,
            self.clock()
        )
    }
    /// A date in a human format: `11/23/2026`, `23.11.2026`, `23 Nov 2026`.
    pub fn human_date(&self, rng: &mut Rng) -> String {
        match rng.below(4) {
            0 => format!("{:02}/{:02}/{}", self.m, self.d, self.y),
            1 => format!("{:02}.{:02}.{}", self.d, self.m, self.y),
            2 => format!("{} {} {}", self.d, MONTHS[self.m - 1], self.y),
            _ => self.date(),
        }
    }
    /// Seconds since the Unix epoch.
    pub fn unix(&self) -> u64 {
        let days = days_from_civil(self.y as i64, self.m as i64, self.d as i64);
        (days as u64) * 86_400 + (self.hh * 3600 + self.mm * 60 + self.ss) as u64
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// 0 = Monday.
fn weekday(y: usize, m: usize, d: usize) -> usize {
    // 1970-01-01 was a Thursday (3).
    (days_from_civil(y as i64, m as i64, d as i64).rem_euclid(7) as usize + 3) % 7
}

/// A moment in 2024–2027.
pub fn when(rng: &mut Rng) -> When {
    When {
        y: rng.range(2024, 2027),
        m: rng.range(1, 12),
        d: rng.range(1, 28),
        hh: rng.below(24),
        mm: rng.below(60),
        ss: rng.below(60),
    }
}

// ---------------------------------------------------------------- ids

/// A version string: `v1.2.3`, `1.24.3`, `version 4.2.0.1`, `2.0.0-rc.1`.
pub fn version(rng: &mut Rng) -> String {
    let (a, b, c) = (rng.range(0, 12), rng.range(0, 40), rng.range(0, 20));
    match rng.below(5) {
        0 => format!("v{a}.{b}.{c}"),
        1 => format!("{a}.{b}.{c}"),
        2 => format!("version {a}.{b}.{c}.{}", rng.range(0, 9)),
        3 => format!("{a}.{b}.{c}-rc.{}", rng.range(1, 5)),
        _ => format!("v{a}.{b}.{c}.{}", rng.range(0, 200)),
    }
}

/// A UUID (v4 layout).
pub fn uuid(rng: &mut Rng) -> String {
    loop {
        let h = rng.chars(HEX, 32);
        let s = format!(
            "{}-{}-4{}-{}{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            rng.pick(&["8", "9", "a", "b"]),
            &h[17..20],
            &h[20..32]
        );
        if digit_run(&s) <= 8 {
            return s;
        }
    }
}

/// A 40-hex git SHA.
pub fn git_sha(rng: &mut Rng) -> String {
    random(rng, HEX, 40)
}

/// A 64-hex sha256 digest.
pub fn sha256(rng: &mut Rng) -> String {
    random(rng, HEX, 64)
}

/// A product code: SKU, part number or ISBN.
pub fn product_code(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => format!(
            "SKU-{}-{}",
            rng.digits(5),
            rng.pick(&["XS", "S", "M", "L", "XL"])
        ),
        1 => format!("PRD-{}-{}", rng.range(2020, 2027), rng.digits(5)),
        2 => format!(
            "978-{}-{}-{}-{}",
            rng.range(0, 9),
            rng.digits(2),
            rng.digits(6),
            rng.range(0, 9)
        ),
        _ => format!(
            "{}-{}{}",
            random(rng, UPPER, 3),
            rng.digits(4),
            random(rng, UPPER, 1)
        ),
    }
}

/// A US ZIP code, 5 digits or ZIP+4.
pub fn zip(rng: &mut Rng) -> String {
    let z = format!("{}{}", rng.range(1, 9), rng.digits(4));
    if rng.chance(25) {
        format!("{z}-{}", rng.digits(4))
    } else {
        z
    }
}

/// An AKIA-looking id of the wrong length (12–15 or 17–20 after the prefix).
pub fn akia_wrong_length(rng: &mut Rng) -> String {
    let n = *rng.pick(&[12, 14, 15, 17, 18, 20]);
    format!("AKIA{}", random(rng, BASE32, n))
}

/// 40 base64 characters, as an AWS secret would be, but for something else.
pub fn base64_40(rng: &mut Rng) -> String {
    random(rng, B64, 40)
}

// ---------------------------------------------------------------- secrets

/// An AWS access key id: `AKIA` (long-term) or `ASIA` (temporary) + 16.
pub fn aws_key_id(rng: &mut Rng) -> String {
    let prefix = if rng.chance(75) { "AKIA" } else { "ASIA" };
    format!("{prefix}{}", random(rng, BASE32, 16))
}

/// An AWS secret access key: 40 base64 characters.
pub fn aws_secret(rng: &mut Rng) -> String {
    loop {
        let s = random(rng, B64, 40);
        let lower = s.chars().any(|c| c.is_ascii_lowercase());
        let upper = s.chars().any(|c| c.is_ascii_uppercase());
        if lower && upper {
            return s;
        }
    }
}

/// CRC-32 (IEEE), bit by bit.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn base62(mut n: u32, width: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 {
        out.push(ALPHABET[(n % 62) as usize]);
        n /= 62;
    }
    while out.len() < width {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// A GitHub token: `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` + 30 random + 6
/// checksum characters, or a fine-grained `github_pat_` token.
pub fn github_token(rng: &mut Rng) -> String {
    if rng.chance(15) {
        return format!(
            "github_pat_11{}_{}",
            random(rng, ALNUM, 20),
            random(rng, ALNUM, 59)
        );
    }
    let prefix = rng.pick_str(&["ghp", "ghp", "ghp", "gho", "ghu", "ghs", "ghr"]);
    let body = random(rng, ALNUM, 30);
    format!("{prefix}_{body}{}", base62(crc32(body.as_bytes()), 6))
}

/// A Slack token: bot (`xoxb-`), user (`xoxp-`) or app-level (`xapp-`).
pub fn slack_token(rng: &mut Rng) -> String {
    let id = |rng: &mut Rng, n: usize| format!("1{}", rng.digits(n - 1));
    match rng.below(5) {
        0..=2 => format!(
            "xoxb-{}-{}-{}",
            id(rng, 12),
            id(rng, 13),
            random(rng, ALNUM, 24)
        ),
        3 => format!(
            "xoxp-{}-{}-{}-{}",
            id(rng, 12),
            id(rng, 12),
            id(rng, 13),
            random(rng, HEX, 32)
        ),
        _ => format!(
            "xapp-1-A{}-{}-{}",
            random(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 10),
            id(rng, 13),
            random(rng, HEX, 64)
        ),
    }
}

/// Kinds of Stripe keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripeKind {
    /// `sk_live_`
    SecretLive,
    /// `sk_test_`
    SecretTest,
    /// `rk_live_`
    Restricted,
    /// `rk_test_` (a publishable key, `pk_live_`, is public: not a secret)
    RestrictedTest,
    /// `whsec_`
    Webhook,
}

/// A Stripe key of `kind`.
pub fn stripe_key(rng: &mut Rng, kind: StripeKind) -> String {
    let body = |rng: &mut Rng| {
        if rng.chance(40) {
            format!("51{}", random(rng, ALNUM, 97))
        } else {
            random(rng, ALNUM, 24)
        }
    };
    match kind {
        StripeKind::SecretLive => format!("sk_live_{}", body(rng)),
        StripeKind::SecretTest => format!("sk_test_{}", body(rng)),
        StripeKind::Restricted => format!("rk_live_{}", body(rng)),
        StripeKind::RestrictedTest => format!("rk_test_{}", body(rng)),
        StripeKind::Webhook => format!("whsec_{}", random(rng, ALNUM, 32)),
    }
}

/// A random kind of Stripe key, mostly secret keys.
pub fn stripe_kind(rng: &mut Rng) -> StripeKind {
    *rng.pick(&[
        StripeKind::SecretLive,
        StripeKind::SecretLive,
        StripeKind::SecretTest,
        StripeKind::Restricted,
        StripeKind::RestrictedTest,
        StripeKind::Webhook,
    ])
}

/// A Google API key: `AIza` + 35.
pub fn google_api_key(rng: &mut Rng) -> String {
    loop {
        let s = format!("AIza{}", random(rng, B64URL, 35));
        // Ending in `-` or `_` is valid but reads like a separator: avoid it.
        if !s.ends_with(['-', '_']) {
            return s;
        }
    }
}

/// Base64url without padding.
pub fn b64url(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(B64URL[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// A JWT with a real JSON header and payload and a random signature.
pub fn jwt(rng: &mut Rng) -> String {
    let header = match rng.below(3) {
        0 => r#"{"alg":"HS256","typ":"JWT"}"#.to_owned(),
        1 => format!(
            r#"{{"alg":"RS256","kid":"{}","typ":"JWT"}}"#,
            random(rng, HEX, 16)
        ),
        _ => r#"{"typ":"JWT","alg":"ES256"}"#.to_owned(),
    };
    let p = person(rng);
    let iat = when(rng).unix();
    let payload = match rng.below(3) {
        0 => format!(
            r#"{{"sub":"{}","name":"{} {}","iat":{iat}}}"#,
            rng.range(1000, 999_999),
            p.first_ascii,
            p.last_ascii
        ),
        1 => format!(
            r#"{{"iss":"https://auth.{}","aud":"api","sub":"usr_{}","scope":"read write","exp":{}}}"#,
            domain(rng),
            random(rng, ALNUM, 10),
            iat + 3600
        ),
        _ => format!(
            r#"{{"sub":"{}","role":"{}","iat":{iat},"exp":{}}}"#,
            username(rng, &p),
            rng.pick(&["admin", "agent", "service", "viewer"]),
            iat + 900
        ),
    };
    let sig_len = if header.contains("HS256") { 43 } else { 86 };
    format!(
        "{}.{}.{}",
        b64url(header.as_bytes()),
        b64url(payload.as_bytes()),
        random(rng, B64URL, sig_len)
    )
}

/// An opaque (non-JWT) bearer token, 20–64 characters.
pub fn opaque_token(rng: &mut Rng) -> String {
    loop {
        let s = match rng.below(5) {
            0 => random(rng, HEX, 40),
            1 => random(rng, ALNUM, 32),
            2 => format!("ya29.a0{}", random(rng, B64URL, 60)),
            3 => format!("{}.{}", random(rng, ALNUM, 24), random(rng, ALNUM, 20)),
            _ => random(rng, B64URL, 43),
        };
        let bad_start = [
            "eyJ", "AKIA", "ASIA", "AIza", "gh", "xox", "xapp", "sk_", "rk_", "pk_", "whsec_",
        ]
        .iter()
        .any(|p| s.starts_with(p));
        if !bad_start && !s.ends_with(['-', '_', '.']) {
            return s;
        }
    }
}

/// How a PEM block is embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pem {
    /// Real newlines.
    Plain,
    /// Literal `\n` escapes, as inside a JSON or shell string.
    Escaped,
    /// Real newlines, every line after the first indented by this many spaces.
    Indented(usize),
}

/// Body lines of a PEM block.
fn pem_body(rng: &mut Rng, prefix: &str, len: usize, width: usize) -> Vec<String> {
    let mut body = prefix.to_owned();
    body.push_str(&random(rng, B64, len - prefix.len()));
    if !len.is_multiple_of(4) {
        body.push_str(&"=".repeat(4 - len % 4));
    }
    body.as_bytes()
        .chunks(width)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

fn pem_join(label: &str, lines: &[String], style: Pem) -> String {
    let (nl, indent) = match style {
        Pem::Plain => ("\n", String::new()),
        Pem::Escaped => ("\\n", String::new()),
        Pem::Indented(n) => ("\n", " ".repeat(n)),
    };
    let mut out = format!("-----BEGIN {label}-----");
    for line in lines {
        out.push_str(nl);
        out.push_str(&indent);
        out.push_str(line);
    }
    out.push_str(nl);
    out.push_str(&indent);
    out.push_str(&format!("-----END {label}-----"));
    out
}

/// A private key block: EC, PKCS#8 (Ed25519, EC), small RSA, OpenSSH or
/// encrypted PKCS#8, from its BEGIN line to its END line.
pub fn private_key(rng: &mut Rng, style: Pem) -> String {
    let (label, prefix, len, width) = match rng.below(6) {
        0 => ("EC PRIVATE KEY", "MHcCAQEEI", 162, 64),
        1 => ("PRIVATE KEY", "MC4CAQAwBQYDK2VwBCIEI", 64, 64),
        2 => (
            "PRIVATE KEY",
            "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg",
            184,
            64,
        ),
        3 => ("RSA PRIVATE KEY", "MIIBOwIBAAJBA", 418, 64),
        4 => (
            "OPENSSH PRIVATE KEY",
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
            396,
            70,
        ),
        _ => (
            "ENCRYPTED PRIVATE KEY",
            "MIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI",
            300,
            64,
        ),
    };
    let lines = pem_body(rng, prefix, len, width);
    pem_join(label, &lines, style)
}

/// A public key or certificate block (not secret).
pub fn public_pem(rng: &mut Rng, style: Pem) -> String {
    let (label, prefix, len) = match rng.below(3) {
        0 => ("PUBLIC KEY", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE", 122),
        1 => ("PUBLIC KEY", "MCowBQYDK2VwAyEA", 60),
        _ => ("CERTIFICATE", "MIIBszCCAVmgAwIBAgIU", 320),
    };
    let lines = pem_body(rng, prefix, len, 64);
    pem_join(label, &lines, style)
}

/// An OpenSSH public key line, ending in `user@host` without a domain.
pub fn ssh_public_key(rng: &mut Rng) -> (String, String) {
    let key = format!(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{}",
        random(rng, B64, 48)
    );
    let who = format!(
        "{}@{}",
        rng.pick(&["jane", "deploy", "ci", "root", "mrossi"]),
        rng.pick(&["laptop", "build-01", "bastion", "macbook-pro", "localhost"])
    );
    (key, who)
}

/// Characters of passwords: no quotes, spaces, `#`, `;`, `&`, `,`, `@`, `:`,
/// `/`, `$`, braces or `=`, so a value's end is never in doubt.
const PASSWORD_CHARS: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!%*+-_.~^";
/// Characters allowed in the password of a URL without escaping.
const URL_PASSWORD_CHARS: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!*";

const WORDS: &[&str] = &[
    "Summer", "Winter", "Falcon", "Orange", "Monday", "Quartz", "Harbor", "Maple", "Rocket",
    "Velvet", "correct", "horse", "battery", "staple", "purple", "tiger",
];

/// A password, 8–24 characters; `url_safe` keeps to characters a URL allows.
pub fn password(rng: &mut Rng, url_safe: bool) -> String {
    let chars = if url_safe {
        URL_PASSWORD_CHARS
    } else {
        PASSWORD_CHARS
    };
    loop {
        let p = match rng.below(5) {
            0 | 1 => {
                let n = rng.range(10, 20);
                random(rng, chars, n)
            }
            2 => format!(
                "{}{}{}",
                rng.pick(WORDS),
                rng.range(1990, 2027),
                rng.pick(&["!", "*", ".", "-", "~"])
            ),
            3 => format!(
                "{}-{}-{}-{}",
                rng.pick(WORDS).to_lowercase(),
                rng.pick(WORDS).to_lowercase(),
                rng.pick(WORDS).to_lowercase(),
                rng.range(10, 99)
            ),
            _ => random(rng, HEX, 16),
        };
        let starts_ok = p.starts_with(|c: char| c.is_ascii_alphanumeric());
        let ends_ok = !p.ends_with('.');
        if starts_ok && ends_ok && p.chars().all(|c| chars.contains(&(c as u8))) {
            return p;
        }
    }
}

/// A generic secret value (not any specific kind): hex, alphanumeric,
/// base64, `key-…`, `SG.….…` or a UUID.
pub fn secret_value(rng: &mut Rng) -> String {
    match rng.below(7) {
        0 => random(rng, HEX, 32),
        1 => random(rng, HEX, 64),
        2 => {
            let n = rng.range(24, 36);
            random(rng, ALNUM, n)
        }
        3 => format!("{}=", random(rng, B64, 43)),
        4 => format!("key-{}", random(rng, HEX, 32)),
        5 => format!("SG.{}.{}", random(rng, B64URL, 22), random(rng, B64URL, 43)),
        _ => uuid(rng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_matches_known_numbers() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("5500 0000 0000 0004"));
        assert!(luhn_valid("378282246310005"));
        assert!(!luhn_valid("4111111111111112"));
        assert_eq!(luhn_digit("411111111111111"), '1');
    }

    #[test]
    fn cards_are_valid_and_branded() {
        let mut rng = Rng::new(1);
        for _ in 0..2000 {
            let c = card(&mut rng);
            let d: String = c.chars().filter(char::is_ascii_digit).collect();
            assert!(luhn_valid(&d), "{c}");
            let ok = match d.len() {
                15 => d.starts_with("34") || d.starts_with("37"),
                16 => {
                    let p2: u32 = d[..2].parse().unwrap_or(0);
                    let p4: u32 = d[..4].parse().unwrap_or(0);
                    d.starts_with('4')
                        || (51..=55).contains(&p2)
                        || (2221..=2720).contains(&p4)
                        || d.starts_with("6011")
                        || d.starts_with("65")
                }
                19 => d.starts_with("62"),
                _ => false,
            };
            assert!(ok, "{c}");
            assert!(!luhn_valid(&luhn_fail_16(&mut rng)));
            let n = non_card_digits(&mut rng);
            assert!(
                (13..=19).contains(&n.len()) && "01789".contains(&n[..1]),
                "{n}"
            );
        }
    }

    #[test]
    fn ibans_check_out() {
        assert!(iban_valid("DE89 3704 0044 0532 0130 00"));
        assert!(iban_valid("GB82WEST12345698765432"));
        assert!(!iban_valid("DE88 3704 0044 0532 0130 00"));
        let mut rng = Rng::new(2);
        for _ in 0..2000 {
            let good = iban(&mut rng);
            assert!(iban_valid(&good), "{good}");
            let bad = bad_iban(&mut rng);
            assert!(!iban_valid(&bad), "{bad}");
        }
    }

    #[test]
    fn ssns_respect_the_ranges() {
        let mut rng = Rng::new(3);
        let parse = |s: &str| -> (u32, u32, u32) {
            let d: String = s.chars().filter(char::is_ascii_digit).collect();
            (
                d[..3].parse().unwrap_or(0),
                d[3..5].parse().unwrap_or(0),
                d[5..].parse().unwrap_or(0),
            )
        };
        for _ in 0..2000 {
            let (a, g, s) = parse(&ssn(&mut rng, "-"));
            assert!(ssn_valid(a, g, s));
            let (a, g, s) = parse(&invalid_ssn(&mut rng, " "));
            assert!(!ssn_valid(a, g, s));
        }
    }

    #[test]
    fn tokens_have_their_shapes() {
        let mut rng = Rng::new(4);
        for _ in 0..500 {
            let id = aws_key_id(&mut rng);
            assert_eq!(id.len(), 20);
            assert!(id[4..].bytes().all(|b| BASE32.contains(&b)));
            assert_eq!(aws_secret(&mut rng).len(), 40);
            let gh = github_token(&mut rng);
            if let Some(rest) = gh.strip_prefix("github_pat_") {
                assert_eq!(rest.len(), 82, "{gh}");
            } else {
                assert_eq!(gh.len(), 40, "{gh}");
                let body = &gh[4..34];
                assert_eq!(&gh[34..], base62(crc32(body.as_bytes()), 6));
            }
            let g = google_api_key(&mut rng);
            assert_eq!(g.len(), 39);
            let j = jwt(&mut rng);
            let parts: Vec<&str> = j.split('.').collect();
            assert_eq!(parts.len(), 3);
            assert!(
                parts[0].starts_with("eyJ") && parts[1].starts_with("eyJ"),
                "{j}"
            );
            assert!(opaque_token(&mut rng).len() >= 20);
            assert!(password(&mut rng, true).len() >= 8);
        }
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(
            b64url(br#"{"alg":"HS256","typ":"JWT"}"#),
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
        );
    }

    #[test]
    fn weekdays_are_right() {
        // 2026-11-23 is a Monday, 2024-02-29 a Thursday.
        assert_eq!(weekday(2026, 11, 23), 0);
        assert_eq!(weekday(2024, 2, 29), 3);
        let w = When {
            y: 2026,
            m: 11,
            d: 23,
            hh: 14,
            mm: 30,
            ss: 0,
        };
        assert_eq!(w.unix(), 1_795_444_200);
    }

    #[test]
    fn private_keys_are_whole_blocks() {
        let mut rng = Rng::new(5);
        for style in [Pem::Plain, Pem::Escaped, Pem::Indented(4)] {
            for _ in 0..50 {
                let k = private_key(&mut rng, style);
                assert!(
                    k.starts_with("-----BEGIN ") && k.ends_with(" PRIVATE KEY-----"),
                    "{k}"
                );
                assert!(k.len() < 600, "{}", k.len());
            }
        }
    }
}
