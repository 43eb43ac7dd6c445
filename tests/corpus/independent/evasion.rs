//! Encoders of the evasion techniques: each turns a plain value (or a key
//! word) into its disguised original.

use super::kind as k;
use super::rng::Rng;

/// `value` broken once by `brk` (a line break and a prefix): at a group
/// separator when it has one (half the time), otherwise between two
/// non-space characters.
pub fn wrap(rng: &mut Rng, value: &str, brk: &str) -> String {
    let seps: Vec<usize> = value
        .char_indices()
        .filter(|&(i, c)| c == ' ' && i > 0 && i + 1 < value.len())
        .map(|(i, _)| i)
        .collect();
    if !seps.is_empty() && rng.chance(50) {
        let at = seps[rng.below(seps.len())];
        return format!("{}{brk}{}", &value[..at], &value[at + 1..]);
    }
    let cuts: Vec<usize> = value
        .char_indices()
        .map(|(i, _)| i)
        .filter(|&i| {
            i >= 2 && i + 2 <= value.len() && {
                let before = value[..i].chars().next_back().unwrap_or(' ');
                let after = value[i..].chars().next().unwrap_or(' ');
                before != ' ' && after != ' '
            }
        })
        .collect();
    let at = cuts[rng.below(cuts.len())];
    format!("{}{brk}{}", &value[..at], &value[at..])
}

fn u_escape(c: char, upper: bool) -> String {
    if upper {
        format!("\\u{:04X}", c as u32)
    } else {
        format!("\\u{:04x}", c as u32)
    }
}

/// `value` as written inside a JSON string with escapes: `\u0040`,
/// `\u0020`, `\u002d`, `\/`, some letters as `\u00XX`; never `\"` or `\\`.
pub fn json_escape(rng: &mut Rng, value: &str) -> String {
    let upper = rng.chance(30);
    loop {
        let mut out = String::new();
        let mut escaped = 0;
        for c in value.chars() {
            let esc = match c {
                '@' | ' ' => true,
                '-' | '.' | '+' => rng.chance(60),
                '/' => {
                    out.push_str("\\/");
                    escaped += 1;
                    continue;
                }
                c if c.is_ascii_alphabetic() => rng.chance(6),
                _ => false,
            };
            if esc {
                out.push_str(&u_escape(c, upper));
                escaped += 1;
            } else {
                out.push(c);
            }
        }
        if escaped > 0 {
            return out;
        }
    }
}

/// `value` percent-encoded as a browser or HTTP client would (spaces as
/// `%20`, or `+` in a third of the values).
pub fn percent(rng: &mut Rng, value: &str) -> String {
    let plus = rng.chance(30);
    let dash = rng.chance(30);
    let mut out = String::new();
    for c in value.chars() {
        match c {
            ' ' if plus => out.push('+'),
            '-' if dash => out.push_str("%2D"),
            ' ' | '@' | '+' | ':' | '!' | '#' | '/' | '=' | '$' | '?' | '%' | '&' | ',' | ';' => {
                out.push_str(&format!("%{:02X}", c as u32));
            }
            _ => out.push(c),
        }
    }
    out
}

/// `value` with HTML character references (`&#64;`, `&commat;`, `&nbsp;`, …).
pub fn html(rng: &mut Rng, value: &str) -> String {
    loop {
        let mut out = String::new();
        let mut n = 0;
        let nbsp = rng.s(&["&nbsp;", "&#160;", "&#32;", "&#x20;"]);
        let last = value.chars().count() - 1;
        for (i, c) in value.chars().enumerate() {
            let r = match c {
                '@' => Some(rng.s(&["&#64;", "&#x40;", "&commat;", "&#X40;"]).to_owned()),
                '.' if rng.chance(40) => Some(rng.s(&["&period;", "&#46;", "&#x2e;"]).to_owned()),
                ' ' => Some(nbsp.to_owned()),
                '-' => Some(rng.s(&["&#45;", "&#x2d;", "&#x2D;"]).to_owned()),
                '+' => Some(rng.s(&["&#43;", "&plus;"]).to_owned()),
                c if c.is_ascii_digit() && i < last && rng.chance(4) => {
                    Some(format!("&#{};", c as u32))
                }
                _ => None,
            };
            match r {
                Some(s) => {
                    out.push_str(&s);
                    n += 1;
                }
                None => out.push(c),
            }
        }
        if n > 0 {
            return out;
        }
    }
}

/// Zero-width characters and soft hyphens inside.
const INVISIBLE: &[char] = &[
    '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{00AD}', '\u{FEFF}',
];

/// `value` with invisible characters inside, or its digits in another
/// script (full-width, Arabic-Indic, Devanagari).
pub fn invisible(rng: &mut Rng, kind: &str, value: &str) -> String {
    let digity = [k::CREDIT_CARD, k::SSN, k::PHONE, k::IBAN].contains(&kind);
    if digity && rng.chance(55) {
        let base = *rng.pick(&[0xFF10u32, 0x0660, 0x06F0, 0x0966]);
        return value
            .chars()
            .map(|c| match c.to_digit(10) {
                Some(d) => char::from_u32(base + d).unwrap_or(c),
                None => c,
            })
            .collect();
    }
    if kind == k::EMAIL && rng.chance(30) {
        return value.replace('@', "\u{FF20}");
    }
    let chars: Vec<char> = value.chars().collect();
    let zw = *rng.pick(INVISIBLE);
    let count = rng.range(1, 2);
    let mut at: Vec<usize> = (0..count).map(|_| rng.range(1, chars.len() - 1)).collect();
    at.sort_unstable();
    at.dedup();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if at.contains(&i) {
            out.push(zw);
        }
        out.push(*c);
    }
    out
}

/// Look-alike of an ASCII letter: Cyrillic or Greek.
fn lookalike(rng: &mut Rng, c: char) -> Option<char> {
    let options: &[char] = match c {
        'a' => &['\u{0430}', '\u{03B1}'],
        'e' => &['\u{0435}', '\u{03B5}'],
        'o' => &['\u{043E}', '\u{03BF}'],
        'p' => &['\u{0440}', '\u{03C1}'],
        'c' => &['\u{0441}'],
        'x' => &['\u{0445}'],
        'y' => &['\u{0443}'],
        'i' => &['\u{0456}'],
        's' => &['\u{0455}'],
        'j' => &['\u{0458}'],
        'A' => &['\u{0410}', '\u{0391}'],
        'B' => &['\u{0412}'],
        'E' => &['\u{0415}'],
        'K' => &['\u{041A}'],
        'M' => &['\u{041C}'],
        'H' => &['\u{041D}'],
        'O' => &['\u{041E}', '\u{039F}'],
        'P' => &['\u{0420}'],
        'C' => &['\u{0421}'],
        'T' => &['\u{0422}'],
        'X' => &['\u{0425}'],
        'I' => &['\u{0399}'],
        'S' => &['\u{0405}'],
        _ => &[],
    };
    (!options.is_empty()).then(|| options[rng.below(options.len())])
}

/// `word` with one to three letters replaced by look-alikes, or (a fifth of
/// the time) written in full-width letters.
pub fn confusable(rng: &mut Rng, word: &str) -> String {
    if rng.chance(20) {
        return word
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() {
                    char::from_u32(c as u32 + 0xFEE0).unwrap_or(c)
                } else {
                    c
                }
            })
            .collect();
    }
    let chars: Vec<char> = word.chars().collect();
    let candidates: Vec<usize> = (0..chars.len())
        .filter(|&i| lookalike(&mut Rng::new(0), chars[i]).is_some())
        .collect();
    let n = rng.range(1, 3).min(candidates.len());
    let mut out = chars.clone();
    for _ in 0..n {
        let i = candidates[rng.below(candidates.len())];
        if let Some(l) = lookalike(rng, chars[i]) {
            out[i] = l;
        }
    }
    if out == chars {
        let i = candidates[0];
        out[i] = lookalike(rng, chars[i]).unwrap_or(chars[i]);
    }
    out.into_iter().collect()
}
