//! Executors: one glommio executor pinned to each selected CPU, each with its
//! own SO_REUSEPORT listener on the same address (the kernel spreads
//! connections, and `balance` evens out what it spreads), its own shard, and
//! its end of the fan-out meshes.
//!
//! Shutdown (SIGINT/SIGTERM): a plain thread flips a shared flag; each
//! executor stops accepting, lets its in-flight requests finish (reads notice
//! the flag within a quarter second), and returns; `serve` then exits 0.

pub mod balance;
pub mod fanout;

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use glommio::net::TcpListener;
use glommio::{LocalExecutorBuilder, Placement};

use crate::auth::{self, TokenStore};
use crate::catalog::Catalog;
use crate::config::ServeConfig;
use crate::decode::Gunzip;
use crate::http;
use crate::shard::Shard;
use crate::wal::{replay, Wal};
use balance::{Ends, Handovers, Loads};
use fanout::{Fanout, Meshes};

/// The catalog's file in the data directory.
pub const CATALOG_FILE: &str = "catalog.json";
/// The WAL segments' directory in the data directory.
pub const WAL_DIR: &str = "wal";

/// The WAL flusher runs in a task queue of its own that asks for this
/// latency: its I/O goes to glommio's latency ring, whose completions cut
/// short the connections' turn. In the default queue, each of its awaits
/// waited out the turns of every busy connection (10-400 ms a 1 MiB
/// write under `--wal-sync none`, whose pending bytes then grew by gigabytes).
const WAL_LATENCY: Duration = Duration::from_millis(1);

/// Body buffers a core keeps between writes.
const BODY_POOL: usize = 4;
/// A buffer grown past this by a big body is freed, not kept.
const POOLED_BODY_BYTES: usize = 16 << 20;

/// The raw write bodies a core keeps between requests, most recently used
/// last. A write gives its buffer back as soon as its body is stored, before
/// it waits for the WAL, so the core's writes cycle through a few cache-warm
/// buffers rather than one per connection.
#[derive(Default)]
pub struct BodyPool(RefCell<Vec<Vec<u8>>>);

impl BodyPool {
    /// The buffer given back last, whose cache lines are likeliest warm.
    pub fn take(&self) -> Vec<u8> {
        self.0.borrow_mut().pop().unwrap_or_default()
    }

    /// Keeps `body` for a later request, unless [`BODY_POOL`] buffers are
    /// kept already or a big body grew it past [`POOLED_BODY_BYTES`].
    pub fn give(&self, body: Vec<u8>) {
        let mut pool = self.0.borrow_mut();
        if pool.len() < BODY_POOL && body.capacity() <= POOLED_BODY_BYTES {
            pool.push(body);
        }
    }
}

/// Per-core buffers reused by every request: the decoded body and the parse arena.
#[derive(Default)]
pub struct Scratch {
    pub arena: bumpalo::Bump,
    pub decoded: Vec<u8>,
}

/// Everything one executor owns or shares.
pub struct Core {
    /// Executor index (0..number of executors).
    pub index: usize,
    pub config: Arc<ServeConfig>,
    pub catalog: Arc<Catalog>,
    pub tokens: Arc<TokenStore>,
    pub shard: RefCell<Shard>,
    pub gunzip: RefCell<Gunzip>,
    /// Buffers a request uses while it is parsed and stored (never across an await).
    pub scratch: RefCell<Scratch>,
    /// Raw write bodies between requests.
    pub bodies: BodyPool,
    /// What start-up recovery found (shared by every core).
    pub recovery: Arc<replay::Recovery>,
    /// The Parquet manifests of the cores whose data this core holds (its own included).
    pub manifests: RefCell<std::collections::BTreeMap<usize, crate::persist::Manifest>>,
    /// Every core's counters (each core writes its own).
    pub metrics: Arc<crate::metrics::Metrics>,
    pub retention: Arc<crate::retention::Retention>,
    /// The last persist-task tick found this core at its share of
    /// --max-memory (so the crossing is logged once, not every tick).
    pub over_memory: Cell<bool>,
    /// Bytes of rows this core holds (being persisted included): counted
    /// exactly at each persist-task tick, plus each write's decoded body
    /// since, so a burst meets the limit at once rather than a tick later.
    pub held_bytes: Cell<usize>,
    /// The persist task, while it waits for its next look.
    pub persist_waker: RefCell<Option<std::task::Waker>>,
    pub wal: Rc<Wal>,
    fanout: OnceCell<Rc<Fanout>>,
    seq: Arc<AtomicU64>,
    shutdown: Arc<AtomicBool>,
    requests: Cell<u64>,
}

impl Core {
    /// The global write order: later writes win over earlier ones.
    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// How many writes any core has begun: unchanged means no core's data
    /// changed (a write takes its number and stores in one step).
    pub fn writes_begun(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// This core's share of the node's --max-memory.
    pub fn memory_share(&self) -> usize {
        self.config.max_memory / self.config.cores.len().max(1)
    }

    /// The rows in memory at which this core persists, at the latest by
    /// half its share of --max-memory, so writes rarely meet the limit.
    pub fn persist_at(&self) -> usize {
        self.config.persist_size.min(self.memory_share() / 2).max(1)
    }

    /// Notes a stored write's decoded bytes; past the persist threshold,
    /// the persist task looks now rather than at its next tick (at full
    /// speed a tick's worth of rows is a large part of a small share).
    pub fn wrote(&self, bytes: usize) {
        let held = self.held_bytes.get() + bytes;
        self.held_bytes.set(held);
        // Only --store disk persists; memory keeps rows until retention.
        if held >= self.persist_at() && self.config.store == crate::config::Store::Disk {
            if let Some(waker) = self.persist_waker.borrow_mut().take() {
                waker.wake();
            }
        }
    }

    /// Whether a write may be stored: under this core's share of
    /// --max-memory. Past the share by the running estimate, the rows are
    /// counted exactly (only then: the count walks every batch).
    pub fn admits_writes(&self) -> bool {
        let share = self.memory_share();
        if self.held_bytes.get() < share {
            return true;
        }
        let shard = self.shard.borrow();
        let held = shard.memory_bytes() + shard.persisting_bytes();
        self.held_bytes.set(held);
        held < share
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// This core's counters.
    pub fn stats(&self) -> &crate::metrics::CoreMetrics {
        &self.metrics.cores[self.index]
    }

    pub fn fanout(&self) -> &Rc<Fanout> {
        self.fanout.get().expect("fan-out is joined before serving")
    }

    /// A unique, UUID-shaped id for the `Request-Id` header.
    pub fn next_request_id(&self) -> String {
        let n = self.requests.get();
        self.requests.set(n + 1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (now >> 32) as u32,
            (now >> 16) as u16,
            now as u16,
            self.index as u16,
            n & 0xffff_ffff_ffff
        )
    }
}

/// Sets up the data directory and tokens, starts every executor, and
/// returns once all have stopped.
pub fn serve(config: ServeConfig) -> Result<(), String> {
    keep_freed_memory();
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        format!(
            "cannot create data directory {}: {e}",
            config.data_dir.display()
        )
    })?;
    let _lock = lock_data_dir(&config.data_dir)?;
    let tokens = Arc::new(setup_tokens(&config)?);
    if !config.without_auth {
        every_second(&tokens, "tokens", |t| t.reload().map(|_| ()))?;
    }

    // Probe the address without SO_REUSEPORT: fails if anyone (even another
    // hydrant) holds it, and turns port 0 into a real port for every executor.
    let bind = std::net::TcpListener::bind(config.bind)
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    let mut config = config;
    config.bind = bind;
    let config = Arc::new(config);

    let shutdown = Arc::new(AtomicBool::new(false));
    watch_signals(shutdown.clone())?;
    let catalog = Arc::new(Catalog::open(config.data_dir.join(CATALOG_FILE))?);
    let retention = crate::retention::Retention::open(&config.data_dir, config.retention)?;
    every_second(&retention, "retention settings", |r| r.reload())?;
    let wal_dir = config.data_dir.join(WAL_DIR);
    std::fs::create_dir_all(&wal_dir)
        .map_err(|e| format!("cannot create {}: {e}", wal_dir.display()))?;
    let recovered = replay::recover(&config.data_dir, &wal_dir, config.cores.len(), &catalog)?;
    let recovery = recovered.report;
    for problem in &recovery.problems {
        log::warn!("recovery: {problem}");
    }
    log::info!(
        files = recovery.files,
        file_rows = recovery.file_rows,
        points = recovery.points,
        entries = recovery.entries,
        segments = recovery.segments,
        entries_in_parquet = recovery.skipped_entries,
        seconds = format!("{:.3}", recovery.elapsed.as_secs_f64());
        "recovery: {} Parquet files ({} rows) indexed; replayed {} points from {} WAL entries",
        recovery.files,
        recovery.file_rows,
        recovery.points,
        recovery.entries
    );
    let recovery = Arc::new(recovery);
    let seq = Arc::new(AtomicU64::new(recovery.max_seq + 1));
    let mut shards = recovered.shards.into_iter();
    let mut segments = recovered.segments.into_iter();
    let mut manifests = recovered.manifests.into_iter();
    let mut spares = recovered.spares.into_iter();
    let meshes = Meshes::new(config.cores.len());
    let handovers = balance::handovers(config.cores.len());
    let loads = Arc::new(Loads::new(config.cores.len()));
    let metrics = Arc::new(crate::metrics::Metrics::new(config.cores.len()));
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();

    let mut executors = Vec::new();
    for (index, &cpu) in config.cores.iter().enumerate() {
        let shard = shards.next().unwrap_or_default();
        let replayed = segments.next().unwrap_or_default();
        let spares = spares.next().unwrap_or_default();
        let manifests = manifests.next().unwrap_or_default();
        let (wal_dir, recovery, retention, metrics) = (
            wal_dir.clone(),
            recovery.clone(),
            retention.clone(),
            metrics.clone(),
        );
        let (config, catalog, tokens, seq, shutdown, meshes, ready) = (
            config.clone(),
            catalog.clone(),
            tokens.clone(),
            seq.clone(),
            shutdown.clone(),
            meshes.clone(),
            ready_tx.clone(),
        );
        let (handovers, loads) = (handovers.clone(), loads.clone());
        let handle = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("hydrant-{index}"))
            .io_memory(config.io_memory)
            .spawn(move || async move {
                let wal = Wal::new(
                    wal_dir,
                    index,
                    config.wal_sync,
                    config.wal_segment_size,
                    config.persist_size as u64,
                    recovery.next_segment,
                    replayed,
                    spares,
                    metrics.clone(),
                );
                let core = Rc::new(Core {
                    index,
                    config,
                    catalog,
                    tokens,
                    shard: RefCell::new(shard),
                    recovery,
                    manifests: RefCell::new(manifests),
                    metrics,
                    retention,
                    over_memory: Cell::new(false),
                    held_bytes: Cell::new(0),
                    persist_waker: RefCell::new(None),
                    gunzip: RefCell::new(Gunzip::default()),
                    scratch: RefCell::new(Scratch::default()),
                    bodies: BodyPool::default(),
                    wal,
                    fanout: OnceCell::new(),
                    seq,
                    shutdown,
                    requests: Cell::new(0),
                });
                run_core(core, meshes, handovers, loads, ready).await;
            })
            .map_err(|e| format!("cannot start executor on CPU {cpu}: {e}"))?;
        executors.push(handle);
    }
    drop(ready_tx);

    let mut failure = None;
    for _ in 0..config.cores.len() {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = Some(e),
            Err(_) => failure = Some("an executor stopped during start-up".into()),
        }
    }
    if failure.is_none() {
        print_banner(&config);
        // The status page's ingest rates come from one sample a second.
        let sampled = every_second(&metrics, "ingest rates", |m| {
            m.sample_rates();
            Ok::<(), std::convert::Infallible>(())
        });
        if let Err(e) = sampled {
            log::warn!("{e}");
        }
        if let Some(every) = config.log_summary {
            log_summaries(metrics.clone(), shutdown.clone(), every);
        }
    } else {
        shutdown.store(true, Ordering::SeqCst);
    }
    for handle in executors {
        if let Err(e) = handle.join() {
            failure.get_or_insert(format!("executor failed: {e}"));
        }
    }
    match failure {
        Some(e) => Err(e),
        None => {
            log::info!("stopped");
            Ok(())
        }
    }
}

/// The file whose lock says a server owns the data directory.
pub const LOCK_FILE: &str = "hydrant.lock";

/// Locks the data directory for this process (until the returned file is
/// dropped, or the process ends however it ends): a second server on the
/// same directory, such as one started while the last is still finishing
/// its persist, would delete that one's new files as leftovers.
fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, String> {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    // SAFETY: flock on the fd of `file`, which is open here; the lock goes
    // with the file (or the process).
    let locked = match unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    };
    match locked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let holder = match pid.trim() {
                "" => String::new(),
                p => format!(" (pid {p})"),
            };
            return Err(format!(
                "data directory {} is in use by another hydrant{holder}: stop it first, or give this one its own --data-dir",
                dir.display()
            ));
        }
        Err(e) => {
            // A filesystem without locks (some network ones) still serves.
            log::warn!(
                "cannot lock {} ({e}): nothing stops a second server on this data directory",
                path.display()
            );
        }
    }
    let written = file
        .set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| writeln!(file, "{}", std::process::id()));
    if let Err(e) = written {
        log::warn!("cannot write the pid into {}: {e}", path.display());
    }
    Ok(file)
}

async fn run_core(
    core: Rc<Core>,
    meshes: Meshes,
    handovers: Handovers,
    loads: Arc<Loads>,
    ready: mpsc::Sender<Result<(), String>>,
) {
    let wal_queue = glommio::executor().create_task_queue(
        glommio::Shares::Static(1000),
        glommio::Latency::Matters(WAL_LATENCY),
        "wal",
    );
    let flusher = glommio::spawn_local_into(core.wal.clone().run(), wal_queue)
        .expect("the WAL queue was just made on this executor");
    let persister = glommio::spawn_local(crate::persist::task::run(core.clone()));
    let fanout = Fanout::join(meshes, core.clone()).await;
    let _ = core.fanout.set(fanout);
    let Ends {
        senders,
        mut receivers,
    } = Ends::join(handovers).await;
    let here = senders.peer_id();
    let listener = match listen(core.config.bind) {
        Ok(l) => Rc::new(l),
        Err(e) => {
            let _ = ready.send(Err(format!("cannot listen on {}: {e}", core.config.bind)));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    drop(ready);

    // The core's open-connection gauge is also the count the shutdown wait
    // reads: this core alone changes it. `loads` counts the same connections
    // for every core to see.
    let accepting = Rc::new(Cell::new(true));
    let serve = {
        let (core, loads, accepting) = (core.clone(), loads.clone(), accepting.clone());
        Rc::new(move |stream: glommio::net::TcpStream| {
            if !accepting.get() {
                loads.release(here);
                return;
            }
            core.stats().connections_accepted.add(1);
            core.stats().connections_open.add(1);
            let (core, loads) = (core.clone(), loads.clone());
            glommio::spawn_local(async move {
                http::conn::serve(stream, core.clone()).await;
                core.stats().connections_open.sub(1);
                loads.release(here);
            })
            .detach();
        })
    };
    for (_, handed) in receivers.streams() {
        let serve = serve.clone();
        glommio::spawn_local(async move {
            while let Some(accepted) = handed.recv().await {
                serve(accepted.bind_to_executor());
            }
        })
        .detach();
    }
    {
        let (core, listener, accepting) = (core.clone(), listener.clone(), accepting.clone());
        glommio::spawn_local(async move {
            while accepting.get() {
                let accepted = match listener.socket.shared_accept().await {
                    Ok(s) => s,
                    Err(_) if !accepting.get() => break,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        log::warn!(core = core.index; "accept failed: {e}");
                        glommio::timer::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let cap = core.config.max_connections_per_core;
                let target = match accepting.get() {
                    true => loads.assign(here, cap),
                    false => None,
                };
                match target {
                    None => {
                        core.stats().connections_refused.add(1);
                        drop(accepted.bind_to_executor());
                    }
                    Some(t) if t == here => serve(accepted.bind_to_executor()),
                    // The stream is a plain fd (`Copy`): a send that fails
                    // leaves it here, to be served here.
                    Some(t) => {
                        if senders.try_send_to(t, accepted).is_err() {
                            loads.release(t);
                            loads.add(here);
                            serve(accepted.bind_to_executor());
                        }
                    }
                }
            }
        })
        .detach();
    }

    while !core.shutting_down() {
        glommio::timer::sleep(Duration::from_millis(100)).await;
    }
    accepting.set(false);
    // Wakes the pending accept: on Linux shutdown(2) on a listener fails it.
    // SAFETY: the fd belongs to `listener.socket`, which is alive here.
    unsafe { libc::shutdown(listener.fd, libc::SHUT_RD) };
    let grace = Instant::now() + Duration::from_secs(30);
    while core.stats().connections_open.get() > 0 && Instant::now() < grace {
        glommio::timer::sleep(Duration::from_millis(20)).await;
    }
    core.wal.stop();
    flusher.await;
    persister.await;
}

/// Logs one line of throughput every `every` while requests arrive.
fn log_summaries(
    metrics: Arc<crate::metrics::Metrics>,
    shutdown: Arc<AtomicBool>,
    every: Duration,
) {
    let spawned = std::thread::Builder::new()
        .name("hydrant-summary".into())
        .spawn(move || {
            // (requests, errors, lines accepted, lines rejected, body bytes)
            let totals = |m: &crate::metrics::Metrics| {
                let (mut requests, mut errors) = (0u64, 0u64);
                for core in &m.cores {
                    for ((_, status), n) in core.requests() {
                        requests += n;
                        if status >= 400 {
                            errors += n;
                        }
                    }
                }
                (
                    requests,
                    errors,
                    m.total(|c| &c.lines_accepted),
                    m.total(|c| &c.lines_rejected),
                    m.total(|c| &c.body_bytes),
                )
            };
            let mut last = totals(&metrics);
            let mut at = Instant::now();
            while !shutdown.load(Ordering::Relaxed) {
                let deadline = at + every;
                while Instant::now() < deadline && !shutdown.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100).min(every));
                }
                let now = totals(&metrics);
                let secs = at.elapsed().as_secs_f64().max(1e-9);
                at = Instant::now();
                if now.0 == last.0 {
                    continue;
                }
                let rate = |a: u64, b: u64| ((a - b) as f64 / secs).round() as u64;
                log::info!(
                    requests_per_s = rate(now.0, last.0),
                    lines_per_s = rate(now.2, last.2),
                    mb_per_s = format!("{:.1}", (now.4 - last.4) as f64 / secs / 1e6),
                    errors = now.1 - last.1,
                    lines_rejected = now.3 - last.3,
                    connections = metrics.total(|c| &c.connections_open);
                    "throughput: {} lines/s over the last {:.0}s",
                    rate(now.2, last.2),
                    secs
                );
                last = now;
            }
        });
    if let Err(e) = spawned {
        log::warn!("cannot start the throughput summary: {e}");
    }
}

/// A listener and its fd (glommio's type does not expose it).
pub struct Listener {
    pub socket: TcpListener,
    pub fd: i32,
}

/// Binds `addr` with SO_REUSEPORT, so every core can, and a deep backlog
/// (the kernel still caps it at net.core.somaxconn; see tuning/).
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<Listener> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::os::fd::IntoRawFd;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_port(true)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    let fd = socket.into_raw_fd();
    // SAFETY: `fd` is a bound, listening TCP socket we own and hand over.
    let socket = unsafe { <TcpListener as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    Ok(Listener { socket, fd })
}

/// Runs `each` on `target` every second on a thread of its own, for as
/// long as `target` lives: re-reading file-backed settings, so CLI changes
/// reach a running server, and sampling counters.
fn every_second<T, E>(
    target: &Arc<T>,
    what: &'static str,
    each: fn(&T) -> Result<(), E>,
) -> Result<(), String>
where
    T: Send + Sync + 'static,
    E: std::fmt::Display + 'static,
{
    let target = Arc::downgrade(target);
    std::thread::Builder::new()
        .name(format!("hydrant-{}", what.replace(' ', "-")))
        .spawn(move || {
            while let Some(t) = target.upgrade() {
                if let Err(e) = each(&t) {
                    log::warn!("could not update {what}: {e}");
                }
                drop(t);
                std::thread::sleep(Duration::from_secs(1));
            }
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the thread for {what}: {e}"))
}

fn watch_signals(shutdown: Arc<AtomicBool>) -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    std::thread::Builder::new()
        .name("hydrant-signals".into())
        .spawn(move || {
            let mut count = 0;
            for signal in signals.forever() {
                count += 1;
                if count == 1 {
                    log::info!(signal; "finishing in-flight requests, then stopping");
                    shutdown.store(true, Ordering::SeqCst);
                } else {
                    log::warn!(signal; "second signal: exiting now");
                    std::process::exit(130);
                }
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(())
}

fn setup_tokens(config: &ServeConfig) -> Result<TokenStore, String> {
    if config.without_auth {
        return Ok(TokenStore::empty());
    }
    let dir = &config.data_dir;
    if let Some(token) = &config.admin_token {
        auth::add_token(dir, token, true, vec![], "--admin-token")
            .map_err(|e| format!("cannot store the admin token: {e}"))?;
    }
    let store = TokenStore::open(dir).map_err(|e| format!("cannot read tokens: {e}"))?;
    if store.is_empty() {
        let token = auth::create_token(dir, true, vec![], "created at first start")
            .map_err(|e| format!("cannot create the admin token: {e}"))?;
        let file = dir.join(auth::ADMIN_TOKEN_FILE);
        auth::write_private(&file, format!("{token}\n").as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        log::info!(
            token = token.as_str(),
            file = file.display().to_string();
            "created an admin token (shown once here; also in the file)"
        );
        store
            .reload()
            .map_err(|e| format!("cannot read tokens: {e}"))?;
    }
    Ok(store)
}

fn print_banner(config: &ServeConfig) {
    let auth = if config.without_auth {
        "none (--without-auth): every request is allowed".to_string()
    } else {
        format!(
            "token required: `Authorization: Token <token>` (or Bearer, Basic with the token as password, or ?p=<token>); admin token in {}",
            config.data_dir.join(auth::ADMIN_TOKEN_FILE).display()
        )
    };
    let cpus: Vec<String> = config.cores.iter().map(|c| c.to_string()).collect();
    log::info!(
        version = env!("CARGO_PKG_VERSION"),
        url = format!("http://{}", config.bind),
        cores = cpus.join(","),
        io_memory_kib = config.io_memory >> 10,
        data_dir = config.data_dir.display().to_string(),
        store = config.store.to_string(),
        wal_sync = config.wal_sync.to_string(),
        auth = auth;
        "listening on http://{} with one pinned executor per core",
        config.bind
    );
}

/// Column builders are freed in bulk when their rows reach Parquet and
/// regrown at once by the next rows. glibc's default gives such memory back
/// to the kernel (`munmap`, heap trimming), so every refill page-faulted and
/// zeroed fresh pages: ~15% of a write-heavy core. Fixed thresholds keep
/// freed memory in the process for reuse; resident memory then stays at its
/// high-water mark, which the persist threshold bounds.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before
    // any executor thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_pool_hands_back_the_last_buffer_and_keeps_few_and_small_ones() {
        let pool = BodyPool::default();
        assert_eq!(
            pool.take().capacity(),
            0,
            "an empty pool makes a new buffer"
        );
        let sized = |n| Vec::<u8>::with_capacity(n);
        pool.give(sized(1000));
        pool.give(sized(2000));
        assert!(pool.take().capacity() >= 2000, "last given, first taken");
        assert!(pool.take().capacity() >= 1000);
        pool.give(sized(POOLED_BODY_BYTES + 1));
        assert_eq!(pool.take().capacity(), 0, "a grown buffer is freed");
        for _ in 0..BODY_POOL + 2 {
            pool.give(sized(10));
        }
        let kept = std::iter::from_fn(|| Some(pool.take()))
            .take_while(|b| b.capacity() > 0)
            .count();
        assert_eq!(kept, BODY_POOL);
    }
}
