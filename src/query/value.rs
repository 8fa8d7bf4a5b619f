//! Values as queries see them: typed, nullable, and serialised the way
//! InfluxDB 1.x writes them (integers stay integers, floats that happen to
//! be whole print without a fraction).

use std::cmp::Ordering;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Float(f64),
    Integer(i64),
    Unsigned(u64),
    String(Arc<str>),
    Boolean(bool),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float(v) => Some(v),
            Value::Integer(v) => Some(v as f64),
            Value::Unsigned(v) => Some(v as f64),
            _ => None,
        }
    }

    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            Value::Float(_) | Value::Integer(_) | Value::Unsigned(_)
        )
    }

    /// Order used by min/max/top/bottom/median: numbers compare as numbers.
    pub fn compare(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Integer(a), Value::Integer(b)) => a.cmp(b),
            (Value::Unsigned(a), Value::Unsigned(b)) => a.cmp(b),
            (Value::String(a), Value::String(b)) => a.cmp(b),
            (Value::Boolean(a), Value::Boolean(b)) => a.cmp(b),
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
                _ => Ordering::Equal,
            },
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Float(v) => float_json(*v),
            Value::Integer(v) => (*v).into(),
            Value::Unsigned(v) => (*v).into(),
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::Boolean(b) => (*b).into(),
        }
    }
}

/// Go's encoding/json writes a whole float as an integer (`3`, not `3.0`);
/// NaN and infinities have no JSON form and become null.
pub fn float_json(v: f64) -> serde_json::Value {
    if !v.is_finite() {
        return serde_json::Value::Null;
    }
    if v == v.trunc() && v.abs() < 1e21 {
        if let Some(n) = serde_json::Number::from_f64(v) {
            // serde_json prints 3.0 for a whole f64; InfluxDB prints 3.
            if v.abs() < 9.007_199_254_740_992e15 {
                return serde_json::Value::from(v as i64);
            }
            return serde_json::Value::Number(n);
        }
    }
    serde_json::Number::from_f64(v)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}
