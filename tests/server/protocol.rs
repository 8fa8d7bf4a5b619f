//! HTTP behaviour: status endpoints, framing, limits, timeouts, shutdown.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use super::harness::{gzip, metric, request, scrape, Server};

#[test]
fn ping_and_health() {
    let s = Server::start(&[]);
    for method in ["GET", "HEAD"] {
        let r = s.send(format!("{method} /ping HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        assert_eq!(r.status, 204, "{method}");
        assert!(r.body.is_empty());
        for header in [
            "X-Influxdb-Version",
            "X-Influxdb-Build",
            "Request-Id",
            "X-Request-Id",
            "Date",
        ] {
            assert!(r.header(header).is_some(), "{method} lacks {header}");
        }
    }
    let r = s.send(b"GET /ping?verbose=true HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(r.json()["version"].is_string());
    let r = s.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    let health = r.json();
    assert_eq!(health["status"], "pass");
    assert_eq!(health["message"], "ready for queries and writes");
    assert_eq!(health["checks"], serde_json::json!([]));
    assert!(health["name"].is_string() && health["version"].is_string());
    // Request ids differ between requests.
    let a = s.send(b"GET /ping HTTP/1.1\r\n\r\n");
    let b = s.send(b"GET /ping HTTP/1.1\r\n\r\n");
    assert_ne!(a.header("Request-Id"), b.header("Request-Id"));
}

#[test]
fn status_codes_for_bad_requests() {
    let s = Server::start(&["--max-body-size", "1KiB"]);
    let auth = s.auth();
    let table: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unknown path", request("GET", "/nope", "", b""), 404),
        ("GET /write", request("GET", "/write?db=x", &auth, b""), 405),
        (
            "PUT /api/v2/write",
            request("PUT", "/api/v2/write?bucket=x", &auth, b""),
            405,
        ),
        ("POST /ping", request("POST", "/ping", "", b""), 405),
        (
            "unknown encoding",
            request(
                "POST",
                "/write?db=x",
                &format!("{auth}Content-Encoding: br\r\n"),
                b"m v=1",
            ),
            415,
        ),
        (
            "body over the limit",
            request("POST", "/write?db=x", &auth, &[b'a'; 2000]),
            413,
        ),
        (
            "gzip bomb",
            request(
                "POST",
                "/write?db=x",
                &format!("{auth}Content-Encoding: gzip\r\n"),
                &gzip(&[b'a'; 1 << 20]),
            ),
            413,
        ),
        (
            "corrupt gzip",
            request(
                "POST",
                "/write?db=x",
                &format!("{auth}Content-Encoding: gzip\r\n"),
                b"\x1f\x8b\x08garbage",
            ),
            400,
        ),
        (
            "malformed request line",
            b"NOT HTTP AT ALL\r\n\r\n".to_vec(),
            400,
        ),
        (
            "two content lengths",
            b"POST /write?db=x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
                .to_vec(),
            400,
        ),
        (
            "headers too large",
            format!(
                "GET /ping HTTP/1.1\r\nX-Big: {}\r\n\r\n",
                "a".repeat(70 * 1024)
            )
            .into_bytes(),
            431,
        ),
    ];
    for (name, raw, status) in table {
        let r = s.send(&raw);
        assert_eq!(r.status, status, "{name}: {}", r.text());
        if status >= 400 {
            assert!(r.header("X-Influxdb-Error").is_some(), "{name}");
            // A JSON body with a message: Telegraf's v1 output retries
            // forever on a 4xx whose body is not JSON.
            assert!(r.json()["message"].is_string(), "{name}: {}", r.text());
        }
        if status == 405 {
            assert!(r.header("Allow").is_some(), "{name}");
        }
    }
}

#[test]
fn trailing_slashes_and_preflight() {
    let s = Server::start(&[]);
    let r = s.send(&request(
        "POST",
        "/write/?db=slash&precision=s",
        &s.auth(),
        b"m v=1 1",
    ));
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(s.send(b"GET /ping/ HTTP/1.1\r\n\r\n").status, 204);
    let r = s.send(b"OPTIONS /write HTTP/1.1\r\nOrigin: http://example\r\n\r\n");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    // Long error lists stay out of the header but are all in the body.
    let body: String = (0..100)
        .map(|i| format!("bad{i}{}\n", "x".repeat(100)))
        .collect();
    let r = s.post("/write?db=slash", body.as_bytes());
    assert_eq!(r.status, 400);
    assert!(r.header("X-Influxdb-Error").unwrap().len() < 1100);
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 100);
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    for i in 0..1000 {
        let body = format!("ka,conn=one v={i}i {i}");
        c.write(&request(
            "POST",
            "/write?db=ka&precision=s",
            &s.auth(),
            body.as_bytes(),
        ));
        let r = c.read_response();
        assert_eq!(r.status, 204, "request {i}: {}", r.text());
    }
    assert_eq!(s.rows("ka", "ka").len(), 1000);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let mut batch = Vec::new();
    batch.extend(request(
        "POST",
        "/write?db=p&precision=s",
        &s.auth(),
        b"m v=1 1",
    ));
    batch.extend(request("GET", "/nope", "", b""));
    batch.extend(request(
        "POST",
        "/write?db=p&precision=s",
        &s.auth(),
        b"m v=2 2",
    ));
    batch.extend(b"GET /ping HTTP/1.1\r\n\r\n");
    c.write(&batch);
    let statuses: Vec<u16> = (0..4).map(|_| c.read_response().status).collect();
    assert_eq!(statuses, [204, 404, 204, 204]);
    assert_eq!(s.rows("p", "m").len(), 2);
}

#[test]
fn chunked_bodies() {
    let s = Server::start(&[]);
    let mut raw = format!(
        "POST /write?db=c&precision=s HTTP/1.1\r\nHost: t\r\n{}Transfer-Encoding: chunked\r\n\r\n",
        s.auth()
    )
    .into_bytes();
    for chunk in ["m,host=a v=1 1\n", "m,host=b v=", "2 2\n"] {
        raw.extend(format!("{:x};ext=1\r\n{chunk}\r\n", chunk.len()).bytes());
    }
    raw.extend(b"0\r\nX-Trailer: yes\r\n\r\n");
    let mut c = s.connect();
    c.write(&raw);
    assert_eq!(c.read_response().status, 204);
    // The connection is still usable afterwards.
    c.write(b"GET /ping HTTP/1.1\r\n\r\n");
    assert_eq!(c.read_response().status, 204);
    assert_eq!(s.rows("c", "m").len(), 2);

    let bad = format!(
        "POST /write?db=c HTTP/1.1\r\n{}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        s.auth()
    );
    assert_eq!(s.send(bad.as_bytes()).status, 400);
}

#[test]
fn expect_100_continue() {
    let s = Server::start(&["--max-body-size", "1MiB"]);
    let body = b"e v=1 1\n".repeat(200);
    let mut c = s.connect();
    c.write(
        format!(
            "POST /write?db=e&precision=s HTTP/1.1\r\nHost: t\r\n{}Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            s.auth(),
            body.len()
        )
        .as_bytes(),
    );
    let interim = c.read_response();
    assert_eq!(interim.status, 100);
    c.write(&body);
    assert_eq!(c.read_response().status, 204);

    // Too large: the final answer comes at once, without 100 Continue.
    let mut c = s.connect();
    c.write(
        format!(
            "POST /write?db=e HTTP/1.1\r\nHost: t\r\n{}Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            s.auth(),
            10 << 20
        )
        .as_bytes(),
    );
    assert_eq!(c.read_response().status, 413);
}

#[test]
fn idle_and_slow_connections_are_closed() {
    let s = Server::start(&["--idle-timeout", "1s", "--io-timeout", "1s"]);
    let mut idle = s.connect();
    let start = Instant::now();
    assert!(idle.is_closed());
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(10),
        "{waited:?}"
    );

    // A head that never finishes gets 408 and the connection closes.
    let mut slow = s.connect();
    slow.write(b"POST /write?db=x HTTP/1.1\r\nHost: t\r\n");
    let r = slow.read_response();
    assert_eq!(r.status, 408);
    assert!(slow.is_closed());
}

#[test]
fn connections_over_the_cap_are_refused() {
    let s = Server::start(&["--cores", "1", "--max-connections-per-core", "2"]);
    let mut held: Vec<_> = (0..2).map(|_| s.connect()).collect();
    for c in held.iter_mut() {
        c.write(b"GET /ping HTTP/1.1\r\n\r\n");
        assert_eq!(c.read_response().status, 204);
    }
    let mut third = s.connect();
    let _ = third.stream.write_all(b"GET /ping HTTP/1.1\r\n\r\n");
    assert!(third.is_closed());
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(s.send(b"GET /ping HTTP/1.1\r\n\r\n").status, 204);
}

#[test]
fn connections_spread_evenly_over_cores_whatever_the_kernel_picks() {
    // The kernel's SO_REUSEPORT hash alone leaves 16 connections within
    // one of even only about a third of the time.
    let s = Server::start(&["--cores", "2"]);
    let mut held: Vec<_> = (0..16).map(|_| s.connect()).collect();
    for c in held.iter_mut() {
        c.write(b"GET /ping HTTP/1.1\r\n\r\n");
        assert_eq!(c.read_response().status, 204);
    }
    // The scrape's own connection is the 17th.
    let m = scrape(&s);
    let open = |core: &str| metric(&m, &format!("hydrant_connections_open{{core=\"{core}\"}}"));
    assert_eq!(open("all"), 17.0);
    assert!(
        (open("0") - open("1")).abs() <= 1.0,
        "{} / {}",
        open("0"),
        open("1")
    );
    // Handed-over connections serve writes like any other.
    for (i, c) in held.iter_mut().enumerate() {
        let body = format!("spread,conn={i} v={i} 1");
        c.write(
            format!(
                "POST /write?db=spread&precision=s HTTP/1.1\r\n{}Content-Length: {}\r\n\r\n{body}",
                s.auth(),
                body.len()
            )
            .as_bytes(),
        );
        assert_eq!(c.read_response().status, 204);
    }
    assert_eq!(s.rows("spread", "spread").len(), 16);
}

#[test]
fn sigterm_finishes_in_flight_requests_then_exits_zero() {
    let mut s = Server::start(&[]);
    let body = b"t v=1 1\n".repeat(100);
    let mut c = s.connect();
    c.write(
        format!(
            "POST /write?db=t&precision=s HTTP/1.1\r\nHost: t\r\n{}Content-Length: {}\r\n\r\n",
            s.auth(),
            body.len()
        )
        .as_bytes(),
    );
    c.write(&body[..body.len() / 2]);
    std::thread::sleep(Duration::from_millis(200));
    let pid = s.pid();
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(300));
    c.write(&body[body.len() / 2..]);
    let r = c.read_response();
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(s.wait(), Some(0));
    let mut probe = [0u8; 1];
    assert!(matches!(c.stream.read(&mut probe), Ok(0) | Err(_)));
}

#[test]
fn garbage_and_mangled_requests_never_take_the_server_down() {
    let s = Server::start(&["--io-timeout", "1s", "--idle-timeout", "1s"]);
    let valid = request(
        "POST",
        "/write?db=g&precision=s",
        &format!("{}Content-Encoding: gzip\r\n", s.auth()),
        &gzip(b"m,t=a v=1,s=\"x\" 1\nm v=2 2\n"),
    );
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut handles = Vec::new();
    for round in 0..300 {
        let mut bytes = valid.clone();
        match round % 3 {
            // Random bytes.
            0 => bytes = (0..(next() % 512)).map(|_| next() as u8).collect(),
            // A few flipped bytes anywhere in a valid request.
            1 => {
                for _ in 0..1 + next() % 4 {
                    let i = (next() as usize) % bytes.len();
                    bytes[i] = next() as u8;
                }
            }
            // A valid request cut short.
            _ => bytes.truncate((next() as usize) % bytes.len()),
        }
        let addr = s.addr;
        handles.push(std::thread::spawn(move || {
            if let Ok(mut c) = std::net::TcpStream::connect(addr) {
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = c.write_all(&bytes);
                let _ = c.shutdown(std::net::Shutdown::Write);
                let mut sink = Vec::new();
                let _ = c.read_to_end(&mut sink);
            }
        }));
        if handles.len() >= 16 {
            for h in handles.drain(..) {
                h.join().unwrap();
            }
        }
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(s.send(b"GET /ping HTTP/1.1\r\n\r\n").status, 204);
    let r = s.send(&valid);
    assert_eq!(r.status, 204, "{}", r.text());
}
