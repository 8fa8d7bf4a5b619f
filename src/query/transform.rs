//! Transformations over a sequence of points (raw points of a group, or
//! the buckets of an aggregate): derivative, difference, moving average,
//! cumulative sum, elapsed — with InfluxDB 1.x's rules for nulls (skipped)
//! and points of equal time.

use super::influxql::Expr;
use super::value::Value;

pub const TRANSFORMS: &[&str] = &[
    "derivative",
    "non_negative_derivative",
    "difference",
    "non_negative_difference",
    "moving_average",
    "cumulative_sum",
    "elapsed",
];

pub fn is_transform(name: &str) -> bool {
    TRANSFORMS.contains(&name)
}

/// Checks a transform's arguments (beyond the first) as InfluxDB does.
pub fn validate(name: &str, args: &[Expr]) -> Result<(), String> {
    let count_error = |want: &str| {
        Err(format!(
            "invalid number of arguments for {name}, expected {want}, got {}",
            args.len()
        ))
    };
    match name {
        "derivative" | "non_negative_derivative" | "elapsed" => {
            if args.is_empty() || args.len() > 2 {
                return count_error("at least 1 but no more than 2");
            }
            if let Some(unit) = args.get(1) {
                match unit {
                    Expr::Duration(d) if *d > 0 => {}
                    Expr::Duration(_) => {
                        return Err(format!("duration argument must be positive, got {unit}"))
                    }
                    _ => {
                        return Err(format!(
                            "second argument to {name} must be a duration, got {}",
                            go_type(unit)
                        ))
                    }
                }
            }
        }
        "moving_average" => {
            if args.len() != 2 {
                return count_error("2");
            }
            match args[1] {
                Expr::Integer(n) if n > 1 => {}
                Expr::Integer(_) => {
                    return Err(format!(
                        "moving_average window must be greater than 1, got {}",
                        args[1]
                    ))
                }
                _ => {
                    return Err(format!(
                        "second argument for moving_average must be an integer, got {}",
                        args[1]
                    ))
                }
            }
        }
        _ => {
            if args.len() != 1 {
                return count_error("1");
            }
        }
    }
    Ok(())
}

/// The Go type InfluxDB names in some of its messages.
fn go_type(expr: &Expr) -> &'static str {
    match expr {
        Expr::Integer(_) => "*influxql.IntegerLiteral",
        Expr::Unsigned(_) => "*influxql.UnsignedLiteral",
        Expr::Number(_) => "*influxql.NumberLiteral",
        Expr::String(_) => "*influxql.StringLiteral",
        Expr::Boolean(_) => "*influxql.BooleanLiteral",
        Expr::Duration(_) => "*influxql.DurationLiteral",
        Expr::VarRef { .. } => "*influxql.VarRef",
        Expr::Call { .. } => "*influxql.Call",
        Expr::Binary { .. } => "*influxql.BinaryExpr",
        Expr::Paren(_) => "*influxql.ParenExpr",
        Expr::Regex(_) => "*influxql.RegexLiteral",
        Expr::Wildcard(_) => "*influxql.Wildcard",
        Expr::Distinct(_) => "*influxql.Distinct",
    }
}

/// Buckets before the query's start a transformation needs to see (InfluxDB
/// widens the range by one bucket, even for a moving average's window).
pub fn extra_intervals(name: &str) -> i64 {
    match name {
        "derivative"
        | "non_negative_derivative"
        | "difference"
        | "non_negative_difference"
        | "elapsed"
        | "moving_average" => 1,
        _ => 0,
    }
}

/// Applies transform `name` to `points` (time, value; nulls allowed): one
/// output per input, Null where the transform emits nothing.
pub fn apply(name: &str, args: &[Expr], points: &[(i64, Value)], default_unit: i64) -> Vec<Value> {
    let unit = match args.get(1) {
        Some(Expr::Duration(d)) if *d > 0 => *d,
        _ => default_unit,
    };
    let mut out = vec![Value::Null; points.len()];
    match name {
        "derivative" | "non_negative_derivative" => {
            let mut prev: Option<(i64, f64)> = None;
            for (i, (t, v)) in points.iter().enumerate() {
                let Some(x) = v.as_f64() else { continue };
                if let Some((pt, px)) = prev {
                    if *t == pt {
                        continue;
                    }
                    let d = (x - px) / ((*t - pt) as f64 / unit as f64);
                    if name == "derivative" || d >= 0.0 {
                        out[i] = Value::Float(d);
                    }
                }
                prev = Some((*t, x));
            }
        }
        "difference" | "non_negative_difference" => {
            let mut prev: Option<(i64, Value)> = None;
            for (i, (t, v)) in points.iter().enumerate() {
                if v.is_null() {
                    continue;
                }
                if let Some((pt, pv)) = &prev {
                    if t == pt {
                        continue;
                    }
                    let d = match (v, pv) {
                        (Value::Integer(a), Value::Integer(b)) => {
                            Value::Integer(a.wrapping_sub(*b))
                        }
                        (Value::Unsigned(a), Value::Unsigned(b)) => {
                            Value::Unsigned(a.wrapping_sub(*b))
                        }
                        (a, b) => match (a.as_f64(), b.as_f64()) {
                            (Some(a), Some(b)) => Value::Float(a - b),
                            _ => Value::Null,
                        },
                    };
                    let negative = match d {
                        Value::Integer(x) => x < 0,
                        Value::Float(x) => x < 0.0,
                        _ => false,
                    };
                    if name == "difference" || !negative {
                        out[i] = d;
                    }
                }
                prev = Some((*t, v.clone()));
            }
        }
        "moving_average" => {
            let n = match args.get(1) {
                Some(Expr::Integer(n)) if *n > 0 => *n as usize,
                _ => return out,
            };
            let mut window: std::collections::VecDeque<f64> = std::collections::VecDeque::new();
            for (i, (_, v)) in points.iter().enumerate() {
                let Some(x) = v.as_f64() else { continue };
                window.push_back(x);
                if window.len() > n {
                    window.pop_front();
                }
                if window.len() == n {
                    out[i] = Value::Float(window.iter().sum::<f64>() / n as f64);
                }
            }
        }
        "cumulative_sum" => {
            let mut sum: Option<Value> = None;
            for (i, (_, v)) in points.iter().enumerate() {
                if v.is_null() {
                    continue;
                }
                let next = match (&sum, v) {
                    (None, v) => v.clone(),
                    (Some(Value::Integer(a)), Value::Integer(b)) => {
                        Value::Integer(a.wrapping_add(*b))
                    }
                    (Some(Value::Unsigned(a)), Value::Unsigned(b)) => {
                        Value::Unsigned(a.wrapping_add(*b))
                    }
                    (Some(a), b) => match (a.as_f64(), b.as_f64()) {
                        (Some(a), Some(b)) => Value::Float(a + b),
                        _ => continue,
                    },
                };
                out[i] = next.clone();
                sum = Some(next);
            }
        }
        "elapsed" => {
            let unit = match args.get(1) {
                Some(Expr::Duration(d)) if *d > 0 => *d,
                _ => 1,
            };
            let mut prev: Option<i64> = None;
            for (i, (t, v)) in points.iter().enumerate() {
                if v.is_null() {
                    continue;
                }
                if let Some(pt) = prev {
                    out[i] = Value::Integer((*t - pt) / unit);
                }
                prev = Some(*t);
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, f64)]) -> Vec<(i64, Value)> {
        v.iter().map(|&(t, x)| (t, Value::Float(x))).collect()
    }

    #[test]
    fn derivative_skips_equal_times_and_keeps_the_first_of_them() {
        // Recorded from InfluxDB 1.6.7: 1.5@20s, 7@30s, 1@30s, 3@90s.
        let p = pts(&[(20, 1.5), (30, 7.0), (30, 1.0), (90, 3.0)]);
        let out = apply("derivative", &[], &p, 1);
        assert_eq!(out[0], Value::Null);
        assert_eq!(out[1], Value::Float(0.55));
        assert_eq!(out[2], Value::Null);
        assert!(matches!(out[3], Value::Float(x) if (x + 4.0 / 60.0).abs() < 1e-12));
    }

    #[test]
    fn moving_average_and_cumulative_sum() {
        let p = pts(&[(1, 1.5), (2, 2.0), (3, 1.0), (4, 7.0)]);
        let ma = apply(
            "moving_average",
            &[Expr::Integer(0), Expr::Integer(2)],
            &p,
            1,
        );
        assert_eq!(
            ma,
            vec![
                Value::Null,
                Value::Float(1.75),
                Value::Float(1.5),
                Value::Float(4.0)
            ]
        );
        let ints: Vec<(i64, Value)> = (1..4).map(|t| (t, Value::Integer(t))).collect();
        let cs = apply("cumulative_sum", &[], &ints, 1);
        assert_eq!(
            cs,
            vec![Value::Integer(1), Value::Integer(3), Value::Integer(6)]
        );
    }
}
