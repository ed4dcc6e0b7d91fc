//! Crash safety: the `cpe-agent` process is killed (SIGKILL) in the middle of a Download and
//! restarted on the same state directory; the ACS still gets the TransferComplete.
//!
//! The scripted ACS sends a Download (CommandKey `crash-1`) of a file the test serves over
//! HTTP: the server sends the headers and the first KiB, then stalls. Once those bytes are
//! out, the agent is killed. Restarted, it informs with `1 BOOT`, `7 TRANSFER COMPLETE` and
//! `M Download` (`crash-1`), then sends TransferComplete for `crash-1` with fault 9017
//! (TR-069: "Download failure: unable to complete download"). In that session the ACS sends
//! a second Download (`crash-2`), which the server now serves whole: its TransferComplete has
//! fault 0 and the file on disk is the one served. A last restart brings only `1 BOOT`:
//! nothing was lost and nothing is repeated.
//!
//! The engine persists a transfer before the driver journals it. A crash between the two is
//! replayed by killing the agent mid-transfer and deleting the journal: restarted, the agent
//! still sends the TransferComplete (9017), from the transfer the engine holds as running.
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

use cwmp_core::codec::{Inform, UNKNOWN_TIME};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use common::files::{upload, upload_pending, upload_server};
use common::{Acs, AgentProcess, WAIT, codes, download, download_pending, transfer_complete};

/// The served file.
const SIZE: u32 = 64 * 1024;

fn content() -> Vec<u8> {
    (0..SIZE).map(|i| (i % 251) as u8).collect()
}

/// An HTTP file server: the first GET gets the headers and 1 KiB, then nothing more (the
/// connection stays open); later GETs get the whole file. Each request line is reported.
async fn file_server() -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/fw.bin", listener.local_addr().unwrap());
    let (tx, requests) = mpsc::unbounded_channel();
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
            let head = String::from_utf8_lossy(&head).into_owned();
            let file = content();
            let body = if n == 0 { &file[..1024] } else { &file[..] };
            stream
                .write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {SIZE}\r\n\r\n").as_bytes())
                .await
                .unwrap();
            stream.write_all(body).await.unwrap();
            stream.flush().await.unwrap();
            let _ = tx.send(head);
            if n == 0 {
                stalled.push(stream);
            }
        }
    });
    (url, requests)
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
/// kills the agent once the transfer is under way (its first KiB sent).
async fn kill_mid_download(
    acs: &mut Acs,
    url: &str,
    requests: &mut mpsc::UnboundedReceiver<String>,
    state: &Path,
) {
    // Queued before the agent starts, so that the CPE's empty POST finds it.
    acs.push(download(url, "crash-1", SIZE));
    let mut agent = start_agent(state, &acs.url).await;
    let inform = acs.next_inform().await;
    assert!(codes(&inform).contains(&"0 BOOTSTRAP".to_owned()));
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    download_pending(acs).await;
    let request = tokio::time::timeout(WAIT, requests.recv())
        .await
        .expect("the agent fetches the file")
        .unwrap();
    assert!(request.starts_with("GET /fw.bin HTTP/1.1\r\n"), "{request}");
    agent.wait_line("download started").await;
    agent.kill();
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
async fn a_download_cut_by_sigkill_is_still_reported() {
    let mut acs = Acs::start().await;
    let (url, mut requests) = file_server().await;
    let state = tempfile::tempdir().unwrap();
    kill_mid_download(&mut acs, &url, &mut requests, state.path()).await;
    // For the next session, after the TransferComplete: a Download that goes through.
    acs.push(download(&url, "crash-2", SIZE));

    // Restarted: the interrupted transfer is reported, with its CommandKey and 9017.
    let mut agent = start_agent(state.path(), &acs.url).await;
    interrupted_download_reported(&mut acs).await;

    // The second Download, in the same session, goes through whole.
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    download_pending(&mut acs).await;
    agent.wait_line("CWMP session ended").await;
    let inform = acs.next_inform().await;
    assert_eq!(event_key(&inform, "M Download"), Some("crash-2"));
    assert!(event_key(&inform, "7 TRANSFER COMPLETE").is_some());
    let complete = transfer_complete(&mut acs).await;
    assert_eq!(complete.command_key, "crash-2");
    assert_eq!(complete.fault_struct.fault_code, 0, "{complete:?}");
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    agent.wait_line("CWMP session ended").await;
    let stored = std::fs::read_dir(state.path().join("downloads"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|e| e == "bin"))
        .expect("the downloaded file");
    assert_eq!(
        std::fs::read(&stored).unwrap(),
        content(),
        "{}",
        stored.display()
    );
    let cr_url = agent.cr_url.clone();
    agent.stop().await;
    nothing_left(&mut acs, state.path(), &cr_url).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_transfer_the_journal_never_saw_is_still_reported() {
    let mut acs = Acs::start().await;
    let (url, mut requests) = file_server().await;
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
