//! UDP connection requests (TR-069 Annex G.2): an HTTP request line in one datagram,
//!
//! ```text
//! GET http://host:port?ts=1700000000&id=1234&un=user&cn=XTGU&sig=<hex> HTTP/1.1
//! Host: host:port
//! ```
//!
//! where `sig` is HMAC-SHA1 keyed with `ConnectionRequestPassword` over the concatenation of
//! `ts`, `id`, `un` and `cn`. The CPE answers nothing; it ignores a datagram with a bad
//! signature, the wrong user, a timestamp too far from its clock, or an `id` it has seen.
//!
//! ```
//! use cwmp_core::connreq::udp::{UdpConnReqConfig, UdpConnReqValidator, UdpRejection};
//!
//! let mut validator = UdpConnReqValidator::new(UdpConnReqConfig::new("user", "pass"));
//! let datagram = b"GET http://10.0.0.1:7547?ts=1700000000&id=1&un=user&cn=abc&sig=00 HTTP/1.1\r\n\r\n";
//! assert_eq!(validator.handle_datagram(Some(1_700_000_000), datagram), Err(UdpRejection::BadSignature));
//! ```

use std::collections::VecDeque;

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::auth;

/// Most bytes of a datagram looked at.
const MAX_DATAGRAM: usize = 1024;

/// Settings of the [`UdpConnReqValidator`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UdpConnReqConfig {
    /// `ConnectionRequestUsername`.
    pub username: String,
    /// `ConnectionRequestPassword`, the HMAC key.
    pub password: String,
    /// Most seconds between `ts` and the CPE's clock. Default 300.
    pub max_clock_skew_secs: u32,
    /// How many message ids are remembered for replay detection. Default 64.
    pub remembered_ids: usize,
}

impl std::fmt::Debug for UdpConnReqConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpConnReqConfig")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("max_clock_skew_secs", &self.max_clock_skew_secs)
            .field("remembered_ids", &self.remembered_ids)
            .finish()
    }
}

impl UdpConnReqConfig {
    /// Settings for the connection-request credentials.
    #[must_use]
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            max_clock_skew_secs: 300,
            remembered_ids: 64,
        }
    }
}

/// Why a datagram was ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UdpRejection {
    /// Not a request line with the five query parameters.
    #[error("malformed UDP connection request")]
    Malformed,
    /// Longer than 1024 bytes.
    #[error("datagram too large")]
    TooLarge,
    /// The signature does not match (or the user name is wrong).
    #[error("bad signature")]
    BadSignature,
    /// `ts` is too far from the CPE's clock.
    #[error("timestamp out of range")]
    Stale,
    /// The message id was seen already (the ACS repeats each request; only the first counts).
    #[error("repeated message id")]
    Replay,
}

/// The parsed query of a UDP connection request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UdpConnReq {
    /// `ts`: Unix seconds at the ACS.
    pub ts: i64,
    /// `id`: the message id.
    pub id: String,
    /// `un`: the user name.
    pub un: String,
    /// `cn`: the client nonce.
    pub cn: String,
    /// `sig`: the hex signature.
    pub sig: String,
}

impl UdpConnReq {
    /// Parses a datagram.
    ///
    /// # Errors
    ///
    /// [`UdpRejection::TooLarge`] or [`UdpRejection::Malformed`].
    pub fn parse(datagram: &[u8]) -> Result<Self, UdpRejection> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(UdpRejection::TooLarge);
        }
        let text = std::str::from_utf8(datagram).map_err(|_| UdpRejection::Malformed)?;
        let line = text.lines().next().ok_or(UdpRejection::Malformed)?;
        let mut parts = line.split(' ');
        let (Some("GET"), Some(uri), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(UdpRejection::Malformed);
        };
        if !version.starts_with("HTTP/1.") {
            return Err(UdpRejection::Malformed);
        }
        let (_, query) = uri.split_once('?').ok_or(UdpRejection::Malformed)?;
        let mut fields: [Option<String>; 5] = Default::default();
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').ok_or(UdpRejection::Malformed)?;
            let slot = match name {
                "ts" => fields.get_mut(0),
                "id" => fields.get_mut(1),
                "un" => fields.get_mut(2),
                "cn" => fields.get_mut(3),
                "sig" => fields.get_mut(4),
                _ => continue,
            };
            let Some(slot) = slot else {
                return Err(UdpRejection::Malformed);
            };
            if slot.is_some() {
                return Err(UdpRejection::Malformed);
            }
            *slot = Some(percent_decode(value).ok_or(UdpRejection::Malformed)?);
        }
        let [Some(ts), Some(id), Some(un), Some(cn), Some(sig)] = fields else {
            return Err(UdpRejection::Malformed);
        };
        let ts = ts.parse().map_err(|_| UdpRejection::Malformed)?;
        Ok(Self {
            ts,
            id,
            un,
            cn,
            sig,
        })
    }
}

/// Checks UDP connection requests; see the [module docs](self).
#[derive(Debug)]
pub struct UdpConnReqValidator {
    config: UdpConnReqConfig,
    seen: VecDeque<String>,
}

impl UdpConnReqValidator {
    /// A validator with `config`.
    #[must_use]
    pub fn new(config: UdpConnReqConfig) -> Self {
        Self {
            config,
            seen: VecDeque::new(),
        }
    }

    /// Checks a datagram, `now_unix` being the wall clock (`None` before NTP: the timestamp
    /// cannot be checked and only the id guards against replay). `Ok` means: start a session
    /// with `6 CONNECTION REQUEST`.
    ///
    /// # Errors
    ///
    /// Why the datagram is ignored.
    pub fn handle_datagram(
        &mut self,
        now_unix: Option<i64>,
        datagram: &[u8],
    ) -> Result<(), UdpRejection> {
        let request = UdpConnReq::parse(datagram)?;
        let mut mac = Hmac::<Sha1>::new_from_slice(self.config.password.as_bytes())
            .map_err(|_| UdpRejection::BadSignature)?;
        mac.update(request.ts.to_string().as_bytes());
        mac.update(request.id.as_bytes());
        mac.update(request.un.as_bytes());
        mac.update(request.cn.as_bytes());
        let expected = auth::hex(&mac.finalize().into_bytes());
        let user_ok = auth::secure_eq(request.un.as_bytes(), self.config.username.as_bytes());
        let sig_ok = auth::secure_eq(
            request.sig.to_ascii_lowercase().as_bytes(),
            expected.as_bytes(),
        );
        if !(user_ok & sig_ok) {
            return Err(UdpRejection::BadSignature);
        }
        if let Some(now) = now_unix {
            let skew = now.saturating_sub(request.ts).unsigned_abs();
            if skew > u64::from(self.config.max_clock_skew_secs) {
                return Err(UdpRejection::Stale);
            }
        }
        if self.seen.contains(&request.id) {
            return Err(UdpRejection::Replay);
        }
        if self.seen.len() >= self.config.remembered_ids.max(1) {
            self.seen.pop_front();
        }
        self.seen.push_back(request.id);
        Ok(())
    }
}

/// Decodes `%XX` escapes (and nothing else; `+` stays `+`).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = text.get(i.checked_add(1)?..i.checked_add(3)?)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i = i.checked_add(3)?;
        } else {
            out.push(b);
            i = i.checked_add(1)?;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(ts: i64, id: &str, un: &str, cn: &str, key: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(format!("{ts}{id}{un}{cn}").as_bytes());
        let sig = auth::hex(&mac.finalize().into_bytes());
        format!("GET http://10.0.0.1:7547?ts={ts}&id={id}&un={un}&cn={cn}&sig={sig} HTTP/1.1\r\nHost: 10.0.0.1:7547\r\n\r\n")
            .into_bytes()
    }

    #[test]
    fn accepts_once_and_rejects_replay_skew_and_forgery() {
        let mut v = UdpConnReqValidator::new(UdpConnReqConfig::new("user", "pass"));
        let good = signed(1_700_000_000, "42", "user", "XTGU", "pass");
        assert_eq!(v.handle_datagram(Some(1_700_000_010), &good), Ok(()));
        assert_eq!(
            v.handle_datagram(Some(1_700_000_010), &good),
            Err(UdpRejection::Replay)
        );
        let old = signed(1_700_000_000, "43", "user", "XTGU", "pass");
        assert_eq!(
            v.handle_datagram(Some(1_700_001_000), &old),
            Err(UdpRejection::Stale)
        );
        assert_eq!(
            v.handle_datagram(None, &old),
            Ok(()),
            "no clock: no ts check"
        );
        let forged = signed(1_700_000_000, "44", "user", "XTGU", "guess");
        assert_eq!(
            v.handle_datagram(None, &forged),
            Err(UdpRejection::BadSignature)
        );
        let other_user = signed(1_700_000_000, "45", "mallory", "XTGU", "pass");
        assert_eq!(
            v.handle_datagram(None, &other_user),
            Err(UdpRejection::BadSignature)
        );
    }

    #[test]
    fn parse_rejects_malformed() {
        for bad in [
            &b"POST http://h?ts=1&id=1&un=u&cn=c&sig=0 HTTP/1.1"[..],
            b"GET http://h HTTP/1.1",
            b"GET http://h?ts=x&id=1&un=u&cn=c&sig=0 HTTP/1.1",
            b"GET http://h?ts=1&id=1&un=u&cn=c HTTP/1.1",
            b"GET http://h?ts=1&ts=1&id=1&un=u&cn=c&sig=0 HTTP/1.1",
            b"GET http://h?ts=1&id=%zz&un=u&cn=c&sig=0 HTTP/1.1",
            b"\xff\xfe",
        ] {
            assert_eq!(
                UdpConnReq::parse(bad),
                Err(UdpRejection::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            UdpConnReq::parse(&[b'G'; 2000]),
            Err(UdpRejection::TooLarge)
        );
        let ok =
            UdpConnReq::parse(b"GET http://h:1?ts=5&id=a%20b&un=u&cn=c&sig=AB HTTP/1.1").unwrap();
        assert_eq!((ok.ts, ok.id.as_str()), (5, "a b"));
    }
}
