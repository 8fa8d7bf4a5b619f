//! Starting a server and speaking raw HTTP/1.1 to it.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;

pub struct Server {
    child: Option<Child>,
    /// Everything the server wrote to stderr so far (drained by a thread, so
    /// a chatty server never blocks on a full pipe).
    log: Arc<Mutex<Vec<u8>>>,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    /// The admin token (empty with --without-auth).
    pub token: String,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts `hydrant serve` with `args` (plus --bind, --data-dir and the
    /// test read path) and waits until it answers /ping.
    pub fn start(args: &[&str]) -> Server {
        let dir = std::env::temp_dir().join(format!(
            "hydrant-it-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Server::start_in(dir, args)
    }

    pub fn start_in(dir: PathBuf, args: &[&str]) -> Server {
        for _attempt in 0..5 {
            let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            let mut child = Command::new(env!("CARGO_BIN_EXE_hydrant"))
                .arg("serve")
                .arg("--bind")
                .arg(addr.to_string())
                .arg("--data-dir")
                .arg(&dir)
                .arg("--debug-endpoints")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start hydrant");
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if let Ok(mut s) = TcpStream::connect(addr) {
                    let _ =
                        s.write_all(b"GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
                    let mut out = Vec::new();
                    let _ = s.read_to_end(&mut out);
                    if out.starts_with(b"HTTP/1.1 204") {
                        let log = Arc::new(Mutex::new(Vec::new()));
                        if let Some(mut stderr) = child.stderr.take() {
                            let log = log.clone();
                            std::thread::spawn(move || {
                                let mut buf = [0u8; 4096];
                                while let Ok(n) = stderr.read(&mut buf) {
                                    if n == 0 {
                                        break;
                                    }
                                    log.lock().unwrap().extend_from_slice(&buf[..n]);
                                }
                            });
                        }
                        let token = std::fs::read_to_string(dir.join("admin-token"))
                            .map(|t| t.trim().to_owned())
                            .unwrap_or_default();
                        return Server {
                            child: Some(child),
                            log,
                            addr,
                            dir,
                            token,
                        };
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // Lost a port race or failed: report if it said why, else retry.
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !stderr.contains("cannot listen") {
                panic!("hydrant did not start: {stderr}");
            }
        }
        panic!("hydrant did not start after 5 attempts");
    }

    pub fn connect(&self) -> Conn {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// One request on a fresh connection.
    pub fn send(&self, request: &[u8]) -> Response {
        let mut c = self.connect();
        c.stream.write_all(request).unwrap();
        c.read_response()
    }

    pub fn auth(&self) -> String {
        format!("Authorization: Token {}\r\n", self.token)
    }

    /// POSTs `body` to `path` with the admin token.
    pub fn post(&self, path: &str, body: &[u8]) -> Response {
        self.send(&request("POST", path, &self.auth(), body))
    }

    /// POSTs the already gzipped `body` to `path` with the admin token and
    /// `Content-Encoding: gzip` (it need not be valid gzip).
    pub fn post_gzipped(&self, path: &str, body: &[u8]) -> Response {
        let headers = format!("{}Content-Encoding: gzip\r\n", self.auth());
        self.send(&request("POST", path, &headers, body))
    }

    /// Writes `body` to `db` with the admin token; the write must be a 204.
    pub fn write(&self, db: &str, body: &[u8]) {
        let r = self.post(&format!("/write?db={}", urlencode(db)), body);
        assert_eq!(r.status, 204, "{}", r.text());
    }

    /// Runs `hydrant <command> --data-dir <this server's dir> <args>`, which
    /// must succeed; returns its output, trimmed.
    pub fn cli(&self, command: &[&str], args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_hydrant"))
            .args(command)
            .arg("--data-dir")
            .arg(&self.dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Every row of a table, merged across cores, via the test read path.
    pub fn rows(&self, db: &str, measurement: &str) -> Vec<serde_json::Value> {
        let path = format!(
            "/debug/rows?db={}&measurement={}",
            urlencode(db),
            urlencode(measurement)
        );
        let r = self.send(&request("GET", &path, &self.auth(), b""));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["rows"].as_array().unwrap().clone()
    }

    /// SIGKILLs the server mid-whatever and returns its data directory, kept.
    pub fn crash(mut self) -> PathBuf {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        std::mem::take(&mut self.dir)
    }

    /// Stops the server with SIGTERM (a clean stop) and returns its data directory, kept.
    pub fn stop(mut self) -> PathBuf {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid() as i32, libc::SIGTERM) };
        assert_eq!(self.wait(), Some(0), "a clean stop exits 0");
        std::mem::take(&mut self.dir)
    }

    /// The test read path's counters (rows, recovery report).
    pub fn stats(&self) -> serde_json::Value {
        let r = self.send(&request("GET", "/debug/stats", &self.auth(), b""));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// What the server has logged so far (its stderr after start-up).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Waits (up to 40 s) for the server to exit; returns its exit code.
    pub fn wait(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn basic(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// A complete request with Content-Length.
pub fn request(method: &str, path: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let mut out = vec![0; c.gzip_compress_bound(data.len())];
    let n = c.gzip_compress(data, &mut out).unwrap();
    out.truncate(n);
    out
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The v1 error message.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Whether the server closed the connection (reads EOF or reset).
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte), Ok(0) | Err(_))
    }

    /// Reads one response (HEAD-style bodiless for 1xx/204/304).
    pub fn read_response(&mut self) -> Response {
        self.read_response_to(false)
    }

    pub fn read_response_to(&mut self, head_request: bool) -> Response {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(n)) = parsed.parse(&self.buf) {
                let status = parsed.code.unwrap();
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_owned(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let length = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.parse::<usize>().unwrap())
                    .unwrap_or(0);
                let length = if head_request || status == 204 || status < 200 {
                    0
                } else {
                    length
                };
                while self.buf.len() < n + length {
                    self.fill();
                }
                let body = self.buf[n..n + length].to_vec();
                self.buf.drain(..n + length);
                return Response {
                    status,
                    headers,
                    body,
                };
            }
            self.fill();
        }
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 65536];
        let got = self.stream.read(&mut chunk).expect("read from hydrant");
        assert!(
            got > 0,
            "connection closed mid-response: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        self.buf.extend_from_slice(&chunk[..got]);
    }
}

/// /metrics as (sample name + sorted labels) → value, read line by line
/// (the text format's grammar is checked by Prometheus' parser below).
pub fn scrape(server: &Server) -> BTreeMap<String, f64> {
    let r = server.send(&request("GET", "/metrics", "", b""));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    r.text()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (key, value) = l.rsplit_once(' ').unwrap();
            (key.to_owned(), value.parse().unwrap())
        })
        .collect()
}

pub fn metric(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    *m.get(key)
        .unwrap_or_else(|| panic!("no {key} in /metrics: {m:#?}"))
}

/// Runs `command`, which must exit 0 (else the test fails with its output);
/// returns its stdout. `what` names it in the failure.
pub fn stdout_of(mut command: Command, what: &str) -> Vec<u8> {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
