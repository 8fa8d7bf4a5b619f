//! This core's data: per table, Arrow column builders that fill row by row
//! and are sealed into immutable `RecordBatch`es at a row threshold.
//!
//! A shard is owned by one executor and never shared: other cores read it by
//! asking its owner (see `runtime::fanout`), which answers with `RecordBatch`
//! clones (cheap: arrays are reference counted).
//!
//! Layout of a batch: `time` (Timestamp(ns)), then the table's columns in
//! catalog id order (tags as dictionary-encoded strings, fields typed), then
//! `_seq`, the write's global sequence number, which decides "last write
//! wins" between points of the same series and time.

pub mod dictionary;
pub mod merge;

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampNanosecondBuilder,
    UInt64Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use hashbrown::HashMap;

use crate::catalog::{Column, ColumnKind, FieldType};
use crate::lp::{FieldValue, Point};

/// Tag values per tag key, keys and values sorted.
#[derive(Debug, Default)]
pub struct TagIndex {
    pub keys: Vec<(Arc<str>, Vec<Arc<str>>)>,
    /// The same as (key, value) answer rows, with each key's row range;
    /// built on first use, then shared by every query until the data changes.
    rows: std::sync::OnceLock<(crate::query::result::Rows, Vec<std::ops::Range<usize>>)>,
}

impl TagIndex {
    pub fn new(keys: Vec<(Arc<str>, Vec<Arc<str>>)>) -> TagIndex {
        TagIndex {
            keys,
            rows: std::sync::OnceLock::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// (key, value) rows of every key, and each key's range of them.
    pub fn rows(&self) -> &(crate::query::result::Rows, Vec<std::ops::Range<usize>>) {
        self.rows.get_or_init(|| {
            use crate::query::value::Value;
            let total = self.keys.iter().map(|(_, v)| v.len()).sum();
            let mut rows = crate::query::result::Rows::with_capacity(2, total);
            let mut ranges = Vec::with_capacity(self.keys.len());
            for (k, values) in &self.keys {
                let start = rows.len();
                for v in values {
                    rows.push([Value::String(k.clone()), Value::String(v.clone())]);
                }
                ranges.push(start..rows.len());
            }
            (rows, ranges)
        })
    }
}

/// The name of the hidden write-order column.
pub const SEQ_COLUMN: &str = "_seq";

enum Builder {
    Tag(dictionary::TagBuilder),
    Float(Float64Builder),
    Integer(Int64Builder),
    Unsigned(UInt64Builder),
    String(StringBuilder),
    Boolean(BooleanBuilder),
}

impl Builder {
    fn new(kind: ColumnKind, rows: usize) -> Builder {
        match kind {
            ColumnKind::Tag => Builder::Tag(dictionary::TagBuilder::with_capacity(rows)),
            ColumnKind::Field(FieldType::Float) => {
                Builder::Float(Float64Builder::with_capacity(rows))
            }
            ColumnKind::Field(FieldType::Integer) => {
                Builder::Integer(Int64Builder::with_capacity(rows))
            }
            ColumnKind::Field(FieldType::Unsigned) => {
                Builder::Unsigned(UInt64Builder::with_capacity(rows))
            }
            ColumnKind::Field(FieldType::String) => {
                Builder::String(StringBuilder::with_capacity(rows, rows * 16))
            }
            ColumnKind::Field(FieldType::Boolean) => {
                Builder::Boolean(BooleanBuilder::with_capacity(rows))
            }
        }
    }

    fn data_type(&self) -> DataType {
        match self {
            Builder::Tag(_) => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
            Builder::Float(_) => DataType::Float64,
            Builder::Integer(_) => DataType::Int64,
            Builder::Unsigned(_) => DataType::UInt64,
            Builder::String(_) => DataType::Utf8,
            Builder::Boolean(_) => DataType::Boolean,
        }
    }

    fn append_nulls(&mut self, n: usize) {
        // Arrow materializes a validity bitmap on any null append, even of
        // none, and every later append then sets a bit in it.
        if n == 0 {
            return;
        }
        match self {
            Builder::Tag(b) => b.append_nulls(n),
            Builder::Float(b) => b.append_nulls(n),
            Builder::Integer(b) => b.append_nulls(n),
            Builder::Unsigned(b) => b.append_nulls(n),
            Builder::String(b) => {
                for _ in 0..n {
                    b.append_null()
                }
            }
            Builder::Boolean(b) => b.append_nulls(n),
        }
    }

    fn finish(&mut self, cloned: bool) -> ArrayRef {
        macro_rules! done {
            ($b:expr) => {
                if cloned {
                    Arc::new($b.finish_cloned()) as ArrayRef
                } else {
                    Arc::new($b.finish()) as ArrayRef
                }
            };
        }
        match self {
            Builder::Tag(b) => done!(b),
            Builder::Float(b) => done!(b),
            Builder::Integer(b) => done!(b),
            Builder::Unsigned(b) => done!(b),
            Builder::String(b) => done!(b),
            Builder::Boolean(b) => done!(b),
        }
    }
}

/// Appends field `f` of every point to a fixed-width builder, as one
/// extend without a capacity check and a validity bit per value. Every
/// point of a run has a value of the column's type there: the write stage
/// put a point in a run only once its keys and value types matched the
/// run's columns, so the values are not checked again (a second pass over
/// the points per column). Were one of another type, it would be a zero.
macro_rules! append_fixed {
    ($b:expr, $points:expr, $f:expr, $variant:ident) => {{
        let (b, points, f) = ($b, $points, $f);
        debug_assert!(points
            .iter()
            .all(|p| matches!(p.fields[f].value, FieldValue::$variant(_))));
        let values = points.iter().map(|p| match p.fields[f].value {
            FieldValue::$variant(x) => x,
            _ => Default::default(),
        });
        // SAFETY: a slice's mapped iterator reports its exact length.
        unsafe { b.append_trusted_len_iter(values) }
    }};
}

/// The bytes of the last `n` of `values` (all if there are fewer), when
/// native order is little-endian.
fn le_tail<T: arrow_array::ArrowNativeTypeOp>(values: &[T], n: usize) -> Option<&[u8]> {
    if cfg!(target_endian = "big") {
        return None;
    }
    let tail = &values[values.len().saturating_sub(n)..];
    // SAFETY: Arrow's native types are plain numbers (no padding, every
    // byte initialised), so their memory reads as bytes.
    Some(unsafe {
        std::slice::from_raw_parts(tail.as_ptr().cast::<u8>(), std::mem::size_of_val(tail))
    })
}

/// Cells (rows times columns) at which an open batch is sealed, whatever
/// its rows: 64 Ki rows of up to 62 columns.
const SEAL_CELLS: usize = 1 << 22;

/// Rows a new table's builders make room for; a table that has filled a
/// whole batch gets room for a whole batch up front (no regrowth copies).
/// Small, as writers such as Telegraf's Prometheus input bring thousands of
/// measurements of a few rows each.
const FIRST_CAPACITY: usize = 32;

/// One table's rows on this core.
pub struct TableShard {
    time: TimestampNanosecondBuilder,
    seq: UInt64Builder,
    /// Indexed by catalog column id; `None` for columns the open rows
    /// have not used (a batch holds only the columns its rows use).
    columns: Vec<Option<(Arc<str>, Builder)>>,
    /// The ids of the columns with a builder, so that a run fills the
    /// absent ones without visiting every column the table ever had.
    open_columns: Vec<u32>,
    /// For each column, the row it was last set in (plus one), to null the rest.
    set_in_row: Vec<usize>,
    rows: usize,
    sealed: Vec<RecordBatch>,
    /// Each sealed batch's (min, max) time, for retention.
    sealed_spans: Vec<(i64, i64)>,
    sealed_rows: usize,
    /// Every tag value in the sealed batches, per tag key: SHOW TAG VALUES
    /// answers from here instead of scanning rows.
    tag_index: HashMap<Arc<str>, std::collections::BTreeSet<Arc<str>>>,
    /// The last answer of `tag_values`, valid while the row count is unchanged.
    tag_answer: Option<(usize, Arc<TagIndex>)>,
    /// Rows the current builders were sized for.
    capacity: usize,
    /// String bytes in the open rows (Arrow's i32 offsets cap a batch at 2 GiB).
    open_bytes: usize,
    /// Sealed batches being written to Parquet (still served until done).
    persisting: Vec<RecordBatch>,
    persisting_rows: usize,
    /// This table's Parquet files on this core.
    files: Vec<Arc<crate::persist::FileMeta>>,
    file_rows: usize,
    /// When the oldest row not yet in Parquet arrived.
    since: Option<std::time::Instant>,
}

impl TableShard {
    fn new() -> Self {
        TableShard {
            time: TimestampNanosecondBuilder::with_capacity(FIRST_CAPACITY),
            seq: UInt64Builder::with_capacity(FIRST_CAPACITY),
            columns: Vec::new(),
            open_columns: Vec::new(),
            set_in_row: Vec::new(),
            rows: 0,
            sealed: Vec::new(),
            sealed_spans: Vec::new(),
            sealed_rows: 0,
            capacity: FIRST_CAPACITY,
            open_bytes: 0,
            tag_index: HashMap::new(),
            tag_answer: None,
            persisting: Vec::new(),
            persisting_rows: 0,
            files: Vec::new(),
            file_rows: 0,
            since: None,
        }
    }

    /// Appends a run of points that share one key layout: `columns` are
    /// their tags' then their fields' columns, in the points' order (the write
    /// stage checked every key and type). Column by column, so each builder
    /// is matched once per run instead of once per value. The caller seals
    /// with [`TableShard::seal_if_full`] once it has read the run back.
    pub fn append_run(
        &mut self,
        points: &[&Point<'_>],
        columns: &[Column],
        names: &[Arc<str>],
        default_time: i64,
        seq: u64,
    ) {
        let n = points.len();
        let marker = self.rows + 1;
        let tags = columns
            .iter()
            .take_while(|c| c.kind == ColumnKind::Tag)
            .count();
        for (j, column) in columns.iter().enumerate() {
            let id = column.id as usize;
            if id >= self.columns.len() {
                self.columns.resize_with(id + 1, || None);
                self.set_in_row.resize(id + 1, 0);
            }
            // Keys are unique per line, so a column comes once per layout; if
            // one ever came twice, a second fill would misalign the columns.
            if self.set_in_row[id] == marker {
                debug_assert!(false, "column {id} twice in one layout");
                continue;
            }
            let (capacity, rows) = (self.capacity, self.rows);
            let open = &mut self.open_columns;
            let (_, builder) = self.columns[id].get_or_insert_with(|| {
                // A column the batch's first rows bring gets the room a
                // whole batch took before; one that comes later (a sparse
                // column) only what it needs, and grows.
                let capacity = match rows {
                    0 => capacity,
                    _ => (rows + n).next_power_of_two(),
                };
                let mut b = Builder::new(column.kind, capacity);
                b.append_nulls(rows);
                open.push(id as u32);
                (names[id].clone(), b)
            });
            self.set_in_row[id] = marker;
            if j < tags {
                match builder {
                    Builder::Tag(b) => points.iter().for_each(|p| b.append_value(p.tags[j].value)),
                    other => other.append_nulls(n),
                }
                continue;
            }
            let f = j - tags;
            // A value of another type cannot get here (see `append_fixed`);
            // if one did, the columns would still stay aligned.
            match builder {
                Builder::Float(b) => append_fixed!(b, points, f, Float),
                Builder::Integer(b) => append_fixed!(b, points, f, Integer),
                Builder::Unsigned(b) => append_fixed!(b, points, f, Unsigned),
                Builder::String(b) => points.iter().for_each(|p| match p.fields[f].value {
                    FieldValue::String(x) => {
                        self.open_bytes += x.len();
                        b.append_value(x)
                    }
                    _ => b.append_null(),
                }),
                Builder::Boolean(b) => points.iter().for_each(|p| match p.fields[f].value {
                    FieldValue::Boolean(x) => b.append_value(x),
                    _ => b.append_null(),
                }),
                Builder::Tag(b) => b.append_nulls(n),
            }
        }
        for &id in &self.open_columns {
            if self.set_in_row[id as usize] != marker {
                if let Some((_, builder)) = &mut self.columns[id as usize] {
                    builder.append_nulls(n);
                }
            }
        }
        // SAFETY: a slice's mapped iterator reports its exact length.
        unsafe {
            self.time
                .append_trusted_len_iter(points.iter().map(|p| p.timestamp.unwrap_or(default_time)))
        };
        self.seq.append_value_n(seq, n);
        self.rows += n;
        self.since.get_or_insert_with(std::time::Instant::now);
    }

    /// Seals the open rows once they hold [`SEAL_CELLS`] cells. Called after
    /// each run, once the run's WAL record has copied the builders' tails.
    pub fn seal_if_full(&mut self) {
        // Every row holds a cell (a value or a null) for each of the batch's
        // columns: points that each bring other fields would otherwise grow
        // a batch quadratically.
        if self.rows * (2 + self.open_columns.len()) >= SEAL_CELLS {
            self.seal();
        }
    }

    /// The last `n` times appended, as little-endian bytes (the WAL copies
    /// a run's times from here). `None` on big-endian targets.
    pub fn time_tail(&self, n: usize) -> Option<&[u8]> {
        le_tail(self.time.values_slice(), n)
    }

    /// The last `n` values of fixed-width column `id`, as little-endian
    /// bytes; `None` for other columns (and on big-endian targets).
    pub fn fixed_tail(&self, id: u32, n: usize) -> Option<&[u8]> {
        match &self.columns.get(id as usize)?.as_ref()?.1 {
            Builder::Float(b) => le_tail(b.values_slice(), n),
            Builder::Integer(b) => le_tail(b.values_slice(), n),
            Builder::Unsigned(b) => le_tail(b.values_slice(), n),
            _ => None,
        }
    }

    fn batch(&mut self, cloned: bool) -> RecordBatch {
        let mut fields = vec![Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            false,
        )];
        let mut arrays: Vec<ArrayRef> = vec![if cloned {
            Arc::new(self.time.finish_cloned())
        } else {
            Arc::new(self.time.finish())
        }];
        for (name, builder) in self.columns.iter_mut().flatten() {
            fields.push(Field::new(name.as_ref(), builder.data_type(), true));
            arrays.push(builder.finish(cloned));
        }
        fields.push(Field::new(SEQ_COLUMN, DataType::UInt64, false));
        arrays.push(if cloned {
            Arc::new(self.seq.finish_cloned())
        } else {
            Arc::new(self.seq.finish())
        });
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .expect("builders of one table always have equal lengths")
    }

    /// Seals the open rows into an immutable batch, and makes fresh builders
    /// with room for as many rows as this batch had.
    pub fn seal(&mut self) {
        if self.rows == 0 {
            return;
        }
        let batch = self.batch(false);
        self.capacity = self.capacity.max(self.rows);
        let capacity = self.capacity;
        self.time = TimestampNanosecondBuilder::with_capacity(capacity);
        self.seq = UInt64Builder::with_capacity(capacity);
        for id in self.open_columns.drain(..) {
            self.columns[id as usize] = None;
            self.set_in_row[id as usize] = 0;
        }
        self.sealed_rows += self.rows;
        self.rows = 0;
        self.open_bytes = 0;
        self.index_tags(&batch);
        self.sealed_spans.push(time_span(&batch));
        self.sealed.push(batch);
    }

    /// Every row in memory: batches being persisted, sealed batches and a
    /// copy of the open rows (Parquet files are read separately).
    pub fn snapshot(&mut self) -> Vec<RecordBatch> {
        let mut out = self.persisting.clone();
        out.extend(self.sealed.iter().cloned());
        if self.rows > 0 {
            out.push(self.batch(true));
        }
        out
    }

    /// Rows held, in memory and in Parquet files.
    pub fn rows(&self) -> usize {
        self.memory_rows() + self.file_rows
    }

    /// Rows in memory (open, sealed, or being persisted).
    pub fn memory_rows(&self) -> usize {
        self.sealed_rows + self.rows + self.persisting_rows
    }

    /// Approximate bytes of rows not yet handed to Parquet.
    pub fn memory_bytes(&self) -> usize {
        let sealed: usize = self.sealed.iter().map(|b| b.get_array_memory_size()).sum();
        let width = 16 + 8 * self.open_columns.len();
        sealed + self.rows * width + self.open_bytes
    }

    /// Seals the open rows and moves every sealed batch to `persisting`;
    /// returns them (still served until [`TableShard::persist_done`]).
    pub fn take_for_persist(&mut self) -> Vec<RecordBatch> {
        self.seal();
        self.persisting_rows += self.sealed_rows;
        self.sealed_rows = 0;
        let taken = std::mem::take(&mut self.sealed);
        self.sealed_spans.clear();
        self.persisting.extend(taken.iter().cloned());
        self.since = None;
        taken
    }

    /// The persisted batches are in `files` now.
    pub fn persist_done(&mut self, files: Vec<crate::persist::FileMeta>) {
        self.persisting.clear();
        self.persisting_rows = 0;
        for f in files {
            self.add_file(Arc::new(f));
        }
    }

    /// Persisting failed: the batches go back to the sealed ones.
    pub fn persist_failed(&mut self) {
        let back = std::mem::take(&mut self.persisting);
        self.sealed_rows += self.persisting_rows;
        self.persisting_rows = 0;
        self.sealed_spans.splice(0..0, back.iter().map(time_span));
        self.sealed.splice(0..0, back);
        self.since.get_or_insert_with(std::time::Instant::now);
    }

    /// Bytes of batches being persisted (in memory until done).
    pub fn persisting_bytes(&self) -> usize {
        self.persisting
            .iter()
            .map(|b| b.get_array_memory_size())
            .sum()
    }

    /// Drops sealed batches and files wholly before `cutoff`; returns the
    /// rows dropped from memory and the files to delete.
    pub fn expire(&mut self, cutoff: i64) -> (usize, Vec<Arc<crate::persist::FileMeta>>) {
        let mut dropped = 0;
        let mut k = 0;
        while k < self.sealed.len() {
            if self.sealed_spans[k].1 < cutoff {
                dropped += self.sealed[k].num_rows();
                self.sealed.remove(k);
                self.sealed_spans.remove(k);
            } else {
                k += 1;
            }
        }
        self.sealed_rows -= dropped;
        let (old, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.files)
            .into_iter()
            .partition(|f| f.max_time < cutoff);
        self.files = kept;
        self.file_rows -= old.iter().map(|f| f.rows).sum::<usize>();
        if dropped > 0 || !old.is_empty() {
            self.tag_answer = None;
        }
        (dropped, old)
    }

    pub fn add_file(&mut self, file: Arc<crate::persist::FileMeta>) {
        self.file_rows += file.rows;
        for (key, values) in &file.tags {
            let set = self.tag_index.entry(Arc::from(key.as_str())).or_default();
            for v in values {
                if !set.contains(v.as_str()) {
                    set.insert(Arc::from(v.as_str()));
                }
            }
        }
        self.files.push(file);
    }

    /// Files whose time span meets `min..=max`.
    pub fn files_in(&self, min: i64, max: i64) -> Vec<Arc<crate::persist::FileMeta>> {
        self.files
            .iter()
            .filter(|f| f.max_time >= min && f.min_time <= max)
            .cloned()
            .collect()
    }

    fn index_tags(&mut self, batch: &RecordBatch) {
        use arrow_array::cast::AsArray;
        use arrow_array::Array;
        for (c, f) in batch.schema().fields().iter().enumerate() {
            if !matches!(f.data_type(), DataType::Dictionary(_, _)) {
                continue;
            }
            let values = batch
                .column(c)
                .as_dictionary::<Int32Type>()
                .values()
                .clone();
            let values = values.as_string::<i32>();
            let set = self
                .tag_index
                .entry(Arc::from(f.name().as_str()))
                .or_default();
            for i in 0..values.len() {
                if values.is_valid(i) && !set.contains(values.value(i)) {
                    set.insert(Arc::from(values.value(i)));
                }
            }
        }
    }

    /// Every tag value this table holds, per tag key (sealed rows from the
    /// index, open rows from their tag builders' dictionaries). The answer
    /// is kept until the next write, so repeated asks cost a pointer copy.
    pub fn tag_values(&mut self) -> Arc<TagIndex> {
        let total = self.rows();
        if let Some((rows, answer)) = &self.tag_answer {
            if *rows == total {
                return answer.clone();
            }
        }
        let mut index = self.tag_index.clone();
        for (name, builder) in self.columns.iter().flatten() {
            if let Builder::Tag(b) = builder {
                if self.rows == 0 {
                    continue;
                }
                let set = index.entry(name.clone()).or_default();
                for value in b.distinct() {
                    if !set.contains(value) {
                        set.insert(Arc::from(value));
                    }
                }
            }
        }
        let mut keys: Vec<(Arc<str>, Vec<Arc<str>>)> = index
            .into_iter()
            .map(|(k, set)| (k, set.into_iter().collect()))
            .collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let answer = Arc::new(TagIndex::new(keys));
        self.tag_answer = Some((total, answer.clone()));
        answer
    }

    pub fn open_rows(&self) -> usize {
        self.rows
    }

    pub fn open_bytes(&self) -> usize {
        self.open_bytes
    }
}

/// The (min, max) of a batch's time column.
fn time_span(batch: &RecordBatch) -> (i64, i64) {
    use arrow_array::cast::AsArray;
    let times = batch
        .column(0)
        .as_primitive::<arrow_array::types::TimestampNanosecondType>();
    times
        .values()
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)))
}

/// A table's full name: database, table.
pub type TableKey = (Arc<str>, Arc<str>);

/// A [`TableKey`] by reference, to look one up without making `Arc`s: a
/// tuple of `&str` hashes as the tuple of `Arc<str>` does.
#[derive(Hash)]
struct KeyRef<'a>(&'a str, &'a str);

impl hashbrown::Equivalent<TableKey> for KeyRef<'_> {
    fn equivalent(&self, key: &TableKey) -> bool {
        self.0 == key.0.as_ref() && self.1 == key.1.as_ref()
    }
}

/// One table's rows on one core (before merging: a point overwritten on
/// another core counts on both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableStat {
    pub db: Arc<str>,
    pub table: Arc<str>,
    /// In memory and in Parquet files.
    pub rows: usize,
    pub memory_rows: usize,
    pub memory_bytes: usize,
    pub files: usize,
}

/// Everything this core holds, by database and table.
pub struct Shard {
    index: HashMap<TableKey, usize>,
    tables: Vec<(TableKey, TableShard)>,
    /// Open rows per table before they are sealed.
    pub seal_rows: usize,
    /// Open string bytes per table before they are sealed.
    pub seal_bytes: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            index: HashMap::new(),
            tables: Vec::new(),
            seal_rows: 64 * 1024,
            // Far below Arrow's 2 GiB offset limit, even after one more 64 MiB request.
            seal_bytes: 256 << 20,
        }
    }
}

impl Shard {
    /// A stable handle for `db`.`table` (created empty if new).
    pub fn table_index(&mut self, db: &Arc<str>, table: &Arc<str>) -> usize {
        if let Some(&i) = self.index.get(&(db.clone(), table.clone())) {
            return i;
        }
        let i = self.tables.len();
        self.tables
            .push(((db.clone(), table.clone()), TableShard::new()));
        self.index.insert((db.clone(), table.clone()), i);
        i
    }

    pub fn table_at(&mut self, index: usize) -> &mut TableShard {
        &mut self.tables[index].1
    }

    /// Seals tables whose open rows or string bytes passed the thresholds.
    pub fn seal_full(&mut self) {
        let (rows, bytes) = (self.seal_rows, self.seal_bytes);
        for (_, t) in self.tables.iter_mut() {
            if t.open_rows() >= rows || t.open_bytes() >= bytes {
                t.seal();
            }
        }
    }

    /// The table's index, looked up (a database can hold thousands of tables).
    fn find(&self, db: &str, table: &str) -> Option<usize> {
        self.index.get(&KeyRef(db, table)).copied()
    }

    pub fn snapshot(&mut self, db: &str, table: &str) -> Vec<RecordBatch> {
        self.find(db, table)
            .map(|i| self.tables[i].1.snapshot())
            .unwrap_or_default()
    }

    pub fn rows(&self) -> usize {
        self.tables.iter().map(|(_, t)| t.rows()).sum()
    }

    /// What this core holds of each table, for the status page.
    pub fn table_stats(&self) -> Vec<TableStat> {
        self.tables
            .iter()
            .map(|((db, table), t)| TableStat {
                db: db.clone(),
                table: table.clone(),
                rows: t.rows(),
                memory_rows: t.memory_rows(),
                // As the shard_bytes gauge counts them: batches being
                // persisted are still held.
                memory_bytes: t.memory_bytes() + t.persisting_bytes(),
                files: t.files.len(),
            })
            .collect()
    }

    pub fn memory_rows(&self) -> usize {
        self.tables.iter().map(|(_, t)| t.memory_rows()).sum()
    }

    pub fn file_count(&self) -> usize {
        self.tables.iter().map(|(_, t)| t.files.len()).sum()
    }

    /// Approximate bytes of rows not yet handed to Parquet.
    pub fn memory_bytes(&self) -> usize {
        self.tables.iter().map(|(_, t)| t.memory_bytes()).sum()
    }

    /// Bytes of batches being written to Parquet (still in memory).
    pub fn persisting_bytes(&self) -> usize {
        self.tables.iter().map(|(_, t)| t.persisting_bytes()).sum()
    }

    /// Drops what lies wholly before each table's cutoff (`cutoff_of(db)`,
    /// i64::MIN: keep); returns rows dropped from memory and files to delete.
    pub fn expire(
        &mut self,
        cutoff_of: impl Fn(&str) -> i64,
    ) -> (usize, Vec<Arc<crate::persist::FileMeta>>) {
        let mut rows = 0;
        let mut files = Vec::new();
        for ((db, _), t) in self.tables.iter_mut() {
            let cutoff = cutoff_of(db);
            if cutoff == i64::MIN {
                continue;
            }
            let (r, f) = t.expire(cutoff);
            rows += r;
            files.extend(f);
        }
        (rows, files)
    }

    /// When the oldest row not yet in Parquet arrived.
    pub fn oldest_unpersisted(&self) -> Option<std::time::Instant> {
        self.tables.iter().filter_map(|(_, t)| t.since).min()
    }

    /// Every table's sealed rows, handed to a persist (see `TableShard::take_for_persist`).
    pub fn take_for_persist(&mut self) -> Vec<(TableKey, Vec<RecordBatch>)> {
        self.tables
            .iter_mut()
            .map(|(key, t)| (key.clone(), t.take_for_persist()))
            .filter(|(_, b)| !b.is_empty())
            .collect()
    }

    /// A persist finished: each table's files, or a failure for all.
    pub fn persist_finished(&mut self, result: Result<Vec<crate::persist::FileMeta>, ()>) {
        match result {
            Ok(files) => {
                let mut by_table: HashMap<TableKey, Vec<crate::persist::FileMeta>> = HashMap::new();
                for f in files {
                    by_table
                        .entry((f.db.clone(), f.table.clone()))
                        .or_default()
                        .push(f);
                }
                for (key, t) in self.tables.iter_mut() {
                    t.persist_done(by_table.remove(key).unwrap_or_default());
                }
            }
            Err(()) => self.tables.iter_mut().for_each(|(_, t)| t.persist_failed()),
        }
    }

    /// Indexes a Parquet file found at start.
    pub fn add_file(&mut self, file: crate::persist::FileMeta) {
        let i = self.table_index(&file.db.clone(), &file.table.clone());
        self.tables[i].1.add_file(Arc::new(file));
    }

    /// A table's Parquet files that meet `min..=max`.
    pub fn files(
        &self,
        db: &str,
        table: &str,
        min: i64,
        max: i64,
    ) -> Vec<Arc<crate::persist::FileMeta>> {
        self.find(db, table)
            .map(|i| self.tables[i].1.files_in(min, max))
            .unwrap_or_default()
    }

    /// Every Parquet file on this core.
    pub fn all_files(&self) -> Vec<Arc<crate::persist::FileMeta>> {
        self.tables
            .iter()
            .flat_map(|(_, t)| t.files.iter().cloned())
            .collect()
    }

    pub fn tag_values(&mut self, db: &str, table: &str) -> Vec<Arc<TagIndex>> {
        self.find(db, table)
            .map(|i| vec![self.tables[i].1.tag_values()])
            .unwrap_or_default()
    }
}

/// Test helper: appends one point whose tags and fields go to the given
/// column ids, through the same path as every write.
#[cfg(test)]
pub(crate) fn append_point(
    t: &mut TableShard,
    time: i64,
    seq: u64,
    tags: &[(u32, &str, &str)],
    fields: &[(u32, &str, FieldValue<'_>)],
) {
    use crate::lp::{Field as LpField, Tag};
    let tag_list: Vec<Tag<'_>> = tags
        .iter()
        .map(|&(_, key, value)| Tag { key, value })
        .collect();
    let field_list: Vec<LpField<'_>> = fields
        .iter()
        .map(|&(_, key, value)| LpField { key, value })
        .collect();
    let kind = |v: &FieldValue<'_>| match v {
        FieldValue::Float(_) => FieldType::Float,
        FieldValue::Integer(_) => FieldType::Integer,
        FieldValue::Unsigned(_) => FieldType::Unsigned,
        FieldValue::String(_) => FieldType::String,
        FieldValue::Boolean(_) => FieldType::Boolean,
    };
    let columns: Vec<Column> = tags
        .iter()
        .map(|&(id, _, _)| Column {
            id,
            kind: ColumnKind::Tag,
        })
        .chain(fields.iter().map(|(id, _, v)| Column {
            id: *id,
            kind: ColumnKind::Field(kind(v)),
        }))
        .collect();
    let mut names: Vec<Arc<str>> = Vec::new();
    for (id, name) in tags
        .iter()
        .map(|t| (t.0, t.1))
        .chain(fields.iter().map(|f| (f.0, f.1)))
    {
        if names.len() <= id as usize {
            names.resize(id as usize + 1, Arc::from(""));
        }
        names[id as usize] = Arc::from(name);
    }
    let point = Point {
        measurement: "m",
        tags: &tag_list,
        fields: &field_list,
        timestamp: Some(time),
        line: 1,
    };
    t.append_run(&[&point], &columns, &names, 0, seq);
    t.seal_if_full();
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, TimestampNanosecondType};
    use arrow_array::Array;

    #[test]
    fn rows_fill_columns_with_nulls_where_absent() {
        let mut t = TableShard::new();
        append_point(
            &mut t,
            1,
            1,
            &[(0, "host", "a")],
            &[(1, "v", FieldValue::Float(1.5))],
        );
        append_point(&mut t, 2, 2, &[], &[(2, "s", FieldValue::String("x"))]);
        t.seal();
        append_point(&mut t, 3, 3, &[], &[(1, "v", FieldValue::Float(3.0))]);
        let batches = t.snapshot();
        assert_eq!(batches.len(), 2);
        let first = &batches[0];
        assert_eq!(first.num_rows(), 2);
        let names: Vec<_> = first
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["time", "host", "v", "s", "_seq"]);
        let times = first.column(0).as_primitive::<TimestampNanosecondType>();
        assert_eq!(times.values().as_ref(), [1, 2]);
        let v_col = first.column(2).as_primitive::<Float64Type>();
        assert!(v_col.is_valid(0) && v_col.is_null(1));
        assert!(first.column(1).is_null(1));
        // A batch holds only the columns its rows use.
        let second = &batches[1];
        assert_eq!(second.num_rows(), 1);
        let names: Vec<_> = second
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["time", "v", "_seq"]);
        assert_eq!(t.rows(), 3);
    }

    #[test]
    fn points_that_each_bring_new_columns_seal_before_the_batch_grows_quadratically() {
        let mut t = TableShard::new();
        let names: Vec<String> = (0..3000).map(|i| format!("f{i}")).collect();
        for (i, name) in names.iter().enumerate() {
            append_point(
                &mut t,
                i as i64,
                1,
                &[],
                &[(i as u32, name, FieldValue::Float(1.0))],
            );
        }
        let batches = t.snapshot();
        assert!(batches.len() > 1);
        for b in &batches {
            // The run that crosses the limit (one point, one new column) is
            // the most a batch can overshoot it by.
            let (rows, columns) = (b.num_rows(), b.num_columns());
            assert!(
                rows * columns <= SEAL_CELLS + rows + columns,
                "{rows} x {columns}"
            );
        }
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3000);
        // Each value is in its own column, in its own row.
        let mut seen = 0;
        for b in &batches {
            for (k, f) in b.schema().fields().iter().enumerate() {
                if f.name().starts_with('f') {
                    assert_eq!(b.column(k).len() - b.column(k).null_count(), 1);
                    seen += 1;
                }
            }
        }
        assert_eq!(seen, 3000);
    }

    #[test]
    fn tag_values_come_from_sealed_and_open_rows() {
        let mut t = TableShard::new();
        let v = [(2, "v", FieldValue::Float(1.0))];
        append_point(&mut t, 1, 1, &[(0, "host", "a"), (1, "dc", "x")], &v);
        append_point(&mut t, 2, 1, &[(0, "host", "b")], &v);
        t.seal();
        append_point(&mut t, 3, 2, &[(0, "host", "c")], &v);
        append_point(&mut t, 4, 2, &[(0, "host", "a")], &v);
        let values = t.tag_values();
        let text: Vec<(String, Vec<String>)> = values
            .keys
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect();
        assert_eq!(
            text,
            vec![
                ("dc".to_string(), vec!["x".to_string()]),
                ("host".to_string(), vec!["a".into(), "b".into(), "c".into()]),
            ]
        );
        assert_eq!(t.rows(), 4, "asking does not disturb the open rows");
        append_point(&mut t, 5, 3, &[(0, "host", "d")], &v);
        assert_eq!(
            t.tag_values().keys[1].1.len(),
            4,
            "a write refreshes the answer"
        );
    }

    #[test]
    fn expiry_drops_sealed_batches_wholly_before_the_cutoff() {
        let mut shard = Shard::default();
        let (db, table) = (Arc::from("db"), Arc::from("t"));
        let i = shard.table_index(&db, &table);
        let v = [(0, "v", FieldValue::Float(1.0))];
        for (time, seal) in [
            (10, false),
            (20, true),
            (30, false),
            (40, true),
            (50, false),
        ] {
            append_point(shard.table_at(i), time, 1, &[], &v);
            if seal {
                shard.table_at(i).seal();
            }
        }
        // The first batch (10, 20) ends before 25; the second (30, 40) does not;
        // the open row (50) stays until it is sealed.
        let (rows, files) = shard.expire(|d| if d == "db" { 25 } else { i64::MIN });
        assert_eq!((rows, files.len()), (2, 0));
        assert_eq!(shard.rows(), 3);
        let (rows, _) = shard.expire(|_| i64::MIN);
        assert_eq!(rows, 0, "no retention, nothing dropped");
        let (rows, _) = shard.expire(|_| 45);
        assert_eq!((rows, shard.rows()), (2, 1));
    }

    #[test]
    fn wide_strings_seal_by_bytes() {
        let mut shard = Shard {
            seal_bytes: 1000,
            ..Shard::default()
        };
        let db: Arc<str> = Arc::from("db");
        let table: Arc<str> = Arc::from("t");
        let index = shard.table_index(&db, &table);
        let big = "x".repeat(600);
        for time in 0..2 {
            let fields = [(0, "s", FieldValue::String(&big))];
            append_point(shard.table_at(index), time, 1, &[], &fields);
            shard.seal_full();
        }
        let t = shard.table_at(index);
        assert_eq!((t.open_rows(), t.rows()), (0, 2), "sealed after 1200 bytes");
    }
}
