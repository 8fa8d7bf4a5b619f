//! The operators' kit against a live server: hydrant-load's counts against
//! /metrics, /metrics read by Prometheus' own parser, --store modes, logs.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::harness::{metric, request, scrape, stdout_of, Server};

/// Runs hydrant-load against `server` with `args`; returns its --json summary.
fn load(server: &Server, args: &[&str]) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hydrant-load"));
    command
        .arg("--url")
        .arg(format!("http://{}", server.addr))
        .args(["--token", &server.token, "--json", "--quiet"])
        .args(args);
    serde_json::from_slice(&stdout_of(command, "hydrant-load")).expect("hydrant-load --json")
}

#[test]
fn hydrant_load_counts_match_what_metrics_says_was_accepted() {
    let server = Server::start(&[]);
    let v1 = load(
        &server,
        &[
            "--requests",
            "40",
            "-c",
            "4",
            "-b",
            "250",
            "--series",
            "37",
            "--fields",
            "5",
        ],
    );
    let v2 = load(
        &server,
        &[
            "--api",
            "v2",
            "--gzip",
            "--requests",
            "30",
            "-c",
            "3",
            "-b",
            "100",
            "--series",
            "11",
            "--precision",
            "ms",
            "--spacing",
            "1s",
        ],
    );
    assert_eq!(v1["status"], serde_json::json!({"204": 40}), "{v1}");
    assert_eq!(v2["status"], serde_json::json!({"204": 30}), "{v2}");
    assert_eq!(v1["lines_ok"], 10_000);
    assert_eq!(v2["lines_ok"], 3_000);
    assert!(v2["bytes_sent"].as_u64() < v2["bytes_uncompressed"].as_u64());
    for key in ["p50", "p90", "p99", "p99.9", "max"] {
        assert!(v1["latency_ms"][key].as_f64().unwrap() > 0.0, "{v1}");
    }

    let m = scrape(&server);
    assert_eq!(
        metric(&m, "hydrant_lines_accepted_total{core=\"all\"}"),
        13_000.0
    );
    assert_eq!(
        metric(&m, "hydrant_lines_rejected_total{core=\"all\"}"),
        0.0
    );
    assert_eq!(
        metric(
            &m,
            "hydrant_http_requests_total{core=\"all\",endpoint=\"write\",status=\"204\"}"
        ),
        40.0
    );
    assert_eq!(
        metric(
            &m,
            "hydrant_http_requests_total{core=\"all\",endpoint=\"api_v2_write\",status=\"204\"}"
        ),
        30.0
    );
    assert_eq!(
        metric(
            &m,
            "hydrant_request_duration_seconds_count{core=\"all\",kind=\"write\"}"
        ),
        70.0
    );
    assert_eq!(
        metric(&m, "hydrant_write_body_bytes_total{core=\"all\"}"),
        (v1["bytes_sent"].as_u64().unwrap() + v2["bytes_sent"].as_u64().unwrap()) as f64
    );
    assert_eq!(
        metric(&m, "hydrant_write_decoded_bytes_total{core=\"all\"}"),
        (v1["bytes_uncompressed"].as_u64().unwrap() + v2["bytes_uncompressed"].as_u64().unwrap())
            as f64
    );
    // Every generated line is a distinct point: the server holds them all.
    assert_eq!(server.stats()["rows"], 13_000);
    // Durable writes went through the WAL (one entry per write request).
    assert_eq!(metric(&m, "hydrant_wal_entries_total{core=\"all\"}"), 70.0);
    // Per-core figures add up to the node's.
    let per_core: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("hydrant_lines_accepted_total{") && !k.contains("\"all\""))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(per_core, 13_000.0);
}

#[test]
fn hydrant_load_prepared_gzip_bodies_report_their_size_before_compression() {
    let server = Server::start(&[]);
    let run = load(
        &server,
        &[
            "--gzip",
            "--pool",
            "2",
            "--requests",
            "6",
            "-c",
            "2",
            "-b",
            "50",
            "--series",
            "5",
        ],
    );
    assert_eq!(run["status"], serde_json::json!({"204": 6}), "{run}");
    let (sent, raw) = (
        run["bytes_sent"].as_u64().unwrap(),
        run["bytes_uncompressed"].as_u64().unwrap(),
    );
    assert!(sent < raw, "{run}");
    let m = scrape(&server);
    assert_eq!(
        metric(&m, "hydrant_write_body_bytes_total{core=\"all\"}"),
        sent as f64
    );
    assert_eq!(
        metric(&m, "hydrant_write_decoded_bytes_total{core=\"all\"}"),
        raw as f64
    );
}

#[test]
fn wal_pending_bytes_show_what_is_not_yet_durable() {
    const PENDING: &str = "hydrant_wal_pending_bytes{core=\"all\"}";
    // Under `always` a write is answered after its flush: nothing is left.
    let server = Server::start(&[]);
    server.write("db", b"m v=1 1\n");
    assert_eq!(metric(&scrape(&server), PENDING), 0.0);
    drop(server);
    // Under `none` the entry waits for the periodic flush (every second);
    // a few tries, in case one write lands just before that flush.
    let server = Server::start(&["--wal-sync", "none"]);
    let seen = (0..5).any(|i| {
        server.write("db", format!("m v={i} {i}\n").as_bytes());
        metric(&scrape(&server), PENDING) > 0.0
    });
    assert!(
        seen,
        "no pending WAL bytes after writes under --wal-sync none"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while metric(&scrape(&server), PENDING) > 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the periodic flush did not write the pending bytes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn metrics_read_by_prometheus_client_parser() {
    let python = std::env::var("HYDRANT_TEST_PYTHON").expect(
        "HYDRANT_TEST_PYTHON must name a python with prometheus_client (tools/test installs one)",
    );
    let server = Server::start(&[]);
    server.write("db", b"m,t=a v=1 1\nm,t=b v=2 2\n");
    let bad = server.post("/write?db=db", b"m v=\"x\" 3\nm v=3 4\nnot a line\n");
    assert_eq!(bad.status, 400, "{}", bad.text());
    let q = server.send(&request(
        "GET",
        "/query?db=db&q=SELECT%20count(v)%20FROM%20m",
        &server.auth(),
        b"",
    ));
    assert_eq!(q.status, 200);
    let text = server.send(&request("GET", "/metrics", "", b"")).text();

    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(sys.stdin.read()):
    # JSON has no NaN (an empty summary's quantiles): send it as a string.
    out[f.name] = {"type": f.type, "samples": [
        [s.name, s.labels, s.value if s.value == s.value else "NaN"] for s in f.samples]}
print(json.dumps(out))
"#;
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client rejected /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let families: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sample = |family: &str, name: &str, labels: Value| -> f64 {
        families[family]["samples"]
            .as_array()
            .unwrap_or_else(|| panic!("no family {family}"))
            .iter()
            .find(|s| s[0] == name && s[1] == labels)
            .unwrap_or_else(|| panic!("no {name} {labels} in {}", families[family]))[2]
            .as_f64()
            .unwrap()
    };
    // Family names and types as Prometheus understands them (counters lose _total).
    let types = [
        ("hydrant_http_requests", "counter"),
        ("hydrant_lines_accepted", "counter"),
        ("hydrant_lines_rejected", "counter"),
        ("hydrant_write_body_bytes", "counter"),
        ("hydrant_wal_flushes", "counter"),
        ("hydrant_wal_bytes", "counter"),
        ("hydrant_wal_pending_bytes", "gauge"),
        ("hydrant_persisted_files", "counter"),
        ("hydrant_shard_rows", "gauge"),
        ("hydrant_shard_bytes", "gauge"),
        ("hydrant_connections_open", "gauge"),
        ("hydrant_request_duration_seconds", "histogram"),
        ("hydrant_request_latency_seconds", "summary"),
        ("process_cpu_seconds", "counter"),
        ("process_resident_memory_bytes", "gauge"),
    ];
    for (name, kind) in types {
        assert_eq!(families[name]["type"], kind, "{name}: {}", families[name]);
    }
    let all = |extra: &[(&str, &str)]| {
        let mut m = serde_json::Map::new();
        m.insert("core".into(), "all".into());
        for (k, v) in extra {
            m.insert((*k).into(), (*v).into());
        }
        Value::Object(m)
    };
    assert_eq!(
        sample(
            "hydrant_lines_accepted",
            "hydrant_lines_accepted_total",
            all(&[])
        ),
        3.0
    );
    assert_eq!(
        sample(
            "hydrant_lines_rejected",
            "hydrant_lines_rejected_total",
            all(&[])
        ),
        2.0
    );
    for (status, n) in [("204", 1.0), ("400", 1.0)] {
        let labels = all(&[("endpoint", "write"), ("status", status)]);
        assert_eq!(
            sample(
                "hydrant_http_requests",
                "hydrant_http_requests_total",
                labels
            ),
            n
        );
    }
    let labels = all(&[("endpoint", "query"), ("status", "200")]);
    assert_eq!(
        sample(
            "hydrant_http_requests",
            "hydrant_http_requests_total",
            labels
        ),
        1.0
    );
    // Histogram buckets are cumulative and end at the count.
    let buckets: Vec<f64> = families["hydrant_request_duration_seconds"]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            s[0] == "hydrant_request_duration_seconds_bucket"
                && s[1]["core"] == "all"
                && s[1]["kind"] == "write"
        })
        .map(|s| s[2].as_f64().unwrap())
        .collect();
    assert!(buckets.len() > 5);
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(*buckets.last().unwrap(), 2.0);
    let count = sample(
        "hydrant_request_duration_seconds",
        "hydrant_request_duration_seconds_count",
        all(&[("kind", "write")]),
    );
    assert_eq!(count, 2.0);
    let p99 = sample(
        "hydrant_request_latency_seconds",
        "hydrant_request_latency_seconds",
        all(&[("kind", "write"), ("quantile", "0.99")]),
    );
    assert!(p99 > 0.0 && p99 < 30.0, "{p99}");
    assert_eq!(
        sample(
            "hydrant_request_latency_seconds",
            "hydrant_request_latency_seconds_count",
            all(&[("kind", "query")])
        ),
        1.0
    );
}

#[test]
fn metrics_need_a_token_only_with_metrics_auth() {
    let open = Server::start(&[]);
    assert_eq!(open.send(&request("GET", "/metrics", "", b"")).status, 200);
    let closed = Server::start(&["--metrics-auth"]);
    let r = closed.send(&request("GET", "/metrics", "", b""));
    assert_eq!(r.status, 401, "{}", r.text());
    let r = closed.send(&request("GET", "/metrics", &closed.auth(), b""));
    assert_eq!(r.status, 200);
    let r = closed.send(&request("POST", "/metrics", "", b""));
    assert_eq!(r.status, 405);
}

/// Same requests to a default server and to `--store <mode>`: same answers.
#[test]
fn store_modes_answer_exactly_as_disk_does() {
    let disk = Server::start(&[]);
    let none = Server::start(&["--store", "none"]);
    let memory = Server::start(&["--store", "memory"]);
    let bodies: [&[u8]; 4] = [
        b"m,t=a v=1 1\nm,t=b v=2 2\n",
        b"m v=\"str\" 3\nm v=4 4\nbroken\nn x=1i 5\n",
        b"m v=1i 6\n",
        b"",
    ];
    for body in bodies {
        let answers: Vec<(u16, String)> = [&disk, &none, &memory]
            .iter()
            .map(|s| {
                let r = s.post("/write?db=db", body);
                (r.status, r.text())
            })
            .collect();
        assert_eq!(answers[0], answers[1], "--store none differs");
        assert_eq!(answers[0], answers[2], "--store memory differs");
    }
    let gz = super::harness::gzip(b"m,t=c v=9 9\n");
    for s in [&disk, &none, &memory] {
        let r = s.post_gzipped("/write?db=db", &gz);
        assert_eq!(r.status, 204, "{}", r.text());
    }
    assert_eq!(disk.stats()["rows"], 5);
    assert_eq!(memory.stats()["rows"], 5);
    assert_eq!(none.stats()["rows"], 0, "--store none keeps nothing");
    let counted = |s: &Server| {
        let m = scrape(s);
        (
            metric(&m, "hydrant_lines_accepted_total{core=\"all\"}"),
            metric(&m, "hydrant_lines_rejected_total{core=\"all\"}"),
            metric(&m, "hydrant_wal_entries_total{core=\"all\"}"),
        )
    };
    assert_eq!(counted(&disk), (5.0, 3.0, 3.0));
    assert_eq!(counted(&none), (5.0, 3.0, 0.0));
    assert_eq!(counted(&memory), (5.0, 3.0, 0.0));
    // Memory mode: nothing to recover after a restart.
    let dir = memory.stop();
    let again = Server::start_in(dir, &["--store", "memory"]);
    assert_eq!(again.stats()["rows"], 0);
}

#[test]
fn logs_are_one_logfmt_line_per_event_with_a_throughput_summary() {
    let server = Server::start(&["--log-summary", "300ms"]);
    server.write("db", b"m v=1 1\n");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !server.log().contains("throughput") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = server.log();
    assert!(log.contains("msg=\"listening on http://"), "{log}");
    let summary = log
        .lines()
        .find(|l| l.contains("throughput"))
        .unwrap_or_else(|| panic!("no summary: {log}"));
    assert!(summary.contains(" lines_per_s="), "{summary}");
    assert!(summary.contains(" requests_per_s="), "{summary}");
    for line in log.lines() {
        assert!(
            line.starts_with("ts=") && line.contains(" level=") && line.contains(" msg="),
            "not one logfmt line: {line:?}"
        );
    }

    let quiet = Server::start(&["--log-level", "warn", "--log-summary", "200ms"]);
    quiet.write("db", b"m v=1 1\n");
    std::thread::sleep(Duration::from_millis(600));
    assert!(!quiet.log().contains("level=info"), "{}", quiet.log());
}

/// A second server on a data directory in use refuses to start (it would
/// take the first one's fresh Parquet files for leftovers), and says who
/// holds it; once the first has stopped, the directory is free again.
#[test]
fn a_data_directory_serves_one_server_at_a_time() {
    let first = Server::start(&[]);
    first.write("db", b"m f=1 1");
    let second = Command::new(env!("CARGO_BIN_EXE_hydrant"))
        .args(["serve", "--bind", "127.0.0.1:0", "--admin-token", "other"])
        .arg("--data-dir")
        .arg(&first.dir)
        .output()
        .expect("run hydrant");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success(),
        "a second server started: {stderr}"
    );
    assert!(
        stderr.contains("is in use by another hydrant")
            && stderr.contains(&format!("(pid {})", first.pid())),
        "{stderr}"
    );
    // The first one is untouched.
    assert_eq!(first.rows("db", "m").len(), 1);
    let dir = first.stop();
    let again = Server::start_in(dir, &[]);
    assert_eq!(again.rows("db", "m").len(), 1);
}
