//! What `Device.Security.Certificate.{i}.` shows of a certificate, read from its DER with
//! RustCrypto's `x509-cert`: serial number, issuer and subject (RFC 4514, as `openssl x509
//! -nameopt RFC2253` prints them), validity and signature algorithm (RFC 5280 4.1).
//!
//! Names are written here from the parsed attributes with a short table of attribute names,
//! not with the crate's `Display`, which links const-oid's database of every known OID name
//! (84 KB more in the router build).

use std::fmt::Write as _;

use rustls::pki_types::SignatureVerificationAlgorithm;
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::der::asn1::{AnyRef, BitStringRef};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode, Encode as _, Reader as _, SliceReader, Tag, Tagged as _};
use x509_cert::name::Name;

/// The fields of one certificate, as the row's parameters hold them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CertificateInfo {
    /// `SerialNumber`: the serial in upper-case hex, without a sign byte.
    pub(crate) serial_number: String,
    /// `Issuer`: the issuer's distinguished name, RFC 4514, last attribute first
    /// (`CN=Operator CA,O=Operator,C=FR`).
    pub(crate) issuer: String,
    /// `Subject`, as `issuer`.
    pub(crate) subject: String,
    /// `NotBefore` (TR-106 dateTime).
    pub(crate) not_before: String,
    /// `NotAfter` (TR-106 dateTime).
    pub(crate) not_after: String,
    /// `SignatureAlgorithm`: the usual name (`sha256WithRSAEncryption`), else the OID.
    pub(crate) signature_algorithm: String,
}

/// The row strings' longest (TR-181: `SerialNumber` 64, the others 256).
const MAX_SERIAL: usize = 64;
const MAX_TEXT: usize = 256;

/// The fields of the DER certificate `der`; `None` when it does not parse.
pub(crate) fn parse(der: &[u8]) -> Option<CertificateInfo> {
    let cert = Certificate::from_der(der).ok()?;
    let tbs = &cert.tbs_certificate;
    Some(CertificateInfo {
        serial_number: hex_serial(tbs.serial_number.as_bytes()),
        issuer: bounded(name(&tbs.issuer)),
        subject: bounded(name(&tbs.subject)),
        not_before: tbs.validity.not_before.to_string(),
        not_after: tbs.validity.not_after.to_string(),
        signature_algorithm: algorithm_name(&cert.signature_algorithm.oid),
    })
}

/// The start of the validity period of the DER certificate `der`, as a time since the Unix
/// epoch; `None` when it does not parse.
pub(crate) fn not_before(der: &[u8]) -> Option<std::time::Duration> {
    let cert = Certificate::from_der(der).ok()?;
    Some(cert.tbs_certificate.validity.not_before.to_unix_duration())
}

/// Whether the signed object `signed` (DER, a SIGNED{} structure: a CRL) carries a valid
/// signature by the key of `spki` (a SubjectPublicKeyInfo without its outer SEQUENCE, as a
/// webpki trust anchor holds it) with one of `algorithms` (that key's and that signature's).
pub(crate) fn signed_by(
    signed: &[u8],
    spki: &[u8],
    algorithms: &[&dyn SignatureVerificationAlgorithm],
) -> bool {
    let parts = || -> x509_cert::der::Result<_> {
        let mut outer = SliceReader::new(signed)?;
        let (tbs, signature_alg, signature) = outer.sequence(|fields| {
            let tbs = fields.tlv_bytes()?;
            let alg = AnyRef::decode(fields)?.value();
            Ok((tbs, alg, BitStringRef::decode(fields)?.raw_bytes()))
        })?;
        let mut key = SliceReader::new(spki)?;
        let key_alg = AnyRef::decode(&mut key)?.value();
        let key = BitStringRef::decode(&mut key)?.raw_bytes();
        Ok((tbs, signature_alg, signature, key_alg, key))
    };
    let Ok((tbs, signature_alg, signature, key_alg, key)) = parts() else {
        return false;
    };
    algorithms.iter().any(|algorithm| {
        algorithm.signature_alg_id().as_ref() == signature_alg
            && algorithm.public_key_alg_id().as_ref() == key_alg
            && algorithm.verify_signature(key, tbs, signature).is_ok()
    })
}

/// Upper-case hex of a serial number, without the sign byte DER adds before a high bit.
fn hex_serial(serial: &[u8]) -> String {
    let serial = match serial {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => serial,
    };
    let mut text: String = serial.iter().map(|b| format!("{b:02X}")).collect();
    text.truncate(MAX_SERIAL);
    text
}

/// A Name as RFC 4514 writes it: the last RDN first, RDNs separated by `,`, the attributes
/// of one by `+`.
fn name(name: &Name) -> String {
    let mut text = String::new();
    for (i, rdn) in name.0.iter().rev().enumerate() {
        for (j, attribute) in rdn.0.iter().enumerate() {
            if i > 0 || j > 0 {
                text.push(if j > 0 { '+' } else { ',' });
            }
            attribute_text(&mut text, attribute);
        }
    }
    text
}

/// `TYPE=value`, the value escaped (RFC 4514 2.4); a type without a short name is its
/// dotted OID, and a value that is not a string the hex of its DER (`#...`).
fn attribute_text(text: &mut String, attribute: &AttributeTypeAndValue) {
    let value = attribute.value.value();
    let string = match attribute.value.tag() {
        Tag::BmpString => {
            let units: Vec<u16> = value
                .chunks_exact(2)
                .map(|pair| match pair {
                    [high, low] => u16::from_be_bytes([*high, *low]),
                    _ => 0,
                })
                .collect();
            Some(String::from_utf16_lossy(&units))
        }
        Tag::PrintableString | Tag::Utf8String | Tag::Ia5String | Tag::TeletexString => {
            Some(String::from_utf8_lossy(value).into_owned())
        }
        _ => None,
    };
    match (attribute_name(&attribute.oid), string) {
        (Some(key), Some(string)) => {
            text.push_str(key);
            text.push('=');
            let last = string.chars().count().saturating_sub(1);
            for (i, c) in string.chars().enumerate() {
                match c {
                    '#' | ' ' if i == 0 => text.push('\\'),
                    ' ' if i == last => text.push('\\'),
                    '"' | '+' | ',' | ';' | '<' | '>' | '\\' => text.push('\\'),
                    _ => {}
                }
                text.push(c);
            }
        }
        _ => {
            let _ = write!(text, "{}=#", attribute.oid);
            for byte in attribute.value.to_der().unwrap_or_default() {
                let _ = write!(text, "{byte:02x}");
            }
        }
    }
}

/// The short name RFC 4514 and openssl give a Name attribute type.
fn attribute_name(oid: &ObjectIdentifier) -> Option<&'static str> {
    Some(match oid.as_bytes() {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "STREET",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        _ => return None,
    })
}

/// `text` cut to the row's longest, on a character boundary.
fn bounded(mut text: String) -> String {
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end = end.saturating_sub(1);
        }
        text.truncate(end);
    }
    text
}

/// The name openssl gives a signature algorithm, else its OID (const-oid's names differ:
/// `id-Ed25519`, `id-RSASSA-PSS`).
fn algorithm_name(oid: &ObjectIdentifier) -> String {
    const RSA: [u8; 8] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA: [u8; 7] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    let known = match oid.as_bytes() {
        [rsa @ .., last] if *rsa == RSA => match last {
            0x05 => "sha1WithRSAEncryption",
            0x0a => "rsassaPss",
            0x0b => "sha256WithRSAEncryption",
            0x0c => "sha384WithRSAEncryption",
            0x0d => "sha512WithRSAEncryption",
            _ => return oid.to_string(),
        },
        [ecdsa @ .., last] if *ecdsa == ECDSA => match last {
            0x02 => "ecdsa-with-SHA256",
            0x03 => "ecdsa-with-SHA384",
            0x04 => "ecdsa-with-SHA512",
            _ => return oid.to_string(),
        },
        [0x2b, 0x65, 0x70] => "ED25519",
        _ => return oid.to_string(),
    };
    known.to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn serials_oids_and_what_does_not_parse() {
        assert_eq!(hex_serial(&[0x00, 0x9a, 0x01]), "9A01");
        assert_eq!(hex_serial(&[0x00]), "00");
        let ecdsa = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
        assert_eq!(algorithm_name(&ecdsa), "ecdsa-with-SHA256");
        let unknown = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.99");
        assert_eq!(algorithm_name(&unknown), "1.2.840.113549.1.1.99");
        assert_eq!(bounded("é".repeat(200)).len(), MAX_TEXT);
        assert_eq!(parse(&[0x30, 0x03, 0x30, 0x01, 0x02]), None);
    }

    #[test]
    fn names_are_rfc_4514() {
        use std::str::FromStr as _;
        let written = |text: &str| name(&Name::from_str(text).unwrap());
        assert_eq!(
            written("CN=Op CA,O=Operator\\, Inc.,C=FR"),
            "CN=Op CA,O=Operator\\, Inc.,C=FR"
        );
        assert_eq!(written("CN=a+UID=b,DC=example"), "CN=a+UID=b,DC=example");
        assert_eq!(written("CN=\\ x\\ "), "CN=\\ x\\ ");
        assert_eq!(written("2.5.4.99=#0c0161"), "2.5.4.99=#0c0161");
    }
}
