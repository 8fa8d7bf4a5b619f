//! The `hydrant` command: `serve` runs the server, `token` manages tokens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use hydrant::auth::{self, Permission};
use hydrant::config::{self, ServeConfig};

#[derive(Parser)]
#[command(
    name = "hydrant",
    version,
    about = "An ingest engine that speaks the InfluxDB APIs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Database settings kept in the data directory.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Print realistic line protocol (for load tests and benchmarks).
    Sample {
        /// telegraf (cpu/mem/disk/net), escaped, or wide-strings.
        #[arg(long, default_value = "telegraf")]
        kind: String,
        #[arg(long, default_value_t = 5000)]
        lines: usize,
        /// Distinct hosts (series cardinality) in telegraf bodies.
        #[arg(long, default_value_t = 100)]
        hosts: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (every core binds it with SO_REUSEPORT).
    #[arg(long, env = "HYDRANT_BIND", default_value = "127.0.0.1:8086")]
    bind: SocketAddr,
    /// Where data and tokens live.
    #[arg(long, env = "HYDRANT_DATA_DIR", default_value = "./hydrant-data")]
    data_dir: PathBuf,
    /// CPUs to run on: a count ("2" = the first two) or a list ("0,2", "4-7"); default all.
    #[arg(long, env = "HYDRANT_CORES", default_value = "all")]
    cores: String,
    /// Largest request body, after decompression (e.g. 64MiB).
    #[arg(long, env = "HYDRANT_MAX_BODY_SIZE", default_value = "64MiB")]
    max_body_size: String,
    /// Longest line; longer lines are rejected on their own.
    #[arg(long, env = "HYDRANT_MAX_LINE_LENGTH", default_value = "1MiB")]
    max_line_length: String,
    /// Use this admin token (stored as a hash) instead of generating one.
    #[arg(long, env = "HYDRANT_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Accept every request without a token.
    #[arg(long, env = "HYDRANT_WITHOUT_AUTH")]
    without_auth: bool,
    /// Connections one core serves at once; more are closed on accept.
    #[arg(
        long,
        env = "HYDRANT_MAX_CONNECTIONS_PER_CORE",
        default_value_t = 10_000
    )]
    max_connections_per_core: usize,
    /// How long an idle keep-alive connection stays open.
    #[arg(long, env = "HYDRANT_IDLE_TIMEOUT", default_value = "60s")]
    idle_timeout: String,
    /// How long a read or write may stall in the middle of a request.
    #[arg(long, env = "HYDRANT_IO_TIMEOUT", default_value = "30s")]
    io_timeout: String,
    /// io_uring memory per core (counts against the memlock limit); default fits the limit.
    #[arg(long, env = "HYDRANT_IO_MEMORY")]
    io_memory: Option<String>,
    /// How long one /query request may compute before it is refused.
    #[arg(long, env = "HYDRANT_QUERY_TIMEOUT", default_value = "60s")]
    query_timeout: String,
    /// Most points one query statement may read into memory.
    #[arg(long, env = "HYDRANT_QUERY_MAX_POINTS", default_value_t = 50_000_000)]
    query_max_points: usize,
    /// When a write is acknowledged: `always` (after the synchronous WAL
    /// write that covers it), `interval=<dur>` (after the next periodic WAL
    /// flush), or `none` (on receipt; a crash loses up to the last second of
    /// writes).
    #[arg(long, env = "HYDRANT_WAL_SYNC", default_value = "always")]
    wal_sync: String,
    /// WAL segment size; a core starts a new segment file past it.
    #[arg(long, env = "HYDRANT_WAL_SEGMENT_SIZE", default_value = "64MiB")]
    wal_segment_size: String,
    /// A core writes its in-memory rows to Parquet once they take this much memory…
    #[arg(long, env = "HYDRANT_PERSIST_SIZE", default_value = "512MiB")]
    persist_size: String,
    /// …or once its oldest row not yet in Parquet is this old.
    #[arg(long, env = "HYDRANT_PERSIST_AGE", default_value = "10m")]
    persist_age: String,
    /// How long databases keep points (e.g. 30d; inf: forever); per database
    /// with `hydrant db retention`.
    #[arg(long, env = "HYDRANT_RETENTION", default_value = "inf")]
    retention: String,
    /// Rows not yet persisted the node may hold (a size, or a share of RAM
    /// like 50%); past it, writes get 503 with Retry-After until persisting catches up.
    #[arg(long, env = "HYDRANT_MAX_MEMORY", default_value = "50%")]
    max_memory: String,
    /// What happens to accepted points: `disk` (WAL, memory, Parquet),
    /// `memory` (no WAL, no Parquet: lost on exit; bounded by --max-memory),
    /// or `none` (validated and answered exactly as usual, then dropped: a
    /// sink for load-testing client pipelines).
    #[arg(long, env = "HYDRANT_STORE", default_value = "disk")]
    store: String,
    /// Require a token for GET /metrics (open by default, like Prometheus targets).
    #[arg(long, env = "HYDRANT_METRICS_AUTH")]
    metrics_auth: bool,
    /// Log level or filter (error, warn, info, debug, trace; or env_logger
    /// syntax such as `warn,hydrant::wal=debug`); default RUST_LOG, else info.
    #[arg(long, env = "HYDRANT_LOG_LEVEL")]
    log_level: Option<String>,
    /// How often to log a one-line throughput summary (0 or off: never).
    /// Quiet while no request arrives.
    #[arg(long, env = "HYDRANT_LOG_SUMMARY", default_value = "10s")]
    log_summary: String,
    /// Serve /debug/rows, a read path for tests.
    #[arg(long, env = "HYDRANT_DEBUG_ENDPOINTS", hide = true)]
    debug_endpoints: bool,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Show or set how long a database keeps points; a running server picks
    /// it up within a second.
    Retention {
        #[arg(long, env = "HYDRANT_DATA_DIR", default_value = "./hydrant-data")]
        data_dir: PathBuf,
        db: String,
        /// A duration (30d, 12h), inf (forever), or default (the server's --retention).
        duration: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it (only its hash is stored).
    Create {
        #[arg(long, env = "HYDRANT_DATA_DIR", default_value = "./hydrant-data")]
        data_dir: PathBuf,
        /// Full access, including token management.
        #[arg(long, conflicts_with_all = ["db", "read", "write"])]
        admin: bool,
        /// Database the token may use ("*" for all).
        #[arg(long, required_unless_present = "admin")]
        db: Option<String>,
        #[arg(long)]
        read: bool,
        #[arg(long)]
        write: bool,
        /// A note stored with the token.
        #[arg(long, default_value = "")]
        description: String,
    },
}

fn serve_config(args: ServeArgs) -> Result<ServeConfig, String> {
    let cores = config::parse_cores(&args.cores)?;
    let mut c = ServeConfig::new(args.bind, args.data_dir);
    c.io_memory = match &args.io_memory {
        Some(size) => config::parse_size(size)?,
        None => config::default_io_memory(cores.len()),
    };
    c.cores = cores;
    c.max_body_size = config::parse_size(&args.max_body_size)?;
    c.max_line_length = config::parse_size(&args.max_line_length)?;
    c.admin_token = args.admin_token.filter(|t| !t.is_empty());
    c.without_auth = args.without_auth;
    c.max_connections_per_core = args.max_connections_per_core.max(1);
    c.idle_timeout = config::parse_duration(&args.idle_timeout)?;
    c.io_timeout = config::parse_duration(&args.io_timeout)?;
    c.debug_endpoints = args.debug_endpoints;
    c.query_timeout = config::parse_duration(&args.query_timeout)?;
    c.query_max_points = args.query_max_points.max(1);
    c.wal_sync = hydrant::wal::SyncMode::parse(&args.wal_sync)?;
    c.wal_segment_size = config::parse_size(&args.wal_segment_size)? as u64;
    c.persist_size = config::parse_size(&args.persist_size)?;
    c.persist_age = config::parse_duration(&args.persist_age)?;
    c.retention = match args.retention.trim() {
        "inf" | "INF" | "none" | "0" | "0s" => None,
        d => Some(config::parse_duration(d)?),
    };
    c.max_memory = config::parse_memory(&args.max_memory)?;
    c.store = config::Store::parse(&args.store)?;
    c.metrics_auth = args.metrics_auth;
    c.log_summary = match args.log_summary.trim() {
        "0" | "off" | "none" => None,
        d => Some(config::parse_duration(d)?).filter(|d| !d.is_zero()),
    };
    Ok(c)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => {
            hydrant::logging::init(args.log_level.as_deref());
            serve_config(*args).and_then(hydrant::runtime::serve)
        }
        Command::Sample {
            kind,
            lines,
            hosts,
            seed,
        } => {
            use hydrant::lp::sample;
            use std::io::Write;
            let body = match kind.as_str() {
                "telegraf" => Ok(sample::telegraf(lines, hosts, seed)),
                "escaped" => Ok(sample::escaped(lines, seed)),
                "wide-strings" => Ok(sample::wide_strings(lines, seed)),
                other => Err(format!(
                    "unknown sample kind {other:?} (telegraf, escaped, wide-strings)"
                )),
            };
            body.and_then(|b| {
                std::io::stdout()
                    .write_all(b.as_bytes())
                    .map_err(|e| format!("cannot write: {e}"))
            })
        }
        Command::Db {
            command:
                DbCommand::Retention {
                    data_dir,
                    db,
                    duration,
                },
        } => hydrant::retention::command(&data_dir, &db, duration.as_deref())
            .map(|s| println!("{s}")),
        Command::Token {
            command:
                TokenCommand::Create {
                    data_dir,
                    admin,
                    db,
                    read,
                    write,
                    description,
                },
        } => {
            let permissions = match db {
                Some(db) if !admin => {
                    if !read && !write {
                        eprintln!("hydrant: give --read, --write or both");
                        return ExitCode::from(2);
                    }
                    vec![Permission { db, read, write }]
                }
                _ => vec![],
            };
            auth::create_token(&data_dir, admin, permissions, &description)
                .map(|token| println!("{token}"))
                .map_err(|e| format!("cannot create token in {}: {e}", data_dir.display()))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hydrant: {e}");
            ExitCode::FAILURE
        }
    }
}
