//! Parquet persistence: a core's in-memory rows, once past a size or age
//! threshold, are written as Parquet files and the WAL segments they cover
//! are deleted.
//!
//! Layout: `<data-dir>/<db>/<table>/<yyyy-mm-dd>/<core>-<watermark>.parquet`
//! (then `<core>-<watermark>-<n>.parquet` for the further parts of a big
//! persist; names percent-encoded where a character is not safe in a path), rows
//! sorted by series key (tag values in tag-name order) then time then
//! `_seq`. Columns: `time` (timestamp ns, UTC), one column per tag
//! (dictionary-encoded strings) and field (float64, int64, uint64, utf8,
//! boolean), and `_seq` (uint64), the write order: where one series+time
//! appears twice, the higher `_seq` wins field by field. A row whose every
//! field a later write of its point also holds is not written.
//!
//! Crash safety: a core's files become part of the data only when its
//! manifest (`<data-dir>/persist/<core>.json`: the files, and the watermark
//! — every WAL entry of that core with a sequence at or below it is in the
//! files) is replaced after the files are written and synced. An unlisted
//! file named above its core's watermark is a leftover of an interrupted
//! persist (its rows are still in the WAL) and is deleted at start.

use std::collections::BTreeMap;

use hashbrown::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampNanosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::shard::SEQ_COLUMN;

mod encode;
pub mod task;

/// One Parquet file of one table on one core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    pub db: Arc<str>,
    pub table: Arc<str>,
    /// Relative to the data directory.
    pub path: PathBuf,
    pub min_time: i64,
    pub max_time: i64,
    pub rows: usize,
    /// Tag values in the file, per tag key.
    pub tags: Vec<(String, Vec<String>)>,
}

/// A core's manifest: its files and its watermark.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub watermark: u64,
    pub files: Vec<PathBuf>,
}

pub const PERSIST_DIR: &str = "persist";

pub fn manifest_path(data_dir: &Path, core: usize) -> PathBuf {
    data_dir.join(PERSIST_DIR).join(format!("{core:03}.json"))
}

/// Every manifest in `data_dir`, by core.
pub fn load_manifests(data_dir: &Path) -> Result<BTreeMap<usize, Manifest>, String> {
    let mut out = BTreeMap::new();
    let dir = data_dir.join(PERSIST_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(core) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        let bytes = std::fs::read(entry.path())
            .map_err(|e| format!("cannot read {}: {e}", entry.path().display()))?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| format!("cannot read {}: {e}", entry.path().display()))?;
        out.insert(core, manifest);
    }
    Ok(out)
}

/// Replaces a manifest atomically (write, sync, rename, sync the directory).
pub fn save_manifest(data_dir: &Path, core: usize, manifest: &Manifest) -> Result<(), String> {
    let path = manifest_path(data_dir, core);
    let dir = path.parent().expect("under persist/");
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let bytes = serde_json::to_vec_pretty(manifest).unwrap_or_default();
    write_file(&path, true, |f| std::io::Write::write_all(f, &bytes))
}

/// Replaces `path` whole (see `files`), naming it in the error; `durably`
/// false leaves the sync to the persist, which syncs once for all its files.
fn write_file(
    path: &Path,
    durably: bool,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), String> {
    match durably {
        true => crate::files::replace_with(path, 0o644, fill),
        false => crate::files::replace_with_unsynced(path, 0o644, fill),
    }
    .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A database or table name as one safe path component.
pub fn path_component(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        let safe = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if safe {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

const DAY_NS: i64 = 86_400_000_000_000;

/// UTC day of a nanosecond timestamp, as yyyy-mm-dd.
fn day_of(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(t) => t.format("%Y-%m-%d").to_string(),
        None => "out-of-range".into(),
    }
}

/// Every column of `batches` in first-seen order (`time` first, `_seq` last).
fn unified_fields(batches: &[RecordBatch]) -> Vec<Arc<Field>> {
    let mut fields: Vec<Arc<Field>> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for b in batches {
        for f in b.schema().fields() {
            if f.name() != SEQ_COLUMN && seen.insert(f.name().clone()) {
                fields.push(f.clone());
            }
        }
    }
    fields.push(Arc::new(Field::new(SEQ_COLUMN, DataType::UInt64, false)));
    fields
}

/// One tag column across batches: each row's value rank (0 for null or
/// absent, then the values' sorted order) and the values by rank.
struct TagRanks<'a> {
    name: String,
    /// Indexed by the row's place in all batches, in order.
    ranks: Vec<u32>,
    values: Vec<&'a str>,
}

/// Tag columns (names sorted) ranked across every batch, so rows compare
/// as integers and the output dictionary is the sorted values.
fn tag_ranks<'a>(
    batches: &'a [RecordBatch],
    fields: &[Arc<Field>],
    rows: usize,
) -> Vec<TagRanks<'a>> {
    let mut out = Vec::new();
    for f in fields {
        if !matches!(f.data_type(), DataType::Dictionary(_, _)) {
            continue;
        }
        let dicts: Vec<Option<&arrow_array::DictionaryArray<Int32Type>>> = batches
            .iter()
            .map(|b| {
                b.column_by_name(f.name())
                    .map(|c| c.as_dictionary::<Int32Type>())
            })
            .collect();
        let mut values: Vec<&str> = dicts
            .iter()
            .flatten()
            .flat_map(|d| d.values().as_string::<i32>().iter().flatten())
            .collect();
        values.sort_unstable();
        values.dedup();
        let mut ranks = Vec::with_capacity(rows);
        for (b, d) in batches.iter().zip(&dicts) {
            let Some(d) = d else {
                ranks.extend(std::iter::repeat_n(0, b.num_rows()));
                continue;
            };
            let dict_values = d.values().as_string::<i32>();
            let rank_of: Vec<u32> = (0..dict_values.len())
                .map(|k| match values.binary_search(&dict_values.value(k)) {
                    Ok(i) if dict_values.is_valid(k) => i as u32 + 1,
                    _ => 0,
                })
                .collect();
            let keys = d.keys();
            ranks.extend((0..d.len()).map(|r| {
                if d.is_valid(r) {
                    rank_of[keys.value(r) as usize]
                } else {
                    0
                }
            }));
        }
        out.push(TagRanks {
            name: f.name().clone(),
            ranks,
            values,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Each row's series (its tuple of tag ranks) as a dense id, and each id's
/// place in series-key order.
fn series_ranks(tags: &[TagRanks<'_>], rows: usize) -> (Vec<u32>, Vec<u32>) {
    // Mixed radix: the rank tuple as one integer whose order is the tuple's,
    // when the tag cardinalities' product fits (it nearly always does).
    let fits = tags
        .iter()
        .try_fold(1u64, |acc, t| acc.checked_mul(t.values.len() as u64 + 1))
        .is_some();
    let mut row_series = Vec::with_capacity(rows);
    if fits {
        let mut ids: HashMap<u64, u32> = HashMap::new();
        let mut firsts: Vec<u64> = Vec::new();
        for r in 0..rows {
            let key = tags.iter().fold(0u64, |acc, t| {
                acc * (t.values.len() as u64 + 1) + u64::from(t.ranks[r])
            });
            let next = ids.len() as u32;
            let id = *ids.entry(key).or_insert_with(|| {
                firsts.push(key);
                next
            });
            row_series.push(id);
        }
        let mut order: Vec<(u64, u32)> = firsts
            .iter()
            .enumerate()
            .map(|(i, &k)| (k, i as u32))
            .collect();
        order.sort_unstable();
        let mut rank = vec![0u32; order.len()];
        for (i, (_, id)) in order.iter().enumerate() {
            rank[*id as usize] = i as u32;
        }
        return (row_series, rank);
    }
    let mut series_of: HashMap<Vec<u32>, u32> = HashMap::new();
    let mut key = Vec::with_capacity(tags.len());
    for r in 0..rows {
        key.clear();
        key.extend(tags.iter().map(|t| t.ranks[r]));
        let id = match series_of.get(key.as_slice()) {
            Some(&id) => id,
            None => {
                let id = series_of.len() as u32;
                series_of.insert(key.clone(), id);
                id
            }
        };
        row_series.push(id);
    }
    let mut keys_in_order: Vec<(Vec<u32>, u32)> = series_of.into_iter().collect();
    keys_in_order.sort_unstable();
    let mut rank = vec![0u32; keys_in_order.len()];
    for (i, (_, id)) in keys_in_order.iter().enumerate() {
        rank[*id as usize] = i as u32;
    }
    (row_series, rank)
}

/// A row as the sort sees it: (series rank, time, seq, row).
type Row = (u32, i64, u64, u32);

/// A file's rows in file order, and each row's place in it (`u32::MAX` for
/// rows of the part's other files).
type Sorted = (Vec<Row>, Vec<u32>);

/// Orders rows by a counting sort on the series, then each series by time,
/// noting each row's place as it lands (one pass of scattered writes, not
/// two). Rows arrive in time order per series, so a series is nearly
/// always in order already and is only checked.
fn sort_rows(rows: Vec<Row>, series: usize, total: usize) -> Sorted {
    let mut start = vec![0usize; series + 1];
    for r in &rows {
        start[r.0 as usize + 1] += 1;
    }
    for i in 1..start.len() {
        start[i] += start[i - 1];
    }
    let bounds = start.clone();
    let mut out = vec![(0, 0, 0, 0); rows.len()];
    let mut place = vec![u32::MAX; total];
    for r in rows {
        let at = &mut start[r.0 as usize];
        out[*at] = r;
        place[r.3 as usize] = *at as u32;
        *at += 1;
    }
    let key = |r: &Row| (r.1, r.2, r.3);
    for w in bounds.windows(2) {
        let run = &mut out[w[0]..w[1]];
        if !run.is_sorted_by_key(key) {
            run.sort_unstable_by_key(key);
            for (k, r) in run.iter().enumerate() {
                place[r.3 as usize] = (w[0] + k) as u32;
            }
        }
    }
    (out, place)
}

/// Which field columns (bits by their order) one batch's rows hold.
struct BatchFields<'a> {
    /// The columns every row of the batch has a value in.
    every: Vec<u64>,
    /// The columns some rows have a value in, and their arrays.
    some: Vec<(usize, &'a ArrayRef)>,
}

/// Sets `out` to the field columns that the row (numbered across batches;
/// `starts` are the batches' first rows) holds.
fn row_fields(row: u32, batches: &[BatchFields<'_>], starts: &[usize], out: &mut [u64]) {
    let row = row as usize;
    let b = starts.partition_point(|&s| s <= row) - 1;
    let fields = &batches[b];
    out.copy_from_slice(&fields.every);
    for &(k, array) in &fields.some {
        if array.is_valid(row - starts[b]) {
            out[k / 64] |= 1 << (k % 64);
        }
    }
}

/// Drops from a file's sorted rows each row that a later write of the same
/// point (series and time; later by `_seq`, then arrival) makes redundant:
/// one whose every field a later row of the point also holds. Those later
/// rows win each of its fields, in this file and in any merge with other
/// files or memory, so nothing it says is lost; a row with a field no later
/// one has stays whole with its own `_seq`, and the merge still picks field
/// by field. A point sent again (an agent's retry, a resent batch) is then
/// stored once.
fn drop_superseded(
    (rows, mut place): Sorted,
    fields: &[BatchFields<'_>],
    starts: &[usize],
) -> Sorted {
    let same_point = |a: &Row, b: &Row| a.0 == b.0 && a.1 == b.1;
    if !rows.windows(2).any(|w| same_point(&w[0], &w[1])) {
        return (rows, place);
    }
    let words = fields.first().map_or(1, |f| f.every.len());
    let (mut covered, mut mask) = (vec![0u64; words], vec![0u64; words]);
    let mut keep = vec![true; rows.len()];
    let mut end = rows.len();
    while end > 0 {
        let mut start = end - 1;
        while start > 0 && same_point(&rows[start - 1], &rows[end - 1]) {
            start -= 1;
        }
        if end - start > 1 {
            // The point's last row always stays.
            row_fields(rows[end - 1].3, fields, starts, &mut covered);
            for k in (start..end - 1).rev() {
                row_fields(rows[k].3, fields, starts, &mut mask);
                if mask.iter().zip(&covered).all(|(m, c)| m & !c == 0) {
                    keep[k] = false;
                } else {
                    covered.iter_mut().zip(&mask).for_each(|(c, m)| *c |= m);
                }
            }
        }
        end = start;
    }
    let mut out = Vec::with_capacity(keep.iter().filter(|&&k| k).count());
    for (r, kept) in rows.into_iter().zip(keep) {
        place[r.3 as usize] = match kept {
            true => out.len() as u32,
            false => u32::MAX,
        };
        if kept {
            out.push(r);
        }
    }
    (out, place)
}

/// Rows at which a persist's file is closed and the next part begins
/// (parts are whole batches, so a part holds up to one batch more: with
/// batches of this size or more, one file per sealed batch): a bigger
/// persist is written as several files. The sort and each column's
/// scatter into file order write at random across the part, so a smaller
/// part keeps more of those writes in the CPU's caches (2^16 rather than
/// 2^19 made the persist about a fifth cheaper and the server's ingest about
/// a tenth faster).
pub const PART_ROWS: usize = 1 << 16;

/// Cells (rows times columns) at which a part closes whatever its rows.
pub const PART_CELLS: usize = 1 << 24;

/// Writes `batches` (one table's rows on one core) as parts of about
/// [`PART_ROWS`] rows, each part one file per UTC day, each file sorted
/// by series then time; returns the files written. They are durable only
/// after [`crate::files::sync_filesystem`]: list them after that.
pub fn write_table(
    data_dir: &Path,
    db: &Arc<str>,
    table: &Arc<str>,
    batches: &[RecordBatch],
    core: usize,
    watermark: u64,
) -> Result<Vec<FileMeta>, String> {
    write_table_in_parts(data_dir, db, table, batches, core, watermark, PART_ROWS)
}

/// [`write_table`] with parts of `part_rows` (`usize::MAX`: one file per
/// day, the bench's reference).
#[doc(hidden)]
pub fn write_table_in_parts(
    data_dir: &Path,
    db: &Arc<str>,
    table: &Arc<str>,
    batches: &[RecordBatch],
    core: usize,
    watermark: u64,
    part_rows: usize,
) -> Result<Vec<FileMeta>, String> {
    let batches: Vec<RecordBatch> = batches
        .iter()
        .filter(|b| b.num_rows() > 0)
        .cloned()
        .collect();
    let mut out = Vec::new();
    let mut encoder = encode::Encoder::default();
    let (mut from, mut rows, mut part) = (0, 0, 0);
    // A part is encoded with a cell (value or null) per row and column:
    // batches of sparse columns also close it once they add up to PART_CELLS.
    let mut columns: HashSet<&str> = HashSet::new();
    for (k, batch) in batches.iter().enumerate() {
        rows += batch.num_rows();
        let schema = batch.schema_ref();
        columns.extend(schema.fields().iter().map(|f| f.name().as_str()));
        if rows >= part_rows || rows * columns.len() >= PART_CELLS || k + 1 == batches.len() {
            columns.clear();
            let name = match part {
                0 => format!("{core:03}-{watermark:020}.parquet"),
                n => format!("{core:03}-{watermark:020}-{n}.parquet"),
            };
            let these = &batches[from..=k];
            out.extend(write_part(&mut encoder, data_dir, db, table, these, &name)?);
            (from, rows, part) = (k + 1, 0, part + 1);
        }
    }
    Ok(out)
}

/// [`write_table`] for one part: its files (one per day) are named `name`.
fn write_part(
    encoder: &mut encode::Encoder,
    data_dir: &Path,
    db: &Arc<str>,
    table: &Arc<str>,
    batches: &[RecordBatch],
    name: &str,
) -> Result<Vec<FileMeta>, String> {
    let fields = unified_fields(batches);
    let schema = Arc::new(Schema::new(fields.clone()));
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    // Rows are numbered across batches in order; `starts` maps back.
    let mut starts: Vec<usize> = Vec::with_capacity(batches.len());
    let mut times: Vec<i64> = Vec::with_capacity(total);
    let mut seqs: Vec<u64> = Vec::with_capacity(total);
    for batch in batches {
        starts.push(times.len());
        times.extend_from_slice(
            batch
                .column(0)
                .as_primitive::<TimestampNanosecondType>()
                .values(),
        );
        let seq = batch
            .column_by_name(SEQ_COLUMN)
            .ok_or("a batch without its write order")?;
        seqs.extend_from_slice(
            seq.as_primitive::<arrow_array::types::UInt64Type>()
                .values(),
        );
    }
    let tags = tag_ranks(batches, &fields, total);
    let (row_series, rank) = series_ranks(&tags, total);
    // Each day's rows. Nearly every part's rows fall in one day: its vector
    // is sized for them all at once rather than grown (copied) by doubling,
    // and only a change of day looks the list up.
    let mut days: Vec<(i64, Vec<Row>)> = Vec::new();
    let mut index: HashMap<i64, usize> = HashMap::new();
    let mut current = (i64::MIN, 0);
    for r in 0..total {
        let t = times[r];
        let day = t.div_euclid(DAY_NS);
        if day != current.0 {
            let at = *index.entry(day).or_insert_with(|| {
                let room = if days.is_empty() { total } else { 0 };
                days.push((day, Vec::with_capacity(room)));
                days.len() - 1
            });
            current = (day, at);
        }
        days[current.1]
            .1
            .push((rank[row_series[r] as usize], t, seqs[r], r as u32));
    }
    days.sort_unstable_by_key(|(day, _)| *day);
    // Each field column per batch (`None` where a batch lacks it).
    let positions: Vec<HashMap<&str, usize>> = batches
        .iter()
        .map(|b| {
            let schema = b.schema_ref();
            let names = schema.fields().iter().map(|f| f.name().as_str());
            names.enumerate().map(|(k, n)| (n, k)).collect()
        })
        .collect();
    let columns: Vec<Vec<Option<&ArrayRef>>> = fields
        .iter()
        .map(|f| {
            let at = positions.iter().map(|at| at.get(f.name().as_str()));
            batches
                .iter()
                .zip(at)
                .map(|(b, k)| k.map(|&k| b.column(k)))
                .collect()
        })
        .collect();
    // Each column's place in `tags`, if it is a tag; the columns that are
    // neither time, `_seq` nor a tag are fields.
    let tag_at: Vec<Option<usize>> = fields
        .iter()
        .map(|f| tags.iter().position(|t| &t.name == f.name()))
        .collect();
    let is_field = |i: usize| i > 0 && fields[i].name() != SEQ_COLUMN && tag_at[i].is_none();
    // Which fields each batch's rows hold (for dropping rows a later write
    // of their point supersedes).
    let field_columns: Vec<&Vec<Option<&ArrayRef>>> = (0..fields.len())
        .filter(|&i| is_field(i))
        .map(|i| &columns[i])
        .collect();
    let words = field_columns.len().div_ceil(64).max(1);
    let presence: Vec<BatchFields<'_>> = (0..batches.len())
        .map(|b| {
            let mut fields = BatchFields {
                every: vec![0; words],
                some: Vec::new(),
            };
            for (k, per_batch) in field_columns.iter().enumerate() {
                match per_batch[b] {
                    None => {}
                    Some(c) if c.null_count() == 0 => fields.every[k / 64] |= 1 << (k % 64),
                    Some(c) => fields.some.push((k, c)),
                }
            }
            fields
        })
        .collect();
    let mut out = Vec::new();
    for (day, rows) in days {
        let day = day_of(day * DAY_NS);
        let min_time = rows.iter().map(|r| r.1).min().unwrap_or(0);
        let max_time = rows.iter().map(|r| r.1).max().unwrap_or(0);
        let mut file_tags: Vec<(String, Vec<String>)> = Vec::new();
        let mut presents: Vec<Vec<bool>> = Vec::with_capacity(tags.len());
        for t in &tags {
            // Before the sort, while the day's rows are in arrival order: the
            // rank lookups then walk `ranks` forward instead of at random.
            let mut present = vec![false; t.values.len() + 1];
            for r in &rows {
                present[t.ranks[r.3 as usize] as usize] = true;
            }
            let set: Vec<String> = (1..present.len())
                .filter(|&k| present[k])
                .map(|k| t.values[k - 1].to_string())
                .collect();
            if !set.is_empty() {
                file_tags.push((t.name.clone(), set));
            }
            presents.push(present);
        }
        let (rows, place) = drop_superseded(sort_rows(rows, rank.len(), total), &presence, &starts);
        let relative = PathBuf::from(path_component(db))
            .join(path_component(table))
            .join(&day)
            .join(name);
        let path = data_dir.join(&relative);
        let dir = path.parent().expect("has a day directory");
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let props = WriterProperties::builder()
            .set_key_value_metadata(Some(vec![
                KeyValue::new("hydrant.db".into(), db.to_string()),
                KeyValue::new("hydrant.table".into(), table.to_string()),
                KeyValue::new("hydrant.min_time".into(), min_time.to_string()),
                KeyValue::new("hydrant.max_time".into(), max_time.to_string()),
                KeyValue::new(
                    "hydrant.tags".into(),
                    serde_json::to_string(&file_tags).unwrap_or_default(),
                ),
            ]))
            .build();
        let sources: Vec<encode::Source<'_>> = (0..fields.len())
            .map(|i| match tag_at[i] {
                _ if is_field(i) => encode::Source::Field(&columns[i]),
                _ if i == 0 => encode::Source::Time,
                Some(k) => encode::Source::Tag(&tags[k], &presents[k]),
                None => encode::Source::Seq,
            })
            .collect();
        let sorted = encode::Rows {
            keys: &rows,
            place: &place,
            starts: &starts,
        };
        write_file(&path, false, |f| {
            let out = BlockWriter::new(f);
            let f = encode::write_file(encoder, out, &schema, props, &sources, &sorted)
                .map_err(std::io::Error::other)?;
            std::io::Write::flush(&mut { f })
        })?;
        out.push(FileMeta {
            db: db.clone(),
            table: table.clone(),
            path: relative,
            min_time,
            max_time,
            rows: rows.len(),
            tags: file_tags,
        });
    }
    Ok(out)
}

/// Bytes a [`BlockWriter`] hands to the file at a time.
const BLOCK: usize = 1 << 20;

/// Writes a file in whole blocks from its start: Parquet's writer writes
/// pieces of any size, and a write that covers only part of a page makes
/// the kernel zero that page first (about 1% of the server's CPU while
/// persisting).
struct BlockWriter<'f> {
    file: &'f mut File,
    buf: Vec<u8>,
}

impl<'f> BlockWriter<'f> {
    fn new(file: &'f mut File) -> Self {
        BlockWriter {
            file,
            buf: Vec::with_capacity(BLOCK),
        }
    }
}

impl std::io::Write for BlockWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(BLOCK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == BLOCK {
            self.file.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.write_all(&self.buf)?;
        self.buf.clear();
        self.file.flush()
    }
}

/// Reads a file's footer: what the index keeps of it.
pub fn read_meta(data_dir: &Path, relative: &Path) -> Result<FileMeta, String> {
    let path = data_dir.join(relative);
    let file = File::open(&path).map_err(|e| format!("Parquet file {}: {e}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| format!("Parquet file {}: {e}", path.display()))?;
    let meta = builder.metadata().file_metadata();
    let kv: BTreeMap<&str, &str> = meta
        .key_value_metadata()
        .map(|list| {
            list.iter()
                .filter_map(|k| Some((k.key.as_str(), k.value.as_deref()?)))
                .collect()
        })
        .unwrap_or_default();
    let get = |k: &str| {
        kv.get(k)
            .copied()
            .ok_or_else(|| format!("Parquet file {}: no {k} in its metadata", path.display()))
    };
    let number = |k: &str| {
        get(k)?
            .parse::<i64>()
            .map_err(|e| format!("Parquet file {}: {k}: {e}", path.display()))
    };
    Ok(FileMeta {
        db: Arc::from(get("hydrant.db")?),
        table: Arc::from(get("hydrant.table")?),
        path: relative.to_path_buf(),
        min_time: number("hydrant.min_time")?,
        max_time: number("hydrant.max_time")?,
        rows: meta.num_rows() as usize,
        tags: serde_json::from_str(get("hydrant.tags")?)
            .map_err(|e| format!("Parquet file {}: hydrant.tags: {e}", path.display()))?,
    })
}

/// The fields a read needs (`None`: every column). `time`, `_seq` and the
/// tags are always read: they say which rows are the same point.
pub type Columns = Option<Arc<[String]>>;

/// Reads a file's rows as batches in the in-memory layout, with only the
/// fields `columns` names (a file's columns are stored apart, so the others
/// are never read or decoded).
pub fn read_rows(
    data_dir: &Path,
    file: &FileMeta,
    columns: &Columns,
) -> Result<Vec<RecordBatch>, String> {
    let path = data_dir.join(&file.path);
    let err = |e: &dyn std::fmt::Display| {
        format!(
            "cannot read Parquet file {} ({}.{} rows, time {}..{}): {e}",
            path.display(),
            file.db,
            file.table,
            file.min_time,
            file.max_time
        )
    };
    let f = File::open(&path).map_err(|e| err(&e))?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| err(&e))?
        .with_batch_size(64 * 1024);
    if let Some(names) = columns {
        let wanted: HashSet<&str> = names.iter().map(String::as_str).collect();
        let keep = builder
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(i, f)| {
                *i == 0
                    || f.name() == SEQ_COLUMN
                    || matches!(f.data_type(), DataType::Dictionary(_, _))
                    || wanted.contains(f.name().as_str())
            });
        let keep: Vec<usize> = keep.map(|(i, _)| i).collect();
        // Files are written flat, so a top-level field is one leaf.
        let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), keep);
        builder = builder.with_projection(mask);
    }
    let reader = builder.build().map_err(|e| err(&e))?;
    reader.collect::<Result<Vec<_>, _>>().map_err(|e| err(&e))
}

/// Parquet files under `data_dir` (relative paths), wherever they are.
pub fn find_files(data_dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if depth < 3 && path.is_dir() {
                walk(root, &path, depth + 1, out);
            } else if depth == 3 && path.extension().is_some_and(|x| x == "parquet") {
                if let Ok(rel) = path.strip_prefix(root) {
                    out.push(rel.to_path_buf());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(data_dir, data_dir, 0, &mut out);
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::lp::{parse, Precision};
    use crate::shard::Shard;
    use crate::write::{write_points, WriteOptions};

    #[test]
    fn batches_with_grown_schemas_and_missing_tags_persist_as_one_sorted_file() {
        let dir = std::env::temp_dir().join(format!("hydrant-persist-grow-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (catalog, mut shard) = (Catalog::default(), Shard::default());
        let arena = bumpalo::Bump::new();
        let write = |shard: &mut Shard, body: &str, seq: u64| {
            let parsed = parse(body.as_bytes(), Precision::Nanosecond, &arena).unwrap();
            let options = WriteOptions::new(0, seq);
            write_points(&catalog, shard, "db", &parsed.points, options, None);
        };
        write(&mut shard, "m,host=b v=1 3\nm v=2 2", 1);
        let (db, table) = (Arc::from("db"), Arc::from("m"));
        let i = shard.table_index(&db, &table);
        shard.table_at(i).seal();
        write(&mut shard, "m,host=a,dc=x v=3,w=\"s\" 1\nm,host=b v=4 1", 2);
        let batches = shard.snapshot("db", "m");
        assert_eq!(batches.len(), 2);
        let files = write_table(&dir, &db, &table, &batches, 0, 5).unwrap();
        let rows = read_rows(&dir, &files[0], &None).unwrap();
        let b = &rows[0];
        let schema = b.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["time", "host", "v", "dc", "w", "_seq"]);
        // Series order: (dc, host) with null first: (-, -), (-, b) x2, (x, a).
        let host = b.column(1).as_dictionary::<Int32Type>();
        let hosts: Vec<Option<&str>> = host
            .downcast_dict::<arrow_array::StringArray>()
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(hosts, [None, Some("b"), Some("b"), Some("a")]);
        let t = b.column(0).as_primitive::<TimestampNanosecondType>();
        assert_eq!(t.values().as_ref(), [2, 1, 3, 1]);
        let v = b
            .column(2)
            .as_primitive::<arrow_array::types::Float64Type>();
        assert_eq!(v.values().as_ref(), [2.0, 4.0, 1.0, 3.0]);
        let w = b.column(4).as_string::<i32>();
        assert_eq!(w.iter().collect::<Vec<_>>(), [None, None, None, Some("s")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Series ids and their order match the tag-rank tuples, whichever way
    /// they are found: by the tuple as one mixed-radix integer, or (past 64
    /// bits) by the tuple itself.
    #[test]
    fn series_ranks_follow_the_tag_tuples() {
        // (values per tag, rows): each row's rank in tag k is a spread of r.
        let cases: &[(&[usize], usize)] = &[
            (&[3, 4], 20),
            (&[50, 50], 10),
            (&[1 << 16, 1 << 16, 1 << 16, 1 << 16, 1 << 16], 40),
        ];
        for &(sizes, rows) in cases {
            let values = vec!["v"; *sizes.iter().max().unwrap()];
            let tags: Vec<TagRanks<'_>> = sizes
                .iter()
                .enumerate()
                .map(|(k, &n)| TagRanks {
                    name: format!("t{k}"),
                    ranks: (0..rows)
                        .map(|r| ((r * 7 + k * 3) % (n + 1).min(5)) as u32)
                        .collect(),
                    values: values[..n].to_vec(),
                })
                .collect();
            let (row_series, rank) = series_ranks(&tags, rows);
            let tuple = |r: usize| tags.iter().map(|t| t.ranks[r]).collect::<Vec<u32>>();
            let mut distinct: Vec<Vec<u32>> = (0..rows).map(tuple).collect();
            distinct.sort();
            distinct.dedup();
            assert_eq!(rank.len(), distinct.len(), "{sizes:?}");
            for r in 0..rows {
                let place = distinct.binary_search(&tuple(r)).unwrap();
                assert_eq!(
                    rank[row_series[r] as usize] as usize, place,
                    "{sizes:?} row {r}"
                );
            }
        }
    }

    /// A point written again is stored once when the later write holds
    /// every field of the earlier; otherwise both rows stay (each field's
    /// winner is picked at read). Each case: the writes (each its own
    /// request, so its own `_seq`; `|` seals a batch between them) and the
    /// rows the file holds as time|host|v|w|_seq. Whatever is dropped, the
    /// merged rows read back are those written.
    #[test]
    fn rows_a_later_write_of_their_point_supersedes_are_not_stored() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["m,host=a v=1 5", "m,host=a v=2 5"], &["5|a|2.0|-|2"]),
            (&["m,host=a v=1 5", "|", "m,host=a v=2 5"], &["5|a|2.0|-|3"]),
            (
                &["m,host=a v=1,w=1 5", "m,host=a v=2 5"],
                &["5|a|1.0|1.0|1", "5|a|2.0|-|2"],
            ),
            (
                &["m,host=a v=1 5", "m,host=a v=2,w=2 5"],
                &["5|a|2.0|2.0|2"],
            ),
            (
                &[
                    "m,host=a v=1,w=1 5",
                    "m,host=a v=2 5",
                    "|",
                    "m,host=a w=3 5",
                ],
                &["5|a|-|3.0|4", "5|a|2.0|-|2"],
            ),
            (
                &["m,host=a v=1 5", "m,host=a w=2 5", "m,host=a v=3,w=4 5"],
                &["5|a|3.0|4.0|3"],
            ),
            // Lines of one request: the later line wins.
            (&["m,host=a v=1 5\nm,host=a v=2 5"], &["5|a|2.0|-|1"]),
            // Other series, other times: nothing to drop.
            (
                &["m,host=a v=1 5\nm,host=b v=1 5\nm,host=a v=1 6", "m v=1 5"],
                &["5|-|1.0|-|2", "5|a|1.0|-|1", "5|b|1.0|-|1", "6|a|1.0|-|1"],
            ),
        ];
        let names = ["time", "host", "v", "w", "_seq"];
        let (db, table) = (Arc::from("db"), Arc::from("m"));
        for (n, (writes, stored)) in cases.iter().enumerate() {
            let dir = std::env::temp_dir()
                .join(format!("hydrant-persist-dup-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let (catalog, mut shard) = (Catalog::default(), Shard::default());
            for (k, body) in writes.iter().enumerate() {
                let arena = bumpalo::Bump::new();
                if *body == "|" {
                    let i = shard.table_index(&db, &table);
                    shard.table_at(i).seal();
                    continue;
                }
                let parsed = parse(body.as_bytes(), Precision::Nanosecond, &arena).unwrap();
                let options = WriteOptions::new(0, k as u64 + 1);
                write_points(&catalog, &mut shard, "db", &parsed.points, options, None);
            }
            let batches = shard.snapshot("db", "m");
            let files = write_table(&dir, &db, &table, &batches, 0, 9).unwrap();
            let read: Vec<RecordBatch> = files
                .iter()
                .flat_map(|f| read_rows(&dir, f, &None).unwrap())
                .collect();
            assert_eq!(render(&read, &names), *stored, "case {n}: {writes:?}");
            assert_eq!(files.iter().map(|f| f.rows).sum::<usize>(), stored.len());
            assert_eq!(
                crate::shard::merge::rows_as_json(&read),
                crate::shard::merge::rows_as_json(&batches),
                "case {n}: {writes:?}"
            );
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    /// Each row of `batches` as text, columns in `names` order ("-" for a
    /// null or a missing column), sorted.
    fn render(batches: &[RecordBatch], names: &[&str]) -> Vec<String> {
        use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
        let mut out = Vec::new();
        for b in batches {
            for r in 0..b.num_rows() {
                let cells = names.iter().map(|name| match b.column_by_name(name) {
                    Some(c) if c.is_valid(r) => match c.data_type() {
                        DataType::Timestamp(_, _) => c
                            .as_primitive::<TimestampNanosecondType>()
                            .value(r)
                            .to_string(),
                        DataType::Dictionary(_, _) => {
                            let d = c.as_dictionary::<Int32Type>();
                            let values = d.values().as_string::<i32>();
                            values.value(d.keys().value(r) as usize).to_string()
                        }
                        // Debug, so that -0.0 stays apart from 0.0.
                        DataType::Float64 => {
                            format!("{:?}", c.as_primitive::<Float64Type>().value(r))
                        }
                        DataType::Int64 => c.as_primitive::<Int64Type>().value(r).to_string(),
                        DataType::UInt64 => c.as_primitive::<UInt64Type>().value(r).to_string(),
                        DataType::Utf8 => c.as_string::<i32>().value(r).to_string(),
                        DataType::Boolean => c.as_boolean().value(r).to_string(),
                        other => panic!("{name}: {other}"),
                    },
                    _ => "-".to_string(),
                });
                out.push(cells.collect::<Vec<_>>().join("|"));
            }
        }
        out.sort();
        out
    }

    /// Every column type, with nulls, across several batches and pages (by
    /// row count and, for strings, by size), and a tag that one day's file
    /// never has: the files read back as the rows written, and each column
    /// chunk's statistics bound its values.
    #[test]
    fn every_type_with_nulls_and_many_pages_reads_back_with_its_statistics() {
        use parquet::file::statistics::Statistics;
        let dir =
            std::env::temp_dir().join(format!("hydrant-persist-types-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (catalog, mut shard) = (Catalog::default(), Shard::default());
        let n = 150_000i64;
        let mut body = String::new();
        for i in 0..n {
            // Every tenth row on the second day, which never has tag `x`.
            let (t, x) = match i % 10 {
                0 => (DAY_NS + i, String::new()),
                _ if i % 3 == 0 => (i, format!(",x=x{}", i % 4)),
                _ => (i, String::new()),
            };
            let mut fields = vec![format!(
                "u={}u",
                if i % 11 == 1 {
                    u64::MAX - i as u64
                } else {
                    i as u64
                }
            )];
            if i % 5 != 1 {
                // -0 and 0 among them, which statistics must order right.
                fields.push(format!(
                    "f={}",
                    if i % 13 == 0 {
                        -0.0
                    } else {
                        (i - 1000) as f64 / 4.0
                    }
                ));
            }
            if i % 4 != 2 {
                fields.push(format!("i={}i", -i));
            }
            if i % 6 != 3 {
                fields.push(format!("s=\"{i:0>60}\""));
            }
            if i % 2 == 0 {
                fields.push(format!("b={}", i % 3 == 0));
            }
            body.push_str(&format!("m,host=h{}{x} {} {t}\n", i % 7, fields.join(",")));
        }
        let (db, table) = (Arc::from("db"), Arc::from("m"));
        let lines: Vec<&str> = body.lines().collect();
        for (k, part) in lines.chunks(50_000).enumerate() {
            let arena = bumpalo::Bump::new();
            let part = part.join("\n");
            let parsed = parse(part.as_bytes(), Precision::Nanosecond, &arena).unwrap();
            let options = WriteOptions::new(0, k as u64 + 1);
            let out = write_points(&catalog, &mut shard, "db", &parsed.points, options, None);
            assert_eq!(out.written, parsed.points.len());
            let i = shard.table_index(&db, &table);
            shard.table_at(i).seal();
        }
        let batches = shard.snapshot("db", "m");
        assert_eq!(batches.len(), 3, "several batches in one part");
        let files = write_table_in_parts(&dir, &db, &table, &batches, 0, 3, usize::MAX).unwrap();
        assert_eq!(files.len(), 2, "{files:?}");
        let names = ["time", "host", "x", "f", "i", "u", "s", "b", "_seq"];
        let mut read = Vec::new();
        for f in &files {
            read.extend(read_rows(&dir, f, &None).unwrap());
        }
        assert_eq!(render(&read, &names), render(&batches, &names));

        let day1 = &files[0];
        let file = File::open(dir.join(&day1.path)).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.num_row_groups(), 1);
        let group = meta.row_group(0);
        let stats = |name: &str| {
            let k = (0..group.num_columns())
                .find(|&k| group.column(k).column_path().string() == name)
                .unwrap();
            group.column(k).statistics().unwrap().clone()
        };
        let day1_rows: Vec<i64> = (0..n).filter(|i| i % 10 != 0).collect();
        match stats("time") {
            Statistics::Int64(s) => {
                assert_eq!((s.min_opt(), s.max_opt()), (Some(&1), Some(&(n - 1))))
            }
            other => panic!("{other:?}"),
        }
        match stats("u") {
            Statistics::Int64(s) => {
                let (min, max) = (*s.min_opt().unwrap() as u64, *s.max_opt().unwrap() as u64);
                assert_eq!((min, max), (2, u64::MAX - 1), "ordered as unsigned");
            }
            other => panic!("{other:?}"),
        }
        match stats("f") {
            Statistics::Double(s) => {
                let nulls = day1_rows.iter().filter(|&&i| i % 5 == 1).count() as u64;
                assert_eq!(s.null_count_opt(), Some(nulls));
                let f = day1_rows.iter().filter(|&&i| i % 5 != 1);
                let f: Vec<f64> = f.map(|&i| (i - 1000) as f64 / 4.0).collect();
                let min = f.iter().copied().fold(f64::INFINITY, f64::min);
                let max = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                assert_eq!((*s.min_opt().unwrap(), *s.max_opt().unwrap()), (min, max));
            }
            other => panic!("{other:?}"),
        }
        match stats("host") {
            Statistics::ByteArray(s) => {
                let bounds = (s.min_opt().unwrap().data(), s.max_opt().unwrap().data());
                assert_eq!(bounds, (&b"h0"[..], &b"h6"[..]));
                assert_eq!(s.null_count_opt(), Some(0));
            }
            other => panic!("{other:?}"),
        }
        // The second day's file: `x` is all nulls, with no bounds.
        let file = File::open(dir.join(&files[1].path)).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let group = reader.metadata().row_group(0);
        let x = (0..group.num_columns())
            .find(|&k| group.column(k).column_path().string() == "x")
            .unwrap();
        match group.column(x).statistics().unwrap() {
            Statistics::ByteArray(s) => {
                assert_eq!(s.null_count_opt(), Some(n as u64 / 10));
                assert!(s.min_opt().is_none() && s.max_opt().is_none());
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_big_persist_is_written_in_parts_each_sorted() {
        let dir =
            std::env::temp_dir().join(format!("hydrant-persist-parts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (catalog, mut shard) = (Catalog::default(), Shard::default());
        let arena = bumpalo::Bump::new();
        let (db, table) = (Arc::from("db"), Arc::from("m"));
        // Five sealed batches of two rows; parts of at least three rows.
        for k in 0..5i64 {
            let body = format!("m,host=b v={k} {}\nm,host=a v={k} {}", 10 - k, 20 + k);
            let parsed = parse(body.as_bytes(), Precision::Nanosecond, &arena).unwrap();
            let options = WriteOptions::new(0, k as u64 + 1);
            write_points(&catalog, &mut shard, "db", &parsed.points, options, None);
            let i = shard.table_index(&db, &table);
            shard.table_at(i).seal();
        }
        let batches = shard.snapshot("db", "m");
        assert_eq!(batches.len(), 5);
        let files = write_table_in_parts(&dir, &db, &table, &batches, 2, 7, 3).unwrap();
        let names: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
        assert_eq!(
            names,
            [
                "db/m/1970-01-01/002-00000000000000000007.parquet",
                "db/m/1970-01-01/002-00000000000000000007-1.parquet",
                "db/m/1970-01-01/002-00000000000000000007-2.parquet"
            ]
        );
        assert_eq!(files.iter().map(|f| f.rows).collect::<Vec<_>>(), [4, 4, 2]);
        let mut all = Vec::new();
        for f in &files {
            let read = read_rows(&dir, f, &None).unwrap();
            let b = &read[0];
            let hosts: Vec<String> = b
                .column(1)
                .as_dictionary::<Int32Type>()
                .downcast_dict::<arrow_array::StringArray>()
                .unwrap()
                .into_iter()
                .map(|h| h.unwrap().to_string())
                .collect();
            let t = b.column(0).as_primitive::<TimestampNanosecondType>();
            let rows: Vec<(String, i64)> =
                hosts.into_iter().zip(t.values().iter().copied()).collect();
            let mut sorted = rows.clone();
            sorted.sort();
            assert_eq!(rows, sorted, "{}", f.path.display());
            all.extend(rows);
        }
        all.sort();
        let mut expected: Vec<(String, i64)> = (0..5)
            .flat_map(|k| [("a".to_string(), 20 + k), ("b".to_string(), 10 - k)])
            .collect();
        expected.sort();
        assert_eq!(all, expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_block_writer_keeps_every_byte_in_order() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("hydrant-block-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        // Pieces of odd sizes that straddle block boundaries, and one
        // bigger than a block.
        let data: Vec<u8> = (0..(5 * BLOCK / 2) as u32)
            .map(|i| (i % 251) as u8)
            .collect();
        let mut file = File::create(&path).unwrap();
        let mut w = BlockWriter::new(&mut file);
        let mut at = 0;
        for size in [1, 7, BLOCK - 3, 10, BLOCK + 5, 999].into_iter().cycle() {
            let end = (at + size).min(data.len());
            w.write_all(&data[at..end]).unwrap();
            at = end;
            if at == data.len() {
                break;
            }
        }
        w.flush().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), data);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_become_safe_path_components() {
        assert_eq!(path_component("telegraf"), "telegraf");
        assert_eq!(path_component("a/b"), "a%2Fb");
        assert_eq!(path_component(".."), "%2E.");
        assert_eq!(path_component("é"), "%C3%A9");
        assert_eq!(path_component(""), "%00");
    }

    #[test]
    fn files_are_per_day_sorted_and_read_back() {
        let dir = std::env::temp_dir().join(format!("hydrant-persist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (catalog, mut shard) = (Catalog::default(), Shard::default());
        let day = 86_400_000_000_000i64;
        let body = format!(
            "m,host=b v=1 {t1}\nm,host=a v=2 {t2}\nm,host=a v=3,s=\"x\" {t0}\nm,host=b v=4 {t3}",
            t0 = 5,
            t1 = 10,
            t2 = 20,
            t3 = day + 1
        );
        let arena = bumpalo::Bump::new();
        let parsed = parse(body.as_bytes(), Precision::Nanosecond, &arena).unwrap();
        write_points(
            &catalog,
            &mut shard,
            "db",
            &parsed.points,
            WriteOptions::new(0, 1),
            None,
        );
        let batches = shard.snapshot("db", "m");
        let files = write_table(&dir, &Arc::from("db"), &Arc::from("m"), &batches, 0, 9).unwrap();
        let paths: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
        assert_eq!(
            paths,
            [
                "db/m/1970-01-01/000-00000000000000000009.parquet",
                "db/m/1970-01-02/000-00000000000000000009.parquet"
            ]
        );
        let first = &files[0];
        assert_eq!((first.min_time, first.max_time, first.rows), (5, 20, 3));
        assert_eq!(
            first.tags,
            [("host".to_string(), vec!["a".to_string(), "b".to_string()])]
        );
        assert_eq!(read_meta(&dir, &first.path).unwrap(), *first);
        let rows = read_rows(&dir, first, &None).unwrap();
        let b = &rows[0];
        let schema = b.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["time", "host", "v", "s", "_seq"]);
        assert!(matches!(
            b.schema().field(1).data_type(),
            DataType::Dictionary(_, _)
        ));
        let t = b.column(0).as_primitive::<TimestampNanosecondType>();
        assert_eq!(
            t.values().as_ref(),
            [5, 20, 10],
            "host a (by time), then host b"
        );
        // A read for some fields: those, and what says which rows are the same point.
        let cases: &[(&[&str], &[&str])] = &[
            (&["s"], &["time", "host", "s", "_seq"]),
            (&["v", "s"], &["time", "host", "v", "s", "_seq"]),
            (&[], &["time", "host", "_seq"]),
            (&["host", "nowhere"], &["time", "host", "_seq"]),
        ];
        for (wanted, expected) in cases {
            let columns: Columns = Some(wanted.iter().map(|w| w.to_string()).collect());
            let read = read_rows(&dir, first, &columns).unwrap();
            let schema = read[0].schema();
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            assert_eq!(&names, expected, "{wanted:?}");
            assert_eq!(read[0].num_rows(), 3);
            for name in &names {
                let full = b.column_by_name(name).unwrap();
                assert_eq!(read[0].column_by_name(name).unwrap(), full, "{name}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
