//! Line-protocol parsing throughput against InfluxDB 3's own parser.
//!
//! Every body is parsed by hydrant (block bitmaps, and the memchr-per-delimiter
//! alternative) and by the `influxdb-line-protocol` crate in the same run, and
//! every parse checks its answer (all lines parsed, none rejected) before a
//! time counts. After criterion's report, an interleaved timing pass prints
//! the table kept in README.md: MB/s and lines/s of the best round, and the
//! median over rounds of the same-round ratio to the reference.
//!
//! cargo bench --bench lp_parse            (full run, ~2 minutes)
//! cargo bench --bench lp_parse -- --table (the table only)

use std::hint::black_box;
use std::time::{Duration, Instant};

use bumpalo::Bump;
use criterion::{Criterion, Throughput};
use hydrant::lp::{parse, parse_with_memchr, sample, Precision};

const LINES: usize = 5_000;

struct Body {
    name: &'static str,
    text: String,
}

fn bodies() -> Vec<Body> {
    vec![
        Body {
            name: "telegraf",
            text: sample::telegraf(LINES, 100, 1),
        },
        Body {
            name: "escaped",
            text: sample::escaped(LINES, 2),
        },
        Body {
            name: "wide-strings",
            text: sample::wide_strings(LINES, 3),
        },
    ]
}

type Parser = fn(&str, &mut Bump) -> usize;

/// hydrant with block bitmaps; returns the points parsed.
fn hydrant_bitmaps(body: &str, arena: &mut Bump) -> usize {
    arena.reset();
    let parsed = parse(body.as_bytes(), Precision::Nanosecond, arena).expect("utf-8");
    assert!(parsed.errors.is_empty());
    parsed.points.len()
}

fn hydrant_memchr(body: &str, arena: &mut Bump) -> usize {
    arena.reset();
    let parsed = parse_with_memchr(body.as_bytes(), Precision::Nanosecond, arena).expect("utf-8");
    assert!(parsed.errors.is_empty());
    parsed.points.len()
}

/// InfluxDB 3's parser; every line must parse.
fn reference(body: &str, _: &mut Bump) -> usize {
    let mut lines = 0;
    for line in influxdb_line_protocol::parse_lines(body) {
        black_box(line.expect("reference parses every line"));
        lines += 1;
    }
    lines
}

const PARSERS: [(&str, Parser); 3] = [
    ("hydrant", hydrant_bitmaps),
    ("hydrant-memchr", hydrant_memchr),
    ("influxdb3-lp", reference),
];

fn check_answers(bodies: &[Body]) {
    let mut arena = Bump::new();
    for body in bodies {
        for (name, parser) in PARSERS {
            assert_eq!(
                parser(&body.text, &mut arena),
                LINES,
                "{name} on {}",
                body.name
            );
        }
    }
}

fn criterion_benches(c: &mut Criterion, bodies: &[Body]) {
    for body in bodies {
        let mut group = c.benchmark_group(format!("lp/{}", body.name));
        group.throughput(Throughput::Bytes(body.text.len() as u64));
        for (name, parser) in PARSERS {
            let mut arena = Bump::new();
            group.bench_function(name, |b| {
                b.iter(|| assert_eq!(parser(black_box(&body.text), &mut arena), LINES))
            });
        }
        group.finish();
    }
}

/// Interleaves the parsers in short rounds so machine noise hits all alike.
/// MB/s is each parser's best round; the ratio is the median over rounds of
/// the reference's time over the parser's in that same round (this machine's
/// speed drifts between rounds, so best rounds of different parsers can come
/// from different phases).
fn table(bodies: &[Body]) {
    const ROUNDS: usize = 15;
    println!();
    println!("| body | bytes/line | parser | MB/s | M lines/s | vs influxdb3-lp |");
    println!("|---|---:|---|---:|---:|---:|");
    for body in bodies {
        let mut arena = Bump::new();
        let mut rounds = [[Duration::ZERO; PARSERS.len()]; ROUNDS];
        for round in rounds.iter_mut() {
            for (k, (_, parser)) in PARSERS.iter().enumerate() {
                let start = Instant::now();
                let mut reps = 0u32;
                while reps < 20 {
                    assert_eq!(parser(black_box(&body.text), &mut arena), LINES);
                    reps += 1;
                }
                round[k] = start.elapsed() / reps;
            }
        }
        let reference = PARSERS.len() - 1;
        for (k, (name, _)) in PARSERS.iter().enumerate() {
            let best = rounds.iter().map(|r| r[k]).min().expect("rounds");
            let secs = best.as_secs_f64();
            let mut ratios: Vec<f64> = rounds
                .iter()
                .map(|r| r[reference].as_secs_f64() / r[k].as_secs_f64())
                .collect();
            ratios.sort_by(f64::total_cmp);
            println!(
                "| {} | {} | {name} | {:.0} | {:.2} | {:.1}x |",
                body.name,
                body.text.len() / LINES,
                body.text.len() as f64 / secs / 1e6,
                LINES as f64 / secs / 1e6,
                ratios[ROUNDS / 2],
            );
        }
    }
}

fn main() {
    let bodies = bodies();
    check_answers(&bodies);
    let table_only = std::env::args().any(|a| a == "--table");
    if !table_only {
        let mut c = Criterion::default()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .configure_from_args();
        criterion_benches(&mut c, &bodies);
        c.final_summary();
    }
    table(&bodies);
}
