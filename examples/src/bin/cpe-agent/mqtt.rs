//! The USP MQTT client MTP (TR-369 "MQTT Binding") on rumqttc: MQTT 5, or 3.1.1 when
//! configured or when the broker refuses MQTT 5.
//!
//! The agent connects to one broker, subscribes to its own topic (the CONNACK's Response
//! Information in MQTT 5, else `topic` from the configuration; with neither the MTP is
//! disabled, R-MQTT.16/17), publishes an `mqtt_connect` Record to every configured controller
//! topic, and answers each request on the topic the request named: the Response Topic
//! property in MQTT 5, the `/reply-to=` suffix of the topic name in 3.1.1, else the topic
//! configured for the sending controller. Records are PUBLISHed at QoS 1 with the Content Type
//! `usp.msg` (MQTT 5). A lost connection is retried with TR-181's `ConnectRetryTime` backoff.
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
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, Packet, PublishProperties};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use usp_core::Limits;
use usp_core::agent::{Mtp, MtpKind};
use usp_core::codec::{self, RecordBuilder};
use usp_core::mtp::mqtt::{
    self as facts, CONTENT_TYPE, USER_PROPERTY_ENDPOINT_ID, USER_PROPERTY_SUBSCRIBE_TOPIC,
};
use usp_core::usp_record::mqtt_connect_record::MqttVersion;

use crate::mtp::{MqttStatus, Report};
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
    },
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
                        disconnect(&client, &mut events, session.is_some()).await;
                        break 'versions;
                    }
                    polled = events.poll() => polled,
                };
                match polled {
                    Ok(Event::ConnAck {
                        response_information,
                        subscribe_topics,
                        assigned_client_id,
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
                            disconnect(&client, &mut events, true).await;
                            return;
                        };
                        self.report
                            .mqtt(MqttStatus::Connected, response_information.as_deref())
                            .await;
                        let conn = next_conn();
                        let Some(forwarder) = self
                            .connected(&client, version, conn, &own_topic, &subscribe_topics)
                            .await
                        else {
                            return;
                        };
                        session = Some(Session {
                            conn,
                            own_topic,
                            forwarder,
                        });
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
                options
                    .set_keep_alive(Duration::from_secs(
                        c.keep_alive_s.max(MIN_KEEP_ALIVE_S).into(),
                    ))
                    .set_max_packet_size(Some(u32::try_from(max_packet).unwrap_or(u32::MAX)))
                    .set_request_response_info(Some(1))
                    .set_transport(transport)
                    .set_user_properties(vec![(
                        USER_PROPERTY_ENDPOINT_ID.to_owned(),
                        self.endpoint_id.clone(),
                    )]);
                if !c.username.is_empty() {
                    options.set_credentials(c.username.clone(), c.password.clone());
                }
                let (client, events) = v5::AsyncClient::new(options, REQUEST_QUEUE);
                (Client::V5(client), Events::V5(Box::new(events)))
            }
            Version::V311 => {
                let mut options = rumqttc::MqttOptions::new(client_id, c.host.clone(), c.port);
                options
                    .set_keep_alive(Duration::from_secs(c.keep_alive_s.into()))
                    .set_max_packet_size(max_packet, max_packet)
                    .set_transport(transport);
                if !c.username.is_empty() {
                    options.set_credentials(c.username.clone(), c.password.clone());
                }
                let (client, events) = rumqttc::AsyncClient::new(options, REQUEST_QUEUE);
                (Client::V311(client), Events::V311(Box::new(events)))
            }
        }
    }

    /// After CONNACK: subscribe, greet every configured controller with an `mqtt_connect`
    /// Record, and hand the driver a link. Returns the task that publishes the link's
    /// Records; `None` when the driver is gone.
    async fn connected(
        &self,
        client: &Client,
        version: Version,
        conn: u64,
        own_topic: &str,
        extra_topics: &[String],
    ) -> Option<tokio::task::JoinHandle<()>> {
        let mut filters = vec![match version {
            // 3.1.1 senders append `/reply-to=…` to our topic; `#` also matches the topic itself.
            Version::V311 => format!("{own_topic}/#"),
            Version::V5 => own_topic.to_owned(),
        }];
        filters.extend(extra_topics.iter().cloned());
        for filter in &filters {
            if let Err(error) = client.subscribe(filter) {
                tracing::warn!(%error, filter, "MQTT SUBSCRIBE not queued");
            }
        }
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
            }
            None => tracing::warn!(
                reason,
                broker = %format_args!("{}:{}", self.config.host, self.config.port),
                "cannot connect to the MQTT broker"
            ),
        }
    }
}

/// Publishes the driver's Records until the link is dropped, or until `stop`, after
/// publishing those already queued.
async fn forward(
    client: Client,
    mut rx: mpsc::Receiver<Outbound>,
    own_topic: String,
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
        if let Err(error) = client.publish(&reply_to, bytes, &own_topic).await {
            tracing::warn!(%error, topic = reply_to, "USP Record not published");
        }
    }
}

/// Sends DISCONNECT and lets the event loop write it, within [`DISCONNECT_GRACE`].
async fn disconnect(client: &Client, events: &mut Events, connected: bool) {
    if !connected {
        return;
    }
    let _ = client.disconnect();
    let _ = tokio::time::timeout(DISCONNECT_GRACE, async {
        while events.poll().await.is_ok() {}
    })
    .await;
}

impl Client {
    /// Queues a SUBSCRIBE at QoS 1.
    fn subscribe(&self, filter: &str) -> Result<(), String> {
        match self {
            Self::V311(c) => c
                .try_subscribe(filter, rumqttc::QoS::AtLeastOnce)
                .map_err(|e| e.to_string()),
            Self::V5(c) => c
                .try_subscribe(filter, v5::mqttbytes::QoS::AtLeastOnce)
                .map_err(|e| e.to_string()),
        }
    }

    /// PUBLISHes a Record to `topic` at QoS 1, naming `reply_to` as where answers go: the
    /// Response Topic and Content Type properties in MQTT 5, a `/reply-to=` suffix in 3.1.1.
    async fn publish(&self, topic: &str, bytes: Vec<u8>, reply_to: &str) -> Result<(), String> {
        match self {
            Self::V311(c) => c
                .publish(
                    facts::v311_publish_topic(topic, reply_to),
                    rumqttc::QoS::AtLeastOnce,
                    false,
                    bytes,
                )
                .await
                .map_err(|e| e.to_string()),
            Self::V5(c) => {
                let properties = PublishProperties {
                    response_topic: Some(reply_to.to_owned()),
                    content_type: Some(CONTENT_TYPE.to_owned()),
                    ..PublishProperties::default()
                };
                c.publish_with_properties(
                    topic,
                    v5::mqttbytes::QoS::AtLeastOnce,
                    false,
                    bytes,
                    properties,
                )
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
    /// The next event; after an error the next call reconnects.
    async fn poll(&mut self) -> Result<Event, Failure> {
        match self {
            Self::V311(events) => match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => Ok(Event::ConnAck {
                    response_information: None,
                    subscribe_topics: Vec::new(),
                    assigned_client_id: None,
                }),
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
            Self::V5(events) => match events.poll().await {
                Ok(v5::Event::Incoming(Packet::ConnAck(connack))) => {
                    let Some(properties) = connack.properties else {
                        return Ok(Event::ConnAck {
                            response_information: None,
                            subscribe_topics: Vec::new(),
                            assigned_client_id: None,
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
                    })
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
