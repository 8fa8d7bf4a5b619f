//! The columnar path for the aggregates dashboards run most:
//! `count/sum/mean/min/max/first/last` of float fields (count of any
//! numeric field), grouped by time and tags, filtered by time and tags.
//!
//! It reads the Arrow batches directly: a series id per row from the
//! dictionary keys (a dense per-batch map, no per-row hashing when the key
//! space is small), per series a group (GROUP BY tags) or a filter verdict,
//! and flat accumulators per (group, bucket). Points are only merged when
//! the same series and time can occur twice; this path proves they cannot
//! (every series' times strictly increase in scan order) and otherwise
//! hands the query back to the general path, which merges.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampNanosecondType, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use hashbrown::HashMap;

use super::condition::TimeRange;
use super::eval::{self, Row};
use super::influxql::{Dimension, Expr, Fill, Select, SelectField, TimeOffset, VarType};
use super::result::Series;
use super::select::{fill_linear, floor_to, limit, zone, zone_offset};
use super::table::TableData;
use super::value::Value;
use crate::shard::SEQ_COLUMN;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Count,
    Sum,
    Mean,
    Min,
    Max,
    First,
    Last,
}

/// Most dense series-map slots per batch before falling back to hashing.
const DENSE_LIMIT: usize = 1 << 22;

/// Accumulators of one call over every (group, bucket) cell.
struct Acc {
    kind: Kind,
    field: String,
    count: Vec<u64>,
    value: Vec<f64>,
    time: Vec<i64>,
}

/// Tries the columnar path. `None`: not eligible here, use the general path.
#[allow(clippy::too_many_arguments)]
pub fn aggregate(
    select: &Select,
    fields: &[SelectField],
    names: &[String],
    table_name: &str,
    batches: &[RecordBatch],
    range: TimeRange,
    filter: Option<&Expr>,
    interval: Option<(i64, TimeOffset)>,
    now: i64,
) -> Option<Vec<Series>> {
    // Eligibility: plain calls on plain field names.
    let mut accs = Vec::new();
    for f in fields {
        let Expr::Call { name, args } = &f.expr else {
            return None;
        };
        let kind = match name.as_str() {
            "count" => Kind::Count,
            "sum" => Kind::Sum,
            "mean" => Kind::Mean,
            "min" => Kind::Min,
            "max" => Kind::Max,
            "first" => Kind::First,
            "last" => Kind::Last,
            _ => return None,
        };
        let [Expr::VarRef {
            name: field,
            cast: None,
        }] = args.as_slice()
        else {
            return None;
        };
        accs.push(Acc {
            kind,
            field: field.clone(),
            count: Vec::new(),
            value: Vec::new(),
            time: Vec::new(),
        });
    }
    let selectors = accs
        .iter()
        .filter(|a| matches!(a.kind, Kind::Min | Kind::Max | Kind::First | Kind::Last))
        .count();
    if interval.is_none() && selectors == 1 && accs.len() == 1 {
        // A lone selector answers with its point's time: the general path.
        return None;
    }
    if select
        .dimensions
        .iter()
        .any(|d| !matches!(d, Dimension::Time { .. } | Dimension::Tag(_)))
    {
        return None;
    }
    if batches.is_empty() {
        return None;
    }

    // The table's tag keys and the fields' types.
    let mut tag_keys: Vec<Arc<str>> = Vec::new();
    for batch in batches {
        for f in batch.schema().fields().iter() {
            if matches!(f.data_type(), DataType::Dictionary(_, _)) {
                let name: Arc<str> = Arc::from(f.name().as_str());
                if !tag_keys.contains(&name) {
                    tag_keys.push(name);
                }
            }
        }
    }
    tag_keys.sort();
    for acc in &accs {
        if tag_keys.iter().any(|k| k.as_ref() == acc.field) {
            return None;
        }
        for batch in batches {
            if let Ok(i) = batch.schema().index_of(&acc.field) {
                match batch.schema().field(i).data_type() {
                    DataType::Float64 => {}
                    DataType::Int64 | DataType::UInt64 if acc.kind == Kind::Count => {}
                    _ => return None,
                }
            }
        }
    }
    // The condition may only look at tags (decided once per series).
    if let Some(f) = filter {
        let mut tags_only = true;
        f.walk(&mut |e| match e {
            Expr::VarRef { name, cast }
                if *cast == Some(VarType::Field)
                    || !tag_keys.iter().any(|k| k.as_ref() == name.as_str()) =>
            {
                tags_only = false;
            }
            Expr::Call { .. } => tags_only = false,
            _ => {}
        });
        if !tags_only {
            return None;
        }
    }

    // Series ids per row, and the proof that no (series, time) repeats.
    let mut value_ids: Vec<HashMap<Arc<str>, u32>> = vec![HashMap::new(); tag_keys.len()];
    let mut value_names: Vec<Vec<Arc<str>>> = vec![Vec::new(); tag_keys.len()];
    let mut series_ids: HashMap<Vec<u32>, u32> = HashMap::new();
    let mut series_tuples: Vec<Vec<u32>> = Vec::new();
    let mut last_time: Vec<i64> = Vec::new();
    let mut per_batch_series: Vec<Vec<u32>> = Vec::with_capacity(batches.len());
    let mut min_seen = i64::MAX;
    for batch in batches {
        let schema = batch.schema();
        schema.index_of(SEQ_COLUMN).ok()?;
        let times = batch
            .column(0)
            .as_primitive::<TimestampNanosecondType>()
            .values();
        let mut columns = Vec::new();
        for (c, f) in schema.fields().iter().enumerate() {
            if !matches!(f.data_type(), DataType::Dictionary(_, _)) {
                continue;
            }
            let key = tag_keys
                .iter()
                .position(|k| k.as_ref() == f.name().as_str())?;
            let dict = batch.column(c).as_dictionary::<Int32Type>();
            let values = dict.values().as_string::<i32>();
            let ids: Vec<u32> = (0..values.len())
                .map(|i| {
                    let v = values.value(i);
                    if let Some(&id) = value_ids[key].get(v) {
                        return id;
                    }
                    let text: Arc<str> = Arc::from(v);
                    value_names[key].push(text.clone());
                    let id = value_names[key].len() as u32;
                    value_ids[key].insert(text, id);
                    id
                })
                .collect();
            columns.push((key, dict, ids));
        }
        // Mixed-radix key per row over this batch's dictionaries (+1 for null).
        let radix: Vec<usize> = columns.iter().map(|(_, _, ids)| ids.len() + 1).collect();
        let space: usize = radix.iter().try_fold(1usize, |a, &r| a.checked_mul(r))?;
        let dense = space <= DENSE_LIMIT;
        let mut slots: Vec<u32> = if dense {
            vec![u32::MAX; space]
        } else {
            Vec::new()
        };
        let mut tuple = vec![0u32; tag_keys.len()];
        let mut out = Vec::with_capacity(batch.num_rows());
        for (row, &t) in times.iter().enumerate() {
            if t < range.min || t > range.max {
                out.push(u32::MAX);
                continue;
            }
            let mut combined = 0usize;
            for ((_, dict, ids), r) in columns.iter().zip(&radix) {
                let k = if dict.is_valid(row) {
                    dict.keys().value(row) as usize
                } else {
                    ids.len()
                };
                combined = combined * r + k;
            }
            let cached = if dense { slots[combined] } else { u32::MAX };
            let series = if cached != u32::MAX {
                cached
            } else {
                tuple.iter_mut().for_each(|x| *x = 0);
                for (key, dict, ids) in &columns {
                    if dict.is_valid(row) {
                        tuple[*key] = ids[dict.keys().value(row) as usize];
                    }
                }
                let s = match series_ids.get(&tuple) {
                    Some(&s) => s,
                    None => {
                        let s = series_tuples.len() as u32;
                        series_tuples.push(tuple.clone());
                        series_ids.insert(tuple.clone(), s);
                        last_time.push(i64::MIN);
                        s
                    }
                };
                if dense {
                    slots[combined] = s;
                }
                s
            };
            let last = &mut last_time[series as usize];
            if t <= *last {
                // A point that may repeat an earlier one: the general path merges.
                return None;
            }
            *last = t;
            min_seen = min_seen.min(t);
            out.push(series);
        }
        per_batch_series.push(out);
    }
    if series_tuples.is_empty() {
        return Some(Vec::new());
    }

    // Per series: its tags, the filter's verdict and its group.
    let mut group_names: Vec<String> = select
        .dimensions
        .iter()
        .filter_map(|d| match d {
            Dimension::Tag(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    group_names.sort();
    group_names.dedup();
    let probe_series = |s: usize| -> TableData {
        TableData {
            name: Arc::from(table_name),
            tag_keys: tag_keys.clone(),
            series: vec![series_tuples[s]
                .iter()
                .enumerate()
                .map(|(k, &id)| (id != 0).then(|| value_names[k][id as usize - 1].clone()))
                .collect()],
            row_series: vec![0],
            row_time: vec![0],
            series_rows: std::iter::once(0..1).collect(),
            fields: Vec::new(),
        }
    };
    let mut groups: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    let mut series_group: Vec<u32> = vec![u32::MAX; series_tuples.len()];
    let mut group_keys: Vec<Vec<String>> = Vec::new();
    for (s, tuple) in series_tuples.iter().enumerate() {
        if let Some(f) = filter {
            let probe = probe_series(s);
            if !eval::condition(
                f,
                &Row {
                    table: &probe,
                    row: 0,
                },
            ) {
                continue;
            }
        }
        let key: Vec<String> = group_names
            .iter()
            .map(|n| {
                tag_keys
                    .iter()
                    .position(|k| k.as_ref() == n.as_str())
                    .and_then(|k| {
                        (tuple[k] != 0).then(|| value_names[k][tuple[k] as usize - 1].to_string())
                    })
                    .unwrap_or_default()
            })
            .collect();
        let next = group_keys.len();
        let g = *groups.entry(key.clone()).or_insert_with(|| {
            group_keys.push(key);
            next
        });
        series_group[s] = g as u32;
    }

    // Buckets.
    let (start, step, buckets) = match &interval {
        Some((every, offset)) => {
            let offset = match offset {
                TimeOffset::Fixed(o) => *o,
                TimeOffset::Now => now.rem_euclid(*every),
            };
            let min = if range.has_min() { range.min } else { min_seen };
            if min == i64::MAX {
                return Some(Vec::new());
            }
            let max = if range.has_max() { range.max } else { now };
            let start = floor_to(min, *every, offset - zone_offset(zone(select), min));
            if max < start {
                return Some(Vec::new());
            }
            let count = (max - start) / every + 1;
            if count > 1_000_000 {
                return None;
            }
            (start, *every, count as usize)
        }
        None => (if range.has_min() { range.min } else { 0 }, 0, 1),
    };
    let cells = group_keys.len() * buckets;
    for acc in accs.iter_mut() {
        acc.count = vec![0; cells];
        acc.value = vec![
            match acc.kind {
                Kind::Min => f64::INFINITY,
                Kind::Max => f64::NEG_INFINITY,
                _ => 0.0,
            };
            cells
        ];
        if matches!(acc.kind, Kind::First | Kind::Last) {
            acc.time = vec![0; cells];
        }
    }

    // Accumulate, batch by batch, column by column.
    for (batch, series) in batches.iter().zip(&per_batch_series) {
        let times = batch
            .column(0)
            .as_primitive::<TimestampNanosecondType>()
            .values();
        for acc in accs.iter_mut() {
            let Ok(c) = batch.schema().index_of(&acc.field) else {
                continue;
            };
            let column = batch.column(c);
            let nulls = column.logical_nulls();
            let floats = match column.data_type() {
                DataType::Float64 => Some(column.as_primitive::<Float64Type>().values()),
                _ => None,
            };
            let _ = (
                column.as_primitive_opt::<Int64Type>(),
                column.as_primitive_opt::<UInt64Type>(),
            );
            for (row, &s) in series.iter().enumerate() {
                if s == u32::MAX {
                    continue;
                }
                let g = series_group[s as usize];
                if g == u32::MAX {
                    continue;
                }
                if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                    continue;
                }
                let t = times[row];
                let b = if step == 0 {
                    0
                } else {
                    ((t - start) / step) as usize
                };
                let cell = g as usize * buckets + b;
                acc.count[cell] += 1;
                let Some(floats) = floats else { continue };
                let x = floats[row];
                match acc.kind {
                    Kind::Count => {}
                    Kind::Sum | Kind::Mean => acc.value[cell] += x,
                    Kind::Min => {
                        if x < acc.value[cell] {
                            acc.value[cell] = x
                        }
                    }
                    Kind::Max => {
                        if x > acc.value[cell] {
                            acc.value[cell] = x
                        }
                    }
                    Kind::First | Kind::Last => {
                        let (bt, bx) = (acc.time[cell], acc.value[cell]);
                        let first = acc.count[cell] == 1;
                        let wins = first
                            || if acc.kind == Kind::First {
                                t < bt
                            } else {
                                t > bt
                            }
                            || (t == bt && x > bx);
                        if wins {
                            acc.time[cell] = t;
                            acc.value[cell] = x;
                        }
                    }
                }
            }
        }
    }

    // Rows, as the general path shapes them.
    let grouped = !select.dimensions.is_empty();
    let mut out = Vec::new();
    for (key, &g) in &groups {
        let mut values: Vec<Vec<Value>> = Vec::new();
        let mut previous: Vec<Value> = vec![Value::Null; accs.len()];
        for b in 0..buckets {
            let cell = g * buckets + b;
            let empty = accs.iter().all(|a| a.count[cell] == 0);
            if empty && (matches!(select.fill, Fill::None) || step == 0) {
                continue;
            }
            let mut row = Vec::with_capacity(accs.len() + 1);
            row.push(Value::Integer(start + b as i64 * step));
            for (c, acc) in accs.iter().enumerate() {
                let n = acc.count[cell];
                let v = if n == 0 {
                    match &select.fill {
                        Fill::Integer(v) => Value::Integer(*v),
                        Fill::Number(v) => Value::Float(*v),
                        Fill::Previous => previous[c].clone(),
                        _ if acc.kind == Kind::Count => Value::Integer(0),
                        _ => Value::Null,
                    }
                } else {
                    match acc.kind {
                        Kind::Count => Value::Integer(n as i64),
                        Kind::Mean => Value::Float(acc.value[cell] / n as f64),
                        _ => Value::Float(acc.value[cell]),
                    }
                };
                if n > 0 {
                    previous[c] = v.clone();
                }
                row.push(v);
            }
            values.push(row);
        }
        if let Fill::Linear = select.fill {
            fill_linear(&mut values);
        }
        if select.descending {
            values.reverse();
        }
        let values = limit(values, select.offset, select.limit);
        if values.is_empty() {
            continue;
        }
        out.push(Series {
            name: table_name.to_string(),
            tags: if grouped {
                group_names
                    .iter()
                    .cloned()
                    .zip(key.iter().cloned())
                    .collect()
            } else {
                Vec::new()
            },
            columns: std::iter::once("time".to_string())
                .chain(names.iter().cloned())
                .collect(),
            values,
            has_time: true,
            tz: zone(select),
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lp::FieldValue;
    use crate::query::condition;
    use crate::query::influxql::{parse_query, Statement};
    use crate::query::select;
    use crate::query::table::{self, Wanted};
    use crate::shard::{append_point, Shard};

    /// Two cores' worth of batches: 12 series (host x dc), one point a
    /// minute for two hours, some without `v`, some rows sealed.
    fn batches() -> Vec<RecordBatch> {
        let mut out = Vec::new();
        for core in 0..2 {
            let mut shard = Shard::default();
            let (db, t): (Arc<str>, Arc<str>) = (Arc::from("db"), Arc::from("m"));
            let index = shard.table_index(&db, &t);
            for i in 0..120i64 {
                for h in 0..6 {
                    if h % 2 != core {
                        continue;
                    }
                    for dc in ["x", "y"] {
                        let host = format!("h{h}");
                        let time = 1_700_000_000_000_000_000 + i * 60_000_000_000 + h;
                        let v = ((i * 37 + h * 11) % 100) as f64 / 4.0;
                        let fields: Vec<(u32, &str, FieldValue<'_>)> = if (i + h) % 7 == 0 {
                            vec![(3, "w", FieldValue::Integer(i))]
                        } else {
                            vec![
                                (2, "v", FieldValue::Float(v)),
                                (3, "w", FieldValue::Integer(i)),
                            ]
                        };
                        append_point(
                            shard.table_at(index),
                            time,
                            i as u64,
                            &[(0, "dc", dc), (1, "host", &host)],
                            &fields,
                        );
                    }
                }
                if i == 50 {
                    shard.table_at(index).seal();
                }
            }
            out.extend(shard.snapshot("db", "m"));
        }
        out
    }

    #[test]
    fn columnar_path_answers_as_the_general_path() {
        let batches = batches();
        let now = 1_700_010_000_000_000_000;
        let queries = [
            "SELECT mean(v) FROM m",
            "SELECT count(v), sum(v), min(v), max(v) FROM m GROUP BY host",
            "SELECT mean(v) FROM m WHERE time >= 1700000000s AND time < 1700003600s GROUP BY time(10m), host",
            "SELECT first(v), last(v) FROM m WHERE time >= 1700000000s AND time < 1700007200s GROUP BY time(15m), dc",
            "SELECT count(w) FROM m WHERE host = 'h1' AND time >= 1700000000s AND time < 1700007200s GROUP BY time(30m)",
            "SELECT mean(v) FROM m WHERE host =~ /h[12]/ AND time >= 1699999000s AND time < 1700002000s GROUP BY time(5m) fill(none)",
            "SELECT max(v) FROM m WHERE time >= 1699999000s AND time < 1700002000s GROUP BY time(5m), host fill(previous)",
            "SELECT sum(v) FROM m WHERE time >= 1699999000s AND time < 1700002000s GROUP BY time(5m) fill(linear)",
            "SELECT mean(v) FROM m WHERE time >= 1699999000s AND time < 1700002000s GROUP BY time(5m) fill(-1) ORDER BY time DESC LIMIT 4",
        ];
        let mut fast_used = 0;
        for q in queries {
            let Statement::Select(sel) = &parse_query(q).unwrap()[0] else {
                panic!()
            };
            let (range, filter) = condition::split(sel.condition.as_ref(), now).unwrap();
            let schema = table::schema("m", &batches);
            let fields = select::expand_fields(sel, std::slice::from_ref(&schema)).unwrap();
            let names = select::column_names(&fields);
            let interval = sel.dimensions.iter().find_map(|d| match d {
                Dimension::Time { interval, offset } => Some((*interval, offset.clone())),
                _ => None,
            });
            let loaded = table::load("m", &batches, Wanted::All, range.min, range.max);
            let general = select::aggregate_table(
                sel,
                &fields,
                &names,
                &loaded,
                range,
                filter.as_ref(),
                interval.clone(),
                now,
            )
            .unwrap();
            if let Some(fast) = aggregate(
                sel,
                &fields,
                &names,
                "m",
                &batches,
                range,
                filter.as_ref(),
                interval,
                now,
            ) {
                fast_used += 1;
                assert_eq!(fast.len(), general.len(), "{q}");
                for (a, b) in fast.iter().zip(&general) {
                    assert_eq!((&a.tags, &a.columns), (&b.tags, &b.columns), "{q}");
                    assert_eq!(a.values.len(), b.values.len(), "{q}");
                    for (ra, rb) in a.values.iter().zip(&b.values) {
                        for (x, y) in ra.iter().zip(rb) {
                            let close = match (x.as_f64(), y.as_f64()) {
                                (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(1.0),
                                _ => x == y,
                            };
                            assert!(close, "{q}: {ra:?} vs {rb:?}");
                        }
                    }
                }
            }
        }
        assert_eq!(
            fast_used,
            queries.len(),
            "every query took the columnar path"
        );
    }

    #[test]
    fn repeated_points_go_to_the_general_path() {
        let mut shard = Shard::default();
        let (db, t): (Arc<str>, Arc<str>) = (Arc::from("db"), Arc::from("m"));
        let index = shard.table_index(&db, &t);
        for seq in 0..2 {
            let fields = [(1, "v", FieldValue::Float(seq as f64))];
            append_point(shard.table_at(index), 5, seq, &[(0, "host", "a")], &fields);
        }
        let batches = shard.snapshot("db", "m");
        let Statement::Select(sel) = &parse_query("SELECT count(v) FROM m").unwrap()[0] else {
            panic!()
        };
        let schema = table::schema("m", &batches);
        let fields = select::expand_fields(sel, std::slice::from_ref(&schema)).unwrap();
        let names = select::column_names(&fields);
        let fast = aggregate(
            sel,
            &fields,
            &names,
            "m",
            &batches,
            TimeRange::ALL,
            None,
            None,
            0,
        );
        assert!(
            fast.is_none(),
            "a repeated series and time must be merged first"
        );
    }
}
