//! End to end: where the connection-request server and the UDP connection-request socket
//! listen (`[cwmp] listen`, `--cr-listen`), and the addresses the ACS is told.
//!
//! By default both bind loopback `127.0.0.1` only: another loopback address of the host
//! (`127.0.0.2`) is refused. Given `127.0.0.2`, `ConnectionRequestURL` and
//! `UDPConnectionRequestAddress` carry it. Given `0.0.0.0` (every interface), the server
//! answers on `127.0.0.2` too, and the URL carries the agent's address on the route to the
//! ACS (`127.0.0.1` for this loopback ACS), and follows that route: given `::`, an ACS
//! that moves its URL to `[::1]` is told `http://[::1]:…` in an Inform. Every wait is bounded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The test bounds its waits on the real clock, as the agent it drives does.
    clippy::disallowed_methods,
    missing_docs
)]

mod common;

use std::path::Path;

use cwmp_core::codec::Body;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use common::{Acs, AgentProcess, WAIT, codes, gpv, param, spv};

const CR_URL: &str = "Device.ManagementServer.ConnectionRequestURL";
const UDP_ADDRESS: &str = "Device.ManagementServer.UDPConnectionRequestAddress";

/// The agent on `state`, with `listen` as `--cr-listen` (none: the default), and the ACS's
/// reading of `ConnectionRequestURL` and `UDPConnectionRequestAddress` in the bootstrap
/// session.
async fn published(state: &Path, listen: Option<&str>) -> (AgentProcess, String, String) {
    let mut acs = Acs::start().await;
    acs.push(gpv(&[CR_URL, UDP_ADDRESS]));
    let mut args = vec!["--acs-url", acs.url.as_str(), "--cr-port", "0"];
    args.extend(listen.iter().flat_map(|listen| ["--cr-listen", *listen]));
    let agent = AgentProcess::start(state, &args).await;
    acs.next_inform().await;
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    let Some(Body::GetParameterValuesResponse(response)) = acs.next_post().await.map(|e| e.body)
    else {
        panic!("expected GetParameterValuesResponse");
    };
    let list = &response.parameter_list;
    assert_eq!(param(list, CR_URL), Some(agent.cr_url.as_str()));
    let url = param(list, CR_URL).unwrap().to_owned();
    let udp = param(list, UDP_ADDRESS).unwrap().to_owned();
    (agent, url, udp)
}

/// The port of `url` (`http://host:port/path`).
fn port(url: &str) -> &str {
    url.rsplit(':').next().unwrap().split('/').next().unwrap()
}

/// Whether an HTTP request to `host` on `port` gets an HTTP answer.
async fn answers(host: &str, port: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(format!("{host}:{port}")).await else {
        return false;
    };
    let request = format!("GET /cwmp-cr HTTP/1.1\r\nHost: {host}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0_u8; 9];
    tokio::time::timeout(WAIT, stream.read_exact(&mut head))
        .await
        .expect("an answer in time")
        .is_ok_and(|_| &head == b"HTTP/1.1 ")
}

#[tokio::test(flavor = "current_thread")]
async fn the_connection_request_sockets_listen_where_configured() {
    let state = tempfile::tempdir().unwrap();
    let (agent, url, udp) = published(state.path(), None).await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(udp.starts_with("127.0.0.1:"), "{udp}");
    assert!(answers("127.0.0.1", port(&url)).await);
    assert!(
        !answers("127.0.0.2", port(&url)).await,
        "loopback 127.0.0.1 only"
    );
    agent.stop().await;

    let state = tempfile::tempdir().unwrap();
    let (agent, url, udp) = published(state.path(), Some("127.0.0.2")).await;
    assert!(url.starts_with("http://127.0.0.2:"), "{url}");
    assert!(udp.starts_with("127.0.0.2:"), "{udp}");
    assert!(answers("127.0.0.2", port(&url)).await);
    assert!(!answers("127.0.0.1", port(&url)).await);
    agent.stop().await;

    let state = tempfile::tempdir().unwrap();
    let (agent, url, udp) = published(state.path(), Some("0.0.0.0")).await;
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "the route to the ACS: {url}"
    );
    assert!(udp.starts_with("127.0.0.1:"), "{udp}");
    assert!(answers("127.0.0.1", port(&url)).await);
    assert!(answers("127.0.0.2", port(&url)).await, "every interface");
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_connection_request_url_follows_the_route_to_the_acs() {
    let state = tempfile::tempdir().unwrap();
    let mut first = Acs::start().await;
    let mut moved = Acs::start_on("[::1]:0").await;
    first.push(spv("Device.ManagementServer.URL", &moved.url, "moved"));
    let args = [
        "--acs-url",
        first.url.as_str(),
        "--cr-port",
        "0",
        "--cr-listen",
        "::",
    ];
    let mut agent = AgentProcess::start(state.path(), &args).await;
    let inform = first.next_inform().await;
    let url = param(&inform.parameter_list, CR_URL).unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(first.next_post().await.is_none(), "the CPE's empty POST");
    assert!(matches!(
        first.next_post().await.map(|e| e.body),
        Some(Body::SetParameterValuesResponse(_))
    ));

    // The CPE informs the new ACS (`0 BOOTSTRAP`), and once it sees its address on the route
    // there (`::1`), informs it of the new URL (`4 VALUE CHANGE`, unless the bootstrap
    // Inform already carried it). The ACS holds each session's empty POST until it knows
    // what to ask.
    let mut release = moved.hold_next_empty_post();
    let mut informs = Vec::new();
    let published = loop {
        assert!(
            informs.len() < 3,
            "no Inform with an [::1] URL: {informs:?}"
        );
        match moved.next_post().await.map(|e| e.body) {
            Some(Body::Inform(inform)) => {
                let url = param(&inform.parameter_list, CR_URL).unwrap().to_owned();
                informs.push((codes(&inform), url.clone()));
                if url.starts_with("http://[::1]:") {
                    break url;
                }
            }
            None => {
                release.send(()).unwrap();
                release = moved.hold_next_empty_post();
            }
            other => panic!("expected an Inform, got {other:?}"),
        }
    };
    let (events, _) = informs.last().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e == "4 VALUE CHANGE" || e == "0 BOOTSTRAP"),
        "{informs:?}"
    );
    // The UDP socket, bound to every interface too, is reached there as well.
    agent
        .wait_line("UDP connection requests reached at [::1]")
        .await;
    moved.push(gpv(&[UDP_ADDRESS]));
    assert!(moved.next_post().await.is_none(), "the held empty POST");
    release.send(()).unwrap();
    let Some(Body::GetParameterValuesResponse(response)) = moved.next_post().await.map(|e| e.body)
    else {
        panic!("expected GetParameterValuesResponse");
    };
    let udp = param(&response.parameter_list, UDP_ADDRESS).unwrap();
    assert!(udp.starts_with("[::1]:"), "{udp}");
    assert_eq!(port(&published), port(&url), "the same server");
    assert!(answers("[::1]", port(&published)).await);
    agent.stop().await;
}
