//! Parquet files encoded straight from a persist's sorted rows.
//!
//! arrow-rs's `ArrowWriter` works out again what the persist already knows.
//! It hashes every row's tag string into a new dictionary, though the rows'
//! tag ranks already are one. It needs each column gathered into a new array
//! first, and it zero-fills a fresh compression buffer for every page.
//! Without those, a persist takes 27% fewer instructions (callgrind, 200 000
//! Telegraf rows). Here each column chunk is encoded once, from the sorted
//! rows:
//! - PLAIN values;
//! - RLE_DICTIONARY tags over the file's sorted tag values;
//! - RLE definition levels;
//! - one Snappy block per page.
//!
//! The parquet crate's file writer then writes the page headers, the footer
//! and the Arrow schema, so readers see the same columns and types as before.

use std::io::Write;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
use arrow_array::{ArrayAccessor, ArrayRef};
use arrow_schema::{DataType, Schema};
use bytes::Bytes;
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter};
use parquet::basic::{Compression, Encoding};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::statistics::Statistics;
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

use super::TagRanks;

/// Most rows in a data page (arrow-rs's default): pages of 2^16 rows read
/// every column about 2% slower in `cargo bench --bench write_path`.
const PAGE_ROWS: usize = 20_000;
/// Uncompressed bytes at which a data page closes early (arrow-rs's default
/// page size).
const PAGE_BYTES: usize = 1 << 20;
/// Longest tag value kept as a chunk's min or max: a longer one would bloat
/// the footer, so the chunk then has no min/max.
const STAT_BYTES: usize = 64;

/// Where one column's values come from.
pub(super) enum Source<'a> {
    /// The sort key's time.
    Time,
    /// The sort key's write order.
    Seq,
    /// A tag, with the ranks (in its sorted values) present in this file.
    Tag(&'a TagRanks<'a>, &'a [bool]),
    /// A field: its array in each batch, if the batch has it.
    Field(&'a [Option<&'a ArrayRef>]),
}

/// A file's rows in their sorted order.
pub(super) struct Rows<'a> {
    /// (series rank, time, seq, row across batches), sorted.
    pub keys: &'a [(u32, i64, u64, u32)],
    /// Each row's place in the file (rows numbered across batches in
    /// order; `u32::MAX` for a row in another file).
    pub place: &'a [u32],
    /// Where each batch's rows start in that numbering.
    pub starts: &'a [usize],
}

/// Writes one Parquet file of `rows` to `out` and returns `out`.
pub(super) fn write_file<W: Write + Send>(
    encoder: &mut Encoder,
    out: W,
    schema: &Schema,
    mut props: WriterProperties,
    sources: &[Source<'_>],
    rows: &Rows<'_>,
) -> Result<W> {
    if rows.keys.is_empty() {
        return Err(ParquetError::General("a file without rows".into()));
    }
    let descr = ArrowSchemaConverter::new().convert(schema)?;
    add_encoded_arrow_schema_to_metadata(schema, &mut props);
    let mut file = SerializedFileWriter::new(out, descr.root_schema_ptr(), Arc::new(props))?;
    let mut group = file.next_row_group()?;
    for (i, (field, source)) in schema.fields().iter().zip(sources).enumerate() {
        let descr = descr.column(i);
        let optional = field.is_nullable();
        let (bytes, close) = match source {
            Source::Time => encoder.keys(&descr, rows, |k| k.1)?,
            Source::Seq => encoder.keys(&descr, rows, |k| U64(k.2))?,
            Source::Tag(tag, present) => encoder.tag(&descr, rows, tag, present)?,
            Source::Field(arrays) => {
                encoder.field(&descr, rows, optional, field.data_type(), arrays)?
            }
        };
        group.append_column(&Slice(&bytes), close)?;
        encoder.give_back(bytes);
    }
    group.close()?;
    file.into_inner()
}

/// Buffers reused across pages, columns and files (fresh ones cost a page
/// fault per 4 KiB).
pub(super) struct Encoder {
    /// A page as written: definition levels, then values, uncompressed.
    page: Vec<u8>,
    /// A page's definition levels (empty when every row has a value).
    levels: Vec<u32>,
    /// Snappy's output. It keeps its largest length, so that no later page
    /// zero-fills it again.
    packed: Vec<u8>,
    snappy: snap::raw::Encoder,
    /// A column chunk's pages.
    chunk: Vec<u8>,
    /// A page's values, typed.
    scratch: Scratch,
    /// A column's values in file order, typed.
    sorted: Scratch,
    /// Which rows of a column have a value.
    valid: Vec<bool>,
}

/// Typed [`Encoder::values`] staging, by type.
#[derive(Default)]
pub(super) struct Scratch {
    i64s: Vec<i64>,
    u64s: Vec<U64>,
    f64s: Vec<f64>,
    bools: Vec<bool>,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            page: Vec::new(),
            levels: Vec::new(),
            packed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
            chunk: Vec::new(),
            scratch: Scratch::default(),
            sorted: Scratch::default(),
            valid: Vec::new(),
        }
    }
}

impl Encoder {
    /// A chunk's buffer, for the next chunk.
    fn give_back(&mut self, mut chunk: Vec<u8>) {
        chunk.clear();
        self.chunk = chunk;
    }

    fn chunk(&mut self) -> Chunk {
        Chunk::new(std::mem::take(&mut self.chunk))
    }

    /// A column of plain values: `sorted` holds each row's value in file
    /// order, and `valid` (if any row is null) says which rows have one.
    fn values<T: Value>(
        &mut self,
        descr: &ColumnDescPtr,
        sorted: &[T],
        valid: Option<&[bool]>,
        optional: bool,
    ) -> Result<(Vec<u8>, ColumnCloseResult)> {
        let n = sorted.len();
        let mut chunk = self.chunk();
        let mut stats = T::Stats::default();
        let mut nulls = 0u64;
        let mut staged = T::take(&mut self.scratch);
        let mut start = 0;
        while start < n {
            let mut end = (start + PAGE_ROWS).min(n);
            self.levels.clear();
            let page = match valid {
                None if T::FIXED => &sorted[start..end],
                _ => {
                    // The page's values without its nulls, and a level per
                    // row; a page of strings also closes at PAGE_BYTES.
                    staged.clear();
                    let mut bytes = 0;
                    for k in start..end {
                        if bytes >= PAGE_BYTES {
                            end = k;
                            break;
                        }
                        if valid.is_none_or(|v| v[k]) {
                            bytes += sorted[k].size();
                            staged.push(sorted[k]);
                            self.levels.push(1);
                        } else {
                            self.levels.push(0);
                        }
                    }
                    if staged.len() == end - start {
                        // No nulls after all: the levels say nothing.
                        self.levels.clear();
                    }
                    &staged[..]
                }
            };
            nulls += (end - start - page.len()) as u64;
            T::observe(page, &mut stats);
            self.start_page(end - start, optional);
            T::plain(page, &mut self.page);
            self.finish_page(&mut chunk, end - start, Encoding::PLAIN)?;
            start = end;
        }
        staged.clear();
        T::give(&mut self.scratch, staged);
        let mut encodings = vec![Encoding::PLAIN];
        if optional {
            encodings.push(Encoding::RLE);
        }
        chunk.finish(descr, n, encodings, T::statistics(stats, nulls))
    }

    /// A column taken from the sort keys (already in file order).
    fn keys<T: Value>(
        &mut self,
        descr: &ColumnDescPtr,
        rows: &Rows<'_>,
        key: impl Fn(&(u32, i64, u64, u32)) -> T,
    ) -> Result<(Vec<u8>, ColumnCloseResult)> {
        let mut sorted = T::take(&mut self.sorted);
        sorted.clear();
        sorted.extend(rows.keys.iter().map(key));
        let out = self.values(descr, &sorted, None, false);
        T::give(&mut self.sorted, sorted);
        out
    }

    /// A field column: each row's value from its batch's array (`wrap`ped
    /// as the column's [`Value`]).
    ///
    /// The values are put in file order by a scatter: each batch is read in
    /// order, and each value stored at its row's place. Reading the batches
    /// at random instead (a gather in file order) waited on memory, since a
    /// persisted batch is no longer in cache.
    fn scatter<A: ArrayAccessor, T: Value>(
        &mut self,
        descr: &ColumnDescPtr,
        rows: &Rows<'_>,
        optional: bool,
        arrays: Vec<Option<A>>,
        wrap: impl Fn(A::Item) -> T,
    ) -> Result<(Vec<u8>, ColumnCloseResult)> {
        let n = rows.keys.len();
        // Every batch has the column, without a null.
        let dense = arrays
            .iter()
            .all(|a| a.as_ref().is_some_and(|a| a.null_count() == 0));
        let mut sorted = T::take(&mut self.sorted);
        sorted.clear();
        sorted.resize(n, T::ZERO);
        let mut valid = std::mem::take(&mut self.valid);
        valid.clear();
        if !dense {
            valid.resize(n, false);
        }
        for (b, array) in arrays.iter().enumerate() {
            let Some(array) = array else { continue };
            let start = rows.starts[b];
            let places = &rows.place[start..start + array.len()];
            for (r, &at) in places.iter().enumerate() {
                if at == u32::MAX {
                    continue;
                }
                if dense {
                    sorted[at as usize] = wrap(array.value(r));
                } else if array.is_valid(r) {
                    sorted[at as usize] = wrap(array.value(r));
                    valid[at as usize] = true;
                }
            }
        }
        let out = self.values(descr, &sorted, (!dense).then_some(&valid[..]), optional);
        T::give(&mut self.sorted, sorted);
        self.valid = valid;
        out
    }

    /// A field column, read from each batch's array of its type.
    fn field(
        &mut self,
        descr: &ColumnDescPtr,
        rows: &Rows<'_>,
        optional: bool,
        data_type: &DataType,
        arrays: &[Option<&ArrayRef>],
    ) -> Result<(Vec<u8>, ColumnCloseResult)> {
        match data_type {
            DataType::Float64 => {
                let arrays = arrays
                    .iter()
                    .map(|a| a.map(|a| a.as_primitive::<Float64Type>()));
                self.scatter(descr, rows, optional, arrays.collect(), |v| v)
            }
            DataType::Int64 => {
                let arrays = arrays
                    .iter()
                    .map(|a| a.map(|a| a.as_primitive::<Int64Type>()));
                self.scatter(descr, rows, optional, arrays.collect(), |v| v)
            }
            DataType::UInt64 => {
                let arrays = arrays
                    .iter()
                    .map(|a| a.map(|a| a.as_primitive::<UInt64Type>()));
                self.scatter(descr, rows, optional, arrays.collect(), U64)
            }
            DataType::Boolean => {
                let arrays = arrays.iter().map(|a| a.map(|a| a.as_boolean()));
                self.scatter(descr, rows, optional, arrays.collect(), |v| v)
            }
            DataType::Utf8 => {
                let arrays = arrays.iter().map(|a| a.map(|a| a.as_string::<i32>()));
                self.scatter(descr, rows, optional, arrays.collect(), Text)
            }
            other => Err(ParquetError::General(format!(
                "column {} has type {other}, which a persist does not write",
                descr.name()
            ))),
        }
    }

    /// A tag column: a dictionary page of the file's values of the tag (in
    /// sorted order, so a row's index is its rank among them), then data
    /// pages of each row's index.
    fn tag(
        &mut self,
        descr: &ColumnDescPtr,
        rows: &Rows<'_>,
        tag: &TagRanks<'_>,
        present: &[bool],
    ) -> Result<(Vec<u8>, ColumnCloseResult)> {
        let n = rows.keys.len();
        if !present.iter().skip(1).any(|&p| p) {
            // No row of this file has the tag: nulls, and no dictionary.
            let (sorted, valid) = (vec![Text(""); n], vec![false; n]);
            return self.values(descr, &sorted, Some(&valid), true);
        }
        // Rank (1-based, 0 for null) to dictionary index.
        let mut index = vec![0u32; present.len()];
        let mut dictionary: Vec<&str> = Vec::new();
        for (rank, _) in present.iter().enumerate().skip(1).filter(|(_, p)| **p) {
            index[rank] = dictionary.len() as u32;
            dictionary.push(tag.values[rank - 1]);
        }
        let mut chunk = self.chunk();
        self.page.clear();
        let values: Vec<Text<'_>> = dictionary.iter().map(|v| Text(v)).collect();
        Text::plain(&values, &mut self.page);
        let (buf, size) = self.compress()?;
        chunk.page(
            Page::DictionaryPage {
                buf,
                num_values: dictionary.len() as u32,
                encoding: Encoding::PLAIN,
                is_sorted: true,
            },
            size,
        )?;
        let largest = dictionary.len() as u32 - 1;
        let width = (u32::BITS - largest.leading_zeros()).max(1) as u8;
        let mut nulls = 0u64;
        let mut indices: Vec<u32> = Vec::with_capacity(n.min(PAGE_ROWS));
        for start in (0..n).step_by(PAGE_ROWS) {
            let end = (start + PAGE_ROWS).min(n);
            self.levels.clear();
            indices.clear();
            for key in &rows.keys[start..end] {
                match tag.ranks[key.3 as usize] {
                    0 => {
                        nulls += 1;
                        self.levels.push(0);
                    }
                    rank => {
                        self.levels.push(1);
                        indices.push(index[rank as usize]);
                    }
                }
            }
            if indices.len() == end - start {
                // No nulls: the levels say nothing (see `start_page`).
                self.levels.clear();
            }
            self.start_page(end - start, true);
            self.page.push(width);
            rle_hybrid(&indices, width, &mut self.page);
            self.finish_page(&mut chunk, end - start, Encoding::RLE_DICTIONARY)?;
        }
        let bound = |v: Option<&&str>| {
            v.filter(|v| v.len() <= STAT_BYTES)
                .map(|v| ByteArray::from(v.as_bytes().to_vec()))
        };
        let (min, max) = match (bound(dictionary.first()), bound(dictionary.last())) {
            (Some(min), Some(max)) => (Some(min), Some(max)),
            _ => (None, None),
        };
        let stats = Statistics::byte_array(min, max, None, Some(nulls), false);
        let encodings = vec![Encoding::PLAIN, Encoding::RLE, Encoding::RLE_DICTIONARY];
        chunk.finish(descr, n, encodings, stats)
    }

    /// Starts a data page of `rows` rows in `self.page` with its
    /// definition levels (if `optional`): those in `self.levels`, or all 1
    /// when `self.levels` is empty. Its values are appended after them.
    fn start_page(&mut self, rows: usize, optional: bool) {
        self.page.clear();
        if optional {
            self.page.extend_from_slice(&[0; 4]);
            match self.levels.is_empty() {
                true => rle_run(rows, 1, 1, &mut self.page),
                false => rle_hybrid(&self.levels, 1, &mut self.page),
            }
            let len = (self.page.len() - 4) as u32;
            self.page[..4].copy_from_slice(&len.to_le_bytes());
        }
    }

    /// Writes `self.page`, a data page of `rows` rows, compressed.
    fn finish_page(&mut self, chunk: &mut Chunk, rows: usize, encoding: Encoding) -> Result<()> {
        let (buf, size) = self.compress()?;
        chunk.page(
            Page::DataPage {
                buf,
                num_values: rows as u32,
                encoding,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            },
            size,
        )
    }

    /// `self.page` compressed, and its uncompressed size.
    fn compress(&mut self) -> Result<(Bytes, usize)> {
        let need = snap::raw::max_compress_len(self.page.len());
        if self.packed.len() < need {
            self.packed.resize(need, 0);
        }
        let n = self
            .snappy
            .compress(&self.page, &mut self.packed)
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        Ok((Bytes::copy_from_slice(&self.packed[..n]), self.page.len()))
    }
}

/// One column chunk being written, its offsets counted from its start.
struct Chunk {
    sink: TrackedWrite<Vec<u8>>,
    data_offset: Option<u64>,
    dictionary: bool,
    uncompressed: u64,
    compressed: u64,
}

impl Chunk {
    fn new(buf: Vec<u8>) -> Self {
        Chunk {
            sink: TrackedWrite::new(buf),
            data_offset: None,
            dictionary: false,
            uncompressed: 0,
            compressed: 0,
        }
    }

    fn page(&mut self, page: Page, uncompressed: usize) -> Result<()> {
        let dictionary = matches!(page, Page::DictionaryPage { .. });
        let page = CompressedPage::new(page, uncompressed);
        let spec = SerializedPageWriter::new(&mut self.sink).write_page(page)?;
        if dictionary {
            self.dictionary = true;
        } else if self.data_offset.is_none() {
            self.data_offset = Some(spec.offset);
        }
        self.uncompressed += spec.uncompressed_size as u64;
        self.compressed += spec.compressed_size as u64;
        Ok(())
    }

    /// The chunk's bytes, and what the file writer needs to splice them in.
    fn finish(
        self,
        descr: &ColumnDescPtr,
        rows: usize,
        encodings: Vec<Encoding>,
        stats: Statistics,
    ) -> Result<(Vec<u8>, ColumnCloseResult)> {
        let Some(data_offset) = self.data_offset else {
            return Err(ParquetError::General(
                "a column chunk without data pages".into(),
            ));
        };
        let bytes = self.sink.into_inner()?;
        let metadata = ColumnChunkMetaData::builder(descr.clone())
            .set_compression(Compression::SNAPPY)
            .set_encodings(encodings)
            .set_num_values(rows as i64)
            .set_total_compressed_size(self.compressed as i64)
            .set_total_uncompressed_size(self.uncompressed as i64)
            .set_data_page_offset(data_offset as i64)
            .set_dictionary_page_offset(self.dictionary.then_some(0))
            .set_statistics(stats)
            .build()?;
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: rows as u64,
            metadata,
            bloom_filter: None,
            column_index: None,
            offset_index: None,
        };
        Ok((bytes, close))
    }
}

/// A column chunk's bytes as the file writer reads them.
struct Slice<'a>(&'a [u8]);

impl Length for Slice<'_> {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
}

impl<'a> ChunkReader for Slice<'a> {
    type T = &'a [u8];

    fn get_read(&self, start: u64) -> Result<&'a [u8]> {
        self.0
            .get(start as usize..)
            .ok_or_else(|| ParquetError::EOF(format!("offset {start} past a column chunk")))
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes> {
        let end = (start as usize).saturating_add(length);
        let bytes = self.0.get(start as usize..end);
        let bytes = bytes.ok_or_else(|| {
            ParquetError::EOF(format!("bytes {start}..{end} past a column chunk"))
        })?;
        Ok(Bytes::copy_from_slice(bytes))
    }
}

/// A value type's PLAIN encoding and its chunk statistics.
trait Value: Copy {
    /// A placeholder, overwritten before it is read.
    const ZERO: Self;
    /// Whether every value takes the same bytes (a page of them is closed
    /// by its row count alone).
    const FIXED: bool;
    type Stats: Default;
    fn plain(values: &[Self], out: &mut Vec<u8>);
    /// Bytes it takes in a page.
    fn size(&self) -> usize;
    fn observe(values: &[Self], stats: &mut Self::Stats);
    fn statistics(stats: Self::Stats, nulls: u64) -> Statistics;
    /// An empty staging vector (one kept from an earlier page, if any).
    fn take(scratch: &mut Scratch) -> Vec<Self>;
    /// Keeps `staged` for the next page.
    fn give(scratch: &mut Scratch, staged: Vec<Self>);
}

/// An unsigned integer: stored as INT64 (bit for bit), ordered as unsigned.
#[derive(Clone, Copy)]
struct U64(u64);

/// A string field: stored as BYTE_ARRAY.
#[derive(Clone, Copy)]
struct Text<'a>(&'a str);

fn widen<T: PartialOrd + Copy>(stats: &mut Option<(T, T)>, v: T) {
    match stats {
        None => *stats = Some((v, v)),
        Some((min, max)) => {
            if v < *min {
                *min = v;
            }
            if v > *max {
                *max = v;
            }
        }
    }
}

/// The parts of [`Value`] a fixed 8-byte type shares: its staging vector
/// in [`Scratch`], and its PLAIN encoding (little-endian bytes).
macro_rules! fixed_8 {
    ($scratch:ident, $zero:expr, $bytes:expr) => {
        const ZERO: Self = $zero;
        const FIXED: bool = true;
        fn take(scratch: &mut Scratch) -> Vec<Self> {
            std::mem::take(&mut scratch.$scratch)
        }
        fn give(scratch: &mut Scratch, staged: Vec<Self>) {
            scratch.$scratch = staged;
        }
        fn plain(values: &[Self], out: &mut Vec<u8>) {
            out.reserve(values.len() * 8);
            for &v in values {
                out.extend_from_slice(&($bytes)(v));
            }
        }
        fn size(&self) -> usize {
            8
        }
    };
}

impl Value for i64 {
    fixed_8!(i64s, 0, |v: i64| v.to_le_bytes());
    type Stats = Option<(i64, i64)>;
    fn observe(values: &[Self], stats: &mut Self::Stats) {
        if let (Some(&lo), Some(&hi)) = (values.iter().min(), values.iter().max()) {
            widen(stats, lo);
            widen(stats, hi);
        }
    }
    fn statistics(stats: Self::Stats, nulls: u64) -> Statistics {
        Statistics::int64(
            stats.map(|s| s.0),
            stats.map(|s| s.1),
            None,
            Some(nulls),
            false,
        )
    }
}

impl Value for U64 {
    fixed_8!(u64s, U64(0), |v: U64| v.0.to_le_bytes());
    type Stats = Option<(u64, u64)>;
    fn observe(values: &[Self], stats: &mut Self::Stats) {
        let lo = values.iter().map(|v| v.0).min();
        if let (Some(lo), Some(hi)) = (lo, values.iter().map(|v| v.0).max()) {
            widen(stats, lo);
            widen(stats, hi);
        }
    }
    fn statistics(stats: Self::Stats, nulls: u64) -> Statistics {
        let (min, max) = (stats.map(|s| s.0 as i64), stats.map(|s| s.1 as i64));
        Statistics::int64(min, max, None, Some(nulls), false)
    }
}

impl Value for f64 {
    fixed_8!(f64s, 0.0, |v: f64| v.to_le_bytes());
    type Stats = Option<(f64, f64)>;
    fn observe(values: &[Self], stats: &mut Self::Stats) {
        // NaN has no place in an order, so the Parquet spec leaves it out:
        // a comparison with NaN is false, so it never becomes a bound.
        // Eight lanes keep the loop from being one long dependency chain
        // (it compiles to vector min/max).
        let (mut lo, mut hi) = ([f64::INFINITY; 8], [f64::NEG_INFINITY; 8]);
        let lanes = values.chunks_exact(8);
        let rest = lanes.remainder();
        for c in lanes {
            for i in 0..8 {
                lo[i] = if c[i] < lo[i] { c[i] } else { lo[i] };
                hi[i] = if c[i] > hi[i] { c[i] } else { hi[i] };
            }
        }
        for (i, &v) in rest.iter().enumerate() {
            lo[i] = if v < lo[i] { v } else { lo[i] };
            hi[i] = if v > hi[i] { v } else { hi[i] };
        }
        let lo = lo.iter().fold(f64::INFINITY, |a, &v| a.min(v));
        let hi = hi.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v));
        if lo <= hi {
            widen(stats, lo);
            widen(stats, hi);
        }
    }
    fn statistics(stats: Self::Stats, nulls: u64) -> Statistics {
        // A zero bound is written -0.0 as a min and +0.0 as a max, as the
        // spec asks, so that either zero falls inside the range.
        let min = stats.map(|s| if s.0 == 0.0 { -0.0 } else { s.0 });
        let max = stats.map(|s| if s.1 == 0.0 { 0.0 } else { s.1 });
        Statistics::double(min, max, None, Some(nulls), false)
    }
}

impl Value for bool {
    fn take(scratch: &mut Scratch) -> Vec<Self> {
        std::mem::take(&mut scratch.bools)
    }
    fn give(scratch: &mut Scratch, staged: Vec<Self>) {
        scratch.bools = staged;
    }
    const ZERO: Self = false;
    const FIXED: bool = true;
    type Stats = Option<(bool, bool)>;
    fn plain(values: &[Self], out: &mut Vec<u8>) {
        for group in values.chunks(8) {
            out.push(
                group
                    .iter()
                    .enumerate()
                    .fold(0u8, |b, (i, &v)| b | (u8::from(v) << i)),
            );
        }
    }
    fn size(&self) -> usize {
        1
    }
    fn observe(values: &[Self], stats: &mut Self::Stats) {
        if !values.is_empty() {
            widen(stats, values.iter().all(|&v| v));
            widen(stats, values.iter().any(|&v| v));
        }
    }
    fn statistics(stats: Self::Stats, nulls: u64) -> Statistics {
        Statistics::boolean(
            stats.map(|s| s.0),
            stats.map(|s| s.1),
            None,
            Some(nulls),
            false,
        )
    }
}

impl Value for Text<'_> {
    fn take(_: &mut Scratch) -> Vec<Self> {
        Vec::new()
    }
    fn give(_: &mut Scratch, _: Vec<Self>) {}
    const ZERO: Self = Text("");
    const FIXED: bool = false;
    /// String fields carry only their null count: ordering every row's
    /// string for a min/max costs more than readers gain from it.
    type Stats = ();
    fn plain(values: &[Self], out: &mut Vec<u8>) {
        for v in values {
            out.extend_from_slice(&(v.0.len() as u32).to_le_bytes());
            out.extend_from_slice(v.0.as_bytes());
        }
    }
    fn size(&self) -> usize {
        4 + self.0.len()
    }
    fn observe(_: &[Self], _: &mut ()) {}
    fn statistics(_: (), nulls: u64) -> Statistics {
        Statistics::byte_array(None, None, None, Some(nulls), false)
    }
}

/// Parquet's RLE / bit-packed hybrid encoding of `values` (each below
/// 2^`width`): runs of 8 or more equal values become RLE runs, the rest is
/// bit-packed in groups of 8.
fn rle_hybrid(values: &[u32], width: u8, out: &mut Vec<u8>) {
    let (mut literal, mut i) = (0, 0);
    while i < values.len() {
        let v = values[i];
        let mut j = i + 1;
        while j < values.len() && values[j] == v {
            j += 1;
        }
        if j - i >= 8 {
            // Bit-packed runs hold whole groups of 8 (except the last):
            // the literals before this run borrow from its start.
            let pad = (8 - (i - literal) % 8) % 8;
            if i > literal {
                bit_pack(&values[literal..i + pad], width, out);
            }
            rle_run(j - i - pad, v, width, out);
            literal = j;
        }
        i = j;
    }
    if literal < values.len() {
        bit_pack(&values[literal..], width, out);
    }
}

/// One RLE run: `count` times `value`.
fn rle_run(count: usize, value: u32, width: u8, out: &mut Vec<u8>) {
    uleb128((count as u64) << 1, out);
    out.extend_from_slice(&value.to_le_bytes()[..usize::from(width).div_ceil(8)]);
}

/// One bit-packed run of `values`, its last group padded with zeros.
fn bit_pack(values: &[u32], width: u8, out: &mut Vec<u8>) {
    let groups = values.len().div_ceil(8);
    uleb128(((groups as u64) << 1) | 1, out);
    let (mut acc, mut bits) = (0u64, 0u32);
    for k in 0..groups * 8 {
        acc |= u64::from(values.get(k).copied().unwrap_or(0)) << bits;
        bits += u32::from(width);
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
}

fn uleb128(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a hybrid run sequence back into `n` values.
    fn decode(mut bytes: &[u8], width: u8, n: usize) -> Vec<u32> {
        let mut out = Vec::new();
        let uleb = |b: &mut &[u8]| {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let byte = b[0];
                *b = &b[1..];
                v |= u64::from(byte & 0x7f) << shift;
                shift += 7;
                if byte < 0x80 {
                    return v;
                }
            }
        };
        while out.len() < n {
            let header = uleb(&mut bytes);
            if header & 1 == 0 {
                let w = usize::from(width).div_ceil(8);
                let mut v = [0u8; 4];
                v[..w].copy_from_slice(&bytes[..w]);
                bytes = &bytes[w..];
                out.extend(std::iter::repeat_n(
                    u32::from_le_bytes(v),
                    (header >> 1) as usize,
                ));
            } else {
                let count = (header >> 1) as usize * 8;
                let (mut acc, mut bits) = (0u64, 0u32);
                for _ in 0..count {
                    while bits < u32::from(width) {
                        acc |= u64::from(bytes[0]) << bits;
                        bytes = &bytes[1..];
                        bits += 8;
                    }
                    out.push((acc & ((1u64 << width) - 1)) as u32);
                    acc >>= width;
                    bits -= u32::from(width);
                }
            }
        }
        assert!(bytes.is_empty(), "bytes left after {n} values");
        out.truncate(n);
        out
    }

    #[test]
    fn rle_hybrid_round_trips() {
        let cases: Vec<(Vec<u32>, u8)> = vec![
            (vec![1; 1], 1),
            (vec![1; 7], 1),
            (vec![1; 8], 1),
            (vec![1; 100_000], 1),
            ((0..100).map(|i| i % 2).collect(), 1),
            (
                (0..3)
                    .chain(std::iter::repeat_n(5, 20))
                    .chain(0..8)
                    .chain([7])
                    .collect(),
                3,
            ),
            ((0..1000).map(|i| (i / 37) % 300).collect(), 9),
            ((0..1000).map(|i| (i * 7919) % 70_000).collect(), 17),
            (
                vec![u32::MAX; 12]
                    .into_iter()
                    .chain([0, 1, u32::MAX])
                    .collect(),
                32,
            ),
            (
                std::iter::repeat_n(3, 9)
                    .chain([1, 2])
                    .chain(std::iter::repeat_n(3, 8))
                    .collect(),
                2,
            ),
        ];
        for (values, width) in cases {
            let mut out = Vec::new();
            rle_hybrid(&values, width, &mut out);
            assert_eq!(decode(&out, width, values.len()), values, "width {width}");
        }
    }

    #[test]
    fn float_statistics_skip_nan_and_widen_zeros() {
        let bounds = |values: &[f64]| {
            let mut stats = None;
            // In two pages, as a chunk would see them.
            let (a, b) = values.split_at(values.len() / 2);
            f64::observe(a, &mut stats);
            f64::observe(b, &mut stats);
            match f64::statistics(stats, 0) {
                Statistics::Double(s) => (s.min_opt().copied(), s.max_opt().copied()),
                other => panic!("{other:?}"),
            }
        };
        let signs = |b: (Option<f64>, Option<f64>)| {
            b.0.zip(b.1)
                .map(|(lo, hi)| (lo.is_sign_negative(), hi.is_sign_negative()))
        };
        assert_eq!(
            bounds(&[f64::NAN, 3.0, -1.0, f64::NAN]),
            (Some(-1.0), Some(3.0))
        );
        assert_eq!(bounds(&[f64::NAN, f64::NAN]), (None, None));
        assert_eq!(
            signs(bounds(&[0.0, 1.0])),
            Some((true, false)),
            "a zero min is -0.0"
        );
        assert_eq!(
            signs(bounds(&[-2.0, -0.0])),
            Some((true, false)),
            "a zero max is +0.0"
        );
        let many: Vec<f64> = (0..1001)
            .map(|i| ((i * 7919) % 1001) as f64 - 500.0)
            .collect();
        assert_eq!(bounds(&many), (Some(-500.0), Some(500.0)));
    }

    #[test]
    fn long_runs_take_a_few_bytes() {
        let values: Vec<u32> = (0..65_536).map(|i| i / 4096).collect();
        let mut out = Vec::new();
        rle_hybrid(&values, 4, &mut out);
        // 16 runs of (a 2-byte header, a 1-byte value).
        assert_eq!(out.len(), 16 * 3);
    }
}
