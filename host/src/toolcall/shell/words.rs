//! What mapping one command needs besides its words: where it runs, and
//! reading its options.

use super::Shell;
use super::parse::Word;

/// Where a command runs, as mapping needs it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Here<'a> {
    pub shell: &'a Shell<'a>,
    /// The absolute working directory, if known.
    pub dir: Option<&'a str>,
    /// Whether it is the line's own working directory (where the caller's
    /// workspace applies).
    pub same_dir: bool,
    /// Whether the command's input is another command's output or a here
    /// document.
    pub piped_input: bool,
    /// Run through `sudo` or `doas`.
    pub privileged: bool,
    /// How deep in `bash -c`, `eval`… the command is.
    pub depth: usize,
}

/// Whether one of `flags` is among `args` (before a `--`).
pub(super) fn has_flag(args: &[Word], flags: &[&str]) -> bool {
    args.iter()
        .map_while(|a| a.known().filter(|a| *a != "--"))
        .any(|a| {
            flags.contains(&a)
                || flags.iter().any(|f| {
                    f.len() == 2
                        && a.starts_with('-')
                        && !a.starts_with("--")
                        && a[1..].contains(&f[1..])
                })
        })
}

/// The words after the leading options (those in `with_value` take the
/// next word), or `None` when an option is only known when run.
pub(super) fn skip_options<'w>(args: &'w [Word], with_value: &[&str]) -> Option<&'w [Word]> {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let a = a.known()?;
        if a == "--" {
            return Some(&args[i + 1..]);
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        i += if with_value.contains(&a) { 2 } else { 1 };
    }
    Some(args.get(i..).unwrap_or(&[]))
}

/// Like [`skip_options`] for a wrapper that runs the words after its
/// options: only the options it lists are skipped (`with_value` take the
/// next word, or `--opt=value`, or a short one's attached `-oL`; `no_value`
/// alone, or combined `-En`; `-#` in `no_value` accepts `-5`). Any other
/// option gives `None`: a value the wrapper reads could be taken for the
/// program (`time -o echo git push` runs git).
pub(super) fn skip_strict<'w>(
    args: &'w [Word],
    with_value: &[&str],
    no_value: &[&str],
) -> Option<&'w [Word]> {
    let mut i = 0;
    while let Some(w) = args.get(i) {
        let a = w.known()?;
        if a == "--" {
            return Some(&args[i + 1..]);
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        let short = !a.starts_with("--") && a.len() > 2;
        if with_value.contains(&a) {
            i += 2;
        } else if no_value.contains(&a)
            || a.split_once('=')
                .is_some_and(|(o, _)| with_value.contains(&o))
            || (short && a.get(..2).is_some_and(|o| with_value.contains(&o)))
            || (short
                && a[1..]
                    .chars()
                    .all(|c| no_value.contains(&format!("-{c}").as_str())))
            || (no_value.contains(&"-#") && a[1..].bytes().all(|b| b.is_ascii_digit()))
        {
            i += 1;
        } else {
            return None;
        }
    }
    Some(args.get(i..).unwrap_or(&[]))
}
