//! The USP MQTT client MTP (TR-369 "MQTT Binding") on rumqttc: MQTT 5, or 3.1.1 when
//! configured or when the broker refuses MQTT 5.
//!
//! The agent connects to one broker, subscribes to its own topic (the CONNACK's Response
//! Information in MQTT 5, else `topic` from the configuration; with neither the MTP is
//! disabled, R-MQTT.16/17), publishes an `mqtt_connect` Record to every configured controller
//! topic, and answers each request on the topic the request named: the Response Topic
//! property in MQTT 5, the `/reply-to=` suffix of the topic name in 3.1.1, else the topic
//! configured for the sending controller. Records are PUBLISHed at the MTP row's `PublishQoS`
//! (lowered to the broker's Maximum QoS) with the Content Type `usp.msg` (MQTT 5). A lost
//! connection is retried with TR-181's `ConnectRetryTime` backoff.
//!
//! The rest of the client row shapes the session ([`RowSettings`]): the enabled
//! `Subscription.{i}.` rows are subscribed to with the agent's own topic in one SUBSCRIBE
//! (the own topic left out when a row's filter covers it, as TR-181 asks; the reply-to topic
//! stays the own topic), and their `Status` follows the SUBACK; the session flags, CONNECT
//! properties and Will go into the CONNECT, and the `UserProperty.{i}.` rows into the
//! packets they name.
//! With `tls` on, the connection runs over TLS (rumqttc's rustls support, on the agent's
//! rustls settings), the broker checked against the agent's CA certificates ([`Trust`]).
//!
//! All Records of the MTP share one link of the driver ([`LINK`]); the reply-to topic travels
//! with each [`Outbound`] Record.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::v5;
use rumqttc::v5::mqttbytes::v5::{
    ConnectReturnCode, LastWill, LastWillProperties, Packet, PublishProperties, SubscribeReasonCode,
};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use usp_core::Limits;
use usp_core::agent::{Mtp, MtpKind};
use usp_core::codec::{self, RecordBuilder};
use usp_core::mtp::mqtt::{
    self as facts, CONTENT_TYPE, USER_PROPERTY_ENDPOINT_ID, USER_PROPERTY_SUBSCRIBE_TOPIC,
    filter_matches,
};
use usp_core::usp_record::mqtt_connect_record::MqttVersion;

use crate::mqtt_stats::ClientStats;
use crate::mtp::{MqttStatus, Report, unsubscribed};
use crate::tls::Trust;
use crate::usp::{MtpInput, NetworkUp, Outbound, Waited, next_conn, retry_delay};

/// The driver's link key for every Record sent over MQTT.
pub(crate) const LINK: &str = "mqtt";
/// Records queued for the broker before the driver drops them.
const SEND_QUEUE: usize = 256;
/// rumqttc's request channel.
const REQUEST_QUEUE: usize = 64;
/// Room for the MQTT fixed header, topic and properties around a Record of the USP limit.
const PACKET_OVERHEAD: usize = 4096;
/// MQTT 5 refuses keep-alives below this in rumqttc.
const MIN_KEEP_ALIVE_S: u16 = 5;
/// How long a clean DISCONNECT may take at shutdown.
const DISCONNECT_GRACE: Duration = Duration::from_secs(2);

/// `[usp.mqtt]`: the MQTT client MTP (TR-181 `Device.MQTT.Client.{i}.` and
/// `Device.LocalAgent.MTP.{i}.MQTT.`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct MqttConfig {
    /// Whether to connect.
    pub(crate) enable: bool,
    /// Broker host name or address (`BrokerAddress`).
    pub(crate) host: String,
    /// Broker port (`BrokerPort`).
    pub(crate) port: u16,
    /// MQTT over TLS, the broker checked against the agent's CA certificates
    /// (`TransportProtocol` `TLS`).
    pub(crate) tls: bool,
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
    #[serde(skip)]
    pub(crate) row: Box<RowSettings>,
}

/// The parameters of `Device.MQTT.Client.{i}.` and `Device.LocalAgent.MTP.{i}.MQTT.` that
/// the configuration file has no keys for; the defaults are TR-181's (and the seeded rows').
///
/// Not followed: `MessageRetryTime` (MQTT 3.1 only, which the agent does not speak; rumqttc
/// resends on reconnect), `AuthenticationMethod` (rumqttc has no AUTH exchange), `ALPN` and
/// `Interface`. (`Stats.` are live values: see [`crate::mqtt_stats`].) `RequestResponseInfo` is always sent as 1, whatever the row says: TR-369
/// requires it (its MQTT binding) and the agent's reply-to topic may depend on it. The
/// subscriptions are sent on every connection, even when a 3.1.1 broker kept the session
/// (`CleanSession` false), which TR-181 asks to avoid: the agent cannot tell which of them
/// the kept session holds, and a SUBSCRIBE of a held filter only replaces it. A change of any
/// of these restarts the MTP (a new connection) rather than sending SUBSCRIBE or UNSUBSCRIBE
/// on the old one.
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
        }
    }
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

/// The MQTT protocol version.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub(crate) enum Version {
    /// MQTT 3.1.1.
    #[serde(rename = "3.1.1")]
    V311,
    /// MQTT 5.0.
    #[serde(rename = "5.0")]
    V5,
}

impl Version {
    const fn usp(self) -> MqttVersion {
        match self {
            Self::V311 => MqttVersion::V311,
            Self::V5 => MqttVersion::V5,
        }
    }
}

/// The MQTT MTP task; see the [module docs](self).
pub(crate) struct MqttMtp {
    config: MqttConfig,
    endpoint_id: String,
    agent: mpsc::Sender<MtpInput>,
    network: NetworkUp,
    shutdown: watch::Receiver<bool>,
    /// The TLS client settings, when `config.tls` is on.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Where the connection's state goes (the MTP's and the MQTT client's `Status`).
    report: Report,
}

/// A rumqttc client of either version.
#[derive(Clone)]
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
    },
    /// Per topic filter of the SUBSCRIBE, whether the broker granted it.
    SubAck(Vec<bool>),
    Publish {
        topic: String,
        payload: Bytes,
        response_topic: Option<String>,
        content_type: Option<String>,
    },
    Other,
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
    own_topic: String,
    /// The task publishing the driver's Records.
    forwarder: tokio::task::JoinHandle<()>,
    /// The `Subscription.{i}.` row of each topic filter of the SUBSCRIBE, if any.
    filters: Vec<Option<String>>,
}

/// How the agent's PUBLISHes are sent.
#[derive(Clone)]
struct Publishing {
    qos: u8,
    /// Message Expiry Interval in seconds (MQTT 5); 0 sends none.
    expiry_s: u32,
    /// User Properties (MQTT 5).
    user_properties: Vec<(String, String)>,
}

impl MqttMtp {
    /// The task for `config`, as agent `endpoint_id`, checking a TLS broker against `trust`
    /// (required when `config.tls` is on), reporting its state to `report`.
    pub(crate) fn new(
        config: &MqttConfig,
        endpoint_id: &str,
        agent: mpsc::Sender<MtpInput>,
        network: NetworkUp,
        shutdown: watch::Receiver<bool>,
        trust: Option<&Trust>,
        report: Report,
    ) -> Result<Self, String> {
        let will = &config.row.will;
        if will.enable && (will.topic.is_empty() || will.value.is_empty()) {
            return Err("WillEnable needs a WillTopic and a WillValue".into());
        }
        let tls = match (config.tls, trust) {
            (false, _) => None,
            (true, Some(trust)) => Some(trust.client_config()),
            (true, None) => {
                return Err("[usp.mqtt] tls needs a CA file ([tls] ca_file or --ca-file)".into());
            }
        };
        Ok(Self {
            config: config.clone(),
            endpoint_id: endpoint_id.to_owned(),
            agent,
            network,
            shutdown,
            tls,
            report,
        })
    }

    /// Connects, serves and reconnects until shutdown (or until the MTP has no topic).
    pub(crate) async fn run(mut self) {
        let mut version = self.config.version;
        let mut client_id = self.config.client_id.clone();
        let mut attempt: u32 = 0;
        'versions: loop {
            let (client, mut events) = self.client(version, &client_id);
            let mut session: Option<Session> = None;
            loop {
                let polled = tokio::select! {
                    _ = self.shutdown.changed() => {
                        if let Some(session) = &mut session {
                            // The forwarder publishes what the driver queued (the response
                            // to the request that stopped this MTP) before the DISCONNECT.
                            let _ = tokio::time::timeout(DISCONNECT_GRACE, &mut session.forwarder).await;
                        }
                        disconnect(&client, &mut events, &self.report.stats, session.is_some()).await;
                        break 'versions;
                    }
                    polled = events.poll(&self.report.stats) => polled,
                };
                if polled.is_err() {
                    self.report.stats.connection_error();
                }
                match polled {
                    Ok(Event::ConnAck {
                        response_information,
                        subscribe_topics,
                        assigned_client_id,
                        max_qos,
                    }) => {
                        attempt = 0;
                        if let Some(id) = assigned_client_id {
                            tracing::info!(client_id = %id, "MQTT broker assigned a client id");
                            events.set_client_id(&id);
                            client_id = id;
                        }
                        let configured = Some(self.config.topic.as_str());
                        let Some(own_topic) =
                            facts::own_reply_topic(response_information.as_deref(), configured)
                                .filter(|t| facts::is_valid_reply_topic(t))
                                .map(str::to_owned)
                        else {
                            tracing::error!(
                                "MQTT MTP disabled: no topic to subscribe to (set \
                                 MQTT.ResponseTopicConfigured, or [usp.mqtt] topic)"
                            );
                            self.report.mqtt(MqttStatus::Misconfigured, None).await;
                            disconnect(&client, &mut events, &self.report.stats, true).await;
                            return;
                        };
                        self.report
                            .mqtt(MqttStatus::Connected, response_information.as_deref())
                            .await;
                        let conn = next_conn();
                        let publishing = self.publishing(max_qos);
                        let filters =
                            self.subscribe(&client, version, &own_topic, subscribe_topics);
                        let Some(forwarder) = self
                            .connected(&client, version, conn, &own_topic, publishing)
                            .await
                        else {
                            return;
                        };
                        session = Some(Session {
                            conn,
                            own_topic,
                            forwarder,
                            filters,
                        });
                    }
                    Ok(Event::SubAck(granted)) => {
                        if let Some(session) = &mut session {
                            let rows = std::mem::take(&mut session.filters);
                            self.report
                                .subscriptions(&self.subscription_statuses(&rows, &granted))
                                .await;
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
                        self.lost(&mut session, "the broker refuses MQTT 3.1.1".into())
                            .await;
                        self.report.mqtt(MqttStatus::Refused, None).await;
                    }
                    Err(Failure::Refused(reason)) => {
                        self.lost(&mut session, reason).await;
                        self.report.mqtt(MqttStatus::Refused, None).await;
                    }
                    Err(Failure::Lost(reason)) => {
                        let status = if session.is_some() {
                            MqttStatus::Connecting
                        } else {
                            MqttStatus::Unreachable
                        };
                        self.lost(&mut session, reason).await;
                        self.report.mqtt(status, None).await;
                    }
                }
                if session.is_none() {
                    attempt = attempt.saturating_add(1);
                    let wait = retry_delay(
                        self.config.connect_retry_s,
                        self.config.connect_retry_multiplier,
                        attempt,
                        Duration::from_secs(self.config.connect_retry_max_s.into()),
                    );
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

    /// Options and a fresh client for `version`.
    fn client(&self, version: Version, client_id: &str) -> (Client, Events) {
        let c = &self.config;
        let max_packet = Limits::default()
            .max_record_bytes
            .saturating_add(PACKET_OVERHEAD);
        let transport = match &self.tls {
            Some(tls) => {
                rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(tls.clone()))
            }
            None => rumqttc::Transport::tcp(),
        };
        match version {
            Version::V5 => {
                let mut options = v5::MqttOptions::new(client_id, c.host.clone(), c.port);
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
                let mut options = rumqttc::MqttOptions::new(client_id, c.host.clone(), c.port);
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

    /// Subscribes, in one SUBSCRIBE, to the enabled `Subscription.{i}.` rows, to the own topic
    /// unless one of their filters covers it, and to the topics the broker named in CONNACK.
    /// Returns the row of each topic filter, in order, to read the SUBACK with.
    fn subscribe(
        &self,
        client: &Client,
        version: Version,
        own_topic: &str,
        extra_topics: Vec<String>,
    ) -> Vec<Option<String>> {
        let rows: Vec<&Subscription> = (self.config.row.subscriptions.iter())
            .filter(|s| s.enable && !s.topic.is_empty())
            .collect();
        let mut filters: Vec<((String, u8), Option<String>)> = (rows.iter())
            .map(|s| ((s.topic.clone(), s.qos), Some(s.row.clone())))
            .collect();
        if let Some(own) = own_filter(version, own_topic, &rows) {
            filters.push(((own, 1), None));
        }
        filters.extend(extra_topics.into_iter().map(|topic| ((topic, 1), None)));
        let (topics, rows): (Vec<_>, Vec<_>) = filters.into_iter().unzip();
        if let Err(error) = client.subscribe(topics) {
            tracing::warn!(%error, "MQTT SUBSCRIBE not queued");
        }
        rows
    }

    /// The `Status` of every `Subscription.{i}.` row once the SUBACK `granted` came for the
    /// topic filters of `rows` (see [`Self::subscribe`]).
    fn subscription_statuses(
        &self,
        rows: &[Option<String>],
        granted: &[bool],
    ) -> Vec<(String, &'static str)> {
        let subscriptions = self.config.row.subscriptions.iter();
        subscriptions
            .map(|s| {
                let index = rows.iter().position(|row| row.as_deref() == Some(&s.row));
                let status = match index.map(|i| granted.get(i)) {
                    _ if !s.enable => "Unsubscribed",
                    Some(Some(true)) => "Subscribed",
                    _ => "Error",
                };
                (s.row.clone(), status)
            })
            .collect()
    }

    /// How this connection PUBLISHes, given the broker's Maximum QoS.
    fn publishing(&self, max_qos: Option<u8>) -> Publishing {
        let row = &self.config.row;
        Publishing {
            qos: row.publish_qos.min(max_qos.unwrap_or(2)),
            expiry_s: row.publish_expiry_s,
            user_properties: (row.user_properties.iter())
                .filter(|p| p.publish)
                .map(|p| (p.name.clone(), p.value.clone()))
                .collect(),
        }
    }

    /// After CONNACK: greet every configured controller with an `mqtt_connect` Record, and
    /// hand the driver a link. Returns the task that publishes the link's Records; `None`
    /// when the driver is gone.
    async fn connected(
        &self,
        client: &Client,
        version: Version,
        conn: u64,
        own_topic: &str,
        publishing: Publishing,
    ) -> Option<tokio::task::JoinHandle<()>> {
        tracing::info!(
            broker = %format_args!("{}:{}", self.config.host, self.config.port),
            version = ?version,
            topic = own_topic,
            "USP MQTT MTP connected"
        );
        // Everything is published by the forwarding task: this task must keep polling the
        // event loop, or a full request queue would never drain.
        let (tx, rx) = mpsc::channel(SEND_QUEUE);
        let forwarder = tokio::spawn(forward(
            client.clone(),
            rx,
            own_topic.to_owned(),
            publishing,
            self.report.stats.clone(),
            self.shutdown.clone(),
        ));
        for (controller, topic) in &self.config.controllers {
            let record = RecordBuilder::new(controller.clone(), self.endpoint_id.clone())
                .mqtt_connect(version.usp(), own_topic);
            let mut bytes = Vec::new();
            codec::encode_record(&record, &mut bytes);
            let greeting = Outbound {
                reply_to: topic.clone(),
                bytes,
            };
            if tx.try_send(greeting).is_err() {
                tracing::warn!(controller, "send queue full, MqttConnect Record dropped");
            }
        }
        let connected = MtpInput::Connected {
            key: LINK.to_owned(),
            conn,
            tx,
        };
        self.agent.send(connected).await.ok()?;
        Some(forwarder)
    }

    /// A PUBLISH from the broker: a Record for the driver, with its reply-to topic. False when
    /// the driver is gone.
    async fn received(
        &self,
        version: Version,
        topic: &str,
        payload: Bytes,
        response_topic: Option<String>,
        content_type: Option<String>,
    ) -> bool {
        if let Some(content_type) = content_type.filter(|t| !facts::is_usp_content_type(t)) {
            tracing::debug!(topic, content_type, "MQTT PUBLISH that is not USP ignored");
            return true;
        }
        // Without a reply-to topic, the agent answers on the sender's configured topic.
        let reply_to = facts::reply_topic(version.usp(), topic, response_topic.as_deref())
            .filter(|t| facts::is_valid_reply_topic(t))
            .unwrap_or_default();
        let record = MtpInput::Record {
            mtp: Mtp::new(MtpKind::Mqtt, reply_to),
            bytes: payload,
        };
        self.agent.send(record).await.is_ok()
    }

    async fn lost(&self, session: &mut Option<Session>, reason: String) {
        match session.take() {
            Some(Session {
                conn, own_topic, ..
            }) => {
                tracing::warn!(reason, topic = own_topic, "USP MQTT connection lost");
                let closed = MtpInput::Closed {
                    key: LINK.to_owned(),
                    conn,
                };
                let _ = self.agent.send(closed).await;
                let rows = self.config.row.subscriptions.iter().map(|s| s.row.clone());
                self.report.write(unsubscribed(rows)).await;
            }
            None => tracing::warn!(
                reason,
                broker = %format_args!("{}:{}", self.config.host, self.config.port),
                "cannot connect to the MQTT broker"
            ),
        }
    }
}

/// The topic filter of the agent's own topic, or `None` when the filter of one of the enabled
/// `subscriptions` already covers it (TR-181 `ResponseTopicConfigured`). In 3.1.1 senders
/// append `/reply-to=…` to the topic, so the filter must match that too: `topic/#`, which
/// also matches the topic itself.
fn own_filter(
    version: Version,
    own_topic: &str,
    subscriptions: &[&Subscription],
) -> Option<String> {
    let (names, own) = match version {
        Version::V311 => (
            vec![
                own_topic.to_owned(),
                facts::v311_publish_topic(own_topic, "x"),
            ],
            format!("{own_topic}/#"),
        ),
        Version::V5 => (vec![own_topic.to_owned()], own_topic.to_owned()),
    };
    let covered =
        (subscriptions.iter()).any(|s| names.iter().all(|name| filter_matches(&s.topic, name)));
    (!covered).then_some(own)
}

/// Publishes the driver's Records until the link is dropped, or until `stop`, after
/// publishing those already queued.
async fn forward(
    client: Client,
    mut rx: mpsc::Receiver<Outbound>,
    own_topic: String,
    publishing: Publishing,
    stats: Arc<ClientStats>,
    mut stop: watch::Receiver<bool>,
) {
    let mut stopping = false;
    loop {
        let outbound = if stopping {
            match rx.try_recv() {
                Ok(outbound) => outbound,
                Err(_) => return,
            }
        } else {
            tokio::select! {
                _ = stop.changed() => {
                    stopping = true;
                    continue;
                }
                outbound = rx.recv() => match outbound {
                    Some(outbound) => outbound,
                    None => return,
                },
            }
        };
        let Outbound { reply_to, bytes } = outbound;
        if let Err(error) = client
            .publish(&reply_to, bytes, &own_topic, &publishing)
            .await
        {
            tracing::warn!(%error, topic = reply_to, "USP Record not published");
            stats.publish_error();
        }
    }
}

/// Sends DISCONNECT and lets the event loop write it, within [`DISCONNECT_GRACE`].
async fn disconnect(client: &Client, events: &mut Events, stats: &ClientStats, connected: bool) {
    if !connected {
        return;
    }
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

    /// PUBLISHes a Record to `topic` as `how` says, naming `reply_to` as where answers go:
    /// the Response Topic and Content Type properties in MQTT 5, a `/reply-to=` suffix in
    /// 3.1.1.
    async fn publish(
        &self,
        topic: &str,
        bytes: Vec<u8>,
        reply_to: &str,
        how: &Publishing,
    ) -> Result<(), String> {
        match self {
            Self::V311(c) => c
                .publish(
                    facts::v311_publish_topic(topic, reply_to),
                    qos_v311(how.qos),
                    false,
                    bytes,
                )
                .await
                .map_err(|e| e.to_string()),
            Self::V5(c) => {
                let properties = PublishProperties {
                    response_topic: Some(reply_to.to_owned()),
                    content_type: Some(CONTENT_TYPE.to_owned()),
                    message_expiry_interval: (how.expiry_s > 0).then_some(how.expiry_s),
                    user_properties: how.user_properties.clone(),
                    ..PublishProperties::default()
                };
                c.publish_with_properties(topic, qos_v5(how.qos), false, bytes, properties)
                    .await
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
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => Ok(Event::ConnAck {
                    response_information: None,
                    subscribe_topics: Vec::new(),
                    assigned_client_id: None,
                    max_qos: None,
                }),
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(suback))) => {
                    let codes = suback.return_codes.iter();
                    Ok(Event::SubAck(
                        codes
                            .map(|code| matches!(code, rumqttc::SubscribeReasonCode::Success(_)))
                            .collect(),
                    ))
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(publish))) => {
                    Ok(Event::Publish {
                        topic: publish.topic,
                        payload: publish.payload,
                        response_topic: None,
                        content_type: None,
                    })
                }
                Ok(_) => Ok(Event::Other),
                Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
                    Err(Failure::Refused(format!("the broker refused: {code:?}")))
                }
                Err(error) => Err(Failure::Lost(error.to_string())),
            },
            Self::V5(events) => match count_v5(events.poll().await, stats) {
                Ok(v5::Event::Incoming(Packet::ConnAck(connack))) => {
                    let Some(properties) = connack.properties else {
                        return Ok(Event::ConnAck {
                            response_information: None,
                            subscribe_topics: Vec::new(),
                            assigned_client_id: None,
                            max_qos: None,
                        });
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
                    })
                }
                Ok(v5::Event::Incoming(Packet::SubAck(suback))) => {
                    let codes = suback.return_codes.iter();
                    Ok(Event::SubAck(
                        codes
                            .map(|code| matches!(code, SubscribeReasonCode::Success(_)))
                            .collect(),
                    ))
                }
                Ok(v5::Event::Incoming(Packet::Publish(publish))) => {
                    let properties = publish.properties.unwrap_or_default();
                    Ok(Event::Publish {
                        topic: String::from_utf8_lossy(&publish.topic).into_owned(),
                        payload: publish.payload,
                        response_topic: properties.response_topic,
                        content_type: properties.content_type,
                    })
                }
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_subscription_covering_the_own_topic_replaces_its_filter() {
        let sub = |topic: &str| Subscription {
            row: "Device.MQTT.Client.1.Subscription.1.".into(),
            enable: true,
            topic: topic.into(),
            qos: 0,
        };
        let own = |version, topic: &str| own_filter(version, "usp/agent", &[&sub(topic)]);
        assert_eq!(
            own_filter(Version::V5, "usp/agent", &[]).as_deref(),
            Some("usp/agent")
        );
        assert_eq!(own(Version::V5, "usp/+"), None);
        assert_eq!(own(Version::V5, "usp/agent"), None);
        assert_eq!(own(Version::V5, "usp/other").as_deref(), Some("usp/agent"));
        // 3.1.1: the filter must take the `/reply-to=` names as well.
        assert_eq!(
            own(Version::V311, "usp/agent").as_deref(),
            Some("usp/agent/#")
        );
        assert_eq!(own(Version::V311, "usp/agent/#"), None);
        assert_eq!(own(Version::V311, "#"), None);
    }

    #[test]
    fn config_reads_versions_and_controller_topics() {
        let config: MqttConfig = toml::from_str(
            "enable = true\nversion = \"3.1.1\"\ntopic = \"usp/agent\"\n\
             [controllers]\n\"self::controller\" = \"usp/controller\"\n",
        )
        .unwrap();
        assert_eq!(config.version, Version::V311);
        assert_eq!(
            config
                .controllers
                .get("self::controller")
                .map(String::as_str),
            Some("usp/controller")
        );
        assert!(toml::from_str::<MqttConfig>("version = \"4\"\n").is_err());
    }
}
