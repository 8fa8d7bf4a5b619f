//! Recovery: every WAL segment is read back into the shards before the
//! server accepts traffic, through the same write stage as a request (so the
//! catalog and last-write-wins order come out as they were).
//!
//! Damage is found by checksum. A damaged stretch after which no valid
//! entry starts is a torn tail (a crash mid-flush): it is truncated and
//! logged. A damaged stretch followed by valid entries (found again at the
//! next block boundary, where every flush starts) is skipped and reported
//! loudly with its byte range — never silently.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bumpalo::Bump;

use super::entry::{checksum, decode, HEADER};
use crate::catalog::Catalog;
use crate::persist::{self, Manifest};
use crate::shard::Shard;
use crate::write::{write_points, WriteOptions};

/// Flushes start on boundaries of this many bytes.
pub const BLOCK: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentFile {
    /// The core that wrote it.
    pub core: usize,
    pub number: u64,
    pub path: PathBuf,
}

/// The WAL segments in `dir`, oldest first per core.
pub fn list(dir: &Path) -> std::io::Result<Vec<SegmentFile>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".wal")) else {
            continue;
        };
        let Some((core, number)) = stem.split_once('-') else {
            continue;
        };
        if let (Ok(core), Ok(number)) = (core.parse(), number.parse()) {
            out.push(SegmentFile {
                core,
                number,
                path: entry.path(),
            });
        }
    }
    out.sort_by_key(|s| (s.core, s.number));
    Ok(out)
}

/// What reading one segment's bytes found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Damaged byte ranges skipped with valid entries after them.
    pub skipped: Vec<(usize, usize)>,
    /// Where a damaged tail starts (nothing valid after it).
    pub torn_at: Option<usize>,
}

fn header_at(data: &[u8], at: usize) -> Option<(u32, u32, u64)> {
    let h = data.get(at..at.checked_add(HEADER)?)?;
    Some((
        u32::from_le_bytes(h[0..4].try_into().ok()?),
        u32::from_le_bytes(h[4..8].try_into().ok()?),
        u64::from_le_bytes(h[8..16].try_into().ok()?),
    ))
}

/// The valid entry at `at`, if one starts there: (seq, payload).
fn entry_at(data: &[u8], at: usize) -> Option<(u64, &[u8])> {
    let (len, crc, seq) = header_at(data, at)?;
    if len == 0 {
        return None;
    }
    let start = at + HEADER;
    let payload = data.get(start..start.checked_add(len as usize)?)?;
    (checksum(len, seq, payload) == crc).then_some((seq, payload))
}

/// Walks a segment's bytes, calling `apply(seq, payload)` per valid entry.
pub fn scan(data: &[u8], mut apply: impl FnMut(u64, &[u8])) -> Scan {
    let mut out = Scan::default();
    let mut at = 0;
    while at < data.len() {
        let rest = &data[at..];
        // Zero length: padding to the end of a flush's last block.
        if rest.len() < 4 || rest[..4] == [0; 4] {
            if at % BLOCK != 0 {
                at = (at / BLOCK + 1) * BLOCK;
                continue;
            }
            // Every flush starts with an entry: zeros here end the log.
            if rest.iter().all(|&b| b == 0) {
                break;
            }
        }
        if let Some((seq, payload)) = entry_at(data, at) {
            apply(seq, payload);
            at += HEADER + payload.len();
            continue;
        }
        let next = ((at / BLOCK + 1) * BLOCK..data.len())
            .step_by(BLOCK)
            .find(|&b| entry_at(data, b).is_some());
        match next {
            Some(b) => {
                out.skipped.push((at, b));
                at = b;
            }
            None => {
                out.torn_at = Some(at);
                break;
            }
        }
    }
    out
}

/// What recovery did, for the log and /metrics.
#[derive(Clone, Debug, Default)]
pub struct Recovery {
    /// Parquet files indexed, and the rows in them.
    pub files: usize,
    pub file_rows: u64,
    pub segments: usize,
    pub entries: u64,
    /// Entries already in Parquet files (below their core's watermark).
    pub skipped_entries: u64,
    pub points: u64,
    /// Points the write stage refused on replay (a catalog conflict).
    pub rejected: u64,
    pub max_seq: u64,
    /// The number the next segment of every core gets.
    pub next_segment: u64,
    /// Damage found and what was done about it, one line each.
    pub problems: Vec<String>,
    pub elapsed: Duration,
}

impl Recovery {
    fn add(&mut self, other: Recovery) {
        self.segments += other.segments;
        self.entries += other.entries;
        self.skipped_entries += other.skipped_entries;
        self.points += other.points;
        self.rejected += other.rejected;
        self.max_seq = self.max_seq.max(other.max_seq);
        self.problems.extend(other.problems);
    }
}

/// Replays one segment into `shard`, skipping entries at or below
/// `persisted` (already in Parquet files); truncates a torn tail.
pub fn replay_segment(
    path: &Path,
    catalog: &Catalog,
    shard: &mut Shard,
    persisted: u64,
) -> Recovery {
    let mut out = Recovery {
        segments: 1,
        ..Recovery::default()
    };
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => {
            out.problems
                .push(format!("WAL segment {}: cannot read: {e}", path.display()));
            return out;
        }
    };
    let mut arena = Bump::new();
    let scan = scan(&data, |seq, payload| {
        arena.reset();
        out.max_seq = out.max_seq.max(seq);
        if seq <= persisted {
            out.skipped_entries += 1;
            return;
        }
        match decode(payload, &arena) {
            Ok(entry) => {
                let stored = write_points(
                    catalog,
                    shard,
                    entry.db,
                    &entry.points,
                    WriteOptions::new(0, seq),
                    None,
                );
                out.entries += 1;
                out.points += stored.written as u64;
                out.rejected += stored.rejected.len() as u64;
                if let Some(r) = stored.rejected.first() {
                    out.problems.push(format!(
                        "WAL segment {}: entry {seq}: {} point(s) refused on replay, e.g. {}",
                        path.display(),
                        stored.rejected.len(),
                        r.message
                    ));
                }
            }
            Err(e) => out.problems.push(format!(
                "WAL segment {}: entry {seq} passed its checksum but cannot be read ({e}); skipped",
                path.display()
            )),
        }
    });
    for (from, to) in &scan.skipped {
        out.problems.push(format!(
            "WAL segment {}: bytes {from}..{to} are damaged (checksum mismatch) and were skipped; the entries after them were replayed",
            path.display()
        ));
    }
    if let Some(at) = scan.torn_at {
        let cut = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(at as u64).and_then(|()| f.sync_all()));
        out.problems.push(match cut {
            Ok(()) => format!(
                "WAL segment {}: torn tail at byte {at} ({} bytes, a write cut short by a crash) truncated",
                path.display(),
                data.len() - at
            ),
            Err(e) => format!(
                "WAL segment {}: torn tail at byte {at} ignored (cannot truncate: {e})",
                path.display()
            ),
        });
    }
    out
}

/// WAL segments and the highest write sequence in each.
pub type Segments = Vec<(PathBuf, u64)>;

/// What start-up recovery hands each executor.
pub struct Recovered {
    pub shards: Vec<Shard>,
    /// Per executor: the WAL segments it replayed (path, highest sequence),
    /// deleted once its Parquet files cover them.
    pub segments: Vec<Segments>,
    /// Per executor: the manifests of the cores whose data it took over.
    pub manifests: Vec<std::collections::BTreeMap<usize, Manifest>>,
    pub report: Recovery,
}

/// Indexes the Parquet files every manifest lists (deleting leftovers of
/// interrupted persists), then replays every WAL segment in `wal_dir` on top,
/// one shard per executor (data of core `c` goes to executor
/// `c % executors`, so a change of core count loses nothing), in parallel.
pub fn recover(
    data_dir: &Path,
    wal_dir: &Path,
    executors: usize,
    catalog: &Catalog,
) -> Result<Recovered, String> {
    let started = Instant::now();
    let executors = executors.max(1);
    let mut report = Recovery::default();
    let mut shards: Vec<Shard> = (0..executors).map(|_| Shard::default()).collect();
    let mut manifests: Vec<std::collections::BTreeMap<usize, Manifest>> =
        (0..executors).map(|_| Default::default()).collect();
    let mut watermarks = std::collections::BTreeMap::new();
    let mut listed = std::collections::BTreeSet::new();
    for (core, mut manifest) in persist::load_manifests(data_dir)? {
        watermarks.insert(core, manifest.watermark);
        report.max_seq = report.max_seq.max(manifest.watermark);
        let e = core % executors;
        manifest.files.retain(|file| {
            listed.insert(file.clone());
            match persist::read_meta(data_dir, file) {
                Ok(meta) => {
                    report.files += 1;
                    report.file_rows += meta.rows as u64;
                    shards[e].add_file(meta);
                    true
                }
                Err(err) => {
                    report.problems.push(format!(
                        "{err}: this file's rows are not served (dropped from the manifest of core {core})"
                    ));
                    false
                }
            }
        });
        manifests[e].insert(core, manifest);
    }
    for file in persist::find_files(data_dir) {
        if listed.contains(&file) {
            continue;
        }
        let path = data_dir.join(&file);
        // `<core>-<watermark>[-<part>].parquet` above its core's manifest:
        // written by a persist that never finished (its rows are still in the WAL).
        let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let leftover = name.split_once('-').and_then(|(c, rest)| {
            let w = rest.split_once('-').map_or(rest, |(w, _)| w);
            let (c, w) = (c.parse::<usize>().ok()?, w.parse::<u64>().ok()?);
            Some(w > watermarks.get(&c).copied().unwrap_or(0))
        });
        report.problems.push(if leftover == Some(true) {
            match std::fs::remove_file(&path) {
                Ok(()) => format!(
                    "Parquet file {} is a leftover of an interrupted persist (its rows are in the WAL): deleted",
                    path.display()
                ),
                Err(e) => format!(
                    "Parquet file {} is a leftover of an interrupted persist: cannot delete it: {e}",
                    path.display()
                ),
            }
        } else {
            format!(
                "Parquet file {} is in no manifest: left in place, not served",
                path.display()
            )
        });
    }

    let files = list(wal_dir)
        .map_err(|e| format!("cannot list WAL segments in {}: {e}", wal_dir.display()))?;
    report.next_segment = files.iter().map(|f| f.number + 1).max().unwrap_or(1);
    let watermarks = &watermarks;
    let results: Vec<(Shard, Segments, Recovery)> = std::thread::scope(|scope| {
        let handles: Vec<_> = shards
            .drain(..)
            .enumerate()
            .map(|(e, mut shard)| {
                let mine: Vec<&SegmentFile> =
                    files.iter().filter(|f| f.core % executors == e).collect();
                scope.spawn(move || {
                    let mut report = Recovery::default();
                    let mut kept = Vec::new();
                    for f in mine {
                        let persisted = watermarks.get(&f.core).copied().unwrap_or(0);
                        let r = replay_segment(&f.path, catalog, &mut shard, persisted);
                        if r.entries == 0 && r.max_seq <= persisted && r.problems.is_empty() {
                            // Every entry is in Parquet already.
                            let _ = std::fs::remove_file(&f.path);
                        } else {
                            kept.push((f.path.clone(), r.max_seq));
                        }
                        report.add(r);
                    }
                    (shard, kept, report)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| (Shard::default(), Vec::new(), Recovery::default()))
            })
            .collect()
    });
    let mut segments = Vec::with_capacity(executors);
    for (shard, kept, r) in results {
        report.add(r);
        shards.push(shard);
        segments.push(kept);
    }
    report.elapsed = started.elapsed();
    Ok(Recovered {
        shards,
        segments,
        manifests,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A segment as the flusher writes it: each flush padded to a block.
    fn segment(flushes: &[&[&[u8]]]) -> (Vec<u8>, Vec<u64>) {
        let mut data = Vec::new();
        let mut seqs = Vec::new();
        let mut seq = 0;
        for flush in flushes {
            for payload in *flush {
                seq += 1;
                let len = payload.len() as u32;
                data.extend_from_slice(&len.to_le_bytes());
                data.extend_from_slice(&checksum(len, seq, payload).to_le_bytes());
                data.extend_from_slice(&seq.to_le_bytes());
                data.extend_from_slice(payload);
                seqs.push(seq);
            }
            data.resize(data.len().div_ceil(BLOCK) * BLOCK, 0);
        }
        (data, seqs)
    }

    fn seqs_of(data: &[u8]) -> (Vec<u64>, Scan) {
        let mut seen = Vec::new();
        let scan = scan(data, |seq, _| seen.push(seq));
        (seen, scan)
    }

    #[test]
    fn a_clean_segment_replays_every_entry() {
        let big = vec![7u8; 5000];
        let (data, seqs) = segment(&[&[b"a", b"bb"], &[&big, b"c"], &[b"d"]]);
        assert_eq!(seqs_of(&data), (seqs, Scan::default()));
        assert_eq!(seqs_of(&[]).0, Vec::<u64>::new());
        assert_eq!(seqs_of(&vec![0; 3 * BLOCK]), (vec![], Scan::default()));
    }

    #[test]
    fn a_torn_tail_is_found() {
        let (data, _) = segment(&[&[b"a", b"bb"], &[b"ccc"]]);
        // Cut in the middle of the last entry, as a crash mid-write leaves it.
        let cut = BLOCK + HEADER + 1;
        let (seen, scan) = seqs_of(&data[..cut]);
        assert_eq!(seen, [1, 2]);
        assert_eq!(scan.torn_at, Some(BLOCK));
        // Garbage instead of zeros after the last entry.
        let mut noisy = data.clone();
        noisy[BLOCK + 100] = 1;
        noisy[BLOCK..BLOCK + 4].copy_from_slice(&[9, 9, 9, 9]);
        let (seen, scan) = seqs_of(&noisy);
        assert_eq!((seen, scan.torn_at), (vec![1, 2], Some(BLOCK)));
    }

    #[test]
    fn damage_in_the_middle_is_skipped_and_reported() {
        let (mut data, _) = segment(&[&[b"a", b"bb"], &[b"ccc", b"dddd"], &[b"e"]]);
        // Flip a payload byte of entry 3, the first of the second flush.
        data[BLOCK + HEADER] ^= 0xff;
        let (seen, scan) = seqs_of(&data);
        assert_eq!(seen, [1, 2, 5]);
        assert_eq!(scan.skipped, [(BLOCK, 2 * BLOCK)]);
        assert_eq!(scan.torn_at, None);
    }

    #[test]
    fn segment_names_sort_and_parse() {
        let dir = std::env::temp_dir().join(format!("hydrant-wal-list-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            super::super::segment_name(1, 2),
            super::super::segment_name(0, 10),
            super::super::segment_name(0, 9),
            "notes.txt".into(),
        ] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        let found: Vec<(usize, u64)> = list(&dir)
            .unwrap()
            .iter()
            .map(|s| (s.core, s.number))
            .collect();
        assert_eq!(found, [(0, 9), (0, 10), (1, 2)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
