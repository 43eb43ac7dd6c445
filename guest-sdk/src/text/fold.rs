//! What one non-ASCII character becomes in a scanner's view: digits of any
//! script, compatibility forms (NFKC) and look-alikes (UTS #39 confusables)
//! of ASCII become that ASCII; invisible characters are dropped.

use super::MASK_SYMBOL;
use super::fold_table::FOLD;

/// Stands for a non-ASCII letter or number: a word character that matches no
/// ASCII class a scanner looks for (it is not a hex digit).
pub const OTHER_LETTER: u8 = b'g';
/// Stands for a non-ASCII character that is neither a letter nor a digit.
pub const OTHER_SYMBOL: u8 = 0x01;

/// First code point of each run of ten decimal digits (`0`..`9`) outside
/// ASCII: the Unicode `Nd` blocks of the scripts in current use, full-width
/// digits and the mathematical alphanumeric digits.
const DIGIT_ZEROS: &[u32] = &[
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
    0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// The ASCII digit a non-ASCII decimal digit stands for.
pub(super) fn decimal_digit(c: char) -> Option<u8> {
    let cp = u32::from(c);
    let i = DIGIT_ZEROS
        .partition_point(|&zero| zero <= cp)
        .checked_sub(1)?;
    let offset = cp - DIGIT_ZEROS[i];
    (offset < 10).then(|| b'0' + offset as u8)
}

/// Characters that render as nothing and are dropped.
pub(super) fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
    )
}

/// What one non-ASCII character becomes, or `None` when it is dropped.
pub(super) fn fold(c: char) -> Option<u8> {
    if is_invisible(c) {
        return None;
    }
    if let Some(d) = decimal_digit(c) {
        return Some(d);
    }
    let cp = u32::from(c);
    if (0xFF01..=0xFF5E).contains(&cp) {
        return Some((cp - 0xFF01 + 0x21) as u8);
    }
    if matches!(cp, 0x2010..=0x2015 | 0x2212 | 0xFE58 | 0xFE63) {
        return Some(b'-');
    }
    if c.is_whitespace() {
        return Some(b' ');
    }
    if matches!(c, '…' | '•' | '●' | '∙' | '·' | '⋯') {
        return Some(MASK_SYMBOL);
    }
    if let Some(a) = look_alike(cp) {
        return Some(a);
    }
    if c.is_alphanumeric() {
        return Some(OTHER_LETTER);
    }
    Some(OTHER_SYMBOL)
}

/// The ASCII character `cp` is a compatibility form or a look-alike of,
/// from [`FOLD`].
fn look_alike(cp: u32) -> Option<u8> {
    let i = FOLD.partition_point(|&e| e >> 8 < cp);
    FOLD.get(i)
        .filter(|&&e| e >> 8 == cp)
        .map(|&e| (e & 0xFF) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_normalization::UnicodeNormalization;
    use unicode_security::confusable_detection::skeleton;

    /// Set to `1` to rewrite `fold_table.rs` from the Unicode crates.
    const REGENERATE: &str = "PALISADE_REGENERATE_FOLD";

    /// One printable ASCII character, if `s` is exactly that.
    fn single_ascii(s: &str) -> Option<u8> {
        let mut it = s.chars();
        match (it.next(), it.next()) {
            (Some(a), None) if a.is_ascii_graphic() => Some(a as u8),
            _ => None,
        }
    }

    /// What the table maps `c` to: its NFKC form when that is one ASCII
    /// character (`ｐ`, `𝐩`, `ⓟ`), else its UTS #39 skeleton when that is
    /// (`р` Cyrillic, `ρ` Greek). A skeleton `l` of an uppercase letter is
    /// `I` (`І`, `Ι`): the skeleton folds `I` and `l` together, a keyword
    /// match must not. Characters [`fold`] handles before the table
    /// (invisible ones, digits, spaces) are left out.
    fn target(c: char) -> Option<u8> {
        if c.is_ascii()
            || is_invisible(c)
            || decimal_digit(c).is_some()
            || c.is_whitespace()
            || matches!(c, '…' | '•' | '●' | '∙' | '·' | '⋯')
        {
            return None;
        }
        let nfkc: String = std::iter::once(c).nfkc().collect();
        if let Some(a) = single_ascii(&nfkc) {
            return Some(a);
        }
        let s: String = skeleton(&nfkc).collect();
        // Skeletons that are letters outside ASCII but read as ASCII ones:
        // Greek `ε` and Cyrillic `є` have the skeleton `ꞓ`, `τ` has `ᴛ`, `κ`
        // has `ĸ`.
        let s = match s.as_str() {
            "ꞓ" | "ɛ" => "e".to_owned(),
            "ᴛ" => "t".to_owned(),
            "ĸ" => "k".to_owned(),
            "ɩ" => "i".to_owned(),
            "ɑ" => "a".to_owned(),
            _ => s,
        };
        let a = single_ascii(&s)?;
        Some(if a == b'l' && c.is_uppercase() {
            b'I'
        } else {
            a
        })
    }

    fn generated() -> Vec<u32> {
        (0x80..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter_map(|c| target(c).map(|a| (u32::from(c) << 8) | u32::from(a)))
            .collect()
    }

    #[test]
    fn fold_table_is_what_the_unicode_crates_say() {
        let table = generated();
        if std::env::var_os(REGENERATE).is_some_and(|v| v == "1") {
            let mut out = String::from(
                "//! Generated by `fold_table_is_what_the_unicode_crates_say` in `fold.rs`\n\
                 //! (`PALISADE_REGENERATE_FOLD=1 cargo test -p palisade-guest fold_table`):\n\
                 //! each entry is a code point shifted left by 8, or-ed with the ASCII\n\
                 //! character it folds to; sorted.\n\n\
                 /// Non-ASCII characters that fold to one ASCII character.\n",
            );
            out.push_str(&format!(
                "pub(super) static FOLD: [u32; {}] = [\n",
                table.len()
            ));
            for row in table.chunks(8) {
                let row: Vec<String> = row.iter().map(|e| format!("0x{e:08X}")).collect();
                out.push_str(&format!("    {},\n", row.join(", ")));
            }
            out.push_str("];\n");
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/text/fold_table.rs");
            std::fs::write(path, out).expect("write fold_table.rs");
            return;
        }
        assert!(
            FOLD.as_slice() == table.as_slice(),
            "src/text/fold_table.rs is stale: run `{REGENERATE}=1 cargo test -p palisade-guest fold_table`"
        );
    }

    #[test]
    fn look_alikes_and_compatibility_forms_fold_to_ascii() {
        let f = |s: &str| -> String {
            s.chars()
                .map(|c| if c.is_ascii() { Some(c as u8) } else { fold(c) })
                .map(|b| b.map_or('~', char::from))
                .collect()
        };
        // Cyrillic and Greek letters of `password`, `Bearer`, `AUTHORIZATION`.
        assert_eq!(f("раѕѕwоrd"), "password");
        assert_eq!(f("Веаrеr"), "Bearer");
        assert_eq!(f("АUТНОRІΖАТІОN"), "AUTHORIZATION");
        assert_eq!(f("ѕесrеt"), "secret");
        assert_eq!(f("Beαrεr"), "Bearer");
        // Compatibility forms.
        assert_eq!(f("𝐩𝐚𝐬𝐬"), "pass");
        assert_eq!(f("ⓟⓦ"), "pw");
        // Other letters stay other letters.
        assert_eq!(f("éж"), "gg");
    }
}
