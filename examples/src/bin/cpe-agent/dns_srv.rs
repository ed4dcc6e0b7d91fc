//! The DNS SRV lookup of `ServerConnectAlgorithm` `DNS-SRV` (RFC 6120 §3.2.1): cwmp-core's
//! [`srv_query`] goes to a nameserver over UDP from a fresh socket (a random ID and port, the
//! socket connected to the nameserver, so that only its datagrams arrive), and [`srv_answer`]
//! checks the answer. A datagram that answers another query is ignored until the wait ends;
//! a truncated answer is asked for again over TCP.
//!
//! The nameserver is `[cwmp] dns_server` when set, else those of the `nameserver` lines of
//! `/etc/resolv.conf` (read at each lookup), asked in turn until one answers: at most three,
//! as the C library reads, on port 53. Nothing else of the file counts for an SRV lookup of a
//! whole domain name (`search`, `options`); a line with a zoned address (`fe80::1%eth0`) is
//! skipped.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use cwmp_core::connreq::xmpp_srv::{MAX_ANSWER, SrvAnswer, SrvError, srv_answer, srv_query};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UdpSocket};

use crate::tls::random_bytes;

/// Where the system's nameservers are listed.
const RESOLV_CONF: &str = "/etc/resolv.conf";
/// How long a nameserver may take over UDP, and again over TCP (the C library's default).
const TIMEOUT: Duration = Duration::from_secs(5);
/// Most nameservers taken from [`RESOLV_CONF`] (the C library's `MAXNS`).
const MAX_NAMESERVERS: usize = 3;
/// The DNS port.
const DNS_PORT: u16 = 53;

/// Where the lookups go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolver {
    /// `[cwmp] dns_server`; `None` reads [`RESOLV_CONF`].
    nameserver: Option<SocketAddr>,
}

/// Why no nameserver answered (the last one's reason).
#[derive(Debug)]
pub(crate) enum LookupError {
    /// None configured.
    NoNameserver,
    /// No answer in time.
    Timeout,
    /// The socket failed (a nameserver that is not there, over UDP: "connection refused").
    Io(std::io::Error),
    /// The answer was refused, or the domain is no DNS name.
    Answer(SrvError),
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoNameserver => f.write_str("no nameserver"),
            Self::Timeout => f.write_str("no answer in time"),
            Self::Io(error) => error.fmt(f),
            Self::Answer(error) => error.fmt(f),
        }
    }
}

impl From<std::io::Error> for LookupError {
    fn from(error: std::io::Error) -> Self {
        Self::Io(error)
    }
}

impl Resolver {
    /// Asks `nameserver`, or the system's nameservers when `None`.
    pub(crate) fn new(nameserver: Option<SocketAddr>) -> Self {
        Self { nameserver }
    }

    /// What the nameservers say of `domain`'s XMPP client service.
    pub(crate) async fn xmpp_client(&self, domain: &str) -> Result<SrvAnswer, LookupError> {
        let id = u16::from_le_bytes(random_bytes());
        let query = srv_query(id, domain).map_err(LookupError::Answer)?;
        let nameservers = match self.nameserver {
            Some(configured) => vec![configured],
            // A few hundred bytes, read at once (tokio's `fs` would add a thread pool).
            None => nameservers(&std::fs::read_to_string(RESOLV_CONF).unwrap_or_default()),
        };
        let mut outcome = Err(LookupError::NoNameserver);
        for nameserver in nameservers {
            outcome = within(udp(nameserver, id, domain, &query)).await;
            if matches!(outcome, Err(LookupError::Answer(SrvError::Truncated))) {
                outcome = within(tcp(nameserver, id, domain, &query)).await;
            }
            if outcome.is_ok() {
                break;
            }
        }
        outcome
    }
}

/// The nameservers of a `resolv.conf` text.
fn nameservers(conf: &str) -> Vec<SocketAddr> {
    conf.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next() != Some("nameserver") {
                return None;
            }
            let address: IpAddr = words.next()?.parse().ok()?;
            Some(SocketAddr::new(address, DNS_PORT))
        })
        .take(MAX_NAMESERVERS)
        .collect()
}

/// `lookup`, or [`LookupError::Timeout`] after [`TIMEOUT`].
async fn within(
    lookup: impl Future<Output = Result<SrvAnswer, LookupError>>,
) -> Result<SrvAnswer, LookupError> {
    tokio::time::timeout(TIMEOUT, lookup)
        .await
        .unwrap_or(Err(LookupError::Timeout))
}

/// The query over UDP.
async fn udp(
    nameserver: SocketAddr,
    id: u16,
    domain: &str,
    query: &[u8],
) -> Result<SrvAnswer, LookupError> {
    let any: IpAddr = match nameserver {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(any, 0)).await?;
    socket.connect(nameserver).await?;
    socket.send(query).await?;
    // One byte more than an answer may have, to see an oversized one.
    let mut buffer = vec![0_u8; MAX_ANSWER + 1];
    loop {
        let length = socket.recv(&mut buffer).await?;
        match srv_answer(id, domain, buffer.get(..length).unwrap_or_default()) {
            Err(SrvError::NotTheAnswer) => continue,
            answer => return answer.map_err(LookupError::Answer),
        }
    }
}

/// The query over TCP (RFC 1035 §4.2.2: each message after its length, two bytes).
async fn tcp(
    nameserver: SocketAddr,
    id: u16,
    domain: &str,
    query: &[u8],
) -> Result<SrvAnswer, LookupError> {
    let mut stream = TcpStream::connect(nameserver).await?;
    // A query is far shorter than 64 KiB: its name is at most 255 bytes.
    let length = u16::try_from(query.len()).unwrap_or(u16::MAX);
    stream
        .write_all(&[&length.to_be_bytes(), query].concat())
        .await?;
    let length = usize::from(stream.read_u16().await?);
    if length > MAX_ANSWER {
        return Err(LookupError::Answer(SrvError::Oversize(length)));
    }
    let mut answer = vec![0_u8; length];
    stream.read_exact(&mut answer).await?;
    srv_answer(id, domain, &answer).map_err(LookupError::Answer)
}

#[cfg(test)]
mod tests {
    use simple_dns::rdata::{RData, SRV};
    use simple_dns::{CLASS, Name, Packet, PacketFlag, ResourceRecord};
    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn nameservers_are_the_first_three_lines_that_name_one() {
        let conf = "# by the DHCP client\nsearch lan\nnameserver 192.168.1.1\n\
                    nameserver fe80::1%eth0\n  nameserver   ::1  \noptions ndots:2\n\
                    nameserver 10.0.0.1\nnameserver 10.0.0.2\n";
        let ns = |address: &str| SocketAddr::new(address.parse().unwrap(), 53);
        assert_eq!(
            nameservers(conf),
            [ns("192.168.1.1"), ns("::1"), ns("10.0.0.1")]
        );
        assert!(nameservers("").is_empty());
    }

    /// The answer to `query` with one SRV record, truncated (`TC`) or whole.
    fn answer(query: &[u8], truncated: bool) -> Vec<u8> {
        let query = Packet::parse(query).unwrap();
        let name = query.questions[0].qname.clone();
        let mut reply = query.into_reply();
        if truncated {
            reply.set_flags(PacketFlag::TRUNCATION);
        } else {
            let srv = SRV {
                priority: 1,
                weight: 2,
                port: 5223,
                target: Name::new_unchecked("xmpp.example.com"),
            };
            let record = ResourceRecord::new(name, CLASS::IN, 60, RData::SRV(srv));
            reply.answers.push(record);
        }
        reply.build_bytes_vec().unwrap()
    }

    #[tokio::test]
    async fn a_stray_datagram_is_ignored_and_a_truncated_answer_asked_again_over_tcp() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let nameserver = tcp.local_addr().unwrap();
        let udp = UdpSocket::bind(nameserver).await.unwrap();
        let server = tokio::spawn(async move {
            let mut buffer = [0_u8; 512];
            let (n, client) = udp.recv_from(&mut buffer).await.unwrap();
            let query = buffer[..n].to_vec();
            // Another query's answer first (its ID changed), then the truncated one.
            let mut stray = answer(&query, false);
            stray[0] ^= 0xff;
            udp.send_to(&stray, client).await.unwrap();
            udp.send_to(&answer(&query, true), client).await.unwrap();
            let (mut stream, _) = tcp.accept().await.unwrap();
            let length = usize::from(stream.read_u16().await.unwrap());
            let mut again = vec![0_u8; length];
            stream.read_exact(&mut again).await.unwrap();
            assert_eq!(again, query, "the same query over TCP");
            let whole = answer(&again, false);
            let length = u16::try_from(whole.len()).unwrap().to_be_bytes();
            stream
                .write_all(&[&length[..], &whole].concat())
                .await
                .unwrap();
        });
        let resolver = Resolver::new(Some(nameserver));
        let found = resolver.xmpp_client("example.com").await.unwrap();
        assert_eq!(
            found,
            SrvAnswer::Targets(vec![(1, 2, ("xmpp.example.com".into(), 5223))])
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn no_nameserver_is_an_error() {
        // A port nothing listens on: the query is refused (ICMP), not waited for.
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let closed = socket.local_addr().unwrap();
        drop(socket);
        let resolver = Resolver::new(Some(closed));
        let error = resolver.xmpp_client("example.com").await.unwrap_err();
        assert!(matches!(error, LookupError::Io(_)), "{error}");
        let invalid = resolver.xmpp_client("a..b").await.unwrap_err();
        assert!(
            matches!(invalid, LookupError::Answer(SrvError::Domain(_))),
            "{invalid}"
        );
    }
}
