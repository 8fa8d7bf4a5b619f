//! The per-core write-ahead log: a request's stored points are appended to
//! this core's pending bytes as one entry (see `entry`), in the same step
//! that stores them in the shard; a flusher task writes the pending bytes to
//! the core's segment file through io_uring, opened O_DIRECT | O_DSYNC: a
//! write completes only once its bytes, and the file size that reaches them,
//! are on stable storage, as a write followed by fdatasync would, in one
//! round trip instead of two.
//!
//! Group commit: entries that arrive while a flush is in progress go into
//! the next one, and one synchronous write serves them all. `--wal-sync`
//! decides when a request is answered: `always` after the flush that covers it,
//! `interval=<dur>` after the next periodic flush that covers it, `none` at
//! once (the periodic flush still runs every second; a crash loses what it
//! had not written yet).
//!
//! Every flush starts on a fresh aligned block (the tail of the last block is
//! zero padding), so acknowledged bytes are never rewritten, and replay can
//! find entry starts again after damage by trying block boundaries. Every
//! flush also writes one whole zero block after its data, which the next
//! flush overwrites: the log always ends in a zero block.
//!
//! Segments are recycled: once Parquet files cover a segment it becomes a
//! spare (zeroed in place and renamed `*.spare`, see [`retire`]), and a new
//! segment takes a spare's file rather than a new one, so no persist deletes
//! a file: on a filesystem mounted with `discard`, unlinking a full segment
//! took ~12 ms of device time, and the WAL writes queued behind the unlinks
//! of each persist (flushes of 4 ms took 15-70). Should a crash leave a
//! spare's old bytes unzeroed, they are still told apart, by the zero block
//! and by their sequences: every one is lower than the new life's (see `replay`).
//!
//! A failed flush (disk full, I/O error) fails the requests it covered; new
//! writes are refused at once while the WAL is failing, and the flusher
//! retries the same bytes every second until they are written.

pub mod entry;
pub mod replay;

use std::cell::{Cell, RefCell, RefMut};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::metrics::{CoreMetrics, Metrics};

use glommio::io::{Directory, DmaFile, OpenOptions};

/// When a write is acknowledged relative to the WAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// After the synchronous write that covers it (group commit).
    Always,
    /// After the next periodic flush (one every interval) that covers it.
    Interval(Duration),
    /// On receipt; flushed in the background every second.
    None,
}

impl SyncMode {
    /// `always`, `none` or `interval=<dur>` (e.g. `interval=100ms`).
    pub fn parse(spec: &str) -> Result<SyncMode, String> {
        let spec = spec.trim();
        match spec {
            "always" => return Ok(SyncMode::Always),
            "none" => return Ok(SyncMode::None),
            _ => {}
        }
        let Some(d) = spec.strip_prefix("interval=") else {
            return Err(format!(
                "--wal-sync {spec:?}: use always, interval=<duration> (e.g. interval=100ms) or none"
            ));
        };
        let d = crate::config::parse_duration(d)?;
        if d.is_zero() {
            return Err("--wal-sync interval must be longer than 0".into());
        }
        Ok(SyncMode::Interval(d))
    }
}

impl std::fmt::Display for SyncMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncMode::Always => f.write_str("always"),
            SyncMode::Interval(d) => write!(f, "interval={}ms", d.as_millis()),
            SyncMode::None => f.write_str("none"),
        }
    }
}

/// Why the WAL could not make writes durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The disk (or quota) is full: answered 507 rather than 500.
    pub storage_full: bool,
    pub message: String,
}

impl Failure {
    fn from_io(what: &str, path: &Path, e: glommio::GlommioError<()>) -> Failure {
        let errno = match &e {
            glommio::GlommioError::IoError(io) => io.raw_os_error(),
            glommio::GlommioError::EnhancedIoError { source, .. } => source.raw_os_error(),
            _ => None,
        };
        Failure {
            storage_full: matches!(errno, Some(libc::ENOSPC) | Some(libc::EDQUOT)),
            message: format!(
                "write not stored durably: cannot {what} WAL segment {}: {}",
                path.display(),
                std::io::Error::from(e)
            ),
        }
    }
}

/// The file name of segment `number` of core `core`.
pub fn segment_name(core: usize, number: u64) -> String {
    format!("{core:03}-{number:010}.wal")
}

/// The name a covered segment's file takes as a spare.
pub fn spare_path(segment: &Path) -> PathBuf {
    segment.with_extension("spare")
}

/// Makes a covered segment a spare: its bytes zeroed in place (the blocks
/// stay allocated; ext4 marks them unwritten, ~2 ms for 64 MiB where an
/// unlink took ~12), then renamed; returns the spare's path. A filesystem
/// that cannot zero a range (tmpfs) gets the segment deleted instead.
pub fn retire(segment: &Path) -> std::io::Result<PathBuf> {
    use std::os::fd::AsRawFd;
    let zeroed = std::fs::OpenOptions::new()
        .write(true)
        .open(segment)
        .and_then(|f| {
            let len = f.metadata()?.len() as libc::off_t;
            // SAFETY: fallocate on the fd of `f`, open for the call.
            let rc = unsafe {
                libc::fallocate(
                    f.as_raw_fd(),
                    libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE,
                    0,
                    len,
                )
            };
            match rc {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    if let Err(e) = zeroed {
        std::fs::remove_file(segment)?;
        return Err(e);
    }
    let spare = spare_path(segment);
    std::fs::rename(segment, &spare)?;
    Ok(spare)
}

struct Segment {
    file: DmaFile,
    path: PathBuf,
    /// Where the next flush starts (always block aligned).
    pos: u64,
    /// The highest write sequence in it.
    max_seq: u64,
}

pub struct Wal {
    dir: PathBuf,
    core: usize,
    mode: SyncMode,
    segment_size: u64,
    pending: RefCell<Vec<u8>>,
    /// The flush the pending bytes will go out in.
    filling: Cell<u64>,
    /// The last flush that finished (written, or failed).
    completed: Cell<u64>,
    /// Recent failed flushes, for their waiters to read.
    failed: RefCell<VecDeque<(u64, Failure)>>,
    /// Set while the last flush failed: new writes are refused.
    failing: RefCell<Option<Failure>>,
    waiters: RefCell<Vec<Waker>>,
    flusher: RefCell<Option<Waker>>,
    next_segment: Cell<u64>,
    stopping: Cell<bool>,
    /// The highest write sequence in the pending bytes.
    pending_max_seq: Cell<u64>,
    /// Bytes of the flush being written (or of a failed one, to retry).
    in_flight: Cell<usize>,
    /// Start a new segment at the next flush (a persist asked).
    rotate: Cell<bool>,
    /// Segments no longer written, with their highest sequence: recycled
    /// once Parquet files cover them.
    closed: RefCell<Vec<(PathBuf, u64)>>,
    /// Files of covered segments, for new segments to take over.
    spares: RefCell<Vec<PathBuf>>,
    max_spares: usize,
    metrics: Arc<Metrics>,
}

/// At most this many spare segment files per core (64 MiB each by default).
const MAX_SPARES: usize = 64;
/// How many failed flushes are remembered for late waiters.
const FAILURES_KEPT: usize = 1024;
/// Pending bytes that start a flush at once in every mode, so the periodic
/// modes never build one huge flush (latency spikes, memory).
const FLUSH_BYTES: usize = 4 << 20;
/// Under `--wal-sync none`, a write that finds more pending than this waits
/// for the flush, as under `always`: the bound on what a crash can lose and
/// on the memory pending bytes take when the disk falls behind.
const NONE_BACKLOG: usize = 64 << 20;

impl Wal {
    /// A WAL for `core` that writes segments into `dir`, numbered from `first_segment`.
    /// `recovered`: segments replayed at start (path, highest sequence);
    /// `spares`: spare files found at start. Spares kept: one persist's
    /// worth of segments (`persist_size`), so a steady load never deletes one.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dir: PathBuf,
        core: usize,
        mode: SyncMode,
        segment_size: u64,
        persist_size: u64,
        first_segment: u64,
        recovered: Vec<(PathBuf, u64)>,
        spares: Vec<PathBuf>,
        metrics: Arc<Metrics>,
    ) -> Rc<Wal> {
        let segment_size = segment_size.max(1 << 20);
        Rc::new(Wal {
            dir,
            core,
            mode,
            segment_size,
            pending: RefCell::new(Vec::with_capacity(1 << 20)),
            filling: Cell::new(1),
            completed: Cell::new(0),
            failed: RefCell::new(VecDeque::new()),
            failing: RefCell::new(None),
            waiters: RefCell::new(Vec::new()),
            flusher: RefCell::new(None),
            next_segment: Cell::new(first_segment),
            stopping: Cell::new(false),
            pending_max_seq: Cell::new(0),
            in_flight: Cell::new(0),
            rotate: Cell::new(false),
            closed: RefCell::new(recovered),
            spares: RefCell::new(spares),
            max_spares: (persist_size.div_ceil(segment_size) as usize + 1).min(MAX_SPARES),
            metrics,
        })
    }

    fn stats(&self) -> &CoreMetrics {
        &self.metrics.cores[self.core]
    }

    pub fn mode(&self) -> SyncMode {
        self.mode
    }

    /// Refuses new writes while the last flush failed.
    pub fn check(&self) -> Result<(), Failure> {
        match &*self.failing.borrow() {
            Some(f) => Err(f.clone()),
            None => Ok(()),
        }
    }

    /// The bytes the next flush writes; an entry is appended here (never
    /// across an await) and then announced with [`Wal::enqueued`].
    pub fn pending(&self) -> RefMut<'_, Vec<u8>> {
        self.pending.borrow_mut()
    }

    /// Notes that the entry of write `seq` was appended; returns the flush to wait for.
    pub fn enqueued(&self, seq: u64) -> u64 {
        self.stats().wal_entries.add(1);
        self.count_unsynced();
        self.pending_max_seq
            .set(self.pending_max_seq.get().max(seq));
        if self.mode == SyncMode::Always || self.pending.borrow().len() >= FLUSH_BYTES {
            if let Some(w) = self.flusher.borrow_mut().take() {
                w.wake();
            }
        }
        self.filling.get()
    }

    /// Waits until flush `batch` is done, as the sync mode asks.
    pub async fn commit(&self, batch: u64) -> Result<(), Failure> {
        let pending = self.pending.borrow().len();
        if self.mode == SyncMode::None && pending < NONE_BACKLOG {
            if pending >= FLUSH_BYTES {
                // The flusher was woken, but busy connections that never
                // wait for it keep their queue running (for up to
                // glommio's 100 ms slice): give it its turn now.
                glommio::executor().yield_task_queue_now().await;
            }
            return Ok(());
        }
        if self.mode == SyncMode::Always && self.in_flight.get() == 0 {
            // No flush is being written, so the flusher is woken (by this
            // write or one just before it) and waiting for its turn: let it
            // start now rather than after every connection on this core
            // whose body is ready has been parsed.
            glommio::executor().yield_task_queue_now().await;
        }
        std::future::poll_fn(|cx| {
            if self.completed.get() >= batch {
                let failed = self.failed.borrow();
                let failure = failed.iter().find(|(b, _)| *b == batch);
                return Poll::Ready(failure.map_or(Ok(()), |(_, f)| Err(f.clone())));
            }
            self.waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Makes the next flush start a new segment, so the current one can be
    /// recycled once a persist covers it.
    pub fn rotate(&self) {
        self.rotate.set(true);
    }

    /// Takes the closed segments whose every entry has a sequence at or
    /// below `watermark` (their rows are in Parquet now); the caller makes
    /// them spares (see [`Wal::spare_room`]) or deletes them.
    pub fn take_covered(&self, watermark: u64) -> Vec<PathBuf> {
        let mut closed = self.closed.borrow_mut();
        let mut out = Vec::new();
        closed.retain(|(path, max)| {
            let covered = *max <= watermark;
            if covered {
                out.push(path.clone());
            }
            !covered
        });
        out
    }

    /// How many more spares this WAL keeps; covered segments past that are deleted.
    pub fn spare_room(&self) -> usize {
        self.max_spares.saturating_sub(self.spares.borrow().len())
    }

    /// Files of covered segments, already renamed to spare names.
    pub fn add_spares(&self, paths: Vec<PathBuf>) {
        self.spares.borrow_mut().extend(paths);
    }

    /// Asks the flusher to write what is pending and stop.
    pub fn stop(&self) {
        self.stopping.set(true);
        if let Some(w) = self.flusher.borrow_mut().take() {
            w.wake();
        }
    }

    /// Resolves when there is something to flush now (or a stop).
    async fn work(&self) {
        std::future::poll_fn(|cx| {
            if self.stopping.get() || !self.pending.borrow().is_empty() {
                return Poll::Ready(());
            }
            *self.flusher.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Resolves after `d`, or earlier on a stop or a full buffer.
    async fn tick(&self, d: Duration) {
        let stop = std::future::poll_fn(|cx| {
            if self.stopping.get() || self.pending.borrow().len() >= FLUSH_BYTES {
                return Poll::Ready(());
            }
            *self.flusher.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        });
        futures_lite::future::or(glommio::timer::sleep(d), stop).await;
    }

    /// The flusher: one per core, until [`Wal::stop`]; writes what is
    /// pending and wakes the requests it covered.
    pub async fn run(self: Rc<Self>) {
        let mut segment: Option<Segment> = None;
        // Bytes of a failed flush: written again, ahead of anything newer.
        let mut retry: Vec<u8> = Vec::new();
        let mut spare: Vec<u8> = Vec::with_capacity(1 << 20);
        let mut retry_max_seq = 0;
        loop {
            let stopping = self.stopping.get();
            if !stopping {
                if self.failing.borrow().is_some() {
                    self.tick(Duration::from_secs(1)).await;
                } else {
                    match self.mode {
                        SyncMode::Always => self.work().await,
                        SyncMode::Interval(d) => self.tick(d).await,
                        SyncMode::None => self.tick(Duration::from_secs(1)).await,
                    }
                }
            }
            spare.clear();
            std::mem::swap(&mut *self.pending.borrow_mut(), &mut spare);
            let max_seq = self.pending_max_seq.replace(0).max(retry_max_seq);
            if !retry.is_empty() {
                retry.extend_from_slice(&spare);
                std::mem::swap(&mut retry, &mut spare);
                retry.clear();
            }
            if spare.is_empty() {
                if stopping {
                    break;
                }
                continue;
            }
            let batch = self.filling.get();
            self.filling.set(batch + 1);
            self.in_flight.set(spare.len());
            let result = self.write(&mut segment, &spare, max_seq).await;
            let failed = result.is_err();
            match result {
                Ok(()) => {
                    self.stats().wal_flushes.add(1);
                    self.stats().wal_bytes.add(spare.len() as u64);
                    if self.failing.borrow_mut().take().is_some() {
                        log::info!(core = self.core; "the WAL writes again");
                    }
                    retry_max_seq = 0;
                }
                Err(failure) => {
                    if self.failing.borrow().is_none() {
                        log::error!(core = self.core; "{}", failure.message);
                    }
                    let mut list = self.failed.borrow_mut();
                    if list.len() == FAILURES_KEPT {
                        list.pop_front();
                    }
                    list.push_back((batch, failure.clone()));
                    *self.failing.borrow_mut() = Some(failure);
                    retry = std::mem::take(&mut spare);
                    retry_max_seq = max_seq;
                }
            }
            self.in_flight.set(retry.len());
            self.count_unsynced();
            self.finish(batch);
            // Stopping with a failing disk: nothing in these bytes was acknowledged.
            if stopping && failed {
                break;
            }
        }
        if let Some(s) = segment {
            let _ = s.file.close().await;
        }
    }

    /// Refreshes the gauge of bytes not yet durable.
    fn count_unsynced(&self) {
        let bytes = self.pending.borrow().len() + self.in_flight.get();
        self.stats().wal_pending_bytes.set(bytes as u64);
    }

    fn finish(&self, batch: u64) {
        self.completed.set(batch);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    async fn open_segment(&self) -> Result<Segment, Failure> {
        let number = self.next_segment.get();
        self.next_segment.set(number + 1);
        let path = self.dir.join(segment_name(self.core, number));
        let spare = self.spares.borrow_mut().pop();
        let recycled = match spare {
            Some(spare) => match std::fs::rename(&spare, &path) {
                Ok(()) => true,
                Err(e) => {
                    log::warn!(core = self.core; "cannot reuse WAL spare {}: {e}", spare.display());
                    let _ = std::fs::remove_file(&spare);
                    false
                }
            },
            None => false,
        };
        // O_DSYNC: each write is durable when it completes (see the module
        // doc); a separate fdatasync cost a second io_uring round trip, run
        // on an io-wq worker, per flush (3-5% more lines/s without it).
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(!recycled)
            .custom_flags(libc::O_DSYNC)
            .dma_open(&path)
            .await
            .map_err(|e| Failure::from_io("create", &path, e))?;
        if recycled {
            // A life with no flush yet must read as empty, not as the
            // old one's first entries.
            let align = file.alignment().max(4096) as usize;
            let mut zero = file.alloc_dma_buffer(align);
            zero.as_bytes_mut().fill(0);
            let written = file
                .write_at(zero, 0)
                .await
                .map_err(|e| Failure::from_io("write", &path, e))?;
            if written != align {
                return Err(Failure {
                    storage_full: true,
                    message: format!(
                        "write not stored durably: short write to WAL segment {}",
                        path.display()
                    ),
                });
            }
        }
        // The new name must survive a power cut too, not just the bytes.
        let dir = Directory::open(&self.dir)
            .await
            .map_err(|e| Failure::from_io("open the directory of", &path, e))?;
        dir.sync()
            .await
            .map_err(|e| Failure::from_io("sync the directory of", &path, e))?;
        let _ = dir.close().await;
        Ok(Segment {
            file,
            path,
            pos: 0,
            max_seq: 0,
        })
    }

    async fn write(
        &self,
        segment: &mut Option<Segment>,
        data: &[u8],
        max_seq: u64,
    ) -> Result<(), Failure> {
        let full = segment.as_ref().is_none_or(|s| {
            s.pos > 0 && (s.pos + data.len() as u64 > self.segment_size || self.rotate.get())
        });
        if full {
            if let Some(old) = segment.take() {
                let _ = old.file.close().await;
                self.closed.borrow_mut().push((old.path, old.max_seq));
            }
            self.rotate.set(false);
            *segment = Some(self.open_segment().await?);
        }
        let s = segment.as_mut().expect("opened above");
        let align = s.file.alignment().max(4096) as usize;
        // One write for the whole flush: one io_uring round trip however
        // big it is (the executor only reaps completions between tasks, and
        // a round trip per 1 MiB piece let a busy core's pending bytes
        // outgrow its flushes), and a crash can only cut it short, never
        // leave a hole before bytes that made it.
        // Then one zero block: the end of the log, which the next flush
        // overwrites (in a recycled file, old bytes follow it).
        let padded = data.len().div_ceil(align) * align;
        let mut buf = s.file.alloc_dma_buffer(padded + align);
        let bytes = buf.as_bytes_mut();
        bytes[..data.len()].copy_from_slice(data);
        bytes[data.len()..].fill(0);
        let written = s
            .file
            .write_at(buf, s.pos)
            .await
            .map_err(|e| Failure::from_io("write", &s.path, e))?;
        if written != padded + align {
            return Err(Failure {
                storage_full: true,
                message: format!(
                    "write not stored durably: short write to WAL segment {} ({written} of {} bytes)",
                    s.path.display(),
                    padded + align
                ),
            });
        }
        s.pos += padded as u64;
        s.max_seq = s.max_seq.max(max_seq);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_modes_parse() {
        assert_eq!(SyncMode::parse("always"), Ok(SyncMode::Always));
        assert_eq!(SyncMode::parse("none"), Ok(SyncMode::None));
        assert_eq!(
            SyncMode::parse("interval=100ms"),
            Ok(SyncMode::Interval(Duration::from_millis(100)))
        );
        assert!(SyncMode::parse("interval=0s").is_err());
        assert!(SyncMode::parse("sometimes").is_err());
    }
}
