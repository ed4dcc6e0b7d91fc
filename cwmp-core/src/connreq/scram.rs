//! The client side of SASL SCRAM (RFC 5802 `SCRAM-SHA-1`, RFC 7677 `SCRAM-SHA-256`), sans-IO,
//! without channel binding (the GS2 header is `n,,`: the `-PLUS` variants are not offered).
//!
//! [`ScramClient`] makes the client-first message from a nonce the caller drew (this crate
//! never reads randomness), turns the server-first message into the client-final one, and
//! checks the server's signature in the server-final message: a server that does not prove it
//! knows the password fails the exchange ([`ScramError::ServerSignature`]), as does anything
//! out of order. `Hi()` is `pbkdf2` over `hmac`; the iteration count the server asks for is
//! capped (a hostile server would otherwise make the CPE hash for minutes).
//!
//! SASLprep (RFC 4013) is not applied: it leaves printable ASCII unchanged, and a password
//! outside it must be configured in its prepared form.

use base64::Engine as _;
use hmac::digest::{Digest, FixedOutput, KeyInit, Update};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// `base64("n,,")`: the GS2 header again in the client-final message.
const GS2_HEADER_B64: &str = "biws";
/// Most characters of a server `e=` error kept.
const MAX_ERROR_CHARS: usize = 64;

/// The hash of the mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScramHash {
    /// `SCRAM-SHA-1` (RFC 5802).
    Sha1,
    /// `SCRAM-SHA-256` (RFC 7677).
    Sha256,
}

impl ScramHash {
    /// The SASL mechanism name.
    #[must_use]
    pub fn mechanism(self) -> &'static str {
        match self {
            Self::Sha1 => "SCRAM-SHA-1",
            Self::Sha256 => "SCRAM-SHA-256",
        }
    }
}

/// Why the exchange failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScramError {
    /// The server asks for more `Hi()` iterations than allowed.
    #[error("the server asks for {got} iterations, more than {max}")]
    Iterations {
        /// The server's count.
        got: u32,
        /// The limit.
        max: u32,
    },
    /// A message that is not what RFC 5802 §7 describes.
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    /// The server's nonce does not extend the client's.
    #[error("the server nonce does not extend the client nonce")]
    Nonce,
    /// A message out of order.
    #[error("SCRAM message out of order")]
    OutOfOrder,
    /// The server answered `e=`.
    #[error("the server refused: {0}")]
    Server(String),
    /// The server signature is missing or wrong: the server does not know the password.
    #[error("the server signature does not verify")]
    ServerSignature,
}

/// Where the exchange is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// The client-first message went out; the password waits for the salt.
    First { password: String },
    /// The client-final message went out; the signature the server must send.
    Final { server_signature: Vec<u8> },
    /// The server proved itself.
    Done,
    /// Failed; nothing more is accepted.
    Failed,
}

/// One SCRAM exchange; see the [module docs](self).
#[derive(Clone, PartialEq, Eq)]
pub struct ScramClient {
    hash: ScramHash,
    /// `n=<user>,r=<nonce>`.
    first_bare: String,
    nonce: String,
    step: Step,
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient")
            .field("hash", &self.hash)
            .field("first_bare", &self.first_bare)
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    /// An exchange for `username` with `password`. `nonce`: printable ASCII without `,`
    /// (e.g. random bytes in base64), fresh for every exchange; other characters are dropped.
    #[must_use]
    pub fn new(hash: ScramHash, username: &str, password: &str, nonce: &str) -> Self {
        let nonce: String = nonce
            .chars()
            .filter(|c| c.is_ascii_graphic() && *c != ',')
            .collect();
        // RFC 5802 §5.1: `=` and `,` in the name are escaped.
        let user = username.replace('=', "=3D").replace(',', "=2C");
        Self {
            hash,
            first_bare: format!("n={user},r={nonce}"),
            nonce,
            step: Step::First {
                password: password.to_owned(),
            },
        }
    }

    /// The mechanism.
    #[must_use]
    pub fn hash(&self) -> ScramHash {
        self.hash
    }

    /// The client-first message (the initial response of the SASL `auth`).
    #[must_use]
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.first_bare)
    }

    /// Whether the server-first message is the next one.
    #[must_use]
    pub fn awaits_server_first(&self) -> bool {
        matches!(self.step, Step::First { .. })
    }

    /// Whether the server's signature verified.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.step == Step::Done
    }

    /// The server-first message; returns the client-final message. At most
    /// `max_iterations` iterations of `Hi()` are run.
    ///
    /// # Errors
    ///
    /// A [`ScramError`]; the exchange is over.
    pub fn handle_server_first(
        &mut self,
        message: &[u8],
        max_iterations: u32,
    ) -> Result<String, ScramError> {
        let Step::First { password } = std::mem::replace(&mut self.step, Step::Failed) else {
            return Err(ScramError::OutOfOrder);
        };
        let message = std::str::from_utf8(message).map_err(|_| ScramError::Malformed("UTF-8"))?;
        let mut fields = message.split(',');
        if message.starts_with("m=") {
            return Err(ScramError::Malformed("mandatory extension"));
        }
        let mut field = |name: &'static str| {
            fields
                .next()
                .and_then(|f| f.strip_prefix(name))
                .ok_or(ScramError::Malformed(name))
        };
        let nonce = field("r=")?;
        let salt = field("s=")?;
        let iterations = field("i=")?;
        if nonce.len() <= self.nonce.len()
            || !nonce.starts_with(&self.nonce)
            || !nonce.bytes().all(|b| b.is_ascii_graphic() && b != b',')
        {
            return Err(ScramError::Nonce);
        }
        let salt = base64::engine::general_purpose::STANDARD
            .decode(salt)
            .ok()
            .filter(|salt| !salt.is_empty())
            .ok_or(ScramError::Malformed("s="))?;
        let iterations: u32 = iterations
            .parse()
            .ok()
            .filter(|i| *i > 0 && iterations.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(ScramError::Malformed("i="))?;
        if iterations > max_iterations {
            return Err(ScramError::Iterations {
                got: iterations,
                max: max_iterations,
            });
        }
        let without_proof = format!("c={GS2_HEADER_B64},r={nonce}");
        let auth_message = format!("{},{message},{without_proof}", self.first_bare);
        let input = KeyInput {
            password: password.as_bytes(),
            salt: &salt,
            iterations,
            auth_message: auth_message.as_bytes(),
        };
        let proofs = match self.hash {
            ScramHash::Sha1 => input.proofs::<Hmac<Sha1>, Sha1>(),
            ScramHash::Sha256 => input.proofs::<Hmac<Sha256>, Sha256>(),
        }
        .ok_or(ScramError::Malformed("key"))?;
        self.step = Step::Final {
            server_signature: proofs.server_signature,
        };
        let proof = base64::engine::general_purpose::STANDARD.encode(proofs.client_proof);
        Ok(format!("{without_proof},p={proof}"))
    }

    /// The server-final message: its signature must be the expected one.
    ///
    /// # Errors
    ///
    /// A [`ScramError`]: the server is not to be trusted.
    pub fn handle_server_final(&mut self, message: &[u8]) -> Result<(), ScramError> {
        let Step::Final { server_signature } = std::mem::replace(&mut self.step, Step::Failed)
        else {
            return Err(ScramError::OutOfOrder);
        };
        let message = std::str::from_utf8(message).map_err(|_| ScramError::Malformed("UTF-8"))?;
        let first = message.split(',').next().unwrap_or_default();
        if let Some(error) = first.strip_prefix("e=") {
            return Err(ScramError::Server(
                error.chars().take(MAX_ERROR_CHARS).collect(),
            ));
        }
        let verifier = first
            .strip_prefix("v=")
            .ok_or(ScramError::ServerSignature)?;
        let verifier = base64::engine::general_purpose::STANDARD
            .decode(verifier)
            .map_err(|_| ScramError::ServerSignature)?;
        if !bool::from(verifier.ct_eq(&server_signature)) {
            return Err(ScramError::ServerSignature);
        }
        self.step = Step::Done;
        Ok(())
    }
}

/// What the keys of RFC 5802 §3 are computed from.
struct KeyInput<'a> {
    password: &'a [u8],
    salt: &'a [u8],
    iterations: u32,
    auth_message: &'a [u8],
}

/// The client's proof and the server signature to expect.
struct Proofs {
    client_proof: Vec<u8>,
    server_signature: Vec<u8>,
}

impl KeyInput<'_> {
    /// RFC 5802 §3 with the HMAC `M` of the hash `D` (`None` only if the HMAC refused a key,
    /// which HMAC never does).
    fn proofs<M, D>(&self) -> Option<Proofs>
    where
        M: Mac + KeyInit + Update + FixedOutput + Clone + Sync,
        D: Digest,
    {
        let mut salted = vec![0; <D as Digest>::output_size()];
        pbkdf2::pbkdf2::<M>(self.password, self.salt, self.iterations, &mut salted).ok()?;
        let hmac = |key: &[u8], data: &[u8]| -> Option<Vec<u8>> {
            let mut mac = <M as Mac>::new_from_slice(key).ok()?;
            Mac::update(&mut mac, data);
            Some(mac.finalize().into_bytes().to_vec())
        };
        let client_key = hmac(&salted, b"Client Key")?;
        let stored_key = D::digest(&client_key);
        let client_signature = hmac(&stored_key, self.auth_message)?;
        let client_proof = client_key
            .iter()
            .zip(&client_signature)
            .map(|(key, signature)| key ^ signature)
            .collect();
        let server_key = hmac(&salted, b"Server Key")?;
        Some(Proofs {
            client_proof,
            server_signature: hmac(&server_key, self.auth_message)?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// RFC 5802 §5 (user `user`, password `pencil`, 4096 iterations).
    const SHA1_FIRST: &str =
        "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    const SHA1_FINAL: &str = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";
    /// RFC 7677 §3.
    const SHA256_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const SHA256_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    /// RFC 5802 §5 and RFC 7677 §3, message by message.
    #[test]
    fn rfc_examples() {
        let examples = [
            (
                ScramHash::Sha1,
                "fyko+d2lbbFgONRv9qkxdawL",
                SHA1_FIRST,
                "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
                SHA1_FINAL,
            ),
            (
                ScramHash::Sha256,
                "rOprNGfwEbeRWgbNEkqO",
                SHA256_FIRST,
                "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                 p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                SHA256_FINAL,
            ),
        ];
        for (hash, nonce, server_first, client_final, server_final) in examples {
            let mut scram = ScramClient::new(hash, "user", "pencil", nonce);
            assert_eq!(scram.client_first(), format!("n,,n=user,r={nonce}"));
            let last = scram.handle_server_first(server_first.as_bytes(), 4096);
            assert_eq!(last.as_deref(), Ok(client_final));
            assert!(!scram.is_done());
            scram.handle_server_final(server_final.as_bytes()).unwrap();
            assert!(scram.is_done());
        }
    }

    fn after_first() -> ScramClient {
        let mut scram = ScramClient::new(
            ScramHash::Sha1,
            "user",
            "pencil",
            "fyko+d2lbbFgONRv9qkxdawL",
        );
        scram
            .handle_server_first(SHA1_FIRST.as_bytes(), 4096)
            .unwrap();
        scram
    }

    #[test]
    fn a_wrong_or_missing_server_signature_fails_closed() {
        let mut wrong = SHA1_FINAL.replace("rmF9", "rmF8");
        for message in [
            wrong.as_str(),
            "v=",
            "v=!!",
            "",
            "x=1",
            "v=rmF9pqV8S7suAoZWja4dJRkFsKQ",
        ] {
            let mut scram = after_first();
            assert_eq!(
                scram.handle_server_final(message.as_bytes()),
                Err(ScramError::ServerSignature),
                "{message}"
            );
            assert!(!scram.is_done());
            // Nothing more is accepted, not even the right signature.
            assert_eq!(
                scram.handle_server_final(SHA1_FINAL.as_bytes()),
                Err(ScramError::OutOfOrder)
            );
        }
        // The signature of the SHA-256 exchange does not verify a SHA-1 one.
        let mut scram = after_first();
        assert_eq!(
            scram.handle_server_final(SHA256_FINAL.as_bytes()),
            Err(ScramError::ServerSignature)
        );
        let mut scram = after_first();
        wrong = "e=invalid-proof".into();
        assert_eq!(
            scram.handle_server_final(wrong.as_bytes()),
            Err(ScramError::Server("invalid-proof".into()))
        );
    }

    #[test]
    fn hostile_server_first_messages() {
        let cases: [(&str, ScramError); 12] = [
            ("", ScramError::Malformed("r=")),
            (
                "m=x,r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXC,i=1",
                ScramError::Malformed("mandatory extension"),
            ),
            ("r=fyko+d2lbbFgONRv9qkxdawL", ScramError::Malformed("s=")),
            ("r=fyko+d2lbbFgONRv9qkxdawL,s=QSXC,i=1", ScramError::Nonce),
            (
                "r=other-nonce-that-is-longer-than-ours,s=QSXC,i=1",
                ScramError::Nonce,
            ),
            (
                "r=fyko+d2lbbFgONRv9qkxdawL\u{7f},s=QSXC,i=1",
                ScramError::Nonce,
            ),
            (
                "r=fyko+d2lbbFgONRv9qkxdawLx,s=,i=1",
                ScramError::Malformed("s="),
            ),
            (
                "r=fyko+d2lbbFgONRv9qkxdawLx,s=%%,i=1",
                ScramError::Malformed("s="),
            ),
            (
                "r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXC",
                ScramError::Malformed("i="),
            ),
            (
                "r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXC,i=0",
                ScramError::Malformed("i="),
            ),
            (
                "r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXC,i=+5",
                ScramError::Malformed("i="),
            ),
            (
                "r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXC,i=4294967295",
                ScramError::Iterations {
                    got: u32::MAX,
                    max: 4096,
                },
            ),
        ];
        for (message, expected) in cases {
            let mut scram = ScramClient::new(
                ScramHash::Sha1,
                "user",
                "pencil",
                "fyko+d2lbbFgONRv9qkxdawL",
            );
            assert_eq!(
                scram.handle_server_first(message.as_bytes(), 4096),
                Err(expected),
                "{message}"
            );
            assert_eq!(
                scram.handle_server_first(SHA1_FIRST.as_bytes(), 4096),
                Err(ScramError::OutOfOrder)
            );
        }
        let mut scram = ScramClient::new(ScramHash::Sha1, "u", "p", "abc");
        assert_eq!(
            scram.handle_server_first(b"r=abc\xff,s=QSXC,i=1", 1),
            Err(ScramError::Malformed("UTF-8"))
        );
        // Extensions after the iteration count are ignored.
        let mut scram = ScramClient::new(ScramHash::Sha1, "u", "p", "abc");
        assert!(
            scram
                .handle_server_first(b"r=abcd,s=QSXC,i=1,x=y", 1)
                .is_ok()
        );
        assert_eq!(
            scram.handle_server_first(b"r=abcd,s=QSXC,i=1", 1),
            Err(ScramError::OutOfOrder)
        );
    }

    #[test]
    fn names_are_escaped_and_nonces_printable() {
        let scram = ScramClient::new(ScramHash::Sha256, "a=b,c", "hunter2", "n o,nce\u{e9}");
        assert_eq!(scram.client_first(), "n,,n=a=3Db=2Cc,r=nonce");
        assert_eq!(scram.hash().mechanism(), "SCRAM-SHA-256");
        assert!(!format!("{scram:?}").contains("hunter2"));
    }
}
