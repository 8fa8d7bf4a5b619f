//! The conformance table: every case in `testdata/conformance.jsonl` parsed
//! with every block kernel, compared with what InfluxDB 1.x answered (cases
//! marked `"source": "influxdb"`, recorded and re-checked against a live
//! InfluxDB by `tools/lp-oracle`) or with our documented deviation (`"hydrant"`,
//! each with its reason).

use bumpalo::Bump;
use serde_json::{json, Value};

use super::scan::Kernel;
use super::{parse_with_kernel, parse_with_memchr, FieldValue, ParsedBody, Precision};

const TABLE: &str = include_str!("testdata/conformance.jsonl");

/// Our output in the recorder's shape: sorted points and InfluxDB's error text.
/// `kernel` `None` parses with the memchr cursor.
fn observe(input: &str, precision: Precision, kernel: Option<Kernel>) -> Value {
    let arena = Bump::new();
    let parsed: ParsedBody<'_> = match kernel {
        Some(kernel) => parse_with_kernel(input.as_bytes(), precision, &arena, kernel),
        None => parse_with_memchr(input.as_bytes(), precision, &arena),
    }
    .expect("utf-8");
    let mut points: Vec<Value> = parsed
        .points
        .iter()
        .map(|p| {
            let tags: serde_json::Map<String, Value> = p
                .tags
                .iter()
                .map(|t| (t.key.to_owned(), json!(t.value)))
                .collect();
            let fields: serde_json::Map<String, Value> = p
                .fields
                .iter()
                .map(|f| {
                    let typed = match f.value {
                        FieldValue::Float(x) => json!(["f", x]),
                        FieldValue::Integer(x) => json!(["i", x]),
                        FieldValue::Unsigned(x) => json!(["u", x]),
                        FieldValue::String(s) => json!(["s", s]),
                        FieldValue::Boolean(b) => json!(["b", b]),
                    };
                    (f.key.to_owned(), typed)
                })
                .collect();
            json!([p.measurement, tags, fields, p.timestamp])
        })
        .collect();
    points.sort_by_key(|p| p.to_string());
    let error = if parsed.errors.is_empty() {
        Value::Null
    } else {
        let lines: Vec<String> = parsed.errors.iter().map(|e| e.to_string()).collect();
        json!(lines.join("\n"))
    };
    json!({ "points": points, "error": error })
}

/// serde_json reads `1.0` as a float and `1` as an integer; compare numbers by
/// value so the recorder's float formatting does not matter.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                return x == y;
            }
            if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                return x == y;
            }
            x.as_f64() == y.as_f64()
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn cases() -> Vec<Value> {
    TABLE
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("table line is JSON"))
        .collect()
}

#[test]
fn table_is_large_and_mostly_from_influxdb() {
    let cases = cases();
    let from_influxdb = cases.iter().filter(|c| c["source"] == "influxdb").count();
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    assert!(
        from_influxdb * 10 >= cases.len() * 9,
        "{from_influxdb} of {}",
        cases.len()
    );
    for case in &cases {
        if case["source"] == "hydrant" {
            assert!(
                case["why"].is_string(),
                "{}: a deviation needs a why",
                case["name"]
            );
        }
    }
}

#[test]
fn every_case_matches_the_table_with_every_kernel() {
    let mut failures = Vec::new();
    for case in cases() {
        let input = case["input"].as_str().unwrap();
        let precision = Precision::from_param(case["precision"].as_str().unwrap()).unwrap();
        let kernels = Kernel::available().into_iter().map(Some).chain([None]);
        for kernel in kernels {
            let got = observe(input, precision, kernel);
            if !same(&got, &case["expect"]) {
                failures.push(format!(
                    "{} [{kernel:?}]\n  input:    {input:?}\n  expected: {}\n  got:      {}",
                    case["name"], case["expect"], got
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
