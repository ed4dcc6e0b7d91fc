//! The MQTT clients (`Device.MQTT.Client.{i}.`) and the USP MQTT MTP (TR-369 "MQTT
//! Binding") on rumqttc: MQTT 5, or 3.1.1 when configured or when the broker refuses MQTT 5.
//!
//! Each enabled client row is a connection of its own ([`crate::mtp`] runs one task per
//! row). On the client row an agent MTP row references, the USP MTP runs: the agent
//! subscribes to its own topic (the CONNACK's Response
//! Information in MQTT 5, else `topic` from the configuration; with neither the MTP is
//! disabled, R-MQTT.16/17), publishes an `mqtt_connect` Record to every configured controller
//! topic, and answers each request on the topic the request named: the Response Topic
//! property in MQTT 5, the `/reply-to=` suffix of the topic name in 3.1.1, else the topic
//! configured for the sending controller. Records are PUBLISHed at the MTP row's `PublishQoS`
//! (lowered to the broker's Maximum QoS) with the Content Type `usp.msg` (MQTT 5). A lost
//! connection is retried with TR-181's `ConnectRetryTime` backoff.
//!
//! The rest of the client row shapes the session ([`RowSettings`]): the enabled
//! `Subscription.{i}.` rows are subscribed to with the agent's own topic (the own topic left
//! out when a row's filter covers it, as TR-181 asks; the reply-to topic stays the own
//! topic), and their `Status` follows the SUBACK ([`crate::mqtt_filters`]); the session
//! flags, CONNECT properties and Will go into the CONNECT, and the `UserProperty.{i}.` rows
//! into the packets they name. A controller's MTP row with `PublishRetainResponse` or
//! `PublishRetainNotify` has the Responses (and Errors) or the Notifies sent to it PUBLISHed
//! with the RETAIN flag, unless the broker said Retain Available 0; only a `no_session_context`
//! Record's Msg is told apart (an E2E session's payload may be segmented, and a broker keeps
//! only the last PUBLISH of a topic).
//! With `tls` on, the connection runs over TLS (rumqttc's rustls support, on the agent's
//! rustls settings), the broker checked against the agent's CA certificates ([`Trust`]).
//!
//! With `websocket` on (`TransportProtocol` `WebSocket`, or `WebSocketTLS` with `tls`), MQTT
//! runs over a WebSocket (subprotocol `mqtt` for both versions, through the agent's relay:
//! [`crate::mqtt_ws`]) to `ws://host:BrokerPort/path` (`wss://` over TLS, with the same trust
//! as `TLS`, without the row's `ALPN`). TR-181 has no parameter for the path: `BrokerAddress`
//! names the host, optionally followed by the path (`broker.example.com/ws`), or is a
//! `ws://`/`wss://` URL of the row's transport naming no other port than `BrokerPort`;
//! without a path the agent asks for `/mqtt`, the path most brokers serve
//! ([`websocket_url`]).
//!
//! `CleanSession`/`CleanStart` false: when the broker kept the session (CONNACK Session
//! Present), the agent subscribes only to the filters it lacks, as TR-181 asks, whether the
//! connection was lost or the agent restarted: the filters granted are saved in
//! `<state_dir>/mqtt-session.json` for the broker and client id they were granted by.
//!
//! # Following the rows
//!
//! The MTP follows a change of its rows on the open connection when the CONNECT stays the
//! same ([`MqttConfig::same_connection`]): a `Subscription.{i}.` row added, deleted or changed
//! becomes a SUBSCRIBE or UNSUBSCRIBE, a controller's new or moved topic gets an
//! `mqtt_connect` Record, and `PublishQoS`, `PublishMessageExpiryInterval`, the PUBLISH
//! `UserProperty.{i}.` rows, the retain flags and the `ConnectRetry*` backoff apply from the
//! next PUBLISH (or wait) on. A change of anything the CONNECT carries (`BrokerAddress`,
//! `BrokerPort`, `TransportProtocol`, `ProtocolVersion`, `ClientID`, `Username`, `Password`,
//! `KeepAliveTime`, `CleanSession`, `CleanStart`, the MQTT 5 CONNECT properties, the `Will*`
//! parameters, the CONNECT `UserProperty.{i}.` rows) or of `ResponseTopicConfigured`
//! restarts the MTP: a DISCONNECT, then a new CONNECT. TR-181 lets such changes wait for the
//! next CONNECT, or for a `ForceReconnect` that Device:2.19 does not define; the agent applies
//! them at once.
//!
//! # TR-181 parameters not followed
//!
//! - `AuthenticationMethod` (MQTT 5 enhanced authentication): rumqttc has no AUTH exchange,
//!   so the CONNECT carries no authentication method.
//! - `Interface`: the connection leaves by the route the system picks. (`ALPN` is offered in
//!   the TLS handshake; over TCP it has no use.)
//! - `KeepAliveTime` below 5 s over MQTT 5 (0 included, no keep-alive) is sent as 5:
//!   rumqttc's MQTT 5 client refuses less.
//! - `RequestResponseInfo` is always sent as 1: TR-369 requires it (its MQTT binding) and the
//!   agent's reply-to topic may depend on it.
//! - `MessageRetryTime`: MQTT 3.1 only, which the agent does not speak (rumqttc resends on
//!   reconnect).
//! - `UserProperty.{i}.` rows naming packets other than CONNECT and PUBLISH: rumqttc sends
//!   DISCONNECT, PUBACK, PUBREC and PUBREL without properties.
//!
//! `Name` is a label (a row added without one is named `cpe-<n>` by the store, as its
//! `Alias`); `Stats.` are live values ([`crate::mqtt_stats`]); `Device.MQTT.Capabilities.`
//! says what the client speaks ([`advertise`]).
//!
//! A client row no agent MTP row references connects all the same, as TR-181's `Enable`
//! asks, and subscribes to its `Subscription.{i}.` rows only (no own topic, no greetings);
//! what is PUBLISHed to it reaches no USP agent and is dropped.
//!
//! The client row's open connection also carries the agent's other PUBLISHes, the bulk data
//! reports of profiles whose `MQTT.Reference` names the row ([`Connections`]): one broker
//! connection per client row. A report counts as delivered once the broker acknowledged it
//! (PUBACK, PUBCOMP; QoS 0 once written), matched to its packet id ([`Session::published`]);
//! one the connection was lost before is failed and taken out of what rumqttc sends again.
//!
//! The Records of one client row's MTP share one link of the driver, keyed by the row; the
//! [`Mtp::reply_to`] of a Record is the row and the reply-to topic together
//! ([`address`]), so that an answer goes back on the connection its request came in on.
//!
//! # The event loop
//!
//! rumqttc 0.25's `EventLoop::poll` is not cancel safe for what it writes. It takes a
//! request (from its own queue, `pending`, else from its request channel), gives it to its
//! state (a packet id assigned, a QoS 1 or 2 PUBLISH kept to be sent again on the next
//! connection, the `Outgoing` event queued), then feeds the packet to the connection's write
//! buffer (tokio-util's `Framed`) and flushes. Feeding waits while that buffer holds 8 KiB or
//! more not yet written, which is the case on a congested link: a poll dropped there drops
//! the packet. It never reaches the broker and is not sent again on that connection (a QoS 1
//! or 2 PUBLISH waits for an acknowledgement that cannot come, holding an in-flight slot);
//! only a reconnect sends it. A poll dropped while flushing, or while waiting for bytes to
//! read, loses nothing: whole packets stay in the buffers and the next poll goes on, so the
//! broker never sees a packet cut short. A poll dropped while connecting drops that
//! connection attempt.
//!
//! So the connection's task polls in one place ([`MqttMtp::next`]) and never drops the poll
//! but at shutdown: the rows' changes, the driver's Records and the bulk data reports are
//! handled beside it, and whatever they send goes through rumqttc's request channel, which
//! the poll itself takes from, in order. At shutdown the Records queued and a DISCONNECT go
//! out that way while the poll goes on, for at most [`DISCONNECT_GRACE`]. What rumqttc does
//! inside one poll stays as it is: it races reading (which writes the PUBACK, PUBREC or
//! PUBCOMP of a PUBLISH received) with taking a request and with the keep-alive, so one of
//! those acknowledgements can be lost on a congested link in the same way; and in MQTT 3.1.1
//! a flush that writes nothing for rumqttc's connection timeout (5 s) fails the connection,
//! which is then retried (MQTT 5 waits).

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use rumqttc::v5;
use rumqttc::v5::mqttbytes::v5::{
    ConnectReturnCode, LastWill, LastWillProperties, Packet, PubAckReason, PubCompReason,
    PubRecReason, PublishProperties, SubscribeReasonCode, UnsubAckReason,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::http::Uri;
use tr181_model::lenient::{LenientList, keep_read};
use tr181_model::store::Transaction;
use usp_core::Limits;
use usp_core::agent::{Mtp, MtpKind};
use usp_core::codec::{self, RecordBuilder};
use usp_core::mtp::mqtt::{
    self as facts, CONTENT_TYPE, USER_PROPERTY_ENDPOINT_ID, USER_PROPERTY_SUBSCRIBE_TOPIC,
};
use usp_core::usp::request::ReqType;
use usp_core::usp_inbound::body::MsgBody;
use usp_core::usp_record::mqtt_connect_record::MqttVersion;
use usp_core::usp_record::record::RecordType;

use crate::mqtt_filters::{self, Filters};
use crate::mqtt_stats::ClientStats;
use crate::mqtt_ws::Relay;
use crate::mtp::{MqttStatus, Report, address, split_address, unsubscribed};
use crate::tls::{self, Reloads, Trust};
use crate::usp::{Backoff, MtpInput, NetworkUp, Outbound, Waited, encode_own, next_conn};

/// Records queued for the broker before the driver drops them.
const SEND_QUEUE: usize = 256;
/// rumqttc's request channel.
const REQUEST_QUEUE: usize = 64;
/// The PUBLISHes the connection hands rumqttc's request channel before it reports writing
/// them: half the channel, the other half left to the SUBSCRIBEs, UNSUBSCRIBEs and the
/// DISCONNECT, so that none is refused for want of room.
const REQUESTED_PUBLISHES: usize = REQUEST_QUEUE / 2;
/// Bulk data reports handed to a connection before its task takes them (the others wait,
/// within their profile's bound).
const REPORT_QUEUE: usize = 4;
/// Room for the MQTT fixed header, topic and properties around a Record of the USP limit.
const PACKET_OVERHEAD: usize = 4096;
/// MQTT 5 refuses keep-alives below this in rumqttc.
const MIN_KEEP_ALIVE_S: u16 = 5;
/// How long a clean DISCONNECT may take at shutdown.
const DISCONNECT_GRACE: Duration = Duration::from_secs(2);

/// `[usp.mqtt]`: the MQTT client MTP (TR-181 `Device.MQTT.Client.{i}.` and
/// `Device.LocalAgent.MTP.{i}.MQTT.`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MqttConfig {
    /// Whether to connect.
    pub(crate) enable: bool,
    /// Broker host name or address (`BrokerAddress`).
    pub(crate) host: String,
    /// Broker port (`BrokerPort`).
    pub(crate) port: u16,
    /// MQTT over TLS, the broker checked against the agent's CA certificates
    /// (`TransportProtocol` `TLS`, or `WebSocketTLS` with `websocket`).
    pub(crate) tls: bool,
    /// MQTT over a WebSocket (`TransportProtocol` `WebSocket`, or `WebSocketTLS` with `tls`);
    /// `host` may carry the path (see the [module docs](self)).
    pub(crate) websocket: bool,
    /// `"5.0"` or `"3.1.1"` (`ProtocolVersion`).
    pub(crate) version: Version,
    /// MQTT client identifier; empty lets an MQTT 5 broker assign one (kept for reconnects).
    pub(crate) client_id: String,
    /// User name; empty sends none.
    pub(crate) username: String,
    /// Password.
    pub(crate) password: String,
    /// The agent's own topic (`ResponseTopicConfigured`); an MQTT 5 broker's Response
    /// Information overrides it.
    pub(crate) topic: String,
    /// Seconds between PINGREQs on an idle connection (`KeepAliveTime`).
    pub(crate) keep_alive_s: u16,
    /// First reconnect wait in seconds (`ConnectRetryTime`).
    pub(crate) connect_retry_s: u32,
    /// Growth of the wait per attempt in thousandths (`ConnectRetryIntervalMultiplier`).
    pub(crate) connect_retry_multiplier: u32,
    /// Longest reconnect wait in seconds (`ConnectRetryMaxInterval`).
    pub(crate) connect_retry_max_s: u32,
    /// Controllers reached over MQTT: Endpoint ID → topic (`Controller.{i}.MTP.{i}.MQTT.Topic`).
    pub(crate) controllers: BTreeMap<String, String>,
    /// What only the data model holds (boxed: it is large, and rarely more than defaults).
    pub(crate) row: Box<RowSettings>,
}

/// The parameters of `Device.MQTT.Client.{i}.`, `Device.LocalAgent.MTP.{i}.MQTT.` and the
/// controllers' `MTP.{i}.MQTT.` that the configuration file has no keys for; the defaults are
/// TR-181's (and the seeded rows'). What is not followed: see the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RowSettings {
    /// QoS of the agent's PUBLISHes (`PublishQoS`), lowered to the broker's Maximum QoS.
    pub(crate) publish_qos: u8,
    /// `CleanSession` (3.1.1); taken as true while the client id is empty (a 3.1.1 broker
    /// keeps no session for an empty id, and rumqttc refuses the pair).
    pub(crate) clean_session: bool,
    /// `CleanStart` (5.0).
    pub(crate) clean_start: bool,
    /// `SessionExpiryInterval` in seconds (5.0); 0 sends none.
    pub(crate) session_expiry_s: u32,
    /// `ReceiveMaximum` (5.0); 0 sends none (MQTT's default, 65,535).
    pub(crate) receive_maximum: u32,
    /// `MaximumPacketSize` (5.0); 0, or more than the USP Record limit allows, sends that
    /// limit: what rumqttc buffers stays bounded.
    pub(crate) max_packet_size: u32,
    /// `TopicAliasMaximum` (5.0); 0 sends none.
    pub(crate) topic_alias_max: u16,
    /// `RequestProblemInfo` (5.0): false sends 0, true sends none (MQTT's default, 1).
    pub(crate) request_problem_info: bool,
    /// `PublishMessageExpiryInterval` in seconds (5.0); 0 sends none.
    pub(crate) publish_expiry_s: u32,
    /// The Will (`Will*`).
    pub(crate) will: Will,
    /// The `Subscription.{i}.` rows.
    pub(crate) subscriptions: Vec<Subscription>,
    /// The enabled `UserProperty.{i}.` rows.
    pub(crate) user_properties: Vec<UserProperty>,
    /// The controllers (by Endpoint ID) whose MTP row sets a retain flag.
    pub(crate) retain: Vec<(String, Retain)>,
    /// `ALPN`: the protocols the TLS handshake offers; none when empty.
    pub(crate) alpn: Vec<String>,
}

impl Default for RowSettings {
    fn default() -> Self {
        Self {
            publish_qos: 1,
            clean_session: true,
            clean_start: true,
            session_expiry_s: 0,
            receive_maximum: 0,
            max_packet_size: 0,
            topic_alias_max: 0,
            request_problem_info: true,
            publish_expiry_s: 0,
            will: Will::default(),
            subscriptions: Vec::new(),
            user_properties: Vec::new(),
            retain: Vec::new(),
            alpn: Vec::new(),
        }
    }
}

/// Which Records for a controller are PUBLISHed with the RETAIN flag: its MTP row's
/// `PublishRetainResponse` and `PublishRetainNotify`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Retain {
    /// Responses, and the Errors that answer requests.
    pub(crate) response: bool,
    /// Notifies.
    pub(crate) notify: bool,
}

/// The client row's Will; the broker publishes it when the agent goes away without a
/// DISCONNECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Will {
    /// `WillEnable`; with an empty topic or value the MTP is misconfigured.
    pub(crate) enable: bool,
    /// `WillTopic`.
    pub(crate) topic: String,
    /// `WillValue`.
    pub(crate) value: String,
    /// `WillQoS`.
    pub(crate) qos: u8,
    /// `WillRetain`.
    pub(crate) retain: bool,
    /// `WillDelayInterval` in seconds (5.0).
    pub(crate) delay_s: u32,
    /// `WillMessageExpiryInterval` in seconds (5.0); 0 sends none.
    pub(crate) expiry_s: u32,
    /// `WillContentType` (5.0); empty sends none.
    pub(crate) content_type: String,
    /// `WillResponseTopic` (5.0); empty sends none.
    pub(crate) response_topic: String,
}

impl Default for Will {
    fn default() -> Self {
        Self {
            enable: false,
            topic: String::new(),
            value: String::new(),
            qos: 0,
            retain: false,
            delay_s: 5,
            expiry_s: 0,
            content_type: String::new(),
            response_topic: String::new(),
        }
    }
}

/// A `Subscription.{i}.` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Subscription {
    /// The row, with its trailing dot (its `Status` is written there).
    pub(crate) row: String,
    /// `Enable`.
    pub(crate) enable: bool,
    /// `Topic`, a topic filter.
    pub(crate) topic: String,
    /// `QoS`.
    pub(crate) qos: u8,
}

/// An enabled `UserProperty.{i}.` row, on the packets rumqttc lets the agent dress: CONNECT
/// and PUBLISH (MQTT 5). rumqttc sends DISCONNECT, PUBACK, PUBREC and PUBREL without
/// properties and has no AUTH exchange, so rows naming only those change nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UserProperty {
    /// `Name`.
    pub(crate) name: String,
    /// `Value`.
    pub(crate) value: String,
    /// Whether `PacketType` names CONNECT.
    pub(crate) connect: bool,
    /// Whether `PacketType` names PUBLISH.
    pub(crate) publish: bool,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            enable: false,
            host: "127.0.0.1".into(),
            port: 1883,
            tls: false,
            websocket: false,
            version: Version::V5,
            client_id: String::new(),
            username: String::new(),
            password: String::new(),
            topic: String::new(),
            keep_alive_s: 60,
            connect_retry_s: 5,
            connect_retry_multiplier: 2000,
            connect_retry_max_s: 30720,
            controllers: BTreeMap::new(),
            row: Box::default(),
        }
    }
}

impl MqttConfig {
    /// The client row's `TransportProtocol` for `tls` and `websocket`.
    pub(crate) const fn transport_protocol(&self) -> &'static str {
        transport_name(self.tls, self.websocket)
    }

    /// The reconnect waits of the client row (`ConnectRetry*`).
    pub(crate) fn backoff(&self) -> Backoff {
        Backoff::Window {
            min_wait_s: self.connect_retry_s,
            multiplier: self.connect_retry_multiplier,
            max_s: Some(self.connect_retry_max_s),
        }
    }

    /// Whether `other` differs from this configuration only in what an open connection
    /// follows (see the [module docs](self#following-the-rows)).
    pub(crate) fn same_connection(&self, other: &Self) -> bool {
        self.connection() == other.connection()
    }

    /// This configuration without what an open connection follows.
    fn connection(&self) -> Self {
        let row = &self.row;
        let connect_properties =
            (row.user_properties.iter())
                .filter(|p| p.connect)
                .map(|p| UserProperty {
                    publish: false,
                    ..p.clone()
                });
        Self {
            connect_retry_s: 0,
            connect_retry_multiplier: 0,
            connect_retry_max_s: 0,
            controllers: BTreeMap::new(),
            row: Box::new(RowSettings {
                publish_qos: 0,
                publish_expiry_s: 0,
                subscriptions: Vec::new(),
                user_properties: connect_properties.collect(),
                retain: Vec::new(),
                ..(**row).clone()
            }),
            ..self.clone()
        }
    }
}

/// The MQTT protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    /// MQTT 3.1.1.
    V311,
    /// MQTT 5.0.
    V5,
}

impl Version {
    /// Every version the client speaks.
    pub(crate) const ALL: [Self; 2] = [Self::V311, Self::V5];

    /// The version as TR-181 names it (`ProtocolVersion`).
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::V311 => "3.1.1",
            Self::V5 => "5.0",
        }
    }

    /// The version TR-181 names `name`, if the client speaks it.
    pub(crate) fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    const fn usp(self) -> MqttVersion {
        match self {
            Self::V311 => MqttVersion::V311,
            Self::V5 => MqttVersion::V5,
        }
    }
}

/// Every transport the client speaks, as `(tls, websocket)`.
pub(crate) const TRANSPORTS: [(bool, bool); 4] =
    [(false, false), (true, false), (false, true), (true, true)];

/// The `TransportProtocol` of MQTT over TLS or not, over a WebSocket or not.
pub(crate) const fn transport_name(tls: bool, websocket: bool) -> &'static str {
    match (tls, websocket) {
        (false, false) => "TCP/IP",
        (true, false) => "TLS",
        (false, true) => "WebSocket",
        (true, true) => "WebSocketTLS",
    }
}

/// Writes `Device.MQTT.Capabilities.` (at every start: they are the binary's): the versions
/// and transports the client speaks, which a client row's `ProtocolVersion` and
/// `TransportProtocol` must then name. Its maxima stay 0, no limit: the agent bounds no
/// `Subscription.{i}.` table, and runs no broker (`Broker.{i}.` rows, bridges included, are
/// only kept).
pub(crate) fn advertise(txn: &mut Transaction<'_>) -> Result<(), tr181_model::Error> {
    txn.set(
        "Device.MQTT.Capabilities.ProtocolVersionsSupported",
        VERSIONS_SUPPORTED,
    )?;
    txn.set(
        "Device.MQTT.Capabilities.TransportProtocolSupported",
        TRANSPORTS_SUPPORTED,
    )
}

/// The names of [`Version::ALL`], as [`advertise`] writes them (a test checks them).
const VERSIONS_SUPPORTED: &str = "3.1.1,5.0";
/// The names of [`TRANSPORTS`], as [`advertise`] writes them (a test checks them).
const TRANSPORTS_SUPPORTED: &str = "TCP/IP,TLS,WebSocket,WebSocketTLS";

/// An MQTT client row's task, with the USP MTP when an agent MTP row runs on it; see the
/// [module docs](self).
pub(crate) struct MqttMtp {
    config: MqttConfig,
    /// The client row (`Device.MQTT.Client.{i}.`), the key of the driver's link.
    client: String,
    /// The rows' settings as they change while the CONNECT stays the same.
    updates: watch::Receiver<MqttConfig>,
    endpoint_id: String,
    /// The agent's E2E key, signing the MqttConnect Records ([`encode_own`]).
    signer: Option<Trust>,
    /// The USP driver, when an agent MTP row runs on the client row.
    agent: Option<mpsc::Sender<MtpInput>>,
    network: NetworkUp,
    shutdown: watch::Receiver<bool>,
    /// The trust checking the broker, when `config.tls` is on (used over TCP; over a
    /// WebSocket the relay checks the broker against the same trust, in `websocket`), and
    /// what tells of its reloads, after which the next connection takes its new settings.
    tls: Option<(Trust, Reloads)>,
    /// With `config.websocket`, the broker's URL, and the trust for `wss://`.
    websocket: Option<(String, Option<Trust>)>,
    /// Where the relay to the WebSocket listens ([`Self::with_relay_socket`]).
    relay_socket: Option<PathBuf>,
    /// Where the connection's state goes (the MTP's and the MQTT client's `Status`).
    report: Report,
    /// Where the filters a kept session holds are saved for the next start
    /// ([`Self::with_session_file`]); `None` keeps them in memory only.
    session_file: Option<PathBuf>,
    /// Where the open connection is listed under its client row ([`Self::with_connections`]).
    connections: Option<Connections>,
    /// Until the supervisor lets go of the rows (it is stopping this MTP).
    following: bool,
    /// Once shutdown came, when the DISCONNECT has had its time.
    stopping: Option<Instant>,
    /// Whether the DISCONNECT was handed to rumqttc.
    disconnecting: bool,
}

/// The session file's document: the topic filters the broker's session of `client_id` at
/// `broker` holds (topic, QoS, whether the agent was leaving it; see [`Filters::saved`]).
#[derive(Serialize)]
struct SavedSession<'a> {
    broker: &'a str,
    client_id: &'a str,
    filters: Vec<(String, u8, bool)>,
}

/// [`SavedSession`] as read: each filter on its own ([`LenientList`]).
#[derive(Deserialize)]
struct ReadSession {
    broker: String,
    client_id: String,
    filters: LenientList<(String, u8, bool)>,
}

/// The filters a session file (`bytes`) saved for `broker` and `client_id`, and how many of
/// its entries were malformed (dropped); `None` when it was saved for another broker or
/// client id.
fn read_session(
    bytes: &[u8],
    broker: &str,
    client_id: &str,
) -> serde_json::Result<Option<(Filters, usize)>> {
    let read: ReadSession = serde_json::from_slice(bytes)?;
    if read.broker != broker || read.client_id != client_id {
        return Ok(None);
    }
    let mut malformed = 0;
    let filters = keep_read(read.filters, &mut malformed);
    Ok(Some((Filters::from_saved(filters), malformed)))
}

/// A rumqttc client of either version.
enum Client {
    V311(rumqttc::AsyncClient),
    V5(v5::AsyncClient),
}

/// A rumqttc event loop of either version (boxed: they are large and of unequal size).
enum Events {
    V311(Box<rumqttc::EventLoop>),
    V5(Box<v5::EventLoop>),
}

/// What the event loop reported, in version-neutral terms.
enum Event {
    ConnAck {
        response_information: Option<String>,
        subscribe_topics: Vec<String>,
        assigned_client_id: Option<String>,
        /// The broker's Maximum QoS (MQTT 5).
        max_qos: Option<u8>,
        /// Whether the broker keeps retained messages (MQTT 5 Retain Available).
        retain_available: bool,
        /// Whether the broker kept the session of an earlier connection.
        session_present: bool,
    },
    /// rumqttc sent a SUBSCRIBE or an UNSUBSCRIBE with this packet id.
    Sent(u16),
    /// A SUBACK or an UNSUBACK for this packet id: per topic filter, whether the broker did it
    /// (`None`: all, a 3.1.1 UNSUBACK having no codes).
    Acked(u16, Option<Vec<bool>>),
    /// rumqttc wrote a PUBLISH with this packet id (0 at QoS 0), or, `held`, holds it until
    /// the PUBLISH that has the id is acknowledged (then it is written, reported again).
    Published {
        pkid: u16,
        held: bool,
    },
    /// The broker's last word on the PUBLISH with this packet id: a PUBACK (QoS 1), a PUBCOMP
    /// (QoS 2), or an MQTT 5 PUBREC refusing it; whether it took it.
    Delivered(u16, bool),
    Publish {
        topic: String,
        payload: Bytes,
        response_topic: Option<String>,
        content_type: Option<String>,
    },
    Other,
}

impl Event {
    /// A CONNACK without properties (all a 3.1.1 CONNACK has).
    const fn bare_connack(session_present: bool) -> Self {
        Self::ConnAck {
            response_information: None,
            subscribe_topics: Vec::new(),
            assigned_client_id: None,
            max_qos: None,
            retain_available: true,
            session_present,
        }
    }
}

/// Why the connection failed.
enum Failure {
    /// The broker does not speak MQTT 5.
    VersionRefused,
    /// The broker refused the connection (CONNACK with an error code); retried after a wait.
    Refused(String),
    /// Anything else; retried after a wait.
    Lost(String),
}

/// The connection's state once CONNACK came.
struct Session {
    conn: u64,
    /// The agent's own topic; empty when no USP MTP runs on the client.
    own_topic: String,
    /// The topics the broker named in CONNACK, subscribed to with the rows'.
    extra_topics: Vec<String>,
    /// The broker's Maximum QoS.
    max_qos: Option<u8>,
    /// Whether the broker keeps retained messages.
    retain_available: bool,
    /// The driver's Records (and the greetings) for the broker.
    records: mpsc::Receiver<Outbound>,
    /// Where they are sent: the driver's link, and the greetings of controllers added later.
    outbox: mpsc::Sender<Outbound>,
    /// How the Records are published.
    publishing: watch::Sender<Arc<Publishing>>,
    /// The topic filters held at the broker.
    filters: Filters,
    /// The bulk data reports [`Connections::publish`] hands this connection.
    reports: mpsc::Receiver<BulkReport>,
    /// The PUBLISHes handed to rumqttc's request channel that it has not reported writing,
    /// in order (the channel's): a bulk data report, or `None` for a Record.
    requested: VecDeque<Option<HandedReport>>,
    /// How many PUBLISHes rumqttc reports writing before those of `requested`: what it sends
    /// again from the connection lost (or reported late, from before it was lost).
    resent: usize,
    /// The packet id of the PUBLISH rumqttc holds until the PUBLISH that has the id is
    /// acknowledged (it is written, reported again, then).
    held: Option<u16>,
    /// The bulk data reports written, until the broker acknowledges them.
    unacked: Vec<Unacked>,
    /// The connection as [`Connections`] lists it, for as long as the session lives.
    _listed: Option<Listed>,
}

/// A bulk data report for a client row's connection ([`Connections::publish`]), and where
/// to say that the broker took it (dropped when it did not).
struct BulkReport {
    topic: String,
    payload: Bytes,
    qos: u8,
    retain: bool,
    properties: PublishProperties,
    delivered: oneshot::Sender<()>,
}

/// What the connection publishes next.
enum Queued {
    Record(Outbound),
    Report(BulkReport),
}

/// A bulk data report handed to rumqttc: its payload (to know it again in what rumqttc
/// keeps to send on the next connection), and where to say the broker took it.
struct HandedReport {
    payload: Bytes,
    delivered: oneshot::Sender<()>,
}

/// A bulk data report written with packet id `pkid`, not yet acknowledged; `held` while
/// rumqttc holds it until the PUBLISH that has the id is acknowledged.
struct Unacked {
    report: HandedReport,
    pkid: u16,
    held: bool,
}

impl Session {
    /// The next Record or bulk data report to publish; once `stopping`, only the Records
    /// already queued, then `None`.
    async fn next(&mut self, stopping: bool) -> Option<Queued> {
        if stopping {
            return self.records.try_recv().ok().map(Queued::Record);
        }
        tokio::select! {
            Some(record) = self.records.recv() => Some(Queued::Record(record)),
            Some(report) = self.reports.recv() => Some(Queued::Report(report)),
            else => std::future::pending().await,
        }
    }

    /// Hands `queued` to rumqttc's request channel, which [`Events::poll`] takes from; a
    /// Record that cannot be is counted a publish error, a report failed.
    fn request(&mut self, client: &Client, queued: Queued, stats: &ClientStats) {
        match queued {
            Queued::Record(Outbound { reply_to, bytes }) => {
                let (_, topic) = split_address(&reply_to);
                let how = self.publishing.borrow().clone();
                match client.publish(topic, bytes, &self.own_topic, &how) {
                    Ok(()) => self.requested.push_back(None),
                    Err(error) => {
                        tracing::warn!(%error, topic, "USP Record not published");
                        stats.publish_error();
                    }
                }
            }
            Queued::Report(BulkReport {
                topic,
                payload,
                qos,
                retain,
                properties,
                delivered,
            }) => {
                let report = HandedReport {
                    payload: payload.clone(),
                    delivered,
                };
                if client.send(topic, payload, qos, retain, properties).is_ok() {
                    self.requested.push_back(Some(report));
                }
            }
        }
    }

    /// rumqttc wrote (or, `held`, holds) a PUBLISH with `pkid`: the first of `requested`
    /// once those it sends again are out. A report is delivered once written at QoS 0
    /// (`pkid` 0, no acknowledgement), else waits for its acknowledgement.
    fn published(&mut self, pkid: u16, held: bool) {
        if !held && self.held == Some(pkid) {
            // The PUBLISH held is written now.
            self.held = None;
            if let Some(unacked) = self.unacked.iter_mut().find(|u| u.held && u.pkid == pkid) {
                unacked.held = false;
            }
            return;
        }
        if held {
            self.held = Some(pkid);
        }
        if self.resent > 0 {
            self.resent -= 1;
            return;
        }
        let Some(Some(report)) = self.requested.pop_front() else {
            return;
        };
        // A report whose sender stopped waiting (the next one came) needs no answer.
        self.unacked.retain(|u| !u.report.delivered.is_closed());
        if pkid == 0 {
            let _ = report.delivered.send(());
        } else {
            self.unacked.push(Unacked { report, pkid, held });
        }
    }

    /// The broker acknowledged (`taken`) or refused the PUBLISH with `pkid`.
    fn delivered(&mut self, pkid: u16, taken: bool) {
        let sent = |u: &Unacked| !u.held && u.pkid == pkid;
        if let Some(index) = self.unacked.iter().position(sent) {
            let unacked = self.unacked.swap_remove(index);
            if taken {
                let _ = unacked.report.delivered.send(());
            }
        }
    }

    /// The payloads of the reports not acknowledged: they fail with the connection.
    fn failed(&self) -> impl Iterator<Item = &Bytes> {
        let requested = self.requested.iter().flatten();
        (requested.chain(self.unacked.iter().map(|u| &u.report))).map(|r| &r.payload)
    }
}

/// How the agent's PUBLISHes are sent.
#[derive(Debug)]
struct Publishing {
    qos: u8,
    /// Message Expiry Interval in seconds (MQTT 5); 0 sends none.
    expiry_s: u32,
    /// User Properties (MQTT 5).
    user_properties: Vec<(String, String)>,
    /// The controllers whose Records are retained (none when the broker keeps none).
    retain: Vec<(String, Retain)>,
}

/// The MQTT clients' open connections by `Device.MQTT.Client.{i}.` row: where the agent's
/// other PUBLISHes go (bulk data reports, [`crate::bulkdata`]), so that a client row keeps
/// one broker connection. A row is listed from its CONNACK until the connection is lost or
/// the row's task stops.
#[derive(Clone, Default)]
pub(crate) struct Connections(Arc<Mutex<Vec<(String, Open)>>>);

/// A client row's open connection, as [`Connections`] lists it.
#[derive(Clone)]
struct Open {
    conn: u64,
    /// Where the row's task takes the reports.
    reports: mpsc::Sender<BulkReport>,
    /// The broker's Maximum QoS (MQTT 5).
    max_qos: Option<u8>,
    /// Whether the broker keeps retained messages (MQTT 5 Retain Available).
    retain_available: bool,
    /// The row's PUBLISH settings, as they change.
    publishing: watch::Receiver<Arc<Publishing>>,
}

/// A connection's place in [`Connections`], given up when this drops (with its [`Session`]).
struct Listed {
    connections: Connections,
    row: String,
    conn: u64,
}

impl Drop for Listed {
    fn drop(&mut self) {
        // A newer connection of the row (its MTP restarted) stays listed.
        (self.connections.lock()).retain(|(row, open)| *row != self.row || open.conn != self.conn);
    }
}

impl Connections {
    fn lock(&self) -> MutexGuard<'_, Vec<(String, Open)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lists `open` as client row `row`'s connection until the returned [`Listed`] drops.
    fn list(&self, row: &str, open: Open) -> Listed {
        let conn = open.conn;
        let mut listed = self.lock();
        listed.retain(|(listed, _)| listed != row);
        listed.push((row.to_owned(), open));
        drop(listed);
        Listed {
            connections: self.clone(),
            row: row.to_owned(),
            conn,
        }
    }

    /// PUBLISHes `payload` to `topic` on client row `row`'s open connection (TR-181
    /// `BulkData.Profile.{i}.MQTT.`): at `qos` lowered to the broker's Maximum QoS, with the
    /// RETAIN flag when `retain` unless the broker keeps no retained messages, and in MQTT 5
    /// with the Content Type `content_type` and the row's Message Expiry Interval and PUBLISH
    /// User Properties. Returns once the broker acknowledged it: its PUBACK at QoS 1, its
    /// PUBCOMP at QoS 2; at QoS 0, which has none, once written to the connection. An error
    /// when the row has no open connection, `topic` is no topic name, the broker refused it
    /// (an MQTT 5 reason code), or the connection was lost before the acknowledgement: the
    /// report failed (it is not sent again on the next connection; the caller retains it).
    /// The caller bounds the wait.
    pub(crate) async fn publish(
        &self,
        row: &str,
        topic: &str,
        payload: Vec<u8>,
        qos: u8,
        retain: bool,
        content_type: &str,
    ) -> Result<(), String> {
        if !facts::is_valid_reply_topic(topic) {
            return Err(format!("{topic:?} is no topic name to publish to"));
        }
        let open = self
            .lock()
            .iter()
            .find(|(listed, _)| listed == row)
            .cloned();
        let Some((_, open)) = open else {
            return Err(format!("the MQTT client {row:?} is not connected"));
        };
        let properties = PublishProperties {
            content_type: Some(content_type.to_owned()),
            ..open.publishing.borrow().properties()
        };
        let (delivered, outcome) = oneshot::channel();
        let report = BulkReport {
            topic: topic.to_owned(),
            payload: payload.into(),
            qos: qos.min(open.max_qos.unwrap_or(2)),
            retain: retain && open.retain_available,
            properties,
            delivered,
        };
        // Only the connection's session keeps the report: gone, it fails it.
        let _ = open.reports.send(report).await;
        drop(open);
        outcome.await.map_err(|_| {
            "not acknowledged: the broker refused it or the connection was lost".to_owned()
        })
    }
}

impl MqttMtp {
    /// The task of client row `client` for `config` (followed as it changes, see
    /// [`MqttConfig::same_connection`]), as agent `endpoint_id`, running the USP MTP for the
    /// driver `agent` if given, checking a TLS broker against `trust` (required when
    /// `config.tls` is on), reporting its state to `report`.
    #[allow(clippy::too_many_arguments)] // Each is a distinct piece of the task's context.
    pub(crate) fn new(
        mut config: watch::Receiver<MqttConfig>,
        client: &str,
        endpoint_id: &str,
        agent: Option<mpsc::Sender<MtpInput>>,
        network: NetworkUp,
        shutdown: watch::Receiver<bool>,
        trust: Option<&Trust>,
        report: Report,
    ) -> Result<Self, String> {
        let first = config.borrow_and_update().clone();
        let will = &first.row.will;
        if will.enable && (will.topic.is_empty() || will.value.is_empty()) {
            return Err("WillEnable needs a WillTopic and a WillValue".into());
        }
        let tls = match (first.tls, trust) {
            (false, _) => None,
            (true, Some(trust)) => Some((trust.clone(), trust.reloads())),
            (true, None) => {
                return Err(
                    "[usp.mqtt] tls needs CA certificates: [tls] ca_file, --ca-file, or \
                            the system's (none found)"
                        .into(),
                );
            }
        };
        let websocket = if first.websocket {
            let url = websocket_url(&first.host, first.port, first.tls)?;
            Some((url, trust.filter(|_| first.tls).cloned()))
        } else {
            None
        };
        Ok(Self {
            config: first,
            client: client.to_owned(),
            updates: config,
            endpoint_id: endpoint_id.to_owned(),
            signer: trust.cloned(),
            agent,
            network,
            shutdown,
            tls,
            websocket,
            relay_socket: None,
            report,
            session_file: None,
            connections: None,
            following: true,
            stopping: None,
            disconnecting: false,
        })
    }

    /// Lists the open connection in `connections` as its client row's, for the other
    /// PUBLISHes the agent makes on it.
    pub(crate) fn with_connections(mut self, connections: Connections) -> Self {
        self.connections = Some(connections);
        self
    }

    /// Saves the topic filters a kept session holds in `path`, and reads them from there at
    /// start: after a restart, a broker that kept the session (`CleanSession`/`CleanStart`
    /// false, CONNACK Session Present) gets a SUBSCRIBE only for what it lacks.
    pub(crate) fn with_session_file(mut self, path: Option<PathBuf>) -> Self {
        self.session_file = path;
        self
    }

    /// Runs MQTT over WebSockets through a relay listening on the Unix socket `path` (in the
    /// state directory; without one such a row is misconfigured).
    pub(crate) fn with_relay_socket(mut self, path: Option<PathBuf>) -> Self {
        self.relay_socket = path;
        self
    }

    /// The broker, as the session file and the log name it: `host:port`, or the URL over
    /// WebSockets.
    fn broker(&self) -> String {
        match &self.websocket {
            Some((url, _)) => url.clone(),
            None => format!("{}:{}", self.config.host, self.config.port),
        }
    }

    /// The filters the broker's session of `client_id` held when the agent last saved them
    /// (before a restart); `None` when none were saved for that broker and client id.
    /// Filters of the wrong type are dropped and logged; the others kept.
    fn saved_session(&self, client_id: &str) -> Option<Filters> {
        let bytes = std::fs::read(self.session_file.as_ref()?).ok()?;
        match read_session(&bytes, &self.broker(), client_id) {
            Ok(Some((filters, malformed))) => {
                if malformed > 0 {
                    tracing::warn!(
                        malformed,
                        "MQTT session file entries of the wrong type dropped"
                    );
                }
                Some(filters)
            }
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%error, "invalid MQTT session file: every filter subscribed");
                None
            }
        }
    }

    /// Saves what the broker's session of `client_id` holds of `filters` (see
    /// [`Self::with_session_file`]).
    fn save_session(&self, client_id: &str, filters: &Filters) {
        let Some(path) = &self.session_file else {
            return;
        };
        let broker = self.broker();
        let saved = SavedSession {
            broker: &broker,
            client_id,
            filters: filters.saved(),
        };
        let temporary = path.with_extension("json.tmp");
        let written = serde_json::to_vec(&saved)
            .map_err(std::io::Error::other)
            .and_then(|json| std::fs::write(&temporary, json))
            .and_then(|()| std::fs::rename(&temporary, path));
        if let Err(error) = written {
            tracing::warn!(%error, path = %path.display(), "cannot save the MQTT session");
        }
    }

    /// Connects, serves and reconnects until shutdown (or until the MTP has no topic).
    pub(crate) async fn run(mut self) {
        let relay = match self.relay() {
            Ok(relay) => relay,
            Err(error) => {
                tracing::error!(
                    client = self.client,
                    error,
                    "MQTT over WebSockets not started"
                );
                self.report.mqtt(MqttStatus::Misconfigured, None).await;
                return;
            }
        };
        let mut version = self.config.version;
        let mut client_id = self.config.client_id.clone();
        let mut attempt: u32 = 0;
        'versions: loop {
            let (client, mut events) = self.client(version, &client_id, relay.as_ref());
            let mut session: Option<Session> = None;
            // What the broker holds if it kept the session of the connection lost (or, at
            // start, of the agent's previous run).
            let mut kept: Option<Filters> = self.saved_session(&client_id);
            loop {
                let Some(polled) = self.next(&client, version, &mut events, &mut session).await
                else {
                    break 'versions;
                };
                if polled.is_err() {
                    if self.stopping.is_some() {
                        // The broker closed the connection after the DISCONNECT.
                        break 'versions;
                    }
                    self.report.stats.connection_error();
                    if let Some(session) = &session {
                        events.forget(session.failed());
                    }
                    if self
                        .tls
                        .as_mut()
                        .is_some_and(|(_, reloads)| reloads.happened())
                    {
                        // The next connection checks the broker with the reloaded trust.
                        events.set_transport(self.transport(relay.as_ref()).0);
                    }
                }
                match polled {
                    Ok(Event::ConnAck {
                        response_information,
                        subscribe_topics,
                        assigned_client_id,
                        max_qos,
                        retain_available,
                        session_present,
                    }) => {
                        attempt = 0;
                        // TR-181 (`Enable`): with a kept session, only the filters it lacks
                        // are subscribed to.
                        let filters = kept.take().filter(|_| session_present).unwrap_or_default();
                        if let Some(id) = assigned_client_id {
                            tracing::info!(client_id = %id, "MQTT broker assigned a client id");
                            events.set_client_id(&id);
                            client_id = id;
                        }
                        let configured = Some(self.config.topic.as_str());
                        // No own topic (nor the broker's topics, which are USP's) without
                        // the MTP.
                        let own_topic = if self.agent.is_some() {
                            facts::own_reply_topic(response_information.as_deref(), configured)
                                .filter(|t| facts::is_valid_reply_topic(t))
                                .map(str::to_owned)
                        } else {
                            Some(String::new())
                        };
                        let Some(own_topic) = own_topic else {
                            tracing::error!(
                                "MQTT MTP disabled: no topic to subscribe to (set \
                                 MQTT.ResponseTopicConfigured, or [usp.mqtt] topic)"
                            );
                            self.report.mqtt(MqttStatus::Misconfigured, None).await;
                            disconnect(&client, &mut events, &self.report.stats).await;
                            return;
                        };
                        self.report
                            .mqtt(MqttStatus::Connected, response_information.as_deref())
                            .await;
                        let conn = next_conn();
                        let publishing = self.publishing(max_qos, retain_available);
                        let (publishing, published) = watch::channel(Arc::new(publishing));
                        let (handed, reports) = mpsc::channel(REPORT_QUEUE);
                        let listed = self.connections.as_ref().map(|connections| {
                            let open = Open {
                                conn,
                                reports: handed,
                                max_qos,
                                retain_available,
                                publishing: published,
                            };
                            connections.list(&self.client, open)
                        });
                        let (outbox, records) = mpsc::channel(SEND_QUEUE);
                        let mut new = Session {
                            conn,
                            extra_topics: if own_topic.is_empty() {
                                Vec::new()
                            } else {
                                subscribe_topics
                            },
                            own_topic,
                            max_qos,
                            retain_available,
                            records,
                            outbox,
                            publishing,
                            filters,
                            reports,
                            requested: VecDeque::new(),
                            resent: events.resent(),
                            held: None,
                            unacked: Vec::new(),
                            _listed: listed,
                        };
                        // Subscribed before the greetings go out: a controller that has one
                        // can send requests.
                        self.subscribe(&client, version, &mut new).await;
                        if !self.connected(version, &new, None).await {
                            return;
                        }
                        session = Some(new);
                    }
                    Ok(Event::Sent(pkid)) => {
                        if let Some(session) = &mut session {
                            session.filters.sent(pkid);
                        }
                    }
                    Ok(Event::Published { pkid, held }) => {
                        if let Some(session) = &mut session {
                            session.published(pkid, held);
                        }
                    }
                    Ok(Event::Delivered(pkid, taken)) => {
                        if let Some(session) = &mut session {
                            session.delivered(pkid, taken);
                        }
                    }
                    Ok(Event::Acked(pkid, results)) => {
                        if let Some(session) = &mut session {
                            let left = session.filters.acked(pkid, results.as_deref());
                            if !left.is_empty() {
                                tracing::info!(filters = ?left, "MQTT topic filters unsubscribed");
                            }
                            self.save_session(&client_id, &session.filters);
                            self.report_subscriptions(&session.filters).await;
                        }
                    }
                    Ok(Event::Publish {
                        topic,
                        payload,
                        response_topic,
                        content_type,
                    }) => {
                        if !self
                            .received(version, &topic, payload, response_topic, content_type)
                            .await
                        {
                            return;
                        }
                    }
                    Ok(Event::Other) => {}
                    Err(Failure::VersionRefused) if version == Version::V5 => {
                        tracing::warn!("the MQTT broker refuses MQTT 5: falling back to 3.1.1");
                        version = Version::V311;
                        continue 'versions;
                    }
                    Err(Failure::VersionRefused) => {
                        let reason = "the broker refuses MQTT 3.1.1".into();
                        kept = self.lost(&mut session, reason).await.or(kept);
                        self.report.mqtt(MqttStatus::Refused, None).await;
                    }
                    Err(Failure::Refused(reason)) => {
                        kept = self.lost(&mut session, reason).await.or(kept);
                        self.report.mqtt(MqttStatus::Refused, None).await;
                    }
                    Err(Failure::Lost(reason)) => {
                        let status = if session.is_some() {
                            MqttStatus::Connecting
                        } else {
                            MqttStatus::Unreachable
                        };
                        kept = self.lost(&mut session, reason).await.or(kept);
                        self.report.mqtt(status, None).await;
                    }
                }
                if session.is_none() {
                    attempt = attempt.saturating_add(1);
                    let wait = self.config.backoff().wait(attempt, tls::random_seed());
                    tracing::info!(attempt, ?wait, "MQTT reconnect scheduled");
                    match self.network.wait(wait, &mut self.shutdown).await {
                        Waited::Shutdown => break 'versions,
                        Waited::NetworkUp => attempt = 0,
                        Waited::Elapsed => {}
                    }
                }
            }
        }
        tracing::info!("MQTT MTP stopped");
    }

    /// Polls the event loop until it yields, meanwhile following the rows and handing
    /// rumqttc what the session publishes through its request channel, which the poll takes
    /// from: none of that drops the poll (see the [module docs](self#the-event-loop)). At
    /// shutdown the Records queued go out, then a DISCONNECT, while the poll goes on; `None`
    /// (the poll dropped) without a connection or after [`DISCONNECT_GRACE`].
    async fn next(
        &mut self,
        client: &Client,
        version: Version,
        events: &mut Events,
        session: &mut Option<Session>,
    ) -> Option<Result<Event, Failure>> {
        let stats = self.report.stats.clone();
        let poll = events.poll(&stats);
        tokio::pin!(poll);
        loop {
            let stopping = self.stopping.is_some();
            let room = session
                .as_ref()
                .is_some_and(|s| s.requested.len() < REQUESTED_PUBLISHES);
            let grace = tokio::time::sleep_until(self.stopping.unwrap_or_else(Instant::now));
            tokio::select! {
                _ = self.shutdown.changed(), if !stopping => {
                    session.as_ref()?;
                    self.stopping = Some(Instant::now() + DISCONNECT_GRACE);
                }
                () = grace, if stopping => return None,
                changed = self.updates.changed(), if self.following && !stopping => {
                    self.following = changed.is_ok();
                    if self.following {
                        self.follow(client, version, session.as_mut()).await;
                    }
                }
                queued = next_queued(session.as_mut(), stopping), if room && !self.disconnecting => {
                    match (queued, session.as_mut()) {
                        (Some(queued), Some(session)) => session.request(client, queued, &stats),
                        _ => {
                            let _ = client.disconnect();
                            self.disconnecting = true;
                        }
                    }
                }
                polled = &mut poll => return Some(polled),
            }
        }
    }

    /// Takes the rows' new settings on the open connection (their CONNECT is the same):
    /// SUBSCRIBEs and UNSUBSCRIBEs for the changed `Subscription.{i}.` rows, greetings for
    /// the new controller topics, and the new way to PUBLISH.
    async fn follow(&mut self, client: &Client, version: Version, session: Option<&mut Session>) {
        let config = self.updates.borrow_and_update().clone();
        let old = std::mem::replace(&mut self.config, config);
        let following = "USP MQTT MTP follows its rows' change without reconnecting";
        let Some(session) = session else {
            tracing::info!("{following}");
            // Nothing held: every row is unsubscribed.
            self.report_subscriptions(&Filters::default()).await;
            return;
        };
        let publishing = self.publishing(session.max_qos, session.retain_available);
        session.publishing.send_replace(Arc::new(publishing));
        tracing::info!("{following}");
        self.subscribe(client, version, session).await;
        self.connected(version, session, Some(&old.controllers))
            .await;
    }

    /// The relay to the broker's WebSocket, with `config.websocket`; why not when it cannot
    /// listen.
    fn relay(&self) -> Result<Option<Relay>, String> {
        let Some((url, trust)) = &self.websocket else {
            return Ok(None);
        };
        let path = (self.relay_socket.clone())
            .ok_or("MQTT over WebSockets needs a state directory for its relay's socket")?;
        Relay::start(path, url.clone(), trust.clone(), max_packet()).map(Some)
    }

    /// The transport to the broker and the broker's address, through `relay` if given, over
    /// TLS with the trust as last loaded when `config.tls` is on.
    fn transport(&self, relay: Option<&Relay>) -> (rumqttc::Transport, String) {
        let c = &self.config;
        match (relay, &self.tls) {
            (Some(relay), _) => {
                let path = relay.path().to_string_lossy().into_owned();
                (rumqttc::Transport::unix(), path)
            }
            (None, Some((trust, _))) => {
                let mut config = trust.client_config();
                if !c.row.alpn.is_empty() {
                    let mut with_alpn = (*config).clone();
                    with_alpn.alpn_protocols =
                        (c.row.alpn.iter()).map(|p| p.as_bytes().to_vec()).collect();
                    config = Arc::new(with_alpn);
                }
                let tls = rumqttc::TlsConfiguration::Rustls(config);
                (rumqttc::Transport::tls_with_config(tls), c.host.clone())
            }
            (None, None) => (rumqttc::Transport::tcp(), c.host.clone()),
        }
    }

    /// Options and a fresh client for `version`, connecting through `relay` if given.
    fn client(&self, version: Version, client_id: &str, relay: Option<&Relay>) -> (Client, Events) {
        let c = &self.config;
        let max_packet = max_packet();
        let (transport, broker) = self.transport(relay);
        match version {
            Version::V5 => {
                let mut options = v5::MqttOptions::new(client_id, broker, c.port);
                v5_session(&mut options, &self.endpoint_id, &c.row, max_packet);
                options
                    .set_keep_alive(Duration::from_secs(
                        c.keep_alive_s.max(MIN_KEEP_ALIVE_S).into(),
                    ))
                    .set_transport(transport);
                if !c.username.is_empty() {
                    options.set_credentials(c.username.clone(), c.password.clone());
                }
                let (client, events) = v5::AsyncClient::new(options, REQUEST_QUEUE);
                (Client::V5(client), Events::V5(Box::new(events)))
            }
            Version::V311 => {
                let mut options = rumqttc::MqttOptions::new(client_id, broker, c.port);
                let will = &c.row.will;
                if will.enable {
                    let qos = qos_v311(will.qos);
                    let will =
                        rumqttc::LastWill::new(&will.topic, will.value.clone(), qos, will.retain);
                    options.set_last_will(will);
                }
                options
                    .set_keep_alive(Duration::from_secs(c.keep_alive_s.into()))
                    .set_max_packet_size(max_packet, max_packet)
                    .set_clean_session(c.row.clean_session || client_id.is_empty())
                    .set_transport(transport);
                if !c.username.is_empty() {
                    options.set_credentials(c.username.clone(), c.password.clone());
                }
                let (client, events) = rumqttc::AsyncClient::new(options, REQUEST_QUEUE);
                (Client::V311(client), Events::V311(Box::new(events)))
            }
        }
    }

    /// Brings the topic filters held at the broker to the enabled `Subscription.{i}.` rows,
    /// the own topic unless one of their filters covers it, and the topics the broker named
    /// in CONNACK ([`mqtt_filters::wanted`]): UNSUBSCRIBEs, then one SUBSCRIBE. Writes the
    /// rows' `Status`.
    async fn subscribe(&self, client: &Client, version: Version, session: &mut Session) {
        let wanted = mqtt_filters::wanted(
            version,
            &session.own_topic,
            &self.config.row.subscriptions,
            &session.extra_topics,
        );
        let changes = session.filters.change(&wanted);
        for topic in changes.unsubscribe {
            let queued = client.unsubscribe(&topic);
            if let Err(error) = &queued {
                tracing::warn!(%error, topic, "MQTT UNSUBSCRIBE not queued");
            }
            session
                .filters
                .requested(false, vec![topic], queued.is_ok());
        }
        if !changes.subscribe.is_empty() {
            let topics = changes.subscribe.iter().map(|(t, _)| t.clone()).collect();
            let queued = client.subscribe(changes.subscribe);
            if let Err(error) = &queued {
                tracing::warn!(%error, "MQTT SUBSCRIBE not queued");
            }
            session.filters.requested(true, topics, queued.is_ok());
        }
        self.report_subscriptions(&session.filters).await;
    }

    /// Writes the `Status` of every `Subscription.{i}.` row as `filters` stand.
    async fn report_subscriptions(&self, filters: &Filters) {
        let statuses: Vec<_> = (self.config.row.subscriptions.iter())
            .map(|s| (s.row.clone(), filters.status(s)))
            .collect();
        self.report.subscriptions(&statuses).await;
    }

    /// How this connection PUBLISHes, given the broker's Maximum QoS and Retain Available.
    fn publishing(&self, max_qos: Option<u8>, retain_available: bool) -> Publishing {
        let row = &self.config.row;
        Publishing {
            qos: row.publish_qos.min(max_qos.unwrap_or(2)),
            expiry_s: row.publish_expiry_s,
            user_properties: (row.user_properties.iter())
                .filter(|p| p.publish)
                .map(|p| (p.name.clone(), p.value.clone()))
                .collect(),
            retain: if retain_available {
                row.retain.clone()
            } else {
                Vec::new()
            },
        }
    }

    /// Greets the configured controllers with an `mqtt_connect` Record: after CONNACK
    /// (`previous` `None`) every one, and hands the driver the link; after a change of the
    /// rows those whose topic is not the same in `previous`. False when the driver is gone.
    async fn connected(
        &self,
        version: Version,
        session: &Session,
        previous: Option<&BTreeMap<String, String>>,
    ) -> bool {
        if previous.is_none() {
            let broker = self.broker();
            let connected = if self.agent.is_some() {
                "USP MQTT MTP connected"
            } else {
                "MQTT client connected"
            };
            let (client, topic) = (&self.client, &session.own_topic);
            tracing::info!(client, broker, ?version, topic, "{connected}");
        }
        for (controller, topic) in &self.config.controllers {
            if previous.is_some_and(|p| p.get(controller) == Some(topic)) {
                continue;
            }
            let record = RecordBuilder::new(controller.clone(), self.endpoint_id.clone())
                .mqtt_connect(version.usp(), &session.own_topic);
            // A broker's connection never protects it.
            let mtp = Mtp::new(MtpKind::Mqtt, topic.clone());
            let bytes = encode_own(self.signer.as_ref(), &mtp, record);
            let greeting = Outbound {
                reply_to: address(&self.client, topic),
                bytes,
            };
            if session.outbox.try_send(greeting).is_err() {
                tracing::warn!(controller, "send queue full, MqttConnect Record dropped");
            }
        }
        let (None, Some(agent)) = (previous, &self.agent) else {
            return true;
        };
        let connected = MtpInput::Connected {
            key: self.client.clone(),
            conn: session.conn,
            tx: session.outbox.clone(),
        };
        agent.send(connected).await.is_ok()
    }

    /// A PUBLISH from the broker: a Record for the driver, with its reply-to topic (dropped
    /// when no agent MTP row runs on the client). False when the driver is gone.
    async fn received(
        &self,
        version: Version,
        topic: &str,
        payload: Bytes,
        response_topic: Option<String>,
        content_type: Option<String>,
    ) -> bool {
        let Some(agent) = &self.agent else {
            tracing::debug!(topic, "MQTT PUBLISH on a client no USP MTP runs on ignored");
            return true;
        };
        if let Some(content_type) = content_type.filter(|t| !facts::is_usp_content_type(t)) {
            tracing::debug!(topic, content_type, "MQTT PUBLISH that is not USP ignored");
            return true;
        }
        // Without a reply-to topic, the agent answers on the sender's configured topic.
        let reply_to = facts::reply_topic(version.usp(), topic, response_topic.as_deref())
            .filter(|t| facts::is_valid_reply_topic(t))
            .map(|t| address(&self.client, &t))
            .unwrap_or_default();
        let record = MtpInput::Record {
            mtp: Mtp::new(MtpKind::Mqtt, reply_to),
            bytes: payload,
        };
        agent.send(record).await.is_ok()
    }

    /// The connection failed or was lost; returns the filters a broker keeping the session
    /// still holds ([`Filters::kept`]).
    async fn lost(&self, session: &mut Option<Session>, reason: String) -> Option<Filters> {
        let Some(Session {
            conn,
            own_topic,
            filters,
            ..
        }) = session.take()
        else {
            tracing::warn!(
                reason,
                broker = self.broker(),
                "cannot connect to the MQTT broker"
            );
            return None;
        };
        tracing::warn!(reason, topic = own_topic, "USP MQTT connection lost");
        if let Some(agent) = &self.agent {
            let closed = MtpInput::Closed {
                key: self.client.clone(),
                conn,
            };
            let _ = agent.send(closed).await;
        }
        let rows = self.config.row.subscriptions.iter().map(|s| s.row.clone());
        self.report.write(unsubscribed(rows)).await;
        Some(filters.kept())
    }
}

/// Sends DISCONNECT and lets the event loop write it, within [`DISCONNECT_GRACE`].
async fn disconnect(client: &Client, events: &mut Events, stats: &ClientStats) {
    let _ = client.disconnect();
    let _ = tokio::time::timeout(DISCONNECT_GRACE, async {
        while events.poll(stats).await.is_ok() {}
    })
    .await;
}

impl Client {
    /// Queues one SUBSCRIBE for the topic filters, each with its QoS.
    fn subscribe(&self, filters: Vec<(String, u8)>) -> Result<(), String> {
        match self {
            Self::V311(c) => {
                let filters = (filters.into_iter())
                    .map(|(path, qos)| rumqttc::SubscribeFilter::new(path, qos_v311(qos)));
                c.try_subscribe_many(filters).map_err(|e| e.to_string())
            }
            Self::V5(c) => {
                let filters = (filters.into_iter())
                    .map(|(path, qos)| v5::mqttbytes::v5::Filter::new(path, qos_v5(qos)));
                c.try_subscribe_many(filters).map_err(|e| e.to_string())
            }
        }
    }

    /// Queues one UNSUBSCRIBE for the topic filter.
    fn unsubscribe(&self, filter: &str) -> Result<(), String> {
        match self {
            Self::V311(c) => c.try_unsubscribe(filter).map_err(|e| e.to_string()),
            Self::V5(c) => c.try_unsubscribe(filter).map_err(|e| e.to_string()),
        }
    }

    /// Queues the PUBLISH of a Record to `topic` as `how` says, naming `reply_to` as where
    /// answers go: the Response Topic and Content Type properties in MQTT 5, a `/reply-to=`
    /// suffix in 3.1.1.
    fn publish(
        &self,
        topic: &str,
        bytes: Vec<u8>,
        reply_to: &str,
        how: &Publishing,
    ) -> Result<(), String> {
        let retain = how.retains(&bytes);
        let topic = match self {
            Self::V311(_) => facts::v311_publish_topic(topic, reply_to),
            Self::V5(_) => topic.to_owned(),
        };
        let properties = PublishProperties {
            response_topic: Some(reply_to.to_owned()),
            content_type: Some(CONTENT_TYPE.to_owned()),
            ..how.properties()
        };
        self.send(topic, bytes.into(), how.qos, retain, properties)
    }

    /// Queues the PUBLISH of `payload` to `topic`; `properties` go only into an MQTT 5
    /// PUBLISH.
    fn send(
        &self,
        topic: String,
        payload: Bytes,
        qos: u8,
        retain: bool,
        properties: PublishProperties,
    ) -> Result<(), String> {
        match self {
            Self::V311(c) => {
                let payload = Vec::from(payload);
                (c.try_publish(topic, qos_v311(qos), retain, payload)).map_err(|e| e.to_string())
            }
            Self::V5(c) => {
                let qos = qos_v5(qos);
                (c.try_publish_with_properties(topic, qos, retain, payload, properties))
                    .map_err(|e| e.to_string())
            }
        }
    }

    fn disconnect(&self) -> Result<(), String> {
        match self {
            Self::V311(c) => c.try_disconnect().map_err(|e| e.to_string()),
            Self::V5(c) => c.try_disconnect().map_err(|e| e.to_string()),
        }
    }
}

impl Events {
    /// The next event, counted into `stats`; after an error the next call reconnects.
    async fn poll(&mut self, stats: &ClientStats) -> Result<Event, Failure> {
        match self {
            Self::V311(events) => match count_v311(events.poll().await, stats) {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(connack))) => {
                    Ok(Event::bare_connack(connack.session_present))
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(suback))) => {
                    let codes = suback.return_codes.iter();
                    let granted =
                        codes.map(|code| matches!(code, rumqttc::SubscribeReasonCode::Success(_)));
                    Ok(Event::Acked(suback.pkid, Some(granted.collect())))
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::UnsubAck(unsuback))) => {
                    Ok(Event::Acked(unsuback.pkid, None))
                }
                Ok(rumqttc::Event::Incoming(
                    rumqttc::Packet::PubAck(rumqttc::PubAck { pkid })
                    | rumqttc::Packet::PubComp(rumqttc::PubComp { pkid }),
                )) => Ok(Event::Delivered(pkid, true)),
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(publish))) => {
                    Ok(Event::Publish {
                        topic: publish.topic,
                        payload: publish.payload,
                        response_topic: None,
                        content_type: None,
                    })
                }
                Ok(rumqttc::Event::Outgoing(packet)) => Ok(outgoing(&packet)),
                Ok(_) => Ok(Event::Other),
                Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
                    Err(Failure::Refused(format!("the broker refused: {code:?}")))
                }
                Err(error) => Err(Failure::Lost(error.to_string())),
            },
            Self::V5(events) => match count_v5(events.poll().await, stats) {
                Ok(v5::Event::Incoming(Packet::ConnAck(connack))) => {
                    let Some(properties) = connack.properties else {
                        return Ok(Event::bare_connack(connack.session_present));
                    };
                    Ok(Event::ConnAck {
                        response_information: properties.response_information,
                        subscribe_topics: properties
                            .user_properties
                            .into_iter()
                            .filter(|(name, _)| name == USER_PROPERTY_SUBSCRIBE_TOPIC)
                            .map(|(_, topic)| topic)
                            .collect(),
                        assigned_client_id: properties.assigned_client_identifier,
                        max_qos: properties.max_qos,
                        retain_available: properties.retain_available != Some(0),
                        session_present: connack.session_present,
                    })
                }
                Ok(v5::Event::Incoming(Packet::SubAck(suback))) => {
                    let codes = suback.return_codes.iter();
                    let granted = codes.map(|code| matches!(code, SubscribeReasonCode::Success(_)));
                    Ok(Event::Acked(suback.pkid, Some(granted.collect())))
                }
                Ok(v5::Event::Incoming(Packet::UnsubAck(unsuback))) => {
                    let reasons = unsuback.reasons.iter();
                    let done = reasons.map(|reason| {
                        matches!(
                            reason,
                            UnsubAckReason::Success | UnsubAckReason::NoSubscriptionExisted
                        )
                    });
                    Ok(Event::Acked(unsuback.pkid, Some(done.collect())))
                }
                Ok(v5::Event::Incoming(Packet::PubAck(ack))) => Ok(Event::Delivered(
                    ack.pkid,
                    matches!(
                        ack.reason,
                        PubAckReason::Success | PubAckReason::NoMatchingSubscribers
                    ),
                )),
                Ok(v5::Event::Incoming(Packet::PubRec(rec)))
                    if !matches!(
                        rec.reason,
                        PubRecReason::Success | PubRecReason::NoMatchingSubscribers
                    ) =>
                {
                    Ok(Event::Delivered(rec.pkid, false))
                }
                Ok(v5::Event::Incoming(Packet::PubComp(comp))) => Ok(Event::Delivered(
                    comp.pkid,
                    comp.reason == PubCompReason::Success,
                )),
                Ok(v5::Event::Incoming(Packet::Publish(publish))) => {
                    let properties = publish.properties.unwrap_or_default();
                    Ok(Event::Publish {
                        topic: String::from_utf8_lossy(&publish.topic).into_owned(),
                        payload: publish.payload,
                        response_topic: properties.response_topic,
                        content_type: properties.content_type,
                    })
                }
                Ok(v5::Event::Outgoing(packet)) => Ok(outgoing(&packet)),
                Ok(_) => Ok(Event::Other),
                Err(error) if refuses_v5(&error) => Err(Failure::VersionRefused),
                Err(v5::ConnectionError::ConnectionRefused(code)) => {
                    Err(Failure::Refused(format!("the broker refused: {code:?}")))
                }
                Err(error) => Err(Failure::Lost(error.to_string())),
            },
        }
    }

    fn set_client_id(&mut self, id: &str) {
        match self {
            Self::V311(events) => {
                events.mqtt_options.set_client_id(id.to_owned());
            }
            Self::V5(events) => {
                events.options.set_client_id(id.to_owned());
            }
        }
    }

    /// The transport of the next connections.
    fn set_transport(&mut self, transport: rumqttc::Transport) {
        match self {
            Self::V311(events) => {
                events.mqtt_options.set_transport(transport);
            }
            Self::V5(events) => {
                events.options.set_transport(transport);
            }
        }
    }

    /// Forgets what rumqttc keeps to send on the next connection that the agent does not
    /// want sent again: the SUBSCRIBEs and UNSUBSCRIBEs (the agent subscribes anew after each
    /// CONNACK, and their packet ids would be taken for those of its new requests) and the
    /// bulk data reports of `failed` (they failed, and go with the next report).
    fn forget<'a>(&mut self, failed: impl Iterator<Item = &'a Bytes>) {
        let failed: Vec<&Bytes> = failed.collect();
        let report = |payload: &Bytes| failed.contains(&payload);
        match self {
            Self::V311(events) => events.pending.retain(|request| match request {
                rumqttc::Request::Subscribe(_) | rumqttc::Request::Unsubscribe(_) => false,
                rumqttc::Request::Publish(publish) => !report(&publish.payload),
                _ => true,
            }),
            Self::V5(events) => events.pending.retain(|request| match request {
                v5::Request::Subscribe(_) | v5::Request::Unsubscribe(_) => false,
                v5::Request::Publish(publish) => !report(&publish.payload),
                _ => true,
            }),
        }
    }

    /// How many PUBLISHes rumqttc, just connected, reports writing before those of the new
    /// connection: those it sends again (its own queue, `pending`, goes before its request
    /// channel), and those written before the connection was lost that it reports late (an
    /// MQTT 3.1.1 event loop reports them after CONNACK).
    fn resent(&self) -> usize {
        let publish = |outgoing: &rumqttc::Outgoing| {
            matches!(
                outgoing,
                rumqttc::Outgoing::Publish(_) | rumqttc::Outgoing::AwaitAck(_)
            )
        };
        match self {
            Self::V311(events) => {
                let pending = events.pending.iter();
                let reported = events.state.events.iter();
                (pending.filter(|r| matches!(r, rumqttc::Request::Publish(_)))).count()
                    + (reported.filter(|e| matches!(e, rumqttc::Event::Outgoing(o) if publish(o))))
                        .count()
            }
            Self::V5(events) => {
                let pending = events.pending.iter();
                let reported = events.state.events.iter();
                (pending.filter(|r| matches!(r, v5::Request::Publish(_)))).count()
                    + (reported.filter(|e| matches!(e, v5::Event::Outgoing(o) if publish(o))))
                        .count()
            }
        }
    }
}

/// A packet rumqttc sent: the packet id of a SUBSCRIBE or an UNSUBSCRIBE, or of a PUBLISH
/// (written, or held until the id is free).
const fn outgoing(packet: &rumqttc::Outgoing) -> Event {
    match *packet {
        rumqttc::Outgoing::Subscribe(pkid) | rumqttc::Outgoing::Unsubscribe(pkid) => {
            Event::Sent(pkid)
        }
        rumqttc::Outgoing::Publish(pkid) => Event::Published { pkid, held: false },
        rumqttc::Outgoing::AwaitAck(pkid) => Event::Published { pkid, held: true },
        _ => Event::Other,
    }
}

/// The session's next Record or report ([`Session::next`]); never, without a session.
async fn next_queued(session: Option<&mut Session>, stopping: bool) -> Option<Queued> {
    match session {
        Some(session) => session.next(stopping).await,
        None => std::future::pending().await,
    }
}

impl Publishing {
    /// The PUBLISH properties every PUBLISH of the client row carries (MQTT 5): the Message
    /// Expiry Interval and the `UserProperty.{i}.` rows for PUBLISH.
    fn properties(&self) -> PublishProperties {
        PublishProperties {
            message_expiry_interval: (self.expiry_s > 0).then_some(self.expiry_s),
            user_properties: self.user_properties.clone(),
            ..PublishProperties::default()
        }
    }

    /// Whether `record` goes out with the RETAIN flag: a Response or Error, or a Notify, in a
    /// `no_session_context` Record for a controller whose MTP row asks for it.
    fn retains(&self, record: &[u8]) -> bool {
        if self.retain.is_empty() {
            return false;
        }
        let limits = Limits::default();
        // The agent's own decoder (of `Bytes`): no second copy of it in the binary.
        let Ok(record) = codec::decode_record_bytes(Bytes::copy_from_slice(record), &limits) else {
            return false;
        };
        let Some((_, retain)) = self.retain.iter().find(|(to, _)| *to == record.to_id) else {
            return false;
        };
        let Some(RecordType::NoSessionContext(no_session)) = &record.record_type else {
            return false;
        };
        // The agent's Msg decoder, which reads a response's type only: none of the response
        // decoders in the binary.
        let Ok(msg) = codec::decode_inbound_msg(&no_session.payload, &limits) else {
            return false;
        };
        match msg.body.and_then(|body| body.msg_body) {
            Some(MsgBody::Response(_) | MsgBody::Error(_)) => retain.response,
            Some(MsgBody::Request(request)) => {
                retain.notify && matches!(request.req_type, Some(ReqType::Notify(_)))
            }
            None => false,
        }
    }
}

/// Puts the client row's session settings ([`RowSettings`]) into MQTT 5 CONNECT options:
/// the flags, the properties (the `usp-endpoint-id` User Property first, R-MQTT.13; the
/// packet size never above `max_packet`) and the Will.
fn v5_session(
    options: &mut v5::MqttOptions,
    endpoint_id: &str,
    row: &RowSettings,
    max_packet: usize,
) {
    let limit = u32::try_from(max_packet).unwrap_or(u32::MAX);
    let max_packet = match row.max_packet_size {
        0 => limit,
        size => size.min(limit),
    };
    let mut user_properties = vec![(USER_PROPERTY_ENDPOINT_ID.to_owned(), endpoint_id.to_owned())];
    user_properties.extend(
        (row.user_properties.iter())
            .filter(|p| p.connect)
            .map(|p| (p.name.clone(), p.value.clone())),
    );
    let nonzero = |n: u32| (n > 0).then_some(n);
    options
        .set_clean_start(row.clean_start)
        .set_session_expiry_interval(nonzero(row.session_expiry_s))
        .set_receive_maximum(
            nonzero(row.receive_maximum).map(|n| u16::try_from(n).unwrap_or(u16::MAX)),
        )
        .set_max_packet_size(Some(max_packet))
        .set_topic_alias_max((row.topic_alias_max > 0).then_some(row.topic_alias_max))
        .set_request_response_info(Some(1))
        .set_request_problem_info((!row.request_problem_info).then_some(0))
        .set_user_properties(user_properties);
    let will = &row.will;
    if will.enable {
        let properties = LastWillProperties {
            delay_interval: nonzero(will.delay_s),
            payload_format_indicator: None,
            message_expiry_interval: nonzero(will.expiry_s),
            content_type: Some(will.content_type.clone()).filter(|t| !t.is_empty()),
            response_topic: Some(will.response_topic.clone()).filter(|t| !t.is_empty()),
            correlation_data: None,
            user_properties: Vec::new(),
        };
        let qos = qos_v5(will.qos);
        let will = LastWill::new(
            &will.topic,
            will.value.clone(),
            qos,
            will.retain,
            Some(properties),
        );
        options.set_last_will(will);
    }
}

/// An MQTT 5 QoS from TR-181's 0..=2 (a larger value, which the model refuses, as 2).
const fn qos_v5(qos: u8) -> v5::mqttbytes::QoS {
    match qos {
        0 => v5::mqttbytes::QoS::AtMostOnce,
        1 => v5::mqttbytes::QoS::AtLeastOnce,
        _ => v5::mqttbytes::QoS::ExactlyOnce,
    }
}

/// An MQTT 3.1.1 QoS, as [`qos_v5`].
const fn qos_v311(qos: u8) -> rumqttc::QoS {
    match qos {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

/// Counts a 3.1.1 event loop's packet into `stats`.
fn count_v311<E>(
    polled: Result<rumqttc::Event, E>,
    stats: &ClientStats,
) -> Result<rumqttc::Event, E> {
    match &polled {
        Ok(rumqttc::Event::Incoming(packet)) => stats.received(
            matches!(packet, rumqttc::Packet::ConnAck(_)),
            matches!(packet, rumqttc::Packet::Publish(_)),
        ),
        Ok(rumqttc::Event::Outgoing(packet)) => stats.sent(packet),
        Err(_) => {}
    }
    polled
}

/// Counts an MQTT 5 event loop's packet into `stats`.
fn count_v5<E>(polled: Result<v5::Event, E>, stats: &ClientStats) -> Result<v5::Event, E> {
    match &polled {
        Ok(v5::Event::Incoming(packet)) => stats.received(
            matches!(packet, Packet::ConnAck(_)),
            matches!(packet, Packet::Publish(_)),
        ),
        Ok(v5::Event::Outgoing(packet)) => stats.sent(packet),
        Err(_) => {}
    }
    polled
}

/// Whether a failed MQTT 5 CONNECT means the broker only speaks an older version: a CONNACK
/// with reason 0x84 (Unsupported Protocol Version), or a 3.1.1 CONNACK refusing the protocol
/// level (return code 1, which is no MQTT 5 reason code).
fn refuses_v5(error: &v5::ConnectionError) -> bool {
    match error {
        v5::ConnectionError::ConnectionRefused(code) => {
            *code == ConnectReturnCode::UnsupportedProtocolVersion
        }
        v5::ConnectionError::MqttState(v5::StateError::Deserialization(
            v5::mqttbytes::Error::InvalidConnectReturnCode(1),
        )) => true,
        _ => false,
    }
}

/// The largest MQTT packet either way: a USP Record of the limit, with room for the fixed
/// header, topic and properties.
fn max_packet() -> usize {
    Limits::default()
        .max_record_bytes
        .saturating_add(PACKET_OVERHEAD)
}

/// The path asked for when `BrokerAddress` names none: the one most brokers serve MQTT
/// over WebSockets on (mosquitto takes any; RabbitMQ's default is `/ws`).
const WEBSOCKET_PATH: &str = "/mqtt";

/// The URL of a client row's broker over WebSockets (see the [module docs](self)):
/// `ws://` (`wss://` with `tls`), the host and path of `address` (`BrokerAddress`: a host,
/// `host/path`, or a URL of that scheme), and `port` (`BrokerPort`). rumqttc takes the host
/// and port from the URL, so one that does not parse, or names another port, is refused here
/// (the row is misconfigured) rather than failing every connection attempt.
fn websocket_url(address: &str, port: u16, tls: bool) -> Result<String, String> {
    let scheme = if tls { "wss" } else { "ws" };
    let misconfigured = |why: &str| Err(format!("MQTT BrokerAddress {address:?}: {why}"));
    let rest = match address.split_once("://") {
        Some((given, rest)) if given.eq_ignore_ascii_case(scheme) => rest,
        Some(_) => return misconfigured(&format!("not a {scheme}:// URL (TransportProtocol)")),
        None => address,
    };
    let (host, path) = rest
        .find('/')
        .map_or((rest, WEBSOCKET_PATH), |slash| rest.split_at(slash));
    let url = if host.parse::<Ipv6Addr>().is_ok() {
        format!("{scheme}://[{host}]:{port}{path}")
    } else {
        let host = host.strip_suffix(&format!(":{port}")).unwrap_or(host);
        format!("{scheme}://{host}:{port}{path}")
    };
    match url.parse::<Uri>() {
        Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) && uri.port_u16() == Some(port) => {
            Ok(url)
        }
        Ok(_) => misconfigured("no host, or a port other than BrokerPort"),
        Err(error) => misconfigured(&error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_url_takes_the_host_and_path_of_the_broker_address() {
        let url = |address, tls| websocket_url(address, 8080, tls);
        let ok = |address, tls| url(address, tls).unwrap();
        assert_eq!(ok("broker", false), "ws://broker:8080/mqtt");
        assert_eq!(ok("10.0.0.1", true), "wss://10.0.0.1:8080/mqtt");
        assert_eq!(ok("::1", false), "ws://[::1]:8080/mqtt");
        assert_eq!(websocket_url("::1", 1, false).unwrap(), "ws://[::1]:1/mqtt");
        assert_eq!(ok("[::1]/ws", false), "ws://[::1]:8080/ws");
        assert_eq!(ok("broker/ws", false), "ws://broker:8080/ws");
        assert_eq!(ok("ws://broker/a/b?x=1", false), "ws://broker:8080/a/b?x=1");
        assert_eq!(ok("WSS://broker:8080/ws", true), "wss://broker:8080/ws");
        // Another scheme than the transport's, another port than BrokerPort, no host, or
        // something that is no host at all: misconfigured.
        for (address, tls) in [
            ("wss://broker/ws", false),
            ("ws://broker/ws", true),
            ("http://broker", false),
            ("broker:1883", false),
            ("ws://broker:1883/ws", false),
            ("", false),
            ("/ws", false),
            ("bro ker", false),
        ] {
            let error = url(address, tls).unwrap_err();
            assert!(error.contains("BrokerAddress"), "{address}: {error}");
        }
    }

    #[test]
    fn a_session_file_keeps_its_good_filters_for_its_broker_and_client_only() {
        let saved = SavedSession {
            broker: "b:1883",
            client_id: "agent",
            filters: vec![("usp/agent".into(), 1, false), ("old/#".into(), 0, true)],
        };
        let json = serde_json::to_vec(&saved).unwrap();
        let (filters, malformed) = read_session(&json, "b:1883", "agent").unwrap().unwrap();
        assert_eq!(filters.saved(), saved.filters);
        assert_eq!(malformed, 0);
        assert!(read_session(&json, "b:1884", "agent").unwrap().is_none());
        assert!(read_session(&json, "b:1883", "other").unwrap().is_none());
        // One filter of the wrong type (a QoS as text, a topic as a number) drops alone.
        let damaged = br#"{"broker":"b:1883","client_id":"agent","filters":
            [["usp/agent",1,false],["x","1",false],[7,1,false],["old/#",0,true]]}"#;
        let (filters, malformed) = read_session(damaged, "b:1883", "agent").unwrap().unwrap();
        assert_eq!(filters.saved(), saved.filters);
        assert_eq!(malformed, 2);
        assert!(read_session(b"{\"broker\":", "b:1883", "agent").is_err());
    }

    #[test]
    fn version_refusals_are_recognised() {
        let refused =
            v5::ConnectionError::ConnectionRefused(ConnectReturnCode::UnsupportedProtocolVersion);
        assert!(refuses_v5(&refused));
        let old_broker = v5::ConnectionError::MqttState(v5::StateError::Deserialization(
            v5::mqttbytes::Error::InvalidConnectReturnCode(1),
        ));
        assert!(refuses_v5(&old_broker));
        let auth = v5::ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized);
        assert!(!refuses_v5(&auth));
    }

    #[test]
    fn the_capabilities_name_every_version_and_transport_spoken() {
        let versions = Version::ALL.map(Version::name).join(",");
        assert_eq!(VERSIONS_SUPPORTED, versions);
        let transports = TRANSPORTS.map(|(tls, websocket)| transport_name(tls, websocket));
        assert_eq!(TRANSPORTS_SUPPORTED, transports.join(","));
        for version in Version::ALL {
            assert_eq!(Version::named(version.name()), Some(version));
        }
    }

    #[test]
    fn the_client_row_maps_to_connect_options() {
        let options = |row: &RowSettings| {
            let mut options = v5::MqttOptions::new("id", "127.0.0.1", 1883);
            v5_session(&mut options, "os::agent", row, 1000);
            options
        };
        // TR-181's defaults: clean, nothing sent that MQTT defaults, the Record limit, no Will.
        let plain = options(&RowSettings::default());
        assert!(plain.clean_start());
        assert_eq!(plain.session_expiry_interval(), None);
        assert_eq!(plain.receive_maximum(), None);
        assert_eq!(plain.max_packet_size(), Some(1000));
        assert_eq!(plain.topic_alias_max(), None);
        assert_eq!(plain.request_response_info(), Some(1));
        assert_eq!(plain.request_problem_info(), None);
        assert_eq!(
            plain.user_properties(),
            vec![("usp-endpoint-id".to_owned(), "os::agent".to_owned())]
        );
        assert!(plain.last_will().is_none());

        let prop = |name: &str, connect| UserProperty {
            name: name.into(),
            value: "v".into(),
            connect,
            publish: !connect,
        };
        let row = RowSettings {
            clean_start: false,
            session_expiry_s: 300,
            receive_maximum: 70_000,
            max_packet_size: 500,
            topic_alias_max: 8,
            request_problem_info: false,
            will: Will {
                enable: true,
                topic: "usp/will".into(),
                value: "gone".into(),
                qos: 2,
                retain: true,
                delay_s: 0,
                expiry_s: 60,
                content_type: "text/plain".into(),
                response_topic: String::new(),
            },
            user_properties: vec![prop("on-connect", true), prop("on-publish", false)],
            ..RowSettings::default()
        };
        let set = options(&row);
        assert!(!set.clean_start());
        assert_eq!(set.session_expiry_interval(), Some(300));
        assert_eq!(set.receive_maximum(), Some(u16::MAX));
        assert_eq!(set.max_packet_size(), Some(500));
        assert_eq!(set.topic_alias_max(), Some(8));
        assert_eq!(set.request_response_info(), Some(1));
        assert_eq!(set.request_problem_info(), Some(0));
        let names: Vec<String> = set.user_properties().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["usp-endpoint-id", "on-connect"]);
        let will = set.last_will().unwrap();
        assert_eq!(
            (&will.topic[..], &will.message[..], will.qos, will.retain),
            (
                &b"usp/will"[..],
                &b"gone"[..],
                v5::mqttbytes::QoS::ExactlyOnce,
                true
            )
        );
        let properties = will.properties.unwrap();
        assert_eq!(properties.delay_interval, None);
        assert_eq!(properties.message_expiry_interval, Some(60));
        assert_eq!(properties.content_type.as_deref(), Some("text/plain"));
        assert_eq!(properties.response_topic, None);
        // A larger packet size than the Record limit allows is held to the limit.
        let large = options(&RowSettings {
            max_packet_size: 5000,
            ..RowSettings::default()
        });
        assert_eq!(large.max_packet_size(), Some(1000));
    }

    #[test]
    fn responses_and_notifies_are_retained_as_the_controller_row_asks() {
        use usp_core::usp::notify::{Notification, ValueChange};
        use usp_core::usp::response::RespType;
        use usp_core::usp::{self, GetResp, Notify};

        let encode = |to: &str, msg: &usp_core::Msg| {
            let mut bytes = Vec::new();
            codec::encode_record(
                &RecordBuilder::new(to, "os::agent").no_session(msg),
                &mut bytes,
            );
            bytes
        };
        let response = codec::response_msg("1", RespType::GetResp(GetResp::default()));
        let error = codec::error_msg(
            "2",
            usp::Error {
                err_code: 7000,
                ..usp::Error::default()
            },
        );
        let change = ValueChange {
            param_path: "Device.WiFi.SSID.1.SSID".into(),
            param_value: "x".into(),
        };
        let notify = Notify {
            subscription_id: "s".into(),
            notification: Some(Notification::ValueChange(change)),
            ..Notify::default()
        };
        let notify = codec::request_msg("3", ReqType::Notify(notify));
        let mut connect = Vec::new();
        let greeting =
            RecordBuilder::new("ctrl::a", "os::agent").mqtt_connect(MqttVersion::V5, "t");
        codec::encode_record(&greeting, &mut connect);

        let publishing = |response, notify| Publishing {
            qos: 1,
            expiry_s: 0,
            user_properties: Vec::new(),
            retain: vec![("ctrl::a".to_owned(), Retain { response, notify })],
        };
        let responses = publishing(true, false);
        assert!(responses.retains(&encode("ctrl::a", &response)));
        assert!(responses.retains(&encode("ctrl::a", &error)));
        assert!(!responses.retains(&encode("ctrl::a", &notify)));
        assert!(!responses.retains(&encode("ctrl::b", &response)));
        assert!(!responses.retains(&connect));
        assert!(!responses.retains(b"not a record"));
        let notifies = publishing(false, true);
        assert!(notifies.retains(&encode("ctrl::a", &notify)));
        assert!(!notifies.retains(&encode("ctrl::a", &response)));
    }

    #[test]
    fn only_what_the_connect_carries_needs_a_new_connection() {
        let base = MqttConfig::default();
        let same = |change: &dyn Fn(&mut MqttConfig)| {
            let mut changed = base.clone();
            change(&mut changed);
            base.same_connection(&changed)
        };
        let property = |connect| UserProperty {
            name: "n".into(),
            value: "v".into(),
            connect,
            publish: true,
        };
        assert!(same(&|c| {
            c.row.subscriptions.push(Subscription {
                row: "Device.MQTT.Client.1.Subscription.1.".into(),
                enable: true,
                topic: "t".into(),
                qos: 1,
            });
        }));
        assert!(same(&|c| {
            c.controllers.insert("ctrl::a".into(), "usp/ctrl".into());
        }));
        assert!(same(&|c| c.row.publish_qos = 2));
        assert!(same(&|c| c.row.user_properties.push(property(false))));
        assert!(same(&|c| {
            c.row.retain.push(("ctrl::a".into(), Retain::default()));
        }));
        assert!(same(&|c| c.connect_retry_s = 1));
        assert!(!same(&|c| c.row.user_properties.push(property(true))));
        assert!(!same(&|c| c.port = 1884));
        assert!(!same(&|c| c.topic = "usp/other".into()));
        assert!(!same(&|c| c.row.will.enable = true));
        assert!(!same(&|c| c.keep_alive_s = 30));
        assert!(!same(&|c| c.row.alpn.push("mqtt".into())));
    }
}
