//! A command line, read without running it: every command it would run
//! (in pipelines, lists, subshells, `$(…)`, `bash -c '…'`, `eval`, function
//! bodies, loops and conditionals), each as the words it would be given, or
//! as an opaque part where the line's meaning depends on something only
//! running it would tell (a variable, a script it reads, a file it sources).
//!
//! The grammar is bash's, read by `brush-parser`, the parser of the `brush`
//! shell. Reading is fail-closed: what this module does not understand is
//! an [`Part::Opaque`], never skipped.

use brush_parser::ast;
use brush_parser::word::{self, WordPiece, WordPieceWithSource};
use brush_parser::{Parser, ParserOptions};

/// Longest command line read, in bytes; a longer one is opaque.
pub const MAX_LINE: usize = 64 * 1024;
/// Deepest nesting read: `bash -c` in `$(…)` in `eval`…, and brackets.
pub const MAX_DEPTH: usize = 8;
/// Most parts one line may give; more is opaque.
pub const MAX_PARTS: usize = 256;
/// Deepest bracket nesting (`(`, `{`, `$(`) accepted before parsing: the
/// parser recurses on it, so a hostile line cannot exhaust the stack.
const MAX_BRACKETS: usize = 64;

/// One word of a command: its value where the line fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// The word's value, quotes and escapes removed.
    Known(String),
    /// The word depends on an expansion (`$VAR`, `~`, `{a,b}`, `$(…)`…);
    /// its text as written.
    Dynamic(String),
}

impl Word {
    /// The value, if known.
    pub fn known(&self) -> Option<&str> {
        match self {
            Self::Known(s) => Some(s),
            Self::Dynamic(_) => None,
        }
    }

    /// The text as written (for a known word, its value).
    pub fn text(&self) -> &str {
        match self {
            Self::Known(s) | Self::Dynamic(s) => s,
        }
    }
}

/// Where a redirection sends or takes data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// `true` for output (`>`, `>>`, `&>`, `<>`), `false` for input (`<`).
    pub writes: bool,
    /// The file.
    pub target: Word,
}

/// A command the line would run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Assignments before it (`A=1 cmd`), as `NAME=value` words.
    pub env: Vec<Word>,
    /// The program and its arguments.
    pub argv: Vec<Word>,
    /// Its redirections to and from files.
    pub redirects: Vec<Redirect>,
    /// Whether its standard input comes from the command before it in a
    /// pipeline, a here-document or a here-string (a shell reading it runs
    /// what it is given).
    pub piped_input: bool,
    /// The command's working directory relative to the line's: `Some("")`
    /// for the same, `Some(path)` after a `cd path`, `None` where a `cd`
    /// went somewhere the line does not fix.
    pub dir: Option<String>,
}

/// One thing a line would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A command, with its words.
    Command(Command),
    /// Something that cannot be read without running the line: why, and
    /// the text it is about.
    Opaque {
        /// Why it cannot be read.
        why: String,
        /// The text, as written.
        text: String,
    },
}

/// Reads `line` into the parts it would run, in order.
pub fn parse(line: &str) -> Vec<Part> {
    let mut reader = Reader::default();
    reader.line(line, 0, false);
    if reader.parts.len() > MAX_PARTS {
        reader.parts.truncate(MAX_PARTS);
        reader.parts.push(Part::Opaque {
            why: format!("the line runs more than {MAX_PARTS} commands"),
            text: clip(line),
        });
    }
    reader.parts
}

/// The first 200 characters of `text`.
pub fn clip(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

#[derive(Default)]
struct Reader {
    parts: Vec<Part>,
    /// The working directory of the next command (see [`Command::dir`]).
    dir: Option<String>,
    /// Set once a `cd` was read: `dir` is meaningful.
    moved: bool,
}

impl Reader {
    fn opaque(&mut self, why: impl Into<String>, text: &str) {
        self.parts.push(Part::Opaque {
            why: why.into(),
            text: clip(text),
        });
    }

    /// Reads a whole command line (also the text of `$(…)`, `bash -c`,
    /// `eval`).
    fn line(&mut self, text: &str, depth: usize, piped: bool) {
        if depth > MAX_DEPTH {
            return self.opaque(format!("nested more than {MAX_DEPTH} levels deep"), text);
        }
        if text.len() > MAX_LINE {
            return self.opaque(format!("longer than {MAX_LINE} bytes"), text);
        }
        if text.contains('\0') {
            return self.opaque("contains a NUL byte", text);
        }
        if bracket_depth(text) > MAX_BRACKETS {
            return self.opaque(
                format!("brackets nested more than {MAX_BRACKETS} deep"),
                text,
            );
        }
        // Compound commands nest without brackets (`if if if …`): the
        // parser recurses on them too.
        let compounds = text
            .split(|c: char| c.is_ascii_whitespace() || c == ';' || c == '&' || c == '|')
            .filter(|w| {
                matches!(
                    *w,
                    "if" | "while" | "until" | "for" | "case" | "select" | "do" | "then"
                )
            })
            .count();
        if compounds > 2 * MAX_BRACKETS {
            return self.opaque(
                format!("more than {} compound commands", 2 * MAX_BRACKETS),
                text,
            );
        }
        let options = ParserOptions::default();
        let mut parser = Parser::new(std::io::Cursor::new(text.as_bytes()), &options);
        match parser.parse_program() {
            Ok(program) => {
                for complete in &program.complete_commands {
                    self.list(complete, depth, piped);
                }
            }
            Err(e) => self.opaque(format!("not a command line bash reads ({e})"), text),
        }
    }

    fn list(&mut self, list: &ast::CompoundList, depth: usize, piped: bool) {
        for ast::CompoundListItem(and_or, _) in &list.0 {
            self.pipeline(&and_or.first, depth, piped);
            for next in &and_or.additional {
                let (ast::AndOr::And(p) | ast::AndOr::Or(p)) = next;
                self.pipeline(p, depth, piped);
            }
        }
    }

    fn pipeline(&mut self, pipeline: &ast::Pipeline, depth: usize, piped: bool) {
        for (i, command) in pipeline.seq.iter().enumerate() {
            self.command(command, depth, piped || i > 0);
        }
    }

    fn command(&mut self, command: &ast::Command, depth: usize, piped: bool) {
        match command {
            ast::Command::Simple(simple) => self.simple(simple, depth, piped),
            ast::Command::Compound(compound, redirects) => {
                // A subshell's `cd` does not outlive it.
                let saved = (self.dir.clone(), self.moved);
                self.compound(compound, depth, piped);
                if matches!(compound, ast::CompoundCommand::Subshell(_)) {
                    (self.dir, self.moved) = saved;
                }
                if let Some(list) = redirects {
                    let mut sink = Vec::new();
                    for r in &list.0 {
                        self.redirect(r, depth, &mut sink);
                    }
                    self.redirect_only(sink);
                }
            }
            ast::Command::Function(f) => {
                // The body is what a call of the function runs: read it
                // where it is defined, whether or not it is called.
                self.compound(&f.body.0, depth, piped);
            }
            ast::Command::ExtendedTest(test, _) => self.test(&test.expr, depth),
        }
    }

    /// Redirections of a compound command, as one command with no program.
    fn redirect_only(&mut self, redirects: Vec<Redirect>) {
        if !redirects.is_empty() {
            self.parts.push(Part::Command(Command {
                env: Vec::new(),
                argv: Vec::new(),
                redirects,
                piped_input: false,
                dir: self.current_dir(),
            }));
        }
    }

    fn test(&mut self, expr: &ast::ExtendedTestExpr, depth: usize) {
        match expr {
            ast::ExtendedTestExpr::And(a, b) | ast::ExtendedTestExpr::Or(a, b) => {
                self.test(a, depth);
                self.test(b, depth);
            }
            ast::ExtendedTestExpr::Not(a) | ast::ExtendedTestExpr::Parenthesized(a) => {
                self.test(a, depth);
            }
            ast::ExtendedTestExpr::UnaryTest(_, w) => {
                // `-v a[i]` evaluates the subscript.
                if w.value.contains('[') {
                    self.opaque("a test evaluates an array subscript", &w.value);
                }
                self.word(w, depth);
            }
            ast::ExtendedTestExpr::BinaryTest(p, a, b) => {
                use ast::BinaryPredicate as B;
                if matches!(
                    p,
                    B::ArithmeticEqualTo
                        | B::ArithmeticNotEqualTo
                        | B::ArithmeticLessThan
                        | B::ArithmeticLessThanOrEqualTo
                        | B::ArithmeticGreaterThan
                        | B::ArithmeticGreaterThanOrEqualTo
                ) {
                    for w in [a, b] {
                        self.arithmetic(&w.value);
                    }
                }
                self.word(a, depth);
                self.word(b, depth);
            }
        }
    }

    fn compound(&mut self, compound: &ast::CompoundCommand, depth: usize, piped: bool) {
        use ast::CompoundCommand as C;
        match compound {
            C::Arithmetic(a) => self.arithmetic(&a.expr.value),
            C::ArithmeticForClause(f) => {
                for e in [&f.initializer, &f.condition, &f.updater]
                    .into_iter()
                    .flatten()
                {
                    self.arithmetic(&e.value);
                }
                self.list(&f.body.list, depth, piped);
            }
            C::BraceGroup(b) => self.list(&b.list, depth, piped),
            C::Subshell(s) => self.list(&s.list, depth, piped),
            C::ForClause(f) => {
                for w in f.values.iter().flatten() {
                    self.word(w, depth);
                }
                self.list(&f.body.list, depth, piped);
            }
            C::CaseClause(c) => {
                self.word(&c.value, depth);
                for item in &c.cases {
                    for p in &item.patterns {
                        self.word(p, depth);
                    }
                    if let Some(list) = &item.cmd {
                        self.list(list, depth, piped);
                    }
                }
            }
            C::IfClause(i) => {
                self.list(&i.condition, depth, piped);
                self.list(&i.then, depth, piped);
                for e in i.elses.iter().flatten() {
                    if let Some(c) = &e.condition {
                        self.list(c, depth, piped);
                    }
                    self.list(&e.body, depth, piped);
                }
            }
            C::WhileClause(w) | C::UntilClause(w) => {
                self.list(&w.0, depth, piped);
                self.list(&w.1.list, depth, piped);
            }
            C::Coprocess(c) => self.command(&c.body, depth, piped),
        }
    }

    /// An arithmetic expression runs what `$(…)` or backquotes in it hold.
    /// Bash evaluates a variable named in arithmetic as arithmetic in turn,
    /// and an array subscript in its value runs what `$(…)` it holds
    /// (`x='a[$(cmd)]'; echo $((x))`): only numbers and operators are
    /// read.
    fn arithmetic(&mut self, text: &str) {
        if !plain_arithmetic(text) {
            self.opaque(
                "an arithmetic expression names a variable or runs a command",
                text,
            );
        }
    }

    fn current_dir(&self) -> Option<String> {
        if self.moved {
            self.dir.clone()
        } else {
            Some(String::new())
        }
    }

    fn simple(&mut self, simple: &ast::SimpleCommand, depth: usize, piped: bool) {
        let mut env = Vec::new();
        let mut argv = Vec::new();
        let mut redirects = Vec::new();
        let mut piped_input = piped;
        let prefix = simple.prefix.iter().flat_map(|p| p.0.iter());
        let suffix = simple.suffix.iter().flat_map(|s| s.0.iter());
        for item in prefix {
            self.item(
                item,
                true,
                depth,
                (&mut env, &mut argv, &mut redirects),
                &mut piped_input,
            );
        }
        if let Some(name) = &simple.word_or_name {
            argv.push(self.word(name, depth));
        }
        for item in suffix {
            self.item(
                item,
                false,
                depth,
                (&mut env, &mut argv, &mut redirects),
                &mut piped_input,
            );
        }
        let dir = self.current_dir();
        match argv.first() {
            Some(Word::Known(p)) if p == "cd" || p == "pushd" || p == "popd" => self.cd(&argv),
            // `eval cd x`, `command cd x`, `builtin cd x`: a `cd` this
            // reader does not follow; later commands run somewhere unknown.
            Some(Word::Known(p))
                if matches!(p.as_str(), "eval" | "command" | "builtin")
                    && argv[1..].iter().any(|w| {
                        w.text()
                            .split(|c: char| c.is_ascii_whitespace() || ";&|()".contains(c))
                            .any(|t| matches!(t, "cd" | "pushd" | "popd"))
                    }) =>
            {
                self.moved = true;
                self.dir = None;
            }
            _ => {}
        }
        self.parts.push(Part::Command(Command {
            env,
            argv,
            redirects,
            piped_input,
            dir,
        }));
    }

    /// One item before or after a command's name.
    fn item(
        &mut self,
        item: &ast::CommandPrefixOrSuffixItem,
        in_prefix: bool,
        depth: usize,
        (env, argv, redirects): (&mut Vec<Word>, &mut Vec<Word>, &mut Vec<Redirect>),
        piped_input: &mut bool,
    ) {
        use ast::CommandPrefixOrSuffixItem as I;
        match item {
            I::Word(w) => argv.push(self.word(w, depth)),
            // `a[i]=v` evaluates the subscript as arithmetic.
            I::AssignmentWord(a, w)
                if matches!(a.name, ast::AssignmentName::ArrayElementName(..)) =>
            {
                self.opaque("an assignment evaluates an array subscript", &w.value);
                env.push(Word::Dynamic(w.value.clone()));
            }
            I::AssignmentWord(_, w) if in_prefix => env.push(self.word(w, depth)),
            // `cmd A=1` passes `A=1` as an argument.
            I::AssignmentWord(_, w) => argv.push(self.word(w, depth)),
            I::IoRedirect(r) => {
                if matches!(
                    r,
                    ast::IoRedirect::HereDocument(..) | ast::IoRedirect::HereString(..)
                ) {
                    *piped_input = true;
                }
                self.redirect(r, depth, redirects);
            }
            I::ProcessSubstitution(_, sub) => {
                self.list(&sub.list, depth + 1, false);
                argv.push(Word::Dynamic("<(…)".into()));
            }
        }
    }

    /// Follows `cd DIR` for the commands after it.
    fn cd(&mut self, argv: &[Word]) {
        let target = match argv {
            [Word::Known(p), Word::Known(d)] if p == "cd" && !d.starts_with('-') => Some(d),
            _ => None,
        };
        let before = self.current_dir();
        self.moved = true;
        self.dir = match (before, target) {
            (Some(_), Some(d)) if d.starts_with('/') => Some(d.clone()),
            (Some(base), Some(d)) if base.is_empty() => Some(d.clone()),
            (Some(base), Some(d)) => Some(format!("{base}/{d}")),
            _ => None,
        };
    }

    fn redirect(&mut self, r: &ast::IoRedirect, depth: usize, out: &mut Vec<Redirect>) {
        use ast::IoFileRedirectKind as K;
        match r {
            ast::IoRedirect::File(_, kind, target) => {
                let writes = match kind {
                    K::Read => false,
                    K::Write | K::Append | K::ReadAndWrite | K::Clobber => true,
                    // `>&2`, `<&0`: descriptors, not files.
                    K::DuplicateInput | K::DuplicateOutput => return,
                };
                match target {
                    ast::IoFileRedirectTarget::Filename(w) => {
                        let target = self.word(w, depth);
                        out.push(Redirect { writes, target });
                    }
                    ast::IoFileRedirectTarget::ProcessSubstitution(_, sub) => {
                        self.list(&sub.list, depth + 1, false);
                    }
                    ast::IoFileRedirectTarget::Fd(_) => {}
                    ast::IoFileRedirectTarget::Duplicate(w) => {
                        // `>&file` writes to a file unless it names a
                        // descriptor.
                        let target = self.word(w, depth);
                        if !target
                            .known()
                            .is_some_and(|t| t == "-" || t.bytes().all(|b| b.is_ascii_digit()))
                        {
                            out.push(Redirect { writes, target });
                        }
                    }
                }
            }
            ast::IoRedirect::OutputAndError(w, _) => {
                let target = self.word(w, depth);
                out.push(Redirect {
                    writes: true,
                    target,
                });
            }
            ast::IoRedirect::HereDocument(_, doc) => {
                if doc.requires_expansion {
                    self.expansions(&doc.doc.value, depth, true);
                }
            }
            ast::IoRedirect::HereString(_, w) => {
                self.word(w, depth);
            }
        }
    }

    /// The command substitutions of a here-document's body.
    fn expansions(&mut self, text: &str, depth: usize, heredoc: bool) {
        let options = ParserOptions::default();
        let pieces = if heredoc {
            word::parse_heredoc(text, &options)
        } else {
            word::parse(text, &options)
        };
        match pieces {
            Ok(pieces) => {
                let mut value = String::new();
                self.pieces(&pieces, depth, &mut value);
            }
            Err(e) => self.opaque(format!("a word bash reads differently ({e})"), text),
        }
    }

    /// One word: its value where it is fixed, reading the commands its
    /// substitutions run.
    fn word(&mut self, w: &ast::Word, depth: usize) -> Word {
        let options = ParserOptions::default();
        match word::parse(&w.value, &options) {
            Ok(pieces) => {
                let mut value = String::new();
                if self.pieces(&pieces, depth, &mut value) && !has_brace_expansion(&pieces) {
                    Word::Known(value)
                } else {
                    Word::Dynamic(w.value.clone())
                }
            }
            Err(e) => {
                self.opaque(format!("a word bash reads differently ({e})"), &w.value);
                Word::Dynamic(w.value.clone())
            }
        }
    }

    /// Appends the pieces' value to `value`; `false` if some piece is only
    /// known when run.
    fn pieces(&mut self, pieces: &[WordPieceWithSource], depth: usize, value: &mut String) -> bool {
        let mut known = true;
        for p in pieces {
            match &p.piece {
                WordPiece::Text(t) | WordPiece::SingleQuotedText(t) => value.push_str(t),
                WordPiece::EscapeSequence(e) => {
                    // `\x` is `x`; a backslash-newline joins lines.
                    let rest = e.strip_prefix('\\').unwrap_or(e);
                    if rest != "\n" {
                        value.push_str(rest);
                    }
                }
                WordPiece::AnsiCQuotedText(t) => match ansi_c(t) {
                    Some(s) => value.push_str(&s),
                    None => known = false,
                },
                WordPiece::DoubleQuotedSequence(inner)
                | WordPiece::GettextDoubleQuotedSequence(inner) => {
                    known &= self.pieces(inner, depth, value);
                }
                WordPiece::TildeExpansion(_) => known = false,
                WordPiece::ParameterExpansion(e) => {
                    // `${x:-$(cmd)}`, `${x/$(cmd)/y}`: a parameter
                    // expression holds words of its own, read only when
                    // run.
                    let text = format!("{e:?}");
                    if text.contains("$(") || text.contains('`') || text.contains("<(") {
                        self.opaque("a parameter expansion runs a command", &text);
                    } else if text.contains("Substring {") || text.contains("NamedWithIndex {") {
                        // `${v:x}`, `${a[x]}`: offsets and subscripts are
                        // arithmetic (see `arithmetic`).
                        self.opaque("a parameter expansion evaluates arithmetic", &text);
                    }
                    known = false;
                }
                WordPiece::CommandSubstitution(c) | WordPiece::BackquotedCommandSubstitution(c) => {
                    self.line(c, depth + 1, false);
                    known = false;
                }
                WordPiece::ArithmeticExpression(a) => {
                    self.arithmetic(&a.value);
                    known = false;
                }
            }
        }
        known
    }
}

/// Whether `text` is arithmetic of numbers and operators only.
fn plain_arithmetic(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || b" \t+-*/%()<>=!&|^~?:,".contains(&b))
}

/// Whether an unquoted piece holds a brace expansion (`{a,b}`, `{1..3}`):
/// one word becomes several.
fn has_brace_expansion(pieces: &[WordPieceWithSource]) -> bool {
    pieces.iter().any(|p| match &p.piece {
        WordPiece::Text(t) => t.contains('{') && (t.contains(',') || t.contains("..")),
        _ => false,
    })
}

/// The value of `$'…'` text, where it is plain: escapes other than the
/// common ones are left unknown.
fn ansi_c(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            // `\x67`, octal, `\u`: a way to spell `git` without writing it.
            _ => return None,
        }
    }
    Some(out)
}

/// The deepest nesting of `(`, `{` and `[` in `text`, not counting quotes.
fn bracket_depth(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for b in text.bytes() {
        match b {
            b'(' | b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b')' | b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}
