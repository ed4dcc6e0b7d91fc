//! Connection requests (TR-069 §3.2.2 and Annex G), sans-IO.
//!
//! * [`ConnReqServer`]: checks the ACS's HTTP `GET` to `ConnectionRequestURL`: Digest
//!   authentication (RFC 7616 / RFC 2617, `qop=auth`, MD5 and SHA-256) with nonces that
//!   expire and nonce counts that only grow (no replay), Basic only when configured, and rate
//!   limiting (503 beyond the limit). An accepted request answers 200 with an empty body;
//!   the driver then feeds [`Input::ConnectionRequest`](crate::session::Input) to the
//!   session.
//! * [`DigestServer`]: the Digest bookkeeping alone, for any HTTP server role (tests use it
//!   as the ACS's side of the session's authentication).
//! * [`udp`]: UDP connection requests (Annex G): parsing, HMAC-SHA1 signature, timestamp and
//!   message-id replay checks.
//! * [`stun`]: the STUN Binding codec and keep-alive client (Annex G, TR-111 part 2) that
//!   discovers and keeps open the public mapping UDP connection requests arrive on.
//! * [`xmpp`]: XMPP connection requests (Annex K): the `connectionRequest` IQ stanza, the
//!   allowed-JID and credential checks, and the result or error reply.
//! * [`xmpp_client`]: the XMPP client stream those requests arrive on (RFC 6120: STARTTLS,
//!   SASL SCRAM or `PLAIN`, resource binding, keep-alives), the TR-181 reconnection waits and
//!   the server table's order (`Priority`, `Weight`).
//! * [`xmpp_srv`]: the DNS SRV query for the XMPP client service and the checks on its answer
//!   (RFC 6120 §3.2.1; `simple-dns`, bounded).
//! * [`scram`]: the SASL SCRAM-SHA-1 and SCRAM-SHA-256 client (RFC 5802, RFC 7677), which
//!   checks the server's signature.
//!
//! Secrets are compared in constant time (`subtle`); hashes come from `md-5`, `sha2` and
//! `hmac` + `sha1`, SCRAM's `Hi()` from `pbkdf2`. Nothing here reads a clock: every call takes `now`.
//!
//! ```
//! use std::time::Instant;
//! use cwmp_core::connreq::{ConnReqConfig, ConnReqRequest, ConnReqServer};
//!
//! # #[allow(clippy::disallowed_methods)]
//! let now = Instant::now();
//! let mut server = ConnReqServer::new(ConnReqConfig::new("cr-user", "cr-pass"), 42);
//! let first = server.handle_request(now, &ConnReqRequest::new("GET", "/cr", &[]));
//! assert_eq!(first.status, 401);
//! assert!(!first.accepted);
//! assert!(first.headers[0].1.starts_with("Digest "));
//! ```

pub mod scram;
pub mod stun;
pub mod udp;
pub mod xmpp;
pub mod xmpp_client;
pub mod xmpp_srv;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::auth::{self, AuthParams, DigestAlgorithm, DigestInput};
use crate::session::retry::{Rng, random_hex};

/// Settings of the [`DigestServer`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DigestConfig {
    /// The expected user name.
    pub username: String,
    /// The password.
    pub password: String,
    /// The realm of the challenges. Default `CWMP`.
    pub realm: String,
    /// The algorithms offered, one challenge each, strongest first. Default SHA-256, MD5.
    pub algorithms: Vec<DigestAlgorithm>,
    /// How long a nonce is accepted after it was issued. Default 60 s; after that the
    /// client is challenged again with `stale=true`.
    pub nonce_lifetime: Duration,
    /// Most nonces remembered; the oldest is forgotten beyond. Default 16.
    pub max_nonces: usize,
    /// Require the `uri` parameter to equal the request target. Default true.
    pub check_uri: bool,
}

impl std::fmt::Debug for DigestConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestConfig")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("realm", &self.realm)
            .field("algorithms", &self.algorithms)
            .field("nonce_lifetime", &self.nonce_lifetime)
            .field("max_nonces", &self.max_nonces)
            .field("check_uri", &self.check_uri)
            .finish()
    }
}

impl DigestConfig {
    /// Settings for `username` and `password`, the rest at defaults.
    #[must_use]
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            realm: "CWMP".to_owned(),
            algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            nonce_lifetime: Duration::from_secs(60),
            max_nonces: 16,
            check_uri: true,
        }
    }
}

/// The outcome of [`DigestServer::verify`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestVerdict {
    /// The credentials are right.
    Valid,
    /// Right credentials with an expired nonce: challenge again with `stale=true`.
    Stale,
    /// Anything else: challenge again.
    Invalid,
}

#[derive(Clone, Debug)]
struct NonceState {
    nonce: String,
    issued: Instant,
    last_nc: u32,
}

/// Server-side Digest authentication: issues nonces and checks `Authorization` headers.
#[derive(Debug)]
pub struct DigestServer {
    config: DigestConfig,
    nonces: VecDeque<NonceState>,
    rng: Rng,
}

impl DigestServer {
    /// A server with `config`, its nonces drawn from a generator seeded with `seed`.
    #[must_use]
    pub fn new(config: DigestConfig, seed: u64) -> Self {
        Self {
            config,
            nonces: VecDeque::new(),
            rng: Rng::new(seed),
        }
    }

    /// The `WWW-Authenticate` values of a 401 answer, with a fresh nonce.
    pub fn challenge(&mut self, now: Instant, stale: bool) -> Vec<String> {
        let nonce = random_hex(&mut self.rng, 16);
        let opaque = random_hex(&mut self.rng, 8);
        if self.nonces.len() >= self.config.max_nonces.max(1) {
            self.nonces.pop_front();
        }
        self.nonces.push_back(NonceState {
            nonce: nonce.clone(),
            issued: now,
            last_nc: 0,
        });
        self.config
            .algorithms
            .iter()
            .map(|algorithm| {
                let mut value = format!(
                    "Digest realm={}, qop=\"auth\", nonce=\"{nonce}\", opaque=\"{opaque}\", algorithm={}",
                    auth::quote(&self.config.realm),
                    algorithm.as_str()
                );
                if stale {
                    value.push_str(", stale=true");
                }
                value
            })
            .collect()
    }

    /// Checks an `Authorization` value for a request with `method` and request target
    /// `target`.
    pub fn verify(
        &mut self,
        now: Instant,
        method: &str,
        target: &str,
        authorization: &str,
    ) -> DigestVerdict {
        let Some((scheme, rest)) = auth::split_scheme(authorization) else {
            return DigestVerdict::Invalid;
        };
        if !scheme.eq_ignore_ascii_case("Digest") {
            return DigestVerdict::Invalid;
        }
        let Some(params) = AuthParams::parse(rest) else {
            return DigestVerdict::Invalid;
        };
        let field = |name: &str| params.get(name).unwrap_or("");
        let algorithm = match params.get("algorithm") {
            None => DigestAlgorithm::Md5,
            Some(token) => match DigestAlgorithm::from_token(token) {
                Some(a) => a,
                None => return DigestVerdict::Invalid,
            },
        };
        if !self.config.algorithms.contains(&algorithm)
            || !field("qop").eq_ignore_ascii_case("auth")
            || field("realm") != self.config.realm
            || field("cnonce").is_empty()
            || (self.config.check_uri && !uri_matches(field("uri"), target))
        {
            return DigestVerdict::Invalid;
        }
        let nc_text = field("nc");
        let Ok(nc) = u32::from_str_radix(nc_text, 16) else {
            return DigestVerdict::Invalid;
        };
        if nc_text.len() != 8 {
            return DigestVerdict::Invalid;
        }
        let nonce = field("nonce");
        let Some(index) = self.nonces.iter().position(|n| n.nonce == nonce) else {
            return DigestVerdict::Invalid;
        };
        let expected = auth::digest_response(&DigestInput {
            algorithm,
            username: &self.config.username,
            realm: &self.config.realm,
            password: &self.config.password,
            method,
            uri: field("uri"),
            nonce,
            qop_auth: Some((nc_text, field("cnonce"))),
        });
        let user_ok = auth::secure_eq(
            field("username").as_bytes(),
            self.config.username.as_bytes(),
        );
        let response_ok = auth::secure_eq(
            field("response").to_ascii_lowercase().as_bytes(),
            expected.as_bytes(),
        );
        if !(user_ok && response_ok) {
            return DigestVerdict::Invalid;
        }
        let Some(state) = self.nonces.get_mut(index) else {
            return DigestVerdict::Invalid;
        };
        if now.saturating_duration_since(state.issued) > self.config.nonce_lifetime {
            self.nonces.remove(index);
            return DigestVerdict::Stale;
        }
        if nc <= state.last_nc {
            return DigestVerdict::Invalid;
        }
        state.last_nc = nc;
        DigestVerdict::Valid
    }
}

/// The Digest `uri` may be the request target or the absolute URL ending in it.
fn uri_matches(uri: &str, target: &str) -> bool {
    uri == target || (uri.contains("://") && crate::session::http::request_target(uri) == target)
}

/// Settings of the [`ConnReqServer`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnReqConfig {
    /// `ConnectionRequestUsername`, `ConnectionRequestPassword` and the Digest settings.
    pub digest: DigestConfig,
    /// Accept HTTP Basic authentication too (TR-069 requires Digest; some ACSs can only do
    /// Basic). Default false.
    pub allow_basic: bool,
    /// Most accepted connection requests per `rate_window`; beyond, 503. Default 5.
    pub rate_limit: u32,
    /// The rate-limit window. Default 60 s.
    pub rate_window: Duration,
}

impl ConnReqConfig {
    /// Settings for `ConnectionRequestUsername` / `ConnectionRequestPassword`.
    #[must_use]
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            digest: DigestConfig::new(username, password),
            allow_basic: false,
            rate_limit: 5,
            rate_window: Duration::from_secs(60),
        }
    }

    /// Sets the rate limit.
    #[must_use]
    pub fn with_rate_limit(mut self, max: u32, window: Duration) -> Self {
        self.rate_limit = max;
        self.rate_window = window;
        self
    }

    /// Accepts Basic authentication too.
    #[must_use]
    pub fn with_basic(mut self, allow: bool) -> Self {
        self.allow_basic = allow;
        self
    }
}

/// An incoming connection request as the driver's HTTP server parsed it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ConnReqRequest<'a> {
    /// The method (`GET`).
    pub method: &'a str,
    /// The request target (`/cr/abc`).
    pub target: &'a str,
    /// The headers.
    pub headers: &'a [(&'a str, &'a str)],
}

impl<'a> ConnReqRequest<'a> {
    /// A request.
    #[must_use]
    pub fn new(method: &'a str, target: &'a str, headers: &'a [(&'a str, &'a str)]) -> Self {
        Self {
            method,
            target,
            headers,
        }
    }
}

/// The answer to send, and whether a session should start.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnReqResponse {
    /// 200 (accepted), 401 (challenge), 405 (not GET) or 503 (rate limited).
    pub status: u16,
    /// Headers to send (`WWW-Authenticate`, `Retry-After`); the body is always empty.
    pub headers: Vec<(String, String)>,
    /// Whether the request was accepted: feed
    /// [`Input::ConnectionRequest`](crate::session::Input::ConnectionRequest).
    pub accepted: bool,
}

/// Checks connection requests; see the [module docs](self).
#[derive(Debug)]
pub struct ConnReqServer {
    config: ConnReqConfig,
    digest: DigestServer,
    accepted: VecDeque<Instant>,
}

impl ConnReqServer {
    /// A server with `config`; `seed` seeds its nonces.
    #[must_use]
    pub fn new(config: ConnReqConfig, seed: u64) -> Self {
        Self {
            digest: DigestServer::new(config.digest.clone(), seed),
            config,
            accepted: VecDeque::new(),
        }
    }

    /// Replaces the credentials (the ACS changed `ConnectionRequestUsername`/`Password`).
    pub fn set_credentials(&mut self, username: impl Into<String>, password: impl Into<String>) {
        self.config.digest.username = username.into();
        self.config.digest.password = password.into();
        self.digest.config = self.config.digest.clone();
    }

    /// Decides on one request at `now`.
    pub fn handle_request(
        &mut self,
        now: Instant,
        request: &ConnReqRequest<'_>,
    ) -> ConnReqResponse {
        if !request.method.eq_ignore_ascii_case("GET") {
            return ConnReqResponse {
                status: 405,
                headers: vec![("Allow".into(), "GET".into())],
                accepted: false,
            };
        }
        let authorization = request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Authorization"))
            .map(|(_, v)| *v);
        let verdict = match authorization {
            None => DigestVerdict::Invalid,
            Some(value) if value.len() > auth::MAX_HEADER_BYTES => DigestVerdict::Invalid,
            Some(value) => match auth::split_scheme(value) {
                Some((scheme, _)) if scheme.eq_ignore_ascii_case("Basic") => {
                    self.check_basic(value)
                }
                _ => self
                    .digest
                    .verify(now, request.method, request.target, value),
            },
        };
        match verdict {
            DigestVerdict::Valid => self.rate_limited(now),
            DigestVerdict::Stale | DigestVerdict::Invalid => {
                let stale = verdict == DigestVerdict::Stale;
                let headers = self
                    .digest
                    .challenge(now, stale)
                    .into_iter()
                    .map(|v| ("WWW-Authenticate".to_owned(), v))
                    .collect();
                ConnReqResponse {
                    status: 401,
                    headers,
                    accepted: false,
                }
            }
        }
    }

    fn check_basic(&self, value: &str) -> DigestVerdict {
        if !self.config.allow_basic {
            return DigestVerdict::Invalid;
        }
        match auth::parse_basic(value) {
            Some((user, password))
                if auth::secure_eq(user.as_bytes(), self.config.digest.username.as_bytes())
                    & auth::secure_eq(
                        password.as_bytes(),
                        self.config.digest.password.as_bytes(),
                    ) =>
            {
                DigestVerdict::Valid
            }
            _ => DigestVerdict::Invalid,
        }
    }

    fn rate_limited(&mut self, now: Instant) -> ConnReqResponse {
        let window = self.config.rate_window;
        while self
            .accepted
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            self.accepted.pop_front();
        }
        let limit = usize::try_from(self.config.rate_limit).unwrap_or(usize::MAX);
        if self.accepted.len() >= limit {
            let retry = self.accepted.front().map_or(window, |t| {
                window.saturating_sub(now.saturating_duration_since(*t))
            });
            return ConnReqResponse {
                status: 503,
                headers: vec![("Retry-After".into(), retry.as_secs().max(1).to_string())],
                accepted: false,
            };
        }
        self.accepted.push_back(now);
        ConnReqResponse {
            status: 200,
            headers: Vec::new(),
            accepted: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorization(challenge: &str, user: &str, password: &str, target: &str, nc: u32) -> String {
        let params = AuthParams::parse(challenge.strip_prefix("Digest ").unwrap()).unwrap();
        let algorithm = DigestAlgorithm::from_token(params.get("algorithm").unwrap()).unwrap();
        let nc = format!("{nc:08x}");
        let response = auth::digest_response(&DigestInput {
            algorithm,
            username: user,
            realm: params.get("realm").unwrap(),
            password,
            method: "GET",
            uri: target,
            nonce: params.get("nonce").unwrap(),
            qop_auth: Some((&nc, "abcdef")),
        });
        format!(
            "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{target}\", algorithm={}, qop=auth, nc={nc}, cnonce=\"abcdef\", response=\"{response}\"",
            params.get("realm").unwrap(),
            params.get("nonce").unwrap(),
            algorithm.as_str()
        )
    }

    #[allow(clippy::disallowed_methods)]
    fn start() -> Instant {
        Instant::now()
    }

    #[test]
    fn digest_accepts_once_per_count_and_expires_nonces() {
        let t0 = start();
        let mut server = ConnReqServer::new(ConnReqConfig::new("cr", "secret"), 1);
        let challenge = server.handle_request(t0, &ConnReqRequest::new("GET", "/cr", &[]));
        assert_eq!(challenge.status, 401);
        assert_eq!(challenge.headers.len(), 2, "SHA-256 and MD5");
        for (nc, (_, value)) in (1..).zip(&challenge.headers) {
            // Both challenges share one nonce: the count must grow across them.
            let header = authorization(value, "cr", "secret", "/cr", nc);
            let headers = [("Authorization", header.as_str())];
            let ok = server.handle_request(t0, &ConnReqRequest::new("GET", "/cr", &headers));
            assert_eq!((ok.status, ok.accepted), (200, true), "{value}");
            // The same nonce count again is a replay.
            let replay = server.handle_request(t0, &ConnReqRequest::new("GET", "/cr", &headers));
            assert_eq!(replay.status, 401);
        }
        // Wrong password, wrong uri.
        let header = authorization(&challenge.headers[0].1, "cr", "nope", "/cr", 2);
        let headers = [("Authorization", header.as_str())];
        assert_eq!(
            server
                .handle_request(t0, &ConnReqRequest::new("GET", "/cr", &headers))
                .status,
            401
        );
        let header = authorization(&challenge.headers[0].1, "cr", "secret", "/other", 3);
        let headers = [("Authorization", header.as_str())];
        assert_eq!(
            server
                .handle_request(t0, &ConnReqRequest::new("GET", "/cr", &headers))
                .status,
            401
        );
        // An expired nonce is stale.
        let later = t0 + Duration::from_secs(61);
        let header = authorization(&challenge.headers[0].1, "cr", "secret", "/cr", 9);
        let headers = [("Authorization", header.as_str())];
        let stale = server.handle_request(later, &ConnReqRequest::new("GET", "/cr", &headers));
        assert_eq!(stale.status, 401);
        assert!(stale.headers[0].1.contains("stale=true"));
    }

    #[test]
    fn rate_limit_and_basic_and_method() {
        let t0 = start();
        let config = ConnReqConfig::new("cr", "secret")
            .with_rate_limit(2, Duration::from_secs(10))
            .with_basic(true);
        let mut server = ConnReqServer::new(config, 2);
        let basic = auth::basic_credentials("cr", "secret");
        let headers = [("Authorization", basic.as_str())];
        let request = ConnReqRequest::new("GET", "/cr", &headers);
        assert!(server.handle_request(t0, &request).accepted);
        assert!(server.handle_request(t0, &request).accepted);
        let limited = server.handle_request(t0 + Duration::from_secs(1), &request);
        assert_eq!(limited.status, 503);
        assert_eq!(limited.headers[0], ("Retry-After".into(), "9".into()));
        assert!(
            server
                .handle_request(t0 + Duration::from_secs(10), &request)
                .accepted
        );
        let post = server.handle_request(t0, &ConnReqRequest::new("POST", "/cr", &headers));
        assert_eq!(post.status, 405);

        let mut strict = ConnReqServer::new(ConnReqConfig::new("cr", "secret"), 3);
        assert_eq!(
            strict.handle_request(t0, &request).status,
            401,
            "Basic not allowed"
        );
    }
}
