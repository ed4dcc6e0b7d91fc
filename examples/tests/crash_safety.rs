//! Crash safety: the `cpe-agent` process is killed (SIGKILL) in the middle of a Download and
//! restarted on the same state directory; the download resumes and the ACS gets its
//! TransferComplete. Downloads cut short by the line resume too.
//!
//! The scripted ACS sends a Download (CommandKey `crash-1`) of a file the test serves over
//! HTTP with an `ETag`: the server sends the headers and the first half, then stalls. Once
//! the agent has journalled that half, it is killed. Restarted, it asks for the rest
//! (`Range: bytes=<half>-`, `If-Range` with the `ETag`), which the server sends (206), and
//! reports `crash-1` with fault 0 and the first attempt's StartTime; the file on disk is the
//! one served. A last restart brings only `1 BOOT`: nothing was lost and nothing is
//! repeated.
//!
//! A server that closes the connection halfway is asked for the rest the same way, in the
//! same run; one that answers that with the whole file (200: it ignores ranges, or its
//! `ETag` changed) has its whole file stored. A server with no `ETag` is asked for the rest
//! with its `Last-Modified` date in `If-Range` when its `Date` is a second later or more
//! (RFC 9110 §8.8.2.2: a strong validator), and not at all when it is the same second.
//!
//! The engine persists a transfer before the driver journals it. A crash between the two is
//! replayed by killing the agent mid-transfer and deleting the journal: restarted, the agent
//! sends the TransferComplete (9017, TR-069: "Download failure: unable to complete
//! download"), from the transfer the engine holds as running.
//!
//! An Upload cut short the same way (the server reads the PUT and never answers) is reported
//! once after the restart, with fault 9011 ("Upload failure").
//! Every wait is bounded.
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

use std::path::Path;

use cwmp_core::codec::{Inform, TransferComplete, UNKNOWN_TIME};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tr181_model::value::DateTime;

use common::files::{upload, upload_pending, upload_server};
use common::{Acs, AgentProcess, WAIT, codes, download, download_pending, transfer_complete};

/// The served file.
const SIZE: u32 = 64 * 1024;

fn content() -> Vec<u8> {
    (0..SIZE).map(|i| (i % 251) as u8).collect()
}

/// Half the served file: where the first response is cut.
const HALF: usize = SIZE as usize / 2;

/// How the first response is cut after its first half.
#[derive(Clone, Copy)]
enum Cut {
    /// The connection is closed.
    Close,
    /// The connection stays open, with nothing more.
    Stall,
}

/// How the file server tells which version of its file it sends.
#[derive(Clone, Copy)]
enum Version {
    /// `ETag: "v1"`, and `"v2"` for a later file that differs from the first.
    ETag,
    /// No `ETag`: `Last-Modified: MODIFIED` and this `Date` (for a file that does not change).
    Modified(&'static str),
}

/// The file's `Last-Modified` date for [`Version::Modified`].
const MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

/// An HTTP file server with ranges: the first GET gets `first` (with `version`), headers
/// and first half only, then `cut`. Later GETs get `later`: the rest of it (206) when they
/// ask for a range with an `If-Range` of its version's validator and the server `ranges`,
/// else the whole (200). Each request head is reported, header names in lower case.
async fn file_server(
    first: Vec<u8>,
    later: Vec<u8>,
    version: Version,
    cut: Cut,
    ranges: bool,
) -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/fw.bin", listener.local_addr().unwrap());
    let (tx, requests) = mpsc::unbounded_channel();
    let later_tag = if later == first { "\"v1\"" } else { "\"v2\"" };
    let (first_version, later_version, later_validator) = match version {
        Version::ETag => (
            "ETag: \"v1\"".to_owned(),
            format!("ETag: {later_tag}"),
            later_tag.to_owned(),
        ),
        Version::Modified(date) => {
            let fields = format!("Last-Modified: {MODIFIED}\r\nDate: {date}");
            (fields.clone(), fields, MODIFIED.to_ascii_lowercase())
        }
    };
    tokio::spawn(async move {
        let mut stalled = Vec::new();
        for n in 0.. {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut byte = [0_u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if stream.read(&mut byte).await.unwrap() == 0 {
                    break;
                }
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
            let field = |name: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
            };
            let (status, version, body, range) = if n == 0 {
                ("200 OK", &first_version, &first[..HALF], String::new())
            } else {
                let from = field("range:")
                    .and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok())
                    .filter(|_| {
                        ranges && field("if-range:").as_deref() == Some(later_validator.as_str())
                    });
                match from {
                    Some(from) => (
                        "206 Partial Content",
                        &later_version,
                        &later[from..],
                        format!("Content-Range: bytes {from}-{}/{SIZE}\r\n", SIZE - 1),
                    ),
                    None => ("200 OK", &later_version, &later[..], String::new()),
                }
            };
            let length = if n == 0 { SIZE as usize } else { body.len() };
            let answer = format!(
                "HTTP/1.1 {status}\r\n{version}\r\n{range}Content-Length: {length}\r\n\r\n"
            );
            stream.write_all(answer.as_bytes()).await.unwrap();
            stream.write_all(body).await.unwrap();
            stream.flush().await.unwrap();
            let _ = tx.send(head);
            match (n, cut) {
                (0, Cut::Stall) => stalled.push(stream),
                _ => drop(stream),
            }
        }
    });
    (url, requests)
}

/// The next request head the file server got.
async fn next_request(requests: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(WAIT, requests.recv())
        .await
        .expect("the agent fetches the file")
        .unwrap()
}

/// The ACS's next TransferComplete, after the Informs of sessions without one.
async fn next_transfer_complete(acs: &mut Acs) -> TransferComplete {
    loop {
        let inform = acs.next_inform().await;
        if event_key(&inform, "7 TRANSFER COMPLETE").is_some() {
            let complete = transfer_complete(acs).await;
            assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
            return complete;
        }
        assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    }
}

/// The downloaded file in `state`.
fn stored(state: &Path) -> Vec<u8> {
    let stored = std::fs::read_dir(state.join("downloads"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|e| e == "bin"))
        .expect("the downloaded file");
    std::fs::read(stored).unwrap()
}

async fn start_agent(state_dir: &Path, acs_url: &str) -> AgentProcess {
    AgentProcess::start(state_dir, &["--acs-url", acs_url, "--cr-port", "0"]).await
}

/// The CommandKey of event `code` in `inform`.
fn event_key<'a>(inform: &'a Inform, code: &str) -> Option<&'a str> {
    inform
        .event
        .iter()
        .find(|e| e.event_code.as_str() == code)
        .map(|e| e.command_key.as_str())
}

/// Runs the bootstrap session, whose Download `crash-1` of `url` is answered "pending", and
/// kills the agent once it has journalled the first half of the file; the journalled
/// start (Unix seconds).
async fn kill_mid_download(
    acs: &mut Acs,
    url: &str,
    requests: &mut mpsc::UnboundedReceiver<String>,
    state: &Path,
) -> i64 {
    // Queued before the agent starts, so that the CPE's empty POST finds it.
    acs.push(download(url, "crash-1", SIZE));
    let mut agent = start_agent(state, &acs.url).await;
    let inform = acs.next_inform().await;
    assert!(codes(&inform).contains(&"0 BOOTSTRAP".to_owned()));
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    download_pending(acs).await;
    let request = next_request(requests).await;
    assert!(request.starts_with("get /fw.bin http/1.1\r\n"), "{request}");
    agent.wait_line("download started").await;
    let deadline = std::time::Instant::now() + WAIT;
    let start = loop {
        let journal = std::fs::read(state.join("downloads.json")).unwrap_or_default();
        let journal: serde_json::Value = serde_json::from_slice(&journal).unwrap_or_default();
        if journal[0]["resume"]["written"] == HALF {
            break journal[0]["start"].as_i64().expect("a start time");
        }
        assert!(std::time::Instant::now() < deadline, "{journal}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    agent.kill();
    start
}

/// The restarted agent's first session must report `crash-1` with 9017: `1 BOOT`,
/// `7 TRANSFER COMPLETE` and `M Download` in the Inform, then the TransferComplete.
async fn interrupted_download_reported(acs: &mut Acs) {
    let inform = acs.next_inform().await;
    let events = codes(&inform);
    assert!(events.contains(&"1 BOOT".to_owned()), "{events:?}");
    assert!(!events.contains(&"0 BOOTSTRAP".to_owned()), "{events:?}");
    assert_eq!(
        event_key(&inform, "7 TRANSFER COMPLETE"),
        Some(""),
        "{events:?}"
    );
    assert_eq!(
        event_key(&inform, "M Download"),
        Some("crash-1"),
        "{events:?}"
    );
    let complete = transfer_complete(acs).await;
    assert_eq!(complete.command_key, "crash-1");
    assert_eq!(complete.fault_struct.fault_code, 9017, "{complete:?}");
    assert!(!complete.fault_struct.fault_string.is_empty());
    assert_ne!(complete.start_time, UNKNOWN_TIME, "{complete:?}");
}

/// Restarted once more, on the connection-request port of `cr_url` (the last run's: another
/// would be a `4 VALUE CHANGE`), the agent informs `1 BOOT` only: nothing lost, nothing
/// repeated.
async fn nothing_left(acs: &mut Acs, state: &Path, cr_url: &str) {
    let port = common::port_of(cr_url).to_string();
    let args = ["--acs-url", &acs.url, "--cr-port", &port];
    let agent = AgentProcess::start(state, &args).await;
    assert_eq!(agent.cr_url, cr_url);
    let inform = acs.next_inform().await;
    assert_eq!(codes(&inform), ["1 BOOT"]);
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_download_cut_by_sigkill_resumes_after_the_restart() {
    let mut acs = Acs::start().await;
    let (url, mut requests) =
        file_server(content(), content(), Version::ETag, Cut::Stall, true).await;
    let state = tempfile::tempdir().unwrap();
    let start = kill_mid_download(&mut acs, &url, &mut requests, state.path()).await;

    // Restarted: the rest is asked for, and the download reported done, as first started.
    let mut agent = start_agent(state.path(), &acs.url).await;
    let request = next_request(&mut requests).await;
    assert!(
        request.contains(&format!("\r\nrange: bytes={HALF}-\r\n")),
        "{request}"
    );
    assert!(request.contains("\r\nif-range: \"v1\"\r\n"), "{request}");
    let complete = next_transfer_complete(&mut acs).await;
    assert_eq!(complete.command_key, "crash-1");
    assert_eq!(complete.fault_struct.fault_code, 0, "{complete:?}");
    let started = DateTime::parse(&complete.start_time).and_then(|t| t.unix_seconds());
    assert_eq!(started, Some(start), "{complete:?}");
    assert_eq!(stored(state.path()), content());
    agent.wait_line("CWMP session ended").await;
    let cr_url = agent.cr_url.clone();
    agent.stop().await;
    nothing_left(&mut acs, state.path(), &cr_url).await;
}

/// A Download of a file whose server (giving `version`) closes the first connection
/// halfway, then answers with `later`, in part if it `ranges`: the requests after the first,
/// and the file stored.
async fn download_cut_by_the_server(
    later: Vec<u8>,
    version: Version,
    ranges: bool,
) -> (Vec<String>, Vec<u8>) {
    let mut acs = Acs::start().await;
    let (url, mut requests) = file_server(content(), later, version, Cut::Close, ranges).await;
    let state = tempfile::tempdir().unwrap();
    acs.push(download(&url, "cut", SIZE));
    let agent = start_agent(state.path(), &acs.url).await;
    acs.next_inform().await;
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    download_pending(&mut acs).await;
    let complete = next_transfer_complete(&mut acs).await;
    assert_eq!(complete.fault_struct.fault_code, 0, "{complete:?}");
    agent.stop().await;
    next_request(&mut requests).await;
    let mut later = Vec::new();
    while let Ok(request) = requests.try_recv() {
        later.push(request);
    }
    (later, stored(state.path()))
}

#[tokio::test(flavor = "current_thread")]
async fn a_connection_dropped_halfway_is_resumed_with_a_range() {
    let (requests, file) = download_cut_by_the_server(content(), Version::ETag, true).await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(requests[0].contains(&format!("\r\nrange: bytes={HALF}-\r\n")));
    assert!(requests[0].contains("\r\nif-range: \"v1\"\r\n"));
    assert_eq!(file, content());
}

#[tokio::test(flavor = "current_thread")]
async fn a_server_ignoring_the_range_gets_the_whole_file_stored() {
    let (requests, file) = download_cut_by_the_server(content(), Version::ETag, false).await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(requests[0].contains("\r\nrange: "), "{requests:?}");
    assert_eq!(file, content());
}

#[tokio::test(flavor = "current_thread")]
async fn a_changed_etag_starts_the_file_over() {
    let changed: Vec<u8> = content().iter().map(|b| !b).collect();
    let (requests, file) = download_cut_by_the_server(changed.clone(), Version::ETag, true).await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(requests[0].contains("\r\nif-range: \"v1\"\r\n"));
    assert_eq!(file, changed);
}

/// RFC 9110 §8.8.2.2: with no `ETag`, a `Last-Modified` date a second before the response's
/// `Date` is a strong validator; `If-Range` carries it as the server sent it.
#[tokio::test(flavor = "current_thread")]
async fn a_strong_last_modified_date_is_resumed_with_a_range() {
    let date = Version::Modified("Sun, 06 Nov 1994 08:49:38 GMT");
    let (requests, file) = download_cut_by_the_server(content(), date, true).await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(requests[0].contains(&format!("\r\nrange: bytes={HALF}-\r\n")));
    let if_range = format!("\r\nif-range: {}\r\n", MODIFIED.to_ascii_lowercase());
    assert!(requests[0].contains(&if_range), "{requests:?}");
    assert_eq!(file, content());
}

/// A `Last-Modified` date no earlier than the second of the response's `Date` is weak: the
/// file may change again within that second, so the rest is not asked for.
#[tokio::test(flavor = "current_thread")]
async fn a_weak_last_modified_date_starts_the_file_over() {
    let (requests, file) =
        download_cut_by_the_server(content(), Version::Modified(MODIFIED), true).await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(!requests[0].contains("range:"), "{requests:?}");
    assert_eq!(file, content());
}

#[tokio::test(flavor = "current_thread")]
async fn a_transfer_the_journal_never_saw_is_still_reported() {
    let mut acs = Acs::start().await;
    let (url, mut requests) =
        file_server(content(), content(), Version::ETag, Cut::Stall, true).await;
    let state = tempfile::tempdir().unwrap();
    kill_mid_download(&mut acs, &url, &mut requests, state.path()).await;
    // What a crash after the engine saved the transfer, before the journal write, leaves.
    std::fs::remove_file(state.path().join("downloads.json")).unwrap();

    let mut agent = start_agent(state.path(), &acs.url).await;
    interrupted_download_reported(&mut acs).await;
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    agent.wait_line("CWMP session ended").await;
    let cr_url = agent.cr_url.clone();
    agent.stop().await;
    nothing_left(&mut acs, state.path(), &cr_url).await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_upload_cut_by_sigkill_is_reported_once_as_9011() {
    let mut acs = Acs::start().await;
    let (server, mut requests) = upload_server().await;
    let state = tempfile::tempdir().unwrap();
    let url = format!("{server}/stall/config.json");
    acs.push(upload(&url, "crash-up", "1 Vendor Configuration File"));
    let mut agent = start_agent(state.path(), &acs.url).await;
    acs.next_inform().await;
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    upload_pending(&mut acs).await;
    let request = tokio::time::timeout(WAIT, requests.recv())
        .await
        .expect("the agent sends the file")
        .unwrap();
    assert!(
        request.line.starts_with("PUT /stall/config.json "),
        "{request:?}"
    );
    agent.wait_line("CWMP session ended").await;
    agent.kill();

    let mut agent = start_agent(state.path(), &acs.url).await;
    let inform = acs.next_inform().await;
    assert!(
        event_key(&inform, "7 TRANSFER COMPLETE").is_some(),
        "{inform:?}"
    );
    assert_eq!(event_key(&inform, "M Upload"), Some("crash-up"));
    let complete = transfer_complete(&mut acs).await;
    assert_eq!(complete.command_key, "crash-up");
    assert_eq!(complete.fault_struct.fault_code, 9011, "{complete:?}");
    assert_ne!(complete.start_time, UNKNOWN_TIME, "{complete:?}");
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    agent.wait_line("CWMP session ended").await;
    let cr_url = agent.cr_url.clone();
    agent.stop().await;
    nothing_left(&mut acs, state.path(), &cr_url).await;
}
