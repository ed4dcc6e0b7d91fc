//! `cpe-tool usp`: USP Records. `decode` checks a binary Record with the usp-core codec (its
//! limits included) and shows it as JSON with the Msg inside decoded (rusp-lib's JSON form);
//! `encode` builds a Record from a JSON request description; `request` sends a request built
//! from flags to an agent over WebSocket, MQTT 5 or STOMP 1.2 (usp-core's sans-IO STOMP
//! client, the agent's own) and prints the answer as JSON.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use futures_util::{SinkExt as _, StreamExt as _};
use rumqttc::v5;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use serde::Deserialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use usp_core::codec::{self, RecordBuilder};
use usp_core::mtp::mqtt::CONTENT_TYPE;
use usp_core::mtp::stomp::client::{Client, ClientConfig, Event};
use usp_core::mtp::websocket::{EID_PARAM, SUBPROTOCOL, eid_query_value};
use usp_core::usp::request::ReqType;
use usp_core::usp::{self, add, set};
use usp_core::{Limits, Msg};

/// `cpe-tool usp …`.
#[derive(Subcommand)]
pub(crate) enum UspCommand {
    /// Show a binary USP Record as JSON, its Msg decoded; exit 1 with the USP error code
    /// when the Record or its Msg is invalid.
    Decode {
        /// The Record file (`-` for standard input).
        file: PathBuf,
    },
    /// Build a binary USP Record (written to standard output) from a JSON description:
    /// `{"to_id": …, "from_id": …, "msg_id": …, "request": {"get": {"paths": […]}}}`;
    /// requests: get, set, add, delete, operate, get_instances, get_supported_dm. The JSON
    /// `usp decode` prints for such a request is read too, so decode and encode round-trip.
    Encode {
        /// The JSON file (`-` for standard input).
        file: PathBuf,
    },
    /// Send a request to an agent (its WebSocket server, its topic on an MQTT broker or its
    /// destination on a STOMP broker) and print its answer as JSON.
    Request(Box<RequestArgs>),
}

/// `cpe-tool usp request`.
#[derive(Args)]
pub(crate) struct RequestArgs {
    /// The agent's WebSocket URL (`ws://` only).
    #[arg(long, default_value = "ws://127.0.0.1:7550/usp")]
    url: String,
    /// The agent's Endpoint ID.
    #[arg(long, default_value = "os::00D09E-SIM0001")]
    to: String,
    /// The controller's Endpoint ID (the agent must accept it).
    #[arg(long, default_value = "self::controller")]
    from: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Go through this MQTT broker (`HOST:PORT`, MQTT 5) instead of WebSocket.
    #[arg(long, value_name = "HOST:PORT")]
    mqtt: Option<String>,
    /// With `--mqtt`: the agent's topic.
    #[arg(long, default_value = "")]
    agent_topic: String,
    /// With `--mqtt`: the topic the answer comes back on (the Response Topic).
    #[arg(long, default_value = "cpe-tool/reply")]
    reply_topic: String,
    #[command(flatten)]
    stomp: StompArgs,
    #[command(subcommand)]
    request: RequestFlags,
}

/// `cpe-tool usp request --stomp`.
#[derive(Args)]
struct StompArgs {
    /// Go through this STOMP broker (`HOST:PORT`, STOMP 1.2) instead of WebSocket.
    #[arg(long = "stomp", value_name = "HOST:PORT", conflicts_with = "mqtt")]
    broker: Option<String>,
    /// With `--stomp`: the agent's destination.
    #[arg(long, default_value = "")]
    agent_dest: String,
    /// With `--stomp`: the destination the answer comes back to (subscribed to, and sent as
    /// `reply-to-dest`).
    #[arg(long, default_value = "/queue/cpe-tool-reply")]
    reply_dest: String,
    /// With `--stomp`: `login` and `passcode`; none sends no credentials.
    #[arg(long, value_name = "USER:PASSWORD")]
    stomp_login: Option<String>,
    /// With `--stomp`: the virtual host (the STOMP frame's `host`); empty leaves it out.
    #[arg(long, default_value = "")]
    virtual_host: String,
}

/// A request given as flags; `NAME=VALUE` pairs for parameters and arguments.
#[derive(Subcommand)]
enum RequestFlags {
    /// Get parameter values.
    Get {
        #[arg(required = true)]
        paths: Vec<String>,
        #[arg(long, default_value_t = 0)]
        max_depth: u32,
    },
    /// Set parameters of one object (all required).
    Set {
        object: String,
        #[arg(required = true)]
        params: Vec<String>,
    },
    /// Add a row to a table.
    Add { table: String, params: Vec<String> },
    /// Delete objects.
    Delete {
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Run a command.
    Operate {
        command: String,
        args: Vec<String>,
        #[arg(long, default_value = "cpe-tool")]
        command_key: String,
    },
    /// List instances.
    GetInstances {
        #[arg(required = true)]
        paths: Vec<String>,
        #[arg(long)]
        first_level_only: bool,
    },
    /// Describe the supported data model.
    GetSupportedDm {
        #[arg(required = true)]
        paths: Vec<String>,
        #[arg(long)]
        first_level_only: bool,
    },
}

/// A Record to build, as JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordSpec {
    #[serde(default = "default_version")]
    version: String,
    to_id: String,
    from_id: String,
    msg_id: String,
    request: RequestSpec,
}

fn default_version() -> String {
    codec::DEFAULT_RECORD_VERSION.to_owned()
}

/// A request, as JSON or from flags.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum RequestSpec {
    Get {
        paths: Vec<String>,
        #[serde(default)]
        max_depth: u32,
    },
    Set {
        object: String,
        params: BTreeMap<String, String>,
    },
    Add {
        table: String,
        #[serde(default)]
        params: BTreeMap<String, String>,
    },
    Delete {
        paths: Vec<String>,
    },
    Operate {
        command: String,
        #[serde(default)]
        args: BTreeMap<String, String>,
        #[serde(default)]
        command_key: String,
    },
    GetInstances {
        paths: Vec<String>,
        #[serde(default)]
        first_level_only: bool,
    },
    GetSupportedDm {
        paths: Vec<String>,
        #[serde(default)]
        first_level_only: bool,
    },
}

/// Runs a `cpe-tool usp` command.
pub(crate) fn run(command: UspCommand) -> ExitCode {
    let result = match command {
        UspCommand::Decode { file } => decode(&file),
        UspCommand::Encode { file } => encode(&file),
        UspCommand::Request(args) => request(*args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cpe-tool: {error}");
            ExitCode::FAILURE
        }
    }
}

fn decode(file: &std::path::Path) -> Result<(), String> {
    let bytes = crate::read_input(file).map_err(|e| format!("{}: {e}", file.display()))?;
    print_json(&bytes)
}

/// Checks `bytes` with our codec, then prints rusp-lib's JSON form of the Record.
fn print_json(bytes: &[u8]) -> Result<(), String> {
    let limits = Limits::default();
    let record = codec::decode_record(bytes, &limits)
        .map_err(|e| format!("invalid USP Record (error {}): {e}", e.usp_error()))?;
    codec::msg_from_no_session(&record, &limits)
        .map_err(|e| format!("invalid USP Msg (error {}): {e}", e.usp_error()))?;
    let json = rusp_lib::usp_decoder::try_decode_record(bytes)
        .map_err(|e| format!("rusp-lib cannot show the Record: {e}"))?;
    let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

/// What `usp encode` reads: a request description, or what `usp decode` printed.
#[derive(Deserialize)]
#[serde(untagged)]
enum EncodeInput {
    Spec(RecordSpec),
    Decoded(DecodedRecord),
}

fn encode(file: &std::path::Path) -> Result<(), String> {
    let text = crate::read_input(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let input: EncodeInput = serde_json::from_slice(&text).map_err(|e| {
        format!("invalid request JSON (neither a request description nor a decoded request): {e}")
    })?;
    let (version, to_id, from_id, msg_id, request) = match input {
        EncodeInput::Spec(spec) => (
            spec.version,
            spec.to_id,
            spec.from_id,
            spec.msg_id,
            spec.request.into_request(),
        ),
        EncodeInput::Decoded(decoded) => (
            decoded.version,
            decoded.to_id,
            decoded.from_id,
            decoded.payload.header.msg_id,
            decoded.payload.body.request.into_request(),
        ),
    };
    let msg = codec::request_msg(msg_id, request);
    let record = RecordBuilder::new(to_id, from_id)
        .with_version(version)
        .no_session(&msg);
    let mut bytes = Vec::new();
    codec::encode_record(&record, &mut bytes);
    std::io::stdout()
        .write_all(&bytes)
        .map_err(|e| e.to_string())
}

impl RequestSpec {
    fn into_request(self) -> ReqType {
        let settings = |params: BTreeMap<String, String>| {
            params
                .into_iter()
                .map(|(param, value)| DecodedSetting {
                    param,
                    value,
                    required: true,
                })
                .collect()
        };
        let decoded = match self {
            Self::Get { paths, max_depth } => DecodedRequest::Get {
                param_paths: paths,
                max_depth,
            },
            Self::Set { object, params } => DecodedRequest::Set {
                allow_partial: false,
                update_objs: vec![DecodedObject {
                    obj_path: object,
                    param_settings: settings(params),
                }],
            },
            Self::Add { table, params } => DecodedRequest::Add {
                allow_partial: false,
                create_objs: vec![DecodedObject {
                    obj_path: table,
                    param_settings: settings(params),
                }],
            },
            Self::Delete { paths } => DecodedRequest::Delete {
                allow_partial: false,
                obj_paths: paths,
            },
            Self::Operate {
                command,
                args,
                command_key,
            } => DecodedRequest::Operate {
                command,
                command_key,
                send_resp: true,
                input_args: args,
            },
            Self::GetInstances {
                paths,
                first_level_only,
            } => DecodedRequest::GetInstances {
                obj_paths: paths,
                first_level_only,
            },
            Self::GetSupportedDm {
                paths,
                first_level_only,
            } => DecodedRequest::GetSupportedDm {
                obj_paths: paths,
                first_level_only,
                return_commands: true,
                return_events: true,
                return_params: true,
                return_unique_key_sets: true,
            },
        };
        decoded.into_request()
    }
}

/// A request Record as `usp decode` prints it (rusp-lib's JSON, whose field names are the
/// protobuf ones); other keys are ignored. Request descriptions become one of these too.
#[derive(Deserialize)]
struct DecodedRecord {
    version: String,
    to_id: String,
    from_id: String,
    payload: DecodedMsg,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DecodedMsg {
    header: DecodedHeader,
    body: DecodedBody,
}

#[derive(Deserialize)]
struct DecodedHeader {
    msg_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DecodedBody {
    request: DecodedRequest,
}

#[derive(Deserialize)]
enum DecodedRequest {
    Get {
        param_paths: Vec<String>,
        max_depth: u32,
    },
    Set {
        allow_partial: bool,
        update_objs: Vec<DecodedObject>,
    },
    Add {
        allow_partial: bool,
        create_objs: Vec<DecodedObject>,
    },
    Delete {
        allow_partial: bool,
        obj_paths: Vec<String>,
    },
    Operate {
        command: String,
        command_key: String,
        send_resp: bool,
        input_args: BTreeMap<String, String>,
    },
    GetInstances {
        obj_paths: Vec<String>,
        first_level_only: bool,
    },
    #[serde(rename = "GetSupportedDM")]
    GetSupportedDm {
        obj_paths: Vec<String>,
        first_level_only: bool,
        return_commands: bool,
        return_events: bool,
        return_params: bool,
        return_unique_key_sets: bool,
    },
}

#[derive(Deserialize)]
struct DecodedObject {
    obj_path: String,
    param_settings: Vec<DecodedSetting>,
}

impl DecodedObject {
    /// Set's UpdateObjects and Add's CreateObjects have the same shape and different types.
    fn map_all<O, P>(
        objects: Vec<Self>,
        object: impl Fn(String, Vec<P>) -> O,
        setting: impl Fn(DecodedSetting) -> P,
    ) -> Vec<O> {
        objects
            .into_iter()
            .map(|o| {
                object(
                    o.obj_path,
                    o.param_settings.into_iter().map(&setting).collect(),
                )
            })
            .collect()
    }
}

#[derive(Deserialize)]
struct DecodedSetting {
    param: String,
    value: String,
    required: bool,
}

impl DecodedRequest {
    fn into_request(self) -> ReqType {
        match self {
            Self::Get {
                param_paths,
                max_depth,
            } => ReqType::Get(usp::Get {
                param_paths,
                max_depth,
            }),
            Self::Set {
                allow_partial,
                update_objs,
            } => ReqType::Set(usp::Set {
                allow_partial,
                update_objs: DecodedObject::map_all(
                    update_objs,
                    |obj_path, param_settings| set::UpdateObject {
                        obj_path,
                        param_settings,
                    },
                    |DecodedSetting {
                         param,
                         value,
                         required,
                     }| set::UpdateParamSetting {
                        param,
                        value,
                        required,
                    },
                ),
            }),
            Self::Add {
                allow_partial,
                create_objs,
            } => ReqType::Add(usp::Add {
                allow_partial,
                create_objs: DecodedObject::map_all(
                    create_objs,
                    |obj_path, param_settings| add::CreateObject {
                        obj_path,
                        param_settings,
                    },
                    |DecodedSetting {
                         param,
                         value,
                         required,
                     }| add::CreateParamSetting {
                        param,
                        value,
                        required,
                    },
                ),
            }),
            Self::Delete {
                allow_partial,
                obj_paths,
            } => ReqType::Delete(usp::Delete {
                allow_partial,
                obj_paths,
            }),
            Self::Operate {
                command,
                command_key,
                send_resp,
                input_args,
            } => ReqType::Operate(usp::Operate {
                command,
                command_key,
                send_resp,
                input_args: input_args.into_iter().collect(),
            }),
            Self::GetInstances {
                obj_paths,
                first_level_only,
            } => ReqType::GetInstances(usp::GetInstances {
                obj_paths,
                first_level_only,
            }),
            Self::GetSupportedDm {
                obj_paths,
                first_level_only,
                return_commands,
                return_events,
                return_params,
                return_unique_key_sets,
            } => ReqType::GetSupportedDm(usp::GetSupportedDm {
                obj_paths,
                first_level_only,
                return_commands,
                return_events,
                return_params,
                return_unique_key_sets,
            }),
        }
    }
}

/// `NAME=VALUE` pairs.
fn pairs(items: Vec<String>) -> Result<BTreeMap<String, String>, String> {
    items
        .into_iter()
        .map(|item| match item.split_once('=') {
            Some((name, value)) => Ok((name.to_owned(), value.to_owned())),
            None => Err(format!("expected NAME=VALUE, got {item:?}")),
        })
        .collect()
}

impl TryFrom<RequestFlags> for RequestSpec {
    type Error = String;

    fn try_from(flags: RequestFlags) -> Result<Self, String> {
        Ok(match flags {
            RequestFlags::Get { paths, max_depth } => Self::Get { paths, max_depth },
            RequestFlags::Set { object, params } => Self::Set {
                object,
                params: pairs(params)?,
            },
            RequestFlags::Add { table, params } => Self::Add {
                table,
                params: pairs(params)?,
            },
            RequestFlags::Delete { paths } => Self::Delete { paths },
            RequestFlags::Operate {
                command,
                args,
                command_key,
            } => Self::Operate {
                command,
                args: pairs(args)?,
                command_key,
            },
            RequestFlags::GetInstances {
                paths,
                first_level_only,
            } => Self::GetInstances {
                paths,
                first_level_only,
            },
            RequestFlags::GetSupportedDm {
                paths,
                first_level_only,
            } => Self::GetSupportedDm {
                paths,
                first_level_only,
            },
        })
    }
}

fn request(args: RequestArgs) -> Result<(), String> {
    let spec = RequestSpec::try_from(args.request)?;
    let msg_id = "cpe-tool-1";
    let msg = codec::request_msg(msg_id, spec.into_request());
    let record = RecordBuilder::new(args.to.clone(), args.from.clone()).no_session(&msg);
    let mut bytes = Vec::new();
    codec::encode_record(&record, &mut bytes);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let answer = runtime
        .block_on(async {
            let exchange = async {
                match (&args.mqtt, &args.stomp.broker) {
                    (Some(broker), _) => {
                        let topics = (args.agent_topic.as_str(), args.reply_topic.as_str());
                        exchange_mqtt(broker, topics, bytes, msg_id).await
                    }
                    (None, Some(broker)) => {
                        exchange_stomp(broker, &args.stomp, &args.from, bytes, msg_id).await
                    }
                    (None, None) => exchange_ws(&args.url, &args.from, bytes, msg_id).await,
                }
            };
            tokio::time::timeout(Duration::from_secs(args.timeout), exchange).await
        })
        .map_err(|_| format!("no answer within {} s", args.timeout))??;
    print_json(&answer)
}

/// Whether `bytes` is a Record whose Msg answers `msg_id`.
fn answers(bytes: &[u8], msg_id: &str) -> bool {
    let limits = Limits::default();
    codec::decode_record(bytes, &limits)
        .ok()
        .and_then(|record| codec::msg_from_no_session(&record, &limits).ok().flatten())
        .is_some_and(|msg: Msg| msg.header.is_some_and(|h| h.msg_id == msg_id))
}

/// Publishes `record` to the agent's topic through `broker` (MQTT 5, Response Topic and
/// Content Type set) and returns the Record that answers `msg_id` on the reply topic.
async fn exchange_mqtt(
    broker: &str,
    (agent_topic, reply_topic): (&str, &str),
    record: Vec<u8>,
    msg_id: &str,
) -> Result<Vec<u8>, String> {
    if agent_topic.is_empty() {
        return Err("--mqtt needs --agent-topic".into());
    }
    let (host, port) = host_port(broker)?;
    let mut options = v5::MqttOptions::new(format!("cpe-tool-{}", std::process::id()), host, port);
    let max = Limits::default().max_record_bytes.saturating_add(4096);
    options.set_max_packet_size(u32::try_from(max).ok());
    let (client, mut events) = v5::AsyncClient::new(options, 16);
    client
        .subscribe(reply_topic, QoS::AtLeastOnce)
        .await
        .map_err(|e| e.to_string())?;
    let mut record = Some(record);
    loop {
        match events.poll().await.map_err(|e| format!("MQTT: {e}"))? {
            v5::Event::Incoming(Packet::SubAck(_)) => {
                if let Some(record) = record.take() {
                    let properties = PublishProperties {
                        response_topic: Some(reply_topic.to_owned()),
                        content_type: Some(CONTENT_TYPE.to_owned()),
                        ..PublishProperties::default()
                    };
                    client
                        .publish_with_properties(
                            agent_topic,
                            QoS::AtLeastOnce,
                            false,
                            record,
                            properties,
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
            v5::Event::Incoming(Packet::Publish(publish)) if answers(&publish.payload, msg_id) => {
                let _ = client.try_disconnect();
                return Ok(publish.payload.to_vec());
            }
            _ => {}
        }
    }
}

/// The host and port of a broker given as `HOST:PORT`.
fn host_port(broker: &str) -> Result<(&str, u16), String> {
    broker
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("expected HOST:PORT, got {broker:?}"))
}

/// Sends `record` to the agent's destination through `broker` as controller `from`
/// (usp-core's STOMP client: subscribed to the reply destination, which goes with the Record
/// as `reply-to-dest`) and returns the Record that answers `msg_id`.
#[allow(clippy::disallowed_methods)] // The driver gives the sans-IO client the time.
async fn exchange_stomp(
    broker: &str,
    args: &StompArgs,
    from: &str,
    record: Vec<u8>,
    msg_id: &str,
) -> Result<Vec<u8>, String> {
    if args.agent_dest.is_empty() {
        return Err("--stomp needs --agent-dest".into());
    }
    let (host, port) = host_port(broker)?;
    let mut stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("cannot connect to {broker}: {e}"))?;
    let login = args.stomp_login.as_deref().unwrap_or_default();
    let (user, password) = login.split_once(':').unwrap_or((login, ""));
    let config = ClientConfig::new(from, args.reply_dest.as_str())
        .with_virtual_host(args.virtual_host.as_str())
        .with_credentials(user, password);
    let mut client = Client::new(config, Instant::now());
    let mut record = Some(record);
    let (mut out, mut chunk) = (Vec::new(), vec![0; 16 * 1024]);
    loop {
        while let Some(event) = client.poll_event() {
            match event {
                Event::Connected { .. } => {
                    if let Some(record) = record.take() {
                        client
                            .send_record(Instant::now(), &args.agent_dest, &record)
                            .map_err(|e| format!("STOMP: {e}"))?;
                    }
                }
                Event::Record { body, .. } if answers(&body, msg_id) => {
                    client.disconnect(Instant::now());
                    if client.poll_transmit(&mut out) {
                        let _ = stream.write_all(&out).await;
                    }
                    return Ok(body);
                }
                _ => {}
            }
        }
        if client.poll_transmit(&mut out) {
            stream.write_all(&out).await.map_err(|e| e.to_string())?;
            out.clear();
        }
        let timer = client.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            read = stream.read(&mut chunk) => {
                let n = read.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("the broker closed the connection without an answer".into());
                }
                let bytes = chunk.get(..n).unwrap_or_default();
                client.handle_input(Instant::now(), bytes).map_err(|e| format!("STOMP: {e}"))?;
            }
            () = async {
                match timer {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => client.handle_timeout(Instant::now()).map_err(|e| format!("STOMP: {e}"))?,
        }
    }
}

/// Sends `record` over a WebSocket to `url` as controller `from` and returns the Record that
/// answers `msg_id` (Connect Records and other Msgs are skipped).
async fn exchange_ws(
    url: &str,
    from: &str,
    record: Vec<u8>,
    msg_id: &str,
) -> Result<Vec<u8>, String> {
    let separator = if url.contains('?') { '&' } else { '?' };
    let mut request = format!("{url}{separator}{EID_PARAM}={}", eid_query_value(from))
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let host = request.uri().host().unwrap_or_default().to_owned();
    let port = request.uri().port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .map_err(|e| format!("WebSocket handshake with {url} failed: {e}"))?;
    ws.send(Message::Binary(record.into()))
        .await
        .map_err(|e| e.to_string())?;
    while let Some(message) = ws.next().await {
        let Message::Binary(bytes) = message.map_err(|e| e.to_string())? else {
            continue;
        };
        if answers(&bytes, msg_id) {
            return Ok(bytes.to_vec());
        }
    }
    Err("the agent closed the connection without answering".into())
}
