//! A file server for uploads, on raw TCP: it reads each request (head and `Content-Length`
//! body), reports it, and answers by the target's first segment: `/fail/...` 500,
//! `/auth/...` 401, `/stall/...` never (the connection stays open), `/digest/...` 401 with a
//! Digest challenge until a request carries valid Digest credentials for `up`/`secret` (only
//! that one is reported), anything else 201.
//! Also the ACS's Upload and the check of its response.

use std::time::Instant;

use cwmp_core::codec::{Body as CwmpBody, Status, Upload};
use cwmp_core::connreq::{DigestConfig, DigestServer, DigestVerdict};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::Acs;

/// A request as the server received it.
#[derive(Debug)]
pub(crate) struct Received {
    /// The request line.
    pub(crate) line: String,
    /// The header fields, names in lower case.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Starts the server; its base URL (`http://127.0.0.1:port`) and the requests it receives.
pub(crate) async fn upload_server() -> (String, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, requests) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stalled = Vec::new();
        let mut digest = DigestServer::new(DigestConfig::new("up", "secret"), 3);
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let Some(received) = read_request(&mut stream).await else {
                continue;
            };
            let target = received.line.split(' ').nth(1).unwrap_or("").to_owned();
            let route = target.split('/').nth(1);
            if route == Some("digest") {
                let (now, method) = (Instant::now(), received.line.split(' ').next().unwrap());
                let authorization = received.header("authorization").unwrap_or("");
                if digest.verify(now, method, &target, authorization) != DigestVerdict::Valid {
                    let mut answer = "HTTP/1.1 401 Unauthorized\r\n".to_owned();
                    for challenge in digest.challenge(now, false) {
                        answer.push_str(&format!("WWW-Authenticate: {challenge}\r\n"));
                    }
                    answer.push_str("Content-Length: 0\r\n\r\n");
                    let _ = stream.write_all(answer.as_bytes()).await;
                    continue;
                }
            }
            let _ = tx.send(received);
            let status = match route {
                Some("stall") => {
                    stalled.push(stream);
                    continue;
                }
                Some("fail") => "500 Internal Server Error",
                Some("auth") => "401 Unauthorized",
                _ => "201 Created",
            };
            let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    (url, requests)
}

async fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut head = Vec::new();
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    Some(Received {
        line,
        headers,
        body,
    })
}

/// A CWMP Upload of `file_type` to `url`, with credentials `up`/`secret`.
pub(crate) fn upload(url: &str, key: &str, file_type: &str) -> CwmpBody {
    CwmpBody::Upload(Upload {
        command_key: key.into(),
        file_type: file_type.into(),
        url: url.into(),
        username: "up".into(),
        password: "secret".into(),
        delay_seconds: 0,
    })
}

/// The ACS's next POST must be an UploadResponse saying the transfer comes later.
pub(crate) async fn upload_pending(acs: &mut Acs) {
    match acs.next_post().await.map(|e| e.body) {
        Some(CwmpBody::UploadResponse(r)) => assert_eq!(r.status, Status::Pending),
        other => panic!("expected UploadResponse, got {other:?}"),
    }
}
