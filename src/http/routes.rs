//! Routing (one match on method and path) and the handlers.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::conn::Conn;
use super::request::{credentials, Credentials, Head, Method, Params};
use super::response::{Api, ApiError, Response, INFLUXDB_VERSION};
use crate::auth::{Access, AuthError, Identity};
use crate::catalog::MAX_DATABASE_NAME;
use crate::config::Store;
use crate::decode::{DecodeError, Encoding};
use crate::lp::{parse_with_options, LineError, ParseOptions, Precision};
use crate::runtime::{Core, Scratch};
use crate::write::{write_points, Rejection, WriteOptions, BEYOND_RETENTION};

/// Most rejected lines named in one response.
const MAX_REPORTED_LINES: usize = 100;

pub async fn handle(conn: &mut Conn, head: &Head) -> Response {
    let result = match (head.route(), head.method) {
        // CORS preflight, as InfluxDB answers it, for browser-based tools.
        ("/ping" | "/health" | "/write" | "/api/v2/write" | "/query", Method::Options) => {
            Ok(preflight())
        }
        ("/ping", Method::Get | Method::Head) => Ok(ping(head)),
        ("/ping", _) => Err(ApiError::MethodNotAllowed {
            allow: "GET, HEAD, OPTIONS",
        }),
        ("/health", Method::Get | Method::Head) => Ok(health()),
        ("/health", _) => Err(ApiError::MethodNotAllowed {
            allow: "GET, HEAD, OPTIONS",
        }),
        ("/write", Method::Post) => write(conn, head, Api::V1).await,
        ("/write", _) => Err(ApiError::MethodNotAllowed {
            allow: "OPTIONS, POST",
        }),
        ("/api/v2/write", Method::Post) => write(conn, head, Api::V2).await,
        ("/api/v2/write", _) => Err(ApiError::MethodNotAllowed {
            allow: "OPTIONS, POST",
        }),
        ("/query", Method::Get | Method::Post) => query(conn, head).await,
        ("/query", _) => Err(ApiError::MethodNotAllowed {
            allow: "GET, OPTIONS, POST",
        }),
        ("/metrics", Method::Get | Method::Head) => metrics(conn, head),
        ("/metrics", _) => Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" }),
        ("/", Method::Get | Method::Head) => Ok(super::status::page()),
        ("/", _) => Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" }),
        ("/status", Method::Get | Method::Head) => super::status::status(conn, head).await,
        ("/status", _) => Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" }),
        ("/debug/rows", Method::Get) if conn.core().config.debug_endpoints => {
            debug_rows(conn, head).await
        }
        ("/debug/stats", Method::Get) if conn.core().config.debug_endpoints => {
            debug_stats(conn, head).await
        }
        _ => Err(ApiError::NotFound),
    };
    let api = if head.path.starts_with("/api/v2") {
        Api::V2
    } else {
        Api::V1
    };
    result.unwrap_or_else(|e| e.into_response(api))
}

/// Prometheus text format; open unless --metrics-auth (then any valid token).
fn metrics(conn: &Conn, head: &Head) -> Result<Response, ApiError> {
    let core = conn.core();
    if core.config.metrics_auth {
        authenticate(core, head, &Params::parse(&head.query), Api::V1)?;
    }
    Ok(Response {
        status: 200,
        headers: vec![(
            "Content-Type",
            "text/plain; version=0.0.4; charset=utf-8".into(),
        )],
        body: core.metrics.render().into_bytes(),
        close: false,
    })
}

fn preflight() -> Response {
    let mut r = Response::no_content();
    r.header("Access-Control-Allow-Origin", "*".into());
    r.header(
        "Access-Control-Allow-Methods",
        "DELETE, GET, OPTIONS, POST, PUT".into(),
    );
    r.header(
        "Access-Control-Allow-Headers",
        "Accept, Accept-Encoding, Authorization, Content-Length, Content-Type, User-Agent, X-CSRF-Token, X-HTTP-Method-Override".into(),
    );
    r
}

fn ping(head: &Head) -> Response {
    let params = Params::parse(&head.query);
    if params
        .get("verbose")
        .is_some_and(|v| v == "true" || v == "1")
    {
        return Response::json(200, &json!({ "version": INFLUXDB_VERSION }));
    }
    Response::no_content()
}

fn health() -> Response {
    Response::json(
        200,
        &json!({
            "name": "hydrant",
            "message": "ready for queries and writes",
            "status": "pass",
            "checks": [],
            "version": INFLUXDB_VERSION,
        }),
    )
}

/// Who is asking, by the schemes `api` accepts.
pub(super) fn authenticate(
    core: &Core,
    head: &Head,
    params: &Params,
    api: Api,
) -> Result<Identity, ApiError> {
    if core.config.without_auth {
        return Ok(Identity::Anonymous);
    }
    let presented = credentials(head, params);
    let token = match (api, presented) {
        (_, Credentials::Token(t)) => t,
        // The v2 API takes tokens only (Token or Bearer).
        (Api::V1, Credentials::Password(p)) => p,
        (_, Credentials::Malformed) => {
            return Err(ApiError::Unauthorized(
                "unable to parse authentication credentials".into(),
            ))
        }
        _ => {
            return Err(ApiError::Unauthorized(match api {
                Api::V1 => "unable to parse authentication credentials".into(),
                Api::V2 => "unauthorized access".into(),
            }))
        }
    };
    core.tokens
        .authenticate(&token)
        .map_err(|e| match (e, api) {
            (AuthError::Missing | AuthError::Invalid, Api::V1) => {
                ApiError::Unauthorized("authorization failed".into())
            }
            (AuthError::Missing | AuthError::Invalid, Api::V2) => {
                ApiError::Unauthorized("unauthorized access".into())
            }
        })
}

/// The database a write or query names: `db`, or `db/rp` for any rp other
/// than empty or `autogen`.
fn database_name(db: &str, rp: Option<&str>) -> Result<String, ApiError> {
    let name = match rp {
        None | Some("") | Some("autogen") => db.to_owned(),
        Some(rp) => format!("{db}/{rp}"),
    };
    if name.is_empty() || name.len() > MAX_DATABASE_NAME {
        return Err(ApiError::BadRequest(format!(
            "invalid database name {name:?}: namespace name length must be between 1 and {MAX_DATABASE_NAME} characters"
        )));
    }
    Ok(name)
}

fn parse_precision(params: &Params) -> Result<Precision, ApiError> {
    let given = params.get("precision").unwrap_or("");
    Precision::from_param(given).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "invalid precision {given:?} (use n, u, ms, s, m or h)"
        ))
    })
}

/// The request's arrival time, truncated to its precision.
fn arrival_time(precision: Precision) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    now - now.rem_euclid(precision.multiplier())
}

/// The texts of physical lines `wanted` (1-based, ascending) of `body`, in
/// one pass however many there are.
fn line_texts(body: &[u8], wanted: &[usize]) -> Vec<String> {
    let mut out = Vec::with_capacity(wanted.len());
    let mut next = wanted.iter().peekable();
    for (k, text) in body.split(|&b| b == b'\n').enumerate() {
        while next.next_if(|&&line| line == k + 1).is_some() {
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            out.push(String::from_utf8_lossy(text).into_owned());
        }
        if next.peek().is_none() {
            break;
        }
    }
    out.resize(wanted.len(), String::new());
    out
}

async fn write(conn: &mut Conn, head: &Head, api: Api) -> Result<Response, ApiError> {
    let core = conn.core().clone();
    let params = Params::parse(&head.query);
    let identity = authenticate(&core, head, &params, api)?;
    let result = write_as(conn, head, api, &core, &params, &identity).await;
    // What the status page lists: every refused write after authentication
    // (rejected lines were listed by `ingest`), but not the 503s of a full
    // node, which clients retry and which would crowd the real errors out.
    if let Err(e) = &result {
        if !matches!(e, ApiError::PartialWrite { .. } | ApiError::Unavailable(_)) {
            let (db, rp) = write_target(api, &params);
            let db = database_name(db.unwrap_or(""), rp).unwrap_or_default();
            let at_ms = crate::retention::now_ns() / 1_000_000;
            core.stats().record_error(at_ms, &db, 0, "", &e.message());
        }
    }
    result
}

/// The database and retention policy parameters a write names.
fn write_target(api: Api, params: &Params) -> (Option<&str>, Option<&str>) {
    match api {
        Api::V1 => (params.get("db"), params.get("rp")),
        Api::V2 => (params.get("bucket"), None),
    }
}

/// `write` once the writer is known.
async fn write_as(
    conn: &mut Conn,
    head: &Head,
    api: Api,
    core: &Core,
    params: &Params,
    identity: &Identity,
) -> Result<Response, ApiError> {
    let (db_param, rp) = write_target(api, params);
    let db_param = db_param.filter(|d| !d.is_empty()).ok_or_else(|| {
        ApiError::BadRequest(match api {
            Api::V1 => "database is required".into(),
            Api::V2 => "bucket is required".into(),
        })
    })?;
    let db = database_name(db_param, rp)?;
    if !identity.may(Access::Write, &db) {
        return Err(ApiError::Forbidden(format!(
            "token is not authorized to write to database {db:?}"
        )));
    }
    let precision = parse_precision(params)?;
    let atomic = params.get("accept_partial").is_some_and(|v| v == "false");
    let encoding = Encoding::from_header(head.content_encoding.as_deref()).ok_or_else(|| {
        ApiError::UnsupportedEncoding(format!(
            "unsupported Content-Encoding {:?} (use gzip or identity)",
            head.content_encoding.as_deref().unwrap_or("")
        ))
    })?;

    let limit = core.config.max_body_size;
    let mut raw = core.bodies.take();
    let read = conn.read_body(head, limit, &mut raw).await;
    let stored = match read {
        Err(e) => Err(e.into_api_error()),
        Ok(()) => Ok(ingest(core, &db, &raw, encoding, precision, atomic)),
    };
    core.bodies.give(raw);
    let (answer, commit) = stored?;
    match commit {
        Some(flush) => match core.wal.commit(flush).await {
            Ok(()) => answer,
            Err(failure) => Err(failure.into()),
        },
        None => answer,
    }
}

/// Decodes, parses, checks and stores one body, all without yielding: the
/// per-core scratch (decoded body, parse arena) is borrowed throughout, so
/// every connection on a core shares one cache-warm set of buffers. Returns
/// the answer and, if anything was stored, the WAL flush to wait for.
fn ingest(
    core: &Core,
    db: &str,
    raw: &[u8],
    encoding: Encoding,
    precision: Precision,
    atomic: bool,
) -> (Result<Response, ApiError>, Option<u64>) {
    let mut scratch = core.scratch.borrow_mut();
    let Scratch { arena, decoded } = &mut *scratch;
    let limit = core.config.max_body_size;
    let stats = core.stats();
    stats.body_bytes.add(raw.len() as u64);
    let body: &[u8] = match encoding {
        Encoding::Identity => raw,
        Encoding::Gzip => match core.gunzip.borrow_mut().decompress(raw, decoded, limit) {
            Ok(()) => decoded,
            Err(e @ DecodeError::TooLarge { .. }) => {
                return (Err(ApiError::PayloadTooLarge(e.to_string())), None)
            }
            Err(e @ DecodeError::Corrupt) => {
                return (Err(ApiError::BadRequest(e.to_string())), None)
            }
        },
    };
    stats.decoded_bytes.add(body.len() as u64);
    arena.reset();
    let options = ParseOptions {
        precision,
        max_line_length: core.config.max_line_length,
    };
    let parsed = match parse_with_options(body, options, arena) {
        Ok(parsed) => parsed,
        Err(e) => return (Err(ApiError::BadRequest(e.to_string())), None),
    };
    if let Err(failure) = core.wal.check() {
        return (Err(failure.into()), None);
    }
    if !core.admits_writes() {
        return (
            Err(ApiError::Unavailable(format!(
                "write refused: this node holds --max-memory {} MiB of rows not yet persisted; retry shortly",
                core.config.max_memory >> 20
            ))),
            None,
        );
    }
    let seq = core.next_seq();
    let store = core.config.store;
    let outcome = if atomic && !parsed.errors.is_empty() {
        None
    } else {
        let mut wal = (store == Store::Disk).then(|| core.wal.pending());
        let mut shard = core.shard.borrow_mut();
        Some(write_points(
            &core.catalog,
            &mut shard,
            db,
            &parsed.points,
            WriteOptions {
                default_time: arrival_time(precision),
                seq,
                atomic,
                cutoff: core.retention.cutoff(db, crate::retention::now_ns()),
                discard: store == Store::None,
            },
            wal.as_deref_mut(),
        ))
    };
    let written = outcome.as_ref().map_or(0, |o| o.written);
    stats.lines_accepted.add(written as u64);
    if written > 0 && store != Store::None {
        core.wrote(body.len());
    }
    let commit = (written > 0 && store == Store::Disk).then(|| core.wal.enqueued(seq));
    // Every rejected line in body order; text is built only for those shown.
    let mut rejected: Vec<(usize, Result<&LineError<'_>, &Rejection>)> =
        parsed.errors.iter().map(|e| (e.line, Ok(e))).collect();
    if let Some(o) = &outcome {
        rejected.extend(o.rejected.iter().map(|r| (r.line, Err(r))));
    }
    if rejected.is_empty() {
        return (Ok(Response::no_content()), commit);
    }
    rejected.sort_by_key(|r| r.0);
    let dropped = rejected.len();
    stats.lines_rejected.add(dropped as u64);
    let shown = &rejected[..dropped.min(MAX_REPORTED_LINES)];
    let wanted: Vec<usize> = shown.iter().filter(|r| r.1.is_err()).map(|r| r.0).collect();
    let mut texts = line_texts(body, &wanted).into_iter();
    // (line, text, reason, InfluxDB's one-line form)
    let shown: Vec<(usize, String, String, String)> = shown
        .iter()
        .map(|(line, source)| match source {
            Ok(e) => (*line, e.text.to_owned(), e.kind.to_string(), e.to_string()),
            Err(r) => {
                let text = texts.next().unwrap_or_default();
                (*line, text, r.message.clone(), r.message.clone())
            }
        })
        .collect();
    let mut joined: Vec<&str> = shown.iter().map(|r| r.3.as_str()).collect();
    let more = dropped - shown.len();
    let more_text = format!("… and {more} more rejected lines");
    if more > 0 {
        joined.push(&more_text);
    }
    let joined = joined.join("\n");
    // InfluxDB: a body none of whose lines parsed gets the parse errors alone.
    let nothing_parsed = parsed.points.is_empty();
    let all_expired = parsed.errors.is_empty()
        && outcome
            .as_ref()
            .is_some_and(|o| o.rejected.iter().all(|r| r.message == BEYOND_RETENTION));
    let message = if all_expired {
        // InfluxDB's exact words: clients match on them.
        format!("partial write: {BEYOND_RETENTION} dropped={dropped}")
    } else if nothing_parsed && outcome.as_ref().is_none_or(|o| o.rejected.is_empty()) {
        joined
    } else {
        format!("partial write: {joined} dropped={dropped}")
    };
    let at_ms = crate::retention::now_ns() / 1_000_000;
    // In reverse, so that the list (newest first) shows a body's lines in order.
    let first = shown.iter().take(crate::metrics::RECENT_ERRORS_PER_REQUEST);
    for (line, text, reason, _) in first.rev() {
        stats.record_error(at_ms, db, *line, text, reason);
    }
    let lines = shown
        .into_iter()
        .map(|(line, text, reason, _)| (line, text, reason))
        .collect();
    (Err(ApiError::PartialWrite { message, lines }), commit)
}

/// `/query`: InfluxQL statements, parameters from the URL and (POST) a
/// urlencoded body, answered in InfluxDB 1.x's JSON.
async fn query(conn: &mut Conn, head: &Head) -> Result<Response, ApiError> {
    use crate::query::{self, encode::Format, influxql::Statement, store::Store, time::Epoch};
    let core = conn.core().clone();
    let format = Format::from_accept(head.accept.as_deref());
    let mut params = Params::parse(&head.query);
    if head.method == Method::Post {
        let mut raw = std::mem::take(&mut conn.body);
        let read = conn
            .read_body(head, core.config.max_body_size, &mut raw)
            .await;
        if let Err(e) = read {
            conn.body = raw;
            return Err(e.into_api_error());
        }
        let form = head
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        if form {
            params.extend_form(&raw);
        }
        conn.body = raw;
    }
    let identity = authenticate(&core, head, &params, Api::V1)?;
    let Some(q) = params.get("q").filter(|q| !q.trim().is_empty()) else {
        return Ok(query_error(400, "missing required parameter \"q\"", format));
    };
    let statements = match query::influxql::parse_query(q) {
        Ok(s) => s,
        Err(e) => {
            return Ok(query_error(
                400,
                &format!("error parsing query: {e}"),
                format,
            ))
        }
    };
    let db = params
        .get("db")
        .filter(|d| !d.is_empty())
        .map(|d| query::database_for(d, params.get("rp")));
    let db = db.as_deref();
    // Permissions first: a statement the token may not run fails the request.
    for statement in &statements {
        let changes = match statement {
            Statement::CreateDatabase { name, .. } => Some(name.clone()),
            Statement::AlterRetention {
                policy, database, ..
            } => Some(query::database_for(database, Some(policy))),
            _ => None,
        };
        if let Some(name) = changes {
            if !identity.is_admin() && !identity.may(Access::Write, &name) {
                return Err(ApiError::Forbidden(format!(
                    "token may not change database {name:?}"
                )));
            }
            continue;
        }
        for name in query::databases_read(statement, db) {
            if !identity.may(Access::Read, &name) {
                return Err(ApiError::Forbidden(format!(
                    "token may not read database {name:?}"
                )));
            }
        }
    }
    // Statement results of the changes that fail (the rest run as usual).
    let mut failed_changes = hashbrown::HashMap::new();
    for (i, statement) in statements.iter().enumerate() {
        let set = match statement {
            Statement::CreateDatabase { name, duration } => {
                database_name(name, None)?;
                core.catalog.ensure_database(name);
                duration.map(|d| (name.clone(), d))
            }
            Statement::AlterRetention {
                policy,
                database,
                duration,
            } => {
                let name = query::database_for(database, Some(policy));
                if core.catalog.snapshot().database(&name).is_none() {
                    failed_changes.insert(i, format!("database not found: {database}"));
                    None
                } else {
                    duration.map(|d| (name, d))
                }
            }
            _ => None,
        };
        if let Some((name, ns)) = set {
            let spec = if ns <= 0 {
                "inf".to_string()
            } else {
                format!("{}ms", (ns / 1_000_000).max(1))
            };
            let result = crate::retention::command(&core.config.data_dir, &name, Some(&spec))
                .and_then(|_| core.retention.reload());
            if let Err(e) = result {
                failed_changes.insert(i, e);
            }
        }
    }
    let catalog = core.catalog.snapshot();
    let now = query::time::now_ns();
    // Aggregates the columnar path runs: every core computes its share.
    let budget = query::store::Budget::new(core.config.query_timeout, core.config.query_max_points);
    let mut answered = hashbrown::HashMap::new();
    for (i, statement) in statements.iter().enumerate() {
        if let Some(plan) = query::fast_plan(statement, db, &catalog, now, budget) {
            let partials = core.fanout().partials(&core, plan.clone()).await;
            if let Some(mut series) = query::fast::finish(&plan, partials) {
                if plan.descending() {
                    if let Ok(list) = &mut series {
                        list.reverse();
                    }
                }
                answered.insert(i, series);
            }
        }
    }
    let mut store = Store::new(catalog.clone());
    store.budget = budget;
    for name in catalog.database_names() {
        store
            .retention
            .insert(name.to_string(), core.retention.of(&name));
    }
    for (i, e) in failed_changes {
        answered.insert(i, Err(e));
    }
    let skip = |i: usize| answered.contains_key(&i);
    let mut unreadable = Vec::new();
    let needed = query::tables_needed(&statements, db, &catalog, &skip, now);
    let fetched = core.fanout().snapshots(&core, needed.clone()).await;
    for (n, result) in needed.into_iter().zip(fetched) {
        match result {
            Ok(batches) => store.insert(&n.db, &n.table, batches),
            Err(e) => unreadable.push((n.db, n.table, e)),
        }
    }
    // A statement that reads an unreadable file answers with its error;
    // the others run as usual.
    if !unreadable.is_empty() {
        for i in 0..statements.len() {
            if answered.contains_key(&i) {
                continue;
            }
            let only = |j: usize| j != i;
            let needs = query::tables_needed(&statements, db, &catalog, &only, now);
            if let Some((_, _, e)) = unreadable
                .iter()
                .find(|(d, t, _)| needs.iter().any(|n| &n.db == d && &n.table == t))
            {
                answered.insert(i, Err(e.clone()));
            }
        }
    }
    let indexes = query::tag_indexes_needed(&statements, db, &catalog);
    let values = core.fanout().tag_values(&core, &indexes).await;
    for ((d, t), values) in indexes.iter().zip(values) {
        store.insert_tag_values(d, t, values);
    }
    let epoch = Epoch::parse(params.get("epoch"));
    let chunk_size = (params.get("chunked") == Some("true")).then(|| {
        params
            .get("chunk_size")
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(10_000)
    });
    let pretty = params.get("pretty") == Some("true");
    let db = db.map(str::to_owned);
    // Large answers are computed off the executor (on its blocking thread,
    // pinned to the same CPU) so this core keeps taking writes meanwhile.
    let heavy = store.rows()
        + answered
            .values()
            .flatten()
            .flatten()
            .map(|s| s.values.len())
            .sum::<usize>()
        > query::OFFLOAD_ROWS;
    let mut work = move || {
        let results = query::run_all(&store, &statements, db.as_deref(), now, &mut answered);
        encode_results(&results, format, epoch, chunk_size, pretty)
    };
    let body = if heavy {
        glommio::executor().spawn_blocking(work).await
    } else {
        work()
    };
    let mut r = Response::json(200, &json!(null));
    r.headers = vec![("Content-Type", format.content_type().into())];
    r.body = body;
    Ok(r)
}

fn encode_results(
    results: &[crate::query::result::StatementResult],
    format: crate::query::encode::Format,
    epoch: crate::query::time::Epoch,
    chunk_size: Option<usize>,
    pretty: bool,
) -> Vec<u8> {
    use crate::query::encode::{self, Format};
    match (format, chunk_size) {
        (Format::Csv, _) => encode::csv(results, epoch),
        (Format::Msgpack, _) => encode::msgpack(results, epoch),
        (Format::Json, Some(size)) => encode::chunked_json(results, epoch, size),
        (Format::Json, None) if pretty => {
            let doc = encode::results_json(results, epoch);
            let mut text = serde_json::to_vec_pretty(&doc).expect("JSON values serialize");
            text.push(b'\n');
            text
        }
        (Format::Json, None) => encode::write_json(results, epoch),
    }
}

/// A whole-request query error in InfluxDB's shape: `{"error": "…"}`.
fn query_error(status: u16, message: &str, format: crate::query::encode::Format) -> Response {
    use crate::query::encode::{self, Format};
    let mut r = Response::json(status, &json!({ "error": message }));
    match format {
        Format::Json => {}
        Format::Csv => r.body = encode::csv_error(message),
        Format::Msgpack => r.body = encode::msgpack_error(message),
    }
    r.headers = vec![("Content-Type", format.content_type().into())];
    r.header("X-Influxdb-Error", message.chars().take(1024).collect());
    r
}

/// Test-only read path: every row of one table from every core, merged so
/// that the same series and time is one row (last write wins per field).
async fn debug_rows(conn: &mut Conn, head: &Head) -> Result<Response, ApiError> {
    let core = conn.core().clone();
    let params = Params::parse(&head.query);
    let identity = authenticate(&core, head, &params, Api::V1)?;
    let db = params.get("db").unwrap_or("");
    let table = params.get("measurement").unwrap_or("");
    if !identity.may(Access::Read, db) {
        return Err(ApiError::Forbidden(format!(
            "token may not read database {db:?}"
        )));
    }
    let whole = crate::query::Needed {
        db: db.to_string(),
        table: table.to_string(),
        range: crate::query::condition::TimeRange {
            min: i64::MIN,
            max: i64::MAX,
        },
        columns: None,
    };
    let batches = core
        .fanout()
        .snapshots(&core, vec![whole])
        .await
        .pop()
        .unwrap_or(Ok(Vec::new()))
        .map_err(ApiError::Internal)?;
    let rows: Vec<Value> = crate::shard::merge::rows_as_json(&batches);
    Ok(Response::json(200, &json!({ "rows": rows })))
}

/// Test-only: rows held per core (before merging), for benchmarks' answer checks.
async fn debug_stats(conn: &mut Conn, head: &Head) -> Result<Response, ApiError> {
    let core = conn.core().clone();
    let params = Params::parse(&head.query);
    let identity = authenticate(&core, head, &params, Api::V1)?;
    if !identity.is_admin() {
        return Err(ApiError::Forbidden("admin token required".into()));
    }
    let per_core = core.fanout().rows(&core).await;
    let total: usize = per_core.iter().sum();
    let r = &core.recovery;
    Ok(Response::json(
        200,
        &json!({
            "rows": total,
            "rows_per_core": per_core,
            "recovery": {
                "files": r.files,
                "file_rows": r.file_rows,
                "skipped_entries": r.skipped_entries,
                "points": r.points,
                "entries": r.entries,
                "segments": r.segments,
                "seconds": r.elapsed.as_secs_f64(),
                "problems": r.problems,
            },
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::line_texts;

    #[test]
    fn line_texts_in_one_pass() {
        let body = b"a\r\nb\nc\n\nd";
        assert_eq!(line_texts(body, &[1, 3, 5]), ["a", "c", "d"]);
        assert_eq!(line_texts(body, &[2, 2]), ["b", "b"]);
        assert_eq!(line_texts(body, &[9]), [""]);
        assert!(line_texts(body, &[]).is_empty());
    }
}
