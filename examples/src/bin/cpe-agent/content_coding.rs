//! The HTTP content codings of bulk data reports (`Profile.{i}.HTTP.Compression`): `gzip`
//! (RFC 1952) and `deflate`, which in HTTP is the zlib format (RFC 1950, RFC 9110 §8.4.1.2).
//!
//! DEFLATE itself is miniz_oxide's (its one-shot `compress_to_vec*`, without default
//! features), which also writes the zlib wrapper. The gzip wrapper is written here: a 10-byte
//! header and an 8-byte trailer (RFC 1952 §2.3), with the CRC-32 from the `crc` crate over a
//! 1 KB table. The crates that write gzip weigh more than these few lines: flate2's
//! `GzEncoder` brings its `Read`/`Write` adapters and crc32fast's 16 KB of tables (the router
//! build: +47 KB against +23 KB for miniz_oxide alone).

use hal::bulkdata::Compression;

/// The DEFLATE level (miniz's scale, 0-10): 4. On three reports of 100-180 KB of synthetic
/// host-table samples (JSON `NameValuePair` and `ObjectHierarchy`, CSV `ParameterPerRow`;
/// 5.0-6.8 times smaller coded) it came within 0.6-2.3 % of level 6's size in half to two
/// thirds of its time; level 1 was 2-4 times faster but 4-21 % larger, level 9 took 1.6-3.6
/// times level 6 for under 2 %. The report is compressed once (its retries and redirects
/// send the same bytes), on tokio's blocking pool (`bulkdata::make`): 3.5-5.3 ms for these on a
/// loaded x86 core, which the agent's one runtime thread does not wait for.
const LEVEL: u8 = 4;

/// The CRC-32 of gzip (RFC 1952 §2.3.1 and §8: ISO 3309, as in PNG); one 256-entry
/// table (1 KB) rather than crc32fast's sixteen.
const CRC_32: crc::Crc<u32, crc::Table<1>> =
    crc::Crc::<u32, crc::Table<1>>::new(&crc::CRC_32_ISO_HDLC);

/// `report` in the content coding of `compression`; as it is for [`Compression::None`].
pub(crate) fn encode(compression: Compression, report: Vec<u8>) -> Vec<u8> {
    match compression {
        Compression::Gzip => gzip(&report),
        Compression::Deflate => miniz_oxide::deflate::compress_to_vec_zlib(&report, LEVEL),
        _ => report,
    }
}

/// `data` as one gzip member (RFC 1952 §2.3): the header without optional fields, the
/// DEFLATE data, the CRC-32 of `data` and its size modulo 2^32, little-endian.
fn gzip(data: &[u8]) -> Vec<u8> {
    // ID1 ID2, CM 8 (deflate), FLG 0 (no name, comment or extra field), MTIME 0 (none given),
    // XFL 0 (neither the slowest level nor the fastest), OS 255 (unknown).
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let mut member = HEADER.to_vec();
    member.extend(miniz_oxide::deflate::compress_to_vec(data, LEVEL));
    member.extend(CRC_32.checksum(data).to_le_bytes());
    // ISIZE is the size modulo 2^32: the truncation is the format's.
    member.extend((data.len() as u32).to_le_bytes());
    member
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_members_carry_the_rfc_1952_check_value() {
        // The CRC-32 check value of "123456789" (0xCBF43926) and the size 9, little-endian:
        // the trailer `gzip -n` writes for that input.
        let member = gzip(b"123456789");
        assert_eq!(member[..4], [0x1f, 0x8b, 8, 0]);
        let trailer = &member[member.len() - 8..];
        assert_eq!(trailer, [0x26, 0x39, 0xf4, 0xcb, 9, 0, 0, 0]);
        let deflated = &member[10..member.len() - 8];
        let inflated = miniz_oxide::inflate::decompress_to_vec(deflated).unwrap();
        assert_eq!(inflated, b"123456789");
    }

    #[test]
    fn deflate_is_zlib_wrapped_and_none_leaves_the_report() {
        let report = br#"{"Report":[{"Device.DeviceInfo.SerialNumber":"SIM0001"}]}"#.repeat(20);
        let zlib = encode(Compression::Deflate, report.clone());
        // RFC 1950 §2.2: CM 8 with a 32 KB window, and CMF·256 + FLG a multiple of 31.
        assert_eq!(zlib[0], 0x78);
        assert_eq!((u16::from(zlib[0]) << 8 | u16::from(zlib[1])) % 31, 0);
        assert!(zlib.len() < report.len() / 5, "{} bytes", zlib.len());
        let inflated = miniz_oxide::inflate::decompress_to_vec_zlib(&zlib).unwrap();
        assert_eq!(inflated, report);
        assert_eq!(encode(Compression::None, report.clone()), report);
    }
}
