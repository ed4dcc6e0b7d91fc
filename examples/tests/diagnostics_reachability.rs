//! End to end: a USP controller runs the reachability diagnostics on the `cpe-agent` binary,
//! which runs them for real on loopback: `IPPing()` of 127.0.0.1 (and ::1 where the machine
//! has it) and of a name that does not resolve, `UDPEchoDiagnostics()` against an echo server
//! of the test that drops every other packet, and `ServerSelectionDiagnostics()` over a list
//! in which only one host answers. The CWMP way (`DiagnosticsState` `Requested`) is in
//! `cwmp_diagnostics.rs`.
//!
//! ICMP needs an ICMP datagram socket (the gid in `net.ipv4.ping_group_range`) or a raw one
//! (root, as on CI).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The shared helpers bound their waits on the real clock.
    clippy::disallowed_methods,
    missing_docs
)]

mod common;

use std::time::Duration;

use rusp_lib::usp_builder::OperateBuilder;
use tokio::net::UdpSocket;

use common::{AgentProcess, Controller, s};

const PING: &str = "Device.IP.Diagnostics.IPPing()";
const UDP_ECHO: &str = "Device.IP.Diagnostics.UDPEchoDiagnostics()";
const SELECTION: &str = "Device.IP.Diagnostics.ServerSelectionDiagnostics()";

/// An UDP echo server on loopback that answers every other packet (the 1st, 3rd, ...) as an
/// UDPEchoPlus server: `TestRespSN` is its count of answers.
async fn lossy_echo_server() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut buffer = vec![0; 2048];
        let (mut received, mut answered) = (0u32, 0u32);
        loop {
            let (length, from) = socket.recv_from(&mut buffer).await.unwrap();
            received += 1;
            if received % 2 == 0 {
                continue;
            }
            answered += 1;
            let mut reply = buffer[..length].to_vec();
            if reply.len() >= 8 {
                reply[4..8].copy_from_slice(&answered.to_be_bytes());
            }
            socket.send_to(&reply, from).await.unwrap();
        }
    });
    port
}

/// The agent on a fresh state directory, and a controller subscribed to the completions of
/// the three tests.
async fn agent_and_controller() -> (tempfile::TempDir, AgentProcess, Controller) {
    let state = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(state.path(), &[]).await;
    let mut ctrl = Controller::connect(&agent.url).await;
    common::subscribe_completions(&mut ctrl, "reach", &[PING, UDP_ECHO, SELECTION]).await;
    (state, agent, ctrl)
}

#[tokio::test(flavor = "current_thread")]
async fn ipping_pings_loopback_for_real() {
    common::within(Duration::from_secs(60), async {
        let (_state, agent, mut ctrl) = agent_and_controller().await;
        // IPPing of 127.0.0.1: every echo answered, from the loopback address.
        let out = common::operate_command(
            &mut ctrl,
            PING,
            "ping4",
            &[
                ("Host", "127.0.0.1"),
                ("ProtocolVersion", "Any"),
                ("NumberOfRepetitions", "3"),
                ("Timeout", "2000"),
                ("DataBlockSize", "100"),
            ],
        )
        .await;
        assert_eq!(out["Status"], "Complete", "{out}");
        assert_eq!(out["SuccessCount"], "3", "{out}");
        assert_eq!(out["FailureCount"], "0", "{out}");
        assert_eq!(out["IPAddressUsed"], "127.0.0.1", "{out}");
        let micros = |name: &str| out[name].as_str().unwrap().parse::<u32>().unwrap();
        assert!(
            micros("MinimumResponseTimeDetailed") <= micros("AverageResponseTimeDetailed")
                && micros("AverageResponseTimeDetailed") <= micros("MaximumResponseTimeDetailed")
                && micros("MaximumResponseTimeDetailed") > 0,
            "{out}"
        );

        // IPPing of ::1, where the machine has IPv6 on loopback.
        if std::net::UdpSocket::bind("[::1]:0").is_ok() {
            let out = common::operate_command(
                &mut ctrl,
                PING,
                "ping6",
                &[
                    ("Host", "::1"),
                    ("ProtocolVersion", "IPv6"),
                    ("NumberOfRepetitions", "2"),
                    ("Timeout", "2000"),
                    ("DataBlockSize", "56"),
                ],
            )
            .await;
            assert_eq!(out["Status"], "Complete", "{out}");
            assert_eq!(out["SuccessCount"], "2", "{out}");
            assert_eq!(out["IPAddressUsed"], "::1", "{out}");
        }
        agent.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_unresolvable_host_is_reported() {
    common::within(Duration::from_secs(60), async {
        let (_state, agent, mut ctrl) = agent_and_controller().await;
        // A name that does not resolve (RFC 6761 reserves `.invalid`).
        let out = common::operate_command(
            &mut ctrl,
            PING,
            "noname",
            &[
                ("Host", "no-such-host.invalid"),
                ("ProtocolVersion", "Any"),
                ("NumberOfRepetitions", "1"),
                ("Timeout", "1000"),
                ("DataBlockSize", "56"),
            ],
        )
        .await;
        assert_eq!(out["Status"], "Error_CannotResolveHostName", "{out}");
        agent.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn udp_echo_counts_the_packets_the_server_drops() {
    common::within(Duration::from_secs(60), async {
        let (_state, agent, mut ctrl) = agent_and_controller().await;
        // UDP echo: the server drops the 2nd and 4th packets.
        // Every packet of a test has its row.
        let max = "Device.IP.Diagnostics.UDPEchoDiagnosticsMaxResults";
        assert_eq!(common::value(&mut ctrl, max).await, "1000");
        let port = lossy_echo_server().await;
        let out = common::operate_command(
            &mut ctrl,
            UDP_ECHO,
            "udp",
            &[
                ("Host", "127.0.0.1"),
                ("Port", &port.to_string()),
                ("NumberOfRepetitions", "4"),
                ("Timeout", "500"),
                ("InterTransmissionTime", "10"),
                ("DataBlockSize", "24"),
                ("EnableIndividualPacketResults", "true"),
            ],
        )
        .await;
        assert_eq!(out["Status"], "Complete", "{out}");
        assert_eq!(out["SuccessCount"], "2", "{out}");
        assert_eq!(out["FailureCount"], "2", "{out}");
        assert_eq!(out["IPAddressUsed"], "127.0.0.1", "{out}");
        let row = |i: u32, name: &str| out[format!("IndividualPacketResult.{i}.{name}")].clone();
        for (i, success, responder) in [(1, "true", "1"), (2, "false", "0"), (3, "true", "2")] {
            assert_eq!(row(i, "PacketSuccess"), success, "{i}: {out}");
            assert_eq!(row(i, "TestGenSN"), i.to_string(), "{i}: {out}");
            assert_eq!(row(i, "TestRespSN"), responder, "{i}: {out}");
        }
        agent.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn server_selection_picks_the_only_host_that_answers() {
    common::within(Duration::from_secs(60), async {
        let (_state, agent, mut ctrl) = agent_and_controller().await;
        // Server selection: the unresolvable name and the documentation address (RFC 5737)
        // never answer; 127.0.0.1 does.
        let out = common::operate_command(
            &mut ctrl,
            SELECTION,
            "select",
            &[
                ("HostList", "no-such-host.invalid,192.0.2.1,127.0.0.1"),
                ("Protocol", "ICMP"),
                ("ProtocolVersion", "IPv4"),
                ("NumberOfRepetitions", "2"),
                ("Timeout", "300"),
            ],
        )
        .await;
        assert_eq!(out["Status"], "Complete", "{out}");
        assert_eq!(out["FastestHost"], "127.0.0.1", "{out}");
        assert_eq!(out["IPAddressUsed"], "127.0.0.1", "{out}");
        assert_ne!(out["MaximumResponseTime"], "0", "{out}");
        agent.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_cancelled_ping_stops_at_once() {
    common::within(Duration::from_secs(60), async {
        let (_state, agent, mut ctrl) = agent_and_controller().await;
        // 100 echoes to an address that never answers, 5 s each: far beyond the bound.
        let request = common::start_command(
            &mut ctrl,
            PING,
            "long",
            &[
                ("Host", "192.0.2.1"),
                ("ProtocolVersion", "IPv4"),
                ("NumberOfRepetitions", "100"),
                ("Timeout", "5000"),
                ("DataBlockSize", "56"),
            ],
        )
        .await;
        let cancel = OperateBuilder::new(format!("{request}Cancel()"))
            .with_command_key(s("cancel"))
            .with_send_resp(true)
            .build()
            .unwrap();
        let body = ctrl.request(cancel).await;
        let result = &body["Response"]["OperateResp"]["operation_results"][0];
        assert!(result["cmd_failure"].is_null(), "{body}");
        let done = ctrl
            .notify(|n| n["oper_complete"]["command_key"] == "long")
            .await;
        assert_eq!(
            done["oper_complete"]["cmd_failure"]["err_code"], 7023,
            "{done}"
        );
        agent.stop().await;
    })
    .await;
}
