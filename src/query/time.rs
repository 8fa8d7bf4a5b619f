//! Time in queries: RFC3339 in and out, epoch precisions, `now()`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// InfluxDB's `epoch` parameter: the unit times are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epoch {
    /// RFC3339 strings (no `epoch` given).
    Rfc3339,
    /// Integers in units of this many nanoseconds.
    Units(i64),
}

impl Epoch {
    pub fn parse(text: Option<&str>) -> Epoch {
        // InfluxDB falls back to nanoseconds for an unknown unit.
        match text {
            None | Some("") => Epoch::Rfc3339,
            Some("h") => Epoch::Units(3_600_000_000_000),
            Some("m") => Epoch::Units(60_000_000_000),
            Some("s") => Epoch::Units(1_000_000_000),
            Some("ms") => Epoch::Units(1_000_000),
            Some("u") | Some("us") | Some("µ") => Epoch::Units(1_000),
            Some(_) => Epoch::Units(1),
        }
    }
}

/// RFC3339 with as many fractional digits as needed (Go's RFC3339Nano).
pub fn format_rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    let Some(t) = DateTime::<Utc>::from_timestamp(secs, nanos) else {
        return ns.to_string();
    };
    let mut out = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// RFC3339 in a time zone (for `tz()`), Go's layout.
pub fn format_rfc3339_tz(ns: i64, tz: chrono_tz::Tz) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    let Some(t) = DateTime::<Utc>::from_timestamp(secs, nanos) else {
        return ns.to_string();
    };
    let local = t.with_timezone(&tz);
    let mut out = local.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    let offset = local.format("%:z").to_string();
    if offset == "+00:00" {
        out.push('Z');
    } else {
        out.push_str(&offset);
    }
    out
}

/// A time string in a WHERE clause: RFC3339 (any offset, optional
/// fraction), `2006-01-02 15:04:05[.fff]`, or a bare date.
pub fn parse_time_string(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return t.timestamp_nanos_opt();
    }
    for layout in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, layout) {
            return Utc.from_utc_datetime(&t).timestamp_nanos_opt();
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Utc
            .from_utc_datetime(&d.and_hms_opt(0, 0, 0)?)
            .timestamp_nanos_opt();
    }
    None
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_like_go() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339(1_700_000_000_500_000_000),
            "2023-11-14T22:13:20.5Z"
        );
        assert_eq!(format_rfc3339(1), "1970-01-01T00:00:00.000000001Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn time_strings() {
        let t = 1_700_000_000_000_000_000;
        assert_eq!(parse_time_string("2023-11-14T22:13:20Z"), Some(t));
        assert_eq!(parse_time_string("2023-11-14 22:13:20"), Some(t));
        assert_eq!(parse_time_string("2023-11-14T23:13:20+01:00"), Some(t));
        assert_eq!(
            parse_time_string("2023-11-14"),
            Some(t - (22 * 3600 + 13 * 60 + 20) * 1_000_000_000)
        );
        assert_eq!(parse_time_string("yesterday"), None);
    }
}
