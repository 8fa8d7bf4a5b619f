//! Recovery: every WAL segment is read back into the shards before the
//! server accepts traffic, through the same write stage as a request (so the
//! catalog and last-write-wins order come out as they were).
//!
//! Damage is found by checksum. A damaged stretch after which no valid
//! entry starts is a torn tail (a crash mid-flush): it is truncated and
//! logged. A damaged stretch followed by valid entries (found again at the
//! next block boundary, where every flush starts) is skipped and reported
//! loudly with its byte range — never silently.
//!
//! The log ends at a whole zero block (every flush writes one after
//! itself), and only zeros follow it: a recycled segment's earlier life was
//! zeroed when it became a spare. Should a crash have kept that zeroing
//! from reaching the disk, an entry of the earlier life, whole or not,
//! passes for neither a continuation nor a resumption, because its sequence
//! is lower than the last one read and than the persist watermark that
//! retired the file; the old bytes are reported and truncated as a tail.

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

/// The files in `dir` named `<core>-<number>.<extension>`, in that order.
fn numbered(dir: &Path, extension: &str) -> std::io::Result<Vec<SegmentFile>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let parsed = name
            .to_str()
            .and_then(|n| n.strip_suffix(extension)?.strip_suffix('.'))
            .and_then(|stem| stem.split_once('-'))
            .and_then(|(core, number)| Some((core.parse().ok()?, number.parse().ok()?)));
        if let Some((core, number)) = parsed {
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

/// The WAL segments in `dir`, oldest first per core.
pub fn list(dir: &Path) -> std::io::Result<Vec<SegmentFile>> {
    numbered(dir, "wal")
}

/// Spare segment files in `dir` (see `wal`), with the core that retired each.
pub fn spares(dir: &Path) -> std::io::Result<Vec<SegmentFile>> {
    numbered(dir, "spare")
}

/// What reading one segment's bytes found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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

/// The first block boundary after `at` where a valid entry with a sequence
/// above `floor` starts.
fn resume(data: &[u8], at: usize, floor: u64) -> Option<usize> {
    ((at / BLOCK + 1) * BLOCK..data.len())
        .step_by(BLOCK)
        .filter(|&b| header_at(data, b).is_some_and(|(len, _, seq)| len != 0 && seq > floor))
        .find(|&b| entry_at(data, b).is_some())
}

/// Walks a segment's bytes, calling `apply(seq, payload)` per valid entry.
/// `persisted`: the watermark of the segment's core; no earlier life of a
/// recycled file holds a sequence above it.
pub fn scan(data: &[u8], persisted: u64, mut apply: impl FnMut(u64, &[u8])) -> Scan {
    let mut out = Scan::default();
    // Sequences only grow along one life of a segment.
    let mut last = 0;
    let mut at = 0;
    while at < data.len() {
        let rest = &data[at..];
        if rest.len() < 4 || rest[..4] == [0; 4] {
            // Zero length: padding to the end of a flush's last block.
            if at % BLOCK != 0 {
                at = (at / BLOCK + 1) * BLOCK;
                continue;
            }
            // A zero block where a flush would start ends the log, unless
            // newer entries follow (then the zeros are damage).
            if rest[..rest.len().min(BLOCK)].iter().all(|&b| b == 0) {
                match resume(data, at, last.max(persisted)) {
                    Some(b) => {
                        out.skipped.push((at, b));
                        at = b;
                        continue;
                    }
                    None => {
                        // Anything but zeros after the end of the log (spares
                        // are zeroed) is a damaged tail.
                        if rest.iter().any(|&b| b != 0) {
                            out.torn_at = Some(at);
                        }
                        break;
                    }
                }
            }
        }
        if let Some((seq, payload)) = entry_at(data, at).filter(|&(seq, _)| seq > last) {
            last = seq;
            apply(seq, payload);
            at += HEADER + payload.len();
            continue;
        }
        match resume(data, at, last.max(persisted)) {
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
    let scan = scan(&data, persisted, |seq, payload| {
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
    /// Per executor: spare segment files, for its WAL to take over.
    pub spares: Vec<Vec<PathBuf>>,
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
    let results: Vec<(Shard, Segments, Vec<PathBuf>, Recovery)> = std::thread::scope(|scope| {
        let handles: Vec<_> = shards
            .drain(..)
            .enumerate()
            .map(|(e, mut shard)| {
                let mine: Vec<&SegmentFile> =
                    files.iter().filter(|f| f.core % executors == e).collect();
                scope.spawn(move || {
                    let mut report = Recovery::default();
                    let mut kept = Vec::new();
                    let mut retired = Vec::new();
                    for f in mine {
                        let persisted = watermarks.get(&f.core).copied().unwrap_or(0);
                        let r = replay_segment(&f.path, catalog, &mut shard, persisted);
                        if r.entries == 0 && r.max_seq <= persisted && r.problems.is_empty() {
                            // Every entry is in Parquet already: a spare.
                            if let Ok(spare) = super::retire(&f.path) {
                                retired.push(spare);
                            } else {
                                let _ = std::fs::remove_file(&f.path);
                            }
                        } else {
                            kept.push((f.path.clone(), r.max_seq));
                        }
                        report.add(r);
                    }
                    (shard, kept, retired, report)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    (
                        Shard::default(),
                        Vec::new(),
                        Vec::new(),
                        Recovery::default(),
                    )
                })
            })
            .collect()
    });
    let mut segments = Vec::with_capacity(executors);
    let mut spares: Vec<Vec<PathBuf>> = (0..executors).map(|_| Vec::new()).collect();
    for spare in self::spares(wal_dir)
        .map_err(|e| format!("cannot list WAL spares in {}: {e}", wal_dir.display()))?
    {
        spares[spare.core % executors].push(spare.path);
    }
    for ((shard, kept, retired, r), spares) in results.into_iter().zip(&mut spares) {
        report.add(r);
        shards.push(shard);
        segments.push(kept);
        spares.extend(retired);
    }
    report.elapsed = started.elapsed();
    Ok(Recovered {
        shards,
        segments,
        manifests,
        spares,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A segment as the flusher writes it: each flush padded to a block.
    fn segment(flushes: &[&[&[u8]]]) -> (Vec<u8>, Vec<u64>) {
        life(0, flushes)
    }

    /// One life of a segment, its sequences after `first`: each flush
    /// padded to a block, and the zero block after the last.
    fn life(first: u64, flushes: &[&[&[u8]]]) -> (Vec<u8>, Vec<u64>) {
        let (mut data, seqs) = flushes_from(first, flushes);
        data.resize(data.len() + BLOCK, 0);
        (data, seqs)
    }

    fn flushes_from(first: u64, flushes: &[&[&[u8]]]) -> (Vec<u8>, Vec<u64>) {
        let mut data = Vec::new();
        let mut seqs = Vec::new();
        let mut seq = first;
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
        seqs_above(data, 0)
    }

    fn seqs_above(data: &[u8], persisted: u64) -> (Vec<u64>, Scan) {
        let mut seen = Vec::new();
        let scan = scan(data, persisted, |seq, _| seen.push(seq));
        (seen, scan)
    }

    /// `new` written over the start of `old`, as a recycled file holds it.
    fn over(old: &[u8], new: &[u8]) -> Vec<u8> {
        let mut data = old.to_vec();
        data[..new.len()].copy_from_slice(new);
        data
    }

    /// An earlier life: sequences 1..=8 in four flushes of 3 KiB entries.
    fn old_life() -> Vec<u8> {
        let e = vec![5u8; 3000];
        life(0, &[&[&e, &e], &[&e, &e], &[&e, &e], &[&e, &e]]).0
    }

    #[test]
    fn a_recycled_segment_ends_where_its_new_life_does() {
        let old = old_life();
        let (new, seqs) = life(20, &[&[b"a", b"bb"], &[b"ccc"]]);
        // A spare is zeroed before its next life.
        let data = over(&vec![0; old.len()], &new);
        assert_eq!(seqs_above(&data, 8), (seqs.clone(), Scan::default()));
        // Had a crash kept the zeroing from the disk, the old entries would
        // replay nothing: their sequences are below the new life's (and the
        // watermark). They are a tail to cut, not data.
        let data = over(&old, &new);
        let end = Scan {
            skipped: vec![],
            torn_at: Some(new.len() - BLOCK),
        };
        assert_eq!(seqs_above(&data, 8), (seqs.clone(), end.clone()));
        assert_eq!(seqs_above(&data, 0), (seqs, end));
        let unused = over(&old, &[0; BLOCK]);
        let end = Scan {
            skipped: vec![],
            torn_at: Some(0),
        };
        assert_eq!(seqs_above(&unused, 8), (vec![], end));
    }

    #[test]
    fn bytes_after_the_end_of_the_log_are_a_torn_tail() {
        let (mut data, seqs) = segment(&[&[b"a"], &[b"bb"]]);
        let end = data.len() - BLOCK;
        data.extend_from_slice(&[7; 100]);
        assert_eq!(
            seqs_of(&data),
            (
                seqs,
                Scan {
                    skipped: vec![],
                    torn_at: Some(end)
                }
            )
        );
    }

    #[test]
    fn a_torn_flush_over_old_bytes_is_a_torn_tail() {
        let old = old_life();
        let e = vec![9u8; 3000];
        let (whole, seqs) = flushes_from(20, &[&[b"a"], &[&e, &e]]);
        // The second flush cut short mid-entry, its zero block never written.
        let data = over(&old, &whole[..BLOCK + 4000]);
        assert_eq!(
            seqs_above(&data, 8),
            (
                vec![seqs[0], seqs[1]],
                Scan {
                    skipped: vec![],
                    torn_at: Some(BLOCK + 3016)
                }
            )
        );
        // Cut at a block boundary, so an old entry starts right after the
        // new ones: lower sequence, so not a continuation either.
        let e = vec![9u8; BLOCK - HEADER];
        let (whole, seqs) = flushes_from(20, &[&[&e]]);
        let mut old = life(0, &[&[b"x"], &[b"y"], &[b"z"]]).0;
        old.resize(4 * BLOCK, 0);
        let data = over(&old, &whole);
        assert_eq!(
            seqs_above(&data, 3),
            (
                seqs,
                Scan {
                    skipped: vec![],
                    torn_at: Some(BLOCK)
                }
            )
        );
    }

    #[test]
    fn newer_entries_after_a_zero_block_are_damage_not_the_end() {
        let (mut data, _) = segment(&[&[b"a"], &[b"b"], &[b"c"]]);
        data[BLOCK..2 * BLOCK].fill(0);
        let (seen, scan) = seqs_of(&data);
        assert_eq!(seen, [1, 3]);
        assert_eq!(scan.skipped, [(BLOCK, 2 * BLOCK)]);
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
            "001-0000000001.spare".into(),
            "x-1.spare".into(),
            "000-0000000004.wal.spare".into(),
        ] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        let numbers = |files: Vec<SegmentFile>| -> Vec<(usize, u64)> {
            files.iter().map(|s| (s.core, s.number)).collect()
        };
        assert_eq!(numbers(list(&dir).unwrap()), [(0, 9), (0, 10), (1, 2)]);
        let spare = dir.join(super::super::segment_name(1, 1));
        assert_eq!(
            super::super::spare_path(&spare),
            dir.join("001-0000000001.spare")
        );
        assert_eq!(numbers(spares(&dir).unwrap()), [(1, 1)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
