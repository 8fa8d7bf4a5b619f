//! SELECT: projections, raw rows, aggregates over GROUP BY time buckets and
//! tags, fill, ordering and limits, over tables built by `table::load`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::condition::{self, TimeRange};
use super::eval::{self, condition as row_condition, Row};
use super::influxql::{Dimension, Expr, Fill, Select, SelectField, Source, TimeOffset, VarType};
use super::result::{Rows, Series};
use super::store::{Budget, Store};
use super::table::{self, TableData, Wanted};
use super::transform;
use super::value::Value;

const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "mean",
    "median",
    "mode",
    "spread",
    "stddev",
    "min",
    "max",
    "first",
    "last",
    "percentile",
    "distinct",
    "integral",
    "top",
    "bottom",
    "sample",
];
const SELECTORS: &[&str] = &[
    "min",
    "max",
    "first",
    "last",
    "percentile",
    "top",
    "bottom",
    "sample",
];

/// Most buckets one query may produce (a guard against `time(1ns)` over years).
const MAX_BUCKETS: i64 = 1_000_000;

fn is_aggregate(name: &str) -> bool {
    AGGREGATES.contains(&name)
}

/// Runs a SELECT against `db`.
pub fn run(
    store: &Store,
    select: &Select,
    db: Option<&str>,
    now: i64,
) -> Result<Vec<Series>, String> {
    let (range, filter) = condition::split(select.condition.as_ref(), now)?;
    let inputs = resolve_sources(store, &select.sources, db, now)?;
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let tables: Vec<TableData> = inputs.iter().map(Input::schema).collect();
    let Prepared {
        fields,
        names,
        aggregate,
        interval,
    } = prepare(select, &tables)?;
    // Transformations look one bucket before the range: load it too.
    let load_from = if fields.iter().any(|f| top_transform(&f.expr).is_some()) {
        i64::MIN
    } else {
        range.min
    };
    let read = super::names_read(select);
    let mut out = Vec::new();
    for input in inputs {
        let loaded;
        let table = match input {
            Input::Named { name, batches, .. } => {
                if aggregate {
                    let fast = super::fast::aggregate(
                        select,
                        &fields,
                        &names,
                        &name,
                        batches,
                        range,
                        filter.as_ref(),
                        interval.clone(),
                        now,
                    );
                    if let Some(series) = fast {
                        out.extend(series);
                        continue;
                    }
                }
                // Only the fields the statement names (a wide table's others
                // would be materialised for nothing).
                let wanted = match &read {
                    Some(names) => Wanted::Only(names),
                    None => Wanted::All,
                };
                loaded = table::load(&name, batches, wanted, load_from, range.max, &store.budget)?;
                &loaded
            }
            Input::Data(ref data) => data,
        };
        let series = if aggregate {
            aggregate_table(
                select,
                &fields,
                &names,
                table,
                range,
                filter.as_ref(),
                interval.clone(),
                now,
                &store.budget,
            )?
        } else {
            raw_table(
                select,
                &fields,
                &names,
                table,
                range,
                filter.as_ref(),
                &store.budget,
            )?
        };
        out.extend(series);
    }
    // ORDER BY time DESC reverses the series order too, as InfluxDB does.
    if select.descending {
        out.reverse();
    }
    // SLIMIT / SOFFSET count series across the whole statement.
    let out: Vec<Series> = out
        .into_iter()
        .skip(select.soffset)
        .take(if select.slimit > 0 {
            select.slimit
        } else {
            usize::MAX
        })
        .collect();
    Ok(out)
}

/// A SELECT's projections resolved against the tables it reads.
pub struct Prepared {
    pub fields: Vec<SelectField>,
    pub names: Vec<String>,
    pub aggregate: bool,
    pub interval: Option<(i64, TimeOffset)>,
}

/// Expands wildcards, names the columns and checks the statement's shape.
pub fn prepare(select: &Select, tables: &[TableData]) -> Result<Prepared, String> {
    let mut fields = Vec::new();
    for f in expand_fields(select, tables)? {
        // top(v, host, 3): `host` is also a column, read from each picked point.
        let extra: Vec<SelectField> = match &f.expr {
            Expr::Call { name, args } if (name == "top" || name == "bottom") && args.len() > 2 => {
                args[1..args.len() - 1]
                    .iter()
                    .map(|a| SelectField {
                        expr: a.clone(),
                        alias: None,
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        fields.push(f);
        fields.extend(extra);
    }
    let aggregate = fields.iter().any(|f| has_aggregate(&f.expr));
    // Selecting only tags (or unknown names) yields nothing, as in InfluxDB 1.x.
    let names = column_names(&fields);
    let interval = select.dimensions.iter().find_map(|d| match d {
        Dimension::Time { interval, offset } => Some((*interval, offset.clone())),
        _ => None,
    });
    for f in &fields {
        if let Some((name, args)) = top_transform(&f.expr) {
            transform::validate(name, args)?;
            let inner_aggregate = args.first().is_some_and(has_aggregate);
            if !inner_aggregate && (aggregate || interval.is_some()) {
                return Err(format!(
                    "aggregate function required inside the call to {name}"
                ));
            }
        }
    }
    if !aggregate
        && fields.iter().any(|f| top_transform(&f.expr).is_some())
        && !fields.iter().all(|f| top_transform(&f.expr).is_some())
    {
        return Err("mixing aggregate and non-aggregate queries is not supported".into());
    }
    if interval.is_some() && !aggregate {
        return Err("GROUP BY requires at least one aggregate function".into());
    }
    Ok(Prepared {
        fields,
        names,
        aggregate,
        interval,
    })
}

/// A table a SELECT reads: stored batches (loaded only if the columnar path
/// declines), or a subquery's answer.
enum Input<'s> {
    Named {
        name: String,
        batches: &'s [arrow_array::RecordBatch],
        schema: TableData,
    },
    Data(TableData),
}

impl Input<'_> {
    /// The table's shape without its rows (for expanding `*` and regexes).
    fn schema(&self) -> TableData {
        match self {
            Input::Named { schema, .. } => schema.clone(),
            Input::Data(t) => TableData {
                name: t.name.clone(),
                tag_keys: t.tag_keys.clone(),
                fields: t
                    .fields
                    .iter()
                    .map(|f| table::FieldColumn {
                        name: f.name.clone(),
                        kind: f.kind,
                        values: Vec::new(),
                    })
                    .collect(),
                ..Default::default()
            },
        }
    }

    fn name(&self) -> &str {
        match self {
            Input::Named { name, .. } => name,
            Input::Data(t) => &t.name,
        }
    }
}

/// Every table the sources name (regexes matched against the catalog,
/// subqueries evaluated), in name order.
fn resolve_sources<'s>(
    store: &'s Store,
    sources: &[Source],
    db: Option<&str>,
    now: i64,
) -> Result<Vec<Input<'s>>, String> {
    let mut names: Vec<(String, String)> = Vec::new();
    let mut out = Vec::new();
    for source in sources {
        match source {
            Source::Measurement(m) => {
                let database = m
                    .database
                    .as_deref()
                    .filter(|d| !d.is_empty())
                    .or(db)
                    .ok_or("database name required")?;
                let database = super::database_for(database, m.retention_policy.as_deref());
                if let Some(name) = &m.name {
                    names.push((database, name.clone()));
                } else if let Some(re) = &m.regex {
                    for table in store.table_names(&database) {
                        if re.regex.is_match(&table) {
                            names.push((database.clone(), table));
                        }
                    }
                }
            }
            Source::Subquery(inner) => {
                let series = run(store, inner, db, now)?;
                out.extend(tables_from_series(series).into_iter().map(Input::Data));
            }
        }
    }
    names.sort();
    names.dedup();
    for (database, name) in names {
        if let Some(batches) = store.batches(&database, &name) {
            out.push(Input::Named {
                schema: table::schema(&name, batches),
                name,
                batches,
            });
        }
    }
    out.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(out)
}

/// A subquery's result as tables: its tags stay tags, its columns become fields.
fn tables_from_series(series: Vec<Series>) -> Vec<TableData> {
    let mut by_name: BTreeMap<String, Vec<Series>> = BTreeMap::new();
    for s in series {
        by_name.entry(s.name.clone()).or_default().push(s);
    }
    by_name
        .into_iter()
        .map(|(name, list)| {
            let mut tag_keys: Vec<Arc<str>> = list
                .iter()
                .flat_map(|s| s.tags.iter().map(|(k, _)| Arc::from(k.as_str())))
                .collect();
            tag_keys.sort();
            tag_keys.dedup();
            let mut columns: Vec<String> = Vec::new();
            for s in &list {
                for c in s.columns.iter().skip(1) {
                    if !columns.contains(c) {
                        columns.push(c.clone());
                    }
                }
            }
            let mut t = TableData {
                name: Arc::from(name.as_str()),
                tag_keys: tag_keys.clone(),
                ..Default::default()
            };
            t.fields = columns
                .iter()
                .map(|c| table::FieldColumn {
                    name: Arc::from(c.as_str()),
                    kind: crate::catalog::FieldType::Float,
                    values: Vec::new(),
                })
                .collect();
            for s in &list {
                let tags: Vec<Option<Arc<str>>> = tag_keys
                    .iter()
                    .map(|k| {
                        s.tags
                            .iter()
                            .find(|(key, _)| key.as_str() == k.as_ref())
                            .map(|(_, v)| Arc::from(v.as_str()))
                    })
                    .collect();
                let sid = t.series.len();
                t.series.push(tags);
                let start = t.row_time.len();
                let mut rows: Vec<&[Value]> = s.values.iter().collect();
                rows.sort_by_key(|r| match r[0] {
                    Value::Integer(t) => t,
                    _ => 0,
                });
                for row in rows {
                    t.row_series.push(sid as u32);
                    t.row_time.push(match row[0] {
                        Value::Integer(t) => t,
                        _ => 0,
                    });
                    for f in t.fields.iter_mut() {
                        let v = s
                            .columns
                            .iter()
                            .position(|c| c.as_str() == f.name.as_ref())
                            .map(|i| row[i].clone())
                            .unwrap_or(Value::Null);
                        f.values.push(v);
                    }
                }
                t.series_rows.push(start..t.row_time.len());
            }
            t
        })
        .collect()
}

/// `derivative(x, 1s)` and friends at the top of a projection.
fn top_transform(expr: &Expr) -> Option<(&str, &[Expr])> {
    match expr {
        Expr::Call { name, args } if transform::is_transform(name) => Some((name, args)),
        _ => None,
    }
}

fn has_aggregate(expr: &Expr) -> bool {
    let mut found = false;
    expr.walk(&mut |e| {
        if let Expr::Call { name, .. } = e {
            if is_aggregate(name) {
                found = true;
            }
        }
    });
    found
}

fn references_field(expr: &Expr, tables: &[TableData]) -> bool {
    let mut found = false;
    expr.walk(&mut |e| {
        if let Expr::VarRef { name, cast } = e {
            if *cast != Some(VarType::Tag) && tables.iter().any(|t| t.field(name).is_some()) {
                found = true;
            }
        }
    });
    found
}

/// Wildcards and regexes in the SELECT list, expanded against the tables'
/// fields (and, for raw `*`, tags), sorted by name as InfluxDB does.
pub(super) fn expand_fields(
    select: &Select,
    tables: &[TableData],
) -> Result<Vec<SelectField>, String> {
    let mut field_names: Vec<(String, bool)> = Vec::new(); // (name, numeric)
    let mut tag_names: Vec<String> = Vec::new();
    let dims: Vec<&String> = select
        .dimensions
        .iter()
        .filter_map(|d| match d {
            Dimension::Tag(t) => Some(t),
            _ => None,
        })
        .collect();
    let wildcard_group = select
        .dimensions
        .iter()
        .any(|d| matches!(d, Dimension::Wildcard));
    for t in tables {
        for f in &t.fields {
            if !field_names
                .iter()
                .any(|(n, _)| n.as_str() == f.name.as_ref())
            {
                let numeric = matches!(
                    f.kind,
                    crate::catalog::FieldType::Float
                        | crate::catalog::FieldType::Integer
                        | crate::catalog::FieldType::Unsigned
                );
                field_names.push((f.name.to_string(), numeric));
            }
        }
        for k in &t.tag_keys {
            let grouped = wildcard_group || dims.iter().any(|d| d.as_str() == k.as_ref());
            if !grouped && !tag_names.iter().any(|n| n.as_str() == k.as_ref()) {
                tag_names.push(k.to_string());
            }
        }
    }
    field_names.sort();
    tag_names.sort();
    let mut out = Vec::new();
    for f in &select.fields {
        match &f.expr {
            Expr::Wildcard(kind) => {
                let mut all: Vec<(String, Option<VarType>)> = Vec::new();
                if *kind != Some(VarType::Tag) {
                    all.extend(field_names.iter().map(|(n, _)| (n.clone(), None)));
                }
                if *kind != Some(VarType::Field) {
                    all.extend(tag_names.iter().map(|n| (n.clone(), Some(VarType::Tag))));
                }
                all.sort();
                for (name, cast) in all {
                    out.push(SelectField {
                        expr: Expr::VarRef { name, cast },
                        alias: None,
                    });
                }
            }
            Expr::Regex(re) => {
                let mut all: Vec<(String, Option<VarType>)> = field_names
                    .iter()
                    .filter(|(n, _)| re.regex.is_match(n))
                    .map(|(n, _)| (n.clone(), None))
                    .chain(
                        tag_names
                            .iter()
                            .filter(|n| re.regex.is_match(n))
                            .map(|n| (n.clone(), Some(VarType::Tag))),
                    )
                    .collect();
                all.sort();
                for (name, cast) in all {
                    out.push(SelectField {
                        expr: Expr::VarRef { name, cast },
                        alias: None,
                    });
                }
            }
            Expr::Call { name, args }
                if matches!(args.first(), Some(Expr::Wildcard(_)) | Some(Expr::Regex(_))) =>
            {
                let numeric_only = !matches!(
                    name.as_str(),
                    "count" | "first" | "last" | "distinct" | "mode" | "sample" | "min" | "max"
                ) || matches!(name.as_str(), "min" | "max");
                for (field, numeric) in &field_names {
                    let matches = match &args[0] {
                        Expr::Regex(re) => re.regex.is_match(field),
                        _ => true,
                    };
                    if !matches || (numeric_only && !numeric) {
                        continue;
                    }
                    let mut new_args = args.clone();
                    new_args[0] = Expr::VarRef {
                        name: field.clone(),
                        cast: None,
                    };
                    out.push(SelectField {
                        expr: Expr::Call {
                            name: name.clone(),
                            args: new_args,
                        },
                        alias: Some(format!(
                            "{}_{field}",
                            f.alias.clone().unwrap_or_else(|| name.clone())
                        )),
                    });
                }
            }
            _ => out.push(f.clone()),
        }
    }
    // `SELECT time, …`: time is always the first column anyway.
    out.retain(|f| !matches!(&f.expr, Expr::VarRef { name, .. } if name == "time"));
    Ok(out)
}

/// InfluxDB's column naming: alias, call name, var name, or the names in a
/// binary expression joined by `_`; clashes get `_1`, `_2`, …
pub(super) fn column_names(fields: &[SelectField]) -> Vec<String> {
    fn base(expr: &Expr) -> String {
        match expr {
            Expr::Call { name, .. } => name.clone(),
            Expr::Paren(inner) => base(inner),
            Expr::VarRef { name, .. } => name.clone(),
            Expr::Binary { .. } => {
                let mut parts = Vec::new();
                collect(expr, &mut parts);
                parts.join("_")
            }
            _ => String::new(),
        }
    }
    fn collect(expr: &Expr, parts: &mut Vec<String>) {
        match expr {
            Expr::VarRef { name, .. } => parts.push(name.clone()),
            Expr::Call { name, .. } => parts.push(name.clone()),
            Expr::Binary { lhs, rhs, .. } => {
                collect(lhs, parts);
                collect(rhs, parts);
            }
            Expr::Paren(inner) => collect(inner, parts),
            _ => {}
        }
    }
    let mut out: Vec<Option<String>> = fields.iter().map(|f| f.alias.clone()).collect();
    let mut seen: hashbrown::HashMap<String, usize> = hashbrown::HashMap::new();
    seen.insert("time".into(), 1);
    for name in out.iter().flatten() {
        seen.insert(name.clone(), 1);
    }
    for (i, f) in fields.iter().enumerate() {
        if out[i].is_some() {
            continue;
        }
        let mut name = base(&f.expr);
        if let Some(&count) = seen.get(&name) {
            let mut n = count;
            loop {
                let candidate = format!("{name}_{n}");
                if !seen.contains_key(&candidate) {
                    seen.insert(name.clone(), n + 1);
                    name = candidate;
                    break;
                }
                n += 1;
            }
        }
        seen.insert(name.clone(), 1);
        out[i] = Some(name);
    }
    out.into_iter().map(Option::unwrap_or_default).collect()
}

/// The GROUP BY tag keys for a table, sorted.
fn group_keys(select: &Select, table: &TableData) -> Vec<usize> {
    let mut keys: Vec<usize> = Vec::new();
    for d in &select.dimensions {
        match d {
            Dimension::Tag(name) => {
                if let Some(k) = table.tag_index(name) {
                    keys.push(k);
                }
            }
            Dimension::Wildcard => keys.extend(0..table.tag_keys.len()),
            Dimension::Regex(re) => keys.extend(
                (0..table.tag_keys.len()).filter(|&k| re.regex.is_match(&table.tag_keys[k])),
            ),
            Dimension::Time { .. } => {}
        }
    }
    keys.sort_by(|&a, &b| table.tag_keys[a].cmp(&table.tag_keys[b]));
    keys.dedup();
    keys
}

/// Tag names of the GROUP BY, including those the table lacks (empty values).
fn group_tag_names(select: &Select, table: &TableData) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for d in &select.dimensions {
        match d {
            Dimension::Tag(name) => names.push(name.clone()),
            Dimension::Wildcard | Dimension::Regex(_) => names.extend(
                group_keys(select, table)
                    .into_iter()
                    .map(|k| table.tag_keys[k].to_string()),
            ),
            Dimension::Time { .. } => {}
        }
    }
    names.sort();
    names.dedup();
    names
}

/// A GROUP BY tag set and its rows (time-ordered).
type Group = (Vec<(String, String)>, Vec<usize>);

/// Series of a table grouped by the GROUP BY tags, in output order, each
/// with its rows merged by time. Series failing a tag-only condition are
/// dropped here.
fn groups(
    select: &Select,
    table: &TableData,
    filter: Option<&Expr>,
    range: TimeRange,
) -> Vec<Group> {
    let names = group_tag_names(select, table);
    let tag_filter = filter.filter(|f| eval::only_tags(f, table));
    let mut by_key: BTreeMap<Vec<String>, Vec<usize>> = BTreeMap::new();
    for s in 0..table.series.len() {
        let rows = table.series_rows[s].clone();
        if rows.is_empty() {
            continue;
        }
        if let Some(f) = tag_filter {
            let row = Row {
                table,
                row: rows.start,
            };
            if !row_condition(f, &row) {
                continue;
            }
        }
        let key: Vec<String> = names
            .iter()
            .map(|n| {
                table
                    .tag_index(n)
                    .and_then(|k| table.tag(s, k))
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            })
            .collect();
        let list = by_key.entry(key).or_default();
        for row in rows {
            let t = table.row_time[row];
            if t < range.min || t > range.max {
                continue;
            }
            if let Some(f) = filter {
                if tag_filter.is_none() && !row_condition(f, &Row { table, row }) {
                    continue;
                }
            }
            list.push(row);
        }
    }
    by_key
        .into_iter()
        .filter(|(_, rows)| !rows.is_empty())
        .map(|(key, mut rows)| {
            // Stable: equal times keep series order.
            rows.sort_by_key(|&r| table.row_time[r]);
            (names.iter().cloned().zip(key).collect(), rows)
        })
        .collect()
}

fn raw_table(
    select: &Select,
    fields: &[SelectField],
    names: &[String],
    table: &TableData,
    range: TimeRange,
    filter: Option<&Expr>,
    budget: &Budget,
) -> Result<Vec<Series>, String> {
    let field_backed: Vec<bool> = fields
        .iter()
        .map(|f| references_field(&f.expr, std::slice::from_ref(table)))
        .collect();
    let transforms = fields.iter().all(|f| top_transform(&f.expr).is_some());
    let mut out = Vec::new();
    for (tags, rows) in groups(select, table, filter, range) {
        budget.check_time()?;
        let mut values: Vec<Vec<Value>> = Vec::new();
        if transforms {
            values = raw_transforms(fields, table, &rows);
        }
        for &r in rows.iter().filter(|_| !transforms) {
            let row = Row { table, row: r };
            let mut out_row = Vec::with_capacity(fields.len() + 1);
            out_row.push(Value::Integer(row.time()));
            let mut any = false;
            for (i, f) in fields.iter().enumerate() {
                let v = eval::eval(&f.expr, &row);
                if field_backed[i] && !v.is_null() {
                    any = true;
                }
                out_row.push(v);
            }
            if any {
                values.push(out_row);
            }
        }
        let values = Rows::from_rows(names.len() + 1, values);
        out.extend(finish_series(select, &table.name, tags, names, values));
    }
    Ok(out)
}

/// Rows of a raw query whose projections are all transformations: each
/// runs over the group's points in time order; a row is kept where any
/// transformation produced a value.
fn raw_transforms(fields: &[SelectField], table: &TableData, rows: &[usize]) -> Vec<Vec<Value>> {
    let columns: Vec<Vec<Value>> = fields
        .iter()
        .map(|f| {
            let (name, args) = top_transform(&f.expr).expect("checked by the caller");
            let points: Vec<(i64, Value)> = rows
                .iter()
                .map(|&r| {
                    let row = Row { table, row: r };
                    let v = args.first().map_or(Value::Null, |a| eval::eval(a, &row));
                    (row.time(), v)
                })
                .collect();
            transform::apply(name, args, &points, 1_000_000_000)
        })
        .collect();
    (0..rows.len())
        .filter(|&i| columns.iter().any(|c| !c[i].is_null()))
        .map(|i| {
            std::iter::once(Value::Integer(table.row_time[rows[i]]))
                .chain(columns.iter().map(|c| c[i].clone()))
                .collect()
        })
        .collect()
}

/// A SELECT's series as it is answered: rows in the statement's order,
/// OFFSET/LIMIT applied, tags only with a GROUP BY; `None` when no row is left.
pub(super) fn finish_series(
    select: &Select,
    name: &str,
    tags: Vec<(String, String)>,
    names: &[String],
    mut values: Rows,
) -> Option<Series> {
    if select.descending {
        values.reverse();
    }
    let values = values.limit(select.offset, select.limit);
    if values.is_empty() {
        return None;
    }
    Some(Series {
        name: name.to_string(),
        tags: if select.dimensions.is_empty() {
            Vec::new()
        } else {
            tags
        },
        columns: std::iter::once("time".to_string())
            .chain(names.iter().cloned())
            .collect(),
        values,
        has_time: true,
        tz: zone(select),
    })
}

/// A selected point: its time and row (for a selector's time and the
/// extra columns next to it).
type Picked = Option<(i64, usize)>;

#[allow(clippy::too_many_arguments)]
pub(super) fn aggregate_table(
    select: &Select,
    projections: &[SelectField],
    names: &[String],
    table: &TableData,
    range: TimeRange,
    filter: Option<&Expr>,
    interval: Option<(i64, TimeOffset)>,
    now: i64,
    budget: &Budget,
) -> Result<Vec<Series>, String> {
    // Transformations run over the bucket values of their inner expression.
    let transforms: Vec<Option<(&str, &[Expr])>> =
        projections.iter().map(|f| top_transform(&f.expr)).collect();
    let inner_fields: Vec<SelectField> = projections
        .iter()
        .map(|f| match top_transform(&f.expr) {
            Some((_, args)) => SelectField {
                expr: args.first().cloned().unwrap_or(Expr::Boolean(false)),
                alias: None,
            },
            None => f.clone(),
        })
        .collect();
    let fields = &inner_fields[..];
    let calls: Vec<&Expr> = fields
        .iter()
        .flat_map(|f| {
            let mut found = Vec::new();
            collect_calls(&f.expr, &mut found);
            found
        })
        .collect();
    for call in &calls {
        validate_call(call)?;
    }
    let single_selector = calls.len() == 1
        && matches!(calls[0], Expr::Call { name, .. } if SELECTORS.contains(&name.as_str()));
    // Calls that answer several rows per bucket.
    let multi = calls.iter().find_map(|c| match c {
        Expr::Call { name, args }
            if matches!(name.as_str(), "top" | "bottom" | "distinct" | "sample") =>
        {
            Some((name.as_str(), args.as_slice()))
        }
        _ => None,
    });
    if let Some((name, _)) = multi {
        if name == "distinct" && (calls.len() > 1 || fields.len() > 1) {
            return Err(
                "aggregate function distinct() cannot be combined with other functions or fields"
                    .into(),
            );
        }
        if calls.len() > 1 {
            return Err(format!(
                "selector function {name}() cannot be combined with other functions"
            ));
        }
    }
    let has_aux = fields.iter().any(|f| !has_aggregate(&f.expr));
    if has_aux && !single_selector {
        return Err("mixing aggregate and non-aggregate queries is not supported".into());
    }
    // Transformations see buckets before the start (dropped afterwards).
    let extra = match &interval {
        Some((every, _)) if range.has_min() => {
            transforms
                .iter()
                .flatten()
                .map(|(name, _)| transform::extra_intervals(name))
                .max()
                .unwrap_or(0)
                * every
        }
        _ => 0,
    };
    let visible_start = range.min;
    let range = TimeRange {
        min: range.min.saturating_sub(extra),
        ..range
    };
    let groups = groups(select, table, filter, range);
    let first_data = groups
        .iter()
        .filter_map(|(_, rows)| rows.first().map(|&r| table.row_time[r]))
        .min();
    let Some(Layout {
        start,
        step,
        buckets,
    }) = layout(select, interval.as_ref(), range, now, first_data)?
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (tags, rows) in groups {
        budget.check_time()?;
        let mut values: Vec<Vec<Value>> = Vec::new();
        let mut previous: Vec<Value> = vec![Value::Null; fields.len()];
        let mut i = 0;
        for b in 0..buckets {
            let bucket_start = start + b as i64 * step;
            let bucket_end = if step == 0 {
                i64::MAX
            } else {
                bucket_start.saturating_add(step)
            };
            let begin = i;
            while i < rows.len() && (step == 0 || table.row_time[rows[i]] < bucket_end) {
                i += 1;
            }
            let bucket = &rows[begin..i];
            if let Some((name, args)) = multi {
                for (t, v, r) in multi_rows(name, args, table, bucket) {
                    let time = if name == "distinct" { bucket_start } else { t };
                    let mut row = vec![Value::Integer(time)];
                    for f in fields {
                        row.push(if has_aggregate(&f.expr) {
                            v.clone()
                        } else {
                            eval::eval(&f.expr, &Row { table, row: r })
                        });
                    }
                    values.push(row);
                }
                continue;
            }
            let row = eval_bucket(
                fields,
                table,
                bucket,
                bucket_start,
                select.fill.clone(),
                single_selector && step == 0,
            );
            if let Some(mut row) = row {
                if let Fill::Previous = select.fill {
                    for (c, v) in row.iter_mut().skip(1).enumerate() {
                        if v.is_null() {
                            *v = previous[c].clone();
                        } else {
                            previous[c] = v.clone();
                        }
                    }
                }
                values.push(row);
            }
        }
        let mut values = Rows::from_rows(fields.len() + 1, values);
        if let Fill::Linear = select.fill {
            fill_linear(&mut values);
        }
        if transforms.iter().any(Option::is_some) {
            // Default unit: the GROUP BY interval (one bucket), else 1s.
            let unit = if step > 0 { step } else { 1_000_000_000 };
            for (c, t) in transforms.iter().enumerate() {
                let Some((name, args)) = t else { continue };
                let points: Vec<(i64, Value)> = values
                    .iter()
                    .map(|row| (time_of(&row[0]), row[c + 1].clone()))
                    .collect();
                for (i, v) in transform::apply(name, args, &points, unit)
                    .into_iter()
                    .enumerate()
                {
                    values.row_mut(i)[c + 1] = v;
                }
            }
            if transforms.iter().all(Option::is_some) {
                values.retain(|row| row[1..].iter().any(|v| !v.is_null()));
            }
        }
        if extra > 0 {
            let first_visible = floor_to(visible_start, step, start.rem_euclid(step));
            values.retain(|row| time_of(&row[0]) >= first_visible);
        }
        out.extend(finish_series(select, &table.name, tags, names, values));
    }
    Ok(out)
}

/// Where a query's buckets lie: the first start, the width (0: a single
/// bucket, no GROUP BY time) and how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub start: i64,
    pub step: i64,
    pub buckets: usize,
}

/// The buckets of `interval` over `range` (`first_data` stands in for an
/// open lower bound, `now` for an open upper one). `None`: no lower bound
/// and no data.
pub(super) fn layout(
    select: &Select,
    interval: Option<&(i64, TimeOffset)>,
    range: TimeRange,
    now: i64,
    first_data: Option<i64>,
) -> Result<Option<Layout>, String> {
    let Some((every, offset)) = interval else {
        return Ok(Some(Layout {
            start: if range.has_min() { range.min } else { 0 },
            step: 0,
            buckets: 1,
        }));
    };
    let offset = match offset {
        TimeOffset::Fixed(o) => *o,
        TimeOffset::Now => now.rem_euclid(*every),
    };
    let min = match (range.has_min(), first_data) {
        (true, _) => range.min,
        (false, Some(t)) => t,
        (false, None) => return Ok(None),
    };
    let max = if range.has_max() { range.max } else { now };
    // With tz(), buckets line up with the zone's clock (local midnight
    // for 1d), as InfluxDB aligns them.
    let start = floor_to(min, *every, offset - zone_offset(zone(select), min));
    let count = if max < start {
        0
    } else {
        (max - start) / every + 1
    };
    if count > MAX_BUCKETS {
        return Err(format!(
            "query would produce {count} GROUP BY time buckets (the limit is {MAX_BUCKETS}): use a larger interval or a narrower time range"
        ));
    }
    Ok(Some(Layout {
        start,
        step: *every,
        buckets: count as usize,
    }))
}

pub(super) fn zone(select: &Select) -> Option<chrono_tz::Tz> {
    select.tz.as_deref().and_then(|name| name.parse().ok())
}

/// The zone's UTC offset at `t`, in nanoseconds (0 without `tz()`).
pub(super) fn zone_offset(tz: Option<chrono_tz::Tz>, t: i64) -> i64 {
    use chrono::{Offset, TimeZone};
    let Some(tz) = tz else { return 0 };
    let secs = t.div_euclid(1_000_000_000);
    match chrono::DateTime::<chrono::Utc>::from_timestamp(secs, 0) {
        Some(utc) => {
            tz.offset_from_utc_datetime(&utc.naive_utc())
                .fix()
                .local_minus_utc() as i64
                * 1_000_000_000
        }
        None => 0,
    }
}

pub(super) fn floor_to(t: i64, every: i64, offset: i64) -> i64 {
    let shifted = t - offset;
    shifted - shifted.rem_euclid(every) + offset
}

fn collect_calls<'a>(expr: &'a Expr, out: &mut Vec<&'a Expr>) {
    match expr {
        Expr::Call { name, args } if is_aggregate(name) => {
            out.push(expr);
            // count(distinct(x)) counts as one call.
            let _ = args;
        }
        Expr::Call { args, .. } => args.iter().for_each(|a| collect_calls(a, out)),
        Expr::Binary { lhs, rhs, .. } => {
            collect_calls(lhs, out);
            collect_calls(rhs, out);
        }
        Expr::Paren(inner) => collect_calls(inner, out),
        _ => {}
    }
}

fn validate_call(call: &Expr) -> Result<(), String> {
    let Expr::Call { name, args } = call else {
        return Ok(());
    };
    let want = |n: usize| -> Result<(), String> {
        if args.len() != n {
            Err(format!(
                "invalid number of arguments for {name}, expected {n}, got {}",
                args.len()
            ))
        } else {
            Ok(())
        }
    };
    match name.as_str() {
        "percentile" => want(2),
        "integral" => {
            if args.is_empty() || args.len() > 2 {
                Err(format!(
                    "invalid number of arguments for integral, expected at least 1 but no more than 2, got {}",
                    args.len()
                ))
            } else {
                Ok(())
            }
        }
        "top" | "bottom" => {
            if args.len() < 2 {
                return Err(format!(
                    "invalid number of arguments for {name}, expected at least 2, got {}",
                    args.len()
                ));
            }
            match args.last() {
                Some(Expr::Integer(n)) if *n > 0 => Ok(()),
                Some(Expr::Integer(n)) => {
                    Err(format!("limit ({n}) in {name} function must be at least 1"))
                }
                Some(other) => Err(format!(
                    "expected integer as last argument in {name}(), found {other}"
                )),
                None => Ok(()),
            }
        }
        "sample" => {
            want(2)?;
            match &args[1] {
                Expr::Integer(n) if *n > 0 => Ok(()),
                Expr::Integer(n) => Err(format!("sample window must be greater than 1, got {n}")),
                other => Err(format!(
                    "expected integer argument in sample(), found {other}"
                )),
            }
        }
        _ => want(1),
    }?;
    match args.first() {
        Some(Expr::VarRef { .. }) => Ok(()),
        Some(Expr::Call { name: inner, .. }) if inner == "distinct" && name == "count" => Ok(()),
        Some(Expr::Distinct(_)) if name == "count" => Ok(()),
        Some(other) => Err(format!(
            "expected field argument in {name}(), found {other}"
        )),
        None => Ok(()),
    }
}

/// One output row for a bucket (None with fill(none) when nothing landed).
fn eval_bucket(
    fields: &[SelectField],
    table: &TableData,
    bucket: &[usize],
    bucket_start: i64,
    fill: Fill,
    selector_time: bool,
) -> Option<Vec<Value>> {
    let mut picked: Picked = None;
    let mut any_input = false;
    let mut row = vec![Value::Integer(bucket_start)];
    let mut results = Vec::with_capacity(fields.len());
    for f in fields {
        let (v, had_input) = eval_agg_expr(&f.expr, table, bucket, &mut picked, &fill);
        any_input |= had_input;
        results.push(v);
    }
    // fill(none) drops empty buckets; without GROUP BY time there is no
    // bucket to fill, so a group no call had input for has no row.
    if !any_input
        && (matches!(fill, Fill::None)
            || selector_time
            || bucket_start_is_whole(&fill, fields, bucket))
    {
        return None;
    }
    // Extra (non-aggregate) columns come from the selector's point.
    for (i, f) in fields.iter().enumerate() {
        if !has_aggregate(&f.expr) {
            results[i] = match picked {
                Some((_, r)) => eval::eval(&f.expr, &Row { table, row: r }),
                None => Value::Null,
            };
        }
    }
    if let (Some((t, _)), true) = (picked, selector_time) {
        row[0] = Value::Integer(t);
    }
    row.extend(results);
    Some(row)
}

/// A non-empty bucket whose calls all lacked input (e.g. only tags were
/// aggregated) still has no row.
fn bucket_start_is_whole(_fill: &Fill, _fields: &[SelectField], bucket: &[usize]) -> bool {
    !bucket.is_empty()
}

/// Evaluates a projection over a bucket: (value, whether any call had input).
fn eval_agg_expr(
    expr: &Expr,
    table: &TableData,
    bucket: &[usize],
    picked: &mut Picked,
    fill: &Fill,
) -> (Value, bool) {
    match expr {
        Expr::Call { name, args } if is_aggregate(name) => {
            let (v, pick, had) = aggregate(name, args, table, bucket);
            if pick.is_some() {
                *picked = pick;
            }
            if !had || (v.is_null() && name != "count") {
                return (fill_value(fill, name), had);
            }
            (v, had)
        }
        Expr::Call { name, args } => {
            let mut had = false;
            let values: Vec<Value> = args
                .iter()
                .map(|a| {
                    let (v, h) = eval_agg_expr(a, table, bucket, picked, fill);
                    had |= h;
                    v
                })
                .collect();
            (eval::math(name, &values), had)
        }
        Expr::Binary { op, lhs, rhs } => {
            let (a, ha) = eval_agg_expr(lhs, table, bucket, picked, fill);
            let (b, hb) = eval_agg_expr(rhs, table, bucket, picked, fill);
            (eval::arithmetic(*op, &a, &b), ha || hb)
        }
        Expr::Paren(inner) => eval_agg_expr(inner, table, bucket, picked, fill),
        Expr::Integer(v) => (Value::Integer(*v), false),
        Expr::Number(v) => (Value::Float(*v), false),
        Expr::Unsigned(v) => (Value::Unsigned(*v), false),
        _ => (Value::Null, false),
    }
}

fn fill_value(fill: &Fill, name: &str) -> Value {
    match fill {
        Fill::Integer(v) => Value::Integer(*v),
        Fill::Number(v) => Value::Float(*v),
        // InfluxDB reports an empty bucket's count as 0, not null.
        _ if name == "count" => Value::Integer(0),
        _ => Value::Null,
    }
}

/// fill(linear): nulls between two values of a column become the
/// straight line between them (by time).
pub(super) fn fill_linear(values: &mut Rows) {
    for c in 1..values.width() {
        let mut last: Option<usize> = None;
        for i in 0..values.len() {
            if values.row(i)[c].is_null() {
                continue;
            }
            if let Some(p) = last {
                if i > p + 1 {
                    let (t0, t1) = (time_of(&values.row(p)[0]), time_of(&values.row(i)[0]));
                    let (v0, v1) = (values.row(p)[c].clone(), values.row(i)[c].clone());
                    for j in p + 1..i {
                        let row = values.row_mut(j);
                        let t = time_of(&row[0]);
                        let frac = (t - t0) as f64 / (t1 - t0) as f64;
                        row[c] = match (&v0, &v1) {
                            (Value::Integer(a), Value::Integer(b)) => {
                                Value::Integer(a + ((b - a) as f64 * frac) as i64)
                            }
                            (a, b) => match (a.as_f64(), b.as_f64()) {
                                (Some(a), Some(b)) => Value::Float(a + (b - a) * frac),
                                _ => Value::Null,
                            },
                        };
                    }
                }
            }
            last = Some(i);
        }
    }
}

pub(super) fn time_of(v: &Value) -> i64 {
    match v {
        Value::Integer(t) => *t,
        _ => 0,
    }
}

/// Computes aggregate `name` over the bucket's points: (value, picked point).
fn aggregate(
    name: &str,
    args: &[Expr],
    table: &TableData,
    bucket: &[usize],
) -> (Value, Picked, bool) {
    let (value, picked) = aggregate_values(name, args, table, bucket);
    // Whether any point fed the call (decides fill and empty groups).
    let had = match (name, args.first()) {
        ("count", Some(Expr::Call { args: inner, .. })) => inner
            .first()
            .is_some_and(|a| !inputs(a, table, bucket).is_empty()),
        ("count", Some(Expr::Distinct(field))) => !inputs(
            &Expr::VarRef {
                name: field.clone(),
                cast: None,
            },
            table,
            bucket,
        )
        .is_empty(),
        (_, Some(arg)) => !inputs(arg, table, bucket).is_empty(),
        _ => false,
    };
    (value, picked, had)
}

fn aggregate_values(
    name: &str,
    args: &[Expr],
    table: &TableData,
    bucket: &[usize],
) -> (Value, Picked) {
    // count(distinct(x)) / count(DISTINCT x)
    if name == "count" {
        let inner_distinct = match args.first() {
            Some(Expr::Call { name, args }) if name == "distinct" => args.first().cloned(),
            Some(Expr::Distinct(field)) => Some(Expr::VarRef {
                name: field.clone(),
                cast: None,
            }),
            _ => None,
        };
        if let Some(arg) = inner_distinct {
            let points = inputs(&arg, table, bucket);
            let mut seen: Vec<Value> = Vec::new();
            for (_, v, _) in points {
                if !seen.contains(&v) {
                    seen.push(v);
                }
            }
            return (Value::Integer(seen.len() as i64), None);
        }
    }
    let Some(arg) = args.first() else {
        return (Value::Null, None);
    };
    let points = inputs(arg, table, bucket);
    if points.is_empty() {
        return (
            if name == "count" {
                Value::Integer(0)
            } else {
                Value::Null
            },
            None,
        );
    }
    let numbers = || points.iter().filter_map(|(_, v, _)| v.as_f64());
    let all_int = points
        .iter()
        .all(|(_, v, _)| matches!(v, Value::Integer(_)));
    let all_uint = points
        .iter()
        .all(|(_, v, _)| matches!(v, Value::Unsigned(_)));
    match name {
        "count" => (Value::Integer(points.len() as i64), None),
        "sum" => {
            if all_int {
                let s = points.iter().fold(0i64, |a, (_, v, _)| match v {
                    Value::Integer(x) => a.wrapping_add(*x),
                    _ => a,
                });
                (Value::Integer(s), None)
            } else if all_uint {
                let s = points.iter().fold(0u64, |a, (_, v, _)| match v {
                    Value::Unsigned(x) => a.wrapping_add(*x),
                    _ => a,
                });
                (Value::Unsigned(s), None)
            } else {
                (Value::Float(numbers().sum()), None)
            }
        }
        "mean" => {
            let n = numbers().count();
            if n == 0 {
                return (Value::Null, None);
            }
            (Value::Float(numbers().sum::<f64>() / n as f64), None)
        }
        "median" => {
            let mut v: Vec<f64> = numbers().collect();
            if v.is_empty() {
                return (Value::Null, None);
            }
            v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            let n = v.len();
            let m = if n % 2 == 1 {
                v[n / 2]
            } else {
                v[n / 2 - 1] + (v[n / 2] - v[n / 2 - 1]) / 2.0
            };
            (Value::Float(m), None)
        }
        "mode" => {
            // Most frequent value; ties go to the value seen first in time.
            let mut sorted: Vec<&(i64, Value, usize)> = points.iter().collect();
            sorted.sort_by(|a, b| a.1.compare(&b.1).then(a.0.cmp(&b.0)));
            let (mut best, mut best_count, mut best_time) = (&sorted[0].1, 0, i64::MAX);
            let mut i = 0;
            while i < sorted.len() {
                let mut j = i;
                while j < sorted.len() && sorted[j].1 == sorted[i].1 {
                    j += 1;
                }
                let first_time = sorted[i].0;
                if j - i > best_count || (j - i == best_count && first_time < best_time) {
                    best = &sorted[i].1;
                    best_count = j - i;
                    best_time = first_time;
                }
                i = j;
            }
            (best.clone(), None)
        }
        "spread" => {
            let min = points.iter().map(|(_, v, _)| v).min_by(|a, b| a.compare(b));
            let max = points.iter().map(|(_, v, _)| v).max_by(|a, b| a.compare(b));
            match (min, max) {
                (Some(Value::Integer(a)), Some(Value::Integer(b))) => {
                    (Value::Integer(b.wrapping_sub(*a)), None)
                }
                (Some(Value::Unsigned(a)), Some(Value::Unsigned(b))) => {
                    (Value::Unsigned(b.wrapping_sub(*a)), None)
                }
                (Some(a), Some(b)) => match (a.as_f64(), b.as_f64()) {
                    (Some(a), Some(b)) => (Value::Float(b - a), None),
                    _ => (Value::Null, None),
                },
                _ => (Value::Null, None),
            }
        }
        "stddev" => {
            let v: Vec<f64> = numbers().collect();
            if v.len() < 2 {
                return (Value::Null, None);
            }
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
            (Value::Float(var.sqrt()), None)
        }
        "min" | "max" => {
            // Equal values: the earliest point wins (InfluxDB's reducers).
            let mut best = 0;
            for i in 1..points.len() {
                let o = points[i].1.compare(&points[best].1);
                let better = if name == "min" { o.is_lt() } else { o.is_gt() };
                if better || (o.is_eq() && points[i].0 < points[best].0) {
                    best = i;
                }
            }
            let (t, v, r) = &points[best];
            (v.clone(), Some((*t, *r)))
        }
        "first" | "last" => {
            // Points of equal time (several series in one group): InfluxDB
            // keeps the greater value.
            let mut best = 0;
            for i in 1..points.len() {
                let (t, bt) = (points[i].0, points[best].0);
                let later = if name == "first" { t < bt } else { t > bt };
                if later || (t == bt && points[i].1.compare(&points[best].1).is_gt()) {
                    best = i;
                }
            }
            let (t, v, r) = &points[best];
            (v.clone(), Some((*t, *r)))
        }
        "percentile" => {
            let p = match args.get(1) {
                Some(Expr::Integer(p)) => *p as f64,
                Some(Expr::Number(p)) => *p,
                _ => return (Value::Null, None),
            };
            let mut sorted: Vec<&(i64, Value, usize)> = points.iter().collect();
            sorted.sort_by(|a, b| a.1.compare(&b.1));
            let i = ((sorted.len() as f64 * p / 100.0 + 0.5).floor() as i64) - 1;
            if i < 0 || i as usize >= sorted.len() {
                return (Value::Null, None);
            }
            let (t, v, r) = sorted[i as usize];
            (v.clone(), Some((*t, *r)))
        }
        "integral" => {
            let unit = match args.get(1) {
                Some(Expr::Duration(d)) if *d > 0 => *d as f64,
                _ => 1e9,
            };
            let mut area = 0.0;
            let mut prev: Option<(i64, f64)> = None;
            for (t, v, _) in &points {
                let Some(x) = v.as_f64() else { continue };
                if let Some((pt, px)) = prev {
                    if *t != pt {
                        area += (px + x) / 2.0 * (*t - pt) as f64 / unit;
                    }
                }
                prev = Some((*t, x));
            }
            (Value::Float(area), None)
        }
        _ => (Value::Null, None),
    }
}

/// Rows of top/bottom/distinct/sample for one bucket: (time, value, row).
fn multi_rows(
    name: &str,
    args: &[Expr],
    table: &TableData,
    bucket: &[usize],
) -> Vec<(i64, Value, usize)> {
    let points = inputs(&args[0], table, bucket);
    let n = match args.last() {
        Some(Expr::Integer(n)) if *n > 0 => *n as usize,
        _ => 0,
    };
    match name {
        "distinct" => {
            let mut out: Vec<(i64, Value, usize)> = Vec::new();
            for p in points {
                if !out.iter().any(|(_, v, _)| *v == p.1) {
                    out.push(p);
                }
            }
            out
        }
        "top" | "bottom" => {
            let top = name == "top";
            // `better(a, b)`: a ranks before b (value, then earlier time).
            let better = |a: &(i64, Value, usize), b: &(i64, Value, usize)| {
                let o = a.1.compare(&b.1);
                let o = if top { o } else { o.reverse() };
                o.is_gt() || (o.is_eq() && a.0 < b.0)
            };
            let mut candidates: Vec<(i64, Value, usize)> = if args.len() > 2 {
                // One point per distinct value of the tag/field arguments.
                let mut best: Vec<(String, (i64, Value, usize))> = Vec::new();
                for p in points {
                    let key: String = args[1..args.len() - 1]
                        .iter()
                        .map(|a| {
                            eval::eval(a, &Row { table, row: p.2 })
                                .to_json()
                                .to_string()
                        })
                        .collect::<Vec<_>>()
                        .join("\u{1}");
                    match best.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, b)) => {
                            if better(&p, b) {
                                *b = p;
                            }
                        }
                        None => best.push((key, p)),
                    }
                }
                best.into_iter().map(|(_, p)| p).collect()
            } else {
                points
            };
            candidates.sort_by(|a, b| {
                if better(a, b) {
                    std::cmp::Ordering::Less
                } else if better(b, a) {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            });
            candidates.truncate(n);
            candidates.sort_by_key(|p| p.0);
            candidates
        }
        "sample" => {
            // Reservoir sampling; the seed varies per call, as sampling should.
            let mut seed = crate::query::time::now_ns() as u64 | 1;
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            let mut out: Vec<(i64, Value, usize)> = Vec::new();
            for (i, p) in points.into_iter().enumerate() {
                if out.len() < n {
                    out.push(p);
                } else {
                    let j = (next() % (i as u64 + 1)) as usize;
                    if j < n {
                        out[j] = p;
                    }
                }
            }
            out.sort_by_key(|p| p.0);
            out
        }
        _ => Vec::new(),
    }
}

/// The non-null values of `arg` over the bucket: (time, value, row).
fn inputs(arg: &Expr, table: &TableData, bucket: &[usize]) -> Vec<(i64, Value, usize)> {
    bucket
        .iter()
        .filter_map(|&r| {
            let row = Row { table, row: r };
            let v = match arg {
                Expr::VarRef { name, cast } => {
                    if *cast == Some(VarType::Tag) {
                        return None;
                    }
                    row.field(name)
                        .cloned()
                        .map(|v| eval::cast_value(v, *cast))?
                }
                other => eval::eval(other, &row),
            };
            (!v.is_null()).then(|| (row.time(), v, r))
        })
        .collect()
}
