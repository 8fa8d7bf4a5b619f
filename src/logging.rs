//! Structured logs: one logfmt line per event on stderr,
//! `ts=… level=… target=… msg="…" key=value…`, filtered by `--log-level`
//! or `RUST_LOG` (env_logger's syntax: `info`, `warn,hydrant::wal=debug`, …).

use std::fmt::Write as _;
use std::io::Write as _;

use log::kv::{Error, Key, Value, VisitSource};

/// Installs the logger; `level` (the flag) wins over `RUST_LOG`; default `info`.
pub fn init(level: Option<&str>) {
    let spec = level
        .map(str::to_owned)
        .or_else(|| std::env::var("RUST_LOG").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "info".into());
    // glommio's reactor logs, at error level, that a file system has no
    // polled I/O (tmpfs, ext4 without O_DIRECT polling): harmless, and
    // alarming on every start. A filter naming glommio keeps it.
    let spec = if spec.contains("glommio") {
        spec
    } else {
        format!("{spec},glommio::reactor=off")
    };
    let mut builder = env_logger::Builder::new();
    builder
        .parse_filters(&spec)
        .target(env_logger::Target::Stderr)
        .format(|buf, record| {
            let line = format_line(
                std::time::SystemTime::now(),
                record.level(),
                record.target(),
                &record.args().to_string(),
                record.key_values(),
            );
            buf.write_all(line.as_bytes())
        });
    // A second init (tests, embedding) keeps the first logger.
    let _ = builder.try_init();
}

fn format_line(
    at: std::time::SystemTime,
    level: log::Level,
    target: &str,
    message: &str,
    fields: &dyn log::kv::Source,
) -> String {
    let ts = chrono::DateTime::<chrono::Utc>::from(at).format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let target = target.strip_prefix("hydrant::").unwrap_or(target);
    let mut line = format!(
        "ts={ts} level={} target={target} msg={}",
        level.as_str().to_ascii_lowercase(),
        quoted(message)
    );
    let mut pairs = Pairs(&mut line);
    let _ = fields.visit(&mut pairs);
    line.push('\n');
    line
}

struct Pairs<'a>(&'a mut String);

impl<'kvs> VisitSource<'kvs> for Pairs<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), Error> {
        let _ = write!(self.0, " {key}={}", quoted(&value.to_string()));
        Ok(())
    }
}

/// A logfmt value: bare when it can be, else double-quoted with escapes.
fn quoted(s: &str) -> String {
    let bare = !s.is_empty()
        && s.chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '"' && c != '=');
    if bare {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn one_logfmt_line_per_event() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let fields: &[(&str, &str)] = &[("core", "0"), ("path", "/a b/c")];
        let line = format_line(
            at,
            log::Level::Warn,
            "hydrant::wal",
            "flush failed:\n\"disk\" full",
            &fields,
        );
        assert_eq!(
            line,
            "ts=2023-11-14T22:13:20.123Z level=warn target=wal msg=\"flush failed:\\n\\\"disk\\\" full\" core=0 path=\"/a b/c\"\n"
        );
    }

    #[test]
    fn values_quoted_only_when_needed() {
        let table = [
            ("plain", "plain"),
            ("", "\"\""),
            ("a=b", "\"a=b\""),
            ("tab\there", "\"tab\\there\""),
            ("back\\slash", "back\\slash"),
        ];
        for (input, want) in table {
            assert_eq!(quoted(input), want, "{input:?}");
        }
    }
}
