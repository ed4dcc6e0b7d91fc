//! HTTP authentication shared by the session (client side: answering an ACS challenge) and the
//! connection-request server (server side: checking an ACS): Digest (RFC 7616, and RFC 2617's
//! MD5 / MD5-sess with `qop=auth`) and Basic (RFC 7617).
//!
//! Hashes come from the `md-5` and `sha2` crates; comparisons of secrets use `subtle`. Nothing
//! here keeps state: the nonce bookkeeping is the connection-request server's, the nonce count
//! the session's.

use std::fmt::Write as _;

use base64::Engine as _;
use md5::Md5;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// Most auth-params read from one header (a challenge has about eight).
const MAX_PARAMS: usize = 16;
/// Most bytes of one `WWW-Authenticate` or `Authorization` header value.
pub(crate) const MAX_HEADER_BYTES: usize = 2048;

/// A Digest hash algorithm (RFC 7616 §3.3, §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// `MD5` (the TR-069 baseline; RFC 2617).
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256` (RFC 7616).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl DigestAlgorithm {
    /// The token of the `algorithm` parameter.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Parses the `algorithm` token (case-insensitive); `None` for an unsupported one.
    #[must_use]
    pub fn from_token(token: &str) -> Option<Self> {
        [Self::Md5, Self::Md5Sess, Self::Sha256, Self::Sha256Sess]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(token))
    }

    fn is_sess(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }

    /// Lower-case hex of the hash of `data`.
    fn hex(self, data: &[u8]) -> String {
        match self {
            Self::Md5 | Self::Md5Sess => hex(&Md5::digest(data)),
            Self::Sha256 | Self::Sha256Sess => hex(&Sha256::digest(data)),
        }
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The inputs of one Digest `response` computation.
pub(crate) struct DigestInput<'a> {
    pub(crate) algorithm: DigestAlgorithm,
    pub(crate) username: &'a str,
    pub(crate) realm: &'a str,
    pub(crate) password: &'a str,
    pub(crate) method: &'a str,
    pub(crate) uri: &'a str,
    pub(crate) nonce: &'a str,
    /// `Some((nc, cnonce))` with `qop=auth`; `None` for the RFC 2069 form without `qop`.
    pub(crate) qop_auth: Option<(&'a str, &'a str)>,
}

/// The `response` value (lower-case hex), RFC 7616 §3.4.1.
pub(crate) fn digest_response(input: &DigestInput<'_>) -> String {
    let alg = input.algorithm;
    let mut ha1 =
        alg.hex(format!("{}:{}:{}", input.username, input.realm, input.password).as_bytes());
    if alg.is_sess() {
        let cnonce = input.qop_auth.map_or("", |(_, c)| c);
        ha1 = alg.hex(format!("{ha1}:{}:{cnonce}", input.nonce).as_bytes());
    }
    let ha2 = alg.hex(format!("{}:{}", input.method, input.uri).as_bytes());
    match input.qop_auth {
        Some((nc, cnonce)) => {
            alg.hex(format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", input.nonce).as_bytes())
        }
        None => alg.hex(format!("{ha1}:{}:{ha2}", input.nonce).as_bytes()),
    }
}

/// Constant-time equality of two byte strings (the length is not secret).
pub(crate) fn secure_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The `Authorization` value of Basic authentication.
pub(crate) fn basic_credentials(username: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

/// Decodes the user and password of a Basic `Authorization` value.
pub(crate) fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, rest) = split_scheme(value)?;
    if !scheme.eq_ignore_ascii_case("Basic") || rest.len() > MAX_HEADER_BYTES {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// The auth scheme and the rest of a header value.
pub(crate) fn split_scheme(value: &str) -> Option<(&str, &str)> {
    let value = value.trim_start();
    let end = value.find([' ', '\t']).unwrap_or(value.len());
    let scheme = value.get(..end)?;
    if scheme.is_empty() {
        return None;
    }
    Some((scheme, value.get(end..).unwrap_or("")))
}

/// The auth-params of a challenge or credentials (`name=token` or `name="quoted"`), names in
/// lower case. `None` when the syntax is broken or bounds are exceeded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AuthParams {
    pairs: Vec<(String, String)>,
}

impl AuthParams {
    pub(crate) fn parse(input: &str) -> Option<Self> {
        if input.len() > MAX_HEADER_BYTES {
            return None;
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut chars = input.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
                chars.next();
            }
            if chars.peek().is_none() {
                break;
            }
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c == '=' || c.is_whitespace() || c == ',' {
                    break;
                }
                name.push(c.to_ascii_lowercase());
                chars.next();
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.next() != Some('=') || name.is_empty() {
                return None;
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.push(chars.next()?),
                        '"' => {
                            closed = true;
                            break;
                        }
                        _ => value.push(c),
                    }
                }
                if !closed {
                    return None;
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' || c.is_whitespace() {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
            if pairs.len() >= MAX_PARAMS || pairs.iter().any(|(n, _)| *n == name) {
                return None;
            }
            pairs.push((name, value));
        }
        Some(Self { pairs })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Quotes `value` as an HTTP quoted-string.
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len().saturating_add(2));
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617_example() {
        // RFC 2617 §3.5.
        let response = digest_response(&DigestInput {
            algorithm: DigestAlgorithm::Md5,
            username: "Mufasa",
            realm: "testrealm@host.com",
            password: "Circle Of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop_auth: Some(("00000001", "0a4f113b")),
        });
        assert_eq!(response, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc_7616_sha256_example() {
        // RFC 7616 §3.9.1.
        let response = digest_response(&DigestInput {
            algorithm: DigestAlgorithm::Sha256,
            username: "Mufasa",
            realm: "http-auth@example.org",
            password: "Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            qop_auth: Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
        });
        assert_eq!(
            response,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn params_quoted_and_tokens() {
        let p = AuthParams::parse(r#"realm="a \"b\", c", nonce=xyz, qop="auth,auth-int""#).unwrap();
        assert_eq!(p.get("realm"), Some(r#"a "b", c"#));
        assert_eq!(p.get("nonce"), Some("xyz"));
        assert_eq!(p.get("qop"), Some("auth,auth-int"));
        assert!(AuthParams::parse(r#"realm="open"#).is_none());
        assert!(AuthParams::parse("a=1, a=2").is_none());
        assert!(AuthParams::parse("=x").is_none());
    }

    #[test]
    fn basic_round_trip_and_secure_eq() {
        let header = basic_credentials("cpe", "s3:cret");
        assert_eq!(
            parse_basic(&header),
            Some(("cpe".to_owned(), "s3:cret".to_owned()))
        );
        assert!(parse_basic("Digest x=1").is_none());
        assert!(secure_eq(b"abc", b"abc"));
        assert!(!secure_eq(b"abc", b"abd"));
        assert!(!secure_eq(b"abc", b"ab"));
    }
}
