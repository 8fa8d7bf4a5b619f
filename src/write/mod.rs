//! The write stage: parsed points are checked against the shared catalog's
//! schema rules, then appended to this core's shard.
//!
//! Rules (InfluxDB 3's): a column is a tag or a field forever, a field keeps
//! its first type, and a tag and a field may not share a name in a table. A
//! point that breaks one is rejected on its own (a partial write); the rest of
//! the body is stored. New columns are created in one catalog change per table
//! per request, after which the points that needed them are checked again
//! against whatever the catalog now says (another core may have won).
//!
//! Durability: what a request stored is also written, as one entry, to this
//! core's WAL buffer in the same step (see `wal`); the request is answered
//! once the WAL says that entry is on disk.

use std::sync::Arc;

use hashbrown::HashMap;

use crate::catalog::{
    check, Catalog, Column, ColumnKind, ColumnRequest, FieldType, SchemaConflict, Snapshot, Table,
};
use crate::lp::{FieldValue, Point};
use crate::shard::Shard;
use crate::wal::entry::EntryWriter;

/// A point the write stage refused, with what to tell the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub written: usize,
    pub rejected: Vec<Rejection>,
}

fn kind_of(value: &FieldValue<'_>) -> FieldType {
    match value {
        FieldValue::Float(_) => FieldType::Float,
        FieldValue::Integer(_) => FieldType::Integer,
        FieldValue::Unsigned(_) => FieldType::Unsigned,
        FieldValue::String(_) => FieldType::String,
        FieldValue::Boolean(_) => FieldType::Boolean,
    }
}

/// The message InfluxDB gives for a schema conflict, so clients recognise it.
fn conflict_message(
    measurement: &str,
    column: &str,
    wanted: ColumnKind,
    conflict: &SchemaConflict,
) -> String {
    match (conflict, wanted) {
        (SchemaConflict::FieldType { existing, wanted }, _) => format!(
            "field type conflict: input field \"{column}\" on measurement \"{measurement}\" is type {wanted}, already exists as type {existing}"
        ),
        (SchemaConflict::TagFieldClash { .. }, ColumnKind::Tag) => format!(
            "column conflict: input tag \"{column}\" on measurement \"{measurement}\" already exists as a field; a tag and a field cannot share a name"
        ),
        (SchemaConflict::TagFieldClash { .. }, ColumnKind::Field(_)) => format!(
            "column conflict: input field \"{column}\" on measurement \"{measurement}\" already exists as a tag; a tag and a field cannot share a name"
        ),
    }
}

/// Where a point stands against one catalog snapshot.
enum Check {
    /// Every column exists and fits; they were pushed to `columns`.
    Ok,
    /// It needs columns the catalog does not have yet.
    Missing,
    Rejected(String),
}

/// Checks `point` against `table`: pushes its columns (tags, then fields)
/// onto `columns` if all exist and fit, else notes the missing ones.
fn check_point(
    table: Option<&Arc<Table>>,
    point: &Point<'_>,
    missing: &mut Vec<ColumnRequest>,
    columns: &mut Vec<Column>,
) -> Check {
    let start = columns.len();
    let mut needs = false;
    let mut want = |name: &str, kind: ColumnKind| -> Result<(), String> {
        match table.and_then(|t| t.column(name)) {
            Some(existing) => {
                let column = check(&existing, kind)
                    .map_err(|c| conflict_message(point.measurement, name, kind, &c))?;
                columns.push(column);
                Ok(())
            }
            None => {
                needs = true;
                if !missing.iter().any(|m| m.name == name) {
                    missing.push(ColumnRequest {
                        name: name.to_owned(),
                        kind,
                    });
                }
                Ok(())
            }
        }
    };
    let mut verdict = Check::Ok;
    for tag in point.tags {
        if let Err(m) = want(tag.key, ColumnKind::Tag) {
            verdict = Check::Rejected(m);
            break;
        }
    }
    if matches!(verdict, Check::Ok) {
        for field in point.fields {
            if let Err(m) = want(field.key, ColumnKind::Field(kind_of(&field.value))) {
                verdict = Check::Rejected(m);
                break;
            }
        }
    }
    if needs && matches!(verdict, Check::Ok) {
        verdict = Check::Missing;
    }
    if !matches!(verdict, Check::Ok) {
        columns.truncate(start);
    }
    verdict
}

/// The keys of the last point checked for a table, and their columns.
/// Consecutive lines of one measurement nearly always repeat their keys, so
/// comparing against this (a few short memcmps) replaces the hash lookups.
struct Layout<'a> {
    id: u32,
    /// The table's slot in the request's table list.
    slot: u32,
    table: Arc<Table>,
    tags: usize,
    keys: Vec<&'a str>,
    /// Where its columns sit in the request's column list: every point of
    /// this layout shares them.
    range: (u32, u32),
}

impl<'a> Layout<'a> {
    /// Its columns, in the request's column list `all`.
    fn columns<'c>(&self, all: &'c [Column]) -> &'c [Column] {
        &all[self.range.0 as usize..self.range.1 as usize]
    }

    fn matches(&self, table: &Arc<Table>, point: &Point<'a>, all: &[Column]) -> bool {
        Arc::ptr_eq(&self.table, table)
            && self.tags == point.tags.len()
            && self.keys.len() == point.tags.len() + point.fields.len()
            && point
                .tags
                .iter()
                .zip(&self.keys)
                .all(|(t, k)| key_eq(t.key, k))
            && point
                .fields
                .iter()
                .zip(&self.keys[self.tags..])
                .zip(&self.columns(all)[self.tags..])
                .all(|((f, k), c)| {
                    key_eq(f.key, k) && c.kind == ColumnKind::Field(kind_of(&f.value))
                })
    }
}

/// One request's layouts: a point whose columns some earlier point
/// already had reuses its layout, so a run of points is one run however
/// many of them created columns, and a body that alternates between a few
/// layouts writes each to the WAL once.
#[derive(Default)]
struct Layouts<'a> {
    list: Vec<Layout<'a>>,
    /// Each measurement's last layout (an index in `list`).
    last: HashMap<&'a str, usize>,
    /// The layout of each table slot and column list.
    by_columns: HashMap<(u32, Vec<u32>), usize>,
}

impl<'a> Layouts<'a> {
    /// The layout of `point`, which `check_point` just passed with its
    /// columns at `columns[start..]`: an existing one (and those columns
    /// are taken back off), or a new one.
    fn add(
        &mut self,
        slot: u32,
        table: &Arc<Table>,
        point: &Point<'a>,
        columns: &mut Vec<Column>,
        start: usize,
    ) -> usize {
        let ids = columns[start..].iter().map(|c| c.id).collect();
        let index = match self.by_columns.entry((slot, ids)) {
            hashbrown::hash_map::Entry::Occupied(e) => {
                columns.truncate(start);
                *e.get()
            }
            hashbrown::hash_map::Entry::Vacant(e) => {
                let keys = point.tags.iter().map(|t| t.key);
                let keys = keys.chain(point.fields.iter().map(|f| f.key)).collect();
                self.list.push(Layout {
                    id: self.list.len() as u32,
                    slot,
                    table: table.clone(),
                    tags: point.tags.len(),
                    keys,
                    range: (start as u32, columns.len() as u32),
                });
                *e.insert(self.list.len() - 1)
            }
        };
        self.last.insert(point.measurement, index);
        index
    }

    fn resolved(&self, index: usize) -> Resolved {
        let layout = &self.list[index];
        Resolved {
            table: layout.slot,
            start: layout.range.0,
            end: layout.range.1,
            layout: layout.id,
        }
    }
}

/// The tables one request touches. Points refer to them by slot: cloning
/// an `Arc` per point would bounce its count between cores.
#[derive(Default)]
struct Slots {
    tables: Vec<Arc<Table>>,
    slots: HashMap<*const Table, u32>,
}

impl Slots {
    fn of(&mut self, table: &Arc<Table>) -> u32 {
        if self.tables.last().is_some_and(|t| Arc::ptr_eq(t, table)) {
            return self.tables.len() as u32 - 1;
        }
        let tables = &mut self.tables;
        *self.slots.entry(Arc::as_ptr(table)).or_insert_with(|| {
            tables.push(table.clone());
            tables.len() as u32 - 1
        })
    }
}

/// What placing one request's points builds up.
#[derive(Default)]
struct Placing<'a> {
    layouts: Layouts<'a>,
    slots: Slots,
    /// The columns of every layout, each a range of this list.
    columns: Vec<Column>,
    /// The columns the last point that could not be placed wanted.
    scratch: Vec<ColumnRequest>,
}

impl<'a> Placing<'a> {
    /// Where `point` goes in `db` of `snapshot`: its measurement's last
    /// layout if the keys match, else the layout of the columns
    /// `check_point` finds; `Err` says why it cannot go yet or at all.
    /// `cached` is the last point's measurement, table and layout, so that
    /// runs of one measurement skip the table and layout lookups.
    // Inlined: it runs per point, and the cached case is a compare.
    #[inline(always)]
    fn place<'s>(
        &mut self,
        point: &Point<'a>,
        snapshot: &'s Snapshot,
        db: &str,
        cached: &mut Option<Cached<'s, 'a>>,
    ) -> Result<Resolved, NotPlaced> {
        let layouts = &mut self.layouts;
        let (table, last) = match *cached {
            Some(c) if key_eq(c.measurement, point.measurement) => (c.table, c.layout),
            _ => {
                let table = snapshot.table(db, point.measurement);
                let layout = layouts.last.get(point.measurement).copied();
                *cached = Some(Cached {
                    measurement: point.measurement,
                    table,
                    layout,
                });
                (table, layout)
            }
        };
        if let (Some(table), Some(last)) = (table, last) {
            if layouts.list[last].matches(table, point, &self.columns) {
                return Ok(layouts.resolved(last));
            }
        }
        self.scratch.clear();
        let start = self.columns.len();
        match check_point(table, point, &mut self.scratch, &mut self.columns) {
            Check::Ok => {
                let table = table.expect("all columns exist");
                let slot = self.slots.of(table);
                let index = layouts.add(slot, table, point, &mut self.columns, start);
                *cached = Some(Cached {
                    measurement: point.measurement,
                    table: Some(table),
                    layout: Some(index),
                });
                Ok(layouts.resolved(index))
            }
            Check::Missing => Err(NotPlaced::Missing),
            Check::Rejected(message) => Err(NotPlaced::Rejected(message)),
        }
    }
}

/// Why [`Placing::place`] found no layout for a point.
enum NotPlaced {
    /// It needs columns the catalog does not have yet.
    Missing,
    Rejected(String),
}

/// String equality tuned for short keys (see
/// [`crate::shard::dictionary::short_eq`]).
#[inline(always)]
fn key_eq(a: &str, b: &str) -> bool {
    crate::shard::dictionary::short_eq(a.as_bytes(), b.as_bytes())
}

/// The last point's measurement, its table and its measurement's last layout.
#[derive(Clone, Copy)]
struct Cached<'s, 'a> {
    measurement: &'a str,
    table: Option<&'s Arc<Table>>,
    layout: Option<usize>,
}

/// A point that passed: its table (a slot in the request's table list) and
/// its columns in `columns[start..end]`.
struct Resolved {
    table: u32,
    start: u32,
    end: u32,
    /// Points with the same layout id have the same columns in the same order.
    layout: u32,
}

/// How one request's points are stored.
#[derive(Clone, Copy, Debug)]
pub struct WriteOptions {
    /// The time of points that have none.
    pub default_time: i64,
    /// The write's place in the global write order (every row carries it).
    pub seq: u64,
    /// One rejected point means none is stored.
    pub atomic: bool,
    /// Points before this are beyond the database's retention (i64::MIN: none are).
    pub cutoff: i64,
    /// Check everything, store nothing (`--store none`): `written` counts
    /// what would have been stored.
    pub discard: bool,
}

impl WriteOptions {
    /// Not atomic, and no retention cutoff.
    pub fn new(default_time: i64, seq: u64) -> WriteOptions {
        WriteOptions {
            default_time,
            seq,
            atomic: false,
            cutoff: i64::MIN,
            discard: false,
        }
    }
}

/// The message for a point older than its database keeps (InfluxDB's words).
pub const BEYOND_RETENTION: &str = "points beyond retention policy";

/// Checks and stores `points` into `db` on this core's `shard`. With `wal`,
/// what was stored is also appended to it as one WAL entry.
pub fn write_points<'a>(
    catalog: &Catalog,
    shard: &mut Shard,
    db: &str,
    points: &[Point<'a>],
    options: WriteOptions,
    wal: Option<&mut Vec<u8>>,
) -> Outcome {
    let WriteOptions {
        default_time,
        seq,
        atomic,
        cutoff,
        discard,
    } = options;
    let mut snapshot: Arc<Snapshot> = catalog.snapshot();
    if snapshot.database(db).is_none() {
        snapshot = catalog.ensure_database(db);
    }
    let db_name = snapshot.database(db).expect("just ensured").name.clone();
    let mut outcome = Outcome::default();
    // Per point: where it goes once checked; `None` while it waits for new
    // columns, or after it was rejected.
    let mut resolved: Vec<Option<Resolved>> = Vec::with_capacity(points.len());
    let mut waiting: Vec<usize> = Vec::new();
    let mut wanted: HashMap<&str, Vec<ColumnRequest>> = HashMap::new();
    let mut placing = Placing::default();
    let mut cached: Option<Cached<'_, 'a>> = None;

    for (k, point) in points.iter().enumerate() {
        if cutoff != i64::MIN && point.timestamp.unwrap_or(default_time) < cutoff {
            outcome.rejected.push(Rejection {
                line: point.line,
                message: BEYOND_RETENTION.into(),
            });
            resolved.push(None);
            continue;
        }
        let placed = placing.place(point, &snapshot, db, &mut cached);
        match placed {
            Ok(r) => resolved.push(Some(r)),
            Err(NotPlaced::Missing) => {
                let list = wanted.entry(point.measurement).or_default();
                for request in placing.scratch.drain(..) {
                    // The first point of this request to want a column decides its kind.
                    if !list.iter().any(|r| r.name == request.name) {
                        list.push(request);
                    }
                }
                waiting.push(k);
                resolved.push(None);
            }
            Err(NotPlaced::Rejected(message)) => {
                outcome.rejected.push(Rejection {
                    line: point.line,
                    message,
                });
                resolved.push(None);
            }
        }
    }

    if !waiting.is_empty() {
        let wanted: Vec<(&str, &[ColumnRequest])> =
            wanted.iter().map(|(t, r)| (*t, r.as_slice())).collect();
        catalog.add_columns_to_tables(db, &wanted);
        let snapshot = catalog.snapshot();
        // The first pass's layouts were made from the old snapshot's
        // tables: these points' layouts are the new tables' own.
        placing.layouts.last.clear();
        let mut cached: Option<Cached<'_, 'a>> = None;
        for k in waiting {
            let point = &points[k];
            let placed = placing.place(point, &snapshot, db, &mut cached);
            match placed {
                Ok(r) => resolved[k] = Some(r),
                Err(NotPlaced::Rejected(message)) => outcome.rejected.push(Rejection {
                    line: point.line,
                    message,
                }),
                // Only possible if this request wanted one name as both a tag
                // and a field: the loser was never created.
                Err(NotPlaced::Missing) => {
                    let name = placing.scratch.first().map(|r| r.name.clone());
                    let name = name.unwrap_or_default();
                    outcome.rejected.push(Rejection {
                        line: point.line,
                        message: format!(
                            "column conflict: \"{name}\" on measurement \"{}\" is written as both a tag and a field",
                            point.measurement
                        ),
                    })
                }
            }
        }
        outcome.rejected.sort_by_key(|r| r.line);
    }
    if atomic && !outcome.rejected.is_empty() {
        return outcome;
    }
    if discard {
        outcome.written = resolved.iter().flatten().count();
        return outcome;
    }
    // Rows go in body order, so the later of two equal points wins; runs of
    // points with one layout are appended column by column.
    let mut run: Vec<&Point<'a>> = Vec::new();
    let mut entry = wal.map(|buf| EntryWriter::begin(buf, seq, &db_name));
    let mut k = 0;
    while k < points.len() {
        let Some(first) = &resolved[k] else {
            k += 1;
            continue;
        };
        run.clear();
        let mut end = k;
        while end < points.len() {
            match &resolved[end] {
                Some(r) if r.layout == first.layout => run.push(&points[end]),
                None => {}
                Some(_) => break,
            }
            end += 1;
        }
        let table = &placing.slots.tables[first.table as usize];
        let index = shard.table_index(&db_name, &table.name);
        let cols = &placing.columns[first.start as usize..first.end as usize];
        let stored = shard.table_at(index);
        stored.append_run(&run, cols, &table.names, default_time, seq);
        if let Some(entry) = entry.as_mut() {
            entry.run(
                first.layout,
                &table.name,
                cols,
                &table.names,
                &run,
                default_time,
                stored,
            );
        }
        stored.seal_if_full();
        outcome.written += run.len();
        k = end;
    }
    if let Some(entry) = entry {
        entry.finish();
    }
    shard.seal_full();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lp::{parse, Precision};
    use bumpalo::Bump;

    fn write(catalog: &Catalog, shard: &mut Shard, body: &str) -> Outcome {
        let arena = Bump::new();
        let parsed = parse(body.as_bytes(), Precision::Nanosecond, &arena).unwrap();
        write_points(
            catalog,
            shard,
            "db",
            &parsed.points,
            WriteOptions::new(42, 1),
            None,
        )
    }

    #[test]
    fn schema_rules_reject_single_points() {
        let catalog = Catalog::default();
        let mut shard = Shard::default();
        let out = write(
            &catalog,
            &mut shard,
            "m,host=a v=1 1\nm,host=b v=2i 2\nm v=3,host=1 3\nm,v=x w=1 4\nm u=1 5",
        );
        assert_eq!(out.written, 2);
        let messages: Vec<_> = out
            .rejected
            .iter()
            .map(|r| (r.line, r.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            [
                (2, "field type conflict: input field \"v\" on measurement \"m\" is type integer, already exists as type float"),
                (3, "column conflict: input field \"host\" on measurement \"m\" already exists as a tag; a tag and a field cannot share a name"),
                (4, "column conflict: input tag \"v\" on measurement \"m\" already exists as a field; a tag and a field cannot share a name"),
            ]
        );
        assert_eq!(shard.rows(), 2);
    }

    #[test]
    fn first_point_in_a_body_decides_a_new_columns_type() {
        let catalog = Catalog::default();
        let mut shard = Shard::default();
        let out = write(&catalog, &mut shard, "m v=1i 1\nm v=2 2\nm v=3i 3");
        assert_eq!(out.written, 2);
        assert_eq!(out.rejected.len(), 1);
        assert_eq!(out.rejected[0].line, 2);
    }

    #[test]
    fn a_name_used_as_tag_and_field_in_one_line_is_rejected() {
        let catalog = Catalog::default();
        let mut shard = Shard::default();
        let out = write(&catalog, &mut shard, "m,x=1 x=2 1\nm,y=1 z=2 2");
        assert_eq!(out.written, 1);
        assert_eq!(out.rejected[0].line, 1);
    }

    #[test]
    fn rows_keep_body_order_when_some_points_wait_for_new_columns() {
        let catalog = Catalog::default();
        let mut shard = Shard::default();
        write(&catalog, &mut shard, "m a=0 1");
        let out = write(&catalog, &mut shard, "m a=1,new=1 1\nm a=2 1");
        assert_eq!(out.written, 2);
        let batches = shard.snapshot("db", "m");
        use arrow_array::cast::AsArray;
        let a = batches[0]
            .column(1)
            .as_primitive::<arrow_array::types::Float64Type>();
        assert_eq!(a.values().as_ref(), [0.0, 1.0, 2.0]);
    }

    fn logged(catalog: &Catalog, shard: &mut Shard, body: &str) -> (Outcome, Vec<u8>) {
        let arena = Bump::new();
        let parsed = parse(body.as_bytes(), Precision::Nanosecond, &arena).unwrap();
        let mut wal = Vec::new();
        let options = WriteOptions::new(42, 1);
        let out = write_points(
            catalog,
            shard,
            "db",
            &parsed.points,
            options,
            Some(&mut wal),
        );
        (out, wal)
    }

    #[test]
    fn a_write_that_creates_its_columns_logs_what_one_that_finds_them_does() {
        // Points that waited for new columns once each got a layout of their
        // own: a run per point, and a WAL layout record per point.
        let mut body = String::new();
        for i in 0..500 {
            body.push_str(&format!(
                "cpu,host=h{} idle={i},user=1i {i}
",
                i % 7
            ));
            body.push_str(&format!(
                "mem,host=h{} free={i}i {i}
",
                i % 7
            ));
            body.push_str(&format!(
                "mem,host=h{} free={i}i,used=2i {i}
",
                i % 7
            ));
        }
        let catalog = Catalog::default();
        let mut shard = Shard::default();
        let (first, creating) = logged(&catalog, &mut shard, &body);
        let (second, finding) = logged(&catalog, &mut shard, &body);
        assert_eq!((first.written, second.written), (1500, 1500));
        assert!(first.rejected.is_empty() && second.rejected.is_empty());
        assert_eq!(creating, finding);
        let arena = Bump::new();
        let payload = &creating[crate::wal::entry::HEADER..];
        let decoded = crate::wal::entry::decode(payload, &arena).unwrap();
        assert_eq!(decoded.points.len(), 1500);
    }

    #[test]
    fn atomic_writes_store_nothing_when_a_point_fails() {
        let catalog = Catalog::default();
        let mut shard = Shard::default();
        write(&catalog, &mut shard, "m v=1 1");
        let arena = Bump::new();
        let parsed = parse(b"m v=2 2\nm v=3i 3", Precision::Nanosecond, &arena).unwrap();
        let out = write_points(
            &catalog,
            &mut shard,
            "db",
            &parsed.points,
            WriteOptions {
                atomic: true,
                ..WriteOptions::new(0, 2)
            },
            None,
        );
        assert_eq!((out.written, out.rejected.len()), (0, 1));
        assert_eq!(shard.rows(), 1);
    }

    #[test]
    fn the_key_layout_shortcut_still_checks_types() {
        let catalog = Catalog::default();
        let mut shard = Shard::default();
        write(&catalog, &mut shard, "m,h=a v=1 1");
        let out = write(
            &catalog,
            &mut shard,
            "m,h=a v=2 2\nm,h=a v=3i 3\nm,h=a v=4 4\nm,h=a v=\"s\" 5",
        );
        assert_eq!(out.written, 2);
        let lines: Vec<usize> = out.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 4]);
    }

    #[test]
    fn key_eq_matches_plain_equality() {
        let words = [
            "",
            "a",
            "host",
            "usage_id",
            "usage_idle",
            "usage_idlf",
            "usage_guest_nice",
            "usage_guest_nicf",
            "usage_guest_nice_",
            "xsage_guest_nice",
            "available_percent",
            "available_percenu",
            "bvailable_percent",
            "kernel_context_switches_per_sec",
            "kernel_context_switches_per_secs",
            "kernel_context_switches_per_sect",
            "kernel_context_switches_per_second",
        ];
        for a in words {
            for b in words {
                assert_eq!(key_eq(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn runs_of_layouts_keep_every_value_in_its_row() {
        let catalog = Catalog::default();
        let mut shard = Shard::default();
        write(&catalog, &mut shard, "m a=0,b=0 0\nn x=0 0");
        let body =
            "m a=1 1\nm a=2 2\nm b=3 3\nbad\nm a=4,b=4 4\nn x=5 5\nm a=6 6\nm a=7i 7\nm a=8 8";
        let out = write(&catalog, &mut shard, body);
        assert_eq!(out.written, 7);
        use arrow_array::cast::AsArray;
        use arrow_array::Array;
        let batches = shard.snapshot("db", "m");
        let rows: Vec<(i64, Option<f64>, Option<f64>)> = batches
            .iter()
            .flat_map(|b| {
                let t = b
                    .column(0)
                    .as_primitive::<arrow_array::types::TimestampNanosecondType>()
                    .clone();
                let a = b
                    .column(1)
                    .as_primitive::<arrow_array::types::Float64Type>()
                    .clone();
                let c = b
                    .column(2)
                    .as_primitive::<arrow_array::types::Float64Type>()
                    .clone();
                (0..b.num_rows())
                    .map(move |i| {
                        (
                            t.value(i),
                            a.is_valid(i).then(|| a.value(i)),
                            c.is_valid(i).then(|| c.value(i)),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(
            rows,
            [
                (0, Some(0.0), Some(0.0)),
                (1, Some(1.0), None),
                (2, Some(2.0), None),
                (3, None, Some(3.0)),
                (4, Some(4.0), Some(4.0)),
                (6, Some(6.0), None),
                (8, Some(8.0), None),
            ]
        );
    }

    #[test]
    fn discard_checks_like_a_store_and_keeps_nothing() {
        let body = "m,t=a v=1 1\nm v=\"str\" 2\nn x=1i 3\nm,t=b v=2 4\n";
        let (catalog, mut shard) = (Catalog::default(), Shard::default());
        let arena = Bump::new();
        let parsed = parse(body.as_bytes(), Precision::Nanosecond, &arena).unwrap();
        let options = WriteOptions {
            discard: true,
            ..WriteOptions::new(42, 1)
        };
        let out = write_points(&catalog, &mut shard, "db", &parsed.points, options, None);
        let stored = write(&Catalog::default(), &mut Shard::default(), body);
        assert_eq!(
            (out.written, &out.rejected),
            (stored.written, &stored.rejected)
        );
        assert_eq!((out.written, out.rejected.len()), (3, 1));
        assert_eq!(shard.rows(), 0);
    }

    #[test]
    fn points_beyond_retention_are_rejected_one_by_one() {
        let (catalog, mut shard) = (Catalog::default(), Shard::default());
        let arena = Bump::new();
        let parsed = parse(b"m v=1 5\nm v=2 10\nm v=3", Precision::Nanosecond, &arena).unwrap();
        let options = WriteOptions {
            cutoff: 10,
            ..WriteOptions::new(42, 1)
        };
        let out = write_points(&catalog, &mut shard, "db", &parsed.points, options, None);
        assert_eq!(out.written, 2);
        assert_eq!(
            out.rejected,
            [Rejection {
                line: 1,
                message: BEYOND_RETENTION.into()
            }]
        );
    }

    #[test]
    fn missing_time_uses_the_default() {
        let catalog = Catalog::default();
        let mut shard = Shard::default();
        write(&catalog, &mut shard, "m v=1");
        let batches = shard.snapshot("db", "m");
        use arrow_array::cast::AsArray;
        let t = batches[0]
            .column(0)
            .as_primitive::<arrow_array::types::TimestampNanosecondType>();
        assert_eq!(t.value(0), 42);
    }
}
