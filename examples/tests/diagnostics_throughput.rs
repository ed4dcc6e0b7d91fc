//! End to end: the TR-143 throughput tests of the `cpe-agent` binary, run for real against
//! an HTTP server of the test on loopback (raw TCP: it knows each byte it sends and gets).
//!
//! USP: a controller operates `Device.IP.Diagnostics.DownloadDiagnostics()` over two
//! connections with per-connection results (`TestBytesReceived` is exactly the bytes of the
//! responses, heads included, the times in order), `UploadDiagnostics()` (the server gets
//! `TestFileLength` bytes by PUT; `TestBytesSent` is exactly the request's bytes), a
//! time-based download with incremental results, a minute-long one cancelled through its
//! `Request.{i}.Cancel()` (completed at once as cancelled, 7023), a download from a closed port
//! (`Error_InitConnectionFailed`), one cut short of its `Content-Length`
//! (`Error_IncorrectSize`) and an `ftp://` one (`Error_Other`).
//!
//! CWMP: the ACS sets `Device.IP.Diagnostics.DownloadDiagnostics.DiagnosticsState` to
//! `Requested`, gets `8 DIAGNOSTICS COMPLETE` and reads the results. Every wait is bounded.
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

use std::time::Duration;

use cwmp_core::codec::ValueType;
use rusp_lib::usp_builder::OperateBuilder;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tr181_model::value::DateTime;

use common::{AgentProcess, Controller, WAIT, param};

const DOWNLOAD: &str = "Device.IP.Diagnostics.DownloadDiagnostics()";
const UPLOAD: &str = "Device.IP.Diagnostics.UploadDiagnostics()";

/// The head the server sends before a file of `size` bytes.
fn file_head(size: u64) -> String {
    format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n")
}

/// A PUT as the server got it: the bytes of its head and of its body.
#[derive(Debug)]
struct Put {
    head: u64,
    body: u64,
}

/// Starts the server; its base URL and the PUTs it gets. `GET /file/N` answers N bytes
/// ([`file_head`]); `GET /short/N` announces N + 1000 bytes, sends N and closes; `GET
/// /slow/N` sends N bytes in 4 KiB pieces 10 ms apart; a PUT's body is counted and dropped,
/// answered 201. Connections stay open between requests.
async fn server() -> (String, mpsc::UnboundedReceiver<Put>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, puts) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(serve(stream, tx.clone()));
        }
    });
    (url, puts)
}

/// Serves the requests of one connection until it closes.
async fn serve(mut stream: TcpStream, puts: mpsc::UnboundedSender<Put>) {
    let mut buffer = Vec::new();
    loop {
        let end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut piece = [0; 4096];
            match stream.read(&mut piece).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&piece[..n]),
            }
        };
        let head = String::from_utf8(buffer.drain(..end).collect()).unwrap();
        let mut words = head.split(' ');
        let (method, target) = (words.next().unwrap(), words.next().unwrap());
        let mut parts = target.split('/').skip(1);
        let route = parts.next().unwrap_or("").to_owned();
        let size: u64 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        if method == "PUT" {
            let length: u64 = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|n| n.trim().parse().ok())
                .unwrap();
            let mut body = u64::try_from(buffer.len()).unwrap().min(length);
            buffer.drain(..usize::try_from(body).unwrap());
            while body < length {
                let mut piece = [0; 16384];
                match stream.read(&mut piece).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        let n = u64::try_from(n).unwrap();
                        // Only the body's bytes: the agent sends no more before the answer.
                        assert!(body + n <= length, "bytes after the body");
                        body += n;
                    }
                }
            }
            let head = u64::try_from(end).unwrap();
            puts.send(Put { head, body }).unwrap();
            let answer = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
            if stream.write_all(answer).await.is_err() {
                return;
            }
            continue;
        }
        let announced = if route == "short" { size + 1000 } else { size };
        if stream
            .write_all(file_head(announced).as_bytes())
            .await
            .is_err()
        {
            return;
        }
        let piece = if route == "slow" { 4096 } else { 65536 };
        let mut sent = 0;
        while sent < size {
            let n = piece.min(size - sent);
            let zeros = vec![0; usize::try_from(n).unwrap()];
            if stream.write_all(&zeros).await.is_err() {
                return;
            }
            sent += n;
            if route == "slow" {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        if route == "short" {
            return;
        }
    }
}

fn time(out: &Value, name: &str) -> DateTime {
    let text = out[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {out}"));
    DateTime::parse(text).unwrap()
}

fn number(out: &Value, name: &str) -> u64 {
    let text = out[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {out}"));
    text.parse().unwrap()
}

/// The times of a result (`prefix` names a row) are in the order TR-143 gives them.
fn assert_times_ordered(out: &Value, prefix: &str) {
    let order = [
        "TCPOpenRequestTime",
        "TCPOpenResponseTime",
        "ROMTime",
        "BOMTime",
        "EOMTime",
    ];
    let times: Vec<_> = order
        .iter()
        .map(|name| time(out, &format!("{prefix}{name}")))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{prefix}: {out}");
    // Microseconds, as TR-143 asks: a GET on loopback takes less than a second.
    assert!(
        out[&format!("{prefix}EOMTime")]
            .as_str()
            .unwrap()
            .contains('.'),
        "{out}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_controller_runs_downloads_and_uploads_against_a_real_server() {
    common::within(Duration::from_secs(120), usp_scenario()).await;
}

async fn usp_scenario() {
    let (server, mut puts) = server().await;
    let state = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(state.path(), &[]).await;
    let mut ctrl = Controller::connect(&agent.url).await;
    common::subscribe_completions(&mut ctrl, "throughput", &[DOWNLOAD, UPLOAD]).await;

    // Two connections, each getting the whole file.
    const SIZE: u64 = 300_000;
    let url = format!("{server}/file/{SIZE}");
    let out = common::operate_command(
        &mut ctrl,
        DOWNLOAD,
        "download",
        &[
            ("DownloadURL", &url),
            ("NumberOfConnections", "2"),
            ("EnablePerConnectionResults", "true"),
        ],
    )
    .await;
    assert_eq!(out["Status"], "Complete", "{out}");
    let response = SIZE + u64::try_from(file_head(SIZE).len()).unwrap();
    assert_eq!(number(&out, "TestBytesReceived"), 2 * response, "{out}");
    assert_eq!(number(&out, "TotalBytesReceived"), 2 * response, "{out}");
    assert!(number(&out, "TotalBytesSent") > 0, "{out}");
    assert_eq!(out["IPAddressUsed"], "127.0.0.1", "{out}");
    assert_times_ordered(&out, "");
    for n in 1..=2 {
        let prefix = format!("PerConnectionResult.{n}.");
        assert_eq!(
            number(&out, &format!("{prefix}TestBytesReceived")),
            response,
            "{out}"
        );
        assert_times_ordered(&out, &prefix);
    }

    // An upload: the server gets the file's bytes; the test counts the request's.
    const LENGTH: u64 = 200_000;
    let url = format!("{server}/up/load");
    let out = common::operate_command(
        &mut ctrl,
        UPLOAD,
        "upload",
        &[("UploadURL", &url), ("TestFileLength", &LENGTH.to_string())],
    )
    .await;
    assert_eq!(out["Status"], "Complete", "{out}");
    let put = tokio::time::timeout(WAIT, puts.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(put.body, LENGTH, "{put:?}");
    assert_eq!(number(&out, "TestBytesSent"), put.head + put.body, "{out}");
    assert!(
        number(&out, "TotalBytesSent") >= put.head + put.body,
        "{out}"
    );
    assert_times_ordered(&out, "");

    // A time-based download: two intervals of one second, each with its bytes.
    let url = format!("{server}/slow/100000000");
    let out = common::operate_command(
        &mut ctrl,
        DOWNLOAD,
        "timed",
        &[
            ("DownloadURL", &url),
            ("TimeBasedTestDuration", "2"),
            ("TimeBasedTestMeasurementInterval", "1"),
        ],
    )
    .await;
    assert_eq!(out["Status"], "Complete", "{out}");
    let mut sum = 0;
    for n in 1..=2 {
        let prefix = format!("IncrementalResult.{n}.");
        let bytes = number(&out, &format!("{prefix}TestBytesReceived"));
        assert!(bytes > 0, "{out}");
        sum += bytes;
        let (start, end) = (
            time(&out, &format!("{prefix}StartTime")),
            time(&out, &format!("{prefix}EndTime")),
        );
        assert!(start < end, "{out}");
    }
    assert!(out.get("IncrementalResult.3.StartTime").is_none(), "{out}");
    assert!(sum <= number(&out, "TestBytesReceived"), "{out}");

    // A time-based test cancelled: it completes as cancelled at once, not after its minute.
    let url = format!("{server}/slow/100000000");
    let args = [
        ("DownloadURL", url.as_str()),
        ("TimeBasedTestDuration", "60"),
    ];
    let row = common::start_command(&mut ctrl, DOWNLOAD, "cancelled", &args).await;
    let cancel = OperateBuilder::new(format!("{row}Cancel()"))
        .with_send_resp(true)
        .build()
        .unwrap();
    let body = ctrl.request(cancel).await;
    assert!(body["Response"]["OperateResp"].is_object(), "{body}");
    let done = ctrl
        .notify(|n| n["oper_complete"]["command_key"] == "cancelled")
        .await;
    assert_eq!(
        done["oper_complete"]["cmd_failure"]["err_code"], 7023,
        "{done}"
    );

    // Failures: a closed port, a file cut short, a scheme the agent has not.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let failures = [
        (
            format!("http://127.0.0.1:{closed}/file/10"),
            "Error_InitConnectionFailed",
        ),
        (format!("{server}/short/5000"), "Error_IncorrectSize"),
        ("ftp://127.0.0.1/file".to_owned(), "Error_Other"),
    ];
    for (n, (url, status)) in failures.iter().enumerate() {
        let key = format!("failure-{n}");
        let out = common::operate_command(&mut ctrl, DOWNLOAD, &key, &[("DownloadURL", url)]).await;
        assert_eq!(out["Status"], *status, "{url}: {out}");
    }
    drop(ctrl);
    agent.stop().await;
}

const OBJECT: &str = "Device.IP.Diagnostics.DownloadDiagnostics.";

#[tokio::test(flavor = "current_thread")]
async fn an_acs_requests_a_download_test_and_reads_its_results_after_event_8() {
    common::within(Duration::from_secs(120), cwmp_scenario()).await;
}

async fn cwmp_scenario() {
    const SIZE: u64 = 123_456;
    let (server, _puts) = server().await;
    let state = tempfile::tempdir().unwrap();
    let url = format!("{server}/file/{SIZE}");
    let inputs = [("DownloadURL", url.as_str(), ValueType::String)];
    let (results, agent) = common::cwmp_diagnostics(state.path(), OBJECT, &inputs).await;
    let value = |name: &str| param(&results, &format!("{OBJECT}{name}")).map(str::to_owned);
    assert_eq!(value("DiagnosticsState").as_deref(), Some("Complete"));
    let response = SIZE + u64::try_from(file_head(SIZE).len()).unwrap();
    assert_eq!(value("TestBytesReceived"), Some(response.to_string()));
    let rom = DateTime::parse(&value("ROMTime").unwrap()).unwrap();
    let eom = DateTime::parse(&value("EOMTime").unwrap()).unwrap();
    assert!(rom <= eom && rom != DateTime::UNKNOWN, "{results:?}");
    agent.stop().await;
}
