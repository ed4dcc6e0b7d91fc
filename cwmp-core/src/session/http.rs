//! The HTTP side of a session: the requests it emits, the responses it takes, and the
//! per-session cookie jar and client authentication (Basic, Digest).

use crate::auth::{self, AuthParams, DigestAlgorithm, DigestInput};

/// An HTTP POST for the driver to send to the ACS.
///
/// `headers` has `Content-Type` and `SOAPAction` for an envelope, `Cookie` and
/// `Authorization` when the session has them. The driver adds `Host`, `Content-Length` (0 for
/// the empty POST) and connection management, keeps one TCP (or TLS) connection for the whole
/// session where it can, and closes it at [`Event::SessionEnded`](super::Event::SessionEnded).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpRequest {
    /// The URL to POST to (the ACS URL, or where a redirect pointed).
    pub url: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body: one SOAP envelope, or empty.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The value of header `name` (case-insensitive), if present.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let shown = if n.eq_ignore_ascii_case("Authorization")
                    || n.eq_ignore_ascii_case("Cookie")
                {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (n.as_str(), shown)
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// The ACS's HTTP response to the last [`HttpRequest`], as the driver received it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpResponse<'a> {
    /// The status code.
    pub status: u16,
    /// Header names and values, in order (repeated names allowed).
    pub headers: &'a [(&'a str, &'a str)],
    /// The body (de-chunked and decompressed by the driver).
    pub body: &'a [u8],
}

impl<'a> HttpResponse<'a> {
    /// A response.
    #[must_use]
    pub fn new(status: u16, headers: &'a [(&'a str, &'a str)], body: &'a [u8]) -> Self {
        Self {
            status,
            headers,
            body,
        }
    }

    pub(crate) fn headers_named(&self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// The cookies of one session (RFC 6265, the subset CWMP needs: name and value, `Max-Age=0`
/// and `Expires` in the past are treated as deletion by `Max-Age=0` only).
#[derive(Clone, Debug, Default)]
pub(crate) struct CookieJar {
    cookies: Vec<(String, String)>,
}

impl CookieJar {
    /// Takes the `Set-Cookie` values of a response. Returns false when the jar would exceed
    /// `max` cookies.
    pub(crate) fn store(&mut self, set_cookie: &str, max: usize) -> bool {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            return true;
        };
        let name = name.trim();
        if name.is_empty() {
            return true;
        }
        let delete = parts.any(|attr| {
            attr.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("Max-Age") && v.trim().starts_with(['0', '-'])
            })
        });
        self.cookies.retain(|(n, _)| n != name);
        if delete {
            return true;
        }
        if self.cookies.len() >= max {
            return false;
        }
        self.cookies
            .push((name.to_owned(), value.trim().trim_matches('"').to_owned()));
        true
    }

    /// The `Cookie` header value, if any.
    pub(crate) fn header(&self) -> Option<String> {
        if self.cookies.is_empty() {
            return None;
        }
        Some(
            self.cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// The client side of HTTP authentication: answers a server's 401 challenge with the
/// `Authorization` of the following requests. The session uses it for the ACS; drivers use
/// it for the other servers the device authenticates to with a user name and password (bulk
/// data collectors), so that there is one implementation.
#[derive(Clone, Debug)]
pub struct ClientAuth(Scheme);

/// The scheme picked and its state.
#[derive(Clone, Debug)]
enum Scheme {
    Basic,
    Digest {
        algorithm: DigestAlgorithm,
        realm: String,
        nonce: String,
        opaque: Option<String>,
        qop_auth: bool,
        nc: u32,
    },
}

/// Why a challenge could not be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChallengeError {
    /// No `WWW-Authenticate` value names a scheme and algorithm this client answers.
    Unsupported,
    /// Only Basic, which was not allowed (the URL is not `https`).
    BasicOverPlainHttp,
}

impl ClientAuth {
    /// Picks the strongest challenge of a 401 response's `WWW-Authenticate` values: Digest
    /// (RFC 7616: SHA-256 before MD5, `qop=auth` or none), else Basic when `basic_allowed`.
    pub fn from_challenges<'a>(
        challenges: impl Iterator<Item = &'a str>,
        basic_allowed: bool,
    ) -> Result<Self, ChallengeError> {
        let mut best: Option<Scheme> = None;
        let mut saw_basic = false;
        for value in challenges {
            if value.len() > auth::MAX_HEADER_BYTES {
                continue;
            }
            let Some((scheme, rest)) = auth::split_scheme(value) else {
                continue;
            };
            if scheme.eq_ignore_ascii_case("Basic") {
                saw_basic = true;
                continue;
            }
            if !scheme.eq_ignore_ascii_case("Digest") {
                continue;
            }
            let Some(params) = AuthParams::parse(rest) else {
                continue;
            };
            let algorithm = match params.get("algorithm") {
                None => DigestAlgorithm::Md5,
                Some(token) => match DigestAlgorithm::from_token(token) {
                    Some(a) => a,
                    None => continue,
                },
            };
            let qop_auth = match params.get("qop") {
                None => false,
                Some(list) => {
                    if list
                        .split(',')
                        .any(|q| q.trim().eq_ignore_ascii_case("auth"))
                    {
                        true
                    } else {
                        continue;
                    }
                }
            };
            let (Some(realm), Some(nonce)) = (params.get("realm"), params.get("nonce")) else {
                continue;
            };
            let candidate = Scheme::Digest {
                algorithm,
                realm: realm.to_owned(),
                nonce: nonce.to_owned(),
                opaque: params.get("opaque").map(str::to_owned),
                qop_auth,
                nc: 0,
            };
            let better = match (&best, algorithm) {
                (None, _) => true,
                (
                    Some(Scheme::Digest { algorithm: a, .. }),
                    DigestAlgorithm::Sha256 | DigestAlgorithm::Sha256Sess,
                ) => {
                    matches!(a, DigestAlgorithm::Md5 | DigestAlgorithm::Md5Sess)
                }
                _ => false,
            };
            if better {
                best = Some(candidate);
            }
        }
        match (best, saw_basic) {
            (Some(found), _) => Ok(Self(found)),
            (None, true) if basic_allowed => Ok(Self(Scheme::Basic)),
            (None, true) => Err(ChallengeError::BasicOverPlainHttp),
            (None, false) => Err(ChallengeError::Unsupported),
        }
    }

    /// The `Authorization` value for the next request, a `method` to request target `uri`
    /// (advancing the nonce count); `cnonce` is the client nonce, fresh random hex.
    pub fn authorization(
        &mut self,
        method: &str,
        username: &str,
        password: &str,
        uri: &str,
        cnonce: &str,
    ) -> String {
        match &mut self.0 {
            Scheme::Basic => auth::basic_credentials(username, password),
            Scheme::Digest {
                algorithm,
                realm,
                nonce,
                opaque,
                qop_auth,
                nc,
            } => {
                *nc = nc.saturating_add(1);
                let nc_text = format!("{:08x}", *nc);
                let response = auth::digest_response(&DigestInput {
                    algorithm: *algorithm,
                    username,
                    realm,
                    password,
                    method,
                    uri,
                    nonce,
                    qop_auth: qop_auth.then_some((nc_text.as_str(), cnonce)),
                });
                let mut out = format!(
                    "Digest username={}, realm={}, nonce={}, uri={}, algorithm={}, response=\"{response}\"",
                    auth::quote(username),
                    auth::quote(realm),
                    auth::quote(nonce),
                    auth::quote(uri),
                    algorithm.as_str(),
                );
                if *qop_auth {
                    out.push_str(&format!(", qop=auth, nc={nc_text}, cnonce=\"{cnonce}\""));
                }
                if let Some(opaque) = opaque {
                    out.push_str(&format!(", opaque={}", auth::quote(opaque)));
                }
                out
            }
        }
    }
}

/// The request-target (path and query) of an absolute URL, `/` when it has none.
pub(crate) fn request_target(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest.get(i..).unwrap_or("/"),
        None => "/",
    }
}

/// The host of an absolute URL: no user information, no port, no brackets around an IPv6
/// address; `None` when there is none.
pub(crate) fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map(|(h, _)| h)?,
        None => authority.split(':').next().unwrap_or_default(),
    };
    (!host.is_empty()).then_some(host)
}

/// Whether `url` is an absolute `http` or `https` URL.
pub(crate) fn is_http_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Whether `url` uses TLS.
pub(crate) fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts() {
        assert_eq!(
            url_host("https://acs.example.net:7548/cwmp"),
            Some("acs.example.net")
        );
        assert_eq!(url_host("http://u:p@192.0.2.1/x?y"), Some("192.0.2.1"));
        assert_eq!(url_host("http://[2001:db8::1]:80/"), Some("2001:db8::1"));
        assert_eq!(url_host("http:///path"), None);
        assert_eq!(url_host(""), None);
    }

    #[test]
    fn cookies_replace_and_delete() {
        let mut jar = CookieJar::default();
        assert!(jar.store("session=abc; Path=/; HttpOnly", 4));
        assert!(jar.store("b=1", 4));
        assert!(jar.store("session=def", 4));
        assert_eq!(jar.header().as_deref(), Some("b=1; session=def"));
        assert!(jar.store("b=; Max-Age=0", 4));
        assert_eq!(jar.header().as_deref(), Some("session=def"));
        assert!(jar.store("c=1", 2));
        assert!(!jar.store("d=1", 2));
    }

    #[test]
    fn digest_challenge_prefers_sha256_and_counts() {
        let challenges = [
            r#"Digest realm="acs", nonce="n1", qop="auth", algorithm=MD5"#,
            r#"Digest realm="acs", nonce="n2", qop="auth", algorithm=SHA-256, opaque="o""#,
            r#"Basic realm="acs""#,
        ];
        let mut auth = ClientAuth::from_challenges(challenges.into_iter(), false).unwrap();
        let first = auth.authorization("POST", "u", "p", "/cwmp", "c0ffee");
        assert!(first.contains("algorithm=SHA-256"));
        assert!(first.contains("nc=00000001"));
        assert!(first.contains(r#"opaque="o""#));
        let second = auth.authorization("POST", "u", "p", "/cwmp", "c0ffee");
        assert!(second.contains("nc=00000002"));
    }

    #[test]
    fn basic_needs_tls_unless_allowed() {
        let basic = [r#"Basic realm="acs""#];
        assert_eq!(
            ClientAuth::from_challenges(basic.into_iter(), false).unwrap_err(),
            ChallengeError::BasicOverPlainHttp
        );
        assert!(matches!(
            ClientAuth::from_challenges(basic.into_iter(), true),
            Ok(ClientAuth(Scheme::Basic))
        ));
        assert_eq!(
            ClientAuth::from_challenges([r#"Negotiate abc"#].into_iter(), true).unwrap_err(),
            ChallengeError::Unsupported
        );
    }

    #[test]
    fn url_helpers() {
        assert_eq!(
            request_target("https://acs.example.net:7547/cwmp?x=1"),
            "/cwmp?x=1"
        );
        assert_eq!(request_target("http://acs"), "/");
        assert!(is_http_url("HTTPS://acs/"));
        assert!(!is_http_url("ftp://acs/"));
        assert!(is_https("https://a"));
        assert!(!is_https("http://a"));
    }
}
