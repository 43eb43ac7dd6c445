//! The command line's client of a running Palisade server: where it is
//! (`--server`, else `$PALISADE_URL`), the token (`PALISADE_TOKEN`), and a
//! POST of JSON with ureq. Used by `hook`, `kill`/`resume` and `mcp-proxy`.

use anyhow::{Context, bail};
use serde_json::Value;
use std::time::Duration;

/// The Palisade server: `server`, else `$PALISADE_URL`, else the default.
pub(super) fn server_url(server: Option<String>) -> String {
    server
        .or_else(|| std::env::var("PALISADE_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:8080".into())
}

/// Refuses a Palisade server the agent's token would reach in clear over
/// a network: `http://` is for this machine (loopback) only.
pub(super) fn check_server(url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).with_context(|| format!("`{url}` is not a URL"))?;
    let local = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if local => Ok(()),
        "http" => bail!(
            "the Palisade server {url} is plain http beyond this machine: the agent's token would cross the network in clear; use https"
        ),
        other => bail!("the Palisade server's URL must be http or https, not `{other}`"),
    }
}

/// A running Palisade server, with the token to ask it with.
#[derive(Clone)]
pub(super) struct Server {
    agent: ureq::Agent,
    /// Its base URL, without a trailing `/`.
    pub(super) base: String,
    token: String,
}

impl Server {
    /// `server` (else `$PALISADE_URL`, else the default), asked with
    /// `PALISADE_TOKEN` (`whose` token it must be, for the error), giving up
    /// after `timeout`. A plain-http server beyond loopback is refused.
    pub(super) fn from_env(
        server: Option<String>,
        whose: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let token = std::env::var("PALISADE_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .with_context(|| format!("set PALISADE_TOKEN to {whose} token"))?;
        let base = server_url(server);
        check_server(&base)?;
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(timeout))
                .build(),
        );
        Ok(Self {
            agent,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// POSTs `body` to `path`: the status and the answer's text (at most
    /// `limit` bytes; a longer answer is an error).
    pub(super) fn post(
        &self,
        path: &str,
        body: &Value,
        limit: u64,
    ) -> anyhow::Result<(u16, String)> {
        let mut resp = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("authorization", &format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .send(body.to_string().as_bytes())
            .with_context(|| format!("the Palisade server at {} cannot be reached", self.base))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_string()
            .context("the server's answer could not be read")?;
        Ok((status, text))
    }
}

#[cfg(test)]
mod tests {
    use super::check_server;

    #[test]
    fn plain_http_is_for_this_machine_only() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://[::1]:8080/",
            "http://localhost:8080",
            "https://palisade.example.com",
        ] {
            assert!(check_server(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://palisade.example.com",
            "http://10.0.0.5:8080",
            "ftp://127.0.0.1",
            "not a url",
        ] {
            assert!(check_server(bad).is_err(), "{bad}");
        }
    }
}
