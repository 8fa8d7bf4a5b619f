//! One measurement's rows as a query sees them: gathered from every core's
//! batches, restricted to the query's time range, deduplicated (same series
//! and time is one point; per field the last write wins) and sorted by
//! series, then time.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampNanosecondType, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use hashbrown::HashMap;

use crate::catalog::FieldType;
use crate::shard::SEQ_COLUMN;

use super::value::Value;

#[derive(Debug, Clone)]
pub struct FieldColumn {
    pub name: Arc<str>,
    pub kind: FieldType,
    /// One value per row (Null where the point has no such field).
    pub values: Vec<Value>,
}

#[derive(Debug, Clone, Default)]
pub struct TableData {
    pub name: Arc<str>,
    /// Tag keys, sorted.
    pub tag_keys: Vec<Arc<str>>,
    /// Per series, per tag key: the value (None: the series lacks the tag).
    pub series: Vec<Vec<Option<Arc<str>>>>,
    /// Rows sorted by (series, time); `series_rows[s]` is series s's range.
    pub row_series: Vec<u32>,
    pub row_time: Vec<i64>,
    pub series_rows: Vec<std::ops::Range<usize>>,
    pub fields: Vec<FieldColumn>,
}

impl TableData {
    pub fn field(&self, name: &str) -> Option<&FieldColumn> {
        self.fields.iter().find(|f| f.name.as_ref() == name)
    }

    pub fn tag_index(&self, name: &str) -> Option<usize> {
        self.tag_keys.iter().position(|k| k.as_ref() == name)
    }

    /// The value of tag `key` for series `s`.
    pub fn tag(&self, s: usize, key: usize) -> Option<&Arc<str>> {
        self.series[s][key].as_ref()
    }

    /// Series keys sorted as InfluxDB sorts them (by tag values in key order).
    pub fn rows(&self) -> usize {
        self.row_time.len()
    }
}

/// Which fields to materialise.
pub enum Wanted<'a> {
    All,
    Only(&'a [String]),
}

/// A row before deduplication: where it lives and what decides its order.
#[derive(Clone, Copy)]
struct RowRef {
    series: u32,
    time: i64,
    seq: u64,
    batch: u32,
    row: u32,
}

/// A table's shape (tag keys, typed fields) from its batches, without rows.
pub fn schema(name: &str, batches: &[RecordBatch]) -> TableData {
    let (tag_keys, field_defs) = columns_of(batches, &Wanted::All);
    TableData {
        name: Arc::from(name),
        tag_keys,
        fields: field_defs
            .into_iter()
            .map(|(name, kind)| FieldColumn {
                name,
                kind,
                values: Vec::new(),
            })
            .collect(),
        ..Default::default()
    }
}

/// A table's shape from the catalog (no rows, no batches needed).
pub fn schema_from_catalog(name: &str, table: &crate::catalog::Table) -> TableData {
    use crate::catalog::ColumnKind;
    let mut tag_keys: Vec<Arc<str>> = Vec::new();
    let mut fields: Vec<FieldColumn> = Vec::new();
    for (column, c) in &table.columns {
        match c.kind {
            ColumnKind::Tag => tag_keys.push(column.clone()),
            ColumnKind::Field(kind) => fields.push(FieldColumn {
                name: column.clone(),
                kind,
                values: Vec::new(),
            }),
        }
    }
    tag_keys.sort();
    fields.sort_by(|a, b| a.name.cmp(&b.name));
    TableData {
        name: Arc::from(name),
        tag_keys,
        fields,
        ..Default::default()
    }
}

/// Tag keys and (wanted) fields across batches, each sorted by name.
#[allow(clippy::type_complexity)]
pub(super) fn columns_of(
    batches: &[RecordBatch],
    wanted: &Wanted<'_>,
) -> (Vec<Arc<str>>, Vec<(Arc<str>, FieldType)>) {
    // Sets, not scans: a wide table has thousands of columns in each of
    // its batches.
    let wanted: Option<hashbrown::HashSet<&str>> = match wanted {
        Wanted::All => None,
        Wanted::Only(list) => Some(list.iter().map(|w| w.as_str()).collect()),
    };
    let mut seen: hashbrown::HashSet<String> = hashbrown::HashSet::new();
    let mut tag_keys: Vec<Arc<str>> = Vec::new();
    let mut field_defs: Vec<(Arc<str>, FieldType)> = Vec::new();
    for batch in batches {
        for f in batch.schema_ref().fields().iter().skip(1) {
            if f.name() == SEQ_COLUMN || seen.contains(f.name().as_str()) {
                continue;
            }
            match f.data_type() {
                DataType::Dictionary(_, _) => {
                    seen.insert(f.name().clone());
                    tag_keys.push(Arc::from(f.name().as_str()));
                }
                dt => {
                    let kind = match dt {
                        DataType::Float64 => FieldType::Float,
                        DataType::Int64 => FieldType::Integer,
                        DataType::UInt64 => FieldType::Unsigned,
                        DataType::Utf8 => FieldType::String,
                        _ => FieldType::Boolean,
                    };
                    let keep = wanted
                        .as_ref()
                        .is_none_or(|w| w.contains(f.name().as_str()));
                    if keep {
                        seen.insert(f.name().clone());
                        field_defs.push((Arc::from(f.name().as_str()), kind));
                    }
                }
            }
        }
    }
    tag_keys.sort();
    field_defs.sort_by(|a, b| a.0.cmp(&b.0));
    (tag_keys, field_defs)
}

/// Series met across batches: each tag key's values and each tuple of
/// value ids numbered in order of first sight (value id 0: the series
/// lacks that tag). Batches have dictionaries of their own; this gives
/// their values one numbering.
pub(super) struct Interner {
    tag_keys: Vec<Arc<str>>,
    value_ids: Vec<HashMap<Arc<str>, u32>>,
    value_names: Vec<Vec<Arc<str>>>,
    series_ids: HashMap<Vec<u32>, u32>,
    tuples: Vec<Vec<u32>>,
}

impl Interner {
    pub(super) fn new(tag_keys: Vec<Arc<str>>) -> Interner {
        let n = tag_keys.len();
        Interner {
            tag_keys,
            value_ids: vec![HashMap::new(); n],
            value_names: vec![Vec::new(); n],
            series_ids: HashMap::new(),
            tuples: Vec::new(),
        }
    }

    pub(super) fn tag_keys(&self) -> &[Arc<str>] {
        &self.tag_keys
    }

    /// The position of tag key `name`.
    pub(super) fn key_index(&self, name: &str) -> Option<usize> {
        self.tag_keys.iter().position(|k| k.as_ref() == name)
    }

    /// Ids of one batch's dictionary values for tag key `key`.
    pub(super) fn dictionary(&mut self, key: usize, values: &arrow_array::StringArray) -> Vec<u32> {
        (0..values.len())
            .map(|i| {
                let v = values.value(i);
                if let Some(&id) = self.value_ids[key].get(v) {
                    return id;
                }
                let text: Arc<str> = Arc::from(v);
                self.value_names[key].push(text.clone());
                let id = self.value_names[key].len() as u32;
                self.value_ids[key].insert(text, id);
                id
            })
            .collect()
    }

    /// The series of a tuple of value ids: (number, whether it is new).
    pub(super) fn series(&mut self, tuple: &[u32]) -> (u32, bool) {
        if let Some(&s) = self.series_ids.get(tuple) {
            return (s, false);
        }
        let s = self.tuples.len() as u32;
        self.tuples.push(tuple.to_vec());
        self.series_ids.insert(tuple.to_vec(), s);
        (s, true)
    }

    pub(super) fn len(&self) -> usize {
        self.tuples.len()
    }

    /// Series `s`'s value of tag key `k`.
    pub(super) fn tag(&self, s: usize, k: usize) -> Option<&Arc<str>> {
        let id = self.tuples[s][k];
        (id != 0).then(|| &self.value_names[k][id as usize - 1])
    }

    /// Series `s`'s tags, one per tag key.
    pub(super) fn tags(&self, s: usize) -> Vec<Option<Arc<str>>> {
        (0..self.tag_keys.len())
            .map(|k| self.tag(s, k).cloned())
            .collect()
    }

    /// Series `s`'s key without the measurement: `,k1=v1,k2=v2` (tags it
    /// lacks left out); InfluxDB orders series by it.
    pub(super) fn key(&self, s: usize) -> String {
        let mut key = String::new();
        for (k, name) in self.tag_keys.iter().enumerate() {
            if let Some(v) = self.tag(s, k) {
                key.push(',');
                key.push_str(name);
                key.push('=');
                key.push_str(v);
            }
        }
        key
    }
}

/// Builds a table from every core's batches of one measurement.
pub fn load(
    name: &str,
    batches: &[RecordBatch],
    wanted: Wanted<'_>,
    min_time: i64,
    max_time: i64,
    budget: &super::store::Budget,
) -> Result<TableData, String> {
    let (tag_keys, field_defs) = columns_of(batches, &wanted);

    let mut interner = Interner::new(tag_keys.clone());
    let mut refs: Vec<RowRef> = Vec::new();

    for (b, batch) in batches.iter().enumerate() {
        budget.check_time()?;
        budget.check_points(refs.len())?;
        let schema = batch.schema();
        let times = batch
            .column(0)
            .as_primitive::<TimestampNanosecondType>()
            .values();
        let Ok(seq_index) = schema.index_of(SEQ_COLUMN) else {
            continue;
        };
        let seqs = batch.column(seq_index).as_primitive::<UInt64Type>();
        // Per tag column of this batch: (tag key index, dictionary key -> value id).
        let mut tag_columns = Vec::new();
        for (c, f) in schema.fields().iter().enumerate().skip(1) {
            if !matches!(f.data_type(), DataType::Dictionary(_, _)) {
                continue;
            }
            let key = interner.key_index(f.name()).expect("collected above");
            let dict = batch.column(c).as_dictionary::<Int32Type>();
            let ids = interner.dictionary(key, dict.values().as_string::<i32>());
            tag_columns.push((key, dict, ids));
        }
        let mut tuple = vec![0u32; tag_keys.len()];
        for row in 0..batch.num_rows() {
            let time = times[row];
            if time < min_time || time > max_time {
                continue;
            }
            tuple.iter_mut().for_each(|t| *t = 0);
            for (key, dict, ids) in &tag_columns {
                if dict.is_valid(row) {
                    tuple[*key] = ids[dict.keys().value(row) as usize];
                }
            }
            let (series, _) = interner.series(&tuple);
            refs.push(RowRef {
                series,
                time,
                seq: seqs.value(row),
                batch: b as u32,
                row: row as u32,
            });
        }
    }

    // Series numbered in InfluxDB's order: by series key, which decides
    // ties between series too.
    let mut order: Vec<u32> = (0..interner.len() as u32).collect();
    let keys: Vec<String> = (0..interner.len()).map(|s| interner.key(s)).collect();
    order.sort_by(|&a, &b| keys[a as usize].cmp(&keys[b as usize]));
    let mut rank = vec![0u32; order.len()];
    for (r, &s) in order.iter().enumerate() {
        rank[s as usize] = r as u32;
    }
    for r in refs.iter_mut() {
        r.series = rank[r.series as usize];
    }
    let series: Vec<Vec<Option<Arc<str>>>> =
        order.iter().map(|&s| interner.tags(s as usize)).collect();

    budget.check_points(refs.len())?;
    refs.sort_unstable_by_key(|r| (r.series, r.time, r.seq, r.batch, r.row));

    // Field columns of each batch, by field index.
    let field_arrays: Vec<Vec<Option<&dyn Array>>> = batches
        .iter()
        .map(|batch| {
            let schema = batch.schema();
            field_defs
                .iter()
                .map(|(name, _)| schema.index_of(name).ok().map(|i| batch.column(i).as_ref()))
                .collect()
        })
        .collect();

    let mut out = TableData {
        name: Arc::from(name),
        tag_keys,
        series,
        fields: field_defs
            .iter()
            .map(|(name, kind)| FieldColumn {
                name: name.clone(),
                kind: *kind,
                values: Vec::new(),
            })
            .collect(),
        ..Default::default()
    };
    out.series_rows = vec![0..0; out.series.len()];
    let mut i = 0;
    while i < refs.len() {
        let mut j = i + 1;
        while j < refs.len() && refs[j].series == refs[i].series && refs[j].time == refs[i].time {
            j += 1;
        }
        let group = &refs[i..j];
        let row_index = out.row_time.len();
        let s = group[0].series as usize;
        if out.series_rows[s].is_empty() {
            out.series_rows[s] = row_index..row_index;
        }
        out.series_rows[s].end = row_index + 1;
        out.row_series.push(group[0].series);
        out.row_time.push(group[0].time);
        for (f, column) in out.fields.iter_mut().enumerate() {
            // Last write wins per field: the latest non-null value.
            let value = group
                .iter()
                .rev()
                .find_map(|r| {
                    let array = field_arrays[r.batch as usize][f]?;
                    let row = r.row as usize;
                    array.is_valid(row).then(|| read_value(array, row))
                })
                .unwrap_or(Value::Null);
            column.values.push(value);
        }
        i = j;
    }
    Ok(out)
}

fn read_value(array: &dyn Array, row: usize) -> Value {
    match array.data_type() {
        DataType::Float64 => Value::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Int64 => Value::Integer(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt64 => Value::Unsigned(array.as_primitive::<UInt64Type>().value(row)),
        DataType::Utf8 => Value::String(Arc::from(array.as_string::<i32>().value(row))),
        DataType::Boolean => Value::Boolean(array.as_boolean().value(row)),
        _ => Value::Null,
    }
}
