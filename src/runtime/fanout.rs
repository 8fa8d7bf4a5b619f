//! Asking every core: requests travel a glommio channel mesh to each peer's
//! shard and answers come back on a second mesh, so no core ever touches
//! another's data. The local core answers directly.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use arrow_array::RecordBatch;
use glommio::channels::channel_mesh::{FullMesh, MeshBuilder, Receivers, Senders};
use glommio::channels::local_channel::{self, LocalSender};
use hashbrown::HashMap;

use super::Core;

/// What one core can be asked.
#[derive(Clone, Debug)]
pub enum Ask {
    /// Every row of each table, as batches (Parquet files only where they
    /// meet its time range, read for its columns): one round trip and one
    /// blocking read per core for all the tables a request needs.
    Snapshot(Arc<Vec<crate::query::Needed>>),
    /// How many rows the core holds (all tables, before merging).
    Rows,
    /// What the core holds of each table.
    Tables,
    /// Every tag value of each (database, table), per tag key.
    TagValues(Arc<Vec<(String, String)>>),
    /// A columnar aggregate over this core's batches of the plan's table.
    Partial(Arc<crate::query::fast::Plan>),
}

#[derive(Debug)]
pub enum Answer {
    /// Per table asked, in order: its batches, or why a Parquet file could not be read.
    Batches(Vec<Result<Vec<RecordBatch>, String>>),
    Rows(usize),
    Tables(Vec<crate::shard::TableStat>),
    /// Per table asked, in order: this core's parts of its tag index.
    TagValues(Vec<Vec<Arc<crate::shard::TagIndex>>>),
    Partial(crate::query::fast::Partial),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_indexes_merge_as_sorted_unions() {
        let s = |v: &[&str]| v.iter().map(|x| Arc::from(*x)).collect::<Vec<Arc<str>>>();
        let a = vec![
            (Arc::from("dc"), s(&["x"])),
            (Arc::from("host"), s(&["a", "c"])),
        ];
        let b = vec![
            (Arc::from("host"), s(&["b", "c", "d"])),
            (Arc::from("rack"), s(&["1"])),
        ];
        let m = merge_tag_indexes(&a, &b);
        assert_eq!(
            m,
            vec![
                (Arc::from("dc"), s(&["x"])),
                (Arc::from("host"), s(&["a", "b", "c", "d"])),
                (Arc::from("rack"), s(&["1"])),
            ]
        );
    }
}

#[derive(Debug)]
pub struct Envelope<T> {
    id: u64,
    from: usize,
    body: T,
}

/// The two meshes, shared by all executors before they start.
#[derive(Clone)]
pub struct Meshes {
    asks: FullMesh<Envelope<Ask>>,
    answers: FullMesh<Envelope<Answer>>,
}

impl Meshes {
    pub fn new(peers: usize) -> Self {
        Meshes {
            asks: MeshBuilder::full(peers, 64),
            answers: MeshBuilder::full(peers, 64),
        }
    }
}

/// One core's end of the meshes.
pub struct Fanout {
    peer_id: usize,
    peers: usize,
    asks: Senders<Envelope<Ask>>,
    answers: Senders<Envelope<Answer>>,
    pending: RefCell<HashMap<u64, LocalSender<Answer>>>,
    next_id: Cell<u64>,
    /// Per table: the tag index and the write count it was taken at; while
    /// no write has begun since, it is answered without asking the cores.
    tag_cache: RefCell<HashMap<(String, String), TagsAt>>,
    /// The last answer of `tables` and when it was taken: status pages
    /// poll, and every open one would otherwise ask every core each time.
    tables_cache: RefCell<Option<(std::time::Instant, Rc<Vec<crate::shard::TableStat>>)>>,
}

/// Union of two tag indexes (both sorted by key, then value).
type TagKeys = Vec<(Arc<str>, Vec<Arc<str>>)>;

/// A table's merged tag index and the write count it was taken at.
type TagsAt = (u64, Arc<crate::shard::TagIndex>);

/// Merges two slices sorted by `key`; an element in both becomes `both(x, y)`.
fn merge_sorted<T: Clone, K: Ord>(
    a: &[T],
    b: &[T],
    key: impl Fn(&T) -> &K,
    both: impl Fn(&T, &T) -> T,
) -> Vec<T> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match key(&a[i]).cmp(key(&b[j])) {
            std::cmp::Ordering::Less => {
                out.push(a[i].clone());
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j].clone());
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(both(&a[i], &b[j]));
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// One table's tag index from the parts the cores hold.
fn merge_parts(mut parts: Vec<Arc<crate::shard::TagIndex>>) -> Arc<crate::shard::TagIndex> {
    match parts.len() {
        0 => Arc::new(crate::shard::TagIndex::default()),
        // One core holds the table: its (cached) answer as is.
        1 => parts.pop().expect("one part"),
        _ => {
            let mut merged = parts[0].keys.clone();
            for part in &parts[1..] {
                merged = merge_tag_indexes(&merged, &part.keys);
            }
            Arc::new(crate::shard::TagIndex::new(merged))
        }
    }
}

fn merge_tag_indexes(a: &TagKeys, b: &TagKeys) -> TagKeys {
    merge_sorted(
        a,
        b,
        |(k, _)| k,
        |(k, x), (_, y)| (k.clone(), merge_sorted(x, y, |v| v, |v, _| v.clone())),
    )
}

/// Each table's rows on this core: in memory, and in the Parquet files
/// that meet its range (all read in one job on the executor's blocking
/// thread, only the fields its `columns` names; memory's batches are
/// shared whole, at no cost).
async fn tables_rows(
    core: &Core,
    tables: &[crate::query::Needed],
) -> Vec<Result<Vec<RecordBatch>, String>> {
    let mut out = Vec::with_capacity(tables.len());
    let mut reads = Vec::new();
    {
        let mut shard = core.shard.borrow_mut();
        for (i, t) in tables.iter().enumerate() {
            out.push(Ok(shard.snapshot(&t.db, &t.table)));
            let files = shard.files(&t.db, &t.table, t.range.min, t.range.max);
            if !files.is_empty() {
                reads.push((i, files, t.columns.clone()));
            }
        }
    }
    if reads.is_empty() {
        return out;
    }
    let dir = core.config.data_dir.clone();
    let read = glommio::executor()
        .spawn_blocking(move || {
            let read_all = |files: &[Arc<crate::persist::FileMeta>],
                            columns: &crate::persist::Columns| {
                let mut batches = Vec::new();
                for f in files {
                    batches.extend(crate::persist::read_rows(&dir, f, columns)?);
                }
                Ok::<_, String>(batches)
            };
            reads
                .into_iter()
                .map(|(i, files, columns)| (i, read_all(&files, &columns)))
                .collect::<Vec<_>>()
        })
        .await;
    for (i, result) in read {
        absorb(&mut out[i], result);
    }
    out
}

/// Adds `more` of a table's rows to what `held` has; the first error stays.
fn absorb(held: &mut Result<Vec<RecordBatch>, String>, more: Result<Vec<RecordBatch>, String>) {
    match (more, &mut *held) {
        (Ok(batches), Ok(rows)) => rows.extend(batches),
        (Err(e), Ok(_)) => *held = Err(e),
        (_, Err(_)) => {}
    }
}

/// [`tables_rows`] of one table.
async fn table_rows(core: &Core, table: crate::query::Needed) -> Result<Vec<RecordBatch>, String> {
    let mut rows = tables_rows(core, std::slice::from_ref(&table)).await;
    rows.pop().unwrap_or(Ok(Vec::new()))
}

/// Answers `ask` from this core's own shard; a large scan runs on the
/// executor's blocking thread (same CPU) so the core keeps taking writes.
async fn answer(core: &Core, ask: &Ask) -> Answer {
    match ask {
        Ask::Snapshot(tables) => Answer::Batches(tables_rows(core, tables).await),
        Ask::Rows => Answer::Rows(core.shard.borrow().rows()),
        Ask::Tables => Answer::Tables(core.shard.borrow().table_stats()),
        Ask::TagValues(tables) => {
            let mut shard = core.shard.borrow_mut();
            Answer::TagValues(tables.iter().map(|(d, t)| shard.tag_values(d, t)).collect())
        }
        Ask::Partial(plan) => {
            let (min, max) = plan.time_span();
            let table = crate::query::Needed {
                db: plan.db.clone(),
                table: plan.table().to_string(),
                range: crate::query::condition::TimeRange { min, max },
                columns: plan.columns(),
            };
            let batches = match table_rows(core, table).await {
                Ok(b) => b,
                Err(e) => return Answer::Partial(crate::query::fast::Partial::failed(e)),
            };
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            let partial = if rows > crate::query::OFFLOAD_ROWS {
                let plan = plan.clone();
                glommio::executor()
                    .spawn_blocking(move || crate::query::fast::partial(&plan, &batches))
                    .await
            } else {
                crate::query::fast::partial(plan, &batches)
            };
            Answer::Partial(partial)
        }
    }
}

impl Fanout {
    /// Joins both meshes (waits for every peer) and starts this core's
    /// answering tasks.
    pub async fn join(meshes: Meshes, core: Rc<Core>) -> Rc<Fanout> {
        let (ask_tx, ask_rx): (_, Receivers<Envelope<Ask>>) =
            meshes.asks.join().await.expect("join the ask mesh");
        let (answer_tx, answer_rx): (_, Receivers<Envelope<Answer>>) =
            meshes.answers.join().await.expect("join the answer mesh");
        let fanout = Rc::new(Fanout {
            peer_id: ask_tx.peer_id(),
            peers: ask_tx.nr_consumers(),
            asks: ask_tx,
            answers: answer_tx,
            pending: RefCell::new(HashMap::new()),
            next_id: Cell::new(0),
            tag_cache: RefCell::new(HashMap::new()),
            tables_cache: RefCell::new(None),
        });
        let mut ask_rx = ask_rx;
        for (_, rx) in ask_rx.streams() {
            let fanout = fanout.clone();
            let core = core.clone();
            glommio::spawn_local(async move {
                while let Some(envelope) = rx.recv().await {
                    let body = answer(&core, &envelope.body).await;
                    let reply = Envelope {
                        id: envelope.id,
                        from: fanout.peer_id,
                        body,
                    };
                    // A peer that is gone no longer waits for the answer.
                    let _ = fanout.answers.send_to(envelope.from, reply).await;
                }
            })
            .detach();
        }
        let mut answer_rx = answer_rx;
        for (_, rx) in answer_rx.streams() {
            let fanout = fanout.clone();
            glommio::spawn_local(async move {
                while let Some(envelope) = rx.recv().await {
                    let waiter = fanout.pending.borrow_mut().remove(&envelope.id);
                    if let Some(waiter) = waiter {
                        let _ = waiter.try_send(envelope.body);
                    }
                }
            })
            .detach();
        }
        fanout
    }

    /// Asks every core (this one included) and collects the answers that came.
    pub async fn ask_all(&self, core: &Core, ask: Ask) -> Vec<Answer> {
        let mut waiting = Vec::new();
        for peer in 0..self.peers {
            if peer == self.peer_id {
                continue;
            }
            let id = self.next_id.get();
            self.next_id.set(id + 1);
            let (tx, rx) = local_channel::new_bounded(1);
            self.pending.borrow_mut().insert(id, tx);
            let envelope = Envelope {
                id,
                from: self.peer_id,
                body: ask.clone(),
            };
            if self.asks.send_to(peer, envelope).await.is_ok() {
                waiting.push(rx);
            } else {
                self.pending.borrow_mut().remove(&id);
            }
        }
        let mut answers = vec![answer(core, &ask).await];
        for rx in waiting {
            if let Some(answer) = rx.recv().await {
                answers.push(answer);
            }
        }
        answers
    }

    /// Every batch of each table on every core (Parquet files only where
    /// they meet its range, read for its columns), or why one could not be
    /// read; in the order asked.
    pub async fn snapshots(
        &self,
        core: &Core,
        tables: Vec<crate::query::Needed>,
    ) -> Vec<Result<Vec<RecordBatch>, String>> {
        let mut out: Vec<Result<Vec<RecordBatch>, String>> =
            tables.iter().map(|_| Ok(Vec::new())).collect();
        if tables.is_empty() {
            return out;
        }
        for answer in self.ask_all(core, Ask::Snapshot(Arc::new(tables))).await {
            let Answer::Batches(list) = answer else {
                continue;
            };
            for (held, result) in out.iter_mut().zip(list) {
                absorb(held, result);
            }
        }
        out
    }

    /// Every tag value of each (database, table) across cores, per tag
    /// key, sorted; in the order asked, the tables no cached answer covers
    /// asked in one round trip.
    pub async fn tag_values(
        &self,
        core: &Core,
        tables: &[(String, String)],
    ) -> Vec<Arc<crate::shard::TagIndex>> {
        let writes = core.writes_begun();
        let mut out: Vec<Option<Arc<crate::shard::TagIndex>>> = {
            let cache = self.tag_cache.borrow();
            tables
                .iter()
                .map(|key| match cache.get(key) {
                    Some((at, index)) if *at == writes => Some(index.clone()),
                    _ => None,
                })
                .collect()
        };
        let missing: Vec<(String, String)> = tables
            .iter()
            .zip(&out)
            .filter(|(_, cached)| cached.is_none())
            .map(|(key, _)| key.clone())
            .collect();
        if !missing.is_empty() {
            let mut parts: Vec<Vec<Arc<crate::shard::TagIndex>>> = vec![Vec::new(); missing.len()];
            for answer in self
                .ask_all(core, Ask::TagValues(Arc::new(missing.clone())))
                .await
            {
                if let Answer::TagValues(lists) = answer {
                    for (table_parts, list) in parts.iter_mut().zip(lists) {
                        table_parts.extend(list.into_iter().filter(|p| !p.is_empty()));
                    }
                }
            }
            let mut merged = missing.into_iter().zip(parts.into_iter().map(merge_parts));
            let mut cache = self.tag_cache.borrow_mut();
            for slot in out.iter_mut().filter(|s| s.is_none()) {
                if let Some((key, index)) = merged.next() {
                    cache.insert(key, (writes, index.clone()));
                    *slot = Some(index);
                }
            }
        }
        out.into_iter().map(Option::unwrap_or_default).collect()
    }

    /// Every core's share of a columnar aggregate.
    pub async fn partials(
        &self,
        core: &Core,
        plan: Arc<crate::query::fast::Plan>,
    ) -> Vec<crate::query::fast::Partial> {
        let mut out = Vec::new();
        for answer in self.ask_all(core, Ask::Partial(plan)).await {
            if let Answer::Partial(p) = answer {
                out.push(p);
            }
        }
        out
    }

    /// Every core's table figures, summed per table, sorted by database
    /// then table; at most a second old.
    pub async fn tables(&self, core: &Core) -> Rc<Vec<crate::shard::TableStat>> {
        if let Some((at, tables)) = &*self.tables_cache.borrow() {
            if at.elapsed() < std::time::Duration::from_secs(1) {
                return tables.clone();
            }
        }
        let mut sums: std::collections::BTreeMap<crate::shard::TableKey, crate::shard::TableStat> =
            std::collections::BTreeMap::new();
        for answer in self.ask_all(core, Ask::Tables).await {
            let Answer::Tables(list) = answer else {
                continue;
            };
            for t in list {
                let key = (t.db.clone(), t.table.clone());
                match sums.get_mut(&key) {
                    Some(sum) => {
                        sum.rows += t.rows;
                        sum.memory_rows += t.memory_rows;
                        sum.memory_bytes += t.memory_bytes;
                        sum.files += t.files;
                    }
                    None => {
                        sums.insert(key, t);
                    }
                }
            }
        }
        let tables = Rc::new(sums.into_values().collect::<Vec<_>>());
        *self.tables_cache.borrow_mut() = Some((std::time::Instant::now(), tables.clone()));
        tables
    }

    /// Rows held per core, this core first.
    pub async fn rows(&self, core: &Core) -> Vec<usize> {
        let mut out = Vec::new();
        for answer in self.ask_all(core, Ask::Rows).await {
            if let Answer::Rows(n) = answer {
                out.push(n);
            }
        }
        out
    }
}
