//! What `Device.Security.Certificate.{i}.` shows of a certificate, read from its DER: serial
//! number, issuer, subject, validity and signature algorithm (RFC 5280 4.1).
//!
//! A few dozen lines of DER reading instead of an X.509 crate, as the router build has little
//! room and rustls's webpki, which checks the certificates, does not expose these fields as
//! text. Every read is bounded by the input; a certificate that does not parse is `None`.

/// The fields of one certificate, as the row's parameters hold them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CertificateInfo {
    /// `SerialNumber`: the serial in upper-case hex, without a sign byte.
    pub(crate) serial_number: String,
    /// `Issuer`: the issuer's distinguished name, attributes in certificate order
    /// (`C=FR, O=Operator, CN=Operator CA`).
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

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const BMP_STRING: u8 = 0x1e;

/// Reads one DER element: its tag, its contents and what follows.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, after) = rest.split_at_checked(count)?;
        rest = after;
        bytes.iter().try_fold(0_usize, |n, &b| {
            n.checked_mul(256)?.checked_add(usize::from(b))
        })?
    };
    let (contents, rest) = rest.split_at_checked(length)?;
    Some((tag, contents, rest))
}

/// Reads one element that must have `tag`.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, contents, rest) = element(input)?;
    (found == tag).then_some((contents, rest))
}

/// The TBSCertificate of the DER certificate `der` from its serial number on.
fn tbs_from_serial(der: &[u8]) -> Option<&[u8]> {
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(certificate, SEQUENCE)?;
    match element(tbs)? {
        (VERSION, _, rest) => Some(rest),
        _ => Some(tbs),
    }
}

/// The fields of the DER certificate `der`.
pub(crate) fn parse(der: &[u8]) -> Option<CertificateInfo> {
    let (serial, rest) = expect(tbs_from_serial(der)?, INTEGER)?;
    let (algorithm, rest) = expect(rest, SEQUENCE)?;
    let (issuer, rest) = expect(rest, SEQUENCE)?;
    let (validity, rest) = expect(rest, SEQUENCE)?;
    let (subject, _) = expect(rest, SEQUENCE)?;
    let (not_before, validity) = time(validity)?;
    let (not_after, _) = time(validity)?;
    let (algorithm, _) = expect(algorithm, OID)?;
    Some(CertificateInfo {
        serial_number: hex_serial(serial),
        issuer: name(issuer)?,
        subject: name(subject)?,
        not_before,
        not_after,
        signature_algorithm: algorithm_name(algorithm),
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

/// A Name (RDNSequence) as `TYPE=value` pairs, in order.
fn name(mut rdns: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let (mut set, rest) = expect(rdns, SET)?;
        rdns = rest;
        while !set.is_empty() {
            let (attribute, rest) = expect(set, SEQUENCE)?;
            set = rest;
            let (oid, value) = expect(attribute, OID)?;
            let (tag, value, _) = element(value)?;
            parts.push(format!("{}={}", attribute_name(oid), text(tag, value)));
        }
    }
    let mut text = parts.join(", ");
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end = end.saturating_sub(1);
        }
        text.truncate(end);
    }
    Some(text)
}

/// A directory string: BMPString is UTF-16, the others are read as UTF-8.
fn text(tag: u8, value: &[u8]) -> String {
    if tag == BMP_STRING {
        let units: Vec<u16> = value
            .chunks_exact(2)
            .map(|pair| {
                u16::from_be_bytes([
                    pair.first().copied().unwrap_or(0),
                    pair.get(1).copied().unwrap_or(0),
                ])
            })
            .collect();
        return String::from_utf16_lossy(&units);
    }
    String::from_utf8_lossy(value).into_owned()
}

/// A UTCTime or GeneralizedTime (`Z` form, as RFC 5280 requires) as a TR-106 dateTime, and
/// what follows it.
fn time(input: &[u8]) -> Option<(String, &[u8])> {
    let (tag, value, rest) = element(input)?;
    let value = std::str::from_utf8(value).ok()?.strip_suffix('Z')?;
    let digits = |s: &str| s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit());
    let (year, tail) = match tag {
        UTC_TIME => {
            let (yy, tail) = value.split_at_checked(2)?;
            let yy: u32 = yy.parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, tail)
        }
        GENERALIZED_TIME => {
            let (yyyy, tail) = value.split_at_checked(4)?;
            (yyyy.parse().ok()?, tail)
        }
        _ => return None,
    };
    if !digits(tail) {
        return None;
    }
    let part = |i: usize| tail.get(i..i.saturating_add(2));
    let text = format!(
        "{year:04}-{}-{}T{}:{}:{}Z",
        part(0)?,
        part(2)?,
        part(4)?,
        part(6)?,
        part(8)?
    );
    Some((text, rest))
}

/// The usual short name of a Name attribute type, else its OID.
fn attribute_name(oid: &[u8]) -> String {
    let known = match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        _ => return dotted(oid),
    };
    known.to_owned()
}

/// The usual name of a signature algorithm, else its OID.
fn algorithm_name(oid: &[u8]) -> String {
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
    known.to_owned()
}

/// An OID in dotted form.
fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &byte in oid {
        value = value
            .saturating_mul(128)
            .saturating_add(u64::from(byte & 0x7f));
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value.saturating_sub(first * 40));
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_bounded_by_their_input() {
        assert_eq!(
            element(&[0x02, 0x01, 0x05, 0xff]),
            Some((0x02, &[5][..], &[0xff][..]))
        );
        assert_eq!(
            element(&[0x04, 0x81, 0x02, 1, 2]),
            Some((0x04, &[1, 2][..], &[][..]))
        );
        // Longer than what is there, a length of 5 bytes, none at all.
        assert_eq!(element(&[0x04, 0x03, 1, 2]), None);
        assert_eq!(element(&[0x04, 0x85, 0, 0, 0, 0, 1, 0]), None);
        assert_eq!(element(&[0x04, 0x82, 0xff]), None);
        assert_eq!(element(&[0x04]), None);
        assert_eq!(parse(&[0x30, 0x03, 0x30, 0x01, 0x02]), None);
    }

    #[test]
    fn names_times_serials_and_oids() {
        assert_eq!(hex_serial(&[0x00, 0x9a, 0x01]), "9A01");
        assert_eq!(hex_serial(&[0x00]), "00");
        assert_eq!(
            time(b"\x17\x0d991231235959Z"),
            Some(("1999-12-31T23:59:59Z".into(), &[][..]))
        );
        assert_eq!(
            time(b"\x18\x0f20500101000000Z"),
            Some(("2050-01-01T00:00:00Z".into(), &[][..]))
        );
        assert_eq!(time(b"\x17\x0d9912312359+0Z"), None);
        assert_eq!(
            dotted(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]),
            "1.2.840.113549"
        );
        assert_eq!(
            algorithm_name(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
            "ecdsa-with-SHA256"
        );
        // C=FR, CN=Operator CA
        let rdns = [
            0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'F', b'R', 0x31,
            0x0f, 0x30, 0x0d, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x06, b'O', b'p', b' ', b'C',
            b'A', b'!',
        ];
        assert_eq!(name(&rdns).as_deref(), Some("C=FR, CN=Op CA!"));
    }
}
