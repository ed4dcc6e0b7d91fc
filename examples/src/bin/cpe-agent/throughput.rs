//! The TR-143 throughput tests, run for real over HTTP and HTTPS:
//! `Device.IP.Diagnostics.DownloadDiagnostics()` and `UploadDiagnostics()`, and through the
//! engine's bridge (`hal::engine::diagnostics`) their CWMP objects
//! (`Device.IP.Diagnostics.DownloadDiagnostics.` with `DiagnosticsState` `Requested`, then
//! `8 DIAGNOSTICS COMPLETE`).
//!
//! [`Throughput`] runs the two commands; the device's command dispatch
//! ([`crate::device`]) hands it those and every other command to the simulated device.
//!
//! # What a test does
//!
//! It resolves the URL's host (`ProtocolVersion` `IPv4` or `IPv6` keeps the addresses of
//! that family; `Any` takes the first), then opens `NumberOfConnections` TCP connections to
//! that address (at most [`MAX_CONNECTIONS`], the advertised
//! `DownloadDiagnosticMaxConnections` and `UploadDiagnosticsMaxConnections`; more is refused
//! as invalid arguments, USP 7027), marking their packets with `DSCP` (`IP_TOS`,
//! `IPV6_TCLASS`), with TLS for `https://` checked against the agent's CA certificates
//! ([`Trust`]). Over each, on the agent's HTTP/1.1 client ([`crate::http1`]):
//!
//! - a download GETs `DownloadURL`; the body is counted and dropped as it comes, never
//!   held;
//! - an upload PUTs `TestFileLength` bytes (zeros, made as they are sent, never held whole).
//!
//! A file-based test (`TimeBasedTestDuration` 0) ends when every connection's transfer has
//! ended, within [`MAX_FILE_TEST`] (else `Error_Timeout`). A time-based one repeats the
//! transfer on each connection (on a new one when the server closes it) until
//! `TimeBasedTestDuration` has passed, and cuts the transfers in flight there; with a
//! `TimeBasedTestMeasurementInterval` it adds an `IncrementalResult.{i}.` row per interval
//! from `TimeBasedTestMeasurementOffset` on, at most [`MAX_INCREMENTAL`] (the advertised
//! `...MaxIncrementalResult`). Every step that waits (resolution, connection, handshake, a
//! response head, a body piece) is bounded by [`IDLE_TIMEOUT`]. `Request.{i}.Cancel()`, or a
//! CWMP input written while the test runs, stops it and closes its connections.
//!
//! # Results
//!
//! Times are the wall clock to the microsecond. `ROMTime` is when the request (GET, PUT) was
//! written; `BOMTime` when the first data of the response came (download) or the first byte
//! of the body was written (upload); `EOMTime` when the last data came (download), or when
//! the response came, or the last byte was written where the duration cut the test
//! (upload). Across connections `ROMTime`, `BOMTime` and the `TCPOpen*Time`s are the
//! earliest, `EOMTime` the latest; `PerConnectionResult.{i}.` has each connection's when
//! `EnablePerConnectionResults` is true. `TestBytesReceived` / `TestBytesSent` count the
//! HTTP bytes, heads included (TR-181), above TLS. The agent has no interface counters (its
//! device is simulated), so `TotalBytesReceived` / `TotalBytesSent` are the HTTP bytes of the
//! test's connections each way (the test bytes plus the other direction's requests or
//! responses), not the IP-layer bytes of the whole interface: TLS, TCP and IP overhead and
//! other traffic are not in them. A failed test gives only its `Status`.
//!
//! | Failure | `Status` |
//! |---|---|
//! | the host does not resolve (to an address of the `ProtocolVersion`) | `Error_CannotResolveHostName` |
//! | no route to the host | `Error_NoRouteToHost` |
//! | the TCP connection or the TLS handshake fails; `https://` without CA certificates | `Error_InitConnectionFailed` |
//! | no response head | `Error_NoResponse` |
//! | HTTP 401 or 403 | `Error_LoginFailed` |
//! | another status than 2xx, or the body broke off (download) | `Error_TransferFailed` |
//! | the same, upload (its `Status` has no `Error_TransferFailed`) | `Error_NoTransferComplete` |
//! | the connection closed before the `Content-Length` the server gave | `Error_IncorrectSize` |
//! | a file-based test longer than [`MAX_FILE_TEST`] | `Error_Timeout` |
//! | a URL that is not `http://` or `https://` with a host (`ftp://` among them: `DownloadTransports` says `HTTP`) | `Error_Other` |
//!
//! Not done: `Interface` is not followed (the simulated device's interfaces are not the
//! host's: the host's routing picks), `EthernetPriority` is not set (tokio offers no
//! `SO_PRIORITY`), and the `...UnderFullLoading` counts and `PeriodOfFullLoading` are not
//! measured (they stay unset).

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use hal::HalError;
use hal::feed::{CallId, CommandReporter};
use hal::traits::{CommandCall, Invoked};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpSocket;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::http::Uri;
use tr181_model::path::schema_path_of;
use tr181_model::value::{DateTime, Value};

use crate::device::precise_wall_clock;
use crate::http1::{self, Conn};
use crate::running::{self, Family, Running};
use crate::tls::{self, ConnectError, Io, Trust};

/// The download test's command.
pub(crate) const DOWNLOAD: &str = "Device.IP.Diagnostics.DownloadDiagnostics()";
/// The upload test's command.
pub(crate) const UPLOAD: &str = "Device.IP.Diagnostics.UploadDiagnostics()";

/// Most connections of one test.
const MAX_CONNECTIONS: u32 = 8;
/// Most `IncrementalResult.{i}.` rows of one test.
const MAX_INCREMENTAL: u32 = 100;
/// Longest a file-based test may take.
const MAX_FILE_TEST: Duration = Duration::from_secs(600);
/// Longest one step of a test may wait (a resolution, a connection, a response, a piece).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The upload body is sent in pieces of this many bytes (zeros, made at run time: a static
/// would cost its size in the binary).
const PIECE: usize = 16 * 1024;

/// The `Device.IP.Diagnostics` capabilities of these tests, as the device's values.
pub(crate) fn capabilities() -> Vec<(String, String)> {
    let connections = MAX_CONNECTIONS.to_string();
    let increments = MAX_INCREMENTAL.to_string();
    [
        ("DownloadTransports", "HTTP"),
        ("DownloadDiagnosticMaxConnections", &connections),
        ("DownloadDiagnosticsMaxIncrementalResult", &increments),
        ("UploadTransports", "HTTP"),
        ("UploadDiagnosticsMaxConnections", &connections),
        ("UploadDiagnosticsMaxIncrementalResult", &increments),
    ]
    .into_iter()
    .map(|(name, value)| (format!("Device.IP.Diagnostics.{name}"), value.to_owned()))
    .collect()
}

/// Runs `DownloadDiagnostics()` and `UploadDiagnostics()`; see the [module docs](self).
pub(crate) struct Throughput {
    trust: Option<Trust>,
    running: Running,
}

impl Throughput {
    /// Tests that check `https://` servers against `trust`.
    pub(crate) fn new(trust: Option<Trust>) -> Self {
        Self {
            trust,
            running: Running::default(),
        }
    }

    /// Starts `call` ([`DOWNLOAD`] or [`UPLOAD`]); its outputs go to `reporter` when it ends.
    pub(crate) fn invoke(
        &self,
        call: &CommandCall,
        reporter: CommandReporter,
    ) -> Result<Invoked, HalError> {
        let direction = match schema_path_of(&call.path).as_str() {
            UPLOAD => Direction::Upload,
            _ => Direction::Download,
        };
        let test = Test::of(call, direction)?;
        self.running
            .start(call, reporter, test.run(self.trust.clone()))
    }

    /// Stops test `call` and closes its connections; false when it is not one of these
    /// (running).
    pub(crate) fn cancel(&self, call: CallId) -> bool {
        self.running.cancel(call)
    }
}

/// `mutex` locked (a panic elsewhere leaves its data as it was).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Which test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Download,
    Upload,
}

impl Direction {
    /// The output counting the test's bytes.
    fn test_bytes(self) -> &'static str {
        match self {
            Self::Download => "TestBytesReceived",
            Self::Upload => "TestBytesSent",
        }
    }
}

/// Why a test failed; see the table of the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    CannotResolveHostName,
    IncorrectSize,
    InitConnectionFailed,
    Internal,
    LoginFailed,
    NoResponse,
    NoRouteToHost,
    Other,
    Timeout,
    TransferFailed,
}

impl Failure {
    /// The `Status` value of the test of `direction`.
    fn status(self, direction: Direction) -> &'static str {
        match self {
            Self::CannotResolveHostName => "Error_CannotResolveHostName",
            Self::IncorrectSize => "Error_IncorrectSize",
            Self::InitConnectionFailed => "Error_InitConnectionFailed",
            Self::Internal => "Error_Internal",
            Self::LoginFailed => "Error_LoginFailed",
            Self::NoResponse => "Error_NoResponse",
            Self::NoRouteToHost => "Error_NoRouteToHost",
            Self::Other => "Error_Other",
            Self::Timeout => "Error_Timeout",
            Self::TransferFailed if direction == Direction::Upload => "Error_NoTransferComplete",
            Self::TransferFailed => "Error_TransferFailed",
        }
    }
}

/// A test as invoked.
#[derive(Debug)]
struct Test {
    direction: Direction,
    url: String,
    connections: u32,
    /// `TimeBasedTestDuration`, for a time-based test.
    duration: Option<Duration>,
    /// `TimeBasedTestMeasurementInterval`, when increments are asked for.
    interval: Option<Duration>,
    offset: Duration,
    per_connection: bool,
    dscp: u32,
    family: Family,
    /// `TestFileLength` (upload).
    file_length: u64,
}

/// A positive number of seconds, if `seconds` is one.
fn seconds(seconds: u32) -> Option<Duration> {
    (seconds > 0).then(|| Duration::from_secs(seconds.into()))
}

impl Test {
    /// The test `call` asks for; more connections than [`MAX_CONNECTIONS`] are invalid.
    fn of(call: &CommandCall, direction: Direction) -> Result<Self, HalError> {
        let number = |name| match call.arg(name) {
            Some(Value::UnsignedInt(n)) => *n,
            _ => 0,
        };
        let text = |name| match call.arg(name) {
            Some(Value::String(text)) => text.as_str(),
            _ => "",
        };
        let connections = number("NumberOfConnections").max(1);
        if connections > MAX_CONNECTIONS {
            return Err(HalError::InvalidArguments {
                path: call.path.clone(),
                reason: format!("NumberOfConnections above {MAX_CONNECTIONS}"),
            });
        }
        let duration = seconds(number("TimeBasedTestDuration"));
        let url = match direction {
            Direction::Download => text("DownloadURL"),
            Direction::Upload => text("UploadURL"),
        };
        Ok(Self {
            direction,
            url: url.to_owned(),
            connections,
            duration,
            interval: duration.and_then(|_| seconds(number("TimeBasedTestMeasurementInterval"))),
            offset: Duration::from_secs(number("TimeBasedTestMeasurementOffset").into()),
            per_connection: matches!(
                call.arg("EnablePerConnectionResults"),
                Some(Value::Boolean(true))
            ),
            dscp: number("DSCP"),
            family: Family::of(text("ProtocolVersion")),
            file_length: match call.arg("TestFileLength") {
                Some(Value::UnsignedLong(n)) => *n,
                _ => 0,
            },
        })
    }

    /// Runs the test; its output arguments.
    async fn run(self, trust: Option<Trust>) -> Vec<(String, Value)> {
        let records: Vec<_> = (0..self.connections)
            .map(|_| Arc::new(Mutex::new(Record::default())))
            .collect();
        let measured = self.measure(trust, &records).await;
        let records: Vec<Record> = records.iter().map(|record| *lock(record)).collect();
        match measured {
            Ok(increments) => self.results(&records, increments),
            Err(failure) => vec![status(failure.status(self.direction))],
        }
    }

    /// Runs the connections, each into its record; the increments.
    async fn measure(
        &self,
        trust: Option<Trust>,
        records: &[Arc<Mutex<Record>>],
    ) -> Result<Vec<Increment>, Failure> {
        let url: Uri = self.url.parse().map_err(|_| Failure::Other)?;
        let (host, port, trust) = tls::endpoint(&url, trust.as_ref()).map_err(|e| match e {
            ConnectError::NoTrust => Failure::InitConnectionFailed,
            _ => Failure::Other,
        })?;
        let address = running::resolve(host, port, self.family, IDLE_TIMEOUT)
            .await
            .ok_or(Failure::CannotResolveHostName)?;
        let start = Instant::now();
        let plan = Arc::new(Plan {
            direction: self.direction,
            address,
            host: host.to_owned(),
            authority: url.authority().map(ToString::to_string).unwrap_or_default(),
            target: url.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
            trust: trust.cloned(),
            dscp: self.dscp,
            file_length: self.file_length,
            repeat: self.duration.is_some(),
        });
        let mut connections = JoinSet::new();
        for record in records {
            let (plan, record) = (plan.clone(), record.clone());
            // The failure goes in the record: the task's output is `()`, as the agent's other
            // tasks', so that their `JoinSet` code serves.
            connections.spawn(async move {
                if let Err(failure) = plan.connection(&record).await {
                    lock(&record).failure = Some(failure);
                }
            });
        }
        let end = start + self.duration.unwrap_or(MAX_FILE_TEST);
        let mut sampler = self.interval.map(|interval| Sampler {
            next: start + self.offset,
            interval,
            last: None,
            rows: Vec::new(),
        });
        loop {
            let tick = sampler
                .as_ref()
                .map(|s| s.next)
                .filter(|next| *next <= end && sampler.as_ref().is_some_and(Sampler::has_room));
            tokio::select! {
                biased;
                () = tokio::time::sleep_until(tick.unwrap_or(end)), if tick.is_some() => {
                    if let Some(sampler) = &mut sampler {
                        sampler.sample(self.direction, records);
                    }
                }
                () = tokio::time::sleep_until(end) => {
                    return match self.duration {
                        Some(_) => Ok(sampler.map(|s| s.rows).unwrap_or_default()),
                        None => Err(Failure::Timeout),
                    };
                }
                joined = connections.join_next() => {
                    if let Some(failure) = records.iter().find_map(|r| lock(r).failure) {
                        return Err(failure);
                    }
                    match joined {
                        None => return Ok(Vec::new()),
                        Some(Ok(())) => {}
                        Some(Err(_)) => return Err(Failure::Internal),
                    }
                }
            }
        }
    }

    /// The outputs of a completed test from its connections' `records`.
    fn results(&self, records: &[Record], increments: Vec<Increment>) -> Vec<(String, Value)> {
        let direction = self.direction;
        let mut out = vec![status("Complete")];
        let address = records.iter().find_map(|r| r.address_used);
        if let Some(address) = address {
            out.push(("IPAddressUsed".into(), Value::String(address.to_string())));
        }
        let earliest = |time: fn(&Record, Direction) -> Option<DateTime>| {
            records.iter().filter_map(|r| time(r, direction)).min()
        };
        let latest = records.iter().filter_map(|r| r.eom(direction)).max();
        let times = [
            ("ROMTime", earliest(Record::rom)),
            ("BOMTime", earliest(Record::bom)),
            ("EOMTime", latest),
            ("TCPOpenRequestTime", earliest(|r, _| r.tcp_open_request)),
            ("TCPOpenResponseTime", earliest(|r, _| r.tcp_open_response)),
        ];
        push_times(&mut out, "", &times);
        let total = records
            .iter()
            .fold(Totals::default(), |sum, r| sum.add(r.totals(direction)));
        total.push(&mut out, "", direction);
        if self.per_connection {
            for (n, record) in (1..).zip(records) {
                let prefix = format!("PerConnectionResult.{n}.");
                let times = [
                    ("ROMTime", record.rom(direction)),
                    ("BOMTime", record.bom(direction)),
                    ("EOMTime", record.eom(direction)),
                    ("TCPOpenRequestTime", record.tcp_open_request),
                    ("TCPOpenResponseTime", record.tcp_open_response),
                ];
                push_times(&mut out, &prefix, &times);
                record.totals(direction).push(&mut out, &prefix, direction);
            }
        }
        for (n, increment) in (1..).zip(increments) {
            let prefix = format!("IncrementalResult.{n}.");
            let times = [
                ("StartTime", Some(increment.start)),
                ("EndTime", Some(increment.end)),
            ];
            push_times(&mut out, &prefix, &times);
            increment.bytes.push(&mut out, &prefix, direction);
        }
        out
    }
}

/// The output `Status` `value`.
fn status(value: &str) -> (String, Value) {
    ("Status".into(), Value::String(value.into()))
}

/// Adds the known `times` as outputs named with `prefix`.
fn push_times(out: &mut Vec<(String, Value)>, prefix: &str, times: &[(&str, Option<DateTime>)]) {
    for (name, time) in times {
        if let Some(time) = time {
            out.push((format!("{prefix}{name}"), Value::DateTime(*time)));
        }
    }
}

/// What every connection of a test does.
struct Plan {
    direction: Direction,
    address: SocketAddr,
    /// The host name (TLS server name).
    host: String,
    /// The `Host` field.
    authority: String,
    /// The request target.
    target: String,
    trust: Option<Trust>,
    dscp: u32,
    file_length: u64,
    /// Repeat the transfer until the test is stopped (time-based).
    repeat: bool,
}

impl Plan {
    /// One connection of the test: its transfer, or transfers until it is stopped.
    async fn connection(&self, record: &Arc<Mutex<Record>>) -> Result<(), Failure> {
        loop {
            let mut conn = self.open(record).await?;
            loop {
                self.transfer(record, &mut conn).await?;
                if !self.repeat {
                    return Ok(());
                }
                if !conn.reusable() {
                    break;
                }
            }
        }
    }

    /// Opens a connection (TCP, then TLS where the URL asks), metered into `record`.
    async fn open(&self, record: &Arc<Mutex<Record>>) -> Result<Conn<Box<dyn Io>>, Failure> {
        let socket = match self.address {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(|_| Failure::Internal)?;
        if self.dscp > 0 {
            // DSCP is the upper six bits of the TOS / traffic class octet.
            let class = self.dscp << 2;
            let marked = match self.address {
                SocketAddr::V4(_) => socket.set_tos_v4(class),
                SocketAddr::V6(_) => socket.set_tclass_v6(class),
            };
            if let Err(error) = marked {
                tracing::warn!(%error, "throughput test: DSCP not set");
            }
        }
        let requested = precise_wall_clock();
        let stream = tokio::time::timeout(IDLE_TIMEOUT, socket.connect(self.address))
            .await
            .map_err(|_| Failure::InitConnectionFailed)?
            .map_err(|error| match error.kind() {
                io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                    Failure::NoRouteToHost
                }
                _ => Failure::InitConnectionFailed,
            })?;
        let _ = stream.set_nodelay(true);
        {
            let mut record = lock(record);
            if record.tcp_open_request.is_none() {
                record.tcp_open_request = requested;
                record.tcp_open_response = precise_wall_clock();
                record.address_used = stream.local_addr().ok().map(|a| a.ip());
            }
        }
        let io = match &self.trust {
            Some(trust) => {
                let handshake = tls::handshake(stream, &self.host, trust);
                tokio::time::timeout(IDLE_TIMEOUT, handshake)
                    .await
                    .map_err(|_| Failure::InitConnectionFailed)?
                    .map_err(|_| Failure::InitConnectionFailed)?
                    .0
            }
            None => Box::new(stream),
        };
        Ok(Conn::new(Metered::wrap(io, record)))
    }

    /// One GET or PUT on `conn`.
    async fn transfer(
        &self,
        record: &Mutex<Record>,
        conn: &mut Conn<Box<dyn Io>>,
    ) -> Result<(), Failure> {
        let headers = [("Host", self.authority.as_str())];
        match self.direction {
            Direction::Download => {
                let sent = conn.send_request("GET", &self.target, &headers, &[]);
                within(sent, Failure::NoResponse).await?;
                let head = within(conn.read_response_head(), Failure::NoResponse).await?;
                check(head.status)?;
                let length: Option<u64> =
                    head.header("content-length").and_then(|n| n.parse().ok());
                let mut received = 0_u64;
                loop {
                    let piece = tokio::time::timeout(IDLE_TIMEOUT, conn.read_chunk()).await;
                    match piece.map_err(|_| Failure::TransferFailed)? {
                        Ok(Some(data)) => {
                            let size = u64::try_from(data.len()).unwrap_or(u64::MAX);
                            received = received.saturating_add(size);
                        }
                        Ok(None) => return Ok(()),
                        Err(http1::Error::Closed) if length.is_some_and(|n| received < n) => {
                            return Err(Failure::IncorrectSize);
                        }
                        Err(_) => return Err(Failure::TransferFailed),
                    }
                }
            }
            Direction::Upload => {
                let sent = conn.send_request_head("PUT", &self.target, &headers, self.file_length);
                within(sent, Failure::NoResponse).await?;
                let mut rest = self.file_length;
                let zeros = vec![0; PIECE];
                if rest > 0 {
                    let mut record = lock(record);
                    record.body_start = record.body_start.or_else(precise_wall_clock);
                }
                while rest > 0 {
                    let size = usize::try_from(rest).unwrap_or(usize::MAX).min(PIECE);
                    let piece = conn.send_body(zeros.get(..size).unwrap_or_default());
                    within(piece, Failure::TransferFailed).await?;
                    rest = rest.saturating_sub(u64::try_from(size).unwrap_or(u64::MAX));
                }
                let head = within(conn.read_response_head(), Failure::NoResponse).await?;
                check(head.status)?;
                // What the server says with its answer is not the test's; a connection
                // left unread is not reused.
                while let Ok(Ok(Some(_))) =
                    tokio::time::timeout(IDLE_TIMEOUT, conn.read_chunk()).await
                {}
                Ok(())
            }
        }
    }
}

/// `step` within [`IDLE_TIMEOUT`], `failure` when it fails or takes longer.
async fn within<T>(
    step: impl Future<Output = Result<T, http1::Error>>,
    failure: Failure,
) -> Result<T, Failure> {
    match tokio::time::timeout(IDLE_TIMEOUT, step).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) | Err(_) => Err(failure),
    }
}

/// The failure of HTTP status `code`, if any.
fn check(code: u16) -> Result<(), Failure> {
    match code {
        200..=299 => Ok(()),
        401 | 403 => Err(Failure::LoginFailed),
        _ => Err(Failure::TransferFailed),
    }
}

/// Bytes each way.
#[derive(Clone, Copy, Debug, Default)]
struct Bytes {
    received: u64,
    sent: u64,
}

impl Bytes {
    fn count(&mut self, read: bool, bytes: u64) {
        let counter = if read {
            &mut self.received
        } else {
            &mut self.sent
        };
        *counter = counter.saturating_add(bytes);
    }
}

/// What one connection of a test measured.
#[derive(Clone, Copy, Debug, Default)]
struct Record {
    tcp_open_request: Option<DateTime>,
    tcp_open_response: Option<DateTime>,
    address_used: Option<IpAddr>,
    /// When the first upload body byte was written.
    body_start: Option<DateTime>,
    /// When HTTP bytes were first and last written and read.
    first_write: Option<DateTime>,
    last_write: Option<DateTime>,
    first_read: Option<DateTime>,
    last_read: Option<DateTime>,
    /// The HTTP bytes (above TLS).
    http: Bytes,
    /// Why the connection failed.
    failure: Option<Failure>,
}

impl Record {
    fn rom(&self, _: Direction) -> Option<DateTime> {
        self.first_write
    }

    fn bom(&self, direction: Direction) -> Option<DateTime> {
        match direction {
            Direction::Download => self.first_read,
            Direction::Upload => self.body_start,
        }
    }

    fn eom(&self, direction: Direction) -> Option<DateTime> {
        match direction {
            Direction::Download => self.last_read,
            // The response, or the last byte written where the test was cut.
            Direction::Upload => self.last_read.max(self.last_write),
        }
    }

    fn totals(&self, direction: Direction) -> Totals {
        Totals {
            test: match direction {
                Direction::Download => self.http.received,
                Direction::Upload => self.http.sent,
            },
            total: self.http,
        }
    }
}

/// The byte counts a result gives.
#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    /// `TestBytesReceived` or `TestBytesSent`.
    test: u64,
    /// `TotalBytesReceived` and `TotalBytesSent`.
    total: Bytes,
}

impl Totals {
    fn add(self, other: Self) -> Self {
        Self {
            test: self.test.saturating_add(other.test),
            total: Bytes {
                received: self.total.received.saturating_add(other.total.received),
                sent: self.total.sent.saturating_add(other.total.sent),
            },
        }
    }

    /// What was counted from `earlier` to this.
    fn since(self, earlier: Self) -> Self {
        Self {
            test: self.test.saturating_sub(earlier.test),
            total: Bytes {
                received: self.total.received.saturating_sub(earlier.total.received),
                sent: self.total.sent.saturating_sub(earlier.total.sent),
            },
        }
    }

    fn push(self, out: &mut Vec<(String, Value)>, prefix: &str, direction: Direction) {
        for (name, bytes) in [
            (direction.test_bytes(), self.test),
            ("TotalBytesReceived", self.total.received),
            ("TotalBytesSent", self.total.sent),
        ] {
            out.push((format!("{prefix}{name}"), Value::UnsignedLong(bytes)));
        }
    }
}

/// One `IncrementalResult.{i}.` row.
#[derive(Debug)]
struct Increment {
    start: DateTime,
    end: DateTime,
    bytes: Totals,
}

/// Takes the increments of a time-based test.
struct Sampler {
    /// When the next interval ends (the first "interval" ends at the offset, and gives no row).
    next: Instant,
    interval: Duration,
    /// The end of the last interval, and the counts then.
    last: Option<(DateTime, Totals)>,
    rows: Vec<Increment>,
}

impl Sampler {
    fn has_room(&self) -> bool {
        u32::try_from(self.rows.len()).is_ok_and(|n| n < MAX_INCREMENTAL)
    }

    /// Ends an interval: its row, from the counts of `records`.
    fn sample(&mut self, direction: Direction, records: &[Arc<Mutex<Record>>]) {
        let now = precise_wall_clock();
        let counts = records.iter().fold(Totals::default(), |sum, r| {
            sum.add(lock(r).totals(direction))
        });
        if let (Some((start, before)), Some(end)) = (self.last, now) {
            self.rows.push(Increment {
                start,
                end,
                bytes: counts.since(before),
            });
        }
        self.last = now.map(|now| (now, counts));
        self.next += self.interval;
    }
}

/// A stream that counts what goes through it, and when, into a connection's [`Record`].
struct Metered {
    io: Box<dyn Io>,
    record: Arc<Mutex<Record>>,
}

impl Metered {
    /// `io`, counted into `record`.
    fn wrap(io: Box<dyn Io>, record: &Arc<Mutex<Record>>) -> Box<dyn Io> {
        Box::new(Self {
            io,
            record: record.clone(),
        })
    }

    fn count(&self, read: bool, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        let now = precise_wall_clock();
        let mut guard = lock(&self.record);
        let record = &mut *guard;
        record.http.count(read, bytes);
        let (first, last) = if read {
            (&mut record.first_read, &mut record.last_read)
        } else {
            (&mut record.first_write, &mut record.last_write)
        };
        *first = first.or(now);
        *last = now.or(*last);
    }
}

impl AsyncRead for Metered {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        self.count(true, buf.filled().len().saturating_sub(before));
        polled
    }
}

impl AsyncWrite for Metered {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = polled {
            self.count(false, written);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
