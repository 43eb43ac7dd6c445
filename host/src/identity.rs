//! Agent identity: bearer tokens, of which only sha256 hashes are stored,
//! compared in constant time.

use crate::policy::{Agent, Policy};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// sha256 of a token.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The name whose stored hashes hold this token's hash. Every stored hash is
/// compared, in constant time, whatever matched before, so timing tells
/// nothing about which identity or hash came close.
fn find<'p>(
    identities: impl Iterator<Item = (&'p str, &'p [[u8; 32]])>,
    token: &str,
) -> Option<&'p str> {
    let presented = hash_token(token);
    let mut found: Option<&str> = None;
    for (name, hashes) in identities {
        for stored in hashes {
            if bool::from(stored.ct_eq(&presented)) && found.is_none() {
                found = Some(name);
            }
        }
    }
    found
}

/// The agent whose token this is.
pub fn authenticate<'p>(policy: &'p Policy, token: &str) -> Option<&'p Agent> {
    let agents = policy
        .agents
        .values()
        .map(|a| (a.name.as_str(), a.token_hashes.as_slice()));
    find(agents, token).and_then(|name| policy.agents.get(name))
}

/// The administrator whose token this is. The policy compiler refuses a hash
/// held by both an agent and an administrator, so an agent's token never
/// authenticates an administrator.
pub fn authenticate_admin<'p>(policy: &'p Policy, token: &str) -> Option<&'p str> {
    find(
        policy
            .admins
            .iter()
            .map(|(n, h)| (n.as_str(), h.as_slice())),
        token,
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_authenticate_by_hash_only() {
        let (token, line) = new_token().unwrap();
        assert!(token.starts_with("pal_") && token.len() == 68);
        let mut agent = Agent {
            name: "a".into(),
            ..Agent::default()
        };
        let mut digest = [0u8; 32];
        hex::decode_to_slice(line.trim_start_matches("sha256:"), &mut digest).unwrap();
        agent.token_hashes.push(digest);
        let mut policy = Policy::default();
        policy.agents.insert("a".into(), agent);
        assert_eq!(
            authenticate(&policy, &token).map(|a| a.name.as_str()),
            Some("a")
        );
        assert!(authenticate(&policy, "pal_wrong").is_none());
        assert!(authenticate(&policy, "").is_none());
    }
}
