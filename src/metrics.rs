//! Counters, gauges and latency histograms, and their Prometheus text form
//! for `GET /metrics`.
//!
//! Each core writes only its own [`CoreMetrics`] (relaxed atomics, and
//! mutexes nobody else takes except a scrape or the status page), so a
//! scrape on any core reads every core without asking the others to run
//! anything.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// A monotonically increasing count (or, with `set`, a gauge).
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }
    pub fn sub(&self, n: u64) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What a request asked for, as its `endpoint` label says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    Write,
    WriteV2,
    Query,
    Ping,
    Health,
    Metrics,
    Other,
}

impl Endpoint {
    /// `route`: the request's path as routing sees it (`Head::route`).
    pub fn of(route: &str) -> Endpoint {
        match route {
            "/write" => Endpoint::Write,
            "/api/v2/write" => Endpoint::WriteV2,
            "/query" => Endpoint::Query,
            "/ping" => Endpoint::Ping,
            "/health" => Endpoint::Health,
            "/metrics" => Endpoint::Metrics,
            _ => Endpoint::Other,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Write => "write",
            Endpoint::WriteV2 => "api_v2_write",
            Endpoint::Query => "query",
            Endpoint::Ping => "ping",
            Endpoint::Health => "health",
            Endpoint::Metrics => "metrics",
            Endpoint::Other => "other",
        }
    }
}

/// Latencies in microseconds, 3 significant digits, up to an hour.
pub struct Latency {
    histogram: Histogram<u64>,
    sum_us: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds are valid"),
            sum_us: 0,
        }
    }
}

impl Latency {
    pub fn record(&mut self, took: Duration) {
        let us = (took.as_micros() as u64).max(1);
        self.histogram.saturating_record(us);
        self.sum_us += us;
    }

    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
        self.sum_us += other.sum_us;
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The latency at `q` (0..=1), in seconds.
    pub fn quantile(&self, q: f64) -> f64 {
        self.histogram.value_at_quantile(q) as f64 / 1e6
    }

    pub fn max(&self) -> f64 {
        self.histogram.max() as f64 / 1e6
    }
}

/// One core's figures.
#[derive(Default)]
pub struct CoreMetrics {
    requests: Mutex<BTreeMap<(Endpoint, u16), u64>>,
    pub lines_accepted: Counter,
    pub lines_rejected: Counter,
    /// Write bodies as received (compressed when gzip).
    pub body_bytes: Counter,
    /// Write bodies after decompression.
    pub decoded_bytes: Counter,
    pub wal_flushes: Counter,
    pub wal_bytes: Counter,
    pub wal_entries: Counter,
    /// Gauge: WAL bytes appended and not yet written and synced (what a
    /// crash would lose under `--wal-sync none`).
    pub wal_pending_bytes: Counter,
    pub persisted_files: Counter,
    pub persisted_rows: Counter,
    pub connections_accepted: Counter,
    /// Connections closed at accept because the core had its maximum.
    pub connections_refused: Counter,
    pub connections_open: Counter,
    /// Gauges the persist task refreshes a few times a second.
    pub shard_rows: Counter,
    pub shard_bytes: Counter,
    pub parquet_files: Counter,
    write_latency: Mutex<Latency>,
    query_latency: Mutex<Latency>,
    /// The last rejected lines, oldest first, each with its place in the
    /// node-wide order.
    recent_errors: Mutex<VecDeque<(u64, RecentError)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing can panic while holding these locks; recover anyway.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl CoreMetrics {
    /// One answered request: its status, and (for writes and queries) how
    /// long it took from its head to its answer.
    pub fn request(&self, endpoint: Endpoint, status: u16, took: Duration) {
        *lock(&self.requests).entry((endpoint, status)).or_insert(0) += 1;
        match endpoint {
            Endpoint::Write | Endpoint::WriteV2 => lock(&self.write_latency).record(took),
            Endpoint::Query => lock(&self.query_latency).record(took),
            _ => {}
        }
    }

    pub fn requests(&self) -> BTreeMap<(Endpoint, u16), u64> {
        lock(&self.requests).clone()
    }

    /// A copy of the write (or query) latencies since start.
    pub fn latency(&self, query: bool) -> Latency {
        let mut out = Latency::default();
        out.merge(&lock(if query {
            &self.query_latency
        } else {
            &self.write_latency
        }));
        out
    }
}

/// Rejected lines each core keeps for the status page.
pub const RECENT_ERRORS: usize = 50;
/// Rejected lines of one request that reach the recent list (a body of
/// bad lines must not flush every other request's out).
pub const RECENT_ERRORS_PER_REQUEST: usize = 10;
/// Longest line text and reason kept for the status page, in bytes.
const RECENT_TEXT: usize = 300;
/// Samples of the accepted-line counters the ingest rate is taken over.
const RATE_SAMPLES: usize = 11;

/// One rejected line (or a body refused whole, `line` 0), as the status
/// page lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentError {
    /// Milliseconds since the epoch.
    pub at_ms: i64,
    pub core: usize,
    pub db: String,
    pub line: usize,
    pub text: String,
    pub reason: String,
}

/// `text` cut to at most `max` bytes (on a character boundary), with `…`
/// where it was cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The order rejected lines were recorded in, across every core (times in
/// milliseconds tie).
static RECORDED: AtomicU64 = AtomicU64::new(0);

impl CoreMetrics {
    /// Remembers a rejected line in this core's list of the last few.
    pub fn record_error(&self, at_ms: i64, db: &str, line: usize, text: &str, reason: &str) {
        let error = RecentError {
            at_ms,
            core: 0,
            db: db.to_owned(),
            line,
            text: cut(text, RECENT_TEXT),
            reason: cut(reason, RECENT_TEXT),
        };
        let order = RECORDED.fetch_add(1, Ordering::Relaxed);
        let mut list = lock(&self.recent_errors);
        if list.len() == RECENT_ERRORS {
            list.pop_front();
        }
        list.push_back((order, error));
    }
}

/// Every core's figures.
pub struct Metrics {
    pub cores: Vec<CoreMetrics>,
    started: Instant,
    /// (when, every core's accepted lines), oldest first, one a second.
    samples: Mutex<VecDeque<(Instant, Vec<u64>)>>,
}

impl Metrics {
    pub fn new(cores: usize) -> Metrics {
        Metrics {
            cores: (0..cores).map(|_| CoreMetrics::default()).collect(),
            started: Instant::now(),
            samples: Mutex::new(VecDeque::with_capacity(RATE_SAMPLES)),
        }
    }

    /// The last rejected lines of every core, newest first, at most
    /// [`RECENT_ERRORS`] (callers record a request's lines last first, so
    /// they list in body order).
    pub fn recent_errors(&self) -> Vec<RecentError> {
        let mut all: Vec<(u64, RecentError)> = Vec::new();
        for (i, core) in self.cores.iter().enumerate() {
            let list = lock(&core.recent_errors);
            all.extend(list.iter().map(|(order, e)| {
                let mut e = e.clone();
                e.core = i;
                (*order, e)
            }));
        }
        all.sort_by_key(|(order, _)| std::cmp::Reverse(*order));
        all.truncate(RECENT_ERRORS);
        all.into_iter().map(|(_, e)| e).collect()
    }

    /// Takes one sample of every core's accepted lines (called once a second).
    pub fn sample_rates(&self) {
        let now: Vec<u64> = self.cores.iter().map(|c| c.lines_accepted.get()).collect();
        let mut samples = lock(&self.samples);
        if samples.len() == RATE_SAMPLES {
            samples.pop_front();
        }
        samples.push_back((Instant::now(), now));
    }

    /// Lines accepted per second on each core over the last ten seconds
    /// (zeros until two samples exist).
    pub fn ingest_rates(&self) -> Vec<f64> {
        let samples = lock(&self.samples);
        match (samples.front(), samples.back()) {
            (Some((t0, first)), Some((t1, last))) if t1 > t0 => {
                let secs = (*t1 - *t0).as_secs_f64();
                first
                    .iter()
                    .zip(last)
                    .map(|(a, b)| b.saturating_sub(*a) as f64 / secs)
                    .collect()
            }
            _ => vec![0.0; self.cores.len()],
        }
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// A counter summed over the cores.
    pub fn total(&self, pick: impl Fn(&CoreMetrics) -> &Counter) -> u64 {
        self.cores.iter().map(|c| pick(c).get()).sum()
    }

    /// The Prometheus text exposition (format 0.0.4): every figure per core
    /// (`core="0"`…) and for the node (`core="all"`).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 << 10);
        let w = &mut out;

        family(
            w,
            "hydrant_build_info",
            "gauge",
            "hydrant's version and the InfluxDB version it reports.",
        );
        let _ = writeln!(
            w,
            "hydrant_build_info{{version=\"{}\",influxdb_version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            crate::http::response::INFLUXDB_VERSION
        );
        family(
            w,
            "hydrant_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
        );
        let _ = writeln!(w, "hydrant_uptime_seconds {}", self.uptime().as_secs_f64());

        family(
            w,
            "hydrant_http_requests_total",
            "counter",
            "HTTP requests answered, by endpoint and status code.",
        );
        let mut all: BTreeMap<(Endpoint, u16), u64> = BTreeMap::new();
        for (i, core) in self.cores.iter().enumerate() {
            for ((endpoint, status), n) in core.requests() {
                *all.entry((endpoint, status)).or_insert(0) += n;
                let _ = writeln!(
                    w,
                    "hydrant_http_requests_total{{core=\"{i}\",endpoint=\"{}\",status=\"{status}\"}} {n}",
                    endpoint.label()
                );
            }
        }
        for ((endpoint, status), n) in all {
            let _ = writeln!(
                w,
                "hydrant_http_requests_total{{core=\"all\",endpoint=\"{}\",status=\"{status}\"}} {n}",
                endpoint.label()
            );
        }

        let counters: [(&str, &str, &str, Pick); 16] = [
            (
                "hydrant_lines_accepted_total",
                "counter",
                "Line-protocol points accepted (stored, or validated with --store none).",
                |c| &c.lines_accepted,
            ),
            (
                "hydrant_lines_rejected_total",
                "counter",
                "Line-protocol lines rejected (parse errors, schema conflicts, beyond retention).",
                |c| &c.lines_rejected,
            ),
            (
                "hydrant_write_body_bytes_total",
                "counter",
                "Write request bodies as received (compressed when gzip).",
                |c| &c.body_bytes,
            ),
            (
                "hydrant_write_decoded_bytes_total",
                "counter",
                "Write request bodies after decompression.",
                |c| &c.decoded_bytes,
            ),
            (
                "hydrant_wal_flushes_total",
                "counter",
                "WAL flushes (each one synchronous O_DSYNC write).",
                |c| &c.wal_flushes,
            ),
            (
                "hydrant_wal_bytes_total",
                "counter",
                "Bytes of WAL entries written to segments.",
                |c| &c.wal_bytes,
            ),
            (
                "hydrant_wal_entries_total",
                "counter",
                "WAL entries (one per write request that stored points).",
                |c| &c.wal_entries,
            ),
            (
                "hydrant_wal_pending_bytes",
                "gauge",
                "WAL bytes appended but not yet written and synced (what a crash would lose under --wal-sync none).",
                |c| &c.wal_pending_bytes,
            ),
            (
                "hydrant_persisted_files_total",
                "counter",
                "Parquet files written since start.",
                |c| &c.persisted_files,
            ),
            (
                "hydrant_persisted_rows_total",
                "counter",
                "Rows written to Parquet since start.",
                |c| &c.persisted_rows,
            ),
            (
                "hydrant_connections_accepted_total",
                "counter",
                "TCP connections accepted.",
                |c| &c.connections_accepted,
            ),
            (
                "hydrant_connections_refused_total",
                "counter",
                "Connections closed on accept: the core already served --max-connections-per-core.",
                |c| &c.connections_refused,
            ),
            (
                "hydrant_connections_open",
                "gauge",
                "TCP connections open now.",
                |c| &c.connections_open,
            ),
            (
                "hydrant_shard_rows",
                "gauge",
                "Rows held in memory (not yet persisted, or being persisted).",
                |c| &c.shard_rows,
            ),
            (
                "hydrant_shard_bytes",
                "gauge",
                "Bytes of rows held in memory.",
                |c| &c.shard_bytes,
            ),
            (
                "hydrant_parquet_files",
                "gauge",
                "Parquet files this core serves queries from.",
                |c| &c.parquet_files,
            ),
        ];
        for (name, kind, help, pick) in counters {
            family(w, name, kind, help);
            for (i, core) in self.cores.iter().enumerate() {
                let _ = writeln!(w, "{name}{{core=\"{i}\"}} {}", pick(core).get());
            }
            let _ = writeln!(w, "{name}{{core=\"all\"}} {}", self.total(pick));
        }

        let latencies: Vec<[Latency; 2]> = self
            .cores
            .iter()
            .map(|c| [c.latency(false), c.latency(true)])
            .collect();
        let mut total = [Latency::default(), Latency::default()];
        for pair in &latencies {
            total[0].merge(&pair[0]);
            total[1].merge(&pair[1]);
        }
        let cores = latencies
            .iter()
            .enumerate()
            .map(|(i, l)| (i.to_string(), l))
            .chain(std::iter::once(("all".to_string(), &total)));
        let cores: Vec<(String, &[Latency; 2])> = cores.collect();
        family(
            w,
            "hydrant_request_duration_seconds",
            "histogram",
            "Time from a request's head to its answer (writes: including the WAL flush that covers them).",
        );
        for (core, pair) in &cores {
            for (kind, l) in ["write", "query"].iter().zip(pair.iter()) {
                let labels = format!("core=\"{core}\",kind=\"{kind}\"");
                for le in BUCKETS {
                    let n = l.histogram.count_between(0, (le * 1e6) as u64);
                    let _ = writeln!(
                        w,
                        "hydrant_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}"
                    );
                }
                let _ = writeln!(
                    w,
                    "hydrant_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    l.count()
                );
                sum_and_count(w, "hydrant_request_duration_seconds", &labels, l);
            }
        }
        family(
            w,
            "hydrant_request_latency_seconds",
            "summary",
            "Request latency percentiles since start (hdrhistogram, 3 significant digits).",
        );
        for (core, pair) in &cores {
            for (kind, l) in ["write", "query"].iter().zip(pair.iter()) {
                let labels = format!("core=\"{core}\",kind=\"{kind}\"");
                for q in QUANTILES {
                    // Prometheus spells "no observations yet" NaN.
                    let v = if l.count() == 0 {
                        "NaN".to_string()
                    } else {
                        l.quantile(q).to_string()
                    };
                    let _ = writeln!(
                        w,
                        "hydrant_request_latency_seconds{{{labels},quantile=\"{q}\"}} {v}"
                    );
                }
                sum_and_count(w, "hydrant_request_latency_seconds", &labels, l);
            }
        }

        process(w);
        out
    }
}

/// Picks one counter out of a core's.
type Pick = fn(&CoreMetrics) -> &Counter;

/// Histogram bucket bounds, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 10.0,
];
const QUANTILES: [f64; 5] = [0.5, 0.9, 0.99, 0.999, 1.0];

/// The `_sum` and `_count` samples every histogram and summary ends with.
fn sum_and_count(w: &mut String, name: &str, labels: &str, l: &Latency) {
    let _ = writeln!(w, "{name}_sum{{{labels}}} {}", l.sum_us as f64 / 1e6);
    let _ = writeln!(w, "{name}_count{{{labels}}} {}", l.count());
}

fn family(w: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(w, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The standard process metrics (the names Prometheus client libraries use).
fn process(w: &mut String) {
    // SAFETY: sysconf takes no pointers.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name (which may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse().ok() };
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        family(
            w,
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent in seconds.",
        );
        let _ = writeln!(
            w,
            "process_cpu_seconds_total {}",
            (utime + stime) / ticks.max(1) as f64
        );
    }
    if let Some(rss) = field(24) {
        family(
            w,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
        );
        let _ = writeln!(w, "process_resident_memory_bytes {}", rss * page as f64);
    }
    if let Some(threads) = field(20) {
        family(w, "process_threads", "gauge", "Number of OS threads.");
        let _ = writeln!(w, "process_threads {threads}");
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        family(
            w,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
        );
        let _ = writeln!(w, "process_open_fds {}", dir.count());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_by_path() {
        let table = [
            ("/write", Endpoint::Write),
            ("/api/v2/write", Endpoint::WriteV2),
            ("/query", Endpoint::Query),
            ("/ping", Endpoint::Ping),
            ("/health", Endpoint::Health),
            ("/metrics", Endpoint::Metrics),
            ("/", Endpoint::Other),
            ("/nope", Endpoint::Other),
        ];
        for (path, want) in table {
            assert_eq!(Endpoint::of(path), want, "{path}");
        }
    }

    #[test]
    fn recent_errors_keep_the_newest_and_cut_long_texts() {
        let m = Metrics::new(2);
        for line in 1..=RECENT_ERRORS + 5 {
            m.cores[0].record_error(line as i64, "d", line, &"é".repeat(200), "bad");
        }
        // One request on core 1, later, in the same millisecond as the
        // last: its lines are recorded last first.
        for line in [3, 2] {
            m.cores[1].record_error(55, "e", line, "x", &"r".repeat(400));
        }
        let list = m.recent_errors();
        assert_eq!(list.len(), RECENT_ERRORS);
        let head: Vec<(usize, usize)> = list[..3].iter().map(|e| (e.core, e.line)).collect();
        assert_eq!(
            head,
            [(1, 2), (1, 3), (0, RECENT_ERRORS + 5)],
            "newest first"
        );
        assert_eq!(list[RECENT_ERRORS - 1].line, 8);
        assert_eq!(list[2].text, cut(&"é".repeat(200), RECENT_TEXT));
        assert!(list[2].text.len() <= RECENT_TEXT + '…'.len_utf8());
        assert!(list[2].text.ends_with('…'));
        assert_eq!(list[0].reason.len(), RECENT_TEXT + '…'.len_utf8());
    }

    #[test]
    fn cut_keeps_short_texts_and_cuts_on_character_boundaries() {
        let table = [
            ("abc", 3, "abc"),
            ("abcd", 3, "abc…"),
            ("aé", 2, "a…"),
            ("", 0, ""),
        ];
        for (text, max, want) in table {
            assert_eq!(cut(text, max), want, "{text:?} {max}");
        }
    }

    #[test]
    fn ingest_rates_are_taken_between_the_oldest_and_newest_sample() {
        let m = Metrics::new(2);
        assert_eq!(m.ingest_rates(), [0.0, 0.0]);
        m.sample_rates();
        m.cores[1].lines_accepted.add(1000);
        std::thread::sleep(Duration::from_millis(50));
        m.sample_rates();
        let rates = m.ingest_rates();
        assert_eq!(rates[0], 0.0);
        // 1000 lines over about 50 ms.
        assert!(rates[1] > 1000.0 && rates[1] < 20_000.0, "{rates:?}");
    }

    #[test]
    fn render_sums_cores_and_fills_histograms() {
        let m = Metrics::new(2);
        m.cores[0].lines_accepted.add(5);
        m.cores[1].lines_accepted.add(7);
        m.cores[0].request(Endpoint::Write, 204, Duration::from_micros(300));
        m.cores[1].request(Endpoint::Write, 204, Duration::from_millis(20));
        m.cores[1].request(Endpoint::Query, 400, Duration::from_millis(2));
        let text = m.render();
        let has = |line: &str| text.lines().any(|l| l == line);
        assert!(has("hydrant_lines_accepted_total{core=\"0\"} 5"), "{text}");
        assert!(has("hydrant_lines_accepted_total{core=\"all\"} 12"));
        assert!(has(
            "hydrant_http_requests_total{core=\"all\",endpoint=\"write\",status=\"204\"} 2"
        ));
        assert!(has(
            "hydrant_http_requests_total{core=\"1\",endpoint=\"query\",status=\"400\"} 1"
        ));
        // 300 µs is under 0.5 ms; 20 ms is not under 10 ms but is under 25 ms.
        assert!(has(
            "hydrant_request_duration_seconds_bucket{core=\"all\",kind=\"write\",le=\"0.0005\"} 1"
        ));
        assert!(has(
            "hydrant_request_duration_seconds_bucket{core=\"all\",kind=\"write\",le=\"0.01\"} 1"
        ));
        assert!(has(
            "hydrant_request_duration_seconds_bucket{core=\"all\",kind=\"write\",le=\"0.025\"} 2"
        ));
        assert!(has(
            "hydrant_request_duration_seconds_count{core=\"all\",kind=\"query\"} 1"
        ));
        assert!(has(
            "hydrant_request_latency_seconds{core=\"0\",kind=\"query\",quantile=\"0.5\"} NaN"
        ));
    }
}
