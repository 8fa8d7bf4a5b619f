//! Telegraf-like line protocol, made fast enough that one loader core keeps
//! a server core busy: every series' lines (measurement, tags, fields) are
//! rendered once, in a few value variants, and a body is those lines copied
//! with a timestamp each.
//!
//! Line `n` of the whole run (counted across connections) is series
//! `n % series` at tick `n / series`; its time is `start + tick * spacing`,
//! so no two lines of a run share a series and a time: every line is a new point.

use std::fmt::Write as _;

/// A measurement, its tags beyond `host`, and its fields (name, is integer).
type Shape = (&'static str, &'static str, &'static [(&'static str, bool)]);

/// What Telegraf's cpu, mem, disk and net inputs send: the measurement,
/// its tags beyond `host`, and its fields (name, integer or float).
const SHAPES: [Shape; 4] = [
    (
        "cpu",
        "cpu=cpu-total",
        &[
            ("usage_user", false),
            ("usage_system", false),
            ("usage_idle", false),
            ("usage_iowait", false),
            ("usage_irq", false),
            ("usage_softirq", false),
            ("usage_steal", false),
            ("usage_nice", false),
            ("usage_guest", false),
            ("usage_guest_nice", false),
        ],
    ),
    (
        "mem",
        "",
        &[
            ("used_percent", false),
            ("active", true),
            ("available", true),
            ("buffered", true),
            ("cached", true),
            ("free", true),
            ("inactive", true),
            ("total", true),
            ("used", true),
            ("available_percent", false),
        ],
    ),
    (
        "disk",
        "device=nvme0n1p2,fstype=ext4,mode=rw,path=/data",
        &[
            ("used_percent", false),
            ("free", true),
            ("total", true),
            ("used", true),
            ("inodes_free", true),
            ("inodes_total", true),
            ("inodes_used", true),
        ],
    ),
    (
        "net",
        "interface=eth0",
        &[
            ("bytes_recv", true),
            ("bytes_sent", true),
            ("packets_recv", true),
            ("packets_sent", true),
            ("err_in", true),
            ("err_out", true),
            ("drop_in", true),
            ("drop_out", true),
        ],
    ),
];

/// Timestamp units (and the `precision` query parameter that says so).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    Ns,
    Us,
    Ms,
    S,
}

impl Precision {
    pub fn parse(s: &str) -> Result<Precision, String> {
        match s {
            "ns" | "n" => Ok(Precision::Ns),
            "us" | "u" => Ok(Precision::Us),
            "ms" => Ok(Precision::Ms),
            "s" => Ok(Precision::S),
            _ => Err(format!("invalid precision {s:?} (use ns, us, ms or s)")),
        }
    }

    /// Nanoseconds per unit.
    pub fn nanos(self) -> i64 {
        match self {
            Precision::Ns => 1,
            Precision::Us => 1_000,
            Precision::Ms => 1_000_000,
            Precision::S => 1_000_000_000,
        }
    }

    /// The v1 spelling (InfluxDB 1.x knows `u`, not `us`).
    pub fn v1(self) -> &'static str {
        match self {
            Precision::Ns => "ns",
            Precision::Us => "u",
            Precision::Ms => "ms",
            Precision::S => "s",
        }
    }

    pub fn v2(self) -> &'static str {
        match self {
            Precision::Ns => "ns",
            Precision::Us => "us",
            Precision::Ms => "ms",
            Precision::S => "s",
        }
    }
}

pub struct Generator {
    series: usize,
    /// Per series, `variants` rendered lines without timestamp, each ending in a space.
    lines: Vec<Vec<u8>>,
    /// Where each variant starts in its series' buffer.
    offsets: Vec<Vec<u32>>,
    variants: usize,
    start: i64,
    spacing: i64,
}

/// splitmix64: cheap, well-mixed values for fields.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Generator {
    /// `series` distinct series of `fields` fields each; times from `start`
    /// (in `precision` units) `spacing` units apart per series.
    pub fn new(series: usize, fields: usize, start: i64, spacing: i64) -> Generator {
        let series = series.max(1);
        let fields = fields.max(1);
        // A few value variants per series, fewer when there are many series
        // (the rendered lines stay within ~64 MiB).
        let variants = (64usize << 20)
            .checked_div(series * (80 + fields * 24))
            .unwrap_or(1)
            .clamp(1, 8);
        let mut lines = Vec::with_capacity(series);
        let mut offsets = Vec::with_capacity(series);
        for s in 0..series {
            let (measurement, tags, shape) = SHAPES[s % SHAPES.len()];
            let host = s / SHAPES.len();
            let mut buf = String::new();
            let mut offs = Vec::with_capacity(variants);
            for v in 0..variants {
                offs.push(buf.len() as u32);
                let _ = write!(buf, "{measurement},host=host-{host:05}");
                if !tags.is_empty() {
                    buf.push(',');
                    buf.push_str(tags);
                }
                buf.push(' ');
                for k in 0..fields {
                    if k > 0 {
                        buf.push(',');
                    }
                    let r = mix(((s as u64) << 20) ^ ((v as u64) << 8) ^ k as u64);
                    let (name, integer) = match shape.get(k) {
                        Some(&(name, integer)) => (name.to_string(), integer),
                        None => (format!("field_{k}"), k % 2 == 0),
                    };
                    if integer {
                        let _ = write!(buf, "{name}={}i", r % 17_179_869_184);
                    } else {
                        let _ = write!(buf, "{name}={}.{:03}", r % 100, (r >> 32) % 1000);
                    }
                }
                buf.push(' ');
            }
            offs.push(buf.len() as u32);
            lines.push(buf.into_bytes());
            offsets.push(offs);
        }
        Generator {
            series,
            lines,
            offsets,
            variants,
            start,
            spacing: spacing.max(1),
        }
    }

    /// Appends lines `first..first + count` of the run to `out`.
    pub fn body(&self, first: u64, count: usize, out: &mut Vec<u8>) {
        let mut ts = itoa::Buffer::new();
        for n in first..first + count as u64 {
            let s = (n % self.series as u64) as usize;
            let tick = n / self.series as u64;
            let v = (tick % self.variants as u64) as usize;
            let offs = &self.offsets[s];
            out.extend_from_slice(&self.lines[s][offs[v] as usize..offs[v + 1] as usize]);
            out.extend_from_slice(
                ts.format(self.start + tick as i64 * self.spacing)
                    .as_bytes(),
            );
            out.push(b'\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_unique_points_that_parse() {
        let g = Generator::new(7, 12, 1_000, 10);
        let mut body = Vec::new();
        g.body(0, 40, &mut body);
        g.body(40, 30, &mut body);
        let arena = bumpalo::Bump::new();
        let parsed = hydrant::lp::parse(&body, hydrant::lp::Precision::Nanosecond, &arena).unwrap();
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(parsed.points.len(), 70);
        let mut keys = std::collections::HashSet::new();
        for p in &parsed.points {
            let tags: Vec<_> = p.tags.iter().map(|t| (t.key, t.value)).collect();
            assert_eq!(p.fields.len(), 12);
            assert!(
                keys.insert((p.measurement, tags, p.timestamp)),
                "repeated point"
            );
        }
        // Line 8 is series 0 again, one tick later.
        let first: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
        assert!(first[0].ends_with(b" 1000"));
        assert!(first[7].ends_with(b" 1010"));
    }
}
