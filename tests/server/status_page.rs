//! The status page at `/`: its data endpoint's permissions, and the page
//! itself in headless Chromium (tests/browser/status_page.js), whose shown
//! figures and screenshot (read back by OCR) must match /metrics.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::harness::{gzip, metric, request, scrape, stdout_of, Server};

/// "1,234" → 1234.
fn count(text: &str) -> f64 {
    text.replace(',', "")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a count: {text:?}"))
}

/// "0.512 ms" → 0.000512, "1.23 s" → 1.23 (seconds).
fn seconds(text: &str) -> f64 {
    let (number, scale) = match text.strip_suffix(" ms") {
        Some(n) => (n, 1e-3),
        None => (
            text.strip_suffix(" s")
                .unwrap_or_else(|| panic!("not a latency: {text:?}")),
            1.0,
        ),
    };
    number.parse::<f64>().unwrap() * scale
}

/// Writes the page's dataset: good lines on both databases, bad lines, a
/// corrupt gzip body and a bad precision on `app`, a bad line on `other`.
fn write_dataset(s: &Server) {
    for i in 0..4 {
        let body: String = (0..250)
            .map(|k| {
                format!(
                    "cpu,host=h{} usage={}.5 {}\n",
                    k % 5,
                    k,
                    1_700_000_000 + i * 1000 + k
                )
            })
            .collect();
        let r = s.post("/write?db=app&precision=s", body.as_bytes());
        assert_eq!(r.status, 204, "{}", r.text());
    }
    s.write("other", b"mem,host=a used=1i\nmem,host=b used=2i\n");
    let r = s.post(
        "/write?db=app",
        b"cpu,host=h1 usage=1\ncpu,host=h1 usage=oops\ncpu,host=h2 usage=2i\n",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let mut corrupt = gzip(b"cpu usage=1\n");
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    let r = s.post_gzipped("/write?db=app", &corrupt);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s.post("/write?db=app&precision=x", b"cpu usage=1\n");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s.post("/write?db=other", b"mem,host=c used=\n");
    assert_eq!(r.status, 400, "{}", r.text());
}

fn status(s: &Server, token: &str) -> (u16, Value) {
    let r = s.send(&request(
        "GET",
        "/status",
        &format!("Authorization: Token {token}\r\n"),
        b"",
    ));
    let json = if r.status == 200 {
        r.json()
    } else {
        Value::Null
    };
    (r.status, json)
}

#[test]
fn status_data_needs_a_token_and_shows_only_what_it_may_see() {
    let s = Server::start(&["--cores", "2"]);
    let page = s.send(&request("GET", "/", "", b""));
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text().contains("<title>hydrant status</title>"));
    assert_eq!(s.send(&request("GET", "/status", "", b"")).status, 401);
    assert_eq!(status(&s, "wrong").0, 401);
    assert_eq!(s.post("/", b"").status, 405);

    write_dataset(&s);
    let app_reader = s.cli(&["token", "create"], &["--db", "app", "--read"]);
    // Tokens are reloaded once a second.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while status(&s, &app_reader).0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the new token was never taken"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let (code, all) = status(&s, &s.token);
    assert_eq!(code, 200);
    let dbs: Vec<&str> = all["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(dbs, ["app", "other"], "{all}");
    // 1000 + 2 + the good first line of the body with bad ones.
    assert_eq!(all["totals"]["lines_accepted"], 1003, "{all}");
    assert_eq!(all["totals"]["lines_rejected"], 3, "{all}");
    let app = &all["databases"][0]["tables"][0];
    assert_eq!(
        (app["name"].as_str(), app["rows"].as_u64()),
        (Some("cpu"), Some(1001))
    );
    // Newest first: other's bad line, the bad precision, the corrupt body,
    // then app's two lines in body order.
    let errors = all["recent_errors"].as_array().unwrap();
    let summary = |errors: &[Value]| -> Vec<(String, u64, String)> {
        errors
            .iter()
            .map(|e| {
                (
                    e["db"].as_str().unwrap().to_owned(),
                    e["line"].as_u64().unwrap(),
                    e["text"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let app_errors: Vec<(String, u64, String)> = vec![
        ("app".into(), 0, String::new()),
        ("app".into(), 0, String::new()),
        ("app".into(), 2, "cpu,host=h1 usage=oops".into()),
        ("app".into(), 3, "cpu,host=h2 usage=2i".into()),
    ];
    let mut want = vec![("other".to_owned(), 1, "mem,host=c used=".to_owned())];
    want.extend(app_errors.iter().cloned());
    assert_eq!(summary(errors), want, "{all}");
    let reason = |k: usize| errors[k]["reason"].as_str().unwrap().to_owned();
    assert!(reason(1).contains("invalid precision"), "{all}");
    assert!(reason(2).contains("gzip"), "{all}");
    assert!(reason(4).contains("field type conflict"), "{all}");

    let (code, scoped) = status(&s, &app_reader);
    assert_eq!(code, 200);
    assert_eq!(scoped["databases"].as_array().unwrap().len(), 1, "{scoped}");
    assert_eq!(scoped["databases"][0]["name"], "app");
    let scoped_errors = scoped["recent_errors"].as_array().unwrap();
    assert_eq!(summary(scoped_errors), app_errors, "{scoped}");
}

/// Runs tests/browser/status_page.js; returns what it printed.
fn drive_page(s: &Server, out: &std::path::Path) -> Value {
    let modules = std::env::var("HYDRANT_TEST_NODE_PATH").expect(
        "HYDRANT_TEST_NODE_PATH must name a node_modules with playwright-core (tools/test installs it)",
    );
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/status_page.js");
    let mut node = Command::new("node");
    node.env("NODE_PATH", modules)
        .arg(script)
        .arg(s.addr.ip().to_string())
        .arg(s.addr.port().to_string())
        .arg(&s.token)
        .arg(out);
    serde_json::from_slice(&stdout_of(node, "status_page.js")).expect("status_page.js prints JSON")
}

/// Text tesseract reads in a PNG.
fn ocr(png: &std::path::Path) -> String {
    let mut tesseract = Command::new("tesseract");
    tesseract.arg(png).arg("stdout");
    let text = stdout_of(tesseract, "tesseract (tools/test installs tesseract-ocr)");
    String::from_utf8_lossy(&text).into_owned()
}

#[test]
fn status_page_in_chromium_shows_what_metrics_says() {
    let s = Server::start(&["--cores", "2"]);
    write_dataset(&s);
    // The shard gauges refresh a few times a second.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let m: BTreeMap<String, f64> = loop {
        let m = scrape(&s);
        if metric(&m, "hydrant_shard_rows{core=\"all\"}") == 1003.0 {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "shard rows never reached 1003"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let dir = tempdir();
    let out = dir.join("status");
    let v = drive_page(&s, &out);

    assert_eq!(v["problems"], serde_json::json!([]), "{v}");
    assert!(v["askedFor"].as_str().unwrap().contains("token"), "{v}");
    assert!(v["refused"].as_str().unwrap().contains("refused"), "{v}");
    assert_eq!(v["loginHidden"], true, "{v}");
    let shown = &v["shown"];
    let text = |x: &Value| x.as_str().unwrap_or_else(|| panic!("{x}")).to_owned();

    assert_eq!(text(&shown["version"]), env!("CARGO_PKG_VERSION"));
    assert_eq!(
        count(&text(&shown["total_accepted"])),
        metric(&m, "hydrant_lines_accepted_total{core=\"all\"}")
    );
    assert_eq!(
        count(&text(&shown["total_rejected"])),
        metric(&m, "hydrant_lines_rejected_total{core=\"all\"}")
    );
    assert_eq!(
        count(&text(&shown["total_memory"])),
        metric(&m, "hydrant_shard_rows{core=\"all\"}")
    );
    let close = |shown: f64, want: f64| (shown - want).abs() <= want * 0.006 + 1e-9;
    let p99 = metric(
        &m,
        "hydrant_request_latency_seconds{core=\"all\",kind=\"write\",quantile=\"0.99\"}",
    );
    assert!(
        close(seconds(&text(&shown["total_p99"])), p99),
        "{shown} vs {p99}"
    );

    let cores = shown["cores"].as_array().unwrap();
    assert_eq!(cores.len(), 2, "{shown}");
    for c in cores {
        let core = c["core"].as_u64().unwrap();
        let key = |name: &str| format!("{name}{{core=\"{core}\"}}");
        assert_eq!(
            count(&text(&c["lines_accepted"])),
            metric(&m, &key("hydrant_lines_accepted_total")),
            "core {core}"
        );
        assert_eq!(
            count(&text(&c["lines_rejected"])),
            metric(&m, &key("hydrant_lines_rejected_total")),
            "core {core}"
        );
        assert_eq!(
            count(&text(&c["memory_rows"])),
            metric(&m, &key("hydrant_shard_rows")),
            "core {core}"
        );
        let writes: f64 = m
            .iter()
            .filter(|(k, _)| {
                k.starts_with(&format!(
                    "hydrant_http_requests_total{{core=\"{core}\",endpoint=\"write\""
                ))
            })
            .map(|(_, v)| v)
            .sum();
        assert_eq!(count(&text(&c["write_requests"])), writes, "core {core}");
        for (cell, q) in [("p50", "0.5"), ("p99", "0.99"), ("max", "1")] {
            let want = metric(
                &m,
                &format!("hydrant_request_latency_seconds{{core=\"{core}\",kind=\"write\",quantile=\"{q}\"}}"),
            );
            let shown = text(&c[cell]);
            if want.is_nan() {
                assert_eq!(shown, "–", "core {core} {cell}");
            } else {
                assert!(
                    close(seconds(&shown), want),
                    "core {core} {cell}: {shown} vs {want}"
                );
            }
        }
    }

    let tables: Vec<(String, String, f64)> = shown["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (text(&t["db"]), text(&t["table"]), count(&text(&t["rows"]))))
        .collect();
    assert_eq!(
        tables,
        [
            ("app".into(), "cpu".into(), 1001.0),
            ("other".into(), "mem".into(), 2.0)
        ]
    );
    let errors = shown["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 5, "{shown}");
    assert_eq!(errors[3][1], "app");
    assert_eq!(errors[3][2], "2");
    assert_eq!(errors[3][4], "cpu,host=h1 usage=oops");
    assert_eq!(errors[2][2], "whole body");

    // The screenshot: the headline figures, as OCR reads them off the pixels.
    let full = std::fs::read(out.with_extension("png")).unwrap();
    assert!(
        full.starts_with(b"\x89PNG") && full.len() > 20_000,
        "a real screenshot"
    );
    let read = ocr(&dir.join("status-overview.png"));
    let words: Vec<&str> = read.split_whitespace().collect();
    for (name, figure) in [
        ("accepted", &shown["total_accepted"]),
        ("rejected", &shown["total_rejected"]),
    ] {
        let figure = text(figure);
        assert!(
            words.contains(&figure.as_str()),
            "OCR of the screenshot should show {name} = {figure}:\n{read}"
        );
    }
}

/// A fresh directory under the system's temp dir, for the screenshots.
fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hydrant-status-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
