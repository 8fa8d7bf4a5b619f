//! Results on the wire: JSON (InfluxDB 1.x's exact shape), CSV and msgpack.

use serde_json::{json, Map, Value as Json};

use super::result::{Series, StatementResult};
use super::time::{format_rfc3339, Epoch};
use super::value::Value;

fn time_json(v: &Value, epoch: Epoch, tz: Option<chrono_tz::Tz>) -> Json {
    match (v, epoch) {
        (Value::Integer(ns), Epoch::Rfc3339) => Json::String(match tz {
            Some(tz) => super::time::format_rfc3339_tz(*ns, tz),
            None => format_rfc3339(*ns),
        }),
        (Value::Integer(ns), Epoch::Units(unit)) => Json::from(ns.div_euclid(unit)),
        (other, _) => other.to_json(),
    }
}

fn series_json(s: &Series, epoch: Epoch) -> Json {
    let mut m = Map::new();
    if !s.name.is_empty() {
        m.insert("name".into(), Json::String(s.name.clone()));
    }
    if !s.tags.is_empty() {
        let tags: Map<String, Json> = s
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), Json::String(v.clone())))
            .collect();
        m.insert("tags".into(), Json::Object(tags));
    }
    m.insert("columns".into(), json!(s.columns));
    let values: Vec<Json> = s
        .values
        .iter()
        .map(|row| {
            Json::Array(
                row.iter()
                    .enumerate()
                    .map(|(i, v)| {
                        if i == 0 && s.has_time {
                            time_json(v, epoch, s.tz)
                        } else {
                            v.to_json()
                        }
                    })
                    .collect(),
            )
        })
        .collect();
    if !values.is_empty() {
        m.insert("values".into(), Json::Array(values));
    }
    Json::Object(m)
}

pub fn result_json(r: &StatementResult, epoch: Epoch) -> Json {
    let mut m = Map::new();
    m.insert("statement_id".into(), json!(r.statement_id));
    if !r.series.is_empty() {
        m.insert(
            "series".into(),
            Json::Array(r.series.iter().map(|s| series_json(s, epoch)).collect()),
        );
    }
    if let Some(e) = &r.error {
        m.insert("error".into(), Json::String(e.clone()));
    }
    Json::Object(m)
}

pub fn results_json(results: &[StatementResult], epoch: Epoch) -> Json {
    json!({ "results": results.iter().map(|r| result_json(r, epoch)).collect::<Vec<_>>() })
}

/// Writes a float as Go's encoding/json does: whole numbers without a
/// fraction, NaN/inf (which JSON cannot carry) as null.
fn write_float(out: &mut Vec<u8>, x: f64) {
    if !x.is_finite() {
        out.extend_from_slice(b"null");
    } else if x == x.trunc() && x.abs() < 9.2e18 {
        out.extend_from_slice(itoa::Buffer::new().format(x as i64).as_bytes());
    } else {
        out.extend_from_slice(ryu::Buffer::new().format_finite(x).as_bytes());
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // Most tag values and names need no escaping: copy them whole.
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
    }
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Float(x) => write_float(out, *x),
        Value::Integer(x) => out.extend_from_slice(itoa::Buffer::new().format(*x).as_bytes()),
        Value::Unsigned(x) => out.extend_from_slice(itoa::Buffer::new().format(*x).as_bytes()),
        Value::String(s) => write_str(out, s),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
    }
}

fn write_time(out: &mut Vec<u8>, ns: i64, epoch: Epoch, tz: Option<chrono_tz::Tz>) {
    match epoch {
        Epoch::Units(unit) => {
            out.extend_from_slice(itoa::Buffer::new().format(ns.div_euclid(unit)).as_bytes())
        }
        Epoch::Rfc3339 => {
            let text = match tz {
                Some(tz) => super::time::format_rfc3339_tz(ns, tz),
                None => format_rfc3339(ns),
            };
            out.push(b'"');
            out.extend_from_slice(text.as_bytes());
            out.push(b'"');
        }
    }
}

/// One statement's result written straight to bytes (the hot path for
/// large answers: no intermediate JSON tree), with the `partial` flags of
/// chunked responses.
fn write_result(
    out: &mut Vec<u8>,
    r: &StatementResult,
    epoch: Epoch,
    partial: bool,
    series_partial: bool,
) {
    out.extend_from_slice(b"{\"statement_id\":");
    out.extend_from_slice(itoa::Buffer::new().format(r.statement_id).as_bytes());
    if !r.series.is_empty() {
        out.extend_from_slice(b",\"series\":[");
        for (i, s) in r.series.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'{');
            if !s.name.is_empty() {
                out.extend_from_slice(b"\"name\":");
                write_str(out, &s.name);
                out.push(b',');
            }
            if !s.tags.is_empty() {
                out.extend_from_slice(b"\"tags\":{");
                for (j, (k, v)) in s.tags.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    write_str(out, k);
                    out.push(b':');
                    write_str(out, v);
                }
                out.extend_from_slice(b"},");
            }
            out.extend_from_slice(b"\"columns\":[");
            for (j, c) in s.columns.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                write_str(out, c);
            }
            out.push(b']');
            if !s.values.is_empty() {
                out.extend_from_slice(b",\"values\":[");
                for (j, row) in s.values.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    out.push(b'[');
                    for (c, v) in row.iter().enumerate() {
                        if c > 0 {
                            out.push(b',');
                        }
                        match (c, s.has_time, v) {
                            (0, true, Value::Integer(ns)) => write_time(out, *ns, epoch, s.tz),
                            _ => write_value(out, v),
                        }
                    }
                    out.push(b']');
                }
                out.push(b']');
            }
            if series_partial {
                out.extend_from_slice(b",\"partial\":true");
            }
            out.push(b'}');
        }
        out.push(b']');
    }
    if let Some(e) = &r.error {
        out.extend_from_slice(b",\"error\":");
        write_str(out, e);
    }
    if partial {
        out.extend_from_slice(b",\"partial\":true");
    }
    out.push(b'}');
}

/// The whole answer as one JSON document (and a newline, as InfluxDB ends it).
pub fn write_json(results: &[StatementResult], epoch: Epoch) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"results\":[");
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_result(&mut out, r, epoch, false, false);
    }
    out.extend_from_slice(b"]}\n");
    out
}

/// The response formats `/query` speaks, chosen by the Accept header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Msgpack,
}

impl Format {
    /// InfluxDB's choice: the first acceptable type by preference (q),
    /// JSON when nothing matches.
    pub fn from_accept(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Json;
        };
        let mut ranges: Vec<(f32, &str)> = accept
            .split(',')
            .map(|part| {
                let mut pieces = part.split(';');
                let range = pieces.next().unwrap_or("").trim();
                let q = pieces
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .find_map(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                (q, range)
            })
            .collect();
        ranges.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        for (_, range) in ranges {
            let (kind, sub) = range.split_once('/').unwrap_or((range, ""));
            let kind = kind.trim().to_ascii_lowercase();
            let sub = sub.trim().to_ascii_lowercase();
            for (format, t, s) in [
                (Format::Json, "application", "json"),
                (Format::Csv, "application", "csv"),
                (Format::Csv, "text", "csv"),
                (Format::Msgpack, "application", "x-msgpack"),
            ] {
                if (kind == "*" || kind == t) && (sub == "*" || sub == s) {
                    return format;
                }
            }
        }
        Format::Json
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv",
            Format::Msgpack => "application/x-msgpack",
        }
    }
}

/// One result per statement, split into chunks of at most `chunk_size`
/// rows per series, each chunk one JSON document on its own line, with
/// InfluxDB's `partial` flags.
pub fn chunked_json(results: &[StatementResult], epoch: Epoch, chunk_size: usize) -> Vec<u8> {
    let chunk_size = chunk_size.max(1);
    let mut out = Vec::new();
    let mut emit = |r: StatementResult, partial: bool, series_partial: bool| {
        out.extend_from_slice(b"{\"results\":[");
        write_result(&mut out, &r, epoch, partial, series_partial);
        out.extend_from_slice(b"]}\n");
    };
    for r in results {
        if r.error.is_some() || r.series.is_empty() {
            emit(r.clone(), false, false);
            continue;
        }
        // Every (series, chunk) in order; the last one of the statement closes it.
        let mut pieces: Vec<(Series, bool)> = Vec::new();
        for s in &r.series {
            // Only SELECT answers are split; SHOW answers go whole.
            let rows = s.values.len();
            let chunks: Vec<std::ops::Range<usize>> = if rows == 0 || !s.has_time {
                std::iter::once(0..rows).collect()
            } else {
                (0..rows)
                    .step_by(chunk_size)
                    .map(|start| start..(start + chunk_size).min(rows))
                    .collect()
            };
            let n = chunks.len();
            for (i, range) in chunks.into_iter().enumerate() {
                pieces.push((
                    Series {
                        name: s.name.clone(),
                        tags: s.tags.clone(),
                        columns: s.columns.clone(),
                        values: s.values.slice(range),
                        has_time: s.has_time,
                        tz: s.tz,
                    },
                    i + 1 < n,
                ));
            }
        }
        let n = pieces.len();
        for (i, (series, series_partial)) in pieces.into_iter().enumerate() {
            let piece = StatementResult {
                statement_id: r.statement_id,
                series: vec![series],
                error: None,
            };
            emit(piece, i + 1 < n, series_partial);
        }
    }
    out
}

fn csv_field(out: &mut Vec<u8>, text: &str) {
    // encoding/csv quotes fields with separators, quotes, line breaks or a
    // leading space.
    let needs = text.contains([',', '"', '\r', '\n']) || text.starts_with(' ');
    if needs {
        out.push(b'"');
        out.extend_from_slice(text.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

fn csv_row(out: &mut Vec<u8>, fields: &[String]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(out, f);
    }
    out.push(b'\n');
}

fn csv_value(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Float(x) => format!("{x}"),
        Value::Integer(x) => x.to_string(),
        Value::Unsigned(x) => x.to_string(),
        Value::String(s) => s.to_string(),
        Value::Boolean(b) => b.to_string(),
    }
}

/// Tags as a series key without the measurement (`k=v,k2=v2`, escaped;
/// empty values left out, as InfluxDB's hash key leaves them out).
fn tags_key(tags: &[(String, String)]) -> String {
    let escape = |s: &str| {
        let mut out = String::with_capacity(s.len());
        super::show::push_escaped(&mut out, s, true);
        out
    };
    tags.iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// InfluxDB's CSV: `name,tags,<columns>` headers (again when the columns
/// change), a blank line between statements, times as integers.
pub fn csv(results: &[StatementResult], epoch: Epoch) -> Vec<u8> {
    let unit = match epoch {
        Epoch::Rfc3339 => 1,
        Epoch::Units(u) => u,
    };
    let mut out = Vec::new();
    let mut first = true;
    for r in results {
        if r.series.is_empty() {
            continue;
        }
        if !first {
            out.push(b'\n');
        }
        first = false;
        let mut columns: Option<&Vec<String>> = None;
        for s in &r.series {
            if let Some(c) = columns {
                if c != &s.columns {
                    out.push(b'\n');
                    columns = None;
                }
            }
            if columns.is_none() {
                let header: Vec<String> = ["name".to_string(), "tags".to_string()]
                    .into_iter()
                    .chain(s.columns.iter().cloned())
                    .collect();
                csv_row(&mut out, &header);
                columns = Some(&s.columns);
            }
            let tags = tags_key(&s.tags);
            for row in s.values.iter() {
                let mut fields = vec![s.name.clone(), tags.clone()];
                for (i, v) in row.iter().enumerate() {
                    fields.push(match (i, s.has_time, v) {
                        (0, true, Value::Integer(ns)) => ns.div_euclid(unit).to_string(),
                        _ => csv_value(v),
                    });
                }
                csv_row(&mut out, &fields);
            }
        }
    }
    out
}

/// A whole-request error as CSV.
pub fn csv_error(message: &str) -> Vec<u8> {
    let mut out = Vec::new();
    csv_row(&mut out, &["error".to_string()]);
    csv_row(&mut out, &[message.to_string()]);
    out
}

fn mp_str(out: &mut Vec<u8>, s: &str) {
    rmp::encode::write_str(out, s).expect("writing to a Vec cannot fail");
}

fn mp_value(out: &mut Vec<u8>, v: &Value) {
    use rmp::encode as mp;
    let r = match v {
        Value::Null => mp::write_nil(out).map_err(|_| ()),
        Value::Float(x) => mp::write_f64(out, *x).map_err(|_| ()),
        Value::Integer(x) => mp::write_sint(out, *x).map(|_| ()).map_err(|_| ()),
        Value::Unsigned(x) => mp::write_uint(out, *x).map(|_| ()).map_err(|_| ()),
        Value::String(s) => mp::write_str(out, s).map_err(|_| ()),
        Value::Boolean(b) => mp::write_bool(out, *b).map_err(|_| ()),
    };
    r.expect("writing to a Vec cannot fail");
}

/// A time as msgpack: the timestamp extension InfluxDB (tinylib/msgp) uses,
/// type 5 with seconds (u64) and nanoseconds (u32), big-endian.
fn mp_time(out: &mut Vec<u8>, ns: i64) {
    let secs = ns.div_euclid(1_000_000_000) as u64;
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    rmp::encode::write_ext_meta(out, 12, 5).expect("writing to a Vec cannot fail");
    out.extend_from_slice(&secs.to_be_bytes());
    out.extend_from_slice(&nanos.to_be_bytes());
}

/// InfluxDB's msgpack shape (what influxdb-python decodes by default).
pub fn msgpack(results: &[StatementResult], epoch: Epoch) -> Vec<u8> {
    use rmp::encode as mp;
    let mut out = Vec::new();
    let w = |r: Result<(), ()>| r.expect("writing to a Vec cannot fail");
    w(mp::write_map_len(&mut out, 1).map(|_| ()).map_err(|_| ()));
    mp_str(&mut out, "results");
    w(mp::write_array_len(&mut out, results.len() as u32)
        .map(|_| ())
        .map_err(|_| ()));
    for r in results {
        if let Some(e) = &r.error {
            w(mp::write_map_len(&mut out, 1).map(|_| ()).map_err(|_| ()));
            mp_str(&mut out, "error");
            mp_str(&mut out, e);
            continue;
        }
        w(mp::write_map_len(&mut out, 2).map(|_| ()).map_err(|_| ()));
        mp_str(&mut out, "statement_id");
        w(mp::write_sint(&mut out, r.statement_id as i64)
            .map(|_| ())
            .map_err(|_| ()));
        mp_str(&mut out, "series");
        w(mp::write_array_len(&mut out, r.series.len() as u32)
            .map(|_| ())
            .map_err(|_| ()));
        for s in &r.series {
            let size = 2 + u32::from(!s.name.is_empty()) + u32::from(!s.tags.is_empty());
            w(mp::write_map_len(&mut out, size)
                .map(|_| ())
                .map_err(|_| ()));
            if !s.name.is_empty() {
                mp_str(&mut out, "name");
                mp_str(&mut out, &s.name);
            }
            if !s.tags.is_empty() {
                mp_str(&mut out, "tags");
                w(mp::write_map_len(&mut out, s.tags.len() as u32)
                    .map(|_| ())
                    .map_err(|_| ()));
                for (k, v) in &s.tags {
                    mp_str(&mut out, k);
                    mp_str(&mut out, v);
                }
            }
            mp_str(&mut out, "columns");
            w(mp::write_array_len(&mut out, s.columns.len() as u32)
                .map(|_| ())
                .map_err(|_| ()));
            for c in &s.columns {
                mp_str(&mut out, c);
            }
            mp_str(&mut out, "values");
            w(mp::write_array_len(&mut out, s.values.len() as u32)
                .map(|_| ())
                .map_err(|_| ()));
            for row in s.values.iter() {
                w(mp::write_array_len(&mut out, row.len() as u32)
                    .map(|_| ())
                    .map_err(|_| ()));
                for (i, v) in row.iter().enumerate() {
                    match (i, s.has_time, v, epoch) {
                        (0, true, Value::Integer(ns), Epoch::Rfc3339) => mp_time(&mut out, *ns),
                        (0, true, Value::Integer(ns), Epoch::Units(u)) => {
                            mp_value(&mut out, &Value::Integer(ns.div_euclid(u)))
                        }
                        _ => mp_value(&mut out, v),
                    }
                }
            }
        }
    }
    out
}

/// A whole-request error as msgpack: `{"error": message}`.
pub fn msgpack_error(message: &str) -> Vec<u8> {
    let mut out = Vec::new();
    rmp::encode::write_map_len(&mut out, 1).expect("writing to a Vec cannot fail");
    mp_str(&mut out, "error");
    mp_str(&mut out, message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::result::Rows;
    use std::sync::Arc;

    fn sample() -> Vec<StatementResult> {
        vec![StatementResult {
            statement_id: 0,
            series: vec![Series {
                name: "cpu".into(),
                tags: vec![],
                columns: vec!["time".into(), "v".into(), "s".into()],
                values: Rows::from_rows(
                    3,
                    vec![
                        vec![
                            Value::Integer(1_700_000_000_000_000_000),
                            Value::Float(1.5),
                            Value::String(Arc::from("x")),
                        ],
                        vec![
                            Value::Integer(1_700_000_001_000_000_000),
                            Value::Integer(3),
                            Value::Null,
                        ],
                    ],
                ),
                has_time: true,
                tz: None,
            }],
            error: None,
        }]
    }

    #[test]
    fn msgpack_matches_influxdb_bytes() {
        // InfluxDB 1.6.7's answer to the same rows starts like this.
        let bytes = msgpack(&sample(), Epoch::Rfc3339);
        let expected_prefix: &[u8] = &[
            0x81, 0xa7, b'r', b'e', b's', b'u', b'l', b't', b's', 0x91, 0x82, 0xac,
        ];
        assert_eq!(&bytes[..expected_prefix.len()], expected_prefix);
        let time_ext: &[u8] = &[
            0xc7, 0x0c, 0x05, 0, 0, 0, 0, 0x65, 0x53, 0xf1, 0, 0, 0, 0, 0,
        ];
        assert!(bytes.windows(time_ext.len()).any(|w| w == time_ext));
    }

    #[test]
    fn direct_json_equals_the_tree() {
        for epoch in [Epoch::Rfc3339, Epoch::Units(1_000_000)] {
            let mut results = sample();
            results.push(StatementResult {
                statement_id: 1,
                series: vec![],
                error: Some("database not found: \"x\"".into()),
            });
            let direct: Json = serde_json::from_slice(&write_json(&results, epoch)).unwrap();
            assert_eq!(direct, results_json(&results, epoch));
        }
        let mut out = Vec::new();
        for text in ["plain", "quo\"te", "back\\slash", "tab\t", "ünï"] {
            write_str(&mut out, text);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, text);
            out.clear();
        }
        for x in [3.0, -0.5, 1e-7, 1e21, 0.1 + 0.2, f64::NAN] {
            write_float(&mut out, x);
            out.push(b' ');
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "3 -0.5 1e-7 1e21 0.30000000000000004 null "
        );
    }

    #[test]
    fn csv_like_influxdb() {
        let text = String::from_utf8(csv(&sample(), Epoch::Rfc3339)).unwrap();
        assert_eq!(
            text,
            "name,tags,time,v,s\ncpu,,1700000000000000000,1.5,x\ncpu,,1700000001000000000,3,\n"
        );
    }

    #[test]
    fn accept_negotiation() {
        let cases = [
            (None, Format::Json),
            (Some("application/x-msgpack"), Format::Msgpack),
            (Some("text/csv"), Format::Csv),
            (Some("application/csv"), Format::Csv),
            (
                Some("text/html, application/x-msgpack;q=0.9"),
                Format::Msgpack,
            ),
            (Some("application/json;q=0.5, application/csv"), Format::Csv),
            (Some("*/*"), Format::Json),
            (Some("image/png"), Format::Json),
        ];
        for (accept, want) in cases {
            assert_eq!(Format::from_accept(accept), want, "{accept:?}");
        }
    }
}
