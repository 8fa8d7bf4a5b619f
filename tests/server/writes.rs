//! Writes: parameters, auth, encodings, partial writes, schema rules across cores.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::harness::{basic, gzip, request, Server};

fn field(row: &serde_json::Value, name: &str) -> serde_json::Value {
    row["fields"][name].clone()
}

#[test]
fn every_auth_scheme_on_every_write_endpoint() {
    let s = Server::start(&[]);
    let t = s.token.clone();
    let body = b"auth v=1 1";
    // (name, path, extra headers, expected status)
    let table: Vec<(&str, String, String, u16)> = vec![
        (
            "v1 Token",
            "/write?db=a".into(),
            format!("Authorization: Token {t}\r\n"),
            204,
        ),
        (
            "v1 Bearer",
            "/write?db=a".into(),
            format!("Authorization: Bearer {t}\r\n"),
            204,
        ),
        (
            "v1 Token user:pass",
            "/write?db=a".into(),
            format!("Authorization: Token someone:{t}\r\n"),
            204,
        ),
        (
            "v1 Basic",
            "/write?db=a".into(),
            format!("Authorization: Basic {}\r\n", basic("anyone", &t)),
            204,
        ),
        (
            "v1 query u/p",
            format!("/write?db=a&u=anyone&p={t}"),
            String::new(),
            204,
        ),
        (
            "v1 no credentials",
            "/write?db=a".into(),
            String::new(),
            401,
        ),
        (
            "v1 wrong token",
            "/write?db=a".into(),
            "Authorization: Token nope\r\n".into(),
            401,
        ),
        (
            "v1 wrong password",
            "/write?db=a&u=x&p=nope".into(),
            String::new(),
            401,
        ),
        (
            "v1 unknown scheme",
            "/write?db=a".into(),
            "Authorization: Digest abc\r\n".into(),
            401,
        ),
        (
            "v2 Token",
            "/api/v2/write?bucket=a".into(),
            format!("Authorization: Token {t}\r\n"),
            204,
        ),
        (
            "v2 Bearer",
            "/api/v2/write?bucket=a".into(),
            format!("Authorization: Bearer {t}\r\n"),
            204,
        ),
        (
            "v2 Basic is not a v2 scheme",
            "/api/v2/write?bucket=a".into(),
            format!("Authorization: Basic {}\r\n", basic("x", &t)),
            401,
        ),
        (
            "v2 no credentials",
            "/api/v2/write?bucket=a".into(),
            String::new(),
            401,
        ),
    ];
    for (name, path, headers, status) in table {
        let r = s.send(&request("POST", &path, &headers, body));
        assert_eq!(r.status, status, "{name}: {}", r.text());
        if status == 401 {
            assert!(
                r.header("WWW-Authenticate").unwrap().contains("hydrant"),
                "{name}"
            );
            let json = r.json();
            if path.starts_with("/api/v2") {
                assert_eq!(json["code"], "unauthorized", "{name}");
                assert!(
                    json.get("error").is_none(),
                    "{name}: v2 errors have code/message only"
                );
            } else {
                assert!(json["error"].is_string(), "{name}");
            }
        }
    }
}

#[test]
fn scoped_tokens_and_live_token_creation() {
    let s = Server::start(&[]);
    let create = |args: &[&str]| s.cli(&["token", "create"], args);
    let writer = create(&["--db", "scoped", "--write"]);
    let reader = create(&["--db", "scoped", "--read"]);
    let write = |token: &str, db: &str| {
        s.send(&request(
            "POST",
            &format!("/write?db={db}"),
            &format!("Authorization: Token {token}\r\n"),
            b"m v=1",
        ))
        .status
    };
    // The running server picks the new tokens up by itself.
    let deadline = Instant::now() + Duration::from_secs(10);
    while write(&writer, "scoped") != 204 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(write(&writer, "scoped"), 204);
    assert_eq!(write(&writer, "other"), 403);
    assert_eq!(write(&reader, "scoped"), 403);
    let stored = std::fs::read_to_string(s.dir.join("tokens.json")).unwrap();
    assert!(
        !stored.contains(&writer) && !stored.contains(&s.token),
        "only hashes are stored"
    );
    use std::os::unix::fs::PermissionsExt;
    for file in ["tokens.json", "admin-token"] {
        let mode = std::fs::metadata(s.dir.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
}

#[test]
fn admin_token_flag_and_without_auth() {
    let s = Server::start(&["--admin-token", "my-secret"]);
    let r = s.send(&request(
        "POST",
        "/write?db=a",
        "Authorization: Token my-secret\r\n",
        b"m v=1",
    ));
    assert_eq!(r.status, 204);
    assert!(
        !s.dir.join("admin-token").exists(),
        "no generated token when one is given"
    );
    let open = Server::start(&["--without-auth"]);
    assert_eq!(
        open.send(&request("POST", "/write?db=a", "", b"m v=1"))
            .status,
        204
    );
}

#[test]
fn parameters_and_their_errors() {
    let s = Server::start(&[]);
    let table: Vec<(&str, &str, u16, &str)> = vec![
        ("missing db", "/write", 400, "database is required"),
        ("empty db", "/write?db=", 400, "database is required"),
        (
            "bad precision",
            "/write?db=p&precision=x",
            400,
            "invalid precision \"x\" (use n, u, ms, s, m or h)",
        ),
        (
            "long db name",
            "/write?db=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            400,
            "namespace name length must be between 1 and 64 characters",
        ),
        (
            "consistency ignored",
            "/write?db=p&consistency=all",
            204,
            "",
        ),
    ];
    for (name, path, status, message) in table {
        let r = s.post(path, b"m v=1");
        assert_eq!(r.status, status, "{name}: {}", r.text());
        if status != 204 {
            assert!(r.error().contains(message), "{name}: {}", r.error());
        }
    }
    let r = s.post("/api/v2/write", b"m v=1");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"code": "invalid", "message": "bucket is required"})
    );
}

#[test]
fn retention_policy_names_the_database() {
    let s = Server::start(&[]);
    assert_eq!(
        s.post("/write?db=r&rp=autogen&precision=s", b"m v=1 1")
            .status,
        204
    );
    assert_eq!(
        s.post("/write?db=r&rp=&precision=s", b"m v=2 2").status,
        204
    );
    assert_eq!(
        s.post("/write?db=r&rp=weekly&precision=s", b"m v=3 3")
            .status,
        204
    );
    assert_eq!(
        s.post("/api/v2/write?bucket=r/weekly&precision=s", b"m v=4 4")
            .status,
        204
    );
    assert_eq!(s.rows("r", "m").len(), 2);
    assert_eq!(s.rows("r/weekly", "m").len(), 2);
}

#[test]
fn precisions_scale_timestamps() {
    let s = Server::start(&[]);
    let table = [
        ("n", "1700000000000000000", 1_700_000_000_000_000_000i64),
        ("ns", "1700000000000000001", 1_700_000_000_000_000_001),
        ("u", "1700000000000002", 1_700_000_000_000_002_000),
        ("us", "1700000000000003", 1_700_000_000_000_003_000),
        ("ms", "1700000000004", 1_700_000_000_004_000_000),
        ("s", "1700000005", 1_700_000_005_000_000_000),
        ("m", "28333334", 1_700_000_040_000_000_000),
        ("h", "472223", 1_700_002_800_000_000_000),
        // No precision: guessed from the magnitude (InfluxDB 3's rule).
        ("", "1700000006", 1_700_000_006_000_000_000),
        ("", "1700000007000", 1_700_000_007_000_000_000),
    ];
    for (k, (precision, ts, _)) in table.iter().enumerate() {
        let path = format!("/write?db=prec&precision={precision}");
        let r = s.post(&path, format!("m,case={k} v=1 {ts}").as_bytes());
        assert_eq!(r.status, 204, "{precision}: {}", r.text());
    }
    let rows = s.rows("prec", "m");
    for (k, (precision, _, ns)) in table.iter().enumerate() {
        let case = k.to_string();
        let row = rows
            .iter()
            .find(|r| r["tags"]["case"] == case.as_str())
            .unwrap();
        assert_eq!(row["time"], *ns, "precision {precision:?}");
    }
}

#[test]
fn missing_timestamps_use_arrival_time_truncated_to_precision() {
    let s = Server::start(&[]);
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    assert_eq!(
        s.post("/write?db=now&precision=s", b"m,k=a v=1\nm,k=b v=2")
            .status,
        204
    );
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let rows = s.rows("now", "m");
    assert_eq!(rows.len(), 2);
    let t = rows[0]["time"].as_i64().unwrap();
    assert_eq!(
        rows[1]["time"].as_i64().unwrap(),
        t,
        "one time for the whole request"
    );
    assert_eq!(t % 1_000_000_000, 0);
    assert!(t >= before - 1_000_000_000 && t <= after);
}

#[test]
fn gzip_bodies_single_and_multi_member() {
    let s = Server::start(&[]);
    let body = (0..500)
        .map(|i| format!("gz,host=h{} v={i} {i}\n", i % 7))
        .collect::<String>();
    let r = s.post_gzipped("/write?db=gz&precision=s", &gzip(body.as_bytes()));
    assert_eq!(r.status, 204, "{}", r.text());
    let mut two = gzip(b"multi v=1 1\n");
    two.extend(gzip(b"multi v=2 2\n"));
    assert_eq!(
        s.post_gzipped("/api/v2/write?bucket=gz&precision=s", &two)
            .status,
        204
    );
    let identity = format!("{}Content-Encoding: identity\r\n", s.auth());
    assert_eq!(
        s.send(&request(
            "POST",
            "/write?db=gz&precision=s",
            &identity,
            b"plain v=1 1"
        ))
        .status,
        204
    );
    assert_eq!(s.rows("gz", "gz").len(), 500);
    assert_eq!(s.rows("gz", "multi").len(), 2);
    assert_eq!(s.rows("gz", "plain").len(), 1);
}

#[test]
fn partial_writes_name_each_rejected_line() {
    let s = Server::start(&[]);
    assert_eq!(s.post("/write?db=pw&precision=s", b"m v=1 1").status, 204);
    let r = s.post(
        "/write?db=pw&precision=s",
        b"m v=2 2\nbad line\nm v=3i 3\nm v=4 4",
    );
    assert_eq!(r.status, 400);
    let body = r.json();
    let error = body["error"].as_str().unwrap();
    assert!(error.starts_with("partial write: "), "{error}");
    assert!(
        error.contains("unable to parse 'bad line': invalid field format"),
        "{error}"
    );
    assert!(
        error.contains("field type conflict: input field \"v\" on measurement \"m\" is type integer, already exists as type float"),
        "{error}"
    );
    assert!(error.ends_with(" dropped=2"), "{error}");
    assert_eq!(body["message"], body["error"]);
    let lines: Vec<(i64, String)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["line_number"].as_i64().unwrap(),
                d["original_line"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [(2, "bad line".to_owned()), (3, "m v=3i 3".to_owned())]
    );
    assert_eq!(s.rows("pw", "m").len(), 3, "the good lines were stored");

    // The exact message InfluxDB gives for a lone type conflict.
    let r = s.post("/write?db=pw&precision=s", b"m v=5i 5");
    assert_eq!(
        r.error(),
        "partial write: field type conflict: input field \"v\" on measurement \"m\" is type integer, already exists as type float dropped=1"
    );

    // Nothing parsed: InfluxDB's bare parse error.
    let r = s.post("/write?db=pw", b"bad\nworse");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        "unable to parse 'bad': missing fields\nunable to parse 'worse': missing fields"
    );

    // accept_partial=false stores nothing.
    let r = s.post(
        "/write?db=pw&precision=s&accept_partial=false",
        b"m v=6 6\nbroken",
    );
    assert_eq!(r.status, 400);
    let r = s.post(
        "/write?db=pw&precision=s&accept_partial=false",
        b"m v=7 7\nm v=8i 8",
    );
    assert_eq!(r.status, 400);
    assert_eq!(s.rows("pw", "m").len(), 3);

    // Lines past --max-line-length are that line's error only.
    let long = Server::start(&["--max-line-length", "64"]);
    let body = format!("ok v=1 1\nlong s=\"{}\" 2\nok v=3 3", "x".repeat(100));
    let r = long.post("/write?db=l&precision=s", body.as_bytes());
    assert_eq!(r.status, 400);
    assert!(r.error().contains("line too long"), "{}", r.error());
    assert_eq!(long.rows("l", "ok").len(), 2);

    // Not UTF-8: the whole body is refused.
    let r = s.post("/write?db=pw", b"m s=\"\xff\" 1");
    assert_eq!(r.status, 400);
    assert!(r.error().contains("UTF-8"), "{}", r.error());
}

#[test]
fn schema_rules() {
    let s = Server::start(&[]);
    assert_eq!(
        s.post("/write?db=sch&precision=s", b"m,host=a v=1,s=\"x\" 1")
            .status,
        204
    );
    let table: Vec<(&str, &str, &str)> = vec![
        ("field changes type", "m v=1i 2", "field type conflict"),
        (
            "tag written as field",
            "m host=1 3",
            "already exists as a tag",
        ),
        (
            "field written as tag",
            "m,v=x w=1 4",
            "already exists as a field",
        ),
        (
            "one name as tag and field in one line",
            "n,x=1 x=2 5",
            "a tag and a field",
        ),
    ];
    for (name, line, message) in table {
        let r = s.post("/write?db=sch&precision=s", line.as_bytes());
        assert_eq!(r.status, 400, "{name}");
        assert!(r.error().contains(message), "{name}: {}", r.error());
    }
    assert_eq!(
        s.post("/write?db=sch&precision=s", b"m,host=b,new=t v=2,w=true 6")
            .status,
        204
    );
    let rows = s.rows("sch", "m");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        field(&rows[1], "w"),
        json!({"type": "boolean", "value": true})
    );
}

#[test]
fn type_races_across_cores_have_one_winner() {
    let s = Server::start(&[]);
    let types = ["1", "1i", "\"s\"", "true", "1u"];
    let handles: Vec<_> = (0..20)
        .map(|k| {
            let (addr, token) = (s.addr, s.token.clone());
            let value = types[k % types.len()];
            std::thread::spawn(move || {
                let body = format!("race,writer={k} v={value} {k}");
                let raw = request(
                    "POST",
                    "/write?db=race&precision=s",
                    &format!("Authorization: Token {token}\r\n"),
                    body.as_bytes(),
                );
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                use std::io::{Read, Write};
                stream.write_all(&raw).unwrap();
                let mut out = Vec::new();
                stream.write_all(b"").unwrap();
                let mut buf = [0u8; 4096];
                loop {
                    let n = stream.read(&mut buf).unwrap();
                    out.extend_from_slice(&buf[..n]);
                    if n == 0 || out.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                String::from_utf8_lossy(&out).into_owned()
            })
        })
        .collect();
    let answers: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let accepted = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 204"))
        .count();
    let conflicts = answers
        .iter()
        .filter(|a| a.contains("field type conflict"))
        .count();
    assert_eq!(accepted + conflicts, 20, "{answers:?}");
    let rows = s.rows("race", "race");
    assert_eq!(rows.len(), accepted);
    let kinds: std::collections::BTreeSet<String> = rows
        .iter()
        .map(|r| field(r, "v")["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds.len(), 1, "exactly one type won: {kinds:?}");
    assert_eq!(accepted, 4, "the 4 writers of the winning type");
}

#[test]
fn last_write_wins_field_by_field_across_cores() {
    let s = Server::start(&[]);
    // New connections land on either core (SO_REUSEPORT); write in sequence.
    for (k, body) in [
        "lw,host=a x=1,y=1 10",
        "lw,host=a x=2 10",
        "lw,host=a y=3 10",
        "lw,host=a x=4 10",
    ]
    .iter()
    .enumerate()
    {
        let r = s.post("/write?db=lw&precision=s", body.as_bytes());
        assert_eq!(r.status, 204, "write {k}");
    }
    // And twice in one body: the later line wins.
    assert_eq!(
        s.post(
            "/write?db=lw&precision=s",
            b"lw,host=b x=1 10\nlw,host=b x=2 10"
        )
        .status,
        204
    );
    let rows = s.rows("lw", "lw");
    assert_eq!(rows.len(), 2);
    assert_eq!(field(&rows[0], "x")["value"], 4.0);
    assert_eq!(field(&rows[0], "y")["value"], 3.0);
    assert_eq!(field(&rows[1], "x")["value"], 2.0);
}

#[test]
fn create_database_through_query_for_telegraf() {
    let s = Server::start(&[]);
    let r = s.send(&request(
        "POST",
        "/query",
        &format!(
            "{}Content-Type: application/x-www-form-urlencoded\r\n",
            s.auth()
        ),
        b"q=CREATE+DATABASE+%22telegraf%22",
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"results": [{"statement_id": 0}]}));
    let r = s.send(&request("POST", "/query", &s.auth(), b""));
    assert_eq!(r.status, 400);
    assert_eq!(r.error(), "missing required parameter \"q\"");
}
