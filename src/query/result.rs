//! What statements produce: series of rows, in InfluxDB 1.x's result shape.

use super::value::Value;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub name: String,
    /// Sorted by key; omitted from output when empty.
    pub tags: Vec<(String, String)>,
    pub columns: Vec<String>,
    pub values: Vec<Vec<Value>>,
    /// Column 0 holds times (nanoseconds, formatted per `epoch` on output).
    pub has_time: bool,
    /// `tz('…')`: times are written in this zone.
    pub tz: Option<chrono_tz::Tz>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatementResult {
    pub statement_id: usize,
    pub series: Vec<Series>,
    pub error: Option<String>,
}
