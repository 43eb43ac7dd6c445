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
