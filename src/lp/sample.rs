//! Deterministic, realistic line-protocol bodies for benches and load tests.
//!
//! Shapes follow what Telegraf's cpu, mem, disk and net inputs send (full
//! precision floats, `i` counters, a handful of tags), plus two harder cases:
//! names and values dense in escapes, and wide string fields such as logs.

use std::fmt::Write;

/// xorshift64*: fast, seedable, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn percent(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 100.0
    }
}

const START_NS: i64 = 1_700_000_000_000_000_000;

/// Telegraf-like system metrics: `lines` lines cycling cpu, mem, disk, net
/// over `hosts` hosts, 10 s apart per host.
pub fn telegraf(lines: usize, hosts: usize, seed: u64) -> String {
    let mut rng = Rng(seed | 1);
    let mut out = String::with_capacity(lines * 260);
    for i in 0..lines {
        let host = i % hosts.max(1);
        let ts = START_NS + (i / hosts.max(1)) as i64 * 10_000_000_000;
        let _ = match i / hosts.max(1) % 4 {
            0 => writeln!(
                out,
                "cpu,cpu=cpu{},host=server-{host:04} usage_guest=0,usage_guest_nice=0,usage_idle={},usage_iowait={},usage_irq=0,usage_nice=0,usage_softirq={},usage_steal=0,usage_system={},usage_user={} {ts}",
                rng.below(64),
                rng.percent(),
                rng.percent() / 50.0,
                rng.percent() / 20.0,
                rng.percent() / 10.0,
                rng.percent() / 5.0,
            ),
            1 => writeln!(
                out,
                "mem,host=server-{host:04} active={}i,available={}i,available_percent={},buffered={}i,cached={}i,free={}i,inactive={}i,total=17179869184i,used={}i,used_percent={} {ts}",
                rng.below(1 << 34),
                rng.below(1 << 34),
                rng.percent(),
                rng.below(1 << 30),
                rng.below(1 << 33),
                rng.below(1 << 34),
                rng.below(1 << 33),
                rng.below(1 << 34),
                rng.percent(),
            ),
            2 => writeln!(
                out,
                "disk,device=nvme0n1p{},fstype=ext4,host=server-{host:04},mode=rw,path=/data{} free={}i,inodes_free={}i,inodes_total=31227904i,inodes_used={}i,total=502468108288i,used={}i,used_percent={} {ts}",
                rng.below(4),
                rng.below(4),
                rng.below(1 << 39),
                rng.below(1 << 25),
                rng.below(1 << 22),
                rng.below(1 << 38),
                rng.percent(),
            ),
            _ => writeln!(
                out,
                "net,host=server-{host:04},interface=eth{} bytes_recv={}i,bytes_sent={}i,drop_in={}i,drop_out=0i,err_in=0i,err_out=0i,packets_recv={}i,packets_sent={}i {ts}",
                rng.below(4),
                rng.below(1 << 40),
                rng.below(1 << 38),
                rng.below(100),
                rng.below(1 << 30),
                rng.below(1 << 28),
            ),
        };
    }
    out
}

/// Names and values dense in escapes: spaces, commas and equals signs in the
/// measurement, tags and field keys, quotes and backslashes in strings.
pub fn escaped(lines: usize, seed: u64) -> String {
    let mut rng = Rng(seed | 1);
    let mut out = String::with_capacity(lines * 200);
    for i in 0..lines {
        let _ = writeln!(
            out,
            "disk\\ usage\\,by\\ mount,mount\\ point=C:\\\\Program\\ Files\\,x86,label\\=name=vol\\ {} used\\ bytes={}i,free\\,pct={},note=\"said \\\"ok\\\" at C:\\\\temp\\\\{}\" {}",
            rng.below(100),
            rng.below(1 << 40),
            rng.percent(),
            rng.below(1000),
            START_NS + i as i64 * 1_000_000_000,
        );
    }
    out
}

/// Log-like lines with wide string fields (spaces, commas, `=` inside quotes).
pub fn wide_strings(lines: usize, seed: u64) -> String {
    const WORDS: &[&str] = &[
        "connection",
        "from",
        "10.0.0.17",
        "accepted",
        "user=admin,",
        "session",
        "opened",
        "for",
        "request",
        "GET",
        "/api/v2/write?bucket=telegraf",
        "took",
        "12ms,",
        "status=204",
        "retrying",
        "upstream",
        "timeout",
        "after",
        "3",
        "attempts",
    ];
    let mut rng = Rng(seed | 1);
    let mut out = String::with_capacity(lines * 400);
    for i in 0..lines {
        let mut message = String::new();
        for k in 0..40 {
            if k > 0 {
                message.push(' ');
            }
            message.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
        }
        let _ = writeln!(
            out,
            "syslog,appname=nginx,facility=daemon,host=web-{:02},severity=info message=\"{message}\",procid=\"{}\",severity_code=6i,timestamp={}i {}",
            rng.below(32),
            rng.below(65536),
            START_NS / 1000 + i as i64,
            START_NS + i as i64 * 1_000_000,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lp::{parse, Precision};

    #[test]
    fn every_sample_parses_cleanly() {
        for (name, body) in [
            ("telegraf", telegraf(1000, 7, 1)),
            ("escaped", escaped(1000, 2)),
            ("wide", wide_strings(1000, 3)),
        ] {
            let arena = bumpalo::Bump::new();
            let parsed = parse(body.as_bytes(), Precision::Nanosecond, &arena).unwrap();
            assert!(
                parsed.errors.is_empty(),
                "{name}: {:?}",
                parsed.errors.first()
            );
            assert_eq!(parsed.points.len(), 1000, "{name}");
        }
    }

    #[test]
    fn escapes_come_out_unescaped() {
        let body = escaped(1, 9);
        let arena = bumpalo::Bump::new();
        let parsed = parse(body.as_bytes(), Precision::Nanosecond, &arena).unwrap();
        let p = parsed.points[0];
        assert_eq!(p.measurement, "disk usage,by mount");
        assert_eq!(p.tags[0].key, "mount point");
        assert_eq!(p.tags[0].value, "C:\\\\Program Files,x86");
        assert_eq!(p.tags[1].key, "label=name");
        assert_eq!(p.fields[1].key, "free,pct");
    }
}
