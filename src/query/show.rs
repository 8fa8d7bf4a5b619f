//! SHOW statements: databases, measurements, tag keys and values, field
//! keys, series, retention policies, cardinalities.
//!
//! Beyond InfluxDB 1.x, SHOW TAG VALUES and SHOW SERIES honour a
//! `WHERE time …` range (influxdb#5668).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::condition::{self, TimeRange};
use super::eval::{self, Row};
use super::influxql::{CardinalityOf, Expr, MeasurementRef, ShowFilter, Source, TagKeyMatch};
use super::result::{Rows, Series};
use super::store::Store;
use super::table::{self, TableData, Wanted};
use super::value::Value;
use crate::catalog::ColumnKind;

fn one_column(name: &str, column: &str, values: Vec<Value>) -> Vec<Series> {
    if values.is_empty() {
        return Vec::new();
    }
    vec![Series {
        name: name.to_string(),
        columns: vec![column.to_string()],
        values: values.into_iter().map(|v| vec![v]).collect(),
        ..Default::default()
    }]
}

fn text(s: &str) -> Value {
    Value::String(Arc::from(s))
}

fn paginate<T>(items: Vec<T>, offset: usize, limit: usize) -> Vec<T> {
    items
        .into_iter()
        .skip(offset)
        .take(if limit > 0 { limit } else { usize::MAX })
        .collect()
}

pub fn databases(store: &Store) -> Vec<Series> {
    let names = store
        .catalog
        .database_names()
        .iter()
        .map(|n| text(n))
        .collect();
    one_column("databases", "name", names)
}

/// A duration as Go prints it (InfluxDB's SHOW output): 168h0m0s, 30m0s, 0s.
fn go_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{sec}s"),
        (0, _) => format!("{m}m{sec}s"),
        _ => format!("{h}h{m}m{sec}s"),
    }
}

/// Every database has the one policy hydrant knows, `autogen`, with the
/// database's retention (None: forever) and InfluxDB's shard group rule.
pub fn retention_policies(duration: Option<std::time::Duration>) -> Vec<Series> {
    const DAY: u64 = 86_400;
    let group = match duration.map(|d| d.as_secs()) {
        None => 7 * DAY,
        Some(s) if s < 2 * DAY => 3600,
        Some(s) if s <= 180 * DAY => DAY,
        Some(_) => 7 * DAY,
    };
    let duration = go_duration(duration.unwrap_or_default());
    let group = go_duration(std::time::Duration::from_secs(group));
    vec![Series {
        name: String::new(),
        columns: [
            "name",
            "duration",
            "shardGroupDuration",
            "replicaN",
            "default",
        ]
        .map(String::from)
        .to_vec(),
        values: Rows::from_rows(
            5,
            vec![vec![
                text("autogen"),
                text(&duration),
                text(&group),
                Value::Integer(1),
                Value::Boolean(true),
            ]],
        ),
        ..Default::default()
    }]
}

/// The tables a SHOW's FROM names (all of `db`'s when it has none).
fn tables_of(store: &Store, db: &str, sources: &[Source]) -> Vec<String> {
    let all = store.table_names(db);
    if sources.is_empty() {
        return all;
    }
    let mut out: Vec<String> = all.into_iter().filter(|t| in_sources(sources, t)).collect();
    out.dedup();
    out
}

/// Whether a SHOW's FROM names `table`.
pub(crate) fn in_sources(sources: &[Source], table: &str) -> bool {
    sources.iter().any(|s| match s {
        Source::Measurement(m) => matches_measurement(m, table),
        Source::Subquery(_) => false,
    })
}

fn matches_measurement(m: &MeasurementRef, table: &str) -> bool {
    match (&m.name, &m.regex) {
        (Some(name), _) => name == table,
        (None, Some(re)) => re.regex.is_match(table),
        _ => false,
    }
}

/// Loads a table's series (no fields unless the condition needs them).
fn load_series(
    store: &Store,
    db: &str,
    table_name: &str,
    range: TimeRange,
    condition: Option<&Expr>,
) -> Result<Option<TableData>, String> {
    let Some(batches) = store.batches(db, table_name) else {
        return Ok(None);
    };
    // Only the fields the condition names are read.
    let mut names = Vec::new();
    if let Some(c) = condition {
        super::names_in(c, &mut names);
    }
    table::load(
        table_name,
        batches,
        Wanted::Only(&names),
        range.min,
        range.max,
        &store.budget,
    )
    .map(Some)
}

/// Series of a table that satisfy `condition` (tags, and fields per point).
fn matching_series(table: &TableData, condition: Option<&Expr>) -> Vec<usize> {
    (0..table.series.len())
        .filter(|&s| {
            let rows = table.series_rows[s].clone();
            if rows.is_empty() {
                return false;
            }
            match condition {
                None => true,
                Some(c) if eval::only_tags(c, table) => eval::condition(
                    c,
                    &Row {
                        table,
                        row: rows.start,
                    },
                ),
                Some(c) => rows
                    .into_iter()
                    .any(|row| eval::condition(c, &Row { table, row })),
            }
        })
        .collect()
}

pub fn measurements(
    store: &Store,
    db: &str,
    filter: &ShowFilter,
    with: Option<&MeasurementRef>,
    now: i64,
) -> Result<Vec<Series>, String> {
    let (range, rest) = condition::split(filter.condition.as_ref(), now)?;
    let mut names = Vec::new();
    for t in store.table_names(db) {
        if with.is_some_and(|m| !matches_measurement(m, &t)) {
            continue;
        }
        if rest.is_some() || range != TimeRange::ALL {
            let Some(table) = load_series(store, db, &t, range, rest.as_ref())? else {
                continue;
            };
            if matching_series(&table, rest.as_ref()).is_empty() {
                continue;
            }
        }
        names.push(text(&t));
    }
    Ok(one_column(
        "measurements",
        "name",
        paginate(names, filter.offset, filter.limit),
    ))
}

pub fn tag_keys(store: &Store, db: &str, filter: &ShowFilter) -> Result<Vec<Series>, String> {
    let mut out = Vec::new();
    for t in tables_of(store, db, &filter.sources) {
        let Some(table) = store.catalog.table(db, &t) else {
            continue;
        };
        let mut keys: Vec<Value> = table
            .columns
            .iter()
            .filter(|(_, c)| c.kind == ColumnKind::Tag)
            .map(|(name, _)| text(name))
            .collect();
        keys.sort_by(|a, b| a.compare(b));
        out.extend(one_column(
            &t,
            "tagKey",
            paginate(keys, filter.offset, filter.limit),
        ));
    }
    Ok(out)
}

pub fn field_keys(store: &Store, db: &str, filter: &ShowFilter) -> Result<Vec<Series>, String> {
    let mut out = Vec::new();
    for t in tables_of(store, db, &filter.sources) {
        let Some(table) = store.catalog.table(db, &t) else {
            continue;
        };
        let mut keys: Vec<(String, String)> = table
            .columns
            .iter()
            .filter_map(|(name, c)| match c.kind {
                ColumnKind::Field(kind) => Some((name.to_string(), kind.to_string())),
                ColumnKind::Tag => None,
            })
            .collect();
        keys.sort();
        let keys = paginate(keys, filter.offset, filter.limit);
        if keys.is_empty() {
            continue;
        }
        out.push(Series {
            name: t.clone(),
            columns: vec!["fieldKey".into(), "fieldType".into()],
            values: keys
                .into_iter()
                .map(|(k, v)| vec![text(&k), text(&v)])
                .collect(),
            ..Default::default()
        });
    }
    Ok(out)
}

fn key_matches(key: &TagKeyMatch, name: &str) -> bool {
    match key {
        TagKeyMatch::Eq(k) => k == name,
        TagKeyMatch::Neq(k) => k != name,
        TagKeyMatch::In(list) => list.iter().any(|k| k == name),
        TagKeyMatch::Regex(re) => re.regex.is_match(name),
        TagKeyMatch::NotRegex(re) => !re.regex.is_match(name),
    }
}

pub fn tag_values(
    store: &Store,
    db: &str,
    filter: &ShowFilter,
    key: &TagKeyMatch,
    now: i64,
) -> Result<Vec<Series>, String> {
    let (range, rest) = condition::split(filter.condition.as_ref(), now)?;
    let mut out = Vec::new();
    for t in tables_of(store, db, &filter.sources) {
        let rows = match store.tag_values(db, &t) {
            // No condition: the shards' tag index answers, no rows are read.
            Some(index) if filter.condition.is_none() => index_rows(index, key),
            _ => {
                let Some(table) = load_series(store, db, &t, range, rest.as_ref())? else {
                    continue;
                };
                series_tag_values(&table, key, rest.as_ref())
                    .into_iter()
                    .map(|(k, v)| vec![Value::String(k), Value::String(v)])
                    .collect()
            }
        };
        let rows = rows.limit(filter.offset, filter.limit);
        if !rows.is_empty() {
            out.push(Series {
                name: t.clone(),
                columns: vec!["key".into(), "value".into()],
                values: rows,
                ..Default::default()
            });
        }
    }
    Ok(out)
}

/// (key, value) rows of the tag keys `key` matches, from a tag index
/// (sorted by key, then value).
fn index_rows(index: &crate::shard::TagIndex, key: &TagKeyMatch) -> Rows {
    let (all, ranges) = index.rows();
    let matching: Vec<&std::ops::Range<usize>> = index
        .keys
        .iter()
        .zip(ranges)
        .filter(|((k, _), _)| key_matches(key, k))
        .map(|(_, r)| r)
        .collect();
    match matching.as_slice() {
        // One key (the usual WITH KEY = k): a view of the index.
        [one] => all.slice((*one).clone()),
        many => {
            let mut rows = Rows::new(2);
            for r in many {
                for row in all.slice((*r).clone()).iter() {
                    rows.push(row.iter().cloned());
                }
            }
            rows
        }
    }
}

/// (key, value) pairs of the series that pass `condition`.
fn series_tag_values(
    table: &TableData,
    key: &TagKeyMatch,
    condition: Option<&Expr>,
) -> BTreeSet<(Arc<str>, Arc<str>)> {
    let keys: Vec<usize> = (0..table.tag_keys.len())
        .filter(|&k| key_matches(key, &table.tag_keys[k]))
        .collect();
    let mut pairs: BTreeSet<(Arc<str>, Arc<str>)> = BTreeSet::new();
    if keys.is_empty() {
        return pairs;
    }
    for s in matching_series(table, condition) {
        for &k in &keys {
            if let Some(v) = table.tag(s, k) {
                pairs.insert((table.tag_keys[k].clone(), v.clone()));
            }
        }
    }
    pairs
}

/// Appends `text` escaped as in a series key: `,` and space always, `=`
/// where it would end a tag key or value.
pub(super) fn push_escaped(out: &mut String, text: &str, equals: bool) {
    for c in text.chars() {
        if c == ',' || c == ' ' || (equals && c == '=') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// A series key as InfluxDB prints it: `m,k1=v1,k2=v2` with line-protocol escaping.
fn series_key(table: &TableData, s: usize) -> String {
    let escape = |text: &str, measurement: bool| {
        let mut out = String::with_capacity(text.len());
        push_escaped(&mut out, text, !measurement);
        out
    };
    let mut key = escape(&table.name, true);
    for (k, name) in table.tag_keys.iter().enumerate() {
        if let Some(v) = table.tag(s, k) {
            key.push(',');
            key.push_str(&escape(name, false));
            key.push('=');
            key.push_str(&escape(v, false));
        }
    }
    key
}

pub fn series(
    store: &Store,
    db: &str,
    filter: &ShowFilter,
    now: i64,
) -> Result<Vec<Series>, String> {
    let (range, rest) = condition::split(filter.condition.as_ref(), now)?;
    let mut keys = Vec::new();
    for t in tables_of(store, db, &filter.sources) {
        let Some(table) = load_series(store, db, &t, range, rest.as_ref())? else {
            continue;
        };
        for s in matching_series(&table, rest.as_ref()) {
            keys.push(series_key(&table, s));
        }
    }
    keys.sort();
    let keys = paginate(keys, filter.offset, filter.limit);
    Ok(one_column(
        "",
        "key",
        keys.into_iter().map(|k| text(&k)).collect(),
    ))
}

#[allow(clippy::too_many_arguments)]
pub fn cardinality(
    store: &Store,
    db: &str,
    of: CardinalityOf,
    exact: bool,
    filter: &ShowFilter,
    key: Option<&TagKeyMatch>,
    with: Option<&MeasurementRef>,
    now: i64,
) -> Result<Vec<Series>, String> {
    let count = |series: Vec<Series>| -> usize { series.iter().map(|s| s.values.len()).sum() };
    let unpaged = ShowFilter {
        limit: 0,
        offset: 0,
        ..filter.clone()
    };
    let n = match of {
        CardinalityOf::Measurement => count(measurements(store, db, &unpaged, with, now)?),
        CardinalityOf::Series if exact => {
            // Per measurement, as InfluxDB counts exactly.
            let (range, rest) = condition::split(filter.condition.as_ref(), now)?;
            let mut out = Vec::new();
            for t in tables_of(store, db, &filter.sources) {
                let Some(table) = load_series(store, db, &t, range, rest.as_ref())? else {
                    continue;
                };
                let n = matching_series(&table, rest.as_ref()).len();
                if n > 0 {
                    out.push(Series {
                        name: t,
                        columns: vec!["count".into()],
                        values: Rows::from_rows(1, vec![vec![Value::Integer(n as i64)]]),
                        ..Default::default()
                    });
                }
            }
            return Ok(out);
        }
        CardinalityOf::Series => count(series(store, db, &unpaged, now)?),
        CardinalityOf::TagKey | CardinalityOf::FieldKey | CardinalityOf::TagValues => {
            // Per measurement, as InfluxDB reports them.
            let per_table = match of {
                CardinalityOf::TagKey => tag_keys(store, db, &unpaged)?,
                CardinalityOf::FieldKey => field_keys(store, db, &unpaged)?,
                _ => tag_values(
                    store,
                    db,
                    &unpaged,
                    key.expect("parser requires WITH KEY"),
                    now,
                )?,
            };
            return Ok(per_table
                .into_iter()
                .map(|s| Series {
                    name: s.name,
                    columns: vec!["count".into()],
                    values: Rows::from_rows(1, vec![vec![Value::Integer(s.values.len() as i64)]]),
                    ..Default::default()
                })
                .collect());
        }
    };
    // The estimating forms (InfluxDB answers from a sketch) say so in the
    // column name; the count here is exact either way.
    let column = if exact {
        "count"
    } else {
        "cardinality estimation"
    };
    Ok(vec![Series {
        name: String::new(),
        columns: vec![column.into()],
        values: Rows::from_rows(1, vec![vec![Value::Integer(n as i64)]]),
        ..Default::default()
    }])
}
