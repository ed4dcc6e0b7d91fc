//! A real RabbitMQ broker with its STOMP plugin on free loopback ports (its own node name,
//! configuration and data directory), and a USP controller's STOMP link built on usp-core's
//! sans-IO STOMP client, for the end-to-end tests. The broker parses both sides' frames, so
//! the agent's and the controller's share no unchecked assumption.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use usp_core::mtp::stomp::client::{Client, ClientConfig, Event};

use super::{CTRL, WAIT, free_port};

/// How long RabbitMQ may take to start (about 10 s on a calm machine).
const BROKER_START: Duration = Duration::from_secs(90);

/// A RabbitMQ node of the test's own, killed on drop.
pub(crate) struct RabbitMq {
    child: Child,
    dir: PathBuf,
    /// The loopback port of its STOMP listener.
    pub(crate) port: u16,
    dist_port: u16,
}

/// RabbitMQ's server script; a test that needs it fails when it is missing.
fn rabbitmq_server() -> PathBuf {
    let path = PathBuf::from("/usr/lib/rabbitmq/bin/rabbitmq-server");
    assert!(
        path.is_file(),
        "rabbitmq-server is not installed: run .ci/peers (it installs the Debian package) \
         before the STOMP end-to-end tests"
    );
    path
}

impl RabbitMq {
    /// Starts a node with its STOMP listener on a free loopback port (its files in `dir`)
    /// and waits until it accepts connections.
    pub(crate) async fn start(dir: &Path) -> Self {
        Self::start_on(dir, free_port(), free_port()).await
    }

    /// Kills the node; [`Stopped::start`] brings it back on the same ports and data.
    pub(crate) fn kill(self) -> Stopped {
        Stopped {
            dir: self.dir.clone(),
            port: self.port,
            dist_port: self.dist_port,
        }
    }

    async fn start_on(dir: &Path, port: u16, dist_port: u16) -> Self {
        // No AMQP listener; STOMP's default user is the loopback-only guest.
        let conf = dir.join("rabbitmq.conf");
        std::fs::write(
            &conf,
            format!(
                "listeners.tcp = none\nstomp.listeners.tcp.1 = 127.0.0.1:{port}\n\
                 log.console = true\nlog.console.level = warning\nlog.file = false\n"
            ),
        )
        .unwrap();
        let plugins = dir.join("enabled_plugins");
        std::fs::write(&plugins, "[rabbitmq_stomp].\n").unwrap();
        // Its own process group: the script starts the Erlang VM as a child, and both go.
        let child = Command::new(rabbitmq_server())
            .process_group(0)
            // Where a killed node's Mnesia core dump goes.
            .current_dir(dir)
            // Its Erlang cookie goes to $HOME.
            .env("HOME", dir)
            .env("RABBITMQ_NODENAME", format!("stomp{port}@localhost"))
            .env("RABBITMQ_CONFIG_FILE", &conf)
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", &plugins)
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
            dist_port,
        };
        let deadline = Instant::now() + BROKER_START;
        loop {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return broker;
            }
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
}

/// A killed node, to start again.
pub(crate) struct Stopped {
    dir: PathBuf,
    port: u16,
    dist_port: u16,
}

impl Stopped {
    /// Starts the node again on its ports and data.
    pub(crate) async fn start(self) -> RabbitMq {
        RabbitMq::start_on(&self.dir, self.port, self.dist_port).await
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

/// Writes the agent's configuration file in `dir`: the STOMP MTP towards the broker on
/// `port` as RabbitMQ's guest, its destination, `self::controller`'s, heart-beats every
/// second both ways, and short reconnect waits.
pub(crate) fn agent_config(
    dir: &Path,
    port: u16,
    agent_destination: &str,
    controller_destination: &str,
) -> PathBuf {
    let path = dir.join("cpe-agent.toml");
    std::fs::write(
        &path,
        format!(
            "[usp.stomp]\nenable = true\nport = {port}\nusername = \"guest\"\n\
             password = \"guest\"\nvirtual_host = \"/\"\ndestination = \"{agent_destination}\"\n\
             heartbeats = true\noutgoing_heartbeat_ms = 1000\nincoming_heartbeat_ms = 1000\n\
             retry_initial_s = 1\nretry_max_s = 2\n\
             [usp.stomp.controllers]\n\"{CTRL}\" = \"{controller_destination}\"\n"
        ),
    )
    .unwrap();
    path
}

/// A controller's STOMP connection: subscribed to its own destination, sending Records to
/// the agent's with its own as `reply-to-dest`. It reads only while the test waits for a
/// Record, so it offers no heart-beats.
pub(crate) struct StompLink {
    stream: TcpStream,
    client: Client,
    agent_destination: String,
    /// Every Record received, with its `reply-to-dest`, in order.
    pub(crate) received: Vec<(Vec<u8>, Option<String>)>,
}

impl StompLink {
    /// Connects to the broker on `port` as RabbitMQ's guest and waits for `CONNECTED`.
    pub(crate) async fn connect(port: u16, own_destination: &str, agent_destination: &str) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let config = ClientConfig::new(CTRL, own_destination)
            .with_virtual_host("/")
            .with_credentials("guest", "guest");
        let mut link = Self {
            stream,
            client: Client::new(config, Instant::now()),
            agent_destination: agent_destination.to_owned(),
            received: Vec::new(),
        };
        let connected = async {
            loop {
                link.flush().await;
                if let Some(Event::Connected { .. }) = link.client.poll_event() {
                    link.flush().await;
                    return;
                }
                assert!(link.read().await, "the broker closed the connection");
            }
        };
        tokio::time::timeout(WAIT, connected)
            .await
            .expect("CONNECTED in time");
        link
    }

    async fn flush(&mut self) {
        let mut out = Vec::new();
        if self.client.poll_transmit(&mut out) {
            self.stream.write_all(&out).await.unwrap();
        }
    }

    /// Reads once into the client; false at the end of the stream.
    async fn read(&mut self) -> bool {
        let mut chunk = vec![0; 16 * 1024];
        let n = self.stream.read(&mut chunk).await.unwrap_or(0);
        n > 0
            && self
                .client
                .handle_input(Instant::now(), &chunk[..n])
                .is_ok()
    }

    /// Sends a Record to the agent's destination.
    pub(crate) async fn send(&mut self, record: Vec<u8>) {
        self.client
            .send_record(Instant::now(), &self.agent_destination, &record)
            .unwrap();
        self.flush().await;
    }

    /// Writes raw bytes (a hand-made frame).
    pub(crate) async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next Record sent to the controller, or `None` when the link died.
    pub(crate) async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            while let Some(event) = self.client.poll_event() {
                if let Event::Record { body, reply_to } = event {
                    self.received.push((body.clone(), reply_to));
                    return Some(body);
                }
            }
            if !self.read().await {
                return None;
            }
        }
    }
}
