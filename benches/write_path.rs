//! The write stage per request, after parsing: schema checks and the shard
//! append alone, and with the WAL entry encoded too (what durability costs
//! the CPU); plus a Parquet persist of the stored rows (an agent's stream of
//! rising times, and one body resent). Every iteration
//! checks its answer (all points stored, entry non-empty, rows persisted).
//! Then two tables: reading persisted files for one field against reading
//! every column, and an 8 M-row persist in parts against one file per table.
//!
//! cargo bench --bench write_path

use std::hint::black_box;

use bumpalo::Bump;
use criterion::{Criterion, Throughput};
use hydrant::catalog::Catalog;
use hydrant::lp::{parse, sample, Precision};
use hydrant::shard::Shard;
use hydrant::write::{write_points, WriteOptions};

const LINES: usize = 5_000;

fn main() {
    let body = sample::telegraf(LINES, 100, 1);
    let arena = Bump::new();
    let parsed = parse(body.as_bytes(), Precision::Nanosecond, &arena).expect("utf-8");
    assert!(parsed.errors.is_empty());
    let points = &parsed.points;
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("write_path");
    group.throughput(Throughput::Elements(LINES as u64));

    let catalog = Catalog::default();
    let mut shard = Shard::default();
    let mut seq = 0;
    group.bench_function("store", |b| {
        b.iter(|| {
            seq += 1;
            let out = write_points(
                &catalog,
                &mut shard,
                "db",
                points,
                WriteOptions::new(0, seq),
                None,
            );
            assert_eq!(out.written, LINES);
            if shard.rows() > 2_000_000 {
                shard = Shard::default();
            }
            black_box(out.written)
        })
    });
    let mut shard = Shard::default();
    let mut wal = Vec::with_capacity(4 << 20);
    group.bench_function("store+wal-entry", |b| {
        b.iter(|| {
            seq += 1;
            wal.clear();
            let out = write_points(
                &catalog,
                &mut shard,
                "db",
                points,
                WriteOptions::new(0, seq),
                Some(&mut wal),
            );
            assert_eq!(out.written, LINES);
            assert!(wal.len() > LINES);
            if shard.rows() > 2_000_000 {
                shard = Shard::default();
            }
            black_box(wal.len())
        })
    });

    // Persisting 200 requests' rows (1 M points).
    let tables = stored(&catalog, points, 200, false);
    let rows: usize = tables
        .iter()
        .flat_map(|(_, b)| b)
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 200 * LINES);
    let dir = std::env::temp_dir().join(format!("hydrant-bench-persist-{}", std::process::id()));
    group.throughput(Throughput::Elements(rows as u64));
    group.sample_size(10);
    group.bench_function("persist-1M", |b| {
        b.iter(|| {
            let written = persist_all(&dir, &tables, hydrant::persist::PART_ROWS);
            assert_eq!(written, rows);
            black_box(written)
        })
    });
    // The same body sent 200 times: each point is stored once per file (the
    // parts of one persist are deduplicated each on its own).
    let resent = stored(&catalog, points, 200, true);
    group.bench_function("persist-1M-resent", |b| {
        b.iter(|| {
            let written = persist_all(&dir, &resent, hydrant::persist::PART_ROWS);
            assert!((LINES..rows / 8).contains(&written), "{written} rows");
            black_box(written)
        })
    });
    drop(resent);
    group.finish();
    c.final_summary();
    projected_reads(&tables, &dir);
    drop(tables);
    parts_against_one_file(&catalog, points, &dir);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A big persist (8 M rows, 2 M per table) written in parts, as the server
/// does, against the same rows as one file per table, interleaved in rounds
/// so machine noise hits both alike: ns per row of each, and the median of
/// the same-round ratios.
fn parts_against_one_file(
    catalog: &Catalog,
    points: &[hydrant::lp::Point<'_>],
    dir: &std::path::Path,
) {
    const REQUESTS: u64 = 1_600;
    const ROUNDS: usize = 5;
    let tables = stored(catalog, points, REQUESTS, false);
    let rows = REQUESTS as usize * LINES;
    let persist = |part_rows: usize| {
        let start = std::time::Instant::now();
        assert_eq!(persist_all(dir, &tables, part_rows), rows);
        let _ = std::fs::remove_dir_all(dir);
        start.elapsed().as_secs_f64() * 1e9 / rows as f64
    };
    let (mut parts, mut whole, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (p, w) = (persist(hydrant::persist::PART_ROWS), persist(usize::MAX));
        parts.push(p);
        whole.push(w);
        ratios.push(w / p);
    }
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    ratios.sort_by(f64::total_cmp);
    println!();
    println!("| persist of {rows} rows | best ns/row | speed vs one file per table |");
    println!("|---|---:|---:|");
    println!(
        "| files of {} rows (the server's parts) | {:.0} | {:.2}x |",
        hydrant::persist::PART_ROWS,
        best(&parts),
        ratios[ROUNDS / 2]
    );
    println!("| one file per table | {:.0} | 1.00x |", best(&whole));
}

/// Reading the `cpu` table's persisted files for one field (as a query of
/// `usage_idle` does: that field, the tags, time and write order) against
/// reading every column, interleaved in rounds; both must give every row.
fn projected_reads(tables: &Tables, dir: &std::path::Path) {
    const ROUNDS: usize = 7;
    let _ = std::fs::remove_dir_all(dir);
    let (key, batches) = tables
        .iter()
        .find(|((_, t), _)| &**t == "cpu")
        .expect("a cpu table");
    let files = hydrant::persist::write_table(dir, &key.0, &key.1, batches, 0, 1).unwrap();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let read = |columns: &hydrant::persist::Columns| {
        let start = std::time::Instant::now();
        let mut read = 0;
        for f in &files {
            let got = hydrant::persist::read_rows(dir, f, columns).unwrap();
            read += got.iter().map(|b| b.num_rows()).sum::<usize>();
        }
        assert_eq!(read, rows);
        start.elapsed().as_secs_f64() * 1e9 / rows as f64
    };
    let one: hydrant::persist::Columns = Some(vec!["usage_idle".to_string()].into());
    let (mut some, mut all, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (s, a) = (read(&one), read(&None));
        some.push(s);
        all.push(a);
        ratios.push(a / s);
    }
    let _ = std::fs::remove_dir_all(dir);
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    ratios.sort_by(f64::total_cmp);
    let columns = batches[0].num_columns();
    println!();
    println!("| read of {rows} persisted cpu rows ({columns} columns) | best ns/row | speed vs every column |");
    println!("|---|---:|---:|");
    println!(
        "| one field (usage_idle, tags, time, _seq) | {:.1} | {:.2}x |",
        best(&some),
        ratios[ROUNDS / 2]
    );
    println!("| every column | {:.1} | 1.00x |", best(&all));
}

type Tables = Vec<(hydrant::shard::TableKey, Vec<arrow_array::RecordBatch>)>;

/// The rows of `requests` writes of `points`, sealed and taken for
/// persisting. With `resend` every write sends the same points again (each
/// point is then stored once); without, each write's times follow the last
/// one's, as an agent's stream.
fn stored(
    catalog: &Catalog,
    points: &[hydrant::lp::Point<'_>],
    requests: u64,
    resend: bool,
) -> Tables {
    let times = points.iter().filter_map(|p| p.timestamp);
    let (min, max) = (times.clone().min().unwrap(), times.max().unwrap());
    let span = max - min + 10_000_000_000;
    let mut shard = Shard::default();
    let mut moved = points.to_vec();
    for s in 0..requests {
        if !resend {
            for (m, p) in moved.iter_mut().zip(points) {
                m.timestamp = p.timestamp.map(|t| t + s as i64 * span);
            }
        }
        let out = write_points(
            catalog,
            &mut shard,
            "db",
            &moved,
            WriteOptions::new(0, s),
            None,
        );
        assert_eq!(out.written, LINES);
    }
    shard.take_for_persist()
}

/// Persists every table in parts of `part_rows`; returns the rows written.
fn persist_all(dir: &std::path::Path, tables: &Tables, part_rows: usize) -> usize {
    let mut written = 0;
    for ((db, table), batches) in tables {
        let files =
            hydrant::persist::write_table_in_parts(dir, db, table, batches, 0, 1, part_rows)
                .unwrap();
        written += files.iter().map(|f| f.rows).sum::<usize>();
    }
    written
}
