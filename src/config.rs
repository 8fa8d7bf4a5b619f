//! Server settings, as parsed from the command line and `HYDRANT_…` variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// CPU ids to run executors on, one each.
    pub cores: Vec<usize>,
    pub max_body_size: usize,
    pub max_line_length: usize,
    pub admin_token: Option<String>,
    pub without_auth: bool,
    pub max_connections_per_core: usize,
    /// How long an idle keep-alive connection is kept.
    pub idle_timeout: Duration,
    /// How long one read or write may stall mid-request.
    pub io_timeout: Duration,
    /// Registered io_uring memory per executor (counts against RLIMIT_MEMLOCK).
    pub io_memory: usize,
    /// Serves `/debug/…` (test-only read paths).
    pub debug_endpoints: bool,
    /// How long one /query request may compute.
    pub query_timeout: Duration,
    /// Most points one statement may materialise (the memory bound of a query).
    pub query_max_points: usize,
    /// When writes are acknowledged relative to the WAL.
    pub wal_sync: crate::wal::SyncMode,
    pub wal_segment_size: u64,
    /// A core writes its in-memory rows to Parquet past this many bytes…
    pub persist_size: usize,
    /// …or when its oldest unpersisted row is this old.
    pub persist_age: Duration,
    /// How long databases keep points unless set per database (None: forever).
    pub retention: Option<Duration>,
    /// Bytes of rows not yet persisted the node holds before writes get 503.
    pub max_memory: usize,
    /// Where accepted points go.
    pub store: Store,
    /// /metrics asks for a token like every other endpoint.
    pub metrics_auth: bool,
    /// How often the one-line throughput summary is logged (None: never).
    pub log_summary: Option<Duration>,
}

/// `--store`: what happens to accepted points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// WAL (as --wal-sync says), memory, then Parquet: the default.
    Disk,
    /// Memory only: no WAL and no Parquet; lost on exit.
    Memory,
    /// Validated exactly as usual, answered exactly as usual, then dropped.
    None,
}

impl Store {
    pub fn parse(s: &str) -> Result<Store, String> {
        match s {
            "disk" => Ok(Store::Disk),
            "memory" => Ok(Store::Memory),
            "none" => Ok(Store::None),
            _ => Err(format!("invalid --store {s:?} (use disk, memory or none)")),
        }
    }
}

impl std::fmt::Display for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Store::Disk => "disk",
            Store::Memory => "memory",
            Store::None => "none",
        })
    }
}

impl ServeConfig {
    /// Defaults that work with no flags (tests and embedding start from here).
    pub fn new(bind: SocketAddr, data_dir: PathBuf) -> Self {
        ServeConfig {
            bind,
            data_dir,
            cores: all_cores(),
            max_body_size: 64 << 20,
            max_line_length: 1 << 20,
            admin_token: None,
            without_auth: false,
            max_connections_per_core: 10_000,
            idle_timeout: Duration::from_secs(60),
            io_timeout: Duration::from_secs(30),
            io_memory: default_io_memory(all_cores().len()),
            debug_endpoints: false,
            query_timeout: Duration::from_secs(60),
            query_max_points: 50_000_000,
            wal_sync: crate::wal::SyncMode::Always,
            wal_segment_size: 64 << 20,
            persist_size: 512 << 20,
            persist_age: Duration::from_secs(600),
            retention: None,
            max_memory: physical_memory() / 2,
            store: Store::Disk,
            metrics_auth: false,
            log_summary: Some(Duration::from_secs(10)),
        }
    }
}

/// The machine's RAM in bytes (8 GiB if unknown).
pub fn physical_memory() -> usize {
    // SAFETY: sysconf takes no pointers.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages > 0 && size > 0 {
        (pages as usize).saturating_mul(size as usize)
    } else {
        8 << 30
    }
}

/// Parses `--max-memory`: a size ("8GiB") or a share of RAM ("50%").
pub fn parse_memory(spec: &str) -> Result<usize, String> {
    match spec.trim().strip_suffix('%') {
        Some(p) => {
            let p: f64 = p
                .trim()
                .parse()
                .ok()
                .filter(|p| *p > 0.0 && *p <= 100.0)
                .ok_or_else(|| format!("bad memory share {spec:?} (e.g. 50%)"))?;
            Ok((physical_memory() as f64 * p / 100.0) as usize)
        }
        None => parse_size(spec),
    }
}

/// Every CPU this process may run on.
pub fn all_cores() -> Vec<usize> {
    let mut ids: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    if ids.is_empty() {
        ids.push(0);
    }
    ids.sort_unstable();
    ids
}

/// Parses `--cores`: a count ("2": the first two CPUs) or a list ("0,2", "4-7").
pub fn parse_cores(spec: &str) -> Result<Vec<usize>, String> {
    let available = all_cores();
    let spec = spec.trim();
    if spec.is_empty() || spec == "all" {
        return Ok(available);
    }
    if let Ok(count) = spec.parse::<usize>() {
        if count == 0 || count > available.len() {
            return Err(format!(
                "--cores {count}: this machine has {} CPUs available",
                available.len()
            ));
        }
        return Ok(available[..count].to_vec());
    }
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let lo: usize = lo
            .parse()
            .map_err(|_| format!("--cores: bad CPU id {lo:?}"))?;
        let hi: usize = hi
            .parse()
            .map_err(|_| format!("--cores: bad CPU id {hi:?}"))?;
        if lo > hi {
            return Err(format!("--cores: empty range {part:?}"));
        }
        for id in lo..=hi {
            if !available.contains(&id) {
                return Err(format!(
                    "--cores: CPU {id} is not available (have {available:?})"
                ));
            }
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    if out.is_empty() {
        return Err("--cores: no CPUs selected".into());
    }
    Ok(out)
}

/// Splits "64MiB" into 64 and "MiB"; `example` goes into the error.
fn number_and_unit<'s>(spec: &'s str, what: &str, example: &str) -> Result<(u64, &'s str), String> {
    let s = spec.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n = digits
        .parse()
        .map_err(|_| format!("bad {what} {spec:?} (e.g. {example})"))?;
    Ok((n, unit.trim()))
}

/// Parses a byte size: "1048576", "512KiB", "64MiB", "1GiB" (also KB/MB/GB, K/M/G).
pub fn parse_size(spec: &str) -> Result<usize, String> {
    let (n, unit) = number_and_unit(spec, "size", "64MiB")?;
    let n = usize::try_from(n).map_err(|_| format!("size {spec:?} is too large"))?;
    let mult: usize = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("bad size unit in {spec:?} (use KiB, MiB or GiB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {spec:?} is too large"))
}

/// Parses a duration: "30s", "500ms", "5m", "1h", "7d".
pub fn parse_duration(spec: &str) -> Result<Duration, String> {
    let (n, unit) = number_and_unit(spec, "duration", "30s")?;
    let ms = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "bad duration unit in {spec:?} (use ms, s, m, h or d)"
            ))
        }
    };
    Ok(Duration::from_millis(n.saturating_mul(ms)))
}

/// io_uring registers each executor's I/O memory with three rings, and all of
/// it counts against RLIMIT_MEMLOCK; size it to fit the limit this process
/// has (8 MiB on stock Debian), between 64 KiB and 8 MiB per executor.
pub fn default_io_memory(executors: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct that we own.
    let memlock = if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } == 0 {
        limit.rlim_cur
    } else {
        8 << 20
    };
    let per_executor = (memlock / (3 * executors.max(1) as u64 + 1)) as usize;
    (per_executor & !0xffff).clamp(64 << 10, 8 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("2 GiB"), Ok(2 << 30));
        assert!(parse_size("10 parsecs").is_err());
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert!(parse_duration("1y").is_err());
    }

    #[test]
    fn core_lists() {
        let all = all_cores();
        assert_eq!(parse_cores("all").unwrap(), all);
        assert_eq!(parse_cores("1").unwrap(), vec![all[0]]);
        assert_eq!(parse_cores(&format!("{}", all.len())).unwrap(), all);
        let first = all[0];
        assert_eq!(
            parse_cores(&format!("{first}-{first}")).unwrap(),
            vec![first]
        );
        assert!(parse_cores("0").is_err());
        assert!(parse_cores("9999-10000").is_err());
    }

    #[test]
    fn io_memory_fits_the_memlock_limit() {
        let m = default_io_memory(2);
        assert!((64 << 10..=8 << 20).contains(&m));
    }
}
