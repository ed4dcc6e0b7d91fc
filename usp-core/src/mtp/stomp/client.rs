//! The sans-IO STOMP 1.2 client of a USP Endpoint: one broker connection from its `STOMP`
//! frame to its end.
//!
//! ```text
//!  new(now) ──► Connecting ──CONNECTED──► Subscribed ──ERROR, bad frame, silence──► closed
//!     (STOMP frame queued)    (SUBSCRIBE queued,        (SEND frames, heart-beats)
//!                              Event::Connected)
//! ```
//!
//! The driver owns the socket. It writes what [`Client::poll_transmit`] gives, feeds what it
//! reads to [`Client::handle_input`], calls [`Client::handle_timeout`] at
//! [`Client::poll_timeout`], and takes [`Event`]s from [`Client::poll_event`] after each
//! input. An `Err` from an input means the connection is over: the driver closes the socket
//! and reconnects with a new `Client` after its retry wait.
//!
//! - The `STOMP` frame carries `accept-version:1.2`, `host` (the VirtualHost, left out when
//!   empty so that the broker takes its default), `login`/`passcode` (when a login is set),
//!   [`HEADER_ENDPOINT_ID`] (escaped: `:` becomes `\c`) and `heart-beat` (the configured
//!   outgoing and incoming intervals, or [`NO_HEART_BEAT`]).
//! - `CONNECTED`'s [`HEADER_SUBSCRIBE_DEST`] overrides the configured destination; with
//!   neither, the connection fails ([`ClientError::NoDestination`]: the MTP cannot receive).
//!   The client subscribes with `ack:auto`, so it never sends ACK or NACK (nor transactions).
//! - A `MESSAGE` whose `content-type` is not [`CONTENT_TYPE`] is dropped
//!   ([`Event::Dropped`]); others become [`Event::Record`] with their `reply-to-dest`.
//! - Heart-beats as STOMP 1.2 negotiates them: the client sends an EOL when it has sent
//!   nothing for `max(outgoing, server's incoming)`, and gives the connection up when nothing
//!   came for twice `max(incoming, server's outgoing)` ([`ClientError::HeartBeatTimeout`]).
//!   `CONNECTED` must come within [`ClientConfig::connect_timeout`].

use std::format;
use std::string::{String, ToString};
use std::time::{Duration, Instant};
use std::vec::Vec;

use super::frame::{Command, Decoded, Frame, FrameError, FrameLimits, decode_frame, encode_frame};
use super::{
    CONTENT_TYPE, HEADER_CONTENT_TYPE, HEADER_DESTINATION, HEADER_ENDPOINT_ID,
    HEADER_REPLY_TO_DEST, HEADER_SUBSCRIBE_DEST, NO_HEART_BEAT,
};

/// The subscription id of the client's one subscription.
const SUBSCRIPTION_ID: &str = "0";
/// How many heart-beat intervals of silence end the connection.
const SILENT_INTERVALS: u32 = 2;
/// Most events kept before the driver takes them.
const MAX_EVENTS: usize = 1024;

/// What the client sends in its `STOMP` frame and how long it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The Endpoint's ID (`endpoint-id`).
    pub endpoint_id: String,
    /// TR-181 `VirtualHost` (`host`); empty leaves the header out.
    pub virtual_host: String,
    /// TR-181 `Username` (`login`); empty sends no credentials.
    pub login: String,
    /// TR-181 `Password` (`passcode`).
    pub passcode: String,
    /// TR-181 `OutgoingHeartbeat` and `IncomingHeartbeat` in milliseconds, when
    /// `EnableHeartbeats` is on; `None` sends [`NO_HEART_BEAT`].
    pub heart_beat: Option<(u32, u32)>,
    /// TR-181 `LocalAgent.MTP.{i}.STOMP.Destination`: where the Endpoint receives, unless
    /// `CONNECTED` names another.
    pub destination: String,
    /// How long `CONNECTED` may take. Default 30 s.
    pub connect_timeout: Duration,
    /// Bounds on the broker's frames.
    pub limits: FrameLimits,
}

impl ClientConfig {
    /// A configuration for `endpoint_id` receiving on `destination`, without credentials,
    /// virtual host or heart-beats.
    pub fn new(endpoint_id: impl Into<String>, destination: impl Into<String>) -> Self {
        Self {
            endpoint_id: endpoint_id.into(),
            virtual_host: String::new(),
            login: String::new(),
            passcode: String::new(),
            heart_beat: None,
            destination: destination.into(),
            connect_timeout: Duration::from_secs(30),
            limits: FrameLimits::default(),
        }
    }

    /// Sets the virtual host.
    #[must_use]
    pub fn with_virtual_host(mut self, host: impl Into<String>) -> Self {
        self.virtual_host = host.into();
        self
    }

    /// Sets the credentials.
    #[must_use]
    pub fn with_credentials(
        mut self,
        login: impl Into<String>,
        passcode: impl Into<String>,
    ) -> Self {
        self.login = login.into();
        self.passcode = passcode.into();
        self
    }

    /// Sets the heart-beat intervals (outgoing, incoming) in milliseconds.
    #[must_use]
    pub const fn with_heart_beat(mut self, outgoing_ms: u32, incoming_ms: u32) -> Self {
        self.heart_beat = Some((outgoing_ms, incoming_ms));
        self
    }

    /// Sets the frame limits.
    #[must_use]
    pub fn with_limits(mut self, limits: FrameLimits) -> Self {
        self.limits = limits;
        self
    }
}

/// What happened on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// `CONNECTED` came and the SUBSCRIBE is queued: Records can flow.
    Connected {
        /// Where the Endpoint receives (send it in the `stomp_connect` Record).
        destination: String,
        /// The `subscribe-dest` of `CONNECTED` (TR-181 `DestinationFromServer`), if any.
        from_server: Option<String>,
        /// The broker's `server` header.
        server: Option<String>,
    },
    /// A `MESSAGE` that is not a USP Record (its `content-type`), dropped.
    Dropped {
        /// The content type it had.
        content_type: String,
    },
    /// A USP Record arrived.
    Record {
        /// The Record's bytes.
        body: Vec<u8>,
        /// The sender's `reply-to-dest`, if it named one.
        reply_to: Option<String>,
    },
}

/// Why the connection is over (or a send refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// `CONNECTED` did not come within [`ClientConfig::connect_timeout`].
    #[error("no STOMP CONNECTED frame in time")]
    ConnectTimeout,
    /// The broker sent a frame that cannot be parsed.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Nothing came from the broker for too long.
    #[error("the STOMP broker's heart-beats stopped")]
    HeartBeatTimeout,
    /// Neither the configuration nor `CONNECTED` names a destination to subscribe to.
    #[error("no STOMP destination to subscribe to")]
    NoDestination,
    /// A Record was given before `CONNECTED` or after the connection ended.
    #[error("the STOMP connection is not up")]
    NotConnected,
    /// The broker sent `ERROR` (it closes the connection next): its `message` header.
    #[error("the STOMP broker sent ERROR: {0}")]
    Refused(String),
    /// A frame a broker does not send, or `CONNECTED` twice, or a `MESSAGE` before it.
    #[error("unexpected STOMP {0} frame")]
    Unexpected(&'static str),
    /// `CONNECTED` names another version than 1.2.
    #[error("the STOMP broker speaks version {0:?}, not 1.2")]
    Version(String),
}

/// The connection's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Subscribed,
    Closed,
}

/// One STOMP connection of a USP Endpoint; see the [module docs](self).
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    phase: Phase,
    started: Instant,
    input: Vec<u8>,
    output: Vec<u8>,
    events: std::collections::VecDeque<Event>,
    /// The negotiated interval of the client's heart-beats.
    send_every: Option<Duration>,
    /// The negotiated interval of the broker's heart-beats.
    receive_every: Option<Duration>,
    last_sent: Instant,
    last_received: Instant,
    /// Where the Endpoint receives, once connected.
    destination: String,
}

impl Client {
    /// A connection opened at `now`: the `STOMP` frame is queued.
    #[must_use]
    pub fn new(config: ClientConfig, now: Instant) -> Self {
        let mut connect = Frame::new(Command::Stomp)
            .with_header("accept-version", "1.2")
            .with_header(HEADER_ENDPOINT_ID, &config.endpoint_id);
        if !config.virtual_host.is_empty() {
            connect = connect.with_header("host", &config.virtual_host);
        }
        if !config.login.is_empty() {
            connect = connect
                .with_header("login", &config.login)
                .with_header("passcode", &config.passcode);
        }
        let heart_beat = config.heart_beat.map_or_else(
            || NO_HEART_BEAT.to_string(),
            |(out, inc)| format!("{out},{inc}"),
        );
        connect = connect.with_header("heart-beat", &heart_beat);
        let mut output = Vec::new();
        encode_frame(&connect, &mut output);
        Self {
            config,
            phase: Phase::Connecting,
            started: now,
            input: Vec::new(),
            output,
            events: std::collections::VecDeque::new(),
            send_every: None,
            receive_every: None,
            last_sent: now,
            last_received: now,
            destination: String::new(),
        }
    }

    /// Where the Endpoint receives: empty until connected.
    #[must_use]
    pub fn destination(&self) -> &str {
        &self.destination
    }

    /// Whether `CONNECTED` came and the connection has not ended.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Subscribed
    }

    /// Takes bytes read from the broker.
    ///
    /// # Errors
    ///
    /// The connection is over: a bad frame, `ERROR`, an unexpected frame, or no destination.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), ClientError> {
        if self.phase == Phase::Closed {
            return Err(ClientError::NotConnected);
        }
        if !bytes.is_empty() {
            self.last_received = now;
        }
        self.input.extend_from_slice(bytes);
        let result = self.decode_all(now);
        if result.is_err() {
            self.close();
        }
        result
    }

    fn decode_all(&mut self, now: Instant) -> Result<(), ClientError> {
        let mut at = 0;
        let result = loop {
            let rest = self.input.get(at..).unwrap_or_default();
            match decode_frame(rest, &self.config.limits) {
                Ok(Decoded::Incomplete) => break Ok(()),
                Ok(Decoded::HeartBeat { consumed }) => at += consumed,
                Ok(Decoded::Frame { frame, consumed }) => {
                    at += consumed;
                    if let Err(error) = self.handle_frame(now, frame) {
                        break Err(error);
                    }
                }
                Err(error) => break Err(error.into()),
            }
        };
        self.input.drain(..at.min(self.input.len()));
        result
    }

    fn handle_frame(&mut self, now: Instant, frame: Frame) -> Result<(), ClientError> {
        match (self.phase, frame.command) {
            (_, Command::Error) => {
                let message = frame.header("message").unwrap_or_default();
                Err(ClientError::Refused(message.into()))
            }
            (Phase::Connecting, Command::Connected) => self.connected(now, &frame),
            (Phase::Subscribed, Command::Message) => {
                self.message(frame);
                Ok(())
            }
            (Phase::Subscribed, Command::Receipt) => Ok(()),
            (_, command) => Err(ClientError::Unexpected(command.as_str())),
        }
    }

    fn connected(&mut self, now: Instant, frame: &Frame) -> Result<(), ClientError> {
        match frame.header("version") {
            Some("1.2") => {}
            other => return Err(ClientError::Version(other.unwrap_or("1.0").into())),
        }
        let from_server = frame
            .header(HEADER_SUBSCRIBE_DEST)
            .filter(|d| !d.is_empty())
            .map(String::from);
        let destination = from_server
            .clone()
            .unwrap_or_else(|| self.config.destination.clone());
        if destination.is_empty() {
            return Err(ClientError::NoDestination);
        }
        let (server_out, server_in) = frame
            .header("heart-beat")
            .and_then(parse_heart_beat)
            .unwrap_or((0, 0));
        let (out, inc) = self.config.heart_beat.unwrap_or((0, 0));
        self.send_every = negotiate(out, server_in);
        self.receive_every = negotiate(inc, server_out);
        let subscribe = Frame::new(Command::Subscribe)
            .with_header("id", SUBSCRIPTION_ID)
            .with_header(HEADER_DESTINATION, &destination)
            .with_header("ack", "auto");
        self.queue(now, &subscribe);
        self.phase = Phase::Subscribed;
        self.destination.clone_from(&destination);
        self.push_event(Event::Connected {
            destination,
            from_server,
            server: frame.header("server").map(String::from),
        });
        Ok(())
    }

    fn message(&mut self, frame: Frame) {
        let content_type = frame.header(HEADER_CONTENT_TYPE).unwrap_or(CONTENT_TYPE);
        if content_type != CONTENT_TYPE {
            let content_type = content_type.into();
            self.push_event(Event::Dropped { content_type });
            return;
        }
        let reply_to = frame
            .header(HEADER_REPLY_TO_DEST)
            .filter(|d| !d.is_empty())
            .map(String::from);
        self.push_event(Event::Record {
            body: frame.body,
            reply_to,
        });
    }

    fn push_event(&mut self, event: Event) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Queues a Record for `destination` in a `SEND` frame naming the Endpoint's own
    /// destination as `reply-to-dest`.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotConnected`] before `CONNECTED` or after the connection ended.
    pub fn send_record(
        &mut self,
        now: Instant,
        destination: &str,
        record: &[u8],
    ) -> Result<(), ClientError> {
        if self.phase != Phase::Subscribed {
            return Err(ClientError::NotConnected);
        }
        let send = Frame::new(Command::Send)
            .with_header(HEADER_DESTINATION, destination)
            .with_header(HEADER_CONTENT_TYPE, CONTENT_TYPE)
            .with_header(HEADER_REPLY_TO_DEST, &self.destination)
            .with_body(record);
        self.queue(now, &send);
        Ok(())
    }

    /// Queues a `DISCONNECT` (without a receipt: the driver closes the socket once it is
    /// written); the connection is over.
    pub fn disconnect(&mut self, now: Instant) {
        if self.phase != Phase::Closed {
            self.queue(now, &Frame::new(Command::Disconnect));
            self.close();
        }
    }

    fn close(&mut self) {
        self.phase = Phase::Closed;
        self.input = Vec::new();
    }

    fn queue(&mut self, now: Instant, frame: &Frame) {
        encode_frame(frame, &mut self.output);
        self.last_sent = now;
    }

    /// Handles the deadline of [`Self::poll_timeout`]: queues a heart-beat when one is due.
    ///
    /// # Errors
    ///
    /// The connection is over: `CONNECTED` or the broker's heart-beats did not come in time.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ClientError> {
        match self.phase {
            Phase::Closed => return Err(ClientError::NotConnected),
            Phase::Connecting => {
                if now.saturating_duration_since(self.started) >= self.config.connect_timeout {
                    self.close();
                    return Err(ClientError::ConnectTimeout);
                }
            }
            Phase::Subscribed => {
                if let Some(every) = self.receive_every {
                    let silence = now.saturating_duration_since(self.last_received);
                    if silence >= every.saturating_mul(SILENT_INTERVALS) {
                        self.close();
                        return Err(ClientError::HeartBeatTimeout);
                    }
                }
                if let Some(every) = self.send_every {
                    if now.saturating_duration_since(self.last_sent) >= every {
                        self.output.push(b'\n');
                        self.last_sent = now;
                    }
                }
            }
        }
        Ok(())
    }

    /// When [`Self::handle_timeout`] is next due; `None` when nothing is timed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Closed => None,
            Phase::Connecting => self.started.checked_add(self.config.connect_timeout),
            Phase::Subscribed => {
                let send = self.send_every.and_then(|e| self.last_sent.checked_add(e));
                let receive = self.receive_every.and_then(|e| {
                    self.last_received
                        .checked_add(e.saturating_mul(SILENT_INTERVALS))
                });
                match (send, receive) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        }
    }

    /// Appends the bytes to write to the broker to `out`; false when there were none.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> bool {
        if self.output.is_empty() {
            return false;
        }
        out.append(&mut self.output);
        true
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

/// A `heart-beat` header's two intervals in milliseconds.
fn parse_heart_beat(value: &str) -> Option<(u32, u32)> {
    let (a, b) = value.split_once(',')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// The heart-beat interval one side sends at: none if either side says 0, else the larger.
fn negotiate(can_ms: u32, wants_ms: u32) -> Option<Duration> {
    (can_ms != 0 && wants_ms != 0).then(|| Duration::from_millis(can_ms.max(wants_ms).into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // The tests start their virtual clock from now.

    use std::vec;

    use super::*;

    fn frames(client: &mut Client) -> Vec<Frame> {
        let mut wire = Vec::new();
        client.poll_transmit(&mut wire);
        let mut out = Vec::new();
        let mut at = 0;
        while at < wire.len() {
            match decode_frame(&wire[at..], &FrameLimits::default()).unwrap() {
                Decoded::Frame { frame, consumed } => {
                    out.push(frame);
                    at += consumed;
                }
                Decoded::HeartBeat { consumed } => at += consumed,
                Decoded::Incomplete => panic!("a partial frame queued"),
            }
        }
        out
    }

    fn connected(server_headers: &str) -> Vec<u8> {
        format!("CONNECTED\nversion:1.2\n{server_headers}\n\0\n").into_bytes()
    }

    #[test]
    fn connects_subscribes_and_exchanges_records() {
        let t0 = Instant::now();
        let config = ClientConfig::new("os::00D09E-SIM:1", "/queue/agent")
            .with_virtual_host("/")
            .with_credentials("guest", "secret");
        let mut client = Client::new(config, t0);
        let sent = frames(&mut client);
        assert_eq!(sent.len(), 1);
        let stomp = &sent[0];
        assert_eq!(stomp.command, Command::Stomp);
        assert_eq!(stomp.header("accept-version"), Some("1.2"));
        assert_eq!(stomp.header("endpoint-id"), Some("os::00D09E-SIM:1"));
        assert_eq!(stomp.header("host"), Some("/"));
        assert_eq!(stomp.header("login"), Some("guest"));
        assert_eq!(stomp.header("passcode"), Some("secret"));
        assert_eq!(stomp.header("heart-beat"), Some("0,0"));
        assert_eq!(
            client.send_record(t0, "/queue/c", b"r"),
            Err(ClientError::NotConnected)
        );

        // CONNECTED arrives in two reads.
        let wire = connected("server:test\n");
        client.handle_input(t0, &wire[..5]).unwrap();
        assert_eq!(client.poll_event(), None);
        client.handle_input(t0, &wire[5..]).unwrap();
        assert_eq!(
            client.poll_event(),
            Some(Event::Connected {
                destination: "/queue/agent".into(),
                from_server: None,
                server: Some("test".into()),
            })
        );
        assert_eq!(client.poll_timeout(), None, "no heart-beats");
        let sent = frames(&mut client);
        assert_eq!(sent[0].command, Command::Subscribe);
        assert_eq!(sent[0].header("destination"), Some("/queue/agent"));
        assert_eq!(sent[0].header("ack"), Some("auto"));

        client.send_record(t0, "/queue/c", &[0, 1, 0]).unwrap();
        let send = &frames(&mut client)[0];
        assert_eq!(send.command, Command::Send);
        assert_eq!(send.header("destination"), Some("/queue/c"));
        assert_eq!(send.header("content-type"), Some(CONTENT_TYPE));
        assert_eq!(send.header("content-length"), Some("3"));
        assert_eq!(send.header("reply-to-dest"), Some("/queue/agent"));
        assert_eq!(send.body, [0, 1, 0]);

        let message = b"MESSAGE\ndestination:/queue/agent\nreply-to-dest:/q/c\\c1\n\
            content-type:application/vnd.bbf.usp.msg\ncontent-length:2\n\n\0\0\0\
            MESSAGE\ncontent-type:text/plain\n\nhi\0MESSAGE\n\nnone\0";
        client.handle_input(t0, message).unwrap();
        assert_eq!(
            client.poll_event(),
            Some(Event::Record {
                body: vec![0, 0],
                reply_to: Some("/q/c:1".into())
            })
        );
        assert_eq!(
            client.poll_event(),
            Some(Event::Dropped {
                content_type: "text/plain".into()
            })
        );
        // No content-type: taken as a Record, answered on the controller's configured route.
        assert_eq!(
            client.poll_event(),
            Some(Event::Record {
                body: b"none".to_vec(),
                reply_to: None
            })
        );
        client.disconnect(t0);
        assert_eq!(frames(&mut client)[0].command, Command::Disconnect);
        assert!(!client.is_connected());
    }

    #[test]
    fn subscribe_dest_overrides_the_configured_destination() {
        let t0 = Instant::now();
        let mut client = Client::new(ClientConfig::new("os::a", ""), t0);
        frames(&mut client);
        client
            .handle_input(t0, &connected("subscribe-dest:/queue/from-server\n"))
            .unwrap();
        let Some(Event::Connected {
            destination,
            from_server,
            ..
        }) = client.poll_event()
        else {
            panic!("not connected");
        };
        assert_eq!(destination, "/queue/from-server");
        assert_eq!(from_server.as_deref(), Some("/queue/from-server"));
        assert_eq!(
            frames(&mut client)[0].header("destination"),
            Some("/queue/from-server")
        );

        // With neither, the MTP cannot receive.
        let mut client = Client::new(ClientConfig::new("os::a", ""), t0);
        assert_eq!(
            client.handle_input(t0, &connected("")),
            Err(ClientError::NoDestination)
        );
    }

    #[test]
    fn heart_beats_are_negotiated_sent_and_watched() {
        let t0 = Instant::now();
        let config = ClientConfig::new("os::a", "/q/a").with_heart_beat(1000, 3000);
        let mut client = Client::new(config, t0);
        assert_eq!(
            frames(&mut client)[0].header("heart-beat"),
            Some("1000,3000")
        );
        assert_eq!(client.poll_timeout(), Some(t0 + Duration::from_secs(30)));
        // The server can send every 5 s and wants one every 2 s.
        client
            .handle_input(t0, &connected("heart-beat:5000,2000\n"))
            .unwrap();
        frames(&mut client);
        // Send every max(1000, 2000) ms; the server's every max(3000, 5000) ms, given up
        // after twice that.
        let t2 = t0 + Duration::from_secs(2);
        assert_eq!(client.poll_timeout(), Some(t2));
        client.handle_timeout(t2).unwrap();
        let mut wire = Vec::new();
        assert!(client.poll_transmit(&mut wire));
        assert_eq!(wire, b"\n");
        client
            .handle_input(t0 + Duration::from_secs(9), b"\n")
            .unwrap();
        // The next heart-beat is overdue; the broker's silence is counted from its last byte.
        assert_eq!(client.poll_timeout(), Some(t0 + Duration::from_secs(4)));
        client.handle_timeout(t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(client.poll_timeout(), Some(t0 + Duration::from_secs(12)));
        let silent = t0 + Duration::from_secs(19);
        assert_eq!(
            client.handle_timeout(silent),
            Err(ClientError::HeartBeatTimeout)
        );
        assert!(!client.is_connected());
    }

    #[test]
    fn the_broker_s_errors_end_the_connection() {
        let t0 = Instant::now();
        let start = || Client::new(ClientConfig::new("os::a", "/q/a"), t0);
        let mut client = start();
        let error = b"ERROR\nmessage:Bad CONNECT\ncontent-length:3\n\nbad\0";
        assert_eq!(
            client.handle_input(t0, error),
            Err(ClientError::Refused("Bad CONNECT".into()))
        );
        assert_eq!(
            client.handle_input(t0, b"\n"),
            Err(ClientError::NotConnected)
        );
        assert_eq!(
            start().handle_input(t0, b"CONNECTED\nversion:1.1\n\n\0"),
            Err(ClientError::Version("1.1".into()))
        );
        assert_eq!(
            start().handle_input(t0, b"MESSAGE\n\n\0"),
            Err(ClientError::Unexpected("MESSAGE"))
        );
        assert_eq!(
            start().handle_input(t0, b"BOGUS\n\n\0"),
            Err(ClientError::Frame(FrameError::UnknownCommand))
        );
        let mut slow = start();
        assert_eq!(
            slow.handle_timeout(t0 + Duration::from_secs(30)),
            Err(ClientError::ConnectTimeout)
        );
    }
}
