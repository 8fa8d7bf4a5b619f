//! Durability: what got a 204 survives a SIGKILL, exactly once; damaged
//! WAL tails are truncated and reported; restarts are repeatable.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::harness::{request, Server};

const LOADERS: usize = 4;
const LINES: usize = 100;

/// Batch `b` of loader `t`: LINES points, each its own series and time.
fn batch(t: usize, b: usize) -> String {
    (0..LINES)
        .map(|i| {
            format!(
                "m,t={t},b={b} v={i}i,s=\"x{i}\" {}\n",
                1_000_000 + (b * LINES + i) as i64
            )
        })
        .collect()
}

/// Every (t, b, v) point of `m` (series+time merged, as queries see them),
/// with how often each appears; checked against /query's count.
fn stored(server: &Server) -> BTreeMap<(u64, u64, i64), usize> {
    let mut out = BTreeMap::new();
    let rows = server.rows("load", "m");
    for row in &rows {
        let tag = |k: &str| row["tags"][k].as_str().unwrap().parse::<u64>().unwrap();
        let v = row["fields"]["v"]["value"].as_i64().unwrap();
        *out.entry((tag("t"), tag("b"), v)).or_insert(0) += 1;
    }
    let r = ask(server, "db=load&q=SELECT+count(v)+FROM+m");
    let counted = r.json()["results"][0]["series"][0]["values"][0][1].as_u64();
    assert_eq!(counted.unwrap_or(0), rows.len() as u64, "{}", r.text());
    out
}

/// Loads with LOADERS threads until `min_acked` batches got a 204, then
/// SIGKILLs the server while the loaders still run. Returns the data
/// directory and the acknowledged (t, b) batches.
fn load_then_crash(
    server: Server,
    min_acked: usize,
) -> (std::path::PathBuf, BTreeSet<(usize, usize)>) {
    let addr = server.addr;
    let token = server.token.clone();
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = (0..LOADERS)
        .map(|t| {
            let (acked, stop) = (acked.clone(), stop.clone());
            let token = token.clone();
            std::thread::spawn(move || {
                for b in 0..5_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let body = batch(t, b);
                    let auth = format!("Authorization: Token {token}\r\n");
                    let req = request("POST", "/write?db=load", &auth, body.as_bytes());
                    let Some(status) = post_status(addr, &req) else {
                        break;
                    };
                    assert!(status == 204, "batch {t}/{b}: status {status}");
                    acked.lock().unwrap().insert((t, b));
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < min_acked && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let dir = server.crash();
    stop.store(true, Ordering::Relaxed);
    for l in loaders {
        l.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= min_acked,
        "only {} batches acknowledged",
        acked.len()
    );
    (dir, acked)
}

/// The status of one request, or None if the server went away mid-way.
fn post_status(addr: std::net::SocketAddr, req: &[u8]) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    s.write_all(req).ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Every acknowledged batch is there in full, every point at most once,
/// and every batch is all or nothing (one WAL entry each).
fn check_recovered(server: &Server, acked: &BTreeSet<(usize, usize)>) -> usize {
    let rows = stored(server);
    let mut per_batch: BTreeMap<(u64, u64), usize> = BTreeMap::new();
    for (&(t, b, _), &n) in &rows {
        assert_eq!(n, 1, "point {t}/{b} stored {n} times");
        *per_batch.entry((t, b)).or_insert(0) += 1;
    }
    for &(t, b) in acked {
        assert_eq!(
            per_batch.get(&(t as u64, b as u64)).copied().unwrap_or(0),
            LINES,
            "acknowledged batch {t}/{b} is not all there"
        );
    }
    for (&(t, b), &n) in &per_batch {
        assert_eq!(n, LINES, "batch {t}/{b} is torn: {n} of {LINES} points");
    }
    rows.len()
}

fn crash_and_recover(sync: &str, persist_size: &str) {
    let args = [
        "--wal-sync",
        sync,
        "--wal-segment-size",
        "1MiB",
        "--persist-size",
        persist_size,
    ];
    let server = Server::start(&args);
    let (dir, acked) = load_then_crash(server, 120);
    let server = Server::start_in(dir, &args);
    let points = check_recovered(&server, &acked);
    let recovery = &server.stats()["recovery"];
    // Every point comes back once: from a Parquet file or from the WAL.
    assert_eq!(
        recovery["points"].as_u64().unwrap() + recovery["file_rows"].as_u64().unwrap(),
        points as u64,
        "{recovery}"
    );
    assert!(
        recovery["segments"].as_u64().unwrap() > 1,
        "segments rotate: {recovery}"
    );
    // Twice in a row: the same data (and the torn tail, if any, is gone;
    // the crash may cut short the persist the replayed rows start).
    let dir = server.crash();
    let server = Server::start_in(dir, &args);
    assert_eq!(check_recovered(&server, &acked), points);
    let recovery = &server.stats()["recovery"];
    assert!(
        !recovery["problems"].to_string().contains("WAL segment"),
        "{recovery}"
    );
    // New writes after recovery win over replayed ones (the write order continues).
    server.write("load", b"m,t=0,b=0 v=-1i,s=\"new\" 1000000");
    let rows = stored(&server);
    assert!(rows.contains_key(&(0, 0, -1)) && !rows.contains_key(&(0, 0, 0)));
}

#[test]
fn acknowledged_writes_survive_sigkill_with_wal_sync_always() {
    // Rows move to Parquet during the load: recovery reads both.
    crash_and_recover("always", "256KiB");
}

#[test]
fn acknowledged_writes_survive_sigkill_with_wal_sync_interval() {
    crash_and_recover("interval=20ms", "512MiB");
}

#[test]
fn covered_wal_segments_are_reused_and_replay_ignores_their_old_bytes() {
    use std::os::unix::fs::MetadataExt;
    let args = [
        "--cores",
        "1",
        "--wal-segment-size",
        "1MiB",
        "--persist-size",
        "64KiB",
    ];
    let server = Server::start(&args);
    let wal = server.dir.join("wal");
    // Which segment names each file (inode) has had.
    let mut names: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    let mut acked = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let reused = loop {
        for _ in 0..10 {
            let b = acked.len();
            server.write("load", batch(5, b).as_bytes());
            acked.insert((5, b));
        }
        for e in std::fs::read_dir(&wal).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let (true, Ok(meta)) = (name.ends_with(".wal"), e.metadata()) {
                names.entry(meta.ino()).or_default().insert(name);
            }
        }
        if let Some(n) = names.values().find(|n| n.len() > 1) {
            break n.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no segment file was reused: {names:?}"
        );
    };
    assert!(reused.len() > 1, "{reused:?}");
    // Replay reads every segment, old lives' bytes included, and finds
    // each acknowledged point once, with nothing to report about the WAL
    // (the crash may have cut a persist short: that leftover is reported).
    let dir = server.crash();
    let server = Server::start_in(dir, &args);
    check_recovered(&server, &acked);
    let recovery = &server.stats()["recovery"];
    assert!(
        !recovery["problems"].to_string().contains("WAL segment"),
        "{recovery}"
    );
}

#[test]
fn wal_sync_none_keeps_everything_over_a_clean_stop() {
    let args = ["--wal-sync", "none"];
    let server = Server::start(&args);
    for b in 0..20 {
        server.write("load", batch(0, b).as_bytes());
    }
    let dir = server.stop();
    let server = Server::start_in(dir, &args);
    let acked = (0..20).map(|b| (0, b)).collect();
    assert_eq!(check_recovered(&server, &acked), 20 * LINES);
}

fn ask(server: &Server, form: &str) -> super::harness::Response {
    let headers = format!(
        "{}Content-Type: application/x-www-form-urlencoded\r\n",
        server.auth()
    );
    server.send(&request("POST", "/query", &headers, form.as_bytes()))
}

/// The newest WAL segment in `dir`.
fn newest_segment(dir: &std::path::Path) -> std::path::PathBuf {
    let mut segments: Vec<_> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.metadata().unwrap().len() > 0)
        .map(|e| (e.metadata().unwrap().modified().unwrap(), e.path()))
        .collect();
    segments.sort();
    segments.pop().expect("a segment").1
}

#[test]
fn a_torn_wal_tail_is_truncated_and_reported() {
    let server = Server::start(&[]);
    for b in 0..10 {
        server.write("load", batch(1, b).as_bytes());
    }
    let dir = server.crash();
    // A crash in the middle of a flush: the start of an entry, then nothing,
    // over the zero block that ended the log (where the next flush starts).
    let segment = newest_segment(&dir);
    let mut bytes = std::fs::read(&segment).unwrap();
    assert!(bytes.ends_with(&[0; 4096]), "the log ends in a zero block");
    bytes.truncate(bytes.len() - 4096);
    let good = bytes.len();
    bytes.extend_from_slice(&[
        200, 1, 0, 0, 0xde, 0xad, 0xbe, 0xef, 9, 9, 9, 9, 9, 9, 9, 9, 1, 2, 3,
    ]);
    std::fs::write(&segment, &bytes).unwrap();

    let server = Server::start_in(dir, &[]);
    let acked = (0..10).map(|b| (1, b)).collect();
    assert_eq!(check_recovered(&server, &acked), 10 * LINES);
    let problems = server.stats()["recovery"]["problems"].to_string();
    assert!(
        problems.contains("torn tail") && problems.contains("truncated"),
        "{problems}"
    );
    assert_eq!(std::fs::metadata(&segment).unwrap().len() as usize, good);

    let dir = server.crash();
    let server = Server::start_in(dir, &[]);
    assert_eq!(check_recovered(&server, &acked), 10 * LINES);
    assert_eq!(
        server.stats()["recovery"]["problems"],
        serde_json::json!([])
    );
}

#[test]
fn damage_inside_the_wal_is_reported_and_the_rest_replayed() {
    let server = Server::start(&["--cores", "1"]);
    for b in 0..5 {
        server.write("load", batch(2, b).as_bytes());
    }
    let dir = server.crash();
    let segment = newest_segment(&dir);
    let mut bytes = std::fs::read(&segment).unwrap();
    // One flush per request here: flip a byte inside the first entry.
    bytes[100] ^= 0x55;
    std::fs::write(&segment, &bytes).unwrap();
    let server = Server::start_in(dir, &["--cores", "1"]);
    let acked = (1..5).map(|b| (2, b)).collect();
    assert_eq!(check_recovered(&server, &acked), 4 * LINES);
    let problems = server.stats()["recovery"]["problems"].to_string();
    assert!(
        problems.contains("damaged") && problems.contains("skipped"),
        "{problems}"
    );
}

#[test]
fn restarts_with_an_empty_or_missing_wal() {
    let server = Server::start(&[]);
    let r = ask(&server, "q=CREATE+DATABASE+empty");
    assert_eq!(r.status, 200, "{}", r.text());
    let dir = server.stop();
    // An empty segment file, as a crash right after creating one leaves it.
    std::fs::write(dir.join("wal").join("000-0000000099.wal"), b"").unwrap();
    let server = Server::start_in(dir, &[]);
    assert_eq!(server.stats()["rows"], 0);
    let r = ask(&server, "q=SHOW+DATABASES");
    assert!(
        r.text().contains("\"empty\""),
        "the catalog survives: {}",
        r.text()
    );
    let dir = server.crash();
    std::fs::remove_dir_all(dir.join("wal")).unwrap();
    let server = Server::start_in(dir, &[]);
    server.write("load", b"m v=1i 1");
}

#[test]
fn wal_segments_are_written_synchronously() {
    // A 204 under `always` rests on the segment being open with O_DSYNC
    // (no fdatasync follows its writes); a SIGKILL cannot show that, so
    // the flags of the server's open segment are read from /proc.
    let server = Server::start(&[]);
    server.write("load", batch(1, 0).as_bytes());
    let fds = std::path::PathBuf::from(format!("/proc/{}/fd", server.pid()));
    let mut segments = 0;
    for fd in std::fs::read_dir(&fds).unwrap().flatten() {
        let Ok(target) = std::fs::read_link(fd.path()) else {
            continue;
        };
        if target.extension().is_none_or(|e| e != "wal") {
            continue;
        }
        segments += 1;
        let info =
            std::fs::read_to_string(fds.with_file_name("fdinfo").join(fd.file_name())).unwrap();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .map(|f| i32::from_str_radix(f.trim(), 8).unwrap())
            .unwrap();
        assert_ne!(
            flags & libc::O_DSYNC,
            0,
            "{} flags {flags:o}",
            target.display()
        );
    }
    assert!(segments > 0, "no WAL segment open");
}

/// Bytes free on the filesystem holding `path`.
fn free_bytes(path: &std::path::Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: statvfs fills the struct we own from a valid C string.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0);
    s.f_bavail as u64 * s.f_frsize as u64
}

#[test]
fn a_full_disk_fails_writes_clearly_and_loses_nothing_acknowledged() {
    let small = std::env::var("HYDRANT_TEST_SMALL_FS").expect(
        "HYDRANT_TEST_SMALL_FS must name a small scratch filesystem (tools/test mounts one)",
    );
    let root = std::path::PathBuf::from(small);
    let dir = root.join(format!("diskfull-{}", std::process::id()));
    let filler = root.join(format!("filler-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let args = ["--wal-sync", "always"];
    let server = Server::start_in(dir.clone(), &args);
    // Leave about 1 MiB free (the filler goes even if the test fails).
    struct Remove(std::path::PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _filler = Remove(filler.clone());
    let spare = free_bytes(&root).saturating_sub(1 << 20);
    std::fs::write(&filler, vec![1u8; spare as usize]).unwrap();

    let mut acked = BTreeSet::new();
    let mut refused = None;
    for b in 0..5_000 {
        let r = server.post("/write?db=load", batch(3, b).as_bytes());
        match r.status {
            204 => {
                acked.insert((3, b));
            }
            507 => {
                assert!(r.error().contains("WAL segment"), "{}", r.text());
                // Telegraf keeps such a batch and sends it again (both outputs).
                use super::telegraf::{react_v1, react_v2, Reaction};
                assert!(
                    matches!(react_v1(&r), Reaction::Kept { .. }),
                    "{}",
                    r.text()
                );
                assert!(
                    matches!(react_v2(&r, 0), Reaction::Kept { .. }),
                    "{}",
                    r.text()
                );
                refused = Some(b);
                break;
            }
            s => panic!("status {s}: {}", r.text()),
        }
    }
    let refused = refused.expect("the disk never filled");
    assert!(!acked.is_empty());
    // While full, writes keep failing fast with the same clear answer.
    assert_eq!(
        server
            .post("/write?db=load", batch(3, 999).as_bytes())
            .status,
        507
    );

    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut b = refused + 1;
    loop {
        let r = server.post("/write?db=load", batch(3, b).as_bytes());
        if r.status == 204 {
            acked.insert((3, b));
            break;
        }
        assert_eq!(r.status, 507, "{}", r.text());
        assert!(
            Instant::now() < deadline,
            "writes did not resume after space returned"
        );
        std::thread::sleep(Duration::from_millis(200));
        b += 1;
    }
    let dir = server.crash();
    let server = Server::start_in(dir, &args);
    check_recovered(&server, &acked);
}
