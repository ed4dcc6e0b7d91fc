//! What `Device.Security.Certificate.{i}.` shows of a certificate, read from its DER:
//! serial number, issuer and subject (RFC 4514, as `openssl x509 -nameopt RFC2253` prints
//! them), validity and signature algorithm (RFC 5280 4.1).
//!
//! A walk over the few DER fields the rows show (X.690 §8.1, definite lengths in their
//! shortest form; a certificate that does not parse is `None`), not RustCrypto's `x509-cert`,
//! whose full decoder of every field and extension weighed about 40 KB of the router build
//! (issue #8) for six strings. The certificate is checked by rustls and webpki, not here:
//! this only reads what they accepted or what a file holds. Names are written with a short
//! table of attribute names, others as dotted OIDs.

use std::fmt::Write as _;
use std::time::Duration;

use tr181_model::value::DateTime;

/// DER tags of the fields read (X.680 §8.4 universal tags; `[0]` explicit).
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const TELETEX_STRING: u8 = 0x14;
const IA5_STRING: u8 = 0x16;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const BMP_STRING: u8 = 0x1e;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const VERSION: u8 = 0xa0;

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

/// The DER fields of a certificate the rows show (RFC 5280 4.1).
struct Fields<'a> {
    /// The contents of the serial number's INTEGER.
    serial: &'a [u8],
    /// The contents of the issuer's and the subject's Name SEQUENCE.
    issuer: &'a [u8],
    subject: &'a [u8],
    not_before: DateTime,
    not_after: DateTime,
    /// The contents of the outer signature algorithm's OID.
    algorithm: &'a [u8],
}

/// Splits the DER certificate `der` into its [`Fields`]; `None` when it is not one.
fn fields(der: &[u8]) -> Option<Fields<'_>> {
    let (certificate, rest) = expect(der, SEQUENCE)?;
    let (tbs, signed) = expect(certificate, SEQUENCE)?;
    let (algorithm, signed) = expect(signed, SEQUENCE)?;
    let (algorithm, _parameters) = expect(algorithm, OID)?;
    let (_signature, signed) = expect(signed, BIT_STRING)?;
    let tbs = expect(tbs, VERSION).map_or(tbs, |(_, rest)| rest);
    let (serial, tbs) = expect(tbs, INTEGER)?;
    let (_signature_algorithm, tbs) = expect(tbs, SEQUENCE)?;
    let (issuer, tbs) = expect(tbs, SEQUENCE)?;
    let (validity, tbs) = expect(tbs, SEQUENCE)?;
    let (subject, tbs) = expect(tbs, SEQUENCE)?;
    let (_public_key, _extensions) = expect(tbs, SEQUENCE)?;
    let (not_before, validity) = time(validity)?;
    let (not_after, validity) = time(validity)?;
    (rest.is_empty() && signed.is_empty() && validity.is_empty()).then_some(Fields {
        serial,
        issuer,
        subject,
        not_before,
        not_after,
        algorithm,
    })
}

/// The fields of the DER certificate `der`; `None` when it does not parse.
pub(crate) fn parse(der: &[u8]) -> Option<CertificateInfo> {
    let fields = fields(der)?;
    Some(CertificateInfo {
        serial_number: hex_serial(fields.serial),
        issuer: bounded(name(fields.issuer)?),
        subject: bounded(name(fields.subject)?),
        not_before: fields.not_before.to_string(),
        not_after: fields.not_after.to_string(),
        signature_algorithm: algorithm_name(fields.algorithm)?,
    })
}

/// The start of the validity period of the DER certificate `der`, as a time since the Unix
/// epoch; `None` when it does not parse.
pub(crate) fn not_before(der: &[u8]) -> Option<Duration> {
    let seconds = fields(der)?.not_before.unix_seconds()?;
    Some(Duration::from_secs(u64::try_from(seconds).ok()?))
}

/// The tag, contents and rest after the first DER element of `input`.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        // Long form: 1 to 4 length bytes, without leading zeros, for 128 or more.
        let (bytes, rest) = rest.split_at_checked(usize::from(first & 0x7f))?;
        let length = bytes.iter().try_fold(0_u32, |length, b| {
            length.checked_mul(256)?.checked_add(u32::from(*b))
        })?;
        let minimal = !bytes.is_empty() && bytes.first() != Some(&0) && length >= 0x80;
        (usize::try_from(length).ok().filter(|_| minimal)?, rest)
    };
    // High tag numbers (low bits all set) appear in none of the fields read.
    let (contents, rest) = rest.split_at_checked(length)?;
    (tag & 0x1f != 0x1f).then_some((tag, contents, rest))
}

/// The contents of the DER element `tag` at the start of `input`, and the rest.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, contents, rest) = tlv(input)?;
    (found == tag).then_some((contents, rest))
}

/// A UTCTime (years 1950 to 2049) or GeneralizedTime in the `Z` form RFC 5280 4.1.2.5
/// requires, from 1970 on; and the rest of `input`.
fn time(input: &[u8]) -> Option<(DateTime, &[u8])> {
    let (tag, text, rest) = tlv(input)?;
    let digits = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, digits) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let year: u16 = digits.get(..2)?.parse().ok()?;
            (
                if year >= 50 { 1900 } else { 2000 } + year,
                digits.get(2..)?,
            )
        }
        (GENERALIZED_TIME, 14) => (digits.get(..4)?.parse().ok()?, digits.get(4..)?),
        _ => return None,
    };
    let two = |at: usize| digits.get(at..at + 2)?.parse::<u8>().ok();
    let time = DateTime::from_parts(year, two(0)?, two(2)?, two(4)?, two(6)?, two(8)?, 0)?;
    (year >= 1970).then_some((time, rest))
}

/// An OID's contents in dotted form (arcs up to `u32`); `None` when malformed.
fn dotted(oid: &[u8]) -> Option<String> {
    let mut text = String::new();
    let mut arc: u32 = 0;
    for (i, byte) in oid.iter().enumerate() {
        if arc == 0 && *byte == 0x80 {
            return None;
        }
        arc = arc.checked_mul(128)?.checked_add(u32::from(byte & 0x7f))?;
        if byte & 0x80 == 0 {
            let _ = if text.is_empty() {
                let first = (arc / 40).min(2);
                write!(text, "{first}.{}", arc - first * 40)
            } else {
                write!(text, ".{arc}")
            };
            arc = 0;
        } else if i + 1 == oid.len() {
            return None;
        }
    }
    (!text.is_empty()).then_some(text)
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

/// A Name (the contents of its SEQUENCE) as RFC 4514 writes it: the last RDN first, RDNs
/// separated by `,`, the attributes of one by `+`; `None` when malformed.
fn name(mut rdns: &[u8]) -> Option<String> {
    let mut sets = Vec::new();
    while !rdns.is_empty() {
        let (set, rest) = expect(rdns, SET)?;
        sets.push(set);
        rdns = rest;
    }
    let mut text = String::new();
    for (i, mut set) in sets.into_iter().rev().enumerate() {
        let mut j = 0;
        while !set.is_empty() {
            let (attribute, rest) = expect(set, SEQUENCE)?;
            set = rest;
            let (oid, value) = expect(attribute, OID)?;
            if i > 0 || j > 0 {
                text.push(if j > 0 { '+' } else { ',' });
            }
            attribute_text(&mut text, oid, value)?;
            j += 1;
        }
    }
    Some(text)
}

/// `TYPE=value` of the attribute `oid` (contents) with the DER element `value`, the value
/// escaped (RFC 4514 2.4); a type without a short name is its dotted OID, and a value that is
/// not a string the hex of its DER (`#...`).
fn attribute_text(text: &mut String, oid: &[u8], value: &[u8]) -> Option<()> {
    let (tag, contents, rest) = tlv(value)?;
    if !rest.is_empty() {
        return None;
    }
    let string = match tag {
        BMP_STRING => {
            let units: Vec<u16> = contents
                .chunks_exact(2)
                .map(|pair| match pair {
                    [high, low] => u16::from_be_bytes([*high, *low]),
                    _ => 0,
                })
                .collect();
            Some(String::from_utf16_lossy(&units))
        }
        PRINTABLE_STRING | UTF8_STRING | IA5_STRING | TELETEX_STRING => {
            Some(String::from_utf8_lossy(contents).into_owned())
        }
        _ => None,
    };
    match (attribute_name(oid), string) {
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
            let _ = write!(text, "{}=#", dotted(oid)?);
            for byte in value {
                let _ = write!(text, "{byte:02x}");
            }
        }
    }
    Some(())
}

/// The short name RFC 4514 and openssl give a Name attribute type (OID contents).
fn attribute_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
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

/// The name openssl gives a signature algorithm (OID contents), else its dotted OID
/// (const-oid's names differ: `id-Ed25519`, `id-RSASSA-PSS`); `None` when malformed.
fn algorithm_name(oid: &[u8]) -> Option<String> {
    const RSA: [u8; 8] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA: [u8; 7] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    let known = match oid {
        [rsa @ .., last] if *rsa == RSA => match last {
            0x05 => "sha1WithRSAEncryption",
            0x0a => "rsassaPss",
            0x0b => "sha256WithRSAEncryption",
            0x0c => "sha384WithRSAEncryption",
            0x0d => "sha512WithRSAEncryption",
            _ => return dotted(oid),
        },
        [ecdsa @ .., last] if *ecdsa == ECDSA => match last {
            0x02 => "ecdsa-with-SHA256",
            0x03 => "ecdsa-with-SHA384",
            0x04 => "ecdsa-with-SHA512",
            _ => return dotted(oid),
        },
        [0x2b, 0x65, 0x70] => "ED25519",
        _ => return dotted(oid),
    };
    Some(known.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    use x509_cert::der::Encode as _;
    use x509_cert::der::oid::ObjectIdentifier;
    use x509_cert::name::Name;

    use super::*;

    /// The DER contents of `oid`, by RustCrypto's encoder.
    fn oid(dotted: &str) -> Vec<u8> {
        ObjectIdentifier::new_unwrap(dotted).as_bytes().to_vec()
    }

    #[test]
    fn a_certificate_reads_as_openssl_prints_it() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../usp-core/tests/fixtures/e2e-tls/agent.pem"
        );
        let der = CertificateDer::from_pem_file(path).unwrap();
        // `openssl x509 -noout -serial -issuer -subject -dates -nameopt RFC2253 -text`.
        let expected = CertificateInfo {
            serial_number: "0C193F0E1444711BB3F3625203E55919C8DD6C76".into(),
            issuer: "CN=e2e test CA,O=cpe-mgmt".into(),
            subject: "CN=agent".into(),
            not_before: "2026-11-26T05:39:27Z".into(),
            not_after: "2126-11-02T05:39:27Z".into(),
            signature_algorithm: "ecdsa-with-SHA256".into(),
        };
        assert_eq!(parse(&der), Some(expected));
        let since_epoch = DateTime::from_parts(2026, 11, 26, 5, 39, 27, 0)
            .unwrap()
            .unix_seconds()
            .unwrap();
        let since_epoch = Duration::from_secs(u64::try_from(since_epoch).unwrap());
        assert_eq!(not_before(&der), Some(since_epoch));
        for cut in 0..der.len() {
            assert_eq!(parse(&der[..cut]), None, "cut at {cut}");
        }
        let mut longer = der.to_vec();
        longer.push(0);
        assert_eq!(parse(&longer), None);
    }

    #[test]
    fn serials_oids_times_and_what_does_not_parse() {
        assert_eq!(hex_serial(&[0x00, 0x9a, 0x01]), "9A01");
        assert_eq!(hex_serial(&[0x00]), "00");
        assert_eq!(
            algorithm_name(&oid("1.2.840.10045.4.3.2")).unwrap(),
            "ecdsa-with-SHA256"
        );
        for unknown in [
            "1.2.840.113549.1.1.99",
            "2.5.4.99",
            "1.3.6.1.4.1.311.60.2.1.3",
        ] {
            assert_eq!(algorithm_name(&oid(unknown)).unwrap(), unknown);
        }
        // A continuation byte at the end, a padded arc, an arc above u32.
        for bad in [
            &[0x2a, 0x86][..],
            &[0x2a, 0x80, 0x01],
            &[0x90, 0x80, 0x80, 0x80, 0x00],
        ] {
            assert_eq!(dotted(bad), None, "{bad:02x?}");
        }
        assert_eq!(bounded("é".repeat(200)).len(), MAX_TEXT);
        assert_eq!(parse(&[0x30, 0x03, 0x30, 0x01, 0x02]), None);
        // UTCTime years 50..99 are 19xx, 00..49 20xx; before 1970 and other forms refused.
        let utc = |text: &str| {
            let mut der = vec![UTC_TIME, u8::try_from(text.len()).unwrap()];
            der.extend_from_slice(text.as_bytes());
            time(&der).map(|(t, _)| t.to_string())
        };
        assert_eq!(utc("491231235959Z").unwrap(), "2049-12-31T23:59:59Z");
        assert_eq!(utc("700101000000Z").unwrap(), "1970-01-01T00:00:00Z");
        for bad in [
            "690101000000Z",
            "491231235959",
            "4912312359Z",
            "491331000000Z",
        ] {
            assert_eq!(utc(bad), None, "{bad}");
        }
        // Lengths: long form for short contents and leading zeros are not DER.
        assert_eq!(tlv(&[0x04, 0x81, 0x01, 0x00]), None);
        assert_eq!(tlv(&[0x04, 0x82, 0x00, 0x80]), None);
        assert!(tlv(&[0x04, 0x01, 0x00]).is_some());
    }

    #[test]
    fn names_are_rfc_4514() {
        use std::str::FromStr as _;
        let written = |text: &str| {
            let der = Name::from_str(text).unwrap().to_der().unwrap();
            let (contents, rest) = expect(&der, SEQUENCE).unwrap();
            assert!(rest.is_empty());
            name(contents).unwrap()
        };
        assert_eq!(
            written("CN=Op CA,O=Operator\\, Inc.,C=FR"),
            "CN=Op CA,O=Operator\\, Inc.,C=FR"
        );
        assert_eq!(written("CN=a+UID=b,DC=example"), "CN=a+UID=b,DC=example");
        assert_eq!(written("CN=\\ x\\ "), "CN=\\ x\\ ");
        assert_eq!(written("2.5.4.99=#0c0161"), "2.5.4.99=#0c0161");
    }
}
