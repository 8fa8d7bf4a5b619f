//! Splitting a WHERE clause into the time range it bounds and the rest.
//!
//! As in InfluxDB 1.x, every comparison on `time` narrows the range and is
//! taken out of the expression, wherever it stands (an `OR` with a time term
//! keeps only its other side).

use super::influxql::{BinaryOp, Expr};
use super::time::parse_time_string;

/// Inclusive nanosecond bounds; `i64::MIN` / `i64::MAX` when open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    pub min: i64,
    pub max: i64,
}

impl TimeRange {
    pub const ALL: TimeRange = TimeRange {
        min: i64::MIN,
        max: i64::MAX,
    };

    pub fn has_min(&self) -> bool {
        self.min != i64::MIN
    }

    pub fn has_max(&self) -> bool {
        self.max != i64::MAX
    }
}

fn is_time(expr: &Expr) -> bool {
    matches!(expr.unparen(), Expr::VarRef { name, .. } if name.eq_ignore_ascii_case("time"))
}

/// The nanosecond value of a time expression (`now() - 1h`, `'2023-…'`,
/// `1700000000000ms`, `1700000000000000000`).
pub fn time_value(expr: &Expr, now: i64) -> Result<i64, String> {
    match expr.unparen() {
        Expr::Integer(v) => Ok(*v),
        Expr::Unsigned(v) => i64::try_from(*v).map_err(|_| "time value out of range".to_string()),
        Expr::Number(v) => Ok(*v as i64),
        Expr::Duration(d) => Ok(*d),
        Expr::String(s) => parse_time_string(s).ok_or_else(|| {
            "invalid operation: time and *influxql.StringLiteral are not compatible".to_string()
        }),
        Expr::Call { name, args } if name == "now" && args.is_empty() => Ok(now),
        Expr::Binary { op, lhs, rhs } => {
            let (a, b) = (time_value(lhs, now)?, time_value(rhs, now)?);
            match op {
                BinaryOp::Add => Ok(a.saturating_add(b)),
                BinaryOp::Sub => Ok(a.saturating_sub(b)),
                BinaryOp::Mul => Ok(a.saturating_mul(b)),
                BinaryOp::Div if b != 0 => Ok(a / b),
                _ => Err(format!("invalid time expression: {expr}")),
            }
        }
        other => Err(format!("invalid time expression: {other}")),
    }
}

/// Splits `condition` into (time range, remaining condition).
pub fn split(condition: Option<&Expr>, now: i64) -> Result<(TimeRange, Option<Expr>), String> {
    let mut range = TimeRange::ALL;
    let rest = match condition {
        Some(c) => strip(c, now, &mut range)?,
        None => None,
    };
    Ok((range, rest))
}

fn strip(expr: &Expr, now: i64, range: &mut TimeRange) -> Result<Option<Expr>, String> {
    match expr {
        Expr::Paren(inner) => Ok(strip(inner, now, range)?.map(|e| Expr::Paren(Box::new(e)))),
        Expr::Binary { op, lhs, rhs } if matches!(op, BinaryOp::And | BinaryOp::Or) => {
            let l = strip(lhs, now, range)?;
            let r = strip(rhs, now, range)?;
            Ok(match (l, r) {
                (Some(l), Some(r)) => Some(Expr::binary(*op, l, r)),
                (one, None) | (None, one) => one,
            })
        }
        Expr::Binary { op, lhs, rhs } if op.is_comparison() && (is_time(lhs) || is_time(rhs)) => {
            // Normalise to `time OP value`.
            let (op, value) = if is_time(lhs) {
                (*op, rhs)
            } else {
                let flipped = match op {
                    BinaryOp::Lt => BinaryOp::Gt,
                    BinaryOp::Lte => BinaryOp::Gte,
                    BinaryOp::Gt => BinaryOp::Lt,
                    BinaryOp::Gte => BinaryOp::Lte,
                    other => *other,
                };
                (flipped, lhs)
            };
            let t = time_value(value, now)?;
            match op {
                BinaryOp::Gt => range.min = range.min.max(t.saturating_add(1)),
                BinaryOp::Gte => range.min = range.min.max(t),
                BinaryOp::Lt => range.max = range.max.min(t.saturating_sub(1)),
                BinaryOp::Lte => range.max = range.max.min(t),
                BinaryOp::Eq => {
                    range.min = range.min.max(t);
                    range.max = range.max.min(t);
                }
                _ => return Err(format!("invalid time comparison operator: {}", op.as_str())),
            }
            Ok(None)
        }
        other => Ok(Some(other.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::influxql::parse_expr;

    #[test]
    fn ranges() {
        let now = 10_000_000_000_000;
        let cases: &[(&str, i64, i64, Option<&str>)] = &[
            ("time >= 5 AND time < 10", 5, 9, None),
            ("time > now() - 1s", now - 1_000_000_000 + 1, i64::MAX, None),
            ("host = 'a' AND time <= 7", i64::MIN, 7, Some("host = 'a'")),
            (
                "time >= 1700000000000ms and time <= 1700003600000ms",
                1_700_000_000_000_000_000,
                1_700_003_600_000_000_000,
                None,
            ),
            (
                "time >= '2023-11-14T22:13:20Z'",
                1_700_000_000_000_000_000,
                i64::MAX,
                None,
            ),
            ("5 < time", 6, i64::MAX, None),
            ("time = 3", 3, 3, None),
            (
                "(a > 1 OR time > 4) AND b = 'x'",
                5,
                i64::MAX,
                Some("(a > 1) AND b = 'x'"),
            ),
        ];
        for &(text, min, max, rest) in cases {
            let expr = parse_expr(text).unwrap();
            let (range, left) = split(Some(&expr), now).unwrap();
            assert_eq!((range.min, range.max), (min, max), "{text}");
            assert_eq!(left.map(|e| e.to_string()).as_deref(), rest, "{text}");
        }
    }
}
