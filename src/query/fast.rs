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
use arrow_array::types::{Float64Type, Int32Type, TimestampNanosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use hashbrown::HashMap;

use super::condition::TimeRange;
use super::eval::{self, Row};
use super::influxql::{Dimension, Expr, Fill, Select, SelectField, TimeOffset, VarType};
use super::result::{Rows, Series};
use super::select::{fill_linear, finish_series, layout, Layout};
use super::table::{Interner, TableData};
use super::value::Value;
use crate::shard::SEQ_COLUMN;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// One call's accumulators over every bucket of one group.
#[derive(Clone, Debug, Default)]
pub struct Cells {
    count: Vec<u64>,
    value: Vec<f64>,
    time: Vec<i64>,
}

/// A columnar aggregate, planned once and run on every core's batches.
#[derive(Debug)]
pub struct Plan {
    /// The database the table lives in (for asking other cores).
    pub db: String,
    /// The request's time budget (every core checks it).
    pub budget: super::store::Budget,
    select: Select,
    names: Vec<String>,
    table: String,
    range: TimeRange,
    filter: Option<Expr>,
    interval: Option<(i64, TimeOffset)>,
    now: i64,
    calls: Vec<(Kind, String)>,
    group_names: Vec<String>,
}

/// One core's share: per group its cells, per series its time span (so
/// the coordinator can prove no series+time repeats across cores).
#[derive(Debug, Default)]
pub struct Partial {
    /// False: a point may repeat one on this core; merge on the general path.
    ok: bool,
    /// The budget ran out on this core.
    error: Option<String>,
    groups: Vec<(Vec<String>, Vec<Cells>)>,
    series: Vec<(String, i64, i64)>,
    layout: Option<Layout>,
}

impl Plan {
    /// The plan for a SELECT over one stored table, if this path can run it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        select: &Select,
        fields: &[SelectField],
        names: &[String],
        table: &str,
        schema: &TableData,
        range: TimeRange,
        filter: Option<&Expr>,
        interval: Option<(i64, TimeOffset)>,
        now: i64,
    ) -> Option<Plan> {
        let mut calls = Vec::new();
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
            match schema.field(field).map(|f| f.kind) {
                Some(crate::catalog::FieldType::Float) => {}
                Some(crate::catalog::FieldType::Integer | crate::catalog::FieldType::Unsigned)
                    if kind == Kind::Count => {}
                _ => return None,
            }
            calls.push((kind, field.clone()));
        }
        let selectors = calls
            .iter()
            .filter(|(k, _)| matches!(k, Kind::Min | Kind::Max | Kind::First | Kind::Last))
            .count();
        if interval.is_none() && selectors == 1 && calls.len() == 1 {
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
        // The condition may only look at tags (decided once per series).
        if let Some(f) = filter {
            let mut tags_only = true;
            f.walk(&mut |e| match e {
                Expr::VarRef { name, cast }
                    if *cast == Some(VarType::Field) || schema.tag_index(name).is_none() =>
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
        Some(Plan {
            db: String::new(),
            budget: super::store::Budget::unlimited(),
            select: select.clone(),
            names: names.to_vec(),
            table: table.to_string(),
            range,
            filter: filter.cloned(),
            interval,
            now,
            calls,
            group_names,
        })
    }

    /// ORDER BY time DESC (the caller reverses the series order).
    pub fn descending(&self) -> bool {
        self.select.descending
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The fields the plan reads (its filter and groups look at tags only).
    pub fn columns(&self) -> crate::persist::Columns {
        Some(self.calls.iter().map(|(_, f)| f.clone()).collect())
    }

    /// The statement's time range, inclusive.
    pub fn time_span(&self) -> (i64, i64) {
        (self.range.min, self.range.max)
    }

    /// Whether every core can start accumulating right away.
    pub fn layout_known(&self) -> bool {
        self.interval.is_none() || self.range.has_min()
    }
}

/// Runs the plan over one set of batches (a core's, or all of them).
impl Partial {
    /// A core that could not read its rows.
    pub fn failed(error: String) -> Partial {
        Partial {
            ok: true,
            error: Some(error),
            ..Partial::default()
        }
    }
}

pub fn partial(plan: &Plan, batches: &[RecordBatch]) -> Partial {
    let failed = Partial::default();
    let range = plan.range;
    let (tag_keys, _) = super::table::columns_of(batches, &super::table::Wanted::Only(&[]));
    for (kind, field) in &plan.calls {
        for batch in batches {
            if let Ok(i) = batch.schema().index_of(field) {
                match batch.schema().field(i).data_type() {
                    DataType::Float64 => {}
                    DataType::Int64 | DataType::UInt64 if *kind == Kind::Count => {}
                    _ => return failed,
                }
            }
        }
    }

    // Series ids per row, and the proof that no (series, time) repeats.
    let n_keys = tag_keys.len();
    let mut interner = Interner::new(tag_keys);
    let mut first_time: Vec<i64> = Vec::new();
    let mut last_time: Vec<i64> = Vec::new();
    let mut per_batch_series: Vec<Vec<u32>> = Vec::with_capacity(batches.len());
    let mut min_seen = i64::MAX;
    for batch in batches {
        if let Err(e) = plan.budget.check_time() {
            return Partial {
                error: Some(e),
                ..Partial::default()
            };
        }
        let schema = batch.schema();
        if schema.index_of(SEQ_COLUMN).is_err() {
            return failed;
        }
        let times = batch
            .column(0)
            .as_primitive::<TimestampNanosecondType>()
            .values();
        let mut columns = Vec::new();
        for (c, f) in schema.fields().iter().enumerate() {
            if !matches!(f.data_type(), DataType::Dictionary(_, _)) {
                continue;
            }
            let Some(key) = interner.key_index(f.name()) else {
                return failed;
            };
            let dict = batch.column(c).as_dictionary::<Int32Type>();
            let ids = interner.dictionary(key, dict.values().as_string::<i32>());
            let nullable = dict.null_count() > 0;
            columns.push((key, dict, ids, nullable));
        }
        // Mixed-radix key per row over this batch's dictionaries (+1 for null).
        let radix: Vec<usize> = columns.iter().map(|(_, _, ids, _)| ids.len() + 1).collect();
        let Some(space) = radix.iter().try_fold(1usize, |a, &r| a.checked_mul(r)) else {
            return failed;
        };
        let dense = space <= DENSE_LIMIT;
        let mut slots: Vec<u32> = if dense {
            vec![u32::MAX; space]
        } else {
            Vec::new()
        };
        let mut tuple = vec![0u32; n_keys];
        let mut out = Vec::with_capacity(batch.num_rows());
        let key_slices: Vec<&[i32]> = columns
            .iter()
            .map(|(_, dict, _, _)| dict.keys().values().as_ref())
            .collect();
        // The common layouts: one tag column without nulls, and a batch
        // wholly inside the time range, skip their per-row checks.
        let single = (columns.len() == 1 && !columns[0].3).then(|| key_slices[0]);
        let (lo, hi) = times
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        let all_in = lo >= range.min && hi <= range.max;
        for (row, &t) in times.iter().enumerate() {
            if !all_in && (t < range.min || t > range.max) {
                out.push(u32::MAX);
                continue;
            }
            let combined = match single {
                Some(keys) => keys[row] as usize,
                None => {
                    let mut combined = 0usize;
                    for (((_, dict, ids, nullable), keys), r) in
                        columns.iter().zip(&key_slices).zip(&radix)
                    {
                        let k = if *nullable && dict.is_null(row) {
                            ids.len()
                        } else {
                            keys[row] as usize
                        };
                        combined = combined * r + k;
                    }
                    combined
                }
            };
            let cached = if dense { slots[combined] } else { u32::MAX };
            let series = if cached != u32::MAX {
                cached
            } else {
                tuple.iter_mut().for_each(|x| *x = 0);
                for (key, dict, ids, _) in &columns {
                    if dict.is_valid(row) {
                        tuple[*key] = ids[dict.keys().value(row) as usize];
                    }
                }
                let (s, new) = interner.series(&tuple);
                if new {
                    first_time.push(t);
                    last_time.push(i64::MIN);
                }
                if dense {
                    slots[combined] = s;
                }
                s
            };
            let last = &mut last_time[series as usize];
            if t <= *last {
                // A point that may repeat an earlier one: the general path merges.
                return failed;
            }
            *last = t;
            min_seen = min_seen.min(t);
            out.push(series);
        }
        per_batch_series.push(out);
    }
    let first_data = (min_seen != i64::MAX).then_some(min_seen);
    let layout = match layout(
        &plan.select,
        plan.interval.as_ref(),
        plan.range,
        plan.now,
        first_data,
    ) {
        Ok(Some(l)) => l,
        Ok(None) => {
            return Partial {
                ok: true,
                ..Partial::default()
            }
        }
        // Past the bucket guard: the general path words the error.
        Err(_) => return failed,
    };

    // Per series: the filter's verdict and its group.
    let mut groups: HashMap<Vec<String>, usize> = HashMap::new();
    let mut group_keys: Vec<Vec<String>> = Vec::new();
    let mut series_group: Vec<u32> = vec![u32::MAX; interner.len()];
    let mut series_spans = Vec::with_capacity(interner.len());
    for s in 0..interner.len() {
        series_spans.push((interner.key(s), first_time[s], last_time[s]));
        if let Some(f) = &plan.filter {
            let probe = TableData {
                name: Arc::from(plan.table.as_str()),
                tag_keys: interner.tag_keys().to_vec(),
                series: vec![interner.tags(s)],
                row_series: vec![0],
                row_time: vec![0],
                series_rows: std::iter::once(0..1).collect(),
                fields: Vec::new(),
            };
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
        let key: Vec<String> = plan
            .group_names
            .iter()
            .map(|n| {
                interner
                    .key_index(n)
                    .and_then(|k| interner.tag(s, k).map(|v| v.to_string()))
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

    // Accumulate, batch by batch, call by call.
    let Layout {
        start,
        step,
        buckets,
    } = layout;
    let cells = group_keys.len() * buckets;
    let mut accs: Vec<Cells> = plan
        .calls
        .iter()
        .map(|(kind, _)| Cells {
            count: vec![0; cells],
            value: vec![
                match kind {
                    Kind::Min => f64::INFINITY,
                    Kind::Max => f64::NEG_INFINITY,
                    _ => 0.0,
                };
                cells
            ],
            time: if matches!(kind, Kind::First | Kind::Last) {
                vec![0; cells]
            } else {
                Vec::new()
            },
        })
        .collect();
    for (batch, series) in batches.iter().zip(&per_batch_series) {
        let times = batch
            .column(0)
            .as_primitive::<TimestampNanosecondType>()
            .values();
        for ((kind, field), acc) in plan.calls.iter().zip(accs.iter_mut()) {
            let Ok(c) = batch.schema().index_of(field) else {
                continue;
            };
            let column = batch.column(c);
            let nulls = column.logical_nulls();
            let floats = match column.data_type() {
                DataType::Float64 => Some(column.as_primitive::<Float64Type>().values()),
                _ => None,
            };
            for (row, &s) in series.iter().enumerate() {
                if s == u32::MAX {
                    continue;
                }
                let g = series_group[s as usize];
                if g == u32::MAX || nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                    continue;
                }
                let t = times[row];
                let b = if step == 0 {
                    0
                } else {
                    ((t - start) / step) as usize
                };
                if b >= buckets {
                    continue;
                }
                let cell = g as usize * buckets + b;
                acc.count[cell] += 1;
                let Some(floats) = floats else { continue };
                let x = floats[row];
                match kind {
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
                        let wins = acc.count[cell] == 1
                            || if *kind == Kind::First { t < bt } else { t > bt }
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
    // Cells per group.
    let mut out_groups = Vec::with_capacity(group_keys.len());
    for (g, key) in group_keys.into_iter().enumerate() {
        let range = g * buckets..(g + 1) * buckets;
        let cells = accs
            .iter()
            .map(|a| Cells {
                count: a.count[range.clone()].to_vec(),
                value: a.value[range.clone()].to_vec(),
                time: if a.time.is_empty() {
                    Vec::new()
                } else {
                    a.time[range.clone()].to_vec()
                },
            })
            .collect();
        out_groups.push((key, cells));
    }
    Partial {
        ok: true,
        error: None,
        groups: out_groups,
        series: series_spans,
        layout: Some(layout),
    }
}

/// Merges the cores' partials into the answer; `None` when a series and
/// time may occur twice (the general path merges points first).
pub fn finish(plan: &Plan, partials: Vec<Partial>) -> Option<Result<Vec<Series>, String>> {
    if let Some(e) = partials.iter().find_map(|p| p.error.clone()) {
        return Some(Err(e));
    }
    if partials.iter().any(|p| !p.ok) {
        return None;
    }
    // A series on several cores must not overlap in time.
    if partials.len() > 1 {
        let mut spans: HashMap<&str, Vec<(i64, i64)>> = HashMap::new();
        for p in &partials {
            for (key, lo, hi) in &p.series {
                spans.entry(key.as_str()).or_default().push((*lo, *hi));
            }
        }
        for list in spans.values_mut() {
            if list.len() > 1 {
                list.sort_unstable();
                if list.windows(2).any(|w| w[1].0 <= w[0].1) {
                    return None;
                }
            }
        }
    }
    let layout = partials.iter().find_map(|p| p.layout)?;
    if partials
        .iter()
        .filter_map(|p| p.layout)
        .any(|l| l.start != layout.start || l.buckets != layout.buckets)
    {
        return None;
    }
    let mut merged: BTreeMap<Vec<String>, Vec<Cells>> = BTreeMap::new();
    for p in partials {
        for (key, cells) in p.groups {
            match merged.get_mut(&key) {
                None => {
                    merged.insert(key, cells);
                }
                Some(into) => {
                    for ((kind, _), (a, b)) in plan.calls.iter().zip(into.iter_mut().zip(cells)) {
                        for i in 0..a.count.len() {
                            if b.count[i] == 0 {
                                continue;
                            }
                            if a.count[i] == 0 {
                                a.value[i] = b.value[i];
                                if !a.time.is_empty() {
                                    a.time[i] = b.time[i];
                                }
                            } else {
                                match kind {
                                    Kind::Count => {}
                                    Kind::Sum | Kind::Mean => a.value[i] += b.value[i],
                                    Kind::Min => a.value[i] = a.value[i].min(b.value[i]),
                                    Kind::Max => a.value[i] = a.value[i].max(b.value[i]),
                                    Kind::First | Kind::Last => {
                                        let (t, x) = (b.time[i], b.value[i]);
                                        let wins = if *kind == Kind::First {
                                            t < a.time[i]
                                        } else {
                                            t > a.time[i]
                                        } || (t == a.time[i] && x > a.value[i]);
                                        if wins {
                                            a.time[i] = t;
                                            a.value[i] = x;
                                        }
                                    }
                                }
                            }
                            a.count[i] += b.count[i];
                        }
                    }
                }
            }
        }
    }

    // Rows, as the general path shapes them.
    let select = &plan.select;
    let Layout {
        start,
        step,
        buckets,
    } = layout;
    let mut out = Vec::new();
    for (key, cells) in &merged {
        let mut values = Rows::with_capacity(cells.len() + 1, buckets);
        let mut previous: Vec<Value> = vec![Value::Null; cells.len()];
        for b in 0..buckets {
            let empty = cells.iter().all(|c| c.count[b] == 0);
            if empty && (matches!(select.fill, Fill::None) || step == 0) {
                continue;
            }
            let row = std::iter::once(Value::Integer(start + b as i64 * step)).chain(
                plan.calls
                    .iter()
                    .zip(cells)
                    .enumerate()
                    .map(|(c, ((kind, _), acc))| {
                        let n = acc.count[b];
                        let v = if n == 0 {
                            match &select.fill {
                                Fill::Integer(v) => Value::Integer(*v),
                                Fill::Number(v) => Value::Float(*v),
                                Fill::Previous => previous[c].clone(),
                                _ if *kind == Kind::Count => Value::Integer(0),
                                _ => Value::Null,
                            }
                        } else {
                            match kind {
                                Kind::Count => Value::Integer(n as i64),
                                Kind::Mean => Value::Float(acc.value[b] / n as f64),
                                _ => Value::Float(acc.value[b]),
                            }
                        };
                        if n > 0 {
                            previous[c] = v.clone();
                        }
                        v
                    }),
            );
            values.push(row);
        }
        if let Fill::Linear = select.fill {
            fill_linear(&mut values);
        }
        let tags = plan
            .group_names
            .iter()
            .cloned()
            .zip(key.iter().cloned())
            .collect();
        out.extend(finish_series(
            select,
            &plan.table,
            tags,
            &plan.names,
            values,
        ));
    }
    Some(Ok(out))
}

/// The whole path on one thread over every batch (when the batches are at
/// hand already). `None`: not eligible, or points must be merged first.
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
    let schema = super::table::schema(table_name, batches);
    let plan = Plan::new(
        select, fields, names, table_name, &schema, range, filter, interval, now,
    )?;
    finish(&plan, vec![partial(&plan, batches)])?.ok()
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
            let loaded = table::load(
                "m",
                &batches,
                Wanted::All,
                range.min,
                range.max,
                &crate::query::store::Budget::unlimited(),
            )
            .unwrap();
            let general = select::aggregate_table(
                sel,
                &fields,
                &names,
                &loaded,
                range,
                filter.as_ref(),
                interval.clone(),
                now,
                &crate::query::store::Budget::unlimited(),
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
                    for (ra, rb) in a.values.iter().zip(b.values.iter()) {
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
