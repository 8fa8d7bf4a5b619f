//! /query against InfluxDB 1.x: the same dataset written to both, every
//! statement of `query_cases.txt` asked of both, the JSON compared.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use super::harness::{urlencode, Server};

/// 2023-11-14T22:13:20Z in seconds.
const T0: i64 = 1_700_000_000;

/// A deterministic dataset that exercises every type, missing tags,
/// missing fields, several measurements and overwritten points.
fn dataset() -> Vec<String> {
    let mut state: u64 = 42;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    let mut bodies = Vec::new();
    let mut body = String::new();
    for i in 0..120 {
        let t = T0 + i * 60;
        for host in ["h1", "h2", "h3", "h4"] {
            for cpu in ["cpu0", "cpu1"] {
                let region = match host {
                    "h1" | "h2" => ",region=us",
                    "h3" => ",region=eu",
                    _ => "",
                };
                let user = (next() * 10000.0).round() / 100.0;
                let system = (next() * 2000.0).round() / 100.0;
                // Some points lack usage_system: nulls in the columns.
                if i % 17 == 5 && host == "h2" {
                    body += &format!("cpu,cpu={cpu},host={host}{region} usage_user={user} {t}\n");
                } else {
                    body += &format!(
                        "cpu,cpu={cpu},host={host}{region} usage_user={user},usage_system={system},usage_idle={} {t}\n",
                        ((100.0 - user) * 100.0).round() / 100.0
                    );
                }
            }
        }
        if i % 2 == 0 {
            for (h, host) in ["h1", "h2", "h3"].iter().enumerate() {
                let used = 1_000_000 + (next() * 1_000_000.0) as i64;
                body += &format!(
                    "mem,host={host} used={used}i,free={}i,used_percent={},cpu_count={}i {t}\n",
                    4_000_000 - used,
                    (used as f64 / 40_000.0 * 100.0).round() / 100.0,
                    2 + (h % 2) * 2
                );
            }
        }
        for (h, host) in ["h1", "h2"].iter().enumerate() {
            body += &format!(
                "net,host={host},interface=eth0 bytes_recv={}i {}\n",
                i * 1000 + (h as i64) * 7 + (next() * 100.0) as i64,
                t + 30
            );
        }
        if i % 10 == 3 {
            let (msg, ok, code) = match i % 3 {
                0 => ("disk full", "false", 507),
                1 => ("restart \"api\", then ok", "true", 200),
                _ => ("restart worker", "T", 503),
            };
            body += &format!(
                "events,host=h{} msg=\"{}\",ok={ok},code={code}i {t}\n",
                1 + i % 4,
                msg.replace('"', "\\\"")
            );
        }
        if body.len() > 16_000 {
            bodies.push(std::mem::take(&mut body));
        }
    }
    bodies.push(body);
    // Overwrites: the same series and time, later writes win per field.
    bodies.push(format!("dup,k=x a=1,b=1 {T0}\ndup,k=x a=5 {}\n", T0 + 1));
    bodies.push(format!("dup,k=x a=2 {T0}\n"));
    bodies.push(format!("dup,k=x b=3 {T0}\n"));
    bodies
}

/// Points up to now, for statements relative to now() (Grafana's
/// `time >= now() - 6h`): three hosts, one point a minute over the last
/// 6.5 hours, each minute-aligned so both servers hold the same times.
fn recent_dataset() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let last = now / 60 * 60;
    let mut body = String::new();
    for k in 0..390i64 {
        for (h, host) in ["r1", "r2", "r3"].iter().enumerate() {
            let region = if h == 2 { "eu" } else { "us" };
            body += &format!(
                "recent,host={host},region={region} cpu={},bytes={}i {}\n",
                ((k * 37 + h as i64 * 11) % 1000) as f64 / 10.0,
                k * 1000 + h as i64,
                last - k * 60
            );
        }
    }
    body
}

/// One HTTP/1.0 exchange (no keep-alive, no chunking): (status, body).
fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    http_accept(addr, method, path, body, "application/json")
}

fn http_accept(addr: &str, method: &str, path: &str, body: &[u8], accept: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: test\r\nAccept: {accept}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let status = std::str::from_utf8(&out[9..12]).unwrap().parse().unwrap();
    (status, out[split + 4..].to_vec())
}

/// msgpack as JSON: times (extension 5) become `[seconds, nanoseconds]`.
fn msgpack_to_json(bytes: &[u8]) -> Value {
    fn convert(v: rmpv::Value) -> Value {
        match v {
            rmpv::Value::Nil => Value::Null,
            rmpv::Value::Boolean(b) => Value::Bool(b),
            rmpv::Value::Integer(i) => match (i.as_i64(), i.as_u64()) {
                (Some(x), _) => Value::from(x),
                (_, Some(x)) => Value::from(x),
                _ => Value::Null,
            },
            rmpv::Value::F32(x) => Value::from(x as f64),
            rmpv::Value::F64(x) => {
                serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
            }
            rmpv::Value::String(s) => Value::String(s.into_str().unwrap_or_default()),
            rmpv::Value::Binary(b) => Value::String(format!("{b:?}")),
            rmpv::Value::Array(a) => Value::Array(a.into_iter().map(convert).collect()),
            rmpv::Value::Map(m) => Value::Object(
                m.into_iter()
                    .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), convert(v)))
                    .collect(),
            ),
            rmpv::Value::Ext(kind, data) if kind == 5 && data.len() == 12 => {
                let secs = u64::from_be_bytes(data[..8].try_into().unwrap());
                let nanos = u32::from_be_bytes(data[8..].try_into().unwrap());
                serde_json::json!([secs, nanos])
            }
            rmpv::Value::Ext(kind, data) => Value::String(format!("ext {kind} {data:?}")),
        }
    }
    match rmpv::decode::read_value(&mut &bytes[..]) {
        Ok(v) => convert(v),
        Err(e) => Value::String(format!("bad msgpack: {e}")),
    }
}

/// CSV as rows of fields (quotes handled), numbers parsed so that float
/// noise compares within tolerance.
fn csv_to_json(bytes: &[u8]) -> Value {
    let text = String::from_utf8_lossy(bytes);
    let mut rows = Vec::new();
    for line in text.lines() {
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => fields.push(std::mem::take(&mut field)),
                (c, _) => field.push(c),
            }
        }
        fields.push(field);
        rows.push(Value::Array(
            fields
                .into_iter()
                .map(|f| match f.parse::<f64>() {
                    Ok(x) if f.contains('.') => serde_json::json!(x),
                    _ => Value::String(f),
                })
                .collect(),
        ));
    }
    // Rows of equal (name, tags, time) in any order, as for JSON.
    let mut start = 0;
    while start < rows.len() {
        let key = |r: &Value| {
            r.as_array()
                .map(|a| a.iter().take(3).cloned().collect::<Vec<_>>())
        };
        let mut end = start + 1;
        while end < rows.len() && key(&rows[end]) == key(&rows[start]) {
            end += 1;
        }
        rows[start..end].sort_by_key(|r| r.to_string());
        start = end;
    }
    Value::Array(rows)
}

/// Rows of equal time come in no particular order from InfluxDB (it
/// depends on its storage layout), so they are compared as a set.
fn normalise(mut v: Value) -> Value {
    if let Some(results) = v.get_mut("results").and_then(Value::as_array_mut) {
        for r in results {
            if let Some(series) = r.get_mut("series").and_then(Value::as_array_mut) {
                for s in series {
                    if let Some(values) = s.get_mut("values").and_then(Value::as_array_mut) {
                        let mut start = 0;
                        while start < values.len() {
                            let mut end = start + 1;
                            while end < values.len() && values[end][0] == values[start][0] {
                                end += 1;
                            }
                            values[start..end].sort_by_key(|row| row.to_string());
                            start = end;
                        }
                    }
                }
            }
        }
    }
    v
}

/// JSON equality with floats to 1e-9 relative.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x.is_f64() || y.is_f64() {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
            } else {
                x == y
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Both servers' (status, answer), from `compare`, asked again until they
/// agree or `tries` asks were made.
fn agreed(
    tries: usize,
    compare: impl Fn() -> (u16, Value, u16, Value),
) -> (u16, Value, u16, Value) {
    let mut answers = compare();
    for _ in 1..tries {
        if answers.0 == answers.2 && same(&answers.1, &answers.3) {
            break;
        }
        answers = compare();
    }
    answers
}

#[test]
fn queries_answer_as_influxdb_does() {
    let oracle = std::env::var("HYDRANT_TEST_INFLUXDB_URL").expect(
        "HYDRANT_TEST_INFLUXDB_URL must name a running InfluxDB 1.x (tools/test starts one)",
    );
    let oracle = oracle
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let db = format!("hydrant_diff_{}", std::process::id());
    let (status, body) = http(
        &oracle,
        "POST",
        "/query",
        format!("q={}", urlencode(&format!("CREATE DATABASE {db}"))).as_bytes(),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    let server = Server::start(&["--without-auth"]);
    let hydrant = server.addr.to_string();
    let mut bodies = dataset();
    bodies.push(recent_dataset());
    for body in bodies {
        for addr in [&hydrant, &oracle] {
            let (status, answer) = http(
                addr,
                "POST",
                &format!("/write?db={db}&precision=s"),
                body.as_bytes(),
            );
            assert_eq!(status, 204, "{addr}: {}", String::from_utf8_lossy(&answer));
        }
    }

    let cases = include_str!("query_cases.txt");
    let mut failures = Vec::new();
    let mut count = 0;
    for line in cases.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        count += 1;
        // Leading `epoch=…` / `chunk_size=…` words are URL parameters;
        // `method=GET` puts `q` in the URL (Grafana's default) instead of a
        // POSTed form.
        let mut q = line;
        let mut options = String::new();
        let mut method = "POST";
        while let Some((word, rest)) = q.split_once(' ') {
            let Some((key, value)) = word.split_once('=') else {
                break;
            };
            match key {
                "epoch" => options += &format!("&epoch={value}"),
                "chunk_size" => options += &format!("&chunked=true&chunk_size={value}"),
                "method" => method = if value == "GET" { "GET" } else { "POST" },
                _ => break,
            }
            q = rest;
        }
        let chunked = options.contains("chunked");
        // `$DB` stands for this run's database name.
        let q_owned = q.replace("$DB", &db);
        let q = q_owned.as_str();
        let form = format!("q={}", urlencode(q));
        let (path, form) = match method {
            "GET" => (format!("/query?db={db}{options}&{form}"), String::new()),
            _ => (format!("/query?db={db}{options}"), form),
        };
        let ask =
            |addr: &str, accept: &str| http_accept(addr, method, &path, form.as_bytes(), accept);
        // Statements relative to now() can straddle a bucket or point
        // boundary between the two asks: such a mismatch is asked again.
        let tries = if q.contains("now()") { 3 } else { 1 };
        let parse = |bytes: &[u8]| -> Value {
            if chunked {
                // One JSON document per line.
                Value::Array(
                    bytes
                        .split(|&b| b == b'\n')
                        .filter(|l| !l.is_empty())
                        .map(|l| normalise(serde_json::from_slice(l).unwrap_or(Value::Null)))
                        .collect(),
                )
            } else {
                serde_json::from_slice(bytes).unwrap_or(Value::Null)
            }
        };
        let compare = || {
            let (want_status, want) = ask(&oracle, "application/json");
            let (got_status, got) = ask(&hydrant, "application/json");
            let (want, got) = (parse(&want), parse(&got));
            // SHOW DATABASES lists the oracle's other databases too: compare
            // only whether ours is listed.
            let (want, got) = if q == "SHOW DATABASES" {
                let has = |v: &Value| v.to_string().contains(&format!("\"{db}\""));
                (Value::Bool(has(&want)), Value::Bool(has(&got)))
            } else {
                (normalise(want), normalise(got))
            };
            (want_status, want, got_status, got)
        };
        let (want_status, want, got_status, got) = agreed(tries, compare);
        if want_status != got_status || !same(&want, &got) {
            failures.push(format!(
                "{q}\n  influxdb ({want_status}): {want}\n  hydrant  ({got_status}): {got}"
            ));
            continue;
        }
        // SHOW DATABASES lists the oracle's other databases; InfluxDB's CSV
        // of SHOW RETENTION POLICIES prints the header word "replicaN" as
        // the value (its CSV writer skips Go ints), which hydrant does not copy.
        if chunked || q == "SHOW DATABASES" || q.starts_with("SHOW RETENTION POLICIES") {
            continue;
        }
        // The same statement as CSV and as msgpack.
        for (accept, decode) in [
            ("application/csv", csv_to_json as fn(&[u8]) -> Value),
            ("application/x-msgpack", msgpack_to_json),
        ] {
            let compare = || {
                let (want_status, want) = ask(&oracle, accept);
                let (got_status, got) = ask(&hydrant, accept);
                let (want, got) = (normalise(decode(&want)), normalise(decode(&got)));
                (want_status, want, got_status, got)
            };
            let (want_status, want, got_status, got) = agreed(tries, compare);
            if want_status != got_status || !same(&want, &got) {
                failures.push(format!(
                    "{q} [{accept}]\n  influxdb ({want_status}): {want}\n  hydrant  ({got_status}): {got}"
                ));
            }
        }
    }
    let _ = http(
        &oracle,
        "POST",
        "/query",
        format!("q={}", urlencode(&format!("DROP DATABASE {db}"))).as_bytes(),
    );
    assert!(count >= 150, "the table has {count} queries");
    assert!(
        failures.is_empty(),
        "{} of {count} queries differ from InfluxDB:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Writes line protocol (seconds) into database `d`; it must be accepted.
fn write_d(addr: &str, body: &str) {
    let (status, answer) = http(addr, "POST", "/write?db=d&precision=s", body.as_bytes());
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&answer));
}

/// Asks database `d`; the request must succeed (statement errors are in the JSON).
fn ask_d(addr: &str, q: &str) -> Value {
    let form = format!("q={}", urlencode(q));
    let (status, answer) = http(addr, "POST", "/query?db=d", form.as_bytes());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    serde_json::from_slice(&answer).unwrap()
}

/// The columnar path may only skip merging when no series+time repeats:
/// a point overwritten from other connections (other cores, likely) must
/// count once, with its last value.
#[test]
fn aggregates_count_an_overwritten_point_once() {
    let server = Server::start(&["--without-auth", "--cores", "2"]);
    let addr = server.addr.to_string();
    let body: String = (1..=100).map(|i| format!("m,host=a v={i} {i}\n")).collect();
    write_d(&addr, &body);
    for _ in 0..4 {
        write_d(&addr, "m,host=a v=1000 50\n");
    }
    let v = ask_d(
        &addr,
        "SELECT count(v), sum(v), max(v) FROM m; SELECT count(v) FROM m WHERE time >= 0s AND time < 200s GROUP BY time(100s)",
    );
    let sum: i64 = (1..=100).sum::<i64>() - 50 + 1000;
    assert_eq!(
        v["results"][0]["series"][0]["values"][0],
        serde_json::json!(["1970-01-01T00:00:00Z", 100, sum, 1000]),
        "{v}"
    );
    assert_eq!(
        v["results"][1]["series"][0]["values"],
        serde_json::json!([["1970-01-01T00:00:00Z", 99], ["1970-01-01T00:01:40Z", 1]]),
        "{v}"
    );
}

/// A query that would hold too many points, or run too long, gets a clear
/// error in its statement's result; the server keeps serving.
#[test]
fn query_limits_answer_with_clear_errors() {
    let body: String = (0..500)
        .map(|i| format!("m,host=h{} v={i} {i}\n", i % 7))
        .collect();
    let q = ask_d;

    let server = Server::start(&["--without-auth", "--query-max-points", "100"]);
    let addr = server.addr.to_string();
    write_d(&addr, &body);
    let v = q(&addr, "SELECT v FROM m");
    let error = v["results"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("max-select-point limit exceeded"), "{v}");
    assert!(error.contains("--query-max-points"), "{v}");
    let v = q(&addr, "SELECT v FROM m WHERE time < 50s");
    assert!(
        v["results"][0]["series"].is_array(),
        "a narrower range fits: {v}"
    );

    let server = Server::start(&["--without-auth", "--query-timeout", "0ms"]);
    let addr = server.addr.to_string();
    write_d(&addr, &body);
    for text in ["SELECT v FROM m", "SELECT count(v) FROM m GROUP BY host"] {
        let v = q(&addr, text);
        let error = v["results"][0]["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("query-timeout limit exceeded"),
            "{text}: {v}"
        );
    }
    let v = q(&addr, "SHOW DATABASES");
    assert!(v["results"][0]["series"].is_array(), "{v}");
}

/// Beyond InfluxDB 1.x (influxdb#5668): SHOW TAG VALUES and SHOW SERIES
/// honour a time range, so a dashboard variable lists only live hosts.
#[test]
fn show_tag_values_and_series_honour_time_ranges() {
    let server = Server::start(&["--without-auth"]);
    let addr = server.addr.to_string();
    let body = "cpu,host=old v=1 100\ncpu,host=both v=1 100\ncpu,host=both v=2 200\ncpu,host=new v=2 200\n";
    write_d(&addr, body);
    let q = |text: &str| ask_d(&addr, text);
    let cases = [
        (
            "SHOW TAG VALUES WITH KEY = host WHERE time >= 150s",
            serde_json::json!([["host", "both"], ["host", "new"]]),
        ),
        (
            "SHOW TAG VALUES WITH KEY = host WHERE time < 150s",
            serde_json::json!([["host", "both"], ["host", "old"]]),
        ),
        (
            "SHOW TAG VALUES WITH KEY = host",
            serde_json::json!([["host", "both"], ["host", "new"], ["host", "old"]]),
        ),
        (
            "SHOW SERIES WHERE time >= 150s",
            serde_json::json!([["cpu,host=both"], ["cpu,host=new"]]),
        ),
        (
            "SHOW SERIES FROM cpu WHERE time < 150s AND host != 'both'",
            serde_json::json!([["cpu,host=old"]]),
        ),
    ];
    for (text, want) in cases {
        let v = q(text);
        assert_eq!(v["results"][0]["series"][0]["values"], want, "{text}: {v}");
    }
    // A later write shows up in the next answer (no stale tag index).
    for _ in 0..3 {
        write_d(&addr, "cpu,host=later v=1 300\n");
        let v = q("SHOW TAG VALUES WITH KEY = host");
        let values = v["results"][0]["series"][0]["values"].to_string();
        assert!(values.contains("later"), "{v}");
    }
}
