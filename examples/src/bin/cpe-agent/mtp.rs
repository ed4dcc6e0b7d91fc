//! The agent's USP MTPs as TR-181 rows: `Device.LocalAgent.MTP.{i}.` (with the
//! `Device.MQTT.Client.{i}.`, `Device.STOMP.Connection.{i}.` and
//! `Device.UnixDomainSockets.UnixDomainSocket.{i}.` rows they reference) and the controllers'
//! `Device.LocalAgent.Controller.{i}.MTP.{i}.`.
//!
//! The configuration file and flags are the factory defaults: [`seed`] writes them into the
//! rows of a fresh store (first start, factory reset). From then on the rows are the truth, as
//! a controller (or an obuspa user) expects: [`Supervisor`] runs one task per enabled row (per
//! MQTT client and STOMP connection: see [`desired`]), writes each row's `Status` (`Up`,
//! `Down`, `Error`; the MQTT client's `Connected`, `Connecting`, `Error_BrokerUnreachable`,
//! ...; the STOMP connection's `Enabled`, `Connecting`, `ServerNotPresent`, ...) and, whenever
//! the store changes, restarts exactly the MTPs whose rows changed, except an MQTT MTP whose
//! CONNECT stays the same, which follows the change on its connection ([`crate::mqtt`],
//! "Following the rows"). Before it stops one it waits until the USP driver has queued the
//! responses due ([`MtpInput::Flush`]), and a stopping connection sends what is queued before
//! it closes, so a controller moving the agent's port (or broker) gets its SetResp over the
//! old connection first.
//!
//! Settings the model has no place for stay in the configuration file: the server's listening
//! address (the model has interfaces, the agent binds the address of `[usp.websocket]
//! listen` with the row's port), the certificate files, and the controllers' trust.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hal::Engine;
use litemap::LiteMap;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::http::Uri;
use tr181_model::schema::Protocol;
use tr181_model::store::{Store, Transaction};
use tr181_model::value::Value;
use usp_core::agent::{Mtp, MtpKind};

use crate::config::{UspConfig, WebSocketConfig};
use crate::device::{DeviceEvent, wall_clock};
use crate::mqtt::{
    Connections, MqttConfig, MqttMtp, Retain, RowSettings, Subscription, TRANSPORTS, UserProperty,
    Version, Will, transport_name,
};
use crate::mqtt_stats::{ClientStats, MqttStats};
use crate::stomp::{StompConfig, StompMtp};
use crate::tls::Trust;
use crate::usp::{MtpInput, NetworkUp};
use crate::ws::WsClientConfig;
use crate::{uds, ws};

/// How long stopping an MTP waits for the USP driver to queue the responses due.
const FLUSH_WAIT: Duration = Duration::from_secs(5);
const AGENT_MTPS: &str = "Device.LocalAgent.MTP.";
const CONTROLLERS: &str = "Device.LocalAgent.Controller.";
const MQTT_CLIENTS: &str = "Device.MQTT.Client.";
const STOMP_CONNECTIONS: &str = "Device.STOMP.Connection.";
const UDS_SOCKETS: &str = "Device.UnixDomainSockets.UnixDomainSocket.";

/// One MTP as its rows describe it; two equal specs run the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Spec {
    /// The WebSocket server.
    WsServer(WebSocketConfig),
    /// A WebSocket client to a controller's server at `url`.
    WsClient {
        /// The controller's Endpoint ID.
        controller: String,
        /// `ws://` or `wss://host:port/path`.
        url: String,
        /// Retry and ping settings (its `controllers` map is unused).
        config: WsClientConfig,
    },
    /// The MQTT client, with the client row it runs on.
    Mqtt(MqttConfig, String),
    /// The STOMP client, with the connection row it runs on.
    Stomp(StompConfig, String),
    /// A Unix domain socket the agent listens on.
    UdsListen(String),
    /// A controller's Unix domain socket the agent connects to.
    UdsConnect(String),
}

impl Spec {
    /// The broker connection row it runs on: an MQTT client or a STOMP connection row.
    fn connection(&self) -> Option<&str> {
        match self {
            Self::Mqtt(_, connection) | Self::Stomp(_, connection) => Some(connection),
            _ => None,
        }
    }
}

/// What a row asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Wanted {
    /// Disabled.
    Off,
    /// Enabled but unusable, and why.
    Broken(String),
    /// Run this.
    Run(Spec),
}

/// Flags of this start that override the stored rows (see [`Supervisor::new`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Overrides {
    /// `--ws-listen`: the first WebSocket server row listens here (port 0: a free port).
    pub(crate) ws_listen: Option<SocketAddr>,
    /// `--no-ws`: the WebSocket server rows are disabled.
    pub(crate) no_ws: bool,
}

/// The canonical text of `path`, empty when unset.
pub(crate) fn text(store: &Store, path: &str) -> String {
    store
        .value(path)
        .map(Value::canonical_text)
        .unwrap_or_default()
}

fn flag(store: &Store, path: &str) -> bool {
    text(store, path) == "true"
}

fn number<T: std::str::FromStr + Default>(store: &Store, path: &str) -> T {
    text(store, path).parse().unwrap_or_default()
}

fn rows(store: &Store, table: &str) -> Vec<String> {
    store
        .instances(table, Protocol::Usp, true)
        .map(|rows| rows.into_iter().map(|row| row.path).collect())
        .unwrap_or_default()
}

/// The driver's return address ([`Mtp::reply_to`]) of `destination` (a topic or a STOMP
/// destination) on the broker connection of row `connection` (`Device.MQTT.Client.{i}.`,
/// `Device.STOMP.Connection.{i}.`: the key of its link): the row, a space (which no path
/// holds), the destination.
pub(crate) fn address(connection: &str, destination: &str) -> String {
    format!("{connection} {destination}")
}

/// The connection row (the link key) and the destination of an [`address`].
pub(crate) fn split_address(reply_to: &str) -> (&str, &str) {
    reply_to.split_once(' ').unwrap_or((reply_to, ""))
}

/// A reference parameter's target row in `table`, with its trailing dot.
fn referenced(store: &Store, reference: &str, table: &str) -> Option<String> {
    let target = text(store, reference);
    let row = format!("{}.", target.trim_end_matches('.'));
    (row.starts_with(table) && row.len() > table.len()).then_some(row)
}

/// Every agent MTP row and every controller MTP row the agent connects out on, with what
/// it asks for; `base` supplies what the model has no place for.
///
/// MQTT: one connection per enabled `Device.MQTT.Client.{i}.`, keyed by the agent MTP row
/// that references it (a second agent row on the same client row is `Error`: the client
/// subscribes to one own topic and greets that row's controllers), or by its own row when
/// no enabled agent row does: TR-181's `Enable` asks an enabled client to connect and
/// subscribe to its `Subscription.{i}.` rows, and bulk data profiles PUBLISH on it.
///
/// STOMP: one connection per enabled `Device.STOMP.Connection.{i}.` that an enabled agent
/// MTP row or controller MTP row references, each keyed by the agent MTP row it serves (a
/// second agent row on the same connection is `Error`: the client subscribes to one
/// destination), or by its own row when only controllers' rows name it (the agent then
/// listens at the broker's `subscribe-dest`). A controller MTP row with an empty `Reference`
/// uses the connection of the first agent STOMP row that runs.
fn desired(store: &Store, base: &UspConfig) -> LiteMap<String, Wanted> {
    let mut wanted: LiteMap<String, Wanted> = LiteMap::new();
    // MQTT client or STOMP connection row → the row its task is keyed by.
    let mut served = BTreeMap::new();
    let mut first_stomp = None;
    for row in rows(store, AGENT_MTPS) {
        let want = if flag(store, &format!("{row}Enable")) {
            agent_mtp(store, &row, base)
        } else {
            Wanted::Off
        };
        let want = match want {
            Wanted::Run(spec) => match spec.connection() {
                Some(connection) => match served.get(connection) {
                    Some(other) => Wanted::Broken(format!("{connection} already serves {other}")),
                    None => {
                        served.insert(connection.to_owned(), row.clone());
                        if let Spec::Stomp(..) = spec {
                            first_stomp.get_or_insert_with(|| connection.to_owned());
                        }
                        Wanted::Run(spec)
                    }
                },
                None => Wanted::Run(spec),
            },
            other => other,
        };
        wanted.insert(row, want);
    }
    for (_, row) in controller_mtps(store, "STOMP") {
        let Some(connection) = stomp_connection(store, &row, None) else {
            continue;
        };
        if served.contains_key(&connection) || !flag(store, &format!("{connection}Enable")) {
            continue;
        }
        served.insert(connection.clone(), connection.clone());
        let config = stomp_config(store, &connection, String::new());
        let spec = Spec::Stomp(config, connection.clone());
        wanted.insert(connection, Wanted::Run(spec));
    }
    for client in rows(store, MQTT_CLIENTS) {
        if served.contains_key(&client) {
            continue;
        }
        let want = if flag(store, &format!("{client}Enable")) {
            match mqtt_config(store, &client, None) {
                Ok(config) => Wanted::Run(Spec::Mqtt(config, client.clone())),
                Err(why) => Wanted::Broken(why),
            }
        } else {
            Wanted::Off
        };
        wanted.insert(client, want);
    }
    for (_, want) in wanted.iter_mut() {
        if let Wanted::Run(Spec::Stomp(config, connection)) = want {
            config.controllers = stomp_controllers(store, connection, first_stomp.as_deref());
        }
    }
    for (controller, row) in controller_mtps(store, "WebSocket") {
        let host = text(store, &format!("{row}WebSocket.Host"));
        if host.is_empty() {
            // A controller that connects to the agent's server.
            continue;
        }
        let scheme = if flag(store, &format!("{row}WebSocket.EnableEncryption")) {
            "wss"
        } else {
            "ws"
        };
        let port: u16 = number(store, &format!("{row}WebSocket.Port"));
        let path = text(store, &format!("{row}WebSocket.Path"));
        let url = format!("{scheme}://{host}:{port}/{}", path.trim_start_matches('/'));
        let config = WsClientConfig {
            retry_min_wait_s: number(
                store,
                &format!("{row}WebSocket.SessionRetryMinimumWaitInterval"),
            ),
            retry_interval_multiplier: number(
                store,
                &format!("{row}WebSocket.SessionRetryIntervalMultiplier"),
            ),
            ping_interval_s: number(store, &format!("{row}WebSocket.KeepAliveInterval")),
            controllers: BTreeMap::new(),
        };
        let spec = Spec::WsClient {
            controller,
            url,
            config,
        };
        wanted.insert(row, Wanted::Run(spec));
    }
    wanted
}

/// What the enabled agent MTP `row` asks for.
fn agent_mtp(store: &Store, row: &str, base: &UspConfig) -> Wanted {
    match text(store, &format!("{row}Protocol")).as_str() {
        "WebSocket" => {
            let ws = format!("{row}WebSocket.");
            let port: u16 = number(store, &format!("{ws}Port"));
            if port == 0 {
                return Wanted::Broken("no WebSocket.Port".into());
            }
            let (cert_file, key_file) = if flag(store, &format!("{ws}EnableEncryption")) {
                match (&base.websocket.cert_file, &base.websocket.key_file) {
                    (Some(cert), Some(key)) => (Some(cert.clone()), Some(key.clone())),
                    _ => {
                        return Wanted::Broken(
                            "EnableEncryption needs [usp.websocket] cert_file and key_file".into(),
                        );
                    }
                }
            } else {
                (None, None)
            };
            Wanted::Run(Spec::WsServer(WebSocketConfig {
                enable: true,
                listen: SocketAddr::new(base.websocket.listen.ip(), port),
                path: text(store, &format!("{ws}Path")),
                ping_interval_s: number(store, &format!("{ws}KeepAliveInterval")),
                cert_file,
                key_file,
            }))
        }
        "MQTT" => {
            let Some(client) = referenced(store, &format!("{row}MQTT.Reference"), MQTT_CLIENTS)
            else {
                return Wanted::Broken("MQTT.Reference names no MQTT client".into());
            };
            if !flag(store, &format!("{client}Enable")) {
                return Wanted::Off;
            }
            match mqtt_config(store, &client, Some(row)) {
                Ok(config) => Wanted::Run(Spec::Mqtt(config, client)),
                Err(why) => Wanted::Broken(why),
            }
        }
        "STOMP" => {
            let reference = format!("{row}STOMP.Reference");
            let Some(connection) = referenced(store, &reference, STOMP_CONNECTIONS) else {
                return Wanted::Broken("STOMP.Reference names no STOMP connection".into());
            };
            if !flag(store, &format!("{connection}Enable")) {
                return Wanted::Off;
            }
            let destination = text(store, &format!("{row}STOMP.Destination"));
            Wanted::Run(Spec::Stomp(
                stomp_config(store, &connection, destination),
                connection,
            ))
        }
        "UDS" => {
            let reference = format!("{row}UDS.UnixDomainSocketRef");
            let Some(socket) = referenced(store, &reference, UDS_SOCKETS) else {
                return Wanted::Broken("UDS.UnixDomainSocketRef names no socket".into());
            };
            let path = text(store, &format!("{socket}Path"));
            match text(store, &format!("{socket}Mode")).as_str() {
                "Listen" => Wanted::Run(Spec::UdsListen(path)),
                "Connect" => Wanted::Run(Spec::UdsConnect(path)),
                other => Wanted::Broken(format!("UDS Mode {other:?} unsupported")),
            }
        }
        other => Wanted::Broken(format!("protocol {other:?} unsupported")),
    }
}

/// The STOMP connection row `connection` with the agent's `destination` (its controllers
/// are filled in by [`desired`]).
fn stomp_config(store: &Store, connection: &str, destination: String) -> StompConfig {
    let param = |name: &str| format!("{connection}{name}");
    StompConfig {
        enable: true,
        host: text(store, &param("Host")),
        port: number(store, &param("Port")),
        tls: flag(store, &param("EnableEncryption")),
        username: text(store, &param("Username")),
        password: text(store, &param("Password")),
        virtual_host: text(store, &param("VirtualHost")),
        destination,
        heartbeats: flag(store, &param("EnableHeartbeats")),
        outgoing_heartbeat_ms: number(store, &param("OutgoingHeartbeat")),
        incoming_heartbeat_ms: number(store, &param("IncomingHeartbeat")),
        retry_initial_s: number(store, &param("ServerRetryInitialInterval")),
        retry_multiplier: number(store, &param("ServerRetryIntervalMultiplier")),
        retry_max_s: number(store, &param("ServerRetryMaxInterval")),
        controllers: BTreeMap::new(),
    }
}

/// The connection of the enabled MQTT client row `client`, serving the agent MTP row `row`
/// when one references it (its own topic, its `PublishQoS` and its controllers); why not when
/// the row asks for what the agent cannot do.
fn mqtt_config(store: &Store, client: &str, row: Option<&str>) -> Result<MqttConfig, String> {
    let param = |name: &str| format!("{client}{name}");
    let version = text(store, &param("ProtocolVersion"));
    let Some(version) = Version::named(&version) else {
        return Err(format!("MQTT ProtocolVersion {version:?} unsupported"));
    };
    let transport = text(store, &param("TransportProtocol"));
    let Some((tls, websocket)) = (TRANSPORTS.into_iter())
        .find(|(tls, websocket)| transport_name(*tls, *websocket) == transport)
    else {
        return Err(format!("MQTT TransportProtocol {transport:?} unsupported"));
    };
    let mut settings = mqtt_row(store, row, client);
    let (controllers, topic) = match row {
        Some(row) => {
            let (controllers, retain) = mqtt_controllers(store, row);
            settings.retain = retain;
            let topic = text(store, &format!("{row}MQTT.ResponseTopicConfigured"));
            (controllers, topic)
        }
        None => (BTreeMap::new(), String::new()),
    };
    Ok(MqttConfig {
        enable: true,
        host: text(store, &param("BrokerAddress")),
        port: number(store, &param("BrokerPort")),
        tls,
        websocket,
        version,
        client_id: text(store, &param("ClientID")),
        username: text(store, &param("Username")),
        password: text(store, &param("Password")),
        topic,
        keep_alive_s: number(store, &param("KeepAliveTime")),
        connect_retry_s: number(store, &param("ConnectRetryTime")),
        connect_retry_multiplier: number(store, &param("ConnectRetryIntervalMultiplier")),
        connect_retry_max_s: number(store, &param("ConnectRetryMaxInterval")),
        controllers,
        row: Box::new(settings),
    })
}

/// What the MQTT client row `client` and the agent MTP row `row` (if any) hold beyond the
/// configuration file's keys.
fn mqtt_row(store: &Store, row: Option<&str>, client: &str) -> RowSettings {
    let param = |name: &str| format!("{client}{name}");
    let subscriptions = rows(store, &param("Subscription."))
        .into_iter()
        .map(|sub| Subscription {
            enable: flag(store, &format!("{sub}Enable")),
            topic: text(store, &format!("{sub}Topic")),
            qos: number(store, &format!("{sub}QoS")),
            row: sub,
        })
        .collect();
    let user_properties = rows(store, &param("UserProperty."))
        .into_iter()
        .filter(|prop| flag(store, &format!("{prop}Enable")))
        .map(|prop| {
            let types = text(store, &format!("{prop}PacketType"));
            let names = |packet: &str| types.split(',').any(|t| t.trim() == packet);
            UserProperty {
                name: text(store, &format!("{prop}Name")),
                value: text(store, &format!("{prop}Value")),
                connect: names("CONNECT"),
                publish: names("PUBLISH"),
            }
        })
        .collect();
    RowSettings {
        // No USP Record goes out without an agent row (bulk data profiles have their own).
        publish_qos: row.map_or(0, |row| number(store, &format!("{row}MQTT.PublishQoS"))),
        clean_session: flag(store, &param("CleanSession")),
        clean_start: flag(store, &param("CleanStart")),
        session_expiry_s: number(store, &param("SessionExpiryInterval")),
        receive_maximum: number(store, &param("ReceiveMaximum")),
        max_packet_size: number(store, &param("MaximumPacketSize")),
        topic_alias_max: number(store, &param("TopicAliasMaximum")),
        request_problem_info: flag(store, &param("RequestProblemInfo")),
        publish_expiry_s: number(store, &param("PublishMessageExpiryInterval")),
        will: Will {
            enable: flag(store, &param("WillEnable")),
            topic: text(store, &param("WillTopic")),
            value: text(store, &param("WillValue")),
            qos: number(store, &param("WillQoS")),
            retain: flag(store, &param("WillRetain")),
            delay_s: number(store, &param("WillDelayInterval")),
            expiry_s: number(store, &param("WillMessageExpiryInterval")),
            content_type: text(store, &param("WillContentType")),
            response_topic: text(store, &param("WillResponseTopic")),
        },
        subscriptions,
        user_properties,
        // The controllers' rows: see `mqtt_config`.
        retain: Vec::new(),
        alpn: text(store, &param("ALPN"))
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

/// The enabled controllers' enabled MTP rows of `protocol`, with the controller's Endpoint ID.
fn controller_mtps(store: &Store, protocol: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for controller in rows(store, CONTROLLERS) {
        let id = text(store, &format!("{controller}EndpointID"));
        if id.is_empty() || !flag(store, &format!("{controller}Enable")) {
            continue;
        }
        for row in rows(store, &format!("{controller}MTP.")) {
            if flag(store, &format!("{row}Enable"))
                && text(store, &format!("{row}Protocol")) == protocol
            {
                out.push((id.clone(), row));
            }
        }
    }
    out
}

/// Controller Endpoint ID → its MQTT topic, for the agent MTP `agent_row` (rows whose
/// `AgentMTPReference` is empty or names it), and the retain flags of those rows that set one.
fn mqtt_controllers(
    store: &Store,
    agent_row: &str,
) -> (BTreeMap<String, String>, Vec<(String, Retain)>) {
    let mut topics = BTreeMap::new();
    let mut retains = Vec::new();
    for (id, row) in controller_mtps(store, "MQTT") {
        let reference = text(store, &format!("{row}MQTT.AgentMTPReference"));
        if !reference.is_empty()
            && agent_row.trim_end_matches('.') != reference.trim_end_matches('.')
        {
            continue;
        }
        let topic = text(store, &format!("{row}MQTT.Topic"));
        if topic.is_empty() {
            continue;
        }
        let retain = Retain {
            response: flag(store, &format!("{row}MQTT.PublishRetainResponse")),
            notify: flag(store, &format!("{row}MQTT.PublishRetainNotify")),
        };
        if retain != Retain::default() {
            retains.push((id.clone(), retain));
        }
        topics.insert(id, topic);
    }
    (topics, retains)
}

/// The STOMP connection row the controller MTP row `row` uses: the one its `Reference`
/// names, `default` when that is empty.
fn stomp_connection(store: &Store, row: &str, default: Option<&str>) -> Option<String> {
    let reference = format!("{row}STOMP.Reference");
    if text(store, &reference).is_empty() {
        default.map(str::to_owned)
    } else {
        referenced(store, &reference, STOMP_CONNECTIONS)
    }
}

/// Controller Endpoint ID → its STOMP destination, for the STOMP connection `connection`
/// (controller rows that use it, `default` being the connection of an empty `Reference`, and
/// that have a destination).
fn stomp_controllers(
    store: &Store,
    connection: &str,
    default: Option<&str>,
) -> BTreeMap<String, String> {
    let mut destinations = BTreeMap::new();
    for (id, row) in controller_mtps(store, "STOMP") {
        if stomp_connection(store, &row, default).as_deref() != Some(connection) {
            continue;
        }
        let destination = text(store, &format!("{row}STOMP.Destination"));
        if !destination.is_empty() {
            destinations.insert(id, destination);
        }
    }
    destinations
}

/// Each controller the rows route with where its notifications go before it has sent
/// anything: its MQTT topic or STOMP destination (on its connection), else the connection
/// named by its Endpoint ID. In the rows' order: of two routes for one controller, the later
/// stands.
pub(crate) fn controller_routes(engine: &Engine, base: &UspConfig) -> Vec<(String, Mtp)> {
    routes(&engine.read(|store| desired(store, base)))
}

/// [`controller_routes`] of the MTPs `wanted`.
fn routes(wanted: &LiteMap<String, Wanted>) -> Vec<(String, Mtp)> {
    let mut routes = Vec::new();
    for want in wanted.values() {
        match want {
            Wanted::Run(Spec::WsClient { controller, .. }) => {
                let mtp = Mtp::new(MtpKind::WebSocket, controller.clone());
                routes.push((controller.clone(), mtp));
            }
            Wanted::Run(Spec::Mqtt(MqttConfig { controllers, .. }, connection)) => {
                routed(&mut routes, MtpKind::Mqtt, controllers, connection);
            }
            Wanted::Run(Spec::Stomp(StompConfig { controllers, .. }, connection)) => {
                routed(&mut routes, MtpKind::Stomp, controllers, connection);
            }
            _ => {}
        }
    }
    routes
}

/// Routes each of `controllers` (Endpoint ID → topic or destination) over the broker
/// connection of row `connection`.
fn routed(
    routes: &mut Vec<(String, Mtp)>,
    kind: MtpKind,
    controllers: &BTreeMap<String, String>,
    connection: &str,
) {
    for (controller, destination) in controllers {
        let mtp = Mtp::new(kind, address(connection, destination));
        routes.push((controller.clone(), mtp));
    }
}

// ---------------------------------------------------------------------------------------------
// Factory defaults

/// Whether the store has not had its MTP rows written yet: a fresh store (first start,
/// factory reset) or one kept by an agent that did not keep its MTPs in the model.
/// [`seed`] sets `Device.LocalAgent.SupportedProtocols`, which no controller can write.
pub(crate) fn unseeded(engine: &Engine) -> bool {
    engine.read(|store| text(store, "Device.LocalAgent.SupportedProtocols").is_empty())
}

/// Writes the MTPs of `usp` (the configuration file and flags) into the rows of a fresh
/// store: the WebSocket server row always (disabled with `enable = false`), the MQTT client
/// and its MTP row, the UDS sockets and their rows, and a controller MTP row for every
/// controller of `[usp.websocket_client]` and `[usp.mqtt]` (adding the controller's row when
/// the store has none).
pub(crate) fn seed(txn: &mut Transaction<'_>, usp: &UspConfig) -> Result<(), tr181_model::Error> {
    txn.set(
        "Device.LocalAgent.SupportedProtocols",
        "WebSocket,MQTT,STOMP,UDS",
    )?;
    let ws = &usp.websocket;
    let (port, ping) = (ws.listen.port().to_string(), ws.ping_interval_s.to_string());
    let mut values = vec![
        ("Path", ws.path.as_str()),
        ("EnableEncryption", bool_text(ws.cert_file.is_some())),
    ];
    // Port 0 (a free port) has no place in the row: the supervisor writes the bound port.
    if ws.listen.port() != 0 {
        values.push(("Port", &port));
    }
    if ws.ping_interval_s != 0 {
        values.push(("KeepAliveInterval", &ping));
    }
    add_mtp(txn, AGENT_MTPS, ws.enable, "WebSocket", &values)?;
    let mqtt = &usp.mqtt;
    if mqtt.enable {
        let client = add_row(
            txn,
            MQTT_CLIENTS,
            &[
                ("Enable", "true"),
                ("BrokerAddress", &mqtt.host),
                ("BrokerPort", &mqtt.port.to_string()),
                ("ProtocolVersion", mqtt.version.name()),
                ("TransportProtocol", mqtt.transport_protocol()),
                ("ClientID", &mqtt.client_id),
                ("Username", &mqtt.username),
                ("Password", &mqtt.password),
                ("KeepAliveTime", &mqtt.keep_alive_s.to_string()),
                ("ConnectRetryTime", &mqtt.connect_retry_s.to_string()),
                (
                    "ConnectRetryIntervalMultiplier",
                    &mqtt.connect_retry_multiplier.to_string(),
                ),
                (
                    "ConnectRetryMaxInterval",
                    &mqtt.connect_retry_max_s.to_string(),
                ),
                // What the agent sends (see `RowSettings`).
                ("RequestResponseInfo", "true"),
                ("RequestProblemInfo", "true"),
            ],
        )?;
        let row = add_mtp(
            txn,
            AGENT_MTPS,
            true,
            "MQTT",
            &[
                ("Reference", client.trim_end_matches('.')),
                ("ResponseTopicConfigured", &mqtt.topic),
                ("PublishQoS", "1"),
            ],
        )?;
        for (controller, topic) in &mqtt.controllers {
            let controller = controller_row(txn, controller)?;
            add_mtp(
                txn,
                &format!("{controller}MTP."),
                true,
                "MQTT",
                &[
                    ("Topic", topic),
                    ("AgentMTPReference", row.trim_end_matches('.')),
                ],
            )?;
        }
    }
    if usp.stomp.enable {
        seed_stomp(txn, &usp.stomp)?;
    }
    for (mode, path) in [("Listen", &usp.uds.listen), ("Connect", &usp.uds.connect)] {
        if path.is_empty() {
            continue;
        }
        let socket = add_row(txn, UDS_SOCKETS, &[("Mode", mode), ("Path", path)])?;
        let reference = socket.trim_end_matches('.');
        add_mtp(
            txn,
            AGENT_MTPS,
            true,
            "UDS",
            &[("UnixDomainSocketRef", reference)],
        )?;
    }
    let client = &usp.websocket_client;
    for (controller, url) in &client.controllers {
        let Ok(uri) = url.parse::<Uri>() else {
            tracing::error!(
                controller,
                url,
                "not a WebSocket URL: no controller MTP row"
            );
            continue;
        };
        let tls = uri.scheme_str() == Some("wss");
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let controller = controller_row(txn, controller)?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut values = vec![
            ("Host", uri.host().unwrap_or_default().to_owned()),
            ("Port", port.to_string()),
            ("Path", path.to_owned()),
            ("EnableEncryption", bool_text(tls).to_owned()),
            (
                "SessionRetryMinimumWaitInterval",
                client.retry_min_wait_s.to_string(),
            ),
            (
                "SessionRetryIntervalMultiplier",
                client.retry_interval_multiplier.to_string(),
            ),
        ];
        if client.ping_interval_s != 0 {
            values.push(("KeepAliveInterval", client.ping_interval_s.to_string()));
        }
        let values: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
        add_mtp(
            txn,
            &format!("{controller}MTP."),
            true,
            "WebSocket",
            &values,
        )?;
    }
    Ok(())
}

/// The STOMP connection row of `stomp`, its agent MTP row, and a controller MTP row for each
/// of its controllers.
fn seed_stomp(txn: &mut Transaction<'_>, stomp: &StompConfig) -> Result<(), tr181_model::Error> {
    let connection = add_row(
        txn,
        STOMP_CONNECTIONS,
        &[
            ("Enable", "true"),
            ("Host", &stomp.host),
            ("Port", &stomp.port.to_string()),
            ("EnableEncryption", bool_text(stomp.tls)),
            ("Username", &stomp.username),
            ("Password", &stomp.password),
            ("VirtualHost", &stomp.virtual_host),
            ("EnableHeartbeats", bool_text(stomp.heartbeats)),
            (
                "OutgoingHeartbeat",
                &stomp.outgoing_heartbeat_ms.to_string(),
            ),
            (
                "IncomingHeartbeat",
                &stomp.incoming_heartbeat_ms.to_string(),
            ),
            (
                "ServerRetryInitialInterval",
                &stomp.retry_initial_s.to_string(),
            ),
            (
                "ServerRetryIntervalMultiplier",
                &stomp.retry_multiplier.to_string(),
            ),
            ("ServerRetryMaxInterval", &stomp.retry_max_s.to_string()),
        ],
    )?;
    let reference = connection.trim_end_matches('.');
    let destination = stomp.destination.as_str();
    let values = [("Reference", reference), ("Destination", destination)];
    add_mtp(txn, AGENT_MTPS, true, "STOMP", &values)?;
    for (controller, destination) in &stomp.controllers {
        let controller = controller_row(txn, controller)?;
        let values = [
            ("Reference", reference),
            ("Destination", destination.as_str()),
        ];
        add_mtp(txn, &format!("{controller}MTP."), true, "STOMP", &values)?;
    }
    Ok(())
}

fn bool_text(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// Adds a row to `table` and returns its path, with its trailing dot.
fn add_row(
    txn: &mut Transaction<'_>,
    table: &str,
    values: &[(&str, &str)],
) -> Result<String, tr181_model::Error> {
    let number = txn.add(table, values)?;
    Ok(format!("{table}{number}."))
}

/// Adds an MTP row of `protocol` to `table` (an agent's or a controller's MTP table) with
/// its protocol's object (`WebSocket.`, `MQTT.`, `STOMP.`, `UDS.`) holding `values`; returns its path.
fn add_mtp(
    txn: &mut Transaction<'_>,
    table: &str,
    enable: bool,
    protocol: &str,
    values: &[(&str, &str)],
) -> Result<String, tr181_model::Error> {
    let row = add_row(
        txn,
        table,
        &[("Enable", bool_text(enable)), ("Protocol", protocol)],
    )?;
    txn.create_object(&format!("{row}{protocol}."))?;
    for (name, value) in values {
        txn.set(&format!("{row}{protocol}.{name}"), value)?;
    }
    Ok(row)
}

/// The `WebSocket.`, `MQTT.`, `STOMP.` or `UDS.` objects that rows of those protocols lack (a
/// controller added the row, or changed its `Protocol`): only the device can create them.
fn missing_objects(store: &Store) -> Vec<String> {
    let mut mtp_rows = rows(store, AGENT_MTPS);
    for controller in rows(store, CONTROLLERS) {
        mtp_rows.extend(rows(store, &format!("{controller}MTP.")));
    }
    mtp_rows
        .into_iter()
        .filter_map(|row| {
            let protocol = text(store, &format!("{row}Protocol"));
            let object = format!("{row}{protocol}.");
            let known = matches!(protocol.as_str(), "WebSocket" | "MQTT" | "STOMP" | "UDS");
            (known && store.names(&object, Protocol::Usp, true).is_err()).then_some(object)
        })
        .collect()
}

/// The row of controller `endpoint_id`, added (enabled) if the store has none.
fn controller_row(
    txn: &mut Transaction<'_>,
    endpoint_id: &str,
) -> Result<String, tr181_model::Error> {
    let store: &Store = txn;
    let existing = rows(store, CONTROLLERS)
        .into_iter()
        .find(|row| text(store, &format!("{row}EndpointID")) == endpoint_id);
    match existing {
        Some(row) => Ok(row),
        None => add_row(
            txn,
            CONTROLLERS,
            &[("EndpointID", endpoint_id), ("Enable", "true")],
        ),
    }
}

/// Applies the flags of a later start to the stored rows (logged): `--no-ws` disables the
/// WebSocket server rows. (`--ws-listen` is applied when the server binds, which writes the
/// bound port.)
pub(crate) async fn apply_overrides(
    engine: &Engine,
    overrides: Overrides,
) -> Result<(), hal::EngineError> {
    if !overrides.no_ws {
        return Ok(());
    }
    let servers = engine.read(|store| {
        rows(store, AGENT_MTPS)
            .into_iter()
            .filter(|row| {
                text(store, &format!("{row}Protocol")) == "WebSocket"
                    && flag(store, &format!("{row}Enable"))
            })
            .collect::<Vec<_>>()
    });
    for row in servers {
        tracing::info!(
            row,
            "--no-ws: WebSocket server MTP disabled in the data model"
        );
        engine
            .device_update(|txn| txn.set(&format!("{row}Enable"), "false"))
            .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Status

/// Writes an MTP's status into its rows (only values that changed, so an unchanged status
/// costs no commit).
#[derive(Clone)]
pub(crate) struct Report {
    engine: Arc<Engine>,
    /// The agent MTP row (`Status`), empty for a controller's MTP row (which has none) and for
    /// a connection no agent MTP row runs on.
    row: String,
    /// The MQTT client row (`Status`, `ResponseInformation`), for the MQTT MTP; the STOMP
    /// connection row (`Status`, `LastChangeDate`), for the STOMP MTP.
    client: Option<String>,
    /// The MQTT client row's counts (`Stats.`), for the MQTT MTP.
    pub(crate) stats: Arc<ClientStats>,
}

/// The `Status` values that mark the `Subscription.{i}.` rows `rows` (with their trailing
/// dots) `Unsubscribed`.
pub(crate) fn unsubscribed(rows: impl IntoIterator<Item = String>) -> Vec<(String, String)> {
    (rows.into_iter())
        .map(|row| (format!("{row}Status"), "Unsubscribed".to_owned()))
        .collect()
}

/// The MQTT client's `Status` values the agent uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MqttStatus {
    /// Connecting (and the MTP `Down`).
    Connecting,
    /// CONNACK came (the MTP `Up`).
    Connected,
    /// The broker cannot be reached (the MTP `Down`).
    Unreachable,
    /// The broker refused the connection (the MTP `Error`).
    Refused,
    /// The configuration cannot work (the MTP `Error`).
    Misconfigured,
}

/// The STOMP connection's `Status` values the agent uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StompStatus {
    /// Connecting (and the MTP `Down`).
    Connecting,
    /// CONNECTED came (the connection `Enabled`, the MTP `Up`).
    Connected,
    /// The broker cannot be reached or went silent (`ServerNotPresent`, the MTP `Down`).
    Unreachable,
    /// The broker answered the STOMP frame with ERROR (the MTP `Error`).
    AuthenticationFailed,
    /// The configuration cannot work (the MTP `Error`).
    Misconfigured,
    /// The broker broke the protocol (the MTP `Error`).
    Error,
}

impl Report {
    /// Sets the MTP row's `Status` (`Up`, `Down`, `Error`); true when it changed.
    pub(crate) async fn mtp(&self, status: &str) -> bool {
        self.write(self.mtp_values(status)).await
    }

    /// The MTP row's `Status` (none for a controller's MTP row).
    fn mtp_values(&self, status: &str) -> Vec<(String, String)> {
        if self.row.is_empty() {
            return Vec::new();
        }
        vec![(format!("{}Status", self.row), status.to_owned())]
    }

    /// Sets the `Status` of the MQTT client's `Subscription.{i}.` rows: `(row, status)`.
    pub(crate) async fn subscriptions(&self, statuses: &[(String, &str)]) {
        let values = (statuses.iter())
            .map(|(row, status)| (format!("{row}Status"), (*status).to_owned()))
            .collect();
        self.write(values).await;
    }

    /// Sets the MQTT client's and the MTP row's `Status`, and on a CONNACK the broker's
    /// Response Information (`ResponseTopicDiscovered`).
    pub(crate) async fn mqtt(&self, status: MqttStatus, response_information: Option<&str>) {
        self.write(self.mqtt_values(status, response_information))
            .await;
    }

    fn mqtt_values(
        &self,
        status: MqttStatus,
        response_information: Option<&str>,
    ) -> Vec<(String, String)> {
        let (client_status, mtp_status) = match status {
            MqttStatus::Connecting => ("Connecting", "Down"),
            MqttStatus::Connected => ("Connected", "Up"),
            MqttStatus::Unreachable => ("Error_BrokerUnreachable", "Down"),
            MqttStatus::Refused => ("Error", "Error"),
            MqttStatus::Misconfigured => ("Error_Misconfigured", "Error"),
        };
        let mut values = self.mtp_values(mtp_status);
        if let Some(client) = &self.client {
            values.push((format!("{client}Status"), client_status.to_owned()));
            if status == MqttStatus::Connected {
                let info = response_information.unwrap_or_default().to_owned();
                values.push((format!("{client}ResponseInformation"), info.clone()));
                if !self.row.is_empty() {
                    values.push((format!("{}MQTT.ResponseTopicDiscovered", self.row), info));
                }
            }
        }
        values
    }

    /// Sets the STOMP connection's and the MTP row's `Status` (with the connection's
    /// `LastChangeDate` when its status changes), and on CONNECTED the broker's
    /// `subscribe-dest` (`DestinationFromServer`, empty when it named none).
    pub(crate) async fn stomp(&self, status: StompStatus, from_server: Option<&str>) {
        self.write(self.stomp_values(status, from_server)).await;
    }

    fn stomp_values(
        &self,
        status: StompStatus,
        from_server: Option<&str>,
    ) -> Vec<(String, String)> {
        let (connection_status, mtp_status) = match status {
            StompStatus::Connecting => ("Connecting", "Down"),
            StompStatus::Connected => ("Enabled", "Up"),
            StompStatus::Unreachable => ("ServerNotPresent", "Down"),
            StompStatus::AuthenticationFailed => ("Error_AuthenticationFailure", "Error"),
            StompStatus::Misconfigured => ("Error_Misconfigured", "Error"),
            StompStatus::Error => ("Error", "Error"),
        };
        let mut values = self.mtp_values(mtp_status);
        if let (Some(destination), false) = (from_server, self.row.is_empty()) {
            let path = format!("{}STOMP.DestinationFromServer", self.row);
            values.push((path, destination.to_owned()));
        }
        if let Some(connection) = &self.client {
            let path = format!("{connection}Status");
            let changed = self
                .engine
                .read(|store| text(store, &path) != connection_status);
            if let (true, Some(now)) = (changed, wall_clock()) {
                values.push((format!("{connection}LastChangeDate"), now.to_string()));
            }
            values.push((path, connection_status.to_owned()));
        }
        values
    }

    /// Writes those of `values` (path, value) that differ from the store, in one update;
    /// true when any did.
    pub(crate) async fn write(&self, values: Vec<(String, String)>) -> bool {
        let changed: Vec<_> = self.engine.read(|store| {
            values
                .into_iter()
                .filter(|(path, value)| text(store, path) != *value)
                .collect()
        });
        if changed.is_empty() {
            return false;
        }
        let written = self
            .engine
            .device_update(|txn| {
                for (path, value) in &changed {
                    txn.set(path, value)?;
                }
                Ok(())
            })
            .await;
        if let Err(error) = written {
            tracing::warn!(%error, row = self.row, "cannot write the MTP status");
        }
        true
    }
}

// ---------------------------------------------------------------------------------------------
// The supervisor

/// An MTP's task, boxed: one spawn serves every transport.
type Task = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// A running MTP: its spec (as started, or as last followed) and its stop switch.
struct Running {
    spec: Spec,
    stop: watch::Sender<bool>,
    /// Where the MQTT MTP takes the changes it follows without a restart.
    mqtt: Option<watch::Sender<MqttConfig>>,
}

impl Running {
    /// Hands `spec` to the running MTP when it follows it on its connection (an MQTT MTP
    /// whose CONNECT stays the same); true when it did.
    fn follow(&mut self, spec: &Spec) -> bool {
        let (Spec::Mqtt(new, client), Spec::Mqtt(old, running), Some(mqtt)) =
            (spec, &self.spec, &self.mqtt)
        else {
            return false;
        };
        if client != running || !new.same_connection(old) || mqtt.send(new.clone()).is_err() {
            return false;
        }
        self.spec = spec.clone();
        true
    }
}

/// Runs the MTPs the rows ask for; see the [module docs](self).
pub(crate) struct Supervisor {
    engine: Arc<Engine>,
    base: UspConfig,
    endpoint_id: String,
    trust: Option<Trust>,
    agent: mpsc::Sender<MtpInput>,
    network: NetworkUp,
    /// `--ws-listen` (or the factory listening address with port 0), for the first
    /// WebSocket server started.
    ws_listen: Option<SocketAddr>,
    running: LiteMap<String, Running>,
    tasks: JoinSet<()>,
    /// The MQTT clients' counts.
    mqtt_stats: Arc<MqttStats>,
    /// Where the MQTT clients save what their kept sessions hold ([`Self::with_state_dir`]).
    state_dir: Option<PathBuf>,
    /// The MQTT clients' open connections, by client row.
    mqtt_connections: Connections,
}

impl Supervisor {
    /// The supervisor of agent `endpoint_id`'s MTPs, reporting to `agent`. `base` is the
    /// configuration (file and flags) for what the rows do not hold; `ws_listen` is where the
    /// first WebSocket server listens instead of its row's port (then written to the row).
    pub(crate) fn new(
        engine: Arc<Engine>,
        base: UspConfig,
        endpoint_id: &str,
        trust: Option<Trust>,
        agent: mpsc::Sender<MtpInput>,
        network: NetworkUp,
        ws_listen: Option<SocketAddr>,
    ) -> Self {
        Self {
            engine,
            base,
            endpoint_id: endpoint_id.to_owned(),
            trust,
            agent,
            network,
            ws_listen,
            running: LiteMap::new(),
            tasks: JoinSet::new(),
            mqtt_stats: Arc::default(),
            state_dir: None,
            mqtt_connections: Connections::default(),
        }
    }

    /// Lists the MQTT clients' open connections in `connections`, for the bulk data reports
    /// PUBLISHed on them.
    pub(crate) fn with_mqtt_connections(mut self, connections: Connections) -> Self {
        self.mqtt_connections = connections;
        self
    }

    /// Counts the MQTT clients' packets into `stats` (served as their rows' `Stats.`).
    pub(crate) fn with_mqtt_stats(mut self, stats: Arc<MqttStats>) -> Self {
        self.mqtt_stats = stats;
        self
    }

    /// Keeps the MTPs' state across restarts in `state_dir`: the topic filters a broker's
    /// kept session holds ([`MqttMtp::with_session_file`]), in `mqtt-session-{i}.json` for
    /// `Device.MQTT.Client.{i}.`.
    pub(crate) fn with_state_dir(mut self, state_dir: &Path) -> Self {
        self.state_dir = Some(state_dir.to_owned());
        self
    }

    /// The file keeping the kept session of the MQTT client row `client`, if any.
    fn mqtt_session_file(&self, client: &str) -> Option<PathBuf> {
        self.mqtt_client_file(client, "mqtt-session", "json")
    }

    /// The Unix socket of the relay to the WebSocket of the MQTT client row `client`, if any
    /// ([`crate::mqtt_ws`]).
    fn mqtt_relay_socket(&self, client: &str) -> Option<PathBuf> {
        self.mqtt_client_file(client, "mqtt-ws", "sock")
    }

    /// `<state_dir>/<name>-{i}.<extension>` for the MQTT client row `client`, if any.
    fn mqtt_client_file(&self, client: &str, name: &str, extension: &str) -> Option<PathBuf> {
        let number = client.trim_end_matches('.').rsplit('.').next()?;
        Some(
            self.state_dir
                .as_ref()?
                .join(format!("{name}-{number}.{extension}")),
        )
    }

    /// Starts the MTPs of the rows, then follows the store's changes until `shutdown`.
    pub(crate) async fn run(
        mut self,
        mut device: mpsc::Receiver<DeviceEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        self.apply().await;
        if self.running.is_empty() {
            tracing::warn!("no USP MTP enabled: the agent cannot be reached");
        }
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                event = device.recv() => match event {
                    Some(DeviceEvent::Changed) => self.apply().await,
                    Some(DeviceEvent::Notice(..)) => {}
                    None => break,
                },
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
            }
        }
        for running in self.running.values() {
            let _ = running.stop.send(true);
        }
        while self.tasks.join_next().await.is_some() {}
    }

    /// Stops the MTPs whose rows changed or went, starts those that are new or changed, and
    /// writes the status of the rows that do not run.
    async fn apply(&mut self) {
        let missing = self.engine.read(missing_objects);
        if !missing.is_empty() {
            let created = self
                .engine
                .device_update(|txn| {
                    for object in &missing {
                        txn.create_object(object)?;
                    }
                    Ok(())
                })
                .await;
            match created {
                Ok(()) => tracing::info!(?missing, "MTP protocol objects created"),
                Err(error) => tracing::warn!(%error, "cannot create the MTP protocol objects"),
            }
        }
        let wanted = self.engine.read(|store| desired(store, &self.base));
        let mut stale = Vec::new();
        for (row, running) in &mut self.running {
            match wanted.get(row) {
                Some(Wanted::Run(spec)) if *spec == running.spec || running.follow(spec) => {}
                _ => stale.push(row.clone()),
            }
        }
        if !stale.is_empty() {
            self.flush().await;
        }
        for row in stale {
            if let Some(running) = self.running.remove(&row) {
                tracing::info!(row, "USP MTP stopped: its rows changed");
                let _ = running.stop.send(true);
            }
        }
        // A connection that runs for other rows (or its own) keeps its status.
        let serving: Vec<String> = (wanted.values())
            .filter_map(|want| match want {
                Wanted::Run(spec) => spec.connection().map(str::to_owned),
                _ => None,
            })
            .collect();
        for (row, want) in wanted {
            match want {
                Wanted::Run(spec) => {
                    if !self.running.contains_key(&row) {
                        self.start(row, spec).await;
                    }
                }
                Wanted::Off => {
                    let client = client_of(&self.engine, &row).filter(|c| !serving.contains(c));
                    let report = self.report(&row, client);
                    report.mtp("Down").await;
                    if let Some(client) = &report.client {
                        let table = format!("{client}Subscription.");
                        let subscriptions = self.engine.read(|store| rows(store, &table));
                        let mut values = unsubscribed(subscriptions);
                        values.push((format!("{client}Status"), "Disabled".into()));
                        report.write(values).await;
                    }
                }
                Wanted::Broken(why) => {
                    // An agent row's `Status`, or an MQTT client row's (keyed by itself).
                    let client = row.starts_with(MQTT_CLIENTS).then(|| row.clone());
                    let report = self.report(&row, client);
                    if report
                        .write(report.mqtt_values(MqttStatus::Misconfigured, None))
                        .await
                    {
                        tracing::error!(row, why, "USP MTP misconfigured");
                    }
                }
            }
        }
    }

    /// Waits (within [`FLUSH_WAIT`]) until the USP driver has queued the responses due, so
    /// that a connection being stopped sends them first.
    async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.agent.send(MtpInput::Flush(done)).await.is_ok() {
            let _ = tokio::time::timeout(FLUSH_WAIT, flushed).await;
        }
    }

    fn report(&self, row: &str, client: Option<String>) -> Report {
        Report {
            engine: self.engine.clone(),
            row: if row.starts_with(AGENT_MTPS) {
                row.to_owned()
            } else {
                String::new()
            },
            client,
            stats: Arc::default(),
        }
    }

    /// Starts the MTP of `row`. One that cannot start is kept as running (with its row's
    /// status `Error`) so that it is tried again only when its rows change.
    async fn start(&mut self, row: String, spec: Spec) {
        let (stop, stopped) = watch::channel(false);
        let eid = self.endpoint_id.clone();
        let mut spec = spec;
        let mut report = self.report(&row, None);
        let mut mqtt = None;
        // The status is written before the task runs, which may write a newer one.
        let (status, task): (_, Option<Task>) = match &mut spec {
            Spec::WsServer(config) => {
                if let Some(listen) = self.ws_listen.take() {
                    config.listen = listen;
                }
                match ws::WsServer::bind(config, &eid, self.trust.as_ref()).await {
                    Ok(server) => {
                        if let Ok(bound) = server.local_addr() {
                            config.listen = bound;
                        }
                        tracing::info!("USP agent {eid} listening on {}", server.url());
                        let mut status = report.mtp_values("Up");
                        let port = config.listen.port().to_string();
                        status.push((format!("{row}WebSocket.Port"), port));
                        let task = server.serve(self.agent.clone(), stopped);
                        (status, Some(Box::pin(task)))
                    }
                    Err(error) => {
                        tracing::error!(row, error, "USP WebSocket server MTP not started");
                        (report.mtp_values("Error"), None)
                    }
                }
            }
            Spec::Mqtt(config, client) => {
                report.client = Some(client.clone());
                report.stats = self.mqtt_stats.client(client);
                tracing::info!(
                    "{client} connecting to the MQTT broker {}:{} over {}",
                    config.host,
                    config.port,
                    config.transport_protocol()
                );
                // The USP driver, when an agent MTP row runs on the client.
                let agent = (!report.row.is_empty()).then(|| self.agent.clone());
                let (network, trust) = (self.network.clone(), self.trust.as_ref());
                let (follow, rows) = watch::channel(config.clone());
                mqtt = Some(follow);
                let report_to = report.clone();
                match MqttMtp::new(
                    rows, client, &eid, agent, network, stopped, trust, report_to,
                ) {
                    Ok(mtp) => {
                        let mtp = mtp
                            .with_session_file(self.mqtt_session_file(client))
                            .with_relay_socket(self.mqtt_relay_socket(client))
                            .with_connections(self.mqtt_connections.clone());
                        // Subscribed again only once the SUBACK comes. (Written here, not as
                        // the previous task stops, which may be after this one subscribed.)
                        let rows = config.row.subscriptions.iter().map(|s| s.row.clone());
                        let mut status = unsubscribed(rows);
                        status.extend(report.mqtt_values(MqttStatus::Connecting, None));
                        (status, Some(Box::pin(mtp.run())))
                    }
                    Err(error) => {
                        tracing::error!(row, error, "USP MQTT MTP not started");
                        (report.mqtt_values(MqttStatus::Misconfigured, None), None)
                    }
                }
            }
            Spec::Stomp(config, connection) => {
                report.client = Some(connection.clone());
                tracing::info!(
                    "USP agent {eid} connecting to the STOMP broker {}:{}",
                    config.host,
                    config.port
                );
                let (agent, network) = (self.agent.clone(), self.network.clone());
                let trust = self.trust.as_ref();
                let (config, report_to) = (config.clone(), report.clone());
                match StompMtp::new(
                    config, connection, &eid, agent, network, stopped, trust, report_to,
                ) {
                    Ok(mtp) => {
                        let status = report.stomp_values(StompStatus::Connecting, None);
                        (status, Some(Box::pin(mtp.run())))
                    }
                    Err(error) => {
                        tracing::error!(row, error, "USP STOMP MTP not started");
                        (report.stomp_values(StompStatus::Misconfigured, None), None)
                    }
                }
            }
            Spec::WsClient {
                controller,
                url,
                config,
            } => {
                tracing::info!("USP agent {eid} connecting to {controller} at {url}");
                let client = ws::WsClient::new(
                    config,
                    controller,
                    url,
                    &eid,
                    self.agent.clone(),
                    self.network.clone(),
                    stopped,
                    self.trust.clone(),
                );
                (Vec::new(), Some(Box::pin(client.run())))
            }
            Spec::UdsListen(path) => {
                let signer = self.trust.clone();
                match uds::UdsServer::bind(path, &eid, signer, self.agent.clone(), stopped) {
                    Ok(server) => {
                        tracing::info!("USP agent {eid} listening on the Unix socket {path}");
                        (report.mtp_values("Up"), Some(Box::pin(server.serve())))
                    }
                    Err(error) => {
                        tracing::error!(row, %error, "cannot listen on the Unix socket {path}");
                        (report.mtp_values("Error"), None)
                    }
                }
            }
            Spec::UdsConnect(path) => {
                tracing::info!("USP agent {eid} connecting to the Unix socket {path}");
                // Down until the task connects (it writes Up then).
                let task = uds::connect_loop(
                    path.clone(),
                    eid.clone(),
                    self.trust.clone(),
                    self.agent.clone(),
                    self.network.clone(),
                    stopped,
                    report.clone(),
                );
                (report.mtp_values("Down"), Some(Box::pin(task)))
            }
        };
        report.write(status).await;
        if let Some(task) = task {
            self.tasks.spawn(task);
        }
        self.running.insert(row, Running { spec, stop, mqtt });
    }
}

/// The MQTT client row an MQTT agent MTP row references (an MQTT client row is its own),
/// or the STOMP connection row of a STOMP one.
fn client_of(engine: &Engine, row: &str) -> Option<String> {
    if row.starts_with(MQTT_CLIENTS) {
        return Some(row.to_owned());
    }
    engine.read(
        |store| match text(store, &format!("{row}Protocol")).as_str() {
            "MQTT" => referenced(store, &format!("{row}MQTT.Reference"), MQTT_CLIENTS),
            "STOMP" => referenced(store, &format!("{row}STOMP.Reference"), STOMP_CONNECTIONS),
            _ => None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The MTPs of `usp`, seeded into the simulated device's factory store and read back.
    fn round_trip(usp: &UspConfig) -> LiteMap<String, Wanted> {
        desired(&seeded(usp, |_| ()).0, usp)
    }

    /// The simulated device's factory store with the MTPs of `usp` seeded, and what `more`
    /// returns, having changed it in the same transaction.
    fn seeded<T>(usp: &UspConfig, more: impl FnOnce(&mut Transaction<'_>) -> T) -> (Store, T) {
        let sim = hal::sim::SimDevice::new("SIM0001");
        let mut store = Store::new();
        let mut txn = store.transaction(tr181_model::store::Origin::Device);
        sim.hal().lifecycle.factory_defaults(&mut txn).unwrap();
        seed(&mut txn, usp).unwrap();
        let more = more(&mut txn);
        txn.commit().unwrap();
        (store, more)
    }

    #[test]
    fn the_factory_defaults_read_back_as_configured() {
        let mut usp: UspConfig = crate::config::file::parse(
            "[usp.websocket]\nlisten = \"127.0.0.1:9000\"\n\
             [usp.websocket_client.controllers]\n\"proto::ws\" = \"ws://127.0.0.1:8181/usp\"\n\
             [usp.mqtt]\nenable = true\nport = 1999\nversion = \"3.1.1\"\ntopic = \"usp/agent\"\n\
             tls = true\nwebsocket = true\n\
             [usp.mqtt.controllers]\n\"self::controller\" = \"usp/controller\"\n\
             [usp.stomp]\nenable = true\nport = 61614\nheartbeats = true\n\
             outgoing_heartbeat_ms = 500\ndestination = \"/queue/agent\"\n\
             [usp.stomp.controllers]\n\"self::controller\" = \"/queue/controller\"\n\
             [usp.uds]\nlisten = \"/tmp/agent.sock\"\n",
        )
        .unwrap()
        .usp;
        let wanted = round_trip(&usp);
        let mqtt = MqttConfig {
            controllers: usp.mqtt.controllers.clone(),
            ..usp.mqtt.clone()
        };
        usp.websocket_client.controllers.clear();
        let expected = LiteMap::from_iter([
            (
                "Device.LocalAgent.MTP.1.".to_owned(),
                Wanted::Run(Spec::WsServer(usp.websocket.clone())),
            ),
            (
                "Device.LocalAgent.MTP.2.".to_owned(),
                Wanted::Run(Spec::Mqtt(mqtt, "Device.MQTT.Client.1.".into())),
            ),
            (
                "Device.LocalAgent.MTP.3.".to_owned(),
                Wanted::Run(Spec::Stomp(
                    usp.stomp.clone(),
                    "Device.STOMP.Connection.1.".into(),
                )),
            ),
            (
                "Device.LocalAgent.MTP.4.".to_owned(),
                Wanted::Run(Spec::UdsListen("/tmp/agent.sock".into())),
            ),
            (
                "Device.LocalAgent.Controller.2.MTP.1.".to_owned(),
                Wanted::Run(Spec::WsClient {
                    controller: "proto::ws".into(),
                    url: "ws://127.0.0.1:8181/usp".into(),
                    config: usp.websocket_client.clone(),
                }),
            ),
        ]);
        assert_eq!(wanted, expected);
    }

    #[test]
    fn reconnect_waits_follow_the_rows() {
        let usp = crate::config::file::parse(
            "[usp.websocket_client.controllers]\n\"proto::ws\" = \"ws://127.0.0.1:8181/usp\"\n\
             [usp.mqtt]\nenable = true\ntopic = \"usp/agent\"\n\
             [usp.stomp]\nenable = true\ndestination = \"/queue/agent\"\n",
        )
        .unwrap()
        .usp;
        let ws = "Device.LocalAgent.Controller.2.MTP.1.";
        let rows = [
            ("Device.STOMP.Connection.1.ServerRetryInitialInterval", "10"),
            (
                "Device.STOMP.Connection.1.ServerRetryIntervalMultiplier",
                "3000",
            ),
            ("Device.STOMP.Connection.1.ServerRetryMaxInterval", "200"),
            ("Device.MQTT.Client.1.ConnectRetryTime", "3"),
            (
                "Device.MQTT.Client.1.ConnectRetryIntervalMultiplier",
                "1500",
            ),
            ("Device.MQTT.Client.1.ConnectRetryMaxInterval", "20"),
            (
                &format!("{ws}WebSocket.SessionRetryMinimumWaitInterval"),
                "7",
            ),
            (
                &format!("{ws}WebSocket.SessionRetryIntervalMultiplier"),
                "3000",
            ),
        ];
        let (store, ()) = seeded(&usp, |txn| {
            for (path, value) in rows {
                txn.set(path, value).unwrap();
            }
        });
        let wanted = desired(&store, &usp);
        let backoff = |row: &str| match wanted.get(row) {
            Some(Wanted::Run(Spec::Stomp(config, _))) => config.backoff(),
            Some(Wanted::Run(Spec::Mqtt(config, _))) => config.backoff(),
            Some(Wanted::Run(Spec::WsClient { config, .. })) => config.backoff(),
            other => panic!("{row}: {other:?}"),
        };
        let tenth = 7_000 * 3_u64.pow(9);
        // (row, reconnect, random number, wait in ms)
        let waits = [
            // STOMP: a random wait in [0, 10·3^(n−1)] s, 200 s when it draws more.
            ("Device.LocalAgent.MTP.3.", 1, 10_000, 10_000),
            ("Device.LocalAgent.MTP.3.", 1, 10_001, 0),
            ("Device.LocalAgent.MTP.3.", 3, 90_000, 90_000),
            ("Device.LocalAgent.MTP.3.", 3, 90_001, 0),
            ("Device.LocalAgent.MTP.3.", 4, 199_999, 199_999),
            ("Device.LocalAgent.MTP.3.", 4, 250_000, 200_000),
            // MQTT: a random wait in [3·1.5^(n−1), 3·1.5^n] s, 20 s when it draws more.
            ("Device.LocalAgent.MTP.2.", 1, 0, 3_000),
            ("Device.LocalAgent.MTP.2.", 1, 1_500, 4_500),
            ("Device.LocalAgent.MTP.2.", 5, 0, 15_187),
            ("Device.LocalAgent.MTP.2.", 5, 4_812, 19_999),
            ("Device.LocalAgent.MTP.2.", 5, 4_813, 20_000),
            // WebSocket: a random wait in [7·3^(n−1), 7·3^n] s, n at most 10, no maximum.
            (ws, 1, 0, 7_000),
            (ws, 1, 14_000, 21_000),
            (ws, 1, 14_001, 7_000),
            (ws, 10, 0, tenth),
            (ws, u32::MAX, 0, tenth),
            (ws, 10, 2 * tenth, 3 * tenth),
        ];
        for (row, attempt, random, wait) in waits {
            let got = backoff(row).wait(attempt, random);
            assert_eq!(got, Duration::from_millis(wait), "{row} {attempt} {random}");
        }
    }

    #[test]
    fn one_stomp_connection_per_connection_row_in_use() {
        let usp = crate::config::file::parse(
            "[usp.stomp]\nenable = true\ndestination = \"/queue/a\"\n\
             [usp.stomp.controllers]\n\"self::controller\" = \"/queue/ctrl-a\"\n",
        )
        .unwrap()
        .usp;
        let (store, (second, third)) = seeded(&usp, |txn| {
            let stomp_mtp = |txn: &mut Transaction<'_>, table: &str, values: &[(&str, &str)]| {
                add_mtp(txn, table, true, "STOMP", values).unwrap()
            };
            // A second broker with its agent row (Device.LocalAgent.MTP.3.) and a controller.
            let second = add_row(
                txn,
                STOMP_CONNECTIONS,
                &[("Enable", "true"), ("Host", "broker-b")],
            )
            .unwrap();
            let second_ref = second.trim_end_matches('.');
            let values = [("Reference", second_ref), ("Destination", "/queue/b")];
            stomp_mtp(txn, AGENT_MTPS, &values);
            // A second agent row on the first connection (MTP.4.), which subscribes once.
            let first_ref = "Device.STOMP.Connection.1";
            let values = [("Reference", first_ref), ("Destination", "/queue/c")];
            stomp_mtp(txn, AGENT_MTPS, &values);
            let b = controller_row(txn, "proto::b").unwrap();
            let values = [("Reference", second_ref), ("Destination", "/queue/ctrl-b")];
            stomp_mtp(txn, &format!("{b}MTP."), &values);
            // A third broker that only a controller's row names, and a row naming none.
            let third = add_row(
                txn,
                STOMP_CONNECTIONS,
                &[("Enable", "true"), ("Host", "broker-c")],
            )
            .unwrap();
            let c = controller_row(txn, "proto::c").unwrap();
            let values = [
                ("Reference", third.trim_end_matches('.')),
                ("Destination", "/queue/ctrl-c"),
            ];
            stomp_mtp(txn, &format!("{c}MTP."), &values);
            let d = controller_row(txn, "proto::d").unwrap();
            stomp_mtp(
                txn,
                &format!("{d}MTP."),
                &[("Destination", "/queue/ctrl-d")],
            );
            (second, third)
        });

        let wanted = desired(&store, &usp);
        let stomp = |row: &str| match wanted.get(row) {
            Some(Wanted::Run(Spec::Stomp(config, connection))) => (
                config.host.clone(),
                config.destination.clone(),
                connection.clone(),
                config.controllers.clone(),
            ),
            other => panic!("{row}: {other:?}"),
        };
        let controllers = |pairs: &[(&str, &str)]| {
            (pairs.iter())
                .map(|(id, to)| ((*id).to_owned(), (*to).to_owned()))
                .collect::<BTreeMap<_, _>>()
        };
        let first = "Device.STOMP.Connection.1.".to_owned();
        assert_eq!(
            stomp("Device.LocalAgent.MTP.2."),
            (
                "127.0.0.1".into(),
                "/queue/a".into(),
                first.clone(),
                controllers(&[
                    ("proto::d", "/queue/ctrl-d"),
                    ("self::controller", "/queue/ctrl-a")
                ]),
            )
        );
        assert_eq!(
            stomp("Device.LocalAgent.MTP.3."),
            (
                "broker-b".into(),
                "/queue/b".into(),
                second.clone(),
                controllers(&[("proto::b", "/queue/ctrl-b")]),
            )
        );
        let row = wanted.get("Device.LocalAgent.MTP.4.");
        assert!(
            matches!(row, Some(Wanted::Broken(why)) if why.contains("MTP.2.")),
            "{row:?}"
        );
        assert_eq!(
            stomp(&third),
            (
                "broker-c".into(),
                String::new(),
                third.clone(),
                controllers(&[("proto::c", "/queue/ctrl-c")]),
            )
        );

        // Each controller is routed on its own connection; the driver's link is the row.
        let expected = [
            ("self::controller", first.as_str(), "/queue/ctrl-a"),
            ("proto::b", &second, "/queue/ctrl-b"),
            ("proto::c", &third, "/queue/ctrl-c"),
        ];
        assert_routed(&wanted, MtpKind::Stomp, &expected);
    }

    /// Checks that the MTPs `wanted` route each controller of `expected` (Endpoint ID,
    /// connection row, destination) over `kind` on that connection.
    fn assert_routed(
        wanted: &LiteMap<String, Wanted>,
        kind: MtpKind,
        expected: &[(&str, &str, &str)],
    ) {
        let routes: BTreeMap<_, _> = routes(wanted).into_iter().collect();
        for (controller, connection, destination) in expected {
            let mtp = &routes[*controller];
            assert_eq!(mtp.kind, kind);
            let split = split_address(&mtp.reply_to);
            assert_eq!(split, (*connection, *destination), "{controller}");
        }
    }

    #[test]
    fn one_mqtt_connection_per_enabled_client_row() {
        let usp = crate::config::file::parse(
            "[usp.mqtt]\nenable = true\ntopic = \"usp/a\"\n\
             [usp.mqtt.controllers]\n\"self::controller\" = \"usp/ctrl-a\"\n",
        )
        .unwrap()
        .usp;
        let (store, (second, idle, off)) = seeded(&usp, |txn| {
            let client = |txn: &mut Transaction<'_>, id: &str| {
                let values = [
                    ("Enable", "true"),
                    ("Name", id),
                    ("BrokerAddress", "broker-b"),
                    ("ProtocolVersion", "5.0"),
                    ("TransportProtocol", "TCP/IP"),
                    ("ClientID", id),
                ];
                add_row(txn, MQTT_CLIENTS, &values).unwrap()
            };
            let mqtt_mtp = |txn: &mut Transaction<'_>, client: &str, topic: &str| {
                let values = [
                    ("Reference", client.trim_end_matches('.')),
                    ("ResponseTopicConfigured", topic),
                ];
                add_mtp(txn, AGENT_MTPS, true, "MQTT", &values).unwrap()
            };
            // A second client with its agent row (MTP.3.) and a controller of that row.
            let second = client(txn, "b");
            mqtt_mtp(txn, &second, "usp/b");
            let b = controller_row(txn, "proto::b").unwrap();
            let values = [
                ("Topic", "usp/ctrl-b"),
                ("AgentMTPReference", "Device.LocalAgent.MTP.3"),
            ];
            add_mtp(txn, &format!("{b}MTP."), true, "MQTT", &values).unwrap();
            // A second agent row on the first client (MTP.4.), which has one own topic.
            mqtt_mtp(txn, "Device.MQTT.Client.1.", "usp/c");
            // A client no agent row uses, and a disabled one.
            let idle = client(txn, "idle");
            let off = add_row(txn, MQTT_CLIENTS, &[("Enable", "false"), ("Name", "off")]);
            let off = off.unwrap();
            (second, idle, off)
        });

        let wanted = desired(&store, &usp);
        let mqtt = |row: &str| match wanted.get(row) {
            Some(Wanted::Run(Spec::Mqtt(config, client))) => (
                client.clone(),
                config.client_id.clone(),
                config.topic.clone(),
                config.controllers.clone(),
            ),
            other => panic!("{row}: {other:?}"),
        };
        let first = "Device.MQTT.Client.1.".to_owned();
        let controllers = |id: &str, topic: &str| BTreeMap::from([(id.into(), topic.into())]);
        assert_eq!(
            mqtt("Device.LocalAgent.MTP.2."),
            (
                first.clone(),
                String::new(),
                "usp/a".into(),
                controllers("self::controller", "usp/ctrl-a"),
            )
        );
        assert_eq!(
            mqtt("Device.LocalAgent.MTP.3."),
            (
                second.clone(),
                "b".into(),
                "usp/b".into(),
                controllers("proto::b", "usp/ctrl-b"),
            )
        );
        let row = wanted.get("Device.LocalAgent.MTP.4.");
        assert!(
            matches!(row, Some(Wanted::Broken(why)) if why.contains("MTP.2.")),
            "{row:?}"
        );
        // Unused, the client connects all the same, keyed by its own row, without a topic.
        let unused = (idle.clone(), "idle".into(), String::new(), BTreeMap::new());
        assert_eq!(mqtt(&idle), unused);
        assert_eq!(wanted.get(&off), Some(&Wanted::Off));
        assert!(!wanted.contains_key(&first) && !wanted.contains_key(&second));

        // Each controller is routed on its own client row's connection (the driver's link).
        let expected = [
            ("self::controller", first.as_str(), "usp/ctrl-a"),
            ("proto::b", &second, "usp/ctrl-b"),
        ];
        assert_routed(&wanted, MtpKind::Mqtt, &expected);
    }

    #[test]
    fn an_address_names_its_connection_and_any_destination() {
        let row = "Device.STOMP.Connection.2.";
        for destination in ["/queue/a", "/queue/with space: and\\colon", ""] {
            let reply_to = address(row, destination);
            assert_eq!(split_address(&reply_to), (row, destination), "{reply_to:?}");
        }
    }

    #[test]
    fn a_disabled_server_is_off_and_bad_rows_are_broken() {
        let mut usp = UspConfig::default();
        usp.websocket.enable = false;
        let wanted = round_trip(&usp);
        assert_eq!(
            wanted.get("Device.LocalAgent.MTP.1."),
            Some(&Wanted::Off),
            "{wanted:?}"
        );
        let mut usp = UspConfig::default();
        usp.websocket.cert_file = Some("cert.pem".into());
        let mut wanted = round_trip(&usp);
        // Encryption without a key file cannot run.
        let row = wanted.remove("Device.LocalAgent.MTP.1.");
        assert!(matches!(row, Some(Wanted::Broken(_))), "{row:?}");
    }
}
