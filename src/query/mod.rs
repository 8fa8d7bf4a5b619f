//! v1 `/query`: InfluxQL parsed and planned on the receiving core, data
//! gathered from every core's shard, answered in InfluxDB 1.x's shapes.
//!
//! A request runs in two steps: the tables its statements read are fetched
//! from every core (async, through the fan-out), then the statements run
//! synchronously over that snapshot, so one request sees one consistent
//! view even while writes continue.

pub mod condition;
pub mod encode;
pub mod eval;
pub mod fast;
pub mod influxql;
pub mod result;
pub mod select;
pub mod show;
pub mod store;
pub mod table;
pub mod time;
pub mod transform;
pub mod value;

use condition::TimeRange;
use influxql::{Expr, Select, Source, Statement};

/// Rows a query (or one core's share of it) may touch before it runs on the
/// executor's blocking thread instead of the executor itself.
pub const OFFLOAD_ROWS: usize = 200_000;
use result::StatementResult;
use store::Store;

/// The database a query names: `db`, or `db/rp` for any rp other than
/// empty or `autogen` (the same rule as writes).
pub fn database_for(db: &str, rp: Option<&str>) -> String {
    match rp {
        None | Some("") | Some("autogen") => db.to_string(),
        Some(rp) => format!("{db}/{rp}"),
    }
}

/// The columnar plan for a statement every core can run on its own shard
/// (one stored table, aggregates the columnar path handles).
pub fn fast_plan(
    statement: &Statement,
    db: Option<&str>,
    catalog: &crate::catalog::Snapshot,
    now: i64,
    budget: store::Budget,
) -> Option<std::sync::Arc<fast::Plan>> {
    let Statement::Select(select) = statement else {
        return None;
    };
    let [Source::Measurement(m)] = select.sources.as_slice() else {
        return None;
    };
    if select.slimit > 0 || select.soffset > 0 {
        return None;
    }
    let name = m.name.as_ref()?;
    let database = m.database.as_deref().filter(|d| !d.is_empty()).or(db)?;
    let database = database_for(database, m.retention_policy.as_deref());
    let table = catalog.table(&database, name)?;
    let schema = table::schema_from_catalog(name, table);
    let prepared = select::prepare(select, std::slice::from_ref(&schema)).ok()?;
    if !prepared.aggregate {
        return None;
    }
    let (range, filter) = condition::split(select.condition.as_ref(), now).ok()?;
    let mut plan = fast::Plan::new(
        select,
        &prepared.fields,
        &prepared.names,
        name,
        &schema,
        range,
        filter.as_ref(),
        prepared.interval,
        now,
    )?;
    if !plan.layout_known() {
        return None;
    }
    plan.db = database;
    plan.budget = budget;
    Some(std::sync::Arc::new(plan))
}

/// One table a request reads: where, over which times, and which fields.
#[derive(Clone, Debug)]
pub struct Needed {
    pub db: String,
    pub table: String,
    pub range: TimeRange,
    /// The fields the statements may read (`None`: every one).
    pub columns: crate::persist::Columns,
}

/// Every name `condition` refers to (tags or fields), appended to `out`.
pub(crate) fn names_in(condition: &Expr, out: &mut Vec<String>) {
    condition.walk(&mut |e| {
        if let Expr::VarRef { name, .. } = e {
            out.push(name.clone());
        }
    });
}

/// Every name a SELECT may read from its tables (fields and tags anywhere
/// in it, its subqueries' too); `None` when a wildcard or a regex picks
/// fields by what a table holds.
pub fn names_read(select: &Select) -> Option<Vec<String>> {
    let mut names = Vec::new();
    let mut every = false;
    for f in &select.fields {
        f.expr.walk(&mut |e| match e {
            Expr::VarRef { name, .. } | Expr::Distinct(name) => names.push(name.clone()),
            Expr::Wildcard(_) | Expr::Regex(_) => every = true,
            _ => {}
        });
    }
    if let Some(c) = &select.condition {
        names_in(c, &mut names);
    }
    for d in &select.dimensions {
        if let influxql::Dimension::Tag(name) = d {
            names.push(name.clone());
        }
    }
    for source in &select.sources {
        if let Source::Subquery(inner) = source {
            names.extend(names_read(inner)?);
        }
    }
    (!every).then_some(names)
}

/// Every (database, table) the statements may read, so they can be
/// fetched before running (`skip`: statements already answered).
pub fn tables_needed(
    statements: &[Statement],
    db: Option<&str>,
    catalog: &crate::catalog::Snapshot,
    skip: &dyn Fn(usize) -> bool,
    now: i64,
) -> Vec<Needed> {
    type Wants = (String, String, TimeRange, Option<Vec<String>>);
    let mut out: Vec<Wants> = Vec::new();
    let all_of =
        |db: &str, sources: &[Source], names: &Option<Vec<String>>, out: &mut Vec<Wants>| {
            for t in show_tables(catalog, db, sources) {
                out.push((db.to_string(), t, TimeRange::ALL, names.clone()));
            }
        };
    fn from_select(
        s: &Select,
        db: Option<&str>,
        catalog: &crate::catalog::Snapshot,
        now: i64,
        names: &Option<Vec<String>>,
        out: &mut Vec<Wants>,
    ) {
        // Only rows in the statement's own time range are read (a bad
        // condition reads everything and fails later with its error).
        let range = condition::split(s.condition.as_ref(), now)
            .map(|(r, _)| r)
            .unwrap_or(TimeRange::ALL);
        for source in &s.sources {
            match source {
                Source::Measurement(m) => {
                    let Some(d) = m.database.as_deref().filter(|d| !d.is_empty()).or(db) else {
                        continue;
                    };
                    let d = database_for(d, m.retention_policy.as_deref());
                    match &m.name {
                        Some(name) => out.push((d, name.clone(), range, names.clone())),
                        None => {
                            if let Some(database) = catalog.database(&d) {
                                for t in database.tables.keys() {
                                    out.push((d.clone(), t.to_string(), range, names.clone()));
                                }
                            }
                        }
                    }
                }
                Source::Subquery(inner) => from_select(inner, db, catalog, now, names, out),
            }
        }
    }
    for (i, statement) in statements.iter().enumerate() {
        if skip(i) {
            continue;
        }
        match statement {
            Statement::Select(s) => from_select(s, db, catalog, now, &names_read(s), &mut out),
            // SHOW TAG VALUES without a condition reads the tag index
            // instead, and SHOW MEASUREMENTS without one the catalog.
            Statement::ShowTagValues { filter, .. }
            | Statement::ShowMeasurements { filter, .. }
                if filter.condition.is_none() => {}
            Statement::ShowMeasurements { filter, .. }
            | Statement::ShowTagValues { filter, .. }
            | Statement::ShowSeries(filter)
            | Statement::ShowCardinality { filter, .. } => {
                // Series are their tags: only the fields the condition names are read.
                let mut names = Vec::new();
                if let Some(c) = &filter.condition {
                    names_in(c, &mut names);
                }
                if let Some(d) = filter.database.as_deref().or(db) {
                    all_of(d, &filter.sources, &Some(names), &mut out);
                }
            }
            _ => {}
        }
    }
    // One entry per table, over the union of the ranges and fields asked.
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut merged: Vec<Wants> = Vec::with_capacity(out.len());
    for (d, t, r, names) in out {
        match merged.last_mut() {
            Some(last) if last.0 == d && last.1 == t => {
                last.2.min = last.2.min.min(r.min);
                last.2.max = last.2.max.max(r.max);
                match (&mut last.3, names) {
                    (Some(all), Some(more)) => all.extend(more),
                    (last_names, _) => *last_names = None,
                }
            }
            _ => merged.push((d, t, r, names)),
        }
    }
    merged
        .into_iter()
        .map(|(db, table, range, names)| Needed {
            db,
            table,
            range,
            columns: names.map(|mut n| {
                n.sort();
                n.dedup();
                n.into()
            }),
        })
        .collect()
}

/// The tables of `db` a SHOW's FROM names (all of them without one).
fn show_tables(catalog: &crate::catalog::Snapshot, db: &str, sources: &[Source]) -> Vec<String> {
    let Some(database) = catalog.database(db) else {
        return Vec::new();
    };
    database
        .tables
        .keys()
        .filter(|t| sources.is_empty() || show::in_sources(sources, t))
        .map(|t| t.to_string())
        .collect()
}

/// Tables whose tag index a SHOW TAG VALUES without a condition reads.
pub fn tag_indexes_needed(
    statements: &[Statement],
    db: Option<&str>,
    catalog: &crate::catalog::Snapshot,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for statement in statements {
        if let Statement::ShowTagValues { filter, .. } = statement {
            if filter.condition.is_some() {
                continue;
            }
            if let Some(d) = filter.database.as_deref().or(db) {
                for t in show_tables(catalog, d, &filter.sources) {
                    out.push((d.to_string(), t));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The databases a statement reads (for permission checks).
pub fn databases_read(statement: &Statement, db: Option<&str>) -> Vec<String> {
    fn from_select(s: &Select, db: Option<&str>, out: &mut Vec<String>) {
        for source in &s.sources {
            match source {
                Source::Measurement(m) => {
                    if let Some(d) = m.database.as_deref().filter(|d| !d.is_empty()).or(db) {
                        out.push(database_for(d, m.retention_policy.as_deref()));
                    }
                }
                Source::Subquery(inner) => from_select(inner, db, out),
            }
        }
    }
    let mut out = Vec::new();
    match statement {
        Statement::Select(s) => from_select(s, db, &mut out),
        Statement::ShowMeasurements { filter, .. }
        | Statement::ShowTagKeys(filter)
        | Statement::ShowTagValues { filter, .. }
        | Statement::ShowFieldKeys(filter)
        | Statement::ShowSeries(filter)
        | Statement::ShowCardinality { filter, .. } => {
            out.extend(filter.database.clone().or(db.map(str::to_string)))
        }
        Statement::ShowRetentionPolicies { database } => {
            out.extend(database.clone().or(db.map(str::to_string)))
        }
        _ => {}
    }
    out
}

/// Runs one statement (CREATE DATABASE is the caller's: it needs write access).
pub fn run_statement(
    store: &Store,
    statement: &Statement,
    db: Option<&str>,
    now: i64,
) -> Result<Vec<result::Series>, String> {
    // Every SHOW below reads one existing database.
    let need_db = |given: Option<&String>| -> Result<String, String> {
        let d = given
            .map(|s| s.to_string())
            .or(db.map(str::to_string))
            .filter(|d| !d.is_empty())
            .ok_or_else(|| "database name required".to_string())?;
        if store.catalog.database(&d).is_none() {
            return Err(format!("database not found: {d}"));
        }
        Ok(d)
    };
    match statement {
        Statement::Select(s) => {
            if let Some(d) = db {
                let explicit = s.sources.iter().all(|src| {
                    matches!(src, Source::Measurement(m) if m.database.as_deref().is_some_and(|d| !d.is_empty()))
                });
                if !explicit && store.catalog.database(d).is_none() {
                    return Err(format!("database not found: {d}"));
                }
            }
            select::run(store, s, db, now)
        }
        Statement::ShowDatabases => Ok(show::databases(store)),
        Statement::ShowMeasurements { filter, with } => {
            let d = need_db(filter.database.as_ref())?;
            show::measurements(store, &d, filter, with.as_ref(), now)
        }
        Statement::ShowTagKeys(filter) => {
            let d = need_db(filter.database.as_ref())?;
            show::tag_keys(store, &d, filter)
        }
        Statement::ShowTagValues { filter, key } => {
            let d = need_db(filter.database.as_ref())?;
            show::tag_values(store, &d, filter, key, now)
        }
        Statement::ShowFieldKeys(filter) => {
            let d = need_db(filter.database.as_ref())?;
            show::field_keys(store, &d, filter)
        }
        Statement::ShowSeries(filter) => {
            let d = need_db(filter.database.as_ref())?;
            show::series(store, &d, filter, now)
        }
        Statement::ShowRetentionPolicies { database } => {
            let d = need_db(database.as_ref())?;
            Ok(show::retention_policies(store.retention.get(&d).copied().flatten()))
        }
        Statement::ShowCardinality {
            of,
            exact,
            filter,
            key,
            with,
        } => {
            let d = need_db(filter.database.as_ref())?;
            show::cardinality(
                store,
                &d,
                *of,
                *exact,
                filter,
                key.as_ref(),
                with.as_ref(),
                now,
            )
        }
        Statement::CreateDatabase { .. } | Statement::AlterRetention { .. } => Ok(Vec::new()),
        Statement::Unsupported(words) => Err(format!(
            "{words} is not supported: hydrant serves writes and reads (SELECT and SHOW); databases are created on write"
        )),
    }
}

/// Runs statements in order, each with its own id and error
/// (`answered`: results the cores already computed, by statement index).
pub fn run_all(
    store: &Store,
    statements: &[Statement],
    db: Option<&str>,
    now: i64,
    answered: &mut hashbrown::HashMap<usize, Result<Vec<result::Series>, String>>,
) -> Vec<StatementResult> {
    statements
        .iter()
        .enumerate()
        .map(|(id, s)| {
            match answered
                .remove(&id)
                .unwrap_or_else(|| run_statement(store, s, db, now))
            {
                Ok(series) => StatementResult {
                    statement_id: id,
                    series,
                    error: None,
                },
                Err(e) => StatementResult {
                    statement_id: id,
                    series: Vec::new(),
                    error: Some(e),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_by(q: &str) -> Option<Vec<String>> {
        let statements = influxql::parser::parse_query(q).expect(q);
        let Statement::Select(s) = &statements[0] else {
            panic!("{q}: not a SELECT");
        };
        names_read(s).map(|mut n| {
            n.sort();
            n.dedup();
            n
        })
    }

    #[test]
    fn a_select_reads_the_names_it_mentions_or_everything() {
        let cases: &[(&str, Option<&[&str]>)] = &[
            ("SELECT f FROM m", Some(&["f"])),
            (
                "SELECT mean(f) FROM m GROUP BY time(1m), host",
                Some(&["f", "host"]),
            ),
            (
                "SELECT a + b * 2 FROM m WHERE c > 1 AND host = 'x'",
                Some(&["a", "b", "c", "host"]),
            ),
            (
                "SELECT f::integer FROM m WHERE time > now() - 1h",
                Some(&["f", "time"]),
            ),
            ("SELECT top(f, host, 3) FROM m", Some(&["f", "host"])),
            ("SELECT count(distinct(f)) FROM m", Some(&["f"])),
            ("SELECT DISTINCT f FROM m", Some(&["f"])),
            (
                "SELECT mean(x) FROM (SELECT f AS x FROM m WHERE g > 0)",
                Some(&["f", "g", "x"]),
            ),
            ("SELECT * FROM m", None),
            ("SELECT *::field FROM m", None),
            ("SELECT count(*) FROM m", None),
            ("SELECT /usage/ FROM m", None),
            ("SELECT mean(/usage/) FROM m", None),
            ("SELECT f FROM (SELECT * FROM m)", None),
            // A regex compared against is a value, not a choice of fields.
            ("SELECT f FROM m WHERE host =~ /a.*/", Some(&["f", "host"])),
            ("SELECT f FROM m GROUP BY /h.*/", Some(&["f"])),
        ];
        for (q, expected) in cases {
            let expected = expected.map(|e| e.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(read_by(q), expected, "{q}");
        }
    }
}
