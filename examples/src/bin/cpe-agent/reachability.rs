//! The reachability diagnostics, run for real from the agent's own sockets:
//! `Device.IP.Diagnostics.IPPing()`, `UDPEchoDiagnostics()` and `ServerSelectionDiagnostics()`
//! (and through the engine's bridge the CWMP objects of the same names, `DiagnosticsState`
//! `Requested`).
//!
//! `Host` (each of `HostList`) is an address or a name, resolved by the system's resolver to
//! an address of the family `ProtocolVersion` asks for; a name that gives none is
//! `Error_CannotResolveHostName` (in ServerSelection, when no host of the list resolves).
//!
//! ICMP echo goes through an ICMP datagram socket (Linux "ping socket", allowed to the groups
//! of `net.ipv4.ping_group_range`; the kernel fills in the identifier and checksum), else a
//! raw ICMP socket (`CAP_NET_RAW`), for which the agent writes the identifier and the IPv4
//! checksum itself. Where neither is allowed the test ends in `Error_Internal` and the log
//! says why. UDP echo sends TR-143 UDPEchoPlus packets (RFC 862 echo servers return them as
//! they are): `TestGenSN`, then the four fields an UDPEchoPlus server fills in, then zeros up
//! to `DataBlockSize`.
//!
//! One echo at a time: the next goes once the reply has come or `Timeout` has passed (as
//! TR-181 asks of ServerSelection), and not before `InterTransmissionTime` after the previous
//! one in a UDP echo test. A reply counts when it comes from the host, is an echo reply of
//! this test (the raw socket sees every ICMP message of the host: the identifier), for the
//! echo in flight (the sequence number, `TestGenSN`) and carries what was sent; anything else,
//! late replies included, is read into a buffer one byte larger than the reply expected and
//! dropped.
//!
//! Bounded: at most [`MAX_REPETITIONS`] repetitions per host (so many
//! `IndividualPacketResult.{i}.` rows, which `UDPEchoDiagnosticsMaxResults` says: see
//! [`capabilities`]) and [`MAX_RUNTIME`] of echoes
//! (repetitions × (`Timeout` + `InterTransmissionTime`) × hosts) per test, else the command is
//! refused with invalid arguments; at most four tests at once ([`crate::running`]); a name
//! lookup takes at most [`RESOLVE_TIMEOUT`]. A cancelled test (USP `Cancel()`, CWMP
//! `Canceled` or a changed input) stops at once and reports nothing.
//!
//! Not followed: `Interface` (the simulated device's IP interfaces are not the host's; the
//! host's routing picks the interface and `IPAddressUsed` says which address it took).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use hal::HalError;
use hal::feed::{CallId, CommandReporter};
use hal::traits::{CommandCall, Invoked};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tr181_model::value::{DateTime, Value};

use crate::running::{self, Family, Running};

/// The ICMP echo test.
pub(crate) const IP_PING: &str = "Device.IP.Diagnostics.IPPing()";
/// The TR-143 UDP echo test.
pub(crate) const UDP_ECHO: &str = "Device.IP.Diagnostics.UDPEchoDiagnostics()";
/// The fastest host of a list, by ICMP or UDP echo.
pub(crate) const SERVER_SELECTION: &str = "Device.IP.Diagnostics.ServerSelectionDiagnostics()";

/// Most repetitions per host (TR-181 sets no maximum).
const MAX_REPETITIONS: u32 = 1000;
/// Longest a test's echoes may take, timeouts and waits between them counted in full.
const MAX_RUNTIME: Duration = Duration::from_secs(600);
/// Longest one name lookup may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);
/// The RFC 862 echo port, where ServerSelection's `UDP Echo` goes (it has no `Port`).
const ECHO_PORT: u16 = 7;
/// The UDPEchoPlus header: `TestGenSN`, `TestRespSN`, `TestRespRcvTimeStamp`,
/// `TestRespReplyTimeStamp`, `TestRespReplyFailureCount` (TR-143 A.1.1).
const ECHO_PLUS_HEADER: usize = 20;
/// The ICMP echo header: type, code, checksum, identifier, sequence number.
const ICMP_HEADER: usize = 8;
/// The longest IPv4 header, which raw IPv4 sockets hand over before the ICMP message.
const MAX_IPV4_HEADER: usize = 60;

/// What the device says of its tests (path, value), written at every boot: every packet of a
/// UDP echo test has its `IndividualPacketResult.{i}.` row.
pub(crate) fn capabilities() -> Vec<(String, String)> {
    vec![(
        "Device.IP.Diagnostics.UDPEchoDiagnosticsMaxResults".into(),
        MAX_REPETITIONS.to_string(),
    )]
}

/// The reachability tests running.
#[derive(Default)]
pub(crate) struct Reachability {
    running: Running,
}

impl Reachability {
    /// Starts `call` (one of [`IP_PING`], [`UDP_ECHO`], [`SERVER_SELECTION`]); its outputs go
    /// to `reporter` when it ends.
    pub(crate) fn invoke(
        &self,
        call: &CommandCall,
        reporter: CommandReporter,
    ) -> Result<Invoked, HalError> {
        let test = Test::of(call)?;
        self.running.start(call, reporter, test.run())
    }

    /// Stops test `call`; false when it is not one of these (running).
    pub(crate) fn cancel(&self, call: CallId) -> bool {
        self.running.cancel(call)
    }
}

/// Which test, with what it reports.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// IPPing: one host, times in ms and µs.
    Ping,
    /// ServerSelection: the fastest of the hosts.
    Selection,
    /// UDPEchoDiagnostics: one host, times in µs, the packets on request.
    UdpEcho { packet_results: bool },
}

/// How a test reaches its hosts.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Echo {
    /// ICMP echo request and reply.
    Icmp,
    /// UDPEchoPlus packets to this port.
    Udp(u16),
}

/// A test and its inputs, checked.
#[derive(Debug)]
struct Test {
    kind: Kind,
    echo: Echo,
    hosts: Vec<String>,
    /// The addresses `ProtocolVersion` allows.
    family: Family,
    repetitions: u32,
    timeout: Duration,
    /// The least time from one echo to the next.
    interval: Duration,
    size: usize,
    dscp: u32,
}

impl Test {
    /// The test `call` asks for, within the limits.
    fn of(call: &CommandCall) -> Result<Self, HalError> {
        let text = |name: &str| match call.arg(name) {
            Some(Value::String(text)) => text.clone(),
            _ => String::new(),
        };
        let number = |name: &str, default: u32| match call.arg(name) {
            Some(Value::UnsignedInt(n)) => *n,
            _ => default,
        };
        let schema = tr181_model::path::schema_path_of(&call.path);
        let (kind, echo, hosts) = match schema.as_str() {
            IP_PING => (Kind::Ping, Echo::Icmp, vec![text("Host")]),
            UDP_ECHO => {
                let packet_results =
                    call.arg("EnableIndividualPacketResults") == Some(&Value::Boolean(true));
                let port = u16::try_from(number("Port", ECHO_PORT.into())).unwrap_or(ECHO_PORT);
                (
                    Kind::UdpEcho { packet_results },
                    Echo::Udp(port),
                    vec![text("Host")],
                )
            }
            _ => {
                let echo = match text("Protocol").as_str() {
                    "UDP Echo" => Echo::Udp(ECHO_PORT),
                    _ => Echo::Icmp,
                };
                let hosts = match call.arg("HostList") {
                    Some(Value::List(hosts)) => hosts.iter().map(Value::canonical_text).collect(),
                    _ => Vec::new(),
                };
                (Kind::Selection, echo, hosts)
            }
        };
        let interval = match kind {
            Kind::UdpEcho { .. } => number("InterTransmissionTime", 1000),
            _ => 0,
        };
        let test = Self {
            kind,
            echo,
            hosts,
            family: Family::of(&text("ProtocolVersion")),
            repetitions: number("NumberOfRepetitions", 1),
            timeout: Duration::from_millis(number("Timeout", 1000).into()),
            interval: Duration::from_millis(interval.into()),
            size: usize::try_from(number("DataBlockSize", 24)).unwrap_or(usize::MAX),
            dscp: number("DSCP", 0),
        };
        let hosts = u32::try_from(test.hosts.len()).unwrap_or(u32::MAX);
        let runtime = (test.timeout + test.interval)
            .saturating_mul(test.repetitions)
            .saturating_mul(hosts);
        if test.repetitions > MAX_REPETITIONS || runtime > MAX_RUNTIME {
            return Err(HalError::InvalidArguments {
                path: call.path.clone(),
                reason: format!(
                    "at most {MAX_REPETITIONS} repetitions and {}s of echoes",
                    MAX_RUNTIME.as_secs()
                ),
            });
        }
        Ok(test)
    }

    /// Runs the test: its output arguments.
    async fn run(self) -> Vec<(String, Value)> {
        let mut resolved = 0;
        let mut fastest: Option<(&str, Summary, Series)> = None;
        for host in &self.hosts {
            let peer = running::resolve(host, 0, self.family, RESOLVE_TIMEOUT).await;
            let Some(peer) = peer.map(|address| address.ip()) else {
                continue;
            };
            resolved += 1;
            let series = match self.measure(peer).await {
                Ok(series) => series,
                Err(status) if self.kind == Kind::Selection && status != ERROR_INTERNAL => {
                    continue;
                }
                // Only IPPing's `Status` has this value.
                Err(NO_ROUTE) if self.kind != Kind::Ping => return status_only("Error_Other"),
                Err(status) => return status_only(status),
            };
            let summary = series.summary();
            let faster = |best: &Summary| {
                summary.successes > 0 && (best.successes == 0 || summary.average < best.average)
            };
            if fastest.as_ref().is_none_or(|(_, best, _)| faster(best)) {
                fastest = Some((host.as_str(), summary, series));
            }
        }
        if resolved == 0 {
            return status_only("Error_CannotResolveHostName");
        }
        let (host, summary, series) = fastest.unwrap_or_default();
        let mut out = status_only("Complete");
        out.push(("IPAddressUsed".into(), address_text(series.local)));
        let micros = [
            ("AverageResponseTime", summary.average),
            ("MinimumResponseTime", summary.minimum),
            ("MaximumResponseTime", summary.maximum),
        ];
        if self.kind != Kind::Selection {
            let sent = u32::try_from(series.samples.len()).unwrap_or(u32::MAX);
            let failures = sent.saturating_sub(summary.successes);
            out.push(("SuccessCount".into(), Value::UnsignedInt(summary.successes)));
            out.push(("FailureCount".into(), Value::UnsignedInt(failures)));
        }
        for (name, time) in micros {
            match self.kind {
                Kind::Ping => {
                    let millis = time.saturating_add(500) / 1000;
                    out.push((name.into(), Value::UnsignedInt(millis)));
                    out.push((format!("{name}Detailed"), Value::UnsignedInt(time)));
                }
                _ => out.push((name.into(), Value::UnsignedInt(time))),
            }
        }
        match self.kind {
            Kind::Selection => {
                let host = if summary.successes == 0 { "" } else { host };
                out.push(("FastestHost".into(), Value::String(host.into())));
            }
            Kind::UdpEcho {
                packet_results: true,
            } => series.push_packets(&mut out),
            _ => {}
        }
        out
    }

    /// Sends the repetitions to `peer`: the series, or the `Status` that ends the test.
    async fn measure(&self, peer: IpAddr) -> Result<Series, &'static str> {
        let socket = EchoSocket::open(peer, self.echo, self.dscp)?;
        let mut series = Series {
            local: Some(socket.local),
            samples: Vec::new(),
        };
        let mut buffer = Vec::new();
        for sequence in 1..=self.repetitions {
            let request = echo_request(socket.icmp, peer.is_ipv4(), sequence, self.size);
            let expected = request.len().saturating_add(match socket.icmp {
                Some(Icmp { raw: true, .. }) if peer.is_ipv4() => MAX_IPV4_HEADER,
                _ => 0,
            });
            buffer.resize(expected.saturating_add(1), 0);
            let sent_at = SystemTime::now();
            let sent = Instant::now();
            let reply = socket
                .exchange(&request, sequence, sent + self.timeout, &mut buffer)
                .await;
            series.samples.push(Sample {
                sent_at,
                round_trip: reply.map(|_| sent.elapsed()),
                received_at: reply.map(|_| SystemTime::now()),
                plus: reply.unwrap_or_default(),
            });
            tokio::time::sleep_until(sent + self.interval).await;
        }
        Ok(series)
    }
}

/// `Status` `Error_Internal`: the agent cannot run the test.
const ERROR_INTERNAL: &str = "Error_Internal";
/// `Status` `Error_NoRouteToHost`: the host has no route.
const NO_ROUTE: &str = "Error_NoRouteToHost";

/// The outputs of a test that ended with `status`.
fn status_only(status: &str) -> Vec<(String, Value)> {
    vec![("Status".into(), Value::String(status.into()))]
}

/// `address` as an `IPAddress` value (empty when none).
fn address_text(address: Option<IpAddr>) -> Value {
    Value::String(address.map(|a| a.to_string()).unwrap_or_default())
}

/// The echoes sent to one host.
#[derive(Debug, Default)]
struct Series {
    /// The local address the echoes left from.
    local: Option<IpAddr>,
    samples: Vec<Sample>,
}

/// One echo.
#[derive(Clone, Copy, Debug)]
struct Sample {
    sent_at: SystemTime,
    /// `None`: no reply within the timeout.
    round_trip: Option<Duration>,
    received_at: Option<SystemTime>,
    /// The UDPEchoPlus fields of the reply (zeros from an RFC 862 server, and for ICMP).
    plus: [u32; 4],
}

/// The replies of a series and their response times in µs, zero without replies.
#[derive(Clone, Copy, Debug, Default)]
struct Summary {
    successes: u32,
    average: u32,
    minimum: u32,
    maximum: u32,
}

impl Series {
    fn summary(&self) -> Summary {
        let mut summary = Summary {
            minimum: u32::MAX,
            ..Summary::default()
        };
        let mut total: u64 = 0;
        for time in self.samples.iter().filter_map(|sample| sample.round_trip) {
            let micros = u32::try_from(time.as_micros()).unwrap_or(u32::MAX);
            summary.successes += 1;
            total += u64::from(micros);
            summary.minimum = summary.minimum.min(micros);
            summary.maximum = summary.maximum.max(micros);
        }
        let average = total.checked_div(summary.successes.into()).unwrap_or(0);
        summary.average = u32::try_from(average).unwrap_or(u32::MAX);
        if summary.successes == 0 {
            summary.minimum = 0;
        }
        summary
    }

    /// Appends `IndividualPacketResult.{i}.` for each echo, numbered by `TestGenSN`.
    fn push_packets(&self, out: &mut Vec<(String, Value)>) {
        let time = |at: Option<SystemTime>| {
            let micros = at?.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_micros();
            DateTime::from_unix_micros(i64::try_from(micros).ok()?)
        };
        for (number, sample) in (1u32..).zip(&self.samples) {
            let [responder_sequence, received, replied, reply_failures] = sample.plus;
            let row =
                |name: &str, value| (format!("IndividualPacketResult.{number}.{name}"), value);
            out.extend([
                row("PacketSuccess", Value::Boolean(sample.round_trip.is_some())),
                row(
                    "PacketSendTime",
                    Value::DateTime(time(Some(sample.sent_at)).unwrap_or(DateTime::UNKNOWN)),
                ),
                row(
                    "PacketReceiveTime",
                    Value::DateTime(time(sample.received_at).unwrap_or(DateTime::UNKNOWN)),
                ),
                row("TestGenSN", Value::UnsignedInt(number)),
                row("TestRespSN", Value::UnsignedInt(responder_sequence)),
                row("TestRespRcvTimeStamp", Value::UnsignedInt(received)),
                row("TestRespReplyTimeStamp", Value::UnsignedInt(replied)),
                row(
                    "TestRespReplyFailureCount",
                    Value::UnsignedInt(reply_failures),
                ),
            ]);
        }
    }
}

/// The ICMP side of an [`EchoSocket`].
#[derive(Clone, Copy, Debug)]
struct Icmp {
    /// A raw socket: it sees every ICMP message from the host, the IPv4 header first.
    raw: bool,
    /// The identifier written into raw echoes (the kernel writes its own into datagram
    /// ones, and gives the socket only their replies).
    id: u16,
}

/// A socket connected to the host under test.
struct EchoSocket {
    socket: UdpSocket,
    peer: IpAddr,
    local: IpAddr,
    /// `None` for UDP echo.
    icmp: Option<Icmp>,
}

impl EchoSocket {
    /// A socket for `echo` to `peer`, sending with `dscp`: the `Status` when there is none.
    fn open(peer: IpAddr, echo: Echo, dscp: u32) -> Result<Self, &'static str> {
        let domain = Domain::for_address(SocketAddr::new(peer, 0));
        let (socket, port, icmp) = match echo {
            Echo::Icmp => {
                let protocol = Some(match peer {
                    IpAddr::V4(_) => Protocol::ICMPV4,
                    IpAddr::V6(_) => Protocol::ICMPV6,
                });
                let opened = Socket::new(domain, Type::DGRAM, protocol)
                    .map(|socket| (socket, false))
                    .or_else(|_| Socket::new(domain, Type::RAW, protocol).map(|s| (s, true)));
                let (socket, raw) = opened.map_err(|error| {
                    tracing::error!(
                        %error,
                        "diagnostics: no ICMP socket: the agent's group is not in \
                         net.ipv4.ping_group_range and it lacks CAP_NET_RAW"
                    );
                    ERROR_INTERNAL
                })?;
                // Tests at once tell their raw echoes apart by identifier.
                let id = u16::try_from(std::process::id() & 0xffff).unwrap_or(0) ^ next_id();
                (socket, 0, Some(Icmp { raw, id }))
            }
            Echo::Udp(port) => {
                let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP));
                (socket.map_err(|_| ERROR_INTERNAL)?, port, None)
            }
        };
        let setup = |socket: &Socket| -> io::Result<IpAddr> {
            let class = dscp << 2;
            match peer {
                IpAddr::V4(_) => socket.set_tos_v4(class)?,
                IpAddr::V6(_) => socket.set_tclass_v6(class)?,
            }
            socket.set_nonblocking(true)?;
            socket.connect(&SocketAddr::new(peer, port).into())?;
            let local = socket.local_addr()?.as_socket();
            local
                .map(|address| address.ip())
                .ok_or_else(|| io::ErrorKind::AddrNotAvailable.into())
        };
        let local = setup(&socket).map_err(|error| match error.kind() {
            io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable => NO_ROUTE,
            _ => "Error_Other",
        })?;
        let socket = UdpSocket::from_std(socket.into()).map_err(|_| ERROR_INTERNAL)?;
        Ok(Self {
            socket,
            peer,
            local,
            icmp,
        })
    }

    /// Sends `request` and waits until `deadline` for its reply, reading into `buffer`: the
    /// reply's UDPEchoPlus fields, or `None` without a reply.
    async fn exchange(
        &self,
        request: &[u8],
        sequence: u32,
        deadline: Instant,
        buffer: &mut [u8],
    ) -> Option<[u32; 4]> {
        // An echo not sent (no route, too long) failed.
        self.socket.send(request).await.ok()?;
        loop {
            let received = tokio::time::timeout_at(deadline, self.socket.recv_from(buffer));
            // An ICMP error for the echo (port unreachable) fails it too.
            let (length, from) = received.await.ok()?.ok()?;
            let reply = buffer.get(..length).unwrap_or_default();
            if from.ip() != self.peer {
                continue;
            }
            let matched = match self.icmp {
                Some(icmp) => icmp_reply(icmp, self.peer.is_ipv4(), reply, request, sequence),
                None => udp_reply(reply, request),
            };
            if matched.is_some() {
                return matched;
            }
        }
    }
}

/// The echo request `sequence` with `size` bytes of data: an ICMP echo request to an IPv4
/// (`v4`) or IPv6 host, or an UDPEchoPlus packet (`icmp` `None`).
fn echo_request(icmp: Option<Icmp>, v4: bool, sequence: u32, size: usize) -> Vec<u8> {
    let Some(icmp) = icmp else {
        let mut packet = sequence.to_be_bytes().to_vec();
        packet.resize(size, 0);
        return packet;
    };
    let kind = if v4 { 8 } else { 128 };
    let mut packet = vec![kind, 0, 0, 0];
    packet.extend(icmp.id.to_be_bytes());
    packet.extend(sequence_u16(sequence).to_be_bytes());
    packet.extend((0..size).map(|i| i as u8));
    // ICMPv6 checksums cover the IPv6 addresses: the kernel always writes those.
    if v4 {
        let sum = checksum(&packet).to_be_bytes();
        if let Some(field) = packet.get_mut(2..4) {
            field.copy_from_slice(&sum);
        }
    }
    packet
}

/// Whether `datagram` is the reply to ICMP echo `request` (number `sequence`) from an IPv4
/// (`v4`) or IPv6 host: no UDPEchoPlus fields.
fn icmp_reply(
    icmp: Icmp,
    v4: bool,
    datagram: &[u8],
    request: &[u8],
    sequence: u32,
) -> Option<[u32; 4]> {
    let message = if icmp.raw && v4 {
        let header = usize::from(datagram.first()? & 0x0f) * 4;
        datagram.get(header..)?
    } else {
        datagram
    };
    let (header, data) = message.split_at_checked(ICMP_HEADER)?;
    let [kind, code, _, _, id_high, id_low, seq_high, seq_low] = header else {
        return None;
    };
    let ours = !icmp.raw || u16::from_be_bytes([*id_high, *id_low]) == icmp.id;
    let intact = !(icmp.raw && v4) || checksum(message) == 0;
    let reply_kind = if v4 { 0 } else { 129 };
    let reply = *kind == reply_kind && *code == 0;
    let in_flight = u16::from_be_bytes([*seq_high, *seq_low]) == sequence_u16(sequence);
    (ours && intact && reply && in_flight && request.get(ICMP_HEADER..) == Some(data))
        .then_some([0; 4])
}

/// Whether `reply` is the UDP echo of `request` (the same length and `TestGenSN`; an
/// UDPEchoPlus server fills in the fields after it): its UDPEchoPlus fields.
fn udp_reply(reply: &[u8], request: &[u8]) -> Option<[u32; 4]> {
    let generated = request.len().min(4);
    if reply.len() != request.len() || reply.get(..generated) != request.get(..generated) {
        return None;
    }
    let mut fields = [0; 4];
    if let Some(header) = reply.get(4..ECHO_PLUS_HEADER) {
        for (field, bytes) in fields.iter_mut().zip(header.chunks_exact(4)) {
            *field = bytes.try_into().map(u32::from_be_bytes).unwrap_or(0);
        }
    }
    Some(fields)
}

/// The ICMP sequence number of repetition `sequence` (they wrap past 65535).
fn sequence_u16(sequence: u32) -> u16 {
    (sequence & 0xffff) as u16
}

/// A different number for each raw ICMP socket of this process.
fn next_id() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The Internet checksum (RFC 1071) of `bytes`: zero over a message that carries its own.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| match pair {
            [high, low] => u32::from(u16::from_be_bytes([*high, *low])),
            [high] => u32::from(*high) << 8,
            _ => 0,
        })
        .fold(0, u32::wrapping_add);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: Icmp = Icmp {
        raw: true,
        id: 0x1234,
    };
    const DATAGRAM: Icmp = Icmp { raw: false, id: 0 };

    /// The reply a host makes of `request`: type `kind`, a checksum again, an IPv4 header
    /// of `header` bytes in front.
    fn reply_of(request: &[u8], kind: u8, header: usize) -> Vec<u8> {
        let mut message = request.to_vec();
        message[0] = kind;
        message[2..4].fill(0);
        let sum = checksum(&message).to_be_bytes();
        message[2..4].copy_from_slice(&sum);
        let mut datagram = vec![0x40 | (header / 4) as u8];
        datagram.resize(header, 0);
        datagram.extend(message);
        datagram
    }

    #[test]
    fn the_internet_checksum_is_rfc_1071s() {
        // RFC 1071 §3's example: the sum is ddf2, its complement the checksum.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        // Odd lengths pad with a zero byte; a message with its checksum sums to zero.
        assert_eq!(checksum(&[0xff]), 0x00ff);
        let request = echo_request(Some(RAW), true, 7, 33);
        assert_eq!(checksum(&request), 0);
        assert_eq!(
            &request[..8],
            &[8, 0, request[2], request[3], 0x12, 0x34, 0, 7]
        );
    }

    #[test]
    fn only_the_reply_to_the_echo_in_flight_counts() {
        let request = echo_request(Some(RAW), true, 3, 16);
        let good = reply_of(&request, 0, 20);
        assert_eq!(icmp_reply(RAW, true, &good, &request, 3), Some([0; 4]));
        // Options in the IPv4 header are skipped.
        let options = reply_of(&request, 0, 24);
        assert!(icmp_reply(RAW, true, &options, &request, 3).is_some());
        // A late reply, another test's, our own request (loopback), a changed byte, other
        // data, a datagram cut short: none.
        assert!(icmp_reply(RAW, true, &good, &request, 4).is_none());
        let other = Icmp {
            raw: true,
            id: 0x4321,
        };
        assert!(icmp_reply(other, true, &good, &request, 3).is_none());
        assert!(icmp_reply(RAW, true, &reply_of(&request, 8, 20), &request, 3).is_none());
        let mut corrupt = good.clone();
        *corrupt.last_mut().unwrap() ^= 1;
        assert!(icmp_reply(RAW, true, &corrupt, &request, 3).is_none());
        let longer = echo_request(Some(RAW), true, 3, 17);
        assert!(icmp_reply(RAW, true, &reply_of(&longer, 0, 20), &request, 3).is_none());
        for cut in [0, 1, 20, 27] {
            assert!(
                icmp_reply(RAW, true, &good[..cut], &request, 3).is_none(),
                "{cut}"
            );
        }
        // A datagram socket hands over the ICMP message alone, its identifier the kernel's.
        let kernel = reply_of(&echo_request(Some(DATAGRAM), true, 3, 16), 0, 0);
        let request = echo_request(Some(DATAGRAM), true, 3, 16);
        assert!(icmp_reply(DATAGRAM, true, &kernel, &request, 3).is_some());
        // ICMPv6: echo reply 129, the checksum the kernel's.
        let request = echo_request(Some(RAW), false, 65536 + 5, 8);
        assert_eq!(&request[..8], &[128, 0, 0, 0, 0x12, 0x34, 0, 5]);
        let mut reply = request.clone();
        reply[0] = 129;
        assert!(icmp_reply(RAW, false, &reply, &request, 5).is_some());
        reply[0] = 128;
        assert!(icmp_reply(RAW, false, &reply, &request, 5).is_none());
    }

    #[test]
    fn udp_echoes_match_on_length_and_test_gen_sn() {
        let request = echo_request(None, true, 2, 24);
        assert_eq!(&request[..4], &[0, 0, 0, 2]);
        // An RFC 862 server returns it as it is; an UDPEchoPlus one fills in its fields.
        assert_eq!(udp_reply(&request, &request), Some([0; 4]));
        let mut plus = request.clone();
        plus[4..20].copy_from_slice(&[0, 0, 0, 9, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 1]);
        assert_eq!(udp_reply(&plus, &request), Some([9, 256, 512, 1]));
        assert!(udp_reply(&echo_request(None, true, 1, 24), &request).is_none());
        assert!(udp_reply(&request[..23], &request).is_none());
        // A block shorter than TestGenSN carries what fits.
        let tiny = echo_request(None, true, 2, 2);
        assert_eq!(udp_reply(&tiny, &tiny), Some([0; 4]));
    }
}
