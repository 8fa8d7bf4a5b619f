//! Merging rows from every core: one point per series and time, and for each
//! field the value of the last write (highest `_seq`, then later row).

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampNanosecondType, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use serde_json::{json, Value};

use super::SEQ_COLUMN;

/// Where a value was written: (write sequence, batch, row); higher wins.
pub type WriteOrder = (u64, usize, usize);

/// A merged point: tags, and per field (write order, type name, value).
#[derive(Debug, Default)]
pub struct MergedRow {
    pub tags: BTreeMap<String, String>,
    pub fields: BTreeMap<String, (WriteOrder, &'static str, Value)>,
}

/// Merges `batches` (any cores, any schemas of one table) by series and time.
pub fn merge(batches: &[RecordBatch]) -> BTreeMap<(i64, String), MergedRow> {
    let mut out: BTreeMap<(i64, String), MergedRow> = BTreeMap::new();
    for (b, batch) in batches.iter().enumerate() {
        let schema = batch.schema();
        let times = batch.column(0).as_primitive::<TimestampNanosecondType>();
        let seq_index = schema.index_of(SEQ_COLUMN).expect("every batch has _seq");
        let seqs = batch.column(seq_index).as_primitive::<UInt64Type>();
        for row in 0..batch.num_rows() {
            let mut tags = BTreeMap::new();
            let mut fields = Vec::new();
            for (c, field) in schema.fields().iter().enumerate().skip(1) {
                if c == seq_index {
                    continue;
                }
                let column = batch.column(c);
                if column.is_null(row) {
                    continue;
                }
                let name = field.name().clone();
                match field.data_type() {
                    DataType::Dictionary(_, _) => {
                        let dict = column.as_dictionary::<Int32Type>();
                        let values = dict.values().as_string::<i32>();
                        let key = dict.keys().value(row) as usize;
                        tags.insert(name, values.value(key).to_owned());
                    }
                    DataType::Float64 => fields.push((
                        name,
                        "float",
                        json!(column.as_primitive::<Float64Type>().value(row)),
                    )),
                    DataType::Int64 => fields.push((
                        name,
                        "integer",
                        json!(column.as_primitive::<Int64Type>().value(row)),
                    )),
                    DataType::UInt64 => fields.push((
                        name,
                        "unsigned",
                        json!(column.as_primitive::<UInt64Type>().value(row)),
                    )),
                    DataType::Utf8 => {
                        fields.push((name, "string", json!(column.as_string::<i32>().value(row))))
                    }
                    DataType::Boolean => {
                        fields.push((name, "boolean", json!(column.as_boolean().value(row))))
                    }
                    other => unreachable!("shards never build {other}"),
                }
            }
            let series: String = tags.iter().map(|(k, v)| format!("{k}={v},")).collect();
            let order = (seqs.value(row), b, row);
            let merged = out.entry((times.value(row), series)).or_default();
            merged.tags = tags;
            for (name, kind, value) in fields {
                match merged.fields.get(&name) {
                    Some((existing, _, _)) if *existing > order => {}
                    _ => {
                        merged.fields.insert(name, (order, kind, value));
                    }
                }
            }
        }
    }
    out
}

/// The merged rows as JSON, ordered by time then series.
pub fn rows_as_json(batches: &[RecordBatch]) -> Vec<Value> {
    merge(batches)
        .into_iter()
        .map(|((time, _), row)| {
            let fields: serde_json::Map<String, Value> = row
                .fields
                .into_iter()
                .map(|(name, (_, kind, value))| (name, json!({ "type": kind, "value": value })))
                .collect();
            json!({ "time": time, "tags": row.tags, "fields": fields })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lp::FieldValue::Float;
    use crate::shard::{append_point, TableShard};

    #[test]
    fn last_write_wins_field_by_field_across_shards() {
        let mut core0 = TableShard::new();
        let mut core1 = TableShard::new();
        let x = [(0, "host", "x")];
        append_point(
            &mut core0,
            1,
            5,
            &x,
            &[(1, "a", Float(1.0)), (2, "b", Float(1.0))],
        );
        append_point(&mut core1, 1, 7, &x, &[(1, "a", Float(2.0))]);
        append_point(
            &mut core0,
            1,
            3,
            &[(0, "host", "y")],
            &[(1, "a", Float(9.0))],
        );
        let mut batches = core1.snapshot();
        batches.extend(core0.snapshot());
        let rows = rows_as_json(&batches);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["tags"]["host"], "x");
        assert_eq!(rows[0]["fields"]["a"]["value"], 2.0, "seq 7 beats seq 5");
        assert_eq!(rows[0]["fields"]["b"]["value"], 1.0, "b only written once");
        assert_eq!(rows[1]["tags"]["host"], "y");
    }
}
