//! The status page: `GET /` serves one self-contained HTML page (no token
//! needed to load it), whose script polls `GET /status` (any valid token)
//! for uptime, per-core ingest, tables and the last rejected lines. Tables
//! and rejected lines are shown only for databases the token may read or
//! write; a pipeline's operator sees why their lines were dropped without
//! seeing other databases' data.

use serde_json::{json, Value};

use super::conn::Conn;
use super::request::{Head, Params};
use super::response::{Api, ApiError, Response, INFLUXDB_VERSION};
use crate::auth::Access;
use crate::metrics::Latency;

const PAGE: &str = include_str!("status.html");

pub fn page() -> Response {
    Response {
        status: 200,
        headers: vec![
            ("Content-Type", "text/html; charset=utf-8".into()),
            // The page holds no data; its script asks /status with a token.
            ("Cache-Control", "no-cache".into()),
            // No other site may frame the token form or load anything into it.
            (
                "Content-Security-Policy",
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'".into(),
            ),
            ("X-Content-Type-Options", "nosniff".into()),
            ("X-Frame-Options", "DENY".into()),
            ("Referrer-Policy", "no-referrer".into()),
        ],
        body: PAGE.as_bytes().to_vec(),
        close: false,
    }
}

/// Write latency percentiles in seconds (null before the first write).
fn latency_json(l: &Latency) -> Value {
    if l.count() == 0 {
        return json!({ "count": 0, "p50": null, "p90": null, "p99": null, "p999": null, "max": null });
    }
    json!({
        "count": l.count(),
        "p50": l.quantile(0.5),
        "p90": l.quantile(0.9),
        "p99": l.quantile(0.99),
        "p999": l.quantile(0.999),
        "max": l.max(),
    })
}

pub async fn status(conn: &mut Conn, head: &Head) -> Result<Response, ApiError> {
    let core = conn.core().clone();
    let params = Params::parse(&head.query);
    let identity = match super::routes::authenticate(&core, head, &params, Api::V1) {
        Ok(identity) => identity,
        Err(e) => {
            // No WWW-Authenticate here: on a script's request it makes the
            // browser pop up its own password dialog instead of the page's form.
            let mut r = e.into_response(Api::V1);
            r.headers.retain(|(name, _)| *name != "WWW-Authenticate");
            return Ok(r);
        }
    };
    let visible = |db: &str| identity.may(Access::Read, db) || identity.may(Access::Write, db);
    let metrics = &core.metrics;
    let rates = metrics.ingest_rates();

    let mut total_latency = Latency::default();
    let cores: Vec<Value> = metrics
        .cores
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let latency = c.latency(false);
            total_latency.merge(&latency);
            let write_requests: u64 = c
                .requests()
                .iter()
                .filter(|((e, _), _)| {
                    matches!(
                        e,
                        crate::metrics::Endpoint::Write | crate::metrics::Endpoint::WriteV2
                    )
                })
                .map(|(_, n)| n)
                .sum();
            json!({
                "core": i,
                "cpu": core.config.cores.get(i),
                "lines_accepted": c.lines_accepted.get(),
                "lines_rejected": c.lines_rejected.get(),
                "write_requests": write_requests,
                "lines_per_second": rates.get(i).copied().unwrap_or(0.0),
                "write_latency": latency_json(&latency),
                "connections_open": c.connections_open.get(),
                "memory_rows": c.shard_rows.get(),
                "memory_bytes": c.shard_bytes.get(),
            })
        })
        .collect();

    let mut databases: Vec<Value> = Vec::new();
    for t in core.fanout().tables(&core).await.iter() {
        if !visible(&t.db) {
            continue;
        }
        let table = json!({
            "name": t.table.as_ref(),
            "rows": t.rows,
            "memory_rows": t.memory_rows,
            "memory_bytes": t.memory_bytes,
            "files": t.files,
        });
        match databases.last_mut() {
            Some(d) if d["name"] == t.db.as_ref() => {
                if let Some(list) = d["tables"].as_array_mut() {
                    list.push(table);
                }
            }
            _ => databases.push(json!({ "name": t.db.as_ref(), "tables": [table] })),
        }
    }
    // Databases created but not written to yet are listed too.
    for name in core.catalog.snapshot().database_names() {
        if visible(&name) && !databases.iter().any(|d| d["name"] == name.as_ref()) {
            databases.push(json!({ "name": name.as_ref(), "tables": [] }));
        }
    }
    databases.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));

    let recent: Vec<Value> = metrics
        .recent_errors()
        .into_iter()
        .filter(|e| visible(&e.db))
        .map(|e| {
            json!({
                "time": crate::query::time::format_rfc3339(e.at_ms * 1_000_000),
                "core": e.core,
                "db": e.db,
                "line": e.line,
                "text": e.text,
                "reason": e.reason,
            })
        })
        .collect();

    Ok(Response::json(
        200,
        &json!({
            "name": "hydrant",
            "version": env!("CARGO_PKG_VERSION"),
            "influxdb_version": INFLUXDB_VERSION,
            "uptime_seconds": metrics.uptime().as_secs_f64(),
            "admin": identity.is_admin(),
            "totals": {
                "lines_accepted": metrics.total(|c| &c.lines_accepted),
                "lines_rejected": metrics.total(|c| &c.lines_rejected),
                "lines_per_second": rates.iter().sum::<f64>(),
                "write_latency": latency_json(&total_latency),
                "memory_rows": metrics.total(|c| &c.shard_rows),
                "memory_bytes": metrics.total(|c| &c.shard_bytes),
            },
            "cores": cores,
            "databases": databases,
            "recent_errors": recent,
        }),
    ))
}
