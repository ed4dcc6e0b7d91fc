//! The agent's HTTP/1.1 (RFC 9112) connections over any byte stream: the ACS client's POSTs
//! ([`crate::acs_client`]), the downloads' GETs ([`crate::download`]), the throughput tests'
//! GETs and streamed PUTs ([`crate::throughput`]) and the connection-request server
//! ([`crate::cwmp`]).
//!
//! The protocol is ureq-proto's: its sans-IO client ([`Call`]) and server ([`Reply`]) state
//! machines write the heads, frame and unframe the bodies (Content-Length, chunked with its
//! extensions and trailers, close-delimited), skip interim responses and decide whether the
//! connection outlives an exchange. This module only moves bytes between the stream and them,
//! one exchange at a time. Authentication, cookies and redirects are cwmp-core's (sans-IO).
//! hyper did this before, but its connection-task machinery weighed about 100 KB of the router
//! build for three one-at-a-time exchanges (issue #8).
//!
//! Bounded: ureq-proto parses at most 128 header fields per head; this module gives it at
//! most [`MAX_HEAD`] bytes to find a head in and [`MAX_LINE`] bytes to find the end of a
//! chunk-size or trailer line in; callers bound bodies ([`Conn::read_body`]) and time
//! (timeouts). A step that fails or is cancelled (a timeout) leaves the connection unusable.

use std::fmt;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use ureq_proto::BodyMode;
use ureq_proto::client::state::{RecvBody as ResponseBody, RecvResponse, SendBody};
use ureq_proto::client::{Call, RecvBodyResult, RecvResponseResult, SendRequestResult};
use ureq_proto::http::{self, HeaderMap, header};
use ureq_proto::server::state::{ProvideResponse, RecvBody as RequestBody};
use ureq_proto::server::{RecvRequestResult, Reply, SendResponseResult};

/// Most bytes of a request or response head (start line and header fields).
const MAX_HEAD: usize = 16 * 1024;
/// Most bytes of a chunk-size line or a trailer field.
const MAX_LINE: usize = 1024;
/// Bytes asked of the stream per read.
const READ_SIZE: usize = 8 * 1024;
/// Room given to a state machine per write (its longest head line must fit).
const WRITE_SIZE: usize = MAX_HEAD;
/// The answer to a request that cannot be read, for which ureq-proto has no [`Reply`].
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// Why an exchange failed.
#[derive(Debug)]
pub(crate) enum Error {
    /// The stream failed.
    Io(std::io::Error),
    /// The peer closed the connection before the message was complete.
    Closed,
    /// ureq-proto refused a message: one received (its head, framing or a chunk), or one to
    /// send.
    Protocol(ureq_proto::Error),
    /// A method, target or header field to send is not valid HTTP.
    Invalid(http::Error),
    /// The head, a line or the body is above its bound.
    TooLarge(&'static str),
    /// The caller drove the exchange out of order (or an earlier step failed); what it asked.
    Misuse(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(error) => write!(f, "{error}"),
            Self::Closed => f.write_str("connection closed before the message was complete"),
            Self::Protocol(error) => write!(f, "malformed HTTP message: {error}"),
            Self::Invalid(error) => write!(f, "invalid HTTP message to send: {error}"),
            Self::TooLarge(what) => write!(f, "HTTP {what} too large"),
            Self::Misuse(what) => write!(f, "HTTP exchange out of order: {what}"),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Self::Io(error)
    }
}

impl From<ureq_proto::Error> for Error {
    fn from(error: ureq_proto::Error) -> Self {
        Self::Protocol(error)
    }
}

/// Header fields, in order, as received (names in lower case).
pub(crate) type Headers = Vec<(String, String)>;

/// The head of a response.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    /// The status code.
    pub(crate) status: u16,
    /// The header fields.
    pub(crate) headers: Headers,
}

impl ResponseHead {
    /// The first value of header field `name` (in lower case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }
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

/// Where the connection's exchange is: the state machine of its next step.
enum Exchange {
    /// None in progress: another may start, if the last one left the connection open.
    Idle,
    /// Client: the request head is sent; (the rest of) its body is next.
    Sending(Call<SendBody>),
    /// Client: the request is sent; the response head is next.
    Sent(Call<RecvResponse>),
    /// Client: the response body is next.
    Response(Call<ResponseBody>),
    /// Server: the request body is next.
    Request(Reply<RequestBody>),
    /// Server: the request is read; the response is next.
    Read(Reply<ProvideResponse>),
    /// A step failed or was cancelled midway: the connection carries nothing more.
    Broken,
}

/// One HTTP/1.1 connection: the stream, what was read of it but not yet used, and the
/// exchange in progress.
pub(crate) struct Conn<S> {
    io: S,
    buffer: Vec<u8>,
    exchange: Exchange,
    /// Whether another exchange may follow (ureq-proto's verdict on every one so far).
    keep_alive: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// A connection over `io`.
    pub(crate) fn new(io: S) -> Self {
        Self {
            io,
            buffer: Vec::new(),
            exchange: Exchange::Idle,
            keep_alive: true,
        }
    }

    /// Whether the connection can carry another exchange: the last one was read to its end
    /// and neither side asked to close.
    pub(crate) fn reusable(&self) -> bool {
        self.keep_alive && matches!(self.exchange, Exchange::Idle)
    }

    /// The exchange, left [`Exchange::Broken`] until the step that took it puts the next back.
    fn take(&mut self) -> Exchange {
        std::mem::replace(&mut self.exchange, Exchange::Broken)
    }

    /// Ends the exchange; the connection stays open only if ureq-proto allows it.
    fn end(&mut self, must_close: bool) {
        self.keep_alive &= !must_close;
        self.exchange = Exchange::Idle;
    }

    /// Writes a request with `body` (with a `Content-Length` when the body is not empty or
    /// the method carries one; the framing fields are this module's, not the caller's).
    pub(crate) async fn send_request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), Error> {
        let sized = !body.is_empty() || matches!(method, "POST" | "PUT");
        let length = sized.then(|| u64::try_from(body.len()).unwrap_or(u64::MAX));
        let mut out = Vec::new();
        self.start_request(method, target, headers, length, &mut out)?;
        if sized {
            self.body_into(body, &mut out)?;
        }
        self.write_out(&out).await
    }

    /// Writes a request head announcing a body of `length` bytes, which follows in pieces
    /// ([`Conn::send_body`]): a body streamed rather than held whole.
    pub(crate) async fn send_request_head(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        length: u64,
    ) -> Result<(), Error> {
        let mut out = Vec::new();
        self.start_request(method, target, headers, Some(length), &mut out)?;
        self.write_out(&out).await
    }

    /// Writes the next piece of the body [`Conn::send_request_head`] announced; once it is
    /// all written, the response is next.
    pub(crate) async fn send_body(&mut self, data: &[u8]) -> Result<(), Error> {
        let mut out = Vec::new();
        self.body_into(data, &mut out)?;
        self.write_out(&out).await
    }

    /// Puts the head of a request (with a `Content-Length` of `length`, if any) into `out`;
    /// its body is next when it has one, else its response.
    fn start_request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        length: Option<u64>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let Exchange::Idle = self.take() else {
            return Err(Error::Misuse("a request before the last response was read"));
        };
        let mut request = http::Request::builder().method(method).uri(target);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(length) = length {
            request = request.header(header::CONTENT_LENGTH, length);
        }
        let request = request.body(()).map_err(Error::Invalid)?;
        let mut call = Call::new(request)?.proceed();
        while !call.can_proceed() {
            append(out, |room| Ok(((), call.write(room)?)))?;
        }
        self.exchange = match call.proceed()? {
            Some(SendRequestResult::RecvResponse(call)) => Exchange::Sent(call),
            Some(SendRequestResult::SendBody(call)) => sending(call)?,
            Some(SendRequestResult::Await100(_)) => {
                return Err(Error::Misuse("Expect: 100-continue"));
            }
            None => return Err(Error::Misuse("a request head left unwritten")),
        };
        Ok(())
    }

    /// Puts `data`, the next piece of the request body, into `out`.
    fn body_into(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if data.is_empty() {
            // Nothing to frame: a body of `Content-Length: 0` is complete with its head.
            return Ok(());
        }
        let Exchange::Sending(mut call) = self.take() else {
            return Err(Error::Misuse("body data with no request body to send"));
        };
        let mut rest = data;
        while !rest.is_empty() {
            if call.can_proceed() {
                return Err(Error::Misuse("a body longer than its Content-Length"));
            }
            let used = append(out, |room| call.write(rest, room))?;
            rest = rest.get(used..).unwrap_or_default();
        }
        self.exchange = sending(call)?;
        Ok(())
    }

    /// Writes `out` to the stream.
    async fn write_out(&mut self, out: &[u8]) -> Result<(), Error> {
        if out.is_empty() {
            return Ok(());
        }
        self.io.write_all(out).await?;
        self.io.flush().await?;
        Ok(())
    }

    /// Writes the response to the request read last, without a body.
    pub(crate) async fn send_response(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
    ) -> Result<(), Error> {
        let Exchange::Read(reply) = self.take() else {
            return Err(Error::Misuse("a response to no request read"));
        };
        let mut response = http::Response::builder().status(status);
        for (name, value) in headers {
            response = response.header(*name, *value);
        }
        let response = response
            .header(header::CONTENT_LENGTH, 0)
            .body(())
            .map_err(Error::Invalid)?;
        let mut reply = reply.provide(response)?;
        let mut out = Vec::new();
        while !reply.is_finished() {
            append(&mut out, |room| Ok(((), reply.write(room)?)))?;
        }
        let done = match reply.proceed() {
            SendResponseResult::Cleanup(done) => done,
            SendResponseResult::SendBody(mut body) => {
                // The empty body of the Content-Length above.
                append(&mut out, |room| body.write(&[], room))?;
                if !body.is_finished() {
                    return Err(Error::Misuse("a response body left unwritten"));
                }
                body.proceed()
            }
        };
        self.io.write_all(&out).await?;
        self.io.flush().await?;
        self.end(done.must_close_connection());
        Ok(())
    }

    /// Answers a request that could not be read ([`Error::Protocol`], [`Error::TooLarge`])
    /// with 400, after which the connection is to be closed.
    pub(crate) async fn send_bad_request(&mut self) -> Result<(), Error> {
        self.exchange = Exchange::Broken;
        self.keep_alive = false;
        self.io.write_all(BAD_REQUEST).await?;
        self.io.flush().await?;
        Ok(())
    }

    /// Reads the head of the response to the request sent, skipping interim (1xx) ones; its
    /// body is read next with [`Conn::read_chunk`] or [`Conn::read_body`].
    pub(crate) async fn read_response_head(&mut self) -> Result<ResponseHead, Error> {
        let Exchange::Sent(mut call) = self.take() else {
            return Err(Error::Misuse("a response head with no request sent"));
        };
        let response = loop {
            let (used, response) = call.try_response(&self.buffer, false)?;
            self.buffer.drain(..used.min(self.buffer.len()));
            match response {
                Some(response) => break response,
                // An interim response was skipped: the next may be in the buffer already.
                None if used > 0 => {}
                None => self.fill_head().await?,
            }
        };
        let head = ResponseHead {
            status: response.status().as_u16(),
            headers: owned(response.headers()),
        };
        match call.proceed() {
            Some(RecvResponseResult::RecvBody(call)) => self.exchange = Exchange::Response(call),
            Some(RecvResponseResult::Redirect(call)) => self.end(call.must_close_connection()),
            Some(RecvResponseResult::Cleanup(call)) => self.end(call.must_close_connection()),
            None => return Err(Error::Misuse("a response head left unread")),
        }
        Ok(head)
    }

    /// Reads the head of the next request; `None` when the peer closed the connection
    /// between requests.
    pub(crate) async fn read_request_head(&mut self) -> Result<Option<RequestHead>, Error> {
        let Exchange::Idle = self.take() else {
            return Err(Error::Misuse("a request before the last response was sent"));
        };
        let mut reply = Reply::new()?;
        let request = loop {
            let (used, request) = reply.try_request(&self.buffer)?;
            if let Some(request) = request {
                self.buffer.drain(..used.min(self.buffer.len()));
                break request;
            }
            match self.fill_head().await {
                Err(Error::Closed) if self.buffer.is_empty() => {
                    self.end(true);
                    return Ok(None);
                }
                filled => filled?,
            }
        };
        let head = RequestHead {
            method: request.method().as_str().to_owned(),
            target: request.uri().to_string(),
            headers: owned(request.headers()),
        };
        self.exchange = match reply.proceed() {
            Some(RecvRequestResult::ProvideResponse(reply)) => Exchange::Read(reply),
            Some(RecvRequestResult::RecvBody(reply)) => Exchange::Request(reply),
            Some(RecvRequestResult::Send100(reply)) => {
                let mut out = Vec::new();
                let reply = append(&mut out, |room| {
                    let (written, reply) = reply.accept(room)?;
                    Ok((reply, written))
                })?;
                self.io.write_all(&out).await?;
                self.io.flush().await?;
                Exchange::Request(reply)
            }
            None => return Err(Error::Misuse("a request head left unread")),
        };
        Ok(Some(head))
    }

    /// The next piece of the current body, `None` at its end (or when the message has none).
    pub(crate) async fn read_chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
        match self.take() {
            Exchange::Response(mut call) => {
                // A close-delimited body can always proceed: it ends with the stream only.
                let until_close = call.body_mode() == BodyMode::CloseDelimited;
                let data = self
                    .body_data(until_close, |input, output| {
                        let ended = !until_close && call.can_proceed();
                        (!ended).then(|| call.read(input, output)).transpose()
                    })
                    .await?;
                if let Some(data) = data {
                    self.exchange = Exchange::Response(call);
                    return Ok(Some(data));
                }
                let must_close = match call.proceed() {
                    Some(RecvBodyResult::Cleanup(call)) => call.must_close_connection(),
                    Some(RecvBodyResult::Redirect(call)) => call.must_close_connection(),
                    None => return Err(Error::Misuse("a response body left unread")),
                };
                self.end(must_close);
                Ok(None)
            }
            Exchange::Request(mut reply) => {
                // ureq-proto frames request bodies by length or chunks, not by the stream's end.
                let data = self
                    .body_data(false, |input, output| {
                        (!reply.is_ended())
                            .then(|| reply.read(input, output))
                            .transpose()
                    })
                    .await?;
                if let Some(data) = data {
                    self.exchange = Exchange::Request(reply);
                    return Ok(Some(data));
                }
                self.exchange = Exchange::Read(reply.proceed()?);
                Ok(None)
            }
            exchange @ (Exchange::Idle | Exchange::Read(_)) => {
                self.exchange = exchange;
                Ok(None)
            }
            Exchange::Sending(_) | Exchange::Sent(_) | Exchange::Broken => {
                Err(Error::Misuse("a body with no head read"))
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

    /// The next data of a body from the stream, `None` once it is complete: `decode` decodes
    /// input into output (the bytes used of each), `None` once the body is complete; a body
    /// `until_close` also ends with the stream.
    async fn body_data(
        &mut self,
        until_close: bool,
        mut decode: impl FnMut(&[u8], &mut [u8]) -> Result<Option<(usize, usize)>, ureq_proto::Error>,
    ) -> Result<Option<Vec<u8>>, Error> {
        loop {
            let mut data = vec![0; self.buffer.len()];
            let Some((used, written)) = decode(&self.buffer, &mut data)? else {
                return Ok(None);
            };
            self.buffer.drain(..used.min(self.buffer.len()));
            if written > 0 {
                data.truncate(written);
                return Ok(Some(data));
            }
            if used > 0 {
                // Only framing (a chunk-size line, a CRLF, trailers) was used.
                continue;
            }
            if self.buffer.len() > MAX_LINE {
                return Err(Error::TooLarge("chunk line"));
            }
            if self.fill().await? == 0 {
                return if until_close {
                    Ok(None)
                } else {
                    Err(Error::Closed)
                };
            }
        }
    }

    /// Reads more of a head into the buffer, refused once the buffer holds [`MAX_HEAD`] bytes.
    async fn fill_head(&mut self) -> Result<(), Error> {
        if self.buffer.len() >= MAX_HEAD {
            return Err(Error::TooLarge("head"));
        }
        if self.fill().await? == 0 {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Reads what the stream has into the buffer; the number of bytes (0: closed).
    async fn fill(&mut self) -> Result<usize, Error> {
        self.buffer.reserve(READ_SIZE);
        Ok(self.io.read_buf(&mut self.buffer).await?)
    }
}

/// Lets `write` fill fresh room at the end of `out` and keeps the bytes it wrote (the
/// second of its pair); its first is the result.
fn append<T>(
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut [u8]) -> Result<(T, usize), ureq_proto::Error>,
) -> Result<T, Error> {
    let start = out.len();
    out.resize(start.saturating_add(WRITE_SIZE), 0);
    let written = write(out.get_mut(start..).unwrap_or_default());
    let length = written.as_ref().map_or(0, |(_, length)| *length);
    out.truncate(start.saturating_add(length));
    Ok(written?.0)
}

/// The exchange after a piece of a request body: the rest of the body, or the response once
/// the body is complete (as its head's `Content-Length` says).
fn sending(call: Call<SendBody>) -> Result<Exchange, Error> {
    if !call.can_proceed() {
        return Ok(Exchange::Sending(call));
    }
    let call = call
        .proceed()
        .ok_or(Error::Misuse("a request body left unwritten"))?;
    Ok(Exchange::Sent(call))
}

/// The header fields of a parsed head, owned (values that are not visible ASCII are left
/// out, as the callers only read text fields).
fn owned(fields: &HeaderMap) -> Headers {
    fields
        .iter()
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some((name.as_str().to_owned(), value.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use tokio::io::{AsyncWriteExt as _, DuplexStream, Empty, Join, duplex, empty, join};

    use super::*;

    /// A connection reading `input`, at most `capacity` bytes per read, then the end of the
    /// stream if `close` (else the stream stays open); what is written to it is kept.
    fn reading(input: &[u8], capacity: usize, close: bool) -> Conn<Join<DuplexStream, Vec<u8>>> {
        let (ours, mut theirs) = duplex(capacity);
        let input = input.to_vec();
        tokio::spawn(async move {
            theirs.write_all(&input).await.unwrap();
            if !close {
                std::future::pending::<()>().await;
            }
        });
        Conn::new(join(ours, Vec::new()))
    }

    /// What a connection wrote.
    fn written<R: AsyncRead>(conn: Conn<Join<R, Vec<u8>>>) -> String {
        String::from_utf8(conn.io.into_inner().1).unwrap()
    }

    /// Sends a GET, then reads the response head.
    async fn get(conn: &mut Conn<Join<DuplexStream, Vec<u8>>>) -> Result<ResponseHead, Error> {
        conn.send_request("GET", "/f", &[("Host", "h")], b"")
            .await?;
        conn.read_response_head().await
    }

    #[tokio::test]
    async fn responses_follow_each_other_on_one_connection_however_the_stream_splits_them() {
        // RFC 9112 §6 and §7.1: a length, chunks (sizes in hex, extensions after `;`,
        // trailer fields after the last) after an interim response, no body for 204.
        let input = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5\r\n\r\nhello\
              HTTP/1.1 100 Continue\r\n\r\n\
              HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              5;ext=1\r\nhello\r\nB\r\n, world and\r\n0\r\nExpires: never\r\n\r\n\
              HTTP/1.1 204 No Content\r\nSet-Cookie: a=b\r\n\r\n";
        for capacity in [1, 7, 1 << 16] {
            let mut conn = reading(input, capacity, false);
            let head = get(&mut conn).await.unwrap();
            assert_eq!(head.status, 200);
            assert_eq!(
                head.headers[0],
                ("content-type".to_owned(), "text/xml".to_owned())
            );
            assert_eq!(conn.read_body(100).await.unwrap(), b"hello");
            assert!(conn.reusable());
            assert_eq!(get(&mut conn).await.unwrap().status, 200);
            assert!(!conn.reusable());
            assert_eq!(conn.read_body(100).await.unwrap(), b"hello, world and");
            assert!(conn.reusable());
            let head = get(&mut conn).await.unwrap();
            assert_eq!(head.status, 204);
            assert_eq!(conn.read_body(100).await.unwrap(), b"");
            assert!(conn.reusable());
        }
    }

    #[tokio::test]
    async fn bodies_without_framing_end_with_the_connection() {
        let mut conn = reading(b"HTTP/1.0 200 OK\r\n\r\nall of it", 1 << 16, true);
        get(&mut conn).await.unwrap();
        assert!(!conn.reusable());
        assert_eq!(conn.read_body(100).await.unwrap(), b"all of it");
        assert!(!conn.reusable());
    }

    #[tokio::test]
    async fn truncated_oversized_and_out_of_order_messages_are_refused() {
        let mut conn = reading(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            64,
            true,
        );
        get(&mut conn).await.unwrap();
        assert!(matches!(conn.read_body(100).await, Err(Error::Closed)));
        assert!(!conn.reusable());

        let ten = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
        let mut conn = reading(ten, 64, false);
        get(&mut conn).await.unwrap();
        assert!(matches!(
            conn.read_body(9).await,
            Err(Error::TooLarge("body"))
        ));
        assert!(!conn.reusable());

        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        head.extend(std::iter::repeat_n(b'a', MAX_HEAD));
        let mut conn = reading(&head, 1 << 16, false);
        assert!(matches!(get(&mut conn).await, Err(Error::TooLarge("head"))));

        let mut trailer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ".to_vec();
        trailer.extend(std::iter::repeat_n(b'a', MAX_LINE));
        let mut conn = reading(&trailer, 1 << 16, false);
        get(&mut conn).await.unwrap();
        assert!(matches!(
            conn.read_body(100).await,
            Err(Error::TooLarge("chunk line"))
        ));

        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        let mut conn = reading(chunked, 64, false);
        get(&mut conn).await.unwrap();
        assert!(matches!(conn.read_body(100).await, Err(Error::Protocol(_))));

        // A response head with no request sent, a response with no request read.
        let mut conn = reading(ten, 64, false);
        assert!(matches!(
            conn.read_response_head().await,
            Err(Error::Misuse(_))
        ));
        assert!(matches!(
            conn.send_response(200, &[]).await,
            Err(Error::Misuse(_))
        ));
    }

    /// What a fresh connection writes for one request.
    async fn request_bytes(
        method: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<String, Error> {
        let mut conn = Conn::new(join(empty(), Vec::new()));
        conn.send_request(method, "/acs?x=1", headers, body).await?;
        Ok(written::<Empty>(conn))
    }

    #[tokio::test]
    async fn requests_are_written_with_the_framing_of_their_body() {
        let host = [("Host", "acs:7547")];
        assert_eq!(
            request_bytes("POST", &host, b"").await.unwrap(),
            "POST /acs?x=1 HTTP/1.1\r\nhost: acs:7547\r\ncontent-length: 0\r\n\r\n"
        );
        assert_eq!(
            request_bytes("POST", &host, b"<soap/>").await.unwrap(),
            "POST /acs?x=1 HTTP/1.1\r\nhost: acs:7547\r\ncontent-length: 7\r\n\r\n<soap/>"
        );
        assert_eq!(
            request_bytes("GET", &host, b"").await.unwrap(),
            "GET /acs?x=1 HTTP/1.1\r\nhost: acs:7547\r\n\r\n"
        );
        let injected = [("X", "a\r\nInjected: 1")];
        assert!(matches!(
            request_bytes("GET", &injected, b"").await,
            Err(Error::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn a_streamed_body_follows_its_head_in_pieces_up_to_its_length() {
        let mut conn = Conn::new(join(empty(), Vec::new()));
        conn.send_request_head("PUT", "/up", &[], 5).await.unwrap();
        conn.send_body(b"ab").await.unwrap();
        conn.send_body(b"cde").await.unwrap();
        assert!(matches!(conn.exchange, Exchange::Sent(_)));
        assert_eq!(
            written::<Empty>(conn),
            "PUT /up HTTP/1.1\r\ncontent-length: 5\r\n\r\nabcde"
        );
        let mut conn = Conn::new(join(empty(), Vec::new()));
        conn.send_request_head("PUT", "/up", &[], 2).await.unwrap();
        // More than the head announced is refused (by ureq-proto or here).
        assert!(conn.send_body(b"abc").await.is_err());
    }

    #[tokio::test]
    async fn a_server_reads_requests_until_the_client_closes() {
        let input = b"GET /cr?x=1 HTTP/1.1\r\nHost: cpe\r\n\r\n\
              POST /cr HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n\
              3\r\nabc\r\n0\r\n\r\n\
              GET /cr HTTP/1.1\r\nAuthorization: Digest x\r\nConnection: close\r\n\r\n";
        for capacity in [1, 1 << 16] {
            let mut conn = reading(input, capacity, true);
            let head = conn.read_request_head().await.unwrap().unwrap();
            assert_eq!(
                (head.method.as_str(), head.target.as_str()),
                ("GET", "/cr?x=1")
            );
            assert_eq!(conn.read_body(10).await.unwrap(), b"");
            conn.send_response(204, &[]).await.unwrap();
            assert!(conn.reusable());

            let head = conn.read_request_head().await.unwrap().unwrap();
            assert_eq!(head.method, "POST");
            assert_eq!(conn.read_body(10).await.unwrap(), b"abc");
            conn.send_response(200, &[]).await.unwrap();
            assert!(conn.reusable());

            let head = conn.read_request_head().await.unwrap().unwrap();
            assert_eq!(head.headers[0], ("authorization".into(), "Digest x".into()));
            conn.send_response(401, &[("WWW-Authenticate", "Digest realm=\"r\"")])
                .await
                .unwrap();
            assert!(!conn.reusable());
            assert!(conn.read_request_head().await.unwrap().is_none());
            assert_eq!(
                written(conn),
                "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n\
                 HTTP/1.1 100 Continue\r\n\r\n\
                 HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n\
                 HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Digest realm=\"r\"\r\n\
                 content-length: 0\r\n\r\n"
            );
        }
    }
}
