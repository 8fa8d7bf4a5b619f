//! Telegraf's requests, byte for byte, and Telegraf's reactions to the
//! answers, from the outputs.influxdb (v1) and outputs.influxdb_v2 plugins
//! (Telegraf 1.39, plugins/outputs/influxdb*/http.go): its serializer's
//! lines (tags sorted by key, floats without exponent, `i` integers), gzip
//! bodies sent chunked, its User-Agent, the CREATE DATABASE it sends at
//! start, and how it decides between dropping a batch and keeping it for
//! the next flush. The tests run its flush loop against hydrant and check
//! that nothing accepted is lost and no batch is retried forever.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use super::harness::{basic, gzip, urlencode, Response, Server};

const USER_AGENT: &str = "Telegraf/1.39.3 Go/1.25.5";

/// One Telegraf metric.
#[derive(Clone, Debug)]
struct Metric {
    name: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, FieldValue)>,
    time_ns: i64,
}

#[derive(Clone, Debug)]
enum FieldValue {
    Float(f64),
    Int(i64),
    Uint(u64),
    Bool(bool),
    Str(String),
}

/// Telegraf's influx serializer (plugins/serializers/influx): tags sorted by
/// key, fields in insertion order, floats as Go's `'f', -1` (shortest, never
/// an exponent: Rust's `Display` writes the same digits), unsigned as `u`
/// (influx_uint_support = true), nanosecond timestamps, one line per metric.
fn serialize(m: &Metric) -> String {
    fn escape(s: &str, equals: bool) -> String {
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                ',' | ' ' => {
                    out.push('\\');
                    out.push(c);
                }
                '=' if equals => out.push_str("\\="),
                c => out.push(c),
            }
        }
        out
    }
    let mut line = escape(&m.name, false);
    let mut tags = m.tags.clone();
    tags.sort();
    for (k, v) in tags.iter().filter(|(k, v)| !k.is_empty() && !v.is_empty()) {
        line += &format!(",{}={}", escape(k, true), escape(v, true));
    }
    line.push(' ');
    let fields: Vec<String> = m
        .fields
        .iter()
        .map(|(k, v)| {
            let value = match v {
                FieldValue::Float(x) => format!("{x}"),
                FieldValue::Int(x) => format!("{x}i"),
                FieldValue::Uint(x) => format!("{x}u"),
                FieldValue::Bool(x) => format!("{x}"),
                FieldValue::Str(s) => {
                    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
                }
            };
            format!("{}={value}", escape(k, true))
        })
        .collect();
    line += &fields.join(",");
    line += &format!(" {}\n", m.time_ns);
    line
}

/// Telegraf-like cpu, mem and net metrics, `n` of them, one a second apart per host.
fn metrics(n: usize, start_ns: i64) -> Vec<Metric> {
    (0..n)
        .map(|i| {
            let host = format!("web-{:02}", i % 7);
            let time_ns = start_ns + (i / 7) as i64 * 1_000_000_000;
            match i % 3 {
                0 => Metric {
                    name: "cpu".into(),
                    // Out of order on purpose: the serializer sorts them.
                    tags: vec![
                        ("host".into(), host),
                        ("cpu".into(), format!("cpu{}", i % 4)),
                    ],
                    fields: vec![
                        ("usage_user".into(), FieldValue::Float(i as f64 / 7.0)),
                        (
                            "usage_idle".into(),
                            FieldValue::Float(100.0 - i as f64 / 7.0),
                        ),
                    ],
                    time_ns,
                },
                1 => Metric {
                    name: "mem".into(),
                    tags: vec![("host".into(), host)],
                    fields: vec![
                        ("used".into(), FieldValue::Int(1_000_000 + i as i64)),
                        ("total".into(), FieldValue::Uint(17_179_869_184)),
                        ("swap_on".into(), FieldValue::Bool(i % 2 == 0)),
                    ],
                    time_ns,
                },
                _ => Metric {
                    name: "net".into(),
                    tags: vec![
                        ("host".into(), host),
                        ("interface".into(), "eth 0,a=b".into()),
                    ],
                    fields: vec![
                        ("bytes_recv".into(), FieldValue::Int(i as i64 * 1500)),
                        (
                            "note".into(),
                            FieldValue::Str(format!("said \"hi\" at C:\\{i}")),
                        ),
                    ],
                    time_ns,
                },
            }
        })
        .collect()
}

/// How a plugin's output settings shape its requests.
#[derive(Clone, Copy)]
enum Plugin {
    /// outputs.influxdb: `POST /write?db=…`, Basic auth from username/password.
    V1 { gzip: bool },
    /// outputs.influxdb_v2: `POST /api/v2/write?bucket=…&org=…`, `Token` auth.
    V2 { gzip: bool },
}

impl Plugin {
    /// A database per plugin: `<prefix>_v1` or `<prefix>_v2`.
    fn database(self, prefix: &str) -> String {
        match self {
            Plugin::V1 { .. } => format!("{prefix}_v1"),
            Plugin::V2 { .. } => format!("{prefix}_v2"),
        }
    }
}

/// What Telegraf does with a batch after an answer.
#[derive(Debug, PartialEq)]
pub(super) enum Reaction {
    Written,
    /// Removed from the buffer for good (logged).
    Dropped(String),
    /// Kept in the buffer and sent again after `wait`.
    Kept {
        why: String,
        wait: Duration,
    },
    /// v2 on 413: sends each half of the batch instead.
    Split,
}

/// outputs.influxdb's `writeBatch` and `Write`: only 204 is success; a body
/// that is not JSON is an error kept for retry; any 4xx with a JSON body
/// drops the batch; so do 5xx answers whose `error` names a partial write,
/// a parse error, points beyond retention, a missing retention policy or
/// hinted handoff; anything else is kept.
pub(super) fn react_v1(r: &Response) -> Reaction {
    if r.status == 204 {
        return Reaction::Written;
    }
    let desc = if r.body.is_empty() {
        String::new()
    } else {
        match serde_json::from_slice::<Value>(&r.body) {
            Ok(v) => v["error"].as_str().unwrap_or_default().to_owned(),
            Err(_) => return kept_v1(format!("{}: body is not JSON", r.status)),
        }
    };
    if desc.contains("database not found") {
        return kept_v1("database not found: creates it, retries next flush".into());
    }
    if (400..500).contains(&r.status) {
        return Reaction::Dropped(format!("{}: {desc}", r.status));
    }
    for known in [
        "retention policy not found",
        "hinted handoff queue not empty",
        "points beyond retention policy",
        "partial write",
        "unable to parse",
    ] {
        if desc.contains(known) {
            return Reaction::Dropped(format!("{}: {desc}", r.status));
        }
    }
    kept_v1(format!("{}: {desc}", r.status))
}

/// The test's stand-in for `flush_interval` (10 s in Telegraf).
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// v1 keeps a failed batch for the next flush.
fn kept_v1(why: String) -> Reaction {
    Reaction::Kept {
        why,
        wait: FLUSH_INTERVAL,
    }
}

/// outputs.influxdb_v2's `writeBatch`: 2xx success, 413 halves the batch,
/// 429 and 502/503/504 throttle (kept; nothing is sent until
/// max(backoff, Retry-After) has passed, the backoff growing as
/// throttles² / 40 s, and an unreadable Retry-After counting as 10 s),
/// 401/403 kept, other 4xx dropped, other 5xx kept. `throttles` counts the
/// throttling answers in a row, this one included.
pub(super) fn react_v2(r: &Response, throttles: u32) -> Reaction {
    let kept = |wait| Reaction::Kept {
        why: format!("{}: {}", r.status, r.text()),
        wait,
    };
    match r.status {
        200..=202 | 204 | 206..=208 => Reaction::Written,
        413 => Reaction::Split,
        429 | 502 | 503 | 504 => {
            let backoff = (f64::from(throttles).powi(2) / 40.0).min(60.0);
            let after = match r.header("retry-after") {
                None => 0.0,
                Some(v) => v.trim().parse::<f64>().unwrap_or(10.0).min(600.0),
            };
            kept(Duration::from_secs_f64(backoff.max(after)))
        }
        400..=499 if r.status != 401 && r.status != 403 => {
            Reaction::Dropped(format!("{}: {}", r.status, r.text()))
        }
        _ => kept(FLUSH_INTERVAL),
    }
}

/// Telegraf's HTTP client: Go's net/http with the plugin's headers, the
/// body streamed chunked (Go does not know a piped body's length).
struct Telegraf<'a> {
    server: &'a Server,
    plugin: Plugin,
    database: String,
    /// `username` (v1; hydrant ignores it).
    username: String,
    /// `password` (v1) or `token` (v2).
    secret: String,
    /// Throttling answers in a row (v2's backoff).
    throttles: std::cell::Cell<u32>,
    /// Status of every answer whose batch was kept.
    kept: std::cell::RefCell<Vec<u16>>,
}

impl Telegraf<'_> {
    /// outputs.influxdb's `CreateDatabase` at Connect: a form POST to /query
    /// with no `db` parameter, Content-Length set.
    fn create_database(&self) -> Response {
        let q = format!(
            "CREATE DATABASE \"{}\"",
            self.database
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        );
        let body = format!("q={}", urlencode(&q));
        let head = format!(
            "POST /query HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\nContent-Length: {}\r\nAuthorization: Basic {}\r\nContent-Type: application/x-www-form-urlencoded\r\nAccept-Encoding: gzip\r\n\r\n",
            self.server.addr,
            body.len(),
            basic(&self.username, &self.secret)
        );
        let mut c = self.server.connect();
        c.write(head.as_bytes());
        c.write(body.as_bytes());
        c.read_response()
    }

    /// One batch as one request, exactly as the plugin sends it.
    fn send(&self, batch: &[Metric]) -> Response {
        let lines: String = batch.iter().map(serialize).collect();
        let (target, auth, gzipped) = match self.plugin {
            Plugin::V1 { gzip } => (
                format!("/write?db={}", urlencode(&self.database)),
                format!("Basic {}", basic(&self.username, &self.secret)),
                gzip,
            ),
            Plugin::V2 { gzip } => (
                format!(
                    "/api/v2/write?bucket={}&org=my-org",
                    urlencode(&self.database)
                ),
                format!("Token {}", self.secret),
                gzip,
            ),
        };
        let body = if gzipped {
            gzip(lines.as_bytes())
        } else {
            lines.into_bytes()
        };
        let encoding = if gzipped {
            "Content-Encoding: gzip\r\n"
        } else {
            ""
        };
        let head = format!(
            "POST {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\nTransfer-Encoding: chunked\r\nAuthorization: {auth}\r\n{encoding}Content-Type: text/plain; charset=utf-8\r\nAccept-Encoding: gzip\r\n\r\n",
            self.server.addr
        );
        let mut wire = head.into_bytes();
        // Go's chunked writer passes on what io.Copy reads from the body,
        // 32 KiB at a time.
        for piece in body.chunks(32 << 10) {
            write!(wire, "{:x}\r\n", piece.len()).unwrap();
            wire.extend_from_slice(piece);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        let mut c = self.server.connect();
        c.write(&wire);
        c.read_response()
    }

    fn react(&self, r: &Response) -> Reaction {
        match self.plugin {
            Plugin::V1 { .. } => react_v1(r),
            Plugin::V2 { .. } => {
                let throttled = matches!(r.status, 429 | 502 | 503 | 504);
                self.throttles.set(if throttled {
                    self.throttles.get() + 1
                } else {
                    0
                });
                react_v2(r, self.throttles.get())
            }
        }
    }

    /// Sends `batch`, splitting on 413 as the v2 plugin does; returns the
    /// metrics kept for a later flush and how long to wait before it, and
    /// adds the reasons of what was dropped to `dropped`.
    fn flush(&self, batch: Vec<Metric>, dropped: &mut Vec<String>) -> (Vec<Metric>, Duration) {
        let r = self.send(&batch);
        match self.react(&r) {
            Reaction::Written => (Vec::new(), Duration::ZERO),
            Reaction::Dropped(why) => {
                dropped.push(why);
                (Vec::new(), Duration::ZERO)
            }
            Reaction::Kept { wait, .. } => {
                self.kept.borrow_mut().push(r.status);
                (batch, wait)
            }
            Reaction::Split if batch.len() > 1 => {
                let second = batch[batch.len() / 2..].to_vec();
                let (mut kept, wait) = self.flush(batch[..batch.len() / 2].to_vec(), dropped);
                let (more, more_wait) = self.flush(second, dropped);
                kept.extend(more);
                (kept, wait.max(more_wait))
            }
            Reaction::Split => (batch, FLUSH_INTERVAL),
        }
    }

    /// Telegraf's agent: `metric_batch_size` metrics per flush from the
    /// buffer, failed batches kept and retried on later flushes. Returns the
    /// dropped batches' reasons; panics if a batch would be retried forever.
    fn run(&self, all: &[Metric], batch_size: usize) -> Vec<String> {
        let mut buffer: std::collections::VecDeque<Metric> = all.iter().cloned().collect();
        let mut dropped = Vec::new();
        let mut flushes = 0;
        while !buffer.is_empty() {
            flushes += 1;
            assert!(
                flushes < 200,
                "Telegraf would retry forever: {} metrics still buffered",
                buffer.len()
            );
            let n = batch_size.min(buffer.len());
            let batch: Vec<Metric> = buffer.drain(..n).collect();
            let (kept, wait) = self.flush(batch, &mut dropped);
            // A failed write ends the flush; the batch goes back in front.
            for m in kept.into_iter().rev() {
                buffer.push_front(m);
            }
            // A full buffer flushes again at once (Telegraf's batch-full trigger).
            std::thread::sleep(wait);
        }
        dropped
    }
}

/// `SELECT count(…)` per measurement through /query (GET, as Grafana would).
fn count(s: &Server, db: &str, measurement: &str, field: &str) -> u64 {
    let q = format!("SELECT count(\"{field}\") FROM \"{measurement}\"");
    let path = format!("/query?db={}&q={}", urlencode(db), urlencode(&q));
    let r = s.send(&super::harness::request("GET", &path, &s.auth(), b""));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["results"][0]["series"][0]["values"][0][1]
        .as_u64()
        .unwrap_or(0)
}

fn telegraf<'a>(server: &'a Server, plugin: Plugin, database: &str) -> Telegraf<'a> {
    Telegraf {
        server,
        plugin,
        database: database.into(),
        username: "telegraf".into(),
        secret: server.token.clone(),
        throttles: Default::default(),
        kept: Default::default(),
    }
}

#[test]
fn telegraf_v1_creates_its_database_and_writes_every_batch() {
    let s = Server::start(&["--cores", "2"]);
    for (db, gzip) in [("telegraf", true), ("telegraf plain", false)] {
        let t = telegraf(&s, Plugin::V1 { gzip }, db);
        let r = t.create_database();
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        // What the plugin checks: results[0] without an error.
        assert!(v["results"][0].is_object(), "{v}");
        assert!(v["results"][0].get("error").is_none(), "{v}");
        // Again at the next start: must still succeed.
        assert_eq!(t.create_database().status, 200);

        let all = metrics(3 * 1000 + 17, 1_700_000_000_000_000_000);
        let dropped = t.run(&all, 1000);
        assert!(dropped.is_empty(), "{dropped:?}");
        let per = |k| all.iter().filter(|m| m.name == k).count() as u64;
        assert_eq!(count(&s, db, "cpu", "usage_user"), per("cpu"));
        assert_eq!(count(&s, db, "mem", "used"), per("mem"));
        assert_eq!(count(&s, db, "net", "note"), per("net"));
    }
    // The serializer's escapes and types came through as sent.
    let net = row(&s, "telegraf", "SELECT * FROM net WHERE bytes_recv = 3000");
    assert_eq!(net["interface"], "eth 0,a=b", "{net:?}");
    assert_eq!(net["note"], "said \"hi\" at C:\\2", "{net:?}");
    assert_eq!(net["time"], 1_700_000_000_000_000_000i64, "{net:?}");
    let mem = row(&s, "telegraf", "SELECT * FROM mem WHERE used = 1000001");
    assert_eq!(mem["total"], 17_179_869_184u64, "{mem:?}");
    assert_eq!(mem["swap_on"], false, "{mem:?}");
}

/// The first row a query answers (epoch=ns), by column name.
fn row(s: &Server, db: &str, q: &str) -> serde_json::Map<String, Value> {
    let path = format!("/query?db={}&epoch=ns&q={}", urlencode(db), urlencode(q));
    let r = s.send(&super::harness::request("GET", &path, &s.auth(), b""));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let series = &v["results"][0]["series"][0];
    let columns = series["columns"]
        .as_array()
        .unwrap_or_else(|| panic!("{q}: {v}"));
    columns
        .iter()
        .zip(series["values"][0].as_array().unwrap())
        .map(|(c, x)| (c.as_str().unwrap().to_owned(), x.clone()))
        .collect()
}

#[test]
fn telegraf_with_the_spec_configuration_writes_to_a_new_database() {
    let s = Server::start(&[]);
    // ../shared/spec's outputs.influxdb: skip_database_creation = true (the
    // first request is the write), retention_policy = "" (no rp parameter),
    // username = "ignored", password = the token, content_encoding = "gzip".
    let mut t = telegraf(&s, Plugin::V1 { gzip: true }, "never_created");
    t.username = "ignored".into();
    let all = metrics(500, 1_700_000_000_000_000_000);
    assert!(t.run(&all, 1000).is_empty());
    assert_eq!(count(&s, "never_created", "cpu", "usage_idle"), 167);
}

#[test]
fn telegraf_drops_only_bad_lines_and_never_retries_them() {
    let s = Server::start(&["--cores", "2", "--retention", "1d"]);
    for plugin in [Plugin::V1 { gzip: true }, Plugin::V2 { gzip: false }] {
        let db = &plugin.database("bad");
        // The spec's configuration (username ignored, no rp).
        let mut t = telegraf(&s, plugin, db);
        t.username = "ignored".into();
        let now = 1_000_000_000
            * (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64);
        let mut all = metrics(900, now);
        // A type conflict, a point beyond the 1d retention, a reserved key:
        // each is rejected; the batch's other lines must be stored.
        all.insert(
            10,
            Metric {
                name: "cpu".into(),
                tags: vec![("host".into(), "odd".into())],
                fields: vec![("usage_user".into(), FieldValue::Str("n/a".into()))],
                time_ns: now,
            },
        );
        all.insert(
            500,
            Metric {
                name: "cpu".into(),
                tags: vec![("host".into(), "old".into())],
                fields: vec![("usage_user".into(), FieldValue::Float(1.0))],
                time_ns: now - 3 * 86_400 * 1_000_000_000,
            },
        );
        all.push(Metric {
            name: "mem".into(),
            tags: vec![("time".into(), "x".into())],
            fields: vec![("used".into(), FieldValue::Int(1))],
            time_ns: now,
        });
        let dropped = t.run(&all, 300);
        // Each batch holding a bad line is answered 400 partial write and dropped once.
        assert_eq!(dropped.len(), 3, "{dropped:?}");
        for why in &dropped {
            assert!(
                why.starts_with("400") && why.contains("partial write"),
                "{why}"
            );
        }
        assert_eq!(count(&s, db, "cpu", "usage_user"), 300, "{db}");
        assert_eq!(count(&s, db, "mem", "used"), 300, "{db}");
    }
}

#[test]
fn telegraf_v2_halves_batches_on_413_and_loses_nothing() {
    let s = Server::start(&["--max-body-size", "40000"]);
    for gzip in [false, true] {
        let db = format!("split_{gzip}");
        let t = telegraf(&s, Plugin::V2 { gzip }, &db);
        let all = metrics(2000, 1_700_000_000_000_000_000);
        // 1000 lines are ~90 kB: over the limit (gzip too, once inflated).
        assert_eq!(t.send(&all[..1000]).status, 413);
        let dropped = t.run(&all, 1000);
        assert!(dropped.is_empty(), "{dropped:?}");
        assert_eq!(count(&s, &db, "cpu", "usage_user"), 667);
        assert_eq!(count(&s, &db, "net", "bytes_recv"), 666);
    }
    // v1 drops a 413'd batch (it has no batch splitting), and says why.
    let t = telegraf(&s, Plugin::V1 { gzip: true }, "too_big_v1");
    let r = t.send(&metrics(1000, 1_700_000_000_000_000_000));
    assert_eq!(r.status, 413);
    match react_v1(&r) {
        Reaction::Dropped(why) => assert!(why.contains("40000"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn telegraf_keeps_batches_refused_for_memory_and_they_land_later() {
    // A tiny --max-memory, and persisting held up for a second (a file
    // stands where the database's directory goes): cores refuse writes
    // (503, Retry-After) until their rows reach Parquet, then take them again.
    let s = Server::start(&["--max-memory", "32KiB", "--persist-age", "100ms"]);
    for plugin in [Plugin::V1 { gzip: true }, Plugin::V2 { gzip: true }] {
        let db = &plugin.database("busy");
        let blocker = s.dir.join(db);
        std::fs::write(&blocker, b"not a directory").unwrap();
        let unblock = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            std::fs::remove_file(blocker).unwrap();
        });
        let t = telegraf(&s, plugin, db);
        let all = metrics(6000, 1_700_000_000_000_000_000);
        let dropped = t.run(&all, 1000);
        unblock.join().unwrap();
        assert!(dropped.is_empty(), "{dropped:?}");
        let kept = t.kept.borrow();
        // Every core is past its share after one batch, so by the third.
        assert!(!kept.is_empty(), "the memory limit was never reached");
        assert!(kept.iter().all(|&status| status == 503), "{kept:?}");
        assert_eq!(count(&s, db, "cpu", "usage_user"), 2000, "{db}");
        assert_eq!(count(&s, db, "mem", "used"), 2000, "{db}");
        assert_eq!(count(&s, db, "net", "bytes_recv"), 2000, "{db}");
    }
}

#[test]
fn telegraf_auth_failures_are_json_so_telegraf_does_not_spin() {
    let s = Server::start(&[]);
    let mut t = telegraf(&s, Plugin::V1 { gzip: true }, "telegraf");
    t.secret = "wrong".into();
    let r = t.create_database();
    assert_eq!(r.status, 401);
    let r = t.send(&metrics(10, 0));
    assert_eq!(r.status, 401);
    assert_eq!(r.error(), "authorization failed");
    assert!(matches!(react_v1(&r), Reaction::Dropped(_)));
    t.plugin = Plugin::V2 { gzip: true };
    let r = t.send(&metrics(10, 0));
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "unauthorized");
    // v2 keeps the batch on 401 (the token may be fixed): Telegraf's choice.
    assert!(matches!(react_v2(&r, 0), Reaction::Kept { .. }));
}
