//! DNS SRV for the XMPP client service (RFC 6120 §3.2.1, RFC 2782), sans-IO: the query for
//! `_xmpp-client._tcp.<Domain>` ([`srv_query`]) and the checks on its answer ([`srv_answer`]).
//! The driver sends the query to its nameserver over UDP (over TCP again when the answer is
//! [truncated](SrvError::Truncated)), and tries the targets in [`server_order`]'s order.
//!
//! The answer is untrusted: at most [`MAX_ANSWER`] bytes and [`MAX_RECORDS`] records, names at
//! most 255 bytes with compression pointers only backwards (so that reading one ends); it must
//! carry the query's ID and question. Of its answer records only the SRV records of the
//! question's name count, and of their targets only host names; the authority and additional
//! sections are not read.
//!
//! Hand-written, about a hundred lines for the one record type the agent asks for: the DNS
//! message crates read every record type (simple-dns 0.13 adds some 40 KB to the router
//! build to read one answer, 65 KB with its writer), which the router budget has no room for.
//! The tests and the `xmpp_srv` fuzz target hold it to simple-dns's reading.
//!
//! [`server_order`]: super::xmpp_client::server_order

/// Most bytes of an answer (an answer over TCP says its length first).
pub const MAX_ANSWER: usize = 8 * 1024;
/// Most records of an answer, in all its sections.
pub const MAX_RECORDS: usize = 64;
/// The service and protocol labels of the query (RFC 6120 §3.2.1).
const SERVICE: &str = "_xmpp-client._tcp.";
/// Header flags (RFC 1035 §4.1.1): a response, the opcode, truncated, recursion desired.
const QR: u16 = 0x8000;
const OPCODE: u16 = 0x7800;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
/// The response codes the answer is read for: none, and "no such name".
const NO_ERROR: u16 = 0;
const NAME_ERROR: u16 = 3;
/// The record type SRV and the class IN.
const SRV: u16 = 33;
const IN: u16 = 1;
/// Most bytes of a name on the wire (RFC 1035 §2.3.4), and of one label.
const MAX_NAME: usize = 255;
const MAX_LABEL: usize = 63;
/// A message that ends inside a field.
const CUT: SrvError = SrvError::Malformed("cut short");

/// What an answer says.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SrvAnswer {
    /// The servers, as `(Priority, Weight, (host, port))` for
    /// [`server_order`](super::xmpp_client::server_order); never empty.
    Targets(Vec<(u32, u16, (String, u16))>),
    /// The only target is `.`: the domain has no XMPP client service (RFC 2782), and the
    /// client must not fall back to the domain itself.
    NotAvailable,
    /// No SRV record (or no such name): the client falls back to the domain on port 5222
    /// (RFC 6120 §3.2.2).
    NoRecords,
}

/// Why a query could not be made or an answer was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SrvError {
    /// The domain is not a DNS name (an empty label, a label over 63 bytes, over 255 in all).
    #[error("{0:?} is not a domain name")]
    Domain(String),
    /// Longer than [`MAX_ANSWER`].
    #[error("an answer of {0} bytes, over {MAX_ANSWER}")]
    Oversize(usize),
    /// More than [`MAX_RECORDS`] records.
    #[error("more than {MAX_RECORDS} records")]
    TooManyRecords,
    /// Not a DNS message: cut short, a name too long or looping, a record's data of the wrong
    /// length.
    #[error("not a DNS message: {0}")]
    Malformed(&'static str),
    /// Not the answer to this query: another ID, not a response, another question.
    #[error("not the answer to the query")]
    NotTheAnswer,
    /// The answer did not fit (`TC`): ask again over TCP.
    #[error("truncated")]
    Truncated,
    /// The server failed or refused: the `RCODE`.
    #[error("the server answered RCODE {0}")]
    Rcode(u16),
}

/// The SRV query with `id` for `domain`'s XMPP client service, asking for recursion.
pub fn srv_query(id: u16, domain: &str) -> Result<Vec<u8>, SrvError> {
    let name = format!("{SERVICE}{}", domain.strip_suffix('.').unwrap_or(domain));
    let mut query = Vec::with_capacity(name.len() + 18);
    for field in [id, RD, 1, 0, 0, 0] {
        query.extend_from_slice(&field.to_be_bytes());
    }
    for label in name.split('.') {
        let length = u8::try_from(label.len())
            .ok()
            .filter(|&n| (1..=MAX_LABEL).contains(&usize::from(n)));
        let length = length.ok_or_else(|| SrvError::Domain(domain.to_owned()))?;
        query.push(length);
        query.extend_from_slice(label.as_bytes());
    }
    query.push(0);
    if query.len() - 12 > MAX_NAME {
        return Err(SrvError::Domain(domain.to_owned()));
    }
    for field in [SRV, IN] {
        query.extend_from_slice(&field.to_be_bytes());
    }
    Ok(query)
}

/// What `answer` says about `domain`, if it answers the query of [`srv_query`]`(id, domain)`.
pub fn srv_answer(id: u16, domain: &str, answer: &[u8]) -> Result<SrvAnswer, SrvError> {
    if answer.len() > MAX_ANSWER {
        return Err(SrvError::Oversize(answer.len()));
    }
    let mut reader = Reader {
        message: answer,
        at: 0,
    };
    let (answer_id, flags) = (reader.u16()?, reader.u16()?);
    let counts = [reader.u16()?, reader.u16()?, reader.u16()?, reader.u16()?];
    if counts
        .iter()
        .map(|&count| usize::from(count))
        .sum::<usize>()
        > MAX_RECORDS
    {
        return Err(SrvError::TooManyRecords);
    }
    let [questions, answers, ..] = counts;
    if answer_id != id || flags & (QR | OPCODE) != QR || questions != 1 {
        return Err(SrvError::NotTheAnswer);
    }
    let name = format!("{SERVICE}{}", domain.strip_suffix('.').unwrap_or(domain));
    let ours = |owner: &Option<String>| {
        owner
            .as_deref()
            .is_some_and(|owner| owner.eq_ignore_ascii_case(&name))
    };
    if !ours(&reader.name()?) || reader.u16()? != SRV || reader.u16()? != IN {
        return Err(SrvError::NotTheAnswer);
    }
    if flags & TC != 0 {
        return Err(SrvError::Truncated);
    }
    match flags & 0x000f {
        NO_ERROR => {}
        NAME_ERROR => return Ok(SrvAnswer::NoRecords),
        rcode => return Err(SrvError::Rcode(rcode)),
    }
    let mut targets = Vec::new();
    let mut dot = false;
    for _ in 0..answers {
        let owner = reader.name()?;
        let (kind, class) = (reader.u16()?, reader.u16()?);
        reader.take(4)?; // TTL
        let length = usize::from(reader.u16()?);
        let end = reader.at + length;
        if kind == SRV && class == IN && ours(&owner) {
            let (priority, weight, port) = (reader.u16()?, reader.u16()?, reader.u16()?);
            let target = reader.name()?;
            if reader.at != end {
                return Err(SrvError::Malformed("SRV data of the wrong length"));
            }
            match target {
                Some(host) if host.is_empty() => dot = true,
                Some(host) => targets.push((u32::from(priority), weight, (host, port))),
                None => {}
            }
        } else {
            reader.take(length)?;
        }
    }
    Ok(if !targets.is_empty() {
        SrvAnswer::Targets(targets)
    } else if dot {
        SrvAnswer::NotAvailable
    } else {
        SrvAnswer::NoRecords
    })
}

/// Reads a message from its start.
struct Reader<'a> {
    message: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    /// The next `length` bytes.
    fn take(&mut self, length: usize) -> Result<&[u8], SrvError> {
        let bytes = self.message.get(self.at..self.at + length).ok_or(CUT)?;
        self.at += length;
        Ok(bytes)
    }

    fn u16(&mut self) -> Result<u16, SrvError> {
        let bytes = self.take(2)?;
        Ok(bytes
            .iter()
            .fold(0, |value, &byte| value << 8 | u16::from(byte)))
    }

    /// The next name, as text without the final dot (`""` for the root) when its labels are
    /// host name labels (letters, digits, `-`, and `_` of service names), else `None`.
    fn name(&mut self) -> Result<Option<String>, SrvError> {
        let mut text = String::new();
        let mut host = true;
        let mut wire = 0;
        // Where the reader goes on after the name: after its first pointer, if it has one.
        let mut after = None;
        let mut at = self.at;
        loop {
            let length = *self.message.get(at).ok_or(CUT)?;
            if length & 0xc0 == 0xc0 {
                let low = *self.message.get(at + 1).ok_or(CUT)?;
                let pointer = usize::from(length & 0x3f) << 8 | usize::from(low);
                // Strictly backwards: with the length bound, every name read ends.
                if pointer >= at {
                    return Err(SrvError::Malformed("a name pointer forwards"));
                }
                after.get_or_insert(at + 2);
                at = pointer;
                continue;
            }
            let length = usize::from(length);
            if length > MAX_LABEL {
                return Err(SrvError::Malformed("an unknown label type"));
            }
            wire += 1 + length;
            if wire > MAX_NAME {
                return Err(SrvError::Malformed("a name over 255 bytes"));
            }
            let label = self.message.get(at + 1..at + 1 + length).ok_or(CUT)?;
            at += 1 + length;
            if label.is_empty() {
                break;
            }
            host &= label
                .iter()
                .all(|&byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
            if !text.is_empty() {
                text.push('.');
            }
            text.extend(label.iter().map(|&byte| char::from(byte)));
        }
        self.at = after.unwrap_or(at);
        Ok(host.then_some(text))
    }
}

#[cfg(test)]
mod tests {
    use simple_dns::rdata::{A, RData, SRV};
    use simple_dns::{CLASS, Name, Packet, PacketFlag, QTYPE, RCODE, ResourceRecord, TYPE};

    use super::*;

    const NAME: &str = "_xmpp-client._tcp.example.com";

    /// The answer to the query `id` for example.com with `records` (owner, SRV data), written
    /// by simple-dns.
    fn answer(id: u16, records: &[(&str, u16, u16, u16, &str)]) -> Vec<u8> {
        let query = srv_query(id, "example.com").unwrap();
        let mut packet = Packet::parse(&query).unwrap().into_reply();
        for &(owner, priority, weight, port, target) in records {
            let srv = SRV {
                priority,
                weight,
                port,
                target: Name::new_unchecked(target),
            };
            let name = Name::new_unchecked(owner);
            packet
                .answers
                .push(ResourceRecord::new(name, CLASS::IN, 60, RData::SRV(srv)));
        }
        packet.build_bytes_vec().unwrap()
    }

    #[test]
    fn the_query_asks_for_the_srv_records_with_recursion() {
        let query = srv_query(0x1234, "Example.COM").unwrap();
        let packet = Packet::parse(&query).unwrap();
        assert_eq!(packet.id(), 0x1234);
        assert!(packet.has_flags(PacketFlag::RECURSION_DESIRED));
        assert!(!packet.has_flags(PacketFlag::RESPONSE));
        assert_eq!(packet.questions.len(), 1);
        assert_eq!(
            packet.questions[0].qname.to_string(),
            "_xmpp-client._tcp.Example.COM"
        );
        assert_eq!(packet.questions[0].qtype, QTYPE::TYPE(TYPE::SRV));
        let long = "a".repeat(64);
        assert_eq!(
            srv_query(1, &long),
            Err(SrvError::Domain(long.clone())),
            "a label over 63 bytes"
        );
    }

    #[test]
    fn targets_of_the_name_asked_are_kept() {
        let records = [
            (NAME, 10, 60, 5223, "xmpp1.example.com"),
            (
                "_XMPP-Client._TCP.Example.com",
                20,
                0,
                5222,
                "xmpp2.example.com",
            ),
            // Another owner, and a target that is no host name: left out.
            (
                "_xmpp-server._tcp.example.com",
                0,
                0,
                5269,
                "s2s.example.com",
            ),
            (NAME, 5, 0, 5222, "a space.example.com"),
        ];
        let mut bytes = answer(7, &records);
        // An A record among the answers is not an SRV record.
        let mut packet = Packet::parse(&bytes).unwrap();
        packet.answers.push(ResourceRecord::new(
            Name::new_unchecked(NAME),
            CLASS::IN,
            60,
            RData::A(A {
                address: 0x7f00_0001,
            }),
        ));
        bytes = packet.build_bytes_vec().unwrap();
        assert_eq!(
            srv_answer(7, "example.com", &bytes),
            Ok(SrvAnswer::Targets(vec![
                (10, 60, ("xmpp1.example.com".into(), 5223)),
                (20, 0, ("xmpp2.example.com".into(), 5222)),
            ]))
        );
    }

    #[test]
    fn a_dot_target_alone_means_no_service_and_none_means_fall_back() {
        let dot = answer(1, &[(NAME, 0, 0, 0, ".")]);
        assert_eq!(
            srv_answer(1, "example.com", &dot),
            Ok(SrvAnswer::NotAvailable)
        );
        let none = answer(1, &[]);
        assert_eq!(
            srv_answer(1, "example.com", &none),
            Ok(SrvAnswer::NoRecords)
        );
        let mut packet = Packet::parse(&none).unwrap();
        *packet.rcode_mut() = RCODE::NameError;
        let nxdomain = packet.build_bytes_vec().unwrap();
        assert_eq!(
            srv_answer(1, "example.com", &nxdomain),
            Ok(SrvAnswer::NoRecords)
        );
        *packet.rcode_mut() = RCODE::ServerFailure;
        let failed = packet.build_bytes_vec().unwrap();
        assert_eq!(
            srv_answer(1, "example.com", &failed),
            Err(SrvError::Rcode(2))
        );
    }

    #[test]
    fn answers_to_other_queries_are_refused() {
        let good = answer(9, &[(NAME, 0, 0, 5222, "xmpp.example.com")]);
        assert!(matches!(
            srv_answer(9, "example.com", &good),
            Ok(SrvAnswer::Targets(_))
        ));
        assert_eq!(
            srv_answer(10, "example.com", &good),
            Err(SrvError::NotTheAnswer),
            "another ID"
        );
        assert_eq!(
            srv_answer(9, "example.net", &good),
            Err(SrvError::NotTheAnswer),
            "another question"
        );
        // The query itself, sent back: not a response.
        let query = srv_query(9, "example.com").unwrap();
        assert_eq!(
            srv_answer(9, "example.com", &query),
            Err(SrvError::NotTheAnswer)
        );
        let mut packet = Packet::parse(&good).unwrap();
        packet.questions[0].qtype = QTYPE::TYPE(TYPE::A);
        let other_type = packet.build_bytes_vec().unwrap();
        assert_eq!(
            srv_answer(9, "example.com", &other_type),
            Err(SrvError::NotTheAnswer)
        );
    }

    #[test]
    fn truncated_oversized_and_garbled_answers_are_refused() {
        let good = answer(3, &[(NAME, 0, 0, 5222, "xmpp.example.com")]);
        let mut truncated = good.clone();
        truncated[2] |= 0x02; // TC
        assert_eq!(
            srv_answer(3, "example.com", &truncated),
            Err(SrvError::Truncated)
        );
        // Cut short: every cut is refused, none panics.
        for cut in 0..good.len() {
            assert!(srv_answer(3, "example.com", &good[..cut]).is_err(), "{cut}");
        }
        let mut oversize = good.clone();
        oversize.resize(MAX_ANSWER + 1, 0);
        assert_eq!(
            srv_answer(3, "example.com", &oversize),
            Err(SrvError::Oversize(MAX_ANSWER + 1))
        );
        // A header announcing 65,535 records in 20 bytes is refused before any is read.
        let mut many = good.clone();
        many[10] = 0xff;
        many[11] = 0xff;
        assert_eq!(
            srv_answer(3, "example.com", &many),
            Err(SrvError::TooManyRecords)
        );
        let records: Vec<_> = (0..MAX_RECORDS)
            .map(|_| (NAME, 0, 0, 5222, "xmpp.example.com"))
            .collect();
        let at_bound = answer(3, &records[..MAX_RECORDS - 1]);
        assert!(srv_answer(3, "example.com", &at_bound).is_ok());
        let over = answer(3, &records);
        assert_eq!(
            srv_answer(3, "example.com", &over),
            Err(SrvError::TooManyRecords),
            "the question and 64 records"
        );
        // Compressed names (pointers backwards) read as the same targets.
        let mut packet = Packet::parse(&good).unwrap();
        let srv = |target| SRV {
            priority: 1,
            weight: 2,
            port: 3,
            target: Name::new_unchecked(target),
        };
        for target in ["xmpp.example.com", "example.com"] {
            let record = ResourceRecord::new(
                Name::new_unchecked(NAME),
                CLASS::IN,
                1,
                RData::SRV(srv(target)),
            );
            packet.answers.push(record);
        }
        let compressed = packet.build_bytes_vec_compressed().unwrap();
        assert!(compressed.len() < packet.build_bytes_vec().unwrap().len());
        assert_eq!(
            srv_answer(3, "example.com", &compressed),
            Ok(SrvAnswer::Targets(vec![
                (0, 0, ("xmpp.example.com".into(), 5222)),
                (1, 2, ("xmpp.example.com".into(), 3)),
                (1, 2, ("example.com".into(), 3)),
            ]))
        );
        // The target a compression pointer to itself (its SRV data: 6 bytes and the pointer).
        let mut looped = good[..good.len() - 18].to_vec();
        let at = u16::try_from(looped.len()).unwrap();
        looped.extend_from_slice(&(at | 0xc000).to_be_bytes());
        let data = looped.len() - 8;
        looped[data - 2..data].copy_from_slice(&8_u16.to_be_bytes());
        assert_eq!(
            srv_answer(3, "example.com", &looped),
            Err(SrvError::Malformed("a name pointer forwards"))
        );
        // A label, then a pointer back to it: read until the name is over 255 bytes.
        let mut cycle = good[..good.len() - 18].to_vec();
        let at = u16::try_from(cycle.len()).unwrap();
        cycle.extend_from_slice(b"\x01a");
        cycle.extend_from_slice(&(at | 0xc000).to_be_bytes());
        // The SRV data: 6 bytes and the 4-byte name.
        let data = cycle.len() - 10;
        cycle[data - 2..data].copy_from_slice(&10_u16.to_be_bytes());
        assert_eq!(
            srv_answer(3, "example.com", &cycle),
            Err(SrvError::Malformed("a name over 255 bytes"))
        );
    }
}
