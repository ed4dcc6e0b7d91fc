//! A real RabbitMQ node of the test's own on free loopback ports (its own node name,
//! configuration and data directory; `.ci/peers` installs the Debian package): with its STOMP
//! plugin ([`RabbitMq::start`]), or with its MQTT and Web MQTT plugins, for MQTT over
//! WebSockets ([`RabbitMq::start_web_mqtt`]).

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::free_port;

/// How long RabbitMQ may take to start (about 10 s on a calm machine).
const BROKER_START: Duration = Duration::from_secs(90);

/// A RabbitMQ node of the test's own, killed on drop.
pub(crate) struct RabbitMq {
    child: Child,
    dir: PathBuf,
    /// The loopback port of its STOMP listener, or of its MQTT one.
    pub(crate) port: u16,
    /// Every port it listens on, waited for at start.
    ports: Vec<u16>,
    dist_port: u16,
}

/// The Web MQTT listeners of a node [`RabbitMq::start_web_mqtt`] started: MQTT over
/// WebSockets on RabbitMQ's path `/ws`.
pub(crate) struct WebMqtt {
    /// The plain (`ws://`) listener's port.
    pub(crate) ws_port: u16,
    /// The TLS (`wss://`) listener's port.
    pub(crate) wss_port: u16,
}

/// RabbitMQ's server script; a test that needs it fails when it is missing.
fn rabbitmq_server() -> PathBuf {
    let path = PathBuf::from("/usr/lib/rabbitmq/bin/rabbitmq-server");
    assert!(
        path.is_file(),
        "rabbitmq-server is not installed: run .ci/peers (it installs the Debian package) \
         before the RabbitMQ end-to-end tests"
    );
    path
}

impl RabbitMq {
    /// Starts a node with its STOMP listener on a free loopback port (its files in `dir`)
    /// and waits until it accepts connections.
    pub(crate) async fn start(dir: &Path) -> Self {
        let port = free_port();
        let listeners = format!("stomp.listeners.tcp.1 = 127.0.0.1:{port}\n");
        Self::configure(dir, "rabbitmq_stomp", &listeners);
        Self::launch(dir, port, vec![port], free_port()).await
    }

    /// Starts a node (its files in `dir`) with its MQTT 3.1.1 listener on a free loopback
    /// port, and MQTT over WebSockets on two others: plain, and TLS presenting `certs`'s
    /// `cert.pem` (see [`super::tls::make_certificates`]); waits until it accepts
    /// connections on all three.
    pub(crate) async fn start_web_mqtt(dir: &Path, certs: &Path) -> (Self, WebMqtt) {
        let (port, ws_port, wss_port) = (free_port(), free_port(), free_port());
        let listeners = format!(
            "mqtt.listeners.tcp.1 = 127.0.0.1:{port}\n\
             web_mqtt.tcp.ip = 127.0.0.1\nweb_mqtt.tcp.port = {ws_port}\n\
             web_mqtt.ssl.ip = 127.0.0.1\nweb_mqtt.ssl.port = {wss_port}\n\
             web_mqtt.ssl.certfile = {}\nweb_mqtt.ssl.keyfile = {}\n\
             web_mqtt.ssl.cacertfile = {}\n",
            certs.join("cert.pem").display(),
            certs.join("key.pem").display(),
            certs.join("ca.pem").display()
        );
        Self::configure(dir, "rabbitmq_web_mqtt", &listeners);
        let ports = vec![port, ws_port, wss_port];
        let broker = Self::launch(dir, port, ports, free_port()).await;
        (broker, WebMqtt { ws_port, wss_port })
    }

    /// Kills the node; [`Stopped::start`] brings it back on the same ports and data.
    pub(crate) fn kill(self) -> Stopped {
        Stopped {
            dir: self.dir.clone(),
            port: self.port,
            ports: self.ports.clone(),
            dist_port: self.dist_port,
        }
    }

    /// Writes the node's configuration in `dir`: no AMQP listener, `listeners`, the one
    /// plugin (with those it needs). Its default user is the loopback-only guest.
    fn configure(dir: &Path, plugin: &str, listeners: &str) {
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!(
                "listeners.tcp = none\n{listeners}\
                 log.console = true\nlog.console.level = warning\nlog.file = false\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("enabled_plugins"), format!("[{plugin}].\n")).unwrap();
    }

    /// Starts the node [`Self::configure`] set up in `dir` and waits until it listens on
    /// every one of `ports`.
    async fn launch(dir: &Path, port: u16, ports: Vec<u16>, dist_port: u16) -> Self {
        // Its own process group: the script starts the Erlang VM as a child, and both go.
        let child = Command::new(rabbitmq_server())
            .process_group(0)
            // Where a killed node's Mnesia core dump goes.
            .current_dir(dir)
            // Its Erlang cookie goes to $HOME.
            .env("HOME", dir)
            .env("RABBITMQ_NODENAME", format!("rabbit{port}@localhost"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_PID_FILE", dir.join("rabbitmq.pid"))
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start rabbitmq-server");
        let mut broker = Self {
            child,
            dir: dir.to_owned(),
            port,
            ports,
            dist_port,
        };
        let deadline = Instant::now() + BROKER_START;
        for port in broker.ports.clone() {
            while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
                if let Some(status) = broker.child.try_wait().unwrap() {
                    panic!("rabbitmq-server exited at start: {status}");
                }
                assert!(
                    Instant::now() < deadline,
                    "RabbitMQ did not listen on port {port}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        broker
    }
}

/// A killed node, to start again.
pub(crate) struct Stopped {
    dir: PathBuf,
    port: u16,
    ports: Vec<u16>,
    dist_port: u16,
}

impl Stopped {
    /// Starts the node again on its ports and data.
    pub(crate) async fn start(self) -> RabbitMq {
        RabbitMq::launch(&self.dir, self.port, self.ports, self.dist_port).await
    }
}

impl Drop for RabbitMq {
    fn drop(&mut self) {
        // The whole group (the script's pid is the group's id); epmd, which RabbitMQ starts
        // as a daemon of its own, stays for the next node.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}
