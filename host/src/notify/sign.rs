//! Signatures: Palisade's own on the webhooks it sends ([`sign_webhook`],
//! as Stripe and GitHub sign theirs), and Slack's on the interactions it
//! sends back ([`verify_slack`]).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header that carries a webhook's signature.
pub const WEBHOOK_SIGNATURE_HEADER: &str = "Palisade-Signature";

/// How far a Slack request's timestamp may be from now (Slack's own
/// recommendation): an older one is a replay.
pub const SLACK_REPLAY_WINDOW_S: i64 = 300;

fn mac(secret: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC takes a key of any length.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    for p in parts {
        mac.update(p);
    }
    mac
}

/// The `Palisade-Signature` header of a webhook body sent at `timestamp`
/// (Unix seconds): `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
/// A receiver recomputes it over the raw body and refuses a timestamp too
/// far from its clock.
pub fn sign_webhook(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let sig = mac(secret, &[t.as_bytes(), b".", body])
        .finalize()
        .into_bytes();
    format!("t={t},v1={}", hex::encode(sig))
}

/// Why a Slack request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackRefusal {
    /// No or unreadable `X-Slack-Request-Timestamp` / `X-Slack-Signature`.
    Missing,
    /// The timestamp is outside the replay window.
    Stale,
    /// The signature does not match.
    BadSignature,
}

impl std::fmt::Display for SlackRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Missing => "the request carries no Slack timestamp and signature",
            Self::Stale => "the request's timestamp is outside the 5-minute replay window",
            Self::BadSignature => "the request's signature does not match the signing secret",
        })
    }
}

/// Verifies a Slack request: `signature` must be `v0=` + hex
/// HMAC-SHA256(signing secret, `v0:<timestamp>:<body>`), and `timestamp`
/// (Unix seconds) within [`SLACK_REPLAY_WINDOW_S`] of `now`. Compares in
/// constant time.
pub fn verify_slack(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SlackRefusal> {
    let (Some(ts), Some(sig)) = (timestamp, signature) else {
        return Err(SlackRefusal::Missing);
    };
    let when: i64 = ts.trim().parse().map_err(|_| SlackRefusal::Missing)?;
    if now.abs_diff(when) > SLACK_REPLAY_WINDOW_S.unsigned_abs() {
        return Err(SlackRefusal::Stale);
    }
    let given = sig
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SlackRefusal::BadSignature)?;
    mac(secret, &[b"v0:", ts.trim().as_bytes(), b":", body])
        .verify_slice(&given)
        .map_err(|_| SlackRefusal::BadSignature)
}

/// Signs a Slack request as Slack would (for tests and `notify test`).
pub fn slack_signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let sig = mac(secret, &[b"v0:", t.as_bytes(), b":", body])
        .finalize()
        .into_bytes();
    format!("v0={}", hex::encode(sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slacks_documented_example_verifies() {
        // From Slack's "Verifying requests from Slack".
        let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        let ts = 1_531_420_618;
        assert_eq!(slack_signature(secret, ts, body), sig);
        assert_eq!(
            verify_slack(secret, Some("1531420618"), Some(sig), body, ts + 10),
            Ok(())
        );
        let v =
            |t: Option<&str>, s: Option<&str>, b: &[u8], now| verify_slack(secret, t, s, b, now);
        assert_eq!(
            v(Some("1531420618"), Some(sig), b"other", ts),
            Err(SlackRefusal::BadSignature)
        );
        assert_eq!(
            v(Some("1531420618"), Some(sig), body, ts + 301),
            Err(SlackRefusal::Stale)
        );
        assert_eq!(v(None, Some(sig), body, ts), Err(SlackRefusal::Missing));
        // A timestamp at the edge of i64 is stale, not an overflow.
        assert_eq!(
            v(Some(&i64::MIN.to_string()), Some(sig), body, ts),
            Err(SlackRefusal::Stale)
        );
        assert_eq!(
            v(Some("1531420618"), Some("v0=zz"), body, ts),
            Err(SlackRefusal::BadSignature)
        );
    }

    #[test]
    fn a_webhook_signature_covers_the_timestamp_and_the_body() {
        let a = sign_webhook(b"s3cret", 1_700_000_000, b"{}");
        assert!(a.starts_with("t=1700000000,v1="), "{a}");
        assert_ne!(a, sign_webhook(b"s3cret", 1_700_000_001, b"{}"));
        assert_ne!(a, sign_webhook(b"s3cret", 1_700_000_000, b"{ }"));
        assert_ne!(a, sign_webhook(b"other", 1_700_000_000, b"{}"));
    }
}
