//! Masking plugin for credentials: cloud and SaaS keys, tokens, JWTs,
//! private keys, passwords and other secrets.
//!
//! # How a text is read
//!
//! The text is folded with [`Normalized`] (full-width ASCII becomes ASCII,
//! Unicode dashes `-`, Unicode spaces ` `, zero-width characters are
//! dropped, other non-ASCII letters and digits stand for a letter), read once
//! from start to end, and every span found is mapped back to the original
//! text. A span covers the characters that made up the match and the
//! invisible characters dropped between them, never those just before or
//! after it. Offsets are in bytes; rules below speak of the folded text.
//!
//! A *word character* is an ASCII letter or digit (or a non-ASCII letter or
//! digit). A token is *not glued* before when the character before it is not
//! a word character (or it starts the text). Matching is case-sensitive
//! unless a rule says "any case".
//!
//! # Kinds
//!
//! Each kind below, with what its span covers.
//!
//! * `aws_access_key_id`: one of `AKIA ASIA ABIA ACCA AGPA AIDA AROA AIPA
//!   ANPA ANVA APKA` and 16 of `[A-Z2-7]`, not glued before and not followed
//!   by a word character. Span: the 20 characters.
//! * `aws_secret_access_key`: exactly 40 of `[A-Za-z0-9/+]`, not preceded by
//!   one of them and not followed by one of `[A-Za-z0-9/+=]`, with at least
//!   one digit, one lowercase and one uppercase letter, and starting at most
//!   48 bytes after the end of an AWS key name or at most 160 bytes after
//!   the end of an `aws_access_key_id`. An AWS key name is `secret` (any
//!   case, at a word's start or inside an assignment's key) that is
//!   preceded by `aws`, `aws_`, `aws-` or `aws ` or followed by
//!   `_access_key`, `accesskey`, `-access-key` or ` access key` (any case;
//!   the name ends after that suffix when there is one):
//!   `aws_secret_access_key`, `AWS_SECRET`, `SecretAccessKey`,
//!   `--secret-access-key`, `AWS Secret Access Key`. Span: the 40
//!   characters. A bare 40-character base64 string is not reported (too many
//!   false positives); git SHAs are hex, without uppercase.
//! * `github_token`: `gh` + one of `pousr` + `_` + 36 to 255 of
//!   `[A-Za-z0-9]`, not followed by a word character; or `github_pat_` + 22
//!   or more of `[A-Za-z0-9_]` (all of them). Not glued before. Span: the
//!   whole token, prefix included.
//! * `slack_token`: `xox` + one of `abposre` + `-`, or `xapp-`, then 10 or
//!   more of `[A-Za-z0-9-]` (all of them), not glued before. Span: the whole
//!   token. Also the webhook URL `…://hooks.slack.com/services/T…/B…/…`
//!   (host in any case): span from the `T` to the end of the third segment,
//!   each segment being `[A-Za-z0-9]+` (the first starting with `T`, the
//!   second with `B`).
//! * `stripe_key`: `sk_` or `rk_`, then `live_` or `test_`, then 10 to 247
//!   of `[A-Za-z0-9]`, not followed by a word character; or `whsec_` and 20
//!   or more of `[A-Za-z0-9]` (all of them). Not glued before. Span: the
//!   whole token. Publishable keys (`pk_live_…`, `pk_test_…`) are public by
//!   design and never reported, not even as the value of a secret-naming
//!   key or after `Bearer`.
//! * `google_api_key`: `AIza` + exactly 35 of `[A-Za-z0-9_-]`, not glued
//!   before and not followed by one of `[A-Za-z0-9_-]`. Span: the 39
//!   characters.
//! * `anthropic_api_key`: `sk-ant-` and 32 or more of `[A-Za-z0-9_-]`, at
//!   a word's start. Span: the whole key.
//! * `openai_api_key`: `sk-proj-`, `sk-svcacct-`, `sk-admin-` or `sk-None-`
//!   and 40 or more of `[A-Za-z0-9_-]`; or `sk-` and exactly 48 of
//!   `[A-Za-z0-9]` with `T3BlbkFJ` among them (the legacy format). At a
//!   word's start. Span: the whole key.
//! * `gitlab_token`: `glpat-`, `gldt-`, `glrt-`, `glptt-`, `gloas-`,
//!   `glcbt-`, `glimt-`, `glft-`, `glsoat-`, `glagent-`, `glffct-` or
//!   `glwt-`, or the runner registration prefix `GR1348941`, then 20 or more
//!   of `[A-Za-z0-9_-]` and any `.`-joined segments after them. At a word's
//!   start. Span: the whole token.
//! * `npm_token`: `npm_` and exactly 36 of `[A-Za-z0-9]`, not glued before
//!   or after.
//! * `pypi_token`: `pypi-AgE` and 60 or more of `[A-Za-z0-9_-]`, not glued
//!   before.
//! * `azure_key`: the value of an `AccountKey` or `SharedAccessKey`
//!   assignment (any case; connection strings are `;`-separated
//!   assignments) when it is 40 or more bytes of base64; and a Microsoft
//!   Entra client secret anywhere: three of `[A-Za-z0-9_~.-]`, a digit,
//!   `Q~`, 31 to 34 of them, not glued to one of them on either side.
//! * `jwt`: a header `eyJ…`, `.`, a payload `eyJ…`, each a run of at least
//!   10 of `[A-Za-z0-9_-]` (`eyJ` included), the header not preceded by one
//!   of `[A-Za-z0-9_-]`; then, when a `.` follows the payload, that `.` and
//!   the signature, `[A-Za-z0-9_-]*`. Span: from the header to the end of
//!   the signature (to the second `.` when the signature is empty, to the
//!   end of the payload when there is no second `.`: a truncated token still
//!   carries its claims).
//! * `private_key`: `-----BEGIN ` + a label of `[A-Z0-9 ]` ending with
//!   `PRIVATE KEY` or `PRIVATE KEY BLOCK` (`RSA`, `EC`, `DSA`, `OPENSSH`,
//!   `ENCRYPTED`, `PGP`, none) + `-----`. Span: from the first `-` of the
//!   BEGIN line to the last `-` of the first `-----END <label>-----` after
//!   it whose label also ends that way, or to the end of the text when
//!   there is none (fail closed). The markers need not be on lines of their
//!   own: a JSON-escaped key (`\n` for newlines) is found the same way.
//!   `PUBLIC KEY` and `CERTIFICATE` blocks are not reported.
//! * `bearer_token`: `bearer` (any case) not glued before, one or more
//!   spaces or tabs, then 16 or more of `[A-Za-z0-9._~+/=-]` or `_` (RFC
//!   6750). Span: the token only (all of those characters), not the word
//!   `Bearer`.
//! * `password`:
//!   * a `.netrc` entry's `password VALUE` (lowercase, after `login` and
//!     `machine` or `default` within the 256 bytes before); a `.pgpass`
//!     line's last field (`host:port:database:user:password`, at the start
//!     of its line, no blanks, the port digits or `*`); SQL's
//!     `IDENTIFIED BY 'VALUE'`; curl's `-u user:VALUE` and
//!     `--user user:VALUE`;
//!   * the password of a URL: after `://`, the authority runs to the first
//!     `/`, whitespace or quote (or the end); when it has an `@` and a `:`
//!     before its last `@`, the password runs from after the first `:` to
//!     the last `@` (so it may contain `:` and `@`). Userinfo without `:`
//!     has no password. Span: the password, of any length; not reported
//!     when empty, only `*`/`x`/`X`, or a placeholder (see below);
//!   * the value of an assignment whose key names a password (below).
//! * `secret`: the value of an assignment whose key names a secret (below).
//!
//! # Assignments
//!
//! * Operators: `=`, `:`, `:=`, `=>`; not `==`, `!=`, `<=`, `>=`, `::` or
//!   `://`. Forms: `key=value`, `key = value`, `key: value`,
//!   `"key": "value"`, `'key' => 'value'`, `key="value"`,
//!   `config['key'] = value`, `?key=value&`, `export KEY=value`, YAML
//!   `key: value`, JSON-escaped `\"key\": \"value\"`. Also command-line
//!   options `--key value`: `--` after whitespace, a quote or the start of
//!   the text, the key, blanks, and a value that does not start with `-`;
//!   a value of only letters, `_` and `-` is reported only when it has 12
//!   characters or more and a lowercase letter (so help texts such as
//!   `--password PASSWORD` or prose such as `the --token flag` are not).
//! * The key is what ends just before the operator (up to 32 blanks away):
//!   up to 64 of `[A-Za-z0-9_.-]`, possibly closed by a quote (then blanks
//!   may be inside it, `"AWS Secret Key"`) and a `]`. Prefixes such as `$`,
//!   `--`, `export ` are not part of it.
//! * The key is split into words at every character that is not a letter
//!   or digit and between a lowercase and an uppercase letter
//!   (`dbPassword`); trailing digits of a word are ignored (`password2`).
//!   The key names a secret when its **last word** is a secret word, or
//!   when the words after the secret word are one or two of `key`, `value`,
//!   `val`, `str`, `string`, `text`, `plain`, `plaintext`, `raw`, `hash`,
//!   `base`, `hex`, `enc`, `encrypted`, `data`, `confirm`, `confirmation`
//!   (or `id` right after `secret`, as in Vault's `secret_id`). Secret words:
//!   * password: a word ending with `password`, `passwords`, `passwd`,
//!     `passphrase` or `pwd`, or the words `pass` and `pw` (`DB_PASS`,
//!     `DB_PW`; not `bypass`, `compass`);
//!   * secret: a word ending with `secret`, `secrets`, `token`, `apikey`,
//!     `accesskey`, `privatekey`, `credential`, `credentials` or
//!     `authorization`; the word `auth` (not `oauth`, `author`); `key` right
//!     after a word ending with `api`, `access`, `private` or `account`
//!     (`x-api-key`, `AWS_ACCESS_KEY`, `private_key`, `AccountKey`).
//!
//!   So `DB_PASSWORD`, `user.password`, `"password"`, `client_secret`,
//!   `GITHUB_TOKEN`, `X-Auth-Token`, `Authorization`, `SECRET_KEY_BASE`,
//!   `password_hash` name secrets, and `token_count`, `max_tokens`,
//!   `tokens_used`, `token_type`, `token_url`, `token_id`,
//!   `password_policy`, `password_file`, `passwordless`, `auth_method`,
//!   `author`, `secretName`, `private_key_id` do not.
//! * The value follows the operator after blanks (not on the next line).
//!   A quoted value (`"`, `'`, `` ` ``, an escaped `\"`, or a string with a
//!   prefix such as `f"…"`, `r'…'`, `b"…"`) runs to the matching unescaped
//!   quote, or to the end of the line when there is none. An unquoted value
//!   runs to whitespace, one of `, ; & } ) ]`, a quote that closes a string
//!   around the assignment (followed by the end, whitespace, one of those,
//!   another quote or `>`), or an escaped quote. After `key:` (no blank), a
//!   quote that closes a string in the same way means there is no value
//!   (`curl -u "$STRIPE_SECRET_KEY:" …`). An unquoted value starting with
//!   `{` or `[` is an object or a list: its members are assignments of their
//!   own. A leading `Bearer` (any case) and blanks are skipped: the value
//!   is what follows. When the key's secret word is `auth` or ends in
//!   `authorization`, so are the schemes `Basic`, `Token`, `Bot` and
//!   `Digest`.
//! * Not reported:
//!   * values shorter than 4 characters, and values of only `*`, `x`, `X`;
//!   * values masked or cut already: a token's prefix and a mask to the
//!     end (three or more `*`, `.` or non-ASCII symbols, six or more
//!     `x`/`X`: `sk-proj-********`, `AIzaXXXXXXXX`, `•••••••`), a prefix
//!     and one ellipsis (`xoxb-…`, `AIza…`), anything holding `redacted` or
//!     `masked`;
//!   * `null`, `none`, `nil`, `true`, `false`, `undefined`, `redacted`,
//!     `masked`, `filtered`, `hidden`, the permissions `read` and `write`
//!     (`id-token: write`), and the bare schemes `bearer`, `basic`,
//!     `digest`, `token` (any case, possibly wrapped in `[]`, `()`, `<>`,
//!     `*`, `_`, `-`);
//!   * a keyword argument passed on by name, unquoted and before `)` or
//!     `,` (`connect(user=user, password=password)`);
//!   * the command of a psql prompt (`billing=> SELECT …`: a name alone at
//!     the start of its line, glued to `=>`);
//!   * placeholders that are the whole value: `${…}`, `${{…}}`, `$(…)`,
//!     `{{…}}`, `{name}`, `<…>`, `%(…)s`, `$NAME`, `%NAME%` (closed on the
//!     same line within 256 bytes);
//!   * a PEM block that is not a private key (`-----BEGIN PUBLIC KEY-----`,
//!     a certificate);
//!   * for a key ending in `pwd`, a value starting with `/` or `~` (the
//!     shell's `PWD` and `OLDPWD`);
//!   * unquoted values that are code rather than literals: type names
//!     (`string`, `bytes`, `boolean`, `number`, `integer`, `object`,
//!     `unknown`, `SecretStr`, `SecretString`); a dotted identifier path
//!     followed by `(`, `[` or `<` (`get_password()`, `os.environ["X"]`,
//!     `Option<String>`); a dotted identifier path whose last identifier
//!     itself names a secret and that has a `.` or `_` or is in capitals
//!     (`self.password`, `settings.API_KEY`, `db_password`, and the
//!     metavariable of `--password=PASSWORD`);
//!   * after `key:`, an unquoted value of letters only followed on its line
//!     by blanks and another word: prose, as in
//!     `auth: rejected expired token`.
//! * Span: the value; for a quoted value, its content without the quotes.
//!
//! # Overlaps
//!
//! Findings that overlap are merged into one whose span is their union (so
//! nothing found is left uncovered) and whose kind is the most specific
//! one: the provider kinds known by their prefix (`aws_access_key_id`,
//! `github_token`, `slack_token`, `stripe_key`, `google_api_key`,
//! `anthropic_api_key`, `openai_api_key`, `gitlab_token`, `npm_token`,
//! `pypi_token`, `azure_key`, in this order), then `aws_secret_access_key`
//! (known only by its context), before `jwt`, before `private_key`, before `bearer_token`, before
//! `password`, before `secret`. So `GITHUB_TOKEN=ghp_…` is a `github_token`,
//! `Authorization: Bearer eyJ…` a `jwt`, `aws_secret_access_key = …` an
//! `aws_secret_access_key`, and the value of `"private_key": "-----BEGIN
//! PRIVATE KEY-----\n…"` a `private_key` spanning the whole string content.
//!
//! # Cost
//!
//! One pass over the text with byte tables, eight bytes at a time; only a
//! few bytes cost anything (`A`, `B`/`b`, `S`/`s`, `x`, `G`, `p` at a
//! word's start, `_`, `J` and `-` after a word character, `-` after a
//! non-word character, `~`, `:` and `=`), and each byte is read a bounded
//! number of times whatever the input: the time is linear in the text's
//! length. The SDK's folding, and the views of wrapped lines (when a line
//! break is followed by an indentation or a quote), come before it.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod assign;
mod classes;
mod keys;
mod kind;
mod pem;
mod scan;
mod values;

pub use kind::Kind;

use palisade_guest::text::Normalized;
use palisade_guest::{Finding, Masking};

/// The credential finder.
pub struct Secrets;

/// Merges overlapping hits into their union, named by the most specific kind.
fn merge(mut hits: Vec<scan::Hit>) -> Vec<scan::Hit> {
    hits.sort_unstable_by_key(|h| (h.start, std::cmp::Reverse(h.end), h.kind));
    let mut merged: Vec<scan::Hit> = Vec::with_capacity(hits.len());
    for h in hits {
        match merged.last_mut() {
            Some(last) if h.start < last.end => {
                last.end = last.end.max(h.end);
                last.kind = last.kind.min(h.kind);
            }
            _ => merged.push(h),
        }
    }
    merged
}

/// Finds the credentials in `text`: disjoint findings, sorted.
pub fn find(text: &str) -> Vec<Finding> {
    let norm = Normalized::new(text);
    let mut hits = scan::scan(norm.bytes());
    // Values cut by a line break: only what crosses the break counts, the
    // rest was found above.
    norm.for_each_wrapped(|view| {
        for mut h in scan::scan(view.bytes()) {
            if let Some((start, end)) = view.folded(h.start, h.end) {
                (h.start, h.end) = (start, end);
                hits.push(h);
            }
        }
    });
    merge(hits)
        .into_iter()
        .map(|h| {
            let (s, e) = norm.original(h.start, h.end);
            Finding::new(h.kind.as_str(), s, e)
        })
        .collect()
}

impl Masking for Secrets {
    fn mask(text: &str) -> Vec<Finding> {
        find(text)
    }
}

palisade_guest::export_masking!(Secrets);

#[cfg(test)]
mod tests;
