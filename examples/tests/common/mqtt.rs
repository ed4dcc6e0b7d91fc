//! A real mosquitto broker on a free loopback port, and a USP controller's MQTT link built on
//! rumqttc (MQTT 5 or 3.1.1), for the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rumqttc::v5;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::{Controller, Link, WAIT, free_port};

/// A mosquitto process with its own configuration, killed on drop.
pub(crate) struct Mosquitto {
    child: Child,
    /// The loopback port it listens on.
    pub(crate) port: u16,
}

/// The mosquitto binary; a test that needs it fails when it is missing.
fn mosquitto_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("mosquitto"))
            .find(|candidate| candidate.is_file())
    });
    on_path
        .or_else(|| Some(PathBuf::from("/usr/sbin/mosquitto")).filter(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!(
                "mosquitto is not installed: run .ci/peers (it installs the Debian package) \
                 before the MQTT end-to-end tests"
            )
        })
}

impl Mosquitto {
    /// Starts mosquitto on a free loopback port (configuration in `dir`) and waits until it
    /// accepts connections.
    pub(crate) async fn start(dir: &Path) -> Self {
        Self::start_on(dir, free_port()).await
    }

    /// Starts mosquitto on loopback `port` (configuration in `dir`) and waits until it
    /// accepts connections.
    pub(crate) async fn start_on(dir: &Path, port: u16) -> Self {
        Self::start_with(dir, port, None, "").await
    }

    /// Starts mosquitto on a free loopback port with `options` (lines of `mosquitto.conf`
    /// for its listener, such as `max_qos 1`) and waits until it accepts connections.
    pub(crate) async fn start_with_options(dir: &Path, options: &str) -> Self {
        Self::start_with(dir, free_port(), None, options).await
    }

    /// Starts mosquitto with a plain listener on a free loopback port and a TLS listener
    /// presenting `certs`'s `cert.pem` (see [`super::tls::make_certificates`]) on another,
    /// which requires a client certificate signed by `certs`'s `ca.pem`; returns the broker
    /// and the TLS port.
    /// Run as root, mosquitto reads them as its own user: `dir`, `certs` and the files are
    /// made readable to all (the test's throwaway key).
    pub(crate) async fn start_tls(dir: &Path, certs: &Path) -> (Self, u16) {
        use std::os::unix::fs::PermissionsExt as _;
        for (path, mode) in [
            (dir.to_owned(), 0o755),
            (certs.to_owned(), 0o755),
            (certs.join("cert.pem"), 0o644),
            (certs.join("key.pem"), 0o644),
            (certs.join("ca.pem"), 0o644),
        ] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let tls_port = free_port();
        let broker = Self::start_with(dir, free_port(), Some((tls_port, certs)), "").await;
        (broker, tls_port)
    }

    /// Starts mosquitto on loopback `port` with `options` for that listener, and on `tls` (a
    /// port and the directory of the server certificate) if given, and waits until it accepts
    /// connections on every port.
    async fn start_with(dir: &Path, port: u16, tls: Option<(u16, &Path)>, options: &str) -> Self {
        let binary = mosquitto_binary();
        let conf = dir.join("mosquitto.conf");
        let mut text = format!(
            "allow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\n\
             log_type warning\nlistener {port} 127.0.0.1\n{options}"
        );
        let mut ports = vec![port];
        if let Some((tls_port, certs)) = tls {
            text.push_str(&format!(
                "listener {tls_port} 127.0.0.1\ncertfile {}\nkeyfile {}\ncafile {}\n\
                 require_certificate true\n",
                certs.join("cert.pem").display(),
                certs.join("key.pem").display(),
                certs.join("ca.pem").display()
            ));
            ports.push(tls_port);
        }
        std::fs::write(&conf, text).unwrap();
        let child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start mosquitto");
        let mut broker = Self { child, port };
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let mut listening = true;
            for port in &ports {
                listening &= TcpStream::connect(("127.0.0.1", *port)).await.is_ok();
            }
            if listening {
                return broker;
            }
            if let Some(status) = broker.child.try_wait().unwrap() {
                panic!("mosquitto exited at start: {status}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "mosquitto did not listen on ports {ports:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Mosquitto {
    /// Freezes the broker (SIGSTOP): its connections stay open, nothing is answered.
    pub(crate) fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a [paused](Self::pause) broker run again (SIGCONT).
    pub(crate) fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(signal)
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal}");
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes the agent's configuration file in `dir`: the MQTT MTP towards the broker on
/// `port` with `version` ("5.0" or "3.1.1"), its own topic, `self::controller`'s topic, and
/// short reconnect waits.
pub(crate) fn agent_config(
    dir: &Path,
    port: u16,
    version: &str,
    agent_topic: &str,
    controller_topic: &str,
) -> PathBuf {
    let path = dir.join("cpe-agent.toml");
    std::fs::write(
        &path,
        format!(
            "[usp.mqtt]\nenable = true\nport = {port}\nversion = \"{version}\"\n\
             topic = \"{agent_topic}\"\nkeep_alive_s = 10\nconnect_retry_s = 1\n\
             connect_retry_max_s = 2\n\
             [usp.mqtt.controllers]\n\"self::controller\" = \"{controller_topic}\"\n"
        ),
    )
    .unwrap();
    path
}

/// One PUBLISH the controller received.
#[derive(Debug)]
pub(crate) struct Received {
    /// Its topic name.
    pub(crate) topic: String,
    /// The Record.
    pub(crate) payload: Vec<u8>,
    /// MQTT 5 Response Topic.
    pub(crate) response_topic: Option<String>,
    /// MQTT 5 Content Type.
    pub(crate) content_type: Option<String>,
    /// The QoS it was delivered at.
    pub(crate) qos: u8,
    /// MQTT 5 User Properties.
    pub(crate) user_properties: Vec<(String, String)>,
    /// The RETAIN flag: a retained message the broker kept for a new subscriber.
    pub(crate) retain: bool,
}

/// Every PUBLISH an MQTT controller received, in order.
pub(crate) fn received(ctrl: &Controller) -> &[Received] {
    match &ctrl.link {
        Link::Mqtt(link) => &link.received,
        Link::WebSocket(_) | Link::Stomp(_) | Link::Uds(_) => unreachable!(),
    }
}

/// The MQTT protocol version the controller speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    V311,
    V5,
}

enum Client {
    V311(rumqttc::AsyncClient),
    V5(v5::AsyncClient),
}

/// A controller's MQTT connection: it subscribes to its own topic and publishes Records to
/// the agent's topic, naming its own topic as the reply-to.
pub(crate) struct MqttLink {
    client: Client,
    rx: mpsc::UnboundedReceiver<Received>,
    /// Where the agent listens.
    pub(crate) agent_topic: String,
    /// Where the controller listens.
    pub(crate) own_topic: String,
    /// Every PUBLISH received, in order (kept for assertions on their properties).
    pub(crate) received: Vec<Received>,
    /// Whether PUBLISHes name the controller's topic as the reply-to (true unless a test
    /// clears it: the agent must then answer on the topic configured for the controller).
    pub(crate) names_reply_to: bool,
}

impl MqttLink {
    /// Connects to the broker on `port` and waits for its SUBACK.
    pub(crate) async fn connect(
        port: u16,
        version: Version,
        client_id: &str,
        agent_topic: &str,
        own_topic: &str,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        let client = match version {
            Version::V5 => {
                let filter = (own_topic, QoS::AtLeastOnce);
                Client::V5(subscribe_v5(port, client_id, filter, tx, subscribed_tx).await)
            }
            Version::V311 => {
                let mut options = rumqttc::MqttOptions::new(client_id, "127.0.0.1", port);
                options.set_max_packet_size(2 * 1024 * 1024, 2 * 1024 * 1024);
                let (client, events) = rumqttc::AsyncClient::new(options, 64);
                client
                    .subscribe(format!("{own_topic}/#"), rumqttc::QoS::AtLeastOnce)
                    .await
                    .unwrap();
                tokio::spawn(pump(Events::V311(Box::new(events)), tx, subscribed_tx));
                Client::V311(client)
            }
        };
        tokio::time::timeout(WAIT, subscribed)
            .await
            .expect("SUBACK in time")
            .unwrap();
        Self {
            client,
            rx,
            agent_topic: agent_topic.to_owned(),
            own_topic: own_topic.to_owned(),
            received: Vec::new(),
            names_reply_to: true,
        }
    }

    /// Publishes a Record to the agent: MQTT 5 with Response Topic and Content Type, 3.1.1
    /// with `/reply-to=` in the topic name (unless [`Self::names_reply_to`] is cleared).
    pub(crate) async fn send(&mut self, bytes: Vec<u8>) {
        match &self.client {
            Client::V5(client) => {
                let properties = PublishProperties {
                    response_topic: self.names_reply_to.then(|| self.own_topic.clone()),
                    content_type: Some("usp.msg".into()),
                    ..PublishProperties::default()
                };
                client
                    .publish_with_properties(
                        self.agent_topic.clone(),
                        QoS::AtLeastOnce,
                        false,
                        bytes,
                        properties,
                    )
                    .await
                    .unwrap();
            }
            Client::V311(client) => {
                let topic = if self.names_reply_to {
                    format!(
                        "{}/reply-to={}",
                        self.agent_topic,
                        self.own_topic.replace('/', "%2F")
                    )
                } else {
                    self.agent_topic.clone()
                };
                client
                    .publish(topic, rumqttc::QoS::AtLeastOnce, false, bytes)
                    .await
                    .unwrap();
            }
        }
    }

    /// The next Record published to the controller, or `None` when the link died.
    pub(crate) async fn next(&mut self) -> Option<Vec<u8>> {
        let received = self.rx.recv().await?;
        let payload = received.payload.clone();
        self.received.push(received);
        Some(payload)
    }
}

/// Connects an MQTT 5 client to the broker on `port` as `client_id` and subscribes to
/// `filter` at its QoS; the event loop [`pump`]s into `tx` and `subscribed`.
async fn subscribe_v5(
    port: u16,
    client_id: &str,
    (filter, qos): (&str, QoS),
    tx: mpsc::UnboundedSender<Received>,
    subscribed: tokio::sync::oneshot::Sender<()>,
) -> v5::AsyncClient {
    let mut options = v5::MqttOptions::new(client_id, "127.0.0.1", port);
    options.set_max_packet_size(Some(2 * 1024 * 1024));
    let (client, events) = v5::AsyncClient::new(options, 64);
    client.subscribe(filter, qos).await.unwrap();
    tokio::spawn(pump(Events::V5(Box::new(events)), tx, subscribed));
    client
}

/// An MQTT 5 client subscribed to one topic filter at QoS 2, as a bulk data collector is.
pub(crate) struct Subscriber {
    _client: v5::AsyncClient,
    rx: mpsc::UnboundedReceiver<Received>,
}

impl Subscriber {
    /// Connects to the broker on `port` as `client_id`, subscribes to `filter` and waits for
    /// the SUBACK.
    pub(crate) async fn connect(port: u16, client_id: &str, filter: &str) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        let filter = (filter, QoS::ExactlyOnce);
        let client = subscribe_v5(port, client_id, filter, tx, subscribed_tx).await;
        tokio::time::timeout(WAIT, subscribed)
            .await
            .expect("SUBACK in time")
            .unwrap();
        Self {
            _client: client,
            rx,
        }
    }

    /// The next PUBLISH received, within [`WAIT`].
    pub(crate) async fn next(&mut self) -> Received {
        self.try_next().await.expect("a PUBLISH in time")
    }

    /// The next PUBLISH received, or `None` when none came within [`WAIT`].
    pub(crate) async fn try_next(&mut self) -> Option<Received> {
        let received = tokio::time::timeout(WAIT, self.rx.recv()).await.ok()?;
        Some(received.expect("the subscriber's link is up"))
    }
}

/// What the controller's event loop saw.
enum Polled {
    SubAck,
    Publish(Received),
    Other,
}

/// Either version's event loop.
enum Events {
    V311(Box<rumqttc::EventLoop>),
    V5(Box<v5::EventLoop>),
}

impl Events {
    async fn poll(&mut self) -> Result<Polled, String> {
        match self {
            Self::V5(events) => match events.poll().await.map_err(|e| e.to_string())? {
                v5::Event::Incoming(Packet::SubAck(_)) => Ok(Polled::SubAck),
                v5::Event::Incoming(Packet::Publish(publish)) => {
                    let properties = publish.properties.unwrap_or_default();
                    Ok(Polled::Publish(Received {
                        topic: String::from_utf8_lossy(&publish.topic).into_owned(),
                        payload: publish.payload.to_vec(),
                        response_topic: properties.response_topic,
                        content_type: properties.content_type,
                        qos: publish.qos as u8,
                        user_properties: properties.user_properties,
                        retain: publish.retain,
                    }))
                }
                _ => Ok(Polled::Other),
            },
            Self::V311(events) => match events.poll().await.map_err(|e| e.to_string())? {
                rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) => Ok(Polled::SubAck),
                rumqttc::Event::Incoming(rumqttc::Packet::Publish(publish)) => {
                    Ok(Polled::Publish(Received {
                        topic: publish.topic,
                        payload: publish.payload.to_vec(),
                        response_topic: None,
                        content_type: None,
                        qos: publish.qos as u8,
                        user_properties: Vec::new(),
                        retain: publish.retain,
                    }))
                }
                _ => Ok(Polled::Other),
            },
        }
    }
}

/// Runs the event loop: reports the first SUBACK and passes PUBLISHes on.
async fn pump(
    mut events: Events,
    tx: mpsc::UnboundedSender<Received>,
    subscribed: tokio::sync::oneshot::Sender<()>,
) {
    let mut subscribed = Some(subscribed);
    loop {
        match events.poll().await {
            Ok(Polled::SubAck) => {
                if let Some(subscribed) = subscribed.take() {
                    let _ = subscribed.send(());
                }
            }
            Ok(Polled::Publish(received)) => {
                if tx.send(received).is_err() {
                    return;
                }
            }
            Ok(Polled::Other) => {}
            Err(error) => {
                eprintln!("controller's MQTT link lost: {error}");
                return;
            }
        }
    }
}

/// Connects to the broker on `port` as `client_id` over MQTT 5 with Clean Start 0, taking
/// over the session a client of that id holds (the broker disconnects that client), and
/// leaves, the broker keeping the session.
pub(crate) async fn take_over_session(port: u16, client_id: &str) {
    let mut options = v5::MqttOptions::new(client_id, "127.0.0.1", port);
    options
        .set_clean_start(false)
        .set_session_expiry_interval(Some(300));
    let (client, mut events) = v5::AsyncClient::new(options, 8);
    let left = async {
        loop {
            match events.poll().await {
                Ok(v5::Event::Incoming(Packet::ConnAck(connack))) => {
                    assert!(connack.session_present, "no session to take over");
                    client.disconnect().await.unwrap();
                }
                Ok(v5::Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                Ok(_) => {}
                // Taken over in turn by the reconnecting owner.
                Err(_) => return,
            }
        }
    };
    tokio::time::timeout(WAIT, left)
        .await
        .expect("the session taken over in time");
}

/// Accepts one connection and reads its CONNECT packet: (protocol level, whole packet).
pub(crate) async fn read_connect(listener: &TcpListener) -> (TcpStream, u8, Vec<u8>) {
    let (mut stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("the agent connects in time")
        .unwrap();
    let mut packet = vec![0; 2];
    stream.read_exact(&mut packet).await.unwrap();
    assert_eq!(packet[0], 0x10, "a CONNECT packet");
    // The remaining length is a varint of at most 4 bytes.
    let (mut length, mut shift) = (0_usize, 0);
    while {
        let byte = *packet.last().unwrap();
        length |= usize::from(byte & 0x7f) << shift;
        shift += 7;
        byte & 0x80 != 0
    } {
        let mut next = [0];
        stream.read_exact(&mut next).await.unwrap();
        packet.push(next[0]);
    }
    let start = packet.len();
    packet.resize(start + length, 0);
    stream.read_exact(&mut packet[start..]).await.unwrap();
    assert_eq!(&packet[start..start + 6], b"\x00\x04MQTT");
    let level = packet[start + 6];
    (stream, level, packet)
}
