//! Parquet persistence: files other engines read with the same rows and
//! types, queries over memory and files, and a file gone missing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::harness::{request, Server};

const DAY: i64 = 86_400_000_000_000;

/// Every listed Parquet file of `db`.`table` and the rows they hold.
fn persisted(dir: &Path, db: &str, table: &str) -> (Vec<PathBuf>, usize) {
    let mut files = Vec::new();
    let mut rows = 0;
    for (_, manifest) in hydrant::persist::load_manifests(dir).unwrap_or_default() {
        for f in manifest.files {
            if let Ok(meta) = hydrant::persist::read_meta(dir, &f) {
                if &*meta.db == db && &*meta.table == table {
                    rows += meta.rows;
                    files.push(f);
                }
            }
        }
    }
    (files, rows)
}

/// Waits (up to 20 s) until `rows` rows of `db`.`table` are in Parquet.
fn wait_persisted(dir: &Path, db: &str, table: &str, rows: usize) -> Vec<PathBuf> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (files, n) = persisted(dir, db, table);
        if n >= rows {
            assert_eq!(n, rows, "no row persisted twice");
            return files;
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of {rows} rows persisted"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ask(server: &Server, db: &str, q: &str) -> Value {
    let form = format!("db={db}&epoch=ns&q={}", super::harness::urlencode(q));
    let headers = format!(
        "{}Content-Type: application/x-www-form-urlencoded\r\n",
        server.auth()
    );
    let r = server.send(&request("POST", "/query", &headers, form.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["results"][0].clone()
}

fn body(points: usize) -> String {
    (0..points)
        .map(|i| {
            format!(
                "m,host=h{},dc=d{} f={}.5,i={}i,u={}u,s=\"s{}\",b={} {}\n",
                i % 5,
                i % 2,
                i,
                -(i as i64),
                i,
                i % 7,
                i % 3 == 0,
                1_700_000_000_000_000_000 + (i as i64) * (DAY / 1000)
            )
        })
        .collect()
}

#[test]
fn parquet_files_hold_the_rows_and_pyarrow_reads_them() {
    let python = std::env::var("HYDRANT_TEST_PYTHON")
        .expect("HYDRANT_TEST_PYTHON must name a python with pyarrow (tools/test installs one)");
    let server = Server::start(&["--persist-age", "1s", "--persist-size", "64KiB"]);
    let points = 3000;
    let text = body(points);
    for chunk in text.lines().collect::<Vec<_>>().chunks(500) {
        server.write("load", chunk.join("\n").as_bytes());
    }
    let files = wait_persisted(&server.dir, "load", "m", points);
    assert!(files.len() >= 3, "one file per UTC day at least: {files:?}");
    for f in &files {
        let parts: Vec<String> = f.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        assert_eq!(parts[..2], ["load", "m"], "{f:?}");
        assert!(
            parts[2].len() == 10 && parts[2].starts_with("2023-11-"),
            "{f:?}"
        );
    }

    // What pyarrow reads: types, and every row (sorted by series then time per file).
    let script = r#"
import json, sys, pyarrow.parquet as pq
out = {"types": None, "rows": []}
for path in sys.argv[1:]:
    t = pq.read_table(path)
    out["types"] = {f.name: str(f.type) for f in t.schema}
    t = t.set_column(0, "time", t.column("time").cast("int64"))
    rows = t.to_pylist()
    keys = [(r["dc"], r["host"], r["time"]) for r in rows]
    if keys != sorted(keys):
        sys.exit("not sorted by series then time: " + path)
    out["rows"].extend(rows)
print(json.dumps(out))
"#;
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(files.iter().map(|f| server.dir.join(f)))
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        read["types"],
        json!({
            "time": "timestamp[ns]",
            "host": "dictionary<values=string, indices=int32, ordered=0>",
            "dc": "dictionary<values=string, indices=int32, ordered=0>",
            "f": "double", "i": "int64", "u": "uint64", "s": "string", "b": "bool",
            "_seq": "uint64"
        })
    );
    // The same rows /query gives.
    let mut from_parquet: Vec<Value> = read["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!([r["time"], r["b"], r["dc"], r["f"], r["host"], r["i"], r["s"], r["u"]]))
        .collect();
    from_parquet.sort_by_key(|r| r[0].as_i64());
    let answer = ask(&server, "load", "SELECT * FROM m");
    let series = &answer["series"][0];
    assert_eq!(
        series["columns"],
        json!(["time", "b", "dc", "f", "host", "i", "s", "u"])
    );
    let queried = series["values"].as_array().unwrap();
    assert_eq!(queried.len(), points);
    assert_eq!(&from_parquet, queried);
}

#[test]
fn queries_read_memory_and_files_and_restarts_keep_both() {
    let args = ["--persist-age", "1s"];
    let server = Server::start(&args);
    server.write("load", body(1000).as_bytes());
    wait_persisted(&server.dir, "load", "m", 1000);
    // Newer rows in memory, one of them overwriting a persisted point.
    server.write(
        "load",
        b"m,host=h0,dc=d0 f=-1 1700000000000000000\nm,host=zz,dc=d9 f=7 1800000000000000000",
    );
    let check = |server: &Server| {
        let a = ask(server, "load", "SELECT count(f), sum(f) FROM m");
        let total: f64 = (1..1000).map(|i| i as f64 + 0.5).sum::<f64>() - 1.0 + 7.0;
        assert_eq!(a["series"][0]["values"][0][1], json!(1001), "{a}");
        assert!(
            (a["series"][0]["values"][0][2].as_f64().unwrap() - total).abs() < 1e-6,
            "{a}"
        );
        // A range that meets no file: answered from memory alone.
        let a = ask(
            server,
            "load",
            "SELECT f FROM m WHERE time > 1750000000000000000",
        );
        assert_eq!(
            a["series"][0]["values"],
            json!([[1800000000000000000i64, 7]])
        );
        let a = ask(server, "load", "SHOW TAG VALUES FROM m WITH KEY = host");
        assert_eq!(a["series"][0]["values"].as_array().unwrap().len(), 6, "{a}");
    };
    check(&server);
    let dir = server.crash();
    let server = Server::start_in(dir, &args);
    check(&server);
    let recovery = &server.stats()["recovery"];
    assert!(recovery["files"].as_u64().unwrap() > 0, "{recovery}");
    assert_eq!(recovery["problems"], json!([]), "{recovery}");
}

/// Parquet reads only the fields a statement names (and the tags, time and
/// write order): every answer must be the one the full rows in memory give.
#[test]
fn files_read_for_some_fields_answer_like_memory() {
    let on_disk = Server::start(&["--persist-age", "1s"]);
    let in_memory = Server::start(&[]);
    let points = 2000;
    for server in [&on_disk, &in_memory] {
        server.write("load", body(points).as_bytes());
    }
    wait_persisted(&on_disk.dir, "load", "m", points);
    // Newer rows: some overwrite persisted points' fields, one adds a field.
    let newer = format!(
        "m,host=h0,dc=d0 f=-1,extra=3 {t}\nm,host=h1,dc=d1 i=99i {t1}\n",
        t = 1_700_000_000_000_000_000i64,
        t1 = 1_700_000_000_000_000_000i64 + DAY / 1000
    );
    for server in [&on_disk, &in_memory] {
        server.write("load", newer.as_bytes());
    }
    let queries = [
        "SELECT f FROM m",
        "SELECT host FROM m",
        "SELECT dc, i FROM m WHERE host = 'h1'",
        "SELECT nowhere FROM m",
        "SELECT f, s FROM m WHERE host = 'h1'",
        "SELECT i FROM m WHERE f > 100 AND f < 300",
        "SELECT u, b FROM m WHERE dc = 'd0' LIMIT 7",
        "SELECT extra FROM m",
        "SELECT mean(f), count(i), max(u) FROM m GROUP BY host",
        "SELECT sum(f) FROM m WHERE time >= 1700000000000000000 GROUP BY time(1d), dc",
        "SELECT last(s), first(b) FROM m GROUP BY host",
        "SELECT top(f, host, 2) FROM m",
        "SELECT mean(x) FROM (SELECT f * 2 AS x FROM m) GROUP BY dc",
        "SELECT * FROM m WHERE host = 'h2' LIMIT 5",
        "SELECT /^[fi]$/ FROM m WHERE host = 'h0' LIMIT 5",
        "SELECT count(*) FROM m",
        "SHOW SERIES FROM m WHERE host = 'h3'",
        "SHOW TAG VALUES FROM m WITH KEY = dc WHERE f > 1990",
    ];
    for q in queries {
        let (disk, memory) = (ask(&on_disk, "load", q), ask(&in_memory, "load", q));
        // Tags or unknown names alone select no rows (as in InfluxDB).
        let empty = q.starts_with("SELECT host ") || q.starts_with("SELECT nowhere ");
        assert!(disk.get("error").is_none(), "{q}: {disk}");
        assert_eq!(disk.get("series").is_none(), empty, "{q}: {disk}");
        let short = |v: &Value| v.to_string().chars().take(400).collect::<String>();
        assert!(
            disk == memory,
            "{q}:\n files:  {}\n memory: {}",
            short(&disk),
            short(&memory)
        );
    }
}

#[test]
fn a_missing_parquet_file_is_a_clear_error_and_the_rest_is_served() {
    let args = ["--persist-age", "1s"];
    let server = Server::start(&args);
    server.write("load", body(100).as_bytes());
    server.write("load", b"n x=1 1");
    let files = wait_persisted(&server.dir, "load", "m", 100);
    wait_persisted(&server.dir, "load", "n", 1);
    let mut files: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| f.to_string_lossy().contains("2023-11-14"))
        .collect();
    let gone = files.pop().expect("a file of the first day");
    std::fs::remove_file(server.dir.join(&gone)).unwrap();

    let a = ask(&server, "load", "SELECT count(f) FROM m");
    let error = a["error"].as_str().unwrap_or_default();
    assert!(error.contains(&*gone.to_string_lossy()), "{a}");
    // Other tables, and time ranges the file does not meet, are served.
    assert_eq!(
        ask(&server, "load", "SELECT count(x) FROM n")["series"][0]["values"][0][1],
        json!(1)
    );
    let a = ask(
        &server,
        "load",
        "SELECT count(f) FROM m WHERE time >= '2023-11-15T00:00:00Z'",
    );
    assert!(a["series"][0]["values"][0][1].as_u64().unwrap() > 0, "{a}");

    // A restart reports the file and serves everything else.
    let dir = server.crash();
    let server = Server::start_in(dir, &args);
    let problems = server.stats()["recovery"]["problems"].to_string();
    assert!(problems.contains(&*gone.to_string_lossy()), "{problems}");
    let a = ask(&server, "load", "SELECT count(f) FROM m");
    let left = a["series"][0]["values"][0][1].as_u64().unwrap();
    assert!(left > 0 && left < 100, "{a}");
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

#[test]
fn points_beyond_retention_are_refused_per_line() {
    let server = Server::start(&["--retention", "1h"]);
    let now = now_ns();
    let old = now - 2 * 3_600_000_000_000;
    let r = server.post(
        "/write?db=load",
        format!("m v=1 {old}\nm v=2 {now}\nm v=3 {old}").as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.error(),
        "partial write: points beyond retention policy dropped=2"
    );
    let a = ask(&server, "load", "SELECT v FROM m");
    assert_eq!(a["series"][0]["values"], json!([[now, 2]]));
    // A database with its own setting: forever.
    server.cli(&["db", "retention"], &["keep", "inf"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = server.post("/write?db=keep", format!("m v=1 {old}").as_bytes());
        if r.status == 204 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the setting was not picked up: {}",
            r.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn expired_parquet_files_are_dropped() {
    let args = ["--persist-age", "1s"];
    let server = Server::start(&args);
    let now = now_ns();
    let old = now - 120_000_000_000;
    server.write(
        "load",
        format!("m,h=a v=1 {old}\nm,h=b v=2 {}", old + 1).as_bytes(),
    );
    let old_files = wait_persisted(&server.dir, "load", "m", 2);
    server.write("load", format!("m,h=a v=3 {now}").as_bytes());
    wait_persisted(&server.dir, "load", "m", 3);
    server.cli(&["db", "retention"], &["load", "1m"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while old_files.iter().any(|f| server.dir.join(f).exists()) {
        assert!(Instant::now() < deadline, "expired files are still there");
        std::thread::sleep(Duration::from_millis(100));
    }
    let a = ask(&server, "load", "SELECT v FROM m");
    assert_eq!(a["series"][0]["values"], json!([[now, 3]]));
    let dir = server.crash();
    let server = Server::start_in(dir, &args);
    assert_eq!(server.stats()["recovery"]["problems"], json!([]));
    let a = ask(&server, "load", "SELECT v FROM m");
    assert_eq!(a["series"][0]["values"], json!([[now, 3]]));
}

#[test]
fn writes_past_max_memory_get_503_then_resume() {
    let server = Server::start(&["--max-memory", "1MiB"]);
    let big: String = (0..40_000)
        .map(|i| format!("m,host=h{} a={i},b={i},c={i},d={i} {i}\n", i % 50))
        .collect();
    server.write("load", big.as_bytes());
    let mut saw = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut k = 0;
    while Instant::now() < deadline {
        k += 1;
        let r = server.post("/write?db=load", format!("small v=1 {k}").as_bytes());
        match (r.status, &saw) {
            (503, None) => {
                assert_eq!(r.header("Retry-After"), Some("1"));
                assert!(r.error().contains("--max-memory"), "{}", r.text());
                saw = Some(k);
            }
            (204, Some(_)) => break,
            (204, None) | (503, Some(_)) => {}
            (s, _) => panic!("status {s}: {}", r.text()),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(saw.is_some(), "no write was refused");
    assert!(Instant::now() < deadline, "writes did not resume");
    let a = ask(&server, "load", "SELECT count(a) FROM m");
    assert_eq!(a["series"][0]["values"][0][1], json!(40_000));
}

#[test]
fn influxql_sets_a_databases_retention() {
    let server = Server::start(&[]);
    let show = |server: &Server| {
        ask(server, "rdb", "SHOW RETENTION POLICIES")["series"][0]["values"][0].clone()
    };
    assert_eq!(
        ask(
            &server,
            "",
            "CREATE DATABASE rdb WITH DURATION 7d REPLICATION 1"
        ),
        json!({"statement_id": 0})
    );
    // InfluxDB 1.x's answer for the same statement.
    assert_eq!(
        show(&server),
        json!(["autogen", "168h0m0s", "24h0m0s", 1, true])
    );
    let old = now_ns() - 8 * DAY;
    let r = server.post("/write?db=rdb", format!("m v=1 {old}").as_bytes());
    assert_eq!(
        r.error(),
        "partial write: points beyond retention policy dropped=1"
    );
    ask(
        &server,
        "rdb",
        "ALTER RETENTION POLICY autogen ON rdb DURATION INF DEFAULT",
    );
    assert_eq!(show(&server)[1], json!("0s"));
    server.write("rdb", format!("m v=1 {old}").as_bytes());
    let a = ask(
        &server,
        "",
        "ALTER RETENTION POLICY autogen ON nope DURATION 1h",
    );
    assert_eq!(a["error"], json!("database not found: nope"));
    // Kept across restarts.
    ask(
        &server,
        "rdb",
        "ALTER RETENTION POLICY autogen ON rdb DURATION 400d",
    );
    let dir = server.crash();
    let server = Server::start_in(dir, &[]);
    assert_eq!(
        show(&server),
        json!(["autogen", "9600h0m0s", "168h0m0s", 1, true])
    );
}

#[test]
fn files_no_manifest_lists_are_deleted_or_left_alone() {
    let args = ["--persist-age", "1s"];
    let server = Server::start(&args);
    server.write("load", body(10).as_bytes());
    let files = wait_persisted(&server.dir, "load", "m", 10);
    let listed = server.dir.join(&files[0]);
    let day = listed.parent().unwrap().to_path_buf();
    let core = files[0].file_name().unwrap().to_string_lossy()[..3].to_string();
    // A persist that wrote its file and died before its manifest…
    let leftover = day.join(format!("{core}-09999999999999999999.parquet"));
    // (and a further part of a big one)…
    let leftover_part = day.join(format!("{core}-09999999999999999999-1.parquet"));
    // …and a file hydrant did not write in this run.
    let stranger = day.join(format!("{core}-00000000000000000000.parquet"));
    std::fs::copy(&listed, &leftover).unwrap();
    std::fs::copy(&listed, &leftover_part).unwrap();
    std::fs::copy(&listed, &stranger).unwrap();
    let dir = server.crash();
    let server = Server::start_in(dir, &args);
    let problems = server.stats()["recovery"]["problems"].to_string();
    assert!(
        problems.contains("leftover of an interrupted persist") && problems.contains("deleted"),
        "{problems}"
    );
    assert!(
        problems.contains("in no manifest: left in place"),
        "{problems}"
    );
    assert!(!leftover.exists() && !leftover_part.exists() && stranger.exists());
    let a = ask(&server, "load", "SELECT count(f) FROM m");
    assert_eq!(a["series"][0]["values"][0][1], json!(10), "{a}");
}
