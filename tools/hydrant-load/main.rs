//! hydrant-load: an HTTP load generator for the InfluxDB write APIs.
//!
//! One thread per connection, blocking sockets, keep-alive. Closed loop
//! (default): each connection sends its next request when the last is
//! answered. Open loop (`--rate`): requests are due on a fixed schedule and
//! a request's latency counts from when it was due, so a slow server cannot
//! hide its queueing (no coordinated omission).

mod gen;

use std::io::{self, IoSlice, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::json;

use gen::{Generator, Precision};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "hydrant-load",
    version,
    about = "Load generator for the InfluxDB v1 /write and v2 /api/v2/write APIs"
)]
struct Args {
    /// Server base URL (http only).
    #[arg(long, default_value = "http://127.0.0.1:8086")]
    url: String,
    /// v1 (/write?db=) or v2 (/api/v2/write?bucket=).
    #[arg(long, default_value = "v1", value_parser = ["v1", "v2"])]
    api: String,
    /// Database (v1) or bucket (v2).
    #[arg(long, default_value = "load")]
    db: String,
    /// Organization (v2 only).
    #[arg(long, default_value = "hydrant")]
    org: String,
    /// API token, sent as `Authorization: Token …`.
    #[arg(long, env = "HYDRANT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Concurrent keep-alive connections (one thread each).
    #[arg(short, long, default_value_t = 8)]
    connections: usize,
    /// Open loop: target lines per second (k and M suffixes allowed). Without it, as fast as answers come.
    #[arg(long)]
    rate: Option<String>,
    /// How long to send (e.g. 10s, 2m).
    #[arg(short, long, default_value = "10s")]
    duration: String,
    /// Stop after this many requests (whichever of this and --duration comes first).
    #[arg(long)]
    requests: Option<u64>,
    /// Lines per request.
    #[arg(short, long, default_value_t = 5000)]
    batch: usize,
    /// Gzip request bodies (Content-Encoding: gzip).
    #[arg(long)]
    gzip: bool,
    /// gzip level (1 fastest .. 12 smallest).
    #[arg(long, default_value_t = 1)]
    gzip_level: i32,
    /// Distinct series (measurement + tag set) in generated data.
    #[arg(long, default_value_t = 1000)]
    series: usize,
    /// Fields per line in generated data.
    #[arg(long, default_value_t = 8)]
    fields: usize,
    /// Time between two points of one series (in --precision units accepted: 10s, 1ms, …).
    #[arg(long, default_value = "10s")]
    spacing: String,
    /// Timestamp unit of generated lines, sent as `precision`.
    #[arg(long, default_value = "ns")]
    precision: String,
    /// First timestamp, in --precision units (default: now).
    #[arg(long)]
    start: Option<i64>,
    /// Send these files as bodies (round robin) instead of generated data.
    #[arg(long = "file")]
    files: Vec<PathBuf>,
    /// Build this many bodies before starting and cycle through them:
    /// least loader CPU per request, but points repeat (the server
    /// overwrites them) once the pool comes round again.
    #[arg(long)]
    pool: Option<usize>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// No progress line.
    #[arg(short, long)]
    quiet: bool,
    /// Per-request timeout.
    #[arg(long, default_value = "30s")]
    timeout: String,
}

/// Everything a connection thread needs, shared.
struct Plan {
    addr: SocketAddr,
    head: String,
    gzip: bool,
    gzip_level: i32,
    batch: usize,
    source: Source,
    /// Open loop: time between two requests' due times.
    interval: Option<Duration>,
    started: Instant,
    until: Instant,
    max_requests: u64,
    timeout: Duration,
}

enum Source {
    Generated(Generator),
    /// Ready bodies (already compressed when gzip), their line counts and
    /// their sizes before compression.
    Bodies(Vec<(Vec<u8>, u64, u64)>),
}

/// Live counters, read by the progress line.
#[derive(Default)]
struct Live {
    claimed: AtomicU64,
    done: AtomicU64,
    lines: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
}

/// One connection's results.
struct Tally {
    latency: Histogram<u64>,
    status: std::collections::BTreeMap<u16, u64>,
    lines_ok: u64,
    lines_sent: u64,
    bytes_sent: u64,
    raw_bytes: u64,
    connection_errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds"),
            status: Default::default(),
            lines_ok: 0,
            lines_sent: 0,
            bytes_sent: 0,
            raw_bytes: 0,
            connection_errors: 0,
            first_error: None,
        }
    }

    fn merge(&mut self, other: Tally) {
        let _ = self.latency.add(&other.latency);
        for (k, v) in other.status {
            *self.status.entry(k).or_insert(0) += v;
        }
        self.lines_ok += other.lines_ok;
        self.lines_sent += other.lines_sent;
        self.bytes_sent += other.bytes_sent;
        self.raw_bytes += other.raw_bytes;
        self.connection_errors += other.connection_errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

fn main() {
    let args = Args::parse();
    match run(&args) {
        Ok(ok) => std::process::exit(if ok { 0 } else { 1 }),
        Err(e) => {
            eprintln!("hydrant-load: {e}");
            std::process::exit(2);
        }
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    hydrant::config::parse_duration(s)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let (digits, scale) = match s.trim().char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1e3),
        Some((i, 'M' | 'm')) => (&s[..i], 1e6),
        _ => (s, 1.0),
    };
    let v: f64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("invalid --rate {s:?} (lines per second, e.g. 200000 or 200k)"))?;
    if v.is_nan() || v <= 0.0 {
        return Err(format!("--rate must be positive, not {s:?}"));
    }
    Ok(v * scale)
}

/// Lines a body holds: non-blank lines that are not comments.
fn count_lines(body: &[u8]) -> u64 {
    body.split(|&b| b == b'\n')
        .filter(|l| {
            let l = l.trim_ascii();
            !l.is_empty() && l[0] != b'#'
        })
        .count() as u64
}

/// libdeflate's gzip at one level (a compressor per thread: it is not Sync).
struct Gzip(libdeflater::Compressor);

impl Gzip {
    fn new(level: i32) -> Gzip {
        let level = libdeflater::CompressionLvl::new(level).unwrap_or_default();
        Gzip(libdeflater::Compressor::new(level))
    }

    /// Compresses `body` into `out`, replacing what `out` held.
    fn compress(&mut self, body: &[u8], out: &mut Vec<u8>) {
        out.resize(self.0.gzip_compress_bound(body.len()), 0);
        let n = self.0.gzip_compress(body, out).expect("bound is enough");
        out.truncate(n);
    }
}

fn run(args: &Args) -> Result<bool, String> {
    let rest = args
        .url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--url {:?}: only http:// URLs", args.url))?;
    let host = rest.split('/').next().unwrap_or(rest);
    let addr = host
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let precision = Precision::parse(&args.precision)?;
    let duration = parse_duration(&args.duration)?;
    let timeout = parse_duration(&args.timeout)?;
    let spacing_ns = parse_duration(&args.spacing)?.as_nanos() as i64;
    let spacing = (spacing_ns / precision.nanos()).max(1);
    let batch = args.batch.max(1);
    let connections = args.connections.max(1);

    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let path = match args.api.as_str() {
        "v2" => format!(
            "/api/v2/write?org={}&bucket={}&precision={}",
            enc(&args.org),
            enc(&args.db),
            precision.v2()
        ),
        _ => format!("/write?db={}&precision={}", enc(&args.db), precision.v1()),
    };
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: hydrant-load/{}\r\nContent-Type: text/plain; charset=utf-8\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(token) = args.token.as_deref().filter(|t| !t.is_empty()) {
        head.push_str(&format!("Authorization: Token {token}\r\n"));
    }
    if args.gzip {
        head.push_str("Content-Encoding: gzip\r\n");
    }

    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let start = args.start.unwrap_or(now_ns / precision.nanos());
    let mut gzip = args.gzip.then(|| Gzip::new(args.gzip_level));
    // A prepared body as it will be sent, with its lines and its size before gzip.
    let mut prepare = |body: Vec<u8>, lines: u64| {
        let raw = body.len() as u64;
        match gzip.as_mut() {
            Some(g) => {
                let mut packed = Vec::new();
                g.compress(&body, &mut packed);
                (packed, lines, raw)
            }
            None => (body, lines, raw),
        }
    };
    let source = if !args.files.is_empty() {
        let mut bodies = Vec::new();
        for f in &args.files {
            let body = std::fs::read(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
            let lines = count_lines(&body);
            bodies.push(prepare(body, lines));
        }
        Source::Bodies(bodies)
    } else {
        let generator = Generator::new(args.series, args.fields, start, spacing);
        match args.pool {
            Some(n) => {
                let mut bodies = Vec::with_capacity(n.max(1));
                for i in 0..n.max(1) as u64 {
                    let mut body = Vec::new();
                    generator.body(i * batch as u64, batch, &mut body);
                    bodies.push(prepare(body, batch as u64));
                }
                Source::Bodies(bodies)
            }
            None => Source::Generated(generator),
        }
    };
    let lines_per_request = match &source {
        Source::Generated(_) => batch as f64,
        Source::Bodies(b) => b.iter().map(|x| x.1).sum::<u64>() as f64 / b.len() as f64,
    };
    let interval = match &args.rate {
        Some(r) => Some(Duration::from_secs_f64(lines_per_request / parse_rate(r)?)),
        None => None,
    };

    // Fail fast with a clear message when nothing listens.
    TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;

    let started = Instant::now();
    let plan = Arc::new(Plan {
        addr,
        head,
        gzip: args.gzip,
        gzip_level: args.gzip_level,
        batch,
        source,
        interval,
        started,
        until: started + duration,
        max_requests: args.requests.unwrap_or(u64::MAX),
        timeout,
    });
    let live = Arc::new(Live::default());
    let tally = Arc::new(Mutex::new(Tally::new()));
    let mut threads = Vec::new();
    for i in 0..connections {
        let (plan, live, tally) = (plan.clone(), live.clone(), tally.clone());
        let t = std::thread::Builder::new()
            .name(format!("load-{i}"))
            .spawn(move || {
                let mine = connection(&plan, &live);
                tally.lock().unwrap_or_else(|e| e.into_inner()).merge(mine);
            })
            .map_err(|e| format!("cannot start a connection thread: {e}"))?;
        threads.push(t);
    }

    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let every = if tty {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(5)
    };
    let mut last = (Instant::now(), 0u64, 0u64);
    let mut next = Instant::now() + every;
    while threads.iter().any(|t| !t.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        if args.quiet || Instant::now() < next {
            continue;
        }
        next += every;
        let (lines, bytes) = (
            live.lines.load(Ordering::Relaxed),
            live.bytes.load(Ordering::Relaxed),
        );
        let secs = last.0.elapsed().as_secs_f64();
        let line = format!(
            "[{:>5.1}s] {:>10.0} lines/s {:>7.1} MB/s  requests {}  errors {}",
            started.elapsed().as_secs_f64(),
            (lines - last.1) as f64 / secs,
            (bytes - last.2) as f64 / secs / 1e6,
            live.done.load(Ordering::Relaxed),
            live.errors.load(Ordering::Relaxed),
        );
        if tty {
            eprint!("\r{line}\x1b[K");
        } else {
            eprintln!("{line}");
        }
        last = (Instant::now(), lines, bytes);
    }
    if tty && !args.quiet {
        eprintln!();
    }
    for t in threads {
        let _ = t.join();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let tally = std::mem::replace(
        &mut *tally.lock().unwrap_or_else(|e| e.into_inner()),
        Tally::new(),
    );
    report(args, &tally, elapsed, interval, lines_per_request);
    let ok = tally.connection_errors == 0 && tally.status.keys().all(|s| (200..300).contains(s));
    Ok(ok)
}

/// One connection's loop until the run ends.
fn connection(plan: &Plan, live: &Live) -> Tally {
    let mut tally = Tally::new();
    let mut stream: Option<TcpStream> = None;
    let mut body = Vec::with_capacity(plan.batch * 160);
    let mut head = String::with_capacity(plan.head.len() + 64);
    let mut response = Vec::with_capacity(16 << 10);
    let mut gzip = plan.gzip.then(|| Gzip::new(plan.gzip_level));
    let mut packed = Vec::new();
    loop {
        if live.stop.load(Ordering::Relaxed) {
            break;
        }
        let k = live.claimed.fetch_add(1, Ordering::Relaxed);
        if k >= plan.max_requests {
            break;
        }
        // When this request is due: now (closed loop) or on the schedule.
        let due = match plan.interval {
            Some(i) => plan.started + i.mul_f64(k as f64),
            None => Instant::now(),
        };
        if due >= plan.until || Instant::now() >= plan.until {
            live.stop.store(true, Ordering::Relaxed);
            break;
        }
        let wait = due.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        let (payload, lines, raw): (&[u8], u64, u64) = match &plan.source {
            Source::Bodies(bodies) => {
                let (b, lines, raw) = &bodies[(k % bodies.len() as u64) as usize];
                (b, *lines, *raw)
            }
            Source::Generated(generator) => {
                body.clear();
                generator.body(k * plan.batch as u64, plan.batch, &mut body);
                let raw = body.len() as u64;
                match gzip.as_mut() {
                    Some(g) => {
                        g.compress(&body, &mut packed);
                        (&packed, plan.batch as u64, raw)
                    }
                    None => (&body, plan.batch as u64, raw),
                }
            }
        };
        head.clear();
        head.push_str(&plan.head);
        head.push_str(&format!("Content-Length: {}\r\n\r\n", payload.len()));
        let sent_at = if plan.interval.is_some() {
            due
        } else {
            Instant::now()
        };
        let result = exchange(&mut stream, plan, head.as_bytes(), payload, &mut response);
        tally.lines_sent += lines;
        tally.bytes_sent += payload.len() as u64;
        tally.raw_bytes += raw;
        live.bytes
            .fetch_add(payload.len() as u64, Ordering::Relaxed);
        match result {
            Ok((status, text)) => {
                let took = sent_at.elapsed();
                tally
                    .latency
                    .saturating_record((took.as_micros() as u64).max(1));
                *tally.status.entry(status).or_insert(0) += 1;
                if (200..300).contains(&status) {
                    tally.lines_ok += lines;
                    live.lines.fetch_add(lines, Ordering::Relaxed);
                } else {
                    live.errors.fetch_add(1, Ordering::Relaxed);
                    if tally.first_error.is_none() {
                        let text: String = text.chars().take(300).collect();
                        tally.first_error = Some(format!("HTTP {status}: {}", text.trim()));
                    }
                }
            }
            Err(e) => {
                stream = None;
                tally.connection_errors += 1;
                live.errors.fetch_add(1, Ordering::Relaxed);
                if tally.first_error.is_none() {
                    tally.first_error = Some(format!("connection: {e}"));
                }
                // Do not spin on a dead server.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        live.done.fetch_add(1, Ordering::Relaxed);
    }
    tally
}

/// Sends one request (connecting first if needed) and reads its answer:
/// the status and the body text.
fn exchange(
    stream: &mut Option<TcpStream>,
    plan: &Plan,
    head: &[u8],
    body: &[u8],
    buf: &mut Vec<u8>,
) -> io::Result<(u16, String)> {
    if stream.is_none() {
        let s = TcpStream::connect_timeout(&plan.addr, Duration::from_secs(5))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(plan.timeout))?;
        s.set_write_timeout(Some(plan.timeout))?;
        *stream = Some(s);
    }
    let s = stream.as_mut().expect("connected above");
    let mut parts = [IoSlice::new(head), IoSlice::new(body)];
    let mut parts = &mut parts[..];
    while !parts.is_empty() {
        let n = s.write_vectored(parts)?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut parts, n);
    }
    let answer = read_response(s, buf);
    if answer.as_ref().map_or(true, |a| a.2) {
        *stream = None;
    }
    answer.map(|(status, text, _)| (status, text))
}

/// Reads one response: (status, body text, connection must close).
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<(u16, String, bool)> {
    buf.clear();
    let mut chunk = [0u8; 8192];
    let (status, head_len, length, chunked, close) = loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut headers);
        match r.parse(buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = r.code.unwrap_or(0);
                if status == 100 {
                    buf.drain(..len);
                    continue;
                }
                let header = |name: &str| {
                    r.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
                };
                let length = header("content-length").and_then(|v| v.trim().parse::<usize>().ok());
                let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
                let close = header("connection").is_some_and(|v| v.contains("close"));
                break (status, len, length, chunked, close);
            }
            Ok(httparse::Status::Partial) => continue,
            Err(e) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad response: {e}"),
                ))
            }
        }
    };
    let no_body = status == 204 || status == 304 || (100..200).contains(&status);
    let body = if no_body {
        Vec::new()
    } else if chunked {
        read_chunked(s, buf, head_len)?
    } else if let Some(n) = length {
        while buf.len() < head_len + n {
            let got = s.read(&mut chunk)?;
            if got == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..got]);
        }
        buf[head_len..head_len + n].to_vec()
    } else {
        // Body until the server closes.
        s.read_to_end(buf)?;
        return Ok((
            status,
            String::from_utf8_lossy(&buf[head_len..]).into(),
            true,
        ));
    };
    Ok((status, String::from_utf8_lossy(&body).into(), close))
}

fn read_chunked(s: &mut TcpStream, buf: &mut Vec<u8>, mut at: usize) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut more = |buf: &mut Vec<u8>| -> io::Result<()> {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        Ok(())
    };
    loop {
        let line_end = loop {
            if let Some(i) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                break at + i;
            }
            more(buf)?;
        };
        let size_text = String::from_utf8_lossy(&buf[at..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim().to_owned();
        let size = usize::from_str_radix(&size_text, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        at = line_end + 2;
        while buf.len() < at + size + 2 {
            more(buf)?;
        }
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
    }
}

fn report(args: &Args, t: &Tally, elapsed: f64, interval: Option<Duration>, per_request: f64) {
    let requests: u64 = t.status.values().sum::<u64>() + t.connection_errors;
    let q = |p: f64| {
        if t.latency.is_empty() {
            0.0
        } else {
            t.latency.value_at_quantile(p) as f64 / 1000.0
        }
    };
    let mode = match interval {
        Some(i) => format!("open loop at {:.0} lines/s", per_request / i.as_secs_f64()),
        None => "closed loop".into(),
    };
    let lines_per_s = t.lines_ok as f64 / elapsed;
    let mb_per_s = t.bytes_sent as f64 / elapsed / 1e6;
    if args.json {
        let status: serde_json::Map<String, serde_json::Value> = t
            .status
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let out = json!({
            "url": args.url,
            "api": args.api,
            "mode": mode,
            "connections": args.connections,
            "batch": args.batch,
            "gzip": args.gzip,
            "seconds": elapsed,
            "requests": requests,
            "lines_sent": t.lines_sent,
            "lines_ok": t.lines_ok,
            "lines_per_second": lines_per_s,
            "bytes_sent": t.bytes_sent,
            "bytes_uncompressed": t.raw_bytes,
            "mb_per_second": mb_per_s,
            "status": status,
            "connection_errors": t.connection_errors,
            "first_error": t.first_error,
            "latency_ms": {
                "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p99.9": q(0.999),
                "max": t.latency.max() as f64 / 1000.0,
                "mean": t.latency.mean() / 1000.0,
            },
        });
        println!("{out}");
        return;
    }
    let status: Vec<String> = t.status.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let source = if !args.files.is_empty() {
        format!("{} file bodies", args.files.len())
    } else {
        format!(
            "{} series x {} fields, {} lines/request",
            args.series, args.fields, args.batch
        )
    };
    println!(
        "hydrant-load: {} {} ({}), {} connections, {mode}, {source}, gzip {}",
        args.url,
        args.api,
        if args.api == "v2" {
            "/api/v2/write"
        } else {
            "/write"
        },
        args.connections,
        if args.gzip { "on" } else { "off" }
    );
    println!("  duration   {elapsed:.2}s");
    println!(
        "  requests   {requests} ({:.1}/s)",
        requests as f64 / elapsed
    );
    println!(
        "  lines      {} accepted of {} sent ({lines_per_s:.0} lines/s)",
        t.lines_ok, t.lines_sent
    );
    println!(
        "  bytes      {:.1} MB sent ({mb_per_s:.1} MB/s){}",
        t.bytes_sent as f64 / 1e6,
        if args.gzip {
            format!(", {:.1} MB before gzip", t.raw_bytes as f64 / 1e6)
        } else {
            String::new()
        }
    );
    println!(
        "  status     {}{}",
        if status.is_empty() {
            "none".into()
        } else {
            status.join(", ")
        },
        if t.connection_errors > 0 {
            format!(", connection errors: {}", t.connection_errors)
        } else {
            String::new()
        }
    );
    println!(
        "  latency    p50 {:.2}ms  p90 {:.2}ms  p99 {:.2}ms  p99.9 {:.2}ms  max {:.2}ms",
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        t.latency.max() as f64 / 1000.0
    );
    if let Some(e) = &t.first_error {
        println!("  first error: {e}");
    }
    if let Some(i) = interval {
        let achieved = requests as f64 / elapsed;
        let target = 1.0 / i.as_secs_f64();
        if achieved < target * 0.95 {
            println!(
                "  note: {achieved:.1} requests/s of the {target:.1}/s asked; more --connections, or the server is saturated"
            );
        }
    }
}
