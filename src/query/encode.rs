//! Results on the wire: JSON (InfluxDB 1.x's exact shape), CSV and msgpack.

use serde_json::{json, Map, Value as Json};

use super::result::{Series, StatementResult};
use super::time::{format_rfc3339, Epoch};
use super::value::Value;

fn time_json(v: &Value, epoch: Epoch) -> Json {
    match (v, epoch) {
        (Value::Integer(ns), Epoch::Rfc3339) => Json::String(format_rfc3339(*ns)),
        (Value::Integer(ns), Epoch::Units(unit)) => Json::from(ns.div_euclid(unit)),
        (other, _) => other.to_json(),
    }
}

fn series_json(s: &Series, epoch: Epoch) -> Json {
    let mut m = Map::new();
    if !s.name.is_empty() {
        m.insert("name".into(), Json::String(s.name.clone()));
    }
    if !s.tags.is_empty() {
        let tags: Map<String, Json> = s
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), Json::String(v.clone())))
            .collect();
        m.insert("tags".into(), Json::Object(tags));
    }
    m.insert("columns".into(), json!(s.columns));
    let values: Vec<Json> = s
        .values
        .iter()
        .map(|row| {
            Json::Array(
                row.iter()
                    .enumerate()
                    .map(|(i, v)| {
                        if i == 0 && s.has_time {
                            time_json(v, epoch)
                        } else {
                            v.to_json()
                        }
                    })
                    .collect(),
            )
        })
        .collect();
    if !values.is_empty() {
        m.insert("values".into(), Json::Array(values));
    }
    Json::Object(m)
}

pub fn result_json(r: &StatementResult, epoch: Epoch) -> Json {
    let mut m = Map::new();
    m.insert("statement_id".into(), json!(r.statement_id));
    if !r.series.is_empty() {
        m.insert(
            "series".into(),
            Json::Array(r.series.iter().map(|s| series_json(s, epoch)).collect()),
        );
    }
    if let Some(e) = &r.error {
        m.insert("error".into(), Json::String(e.clone()));
    }
    Json::Object(m)
}

pub fn results_json(results: &[StatementResult], epoch: Epoch) -> Json {
    json!({ "results": results.iter().map(|r| result_json(r, epoch)).collect::<Vec<_>>() })
}
