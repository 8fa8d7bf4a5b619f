//! One connection: read a head, let the route read (or skip) the body, write
//! the response, repeat while keep-alive holds.
//!
//! Pipelined requests work because bytes past one request stay in the buffer
//! for the next. Every read has a deadline: an idle keep-alive connection is
//! closed after `idle_timeout`, a head must arrive within `io_timeout` of its
//! first byte, and a body read may stall at most `io_timeout`. Reads wake up
//! every few hundred milliseconds to notice a shutdown.

use std::io;
use std::net::Shutdown;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use super::request::{parse_head, BodyKind, Head, HeadError, MAX_HEAD};
use super::response::{Api, ApiError, Response};
use super::routes;
use crate::metrics::Endpoint;
use crate::runtime::Core;

/// How often a blocked read looks at the shutdown flag.
const POLL: Duration = Duration::from_millis(250);
/// Unread request bodies up to this size are drained to keep the connection.
const DRAIN_LIMIT: u64 = 1 << 20;

#[derive(Debug)]
pub enum ReadError {
    /// The peer closed (or reset) the connection.
    Closed,
    Timeout,
    ShuttingDown,
    /// A body over the limit (413).
    TooLarge {
        limit: usize,
    },
    /// Bad chunked framing (400).
    BadChunk(String),
    Io(io::Error),
}

impl ReadError {
    pub fn into_api_error(self) -> ApiError {
        match self {
            ReadError::TooLarge { limit } => ApiError::PayloadTooLarge(format!(
                "request body too large: the limit is {limit} bytes"
            )),
            ReadError::BadChunk(m) => ApiError::BadRequest(m),
            ReadError::Timeout => ApiError::Timeout,
            _ => ApiError::BadRequest("request body could not be read".into()),
        }
    }
}

pub struct Conn {
    stream: TcpStream,
    core: Rc<Core>,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// The current request's body has not been read yet.
    body_pending: bool,
    /// `100 Continue` was already sent for the current request.
    continued: bool,
    expect_continue: bool,
    /// A body read failed part way: the stream's framing is lost.
    broken: bool,
    /// A request head has been read and not yet answered.
    in_request: bool,
    pub out: Vec<u8>,
    /// The raw request body, reused from request to request.
    pub body: Vec<u8>,
}

impl Conn {
    fn new(stream: TcpStream, core: Rc<Core>) -> Self {
        Conn {
            stream,
            core,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
            body_pending: false,
            continued: false,
            expect_continue: false,
            broken: false,
            in_request: false,
            out: Vec::with_capacity(1024),
            body: Vec::new(),
        }
    }

    pub fn core(&self) -> &Rc<Core> {
        &self.core
    }

    /// Reads more bytes into the buffer; `Ok(0)` only at end of stream.
    /// Only a read between requests gives up when the server shuts down.
    async fn fill(&mut self, deadline: Instant) -> Result<usize, ReadError> {
        let between_requests = !self.in_request && self.end == self.start;
        if self.start > 0 && (self.end == self.buf.len() || self.start == self.end) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let len = self.buf.len();
            self.buf.resize(len * 2, 0);
        }
        let end = self.end;
        let core = if between_requests {
            Some(&*self.core)
        } else {
            None
        };
        let n = read_until(&mut self.stream, &mut self.buf[end..], deadline, core).await?;
        self.end += n;
        Ok(n)
    }

    /// Reads the next request head; `None` when the peer is done.
    async fn read_head(&mut self) -> Result<Option<Head>, ApiErrorOrClose> {
        let idle_deadline = Instant::now() + self.core.config.idle_timeout;
        let mut deadline = idle_deadline;
        loop {
            if self.end > self.start {
                match parse_head(&self.buf[self.start..self.end]) {
                    Ok((head, len)) => {
                        self.start += len;
                        return Ok(Some(head));
                    }
                    Err(HeadError::Partial) => {}
                    Err(HeadError::TooLarge) => {
                        return Err(ApiErrorOrClose::Api(ApiError::HeadersTooLarge))
                    }
                    Err(HeadError::Malformed(m)) => {
                        return Err(ApiErrorOrClose::Api(ApiError::BadRequest(format!(
                            "malformed request: {m}"
                        ))))
                    }
                    Err(HeadError::BadFraming(m)) => {
                        return Err(ApiErrorOrClose::Api(ApiError::BadRequest(m)))
                    }
                    Err(HeadError::UnsupportedTransferEncoding(t)) => {
                        return Err(ApiErrorOrClose::Api(ApiError::NotImplemented(format!(
                            "unsupported Transfer-Encoding {t:?}"
                        ))))
                    }
                }
                // A head has started: it must finish within the I/O timeout.
                deadline = deadline.min(Instant::now() + self.core.config.io_timeout);
                if self.end - self.start > MAX_HEAD {
                    return Err(ApiErrorOrClose::Api(ApiError::HeadersTooLarge));
                }
            }
            match self.fill(deadline).await {
                Ok(0) if self.end == self.start => return Ok(None),
                Ok(0) => return Err(ApiErrorOrClose::Close),
                Ok(_) => {}
                Err(ReadError::Timeout) if self.end == self.start => return Ok(None),
                Err(ReadError::Timeout) => return Err(ApiErrorOrClose::Api(ApiError::Timeout)),
                Err(ReadError::ShuttingDown) if self.end == self.start => return Ok(None),
                Err(_) => return Err(ApiErrorOrClose::Close),
            }
        }
    }

    /// Sends `100 Continue` if the client waits for it and has not sent yet.
    async fn send_continue(&mut self) -> Result<(), ReadError> {
        if self.expect_continue && !self.continued && self.end == self.start {
            self.continued = true;
            write_all(&mut self.stream, b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .map_err(ReadError::Io)?;
        }
        Ok(())
    }

    /// Reads the whole body of the current request into `out` (replacing
    /// what it held), refusing more than `limit` bytes.
    pub async fn read_body(
        &mut self,
        head: &Head,
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), ReadError> {
        if !self.body_pending || head.body == BodyKind::None {
            out.clear();
            return Ok(());
        }
        self.body_pending = false;
        let result = self.read_body_inner(head, limit, out).await;
        self.broken = result.is_err();
        result
    }

    async fn read_body_inner(
        &mut self,
        head: &Head,
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), ReadError> {
        match head.body {
            BodyKind::None => Ok(()),
            BodyKind::Length(n) => {
                if n > limit as u64 {
                    return Err(ReadError::TooLarge { limit });
                }
                self.send_continue().await?;
                let n = n as usize;
                let buffered = (self.end - self.start).min(n);
                // Bytes still there from an earlier body need no zeroing:
                // they are all overwritten below.
                out.resize(n, 0);
                out[..buffered].copy_from_slice(&self.buf[self.start..self.start + buffered]);
                self.start += buffered;
                let mut filled = buffered;
                while filled < n {
                    let deadline = Instant::now() + self.core.config.io_timeout;
                    let got =
                        read_until(&mut self.stream, &mut out[filled..], deadline, None).await?;
                    if got == 0 {
                        return Err(ReadError::Closed);
                    }
                    filled += got;
                }
                Ok(())
            }
            BodyKind::Chunked => {
                self.send_continue().await?;
                out.clear();
                self.read_chunked(limit, out).await
            }
        }
    }

    /// Reads one CRLF-terminated line (without the CRLF) of at most `max` bytes.
    async fn read_line(&mut self, max: usize) -> Result<String, ReadError> {
        loop {
            let window = &self.buf[self.start..self.end];
            if let Some(i) = memchr::memchr(b'\n', window) {
                let line = &window[..i];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let text = String::from_utf8_lossy(line).into_owned();
                self.start += i + 1;
                return Ok(text);
            }
            if window.len() > max {
                return Err(ReadError::BadChunk("chunk header line too long".into()));
            }
            let deadline = Instant::now() + self.core.config.io_timeout;
            if self.fill(deadline).await? == 0 {
                return Err(ReadError::Closed);
            }
        }
    }

    async fn read_chunked(&mut self, limit: usize, out: &mut Vec<u8>) -> Result<(), ReadError> {
        loop {
            let line = self.read_line(4096).await?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| ReadError::BadChunk(format!("invalid chunk size {size_text:?}")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !self.read_line(8192).await?.is_empty() {}
                return Ok(());
            }
            if out.len().saturating_add(size) > limit {
                return Err(ReadError::TooLarge { limit });
            }
            let mut need = size;
            while need > 0 {
                if self.end == self.start {
                    let deadline = Instant::now() + self.core.config.io_timeout;
                    if self.fill(deadline).await? == 0 {
                        return Err(ReadError::Closed);
                    }
                }
                let take = need.min(self.end - self.start);
                out.extend_from_slice(&self.buf[self.start..self.start + take]);
                self.start += take;
                need -= take;
            }
            if !self.read_line(2).await?.is_empty() {
                return Err(ReadError::BadChunk("missing CRLF after chunk data".into()));
            }
        }
    }

    /// Discards a small unread body so the connection can be reused.
    async fn skip_body(&mut self, head: &Head) -> bool {
        if self.broken {
            return false;
        }
        if !self.body_pending {
            return true;
        }
        match head.body {
            BodyKind::None => true,
            // A client that waits for 100 Continue never sends the body.
            _ if self.expect_continue && !self.continued => false,
            BodyKind::Length(n) if n <= DRAIN_LIMIT => {
                let mut sink = Vec::new();
                self.read_body(head, DRAIN_LIMIT as usize, &mut sink)
                    .await
                    .is_ok()
            }
            _ => false,
        }
    }

    async fn respond(
        &mut self,
        head: Option<&Head>,
        response: &Response,
        keep_alive: bool,
    ) -> io::Result<()> {
        self.out.clear();
        let request_id = self.core.next_request_id();
        let head_only = head.is_some_and(|h| h.method == super::request::Method::Head);
        response.write_to(&mut self.out, &request_id, head_only, keep_alive);
        let out = std::mem::take(&mut self.out);
        let result = write_all(&mut self.stream, &out).await;
        self.out = out;
        result
    }

    /// Closes after an error: stop sending, then read (and drop) what the
    /// client is still sending for a moment, so it sees our response rather
    /// than a reset.
    async fn linger_close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write).await;
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut scratch = [0u8; 16 * 1024];
        let mut total = 0usize;
        while total < 64 << 20 {
            match read_until(&mut self.stream, &mut scratch, deadline, None).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    }
}

enum ApiErrorOrClose {
    Api(ApiError),
    Close,
}

/// Reads once into `buf`, waiting at most until `deadline`, and giving up
/// early when `core` (if given) shuts down.
async fn read_until(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
    core: Option<&Core>,
) -> Result<usize, ReadError> {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(ReadError::Timeout);
        }
        let wait = (deadline - now).min(POLL).max(Duration::from_millis(1));
        let _ = stream.set_read_timeout(Some(wait));
        match stream.read(buf).await {
            Ok(n) => return Ok(n),
            Err(e)
                if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock =>
            {
                if core.is_some_and(Core::shutting_down) {
                    return Err(ReadError::ShuttingDown);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset
                        | io::ErrorKind::BrokenPipe
                        | io::ErrorKind::UnexpectedEof
                ) =>
            {
                return Err(ReadError::Closed)
            }
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
}

async fn write_all(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// Serves one accepted connection until it closes.
pub async fn serve(stream: TcpStream, core: Rc<Core>) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(core.config.io_timeout));
    let mut conn = Conn::new(stream, core);
    loop {
        let head = match conn.read_head().await {
            Ok(Some(head)) => head,
            Ok(None) | Err(ApiErrorOrClose::Close) => break,
            Err(ApiErrorOrClose::Api(error)) => {
                // The framing is unknown now, so the connection cannot be reused.
                let response = error.into_response(Api::V1);
                let stats = conn.core.stats();
                stats.request(Endpoint::Other, response.status, Duration::ZERO);
                if conn.respond(None, &response, false).await.is_ok() {
                    conn.linger_close().await;
                }
                break;
            }
        };
        let started = Instant::now();
        conn.in_request = true;
        conn.body_pending = head.body != BodyKind::None;
        conn.broken = false;
        conn.continued = false;
        conn.expect_continue = head.expect_continue;
        let response = routes::handle(&mut conn, &head).await;
        let reusable = !response.close && conn.skip_body(&head).await;
        let keep_alive = head.keep_alive && reusable && !conn.core.shutting_down();
        let sent = conn.respond(Some(&head), &response, keep_alive).await;
        let endpoint = Endpoint::of(head.route());
        conn.core
            .stats()
            .request(endpoint, response.status, started.elapsed());
        if sent.is_err() {
            break;
        }
        if !keep_alive {
            if !reusable {
                conn.linger_close().await;
            }
            break;
        }
    }
}
