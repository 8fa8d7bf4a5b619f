//! Each core's persist task: checks its shard's size and age, hands the
//! rows to Parquet on the executor's blocking thread, then swaps them for
//! the files and deletes the WAL segments they cover.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{save_manifest, write_table};
use crate::runtime::Core;

/// How often a core looks at its shard.
const CHECK: Duration = Duration::from_millis(250);
/// How often it drops rows and files past their retention.
const EXPIRE_EVERY: Duration = Duration::from_secs(1);

pub async fn run(core: Rc<Core>) {
    // This core's share of the node's --max-memory.
    let share = core.memory_share();
    let persist_at = core.persist_at();
    let mut last_expire = Instant::now();
    while !core.shutting_down() {
        // A look every CHECK, or sooner when a write passes the threshold.
        let mut registered = false;
        let woken = std::future::poll_fn(|cx| {
            let mut slot = core.persist_waker.borrow_mut();
            if registered && slot.is_none() {
                // A write took the waker to wake this task.
                return std::task::Poll::Ready(());
            }
            *slot = Some(cx.waker().clone());
            registered = true;
            std::task::Poll::Pending
        });
        futures_lite::future::or(glommio::timer::sleep(CHECK), woken).await;
        core.persist_waker.borrow_mut().take();
        if last_expire.elapsed() >= EXPIRE_EVERY {
            last_expire = Instant::now();
            expire(&core);
        }
        let due = {
            let shard = core.shard.borrow();
            // One pass over the batches per tick: the persist trigger and the limit.
            let memory = shard.memory_bytes();
            let held = memory + shard.persisting_bytes();
            let stats = core.stats();
            stats.shard_rows.set(shard.memory_rows() as u64);
            stats.shard_bytes.set(held as u64);
            core.held_bytes.set(held);
            stats.parquet_files.set(shard.file_count() as u64);
            let over = held >= share;
            if over != core.over_memory.get() {
                core.over_memory.set(over);
                if over {
                    log::warn!(
                        core = core.index;
                        "{} MiB of rows not yet persisted (its share of --max-memory): writes get 503 until persisting catches up",
                        share >> 20
                    );
                }
            }
            // Only --store disk writes Parquet (memory keeps rows until retention drops them).
            core.config.store == crate::config::Store::Disk
                && (memory >= persist_at
                    || shard
                        .oldest_unpersisted()
                        .is_some_and(|t| t.elapsed() >= core.config.persist_age))
        };
        if due {
            if let Err(e) = persist(&core).await {
                log::error!(core = core.index; "persist failed (rows stay in memory and the WAL; retried): {e}");
            }
        }
    }
}

/// Drops rows and files past their database's retention.
fn expire(core: &Rc<Core>) {
    let now = crate::retention::now_ns();
    let (rows, files) = core
        .shard
        .borrow_mut()
        .expire(|db| core.retention.cutoff(db, now));
    if files.is_empty() {
        if rows > 0 {
            log::info!(core = core.index, rows; "retention dropped {rows} rows from memory");
        }
        return;
    }
    let dir = &core.config.data_dir;
    let mut manifests = core.manifests.borrow_mut();
    for (writer, manifest) in manifests.iter_mut() {
        let before = manifest.files.len();
        manifest
            .files
            .retain(|p| !files.iter().any(|f| &f.path == p));
        if manifest.files.len() != before {
            if let Err(e) = save_manifest(dir, *writer, manifest) {
                log::error!(core = core.index; "{e}");
            }
        }
    }
    for f in &files {
        if let Err(e) = std::fs::remove_file(dir.join(&f.path)) {
            log::warn!(core = core.index; "cannot delete expired {}: {e}", f.path.display());
        }
    }
    log::info!(
        core = core.index,
        rows,
        files = files.len();
        "retention dropped {rows} rows from memory and {} Parquet files",
        files.len()
    );
}

/// Writes every row this core holds in memory to Parquet; returns the rows written.
pub async fn persist(core: &Rc<Core>) -> Result<usize, String> {
    // Every WAL entry of this core with a sequence at or below this was
    // stored before the take below (a write takes its number and stores it
    // without yielding).
    let watermark = core.writes_begun().saturating_sub(1);
    let taken = core.shard.borrow_mut().take_for_persist();
    if taken.is_empty() {
        return Ok(0);
    }
    core.wal.rotate();
    let index = core.index;
    let data_dir = core.config.data_dir.clone();
    let mut manifest = core
        .manifests
        .borrow()
        .get(&index)
        .cloned()
        .unwrap_or_default();
    let started = Instant::now();
    let result = glommio::executor()
        .spawn_blocking(move || {
            let mut files = Vec::new();
            let mut outcome = Ok(());
            for ((db, table), batches) in &taken {
                match write_table(&data_dir, db, table, batches, index, watermark) {
                    Ok(f) => files.extend(f),
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            if outcome.is_ok() {
                // One sync for every file (and directory) of this persist,
                // before the manifest lists them.
                outcome = crate::files::sync_filesystem(&data_dir)
                    .map_err(|e| format!("cannot sync {}: {e}", data_dir.display()));
            }
            if outcome.is_ok() {
                manifest.watermark = watermark;
                manifest.files.extend(files.iter().map(|f| f.path.clone()));
                outcome = save_manifest(&data_dir, index, &manifest);
            }
            match outcome {
                Ok(()) => Ok((files, manifest)),
                Err(e) => {
                    // Unlisted files would be deleted at start anyway.
                    for f in &files {
                        let _ = std::fs::remove_file(data_dir.join(&f.path));
                    }
                    Err(e)
                }
            }
        })
        .await;
    match result {
        Ok((files, manifest)) => {
            let rows = files.iter().map(|f| f.rows).sum();
            let count = files.len();
            core.shard.borrow_mut().persist_finished(Ok(files));
            core.manifests.borrow_mut().insert(index, manifest);
            let covered = core.wal.take_covered(watermark);
            let (done, room) = (covered.len(), core.wal.spare_room());
            // Off the executor: zeroing a spare or deleting a segment keeps
            // the filesystem busy for milliseconds (see `wal`).
            let spares = glommio::executor()
                .spawn_blocking(move || {
                    let mut spares = Vec::new();
                    for path in covered {
                        if spares.len() < room {
                            if let Ok(spare) = crate::wal::retire(&path) {
                                spares.push(spare);
                                continue;
                            }
                        }
                        if let Err(e) = std::fs::remove_file(&path) {
                            if e.kind() != std::io::ErrorKind::NotFound {
                                log::warn!(core = index; "cannot delete WAL segment {}: {e}", path.display());
                            }
                        }
                    }
                    spares
                })
                .await;
            core.wal.add_spares(spares);
            core.stats().persisted_rows.add(rows as u64);
            core.stats().persisted_files.add(count as u64);
            log::info!(
                core = index,
                rows,
                files = count,
                seconds = format!("{:.3}", started.elapsed().as_secs_f64()),
                wal_segments_retired = done;
                "persisted {rows} rows into {count} Parquet files"
            );
            Ok(rows)
        }
        Err(e) => {
            core.shard.borrow_mut().persist_finished(Err(()));
            Err(e)
        }
    }
}
