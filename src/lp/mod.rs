//! Line protocol: request body in, points and per-line errors out.
//!
//! The grammar and every error message follow InfluxDB 1.x (recorded case by
//! case in `testdata/conformance.jsonl`), with InfluxDB 3's rules where our
//! API contract says so: unsigned integers (`1u`), CRLF line endings, a
//! repeated field key keeps the last value, `time` keys reject the line,
//! and timestamps with no precision given are scaled by magnitude.
//!
//! Speed comes from three things: structural bytes are found 64 at a time
//! ([`scan`]), tokens are borrowed `&str` slices of the body unless an escape
//! forces a copy into the request's arena ([`escape`]), and numbers are parsed
//! while they are scanned ([`number`]). The body is checked for UTF-8 once, up
//! front, so every slice of it is a `&str` without further checks.

pub mod error;
pub mod escape;
pub mod number;
pub mod parser;
pub mod precision;
pub mod sample;
pub mod scan;
pub mod serialize;

pub use error::{BodyError, LineError, LineErrorKind};
pub use parser::{
    parse, parse_general, parse_with_kernel, parse_with_memchr, parse_with_options, ParseOptions,
    ParsedBody,
};
pub use precision::Precision;

/// One point as written: borrowed from the body or the request arena.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point<'a> {
    pub measurement: &'a str,
    /// In the order sent; duplicate keys are rejected.
    pub tags: &'a [Tag<'a>],
    /// In the order first sent; a repeated key holds its last value.
    pub fields: &'a [Field<'a>],
    /// Nanoseconds since the epoch, or `None` when the line had none (the
    /// writer stamps it with the time the request arrived).
    pub timestamp: Option<i64>,
    /// 1-based line the point starts on.
    pub line: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag<'a> {
    pub key: &'a str,
    pub value: &'a str,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Field<'a> {
    pub key: &'a str,
    pub value: FieldValue<'a>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FieldValue<'a> {
    Float(f64),
    Integer(i64),
    Unsigned(u64),
    String(&'a str),
    Boolean(bool),
}

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;
