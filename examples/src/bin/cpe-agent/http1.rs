//! The agent's own HTTP/1.1 (RFC 9112) framing over any byte stream: the ACS client's POSTs
//! ([`crate::acs_client`]), the downloads' GETs ([`crate::download`]) and the
//! connection-request server ([`crate::cwmp`]).
//!
//! Authentication, cookies and redirects are cwmp-core's (sans-IO); this module only writes
//! heads and bodies and reads them back, with `httparse` (which tungstenite links anyway) for
//! the heads. It replaces hyper, whose client, server and body machinery weighed about 100 KB
//! of the router build for three one-at-a-time exchanges (issue #8). Bounded: a head is at most
//! [`MAX_HEAD`] bytes and [`MAX_HEADERS`] fields, a chunk-size or trailer line at most
//! [`MAX_LINE`] bytes; callers bound bodies ([`Conn::read_body`]) and time (timeouts).

use std::fmt;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// Most bytes of a request or response head (start line and header fields).
const MAX_HEAD: usize = 16 * 1024;
/// Most header fields in a head.
const MAX_HEADERS: usize = 64;
/// Most bytes of a chunk-size line or a trailer field.
const MAX_LINE: usize = 1024;
/// Bytes asked of the stream per read.
const READ_SIZE: usize = 8 * 1024;

/// Why an exchange failed.
#[derive(Debug)]
pub(crate) enum Error {
    /// The stream failed.
    Io(std::io::Error),
    /// The peer closed the connection before the message was complete.
    Closed,
    /// The message is not HTTP/1.1 as RFC 9112 frames it.
    Malformed(&'static str),
    /// The head, a line or the body is above its bound.
    TooLarge(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(error) => write!(f, "{error}"),
            Self::Closed => f.write_str("connection closed before the message was complete"),
            Self::Malformed(what) => write!(f, "malformed HTTP message: {what}"),
            Self::TooLarge(what) => write!(f, "HTTP {what} too large"),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Self::Io(error)
    }
}

/// Header fields, in order, as received (names keep their case).
pub(crate) type Headers = Vec<(String, String)>;

/// The head of a response.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    /// The status code.
    pub(crate) status: u16,
    /// The header fields.
    pub(crate) headers: Headers,
}

/// The head of a request.
#[derive(Debug)]
pub(crate) struct RequestHead {
    /// The method (`GET`, ...).
    pub(crate) method: String,
    /// The request target (`/path?query`).
    pub(crate) target: String,
    /// The header fields.
    pub(crate) headers: Headers,
}

/// How the body being read is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    /// No body left.
    Done,
    /// This many bytes left.
    Length(u64),
    /// Until the peer closes the connection.
    UntilClose,
    /// Chunked: a chunk-size line next.
    ChunkSize,
    /// Chunked: this many bytes of the current chunk left.
    ChunkData(u64),
}

/// One HTTP/1.1 connection: the stream and what was read of it but not yet used.
pub(crate) struct Conn<S> {
    io: S,
    buffer: Vec<u8>,
    body: Body,
    /// Whether another message may follow the current one (RFC 9112 §9.3).
    keep_alive: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// A connection over `io`.
    pub(crate) fn new(io: S) -> Self {
        Self {
            io,
            buffer: Vec::new(),
            body: Body::Done,
            keep_alive: true,
        }
    }

    /// Whether the connection can carry another exchange: the last message was read to its
    /// end and neither side asked to close.
    pub(crate) fn reusable(&self) -> bool {
        self.keep_alive && self.body == Body::Done
    }

    /// Writes a request with `body` (a `Content-Length` is added when the body is not
    /// empty or the method carries one).
    pub(crate) async fn send_request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), Error> {
        let start = format!("{method} {target} HTTP/1.1");
        let length = (!body.is_empty() || matches!(method, "POST" | "PUT")).then_some(body.len());
        self.write_message(&start, headers, length, body).await
    }

    /// Writes a response without a body.
    pub(crate) async fn send_response(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
    ) -> Result<(), Error> {
        let reason = tokio_tungstenite::tungstenite::http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let start = format!("HTTP/1.1 {status} {reason}");
        let close = (!self.keep_alive).then_some(("Connection", "close"));
        let headers: Vec<(&str, &str)> = headers.iter().copied().chain(close).collect();
        self.write_message(&start, &headers, Some(0), &[]).await
    }

    async fn write_message(
        &mut self,
        start: &str,
        headers: &[(&str, &str)],
        length: Option<usize>,
        body: &[u8],
    ) -> Result<(), Error> {
        let mut out = Vec::with_capacity(start.len() + 256 + body.len());
        out.extend_from_slice(start.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in headers {
            let valid = !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
                && !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
            if !valid {
                return Err(Error::Malformed("header field to send"));
            }
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if let Some(length) = length {
            out.extend_from_slice(format!("Content-Length: {length}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        self.io.write_all(&out).await?;
        self.io.flush().await?;
        Ok(())
    }

    /// Reads the head of the next response, skipping interim (1xx) ones; its body is read
    /// next with [`Conn::read_chunk`] or [`Conn::read_body`].
    pub(crate) async fn read_response_head(&mut self) -> Result<ResponseHead, Error> {
        loop {
            let (status, headers, version) = self
                .read_head(|bytes, fields| {
                    let mut response = httparse::Response::new(fields);
                    let length = response.parse(bytes)?;
                    Ok(complete(length).map(|n| {
                        let version = response.version.unwrap_or(1);
                        let head = (response.code.unwrap_or(0), owned(response.headers), version);
                        (n, head)
                    }))
                })
                .await?;
            if (100..200).contains(&status) {
                if status == 101 {
                    return Err(Error::Malformed("unexpected protocol switch"));
                }
                continue;
            }
            self.keep_alive = keep_alive(version, &headers);
            self.body = if status == 204 || status == 304 {
                Body::Done
            } else {
                match framing(&headers)? {
                    Some(body) => body,
                    None => Body::UntilClose,
                }
            };
            if self.body == Body::UntilClose {
                self.keep_alive = false;
            }
            return Ok(ResponseHead { status, headers });
        }
    }

    /// Reads the head of the next request; `None` when the peer closed the connection
    /// between requests.
    pub(crate) async fn read_request_head(&mut self) -> Result<Option<RequestHead>, Error> {
        let read = self
            .read_head(|bytes, fields| {
                let mut request = httparse::Request::new(fields);
                let length = request.parse(bytes)?;
                Ok(complete(length).map(|n| {
                    let head = (
                        request.method.unwrap_or("").to_owned(),
                        request.path.unwrap_or("").to_owned(),
                        owned(request.headers),
                        request.version.unwrap_or(1),
                    );
                    (n, head)
                }))
            })
            .await;
        let (method, target, headers, version) = match read {
            Ok(head) => head,
            Err(Error::Closed) if self.buffer.is_empty() => return Ok(None),
            Err(error) => return Err(error),
        };
        self.keep_alive = keep_alive(version, &headers);
        // A request without framing has no body (RFC 9112 §6.3, last rule).
        self.body = framing(&headers)?.unwrap_or(Body::Done);
        if self.body == Body::UntilClose {
            return Err(Error::Malformed("request body without a length"));
        }
        Ok(Some(RequestHead {
            method,
            target,
            headers,
        }))
    }

    /// Parses a head from the buffer with `parse` (`httparse` over the header array: the
    /// head's length and value once complete), reading more until it is complete.
    async fn read_head<T>(
        &mut self,
        parse: impl for<'b> Fn(
            &'b [u8],
            &mut [httparse::Header<'b>],
        ) -> Result<Option<(usize, T)>, httparse::Error>,
    ) -> Result<T, Error> {
        loop {
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match parse(&self.buffer, &mut fields) {
                Ok(Some((length, head))) => {
                    self.buffer.drain(..length.min(self.buffer.len()));
                    return Ok(head);
                }
                Ok(None) => {}
                Err(httparse::Error::TooManyHeaders) => return Err(Error::TooLarge("head")),
                Err(_) => return Err(Error::Malformed("head")),
            }
            if self.buffer.len() >= MAX_HEAD {
                return Err(Error::TooLarge("head"));
            }
            if self.fill().await? == 0 {
                return Err(Error::Closed);
            }
        }
    }

    /// The next piece of the current body, `None` at its end.
    pub(crate) async fn read_chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
        loop {
            match self.body {
                Body::Done => return Ok(None),
                Body::Length(0) => self.body = Body::Done,
                Body::Length(left) | Body::ChunkData(left) => {
                    if self.buffer.is_empty() && self.fill().await? == 0 {
                        return Err(Error::Closed);
                    }
                    let take = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(self.buffer.len());
                    let data: Vec<u8> = self.buffer.drain(..take).collect();
                    let left = left.saturating_sub(u64::try_from(take).unwrap_or(u64::MAX));
                    self.body = match self.body {
                        Body::ChunkData(_) if left == 0 => {
                            if !self.read_line().await?.is_empty() {
                                return Err(Error::Malformed("chunk end"));
                            }
                            Body::ChunkSize
                        }
                        Body::ChunkData(_) => Body::ChunkData(left),
                        _ => Body::Length(left),
                    };
                    return Ok(Some(data));
                }
                Body::UntilClose => {
                    if self.buffer.is_empty() && self.fill().await? == 0 {
                        self.body = Body::Done;
                        return Ok(None);
                    }
                    return Ok(Some(std::mem::take(&mut self.buffer)));
                }
                Body::ChunkSize => {
                    let line = self.read_line().await?;
                    let size = line.split(|b| *b == b';').next().unwrap_or_default();
                    let size = std::str::from_utf8(size)
                        .ok()
                        .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
                        .ok_or(Error::Malformed("chunk size"))?;
                    if size > 0 {
                        self.body = Body::ChunkData(size);
                        continue;
                    }
                    // The last chunk: skip the trailer fields up to the empty line.
                    while !self.read_line().await?.is_empty() {}
                    self.body = Body::Done;
                }
            }
        }
    }

    /// The rest of the current body, refused when above `limit` bytes.
    pub(crate) async fn read_body(&mut self, limit: usize) -> Result<Vec<u8>, Error> {
        let mut body = Vec::new();
        while let Some(data) = self.read_chunk().await? {
            if body.len().saturating_add(data.len()) > limit {
                self.keep_alive = false;
                return Err(Error::TooLarge("body"));
            }
            body.extend_from_slice(&data);
        }
        Ok(body)
    }

    /// One line (without its CRLF) of the chunked framing.
    async fn read_line(&mut self) -> Result<Vec<u8>, Error> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buffer.len() > MAX_LINE {
                return Err(Error::TooLarge("chunk line"));
            }
            if self.fill().await? == 0 {
                return Err(Error::Closed);
            }
        }
    }

    /// Reads what the stream has into the buffer; the number of bytes (0: closed).
    async fn fill(&mut self) -> Result<usize, Error> {
        self.buffer.reserve(READ_SIZE);
        Ok(self.io.read_buf(&mut self.buffer).await?)
    }
}

/// The length of a complete head, `None` for a partial one.
fn complete(status: httparse::Status<usize>) -> Option<usize> {
    match status {
        httparse::Status::Complete(length) => Some(length),
        httparse::Status::Partial => None,
    }
}

/// The header fields of a parsed head, owned (values that are not UTF-8 are left out, as
/// the callers only read text fields).
fn owned(fields: &[httparse::Header<'_>]) -> Headers {
    fields
        .iter()
        .filter_map(|field| {
            let value = std::str::from_utf8(field.value).ok()?;
            Some((field.name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// The comma-separated tokens of every `name` field, trimmed.
fn tokens<'a>(headers: &'a Headers, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
}

/// Whether the connection stays open after this message (RFC 9112 §9.3).
fn keep_alive(version: u8, headers: &Headers) -> bool {
    let mut options = tokens(headers, "Connection");
    if version >= 1 {
        !options.any(|t| t.eq_ignore_ascii_case("close"))
    } else {
        options.any(|t| t.eq_ignore_ascii_case("keep-alive"))
    }
}

/// The body framing the fields give (RFC 9112 §6.3), `None` when they give none.
fn framing(headers: &Headers) -> Result<Option<Body>, Error> {
    if let Some(last) = tokens(headers, "Transfer-Encoding").last() {
        return Ok(Some(if last.eq_ignore_ascii_case("chunked") {
            Body::ChunkSize
        } else {
            Body::UntilClose
        }));
    }
    let mut length = None;
    for value in tokens(headers, "Content-Length") {
        let value: u64 = value
            .parse()
            .map_err(|_| Error::Malformed("Content-Length"))?;
        if length.is_some_and(|l| l != value) {
            return Err(Error::Malformed("Content-Length"));
        }
        length = Some(value);
    }
    Ok(length.map(Body::Length))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, duplex};

    use super::*;

    /// A connection reading `input`; then the peer closes its side if `close`, or else
    /// holds the stream open (draining what the test writes) until the test drops it.
    fn peer(input: &[u8], close: bool) -> Conn<tokio::io::DuplexStream> {
        let (client, mut server) = duplex(1 << 20);
        let input = input.to_vec();
        tokio::spawn(async move {
            server.write_all(&input).await.unwrap();
            if close {
                server.shutdown().await.unwrap();
            } else {
                let _ = server.read_to_end(&mut Vec::new()).await;
            }
        });
        Conn::new(client)
    }

    fn reading(input: &[u8]) -> Conn<tokio::io::DuplexStream> {
        peer(input, false)
    }

    fn reading_then_closed(input: &[u8]) -> Conn<tokio::io::DuplexStream> {
        peer(input, true)
    }

    #[tokio::test]
    async fn content_length_bodies_follow_each_other_on_one_connection() {
        let mut conn = reading(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5\r\n\r\nhello\
              HTTP/1.1 204 No Content\r\nSet-Cookie: a=b\r\n\r\n",
        );
        let head = conn.read_response_head().await.unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(
            head.headers[0],
            ("Content-Type".to_owned(), "text/xml".to_owned())
        );
        assert_eq!(conn.read_body(100).await.unwrap(), b"hello");
        assert!(conn.reusable());
        let head = conn.read_response_head().await.unwrap();
        assert_eq!(head.status, 204);
        assert_eq!(conn.read_body(100).await.unwrap(), b"");
        assert!(conn.reusable());
    }

    #[tokio::test]
    async fn chunked_bodies_are_reassembled_and_trailers_skipped() {
        // RFC 9112 §7.1: sizes in hex, extensions after `;`, trailer fields after the last.
        let mut conn = reading(
            b"HTTP/1.1 100 Continue\r\n\r\n\
              HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              5;ext=1\r\nhello\r\nB\r\n, world and\r\n0\r\nExpires: never\r\n\r\n",
        );
        let head = conn.read_response_head().await.unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(conn.read_body(100).await.unwrap(), b"hello, world and");
        assert!(conn.reusable());
    }

    #[tokio::test]
    async fn bodies_without_framing_end_with_the_connection() {
        let mut conn = reading_then_closed(b"HTTP/1.0 200 OK\r\n\r\nall of it");
        conn.read_response_head().await.unwrap();
        assert!(!conn.reusable());
        assert_eq!(conn.read_body(100).await.unwrap(), b"all of it");
        assert!(!conn.reusable());
    }

    #[tokio::test]
    async fn truncated_and_oversized_messages_are_refused() {
        let mut conn = reading_then_closed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
        conn.read_response_head().await.unwrap();
        assert!(matches!(conn.read_body(100).await, Err(Error::Closed)));

        let mut conn = reading(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
        conn.read_response_head().await.unwrap();
        assert!(matches!(conn.read_body(9).await, Err(Error::TooLarge(_))));
        assert!(!conn.reusable());

        let mut conn =
            reading(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert!(matches!(
            conn.read_response_head().await,
            Err(Error::Malformed(_))
        ));

        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        head.extend(std::iter::repeat_n(b'a', MAX_HEAD));
        let mut conn = reading(&head);
        assert!(matches!(
            conn.read_response_head().await,
            Err(Error::TooLarge(_))
        ));

        let mut conn = reading(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        conn.read_response_head().await.unwrap();
        assert!(matches!(
            conn.read_body(100).await,
            Err(Error::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn requests_and_responses_are_written_as_rfc_9112_frames_them() {
        let (client, mut server) = duplex(1 << 16);
        let mut conn = Conn::new(client);
        conn.send_request("POST", "/acs", &[("Host", "acs:7547")], b"")
            .await
            .unwrap();
        conn.send_request("GET", "/f", &[("Host", "h")], b"")
            .await
            .unwrap();
        assert!(
            conn.send_request("GET", "/", &[("X", "a\r\nInjected: 1")], b"")
                .await
                .is_err()
        );
        drop(conn);
        let mut written = String::new();
        server.read_to_string(&mut written).await.unwrap();
        assert_eq!(
            written,
            "POST /acs HTTP/1.1\r\nHost: acs:7547\r\nContent-Length: 0\r\n\r\n\
             GET /f HTTP/1.1\r\nHost: h\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn a_server_reads_requests_until_the_client_closes() {
        let mut conn = reading_then_closed(
            b"GET /cr?x=1 HTTP/1.1\r\nHost: cpe\r\n\r\n\
              GET /cr HTTP/1.1\r\nAuthorization: Digest x\r\nConnection: close\r\n\r\n",
        );
        let head = conn.read_request_head().await.unwrap().unwrap();
        assert_eq!(
            (head.method.as_str(), head.target.as_str()),
            ("GET", "/cr?x=1")
        );
        assert!(conn.reusable());
        let head = conn.read_request_head().await.unwrap().unwrap();
        assert_eq!(head.headers[0].1, "Digest x");
        assert!(!conn.reusable());
        assert!(conn.read_request_head().await.unwrap().is_none());

        let (client, mut server) = duplex(1 << 16);
        let mut conn = Conn::new(client);
        conn.keep_alive = false;
        conn.send_response(401, &[("WWW-Authenticate", "Digest realm=\"r\"")])
            .await
            .unwrap();
        drop(conn);
        let mut written = String::new();
        server.read_to_string(&mut written).await.unwrap();
        assert_eq!(
            written,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"r\"\r\n\
             Connection: close\r\nContent-Length: 0\r\n\r\n"
        );
    }
}
