//! What replaces a finding: the operators a policy configures per kind.

pub use crate::policy::Operator;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::Path;

/// The host's masking key: 32 random bytes in `mask.key` in the data
/// directory, created on first start with mode 0600. It keys `hash` and
/// `token`; it never enters a plugin or an answer. Replicas that must agree
/// on hashes share the file.
#[derive(Clone)]
pub struct MaskKey([u8; 32]);

impl std::fmt::Debug for MaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MaskKey(..)")
    }
}

impl MaskKey {
    /// A key from its bytes (tests, benchmarks).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Reads `mask.key` from `data_dir`, creating it when missing.
    pub fn open(data_dir: &Path) -> crate::Result<Self> {
        crate::data_dir::secret(
            data_dir,
            "mask.key",
            "masking key (tokens and hashes change with it)",
        )
        .map(Self)
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        // HMAC takes a key of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts 32-byte keys"));
        for part in parts {
            // Length-prefixed, so `("ab", "c")` and `("a", "bc")` differ.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// The form a value is hashed in: the same card written `4111 1111 …` or
/// `4111-1111-…` gets the same hash or token.
fn canonical(kind: &str, value: &str) -> String {
    match kind {
        "credit_card" | "ssn" | "iban" | "phone" => value
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_uppercase)
            .collect(),
        "email" => value.to_lowercase(),
        _ => value.to_owned(),
    }
}

/// Whose data a value is: what `hash` and `token` are keyed by, so that one
/// project's (or agent's) masked values cannot be matched by another.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The project the caller belongs to: keys `hash` and `token`.
    pub project: &'a str,
    /// The authenticated agent: keys `token`.
    pub agent: &'a str,
    /// The session the caller named: keys `token`.
    pub session: &'a str,
}

/// Replaces `value`, found as `kind`, for a caller in `scope`.
///
/// `hash` is keyed by the project: the same value hashes alike across its
/// agents and sessions (so its logs can be joined) and differently in
/// another project. `token` is keyed by the project, the agent and the
/// session: the session is chosen by the caller, so an agent naming another
/// agent's session still gets tokens of its own, unrelated to the other's.
pub fn apply(op: Operator, key: &MaskKey, scope: Scope<'_>, kind: &str, value: &str) -> String {
    match op {
        Operator::Redact => format!("[REDACTED:{kind}]"),
        Operator::Label => format!("[{}]", kind.to_uppercase()),
        Operator::LastFour => last_four(value),
        Operator::Hash => {
            let mac = key.mac(&[
                b"hash",
                scope.project.as_bytes(),
                kind.as_bytes(),
                canonical(kind, value).as_bytes(),
            ]);
            format!("[{kind}:h:{}]", hex::encode(&mac[..8]))
        }
        Operator::Token => {
            let mac = key.mac(&[
                b"token",
                scope.project.as_bytes(),
                scope.agent.as_bytes(),
                scope.session.as_bytes(),
                kind.as_bytes(),
                canonical(kind, value).as_bytes(),
            ]);
            format!("[{kind}:t:{}]", hex::encode(&mac[..6]))
        }
    }
}

fn last_four(value: &str) -> String {
    let total = value.chars().filter(|c| c.is_alphanumeric()).count();
    let keep = if total >= 8 { 4 } else { 0 };
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if !c.is_alphanumeric() {
                return c;
            }
            seen += 1;
            if seen > total - keep { c } else { '*' }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Scope<'static> = Scope {
        project: "billing",
        agent: "bot",
        session: "s",
    };

    fn key(b: u8) -> MaskKey {
        MaskKey::from_bytes([b; 32])
    }

    #[test]
    fn operators_replace_as_documented() {
        let k = key(1);
        let card = "4111 1111 1111 1111";
        assert_eq!(
            apply(Operator::Redact, &k, S, "credit_card", card),
            "[REDACTED:credit_card]"
        );
        assert_eq!(
            apply(Operator::LastFour, &k, S, "credit_card", card),
            "**** **** **** 1111"
        );
        assert_eq!(
            apply(Operator::LastFour, &k, S, "ssn", "123-45-6789"),
            "***-**-6789"
        );
        assert_eq!(
            apply(Operator::LastFour, &k, S, "password", "hunter2"),
            "*******"
        );
        assert_eq!(
            apply(Operator::Label, &k, S, "credit_card", card),
            "[CREDIT_CARD]"
        );
        let hash = apply(Operator::Hash, &k, S, "credit_card", card);
        assert!(
            hash.starts_with("[credit_card:h:") && hash.len() == 32,
            "{hash}"
        );
    }

    #[test]
    fn tokens_are_consistent_within_a_session_and_differ_across() {
        let k = key(1);
        let t = |s: &str, v: &str| {
            let scope = Scope { session: s, ..S };
            apply(Operator::Token, &k, scope, "credit_card", v)
        };
        assert_eq!(
            t("s1", "4111 1111 1111 1111"),
            t("s1", "4111-1111-1111-1111")
        );
        assert_ne!(
            t("s1", "4111 1111 1111 1111"),
            t("s1", "5555 5555 5555 4444")
        );
        assert_ne!(
            t("s1", "4111 1111 1111 1111"),
            t("s2", "4111 1111 1111 1111")
        );
        let h = |k: &MaskKey, s: &str| {
            let scope = Scope { session: s, ..S };
            apply(Operator::Hash, k, scope, "email", "A@example.com")
        };
        assert_eq!(h(&k, "s1"), h(&k, "s2"), "hashes ignore the session");
        assert_eq!(
            h(&k, "s1"),
            apply(Operator::Hash, &k, S, "email", "a@EXAMPLE.com")
        );
        assert_ne!(h(&k, "s1"), h(&key(2), "s1"), "hashes depend on the key");
    }

    #[test]
    fn tokens_are_keyed_by_agent_and_project_and_hashes_by_project() {
        let k = key(1);
        let card = "4111 1111 1111 1111";
        let token = |scope| apply(Operator::Token, &k, scope, "credit_card", card);
        let hash = |scope| apply(Operator::Hash, &k, scope, "credit_card", card);
        let other_agent = Scope {
            agent: "mallory",
            ..S
        };
        let other_project = Scope {
            project: "other",
            ..S
        };
        // The same session string named by another agent: another token.
        assert_ne!(token(S), token(other_agent));
        assert_ne!(token(S), token(other_project));
        // Hashes join a project's records across agents, not projects.
        assert_eq!(hash(S), hash(other_agent));
        assert_ne!(hash(S), hash(other_project));
        // The parts are length-prefixed: moving a byte between them differs.
        let shifted = Scope {
            project: "billingb",
            agent: "ot",
            ..S
        };
        assert_ne!(token(S), token(shifted));
    }

    #[test]
    fn the_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let a = MaskKey::open(dir.path()).unwrap();
        let b = MaskKey::open(dir.path()).unwrap();
        assert_eq!(a.0, b.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("mask.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{a:?}").contains(&hex::encode(a.0)));
        std::fs::write(dir.path().join("mask.key"), b"short").unwrap();
        let err = MaskKey::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("exactly 32 bytes"), "{err}");
    }
}
