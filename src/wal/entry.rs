//! The WAL's entry format: what one request stored, as validated points,
//! so replay never meets a line that failed to parse or check.
//!
//! ```text
//! entry   = len u32 | crc u32 | seq u64 | payload            (little endian)
//! crc     = crc32(len | seq | payload)
//! payload = version u8 | db str | record*
//! record  = 1 layout:  table str, columns varint, (kind u8, name str)*
//!         | 3 columns: layout varint, points varint, time i64 * points,
//!                      then column by column: value * points
//!         | 2 rows:    layout varint, points varint,
//!                      (time i64, value per column)*   (version 1 only)
//! value   = tag/string: str | float/integer/unsigned: 8 bytes | boolean: u8
//! str     = varint length, UTF-8 bytes
//! ```
//!
//! A run is a stretch of points sharing one layout (table, keys, types), the
//! same unit the shard appends; layouts are numbered per entry. Every point
//! of a run has every column of its layout, so a run has no nulls. Version 2
//! writes runs column by column, so times and fixed-width values are copied
//! in one piece from the shard's builders, which just took them; version 1
//! (row by row) is still read.

use bumpalo::Bump;

use crate::catalog::{Column, ColumnKind, FieldType};
use crate::lp::{Field, FieldValue, Point, Tag};
use crate::shard::TableShard;

pub const HEADER: usize = 16;
const VERSION: u8 = 2;
/// Entries of the first format (runs row by row) are still replayed.
const VERSION_ROWS: u8 = 1;
const LAYOUT: u8 = 1;
const ROWS: u8 = 2;
const COLUMNS: u8 = 3;

/// The checksum of an entry's header fields and payload.
pub fn checksum(len: u32, seq: u64, payload: &[u8]) -> u32 {
    let mut crc = libdeflater::Crc::new();
    crc.update(&len.to_le_bytes());
    crc.update(&seq.to_le_bytes());
    crc.update(payload);
    crc.sum()
}

fn kind_code(kind: ColumnKind) -> u8 {
    match kind {
        ColumnKind::Tag => 0,
        ColumnKind::Field(FieldType::Float) => 1,
        ColumnKind::Field(FieldType::Integer) => 2,
        ColumnKind::Field(FieldType::Unsigned) => 3,
        ColumnKind::Field(FieldType::String) => 4,
        ColumnKind::Field(FieldType::Boolean) => 5,
    }
}

fn kind_of_code(code: u8) -> Option<ColumnKind> {
    Some(match code {
        0 => ColumnKind::Tag,
        1 => ColumnKind::Field(FieldType::Float),
        2 => ColumnKind::Field(FieldType::Integer),
        3 => ColumnKind::Field(FieldType::Unsigned),
        4 => ColumnKind::Field(FieldType::String),
        5 => ColumnKind::Field(FieldType::Boolean),
        _ => return None,
    })
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_varint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// A fixed-width value's bytes as a run stores them; `None` for a string
/// or a boolean.
fn fixed_bytes(value: &FieldValue<'_>) -> Option<[u8; 8]> {
    match *value {
        FieldValue::Float(x) => Some(x.to_le_bytes()),
        FieldValue::Integer(x) => Some(x.to_le_bytes()),
        FieldValue::Unsigned(x) => Some(x.to_le_bytes()),
        FieldValue::String(_) | FieldValue::Boolean(_) => None,
    }
}

/// Writes one entry into the WAL's pending bytes while a request is stored.
pub struct EntryWriter<'b> {
    buf: &'b mut Vec<u8>,
    start: usize,
    seq: u64,
    /// Per write-stage layout id (small and dense), its index among the
    /// layouts this entry defined so far, or `u32::MAX`.
    index_of: Vec<u32>,
    layouts: u32,
}

impl<'b> EntryWriter<'b> {
    pub fn begin(buf: &'b mut Vec<u8>, seq: u64, db: &str) -> Self {
        let start = buf.len();
        buf.extend_from_slice(&[0; HEADER]);
        buf.push(VERSION);
        put_str(buf, db);
        EntryWriter {
            buf,
            start,
            seq,
            index_of: Vec::new(),
            layouts: 0,
        }
    }

    /// Records a run of points with one layout; `layout` is the write
    /// stage's id for it, `columns` its tags' then its fields' columns, and
    /// `stored` the table the run was just appended to (not yet sealed): its
    /// builders' tails hold the run's times and fixed-width values.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &mut self,
        layout: u32,
        table: &str,
        columns: &[Column],
        names: &[std::sync::Arc<str>],
        points: &[&Point<'_>],
        default_time: i64,
        stored: &TableShard,
    ) {
        let buf = &mut *self.buf;
        let id = layout as usize;
        if id >= self.index_of.len() {
            self.index_of.resize(id + 1, u32::MAX);
        }
        let index = match self.index_of[id] {
            u32::MAX => {
                buf.push(LAYOUT);
                put_str(buf, table);
                put_varint(buf, columns.len() as u64);
                for c in columns {
                    buf.push(kind_code(c.kind));
                    put_str(buf, &names[c.id as usize]);
                }
                self.index_of[id] = self.layouts;
                self.layouts += 1;
                self.layouts - 1
            }
            i => i,
        };
        let n = points.len();
        buf.push(COLUMNS);
        put_varint(buf, index as u64);
        put_varint(buf, n as u64);
        buf.reserve(n * 8 * (1 + columns.len()));
        match stored.time_tail(n).filter(|t| t.len() == n * 8) {
            Some(times) => buf.extend_from_slice(times),
            None => {
                for p in points {
                    buf.extend_from_slice(&p.timestamp.unwrap_or(default_time).to_le_bytes());
                }
            }
        }
        let tags = columns
            .iter()
            .take_while(|c| c.kind == ColumnKind::Tag)
            .count();
        for (j, c) in columns.iter().enumerate() {
            if j < tags {
                for p in points {
                    put_str(buf, p.tags[j].value);
                }
                continue;
            }
            let f = j - tags;
            if let Some(values) = stored.fixed_tail(c.id, n).filter(|v| v.len() == n * 8) {
                debug_assert!(points
                    .iter()
                    .enumerate()
                    .all(|(i, p)| fixed_bytes(&p.fields[f].value)
                        .is_some_and(|b| b == values[i * 8..i * 8 + 8])));
                buf.extend_from_slice(values);
                continue;
            }
            // The write stage checked each value's type against its column.
            for p in points {
                match p.fields[f].value {
                    FieldValue::String(s) => put_str(buf, s),
                    FieldValue::Boolean(b) => buf.push(b as u8),
                    ref fixed => buf.extend_from_slice(&fixed_bytes(fixed).unwrap_or_default()),
                }
            }
        }
    }

    /// Seals the entry with its length and checksum; an entry without runs
    /// is taken back out. Returns whether an entry was written.
    pub fn finish(self) -> bool {
        if self.layouts == 0 {
            self.buf.truncate(self.start);
            return false;
        }
        let payload_start = self.start + HEADER;
        let len = (self.buf.len() - payload_start) as u32;
        let crc = checksum(len, self.seq, &self.buf[payload_start..]);
        let header = &mut self.buf[self.start..payload_start];
        header[0..4].copy_from_slice(&len.to_le_bytes());
        header[4..8].copy_from_slice(&crc.to_le_bytes());
        header[8..16].copy_from_slice(&self.seq.to_le_bytes());
        true
    }
}

/// One decoded entry: its database and points (strings borrow the payload).
pub struct Decoded<'a> {
    pub db: &'a str,
    pub points: Vec<Point<'a>>,
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| format!("entry ends early at byte {}", self.at))?;
        let out = &self.data[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.bytes(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.bytes(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(format!("bad varint at byte {}", self.at))
    }

    fn len(&mut self) -> Result<usize, String> {
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.data.len() - self.at)
            .ok_or_else(|| format!("length {n} past the entry's end at byte {}", self.at))
    }

    fn value(&mut self, kind: FieldType) -> Result<FieldValue<'a>, String> {
        Ok(match kind {
            FieldType::Float => FieldValue::Float(f64::from_bits(self.u64()?)),
            FieldType::Integer => FieldValue::Integer(self.u64()? as i64),
            FieldType::Unsigned => FieldValue::Unsigned(self.u64()?),
            FieldType::String => FieldValue::String(self.str()?),
            FieldType::Boolean => FieldValue::Boolean(self.u8()? != 0),
        })
    }

    fn str(&mut self) -> Result<&'a str, String> {
        let n = self.len()?;
        let at = self.at;
        simdutf8::basic::from_utf8(self.bytes(n)?)
            .map_err(|_| format!("invalid UTF-8 at byte {at}"))
    }
}

struct DecodedLayout<'a> {
    table: &'a str,
    tags: Vec<&'a str>,
    fields: Vec<(&'a str, FieldType)>,
}

/// Decodes a checked payload into points (slices in `arena`). An error
/// means the payload is not one this version wrote.
pub fn decode<'a>(payload: &'a [u8], arena: &'a Bump) -> Result<Decoded<'a>, String> {
    let mut r = Reader {
        data: payload,
        at: 0,
    };
    let version = r.u8()?;
    if version != VERSION && version != VERSION_ROWS {
        return Err(format!("unknown entry version {version}"));
    }
    let db = r.str()?;
    let mut layouts: Vec<DecodedLayout<'a>> = Vec::new();
    let mut points = Vec::new();
    while r.at < payload.len() {
        match r.u8()? {
            LAYOUT => {
                let table = r.str()?;
                let n = r.len()?;
                let mut layout = DecodedLayout {
                    table,
                    tags: Vec::new(),
                    fields: Vec::new(),
                };
                for _ in 0..n {
                    let kind = r.u8()?;
                    let name = r.str()?;
                    match kind_of_code(kind) {
                        Some(ColumnKind::Tag) => layout.tags.push(name),
                        Some(ColumnKind::Field(t)) => layout.fields.push((name, t)),
                        None => return Err(format!("unknown column kind {kind}")),
                    }
                }
                layouts.push(layout);
            }
            ROWS if version == VERSION_ROWS => {
                let layout = run_layout(&mut r, &layouts)?;
                let n = r.len()?;
                points.reserve(n);
                for _ in 0..n {
                    let time = r.u64()? as i64;
                    let mut tags =
                        bumpalo::collections::Vec::with_capacity_in(layout.tags.len(), arena);
                    for key in &layout.tags {
                        tags.push(Tag {
                            key,
                            value: r.str()?,
                        });
                    }
                    let mut fields =
                        bumpalo::collections::Vec::with_capacity_in(layout.fields.len(), arena);
                    for &(key, kind) in &layout.fields {
                        fields.push(Field {
                            key,
                            value: r.value(kind)?,
                        });
                    }
                    points.push(Point {
                        measurement: layout.table,
                        tags: tags.into_bump_slice(),
                        fields: fields.into_bump_slice(),
                        timestamp: Some(time),
                        line: points.len() + 1,
                    });
                }
            }
            COLUMNS if version == VERSION => {
                let layout = run_layout(&mut r, &layouts)?;
                // A count the rest of the entry cannot hold is damage, not
                // an allocation to attempt.
                let n = r.len()?;
                let times = r.bytes(n.checked_mul(8).ok_or("run too long")?)?;
                let (t, f) = (layout.tags.len(), layout.fields.len());
                // Every value takes at least a byte.
                if n.saturating_mul(t + f) > payload.len() - r.at {
                    return Err(format!("run of {n} points past the entry's end"));
                }
                let empty_tag = Tag { key: "", value: "" };
                let tags = arena.alloc_slice_fill_copy(n * t, empty_tag);
                for (j, key) in layout.tags.iter().enumerate() {
                    for i in 0..n {
                        tags[i * t + j] = Tag {
                            key,
                            value: r.str()?,
                        };
                    }
                }
                let empty_field = Field {
                    key: "",
                    value: FieldValue::Boolean(false),
                };
                let fields = arena.alloc_slice_fill_copy(n * f, empty_field);
                for (j, &(key, kind)) in layout.fields.iter().enumerate() {
                    for i in 0..n {
                        fields[i * f + j] = Field {
                            key,
                            value: r.value(kind)?,
                        };
                    }
                }
                let (tags, fields): (&'a [Tag<'a>], &'a [Field<'a>]) = (tags, fields);
                points.reserve(n);
                for (i, time) in times.chunks_exact(8).enumerate() {
                    points.push(Point {
                        measurement: layout.table,
                        tags: &tags[i * t..(i + 1) * t],
                        fields: &fields[i * f..(i + 1) * f],
                        timestamp: Some(i64::from_le_bytes(time.try_into().expect("8 bytes"))),
                        line: points.len() + 1,
                    });
                }
            }
            other => {
                return Err(format!(
                    "unknown record type {other} in a version {version} entry"
                ))
            }
        }
    }
    Ok(Decoded { db, points })
}

/// The layout a run record names.
fn run_layout<'l, 'a>(
    r: &mut Reader<'a>,
    layouts: &'l [DecodedLayout<'a>],
) -> Result<&'l DecodedLayout<'a>, String> {
    let index = r.varint()? as usize;
    layouts
        .get(index)
        .ok_or_else(|| format!("run refers to undefined layout {index}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::lp::{parse, Precision};
    use crate::shard::Shard;
    use crate::write::{write_points, WriteOptions};

    /// Stores `body` with a WAL entry, and returns the entry's bytes.
    fn entry_of(body: &str) -> Vec<u8> {
        let arena = Bump::new();
        let parsed = parse(body.as_bytes(), Precision::Nanosecond, &arena).unwrap();
        let (catalog, mut shard) = (Catalog::default(), Shard::default());
        let mut wal = Vec::new();
        write_points(
            &catalog,
            &mut shard,
            "db",
            &parsed.points,
            WriteOptions::new(99, 7),
            Some(&mut wal),
        );
        wal
    }

    /// Each point as `measurement [tags] [fields] time`.
    fn described(points: &[Point<'_>]) -> Vec<String> {
        points
            .iter()
            .map(|p| {
                let tags: Vec<String> = p
                    .tags
                    .iter()
                    .map(|t| format!("{}={}", t.key, t.value))
                    .collect();
                let fields: Vec<String> = p
                    .fields
                    .iter()
                    .map(|f| format!("{}={:?}", f.key, f.value))
                    .collect();
                format!(
                    "{} {:?} {:?} {:?}",
                    p.measurement, tags, fields, p.timestamp
                )
            })
            .collect()
    }

    /// The payload of a version 1 entry (runs row by row), as an earlier
    /// build wrote it for `m,host=a,dc=x f=1.5,i=-2i,u=3u,s="hi",b=true 10`,
    /// `m,host=b,dc=x f=2.5,i=4i,u=5u,s="",b=false 20`, `n v=1 30` and
    /// `m,host=c,dc=y f=3.5,i=6i,u=7u,s="x y",b=true` (arriving at 99).
    const VERSION_1_PAYLOAD: &[u8] = &[
        0x01, 0x02, 0x64, 0x62, 0x01, 0x01, 0x6d, 0x07, 0x00, 0x04, 0x68, 0x6f, 0x73, 0x74, 0x00,
        0x02, 0x64, 0x63, 0x01, 0x01, 0x66, 0x02, 0x01, 0x69, 0x03, 0x01, 0x75, 0x04, 0x01, 0x73,
        0x05, 0x01, 0x62, 0x02, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x61, 0x01, 0x78, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f, 0xfe, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x68, 0x69,
        0x01, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x62, 0x01, 0x78, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x04, 0x40, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x6e, 0x01, 0x01, 0x01,
        0x76, 0x02, 0x01, 0x01, 0x1e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0xf0, 0x3f, 0x02, 0x00, 0x01, 0x63, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x63, 0x01, 0x79, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x40, 0x06, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
        0x78, 0x20, 0x79, 0x01,
    ];

    #[test]
    fn version_1_entries_still_decode() {
        let arena = Bump::new();
        let decoded = decode(VERSION_1_PAYLOAD, &arena).unwrap();
        assert_eq!(decoded.db, "db");
        assert_eq!(
            described(&decoded.points),
            [
                r#"m ["host=a", "dc=x"] ["f=Float(1.5)", "i=Integer(-2)", "u=Unsigned(3)", "s=String(\"hi\")", "b=Boolean(true)"] Some(10)"#,
                r#"m ["host=b", "dc=x"] ["f=Float(2.5)", "i=Integer(4)", "u=Unsigned(5)", "s=String(\"\")", "b=Boolean(false)"] Some(20)"#,
                r#"n [] ["v=Float(1.0)"] Some(30)"#,
                r#"m ["host=c", "dc=y"] ["f=Float(3.5)", "i=Integer(6)", "u=Unsigned(7)", "s=String(\"x y\")", "b=Boolean(true)"] Some(99)"#,
            ]
        );
        // A version 1 entry holds only row runs, a version 2 one only column runs.
        let mut mixed = VERSION_1_PAYLOAD.to_vec();
        mixed[0] = VERSION;
        assert!(decode(&mixed, &arena).is_err());
    }

    /// Column runs copy times and fixed-width values from the shard's
    /// builders: right whatever the builders held before (rows of other
    /// layouts, nulls of sparse columns, a batch sealed between requests).
    #[test]
    fn column_runs_hold_each_runs_own_values_whatever_the_builders_held() {
        let (catalog, mut shard) = (Catalog::default(), Shard::default());
        // m's batch is sealed after the second request.
        shard.seal_rows = 4;
        let bodies = [
            "m,h=a f=1,g=2i 1\nm,h=b f=3 2\nn v=5u 3\n",
            "m,h=a g=7i,f=8 4\nm,h=c f=9,g=10i,u=11u,b=true 5\nm,h=c f=12 6\nn v=13u,f=14\nn v=15u 7\n",
            "m,h=d u=16u 8\nm,h=d u=17u 9\nm,h=e f=18,g=19i,u=20u,s=\"t\" 10\n",
        ];
        for (k, body) in bodies.iter().enumerate() {
            let arena = Bump::new();
            let parsed = parse(body.as_bytes(), Precision::Nanosecond, &arena).unwrap();
            let mut wal = Vec::new();
            let out = write_points(
                &catalog,
                &mut shard,
                "db",
                &parsed.points,
                WriteOptions::new(99, k as u64 + 1),
                Some(&mut wal),
            );
            assert_eq!(out.written, parsed.points.len(), "{body}");
            let decoded = decode(&wal[HEADER..], &arena).unwrap();
            let sent: Vec<Point<'_>> = parsed
                .points
                .iter()
                .map(|p| Point {
                    timestamp: Some(p.timestamp.unwrap_or(99)),
                    ..*p
                })
                .collect();
            assert_eq!(described(&decoded.points), described(&sent), "{body}");
        }
    }

    #[test]
    fn entries_round_trip_the_accepted_points() {
        let body = "m,h=a,r=x f=1.5,i=-2i,u=3u,s=\"é \\\"q\\\"\",b=true 10\n\
                    m,h=b f=2 20\n\
                    m,h=c f=3i 30\n\
                    n s=\"\" \n\
                    m,h=a,r=x f=4,i=5i,u=6u,s=\"z\",b=false 40";
        let wal = entry_of(body);
        let len = u32::from_le_bytes(wal[0..4].try_into().unwrap());
        let crc = u32::from_le_bytes(wal[4..8].try_into().unwrap());
        let seq = u64::from_le_bytes(wal[8..16].try_into().unwrap());
        assert_eq!((len as usize + HEADER, seq), (wal.len(), 7));
        assert_eq!(crc, checksum(len, seq, &wal[HEADER..]));
        let arena = Bump::new();
        let decoded = decode(&wal[HEADER..], &arena).unwrap();
        assert_eq!(decoded.db, "db");
        // Line 3 broke the float type of f: it is not in the entry.
        assert_eq!(
            described(&decoded.points),
            [
                r#"m ["h=a", "r=x"] ["f=Float(1.5)", "i=Integer(-2)", "u=Unsigned(3)", "s=String(\"é \\\"q\\\"\")", "b=Boolean(true)"] Some(10)"#,
                r#"m ["h=b"] ["f=Float(2.0)"] Some(20)"#,
                r#"n [] ["s=String(\"\")"] Some(99)"#,
                r#"m ["h=a", "r=x"] ["f=Float(4.0)", "i=Integer(5)", "u=Unsigned(6)", "s=String(\"z\")", "b=Boolean(false)"] Some(40)"#,
            ]
        );
    }

    #[test]
    fn a_request_that_stores_nothing_leaves_no_entry() {
        assert!(entry_of("m f=1 1\n").len() > HEADER);
        let arena = Bump::new();
        let parsed = parse(b"m f=1i 1", Precision::Nanosecond, &arena).unwrap();
        let (catalog, mut shard) = (Catalog::default(), Shard::default());
        let mut wal = Vec::new();
        write_points(
            &catalog,
            &mut shard,
            "db",
            &[],
            WriteOptions::new(0, 1),
            Some(&mut wal),
        );
        assert!(wal.is_empty());
        catalog.add_columns(
            "db",
            "m",
            &[crate::catalog::ColumnRequest {
                name: "f".into(),
                kind: ColumnKind::Field(FieldType::Float),
            }],
        );
        write_points(
            &catalog,
            &mut shard,
            "db",
            &parsed.points,
            WriteOptions::new(0, 1),
            Some(&mut wal),
        );
        assert!(wal.is_empty(), "a rejected point writes no entry");
    }

    #[test]
    fn damaged_payloads_are_errors_not_panics() {
        let wal = entry_of("m,h=a f=1,s=\"x\" 1\nn g=2i 2");
        let payload = &wal[HEADER..];
        for cut in 0..payload.len() {
            let arena = Bump::new();
            let _ = decode(&payload[..cut], &arena);
        }
        for at in 0..payload.len() {
            let mut bad = payload.to_vec();
            bad[at] ^= 0xff;
            let arena = Bump::new();
            let _ = decode(&bad, &arena);
        }
    }
}
