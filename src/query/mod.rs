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
use influxql::{Select, Source, Statement};

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

/// Every (database, table) the statements may read, so they can be
/// fetched before running (`skip`: statements already answered).
pub fn tables_needed(
    statements: &[Statement],
    db: Option<&str>,
    catalog: &crate::catalog::Snapshot,
    skip: &dyn Fn(usize) -> bool,
    now: i64,
) -> Vec<(String, String, TimeRange)> {
    let mut out = Vec::new();
    let all_of = |db: &str, out: &mut Vec<(String, String, TimeRange)>| {
        if let Some(d) = catalog.database(db) {
            for t in d.tables.keys() {
                out.push((db.to_string(), t.to_string(), TimeRange::ALL));
            }
        }
    };
    fn from_select(
        s: &Select,
        db: Option<&str>,
        catalog: &crate::catalog::Snapshot,
        now: i64,
        out: &mut Vec<(String, String, TimeRange)>,
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
                        Some(name) => out.push((d, name.clone(), range)),
                        None => {
                            if let Some(database) = catalog.database(&d) {
                                for t in database.tables.keys() {
                                    out.push((d.clone(), t.to_string(), range));
                                }
                            }
                        }
                    }
                }
                Source::Subquery(inner) => from_select(inner, db, catalog, now, out),
            }
        }
    }
    for (i, statement) in statements.iter().enumerate() {
        if skip(i) {
            continue;
        }
        match statement {
            Statement::Select(s) => from_select(s, db, catalog, now, &mut out),
            // SHOW TAG VALUES without a condition reads the tag index
            // instead, and SHOW MEASUREMENTS without one the catalog.
            Statement::ShowTagValues { filter, .. }
            | Statement::ShowMeasurements { filter, .. }
                if filter.condition.is_none() => {}
            Statement::ShowMeasurements { filter, .. }
            | Statement::ShowTagValues { filter, .. }
            | Statement::ShowSeries(filter)
            | Statement::ShowCardinality { filter, .. } => {
                if let Some(d) = filter.database.as_deref().or(db) {
                    all_of(d, &mut out);
                }
            }
            _ => {}
        }
    }
    // One entry per table, over the union of the ranges asked.
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut merged: Vec<(String, String, TimeRange)> = Vec::with_capacity(out.len());
    for (d, t, r) in out {
        match merged.last_mut() {
            Some(last) if last.0 == d && last.1 == t => {
                last.2.min = last.2.min.min(r.min);
                last.2.max = last.2.max.max(r.max);
            }
            _ => merged.push((d, t, r)),
        }
    }
    merged
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
                if let Some(database) = catalog.database(d) {
                    for t in database.tables.keys() {
                        out.push((d.to_string(), t.to_string()));
                    }
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
