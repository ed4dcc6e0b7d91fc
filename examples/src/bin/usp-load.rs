//! `usp-load`: a USP load generator. It opens N WebSocket connections to a USP agent, each as
//! its own controller (`<prefix><n>`), and sends the same Get on each, one request at a time
//! per connection (closed loop), then reports requests per second and latency percentiles.
//!
//! ```text
//! cargo run --release -p examples --bin cpe-agent -- --state-dir /tmp/load-state \
//!     --accept-unknown-controllers &
//! cargo run --release -p examples --bin usp-load -- --connections 8 --requests 2000
//! ```
//!
//! The agent's Endpoint ID is taken from the WebSocketConnect Record it sends first (USP
//! R-MTP.6), so the tool needs only the URL. `--populate TABLE --rows N` first adds N rows to a
//! table (Adds of up to 1,000 rows), to load a big model or measure the agent's memory with
//! many instances. `--agent-pid` adds the agent's CPU time per request (from `/proc`), which
//! stays meaningful on a machine shared with other work, where wall-clock rates do not. Records are built and read with `usp-core`'s
//! codec; a reply counts when it is the GetResp (or Error) with the request's `msg_id`, and
//! Notify Msgs in between are skipped.
#![allow(
    // A load generator measures the real clock.
    clippy::disallowed_methods
)]

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use usp_core::codec::{self, RecordBuilder};
use usp_core::usp::{Add, Get, add::CreateObject, body::MsgBody, request::ReqType};
use usp_core::usp_record::record::RecordType;
use usp_core::{Limits, Msg};

type BoxError = Box<dyn Error + Send + Sync>;

/// USP load generator: concurrent WebSocket controllers sending the same Get.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The agent's WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:7550/usp")]
    url: String,
    /// Concurrent connections, each its own controller.
    #[arg(long, default_value_t = 4)]
    connections: u32,
    /// Measured requests per connection.
    #[arg(long, default_value_t = 1000)]
    requests: u32,
    /// Requests per connection before measuring (not counted).
    #[arg(long, default_value_t = 50)]
    warmup: u32,
    /// The path of the Get (repeatable).
    #[arg(long = "path", default_values_t = ["Device.DeviceInfo.".to_owned()])]
    paths: Vec<String>,
    /// Controller Endpoint IDs are this prefix plus the connection number.
    #[arg(long, default_value = "self::load-")]
    eid_prefix: String,
    /// Give up on a reply after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Before the load, add `--rows` rows to this table (`Device.NAT.PortMapping.`).
    #[arg(long, value_name = "TABLE")]
    populate: Option<String>,
    /// Rows to add with `--populate`.
    #[arg(long, default_value_t = 10_000)]
    rows: u32,
    /// The agent's process id: report its CPU time per measured request (Linux `/proc`).
    #[arg(long, value_name = "PID")]
    agent_pid: Option<u32>,
}

/// Rows per Add request with `--populate` (the engine's default bound is 4,096 items).
const ROWS_PER_ADD: u32 = 1000;

/// One controller connection.
struct Connection {
    ws: WebSocketStream<TcpStream>,
    eid: String,
    agent: String,
    timeout: Duration,
    limits: Limits,
}

impl Connection {
    async fn open(args: &Args, n: u32) -> Result<Self, BoxError> {
        let eid = format!("{}{n}", args.eid_prefix);
        let addr = args
            .url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .ok_or("the URL must be ws://host:port/path")?;
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut request = format!("{}?eid={eid}", args.url).into_client_request()?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("v1.usp"));
        let timeout = Duration::from_secs(args.timeout);
        let (ws, _) =
            tokio::time::timeout(timeout, tokio_tungstenite::client_async(request, stream))
                .await??;
        let mut connection = Self {
            ws,
            eid,
            agent: String::new(),
            timeout,
            limits: Limits::default(),
        };
        // The agent names itself in the WebSocketConnect Record it sends first.
        loop {
            let bytes = connection.next_record().await?;
            let record = codec::decode_record(&bytes, &connection.limits)?;
            if matches!(record.record_type, Some(RecordType::WebsocketConnect(_))) {
                connection.agent = record.from_id;
                return Ok(connection);
            }
        }
    }

    async fn next_record(&mut self) -> Result<Vec<u8>, BoxError> {
        loop {
            let message = tokio::time::timeout(self.timeout, self.ws.next())
                .await?
                .ok_or("the agent closed the connection")??;
            match message {
                Message::Binary(bytes) => return Ok(bytes.to_vec()),
                Message::Close(frame) => {
                    return Err(format!("closed by the agent: {frame:?}").into());
                }
                _ => {}
            }
        }
    }

    /// Sends the Get as `msg_id` and waits for its answer.
    async fn get(&mut self, msg_id: String, paths: &[String]) -> Result<(), BoxError> {
        let get = ReqType::Get(Get {
            param_paths: paths.to_vec(),
            max_depth: 0,
        });
        self.request(msg_id, get).await
    }

    /// Sends request `req` as `msg_id` and waits for its response.
    async fn request(&mut self, msg_id: String, req: ReqType) -> Result<(), BoxError> {
        let msg = codec::request_msg(msg_id.clone(), req);
        let record = RecordBuilder::new(self.agent.clone(), self.eid.clone()).no_session(&msg);
        let mut bytes = Vec::new();
        codec::encode_record(&record, &mut bytes);
        self.ws.send(Message::Binary(bytes.into())).await?;
        loop {
            let bytes = self.next_record().await?;
            let record = codec::decode_record(&bytes, &self.limits)?;
            let Some(reply) = codec::msg_from_no_session(&record, &self.limits)? else {
                continue;
            };
            if msg_id_of(&reply) != Some(msg_id.as_str()) {
                continue;
            }
            return match reply.body.and_then(|b| b.msg_body) {
                Some(MsgBody::Response(_)) => Ok(()),
                Some(MsgBody::Error(error)) => {
                    Err(format!("USP error {}: {}", error.err_code, error.err_msg).into())
                }
                _ => Err("not a response".into()),
            };
        }
    }
}

/// Adds `rows` rows to `table`, all-or-nothing per Add.
async fn populate(args: &Args, table: &str) -> Result<(), BoxError> {
    let mut connection = Connection::open(args, 0).await?;
    let mut left = args.rows;
    let mut batch = 0u32;
    while left > 0 {
        let count = left.min(ROWS_PER_ADD);
        let create_objs = (0..count)
            .map(|_| CreateObject {
                obj_path: table.to_owned(),
                param_settings: Vec::new(),
            })
            .collect();
        let add = ReqType::Add(Add {
            allow_partial: false,
            create_objs,
        });
        connection.request(format!("populate-{batch}"), add).await?;
        left -= count;
        batch += 1;
    }
    println!("populated {table} with {} rows", args.rows);
    Ok(())
}

/// User plus system CPU time of process `pid` (Linux `/proc/<pid>/stat`, in clock ticks of
/// 1/100 s, the `USER_HZ` of every Linux architecture).
fn cpu_time(pid: u32) -> Result<Duration, BoxError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name is in parentheses and may contain spaces; fields follow the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<u64, BoxError> {
        Ok(fields.get(i).ok_or("short /proc stat line")?.parse()?)
    };
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

fn msg_id_of(msg: &Msg) -> Option<&str> {
    msg.header.as_ref().map(|h| h.msg_id.as_str())
}

/// Runs connection `n`: warm-up, then the measured requests once every connection is ready.
async fn drive(
    args: Arc<Args>,
    n: u32,
    ready: Arc<Barrier>,
) -> Result<(Vec<Duration>, Instant, Instant), BoxError> {
    let mut connection = Connection::open(&args, n).await?;
    for i in 0..args.warmup {
        connection.get(format!("w{n}-{i}"), &args.paths).await?;
    }
    ready.wait().await;
    let mut latencies = Vec::with_capacity(args.requests as usize);
    let start = Instant::now();
    for i in 0..args.requests {
        let sent = Instant::now();
        connection.get(format!("m{n}-{i}"), &args.paths).await?;
        latencies.push(sent.elapsed());
    }
    Ok((latencies, start, Instant::now()))
}

/// The `q` quantile (0..=1) of sorted `values`, nearest rank.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let args = Arc::new(Args::parse());
    if args.connections == 0 || args.requests == 0 {
        return Err("--connections and --requests must be at least 1".into());
    }
    if let Some(table) = &args.populate {
        populate(&args, table).await?;
    }
    let cpu_before = args.agent_pid.map(cpu_time).transpose()?;
    let ready = Arc::new(Barrier::new(args.connections as usize));
    let tasks: Vec<_> = (1..=args.connections)
        .map(|n| tokio::spawn(drive(args.clone(), n, ready.clone())))
        .collect();
    let mut latencies = Vec::new();
    let mut window: Option<(Instant, Instant)> = None;
    for task in tasks {
        let (mut own, start, end) = task.await??;
        latencies.append(&mut own);
        window = Some(match window {
            None => (start, end),
            Some((s, e)) => (s.min(start), e.max(end)),
        });
    }
    let (start, end) = window.ok_or("no connection ran")?;
    latencies.sort_unstable();
    let elapsed = end.duration_since(start);
    let total = latencies.len();
    println!(
        "usp-load: {} connections x {} Get of {:?} against {}",
        args.connections, args.requests, args.paths, args.url
    );
    println!(
        "requests {total}  elapsed {:.3} s  throughput {:.0} req/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency us: p50 {:.0}  p90 {:.0}  p99 {:.0}  max {:.0}",
        micros(quantile(&latencies, 0.50)),
        micros(quantile(&latencies, 0.90)),
        micros(quantile(&latencies, 0.99)),
        micros(quantile(&latencies, 1.0)),
    );
    if let (Some(pid), Some(before)) = (args.agent_pid, cpu_before) {
        // Warm-up requests ran in the window too.
        let requests = total + (args.connections * args.warmup) as usize;
        let used = cpu_time(pid)?.saturating_sub(before);
        println!(
            "agent CPU: {:.2} s for {requests} requests, {:.0} us per request",
            used.as_secs_f64(),
            micros(used) / requests as f64
        );
    }
    Ok(())
}
