//! Identity: agents' bearer tokens, of which only sha256 hashes are stored,
//! compared in constant time; and what a project's name may be.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// sha256 of a token.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The identity whose stored hashes hold this token's hash. Every stored
/// hash is compared, in constant time, whatever matched before, so timing
/// tells nothing about which identity or hash came close.
pub fn find<'p, K: Copy>(
    identities: impl Iterator<Item = (K, &'p [[u8; 32]])>,
    token: &str,
) -> Option<K> {
    let presented = hash_token(token);
    let mut found: Option<K> = None;
    for (who, hashes) in identities {
        for stored in hashes {
            if bool::from(stored.ct_eq(&presented)) && found.is_none() {
                found = Some(who);
            }
        }
    }
    found
}

/// A new random token (`pal_` + 64 hex digits) and the policy line holding its hash.
pub fn new_token() -> Result<(String, String), getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let token = format!("pal_{}", hex::encode(bytes));
    let line = format!("sha256:{}", hex::encode(hash_token(&token)));
    Ok((token, line))
}

/// A new random id with a prefix, e.g. `dec_5f0c…`.
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS RNG failing is not a reason to fail a decision: fall back to
        // the clock, which is unique enough for an id (not for a secret).
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = nanos.to_le_bytes();
    }
    format!("{prefix}_{}", hex::encode(bytes))
}

/// Checks a project's name: it names the project in URLs, audit records and
/// the folder its audit files are exported to, so it is one plain path
/// segment: 1 to 64 letters, digits, `.`, `_` and `-`, starting with a
/// letter or digit. The message says what to write.
pub fn check_project_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "project name `{name}`: use 1 to 64 letters, digits, `.`, `_` and `-`, starting \
             with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_authenticate_by_hash_only() {
        let (token, line) = new_token().unwrap();
        assert!(token.starts_with("pal_") && token.len() == 68);
        let mut digest = [0u8; 32];
        hex::decode_to_slice(line.trim_start_matches("sha256:"), &mut digest).unwrap();
        let (a, b) = ([[7u8; 32]], [digest]);
        let ids = || [("a", &a[..]), ("b", &b[..])].into_iter();
        assert_eq!(find(ids(), &token), Some("b"));
        assert_eq!(find(ids(), "pal_wrong"), None);
        assert_eq!(find(ids(), ""), None);
    }
}
